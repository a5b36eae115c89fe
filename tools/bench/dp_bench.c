/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * edgelb-dp-bench [EAL options]: the DPDK worker's cost per packet on one
 * worker lcore, through the real code path (dp_worker_process_burst: the
 * pipeline, the mbuf fix-up, rte_eth_tx_burst on a net_null port).
 *
 * No NIC here writes VIP traffic into mbufs, so each burst's 32 mbufs are
 * allocated from the pool and a 60-byte frame is copied into each (the
 * stand-in for the NIC's DMA). The floor row does exactly that and sends
 * the burst without balancing; the other rows add the balancer. Run it with
 * tools/dp-bench, which also measures dpdk-testpmd on the same machine in
 * the same run.
 *
 * With --flows-scaling after the EAL options (and "--"): established
 * flows only, in one 8M-entry table, at 1,024, 65,536, 1M and 4M flows
 * (each set warmed once, then timed): what the worker costs as the table
 * fills and its entries leave the caches.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_malloc.h>

#include "bench_frames.h"
#include "dp.h"
#include "elb_dp_api.h"
#include "elb_snapshot.h"

#define BENCH_FLOWS (1u << 16)
#define BENCH_NEW_FLOWS (1u << 20)
#define BENCH_SECONDS_PACKETS (1u << 24) /* packets per timed case */
#define BENCH_SCALING_CAPACITY (8u << 20)  /* --flows-scaling: one table for every row */

enum bench_case { CASE_FLOOR, CASE_ESTABLISHED, CASE_NEW_FLOWS, CASE_NOT_VIP, CASE_RATE_LIMITED };

struct bench_run {
	struct dp_context *ctx;
	enum bench_case which;
	const uint8_t *frames; /* n_frames * BENCH_FRAME_LEN */
	uint32_t n_frames;
	uint32_t packets;
	uint64_t cycles;
	uint64_t verdicts[ELB_VERDICT_COUNT];
};

static const char *config_json =
	"{\"node\": {\"source_v4\": \"192.168.10.1\", \"gateway_mac\": \"02:00:00:00:00:fe\"},"
	" \"vips\": [{\"address\": \"10.100.0.1\", \"port\": 80, \"protocol\": \"tcp\","
	"  \"rate_limit\": {\"packets_per_s\": 0}, \"backends\": [%s]},"
	" {\"address\": \"10.100.0.2\", \"port\": 80, \"protocol\": \"tcp\","
	"  \"rate_limit\": {\"packets_per_s\": 1000, \"packet_burst\": 10}, \"backends\": [%s]}]}";

static int run_case(void *arg)
{
	struct bench_run *r = arg;
	struct dp_context *ctx = r->ctx;
	struct dp_worker *w = ctx->workers[0];
	const struct dp_port *p = &ctx->ports[0];
	struct rte_mbuf *pkts[DP_BURST];
	uint64_t c0 = rte_rdtsc();
	uint32_t done = 0;

	while (done < r->packets) {
		const struct elb_snapshot *snap = atomic_load_explicit(&ctx->snapshot,
									memory_order_acquire);

		if (rte_pktmbuf_alloc_bulk(ctx->pool, pkts, DP_BURST) != 0)
			continue;
		for (int i = 0; i < DP_BURST; i++) {
			uint32_t k = (done + (uint32_t)i) % r->n_frames;

			rte_memcpy(rte_pktmbuf_mtod(pkts[i], void *),
				   r->frames + (size_t)k * BENCH_FRAME_LEN, BENCH_FRAME_LEN);
			pkts[i]->data_len = pkts[i]->pkt_len = BENCH_FRAME_LEN;
		}
		if (r->which == CASE_FLOOR) {
			uint16_t sent = rte_eth_tx_burst(p->port_id, 0, pkts, DP_BURST);

			if (sent < DP_BURST)
				rte_pktmbuf_free_bulk(&pkts[sent], DP_BURST - sent);
		} else {
			dp_worker_process_burst(w, snap, p, pkts, DP_BURST, dp_now_ns(ctx));
		}
		rte_rcu_qsbr_quiescent(ctx->qsbr, 0);
		done += DP_BURST;
	}
	r->cycles = rte_rdtsc() - c0;
	for (int v = 0; v < ELB_VERDICT_COUNT; v++)
		r->verdicts[v] = w->core.counters.verdicts[v].packets;
	return 0;
}

static void report(const char *what, struct bench_run *r, double floor_cycles,
		   uint64_t verdicts_before[ELB_VERDICT_COUNT])
{
	double cpp = (double)r->cycles / r->packets;
	double ns = cpp * 1e9 / (double)rte_get_tsc_hz();
	char v[128] = "-";

	if (r->which != CASE_FLOOR)
		snprintf(v, sizeof(v), "fwd %llu, kernel %llu, drop %llu",
			 (unsigned long long)(r->verdicts[ELB_VERDICT_FORWARD] -
					      verdicts_before[ELB_VERDICT_FORWARD]),
			 (unsigned long long)(r->verdicts[ELB_VERDICT_KERNEL] -
					      verdicts_before[ELB_VERDICT_KERNEL]),
			 (unsigned long long)(r->verdicts[ELB_VERDICT_DROP] -
					      verdicts_before[ELB_VERDICT_DROP]));
	printf("| %s | %.1f | %.1f | %.2f | %.2f | %s |\n", what, cpp, ns, 1e3 / ns,
	       cpp / floor_cycles, v);
	fflush(stdout);
}

static int run_on_worker(struct bench_run *r, unsigned int lcore)
{
	int rc = rte_eal_remote_launch(run_case, r, lcore);

	if (rc)
		return rc;
	return rte_eal_wait_lcore(lcore);
}

/* --flows-scaling: established flows at growing counts in one table. */
static void flows_scaling(struct dp_context *ctx, unsigned int lcore, double floor_cycles)
{
	static const uint32_t counts[] = {1u << 10, 1u << 16, 1u << 20, 4u << 20};
	uint8_t *frames = bench_make_frames(counts[3], 0x0a640001, ELB_TCP_ACK, false);
	uint64_t before[ELB_VERDICT_COUNT];
	struct bench_run est = {.ctx = ctx, .which = CASE_ESTABLISHED, .frames = frames};

	if (frames == NULL)
		rte_exit(EXIT_FAILURE, "edgelb-dp-bench: no memory for %u frames\n", counts[3]);
	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		char what[96];

		/* The smaller sets are the first flows of the larger ones: warming
		 * a set adds only its new flows, and the table holds exactly it. */
		est.n_frames = counts[i];
		est.packets = counts[i];
		run_on_worker(&est, lcore);
		memcpy(before, est.verdicts, sizeof(before));
		est.packets = BENCH_SECONDS_PACKETS;
		run_on_worker(&est, lcore);
		snprintf(what, sizeof(what), "established flows (hit), %u flows, %uM-entry table",
			 counts[i], BENCH_SCALING_CAPACITY >> 20);
		report(what, &est, floor_cycles, before);
	}
	free(frames);
}

