/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What edgelb-cp learns from its dataplanes' Maglev tables (vip.tables,
 * polled with the counters every second):
 *
 * Fleet agreement. Each dataplane reports, per VIP, a digest of the table
 * its workers use (elb_tables.h: over the backend identity in each slot).
 * The control plane computes the digest the desired state gives, with the
 * same code, and compares. A dataplane legitimately differs while a push is
 * on its way, and a report older than its acknowledgement of the last push
 * shows the state before it: such a report is not held against it (the
 * outcome of the last comparison stands until a current one comes). A
 * difference is only an alarm once it has lasted fleet.disagree_after_ms:
 * then fleet_disagree is raised, counted, and the dataplanes that differ
 * get the whole state again (someone changed them behind our back, or an
 * apply went wrong: the control plane's state is the one that was persisted
 * and acknowledged). fleet_agree ends the episode.
 *
 * The expected digest comes from a Maglev build (milliseconds), on the CPU
 * the dataplane's control thread may share. After a change it is built
 * once a dataplane has a current report to compare it with, and no push is
 * in flight: a push's answer, and so the change's acknowledgement, must
 * not wait behind it.
 *
 * Drains. A backend set to draining keeps its flows and gets no new ones;
 * here it becomes drained when every dataplane reports it draining (or
 * gone) with no live flow on it, or when its drain timeout passes, and
 * drain_complete says which. A dataplane that does not answer keeps the
 * drain going (its flows are unknown) until the timeout.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>

#include "cp_fleet.h"

#include "cp_dataplanes.h"
#include "elb_dp_api.h"
#include "elb_tables.h"
#include "elb_json.h"

static const cJSON *find_by(const cJSON *array, const char *member, const char *value)
{
	const cJSON *item;

	cJSON_ArrayForEach(item, array)
	{
		const cJSON *m = cJSON_GetObjectItemCaseSensitive(item, member);

		if (cJSON_IsString(m) && strcmp(m->valuestring, value) == 0)
			return item;
	}
	return NULL;
}

/* The dataplane's vip.tables entry of VIP `name`, or NULL. */
static const cJSON *dp_vip_table(const struct cp_dataplane *dp, const char *name)
{
	if (!dp->connected || dp->tables == NULL)
		return NULL;
	return find_by(cJSON_GetObjectItemCaseSensitive(dp->tables, "vips"), "vip", name);
}

static bool dp_reports(const struct cp_dataplane *dp)
{
	return dp->connected && dp->tables != NULL;
}

/* ------------------------------------------------------------------------ */
/* Fleet agreement */

static bool expected_current(const struct cp_daemon *cp, uint32_t v)
{
	return cp->vip_rt[v].expected_gen == cp->gen && cp->vip_rt[v].expected_gen != 0;
}

static void refresh_expected(struct cp_daemon *cp, uint32_t v, uint64_t now)
{
	struct cp_vip_runtime *rt = &cp->vip_rt[v];
	int d = cp->desired != NULL ? elb_dp_config_find_vip(cp->desired, &rt->key) : -ENOENT;

	if (expected_current(cp, v))
		return;
	rt->expected_gen = cp->gen;
	rt->expected_ms = now;
	rt->expected_missing = d < 0;
	if (d >= 0 && elb_table_vip_digest(&cp->desired->vips[d], &rt->expected_digest) < 0) {
		rt->expected_gen = 0; /* out of memory: tried again next round */
		rt->expected_missing = true;
	}
}

