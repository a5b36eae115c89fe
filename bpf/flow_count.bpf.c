/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Live flows per backend slot, counted in the kernel: a BPF map-element
 * iterator over the XDP dataplane's flow tables, one per CPU (vip.tables,
 * drains; see xdp_flow_counts in dataplane/xdp/xdp_flow_count.c). User
 * space attaches count_flows once to each CPU's table, zeroes flow_counts,
 * reads each iterator fd to its end and reads flow_counts: nothing per
 * flow crosses to user space (one byte per ELB_FLOW_COUNT_CHUNK flows, to
 * end each read()), where the batch lookup copies every flow out.
 *
 * Its one map, backends, is the live instance's (bpf_map__reuse_fd before
 * load), defined in bpf/edgelb_xdp_maps.h with the others, and nothing here
 * writes it. The flow tables are not read through a map: the iterator hands
 * each element over in ctx.
 *
 * The rule is xdp_flow_count_batch's (the user-space fallback), and both
 * must count alike (tests/bpf/test_xdp_flow_count.c): each CPU's table
 * counts its own flows, as the DPDK dataplane sums its workers' tables: an
 * entry counts when it is in use, not expired at the walk's tick (when
 * check_expiry) and names a slot below n_slots whose generation in the
 * backends map is the entry's. A flow whose packets met two CPUs (no RSS)
 * is in two tables and counts twice, as it would in two workers.
 */
#include "elb_flow_state.h"
#include "elb_pipeline.h"

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "edgelb_flow_clock.h"
#define ELB_XDP_MAPS_SOME
#define ELB_XDP_MAP_BACKENDS
#include "edgelb_xdp_maps.h"

/* The context of "iter/bpf_map_elem" programs (the kernel's
 * struct bpf_iter__bpf_map_elem, not in the UAPI headers): the verifier
 * checks accesses against the iterator target's arguments, one 8-byte
 * pointer each, not against this type's name. */
struct seq_file;
struct bpf_map;
/* The kernel's, as far as read here (seq is its first member). */
struct bpf_iter_meta {
	struct seq_file *seq;
	uint64_t session_id;
	uint64_t seq_num;
};
struct bpf_iter__bpf_map_elem {
	struct bpf_iter_meta *meta;
	struct bpf_map *map;
	void *key;   /* read-only; NULL on the last call */
	void *value; /* read-only; one struct elb_xdp_flow (a CPU's table is not a per-CPU map) */
};

/*
 * One byte is written to the iterator's file every this many elements, so
 * that user space's read() of 1 byte returns there (about 2 ms of walk)
 * instead of after the kernel's MAX_ITER_OBJECTS (a million elements, half
 * a second and more). A read() is one RCU read-side section from start to
 * end: while it lasts, every synchronize_rcu() on the machine waits, among
 * them the one each update of an ARRAY_OF_MAPS makes (the Maglev tables:
 * a configuration push waited up to 0.65 s behind a walk of 2^21 flows).
 * Returning to user space between chunks ends the section; the walk goes
 * on from the element it stopped at.
 */
#ifndef ELB_FLOW_COUNT_CHUNK
#define ELB_FLOW_COUNT_CHUNK 4096
#endif

/* Set by user space before each walk (see the top). */
uint32_t n_slots;       /* snap->n_backend_slots, at most ELB_MAX_BACKEND_SLOTS */
uint8_t check_expiry;   /* 0: every copy in use counts (the replay's pcap clock) */
/* 1: judge expiry at now_tick as set. 0: the walk reads the balancer's
 * clock at its first element into now_tick, and sets this. */
uint8_t tick_given;
/* The balancer's flow clock calibration (its .bss, set by its
 * edgelb_clock_sync), copied in before each walk. */
uint64_t jiffy_ns;
uint64_t jiffies_offset_ns;

/* Written by the walk. now_tick: the tick expiry was judged at. */
uint32_t now_tick;
uint64_t flows_seen;    /* elements visited */
uint64_t flows_counted; /* of those, counted for a slot */
uint32_t flow_counts[ELB_MAX_BACKEND_SLOTS];

/* The tick the balancer judges expiry by when a packet comes. */
static __always_inline uint32_t balancer_tick(void)
{
	return elb_flow_tick(elb_xdp_flow_clock_ns(&jiffy_ns, &jiffies_offset_ns));
}

SEC("iter/bpf_map_elem")
int count_flows(struct bpf_iter__bpf_map_elem *ctx)
{
	const struct elb_xdp_flow *f = ctx->value;
	const struct elb_backend_slot *b;
	uint32_t slot;

	if (f == NULL)
		return 0; /* the call after the last element */
	if (check_expiry && !tick_given) {
		now_tick = balancer_tick();
		tick_given = 1;
	}
	flows_seen++;
	if (flows_seen % ELB_FLOW_COUNT_CHUNK == 0) {
		static const char mark = 'c';

		bpf_seq_write(ctx->meta->seq, &mark, sizeof(mark));
	}
	if (f->state == ELB_FLOW_FREE || (check_expiry && elb_flow_tick_expired(f->expiry, now_tick)))
		return 0;
	slot = f->backend_id;
	if (slot >= n_slots)
		return 0;
	b = bpf_map_lookup_elem(&backends, &slot);
	if (b == NULL || b->gen != f->backend_gen)
		return 0;
	/* slot < n_slots <= ELB_MAX_BACKEND_SLOTS; the verifier wants the
	 * array's own bound. */
	if (slot < ELB_MAX_BACKEND_SLOTS) {
		flow_counts[slot]++;
		flows_counted++;
	}
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
