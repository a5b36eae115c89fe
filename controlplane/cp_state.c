/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * edgelb-cp's state core (cp_state.h): the desired dataplane config from
 * the operator's config and the health results, the health-check targets
 * laid out per VIP, and cp_commit, the one way a change is applied. Driven
 * without sockets by its tests and tests/fuzz/fuzz_cp_rpc.c.
 */
#include "cp_state.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>

#include "elb_dp_api.h"
#include "elb_json.h"
#include "elb_prefixes.h"

/* ------------------------------------------------------------------------ */
/* Events */

void cp_emit(struct cp_daemon *cp, const char *type, cJSON *fields)
{
	cp->events++;
	if (cp->events_sink.emit != NULL)
		cp->events_sink.emit(cp->events_sink.ctx, type, fields);
	else
		cJSON_Delete(fields);
}

cJSON *cp_event_backend(const struct elb_dp_vip_key *vip, const union elb_addr *addr,
			uint8_t family)
{
	char name[ELB_DP_VIP_KEY_STR_MAX], text[ELB_ADDR_TEXT_MAX];
	cJSON *o = cJSON_CreateObject();

	if (o == NULL)
		return NULL;
	cJSON_AddStringToObject(o, "vip", elb_dp_vip_key_str(vip, name, sizeof(name)));
	if (addr != NULL) {
		cJSON_AddStringToObject(o, "backend",
					elb_addr_format(addr, family, text, sizeof(text)));
	}
	return o;
}

cJSON *cp_event_dataplane(const char *name)
{
	cJSON *o = cJSON_CreateObject();

	if (o != NULL)
		cJSON_AddStringToObject(o, "dataplane", name);
	return o;
}

/* An event whose one field is a counter's new value (a generation, a count
 * of changes). */
static void emit_count(struct cp_daemon *cp, const char *type, const char *name, uint64_t value)
{
	cJSON *fields = cJSON_CreateObject();

	elb_dp_json_add_u64(fields, name, value);
	cp_emit(cp, type, fields);
}

/* ------------------------------------------------------------------------ */
/* Desired state */

static bool keep_backend(void *ctx, uint32_t v, uint32_t b)
{
	const struct cp_daemon *cp = ctx;
	const struct cp_target *t = cp->targets[cp->target_base[v] + b];

	if (!cp->vip_rt[v].all_down)
		return cp_hc_in_service(&t->state);
	/* Every backend is down: fail static. The last set that had a healthy
	 * backend stays (or all of them if there never was one), because
	 * health checks that all fail at once more often mean a broken check
	 * or a partition between us and the backends than dead backends, and
	 * an empty set would black-hole every flow of the VIP. */
	return t->in_last_set;
}

bool cp_backend_pushed(const struct cp_daemon *cp, uint32_t v, uint32_t b)
{
	return keep_backend((void *)cp, v, b);
}

