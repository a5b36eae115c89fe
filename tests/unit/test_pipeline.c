/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The per-packet pipeline (elb_pipeline.h): parse, VIP lookup, flow table,
 * Maglev pick, token bucket, encapsulation or ICMP too-big, with verdicts,
 * reasons and counters.
 *
 * Snapshots and workers are built by hand as the control thread would (see
 * tools/bench/edgelb_bench.c). Input frames and expected output frames are
 * built with the test library's frame builder (elb_test_frames.h, pktgen's
 * wire code and its own RFC 1071 checksum); neither the parser nor the
 * encapsulation writer is used to produce an expected value.
 *
 * Addresses: VIP 10.100.0.1:80/tcp (index 0), node 192.0.2.1, backends
 * 10.0.0.11, .12, .13 in slots 0, 1, 2; clients 198.51.100.x. MACs: our port
 * 02:00:00:00:00:01, the router that sent the input 02:00:00:00:00:fe, the
 * gateway toward the backends 02:00:00:00:00:02.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "elb_maglev.h"
#include "elb_pipeline.h"
#include "elb_prefix_table.h"
#include "elb_test.h"
#include "elb_test_frames.h"
#include "test_maglev_fill.h"

#define HEADROOM 128
#define FRAME_MAX 2048
#define BUF_SIZE (HEADROOM + FRAME_MAX)
#define SENTINEL 0xa5
#define N_BACKENDS 3
#define SKETCH_BITS 10 /* source sketch: 1,024 columns per row */
#define FLOW_CAPACITY 4096
#define T0 1000000000ull /* 1 s: an arbitrary clock origin */

#define VIP_ADDR 0x0a640001u /* 10.100.0.1 */
#define VIP2_ADDR 0x0a640002u
#define VIP3_ADDR 0x0a640003u
#define NODE_ADDR 0xc0000201u   /* 192.0.2.1 */
#define BACKEND0 0x0a00000bu    /* 10.0.0.11 */
#define CLIENT 0xc633640au      /* 198.51.100.10 */
#define ROUTER 0xcb0071feu      /* 203.0.113.254 */
#define OTHER_ADDR 0x0a640063u /* 10.100.0.99: no VIP */

static const uint8_t port_mac[6] = {0x02, 0, 0, 0, 0, 0x01};
static const uint8_t router_mac[6] = {0x02, 0, 0, 0, 0, 0xfe};
static const uint8_t gateway_mac[6] = {0x02, 0, 0, 0, 0, 0x02};

/* ---- independent helpers --------------------------------------------------------------- */

static uint32_t backend_ip(uint32_t slot)
{
	return BACKEND0 + slot;
}

static uint8_t *buf_new(void)
{
	uint8_t *b = aligned_alloc(64, BUF_SIZE);

	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	memset(b, SENTINEL, BUF_SIZE);
	return b;
}

/* Ethernet from the router to our port. */
static uint32_t put_eth(uint8_t *f, uint16_t type)
{
	return (uint32_t)write_eth_addrs(f, port_mac, router_mac, type);
}

static uint32_t build_tcp4(uint8_t *f, uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport,
			   uint8_t flags, uint32_t payload, bool df)
{
	return elb_test_tcp4_frame(f, port_mac, router_mac, src, sport, dst, dport, flags, payload,
				   df);
}

/*
 * The expected forwarded frame: Ethernet port -> gateway, outer IPv4 node ->
 * backend (TOS and ID of the inner, DF copied, TTL 64, protocol 4), then
 * the inner IP packet unchanged.
 */
static uint32_t expect_ipip(uint8_t *want, const uint8_t *inner, uint32_t inner_len,
			    uint32_t backend)
{
	return elb_test_ipip4_frame(want, gateway_mac, port_mac, NODE_ADDR, backend, inner,
				    inner_len);
}

/* ---- fixture --------------------------------------------------------------------------- */

struct fixture {
	struct elb_snapshot *snap;
	struct elb_worker w;
	void *flow_mem;
	void *owned[16]; /* tables and snapshots to free */
	unsigned n_owned;
};

static void *fx_own(struct fixture *fx, void *p)
{
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	CU_ASSERT_FATAL(fx->n_owned < 16);
	fx->owned[fx->n_owned++] = p;
	return p;
}

/* Maglev table of a VIP from the snapshot's slots (test_maglev_fill.h). */
static uint32_t *build_maglev(struct fixture *fx, const struct elb_snapshot *snap,
			      uint16_t vip_index, uint32_t size)
{
	uint32_t *table = fx_own(fx, malloc(sizeof(uint32_t) * size));

	test_maglev_fill(table, size, snap, vip_index);
	return table;
}

static struct elb_snapshot *snap_clone(struct fixture *fx, const struct elb_snapshot *src)
{
	struct elb_snapshot *s = fx_own(fx, malloc(sizeof(*s)));

	memcpy(s, src, sizeof(*s));
	s->backends = fx_own(fx, malloc(sizeof(*s->backends) * ELB_MAX_BACKEND_SLOTS));
	memcpy(s->backends, src->backends, sizeof(*s->backends) * ELB_MAX_BACKEND_SLOTS);
	s->epoch++;
	return s;
}

static void vip_setup(struct elb_vip *vip, uint16_t index, uint32_t addr, uint16_t port,
		      uint8_t proto, const uint32_t *maglev, uint32_t size)
{
	memset(vip, 0, sizeof(*vip));
	vip->addr.v4 = htonl(addr);
	vip->port = htons(port);
	vip->proto = proto;
	vip->family = ELB_AF_INET;
	vip->index = index;
	vip->mtu = 1500;
	vip->maglev_size = size;
	vip->maglev = maglev;
	CU_ASSERT_EQUAL_FATAL(elb_flow_timeouts_init(&vip->timeouts, ELB_FLOW_TIMEOUT_SYN_MS,
						     ELB_FLOW_TIMEOUT_ESTABLISHED_MS,
						     ELB_FLOW_TIMEOUT_CLOSING_MS,
						     ELB_FLOW_TIMEOUT_UDP_MS),
			      0);
}

static void fx_init(struct fixture *fx, uint32_t maglev_size)
{
	struct elb_snapshot *s;
	size_t mem_size;

	memset(fx, 0, sizeof(*fx));
	s = fx->snap = fx_own(fx, calloc(1, sizeof(*s)));
	s->backends = fx_own(fx, calloc(ELB_MAX_BACKEND_SLOTS, sizeof(*s->backends)));
	s->epoch = 1;
	s->seed = (struct elb_hash_seed){ELB_HASH_SEED_DEFAULT_K0, ELB_HASH_SEED_DEFAULT_K1};
	elb_source_keys_init(&s->source_keys, &s->seed);
	s->source_v4.v4 = htonl(NODE_ADDR);
	memcpy(s->gateway_mac, gateway_mac, 6);
	for (uint32_t i = 0; i < N_BACKENDS; i++) {
		struct elb_backend_slot *b = &s->backends[i];

		b->addr.v4 = htonl(backend_ip(i));
		b->family = ELB_AF_INET;
		b->gen = i + 1;
		b->vip_index = 0;
		b->state = ELB_BACKEND_ACTIVE;
		b->weight = 1;
	}
	s->n_backend_slots = N_BACKENDS;
	vip_setup(&s->vips[0], 0, VIP_ADDR, 80, ELB_IPPROTO_TCP, build_maglev(fx, s, 0, maglev_size),
		  maglev_size);
	s->n_vips = 1;
	elb_vip_lookup_clear(s);
	CU_ASSERT_EQUAL_FATAL(elb_vip_lookup_insert(s, &s->vips[0]), 0);

	mem_size = elb_flow_table_mem_size(FLOW_CAPACITY);
	fx->flow_mem = aligned_alloc(64, mem_size);
	CU_ASSERT_PTR_NOT_NULL_FATAL(fx->flow_mem);
	CU_ASSERT_EQUAL_FATAL(elb_flow_table_init(&fx->w.flows, fx->flow_mem, mem_size,
						  FLOW_CAPACITY),
			      0);
	memcpy(fx->w.port_mac, port_mac, 6);
	fx->w.vip_counters = calloc(ELB_MAX_VIPS, sizeof(*fx->w.vip_counters));
	fx->w.backend_counters = calloc(ELB_MAX_BACKEND_SLOTS, sizeof(*fx->w.backend_counters));
	CU_ASSERT_PTR_NOT_NULL_FATAL(fx->w.vip_counters);
	CU_ASSERT_PTR_NOT_NULL_FATAL(fx->w.backend_counters);
	fx->w.flow_budgets = calloc(ELB_MAX_VIPS, sizeof(*fx->w.flow_budgets));
	fx->w.source_column_bits = SKETCH_BITS;
	fx->w.source_cells = calloc(1, ELB_SOURCE_SKETCH_BYTES(SKETCH_BITS));
	CU_ASSERT_PTR_NOT_NULL_FATAL(fx->w.flow_budgets);
	CU_ASSERT_PTR_NOT_NULL_FATAL(fx->w.source_cells);
}

static void fx_fini(struct fixture *fx)
{
	free(fx->w.vip_counters);
	free(fx->w.backend_counters);
	free(fx->w.flow_budgets);
	free(fx->w.source_cells);
	free(fx->flow_mem);
	while (fx->n_owned)
		free(fx->owned[--fx->n_owned]);
}

/*
 * Build a TCP frame to dst:dport, run it and return the result. For a
 * FORWARD to a slot of an IPv4 backend, checks head_move, out_len and the
 * output bytes against the hand-built expectation.
 */
static struct elb_pipeline_result send_tcp(struct fixture *fx, const struct elb_snapshot *snap,
					   uint32_t src, uint16_t sport, uint32_t dst,
					   uint16_t dport, uint8_t flags, uint32_t payload, bool df,
					   uint64_t now)
{
	struct elb_pipeline_result res;
	uint8_t *buf = buf_new(), *want = buf_new();
	uint8_t *frame = buf + HEADROOM;
	uint8_t *inner = malloc(FRAME_MAX);
	uint32_t len = build_tcp4(frame, src, sport, dst, dport, flags, payload, df);

	CU_ASSERT_PTR_NOT_NULL_FATAL(inner);
	memcpy(inner, frame + 14, len - 14);
	elb_pipeline_run(&fx->w, snap, frame, len, HEADROOM, now, &res);
	if (res.verdict == ELB_VERDICT_FORWARD) {
		uint32_t want_len;

		CU_ASSERT_EQUAL(res.head_move, -20);
		CU_ASSERT_EQUAL(res.out_len, 14 + 20 + len - 14);
		CU_ASSERT_FATAL(res.backend_slot < snap->n_backend_slots);
		want_len = expect_ipip(want, inner, len - 14,
				       ntohl(snap->backends[res.backend_slot].addr.v4));
		ELB_ASSERT_BYTES(frame + res.head_move, res.out_len, want, want_len);
	}
	free(inner);
	free(want);
	free(buf);
	return res;
}

/* ---- cases ----------------------------------------------------------------------------- */

/* 1. A SYN to the VIP: forwarded in IP-in-IP to the picked backend. */
static void check_syn_forwarded(uint32_t maglev_size)
{
	struct fixture fx;
	struct elb_pipeline_result res;
	uint8_t *buf = buf_new(), *want = buf_new();
	uint8_t *frame = buf + HEADROOM;
	uint8_t inner[40];
	uint32_t len, want_len, slot;

	fx_init(&fx, maglev_size);
	len = build_tcp4(frame, CLIENT, 40000, VIP_ADDR, 80, ELB_TCP_SYN, 0, true);
	CU_ASSERT_EQUAL(len, 54);
	memcpy(inner, frame + 14, 40);
	elb_pipeline_run(&fx.w, fx.snap, frame, len, HEADROOM, T0, &res);

	CU_ASSERT_EQUAL(res.verdict, ELB_VERDICT_FORWARD);
	CU_ASSERT_EQUAL(res.reason, ELB_REASON_NONE);
	CU_ASSERT_EQUAL(res.vip_index, 0);
	CU_ASSERT_EQUAL(res.new_flow, 1);
	CU_ASSERT_EQUAL(res.head_move, -20);
	CU_ASSERT_EQUAL(res.out_len, 14 + 20 + 40);
	slot = res.backend_slot;
	CU_ASSERT_FATAL(slot < N_BACKENDS);
	want_len = expect_ipip(want, inner, 40, backend_ip(slot));
	ELB_ASSERT_BYTES(frame + res.head_move, res.out_len, want, want_len);
	/* Nothing before the new frame was touched. */
	for (uint8_t *p = buf; p < frame - 20; p++)
		CU_ASSERT_EQUAL_FATAL(*p, SENTINEL);

	CU_ASSERT_EQUAL(fx.w.counters.rx.packets, 1);
	CU_ASSERT_EQUAL(fx.w.counters.rx.bytes, 54);
	CU_ASSERT_EQUAL(fx.w.counters.verdicts[ELB_VERDICT_FORWARD].packets, 1);
	CU_ASSERT_EQUAL(fx.w.counters.verdicts[ELB_VERDICT_FORWARD].bytes, 74);
	CU_ASSERT_EQUAL(fx.w.counters.verdicts[ELB_VERDICT_DROP].packets, 0);
	CU_ASSERT_EQUAL(fx.w.counters.verdicts[ELB_VERDICT_KERNEL].packets, 0);
	CU_ASSERT_EQUAL(fx.w.counters.new_flows, 1);
	CU_ASSERT_EQUAL(fx.w.counters.flows_repicked, 0);
	CU_ASSERT_EQUAL(fx.w.vip_counters[0].rx.packets, 1);
	CU_ASSERT_EQUAL(fx.w.vip_counters[0].rx.bytes, 40);
	CU_ASSERT_EQUAL(fx.w.vip_counters[0].forwarded.packets, 1);
	CU_ASSERT_EQUAL(fx.w.vip_counters[0].forwarded.bytes, 74);
	CU_ASSERT_EQUAL(fx.w.vip_counters[0].new_flows, 1);
	for (uint32_t i = 0; i < N_BACKENDS; i++) {
		CU_ASSERT_EQUAL(fx.w.backend_counters[i].forwarded.packets, i == slot ? 1 : 0);
		CU_ASSERT_EQUAL(fx.w.backend_counters[i].forwarded.bytes, i == slot ? 74 : 0);
		CU_ASSERT_EQUAL(fx.w.backend_counters[i].new_flows, i == slot ? 1 : 0);
	}
	CU_ASSERT_EQUAL(fx.w.flows.stats.inserts, 1);
	free(want);
	free(buf);
	fx_fini(&fx);
}

