/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * flow.explain on the XDP dataplane (dataplane/xdp/xdp_explain.c), on the
 * real program: bpf/edgelb.bpf.c loaded and configured through xdp_maps
 * and xdp_ops.apply as edgelb-xdp does, run with BPF_PROG_TEST_RUN on the
 * test clock as the replay runs it. Each explanation must predict exactly
 * what the next real run of the live program does with the same frame
 * (verdict, reason, backend, new flow, output bytes), and must leave the
 * live program's flows, counters and globals as they were:
 *   1. a SYN of a new flow: a miss, FORWARD;
 *   2. established flows after a backend is added (those Maglev now sends
 *      elsewhere stay on their backend) and after one is removed (its flows
 *      are re-picked);
 *   3. a rate-limited VIP: explain says before each packet of a sequence
 *      whether it is dropped as rate_limited;
 *   4. not for a VIP -> KERNEL, malformed -> DROP with its reason, a frame
 *      the kernel does not run -> an error;
 *   5. a flow held by several CPUs: holders, and the CPU whose entry is
 *      used (the one expiring last; expired copies do not count);
 *   6. and, against a frame built independently (tests/lib), the bytes the
 *      live program sends for a SYN;
 *   7. second chance: after a backend is added to a GUE VIP with
 *      second_chance, a mid-connection packet (ACK) of a flow whose Maglev
 *      slot moved carries the slot's previous owner as alternate (GUE
 *      variant 0, checked byte by byte), one whose slot did not move none,
 *      and a SYN none;
 *   8. admission control (a VIP with a /32 packets/s limit and a new-flow
 *      budget): new flows within the budget, flood mode (stateless), a
 *      source over its limit, and flood mode left after a quiet window;
 *      each explanation predicts the live run, and its rendered admission
 *      section ("decided", flow.explain's JSON) says what the live run did.
 *      The live budget state and the source's cells are among what
 *      explain must not change; counters.get's flood object counts the
 *      live runs' flood mode.
 *   9. QUIC routing by connection ID (a plaintext QUIC-LB VIP): an Initial
 *      goes by the 5-tuple; a 1-RTT packet of the same flow whose CID (built
 *      here from the draft's layout) names another server goes there, its
 *      flow re-pinned; the same CID from a new address too; a server ID no
 *      backend has and config ID 0b111 go by the 5-tuple. The rendered
 *      "quic" section names the outcome and backend the live run took,
 *      and the rendering is consistent.
 * Needs root (CAP_BPF); exits 77 (skipped) without it.
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
#include "elb_explain.h"
#include "elb_explain_run.h"
#include "elb_maglev.h"
#include "elb_replay_options.h"
#include "xdp.h"
#include "xdp_test.h"
/* The skeleton names core types: they are defined above. */
#include "edgelb.skel.h"

#define MS 1000000ull
#define T0 (10000 * MS) /* the test clock starts at 10 s */
#define FLOWS 64
#define FRAME_OUT_MAX (ELB_EXPLAIN_FRAME_MAX + ELB_EXPLAIN_HEADROOM)

static const char *const config_base =
	"{\"node\": {\"source_v4\": \"192.168.10.1\", \"source_v6\": \"fd00::1\","
	"            \"gateway_mac\": \"02:00:00:00:00:fe\"},"
	" \"vips\": ["
	"  {\"address\": \"10.0.0.10\", \"port\": 80, \"protocol\": \"tcp\", \"mtu\": 1500,"
	"   \"backends\": [%s]},"
	"  {\"address\": \"10.0.0.11\", \"port\": 80, \"protocol\": \"tcp\", \"mtu\": 1500,"
	"   \"rate_limit\": {\"packets_per_s\": 10, \"packet_burst\": 3},"
	"   \"backends\": [{\"address\": \"10.200.0.1\"}]}]}";
/* Test 7: VIP 10.0.0.10's backends as test 2 left them, and a GUE VIP
 * with second chance whose backends are the format's argument. */
static const char *const config_second_chance =
	"{\"node\": {\"source_v4\": \"192.168.10.1\", \"source_v6\": \"fd00::1\","
	"            \"gateway_mac\": \"02:00:00:00:00:fe\"},"
	" \"vips\": ["
	"  {\"address\": \"10.0.0.10\", \"port\": 80, \"protocol\": \"tcp\", \"mtu\": 1500,"
	"   \"backends\": [{\"address\": \"10.200.0.1\"}, {\"address\": \"10.200.0.3\"},"
	"                {\"address\": \"10.200.0.4\"}]},"
	"  {\"address\": \"10.0.0.11\", \"port\": 80, \"protocol\": \"tcp\", \"mtu\": 1500,"
	"   \"rate_limit\": {\"packets_per_s\": 10, \"packet_burst\": 3},"
	"   \"backends\": [{\"address\": \"10.200.0.1\"}]},"
	"  {\"address\": \"10.0.0.12\", \"port\": 80, \"protocol\": \"tcp\", \"mtu\": 1500,"
	"   \"encap\": \"gue\", \"second_chance\": true, \"backends\": [%s]},"
	/* Test 8. */
	"  {\"address\": \"10.0.0.13\", \"port\": 80, \"protocol\": \"tcp\", \"mtu\": 1500,"
	"   \"admission\": {\"new_flows_per_s\": 2, \"new_flow_burst\": 2,"
	"     \"sources\": [{\"prefix_len\": 32, \"packets_per_s\": 10, \"packet_burst\": 4}]},"
	"   \"backends\": [{\"address\": \"10.202.0.1\"}, {\"address\": \"10.202.0.2\"}]},"
	/* Test 9: QUIC-LB plaintext, server IDs 0101..0103, 6-octet nonces. */
	"  {\"address\": \"10.0.0.14\", \"port\": 443, \"protocol\": \"udp\", \"mtu\": 1500,"
	"   \"quic\": {\"server_id_length\": 2, \"configs\": [{\"id\": 0, \"nonce_length\": 6}]},"
	"   \"backends\": [{\"address\": \"10.203.0.1\", \"quic_server_id\": \"0101\"},"
	"                {\"address\": \"10.203.0.2\", \"quic_server_id\": \"0102\"},"
	"                {\"address\": \"10.203.0.3\", \"quic_server_id\": \"0103\"}]}]}";
#define SC(n) "{\"address\": \"10.201.0." #n "\"}"
#define SC_BACKENDS_3 SC(1) ", " SC(2) ", " SC(3)
#define SC_BACKENDS_4 SC_BACKENDS_3 ", " SC(4)

/* The backends of 10.0.0.10:80 in each step of test 2. */
#define B(n) "{\"address\": \"10.200.0." #n "\"}"
#define BACKENDS_3 B(1) ", " B(2) ", " B(3)
#define BACKENDS_4 BACKENDS_3 ", " B(4)
#define BACKENDS_WITHOUT_2 B(1) ", " B(3) ", " B(4)

static struct xdp_dataplane dp;
/* The config in force: the dataplane may point into it until the next apply. */
static struct elb_dp_config *in_force;
static uint64_t epoch;

struct frame {
	uint8_t b[128];
	uint32_t len;
};

static const uint8_t frame_dst_mac[6] = {2, 0, 0, 0, 0, 1}, frame_src_mac[6] = {2, 0, 0, 0, 0, 2};

/* A dotted IPv4 address in host order. */
static uint32_t ipv4_host(const char *dotted)
{
	struct in_addr a = {0};

	inet_pton(AF_INET, dotted, &a);
	return ntohl(a.s_addr);
}

/* Ethernet + IPv4 (DF) + TCP, 10 payload bytes, from tests/lib's builder. */
static struct frame tcp_frame(const char *src, const char *dst, uint16_t sport, uint16_t dport,
			      uint8_t flags)
{
	struct frame f;

	memset(&f, 0, sizeof(f));
	f.len = elb_test_tcp4_frame(f.b, frame_dst_mac, frame_src_mac, ipv4_host(src), sport,
				    ipv4_host(dst), dport, flags, 10, true);
	return f;
}

static struct frame client(unsigned int i, uint8_t flags)
{
	char src[32];

	snprintf(src, sizeof(src), "198.51.100.%u", 1 + i % 200);
	return tcp_frame(src, "10.0.0.10", (uint16_t)(20000 + i), 80, flags);
}

/* ---- what explain must not change: the live maps the program writes, and its globals ---- */

struct dump {
	uint8_t *b;
	size_t len, cap;
};

static void dump_add(struct dump *d, const void *p, size_t n)
{
	if (d->len + n > d->cap) {
		d->cap = (d->len + n) * 2;
		d->b = realloc(d->b, d->cap);
		if (d->b == NULL)
			abort();
	}
	memcpy(d->b + d->len, p, n);
	d->len += n;
}

static void dump_percpu(struct dump *d, int fd, const void *key, size_t value_size)
{
	size_t n = (size_t)libbpf_num_possible_cpus() * xdp_percpu_stride(value_size);
	uint8_t *v = calloc(1, n);

	if (v == NULL)
		abort();
	if (bpf_map_lookup_elem(fd, key, v) == 0)
		dump_add(d, v, n);
	free(v);
}

/* Test 8's source, whose cells in every CPU's sketch explain must not
 * change; 0 before test 8. */
static uint32_t admission_source;
#define ADMISSION_VIP_INDEX 3

/* The live cells of admission_source's key under each limit of the
 * admission VIP, in every CPU's region. */
static void dump_source_cells(struct dump *d)
{
	const struct elb_vip *v = &dp.snap->vips[ADMISSION_VIP_INDEX];
	int fd = bpf_map__fd(dp.skel->maps.source_cells);
	union elb_addr src = {.v4 = admission_source};

	for (uint32_t l = 0; admission_source && l < v->n_source_limits; l++) {
		struct elb_source_key key;

		elb_source_key_of(&src, &v->source_limits[l], v->index, &key);
		for (uint32_t r = 0; r < ELB_SOURCE_ROWS; r++)
			for (int cpu = 0; cpu < libbpf_num_possible_cpus(); cpu++) {
				uint32_t at = elb_xdp_source_cell(
					(uint32_t)cpu,
					elb_source_cell_index(&dp.snap->source_keys, &key, r,
							      ELB_SOURCE_COLUMN_BITS_DEFAULT));
				struct elb_source_cell c;

				if (bpf_map_lookup_elem(fd, &at, &c) == 0)
					dump_add(d, &c, sizeof(c));
			}
	}
}

static struct dump live_state(void)
{
	struct dump d = {0};
	uint32_t zero = 0;

	/* Every CPU's flow table, key and value of each flow. */
	for (int cpu = 0; cpu < dp.flows.n; cpu++) {
		int fd = dp.flows.fds[cpu];
		struct elb_flow_id k, nk;
		struct elb_xdp_flow v;
		void *cursor = NULL;

		dump_add(&d, &cpu, sizeof(cpu));
		while (bpf_map_get_next_key(fd, cursor, &nk) == 0) {
			k = nk;
			cursor = &k;
			dump_add(&d, &k, sizeof(k));
			if (bpf_map_lookup_elem(fd, &k, &v) == 0)
				dump_add(&d, &v, sizeof(v));
		}
	}
	dump_percpu(&d, bpf_map__fd(dp.skel->maps.counters), &zero,
		    sizeof(struct elb_worker_counters));
	for (uint32_t i = 0; i < 4; i++)
		dump_percpu(&d, bpf_map__fd(dp.skel->maps.vip_counters), &i,
			    sizeof(struct elb_vip_counters));
	for (uint32_t s = 0; s < 16; s++)
		dump_percpu(&d, bpf_map__fd(dp.skel->maps.backend_counters), &s,
			    sizeof(struct elb_backend_counters));
	for (uint32_t i = 0; i < 4; i++)
		dump_percpu(&d, bpf_map__fd(dp.skel->maps.flow_budgets), &i,
			    sizeof(struct elb_flow_budget_state));
	dump_source_cells(&d);
	dump_add(&d, dp.skel->bss, sizeof(*dp.skel->bss));
	return d;
}

/* ---- the two runs ---- */

struct live {
	struct elb_pipeline_result res;
	uint8_t out[FRAME_OUT_MAX];
	uint32_t out_len;
	uint32_t retval;
};

static struct live live_run(const struct frame *f, uint64_t now_ns)
{
	struct elb_test_xdp_out out;
	struct live l;

	memset(&l, 0, sizeof(l));
	dp.skel->bss->test_now_ns = now_ns;
	memset(&dp.skel->bss->last_result, 0, sizeof(dp.skel->bss->last_result));
	if (elb_test_xdp_run(bpf_program__fd(dp.skel->progs.edgelb_xdp), f->b, f->len, l.out,
			     sizeof(l.out), &out))
		exit(1);
	l.res = dp.skel->bss->last_result;
	l.out_len = out.len;
	l.retval = out.action;
	return l;
}

/* Explain f at now_ns; checks that nothing live moved. */
static int explain(const struct frame *f, uint64_t now_ns, struct elb_explain_run *run)
{
	struct dump before = live_state(), after;
	char err[256] = "";
	int rc;

	dp.explain_now_ns = now_ns;
	rc = xdp_ops.explain(&dp, f->b, f->len, run, err, sizeof(err));
	after = live_state();
	ELB_CHECK(before.len == after.len && memcmp(before.b, after.b, before.len) == 0,
		  "explain changed the live flows, counters or globals");
	ELB_CHECK(rc == 0 || err[0], "an error without a reason");
	if (rc)
		fprintf(stderr, "  (explain: %s)\n", err);
	free(before.b);
	free(after.b);
	return rc;
}

/* Explain, then the live run: the same decision and the same bytes. */
static struct live explain_then_run(const struct frame *f, uint64_t now_ns,
				    struct elb_explain_run *run, const char *what)
{
	struct live l;
	int rc = explain(f, now_ns, run);

	ELB_CHECK(rc == 0, "%s: explain failed: %d", what, rc);
	l = live_run(f, now_ns);
	ELB_CHECK(memcmp(&run->result, &l.res, sizeof(l.res)) == 0,
		  "%s: explained verdict %u reason %u slot %u new %u out %u; live %u %u %u %u %u", what,
		  run->result.verdict, run->result.reason, run->result.backend_slot,
		  run->result.new_flow, run->result.out_len, l.res.verdict, l.res.reason,
		  l.res.backend_slot, l.res.new_flow, l.res.out_len);
	if (l.res.verdict == ELB_VERDICT_FORWARD || l.res.verdict == ELB_VERDICT_REPLY)
		ELB_CHECK(l.out_len == run->result.out_len &&
			      memcmp(l.out, run->out, l.out_len) == 0,
			  "%s: output frames differ", what);
	ELB_CHECK(run->now_ns == now_ns, "%s: explained at %llu", what,
		  (unsigned long long)run->now_ns);
	ELB_CHECK(strcmp(run->where_name, "cpu") == 0, "%s: where_name", what);
	return l;
}

static int apply(const char *backends)
{
	return xdp_test_apply(&dp, config_base, backends, &in_force, &epoch);
}

/* The slot of backend addr of VIP index vip. */
static uint32_t slot_in(uint16_t vip, const char *addr)
{
	union elb_addr a = {0};

	inet_pton(AF_INET, addr, &a.v4);
	for (uint32_t s = 0; s < dp.snap->n_backend_slots; s++)
		if (dp.snap->backends[s].gen && dp.snap->backends[s].vip_index == vip &&
		    dp.snap->backends[s].addr.v4 == a.v4)
			return s;
	return UINT32_MAX;
}

static uint32_t slot_of(const char *addr)
{
	return slot_in(0, addr);
}

/* What Maglev picks now for f (of VIP 0): to find the flows a change moves. */
static uint32_t maglev_now(const struct frame *f)
{
	struct elb_packet pkt;
	const struct elb_vip *v = &dp.snap->vips[0];

	memset(&pkt, 0, sizeof(pkt));
	elb_parse(f->b, f->b + f->len, &pkt);
	return v->maglev[elb_maglev_slot(elb_flow_hash(&pkt.key, &dp.snap->seed), v->maglev_size)];
}

/* 1. */
static void test_miss(void)
{
	struct frame f = client(1000, ELB_TCP_SYN);
	struct elb_explain_run *run = calloc(1, sizeof(*run));
	struct live l;

	l = explain_then_run(&f, T0, run, "miss");
	ELB_CHECK(!run->flow.found && run->flow.holders == 0, "miss: found %d", run->flow.found);
	ELB_CHECK(run->result.verdict == ELB_VERDICT_FORWARD && run->result.new_flow == 1,
		  "miss: verdict %u new_flow %u", run->result.verdict, run->result.new_flow);
	ELB_CHECK(l.retval == XDP_TX, "miss: live action %u", l.retval);
	/* The live run made the flow: explained again, it is found. */
	f = client(1000, ELB_TCP_ACK);
	explain_then_run(&f, T0 + MS, run, "miss, then hit");
	ELB_CHECK(run->flow.found && run->flow.state == ELB_FLOW_TCP_SYN &&
		      run->flow.backend_slot == l.res.backend_slot && run->result.new_flow == 0,
		  "second packet: found %d state %u slot %u", run->flow.found, run->flow.state,
		  run->flow.backend_slot);
	/* SYN timeout 5 s (rounded up to a 16.78 ms tick), from T0, seen 1 ms later. */
	ELB_CHECK(run->flow.expires_in_ms >= 4980 && run->flow.expires_in_ms <= 5020,
		  "expires_in_ms %lld", (long long)run->flow.expires_in_ms);
	free(run);
}

/* 2. */
static void test_backend_changes(void)
{
	struct elb_explain_run *run = calloc(1, sizeof(*run));
	uint32_t slot[FLOWS], moved = 0, removed_slot, repicked = 0;
	uint64_t now = T0 + 1000 * MS;

	for (unsigned int i = 0; i < FLOWS; i++) {
		struct frame syn = client(i, ELB_TCP_SYN), ack = client(i, ELB_TCP_ACK);

		slot[i] = live_run(&syn, now).res.backend_slot;
		live_run(&ack, now);
	}
	if (apply(BACKENDS_4)) {
		CU_FAIL("apply: 4 backends");
		goto out;
	}
	now += MS;
	for (unsigned int i = 0; i < FLOWS; i++) {
		struct frame ack = client(i, ELB_TCP_ACK);

		if (maglev_now(&ack) == slot[i])
			continue;
		moved++;
		explain_then_run(&ack, now, run, "added backend");
		ELB_CHECK(run->flow.found && run->flow.state == ELB_FLOW_TCP_ESTABLISHED &&
			      run->flow.backend_slot == slot[i] && run->result.backend_slot == slot[i] &&
			      run->result.new_flow == 0,
			  "flow %u after the add: found %d state %u slot %u->%u new %u", i,
			  run->flow.found, run->flow.state, run->flow.backend_slot,
			  run->result.backend_slot, run->result.new_flow);
	}
	ELB_CHECK(moved > 0, "adding a backend moved no Maglev pick of %d flows", FLOWS);

	removed_slot = slot_of("10.200.0.2");
	ELB_CHECK(removed_slot != UINT32_MAX, "no slot for 10.200.0.2");
	if (apply(BACKENDS_WITHOUT_2)) {
		CU_FAIL("apply: without 10.200.0.2");
		goto out;
	}
	ELB_CHECK(slot_of("10.200.0.2") == UINT32_MAX, "10.200.0.2 still configured");
	now += MS;
	for (unsigned int i = 0; i < FLOWS; i++) {
		struct frame ack = client(i, ELB_TCP_ACK);

		if (slot[i] != removed_slot)
			continue;
		repicked++;
		explain_then_run(&ack, now, run, "removed backend");
		ELB_CHECK(run->flow.found && run->flow.backend_slot == removed_slot &&
			      run->result.new_flow == 1 && run->result.backend_slot != removed_slot &&
			      run->result.verdict == ELB_VERDICT_FORWARD,
			  "flow %u after the removal: found %d slot %u->%u new %u", i, run->flow.found,
			  run->flow.backend_slot, run->result.backend_slot, run->result.new_flow);
	}
	ELB_CHECK(repicked > 0, "no flow was on 10.200.0.2");
	printf("backend changes: %u flows moved by Maglev kept, %u re-picked\n", moved, repicked);
out:
	free(run);
}

/* 3. 10 packets/s, burst 3: GCRA admits at 0, 1, 2 ms, refuses 3..5 ms,
 * admits at 150 ms (1.5 packets refilled), refuses at 151, admits at 500. */
static void test_rate_limit(void)
{
	static const struct {
		uint64_t at_ms;
		bool limited;
	} seq[] = {{0, false},   {1, false},   {2, false}, {3, true},   {4, true},
		   {5, true},    {150, false}, {151, true}, {500, false}};
	struct elb_explain_run *run = calloc(1, sizeof(*run));
	uint64_t base = T0 + 2000 * MS;
	unsigned int limited = 0;

	for (size_t i = 0; i < sizeof(seq) / sizeof(seq[0]); i++) {
		struct frame f = tcp_frame("198.51.100.77", "10.0.0.11", 40000, 80,
					   i == 0 ? ELB_TCP_SYN : ELB_TCP_ACK);
		struct live l = explain_then_run(&f, base + seq[i].at_ms * MS, run, "rate limit");
		bool said = run->result.verdict == ELB_VERDICT_DROP &&
			    run->result.reason == ELB_REASON_RATE_LIMITED;

		ELB_CHECK(said == seq[i].limited, "packet %zu at %llu ms: explain says limited %d", i,
			  (unsigned long long)seq[i].at_ms, said);
		ELB_CHECK((l.res.reason == ELB_REASON_RATE_LIMITED) == seq[i].limited,
			  "packet %zu: live says reason %u", i, l.res.reason);
		ELB_CHECK(i == 0 || (run->flow.found && run->flow.bucket.pkt_tat != 0),
			  "packet %zu: the flow's bucket is not reported", i);
		limited += said;
	}
	ELB_CHECK(limited == 4, "%u packets limited", limited);
	free(run);
}

/* 4. */
static void test_kernel_and_malformed(void)
{
	struct elb_explain_run *run = calloc(1, sizeof(*run));
	struct frame f = tcp_frame("198.51.100.5", "10.0.0.99", 1234, 80, ELB_TCP_SYN);
	struct live l;
	char err[256] = "";

	l = explain_then_run(&f, T0 + 3000 * MS, run, "not a VIP");
	ELB_CHECK(run->result.verdict == ELB_VERDICT_KERNEL && l.retval == XDP_PASS,
		  "not a VIP: verdict %u, action %u", run->result.verdict, l.retval);
	ELB_CHECK(!run->flow.found, "not a VIP: a flow found");

	f.b[12] = 0x08;
	f.b[13] = 0x06; /* ARP */
	explain_then_run(&f, T0 + 3000 * MS, run, "ARP");
	ELB_CHECK(run->result.verdict == ELB_VERDICT_KERNEL, "ARP: verdict %u", run->result.verdict);

	f = client(5, ELB_TCP_SYN);
	f.b[14] = 0x44; /* IHL 4: shorter than an IPv4 header */
	l = explain_then_run(&f, T0 + 3000 * MS, run, "malformed");
	ELB_CHECK(run->result.verdict == ELB_VERDICT_DROP && run->result.reason != ELB_REASON_NONE &&
		      l.retval == XDP_DROP,
		  "malformed: verdict %u reason %u", run->result.verdict, run->result.reason);
	printf("malformed: dropped as %s\n", elb_reason_name(run->result.reason));

	f.len = 10; /* shorter than Ethernet: the kernel does not run it */
	ELB_CHECK(xdp_ops.explain(&dp, f.b, f.len, run, err, sizeof(err)) < 0 && err[0],
		  "a 10-byte frame was explained");
	free(run);
}

/* 5. One flow in two CPUs' tables (written here, as a change of RSS would make them):
 * the explanation is the run on the CPU it names. */
static void test_cpus(void)
{
	int ncpu = dp.flows.n;
	int here = sched_getcpu(), other = here == 0 ? 1 : 0;
	struct elb_explain_run *run = calloc(1, sizeof(*run));
	struct frame f = client(7777, ELB_TCP_ACK);
	uint64_t now = T0 + 4000 * MS;
	uint32_t tick = elb_flow_tick(now), s1 = slot_of("10.200.0.1"), s3 = slot_of("10.200.0.3");
	struct elb_xdp_flow *on_here, *on_other;
	struct elb_flow_id id;
	struct elb_packet pkt;
	struct elb_xdp_flow *v = calloc((size_t)ncpu, sizeof(*v));

	if (ncpu < 2 || here < 0 || other >= ncpu) {
		printf("one CPU: the several-CPU case is not tested\n");
		goto out;
	}
	memset(&pkt, 0, sizeof(pkt));
	elb_parse(f.b, f.b + f.len, &pkt);
	ELB_CHECK(xdp_flow_id_of(bpf_map__fd(dp.skel->maps.vips), &pkt.key, &id) == 0,
		  "the frame's VIP");
	on_here = &v[here];
	on_other = &v[other];
	on_here->state = on_other->state = ELB_FLOW_TCP_ESTABLISHED;
	on_here->backend_id = s1;
	on_other->backend_id = s3;
	on_here->backend_gen = dp.snap->backends[s1].gen;
	on_other->backend_gen = dp.snap->backends[s3].gen;
	on_here->expiry = tick + 100;
	on_other->expiry = tick - 1; /* expired */
	ELB_CHECK(xdp_flow_tables_update(&dp.flows, &id, v) == 0, "writing the flow");
	explain_then_run(&f, now, run, "two CPUs, one expired");
	ELB_CHECK(run->flow.found && run->flow.holders == 1 && run->flow.where == here &&
		      run->result.backend_slot == s1 && run->result.new_flow == 0,
		  "one live copy: holders %u where %u slot %u", run->flow.holders, run->flow.where,
		  run->result.backend_slot);

	/* Both live: the one expiring last is used, here the other CPU's. */
	on_here->expiry = tick + 100;
	on_other->expiry = tick + 200;
	ELB_CHECK(xdp_flow_tables_update(&dp.flows, &id, v) == 0, "writing the flow");
	if (pin_to(other) == 0) {
		explain_then_run(&f, now, run, "two live copies");
		pin_to(here);
	} else {
		ELB_CHECK(explain(&f, now, run) == 0, "explain");
	}
	ELB_CHECK(run->flow.found && run->flow.holders == 2 && run->flow.where == other &&
		      run->flow.backend_slot == s3 && run->result.backend_slot == s3,
		  "two live copies: holders %u where %u slot %u", run->flow.holders, run->flow.where,
		  run->result.backend_slot);
out:
	free(v);
	free(run);
}

/* 6. The bytes themselves, against expectations built independently of
 * the dataplane (tests/lib): a SYN to 10.0.0.11:80, whose one backend is
 * 10.200.0.1, leaves IP-in-IP from the node's source_v4 to the gateway. */
static void test_forward_bytes(void)
{
	static const uint8_t iface_mac[6] = ELB_REPLAY_DEFAULT_MAC;
	static const uint8_t gateway_mac[6] = {2, 0, 0, 0, 0, 0xfe};
	struct frame f = tcp_frame("198.51.100.99", "10.0.0.11", 41000, 80, ELB_TCP_SYN);
	uint8_t want[sizeof(f.b) + 20];
	uint32_t want_len;

	/* Long after test 3: the VIP's bucket is full again. */
	dp.skel->bss->test_now_ns = T0 + 60000 * MS;
	want_len = elb_test_ipip4_frame(want, gateway_mac, iface_mac, 0xc0a80a01 /* 192.168.10.1 */,
					0x0ac80001 /* 10.200.0.1 */, f.b + ETH_HDR_LEN,
					f.len - ETH_HDR_LEN);
	ELB_ASSERT_XDP(bpf_program__fd(dp.skel->progs.edgelb_xdp), f.b, f.len, XDP_TX, want,
		       want_len);
}

/* The snapshot's index of the VIP at this IPv4 address. */
static uint16_t vip_index_of(const char *addr)
{
	union elb_addr a = {0};

	inet_pton(AF_INET, addr, &a.v4);
	for (uint16_t v = 0; v < dp.snap->n_vips; v++)
		if (dp.snap->vips[v].addr.v4 == a.v4)
			return v;
	return ELB_NO_VIP;
}

/* What Maglev picks now for f of VIP v. */
static uint32_t maglev_now_of(const struct frame *f, uint16_t v)
{
	struct elb_packet pkt;
	const struct elb_vip *vip = &dp.snap->vips[v];

	memset(&pkt, 0, sizeof(pkt));
	elb_parse(f->b, f->b + f->len, &pkt);
	return vip->maglev[elb_maglev_slot(elb_flow_hash(&pkt.key, &dp.snap->seed),
					   vip->maglev_size)];
}

/* 7. */
static void test_second_chance(void)
{
	/* GUE header (version 0, Hlen 2, proto 4, no flags), then edgelb's
	 * private data: magic, type second chance, 1 hop left, IPv4. */
	static const uint8_t gue[8] = {0x02, 4, 0, 0, 0xEB, 1, 1, 4};
	struct elb_explain_run *run = calloc(1, sizeof(*run));
	uint32_t before[FLOWS], with_alternate = 0, without = 0;
	uint64_t now = T0 + 70000 * MS;
	uint16_t v;

	if (xdp_test_apply(&dp, config_second_chance, SC_BACKENDS_3, &in_force, &epoch)) {
		CU_FAIL("apply: second-chance VIP");
		goto out;
	}
	v = vip_index_of("10.0.0.12");
	ELB_CHECK(v != ELB_NO_VIP, "no VIP 10.0.0.12");
	for (unsigned int i = 0; i < FLOWS; i++) {
		struct frame ack = tcp_frame("198.51.101.7", "10.0.0.12", (uint16_t)(30000 + i), 80,
					     ELB_TCP_ACK);

		before[i] = maglev_now_of(&ack, v);
	}
	if (xdp_test_apply(&dp, config_second_chance, SC_BACKENDS_4, &in_force, &epoch)) {
		CU_FAIL("apply: a backend added to the second-chance VIP");
		goto out;
	}
	for (unsigned int i = 0; i < FLOWS; i++) {
		struct frame ack = tcp_frame("198.51.101.7", "10.0.0.12", (uint16_t)(30000 + i), 80,
					     ELB_TCP_ACK);
		struct frame syn = tcp_frame("198.51.101.8", "10.0.0.12", (uint16_t)(30000 + i), 80,
					     ELB_TCP_SYN);
		bool moved = maglev_now_of(&ack, v) != before[i];
		struct live l = explain_then_run(&ack, now, run, "second chance, ACK");

		ELB_CHECK(!run->flow.found && run->result.verdict == ELB_VERDICT_FORWARD &&
			      run->result.midstream == 1 && run->result.has_alternate == moved,
			  "flow %u: found %d verdict %u midstream %u alternate %u (moved %d)", i,
			  run->flow.found, run->result.verdict, run->result.midstream,
			  run->result.has_alternate, moved);
		if (moved && run->result.has_alternate) {
			ELB_CHECK(run->result.alternate_slot == before[i],
				  "flow %u: alternate slot %u, owner before the change %u", i,
				  run->result.alternate_slot, before[i]);
			/* Ethernet, outer IPv4, UDP, then GUE and the alternate. */
			ELB_CHECK(l.out_len == ack.len + 20 + 8 + 12 &&
					  memcmp(l.out + 14 + 20 + 8, gue, sizeof(gue)) == 0 &&
					  memcmp(l.out + 14 + 20 + 8 + 8,
						 &dp.snap->backends[before[i]].addr.v4, 4) == 0 &&
					  memcmp(l.out + 14 + 20 + 8 + 12, ack.b + 14, ack.len - 14) == 0,
				  "flow %u: not GUE variant 0 naming the previous owner", i);
			with_alternate++;
		} else if (!moved) {
			ELB_CHECK(l.out_len == ack.len + 20 + 8 &&
					  memcmp(l.out + 14 + 20 + 8, ack.b + 14, ack.len - 14) == 0,
				  "flow %u: not GUE variant 1", i);
			without++;
		}
		/* A SYN starts the connection where it lands: never an alternate. */
		explain_then_run(&syn, now, run, "second chance, SYN");
		ELB_CHECK(run->result.midstream == 0 && run->result.has_alternate == 0,
			  "flow %u: SYN midstream %u alternate %u", i, run->result.midstream,
			  run->result.has_alternate);
	}
	ELB_CHECK(with_alternate > 0 && without > 0, "second chance: %u with, %u without alternate",
		  with_alternate, without);
	printf("second chance: %u mid-stream packets with an alternate, %u without\n",
	       with_alternate, without);
out:
	free(run);
}

/* 8. */

/* flow.explain's admission "decided" for run (of frame f), and whether the
 * rendering found it consistent with the run's result. */
static bool admission_decided(const struct frame *f, const struct elb_explain_run *run,
			      char *decided, size_t len)
{
	cJSON *out = cJSON_CreateObject(), *adm, *d, *consistent;
	bool ok = false;

	decided[0] = '\0';
	if (out && elb_explain_render(out, dp.snap, NULL, f->b, f->len, run, false) == 0) {
		adm = cJSON_GetObjectItem(out, "admission");
		d = adm ? cJSON_GetObjectItem(adm, "decided") : NULL;
		consistent = cJSON_GetObjectItem(out, "consistent");
		if (cJSON_IsString(d))
			snprintf(decided, len, "%s", d->valuestring);
		ok = cJSON_IsTrue(consistent);
	}
	cJSON_Delete(out);
	return ok;
}

/* counters.get's flood object of the admission VIP after test 8's live
 * runs: entered once, two new flows forwarded without an entry, left. */
static void check_flood_counters(void)
{
	struct elb_dp_vip_key key = {.family = ELB_AF_INET, .proto = ELB_IPPROTO_TCP, .port = 80};
	cJSON *out = cJSON_CreateObject(), *vips, *vip, *flood;

	inet_pton(AF_INET, "10.0.0.13", &key.addr.v4);
	ELB_CHECK(out && xdp_counters_json(&dp, out, &key) == 0, "counters.get failed");
	vips = cJSON_GetObjectItem(out, "vips");
	vip = cJSON_GetArrayItem(vips, 0);
	flood = vip ? cJSON_GetObjectItem(vip, "flood") : NULL;
	ELB_CHECK(cJSON_GetArraySize(vips) == 1 && flood != NULL, "no flood object");
	if (flood != NULL) {
		/* Counts are written as raw JSON numbers: compared as text. */
		char *text = cJSON_PrintUnformatted(flood);

		ELB_CHECK(text && strcmp(text, "{\"active\":false,\"workers_active\":0,"
					       "\"entries\":1,\"stateless_flows\":2}") == 0,
			  "flood counters: %s", text ? text : "?");
		free(text);
	}
	cJSON_Delete(out);
}

static void test_admission(void)
{
	/* Budget 2/s, burst 2; the source 10/s, burst 4 packets. From the
	 * limits alone: at one instant two new flows get entries, the next
	 * two are stateless (flood mode), the fifth packet is over the
	 * source's burst; 3 s later (past two flood windows, the source's
	 * bucket refilled) a new flow leaves flood mode and an established
	 * flow's packet is admitted. */
	static const struct {
		uint64_t at_ms;
		uint16_t sport;
		uint8_t flags;
		const char *decided;
		uint8_t verdict, stateless, new_flow;
	} seq[] = {
		{0, 1, ELB_TCP_SYN, "admitted", ELB_VERDICT_FORWARD, 0, 1},
		{0, 2, ELB_TCP_SYN, "admitted", ELB_VERDICT_FORWARD, 0, 1},
		{0, 3, ELB_TCP_SYN, "flood_mode_no_entry", ELB_VERDICT_FORWARD, 1, 0},
		{0, 4, ELB_TCP_SYN, "flood_mode_no_entry", ELB_VERDICT_FORWARD, 1, 0},
		{0, 5, ELB_TCP_SYN, "source_rate_limited", ELB_VERDICT_DROP, 0, 0},
		{3000, 6, ELB_TCP_SYN, "admitted", ELB_VERDICT_FORWARD, 0, 1},
		{3001, 1, ELB_TCP_ACK, "admitted", ELB_VERDICT_FORWARD, 0, 0},
	};
	struct elb_explain_run *run = calloc(1, sizeof(*run));
	uint64_t base = T0 + 10000 * MS;
	int cpu_before = sched_getcpu();

	/* A new flow's admission state is explained from CPU 0's (which CPU
	 * RSS gives a new flow is not known): the live runs go there. */
	ELB_CHECK(pin_to(0) == 0, "cannot run on CPU 0");
	admission_source = htonl(0xc6336441); /* 198.51.100.65 */
	ELB_CHECK(dp.snap->vips[ADMISSION_VIP_INDEX].flow_budget.interval != 0,
		  "VIP index %u is not the admission VIP", ADMISSION_VIP_INDEX);
	for (size_t i = 0; i < sizeof(seq) / sizeof(seq[0]); i++) {
		struct frame f = tcp_frame("198.51.100.65", "10.0.0.13", seq[i].sport, 80,
					   seq[i].flags);
		struct live l = explain_then_run(&f, base + seq[i].at_ms * MS, run, "admission");
		char decided[64];

		ELB_CHECK(admission_decided(&f, run, decided, sizeof(decided)),
			  "packet %zu: the rendering is not consistent with the run", i);
		ELB_CHECK(strcmp(decided, seq[i].decided) == 0, "packet %zu: decided %s, not %s", i,
			  decided, seq[i].decided);
		ELB_CHECK(l.res.verdict == seq[i].verdict && l.res.stateless == seq[i].stateless &&
				  l.res.new_flow == seq[i].new_flow,
			  "packet %zu: live verdict %u reason %u stateless %u new_flow %u", i,
			  l.res.verdict, l.res.reason, l.res.stateless, l.res.new_flow);
		if (seq[i].verdict == ELB_VERDICT_DROP)
			ELB_CHECK(l.res.reason == ELB_REASON_SOURCE_RATE_LIMITED,
				  "packet %zu: reason %u", i, l.res.reason);
	}
	admission_source = 0;
	pin_to(cpu_before < 0 ? 0 : cpu_before);
	free(run);
	check_flood_counters();
}

/* 9. */

#define QUIC_BACKENDS 3

/* A UDP datagram to the QUIC VIP. */
static struct frame quic_frame(const char *src, uint16_t sport, const uint8_t *payload,
			       uint32_t len)
{
	struct frame f;

	memset(&f, 0, sizeof(f));
	f.len = elb_test_udp4_frame(f.b, frame_dst_mac, frame_src_mac, ipv4_host(src), sport,
				    ipv4_host("10.0.0.14"), 443, payload, len);
	return f;
}

/* A 1-RTT packet whose DCID is the draft's plaintext CID of config ID
 * config_id: first octet (config ID, then the length that follows), the
 * server ID 01 sid, a 6-octet nonce; then protected bytes. */
static struct frame quic_short(const char *src, uint16_t sport, uint8_t config_id, uint8_t sid)
{
	uint8_t p[30] = {0x41, (uint8_t)(config_id << 5 | 8), 0x01, sid, 0xa1, 0xa2, 0xa3, 0xa4,
			 0xa5, 0xa6};

	for (uint32_t i = 10; i < sizeof(p); i++)
		p[i] = (uint8_t)(0x30 + i);
	return quic_frame(src, sport, p, sizeof(p));
}

/* The rendered "quic" section's outcome and backend, and whether the
 * rendering is consistent with the run. */
static bool quic_rendered(const struct frame *f, const struct elb_explain_run *run,
			  char *outcome, char *backend, size_t len)
{
	cJSON *out = cJSON_CreateObject(), *q, *o, *b;
	bool ok = false;

	outcome[0] = backend[0] = '\0';
	if (out && elb_explain_render(out, dp.snap, NULL, f->b, f->len, run, false) == 0) {
		q = cJSON_GetObjectItem(out, "quic");
		o = q ? cJSON_GetObjectItem(q, "outcome") : NULL;
		b = q ? cJSON_GetObjectItem(q, "backend") : NULL;
		if (cJSON_IsString(o))
			snprintf(outcome, len, "%s", o->valuestring);
		if (cJSON_IsString(b))
			snprintf(backend, len, "%s", b->valuestring);
		ok = cJSON_IsTrue(cJSON_GetObjectItem(out, "consistent"));
	}
	cJSON_Delete(out);
	return ok;
}

static void test_quic(void)
{
	/* A v1 Initial: DCID 8 octets the client chose, no SCID, no token. */
	static const uint8_t initial[32] = {0xc3, 0, 0, 0, 1, 8, 0x11, 0x22, 0x33, 0x44,
					    0x55, 0x66, 0x77, 0x88, 0, 0, 0x42};
	static const char *const addrs[QUIC_BACKENDS] = {"10.203.0.1", "10.203.0.2", "10.203.0.3"};
	struct elb_explain_run *run = calloc(1, sizeof(*run));
	uint64_t now = T0 + 90000 * MS;
	uint16_t v = vip_index_of("10.0.0.14");
	char outcome[64], backend[64];
	uint32_t first, server = 0;
	struct frame f;
	struct live l;

	ELB_CHECK(v != ELB_NO_VIP && dp.snap->vips[v].quic != NULL, "no QUIC VIP");
	if (v == ELB_NO_VIP)
		goto out;
	/* 1. The Initial: the 5-tuple's pick. */
	f = quic_frame("198.51.100.90", 5000, initial, sizeof(initial));
	l = explain_then_run(&f, now, run, "quic initial");
	ELB_CHECK(quic_rendered(&f, run, outcome, backend, sizeof(outcome)), "initial: inconsistent");
	ELB_CHECK(strcmp(outcome, "client_cid") == 0 && backend[0] == '\0', "initial: %s %s",
		  outcome, backend);
	ELB_CHECK(l.res.verdict == ELB_VERDICT_FORWARD && l.res.new_flow &&
			  l.res.backend_slot == maglev_now_of(&f, v),
		  "initial: verdict %u slot %u", l.res.verdict, l.res.backend_slot);
	first = l.res.backend_slot;
	/* 2. A server other than the one the Initial reached: re-pinned. */
	for (uint32_t i = 0; i < QUIC_BACKENDS; i++)
		if (slot_in(v, addrs[i]) != first)
			server = i;
	f = quic_short("198.51.100.90", 5000, 0, (uint8_t)(server + 1));
	l = explain_then_run(&f, now + MS, run, "quic repin");
	ELB_CHECK(quic_rendered(&f, run, outcome, backend, sizeof(outcome)), "repin: inconsistent");
	ELB_CHECK(strcmp(outcome, "by_cid") == 0 && strcmp(backend, addrs[server]) == 0,
		  "repin: %s %s, the CID names %s", outcome, backend, addrs[server]);
	ELB_CHECK(l.res.backend_slot == slot_in(v, addrs[server]) && !l.res.new_flow,
		  "repin: live slot %u new_flow %u", l.res.backend_slot, l.res.new_flow);
	/* 3. The client moved: a new flow, the same server. */
	f = quic_short("198.51.100.91", 6000, 0, (uint8_t)(server + 1));
	l = explain_then_run(&f, now + 2 * MS, run, "quic moved");
	ELB_CHECK(quic_rendered(&f, run, outcome, backend, sizeof(outcome)), "moved: inconsistent");
	ELB_CHECK(strcmp(outcome, "by_cid") == 0 && l.res.new_flow &&
			  l.res.backend_slot == slot_in(v, addrs[server]),
		  "moved: %s slot %u", outcome, l.res.backend_slot);
	/* 4, 5. Server ID 0109 (no backend), config ID 0b111: the 5-tuple. */
	for (uint32_t k = 0; k < 2; k++) {
		f = quic_short(k ? "198.51.100.93" : "198.51.100.92", 7000, k ? 7 : 0, 9);
		l = explain_then_run(&f, now + 3 * MS, run, "quic fallback");
		ELB_CHECK(quic_rendered(&f, run, outcome, backend, sizeof(outcome)),
			  "fallback %u: inconsistent", k);
		ELB_CHECK(strcmp(outcome, k ? "no_config_codepoint" : "unknown_server") == 0 &&
				  backend[0] == '\0' && l.res.backend_slot == maglev_now_of(&f, v),
			  "fallback %u: %s slot %u", k, outcome, l.res.backend_slot);
	}
out:
	free(run);
}

/* The vips entry of 10.0.0.14:443/udp: its flags. */
static uint8_t quic_vip_flags(void)
{
	struct elb_xdp_vip_key k = {.port = htons(443), .proto = 17, .family = 4};
	struct elb_xdp_vip value = {0};

	k.addr.v4 = htonl(ipv4_host("10.0.0.14"));
	if (bpf_map_lookup_elem(bpf_map__fd(dp.skel->maps.vips), &k, &value))
		return 0;
	return value.encap_flags;
}

static struct elb_xdp_quic vip_quic_entry(uint32_t index)
{
	struct elb_xdp_quic x;

	memset(&x, 0, sizeof(x));
	ELB_CHECK(bpf_map_lookup_elem(bpf_map__fd(dp.skel->maps.vip_quic), &index, &x) == 0,
		  "vip_quic[%u]", index);
	return x;
}

/* Test 10: a key rotated under the same config ID is written to the VIP's
 * vip_quic entry not in force, which the vips entry then names (the one in
 * force left as it was, for packets already reading it); a change that
 * leaves QUIC as it is keeps the bank; and what a restart over the maps
 * reads back (xdp_maps_read_prev) has the QUIC routing in force, for
 * flow.explain before the first configuration. */
static void test_quic_banks(void)
{
	static const char *const plain = "{\"id\": 0, \"nonce_length\": 6}";
	static const char *const keys[2] = {"8f95f09245765f80256934e50c66207f",
					    "fdf726a9893ec05c0632d3956680baf0"};
	static const uint8_t key_octets[2][16] = {
		{0x8f, 0x95, 0xf0, 0x92, 0x45, 0x76, 0x5f, 0x80, 0x25, 0x69, 0x34, 0xe5, 0x0c, 0x66,
		 0x20, 0x7f},
		{0xfd, 0xf7, 0x26, 0xa9, 0x89, 0x3e, 0xc0, 0x5c, 0x06, 0x32, 0xd3, 0x95, 0x66, 0x80,
		 0xba, 0xf0}};
	struct elb_explain_run *run = calloc(1, sizeof(*run));
	uint16_t v = vip_index_of("10.0.0.14");
	const char *at = strstr(config_second_chance, plain);
	uint64_t now = T0 + 95000 * MS;
	char fmt[4096], outcome[64], backend[64];
	struct elb_snapshot *back = NULL;
	uint8_t flags, bank;
	uint32_t max_gen;

	ELB_CHECK(v != ELB_NO_VIP && at != NULL, "no QUIC VIP");
	if (v == ELB_NO_VIP || at == NULL)
		goto out;
	flags = quic_vip_flags();
	ELB_CHECK(flags & ELB_XDP_VIP_QUIC, "flags %#x", flags);
	bank = (flags & ELB_XDP_VIP_QUIC_BANK) != 0;
	for (uint32_t r = 0; r < 2; r++) {
		struct elb_xdp_quic before = vip_quic_entry(elb_xdp_quic_index(v, flags)), now_in, left;
		struct elb_quic_lb_config want;
		uint8_t sid[2] = {1, 3}, nonce[14], cid[17], payload[40] = {0x41};
		struct frame f;
		struct live l;

		/* Config 0 of single pass under keys[r]: the same config ID. */
		snprintf(fmt, sizeof(fmt), "%.*s{\"id\": 0, \"nonce_length\": 14, \"key\": \"%s\"}%s",
			 (int)(at - config_second_chance), config_second_chance, keys[r],
			 at + strlen(plain));
		if (xdp_test_apply(&dp, fmt, SC_BACKENDS_4, &in_force, &epoch)) {
			ELB_CHECK(0, "rotation %u: apply", r);
			break;
		}
		flags = quic_vip_flags();
		ELB_CHECK(((flags & ELB_XDP_VIP_QUIC_BANK) != 0) == !bank,
			  "rotation %u: the bank did not flip (flags %#x)", r, flags);
		bank = !bank;
		now_in = vip_quic_entry(elb_xdp_quic_index(v, flags));
		left = vip_quic_entry(elb_xdp_quic_index(v, flags ^ ELB_XDP_VIP_QUIC_BANK));
		elb_quic_lb_config_init(&want, 2, 14, key_octets[r]);
		ELB_CHECK(memcmp(&now_in.configs[0], &want, sizeof(want)) == 0,
			  "rotation %u: the entry in force is not the new configuration", r);
		ELB_CHECK(memcmp(&left, &before, sizeof(left)) == 0,
			  "rotation %u: the entry that was in force changed", r);
		/* A CID of backend 0103 under the new key goes there. */
		for (uint32_t i = 0; i < sizeof(nonce); i++)
			nonce[i] = (uint8_t)(r * 31 + i);
		elb_quic_lb_encode(&want, 0, sid, nonce, cid);
		memcpy(payload + 1, cid, sizeof(cid));
		f = quic_frame("198.51.100.94", (uint16_t)(7100 + r), payload, sizeof(payload));
		l = explain_then_run(&f, now + r * MS, run, "quic rotated");
		ELB_CHECK(quic_rendered(&f, run, outcome, backend, sizeof(outcome)),
			  "rotation %u: inconsistent", r);
		ELB_CHECK(strcmp(outcome, "by_cid") == 0 && strcmp(backend, "10.203.0.3") == 0 &&
				  l.res.backend_slot == slot_in(v, "10.203.0.3"),
			  "rotation %u: %s %s", r, outcome, backend);
	}
	/* A change elsewhere: the QUIC entry stays where it is. */
	if (xdp_test_apply(&dp, fmt, SC_BACKENDS_3, &in_force, &epoch) == 0) {
		flags = quic_vip_flags();
		ELB_CHECK(((flags & ELB_XDP_VIP_QUIC_BANK) != 0) == bank,
			  "a change elsewhere flipped the bank (flags %#x)", flags);
	}
	/* What a restart over these maps reads back. */
	memset(dp.quic_bank, 0, sizeof(dp.quic_bank));
	ELB_CHECK(xdp_maps_read_prev(&dp, &back, &max_gen) == 0 && back != NULL, "read back");
	if (back == NULL)
		goto out;
	ELB_CHECK(dp.quic_bank[v] == bank, "read back: bank %u, the vips entry names %u",
		  dp.quic_bank[v], bank);
	ELB_CHECK(back->vips[v].quic != NULL, "read back: no QUIC routing");
	if (back->vips[v].quic) {
		const struct elb_vip_quic *q = back->vips[v].quic, *live = dp.snap->vips[v].quic;

		ELB_CHECK(memcmp(q->configs, live->configs, sizeof(q->configs)) == 0 &&
				  q->server_id_len == live->server_id_len,
			  "read back: configurations differ");
		for (uint32_t b = 0; b < 3; b++) {
			uint8_t sid[ELB_QUIC_SERVER_ID_MAX] = {1, (uint8_t)(b + 1)};
			char addr[32];

			snprintf(addr, sizeof(addr), "10.203.0.%u", b + 1);
			ELB_CHECK(elb_quic_server_find(q, sid) == slot_in(v, addr),
				  "read back: server ID 01%02x", b + 1);
		}
	}
	elb_snapshot_free(back);
out:
	free(run);
}

int main(void)
{
	static const struct elb_test_case cases[] = {
		ELB_TEST(test_miss),
		ELB_TEST(test_backend_changes),
		ELB_TEST(test_rate_limit),
		ELB_TEST(test_kernel_and_malformed),
		ELB_TEST(test_cpus),
		ELB_TEST(test_forward_bytes),
		ELB_TEST(test_second_chance),
		ELB_TEST(test_admission),
		ELB_TEST(test_quic),
		ELB_TEST(test_quic_banks),
		ELB_TEST_END,
	};
	static const uint8_t mac[6] = ELB_REPLAY_DEFAULT_MAC;
	struct timespec t0, t1;
	int rc;

	if (geteuid() != 0) {
		fprintf(stderr, "SKIP: loading BPF programs needs root\n");
		return 77;
	}
	/* One live flow table for the live runs, as in the replay. */
	if (pin_to(sched_getcpu() < 0 ? 0 : sched_getcpu())) {
		perror("sched_setaffinity");
		return 1;
	}
	memcpy(dp.iface_mac, mac, 6);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (xdp_dataplane_load(&dp, 4096, NULL) || xdp_dataplane_start(&dp))
		return errno == EPERM ? 77 : 1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (dp.explain == NULL) {
		fprintf(stderr, "the explain instance did not load: %s\n", dp.explain_err);
		return 1;
	}
	/* The start-up cost of explain, for the record. */
	printf("load and start: %.1f ms, of which the explain instance %.1f ms\n",
	       (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6,
	       (double)dp.explain_load_ns / 1e6);
	if (apply(BACKENDS_3))
		return 1;
	dp.skel->bss->use_test_clock = 1;
	dp.skel->bss->record_results = 1;
	dp.explain_test_clock = true;

	/* In this order: each case starts from the flows and config the last left. */
	rc = elb_test_run("xdp_explain", cases);
	xdp_dataplane_close(&dp);
	elb_dp_config_free(in_force);
	if (rc == 0)
		printf("all explanations matched the live runs; nothing live changed\n");
	return rc;
}
