/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * flow.explain's shared part: the frame a 5-tuple stands for, and the
 * answer. The steps are recomputed here with the functions both dataplanes
 * run (elb_parse, elb_vip_find, elb_flow_hash, elb_maglev_slot,
 * elb_encap_mtu_check); the verdict, backend and output frame are what the
 * dataplane's real decision did (struct elb_explain_run). "consistent"
 * says whether the steps lead where the real run went: false would mean
 * the dataplane decides differently from its own shared definition.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "elb_config.h"
#include "elb_csum.h"
#include "elb_encap.h"
#include "elb_explain.h"
#include "elb_maglev.h"
#include "elb_parse.h"
#include "elb_prefixes.h"
#include "elb_reasons.h"
#include "elb_second_chance.h"
#include "elb_verdicts.h"
#include "elb_wire.h"

/* ------------------------------------------------------------------------ */
/* The frame of a 5-tuple */

static void put16(uint8_t *p, uint16_t host)
{
	p[0] = (uint8_t)(host >> 8);
	p[1] = (uint8_t)host;
}

int elb_explain_build_frame(uint8_t *frame, size_t size, const struct elb_flow_key *key,
			    uint8_t tcp_flags, uint32_t payload_len, bool df)
{
	static const uint8_t dst_mac[6] = {0x02, 0, 0, 0, 0, 0x01};
	static const uint8_t src_mac[6] = {0x02, 0, 0, 0, 0, 0x02};
	bool v4 = key->family == ELB_AF_INET;
	bool tcp = key->proto == ELB_IPPROTO_TCP;
	size_t l3_hdr = v4 ? 20 : 40, l4_hdr = tcp ? 20 : 8;
	size_t l4_len = l4_hdr + payload_len, total = 14 + l3_hdr + l4_len;
	uint8_t *ip = frame + 14, *l4 = ip + l3_hdr;
	uint32_t sum;

	if ((!tcp && key->proto != ELB_IPPROTO_UDP) || (!v4 && key->family != ELB_AF_INET6) ||
	    total > size || l3_hdr + l4_len > 65535)
		return -EINVAL;
	memset(frame, 0, total);
	memcpy(frame, dst_mac, 6);
	memcpy(frame + 6, src_mac, 6);
	put16(frame + 12, v4 ? ELB_ETHERTYPE_IPV4 : ELB_ETHERTYPE_IPV6);
	if (v4) {
		ip[0] = 0x45;
		put16(ip + 2, (uint16_t)(l3_hdr + l4_len));
		put16(ip + 6, df ? ELB_IPV4_DF : 0);
		ip[8] = 64;
		ip[9] = key->proto;
		memcpy(ip + 12, &key->src.v4, 4);
		memcpy(ip + 16, &key->dst.v4, 4);
		put16(ip + 10, elb_csum_ipv4_hdr((const struct elb_ipv4_hdr *)ip));
	} else {
		ip[0] = 0x60;
		put16(ip + 4, (uint16_t)l4_len);
		ip[6] = key->proto;
		ip[7] = 64;
		memcpy(ip + 8, key->src.v6, 16);
		memcpy(ip + 24, key->dst.v6, 16);
	}
	memcpy(l4, &key->sport, 2);
	memcpy(l4 + 2, &key->dport, 2);
	if (tcp) {
		l4[12] = 5 << 4;
		l4[13] = tcp_flags;
		put16(l4 + 14, 65535);
	} else {
		put16(l4 + 4, (uint16_t)l4_len);
	}
	/* Pseudo-header (addresses, protocol, L4 length), then the L4 header:
	 * the payload is zeros, which add nothing to the sum. */
	if (v4)
		sum = elb_csum_add16(elb_csum_add16(elb_csum_add_fixed(0, ip + 12, 8), key->proto),
				     (uint16_t)l4_len);
	else
		sum = elb_csum_ipv6_pseudo(&key->src, &key->dst, (uint32_t)l4_len, key->proto);
	/* Constant lengths: elb_csum_add_fixed's loop is unrolled. */
	sum = tcp ? elb_csum_add_fixed(sum, l4, sizeof(struct elb_tcp_hdr))
		  : elb_csum_add_fixed(sum, l4, sizeof(struct elb_udp_hdr));
	put16(l4 + (tcp ? 16 : 6), elb_csum_finish(sum));
	if (!tcp && l4[6] == 0 && l4[7] == 0)
		l4[6] = l4[7] = 0xff; /* UDP: 0 means "no checksum" */
	return (int)total;
}

/* ------------------------------------------------------------------------ */
/* The answer */

