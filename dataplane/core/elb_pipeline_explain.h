/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * flow.explain for the C pipeline (edgelb-dp, edgelb-replay --dataplane
 * dpdk): find a frame's flow in the workers' live flow tables and run the
 * real elb_pipeline_run for it on a copy of that state, changing nothing
 * live. Plain C, no DPDK: the dataplane wires it to its workers
 * (dataplane/dpdk/dp_explain.c), the unit tests to struct elb_worker.
 *
 * How the real code runs on a copy: the flow's bucket (header line and its
 * 8 entries) is copied out of a worker's table, and a scratch struct
 * elb_worker gets a one-bucket table over the copy (bucket_mask 0,
 * capacity 8). The pipeline's lookup takes bucket hash & 0 = the copy and
 * compares the same signatures (the hash's top bits) and keys, so it finds
 * the entry the live lookup would; whatever the run writes (refresh, insert
 * or eviction, token bucket, flags, table stats) lands in the copy, and its
 * counters in scratch blocks owned by the explainer.
 *
 * Control path only: reads the workers' tables while they run, never
 * writes them.
 */
#ifndef ELB_PIPELINE_EXPLAIN_H
#define ELB_PIPELINE_EXPLAIN_H

#if defined(__bpf__)
#error "elb_pipeline_explain.h is for the C pipeline"
#endif

#include "elb_explain_run.h"
#include "elb_pipeline.h"

/*
 * Copies of a bucket taken before giving up on one that a worker keeps
 * rewriting (see copy_bucket in the .c): a copy takes about 100 ns, so this
 * waits for a quiet moment of up to a few hundred microseconds.
 */
#define ELB_EXPLAIN_COPY_TRIES 4096

/* Scratch counters the explained run writes instead of a worker's. */
struct elb_pipeline_explainer {
	struct elb_vip_counters *vip_counters;         /* ELB_MAX_VIPS */
	struct elb_backend_counters *backend_counters; /* ELB_MAX_BACKEND_SLOTS */
	/* Admission state of the run: zero but for what a run copies from the
	 * live worker (the VIP's budget, the packet's cells), zeroed again
	 * after it. As large as the workers' sketches, whose cells it mirrors. */
	struct elb_flow_budget_state *flow_budgets; /* ELB_MAX_VIPS */
	struct elb_source_cell *source_cells;       /* ELB_SOURCE_ROWS << source_column_bits */
	uint32_t source_column_bits;
};

/* Allocate the scratch counters and admission state (about 2 MiB and the
 * size of one worker's source sketch, of 2^source_column_bits columns):
 * once, at start-up. @return 0 or -ENOMEM. */
int elb_pipeline_explainer_init(struct elb_pipeline_explainer *x, uint32_t source_column_bits);
/* Free them; a zeroed or finished explainer is ignored. */
void elb_pipeline_explainer_fini(struct elb_pipeline_explainer *x);

/*
 * Explain `frame` (len bytes, 1..ELB_EXPLAIN_FRAME_MAX) at now_ns (the clock
 * the workers decide at) against `snap` (the snapshot the workers read).
 * workers[i] is worker i (its live flow table and admission state) and
 * port_macs[i] the source MAC it sends with, for i < n_workers.
 *
 * The flow: looked up in every table as elb_flow_lookup would at now_ns.
 * holders counts the tables holding a live entry; where is the one whose
 * entry is used: the latest expiry among the holders (the most recently
 * refreshed for equal timeouts; the lowest index on a tie), else worker 0,
 * whose table takes the flow's new entry in the run (which worker RSS
 * gives a new flow is the NIC's choice, not known here).
 * The decision: elb_pipeline_run on the copy of table `where`'s bucket and
 * of worker `where`'s admission state for the packet (run->admission), with
 * port_macs[where]; run->out[0..result.out_len) is what it would send and
 * result.head_move is 0 (the output was moved to out[0]).
 * Nothing in tables, snap or frame is written.
 *
 * @return 0, -EINVAL (len 0 or above ELB_EXPLAIN_FRAME_MAX, no worker, x
 *         not initialized or for another sketch size), or -EBUSY (a bucket changed under every one of
 *         ELB_EXPLAIN_COPY_TRIES copies: ask again).
 */
int elb_pipeline_explain(struct elb_pipeline_explainer *x,
			 const struct elb_worker *const *workers, const uint8_t (*port_macs)[6],
			 uint16_t n_workers, const struct elb_snapshot *snap, const uint8_t *frame,
			 uint32_t len, uint64_t now_ns, struct elb_explain_run *run);

#endif /* ELB_PIPELINE_EXPLAIN_H */