/* -1: the dataplane does not report; 0: its table differs; 1: it agrees. */
static int dp_agrees(const struct cp_daemon *cp, uint32_t v, const struct cp_dataplane *dp)
{
	const struct cp_vip_runtime *rt = &cp->vip_rt[v];
	char name[ELB_DP_VIP_KEY_STR_MAX], want[ELB_TABLE_DIGEST_STR];
	const cJSON *entry, *digest;

	if (!dp_reports(dp))
		return -1;
	entry = dp_vip_table(dp, elb_dp_vip_key_str(&rt->key, name, sizeof(name)));
	if (rt->expected_missing)
		return entry == NULL;
	digest = cJSON_GetObjectItemCaseSensitive(entry, "digest");
	elb_table_digest_str(rt->expected_digest, want);
	return cJSON_IsString(digest) && strcmp(digest->valuestring, want) == 0;
}

/* dp's last report can be held against the desired state: no push is on
 * its way, and the report came after the last one was acknowledged (a
 * later millisecond: replies read in the same one may be in either order,
 * and a current report skipped waits for the next poll). */
static bool report_current(const struct cp_dataplane *dp)
{
	return dp_reports(dp) && dp->inflight_gen == 0 && dp->tables_ms > dp->last_push_ms;
}

/* When the expected digest of a moved generation may be built (see the
 * top of the file). */
static bool expected_due(const struct cp_daemon *cp, uint32_t v)
{
	bool reported_since = false;

	for (uint32_t i = 0; i < cp->n_dps; i++) {
		if (cp->dps[i].inflight_gen != 0)
			return false;
		reported_since |= report_current(&cp->dps[i]) &&
				  cp->dps[i].tables_ms >= cp->vip_rt[v].expected_ms;
	}
	return reported_since;
}

static void fleet_vip_tick(struct cp_daemon *cp, uint32_t v, uint64_t now)
{
	struct cp_vip_runtime *rt = &cp->vip_rt[v];
	char name[ELB_DP_VIP_KEY_STR_MAX], want[ELB_TABLE_DIGEST_STR];
	uint32_t after = cp_fleet_disagree_after_ms(cp->config);
	bool differ = false, pending = false;
	cJSON *fields, *names;

	if (!expected_current(cp, v)) {
		if (!expected_due(cp, v))
			return;
		refresh_expected(cp, v, now);
	}
	if (rt->expected_gen == 0)
		return;
	for (uint32_t i = 0; i < cp->n_dps; i++) {
		if (dp_reports(&cp->dps[i]) && !report_current(&cp->dps[i]))
			pending = true;
		else
			differ |= dp_agrees(cp, v, &cp->dps[i]) == 0;
	}
	if (pending && !differ)
		return; /* the last outcome stands */
	elb_dp_vip_key_str(&rt->key, name, sizeof(name));
	if (!differ) {
		if (rt->disagree_alarm) {
			fields = cp_event_backend(&rt->key, NULL, 0);
			elb_dp_json_add_u64(fields, "disagreed_ms", now - rt->disagree_since_ms);
			cp_log("%s: the dataplanes agree again after %" PRIu64 " ms", name,
			       now - rt->disagree_since_ms);
			cp_emit(cp, "fleet_agree", fields);
		}
		rt->disagree_since_ms = 0;
		rt->disagree_alarm = false;
		return;
	}
	if (rt->disagree_since_ms == 0)
		rt->disagree_since_ms = now;
	if (rt->disagree_alarm || now - rt->disagree_since_ms < after)
		return;
	rt->disagree_alarm = true;
	rt->disagreements++;
	cp->fleet_disagreements++;
	elb_table_digest_str(rt->expected_digest, want);
	fields = cp_event_backend(&rt->key, NULL, 0);
	cJSON_AddStringToObject(fields, "expected_digest", rt->expected_missing ? "" : want);
	elb_dp_json_add_u64(fields, "disagreed_ms", now - rt->disagree_since_ms);
	names = cJSON_AddArrayToObject(fields, "dataplanes");
	for (uint32_t i = 0; i < cp->n_dps; i++) {
		struct cp_dataplane *dp = &cp->dps[i];

		if (!report_current(dp) || dp_agrees(cp, v, dp) != 0)
			continue;
		cJSON_AddItemToArray(names, cJSON_CreateString(dp->cfg.name));
		/* Ours is the persisted, acknowledged state: give it again. */
		dp->pushed_gen = 0;
	}
	cp_log("ALARM %s: dataplane tables differ from the desired state for %" PRIu64
	       " ms; pushing it again",
	       name, now - rt->disagree_since_ms);
	cp_emit(cp, "fleet_disagree", fields);
}

