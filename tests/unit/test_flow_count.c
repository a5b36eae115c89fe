/* SPDX-License-Identifier: BSD-3-Clause */
/* elb_flow_count_backends: live flows per backend slot in one flow table. */
#include <stdlib.h>
#include <string.h>

#include "elb_flow_count.h"
#include "elb_test.h"

#define CAPACITY 1024u
#define NOW 1000u
#define TEST_VIP_INDEX 0

struct fixture {
	struct elb_flow_table t;
	void *mem;
	struct elb_snapshot snap;
	uint64_t per_slot[4];
};

static void setup(struct fixture *f)
{
	size_t size = elb_flow_table_mem_size(CAPACITY);

	memset(f, 0, sizeof(*f));
	f->mem = aligned_alloc(ELB_FLOW_TABLE_ALIGN, size);
	CU_ASSERT_FATAL(f->mem != NULL);
	CU_ASSERT_FATAL(elb_flow_table_init(&f->t, f->mem, size, CAPACITY) == 0);
	f->snap.backends = calloc(4, sizeof(*f->snap.backends));
	CU_ASSERT_FATAL(f->snap.backends != NULL);
	f->snap.n_backend_slots = 4;
	for (uint32_t s = 0; s < 4; s++)
		f->snap.backends[s].gen = 10 + s;
}

static void teardown(struct fixture *f)
{
	free(f->mem);
	free(f->snap.backends);
}

/* Flow i of backend slot `slot` (generation `gen`), expiring at `expiry`. */
static void add(struct fixture *f, uint32_t i, uint32_t slot, uint32_t gen, uint32_t expiry)
{
	struct elb_hash_seed seed = {ELB_HASH_SEED_DEFAULT_K0, ELB_HASH_SEED_DEFAULT_K1};
	struct elb_flow_key k;
	struct elb_flow_entry *e;
	enum elb_flow_state evicted;

	memset(&k, 0, sizeof(k));
	k.family = ELB_AF_INET;
	k.proto = ELB_IPPROTO_TCP;
	k.src.v4 = elb_htonl(0x0a000000u | i);
	k.dst.v4 = elb_htonl(0xc0000201u);
	k.sport = elb_htons(1000);
	k.dport = elb_htons(443);
	e = elb_flow_insert(&f->t, &k, TEST_VIP_INDEX, elb_flow_hash(&k, &seed), NOW, ELB_FLOW_TCP_ESTABLISHED,
			    expiry - NOW, &evicted);
	CU_ASSERT_FATAL(evicted == ELB_FLOW_FREE);
	e->backend_id = slot;
	e->backend_gen = gen;
}

static void test_counts_per_slot(void)
{
	struct fixture f;
	uint32_t i = 0;

	setup(&f);
	for (uint32_t s = 0; s < 4; s++)
		for (uint32_t n = 0; n < 10 * (s + 1); n++)
			add(&f, i++, s, 10 + s, NOW + 100);
	CU_ASSERT_EQUAL(elb_flow_count_backends(&f.t, NOW, true, &f.snap, f.per_slot), 100);
	for (uint32_t s = 0; s < 4; s++)
		CU_ASSERT_EQUAL(f.per_slot[s], 10 * (s + 1));
	/* It adds to what per_slot holds (one call per worker table). */
	CU_ASSERT_EQUAL(elb_flow_count_backends(&f.t, NOW, true, &f.snap, f.per_slot), 100);
	CU_ASSERT_EQUAL(f.per_slot[3], 80);
	teardown(&f);
}

static void test_expired_skipped_when_checked(void)
{
	struct fixture f;

	setup(&f);
	add(&f, 1, 0, 10, NOW + 100);
	add(&f, 2, 0, 10, NOW);     /* expires now */
	add(&f, 3, 1, 11, NOW - 5); /* expired */
	CU_ASSERT_EQUAL(elb_flow_count_backends(&f.t, NOW, true, &f.snap, f.per_slot), 1);
	CU_ASSERT_EQUAL(f.per_slot[0], 1);
	CU_ASSERT_EQUAL(f.per_slot[1], 0);
	/* The replay's clock is not the table's: every way in use counts. */
	memset(f.per_slot, 0, sizeof(f.per_slot));
	CU_ASSERT_EQUAL(elb_flow_count_backends(&f.t, NOW, false, &f.snap, f.per_slot), 3);
	CU_ASSERT_EQUAL(f.per_slot[0], 2);
	CU_ASSERT_EQUAL(f.per_slot[1], 1);
	teardown(&f);
}

static void test_stale_generation_and_slot_not_counted(void)
{
	struct fixture f;

	setup(&f);
	add(&f, 1, 2, 12, NOW + 100);
	add(&f, 2, 2, 7, NOW + 100);  /* the slot was given to another backend since */
	add(&f, 3, 4, 14, NOW + 100); /* a slot beyond the snapshot's */
	CU_ASSERT_EQUAL(elb_flow_count_backends(&f.t, NOW, true, &f.snap, f.per_slot), 1);
	CU_ASSERT_EQUAL(f.per_slot[2], 1);
	CU_ASSERT_EQUAL(f.per_slot[0] + f.per_slot[1] + f.per_slot[3], 0);
	teardown(&f);
}

static void test_empty_table(void)
{
	struct fixture f;

	setup(&f);
	CU_ASSERT_EQUAL(elb_flow_count_backends(&f.t, NOW, true, &f.snap, f.per_slot), 0);
	teardown(&f);
}

int main(void)
{
	static const struct elb_test_case cases[] = {
		ELB_TEST(test_counts_per_slot),
		ELB_TEST(test_expired_skipped_when_checked),
		ELB_TEST(test_stale_generation_and_slot_not_counted),
		ELB_TEST(test_empty_table),
		ELB_TEST_END,
	};

	return elb_test_run("flow_count", cases);
}
