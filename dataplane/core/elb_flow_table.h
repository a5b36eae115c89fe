/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Per-worker flow table (connection tracking) of the DPDK dataplane: which
 * backend each flow goes to, its state and idle expiry, and its rate-limit
 * bucket. Plain C, no DPDK: the dataplane, edgelb-replay, edgelb-bench and
 * the tests use it alike. The XDP program keeps the same entries in a BPF
 * map instead.
 *
 * Ownership: one table per worker, written by that worker only. No locks,
 * no allocation and no system calls after elb_flow_table_init; every packet
 * operation is O(1) and touches at most two cache lines. Other threads may
 * read the counters, through elb_flow_table_read_stats() only: the owner
 * stores each counter with a relaxed atomic store (as cheap as a plain one),
 * so readers never see a torn value. Nothing else may be touched by another
 * thread while the owner runs.
 *
 * Layout: a power-of-two number of buckets of ELB_FLOW_WAYS ways, in memory
 * the caller provides (rte_zmalloc_socket on the worker's NUMA node, or
 * aligned_alloc in tests). Each bucket is one block of seven cache lines:
 *
 *   [header: 64 B][8 entries of 48 B: 384 B]
 *
 * A bucket header is one cache line holding, per way, a 16-bit signature (the
 * top 16 bits of the flow hash, never 0; 0 marks a free way), the state byte,
 * the flags byte and the 32-bit expiry tick. An entry holds the flow's
 * identity, its backend and its rate-limit bucket. A lookup reads the header
 * line, compares the 8 signatures at once, and reads an entry only on a
 * signature match (a false match of another flow's entry happens for 1 in
 * 65536 occupied ways).
 *
 * The identity is struct elb_flow_id (elb_flow.h), the 24-byte id the XDP
 * flow tables key on too.
 *
 * Ways 0, 3, 4 and 7 each sit in one cache line of the block; the others
 * straddle two. A new flow's home way (where it goes when free) is one of
 * the four, so that most lookups read two lines: the header and one entry
 * line, both in one block and so in one page and one TLB entry (in a guest,
 * whose every TLB miss walks two page tables, that halves the walks of a
 * layout with the headers apart from the entries).
 * Memory per flow slot: 48 + 64/8 = 56 bytes; a table for 1M flows takes
 * 56 MiB (capacity rounded up to a power of two of buckets).
 *
 * The bucket is hash & mask and the signature the top bits, with hash =
 * elb_flow_hash(key): a keyed hash, so a sender without the seed cannot aim
 * flows at one bucket.
 *
 * A full bucket: insertion never fails. It takes a free way, else an
 * expired one, else evicts a live flow, lowest protection class first:
 *   TCP_SYN < TCP_CLOSING < UDP = OTHER < TCP_ESTABLISHED
 * and within a class the flow that would expire soonest (the least recently
 * refreshed for equal timeouts). A SYN flood thus replaces its own entries
 * and spares established connections, except in a bucket whose 8 ways all
 * hold established flows: there the least recently refreshed one goes. With
 * established flows at 1/8 of the capacity (one per bucket on average), 1
 * bucket in 98000 is in that case; at 1/4, 1 in 900; at 1/2, 1 in 20: size
 * the table for 4 to 8 times the established flows expected. Evictions are
 * counted per evicted state.
 *
 * Expiry: an entry is live while elb_flow_tick_expired(expiry, now) is false
 * (see elb_flow_state.h for ticks and their wrap). Expired entries are freed
 * when a lookup meets them, when an insert reuses their way, and by the
 * incremental elb_flow_sweep(), which the worker calls when idle.
 */
#ifndef ELB_FLOW_TABLE_H
#define ELB_FLOW_TABLE_H

#if defined(__bpf__)
#error "elb_flow_table.h is for the DPDK dataplane; the XDP program keeps flows in a BPF map"
#endif

#include "elb_compat.h"
#include "elb_flow.h"
#include "elb_flow_state.h"
#include "elb_token_bucket.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#define ELB_FLOW_WAYS 8
#define ELB_FLOW_MAX_CAPACITY (1u << 28)
#define ELB_FLOW_TABLE_ALIGN 64 /* the memory given to init: one cache line */

/* One flow. Written on insert (id, the rest zeroed) and by the caller. */
struct __attribute__((aligned(16))) elb_flow_entry {
	struct elb_flow_id id;
	uint32_t backend_id;            /* set by the caller after insert */
	uint32_t backend_gen;           /* generation of backend_id's slot, set by the caller:
					 * notices a slot reused for another backend */
	struct elb_token_bucket bucket; /* per-flow rate limit; zeroed = full */
};
_Static_assert(sizeof(struct elb_flow_entry) == 48, "a flow entry is 48 bytes");

