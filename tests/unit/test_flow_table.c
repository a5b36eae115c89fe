/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Flow states and the per-worker flow table. Most cases choose the hash
 * directly (the table takes it as a parameter) to place flows in one bucket
 * with chosen signatures; the others hash real v4 and v6 keys. The cost per
 * operation is a benchmark, not a test: edgelb-bench ("Flow table").
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "elb_flow_state.h"
#include "elb_flow_table.h"
#include "elb_test.h"

/* The VIP index the flows of these tests belong to (not 0, so that a
 * forgotten index would show). */
#define TEST_VIP_INDEX 3

/* The entry's id is key's under VIP vip_index, field by field. */
static bool id_is(const struct elb_flow_entry *e, const struct elb_flow_key *key,
		  uint16_t vip_index)
{
	return memcmp(&e->id.src, &key->src, sizeof(key->src)) == 0 &&
	       e->id.sport == key->sport && e->id.dport == key->dport &&
	       e->id.vip_index == vip_index && e->id.pad[0] == 0 && e->id.pad[1] == 0;
}

static const struct elb_hash_seed seed = {ELB_HASH_SEED_DEFAULT_K0, ELB_HASH_SEED_DEFAULT_K1};

/* ---- helpers ---- */

static struct elb_flow_key key_v4(uint32_t client, uint16_t sport, uint8_t proto)
{
	struct elb_flow_key k;

	memset(&k, 0, sizeof(k));
	k.src.v4 = elb_htonl(0x0a000000u | client); /* 10.x.y.z */
	k.dst.v4 = elb_htonl(0xc0000201u);          /* 192.0.2.1 */
	k.sport = elb_htons(sport);
	k.dport = elb_htons(proto == ELB_IPPROTO_UDP ? 53 : 443);
	k.proto = proto;
	k.family = ELB_AF_INET;
	return k;
}

static struct elb_flow_key key_v6(uint32_t client, uint16_t sport, uint8_t proto)
{
	static const uint8_t vip[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0,
					0,    0,    0,    0,    0, 0, 0, 1};
	struct elb_flow_key k;

	memset(&k, 0, sizeof(k));
	k.src.v6[0] = 0x20;
	k.src.v6[1] = 0x01;
	k.src.v6[2] = 0x0d;
	k.src.v6[3] = 0xb8;
	k.src.v6[4] = 0xff;
	k.src.w[3] = elb_htonl(client);
	memcpy(k.dst.v6, vip, 16);
	k.sport = elb_htons(sport);
	k.dport = elb_htons(443);
	k.proto = proto;
	k.family = ELB_AF_INET6;
	return k;
}

/* A hash that lands in bucket `bucket` with signature `sig`. */
static uint64_t crafted_hash(uint32_t bucket, uint16_t sig)
{
	return (uint64_t)sig << 48 | 0x0000abcd00000000ull | bucket;
}

struct table {
	struct elb_flow_table t;
	void *mem;
};

/* A table over memory filled with garbage: init must not rely on zeroed
 * memory, and insert must zero what it hands out. */
static void table_open(struct table *tb, uint32_t capacity)
{
	size_t size = elb_flow_table_mem_size(capacity);

	CU_ASSERT_FATAL(size > 0);
	tb->mem = aligned_alloc(ELB_FLOW_TABLE_ALIGN, size);
	CU_ASSERT_PTR_NOT_NULL_FATAL(tb->mem);
	memset(tb->mem, 0xa5, size);
	CU_ASSERT_FATAL(elb_flow_table_init(&tb->t, tb->mem, size, capacity) == 0);
}

static void table_close(struct table *tb)
{
	free(tb->mem);
	tb->mem = NULL;
}

static uint64_t occupancy(const struct elb_flow_table *t)
{
	struct elb_flow_table_stats s;

	elb_flow_table_read_stats(t, &s);
	return s.occupancy;
}

static struct elb_flow_entry *insert(struct elb_flow_table *t, const struct elb_flow_key *key,
				     uint64_t hash, uint32_t now, enum elb_flow_state state,
				     uint32_t timeout, enum elb_flow_state want_evicted)
{
	enum elb_flow_state evicted = (enum elb_flow_state)99;
	struct elb_flow_entry *e;

	CU_ASSERT_PTR_NULL(elb_flow_lookup(t, key, TEST_VIP_INDEX, hash, now));
	e = elb_flow_insert(t, key, TEST_VIP_INDEX, hash, now, state, timeout, &evicted);
	CU_ASSERT_PTR_NOT_NULL_FATAL(e);
	CU_ASSERT_EQUAL(evicted, want_evicted);
	return e;
}

/* ---- flow states ---- */

#define F ELB_TCP_FIN
#define SY ELB_TCP_SYN
#define R ELB_TCP_RST
#define P ELB_TCP_PSH
#define A ELB_TCP_ACK
#define S_ ELB_FLOW_TCP_SYN
#define E_ ELB_FLOW_TCP_ESTABLISHED
#define C_ ELB_FLOW_TCP_CLOSING

static void test_state_new(void)
{
	static const struct {
		uint8_t proto, flags;
		enum elb_flow_state want;
	} cases[] = {
		{ELB_IPPROTO_TCP, SY, ELB_FLOW_TCP_SYN},
		{ELB_IPPROTO_TCP, SY | P, ELB_FLOW_TCP_SYN}, /* SYN with data (TFO) */
		{ELB_IPPROTO_TCP, SY | A, ELB_FLOW_TCP_ESTABLISHED},
		{ELB_IPPROTO_TCP, A, ELB_FLOW_TCP_ESTABLISHED}, /* mid-stream pickup */
		{ELB_IPPROTO_TCP, A | P, ELB_FLOW_TCP_ESTABLISHED},
		{ELB_IPPROTO_TCP, 0, ELB_FLOW_TCP_ESTABLISHED}, /* a later fragment */
		{ELB_IPPROTO_TCP, F | A, ELB_FLOW_TCP_CLOSING},
		{ELB_IPPROTO_TCP, R, ELB_FLOW_TCP_CLOSING},
		{ELB_IPPROTO_TCP, R | A, ELB_FLOW_TCP_CLOSING},
		{ELB_IPPROTO_TCP, SY | F, ELB_FLOW_TCP_CLOSING},
		{ELB_IPPROTO_TCP, SY | R, ELB_FLOW_TCP_CLOSING},
		{ELB_IPPROTO_UDP, 0, ELB_FLOW_UDP},
		{ELB_IPPROTO_UDP, SY, ELB_FLOW_UDP}, /* flags mean nothing outside TCP */
		{ELB_IPPROTO_ICMP, 0, ELB_FLOW_OTHER},
		{ELB_IPPROTO_ICMPV6, 0, ELB_FLOW_OTHER},
		{47 /* GRE */, 0, ELB_FLOW_OTHER},
		{50 /* ESP */, R, ELB_FLOW_OTHER},
	};
	unsigned int i;

	for (i = 0; i < ELB_ARRAY_SIZE(cases); i++) {
		enum elb_flow_state got = elb_flow_state_new(cases[i].proto, cases[i].flags);

		if (got != cases[i].want)
			fprintf(stderr, "new case %u: got %s\n", i, elb_flow_state_name(got));
		CU_ASSERT_EQUAL(got, cases[i].want);
	}
}

