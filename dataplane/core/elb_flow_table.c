/* SPDX-License-Identifier: BSD-3-Clause */
/* Control-path and idle-time parts of the flow table; see elb_flow_table.h. */
#include <errno.h>
#include <string.h>

#include "elb_flow_table.h"

/* Buckets for capacity flows: a power of two, at least one. */
static uint32_t bucket_count(uint32_t capacity)
{
	uint32_t needed = (capacity + ELB_FLOW_WAYS - 1) / ELB_FLOW_WAYS;
	uint32_t n = 1;

	while (n < needed)
		n <<= 1;
	return n;
}

size_t elb_flow_table_mem_size(uint32_t capacity)
{
	if (capacity == 0 || capacity > ELB_FLOW_MAX_CAPACITY)
		return 0;
	return (size_t)bucket_count(capacity) * sizeof(struct elb_flow_block);
}

int elb_flow_table_init(struct elb_flow_table *t, void *mem, size_t mem_size, uint32_t capacity)
{
	size_t needed = elb_flow_table_mem_size(capacity);
	uint32_t n_buckets;

	if (t == NULL || mem == NULL || needed == 0 || mem_size < needed ||
	    (uintptr_t)mem % ELB_FLOW_TABLE_ALIGN != 0)
		return -EINVAL;
	n_buckets = bucket_count(capacity);
	memset(t, 0, sizeof(*t));
	t->blocks = mem;
	t->bucket_mask = n_buckets - 1;
	t->capacity = n_buckets * ELB_FLOW_WAYS;
	/* Only the headers say what is in use; entries are written on insert. */
	for (uint32_t i = 0; i < n_buckets; i++)
		memset(&t->blocks[i].header, 0, sizeof(t->blocks[i].header));
	return 0;
}

uint32_t elb_flow_sweep(struct elb_flow_table *t, uint32_t now_tick, uint32_t max_buckets)
{
	uint32_t n = max_buckets <= t->bucket_mask ? max_buckets : t->bucket_mask + 1;
	uint32_t cursor = t->sweep_cursor, freed = 0;

	for (; n > 0; n--) {
		struct elb_flow_bucket *b = elb_flow_bucket_at(t, cursor);
		unsigned int way;

		for (way = 0; way < ELB_FLOW_WAYS; way++) {
			if (b->sig[way] != 0 && elb_flow_tick_expired(b->expiry[way], now_tick)) {
				elb_flow_free_way(t, b, way);
				freed++;
			}
		}
		cursor = (cursor + 1) & t->bucket_mask;
	}
	t->sweep_cursor = cursor;
	if (freed)
		ELB_FLOW_STAT_ADD(t, expirations, freed);
	return freed;
}

void elb_flow_foreach(const struct elb_flow_table *t, uint32_t now_tick,
		      void (*fn)(const struct elb_flow_entry *entry, enum elb_flow_state state,
				 void *arg),
		      void *arg)
{
	uint32_t i;

	for (i = 0; i <= t->bucket_mask; i++) {
		const struct elb_flow_bucket *b = elb_flow_bucket_at(t, i);
		unsigned int way;

		for (way = 0; way < ELB_FLOW_WAYS; way++)
			if (b->sig[way] != 0 && !elb_flow_tick_expired(b->expiry[way], now_tick))
				fn(elb_flow_entry_at(t, i, way),
				   (enum elb_flow_state)b->state[way], arg);
	}
}

void elb_flow_table_read_stats(const struct elb_flow_table *t, struct elb_flow_table_stats *out)
{
	unsigned int s;

	out->occupancy = __atomic_load_n(&t->stats.occupancy, __ATOMIC_RELAXED);
	out->inserts = __atomic_load_n(&t->stats.inserts, __ATOMIC_RELAXED);
	out->removals = __atomic_load_n(&t->stats.removals, __ATOMIC_RELAXED);
	out->expirations = __atomic_load_n(&t->stats.expirations, __ATOMIC_RELAXED);
	for (s = 0; s < ELB_FLOW_STATE_COUNT; s++)
		out->evictions[s] = __atomic_load_n(&t->stats.evictions[s], __ATOMIC_RELAXED);
}
