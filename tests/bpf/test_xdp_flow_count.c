/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Flow counts of the XDP dataplane (dataplane/xdp/xdp_flow_count.c): the
 * map-element iterator (bpf/flow_count.bpf.c, counting in the kernel) and
 * the batch lookup from user space (the fallback) must count alike, and
 * both what the test expects, computed here from the flows it wrote and
 * the snapshot:
 *   1. crafted flows (bpf_map_update_batch into each CPU's table), judged
 *      at a given tick: one case per rule (live on one CPU or on several, expired at the tick
 *      or one tick before it, free copies, stale generations, empty slots,
 *      slots past the snapshot's), then a few thousand random mixes of
 *      them over every possible CPU;
 *   2. the same without expiry (the replay's walk: every copy in use);
 *   3. the agent's walk (xdp_ops.flow_counts): the iterator reads the
 *      balancer's flow clock, which must be CLOCK_MONOTONIC's tick to
 *      within one, and the batch lookup at that tick must agree;
 *   4. flows made by the real program (BPF_PROG_TEST_RUN SYNs on each CPU,
 *      on the agent's clock), the backend each went to as the program
 *      recorded it, before and after a backend is removed (its flows then
 *      name a stale slot).
 * Where the kernel refuses the iterator (lockdown, read here from
 * /sys/kernel/security/lockdown: Secure Boot hosts), every case runs on the
 * batch lookup alone, and the test checks that the refusal is what the
 * kernel's mode says and what status.get reports; elsewhere the iterator
 * must load. Needs root (CAP_BPF); exits 77 (skipped) without it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>

#include "edgelb_xdp_maps.h"
#include "elb_replay_options.h"
#include "xdp.h"
#include "xdp_test.h"
/* The skeletons name core types: they are defined above. */
#include "edgelb.skel.h"
#include "flow_count.skel.h"

#define MAP_FLOWS 8192
#define RANDOM_FLOWS 4000
#define REAL_FLOWS 400

static const char *const config_fmt =
	"{\"node\": {\"source_v4\": \"192.168.10.1\", \"gateway_mac\": \"02:00:00:00:00:fe\"},"
	" \"vips\": ["
	"  {\"address\": \"10.0.0.10\", \"port\": 80, \"protocol\": \"tcp\", \"backends\": [%s]},"
	"  {\"address\": \"10.0.0.11\", \"port\": 80, \"protocol\": \"tcp\","
	"   \"backends\": [{\"address\": \"10.200.1.1\"}, {\"address\": \"10.200.1.2\"}]}]}";
#define B(n) "{\"address\": \"10.200.0." #n "\"}"

static struct xdp_dataplane dp;
static struct elb_dp_config *in_force;
static uint64_t epoch;
static int ncpu;

static int apply(const char *backends)
{
	return xdp_test_apply(&dp, config_fmt, backends, &in_force, &epoch);
}

/* ---- the flows: [flow][cpu] values, as the map holds them ---- */

struct flows {
	uint32_t n;
	struct elb_flow_id *keys;
	struct elb_xdp_flow *v; /* n * ncpu */
};

static struct elb_xdp_flow *copy_of(struct flows *fl, uint32_t i, int cpu)
{
	return &fl->v[(size_t)i * (size_t)ncpu + (size_t)cpu];
}

static void flows_init(struct flows *fl, uint32_t n)
{
	fl->n = n;
	fl->keys = calloc(n, sizeof(*fl->keys));
	fl->v = calloc((size_t)n * (size_t)ncpu, sizeof(*fl->v));
	if (fl->keys == NULL || fl->v == NULL)
		abort();
	for (uint32_t i = 0; i < n; i++) {
		fl->keys[i].src.v4 = htonl(0x0a010000u + i);
		fl->keys[i].sport = htons((uint16_t)(1024 + i));
		fl->keys[i].dport = htons(80);
		fl->keys[i].vip_index = 0; /* counting reads values only */
	}
}

static void flows_free(struct flows *fl)
{
	free(fl->keys);
	free(fl->v);
}

static void clear_flow_tables(void)
{
	for (int cpu = 0; cpu < dp.flows.n; cpu++) {
		int fd = dp.flows.fds[cpu];
		struct elb_flow_id k;

		while (bpf_map_get_next_key(fd, NULL, &k) == 0)
			if (bpf_map_delete_elem(fd, &k)) {
				perror("delete flow");
				exit(1);
			}
	}
}

/* The copies of fl in use (not FREE): the entries the tables hold. */
static uint32_t copies_in_use(const struct flows *fl)
{
	uint32_t n = 0;

	for (size_t i = 0; i < (size_t)fl->n * (size_t)ncpu; i++)
		n += fl->v[i].state != ELB_FLOW_FREE;
	return n;
}

/* The tables := fl: each CPU's table the copies of that CPU in use (a FREE
 * copy is no entry, as the program never writes one). */
static void write_flows(const struct flows *fl)
{
	struct elb_flow_id *keys = calloc(fl->n ? fl->n : 1, sizeof(*keys));
	struct elb_xdp_flow *values = calloc(fl->n ? fl->n : 1, sizeof(*values));

	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	if (keys == NULL || values == NULL)
		abort();
	clear_flow_tables();
	for (int cpu = 0; cpu < ncpu; cpu++) {
		uint32_t n = 0, count;

		for (uint32_t i = 0; i < fl->n; i++) {
			const struct elb_xdp_flow *f = &fl->v[(size_t)i * (size_t)ncpu + (size_t)cpu];

			if (f->state == ELB_FLOW_FREE)
				continue;
			keys[n] = fl->keys[i];
			values[n++] = *f;
		}
		count = n;
		if (n && (bpf_map_update_batch(dp.flows.fds[cpu], keys, values, &count, &opts) ||
			  count != n)) {
			fprintf(stderr, "bpf_map_update_batch: %s (%u of %u)\n", strerror(errno),
				count, n);
			exit(1);
		}
	}
	free(keys);
	free(values);
}

/* What the test expects, from what it wrote: per flow and CPU, the copy
 * in use, unexpired at tick (if check_expiry) and naming a slot of the
 * snapshot with its generation (each CPU's table counts its own, as the
 * DPDK workers' tables are summed). */
static void expected_counts(const struct flows *fl, bool check_expiry, uint32_t tick,
			    uint64_t *per_slot)
{
	const struct elb_snapshot *snap = dp.snap;

	memset(per_slot, 0, sizeof(*per_slot) * ELB_MAX_BACKEND_SLOTS);
	for (uint32_t i = 0; i < fl->n; i++)
		for (int cpu = 0; cpu < ncpu; cpu++) {
			const struct elb_xdp_flow *f = &fl->v[(size_t)i * (size_t)ncpu + (size_t)cpu];
			bool live = f->state != ELB_FLOW_FREE &&
				    (!check_expiry || (int32_t)(f->expiry - tick) > 0);

			if (live && f->backend_id < snap->n_backend_slots &&
			    snap->backends[f->backend_id].gen == f->backend_gen)
				per_slot[f->backend_id]++;
		}
}

static uint64_t total(const uint64_t *per_slot)
{
	uint64_t t = 0;

	for (uint32_t s = 0; s < ELB_MAX_BACKEND_SLOTS; s++)
		t += per_slot[s];
	return t;
}

/* Both walks with `walk`, against `want` (whole arrays: nothing may be
 * counted past the snapshot's slots either). */
static void compare(const char *what, struct xdp_flow_walk walk, const uint64_t *want)
{
	uint64_t *by_iter = calloc(ELB_MAX_BACKEND_SLOTS, sizeof(uint64_t));
	uint64_t *by_batch = calloc(ELB_MAX_BACKEND_SLOTS, sizeof(uint64_t));
	struct xdp_flow_walk wi = walk, wb = walk;
	int rc;

	if (by_iter == NULL || by_batch == NULL)
		abort();
	if (dp.flow_count != NULL) {
		rc = xdp_flow_count_iter(&dp, dp.snap, &wi, by_iter);
		ELB_CHECK(rc == 0, "%s: iterator: %s", what, strerror(-rc));
	}
	rc = xdp_flow_count_batch(&dp, dp.snap, &wb, by_batch);
	ELB_CHECK(rc == 0, "%s: batch lookup: %s", what, strerror(-rc));
	for (uint32_t s = 0; s < ELB_MAX_BACKEND_SLOTS; s++) {
		ELB_CHECK(dp.flow_count == NULL || by_iter[s] == want[s],
			  "%s: slot %u: iterator %llu, expected %llu", what, s,
			  (unsigned long long)by_iter[s], (unsigned long long)want[s]);
		ELB_CHECK(by_batch[s] == want[s], "%s: slot %u: batch lookup %llu, expected %llu", what,
			  s, (unsigned long long)by_batch[s], (unsigned long long)want[s]);
	}
	ELB_CHECK(dp.flow_count == NULL || dp.flow_count->bss->flows_counted == total(want),
		  "%s: the iterator counted %llu", what,
		  dp.flow_count ? (unsigned long long)dp.flow_count->bss->flows_counted : 0ull);
	printf("%s: %llu flows counted by %s, as expected\n", what, (unsigned long long)total(want),
	       dp.flow_count ? "both walks" : "the batch lookup");
	free(by_iter);
	free(by_batch);
}

/* The snapshot's slots: live ones (gen != 0) in `live`, and one empty. */
static uint32_t live_slots(uint32_t *live, uint32_t max, uint32_t *empty)
{
	uint32_t n = 0;

	*empty = UINT32_MAX;
	for (uint32_t s = 0; s < dp.snap->n_backend_slots; s++) {
		if (dp.snap->backends[s].gen != 0 && n < max)
			live[n++] = s;
		else if (dp.snap->backends[s].gen == 0 && *empty == UINT32_MAX)
			*empty = s;
	}
	return n;
}

/* ---- 1. and 2. crafted flows ---- */

static void set_copy(struct flows *fl, uint32_t i, int cpu, uint8_t state, uint32_t expiry,
		     uint32_t slot, uint32_t gen)
{
	struct elb_xdp_flow *f;

	if (cpu >= ncpu)
		return; /* a single-CPU machine has fewer cases */
	f = copy_of(fl, i, cpu);
	f->state = state;
	f->expiry = expiry;
	f->backend_id = slot;
	f->backend_gen = gen;
	f->bucket.pkt_tat = 0x1111; /* not read by either walk */
}

static void test_crafted(void)
{
	const uint32_t T = elb_flow_tick(monotonic_ns()) + 12345; /* any tick */
	uint64_t *want = calloc(ELB_MAX_BACKEND_SLOTS, sizeof(uint64_t));
	uint32_t slots[16], n_live, empty, a, b, ga, gb, i;
	struct flows fl;
	uint32_t seed = 12345;

	if (want == NULL)
		abort();
	n_live = live_slots(slots, 16, &empty);
	ELB_CHECK(n_live >= 4 && empty != UINT32_MAX, "%u live slots, empty slot %u", n_live, empty);
	a = slots[0];
	b = slots[1];
	ga = dp.snap->backends[a].gen;
	gb = dp.snap->backends[b].gen;

	flows_init(&fl, 16 + RANDOM_FLOWS);
	/* One case per rule; want[] by hand (with expiry checked at T). */
	set_copy(&fl, 0, 0, ELB_FLOW_TCP_ESTABLISHED, T + 100, a, ga); /* CPU 0 only: a */
	set_copy(&fl, 1, 1, ELB_FLOW_TCP_ESTABLISHED, T + 100, b, gb); /* CPU 1 only: b */
	set_copy(&fl, 2, 0, ELB_FLOW_TCP_SYN, T + 1, a, ga);           /* both: a and b */
	set_copy(&fl, 2, 1, ELB_FLOW_TCP_ESTABLISHED, T + 100, b, gb);
	set_copy(&fl, 3, 0, ELB_FLOW_TCP_ESTABLISHED, T, a, ga); /* CPU 0 expired at T: b */
	set_copy(&fl, 3, 1, ELB_FLOW_UDP, T + 5, b, gb);
	set_copy(&fl, 4, 0, ELB_FLOW_TCP_ESTABLISHED, T + 100, a, ga + 1000); /* stale: b */
	set_copy(&fl, 4, 1, ELB_FLOW_TCP_ESTABLISHED, T + 100, b, gb);
	set_copy(&fl, 5, 0, ELB_FLOW_TCP_ESTABLISHED, T - 1, a, ga); /* expired everywhere */
	set_copy(&fl, 5, 1, ELB_FLOW_TCP_CLOSING, T - 1000, b, gb);
	set_copy(&fl, 6, 0, ELB_FLOW_FREE, T + 100, a, ga); /* free copies */
	set_copy(&fl, 6, 1, ELB_FLOW_FREE, T + 100, b, gb);
	set_copy(&fl, 7, 0, ELB_FLOW_TCP_ESTABLISHED, T + 100, empty, 7); /* empty slot */
	set_copy(&fl, 8, 0, ELB_FLOW_TCP_ESTABLISHED, T + 100, dp.snap->n_backend_slots, 0);
	set_copy(&fl, 9, 0, ELB_FLOW_TCP_ESTABLISHED, T + 100, ELB_MAX_BACKEND_SLOTS - 1, 0);
	set_copy(&fl, 10, 0, ELB_FLOW_TCP_ESTABLISHED, T + 100, ELB_MAX_BACKEND_SLOTS + 5, 1);
	set_copy(&fl, 11, 0, ELB_FLOW_TCP_ESTABLISHED, T + 100, 0xffffffffu, 1);
	set_copy(&fl, 12, 0, ELB_FLOW_TCP_ESTABLISHED, T + 100, b, 0); /* generation 0 */
	/* Flows 13-15: no copy in use at all. */
	memset(want, 0, sizeof(*want) * ELB_MAX_BACKEND_SLOTS);
	want[a] = 2;                     /* flows 0, 2 */
	want[b] = ncpu > 1 ? 4 : 0;      /* flows 1, 2, 3, 4 */
	if (ncpu > 1) {
		uint64_t *check = calloc(ELB_MAX_BACKEND_SLOTS, sizeof(uint64_t));

		/* The hand-written cases and the test's rule agree. */
		fl.n = 16;
		expected_counts(&fl, true, T, check);
		ELB_CHECK(memcmp(check, want, sizeof(*want) * ELB_MAX_BACKEND_SLOTS) == 0,
			  "the hand-written cases");
		free(check);
		fl.n = 16 + RANDOM_FLOWS;
	}
	/* Random mixes of the same, on every CPU. */
	for (i = 16; i < fl.n; i++)
		for (int cpu = 0; cpu < ncpu; cpu++) {
			static const int32_t dt[] = {-1000, -1, 0, 1, 2, 1000};
			uint32_t r, slot, gen;

			seed = seed * 1103515245u + 12345u;
			r = seed >> 8;
			if (r % 3 == 0)
				continue; /* free */
			slot = r % 5 == 0 ? empty : r % 7 == 0 ? dp.snap->n_backend_slots + r % 3
								 : slots[(r >> 4) % n_live];
			gen = slot < dp.snap->n_backend_slots ? dp.snap->backends[slot].gen : 1;
			if ((r >> 9) % 6 == 0)
				gen += 1 + (r >> 12) % 3; /* stale */
			set_copy(&fl, i, cpu, (uint8_t)(1 + (r >> 5) % 5), T + (uint32_t)dt[(r >> 13) % 6],
				 slot, gen);
		}
	write_flows(&fl);

	/* 1. judged at T. */
	expected_counts(&fl, true, T, want);
	compare("crafted flows at a given tick", (struct xdp_flow_walk){true, true, T}, want);
	ELB_CHECK(dp.flow_count == NULL || dp.flow_count->bss->flows_seen == copies_in_use(&fl),
		  "the iterator saw %llu entries of %u",
		  dp.flow_count ? (unsigned long long)dp.flow_count->bss->flows_seen : 0ull,
		  copies_in_use(&fl));
	/* The tick itself: at T + 1 the flows expiring at T + 1 are gone. */
	expected_counts(&fl, true, T + 1, want);
	compare("crafted flows one tick later", (struct xdp_flow_walk){true, true, T + 1}, want);
	/* 2. the replay's walk: expired copies count too. */
	expected_counts(&fl, false, 0, want);
	compare("crafted flows without expiry", (struct xdp_flow_walk){false, false, 0}, want);

	flows_free(&fl);
	free(want);
}

/* ---- 3. the agent's walk, on the balancer's clock ---- */

static const char *walk_name(void)
{
	return dp.flow_count ? "iterator" : "batch lookup";
}

/* The walk the agent makes: the iterator where it loaded, else the batch lookup. */
static int count_live(struct xdp_flow_walk *walk, uint64_t *per_slot)
{
	return dp.flow_count ? xdp_flow_count_iter(&dp, dp.snap, walk, per_slot)
			     : xdp_flow_count_batch(&dp, dp.snap, walk, per_slot);
}

static void test_agent_clock(void)
{
	uint64_t *want = calloc(ELB_MAX_BACKEND_SLOTS, sizeof(uint64_t));
	uint64_t *got = calloc(ELB_MAX_BACKEND_SLOTS, sizeof(uint64_t));
	uint32_t slots[16], n_live, empty, now = elb_flow_tick(monotonic_ns()), tick;
	struct xdp_flow_walk walk = {.check_expiry = true};
	uint64_t age_ms = 0;
	struct flows fl;
	int rc;

	if (want == NULL || got == NULL)
		abort();
	n_live = live_slots(slots, 16, &empty);
	flows_init(&fl, 600);
	/* Far enough from now (an hour) that the clocks' jiffy between them
	 * cannot matter. */
	for (uint32_t i = 0; i < fl.n; i++) {
		uint32_t slot = slots[i % n_live];

		set_copy(&fl, i, (int)(i % (uint32_t)ncpu), ELB_FLOW_TCP_ESTABLISHED,
			 i % 4 == 0 ? now - 200000 : now + 200000, slot, dp.snap->backends[slot].gen);
	}
	write_flows(&fl);

	rc = count_live(&walk, got);
	ELB_CHECK(rc == 0, "%s: %s", walk_name(), strerror(-rc));
	tick = walk.now_tick;
	now = elb_flow_tick(monotonic_ns());
	ELB_CHECK(tick == now || tick + 1 == now, "the %s's tick %u, CLOCK_MONOTONIC's %u",
		  dp.flow_count ? "balancer" : "batch lookup", tick, now);
	expected_counts(&fl, true, tick, want);
	ELB_CHECK(memcmp(got, want, sizeof(*want) * ELB_MAX_BACKEND_SLOTS) == 0,
		  "the %s on the agent's clock", walk_name());
	compare("the agent's walk, at the balancer's tick", (struct xdp_flow_walk){true, true, tick},
		want);
	/* What vip.tables calls: the same walk, with the agent's expiry. */
	memset(got, 0, sizeof(*got) * ELB_MAX_BACKEND_SLOTS);
	rc = xdp_ops.flow_counts(&dp, dp.snap, got, &age_ms);
	ELB_CHECK(rc == 0 && memcmp(got, want, sizeof(*want) * ELB_MAX_BACKEND_SLOTS) == 0 &&
		      age_ms == 0,
		  "xdp_ops.flow_counts: %d (age %llu ms)", rc, (unsigned long long)age_ms);
	ELB_CHECK(total(want) == fl.n - fl.n / 4, "%llu of %u counted", (unsigned long long)total(want),
		  fl.n);
	flows_free(&fl);
	free(want);
	free(got);
}

/* ---- 4. flows the real program made ---- */

/* Ethernet + IPv4 + TCP SYN from client i (198.51.x.y) to 10.0.0.10:80. */
static uint32_t syn_frame(uint8_t *b, uint32_t i)
{
	static const uint8_t dst_mac[6] = {2, 0, 0, 0, 0, 1}, src_mac[6] = {2, 0, 0, 0, 0, 2};

	return elb_test_tcp4_frame(b, dst_mac, src_mac, 0xc6330000u + i, (uint16_t)(20000 + i),
				   0x0a00000au, 80, ELB_TCP_SYN, 0, true);
}

static void test_real_program(void)
{
	uint64_t *want = calloc(ELB_MAX_BACKEND_SLOTS, sizeof(uint64_t));
	uint64_t *got = calloc(ELB_MAX_BACKEND_SLOTS, sizeof(uint64_t));
	struct {
		uint32_t slot, gen;
	} made[REAL_FLOWS];
	struct xdp_flow_walk walk = {.check_expiry = true};
	uint32_t removed = UINT32_MAX;
	uint8_t frame[64], out[256];
	int rc;

	if (want == NULL || got == NULL)
		abort();
	clear_flow_tables();
	dp.skel->bss->use_test_clock = 0; /* the agent's flow clock */
	dp.skel->bss->record_results = 1;
	for (uint32_t i = 0; i < REAL_FLOWS; i++) {
		uint32_t len = syn_frame(frame, i);
		struct elb_test_xdp_out res;

		/* A flow per CPU in turn; every third flow seen on two CPUs
		 * (its second packet on the next one). */
		for (int k = 0; k < (i % 3 == 0 && ncpu > 1 ? 2 : 1); k++) {
			pin_to((int)((i + (uint32_t)k) % (uint32_t)ncpu));
			memset(&dp.skel->bss->last_result, 0, sizeof(dp.skel->bss->last_result));
			if (elb_test_xdp_run(bpf_program__fd(dp.skel->progs.edgelb_xdp), frame, len,
					     out, sizeof(out), &res))
				exit(1);
			ELB_CHECK(res.action == XDP_TX && dp.skel->bss->last_result.new_flow,
				  "flow %u: action %u", i, res.action);
		}
		made[i].slot = dp.skel->bss->last_result.backend_slot;
		made[i].gen = dp.snap->backends[made[i].slot].gen;
	}
	pin_to(0);
	for (int step = 0; step < 2; step++) {
		memset(want, 0, sizeof(*want) * ELB_MAX_BACKEND_SLOTS);
		/* A flow seen on two CPUs is in both tables, on the same pick:
		 * counted in each. */
		for (uint32_t i = 0; i < REAL_FLOWS; i++)
			if (dp.snap->backends[made[i].slot].gen == made[i].gen)
				want[made[i].slot] += i % 3 == 0 && ncpu > 1 ? 2 : 1;
		memset(got, 0, sizeof(*got) * ELB_MAX_BACKEND_SLOTS);
		walk.tick_given = false;
		rc = count_live(&walk, got);
		ELB_CHECK(rc == 0 && memcmp(got, want, sizeof(*want) * ELB_MAX_BACKEND_SLOTS) == 0,
			  "step %d: the %s, on the agent's clock", step, walk_name());
		compare(step == 0 ? "flows of the real program"
				  : "flows of the real program, a backend removed",
			(struct xdp_flow_walk){true, true, walk.now_tick}, want);
		if (step == 0) {
			/* Remove 10.200.0.2: its flows name an emptied slot. */
			for (uint32_t s = 0; s < dp.snap->n_backend_slots; s++)
				if (dp.snap->backends[s].gen && dp.snap->backends[s].vip_index == 0 &&
				    dp.snap->backends[s].addr.v4 == htonl(0x0ac80002))
					removed = s;
			ELB_CHECK(removed != UINT32_MAX && want[removed] > 0, "10.200.0.2's flows");
			if (apply(B(1) ", " B(3) ", " B(4) ", " B(5)))
				exit(1);
		}
	}
	ELB_CHECK(removed != UINT32_MAX && want[removed] == 0, "the removed backend's flows counted");
	free(want);
	free(got);
}

/* With the iterator loaded: taken away (an old kernel), the batch lookup
 * counts alike, and status.get says so. */
static void test_fallback(void)
{
	struct flow_count_bpf *fc = dp.flow_count;
	uint64_t *by_iter = calloc(ELB_MAX_BACKEND_SLOTS, sizeof(uint64_t));
	uint64_t *by_batch = calloc(ELB_MAX_BACKEND_SLOTS, sizeof(uint64_t));
	cJSON *status = cJSON_CreateObject();
	uint64_t age_ms = 0;
	int rc;

	if (by_iter == NULL || by_batch == NULL || status == NULL)
		abort();
	rc = xdp_ops.flow_counts(&dp, dp.snap, by_iter, &age_ms);
	ELB_CHECK(rc == 0, "with the iterator: %d", rc);
	dp.flow_count = NULL;
	snprintf(dp.flow_count_err, sizeof(dp.flow_count_err), "(test) not loaded");
	rc = xdp_ops.flow_counts(&dp, dp.snap, by_batch, &age_ms);
	ELB_CHECK(rc == 0, "without the iterator: %d", rc);
	ELB_CHECK(memcmp(by_iter, by_batch, sizeof(uint64_t) * ELB_MAX_BACKEND_SLOTS) == 0 &&
		      total(by_batch) > 0,
		  "the fallback counts otherwise (%llu flows)", (unsigned long long)total(by_batch));
	xdp_ops.status(&dp, status);
	ELB_CHECK(strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(status, "flow_count")),
		     "batch_lookup") == 0 &&
		      cJSON_GetObjectItem(status, "flow_count_error") != NULL,
		  "status.get without the iterator");
	dp.flow_count = fc;
	dp.flow_count_err[0] = '\0';
	cJSON_Delete(status);
	free(by_iter);
	free(by_batch);
	printf("without the iterator: the batch lookup, and status.get says so\n");
}

/* ---- 0. which walk counts: the iterator, unless the kernel is in lockdown ---- */

static bool locked_down;

static void test_status(void)
{
	cJSON *status = cJSON_CreateObject();

	xdp_ops.status(&dp, status);
	if (locked_down) {
		const char *e = cJSON_GetStringValue(cJSON_GetObjectItem(status, "flow_count_error"));

		ELB_CHECK(dp.flow_count == NULL, "the kernel is in lockdown, yet the iterator loaded");
		ELB_CHECK(e != NULL && strstr(e, "Operation not permitted") && strstr(e, "lockdown"),
			  "status.get flow_count_error: %s", e ? e : "(none)");
		printf("%d possible CPUs; kernel lockdown: the iterator is refused (%s): every case "
		       "on the batch lookup\n",
		       ncpu, e ? e : "");
	} else {
		ELB_CHECK(dp.flow_count != NULL, "the flow-count iterator did not load: %s",
			  dp.flow_count_err);
		printf("%d possible CPUs; the iterator loaded and attached in %.1f ms\n", ncpu,
		       (double)dp.flow_count_load_ns / 1e6);
	}
	ELB_CHECK(strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(status, "flow_count")),
			 dp.flow_count ? "iterator" : "batch_lookup") == 0,
		  "status.get flow_count");
	cJSON_Delete(status);
}

