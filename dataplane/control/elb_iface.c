/* SPDX-License-Identifier: BSD-3-Clause */
/* Interface facts through ioctls; see elb_iface.h. */
#include "elb_iface.h"

#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/ethtool.h>
#include <linux/sockios.h>

/* ioctl(request) on ifname, with ifr's other members as the caller set them. */
static int iface_ioctl(const char *ifname, unsigned long request, struct ifreq *ifr)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), rc = 0;

	if (fd < 0)
		return -errno;
	snprintf(ifr->ifr_name, sizeof(ifr->ifr_name), "%s", ifname);
	if (ioctl(fd, request, ifr) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

int elb_iface_mac(const char *ifname, uint8_t mac[6])
{
	struct ifreq ifr;
	int rc;

	memset(&ifr, 0, sizeof(ifr));
	rc = iface_ioctl(ifname, SIOCGIFHWADDR, &ifr);
	if (rc == 0)
		memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
	return rc;
}

int elb_iface_driver(const char *ifname, char *driver, size_t len)
{
	struct ethtool_drvinfo info = {.cmd = ETHTOOL_GDRVINFO};
	struct ifreq ifr;
	int rc;

	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_data = (void *)&info;
	rc = iface_ioctl(ifname, SIOCETHTOOL, &ifr);
	if (rc == 0)
		snprintf(driver, len, "%s", info.driver);
	return rc;
}
