/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Flow key layout and flow hash (elb_flow.h).
 *
 * The hash is checked against a reference SipHash written here from the
 * paper (Aumasson & Bernstein, "SipHash: a fast short-input PRF", 2012):
 * generic c/d rounds, the message read byte by byte. The reference is first
 * held to the paper's SipHash-2-4 test vector, then used with c=1, d=3.
 *
 * Quality figures (bucket load, avalanche) are printed and bounded. The
 * cost in cycles is a benchmark, not a test: edgelb-bench ("Flow hash").
 */
#include <arpa/inet.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "elb_flow.h"
#include "elb_flow_hash_x4.h"
#include "elb_parse.h"
#include "elb_test.h"

/* ------------------------------------------------------------------------ */
/* Reference SipHash-c-d, byte-wise, as the paper describes it */

static uint64_t ref_rotl(uint64_t x, unsigned int b)
{
	return (x << b) | (x >> (64 - b));
}

static void ref_round(uint64_t v[4])
{
	v[0] += v[1];
	v[2] += v[3];
	v[1] = ref_rotl(v[1], 13);
	v[3] = ref_rotl(v[3], 16);
	v[1] ^= v[0];
	v[3] ^= v[2];
	v[0] = ref_rotl(v[0], 32);
	v[2] += v[1];
	v[0] += v[3];
	v[1] = ref_rotl(v[1], 17);
	v[3] = ref_rotl(v[3], 21);
	v[1] ^= v[2];
	v[3] ^= v[0];
	v[2] = ref_rotl(v[2], 32);
}

/* Little-endian 64-bit word from n <= 8 bytes (the rest zero). */
static uint64_t ref_le(const uint8_t *p, size_t n)
{
	uint64_t w = 0;

	for (size_t i = 0; i < n; i++)
		w |= (uint64_t)p[i] << (8 * i);
	return w;
}

static uint64_t ref_siphash(const uint8_t *msg, size_t len, const uint8_t key[16],
			    unsigned int c, unsigned int d)
{
	uint64_t k0 = ref_le(key, 8), k1 = ref_le(key + 8, 8);
	uint64_t v[4] = {
		k0 ^ 0x736f6d6570736575ull, /* "somepseu" */
		k1 ^ 0x646f72616e646f6dull, /* "dorandom" */
		k0 ^ 0x6c7967656e657261ull, /* "lygenera" */
		k1 ^ 0x7465646279746573ull, /* "tedbytes" */
	};
	size_t words = len / 8 + 1; /* the last one holds the tail and len mod 256 */

	for (size_t i = 0; i < words; i++) {
		uint64_t m;

		if (i + 1 < words)
			m = ref_le(msg + 8 * i, 8);
		else
			m = ref_le(msg + 8 * i, len % 8) | (uint64_t)(len & 0xff) << 56;
		v[3] ^= m;
		for (unsigned int r = 0; r < c; r++)
			ref_round(v);
		v[0] ^= m;
	}
	v[2] ^= 0xff;
	for (unsigned int r = 0; r < d; r++)
		ref_round(v);
	return v[0] ^ v[1] ^ v[2] ^ v[3];
}

static void seed_bytes(const struct elb_hash_seed *seed, uint8_t key[16])
{
	for (int i = 0; i < 8; i++) {
		key[i] = (uint8_t)(seed->k0 >> (8 * i));
		key[8 + i] = (uint8_t)(seed->k1 >> (8 * i));
	}
}

static uint64_t ref_flow_hash(const struct elb_flow_key *key, const struct elb_hash_seed *seed)
{
	uint8_t k[16];

	seed_bytes(seed, k);
	return ref_siphash((const uint8_t *)key, sizeof(*key), k, 1, 3);
}

/* ------------------------------------------------------------------------ */

static uint64_t rng_state = 0x853c49e6748fea9bull;

static uint64_t rng(void)
{
	return elb_test_rng(&rng_state);
}

static const struct elb_hash_seed default_seed = {ELB_HASH_SEED_DEFAULT_K0,
						  ELB_HASH_SEED_DEFAULT_K1};

