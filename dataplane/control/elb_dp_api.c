/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The dataplane protocol's methods; see elb_dp_api.h and
 * docs/dataplane-protocol.md.
 *
 * Every mutating method has the same shape: read its params into a new
 * complete config (a clone of the current one with the change), then
 * commit(): validate, skip if nothing changed, ops->apply, swap, epoch + 1,
 * persist. Params are read and checked before anything is cloned, so an
 * invalid request costs no copy and names a member of the request itself;
 * the whole-config validation that follows catches what only shows in the
 * complete config (limits over all VIPs, a backend family whose node source
 * address is missing) and names the member by its config.get path.
 */
#include "elb_dp_api.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "elb_explain.h"
#include "elb_snapshot.h"
#include "elb_wire.h"
#include "elb_tables.h"
#include "elb_version.h"

struct elb_dp_api {
	struct elb_rpc_server *server;
	struct elb_dp_ops ops;
	void *ctx;
	struct elb_dp_config *config; /* in force; what ops->apply last accepted */
	uint64_t epoch;               /* incremented by every applied change */
	/* In force; what ops->apply_prefixes last accepted (empty before). */
	struct elb_prefix_set *prefixes;
	char *prefixes_path; /* "<state_path>.prefixes", or NULL */
	/* The dataplane runs a state it kept across our restart (XDP's pinned
	 * maps) that config does not describe: the first change is applied
	 * even if it equals config. */
	bool running_state_kept;
	char *state_path;
	uint32_t owner_history_applied; /* history configs applied at start */
	uint64_t owner_history_failures; /* history files not written or not applied */
	char dataplane[16];
	char instance[17]; /* random per process: tells a restart from a reconnect */
	uint64_t started_ms;
	uint64_t apply_failures;
	uint64_t persist_failures;
	char persist_error[ELB_DP_ERR_TEXT_MAX]; /* of the last failed write, "" if none */
	/* The state file holds config, written by us and fsync'ed: a history
	 * entry of config can be another name for it (owner_history_push). */
	bool state_holds_config;
};

static uint64_t monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ------------------------------------------------------------------------ */
/* Errors and params */