/* ------------------------------------------------------------------------ */
/* Drains */

/* Flows on backend (family, addr) of VIP v summed over the dataplanes.
 * since_ms: 0, or a drain's start: a dataplane whose count began before it
 * (vip.tables' flows_age_ms: edgelb-xdp counts on a thread and answers with
 * its last walk) does not count as reported.
 * @return true if every dataplane reported the backend draining or absent
 *         (so no new flow can reach it there). */
static bool backend_flows(const struct cp_daemon *cp, uint32_t v, const struct elb_dp_backend *be,
			  uint64_t since_ms, uint64_t *flows, bool *all_reported)
{
	char name[ELB_DP_VIP_KEY_STR_MAX], addr[INET6_ADDRSTRLEN];
	bool all_draining = true;

	*flows = 0;
	*all_reported = cp->n_dps > 0;
	elb_dp_vip_key_str(&cp->vip_rt[v].key, name, sizeof(name));
	elb_addr_format(&be->addr, be->family, addr, sizeof(addr));
	for (uint32_t i = 0; i < cp->n_dps; i++) {
		const struct cp_dataplane *dp = &cp->dps[i];
		const cJSON *entry, *b, *n, *state;

		if (!dp->connected || dp->flow_tables == NULL) {
			*all_reported = false;
			continue;
		}
		n = cJSON_GetObjectItemCaseSensitive(dp->flow_tables, "flows_age_ms");
		if (since_ms != 0 &&
		    dp->flow_tables_ms < since_ms + (cJSON_IsNumber(n) ? (uint64_t)n->valuedouble : 0))
			*all_reported = false; /* counted before the drain began */
		/* The state comes with the counts: a count from before the drain
		 * reached this dataplane shows the backend active. */
		entry = find_by(cJSON_GetObjectItemCaseSensitive(dp->flow_tables, "vips"), "vip", name);
		b = find_by(cJSON_GetObjectItemCaseSensitive(entry, "backends"), "address", addr);
		if (b == NULL)
			continue; /* not there (left, or down): nothing of it stays there */
		n = cJSON_GetObjectItemCaseSensitive(b, "flows");
		state = cJSON_GetObjectItemCaseSensitive(b, "state");
		if (cJSON_IsNumber(n))
			*flows += (uint64_t)n->valuedouble;
		if (!cJSON_IsString(state) || strcmp(state->valuestring, "draining") != 0)
			all_draining = false;
	}
	return all_draining;
}

static void remove_backend(struct cp_daemon *cp, uint32_t v, uint32_t b, uint64_t now)
{
	struct cp_config *next = cp_config_clone(cp->config);
	struct elb_dp_err err = {0};
	struct cp_vip *vip;
	int rc;

	if (next == NULL) {
		cp_log("drain: out of memory removing a drained backend");
		return;
	}
	vip = &next->vips[v];
	memmove(&vip->dp.backends[b], &vip->dp.backends[b + 1],
		(vip->dp.n_backends - b - 1) * sizeof(*vip->dp.backends));
	vip->dp.n_backends--;
	rc = cp_commit(cp, next, now, &err);
	if (rc < 0)
		cp_log("drain: the drained backend could not be removed: %s", err.text);
}

