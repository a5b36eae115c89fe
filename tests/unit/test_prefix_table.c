/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * edgelb-dp's prefix-list lookup (elb_prefix_table.h) against the meaning
 * of a list (elb_prefix_list_decide, which reads every rule), on lists
 * written by hand, random nested lists of both families with the edge
 * lengths (/0 /1 /31 /32 /127 /128), both scopes together, and 100k rules.
 *
 * For 100k rules the reference would read every rule per address, so the
 * truth there is a second, independent reading of the definition: for each
 * length from the longest down, the address masked to it, looked up by
 * binary search in the sorted list; it is itself checked against
 * elb_prefix_list_decide on the smaller lists. Addresses checked: every
 * rule's first and last address and their neighbours, plus random ones.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "elb_prefix_table.h"
#include "elb_test.h"

/* ---- building lists ---------------------------------------------------------------------- */

static struct elb_prefix_rule rule4(uint32_t host_addr, uint8_t len, uint8_t action)
{
	struct elb_prefix_rule r = {.family = ELB_AF_INET, .len = len, .action = action};

	r.addr.v4 = elb_prefix_mask_word(elb_htonl(host_addr), 0, len);
	return r;
}

/* The address with every bit past len cleared (a valid rule's address). */
static void mask_addr(union elb_addr *a, uint8_t family, uint32_t len)
{
	for (uint32_t w = 0; w < (family == ELB_AF_INET ? 1u : 4u); w++)
		a->w[w] = elb_prefix_mask_word(a->w[w], w, len);
}

/* (family, address, length): the order of struct elb_prefix_list. */
static int rule_cmp(const void *pa, const void *pb)
{
	const struct elb_prefix_rule *a = pa, *b = pb;
	int c;

	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	c = memcmp(a->addr.v6, b->addr.v6, a->family == ELB_AF_INET ? 4 : 16);
	if (c)
		return c;
	return a->len < b->len ? -1 : a->len > b->len;
}

/* Sort and drop repeated prefixes: a list. @return the new count. */
static uint32_t make_list(struct elb_prefix_rule *r, uint32_t n)
{
	uint32_t k = 0;

	qsort(r, n, sizeof(*r), rule_cmp);
	for (uint32_t i = 0; i < n; i++)
		if (k == 0 || rule_cmp(&r[k - 1], &r[i]) != 0)
			r[k++] = r[i];
	return k;
}

/* A random address near one of a few "networks" so that prefixes nest. */
static void random_addr(uint64_t *rng, uint8_t family, union elb_addr *a)
{
	static const uint32_t nets[4] = {0x0a000000u, 0xc0a80000u, 0xcb007100u, 0x20010db8u};
	uint64_t r = elb_test_rng(rng);

	memset(a, 0, sizeof(*a));
	if (family == ELB_AF_INET) {
		/* Half near a network (top 16 bits fixed), half anywhere. */
		uint32_t v = (uint32_t)elb_test_rng(rng);

		if (r & 1)
			v = (nets[(r >> 1) & 3] & 0xffff0000u) | (v & 0xffffu);
		a->v4 = elb_htonl(v);
		return;
	}
	for (int w = 0; w < 4; w++)
		a->w[w] = (uint32_t)elb_test_rng(rng);
	if (r & 1) {
		a->w[0] = elb_htonl(nets[(r >> 1) & 3]);
		a->w[1] = elb_htonl((uint32_t)(r >> 8) & 0xf);
	}
}

/* A random length, often one of the edges. */
static uint8_t random_len(uint64_t *rng, uint8_t family)
{
	static const uint8_t edges4[] = {0, 1, 31, 32, 8, 16, 24};
	static const uint8_t edges6[] = {0, 1, 127, 128, 32, 48, 64};
	uint64_t r = elb_test_rng(rng);
	uint32_t bits = elb_prefix_family_bits(family);

	if (r % 8 == 0)
		return family == ELB_AF_INET ? edges4[(r >> 3) % 7] : edges6[(r >> 3) % 7];
	/* Mostly long prefixes near the networks, which nest in the short ones. */
	return (uint8_t)(bits / 4 + (r >> 8) % (bits - bits / 4 + 1));
}

