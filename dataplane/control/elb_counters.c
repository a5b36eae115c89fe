/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "elb_counters.h"
#include "elb_json.h"
#include "elb_reasons.h"
#include "elb_snapshot.h"

struct elb_counters_sum *elb_counters_sum_new(void)
{
	struct elb_counters_sum *sum = calloc(1, sizeof(*sum));

	if (sum == NULL)
		return NULL;
	sum->backends = calloc(ELB_MAX_BACKEND_SLOTS, sizeof(*sum->backends));
	if (sum->backends == NULL) {
		free(sum);
		return NULL;
	}
	return sum;
}

void elb_counters_sum_free(struct elb_counters_sum *sum)
{
	if (sum == NULL)
		return;
	free(sum->backends);
	free(sum);
}

static void add_pair(struct elb_counter_pair *to, const struct elb_counter_pair *from)
{
	to->packets += from->packets;
	to->bytes += from->bytes;
}

void elb_counters_sum_add(struct elb_counters_sum *sum, const struct elb_worker *w,
			  const struct elb_snapshot *snap)
{
	const struct elb_worker_counters *c = &w->counters;
	struct elb_flow_table_stats fs;

	add_pair(&sum->total.rx, &c->rx);
	for (int v = 0; v < ELB_VERDICT_COUNT; v++)
		add_pair(&sum->total.verdicts[v], &c->verdicts[v]);
	for (int r = 0; r < ELB_REASON_COUNT; r++)
		sum->total.drops[r] += c->drops[r];
	sum->total.new_flows += c->new_flows;
	sum->total.flows_repicked += c->flows_repicked;

	for (int i = 0; i < ELB_MAX_VIPS; i++) {
		const struct elb_vip_counters *from = &w->vip_counters[i];
		struct elb_vip_counters *to = &sum->vips[i];

		/* Blocks of an older VIP at this index belong to nobody now. */
		if (snap->vips[i].maglev == NULL || from->gen != snap->vips[i].gen)
			continue;
		add_pair(&to->rx, &from->rx);
		add_pair(&to->forwarded, &from->forwarded);
		to->new_flows += from->new_flows;
		to->rate_limited_flows += from->rate_limited_flows;
		to->replies += from->replies;
		for (int r = 0; r < ELB_REASON_COUNT; r++)
			to->drops[r] += from->drops[r];
		for (int s = 0; s < ELB_PREFIX_SCOPES; s++)
			for (int a = 0; a < ELB_PREFIX_ACTIONS; a++)
				to->prefix_matches[s][a] += from->prefix_matches[s][a];
		for (int q = 0; q < ELB_QUIC_OUTCOMES; q++)
			to->quic[q] += from->quic[q];
		/* Budget state, where the dataplane keeps it for this worker. */
		if (w->flow_budgets != NULL && w->flow_budgets[i].gen == snap->vips[i].gen) {
			const struct elb_flow_budget_state *b = &w->flow_budgets[i];

			sum->floods[i].workers_flooding += b->flooding;
			sum->floods[i].entries += b->flood_entries;
			sum->floods[i].flows += b->flood_flows;
		}
	}
	for (uint32_t i = 0; i < snap->n_backend_slots; i++) {
		if (snap->backends[i].gen == 0 || w->backend_counters[i].gen != snap->backends[i].gen)
			continue;
		add_pair(&sum->backends[i].forwarded, &w->backend_counters[i].forwarded);
		sum->backends[i].new_flows += w->backend_counters[i].new_flows;
	}
	elb_flow_table_read_stats(&w->flows, &fs);
	sum->flows.occupancy += fs.occupancy;
	sum->flows.inserts += fs.inserts;
	sum->flows.removals += fs.removals;
	sum->flows.expirations += fs.expirations;
	for (int s = 0; s < ELB_FLOW_STATE_COUNT; s++)
		sum->flows.evictions[s] += fs.evictions[s];
	sum->flow_capacity += w->flows.capacity;
}

static cJSON *pair_json(const struct elb_counter_pair *p)
{
	cJSON *o = cJSON_CreateObject();

	if (o) {
		elb_dp_json_add_u64(o, "packets", p->packets);
		elb_dp_json_add_u64(o, "bytes", p->bytes);
	}
	return o;
}

static cJSON *drops_json(const uint64_t *drops)
{
	cJSON *o = cJSON_CreateObject();

	/* Index 0 is "none": not a drop. */
	for (int r = 1; o && r < ELB_REASON_COUNT; r++)
		elb_dp_json_add_u64(o, elb_reason_name((enum elb_reason)r), drops[r]);
	return o;
}

/* {"vip": {"allowed": N, "denied": N}, "node": {...}}: the packets each
 * scope's rules decided (docs/prefix-lists.md). */
static cJSON *prefix_matches_json(const uint64_t (*matches)[ELB_PREFIX_ACTIONS])
{
	static const char *const scope_names[ELB_PREFIX_SCOPES] = {
		[ELB_PREFIX_SCOPE_VIP] = "vip",
		[ELB_PREFIX_SCOPE_NODE] = "node",
	};
	cJSON *o = cJSON_CreateObject();

	for (int s = 0; o && s < ELB_PREFIX_SCOPES; s++) {
		cJSON *scope = cJSON_AddObjectToObject(o, scope_names[s]);

		if (scope == NULL)
			break;
		elb_dp_json_add_u64(scope, "allowed", matches[s][ELB_PREFIX_ALLOW - 1]);
		elb_dp_json_add_u64(scope, "denied", matches[s][ELB_PREFIX_DENY - 1]);
	}
	return o;
}

