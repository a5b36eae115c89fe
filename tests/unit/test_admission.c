/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Admission control (elb_admission.h): exact admit sequences worked out by
 * hand from the rates, the keys sources are counted under, the sketch's
 * one-sided error (never a false negative; false positives measured against
 * the bound docs/admission.md states), and the new-flow budget's flood mode
 * with its hysteresis.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "elb_admission.h"
#include "elb_test.h"

#define MS 1000000ull
#define S 1000000000ull

static const struct elb_hash_seed seed = {0x0706050403020100ull, 0x0f0e0d0c0b0a0908ull};

static struct elb_source_limit source_limit(uint8_t family, uint8_t len, uint64_t pps,
					    uint64_t pkt_burst, uint64_t fps, uint64_t flow_burst)
{
	struct elb_source_limit lim;

	CU_ASSERT_FATAL(elb_source_limit_init(&lim, family, len, pps, pkt_burst, fps,
					      flow_burst) == 0);
	return lim;
}

/* A sketch of 2^bits columns per row, zeroed (every bucket full), with
 * its row hashes' keys from the test seed. */
struct sketch {
	struct elb_source_cell *cells;
	uint32_t bits;
	struct elb_source_keys keys;
};

static struct sketch sketch_new(uint32_t bits)
{
	struct sketch sk;

	sk.cells = calloc((size_t)ELB_SOURCE_ROWS << bits, sizeof(struct elb_source_cell));
	sk.bits = bits;
	CU_ASSERT_PTR_NOT_NULL_FATAL(sk.cells);
	elb_source_keys_init(&sk.keys, &seed);
	return sk;
}

static void sketch_cells(const struct sketch *sk, const struct elb_source_key *key,
			 struct elb_source_cell *cells[ELB_SOURCE_ROWS])
{
	for (uint32_t r = 0; r < ELB_SOURCE_ROWS; r++)
		cells[r] = &sk->cells[elb_source_cell_index(&sk->keys, key, r, sk->bits)];
}

/* One packet of src under one limit, committed when it conforms. */
static bool offer(const struct sketch *sk, uint32_t src_v4, const struct elb_source_limit *lim,
		  uint64_t now, bool new_flow)
{
	union elb_addr a = {0};
	struct elb_source_cell *cells[ELB_SOURCE_ROWS];
	struct elb_source_check check;
	struct elb_source_key key;

	a.v4 = elb_htonl(src_v4);
	elb_source_key_of(&a, lim, 0, &key);
	sketch_cells(sk, &key, cells);
	if (elb_source_conforms(cells, lim, now, new_flow, &check) != ELB_SOURCE_CONFORMS)
		return false;
	elb_source_commit(cells, &check);
	return true;
}

static void test_init(void)
{
	struct elb_source_limit lim;
	struct elb_flow_budget b;

	lim = source_limit(ELB_AF_INET, 24, 10, 5, 0, 0);
	/* 10 pps: 100 ms = 6.4e9 units of 1/64 ns; burst 5. */
	CU_ASSERT_EQUAL(lim.pkt_interval, 6400000000ull);
	CU_ASSERT_EQUAL(lim.pkt_tolerance, 32000000000ull);
	CU_ASSERT_EQUAL(lim.flow_interval, 0);
	CU_ASSERT_EQUAL(lim.prefix_len, 24);
	CU_ASSERT_EQUAL(lim.family, ELB_AF_INET);
	CU_ASSERT_EQUAL(elb_source_limit_init(&lim, ELB_AF_INET, 33, 1, 1, 0, 0), -EINVAL);
	CU_ASSERT_EQUAL(elb_source_limit_init(&lim, ELB_AF_INET, 0, 1, 1, 0, 0), -EINVAL);
	CU_ASSERT_EQUAL(elb_source_limit_init(&lim, ELB_AF_INET6, 129, 1, 1, 0, 0), -EINVAL);
	CU_ASSERT_EQUAL(elb_source_limit_init(&lim, 7, 24, 1, 1, 0, 0), -EINVAL);
	CU_ASSERT_EQUAL(elb_source_limit_init(&lim, ELB_AF_INET, 24, 1, 0, 0, 0), -EINVAL);
	CU_ASSERT_EQUAL(elb_source_limit_init(&lim, ELB_AF_INET, 24, 0, 0, 1, 0), -EINVAL);
	/* Unchanged on error. */
	CU_ASSERT_EQUAL(lim.prefix_len, 24);

	CU_ASSERT_EQUAL(elb_flow_budget_init(&b, 1000, 50), 0);
	CU_ASSERT_EQUAL(b.interval, 64000000ull);
	CU_ASSERT_EQUAL(b.tolerance, 50 * 64000000ull);
	CU_ASSERT_EQUAL(b.exit_flows, 500);
	CU_ASSERT_EQUAL(elb_flow_budget_init(&b, 1000, 0), -EINVAL);
	CU_ASSERT_EQUAL(elb_flow_budget_init(&b, 0, 0), 0);
	CU_ASSERT_EQUAL(b.interval, 0);
}