/* n random rules of both families (IPv4 share four_in_8 eighths), a list. */
static uint32_t random_list(uint64_t *rng, struct elb_prefix_rule *r, uint32_t n,
			    uint32_t four_in_8)
{
	for (uint32_t i = 0; i < n; i++) {
		uint8_t family = elb_test_rng(rng) % 8 < four_in_8 ? ELB_AF_INET : ELB_AF_INET6;

		memset(&r[i], 0, sizeof(r[i]));
		r[i].family = family;
		r[i].len = random_len(rng, family);
		random_addr(rng, family, &r[i].addr);
		mask_addr(&r[i].addr, family, r[i].len);
		r[i].action = elb_test_rng(rng) & 1 ? ELB_PREFIX_ALLOW : ELB_PREFIX_DENY;
	}
	return make_list(r, n);
}

/* ---- the second reference: one binary search per length ---------------------------------- */

static uint32_t reference_by_lengths(const struct elb_prefix_rule *rules, uint32_t n,
				     uint8_t family, const union elb_addr *addr)
{
	for (int len = (int)elb_prefix_family_bits(family); len >= 0; len--) {
		struct elb_prefix_rule key = {.family = family, .len = (uint8_t)len};
		const struct elb_prefix_rule *hit;

		key.addr = *addr;
		if (family == ELB_AF_INET)
			memset(&key.addr.w[1], 0, 12);
		mask_addr(&key.addr, family, (uint32_t)len);
		hit = bsearch(&key, rules, n, sizeof(*rules), rule_cmp);
		if (hit)
			return (uint32_t)(hit - rules) << 2 | hit->action;
	}
	return ELB_PREFIX_VALUE_NONE;
}

/* elb_prefix_list_decide's answer for one list as a table value. */
static uint32_t reference_decide(const struct elb_prefix_rule *rules, uint32_t n, uint8_t family,
				 const union elb_addr *addr)
{
	enum elb_prefix_scope scope;
	const struct elb_prefix_rule *rule = NULL;
	enum elb_prefix_action a =
		elb_prefix_list_decide(NULL, 0, rules, n, family, addr, &scope, &rule);

	return a == ELB_PREFIX_NO_MATCH ? ELB_PREFIX_VALUE_NONE
					: (uint32_t)(rule - rules) << 2 | (uint32_t)a;
}

/* ---- address arithmetic for rule edges --------------------------------------------------- */

/* a + delta (delta -1 or +1), wrapping, in the family's width. */
static void addr_step(union elb_addr *a, uint8_t family, int delta)
{
	if (family == ELB_AF_INET) {
		a->v4 = elb_htonl(elb_ntohl(a->v4) + (uint32_t)delta);
		return;
	}
	for (int w = 3; w >= 0; w--) {
		uint32_t v = elb_ntohl(a->w[w]);
		uint32_t next = v + (uint32_t)delta;

		a->w[w] = elb_htonl(next);
		/* Carry (or borrow) only when this word wrapped. */
		if ((delta > 0 && next != 0) || (delta < 0 && v != 0))
			break;
	}
}

/* The rule's last address: its address with the host bits set. */
static union elb_addr rule_last(const struct elb_prefix_rule *r)
{
	union elb_addr a = r->addr;

	for (uint32_t w = 0; w < (r->family == ELB_AF_INET ? 1u : 4u); w++)
		a.w[w] |= ~elb_prefix_mask_word(0xffffffffu, w, r->len);
	return a;
}