static const char *proto_name(uint8_t proto)
{
	switch (proto) {
	case ELB_IPPROTO_TCP:
		return "tcp";
	case ELB_IPPROTO_UDP:
		return "udp";
	case ELB_IPPROTO_ICMP:
		return "icmp";
	case ELB_IPPROTO_ICMPV6:
		return "icmpv6";
	default:
		return "other";
	}
}

static void tcp_flags_str(uint8_t flags, char out[8])
{
	static const struct {
		uint8_t bit;
		char letter;
	} names[] = {{ELB_TCP_SYN, 'S'}, {ELB_TCP_ACK, 'A'}, {ELB_TCP_FIN, 'F'},
		     {ELB_TCP_RST, 'R'}, {ELB_TCP_PSH, 'P'}};
	size_t n = 0;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (flags & names[i].bit)
			out[n++] = names[i].letter;
	out[n] = '\0';
}

static void add_addr(cJSON *o, const char *name, const union elb_addr *a, uint8_t family)
{
	char buf[ELB_ADDR_TEXT_MAX];

	cJSON_AddStringToObject(o, name, elb_addr_format(a, family, buf, sizeof(buf)));
}

static void vip_str(const struct elb_vip *vip, char *buf, size_t len)
{
	char a[ELB_ADDR_PORT_TEXT_MAX];

	elb_addr_port_format(&vip->addr, vip->family, ntohs(vip->port), a, sizeof(a));
	snprintf(buf, len, "%s/%s", a, proto_name(vip->proto));
}

static cJSON *packet_json(const struct elb_packet *pkt, int parsed, uint32_t len)
{
	cJSON *o = cJSON_CreateObject();
	char flags[8];

	if (o == NULL)
		return NULL;
	elb_dp_json_add_u64(o, "frame_length", len);
	if (parsed == ELB_PARSE_MALFORMED) {
		cJSON_AddStringToObject(o, "parse", "malformed");
		cJSON_AddStringToObject(o, "reason", elb_reason_name(pkt->reason));
		cJSON_AddStringToObject(o, "why", elb_reason_text(pkt->reason));
		return o;
	}
	if (parsed == ELB_PARSE_NOT_IP) {
		cJSON_AddStringToObject(o, "parse", "not_ip");
		return o;
	}
	cJSON_AddStringToObject(o, "parse", "ok");
	cJSON_AddStringToObject(o, "family", pkt->key.family == ELB_AF_INET ? "ipv4" : "ipv6");
	add_addr(o, "src", &pkt->key.src, pkt->key.family);
	add_addr(o, "dst", &pkt->key.dst, pkt->key.family);
	elb_dp_json_add_u64(o, "sport", ntohs(pkt->key.sport));
	elb_dp_json_add_u64(o, "dport", ntohs(pkt->key.dport));
	cJSON_AddStringToObject(o, "protocol", proto_name(pkt->key.proto));
	if (pkt->key.proto == ELB_IPPROTO_TCP && !(pkt->flags & ELB_PKT_FRAGMENT)) {
		tcp_flags_str(pkt->tcp_flags, flags);
		cJSON_AddStringToObject(o, "tcp_flags", flags);
	}
	elb_dp_json_add_u64(o, "ip_length", pkt->l3_len);
	cJSON_AddBoolToObject(o, "fragment", (pkt->flags & ELB_PKT_FRAGMENT) != 0);
	cJSON_AddBoolToObject(o, "dont_fragment", (pkt->flags & ELB_PKT_DF) != 0);
	/* The key of an ICMP error is the quoted packet's flow: it follows that flow. */
	cJSON_AddBoolToObject(o, "icmp_error", (pkt->flags & ELB_PKT_ICMP_ERROR) != 0);
	return o;
}

static bool slot_valid_for(const struct elb_snapshot *snap, uint32_t slot, uint32_t gen,
			   uint16_t vip_index)
{
	const struct elb_backend_slot *b;

	if (slot >= snap->n_backend_slots)
		return false;
	b = &snap->backends[slot];
	return b->gen == gen && b->vip_index == vip_index && b->state != ELB_BACKEND_EMPTY;
}

static const char *backend_state_name(uint8_t state)
{
	return state == ELB_BACKEND_ACTIVE ? "active"
	       : state == ELB_BACKEND_DRAINING ? "draining"
					       : "empty";
}

static cJSON *backend_json(const struct elb_snapshot *snap, uint32_t slot)
{
	const struct elb_backend_slot *b = &snap->backends[slot];
	cJSON *o = cJSON_CreateObject();

	if (o == NULL)
		return NULL;
	add_addr(o, "address", &b->addr, b->family);
	elb_dp_json_add_u64(o, "slot", slot);
	elb_dp_json_add_u64(o, "weight", b->weight);
	cJSON_AddStringToObject(o, "state", backend_state_name(b->state));
	return o;
}

