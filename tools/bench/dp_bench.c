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
 *
 * With --two-workers (EAL: two lcores, two net_null ports): two workers
 * against one. Worker 0 runs on the main lcore and worker 1 on the other
 * one (on a 2-CPU machine a main lcore waiting beside a worker would take a
 * CPU, or half a core if the two are SMT siblings), each with its own flow
 * table (4M entries), its own port (worker w sends on port w, queue w: the
 * null driver's per-queue counters of one port share cache lines, of two
 * ports they do not) and its own flows, so the two share only the snapshot
 * (read-only), the mbuf pool (a per-lcore cache each) and the memory
 * system. Each case runs worker 0 alone, worker 1 alone and both at once,
 * in an order alternated from one repetition to the next; both start
 * together and stop at the same TSC deadline, so the aggregate is the two
 * counts over one interval. Tables are emptied at each repetition. On a
 * shared machine another process may take a worker's CPU: a run in which a
 * worker's thread had less than BENCH_TWO_MIN_CPU of its CPU is run again,
 * and the medians leave out the repetitions where that persisted (the row
 * says when no repetition was free of it).
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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
#define BENCH_TWO_CAPACITY (4u << 20)      /* --two-workers: each worker's table */
#define BENCH_TWO_REPS 5                   /* repetitions of every --two-workers case */
#define BENCH_TWO_RUN_MS 400               /* one timed run: floor, established flows */
#define BENCH_TWO_NEW_RUN_MS 50            /* one timed run of new flows (1M SYNs last 20 Mpps) */
#define BENCH_WAIT_SLEEP_US 1000           /* main lcore's poll while a worker lcore runs */
#define BENCH_TWO_MIN_CPU 0.97             /* a run's CPU time / its duration, or it is redone */
#define BENCH_TWO_ATTEMPTS 5               /* of one timed run, at most */
#define BENCH_TWO_RETRY_PAUSE_US 200000    /* before running a preempted run again */

enum bench_case { CASE_FLOOR, CASE_ESTABLISHED, CASE_NEW_FLOWS, CASE_NOT_VIP, CASE_RATE_LIMITED };

/* Where the workers of one --two-workers run meet before starting: the
 * last to arrive sets the start TSC, the time every one counts from. */
struct bench_start {
	atomic_uint arrived;
	unsigned int expected;
	_Atomic uint64_t start_tsc;
};

struct bench_run {
	struct dp_context *ctx;
	uint16_t worker; /* ctx->workers[worker], sending on ctx->ports[worker] */
	enum bench_case which;
	const uint8_t *frames; /* n_frames * BENCH_FRAME_LEN */
	uint32_t n_frames;
	uint32_t packets;      /* at most this many */
	uint64_t run_cycles;   /* and, if not 0, until start + run_cycles (TSC) */
	struct bench_start *start; /* NULL: start at once, alone */
	/* Results. */
	uint32_t done; /* packets sent through */
	uint64_t cycles;
	uint64_t end_tsc;
	double cpu_share; /* the thread's CPU time over the run's duration: below 1, preempted */
	uint64_t verdicts[ELB_VERDICT_COUNT];
	uint64_t new_flows;
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
	struct dp_worker *w = ctx->workers[r->worker];
	const struct dp_port *p = &ctx->ports[r->worker];
	struct rte_mbuf *pkts[DP_BURST];
	uint64_t c0, deadline;
	uint32_t done = 0;
	struct timespec cpu0, cpu1;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu0);
	if (r->start != NULL) {
		if (atomic_fetch_add(&r->start->arrived, 1) + 1 == r->start->expected)
			atomic_store_explicit(&r->start->start_tsc, rte_rdtsc(),
					      memory_order_release);
		while ((c0 = atomic_load_explicit(&r->start->start_tsc, memory_order_acquire)) == 0)
			rte_pause();
	} else {
		c0 = rte_rdtsc();
	}
	deadline = c0 + r->run_cycles;
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
			uint16_t sent = rte_eth_tx_burst(p->port_id, w->index, pkts, DP_BURST);

			if (sent < DP_BURST)
				rte_pktmbuf_free_bulk(&pkts[sent], DP_BURST - sent);
		} else {
			dp_worker_process_burst(w, snap, p, pkts, DP_BURST, dp_now_ns(ctx));
		}
		rte_rcu_qsbr_quiescent(ctx->qsbr, w->index);
		done += DP_BURST;
		if (r->run_cycles != 0 && rte_rdtsc() >= deadline)
			break;
	}
	r->end_tsc = rte_rdtsc();
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu1);
	r->cycles = r->end_tsc - c0;
	r->done = done;
	/* From before the start line: a worker waiting there spins on its CPU. */
	r->cpu_share = ((double)(cpu1.tv_sec - cpu0.tv_sec) * 1e9 +
			(double)(cpu1.tv_nsec - cpu0.tv_nsec)) /
		       ((double)r->cycles * 1e9 / (double)rte_get_tsc_hz());
	for (int v = 0; v < ELB_VERDICT_COUNT; v++)
		r->verdicts[v] = w->core.counters.verdicts[v].packets;
	r->new_flows = w->core.counters.new_flows;
	return 0;
}

