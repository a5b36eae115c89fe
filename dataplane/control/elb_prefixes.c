/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The prefix lists' control model (elb_prefixes.h): parsing, validation,
 * the canonical order (rules sorted and unique per scope, VIP lists sorted
 * by key), the JSON and file forms. Control path only.
 */
#include "elb_prefixes.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "elb_file.h"

/* A set of ELB_PREFIX_RULES_MAX IPv6 rules as indented JSON: about 60
 * bytes a rule. */
#define ELB_PREFIX_FILE_MAX (64u << 20)

static const char *const action_names[] = {[ELB_PREFIX_ALLOW] = "allow",
					   [ELB_PREFIX_DENY] = "deny"};

int elb_prefix_parse(const char *text, uint8_t action, struct elb_prefix_rule *out, char *why,
		     size_t why_len)
{
	char addr_text[ELB_ADDR_TEXT_MAX + 1], canonical[ELB_PREFIX_TEXT_MAX];
	const char *slash = strchr(text, '/');
	struct elb_prefix_rule r = {.action = action};
	size_t addr_len;
	unsigned long len = 0;
	uint32_t bits;
	int rc;

	if (slash == NULL) {
		snprintf(why, why_len, "must be a prefix such as 198.51.100.0/24 (got \"%.60s\")",
			 text);
		return -EINVAL;
	}
	addr_len = (size_t)(slash - text);
	if (addr_len == 0 || addr_len >= sizeof(addr_text)) {
		snprintf(why, why_len, "not an address before the '/' (got \"%.60s\")", text);
		return -EINVAL;
	}
	memcpy(addr_text, text, addr_len);
	addr_text[addr_len] = '\0';
	rc = elb_addr_parse(addr_text, &r.addr, &r.family);
	if (rc == -EAFNOSUPPORT) {
		snprintf(why, why_len,
			 "write an IPv4 prefix as IPv4, not IPv4-mapped IPv6 (got \"%.60s\")", text);
		return -EINVAL;
	}
	if (rc < 0) {
		snprintf(why, why_len, "not an IPv4 or IPv6 address before the '/' (got \"%.60s\")",
			 text);
		return -EINVAL;
	}
	bits = elb_prefix_family_bits(r.family);
	/* Digits only: strtoul would take "+24", " 24" and "0x18". */
	if (slash[1] == '\0' || strspn(slash + 1, "0123456789") != strlen(slash + 1) ||
	    strlen(slash + 1) > 3 || (len = strtoul(slash + 1, NULL, 10)) > bits) {
		snprintf(why, why_len, "the length must be 0..%u (got \"%.60s\")", bits, text);
		return -EINVAL;
	}
	r.len = (uint8_t)len;
	{
		struct elb_prefix_rule masked = r;

		for (uint32_t w = 0; w < 4; w++)
			masked.addr.w[w] = elb_prefix_mask_word(r.addr.w[w], w, r.len);
		if (r.family == ELB_AF_INET)
			masked.addr.w[1] = masked.addr.w[2] = masked.addr.w[3] = 0;
		if (memcmp(&masked.addr, &r.addr, sizeof(r.addr)) != 0) {
			snprintf(why, why_len, "host bits set past /%u: did you mean %s", r.len,
				 elb_prefix_format(&masked, canonical));
			return -EINVAL;
		}
	}
	*out = r;
	return 0;
}

char *elb_prefix_format(const struct elb_prefix_rule *rule, char *buf)
{
	size_t n;

	elb_addr_format(&rule->addr, rule->family, buf, ELB_ADDR_TEXT_MAX);
	n = strlen(buf);
	/* ELB_ADDR_TEXT_MAX + "/128" fits ELB_PREFIX_TEXT_MAX. */
	buf[n++] = '/';
	if (rule->len >= 100)
		buf[n++] = (char)('0' + rule->len / 100);
	if (rule->len >= 10)
		buf[n++] = (char)('0' + rule->len / 10 % 10);
	buf[n++] = (char)('0' + rule->len % 10);
	buf[n] = '\0';
	return buf;
}