/* A key as the parser makes them: every field random, v4 addresses and
 * padding zero-extended. */
static void random_key(struct elb_flow_key *k)
{
	memset(k, 0, sizeof(*k));
	k->family = (rng() & 1) ? ELB_AF_INET : ELB_AF_INET6;
	if (k->family == ELB_AF_INET) {
		k->src.v4 = (uint32_t)rng();
		k->dst.v4 = (uint32_t)rng();
	} else {
		k->src.d[0] = rng();
		k->src.d[1] = rng();
		k->dst.d[0] = rng();
		k->dst.d[1] = rng();
	}
	k->sport = (uint16_t)rng();
	k->dport = (uint16_t)rng();
	k->proto = (uint8_t)rng();
}

/* The paper's appendix A: SipHash-2-4, key 00..0f, message 00..0e. The
 * empty message is the first vector of the reference implementation. */
static void test_reference_vectors(void)
{
	uint8_t key[16], msg[15];

	for (int i = 0; i < 16; i++)
		key[i] = (uint8_t)i;
	for (int i = 0; i < 15; i++)
		msg[i] = (uint8_t)i;
	CU_ASSERT_EQUAL(ref_siphash(msg, 15, key, 2, 4), 0xa129ca6149be45e5ull);
	CU_ASSERT_EQUAL(ref_siphash(msg, 0, key, 2, 4), 0x726fdb47dd0e0e31ull);
}

static void test_flow_hash_is_siphash13(void)
{
	struct elb_hash_seed seed = default_seed;
	unsigned int mismatches = 0;

	for (int i = 0; i < 100000; i++) {
		struct elb_flow_key k;

		random_key(&k);
		if (i % 1000 == 999) {
			seed.k0 = rng();
			seed.k1 = rng();
		}
		mismatches += elb_flow_hash(&k, &seed) != ref_flow_hash(&k, &seed);
	}
	CU_ASSERT_EQUAL(mismatches, 0);
}

/* Four keys at once, SIMD where this CPU has it and the scalar fallback:
 * each lane equals the reference, with keys of both families in every lane
 * position and the seed changing. */
static void test_flow_hash_x4(void)
{
	elb_flow_hash_x4_fn *impls[2] = {elb_flow_hash_x4_select(true),
					 elb_flow_hash_x4_select(false)};
	struct elb_hash_seed seed = default_seed;
	unsigned int mismatches = 0;

	CU_ASSERT_PTR_NOT_EQUAL(impls[0], NULL);
	CU_ASSERT_PTR_NOT_EQUAL(impls[1], NULL);
	for (int i = 0; i < 20000; i++) {
		struct elb_flow_key k[4];
		const struct elb_flow_key *keys[4] = {&k[0], &k[1], &k[2], &k[3]};
		uint64_t out[4];

		for (unsigned int j = 0; j < 4; j++)
			random_key(&k[j]);
		if (i % 500 == 499) {
			seed.k0 = rng();
			seed.k1 = rng();
		}
		for (unsigned int impl = 0; impl < 2; impl++) {
			memset(out, 0, sizeof(out));
			impls[impl](keys, &seed, out);
			for (unsigned int j = 0; j < 4; j++)
				mismatches += out[j] != ref_flow_hash(&k[j], &seed);
		}
	}
	CU_ASSERT_EQUAL(mismatches, 0);
}

/* Storing the key again as whole words changes no byte of it. */
static void test_key_store_words(void)
{
	for (int i = 0; i < 1000; i++) {
		struct elb_flow_key k, before;

		random_key(&k);
		before = k;
		elb_flow_key_store_words(&k);
		CU_ASSERT_EQUAL(memcmp(&k, &before, sizeof(k)), 0);
	}
}

/* Each field alone, from an all-zero key, so that no field's bytes can be
 * left out of the hash unnoticed. */
static void test_flow_hash_each_field(void)
{
	for (size_t byte = 0; byte < sizeof(struct elb_flow_key); byte++) {
		struct elb_flow_key k;

		memset(&k, 0, sizeof(k));
		((uint8_t *)&k)[byte] = 0x5a;
		CU_ASSERT_EQUAL(elb_flow_hash(&k, &default_seed), ref_flow_hash(&k, &default_seed));
	}
}

