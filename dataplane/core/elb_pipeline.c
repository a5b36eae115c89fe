/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Per-packet decision; see elb_pipeline.h. Hot path: no allocation, no
 * locks, no system calls, no logging. Everything that happens is counted.
 */
#include <errno.h>
#include <string.h>

#include "elb_encap.h"
#include "elb_flow_hash_x4.h"
#include "elb_maglev.h"
#include "elb_pipeline.h"
#include "elb_prefix_table.h"
#include "elb_second_chance.h"

/*
 * VIP lookup hash. Not keyed: the VIP table is small, built by the operator,
 * kept at most a quarter full, and probing stops at the first free entry, so
 * a sender can make a miss cost a few probes at most.
 */
static inline uint32_t vip_lookup_hash(const union elb_addr *addr, uint16_t port, uint8_t proto)
{
	uint64_t h = addr->d[0] ^ (addr->d[1] * 0x9e3779b97f4a7c15ull);

	h ^= ((uint64_t)port << 8 | proto) * 0xc2b2ae3d27d4eb4full;
	h *= 0x9e3779b97f4a7c15ull;
	return (uint32_t)(h >> 40);
}

static inline bool vip_lookup_match(const struct elb_vip_lookup_entry *e,
				    const union elb_addr *addr, uint16_t port, uint8_t proto,
				    uint8_t family)
{
	return e->port == port && e->proto == proto && e->family == family &&
	       e->addr.d[0] == addr->d[0] && e->addr.d[1] == addr->d[1];
}

static inline uint16_t vip_lookup(const struct elb_snapshot *snap, const union elb_addr *addr,
				  uint16_t port, uint8_t proto, uint8_t family)
{
	uint32_t i = vip_lookup_hash(addr, port, proto) & (ELB_VIP_LOOKUP_SIZE - 1);

	for (uint32_t probes = 0; probes < ELB_VIP_LOOKUP_SIZE; probes++) {
		const struct elb_vip_lookup_entry *e = &snap->vip_lookup[i];

		if (e->vip_index == ELB_NO_VIP)
			return ELB_NO_VIP;
		if (vip_lookup_match(e, addr, port, proto, family))
			return e->vip_index;
		i = (i + 1) & (ELB_VIP_LOOKUP_SIZE - 1);
	}
	return ELB_NO_VIP;
}

/* elb_vip_find, inlined into the packet path. */
static inline uint16_t vip_find(const struct elb_snapshot *snap, const struct elb_flow_key *key,
				bool *address_known)
{
	uint16_t v;

	*address_known = false;
	if (key->sport != 0 || key->dport != 0 || key->proto == ELB_IPPROTO_TCP ||
	    key->proto == ELB_IPPROTO_UDP) {
		v = vip_lookup(snap, &key->dst, key->dport, key->proto, key->family);
		if (v != ELB_NO_VIP)
			goto found;
		v = vip_lookup(snap, &key->dst, 0, key->proto, key->family);
		if (v != ELB_NO_VIP)
			goto found;
	}
	/* The address marker (port 0, protocol 0) says "some VIP lives here". */
	*address_known = vip_lookup(snap, &key->dst, 0, 0, key->family) != ELB_NO_VIP;
	return ELB_NO_VIP;
found:
	*address_known = true;
	return v;
}

uint16_t elb_vip_find(const struct elb_snapshot *snap, const struct elb_flow_key *key,
		      bool *address_known)
{
	return vip_find(snap, key, address_known);
}

void elb_vip_lookup_clear(struct elb_snapshot *snap)
{
	for (uint32_t i = 0; i < ELB_VIP_LOOKUP_SIZE; i++) {
		memset(&snap->vip_lookup[i], 0, sizeof(snap->vip_lookup[i]));
		snap->vip_lookup[i].vip_index = ELB_NO_VIP;
	}
}