/* Per-way metadata of one bucket: what a lookup reads before any entry. */
struct __attribute__((aligned(64))) elb_flow_bucket {
	uint16_t sig[ELB_FLOW_WAYS];    /* top 16 bits of the hash, forced non-zero; 0 = free */
	uint8_t state[ELB_FLOW_WAYS];   /* enum elb_flow_state; ELB_FLOW_FREE when free */
	uint32_t expiry[ELB_FLOW_WAYS]; /* flow tick at which the way expires */
	uint8_t flags[ELB_FLOW_WAYS];   /* ELB_FLOW_F_*, zeroed on insert */
};
_Static_assert(sizeof(struct elb_flow_bucket) == 64, "a bucket header is one cache line");

/* One bucket: its header line, then its ways' entries (see the top). */
struct elb_flow_block {
	struct elb_flow_bucket header;
	struct elb_flow_entry entries[ELB_FLOW_WAYS];
};
_Static_assert(sizeof(struct elb_flow_block) == 7 * 64, "a bucket is seven cache lines");

struct elb_flow_table_stats {
	uint64_t occupancy;   /* ways in use, live or expired but not yet freed */
	uint64_t inserts;
	uint64_t removals;    /* by elb_flow_remove */
	uint64_t expirations; /* expired entries freed: by lookup, insert or sweep */
	uint64_t evictions[ELB_FLOW_STATE_COUNT]; /* live entries evicted, by their state */
};

struct elb_flow_table {
	/* Set by elb_flow_table_init, read-only afterwards. */
	struct elb_flow_block *blocks;
	uint32_t bucket_mask;           /* n_buckets - 1 */
	uint32_t capacity;              /* n_buckets * ELB_FLOW_WAYS */
	/* Written by the owning worker only. */
	uint32_t sweep_cursor; /* next bucket elb_flow_sweep looks at */
	uint32_t reserved;
	struct elb_flow_table_stats stats;
};

/* Owner-side counter update: a relaxed atomic store, so that a concurrent
 * elb_flow_table_read_stats never reads a torn value. No lock prefix: only
 * the owner writes. */
#define ELB_FLOW_STAT_ADD(t, field, n)                                                             \
	__atomic_store_n(&(t)->stats.field, (t)->stats.field + (n), __ATOMIC_RELAXED)

/*
 * Bytes of memory a table of `capacity` flows needs (capacity rounded up to
 * a power of two of 8-way buckets); 0 if capacity is 0 or above
 * ELB_FLOW_MAX_CAPACITY.
 */
size_t elb_flow_table_mem_size(uint32_t capacity);

/*
 * Set up an empty table in mem (ELB_FLOW_TABLE_ALIGN-aligned, at least
 * elb_flow_table_mem_size(capacity) bytes; need not be zeroed). The table
 * does not own mem: the caller frees it after the last use of t.
 * @return 0, or -EINVAL (t or mem NULL, capacity 0 or above
 *         ELB_FLOW_MAX_CAPACITY, mem misaligned or too small).
 */
int elb_flow_table_init(struct elb_flow_table *t, void *mem, size_t mem_size, uint32_t capacity);

/*
 * Free the expired ways of the next max_buckets buckets (round robin over
 * the table); returns how many it freed. For the worker's idle loop: a
 * bucket costs one cache line, so e.g. 64 buckets per idle poll visit a
 * 1M-flow table (131072 buckets) in 2048 idle polls.
 */
uint32_t elb_flow_sweep(struct elb_flow_table *t, uint32_t now_tick, uint32_t max_buckets);

/*
 * Call fn for every live entry, with its state. Owner only (or with the
 * owner stopped): another thread would race with its writes. O(capacity).
 */
void elb_flow_foreach(const struct elb_flow_table *t, uint32_t now_tick,
		      void (*fn)(const struct elb_flow_entry *entry, enum elb_flow_state state,
				 void *arg),
		      void *arg);

/* Any thread: a consistent-per-field copy of the counters. */
void elb_flow_table_read_stats(const struct elb_flow_table *t, struct elb_flow_table_stats *out);

/* ---- Packet path: inline, called per packet by the burst loop. ---- */