/* strlcpy: cut at size - 1 bytes. */
static void copy_text(char *dst, size_t size, const char *src)
{
	size_t n = strnlen(src, size - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

int elb_dp_rpc_model_error(struct elb_rpc_error *error, const struct elb_dp_err *err, int rc)
{
	if (rc == -ENOMEM)
		elb_rpc_error_set(error, ELB_RPC_INTERNAL_ERROR, NULL, "out of memory");
	else
		elb_rpc_error_set(error, ELB_RPC_INVALID_PARAMS, err->field, "%s", err->text);
	return rc < 0 ? rc : -EINVAL;
}

int elb_dp_rpc_nomem(struct elb_rpc_error *error)
{
	elb_rpc_error_set(error, ELB_RPC_INTERNAL_ERROR, NULL, "out of memory");
	return -ENOMEM;
}

int elb_dp_rpc_check_params(const cJSON *params, const char *const *known,
			    struct elb_rpc_error *error)
{
	struct elb_dp_err err;
	int rc = elb_dp_json_check_members(params, "", known, &err);

	return rc < 0 ? elb_dp_rpc_model_error(error, &err, rc) : 0;
}

/* "<field>: <what>", an invalid params error naming field. */
static int bad_param(struct elb_rpc_error *error, const char *field, const char *what)
{
	elb_rpc_error_set(error, ELB_RPC_INVALID_PARAMS, field, "%s: %s", field, what);
	return -EINVAL;
}

/* The optional "if_epoch" guard: refuse a change computed from a config
 * that is no longer in force. */
static int check_if_epoch(const struct elb_dp_api *api, const cJSON *params,
			  struct elb_rpc_error *error)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(params, "if_epoch");
	double d;

	if (item == NULL)
		return 0;
	d = item->valuedouble;
	if (!cJSON_IsNumber(item) || !(d >= 0 && d <= (double)ELB_DP_MAX_JSON_INTEGER) ||
	    d != (double)(uint64_t)d) {
		elb_rpc_error_set(error, ELB_RPC_INVALID_PARAMS, "if_epoch",
				  "if_epoch: must be an integer in 0..%llu",
				  (unsigned long long)ELB_DP_MAX_JSON_INTEGER);
		return -EINVAL;
	}
	if ((uint64_t)d != api->epoch) {
		elb_rpc_error_set(error, ELB_DP_ERR_EPOCH_MISMATCH, "if_epoch",
				  "if_epoch: the config is at epoch %" PRIu64 ", not %" PRIu64,
				  api->epoch, (uint64_t)d);
		error->data = cJSON_CreateObject();
		if (error->data != NULL)
			elb_dp_json_add_u64(error->data, "epoch", api->epoch);
		return -ESTALE;
	}
	return 0;
}

/* The params of a change: only known members, and the guard holds. */
static int check_change_params(const struct elb_dp_api *api, const cJSON *params,
			       const char *const *known, struct elb_rpc_error *error)
{
	int rc = elb_dp_rpc_check_params(params, known, error);

	return rc < 0 ? rc : check_if_epoch(api, params, error);
}

/*
 * For the changes whose reader takes the whole params and refuses unknown
 * members (vip.set, node.set): the guard checked, then *out = a copy of
 * params without "if_epoch" (cJSON_Delete it).
 */
static int params_past_guard(const struct elb_dp_api *api, const cJSON *params, cJSON **out,
			     struct elb_rpc_error *error)
{
	int rc = check_if_epoch(api, params, error);

	if (rc < 0)
		return rc;
	*out = cJSON_Duplicate(params, true);
	if (*out == NULL)
		return elb_dp_rpc_nomem(error);
	cJSON_DeleteItemFromObjectCaseSensitive(*out, "if_epoch");
	return 0;
}

static int not_found(struct elb_rpc_error *error, const struct elb_dp_vip_key *key)
{
	char text[ELB_DP_VIP_KEY_STR_MAX];

	elb_rpc_error_set(error, ELB_DP_ERR_NOT_FOUND, NULL, "no VIP %s",
			  elb_dp_vip_key_str(key, text, sizeof(text)));
	return -ENOENT;
}

/* The VIP that params' address, port and protocol name: its index or
 * -ENOENT (error filled either way on failure). */
static int find_vip(const struct elb_dp_api *api, const cJSON *params,
		    struct elb_dp_vip_key *key, struct elb_rpc_error *error)
{
	struct elb_dp_err err;
	int rc = elb_dp_vip_key_from_json(params, "", key, &err);

	if (rc < 0)
		return elb_dp_rpc_model_error(error, &err, rc);
	rc = elb_dp_config_find_vip(api->config, key);
	return rc < 0 ? not_found(error, key) : rc;
}

/* The VIP a change names (vip.remove, backends.set), its params checked:
 * its index, or a negative errno with error filled. */
static int changed_vip(const struct elb_dp_api *api, const cJSON *params,
		       const char *const *known, struct elb_rpc_error *error)
{
	struct elb_dp_vip_key key;
	int rc = check_change_params(api, params, known, error);

	return rc < 0 ? rc : find_vip(api, params, &key, error);
}

/* ------------------------------------------------------------------------ */
/* Changes */

/*
 * Previous-owner history (docs/second-chance.md, "Restart state"): beside
 * the state file, the configs in force before the last
 * ELB_DP_OWNER_HISTORY changes that gave Maglev slots new owners,
 * "<state>.owners.1" the newest. At start they are applied oldest first,
 * then the state file's config, so that the first snapshot's previous
 * owners are those the dataplane had before it stopped. Each file is
 * written atomically, or is a second link to a state file that was; a
 * missing or unreadable one is skipped, never fatal.
 */
#define ELB_DP_OWNER_HISTORY 3

static void owner_history_path(const char *state_path, unsigned int n, char *buf, size_t len)
{
	snprintf(buf, len, "%s.owners.%u", state_path, n);
}

static void owner_history_warn(struct elb_dp_api *api, const char *what, const char *why)
{
	api->owner_history_failures++;
	fprintf(stderr, "edgelb-%s: previous-owner history: %s%s%s (skipped)\n", api->dataplane,
		what, why != NULL ? ": " : "", why != NULL ? why : "");
}

/* old (in force until now) becomes the newest history entry. */
static void owner_history_push(struct elb_dp_api *api, const struct elb_dp_config *old)
{
	size_t len = strlen(api->state_path) + 16;
	char *from = malloc(len), *to = malloc(len);
	struct elb_dp_err err;

	if (from == NULL || to == NULL) {
		owner_history_warn(api, api->state_path, "out of memory");
		goto out;
	}
	for (unsigned int n = ELB_DP_OWNER_HISTORY; n > 1; n--) {
		owner_history_path(api->state_path, n - 1, from, len);
		owner_history_path(api->state_path, n, to, len);
		if (rename(from, to) < 0 && errno != ENOENT)
			owner_history_warn(api, from, strerror(errno));
	}
	owner_history_path(api->state_path, 1, to, len);
	/* old is what the state file holds, its data already fsync'ed: the
	 * entry is a second link to it, made durable by the directory fsync
	 * of the state write that follows. One write and two fsyncs per
	 * change instead of two and four. Else (the last write failed, a
	 * filesystem without hard links) it is written out. */
	if (api->state_holds_config) {
		if (unlink(to) < 0 && errno != ENOENT)
			owner_history_warn(api, to, strerror(errno));
		if (link(api->state_path, to) == 0)
			goto out;
	}
	if (elb_dp_config_write_file(to, old, &err) < 0)
		owner_history_warn(api, err.text, NULL); /* starts with the path */
out:
	free(from);
	free(to);
}

/* Apply the history oldest first, through ops->apply alone: not a change
 * of the config in force (no epoch, no state file, no history entry). */
static void owner_history_replay(struct elb_dp_api *api)
{
	size_t len = strlen(api->state_path) + 16;
	char *path = malloc(len);

	if (path == NULL) {
		owner_history_warn(api, api->state_path, "out of memory");
		return;
	}
	for (unsigned int n = ELB_DP_OWNER_HISTORY; n >= 1; n--) {
		char reason[ELB_DP_APPLY_ERR_MAX] = "";
		struct elb_dp_config *config = NULL;
		struct elb_dp_err err;
		int rc;

		owner_history_path(api->state_path, n, path, len);
		if (access(path, F_OK) < 0)
			continue;
		rc = elb_dp_config_load_file(path, &config, &err);
		if (rc < 0) {
			owner_history_warn(api, err.text, NULL); /* starts with the path */
			continue;
		}
		rc = api->ops.apply(api->ctx, config, api->epoch, reason, sizeof(reason));
		elb_dp_config_free(config);
		if (rc < 0) {
			reason[sizeof(reason) - 1] = '\0';
			owner_history_warn(api, path, reason[0] != '\0' ? reason : strerror(-rc));
			continue;
		}
		api->owner_history_applied++;
	}
	free(path);
}

static void persist(struct elb_dp_api *api)
{
	struct elb_dp_err err;

	if (api->state_path == NULL)
		return;
	api->state_holds_config = false;
	if (elb_dp_config_write_file(api->state_path, api->config, &err) < 0) {
		api->persist_failures++;
		snprintf(api->persist_error, sizeof(api->persist_error), "%s", err.text);
		return;
	}
	api->persist_error[0] = '\0';
	api->state_holds_config = true;
}

/*
 * Make `next` (owned; freed unless it becomes current) the prefix lists in
 * force, persisted as the config is (a failed write is counted, the lists
 * stay applied). @return 1 applied, 0 the same rules already in force, or
 * -errno with error filled.
 */
static int commit_prefixes(struct elb_dp_api *api, struct elb_prefix_set *next,
			   struct elb_rpc_error *error)
{
	char reason[ELB_DP_APPLY_ERR_MAX] = "";
	struct elb_dp_err err;
	int rc;

	if (elb_prefix_set_same_rules(next, api->prefixes)) {
		api->prefixes->generation = next->generation;
		elb_prefix_set_free(next);
		rc = 0;
		goto write;
	}
	if (api->ops.apply_prefixes == NULL) {
		elb_prefix_set_free(next);
		elb_rpc_error_set(error, ELB_DP_ERR_APPLY_FAILED, "prefixes",
				  "prefixes: this dataplane has no prefix lists");
		return -EOPNOTSUPP;
	}
	rc = api->ops.apply_prefixes(api->ctx, next, reason, sizeof(reason));
	if (rc < 0) {
		api->apply_failures++;
		elb_prefix_set_free(next);
		reason[sizeof(reason) - 1] = '\0';
		elb_rpc_error_set(error, ELB_DP_ERR_APPLY_FAILED, "prefixes",
				  "the dataplane refused the prefix lists: %s (%s)",
				  reason[0] != '\0' ? reason : "no reason given", strerror(-rc));
		error->data = cJSON_CreateObject();
		if (error->data != NULL)
			cJSON_AddNumberToObject(error->data, "errno", -rc);
		return rc;
	}
	elb_prefix_set_free(api->prefixes);
	api->prefixes = next;
	rc = 1;
write:
	if (api->prefixes_path != NULL &&
	    elb_prefix_set_write_file(api->prefixes_path, api->prefixes, &err) < 0) {
		api->persist_failures++;
		snprintf(api->persist_error, sizeof(api->persist_error), "%s", err.text);
	}
	return rc;
}

/*
 * Make `next` (owned; freed unless it becomes current) the config in force.
 * @return 1 applied, 0 nothing to change, or a negative errno with error
 *         filled: -EINVAL invalid, apply's code if refused.
 */
static int commit(struct elb_dp_api *api, struct elb_dp_config *next, struct elb_rpc_error *error)
{
	char reason[ELB_DP_APPLY_ERR_MAX] = "";
	struct elb_dp_err err;
	int rc;

	rc = elb_dp_config_validate(next, "", &err);
	if (rc < 0) {
		elb_dp_config_free(next);
		return elb_dp_rpc_model_error(error, &err, rc);
	}
	/* A control plane re-sending what is in force must not make the
	 * dataplane rebuild its tables. */
	if (!api->running_state_kept && api->config != NULL &&
	    elb_dp_config_equal(next, api->config)) {
		elb_dp_config_free(next);
		return 0;
	}
	rc = api->ops.apply(api->ctx, next, api->epoch + 1, reason, sizeof(reason));
	if (rc < 0) {
		api->apply_failures++;
		elb_dp_config_free(next);
		reason[sizeof(reason) - 1] = '\0';
		elb_rpc_error_set(error, ELB_DP_ERR_APPLY_FAILED, NULL,
				  "the dataplane refused the config: %s (%s)",
				  reason[0] != '\0' ? reason : "no reason given", strerror(-rc));
		error->data = cJSON_CreateObject();
		if (error->data != NULL)
			cJSON_AddNumberToObject(error->data, "errno", -rc);
		return rc;
	}
	/* The history first: a crash between the two writes leaves the old
	 * config both in the history and in the state file, which replays
	 * as no change. */
	if (api->state_path != NULL && api->config != NULL &&
	    elb_dp_config_tables_moved(api->config, next))
		owner_history_push(api, api->config);
	elb_dp_config_free(api->config);
	api->config = next;
	api->epoch++;
	api->running_state_kept = false;
	persist(api);
	return 1;
}

/* Every result but flow.explain's starts with the epoch in force. NULL:
 * out of memory. */
static cJSON *epoch_result(const struct elb_dp_api *api)
{
	cJSON *r = cJSON_CreateObject();

	if (r != NULL && elb_dp_json_add_u64(r, "epoch", api->epoch) == NULL) {
		cJSON_Delete(r);
		return NULL;
	}
	return r;
}

/* A method's end: r becomes the result if it was built whole (built),
 * else it is dropped and the answer is "out of memory". */
static int give_result(cJSON *r, bool built, cJSON **result, struct elb_rpc_error *error)
{
	if (r == NULL || !built) {
		cJSON_Delete(r);
		return elb_dp_rpc_nomem(error);
	}
	*result = r;
	return 0;
}

/* The result of a mutating method. */
static int change_result(struct elb_dp_api *api, int committed, cJSON **result,
			 struct elb_rpc_error *error)
{
	cJSON *r = epoch_result(api);
	bool built = r != NULL && cJSON_AddBoolToObject(r, "changed", committed > 0) != NULL;

	/* Applied but not saved: the change holds until a restart only. */
	if (built && committed > 0 && api->persist_error[0] != '\0')
		built = cJSON_AddStringToObject(r, "warning", api->persist_error) != NULL;
	return give_result(r, built, result, error);
}

/*
 * A change's end: commit `next` (owned; NULL if building it ran out of
 * memory) and answer with change_result.
 */
static int commit_change(struct elb_dp_api *api, struct elb_dp_config *next, cJSON **result,
			 struct elb_rpc_error *error)
{
	int rc;

	if (next == NULL)
		return elb_dp_rpc_nomem(error);
	rc = commit(api, next, error);
	return rc < 0 ? rc : change_result(api, rc, result, error);
}

/* A clone of the current config with VIP `index` replaced by *vip, or vip
 * appended when index is negative. Takes what *vip owns, in all cases. */
static struct elb_dp_config *config_with_vip(const struct elb_dp_config *current, int index,
					     struct elb_dp_vip *vip)
{
	struct elb_dp_config *next = elb_dp_config_clone(current);

	if (next == NULL)
		goto fail;
	if (index >= 0) {
		elb_dp_vip_release(&next->vips[index]);
		next->vips[index] = *vip;
		return next;
	}
	{
		struct elb_dp_vip *vips = realloc(next->vips, (next->n_vips + 1) * sizeof(*vips));

		if (vips == NULL)
			goto fail;
		next->vips = vips;
		next->vips[next->n_vips++] = *vip;
	}
	return next;
fail:
	elb_dp_vip_release(vip);
	elb_dp_config_free(next);
	return NULL;
}

/* ------------------------------------------------------------------------ */
/* Methods */

/* ping's members after "pong" (elb_rpc serves ping; it adds "version"). */
static int describe_ping(void *ctx, cJSON *r)
{
	struct elb_dp_api *api = ctx;

	if (elb_dp_json_add_u64(r, "epoch", api->epoch) == NULL ||
	    cJSON_AddStringToObject(r, "dataplane", api->dataplane) == NULL ||
	    cJSON_AddStringToObject(r, "instance", api->instance) == NULL ||
	    cJSON_AddNumberToObject(r, "protocol", ELB_DP_PROTOCOL_VERSION) == NULL)
		return -ENOMEM;
	return 0;
}

/* A read without params answered with the epoch and one member, `name`:
 * `value` (NULL: building it ran out of memory; taken in every case). */
static int epoch_and_member(struct elb_dp_api *api, const cJSON *params, const char *name,
			    cJSON *value, cJSON **result, struct elb_rpc_error *error)
{
	static const char *const known[] = {NULL};
	int rc = elb_dp_rpc_check_params(params, known, error);
	cJSON *r;
	bool built;

	if (rc < 0) {
		cJSON_Delete(value);
		return rc;
	}
	r = epoch_result(api);
	built = r != NULL && value != NULL && cJSON_AddItemToObject(r, name, value);
	if (!built)
		cJSON_Delete(value);
	return give_result(r, built, result, error);
}

static int method_config_get(void *ctx, const cJSON *params, cJSON **result,
			     struct elb_rpc_error *error)
{
	struct elb_dp_api *api = ctx;
	cJSON *config = elb_dp_config_to_json(api->config);

	/* QUIC keys are secrets: a peer that may only read sees their checks. */
	if (config != NULL && !elb_rpc_server_caller_may_write(api->server) &&
	    elb_dp_config_json_redact(config) < 0) {
		cJSON_Delete(config);
		config = NULL;
	}
	return epoch_and_member(api, params, "config", config, result, error);
}

static int method_config_set(void *ctx, const cJSON *params, cJSON **result,
			     struct elb_rpc_error *error)
{
	static const char *const known[] = {"config", "if_epoch", NULL};
	struct elb_dp_api *api = ctx;
	const cJSON *json = cJSON_GetObjectItemCaseSensitive(params, "config");
	struct elb_dp_config *next;
	struct elb_dp_err err;
	int rc;

	rc = check_change_params(api, params, known, error);
	if (rc < 0)
		return rc;
	if (json == NULL)
		return bad_param(error, "config", "missing");
	rc = elb_dp_config_from_json(json, "config", &next, &err);
	if (rc < 0)
		return elb_dp_rpc_model_error(error, &err, rc);
	return commit_change(api, next, result, error);
}

static int method_vip_set(void *ctx, const cJSON *params, cJSON **result,
			  struct elb_rpc_error *error)
{
	struct elb_dp_api *api = ctx;
	struct elb_dp_config *next;
	struct elb_dp_vip vip;
	struct elb_dp_err err;
	bool backends_given, created;
	cJSON *vip_params, *r;
	int index, rc;

	rc = params_past_guard(api, params, &vip_params, error);
	if (rc < 0)
		return rc;
	rc = elb_dp_vip_from_json(vip_params, "", &vip, &backends_given, &err);
	cJSON_Delete(vip_params);
	if (rc < 0)
		return elb_dp_rpc_model_error(error, &err, rc);
	index = elb_dp_config_find_vip(api->config, &vip.key);
	created = index < 0;
	/* Settings are replaced; the backends only when given. */
	if (!created && !backends_given) {
		const struct elb_dp_vip *old = &api->config->vips[index];
		struct elb_dp_vip with_backends;

		if (elb_dp_vip_copy(&with_backends, old) < 0) {
			elb_dp_vip_release(&vip);
			return elb_dp_rpc_nomem(error);
		}
		vip.backends = with_backends.backends;
		vip.n_backends = with_backends.n_backends;
	}
	rc = elb_dp_vip_validate(&vip, &api->config->node, "", &err);
	if (rc < 0) {
		elb_dp_vip_release(&vip);
		return elb_dp_rpc_model_error(error, &err, rc);
	}
	next = config_with_vip(api->config, index, &vip);
	rc = commit_change(api, next, result, error);
	if (rc < 0)
		return rc;
	r = *result;
	if (cJSON_AddBoolToObject(r, "created", created) == NULL) {
		cJSON_Delete(r);
		*result = NULL;
		return elb_dp_rpc_nomem(error);
	}
	return 0;
}

static int method_vip_remove(void *ctx, const cJSON *params, cJSON **result,
			     struct elb_rpc_error *error)
{
	static const char *const known[] = {"address", "port", "protocol", "if_epoch", NULL};
	struct elb_dp_api *api = ctx;
	struct elb_dp_config *next;
	int index;

	index = changed_vip(api, params, known, error);
	if (index < 0)
		return index;
	next = elb_dp_config_clone(api->config);
	if (next == NULL)
		return elb_dp_rpc_nomem(error);
	elb_dp_vip_release(&next->vips[index]);
	memmove(&next->vips[index], &next->vips[index + 1],
		(next->n_vips - (uint32_t)index - 1) * sizeof(*next->vips));
	next->n_vips--;
	return commit_change(api, next, result, error);
}

static int method_vip_list(void *ctx, const cJSON *params, cJSON **result,
			   struct elb_rpc_error *error)
{
	static const char *const known[] = {"backends", NULL};
	struct elb_dp_api *api = ctx;
	const cJSON *with = cJSON_GetObjectItemCaseSensitive(params, "backends");
	cJSON *r, *vips;
	bool built;
	int rc = elb_dp_rpc_check_params(params, known, error);

	if (rc < 0)
		return rc;
	if (with != NULL && !cJSON_IsBool(with))
		return bad_param(error, "backends", "must be true or false");
	r = epoch_result(api);
	vips = r != NULL ? cJSON_AddArrayToObject(r, "vips") : NULL;
	built = vips != NULL;
	for (uint32_t i = 0; built && i < api->config->n_vips; i++) {
		cJSON *vip = elb_dp_vip_to_json(&api->config->vips[i], cJSON_IsTrue(with));

		if (vip != NULL && !elb_rpc_server_caller_may_write(api->server) &&
		    elb_dp_config_json_redact(vip) < 0) {
			cJSON_Delete(vip);
			vip = NULL;
		}
		built = vip != NULL && cJSON_AddItemToArray(vips, vip);
		if (!built)
			cJSON_Delete(vip);
	}
	return give_result(r, built, result, error);
}

static int method_backends_set(void *ctx, const cJSON *params, cJSON **result,
			       struct elb_rpc_error *error)
{
	static const char *const known[] = {"address", "port", "protocol", "backends", "if_epoch",
					    NULL};
	struct elb_dp_api *api = ctx;
	const cJSON *backends_json = cJSON_GetObjectItemCaseSensitive(params, "backends");
	struct elb_dp_config *next;
	struct elb_dp_vip vip;
	struct elb_dp_err err;
	int index, rc;

	index = changed_vip(api, params, known, error);
	if (index < 0)
		return index;
	if (backends_json == NULL)
		return bad_param(error, "backends", "missing");
	vip = api->config->vips[index];
	vip.backends = NULL;
	vip.n_backends = 0;
	rc = elb_dp_backends_from_json(backends_json, "backends", &vip.backends, &vip.n_backends,
				       &err);
	if (rc == 0)
		rc = elb_dp_vip_validate(&vip, &api->config->node, "", &err);
	if (rc < 0) {
		elb_dp_vip_release(&vip);
		return elb_dp_rpc_model_error(error, &err, rc);
	}
	next = config_with_vip(api->config, index, &vip);
	return commit_change(api, next, result, error);
}

static int method_node_set(void *ctx, const cJSON *params, cJSON **result,
			   struct elb_rpc_error *error)
{
	struct elb_dp_api *api = ctx;
	struct elb_dp_config *next;
	struct elb_dp_node node;
	struct elb_dp_err err;
	cJSON *node_params;
	int rc;

	rc = params_past_guard(api, params, &node_params, error);
	if (rc < 0)
		return rc;
	rc = elb_dp_node_from_json(node_params, "", &api->config->node, &node, &err);
	cJSON_Delete(node_params);
	if (rc == 0)
		rc = elb_dp_node_validate(&node, "", &err);
	if (rc < 0)
		return elb_dp_rpc_model_error(error, &err, rc);
	next = elb_dp_config_clone(api->config);
	if (next == NULL)
		return elb_dp_rpc_nomem(error);
	next->node = node;
	return commit_change(api, next, result, error);
}

static int method_counters_get(void *ctx, const cJSON *params, cJSON **result,
			       struct elb_rpc_error *error)
{
	static const char *const known[] = {"address", "port", "protocol", NULL};
	struct elb_dp_api *api = ctx;
	struct elb_dp_vip_key key;
	bool filtered = cJSON_GetArraySize(params) > 0;
	cJSON *r, *counters;
	int rc;

	rc = elb_dp_rpc_check_params(params, known, error);
	if (rc < 0)
		return rc;
	if (filtered) {
		rc = find_vip(api, params, &key, error);
		if (rc < 0)
			return rc;
	}
	if (api->ops.counters == NULL) {
		elb_rpc_error_set(error, ELB_RPC_INTERNAL_ERROR, NULL,
				  "this dataplane reports no counters");
		return -EOPNOTSUPP;
	}
	r = epoch_result(api);
	if (r != NULL && filtered && !cJSON_AddItemToObject(r, "vip", elb_dp_vip_key_to_json(&key)))
		return give_result(r, false, result, error);
	counters = r != NULL ? cJSON_AddObjectToObject(r, "counters") : NULL;
	if (counters == NULL)
		return give_result(r, false, result, error);
	rc = api->ops.counters(api->ctx, counters, filtered ? &key : NULL);
	if (rc < 0) {
		cJSON_Delete(r);
		elb_rpc_error_set(error, ELB_RPC_INTERNAL_ERROR, NULL, "counters: %s",
				  strerror(-rc));
		return rc;
	}
	return give_result(r, true, result, error);
}

/* status.get's members (elb_rpc serves status.get and adds its own
 * counters to "control"). */
static int describe_status(void *ctx, cJSON *r)
{
	struct elb_dp_api *api = ctx;
	uint64_t backends = 0;
	cJSON *control, *status;
	bool ok;
	int rc;

	for (uint32_t i = 0; i < api->config->n_vips; i++)
		backends += api->config->vips[i].n_backends;
	ok = elb_dp_json_add_u64(r, "epoch", api->epoch) != NULL &&
	     cJSON_AddStringToObject(r, "dataplane", api->dataplane) != NULL &&
	     cJSON_AddStringToObject(r, "instance", api->instance) != NULL &&
	     cJSON_AddNumberToObject(r, "protocol", ELB_DP_PROTOCOL_VERSION) != NULL &&
	     cJSON_AddStringToObject(r, "version", ELB_VERSION) != NULL &&
	     elb_dp_json_add_u64(r, "uptime_ms", monotonic_ms() - api->started_ms) != NULL &&
	     cJSON_AddBoolToObject(r, "running_state_kept", api->running_state_kept) != NULL &&
	     cJSON_AddNumberToObject(r, "vips", api->config->n_vips) != NULL &&
	     elb_dp_json_add_u64(r, "backends", backends) != NULL &&
	     elb_dp_json_add_u64(r, "prefix_generation", api->prefixes->generation) != NULL &&
	     cJSON_AddNumberToObject(r, "prefix_rules", elb_prefix_set_rules(api->prefixes)) != NULL;
	control = ok ? cJSON_AddObjectToObject(r, "control") : NULL;
	ok = control != NULL &&
	     elb_dp_json_add_u64(control, "apply_failures", api->apply_failures) != NULL &&
	     elb_dp_json_add_u64(control, "persist_failures", api->persist_failures) != NULL &&
	     elb_dp_json_add_u64(control, "owner_history_applied", api->owner_history_applied) !=
		     NULL &&
	     elb_dp_json_add_u64(control, "owner_history_failures", api->owner_history_failures) !=
		     NULL;
	if (ok && api->persist_error[0] != '\0')
		ok = cJSON_AddStringToObject(control, "persist_error", api->persist_error) != NULL;
	status = ok ? cJSON_AddObjectToObject(r, "status") : NULL;
	if (status == NULL)
		return -ENOMEM;
	if (api->ops.status != NULL) {
		rc = api->ops.status(api->ctx, status);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* vip.tables: what the workers' Maglev tables hold, and the flows on them */

static int slot_addr_cmp(const void *x, const void *y, void *arg)
{
	const struct elb_backend_slot *slots = arg;
	const struct elb_backend_slot *a = &slots[*(const uint32_t *)x];
	const struct elb_backend_slot *b = &slots[*(const uint32_t *)y];

	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	return memcmp(a->addr.v6, b->addr.v6, a->family == ELB_AF_INET ? 4 : 16);
}

/* One VIP of the snapshot: digest, slots and flows per backend. */
static cJSON *vip_table_json(const struct elb_snapshot *snap, const struct elb_dp_vip_key *key,
			     const struct elb_table_identity *ids, const uint32_t *slot_counts,
			     const uint64_t *flows, uint32_t *scratch)
{
	char name[ELB_DP_VIP_KEY_STR_MAX], digest[ELB_TABLE_DIGEST_STR], addr[ELB_ADDR_TEXT_MAX];
	uint16_t idx = elb_snapshot_vip_index(snap, key);
	const struct elb_vip *v;
	uint32_t n = 0, owners = 0, min_slots = UINT32_MAX, max_slots = 0;
	uint64_t weight_total = 0, flows_total = 0;
	cJSON *o, *backends;

	if (idx == ELB_NO_VIP)
		return cJSON_CreateNull(); /* not applied yet: never for the config in force */
	v = &snap->vips[idx];
	for (uint32_t s = 0; s < snap->n_backend_slots; s++)
		if (snap->backends[s].gen != 0 && snap->backends[s].vip_index == idx)
			scratch[n++] = s;
	qsort_r(scratch, n, sizeof(*scratch), slot_addr_cmp, snap->backends);
	for (uint32_t i = 0; i < n; i++) {
		const struct elb_backend_slot *b = &snap->backends[scratch[i]];

		if (b->state == ELB_BACKEND_ACTIVE && b->weight > 0) {
			weight_total += b->weight;
			owners++;
			if (slot_counts[scratch[i]] < min_slots)
				min_slots = slot_counts[scratch[i]];
			if (slot_counts[scratch[i]] > max_slots)
				max_slots = slot_counts[scratch[i]];
		}
	}
	if (owners == 0)
		min_slots = 0;
	elb_table_digest_str(elb_table_digest(v->maglev, v->maglev_size, ids,
					      snap->n_backend_slots),
			     digest);
	o = cJSON_CreateObject();
	if (o == NULL)
		return NULL;
	cJSON_AddStringToObject(o, "vip", elb_dp_vip_key_str(key, name, sizeof(name)));
	elb_dp_json_add_u64(o, "maglev_size", v->maglev_size);
	cJSON_AddStringToObject(o, "digest", digest);
	elb_dp_json_add_u64(o, "backends_in_table", owners);
	elb_dp_json_add_u64(o, "slots_min", min_slots);
	elb_dp_json_add_u64(o, "slots_max", max_slots);
	/* The rule of thumb M > 100 x N keeps the imbalance under about 1%. */
	cJSON_AddBoolToObject(o, "small_table",
			      (uint64_t)v->maglev_size <= (uint64_t)ELB_TABLE_SLOTS_PER_BACKEND_MIN * n);
	backends = cJSON_AddArrayToObject(o, "backends");
	for (uint32_t i = 0; backends != NULL && i < n; i++) {
		const struct elb_backend_slot *b = &snap->backends[scratch[i]];
		cJSON *e = cJSON_CreateObject();
		bool weighted = b->state == ELB_BACKEND_ACTIVE && weight_total > 0;

		if (e == NULL || !cJSON_AddItemToArray(backends, e)) {
			cJSON_Delete(e);
			break;
		}
		cJSON_AddStringToObject(e, "address", elb_addr_format(&b->addr, b->family, addr,
								sizeof(addr)));
		cJSON_AddStringToObject(e, "state",
					b->state == ELB_BACKEND_DRAINING ? "draining" : "active");
		elb_dp_json_add_u64(e, "weight", b->weight);
		elb_dp_json_add_u64(e, "slots", slot_counts[scratch[i]]);
		cJSON_AddNumberToObject(e, "slot_share",
					(double)slot_counts[scratch[i]] / v->maglev_size);
		cJSON_AddNumberToObject(e, "weight_share",
					weighted ? (double)b->weight / (double)weight_total : 0.0);
		if (flows != NULL) {
			elb_dp_json_add_u64(e, "flows", flows[scratch[i]]);
			flows_total += flows[scratch[i]];
		}
	}
	if (flows != NULL)
		elb_dp_json_add_u64(o, "flows", flows_total);
	return o;
}

static int method_vip_tables(void *ctx, const cJSON *params, cJSON **result,
			     struct elb_rpc_error *error)
{
	static const char *const known[] = {"address", "port", "protocol", "flows", NULL};
	struct elb_dp_api *api = ctx;
	const cJSON *want_flows = cJSON_GetObjectItemCaseSensitive(params, "flows");
	bool filtered = cJSON_GetObjectItemCaseSensitive(params, "address") != NULL ||
			cJSON_GetObjectItemCaseSensitive(params, "port") != NULL ||
			cJSON_GetObjectItemCaseSensitive(params, "protocol") != NULL;
	const struct elb_snapshot *snap;
	struct elb_table_identity *ids = NULL;
	uint32_t *slot_counts = NULL, *scratch = NULL;
	uint64_t *flows = NULL, flows_age_ms = 0;
	struct elb_dp_vip_key key;
	cJSON *r = NULL, *vips;
	int rc;

	rc = elb_dp_rpc_check_params(params, known, error);
	if (rc < 0)
		return rc;
	if (want_flows != NULL && !cJSON_IsBool(want_flows))
		return bad_param(error, "flows", "must be a boolean");
	if (filtered) {
		rc = find_vip(api, params, &key, error);
		if (rc < 0)
			return rc;
	}
	if (api->ops.snapshot == NULL || (snap = api->ops.snapshot(api->ctx)) == NULL) {
		elb_rpc_error_set(error, ELB_RPC_INTERNAL_ERROR, NULL,
				  "this dataplane reports no tables");
		return -EOPNOTSUPP;
	}
	ids = calloc((size_t)snap->n_backend_slots + 1, sizeof(*ids));
	slot_counts = calloc((size_t)snap->n_backend_slots + 1, sizeof(*slot_counts));
	scratch = calloc((size_t)snap->n_backend_slots + 1, sizeof(*scratch));
	if (ids == NULL || slot_counts == NULL || scratch == NULL)
		goto nomem;
	for (uint32_t s = 0; s < snap->n_backend_slots; s++)
		if (snap->backends[s].gen != 0) {
			ids[s].addr = snap->backends[s].addr;
			ids[s].family = snap->backends[s].family;
		}
	if (api->ops.flow_counts != NULL && !cJSON_IsFalse(want_flows)) {
		flows = calloc((size_t)snap->n_backend_slots + 1, sizeof(*flows));
		if (flows == NULL)
			goto nomem;
		rc = api->ops.flow_counts(api->ctx, snap, flows, &flows_age_ms);
		if (rc < 0) {
			free(flows);
			flows = NULL;
		}
	}
	r = cJSON_CreateObject();
	if (r == NULL)
		goto nomem;
	elb_dp_json_add_u64(r, "epoch", api->epoch);
	elb_dp_json_add_u64(r, "snapshot_epoch", snap->epoch);
	cJSON_AddBoolToObject(r, "flows_counted", flows != NULL);
	/* How long ago the walk behind the counts began: 0 when counted now
	 * (DPDK, the replays), up to about one walk on edgelb-xdp. */
	if (flows != NULL)
		elb_dp_json_add_u64(r, "flows_age_ms", flows_age_ms);
	vips = cJSON_AddArrayToObject(r, "vips");
	if (vips == NULL)
		goto nomem;
	for (uint32_t i = 0; i < api->config->n_vips; i++) {
		const struct elb_dp_vip *cv = &api->config->vips[i];
		uint16_t idx;
		cJSON *o;

		if (filtered && elb_dp_config_find_vip(api->config, &key) != (int)i)
			continue;
		idx = elb_snapshot_vip_index(snap, &cv->key);
		/* Only this VIP's slot ids appear in its table. */
		if (idx != ELB_NO_VIP)
			elb_table_count_slots(snap->vips[idx].maglev, snap->vips[idx].maglev_size,
					      slot_counts, snap->n_backend_slots);
		o = vip_table_json(snap, &cv->key, ids, slot_counts, flows, scratch);
		if (o == NULL || !cJSON_AddItemToArray(vips, o)) {
			cJSON_Delete(o);
			goto nomem;
		}
	}
	free(ids);
	free(slot_counts);
	free(scratch);
	free(flows);
	*result = r;
	return 0;
nomem:
	free(ids);
	free(slot_counts);
	free(scratch);
	free(flows);
	cJSON_Delete(r);
	return elb_dp_rpc_nomem(error);
}

/* ------------------------------------------------------------------------ */
/* flow.explain */

static int hex_frame(const cJSON *hex, uint8_t *frame, size_t size, struct elb_rpc_error *error)
{
	const char *s = cJSON_GetStringValue(hex);
	size_t n, i;

	if (s == NULL)
		return bad_param(error, "packet", "must be a string of hex digits (an Ethernet frame)");
	n = strlen(s);
	if (n == 0 || n % 2 || n / 2 > size)
		return bad_param(error, "packet", "an even number of hex digits, 1 to 9216 bytes");
	for (i = 0; i < n / 2; i++) {
		unsigned int byte;

		if (!isxdigit((unsigned char)s[2 * i]) || !isxdigit((unsigned char)s[2 * i + 1]) ||
		    sscanf(s + 2 * i, "%2x", &byte) != 1)
			return bad_param(error, "packet", "not hex digits");
		frame[i] = (uint8_t)byte;
	}
	return (int)(n / 2);
}

static int port_param(const cJSON *params, const char *name, uint16_t *out,
		      struct elb_rpc_error *error)
{
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(params, name);

	if (!cJSON_IsNumber(p) || p->valuedouble < 0 || p->valuedouble > 65535 ||
	    p->valuedouble != (double)(int)p->valuedouble)
		return bad_param(error, name, "must be an integer 0..65535");
	*out = htons((uint16_t)p->valueint);
	return 0;
}

static int addr_param(const cJSON *params, const char *name, union elb_addr *out,
		      uint8_t *family, struct elb_rpc_error *error)
{
	const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(params, name));

	if (s == NULL || elb_addr_parse(s, out, family) < 0)
		return bad_param(error, name, "must be an IPv4 or IPv6 address");
	return 0;
}

/* The frame of a 5-tuple given as params (see docs/dataplane-protocol.md). */
static int tuple_frame(const cJSON *params, uint8_t *frame, size_t size,
		       struct elb_rpc_error *error)
{
	const cJSON *proto = cJSON_GetObjectItemCaseSensitive(params, "protocol");
	const cJSON *flags = cJSON_GetObjectItemCaseSensitive(params, "tcp_flags");
	const cJSON *length = cJSON_GetObjectItemCaseSensitive(params, "length");
	const cJSON *df = cJSON_GetObjectItemCaseSensitive(params, "df");
	struct elb_flow_key key = {0};
	uint8_t dst_family, tcp_flags = ELB_TCP_ACK;
	uint32_t payload = 0;
	int rc;

	if ((rc = addr_param(params, "src", &key.src, &key.family, error)) < 0 ||
	    (rc = addr_param(params, "dst", &key.dst, &dst_family, error)) < 0 ||
	    (rc = port_param(params, "sport", &key.sport, error)) < 0 ||
	    (rc = port_param(params, "dport", &key.dport, error)) < 0)
		return rc;
	if (dst_family != key.family)
		return bad_param(error, "dst", "must be of the same family as src");
	if (cJSON_IsString(proto) && strcmp(proto->valuestring, "tcp") == 0)
		key.proto = ELB_IPPROTO_TCP;
	else if (cJSON_IsString(proto) && strcmp(proto->valuestring, "udp") == 0)
		key.proto = ELB_IPPROTO_UDP;
	else
		return bad_param(error, "protocol", "must be \"tcp\" or \"udp\"");
	if (flags != NULL) {
		const char *f = cJSON_GetStringValue(flags);

		if (f == NULL || key.proto != ELB_IPPROTO_TCP)
			return bad_param(error, "tcp_flags",
					 "letters of S, A, F, R, P (TCP only), e.g. \"S\" or \"A\"");
		tcp_flags = 0;
		for (; *f; f++) {
			const char *letters = "SAFRP";
			static const uint8_t bits[] = {ELB_TCP_SYN, ELB_TCP_ACK, ELB_TCP_FIN,
						       ELB_TCP_RST, ELB_TCP_PSH};
			const char *at = strchr(letters, *f);

			if (at == NULL)
				return bad_param(error, "tcp_flags",
						 "letters of S, A, F, R, P, e.g. \"S\" or \"A\"");
			tcp_flags |= bits[at - letters];
		}
	}
	if (length != NULL) {
		if (!cJSON_IsNumber(length) || length->valuedouble < 0 ||
		    length->valuedouble > ELB_EXPLAIN_FRAME_MAX - 14 - 40 - 20 ||
		    length->valuedouble != (double)(int)length->valuedouble)
			return bad_param(error, "length", "payload bytes, an integer 0..9102");
		payload = (uint32_t)length->valueint;
	}
	if (df != NULL && !cJSON_IsBool(df))
		return bad_param(error, "df", "must be a boolean");
	rc = elb_explain_build_frame(frame, size, &key, tcp_flags, payload, !cJSON_IsFalse(df));
	if (rc < 0)
		return bad_param(error, "length", "the frame would exceed 9216 bytes");
	return rc;
}

static int method_flow_explain(void *ctx, const cJSON *params, cJSON **result,
			       struct elb_rpc_error *error)
{
	static const char *const known[] = {"packet", "src",    "dst", "sport",  "dport", "protocol",
					    "tcp_flags", "length", "df", "output", NULL};
	struct elb_dp_api *api = ctx;
	const cJSON *packet = cJSON_GetObjectItemCaseSensitive(params, "packet");
	const cJSON *output = cJSON_GetObjectItemCaseSensitive(params, "output");
	const struct elb_snapshot *snap;
	struct elb_explain_run *run = NULL;
	uint8_t *frame = NULL;
	char reason[ELB_DP_APPLY_ERR_MAX] = "";
	cJSON *r = NULL;
	int len, rc;

	rc = elb_dp_rpc_check_params(params, known, error);
	if (rc < 0)
		return rc;
	if (output != NULL && !cJSON_IsBool(output))
		return bad_param(error, "output", "must be a boolean");
	frame = malloc(ELB_EXPLAIN_FRAME_MAX);
	run = calloc(1, sizeof(*run));
	if (frame == NULL || run == NULL)
		goto nomem;
	if (packet != NULL) {
		if (cJSON_GetObjectItemCaseSensitive(params, "src") != NULL ||
		    cJSON_GetObjectItemCaseSensitive(params, "dst") != NULL) {
			rc = bad_param(error, "packet", "give either packet or a 5-tuple, not both");
			goto out;
		}
		len = hex_frame(packet, frame, ELB_EXPLAIN_FRAME_MAX, error);
	} else {
		len = tuple_frame(params, frame, ELB_EXPLAIN_FRAME_MAX, error);
	}
	if (len < 0) {
		rc = len;
		goto out;
	}
	/* After the params: a malformed request hears what is wrong with it anyway. */
	if (api->ops.explain == NULL || api->ops.snapshot == NULL ||
	    (snap = api->ops.snapshot(api->ctx)) == NULL) {
		elb_rpc_error_set(error, ELB_RPC_INTERNAL_ERROR, NULL,
				  "this dataplane cannot explain its decisions");
		rc = -EOPNOTSUPP;
		goto out;
	}
	rc = api->ops.explain(api->ctx, frame, (uint32_t)len, run, reason, sizeof(reason));
	if (rc < 0) {
		elb_rpc_error_set(error, ELB_RPC_INTERNAL_ERROR, NULL, "explain failed: %s",
				  reason[0] ? reason : strerror(-rc));
		goto out;
	}
	r = cJSON_CreateObject();
	if (r == NULL || elb_explain_render(r, snap, elb_dp_api_prefixes(api), frame,
					    (uint32_t)len, run, cJSON_IsTrue(output)))
		goto nomem;
	*result = r;
	r = NULL;
	rc = 0;
out:
	cJSON_Delete(r);
	free(run);
	free(frame);
	return rc;
nomem:
	rc = elb_dp_rpc_nomem(error);
	goto out;
}

static int method_prefixes_get(void *ctx, const cJSON *params, cJSON **result,
			       struct elb_rpc_error *error)
{
	struct elb_dp_api *api = ctx;

	return epoch_and_member(api, params, "prefixes", elb_prefix_set_to_json(api->prefixes),
				result, error);
}

static int method_prefixes_set(void *ctx, const cJSON *params, cJSON **result,
			       struct elb_rpc_error *error)
{
	static const char *const known[] = {"prefixes", NULL};
	struct elb_dp_api *api = ctx;
	const cJSON *json = cJSON_GetObjectItemCaseSensitive(params, "prefixes");
	struct elb_prefix_set *next;
	struct elb_dp_err err;
	cJSON *r;
	bool built;
	int rc;

	rc = elb_dp_rpc_check_params(params, known, error);
	if (rc < 0)
		return rc;
	if (json == NULL)
		return bad_param(error, "prefixes", "missing");
	rc = elb_prefix_set_from_json(json, "prefixes", &next, &err);
	if (rc < 0)
		return elb_dp_rpc_model_error(error, &err, rc);
	rc = commit_prefixes(api, next, error);
	if (rc < 0)
		return rc;
	r = epoch_result(api);
	built = r != NULL &&
		elb_dp_json_add_u64(r, "generation", api->prefixes->generation) != NULL &&
		cJSON_AddNumberToObject(r, "rules", elb_prefix_set_rules(api->prefixes)) != NULL &&
		cJSON_AddBoolToObject(r, "changed", rc == 1) != NULL;
	return give_result(r, built, result, error);
}

/* ping, status.get and rpc.methods are elb_rpc's (describe_ping and
 * describe_status add ours). Names: docs/dataplane-protocol.md "Method
 * names". */
static const struct elb_rpc_method dp_methods[] = {
	{"config.get", method_config_get, true},
	{"config.set", method_config_set, false},
	{"vip.set", method_vip_set, false},
	{"vip.remove", method_vip_remove, false},
	{"vip.list", method_vip_list, true},
	{"vip.tables", method_vip_tables, true},
	{"backends.set", method_backends_set, false},
	{"node.set", method_node_set, false},
	{"counters.get", method_counters_get, true},
	{"flow.explain", method_flow_explain, true},
	{"prefixes.get", method_prefixes_get, true},
	{"prefixes.set", method_prefixes_set, false},
};

/* Deprecated names, served for one more release. */
static const struct elb_rpc_alias dp_aliases[] = {
	{"vip.delete", "vip.remove"},
};

/* ------------------------------------------------------------------------ */
/* Lifetime */

static void make_instance_id(char out[17])
{
	uint64_t id;

	if (getrandom(&id, sizeof(id), GRND_NONBLOCK) != (ssize_t)sizeof(id))
		id = monotonic_ms() ^ ((uint64_t)getpid() << 32) ^ (uint64_t)time(NULL);
	snprintf(out, 17, "%016" PRIx64, id);
}

static int starting_config(const struct elb_dp_api_options *options,
			   struct elb_dp_config **out, struct elb_dp_err *err)
{
	if (options->state_path != NULL && access(options->state_path, F_OK) == 0)
		return elb_dp_config_load_file(options->state_path, out, err);
	*out = options->initial != NULL ? elb_dp_config_clone(options->initial)
					: elb_dp_config_new();
	if (*out == NULL) {
		snprintf(err->text, sizeof(err->text), "out of memory");
		return -ENOMEM;
	}
	return 0;
}

int elb_dp_api_open(struct elb_dp_api **out, const struct elb_dp_api_options *options,
		    const struct elb_dp_ops *ops, void *ctx, struct elb_dp_err *err)
{
	struct elb_rpc_server_config rpc = {0};
	struct elb_rpc_error error = {0};
	struct elb_dp_config *config = NULL;
	struct elb_dp_api *api;
	struct elb_dp_err local;
	bool config_is_default, state_loaded;
	int rc;

	if (err == NULL)
		err = &local;
	err->field[0] = err->text[0] = '\0';
	if (out == NULL || options == NULL || options->socket_path == NULL || ops == NULL ||
	    ops->apply == NULL) {
		snprintf(err->text, sizeof(err->text), "missing socket path or apply callback");
		return -EINVAL;
	}
	api = calloc(1, sizeof(*api));
	if (api == NULL) {
		snprintf(err->text, sizeof(err->text), "out of memory");
		return -ENOMEM;
	}
	api->ops = *ops;
	api->ctx = ctx;
	api->started_ms = monotonic_ms();
	api->prefixes = elb_prefix_set_new();
	if (api->prefixes == NULL) {
		rc = -ENOMEM;
		snprintf(err->text, sizeof(err->text), "out of memory");
		goto fail;
	}
	snprintf(api->dataplane, sizeof(api->dataplane), "%s",
		 options->dataplane != NULL ? options->dataplane : "unknown");
	make_instance_id(api->instance);
	if (options->state_path != NULL) {
		api->state_path = strdup(options->state_path);
		if (api->state_path != NULL &&
		    asprintf(&api->prefixes_path, "%s.prefixes", options->state_path) < 0)
			api->prefixes_path = NULL;
		if (api->state_path == NULL || api->prefixes_path == NULL) {
			rc = -ENOMEM;
			snprintf(err->text, sizeof(err->text), "out of memory");
			goto fail;
		}
	}
	state_loaded = options->state_path != NULL && access(options->state_path, F_OK) == 0;
	config_is_default = !state_loaded && options->initial == NULL;
	rc = starting_config(options, &config, err);
	if (rc < 0)
		goto fail;

	/* The socket first: a second instance on the same path fails here,
	 * before it touches the dataplane. */
	rpc.path = options->socket_path;
	rpc.methods = dp_methods;
	rpc.n_methods = ELB_ARRAY_SIZE(dp_methods);
	rpc.aliases = dp_aliases;
	rpc.n_aliases = ELB_ARRAY_SIZE(dp_aliases);
	rpc.ctx = api;
	rpc.ping = describe_ping;
	rpc.status = describe_status;
	rpc.mode = options->socket_mode;
	rpc.max_clients = options->max_clients;
	rpc.max_output = options->max_output;
	rpc.stall_timeout_ms = options->stall_timeout_ms;
	rc = elb_rpc_server_open(&api->server, &rpc);
	if (rc < 0) {
		elb_dp_config_free(config);
		snprintf(err->text, sizeof(err->text), "%s: %s", options->socket_path,
			 strerror(-rc));
		goto fail;
	}
	if (options->keep_running_state && config_is_default) {
		/* Nothing to start from but the dataplane's own state: leave it
		 * serving (epoch 0, an empty config here) until the first change. */
		api->config = config;
		api->running_state_kept = true;
		*out = api;
		return 0;
	}
	/* The history belongs to the state file: without it, nothing to
	 * continue from. A dataplane that kept its state across the restart
	 * (XDP over its pinned maps) kept its previous owners with it, and
	 * is forwarding: older tables must not be published over it. */
	if (state_loaded && !options->keep_running_state)
		owner_history_replay(api);
	rc = commit(api, config, &error);
	if (rc >= 0 && api->prefixes_path != NULL && access(api->prefixes_path, F_OK) == 0) {
		struct elb_prefix_set *prefixes;

		rc = elb_prefix_set_load_file(api->prefixes_path, &prefixes, err);
		if (rc < 0)
			goto fail;
		rc = commit_prefixes(api, prefixes, &error);
	}
	cJSON_Delete(error.data);
	if (rc < 0) {
		copy_text(err->field, sizeof(err->field), error.field);
		copy_text(err->text, sizeof(err->text), error.message);
		goto fail;
	}
	*out = api;
	return 0;
fail:
	elb_dp_api_close(api);
	return rc;
}

int elb_dp_api_poll(struct elb_dp_api *api, int timeout_ms)
{
	return elb_rpc_server_poll(api->server, timeout_ms);
}

int elb_dp_api_fd(const struct elb_dp_api *api)
{
	return elb_rpc_server_fd(api->server);
}

const struct elb_dp_config *elb_dp_api_config(const struct elb_dp_api *api)
{
	return api->config;
}

uint64_t elb_dp_api_epoch(const struct elb_dp_api *api)
{
	return api->epoch;
}

const struct elb_prefix_set *elb_dp_api_prefixes(const struct elb_dp_api *api)
{
	return api->prefixes;
}

/* The outcome of a change made from the control thread itself, as the
 * caller's err: out of memory when the copy failed (rc -ENOMEM, no
 * commit), else the commit's error. @return 0 or the commit's -errno. */
static int local_change_result(int rc, struct elb_rpc_error *error, struct elb_dp_err *err)
{
	cJSON_Delete(error->data);
	if (rc < 0 && err != NULL) {
		copy_text(err->field, sizeof(err->field), error->field);
		copy_text(err->text, sizeof(err->text), error->message);
	}
	return rc < 0 ? rc : 0;
}

int elb_dp_api_set_prefixes(struct elb_dp_api *api, const struct elb_prefix_set *set,
			    struct elb_dp_err *err)
{
	struct elb_rpc_error error = {0};
	struct elb_prefix_set *next = elb_prefix_set_clone(set);

	if (next == NULL)
		elb_rpc_error_set(&error, ELB_RPC_INTERNAL_ERROR, NULL, "out of memory");
	return local_change_result(next ? commit_prefixes(api, next, &error) : -ENOMEM, &error,
				   err);
}

int elb_dp_api_set_config(struct elb_dp_api *api, const struct elb_dp_config *config,
			  struct elb_dp_err *err)
{
	struct elb_rpc_error error = {0};
	struct elb_dp_config *next = elb_dp_config_clone(config);

	if (next == NULL)
		elb_rpc_error_set(&error, ELB_RPC_INTERNAL_ERROR, NULL, "out of memory");
	return local_change_result(next ? commit(api, next, &error) : -ENOMEM, &error, err);
}

void elb_dp_api_close(struct elb_dp_api *api)
{
	if (api == NULL)
		return;
	elb_rpc_server_close(api->server);
	elb_dp_config_free(api->config);
	elb_prefix_set_free(api->prefixes);
	free(api->prefixes_path);
	free(api->state_path);
	free(api);
}

char *elb_dp_api_answer(struct elb_dp_api *api, const char *line, size_t len)
{
	return elb_rpc_server_answer(api->server, line, len);
}