static void test_syn_forwarded_m251(void)
{
	check_syn_forwarded(ELB_MAGLEV_MIN_SIZE);
}

static void test_syn_forwarded_m65537(void)
{
	check_syn_forwarded(ELB_MAGLEV_DEFAULT_SIZE);
}

/* A hand-written hex dump of case 1 for one concrete backend, as a second,
 * independent check of the byte layout (checksum worked out by hand:
 * 4500+004a+1000+4000+4004+c000+0201+0a00+000b = 1c3b0 -> c3b1 -> 3c4e). */
static void test_syn_forwarded_hex(void)
{
	static const char want_hex[] = "02 00 00 00 00 02 02 00 00 00 00 01 08 00\n"
				       "45 10 00 3c 10 00 40 00 40 04 00 00 c0 00 02 01 0a 00 00 0b\n";
	struct fixture fx;
	struct elb_pipeline_result res;
	uint8_t *buf = buf_new(), *want = buf_new();
	uint8_t *frame = buf + HEADROOM;
	uint8_t inner[40];
	size_t n;

	fx_init(&fx, ELB_MAGLEV_DEFAULT_SIZE);
	/* Only backend 0: every flow goes there. */
	fx.snap->backends[1].state = ELB_BACKEND_DRAINING;
	fx.snap->backends[2].state = ELB_BACKEND_DRAINING;
	fx.snap->vips[0].maglev = build_maglev(&fx, fx.snap, 0, ELB_MAGLEV_DEFAULT_SIZE);
	build_tcp4(frame, CLIENT, 0, VIP_ADDR, 80, ELB_TCP_SYN, 0, true);
	memcpy(inner, frame + 14, 40);
	elb_pipeline_run(&fx.w, fx.snap, frame, 54, HEADROOM, T0, &res);
	CU_ASSERT_EQUAL_FATAL(res.verdict, ELB_VERDICT_FORWARD);
	CU_ASSERT_EQUAL(res.backend_slot, 0);
	n = elb_test_hex(want_hex, want, FRAME_MAX);
	CU_ASSERT_EQUAL_FATAL(n, 34);
	/* outer checksum: ~(0x4510 + 0x003c + 0x1000 + 0x4000 + 0x4004 + 0xc000 + 0x0201 +
	 * 0x0a00 + 0x000b) */
	{
		uint32_t s = 0x4510 + 0x003c + 0x1000 + 0x4000 + 0x4004 + 0xc000 + 0x0201 +
			     0x0a00 + 0x000b;

		while (s >> 16)
			s = (s & 0xffff) + (s >> 16);
		put_be16(want + 24, (uint16_t)~s);
	}
	memcpy(want + 34, inner, 40);
	CU_ASSERT_EQUAL(res.out_len, 74);
	ELB_ASSERT_BYTES(frame + res.head_move, res.out_len, want, 74);
	free(want);
	free(buf);
	fx_fini(&fx);
}

/* 2. Later packets of a flow follow it; distinct flows spread. */
static void test_flow_sticks_and_spreads(void)
{
	struct fixture fx;
	struct elb_pipeline_result res;
	uint32_t slot, per_backend[N_BACKENDS] = {0};

	fx_init(&fx, ELB_MAGLEV_DEFAULT_SIZE);
	res = send_tcp(&fx, fx.snap, CLIENT, 40000, VIP_ADDR, 80, ELB_TCP_SYN, 0, true, T0);
	CU_ASSERT_EQUAL_FATAL(res.verdict, ELB_VERDICT_FORWARD);
	CU_ASSERT_EQUAL(res.new_flow, 1);
	slot = res.backend_slot;
	for (int i = 0; i < 5; i++) {
		res = send_tcp(&fx, fx.snap, CLIENT, 40000, VIP_ADDR, 80, ELB_TCP_ACK, 100, true,
			       T0 + (uint64_t)i * 1000000);
		CU_ASSERT_EQUAL(res.verdict, ELB_VERDICT_FORWARD);
		CU_ASSERT_EQUAL(res.backend_slot, slot);
		CU_ASSERT_EQUAL(res.new_flow, 0);
	}
	CU_ASSERT_EQUAL(fx.w.counters.new_flows, 1);
	CU_ASSERT_EQUAL(fx.w.counters.verdicts[ELB_VERDICT_FORWARD].packets, 6);
	CU_ASSERT_EQUAL(fx.w.backend_counters[slot].forwarded.packets, 6);
	CU_ASSERT_EQUAL(fx.w.backend_counters[slot].new_flows, 1);
	CU_ASSERT_EQUAL(fx.w.vip_counters[0].forwarded.packets, 6);
	CU_ASSERT_EQUAL(fx.w.flows.stats.inserts, 1);

	for (uint32_t i = 0; i < 300; i++) {
		res = send_tcp(&fx, fx.snap, CLIENT + 1 + i / 100, (uint16_t)(20000 + i), VIP_ADDR,
			       80, ELB_TCP_SYN, 0, true, T0);
		CU_ASSERT_EQUAL_FATAL(res.verdict, ELB_VERDICT_FORWARD);
		CU_ASSERT_EQUAL(res.new_flow, 1);
		per_backend[res.backend_slot]++;
	}
	for (uint32_t i = 0; i < N_BACKENDS; i++)
		CU_ASSERT(per_backend[i] >= 50);
	CU_ASSERT_EQUAL(fx.w.counters.new_flows, 301);
	CU_ASSERT_EQUAL(fx.w.vip_counters[0].new_flows, 301);
	fx_fini(&fx);
}

/* 3. A burst decides exactly as single runs do. */
static void test_burst_equals_single(void)
{
	struct fixture a, b;
	uint8_t *bufs_a[32], *bufs_b[32], *frames_a[32];
	uint32_t lens[32];
	struct elb_pipeline_result ra[32], rb[32];
	uint32_t n_fwd = 0;

	fx_init(&a, ELB_MAGLEV_DEFAULT_SIZE);
	fx_init(&b, ELB_MAGLEV_DEFAULT_SIZE);
	for (uint32_t i = 0; i < 32; i++) {
		uint8_t *f;

		bufs_a[i] = buf_new();
		f = frames_a[i] = bufs_a[i] + HEADROOM;
		if (i == 20) /* the third packet of flow 3, in the same burst */
			lens[i] = build_tcp4(f, CLIENT + 1, 30003, VIP_ADDR, 80, ELB_TCP_ACK, 10, true);
		else if (i == 22) /* a FIN of flow 5 */
			lens[i] = build_tcp4(f, CLIENT + 1, 30005, VIP_ADDR, 80,
					     ELB_TCP_FIN | ELB_TCP_ACK, 0, true);
		else if (i == 25) /* not for a VIP */
			lens[i] = build_tcp4(f, CLIENT, 30025, OTHER_ADDR, 80, ELB_TCP_SYN, 0, true);
		else if (i == 28) { /* malformed: IHL 4 */
			lens[i] = build_tcp4(f, CLIENT, 30028, VIP_ADDR, 80, ELB_TCP_SYN, 0, true);
			f[14] = 0x44;
		} else if (i == 30) /* a retransmitted SYN of flow 3 */
			lens[i] = build_tcp4(f, CLIENT + 1, 30003, VIP_ADDR, 80, ELB_TCP_SYN, 0, true);
		else
			lens[i] = build_tcp4(f, CLIENT + (i & 1), (uint16_t)(30000 + i), VIP_ADDR,
					     80, ELB_TCP_SYN, (i * 7) % 50, i & 2);
		bufs_b[i] = buf_new();
		memcpy(bufs_b[i], bufs_a[i], BUF_SIZE);
	}
	elb_pipeline_run_burst(&a.w, a.snap, frames_a, lens, 32, HEADROOM, T0, ra);
	for (uint32_t i = 0; i < 32; i++)
		elb_pipeline_run(&b.w, b.snap, bufs_b[i] + HEADROOM, lens[i], HEADROOM, T0, &rb[i]);

	for (uint32_t i = 0; i < 32; i++) {
		CU_ASSERT_EQUAL(ra[i].verdict, rb[i].verdict);
		CU_ASSERT_EQUAL(ra[i].reason, rb[i].reason);
		CU_ASSERT_EQUAL(ra[i].vip_index, rb[i].vip_index);
		CU_ASSERT_EQUAL(ra[i].backend_slot, rb[i].backend_slot);
		CU_ASSERT_EQUAL(ra[i].head_move, rb[i].head_move);
		CU_ASSERT_EQUAL(ra[i].out_len, rb[i].out_len);
		CU_ASSERT_EQUAL(ra[i].new_flow, rb[i].new_flow);
		ELB_ASSERT_BYTES(bufs_a[i], BUF_SIZE, bufs_b[i], BUF_SIZE);
		n_fwd += ra[i].verdict == ELB_VERDICT_FORWARD;
	}
	/* What the burst held, as expected. */
	CU_ASSERT_EQUAL(n_fwd, 30);
	CU_ASSERT_EQUAL(ra[25].verdict, ELB_VERDICT_KERNEL);
	CU_ASSERT_EQUAL(ra[28].verdict, ELB_VERDICT_DROP);
	CU_ASSERT_EQUAL(ra[28].reason, ELB_REASON_IPV4_BAD_IHL);
	CU_ASSERT_EQUAL(ra[20].new_flow, 0);
	CU_ASSERT_EQUAL(ra[20].backend_slot, ra[3].backend_slot);
	CU_ASSERT_EQUAL(ra[22].new_flow, 0);
	CU_ASSERT_EQUAL(ra[30].new_flow, 0);
	CU_ASSERT_EQUAL(ra[3].new_flow, 1);
	CU_ASSERT_EQUAL(a.w.counters.new_flows, 27);

	CU_ASSERT(memcmp(&a.w.counters, &b.w.counters, sizeof(a.w.counters)) == 0);
	CU_ASSERT(memcmp(a.w.vip_counters, b.w.vip_counters, sizeof(*a.w.vip_counters)) == 0);
	CU_ASSERT(memcmp(a.w.backend_counters, b.w.backend_counters,
			 sizeof(*a.w.backend_counters) * N_BACKENDS) == 0);
	CU_ASSERT_EQUAL(a.w.flows.stats.inserts, b.w.flows.stats.inserts);
	CU_ASSERT_EQUAL(a.w.flows.stats.occupancy, b.w.flows.stats.occupancy);
	for (uint32_t i = 0; i < 32; i++) {
		free(bufs_a[i]);
		free(bufs_b[i]);
	}
	fx_fini(&a);
	fx_fini(&b);
}

/* Run a frame that must go to the kernel or be dropped: the buffer is
 * compared whole before and after. */
static struct elb_pipeline_result run_untouched(struct fixture *fx, uint8_t *buf, uint32_t len)
{
	struct elb_pipeline_result res;
	uint8_t *copy = buf_new();

	memcpy(copy, buf, BUF_SIZE);
	elb_pipeline_run(&fx->w, fx->snap, buf + HEADROOM, len, HEADROOM, T0, &res);
	ELB_ASSERT_BYTES(buf, BUF_SIZE, copy, BUF_SIZE);
	free(copy);
	return res;
}

