/* SPDX-License-Identifier: BSD-3-Clause */
/* Live flows per backend slot in one flow table; see elb_flow_count.h. */
#include "elb_flow_count.h"

/* Buckets between the prefetch of a bucket's entry lines and their use:
 * enough to cover a memory access at the walk's rate (~40 ns a bucket). */
#define ELB_FLOW_COUNT_PREFETCH_AHEAD 8

/*
 * Ways of b in use (bit `way`), and of those not expired at now_tick if
 * check_expiry, without a branch per way: at 1/8 to 1/2 full, "is this way
 * in use" is a coin toss the branch predictor loses. Racy on purpose: the
 * owner keeps writing while this reads. Relaxed loads of what it writes:
 * each is one aligned access, read whole, and the compiler may not split or
 * re-read it. No ordering: a way that changes under the walk is counted or
 * not, either is a right count.
 */
static inline uint32_t live_ways(const struct elb_flow_bucket *b, uint32_t now_tick,
				 bool check_expiry)
{
	uint32_t mask = 0;

	for (unsigned int way = 0; way < ELB_FLOW_WAYS; way++) {
		uint32_t used = __atomic_load_n(&b->sig[way], __ATOMIC_RELAXED) != 0;
		uint32_t expired = check_expiry &&
				   elb_flow_tick_expired(
					   __atomic_load_n(&b->expiry[way], __ATOMIC_RELAXED), now_tick);

		mask |= (used & !expired) << way;
	}
	return mask;
}

uint64_t elb_flow_count_backends(const struct elb_flow_table *t, uint32_t now_tick,
				 bool check_expiry, const struct elb_snapshot *snap,
				 uint64_t *per_slot)
{
	uint64_t counted = 0;

	for (uint32_t bi = 0; bi <= t->bucket_mask; bi++) {
		const struct elb_flow_entry *entries = elb_flow_entry_at(t, bi, 0);
		uint32_t live = live_ways(elb_flow_bucket_at(t, bi), now_tick, check_expiry);

		/* The headers are read in order (the hardware prefetches them);
		 * the entry lines in use are scattered: ask for those of a
		 * bucket a few ahead. A way changing meanwhile only makes a
		 * prefetch useless. */
		if (bi + ELB_FLOW_COUNT_PREFETCH_AHEAD <= t->bucket_mask) {
			uint32_t ahead = bi + ELB_FLOW_COUNT_PREFETCH_AHEAD;
			uint32_t used = live_ways(elb_flow_bucket_at(t, ahead), now_tick, false);

			while (used) {
				__builtin_prefetch(elb_flow_entry_at(
					t, ahead, (unsigned int)__builtin_ctz(used)));
				used &= used - 1;
			}
		}
		while (live) {
			const struct elb_flow_entry *e = &entries[__builtin_ctz(live)];
			uint32_t id = __atomic_load_n(&e->backend_id, __ATOMIC_RELAXED);
			uint32_t gen = __atomic_load_n(&e->backend_gen, __ATOMIC_RELAXED);

			live &= live - 1;
			if (id < snap->n_backend_slots && snap->backends[id].gen == gen) {
				per_slot[id]++;
				counted++;
			}
		}
	}
	return counted;
}