static int vip_lookup_put(struct elb_snapshot *snap, const union elb_addr *addr, uint16_t port,
			  uint8_t proto, uint8_t family, uint16_t vip_index)
{
	uint32_t i = vip_lookup_hash(addr, port, proto) & (ELB_VIP_LOOKUP_SIZE - 1);

	for (uint32_t probes = 0; probes < ELB_VIP_LOOKUP_SIZE; probes++) {
		struct elb_vip_lookup_entry *e = &snap->vip_lookup[i];

		if (e->vip_index == ELB_NO_VIP) {
			e->addr = *addr;
			e->port = port;
			e->proto = proto;
			e->family = family;
			e->vip_index = vip_index;
			return 0;
		}
		if (vip_lookup_match(e, addr, port, proto, family))
			return port == 0 && proto == 0 ? 0 : -EEXIST;
		i = (i + 1) & (ELB_VIP_LOOKUP_SIZE - 1);
	}
	return -ENOSPC;
}

int elb_vip_lookup_insert(struct elb_snapshot *snap, const struct elb_vip *vip)
{
	int rc = vip_lookup_put(snap, &vip->addr, vip->port, vip->proto, vip->family, vip->index);

	if (rc)
		return rc;
	return vip_lookup_put(snap, &vip->addr, 0, 0, vip->family, vip->index);
}

static inline void count_drop(struct elb_worker *w, struct elb_vip_counters *vc,
			      struct elb_pipeline_result *res, enum elb_reason reason, uint32_t len)
{
	res->verdict = ELB_VERDICT_DROP;
	res->reason = (uint8_t)reason;
	w->counters.drops[reason]++;
	w->counters.verdicts[ELB_VERDICT_DROP].packets++;
	w->counters.verdicts[ELB_VERDICT_DROP].bytes += len;
	if (vc)
		vc->drops[reason]++;
}

/* A SYN on a closing flow is a new connection reusing the 5-tuple: it gets
 * a fresh Maglev pick instead of its predecessor's backend. */
static inline bool syn_reopens_flow(uint8_t state, uint8_t tcp_flags)
{
	return (tcp_flags & (ELB_TCP_SYN | ELB_TCP_ACK)) == ELB_TCP_SYN &&
	       state == ELB_FLOW_TCP_CLOSING;
}

/* The worker's counters of this VIP / backend slot, zeroed on first use
 * under a new generation (see struct elb_vip_counters). */
static inline struct elb_vip_counters *vip_counters(struct elb_worker *w, const struct elb_vip *vip)
{
	struct elb_vip_counters *vc = &w->vip_counters[vip->index];

	if (ELB_UNLIKELY(vc->gen != vip->gen)) {
		memset(vc, 0, sizeof(*vc));
		vc->gen = vip->gen;
	}
	return vc;
}

static inline struct elb_backend_counters *backend_counters(struct elb_worker *w,
							     const struct elb_snapshot *snap,
							     uint32_t slot)
{
	struct elb_backend_counters *bc = &w->backend_counters[slot];

	if (ELB_UNLIKELY(bc->gen != snap->backends[slot].gen)) {
		memset(bc, 0, sizeof(*bc));
		bc->gen = snap->backends[slot].gen;
	}
	return bc;
}

static inline bool backend_still_valid(const struct elb_snapshot *snap,
				       const struct elb_flow_entry *entry, uint16_t vip_index)
{
	const struct elb_backend_slot *b;

	if (entry->backend_id >= snap->n_backend_slots)
		return false;
	b = &snap->backends[entry->backend_id];
	return b->gen == entry->backend_gen && b->vip_index == vip_index &&
	       b->state != ELB_BACKEND_EMPTY;
}

/*
 * The per-source limits of a VIP that has some, on the cells
 * find_source_cells found: every prefix length is checked first, then all
 * are charged (a refused packet takes from none). ELB_REASON_NONE when the
 * packet conforms. Not inlined: VIPs without limits then pay one test, not
 * the registers its body takes in decide().
 */
/* What the first stage learned of one packet. */
struct elb_classified {
	struct elb_packet pkt;
	uint64_t hash; /* flow hash, for packets to a VIP */
	bool done;     /* verdict already final (malformed, not for a VIP) */
	/* For a VIP with source limits: each limit's cells in the worker's
	 * sketch, found (and prefetched) with the flow hash. */
	uint32_t source_cells[ELB_SOURCE_LIMITS_MAX][ELB_SOURCE_ROWS];
};

