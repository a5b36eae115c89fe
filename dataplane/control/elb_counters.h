/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Counters as the dataplane protocol reports them (counters.get), one
 * definition for both dataplanes: each sums its own per-worker (DPDK) or
 * per-CPU (XDP) counters into these core structs and calls
 * elb_counters_to_json, so the two report the same names and shape.
 */
#ifndef ELB_COUNTERS_H
#define ELB_COUNTERS_H

#include <cjson/cJSON.h>

#include "elb_config.h"
#include "elb_flow_table.h"
#include "elb_pipeline.h"

struct elb_counters_sum {
	struct elb_worker_counters total;
	struct elb_vip_counters vips[ELB_MAX_VIPS];
	struct elb_backend_counters *backends; /* ELB_MAX_BACKEND_SLOTS */
	/* Flood mode per VIP (elb_admission.h): workers in it now, times a
	 * worker entered it, new flows it forwarded without an entry. */
	struct elb_flood_sum {
		uint32_t workers_flooding;
		uint64_t entries;
		uint64_t flows;
	} floods[ELB_MAX_VIPS];
	struct elb_flow_table_stats flows;
	uint64_t flow_capacity;
};

/* Zeroed sum with its backend array; NULL when out of memory. */
struct elb_counters_sum *elb_counters_sum_new(void);
void elb_counters_sum_free(struct elb_counters_sum *sum);
/* Add one worker's (or CPU's) counters: of its per-VIP and per-backend
 * blocks, only those of the generation current in snap. */
void elb_counters_sum_add(struct elb_counters_sum *sum, const struct elb_worker *w,
			  const struct elb_snapshot *snap);

/*
 * Fill `out` with the summed counters: totals, drops by reason (every
 * reason, zeros included, so the schema does not depend on traffic), flow
 * table, and per VIP of snap (or only the VIP `filter`) with its backends.
 * @return 0 or -ENOMEM.
 */
int elb_counters_to_json(cJSON *out, const struct elb_counters_sum *sum,
			 const struct elb_snapshot *snap, const struct elb_dp_vip_key *filter);

#endif /* ELB_COUNTERS_H */
