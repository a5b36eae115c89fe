/* SPDX-License-Identifier: BSD-3-Clause */
/* Control path only: builds the tables of elb_prefix_table.h (allocates). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "elb_prefix_table.h"

typedef unsigned __int128 elb_u128;

/* The rule's address as a number (IPv4 in the low 32 bits). */
static elb_u128 rule_start(const struct elb_prefix_rule *r)
{
	elb_u128 v = 0;

	if (r->family == ELB_AF_INET)
		return elb_ntohl(r->addr.v4);
	for (int w = 0; w < 4; w++)
		v = v << 32 | elb_ntohl(r->addr.w[w]);
	return v;
}

static elb_u128 family_last(uint8_t family)
{
	return family == ELB_AF_INET ? (elb_u128)0xffffffffu : ~(elb_u128)0;
}

/* The rule's last address: its start with every host bit set. */
static elb_u128 rule_end(const struct elb_prefix_rule *r)
{
	uint32_t host_bits = elb_prefix_family_bits(r->family) - r->len;

	if (host_bits == 128)
		return ~(elb_u128)0;
	return rule_start(r) | (((elb_u128)1 << host_bits) - 1);
}

/* Ranges of one family as they are flattened, in address order. */
struct flat {
	elb_u128 *ends;
	uint32_t *values;
	uint32_t n;
};

/* Close the range that ends at `end` with `value`: empty ranges (an outer
 * prefix ending where an inner one did) are skipped, and a range deciding
 * as the one before it extends it. */
static void flat_emit(struct flat *f, elb_u128 end, uint32_t value)
{
	if (f->n > 0 && end <= f->ends[f->n - 1])
		return;
	if (f->n > 0 && f->values[f->n - 1] == value) {
		f->ends[f->n - 1] = end;
		return;
	}
	f->ends[f->n] = end;
	f->values[f->n] = value;
	f->n++;
}

/*
 * rules[first..first+n) (one family, sorted by address then length, so
 * that a prefix comes before every prefix inside it) into disjoint ranges.
 * A sweep in address order with the stack of prefixes holding the current
 * address, innermost on top: the top decides until it ends or a rule
 * inside it begins. Prefixes are nested or disjoint, so the stack is at
 * most 129 deep.
 */
static void flatten(const struct elb_prefix_rule *rules, uint32_t first, uint32_t n,
		    struct flat *f)
{
	struct {
		elb_u128 end;
		uint32_t value;
	} stack[129];
	uint32_t depth = 0;
	uint8_t family = rules[first].family;

	f->n = 0;
	for (uint32_t i = first; i < first + n; i++) {
		const struct elb_prefix_rule *r = &rules[i];
		elb_u128 start = rule_start(r);

		while (depth > 0 && stack[depth - 1].end < start) {
			flat_emit(f, stack[depth - 1].end, stack[depth - 1].value);
			depth--;
		}
		/* The gap before this rule, decided by what encloses it. */
		if (start > 0)
			flat_emit(f, start - 1, depth > 0 ? stack[depth - 1].value : ELB_PREFIX_VALUE_NONE);
		stack[depth].end = rule_end(r);
		stack[depth].value = i << 2 | r->action;
		depth++;
	}
	while (depth > 0) {
		flat_emit(f, stack[depth - 1].end, stack[depth - 1].value);
		depth--;
	}
	flat_emit(f, family_last(family), ELB_PREFIX_VALUE_NONE);
}

/* In-order walk of the implicit tree 1..n, filling it from sorted[*next..]. */
static void eytzinger_fill(const struct flat *f, uint32_t k, uint32_t *next,
			   struct elb_prefix_end6 *ends, uint32_t *values)
{
	if (k > f->n)
		return;
	eytzinger_fill(f, 2 * k, next, ends, values);
	ends[k].hi = (uint64_t)(f->ends[*next] >> 64);
	ends[k].lo = (uint64_t)f->ends[*next];
	values[k] = f->values[*next];
	(*next)++;
	eytzinger_fill(f, 2 * k + 1, next, ends, values);
}

static size_t round_line(size_t bytes)
{
	return (bytes + 63) & ~(size_t)63;
}

/* A 64-byte aligned, zeroed array of `bytes` (rounded up to lines). */
static void *line_alloc(size_t bytes, size_t *total)
{
	void *p;

	bytes = round_line(bytes);
	p = aligned_alloc(64, bytes);
	if (p) {
		memset(p, 0, bytes);
		*total += bytes;
	}
	return p;
}

