/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The maps of the XDP dataplane (bpf/edgelb.bpf.c): key and value layouts
 * shared by the program and by user space (dataplane/xdp/), which copies a
 * struct elb_snapshot into them. Every padding byte is a named field that
 * user space zeroes: hash keys are compared as bytes, and values are copied
 * whole.
 *
 * Global variables (.bss, written by user space through the skeleton's
 * mmaped copy; not pinned, so each process fills them at start):
 *   node_config struct elb_xdp_node: what the program reads per packet
 *   vip_filter  bit elb_xdp_vip_filter_bit(a) set for every address a of
 *               a vips key: a clear bit means "no VIP at this address",
 *               one load instead of three hash lookups for non-VIP traffic
 *   source_keys struct elb_source_keys: the source sketch's row hashes,
 *               elb_source_keys_init of node_config's seed (admission
 *               control, elb_admission.h), written with node_config
 *   jiffy_ns, jiffies_offset_ns  the flow clock's calibration, set by the
 *               program edgelb_clock_sync, which user space runs once
 *
 * Map layout (names as in the program):
 *   node        ARRAY[1]                     struct elb_xdp_node (the
 *               program does not read it: the copy of node_config that a
 *               restarted agent adopts with the other pinned maps)
 *   vips        HASH[2 * ELB_MAX_VIPS]       struct elb_xdp_vip_key -> struct elb_xdp_vip
 *               (every VIP, plus one address marker {addr, port 0, proto 0}
 *               per VIP address, as elb_vip_lookup_insert puts in the
 *               snapshot's lookup table)
 *   maglev      ARRAY_OF_MAPS[ELB_MAX_VIPS]  VIP index -> inner ARRAY of
 *               1 + 2n u32: [0] = table size n, [1 + i] = backend slot of
 *               Maglev slot i (ELB_MAGLEV_EMPTY when no backend has
 *               weight), [1 + n + i] = its previous owner (struct elb_vip
 *               maglev_previous; ELB_MAGLEV_EMPTY when none). A table of
 *               an older edgelb-xdp (1 + n entries) has no previous
 *               owners: the lookup past its end fails, no alternate.
 *   backends    ARRAY[ELB_MAX_BACKEND_SLOTS] struct elb_backend_slot
 *   flows       ARRAY_OF_MAPS[possible CPUs] CPU number -> that CPU's flow
 *               table, an LRU_HASH of struct elb_flow_id (elb_flow.h) -> struct
 *               elb_xdp_flow (max_entries: --flows, per CPU). The program
 *               reads only the table of the CPU it runs on: per-CPU tables
 *               as the DPDK workers own theirs, with the value inside the
 *               hash element (one dependent load less per packet than the
 *               LRU_PERCPU_HASH of earlier versions, whose per-CPU value is
 *               a separate allocation). User space creates the tables
 *               (dataplane/xdp/xdp_flows.c), pins each as flows_cpu<N>
 *               beside the outer map, and adopts a pinned
 *               LRU_PERCPU_HASH of an earlier version by copying each CPU's
 *               copy into that CPU's table.
 *   counters    PERCPU_ARRAY[1]              struct elb_worker_counters
 *   vip_counters PERCPU_ARRAY[ELB_MAX_VIPS]  struct elb_vip_counters
 *   backend_counters PERCPU_ARRAY[ELB_MAX_BACKEND_SLOTS] struct elb_backend_counters
 *   vip_admission ARRAY[ELB_MAX_VIPS]        struct elb_xdp_admission: a VIP's
 *               source limits and new-flow budget (elb_admission.h), read
 *               only for a VIP with ELB_XDP_VIP_ADMISSION set; written
 *               before that VIP's vips entry
 *   flow_budgets PERCPU_ARRAY[ELB_MAX_VIPS]  struct elb_flow_budget_state:
 *               each CPU's budget state of each VIP, tagged with the VIP's
 *               generation as the counters are
 *   source_cells ARRAY[possible CPUs x ELB_XDP_SOURCE_CELLS_PER_CPU]
 *               struct elb_source_cell: each CPU's source sketch, one
 *               region per CPU (elb_xdp_source_cell). An ARRAY rather than
 *               a PERCPU_ARRAY: the verifier inlines an ARRAY lookup into
 *               an address computation on every kernel (a PERCPU_ARRAY
 *               lookup is a helper call on older kernels, Debian 12's
 *               6.1 among them, and a packet makes up to 8 of them), and
 *               each CPU's region, a multiple of 64 bytes, shares no cache
 *               line with another CPU's.
 *   prefixes    ARRAY_OF_MAPS[1]             [0] = the prefix lists' trie, an
 *               LPM_TRIE of struct elb_xdp_prefix_key -> struct
 *               elb_xdp_prefix_rule (below; written and swapped whole by
 *               dataplane/xdp/xdp_prefixes.c, which says why)
 *   vip_quic    ARRAY[2 * ELB_MAX_VIPS]      struct elb_xdp_quic: a QUIC VIP's
 *               configurations (keys included) and server ID length, two
 *               entries per VIP index (VIP index + ELB_MAX_VIPS for the
 *               second) of which the vips entry names one
 *               (ELB_XDP_VIP_QUIC_BANK); read only for a VIP with
 *               ELB_XDP_VIP_QUIC set; a change is written to the entry not
 *               in force, before the vips entry that names it
 *   quic_server_tables ARRAY_OF_MAPS[ELB_MAX_VIPS] a QUIC VIP's server-ID
 *               table, edgelb-dp's (struct elb_vip_quic.servers): an ARRAY
 *               of struct elb_quic_server, entry 0 a header whose slot is
 *               the table's mask, entry 1 + i the table's entry i; a new
 *               inner map per change, published by one update of the
 *               outer map (as maglev), before the vips entries
 *   quic_scratch PERCPU_ARRAY[1]            struct elb_xdp_quic_scratch: a CPU's
 *               working memory for decoding a CID (not pinned: it holds
 *               nothing between packets)
 * The QUIC-LB keys are in vip_quic: like every map here it is pinned
 * root-only (docs/quic-lb.md).
 */
#ifndef EDGELB_XDP_MAPS_H
#define EDGELB_XDP_MAPS_H

#include "elb_admission.h"
#include "elb_compat.h"
#include "elb_flow.h"
#include "elb_flow_state.h"
#include "elb_pipeline.h"
#include "elb_prefix_list.h"
#include "elb_quic_lb.h"
#include "elb_token_bucket.h"

/* Maglev inner map: one header entry (the table's size) before the slots,
 * so that the program computes the slot with the size of the very table it
 * reads, whatever the VIP entry says at that moment. The previous owners
 * follow the slots in the same map: one swap publishes both. */
#define ELB_XDP_MAGLEV_HEADER 1

/* Entries of a VIP's inner map for a table of `size` slots. */
static inline uint32_t elb_xdp_maglev_entries(uint32_t size)
{
	return ELB_XDP_MAGLEV_HEADER + 2 * size;
}

#define ELB_XDP_DEFAULT_FLOWS (1u << 18)

/* 4096 bits: with the 256 VIPs at most, a non-VIP address hits a set bit
 * (and takes the full lookups, still correct) with probability <= 1/16. */
#define ELB_XDP_VIP_FILTER_SHIFT 12
#define ELB_XDP_VIP_FILTER_WORDS ((1u << ELB_XDP_VIP_FILTER_SHIFT) / 64)

/* The filter bit of an address: its four words folded, then a
 * multiplicative hash. Both sides run on the same host, so reading the
 * words in host order gives the same bit. */
ELB_INLINE uint32_t elb_xdp_vip_filter_bit(const union elb_addr *a)
{
	uint32_t folded = a->w[0] ^ a->w[1] ^ a->w[2] ^ a->w[3];

	return (folded * 0x9e3779b1u) >> (32 - ELB_XDP_VIP_FILTER_SHIFT);
}

struct elb_xdp_node {
	struct elb_hash_seed seed;
	union elb_addr source_v4; /* outer source toward IPv4 backends */
	union elb_addr source_v6; /* outer source toward IPv6 backends */
	uint8_t gateway_mac[6];   /* Ethernet destination of what is sent */
	uint8_t iface_mac[6];     /* Ethernet source: the interface's own MAC */
	uint32_t pad;
	uint64_t epoch; /* configuration the maps were last written from */
};
_Static_assert(sizeof(struct elb_xdp_node) == 72, "node layout");

struct elb_xdp_vip_key {
	union elb_addr addr;
	uint16_t port; /* network order; 0 = all ports (or, with proto 0, the address marker) */
	uint8_t proto; /* ELB_IPPROTO_TCP/UDP; 0 for the address marker */
	uint8_t family;
	uint32_t pad;
};
_Static_assert(sizeof(struct elb_xdp_vip_key) == 24, "VIP key layout");

/* Bits of struct elb_xdp_vip.encap_flags. Second chance is a bit of this
 * byte rather than a field of its own so that the vips map keeps the
 * layout of earlier versions: an upgraded agent reuses the pinned map (a
 * pinned map of another value size cannot be reused, and the agent would
 * not load). Older agents wrote 0 or 1 here, which read the same. */
#define ELB_XDP_VIP_GUE 1u           /* GUE encapsulation (struct elb_vip.gue) */
#define ELB_XDP_VIP_SECOND_CHANCE 2u /* struct elb_vip.second_chance */
/* The VIP has admission control: its entry of vip_admission holds it. The
 * one test a packet of a VIP without it pays. */
#define ELB_XDP_VIP_ADMISSION 4u
/* The VIP routes QUIC by connection ID (elb_quic_route.h): its entry of
 * vip_quic and its table in quic_server_tables hold how. */
#define ELB_XDP_VIP_QUIC 8u
/* Which of the VIP's two entries of vip_quic is in force: a change is
 * written to the other one, then this bit flips with the vips entry (one
 * hash update), so a packet never reads a configuration or key being
 * rewritten. */
#define ELB_XDP_VIP_QUIC_BANK 16u

/* The vip_quic entry a VIP's flags name. */
static inline uint32_t elb_xdp_quic_index(uint32_t vip_index, uint32_t encap_flags)
{
	return vip_index + (encap_flags & ELB_XDP_VIP_QUIC_BANK ? ELB_MAX_VIPS : 0);
}

struct elb_xdp_vip {
	uint16_t index; /* position in vip_counters and maglev */
	uint16_t mtu;
	uint8_t encap_flags; /* ELB_XDP_VIP_* */
	uint8_t rate_limited;
	uint16_t gue_dport;   /* network order */
	uint32_t maglev_size; /* informational: the program uses the table's own header */
	uint32_t gen;         /* tags this VIP's per-CPU counters, as struct elb_vip.gen */
	struct elb_rate_limit rate_limit;
	struct elb_flow_timeouts timeouts;
};
_Static_assert(sizeof(struct elb_xdp_vip) == 16 + 32 + 4 * ELB_FLOW_STATE_COUNT, "VIP layout");

/* A VIP's admission control (elb_admission.h), as struct elb_vip holds it:
 * a map of its own rather than members of struct elb_xdp_vip, whose size
 * the pinned vips map fixes. Read only for a VIP whose encap_flags has
 * ELB_XDP_VIP_ADMISSION. */
struct elb_xdp_admission {
	struct elb_flow_budget flow_budget; /* interval 0: no budget */
	struct elb_source_limit source_limits[ELB_SOURCE_LIMITS_MAX];
	uint8_t n_source_limits;
	uint8_t pad[7];
};
_Static_assert(sizeof(struct elb_xdp_admission) == 24 + 40 * ELB_SOURCE_LIMITS_MAX + 8,
	       "admission layout");

/* A VIP's QUIC-LB configurations, as struct elb_vip_quic holds them
 * (without its server table: quic_server_tables). */
struct elb_xdp_quic {
	struct elb_quic_lb_config configs[ELB_QUIC_LB_CONFIGS]; /* by config ID; .active */
	uint32_t server_id_len;
	uint32_t pad;
};

/* A server-ID table's entries before the table's own (entry 0: its mask,
 * in .slot). */
#define ELB_XDP_QUIC_SERVERS_HEADER 1

/* One CPU's working memory for routing a QUIC packet (bpf/edgelb.bpf.c
 * quic_step): the payload's first octets, then its DCID; the decoder's
 * scratch; the server ID it found. The program's stack has no room for
 * them beside the pipeline's (32-octet frames on kernels before 6.9). */
struct elb_xdp_quic_scratch {
	uint8_t cid[40]; /* the long header's DCID ends at 26; the decoder indexes to 32 */
	struct elb_quic_lb_work work;
	/* The server looked up: the decoded server ID, zero-padded. (Also what
	 * makes BTF describe struct elb_quic_server whole, for the inner maps
	 * of quic_server_tables.) */
	struct elb_quic_server server;
	/* The parse's answers and the VIP's key: here rather than on the
	 * stack, for the same reason. */
	uint32_t dcid_off, dcid_len, vip_index, quic_index, table_key;
};
_Static_assert(sizeof(((struct elb_xdp_quic_scratch *)0)->cid) >= ELB_QUIC_CID_ROOM &&
		       sizeof(((struct elb_xdp_quic_scratch *)0)->cid) >= 6 + ELB_QUIC_CID_MAX,
	       "the payload's first octets and the decoder's reach fit");

/* Each CPU's source sketch (ELB_SOURCE_ROWS << ELB_SOURCE_COLUMN_BITS_DEFAULT
 * cells, as a DPDK worker's) in one ARRAY: CPU c's cell i is entry
 * elb_xdp_source_cell(c, i). */
#define ELB_XDP_SOURCE_CELLS_PER_CPU ((uint32_t)ELB_SOURCE_ROWS << ELB_SOURCE_COLUMN_BITS_DEFAULT)

ELB_INLINE uint32_t elb_xdp_source_cell(uint32_t cpu, uint32_t cell)
{
	return cpu * ELB_XDP_SOURCE_CELLS_PER_CPU + cell;
}

/* One flow of one CPU: what struct elb_flow_entry and its bucket header
 * way hold in the DPDK table. state ELB_FLOW_FREE (a value never written by
 * the program, e.g. a zeroed copy of an earlier version's per-CPU map) or
 * an expired tick = miss. */
struct elb_xdp_flow {
	uint32_t backend_id;
	uint32_t backend_gen;
	uint8_t state; /* enum elb_flow_state */
	uint8_t flags; /* ELB_FLOW_F_* */
	uint8_t pad[2];
	uint32_t expiry; /* flow tick (elb_flow_state.h) at which it expires */
	struct elb_token_bucket bucket;
};
_Static_assert(sizeof(struct elb_xdp_flow) == 32, "flow value layout");

/*
 * Prefix lists (docs/prefix-lists.md, elb_prefix_list.h) in one LPM trie.
 * Its key puts the scope before the address, so one lookup answers one
 * scope: the VIP's list is looked up with the VIP's generation as scope
 * (never 0, and new whenever a VIP takes the index of another: a list
 * written for a VIP never applies to its successor), the node's list with
 * ELB_XDP_PREFIX_NODE. The family follows the scope, as a VIP list holds
 * one family and the node's both. Every bit before the address is in every
 * prefix, so only the address part is matched by length.
 */
#define ELB_XDP_PREFIX_NODE 0u
#define ELB_XDP_PREFIX_SCOPE_BITS 96u /* the scope, family and pad words */
/* A config change writes a re-created VIP's list before its old one is
 * deleted (xdp_prefixes.c): room for every rule twice. Entries are
 * allocated as written (BPF_F_NO_PREALLOC, which the trie requires). */
#define ELB_XDP_PREFIX_TRIE_MAX (2u * ELB_PREFIX_RULES_MAX)

struct elb_xdp_prefix_key {
	uint32_t prefixlen; /* ELB_XDP_PREFIX_SCOPE_BITS + the rule's length */
	uint32_t scope;     /* the VIP's generation, or ELB_XDP_PREFIX_NODE */
	uint32_t family;    /* ELB_AF_INET or ELB_AF_INET6 */
	uint32_t pad;       /* zero; keeps addr 8-aligned as union elb_addr wants */
	union elb_addr addr; /* network order; IPv4 in v4, bits past the length zero */
};
_Static_assert(sizeof(struct elb_xdp_prefix_key) == 32, "prefix key layout");

struct elb_xdp_prefix_rule {
	uint8_t action; /* ELB_PREFIX_ALLOW or ELB_PREFIX_DENY */
	uint8_t scope;  /* enum elb_prefix_scope: set by the program for last_prefix only */
	uint16_t pad;
	uint32_t index; /* the rule's position in its list (struct elb_prefix_list) */
};
_Static_assert(sizeof(struct elb_xdp_prefix_rule) == 8, "prefix rule layout");

/* Bits of the program's global prefix_scopes: which lookups a packet
 * makes. 0 (no list anywhere) costs a packet one load and one branch. */
#define ELB_XDP_PREFIX_NODE_V4 1u /* the node's list has IPv4 rules */
#define ELB_XDP_PREFIX_NODE_V6 2u /* ... IPv6 rules */
#define ELB_XDP_PREFIX_VIPS 4u    /* some VIP has a list: see prefix_vips */
#define ELB_XDP_PREFIX_VIP_WORDS (ELB_MAX_VIPS / 64)

ELB_INLINE uint32_t elb_xdp_prefix_node_bit(uint8_t family)
{
	return family == ELB_AF_INET ? ELB_XDP_PREFIX_NODE_V4 : ELB_XDP_PREFIX_NODE_V6;
}

#ifdef __bpf__
/*
 * The maps themselves, defined here once for every BPF program that uses
 * them (their layout: at the top). A program that uses only some defines
 * ELB_XDP_MAPS_SOME and an ELB_XDP_MAP_<NAME> for each before including
 * this header: any other map in its object would be created when it loads. flow_count.bpf.c uses
 * backends, the live instance's (bpf_map__reuse_fd before load), so that
 * there its size is never used; it reads the flow tables as an iterator's
 * elements, not through a map.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "elb_maglev.h"
#include "elb_pipeline.h"

#if !defined(ELB_XDP_MAPS_SOME) || defined(ELB_XDP_MAP_NODE)
/* Not read by the program: see node_config in edgelb.bpf.c. Kept (and
 * pinned) so that a restarted agent adopts the node configuration with the
 * VIPs and backends. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, uint32_t);
	__type(value, struct elb_xdp_node);
} node SEC(".maps");
#endif

#if !defined(ELB_XDP_MAPS_SOME) || defined(ELB_XDP_MAP_VIPS)
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 2 * ELB_MAX_VIPS); /* VIPs + address markers */
	__type(key, struct elb_xdp_vip_key);
	__type(value, struct elb_xdp_vip);
} vips SEC(".maps");
#endif