#define SOURCE_CELLS_NOT_FOUND UINT32_MAX

/* Limit l's cells of a packet in the worker's sketch, written to
 * c->source_cells[l]. */
static inline void find_limit_cells(const struct elb_worker *w, const struct elb_snapshot *snap,
				    const struct elb_vip *vip, uint32_t l, struct elb_classified *c)
{
	uint32_t bits = w->source_column_bits;
	struct elb_source_key key;

	elb_source_key_of(&c->pkt.key.src, &vip->source_limits[l], vip->index, &key);
	ELB_UNROLL
	for (uint32_t r = 0; r < ELB_SOURCE_ROWS; r++)
		c->source_cells[l][r] = elb_source_cell_index(&snap->source_keys, &key, r, bits);
}

/* A packet's cells for each source limit of its VIP that it will likely be
 * charged: packets/s limits always, new-flow-only limits for a packet that
 * may start a flow (the rest are found in decide() if it does). Prefetched
 * when `prefetch` (a burst's first stage: they arrive while it goes on). */
static inline void find_source_cells(const struct elb_worker *w, const struct elb_snapshot *snap,
				     const struct elb_vip *vip, struct elb_classified *c,
				     bool prefetch)
{
	bool may_start = c->pkt.key.proto != ELB_IPPROTO_TCP ||
			 (c->pkt.tcp_flags & (ELB_TCP_SYN | ELB_TCP_ACK)) == ELB_TCP_SYN;

	for (uint32_t l = 0; l < vip->n_source_limits; l++) {
		if (!vip->source_limits[l].pkt_interval && !may_start) {
			c->source_cells[l][0] = SOURCE_CELLS_NOT_FOUND;
			continue;
		}
		find_limit_cells(w, snap, vip, l, c);
		if (prefetch) {
			ELB_UNROLL
			for (uint32_t r = 0; r < ELB_SOURCE_ROWS; r++)
				__builtin_prefetch(&w->source_cells[c->source_cells[l][r]], 1);
		}
	}
}

/*
 * The per-source limits of a VIP that has some, on the cells
 * find_source_cells found: every prefix length is checked first, then all
 * are charged (a refused packet takes from none). ELB_REASON_NONE when the
 * packet conforms. Not inlined: VIPs without limits then pay one test, not
 * the registers its body takes in decide().
 */
static __attribute__((noinline)) enum elb_reason
source_admit(struct elb_worker *w, const struct elb_snapshot *snap, const struct elb_vip *vip,
	     struct elb_classified *c, uint64_t now_ns, bool new_flow)
{
	struct elb_source_cell *cells[ELB_SOURCE_LIMITS_MAX][ELB_SOURCE_ROWS];
	struct elb_source_check checks[ELB_SOURCE_LIMITS_MAX];
	uint32_t n = vip->n_source_limits;

	for (uint32_t l = 0; l < n; l++) {
		if (c->source_cells[l][0] == SOURCE_CELLS_NOT_FOUND) {
			/* A new-flow limit and a packet that starts no flow: nothing
			 * to charge. One that does after all: its cells now. */
			checks[l] = (struct elb_source_check){0};
			if (!new_flow)
				continue;
			find_limit_cells(w, snap, vip, l, c);
		}
		for (uint32_t r = 0; r < ELB_SOURCE_ROWS; r++)
			cells[l][r] = &w->source_cells[c->source_cells[l][r]];
		switch (elb_source_conforms(cells[l], &vip->source_limits[l], now_ns, new_flow,
					    &checks[l])) {
		case ELB_SOURCE_CONFORMS:
			break;
		case ELB_SOURCE_OVER_PACKETS:
			return ELB_REASON_SOURCE_RATE_LIMITED;
		default:
			return ELB_REASON_SOURCE_NEW_FLOWS_LIMITED;
		}
	}
	for (uint32_t l = 0; l < n; l++)
		if (checks[l].pkt_tat | checks[l].flow_tat)
			elb_source_commit(cells[l], &checks[l]);
	return ELB_REASON_NONE;
}