static void test_siphash13_words(void)
{
	for (unsigned int n = 1; n <= 8; n++) {
		for (int i = 0; i < 2000; i++) {
			struct elb_hash_seed seed = {rng(), rng()};
			uint64_t w[8];
			uint8_t k[16];

			for (unsigned int j = 0; j < n; j++)
				w[j] = rng();
			seed_bytes(&seed, k);
			CU_ASSERT_EQUAL(elb_siphash13_words(w, n, &seed),
					ref_siphash((const uint8_t *)w, 8 * n, k, 1, 3));
		}
	}
}

/* ------------------------------------------------------------------------ */
/* Key layout */

static void test_key_layout(void)
{
	CU_ASSERT_EQUAL(sizeof(struct elb_flow_key), 40);
	CU_ASSERT_EQUAL(offsetof(struct elb_flow_key, src), 0);
	CU_ASSERT_EQUAL(offsetof(struct elb_flow_key, dst), 16);
	CU_ASSERT_EQUAL(offsetof(struct elb_flow_key, sport), 32);
	CU_ASSERT_EQUAL(offsetof(struct elb_flow_key, dport), 34);
	CU_ASSERT_EQUAL(offsetof(struct elb_flow_key, proto), 36);
	CU_ASSERT_EQUAL(offsetof(struct elb_flow_key, family), 37);
	CU_ASSERT_EQUAL(offsetof(struct elb_flow_key, pad), 38);
}

/*
 * Parses a heap copy of the frame, the key bytes filled with garbage first
 * as a reused stack slot would be. (A heap copy, not the stack array: with
 * elb_parse inlined into a function that owns a small fixed-size array, GCC
 * 12's -Warray-bounds flags the header's bounds-checked reads.)
 */
static int parse_copy(const uint8_t *frame, size_t len, struct elb_packet *pkt)
{
	uint8_t *copy = malloc(len);
	int res;

	if (copy == NULL)
		abort();
	memcpy(copy, frame, len);
	memset(pkt, 0xcc, sizeof(*pkt));
	res = elb_parse(copy, copy + len, pkt);
	free(copy);
	return res;
}

/*
 * The key the parser makes from a real IPv4 TCP packet, byte for byte:
 * 198.51.100.7:40000 -> 203.0.113.10:80.
 */
static void test_key_bytes_from_ipv4_packet(void)
{
	static const char frame_hex[] =
		"02 00 00 00 00 01 02 00 00 00 00 02 08 00  # eth\n"
		"45 00 00 28 12 34 40 00 40 06 c2 56 c6 33 64 07 cb 00 71 0a  # ipv4\n"
		"9c 40 00 50 11 22 33 44 00 00 00 00 50 04 fa f0 6d b3 00 00  # tcp (RST)\n";
	static const char key_hex[] =
		"c6 33 64 07  00 00 00 00 00 00 00 00 00 00 00 00  # src, zero-extended\n"
		"cb 00 71 0a  00 00 00 00 00 00 00 00 00 00 00 00  # dst, zero-extended\n"
		"9c 40  00 50  06  04  00 00  # sport dport proto family pad\n";
	uint8_t frame[64], want[40];
	size_t len = elb_test_hex(frame_hex, frame, sizeof(frame));
	struct elb_packet pkt;

	elb_test_hex(key_hex, want, sizeof(want));
	CU_ASSERT_EQUAL_FATAL(parse_copy(frame, len, &pkt), ELB_PARSE_IP);
	ELB_ASSERT_BYTES((const uint8_t *)&pkt.key, sizeof(pkt.key), want, sizeof(want));
}