#if !defined(ELB_XDP_MAPS_SOME) || defined(ELB_XDP_MAP_MAGLEV)
/* Template of the per-VIP tables: BPF_F_INNER_MAP lets each table have its
 * own size (maglev_size + ELB_XDP_MAGLEV_HEADER entries). */
struct maglev_table {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, ELB_MAGLEV_MIN_SIZE + ELB_XDP_MAGLEV_HEADER);
	__uint(map_flags, BPF_F_INNER_MAP);
	__type(key, uint32_t);
	__type(value, uint32_t);
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, ELB_MAX_VIPS);
	__type(key, uint32_t);
	__array(values, struct maglev_table);
} maglev SEC(".maps");
#endif

#if !defined(ELB_XDP_MAPS_SOME) || defined(ELB_XDP_MAP_BACKENDS)
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, ELB_MAX_BACKEND_SLOTS);
	__type(key, uint32_t);
	__type(value, struct elb_backend_slot);
} backends SEC(".maps");
#endif

#if !defined(ELB_XDP_MAPS_SOME) || defined(ELB_XDP_MAP_FLOWS)
/* Template of the per-CPU flow tables (the kernel checks every inner map
 * against it, except for max_entries). One CPU writes each table, so the
 * common LRU list (no BPF_F_NO_COMMON_LRU) is never contended, and it lets
 * that CPU use every entry. */