ELB_INLINE uint16_t elb_flow_sig(uint64_t hash)
{
	uint16_t sig = (uint16_t)(hash >> 48);

	return sig ? sig : 1;
}

ELB_INLINE uint32_t elb_flow_bucket_index(const struct elb_flow_table *t, uint64_t hash)
{
	return (uint32_t)hash & t->bucket_mask;
}

/* Ways of b whose signature is sig, as bit 2 * way (the layout SSE2's
 * movemask gives for 16-bit lanes). */
ELB_INLINE uint32_t elb_flow_sig_match(const struct elb_flow_bucket *b, uint16_t sig)
{
#if defined(__SSE2__)
	__m128i sigs = _mm_load_si128((const __m128i *)(const void *)b->sig);
	__m128i eq = _mm_cmpeq_epi16(sigs, _mm_set1_epi16((short)sig));

	return (uint32_t)_mm_movemask_epi8(eq) & 0x5555u;
#else
	uint32_t mask = 0;
	unsigned int way;

ELB_UNROLL
	for (way = 0; way < ELB_FLOW_WAYS; way++)
		mask |= (uint32_t)(b->sig[way] == sig) << (2 * way);
	return mask;
#endif
}

ELB_INLINE struct elb_flow_bucket *elb_flow_bucket_at(const struct elb_flow_table *t,
						     uint32_t index)
{
	return &t->blocks[index].header;
}

ELB_INLINE struct elb_flow_entry *elb_flow_entry_at(const struct elb_flow_table *t, uint32_t index,
						   unsigned int way)
{
	return &t->blocks[index].entries[way];
}

/* Eviction order: the lower, the sooner evicted. A table, not a switch: the
 * eviction scan stays free of branches. */
ELB_INLINE uint32_t elb_flow_protection(uint8_t state)
{
	static const uint8_t protection[ELB_FLOW_STATE_COUNT] = {
		[ELB_FLOW_FREE] = 0,
		[ELB_FLOW_TCP_SYN] = 0,
		[ELB_FLOW_TCP_CLOSING] = 1,
		[ELB_FLOW_UDP] = 2,
		[ELB_FLOW_OTHER] = 2,
		[ELB_FLOW_TCP_ESTABLISHED] = 3,
	};

	return protection[state];
}

/* Prefetch an entry: its first and last byte, which are in two lines for
 * the ways that straddle (a second prefetch of one line costs little). */
ELB_INLINE void elb_flow_prefetch_entry(const struct elb_flow_entry *e, int for_write)
{
	if (for_write) {
		__builtin_prefetch(e, 1);
		__builtin_prefetch((const uint8_t *)(e + 1) - 1, 1);
	} else {
		__builtin_prefetch(e);
		__builtin_prefetch((const uint8_t *)(e + 1) - 1);
	}
}

/* The way a new flow takes when it is free: one of the four ways that sit
 * in one cache line (see the top), from hash bits that neither the bucket
 * index (bits 0-24 at most) nor the signature (bits 48-63) uses, so that a
 * flow's entry is where its hash says in most buckets, and a lookup can ask
 * for the entry line together with the header instead of after it. */
ELB_INLINE unsigned int elb_flow_home_way(uint64_t hash)
{
	/* Ways 0, 3, 4 and 7, packed 3 bits each. */
	return (0xf18u >> (3 * ((hash >> 40) & 3))) & 7;
}

/* The way elb_flow_insert takes among free_ways (a non-zero sig-match mask
 * of free ways): the home way if free, else the first free one. */
ELB_INLINE unsigned int elb_flow_free_way_for(uint32_t free_ways, uint64_t hash)
{
	unsigned int home = elb_flow_home_way(hash);

	if (free_ways & (1u << (2 * home)))
		return home;
	return (unsigned int)__builtin_ctz(free_ways) >> 1;
}

/* Prefetch the bucket header of a flow and its home way's entry: for a
 * burst loop that hashes packet j + k while it handles packet j. */
ELB_INLINE void elb_flow_prefetch(const struct elb_flow_table *t, uint64_t hash)
{
	uint32_t index = elb_flow_bucket_index(t, hash);

	__builtin_prefetch(elb_flow_bucket_at(t, index));
	__builtin_prefetch(elb_flow_entry_at(t, index, elb_flow_home_way(hash))); /* one line */
}

/* Second prefetch stage, once the bucket header has arrived: the entries
 * whose signature matches (normally the one entry of the flow, already
 * asked for if it sits in its home way); with none, a new flow's: the way
 * elb_flow_insert will write. */
