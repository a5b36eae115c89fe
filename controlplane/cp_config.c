/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The control plane's configuration; see cp_config.h. The dataplane members
 * of a VIP are parsed by elb_dp_vip_from_json on a copy of the object from
 * which the control-plane-only members are removed, so both programs accept
 * exactly the same VIP settings.
 */
#include "cp_config.h"

#include <errno.h>
#include <grp.h>
#include <math.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "elb_file.h"

void cp_health_check_defaults(struct cp_health_check *hc)
{
	memset(hc, 0, sizeof(*hc));
	hc->type = CP_HC_NONE;
	snprintf(hc->path, sizeof(hc->path), "/healthz");
	hc->expect_status = 200;
	hc->interval_ms = 1000;
	hc->timeout_ms = 500;
	hc->rise = 2;
	hc->fall = 3;
}

static void cp_vips_free(struct cp_vip *vips, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		elb_dp_vip_release(&vips[i].dp);
	free(vips);
}

void cp_config_free(struct cp_config *config)
{
	if (config == NULL)
		return;
	cp_vips_free(config->vips, config->n_vips);
	free(config->dataplanes);
	free(config->drains);
	free(config);
}

/* A copy of n items of size bytes; NULL for none, or out of memory (*failed). */
static void *array_dup(const void *items, uint32_t n, size_t size, bool *failed)
{
	void *copy;

	if (n == 0)
		return NULL;
	copy = malloc(n * size);
	if (copy == NULL)
		*failed = true;
	else
		memcpy(copy, items, n * size);
	return copy;
}

struct cp_config *cp_config_clone(const struct cp_config *config)
{
	struct cp_config *copy = calloc(1, sizeof(*copy));
	bool failed = false;

	if (copy == NULL)
		return NULL;
	copy->node = config->node;
	copy->access = config->access;
	copy->fleet = config->fleet;
	copy->bgp = config->bgp;
	copy->dataplanes = array_dup(config->dataplanes, config->n_dataplanes,
				     sizeof(*copy->dataplanes), &failed);
	copy->n_dataplanes = copy->dataplanes != NULL ? config->n_dataplanes : 0;
	copy->drains = array_dup(config->drains, config->n_drains, sizeof(*copy->drains), &failed);
	copy->n_drains = copy->drains != NULL ? config->n_drains : 0;
	/* Each VIP's backends are its own: the shallow copies are not counted
	 * in n_vips (so not released) until their backends are copied. */
	copy->vips = array_dup(config->vips, config->n_vips, sizeof(*copy->vips), &failed);
	if (failed)
		goto fail;
	for (uint32_t i = 0; i < config->n_vips; i++) {
		if (elb_dp_vip_copy(&copy->vips[i].dp, &config->vips[i].dp) < 0)
			goto fail;
		copy->n_vips = i + 1;
	}
	return copy;
fail:
	cp_config_free(copy);
	return NULL;
}

int cp_config_find_vip(const struct cp_config *config, const struct elb_dp_vip_key *key)
{
	for (uint32_t i = 0; i < config->n_vips; i++)
		if (elb_dp_vip_key_equal(&config->vips[i].dp.key, key))
			return (int)i;
	return -ENOENT;
}

static bool drain_is_of(const struct cp_drain_record *r, const struct elb_dp_vip_key *vip,
			const union elb_addr *backend, uint8_t family)
{
	return elb_dp_vip_key_equal(&r->vip, vip) && r->family == family &&
	       memcmp(&r->backend, backend, sizeof(*backend)) == 0;
}

struct cp_drain_record *cp_config_find_drain(const struct cp_config *config,
					     const struct elb_dp_vip_key *vip,
					     const union elb_addr *backend, uint8_t family)
{
	for (uint32_t i = 0; i < config->n_drains; i++)
		if (drain_is_of(&config->drains[i], vip, backend, family))
			return &config->drains[i];
	return NULL;
}

int cp_config_put_drain(struct cp_config *config, const struct cp_drain_record *record)
{
	struct cp_drain_record *r =
		cp_config_find_drain(config, &record->vip, &record->backend, record->family);
	struct cp_drain_record *grown;

	if (r != NULL) {
		*r = *record;
		return 0;
	}
	grown = realloc(config->drains, (config->n_drains + 1) * sizeof(*grown));
	if (grown == NULL)
		return -ENOMEM;
	config->drains = grown;
	config->drains[config->n_drains++] = *record;
	return 0;
}

/* Is the record's backend in the config, draining? */
static bool drain_record_live(const struct cp_config *config, const struct cp_drain_record *r)
{
	int v = cp_config_find_vip(config, &r->vip);

	if (v < 0)
		return false;
	for (uint32_t b = 0; b < config->vips[v].dp.n_backends; b++) {
		const struct elb_dp_backend *be = &config->vips[v].dp.backends[b];

		if (be->family == r->family && memcmp(&be->addr, &r->backend, sizeof(be->addr)) == 0)
			return be->state == ELB_DP_BACKEND_DRAINING;
	}
	return false;
}

void cp_config_prune_drains(struct cp_config *config)
{
	uint32_t kept = 0;

	for (uint32_t i = 0; i < config->n_drains; i++)
		if (drain_record_live(config, &config->drains[i]))
			config->drains[kept++] = config->drains[i];
	config->n_drains = kept;
}

/* ------------------------------------------------------------------------ */
/* JSON in */

static int health_check_from_json(const cJSON *json, const char *prefix, uint16_t vip_port,
				  struct cp_health_check *out, struct elb_dp_err *err)
{
	static const char *const known[] = {"type",	   "port",	  "path", "expect_status",
					    "interval_ms", "timeout_ms", "rise", "fall",
					    NULL};
	struct cp_health_check hc;
	const cJSON *item;
	char path[ELB_JSON_PATH_MAX];
	uint32_t v;
	int rc;