struct flow_table {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, ELB_XDP_DEFAULT_FLOWS);
	/* Sizes, not __type(): libbpf 1.1 cannot size a struct key of an
	 * inner map definition ("can't determine key size"). */
	__uint(key_size, sizeof(struct elb_flow_id));
	__uint(value_size, sizeof(struct elb_xdp_flow));
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1); /* user space sets libbpf_num_possible_cpus() before load */
	__type(key, uint32_t);
	__array(values, struct flow_table);
} flows SEC(".maps");
#endif

#if !defined(ELB_XDP_MAPS_SOME) || defined(ELB_XDP_MAP_COUNTERS)
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, uint32_t);
	__type(value, struct elb_worker_counters);
} counters SEC(".maps");
#endif

#if !defined(ELB_XDP_MAPS_SOME) || defined(ELB_XDP_MAP_VIP_COUNTERS)
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ELB_MAX_VIPS);
	__type(key, uint32_t);
	__type(value, struct elb_vip_counters);
} vip_counters SEC(".maps");
#endif

#if !defined(ELB_XDP_MAPS_SOME) || defined(ELB_XDP_MAP_BACKEND_COUNTERS)
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ELB_MAX_BACKEND_SLOTS);
	__type(key, uint32_t);
	__type(value, struct elb_backend_counters);
} backend_counters SEC(".maps");
#endif