/* Without the iterator there is nothing to fall back from. */
static void test_fallback_if_iterator(void)
{
	if (dp.flow_count != NULL)
		test_fallback();
}

int main(void)
{
	static const struct elb_test_case cases[] = {
		ELB_TEST(test_status),
		ELB_TEST(test_crafted),
		ELB_TEST(test_agent_clock),
		ELB_TEST(test_real_program),
		ELB_TEST(test_fallback_if_iterator),
		ELB_TEST_END,
	};
	static const uint8_t mac[6] = ELB_REPLAY_DEFAULT_MAC;
	int rc;

	if (geteuid() != 0) {
		fprintf(stderr, "SKIP: loading BPF programs needs root\n");
		return 77;
	}
	ncpu = libbpf_num_possible_cpus();
	if (ncpu <= 0)
		return 1;
	memcpy(dp.iface_mac, mac, 6);
	dp.ifname = "(test, not attached)"; /* the agent's walk: expiry checked */
	if (xdp_dataplane_load(&dp, MAP_FLOWS, NULL) || xdp_dataplane_start(&dp))
		return errno == EPERM ? 77 : 1;
	locked_down = kernel_locked_down();
	/* 10.200.0.6 added and removed: an empty slot among the snapshot's. */
	if (apply(B(1) ", " B(2) ", " B(3) ", " B(4) ", " B(5) ", " B(6)) ||
	    apply(B(1) ", " B(2) ", " B(3) ", " B(4) ", " B(5)))
		return 1;

	/* In this order: each case starts from the flows the last left. */
	rc = elb_test_run("xdp_flow_count", cases);
	xdp_dataplane_close(&dp);
	elb_dp_config_free(in_force);
	if (rc == 0)
		printf("%s counted as expected\n",
		       dp.flow_count ? "the iterator and the batch lookup" : "the batch lookup");
	return rc;
}