static cJSON *vip_json(const struct elb_counters_sum *sum, const struct elb_snapshot *snap,
		       const struct elb_vip *v)
{
	const struct elb_vip_counters *c = &sum->vips[v->index];
	struct elb_dp_vip_key key = {.addr = v->addr, .family = v->family, .proto = v->proto,
				     .port = elb_ntohs(v->port)};
	char name[ELB_DP_VIP_KEY_STR_MAX];
	cJSON *o = cJSON_CreateObject(), *backends;

	if (o == NULL)
		return NULL;
	cJSON_AddStringToObject(o, "vip", elb_dp_vip_key_str(&key, name, sizeof(name)));
	cJSON_AddItemToObject(o, "rx", pair_json(&c->rx));
	cJSON_AddItemToObject(o, "forwarded", pair_json(&c->forwarded));
	elb_dp_json_add_u64(o, "new_flows", c->new_flows);
	elb_dp_json_add_u64(o, "rate_limited_flows", c->rate_limited_flows);
	elb_dp_json_add_u64(o, "too_big_replies", c->replies);
	if (v->quic != NULL) {
		cJSON *quic = cJSON_AddObjectToObject(o, "quic");

		for (int q = 0; q < ELB_QUIC_OUTCOMES; q++)
			elb_dp_json_add_u64(quic, elb_quic_outcome_name((enum elb_quic_outcome)q),
					    c->quic[q]);
	}
	{
		const struct elb_flood_sum *f = &sum->floods[v->index];
		cJSON *flood = cJSON_AddObjectToObject(o, "flood");

		/* In flood mode while any worker is: each keeps its own budget. */
		cJSON_AddBoolToObject(flood, "active", f->workers_flooding > 0);
		elb_dp_json_add_u64(flood, "workers_active", f->workers_flooding);
		elb_dp_json_add_u64(flood, "entries", f->entries);
		elb_dp_json_add_u64(flood, "stateless_flows", f->flows);
	}
	cJSON_AddItemToObject(o, "drops", drops_json(c->drops));
	cJSON_AddItemToObject(o, "prefixes", prefix_matches_json(c->prefix_matches));
	backends = cJSON_AddArrayToObject(o, "backends");
	for (uint32_t s = 0; backends && s < snap->n_backend_slots; s++) {
		const struct elb_backend_slot *b = &snap->backends[s];
		cJSON *bo;
		char addr[64];

		if (b->gen == 0 || b->vip_index != v->index)
			continue;
		bo = cJSON_CreateObject();
		if (bo == NULL)
			break;
		elb_addr_format(&b->addr, b->family, addr, sizeof(addr));
		cJSON_AddStringToObject(bo, "address", addr);
		cJSON_AddStringToObject(bo, "state",
					b->state == ELB_BACKEND_DRAINING ? "draining" : "active");
		elb_dp_json_add_u64(bo, "weight", b->weight);
		cJSON_AddItemToObject(bo, "forwarded", pair_json(&sum->backends[s].forwarded));
		elb_dp_json_add_u64(bo, "new_flows", sum->backends[s].new_flows);
		cJSON_AddItemToArray(backends, bo);
	}
	return o;
}

int elb_counters_to_json(cJSON *out, const struct elb_counters_sum *sum,
			 const struct elb_snapshot *snap, const struct elb_dp_vip_key *filter)
{
	const struct elb_worker_counters *t = &sum->total;
	cJSON *flows, *evictions, *vips;

	if (filter == NULL) {
		cJSON_AddItemToObject(out, "rx", pair_json(&t->rx));
		cJSON_AddItemToObject(out, "forwarded", pair_json(&t->verdicts[ELB_VERDICT_FORWARD]));
		cJSON_AddItemToObject(out, "too_big_replies", pair_json(&t->verdicts[ELB_VERDICT_REPLY]));
		cJSON_AddItemToObject(out, "to_kernel", pair_json(&t->verdicts[ELB_VERDICT_KERNEL]));
		cJSON_AddItemToObject(out, "dropped", pair_json(&t->verdicts[ELB_VERDICT_DROP]));
		cJSON_AddItemToObject(out, "drops", drops_json(t->drops));
		elb_dp_json_add_u64(out, "new_flows", t->new_flows);
		elb_dp_json_add_u64(out, "flows_repicked", t->flows_repicked);
		flows = cJSON_AddObjectToObject(out, "flow_table");
		if (flows) {
			elb_dp_json_add_u64(flows, "capacity", sum->flow_capacity);
			elb_dp_json_add_u64(flows, "in_use", sum->flows.occupancy);
			elb_dp_json_add_u64(flows, "inserts", sum->flows.inserts);
			elb_dp_json_add_u64(flows, "expirations", sum->flows.expirations);
			evictions = cJSON_AddObjectToObject(flows, "evictions");
			for (int s = 1; evictions && s < ELB_FLOW_STATE_COUNT; s++)
				elb_dp_json_add_u64(evictions,
						    elb_flow_state_name((enum elb_flow_state)s),
						    sum->flows.evictions[s]);
		}
	}
	vips = cJSON_AddArrayToObject(out, "vips");
	if (vips == NULL)
		return -ENOMEM;
	for (uint32_t i = 0; i < ELB_MAX_VIPS; i++) {
		const struct elb_vip *v = &snap->vips[i];
		cJSON *vo;

		if (v->maglev == NULL)
			continue;
		if (filter && elb_snapshot_vip_index(snap, filter) != i)
			continue;
		vo = vip_json(sum, snap, v);
		if (vo == NULL)
			return -ENOMEM;
		cJSON_AddItemToArray(vips, vo);
	}
	return 0;
}