#if !defined(ELB_XDP_MAPS_SOME) || defined(ELB_XDP_MAP_VIP_ADMISSION)
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, ELB_MAX_VIPS);
	__type(key, uint32_t);
	__type(value, struct elb_xdp_admission);
} vip_admission SEC(".maps");
#endif

#if !defined(ELB_XDP_MAPS_SOME) || defined(ELB_XDP_MAP_FLOW_BUDGETS)
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ELB_MAX_VIPS);
	__type(key, uint32_t);
	__type(value, struct elb_flow_budget_state);
} flow_budgets SEC(".maps");
#endif

#if !defined(ELB_XDP_MAPS_SOME) || defined(ELB_XDP_MAP_SOURCE_CELLS)
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	/* user space sets possible CPUs x ELB_XDP_SOURCE_CELLS_PER_CPU before load */
	__uint(max_entries, ELB_XDP_SOURCE_CELLS_PER_CPU);
	__type(key, uint32_t);
	__type(value, struct elb_source_cell);
} source_cells SEC(".maps");
#endif

#if !defined(ELB_XDP_MAPS_SOME) || defined(ELB_XDP_MAP_PREFIXES)
/* Template of the trie (the kernel checks the one user space puts in
 * against it). */
struct prefix_trie {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, ELB_XDP_PREFIX_TRIE_MAX);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(key_size, sizeof(struct elb_xdp_prefix_key));
	__uint(value_size, sizeof(struct elb_xdp_prefix_rule));
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, uint32_t);
	__array(values, struct prefix_trie);
} prefixes SEC(".maps");
#endif