/* Every (state, flags) row of the table in elb_flow_state.h. */
static void test_state_next(void)
{
	static const struct {
		enum elb_flow_state from;
		uint8_t proto, flags;
		enum elb_flow_state want;
	} cases[] = {
		/* FIN or RST: closing from every state. */
		{S_, ELB_IPPROTO_TCP, F, C_},
		{S_, ELB_IPPROTO_TCP, R, C_},
		{S_, ELB_IPPROTO_TCP, SY | R, C_},
		{E_, ELB_IPPROTO_TCP, F | A, C_},
		{E_, ELB_IPPROTO_TCP, R, C_},
		{E_, ELB_IPPROTO_TCP, R | A, C_},
		{C_, ELB_IPPROTO_TCP, F | A, C_},
		{C_, ELB_IPPROTO_TCP, R, C_},
		{C_, ELB_IPPROTO_TCP, SY | F, C_},
		/* TCP_SYN */
		{S_, ELB_IPPROTO_TCP, SY, S_},         /* retransmitted SYN */
		{S_, ELB_IPPROTO_TCP, SY | P, S_},
		{S_, ELB_IPPROTO_TCP, A, E_},          /* third packet of the handshake */
		{S_, ELB_IPPROTO_TCP, A | P, E_},
		{S_, ELB_IPPROTO_TCP, SY | A, E_},     /* SYN+ACK is not "SYN without ACK" */
		{S_, ELB_IPPROTO_TCP, 0, E_},
		/* TCP_ESTABLISHED */
		{E_, ELB_IPPROTO_TCP, A, E_},
		{E_, ELB_IPPROTO_TCP, A | P, E_},
		{E_, ELB_IPPROTO_TCP, SY, E_},         /* a SYN does not demote */
		{E_, ELB_IPPROTO_TCP, SY | A, E_},
		/* TCP_CLOSING */
		{C_, ELB_IPPROTO_TCP, A, C_},          /* teardown ACKs */
		{C_, ELB_IPPROTO_TCP, A | P, C_},
		{C_, ELB_IPPROTO_TCP, SY | A, C_},
		{C_, ELB_IPPROTO_TCP, SY, S_},         /* tuple reused for a new connection */
		/* Not a live TCP entry: as a new flow. */
		{ELB_FLOW_FREE, ELB_IPPROTO_TCP, SY, S_},
		{ELB_FLOW_FREE, ELB_IPPROTO_TCP, A, E_},
		{ELB_FLOW_FREE, ELB_IPPROTO_TCP, F, C_},
		{ELB_FLOW_UDP, ELB_IPPROTO_TCP, A, E_},
		{ELB_FLOW_OTHER, ELB_IPPROTO_TCP, SY, S_},
		/* Other protocols keep their state whatever the flag byte says. */
		{ELB_FLOW_UDP, ELB_IPPROTO_UDP, 0, ELB_FLOW_UDP},
		{ELB_FLOW_UDP, ELB_IPPROTO_UDP, R | F, ELB_FLOW_UDP},
		{ELB_FLOW_OTHER, ELB_IPPROTO_ICMP, 0, ELB_FLOW_OTHER},
		{ELB_FLOW_OTHER, 47, SY, ELB_FLOW_OTHER},
		{ELB_FLOW_FREE, ELB_IPPROTO_UDP, 0, ELB_FLOW_UDP},
	};
	unsigned int i;

	for (i = 0; i < ELB_ARRAY_SIZE(cases); i++) {
		enum elb_flow_state got =
			elb_flow_state_next(cases[i].from, cases[i].proto, cases[i].flags);

		if (got != cases[i].want)
			fprintf(stderr, "next case %u: %s -> %s\n", i,
				elb_flow_state_name(cases[i].from), elb_flow_state_name(got));
		CU_ASSERT_EQUAL(got, cases[i].want);
	}
}

/* A whole connection as the LB sees it. */
static void test_state_connection(void)
{
	enum elb_flow_state s = elb_flow_state_new(ELB_IPPROTO_TCP, SY);

	CU_ASSERT_EQUAL(s, ELB_FLOW_TCP_SYN);
	s = elb_flow_state_next(s, ELB_IPPROTO_TCP, SY);
	CU_ASSERT_EQUAL(s, ELB_FLOW_TCP_SYN);
	s = elb_flow_state_next(s, ELB_IPPROTO_TCP, A);
	CU_ASSERT_EQUAL(s, ELB_FLOW_TCP_ESTABLISHED);
	s = elb_flow_state_next(s, ELB_IPPROTO_TCP, A | P);
	CU_ASSERT_EQUAL(s, ELB_FLOW_TCP_ESTABLISHED);
	s = elb_flow_state_next(s, ELB_IPPROTO_TCP, F | A);
	CU_ASSERT_EQUAL(s, ELB_FLOW_TCP_CLOSING);
	s = elb_flow_state_next(s, ELB_IPPROTO_TCP, A);
	CU_ASSERT_EQUAL(s, ELB_FLOW_TCP_CLOSING);
	s = elb_flow_state_next(s, ELB_IPPROTO_TCP, SY);
	CU_ASSERT_EQUAL(s, ELB_FLOW_TCP_SYN);
}

static void test_state_names_and_timeouts(void)
{
	struct elb_flow_timeouts to;

	CU_ASSERT_STRING_EQUAL(elb_flow_state_name(ELB_FLOW_FREE), "free");
	CU_ASSERT_STRING_EQUAL(elb_flow_state_name(ELB_FLOW_TCP_ESTABLISHED), "tcp_established");
	CU_ASSERT_STRING_EQUAL(elb_flow_state_name(ELB_FLOW_OTHER), "other");
	CU_ASSERT_STRING_EQUAL(elb_flow_state_name(ELB_FLOW_STATE_COUNT), "unknown");

	/* Ticks of 16.777216 ms, rounded up: 5 s = 298.02 ticks -> 299. */
	CU_ASSERT_EQUAL(elb_flow_timeouts_init(&to, ELB_FLOW_TIMEOUT_SYN_MS,
					       ELB_FLOW_TIMEOUT_ESTABLISHED_MS,
					       ELB_FLOW_TIMEOUT_CLOSING_MS, ELB_FLOW_TIMEOUT_UDP_MS),
			0);
	CU_ASSERT_EQUAL(to.ticks[ELB_FLOW_FREE], 0);
	CU_ASSERT_EQUAL(to.ticks[ELB_FLOW_TCP_SYN], 299);
	CU_ASSERT_EQUAL(to.ticks[ELB_FLOW_TCP_ESTABLISHED], 17882); /* 17881.39 */
	CU_ASSERT_EQUAL(to.ticks[ELB_FLOW_TCP_CLOSING], 597);       /* 596.05 */
	CU_ASSERT_EQUAL(to.ticks[ELB_FLOW_UDP], 1789);              /* 1788.14 */
	CU_ASSERT_EQUAL(to.ticks[ELB_FLOW_OTHER], 1789);

	/* 1 ms and 16 ms (under a tick) are one tick, 17 ms two. */
	CU_ASSERT_EQUAL(elb_flow_timeouts_init(&to, 1, 16, 17, UINT32_MAX), 0);
	CU_ASSERT_EQUAL(to.ticks[ELB_FLOW_TCP_SYN], 1);
	CU_ASSERT_EQUAL(to.ticks[ELB_FLOW_TCP_ESTABLISHED], 1);
	CU_ASSERT_EQUAL(to.ticks[ELB_FLOW_TCP_CLOSING], 2);
	CU_ASSERT_EQUAL(to.ticks[ELB_FLOW_UDP], 256000000); /* 255999999.94 */
	CU_ASSERT(to.ticks[ELB_FLOW_UDP] < (1u << 31));

	CU_ASSERT_EQUAL(elb_flow_timeouts_init(NULL, 1, 1, 1, 1), -EINVAL);
	CU_ASSERT_EQUAL(elb_flow_timeouts_init(&to, 0, 1, 1, 1), -EINVAL);
	CU_ASSERT_EQUAL(elb_flow_timeouts_init(&to, 1, 0, 1, 1), -EINVAL);
	CU_ASSERT_EQUAL(elb_flow_timeouts_init(&to, 1, 1, 0, 1), -EINVAL);
	CU_ASSERT_EQUAL(elb_flow_timeouts_init(&to, 1, 1, 1, 0), -EINVAL);

	CU_ASSERT_EQUAL(elb_flow_tick(0), 0);
	CU_ASSERT_EQUAL(elb_flow_tick((1ull << 24) - 1), 0);
	CU_ASSERT_EQUAL(elb_flow_tick(1ull << 24), 1);
	CU_ASSERT_EQUAL(elb_flow_tick((1ull << 56) + (5ull << 24)), 5); /* wraps */
}

