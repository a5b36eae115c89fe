/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Admission control at the edge (issue 18), shared by both dataplanes: the
 * DPDK pipeline and the XDP program call these same functions, on the same
 * state layouts, so that they admit the same packets.
 *
 * Two mechanisms, each with its state per worker (DPDK) or per CPU (XDP),
 * so that no state is shared between cores:
 *
 * 1. Per-source limits: packets/s and new flows/s per source prefix of a
 *    VIP (e.g. IPv4 /32 and /24). Sources are counted in a count-min sketch
 *    whose cells are GCRA timestamps (elb_token_bucket.h) rather than
 *    counts: ELB_SOURCE_ROWS rows of 2^column_bits cells, a source's
 *    key (VIP, prefix length, masked address) hashed by each row's keyed
 *    multiply-shift hash to one cell of the row. A source's estimate is the smallest of its cells;
 *    a packet that conforms advances every one of its cells to at least its
 *    new timestamp (conservative update), one that does not changes none.
 *    Each cell stays at or above the timestamp the source alone would have
 *    (cells only grow, and each is raised to the source's own new value), so:
 *    - a source above its limit is always limited (no false negative);
 *    - a source below it is limited only when, in every row, the sources
 *      sharing its cell take the rest of the limit: the count-min bound.
 *      With a total of N new keys per second spread over the cells by the
 *      keyed hash, a cell carries about N / 2^column_bits of them
 *      beside the source; for a source at rate r under limit L, every row
 *      must exceed L - r. docs/admission.md gives the bound and how to size
 *      the sketch; tests/unit/test_admission.c measures it.
 *    Memory and per-packet cost are fixed (ELB_SOURCE_ROWS cells per key),
 *    whatever the number of sources: spoofed sources cannot exhaust it, only
 *    raise the false-positive rate, which is bounded as above.
 *
 * 2. A per-VIP budget of new flows: a token bucket of new flows per second.
 *    When a new flow finds it empty the VIP enters flood mode: new flows are
 *    still forwarded, by the stateless Maglev pick (the backend a flow entry
 *    would have held), but get no flow entry, so the table keeps its
 *    established flows. Flood mode ends with hysteresis: once a whole window
 *    of ELB_FLOOD_WINDOW_NS has seen at most half the budget's rate of new
 *    flows (a window with none at all included).
 */
#ifndef ELB_ADMISSION_H
#define ELB_ADMISSION_H

#include "elb_compat.h"
#include "elb_flow.h"
#include "elb_token_bucket.h"

/* ---- per-source limits ----------------------------------------------------------------- */

#define ELB_SOURCE_ROWS 4
/* Columns per row: a power of two, chosen per node (docs/admission.md
 * sizes it); 2^16 by default. */
#define ELB_SOURCE_COLUMN_BITS_DEFAULT 16
#define ELB_SOURCE_COLUMN_BITS_MIN 1
#define ELB_SOURCE_COLUMN_BITS_MAX 24
/* Prefix lengths a VIP can limit per address family. */
#define ELB_SOURCE_LIMITS_MAX 2

/* One cell: the GCRA timestamps (1/64 ns) of the keys hashed to it. */
struct elb_source_cell {
	uint64_t pkt_tat;
	uint64_t flow_tat;
};

/* Bytes of a sketch of 2^column_bits columns per row. */
#define ELB_SOURCE_SKETCH_BYTES(column_bits)                                                     \
	((size_t)ELB_SOURCE_ROWS * sizeof(struct elb_source_cell) << (column_bits))

/* The limit of one prefix length of a VIP, precomputed on the control path
 * (elb_source_limit_init). An interval of 0 leaves that rate unlimited. */
struct elb_source_limit {
	uint64_t pkt_interval;   /* 1/64 ns per packet */
	uint64_t pkt_tolerance;  /* burst * pkt_interval */
	uint64_t flow_interval;  /* 1/64 ns per new flow */
	uint64_t flow_tolerance; /* burst * flow_interval */
	uint8_t prefix_len;      /* of the source address: 1..32 (IPv4), 1..128 (IPv6) */
	uint8_t family;          /* ELB_AF_INET or ELB_AF_INET6 */
	uint8_t pad[6];
};

/*
 * The key a source is counted under: the VIP, the prefix length and the
 * source address masked to it, as 32-bit chunks (IPv4: 2, IPv6: 5). Each
 * row hashes it with vector multiply-shift (Dietzfelbinger; Thorup, "High
 * speed hashing for integers and strings"): the chunks times 64-bit random
 * multipliers, plus a random addend, summed mod 2^64, top bits taken. With
 * 32-bit chunks in 64-bit arithmetic that family is strongly universal: two
 * keys share a row's cell with probability 2^-column_bits, which is what
 * the count-min bound needs; and it costs a multiply per chunk, not a
 * SipHash per key. The multipliers are drawn from the node's secret seed
 * (elb_source_keys_init), so that a sender cannot aim at a cell.
 */
#define ELB_SOURCE_KEY_CHUNKS 5

struct elb_source_key {
	uint32_t chunk[ELB_SOURCE_KEY_CHUNKS];
	uint32_t n_chunks;
};

struct elb_source_keys {
	uint64_t mul[ELB_SOURCE_ROWS][ELB_SOURCE_KEY_CHUNKS];
	uint64_t add[ELB_SOURCE_ROWS];
};

ELB_INLINE void elb_source_key_of(const union elb_addr *src, const struct elb_source_limit *lim,
				  uint16_t vip_index, struct elb_source_key *k)
{
	uint32_t len = lim->prefix_len;

	k->chunk[0] = (uint32_t)vip_index | (uint32_t)lim->prefix_len << 16 |
		      (uint32_t)lim->family << 24;
	if (lim->family == ELB_AF_INET) {
		k->chunk[1] = elb_ntohl(src->v4) & (len >= 32 ? 0xffffffffu : ~(0xffffffffu >> len));
		k->n_chunks = 2;
		return;
	}
	ELB_UNROLL
	for (uint32_t i = 0; i < 4; i++) {
		uint32_t bits = len > 32 * i ? len - 32 * i : 0;

		k->chunk[1 + i] = elb_ntohl(src->w[i]) &
				  (bits >= 32 ? 0xffffffffu : bits == 0 ? 0 : ~(0xffffffffu >> bits));
	}
	k->n_chunks = 5;
}

/* Cell of row r for a key, in a sketch of 2^column_bits (1 ..
 * ELB_SOURCE_COLUMN_BITS_MAX) columns per row stored row after row. */
ELB_INLINE uint32_t elb_source_cell_index(const struct elb_source_keys *keys,
					  const struct elb_source_key *k, uint32_t row,
					  uint32_t column_bits)
{
	uint64_t h = keys->add[row] + keys->mul[row][0] * k->chunk[0] +
		     keys->mul[row][1] * k->chunk[1];

	if (k->n_chunks > 2)
		h += keys->mul[row][2] * k->chunk[2] + keys->mul[row][3] * k->chunk[3] +
		     keys->mul[row][4] * k->chunk[4];
	return row << column_bits | (uint32_t)(h >> (64 - column_bits));
}

/* A key's decision before it is committed: a packet checks every prefix
 * length of its VIP first and commits only if all conform (a refused packet
 * takes nothing from any limit). */
struct elb_source_check {
	uint64_t pkt_tat;  /* new timestamps to commit */
	uint64_t flow_tat; /* 0: not a new flow, or no flow limit */
};

enum elb_source_verdict {
	ELB_SOURCE_CONFORMS = 0,
	ELB_SOURCE_OVER_PACKETS,   /* above the packets/s limit */
	ELB_SOURCE_OVER_NEW_FLOWS, /* a new flow above the new flows/s limit */
};

/*
 * Does a packet of the key whose cells are cells[0 .. ELB_SOURCE_ROWS)
 * conform at now_ns (a new flow: also to the new-flow rate)? Fills *check
 * for elb_source_commit. Cells with no key yet are 0: a full bucket.
 */
/* The smallest of one rate's timestamps (new flows' or packets') over a
 * key's cells: the key's estimate. */
ELB_INLINE uint64_t elb_source_estimate(struct elb_source_cell *const *cells, bool flows)
{
	uint64_t min = flows ? cells[0]->flow_tat : cells[0]->pkt_tat;

	ELB_UNROLL
	for (uint32_t r = 1; r < ELB_SOURCE_ROWS; r++) {
		uint64_t t = flows ? cells[r]->flow_tat : cells[r]->pkt_tat;

		min = t < min ? t : min;
	}
	return min;
}

ELB_INLINE enum elb_source_verdict elb_source_conforms(struct elb_source_cell *const *cells,
						       const struct elb_source_limit *lim,
						       uint64_t now_ns, bool new_flow,
						       struct elb_source_check *check)
{
	uint64_t now = now_ns << ELB_RATE_FRAC_BITS, min;

	check->pkt_tat = 0;
	check->flow_tat = 0;
	if (lim->pkt_interval) {
		min = elb_source_estimate(cells, false);
		check->pkt_tat = (min > now ? min : now) + lim->pkt_interval;
		if (check->pkt_tat - now > lim->pkt_tolerance)
			return ELB_SOURCE_OVER_PACKETS;
	}
	if (new_flow && lim->flow_interval) {
		min = elb_source_estimate(cells, true);
		check->flow_tat = (min > now ? min : now) + lim->flow_interval;
		if (check->flow_tat - now > lim->flow_tolerance)
			return ELB_SOURCE_OVER_NEW_FLOWS;
	}
	return ELB_SOURCE_CONFORMS;
}

/* Commit a conforming packet: raise each of its cells to the new
 * timestamps (conservative update: a cell already above stays). A
 * timestamp of 0 is a rate not charged. */
ELB_INLINE void elb_source_commit(struct elb_source_cell *const *cells,
				  const struct elb_source_check *check)
{
	if (check->pkt_tat) {
		ELB_UNROLL
		for (uint32_t r = 0; r < ELB_SOURCE_ROWS; r++)
			if (cells[r]->pkt_tat < check->pkt_tat)
				cells[r]->pkt_tat = check->pkt_tat;
	}
	if (check->flow_tat) {
		ELB_UNROLL
		for (uint32_t r = 0; r < ELB_SOURCE_ROWS; r++)
			if (cells[r]->flow_tat < check->flow_tat)
				cells[r]->flow_tat = check->flow_tat;
	}
}

/* ---- per-VIP new-flow budget and flood mode -------------------------------------------- */

/* Flood mode ends after a window of this length with at most half the
 * budget's rate of new flows. */
#define ELB_FLOOD_WINDOW_NS 1000000000ull

/* A VIP's budget, precomputed on the control path (elb_flow_budget_init).
 * interval 0: no budget. */
struct elb_flow_budget {
	uint64_t interval;    /* 1/64 ns per new flow */
	uint64_t tolerance;   /* burst * interval */
	uint64_t exit_flows;  /* flood mode ends after a window with at most this many */
};

/* A VIP's budget state on one worker (CPU). Zeroed: a full bucket, normal
 * mode. Tagged with the VIP's generation, as its counters are: a new VIP
 * reusing the index starts from zero. */
struct elb_flow_budget_state {
	uint32_t gen;
	uint32_t pad0;
	uint64_t tat;          /* GCRA timestamp, 1/64 ns */
	uint64_t window_start; /* flood mode: ns at which this window began */
	uint64_t window_flows; /* flood mode: new flows seen in this window */
	uint64_t flood_entries; /* times this VIP entered flood mode here */
	uint64_t flood_flows;   /* new flows forwarded without an entry */
	uint8_t flooding;
	uint8_t pad[7];
};

enum elb_flow_admission {
	ELB_FLOW_STATEFUL = 0, /* within the budget: the flow gets its entry */
	ELB_FLOW_STATELESS,    /* flood mode: forwarded by Maglev, no entry */
};

/* One new flow of a VIP at now_ns (below ELB_RATE_MAX_NOW_NS). */
ELB_INLINE enum elb_flow_admission elb_flow_budget_admit(struct elb_flow_budget_state *s,
							 const struct elb_flow_budget *b,
							 uint64_t now_ns)
{
	uint64_t now = now_ns << ELB_RATE_FRAC_BITS, tat;

	if (b->interval == 0)
		return ELB_FLOW_STATEFUL;
	if (s->flooding) {
		uint64_t since = now_ns - s->window_start;

		if (since < ELB_FLOOD_WINDOW_NS) {
			s->window_flows++;
			s->flood_flows++;
			return ELB_FLOW_STATELESS;
		}
		/* Windows start at a new flow: one that comes two windows or more
		 * after the last began had a whole window with none before it. */
		if (s->window_flows > b->exit_flows && since < 2 * ELB_FLOOD_WINDOW_NS) {
			/* Still flooding: a new window from this flow on. */
			s->window_start = now_ns;
			s->window_flows = 1;
			s->flood_flows++;
			return ELB_FLOW_STATELESS;
		}
		/* The window that ended was quiet: back to normal, with the
		 * bucket as the quiet window left it (full: it refilled). */
		s->flooding = 0;
		s->tat = 0;
	}
	tat = (s->tat > now ? s->tat : now) + b->interval;
	if (tat - now <= b->tolerance) {
		s->tat = tat;
		return ELB_FLOW_STATEFUL;
	}
	s->flooding = 1;
	s->flood_entries++;
	s->window_start = now_ns;
	s->window_flows = 1;
	s->flood_flows++;
	return ELB_FLOW_STATELESS;
}

#if !defined(__bpf__)
/*
 * Control path. A rate of 0 leaves that limit off (its burst ignored); a
 * rate needs burst >= 1. @return 0, -EINVAL (bad family or prefix length,
 * burst 0 with a rate, rate above ELB_RATE_MAX_RATE) or -ERANGE (burst too
 * long, as elb_rate_limit_init). On error *out is unchanged.
 */
int elb_source_limit_init(struct elb_source_limit *out, uint8_t family, uint8_t prefix_len,
			  uint64_t packets_per_s, uint64_t packet_burst, uint64_t new_flows_per_s,
			  uint64_t new_flow_burst);
int elb_flow_budget_init(struct elb_flow_budget *out, uint64_t new_flows_per_s, uint64_t burst);
/* The rows' multipliers and addends, from the node's seed (SipHash of a
 * counter under a key of its own: the same seed gives the same sketch
 * layout, on every dataplane and after a restart). */
void elb_source_keys_init(struct elb_source_keys *keys, const struct elb_hash_seed *seed);
#endif

#endif /* ELB_ADMISSION_H */