	cp_health_check_defaults(&hc);
	rc = elb_json_expect_members(json, prefix, known, err);
	if (rc < 0)
		return rc;
	item = cJSON_GetObjectItemCaseSensitive(json, "type");
	elb_json_path_join(path, prefix, "type");
	if (item == NULL)
		return elb_json_fail(err, path, "is required");
	if (cJSON_IsString(item) && strcmp(item->valuestring, "tcp") == 0)
		hc.type = CP_HC_TCP;
	else if (cJSON_IsString(item) && strcmp(item->valuestring, "http") == 0)
		hc.type = CP_HC_HTTP;
	else
		return elb_json_fail(err, path, "must be \"tcp\" or \"http\"");
	v = 0;
	rc = elb_json_read_u32(json, prefix, "port", 1, 65535, &v, err);
	if (rc < 0)
		return rc;
	hc.port = (uint16_t)v;
	if (hc.port == 0 && vip_port == 0) {
		elb_json_path_join(path, prefix, "port");
		return elb_json_fail(err, path, "is required when the VIP's port is 0");
	}
	item = cJSON_GetObjectItemCaseSensitive(json, "path");
	if (item != NULL) {
		elb_json_path_join(path, prefix, "path");
		if (!cJSON_IsString(item) || item->valuestring[0] != '/' ||
		    strlen(item->valuestring) >= sizeof(hc.path) ||
		    strpbrk(item->valuestring, " \r\n") != NULL)
			return elb_json_fail(
				err, path,
				"must be a path starting with \"/\", without spaces, below %zu "
				"bytes",
				sizeof(hc.path));
		snprintf(hc.path, sizeof(hc.path), "%s", item->valuestring);
	}
	v = hc.expect_status;
	rc = elb_json_read_u32(json, prefix, "expect_status", 100, 599, &v, err);
	hc.expect_status = (uint16_t)v;
	if (rc == 0)
		rc = elb_json_read_u32(json, prefix, "interval_ms", 10, 3600000, &hc.interval_ms,
				       err);
	if (rc == 0)
		rc = elb_json_read_u32(json, prefix, "timeout_ms", 1, 3600000, &hc.timeout_ms, err);
	if (rc == 0)
		rc = elb_json_read_u32(json, prefix, "rise", 1, 1000, &hc.rise, err);
	if (rc == 0)
		rc = elb_json_read_u32(json, prefix, "fall", 1, 1000, &hc.fall, err);
	if (rc < 0)
		return rc;
	if (hc.timeout_ms > hc.interval_ms) {
		elb_json_path_join(path, prefix, "timeout_ms");
		return elb_json_fail(err, path, "must not exceed interval_ms (%u)", hc.interval_ms);
	}
	*out = hc;
	return 0;
}

static int slo_from_json(const cJSON *json, const char *prefix, double *out,
			 struct elb_dp_err *err)
{
	static const char *const known[] = {"availability", NULL};
	const cJSON *item;
	char path[ELB_JSON_PATH_MAX];
	int rc;

	rc = elb_json_expect_members(json, prefix, known, err);
	if (rc < 0)
		return rc;
	item = cJSON_GetObjectItemCaseSensitive(json, "availability");
	if (item == NULL)
		return 0;
	elb_json_path_join(path, prefix, "availability");
	if (!cJSON_IsNumber(item) || !(item->valuedouble > 0.0) || item->valuedouble > 1.0)
		return elb_json_fail(err, path, "must be a number in (0, 1]");
	*out = item->valuedouble;
	return 0;
}

int cp_vip_from_json(const cJSON *json, const char *prefix, struct cp_vip *out,
		     struct elb_dp_err *err)
{
	static const char *const known[] = {"address",	  "port",	 "protocol",
					    "encap",	  "mtu",	 "maglev_size",
					    "second_chance", "rate_limit", "timeouts",
					    "admission",  "quic",	 "backends",
					    "slo",	  "health_check", NULL};
	struct cp_vip vip;
	const cJSON *item;
	cJSON *dp_only;
	char path[ELB_JSON_PATH_MAX];
	int rc;

	memset(&vip, 0, sizeof(vip));
	vip.slo_availability = CP_SLO_DEFAULT;
	cp_health_check_defaults(&vip.hc);
	rc = elb_json_expect_members(json, prefix, known, err);
	if (rc < 0)
		return rc;
	/* The dataplane parser refuses members it does not know: give it a copy
	 * without ours. */
	dp_only = cJSON_Duplicate(json, true);
	if (dp_only == NULL)
		return elb_json_nomem(err);
	cJSON_DeleteItemFromObjectCaseSensitive(dp_only, "slo");
	cJSON_DeleteItemFromObjectCaseSensitive(dp_only, "health_check");
	rc = elb_dp_vip_from_json(dp_only, prefix, &vip.dp, NULL, err);
	cJSON_Delete(dp_only);
	if (rc < 0)
		return rc;
	item = cJSON_GetObjectItemCaseSensitive(json, "slo");
	if (item != NULL) {
		elb_json_path_join(path, prefix, "slo");
		rc = slo_from_json(item, path, &vip.slo_availability, err);
	}
	item = cJSON_GetObjectItemCaseSensitive(json, "health_check");
	if (rc == 0 && item != NULL && !cJSON_IsNull(item)) {
		elb_json_path_join(path, prefix, "health_check");
		rc = health_check_from_json(item, path, vip.dp.key.port, &vip.hc, err);
	}
	if (rc < 0) {
		elb_dp_vip_release(&vip.dp);
		return rc;
	}
	*out = vip;
	return 0;
}

static int dataplane_from_json(const cJSON *json, const char *prefix,
			       struct cp_dataplane_cfg *out, struct elb_dp_err *err)
{
	static const char *const known[] = {"name", "socket", NULL};
	const cJSON *name, *sock;
	char path[ELB_JSON_PATH_MAX];
	int rc;

	rc = elb_json_expect_members(json, prefix, known, err);
	if (rc < 0)
		return rc;
	name = cJSON_GetObjectItemCaseSensitive(json, "name");
	sock = cJSON_GetObjectItemCaseSensitive(json, "socket");
	elb_json_path_join(path, prefix, "name");
	if (!cJSON_IsString(name) || name->valuestring[0] == '\0' ||
	    strlen(name->valuestring) >= sizeof(out->name))
		return elb_json_fail(err, path, "must be a non-empty string below %zu bytes",
				     sizeof(out->name));
	elb_json_path_join(path, prefix, "socket");
	if (!cJSON_IsString(sock) || sock->valuestring[0] == '\0' ||
	    strlen(sock->valuestring) >= sizeof(out->socket))
		return elb_json_fail(err, path, "must be a socket path below %zu bytes",
				     sizeof(out->socket));
	snprintf(out->name, sizeof(out->name), "%s", name->valuestring);
	snprintf(out->socket, sizeof(out->socket), "%s", sock->valuestring);
	return 0;
}