static void drain_finish(struct cp_daemon *cp, uint32_t v, uint32_t b, struct cp_target *t,
			 const char *reason, uint64_t now)
{
	const struct elb_dp_backend *be = &cp->config->vips[v].dp.backends[b];
	char name[ELB_DP_VIP_KEY_STR_MAX], addr[INET6_ADDRSTRLEN];
	cJSON *fields = cp_event_backend(&cp->vip_rt[v].key, &be->addr, be->family);

	t->drain_phase = CP_DRAIN_DRAINED;
	t->drain_reason = reason;
	t->drain_done_ms = now;
	if (strcmp(reason, "timeout") == 0)
		cp->drains_timed_out++;
	else
		cp->drains_completed++;
	cJSON_AddStringToObject(fields, "reason", reason);
	elb_dp_json_add_u64(fields, "drain_ms", now - t->drain_since_ms);
	elb_dp_json_add_u64(fields, "flows_left", t->drain_flows);
	cJSON_AddBoolToObject(fields, "flows_known", t->drain_flows_known);
	cJSON_AddBoolToObject(fields, "removed", t->remove_when_drained);
	cp_log("%s: backend %s drained (%s) after %" PRIu64 " ms, %" PRIu64 " flows left",
	       elb_dp_vip_key_str(&cp->vip_rt[v].key, name, sizeof(name)),
	       elb_addr_format(&be->addr, be->family, addr, sizeof(addr)), reason,
	       now - t->drain_since_ms, t->drain_flows);
	cp_emit(cp, "drain_complete", fields);
}

/* A drain that began `ago` ms before now (monotonic). */
static void drain_begin(struct cp_daemon *cp, struct cp_target *t, uint64_t now, uint64_t ago)
{
	uint32_t timeout = t->drain_timeout_ms ? t->drain_timeout_ms : cp_drain_timeout_ms(cp->config);

	t->drain_phase = CP_DRAIN_DRAINING;
	t->drain_since_ms = now - (ago < now ? ago : now);
	t->drain_deadline_ms = t->drain_since_ms + timeout;
	t->drain_flows = 0;
	t->drain_flows_known = false;
	t->drain_reason = NULL;
}

/* @return true if the config was replaced (targets are then new: stop). */
static bool drain_tick(struct cp_daemon *cp, uint64_t now)
{
	for (uint32_t v = 0; v < cp->config->n_vips; v++) {
		const struct cp_vip *vip = &cp->config->vips[v];

		for (uint32_t b = 0; b < vip->dp.n_backends; b++) {
			struct cp_target *t = cp->targets[cp->target_base[v] + b];
			bool reported, everywhere;

			if (vip->dp.backends[b].state != ELB_DP_BACKEND_DRAINING) {
				t->drain_phase = CP_DRAIN_NONE;
				t->drain_timeout_ms = 0;
				t->remove_when_drained = false;
				continue;
			}
			if (t->drain_phase == CP_DRAIN_NONE) {
				/* Draining without a drain running: after a restart,
				 * or set draining by a whole-VIP change. A persisted
				 * drain goes on where it was. */
				const struct cp_drain_record *r = cp_config_find_drain(
					cp->config, &t->vip, &t->addr, t->family);
				uint64_t wall = cp_wall_ms(), ago = 0;

				if (r != NULL) {
					t->drain_timeout_ms = r->timeout_ms;
					t->remove_when_drained = r->remove_when_drained;
					ago = wall > r->started_unix_ms ? wall - r->started_unix_ms : 0;
				}
				drain_begin(cp, t, now, ago);
			}
			if (t->drain_phase != CP_DRAIN_DRAINING)
				continue;
			everywhere = backend_flows(cp, v, &vip->dp.backends[b], t->drain_since_ms,
						   &t->drain_flows, &reported);
			t->drain_flows_known = reported;
			if (reported && everywhere && t->drain_flows == 0)
				drain_finish(cp, v, b, t, "flows_gone", now);
			else if (now >= t->drain_deadline_ms)
				drain_finish(cp, v, b, t, "timeout", now);
			else
				continue;
			if (t->remove_when_drained) {
				remove_backend(cp, v, b, now);
				return true;
			}
		}
	}
	return false;
}