/* The prefix lists' decision on the packet's client (key.src: for an ICMP
 * error, the client of the flow it is about), counted in the VIP's
 * prefix_matches. @return whether a deny rule decided. Not inlined, as
 * source_admit: a VIP without lists never calls it. */
static __attribute__((noinline)) bool prefix_denied(const struct elb_vip *vip,
						    const struct elb_packet *pkt,
						    struct elb_vip_counters *vc)
{
	enum elb_prefix_scope scope;
	uint32_t v = elb_prefix_tables_decide(vip->prefixes, pkt->key.family, &pkt->key.src, &scope);
	enum elb_prefix_action action = ELB_PREFIX_VALUE_ACTION(v);

	if (action == ELB_PREFIX_NO_MATCH)
		return false;
	vc->prefix_matches[scope][action - 1]++;
	return action == ELB_PREFIX_DENY;
}

/* A new flow of a VIP that has a new-flow budget: within it, or flood
 * mode. Not inlined, as source_admit. */
static __attribute__((noinline)) enum elb_flow_admission flow_budget_admit(struct elb_worker *w,
							const struct elb_vip *vip, uint64_t now_ns)
{
	struct elb_flow_budget_state *s = &w->flow_budgets[vip->index];

	if (ELB_UNLIKELY(s->gen != vip->gen)) {
		memset(s, 0, sizeof(*s));
		s->gen = vip->gen;
	}
	return elb_flow_budget_admit(s, &vip->flow_budget, now_ns);
}

/*
 * The second-chance alternate of a packet going to backend_slot: the
 * previous owner of its Maglev slot, if elb_second_chance_alternate_ok
 * says so. Called only for packets whose backend is not sure (a
 * mid-stream miss or a hit on a mid-stream entry) of a second_chance VIP.
 */
static inline bool pick_alternate(const struct elb_snapshot *snap, const struct elb_vip *vip,
				  const struct elb_packet *pkt, uint64_t hash,
				  uint32_t backend_slot, uint32_t *alternate_slot)
{
	uint32_t prev = ELB_MAGLEV_EMPTY;
	const struct elb_backend_slot *p;

	if (vip->maglev_previous != NULL)
		prev = vip->maglev_previous[elb_maglev_slot(hash, vip->maglev_size)];
	if (prev >= snap->n_backend_slots)
		return false;
	p = &snap->backends[prev];
	if (!elb_second_chance_alternate_ok(vip->second_chance, pkt->key.proto, vip->index,
					    backend_slot, snap->backends[backend_slot].family,
					    prev, p->gen, p->vip_index, p->family))
		return false;
	*alternate_slot = prev;
	return true;
}

#define ELB_PIPELINE_PREFETCH_AHEAD 12 /* packets between an entry's prefetch and its use */

/* What the first stage of the pipeline learned about one packet. */
/* A final verdict: not for a VIP, the kernel's. */
static inline void to_kernel(struct elb_worker *w, struct elb_pipeline_result *res, uint32_t len)
{
	res->verdict = ELB_VERDICT_KERNEL;
	w->counters.verdicts[ELB_VERDICT_KERNEL].packets++;
	w->counters.verdicts[ELB_VERDICT_KERNEL].bytes += len;
}

/* The VIP of a parsed IP packet, or its final verdict when it has none. */
static inline void find_vip(struct elb_worker *w, const struct elb_snapshot *snap, uint32_t len,
			    struct elb_classified *c, struct elb_pipeline_result *res)
{
	bool address_known;

	res->vip_index = vip_find(snap, &c->pkt.key, &address_known);
	if (res->vip_index != ELB_NO_VIP) {
		c->done = false;
		return;
	}
	c->done = true;
	/* A fragment cannot say its port: only an all-ports VIP can take it. */
	if ((c->pkt.flags & ELB_PKT_FRAGMENT) && address_known)
		count_drop(w, NULL, res, ELB_REASON_FRAGMENT_NO_VIP, len);
	else
		to_kernel(w, res, len);
}

/*
 * Stage 1: parse, find the VIP. Leaves a final verdict in res for what is
 * not VIP traffic; the caller hashes the rest (c->hash).
 */