/* A user (is_group false) or group: a number, or a name this host knows. */
static int principal_from_json(const cJSON *json, bool is_group, struct cp_principal *out)
{
	char buf[4096];
	int rc;

	memset(out, 0, sizeof(*out));
	if (cJSON_IsNumber(json)) {
		if (json->valuedouble < 0 || json->valuedouble >= 4294967295.0 ||
		    json->valuedouble != floor(json->valuedouble))
			return -EINVAL;
		out->id = (uint32_t)json->valuedouble;
		return 0;
	}
	if (!cJSON_IsString(json) || json->valuestring[0] == '\0' ||
	    strlen(json->valuestring) >= sizeof(out->name))
		return -EINVAL;
	if (is_group) {
		struct group g, *found = NULL;

		rc = getgrnam_r(json->valuestring, &g, buf, sizeof(buf), &found);
		if (rc != 0 || found == NULL)
			return -ENOENT;
		out->id = (uint32_t)g.gr_gid;
	} else {
		struct passwd p, *found = NULL;

		rc = getpwnam_r(json->valuestring, &p, buf, sizeof(buf), &found);
		if (rc != 0 || found == NULL)
			return -ENOENT;
		out->id = (uint32_t)p.pw_uid;
	}
	snprintf(out->name, sizeof(out->name), "%s", json->valuestring);
	return 0;
}

/* given: NULL when json is required; else json may be NULL (absent) and
 * *given says whether it was there. */
static int principal_or_fail(const cJSON *json, const char *path, bool is_group,
			     struct cp_principal *out, bool *given, struct elb_dp_err *err)
{
	int rc;

	if (json == NULL && given != NULL)
		return 0;
	rc = principal_from_json(json, is_group, out);
	if (rc == -ENOENT)
		return elb_json_fail(err, path, "no %s named \"%s\" on this host",
				     is_group ? "group" : "user", json->valuestring);
	if (rc < 0)
		return elb_json_fail(err, path, "must be a %s name or a numeric id",
				     is_group ? "group" : "user");
	if (given != NULL)
		*given = true;
	return 0;
}

/* {"users": [...], "groups": [...]} */
static int principals_from_json(const cJSON *json, const char *prefix, struct cp_principals *users,
				struct cp_principals *groups, struct elb_dp_err *err)
{
	static const char *const known[] = {"users", "groups", NULL};
	char path[ELB_JSON_PATH_MAX];
	int rc;

	if (!cJSON_IsObject(json))
		return elb_json_fail(err, prefix,
				     "must be an object with \"users\" and \"groups\"");
	rc = elb_dp_json_check_members(json, prefix, known, err);
	for (int g = 0; rc == 0 && g < 2; g++) {
		const char *member = g ? "groups" : "users";
		const cJSON *list = cJSON_GetObjectItemCaseSensitive(json, member), *item;
		struct cp_principals *out = g ? groups : users;

		if (list == NULL)
			continue;
		elb_json_path_join(path, prefix, member);
		if (!cJSON_IsArray(list) || cJSON_GetArraySize(list) > CP_MAX_PRINCIPALS)
			return elb_json_fail(err, path, "must be an array of at most %d %s",
					     CP_MAX_PRINCIPALS, member);
		cJSON_ArrayForEach(item, list)
		{
			char item_path[ELB_JSON_PATH_MAX];

			snprintf(item_path, sizeof(item_path), "%.100s[%u]", path, out->n);
			rc = principal_or_fail(item, item_path, g == 1, &out->items[out->n], NULL,
					       err);
			if (rc < 0)
				return rc;
			out->n++;
		}
	}
	return rc;
}

static int access_from_json(const cJSON *json, struct cp_operator_access *out,
			    struct elb_dp_err *err)
{
	static const char *const known[] = {"socket_mode", "socket_owner", "socket_group",
					    "write", "read", NULL};
	const cJSON *item;
	int rc;

	rc = elb_json_expect_members(json, "operator", known, err);
	if (rc < 0)
		return rc;
	item = cJSON_GetObjectItemCaseSensitive(json, "socket_mode");
	if (item != NULL) {
		char *end;
		unsigned long mode = cJSON_IsString(item) ? strtoul(item->valuestring, &end, 8) : 0;

		/* A string: JSON has no octal, and 660 as a number would be wrong. */
		if (!cJSON_IsString(item) || item->valuestring[0] != '0' || *end != '\0' ||
		    mode == 0 || mode > 0777 || (mode & 0002) != 0)
			return elb_json_fail(
				err, "operator.socket_mode",
				"must be an octal string such as \"0660\", not writable by "
				"others");
		out->socket_mode = (uint32_t)mode;
	}
	rc = principal_or_fail(cJSON_GetObjectItemCaseSensitive(json, "socket_owner"),
			       "operator.socket_owner", false, &out->owner, &out->has_owner, err);
	if (rc == 0)
		rc = principal_or_fail(cJSON_GetObjectItemCaseSensitive(json, "socket_group"),
				       "operator.socket_group", true, &out->group, &out->has_group,
				       err);
	if (rc < 0)
		return rc;
	item = cJSON_GetObjectItemCaseSensitive(json, "write");
	if (item != NULL) {
		rc = principals_from_json(item, "operator.write", &out->write_users,
					  &out->write_groups, err);
		if (rc < 0)
			return rc;
	}
	item = cJSON_GetObjectItemCaseSensitive(json, "read");
	if (item != NULL)
		rc = principals_from_json(item, "operator.read", &out->read_users,
					  &out->read_groups, err);
	return rc;
}