/* ---- table: memory and init ---- */

/* A new flow's home way is one of the ways whose entry lies in one cache
 * line of its block, for every value of the hash bits that choose it, and
 * an insert into an empty bucket takes it. */
static void test_home_way_in_one_line(void)
{
	struct table tb;
	unsigned int seen = 0;

	table_open(&tb, 1024);
	for (uint64_t code = 0; code < 4; code++) {
		uint64_t hash = code << 40 | 0x12345ull << 48 | code; /* bucket = code */
		unsigned int way = elb_flow_home_way(hash);
		size_t start = offsetof(struct elb_flow_block, entries) + way * sizeof(struct elb_flow_entry);
		struct elb_flow_key k;
		enum elb_flow_state evicted;
		struct elb_flow_entry *e;

		CU_ASSERT(way == 0 || way == 3 || way == 4 || way == 7);
		CU_ASSERT_EQUAL(start / 64, (start + sizeof(struct elb_flow_entry) - 1) / 64);
		seen |= 1u << way;
		memset(&k, 0, sizeof(k));
		k.family = ELB_AF_INET;
		k.sport = (uint16_t)code;
		e = elb_flow_insert(&tb.t, &k, TEST_VIP_INDEX, hash, 10, ELB_FLOW_UDP, 100, &evicted);
		CU_ASSERT_PTR_EQUAL(e, elb_flow_entry_at(&tb.t, (uint32_t)code, way));
	}
	CU_ASSERT_EQUAL(seen, 1u << 0 | 1u << 3 | 1u << 4 | 1u << 7);
	table_close(&tb);
}

static void test_mem_size_and_init(void)
{
	const size_t per_bucket = 64 + 8 * 48;
	struct elb_flow_table t;
	uint8_t *raw;
	size_t size;

	CU_ASSERT_EQUAL(sizeof(struct elb_flow_entry), 48);
	CU_ASSERT_EQUAL(sizeof(struct elb_flow_bucket), 64);
	CU_ASSERT_EQUAL(elb_flow_table_mem_size(0), 0);
	CU_ASSERT_EQUAL(elb_flow_table_mem_size(ELB_FLOW_MAX_CAPACITY + 1), 0);
	CU_ASSERT_EQUAL(elb_flow_table_mem_size(UINT32_MAX), 0);
	CU_ASSERT_EQUAL(elb_flow_table_mem_size(1), per_bucket);
	CU_ASSERT_EQUAL(elb_flow_table_mem_size(8), per_bucket);
	CU_ASSERT_EQUAL(elb_flow_table_mem_size(9), 2 * per_bucket);
	CU_ASSERT_EQUAL(elb_flow_table_mem_size(17), 4 * per_bucket);  /* 3 -> 4 buckets */
	CU_ASSERT_EQUAL(elb_flow_table_mem_size(100), 16 * per_bucket); /* 13 -> 16 */
	CU_ASSERT_EQUAL(elb_flow_table_mem_size(1u << 20), (1u << 17) * per_bucket);
	/* 56 bytes per flow slot. */
	CU_ASSERT_EQUAL(elb_flow_table_mem_size(1u << 20) / (1u << 20), 56);
	CU_ASSERT_EQUAL(elb_flow_table_mem_size(ELB_FLOW_MAX_CAPACITY),
			(size_t)(ELB_FLOW_MAX_CAPACITY / 8) * per_bucket);

	size = elb_flow_table_mem_size(100);
	raw = aligned_alloc(64, size + 64);
	CU_ASSERT_PTR_NOT_NULL_FATAL(raw);
	CU_ASSERT_EQUAL(elb_flow_table_init(NULL, raw, size, 100), -EINVAL);
	CU_ASSERT_EQUAL(elb_flow_table_init(&t, NULL, size, 100), -EINVAL);
	CU_ASSERT_EQUAL(elb_flow_table_init(&t, raw, size, 0), -EINVAL);
	CU_ASSERT_EQUAL(elb_flow_table_init(&t, raw, size, ELB_FLOW_MAX_CAPACITY + 1), -EINVAL);
	CU_ASSERT_EQUAL(elb_flow_table_init(&t, raw, size - 1, 100), -EINVAL);
	CU_ASSERT_EQUAL(elb_flow_table_init(&t, raw + 8, size, 100), -EINVAL);
	CU_ASSERT_EQUAL(elb_flow_table_init(&t, raw + 32, size, 100), -EINVAL);
	CU_ASSERT_EQUAL(elb_flow_table_init(&t, raw + 64, size, 100), 0);
	CU_ASSERT_EQUAL(elb_flow_table_init(&t, raw, size + 64, 100), 0);
	CU_ASSERT_EQUAL(t.capacity, 128);
	CU_ASSERT_EQUAL(t.bucket_mask, 15);
	CU_ASSERT_EQUAL(occupancy(&t), 0);
	free(raw);
}

/* ---- table: basic operations ---- */