/* Packets and bytes the bucket lets through at once at now_ns. */
static void bucket_json(cJSON *o, const struct elb_token_bucket *b, const struct elb_rate_limit *rl,
			uint64_t now_ns)
{
	uint64_t now = now_ns << ELB_RATE_FRAC_BITS;

	if (rl->pkt_interval) {
		uint64_t backlog = b->pkt_tat > now ? b->pkt_tat - now : 0;

		elb_dp_json_add_u64(o, "packets_per_s", (uint64_t)(64e9 / (double)rl->pkt_interval + 0.5));
		elb_dp_json_add_u64(o, "packets_available",
			backlog > rl->pkt_tolerance ? 0
						    : (rl->pkt_tolerance - backlog) / rl->pkt_interval);
	}
	if (rl->byte_interval) {
		uint64_t backlog = b->byte_tat > now ? b->byte_tat - now : 0;
		uint64_t left = backlog > rl->byte_tolerance ? 0 : rl->byte_tolerance - backlog;

		elb_dp_json_add_u64(o, "bytes_per_s",
			(uint64_t)(64e9 * (double)(1u << ELB_RATE_BYTE_FRAC_BITS) /
					   (double)rl->byte_interval +
				   0.5));
		elb_dp_json_add_u64(o, "bytes_available",
			(uint64_t)(((unsigned __int128)left << ELB_RATE_BYTE_FRAC_BITS) /
				   rl->byte_interval));
	}
}

static const char *mtu_name(enum elb_mtu_verdict v)
{
	return v == ELB_MTU_FITS ? "fits" : v == ELB_MTU_TOO_BIG_REPLY ? "too_big_reply"
								       : "too_big_no_reply";
}

static cJSON *hex_json(const uint8_t *p, uint32_t n)
{
	static const char digits[] = "0123456789abcdef";
	char *s = malloc((size_t)n * 2 + 1);
	cJSON *o;

	if (s == NULL)
		return NULL;
	for (uint32_t i = 0; i < n; i++) {
		s[2 * i] = digits[p[i] >> 4];
		s[2 * i + 1] = digits[p[i] & 15];
	}
	s[2 * n] = '\0';
	o = cJSON_CreateString(s);
	free(s);
	return o;
}

/*
 * Where the flow's entry sends it: "hit" (the entry's backend), or why the
 * packet gets a Maglev pick instead, as decide() in elb_pipeline.c has it.
 */
static const char *flow_decision(const struct elb_snapshot *snap, const struct elb_packet *pkt,
				 uint16_t vip_index, const struct elb_explain_flow *f)
{
	bool syn_only = (pkt->tcp_flags & (ELB_TCP_SYN | ELB_TCP_ACK)) == ELB_TCP_SYN;

	if (!f->found)
		return (pkt->flags & ELB_PKT_ICMP_ERROR) ? "miss_icmp_error_follows_maglev" : "miss";
	if (!slot_valid_for(snap, f->backend_slot, f->backend_gen, vip_index))
		return "backend_gone_repick";
	if (syn_only && f->state == ELB_FLOW_TCP_CLOSING)
		return "syn_reopens_closing_flow_repick";
	return "hit";
}

/* A backend slot's address, or null when there is none. */
static void add_slot_addr(cJSON *o, const char *name, const struct elb_snapshot *snap,
			  uint32_t slot)
{
	if (slot < snap->n_backend_slots && snap->backends[slot].gen != 0)
		add_addr(o, name, &snap->backends[slot].addr, snap->backends[slot].family);
	else
		cJSON_AddNullToObject(o, name);
}

/*
 * Is the packet's backend not sure (second chance), as decide() in
 * elb_pipeline.c has it: a hit on an entry learned mid-stream, or a miss
 * (or re-pick) on anything but a TCP SYN, which learns the entry
 * mid-stream; an ICMP error follows its flow and learns nothing.
 * *midstream: the entry is (or becomes) ELB_FLOW_F_MIDSTREAM.
 */
static bool backend_unsure(const struct elb_packet *pkt, const struct elb_explain_flow *f,
			   bool hit, bool *midstream)
{
	bool icmp_error = (pkt->flags & ELB_PKT_ICMP_ERROR) != 0;

	if (hit)
		*midstream = (f->flags & ELB_FLOW_F_MIDSTREAM) != 0;
	else
		*midstream = !icmp_error && elb_flow_learned_midstream(pkt);
	return *midstream && !icmp_error;
}