static inline void classify(struct elb_worker *w, const struct elb_snapshot *snap,
			    const uint8_t *frame, uint32_t len, struct elb_classified *c,
			    struct elb_pipeline_result *res)
{
	int parsed;

	memset(res, 0, sizeof(*res));
	res->vip_index = ELB_NO_VIP;
	c->done = true;
	w->counters.rx.packets++;
	w->counters.rx.bytes += len;

	parsed = elb_parse(frame, frame + len, &c->pkt);
	if (ELB_UNLIKELY(parsed == ELB_PARSE_MALFORMED)) {
		count_drop(w, NULL, res, (enum elb_reason)c->pkt.reason, len);
		return;
	}
	if (parsed == ELB_PARSE_NOT_IP) {
		to_kernel(w, res, len);
		return;
	}
	elb_flow_key_store_words(&c->pkt.key);
	find_vip(w, snap, len, c, res);
}

/* A QUIC VIP's UDP packet: the backend its DCID names, or ELB_QUIC_NO_SLOT
 * when the 5-tuple routes it (elb_quic_route.h). Not inlined: QUIC VIPs
 * only (inlined, it costs every VIP's packets 12 instructions in decide()). */
static __attribute__((noinline)) uint32_t quic_route(const struct elb_vip *vip,
						      struct elb_vip_counters *vc,
						      const uint8_t *frame, uint32_t len,
						      const struct elb_packet *pkt,
						      struct elb_pipeline_result *res)
{
	uint8_t outcome;
	uint32_t slot = elb_quic_route_fast(vip->quic, frame, len, pkt, &outcome);

	vc->quic[outcome]++;
	res->quic = (uint8_t)(outcome + 1);
	return slot;
}

/* Stage 2: flow, backend, rate limit, encapsulation. */
static inline void decide(struct elb_worker *w, const struct elb_snapshot *snap, uint8_t *frame,
			  uint32_t len, uint32_t headroom, uint64_t now_ns,
			  struct elb_classified *c, struct elb_pipeline_result *res)
{
	const uint8_t *end = frame + len;
	const struct elb_packet *pkt = &c->pkt;
	const struct elb_backend_slot *backend;
	struct elb_encap_params encap;
	struct elb_flow_entry *entry;
	struct elb_flow_bucket *fb;
	struct elb_vip_counters *vc;
	const struct elb_vip *vip;
	uint32_t now_tick = (uint32_t)(now_ns >> ELB_FLOW_TICK_SHIFT);
	uint32_t backend_slot, alternate_slot = 0, overhead, need, quic_slot = ELB_QUIC_NO_SLOT;
	unsigned int way = 0;
	uint64_t hash = c->hash;
	bool is_icmp_error, hit, unsure = false;
	uint8_t *out;
	int out_len;

	vip = &snap->vips[res->vip_index];
	vc = vip_counters(w, vip);
	vc->rx.packets++;
	vc->rx.bytes += pkt->l3_len;

