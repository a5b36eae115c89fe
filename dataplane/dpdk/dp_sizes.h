/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * edgelb-dp's defaults and fixed sizes, with no DPDK header: dp.h includes
 * them, and edgelb-preflight (tools/preflight) sizes the hugepages and mbufs
 * a configuration needs from the same definitions.
 */
#ifndef DP_SIZES_H
#define DP_SIZES_H

#define DP_MAX_PORTS 8
#define DP_DEFAULT_FLOWS (1u << 20) /* per worker: 56 MiB */
#define DP_DEFAULT_MBUFS 16383u
#define DP_MBUF_CACHE 256u
#define DP_RX_DESC 1024
#define DP_TX_DESC 1024
/* RX descriptors per queue of a TAP (exception) port: net_tap has no ring
 * (the kernel queues frames), a descriptor is an mbuf held for one frame's
 * segments, and without the scatter offload only the first is used. */
#define DP_KERNEL_RX_DESC 64u

#endif /* DP_SIZES_H */