/* 4. Not for a VIP: to the kernel untouched; malformed: dropped. */
static void test_not_vip_and_malformed(void)
{
	struct fixture fx;
	struct elb_pipeline_result res;
	uint8_t *buf = buf_new();
	uint8_t *f = buf + HEADROOM;
	uint32_t len;

	fx_init(&fx, ELB_MAGLEV_MIN_SIZE);
	/* Another address. */
	len = build_tcp4(f, CLIENT, 40000, OTHER_ADDR, 80, ELB_TCP_SYN, 0, true);
	res = run_untouched(&fx, buf, len);
	CU_ASSERT_EQUAL(res.verdict, ELB_VERDICT_KERNEL);
	CU_ASSERT_EQUAL(res.vip_index, ELB_NO_VIP);
	/* Another port of the VIP's address. */
	len = build_tcp4(f, CLIENT, 40000, VIP_ADDR, 81, ELB_TCP_SYN, 0, true);
	res = run_untouched(&fx, buf, len);
	CU_ASSERT_EQUAL(res.verdict, ELB_VERDICT_KERNEL);
	/* UDP to the VIP's address and port. */
	len = build_tcp4(f, CLIENT, 40000, VIP_ADDR, 80, 0, 0, true);
	f[14 + 9] = 17;
	ipv4_fill_checksum(f + 14, 20);
	put_be16(f + 34 + 4, 20); /* UDP length */
	res = run_untouched(&fx, buf, len);
	CU_ASSERT_EQUAL(res.verdict, ELB_VERDICT_KERNEL);
	/* ARP request who-has 10.100.0.1. */
	memset(buf, SENTINEL, BUF_SIZE);
	len = put_eth(f, 0x0806);
	{
		static const uint8_t arp[28] = {0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 0xfe,
						198, 51, 100, 1, 0, 0, 0, 0, 0, 0, 10, 100, 0, 1};

		memcpy(f + len, arp, sizeof(arp));
		len += sizeof(arp);
	}
	res = run_untouched(&fx, buf, len);
	CU_ASSERT_EQUAL(res.verdict, ELB_VERDICT_KERNEL);
	CU_ASSERT_EQUAL(fx.w.counters.verdicts[ELB_VERDICT_KERNEL].packets, 4);
	CU_ASSERT_EQUAL(fx.w.counters.verdicts[ELB_VERDICT_KERNEL].bytes, 54 * 3 + 42);

	/* IPv4 IHL 4. */
	memset(buf, SENTINEL, BUF_SIZE);
	len = build_tcp4(f, CLIENT, 40000, VIP_ADDR, 80, ELB_TCP_SYN, 0, true);
	f[14] = 0x44;
	res = run_untouched(&fx, buf, len);
	CU_ASSERT_EQUAL(res.verdict, ELB_VERDICT_DROP);
	CU_ASSERT_EQUAL(res.reason, ELB_REASON_IPV4_BAD_IHL);
	CU_ASSERT_EQUAL(fx.w.counters.drops[ELB_REASON_IPV4_BAD_IHL], 1);
	CU_ASSERT_EQUAL(fx.w.counters.verdicts[ELB_VERDICT_DROP].packets, 1);
	CU_ASSERT_EQUAL(fx.w.counters.verdicts[ELB_VERDICT_DROP].bytes, 54);
	/* Version 6 in an IPv4 ethertype. */
	f[14] = 0x65;
	res = run_untouched(&fx, buf, len);
	CU_ASSERT_EQUAL(res.verdict, ELB_VERDICT_DROP);
	CU_ASSERT_EQUAL(res.reason, ELB_REASON_IPV4_BAD_VERSION);
	CU_ASSERT_EQUAL(fx.w.counters.drops[ELB_REASON_IPV4_BAD_VERSION], 1);

	CU_ASSERT_EQUAL(fx.w.counters.rx.packets, 6);
	CU_ASSERT_EQUAL(fx.w.counters.verdicts[ELB_VERDICT_FORWARD].packets, 0);
	CU_ASSERT_EQUAL(fx.w.counters.new_flows, 0);
	CU_ASSERT_EQUAL(fx.w.vip_counters[0].rx.packets, 0);
	CU_ASSERT_EQUAL(fx.w.flows.stats.inserts, 0);
	free(buf);
	fx_fini(&fx);
}

/* 5a. The flow's backend is removed: the flow is re-picked. */
static void test_backend_removed_repicks(void)
{
	struct fixture fx;
	struct elb_pipeline_result res;
	struct elb_snapshot *s2;
	uint32_t slot;

	fx_init(&fx, ELB_MAGLEV_DEFAULT_SIZE);
	res = send_tcp(&fx, fx.snap, CLIENT, 40000, VIP_ADDR, 80, ELB_TCP_SYN, 0, true, T0);
	CU_ASSERT_EQUAL_FATAL(res.verdict, ELB_VERDICT_FORWARD);
	res = send_tcp(&fx, fx.snap, CLIENT, 40000, VIP_ADDR, 80, ELB_TCP_ACK, 0, true, T0);
	CU_ASSERT_EQUAL(res.new_flow, 0);
	slot = res.backend_slot;

	s2 = snap_clone(&fx, fx.snap);
	memset(&s2->backends[slot], 0, sizeof(s2->backends[slot])); /* EMPTY, gen 0 */
	s2->vips[0].maglev = build_maglev(&fx, s2, 0, ELB_MAGLEV_DEFAULT_SIZE);

	res = send_tcp(&fx, s2, CLIENT, 40000, VIP_ADDR, 80, ELB_TCP_ACK, 10, true, T0 + 1000);
	CU_ASSERT_EQUAL_FATAL(res.verdict, ELB_VERDICT_FORWARD);
	CU_ASSERT_NOT_EQUAL(res.backend_slot, slot);
	CU_ASSERT_EQUAL(res.new_flow, 1);
	CU_ASSERT_EQUAL(fx.w.counters.flows_repicked, 1);
	CU_ASSERT_EQUAL(fx.w.counters.new_flows, 2);
	CU_ASSERT_EQUAL(fx.w.backend_counters[res.backend_slot].new_flows, 1);
	CU_ASSERT_EQUAL(fx.w.flows.stats.inserts, 1); /* the entry was reused */
	/* and stays there */
	{
		uint32_t new_slot = res.backend_slot;

		res = send_tcp(&fx, s2, CLIENT, 40000, VIP_ADDR, 80, ELB_TCP_ACK, 10, true,
			       T0 + 2000);
		CU_ASSERT_EQUAL(res.verdict, ELB_VERDICT_FORWARD);
		CU_ASSERT_EQUAL(res.backend_slot, new_slot);
		CU_ASSERT_EQUAL(res.new_flow, 0);
		CU_ASSERT_EQUAL(fx.w.counters.flows_repicked, 1);
	}
	/* New flows never land on the removed slot. */
	for (uint32_t i = 0; i < 200; i++) {
		res = send_tcp(&fx, s2, CLIENT + 7, (uint16_t)(1000 + i), VIP_ADDR, 80, ELB_TCP_SYN,
			       0, true, T0 + 3000);
		CU_ASSERT_EQUAL(res.verdict, ELB_VERDICT_FORWARD);
		CU_ASSERT_NOT_EQUAL(res.backend_slot, slot);
	}
	fx_fini(&fx);
}

/* 5b. Draining: existing flows stay, new flows go elsewhere. */
static void test_backend_draining(void)
{
	struct fixture fx;
	struct elb_pipeline_result res;
	struct elb_snapshot *s2;
	uint32_t slot, landed = 0;

	fx_init(&fx, ELB_MAGLEV_DEFAULT_SIZE);
	res = send_tcp(&fx, fx.snap, CLIENT, 40000, VIP_ADDR, 80, ELB_TCP_SYN, 0, true, T0);
	CU_ASSERT_EQUAL_FATAL(res.verdict, ELB_VERDICT_FORWARD);
	slot = res.backend_slot;
	res = send_tcp(&fx, fx.snap, CLIENT, 40000, VIP_ADDR, 80, ELB_TCP_ACK, 0, true, T0);

	s2 = snap_clone(&fx, fx.snap);
	s2->backends[slot].state = ELB_BACKEND_DRAINING;
	s2->vips[0].maglev = build_maglev(&fx, s2, 0, ELB_MAGLEV_DEFAULT_SIZE);

	for (int i = 0; i < 3; i++) {
		res = send_tcp(&fx, s2, CLIENT, 40000, VIP_ADDR, 80, ELB_TCP_ACK, 100, true,
			       T0 + 1000);
		CU_ASSERT_EQUAL(res.verdict, ELB_VERDICT_FORWARD);
		CU_ASSERT_EQUAL(res.backend_slot, slot);
		CU_ASSERT_EQUAL(res.new_flow, 0);
	}
	CU_ASSERT_EQUAL(fx.w.counters.flows_repicked, 0);
	for (uint32_t i = 0; i < 200; i++) {
		res = send_tcp(&fx, s2, CLIENT + 9, (uint16_t)(1000 + i), VIP_ADDR, 80, ELB_TCP_SYN,
			       0, true, T0 + 2000);
		CU_ASSERT_EQUAL(res.verdict, ELB_VERDICT_FORWARD);
		CU_ASSERT_EQUAL(res.new_flow, 1);
		landed += res.backend_slot == slot;
	}
	CU_ASSERT_EQUAL(landed, 0);
	CU_ASSERT_EQUAL(fx.w.backend_counters[slot].new_flows, 1);
	fx_fini(&fx);
}

/* 6. A SYN after a FIN reuses the tuple: re-picked. */
static void test_syn_after_fin_repicks(void)
{
	struct fixture fx;
	struct elb_pipeline_result res;

	fx_init(&fx, ELB_MAGLEV_DEFAULT_SIZE);
	res = send_tcp(&fx, fx.snap, CLIENT, 40000, VIP_ADDR, 80, ELB_TCP_SYN, 0, true, T0);
	CU_ASSERT_EQUAL(res.new_flow, 1);
	res = send_tcp(&fx, fx.snap, CLIENT, 40000, VIP_ADDR, 80, ELB_TCP_ACK, 0, true, T0);
	CU_ASSERT_EQUAL(res.new_flow, 0);
	res = send_tcp(&fx, fx.snap, CLIENT, 40000, VIP_ADDR, 80, ELB_TCP_FIN | ELB_TCP_ACK, 0,
		       true, T0);
	CU_ASSERT_EQUAL(res.new_flow, 0);
	/* ACKs of the teardown keep it. */
	res = send_tcp(&fx, fx.snap, CLIENT, 40000, VIP_ADDR, 80, ELB_TCP_ACK, 0, true, T0);
	CU_ASSERT_EQUAL(res.new_flow, 0);
	CU_ASSERT_EQUAL(fx.w.counters.flows_repicked, 0);
	res = send_tcp(&fx, fx.snap, CLIENT, 40000, VIP_ADDR, 80, ELB_TCP_SYN, 0, true, T0 + 1000);
	CU_ASSERT_EQUAL(res.verdict, ELB_VERDICT_FORWARD);
	CU_ASSERT_EQUAL(res.new_flow, 1);
	CU_ASSERT_EQUAL(fx.w.counters.flows_repicked, 1);
	CU_ASSERT_EQUAL(fx.w.counters.new_flows, 2);
	CU_ASSERT_EQUAL(fx.w.flows.stats.inserts, 1);
	/* A SYN on an established flow does not re-pick. */
	res = send_tcp(&fx, fx.snap, CLIENT, 40000, VIP_ADDR, 80, ELB_TCP_ACK, 0, true, T0 + 2000);
	res = send_tcp(&fx, fx.snap, CLIENT, 40000, VIP_ADDR, 80, ELB_TCP_SYN, 0, true, T0 + 3000);
	CU_ASSERT_EQUAL(res.new_flow, 0);
	CU_ASSERT_EQUAL(fx.w.counters.flows_repicked, 1);
	fx_fini(&fx);
}

/* 7. Per-flow rate limit: 10 pps, burst 5. */
static void test_rate_limit(void)
{
	struct fixture fx;
	struct elb_pipeline_result res;

	fx_init(&fx, ELB_MAGLEV_DEFAULT_SIZE);
	CU_ASSERT_EQUAL_FATAL(elb_rate_limit_init(&fx.snap->vips[0].rate_limit, 10, 5, 0, 0), 0);
	fx.snap->vips[0].rate_limited = 1;

	for (int i = 0; i < 5; i++) {
		res = send_tcp(&fx, fx.snap, CLIENT, 40000, VIP_ADDR, 80,
			       i == 0 ? ELB_TCP_SYN : ELB_TCP_ACK, 0, true, T0);
		CU_ASSERT_EQUAL(res.verdict, ELB_VERDICT_FORWARD);
	}
	for (int i = 0; i < 3; i++) {
		res = send_tcp(&fx, fx.snap, CLIENT, 40000, VIP_ADDR, 80, ELB_TCP_ACK, 0, true, T0);
		CU_ASSERT_EQUAL(res.verdict, ELB_VERDICT_DROP);
		CU_ASSERT_EQUAL(res.reason, ELB_REASON_RATE_LIMITED);
		CU_ASSERT_EQUAL(res.out_len, 0);
	}
	CU_ASSERT_EQUAL(fx.w.counters.drops[ELB_REASON_RATE_LIMITED], 3);
	CU_ASSERT_EQUAL(fx.w.vip_counters[0].drops[ELB_REASON_RATE_LIMITED], 3);
	/* Three drops, one flow over its limit. */
	CU_ASSERT_EQUAL(fx.w.vip_counters[0].rate_limited_flows, 1);
	CU_ASSERT_EQUAL(fx.w.counters.verdicts[ELB_VERDICT_DROP].packets, 3);
	CU_ASSERT_EQUAL(fx.w.counters.verdicts[ELB_VERDICT_FORWARD].packets, 5);
	CU_ASSERT_EQUAL(fx.w.vip_counters[0].rx.packets, 8);
	CU_ASSERT_EQUAL(fx.w.vip_counters[0].forwarded.packets, 5);

	/* Another flow at the same instant has its own bucket. */
	for (int i = 0; i < 5; i++) {
		res = send_tcp(&fx, fx.snap, CLIENT, 40001, VIP_ADDR, 80,
			       i == 0 ? ELB_TCP_SYN : ELB_TCP_ACK, 0, true, T0);
		CU_ASSERT_EQUAL(res.verdict, ELB_VERDICT_FORWARD);
	}

	/* 100 ms later: one token back, one packet. */
	res = send_tcp(&fx, fx.snap, CLIENT, 40000, VIP_ADDR, 80, ELB_TCP_ACK, 0, true,
		       T0 + 100000000ull);
	CU_ASSERT_EQUAL(res.verdict, ELB_VERDICT_FORWARD);
	CU_ASSERT_EQUAL(res.new_flow, 0);
	res = send_tcp(&fx, fx.snap, CLIENT, 40000, VIP_ADDR, 80, ELB_TCP_ACK, 0, true,
		       T0 + 100000000ull);
	CU_ASSERT_EQUAL(res.verdict, ELB_VERDICT_DROP);
	CU_ASSERT_EQUAL(res.reason, ELB_REASON_RATE_LIMITED);
	CU_ASSERT_EQUAL(fx.w.counters.drops[ELB_REASON_RATE_LIMITED], 4);
	CU_ASSERT_EQUAL(fx.w.vip_counters[0].rate_limited_flows, 1); /* the same flow again */
	CU_ASSERT_EQUAL(fx.w.counters.new_flows, 2);
	fx_fini(&fx);
}