/* Check the table on addr against `want`; returns whether it agreed. */
static bool check_one(const struct elb_prefix_table *t, uint32_t want, uint8_t family,
		      const union elb_addr *addr)
{
	uint32_t got = elb_prefix_table_lookup(t, family, addr);
	char text[64];

	if (got == want)
		return true;
	inet_ntop(family == ELB_AF_INET ? AF_INET : AF_INET6, addr, text, sizeof(text));
	ELB_CHECK(got == want, "%s: table rule %u action %u, reference rule %u action %u", text,
		  ELB_PREFIX_VALUE_RULE(got), ELB_PREFIX_VALUE_ACTION(got),
		  ELB_PREFIX_VALUE_RULE(want), ELB_PREFIX_VALUE_ACTION(want));
	return false;
}

/*
 * Every rule's first and last address and their neighbours, then `random`
 * random addresses per family, against the reference `ref`.
 * @return the addresses checked.
 */
static uint64_t check_list(const struct elb_prefix_rule *rules, uint32_t n,
			   uint32_t (*ref)(const struct elb_prefix_rule *, uint32_t, uint8_t,
					   const union elb_addr *),
			   uint64_t *rng, uint32_t random)
{
	struct elb_prefix_table *t = NULL;
	uint64_t checked = 0, failures = 0;

	CU_ASSERT_EQUAL_FATAL(elb_prefix_table_build(rules, n, &t), 0);
	for (uint32_t i = 0; i < n && failures < 10; i++) {
		union elb_addr edges[2] = {rules[i].addr, rule_last(&rules[i])};

		for (int e = 0; e < 2; e++)
			for (int d = -1; d <= 1; d++) {
				union elb_addr a = edges[e];

				if (d)
					addr_step(&a, rules[i].family, d);
				failures += !check_one(t, ref(rules, n, rules[i].family, &a),
						       rules[i].family, &a);
				checked++;
			}
	}
	for (uint32_t i = 0; i < 2 * random && failures < 10; i++) {
		uint8_t family = i & 1 ? ELB_AF_INET6 : ELB_AF_INET;
		union elb_addr a;

		random_addr(rng, family, &a);
		failures += !check_one(t, ref(rules, n, family, &a), family, &a);
		checked++;
	}
	elb_prefix_table_put(t);
	return checked;
}

/* ---- tests ------------------------------------------------------------------------------- */

/* A list written by hand, with the answers worked out by hand. */
static void test_hand_written(void)
{
	struct elb_prefix_rule r[] = {
		rule4(0x00000000u, 0, ELB_PREFIX_DENY),   /* 0: 0.0.0.0/0 */
		rule4(0x0a000000u, 8, ELB_PREFIX_ALLOW),  /* 1: 10.0.0.0/8 */
		rule4(0x0a010000u, 16, ELB_PREFIX_DENY),  /* 2: 10.1.0.0/16 */
		rule4(0x0a010203u, 32, ELB_PREFIX_ALLOW), /* 3: 10.1.2.3/32 */
		rule4(0x0a01ff00u, 24, ELB_PREFIX_ALLOW), /* 4: 10.1.255.0/24: ends with /16 */
		rule4(0xc0000200u, 24, ELB_PREFIX_ALLOW), /* 5: 192.0.2.0/24 */
	};
	static const struct {
		uint32_t addr;
		uint32_t rule;
		uint8_t action;
	} want[] = {
		{0x00000000u, 0, ELB_PREFIX_DENY},  {0x09ffffffu, 0, ELB_PREFIX_DENY},
		{0x0a000000u, 1, ELB_PREFIX_ALLOW}, {0x0a00ffffu, 1, ELB_PREFIX_ALLOW},
		{0x0a010000u, 2, ELB_PREFIX_DENY},  {0x0a010202u, 2, ELB_PREFIX_DENY},
		{0x0a010203u, 3, ELB_PREFIX_ALLOW}, {0x0a010204u, 2, ELB_PREFIX_DENY},
		{0x0a01feffu, 2, ELB_PREFIX_DENY},  {0x0a01ff00u, 4, ELB_PREFIX_ALLOW},
		{0x0a01ffffu, 4, ELB_PREFIX_ALLOW}, {0x0a020000u, 1, ELB_PREFIX_ALLOW},
		{0x0affffffu, 1, ELB_PREFIX_ALLOW}, {0x0b000000u, 0, ELB_PREFIX_DENY},
		{0xc00001ffu, 0, ELB_PREFIX_DENY},  {0xc0000280u, 5, ELB_PREFIX_ALLOW},
		{0xc0000300u, 0, ELB_PREFIX_DENY},  {0xffffffffu, 0, ELB_PREFIX_DENY},
	};
	struct elb_prefix_table *t = NULL;
	union elb_addr v6 = {.w = {elb_htonl(0x0a000000u), 0, 0, 0}};

	CU_ASSERT_EQUAL_FATAL(elb_prefix_table_build(r, 6, &t), 0);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		union elb_addr a = {.v4 = elb_htonl(want[i].addr)};

		check_one(t, want[i].rule << 2 | want[i].action, ELB_AF_INET, &a);
	}
	/* An IPv4 list says nothing about IPv6. */
	CU_ASSERT_EQUAL(elb_prefix_table_lookup(t, ELB_AF_INET6, &v6), ELB_PREFIX_VALUE_NONE);
	CU_ASSERT_EQUAL(elb_prefix_table_lookup(NULL, ELB_AF_INET, &v6), ELB_PREFIX_VALUE_NONE);
	CU_ASSERT_EQUAL(t->n_rules, 6);
	CU_ASSERT_PTR_EQUAL(t->source, r);
	/* Ranges: up to 9.255.255.255 rule 0, then 1, 2, 3 (10.1.2.3), 2, 4,
	 * 1, 0, 5 (192.0.2.0/24), 0: at most 2n + 1. */
	CU_ASSERT_EQUAL(t->v4.n, 10);
	CU_ASSERT_EQUAL(t->v6.n, 0);
	elb_prefix_table_put(t);
}

