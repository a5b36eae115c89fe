/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The per-packet decision of the DPDK dataplane (and of edgelb-replay and
 * edgelb-bench, which run the same code): parse, find the VIP, apply the
 * prefix lists (elb_prefix_list.h), find the flow or pick a backend with
 * Maglev, apply the flow's rate limit, then
 * encapsulate toward the backend or answer "too big". Plain C: the XDP
 * program composes the same shared pieces (parser, hash, Maglev slot, token
 * bucket, encapsulation) around BPF maps instead of these structs.
 *
 * The structs up to struct elb_worker_counters are shared with the XDP
 * program (its maps hold the same backend slots, counters and results);
 * the worker, with its flow table, and the functions are C only.
 *
 * Threading: a struct elb_snapshot is built by the control thread, published
 * whole with one pointer store, and never written afterwards; workers only
 * read it. A struct elb_worker (flow table, counters) belongs to one worker
 * and is written by it alone; the control thread only reads its counters.
 */
#ifndef ELB_PIPELINE_H
#define ELB_PIPELINE_H

#include "elb_admission.h"
#include "elb_compat.h"
#include "elb_flow.h"
#include "elb_flow_state.h"
#include "elb_parse.h"
#include "elb_quic_route.h"
#include "elb_prefix_list.h"
#include "elb_reasons.h"
#include "elb_token_bucket.h"

#define ELB_MAX_VIPS 256
#define ELB_MAX_BACKEND_SLOTS 65536 /* (VIP, backend) pairs over all VIPs */
#define ELB_VIP_LOOKUP_SIZE 1024    /* power of two, >= 2 * (2 * ELB_MAX_VIPS) */
#define ELB_NO_VIP 0xffff

enum elb_backend_state {
	ELB_BACKEND_EMPTY = 0, /* slot unused */
	ELB_BACKEND_ACTIVE,    /* gets new flows in proportion to its weight */
	ELB_BACKEND_DRAINING,  /* keeps its flows, gets no new ones */
};

/*
 * One backend of one VIP. Slots keep their position across snapshots while
 * the backend stays in the VIP's set, and a slot given to a new backend gets
 * a new generation: a flow entry remembers (slot, generation), so a flow
 * whose backend was removed is noticed with one compare and re-picked.
 */
struct elb_backend_slot {
	union elb_addr addr;
	uint32_t gen;       /* 0 for an empty slot; never reused for another backend */
	uint16_t vip_index; /* the VIP this slot belongs to */
	uint8_t family;     /* ELB_AF_INET or ELB_AF_INET6: the outer header's family */
	uint8_t state;      /* enum elb_backend_state */
	uint32_t weight;
	uint32_t reserved;
};
_Static_assert(sizeof(struct elb_backend_slot) == 32, "two backend slots per cache line");

struct elb_vip {
	union elb_addr addr;
	uint16_t port; /* network order; 0 = every port of this address and protocol */
	uint8_t proto; /* ELB_IPPROTO_TCP or ELB_IPPROTO_UDP */
	uint8_t family;
	uint16_t index;     /* position in elb_snapshot.vips and in per-VIP counters */
	uint16_t mtu;       /* largest outer IP packet toward backends */
	uint8_t gue;        /* GUE (UDP) encapsulation instead of plain IP-in-IP */
	uint8_t rate_limited;
	uint16_t gue_dport; /* network order */
	uint32_t maglev_size;
	uint32_t gen; /* this VIP's generation: a new VIP reusing the index gets a new one */
	uint8_t second_chance; /* attach the previous owner as alternate (elb_second_chance.h) */
	/* prefixes[] has a table: the one test a packet pays when no list
	 * concerns this VIP. */
	uint8_t has_prefixes;
	const uint32_t *maglev; /* maglev_size slots of backend-slot indices or ELB_MAGLEV_EMPTY */
	/* maglev_size entries: the backend slot that owned each Maglev slot
	 * before the last change that moved it, ELB_MAGLEV_EMPTY when none
	 * (elb_maglev_previous); NULL = none anywhere. */
	const uint32_t *maglev_previous;
	struct elb_rate_limit rate_limit;
	struct elb_flow_timeouts timeouts;
	/* Admission control (elb_admission.h): this worker's share of the
	 * VIP's rates. */
	struct elb_flow_budget flow_budget;
	uint8_t n_source_limits;
	struct elb_source_limit source_limits[ELB_SOURCE_LIMITS_MAX];
	/* Prefix lists (elb_prefix_table.h) by scope: [ELB_PREFIX_SCOPE_VIP]
	 * the VIP's own (a reference of the snapshot's), [ELB_PREFIX_SCOPE_NODE]
	 * the node's (the snapshot's node_prefixes); NULL = no list. */
	const struct elb_prefix_table *prefixes[ELB_PREFIX_SCOPES];
	/* QUIC routing by connection ID (elb_quic_route.h); NULL: off. */
	const struct elb_vip_quic *quic;
};