/* The canonical order of a scope's rules: family, then address, then
 * length; the action does not take part (a prefix is in a list once). */
static int rule_cmp(const void *pa, const void *pb)
{
	const struct elb_prefix_rule *a = pa, *b = pb;
	int c;

	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	c = memcmp(&a->addr, &b->addr, sizeof(a->addr));
	if (c != 0)
		return c;
	return a->len < b->len ? -1 : a->len > b->len;
}

int elb_prefix_rule_cmp(const struct elb_prefix_rule *a, const struct elb_prefix_rule *b)
{
	return rule_cmp(a, b);
}

static int vip_key_cmp(const struct elb_dp_vip_key *a, const struct elb_dp_vip_key *b)
{
	int c;

	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	c = memcmp(&a->addr, &b->addr, sizeof(a->addr));
	if (c != 0)
		return c;
	if (a->port != b->port)
		return a->port < b->port ? -1 : 1;
	return a->proto < b->proto ? -1 : a->proto > b->proto;
}

static int vip_list_cmp(const void *pa, const void *pb)
{
	const struct elb_prefix_vip_list *a = pa, *b = pb;

	return vip_key_cmp(&a->vip, &b->vip);
}

struct elb_prefix_set *elb_prefix_set_new(void)
{
	return calloc(1, sizeof(struct elb_prefix_set));
}

void elb_prefix_set_free(struct elb_prefix_set *set)
{
	if (set == NULL)
		return;
	free(set->node.rules);
	for (uint32_t i = 0; i < set->n_vips; i++)
		free(set->vips[i].list.rules);
	free(set->vips);
	free(set);
}

static int list_copy(struct elb_prefix_list *dst, const struct elb_prefix_list *src)
{
	dst->n = src->n;
	dst->rules = NULL;
	if (src->n == 0)
		return 0;
	dst->rules = malloc(src->n * sizeof(*src->rules));
	if (dst->rules == NULL)
		return -ENOMEM;
	memcpy(dst->rules, src->rules, src->n * sizeof(*src->rules));
	return 0;
}

struct elb_prefix_set *elb_prefix_set_clone(const struct elb_prefix_set *set)
{
	struct elb_prefix_set *copy = elb_prefix_set_new();

	if (copy == NULL)
		return NULL;
	copy->generation = set->generation;
	if (list_copy(&copy->node, &set->node) < 0)
		goto fail;
	if (set->n_vips) {
		copy->vips = calloc(set->n_vips, sizeof(*set->vips));
		if (copy->vips == NULL)
			goto fail;
	}
	for (uint32_t i = 0; i < set->n_vips; i++) {
		copy->vips[i].vip = set->vips[i].vip;
		if (list_copy(&copy->vips[i].list, &set->vips[i].list) < 0) {
			copy->n_vips = i + 1;
			goto fail;
		}
		copy->n_vips = i + 1;
	}
	return copy;
fail:
	elb_prefix_set_free(copy);
	return NULL;
}

uint32_t elb_prefix_set_rules(const struct elb_prefix_set *set)
{
	uint32_t n = set->node.n;

	for (uint32_t i = 0; i < set->n_vips; i++)
		n += set->vips[i].list.n;
	return n;
}

const struct elb_prefix_list *elb_prefix_set_vip_list(const struct elb_prefix_set *set,
						       const struct elb_dp_vip_key *vip)
{
	struct elb_prefix_vip_list probe = {.vip = *vip};
	const struct elb_prefix_vip_list *found;

	if (set == NULL || set->n_vips == 0)
		return NULL;
	found = bsearch(&probe, set->vips, set->n_vips, sizeof(*set->vips), vip_list_cmp);
	return found ? &found->list : NULL;
}