/*
 * 7b. A VIP's new-flow budget (10/s, burst 3): three SYNs make entries; the
 * fourth finds the budget empty, the VIP enters flood mode and its new flows
 * go, by the same Maglev pick, to the backend a table without a budget
 * chooses, with no entry; the established flows keep theirs. A mid-stream
 * packet still makes an entry; after a quiet second, entries again.
 */
static void test_flood_mode(void)
{
	struct fixture fx, plain;
	struct elb_pipeline_result res, want;
	const struct elb_flow_budget_state *st;
	uint64_t inserts;

	fx_init(&fx, ELB_MAGLEV_DEFAULT_SIZE);
	fx_init(&plain, ELB_MAGLEV_DEFAULT_SIZE);
	CU_ASSERT_EQUAL_FATAL(elb_flow_budget_init(&fx.snap->vips[0].flow_budget, 10, 3), 0);
	st = &fx.w.flow_budgets[0];
	for (uint16_t i = 0; i < 3; i++) {
		res = send_tcp(&fx, fx.snap, CLIENT, (uint16_t)(41000 + i), VIP_ADDR, 80,
			       ELB_TCP_SYN, 0, true, T0);
		CU_ASSERT_EQUAL(res.verdict, ELB_VERDICT_FORWARD);
		CU_ASSERT_EQUAL(res.new_flow, 1);
		CU_ASSERT_EQUAL(res.stateless, 0);
	}
	inserts = fx.w.flows.stats.inserts;
	for (uint16_t i = 3; i < 40; i++) {
		res = send_tcp(&fx, fx.snap, CLIENT, (uint16_t)(41000 + i), VIP_ADDR, 80,
			       ELB_TCP_SYN, 0, true, T0 + 1000 * i);
		want = send_tcp(&plain, plain.snap, CLIENT, (uint16_t)(41000 + i), VIP_ADDR, 80,
				ELB_TCP_SYN, 0, true, T0 + 1000 * i);
		CU_ASSERT_EQUAL(res.verdict, ELB_VERDICT_FORWARD);
		CU_ASSERT_EQUAL(res.stateless, 1);
		CU_ASSERT_EQUAL(res.new_flow, 0);
		CU_ASSERT_EQUAL(res.backend_slot, want.backend_slot);
	}
	CU_ASSERT_EQUAL(fx.w.flows.stats.inserts, inserts);
	CU_ASSERT_EQUAL(st->flooding, 1);
	CU_ASSERT_EQUAL(st->flood_entries, 1);
	CU_ASSERT_EQUAL(st->flood_flows, 37);
	CU_ASSERT_EQUAL(fx.w.counters.new_flows, 3);
	/* The established flows keep their entries and backends. */
	for (uint16_t i = 0; i < 3; i++) {
		res = send_tcp(&fx, fx.snap, CLIENT, (uint16_t)(41000 + i), VIP_ADDR, 80,
			       ELB_TCP_ACK, 100, true, T0 + 500000000ull);
		CU_ASSERT_EQUAL(res.verdict, ELB_VERDICT_FORWARD);
		CU_ASSERT_EQUAL(res.new_flow, 0);
		CU_ASSERT_EQUAL(res.stateless, 0);
	}
	/* The handshake's ACK of a flood-mode flow: a mid-stream entry, on
	 * the backend its SYN went to. */
	want = send_tcp(&plain, plain.snap, CLIENT, 41005, VIP_ADDR, 80, ELB_TCP_ACK, 0, true,
			T0 + 500000000ull);
	res = send_tcp(&fx, fx.snap, CLIENT, 41005, VIP_ADDR, 80, ELB_TCP_ACK, 0, true,
		       T0 + 500000000ull);
	CU_ASSERT_EQUAL(res.new_flow, 1);
	CU_ASSERT_EQUAL(res.midstream, 1);
	CU_ASSERT_EQUAL(res.backend_slot, want.backend_slot);
	CU_ASSERT_EQUAL(fx.w.flows.stats.inserts, inserts + 1);
	/* Still flooding in this window (40 SYNs > 5); the next window had
	 * none: its first SYN makes an entry again. */
	res = send_tcp(&fx, fx.snap, CLIENT, 42000, VIP_ADDR, 80, ELB_TCP_SYN, 0, true,
		       T0 + 1500000000ull);
	CU_ASSERT_EQUAL(res.stateless, 1);
	res = send_tcp(&fx, fx.snap, CLIENT, 42001, VIP_ADDR, 80, ELB_TCP_SYN, 0, true,
		       T0 + 2600000000ull);
	CU_ASSERT_EQUAL(res.stateless, 0);
	CU_ASSERT_EQUAL(res.new_flow, 1);
	CU_ASSERT_EQUAL(st->flooding, 0);
	fx_fini(&fx);
	fx_fini(&plain);
}

/*
 * 7c. Per-source limits: 4 packets/s (burst 4) per /32 and 2 new flows/s
 * (burst 2) per /24. One client: four packets, then dropped; a third new
 * flow from its /24, from another host, dropped too; a client of another
 * /24 untouched. Refused packets take nothing: a second later each limit
 * has its burst back.
 */
static void test_source_limits(void)
{
	struct fixture fx;
	struct elb_pipeline_result res;
	struct elb_vip *vip;

	fx_init(&fx, ELB_MAGLEV_DEFAULT_SIZE);
	vip = &fx.snap->vips[0];
	CU_ASSERT_EQUAL_FATAL(elb_source_limit_init(&vip->source_limits[0], ELB_AF_INET, 32, 4, 4,
						    0, 0),
			      0);
	CU_ASSERT_EQUAL_FATAL(elb_source_limit_init(&vip->source_limits[1], ELB_AF_INET, 24, 0, 0,
						    2, 2),
			      0);
	vip->n_source_limits = 2;

	res = send_tcp(&fx, fx.snap, CLIENT, 43000, VIP_ADDR, 80, ELB_TCP_SYN, 0, true, T0);
	CU_ASSERT_EQUAL(res.verdict, ELB_VERDICT_FORWARD);
	for (int i = 0; i < 3; i++) {
		res = send_tcp(&fx, fx.snap, CLIENT, 43000, VIP_ADDR, 80, ELB_TCP_ACK, 10, true, T0);
		CU_ASSERT_EQUAL(res.verdict, ELB_VERDICT_FORWARD);
	}
	res = send_tcp(&fx, fx.snap, CLIENT, 43000, VIP_ADDR, 80, ELB_TCP_ACK, 10, true, T0);
	CU_ASSERT_EQUAL(res.verdict, ELB_VERDICT_DROP);
	CU_ASSERT_EQUAL(res.reason, ELB_REASON_SOURCE_RATE_LIMITED);
	/* CLIENT + 1, same /24: its first new flow is the /24's second. */
	res = send_tcp(&fx, fx.snap, CLIENT + 1, 43001, VIP_ADDR, 80, ELB_TCP_SYN, 0, true, T0);
	CU_ASSERT_EQUAL(res.verdict, ELB_VERDICT_FORWARD);
	res = send_tcp(&fx, fx.snap, CLIENT + 2, 43002, VIP_ADDR, 80, ELB_TCP_SYN, 0, true, T0);
	CU_ASSERT_EQUAL(res.verdict, ELB_VERDICT_DROP);
	CU_ASSERT_EQUAL(res.reason, ELB_REASON_SOURCE_NEW_FLOWS_LIMITED);
	/* Refused: no entry was made for it. */
	CU_ASSERT_EQUAL(fx.w.flows.stats.inserts, 2);
	/* A client of another /24. */
	res = send_tcp(&fx, fx.snap, CLIENT + 0x100, 43003, VIP_ADDR, 80, ELB_TCP_SYN, 0, true, T0);
	CU_ASSERT_EQUAL(res.verdict, ELB_VERDICT_FORWARD);
	CU_ASSERT_EQUAL(fx.w.vip_counters[0].drops[ELB_REASON_SOURCE_RATE_LIMITED], 1);
	CU_ASSERT_EQUAL(fx.w.vip_counters[0].drops[ELB_REASON_SOURCE_NEW_FLOWS_LIMITED], 1);
	CU_ASSERT_EQUAL(fx.w.counters.drops[ELB_REASON_SOURCE_RATE_LIMITED], 1);
	/* A second later: bursts back. */
	for (int i = 0; i < 4; i++) {
		res = send_tcp(&fx, fx.snap, CLIENT, 43000, VIP_ADDR, 80, ELB_TCP_ACK, 10, true,
			       T0 + 1000000000ull);
		CU_ASSERT_EQUAL(res.verdict, ELB_VERDICT_FORWARD);
	}
	for (uint32_t h = 2; h < 4; h++) {
		res = send_tcp(&fx, fx.snap, CLIENT + h, (uint16_t)(43010 + h), VIP_ADDR, 80,
			       ELB_TCP_SYN, 0, true, T0 + 1000000000ull);
		CU_ASSERT_EQUAL(res.verdict, ELB_VERDICT_FORWARD);
	}
	fx_fini(&fx);
}

/* 8. MTU: a 1500-byte DF packet gets frag-needed; without DF it goes. */
static void test_mtu_too_big(void)
{
	struct fixture fx;
	struct elb_pipeline_result res;
	uint8_t *buf = buf_new();
	uint8_t *f = buf + HEADROOM, *out;
	uint8_t *orig = malloc(FRAME_MAX);
	uint32_t len;

	fx_init(&fx, ELB_MAGLEV_DEFAULT_SIZE);
	CU_ASSERT_PTR_NOT_NULL_FATAL(orig);
	len = build_tcp4(f, CLIENT, 40000, VIP_ADDR, 80, ELB_TCP_ACK, 1460, true);
	CU_ASSERT_EQUAL_FATAL(len, 1514);
	memcpy(orig, f, len);
	elb_pipeline_run(&fx.w, fx.snap, f, len, HEADROOM, T0, &res);
	CU_ASSERT_EQUAL_FATAL(res.verdict, ELB_VERDICT_REPLY);
	CU_ASSERT_EQUAL(res.reason, ELB_REASON_TOO_BIG);
	CU_ASSERT_EQUAL(res.head_move, -28);
	CU_ASSERT_EQUAL_FATAL(res.out_len, 14 + 20 + 8 + 128);
	out = f + res.head_move;
	ELB_ASSERT_BYTES(out, 6, gateway_mac, 6);
	ELB_ASSERT_BYTES(out + 6, 6, port_mac, 6);
	CU_ASSERT_EQUAL(get_be16(out + 12), 0x0800);
	CU_ASSERT_EQUAL(out[14], 0x45);
	CU_ASSERT_EQUAL(get_be16(out + 16), 20 + 8 + 128);
	CU_ASSERT_EQUAL(out[23], 1); /* ICMP */
	CU_ASSERT_EQUAL(elb_test_csum(out + 14, 20), 0);
	CU_ASSERT_EQUAL(get_be32(out + 26), VIP_ADDR);
	CU_ASSERT_EQUAL(get_be32(out + 30), CLIENT);
	CU_ASSERT_EQUAL(out[34], 3); /* destination unreachable */
	CU_ASSERT_EQUAL(out[35], 4); /* fragmentation needed */
	CU_ASSERT_EQUAL(get_be16(out + 38), 0);
	CU_ASSERT_EQUAL(get_be16(out + 40), 1480);
	CU_ASSERT_EQUAL(elb_test_csum(out + 34, 8 + 128), 0);
	ELB_ASSERT_BYTES(out + 42, 128, orig + 14, 128);
	CU_ASSERT_EQUAL(fx.w.counters.drops[ELB_REASON_TOO_BIG], 1);
	CU_ASSERT_EQUAL(fx.w.counters.verdicts[ELB_VERDICT_REPLY].packets, 1);
	CU_ASSERT_EQUAL(fx.w.counters.verdicts[ELB_VERDICT_REPLY].bytes, 170);
	CU_ASSERT_EQUAL(fx.w.counters.verdicts[ELB_VERDICT_FORWARD].packets, 0);
	CU_ASSERT_EQUAL(fx.w.vip_counters[0].drops[ELB_REASON_TOO_BIG], 1);
	CU_ASSERT_EQUAL(fx.w.vip_counters[0].replies, 1);
	CU_ASSERT_EQUAL(fx.w.vip_counters[0].forwarded.packets, 0);

	/* 1480 bytes fit exactly. */
	res = send_tcp(&fx, fx.snap, CLIENT, 40001, VIP_ADDR, 80, ELB_TCP_ACK, 1440, true, T0);
	CU_ASSERT_EQUAL(res.verdict, ELB_VERDICT_FORWARD);
	CU_ASSERT_EQUAL(res.out_len, 14 + 1500);

	/* Without DF: forwarded, outer DF clear (send_tcp checks the bytes). */
	res = send_tcp(&fx, fx.snap, CLIENT, 40002, VIP_ADDR, 80, ELB_TCP_ACK, 1460, false, T0);
	CU_ASSERT_EQUAL(res.verdict, ELB_VERDICT_FORWARD);
	CU_ASSERT_EQUAL(res.out_len, 14 + 20 + 1500);
	CU_ASSERT_EQUAL(fx.w.vip_counters[0].replies, 1);
	free(orig);
	free(buf);
	fx_fini(&fx);
}