static void test_insert_lookup_refresh_remove(void)
{
	struct elb_flow_key keys[4] = {
		key_v4(1, 40000, ELB_IPPROTO_TCP),
		key_v4(2, 40000, ELB_IPPROTO_UDP),
		key_v6(1, 40000, ELB_IPPROTO_TCP),
		key_v6(0x01020304, 51234, ELB_IPPROTO_TCP),
	};
	struct elb_flow_entry *e[4];
	struct elb_flow_table_stats st;
	struct elb_flow_key other;
	struct table tb;
	uint32_t now = 1000;
	unsigned int i;

	table_open(&tb, 1024);
	for (i = 0; i < 4; i++) {
		uint64_t h = elb_flow_hash(&keys[i], &seed);

		e[i] = insert(&tb.t, &keys[i], h, now, ELB_FLOW_TCP_SYN, 299, ELB_FLOW_FREE);
		CU_ASSERT(id_is(e[i], &keys[i], TEST_VIP_INDEX));
		CU_ASSERT_EQUAL(e[i]->backend_id, 0);
		CU_ASSERT_EQUAL(e[i]->backend_gen, 0);
		CU_ASSERT_EQUAL(e[i]->bucket.pkt_tat | e[i]->bucket.byte_tat, 0);
		CU_ASSERT_EQUAL(elb_flow_entry_state(&tb.t, e[i]), ELB_FLOW_TCP_SYN);
		CU_ASSERT_EQUAL(elb_flow_entry_expiry(&tb.t, e[i]), now + 299);
		e[i]->backend_id = 100 + i;
		e[i]->backend_gen = 7;
	}
	CU_ASSERT_EQUAL(occupancy(&tb.t), 4);
	for (i = 0; i < 4; i++) {
		struct elb_flow_entry *got =
			elb_flow_lookup(&tb.t, &keys[i], TEST_VIP_INDEX, elb_flow_hash(&keys[i], &seed), now + 10);

		CU_ASSERT_PTR_EQUAL(got, e[i]);
		CU_ASSERT_EQUAL(got->backend_id, 100 + i);
	}

	/* Keys differing in one field are other flows. (Destination, protocol
	 * and family are the VIP's, named by its index: the same key under
	 * another VIP index, same hash, is another flow too.) */
	CU_ASSERT_PTR_NULL(elb_flow_lookup(&tb.t, &keys[0], TEST_VIP_INDEX + 1,
					   elb_flow_hash(&keys[0], &seed), now));
	other = keys[0];
	other.sport = elb_htons(40001);
	CU_ASSERT_PTR_NULL(elb_flow_lookup(&tb.t, &other, TEST_VIP_INDEX, elb_flow_hash(&other, &seed), now));
	other = keys[2];
	other.family = ELB_AF_INET;
	CU_ASSERT_PTR_NULL(elb_flow_lookup(&tb.t, &other, TEST_VIP_INDEX, elb_flow_hash(&other, &seed), now));
	/* The right key with a wrong hash is not found either (caller bug,
	 * but it must not crash or match another way). */
	CU_ASSERT_PTR_NULL(elb_flow_lookup(&tb.t, &keys[0], TEST_VIP_INDEX, elb_flow_hash(&keys[0], &seed) ^ 1,
					   now));

	/* Refresh: state and expiry move, nothing else. */
	elb_flow_refresh(&tb.t, e[2], ELB_FLOW_TCP_ESTABLISHED, 17882, now + 100);
	CU_ASSERT_EQUAL(elb_flow_entry_state(&tb.t, e[2]), ELB_FLOW_TCP_ESTABLISHED);
	CU_ASSERT_EQUAL(elb_flow_entry_expiry(&tb.t, e[2]), now + 100 + 17882);
	CU_ASSERT_EQUAL(e[2]->backend_id, 102);
	/* The others expired at now + 299; e[2] lives on. */
	CU_ASSERT_PTR_NULL(elb_flow_lookup(&tb.t, &keys[0], TEST_VIP_INDEX, elb_flow_hash(&keys[0], &seed),
					   now + 299));
	CU_ASSERT_PTR_EQUAL(elb_flow_lookup(&tb.t, &keys[2], TEST_VIP_INDEX, elb_flow_hash(&keys[2], &seed),
					    now + 299),
			    e[2]);

	/* Remove. */
	elb_flow_remove(&tb.t, e[2]);
	CU_ASSERT_PTR_NULL(elb_flow_lookup(&tb.t, &keys[2], TEST_VIP_INDEX, elb_flow_hash(&keys[2], &seed),
					   now + 300));
	elb_flow_table_read_stats(&tb.t, &st);
	CU_ASSERT_EQUAL(st.inserts, 4);
	CU_ASSERT_EQUAL(st.removals, 1);
	CU_ASSERT_EQUAL(st.expirations, 1); /* keys[0], met by the lookup */
	CU_ASSERT_EQUAL(st.occupancy, 2);   /* keys[1] and keys[3]: expired, not yet freed */

	/* Re-insert after remove: a fresh entry. */
	e[2] = insert(&tb.t, &keys[2], elb_flow_hash(&keys[2], &seed), now + 400, ELB_FLOW_UDP,
		      10, ELB_FLOW_FREE);
	CU_ASSERT_EQUAL(e[2]->backend_id, 0);
	CU_ASSERT_EQUAL(elb_flow_entry_state(&tb.t, e[2]), ELB_FLOW_UDP);
	table_close(&tb);
}

/* ---- table: expiry ---- */

static void test_expiry_per_state(void)
{
	struct elb_flow_timeouts to;
	struct table tb;
	int s;

	CU_ASSERT_FATAL(elb_flow_timeouts_init(&to, ELB_FLOW_TIMEOUT_SYN_MS,
					       ELB_FLOW_TIMEOUT_ESTABLISHED_MS,
					       ELB_FLOW_TIMEOUT_CLOSING_MS,
					       ELB_FLOW_TIMEOUT_UDP_MS) == 0);
	table_open(&tb, 64);
	for (s = ELB_FLOW_TCP_SYN; s < ELB_FLOW_STATE_COUNT; s++) {
		struct elb_flow_key k = key_v4((uint32_t)s, 1000, ELB_IPPROTO_TCP);
		uint64_t h = elb_flow_hash(&k, &seed);
		uint32_t t0 = 5000u * (uint32_t)s;
		struct elb_flow_entry *e = insert(&tb.t, &k, h, t0, (enum elb_flow_state)s,
						  to.ticks[s], ELB_FLOW_FREE);
		uint64_t before = occupancy(&tb.t);

		/* Live for exactly ticks[s] ticks: [t0, t0 + ticks). */
		CU_ASSERT_PTR_EQUAL(elb_flow_lookup(&tb.t, &k, TEST_VIP_INDEX, h, t0 + to.ticks[s] - 1), e);
		CU_ASSERT_PTR_NULL(elb_flow_lookup(&tb.t, &k, TEST_VIP_INDEX, h, t0 + to.ticks[s]));
		CU_ASSERT_EQUAL(occupancy(&tb.t), before - 1);
		/* Once freed, a lookup at an earlier time does not bring it back. */
		CU_ASSERT_PTR_NULL(elb_flow_lookup(&tb.t, &k, TEST_VIP_INDEX, h, t0));

		/* A refresh one tick before expiry extends it by a whole timeout. */
		e = insert(&tb.t, &k, h, t0, (enum elb_flow_state)s, to.ticks[s], ELB_FLOW_FREE);
		elb_flow_refresh(&tb.t, e, (enum elb_flow_state)s, to.ticks[s],
				 t0 + to.ticks[s] - 1);
		CU_ASSERT_PTR_EQUAL(elb_flow_lookup(&tb.t, &k, TEST_VIP_INDEX, h, t0 + 2 * to.ticks[s] - 2), e);
		CU_ASSERT_PTR_NULL(elb_flow_lookup(&tb.t, &k, TEST_VIP_INDEX, h, t0 + 2 * to.ticks[s] - 1));
	}
	table_close(&tb);
}

