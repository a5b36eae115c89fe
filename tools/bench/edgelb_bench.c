/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * edgelb-bench: figures of the portable core on one core, in one run.
 *
 *   1. Maglev: build time (median, min, max of 11) for N = 10 to 1000
 *      backends at M = 65537 and 655373, equal weights and 1..100; balance (max/mean slots per backend) and
 *      disruption (slots that change owner when 1 of N leaves) for N = 10,
 *      100, 1000 at M = 65537.
 *   2. Flow hash: cycles per SipHash-1-3 of a flow key, dependent (each key
 *      waits for the last hash) and independent (a burst's keys). Flow
 *      table: cycles per miss + insert, hit (with and without prefetch)
 *      and evicting insert, in a table that fits L2 and in one of 2^20.
 *   3. The full per-packet pipeline (elb_pipeline_run: parse, VIP lookup,
 *      flow lookup, Maglev pick on a miss, token bucket, encapsulation) on
 *      in-memory 60-byte Ethernet/IPv4/TCP frames: established flows
 *      (flow-table hit), new flows (miss, Maglev pick, insert), a flow over
 *      its rate limit (drop) and non-VIP traffic (to the kernel). Beside
 *      them, in the same run, the floor: restoring the frame and parsing it.
 *
 * With --adversarial, only this instead (docs/adversarial.md quotes it):
 *   4. Isolation under floods: established flows alone, a flood alone, and
 *      the two interleaved 1:1 in one stream, for a SYN flood from fresh
 *      sources at 8 times the table's capacity and for one flow far over
 *      its rate limit. If the flood did not slow the other flows, the mixed
 *      stream costs the mean of the two alone (interference ratio 1.00).
 *      Then prefix lists: 8192 established flows of as many sources with
 *      no list, and with a node list of 1k and of 100k random prefixes
 *      (every packet allowed, each a full lookup), as a ratio to no list.
 *
 * With --flow-count, only this instead (docs/operator-tools.md, "Costs",
 * quotes it):
 *   5. Counting live flows per backend (elb_flow_count_backends, what
 *      edgelb-dp's control thread does per worker table for vip.tables) in
 *      tables of 2^20 to 2^25 flows filled to 1/8, 1/2 and full over 100
 *      backends: ms per walk, ns per slot, GB/s of bucket headers and entry
 *      lines read; then the same walk while a second thread, the table's
 *      owner, runs lookups and refreshes on it as a worker does, and the
 *      owner's rate with the walk running against without.
 *
 * With --second-chance, only this instead (docs/second-chance.md quotes it):
 *   6. What second chance costs the DPDK pipeline (GUE, 100 backends,
 *      65,536 flows): established hits with second_chance off; on, entries
 *      learned from a SYN (sure: no alternate); on, entries learned
 *      mid-stream (every packet carries its slot's previous owner, +12
 *      bytes); and first packets: SYNs against mid-stream ACKs into an
 *      empty table. The previous owner of every slot is set to another
 *      backend, so that every mid-stream packet carries one. Each case runs
 *      3 times alternated; the minimum is shown.
 *
 * With --memory-floor, only this instead (README, "As one table fills"):
 *   7. What the memory of one 8M-slot flow table (576 MiB, huge pages where
 *      the kernel gives them) costs a lookup's two lines (a bucket header
 *      and the flow's entry in its block) at random blocks, for 1k to 4M distinct
 *      flows: read one after the other, each lookup waiting for the last
 *      (the latency), and with the lines of the lookup 16 ahead prefetched
 *      (the most the memory system gives one core: the floor under the
 *      pipeline's large-table figures).
 *
 * With --quic, only this instead (docs/quic-lb.md quotes it):
 *   8. QUIC routing by connection ID: 1-RTT packets of established flows to
 *      a UDP VIP without QUIC routing, then with it under each of the
 *      draft's algorithms (plaintext, single-pass AES, four-pass AES), the
 *      CIDs naming 100 backends: cycles per packet and the cost above the
 *      UDP path.
 *
 * Not a test: it asserts nothing and its numbers move with the machine's
 * load. Compare rows of one run with each other, not runs with runs.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bench_clock.h"
#include "bench_frames.h"
#include "elb_flow_count.h"
#include "elb_flow_hash_x4.h"
#include "elb_maglev.h"
#include "elb_pipeline.h"
#include "elb_prefix_table.h"

#define BUILD_REPEATS 11
#define HASH_RUNS 5
#define HASH_ROUNDS 10000000u
#define HASH_KEYS 1024u /* independent keys: a power of two */
#define PIPELINE_FLOWS (1u << 16)
#define NEW_FLOWS (1u << 20)
#define FRAME_LEN BENCH_FRAME_LEN
#define HEADROOM 128
#define PASSES 32
#define FLOW_VIP_INDEX 0 /* the flow-table rows' flows: all of one VIP */

static double tsc_per_ns;

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static void make_backends(struct elb_maglev_backend *b, uint32_t n)
{
	memset(b, 0, sizeof(*b) * n);
	for (uint32_t i = 0; i < n; i++) {
		/* 10.200.x.y, as a real pool would be numbered */
		b[i].addr.v4 = __builtin_bswap32(0x0ac80000u + i + 1);
		b[i].family = ELB_AF_INET;
		b[i].weight = 1;
		b[i].id = i;
	}
}

/* One row of the build table: M, N, equal weights or 1..100, repeats. */
struct maglev_build_case {
	uint32_t size, n;
	bool weighted;
	int repeats;
};

static void bench_maglev_build(void)
{
	static const struct maglev_build_case cases[] = {
		{65537, 10, false, BUILD_REPEATS},   {65537, 100, false, BUILD_REPEATS},
		{65537, 1000, false, BUILD_REPEATS}, {655373, 100, false, BUILD_REPEATS},
		{655373, 1000, false, BUILD_REPEATS}, {65537, 1000, true, BUILD_REPEATS},
		{655373, 1000, true, BUILD_REPEATS},
	};

	printf("\n## Maglev table build (median of %d)\n\n", BUILD_REPEATS);
	printf("| M | N | weights | build ms | min | max |\n|---|---|---|---|---|---|\n");
	for (size_t c = 0; c < ELB_ARRAY_SIZE(cases); c++) {
		const struct maglev_build_case *bc = &cases[c];
		uint32_t *table = malloc(sizeof(*table) * bc->size);
		struct elb_maglev_backend *b = malloc(sizeof(*b) * bc->n);
		double ms[BUILD_REPEATS];
		uint64_t weight_seed = 5;

		make_backends(b, bc->n);
		for (uint32_t i = 0; bc->weighted && i < bc->n; i++) {
			/* xorshift64: fixed weights 1..100, the same every run */
			weight_seed ^= weight_seed << 13;
			weight_seed ^= weight_seed >> 7;
			weight_seed ^= weight_seed << 17;
			b[i].weight = 1 + (uint32_t)(weight_seed % 100);
		}
		for (int r = 0; r < bc->repeats; r++) {
			uint64_t t0 = bench_now_ns();

			if (elb_maglev_build(table, bc->size, b, bc->n) != 0) {
				fprintf(stderr, "maglev build failed\n");
				exit(1);
			}
			ms[r] = (double)(bench_now_ns() - t0) / 1e6;
		}
		qsort(ms, (size_t)bc->repeats, sizeof(ms[0]), cmp_double);
		printf("| %u | %u | %s | %.2f | %.2f | %.2f |\n", bc->size, bc->n,
		       bc->weighted ? "1..100" : "equal", ms[bc->repeats / 2], ms[0],
		       ms[bc->repeats - 1]);
		free(b);
		free(table);
	}
}

static void bench_maglev_quality(void)
{
	static const uint32_t counts[] = {10, 100, 1000};
	const uint32_t m = ELB_MAGLEV_DEFAULT_SIZE;
	uint32_t *before = malloc(sizeof(*before) * m), *after = malloc(sizeof(*after) * m);

	printf("\n## Maglev balance and disruption (M = %u, equal weights)\n\n", m);
	printf("| N | max/mean slots | slots changed when 1 of N leaves (ideal 1/N) | "
	       "of which not the leaver's |\n|---|---|---|---|\n");
	for (size_t c = 0; c < 3; c++) {
		uint32_t n = counts[c], max = 0, changed = 0, collateral = 0;
		struct elb_maglev_backend *b = malloc(sizeof(*b) * n);
		uint32_t *owned = calloc(n, sizeof(*owned));

		make_backends(b, n);
		elb_maglev_build(before, m, b, n);
		for (uint32_t i = 0; i < m; i++)
			owned[before[i]]++;
		for (uint32_t i = 0; i < n; i++)
			max = owned[i] > max ? owned[i] : max;
		/* The backend in the middle of the list leaves. */
		memmove(&b[n / 2], &b[n / 2 + 1], sizeof(*b) * (n - n / 2 - 1));
		elb_maglev_build(after, m, b, n - 1);
		for (uint32_t i = 0; i < m; i++) {
			if (before[i] != after[i]) {
				changed++;
				if (before[i] != n / 2)
					collateral++;
			}
		}
		printf("| %u | %.4f | %.2f%% (%.2f%%) | %.2f%% |\n", n, (double)max / ((double)m / n),
		       100.0 * changed / m, 100.0 / n, 100.0 * collateral / m);
		free(owned);
		free(b);
	}
	free(before);
	free(after);
}

/*
 * Two figures, best of HASH_RUNS: dependent (each key waits for the
 * previous hash, as one packet's lookup waits for its hash) and independent
 * (keys at hand, as in a burst).
 */
static void bench_flow_hash(void)
{
	static struct elb_flow_key keys[HASH_KEYS];
	struct elb_hash_seed seed = {ELB_HASH_SEED_DEFAULT_K0, ELB_HASH_SEED_DEFAULT_K1};
	uint64_t best_dependent = UINT64_MAX, best_independent = UINT64_MAX, best_x4 = UINT64_MAX;
	uint64_t sink = 0;

	for (uint32_t i = 0; i < HASH_KEYS; i++) {
		memset(&keys[i], 0, sizeof(keys[i]));
		keys[i].family = ELB_AF_INET;
		keys[i].proto = ELB_IPPROTO_TCP;
		keys[i].src.v4 = __builtin_bswap32(0xc6120000u + i);
		keys[i].sport = __builtin_bswap16((uint16_t)(10000 + i));
		keys[i].dst.v4 = __builtin_bswap32(0x0a640001);
		keys[i].dport = __builtin_bswap16(80);
	}
	for (int run = 0; run < HASH_RUNS; run++) {
		struct elb_flow_key k = keys[0];
		uint64_t c0, c1, h = 0;

		c0 = bench_cycles();
		for (uint32_t i = 0; i < HASH_ROUNDS; i++) {
			/* Feed the result back so the compiler cannot hoist or drop it. */
			k.sport ^= (uint16_t)h;
			h = elb_flow_hash(&k, &seed);
		}
		c1 = bench_cycles();
		sink ^= h;
		if (c1 - c0 < best_dependent)
			best_dependent = c1 - c0;
		c0 = bench_cycles();
		for (uint32_t i = 0; i < HASH_ROUNDS; i++)
			sink += elb_flow_hash(&keys[i & (HASH_KEYS - 1)], &seed);
		c1 = bench_cycles();
		if (c1 - c0 < best_independent)
			best_independent = c1 - c0;
	}
	{
		/* Four keys at once, as the DPDK burst loop hashes. */
		elb_flow_hash_x4_fn *x4 = elb_flow_hash_x4_select(true);

		for (int run = 0; run < HASH_RUNS; run++) {
			uint64_t c0 = bench_cycles(), c1, h[4];

			for (uint32_t i = 0; i < HASH_ROUNDS; i += 4) {
				const struct elb_flow_key *k4[4] = {
					&keys[i & (HASH_KEYS - 1)], &keys[(i + 1) & (HASH_KEYS - 1)],
					&keys[(i + 2) & (HASH_KEYS - 1)],
					&keys[(i + 3) & (HASH_KEYS - 1)],
				};

				x4(k4, &seed, h);
				sink += h[0] ^ h[1] ^ h[2] ^ h[3];
			}
			c1 = bench_cycles();
			if (c1 - c0 < best_x4)
				best_x4 = c1 - c0;
		}
	}
	printf("\n## Flow hash\n\nSipHash-1-3 of a 40-byte flow key, best of %d: %.1f cycles "
	       "(%.1f ns) per key dependent, %.1f cycles (%.1f ns) independent, %.1f cycles "
	       "(%.1f ns) four at a time (%s; checksum %llx)\n",
	       HASH_RUNS, (double)best_dependent / HASH_ROUNDS,
	       (double)best_dependent / HASH_ROUNDS / tsc_per_ns,
	       (double)best_independent / HASH_ROUNDS,
	       (double)best_independent / HASH_ROUNDS / tsc_per_ns, (double)best_x4 / HASH_ROUNDS,
	       (double)best_x4 / HASH_ROUNDS / tsc_per_ns,
	       elb_flow_hash_x4_select(true) == elb_flow_hash_x4_select(false) ? "scalar" : "AVX2",
	       (unsigned long long)sink);
}

/* ---- pipeline ---------------------------------------------------------------------------- */

struct bench_setup {
	struct elb_snapshot *snap;
	struct elb_worker worker;
	uint32_t *maglev;
	void *flow_mem;
	size_t flow_mem_size;
};

static void setup_pipeline(struct bench_setup *s, uint32_t n_backends, uint32_t flow_capacity,
			   uint64_t pps_limit)
{
	struct elb_maglev_backend *mb = calloc(n_backends, sizeof(*mb));
	struct elb_vip *vip;
	size_t mem_size;

	memset(s, 0, sizeof(*s));
	s->snap = calloc(1, sizeof(*s->snap));
	s->snap->backends = calloc(ELB_MAX_BACKEND_SLOTS, sizeof(*s->snap->backends));
	s->snap->seed = (struct elb_hash_seed){ELB_HASH_SEED_DEFAULT_K0, ELB_HASH_SEED_DEFAULT_K1};
	elb_source_keys_init(&s->snap->source_keys, &s->snap->seed);
	s->snap->source_v4.v4 = __builtin_bswap32(0xc0a80a01);
	memcpy(s->snap->gateway_mac, (uint8_t[]){0x02, 0, 0, 0, 0, 0xfe}, 6);
	make_backends(mb, n_backends);
	for (uint32_t i = 0; i < n_backends; i++) {
		struct elb_backend_slot *b = &s->snap->backends[i];

		b->addr = mb[i].addr;
		b->family = ELB_AF_INET;
		b->gen = i + 1;
		b->state = ELB_BACKEND_ACTIVE;
		b->weight = 1;
	}
	s->snap->n_backend_slots = n_backends;
	s->maglev = malloc(sizeof(uint32_t) * ELB_MAGLEV_DEFAULT_SIZE);
	elb_maglev_build(s->maglev, ELB_MAGLEV_DEFAULT_SIZE, mb, n_backends);

	vip = &s->snap->vips[0];
	vip->addr.v4 = __builtin_bswap32(0x0a640001);
	vip->port = __builtin_bswap16(80);
	vip->proto = ELB_IPPROTO_TCP;
	vip->family = ELB_AF_INET;
	vip->mtu = 1500;
	vip->maglev_size = ELB_MAGLEV_DEFAULT_SIZE;
	vip->maglev = s->maglev;
	elb_flow_timeouts_init(&vip->timeouts, 5000, 300000, 10000, 30000);
	if (pps_limit) {
		elb_rate_limit_init(&vip->rate_limit, pps_limit, 10, 0, 0);
		vip->rate_limited = 1;
	}
	s->snap->n_vips = 1;
	elb_vip_lookup_clear(s->snap);
	elb_vip_lookup_insert(s->snap, vip);

	/* Transparent huge pages where the kernel allows them, as DPDK would
	 * give the table hugepage memory: with 4 KiB pages every flow lookup
	 * also pays a TLB miss, which is not what a deployment sees. */
	mem_size = elb_flow_table_mem_size(flow_capacity);
	s->flow_mem_size = (mem_size + (2u << 20) - 1) & ~(size_t)((2u << 20) - 1);
	s->flow_mem = mmap(NULL, s->flow_mem_size, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (s->flow_mem == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	madvise(s->flow_mem, s->flow_mem_size, MADV_HUGEPAGE);
	memset(s->flow_mem, 0, mem_size);
	if (elb_flow_table_init(&s->worker.flows, s->flow_mem, mem_size, flow_capacity) != 0) {
		fprintf(stderr, "flow table init failed\n");
		exit(1);
	}
	memcpy(s->worker.port_mac, (uint8_t[]){0x02, 0, 0, 0, 0, 0x01}, 6);
	s->worker.vip_counters = calloc(ELB_MAX_VIPS, sizeof(*s->worker.vip_counters));
	s->worker.backend_counters =
		calloc(ELB_MAX_BACKEND_SLOTS, sizeof(*s->worker.backend_counters));
	s->worker.flow_budgets = calloc(ELB_MAX_VIPS, sizeof(*s->worker.flow_budgets));
	s->worker.source_column_bits = ELB_SOURCE_COLUMN_BITS_DEFAULT;
	s->worker.source_cells = calloc(1, ELB_SOURCE_SKETCH_BYTES(ELB_SOURCE_COLUMN_BITS_DEFAULT));
	free(mb);
}

static void teardown_pipeline(struct bench_setup *s)
{
	free(s->worker.vip_counters);
	free(s->worker.backend_counters);
	free(s->worker.flow_budgets);
	free(s->worker.source_cells);
	munmap(s->flow_mem, s->flow_mem_size);
	free(s->maglev);
	free(s->snap->backends);
	free(s->snap);
}

struct run_figures {
	double cycles_per_pkt;
	uint64_t verdicts[ELB_VERDICT_COUNT];
};

/*
 * Each packet: copy the pristine frame into a buffer with headroom (as a NIC
 * would have written it), then run it, a burst of ELB_PIPELINE_BURST_MAX at
 * a time through elb_pipeline_run_burst as a DPDK worker does. With
 * `pipeline` false only the copy and the parser run: the floor the
 * pipeline's figure is compared with.
 */
static struct run_figures run_frames_of(struct bench_setup *s, const uint8_t *frames,
					uint32_t frame_len, uint32_t n, uint32_t passes, bool pipeline,
					uint64_t *clock_ns)
{
	const uint32_t burst = ELB_PIPELINE_BURST_MAX, stride = HEADROOM + 128;
	/* On the heap: gcc's -Warray-bounds misreads the parser's checked reads
	 * when it can see a fixed-size array behind the frame pointer. */
	uint8_t *room = aligned_alloc(64, (size_t)stride * burst);
	struct elb_pipeline_result res[ELB_PIPELINE_BURST_MAX];
	uint8_t *bufs[ELB_PIPELINE_BURST_MAX];
	uint32_t lens[ELB_PIPELINE_BURST_MAX];
	struct run_figures fig = {0};
	uint64_t c0, sink = 0;

	for (uint32_t b = 0; b < burst; b++) {
		bufs[b] = room + (size_t)b * stride + HEADROOM;
		lens[b] = frame_len;
	}
	c0 = bench_cycles();
	for (uint32_t p = 0; p < passes; p++) {
		for (uint32_t i = 0; i < n; i += burst) {
			uint32_t k = n - i < burst ? n - i : burst;

			for (uint32_t b = 0; b < k; b++)
				memcpy(bufs[b], frames + (size_t)(i + b) * frame_len, frame_len);
			*clock_ns += 100ull * k; /* 10 Mpps of simulated time */
			if (pipeline) {
				elb_pipeline_run_burst(&s->worker, s->snap, bufs, lens, k, HEADROOM,
						       *clock_ns, res);
				for (uint32_t b = 0; b < k; b++)
					fig.verdicts[res[b].verdict]++;
			} else {
				for (uint32_t b = 0; b < k; b++) {
					struct elb_packet pkt;

					sink += (uint64_t)elb_parse(bufs[b], bufs[b] + frame_len, &pkt) +
						pkt.l3_len;
				}
			}
		}
	}
	fig.cycles_per_pkt = (double)(bench_cycles() - c0) / ((double)n * passes);
	if (sink == 42)
		printf(" ");
	free(room);
	return fig;
}

/* The benchmark's 60-byte TCP frames. */
static struct run_figures run_frames(struct bench_setup *s, const uint8_t *frames, uint32_t n,
				     uint32_t passes, bool pipeline, uint64_t *clock_ns)
{
	return run_frames_of(s, frames, FRAME_LEN, n, passes, pipeline, clock_ns);
}

static void print_row(const char *what, const struct run_figures *f, double floor_cycles,
		      const char *verdict)
{
	double ns = f->cycles_per_pkt / tsc_per_ns;

	printf("| %s | %.1f | %.1f | %.2f | %.2f | %s |\n", what, f->cycles_per_pkt, ns, 1e3 / ns,
	       f->cycles_per_pkt / floor_cycles, verdict);
}

static void bench_pipeline(void)
{
	struct bench_setup s;
	struct run_figures floor, hit, miss, limited, pass;
	uint8_t *established, *syns, *nonvip, *one_flow;
	uint64_t clock_ns = 1000000000ull;
	char what[128];

	printf("\n## Per-packet pipeline, one core (60-byte Ethernet/IPv4/TCP, VIP "
	       "10.100.0.1:80/tcp, 100 backends, M = 65537, IPIP)\n\n");
	printf("| case | cycles/pkt | ns/pkt | Mpps | x floor | verdicts |\n");
	printf("|---|---|---|---|---|---|\n");

	setup_pipeline(&s, 100, 4u << 20, 0);
	established = bench_make_frames(PIPELINE_FLOWS, 0x0a640001, ELB_TCP_ACK, false);
	nonvip = bench_make_frames(PIPELINE_FLOWS, 0x0a640063, ELB_TCP_ACK, false);

	floor = run_frames(&s, established, PIPELINE_FLOWS, PASSES, false, &clock_ns);
	print_row("floor: copy frame in + parse", &floor, floor.cycles_per_pkt, "-");

	/* Warm the table: every flow has an entry before the timed passes. */
	run_frames(&s, established, PIPELINE_FLOWS, 1, true, &clock_ns);
	hit = run_frames(&s, established, PIPELINE_FLOWS, PASSES, true, &clock_ns);
	snprintf(what, sizeof(what), "established flows (hit), %u flows", PIPELINE_FLOWS);
	print_row(what, &hit, floor.cycles_per_pkt,
		  hit.verdicts[ELB_VERDICT_FORWARD] == (uint64_t)PIPELINE_FLOWS * PASSES ? "all forwarded"
											  : "NOT ALL FORWARDED");

	{
		/* Cache-resident: the first 1024 flows only, entries in L1/L2, as
		 * in Katran's established-flow baseline (one repeated flow). */
		struct run_figures hot = run_frames(&s, established, 1024, 2048, true, &clock_ns);

		print_row("established flows (hit), 1024 flows (cache-resident)", &hot,
			  floor.cycles_per_pkt,
			  hot.verdicts[ELB_VERDICT_FORWARD] == 1024u * 2048 ? "all forwarded"
									    : "NOT ALL FORWARDED");
	}
	pass = run_frames(&s, nonvip, PIPELINE_FLOWS, PASSES, true, &clock_ns);
	print_row("not for a VIP (to the kernel)", &pass, floor.cycles_per_pkt,
		  pass.verdicts[ELB_VERDICT_KERNEL] == (uint64_t)PIPELINE_FLOWS * PASSES ? "all to kernel"
											 : "WRONG");
	teardown_pipeline(&s);

	/* New flows: 1M distinct SYNs into an empty 4M-entry table. */
	setup_pipeline(&s, 100, 4u << 20, 0);
	syns = bench_make_frames(NEW_FLOWS, 0x0a640001, ELB_TCP_SYN, false);
	miss = run_frames(&s, syns, NEW_FLOWS, 1, true, &clock_ns);
	snprintf(what, sizeof(what), "new flows (miss + Maglev + insert), %u into empty 4M table",
		 NEW_FLOWS);
	print_row(what, &miss, floor.cycles_per_pkt,
		  miss.verdicts[ELB_VERDICT_FORWARD] == NEW_FLOWS ? "all forwarded" : "NOT ALL FORWARDED");
	teardown_pipeline(&s);

	/* One flow far over its limit (1000 pps, burst 10): almost every packet dropped. */
	setup_pipeline(&s, 100, 1u << 16, 1000);
	one_flow = malloc((size_t)ELB_PIPELINE_BURST_MAX * FRAME_LEN);
	for (uint32_t i = 0; i < ELB_PIPELINE_BURST_MAX; i++)
		bench_frame_ipv4_tcp(one_flow + (size_t)i * FRAME_LEN, 0xc6120001u, 10000, 0x0a640001,
			       ELB_TCP_ACK);
	limited = run_frames(&s, one_flow, ELB_PIPELINE_BURST_MAX, (1u << 20) / ELB_PIPELINE_BURST_MAX,
			     true, &clock_ns);
	snprintf(what, sizeof(what), "one flow over its rate limit (%llu of %u dropped)",
		 (unsigned long long)limited.verdicts[ELB_VERDICT_DROP], 1u << 20);
	print_row(what, &limited, floor.cycles_per_pkt, "drop: rate_limited");
	teardown_pipeline(&s);

	free(established);
	free(nonvip);
	free(syns);
	free(one_flow);
}

/* ---- second chance ------------------------------------------------------------------------ */

/* A GUE VIP with second_chance as given; every Maglev slot's previous owner
 * is another backend (the next slot index), so a mid-stream packet always
 * carries an alternate. The caller frees the returned array. */
static uint32_t *setup_second_chance(struct bench_setup *s, bool second_chance)
{
	struct elb_vip *vip = &s->snap->vips[0];
	uint32_t *previous = malloc(sizeof(*previous) * vip->maglev_size);

	for (uint32_t i = 0; i < vip->maglev_size; i++)
		previous[i] = (s->maglev[i] + 1) % s->snap->n_backend_slots;
	vip->gue = 1;
	vip->gue_dport = __builtin_bswap16(6080);
	vip->second_chance = second_chance;
	vip->maglev_previous = previous;
	return previous;
}

enum sc_case { SC_OFF, SC_SURE, SC_MIDSTREAM, SC_SYN_MISS, SC_ACK_MISS, SC_CASES };

/* One case in a fresh setup: the entries are learned (from SYNs or from
 * ACKs) before the timed passes over ACKs, or the timed pass is the
 * learning itself (the two miss cases). */
static struct run_figures sc_run(enum sc_case c, const uint8_t *acks, const uint8_t *syns,
				 uint64_t *clock_ns, struct run_figures *hot)
{
	struct bench_setup s;
	struct run_figures f;
	uint32_t *previous;

	setup_pipeline(&s, 100, 4u << 20, 0);
	previous = setup_second_chance(&s, c != SC_OFF);
	switch (c) {
	case SC_SYN_MISS:
		f = run_frames(&s, syns, PIPELINE_FLOWS, 1, true, clock_ns);
		break;
	case SC_ACK_MISS:
		f = run_frames(&s, acks, PIPELINE_FLOWS, 1, true, clock_ns);
		break;
	default:
		run_frames(&s, c == SC_MIDSTREAM ? acks : syns, PIPELINE_FLOWS, 1, true, clock_ns);
		f = run_frames(&s, acks, PIPELINE_FLOWS, PASSES, true, clock_ns);
		/* Cache-resident: the first 1024 flows, what the pipeline itself costs. */
		*hot = run_frames(&s, acks, 1024, 2048, true, clock_ns);
		break;
	}
	free(previous);
	teardown_pipeline(&s);
	return f;
}

static void bench_second_chance(void)
{
	static const char *const names[SC_CASES] = {
		[SC_OFF] = "established (hit), second_chance off",
		[SC_SURE] = "established (hit), second_chance on, learned from SYNs (no alternate)",
		[SC_MIDSTREAM] = "established (hit), second_chance on, learned mid-stream (alternate)",
		[SC_SYN_MISS] = "first packet: SYN miss (Maglev + insert), second_chance on",
		[SC_ACK_MISS] = "first packet: mid-stream ACK miss (+ alternate), second_chance on",
	};
	uint8_t *acks = bench_make_frames(PIPELINE_FLOWS, 0x0a640001, ELB_TCP_ACK, false);
	uint8_t *syns = bench_make_frames(PIPELINE_FLOWS, 0x0a640001, ELB_TCP_SYN, false);
	struct run_figures best[SC_CASES], best_hot[SC_MIDSTREAM + 1];
	uint64_t clock_ns = 1000000000ull;
	struct bench_setup s;
	struct run_figures floor;

	printf("\n## Second chance, one core (60-byte Ethernet/IPv4/TCP, GUE, 100 backends, "
	       "M = 65537, %u flows; min of 3 alternated runs)\n\n", PIPELINE_FLOWS);
	printf("| case | cycles/pkt | ns/pkt | Mpps | x off | verdicts |\n");
	printf("|---|---|---|---|---|---|\n");
	setup_pipeline(&s, 100, 1u << 16, 0);
	floor = run_frames(&s, acks, PIPELINE_FLOWS, PASSES, false, &clock_ns);
	teardown_pipeline(&s);
	memset(best, 0, sizeof(best));
	memset(best_hot, 0, sizeof(best_hot));
	for (int round = 0; round < 3; round++)
		for (int c = 0; c < SC_CASES; c++) {
			struct run_figures hot = {0};
			struct run_figures f = sc_run((enum sc_case)c, acks, syns, &clock_ns, &hot);

			if (best[c].cycles_per_pkt == 0 || f.cycles_per_pkt < best[c].cycles_per_pkt)
				best[c] = f;
			if (c <= SC_MIDSTREAM && (best_hot[c].cycles_per_pkt == 0 ||
						  hot.cycles_per_pkt < best_hot[c].cycles_per_pkt))
				best_hot[c] = hot;
		}
	print_row("floor: copy frame in + parse", &floor, best[SC_OFF].cycles_per_pkt, "-");
	for (int c = 0; c < SC_CASES; c++) {
		uint64_t want = (uint64_t)PIPELINE_FLOWS * (c >= SC_SYN_MISS ? 1 : PASSES);

		print_row(names[c], &best[c], best[SC_OFF].cycles_per_pkt,
			  best[c].verdicts[ELB_VERDICT_FORWARD] == want ? "all forwarded"
								 : "NOT ALL FORWARDED");
	}
	for (int c = 0; c <= SC_MIDSTREAM; c++) {
		char what[128];

		snprintf(what, sizeof(what), "%s, 1024 flows (cache-resident)", names[c]);
		print_row(what, &best_hot[c], best_hot[SC_OFF].cycles_per_pkt,
			  best_hot[c].verdicts[ELB_VERDICT_FORWARD] == 1024u * 2048 ? "all forwarded"
										  : "NOT ALL FORWARDED");
	}
	free(acks);
	free(syns);
}

/* ---- isolation under floods ------------------------------------------------------------- */

/* Frames a and b interleaved one for one (n of each): malloc'ed. */
static uint8_t *interleave(const uint8_t *a, const uint8_t *b, uint32_t n)
{
	uint8_t *f = malloc((size_t)n * 2 * FRAME_LEN);

	for (uint32_t i = 0; f && i < n; i++) {
		memcpy(f + (size_t)2 * i * FRAME_LEN, a + (size_t)i * FRAME_LEN, FRAME_LEN);
		memcpy(f + (size_t)(2 * i + 1) * FRAME_LEN, b + (size_t)i * FRAME_LEN, FRAME_LEN);
	}
	return f;
}

/* SYNs from n fresh sources (203.0.113.0/24 numbering space is too small:
 * 198.19.x.y, every port), none of which repeats. */
static uint8_t *make_flood_syns(uint32_t n, uint32_t first)
{
	uint8_t *f = malloc((size_t)n * FRAME_LEN);

	for (uint32_t i = 0; f && i < n; i++) {
		uint32_t k = first + i;

		bench_frame_ipv4_tcp(f + (size_t)i * FRAME_LEN, 0xc6130000u + (k >> 16),
				     (uint16_t)(k & 0xffff), 0x0a640001, ELB_TCP_SYN);
	}
	return f;
}

/* SYNs each from a source of its own (spoofed), spread over the /24s. */
static uint8_t *make_spoofed_syns(uint32_t n, uint32_t first)
{
	uint8_t *f = malloc((size_t)n * FRAME_LEN);

	for (uint32_t i = 0; f && i < n; i++) {
		uint32_t k = first + i;

		bench_frame_ipv4_tcp(f + (size_t)i * FRAME_LEN, 0x20000000u + k * 257u,
				     (uint16_t)(1024 + (k & 0x7fff)), 0x0a640001, ELB_TCP_SYN);
	}
	return f;
}

/* VIP 0's admission control in the adversarial rows: packets/s per /32
 * far above what an established source sends here, 100 new flows/s per
 * /24 and a budget of 10,000 new flows/s (the simulated clock runs at 10
 * Mpps: a SYN flood is far above it). */
static void set_admission(struct bench_setup *s)
{
	struct elb_vip *vip = &s->snap->vips[0];

	if (elb_source_limit_init(&vip->source_limits[0], ELB_AF_INET, 32, 10000000, 100000, 0,
				  0) != 0 ||
	    elb_source_limit_init(&vip->source_limits[1], ELB_AF_INET, 24, 0, 0, 100, 50) != 0 ||
	    elb_flow_budget_init(&vip->flow_budget, 10000, 1000) != 0) {
		fprintf(stderr, "admission limits refused\n");
		exit(1);
	}
	vip->n_source_limits = 2;
}

static void print_isolation(const char *what, double alone, double flood, double mixed,
			    const char *note)
{
	double expected = (alone + flood) / 2;

	printf("| %s | %.1f | %.1f | %.1f | %.2f | %.2f | %s |\n", what, alone, flood, mixed,
	       mixed / expected, (1e3 / (2 * mixed / tsc_per_ns)) / (1e3 / (alone / tsc_per_ns)), note);
}

#define ISOLATION_REPEATS 3 /* each figure: the least of 3, alternating, against noise */

static void keep_min(struct run_figures *best, const struct run_figures *f)
{
	if (best->cycles_per_pkt == 0 || f->cycles_per_pkt < best->cycles_per_pkt)
		*best = *f;
}

/*
 * ISOLATION_REPEATS rounds of: the established stream alone, a flood of
 * flood_n SYNs made by `make` alone, and the established stream
 * interleaved 1:1 with n more; each figure the least of the rounds, the
 * mixed streams' verdicts added up.
 */
static void syn_flood_rounds(struct bench_setup *s, const uint8_t *est_stream, uint32_t n,
			     uint32_t flood_n, uint8_t *(*make)(uint32_t, uint32_t),
			     uint64_t *syn_next, uint64_t *clock_ns, struct run_figures *alone,
			     struct run_figures *flood, struct run_figures *mixed,
			     uint64_t *forwarded, uint64_t *total)
{
	for (int r = 0; r < ISOLATION_REPEATS; r++) {
		struct run_figures f = run_frames(s, est_stream, n, 1, true, clock_ns);
		uint8_t *syns, *mix;

		keep_min(alone, &f);
		syns = make(flood_n, (uint32_t)*syn_next);
		*syn_next += flood_n;
		f = run_frames(s, syns, flood_n, 1, true, clock_ns);
		keep_min(flood, &f);
		free(syns);
		syns = make(n, (uint32_t)*syn_next);
		*syn_next += n;
		mix = interleave(est_stream, syns, n);
		f = run_frames(s, mix, 2 * n, 1, true, clock_ns);
		keep_min(mixed, &f);
		*forwarded += f.verdicts[ELB_VERDICT_FORWARD];
		*total += 2 * n;
		free(syns);
		free(mix);
	}
}

/* ---- prefix lists ------------------------------------------------------------------------ */

static int bench_rule_cmp(const void *a, const void *b)
{
	const struct elb_prefix_rule *x = a, *y = b;
	uint32_t ax = __builtin_bswap32(x->addr.v4), ay = __builtin_bswap32(y->addr.v4);

	if (ax != ay)
		return ax < ay ? -1 : 1;
	return (int)x->len - (int)y->len;
}

/*
 * A node list of n random IPv4 prefixes (/12 to /32, a quarter inside an
 * earlier one), deny, but allow where a rule decides for one of the
 * sources[0..n_sources) (host order): every bench packet is allowed after
 * a full lookup. The caller frees *rules and puts the table.
 */
static struct elb_prefix_table *bench_prefix_list(uint32_t n, const uint32_t *sources,
						  uint32_t n_sources,
						  struct elb_prefix_rule **rules_out)
{
	struct elb_prefix_rule *r = calloc(n, sizeof(*r));
	struct elb_prefix_table *t = NULL;
	uint64_t rng = 0x9e3779b97f4a7c15ull ^ n;
	uint32_t k = 0;

	for (uint32_t i = 0; r && i < n; i++) {
		uint32_t len, addr;

		rng = rng * 6364136223846793005ull + 1442695040888963407ull;
		len = 12 + (uint32_t)(rng >> 59) % 21;
		addr = (uint32_t)(rng >> 16);
		if (i > 0 && (rng & 3) == 0) { /* inside an earlier rule */
			const struct elb_prefix_rule *p = &r[(rng >> 8) % i];

			addr = __builtin_bswap32(p->addr.v4) | (addr & (0xffffffffu >> p->len));
			len = p->len < 32 ? p->len + 1 + (uint32_t)(rng >> 40) % (32 - p->len) : 32;
		}
		r[i].family = ELB_AF_INET;
		r[i].len = (uint8_t)len;
		r[i].addr.v4 = elb_prefix_mask_word(__builtin_bswap32(addr), 0, len);
		r[i].action = ELB_PREFIX_DENY;
	}
	if (r == NULL)
		return NULL;
	qsort(r, n, sizeof(*r), bench_rule_cmp);
	for (uint32_t i = 0; i < n; i++)
		if (k == 0 || bench_rule_cmp(&r[k - 1], &r[i]) != 0)
			r[k++] = r[i];
	if (elb_prefix_table_build(r, k, &t) != 0)
		goto fail;
	for (uint32_t i = 0; i < n_sources; i++) {
		union elb_addr a = {.v4 = __builtin_bswap32(sources[i])};
		uint32_t v = elb_prefix_table_lookup(t, ELB_AF_INET, &a);

		if (ELB_PREFIX_VALUE_ACTION(v) == ELB_PREFIX_DENY)
			r[ELB_PREFIX_VALUE_RULE(v)].action = ELB_PREFIX_ALLOW;
	}
	/* The table keeps values, not rules: built again with the allows. */
	elb_prefix_table_put(t);
	t = NULL;
	if (elb_prefix_table_build(r, k, &t) != 0)
		goto fail;
	*rules_out = r;
	return t;
fail:
	free(r);
	return NULL;
}

#define PREFIX_ROUNDS 11 /* the machine is shared: more, shorter rounds than above */

/* Rows: established flows of 8192 sources with no list, and with a node
 * list of 1k and 100k rules, alternated, each the least of the rounds. */
static void bench_prefix_lists(uint64_t *clock_ns)
{
	static const uint32_t sizes[] = {0, 1000, 100000};
	const uint32_t n_flows = 8192, n = 1u << 16, n_rows = 3;
	struct elb_prefix_table *tables[3] = {NULL, NULL, NULL};
	struct elb_prefix_rule *rules[3] = {NULL, NULL, NULL};
	struct run_figures best[3] = {{0}};
	uint32_t *sources = malloc(sizeof(*sources) * n_flows);
	uint8_t *flows = malloc((size_t)n_flows * FRAME_LEN), *stream;
	struct bench_setup s;

	stream = malloc((size_t)n * FRAME_LEN);
	if (sources == NULL || flows == NULL || stream == NULL) {
		fprintf(stderr, "out of memory\n");
		exit(1);
	}
	/* Sources spread over the address space (an odd step: all distinct). */
	for (uint32_t i = 0; i < n_flows; i++) {
		sources[i] = 0x0b000000u + i * 0x0001b3c5u;
		bench_frame_ipv4_tcp(flows + (size_t)i * FRAME_LEN, sources[i], 20000, 0x0a640001,
				     ELB_TCP_ACK);
	}
	for (uint32_t i = 0; i < n; i++)
		memcpy(stream + (size_t)i * FRAME_LEN, flows + (size_t)(i % n_flows) * FRAME_LEN,
		       FRAME_LEN);
	for (uint32_t r = 1; r < n_rows; r++) {
		uint64_t c0 = bench_cycles();

		tables[r] = bench_prefix_list(sizes[r], sources, n_flows, &rules[r]);
		if (tables[r] == NULL) {
			fprintf(stderr, "prefix list not built\n");
			exit(1);
		}
		printf("%s%u rules: built in %.1f ms (twice: then with the allows), %.1f bytes per "
		       "rule", r == 1 ? "\nNode lists: " : "; ", tables[r]->n_rules,
		       (double)(bench_cycles() - c0) / tsc_per_ns / 1e6,
		       (double)tables[r]->bytes / tables[r]->n_rules);
	}
	printf("\n\n| established flows (8192 sources) | cycles/pkt | ratio to no list | "
	       "verdicts |\n|---|---|---|---|\n");
	setup_pipeline(&s, 100, 1u << 16, 0);
	run_frames(&s, flows, n_flows, 2, true, clock_ns);
	for (int round = 0; round < PREFIX_ROUNDS; round++)
		for (uint32_t r = 0; r < n_rows; r++) {
			struct elb_vip *vip = &s.snap->vips[0];
			struct run_figures f;

			s.snap->node_prefixes = tables[r];
			vip->prefixes[ELB_PREFIX_SCOPE_NODE] = tables[r];
			vip->has_prefixes = tables[r] != NULL;
			f = run_frames(&s, stream, n, 1, true, clock_ns);
			keep_min(&best[r], &f);
		}
	for (uint32_t r = 0; r < n_rows; r++) {
		char what[64];

		snprintf(what, sizeof(what), r ? "node list of %u rules" : "no prefix list",
			 r ? tables[r]->n_rules : 0);
		printf("| %s | %.1f | %.2f | %s |\n", what, best[r].cycles_per_pkt,
		       best[r].cycles_per_pkt / best[0].cycles_per_pkt,
		       best[r].verdicts[ELB_VERDICT_FORWARD] == n ? "all forwarded" : "NOT all forwarded");
	}
	s.snap->node_prefixes = NULL;
	teardown_pipeline(&s);
	for (uint32_t r = 0; r < n_rows; r++) {
		elb_prefix_table_put(tables[r]);
		free(rules[r]);
	}
	free(sources);
	free(flows);
	free(stream);
}

static void bench_adversarial(void)
{
	const uint32_t capacity = 1u << 16, established_n = capacity / 8, n = 1u << 18;
	const uint32_t flood_n = 8 * capacity;
	struct run_figures alone = {0}, flood = {0}, mixed = {0}, f;
	struct bench_setup s;
	uint64_t clock_ns = 1000000000ull, syn_next = 0, forwarded = 0, total = 0;
	uint8_t *est, *est_stream, *mix, *one_flow, *over;
	char note[200];

	printf("\n## Isolation under floods (one core; established flows and a flood, alone "
	       "and interleaved 1:1; least of %d runs each)\n\n", ISOLATION_REPEATS);
	printf("| case | others alone cycles/pkt | flood alone cycles/pkt | mixed cycles/pkt | "
	       "interference (mixed / mean of alone; 1.00 = none) | others' Mpps with flood / "
	       "alone (0.5 = the flood's share of the core only) | verdicts |\n");
	printf("|---|---|---|---|---|---|---|\n");

	/* SYN flood: 8192 established flows (1/8 of a 65536 table); every
	 * flood run brings 8x the capacity of SYNs from sources never seen. */
	est = bench_make_frames(established_n, 0x0a640001, ELB_TCP_ACK, false);
	est_stream = malloc((size_t)n * FRAME_LEN);
	for (uint32_t i = 0; i < n; i++)
		memcpy(est_stream + (size_t)i * FRAME_LEN,
		       est + (size_t)(i % established_n) * FRAME_LEN, FRAME_LEN);
	setup_pipeline(&s, 100, capacity, 0);
	run_frames(&s, est, established_n, 2, true, &clock_ns); /* established */
	syn_flood_rounds(&s, est_stream, n, flood_n, make_flood_syns, &syn_next, &clock_ns, &alone,
			 &flood, &mixed, &forwarded, &total);
	snprintf(note, sizeof(note),
		 "%llu of %llu mixed packets forwarded; table evictions: %llu SYN, %llu established",
		 (unsigned long long)forwarded, (unsigned long long)total,
		 (unsigned long long)s.worker.flows.stats.evictions[ELB_FLOW_TCP_SYN],
		 (unsigned long long)s.worker.flows.stats.evictions[ELB_FLOW_TCP_ESTABLISHED]);
	print_isolation("SYN flood at 8x a 65536-flow table, 8192 established flows",
			alone.cycles_per_pkt, flood.cycles_per_pkt, mixed.cycles_per_pkt, note);
	teardown_pipeline(&s);

	/* Admission control: the same established flows with every limit of
	 * VIP 0 configured (none of them over one) against none, alternated;
	 * then a SYN flood from 2^20 spoofed sources (each a source of its
	 * own), which puts the VIP in flood mode. */
	{
		struct run_figures bare = {0}, limited = {0};
		const uint32_t spoofed_n = 1u << 20;
		uint64_t inserts_before;

		setup_pipeline(&s, 100, capacity, 0);
		run_frames(&s, est, established_n, 2, true, &clock_ns);
		for (int r = 0; r < ISOLATION_REPEATS; r++) {
			s.snap->vips[0].n_source_limits = 0;
			s.snap->vips[0].flow_budget.interval = 0;
			f = run_frames(&s, est_stream, n, 1, true, &clock_ns);
			keep_min(&bare, &f);
			set_admission(&s);
			f = run_frames(&s, est_stream, n, 1, true, &clock_ns);
			keep_min(&limited, &f);
		}
		printf("| established flows, every admission limit configured (none reached) | "
		       "%.1f | - | - | %.2f (x the same flows with no limit: %.1f) | - | all "
		       "forwarded: %s |\n",
		       limited.cycles_per_pkt, limited.cycles_per_pkt / bare.cycles_per_pkt,
		       bare.cycles_per_pkt,
		       limited.verdicts[ELB_VERDICT_FORWARD] == n ? "yes" : "NO");

		alone = flood = mixed = (struct run_figures){0};
		forwarded = total = 0;
		inserts_before = s.worker.flows.stats.inserts;
		syn_flood_rounds(&s, est_stream, n, spoofed_n, make_spoofed_syns, &syn_next,
				 &clock_ns, &alone, &flood, &mixed, &forwarded, &total);
		snprintf(note, sizeof(note),
			 "%llu of %llu mixed packets forwarded; flood mode entered %llu times, "
			 "%llu SYNs forwarded without an entry; entries made during the floods: %llu",
			 (unsigned long long)forwarded, (unsigned long long)total,
			 (unsigned long long)s.worker.flow_budgets[0].flood_entries,
			 (unsigned long long)s.worker.flow_budgets[0].flood_flows,
			 (unsigned long long)(s.worker.flows.stats.inserts - inserts_before));
		print_isolation("SYN flood from 2^20 spoofed sources, admission on (flood mode), "
				"8192 established flows",
				alone.cycles_per_pkt, flood.cycles_per_pkt, mixed.cycles_per_pkt,
				note);
		teardown_pipeline(&s);
	}

	/* Rate-limit flood: the same established flows under a 1000 pps limit
	 * (each far below it), and one flow sending at the simulated line rate. */
	alone = flood = mixed = (struct run_figures){0};
	setup_pipeline(&s, 100, capacity, 1000);
	run_frames(&s, est, established_n, 1, true, &clock_ns);
	one_flow = malloc(FRAME_LEN);
	bench_frame_ipv4_tcp(one_flow, 0xc6130000u, 9999, 0x0a640001, ELB_TCP_ACK);
	over = malloc((size_t)n * FRAME_LEN);
	for (uint32_t i = 0; i < n; i++)
		memcpy(over + (size_t)i * FRAME_LEN, one_flow, FRAME_LEN);
	mix = interleave(est_stream, over, n);
	for (int r = 0; r < ISOLATION_REPEATS; r++) {
		f = run_frames(&s, est_stream, n, 1, true, &clock_ns);
		keep_min(&alone, &f);
		f = run_frames(&s, over, n, 1, true, &clock_ns);
		keep_min(&flood, &f);
		f = run_frames(&s, mix, 2 * n, 1, true, &clock_ns);
		keep_min(&mixed, &f);
	}
	snprintf(note, sizeof(note), "mixed: %llu forwarded (the %u others' packets: all), %llu dropped",
		 (unsigned long long)mixed.verdicts[ELB_VERDICT_FORWARD], n,
		 (unsigned long long)mixed.verdicts[ELB_VERDICT_DROP]);
	print_isolation("one flow far over its rate limit (1000 pps) beside 8192 flows",
			alone.cycles_per_pkt, flood.cycles_per_pkt, mixed.cycles_per_pkt, note);
	teardown_pipeline(&s);
	free(one_flow);
	free(over);
	free(mix);
	free(est);
	free(est_stream);
	bench_prefix_lists(&clock_ns);
}

/* ---- counting live flows per backend ---------------------------------------------------- */

#define FC_BACKENDS 100
#define FC_WALKS 5                  /* each walk figure: the median of 5 */
#define FC_OWNER_KEYS (1u << 20)    /* distinct flows the owner looks up, at random */
#define FC_OWNER_BATCH 16           /* the owner's lookups per prefetch round, as a burst */
#define FC_ROUNDS 3                 /* owner alone, then with walks: 3 rounds */
#define FC_WINDOW_NS 250000000ull   /* each half of a round: 250 ms */
#define FC_FULL_MAX_INSERTS 2       /* "full": insert until 99% of ways are in use, at most
				     * 2 x capacity flows (the rest of the buckets evict) */
#define FC_BUDGET_NS 150000000000ull /* skip what would start after 150 s */

static struct elb_flow_key fc_key(uint32_t i)
{
	struct elb_flow_key k;

	memset(&k, 0, sizeof(k));
	k.family = ELB_AF_INET;
	k.proto = ELB_IPPROTO_TCP;
	k.src.v4 = __builtin_bswap32(0x40000000u | (i >> 16)); /* unique up to 2^30 flows */
	k.sport = __builtin_bswap16((uint16_t)i);
	k.dst.v4 = __builtin_bswap32(0x0a640001);
	k.dport = __builtin_bswap16(80);
	return k;
}

/* Insert flows *next, *next + 1, ... as established flows of backend slot
 * i % 100, until `target` ways are in use or `max_next` flows were made. */
static void fc_fill(struct bench_setup *s, uint32_t *next, uint64_t target, uint32_t max_next,
		    uint32_t now_tick, uint32_t timeout)
{
	struct elb_flow_table *t = &s->worker.flows;

	while (t->stats.occupancy < target && *next < max_next) {
		struct elb_flow_key k = fc_key(*next);
		uint64_t h = elb_flow_hash(&k, &s->snap->seed);
		enum elb_flow_state evicted;
		struct elb_flow_entry *e;

		e = elb_flow_lookup(t, &k, FLOW_VIP_INDEX, h, now_tick);
		if (e == NULL)
			e = elb_flow_insert(t, &k, FLOW_VIP_INDEX, h, now_tick, ELB_FLOW_TCP_ESTABLISHED, timeout,
					    &evicted);
		e->backend_id = *next % FC_BACKENDS;
		e->backend_gen = s->snap->backends[e->backend_id].gen;
		(*next)++;
	}
}

struct fc_owner {
	struct elb_flow_table *t;
	const struct elb_flow_key *keys;
	const uint64_t *hashes;
	uint32_t now_tick, timeout;
	_Atomic uint64_t done; /* lookups so far, published every batch */
	atomic_bool stop;
	int cpu;
};

/* The table's owner: batches of lookups of random live flows, each batch
 * prefetched in two stages as elb_pipeline_run_burst does, and a refresh of
 * every flow found (a worker refreshes an established flow per packet). */
static void *fc_owner_run(void *arg)
{
	struct fc_owner *o = arg;
	uint64_t n = 0, found = 0;
	cpu_set_t cpus;

	CPU_ZERO(&cpus);
	CPU_SET(o->cpu, &cpus);
	pthread_setaffinity_np(pthread_self(), sizeof(cpus), &cpus);
	while (!atomic_load_explicit(&o->stop, memory_order_relaxed)) {
		uint32_t first = (uint32_t)(n % FC_OWNER_KEYS);

		for (uint32_t b = 0; b < FC_OWNER_BATCH; b++)
			elb_flow_prefetch(o->t, o->hashes[first + b]);
		for (uint32_t b = 0; b < FC_OWNER_BATCH; b++)
			elb_flow_prefetch_entries(o->t, o->hashes[first + b]);
		for (uint32_t b = 0; b < FC_OWNER_BATCH; b++) {
			struct elb_flow_entry *e =
				elb_flow_lookup(o->t, &o->keys[first + b], FLOW_VIP_INDEX, o->hashes[first + b],
						o->now_tick);

			if (e) {
				elb_flow_refresh(o->t, e, ELB_FLOW_TCP_ESTABLISHED, o->timeout,
						 o->now_tick);
				found++;
			}
		}
		n += FC_OWNER_BATCH;
		atomic_store_explicit(&o->done, n, memory_order_relaxed);
	}
	return (void *)(uintptr_t)found;
}

/* Lookups per second of the owner over about window_ns. */
static double fc_owner_rate(struct fc_owner *o, uint64_t window_ns)
{
	uint64_t t0 = bench_now_ns(), c0 = atomic_load(&o->done), t1;

	do {
		usleep(10000);
		t1 = bench_now_ns();
	} while (t1 - t0 < window_ns);
	return (double)(atomic_load(&o->done) - c0) * 1e9 / (double)(t1 - t0);
}

#define FC_MAX_WALKS 256

struct fc_walks {
	double ms[FC_MAX_WALKS];
	uint32_t n;
	uint64_t total; /* flows counted by the last walk */
};

/* Walk at least min_walks times and for at least min_ns; ms of each walk
 * appended to w. Returns the wall time spent. */
static uint64_t fc_walk(const struct bench_setup *s, uint32_t now_tick, uint64_t *per_slot,
			uint32_t min_walks, uint64_t min_ns, struct fc_walks *w)
{
	uint64_t start = bench_now_ns(), t1 = start;

	for (uint32_t r = 0; (r < min_walks || t1 - start < min_ns) && w->n < FC_MAX_WALKS; r++) {
		uint64_t t0;

		memset(per_slot, 0, sizeof(*per_slot) * FC_BACKENDS);
		t0 = bench_now_ns();
		w->total = elb_flow_count_backends(&s->worker.flows, now_tick, true, s->snap,
						   per_slot);
		t1 = bench_now_ns();
		w->ms[w->n++] = (double)(t1 - t0) / 1e6;
	}
	return t1 - start;
}

static double median(double *v, uint32_t n)
{
	qsort(v, n, sizeof(v[0]), cmp_double);
	return v[n / 2];
}

static void bench_flow_count(void)
{
	static const unsigned int log2_caps[] = {20, 22, 24, 25};
	static const struct {
		const char *name;
		uint32_t num, den;
	} fills[] = {{"1/8", 1, 8}, {"1/2", 1, 2}, {"full", 99, 100}};
	const uint64_t bench_start = bench_now_ns();
	const uint32_t now_tick = elb_flow_tick(1000000000ull);
	const uint32_t timeout = elb_flow_ms_to_ticks(3600000); /* nothing expires during the run */
	uint64_t *per_slot = calloc(FC_BACKENDS, sizeof(*per_slot));
	struct elb_flow_key *keys = malloc(sizeof(*keys) * (FC_OWNER_KEYS + FC_OWNER_BATCH));
	uint64_t *hashes = malloc(sizeof(*hashes) * (FC_OWNER_KEYS + FC_OWNER_BATCH));
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	static struct fc_walks alone, busy; /* the walks' times */
	cpu_set_t cpus;

	CPU_ZERO(&cpus);
	CPU_SET(0, &cpus);
	if (sched_setaffinity(0, sizeof(cpus), &cpus))
		perror("sched_setaffinity");
	printf("\n## Counting live flows per backend (elb_flow_count_backends, one table, %d "
	       "backends; walk on CPU 0, owner on CPU 1)\n\n", FC_BACKENDS);
	printf("Bytes read: one %zu-byte bucket header per %d slots and one %zu-byte entry per "
	       "way in use. Walk: median of %d walks, table otherwise idle. \"Owner running\": "
	       "the table's owner runs batches of %d prefetched lookups + refreshes of random live "
	       "flows on CPU 1, in %d rounds of %llu ms alone then %llu ms (at least one walk) "
	       "with walks back to back; walk ms: median of those walks; rates and ratio: median "
	       "round.\n\n",
	       sizeof(struct elb_flow_bucket), ELB_FLOW_WAYS, sizeof(struct elb_flow_entry), FC_WALKS,
	       FC_OWNER_BATCH, FC_ROUNDS, FC_WINDOW_NS / 1000000, FC_WINDOW_NS / 1000000);
	printf("| capacity | fill | flows counted | table MiB | walk ms | ns/slot | GB/s | "
	       "walk ms, owner running | owner Mlookups/s alone | with walks | ratio |\n");
	printf("|---|---|---|---|---|---|---|---|---|---|---|\n");
	fflush(stdout);
	for (size_t c = 0; c < sizeof(log2_caps) / sizeof(log2_caps[0]); c++) {
		const uint32_t capacity = 1u << log2_caps[c];
		uint32_t next = 0;
		struct bench_setup s;

		if (bench_now_ns() - bench_start > FC_BUDGET_NS / 2) {
			printf("| 2^%u | - | skipped: over the time budget | | | | | | | | |\n",
			       log2_caps[c]);
			continue;
		}
		setup_pipeline(&s, FC_BACKENDS, capacity, 0);
		for (size_t f = 0; f < sizeof(fills) / sizeof(fills[0]); f++) {
			struct elb_flow_table *t = &s.worker.flows;
			uint64_t target = (uint64_t)capacity * fills[f].num / fills[f].den;
			uint64_t bytes, sum = 0;
			struct fc_owner o = {.t = t, .keys = keys, .hashes = hashes,
					     .now_tick = now_tick, .timeout = timeout, .cpu = 1};
			double rate_alone[FC_ROUNDS], rate_busy[FC_ROUNDS], ratio[FC_ROUNDS], walk_ms;
			pthread_t th;
			uint32_t x = 12345;

			fc_fill(&s, &next, target, capacity * FC_FULL_MAX_INSERTS, now_tick, timeout);
			alone.n = busy.n = 0;
			fc_walk(&s, now_tick, per_slot, FC_WALKS, 0, &alone);
			for (uint32_t b = 0; b < FC_BACKENDS; b++)
				sum += per_slot[b];
			bytes = (uint64_t)(t->bucket_mask + 1) * sizeof(struct elb_flow_bucket) +
				t->stats.occupancy * sizeof(struct elb_flow_entry);

			/* The owner looks up flows among those inserted last (a
			 * full bucket evicted some of the first ones). */
			for (uint32_t k = 0; k < FC_OWNER_KEYS + FC_OWNER_BATCH; k++) {
				uint32_t span = next < (uint32_t)alone.total ? next : (uint32_t)alone.total;

				x = x * 1664525u + 1013904223u;
				keys[k] = fc_key(next - 1 - (uint32_t)(((uint64_t)x * span) >> 32));
				hashes[k] = elb_flow_hash(&keys[k], &s.snap->seed);
			}
			o.cpu = ncpu > 1 ? 1 : 0;
			atomic_init(&o.done, 0);
			atomic_init(&o.stop, false);
			pthread_create(&th, NULL, fc_owner_run, &o);
			usleep(50000);
			/* Alternate owner alone / owner with walks: this machine's
			 * noise moves slower than a window, so each round's ratio
			 * compares neighbours; the median round is reported. */
			for (int r = 0; r < FC_ROUNDS; r++) {
				uint64_t c0, ns;

				rate_alone[r] = fc_owner_rate(&o, FC_WINDOW_NS);
				c0 = atomic_load(&o.done);
				ns = fc_walk(&s, now_tick, per_slot, 1, FC_WINDOW_NS, &busy);
				rate_busy[r] = (double)(atomic_load(&o.done) - c0) * 1e9 / (double)ns;
				ratio[r] = rate_busy[r] / rate_alone[r];
			}
			atomic_store(&o.stop, true);
			pthread_join(th, NULL);
			walk_ms = median(alone.ms, alone.n);

			printf("| 2^%u | %s | %llu (%.1f%%) | %zu | %.1f | %.2f | %.1f | %.1f | %.1f | "
			       "%.1f | %.2f |\n",
			       log2_caps[c], fills[f].name, (unsigned long long)sum,
			       100.0 * (double)sum / capacity, s.flow_mem_size >> 20, walk_ms,
			       walk_ms * 1e6 / capacity, (double)bytes / (walk_ms * 1e6),
			       median(busy.ms, busy.n), median(rate_alone, FC_ROUNDS) / 1e6,
			       median(rate_busy, FC_ROUNDS) / 1e6, median(ratio, FC_ROUNDS));
			fflush(stdout);
		}
		teardown_pipeline(&s);
	}
	printf("\nTotal: %.1f s.\n", (double)(bench_now_ns() - bench_start) / 1e9);
	free(per_slot);
	free(keys);
	free(hashes);
}

/* ---- flow table ------------------------------------------------------------------------- */

/* Lookup + next state + refresh of keys [0, n), rounds times; returns the
 * TSC ticks taken. With prefetch, the bucket header of the packet 8 ahead is
 * prefetched, as a burst loop can once it hashed the burst. */
static uint64_t ft_hit_pass(struct elb_flow_table *t, const struct elb_flow_key *keys,
			    const uint64_t *hashes, uint32_t n, unsigned int rounds, bool prefetch,
			    uint64_t *sink)
{
	uint64_t c0 = bench_cycles();

	for (unsigned int round = 0; round < rounds; round++) {
		for (uint32_t i = 0; i < n; i++) {
			struct elb_flow_entry *e;

			if (prefetch && i + 8 < n)
				elb_flow_prefetch(t, hashes[i + 8]);
			e = elb_flow_lookup(t, &keys[i], FLOW_VIP_INDEX, hashes[i], 20);
			if (e == NULL)
				continue;
			elb_flow_refresh(t, e,
					 elb_flow_state_next(elb_flow_entry_state(t, e),
							     ELB_IPPROTO_TCP, ELB_TCP_ACK),
					 17882, 20);
			*sink += e->backend_id;
		}
	}
	return bench_cycles() - c0;
}

/* Lookup (a miss) + insert of keys [from, to); returns the TSC ticks taken. */
static uint64_t ft_insert_pass(struct elb_flow_table *t, const struct elb_flow_key *keys,
			       const uint64_t *hashes, uint32_t from, uint32_t to, uint32_t now)
{
	uint64_t c0 = bench_cycles();

	for (uint32_t i = from; i < to; i++) {
		enum elb_flow_state evicted;
		struct elb_flow_entry *e = elb_flow_lookup(t, &keys[i], FLOW_VIP_INDEX, hashes[i], now);

		if (e == NULL)
			e = elb_flow_insert(t, &keys[i], FLOW_VIP_INDEX, hashes[i], now, ELB_FLOW_TCP_SYN, 299,
					    &evicted);
		e->backend_id = i;
	}
	return bench_cycles() - c0;
}

/*
 * Cycles per operation (TSC ticks), with the hash already computed as in
 * the dataplane: miss + insert filling an empty table to half its capacity;
 * hits (lookup, next state, refresh) with and without a prefetch; then miss
 * + insert into the full table, each evicting. Keys are read in order, as a
 * packet's key is at hand; the buckets they hit are random.
 */
static void bench_flow_table_row(uint32_t capacity, const char *where)
{
	struct elb_hash_seed seed = {ELB_HASH_SEED_DEFAULT_K0, ELB_HASH_SEED_DEFAULT_K1};
	uint32_t n = capacity / 2 + capacity, half = capacity / 2; /* half to fill, then a flood */
	size_t mem_size = elb_flow_table_mem_size(capacity);
	struct elb_flow_key *keys = malloc(sizeof(*keys) * n);
	uint64_t *hashes = malloc(sizeof(*hashes) * n);
	void *mem = aligned_alloc(ELB_FLOW_TABLE_ALIGN, mem_size);
	uint64_t fill, hit, prefetched, evicting, sink = 0;
	struct elb_flow_table_stats st;
	struct elb_flow_table t;

	if (keys == NULL || hashes == NULL || mem == NULL ||
	    elb_flow_table_init(&t, mem, mem_size, capacity) != 0) {
		fprintf(stderr, "flow table of %u: no memory\n", capacity);
		exit(1);
	}
	/* Table first, keys after: writing the keys pushes the freshly zeroed
	 * bucket headers out of the caches, as in a worker's steady state. */
	for (uint32_t i = 0; i < n; i++) {
		keys[i] = fc_key(i);
		hashes[i] = elb_flow_hash(&keys[i], &seed);
	}
	fill = ft_insert_pass(&t, keys, hashes, 0, half, 10);
	hit = ft_hit_pass(&t, keys, hashes, half, 4, false, &sink);
	prefetched = ft_hit_pass(&t, keys, hashes, half, 4, true, &sink);
	/* Another half fills the table; the last capacity/2 keys then evict. */
	ft_insert_pass(&t, keys, hashes, half, capacity, 30);
	elb_flow_table_read_stats(&t, &st);
	evicting = ft_insert_pass(&t, keys, hashes, capacity, n, 30);
	if (sink == 0) {
		fprintf(stderr, "flow table of %u: the hit passes found no flow\n", capacity);
		exit(1);
	}
	printf("| %u (%zu KiB, %s) | %.1f | %.1f | %.1f | %.1f | %.0f%% |\n", t.capacity,
	       mem_size / 1024, where, (double)fill / half, (double)hit / (4.0 * half),
	       (double)prefetched / (4.0 * half), (double)evicting / (n - capacity),
	       100.0 * (double)st.occupancy / capacity);
	free(mem);
	free(keys);
	free(hashes);
}

static void bench_flow_table(void)
{
	printf("\n## Flow table (cycles per operation, hash computed)\n\n");
	printf("| slots | miss+insert | hit | hit prefetched | miss+insert evicting | full |\n"
	       "|---|---|---|---|---|---|\n");
	bench_flow_table_row(8192, "in L2");
	bench_flow_table_row(1u << 20, "memory-bound");
}

/* ---- memory floor ------------------------------------------------------------------------ */

#define MF_CAPACITY (8u << 20)
#define MF_LOOKUPS (1u << 21)
#define MF_AHEAD 16

static uint64_t mf_rng(uint64_t *state)
{
	*state ^= *state << 13;
	*state ^= *state >> 7;
	*state ^= *state << 17;
	return *state;
}

static void bench_memory_floor(void)
{
	size_t mem_size = elb_flow_table_mem_size(MF_CAPACITY);
	uint32_t n_blocks = (uint32_t)(mem_size / sizeof(struct elb_flow_block));
	static const uint32_t flows[] = {1024, 65536, 1u << 20, 4u << 20};
	uint32_t *order = malloc(sizeof(*order) * MF_LOOKUPS);
	struct elb_flow_block *blocks;
	uint64_t rng = 0x9e3779b97f4a7c15ull;

	blocks = mmap(NULL, mem_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (blocks == MAP_FAILED || order == NULL) {
		perror("memory floor");
		exit(1);
	}
	madvise(blocks, mem_size, MADV_HUGEPAGE);
	memset(blocks, 0, mem_size);
	printf("\n## Memory floor of one %u-slot flow table (%zu MiB): a lookup's two lines "
	       "(bucket header, one entry of its block)\n\n",
	       MF_CAPACITY, mem_size >> 20);
	printf("| flows (distinct random blocks) | one after the other (latency) | prefetched %u "
	       "ahead (floor) |\n|---|---|---|\n",
	       MF_AHEAD);
	for (unsigned int f = 0; f < ELB_ARRAY_SIZE(flows); f++) {
		uint32_t *pool = malloc(sizeof(*pool) * flows[f]);
		uint64_t c0, dependent, prefetched, sink = 0;
		uint32_t next = 0;

		for (uint32_t i = 0; i < flows[f]; i++)
			pool[i] = (uint32_t)(mf_rng(&rng) % n_blocks);
		for (uint32_t i = 0; i < MF_LOOKUPS; i++)
			order[i] = pool[mf_rng(&rng) % flows[f]];
		for (uint32_t i = 0; i < flows[f]; i++) /* warm: each line once */
			sink += blocks[pool[i]].header.expiry[0] +
				blocks[pool[i]].entries[pool[i] & 7].backend_id;
		c0 = bench_cycles();
		for (uint32_t i = 0; i < MF_LOOKUPS; i++) {
			/* The next address waits for this lookup's data: its top
			 * bit, always 0, which the compiler cannot know. */
			const struct elb_flow_block *b = &blocks[order[i] + (next >> 31)];
			uint32_t v = b->header.expiry[0];

			next = b->entries[order[i] & 7].backend_id | v;
		}
		sink += next;
		dependent = bench_cycles() - c0;
		c0 = bench_cycles();
		for (uint32_t i = 0; i < MF_LOOKUPS; i++) {
			const struct elb_flow_block *b = &blocks[order[i]];

			if (i + MF_AHEAD < MF_LOOKUPS) {
				const struct elb_flow_block *a = &blocks[order[i + MF_AHEAD]];

				__builtin_prefetch(&a->header);
				__builtin_prefetch(&a->entries[order[i + MF_AHEAD] & 7]);
			}
			sink += b->header.expiry[1] + b->entries[order[i] & 7].backend_id;
		}
		prefetched = bench_cycles() - c0;
		printf("| %u | %.1f cycles (%.1f ns) | %.1f cycles (%.1f ns) |\n", flows[f],
		       (double)dependent / MF_LOOKUPS, (double)dependent / MF_LOOKUPS / tsc_per_ns,
		       (double)prefetched / MF_LOOKUPS, (double)prefetched / MF_LOOKUPS / tsc_per_ns);
		if (sink == 42)
			printf(" ");
		free(pool);
	}
	munmap(blocks, mem_size);
	free(order);
}


/* ---- QUIC routing by connection ID ------------------------------------------------------- */

#define QUIC_FRAME_LEN 96 /* Ethernet, IPv4, UDP, a 1-RTT header with its CID, payload */
#define QUIC_BACKENDS 100

enum quic_case { QC_PLAIN_UDP, QC_PLAINTEXT, QC_SINGLE_PASS, QC_FOUR_PASS, QC_CASES };

/* 1-RTT packets of n flows (client 198.18.x.y:port -> 10.100.0.1:443),
 * flow i's DCID naming backend i % QUIC_BACKENDS under config c (or, for
 * the plain UDP case, the plaintext CID: the bytes do not matter there). */
static uint8_t *make_quic_frames(uint32_t n, const struct elb_quic_lb_config *c)
{
	static const uint8_t port_mac[ETH_ADDR_LEN] = {0x02, 0, 0, 0, 0, 0x01};
	static const uint8_t router_mac[ETH_ADDR_LEN] = {0x02, 0, 0, 0, 0, 0x02};
	uint8_t *frames = calloc(n, QUIC_FRAME_LEN);

	for (uint32_t i = 0; i < n; i++) {
		uint8_t *f = frames + (size_t)i * QUIC_FRAME_LEN, *udp;
		uint8_t sid[ELB_QUIC_SERVER_ID_MAX] = {0, (uint8_t)(i % QUIC_BACKENDS + 1)};
		uint8_t nonce[ELB_QUIC_CID_MAX];
		struct ip_params ip = {.family = 4, .proto = WIRE_PROTO_UDP, .ttl = 64, .df = true};
		uint32_t payload = QUIC_FRAME_LEN - 14 - 20 - 8;
		size_t off;

		for (uint32_t b = 0; b < sizeof(nonce); b++)
			nonce[b] = (uint8_t)(i * 31 + b * 7);
		put_be32(ip.src, 0xc6120000u + (i >> 8));
		put_be32(ip.dst, 0x0a640001);
		off = write_eth_addrs(f, port_mac, router_mac, WIRE_ETHERTYPE_IPV4);
		off += write_ip_headers(f + off, &ip, UDP_HDR_LEN + payload);
		udp = f + off;
		write_udp_header(udp, (uint16_t)(1024 + (i & 0xff)), 443, payload);
		udp[8] = 0x40; /* 1-RTT: header form 0, fixed bit */
		elb_quic_lb_encode(c, 1, sid, nonce, udp + 9);
		l4_fill_checksum(&ip, WIRE_PROTO_UDP, udp, UDP_HDR_LEN + payload);
	}
	return frames;
}

/* VIP 0 as UDP :443, QUIC routing with config c (config ID 1) and
 * backends 0..99 holding server IDs 0x0001..0x0064; c NULL: plain UDP. */
static struct elb_vip_quic *setup_quic(struct bench_setup *s, const struct elb_quic_lb_config *c)
{
	struct elb_vip *vip = &s->snap->vips[0];
	uint32_t size = elb_quic_servers_size(QUIC_BACKENDS);
	struct elb_vip_quic *q = NULL;

	vip->port = __builtin_bswap16(443);
	vip->proto = ELB_IPPROTO_UDP;
	elb_vip_lookup_clear(s->snap);
	elb_vip_lookup_insert(s->snap, vip);
	if (c == NULL)
		return NULL;
	q = calloc(1, sizeof(*q) + size * sizeof(q->servers[0]));
	q->server_id_len = c->server_id_len;
	q->mask = size - 1;
	q->configs[1] = *c;
	for (uint32_t b = 0; b < QUIC_BACKENDS; b++) {
		uint8_t sid[ELB_QUIC_SERVER_ID_MAX] = {0, (uint8_t)(b + 1)};

		elb_quic_server_add(q, sid, b);
	}
	vip->quic = q;
	return q;
}

static void bench_quic(void)
{
	static const char *const names[QC_CASES] = {
		[QC_PLAIN_UDP] = "UDP VIP, no QUIC routing (1-RTT packets, by the 5-tuple)",
		[QC_PLAINTEXT] = "QUIC, plaintext CID (server ID 2 + nonce 6)",
		[QC_SINGLE_PASS] = "QUIC, single-pass AES (2 + 14: one block)",
		[QC_FOUR_PASS] = "QUIC, four-pass AES (2 + 8: three blocks)",
	};
	static const uint8_t key[16] = {0x8f, 0x95, 0xf0, 0x92, 0x45, 0x76, 0x5f, 0x80,
					0x25, 0x69, 0x34, 0xe5, 0x0c, 0x66, 0x20, 0x7f};
	struct elb_quic_lb_config configs[QC_CASES];
	struct run_figures best[QC_CASES] = {0}, hot[QC_CASES] = {0};
	uint8_t *frames[QC_CASES];
	uint64_t clock_ns = 1000000000ull;

	elb_quic_lb_config_init(&configs[QC_PLAIN_UDP], 2, 6, NULL);
	elb_quic_lb_config_init(&configs[QC_PLAINTEXT], 2, 6, NULL);
	elb_quic_lb_config_init(&configs[QC_SINGLE_PASS], 2, 14, key);
	elb_quic_lb_config_init(&configs[QC_FOUR_PASS], 2, 8, key);
	for (int c = 0; c < QC_CASES; c++)
		frames[c] = make_quic_frames(PIPELINE_FLOWS, &configs[c]);
	printf("\n## QUIC routing by connection ID, one core (%u-byte Ethernet/IPv4/UDP 1-RTT "
	       "frames, %u backends, %u flows established; min of 3 alternated runs; AES-NI: %s)\n\n",
	       QUIC_FRAME_LEN, QUIC_BACKENDS, PIPELINE_FLOWS, elb_aes128_uses_aesni() ? "yes" : "no");
	printf("| case | cycles/pkt | ns/pkt | Mpps | x no QUIC | verdicts |\n|---|---|---|---|---|---|\n");
	for (int round = 0; round < 3; round++)
		for (int c = 0; c < QC_CASES; c++) {
			struct bench_setup s;
			struct elb_vip_quic *q;
			struct run_figures f, h;

			setup_pipeline(&s, QUIC_BACKENDS, 4u << 20, 0);
			q = setup_quic(&s, c == QC_PLAIN_UDP ? NULL : &configs[c]);
			run_frames_of(&s, frames[c], QUIC_FRAME_LEN, PIPELINE_FLOWS, 1, true, &clock_ns);
			f = run_frames_of(&s, frames[c], QUIC_FRAME_LEN, PIPELINE_FLOWS, PASSES, true,
					  &clock_ns);
			h = run_frames_of(&s, frames[c], QUIC_FRAME_LEN, 1024, 2048, true, &clock_ns);
			keep_min(&best[c], &f);
			keep_min(&hot[c], &h);
			free(q);
			teardown_pipeline(&s);
		}
	for (int c = 0; c < QC_CASES; c++)
		print_row(names[c], &best[c], best[QC_PLAIN_UDP].cycles_per_pkt,
			  best[c].verdicts[ELB_VERDICT_FORWARD] == (uint64_t)PIPELINE_FLOWS * PASSES
				  ? "all forwarded"
				  : "NOT ALL FORWARDED");
	for (int c = 0; c < QC_CASES; c++) {
		char what[160];

		snprintf(what, sizeof(what), "%s, 1024 flows (cache-resident)", names[c]);
		print_row(what, &hot[c], hot[QC_PLAIN_UDP].cycles_per_pkt,
			  hot[c].verdicts[ELB_VERDICT_FORWARD] == 1024u * 2048 ? "all forwarded"
									  : "NOT ALL FORWARDED");
	}
	printf("\nAbove the UDP path (cache-resident): plaintext %+.1f, single pass %+.1f, four "
	       "pass %+.1f cycles per packet.\n",
	       hot[QC_PLAINTEXT].cycles_per_pkt - hot[QC_PLAIN_UDP].cycles_per_pkt,
	       hot[QC_SINGLE_PASS].cycles_per_pkt - hot[QC_PLAIN_UDP].cycles_per_pkt,
	       hot[QC_FOUR_PASS].cycles_per_pkt - hot[QC_PLAIN_UDP].cycles_per_pkt);
	for (int c = 0; c < QC_CASES; c++)
		free(frames[c]);
}

int main(int argc, char **argv)
{
	tsc_per_ns = bench_tsc_per_ns();
	if (argc == 2 && strcmp(argv[1], "--adversarial") == 0) {
		printf("# edgelb-bench --adversarial\n\nTSC: %.3f GHz. One core, figures of this "
		       "run only.\n", tsc_per_ns);
		bench_adversarial();
		return 0;
	}
	if (argc == 2 && strcmp(argv[1], "--flow-count") == 0) {
		printf("# edgelb-bench --flow-count\n\nTSC: %.3f GHz. Figures of this run only.\n",
		       tsc_per_ns);
		bench_flow_count();
		return 0;
	}
	if (argc == 2 && strcmp(argv[1], "--second-chance") == 0) {
		printf("# edgelb-bench --second-chance\n\nTSC: %.3f GHz. One core, figures of this "
		       "run only.\n", tsc_per_ns);
		bench_second_chance();
		return 0;
	}
	if (argc == 2 && strcmp(argv[1], "--quic") == 0) {
		printf("# edgelb-bench --quic\n\nTSC: %.3f GHz. One core, figures of this run only.\n",
		       tsc_per_ns);
		bench_quic();
		return 0;
	}
	if (argc == 2 && strcmp(argv[1], "--memory-floor") == 0) {
		printf("# edgelb-bench --memory-floor\n\nTSC: %.3f GHz. One core, figures of this "
		       "run only.\n", tsc_per_ns);
		bench_memory_floor();
		return 0;
	}
	if (argc != 1) {
		fprintf(stderr, "usage: edgelb-bench [--adversarial | --flow-count | --second-chance | "
				"--memory-floor | --quic]\n");
		return 2;
	}
	printf("# edgelb-bench\n\nTSC: %.3f GHz. One core, figures of this run only.\n", tsc_per_ns);
	bench_maglev_build();
	bench_maglev_quality();
	bench_flow_hash();
	bench_flow_table();
	bench_pipeline();
	return 0;
}
