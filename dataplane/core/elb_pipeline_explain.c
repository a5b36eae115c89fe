/* SPDX-License-Identifier: BSD-3-Clause */
/* flow.explain over copies of live flow-table buckets; see elb_pipeline_explain.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "elb_pipeline_explain.h"

/* A copy of one bucket is a struct elb_flow_block, as in the table: cache-line
 * aligned, as the table's SSE2 signature compare requires of a header. */

/* Read a block the owner writes concurrently in whole 64-bit words (relaxed
 * atomic loads: no torn word), through a type allowed to alias the
 * bucket's and entry's own. */
typedef uint64_t __attribute__((may_alias)) line_word;

static void copy_words(void *dst, const void *src, size_t bytes)
{
	const line_word *s = src;
	line_word *d = dst;

	for (size_t i = 0; i < bytes / sizeof(line_word); i++)
		d[i] = __atomic_load_n(&s[i], __ATOMIC_RELAXED);
}

static void copy_bucket_once(const struct elb_flow_table *t, uint32_t index,
			     struct elb_flow_block *out)
{
	copy_words(out, &t->blocks[index], sizeof(*out));
	/* The next copy's loads may not be hoisted above this one's. */
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
}

/*
 * Copy bucket `index` of a table its worker is writing. The worker updates
 * a way with several plain stores (an insert writes signature, state and
 * expiry in the header, then key, backend and token bucket in the entry),
 * so one copy may catch it half way: e.g. a new signature over the evicted
 * flow's key. Two successive copies that agree byte for byte saw no store
 * land between them: the bucket was not being written then (only a worker
 * stopped between two stores of one update, which a dedicated lcore
 * practically never is, would pass as settled). A bucket can change on
 * every packet (a rate-limited flow's token bucket at
 * line rate), so the control thread gives up after ELB_EXPLAIN_COPY_TRIES
 * copies instead of spinning for as long as the traffic lasts.
 */
static int copy_bucket(const struct elb_flow_table *t, uint32_t index, struct elb_flow_block *out)
{
	struct elb_flow_block next;

	copy_bucket_once(t, index, out);
	for (unsigned int tries = 1; tries < ELB_EXPLAIN_COPY_TRIES; tries++) {
		copy_bucket_once(t, index, &next);
		if (memcmp(out, &next, sizeof(next)) == 0)
			return 0;
		memcpy(out, &next, sizeof(next));
	}
	return -EBUSY;
}

/*
 * The way of a live entry of key (of VIP vip_index) in a copied bucket, or
 * -1: the ways whose signature matches, in elb_flow_lookup's order, and the
 * first whose id matches decides (the table holds one entry per key; lookup
 * frees an expired one and reports a miss).
 */
static int find_live_way(const struct elb_flow_block *b, const struct elb_flow_key *key,
			 uint16_t vip_index, uint64_t hash, uint32_t now_tick)
{
	uint16_t sig = elb_flow_sig(hash);
	struct elb_flow_id id;

	elb_flow_id_set(&id, key, vip_index);
	for (unsigned int way = 0; way < ELB_FLOW_WAYS; way++) {
		if (b->header.sig[way] != sig || !elb_flow_id_equal(&b->entries[way].id, &id))
			continue;
		return elb_flow_tick_expired(b->header.expiry[way], now_tick) ? -1 : (int)way;
	}
	return -1;
}

/* Time until an entry expiring at tick `expiry` does, from now_ns. */
static int64_t expires_in_ms(uint32_t expiry, uint64_t now_ns)
{
	int64_t ticks = (int32_t)(expiry - elb_flow_tick(now_ns));
	int64_t into_tick = (int64_t)(now_ns & ((1ull << ELB_FLOW_TICK_SHIFT) - 1));

	return (ticks * (1ll << ELB_FLOW_TICK_SHIFT) - into_tick) / 1000000;
}

int elb_pipeline_explainer_init(struct elb_pipeline_explainer *x, uint32_t source_column_bits)
{
	if (source_column_bits > ELB_SOURCE_COLUMN_BITS_MAX)
		return -EINVAL;
	x->source_column_bits = source_column_bits;
	x->vip_counters = calloc(ELB_MAX_VIPS, sizeof(*x->vip_counters));
	x->backend_counters = calloc(ELB_MAX_BACKEND_SLOTS, sizeof(*x->backend_counters));
	x->flow_budgets = calloc(ELB_MAX_VIPS, sizeof(*x->flow_budgets));
	x->source_cells = calloc(1, ELB_SOURCE_SKETCH_BYTES(source_column_bits));
	if (x->vip_counters == NULL || x->backend_counters == NULL || x->flow_budgets == NULL ||
	    x->source_cells == NULL) {
		elb_pipeline_explainer_fini(x);
		return -ENOMEM;
	}
	return 0;
}

void elb_pipeline_explainer_fini(struct elb_pipeline_explainer *x)
{
	free(x->vip_counters);
	free(x->backend_counters);
	free(x->flow_budgets);
	free(x->source_cells);
	x->vip_counters = NULL;
	x->backend_counters = NULL;
	x->flow_budgets = NULL;
	x->source_cells = NULL;
}

/*
 * Copy into the scratch state what the run of a packet of VIP `vip` on the
 * live worker `live` reads of its admission state: the VIP's budget and
 * the packet's cells, word by word as the worker may be writing them (a
 * torn read is impossible per word; across words the copy is a moment's
 * view, which is all an explanation of live state can be). with_state
 * false: clear them again after the run.
 */
static void admission_state(struct elb_pipeline_explainer *x, const struct elb_worker *live,
			    const struct elb_snapshot *snap, const struct elb_vip *vip,
			    const struct elb_packet *pkt, bool with_state,
			    struct elb_explain_admission *seen)
{
	struct elb_flow_budget_state *b = &x->flow_budgets[vip->index];

