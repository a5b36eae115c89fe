/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The operator socket's methods (docs/control-protocol.md), on elb_rpc.
 * Every change has one shape: read the params, build a complete new config
 * from a clone of the current one, then cp_commit (validate the whole
 * state, persist it atomically, apply it, push it). A refused change leaves
 * everything as it was: config, file, health history, dataplanes.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>

#include "cp_methods.h"

#include "cp_dataplanes.h"
#include "cp_fleet.h"
#include "cp_prefixes.h"
#include "cp_stream.h"
#include "elb_dp_api.h"
#include "elb_reasons.h"
#include "elb_tables.h"
#include "elb_version.h"
#include "elb_json.h"

#define CP_ERR_NO_VIP (-32001)
#define CP_ERR_VIP_EXISTS (-32004)
#define CP_ERR_NO_BACKEND (-32005)
#define CP_ERR_BACKEND_EXISTS (-32006)
#define CP_ERR_PERSIST (-32010)

/* As elb_dp_rpc_model_error, and a change that could not be persisted (any
 * other errno) is reported as not applied. */
static int model_error(struct elb_rpc_error *error, const struct elb_dp_err *err, int rc)
{
	if (rc != -ENOMEM && rc != -EINVAL) {
		elb_rpc_error_set(error, CP_ERR_PERSIST, NULL, "not applied: %s", err->text);
		return rc < 0 ? rc : -EINVAL;
	}
	return elb_dp_rpc_model_error(error, err, rc);
}

/* The VIP named by params' address, port and protocol: its index. */
static int find_vip(const struct cp_daemon *cp, const cJSON *params, struct elb_dp_vip_key *key,
		    struct elb_rpc_error *error)
{
	char name[ELB_DP_VIP_KEY_STR_MAX];
	struct elb_dp_err err;
	int rc = elb_dp_vip_key_from_json(params, "", key, &err), v;

	if (rc < 0)
		return model_error(error, &err, rc);
	v = cp_config_find_vip(cp_latest_config(cp), key);
	if (v < 0)
		elb_rpc_error_set(error, CP_ERR_NO_VIP, NULL, "no VIP %s",
				  elb_dp_vip_key_str(key, name, sizeof(name)));
	return v;
}

/* params' "backend" (an address), optional "weight" and (a new backend)
 * "quic_server_id", as a backend. */
static int read_backend(const cJSON *params, bool with_weight, struct elb_dp_backend *out,
			struct elb_rpc_error *error)
{
	const cJSON *addr = cJSON_GetObjectItemCaseSensitive(params, "backend");
	const cJSON *weight = cJSON_GetObjectItemCaseSensitive(params, "weight");
	const cJSON *sid = cJSON_GetObjectItemCaseSensitive(params, "quic_server_id");
	cJSON *array, *obj;
	struct elb_dp_backend *parsed = NULL;
	struct elb_dp_err err;
	uint32_t n = 0;
	int rc;

	if (!cJSON_IsString(addr)) {
		elb_rpc_error_set(error, ELB_RPC_INVALID_PARAMS, "backend",
				  "backend: must be an IPv4 or IPv6 address");
		return -EINVAL;
	}
	/* The dataplane model reads addresses and weights: hand it a one-backend
	 * array and name its members as the request does. */
	array = cJSON_CreateArray();
	obj = cJSON_CreateObject();
	if (array == NULL || obj == NULL || !cJSON_AddItemToArray(array, obj)) {
		cJSON_Delete(array);
		cJSON_Delete(obj);
		return elb_dp_rpc_nomem(error);
	}
	cJSON_AddStringToObject(obj, "address", addr->valuestring);
	if (with_weight && weight != NULL)
		cJSON_AddItemToObject(obj, "weight", cJSON_Duplicate(weight, true));
	if (sid != NULL)
		cJSON_AddItemToObject(obj, "quic_server_id", cJSON_Duplicate(sid, true));
	rc = elb_dp_backends_from_json(array, "b", &parsed, &n, &err);
	cJSON_Delete(array);
	if (rc == -EINVAL) {
		const char *field = strstr(err.field, ".weight")	   ? "weight"
				    : strstr(err.field, ".quic_server_id") ? "quic_server_id"
									   : "backend";
		const char *what = strstr(err.text, ": ");

		elb_rpc_error_set(error, ELB_RPC_INVALID_PARAMS, field, "%s: %s", field,
				  what != NULL ? what + 2 : err.text);
		return rc;
	}
	if (rc < 0)
		return elb_dp_rpc_nomem(error);
	*out = parsed[0];
	free(parsed);
	return 0;
}

static int find_backend(const struct cp_vip *vip, const struct elb_dp_backend *b)
{
	for (uint32_t i = 0; i < vip->dp.n_backends; i++)
		if (vip->dp.backends[i].family == b->family &&
		    memcmp(&vip->dp.backends[i].addr, &b->addr, sizeof(b->addr)) == 0)
			return (int)i;
	return -ENOENT;
}

/*
 * Group commit (cp_state.h): a change is validated and staged at once (a
 * refused one is answered at once, alone), and answered when the write
 * that carries it is done: by edgelb-cp's loop after each pass over the
 * operator socket, so that one fsync covers every change read in it.
 * Those are cp_defer_methods; the server settles the group before any
 * other method (a read, backend.drain, node.drain): each runs on the
 * written config, and a change cloned from it cannot drop staged ones.
 */
struct cp_waiting {
	uint64_t *tickets; /* elb_rpc_server_defer's, in request order */
	uint32_t n, cap;
};

static void group_done(struct cp_daemon *cp, int rc, const struct elb_dp_err *err)
{
	struct cp_waiting *w = cp->waiting;

	for (uint32_t i = 0; w != NULL && i < w->n; i++) {
		struct elb_rpc_error error = {0};
		cJSON *result = NULL;

		if (rc < 0) {
			model_error(&error, err, rc);
			elb_rpc_server_reply(cp->operator, w->tickets[i], NULL, &error);
			continue;
		}
		result = cJSON_CreateObject();
		if (result == NULL) {
			elb_dp_rpc_nomem(&error);
			elb_rpc_server_reply(cp->operator, w->tickets[i], NULL, &error);
			continue;
		}
		elb_dp_json_add_u64(result, "generation", cp->gen);
		elb_rpc_server_reply(cp->operator, w->tickets[i], result, NULL);
	}
	if (w != NULL)
		w->n = 0;
}

static int wait_for_group(struct cp_daemon *cp, uint64_t ticket)
{
	struct cp_waiting *w = cp->waiting;

	if (w == NULL) {
		w = calloc(1, sizeof(*w));
		if (w == NULL)
			return -ENOMEM;
		cp->waiting = w;
		cp->group_done = group_done;
	}
	if (w->n == w->cap) {
		uint32_t cap = w->cap != 0 ? w->cap * 2 : 64;
		uint64_t *bigger = realloc(w->tickets, cap * sizeof(*bigger));

		if (bigger == NULL)
			return -ENOMEM;
		w->tickets = bigger;
		w->cap = cap;
	}
	w->tickets[w->n++] = ticket;
	return 0;
}

void cp_methods_settle(void *ctx)
{
	struct cp_daemon *cp = ctx;
	struct elb_dp_err err;

	/* A failure is answered to the group's requests (group_done). */
	cp_commit_staged(cp, cp_now_ms(), &err);
}

void cp_methods_free(struct cp_daemon *cp)
{
	if (cp->waiting != NULL)
		free(cp->waiting->tickets);
	free(cp->waiting);
	cp->waiting = NULL;
	cp->group_done = NULL;
}

/* Stage next (built from cp_latest_config) and answer once it is written;
 * may_defer false (a change whose answer needs the applied state): written
 * now, with the group before it. */
static int commit(struct cp_daemon *cp, struct cp_config *next, bool may_defer, cJSON **result,
		  struct elb_rpc_error *error)
{
	uint64_t ticket = may_defer && cp->operator != NULL ? elb_rpc_server_defer(cp->operator) : 0;
	struct elb_dp_err err;
	int rc = cp_stage(cp, next, &err);

