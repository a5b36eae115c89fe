/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Prefix allow/deny lists (issue 18; docs/prefix-lists.md): what a rule is
 * and what a list decides, shared by both dataplanes and the control plane.
 * How each dataplane looks a list up is its own (edgelb-dp: a table built
 * on the control path; edgelb-xdp: BPF_MAP_TYPE_LPM_TRIE); what it decides
 * is this, and tests hold both to elb_prefix_list_decide below.
 *
 * A list is a set of rules, each a prefix (IPv4 0..32 or IPv6 0..128 bits)
 * with an action, allow or deny; a list holds each prefix once. The node
 * has one list, and each VIP may have one. For a packet to a VIP, the
 * address decided on is the client's (struct elb_flow_key.src: what Maglev
 * hashes, so an ICMP error about a client's flow is decided as the client):
 *   1. the longest prefix of the VIP's list that holds the address decides;
 *   2. else the longest prefix of the node's list that holds it;
 *   3. else the packet is allowed (no rule matched).
 * A deny drops the packet (reason source_denied) before the flow table, so
 * a denied source neither finds nor creates a flow and is not charged to
 * any admission limit. An allow changes nothing else: the packet still goes
 * through the per-source limits and the new-flow budget. A VIP can thus be
 * made allow-only with a deny of 0.0.0.0/0 (or ::/0) and allows inside it,
 * and a VIP's allow overrides a node-wide deny for that VIP alone.
 * Traffic that is for no VIP goes to the kernel, whose firewall applies.
 */
#ifndef ELB_PREFIX_LIST_H
#define ELB_PREFIX_LIST_H

#include "elb_compat.h"
#include "elb_flow.h"

enum elb_prefix_action {
	ELB_PREFIX_NO_MATCH = 0, /* no rule of the list holds the address */
	ELB_PREFIX_ALLOW = 1,
	ELB_PREFIX_DENY = 2,
};
#define ELB_PREFIX_ACTIONS 2 /* counters are indexed by action - 1 */

enum elb_prefix_scope {
	ELB_PREFIX_SCOPE_VIP = 0, /* the VIP's own list */
	ELB_PREFIX_SCOPE_NODE = 1,
};
#define ELB_PREFIX_SCOPES 2

/* Rules of the node's list and every VIP's list together. Ten times the
 * 100k prefixes the issue asks for would cost edgelb-xdp's trie about 100
 * MiB of kernel memory (twice that while a change is written); this keeps
 * it near 50 MiB. */
#define ELB_PREFIX_RULES_MAX 262144u

struct elb_prefix_rule {
	union elb_addr addr; /* network order, bits past len zero; IPv4 in v4 */
	uint8_t family;      /* ELB_AF_INET or ELB_AF_INET6 */
	uint8_t len;         /* 0..32 or 0..128 */
	uint8_t action;      /* ELB_PREFIX_ALLOW or ELB_PREFIX_DENY */
	uint8_t pad;         /* zero */
};

/* Bits of a family's addresses. */
ELB_INLINE uint32_t elb_prefix_family_bits(uint8_t family)
{
	return family == ELB_AF_INET ? 32 : 128;
}

/* The network-order 32-bit word w of an address masked to its first len
 * bits (IPv4: word 0 only). */
ELB_INLINE uint32_t elb_prefix_mask_word(uint32_t word, uint32_t w, uint32_t len)
{
	uint32_t bits = len > 32 * w ? len - 32 * w : 0;

	if (bits >= 32)
		return word;
	return bits == 0 ? 0 : word & elb_htonl(~(0xffffffffu >> bits));
}

/* Does rule r hold address a of family f? */
ELB_INLINE bool elb_prefix_holds(const struct elb_prefix_rule *r, uint8_t f, const union elb_addr *a)
{
	if (r->family != f)
		return false;
	if (f == ELB_AF_INET)
		return elb_prefix_mask_word(a->v4, 0, r->len) == r->addr.v4;
	ELB_UNROLL
	for (uint32_t w = 0; w < 4; w++)
		if (elb_prefix_mask_word(a->w[w], w, r->len) != r->addr.w[w])
			return false;
	return true;
}

#if !defined(__bpf__)
/*
 * The reference decision, by definition above, for tests and the control
 * path (never per packet: it reads every rule). vip_rules may be NULL (n
 * 0). *scope is set when a rule matched; *rule (may be NULL) to the rule.
 * @return the action, ELB_PREFIX_NO_MATCH when no rule holds the address.
 */
static inline enum elb_prefix_action
elb_prefix_list_decide(const struct elb_prefix_rule *vip_rules, uint32_t n_vip,
		       const struct elb_prefix_rule *node_rules, uint32_t n_node, uint8_t family,
		       const union elb_addr *addr, enum elb_prefix_scope *scope,
		       const struct elb_prefix_rule **rule)
{
	const struct elb_prefix_rule *lists[ELB_PREFIX_SCOPES] = {vip_rules, node_rules};
	uint32_t counts[ELB_PREFIX_SCOPES] = {n_vip, n_node};

	for (uint32_t s = 0; s < ELB_PREFIX_SCOPES; s++) {
		const struct elb_prefix_rule *best = NULL;

		for (uint32_t i = 0; i < counts[s]; i++)
			if (elb_prefix_holds(&lists[s][i], family, addr) &&
			    (best == NULL || lists[s][i].len > best->len))
				best = &lists[s][i];
		if (best) {
			*scope = (enum elb_prefix_scope)s;
			if (rule)
				*rule = best;
			return (enum elb_prefix_action)best->action;
		}
	}
	return ELB_PREFIX_NO_MATCH;
}
#endif

#endif /* ELB_PREFIX_LIST_H */
