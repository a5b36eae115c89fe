/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * edgelb-dp's prefix-list lookup (docs/prefix-lists.md): one table per list
 * (the node's, or one VIP's), built on the control path from the list's
 * sorted rules, read by the workers. What it answers is exactly
 * elb_prefix_list_decide's for one scope: the longest rule holding the
 * address, as its action and its index in the list.
 *
 * Layout: per family, the list's nested prefixes are flattened into
 * disjoint address ranges that cover the whole address space, each
 * carrying the rule that decides it (the innermost prefix holding it, or
 * none). A range is stored by its last address; the packet's range is the
 * first whose last address is >= the packet's (a lower bound, which
 * always exists: the last range ends at the family's last address).
 *   IPv4: the ends sorted, and an index by the address's top `bits` bits
 *   (about one bucket per 4 to 8 ranges, at most 2^16) giving the ranges
 *   a bucket's addresses can fall in: a lookup reads the index, then
 *   searches those few ranges without a data-dependent branch. 100k
 *   random rules: 4 steps instead of 18 (about 27 cycles a dependent
 *   lookup against 105 for the whole ends in Eytzinger order). Rules
 *   crowded into one bucket cost no more than a search of the whole.
 *   IPv6: addresses crowd into a few top bits (2000::/3), so the ends are
 *   searched whole, in Eytzinger (breadth-first) order: log2(ranges) + 1
 *   steps without a data-dependent branch, the upper levels in few lines.
 * Measured (tests/unit/test_prefix_table.c prints build figures;
 * edgelb-bench --adversarial the per-packet cost): in Eytzinger order, a
 * prefetch of the line four levels down gained nothing (the upper levels
 * stay cached), so there is none.
 *
 * Why not a multibit trie (DIR-24-8 as rte_lpm): its IPv4 first level is
 * 64 MiB per table whatever the list's size, and rte_lpm6's IPv6 tables
 * need sizing up front; a list here may be per VIP (up to 256 of them).
 * Ranges cost in proportion to the rules and are built in one linear pass
 * (the rules arrive sorted).
 *
 * Memory: at most 2n + 1 ranges for n rules of a family (each rule opens
 * one range and closes at most one); a range is 8 bytes for IPv4 (end,
 * value) plus at most 4 of index, and 20 for IPv6: at most 24 B (IPv4) or
 * 40 B (IPv6) per rule, plus a few cache lines per family.
 *
 * Sharing: a table is immutable once built and referenced by snapshots
 * (struct elb_vip.prefixes); each snapshot holds a reference, dropped when
 * the snapshot is freed after the RCU grace period, so a configuration
 * change reuses the tables of the lists it did not change.
 */
#ifndef ELB_PREFIX_TABLE_H
#define ELB_PREFIX_TABLE_H

#include "elb_compat.h"
#include "elb_prefix_list.h"

/* A range's value: the deciding rule's index in the list << 2 | its action;
 * 0 = no rule holds the address. */
#define ELB_PREFIX_VALUE_NONE 0u
#define ELB_PREFIX_VALUE_ACTION(v) ((enum elb_prefix_action)((v) & 3u))
#define ELB_PREFIX_VALUE_RULE(v) ((v) >> 2)

/* An IPv6 range end as two host-order halves (compared hi, then lo). */
struct elb_prefix_end6 {
	uint64_t hi;
	uint64_t lo;
};

struct elb_prefix_family_table {
	uint32_t n; /* ranges; 0 when the list has no rule of this family */
	/* IPv4: ends[0..n) (uint32_t, host order) sorted; the ranges of
	 * addresses whose top `bits` bits are b are within
	 * [index[b], index[b + 1]] (2^bits + 1 entries; bits may be 0).
	 * IPv6: ends[1..n] (struct elb_prefix_end6) in Eytzinger order, ends[0]
	 * unused; index NULL. values[i] is range i's value (same order). */
	const void *ends;
	const uint32_t *values;
	const uint32_t *index;
	uint32_t bits;
};

struct elb_prefix_table {
	struct elb_prefix_family_table v4;
	struct elb_prefix_family_table v6;
	/* Control path only. */
	const struct elb_prefix_rule *source; /* the rules it was built from: reuse test */
	uint32_t n_rules;
	uint32_t refs; /* snapshots holding it: changed on the control thread only */
	size_t bytes;  /* memory of the ranges */
};

