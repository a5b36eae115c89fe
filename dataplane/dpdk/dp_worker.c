/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The worker lcores: the hot path. No allocation, no locks, no system
 * calls, no logging here: every outcome is a counter.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf_dyn.h>
#include <rte_prefetch.h>
#include <rte_ring.h>

#include "dp.h"

uint64_t dp_now_ns(const struct dp_context *ctx)
{
	return (uint64_t)(((unsigned __int128)rte_rdtsc() * ctx->tsc_to_ns_mult) >> 32);
}

int dp_worker_create(struct dp_context *ctx, uint16_t index, unsigned int lcore)
{
	size_t mem_size = elb_flow_table_mem_size(ctx->flow_capacity);
	int socket = (int)rte_lcore_to_socket_id(lcore);
	struct dp_worker *w;
	int rc;

	w = rte_zmalloc_socket("dp_worker", sizeof(*w), RTE_CACHE_LINE_SIZE, socket);
	if (w == NULL)
		return -ENOMEM;
	ctx->workers[index] = w;
	w->ctx = ctx;
	w->lcore_id = lcore;
	w->index = index;
	w->flow_mem = rte_zmalloc_socket("dp_flows", mem_size, ELB_FLOW_TABLE_ALIGN, socket);
	w->core.vip_counters = rte_zmalloc_socket("dp_vip_counters",
						  sizeof(*w->core.vip_counters) * ELB_MAX_VIPS,
						  RTE_CACHE_LINE_SIZE, socket);
	w->core.backend_counters = rte_zmalloc_socket(
		"dp_backend_counters", sizeof(*w->core.backend_counters) * ELB_MAX_BACKEND_SLOTS,
		RTE_CACHE_LINE_SIZE, socket);
	w->core.flow_budgets = rte_zmalloc_socket(
		"dp_flow_budgets", sizeof(*w->core.flow_budgets) * ELB_MAX_VIPS, RTE_CACHE_LINE_SIZE,
		socket);
	w->core.source_column_bits = ELB_SOURCE_COLUMN_BITS_DEFAULT;
	w->core.source_cells = rte_zmalloc_socket(
		"dp_source_sketch", ELB_SOURCE_SKETCH_BYTES(w->core.source_column_bits),
		RTE_CACHE_LINE_SIZE, socket);
	if (!w->flow_mem || !w->core.vip_counters || !w->core.backend_counters ||
	    !w->core.flow_budgets || !w->core.source_cells) {
		fprintf(stderr, "edgelb-dp: no memory for worker %u's flow table (%zu bytes); "
				"lower --flows or give EAL more memory\n",
			index, mem_size);
		return -ENOMEM;
	}
	rc = elb_flow_table_init(&w->core.flows, w->flow_mem, mem_size, ctx->flow_capacity);
	if (rc)
		return rc;
	return rte_rcu_qsbr_thread_register(ctx->qsbr, index);
}

int dp_workers_init(struct dp_context *ctx)
{
	unsigned int lcore;
	uint16_t i = 0;

	RTE_LCORE_FOREACH_WORKER(lcore) {
		int rc;

		if (i == ctx->n_workers)
			break;
		rc = dp_worker_create(ctx, i, lcore);
		if (rc)
			return rc;
		i++;
	}
	return 0;
}

void dp_workers_free(struct dp_context *ctx)
{
	for (uint16_t i = 0; i < ctx->n_workers; i++) {
		struct dp_worker *w = ctx->workers[i];

		if (w == NULL)
			continue;
		rte_free(w->flow_mem);
		rte_free(w->core.vip_counters);
		rte_free(w->core.backend_counters);
		rte_free(w->core.flow_budgets);
		rte_free(w->core.source_cells);
		rte_free(w);
		ctx->workers[i] = NULL;
	}
}

static inline void send_or_free(uint16_t port_id, uint16_t queue, struct rte_mbuf **pkts,
				uint16_t n, uint64_t *dropped)
{
	uint16_t sent;

	if (n == 0)
		return;
	sent = rte_eth_tx_burst(port_id, queue, pkts, n);
	if (ELB_UNLIKELY(sent < n)) {
		/* TX never leaks: what the queue did not take is freed and counted. */
		rte_pktmbuf_free_bulk(&pkts[sent], n - sent);
		*dropped += n - sent;
	}
}

static inline unsigned int histogram_bucket(uint64_t cycles_per_packet)
{
	unsigned int b = cycles_per_packet ? 63u - (unsigned int)__builtin_clzll(cycles_per_packet) : 0;

	return b < DP_HISTOGRAM_BUCKETS ? b : DP_HISTOGRAM_BUCKETS - 1;
}