/* Open-addressed VIP lookup entry; vip_index ELB_NO_VIP marks a free entry. */
struct elb_vip_lookup_entry {
	union elb_addr addr;
	uint16_t port;
	uint8_t proto;
	uint8_t family;
	uint16_t vip_index; /* ELB_NO_VIP: free; for an address marker (port 0,
			     * proto 0): any VIP of this address */
	uint16_t pad;
};

struct elb_maglev_backend;
struct elb_prefix_table;

struct elb_snapshot {
	uint64_t epoch; /* configuration generation this snapshot was built from */
	/* The per-source sketch's row hashes, from seed (elb_source_keys_init). */
	struct elb_source_keys source_keys;
	struct elb_hash_seed seed;
	union elb_addr source_v4; /* outer source toward IPv4 backends */
	union elb_addr source_v6; /* outer source toward IPv6 backends */
	uint8_t gateway_mac[6];   /* next hop toward the backends */
	uint16_t n_vips;
	uint32_t n_backend_slots; /* slots in use are below this */
	struct elb_vip vips[ELB_MAX_VIPS];
	struct elb_vip_lookup_entry vip_lookup[ELB_VIP_LOOKUP_SIZE];
	struct elb_backend_slot *backends; /* ELB_MAX_BACKEND_SLOTS entries */
	/* Control path only (never read per packet): what each VIP's Maglev
	 * table was built from, so that the next snapshot copies the table of
	 * a VIP whose inputs did not change instead of building it again
	 * (elb_snapshot.c). NULL where unknown (a snapshot read back from
	 * pinned maps). */
	struct elb_maglev_inputs {
		struct elb_maglev_backend *backends; /* n entries, in build order (elb_maglev.h) */
		uint32_t n;
	} maglev_inputs[ELB_MAX_VIPS];
	uint32_t n_maglev_reused; /* tables copied from the previous snapshot */
	/* The node's prefix list (a reference of this snapshot's, as each
	 * VIP's own list is: elb_snapshot_set_prefixes); NULL = none. */
	struct elb_prefix_table *node_prefixes;
};

enum elb_verdict {
	ELB_VERDICT_FORWARD = 0, /* encapsulated toward a backend */
	ELB_VERDICT_REPLY,       /* turned into an ICMP "too big" for the client */
	ELB_VERDICT_KERNEL,      /* not for a VIP: hand to the kernel unchanged */
	ELB_VERDICT_DROP,        /* result.reason says why */
	ELB_VERDICT_COUNT,
};

struct elb_pipeline_result {
	uint8_t verdict; /* enum elb_verdict */
	uint8_t reason;  /* enum elb_reason: why dropped, or TOO_BIG for a reply */
	uint16_t vip_index;
	uint32_t backend_slot; /* for FORWARD */
	int32_t head_move;     /* the output frame starts this many bytes after the input's (<= 0) */
	uint32_t out_len;      /* output frame length, for FORWARD and REPLY */
	uint8_t new_flow;      /* this packet created or re-picked its flow entry */
	uint8_t has_alternate; /* FORWARD carried a second-chance alternate */
	uint8_t midstream;     /* the flow entry is ELB_FLOW_F_MIDSTREAM (learned mid-stream) */
	uint8_t stateless;     /* flood mode: forwarded by Maglev, no entry made (elb_admission.h) */
	uint32_t alternate_slot; /* backend slot of the alternate, when has_alternate */
	uint8_t quic;            /* a QUIC VIP's packet: enum elb_quic_outcome + 1; else 0 */
	uint8_t pad[3];
};

struct elb_counter_pair {
	uint64_t packets;
	uint64_t bytes;
};