int cp_refresh_desired(struct cp_daemon *cp)
{
	struct elb_dp_config *next;

	for (uint32_t v = 0; v < cp->config->n_vips; v++) {
		uint32_t n = cp->config->vips[v].dp.n_backends, up = 0, remembered = 0;
		struct cp_target **ts = &cp->targets[cp->target_base[v]];
		char name[ELB_DP_VIP_KEY_STR_MAX];

		for (uint32_t b = 0; b < n; b++) {
			up += cp_hc_in_service(&ts[b]->state);
			remembered += ts[b]->in_last_set;
		}
		if (up > 0 || n == 0) {
			for (uint32_t b = 0; b < n; b++)
				ts[b]->in_last_set = cp_hc_in_service(&ts[b]->state);
			if (cp->vip_rt[v].all_down) {
				cp_log("%s: backends in service again",
					elb_dp_vip_key_str(&cp->config->vips[v].dp.key, name,
							   sizeof(name)));
				cp_emit(cp, "vip_recovered",
					 cp_event_backend(&cp->config->vips[v].dp.key, NULL, 0));
			}
			cp->vip_rt[v].all_down = false;
			continue;
		}
		if (!cp->vip_rt[v].all_down) {
			cp->vip_rt[v].all_down = true;
			cp->vip_rt[v].all_down_alarms++;
			cp_log("ALARM %s: every backend failed its health check; keeping the last "
				"healthy set",
				elb_dp_vip_key_str(&cp->config->vips[v].dp.key, name, sizeof(name)));
			cp_emit(cp, "vip_all_down",
				 cp_event_backend(&cp->config->vips[v].dp.key, NULL, 0));
		}
		if (remembered == 0)
			for (uint32_t b = 0; b < n; b++)
				ts[b]->in_last_set = true;
	}
	next = cp_config_dp_view(cp->config, keep_backend, cp);
	if (next == NULL)
		return -ENOMEM;
	if (cp->desired != NULL && elb_dp_config_equal(cp->desired, next)) {
		elb_dp_config_free(next);
		return 0;
	}
	elb_dp_config_free(cp->desired);
	cp->desired = next;
	cp->gen++;
	emit_count(cp, "desired_changed", "generation", cp->gen);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Targets */

static void target_free(struct cp_daemon *cp, struct cp_target *t)
{
	if (cp->retire_target != NULL)
		cp->retire_target(cp, t);
	free(t);
}

static struct cp_target *find_old_target(const struct cp_daemon *cp,
					 const struct elb_dp_vip_key *key,
					 const struct elb_dp_backend *b)
{
	int v = cp->config != NULL ? cp_config_find_vip(cp->config, key) : -ENOENT;

	if (v < 0)
		return NULL;
	for (uint32_t i = 0; i < cp->config->vips[v].dp.n_backends; i++) {
		struct cp_target *t = cp->targets[cp->target_base[v] + i];

		if (t->family == b->family && memcmp(&t->addr, &b->addr, sizeof(t->addr)) == 0)
			return t;
	}
	return NULL;
}

struct cp_layout {
	struct cp_target **targets;
	uint32_t n_targets;
	uint32_t *target_base;
	struct cp_vip_runtime *vip_rt;
};

static void layout_abort(struct cp_layout *l)
{
	for (uint32_t i = 0; l->targets != NULL && i < l->n_targets; i++)
		if (l->targets[i] != NULL && l->targets[i]->fresh)
			free(l->targets[i]);
	free(l->targets);
	free(l->target_base);
	free(l->vip_rt);
}

/* The targets and VIP runtime state of config next, reusing the current
 * ones (their health history) for the backends that stay. Allocates only:
 * the current state is untouched until the layout is installed. */
static int layout_prepare(struct cp_daemon *cp, const struct cp_config *next, uint64_t now,
			  struct cp_layout *l)
{
	uint32_t total = 0, k = 0;

	memset(l, 0, sizeof(*l));
	for (uint32_t v = 0; v < next->n_vips; v++)
		total += next->vips[v].dp.n_backends;
	l->targets = calloc((size_t)total + 1, sizeof(*l->targets));
	l->target_base = calloc((size_t)next->n_vips + 1, sizeof(*l->target_base));
	l->vip_rt = calloc((size_t)next->n_vips + 1, sizeof(*l->vip_rt));
	if (l->targets == NULL || l->target_base == NULL || l->vip_rt == NULL)
		goto nomem;
	for (uint32_t v = 0; v < next->n_vips; v++) {
		const struct cp_vip *vip = &next->vips[v];
		int old_v = cp->config != NULL ? cp_config_find_vip(cp->config, &vip->dp.key) : -1;

		l->target_base[v] = k;
		l->vip_rt[v].key = vip->dp.key;
		if (old_v >= 0)
			l->vip_rt[v] = cp->vip_rt[old_v];
		for (uint32_t b = 0; b < vip->dp.n_backends; b++, k++) {
			const struct elb_dp_backend *be = &vip->dp.backends[b];
			struct cp_target *t = find_old_target(cp, &vip->dp.key, be);

			if (t != NULL && memcmp(&t->hc, &vip->hc, sizeof(t->hc)) == 0) {
				l->targets[k] = t;
				continue;
			}
			/* New, or its check changed: a fresh history. */
			t = calloc(1, sizeof(*t));
			if (t == NULL)
				goto nomem;
			t->kind = CP_POLL_TARGET;
			t->fresh = true;
			t->vip = vip->dp.key;
			t->addr = be->addr;
			t->family = be->family;
			t->hc = vip->hc;
			t->port = vip->hc.port != 0 ? vip->hc.port : vip->dp.key.port;
			cp_probe_init(&t->probe);
			/* Unchecked backends are always in service. */
			t->state.status = vip->hc.type == CP_HC_NONE ? CP_HC_UP : CP_HC_UNKNOWN;
			t->in_last_set = true;
			t->next_due_ms = now;
			l->targets[k] = t;
		}
	}
	l->n_targets = total;
	return 0;
nomem:
	l->n_targets = k;
	layout_abort(l);
	return -ENOMEM;
}

/* Install the layout: free the targets that left, take the new arrays. */
static void layout_install(struct cp_daemon *cp, struct cp_layout *l)
{
	for (uint32_t i = 0; i < cp->n_targets; i++) {
		bool kept = false;

		for (uint32_t j = 0; j < l->n_targets && !kept; j++)
			kept = l->targets[j] == cp->targets[i];
		if (!kept)
			target_free(cp, cp->targets[i]);
	}
	for (uint32_t j = 0; j < l->n_targets; j++)
		l->targets[j]->fresh = false;
	free(cp->targets);
	free(cp->target_base);
	free(cp->vip_rt);
	cp->targets = l->targets;
	cp->n_targets = l->n_targets;
	cp->target_base = l->target_base;
	cp->vip_rt = l->vip_rt;
}

const struct cp_config *cp_latest_config(const struct cp_daemon *cp)
{
	return cp->staged != NULL ? cp->staged : cp->config;
}

static void drop_staged(struct cp_daemon *cp)
{
	cp_config_free(cp->staged);
	cp->staged = NULL;
	cp->n_staged = 0;
}

int cp_stage(struct cp_daemon *cp, struct cp_config *next, struct elb_dp_err *err)
{
	int rc;

	cp_config_prune_drains(next);
	rc = cp_config_validate(next, err);
	if (rc < 0) {
		cp_config_free(next);
		return rc;
	}
	/* next was built from the staged config: it carries the earlier
	 * changes of the group too. */
	cp_config_free(cp->staged);
	cp->staged = next;
	cp->n_staged++;
	return 0;
}

int cp_commit_staged(struct cp_daemon *cp, uint64_t now, struct elb_dp_err *err)
{
	struct cp_config *next = cp->staged;
	uint32_t carried = cp->n_staged;
	struct cp_layout layout;
	int rc;

	if (next == NULL)
		return 0;
	rc = layout_prepare(cp, next, now, &layout);
	if (rc < 0) {
		snprintf(err->text, sizeof(err->text), "out of memory");
		drop_staged(cp);
		if (cp->group_done != NULL)
			cp->group_done(cp, rc, err);
		return rc;
	}
	/* Persist before applying: a change the file does not have would be
	 * lost by a restart, so it is refused instead. */
	rc = cp_config_write_file(cp->config_path, next, err);
	if (rc < 0) {
		cp->persist_failures++;
		layout_abort(&layout);
		drop_staged(cp);
		if (cp->group_done != NULL)
			cp->group_done(cp, rc, err);
		return rc;
	}
	cp->config_writes++;
	cp->staged = NULL;
	cp->n_staged = 0;
	layout_install(cp, &layout);
	cp_config_free(cp->config);
	cp->config = next;
	for (uint32_t i = 0; i < carried; i++) {
		cp->changes++;
		emit_count(cp, "config_changed", "changes", cp->changes);
	}
	if (cp->config_committed != NULL)
		cp->config_committed(cp);
	/* Once per group: the dataplanes get one generation for all of it. */
	rc = cp_refresh_desired(cp);
	if (rc < 0)
		cp_log("out of memory rebuilding the desired state; retried on the next change");
	if (cp->group_done != NULL)
		cp->group_done(cp, (int)carried, err);
	return (int)carried;
}

int cp_commit(struct cp_daemon *cp, struct cp_config *next, uint64_t now,
	      struct elb_dp_err *err)
{
	int rc = cp_stage(cp, next, err);

	if (rc == 0)
		rc = cp_commit_staged(cp, now, err);
	return rc < 0 ? rc : 0;
}

void cp_target_result(struct cp_daemon *cp, struct cp_target *t, bool ok)
{
	char name[ELB_DP_VIP_KEY_STR_MAX];

	if (!ok)
		snprintf(t->state.last_error, sizeof(t->state.last_error), "%s", t->probe.error);
	if (!cp_hc_record(&t->state, ok, t->hc.rise, t->hc.fall))
		return;
	cp->health_transitions++;
	{
		char addr[ELB_DP_VIP_KEY_STR_MAX];
		struct elb_dp_vip_key bk = {.addr = t->addr, .family = t->family, .proto = t->vip.proto,
					    .port = t->port};

		cJSON *fields = cp_event_backend(&t->vip, &t->addr, t->family);

		cp_log("%s backend %s: %s%s%s%s", elb_dp_vip_key_str(&t->vip, name, sizeof(name)),
			elb_dp_vip_key_str(&bk, addr, sizeof(addr)),
			cp_hc_in_service(&t->state) ? "in service" : "out of service",
			ok ? "" : " (", ok ? "" : t->state.last_error, ok ? "" : ")");
		if (fields != NULL && !ok)
			cJSON_AddStringToObject(fields, "error", t->state.last_error);
		cp_emit(cp, cp_hc_in_service(&t->state) ? "backend_up" : "backend_down", fields);
	}
	if (cp_refresh_desired(cp) < 0)
		cp_log("out of memory rebuilding the desired state");
}

int cp_state_init(struct cp_daemon *cp, struct cp_config *loaded, uint64_t now)
{
	struct cp_layout layout;

	cp->started_ms = now;
	/* No lists until cp_prefixes_load reads the file. */
	cp->prefixes = elb_prefix_set_new();
	if (cp->prefixes == NULL || layout_prepare(cp, loaded, now, &layout) < 0) {
		cp_config_free(loaded);
		return -ENOMEM;
	}
	layout_install(cp, &layout);
	cp->config = loaded;
	return cp_refresh_desired(cp);
}

void cp_state_free(struct cp_daemon *cp)
{
	for (uint32_t i = 0; i < cp->n_targets; i++)
		target_free(cp, cp->targets[i]);
	free(cp->targets);
	free(cp->target_base);
	free(cp->vip_rt);
	cp->targets = NULL;
	cp->target_base = NULL;
	cp->vip_rt = NULL;
	cp->n_targets = 0;
	elb_dp_config_free(cp->desired);
	cp->desired = NULL;
	drop_staged(cp);
	cp_config_free(cp->config);
	cp->config = NULL;
	elb_prefix_set_free(cp->prefixes);
	cp->prefixes = NULL;
}

bool cp_drain_running(const struct cp_daemon *cp)
{
	for (uint32_t i = 0; i < cp->n_targets; i++)
		if (cp->targets[i]->drain_phase == CP_DRAIN_DRAINING)
			return true;
	return false;
}