/* The key: 32-bit chunks of the VIP, length and family, then the address
 * masked to the prefix length; chunks built here by hand. */
static void test_source_keys(void)
{
	struct elb_source_limit l24 = source_limit(ELB_AF_INET, 24, 10, 1, 0, 0);
	struct elb_source_limit l32 = source_limit(ELB_AF_INET, 32, 10, 1, 0, 0);
	struct elb_source_limit l48 = source_limit(ELB_AF_INET6, 48, 10, 1, 0, 0);
	struct elb_source_limit l68 = source_limit(ELB_AF_INET6, 68, 10, 1, 0, 0);
	union elb_addr a = {0}, v6 = {0};
	struct elb_source_key k;
	/* 2001:db8:1234:5678:9abc:def0:1:2 */
	static const uint8_t v6_bytes[16] = {0x20, 0x01, 0x0d, 0xb8, 0x12, 0x34, 0x56, 0x78,
					     0x9a, 0xbc, 0xde, 0xf0, 0x00, 0x01, 0x00, 0x02};

	a.v4 = elb_htonl(0xc6336401); /* 198.51.100.1 */
	elb_source_key_of(&a, &l24, 3, &k);
	CU_ASSERT_EQUAL(k.n_chunks, 2);
	CU_ASSERT_EQUAL(k.chunk[0], 3u | 24u << 16 | (uint32_t)ELB_AF_INET << 24);
	CU_ASSERT_EQUAL(k.chunk[1], 0xc6336400u);
	elb_source_key_of(&a, &l32, 3, &k);
	CU_ASSERT_EQUAL(k.chunk[1], 0xc6336401u);

	memcpy(v6.v6, v6_bytes, 16);
	elb_source_key_of(&v6, &l48, 9, &k);
	CU_ASSERT_EQUAL(k.n_chunks, 5);
	CU_ASSERT_EQUAL(k.chunk[0], 9u | 48u << 16 | (uint32_t)ELB_AF_INET6 << 24);
	CU_ASSERT_EQUAL(k.chunk[1], 0x20010db8u);
	CU_ASSERT_EQUAL(k.chunk[2], 0x12340000u);
	CU_ASSERT_EQUAL(k.chunk[3], 0);
	CU_ASSERT_EQUAL(k.chunk[4], 0);
	elb_source_key_of(&v6, &l68, 9, &k);
	CU_ASSERT_EQUAL(k.chunk[2], 0x12345678u);
	CU_ASSERT_EQUAL(k.chunk[3], 0x90000000u);
	CU_ASSERT_EQUAL(k.chunk[4], 0);
}