static void test_tick_wrap(void)
{
	struct elb_flow_key a = key_v4(1, 1, ELB_IPPROTO_TCP), b = key_v4(2, 2, ELB_IPPROTO_TCP);
	struct elb_flow_key c = key_v4(3, 3, ELB_IPPROTO_UDP);
	uint64_t ha = elb_flow_hash(&a, &seed), hb = elb_flow_hash(&b, &seed);
	uint64_t hc = elb_flow_hash(&c, &seed);
	struct elb_flow_entry *e;
	struct table tb;

	table_open(&tb, 64);
	/* Expiry 0xffffff00 + 0x200 wraps to 0x100. */
	e = insert(&tb.t, &a, ha, 0xffffff00u, ELB_FLOW_TCP_ESTABLISHED, 0x200, ELB_FLOW_FREE);
	CU_ASSERT_EQUAL(elb_flow_entry_expiry(&tb.t, e), 0x100);
	CU_ASSERT_PTR_EQUAL(elb_flow_lookup(&tb.t, &a, TEST_VIP_INDEX, ha, 0xffffffffu), e);
	CU_ASSERT_PTR_EQUAL(elb_flow_lookup(&tb.t, &a, TEST_VIP_INDEX, ha, 0), e);
	CU_ASSERT_PTR_EQUAL(elb_flow_lookup(&tb.t, &a, TEST_VIP_INDEX, ha, 0xff), e);
	/* Refreshed across the wrap. */
	elb_flow_refresh(&tb.t, e, ELB_FLOW_TCP_ESTABLISHED, 0x200, 0x50);
	CU_ASSERT_PTR_EQUAL(elb_flow_lookup(&tb.t, &a, TEST_VIP_INDEX, ha, 0x24f), e);
	CU_ASSERT_PTR_NULL(elb_flow_lookup(&tb.t, &a, TEST_VIP_INDEX, ha, 0x250));

	/* Sweep across the wrap: b expires at 0x10 after the wrap, c lives. */
	insert(&tb.t, &b, hb, 0xfffffff0u, ELB_FLOW_TCP_SYN, 0x20, ELB_FLOW_FREE);
	insert(&tb.t, &c, hc, 0xfffffff0u, ELB_FLOW_UDP, 0x40, ELB_FLOW_FREE);
	CU_ASSERT_EQUAL(elb_flow_sweep(&tb.t, 0xffffffffu, 1000), 0);
	CU_ASSERT_EQUAL(elb_flow_sweep(&tb.t, 0x0f, 1000), 0);
	CU_ASSERT_EQUAL(elb_flow_sweep(&tb.t, 0x10, 1000), 1);
	CU_ASSERT_PTR_NULL(elb_flow_lookup(&tb.t, &b, TEST_VIP_INDEX, hb, 0x10));
	CU_ASSERT_PTR_NOT_NULL(elb_flow_lookup(&tb.t, &c, TEST_VIP_INDEX, hc, 0x10));

	/* Signed comparison near 2^31 apart: an expiry 2^31 - 1 ahead is live. */
	insert(&tb.t, &b, hb, 0x10, ELB_FLOW_TCP_ESTABLISHED, 0x7fffffffu, ELB_FLOW_FREE);
	CU_ASSERT_PTR_NOT_NULL(elb_flow_lookup(&tb.t, &b, TEST_VIP_INDEX, hb, 0x10));
	CU_ASSERT_PTR_NOT_NULL(elb_flow_lookup(&tb.t, &b, TEST_VIP_INDEX, hb, 0x10 + 0x7ffffffeu));
	CU_ASSERT_PTR_NULL(elb_flow_lookup(&tb.t, &b, TEST_VIP_INDEX, hb, 0x10 + 0x7fffffffu));
	table_close(&tb);
}

/* ---- table: a full bucket ---- */

/* Nine flows for bucket 5 of a 64-bucket table: distinct signatures. */
#define EV_BUCKET 5

static struct elb_flow_key ev_key(unsigned int i)
{
	return key_v6(1000 + i, (uint16_t)(2000 + i), ELB_IPPROTO_TCP);
}

static uint64_t ev_hash(unsigned int i)
{
	return crafted_hash(EV_BUCKET, (uint16_t)(0x1000 + i));
}

static bool ev_present(struct elb_flow_table *t, unsigned int i, uint32_t now)
{
	struct elb_flow_key k = ev_key(i);

	return elb_flow_lookup(t, &k, TEST_VIP_INDEX, ev_hash(i), now) != NULL;
}

static void test_eviction_order(void)
{
	/* Bucket contents: state and expiry (ticks from now = 100). */
	static const struct {
		enum elb_flow_state state;
		uint32_t timeout;
	} fill[8] = {
		/* Expiry runs against the class order, so that the class must
		 * decide before the expiry does. */
		{ELB_FLOW_TCP_ESTABLISHED, 20}, /* 0 */
		{ELB_FLOW_UDP, 40},             /* 1 */
		{ELB_FLOW_TCP_SYN, 80},         /* 2 */
		{ELB_FLOW_TCP_CLOSING, 60},     /* 3 */
		{ELB_FLOW_OTHER, 30},           /* 4: same class as UDP, sooner */
		{ELB_FLOW_TCP_SYN, 70},         /* 5: the sooner SYN */
		{ELB_FLOW_TCP_ESTABLISHED, 10}, /* 6 */
		{ELB_FLOW_TCP_CLOSING, 50},     /* 7 */
	};
	/* Expected victims, in order, as newcomers keep arriving. */
	static const unsigned int order[8] = {5, 2, 7, 3, 4, 1, 6, 0};
	struct elb_flow_table_stats st;
	struct table tb;
	uint32_t now = 100;
	unsigned int i, j;

	table_open(&tb, 512); /* 64 buckets */
	for (i = 0; i < 8; i++) {
		struct elb_flow_key k = ev_key(i);

		insert(&tb.t, &k, ev_hash(i), now, fill[i].state, fill[i].timeout, ELB_FLOW_FREE);
	}
	CU_ASSERT_EQUAL(occupancy(&tb.t), 8);

	/* Newcomers are established with the longest timeout, so that they
	 * outrank every old flow and only the old ones go. */
	for (j = 0; j < 8; j++) {
		struct elb_flow_key k = ev_key(100 + j);
		unsigned int victim = order[j];

		insert(&tb.t, &k, crafted_hash(EV_BUCKET, (uint16_t)(0x2000 + j)), now,
		       ELB_FLOW_TCP_ESTABLISHED, 1000 + j, fill[victim].state);
		for (i = 0; i < 8; i++) {
			bool gone = false;
			unsigned int m;

			for (m = 0; m <= j; m++)
				gone |= order[m] == i;
			CU_ASSERT_EQUAL(ev_present(&tb.t, i, now), !gone);
		}
		CU_ASSERT_EQUAL(occupancy(&tb.t), 8);
	}
	elb_flow_table_read_stats(&tb.t, &st);
	CU_ASSERT_EQUAL(st.evictions[ELB_FLOW_TCP_SYN], 2);
	CU_ASSERT_EQUAL(st.evictions[ELB_FLOW_TCP_CLOSING], 2);
	CU_ASSERT_EQUAL(st.evictions[ELB_FLOW_UDP], 1);
	CU_ASSERT_EQUAL(st.evictions[ELB_FLOW_OTHER], 1);
	CU_ASSERT_EQUAL(st.evictions[ELB_FLOW_TCP_ESTABLISHED], 2);
	CU_ASSERT_EQUAL(st.evictions[ELB_FLOW_FREE], 0);
	CU_ASSERT_EQUAL(st.expirations, 0);

	/* Only the bucket's own flows were affected: a neighbour bucket is
	 * untouched and empty. */
	{
		struct elb_flow_key k = ev_key(0);

		CU_ASSERT_PTR_NULL(elb_flow_lookup(&tb.t, &k, TEST_VIP_INDEX, crafted_hash(EV_BUCKET + 1, 0x1000),
						   now));
	}
	table_close(&tb);
}

