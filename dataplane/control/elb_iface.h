/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What the kernel says of a network interface of this namespace, through
 * its ioctls: for edgelb-xdp (its MAC, whether it is a veth) and
 * edgelb-preflight (its driver). Control path only.
 */
#ifndef ELB_IFACE_H
#define ELB_IFACE_H

#include <stddef.h>
#include <stdint.h>

/* The interface's hardware address (SIOCGIFHWADDR). @return 0 or -errno. */
int elb_iface_mac(const char *ifname, uint8_t mac[6]);

/* The interface's driver name as ethtool -i says it (ETHTOOL_GDRVINFO),
 * into driver[0..len). @return 0 or -errno (driver untouched). */
int elb_iface_driver(const char *ifname, char *driver, size_t len);

#endif /* ELB_IFACE_H */