	if (with_state) {
		copy_words(b, &live->flow_budgets[vip->index], sizeof(*b));
		/* The run resets a state of another generation, as the worker's. */
		seen->budget = *b;
	} else {
		memset(b, 0, sizeof(*b));
	}
	for (uint32_t l = 0; l < vip->n_source_limits; l++) {
		struct elb_source_key key;

		elb_source_key_of(&pkt->key.src, &vip->source_limits[l], vip->index, &key);
		for (uint32_t r = 0; r < ELB_SOURCE_ROWS; r++) {
			uint32_t i = elb_source_cell_index(&snap->source_keys, &key, r,
							   x->source_column_bits);
			struct elb_source_cell *c = &x->source_cells[i];

			if (!with_state) {
				memset(c, 0, sizeof(*c));
				continue;
			}
			copy_words(c, &live->source_cells[i], sizeof(*c));
			if (r == 0 || c->pkt_tat < seen->sources[l].pkt_tat)
				seen->sources[l].pkt_tat = c->pkt_tat;
			if (r == 0 || c->flow_tat < seen->sources[l].flow_tat)
				seen->sources[l].flow_tat = c->flow_tat;
		}
	}
}

int elb_pipeline_explain(struct elb_pipeline_explainer *x,
			 const struct elb_worker *const *workers, const uint8_t (*port_macs)[6],
			 uint16_t n_workers, const struct elb_snapshot *snap, const uint8_t *frame,
			 uint32_t len, uint64_t now_ns, struct elb_explain_run *run)
{
	struct elb_explain_flow *flow = &run->flow;
	struct elb_pipeline_result *res = &run->result;
	struct elb_flow_block used, candidate;
	struct elb_worker scratch;
	struct elb_packet pkt;
	uint32_t now_tick = elb_flow_tick(now_ns);
	int used_way = -1;
	uint8_t *in;

	const struct elb_vip *vip = NULL;

	if (x->vip_counters == NULL || x->backend_counters == NULL || n_workers == 0 || len == 0 ||
	    len > ELB_EXPLAIN_FRAME_MAX)
		return -EINVAL;
	for (uint16_t i = 0; i < n_workers; i++)
		if (workers[i]->source_column_bits != x->source_column_bits)
			return -EINVAL;
	memset(flow, 0, sizeof(*flow));
	memset(&run->admission, 0, sizeof(run->admission));
	run->now_ns = now_ns;
	run->where_name = "worker";
	/* Not a VIP's packet: the run never reaches the table; an empty one. */
	memset(&used, 0, sizeof(used));

	/* Only a VIP's packets have a flow; the others still get the run's verdict. */
	if (elb_parse(frame, frame + len, &pkt) == ELB_PARSE_IP) {
		bool address_known;

		uint16_t vip_index = elb_vip_find(snap, &pkt.key, &address_known);

		if (vip_index != ELB_NO_VIP) {
			uint64_t hash = elb_flow_hash(&pkt.key, &snap->seed);
			int rc;

			vip = &snap->vips[vip_index];
			for (uint16_t i = 0; i < n_workers; i++) {
				const struct elb_flow_table *t = &workers[i]->flows;
				int way;

				rc = copy_bucket(t, elb_flow_bucket_index(t, hash), &candidate);
				if (rc)
					return rc;
				way = find_live_way(&candidate, &pkt.key, vip_index, hash, now_tick);
				if (way < 0) {
					if (i == 0)
						used = candidate;
					continue;
				}
				/* Latest expiry wins; on a tie the first worker stays. */
				if (flow->holders++ == 0 ||
				    (int32_t)(candidate.header.expiry[way] -
					      used.header.expiry[used_way]) > 0) {
					used = candidate;
					used_way = way;
					flow->where = i;
				}
			}
		}
	}
	if (used_way >= 0) {
		const struct elb_flow_entry *e = &used.entries[used_way];

		flow->found = true;
		flow->state = used.header.state[used_way];
		flow->flags = used.header.flags[used_way];
		flow->expires_in_ms = expires_in_ms(used.header.expiry[used_way], now_ns);
		flow->backend_slot = e->backend_id;
		flow->backend_gen = e->backend_gen;
		flow->bucket = e->bucket;
	}

	/* The real decision, over the one-bucket view of the copy: hash & 0
	 * is bucket 0, the signatures are the hash's top bits as in the live
	 * table. Its stats start at zero: they are scratch too. */
	memset(&scratch, 0, sizeof(scratch));
	scratch.flows.blocks = &used;
	scratch.flows.bucket_mask = 0;
	scratch.flows.capacity = ELB_FLOW_WAYS;
	memcpy(scratch.port_mac, port_macs[flow->where], sizeof(scratch.port_mac));
	scratch.vip_counters = x->vip_counters;
	scratch.backend_counters = x->backend_counters;
	scratch.flow_budgets = x->flow_budgets;
	scratch.source_cells = x->source_cells;
	scratch.source_column_bits = x->source_column_bits;
	if (vip != NULL)
		admission_state(x, workers[flow->where], snap, vip, &pkt, true, &run->admission);

	in = run->out + ELB_EXPLAIN_HEADROOM;
	memcpy(in, frame, len);
	elb_pipeline_run(&scratch, snap, in, len, ELB_EXPLAIN_HEADROOM, now_ns, res);
	/* The run leaves no trace for the next one. */
	if (vip != NULL)
		admission_state(x, workers[flow->where], snap, vip, &pkt, false, NULL);
	if (res->verdict == ELB_VERDICT_FORWARD || res->verdict == ELB_VERDICT_REPLY)
		memmove(run->out, in + res->head_move, res->out_len);
	res->head_move = 0;
	return 0;
}