/* An expired way is taken before any live one is evicted, and a free way
 * before an expired one. */
static void test_eviction_prefers_free_then_expired(void)
{
	struct elb_flow_table_stats st;
	struct elb_flow_key k;
	struct table tb;
	unsigned int i;

	table_open(&tb, 512);
	for (i = 0; i < 8; i++) {
		k = ev_key(i);
		/* Way 6 established with a short timeout: expires at 110. */
		insert(&tb.t, &k, ev_hash(i), 100,
		       i == 6 ? ELB_FLOW_TCP_ESTABLISHED : ELB_FLOW_TCP_SYN, i == 6 ? 10 : 50,
		       ELB_FLOW_FREE);
	}
	/* At 110 the established flow expired: its way goes, no SYN is evicted. */
	k = ev_key(8);
	insert(&tb.t, &k, ev_hash(8), 110, ELB_FLOW_TCP_SYN, 50, ELB_FLOW_FREE);
	for (i = 0; i < 9; i++)
		CU_ASSERT_EQUAL(ev_present(&tb.t, i, 110), i != 6);
	elb_flow_table_read_stats(&tb.t, &st);
	CU_ASSERT_EQUAL(st.expirations, 1);
	CU_ASSERT_EQUAL(st.evictions[ELB_FLOW_TCP_SYN], 0);
	CU_ASSERT_EQUAL(st.occupancy, 8);

	/* Remove one: the next insert takes the free way, not an expired one. */
	k = ev_key(3);
	elb_flow_remove(&tb.t, elb_flow_lookup(&tb.t, &k, TEST_VIP_INDEX, ev_hash(3), 110));
	k = ev_key(9);
	insert(&tb.t, &k, ev_hash(9), 160, ELB_FLOW_UDP, 50, ELB_FLOW_FREE);
	elb_flow_table_read_stats(&tb.t, &st);
	CU_ASSERT_EQUAL(st.expirations, 1); /* the expired SYNs were left alone */
	CU_ASSERT_EQUAL(st.occupancy, 8);
	table_close(&tb);
}

/* ---- table: SYN flood ---- */

static void test_syn_flood_spares_established(void)
{
	enum { N_ESTABLISHED = 1000, CAPACITY = 16384, FLOOD = 10 * CAPACITY };
	struct elb_flow_key *est = calloc(N_ESTABLISHED, sizeof(*est));
	uint64_t *est_hash = calloc(N_ESTABLISHED, sizeof(*est_hash));
	struct elb_flow_timeouts to;
	struct elb_flow_table_stats st;
	uint64_t max_occupancy = 0;
	unsigned int i, missing = 0, flood_live = 0;
	struct table tb;
	uint32_t now = 50;

	CU_ASSERT_PTR_NOT_NULL_FATAL(est);
	CU_ASSERT_PTR_NOT_NULL_FATAL(est_hash);
	CU_ASSERT_FATAL(elb_flow_timeouts_init(&to, ELB_FLOW_TIMEOUT_SYN_MS,
					       ELB_FLOW_TIMEOUT_ESTABLISHED_MS,
					       ELB_FLOW_TIMEOUT_CLOSING_MS,
					       ELB_FLOW_TIMEOUT_UDP_MS) == 0);
	table_open(&tb, CAPACITY);
	CU_ASSERT_EQUAL(tb.t.capacity, CAPACITY);

	/* 1000 connections: SYN, then the handshake's ACK. */
	for (i = 0; i < N_ESTABLISHED; i++) {
		struct elb_flow_entry *e;

		est[i] = i % 2 ? key_v4(i, (uint16_t)(1024 + i), ELB_IPPROTO_TCP)
			       : key_v6(i, (uint16_t)(1024 + i), ELB_IPPROTO_TCP);
		est_hash[i] = elb_flow_hash(&est[i], &seed);
		e = insert(&tb.t, &est[i], est_hash[i], now, ELB_FLOW_TCP_SYN,
			   to.ticks[ELB_FLOW_TCP_SYN], ELB_FLOW_FREE);
		e->backend_id = i;
		elb_flow_refresh(&tb.t, e, ELB_FLOW_TCP_ESTABLISHED,
				 to.ticks[ELB_FLOW_TCP_ESTABLISHED], now);
	}

	/* Spoofed SYNs from distinct sources, 100 per tick (1.7 s per 10000),
	 * with the connections sending a segment every 50 ticks. */
	for (i = 0; i < FLOOD; i++) {
		struct elb_flow_key k = key_v4(0x100000 + i, (uint16_t)(i * 7919), ELB_IPPROTO_TCP);
		enum elb_flow_state evicted;
		uint64_t h;

		k.src.v4 ^= elb_htonl(0x40000000u); /* 74.x: disjoint from the clients */
		h = elb_flow_hash(&k, &seed);
		if (elb_flow_lookup(&tb.t, &k, TEST_VIP_INDEX, h, now) == NULL)
			elb_flow_insert(&tb.t, &k, TEST_VIP_INDEX, h, now, ELB_FLOW_TCP_SYN,
					to.ticks[ELB_FLOW_TCP_SYN], &evicted);
		if (occupancy(&tb.t) > max_occupancy)
			max_occupancy = occupancy(&tb.t);
		if (i % 100 == 99)
			now++;
		if (i % 5000 == 4999) {
			unsigned int c;

			for (c = 0; c < N_ESTABLISHED; c++) {
				struct elb_flow_entry *e =
					elb_flow_lookup(&tb.t, &est[c], TEST_VIP_INDEX, est_hash[c], now);

				if (e == NULL || e->backend_id != c) {
					missing++;
					continue;
				}
				elb_flow_refresh(&tb.t, e,
						 elb_flow_state_next(elb_flow_entry_state(&tb.t, e),
								     ELB_IPPROTO_TCP, ELB_TCP_ACK),
						 to.ticks[ELB_FLOW_TCP_ESTABLISHED], now);
			}
		}
	}
	for (i = 0; i < N_ESTABLISHED; i++) {
		struct elb_flow_entry *e = elb_flow_lookup(&tb.t, &est[i], TEST_VIP_INDEX, est_hash[i], now);

		if (e == NULL || e->backend_id != i ||
		    elb_flow_entry_state(&tb.t, e) != ELB_FLOW_TCP_ESTABLISHED)
			missing++;
	}
	CU_ASSERT_EQUAL(missing, 0);
	CU_ASSERT(max_occupancy <= CAPACITY);
	elb_flow_table_read_stats(&tb.t, &st);
	CU_ASSERT_EQUAL(st.evictions[ELB_FLOW_TCP_ESTABLISHED], 0);
	CU_ASSERT(st.evictions[ELB_FLOW_TCP_SYN] > 0);
	CU_ASSERT_EQUAL(st.inserts, N_ESTABLISHED + FLOOD);
	/* The table stays full of the most recent SYNs. */
	elb_flow_sweep(&tb.t, now, CAPACITY);
	elb_flow_table_read_stats(&tb.t, &st);
	flood_live = (unsigned int)st.occupancy - N_ESTABLISHED;
	printf("\n    flood: max occupancy %llu of %u, %llu SYNs evicted, %u live after\n",
	       (unsigned long long)max_occupancy, CAPACITY,
	       (unsigned long long)st.evictions[ELB_FLOW_TCP_SYN], flood_live);
	CU_ASSERT(flood_live > CAPACITY / 2);
	table_close(&tb);
	free(est);
	free(est_hash);
}