static void test_key_bytes_from_ipv6_packet(void)
{
	static const char frame_hex[] =
		"02 00 00 00 00 01 02 00 00 00 00 02 86 dd  # eth\n"
		"60 01 23 45 00 08 11 40  # ipv6: udp, payload 8\n"
		"20 01 0d b8 00 01 00 00 00 00 00 00 00 00 00 07  # 2001:db8:1::7\n"
		"20 01 0d b8 00 02 00 00 00 00 00 00 00 00 00 0a  # 2001:db8:2::a\n"
		"14 e9 00 35 00 08 00 00  # udp 5353 -> 53, no payload\n";
	static const char key_hex[] =
		"20 01 0d b8 00 01 00 00 00 00 00 00 00 00 00 07\n"
		"20 01 0d b8 00 02 00 00 00 00 00 00 00 00 00 0a\n"
		"14 e9  00 35  11  06  00 00\n";
	uint8_t frame[64], want[40];
	size_t len = elb_test_hex(frame_hex, frame, sizeof(frame));
	struct elb_packet pkt;

	elb_test_hex(key_hex, want, sizeof(want));
	CU_ASSERT_EQUAL_FATAL(parse_copy(frame, len, &pkt), ELB_PARSE_IP);
	ELB_ASSERT_BYTES((const uint8_t *)&pkt.key, sizeof(pkt.key), want, sizeof(want));
}

/* An IPv4 key and an IPv6 key whose address bytes are the same (an IPv6
 * address with 12 trailing zero bytes) are different flows. */
static void test_family_is_hashed(void)
{
	for (int i = 0; i < 1000; i++) {
		struct elb_flow_key k4, k6;

		memset(&k4, 0, sizeof(k4));
		k4.src.v4 = (uint32_t)rng();
		k4.dst.v4 = (uint32_t)rng();
		k4.sport = (uint16_t)rng();
		k4.dport = (uint16_t)rng();
		k4.proto = ELB_IPPROTO_TCP;
		k4.family = ELB_AF_INET;
		k6 = k4;
		k6.family = ELB_AF_INET6;
		CU_ASSERT(elb_flow_hash(&k4, &default_seed) != elb_flow_hash(&k6, &default_seed));
		CU_ASSERT(!elb_flow_key_equal(&k4, &k6));
	}
}

static void test_seed_changes_hash(void)
{
	struct elb_flow_key k;
	uint64_t h;

	random_key(&k);
	h = elb_flow_hash(&k, &default_seed);
	for (int bit = 0; bit < 128; bit++) {
		struct elb_hash_seed s = default_seed;

		if (bit < 64)
			s.k0 ^= 1ull << bit;
		else
			s.k1 ^= 1ull << (bit - 64);
		CU_ASSERT(elb_flow_hash(&k, &s) != h);
	}
	/* Same seed, same hash: nothing node-local goes in. */
	CU_ASSERT_EQUAL(elb_flow_hash(&k, &default_seed), h);
}