/* /0, /1, /31, /32, /127, /128 alone and together, at both ends of the
 * address space. */
static void test_edge_lengths(void)
{
	static const uint8_t lens4[] = {0, 1, 31, 32};
	static const uint8_t lens6[] = {0, 1, 127, 128};
	uint64_t rng = 0x5eed0001;

	for (uint32_t mask = 1; mask < 16; mask++)
		for (int fam = 0; fam < 2; fam++)
			for (int end = 0; end < 2; end++) {
				struct elb_prefix_rule r[4];
				uint8_t family = fam ? ELB_AF_INET6 : ELB_AF_INET;
				uint32_t n = 0;

				for (uint32_t b = 0; b < 4; b++) {
					if (!(mask & (1u << b)))
						continue;
					memset(&r[n], 0, sizeof(r[n]));
					r[n].family = family;
					r[n].len = fam ? lens6[b] : lens4[b];
					/* All ones at the top end, zero at the bottom. */
					memset(r[n].addr.v6, end ? 0xff : 0, fam ? 16 : 4);
					mask_addr(&r[n].addr, family, r[n].len);
					r[n].action = (b + mask) & 1 ? ELB_PREFIX_ALLOW : ELB_PREFIX_DENY;
					n++;
				}
				n = make_list(r, n);
				check_list(r, n, reference_decide, &rng, 64);
			}
}

/* Random nested lists of both families against elb_prefix_list_decide; and
 * the second reference against it too, before it serves for 100k. */
static void test_random_lists(void)
{
	uint64_t rng = 0x5eed0002;
	static struct elb_prefix_rule r[3000];

	for (int round = 0; round < 12; round++) {
		uint32_t n = random_list(&rng, r, 1 + (uint32_t)(elb_test_rng(&rng) % 3000),
					 (uint32_t)round % 9);

		check_list(r, n, reference_decide, &rng, 2000);
		for (int i = 0; i < 2000; i++) {
			uint8_t family = i & 1 ? ELB_AF_INET6 : ELB_AF_INET;
			union elb_addr a;

			random_addr(&rng, family, &a);
			ELB_CHECK(reference_by_lengths(r, n, family, &a) ==
					  reference_decide(r, n, family, &a),
				  "round %d address %d", round, i);
		}
	}
}