/* 9. A fragment to a port VIP's address cannot be matched: dropped. */
static void test_fragment_no_vip(void)
{
	struct fixture fx;
	struct elb_pipeline_result res;
	uint8_t *buf = buf_new();
	uint8_t *f = buf + HEADROOM;
	uint32_t len;

	fx_init(&fx, ELB_MAGLEV_MIN_SIZE);
	/* First fragment (MF, offset 0). */
	len = build_tcp4(f, CLIENT, 40000, VIP_ADDR, 80, ELB_TCP_ACK, 100, false);
	put_be16(f + 14 + 6, 0x2000);
	ipv4_fill_checksum(f + 14, 20);
	res = run_untouched(&fx, buf, len);
	CU_ASSERT_EQUAL(res.verdict, ELB_VERDICT_DROP);
	CU_ASSERT_EQUAL(res.reason, ELB_REASON_FRAGMENT_NO_VIP);
	/* Later fragment (offset 1480). */
	put_be16(f + 14 + 6, 185);
	ipv4_fill_checksum(f + 14, 20);
	res = run_untouched(&fx, buf, len);
	CU_ASSERT_EQUAL(res.verdict, ELB_VERDICT_DROP);
	CU_ASSERT_EQUAL(res.reason, ELB_REASON_FRAGMENT_NO_VIP);
	CU_ASSERT_EQUAL(fx.w.counters.drops[ELB_REASON_FRAGMENT_NO_VIP], 2);
	CU_ASSERT_EQUAL(fx.w.counters.verdicts[ELB_VERDICT_DROP].packets, 2);
	/* A fragment to an address with no VIP is the kernel's. */
	put_be32(f + 14 + 16, OTHER_ADDR);
	ipv4_fill_checksum(f + 14, 20);
	res = run_untouched(&fx, buf, len);
	CU_ASSERT_EQUAL(res.verdict, ELB_VERDICT_KERNEL);
	CU_ASSERT_EQUAL(fx.w.counters.drops[ELB_REASON_FRAGMENT_NO_VIP], 2);
	free(buf);
	fx_fini(&fx);
}

/* 10. VIP lookup: duplicates refused, all-ports VIPs, exact port first. */
static void test_vip_lookup(void)
{
	struct fixture fx;
	struct elb_pipeline_result res;
	struct elb_snapshot *s;
	struct elb_flow_key key;
	bool known;

	fx_init(&fx, ELB_MAGLEV_DEFAULT_SIZE);
	s = fx.snap;
	/* Duplicate of VIP 0 under another index. */
	{
		struct elb_vip dup = s->vips[0];

		dup.index = 5;
		CU_ASSERT_EQUAL(elb_vip_lookup_insert(s, &dup), -EEXIST);
		dup.proto = ELB_IPPROTO_UDP; /* same address and port, UDP: a different VIP */
		dup.index = 6;
		CU_ASSERT_EQUAL(elb_vip_lookup_insert(s, &dup), 0);
	}
	/* 10.100.0.2: all ports (index 1) and port 443 (index 2); both use the
	 * backends of VIP 0 through its table. */
	vip_setup(&s->vips[1], 1, VIP2_ADDR, 0, ELB_IPPROTO_TCP, s->vips[0].maglev,
		  s->vips[0].maglev_size);
	vip_setup(&s->vips[2], 2, VIP2_ADDR, 443, ELB_IPPROTO_TCP, s->vips[0].maglev,
		  s->vips[0].maglev_size);
	s->n_vips = 3;
	CU_ASSERT_EQUAL(elb_vip_lookup_insert(s, &s->vips[1]), 0);
	CU_ASSERT_EQUAL(elb_vip_lookup_insert(s, &s->vips[2]), 0);
	CU_ASSERT_EQUAL(elb_vip_lookup_insert(s, &s->vips[1]), -EEXIST);

	memset(&key, 0, sizeof(key));
	key.family = ELB_AF_INET;
	key.proto = ELB_IPPROTO_TCP;
	key.src.v4 = htonl(CLIENT);
	key.sport = htons(40000);
	key.dst.v4 = htonl(VIP2_ADDR);
	key.dport = htons(443);
	CU_ASSERT_EQUAL(elb_vip_find(s, &key, &known), 2);
	CU_ASSERT(known);
	key.dport = htons(444);
	CU_ASSERT_EQUAL(elb_vip_find(s, &key, &known), 1);
	key.dport = htons(1);
	CU_ASSERT_EQUAL(elb_vip_find(s, &key, &known), 1);
	key.proto = ELB_IPPROTO_UDP;
	CU_ASSERT_EQUAL(elb_vip_find(s, &key, &known), ELB_NO_VIP);
	CU_ASSERT(known);
	key.dst.v4 = htonl(OTHER_ADDR);
	CU_ASSERT_EQUAL(elb_vip_find(s, &key, &known), ELB_NO_VIP);
	CU_ASSERT(!known);

	/* Through the pipeline: the backend slots belong to VIP 0, so set
	 * up slots of their own for VIPs 1 and 2 (slots 3 and 4). */
	for (uint32_t i = 3; i < 5; i++) {
		s->backends[i] = s->backends[0];
		s->backends[i].vip_index = (uint16_t)(i - 2);
		s->backends[i].gen = 10 + i;
	}
	s->n_backend_slots = 5;
	s->vips[1].maglev = build_maglev(&fx, s, 1, ELB_MAGLEV_MIN_SIZE);
	s->vips[1].maglev_size = ELB_MAGLEV_MIN_SIZE;
	s->vips[2].maglev = build_maglev(&fx, s, 2, ELB_MAGLEV_MIN_SIZE);
	s->vips[2].maglev_size = ELB_MAGLEV_MIN_SIZE;

	res = send_tcp(&fx, s, CLIENT, 40000, VIP2_ADDR, 443, ELB_TCP_SYN, 0, true, T0);
	CU_ASSERT_EQUAL(res.verdict, ELB_VERDICT_FORWARD);
	CU_ASSERT_EQUAL(res.vip_index, 2);
	CU_ASSERT_EQUAL(res.backend_slot, 4);
	res = send_tcp(&fx, s, CLIENT, 40000, VIP2_ADDR, 8080, ELB_TCP_SYN, 0, true, T0);
	CU_ASSERT_EQUAL(res.verdict, ELB_VERDICT_FORWARD);
	CU_ASSERT_EQUAL(res.vip_index, 1);
	CU_ASSERT_EQUAL(res.backend_slot, 3);
	res = send_tcp(&fx, s, CLIENT, 40000, VIP2_ADDR, 22, ELB_TCP_SYN, 0, true, T0);
	CU_ASSERT_EQUAL(res.vip_index, 1);
	CU_ASSERT_EQUAL(fx.w.vip_counters[1].forwarded.packets, 2);
	CU_ASSERT_EQUAL(fx.w.vip_counters[2].forwarded.packets, 1);
	CU_ASSERT_EQUAL(fx.w.vip_counters[0].rx.packets, 0);
	/* A first fragment to the all-ports VIP's address is taken by it. */
	{
		uint8_t *buf = buf_new(), *f = buf + HEADROOM;
		uint32_t len = build_tcp4(f, CLIENT, 40000, VIP2_ADDR, 443, ELB_TCP_ACK, 100, false);

		put_be16(f + 14 + 6, 0x2000);
		ipv4_fill_checksum(f + 14, 20);
		elb_pipeline_run(&fx.w, s, f, len, HEADROOM, T0, &res);
		CU_ASSERT_EQUAL(res.verdict, ELB_VERDICT_FORWARD);
		CU_ASSERT_EQUAL(res.vip_index, 1);
		free(buf);
	}
	fx_fini(&fx);
}

/* 11. A VIP with no backend to pick. */
static void test_no_backend(void)
{
	struct fixture fx;
	struct elb_pipeline_result res;
	struct elb_snapshot *s;
	uint32_t *empty;

	fx_init(&fx, ELB_MAGLEV_DEFAULT_SIZE);
	s = fx.snap;
	empty = fx_own(&fx, malloc(sizeof(uint32_t) * ELB_MAGLEV_MIN_SIZE));
	CU_ASSERT_EQUAL_FATAL(elb_maglev_build(empty, ELB_MAGLEV_MIN_SIZE, NULL, 0), 0);
	for (uint32_t i = 0; i < ELB_MAGLEV_MIN_SIZE; i++)
		CU_ASSERT_EQUAL_FATAL(empty[i], ELB_MAGLEV_EMPTY);
	vip_setup(&s->vips[3], 3, VIP3_ADDR, 80, ELB_IPPROTO_TCP, empty, ELB_MAGLEV_MIN_SIZE);
	s->n_vips = 4;
	CU_ASSERT_EQUAL_FATAL(elb_vip_lookup_insert(s, &s->vips[3]), 0);

	for (int i = 0; i < 3; i++) {
		res = send_tcp(&fx, s, CLIENT, (uint16_t)(40000 + i), VIP3_ADDR, 80, ELB_TCP_SYN, 0,
			       true, T0);
		CU_ASSERT_EQUAL(res.verdict, ELB_VERDICT_DROP);
		CU_ASSERT_EQUAL(res.reason, ELB_REASON_NO_BACKEND);
		CU_ASSERT_EQUAL(res.vip_index, 3);
		CU_ASSERT_EQUAL(res.new_flow, 0);
	}
	CU_ASSERT_EQUAL(fx.w.counters.drops[ELB_REASON_NO_BACKEND], 3);
	CU_ASSERT_EQUAL(fx.w.vip_counters[3].drops[ELB_REASON_NO_BACKEND], 3);
	CU_ASSERT_EQUAL(fx.w.vip_counters[3].rx.packets, 3);
	CU_ASSERT_EQUAL(fx.w.counters.verdicts[ELB_VERDICT_DROP].packets, 3);
	CU_ASSERT_EQUAL(fx.w.counters.new_flows, 0);
	CU_ASSERT_EQUAL(fx.w.flows.stats.inserts, 0);
	fx_fini(&fx);
}

/* An ICMPv4 frag-needed from a router to the VIP, quoting VIP:80 ->
 * client:cport (a reply the backend sent directly). */
static uint32_t build_icmp_error(uint8_t *f, uint16_t cport)
{
	uint8_t *ip = f + 14, *icmp = ip + 20, *q = icmp + 8;

	put_eth(f, 0x0800);
	elb_test_ipv4(ip, 0xc0, 20 + 8 + 28, 0x7777, 0, 1, ROUTER, VIP_ADDR);
	icmp[0] = 3;
	icmp[1] = 4;
	put_be16(icmp + 2, 0);
	put_be16(icmp + 4, 0);
	put_be16(icmp + 6, 1400);
	elb_test_ipv4(q, 0, 1500, 0x4242, 0x4000, 6, VIP_ADDR, CLIENT);
	put_be16(q + 20, 80);
	put_be16(q + 22, cport);
	put_be32(q + 24, 0xdeadbeef);
	put_be16(icmp + 2, elb_test_csum(icmp, 8 + 28));
	return 14 + 20 + 8 + 28;
}

/* 12. An ICMP error follows its flow and creates none. */
static void test_icmp_error_follows_flow(void)
{
	struct fixture fx;
	struct elb_pipeline_result res;
	struct elb_snapshot *s2;
	uint8_t *buf = buf_new(), *want = buf_new();
	uint8_t *f = buf + HEADROOM, inner[56];
	uint32_t slot, len, want_len;
	uint64_t inserts;

	fx_init(&fx, ELB_MAGLEV_DEFAULT_SIZE);
	res = send_tcp(&fx, fx.snap, CLIENT, 40000, VIP_ADDR, 80, ELB_TCP_SYN, 0, true, T0);
	res = send_tcp(&fx, fx.snap, CLIENT, 40000, VIP_ADDR, 80, ELB_TCP_ACK, 0, true, T0);
	CU_ASSERT_EQUAL_FATAL(res.verdict, ELB_VERDICT_FORWARD);
	slot = res.backend_slot;
	/* The flow's backend drains: Maglev would now pick another one, the
	 * flow (and so its ICMP errors) stays. */
	s2 = snap_clone(&fx, fx.snap);
	s2->backends[slot].state = ELB_BACKEND_DRAINING;
	s2->vips[0].maglev = build_maglev(&fx, s2, 0, ELB_MAGLEV_DEFAULT_SIZE);
	inserts = fx.w.flows.stats.inserts;

	len = build_icmp_error(f, 40000);
	memcpy(inner, f + 14, 56);
	elb_pipeline_run(&fx.w, s2, f, len, HEADROOM, T0 + 1000, &res);
	CU_ASSERT_EQUAL_FATAL(res.verdict, ELB_VERDICT_FORWARD);
	CU_ASSERT_EQUAL(res.vip_index, 0);
	CU_ASSERT_EQUAL(res.backend_slot, slot);
	CU_ASSERT_EQUAL(res.new_flow, 0);
	CU_ASSERT_EQUAL(res.head_move, -20);
	want_len = expect_ipip(want, inner, 56, backend_ip(slot));
	ELB_ASSERT_BYTES(f + res.head_move, res.out_len, want, want_len);
	CU_ASSERT_EQUAL(fx.w.flows.stats.inserts, inserts);
	CU_ASSERT_EQUAL(fx.w.counters.new_flows, 1);

	/* For a tuple without a flow: forwarded by Maglev, no entry made. */
	memset(buf, SENTINEL, BUF_SIZE);
	len = build_icmp_error(f, 40999);
	elb_pipeline_run(&fx.w, s2, f, len, HEADROOM, T0 + 2000, &res);
	CU_ASSERT_EQUAL(res.verdict, ELB_VERDICT_FORWARD);
	CU_ASSERT_NOT_EQUAL(res.backend_slot, slot);
	CU_ASSERT_EQUAL(res.new_flow, 0);
	CU_ASSERT_EQUAL(fx.w.flows.stats.inserts, inserts);
	CU_ASSERT_EQUAL(fx.w.counters.new_flows, 1);
	CU_ASSERT_EQUAL(fx.w.vip_counters[0].new_flows, 1);
	/* so the tuple's next packet is a new flow */
	res = send_tcp(&fx, s2, CLIENT, 40999, VIP_ADDR, 80, ELB_TCP_ACK, 0, true, T0 + 3000);
	CU_ASSERT_EQUAL(res.new_flow, 1);
	CU_ASSERT_EQUAL(fx.w.flows.stats.inserts, inserts + 1);
	free(want);
	free(buf);
	fx_fini(&fx);
}

/* ---- prefix lists ------------------------------------------------------------------------ */