static bool list_same(const struct elb_prefix_list *a, const struct elb_prefix_list *b)
{
	return a->n == b->n && (a->n == 0 || memcmp(a->rules, b->rules, a->n * sizeof(*a->rules)) == 0);
}

bool elb_prefix_set_same_rules(const struct elb_prefix_set *a, const struct elb_prefix_set *b)
{
	if (!list_same(&a->node, &b->node) || a->n_vips != b->n_vips)
		return false;
	for (uint32_t i = 0; i < a->n_vips; i++)
		if (!elb_dp_vip_key_equal(&a->vips[i].vip, &b->vips[i].vip) ||
		    !list_same(&a->vips[i].list, &b->vips[i].list))
			return false;
	return true;
}

/* ---- JSON form -------------------------------------------------------------------------- */

/* Where each rule came from, to name it when it repeats another. */
struct parsed_rule {
	struct elb_prefix_rule rule;
	uint8_t action_index; /* position of its array in action_names order */
	uint32_t index;       /* in that array */
};

static int parsed_cmp(const void *pa, const void *pb)
{
	return rule_cmp(&((const struct parsed_rule *)pa)->rule, &((const struct parsed_rule *)pb)->rule);
}

/*
 * One scope's "allow" and "deny" arrays of obj (path prefix) into list:
 * sorted, unique; rules of another family than `family` (0: any) refused.
 * *budget is what ELB_PREFIX_RULES_MAX leaves; it is reduced.
 */
static int list_from_json(const cJSON *obj, const char *prefix, uint8_t family,
			  uint32_t *budget, struct elb_prefix_list *out, struct elb_dp_err *err)
{
	static const uint8_t actions[] = {ELB_PREFIX_ALLOW, ELB_PREFIX_DENY};
	char path[ELB_JSON_PATH_MAX], why[ELB_DP_ERR_TEXT_MAX];
	struct parsed_rule *parsed = NULL;
	uint32_t n = 0, total = 0;
	int rc = 0;

	for (uint32_t a = 0; a < ELB_ARRAY_SIZE(actions); a++) {
		const cJSON *arr = cJSON_GetObjectItemCaseSensitive(obj, action_names[actions[a]]);

		if (arr == NULL)
			continue;
		if (!cJSON_IsArray(arr))
			return elb_json_fail(err, elb_json_path_join(path, prefix,
								     action_names[actions[a]]),
					     "must be an array of prefixes");
		total += (uint32_t)cJSON_GetArraySize(arr);
	}
	if (total > *budget)
		return elb_json_fail(err, prefix,
				     "more than %u prefix rules in all lists together",
				     ELB_PREFIX_RULES_MAX);
	if (total == 0) {
		*out = (struct elb_prefix_list){0};
		return 0;
	}
	parsed = malloc(total * sizeof(*parsed));
	if (parsed == NULL)
		return elb_json_nomem(err);
	for (uint32_t a = 0; a < ELB_ARRAY_SIZE(actions); a++) {
		const char *name = action_names[actions[a]];
		const cJSON *arr = cJSON_GetObjectItemCaseSensitive(obj, name), *item;
		uint32_t i = 0;

		cJSON_ArrayForEach(item, arr) {
			struct parsed_rule *p = &parsed[n];

			elb_json_path_index(path, prefix, name, i);
			if (!cJSON_IsString(item)) {
				rc = elb_json_fail(err, path, "must be a prefix string");
				goto out;
			}
			if (elb_prefix_parse(item->valuestring, actions[a], &p->rule, why,
					     sizeof(why)) < 0) {
				rc = elb_json_fail(err, path, "%s", why);
				goto out;
			}
			if (family && p->rule.family != family) {
				rc = elb_json_fail(err, path,
						   "an %s VIP's list holds %s prefixes only (got \"%.60s\")",
						   family == ELB_AF_INET ? "IPv4" : "IPv6",
						   family == ELB_AF_INET ? "IPv4" : "IPv6",
						   item->valuestring);
				goto out;
			}
			p->action_index = (uint8_t)a;
			p->index = i++;
			n++;
		}
	}
	qsort(parsed, n, sizeof(*parsed), parsed_cmp);
	for (uint32_t i = 1; i < n; i++) {
		if (rule_cmp(&parsed[i - 1].rule, &parsed[i].rule) == 0) {
			/* Name the later of the two as it was written. */
			const struct parsed_rule *first = &parsed[i - 1], *second = &parsed[i];
			char other[ELB_JSON_PATH_MAX], text[ELB_PREFIX_TEXT_MAX];

			if (first->action_index > second->action_index ||
			    (first->action_index == second->action_index &&
			     first->index > second->index)) {
				const struct parsed_rule *t = first;

				first = second;
				second = t;
			}
			elb_json_path_index(path, prefix, action_names[actions[second->action_index]],
					    second->index);
			elb_json_path_index(other, prefix, action_names[actions[first->action_index]],
					    first->index);
			rc = elb_json_fail(err, path, "%s is already listed at %s",
					   elb_prefix_format(&second->rule, text), other);
			goto out;
		}
	}
	out->rules = malloc(n * sizeof(*out->rules));
	if (out->rules == NULL) {
		rc = elb_json_nomem(err);
		goto out;
	}
	for (uint32_t i = 0; i < n; i++)
		out->rules[i] = parsed[i].rule;
	out->n = n;
	*budget -= n;
out:
	free(parsed);
	return rc;
}

