/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * edgelb-replay's DPDK backend (--dataplane dpdk; edgelb_replay.c):
 *
 * Runs the real edgelb-dp pipeline over a pcap: the packets enter through a
 * net_pcap port and the same worker code (dp_worker_process_burst) as in
 * edgelb-dp decides for each; what it transmits is written to OUT.pcap by
 * the same port. One JSON line per input packet goes to --verdicts: its
 * verdict, reason, VIP, backend and the configuration epoch it was decided
 * under.
 *
 * Deterministic: the clock is the pcap's timestamps (rebased to the first
 * packet, read with libpcap beside the port, at nanosecond precision), so
 * rate limits and timeouts replay the same every time. Packets are passed
 * one at a time, each with its own timestamp.
 *
 * --socket serves the dataplane protocol between bursts, so a test can
 * change backends while traffic replays (--pace-us slows the replay down
 * for that); every verdict line carries the epoch it saw. --hold-at N
 * stops before packet N and serves the socket until SIGUSR1. flow.explain
 * there decides at the replay's clock: the next packet's time. Both
 * replays do this with the same helpers (elb_replay_options.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <pcap/pcap.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_malloc.h>

#include "dp.h"
#include "elb_dp_api.h"
#include "elb_snapshot.h"
#include "elb_verdicts.h"
#include "replay.h"

#define REPLAY_MBUFS 8191u
#define REPLAY_EMPTY_POLLS_MAX 1000000u /* the pcap port delivered all it will */

struct replay_state {
	FILE *verdicts;
	uint64_t index;
	const struct elb_snapshot *snap; /* the one the current packet is decided under */
	uint64_t verdict_counts[ELB_VERDICT_COUNT];
};

static void on_result(void *arg, const struct rte_mbuf *m, const struct elb_pipeline_result *res)
{
	struct replay_state *st = arg;

	(void)m;
	st->verdict_counts[res->verdict]++;
	if (st->verdicts)
		elb_verdict_write(st->verdicts, st->index, st->snap, res);
	st->index++;
}

/* Timestamps of every packet of the pcap, in ns, read the way net_pcap
 * reads the file: the clock of the replay. */
static int read_timestamps(const char *path, uint64_t **out, uint64_t *n_out)
{
	char errbuf[PCAP_ERRBUF_SIZE];
	struct pcap_pkthdr *hdr;
	const u_char *data;
	uint64_t *ts = NULL, n = 0, cap = 0;
	pcap_t *p;
	int rc;

	p = pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_NANO, errbuf);
	if (p == NULL) {
		fprintf(stderr, "edgelb-replay: %s: %s\n", path, errbuf);
		return -EINVAL;
	}
	while ((rc = pcap_next_ex(p, &hdr, &data)) == 1) {
		if (n == cap) {
			uint64_t *bigger;

			cap = cap ? cap * 2 : 65536;
			bigger = realloc(ts, cap * sizeof(*ts));
			if (bigger == NULL) {
				free(ts);
				pcap_close(p);
				return -ENOMEM;
			}
			ts = bigger;
		}
		ts[n++] = (uint64_t)hdr->ts.tv_sec * 1000000000ull + (uint64_t)hdr->ts.tv_usec;
	}
	pcap_close(p);
	if (rc == -1) {
		free(ts);
		fprintf(stderr, "edgelb-replay: %s: read error\n", path);
		return -EIO;
	}
	*out = ts;
	*n_out = n;
	return 0;
}

/* The replay's clock before packet `next` (0-based): the time that packet
 * is decided at; after the last, the last one's. What flow.explain decides
 * at while the socket is served. */
static uint64_t replay_clock(const uint64_t *ts, uint64_t n_packets, uint64_t next)
{
	if (n_packets == 0)
		return 0;
	return ts[next < n_packets ? next : n_packets - 1] - ts[0];
}

/*
 * A hold, off the RCU: the replay holds no snapshot across it, and changes
 * made meanwhile must be able to reclaim every old one without waiting for
 * this thread (publish waits for it once DP_RETIRED_MAX are retired).
 */
static void replay_hold(struct dp_context *ctx, struct elb_dp_api *api, uint64_t next_packet)
{
	rte_rcu_qsbr_thread_offline(ctx->qsbr, 0);
	elb_replay_hold(api, next_packet);
	rte_rcu_qsbr_thread_online(ctx->qsbr, 0);
}