int main(int argc, char **argv)
{
	static struct dp_context ctx;
	char backends[100 * 40], *json;
	struct elb_dp_config *config;
	struct elb_dp_err err;
	char text[ELB_DP_APPLY_ERR_MAX];
	unsigned int lcore;
	double floor_cycles;
	size_t off = 0;
	int rc;

	bool scaling;

	rc = rte_eal_init(argc, argv);
	if (rc < 0)
		rte_exit(EXIT_FAILURE, "EAL init failed\n");
	argc -= rc;
	argv += rc;
	scaling = argc == 2 && strcmp(argv[1], "--flows-scaling") == 0;
	if (argc > 1 && !scaling)
		rte_exit(EXIT_FAILURE, "usage: edgelb-dp-bench [EAL options] [-- --flows-scaling]\n");
	lcore = rte_get_next_lcore(rte_get_main_lcore(), 1, 0);
	if (lcore >= RTE_MAX_LCORE)
		rte_exit(EXIT_FAILURE, "edgelb-dp-bench: needs a worker lcore (-l 0-1)\n");

	ctx.n_workers = 1;
	ctx.flow_capacity = scaling ? BENCH_SCALING_CAPACITY : 4u << 20;
	ctx.tsc_to_ns_mult = (uint64_t)(((unsigned __int128)1000000000ull << 32) / rte_get_tsc_hz());
	ctx.pool = rte_pktmbuf_pool_create("bench_mbufs", 16383, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
					   (int)rte_socket_id());
	ctx.qsbr = rte_zmalloc("bench_qsbr", rte_rcu_qsbr_get_memsize(1), RTE_CACHE_LINE_SIZE);
	if (!ctx.pool || !ctx.qsbr || rte_rcu_qsbr_init(ctx.qsbr, 1) ||
	    dp_worker_create(&ctx, 0, lcore) || dp_ports_init(&ctx, NULL) || dp_publish_initial(&ctx))
		rte_exit(EXIT_FAILURE, "edgelb-dp-bench: set-up failed\n");
	rte_rcu_qsbr_thread_online(ctx.qsbr, 0);

	for (int i = 0; i < 100; i++)
		off += (size_t)snprintf(backends + off, sizeof(backends) - off,
					"%s{\"address\": \"10.200.%d.%d\"}", i ? "," : "", i / 250,
					i % 250 + 1);
	json = malloc(strlen(config_json) + 2 * off + 1);
	sprintf(json, config_json, backends, backends);
	if (elb_dp_config_parse(json, strlen(json), &config, &err) < 0)
		rte_exit(EXIT_FAILURE, "edgelb-dp-bench: config: %s\n", err.text);
	free(json);
	if (dp_ops.apply(&ctx, config, 1, text, sizeof(text)))
		rte_exit(EXIT_FAILURE, "edgelb-dp-bench: apply: %s\n", text);

	printf("| case (edgelb-dp worker, one lcore) | cycles/pkt | ns/pkt | Mpps | x floor | "
	       "verdicts |\n|---|---|---|---|---|---|\n");
	{
		uint64_t before[ELB_VERDICT_COUNT];
		struct bench_run floor = {.ctx = &ctx, .which = CASE_FLOOR,
					  .frames = bench_make_frames(BENCH_FLOWS, 0x0a640001, ELB_TCP_ACK, false),
					  .n_frames = BENCH_FLOWS, .packets = BENCH_SECONDS_PACKETS};
		struct bench_run est = floor, miss, notvip, limited;

		memset(before, 0, sizeof(before));
		run_on_worker(&floor, lcore);
		floor_cycles = (double)floor.cycles / floor.packets;
		report("floor: mbuf alloc + 60-byte write + tx_burst", &floor, floor_cycles, before);
		if (scaling) {
			flows_scaling(&ctx, lcore, floor_cycles);
			goto done;
		}

		est.which = CASE_ESTABLISHED;
		est.packets = BENCH_FLOWS; /* warm: every flow gets its entry */
		run_on_worker(&est, lcore);
		memcpy(before, est.verdicts, sizeof(before));
		est.packets = BENCH_SECONDS_PACKETS;
		run_on_worker(&est, lcore);
		report("established flows (hit), 65536 flows, 4M-entry table", &est, floor_cycles,
		       before);

		{
			/* Cache-resident: 1024 flows, whose entries stay in L1/L2, as
			 * in Katran's established-flow baseline (one repeated flow). */
			struct bench_run hot = est;

			hot.n_frames = 1024;
			memcpy(before, est.verdicts, sizeof(before));
			run_on_worker(&hot, lcore);
			report("established flows (hit), 1024 flows (cache-resident)", &hot,
			       floor_cycles, before);
			est = hot;
		}

		memcpy(before, est.verdicts, sizeof(before));
		miss = (struct bench_run){.ctx = &ctx, .which = CASE_NEW_FLOWS,
					  .frames = bench_make_frames(BENCH_NEW_FLOWS, 0x0a640001, ELB_TCP_SYN, false),
					  .n_frames = BENCH_NEW_FLOWS, .packets = BENCH_NEW_FLOWS};
		run_on_worker(&miss, lcore);
		report("new flows (miss + Maglev + insert), 1M distinct SYNs", &miss, floor_cycles,
		       before);

		memcpy(before, miss.verdicts, sizeof(before));
		notvip = (struct bench_run){.ctx = &ctx, .which = CASE_NOT_VIP,
					    .frames = bench_make_frames(BENCH_FLOWS, 0x0a640063, ELB_TCP_ACK, false),
					    .n_frames = BENCH_FLOWS, .packets = BENCH_SECONDS_PACKETS};
		run_on_worker(&notvip, lcore);
		report("not for a VIP (no kernel port here: freed)", &notvip, floor_cycles, before);

		memcpy(before, notvip.verdicts, sizeof(before));
		limited = (struct bench_run){.ctx = &ctx, .which = CASE_RATE_LIMITED,
					     .frames = bench_make_frames(1, 0x0a640002, ELB_TCP_ACK, true),
					     .n_frames = 1, .packets = BENCH_SECONDS_PACKETS};
		run_on_worker(&limited, lcore);
		report("one flow over its rate limit (dropped)", &limited, floor_cycles, before);
	}
done:
	elb_dp_config_free(config);
	RTE_LCORE_FOREACH_WORKER(lcore)
		rte_eal_wait_lcore(lcore);
	dp_ports_stop(&ctx);
	rte_eal_cleanup();
	return 0;
}