/* A VIP's list and the node's together: the VIP's longest match first,
 * else the node's (elb_prefix_tables_decide), as elb_prefix_list_decide. */
static void test_both_scopes(void)
{
	uint64_t rng = 0x5eed0003;
	static struct elb_prefix_rule vip[600], node[1500];

	for (int round = 0; round < 8; round++) {
		uint32_t nv = random_list(&rng, vip, 1 + (uint32_t)(elb_test_rng(&rng) % 600), 4);
		uint32_t nn = random_list(&rng, node, 1 + (uint32_t)(elb_test_rng(&rng) % 1500), 4);
		struct elb_prefix_table *tables[ELB_PREFIX_SCOPES] = {NULL, NULL};

		/* Without a VIP list on odd rounds. */
		if (round & 1)
			nv = 0;
		if (nv)
			CU_ASSERT_EQUAL_FATAL(elb_prefix_table_build(vip, nv, &tables[0]), 0);
		CU_ASSERT_EQUAL_FATAL(elb_prefix_table_build(node, nn, &tables[1]), 0);
		for (int i = 0; i < 20000; i++) {
			uint8_t family = i & 1 ? ELB_AF_INET6 : ELB_AF_INET;
			enum elb_prefix_scope want_scope = ELB_PREFIX_SCOPE_VIP, got_scope;
			const struct elb_prefix_rule *rule = NULL;
			enum elb_prefix_action want;
			uint32_t got;
			union elb_addr a;

			random_addr(&rng, family, &a);
			want = elb_prefix_list_decide(vip, nv, node, nn, family, &a, &want_scope, &rule);
			got = elb_prefix_tables_decide((const struct elb_prefix_table *const *)tables,
						       family, &a, &got_scope);
			ELB_CHECK(ELB_PREFIX_VALUE_ACTION(got) == want, "round %d address %d", round, i);
			if (want != ELB_PREFIX_NO_MATCH) {
				const struct elb_prefix_rule *list = want_scope == ELB_PREFIX_SCOPE_VIP
									     ? vip
									     : node;

				ELB_CHECK(got_scope == want_scope && ELB_PREFIX_VALUE_RULE(got) ==
								     (uint32_t)(rule - list),
					  "round %d address %d", round, i);
			}
		}
		elb_prefix_table_put(tables[0]);
		elb_prefix_table_put(tables[1]);
	}
}

static double seconds_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* A list of exactly `target` random rules: drawn with room for repeats,
 * then thinned evenly (a subset of a list is a list). */
static uint32_t random_list_of(uint64_t *rng, struct elb_prefix_rule *r, uint32_t target,
			       uint32_t four_in_8)
{
	uint32_t n = random_list(rng, r, 3 * target, four_in_8), k = 0;

	CU_ASSERT_FATAL(n >= target);
	for (uint64_t i = 0; i < n; i++)
		if ((i + 1) * target / n > i * target / n)
			r[k++] = r[i];
	return k;
}

/* 100k random nested rules (and the 262,144 maximum): built well under a
 * second, and every rule's edges and 200k random addresses as the
 * reference says. */