int dp_replay_run(struct elb_replay_options *o)
{
	static struct dp_context ctx;
	struct replay_state st = {0};
	struct dp_replay hook = {.on_result = on_result, .arg = &st};
	struct elb_dp_config *config = NULL;
	struct elb_dp_api *api = NULL;
	struct elb_dp_err err;
	uint64_t *ts = NULL, n_packets = 0, received = 0, empty_polls = 0;
	char vdev[PATH_MAX * 2 + 64], prefix[64], mem[16];
	char *eal_argv[16];
	int eal_argc = 0, rc;
	struct dp_worker *w;
	const struct dp_port *port;

	if (elb_dp_config_load_file(o->config_path, &config, &err) < 0) {
		fprintf(stderr, "edgelb-replay: %s\n", err.text);
		return 1;
	}
	if (read_timestamps(o->in_path, &ts, &n_packets))
		return 1;
	if (o->verdicts_path) {
		st.verdicts = fopen(o->verdicts_path, "w");
		if (st.verdicts == NULL) {
			perror(o->verdicts_path);
			return 1;
		}
	}

	/* No NIC, no hugepages: a pcap port and ordinary memory sized for the
	 * flow table. */
	snprintf(vdev, sizeof(vdev), "net_pcap0,rx_pcap=%s,tx_pcap=%s", o->in_path, o->out_path);
	snprintf(prefix, sizeof(prefix), "--file-prefix=elb-replay-%d", (int)getpid());
	snprintf(mem, sizeof(mem), "%zu",
		 (size_t)256 + elb_flow_table_mem_size(o->flows) / (1u << 20) + 16);
	eal_argv[eal_argc++] = (char *)"edgelb-replay";
	eal_argv[eal_argc++] = (char *)"-l";
	eal_argv[eal_argc++] = (char *)"0";
	eal_argv[eal_argc++] = (char *)"--no-huge";
	eal_argv[eal_argc++] = (char *)"-m";
	eal_argv[eal_argc++] = mem;
	eal_argv[eal_argc++] = (char *)"--no-pci";
	eal_argv[eal_argc++] = prefix;
	eal_argv[eal_argc++] = (char *)"--log-level=error";
	eal_argv[eal_argc++] = (char *)"--vdev";
	eal_argv[eal_argc++] = vdev;
	eal_argv[eal_argc] = NULL;
	if (rte_eal_init(eal_argc, eal_argv) < 0) {
		fprintf(stderr, "edgelb-replay: EAL init failed: %s\n", rte_strerror(rte_errno));
		return 1;
	}

	ctx.n_workers = 1;
	ctx.flow_capacity = o->flows;
	ctx.replay = &hook;
	ctx.pool = rte_pktmbuf_pool_create("replay_mbufs", REPLAY_MBUFS, 256, 0,
					   RTE_MBUF_DEFAULT_BUF_SIZE, (int)rte_socket_id());
	ctx.qsbr = rte_zmalloc("replay_qsbr", rte_rcu_qsbr_get_memsize(1), RTE_CACHE_LINE_SIZE);
	if (ctx.pool == NULL || ctx.qsbr == NULL || rte_rcu_qsbr_init(ctx.qsbr, 1) ||
	    dp_worker_create(&ctx, 0, rte_lcore_id()) || dp_explain_init(&ctx) ||
	    dp_ports_init(&ctx, NULL) || dp_publish_initial(&ctx)) {
		fprintf(stderr, "edgelb-replay: start-up failed\n");
		rte_eal_cleanup();
		return 1;
	}
	w = ctx.workers[0];
	port = &ctx.ports[0];
	rte_rcu_qsbr_thread_online(ctx.qsbr, 0);

	rc = elb_replay_configure(o, config, &dp_ops, &ctx, &api);
	elb_dp_config_free(config);
	if (rc) {
		rte_eal_cleanup();
		return 1;
	}

	while (received < n_packets) {
		struct rte_mbuf *pkts[ELB_REPLAY_BURST];
		uint16_t n = rte_eth_rx_burst(port->port_id, 0, pkts, ELB_REPLAY_BURST);

		if (n == 0) {
			if (++empty_polls == REPLAY_EMPTY_POLLS_MAX) {
				fprintf(stderr, "edgelb-replay: the port delivered %" PRIu64
						" of %" PRIu64 " packets\n",
					received, n_packets);
				break;
			}
			continue;
		}
		empty_polls = 0;
		for (uint16_t i = 0; i < n; i++, received++) {
			hook.now_ns = replay_clock(ts, n_packets, received);
			if (elb_replay_holds_ahead(o) && elb_replay_hold_due(o, api, received))
				replay_hold(&ctx, api, received);
			st.snap = atomic_load(&ctx.snapshot);
			dp_worker_process_burst(w, st.snap, port, &pkts[i], 1, hook.now_ns);
		}
		rte_rcu_qsbr_quiescent(ctx.qsbr, 0);
		hook.now_ns = replay_clock(ts, n_packets, received);
		elb_replay_between_bursts(api, o->pace_us);
		if (api)
			dp_reclaim(&ctx, false);
	}
	hook.now_ns = replay_clock(ts, n_packets, received);
	if (elb_replay_hold_due(o, api, received))
		replay_hold(&ctx, api, received);
	rte_rcu_qsbr_thread_offline(ctx.qsbr, 0);
	if (st.verdicts)
		fclose(st.verdicts);
	fprintf(stderr,
		"edgelb-replay: %" PRIu64 " packets: %" PRIu64 " forwarded, %" PRIu64
		" replies, %" PRIu64 " to the kernel, %" PRIu64 " dropped\n",
		st.index, st.verdict_counts[ELB_VERDICT_FORWARD], st.verdict_counts[ELB_VERDICT_REPLY],
		st.verdict_counts[ELB_VERDICT_KERNEL], st.verdict_counts[ELB_VERDICT_DROP]);
	elb_dp_api_close(api);
	dp_ports_stop(&ctx); /* closes OUT.pcap */
	dp_reclaim(&ctx, true);
	elb_snapshot_free(atomic_exchange(&ctx.snapshot, NULL));
	dp_workers_free(&ctx);
	dp_explain_fini(&ctx);
	rte_free(ctx.qsbr);
	rte_mempool_free(ctx.pool);
	free(ts);
	rte_eal_cleanup();
	return received == n_packets ? 0 : 1;
}