#if !defined(ELB_XDP_MAPS_SOME) || defined(ELB_XDP_MAP_VIP_QUIC)
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2 * ELB_MAX_VIPS); /* two banks (ELB_XDP_VIP_QUIC_BANK) */
	__type(key, uint32_t);
	__type(value, struct elb_xdp_quic);
} vip_quic SEC(".maps");
#endif

#if !defined(ELB_XDP_MAPS_SOME) || defined(ELB_XDP_MAP_QUIC_SERVER_TABLES)
/* Template of the per-VIP server-ID tables: BPF_F_INNER_MAP lets each have
 * its own size. */
struct quic_server_table {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, ELB_XDP_QUIC_SERVERS_HEADER + 4);
	__uint(map_flags, BPF_F_INNER_MAP);
	__type(key, uint32_t);
	__type(value, struct elb_quic_server);
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, ELB_MAX_VIPS);
	__type(key, uint32_t);
	__array(values, struct quic_server_table);
} quic_server_tables SEC(".maps");
#endif

#if !defined(ELB_XDP_MAPS_SOME) || defined(ELB_XDP_MAP_QUIC_SCRATCH)
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, uint32_t);
	__type(value, struct elb_xdp_quic_scratch);
} quic_scratch SEC(".maps");
#endif

#endif /* __bpf__ */

#endif /* EDGELB_XDP_MAPS_H */