/* A row's cell: the multiply-shift sum's top bits, in the row's block. */
static void test_cell_index(void)
{
	struct elb_source_keys keys;
	struct elb_source_key k = {{0x01180003u, 0xc6336400u}, 2};
	struct elb_source_key k6 = {{0x0a300009u, 0x20010db8u, 0x12340000u, 0, 7}, 5};

	elb_source_keys_init(&keys, &seed);
	for (uint32_t r = 0; r < ELB_SOURCE_ROWS; r++) {
		uint64_t h = keys.add[r] + keys.mul[r][0] * 0x01180003ull + keys.mul[r][1] * 0xc6336400ull;
		uint64_t h6 = keys.add[r] + keys.mul[r][0] * 0x0a300009ull +
			      keys.mul[r][1] * 0x20010db8ull + keys.mul[r][2] * 0x12340000ull +
			      keys.mul[r][4] * 7ull;

		CU_ASSERT_EQUAL(elb_source_cell_index(&keys, &k, r, 10), (r << 10) | (uint32_t)(h >> 54));
		CU_ASSERT_EQUAL(elb_source_cell_index(&keys, &k6, r, 16),
				(r << 16) | (uint32_t)(h6 >> 48));
	}
	/* The keys come from the seed: another seed, other multipliers. */
	{
		struct elb_source_keys other;
		struct elb_hash_seed s2 = seed;

		s2.k0 ^= 1;
		elb_source_keys_init(&other, &s2);
		CU_ASSERT(memcmp(&keys, &other, sizeof(keys)) != 0);
	}
}

/* 10 pps with a burst of 3, one source alone: 3 at once, then one per 100 ms. */
static void test_source_exact_sequence(void)
{
	struct sketch sk = sketch_new(10);
	struct elb_source_limit lim = source_limit(ELB_AF_INET, 32, 10, 3, 0, 0);
	static const struct {
		uint64_t at;
		bool admitted;
	} seq[] = {
		{0, true},          {0, true},          {0, true},
		{0, false},         {99 * MS, false},   {100 * MS, true},
		{100 * MS, false},  {150 * MS, false},  {200 * MS, true},
		{1000 * MS, true},  {1000 * MS, true},  {1000 * MS, true},
		{1000 * MS, false},
	};

	for (size_t i = 0; i < ELB_ARRAY_SIZE(seq); i++) {
		bool got = offer(&sk, 0xc6336401, &lim, S + seq[i].at, false);

		if (got != seq[i].admitted)
			printf("\n  packet %zu at +%llu ms: %s\n", i,
			       (unsigned long long)(seq[i].at / MS), got ? "admitted" : "refused");
		CU_ASSERT_EQUAL(got, seq[i].admitted);
	}
	/* Another source is not touched by this one's limit. */
	CU_ASSERT(offer(&sk, 0xc6336402, &lim, S + 1000 * MS, false));
	free(sk.cells);
}

/* New flows count against the new-flow rate, every packet against the
 * packet rate; a refused packet takes nothing from either. */
static void test_source_new_flows(void)
{
	struct sketch sk = sketch_new(10);
	struct elb_source_limit lim = source_limit(ELB_AF_INET, 32, 100, 4, 2, 2);
	struct elb_source_cell *before = malloc(sizeof(struct elb_source_cell) * (ELB_SOURCE_ROWS << 10));

	CU_ASSERT_PTR_NOT_NULL_FATAL(before);
	CU_ASSERT(offer(&sk, 1, &lim, S, true));
	CU_ASSERT(offer(&sk, 1, &lim, S, true));
	/* Third new flow at once: over 2/s with burst 2; nothing changes. */
	memcpy(before, sk.cells, sizeof(struct elb_source_cell) * (ELB_SOURCE_ROWS << 10));
	CU_ASSERT(!offer(&sk, 1, &lim, S, true));
	CU_ASSERT(memcmp(before, sk.cells, sizeof(struct elb_source_cell) * (ELB_SOURCE_ROWS << 10)) == 0);
	/* Packets of its flows still pass, up to the packet burst (4). */
	CU_ASSERT(offer(&sk, 1, &lim, S, false));
	CU_ASSERT(offer(&sk, 1, &lim, S, false));
	CU_ASSERT(!offer(&sk, 1, &lim, S, false));
	/* A new flow 500 ms later: one token back. */
	CU_ASSERT(offer(&sk, 1, &lim, S + 500 * MS, true));
	CU_ASSERT(!offer(&sk, 1, &lim, S + 500 * MS, true));
	free(before);
	free(sk.cells);
}