/* ---- table: signatures ---- */

static void test_signature_collision(void)
{
	struct elb_flow_key a = key_v4(1, 1111, ELB_IPPROTO_TCP);
	struct elb_flow_key b = key_v4(2, 2222, ELB_IPPROTO_TCP);
	struct elb_flow_key c = key_v6(3, 3333, ELB_IPPROTO_UDP);
	uint64_t same = crafted_hash(9, 0xbeef);
	/* Top 16 bits 0: signature forced to 1, the same as a real 0x0001. */
	uint64_t zero_sig = crafted_hash(9, 0), one_sig = crafted_hash(9, 1);
	struct elb_flow_entry *ea, *eb, *ec;
	struct table tb;

	table_open(&tb, 512);
	ea = insert(&tb.t, &a, same, 10, ELB_FLOW_TCP_SYN, 100, ELB_FLOW_FREE);
	eb = insert(&tb.t, &b, same, 10, ELB_FLOW_TCP_ESTABLISHED, 100, ELB_FLOW_FREE);
	CU_ASSERT_PTR_NOT_EQUAL(ea, eb);
	ea->backend_id = 1;
	eb->backend_id = 2;
	CU_ASSERT_PTR_EQUAL(elb_flow_lookup(&tb.t, &a, TEST_VIP_INDEX, same, 20), ea);
	CU_ASSERT_PTR_EQUAL(elb_flow_lookup(&tb.t, &b, TEST_VIP_INDEX, same, 20), eb);
	CU_ASSERT_PTR_NULL(elb_flow_lookup(&tb.t, &c, TEST_VIP_INDEX, same, 20));
	CU_ASSERT_EQUAL(elb_flow_entry_state(&tb.t, ea), ELB_FLOW_TCP_SYN);
	CU_ASSERT_EQUAL(elb_flow_entry_state(&tb.t, eb), ELB_FLOW_TCP_ESTABLISHED);

	/* Removing one leaves the other. */
	elb_flow_remove(&tb.t, ea);
	CU_ASSERT_PTR_NULL(elb_flow_lookup(&tb.t, &a, TEST_VIP_INDEX, same, 20));
	CU_ASSERT_PTR_EQUAL(elb_flow_lookup(&tb.t, &b, TEST_VIP_INDEX, same, 20), eb);

	/* An expired twin is freed by its own lookup only. */
	ea = insert(&tb.t, &a, same, 10, ELB_FLOW_TCP_SYN, 5, ELB_FLOW_FREE);
	CU_ASSERT_PTR_EQUAL(elb_flow_lookup(&tb.t, &b, TEST_VIP_INDEX, same, 20), eb);
	CU_ASSERT_EQUAL(occupancy(&tb.t), 2);
	CU_ASSERT_PTR_NULL(elb_flow_lookup(&tb.t, &a, TEST_VIP_INDEX, same, 20));
	CU_ASSERT_EQUAL(occupancy(&tb.t), 1);

	/* A zero signature never marks a used way as free. */
	CU_ASSERT_EQUAL(elb_flow_sig(zero_sig), 1);
	ec = insert(&tb.t, &c, zero_sig, 10, ELB_FLOW_UDP, 100, ELB_FLOW_FREE);
	ea = insert(&tb.t, &a, one_sig, 10, ELB_FLOW_UDP, 100, ELB_FLOW_FREE);
	CU_ASSERT_EQUAL(occupancy(&tb.t), 3);
	CU_ASSERT_PTR_EQUAL(elb_flow_lookup(&tb.t, &c, TEST_VIP_INDEX, zero_sig, 20), ec);
	CU_ASSERT_PTR_EQUAL(elb_flow_lookup(&tb.t, &a, TEST_VIP_INDEX, one_sig, 20), ea);
	table_close(&tb);
}

/* ---- table: sweep ---- */

static void test_sweep(void)
{
	enum { N = 3000 };
	struct table tb;
	uint32_t freed = 0, total = 0, calls = 0;
	unsigned int i, expired = 0, live = 0;
	struct elb_flow_table_stats st;

	table_open(&tb, 32768); /* 4096 buckets: no bucket overflows */
	/* Flows expire at 100 + i % 50; at 125, those with i % 50 <= 25 are dead. */
	for (i = 0; i < N; i++) {
		struct elb_flow_key k = key_v4(i, (uint16_t)i, ELB_IPPROTO_UDP);
		enum elb_flow_state ev;

		elb_flow_insert(&tb.t, &k, TEST_VIP_INDEX, elb_flow_hash(&k, &seed), 100, ELB_FLOW_UDP, i % 50, &ev);
		CU_ASSERT_EQUAL_FATAL(ev, ELB_FLOW_FREE);
		if (i % 50 <= 25)
			expired++;
		else
			live++;
	}
	CU_ASSERT_EQUAL(occupancy(&tb.t), N);

	/* 1000 buckets at a time: 5 calls cover 4096 buckets and wrap. */
	while (total < 4096) {
		uint32_t before = tb.t.sweep_cursor;

		freed += elb_flow_sweep(&tb.t, 125, 1000);
		CU_ASSERT_EQUAL(tb.t.sweep_cursor, (before + 1000) % 4096);
		total += 1000;
		calls++;
	}
	elb_flow_table_read_stats(&tb.t, &st);
	CU_ASSERT_EQUAL(freed, expired);
	CU_ASSERT_EQUAL(st.expirations, expired);
	CU_ASSERT_EQUAL(st.occupancy, live);
	CU_ASSERT_EQUAL(calls, 5);
	/* Nothing left to free at the same time; the live ones are intact. */
	CU_ASSERT_EQUAL(elb_flow_sweep(&tb.t, 125, 1000), 0);
	for (i = 0; i < N; i++) {
		struct elb_flow_key k = key_v4(i, (uint16_t)i, ELB_IPPROTO_UDP);
		struct elb_flow_entry *e = elb_flow_lookup(&tb.t, &k, TEST_VIP_INDEX, elb_flow_hash(&k, &seed), 125);

		CU_ASSERT_EQUAL(e != NULL, i % 50 > 25);
		if (e != NULL) {
			struct elb_flow_id id;

			elb_flow_id_set(&id, &k, TEST_VIP_INDEX);
			CU_ASSERT(elb_flow_id_equal(&e->id, &id));
			CU_ASSERT(memcmp(&e->id.src, &k.src, sizeof(k.src)) == 0);
			CU_ASSERT_EQUAL(e->id.sport, k.sport);
			CU_ASSERT_EQUAL(e->id.dport, k.dport);
			CU_ASSERT_EQUAL(e->id.vip_index, TEST_VIP_INDEX);
		}
	}
	/* A budget larger than the table visits each bucket once. */
	CU_ASSERT_EQUAL(elb_flow_sweep(&tb.t, 100 + 50, 1u << 30), live);
	CU_ASSERT_EQUAL(occupancy(&tb.t), 0);
	CU_ASSERT_EQUAL(elb_flow_sweep(&tb.t, 100 + 50, 0), 0);
	table_close(&tb);
}