	/* Before the flow table: a denied client neither finds nor makes a
	 * flow, and is charged to no admission limit. */
	if (ELB_UNLIKELY(vip->has_prefixes) && prefix_denied(vip, pkt, vc)) {
		count_drop(w, vc, res, ELB_REASON_SOURCE_DENIED, len);
		return;
	}
	is_icmp_error = (pkt->flags & ELB_PKT_ICMP_ERROR) != 0;
	/* The entry's state and flags are in its bucket's header: found once
	 * from the hash, used below. */
	fb = elb_flow_bucket_at(&w->flows, elb_flow_bucket_index(&w->flows, hash));
	entry = elb_flow_lookup(&w->flows, &pkt->key, res->vip_index, hash, now_tick);
	if (entry)
		way = elb_flow_way_of(&w->flows, hash, entry);
	hit = entry && backend_still_valid(snap, entry, res->vip_index) &&
	      !syn_reopens_flow(fb->state[way], pkt->tcp_flags);
	if (ELB_UNLIKELY(vip->n_source_limits)) {
		enum elb_reason why =
			source_admit(w, snap, vip, c, now_ns, !hit && !is_icmp_error);

		if (why != ELB_REASON_NONE) {
			count_drop(w, vc, res, why, len);
			return;
		}
	}
	if (ELB_UNLIKELY(vip->quic != NULL) && pkt->key.proto == ELB_IPPROTO_UDP && !is_icmp_error)
		quic_slot = quic_route(vip, vc, frame, len, pkt, res);
	if (hit) {
		backend_slot = entry->backend_id;
		/* The server ID in a server's CID names the backend: a flow entry
		 * that says otherwise (the 5-tuple's Maglev pick before the
		 * backend set changed) follows it. */
		if (ELB_UNLIKELY(quic_slot != ELB_QUIC_NO_SLOT) && quic_slot != backend_slot) {
			backend_slot = quic_slot;
			entry->backend_id = quic_slot;
			entry->backend_gen = snap->backends[quic_slot].gen;
			w->counters.flows_repicked++;
		}
		if (!is_icmp_error) {
			enum elb_flow_state next = elb_flow_state_next(
				(enum elb_flow_state)fb->state[way], pkt->key.proto, pkt->tcp_flags);

			elb_flow_bucket_refresh(fb, way, next, vip->timeouts.ticks[next], now_tick);
		}
		/* A sure entry wins as it is; a mid-stream one carries the
		 * alternate (the one test added to an established hit). */
		if (ELB_UNLIKELY(fb->flags[way] & ELB_FLOW_F_MIDSTREAM)) {
			res->midstream = 1;
			unsure = !is_icmp_error;
		}
	} else {
		uint32_t pick = quic_slot != ELB_QUIC_NO_SLOT
					? quic_slot
					: vip->maglev[elb_maglev_slot(hash, vip->maglev_size)];

		if (ELB_UNLIKELY(pick == ELB_MAGLEV_EMPTY)) {
			count_drop(w, vc, res, ELB_REASON_NO_BACKEND, len);
			return;
		}
		backend_slot = pick;
		/* An ICMP error follows its flow but creates none. A flow's first
		 * packet (a SYN, a datagram) of a VIP in flood mode is forwarded
		 * to the same backend but makes no entry: the table keeps the
		 * established flows. A mid-stream packet still makes its entry. */
		if (!is_icmp_error && !entry && ELB_UNLIKELY(vip->flow_budget.interval) &&
		    !elb_flow_learned_midstream(pkt) &&
		    flow_budget_admit(w, vip, now_ns) == ELB_FLOW_STATELESS) {
			res->stateless = 1;
		} else if (!is_icmp_error) {
			enum elb_flow_state state = elb_flow_state_new(pkt->key.proto, pkt->tcp_flags);

			if (entry) {
				/* Keeps its token bucket: a re-pick is no reason to refill it. */
				w->counters.flows_repicked++;
				elb_flow_bucket_refresh(fb, way, state, vip->timeouts.ticks[state],
							now_tick);
			} else {
				enum elb_flow_state evicted; /* counted in the table's own stats */

				entry = elb_flow_insert(&w->flows, &pkt->key, res->vip_index, hash,
							now_tick, state, vip->timeouts.ticks[state],
							&evicted);
				way = elb_flow_way_of(&w->flows, hash, entry);
			}
			entry->backend_id = backend_slot;
			entry->backend_gen = snap->backends[backend_slot].gen;
			/* A re-pick decides anew: a SYN starts the connection
			 * here, anything else is a guess. */
			if (elb_flow_learned_midstream(pkt)) {
				fb->flags[way] |= ELB_FLOW_F_MIDSTREAM;
				res->midstream = 1;
				unsure = true;
			} else {
				fb->flags[way] &= (uint8_t)~ELB_FLOW_F_MIDSTREAM;
			}
			res->new_flow = 1;
			w->counters.new_flows++;
			vc->new_flows++;
			backend_counters(w, snap, backend_slot)->new_flows++;
		}
	}
	backend = &snap->backends[backend_slot];
	res->backend_slot = backend_slot;

	if (vip->rate_limited && !is_icmp_error && entry &&
	    !elb_token_bucket_admit(&entry->bucket, &vip->rate_limit, now_ns, pkt->l3_len)) {
		if (!(fb->flags[way] & ELB_FLOW_F_RATE_LIMITED)) {
			fb->flags[way] |= ELB_FLOW_F_RATE_LIMITED;
			vc->rate_limited_flows++;
		}
		count_drop(w, vc, res, ELB_REASON_RATE_LIMITED, len);
		return;
	}

