/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A VIP's Maglev table for the pipeline's unit tests, from the slots of a
 * hand-built snapshot, as the control path builds it: ACTIVE backends with
 * their weight, DRAINING with weight 0 (in the set, no new flows), EMPTY
 * left out; the table stores slot indices.
 */
#ifndef TEST_MAGLEV_FILL_H
#define TEST_MAGLEV_FILL_H

#include <string.h>

#include <CUnit/CUnit.h>

#include "elb_maglev.h"
#include "elb_pipeline.h"

#define TEST_MAGLEV_MAX_BACKENDS 64

static inline void test_maglev_fill(uint32_t *table, uint32_t size,
				    const struct elb_snapshot *snap, uint16_t vip_index)
{
	struct elb_maglev_backend mb[TEST_MAGLEV_MAX_BACKENDS];
	uint32_t n = 0;

	memset(mb, 0, sizeof(mb));
	for (uint32_t i = 0; i < snap->n_backend_slots; i++) {
		const struct elb_backend_slot *b = &snap->backends[i];

		if (b->state == ELB_BACKEND_EMPTY || b->vip_index != vip_index)
			continue;
		CU_ASSERT_FATAL(n < TEST_MAGLEV_MAX_BACKENDS);
		mb[n].addr = b->addr;
		mb[n].family = b->family;
		mb[n].weight = b->state == ELB_BACKEND_ACTIVE ? b->weight : 0;
		mb[n].id = i;
		n++;
	}
	CU_ASSERT_EQUAL_FATAL(elb_maglev_build(table, size, mb, n), 0);
}

#endif /* TEST_MAGLEV_FILL_H */