/* The alternate the packet should carry toward `chosen`, or ELB_MAGLEV_EMPTY:
 * the slot's previous owner, if elb_second_chance_alternate_ok says so. */
static uint32_t expected_alternate(const struct elb_snapshot *snap, const struct elb_vip *vip,
				   const struct elb_packet *pkt, uint32_t previous, uint32_t chosen)
{
	const struct elb_backend_slot *p;

	if (previous >= snap->n_backend_slots || chosen >= snap->n_backend_slots)
		return ELB_MAGLEV_EMPTY;
	p = &snap->backends[previous];
	return elb_second_chance_alternate_ok(vip->second_chance, pkt->key.proto, vip->index,
					      chosen, snap->backends[chosen].family, previous,
					      p->gen, p->vip_index, p->family)
		       ? previous
		       : ELB_MAGLEV_EMPTY;
}

/*
 * Second chance: "midstream" (the entry is, or becomes, one learned
 * mid-connection) and "alternate" (the address the packet carries, or
 * null), as the run did. *alternate: the slot the shared rule gives toward
 * `chosen` (ELB_MAGLEV_EMPTY: none). @return whether the run agrees with
 * the rule.
 */
static bool second_chance_json(cJSON *out, const struct elb_snapshot *snap,
			       const struct elb_vip *vip, const struct elb_packet *pkt,
			       const struct elb_explain_flow *f, bool hit, uint32_t previous,
			       uint32_t chosen, const struct elb_pipeline_result *res,
			       uint32_t *alternate)
{
	bool midstream, unsure = backend_unsure(pkt, f, hit, &midstream);

	cJSON_AddBoolToObject(out, "midstream", res->midstream != 0);
	if (res->has_alternate)
		add_slot_addr(out, "alternate", snap, res->alternate_slot);
	else
		cJSON_AddNullToObject(out, "alternate");
	*alternate = unsure ? expected_alternate(snap, vip, pkt, previous, chosen) : ELB_MAGLEV_EMPTY;
	if ((res->midstream != 0) != midstream)
		return false;
	/* The alternate is attached where the encapsulation is decided: a
	 * forward or a too-big reply. */
	if (res->verdict != ELB_VERDICT_FORWARD && res->verdict != ELB_VERDICT_REPLY)
		return true;
	return res->has_alternate ? res->alternate_slot == *alternate
				  : *alternate == ELB_MAGLEV_EMPTY;
}

/* A rate and what it lets through at once, from a GCRA timestamp. */
static void rate_json(cJSON *o, const char *rate_name, const char *available_name,
		      uint64_t interval, uint64_t tolerance, uint64_t tat, uint64_t now_ns)
{
	uint64_t now = now_ns << ELB_RATE_FRAC_BITS;
	uint64_t backlog = tat > now ? tat - now : 0;

	elb_dp_json_add_u64(o, rate_name, (uint64_t)(64e9 / (double)interval + 0.5));
	elb_dp_json_add_u64(o, available_name,
			    backlog > tolerance ? 0 : (tolerance - backlog) / interval);
}

/* QUIC routing (elb_quic_route.h), recomputed: a pure function of the
 * packet and the snapshot. *slot: the backend the CID names, or
 * ELB_QUIC_NO_SLOT. @return 0 or -ENOMEM. */
static int quic_json(cJSON *out, const struct elb_snapshot *snap, const struct elb_vip *vip,
		     const uint8_t *frame, uint32_t len, const struct elb_packet *pkt,
		     uint32_t *slot, uint8_t *outcome)
{
	static const char digits[] = "0123456789abcdef";
	cJSON *o = cJSON_AddObjectToObject(out, "quic");
	struct elb_quic_route r;
	char hex[2 * ELB_QUIC_CID_MAX + 1];

	if (o == NULL)
		return -ENOMEM;
	*slot = elb_quic_route_packet(vip->quic, frame, len, pkt, &r);
	*outcome = r.outcome;
	cJSON_AddStringToObject(o, "packet", elb_quic_packet_name((enum elb_quic_packet)r.packet));
	if (r.cid_len) {
		for (uint32_t i = 0; i < r.cid_len; i++) {
			hex[2 * i] = digits[r.cid[i] >> 4];
			hex[2 * i + 1] = digits[r.cid[i] & 15];
		}
		hex[2 * r.cid_len] = '\0';
		cJSON_AddStringToObject(o, "dcid", hex);
		elb_dp_json_add_u64(o, "config_id", r.config_id);
	}
	if (r.outcome == ELB_QUIC_BY_CID || r.outcome == ELB_QUIC_UNKNOWN_SERVER) {
		for (uint32_t i = 0; i < vip->quic->server_id_len; i++) {
			hex[2 * i] = digits[r.sid[i] >> 4];
			hex[2 * i + 1] = digits[r.sid[i] & 15];
		}
		hex[2 * vip->quic->server_id_len] = '\0';
		cJSON_AddStringToObject(o, "server_id", hex);
	}
	cJSON_AddStringToObject(o, "outcome", elb_quic_outcome_name((enum elb_quic_outcome)r.outcome));
	cJSON_AddStringToObject(o, "route", *slot != ELB_QUIC_NO_SLOT ? "server_id" : "5-tuple");
	if (*slot != ELB_QUIC_NO_SLOT)
		add_addr(o, "backend", &snap->backends[*slot].addr, snap->backends[*slot].family);
	return 0;
}

