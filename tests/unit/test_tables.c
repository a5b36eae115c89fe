/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Table digests and backend-change previews (elb_tables.h): the digest
 * against values computed outside the code (FNV-1a by hand), independence
 * from the dataplane's slot numbering, and the preview's moved share
 * against the tables built directly with elb_maglev_build and, for
 * different sizes, against counting every hash residue pair.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "elb_tables.h"
#include "elb_test.h"

static struct elb_dp_backend v4(const char *text, uint32_t weight)
{
	struct elb_dp_backend b = {.family = ELB_AF_INET, .weight = weight,
				   .state = ELB_DP_BACKEND_ACTIVE};

	inet_pton(AF_INET, text, b.addr.v6);
	return b;
}

static struct elb_dp_vip vip_of(struct elb_dp_backend *backends, uint32_t n, uint32_t size)
{
	struct elb_dp_vip v;

	memset(&v, 0, sizeof(v));
	v.maglev_size = size;
	v.backends = backends;
	v.n_backends = n;
	return v;
}

/* Expected values: FNV-1a 64 computed with Python over the bytes the
 * header documents (size LE, then family + address bytes or 0xff). */
static void test_digest_known_values(void)
{
	struct elb_table_identity ids[2] = {{.family = ELB_AF_INET}, {.family = ELB_AF_INET6}};
	uint32_t table[3] = {0, 1, ELB_MAGLEV_EMPTY};
	char text[ELB_TABLE_DIGEST_STR];

	inet_pton(AF_INET, "10.0.0.1", ids[0].addr.v6);
	memset(&ids[0].addr.v6[4], 0xaa, 12); /* not part of an IPv4 identity */
	inet_pton(AF_INET6, "2001:db8::1", ids[1].addr.v6);
	CU_ASSERT_EQUAL(elb_table_digest(table, 3, ids, 2), 0xd5f719413b7641ffULL);
	CU_ASSERT_EQUAL(elb_table_digest(table, 0, ids, 2), 0x4d25767f9dce13f5ULL);
	elb_table_digest_str(0xd5f719413b7641ffULL, text);
	CU_ASSERT_STRING_EQUAL(text, "d5f719413b7641ff");
	/* An id beyond the identities is "no backend", like EMPTY. */
	table[2] = 7;
	CU_ASSERT_EQUAL(elb_table_digest(table, 3, ids, 2), 0xd5f719413b7641ffULL);
}

/* Two nodes number their backends differently; same set, same digest. */
static void test_digest_ignores_numbering(void)
{
	struct elb_dp_backend set[4] = {v4("10.0.0.1", 1), v4("10.0.0.2", 2), v4("10.0.0.3", 1),
					v4("10.0.0.4", 1)};
	struct elb_maglev_backend mb[4];
	struct elb_table_identity ids[64];
	struct elb_dp_vip vip = vip_of(set, 4, 1021);
	uint32_t *table = malloc(1021 * sizeof(*table));
	uint64_t from_vip, renumbered;

	memset(ids, 0, sizeof(ids));
	CU_ASSERT_FATAL(table != NULL);
	CU_ASSERT_EQUAL_FATAL(elb_table_vip_digest(&vip, &from_vip), 0);
	/* As a dataplane does: backend b in slot 40 + 5 b of its own numbering. */
	for (uint32_t b = 0; b < 4; b++) {
		mb[b] = (struct elb_maglev_backend){.addr = set[3 - b].addr, .family = ELB_AF_INET,
						   .weight = set[3 - b].weight, .id = 40 + 5 * b};
		ids[40 + 5 * b].addr = set[3 - b].addr;
		ids[40 + 5 * b].family = ELB_AF_INET;
	}
	CU_ASSERT_EQUAL_FATAL(elb_maglev_build(table, 1021, mb, 4), 0);
	renumbered = elb_table_digest(table, 1021, ids, 64);
	CU_ASSERT_EQUAL(from_vip, renumbered);
	/* One slot that differs changes the digest. */
	table[500] = table[500] == 40 ? 45 : 40;
	CU_ASSERT_NOT_EQUAL(elb_table_digest(table, 1021, ids, 64), from_vip);
	/* So does another weight. */
	set[1].weight = 1;
	CU_ASSERT_EQUAL_FATAL(elb_table_vip_digest(&vip, &renumbered), 0);
	CU_ASSERT_NOT_EQUAL(renumbered, from_vip);
	free(table);
}

/* Slots whose owner differs, counted on tables built here directly. */
static uint32_t moved_by_hand(struct elb_dp_vip *a, struct elb_dp_vip *b)
{
	uint32_t *ta = malloc(a->maglev_size * sizeof(*ta)), *tb = malloc(b->maglev_size * sizeof(*tb));
	uint32_t moved = 0;

	CU_ASSERT_FATAL(ta != NULL && tb != NULL);
	CU_ASSERT_EQUAL_FATAL(elb_table_build_vip(a, ta), 0);
	CU_ASSERT_EQUAL_FATAL(elb_table_build_vip(b, tb), 0);
	for (uint32_t i = 0; i < a->maglev_size; i++) {
		const struct elb_dp_backend *x = ta[i] == ELB_MAGLEV_EMPTY ? NULL : &a->backends[ta[i]];
		const struct elb_dp_backend *y = tb[i] == ELB_MAGLEV_EMPTY ? NULL : &b->backends[tb[i]];

		moved += (x == NULL) != (y == NULL) ||
			 (x != NULL && memcmp(x->addr.v6, y->addr.v6, 4) != 0);
	}
	free(ta);
	free(tb);
	return moved;
}