/* IPv4: the ends sorted, and the bucket index (elb_prefix_table.h). */
static int v4_layout(const struct flat *f, struct elb_prefix_family_table *ft, size_t *bytes)
{
	uint32_t bits = 0, buckets, *ends, *values, *index;

	/* One bucket per 4 to 8 ranges, at most 2^16. */
	while (bits < 16 && (4u << (bits + 1)) <= f->n)
		bits++;
	buckets = 1u << bits;
	ends = line_alloc(sizeof(*ends) * f->n, bytes);
	values = line_alloc(sizeof(*values) * f->n, bytes);
	index = line_alloc(sizeof(*index) * (buckets + 1), bytes);
	if (ends == NULL || values == NULL || index == NULL) {
		free(ends);
		free(values);
		free(index);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < f->n; i++) {
		ends[i] = (uint32_t)f->ends[i];
		values[i] = f->values[i];
	}
	/* index[b]: the first range ending at or after bucket b's first
	 * address (the ranges cover everything: one always does). */
	for (uint32_t b = 0, i = 0; b < buckets; b++) {
		uint64_t first = (uint64_t)b << (32 - bits);

		while (ends[i] < first)
			i++;
		index[b] = i;
	}
	index[buckets] = f->n - 1;
	ft->ends = ends;
	ft->values = values;
	ft->index = index;
	ft->bits = bits;
	return 0;
}

/* IPv6: the ends in Eytzinger order from 1. */
static int v6_layout(const struct flat *f, struct elb_prefix_family_table *ft, size_t *bytes)
{
	struct elb_prefix_end6 *ends = line_alloc(sizeof(*ends) * (f->n + 1), bytes);
	uint32_t *values = line_alloc(sizeof(*values) * (f->n + 1), bytes), next = 0;

	if (ends == NULL || values == NULL) {
		free(ends);
		free(values);
		return -ENOMEM;
	}
	eytzinger_fill(f, 1, &next, ends, values);
	ft->ends = ends;
	ft->values = values;
	return 0;
}

static int family_build(const struct elb_prefix_rule *rules, uint32_t first, uint32_t n,
			struct flat *scratch, struct elb_prefix_family_table *ft, size_t *bytes)
{
	int rc;

	if (n == 0)
		return 0;
	flatten(rules, first, n, scratch);
	rc = rules[first].family == ELB_AF_INET ? v4_layout(scratch, ft, bytes)
						: v6_layout(scratch, ft, bytes);
	if (rc == 0)
		ft->n = scratch->n;
	return rc;
}

/* rules[i] comes strictly after rules[i - 1] in (family, address, length). */
static bool rule_follows(const struct elb_prefix_rule *prev, const struct elb_prefix_rule *r)
{
	elb_u128 a, b;

	if (prev->family != r->family)
		return prev->family < r->family;
	a = rule_start(prev);
	b = rule_start(r);
	return a < b || (a == b && prev->len < r->len);
}

static bool rule_valid(const struct elb_prefix_rule *r)
{
	struct elb_prefix_rule masked = *r;

	if (r->family != ELB_AF_INET && r->family != ELB_AF_INET6)
		return false;
	if (r->len > elb_prefix_family_bits(r->family) ||
	    (r->action != ELB_PREFIX_ALLOW && r->action != ELB_PREFIX_DENY))
		return false;
	for (uint32_t w = 0; w < (r->family == ELB_AF_INET ? 1u : 4u); w++)
		masked.addr.w[w] = elb_prefix_mask_word(r->addr.w[w], w, r->len);
	return memcmp(&masked.addr, &r->addr, r->family == ELB_AF_INET ? 4 : 16) == 0;
}

static void table_free(struct elb_prefix_table *t)
{
	free((void *)t->v4.ends);
	free((void *)t->v4.values);
	free((void *)t->v4.index);
	free((void *)t->v6.ends);
	free((void *)t->v6.values);
	free(t);
}

int elb_prefix_table_build(const struct elb_prefix_rule *rules, uint32_t n,
			   struct elb_prefix_table **out)
{
	struct elb_prefix_table *t;
	struct flat scratch = {0};
	uint32_t n4 = 0;
	int rc = -ENOMEM;

	if (n > ELB_PREFIX_RULES_MAX)
		return -EINVAL;
	for (uint32_t i = 0; i < n; i++) {
		if (!rule_valid(&rules[i]) || (i > 0 && !rule_follows(&rules[i - 1], &rules[i])))
			return -EINVAL;
		if (rules[i].family == ELB_AF_INET)
			n4++;
	}
	t = calloc(1, sizeof(*t));
	scratch.ends = malloc(sizeof(*scratch.ends) * (2 * (size_t)n + 2));
	scratch.values = malloc(sizeof(*scratch.values) * (2 * (size_t)n + 2));
	if (t == NULL || scratch.ends == NULL || scratch.values == NULL)
		goto out;
	/* Sorted by family first: ELB_AF_INET's rules, then ELB_AF_INET6's. */
	_Static_assert(ELB_AF_INET < ELB_AF_INET6, "IPv4 rules sort first");
	rc = family_build(rules, 0, n4, &scratch, &t->v4, &t->bytes);
	if (rc == 0)
		rc = family_build(rules, n4, n - n4, &scratch, &t->v6, &t->bytes);
	if (rc)
		goto out;
	t->source = rules;
	t->n_rules = n;
	t->refs = 1;
	*out = t;
	t = NULL;
out:
	if (t)
		table_free(t);
	free(scratch.ends);
	free(scratch.values);
	return rc;
}

struct elb_prefix_table *elb_prefix_table_get(struct elb_prefix_table *t)
{
	if (t)
		t->refs++;
	return t;
}

void elb_prefix_table_put(struct elb_prefix_table *t)
{
	if (t && --t->refs == 0)
		table_free(t);
}