/*
 * Admission control (elb_admission.h), recomputed from the state the run
 * started from: each source limit (its key's estimate: tokens left) and the
 * VIP's new-flow budget. *why: the drop reason a source limit gives, else
 * ELB_REASON_NONE; *stateless: flood mode forwards this packet with no
 * entry. hit: the packet's entry is used as it is; picked: Maglev has a
 * backend for it (the budget is asked only then).
 */
static int admission_json(cJSON *out, const struct elb_vip *vip, const struct elb_packet *pkt,
			  const struct elb_explain_run *run, bool hit, bool picked,
			  enum elb_reason *why, bool *stateless)
{
	bool icmp_error = (pkt->flags & ELB_PKT_ICMP_ERROR) != 0, new_flow = !hit && !icmp_error;
	const struct elb_explain_flow *f = &run->flow;
	cJSON *o = cJSON_AddObjectToObject(out, "admission"), *sources;

	*why = ELB_REASON_NONE;
	*stateless = false;
	if (o == NULL || (sources = cJSON_AddArrayToObject(o, "sources")) == NULL)
		return -ENOMEM;
	for (uint32_t l = 0; l < vip->n_source_limits; l++) {
		const struct elb_source_limit *lim = &vip->source_limits[l];
		struct elb_source_cell estimate = run->admission.sources[l];
		struct elb_source_cell *cells[ELB_SOURCE_ROWS];
		struct elb_source_check check;
		enum elb_source_verdict v;
		cJSON *so = cJSON_CreateObject();

		if (so == NULL || !cJSON_AddItemToArray(sources, so)) {
			cJSON_Delete(so);
			return -ENOMEM;
		}
		/* The estimate is the smallest cell: a sketch of it alone decides alike. */
		for (uint32_t r = 0; r < ELB_SOURCE_ROWS; r++)
			cells[r] = &estimate;
		v = elb_source_conforms(cells, lim, run->now_ns, new_flow, &check);
		elb_dp_json_add_u64(so, "prefix_len", lim->prefix_len);
		if (lim->pkt_interval)
			rate_json(so, "packets_per_s", "packets_available", lim->pkt_interval,
				  lim->pkt_tolerance, estimate.pkt_tat, run->now_ns);
		if (lim->flow_interval)
			rate_json(so, "new_flows_per_s", "new_flows_available", lim->flow_interval,
				  lim->flow_tolerance, estimate.flow_tat, run->now_ns);
		cJSON_AddBoolToObject(so, "limited", v != ELB_SOURCE_CONFORMS);
		if (*why == ELB_REASON_NONE && v != ELB_SOURCE_CONFORMS)
			*why = v == ELB_SOURCE_OVER_PACKETS ? ELB_REASON_SOURCE_RATE_LIMITED
							    : ELB_REASON_SOURCE_NEW_FLOWS_LIMITED;
	}
	if (vip->flow_budget.interval) {
		struct elb_flow_budget_state state = run->admission.budget;
		cJSON *bo = cJSON_AddObjectToObject(o, "new_flow_budget");

		if (bo == NULL)
			return -ENOMEM;
		if (state.gen != vip->gen)
			memset(&state, 0, sizeof(state));
		rate_json(bo, "new_flows_per_s", "new_flows_available", vip->flow_budget.interval,
			  vip->flow_budget.tolerance, state.tat, run->now_ns);
		cJSON_AddBoolToObject(bo, "flood_mode", state.flooding != 0);
		/* As decide(): a flow's first packet with no entry at all, not
		 * mid-stream, once source limits and Maglev let it through. */
		if (*why == ELB_REASON_NONE && picked && !icmp_error && !f->found &&
		    !elb_flow_learned_midstream(pkt))
			*stateless = elb_flow_budget_admit(&state, &vip->flow_budget, run->now_ns) ==
				     ELB_FLOW_STATELESS;
	}
	cJSON_AddStringToObject(o, "decided",
				*why != ELB_REASON_NONE ? elb_reason_name(*why)
				: *stateless		? "flood_mode_no_entry"
							: "admitted");
	return 0;
}