	encap.outer_family = backend->family;
	encap.outer_src = backend->family == ELB_AF_INET ? snap->source_v4 : snap->source_v6;
	encap.outer_dst = backend->addr;
	encap.gue = vip->gue;
	encap.gue_dport = vip->gue_dport;
	encap.mtu = vip->mtu;
	encap.has_alternate = 0;
	if (ELB_UNLIKELY(unsure) && vip->second_chance && quic_slot == ELB_QUIC_NO_SLOT &&
	    pick_alternate(snap, vip, pkt, hash, backend_slot, &alternate_slot)) {
		encap.has_alternate = 1;
		encap.alternate = snap->backends[alternate_slot].addr;
		res->has_alternate = 1;
		res->alternate_slot = alternate_slot;
	}
	elb_memcpy(encap.src_mac, w->port_mac, 6);
	elb_memcpy(encap.dst_mac, snap->gateway_mac, 6);
	overhead = elb_encap_params_overhead(&encap);

	switch (elb_encap_mtu_check(pkt, &encap)) {
	case ELB_MTU_FITS:
		break;
	case ELB_MTU_TOO_BIG_REPLY:
		need = (uint32_t)sizeof(struct elb_eth_hdr) +
		       elb_icmp_too_big_headroom(pkt->key.family);
		if (pkt->l3_off + headroom < need) {
			count_drop(w, vc, res, ELB_REASON_NO_HEADROOM, len);
			return;
		}
		out = frame + pkt->l3_off - need;
		out_len = elb_icmp_too_big_write(out, end, pkt, elb_encap_inner_mtu(&encap),
						 w->port_mac, snap->gateway_mac);
		if (out_len < 0) {
			count_drop(w, vc, res, ELB_REASON_NO_HEADROOM, len);
			return;
		}
		res->verdict = ELB_VERDICT_REPLY;
		res->reason = ELB_REASON_TOO_BIG;
		res->head_move = (int32_t)(out - frame);
		res->out_len = (uint32_t)out_len;
		w->counters.drops[ELB_REASON_TOO_BIG]++;
		w->counters.verdicts[ELB_VERDICT_REPLY].packets++;
		w->counters.verdicts[ELB_VERDICT_REPLY].bytes += (uint32_t)out_len;
		vc->drops[ELB_REASON_TOO_BIG]++;
		vc->replies++;
		return;
	default:
		count_drop(w, vc, res, ELB_REASON_TOO_BIG_NO_REPLY, len);
		return;
	}

	need = (uint32_t)sizeof(struct elb_eth_hdr) + overhead;
	if (ELB_UNLIKELY(pkt->l3_off + headroom < need)) {
		count_drop(w, vc, res, ELB_REASON_NO_HEADROOM, len);
		return;
	}
	out = frame + pkt->l3_off - need;
	out_len = elb_encap_write(out, end, pkt, &encap, hash);
	if (ELB_UNLIKELY(out_len < 0)) {
		count_drop(w, vc, res, ELB_REASON_NO_HEADROOM, len);
		return;
	}
	res->verdict = ELB_VERDICT_FORWARD;
	res->head_move = (int32_t)(out - frame);
	res->out_len = (uint32_t)out_len;
	w->counters.verdicts[ELB_VERDICT_FORWARD].packets++;
	w->counters.verdicts[ELB_VERDICT_FORWARD].bytes += (uint32_t)out_len;
	vc->forwarded.packets++;
	vc->forwarded.bytes += (uint32_t)out_len;
	{
		struct elb_backend_counters *bc = backend_counters(w, snap, backend_slot);

		bc->forwarded.packets++;
		bc->forwarded.bytes += (uint32_t)out_len;
	}
}

void elb_pipeline_run(struct elb_worker *w, const struct elb_snapshot *snap, uint8_t *frame,
		      uint32_t len, uint32_t headroom, uint64_t now_ns,
		      struct elb_pipeline_result *res)
{
	struct elb_classified c;