/* One IPv4 rule (host-order address, already a network). */
static struct elb_prefix_rule prefix4(uint32_t addr, uint8_t len, uint8_t action)
{
	struct elb_prefix_rule r = {.family = ELB_AF_INET, .len = len, .action = action};

	r.addr.v4 = htonl(addr);
	return r;
}

/* A copy of src with the node's list and VIP 0's own list (NULL: none) as
 * the control thread would attach them. */
static struct elb_snapshot *snap_with_prefixes(struct fixture *fx, const struct elb_snapshot *src,
					       struct elb_prefix_table *node,
					       struct elb_prefix_table *vip)
{
	struct elb_snapshot *s = snap_clone(fx, src);

	s->node_prefixes = node;
	s->vips[0].prefixes[ELB_PREFIX_SCOPE_NODE] = node;
	s->vips[0].prefixes[ELB_PREFIX_SCOPE_VIP] = vip;
	s->vips[0].has_prefixes = node != NULL || vip != NULL;
	return s;
}

static void assert_prefix_matches(const struct fixture *fx, uint64_t vip_allow, uint64_t vip_deny,
				  uint64_t node_allow, uint64_t node_deny)
{
	const struct elb_vip_counters *vc = &fx->w.vip_counters[0];

	CU_ASSERT_EQUAL(vc->prefix_matches[ELB_PREFIX_SCOPE_VIP][ELB_PREFIX_ALLOW - 1], vip_allow);
	CU_ASSERT_EQUAL(vc->prefix_matches[ELB_PREFIX_SCOPE_VIP][ELB_PREFIX_DENY - 1], vip_deny);
	CU_ASSERT_EQUAL(vc->prefix_matches[ELB_PREFIX_SCOPE_NODE][ELB_PREFIX_ALLOW - 1], node_allow);
	CU_ASSERT_EQUAL(vc->prefix_matches[ELB_PREFIX_SCOPE_NODE][ELB_PREFIX_DENY - 1], node_deny);
}

/*
 * Node list: deny 198.51.100.0/24 (the clients), allow 198.51.100.128/25
 * inside it, deny 203.0.113.0/24 (the router). VIP list (later): allow
 * 198.51.100.0/28. A flow of CLIENT (198.51.100.10) is established before
 * any list; then:
 *   - its packets are dropped (source_denied) though its entry exists,
 *     and a new client of the /24 makes no entry;
 *   - 198.51.100.200 (the /25) and 192.0.2.50 (no rule) are forwarded;
 *   - with the VIP's allow, CLIENT's flow goes on to its backend, the
 *     node's deny still drops 198.51.100.20;
 *   - an ICMP error from the (denied) router about CLIENT's flow is decided
 *     as CLIENT.
 * Counters exact at each step.
 */
static void test_prefix_lists(void)
{
	struct elb_prefix_rule node_rules[] = {
		prefix4(0xc6336400u, 24, ELB_PREFIX_DENY),  /* 198.51.100.0/24 */
		prefix4(0xc6336480u, 25, ELB_PREFIX_ALLOW), /* 198.51.100.128/25 */
		prefix4(0xcb007100u, 24, ELB_PREFIX_DENY),  /* 203.0.113.0/24 */
	};
	struct elb_prefix_rule vip_rules[] = {prefix4(0xc6336400u, 28, ELB_PREFIX_ALLOW)};
	struct elb_prefix_table *node = NULL, *vip = NULL;
	struct elb_snapshot *s2, *s3;
	struct elb_pipeline_result res;
	struct fixture fx;
	uint8_t *buf = buf_new();
	uint8_t *f = buf + HEADROOM;
	uint32_t slot, len;

	fx_init(&fx, ELB_MAGLEV_DEFAULT_SIZE);
	CU_ASSERT_EQUAL_FATAL(elb_prefix_table_build(node_rules, 3, &node), 0);
	CU_ASSERT_EQUAL_FATAL(elb_prefix_table_build(vip_rules, 1, &vip), 0);
	res = send_tcp(&fx, fx.snap, CLIENT, 40000, VIP_ADDR, 80, ELB_TCP_SYN, 0, true, T0);
	res = send_tcp(&fx, fx.snap, CLIENT, 40000, VIP_ADDR, 80, ELB_TCP_ACK, 0, true, T0);
	CU_ASSERT_EQUAL_FATAL(res.verdict, ELB_VERDICT_FORWARD);
	slot = res.backend_slot;
	CU_ASSERT_EQUAL(fx.w.flows.stats.inserts, 1);
	assert_prefix_matches(&fx, 0, 0, 0, 0);

	s2 = snap_with_prefixes(&fx, fx.snap, node, NULL);
	/* The established flow's packets: dropped, its entry left as it was. */
	for (int i = 0; i < 3; i++) {
		res = send_tcp(&fx, s2, CLIENT, 40000, VIP_ADDR, 80, ELB_TCP_ACK, 10, true,
			       T0 + 1000);
		CU_ASSERT_EQUAL(res.verdict, ELB_VERDICT_DROP);
		CU_ASSERT_EQUAL(res.reason, ELB_REASON_SOURCE_DENIED);
		CU_ASSERT_EQUAL(res.new_flow, 0);
	}
	/* A new client of the /24: no entry. */
	res = send_tcp(&fx, s2, 0xc6336414u, 40001, VIP_ADDR, 80, ELB_TCP_SYN, 0, true, T0 + 1000);
	CU_ASSERT_EQUAL(res.verdict, ELB_VERDICT_DROP);
	CU_ASSERT_EQUAL(res.reason, ELB_REASON_SOURCE_DENIED);
	CU_ASSERT_EQUAL(fx.w.flows.stats.inserts, 1);
	CU_ASSERT_EQUAL(fx.w.flows.stats.occupancy, 1);
	CU_ASSERT_EQUAL(fx.w.counters.new_flows, 1);
	CU_ASSERT_EQUAL(fx.w.counters.drops[ELB_REASON_SOURCE_DENIED], 4);
	CU_ASSERT_EQUAL(fx.w.vip_counters[0].drops[ELB_REASON_SOURCE_DENIED], 4);
	CU_ASSERT_EQUAL(fx.w.counters.verdicts[ELB_VERDICT_DROP].packets, 4);
	CU_ASSERT_EQUAL(fx.w.vip_counters[0].rx.packets, 6);
	assert_prefix_matches(&fx, 0, 0, 0, 4);

	/* The allowed /25 and an address no rule holds: forwarded, new flows. */
	res = send_tcp(&fx, s2, 0xc63364c8u, 40002, VIP_ADDR, 80, ELB_TCP_SYN, 0, true, T0 + 2000);
	CU_ASSERT_EQUAL(res.verdict, ELB_VERDICT_FORWARD);
	CU_ASSERT_EQUAL(res.new_flow, 1);
	res = send_tcp(&fx, s2, 0xc0000232u, 40003, VIP_ADDR, 80, ELB_TCP_SYN, 0, true, T0 + 2000);
	CU_ASSERT_EQUAL(res.verdict, ELB_VERDICT_FORWARD);
	CU_ASSERT_EQUAL(res.new_flow, 1);
	CU_ASSERT_EQUAL(fx.w.flows.stats.inserts, 3);
	assert_prefix_matches(&fx, 0, 0, 1, 4);

	/* The VIP's allow overrides the node's deny, for CLIENT's /28 only:
	 * its flow is where it was. */
	s3 = snap_with_prefixes(&fx, fx.snap, node, vip);
	res = send_tcp(&fx, s3, CLIENT, 40000, VIP_ADDR, 80, ELB_TCP_ACK, 10, true, T0 + 3000);
	CU_ASSERT_EQUAL(res.verdict, ELB_VERDICT_FORWARD);
	CU_ASSERT_EQUAL(res.backend_slot, slot);
	CU_ASSERT_EQUAL(res.new_flow, 0);
	res = send_tcp(&fx, s3, 0xc6336414u, 40001, VIP_ADDR, 80, ELB_TCP_SYN, 0, true, T0 + 3000);
	CU_ASSERT_EQUAL(res.verdict, ELB_VERDICT_DROP);
	CU_ASSERT_EQUAL(res.reason, ELB_REASON_SOURCE_DENIED);
	assert_prefix_matches(&fx, 1, 0, 1, 5);

	/* An ICMP error from the router (in a denied /24) about CLIENT's flow:
	 * the client decides. Allowed by the VIP's list, dropped by the node's. */
	len = build_icmp_error(f, 40000);
	elb_pipeline_run(&fx.w, s3, f, len, HEADROOM, T0 + 4000, &res);
	CU_ASSERT_EQUAL(res.verdict, ELB_VERDICT_FORWARD);
	CU_ASSERT_EQUAL(res.backend_slot, slot);
	memset(buf, SENTINEL, BUF_SIZE);
	len = build_icmp_error(f, 40000);
	elb_pipeline_run(&fx.w, s2, f, len, HEADROOM, T0 + 4000, &res);
	CU_ASSERT_EQUAL(res.verdict, ELB_VERDICT_DROP);
	CU_ASSERT_EQUAL(res.reason, ELB_REASON_SOURCE_DENIED);
	assert_prefix_matches(&fx, 2, 0, 1, 6);
	CU_ASSERT_EQUAL(fx.w.counters.drops[ELB_REASON_SOURCE_DENIED], 6);
	CU_ASSERT_EQUAL(fx.w.vip_counters[0].drops[ELB_REASON_SOURCE_DENIED], 6);
	CU_ASSERT_EQUAL(fx.w.flows.stats.inserts, 3);

	/* A VIP list that denies everything but its allow: the VIP's deny. */
	elb_prefix_table_put(vip);
	{
		struct elb_prefix_rule only[] = {prefix4(0, 0, ELB_PREFIX_DENY),
						 prefix4(0xc0000200u, 24, ELB_PREFIX_ALLOW)};

		CU_ASSERT_EQUAL_FATAL(elb_prefix_table_build(only, 2, &vip), 0);
	}
	s3 = snap_with_prefixes(&fx, fx.snap, NULL, vip);
	res = send_tcp(&fx, s3, 0xc63364c8u, 40002, VIP_ADDR, 80, ELB_TCP_ACK, 0, true, T0 + 5000);
	CU_ASSERT_EQUAL(res.verdict, ELB_VERDICT_DROP);
	CU_ASSERT_EQUAL(res.reason, ELB_REASON_SOURCE_DENIED);
	res = send_tcp(&fx, s3, 0xc0000232u, 40003, VIP_ADDR, 80, ELB_TCP_ACK, 0, true, T0 + 5000);
	CU_ASSERT_EQUAL(res.verdict, ELB_VERDICT_FORWARD);
	assert_prefix_matches(&fx, 3, 1, 1, 6);

	elb_prefix_table_put(node);
	elb_prefix_table_put(vip);
	free(buf);
	fx_fini(&fx);
}

/* A denied source is charged to no admission limit: its new flows do not
 * use the VIP's new-flow budget (1 new flow, no refill in the test's time)
 * nor its /24's (1 new flow). */
static void test_prefix_deny_before_admission(void)
{
	struct elb_prefix_rule rules[] = {prefix4(0xc6336400u, 25, ELB_PREFIX_DENY)};
	struct elb_prefix_table *node = NULL;
	struct elb_pipeline_result res;
	struct elb_snapshot *s2;
	struct elb_vip *vip;
	struct fixture fx;

	fx_init(&fx, ELB_MAGLEV_DEFAULT_SIZE);
	CU_ASSERT_EQUAL_FATAL(elb_prefix_table_build(rules, 1, &node), 0);
	s2 = snap_with_prefixes(&fx, fx.snap, node, NULL);
	vip = &s2->vips[0];
	CU_ASSERT_EQUAL_FATAL(elb_flow_budget_init(&vip->flow_budget, 1, 1), 0);
	CU_ASSERT_EQUAL_FATAL(elb_source_limit_init(&vip->source_limits[0], ELB_AF_INET, 24, 0, 0,
						    1, 1),
			      0);
	vip->n_source_limits = 1;
	for (uint16_t p = 0; p < 20; p++) {
		res = send_tcp(&fx, s2, CLIENT + p, (uint16_t)(1000 + p), VIP_ADDR, 80, ELB_TCP_SYN,
			       0, true, T0);
		CU_ASSERT_EQUAL(res.reason, ELB_REASON_SOURCE_DENIED);
	}
	/* The budget's one flow and the /24's are still there for 198.51.100.200,
	 * of the denied clients' /24 but not of the denied /25. */
	res = send_tcp(&fx, s2, 0xc63364c8u, 2000, VIP_ADDR, 80, ELB_TCP_SYN, 0, true, T0);
	CU_ASSERT_EQUAL(res.verdict, ELB_VERDICT_FORWARD);
	CU_ASSERT_EQUAL(res.stateless, 0);
	CU_ASSERT_EQUAL(res.new_flow, 1);
	elb_prefix_table_put(node);
	fx_fini(&fx);
}