/*
 * "prefix": the rule that decides for the packet's client, by the reference
 * decision over the lists in force (null when none holds it). @return
 * whether the run agrees: a deny rule drops with source_denied, and only a
 * deny rule does. *denied: a deny rule decided (nothing after it runs).
 */
static int prefix_json(cJSON *out, const struct elb_prefix_set *set, const struct elb_vip *vip,
		       const struct elb_packet *pkt, const struct elb_pipeline_result *res,
		       bool *consistent, bool *denied)
{
	struct elb_dp_vip_key key = {.addr = vip->addr, .family = vip->family, .proto = vip->proto,
				     .port = elb_ntohs(vip->port)};
	const struct elb_prefix_list *own = set ? elb_prefix_set_vip_list(set, &key) : NULL;
	const struct elb_prefix_rule *rule = NULL;
	enum elb_prefix_scope scope = ELB_PREFIX_SCOPE_NODE;
	enum elb_prefix_action action = ELB_PREFIX_NO_MATCH;
	bool dropped_denied = res->verdict == ELB_VERDICT_DROP &&
			      res->reason == ELB_REASON_SOURCE_DENIED;
	char text[ELB_PREFIX_TEXT_MAX];
	cJSON *o;

	if (set)
		action = elb_prefix_list_decide(own ? own->rules : NULL, own ? own->n : 0,
						set->node.rules, set->node.n, pkt->key.family,
						&pkt->key.src, &scope, &rule);
	*denied = action == ELB_PREFIX_DENY;
	*consistent = *consistent && dropped_denied == *denied;
	if (action == ELB_PREFIX_NO_MATCH)
		return cJSON_AddNullToObject(out, "prefix") ? 0 : -ENOMEM;
	o = cJSON_AddObjectToObject(out, "prefix");
	if (o == NULL)
		return -ENOMEM;
	cJSON_AddStringToObject(o, "scope", scope == ELB_PREFIX_SCOPE_VIP ? "vip" : "node");
	cJSON_AddStringToObject(o, "rule", elb_prefix_format(rule, text));
	cJSON_AddStringToObject(o, "action", action == ELB_PREFIX_DENY ? "deny" : "allow");
	return 0;
}