/* A small deterministic generator for the load tests. */
static uint64_t rng_next(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/*
 * N spoofed sources per second (each new: one packet) beside 200 honest
 * sources at 20 packets/s and one heavy source at 400/s, all under a limit
 * of 100 packets/s per /32, for 3 simulated seconds. Returns how many
 * honest sources were ever limited and how many packets of the heavy one
 * passed; *bound: the bound per honest source, (N / (2^bits (L - r)))^rows.
 */
static uint32_t spoofed_flood(uint32_t bits, uint32_t spoofed_per_s, uint64_t *heavy_admitted,
			      double *bound)
{
	const uint32_t seconds = 3, honest = 200;
	const uint64_t limit_pps = 100, honest_pps = 20, heavy_pps = 400;
	struct sketch sk = sketch_new(bits);
	struct elb_source_limit lim = source_limit(ELB_AF_INET, 32, limit_pps, 10, 0, 0);
	uint64_t x = 0x2545f4914f6cdd1dull, heavy_next = S;
	const uint64_t step = S / spoofed_per_s;
	bool *was_limited = calloc(honest, sizeof(bool));
	uint64_t *next = calloc(honest, sizeof(uint64_t));
	uint32_t honest_limited = 0;
	uint64_t spoofed_admitted = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(was_limited);
	CU_ASSERT_PTR_NOT_NULL_FATAL(next);
	*heavy_admitted = 0;
	/* Honest source i (172.16.0.0 + i) starts at its own offset. */
	for (uint32_t i = 0; i < honest; i++)
		next[i] = S + (uint64_t)i * (S / honest_pps / honest);
	/* Steps of 1/N s, one spoofed packet each, from a fresh source in
	 * 128.0.0.0/1 (where no other source is). */
	for (uint64_t t = S; t < S + seconds * S; t += step) {
		spoofed_admitted +=
			offer(&sk, 0x80000000u | (uint32_t)(rng_next(&x) & 0x7fffffff), &lim, t, true);
		for (uint32_t i = 0; i < honest; i++) {
			if (t < next[i])
				continue;
			next[i] += S / honest_pps;
			if (!offer(&sk, 0xac100000u + i, &lim, t, false))
				was_limited[i] = true;
		}
		if (t >= heavy_next) {
			heavy_next += S / heavy_pps;
			*heavy_admitted += offer(&sk, 0x0a000001u, &lim, t, false);
		}
	}
	for (uint32_t i = 0; i < honest; i++)
		honest_limited += was_limited[i];
	*bound = pow((double)spoofed_per_s /
			     ((double)(1u << bits) * (double)(limit_pps - honest_pps)),
		     ELB_SOURCE_ROWS);
	printf("\n  %u spoofed/s over %u columns: %u of %u honest sources at %llu/s (limit "
	       "%llu/s) ever limited (bound per source %.4f); heavy source at %llu/s: %llu "
	       "admitted in %u s; spoofed admitted %.4f",
	       spoofed_per_s, 1u << bits, honest_limited, honest, (unsigned long long)honest_pps,
	       (unsigned long long)limit_pps, fmin(*bound, 1.0), (unsigned long long)heavy_pps,
	       (unsigned long long)*heavy_admitted, seconds,
	       (double)spoofed_admitted / ((double)spoofed_per_s * seconds));
	/* No false negative: the heavy source gets at most its own bucket's
	 * worth, burst included, whatever shares its cells. */
	CU_ASSERT(*heavy_admitted <= limit_pps * seconds + 10);
	free(next);
	free(was_limited);
	free(sk.cells);
	return honest_limited;
}

/* The sketch's one-sided error: no false negative; false positives within
 * the bound where the sketch is sized for the flood, and frequent where it
 * is not (what the sizing rule of docs/admission.md is for). */
static void test_sketch_error_bounds(void)
{
	uint64_t heavy;
	double bound;
	uint32_t limited;

	/* 20,000/s over 1,024 columns: (20000 / (1024 * 80))^4 = 0.0036. */
	limited = spoofed_flood(10, 20000, &heavy, &bound);
	CU_ASSERT((double)limited <= bound * 200 + 3);
	/* 200,000/s over 64 columns: 3,125 spoofed packets/s per cell, far above
	 * the 80 left to an honest source in every row. */
	limited = spoofed_flood(6, 200000, &heavy, &bound);
	CU_ASSERT(limited > 100);
	/* The same flood over 2^14 columns: 12/s per cell, bound 0.0023. */
	limited = spoofed_flood(14, 200000, &heavy, &bound);
	CU_ASSERT((double)limited <= bound * 200 + 3);
	printf("\n");
}

/* Budget 10 new flows/s, burst 5; flood mode from the sixth at once, out
 * after a window with at most 5 new flows. */
static void test_flood_mode_sequence(void)
{
	struct elb_flow_budget b;
	struct elb_flow_budget_state s = {0};

	CU_ASSERT_FATAL(elb_flow_budget_init(&b, 10, 5) == 0);
	CU_ASSERT_EQUAL(b.exit_flows, 5);
	for (int i = 0; i < 5; i++)
		CU_ASSERT_EQUAL(elb_flow_budget_admit(&s, &b, S), ELB_FLOW_STATEFUL);
	CU_ASSERT_EQUAL(elb_flow_budget_admit(&s, &b, S), ELB_FLOW_STATELESS);
	CU_ASSERT_EQUAL(s.flooding, 1);
	CU_ASSERT_EQUAL(s.flood_entries, 1);
	/* In flood mode even a flow the bucket would admit goes stateless:
	 * 100 ms later (one token back). 20 more in this window: 22 in all. */
	CU_ASSERT_EQUAL(elb_flow_budget_admit(&s, &b, S + 100 * MS), ELB_FLOW_STATELESS);
	for (int i = 0; i < 20; i++)
		CU_ASSERT_EQUAL(elb_flow_budget_admit(&s, &b, S + 500 * MS), ELB_FLOW_STATELESS);
	CU_ASSERT_EQUAL(s.window_flows, 22);
	/* The window ended with 22 > 5: still flooding, a new window. */
	CU_ASSERT_EQUAL(elb_flow_budget_admit(&s, &b, S + 1000 * MS), ELB_FLOW_STATELESS);
	CU_ASSERT_EQUAL(s.window_flows, 1);
	/* Four more in that window: 5 in all, not above exit_flows. */
	for (int i = 0; i < 4; i++)
		CU_ASSERT_EQUAL(elb_flow_budget_admit(&s, &b, S + 1500 * MS), ELB_FLOW_STATELESS);
	/* The next window's first flow: back to normal, with a full bucket. */
	CU_ASSERT_EQUAL(elb_flow_budget_admit(&s, &b, S + 2000 * MS), ELB_FLOW_STATEFUL);
	CU_ASSERT_EQUAL(s.flooding, 0);
	for (int i = 0; i < 4; i++)
		CU_ASSERT_EQUAL(elb_flow_budget_admit(&s, &b, S + 2000 * MS), ELB_FLOW_STATEFUL);
	CU_ASSERT_EQUAL(elb_flow_budget_admit(&s, &b, S + 2000 * MS), ELB_FLOW_STATELESS);
	CU_ASSERT_EQUAL(s.flood_entries, 2);
	CU_ASSERT_EQUAL(s.flood_flows, 1 + 1 + 20 + 1 + 4 + 1);
	/* Flooding again (window from S + 2000 ms, 1 flow so far); 30 more
	 * in it, then nothing for 1.5 s: the window after it had none, so
	 * the next new flow ends flood mode though the last window was busy. */
	for (int i = 0; i < 30; i++)
		CU_ASSERT_EQUAL(elb_flow_budget_admit(&s, &b, S + 2500 * MS), ELB_FLOW_STATELESS);
	CU_ASSERT_EQUAL(elb_flow_budget_admit(&s, &b, S + 3999 * MS), ELB_FLOW_STATELESS);
	CU_ASSERT_EQUAL(s.window_flows, 1); /* a new window from S + 3999 ms */
	for (int i = 0; i < 30; i++)
		CU_ASSERT_EQUAL(elb_flow_budget_admit(&s, &b, S + 4500 * MS), ELB_FLOW_STATELESS);
	CU_ASSERT_EQUAL(elb_flow_budget_admit(&s, &b, S + 5998 * MS), ELB_FLOW_STATELESS);
	CU_ASSERT_EQUAL(elb_flow_budget_admit(&s, &b, S + 8000 * MS), ELB_FLOW_STATEFUL);
	CU_ASSERT_EQUAL(s.flooding, 0);

	/* No budget: always stateful, nothing counted. */
	{
		struct elb_flow_budget none;
		struct elb_flow_budget_state t = {0};

		CU_ASSERT_FATAL(elb_flow_budget_init(&none, 0, 0) == 0);
		for (int i = 0; i < 1000; i++)
			CU_ASSERT_EQUAL(elb_flow_budget_admit(&t, &none, S), ELB_FLOW_STATEFUL);
		CU_ASSERT_EQUAL(t.flood_flows, 0);
	}
}

/* A steady rate under the budget never floods; a steady rate above floods
 * and stays flooding; one that falls back under half leaves. */
static void test_flood_mode_rates(void)
{
	struct elb_flow_budget b;
	struct elb_flow_budget_state s = {0};
	uint64_t stateful = 0, offered = 0;

	CU_ASSERT_FATAL(elb_flow_budget_init(&b, 1000, 100) == 0);
	for (uint64_t t = S; t < 3 * S; t += S / 900, offered++) /* 900/s */
		stateful += elb_flow_budget_admit(&s, &b, t) == ELB_FLOW_STATEFUL;
	CU_ASSERT_EQUAL(s.flood_entries, 0);
	CU_ASSERT_EQUAL(stateful, offered);
	for (uint64_t t = 3 * S; t < 6 * S; t += S / 5000) /* 5000/s */
		elb_flow_budget_admit(&s, &b, t);
	CU_ASSERT_EQUAL(s.flood_entries, 1);
	CU_ASSERT_EQUAL(s.flooding, 1);
	/* 600/s: above half the budget, flood mode holds. */
	for (uint64_t t = 6 * S; t < 9 * S; t += S / 600)
		CU_ASSERT_EQUAL(elb_flow_budget_admit(&s, &b, t), ELB_FLOW_STATELESS);
	/* 400/s: the first whole window at that rate ends it. */
	stateful = 0;
	for (uint64_t t = 9 * S; t < 12 * S; t += S / 400)
		stateful += elb_flow_budget_admit(&s, &b, t) == ELB_FLOW_STATEFUL;
	CU_ASSERT_EQUAL(s.flooding, 0);
	CU_ASSERT_EQUAL(s.flood_entries, 1);
	CU_ASSERT(stateful >= 400 && stateful <= 800);
}

int main(void)
{
	static const struct elb_test_case cases[] = {
		ELB_TEST(test_init),
		ELB_TEST(test_source_keys),
		ELB_TEST(test_cell_index),
		ELB_TEST(test_source_exact_sequence),
		ELB_TEST(test_source_new_flows),
		ELB_TEST(test_sketch_error_bounds),
		ELB_TEST(test_flood_mode_sequence),
		ELB_TEST(test_flood_mode_rates),
		ELB_TEST_END,
	};
	return elb_test_run("admission", cases);
}