void cp_fleet_drain_started(struct cp_daemon *cp, struct cp_target *t, uint32_t timeout_ms,
			    bool remove_when_drained, uint64_t now, cJSON *result)
{
	cJSON *drain;

	/* A drain asked again while it runs restarts its clock with the new
	 * settings; a finished one stays finished (the answer says so). */
	if (t->drain_phase != CP_DRAIN_DRAINED) {
		t->drain_timeout_ms = timeout_ms;
		t->remove_when_drained = remove_when_drained;
		drain_begin(cp, t, now, 0);
	} else if (remove_when_drained) {
		t->remove_when_drained = true;
	}
	drain = cJSON_AddObjectToObject(result, "drain");
	if (drain == NULL)
		return;
	cJSON_AddStringToObject(drain, "state",
				t->drain_phase == CP_DRAIN_DRAINED ? "drained" : "draining");
	elb_dp_json_add_u64(drain, "timeout_ms", t->drain_deadline_ms - t->drain_since_ms);
	cJSON_AddBoolToObject(drain, "remove_when_drained", t->remove_when_drained);
}

void cp_fleet_backend_json(const struct cp_daemon *cp, uint32_t v, uint32_t b, cJSON *out)
{
	const struct cp_target *t = cp->targets[cp->target_base[v] + b];
	static const char *const phases[] = {"none", "draining", "drained"};
	uint64_t flows, now = cp_now_ms();
	bool reported;

	(void)backend_flows(cp, v, &cp->config->vips[v].dp.backends[b], 0, &flows, &reported);
	if (reported)
		elb_dp_json_add_u64(out, "active_flows", flows);
	else
		cJSON_AddNullToObject(out, "active_flows");
	cJSON_AddStringToObject(out, "drain_state", phases[t->drain_phase]);
	if (t->drain_phase == CP_DRAIN_DRAINING) {
		elb_dp_json_add_u64(out, "draining_for_ms", now - t->drain_since_ms);
		elb_dp_json_add_u64(out, "drain_timeout_in_ms",
				    t->drain_deadline_ms > now ? t->drain_deadline_ms - now : 0);
	} else if (t->drain_phase == CP_DRAIN_DRAINED) {
		cJSON_AddStringToObject(out, "drain_reason", t->drain_reason);
		elb_dp_json_add_u64(out, "drain_ms", t->drain_done_ms - t->drain_since_ms);
	}
}

void cp_fleet_tick(struct cp_daemon *cp, uint64_t now)
{
	if (drain_tick(cp, now))
		return;
	for (uint32_t v = 0; v < cp->config->n_vips; v++)
		fleet_vip_tick(cp, v, now);
}

/* ------------------------------------------------------------------------ */
/* fleet.get */

/* Per backend of the VIP: weight and slot shares, flows and the share of
 * new flows each got, summed over the dataplanes (since they started). */