int elb_explain_render(cJSON *out, const struct elb_snapshot *snap,
		       const struct elb_prefix_set *prefixes, const uint8_t *frame, uint32_t len,
		       const struct elb_explain_run *run, bool with_output)
{
	const struct elb_pipeline_result *res = &run->result;
	const struct elb_explain_flow *f = &run->flow;
	struct elb_packet pkt;
	const struct elb_vip *vip;
	char text[INET6_ADDRSTRLEN + 32];
	bool address_known, consistent = true;
	uint32_t maglev_slot, pick, previous, expected, chosen, alternate;
	uint32_t quic_slot = ELB_QUIC_NO_SLOT;
	const char *decision;
	uint64_t hash;
	cJSON *o;
	int parsed;

	parsed = elb_parse(frame, frame + len, &pkt);
	o = packet_json(&pkt, parsed, len);
	if (o == NULL || !cJSON_AddItemToObject(out, "packet", o))
		goto nomem;
	elb_dp_json_add_u64(out, "epoch", snap->epoch);
	elb_dp_json_add_u64(out, "now_ns", run->now_ns);
	cJSON_AddStringToObject(out, "verdict", elb_verdict_names[res->verdict % ELB_VERDICT_COUNT]);
	if (res->verdict == ELB_VERDICT_DROP || res->verdict == ELB_VERDICT_REPLY)
		cJSON_AddStringToObject(out, "reason", elb_reason_name(res->reason));
	if (parsed != ELB_PARSE_IP) {
		consistent = parsed == ELB_PARSE_NOT_IP ? res->verdict == ELB_VERDICT_KERNEL
							: res->verdict == ELB_VERDICT_DROP &&
								  res->reason == pkt.reason;
		goto done;
	}

	o = cJSON_AddObjectToObject(out, "vip");
	if (o == NULL)
		goto nomem;
	{
		uint16_t v = elb_vip_find(snap, &pkt.key, &address_known);

		cJSON_AddBoolToObject(o, "matched", v != ELB_NO_VIP);
		if (v == ELB_NO_VIP) {
			cJSON_AddStringToObject(
				o, "why_not",
				!address_known ? "no VIP has this address: the kernel's"
				: (pkt.flags & ELB_PKT_FRAGMENT)
					? "a fragment carries no port: only an all-ports VIP takes it"
					: "this address is a VIP, but not for this protocol and port");
			consistent = address_known && (pkt.flags & ELB_PKT_FRAGMENT)
					     ? res->verdict == ELB_VERDICT_DROP
					     : res->verdict == ELB_VERDICT_KERNEL;
			goto done;
		}
		vip = &snap->vips[v];
		vip_str(vip, text, sizeof(text));
		cJSON_AddStringToObject(o, "vip", text);
		elb_dp_json_add_u64(o, "index", v);
		cJSON_AddBoolToObject(o, "second_chance", snap->vips[v].second_chance != 0);
		consistent = res->vip_index == v;
	}
	{
		bool denied;

		if (prefix_json(out, prefixes, vip, &pkt, res, &consistent, &denied))
			goto nomem;
		/* Before the flow table: nothing after it ran. */
		if (denied)
			goto done;
	}

	hash = elb_flow_hash(&pkt.key, &snap->seed);
	snprintf(text, sizeof(text), "0x%016llx", (unsigned long long)hash);
	cJSON_AddStringToObject(out, "flow_hash", text);

	o = cJSON_AddObjectToObject(out, "maglev");
	if (o == NULL)
		goto nomem;
	maglev_slot = elb_maglev_slot(hash, vip->maglev_size);
	pick = vip->maglev[maglev_slot];
	previous = vip->maglev_previous != NULL ? vip->maglev_previous[maglev_slot]
						: ELB_MAGLEV_EMPTY;
	elb_dp_json_add_u64(o, "table_size", vip->maglev_size);
	elb_dp_json_add_u64(o, "slot", maglev_slot);
	if (pick == ELB_MAGLEV_EMPTY)
		cJSON_AddNullToObject(o, "backend");
	else
		add_addr(o, "backend", &snap->backends[pick].addr, snap->backends[pick].family);
	/* The slot's owner before the last change that moved it: the
	 * candidate alternate. */
	add_slot_addr(o, "previous", snap, previous);

	o = cJSON_AddObjectToObject(out, "flow");
	if (o == NULL)
		goto nomem;
	decision = flow_decision(snap, &pkt, vip->index, f);
	cJSON_AddBoolToObject(o, "found", f->found);
	cJSON_AddStringToObject(o, "decision", decision);
	if (f->found) {
		elb_dp_json_add_u64(o, run->where_name ? run->where_name : "where", f->where);
		elb_dp_json_add_u64(o, "holders", f->holders);
		cJSON_AddStringToObject(o, "state",
					elb_flow_state_name((enum elb_flow_state)f->state));
		cJSON_AddNumberToObject(o, "expires_in_ms", (double)f->expires_in_ms);
		if (f->backend_slot < snap->n_backend_slots)
			add_addr(o, "backend", &snap->backends[f->backend_slot].addr,
				 snap->backends[f->backend_slot].family);
		elb_dp_json_add_u64(o, "backend_slot", f->backend_slot);
		cJSON_AddBoolToObject(o, "was_rate_limited", (f->flags & ELB_FLOW_F_RATE_LIMITED) != 0);
		cJSON_AddBoolToObject(o, "midstream", (f->flags & ELB_FLOW_F_MIDSTREAM) != 0);
	}
	expected = strcmp(decision, "hit") == 0 ? f->backend_slot : pick;
	if (vip->quic != NULL && pkt.key.proto == ELB_IPPROTO_UDP &&
	    !(pkt.flags & ELB_PKT_ICMP_ERROR)) {
		uint8_t outcome;

		if (quic_json(out, snap, vip, frame, len, &pkt, &quic_slot, &outcome))
			goto nomem;
		consistent = consistent && res->quic == outcome + 1;
		if (quic_slot != ELB_QUIC_NO_SLOT)
			expected = quic_slot;
	}

	if (vip->n_source_limits || vip->flow_budget.interval) {
		enum elb_reason why;
		bool stateless;

		if (admission_json(out, vip, &pkt, run, strcmp(decision, "hit") == 0,
				   expected != ELB_MAGLEV_EMPTY, &why, &stateless))
			goto nomem;
		/* A source limit drops before the backend is chosen. */
		if (why != ELB_REASON_NONE) {
			consistent = consistent && res->verdict == ELB_VERDICT_DROP && res->reason == why;
			goto done;
		}
		consistent = consistent && (res->stateless != 0) == stateless;
	}

	if (vip->rate_limited) {
		struct elb_token_bucket fresh = {0};

		o = cJSON_AddObjectToObject(out, "rate_limit");
		if (o == NULL)
			goto nomem;
		/* A re-picked entry keeps its bucket; a new one starts full. */
		bucket_json(o, f->found ? &f->bucket : &fresh, &vip->rate_limit, run->now_ns);
		cJSON_AddBoolToObject(o, "this_packet_limited",
				      res->verdict == ELB_VERDICT_DROP &&
					      res->reason == ELB_REASON_RATE_LIMITED);
	}

	if (expected == ELB_MAGLEV_EMPTY) {
		consistent = consistent && res->verdict == ELB_VERDICT_DROP &&
			     res->reason == ELB_REASON_NO_BACKEND;
		goto done;
	}
	/* The backend the real run chose, once it chose one (every outcome after
	 * the pick: forward, too-big reply, rate limit, no headroom). */
	chosen = res->verdict == ELB_VERDICT_FORWARD || res->verdict == ELB_VERDICT_REPLY ||
				 (res->verdict == ELB_VERDICT_DROP &&
				  res->reason != ELB_REASON_NO_BACKEND)
			 ? res->backend_slot
			 : expected;
	consistent = consistent && chosen == expected;
	if (chosen >= snap->n_backend_slots) {
		consistent = false;
		goto done;
	}
	o = backend_json(snap, chosen);
	if (o == NULL || !cJSON_AddItemToObject(out, "backend", o))
		goto nomem;
	cJSON_AddBoolToObject(out, "new_flow", res->new_flow != 0);
	if (quic_slot != ELB_QUIC_NO_SLOT) {
		/* The server ID is sure: no alternate. */
		alternate = ELB_MAGLEV_EMPTY;
		cJSON_AddNullToObject(out, "alternate");
		consistent = consistent && !res->has_alternate;
	} else if (!second_chance_json(out, snap, vip, &pkt, f, strcmp(decision, "hit") == 0,
				       previous, chosen, res, &alternate)) {
		consistent = false;
	}

	{
		const struct elb_backend_slot *b = &snap->backends[chosen];
		struct elb_encap_params encap = {
			.outer_family = b->family,
			.outer_src = b->family == ELB_AF_INET ? snap->source_v4 : snap->source_v6,
			.outer_dst = b->addr,
			.gue = vip->gue,
			.gue_dport = vip->gue_dport,
			.mtu = vip->mtu,
			.has_alternate = alternate != ELB_MAGLEV_EMPTY,
		};
		enum elb_mtu_verdict mtu;
		uint32_t overhead;

		if (encap.has_alternate)
			encap.alternate = snap->backends[alternate].addr;
		mtu = elb_encap_mtu_check(&pkt, &encap);
		overhead = elb_encap_params_overhead(&encap);

		o = cJSON_AddObjectToObject(out, "encap");
		if (o == NULL)
			goto nomem;
		cJSON_AddStringToObject(o, "type", vip->gue ? "gue"
						   : b->family == ELB_AF_INET ? "ipip"
									       : "ip6ip6");
		add_addr(o, "outer_src", &encap.outer_src, b->family);
		add_addr(o, "outer_dst", &encap.outer_dst, b->family);
		if (vip->gue) {
			elb_dp_json_add_u64(o, "gue_dport", ntohs(vip->gue_dport));
			/* Variant 0 carries the alternate in private data. */
			elb_dp_json_add_u64(o, "gue_variant",
					    elb_encap_carries_alternate(&encap) ? 0 : 1);
		}
		elb_dp_json_add_u64(o, "overhead", overhead);
		o = cJSON_AddObjectToObject(out, "mtu");
		if (o == NULL)
			goto nomem;
		elb_dp_json_add_u64(o, "mtu", vip->mtu);
		elb_dp_json_add_u64(o, "outer_length", pkt.l3_len + overhead);
		cJSON_AddStringToObject(o, "verdict", mtu_name(mtu));
		if (res->verdict == ELB_VERDICT_FORWARD)
			consistent = consistent && mtu == ELB_MTU_FITS;
		else if (res->verdict == ELB_VERDICT_REPLY)
			consistent = consistent && mtu == ELB_MTU_TOO_BIG_REPLY;
	}

done:
	if (with_output && (res->verdict == ELB_VERDICT_FORWARD || res->verdict == ELB_VERDICT_REPLY)) {
		o = hex_json(run->out, res->out_len);
		if (o == NULL || !cJSON_AddItemToObject(out, "output", o))
			goto nomem;
	}
	if (res->verdict == ELB_VERDICT_FORWARD || res->verdict == ELB_VERDICT_REPLY)
		elb_dp_json_add_u64(out, "output_length", res->out_len);
	cJSON_AddBoolToObject(out, "consistent", consistent);
	return 0;
nomem:
	return -ENOMEM;
}
