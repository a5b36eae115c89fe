/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * edgelb-dp [EAL options] -- [--config FILE] [--state FILE] [--socket PATH]
 *           [--flows N] [--kernel-iface PREFIX|none] [--mbufs N]
 *
 * Lifecycle: EAL init -> ports, workers, RCU -> empty snapshot published ->
 * control socket open (applies --config or the state file) -> workers
 * launched on every worker lcore -> READY=1 to systemd (elb_notify.h) ->
 * the main lcore serves control (and pings systemd's watchdog) until
 * SIGINT/SIGTERM -> STOPPING=1, workers stop, ports drain and close, final
 * counters printed, exit 0.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>

#include "dp.h"
#include "elb_dp_api.h"
#include "elb_heap.h"
#include "elb_notify.h"
#include "elb_options.h"
#include "elb_snapshot.h"
#include "elb_version.h"

#define DP_DEFAULT_SOCKET "/run/edgelb/dp.sock"
#define DP_CONTROL_POLL_MS 1 /* bounds the kernel path's added latency */

static struct dp_context *signal_ctx;

static void on_signal(int sig)
{
	(void)sig;
	if (signal_ctx)
		atomic_store(&signal_ctx->stop, true);
}

struct dp_options {
	struct elb_dp_options shared; /* --config --state --socket --flows */
	const char *kernel_prefix;
	uint32_t mbufs;
};

static void usage(void)
{
	fprintf(stderr,
		"usage: edgelb-dp [EAL options] -- [--config FILE] [--state FILE] [--socket PATH]\n"
		"                 [--flows N] [--kernel-iface PREFIX|none] [--mbufs N]\n"
		"  --config FILE        startup configuration (JSON, dataplane protocol terms)\n"
		"  --state FILE         persist every applied change here (atomic); loaded at start\n"
		"  --socket PATH        control socket (default " DP_DEFAULT_SOCKET ")\n"
		"  --flows N            flow-table capacity per worker (default %u, 56 bytes each)\n"
		"  --kernel-iface P     TAP interfaces P0, P1... for the exception path (default edgelb);\n"
		"                       'none': traffic not for a VIP is dropped\n"
		"  --mbufs N            packet buffers in the pool (default %u)\n",
		DP_DEFAULT_FLOWS, DP_DEFAULT_MBUFS);
}

enum { OPT_KERNEL_IFACE = 'k', OPT_MBUFS = 'm' };

static int own_option(void *ctx, int val, const char *arg)
{
	struct dp_options *o = ctx;

	if (val == OPT_KERNEL_IFACE) {
		o->kernel_prefix = strcmp(arg, "none") == 0 ? NULL : arg;
		return 0;
	}
	if (elb_parse_u32(arg, 1, UINT32_MAX, &o->mbufs)) {
		fprintf(stderr, "edgelb-dp: --mbufs: a positive number\n");
		return -EINVAL;
	}
	return 0;
}

static int parse_options(int argc, char **argv, struct dp_options *o)
{
	static const struct option own[] = {
		{"kernel-iface", required_argument, NULL, OPT_KERNEL_IFACE},
		{"mbufs", required_argument, NULL, OPT_MBUFS},
		{NULL, 0, NULL, 0},
	};
	const struct elb_dp_options_spec spec = {
		.program = "edgelb-dp",
		.flows_max = ELB_FLOW_MAX_CAPACITY,
		.own = own,
		.own_option = own_option,
		.ctx = o,
		.usage = usage,
	};
	int first_arg;

	*o = (struct dp_options){
		.shared = {.socket_path = DP_DEFAULT_SOCKET, .flows = DP_DEFAULT_FLOWS},
		.kernel_prefix = "edgelb",
		.mbufs = DP_DEFAULT_MBUFS,
	};
	first_arg = elb_dp_options_parse(argc, argv, &spec, &o->shared);
	if (first_arg < 0)
		return first_arg;
	if (first_arg != argc) {
		fprintf(stderr, "edgelb-dp: unexpected argument '%s'\n", argv[first_arg]);
		return -EINVAL;
	}
	return 0;
}

static int setup(struct dp_context *ctx, const struct dp_options *o)
{
	unsigned int n_workers = rte_lcore_count() - 1;
	size_t qsbr_size;
	int rc;

	if (n_workers == 0) {
		fprintf(stderr, "edgelb-dp: needs at least one worker lcore besides the main one "
				"(e.g. -l 0-1)\n");
		return -EINVAL;
	}
	if (n_workers > DP_MAX_WORKERS)
		n_workers = DP_MAX_WORKERS;
	ctx->n_workers = (uint16_t)n_workers;
	ctx->flow_capacity = o->shared.flows;
	ctx->tsc_to_ns_mult = (uint64_t)(((unsigned __int128)1000000000ull << 32) / rte_get_tsc_hz());
	ctx->started_tsc = rte_rdtsc();
	ctx->pool = rte_pktmbuf_pool_create("dp_mbufs", o->mbufs, DP_MBUF_CACHE, 0,
					    RTE_MBUF_DEFAULT_BUF_SIZE, (int)rte_socket_id());
	if (ctx->pool == NULL) {
		fprintf(stderr, "edgelb-dp: mbuf pool: %s\n", rte_strerror(rte_errno));
		return -ENOMEM;
	}
	qsbr_size = rte_rcu_qsbr_get_memsize(n_workers);
	ctx->qsbr = rte_zmalloc("dp_qsbr", qsbr_size, RTE_CACHE_LINE_SIZE);
	if (ctx->qsbr == NULL)
		return -ENOMEM;
	rc = rte_rcu_qsbr_init(ctx->qsbr, n_workers);
	if (rc)
		return rc;
	rc = dp_workers_init(ctx);
	if (rc)
		return rc;
	rc = dp_explain_init(ctx);
	if (rc)
		return rc;
	rc = dp_ports_init(ctx, o->kernel_prefix);
	if (rc)
		return rc;
	return dp_publish_initial(ctx);
}

static void teardown(struct dp_context *ctx)
{
	struct elb_snapshot *snap;

	dp_ports_stop(ctx);
	dp_reclaim(ctx, true);
	snap = atomic_exchange(&ctx->snapshot, NULL);
	elb_snapshot_free(snap);
	dp_workers_free(ctx);
	dp_explain_fini(ctx);
	rte_free(ctx->qsbr);
	rte_mempool_free(ctx->pool);
}

int main(int argc, char **argv)
{
	static struct dp_context ctx;
	struct elb_dp_config *initial = NULL;
	struct elb_dp_api_options api_options;
	struct elb_dp_api *api = NULL;
	struct elb_dp_err err;
	struct dp_options o;
	unsigned int lcore;
	int rc, eal_args;

	if (elb_version_requested(argc, argv))
		return elb_version_print("edgelb-dp", ELB_DP_PROTOCOL_VERSION);
	elb_heap_keep_freed();
	elb_notify_init();
	eal_args = rte_eal_init(argc, argv);
	if (eal_args < 0)
		rte_exit(EXIT_FAILURE, "edgelb-dp: EAL init failed: %s\n", rte_strerror(rte_errno));
	argc -= eal_args;
	argv += eal_args;
	argv[0] = (char *)"edgelb-dp";
	if (parse_options(argc, argv, &o))
		rte_exit(EXIT_FAILURE, "edgelb-dp: bad options\n");
	if (o.shared.config_path && elb_dp_config_load_file(o.shared.config_path, &initial, &err) < 0)
		rte_exit(EXIT_FAILURE, "edgelb-dp: %s\n", err.text);

	rc = setup(&ctx, &o);
	if (rc)
		rte_exit(EXIT_FAILURE, "edgelb-dp: start-up failed: %s\n", strerror(-rc));

	signal_ctx = &ctx;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);

	api_options = elb_dp_options_api(&o.shared, "dpdk", initial);
	rc = elb_dp_api_open(&api, &api_options, &dp_ops, &ctx, &err);
	elb_dp_config_free(initial);
	if (rc)
		rte_exit(EXIT_FAILURE, "edgelb-dp: control socket: %s\n", err.text);
	printf("edgelb-dp: %u worker%s, control socket %s\n", ctx.n_workers,
	       ctx.n_workers == 1 ? "" : "s", o.shared.socket_path);
	fflush(stdout);

	for (uint16_t i = 0; i < ctx.n_workers; i++)
		rte_eal_remote_launch(dp_worker_main, ctx.workers[i], ctx.workers[i]->lcore_id);
	/* Ports started, the configuration applied and published, the socket
	 * open (served from the first poll below), workers running. */
	elb_notify_ready("%u worker%s, %u port%s, %u VIP%s at epoch %" PRIu64 ", socket %s",
			 ctx.n_workers, ctx.n_workers == 1 ? "" : "s", ctx.n_ports,
			 ctx.n_ports == 1 ? "" : "s", elb_dp_api_config(api)->n_vips,
			 elb_dp_api_config(api)->n_vips == 1 ? "" : "s", elb_dp_api_epoch(api),
			 o.shared.socket_path);

	/* The watchdog is pinged from this loop only: a control lcore stuck in
	 * a request stops the pings; the workers keep forwarding until
	 * systemd ends the process. */
	while (!atomic_load(&ctx.stop)) {
		elb_dp_api_poll(api, DP_CONTROL_POLL_MS);
		dp_kernel_to_wire(&ctx);
		dp_reclaim(&ctx, false);
		elb_notify_watchdog();
	}
	elb_notify_stopping("stopping: workers, then ports");

	RTE_LCORE_FOREACH_WORKER(lcore)
		rte_eal_wait_lcore(lcore);
	elb_dp_api_close(api);
	dp_print_counters(&ctx);
	teardown(&ctx);
	rte_eal_cleanup();
	return 0;
}
