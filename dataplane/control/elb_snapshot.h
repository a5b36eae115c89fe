/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * From configuration to forwarding state: builds the immutable
 * struct elb_snapshot that the workers of edgelb-dp (and edgelb-replay,
 * edgelb-bench) read, on the control thread, aside from the one in use.
 *
 * Continuity across changes: a backend that stays in its VIP's set keeps
 * its slot and generation, so its flows stay on it; a backend that joins
 * gets a free slot with a fresh generation, so no flow entry can mistake it
 * for the backend that held the slot before; a VIP keeps its index (and so
 * its counters) while it exists.
 */
#ifndef ELB_SNAPSHOT_H
#define ELB_SNAPSHOT_H

#include "elb_config.h"
#include "elb_pipeline.h"

/*
 * Build a snapshot of cfg, continuing from prev (NULL at start). *next_gen is
 * the control thread's generation counter: slots handed out take values from
 * it. The result belongs to the caller (elb_snapshot_free).
 * @return 0, -ENOMEM, or -EINVAL with err filled (e.g. more backend slots
 *         than ELB_MAX_BACKEND_SLOTS over all VIPs).
 */
int elb_snapshot_build(const struct elb_dp_config *cfg, const struct elb_snapshot *prev,
		       uint64_t epoch, uint32_t *next_gen, struct elb_snapshot **out,
		       struct elb_dp_err *err);

void elb_snapshot_free(struct elb_snapshot *snap);

struct elb_prefix_set;

/*
 * Give snap (being built, not yet published) the prefix lists of `set`
 * (NULL: none): the node's list, and each VIP's by the VIP's key
 * (elb_prefix_set_vip_list), as tables (elb_prefix_table.h) the snapshot
 * holds a reference to. A table of `reuse` built from the same list of the
 * same set is shared instead of built again: pass the snapshot in force
 * after a configuration change (the set did not change), NULL after a
 * change of the set. The set must outlive snap's use of it by the control
 * path (tables keep no pointer into it but their reuse test).
 * @return 0, or -ENOMEM (-EINVAL for a list that is not one) with err
 *         filled; snap then holds some old and some new lists: free it.
 */
int elb_snapshot_set_prefixes(struct elb_snapshot *snap, const struct elb_snapshot *reuse,
			      const struct elb_prefix_set *set, struct elb_dp_err *err);

/* The snapshot's VIP matching a configured VIP key, or ELB_NO_VIP. */
uint16_t elb_snapshot_vip_index(const struct elb_snapshot *snap, const struct elb_dp_vip_key *key);

#endif /* ELB_SNAPSHOT_H */