static int fleet_from_json(const cJSON *json, struct cp_fleet_cfg *out, struct elb_dp_err *err)
{
	static const char *const known[] = {"disagree_after_ms", "drain_timeout_ms",
					    "flow_count_interval_ms", NULL};
	int rc;

	rc = elb_json_expect_members(json, "fleet", known, err);
	if (rc == 0)
		rc = elb_json_read_u32(
			json, "fleet", "disagree_after_ms", CP_FLEET_DISAGREE_AFTER_MS_MIN,
			CP_FLEET_DISAGREE_AFTER_MS_MAX, &out->disagree_after_ms, err);
	if (rc == 0)
		rc = elb_json_read_u32(json, "fleet", "drain_timeout_ms", CP_DRAIN_TIMEOUT_MS_MIN,
				       CP_DRAIN_TIMEOUT_MS_MAX, &out->drain_timeout_ms, err);
	if (rc == 0)
		rc = elb_json_read_u32(json, "fleet", "flow_count_interval_ms",
				       CP_FLOW_COUNT_INTERVAL_MS_MIN, CP_FLOW_COUNT_INTERVAL_MS_MAX,
				       &out->flow_count_interval_ms, err);
	return rc;
}

/* An address of the given family (0: either), into addr and *family: the
 * value itself, parsed as elb_json_read_address does. given: NULL when json
 * is required (NULL is then refused); else json may be NULL (absent) and
 * *given says whether it was there. */
static int address_member(const cJSON *json, const char *path, uint8_t want,
			  union elb_addr *addr, uint8_t *family, bool *given,
			  struct elb_dp_err *err)
{
	union elb_addr a;
	uint8_t f;
	int rc;

	if (json == NULL && given != NULL)
		return 0;
	rc = cJSON_IsString(json) ? elb_addr_parse(json->valuestring, &a, &f) : -EINVAL;

	if (rc == -EAFNOSUPPORT)
		return elb_json_fail(err, path,
				     "write an IPv4 address as IPv4, not IPv4-mapped IPv6");
	if (rc < 0 || (want != 0 && f != want))
		return elb_json_fail(err, path, "must be %s", elb_json_address_kind(want));
	*addr = a;
	*family = f;
	if (given != NULL)
		*given = true;
	return 0;
}

static int path_member(const cJSON *json, const char *name, char *out, size_t size,
		       struct elb_dp_err *err)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(json, name);
	char path[ELB_JSON_PATH_MAX];

	if (item == NULL)
		return 0;
	elb_json_path_join(path, "bgp", name);
	/* Written into BIRD's config between quotes: no quote, no newline. */
	if (!cJSON_IsString(item) || item->valuestring[0] != '/' ||
	    strlen(item->valuestring) >= size || strpbrk(item->valuestring, "\"\\\n") != NULL)
		return elb_json_fail(err, path,
				     "must be an absolute path below %zu bytes, without "
				     "quotes or newlines",
				     size);
	snprintf(out, size, "%s", item->valuestring);
	return 0;
}

static int bgp_neighbor_from_json(const cJSON *json, const char *prefix,
				  struct cp_bgp_neighbor *out, struct elb_dp_err *err)
{
	static const char *const known[] = {"address", "as", NULL};
	const cJSON *item;
	char path[ELB_JSON_PATH_MAX];
	uint64_t as = 0;
	int rc;

	if (!cJSON_IsObject(json))
		return elb_json_fail(err, prefix, "must be an object with \"address\" and \"as\"");
	rc = elb_dp_json_check_members(json, prefix, known, err);
	if (rc < 0)
		return rc;
	item = cJSON_GetObjectItemCaseSensitive(json, "address");
	elb_json_path_join(path, prefix, "address");
	rc = address_member(item, path, 0, &out->addr, &out->family, NULL, err);
	if (rc < 0)
		return rc;
	elb_json_path_join(path, prefix, "as");
	if (cJSON_GetObjectItemCaseSensitive(json, "as") == NULL)
		return elb_json_fail(err, path, "is required");
	rc = elb_json_read_uint(json, prefix, "as", 1, 4294967295u, &as, err);
	out->as = (uint32_t)as;
	return rc;
}