ELB_INLINE void elb_flow_prefetch_entries(const struct elb_flow_table *t, uint64_t hash)
{
	uint32_t index = elb_flow_bucket_index(t, hash);
	const struct elb_flow_bucket *b = elb_flow_bucket_at(t, index);
	uint32_t match = elb_flow_sig_match(b, elb_flow_sig(hash));

	if (match == 0) {
		uint32_t free_ways = elb_flow_sig_match(b, 0);

		if (free_ways)
			elb_flow_prefetch_entry(
				elb_flow_entry_at(t, index, elb_flow_free_way_for(free_ways, hash)),
				1);
		return;
	}
	match &= ~(1u << (2 * elb_flow_home_way(hash)));
	while (match) {
		unsigned int way = (unsigned int)__builtin_ctz(match) >> 1;

		match &= match - 1;
		elb_flow_prefetch_entry(elb_flow_entry_at(t, index, way), 0);
	}
}

ELB_INLINE void elb_flow_free_way(struct elb_flow_table *t, struct elb_flow_bucket *b,
				  unsigned int way)
{
	b->sig[way] = 0;
	b->state[way] = ELB_FLOW_FREE;
	ELB_FLOW_STAT_ADD(t, occupancy, -1);
}

/*
 * The live entry of key, whose VIP is vip_index, or NULL. hash is
 * elb_flow_hash(key). An expired entry of key is freed on the way and not
 * returned.
 */
ELB_INLINE struct elb_flow_entry *elb_flow_lookup(struct elb_flow_table *t,
						  const struct elb_flow_key *key, uint16_t vip_index,
						  uint64_t hash, uint32_t now_tick)
{
	uint32_t index = elb_flow_bucket_index(t, hash);
	struct elb_flow_bucket *b = elb_flow_bucket_at(t, index);
	uint32_t match = elb_flow_sig_match(b, elb_flow_sig(hash));
	struct elb_flow_id id;

	elb_flow_id_set(&id, key, vip_index);

	while (match) {
		unsigned int way = (unsigned int)__builtin_ctz(match) >> 1;
		struct elb_flow_entry *e = elb_flow_entry_at(t, index, way);

		match &= match - 1;
		if (!elb_flow_id_equal(&e->id, &id))
			continue; /* another flow with the same signature */
		if (ELB_UNLIKELY(elb_flow_tick_expired(b->expiry[way], now_tick))) {
			elb_flow_free_way(t, b, way);
			ELB_FLOW_STAT_ADD(t, expirations, 1);
			return NULL;
		}
		return e;
	}
	return NULL;
}

/*
 * Insert key (of VIP vip_index), which the caller just looked up and found
 * absent, in state `state` expiring timeout_ticks from now. Never fails:
 * takes a free way, else an expired one, else evicts (see the top of this
 * file). *evicted_state is the state of the live flow evicted,
 * ELB_FLOW_FREE if none. Returns the entry with its id set and backend and
 * bucket zeroed.
 */
ELB_INLINE struct elb_flow_entry *elb_flow_insert(struct elb_flow_table *t,
						  const struct elb_flow_key *key, uint16_t vip_index,
						  uint64_t hash, uint32_t now_tick,
						  enum elb_flow_state state,
						  uint32_t timeout_ticks,
						  enum elb_flow_state *evicted_state)
{
	uint32_t index = elb_flow_bucket_index(t, hash);
	struct elb_flow_bucket *b = elb_flow_bucket_at(t, index);
	uint32_t free_ways = elb_flow_sig_match(b, 0);
	struct elb_flow_entry *e;
	unsigned int way;