int elb_prefix_set_from_json(const cJSON *json, const char *prefix, struct elb_prefix_set **out,
			     struct elb_dp_err *err)
{
	static const char *const known[] = {"generation", "node", "vips", NULL};
	static const char *const list_members[] = {"allow", "deny", NULL};
	static const char *const vip_members[] = {"address", "port", "protocol", "allow", "deny",
						  NULL};
	char path[ELB_JSON_PATH_MAX], vpath[ELB_JSON_PATH_MAX];
	struct elb_prefix_set *set;
	uint32_t budget = ELB_PREFIX_RULES_MAX;
	const cJSON *node, *vips, *v;
	int rc;

	rc = elb_json_expect_members(json, prefix, known, err);
	if (rc < 0)
		return rc;
	set = elb_prefix_set_new();
	if (set == NULL)
		return elb_json_nomem(err);
	rc = elb_json_read_uint(json, prefix, "generation", 0, (1ull << 53) - 1, &set->generation,
				err);
	if (rc < 0)
		goto fail;
	node = cJSON_GetObjectItemCaseSensitive(json, "node");
	if (node) {
		elb_json_path_join(path, prefix, "node");
		rc = elb_json_expect_members(node, path, list_members, err);
		if (rc == 0)
			rc = list_from_json(node, path, 0, &budget, &set->node, err);
		if (rc < 0)
			goto fail;
	}
	vips = cJSON_GetObjectItemCaseSensitive(json, "vips");
	if (vips) {
		uint32_t i = 0, n = (uint32_t)cJSON_GetArraySize(vips);

		elb_json_path_join(path, prefix, "vips");
		if (!cJSON_IsArray(vips)) {
			rc = elb_json_fail(err, path, "must be an array");
			goto fail;
		}
		if (n > ELB_DP_MAX_VIPS) {
			rc = elb_json_fail(err, path, "more than %u VIPs", ELB_DP_MAX_VIPS);
			goto fail;
		}
		set->vips = n ? calloc(n, sizeof(*set->vips)) : NULL;
		if (n && set->vips == NULL) {
			rc = elb_json_nomem(err);
			goto fail;
		}
		cJSON_ArrayForEach(v, vips) {
			struct elb_prefix_vip_list *l = &set->vips[set->n_vips];

			elb_json_path_index(vpath, prefix, "vips", i);
			rc = elb_json_expect_members(v, vpath, vip_members, err);
			if (rc == 0)
				rc = elb_dp_vip_key_from_json(v, vpath, &l->vip, err);
			if (rc == 0)
				rc = list_from_json(v, vpath, l->vip.family, &budget, &l->list, err);
			if (rc < 0)
				goto fail;
			for (uint32_t j = 0; j < set->n_vips; j++) {
				if (elb_dp_vip_key_equal(&set->vips[j].vip, &l->vip)) {
					char name[ELB_DP_VIP_KEY_STR_MAX];

					rc = elb_json_fail(err, vpath, "%s is already listed at vips[%u]",
							   elb_dp_vip_key_str(&l->vip, name, sizeof(name)), j);
					free(l->list.rules);
					goto fail;
				}
			}
			i++;
			/* A VIP with an empty list is no list: dropped, so that two
			 * sets with the same rules compare equal. */
			if (l->list.n == 0)
				continue;
			set->n_vips++;
		}
		if (set->n_vips > 1) /* qsort's array may not be NULL, even empty */
			qsort(set->vips, set->n_vips, sizeof(*set->vips), vip_list_cmp);
	}
	*out = set;
	return 0;
fail:
	elb_prefix_set_free(set);
	return rc;
}