static int bgp_from_json(const cJSON *json, struct cp_bgp_cfg *out, struct elb_dp_err *err)
{
	static const char *const known[] = {"local_as",	      "router_id",	  "neighbors",
					    "hold_time_s",    "next_hop_v4",	  "next_hop_v6",
					    "bird",	      "run_dir",	  "control_socket",
					    "drain_quiet_ms", "drain_timeout_ms", "drained",
					    NULL};
	struct cp_bgp_cfg bgp;
	const cJSON *item, *child;
	uint64_t as = 0;
	uint8_t family;
	int rc;

	memset(&bgp, 0, sizeof(bgp));
	bgp.enabled = true;
	bgp.hold_time_s = CP_BGP_HOLD_TIME_S_DEFAULT;
	bgp.drain_quiet_ms = CP_BGP_DRAIN_QUIET_MS_DEFAULT;
	bgp.drain_timeout_ms = CP_BGP_DRAIN_TIMEOUT_MS_DEFAULT;
	snprintf(bgp.bird, sizeof(bgp.bird), "%s", CP_BGP_DEFAULT_BIRD);
	snprintf(bgp.run_dir, sizeof(bgp.run_dir), "%s", CP_BGP_DEFAULT_RUN_DIR);
	rc = elb_json_expect_members(json, "bgp", known, err);
	if (rc < 0)
		return rc;
	if (cJSON_GetObjectItemCaseSensitive(json, "local_as") == NULL)
		return elb_json_fail(err, "bgp.local_as", "is required");
	rc = elb_json_read_uint(json, "bgp", "local_as", 1, 4294967295u, &as, err);
	if (rc < 0)
		return rc;
	bgp.local_as = (uint32_t)as;
	item = cJSON_GetObjectItemCaseSensitive(json, "router_id");
	if (item == NULL)
		return elb_json_fail(err, "bgp.router_id", "is required");
	rc = address_member(item, "bgp.router_id", ELB_AF_INET, &bgp.router_id, &family, NULL,
			    err);
	if (rc < 0)
		return rc;
	item = cJSON_GetObjectItemCaseSensitive(json, "neighbors");
	if (!cJSON_IsArray(item) || cJSON_GetArraySize(item) < 1 ||
	    cJSON_GetArraySize(item) > CP_BGP_MAX_NEIGHBORS)
		return elb_json_fail(err, "bgp.neighbors", "must be an array of 1 to %d neighbors",
				     CP_BGP_MAX_NEIGHBORS);
	cJSON_ArrayForEach(child, item)
	{
		char path[ELB_JSON_PATH_MAX];

		snprintf(path, sizeof(path), "bgp.neighbors[%u]", bgp.n_neighbors);
		rc = bgp_neighbor_from_json(child, path, &bgp.neighbors[bgp.n_neighbors], err);
		if (rc < 0)
			return rc;
		for (uint32_t j = 0; j < bgp.n_neighbors; j++)
			if (bgp.neighbors[j].family == bgp.neighbors[bgp.n_neighbors].family &&
			    memcmp(&bgp.neighbors[j].addr, &bgp.neighbors[bgp.n_neighbors].addr,
				   sizeof(bgp.neighbors[j].addr)) == 0) {
				snprintf(path, sizeof(path), "bgp.neighbors[%u].address",
					 bgp.n_neighbors);
				return elb_json_fail(err, path, "repeats bgp.neighbors[%u]", j);
			}
		bgp.n_neighbors++;
	}
	rc = elb_json_read_u32(json, "bgp", "hold_time_s", 0, 65535, &bgp.hold_time_s, err);
	if (rc < 0)
		return rc;
	if (bgp.hold_time_s > 0 && bgp.hold_time_s < 3) /* RFC 4271 4.2 */
		return elb_json_fail(err, "bgp.hold_time_s", "must be 0 or in 3..65535");
	rc = address_member(cJSON_GetObjectItemCaseSensitive(json, "next_hop_v4"),
			    "bgp.next_hop_v4", ELB_AF_INET, &bgp.next_hop_v4, &family,
			    &bgp.has_next_hop_v4, err);
	if (rc == 0)
		rc = address_member(cJSON_GetObjectItemCaseSensitive(json, "next_hop_v6"),
				    "bgp.next_hop_v6", ELB_AF_INET6, &bgp.next_hop_v6, &family,
				    &bgp.has_next_hop_v6, err);
	if (rc < 0)
		return rc;
	rc = path_member(json, "bird", bgp.bird, sizeof(bgp.bird), err);
	if (rc == 0)
		rc = path_member(json, "run_dir", bgp.run_dir, sizeof(bgp.run_dir), err);
	if (rc == 0)
		rc = path_member(json, "control_socket", bgp.control_socket,
				 sizeof(bgp.control_socket), err);
	if (rc < 0)
		return rc;
	if (bgp.control_socket[0] == '\0' &&
	    strlen(bgp.run_dir) + sizeof("/bird.ctl") > CP_SOCKET_PATH_MAX)
		return elb_json_fail(
			err, "bgp.run_dir",
			"is too long for RUN_DIR/bird.ctl to be a socket path (%d bytes): "
			"set bgp.control_socket",
			CP_SOCKET_PATH_MAX);
	rc = elb_json_read_u32(json, "bgp", "drain_quiet_ms", CP_BGP_DRAIN_QUIET_MS_MIN,
			       CP_BGP_DRAIN_QUIET_MS_MAX, &bgp.drain_quiet_ms, err);
	if (rc == 0)
		rc = elb_json_read_u32(json, "bgp", "drain_timeout_ms", CP_BGP_DRAIN_TIMEOUT_MS_MIN,
				       CP_BGP_DRAIN_TIMEOUT_MS_MAX, &bgp.drain_timeout_ms, err);
	if (rc < 0)
		return rc;
	rc = elb_json_read_bool(json, "bgp", "drained", &bgp.drained, err);
	if (rc < 0)
		return rc;
	*out = bgp;
	return 0;
}

void cp_bgp_control_socket(const struct cp_bgp_cfg *bgp, char *buf, size_t len)
{
	if (bgp->control_socket[0] != '\0')
		snprintf(buf, len, "%s", bgp->control_socket);
	else
		snprintf(buf, len, "%s/bird.ctl", bgp->run_dir);
}

static int drain_from_json(const cJSON *json, const char *prefix, struct cp_drain_record *out,
			   struct elb_dp_err *err)
{
	static const char *const known[] = {"address",	       "port",	     "protocol",
					    "backend",	       "timeout_ms", "remove_when_drained",
					    "started_unix_ms", NULL};
	char path[ELB_JSON_PATH_MAX];
	int rc;

	rc = elb_json_expect_members(json, prefix, known, err);
	if (rc == 0)
		rc = elb_dp_vip_key_from_json(json, prefix, &out->vip, err);
	if (rc < 0)
		return rc;
	elb_json_path_join(path, prefix, "backend");
	rc = address_member(cJSON_GetObjectItemCaseSensitive(json, "backend"), path, 0,
			    &out->backend, &out->family, NULL, err);
	if (rc < 0)
		return rc;
	if (cJSON_GetObjectItemCaseSensitive(json, "started_unix_ms") == NULL) {
		elb_json_path_join(path, prefix, "started_unix_ms");
		return elb_json_fail(err, path, "is required");
	}
	rc = elb_json_read_u32(json, prefix, "timeout_ms", 0, CP_DRAIN_TIMEOUT_MS_MAX,
			       &out->timeout_ms, err);
	if (rc == 0)
		rc = elb_json_read_uint(json, prefix, "started_unix_ms", 0, UINT64_MAX >> 11,
					&out->started_unix_ms, err);
	if (rc < 0)
		return rc;
	out->remove_when_drained = false;
	return elb_json_read_bool(json, prefix, "remove_when_drained", &out->remove_when_drained,
				  err);
}

/* A top-level array member of the configuration and the reader of one
 * element (out: the element's place in the array). */
struct config_array {
	const char *name;
	const char *what; /* the elements, as the error says them */
	uint32_t max;
	size_t element_size;
	int (*element_from_json)(const cJSON *json, const char *prefix, void *out,
				 struct elb_dp_err *err);
};

/* Element readers in the shape config_array takes. */
static int dataplane_element(const cJSON *json, const char *prefix, void *out,
			     struct elb_dp_err *err)
{
	return dataplane_from_json(json, prefix, out, err);
}

static int vip_element(const cJSON *json, const char *prefix, void *out, struct elb_dp_err *err)
{
	return cp_vip_from_json(json, prefix, out, err);
}

