/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * edgelb-cp's prefix allow/deny lists (docs/prefix-lists.md), part of the
 * state core: the set in force (cp->prefixes, struct elb_prefix_set of
 * elb_prefixes.h), its file, and the changes the operator methods make to
 * one scope of it (the node's list, or one VIP's).
 *
 * The set lives in a file of its own beside the config file
 * (cp_prefixes_path: "<config>.prefixes"), so that a backend change, which
 * rewrites the config file, never rewrites 100k prefixes, and a prefix
 * change never rewrites the config. Its generation counts prefix changes
 * (kept in the file, so it only grows); 0 means no list was ever set, and
 * then nothing is pushed (a dataplane without prefix lists is left alone).
 *
 * A VIP's list exists only while the VIP is configured: the methods refuse
 * a list for a VIP the config does not have, and a committed config drops
 * the lists of the VIPs it no longer has (cp_prefixes_follow_config). The
 * config file is written first: a crash between the two writes leaves a
 * list whose VIP is gone, which the next start drops (cp_prefixes_load),
 * never a VIP whose list (an allow-only VIP's deny 0.0.0.0/0) is lost.
 */
#ifndef CP_PREFIXES_H
#define CP_PREFIXES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "cp_state.h"
#include "elb_prefixes.h"

enum cp_prefix_op {
	CP_PREFIX_ADD,     /* add rules; a prefix already listed takes the new action */
	CP_PREFIX_REMOVE,  /* remove rules; each must be listed (with its action if given) */
	CP_PREFIX_REPLACE, /* the scope's whole list */
};

/* One prefix of a request, with where it came from (errors name it). */
struct cp_prefix_item {
	struct elb_prefix_rule rule; /* action 0 in a removal: either action */
	const char *array;           /* "allow", "deny" or "prefixes" */
	uint32_t index;
};

/* "<config>.prefixes" into buf. @return 0 or -ENAMETOOLONG. */
int cp_prefixes_path(const char *config_path, char *buf, size_t len);

/*
 * Append the prefixes of params' member `array` (absent: none; else an
 * array of strings) to *items, each parsed as a rule with action. family
 * (ELB_AF_INET or _INET6; 0: any) is the VIP's: a prefix of the other
 * family is refused. Errors name the element ("deny[3]: ...").
 * @return 0, -EINVAL or -ENOMEM (err filled; *items may have grown).
 */
int cp_prefix_items_from_json(const cJSON *params, const char *array, uint8_t action,
			      uint8_t family, struct cp_prefix_item **items, uint32_t *n,
			      struct elb_dp_err *err);

/*
 * The set cur with one scope (vip NULL: the node's list) changed by op with
 * items (sorted here), at generation cur's + 1. Refused, naming the item: a
 * prefix given twice, a removal of a prefix not listed (or listed with the
 * other action), more than ELB_PREFIX_RULES_MAX rules in all.
 * @return 0 with *out, -EINVAL or -ENOMEM (err filled).
 */
int cp_prefixes_change(const struct elb_prefix_set *cur, const struct elb_dp_vip_key *vip,
		       enum cp_prefix_op op, struct cp_prefix_item *items, uint32_t n,
		       struct elb_prefix_set **out, struct elb_dp_err *err);

/*
 * Make next the set in force: written atomically to the prefixes file
 * first (a change the file does not have is refused, not applied). Takes
 * next in every case. Raises "prefixes_changed". @return 0 or -errno (err
 * filled; nothing changed).
 */
int cp_prefixes_commit(struct cp_daemon *cp, struct elb_prefix_set *next, struct elb_dp_err *err);

/* At start, after cp_state_init: the prefixes file (missing: no lists),
 * without the lists of VIPs the config does not have. @return 0 or -errno
 * (err filled). */
int cp_prefixes_load(struct cp_daemon *cp, struct elb_dp_err *err);

/* After a config commit: drop the lists of VIPs the config no longer has
 * (a new generation, written; a failed write is logged: the next start
 * drops them again). */
void cp_prefixes_follow_config(struct cp_daemon *cp);

/* Rules in VIP lists (the node's: cp->prefixes->node.n). */
uint32_t cp_prefixes_vip_rules(const struct elb_prefix_set *set);

#endif /* CP_PREFIXES_H */
