/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What edgelb-dp will ask of the host for a given --flows, --mbufs, number
 * of workers and of ports: hugepage memory per NUMA node and packet buffers.
 *
 * Computed from the sizes the dataplane itself uses, never from copies of
 * them: elb_flow_table_mem_size() for each worker's flow table, sizeof the
 * worker struct and its counter arrays (dataplane/dpdk/dp.h,
 * elb_pipeline.h), rte_mempool_calc_obj_size() for one mbuf of the pool as
 * edgelb-dp creates it (RTE_MBUF_DEFAULT_BUF_SIZE data room), the mempool's
 * header with its per-lcore caches, its ring, the RCU variable and the
 * kernel-path rings. Only this file needs DPDK's headers: the checks stay
 * plain C.
 *
 * Where edgelb-dp puts each part (dp_main.c, dp_worker.c, dp_port.c):
 *   the main lcore's node   the mbuf pool (rte_socket_id() of the main
 *                           lcore), the RCU variable, the kernel rings
 *   each worker's node      its flow table, counters and struct
 *   each port's node        its descriptor rings (the PMD's, sized by
 *                           PF_DESC_BYTES below: an allowance)
 * and EAL's own memzones come on top (PF_EAL_ALLOWANCE, an allowance too).
 */
#ifndef PREFLIGHT_NEED_H
#define PREFLIGHT_NEED_H

#include <stdbool.h>
#include <stdint.h>

/* edgelb-dp's defaults and fixed sizes, its own definitions. */
#include "dp_sizes.h"

/*
 * Allowances for what depends on the PMD and EAL rather than on edgelb:
 * EAL's memzones and heap overhead measured 4-6 MiB with DPDK 22.11 and
 * a net_null port (edgelb-dp -l 0-1, --flows 1024 then 1048576: 44 and 118
 * MiB of 2 MiB pages in use, the modelled parts 40 and 112 MiB); 16 MiB
 * leaves room for a PMD's own allocations. Descriptor rings: 64 bytes per
 * descriptor covers the largest common descriptor (32 bytes: i40e, ice)
 * plus the PMD's software ring entry.
 */
#define PF_EAL_ALLOWANCE (16ull << 20)
#define PF_DESC_BYTES 64u

struct pf_memory_need {
	/* Inputs, as edgelb-dp will use them. */
	uint32_t flows;      /* per worker, as given to --flows */
	uint32_t mbufs;      /* pool size, as given to --mbufs */
	unsigned int workers; /* capped at DP_MAX_WORKERS, as edgelb-dp does */
	unsigned int ports;
	/* Per worker, on the worker's node. */
	uint64_t flow_table_bytes;    /* elb_flow_table_mem_size(flows) */
	uint32_t flow_capacity;       /* slots after rounding up to a power of two of buckets */
	uint64_t worker_counter_bytes; /* counters, admission state, struct dp_worker */
	uint64_t per_worker_bytes;    /* the two above */
	/* On the main lcore's node. */
	uint32_t mbuf_object_bytes;   /* one mbuf in the pool: header, struct, data room, padding */
	uint32_t mbuf_data_room;      /* RTE_MBUF_DEFAULT_BUF_SIZE: headroom + 2048 */
	uint64_t mbuf_pool_bytes;     /* objects + pool header (per-lcore caches) + its ring */
	uint64_t main_other_bytes;    /* RCU variable, kernel rings, EAL allowance */
	uint64_t main_bytes;          /* the two above */
	/* Per port, on the port's node. */
	uint64_t port_ring_bytes;
	/* Packet buffers. */
	uint32_t mbufs_at_start; /* taken when queues start: the ports' and TAPs' RX rings */
	uint32_t mbufs_busy;     /* at_start + TX rings full + every lcore cache full */
	/* edgelb-dp's constants, for messages. */
	unsigned int rx_desc, tx_desc, kernel_rx_desc, max_workers, max_ports, mbuf_cache;
	unsigned int ether_mtu; /* the MTU edgelb-dp's ports run at (it sets none) */
};

/* Whether this build can size the DPDK dataplane (false when DPDK was not
 * found at build time: edgelb-dp is not built either). */
bool pf_dpdk_supported(void);

/* The MTU edgelb-dp's ports run at: it configures none, so DPDK's default
 * (RTE_ETHER_MTU) applies. 0 without DPDK. */
unsigned int pf_dpdk_port_mtu(void);

/*
 * The need for `workers` worker lcores (plus the main one) and `ports` data
 * ports, each with its TAP port (edgelb-dp's default --kernel-iface), every
 * port with RSS and a queue per worker (the most edgelb-dp asks for).
 * @return 0, -EINVAL (flows or mbufs 0, flows above ELB_FLOW_MAX_CAPACITY,
 *         no worker, no port) or -ENOTSUP without DPDK.
 */
int pf_memory_need(uint32_t flows, uint32_t mbufs, unsigned int workers, unsigned int ports,
		   struct pf_memory_need *out);

#endif /* PREFLIGHT_NEED_H */