/*
 * Build the table of one list: rules[0..n), sorted by (family, address,
 * length) and unique (struct elb_prefix_list). The table remembers `rules`
 * as its source (compared, never read, later). One reference, the caller's.
 * @return 0, -EINVAL (rules not sorted and unique, or a bad family or
 *         length), or -ENOMEM.
 */
int elb_prefix_table_build(const struct elb_prefix_rule *rules, uint32_t n,
			   struct elb_prefix_table **out);
/* Take a reference (NULL is ignored); returns t. */
struct elb_prefix_table *elb_prefix_table_get(struct elb_prefix_table *t);
/* Drop a reference; the last one frees the table. NULL is ignored. */
void elb_prefix_table_put(struct elb_prefix_table *t);

/* First range whose end is >= x among the sorted ends[lo..hi], which holds
 * it: halving with a conditional move, no data-dependent branch. */
ELB_INLINE uint32_t elb_prefix_search4(const uint32_t *ends, uint32_t lo, uint32_t hi, uint32_t x)
{
	uint32_t n = hi - lo + 1;

	while (n > 1) {
		uint32_t half = n / 2;

		lo = ends[lo + half - 1] < x ? lo + half : lo;
		n -= half;
	}
	return lo;
}

/* First range whose end is >= (hi, lo) among ends[1..n] in Eytzinger
 * order: the descent's path, stripped of its trailing right turns and one
 * left. */
ELB_INLINE uint32_t elb_prefix_search6(const struct elb_prefix_end6 *ends, uint32_t n, uint64_t hi,
				       uint64_t lo)
{
	uint32_t k = 1;

	while (k <= n) {
		const struct elb_prefix_end6 *e = &ends[k];

		k = 2 * k + ((e->hi < hi) | ((e->hi == hi) & (e->lo < lo)));
	}
	return k >> __builtin_ffs((int)~k);
}

/* The value (ELB_PREFIX_VALUE_*) of the longest rule of table t holding
 * address a of family f; t may be NULL (no list). Packet path. */
ELB_INLINE uint32_t elb_prefix_table_lookup(const struct elb_prefix_table *t, uint8_t f,
					    const union elb_addr *a)
{
	const struct elb_prefix_family_table *ft;
	uint32_t k;

	if (t == NULL)
		return ELB_PREFIX_VALUE_NONE;
	ft = f == ELB_AF_INET ? &t->v4 : &t->v6;
	if (ft->n == 0)
		return ELB_PREFIX_VALUE_NONE;
	if (f == ELB_AF_INET) {
		uint32_t x = elb_ntohl(a->v4);
		uint32_t b = (uint32_t)((uint64_t)x >> (32 - ft->bits));

		k = elb_prefix_search4(ft->ends, ft->index[b], ft->index[b + 1], x);
	} else {
		k = elb_prefix_search6(ft->ends, ft->n,
				       (uint64_t)elb_ntohl(a->w[0]) << 32 | elb_ntohl(a->w[1]),
				       (uint64_t)elb_ntohl(a->w[2]) << 32 | elb_ntohl(a->w[3]));
	}
	return ft->values[k];
}

/* The decision of elb_prefix_list_decide over the tables of a VIP's list
 * and the node's ([ELB_PREFIX_SCOPE_VIP], [ELB_PREFIX_SCOPE_NODE]; NULL =
 * none): the value of the deciding rule, *scope set when one matched. */
ELB_INLINE uint32_t elb_prefix_tables_decide(const struct elb_prefix_table *const *tables,
					     uint8_t f, const union elb_addr *a,
					     enum elb_prefix_scope *scope)
{
	uint32_t v = elb_prefix_table_lookup(tables[ELB_PREFIX_SCOPE_VIP], f, a);

	if (v != ELB_PREFIX_VALUE_NONE) {
		*scope = ELB_PREFIX_SCOPE_VIP;
		return v;
	}
	*scope = ELB_PREFIX_SCOPE_NODE;
	return elb_prefix_table_lookup(tables[ELB_PREFIX_SCOPE_NODE], f, a);
}

#endif /* ELB_PREFIX_TABLE_H */
