/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The prefix lists of a node as a whole (docs/prefix-lists.md): the node's
 * list and the VIPs' lists, as plain C with their JSON form, for the
 * dataplanes (prefixes.set) and edgelb-cp. What a rule means is
 * elb_prefix_list.h's.
 *
 * The lists travel apart from the configuration (config.set): a node may
 * hold 100k prefixes or more, which must not be re-sent, parsed and built
 * with every backend change. A set is replaced whole, atomically, like a
 * configuration, and a VIP's list is tied to the VIP's key (address, port,
 * protocol), not to its position: a list whose VIP is not configured is
 * kept and applies once the VIP exists.
 *
 * JSON form (compact: a prefix is a string, the action is the array it is
 * in):
 *   {"generation": 7,
 *    "node": {"deny": ["203.0.113.0/24", "2001:db8:bad::/48"], "allow": []},
 *    "vips": [{"address": "198.51.100.1", "port": 443, "protocol": "tcp",
 *              "allow": ["198.51.100.0/24"], "deny": ["0.0.0.0/0"]}]}
 * Every member is optional ("generation" 0, lists empty). Errors name the
 * member by its JSON path ("vips[0].deny[12]") in struct elb_dp_err:
 * a prefix that does not parse, host bits set past the length ("did you
 * mean ..."), a prefix listed twice in one scope (in either array), a VIP
 * list with a prefix of the other family, a VIP listed twice, more than
 * ELB_PREFIX_RULES_MAX rules in all.
 *
 * Memory: a set owns its arrays; none of this is for the packet path.
 */
#ifndef ELB_PREFIXES_H
#define ELB_PREFIXES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "elb_config.h"
#include "elb_json.h"
#include "elb_prefix_list.h"

/* A prefix's text: an address's (ELB_ADDR_TEXT_MAX, its NUL included),
 * '/', three digits. */
#define ELB_PREFIX_TEXT_MAX (ELB_ADDR_TEXT_MAX + 4)

/* One scope's rules, sorted by (family, address, length): unique. */
struct elb_prefix_list {
	uint32_t n;
	struct elb_prefix_rule *rules; /* owned; NULL when n is 0 */
};

struct elb_prefix_vip_list {
	struct elb_dp_vip_key vip;
	struct elb_prefix_list list;
};

struct elb_prefix_set {
	uint64_t generation; /* chosen by the sender (edgelb-cp counts its changes) */
	struct elb_prefix_list node;
	uint32_t n_vips;
	struct elb_prefix_vip_list *vips; /* owned; sorted by key; no empty list */
};

/* "198.51.100.0/24" -> rule with action. @return 0, or -EINVAL with a
 * person's reason in why (ELB_DP_ERR_TEXT_MAX bytes): "not an address",
 * "length past 32", "host bits set past /24: did you mean 198.51.100.0/24". */
int elb_prefix_parse(const char *text, uint8_t action, struct elb_prefix_rule *out, char *why,
		     size_t why_len);
/* The rule's prefix as text (ELB_PREFIX_TEXT_MAX bytes). Returns buf. */
char *elb_prefix_format(const struct elb_prefix_rule *rule, char *buf);

/* The canonical order of a scope's rules (family, address, length; the
 * action aside): <0, 0, >0 as memcmp. */
int elb_prefix_rule_cmp(const struct elb_prefix_rule *a, const struct elb_prefix_rule *b);

/* A new empty set; NULL if out of memory. */
struct elb_prefix_set *elb_prefix_set_new(void);
void elb_prefix_set_free(struct elb_prefix_set *set);
struct elb_prefix_set *elb_prefix_set_clone(const struct elb_prefix_set *set);
/* Rules in all scopes. */
uint32_t elb_prefix_set_rules(const struct elb_prefix_set *set);
/* The list of a VIP, NULL when it has none. */
const struct elb_prefix_list *elb_prefix_set_vip_list(const struct elb_prefix_set *set,
						       const struct elb_dp_vip_key *vip);
/* Two sets hold the same rules (generation aside). */
bool elb_prefix_set_same_rules(const struct elb_prefix_set *a, const struct elb_prefix_set *b);

/* Parse and validate (see above) under the path prefix ("" or e.g.
 * "prefixes"). On failure *out is untouched. @return 0, -EINVAL, -ENOMEM. */
int elb_prefix_set_from_json(const cJSON *json, const char *prefix, struct elb_prefix_set **out,
			     struct elb_dp_err *err);
/* The JSON form above; NULL if out of memory. */
cJSON *elb_prefix_set_to_json(const struct elb_prefix_set *set);
/* One scope's {"allow": [...], "deny": [...]} into obj. @return 0 or -ENOMEM. */
int elb_prefix_list_to_json(const struct elb_prefix_list *list, cJSON *obj);

/* The file form: the JSON form, written atomically (elb_atomic_write_file).
 * A missing file loads as -ENOENT. */
int elb_prefix_set_write_file(const char *path, const struct elb_prefix_set *set,
			      struct elb_dp_err *err);
int elb_prefix_set_load_file(const char *path, struct elb_prefix_set **out,
			     struct elb_dp_err *err);

#endif /* ELB_PREFIXES_H */