static void test_100k(void)
{
	uint64_t rng = 0x5eed0004;
	struct elb_prefix_rule *r = malloc(sizeof(*r) * 3 * ELB_PREFIX_RULES_MAX);
	struct elb_prefix_table *t = NULL;
	struct timespec t0;
	uint32_t n;
	double built;

	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	n = random_list_of(&rng, r, 100000, 6);
	CU_ASSERT_EQUAL(n, 100000);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CU_ASSERT_EQUAL_FATAL(elb_prefix_table_build(r, n, &t), 0);
	built = seconds_since(&t0);
	printf("\n  %u rules: built in %.1f ms, %zu bytes (%.1f per rule), %u + %u ranges\n", n,
	       built * 1e3, t->bytes, (double)t->bytes / n, t->v4.n, t->v6.n);
	CU_ASSERT(built < 0.5);
	CU_ASSERT(t->v4.n + t->v6.n <= 2 * n + 2);
	CU_ASSERT(t->bytes <= 40 * (size_t)n + 8 * 64);
	elb_prefix_table_put(t);
	printf("  checked %lu addresses\n",
	       (unsigned long)check_list(r, n, reference_by_lengths, &rng, 100000));

	/* The most rules a node takes. */
	n = random_list_of(&rng, r, ELB_PREFIX_RULES_MAX, 4);
	CU_ASSERT_EQUAL(n, ELB_PREFIX_RULES_MAX);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CU_ASSERT_EQUAL_FATAL(elb_prefix_table_build(r, n, &t), 0);
	built = seconds_since(&t0);
	printf("  %u rules: built in %.1f ms\n", n, built * 1e3);
	CU_ASSERT(built < 1.0);
	elb_prefix_table_put(t);
	free(r);
}

/* What is not a sorted list of valid, unique rules is refused. */
static void test_refuses(void)
{
	struct elb_prefix_rule r[2] = {rule4(0x0a000000u, 8, ELB_PREFIX_DENY),
				       rule4(0x0a000000u, 16, ELB_PREFIX_ALLOW)};
	struct elb_prefix_table *t = NULL;
	struct elb_prefix_rule bad;

	CU_ASSERT_EQUAL(elb_prefix_table_build(r, 2, &t), 0);
	elb_prefix_table_put(t);
	t = NULL;
	/* Out of order, then a prefix twice. */
	CU_ASSERT_EQUAL(elb_prefix_table_build((struct elb_prefix_rule[]){r[1], r[0]}, 2, &t),
			-EINVAL);
	CU_ASSERT_EQUAL(elb_prefix_table_build((struct elb_prefix_rule[]){r[0], r[0]}, 2, &t),
			-EINVAL);
	bad = r[0];
	bad.addr.v4 = elb_htonl(0x0a000001u); /* host bits past /8 */
	CU_ASSERT_EQUAL(elb_prefix_table_build(&bad, 1, &t), -EINVAL);
	bad = r[0];
	bad.len = 33;
	CU_ASSERT_EQUAL(elb_prefix_table_build(&bad, 1, &t), -EINVAL);
	bad = r[0];
	bad.action = ELB_PREFIX_NO_MATCH;
	CU_ASSERT_EQUAL(elb_prefix_table_build(&bad, 1, &t), -EINVAL);
	bad = r[0];
	bad.family = 5;
	CU_ASSERT_EQUAL(elb_prefix_table_build(&bad, 1, &t), -EINVAL);
	CU_ASSERT_PTR_NULL(t);
}

/* References: the last put frees (run under ASan/valgrind to see it). */
static void test_references(void)
{
	struct elb_prefix_rule r = rule4(0x0a000000u, 8, ELB_PREFIX_DENY);
	struct elb_prefix_table *t = NULL;

	CU_ASSERT_EQUAL_FATAL(elb_prefix_table_build(&r, 1, &t), 0);
	CU_ASSERT_EQUAL(t->refs, 1);
	CU_ASSERT_PTR_EQUAL(elb_prefix_table_get(t), t);
	CU_ASSERT_EQUAL(t->refs, 2);
	elb_prefix_table_put(t);
	CU_ASSERT_EQUAL(t->refs, 1);
	elb_prefix_table_put(t);
	CU_ASSERT_PTR_NULL(elb_prefix_table_get(NULL));
	elb_prefix_table_put(NULL);
}

int main(void)
{
	static const struct elb_test_case cases[] = {
		ELB_TEST(test_hand_written),
		ELB_TEST(test_edge_lengths),
		ELB_TEST(test_random_lists),
		ELB_TEST(test_both_scopes),
		ELB_TEST(test_100k),
		ELB_TEST(test_refuses),
		ELB_TEST(test_references),
		ELB_TEST_END,
	};
	return elb_test_run("prefix_table", cases);
}