static void test_key_equal(void)
{
	struct elb_flow_key a, b;

	random_key(&a);
	b = a;
	CU_ASSERT(elb_flow_key_equal(&a, &b));
	CU_ASSERT(elb_flow_key_equal(&a, &a));

	/* Each named field, then every single bit of the 40 bytes (pad included:
	 * a key with dirty padding is a different key, which is why the parser
	 * zeroes it). */
	b = a;
	b.src.w[3] ^= 1;
	CU_ASSERT(!elb_flow_key_equal(&a, &b));
	b = a;
	b.dst.v6[0] ^= 0x80;
	CU_ASSERT(!elb_flow_key_equal(&a, &b));
	b = a;
	b.sport ^= htons(1);
	CU_ASSERT(!elb_flow_key_equal(&a, &b));
	b = a;
	b.dport ^= htons(0x8000);
	CU_ASSERT(!elb_flow_key_equal(&a, &b));
	b = a;
	b.proto ^= 0x10;
	CU_ASSERT(!elb_flow_key_equal(&a, &b));
	b = a;
	b.family = b.family == ELB_AF_INET ? ELB_AF_INET6 : ELB_AF_INET;
	CU_ASSERT(!elb_flow_key_equal(&a, &b));
	b = a;
	b.pad[1] = 1;
	CU_ASSERT(!elb_flow_key_equal(&a, &b));
	for (size_t bit = 0; bit < 8 * sizeof(a); bit++) {
		b = a;
		((uint8_t *)&b)[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		CU_ASSERT(!elb_flow_key_equal(&a, &b));
		CU_ASSERT(!elb_flow_key_equal(&b, &a));
	}
}

/* ------------------------------------------------------------------------ */
/* Quality */

#define BUCKET_BITS 16
#define BUCKETS (1u << BUCKET_BITS)
#define KEYS_PER_SET (1u << 20)

/* Standard deviation of chi-square with BUCKETS - 1 degrees of freedom,
 * sqrt(2 * 65535) (no libm in this test). */
#define CHI2_SD 362.04

static double absd(double x)
{
	return x < 0 ? -x : x;
}

struct load_stats {
	double chi2;
	unsigned int min, max;
};

static struct load_stats bucket_load(const uint32_t *count)
{
	double expected = (double)KEYS_PER_SET / BUCKETS;
	struct load_stats st = {0.0, ~0u, 0};

	for (unsigned int b = 0; b < BUCKETS; b++) {
		double d = count[b] - expected;

		st.chi2 += d * d / expected;
		if (count[b] < st.min)
			st.min = count[b];
		if (count[b] > st.max)
			st.max = count[b];
	}
	return st;
}

/*
 * 2^20 keys that differ as little as real traffic does, into 2^16 buckets
 * (16 keys per bucket expected), taking the low and the high 16 bits of the
 * hash. For a uniform hash the chi-square statistic has mean 65535 and
 * standard deviation 362, and the fullest of the Poisson(16) buckets holds
 * about 35.
 */
static void check_set(const char *name, void (*make)(struct elb_flow_key *, uint32_t))
{
	uint32_t *lo = calloc(BUCKETS, sizeof(*lo)), *hi = calloc(BUCKETS, sizeof(*hi));
	struct load_stats sl, sh;

	CU_ASSERT_PTR_NOT_NULL_FATAL(lo);
	CU_ASSERT_PTR_NOT_NULL_FATAL(hi);
	for (uint32_t i = 0; i < KEYS_PER_SET; i++) {
		struct elb_flow_key k;
		uint64_t h;

		memset(&k, 0, sizeof(k));
		make(&k, i);
		h = elb_flow_hash(&k, &default_seed);
		lo[h & (BUCKETS - 1)]++;
		hi[h >> (64 - BUCKET_BITS)]++;
	}
	sl = bucket_load(lo);
	sh = bucket_load(hi);
	printf("\n    %-34s low bits: chi2 %.0f (z %+.2f) load %u..%u; "
	       "high bits: chi2 %.0f (z %+.2f) load %u..%u",
	       name, sl.chi2, (sl.chi2 - (BUCKETS - 1)) / CHI2_SD, sl.min, sl.max,
	       sh.chi2, (sh.chi2 - (BUCKETS - 1)) / CHI2_SD, sh.min, sh.max);
	/* Six standard deviations, and a max load that a uniform hash reaches
	 * with a probability below 1e-6. */
	CU_ASSERT(absd(sl.chi2 - (BUCKETS - 1)) < 6 * CHI2_SD);
	CU_ASSERT(absd(sh.chi2 - (BUCKETS - 1)) < 6 * CHI2_SD);
	CU_ASSERT(sl.max <= 45 && sh.max <= 45);
	free(lo);
	free(hi);
}

static void make_v4_clients(struct elb_flow_key *k, uint32_t i)
{
	k->family = ELB_AF_INET;
	k->proto = ELB_IPPROTO_TCP;
	k->src.v4 = htonl(0x0a000000u + i); /* 10.0.0.0 + i */
	k->dst.v4 = htonl(0xcb00710au);     /* 203.0.113.10 */
	k->sport = htons(40000);
	k->dport = htons(443);
}

static void make_v4_ports(struct elb_flow_key *k, uint32_t i)
{
	k->family = ELB_AF_INET;
	k->proto = ELB_IPPROTO_UDP;
	k->src.v4 = htonl(0xc6336400u + (i >> 16)); /* 16 clients behind a NAT */
	k->dst.v4 = htonl(0xcb00710au);
	k->sport = htons((uint16_t)i); /* every source port */
	k->dport = htons(53);
}

static void make_v6_clients(struct elb_flow_key *k, uint32_t i)
{
	static const uint8_t prefix[8] = {0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0};
	uint32_t n = htonl(i);

	k->family = ELB_AF_INET6;
	k->proto = ELB_IPPROTO_TCP;
	memcpy(k->src.v6, prefix, 8);
	memcpy(k->src.v6 + 12, &n, 4);
	memcpy(k->dst.v6, prefix, 8);
	k->dst.v6[5] = 2;
	k->dst.v6[15] = 0x0a;
	k->sport = htons(40000);
	k->dport = htons(443);
}

static void test_bucket_load(void)
{
	check_set("1M IPv4 clients, one port:", make_v4_clients);
	check_set("16 IPv4 clients x 65536 ports:", make_v4_ports);
	check_set("1M IPv6 clients in one /96:", make_v6_clients);
	printf("\n");
}

/*
 * Strict avalanche: flipping any one of the 320 key bits flips each of the
 * 64 output bits with probability 1/2. Over N random keys the per-cell
 * estimate has standard deviation 0.5/sqrt(N) (0.005 for N = 10000).
 */
#define AVALANCHE_KEYS 10000

static void test_avalanche(void)
{
	static uint32_t flips[320][64];
	double total = 0, worst_bit = 0, worst_cell = 0;
	unsigned int worst_bit_at = 0;

	memset(flips, 0, sizeof(flips));
	for (int n = 0; n < AVALANCHE_KEYS; n++) {
		struct elb_flow_key k;
		uint64_t h;

		random_key(&k);
		h = elb_flow_hash(&k, &default_seed);
		for (unsigned int bit = 0; bit < 320; bit++) {
			struct elb_flow_key m = k;
			uint64_t d;

			((uint8_t *)&m)[bit / 8] ^= (uint8_t)(1u << (bit % 8));
			d = h ^ elb_flow_hash(&m, &default_seed);
			while (d) {
				flips[bit][__builtin_ctzll(d)]++;
				d &= d - 1;
			}
		}
	}
	for (unsigned int bit = 0; bit < 320; bit++) {
		double sum = 0;

		for (unsigned int out = 0; out < 64; out++) {
			double p = (double)flips[bit][out] / AVALANCHE_KEYS;

			sum += p;
			if (absd(p - 0.5) > worst_cell)
				worst_cell = absd(p - 0.5);
		}
		total += sum;
		if (absd(sum / 64 - 0.5) > worst_bit) {
			worst_bit = absd(sum / 64 - 0.5);
			worst_bit_at = bit;
		}
	}
	total /= 320 * 64;
	printf("\n    avalanche over %d keys x 320 bits: %.4f of output bits flip on average; "
	       "worst input bit %u: %.4f off 0.5; worst (input, output) cell: %.4f off 0.5\n",
	       AVALANCHE_KEYS, total, worst_bit_at, worst_bit, worst_cell);
	CU_ASSERT(absd(total - 0.5) < 0.002);
	CU_ASSERT(worst_bit < 0.01);
	CU_ASSERT(worst_cell < 0.035); /* 7 standard deviations */
}

int main(void)
{
	static const struct elb_test_case cases[] = {
		ELB_TEST(test_reference_vectors),
		ELB_TEST(test_flow_hash_is_siphash13),
		ELB_TEST(test_flow_hash_x4),
		ELB_TEST(test_key_store_words),
		ELB_TEST(test_flow_hash_each_field),
		ELB_TEST(test_siphash13_words),
		ELB_TEST(test_key_layout),
		ELB_TEST(test_key_bytes_from_ipv4_packet),
		ELB_TEST(test_key_bytes_from_ipv6_packet),
		ELB_TEST(test_family_is_hashed),
		ELB_TEST(test_seed_changes_hash),
		ELB_TEST(test_key_equal),
		ELB_TEST(test_bucket_load),
		ELB_TEST(test_avalanche),
		ELB_TEST_END,
	};

	return elb_test_run("flow_hash", cases);
}
