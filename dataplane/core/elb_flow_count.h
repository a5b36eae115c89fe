/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Live flows per backend slot in one DPDK flow table: what vip.tables and
 * drains report as a backend's active flows. Plain C; edgelb-dp's control
 * thread calls it for every worker's table (dp_flow_counts), edgelb-bench
 * times it. Separate from elb_flow_table.h, which knows no snapshot.
 */
#ifndef ELB_FLOW_COUNT_H
#define ELB_FLOW_COUNT_H

#include "elb_pipeline.h"

/*
 * Add to per_slot[id] (snap->n_backend_slots entries) the entries of t that
 * are in use, not expired at now_tick when check_expiry, and name slot id
 * of snap with the slot's current generation (the flow would stay on that
 * backend). Reads t->capacity / 8 bucket headers, and one entry line per
 * way in use. Returns the number of entries counted.
 *
 * Any thread, while the owner runs: nothing is written, and every field the
 * owner may be writing is read with a relaxed atomic load, so no value is
 * torn; a way being inserted, refreshed or evicted meanwhile may be counted
 * or not, which is all a count needs.
 */
uint64_t elb_flow_count_backends(const struct elb_flow_table *t, uint32_t now_tick,
				 bool check_expiry, const struct elb_snapshot *snap,
				 uint64_t *per_slot);

#endif /* ELB_FLOW_COUNT_H */