	if (rc < 0)
		return model_error(error, &err, rc);
	if (ticket != 0 && wait_for_group(cp, ticket) == 0)
		return ELB_RPC_DEFERRED;
	rc = cp_commit_staged(cp, cp_now_ms(), &err);
	if (rc < 0)
		return model_error(error, &err, rc);
	*result = cJSON_CreateObject();
	if (*result == NULL)
		return elb_dp_rpc_nomem(error);
	elb_dp_json_add_u64(*result, "generation", cp->gen);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Reading */

static cJSON *vip_summary(const struct cp_daemon *cp, uint32_t v)
{
	const struct cp_vip *vip = &cp->config->vips[v];
	char name[ELB_DP_VIP_KEY_STR_MAX];
	uint32_t up = 0, draining = 0;
	cJSON *o = cJSON_CreateObject();

	if (o == NULL)
		return NULL;
	for (uint32_t b = 0; b < vip->dp.n_backends; b++) {
		up += cp_hc_in_service(&cp->targets[cp->target_base[v] + b]->state);
		draining += vip->dp.backends[b].state == ELB_DP_BACKEND_DRAINING;
	}
	cJSON_AddStringToObject(o, "vip", elb_dp_vip_key_str(&vip->dp.key, name, sizeof(name)));
	cJSON_AddNumberToObject(o, "backends", vip->dp.n_backends);
	cJSON_AddNumberToObject(o, "healthy", up);
	cJSON_AddNumberToObject(o, "draining", draining);
	cJSON_AddStringToObject(o, "health_check",
				vip->hc.type == CP_HC_NONE ? "none"
				: vip->hc.type == CP_HC_TCP ? "tcp"
							    : "http");
	cJSON_AddBoolToObject(o, "all_down", cp->vip_rt[v].all_down);
	cJSON_AddNumberToObject(o, "slo_availability", vip->slo_availability);
	return o;
}

/* The start of a method that takes no params and answers {name: [...]}:
 * *result is that object, *list its empty array. */
static int list_result(const cJSON *params, const char *name, cJSON **result, cJSON **list,
		       struct elb_rpc_error *error)
{
	static const char *const known[] = {NULL};
	int rc = elb_dp_rpc_check_params(params, known, error);

	if (rc < 0)
		return rc;
	*result = cJSON_CreateObject();
	*list = cJSON_AddArrayToObject(*result, name);
	if (*list == NULL)
		return elb_dp_rpc_nomem(error);
	return 0;
}

/* The result of a method without params: {"vips": [one(cp, v) per VIP]}. */
static int per_vip_result(const struct cp_daemon *cp, const cJSON *params,
			  cJSON *(*one)(const struct cp_daemon *cp, uint32_t v), cJSON **result,
			  struct elb_rpc_error *error)
{
	cJSON *vips;
	int rc = list_result(params, "vips", result, &vips, error);