int elb_prefix_list_to_json(const struct elb_prefix_list *list, cJSON *obj)
{
	static const uint8_t actions[] = {ELB_PREFIX_ALLOW, ELB_PREFIX_DENY};
	char text[ELB_PREFIX_TEXT_MAX];

	for (uint32_t a = 0; a < ELB_ARRAY_SIZE(actions); a++) {
		cJSON *arr = cJSON_AddArrayToObject(obj, action_names[actions[a]]);

		if (arr == NULL)
			return -ENOMEM;
		for (uint32_t i = 0; i < list->n; i++) {
			cJSON *s;

			if (list->rules[i].action != actions[a])
				continue;
			s = cJSON_CreateString(elb_prefix_format(&list->rules[i], text));
			if (s == NULL || !cJSON_AddItemToArray(arr, s)) {
				cJSON_Delete(s);
				return -ENOMEM;
			}
		}
	}
	return 0;
}

cJSON *elb_prefix_set_to_json(const struct elb_prefix_set *set)
{
	cJSON *json = cJSON_CreateObject(), *node, *vips;

	if (json == NULL || cJSON_AddNumberToObject(json, "generation", (double)set->generation) == NULL)
		goto fail;
	node = cJSON_AddObjectToObject(json, "node");
	if (node == NULL || elb_prefix_list_to_json(&set->node, node) < 0)
		goto fail;
	vips = cJSON_AddArrayToObject(json, "vips");
	if (vips == NULL)
		goto fail;
	for (uint32_t i = 0; i < set->n_vips; i++) {
		cJSON *v = elb_dp_vip_key_to_json(&set->vips[i].vip);

		if (v == NULL || !cJSON_AddItemToArray(vips, v)) {
			cJSON_Delete(v);
			goto fail;
		}
		if (elb_prefix_list_to_json(&set->vips[i].list, v) < 0)
			goto fail;
	}
	return json;
fail:
	cJSON_Delete(json);
	return NULL;
}

int elb_prefix_set_write_file(const char *path, const struct elb_prefix_set *set,
			      struct elb_dp_err *err)
{
	return elb_json_write_file(path, elb_prefix_set_to_json(set), err);
}

static int parse_prefix_set(const char *text, size_t len, void *out, struct elb_dp_err *err)
{
	cJSON *json = elb_dp_json_parse_document(text, len, err);
	int rc;

	if (json == NULL)
		return -EINVAL;
	rc = elb_prefix_set_from_json(json, "", out, err);
	cJSON_Delete(json);
	return rc;
}

int elb_prefix_set_load_file(const char *path, struct elb_prefix_set **out,
			     struct elb_dp_err *err)
{
	return elb_json_load_file(path, ELB_PREFIX_FILE_MAX, parse_prefix_set, out, err);
}