/* ---- table: foreach ---- */

struct visit {
	unsigned int count;
	unsigned int seen[64];
	enum elb_flow_state state[64];
};

static void visit_one(const struct elb_flow_entry *e, enum elb_flow_state state, void *arg)
{
	struct visit *v = arg;
	unsigned int i = e->backend_id;

	v->count++;
	CU_ASSERT_FATAL(i < 64);
	v->seen[i]++;
	v->state[i] = state;
}

static void test_foreach(void)
{
	struct elb_flow_entry *e[64];
	struct visit v;
	struct table tb;
	unsigned int i;

	table_open(&tb, 1024);
	for (i = 0; i < 64; i++) {
		struct elb_flow_key k = i % 3 ? key_v4(i, 80, ELB_IPPROTO_TCP)
					      : key_v6(i, 80, ELB_IPPROTO_UDP);

		e[i] = insert(&tb.t, &k, elb_flow_hash(&k, &seed), 1000,
			      i % 3 ? ELB_FLOW_TCP_ESTABLISHED : ELB_FLOW_UDP, 10 + i, ELB_FLOW_FREE);
		e[i]->backend_id = i;
	}
	/* Remove every 7th; at 1030 those with 10 + i <= 30 are expired. */
	for (i = 0; i < 64; i += 7)
		elb_flow_remove(&tb.t, e[i]);
	memset(&v, 0, sizeof(v));
	elb_flow_foreach(&tb.t, 1030, visit_one, &v);
	for (i = 0; i < 64; i++) {
		bool live = i % 7 != 0 && 10 + i > 30;

		CU_ASSERT_EQUAL(v.seen[i], live ? 1 : 0);
		if (live)
			CU_ASSERT_EQUAL(v.state[i],
					i % 3 ? ELB_FLOW_TCP_ESTABLISHED : ELB_FLOW_UDP);
	}
	CU_ASSERT_EQUAL(v.count, 64 - 10 - 18); /* 10 removed, 18 more expired */
	/* foreach frees nothing. */
	CU_ASSERT_EQUAL(occupancy(&tb.t), 64 - 10);
	table_close(&tb);
}

/* ---- a table filled to half ---- */

/*
 * What edgelb-bench's flow-table figures ("Flow table") rest on, their
 * timing left to the benchmark: capacity/2 flows inserted into an empty
 * table, then every one looked up and refreshed as the hit pass does. Each
 * flow not evicted by a full bucket is found with the backend it was given,
 * and an eviction is the only way to lose one.
 */
static void test_half_full_found(void)
{
	const uint32_t capacity = 8192, half = capacity / 2;
	struct elb_flow_table_stats st;
	uint32_t found = 0;
	struct table tb;

	table_open(&tb, capacity);
	for (uint32_t i = 0; i < half; i++) {
		struct elb_flow_key k = key_v4(i, (uint16_t)(i * 31), ELB_IPPROTO_TCP);
		uint64_t h = elb_flow_hash(&k, &seed);
		enum elb_flow_state evicted;
		struct elb_flow_entry *e;

		CU_ASSERT_PTR_NULL(elb_flow_lookup(&tb.t, &k, TEST_VIP_INDEX, h, 10));
		e = elb_flow_insert(&tb.t, &k, TEST_VIP_INDEX, h, 10, ELB_FLOW_TCP_SYN, 299, &evicted);
		CU_ASSERT_PTR_NOT_NULL_FATAL(e);
		e->backend_id = i;
	}
	for (uint32_t i = 0; i < half; i++) {
		struct elb_flow_key k = key_v4(i, (uint16_t)(i * 31), ELB_IPPROTO_TCP);
		uint64_t h = elb_flow_hash(&k, &seed);
		struct elb_flow_entry *e = elb_flow_lookup(&tb.t, &k, TEST_VIP_INDEX, h, 20);

		if (e == NULL)
			continue;
		CU_ASSERT_EQUAL(e->backend_id, i);
		elb_flow_refresh(&tb.t, e,
				 elb_flow_state_next(elb_flow_entry_state(&tb.t, e), ELB_IPPROTO_TCP,
						     ELB_TCP_ACK),
				 17882, 20);
		CU_ASSERT_EQUAL(elb_flow_entry_state(&tb.t, e), ELB_FLOW_TCP_ESTABLISHED);
		found++;
	}
	elb_flow_table_read_stats(&tb.t, &st);
	CU_ASSERT_EQUAL(st.inserts, half);
	CU_ASSERT_EQUAL(found, half - st.evictions[ELB_FLOW_TCP_SYN]);
	CU_ASSERT_EQUAL(st.occupancy, found);
	CU_ASSERT(found > half - half / 10); /* an 8-way bucket overflows rarely at half load */
	table_close(&tb);
}

int main(void)
{
	static const struct elb_test_case cases[] = {
		ELB_TEST(test_state_new),
		ELB_TEST(test_state_next),
		ELB_TEST(test_state_connection),
		ELB_TEST(test_state_names_and_timeouts),
		ELB_TEST(test_mem_size_and_init),
		ELB_TEST(test_home_way_in_one_line),
		ELB_TEST(test_insert_lookup_refresh_remove),
		ELB_TEST(test_expiry_per_state),
		ELB_TEST(test_tick_wrap),
		ELB_TEST(test_eviction_order),
		ELB_TEST(test_eviction_prefers_free_then_expired),
		ELB_TEST(test_syn_flood_spares_established),
		ELB_TEST(test_signature_collision),
		ELB_TEST(test_sweep),
		ELB_TEST(test_foreach),
		ELB_TEST(test_half_full_found),
		ELB_TEST_END,
	};
	return elb_test_run("flow_table", cases);
}