/* The burst path decides alike (same step in decide()). */
static void test_prefix_burst(void)
{
	struct elb_prefix_rule rules[] = {prefix4(0xc6336400u, 25, ELB_PREFIX_DENY)};
	struct elb_prefix_table *node = NULL;
	struct elb_pipeline_result res[ELB_PIPELINE_BURST_MAX];
	uint8_t *bufs[ELB_PIPELINE_BURST_MAX], *frames[ELB_PIPELINE_BURST_MAX];
	uint32_t lens[ELB_PIPELINE_BURST_MAX];
	struct elb_snapshot *s2;
	struct fixture fx;

	fx_init(&fx, ELB_MAGLEV_DEFAULT_SIZE);
	CU_ASSERT_EQUAL_FATAL(elb_prefix_table_build(rules, 1, &node), 0);
	s2 = snap_with_prefixes(&fx, fx.snap, node, NULL);
	/* Clients 198.51.100.0, 8, 16 ... 248: the first 16 in the /25. */
	for (uint32_t i = 0; i < ELB_PIPELINE_BURST_MAX; i++) {
		bufs[i] = buf_new();
		frames[i] = bufs[i] + HEADROOM;
		lens[i] = build_tcp4(frames[i], 0xc6336400u + 8 * i, (uint16_t)(3000 + i), VIP_ADDR,
				     80, ELB_TCP_SYN, 0, true);
	}
	elb_pipeline_run_burst(&fx.w, s2, frames, lens, ELB_PIPELINE_BURST_MAX, HEADROOM, T0, res);
	for (uint32_t i = 0; i < ELB_PIPELINE_BURST_MAX; i++) {
		ELB_CHECK(res[i].verdict == (i < 16 ? ELB_VERDICT_DROP : ELB_VERDICT_FORWARD),
			  "packet %u", i);
		if (i < 16)
			CU_ASSERT_EQUAL(res[i].reason, ELB_REASON_SOURCE_DENIED);
		free(bufs[i]);
	}
	CU_ASSERT_EQUAL(fx.w.flows.stats.inserts, 16);
	assert_prefix_matches(&fx, 0, 0, 0, 16);
	elb_prefix_table_put(node);
	fx_fini(&fx);
}

/* A VLAN-tagged SYN: the output is untagged, so the frame starts 16 bytes
 * earlier; the outer headers and inner packet are as for an untagged one. */
static void test_vlan_tagged_forwarded(void)
{
	struct fixture fx;
	struct elb_pipeline_result res;
	uint8_t *buf = buf_new(), *want = buf_new(), *tmp = buf_new();
	uint8_t *f = buf + HEADROOM;
	uint8_t inner[40];
	uint32_t len, want_len;

	fx_init(&fx, ELB_MAGLEV_DEFAULT_SIZE);
	build_tcp4(tmp, CLIENT, 40000, VIP_ADDR, 80, ELB_TCP_SYN, 0, true);
	memcpy(f, tmp, 12);
	put_be16(f + 12, 0x8100);
	put_be16(f + 14, 100);
	memcpy(f + 16, tmp + 12, 42);
	len = 58;
	memcpy(inner, f + 18, 40);
	elb_pipeline_run(&fx.w, fx.snap, f, len, HEADROOM, T0, &res);
	CU_ASSERT_EQUAL_FATAL(res.verdict, ELB_VERDICT_FORWARD);
	CU_ASSERT_EQUAL(res.head_move, -16);
	CU_ASSERT_EQUAL(res.out_len, 74);
	CU_ASSERT_EQUAL(res.new_flow, 1);
	want_len = expect_ipip(want, inner, 40, backend_ip(res.backend_slot));
	ELB_ASSERT_BYTES(f + res.head_move, res.out_len, want, want_len);
	/* Same flow as the untagged frame: the next untagged ACK follows it. */
	{
		uint32_t slot = res.backend_slot;

		res = send_tcp(&fx, fx.snap, CLIENT, 40000, VIP_ADDR, 80, ELB_TCP_ACK, 0, true, T0);
		CU_ASSERT_EQUAL(res.backend_slot, slot);
		CU_ASSERT_EQUAL(res.new_flow, 0);
	}
	free(tmp);
	free(want);
	free(buf);
	fx_fini(&fx);
}

/* ---- second chance (elb_second_chance.h) ----------------------------------------------- */

#define GUE_PORT 6080

/*
 * The fixture's VIP with GUE and second chance, just after backend 2
 * joined: the table of the three backends, and as previous owners, for the
 * slots backend 2 took, their owner in the table of backends 0 and 1
 * (written out here from the two tables, the way a join reads).
 * *client_port is a source port of CLIENT whose Maglev slot moved to
 * backend 2; *was_slot the backend it had before.
 */
static void fx_second_chance(struct fixture *fx, uint16_t *client_port, uint32_t *was_slot)
{
	struct elb_vip *vip = &fx->snap->vips[0];
	uint32_t size = ELB_MAGLEV_MIN_SIZE;
	uint32_t *before, *previous;

	fx->snap->backends[2].state = ELB_BACKEND_EMPTY; /* not yet joined */
	before = build_maglev(fx, fx->snap, 0, size);
	fx->snap->backends[2].state = ELB_BACKEND_ACTIVE;
	vip->maglev = build_maglev(fx, fx->snap, 0, size);
	vip->maglev_size = size;
	previous = fx_own(fx, malloc(sizeof(uint32_t) * size));
	for (uint32_t i = 0; i < size; i++)
		previous[i] = vip->maglev[i] == 2 ? before[i] : ELB_MAGLEV_EMPTY;
	vip->maglev_previous = previous;
	vip->gue = 1;
	vip->gue_dport = htons(GUE_PORT);
	vip->second_chance = 1;

	for (uint16_t port = 1024;; port++) {
		struct elb_flow_key key;
		uint32_t slot;

		CU_ASSERT_FATAL(port < 60000);
		memset(&key, 0, sizeof(key));
		key.src.v4 = htonl(CLIENT);
		key.dst.v4 = htonl(VIP_ADDR);
		key.sport = htons(port);
		key.dport = htons(80);
		key.proto = ELB_IPPROTO_TCP;
		key.family = ELB_AF_INET;
		slot = elb_maglev_slot(elb_flow_hash(&key, &fx->snap->seed), size);
		if (vip->maglev[slot] == 2) {
			*client_port = port;
			*was_slot = before[slot];
			CU_ASSERT_FATAL(*was_slot < 2);
			return;
		}
	}
}

/* GUE's source port for CLIENT:sport -> VIP:80 (elb_encap.h: 0xc000 and 14
 * bits of the flow hash). */
static uint16_t gue_sport(const struct fixture *fx, uint16_t sport)
{
	struct elb_flow_key key;

	memset(&key, 0, sizeof(key));
	key.src.v4 = htonl(CLIENT);
	key.dst.v4 = htonl(VIP_ADDR);
	key.sport = htons(sport);
	key.dport = htons(80);
	key.proto = ELB_IPPROTO_TCP;
	key.family = ELB_AF_INET;
	return (uint16_t)(0xc000 | (elb_flow_hash(&key, &fx->snap->seed) & 0x3fff));
}

/*
 * Send CLIENT:sport -> VIP:80 with these flags; expect a GUE forward to
 * backend slot `to`, with the alternate `alternate` (a backend slot) or
 * none (UINT32_MAX), checked byte for byte against elb_test_gue4_frame.
 */
static struct elb_pipeline_result send_gue(struct fixture *fx, const struct elb_snapshot *snap,
					   uint16_t sport, uint8_t flags, uint32_t to,
					   uint32_t alternate)
{
	struct elb_pipeline_result res;
	uint8_t *buf = buf_new(), *want = buf_new();
	uint8_t *frame = buf + HEADROOM;
	uint8_t inner[64];
	uint32_t len = build_tcp4(frame, CLIENT, sport, VIP_ADDR, 80, flags, 0, true);
	uint32_t want_len, extra = alternate != UINT32_MAX ? 12 : 0;

	memcpy(inner, frame + 14, len - 14);
	elb_pipeline_run(&fx->w, snap, frame, len, HEADROOM, T0, &res);
	CU_ASSERT_EQUAL_FATAL(res.verdict, ELB_VERDICT_FORWARD);
	CU_ASSERT_EQUAL(res.backend_slot, to);
	CU_ASSERT_EQUAL(res.has_alternate, alternate != UINT32_MAX);
	if (alternate != UINT32_MAX)
		CU_ASSERT_EQUAL(res.alternate_slot, alternate);
	CU_ASSERT_EQUAL(res.head_move, -(int32_t)(28 + extra));
	want_len = elb_test_gue4_frame(want, gateway_mac, port_mac, NODE_ADDR, backend_ip(to),
				       gue_sport(fx, sport), GUE_PORT,
				       alternate != UINT32_MAX ? backend_ip(alternate) : 0, inner,
				       len - 14);
	CU_ASSERT_EQUAL(res.out_len, want_len);
	ELB_ASSERT_BYTES(frame + res.head_move, res.out_len, want, want_len);
	free(want);
	free(buf);
	return res;
}

#define NO_ALTERNATE UINT32_MAX

/* A SYN starts the connection here: sure of its backend, no alternate, and
 * its later packets (a hit on a sure entry) carry none either. */
static void test_second_chance_syn_is_sure(void)
{
	struct fixture fx;
	struct elb_pipeline_result res;
	uint16_t port;
	uint32_t was;

	fx_init(&fx, ELB_MAGLEV_MIN_SIZE);
	fx_second_chance(&fx, &port, &was);
	res = send_gue(&fx, fx.snap, port, ELB_TCP_SYN, 2, NO_ALTERNATE);
	CU_ASSERT_EQUAL(res.new_flow, 1);
	CU_ASSERT_EQUAL(res.midstream, 0);
	res = send_gue(&fx, fx.snap, port, ELB_TCP_ACK, 2, NO_ALTERNATE);
	CU_ASSERT_EQUAL(res.new_flow, 0);
	CU_ASSERT_EQUAL(res.midstream, 0);
	fx_fini(&fx);
}

/* A mid-stream miss (an ACK nobody here has seen: after a restart, from
 * another worker or node) goes to Maglev's pick with the slot's previous
 * owner as alternate, in GUE variant 0; the entry is marked mid-stream and
 * its later packets (hits) carry the alternate too. */
static void test_second_chance_midstream(void)
{
	struct fixture fx;
	struct elb_pipeline_result res;
	uint16_t port;
	uint32_t was;

	fx_init(&fx, ELB_MAGLEV_MIN_SIZE);
	fx_second_chance(&fx, &port, &was);
	res = send_gue(&fx, fx.snap, port, ELB_TCP_ACK, 2, was);
	CU_ASSERT_EQUAL(res.new_flow, 1);
	CU_ASSERT_EQUAL(res.midstream, 1);
	res = send_gue(&fx, fx.snap, port, ELB_TCP_ACK | ELB_TCP_PSH, 2, was);
	CU_ASSERT_EQUAL(res.new_flow, 0);
	CU_ASSERT_EQUAL(res.midstream, 1);
	/* 12 bytes more than GUE variant 1 per packet. */
	CU_ASSERT_EQUAL(fx.w.counters.verdicts[ELB_VERDICT_FORWARD].bytes, 2 * (14 + 28 + 12 + 40));
	fx_fini(&fx);
}

/* The alternate is recomputed on each hit from the snapshot of the moment:
 * once the previous owner is removed, a mid-stream entry's packets go
 * without (and the owner itself never is its own alternate). */
static void test_second_chance_previous_removed(void)
{
	struct fixture fx;
	struct elb_snapshot *s2;
	uint16_t port;
	uint32_t was;

	fx_init(&fx, ELB_MAGLEV_MIN_SIZE);
	fx_second_chance(&fx, &port, &was);
	send_gue(&fx, fx.snap, port, ELB_TCP_ACK, 2, was);
	s2 = snap_clone(&fx, fx.snap);
	memset(&s2->backends[was], 0, sizeof(s2->backends[was]));
	CU_ASSERT_EQUAL(send_gue(&fx, s2, port, ELB_TCP_ACK, 2, NO_ALTERNATE).midstream, 1);
	fx_fini(&fx);
}

/* Previous owner of another family: a forwarding backend rewrites only the
 * outer destination, so it cannot be an alternate. */
static void test_second_chance_other_family(void)
{
	struct fixture fx;
	uint16_t port;
	uint32_t was;

	fx_init(&fx, ELB_MAGLEV_MIN_SIZE);
	fx_second_chance(&fx, &port, &was);
	fx.snap->backends[was].family = ELB_AF_INET6;
	send_gue(&fx, fx.snap, port, ELB_TCP_ACK, 2, NO_ALTERNATE);
	fx_fini(&fx);
}

/* second_chance off (the default): today's GUE bytes, mid-stream or not. */
static void test_second_chance_off(void)
{
	struct fixture fx;
	struct elb_pipeline_result res;
	uint16_t port;
	uint32_t was;

	fx_init(&fx, ELB_MAGLEV_MIN_SIZE);
	fx_second_chance(&fx, &port, &was);
	fx.snap->vips[0].second_chance = 0;
	res = send_gue(&fx, fx.snap, port, ELB_TCP_ACK, 2, NO_ALTERNATE);
	CU_ASSERT_EQUAL(res.midstream, 1);
	send_gue(&fx, fx.snap, port, ELB_TCP_ACK, 2, NO_ALTERNATE);
	fx_fini(&fx);
}

/* A SYN re-using the tuple of a mid-stream entry after its FIN re-picks and
 * makes the entry sure again: no alternate from then on. */
static void test_second_chance_syn_after_fin(void)
{
	struct fixture fx;
	struct elb_pipeline_result res;
	uint16_t port;
	uint32_t was;

	fx_init(&fx, ELB_MAGLEV_MIN_SIZE);
	fx_second_chance(&fx, &port, &was);
	send_gue(&fx, fx.snap, port, ELB_TCP_ACK, 2, was);
	send_gue(&fx, fx.snap, port, ELB_TCP_ACK | ELB_TCP_FIN, 2, was);
	res = send_gue(&fx, fx.snap, port, ELB_TCP_SYN, 2, NO_ALTERNATE);
	CU_ASSERT_EQUAL(res.new_flow, 1);
	CU_ASSERT_EQUAL(res.midstream, 0);
	res = send_gue(&fx, fx.snap, port, ELB_TCP_ACK, 2, NO_ALTERNATE);
	CU_ASSERT_EQUAL(res.midstream, 0);
	fx_fini(&fx);
}