void dp_worker_process_burst(struct dp_worker *w, const struct elb_snapshot *snap,
			     const struct dp_port *p, struct rte_mbuf **pkts, uint16_t n,
			     uint64_t now_ns)
{
	struct elb_pipeline_result res[DP_BURST];
	struct rte_mbuf *tx[DP_BURST], *kernel[DP_BURST], *drop[DP_BURST];
	uint8_t *frames[DP_BURST];
	uint32_t lens[DP_BURST];
	uint16_t n_tx = 0, n_kernel = 0, n_drop = 0, n_run = 0;
	struct rte_mbuf *run[DP_BURST];
	uint64_t c0 = rte_rdtsc();

	for (uint16_t i = 0; i < n; i++) {
		struct rte_mbuf *m = pkts[i];

		/* The parser reads one contiguous buffer. */
		if (ELB_UNLIKELY(m->nb_segs != 1)) {
			w->core.counters.drops[ELB_REASON_MULTI_SEGMENT]++;
			w->core.counters.verdicts[ELB_VERDICT_DROP].packets++;
			w->core.counters.verdicts[ELB_VERDICT_DROP].bytes += m->pkt_len;
			if (ELB_UNLIKELY(w->ctx->replay != NULL)) {
				struct elb_pipeline_result r = {.verdict = ELB_VERDICT_DROP,
								.reason = ELB_REASON_MULTI_SEGMENT,
								.vip_index = ELB_NO_VIP};

				w->ctx->replay->on_result(w->ctx->replay->arg, m, &r);
			}
			drop[n_drop++] = m;
			continue;
		}
		frames[n_run] = rte_pktmbuf_mtod(m, uint8_t *);
		lens[n_run] = m->data_len;
		run[n_run++] = m;
	}
	/* A worker serves every port: what it sends carries this port's MAC. */
	rte_ether_addr_copy(&p->mac, (struct rte_ether_addr *)w->core.port_mac);
	/* All mbufs of one pool share a headroom size; the pipeline checks
	 * what each packet needs against it. */
	elb_pipeline_run_burst(&w->core, snap, frames, lens, n_run,
			       n_run ? rte_pktmbuf_headroom(run[0]) : 0, now_ns, res);

	for (uint16_t i = 0; i < n_run; i++) {
		struct rte_mbuf *m = run[i];

		if (ELB_UNLIKELY(w->ctx->replay != NULL))
			w->ctx->replay->on_result(w->ctx->replay->arg, m, &res[i]);
		switch (res[i].verdict) {
		case ELB_VERDICT_FORWARD:
		case ELB_VERDICT_REPLY:
			m->data_off = (uint16_t)(m->data_off + res[i].head_move);
			m->data_len = (uint16_t)res[i].out_len;
			m->pkt_len = res[i].out_len;
			m->ol_flags = 0;
			tx[n_tx++] = m;
			break;
		case ELB_VERDICT_KERNEL:
			if (p->kernel_port_id != UINT16_MAX)
				kernel[n_kernel++] = m;
			else
				drop[n_drop++] = m;
			break;
		default:
			drop[n_drop++] = m;
			break;
		}
	}
	send_or_free(p->port_id, w->index, tx, n_tx, &w->stats.tx_dropped);
	if (p->kernel_port_id != UINT16_MAX)
		send_or_free(p->kernel_port_id, w->index, kernel, n_kernel, &w->stats.kernel_dropped);
	if (n_drop)
		rte_pktmbuf_free_bulk(drop, n_drop);
	w->stats.bursts++;
	w->stats.cycles_histogram[histogram_bucket((rte_rdtsc() - c0) / n)]++;
}

int dp_worker_main(void *arg)
{
	struct dp_worker *w = arg;
	struct dp_context *ctx = w->ctx;
	struct rte_mbuf *pkts[DP_BURST];

	rte_rcu_qsbr_thread_online(ctx->qsbr, w->index);
	while (!atomic_load_explicit(&ctx->stop, memory_order_relaxed)) {
		/* Read once per loop: the control thread frees a snapshot only
		 * after every worker has reported quiescent since it was replaced. */
		const struct elb_snapshot *snap =
			atomic_load_explicit(&ctx->snapshot, memory_order_acquire);
		bool idle = true;

		for (uint16_t i = 0; i < ctx->n_ports; i++) {
			const struct dp_port *p = &ctx->ports[i];
			uint16_t n;

			if (w->index >= p->n_rxq)
				continue;
			n = rte_eth_rx_burst(p->port_id, w->index, pkts, DP_BURST);
			if (n == 0)
				continue;
			idle = false;
			dp_worker_process_burst(w, snap, p, pkts, n, dp_now_ns(ctx));
		}
		/* Worker 0 also sends what the kernel wrote to the TAP ports. */
		if (w->index == 0) {
			for (uint16_t i = 0; i < ctx->n_ports; i++) {
				const struct dp_port *p = &ctx->ports[i];
				unsigned int n;

				if (p->from_kernel == NULL)
					continue;
				n = rte_ring_dequeue_burst(p->from_kernel, (void **)pkts, DP_BURST, NULL);
				if (n == 0)
					continue;
				idle = false;
				w->stats.from_kernel += n;
				send_or_free(p->port_id, 0, pkts, (uint16_t)n, &w->stats.tx_dropped);
			}
		}
		rte_rcu_qsbr_quiescent(ctx->qsbr, w->index);
		if (idle)
			elb_flow_sweep(&w->core.flows, elb_flow_tick(dp_now_ns(ctx)),
				       DP_IDLE_SWEEP_BUCKETS);
	}
	rte_rcu_qsbr_thread_offline(ctx->qsbr, w->index);
	return 0;
}