static int drain_element(const cJSON *json, const char *prefix, void *out,
			 struct elb_dp_err *err)
{
	return drain_from_json(json, prefix, out, err);
}

static const struct config_array dataplanes_array = {
	"dataplanes", "dataplanes", CP_MAX_DATAPLANES, sizeof(struct cp_dataplane_cfg),
	dataplane_element,
};
static const struct config_array vips_array = {
	"vips", "VIPs", ELB_DP_MAX_VIPS, sizeof(struct cp_vip), vip_element,
};
static const struct config_array drains_array = {
	"drains", "drains", ELB_DP_MAX_BACKENDS_TOTAL, sizeof(struct cp_drain_record),
	drain_element,
};

/*
 * The array member a->name of json, if present, into a new array (*items,
 * NULL when absent) of *n elements. On failure *items holds the *n elements
 * read so far, for the caller to free with the rest of the config.
 */
static int array_from_json(const cJSON *json, const struct config_array *a, void **items,
			   uint32_t *n, struct elb_dp_err *err)
{
	const cJSON *array = cJSON_GetObjectItemCaseSensitive(json, a->name), *child;
	char path[ELB_JSON_PATH_MAX];
	int count, rc;

	*items = NULL;
	if (array == NULL)
		return 0;
	count = cJSON_GetArraySize(array);
	if (!cJSON_IsArray(array) || count > (int)a->max)
		return elb_json_fail(err, a->name, "must be an array of at most %u %s", a->max,
				     a->what);
	*items = calloc((size_t)count + 1, a->element_size);
	if (*items == NULL)
		return elb_json_nomem(err);
	cJSON_ArrayForEach(child, array)
	{
		snprintf(path, sizeof(path), "%s[%u]", a->name, *n);
		rc = a->element_from_json(child, path, (char *)*items + *n * a->element_size, err);
		if (rc < 0)
			return rc;
		(*n)++;
	}
	return 0;
}

int cp_config_from_json(const cJSON *json, struct cp_config **out, struct elb_dp_err *err)
{
	static const char *const known[] = {"node",	  "operator", "fleet", "bgp",
					    "dataplanes", "vips",     "drains", NULL};
	struct cp_config *config;
	const cJSON *item;
	void *items;
	int rc;

	if (!cJSON_IsObject(json))
		return elb_json_fail(err, "", "the configuration must be an object");
	rc = elb_dp_json_check_members(json, "", known, err);
	if (rc < 0)
		return rc;
	config = calloc(1, sizeof(*config));
	if (config == NULL)
		return elb_json_nomem(err);
	elb_dp_node_defaults(&config->node);
	config->fleet.disagree_after_ms = CP_FLEET_DISAGREE_AFTER_MS_DEFAULT;
	config->fleet.drain_timeout_ms = CP_DRAIN_TIMEOUT_MS_DEFAULT;
	config->fleet.flow_count_interval_ms = CP_FLOW_COUNT_INTERVAL_MS_DEFAULT;
	/* The sections, each optional, in the order their errors are found. */
	if ((item = cJSON_GetObjectItemCaseSensitive(json, "fleet")) != NULL)
		rc = fleet_from_json(item, &config->fleet, err);
	if (rc == 0 && (item = cJSON_GetObjectItemCaseSensitive(json, "bgp")) != NULL)
		rc = bgp_from_json(item, &config->bgp, err);
	if (rc == 0 && (item = cJSON_GetObjectItemCaseSensitive(json, "node")) != NULL)
		rc = elb_dp_node_from_json(item, "node", NULL, &config->node, err);
	if (rc == 0 && (item = cJSON_GetObjectItemCaseSensitive(json, "operator")) != NULL)
		rc = access_from_json(item, &config->access, err);
	if (rc == 0) {
		rc = array_from_json(json, &dataplanes_array, &items, &config->n_dataplanes, err);
		config->dataplanes = items;
	}
	if (rc == 0) {
		rc = array_from_json(json, &vips_array, &items, &config->n_vips, err);
		config->vips = items;
	}
	if (rc == 0) {
		rc = array_from_json(json, &drains_array, &items, &config->n_drains, err);
		config->drains = items;
	}
	if (rc < 0)
		goto fail;
	rc = cp_config_validate(config, err);
	if (rc < 0)
		goto fail;
	*out = config;
	return 0;
fail:
	cp_config_free(config);
	return rc;
}

int cp_config_parse(const char *text, size_t len, struct cp_config **out, struct elb_dp_err *err)
{
	cJSON *json = elb_dp_json_parse_document(text, len, err);
	int rc;

	if (json == NULL)
		return -EINVAL;
	rc = cp_config_from_json(json, out, err);
	cJSON_Delete(json);
	return rc;
}

struct elb_dp_config *cp_config_dp_view(const struct cp_config *config,
					bool (*keep)(void *ctx, uint32_t vip, uint32_t backend),
					void *ctx)
{
	struct elb_dp_config *view = elb_dp_config_new();

	if (view == NULL)
		return NULL;
	view->node = config->node;
	if (config->n_vips > 0) {
		view->vips = calloc(config->n_vips, sizeof(*view->vips));
		if (view->vips == NULL)
			goto fail;
	}
	for (uint32_t v = 0; v < config->n_vips; v++) {
		const struct elb_dp_vip *src = &config->vips[v].dp;
		struct elb_dp_vip *dst = &view->vips[v];

		*dst = *src;
		dst->backends = NULL;
		dst->n_backends = 0;
		view->n_vips = v + 1;
		if (src->n_backends == 0)
			continue;
		dst->backends = calloc(src->n_backends, sizeof(*dst->backends));
		if (dst->backends == NULL)
			goto fail;
		for (uint32_t b = 0; b < src->n_backends; b++)
			if (keep == NULL || keep(ctx, v, b))
				dst->backends[dst->n_backends++] = src->backends[b];
	}
	return view;
fail:
	elb_dp_config_free(view);
	return NULL;
}