static cJSON *balance_json(const struct cp_daemon *cp, uint32_t v, const char *name)
{
	const struct cp_vip *vip = &cp->config->vips[v];
	cJSON *arr = cJSON_CreateArray();
	double new_flows_total = 0;
	double *new_flows = calloc((size_t)vip->dp.n_backends + 1, sizeof(*new_flows));
	uint64_t weight_total = 0;

	if (arr == NULL || new_flows == NULL) {
		free(new_flows);
		return arr;
	}
	for (uint32_t b = 0; b < vip->dp.n_backends; b++) {
		const struct elb_dp_backend *be = &vip->dp.backends[b];
		char addr[INET6_ADDRSTRLEN];

		elb_addr_format(&be->addr, be->family, addr, sizeof(addr));
		if (be->state == ELB_DP_BACKEND_ACTIVE && cp_backend_pushed(cp, v, b))
			weight_total += be->weight;
		for (uint32_t i = 0; i < cp->n_dps; i++) {
			const cJSON *c = cp->dps[i].counters, *cv, *cb;

			cv = find_by(cJSON_GetObjectItemCaseSensitive(c, "vips"), "vip", name);
			cb = find_by(cJSON_GetObjectItemCaseSensitive(cv, "backends"), "address", addr);
			if (cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(cb, "new_flows")))
				new_flows[b] +=
					cJSON_GetObjectItemCaseSensitive(cb, "new_flows")->valuedouble;
		}
		new_flows_total += new_flows[b];
	}
	for (uint32_t b = 0; b < vip->dp.n_backends; b++) {
		const struct elb_dp_backend *be = &vip->dp.backends[b];
		bool weighted = be->state == ELB_DP_BACKEND_ACTIVE && cp_backend_pushed(cp, v, b) &&
				weight_total > 0;
		char addr[INET6_ADDRSTRLEN];
		cJSON *o = cJSON_CreateObject(), *slots = NULL;

		if (o == NULL || !cJSON_AddItemToArray(arr, o)) {
			cJSON_Delete(o);
			break;
		}
		elb_addr_format(&be->addr, be->family, addr, sizeof(addr));
		cJSON_AddStringToObject(o, "address", addr);
		cJSON_AddStringToObject(o, "state",
					be->state == ELB_DP_BACKEND_DRAINING ? "draining" : "active");
		cJSON_AddBoolToObject(o, "pushed", cp_backend_pushed(cp, v, b));
		elb_dp_json_add_u64(o, "weight", be->weight);
		cJSON_AddNumberToObject(o, "weight_share",
					weighted ? (double)be->weight / (double)weight_total : 0.0);
		/* The slots as a dataplane reports them (any one that agrees). */
		for (uint32_t i = 0; i < cp->n_dps && slots == NULL; i++) {
			const cJSON *entry = dp_vip_table(&cp->dps[i], name);

			if (dp_agrees(cp, v, &cp->dps[i]) == 1)
				slots = (cJSON *)find_by(
					cJSON_GetObjectItemCaseSensitive(entry, "backends"), "address",
					addr);
		}
		if (slots != NULL) {
			cJSON_AddNumberToObject(
				o, "slots",
				cJSON_GetObjectItemCaseSensitive(slots, "slots")->valuedouble);
			cJSON_AddNumberToObject(
				o, "slot_share",
				cJSON_GetObjectItemCaseSensitive(slots, "slot_share")->valuedouble);
		} else {
			cJSON_AddNullToObject(o, "slots");
			cJSON_AddNullToObject(o, "slot_share");
		}
		elb_dp_json_add_u64(o, "new_flows", (uint64_t)new_flows[b]);
		if (new_flows_total > 0)
			cJSON_AddNumberToObject(o, "new_flow_share", new_flows[b] / new_flows_total);
		else
			cJSON_AddNullToObject(o, "new_flow_share");
		cp_fleet_backend_json(cp, v, b, o);
	}
	free(new_flows);
	return arr;
}