	classify(w, snap, frame, len, &c, res);
	if (!c.done) {
		c.hash = elb_flow_hash(&c.pkt.key, &snap->seed);
		if (ELB_UNLIKELY(snap->vips[res->vip_index].n_source_limits))
			find_source_cells(w, snap, &snap->vips[res->vip_index], &c, false);
		decide(w, snap, frame, len, headroom, now_ns, &c, res);
	}
}

/* The four-key hash this CPU runs best, chosen once at start. */
static elb_flow_hash_x4_fn *flow_hash_x4;

__attribute__((constructor)) static void select_flow_hash_x4(void)
{
	flow_hash_x4 = elb_flow_hash_x4_select(true);
}

/* Hash the flows of the packets todo[0..n), four at a time, and prefetch
 * each one's bucket header as soon as its hash is known. */
static inline void hash_flows(struct elb_worker *w, const struct elb_snapshot *snap,
			      struct elb_classified *c, const uint8_t *todo, uint32_t n)
{
	uint32_t i = 0;

	for (; i + 4 <= n; i += 4) {
		const struct elb_flow_key *keys[4] = {
			&c[todo[i]].pkt.key, &c[todo[i + 1]].pkt.key,
			&c[todo[i + 2]].pkt.key, &c[todo[i + 3]].pkt.key,
		};
		uint64_t h[4];

		flow_hash_x4(keys, &snap->seed, h);
		for (unsigned int k = 0; k < 4; k++) {
			c[todo[i + k]].hash = h[k];
			elb_flow_prefetch(&w->flows, h[k]);
		}
	}
	for (; i < n; i++) {
		c[todo[i]].hash = elb_flow_hash(&c[todo[i]].pkt.key, &snap->seed);
		elb_flow_prefetch(&w->flows, c[todo[i]].hash);
	}
}

void elb_pipeline_run_burst(struct elb_worker *w, const struct elb_snapshot *snap,
			    uint8_t *const *frames, const uint32_t *lens, uint32_t n,
			    uint32_t headroom, uint64_t now_ns, struct elb_pipeline_result *results)
{
	struct elb_classified c[ELB_PIPELINE_BURST_MAX];
	uint8_t todo[ELB_PIPELINE_BURST_MAX]; /* packets for a VIP, in order */
	uint32_t i, n_todo = 0;

	if (n > ELB_PIPELINE_BURST_MAX)
		n = ELB_PIPELINE_BURST_MAX;
	/* The flow table is far larger than the caches: two misses per packet
	 * (bucket header, entry) dominate unless they overlap. Classify the
	 * whole burst, hash its VIP packets four at a time and prefetch every
	 * bucket header (and the source-limit cells of a VIP that has some);
	 * then decide packet i while prefetching the entry of packet
	 * i + ELB_PIPELINE_PREFETCH_AHEAD, whose header has arrived by then, so
	 * that each entry has several decisions' time to arrive. (Starting the
	 * next RX burst before deciding this one was measured too: no faster.) */
	for (i = 0; i < n; i++) {
		classify(w, snap, frames[i], lens[i], &c[i], &results[i]);
		if (!c[i].done)
			todo[n_todo++] = (uint8_t)i;
	}
	hash_flows(w, snap, c, todo, n_todo);
	for (i = 0; i < n_todo; i++) {
		const struct elb_vip *vip = &snap->vips[results[todo[i]].vip_index];

		if (ELB_UNLIKELY(vip->n_source_limits))
			find_source_cells(w, snap, vip, &c[todo[i]], true);
	}
	for (i = 0; i < n_todo && i < ELB_PIPELINE_PREFETCH_AHEAD; i++)
		elb_flow_prefetch_entries(&w->flows, c[todo[i]].hash);
	for (i = 0; i < n_todo; i++) {
		uint32_t ahead = i + ELB_PIPELINE_PREFETCH_AHEAD;
		uint32_t p = todo[i];

		if (ahead < n_todo)
			elb_flow_prefetch_entries(&w->flows, c[todo[ahead]].hash);
		decide(w, snap, frames[p], lens[p], headroom, now_ns, &c[p], &results[p]);
	}
}