/* The MTU check counts the alternate's 12 bytes: a 40-byte packet that
 * would fit an MTU of 68 in GUE variant 1 (20 + 8 + 40) is too big for it
 * with the alternate; at 80 it goes. */
static void test_second_chance_mtu(void)
{
	struct fixture fx;
	struct elb_pipeline_result res;
	uint8_t *buf = buf_new();
	uint8_t *frame = buf + HEADROOM;
	uint16_t port;
	uint32_t was, len;

	fx_init(&fx, ELB_MAGLEV_MIN_SIZE);
	fx_second_chance(&fx, &port, &was);
	fx.snap->vips[0].mtu = 68;
	len = build_tcp4(frame, CLIENT, port, VIP_ADDR, 80, ELB_TCP_ACK, 0, true);
	elb_pipeline_run(&fx.w, fx.snap, frame, len, HEADROOM, T0, &res);
	CU_ASSERT_EQUAL(res.verdict, ELB_VERDICT_REPLY);
	CU_ASSERT_EQUAL(res.reason, ELB_REASON_TOO_BIG);
	CU_ASSERT_EQUAL(res.has_alternate, 1);
	fx.snap->vips[0].mtu = 80;
	send_gue(&fx, fx.snap, port, ELB_TCP_ACK, 2, was);
	free(buf);
	fx_fini(&fx);
}


/* ---- QUIC routing by connection ID (elb_quic_route.h) ------------------------------------ */

#define QUIC_PORT 443
#define QUIC_SID_LEN 2
#define QUIC_NONCE_LEN 6

/* Send a UDP datagram with payload p to the VIP from src:sport; FORWARD
 * frames are checked byte for byte against the IP-in-IP expectation. */
static struct elb_pipeline_result send_udp(struct fixture *fx, const struct elb_snapshot *snap,
					   uint32_t src, uint16_t sport, const uint8_t *p,
					   uint32_t plen)
{
	struct elb_pipeline_result res;
	uint8_t *buf = buf_new(), *want = buf_new();
	uint8_t *frame = buf + HEADROOM, inner[256];
	uint32_t len = elb_test_udp4_frame(frame, port_mac, router_mac, src, sport, VIP_ADDR,
					   QUIC_PORT, p, plen);

	memcpy(inner, frame + 14, len - 14);
	elb_pipeline_run(&fx->w, snap, frame, len, HEADROOM, T0, &res);
	if (res.verdict == ELB_VERDICT_FORWARD) {
		uint32_t want_len = expect_ipip(want, inner, len - 14,
						ntohl(snap->backends[res.backend_slot].addr.v4));

		ELB_ASSERT_BYTES(frame + res.head_move, res.out_len, want, want_len);
	}
	free(want);
	free(buf);
	return res;
}

/* A 1-RTT packet (short header) whose DCID is a plaintext QUIC-LB CID of
 * config `cr` for server ID sid, laid out by hand: first octet (config ID,
 * length), server ID, nonce; then 20 octets of "protected payload". */
static uint32_t quic_short(uint8_t *p, uint8_t cr, uint16_t sid, uint8_t nonce_seed)
{
	uint32_t n = 0;

	p[n++] = 0x40 | (nonce_seed & 0x1f); /* header form 0, fixed bit 1 */
	p[n++] = (uint8_t)(cr << 5 | (QUIC_SID_LEN + QUIC_NONCE_LEN));
	p[n++] = (uint8_t)(sid >> 8);
	p[n++] = (uint8_t)sid;
	for (int i = 0; i < QUIC_NONCE_LEN; i++)
		p[n++] = (uint8_t)(nonce_seed * 7 + i);
	for (int i = 0; i < 20; i++)
		p[n++] = (uint8_t)(0xa0 + i);
	return n;
}

/* A v1 Initial from a client: long header, type 0, version 1, a DCID the
 * client chose (8 octets), an empty SCID, token length 0, then padding. */
static uint32_t quic_initial(uint8_t *p, uint8_t seed)
{
	uint32_t n = 0;

	p[n++] = 0xc0;
	p[n++] = 0, p[n++] = 0, p[n++] = 0, p[n++] = 1;
	p[n++] = 8;
	for (int i = 0; i < 8; i++)
		p[n++] = (uint8_t)(seed + 31 * i);
	p[n++] = 0; /* SCID length */
	p[n++] = 0; /* token length */
	while (n < 64)
		p[n++] = 0;
	return n;
}

/* VIP 0 as a UDP :443 VIP whose backends 0, 1, 2 have server IDs 0x0001,
 * 0x0002, 0x0003, config 1 plaintext. Returns the snapshot. */
static struct elb_snapshot *quic_snapshot(struct fixture *fx, struct elb_snapshot **plain)
{
	struct elb_snapshot *s = snap_clone(fx, fx->snap), *p = snap_clone(fx, fx->snap);
	struct elb_vip_quic *q;
	uint32_t size = elb_quic_servers_size(N_BACKENDS);

	q = fx_own(fx, calloc(1, sizeof(*q) + size * sizeof(q->servers[0])));
	q->server_id_len = QUIC_SID_LEN;
	q->mask = size - 1;
	CU_ASSERT_EQUAL_FATAL(elb_quic_lb_config_init(&q->configs[1], QUIC_SID_LEN, QUIC_NONCE_LEN,
						      NULL), 0);
	for (uint32_t b = 0; b < N_BACKENDS; b++) {
		uint8_t sid[ELB_QUIC_SERVER_ID_MAX] = {0, (uint8_t)(b + 1)};

		CU_ASSERT_EQUAL_FATAL(elb_quic_server_add(q, sid, b), 0);
	}
	for (int i = 0; i < 2; i++) {
		struct elb_snapshot *x = i ? p : s;

		vip_setup(&x->vips[0], 0, VIP_ADDR, QUIC_PORT, ELB_IPPROTO_UDP, fx->snap->vips[0].maglev,
			  fx->snap->vips[0].maglev_size);
		elb_vip_lookup_clear(x);
		CU_ASSERT_EQUAL_FATAL(elb_vip_lookup_insert(x, &x->vips[0]), 0);
	}
	s->vips[0].quic = q;
	*plain = p;
	return s;
}

static void test_quic_routes_by_server_id(void)
{
	struct fixture fx, ref;
	struct elb_snapshot *s, *plain, *ref_s, *ref_plain;
	struct elb_pipeline_result res, base;
	const struct elb_vip_counters *vc;
	uint8_t p[128];
	uint32_t n;
	bool maglev_differs = false;

	fx_init(&fx, 251);
	fx_init(&ref, 251); /* the same node without QUIC routing: the 5-tuple's pick */
	s = quic_snapshot(&fx, &plain);
	ref_s = quic_snapshot(&ref, &ref_plain);
	(void)ref_s;

	/* The server ID decides, whatever the client's address and port: a
	 * client that moves keeps its backend. */
	for (uint32_t i = 0; i < 12; i++) {
		uint32_t src = CLIENT + i * 977;
		uint16_t sport = (uint16_t)(5000 + 13 * i);

		n = quic_short(p, 1, 0x0002, (uint8_t)i);
		res = send_udp(&fx, s, src, sport, p, n);
		CU_ASSERT_EQUAL(res.verdict, ELB_VERDICT_FORWARD);
		CU_ASSERT_EQUAL(res.backend_slot, 1);
		CU_ASSERT_EQUAL(res.quic, ELB_QUIC_BY_CID + 1);
		base = send_udp(&ref, ref_plain, src, sport, p, n);
		CU_ASSERT_EQUAL(base.quic, 0);
		maglev_differs = maglev_differs || base.backend_slot != 1;
	}
	CU_ASSERT_TRUE(maglev_differs); /* the 5-tuple alone would have spread them */

	/* Initial: the client's DCID, routed by the 5-tuple as without QUIC. */
	for (uint32_t i = 0; i < 6; i++) {
		n = quic_initial(p, (uint8_t)(40 + i));
		res = send_udp(&fx, s, CLIENT + 5, (uint16_t)(6000 + i), p, n);
		base = send_udp(&ref, ref_plain, CLIENT + 5, (uint16_t)(6000 + i), p, n);
		CU_ASSERT_EQUAL(res.verdict, ELB_VERDICT_FORWARD);
		CU_ASSERT_EQUAL(res.backend_slot, base.backend_slot);
		CU_ASSERT_EQUAL(res.quic, ELB_QUIC_CLIENT_CID + 1);
	}

	/* CIDs that name no route fall back to the 5-tuple: an unknown server
	 * ID, a config ID not configured, the no-config codepoint. */
	{
		static const struct {
			uint8_t cr;
			uint16_t sid;
			enum elb_quic_outcome outcome;
		} misses[] = {
			{1, 0x0009, ELB_QUIC_UNKNOWN_SERVER},
			{4, 0x0002, ELB_QUIC_UNKNOWN_CONFIG},
			{7, 0x0002, ELB_QUIC_NO_CONFIG_CODEPOINT},
		};

		for (size_t i = 0; i < ELB_ARRAY_SIZE(misses); i++) {
			n = quic_short(p, misses[i].cr, misses[i].sid, 9);
			res = send_udp(&fx, s, CLIENT + 9, (uint16_t)(7000 + i), p, n);
			base = send_udp(&ref, ref_plain, CLIENT + 9, (uint16_t)(7000 + i), p, n);
			CU_ASSERT_EQUAL(res.backend_slot, base.backend_slot);
			CU_ASSERT_EQUAL(res.quic, misses[i].outcome + 1);
		}
	}
	/* Too short for the configuration's CID; not QUIC at all. */
	n = quic_short(p, 1, 0x0002, 3);
	res = send_udp(&fx, s, CLIENT + 10, 7100, p, 1 + 1 + QUIC_SID_LEN + QUIC_NONCE_LEN - 1);
	CU_ASSERT_EQUAL(res.quic, ELB_QUIC_CID_TOO_SHORT + 1);
	res = send_udp(&fx, s, CLIENT + 10, 7101, p, 0);
	CU_ASSERT_EQUAL(res.quic, ELB_QUIC_UNPARSED + 1);

	/* A flow entry made by the 5-tuple follows the server ID once the
	 * server's CIDs arrive (here a different backend than Maglev's). */
	n = quic_initial(p, 77);
	res = send_udp(&fx, s, CLIENT + 11, 7200, p, n);
	CU_ASSERT_EQUAL_FATAL(res.verdict, ELB_VERDICT_FORWARD);
	{
		uint32_t maglev = res.backend_slot, other = (maglev + 1) % N_BACKENDS;
		uint64_t repicked = fx.w.counters.flows_repicked;

		n = quic_short(p, 1, (uint16_t)(other + 1), 4);
		res = send_udp(&fx, s, CLIENT + 11, 7200, p, n);
		CU_ASSERT_EQUAL(res.backend_slot, other);
		CU_ASSERT_EQUAL(fx.w.counters.flows_repicked, repicked + 1);
		res = send_udp(&fx, s, CLIENT + 11, 7200, p, n);
		CU_ASSERT_EQUAL(res.backend_slot, other);
		CU_ASSERT_EQUAL(res.new_flow, 0);
		CU_ASSERT_EQUAL(fx.w.counters.flows_repicked, repicked + 1);
	}

	vc = &fx.w.vip_counters[0];
	CU_ASSERT_EQUAL(vc->quic[ELB_QUIC_BY_CID], 12 + 2);
	CU_ASSERT_EQUAL(vc->quic[ELB_QUIC_CLIENT_CID], 6 + 1);
	CU_ASSERT_EQUAL(vc->quic[ELB_QUIC_UNKNOWN_SERVER], 1);
	CU_ASSERT_EQUAL(vc->quic[ELB_QUIC_UNKNOWN_CONFIG], 1);
	CU_ASSERT_EQUAL(vc->quic[ELB_QUIC_NO_CONFIG_CODEPOINT], 1);
	CU_ASSERT_EQUAL(vc->quic[ELB_QUIC_CID_TOO_SHORT], 1);
	CU_ASSERT_EQUAL(vc->quic[ELB_QUIC_UNPARSED], 1);
	CU_ASSERT_EQUAL(vc->quic[ELB_QUIC_OTHER_VERSION], 0);
	fx_fini(&fx);
	fx_fini(&ref);
}

int main(void)
{
	static const struct elb_test_case cases[] = {
		ELB_TEST(test_syn_forwarded_m251),
		ELB_TEST(test_syn_forwarded_m65537),
		ELB_TEST(test_syn_forwarded_hex),
		ELB_TEST(test_flow_sticks_and_spreads),
		ELB_TEST(test_burst_equals_single),
		ELB_TEST(test_not_vip_and_malformed),
		ELB_TEST(test_backend_removed_repicks),
		ELB_TEST(test_backend_draining),
		ELB_TEST(test_syn_after_fin_repicks),
		ELB_TEST(test_rate_limit),
		ELB_TEST(test_flood_mode),
		ELB_TEST(test_source_limits),
		ELB_TEST(test_mtu_too_big),
		ELB_TEST(test_fragment_no_vip),
		ELB_TEST(test_vip_lookup),
		ELB_TEST(test_no_backend),
		ELB_TEST(test_icmp_error_follows_flow),
		ELB_TEST(test_prefix_lists),
		ELB_TEST(test_prefix_deny_before_admission),
		ELB_TEST(test_prefix_burst),
		ELB_TEST(test_vlan_tagged_forwarded),
		ELB_TEST(test_second_chance_syn_is_sure),
		ELB_TEST(test_second_chance_midstream),
		ELB_TEST(test_second_chance_previous_removed),
		ELB_TEST(test_second_chance_other_family),
		ELB_TEST(test_second_chance_off),
		ELB_TEST(test_second_chance_syn_after_fin),
		ELB_TEST(test_second_chance_mtu),
		ELB_TEST(test_quic_routes_by_server_id),
		ELB_TEST_END,
	};

	return elb_test_run("pipeline", cases);
}