int cp_m_fleet_get(void *ctx, const cJSON *params, cJSON **result, struct elb_rpc_error *error)
{
	static const char *const known[] = {NULL};
	struct cp_daemon *cp = ctx;
	uint64_t now = cp_now_ms();
	cJSON *r, *vips;
	int rc = elb_dp_rpc_check_params(params, known, error);

	if (rc < 0)
		return rc;
	r = cJSON_CreateObject();
	if (r == NULL)
		return elb_dp_rpc_nomem(error);
	elb_dp_json_add_u64(r, "generation", cp->gen);
	elb_dp_json_add_u64(r, "disagree_after_ms", cp_fleet_disagree_after_ms(cp->config));
	elb_dp_json_add_u64(r, "disagreements", cp->fleet_disagreements);
	elb_dp_json_add_u64(r, "drains_completed", cp->drains_completed);
	elb_dp_json_add_u64(r, "drains_timed_out", cp->drains_timed_out);
	vips = cJSON_AddArrayToObject(r, "vips");
	for (uint32_t v = 0; vips != NULL && v < cp->config->n_vips; v++) {
		struct cp_vip_runtime *rt = &cp->vip_rt[v];
		char name[ELB_DP_VIP_KEY_STR_MAX], want[ELB_TABLE_DIGEST_STR];
		cJSON *o = cJSON_CreateObject(), *dps;
		bool agree = true;
		uint32_t reporting = 0;

		if (o == NULL || !cJSON_AddItemToArray(vips, o)) {
			cJSON_Delete(o);
			break;
		}
		refresh_expected(cp, v, now);
		elb_dp_vip_key_str(&rt->key, name, sizeof(name));
		elb_table_digest_str(rt->expected_digest, want);
		cJSON_AddStringToObject(o, "vip", name);
		elb_dp_json_add_u64(o, "maglev_size", cp->config->vips[v].dp.maglev_size);
		if (rt->expected_missing)
			cJSON_AddNullToObject(o, "expected_digest");
		else
			cJSON_AddStringToObject(o, "expected_digest", want);
		dps = cJSON_AddArrayToObject(o, "dataplanes");
		for (uint32_t i = 0; dps != NULL && i < cp->n_dps; i++) {
			const struct cp_dataplane *dp = &cp->dps[i];
			const cJSON *entry = dp_vip_table(dp, name), *flow_entry;
			int a = dp_agrees(cp, v, dp);
			cJSON *d = cJSON_CreateObject();

			if (d == NULL || !cJSON_AddItemToArray(dps, d)) {
				cJSON_Delete(d);
				break;
			}
			cJSON_AddStringToObject(d, "name", dp->cfg.name);
			cJSON_AddBoolToObject(d, "connected", dp->connected);
			if (a < 0) {
				cJSON_AddNullToObject(d, "agree");
				continue;
			}
			reporting++;
			agree &= a == 1;
			cJSON_AddBoolToObject(d, "agree", a == 1);
			elb_dp_json_add_u64(
				d, "epoch",
				(uint64_t)cJSON_GetNumberValue(
					cJSON_GetObjectItemCaseSensitive(dp->tables, "snapshot_epoch")));
			elb_dp_json_add_u64(d, "pushed_generation", dp->pushed_gen);
			if (cJSON_IsString(cJSON_GetObjectItemCaseSensitive(entry, "digest")))
				cJSON_AddStringToObject(
					d, "digest",
					cJSON_GetObjectItemCaseSensitive(entry, "digest")->valuestring);
			else
				cJSON_AddNullToObject(d, "digest");
			elb_dp_json_add_u64(d, "report_age_ms", now - dp->tables_ms);
			/* Flows are counted less often (CP_DP_FLOW_COUNT_MS): their age. */
			flow_entry = dp->flow_tables != NULL
					     ? find_by(cJSON_GetObjectItemCaseSensitive(dp->flow_tables,
											"vips"),
						       "vip", name)
					     : NULL;
			if (cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(flow_entry, "flows"))) {
				cJSON_AddNumberToObject(
					d, "flows",
					cJSON_GetObjectItemCaseSensitive(flow_entry, "flows")->valuedouble);
				elb_dp_json_add_u64(d, "flows_age_ms", now - dp->flow_tables_ms);
			}
		}
		cJSON_AddBoolToObject(o, "agree", agree);
		elb_dp_json_add_u64(o, "dataplanes_reporting", reporting);
		elb_dp_json_add_u64(o, "disagreeing_for_ms",
				    rt->disagree_since_ms ? now - rt->disagree_since_ms : 0);
		cJSON_AddBoolToObject(o, "alarm", rt->disagree_alarm);
		elb_dp_json_add_u64(o, "disagreements", rt->disagreements);
		cJSON_AddItemToObject(o, "backends", balance_json(cp, v, name));
	}
	*result = r;
	return 0;
}