static void report(const char *what, struct bench_run *r, double floor_cycles,
		   uint64_t verdicts_before[ELB_VERDICT_COUNT])
{
	double cpp = (double)r->cycles / r->done;
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

/* Wait for lcore without spinning, so that the main lcore's CPU (which
 * may be the worker's SMT sibling on the host) stays quiet meanwhile. */
static int wait_worker(unsigned int lcore)
{
	while (rte_eal_get_lcore_state(lcore) == RUNNING)
		usleep(BENCH_WAIT_SLEEP_US);
	return rte_eal_wait_lcore(lcore);
}

static int run_on_worker(struct bench_run *r, unsigned int lcore)
{
	int rc = rte_eal_remote_launch(run_case, r, lcore);

	if (rc)
		return rc;
	return wait_worker(lcore);
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

/* --two-workers: the figures of one case in one repetition. */
struct two_sample {
	double alone_mpps[2], alone_cycles[2]; /* worker w alone */
	double both_mpps[2], both_cycles[2];   /* worker w beside the other */
	double both_total_mpps;                /* both workers' packets over one interval */
	bool preempted;                        /* in one of the three runs, after every attempt */
};

struct two_case {
	const char *what;
	enum bench_case which;
	const uint8_t *frames; /* worker w's from frame w * stride on */
	uint32_t stride;
	uint32_t n_frames;     /* each worker's, sent round robin */
	uint32_t warm;         /* each worker sends its first `warm` frames untimed first */
	bool empty_tables;     /* before every timed run: every packet a new flow */
	uint32_t max_packets;  /* per worker and timed run */
	uint32_t run_ms;
	struct two_sample samples[BENCH_TWO_REPS];
};

static void empty_flow_table(struct dp_context *ctx, uint16_t worker)
{
	struct dp_worker *w = ctx->workers[worker];

	if (elb_flow_table_init(&w->core.flows, w->flow_mem,
				elb_flow_table_mem_size(ctx->flow_capacity), ctx->flow_capacity))
		rte_exit(EXIT_FAILURE, "edgelb-dp-bench: cannot empty worker %u's flow table\n",
			 worker);
}

/* A timed run measures what its case says: ended by the deadline, every
 * packet forwarded, and new flows each a new entry, established ones none. */
static void check_run(const struct two_case *c, const struct bench_run *r, uint64_t fwd_before,
		      uint64_t new_before)
{
	uint64_t fwd = r->verdicts[ELB_VERDICT_FORWARD] - fwd_before;
	uint64_t created = r->new_flows - new_before;
	uint64_t want_created = c->which == CASE_NEW_FLOWS ? r->done : 0;

	/* The deadline, not the frames, must end a timed run: a worker that
	 * stopped first would leave the other running alone. */
	if (r->done >= c->max_packets)
		rte_exit(EXIT_FAILURE, "edgelb-dp-bench: %s, worker %u: all %u frames sent before "
				       "the deadline; shorten the run\n",
			 c->what, r->worker, c->max_packets);
	if (c->which != CASE_FLOOR && (fwd != r->done || created != want_created))
		rte_exit(EXIT_FAILURE,
			 "edgelb-dp-bench: %s, worker %u: %llu of %u packets forwarded, %llu new "
			 "flows (expected %llu)\n",
			 c->what, r->worker, (unsigned long long)fwd, r->done,
			 (unsigned long long)created, (unsigned long long)want_created);
}

/*
 * Run the workers of the set `workers` (bit w: worker w) at once, worker 0
 * on the main lcore and worker 1 on lcore1, from a common start; each sends
 * its own frames of c. run_cycles 0: an untimed run of `packets` each.
 */
static void two_run(struct dp_context *ctx, unsigned int lcore1, const struct two_case *c,
		    unsigned int workers, uint32_t packets, uint64_t run_cycles,
		    struct bench_run r[2])
{
	struct bench_start start = {.expected = (unsigned int)__builtin_popcount(workers)};
	uint64_t fwd_before[2], new_before[2];

	for (uint16_t w = 0; w < 2; w++) {
		const struct elb_worker *core = &ctx->workers[w]->core;

		fwd_before[w] = core->counters.verdicts[ELB_VERDICT_FORWARD].packets;
		new_before[w] = core->counters.new_flows;
		r[w] = (struct bench_run){
			.ctx = ctx, .worker = w, .which = c->which,
			.frames = c->frames + (size_t)w * c->stride * BENCH_FRAME_LEN,
			.n_frames = c->n_frames, .packets = packets, .run_cycles = run_cycles,
			.start = &start,
		};
	}
	if ((workers & 2) && rte_eal_remote_launch(run_case, &r[1], lcore1))
		rte_exit(EXIT_FAILURE, "edgelb-dp-bench: lcore %u is busy\n", lcore1);
	if (workers & 1)
		run_case(&r[0]);
	if (workers & 2)
		wait_worker(lcore1);
	for (uint16_t w = 0; w < 2; w++)
		if (run_cycles != 0 && (workers & (1u << w)))
			check_run(c, &r[w], fwd_before[w], new_before[w]);
}

/*
 * Run the workers of `workers` once, timed. A run in which another process
 * took a worker's CPU measures that process: it is run again, at most
 * BENCH_TWO_ATTEMPTS times in all. Returns false if every attempt was.
 */
static bool two_timed_run(struct dp_context *ctx, unsigned int lcore1, struct two_case *c,
			  unsigned int workers, struct bench_run r[2])
{
	uint64_t run_cycles = rte_get_tsc_hz() * c->run_ms / 1000;

	for (int attempt = 1;; attempt++) {
		double least_cpu = 1;

		for (uint16_t w = 0; w < 2; w++)
			if (c->empty_tables && (workers & (1u << w)))
				empty_flow_table(ctx, w);
		two_run(ctx, lcore1, c, workers, c->max_packets, run_cycles, r);
		for (uint16_t w = 0; w < 2; w++)
			if (workers & (1u << w))
				least_cpu = RTE_MIN(least_cpu, r[w].cpu_share);
		if (least_cpu >= BENCH_TWO_MIN_CPU)
			return true;
		printf("%s, %s: preempted (%.0f%% of a CPU), attempt %d of %d\n", c->what,
		       workers == 3   ? "both workers"
		       : workers == 1 ? "worker 0 alone"
				      : "worker 1 alone",
		       least_cpu * 100, attempt, BENCH_TWO_ATTEMPTS);
		if (attempt == BENCH_TWO_ATTEMPTS)
			return false;
		usleep(BENCH_TWO_RETRY_PAUSE_US);
	}
}

/* One repetition of case c: worker 0 alone, worker 1 alone, both at once
 * (reversed in odd repetitions, so that drift on the machine cancels). */
static void two_rep(struct dp_context *ctx, unsigned int lcore1, struct two_case *c, int rep)
{
	static const unsigned int order[2][3] = {{1, 2, 3}, {3, 2, 1}};
	double hz = (double)rte_get_tsc_hz();
	struct two_sample *s = &c->samples[rep];
	struct bench_run r[2];

	if (c->warm)
		two_run(ctx, lcore1, c, 3, c->warm, 0, r);
	s->preempted = false;
	for (int i = 0; i < 3; i++) {
		unsigned int workers = order[rep % 2][i];

		if (!two_timed_run(ctx, lcore1, c, workers, r))
			s->preempted = true;
		for (uint16_t w = 0; w < 2; w++) {
			double mpps = r[w].done * hz / (double)r[w].cycles / 1e6;
			double cycles = (double)r[w].cycles / r[w].done;

			if (!(workers & (1u << w)))
				continue;
			if (workers == 3) {
				s->both_mpps[w] = mpps;
				s->both_cycles[w] = cycles;
			} else {
				s->alone_mpps[w] = mpps;
				s->alone_cycles[w] = cycles;
			}
		}
		if (workers == 3) {
			/* From the common start to the last end. */
			uint64_t start = r[0].end_tsc - r[0].cycles;
			uint64_t end = RTE_MAX(r[0].end_tsc, r[1].end_tsc);

			s->both_total_mpps = (double)(r[0].done + r[1].done) * hz /
					     (double)(end - start) / 1e6;
		}
	}
	printf("rep %d, %s: alone %.2f %.2f Mpps, at once %.2f %.2f Mpps (%.1f %.1f cycles/pkt), "
	       "total %.2f Mpps, x %.3f%s\n",
	       rep, c->what, s->alone_mpps[0], s->alone_mpps[1], s->both_mpps[0], s->both_mpps[1],
	       s->both_cycles[0], s->both_cycles[1], s->both_total_mpps,
	       2 * s->both_total_mpps / (s->alone_mpps[0] + s->alone_mpps[1]),
	       s->preempted ? " (preempted)" : "");
	fflush(stdout);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The median of n values (sorts them). */
static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/*
 * One row: medians over the repetitions in which no run was preempted (if
 * there are none, over all, and the row says so); the ratio, the total of
 * both at once over the mean of the two alone in the same repetition, as
 * min / median / max.
 */
static void two_report(const struct two_case *c)
{
	double v[9][BENCH_TWO_REPS], ratio[BENCH_TWO_REPS], m[9], ratio_median;
	char what[160];
	int n = 0;

	for (int pass = 0; pass < 2 && n == 0; pass++) {
		for (int i = 0; i < BENCH_TWO_REPS; i++) {
			const struct two_sample *s = &c->samples[i];

			if (pass == 0 && s->preempted)
				continue;
			v[0][n] = s->alone_mpps[0];
			v[1][n] = s->alone_cycles[0];
			v[2][n] = s->alone_mpps[1];
			v[3][n] = s->alone_cycles[1];
			v[4][n] = s->both_mpps[0];
			v[5][n] = s->both_cycles[0];
			v[6][n] = s->both_mpps[1];
			v[7][n] = s->both_cycles[1];
			v[8][n] = s->both_total_mpps;
			ratio[n++] = 2 * s->both_total_mpps / (s->alone_mpps[0] + s->alone_mpps[1]);
		}
		snprintf(what, sizeof(what), "%s, %d repetitions%s", c->what, n,
			 pass == 0 ? "" : ", all PREEMPTED");
	}
	for (int k = 0; k < 9; k++)
		m[k] = median(v[k], n);
	ratio_median = median(ratio, n); /* sorted: min first, max last */
	printf("| %s | %.2f (%.0f) ; %.2f (%.0f) | %.2f (%.0f) ; %.2f (%.0f) | %.2f | "
	       "%.3f / %.3f / %.3f |\n",
	       what, m[0], m[1], m[2], m[3], m[4], m[5], m[6], m[7], m[8], ratio[0], ratio_median,
	       ratio[n - 1]);
	fflush(stdout);
}

/* --two-workers: every case BENCH_TWO_REPS times, then the table. */
static void two_workers(struct dp_context *ctx, unsigned int lcore1)
{
	uint8_t *est = bench_make_frames(2 * BENCH_FLOWS, 0x0a640001, ELB_TCP_ACK, false);
	uint8_t *syn = bench_make_frames(2 * BENCH_NEW_FLOWS, 0x0a640001, ELB_TCP_SYN, false);
	struct two_case cases[] = {
		{.what = "floor: mbuf alloc + 60-byte write + tx_burst", .which = CASE_FLOOR,
		 .frames = est, .stride = BENCH_FLOWS, .n_frames = BENCH_FLOWS,
		 .max_packets = UINT32_MAX, .run_ms = BENCH_TWO_RUN_MS},
		{.what = "established flows (hit), 1024 flows each (cache-resident)",
		 .which = CASE_ESTABLISHED, .frames = est, .stride = BENCH_FLOWS, .n_frames = 1024,
		 .warm = 1024, .max_packets = UINT32_MAX, .run_ms = BENCH_TWO_RUN_MS},
		{.what = "established flows (hit), 65536 flows each, 4M-entry tables",
		 .which = CASE_ESTABLISHED, .frames = est, .stride = BENCH_FLOWS,
		 .n_frames = BENCH_FLOWS, .warm = BENCH_FLOWS, .max_packets = UINT32_MAX,
		 .run_ms = BENCH_TWO_RUN_MS},
		{.what = "new flows (miss + Maglev + insert), distinct SYNs, 50 ms runs",
		 .which = CASE_NEW_FLOWS, .frames = syn, .stride = BENCH_NEW_FLOWS,
		 .n_frames = BENCH_NEW_FLOWS, .empty_tables = true, .max_packets = BENCH_NEW_FLOWS,
		 .run_ms = BENCH_TWO_NEW_RUN_MS},
	};

	if (est == NULL || syn == NULL)
		rte_exit(EXIT_FAILURE, "edgelb-dp-bench: no memory for the frames\n");
	for (int rep = 0; rep < BENCH_TWO_REPS; rep++) {
		/* Each repetition from empty tables: the same state every time. */
		empty_flow_table(ctx, 0);
		empty_flow_table(ctx, 1);
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
			two_rep(ctx, lcore1, &cases[i], rep);
	}
	printf("| case (worker 0 on lcore %u, worker 1 on lcore %u; medians of the repetitions "
	       "not preempted, of %d) | one worker alone: "
	       "Mpps (cycles/pkt), worker 0 ; worker 1 | two at once: Mpps (cycles/pkt), worker 0 ; "
	       "worker 1 | two at once: total Mpps | total / one alone: min / median / max |\n"
	       "|---|---|---|---|---|\n",
	       rte_get_main_lcore(), lcore1, BENCH_TWO_REPS);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		two_report(&cases[i]);
	free(est);
	free(syn);
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

	bool scaling, two;

	rc = rte_eal_init(argc, argv);
	if (rc < 0)
		rte_exit(EXIT_FAILURE, "EAL init failed\n");
	argc -= rc;
	argv += rc;
	scaling = argc == 2 && strcmp(argv[1], "--flows-scaling") == 0;
	two = argc == 2 && strcmp(argv[1], "--two-workers") == 0;
	if (argc > 1 && !scaling && !two)
		rte_exit(EXIT_FAILURE, "usage: edgelb-dp-bench [EAL options] "
				       "[-- --flows-scaling | --two-workers]\n");
	lcore = rte_get_next_lcore(rte_get_main_lcore(), 1, 1);
	if (lcore >= RTE_MAX_LCORE)
		rte_exit(EXIT_FAILURE, "edgelb-dp-bench: needs a worker lcore (-l 0-1)\n");

	ctx.n_workers = two ? 2 : 1;
	ctx.flow_capacity = scaling ? BENCH_SCALING_CAPACITY : two ? BENCH_TWO_CAPACITY : 4u << 20;
	ctx.tsc_to_ns_mult = (uint64_t)(((unsigned __int128)1000000000ull << 32) / rte_get_tsc_hz());
	ctx.pool = rte_pktmbuf_pool_create("bench_mbufs", 16383, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
					   (int)rte_socket_id());
	ctx.qsbr = rte_zmalloc("bench_qsbr", rte_rcu_qsbr_get_memsize(ctx.n_workers),
			       RTE_CACHE_LINE_SIZE);
	if (!ctx.pool || !ctx.qsbr || rte_rcu_qsbr_init(ctx.qsbr, ctx.n_workers))
		rte_exit(EXIT_FAILURE, "edgelb-dp-bench: set-up failed\n");
	/* --two-workers: worker 0 on the main lcore (see the top). */
	if (two ? dp_worker_create(&ctx, 0, rte_get_main_lcore()) || dp_worker_create(&ctx, 1, lcore)
		: dp_worker_create(&ctx, 0, lcore))
		rte_exit(EXIT_FAILURE, "edgelb-dp-bench: set-up failed\n");
	if (dp_ports_init(&ctx, NULL) || dp_publish_initial(&ctx))
		rte_exit(EXIT_FAILURE, "edgelb-dp-bench: set-up failed\n");
	/* Worker 1 sends on port 1's queue 1: the port needs two. */
	if (two && (ctx.n_ports < 2 || ctx.ports[1].n_rxq < 2))
		rte_exit(EXIT_FAILURE, "edgelb-dp-bench: --two-workers needs two ports with a queue "
				       "per worker (--vdev net_null0 --vdev net_null1)\n");
	for (uint16_t i = 0; i < ctx.n_workers; i++)
		rte_rcu_qsbr_thread_online(ctx.qsbr, i);

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
	if (two) {
		two_workers(&ctx, lcore);
		goto done;
	}

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
