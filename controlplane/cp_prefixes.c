/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * edgelb-cp's prefix lists (cp_prefixes.h). A change to one scope is
 * computed on sorted arrays (so that a 100k-prefix add or replace costs a
 * sort, not a search per prefix), then the whole next set is built by
 * elb_prefix_set_from_json from its JSON form: the dataplanes' parser and
 * validation, so that what edgelb-cp holds is what they will accept, in
 * the model's own order.
 */
#include "cp_prefixes.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "elb_json.h"

int cp_prefixes_path(const char *config_path, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s.prefixes", config_path);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* Canonical order, same prefixes together in request order: the later
 * one of two is the one named as given twice. */
static int item_sort(const void *pa, const void *pb)
{
	const struct cp_prefix_item *a = pa, *b = pb;
	int c = elb_prefix_rule_cmp(&a->rule, &b->rule);

	if (c != 0)
		return c;
	c = strcmp(a->array, b->array);
	if (c != 0)
		return c;
	return a->index == b->index ? 0 : a->index < b->index ? -1 : 1;
}

int cp_prefix_items_from_json(const cJSON *params, const char *array, uint8_t action,
			      uint8_t family, struct cp_prefix_item **items, uint32_t *n,
			      struct elb_dp_err *err)
{
	const cJSON *list = cJSON_GetObjectItemCaseSensitive(params, array), *p;
	char path[ELB_JSON_PATH_MAX], why[ELB_DP_ERR_TEXT_MAX];
	uint32_t i = 0, size;
	struct cp_prefix_item *grown;

	if (list == NULL)
		return 0;
	if (!cJSON_IsArray(list))
		return elb_json_fail(err, array, "must be an array of prefixes");
	size = (uint32_t)cJSON_GetArraySize(list);
	if (size > ELB_PREFIX_RULES_MAX)
		return elb_json_fail(err, array, "%u prefixes, more than the %u rules a node holds",
				     size, ELB_PREFIX_RULES_MAX);
	grown = realloc(*items, ((size_t)*n + size + 1) * sizeof(**items));
	if (grown == NULL)
		return elb_json_nomem(err);
	*items = grown;
	cJSON_ArrayForEach(p, list)
	{
		struct cp_prefix_item *it = &grown[*n];

		elb_json_path_index(path, "", array, i);
		if (!cJSON_IsString(p))
			return elb_json_fail(err, path, "must be a prefix such as 203.0.113.0/24");
		if (elb_prefix_parse(p->valuestring, action, &it->rule, why, sizeof(why)) < 0)
			return elb_json_fail(err, path, "%s", why);
		if (family != 0 && it->rule.family != family)
			return elb_json_fail(err, path,
					     "an %s VIP's list holds %s prefixes only (got \"%.60s\")",
					     family == ELB_AF_INET ? "IPv4" : "IPv6",
					     family == ELB_AF_INET ? "IPv4" : "IPv6", p->valuestring);
		it->array = array;
		it->index = i++;
		(*n)++;
	}
	return 0;
}

/* The text of an item's prefix, for errors. */
static const char *item_text(const struct cp_prefix_item *it, char *buf)
{
	return elb_prefix_format(&it->rule, buf);
}

static int item_fail(struct elb_dp_err *err, const struct cp_prefix_item *it, const char *fmt,
		     const char *a, const char *b)
{
	char path[ELB_JSON_PATH_MAX], text[ELB_DP_ERR_TEXT_MAX];

	elb_json_path_index(path, "", it->array, it->index);
	snprintf(text, sizeof(text), fmt, a, b);
	return elb_json_fail(err, path, "%s", text);
}

/*
 * The scope's new rules, in the canonical order, from its current ones
 * (cur, in that order) and the sorted items. @return the count, or -errno.
 */
static int64_t merge_scope(const struct elb_prefix_rule *cur, uint32_t n_cur,
			   enum cp_prefix_op op, const struct cp_prefix_item *items, uint32_t n,
			   const char *scope_name, struct elb_prefix_rule *out,
			   struct elb_dp_err *err)
{
	char a[ELB_PREFIX_TEXT_MAX];
	uint32_t i = 0, j = 0, k = 0;

	if (op == CP_PREFIX_REPLACE) {
		for (j = 0; j < n; j++)
			out[j] = items[j].rule;
		return n;
	}
	while (i < n_cur || j < n) {
		int c = i == n_cur ? 1 : j == n ? -1 : elb_prefix_rule_cmp(&cur[i], &items[j].rule);

		if (c < 0) {
			out[k++] = cur[i++];
			continue;
		}
		if (op == CP_PREFIX_ADD) {
			/* A prefix already listed takes the new action. */
			out[k++] = items[j++].rule;
			i += c == 0;
			continue;
		}
		if (c > 0)
			return item_fail(err, &items[j], "%s is not in %s",
					 item_text(&items[j], a), scope_name);
		if (items[j].rule.action != 0 && items[j].rule.action != cur[i].action)
			return item_fail(err, &items[j],
					 cur[i].action == ELB_PREFIX_ALLOW
						 ? "%s is an allow rule of %s, not a deny rule"
						 : "%s is a deny rule of %s, not an allow rule",
					 item_text(&items[j], a), scope_name);
		i++;
		j++;
	}
	return k;
}

/* One scope's {"allow": [...], "deny": [...]} members into obj. */
static int add_scope(cJSON *obj, const struct elb_prefix_rule *rules, uint32_t n)
{
	struct elb_prefix_list list = {.n = n, .rules = (struct elb_prefix_rule *)rules};

	return elb_prefix_list_to_json(&list, obj);
}

/* A VIP's entry of "vips": its key and its rules. */
static int add_vip_entry(cJSON *vips, const struct elb_dp_vip_key *key,
			 const struct elb_prefix_rule *rules, uint32_t n)
{
	cJSON *o = elb_dp_vip_key_to_json(key);

	if (o == NULL || !cJSON_AddItemToArray(vips, o)) {
		cJSON_Delete(o);
		return -ENOMEM;
	}
	return add_scope(o, rules, n);
}

/*
 * The JSON form of cur with one scope's rules replaced (vip NULL: the
 * node's), the VIP lists for which keep() is false left out.
 */
static cJSON *set_json_with(const struct elb_prefix_set *cur, const struct elb_dp_vip_key *vip,
			    const struct elb_prefix_rule *rules, uint32_t n,
			    bool (*keep)(void *ctx, const struct elb_dp_vip_key *key), void *ctx)
{
	cJSON *json = cJSON_CreateObject(), *node, *vips;
	bool placed = vip == NULL;
	int rc = 0;

	node = cJSON_AddObjectToObject(json, "node");
	vips = cJSON_AddArrayToObject(json, "vips");
	if (node == NULL || vips == NULL)
		goto nomem;
	rc = vip == NULL ? add_scope(node, rules, n) : elb_prefix_list_to_json(&cur->node, node);
	for (uint32_t v = 0; rc == 0 && v < cur->n_vips; v++) {
		const struct elb_prefix_vip_list *vl = &cur->vips[v];

		if (vip != NULL && elb_dp_vip_key_equal(&vl->vip, vip)) {
			placed = true;
			if (n > 0)
				rc = add_vip_entry(vips, vip, rules, n);
		} else if (keep == NULL || keep(ctx, &vl->vip)) {
			rc = add_vip_entry(vips, &vl->vip, vl->list.rules, vl->list.n);
		}
	}
	if (rc == 0 && !placed && n > 0)
		rc = add_vip_entry(vips, vip, rules, n);
	if (rc == 0)
		return json;
nomem:
	cJSON_Delete(json);
	return NULL;
}

/* The set of json (the model's validation), at generation. Through its
 * text: the VIP keys' numbers are raw cJSON items, which only a printed
 * tree reads back as numbers. Takes json. */
static int set_from(cJSON *json, uint64_t generation, struct elb_prefix_set **out,
		    struct elb_dp_err *err)
{
	char *text = json != NULL ? cJSON_PrintUnformatted(json) : NULL;
	cJSON *parsed;
	int rc;

	cJSON_Delete(json);
	if (text == NULL)
		return elb_json_nomem(err);
	parsed = elb_dp_json_parse_document(text, strlen(text), err);
	free(text);
	if (parsed == NULL)
		return -EINVAL;
	rc = elb_prefix_set_from_json(parsed, "", out, err);
	cJSON_Delete(parsed);
	if (rc == 0)
		(*out)->generation = generation;
	return rc;
}

int cp_prefixes_change(const struct elb_prefix_set *cur, const struct elb_dp_vip_key *vip,
		       enum cp_prefix_op op, struct cp_prefix_item *items, uint32_t n,
		       struct elb_prefix_set **out, struct elb_dp_err *err)
{
	const struct elb_prefix_list *scope = vip != NULL ? elb_prefix_set_vip_list(cur, vip)
							  : &cur->node;
	uint32_t n_cur = scope != NULL ? scope->n : 0, others = elb_prefix_set_rules(cur) - n_cur;
	const struct elb_prefix_rule *current = scope != NULL ? scope->rules : NULL;
	struct elb_prefix_rule *next = NULL;
	char scope_name[ELB_DP_VIP_KEY_STR_MAX + 16], a[ELB_PREFIX_TEXT_MAX];
	int64_t count;
	int rc;

	if (vip != NULL) {
		char name[ELB_DP_VIP_KEY_STR_MAX];

		snprintf(scope_name, sizeof(scope_name), "the list of %s",
			 elb_dp_vip_key_str(vip, name, sizeof(name)));
	} else {
		snprintf(scope_name, sizeof(scope_name), "the node's list");
	}
	if (n > 1) /* qsort's array may not be NULL, even empty */
		qsort(items, n, sizeof(*items), item_sort);
	for (uint32_t j = 1; j < n; j++)
		if (elb_prefix_rule_cmp(&items[j - 1].rule, &items[j].rule) == 0) {
			char first[ELB_JSON_PATH_MAX];

			elb_json_path_index(first, "", items[j - 1].array, items[j - 1].index);
			return item_fail(err, &items[j], "%s is already listed at %s",
					 item_text(&items[j], a), first);
		}
	/* The set's lists are in the canonical order already. */
	next = malloc(((size_t)n_cur + n + 1) * sizeof(*next));
	if (next == NULL) {
		rc = elb_json_nomem(err);
		goto out;
	}
	count = merge_scope(current, n_cur, op, items, n, scope_name, next, err);
	if (count < 0) {
		rc = (int)count;
		goto out;
	}
	if (others + (uint64_t)count > ELB_PREFIX_RULES_MAX) {
		rc = elb_json_fail(err, n > 0 ? items[0].array : "prefixes",
				   "%llu rules in all lists, more than the %u a node holds",
				   (unsigned long long)(others + (uint64_t)count),
				   ELB_PREFIX_RULES_MAX);
		goto out;
	}
	rc = set_from(set_json_with(cur, vip, next, (uint32_t)count, NULL, NULL),
		      cur->generation + 1, out, err);
out:
	free(next);
	return rc;
}

uint32_t cp_prefixes_vip_rules(const struct elb_prefix_set *set)
{
	return elb_prefix_set_rules(set) - set->node.n;
}

int cp_prefixes_commit(struct cp_daemon *cp, struct elb_prefix_set *next, struct elb_dp_err *err)
{
	char path[4096];
	cJSON *fields;
	int rc = cp_prefixes_path(cp->config_path, path, sizeof(path));

	if (rc < 0)
		elb_json_fail(err, NULL, "the prefixes file's path is too long");
	else
		rc = elb_prefix_set_write_file(path, next, err);
	if (rc < 0) {
		cp->persist_failures++;
		elb_prefix_set_free(next);
		return rc;
	}
	cp->prefix_writes++;
	elb_prefix_set_free(cp->prefixes);
	cp->prefixes = next;
	fields = cJSON_CreateObject();
	elb_dp_json_add_u64(fields, "generation", next->generation);
	elb_dp_json_add_u64(fields, "rules", elb_prefix_set_rules(next));
	cp_emit(cp, "prefixes_changed", fields);
	return 0;
}

static bool vip_configured(void *ctx, const struct elb_dp_vip_key *key)
{
	return cp_config_find_vip(ctx, key) >= 0;
}

/* The set without the lists of VIPs config does not have; NULL when it
 * has no such list (*rc 0) or on failure (*rc < 0). */
static struct elb_prefix_set *without_gone_vips(const struct elb_prefix_set *set,
						const struct cp_config *config, int *rc,
						struct elb_dp_err *err)
{
	struct elb_prefix_set *next = NULL;
	bool gone = false;

	*rc = 0;
	for (uint32_t v = 0; v < set->n_vips && !gone; v++)
		gone = cp_config_find_vip(config, &set->vips[v].vip) < 0;
	if (!gone)
		return NULL;
	*rc = set_from(set_json_with(set, NULL, set->node.rules, set->node.n, vip_configured,
				     (void *)config),
		       set->generation + 1, &next, err);
	return next;
}

int cp_prefixes_load(struct cp_daemon *cp, struct elb_dp_err *err)
{
	struct elb_prefix_set *set = NULL, *pruned;
	char path[4096];
	int rc = cp_prefixes_path(cp->config_path, path, sizeof(path));

	if (rc < 0)
		return elb_json_fail(err, NULL, "the prefixes file's path is too long");
	rc = elb_prefix_set_load_file(path, &set, err);
	if (rc == -ENOENT) {
		set = elb_prefix_set_new();
		if (set == NULL)
			return elb_json_nomem(err);
	} else if (rc < 0) {
		return rc;
	}
	elb_prefix_set_free(cp->prefixes);
	cp->prefixes = set;
	pruned = without_gone_vips(set, cp->config, &rc, err);
	if (rc < 0)
		return rc;
	if (pruned != NULL) {
		cp_log("%s: dropping the lists of VIPs the config does not have", path);
		return cp_prefixes_commit(cp, pruned, err);
	}
	return 0;
}

void cp_prefixes_follow_config(struct cp_daemon *cp)
{
	struct elb_prefix_set *pruned;
	struct elb_dp_err err;
	int rc;

	if (cp->prefixes == NULL)
		return;
	pruned = without_gone_vips(cp->prefixes, cp->config, &rc, &err);
	if (pruned != NULL)
		rc = cp_prefixes_commit(cp, pruned, &err);
	if (rc < 0)
		cp_log("the lists of removed VIPs stay until the next start: %s", err.text);
}
