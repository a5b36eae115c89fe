/* SPDX-License-Identifier: BSD-3-Clause */
#include "preflight_need.h"

#include <errno.h>
#include <string.h>

#ifdef PF_WITH_DPDK

#include <rte_common.h>
#include <rte_ether.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>

#include "dp.h"
#include "elb_flow_table.h"
#include "elb_pipeline.h"
#include "preflight_checks.h"


/* The objects a mempool cache may hold before it flushes to the ring:
 * DPDK's CALC_CACHE_FLUSHTHRESH (rte_mempool.c, not exported). */
#define PF_CACHE_FLUSH_FACTOR_NUM 3
#define PF_CACHE_FLUSH_FACTOR_DEN 2

bool pf_dpdk_supported(void)
{
	return true;
}

unsigned int pf_dpdk_port_mtu(void)
{
	return RTE_ETHER_MTU;
}

int pf_memory_need(uint32_t flows, uint32_t mbufs, unsigned int workers, unsigned int ports,
		   struct pf_memory_need *out)
{
	struct pf_memory_need need;
	/* The pool's element as rte_pktmbuf_pool_create sizes it: the mbuf
	 * struct, no private area, the data room edgelb-dp asks for. */
	uint32_t element = (uint32_t)sizeof(struct rte_mbuf) + RTE_MBUF_DEFAULT_BUF_SIZE;
	ssize_t ring, qsbr, kernel_ring;
	unsigned int lcores;

	if (flows == 0 || flows > ELB_FLOW_MAX_CAPACITY || mbufs == 0 || workers == 0 ||
	    ports == 0)
		return -EINVAL;
	memset(&need, 0, sizeof(need));
	need.rx_desc = DP_RX_DESC;
	need.tx_desc = DP_TX_DESC;
	need.kernel_rx_desc = DP_KERNEL_RX_DESC;
	need.max_workers = DP_MAX_WORKERS;
	need.max_ports = DP_MAX_PORTS;
	need.mbuf_cache = DP_MBUF_CACHE;
	need.ether_mtu = RTE_ETHER_MTU;
	need.flows = flows;
	need.mbufs = mbufs;
	need.workers = workers < DP_MAX_WORKERS ? workers : DP_MAX_WORKERS;
	need.ports = ports;
	lcores = need.workers + 1;

	need.flow_table_bytes = elb_flow_table_mem_size(flows);
	need.flow_capacity = (uint32_t)(need.flow_table_bytes /
					(sizeof(struct elb_flow_entry) +
					 sizeof(struct elb_flow_bucket) / ELB_FLOW_WAYS));
	need.worker_counter_bytes = sizeof(struct elb_vip_counters) * ELB_MAX_VIPS +
				    sizeof(struct elb_backend_counters) * ELB_MAX_BACKEND_SLOTS +
				    sizeof(struct dp_worker) +
				    sizeof(struct elb_flow_budget_state) * ELB_MAX_VIPS +
				    ELB_SOURCE_SKETCH_BYTES(ELB_SOURCE_COLUMN_BITS_DEFAULT);
	need.per_worker_bytes = need.flow_table_bytes + need.worker_counter_bytes;

	need.mbuf_data_room = RTE_MBUF_DEFAULT_BUF_SIZE;
	need.mbuf_object_bytes = rte_mempool_calc_obj_size(element, 0, NULL);
	/* The ring_mp_mc handler's ring holds every object: a power of two
	 * above the count (rte_mempool_ring.c). */
	ring = rte_ring_get_memsize(rte_align32pow2(mbufs + 1));
	qsbr = rte_rcu_qsbr_get_memsize(need.workers);
	kernel_ring = rte_ring_get_memsize(DP_KERNEL_RING);
	if (ring < 0 || qsbr < 0 || kernel_ring < 0)
		return -EINVAL;
	need.mbuf_pool_bytes = (uint64_t)mbufs * need.mbuf_object_bytes +
			       RTE_MEMPOOL_HEADER_SIZE((struct rte_mempool *)NULL, DP_MBUF_CACHE) +
			       sizeof(struct rte_pktmbuf_pool_private) + (uint64_t)ring;
	need.main_other_bytes = (uint64_t)qsbr + (uint64_t)ports * (uint64_t)kernel_ring +
				PF_EAL_ALLOWANCE;
	need.main_bytes = need.mbuf_pool_bytes + need.main_other_bytes;

	/* A queue per worker in each direction (RSS assumed: the most). */
	need.port_ring_bytes =
		(uint64_t)need.workers * (DP_RX_DESC + DP_TX_DESC) * PF_DESC_BYTES;

	/* At start every RX ring is filled: per worker, a queue of the port
	 * and one of its TAP port (dp_port.c gives the TAP as many RX queues
	 * as TX). Under load the TX rings fill too, the kernel rings hold what
	 * the TAPs received, and every lcore's cache may hold up to 1.5 times
	 * its size. */
	need.mbufs_at_start = ports * need.workers * (DP_RX_DESC + DP_KERNEL_RX_DESC);
	need.mbufs_busy = need.mbufs_at_start + ports * need.workers * DP_TX_DESC +
			  ports * DP_KERNEL_RING +
			  lcores * DP_MBUF_CACHE * PF_CACHE_FLUSH_FACTOR_NUM /
				  PF_CACHE_FLUSH_FACTOR_DEN;
	*out = need;
	return 0;
}

#else /* !PF_WITH_DPDK */

bool pf_dpdk_supported(void)
{
	return false;
}

unsigned int pf_dpdk_port_mtu(void)
{
	return 0;
}

int pf_memory_need(uint32_t flows, uint32_t mbufs, unsigned int workers, unsigned int ports,
		   struct pf_memory_need *out)
{
	(void)flows;
	(void)mbufs;
	(void)workers;
	(void)ports;
	memset(out, 0, sizeof(*out));
	return -ENOTSUP;
}

#endif