	if (rc < 0)
		return rc;
	for (uint32_t v = 0; v < cp->config->n_vips; v++)
		cJSON_AddItemToArray(vips, one(cp, v));
	return 0;
}

/* vip.list's entry: the summary and the VIP's admission control, so that
 * one call shows which VIPs are limited and how. */
static cJSON *vip_list_entry(const struct cp_daemon *cp, uint32_t v)
{
	cJSON *o = vip_summary(cp, v);
	cJSON *admission = elb_dp_admission_to_json(&cp->config->vips[v].dp.admission);

	if (o == NULL || admission == NULL || !cJSON_AddItemToObject(o, "admission", admission)) {
		cJSON_Delete(admission);
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

static int m_vip_list(void *ctx, const cJSON *params, cJSON **result, struct elb_rpc_error *error)
{
	return per_vip_result(ctx, params, vip_list_entry, result, error);
}

static cJSON *backend_health(const struct cp_daemon *cp, uint32_t v, uint32_t b)
{
	const struct cp_target *t = cp->targets[cp->target_base[v] + b];
	const struct elb_dp_backend *be = &cp->config->vips[v].dp.backends[b];
	char addr[64];
	cJSON *o = cJSON_CreateObject();

	if (o == NULL)
		return NULL;
	cJSON_AddStringToObject(o, "address", elb_addr_format(&be->addr, be->family, addr, sizeof(addr)));
	cJSON_AddStringToObject(o, "state",
				be->state == ELB_DP_BACKEND_DRAINING ? "draining" : "active");
	cJSON_AddNumberToObject(o, "weight", be->weight);
	cJSON_AddStringToObject(o, "health", cp_hc_status_name(t->state.status));
	cJSON_AddBoolToObject(o, "pushed", cp->vip_rt[v].all_down ? t->in_last_set
								  : cp_hc_in_service(&t->state));
	elb_dp_json_add_u64(o, "checks", t->state.checks);
	elb_dp_json_add_u64(o, "failures", t->state.failures);
	cJSON_AddNumberToObject(o, "pass_streak", t->state.pass_streak);
	cJSON_AddNumberToObject(o, "fail_streak", t->state.fail_streak);
	elb_dp_json_add_u64(o, "transitions", t->state.transitions);
	cJSON_AddNumberToObject(o, "last_rtt_ms", t->probe.last_rtt_ms);
	cJSON_AddStringToObject(o, "last_error", t->state.last_error);
	cp_fleet_backend_json(cp, v, b, o);
	return o;
}

static cJSON *vip_health(const struct cp_daemon *cp, uint32_t v)
{
	cJSON *o = vip_summary(cp, v), *backends;

	if (o == NULL)
		return NULL;
	elb_dp_json_add_u64(o, "all_down_alarms", cp->vip_rt[v].all_down_alarms);
	backends = cJSON_AddArrayToObject(o, "backend_health");
	for (uint32_t b = 0; backends != NULL && b < cp->config->vips[v].dp.n_backends; b++)
		cJSON_AddItemToArray(backends, backend_health(cp, v, b));
	return o;
}

/* A config's or VIP's JSON for the peer being answered: QUIC keys are
 * secrets, shown as their key checks to a peer that may only read
 * (elb_dp_config_json_redact). NULL (out of memory) stays NULL. */
static cJSON *redacted_for_caller(const struct cp_daemon *cp, cJSON *json)
{
	if (json != NULL && cp->operator != NULL &&
	    !elb_rpc_server_caller_may_write(cp->operator) && elb_dp_config_json_redact(json) < 0) {
		cJSON_Delete(json);
		return NULL;
	}
	return json;
}

static int m_vip_get(void *ctx, const cJSON *params, cJSON **result, struct elb_rpc_error *error)
{
	static const char *const known[] = {"address", "port", "protocol", NULL};
	struct cp_daemon *cp = ctx;
	struct elb_dp_vip_key key;
	int rc = elb_dp_rpc_check_params(params, known, error), v;

	if (rc < 0)
		return rc;
	v = find_vip(cp, params, &key, error);
	if (v < 0)
		return v;
	*result = cJSON_CreateObject();
	if (*result == NULL)
		return elb_dp_rpc_nomem(error);
	cJSON_AddItemToObject(*result, "config",
			      redacted_for_caller(cp, cp_vip_to_json(&cp->config->vips[v])));
	cJSON_AddItemToObject(*result, "health", vip_health(cp, v));
	return 0;
}

static int m_health_get(void *ctx, const cJSON *params, cJSON **result,
			struct elb_rpc_error *error)
{
	struct cp_daemon *cp = ctx;
	int rc = per_vip_result(cp, params, vip_health, result, error);

	if (rc == 0)
		elb_dp_json_add_u64(*result, "transitions", cp->health_transitions);
	return rc;
}

static int m_config_get(void *ctx, const cJSON *params, cJSON **result,
			struct elb_rpc_error *error)
{
	static const char *const known[] = {NULL};
	struct cp_daemon *cp = ctx;
	int rc = elb_dp_rpc_check_params(params, known, error);

	if (rc < 0)
		return rc;
	*result = cJSON_CreateObject();
	if (*result == NULL)
		return elb_dp_rpc_nomem(error);
	elb_dp_json_add_u64(*result, "generation", cp->gen);
	cJSON_AddItemToObject(*result, "config",
			      redacted_for_caller(cp, cp_config_to_json(cp->config)));
	cJSON_AddItemToObject(*result, "pushed",
			      redacted_for_caller(cp, elb_dp_config_to_json(cp->desired)));
	return 0;
}

/* The same shape as a dataplane's ping: which build, which protocol. */
/* ping: the RPC server writes "pong" and "version" around these. */
int cp_ping_describe(void *ctx, cJSON *result)
{
	const struct cp_daemon *cp = ctx;

	if (cJSON_AddStringToObject(result, "controlplane", "edgelb-cp") == NULL ||
	    elb_dp_json_add_u64(result, "generation", cp->gen) == NULL ||
	    cJSON_AddNumberToObject(result, "protocol", ELB_DP_PROTOCOL_VERSION) == NULL)
		return -ENOMEM;
	return 0;
}

/* status.get: the daemon's figures; the RPC server adds its own "control". */
int cp_status_describe(void *ctx, cJSON *result)
{
	const struct cp_daemon *cp = ctx;
	uint32_t in_sync = 0, prefixes_in_sync = 0;

	for (uint32_t i = 0; i < cp->n_dps; i++) {
		in_sync += cp->dps[i].connected && cp->dps[i].pushed_gen == cp->gen;
		prefixes_in_sync += cp->dps[i].connected &&
				    cp->dps[i].prefixes_gen == cp->prefixes->generation;
	}
	if (cJSON_AddStringToObject(result, "controlplane", "edgelb-cp") == NULL ||
	    elb_dp_json_add_u64(result, "generation", cp->gen) == NULL ||
	    elb_dp_json_add_u64(result, "uptime_ms", cp_now_ms() - cp->started_ms) == NULL ||
	    elb_dp_json_add_u64(result, "changes", cp->changes) == NULL ||
	    elb_dp_json_add_u64(result, "persist_failures", cp->persist_failures) == NULL ||
	    elb_dp_json_add_u64(result, "config_writes", cp->config_writes) == NULL ||
	    elb_dp_json_add_u64(result, "prefixes_generation", cp->prefixes->generation) == NULL ||
	    elb_dp_json_add_u64(result, "prefix_rules", elb_prefix_set_rules(cp->prefixes)) == NULL ||
	    elb_dp_json_add_u64(result, "prefix_writes", cp->prefix_writes) == NULL ||
	    elb_dp_json_add_u64(result, "health_transitions", cp->health_transitions) == NULL ||
	    elb_dp_json_add_u64(result, "dataplanes", cp->n_dps) == NULL ||
	    elb_dp_json_add_u64(result, "dataplanes_in_sync", in_sync) == NULL ||
	    elb_dp_json_add_u64(result, "dataplanes_prefixes_in_sync", prefixes_in_sync) == NULL)
		return -ENOMEM;
	return 0;
}

static int m_dataplanes_get(void *ctx, const cJSON *params, cJSON **result,
			    struct elb_rpc_error *error)
{
	struct cp_daemon *cp = ctx;
	uint64_t now = cp_now_ms();
	cJSON *dps;
	int rc = list_result(params, "dataplanes", result, &dps, error);

	if (rc < 0)
		return rc;
	elb_dp_json_add_u64(*result, "generation", cp->gen);
	elb_dp_json_add_u64(*result, "prefixes_generation", cp->prefixes->generation);
	for (uint32_t i = 0; i < cp->n_dps; i++) {
		const struct cp_dataplane *dp = &cp->dps[i];
		cJSON *o = cJSON_CreateObject();

		if (o == NULL || !cJSON_AddItemToArray(dps, o)) {
			cJSON_Delete(o);
			return elb_dp_rpc_nomem(error);
		}
		cJSON_AddStringToObject(o, "name", dp->cfg.name);
		cJSON_AddStringToObject(o, "socket", dp->cfg.socket);
		cJSON_AddBoolToObject(o, "connected", dp->connected);
		/* managed: connected and speaking our protocol; refused: it
		 * speaks another (last_error says which); connecting: no
		 * answer to our ping yet. */
		cJSON_AddStringToObject(o, "state", !dp->connected ? "disconnected"
						    : dp->protocol_ok ? "managed"
						    : dp->refused     ? "refused"
								      : "connecting");
		if (dp->protocol > 0)
			cJSON_AddNumberToObject(o, "protocol", dp->protocol);
		else
			cJSON_AddNullToObject(o, "protocol");
		cJSON_AddStringToObject(o, "version", dp->version);
		cJSON_AddStringToObject(o, "instance", dp->instance);
		elb_dp_json_add_u64(o, "last_push_epoch", dp->dp_epoch);
		elb_dp_json_add_u64(o, "pushed_generation", dp->pushed_gen);
		cJSON_AddBoolToObject(o, "in_sync", dp->connected && dp->pushed_gen == cp->gen);
		if (dp->last_push_ms != 0)
			elb_dp_json_add_u64(o, "last_push_age_ms", now - dp->last_push_ms);
		elb_dp_json_add_u64(o, "connects", dp->connects);
		elb_dp_json_add_u64(o, "disconnects", dp->disconnects);
		elb_dp_json_add_u64(o, "restarts", dp->restarts);
		elb_dp_json_add_u64(o, "pushes", dp->pushes);
		elb_dp_json_add_u64(o, "push_failures", dp->push_failures);
		cJSON_AddStringToObject(o, "last_error", dp->last_error);
		/* The prefix lists, pushed apart (prefixes.set): the generation it
		 * accepted, and its last refusal ("" since it took one). */
		elb_dp_json_add_u64(o, "prefixes_generation", dp->prefixes_gen);
		cJSON_AddBoolToObject(o, "prefixes_in_sync", dp->connected &&
						  dp->prefixes_gen == cp->prefixes->generation);
		elb_dp_json_add_u64(o, "prefix_pushes", dp->prefix_pushes);
		elb_dp_json_add_u64(o, "prefix_push_failures", dp->prefix_push_failures);
		cJSON_AddStringToObject(o, "prefixes_error", dp->prefixes_error);
	}
	return 0;
}

/* Add the numbers of src into acc, member by member (objects recursively;
 * arrays and strings are not summed). */
static void sum_into(cJSON *acc, const cJSON *src)
{
	const cJSON *s;

	cJSON_ArrayForEach(s, src)
	{
		cJSON *a;

		if (s->string == NULL || !(cJSON_IsNumber(s) || cJSON_IsObject(s)))
			continue;
		a = cJSON_GetObjectItemCaseSensitive(acc, s->string);
		if (a == NULL) {
			a = cJSON_IsNumber(s) ? cJSON_CreateNumber(0) : cJSON_CreateObject();
			if (a == NULL || !cJSON_AddItemToObject(acc, s->string, a)) {
				cJSON_Delete(a);
				continue;
			}
		}
		if (cJSON_IsNumber(s) && cJSON_IsNumber(a))
			cJSON_SetNumberValue(a, a->valuedouble + s->valuedouble);
		else if (cJSON_IsObject(s) && cJSON_IsObject(a))
			sum_into(a, s);
	}
}

static void add_number(cJSON *acc, const char *name, const cJSON *src)
{
	cJSON *a = cJSON_GetObjectItemCaseSensitive(acc, name);

	if (cJSON_IsNumber(a) && cJSON_IsNumber(src))
		cJSON_SetNumberValue(a, a->valuedouble + src->valuedouble);
}

static cJSON *slo_json(const struct cp_daemon *cp, uint32_t v)
{
	static const struct {
		const char *name;
		uint64_t ms;
	} windows[] = {{"1m", 60000}, {"5m", 300000}, {"1h", 3600000}};
	const struct cp_slo *slo = &cp->vip_rt[v].slo;
	double objective = cp->config->vips[v].slo_availability;
	uint64_t now = cp_now_ms();
	cJSON *o = cJSON_CreateObject(), *av, *covered, *met, *budget;

	if (o == NULL)
		return NULL;
	cJSON_AddNumberToObject(o, "objective", objective);
	cJSON_AddNumberToObject(o, "forwarded_pps", slo->forwarded_pps);
	cJSON_AddNumberToObject(o, "forwarded_bytes_per_s", slo->forwarded_bytes_per_s);
	cJSON_AddNumberToObject(o, "rate_limited_pps", slo->rate_limited_pps);
	cJSON_AddNumberToObject(o, "new_flows_per_s", slo->new_flows_per_s);
	av = cJSON_AddObjectToObject(o, "availability");
	covered = cJSON_AddObjectToObject(o, "window_covered_s");
	met = cJSON_AddObjectToObject(o, "meets_objective");
	budget = cJSON_AddObjectToObject(o, "error_budget_left");
	for (size_t i = 0; av != NULL && covered != NULL && met != NULL && budget != NULL &&
			   i < sizeof(windows) / sizeof(windows[0]);
	     i++) {
		uint64_t covered_ms;
		double a = cp_slo_availability(slo, now, windows[i].ms, &covered_ms);

		/* null: no packet offered in the window, nothing to judge. */
		if (a < 0) {
			cJSON_AddNullToObject(av, windows[i].name);
			cJSON_AddNullToObject(met, windows[i].name);
			cJSON_AddNullToObject(budget, windows[i].name);
		} else {
			cJSON_AddNumberToObject(av, windows[i].name, a);
			cJSON_AddBoolToObject(met, windows[i].name, a >= objective);
			cJSON_AddNumberToObject(budget, windows[i].name,
						cp_slo_budget_left(a, objective));
		}
		cJSON_AddNumberToObject(covered, windows[i].name, (double)covered_ms / 1000.0);
	}
	return o;
}

/* Each configured backend of VIP v with its counters summed over the
 * dataplanes' reports of `dvs` (their entries for this VIP). */
static cJSON *backend_counters(const struct cp_daemon *cp, uint32_t v, const cJSON *const *dvs,
			       uint32_t n_dvs)
{
	const struct cp_vip *vip = &cp->config->vips[v];
	cJSON *list = cJSON_CreateArray();

	for (uint32_t b = 0; list != NULL && b < vip->dp.n_backends; b++) {
		const struct elb_dp_backend *be = &vip->dp.backends[b];
		const struct cp_target *t = cp->targets[cp->target_base[v] + b];
		cJSON *o = cJSON_CreateObject(), *fwd;
		char addr[64];

		if (o == NULL || !cJSON_AddItemToArray(list, o)) {
			cJSON_Delete(o);
			cJSON_Delete(list);
			return NULL;
		}
		elb_addr_format(&be->addr, be->family, addr, sizeof(addr));
		cJSON_AddStringToObject(o, "address", addr);
		cJSON_AddStringToObject(o, "state",
					be->state == ELB_DP_BACKEND_DRAINING ? "draining" : "active");
		cJSON_AddNumberToObject(o, "weight", be->weight);
		cJSON_AddStringToObject(o, "health", cp_hc_status_name(t->state.status));
		fwd = cJSON_AddObjectToObject(o, "forwarded");
		cJSON_AddNumberToObject(fwd, "packets", 0);
		cJSON_AddNumberToObject(fwd, "bytes", 0);
		cJSON_AddNumberToObject(o, "new_flows", 0);
		/* Only the counters: weight and state are the configured ones. */
		for (uint32_t i = 0; i < n_dvs; i++) {
			const cJSON *db;

			cJSON_ArrayForEach(db, cJSON_GetObjectItemCaseSensitive(dvs[i], "backends"))
			{
				const cJSON *a = cJSON_GetObjectItemCaseSensitive(db, "address");

				if (!cJSON_IsString(a) || strcmp(a->valuestring, addr) != 0)
					continue;
				sum_into(fwd, cJSON_GetObjectItemCaseSensitive(db, "forwarded"));
				add_number(o, "new_flows",
					   cJSON_GetObjectItemCaseSensitive(db, "new_flows"));
			}
		}
	}
	return list;
}

/* The counters a VIP reports, at zero: the shape stays the same whether or
 * not a dataplane has reported yet. */
static void add_zero_counters(cJSON *o)
{
	static const char *const pairs[] = {"rx", "forwarded"};
	cJSON *drops, *flood, *prefixes;

	for (size_t i = 0; i < 2; i++) {
		cJSON *p = cJSON_AddObjectToObject(o, pairs[i]);

		cJSON_AddNumberToObject(p, "packets", 0);
		cJSON_AddNumberToObject(p, "bytes", 0);
	}
	cJSON_AddNumberToObject(o, "new_flows", 0);
	cJSON_AddNumberToObject(o, "rate_limited_flows", 0);
	cJSON_AddNumberToObject(o, "too_big_replies", 0);
	prefixes = cJSON_AddObjectToObject(o, "prefixes");
	for (size_t i = 0; prefixes != NULL && i < 2; i++) {
		cJSON *scope = cJSON_AddObjectToObject(prefixes, i == 0 ? "vip" : "node");

		cJSON_AddNumberToObject(scope, "allowed", 0);
		cJSON_AddNumberToObject(scope, "denied", 0);
	}
	flood = cJSON_AddObjectToObject(o, "flood");
	cJSON_AddNumberToObject(flood, "workers_active", 0);
	cJSON_AddNumberToObject(flood, "entries", 0);
	cJSON_AddNumberToObject(flood, "stateless_flows", 0);
	drops = cJSON_AddObjectToObject(o, "drops");
	for (int r = 1; drops != NULL && r < ELB_REASON_COUNT; r++) /* 0 is "none" */
		cJSON_AddNumberToObject(drops, elb_reason_name((enum elb_reason)r), 0);
}

cJSON *cp_counters_json(const struct cp_daemon *cp)
{
	const cJSON *dvs[CP_MAX_DATAPLANES];
	cJSON *out = cJSON_CreateObject(), *vips;
	uint32_t reporting = 0, n_dvs;

	vips = cJSON_AddArrayToObject(out, "vips");
	if (vips == NULL) {
		cJSON_Delete(out);
		return NULL;
	}
	for (uint32_t i = 0; i < cp->n_dps; i++)
		reporting += cp->dps[i].counters != NULL;
	cJSON_AddNumberToObject(out, "dataplanes_reporting", reporting);
	for (uint32_t v = 0; v < cp->config->n_vips; v++) {
		char name[ELB_DP_VIP_KEY_STR_MAX];
		cJSON *o = vip_summary(cp, v);

		if (o == NULL || !cJSON_AddItemToArray(vips, o)) {
			cJSON_Delete(o);
			cJSON_Delete(out);
			return NULL;
		}
		elb_dp_vip_key_str(&cp->config->vips[v].dp.key, name, sizeof(name));
		add_zero_counters(o);
		n_dvs = 0;
		for (uint32_t i = 0; i < cp->n_dps; i++) {
			const cJSON *dv, *list;

			if (cp->dps[i].counters == NULL)
				continue;
			list = cJSON_GetObjectItemCaseSensitive(cp->dps[i].counters, "vips");
			cJSON_ArrayForEach(dv, list)
			{
				const cJSON *n = cJSON_GetObjectItemCaseSensitive(dv, "vip");

				if (cJSON_IsString(n) && strcmp(n->valuestring, name) == 0) {
					sum_into(o, dv);
					dvs[n_dvs++] = dv; /* one entry per VIP per dataplane */
					break;
				}
			}
		}
		cJSON_AddItemToObject(o, "backend_counters", backend_counters(cp, v, dvs, n_dvs));
		cJSON_AddItemToObject(o, "slo", slo_json(cp, v));
	}
	return out;
}

static int m_counters_get(void *ctx, const cJSON *params, cJSON **result,
			  struct elb_rpc_error *error)
{
	static const char *const known[] = {NULL};
	int rc = elb_dp_rpc_check_params(params, known, error);

	if (rc < 0)
		return rc;
	*result = cp_counters_json(ctx);
	return *result != NULL ? 0 : elb_dp_rpc_nomem(error);
}

static int read_bool(const cJSON *params, const char *name, bool fallback, bool *out,
		     struct elb_rpc_error *error)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(params, name);

	if (item == NULL) {
		*out = fallback;
		return 0;
	}
	if (!cJSON_IsBool(item)) {
		elb_rpc_error_set(error, ELB_RPC_INVALID_PARAMS, name, "%s: must be true or false",
				  name);
		return -EINVAL;
	}
	*out = cJSON_IsTrue(item);
	return 0;
}

static int m_subscribe(void *ctx, const cJSON *params, cJSON **result, struct elb_rpc_error *error)
{
	static const char *const known[] = {"interval_ms", "snapshots", "events", NULL};
	const cJSON *interval = cJSON_GetObjectItemCaseSensitive(params, "interval_ms");
	uint32_t interval_ms = CP_SUB_DEFAULT_INTERVAL_MS;
	bool snapshots, events;
	int rc = elb_dp_rpc_check_params(params, known, error);

	if (rc < 0)
		return rc;
	if (interval != NULL) {
		if (!cJSON_IsNumber(interval) || interval->valuedouble != (double)(int64_t)interval->valuedouble ||
		    interval->valuedouble < CP_SUB_MIN_INTERVAL_MS ||
		    interval->valuedouble > CP_SUB_MAX_INTERVAL_MS) {
			elb_rpc_error_set(error, ELB_RPC_INVALID_PARAMS, "interval_ms",
					  "interval_ms: must be an integer in %u..%u",
					  CP_SUB_MIN_INTERVAL_MS, CP_SUB_MAX_INTERVAL_MS);
			return -EINVAL;
		}
		interval_ms = (uint32_t)interval->valuedouble;
	}
	rc = read_bool(params, "snapshots", true, &snapshots, error);
	if (rc == 0)
		rc = read_bool(params, "events", true, &events, error);
	if (rc == 0 && !snapshots && !events) {
		elb_rpc_error_set(error, ELB_RPC_INVALID_PARAMS, "snapshots",
				  "snapshots: a subscription needs snapshots or events");
		rc = -EINVAL;
	}
	if (rc == 0)
		rc = cp_subscribe(ctx, interval_ms, snapshots, events, error);
	if (rc < 0)
		return rc;
	*result = cJSON_CreateObject();
	if (*result == NULL)
		return elb_dp_rpc_nomem(error);
	cJSON_AddNumberToObject(*result, "interval_ms", interval_ms);
	cJSON_AddBoolToObject(*result, "snapshots", snapshots);
	cJSON_AddBoolToObject(*result, "events", events);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Changes */

static struct cp_config *clone_or_fail(const struct cp_daemon *cp, struct elb_rpc_error *error)
{
	struct cp_config *next = cp_config_clone(cp_latest_config(cp));

	if (next == NULL)
		elb_dp_rpc_nomem(error);
	return next;
}

/* Insert or replace VIP v of next (v == n_vips: append) by vip. */
static int put_vip(struct cp_config *next, int v, struct cp_vip *vip)
{
	if (v < 0) {
		struct cp_vip *grown = realloc(next->vips, (next->n_vips + 1) * sizeof(*grown));

		if (grown == NULL)
			return -ENOMEM;
		next->vips = grown;
		next->vips[next->n_vips++] = *vip;
		return 0;
	}
	elb_dp_vip_release(&next->vips[v].dp);
	next->vips[v] = *vip;
	return 0;
}

static int preview_change(struct cp_daemon *cp, int v, struct cp_config *next, cJSON **result,
			  struct elb_rpc_error *error);

/* vip.add, vip.update, and vip.preview (an update reported, not applied). */
static int vip_add_or_update(struct cp_daemon *cp, const cJSON *params, bool add, bool preview,
			     cJSON **result, struct elb_rpc_error *error)
{
	char name[ELB_DP_VIP_KEY_STR_MAX];
	struct cp_config *next;
	struct elb_dp_err err;
	struct cp_vip vip;
	int rc, v;

	rc = cp_vip_from_json(params, "", &vip, &err);
	if (rc < 0)
		return model_error(error, &err, rc);
	v = cp_config_find_vip(cp_latest_config(cp), &vip.dp.key);
	elb_dp_vip_key_str(&vip.dp.key, name, sizeof(name));
	if (add && v >= 0) {
		elb_dp_vip_release(&vip.dp);
		elb_rpc_error_set(error, CP_ERR_VIP_EXISTS, NULL, "VIP %s exists", name);
		return -EEXIST;
	}
	if (!add && v < 0) {
		elb_dp_vip_release(&vip.dp);
		elb_rpc_error_set(error, CP_ERR_NO_VIP, NULL, "no VIP %s", name);
		return -ENOENT;
	}
	next = clone_or_fail(cp, error);
	if (next == NULL) {
		elb_dp_vip_release(&vip.dp);
		return -ENOMEM;
	}
	/* An update replaces the settings; the backends stay unless given. */
	if (!add && cJSON_GetObjectItemCaseSensitive(params, "backends") == NULL) {
		elb_dp_vip_release(&vip.dp); /* the empty set it was given */
		vip.dp.n_backends = 0;
		vip.dp.backends = NULL;
		if (next->vips[v].dp.n_backends > 0) {
			vip.dp.backends = next->vips[v].dp.backends;
			vip.dp.n_backends = next->vips[v].dp.n_backends;
			next->vips[v].dp.backends = NULL;
			next->vips[v].dp.n_backends = 0;
		}
	}
	if (put_vip(next, v, &vip) < 0) {
		elb_dp_vip_release(&vip.dp);
		cp_config_free(next);
		return elb_dp_rpc_nomem(error);
	}
	if (preview)
		return preview_change(cp, v, next, result, error);
	return commit(cp, next, true, result, error);
}

static int m_vip_add(void *ctx, const cJSON *params, cJSON **result, struct elb_rpc_error *error)
{
	return vip_add_or_update(ctx, params, true, false, result, error);
}

/* vip.preview: what vip.update with these params would move; nothing is
 * applied. A whole proposed backend list (or new weights, states, table
 * size) at once. */
static int m_vip_preview(void *ctx, const cJSON *params, cJSON **result,
			 struct elb_rpc_error *error)
{
	return vip_add_or_update(ctx, params, false, true, result, error);
}

static int m_vip_update(void *ctx, const cJSON *params, cJSON **result,
			struct elb_rpc_error *error)
{
	return vip_add_or_update(ctx, params, false, false, result, error);
}

static int m_vip_remove(void *ctx, const cJSON *params, cJSON **result,
			struct elb_rpc_error *error)
{
	static const char *const known[] = {"address", "port", "protocol", NULL};
	struct cp_daemon *cp = ctx;
	struct elb_dp_vip_key key;
	struct cp_config *next;
	int rc = elb_dp_rpc_check_params(params, known, error), v;

	if (rc < 0)
		return rc;
	v = find_vip(cp, params, &key, error);
	if (v < 0)
		return v;
	next = clone_or_fail(cp, error);
	if (next == NULL)
		return -ENOMEM;
	elb_dp_vip_release(&next->vips[v].dp);
	memmove(&next->vips[v], &next->vips[v + 1],
		(next->n_vips - (uint32_t)v - 1) * sizeof(*next->vips));
	next->n_vips--;
	return commit(cp, next, true, result, error);
}

/* backend.drain's timeout_ms (default: fleet.drain_timeout_ms) and
 * remove_when_drained (default false). */
static int read_drain_params(const cJSON *params, uint32_t *timeout_ms, bool *remove,
			     struct elb_rpc_error *error)
{
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(params, "timeout_ms");
	const cJSON *r = cJSON_GetObjectItemCaseSensitive(params, "remove_when_drained");

	if (t != NULL && (!cJSON_IsNumber(t) || t->valuedouble < CP_DRAIN_TIMEOUT_MS_MIN ||
			  t->valuedouble > CP_DRAIN_TIMEOUT_MS_MAX ||
			  t->valuedouble != (double)(uint32_t)t->valuedouble)) {
		elb_rpc_error_set(error, ELB_RPC_INVALID_PARAMS, "timeout_ms",
				  "timeout_ms: must be an integer in %u..%u", CP_DRAIN_TIMEOUT_MS_MIN,
				  CP_DRAIN_TIMEOUT_MS_MAX);
		return -EINVAL;
	}
	if (r != NULL && !cJSON_IsBool(r)) {
		elb_rpc_error_set(error, ELB_RPC_INVALID_PARAMS, "remove_when_drained",
				  "remove_when_drained: must be a boolean");
		return -EINVAL;
	}
	*timeout_ms = t != NULL ? (uint32_t)t->valuedouble : 0;
	*remove = cJSON_IsTrue(r);
	return 0;
}

/* Flows on a backend summed over the dataplanes' last vip.tables;
 * *complete false when a dataplane did not report. */
static uint64_t flows_on(const struct cp_daemon *cp, const char *vip_name, const char *addr,
			 bool *complete)
{
	uint64_t sum = 0;

	for (uint32_t i = 0; i < cp->n_dps; i++) {
		const struct cp_dataplane *dp = &cp->dps[i];
		const cJSON *vips, *v, *bs, *b;
		bool found = false;

		if (!dp->connected || dp->flow_tables == NULL) {
			*complete = false;
			continue;
		}
		vips = cJSON_GetObjectItemCaseSensitive(dp->flow_tables, "vips");
		cJSON_ArrayForEach(v, vips)
		{
			const cJSON *n = cJSON_GetObjectItemCaseSensitive(v, "vip");

			if (!cJSON_IsString(n) || strcmp(n->valuestring, vip_name) != 0)
				continue;
			bs = cJSON_GetObjectItemCaseSensitive(v, "backends");
			cJSON_ArrayForEach(b, bs)
			{
				const cJSON *a = cJSON_GetObjectItemCaseSensitive(b, "address");
				const cJSON *f = cJSON_GetObjectItemCaseSensitive(b, "flows");

				if (!found && cJSON_IsString(a) && strcmp(a->valuestring, addr) == 0 &&
				    cJSON_IsNumber(f)) {
					sum += (uint64_t)f->valuedouble;
					found = true;
				}
			}
		}
	}
	return sum;
}

static cJSON *preview_side(bool in, uint32_t weight, uint8_t state, uint32_t slots, uint32_t size)
{
	cJSON *o;

	if (!in)
		return cJSON_CreateNull();
	o = cJSON_CreateObject();
	if (o == NULL)
		return NULL;
	elb_dp_json_add_u64(o, "weight", weight);
	cJSON_AddStringToObject(o, "state", state == ELB_DP_BACKEND_DRAINING ? "draining" : "active");
	elb_dp_json_add_u64(o, "slots", slots);
	cJSON_AddNumberToObject(o, "share", (double)slots / size);
	return o;
}

/*
 * What committing next would do to VIP v's table: the old table is the one
 * the dataplanes have (the desired state), the new one what they would get
 * (next's backends that are in service: those that stay keep their health,
 * new ones start in service), both built by the dataplanes' code.
 */
static int preview_result(struct cp_daemon *cp, int v, const struct cp_config *next,
			  cJSON **result, struct elb_rpc_error *error)
{
	const struct cp_vip *nv = &next->vips[v];
	const struct cp_vip *cv = &cp->config->vips[v];
	int d = cp->desired != NULL ? elb_dp_config_find_vip(cp->desired, &nv->dp.key) : -1;
	struct elb_dp_vip new_vip = nv->dp;
	struct elb_preview pv;
	char name[ELB_DP_VIP_KEY_STR_MAX], addr[64];
	uint64_t repicked = 0;
	bool complete = cp->n_dps > 0;
	cJSON *r, *backends;
	int rc;

	new_vip.backends = calloc((size_t)nv->dp.n_backends + 1, sizeof(*new_vip.backends));
	if (new_vip.backends == NULL)
		return elb_dp_rpc_nomem(error);
	new_vip.n_backends = 0;
	for (uint32_t b = 0; b < nv->dp.n_backends; b++) {
		int old = find_backend(cv, &nv->dp.backends[b]);

		if (old < 0 || cp_backend_pushed(cp, (uint32_t)v, (uint32_t)old))
			new_vip.backends[new_vip.n_backends++] = nv->dp.backends[b];
	}
	rc = elb_table_preview(d >= 0 ? &cp->desired->vips[d] : NULL, &new_vip, &pv);
	free(new_vip.backends);
	if (rc < 0)
		return rc == -ENOMEM ? elb_dp_rpc_nomem(error)
				     : (elb_rpc_error_set(error, ELB_RPC_INTERNAL_ERROR, NULL,
							  "the tables could not be built"),
					rc);
	r = cJSON_CreateObject();
	if (r == NULL) {
		elb_preview_release(&pv);
		return elb_dp_rpc_nomem(error);
	}
	elb_dp_vip_key_str(&nv->dp.key, name, sizeof(name));
	cJSON_AddStringToObject(r, "vip", name);
	elb_dp_json_add_u64(r, "maglev_size", pv.size);
	elb_dp_json_add_u64(r, "moved_slots", pv.moved_slots);
	cJSON_AddNumberToObject(r, "moved_fraction", pv.moved_fraction);
	backends = cJSON_AddArrayToObject(r, "backends");
	for (uint32_t i = 0; backends != NULL && i < pv.n_backends; i++) {
		const struct elb_preview_backend *pb = &pv.backends[i];
		bool leaves = pb->in_old && !pb->in_new;
		uint64_t flows;
		cJSON *o = cJSON_CreateObject();

		if (o == NULL || !cJSON_AddItemToArray(backends, o)) {
			cJSON_Delete(o);
			break;
		}
		elb_addr_format(&pb->addr, pb->family, addr, sizeof(addr));
		flows = flows_on(cp, name, addr, &complete);
		cJSON_AddStringToObject(o, "address", addr);
		cJSON_AddItemToObject(o, "old", preview_side(pb->in_old, pb->old_weight,
							       pb->old_state, pb->old_slots,
							       pv.old_size));
		cJSON_AddItemToObject(o, "new", preview_side(pb->in_new, pb->new_weight,
							       pb->new_state, pb->new_slots, pv.size));
		elb_dp_json_add_u64(o, "flows", flows);
		cJSON_AddBoolToObject(o, "leaves", leaves);
		if (leaves)
			repicked += flows;
	}
	/* Only flows whose backend leaves are re-picked: every other flow
	 * stays where the flow tables pinned it, whatever the new table says. */
	elb_dp_json_add_u64(r, "flows_repicked", repicked);
	cJSON_AddBoolToObject(r, "flows_known", complete);
	{
		/* How old the counts are: the oldest dataplane's, from when its
		 * walk began (flows_age_ms: edgelb-xdp answers with its last walk). */
		uint64_t now = cp_now_ms(), oldest = 0;

		for (uint32_t i = 0; i < cp->n_dps; i++) {
			const cJSON *walk_age;
			uint64_t age;

			if (cp->dps[i].flow_tables == NULL)
				continue;
			walk_age = cJSON_GetObjectItemCaseSensitive(cp->dps[i].flow_tables,
								    "flows_age_ms");
			age = now - cp->dps[i].flow_tables_ms +
			      (cJSON_IsNumber(walk_age) ? (uint64_t)walk_age->valuedouble : 0);
			if (age > oldest)
				oldest = age;
		}
		if (complete)
			elb_dp_json_add_u64(r, "flows_age_ms", oldest);
	}
	elb_dp_json_add_u64(r, "slots_min", pv.new_min_slots);
	elb_dp_json_add_u64(r, "slots_max", pv.new_max_slots);
	if (pv.small_table) {
		char text[256];

		snprintf(text, sizeof(text),
			 "maglev_size %u is not above %u x %u backends: backend shares may differ "
			 "by more than about 1%%; use a prime above %u",
			 pv.size, ELB_TABLE_SLOTS_PER_BACKEND_MIN, nv->dp.n_backends,
			 ELB_TABLE_SLOTS_PER_BACKEND_MIN * nv->dp.n_backends);
		cJSON_AddStringToObject(r, "warning", text);
	}
	elb_preview_release(&pv);
	*result = r;
	return 0;
}

/* A proposed config, validated whole as a change would be (cp_commit's
 * pruning of the drains that end with it included: a resume or a removal
 * of a draining backend), then previewed; takes next. */
static int preview_change(struct cp_daemon *cp, int v, struct cp_config *next, cJSON **result,
			  struct elb_rpc_error *error)
{
	struct elb_dp_err err;
	int rc;

	cp_config_prune_drains(next);
	rc = cp_config_validate(next, &err);

	rc = rc < 0 ? model_error(error, &err, rc) : preview_result(cp, v, next, result, error);
	cp_config_free(next);
	return rc;
}

enum backend_op { OP_ADD, OP_REMOVE, OP_DRAIN, OP_RESUME, OP_WEIGHT };

static int backend_change(struct cp_daemon *cp, const cJSON *params, enum backend_op op,
			  bool preview, cJSON **result, struct elb_rpc_error *error)
{
	static const char *const add[] = {"address", "port", "protocol", "backend",
					  "weight", "quic_server_id", "change", NULL};
	static const char *const with_weight[] = {"address", "port", "protocol", "backend",
						  "weight", "change", NULL};
	static const char *const without[] = {"address", "port", "protocol", "backend", "change",
					      NULL};
	static const char *const drain[] = {"address", "port", "protocol", "backend", "change",
					    "timeout_ms", "remove_when_drained", NULL};
	bool takes_weight = op == OP_ADD || op == OP_WEIGHT;
	uint32_t drain_timeout_ms = 0;
	bool remove_when_drained = false;
	struct elb_dp_backend be;
	struct elb_dp_vip_key key;
	struct cp_config *next;
	struct cp_vip *vip;
	char addr[64], name[ELB_DP_VIP_KEY_STR_MAX];
	int rc, v, b;

	rc = elb_dp_rpc_check_params(params,
				     op == OP_ADD	 ? add
				     : takes_weight	 ? with_weight
				     : op == OP_DRAIN ? drain
							 : without,
				     error);
	if (rc < 0)
		return rc;
	if (!preview && cJSON_GetObjectItemCaseSensitive(params, "change") != NULL) {
		elb_rpc_error_set(error, ELB_RPC_INVALID_PARAMS, "change",
				  "change: only backend.preview takes it");
		return -EINVAL;
	}
	if (op == OP_DRAIN) {
		rc = read_drain_params(params, &drain_timeout_ms, &remove_when_drained, error);
		if (rc < 0)
			return rc;
		/* A drain reads the health targets, laid out for the applied
		 * config: the group staged before it is written first. */
		cp_methods_settle(cp);
	}
	if (op == OP_WEIGHT && cJSON_GetObjectItemCaseSensitive(params, "weight") == NULL) {
		elb_rpc_error_set(error, ELB_RPC_INVALID_PARAMS, "weight", "weight: is required");
		return -EINVAL;
	}
	v = find_vip(cp, params, &key, error);
	if (v < 0)
		return v;
	rc = read_backend(params, takes_weight, &be, error);
	if (rc < 0)
		return rc;
	next = clone_or_fail(cp, error);
	if (next == NULL)
		return -ENOMEM;
	vip = &next->vips[v];
	b = find_backend(vip, &be);
	elb_addr_format(&be.addr, be.family, addr, sizeof(addr));
	elb_dp_vip_key_str(&key, name, sizeof(name));
	if (op == OP_ADD && b >= 0) {
		cp_config_free(next);
		elb_rpc_error_set(error, CP_ERR_BACKEND_EXISTS, "backend",
				  "backend: %s is already a backend of %s", addr, name);
		return -EEXIST;
	}
	if (op != OP_ADD && b < 0) {
		cp_config_free(next);
		elb_rpc_error_set(error, CP_ERR_NO_BACKEND, "backend", "backend: %s has no backend %s",
				  name, addr);
		return -ENOENT;
	}
	switch (op) {
	case OP_ADD: {
		struct elb_dp_backend *grown =
			realloc(vip->dp.backends, (vip->dp.n_backends + 1) * sizeof(*grown));

		if (grown == NULL) {
			cp_config_free(next);
			return elb_dp_rpc_nomem(error);
		}
		vip->dp.backends = grown;
		vip->dp.backends[vip->dp.n_backends++] = be;
		/* Its server ID against the VIP's QUIC routing, named as the
		 * request names it. */
		if (be.quic_server_id_len != 0) {
			struct elb_dp_err err;
			const char *what;

			rc = elb_dp_vip_quic_validate(&vip->dp, "", &err);
			if (rc < 0) {
				cp_config_free(next);
				what = strstr(err.text, ": ");
				elb_rpc_error_set(error, ELB_RPC_INVALID_PARAMS, "quic_server_id",
						  "quic_server_id: %s", what != NULL ? what + 2 : err.text);
				return rc;
			}
		}
		break;
	}
	case OP_REMOVE:
		memmove(&vip->dp.backends[b], &vip->dp.backends[b + 1],
			(vip->dp.n_backends - (uint32_t)b - 1) * sizeof(be));
		vip->dp.n_backends--;
		break;
	case OP_DRAIN: {
		/* Persisted with the change itself: a restarted edgelb-cp goes on
		 * with this drain (cp_fleet.c). A finished drain asked again keeps
		 * its start, as cp_fleet_drain_started keeps it finished. */
		const struct cp_target *t = cp->targets[cp->target_base[v] + (uint32_t)b];
		const struct cp_drain_record *old =
			cp_config_find_drain(cp->config, &key, &be.addr, be.family);
		struct cp_drain_record record = {
			.vip = key,
			.backend = be.addr,
			.family = be.family,
			.remove_when_drained = remove_when_drained,
			.timeout_ms = drain_timeout_ms,
			.started_unix_ms = cp_wall_ms(),
		};

		if (old != NULL && t->drain_phase == CP_DRAIN_DRAINED) {
			record = *old;
			record.remove_when_drained |= remove_when_drained;
		}
		vip->dp.backends[b].state = ELB_DP_BACKEND_DRAINING;
		if (!preview && cp_config_put_drain(next, &record) < 0) {
			cp_config_free(next);
			return elb_dp_rpc_nomem(error);
		}
		break;
	}
	case OP_RESUME:
		vip->dp.backends[b].state = ELB_DP_BACKEND_ACTIVE;
		break;
	case OP_WEIGHT:
		vip->dp.backends[b].weight = be.weight;
		break;
	}
	if (preview)
		return preview_change(cp, v, next, result, error);
	rc = commit(cp, next, op != OP_DRAIN, result, error);
	if (rc == 0 && op == OP_DRAIN)
		cp_fleet_drain_started(cp, cp->targets[cp->target_base[v] + (uint32_t)b],
				       drain_timeout_ms, remove_when_drained, cp_now_ms(), *result);
	if (rc < 0 && op == OP_ADD && error->code == ELB_RPC_INVALID_PARAMS) {
		/* Whole-state rules name the new backend by its config.get path;
		 * the request calls it "backend". */
		char path[ELB_RPC_ERROR_FIELD_MAX], text[ELB_RPC_ERROR_MESSAGE_MAX];
		size_t n = (size_t)snprintf(path, sizeof(path), "vips[%d].backends[%u].address", v,
					    cp_latest_config(cp)->vips[v].dp.n_backends);

		if (strcmp(error->field, path) == 0 && strlen(error->message) > n + 2) {
			snprintf(text, sizeof(text), "%s", error->message + n + 2);
			elb_rpc_error_set(error, ELB_RPC_INVALID_PARAMS, "backend", "backend: %s",
					  text);
		}
	}
	return rc;
}

#define BACKEND_METHOD(fn, op)                                                                \
	static int fn(void *ctx, const cJSON *params, cJSON **result,                         \
		      struct elb_rpc_error *error)                                            \
	{                                                                                     \
		return backend_change(ctx, params, op, false, result, error);                 \
	}
BACKEND_METHOD(m_backend_add, OP_ADD)
BACKEND_METHOD(m_backend_remove, OP_REMOVE)
BACKEND_METHOD(m_backend_drain, OP_DRAIN)
BACKEND_METHOD(m_backend_resume, OP_RESUME)
BACKEND_METHOD(m_backend_weight, OP_WEIGHT)

/* backend.preview: a backend change's params plus "change" (add, remove,
 * drain, resume, weight: the backend.* method's verb; "undrain", the
 * deprecated name of resume, too); nothing is applied. */
static int m_backend_preview(void *ctx, const cJSON *params, cJSON **result,
			     struct elb_rpc_error *error)
{
	static const struct {
		const char *name;
		enum backend_op op;
	} changes[] = {
		{"add", OP_ADD},       {"remove", OP_REMOVE}, {"drain", OP_DRAIN},
		{"resume", OP_RESUME}, {"weight", OP_WEIGHT}, {"undrain", OP_RESUME},
	};
	const cJSON *change = cJSON_GetObjectItemCaseSensitive(params, "change");

	for (size_t i = 0; cJSON_IsString(change) && i < sizeof(changes) / sizeof(changes[0]); i++)
		if (strcmp(change->valuestring, changes[i].name) == 0)
			return backend_change(ctx, params, changes[i].op, true, result, error);
	elb_rpc_error_set(error, ELB_RPC_INVALID_PARAMS, "change",
			  "change: must be one of add, remove, drain, resume, weight");
	return -EINVAL;
}

/* ------------------------------------------------------------------------ */
/* Prefix lists (docs/prefix-lists.md) */

/*
 * Not part of the group commit: a prefix change writes the prefixes file
 * (and only it) before it is answered, one write per request. Prefix
 * changes are rare beside backend changes, and a bulk load is one request
 * (prefixes.replace), so sharing fsyncs would buy little for a second
 * staged object. Not in cp_defer_methods, so the RPC server settles the
 * backend changes staged before one first: it checks the VIP against the
 * written config.
 */

/* The scope params name: *vip NULL for the node's list (no address, port
 * or protocol), else key, a configured VIP. */
static int prefix_scope(struct cp_daemon *cp, const cJSON *params, struct elb_dp_vip_key *key,
			const struct elb_dp_vip_key **vip, struct elb_rpc_error *error)
{
	static const char *const members[] = {"address", "port", "protocol"};
	int v;

	*vip = NULL;
	for (size_t i = 0; i < 3; i++)
		if (cJSON_GetObjectItemCaseSensitive(params, members[i]) != NULL)
			*vip = key;
	if (*vip == NULL)
		return 0;
	v = find_vip(cp, params, key, error);
	if (v < 0 && error->code == CP_ERR_NO_VIP) {
		/* edgelb-cp keeps lists of configured VIPs only (cp_prefixes.h). */
		char text[ELB_RPC_ERROR_MESSAGE_MAX];

		snprintf(text, sizeof(text), "%s", error->message);
		elb_rpc_error_set(error, CP_ERR_NO_VIP, "address",
				  "address: %s (a VIP's list needs the VIP configured)", text);
	}
	return v < 0 ? v : 0;
}

static cJSON *prefix_answer(const struct cp_daemon *cp)
{
	cJSON *result = cJSON_CreateObject();

	if (result != NULL) {
		elb_dp_json_add_u64(result, "generation", cp->prefixes->generation);
		elb_dp_json_add_u64(result, "rules", elb_prefix_set_rules(cp->prefixes));
	}
	return result;
}

static int prefix_change(struct cp_daemon *cp, const cJSON *params, enum cp_prefix_op op,
			 cJSON **result, struct elb_rpc_error *error)
{
	static const char *const lists[] = {"address", "port", "protocol", "allow", "deny", NULL};
	static const char *const removal[] = {"address", "port", "protocol", "prefixes", "action",
					      NULL};
	const cJSON *action = cJSON_GetObjectItemCaseSensitive(params, "action");
	const struct elb_dp_vip_key *vip = NULL;
	struct elb_dp_vip_key key;
	struct cp_prefix_item *items = NULL;
	struct elb_prefix_set *next = NULL;
	uint8_t family, remove_action = 0;
	struct elb_dp_err err;
	uint32_t n = 0;
	int rc = elb_dp_rpc_check_params(params, op == CP_PREFIX_REMOVE ? removal : lists, error);

	if (rc == 0)
		rc = prefix_scope(cp, params, &key, &vip, error);
	if (rc < 0)
		return rc;
	family = vip != NULL ? vip->family : 0;
	if (op == CP_PREFIX_REMOVE) {
		if (action != NULL) {
			if (cJSON_IsString(action) && strcmp(action->valuestring, "allow") == 0) {
				remove_action = ELB_PREFIX_ALLOW;
			} else if (cJSON_IsString(action) && strcmp(action->valuestring, "deny") == 0) {
				remove_action = ELB_PREFIX_DENY;
			} else {
				elb_rpc_error_set(error, ELB_RPC_INVALID_PARAMS, "action",
						  "action: must be \"allow\" or \"deny\"");
				return -EINVAL;
			}
		}
		rc = cp_prefix_items_from_json(params, "prefixes", ELB_PREFIX_DENY, family, &items,
					       &n, &err);
		/* Parsed as rules; a removal without an action matches either
		 * (cp_prefix_item). */
		for (uint32_t i = 0; rc == 0 && i < n; i++)
			items[i].rule.action = remove_action;
	} else {
		rc = cp_prefix_items_from_json(params, "allow", ELB_PREFIX_ALLOW, family, &items, &n,
					       &err);
		if (rc == 0)
			rc = cp_prefix_items_from_json(params, "deny", ELB_PREFIX_DENY, family, &items,
						       &n, &err);
	}
	if (rc == 0 && n == 0 && op != CP_PREFIX_REPLACE)
		rc = elb_json_fail(&err, op == CP_PREFIX_REMOVE ? "prefixes" : "allow",
				   op == CP_PREFIX_REMOVE ? "no prefix to remove"
							  : "no prefix given (allow or deny)");
	if (rc == 0)
		rc = cp_prefixes_change(cp->prefixes, vip, op, items, n, &next, &err);
	free(items);
	if (rc == 0 && elb_prefix_set_same_rules(cp->prefixes, next)) {
		/* Nothing to write nor push: the same generation answers. */
		elb_prefix_set_free(next);
		next = NULL;
	} else if (rc == 0) {
		rc = cp_prefixes_commit(cp, next, &err); /* takes next */
	}
	if (rc < 0)
		return model_error(error, &err, rc);
	*result = prefix_answer(cp);
	return *result != NULL ? 0 : elb_dp_rpc_nomem(error);
}

#define PREFIX_METHOD(fn, op)                                                                 \
	static int fn(void *ctx, const cJSON *params, cJSON **result,                         \
		      struct elb_rpc_error *error)                                            \
	{                                                                                     \
		return prefix_change(ctx, params, op, result, error);                         \
	}
PREFIX_METHOD(m_prefixes_add, CP_PREFIX_ADD)
PREFIX_METHOD(m_prefixes_remove, CP_PREFIX_REMOVE)
PREFIX_METHOD(m_prefixes_replace, CP_PREFIX_REPLACE)

/* prefixes.get: every list ({"prefixes": the set's JSON form}), or a VIP's
 * ({"vip": NAME, "allow": [...], "deny": [...]}). */
static int m_prefixes_get(void *ctx, const cJSON *params, cJSON **result,
			  struct elb_rpc_error *error)
{
	static const char *const known[] = {"address", "port", "protocol", NULL};
	static const struct elb_prefix_list none = {0};
	struct cp_daemon *cp = ctx;
	const struct elb_dp_vip_key *vip = NULL;
	const struct elb_prefix_list *list;
	struct elb_dp_vip_key key;
	char name[ELB_DP_VIP_KEY_STR_MAX];
	int rc = elb_dp_rpc_check_params(params, known, error);

	if (rc == 0)
		rc = prefix_scope(cp, params, &key, &vip, error);
	if (rc < 0)
		return rc;
	*result = prefix_answer(cp);
	if (*result == NULL)
		return elb_dp_rpc_nomem(error);
	if (vip == NULL) {
		cJSON *set = elb_prefix_set_to_json(cp->prefixes);

		if (set == NULL || !cJSON_AddItemToObject(*result, "prefixes", set)) {
			cJSON_Delete(set);
			return elb_dp_rpc_nomem(error);
		}
		return 0;
	}
	list = elb_prefix_set_vip_list(cp->prefixes, vip);
	cJSON_AddStringToObject(*result, "vip", elb_dp_vip_key_str(vip, name, sizeof(name)));
	if (elb_prefix_list_to_json(list != NULL ? list : &none, *result) < 0)
		return elb_dp_rpc_nomem(error);
	return 0;
}

const struct elb_rpc_method cp_methods[] = {
	{.name = "vip.list", .handler = m_vip_list, .read_only = true},
	{.name = "vip.get", .handler = m_vip_get, .read_only = true},
	{.name = "vip.add", .handler = m_vip_add, .read_only = false},
	{.name = "vip.update", .handler = m_vip_update, .read_only = false},
	{.name = "vip.preview", .handler = m_vip_preview, .read_only = true},
	{.name = "vip.remove", .handler = m_vip_remove, .read_only = false},
	{.name = "backend.add", .handler = m_backend_add, .read_only = false},
	{.name = "backend.remove", .handler = m_backend_remove, .read_only = false},
	{.name = "backend.drain", .handler = m_backend_drain, .read_only = false},
	{.name = "backend.resume", .handler = m_backend_resume, .read_only = false},
	{.name = "backend.weight", .handler = m_backend_weight, .read_only = false},
	{.name = "health.get", .handler = m_health_get, .read_only = true},
	{.name = "counters.get", .handler = m_counters_get, .read_only = true},
	{.name = "config.get", .handler = m_config_get, .read_only = true},
	{.name = "dataplanes.get", .handler = m_dataplanes_get, .read_only = true},
	{.name = "subscribe", .handler = m_subscribe, .read_only = true},
	{.name = "backend.preview", .handler = m_backend_preview, .read_only = true},
	{.name = "fleet.get", .handler = cp_m_fleet_get, .read_only = true},
	{.name = "prefixes.add", .handler = m_prefixes_add, .read_only = false},
	{.name = "prefixes.remove", .handler = m_prefixes_remove, .read_only = false},
	{.name = "prefixes.replace", .handler = m_prefixes_replace, .read_only = false},
	{.name = "prefixes.get", .handler = m_prefixes_get, .read_only = true},
};
const size_t cp_n_methods = sizeof(cp_methods) / sizeof(cp_methods[0]);

/* The changes that commit() stages and answers later. */
const char *const cp_defer_methods[] = {
	"vip.add", "vip.update", "vip.remove", "backend.add", "backend.remove", "backend.resume",
	"backend.weight", NULL,
};

/* Deprecated names, served for one more release (docs/control-protocol.md,
 * Method names). */
const struct elb_rpc_alias cp_aliases[] = {
	{"backend.undrain", "backend.resume"},
};
const size_t cp_n_aliases = sizeof(cp_aliases) / sizeof(cp_aliases[0]);
