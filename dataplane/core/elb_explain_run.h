/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What a dataplane reports for flow.explain (struct elb_dp_ops.explain):
 * the packet's flow as found in its live tables and what its real decision
 * code did on a copy of that state. See dataplane/control/elb_explain.h.
 * Control path only.
 */
#ifndef ELB_EXPLAIN_RUN_H
#define ELB_EXPLAIN_RUN_H

#include "elb_pipeline.h"

/* Largest frame explained, and room for what encapsulation adds to it. */
#define ELB_EXPLAIN_FRAME_MAX 9216
#define ELB_EXPLAIN_HEADROOM 128

/* The flow's entry in the dataplane's live tables, as found. */
struct elb_explain_flow {
	bool found;       /* a worker / CPU holds a live entry for this 5-tuple */
	uint16_t where;   /* the worker (edgelb-dp) or CPU (edgelb-xdp) whose entry was used */
	uint16_t holders; /* workers / CPUs holding an entry: above 1, the flow moved between
			   * queues (RSS) and each has its own */
	uint8_t state;    /* enum elb_flow_state */
	uint8_t flags;    /* ELB_FLOW_F_* */
	int64_t expires_in_ms;
	uint32_t backend_slot;
	uint32_t backend_gen;
	struct elb_token_bucket bucket; /* the flow's rate-limit state before this packet */
};

/* The admission state the run started from: the worker's (CPU's) that
 * decides, for the packet's VIP and source keys (elb_admission.h). */
struct elb_explain_admission {
	struct elb_flow_budget_state budget; /* the VIP's */
	/* Per source limit of the VIP: the key's estimate, its smallest cells. */
	struct elb_source_cell sources[ELB_SOURCE_LIMITS_MAX];
};

/* What ops->explain fills: the flow as found and what the real decision did. */
struct elb_explain_run {
	struct elb_explain_flow flow;
	struct elb_explain_admission admission;
	/* verdict, reason, vip_index, backend_slot, new_flow, out_len; head_move
	 * is not used */
	struct elb_pipeline_result result;
	uint64_t now_ns; /* the clock the decision ran at (flow expiry, token bucket) */
	const char *where_name; /* "worker" or "cpu" */
	uint8_t out[ELB_EXPLAIN_FRAME_MAX + ELB_EXPLAIN_HEADROOM]; /* result.out_len bytes sent */
};

#endif /* ELB_EXPLAIN_RUN_H */