int cp_config_validate(const struct cp_config *config, struct elb_dp_err *err)
{
	struct elb_dp_config *view;
	char path[ELB_JSON_PATH_MAX];
	int rc;

	for (uint32_t i = 0; i < config->n_dataplanes; i++)
		for (uint32_t j = 0; j < i; j++) {
			if (strcmp(config->dataplanes[i].name, config->dataplanes[j].name) == 0) {
				snprintf(path, sizeof(path), "dataplanes[%u].name", i);
				return elb_json_fail(err, path, "repeats dataplanes[%u]", j);
			}
			if (strcmp(config->dataplanes[i].socket, config->dataplanes[j].socket) == 0) {
				snprintf(path, sizeof(path), "dataplanes[%u].socket", i);
				return elb_json_fail(err, path, "repeats dataplanes[%u]", j);
			}
		}
	for (uint32_t v = 0; v < config->n_vips; v++)
		if (config->vips[v].hc.type != CP_HC_NONE && config->vips[v].hc.port == 0 &&
		    config->vips[v].dp.key.port == 0) {
			snprintf(path, sizeof(path), "vips[%u].health_check.port", v);
			return elb_json_fail(err, path, "is required when the VIP's port is 0");
		}
	for (uint32_t i = 0; i < config->n_drains; i++) {
		const struct cp_drain_record *r = &config->drains[i];

		snprintf(path, sizeof(path), "drains[%u].backend", i);
		if (!drain_record_live(config, r))
			return elb_json_fail(err, path, "is not a draining backend of that VIP");
		for (uint32_t j = 0; j < i; j++)
			if (drain_is_of(&config->drains[j], &r->vip, &r->backend, r->family))
				return elb_json_fail(err, path, "repeats drains[%u]", j);
	}
	/* The dataplane rules, on the view with every backend: its paths are
	 * ours, VIP and backend indices being the same. */
	view = cp_config_dp_view(config, NULL, NULL);
	if (view == NULL)
		return elb_json_nomem(err);
	rc = elb_dp_config_validate(view, "", err);
	elb_dp_config_free(view);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* JSON out */

cJSON *cp_health_check_to_json(const struct cp_health_check *hc)
{
	cJSON *o = cJSON_CreateObject();

	if (o == NULL)
		return NULL;
	cJSON_AddStringToObject(o, "type", hc->type == CP_HC_HTTP ? "http" : "tcp");
	if (hc->port != 0)
		cJSON_AddNumberToObject(o, "port", hc->port);
	if (hc->type == CP_HC_HTTP) {
		cJSON_AddStringToObject(o, "path", hc->path);
		cJSON_AddNumberToObject(o, "expect_status", hc->expect_status);
	}
	cJSON_AddNumberToObject(o, "interval_ms", hc->interval_ms);
	cJSON_AddNumberToObject(o, "timeout_ms", hc->timeout_ms);
	cJSON_AddNumberToObject(o, "rise", hc->rise);
	if (cJSON_AddNumberToObject(o, "fall", hc->fall) == NULL) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

cJSON *cp_vip_to_json(const struct cp_vip *vip)
{
	cJSON *o = elb_dp_vip_to_json(&vip->dp, true), *slo;

	if (o == NULL)
		return NULL;
	slo = cJSON_AddObjectToObject(o, "slo");
	if (slo == NULL || cJSON_AddNumberToObject(slo, "availability", vip->slo_availability) ==
				   NULL)
		goto fail;
	if (vip->hc.type != CP_HC_NONE) {
		cJSON *hc = cp_health_check_to_json(&vip->hc);

		if (hc == NULL || !cJSON_AddItemToObject(o, "health_check", hc)) {
			cJSON_Delete(hc);
			goto fail;
		}
	}
	return o;
fail:
	cJSON_Delete(o);
	return NULL;
}

static cJSON *principal_to_json(const struct cp_principal *p)
{
	return p->name[0] != '\0' ? cJSON_CreateString(p->name) : cJSON_CreateNumber(p->id);
}

static cJSON *principals_to_json(const struct cp_principals *users,
				 const struct cp_principals *groups)
{
	cJSON *o = cJSON_CreateObject();

	for (int g = 0; o != NULL && g < 2; g++) {
		const struct cp_principals *list = g ? groups : users;
		cJSON *a = cJSON_AddArrayToObject(o, g ? "groups" : "users");

		for (uint32_t i = 0; a != NULL && i < list->n; i++)
			cJSON_AddItemToArray(a, principal_to_json(&list->items[i]));
	}
	return o;
}

/* Only what was set: a config without "operator" is written back without. */
static int access_to_json(cJSON *o, const struct cp_operator_access *a)
{
	cJSON *json;
	char mode[16];

	if (a->socket_mode == 0 && !a->has_owner && !a->has_group && a->write_users.n == 0 &&
	    a->write_groups.n == 0 && a->read_users.n == 0 && a->read_groups.n == 0)
		return 0;
	json = cJSON_AddObjectToObject(o, "operator");
	if (json == NULL)
		return -ENOMEM;
	if (a->socket_mode != 0) {
		snprintf(mode, sizeof(mode), "0%03o", a->socket_mode);
		cJSON_AddStringToObject(json, "socket_mode", mode);
	}
	if (a->has_owner)
		cJSON_AddItemToObject(json, "socket_owner", principal_to_json(&a->owner));
	if (a->has_group)
		cJSON_AddItemToObject(json, "socket_group", principal_to_json(&a->group));
	cJSON_AddItemToObject(json, "write", principals_to_json(&a->write_users, &a->write_groups));
	cJSON_AddItemToObject(json, "read", principals_to_json(&a->read_users, &a->read_groups));
	return 0;
}

/* Only when set: a config without "bgp" is written back without. */
static int bgp_to_json(cJSON *o, const struct cp_bgp_cfg *bgp)
{
	char text[ELB_ADDR_TEXT_MAX];
	cJSON *json, *neighbors;

	if (!bgp->enabled)
		return 0;
	json = cJSON_AddObjectToObject(o, "bgp");
	if (json == NULL)
		return -ENOMEM;
	elb_dp_json_add_u64(json, "local_as", bgp->local_as);
	cJSON_AddStringToObject(json, "router_id",
				elb_addr_format(&bgp->router_id, ELB_AF_INET, text, sizeof(text)));
	neighbors = cJSON_AddArrayToObject(json, "neighbors");
	for (uint32_t i = 0; neighbors != NULL && i < bgp->n_neighbors; i++) {
		cJSON *n = cJSON_CreateObject();

		if (n == NULL || !cJSON_AddItemToArray(neighbors, n)) {
			cJSON_Delete(n);
			return -ENOMEM;
		}
		cJSON_AddStringToObject(n, "address",
					elb_addr_format(&bgp->neighbors[i].addr,
							bgp->neighbors[i].family, text,
							sizeof(text)));
		elb_dp_json_add_u64(n, "as", bgp->neighbors[i].as);
	}
	elb_dp_json_add_u64(json, "hold_time_s", bgp->hold_time_s);
	if (bgp->has_next_hop_v4)
		cJSON_AddStringToObject(
			json, "next_hop_v4",
			elb_addr_format(&bgp->next_hop_v4, ELB_AF_INET, text, sizeof(text)));
	if (bgp->has_next_hop_v6)
		cJSON_AddStringToObject(
			json, "next_hop_v6",
			elb_addr_format(&bgp->next_hop_v6, ELB_AF_INET6, text, sizeof(text)));
	cJSON_AddStringToObject(json, "bird", bgp->bird);
	cJSON_AddStringToObject(json, "run_dir", bgp->run_dir);
	if (bgp->control_socket[0] != '\0')
		cJSON_AddStringToObject(json, "control_socket", bgp->control_socket);
	elb_dp_json_add_u64(json, "drain_quiet_ms", bgp->drain_quiet_ms);
	elb_dp_json_add_u64(json, "drain_timeout_ms", bgp->drain_timeout_ms);
	if (cJSON_AddBoolToObject(json, "drained", bgp->drained) == NULL)
		return -ENOMEM;
	return 0;
}

static int drains_to_json(cJSON *o, const struct cp_config *config)
{
	cJSON *drains = cJSON_AddArrayToObject(o, "drains");

	for (uint32_t i = 0; drains != NULL && i < config->n_drains; i++) {
		const struct cp_drain_record *r = &config->drains[i];
		cJSON *d = elb_dp_vip_key_to_json(&r->vip);
		char addr[64];

		if (d == NULL || !cJSON_AddItemToArray(drains, d)) {
			cJSON_Delete(d);
			return -ENOMEM;
		}
		if (cJSON_AddStringToObject(
			    d, "backend",
			    elb_addr_format(&r->backend, r->family, addr, sizeof(addr))) == NULL ||
		    elb_dp_json_add_u64(d, "timeout_ms", r->timeout_ms) == NULL ||
		    cJSON_AddBoolToObject(d, "remove_when_drained", r->remove_when_drained) ==
			    NULL ||
		    elb_dp_json_add_u64(d, "started_unix_ms", r->started_unix_ms) == NULL)
			return -ENOMEM;
	}
	return drains == NULL ? -ENOMEM : 0;
}

cJSON *cp_config_to_json(const struct cp_config *config)
{
	cJSON *o = cJSON_CreateObject(), *node, *dps, *vips;

	if (o == NULL)
		return NULL;
	node = elb_dp_node_to_json(&config->node);
	if (node == NULL || !cJSON_AddItemToObject(o, "node", node)) {
		cJSON_Delete(node);
		goto fail;
	}
	if (access_to_json(o, &config->access) < 0 || bgp_to_json(o, &config->bgp) < 0)
		goto fail;
	{
		cJSON *fleet = cJSON_AddObjectToObject(o, "fleet");

		if (fleet == NULL ||
		    elb_dp_json_add_u64(fleet, "disagree_after_ms",
					cp_fleet_disagree_after_ms(config)) == NULL ||
		    elb_dp_json_add_u64(fleet, "drain_timeout_ms",
					cp_drain_timeout_ms(config)) == NULL ||
		    elb_dp_json_add_u64(fleet, "flow_count_interval_ms",
					cp_flow_count_interval_ms(config)) == NULL)
			goto fail;
	}
	dps = cJSON_AddArrayToObject(o, "dataplanes");
	vips = cJSON_AddArrayToObject(o, "vips");
	if (dps == NULL || vips == NULL)
		goto fail;
	for (uint32_t i = 0; i < config->n_dataplanes; i++) {
		cJSON *d = cJSON_CreateObject();

		if (d == NULL || !cJSON_AddItemToArray(dps, d)) {
			cJSON_Delete(d);
			goto fail;
		}
		if (cJSON_AddStringToObject(d, "name", config->dataplanes[i].name) == NULL ||
		    cJSON_AddStringToObject(d, "socket", config->dataplanes[i].socket) == NULL)
			goto fail;
	}
	for (uint32_t i = 0; i < config->n_vips; i++) {
		cJSON *v = cp_vip_to_json(&config->vips[i]);

		if (v == NULL || !cJSON_AddItemToArray(vips, v)) {
			cJSON_Delete(v);
			goto fail;
		}
	}
	if (config->n_drains > 0 && drains_to_json(o, config) < 0)
		goto fail;
	return o;
fail:
	cJSON_Delete(o);
	return NULL;
}

int cp_config_write_file(const char *path, const struct cp_config *config, struct elb_dp_err *err)
{
	return elb_json_write_file(path, cp_config_to_json(config), err);
}

static int parse_cp_config(const char *text, size_t len, void *out, struct elb_dp_err *err)
{
	return cp_config_parse(text, len, out, err);
}

int cp_config_load_file(const char *path, struct cp_config **out, struct elb_dp_err *err)
{
	return elb_json_load_file(path, ELB_DP_CONFIG_FILE_MAX, parse_cp_config, out, err);
}

uint32_t cp_fleet_disagree_after_ms(const struct cp_config *config)
{
	return config->fleet.disagree_after_ms != 0 ? config->fleet.disagree_after_ms
						    : CP_FLEET_DISAGREE_AFTER_MS_DEFAULT;
}

uint32_t cp_flow_count_interval_ms(const struct cp_config *config)
{
	return config->fleet.flow_count_interval_ms != 0 ? config->fleet.flow_count_interval_ms
							  : CP_FLOW_COUNT_INTERVAL_MS_DEFAULT;
}

uint32_t cp_drain_timeout_ms(const struct cp_config *config)
{
	return config->fleet.drain_timeout_ms != 0 ? config->fleet.drain_timeout_ms
						   : CP_DRAIN_TIMEOUT_MS_DEFAULT;
}