	*evicted_state = ELB_FLOW_FREE;
	if (ELB_LIKELY(free_ways)) {
		way = elb_flow_free_way_for(free_ways, hash);
		ELB_FLOW_STAT_ADD(t, occupancy, 1);
	} else {
		/* Full: the way with the lowest (expired ? 0 : class + 1, time
		 * left), in one pass without branches (their mispredictions
		 * would cost more than the pass). */
		uint64_t best = UINT64_MAX;
		unsigned int w;

		way = 0;
ELB_UNROLL
		for (w = 0; w < ELB_FLOW_WAYS; w++) {
			int32_t left = (int32_t)(b->expiry[w] - now_tick);
			uint64_t live_mask = -(uint64_t)(left > 0);
			uint64_t score = (((uint64_t)(elb_flow_protection(b->state[w]) + 1) << 32) |
					  (uint32_t)left) & live_mask;
			bool better = score < best;

			best = better ? score : best;
			way = better ? w : way;
		}
		if (best == 0) {
			ELB_FLOW_STAT_ADD(t, expirations, 1);
		} else {
			*evicted_state = (enum elb_flow_state)b->state[way];
			ELB_FLOW_STAT_ADD(t, evictions[b->state[way]], 1);
		}
	}
	b->sig[way] = elb_flow_sig(hash);
	b->state[way] = (uint8_t)state;
	b->expiry[way] = now_tick + timeout_ticks;
	b->flags[way] = 0;
	e = elb_flow_entry_at(t, index, way);
	elb_flow_id_set(&e->id, key, vip_index);
	e->backend_id = 0;
	e->backend_gen = 0;
	e->bucket.pkt_tat = 0;
	e->bucket.byte_tat = 0;
	ELB_FLOW_STAT_ADD(t, inserts, 1);
	return e;
}

/* The header of a live entry's bucket, and the entry's way in it. */
ELB_INLINE struct elb_flow_bucket *elb_flow_entry_bucket(const struct elb_flow_table *t,
							const struct elb_flow_entry *entry,
							unsigned int *way)
{
	size_t offset = (size_t)((const uint8_t *)entry - (const uint8_t *)t->blocks);
	struct elb_flow_block *block = &t->blocks[offset / sizeof(struct elb_flow_block)];

	*way = (unsigned int)(entry - block->entries);
	return &block->header;
}

/* The way of an entry in the bucket of hash, which holds it: what the
 * packet path uses, since it knows the hash (elb_flow_entry_bucket divides). */
ELB_INLINE unsigned int elb_flow_way_of(const struct elb_flow_table *t, uint64_t hash,
					const struct elb_flow_entry *entry)
{
	return (unsigned int)(entry - t->blocks[elb_flow_bucket_index(t, hash)].entries);
}

/* Set the state of way `way` of b and its expiry to now + timeout_ticks.
 * Stores only what changes: a flow's packets mostly arrive within one tick
 * (16.78 ms) of each other, and a header line left clean is not written
 * back to memory when a large table evicts it from the caches. */
ELB_INLINE void elb_flow_bucket_refresh(struct elb_flow_bucket *b, unsigned int way,
					enum elb_flow_state state, uint32_t timeout_ticks,
					uint32_t now_tick)
{
	uint32_t expiry = now_tick + timeout_ticks;

	if (b->state[way] != (uint8_t)state)
		b->state[way] = (uint8_t)state;
	if (b->expiry[way] != expiry)
		b->expiry[way] = expiry;
}

/* A live entry's flags (ELB_FLOW_F_*): in its bucket's header, since the
 * entry's own cache line is full. */
ELB_INLINE uint8_t *elb_flow_entry_flags(struct elb_flow_table *t, const struct elb_flow_entry *entry)
{
	unsigned int way;

	return &elb_flow_entry_bucket(t, entry, &way)->flags[way];
}

ELB_INLINE enum elb_flow_state elb_flow_entry_state(const struct elb_flow_table *t,
						    const struct elb_flow_entry *entry)
{
	unsigned int way;

	return (enum elb_flow_state)elb_flow_entry_bucket(t, entry, &way)->state[way];
}

ELB_INLINE uint32_t elb_flow_entry_expiry(const struct elb_flow_table *t,
					  const struct elb_flow_entry *entry)
{
	unsigned int way;

	return elb_flow_entry_bucket(t, entry, &way)->expiry[way];
}

/* Set the state of a live entry and its expiry to now + timeout_ticks. */
ELB_INLINE void elb_flow_refresh(struct elb_flow_table *t, struct elb_flow_entry *entry,
				 enum elb_flow_state state, uint32_t timeout_ticks,
				 uint32_t now_tick)
{
	unsigned int way;
	struct elb_flow_bucket *b = elb_flow_entry_bucket(t, entry, &way);

	elb_flow_bucket_refresh(b, way, state, timeout_ticks, now_tick);
}

/* Free a live entry (a returned pointer stays valid memory but is no flow). */
ELB_INLINE void elb_flow_remove(struct elb_flow_table *t, struct elb_flow_entry *entry)
{
	unsigned int way;
	struct elb_flow_bucket *b = elb_flow_entry_bucket(t, entry, &way);

	elb_flow_free_way(t, b, way);
	ELB_FLOW_STAT_ADD(t, removals, 1);
}

#endif /* ELB_FLOW_TABLE_H */