static void test_preview_add_and_remove(void)
{
	struct elb_dp_backend old_set[10], new_set[11];
	struct elb_dp_vip old_vip, new_vip;
	struct elb_preview p;
	char addr[32];
	uint32_t old_total = 0, new_total = 0;

	for (uint32_t i = 0; i < 11; i++) {
		snprintf(addr, sizeof(addr), "10.0.1.%u", i + 1);
		new_set[i] = v4(addr, 1);
		if (i < 10)
			old_set[i] = new_set[i];
	}
	old_vip = vip_of(old_set, 10, 65537);
	new_vip = vip_of(new_set, 11, 65537);
	/* Nothing changes: nothing moves. */
	CU_ASSERT_EQUAL_FATAL(elb_table_preview(&old_vip, &old_vip, &p), 0);
	CU_ASSERT_EQUAL(p.moved_slots, 0);
	CU_ASSERT_FALSE(p.small_table); /* 65537 > 100 x 10 */
	elb_preview_release(&p);
	/* Adding an eleventh: the slots it takes, about 1/11, and a little more
	 * (Maglev trades a few extra moves for balance). */
	CU_ASSERT_EQUAL_FATAL(elb_table_preview(&old_vip, &new_vip, &p), 0);
	CU_ASSERT_EQUAL(p.moved_slots, moved_by_hand(&old_vip, &new_vip));
	CU_ASSERT(p.moved_fraction >= 1.0 / 11 - 0.001 && p.moved_fraction < 1.0 / 11 + 0.03);
	CU_ASSERT_EQUAL(p.n_backends, 11);
	for (uint32_t i = 0; i < p.n_backends; i++) {
		old_total += p.backends[i].old_slots;
		new_total += p.backends[i].new_slots;
		CU_ASSERT(p.backends[i].in_new);
		CU_ASSERT_EQUAL(p.backends[i].in_old, i < 10 || memcmp(p.backends[i].addr.v6,
								      new_set[10].addr.v6, 4) != 0);
	}
	CU_ASSERT_EQUAL(old_total, 65537);
	CU_ASSERT_EQUAL(new_total, 65537);
	CU_ASSERT_EQUAL(p.new_owners, 11);
	CU_ASSERT(p.new_max_slots - p.new_min_slots <= 2);
	elb_preview_release(&p);
	/* Draining one of the ten: its slots all go, the others' stay. */
	{
		struct elb_dp_backend drained[10];

		memcpy(drained, old_set, sizeof(drained));
		drained[3].state = ELB_DP_BACKEND_DRAINING;
		new_vip = vip_of(drained, 10, 65537);
		CU_ASSERT_EQUAL_FATAL(elb_table_preview(&old_vip, &new_vip, &p), 0);
		CU_ASSERT_EQUAL(p.moved_slots, moved_by_hand(&old_vip, &new_vip));
		for (uint32_t i = 0; i < p.n_backends; i++)
			if (memcmp(p.backends[i].addr.v6, old_set[3].addr.v6, 4) == 0) {
				CU_ASSERT_EQUAL(p.backends[i].new_slots, 0);
				CU_ASSERT(p.backends[i].in_new);
				CU_ASSERT(p.moved_slots >= p.backends[i].old_slots);
			}
		elb_preview_release(&p);
	}
}

/* Different sizes: the moved share over every pair of residues. */
static void test_preview_resize(void)
{
	struct elb_dp_backend set[3] = {v4("10.0.2.1", 1), v4("10.0.2.2", 1), v4("10.0.2.3", 3)};
	struct elb_dp_vip a = vip_of(set, 3, 251), b = vip_of(set, 3, 257);
	uint32_t ta[251], tb[257];
	uint64_t moved = 0;
	struct elb_preview p;

	CU_ASSERT_EQUAL_FATAL(elb_table_build_vip(&a, ta), 0);
	CU_ASSERT_EQUAL_FATAL(elb_table_build_vip(&b, tb), 0);
	/* Every h in [0, 251 x 257) gives one (h % 251, h % 257) pair. */
	for (uint32_t h = 0; h < 251 * 257; h++)
		moved += ta[h % 251] != tb[h % 257];
	CU_ASSERT_EQUAL_FATAL(elb_table_preview(&a, &b, &p), 0);
	CU_ASSERT_DOUBLE_EQUAL(p.moved_fraction, (double)moved / (251.0 * 257.0), 1e-9);
	CU_ASSERT(p.small_table); /* 257 <= 100 x 3 */
	elb_preview_release(&p);
}

/* A first table (no old VIP): every slot "moves". The M > 100 x N rule. */
static void test_preview_new_vip_and_rule(void)
{
	struct elb_dp_backend set[3] = {v4("10.0.3.1", 1), v4("10.0.3.2", 1), v4("10.0.3.3", 1)};
	struct elb_dp_vip two = vip_of(set, 2, 251), three = vip_of(set, 3, 251);
	struct elb_preview p;

	CU_ASSERT_EQUAL_FATAL(elb_table_preview(NULL, &two, &p), 0);
	CU_ASSERT_EQUAL(p.moved_slots, 251);
	CU_ASSERT_FALSE(p.small_table); /* 251 > 200 */
	elb_preview_release(&p);
	CU_ASSERT_EQUAL_FATAL(elb_table_preview(&two, &three, &p), 0);
	CU_ASSERT(p.small_table); /* 251 <= 300 */
	elb_preview_release(&p);
}

int main(void)
{
	static const struct elb_test_case cases[] = {
		ELB_TEST(test_digest_known_values),
		ELB_TEST(test_digest_ignores_numbering),
		ELB_TEST(test_preview_add_and_remove),
		ELB_TEST(test_preview_resize),
		ELB_TEST(test_preview_new_vip_and_rule),
		ELB_TEST_END,
	};

	return elb_test_run("tables", cases);
}