/*
 * Per-VIP and per-backend counters of one worker are tagged with the
 * generation of the VIP or backend slot they count for: when an index or
 * slot is given to a new VIP or backend, the worker itself zeroes the block
 * the first time it counts under the new generation (the control thread
 * never writes them), and readers add only blocks of the current
 * generation. So a new backend does not inherit a removed one's traffic.
 */
struct elb_vip_counters {
	uint32_t gen;
	uint32_t rate_limited_flows; /* flows that hit their rate limit: once per flow entry */
	struct elb_counter_pair rx;        /* packets for the VIP */
	struct elb_counter_pair forwarded; /* sent to a backend */
	uint64_t new_flows;
	uint64_t drops[ELB_REASON_COUNT];
	uint64_t replies; /* ICMP too-big replies sent */
	uint64_t quic[ELB_QUIC_OUTCOMES]; /* a QUIC VIP's packets, by what routed them */
	/* Packets a prefix list's rule decided, by the list's scope and the
	 * rule's action - 1 (elb_prefix_list.h); denies are also in
	 * drops[ELB_REASON_SOURCE_DENIED]. */
	uint64_t prefix_matches[ELB_PREFIX_SCOPES][ELB_PREFIX_ACTIONS];
};

struct elb_backend_counters {
	uint32_t gen;
	uint32_t reserved;
	struct elb_counter_pair forwarded;
	uint64_t new_flows;
};

/* Counters of one worker: written by it only. */
struct elb_worker_counters {
	struct elb_counter_pair rx;
	struct elb_counter_pair verdicts[ELB_VERDICT_COUNT];
	uint64_t drops[ELB_REASON_COUNT];
	uint64_t new_flows;
	uint64_t flows_repicked; /* existing entry whose backend left, or a reused 5-tuple */
	/* inserts, expirations and evictions: in flows.stats */
};

#if !defined(__bpf__)
#include "elb_flow_table.h"

struct elb_worker {
	struct elb_flow_table flows;
	uint8_t port_mac[6]; /* source MAC of what this worker sends */
	struct elb_worker_counters counters;
	struct elb_vip_counters *vip_counters;         /* ELB_MAX_VIPS */
	struct elb_backend_counters *backend_counters; /* ELB_MAX_BACKEND_SLOTS */
	/* Admission state: every worker has both (elb_worker_admission_size). */
	struct elb_flow_budget_state *flow_budgets; /* ELB_MAX_VIPS */
	struct elb_source_cell *source_cells;       /* ELB_SOURCE_ROWS << source_column_bits */
	uint32_t source_column_bits;
};

/*
 * Decide for the frame [frame, frame + len), which has `headroom` writable
 * bytes before it, at time now_ns. On FORWARD and REPLY the output frame has
 * been written in place at frame + result->head_move, result->out_len long.
 * Never fails: every outcome is a verdict, counted in w->counters.
 */
void elb_pipeline_run(struct elb_worker *w, const struct elb_snapshot *snap, uint8_t *frame,
		      uint32_t len, uint32_t headroom, uint64_t now_ns,
		      struct elb_pipeline_result *result);

#define ELB_PIPELINE_BURST_MAX 32

/*
 * elb_pipeline_run for n <= ELB_PIPELINE_BURST_MAX frames at once, with the
 * same results; staged so that the flow-table misses of the burst overlap.
 * The DPDK workers call this per RX burst.
 */
void elb_pipeline_run_burst(struct elb_worker *w, const struct elb_snapshot *snap,
			    uint8_t *const *frames, const uint32_t *lens, uint32_t n,
			    uint32_t headroom, uint64_t now_ns, struct elb_pipeline_result *results);

/* Find the VIP for a parsed key: exact port first, then the all-ports VIP.
 * Returns the VIP index or ELB_NO_VIP; *address_known tells whether the
 * destination is a VIP address at all (for fragments to a port VIP). */
uint16_t elb_vip_find(const struct elb_snapshot *snap, const struct elb_flow_key *key,
		      bool *address_known);

/* Control path: add a VIP's lookup entries to a snapshot being built.
 * @return 0 or -ENOSPC. */
int elb_vip_lookup_insert(struct elb_snapshot *snap, const struct elb_vip *vip);
/* Control path: mark every lookup entry free (before inserting VIPs). */
void elb_vip_lookup_clear(struct elb_snapshot *snap);

#endif /* !__bpf__ */

#endif /* ELB_PIPELINE_H */
