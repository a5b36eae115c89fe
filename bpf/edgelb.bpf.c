/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * The XDP dataplane: per packet, the decision of elb_pipeline.c (classify()
 * then decide(), here classify(), decide() and encapsulate() below), step
 * by step and in the same order, with the snapshot and the worker's flow
 * table replaced by BPF maps (bpf/edgelb_xdp_maps.h, all defined there). Its
 * verdicts map to XDP actions: FORWARD and REPLY -> XDP_TX (the frame is
 * rewritten in place after bpf_xdp_adjust_head), KERNEL -> XDP_PASS, DROP ->
 * XDP_DROP. The counters are the DPDK worker's structs, one copy per CPU.
 * Flow expiry runs on jiffies rather than bpf_ktime_get_ns() (flow_clock_ns
 * below): the same clock to within 4 ms, far cheaper to read.
 *
 * Admission control (elb_admission.h, docs/admission.md): after the flow
 * lookup, as in decide(), for a VIP whose flags say it has some: the
 * per-source limits on this CPU's sketch and, for a flow's first packet,
 * the VIP's new-flow budget (flood mode: forwarded, no entry).
 *
 * edgelb-replay --dataplane xdp runs this program with BPF_PROG_TEST_RUN
 * and compares nothing itself: tests/xdp/test_xdp_diff.py requires its
 * verdicts and output frames to equal those of the DPDK replay.
 *
 * QUIC routing by connection ID (elb_quic_route.h, docs/quic-lb.md): for a
 * VIP whose flags say so, after admission control as in decide(): a
 * server's CID that decodes to a backend's server ID picks that backend,
 * over the flow table's entry (re-pinned) and over Maglev. The decoding is
 * the shared core's (quic_step below), AES by tables, its working memory
 * in a per-CPU map (docs/quic-lb.md says what fits under the stack).
 *
 * The only intended difference from the C pipeline: a Maglev pick whose
 * slot does not (or no longer) belong to the VIP is a NO_BACKEND drop
 * instead of a forward to whatever holds the slot. The maps are written one
 * entry at a time, so for a moment during a change an old table may name a
 * slot already given to another VIP's backend (see dataplane/xdp/xdp_maps.c);
 * with consistent maps every table names only its VIP's slots, and the
 * check never fires. The same holds for the slot a QUIC server ID names.
 */
/* First: the QUIC-LB decoder with its AES rounds as calls (edgelb_quic.h). */
#include "edgelb_quic.h"

#include "elb_admission.h"
#include "elb_encap.h"
#include "elb_flow_state.h"
#include "elb_maglev.h"
#include "elb_parse.h"
#include "elb_second_chance.h"
#include "elb_token_bucket.h"

#include "elb_pipeline.h"

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "edgelb_flow_clock.h"
#include "edgelb_xdp_maps.h"

/* Replay (edgelb-replay --dataplane xdp): the pcap's clock instead of
 * bpf_ktime_get_ns() while use_test_clock is set (its first packet is at
 * 0 ns, so 0 cannot mean "unset"), and the decision of the last packet. */
uint64_t test_now_ns;
uint8_t use_test_clock;
uint8_t record_results;
struct elb_pipeline_result last_result;

/* Globals, not map lookups: the verifier turns an access into a load from
 * a fixed address (see bpf/edgelb_xdp_maps.h for who writes them). */
struct elb_xdp_node node_config;
uint64_t vip_filter[ELB_XDP_VIP_FILTER_WORDS];
/* The source sketch's row hashes: elb_source_keys_init of node_config's
 * seed, written with it. */
struct elb_source_keys source_keys;

/* The prefix lists (bpf/edgelb_xdp_maps.h, dataplane/xdp/xdp_prefixes.c):
 * which scopes have rules (ELB_XDP_PREFIX_*; 0: no lookup at all), and
 * per VIP index whether its VIP may have a list (a set bit whose VIP has
 * none only costs a lookup that misses). With record_results, the rule
 * that decided the last packet that met a list (action 0: none). */
uint32_t prefix_scopes;
uint64_t prefix_vips[ELB_XDP_PREFIX_VIP_WORDS];
struct elb_xdp_prefix_rule last_prefix;

/* One load of a global that user space writes while packets run: the
 * compiler may otherwise load it again where it uses it. */
#define ELB_READ_ONCE(x) (*(const volatile __typeof__(x) *)&(x))

/* The flow clock's calibration (edgelb_flow_clock.h), set by
 * edgelb_clock_sync. */
extern unsigned int CONFIG_HZ __kconfig __weak;
uint64_t jiffy_ns;
uint64_t jiffies_offset_ns;

static __always_inline uint64_t flow_clock_ns(void)
{
	return elb_xdp_flow_clock_ns(&jiffy_ns, &jiffies_offset_ns);
}

static __always_inline void count_drop(struct elb_worker_counters *wc, struct elb_vip_counters *vc,
				       struct elb_pipeline_result *res, uint32_t reason,
				       uint32_t len)
{
	/* The parser's reasons are below ELB_REASON_COUNT; the verifier wants
	 * the bound for the array index. */
	if (reason >= ELB_REASON_COUNT)
		reason = ELB_REASON_NONE;
	res->verdict = ELB_VERDICT_DROP;
	res->reason = (uint8_t)reason;
	wc->drops[reason]++;
	wc->verdicts[ELB_VERDICT_DROP].packets++;
	wc->verdicts[ELB_VERDICT_DROP].bytes += len;
	if (vc)
		vc->drops[reason]++;
}

/* elb_vip_find over the vips map: exact port first, then the all-ports VIP;
 * the address marker answers "is this a VIP address at all". Addresses whose
 * filter bit is clear have no key in the map: no lookup at all. */
static __always_inline const struct elb_xdp_vip *vip_find(const struct elb_flow_key *key,
							  bool *address_known)
{
	struct elb_xdp_vip_key vk = {};
	const struct elb_xdp_vip *vip;
	uint32_t bit = elb_xdp_vip_filter_bit(&key->dst);

	*address_known = false;
	if (!((vip_filter[(bit / 64) % ELB_XDP_VIP_FILTER_WORDS] >> (bit % 64)) & 1))
		return NULL;
	vk.addr = key->dst;
	vk.family = key->family;
	if (key->sport != 0 || key->dport != 0 || key->proto == ELB_IPPROTO_TCP ||
	    key->proto == ELB_IPPROTO_UDP) {
		vk.port = key->dport;
		vk.proto = key->proto;
		vip = bpf_map_lookup_elem(&vips, &vk);
		if (vip)
			goto found;
		vk.port = 0;
		vip = bpf_map_lookup_elem(&vips, &vk);
		if (vip)
			goto found;
	}
	vk.port = 0;
	vk.proto = 0;
	*address_known = bpf_map_lookup_elem(&vips, &vk) != NULL;
	return NULL;
found:
	*address_known = true;
	return vip;
}

/* The flow table of the CPU this runs on (bpf/edgelb_xdp_maps.h): NULL
 * only if user space created none for it, and then packets go as on a
 * failed insert, without flow. */
static __always_inline void *flow_table(void)
{
	uint32_t cpu = bpf_get_smp_processor_id();

	return bpf_map_lookup_elem(&flows, &cpu);
}

static __always_inline uint32_t state_timeout(const struct elb_xdp_vip *vip, uint32_t state)
{
	/* state comes from elb_flow_state_new/next: always in range; the
	 * bound is for the verifier. */
	if (state >= ELB_FLOW_STATE_COUNT)
		return 0;
	return vip->timeouts.ticks[state];
}

/* The CPU's counters of a VIP / backend slot, zeroed on first use under a
 * new generation, as in elb_pipeline.c. */
static __always_inline struct elb_vip_counters *vip_counters_of(const struct elb_xdp_vip *vip)
{
	uint32_t index = vip->index;
	struct elb_vip_counters *vc = bpf_map_lookup_elem(&vip_counters, &index);

	if (vc && vc->gen != vip->gen) {
		__builtin_memset(vc, 0, sizeof(*vc));
		vc->gen = vip->gen;
	}
	return vc;
}

static __always_inline struct elb_backend_counters *backend_counters_of(uint32_t slot,
									const struct elb_backend_slot *b)
{
	struct elb_backend_counters *bc = bpf_map_lookup_elem(&backend_counters, &slot);

	if (bc && bc->gen != b->gen) {
		__builtin_memset(bc, 0, sizeof(*bc));
		bc->gen = b->gen;
	}
	return bc;
}

/* A flow (re)started on a Maglev pick: state, expiry and backend, and
 * whether it was learned mid-stream. The token bucket is the caller's. */
static __always_inline void flow_start(struct elb_xdp_flow *flow, const struct elb_xdp_vip *vip,
				       uint32_t state, uint32_t now_tick, uint32_t backend_slot,
				       const struct elb_backend_slot *backend, bool midstream)
{
	flow->state = (uint8_t)state;
	flow->expiry = now_tick + state_timeout(vip, state);
	flow->backend_id = backend_slot;
	flow->backend_gen = backend->gen;
	if (midstream)
		flow->flags |= ELB_FLOW_F_MIDSTREAM;
	else
		flow->flags &= (uint8_t)~ELB_FLOW_F_MIDSTREAM;
}

/* elb_pipeline.c's backend_still_valid: slots at or past n_backend_slots
 * are all-zero in the snapshot and in the map, so gen != 0 stands for the
 * bound. */
static __always_inline const struct elb_backend_slot *
backend_still_valid(const struct elb_xdp_flow *flow, uint16_t vip_index)
{
	uint32_t slot = flow->backend_id;
	const struct elb_backend_slot *b = bpf_map_lookup_elem(&backends, &slot);

	if (b == NULL || b->gen == 0 || b->gen != flow->backend_gen || b->vip_index != vip_index ||
	    b->state == ELB_BACKEND_EMPTY)
		return NULL;
	return b;
}

/* Where a flow hash lands in a VIP's table: the entry of its Maglev slot
 * in the owners' half, or with `previous` in the previous owners' half
 * (edgelb_xdp_maps.h); NULL if the VIP has no table, an empty one, or (the
 * previous half of an older agent's table) no such entry. */
static __always_inline const uint32_t *maglev_entry(const struct elb_xdp_vip *vip, uint64_t hash,
						    bool previous)
{
	uint32_t index = vip->index, zero = 0, pos;
	const uint32_t *size;
	void *table;

	table = bpf_map_lookup_elem(&maglev, &index);
	if (table == NULL)
		return NULL;
	size = bpf_map_lookup_elem(table, &zero);
	if (size == NULL || *size == 0)
		return NULL;
	pos = ELB_XDP_MAGLEV_HEADER + (previous ? *size : 0) + elb_maglev_slot(hash, *size);
	return bpf_map_lookup_elem(table, &pos);
}

/* The Maglev pick of a VIP: the slot's backend, or NULL (no backend with
 * weight, or the transient mismatch described at the top). */
static __always_inline const struct elb_backend_slot *maglev_pick(const struct elb_xdp_vip *vip,
								  uint64_t hash, uint32_t *slot)
{
	const uint32_t *pick = maglev_entry(vip, hash, false);
	const struct elb_backend_slot *b;

	if (pick == NULL || *pick == ELB_MAGLEV_EMPTY)
		return NULL;
	*slot = *pick;
	b = bpf_map_lookup_elem(&backends, slot);
	if (b == NULL || b->gen == 0 || b->vip_index != vip->index)
		return NULL;
	return b;
}

/*
 * The second-chance alternate of a packet of VIP vip going to backend slot
 * backend_slot (elb_pipeline.c, pick_alternate): the previous owner of its
 * Maglev slot, if elb_second_chance_alternate_ok says so; NULL otherwise.
 * Read from the table of the moment, as on each packet in the C pipeline.
 */
static __always_inline const struct elb_backend_slot *
alternate_of(const struct elb_xdp_vip *vip, const struct elb_packet *pkt, uint64_t hash,
	     uint32_t backend_slot, const struct elb_backend_slot *backend, uint32_t *alt_slot)
{
	const uint32_t *prev = maglev_entry(vip, hash, true);
	const struct elb_backend_slot *b;

	if (prev == NULL || *prev == ELB_MAGLEV_EMPTY)
		return NULL;
	*alt_slot = *prev;
	b = bpf_map_lookup_elem(&backends, alt_slot);
	if (b == NULL ||
	    !elb_second_chance_alternate_ok((vip->encap_flags & ELB_XDP_VIP_SECOND_CHANCE) != 0,
					    pkt->key.proto, vip->index,
					    backend_slot, backend->family, *alt_slot, b->gen,
					    b->vip_index, b->family))
		return NULL;
	return b;
}

/* Move the frame's start by move bytes (negative: room in front for the
 * headers to write) and reload the packet pointers, which the move
 * invalidates. 0, or non-zero when the driver has no such headroom. */
static __always_inline int move_head(struct xdp_md *ctx, int move, const uint8_t **data,
				     const uint8_t **end)
{
	if (bpf_xdp_adjust_head(ctx, move))
		return -1;
	*data = (const uint8_t *)(long)ctx->data;
	*end = (const uint8_t *)(long)ctx->data_end;
	return 0;
}

/*
 * Admission control (elb_admission.h), as source_admit and
 * flow_budget_admit in elb_pipeline.c. Global functions: the verifier
 * checks each once, on its own, rather than once per path of decide() that
 * reaches it (the program's verification stays well below the kernel's
 * limit). Their pointer arguments can be NULL to the verifier: checked.
 */

/* The cells of limit lim's key of source src in this CPU's sketch (from
 * entry base on); false if the map has none (it is sized for every
 * possible CPU: cannot happen). */
static __always_inline bool limit_cells(const struct elb_source_limit *lim,
					const union elb_addr *src, uint32_t vip_index,
					uint32_t base, struct elb_source_cell **cells)
{
	/* Zeroed: an IPv4 key leaves chunks unset, which the compiler may
	 * still copy, and the verifier refuses to read what was never
	 * written. */
	struct elb_source_key key = {};

	elb_source_key_of(src, lim, (uint16_t)vip_index, &key);
	ELB_UNROLL
	for (uint32_t r = 0; r < ELB_SOURCE_ROWS; r++) {
		uint32_t i = base + elb_source_cell_index(&source_keys, &key, r,
							  ELB_SOURCE_COLUMN_BITS_DEFAULT);

		cells[r] = bpf_map_lookup_elem(&source_cells, &i);
		if (cells[r] == NULL)
			return false;
	}
	return true;
}

/*
 * The source limits of a VIP that has some, on this CPU's sketch: every
 * prefix length is checked first, then all are charged (a refused packet
 * takes from none). new_flow: the packet would create an entry. Returns
 * ELB_SOURCE_CONFORMS, or the verdict of the first limit it is above (the
 * caller names the drop reason: a constant, which the verifier bounds).
 * The charge finds the cells again rather than keeping them from the check:
 * 32 bytes less stack, which the program's call chain needs to stay within
 * 512 (the lookups are address computations).
 */
__noinline int source_admit(const struct elb_xdp_admission *adm, const union elb_addr *src,
			    uint32_t vip_index, uint64_t now_ns, uint32_t new_flow)
{
	struct elb_source_cell *cells[ELB_SOURCE_ROWS];
	struct elb_source_check checks[ELB_SOURCE_LIMITS_MAX] = {};
	uint32_t base = elb_xdp_source_cell(bpf_get_smp_processor_id(), 0);
	enum elb_source_verdict verdict;

	if (adm == NULL || src == NULL)
		return ELB_SOURCE_CONFORMS;
	ELB_UNROLL
	for (uint32_t l = 0; l < ELB_SOURCE_LIMITS_MAX; l++) {
		const struct elb_source_limit *lim = &adm->source_limits[l];

		/* Nothing to charge: a new-flow limit and a packet that
		 * starts no flow. */
		if (l >= adm->n_source_limits || (!lim->pkt_interval && !new_flow))
			continue;
		if (!limit_cells(lim, src, vip_index, base, cells))
			return ELB_SOURCE_CONFORMS;
		verdict = elb_source_conforms(cells, lim, now_ns, new_flow != 0, &checks[l]);
		if (verdict != ELB_SOURCE_CONFORMS)
			return verdict;
	}
	ELB_UNROLL
	for (uint32_t l = 0; l < ELB_SOURCE_LIMITS_MAX; l++)
		if ((checks[l].pkt_tat | checks[l].flow_tat) &&
		    limit_cells(&adm->source_limits[l], src, vip_index, base, cells))
			elb_source_commit(cells, &checks[l]);
	return ELB_SOURCE_CONFORMS;
}

/* A new flow of a VIP that has a new-flow budget, on this CPU's state of
 * it (reset under a new generation of the VIP): ELB_FLOW_STATEFUL within
 * the budget, ELB_FLOW_STATELESS in flood mode. */
__noinline int flow_budget_admit(const struct elb_flow_budget *budget, uint32_t vip_index,
				 uint32_t gen, uint64_t now_ns)
{
	struct elb_flow_budget_state *s = bpf_map_lookup_elem(&flow_budgets, &vip_index);

	if (s == NULL || budget == NULL)
		return ELB_FLOW_STATEFUL; /* index < ELB_MAX_VIPS: cannot happen */
	if (s->gen != gen) {
		__builtin_memset(s, 0, sizeof(*s));
		s->gen = gen;
	}
	return elb_flow_budget_admit(s, budget, now_ns);
}

/*
 * QUIC routing (elb_quic_route.h): elb_quic_route of the C pipeline over
 * the UDP payload [start, stop) of the frame (quic_decide), with the VIP's
 * configurations from vip_quic and its server IDs from its table in
 * quic_server_tables; in a global function (quic_step below), verified
 * once on its own rather than on every path of decide() that reaches it.
 * quic_decide's answer is one scalar: the outcome (enum elb_quic_outcome)
 * above QUIC_SLOT_BITS, the backend slot of ELB_QUIC_BY_CID below
 * (QUIC_SLOT_NONE otherwise). The payload's first octets, the decoder's
 * scratch and the server ID are this CPU's quic_scratch rather than stack:
 * the decoder indexes the CID with run-time values, and the program's
 * stack leaves no room for AES by tables.
 */
#define QUIC_SLOT_BITS 24
#define QUIC_SLOT_NONE ((1u << QUIC_SLOT_BITS) - 1)
#define QUIC_READ (6 + ELB_QUIC_CID_MAX) /* long header's DCID at 6 */
_Static_assert(ELB_MAX_BACKEND_SLOTS < QUIC_SLOT_NONE, "slots fit below the outcome");

static __always_inline int quic_answer(uint32_t outcome, uint32_t slot)
{
	return (int)(outcome << QUIC_SLOT_BITS | (slot & QUIC_SLOT_NONE));
}

/* elb_quic_server_find over the VIP's table in quic_server_tables (its
 * entry 0 holding the mask): the same hash and probes, at most
 * ELB_QUIC_SERVER_PROBES of them, which the table is built to need. A call
 * of its own: its loop keeps more live than quic_step's frame may hold,
 * and beside the decoder's calls rather than under them it costs no stack
 * of their chain. */
static __noinline uint32_t quic_server_find(struct elb_xdp_quic_scratch *w)
{
	const struct elb_quic_server *head, *e;
	uint32_t i, mask;
	void *table;

	table = bpf_map_lookup_elem(&quic_server_tables, &w->vip_index);
	if (table == NULL)
		return ELB_QUIC_NO_SLOT;
	/* Keys in the scratch rather than on the stack (see quic_step). */
	w->table_key = 0;
	head = bpf_map_lookup_elem(table, &w->table_key);
	if (head == NULL)
		return ELB_QUIC_NO_SLOT;
	mask = head->slot;
	i = elb_quic_server_hash(w->server.sid) & mask;
	for (uint32_t n = 0; n < ELB_QUIC_SERVER_PROBES; n++) {
		w->table_key = ELB_XDP_QUIC_SERVERS_HEADER + i;
		e = bpf_map_lookup_elem(table, &w->table_key);
		if (e == NULL || !e->used)
			return ELB_QUIC_NO_SLOT;
		if (elb_quic_sid_equal(e->sid, w->server.sid))
			return e->slot;
		i = (i + 1) & mask;
	}
	return ELB_QUIC_NO_SLOT;
}

static __always_inline int quic_decide(struct xdp_md *ctx, struct elb_xdp_quic_scratch *w,
				       uint32_t start, uint32_t stop)
{
	const struct elb_xdp_quic *q;
	uint32_t len, avail, cid_len, config_id, slot;
	uint64_t n; /* 64 bits: the register checked is the one passed */

	if (ctx == NULL || start >= stop)
		return quic_answer(ELB_QUIC_UNPARSED, QUIC_SLOT_NONE);
	len = stop - start;
	n = len < QUIC_READ ? len : QUIC_READ;
	/* The bounds checked on the register the helper gets (the compiler
	 * would check a copy of it otherwise). */
	__asm__ volatile("" : "+r"(n));
	if (n == 0 || n > QUIC_READ || bpf_xdp_load_bytes(ctx, start, w->cid, n))
		return quic_answer(ELB_QUIC_UNPARSED, QUIC_SLOT_NONE);
	/* A short header's DCID length is the configuration's: what there
	 * is, up to the longest, and the decoder checks it (as in C). */
	avail = len - 1;
	switch (elb_quic_parse(w->cid, len, avail < ELB_QUIC_CID_MAX ? avail : ELB_QUIC_CID_MAX,
			       &w->dcid_off, &w->dcid_len)) {
	case ELB_QUIC_SHORT:
	case ELB_QUIC_HANDSHAKE:
		break;
	case ELB_QUIC_INITIAL:
	case ELB_QUIC_0RTT:
		return quic_answer(ELB_QUIC_CLIENT_CID, QUIC_SLOT_NONE);
	case ELB_QUIC_NOT_QUIC:
		return quic_answer(ELB_QUIC_UNPARSED, QUIC_SLOT_NONE);
	default:
		return quic_answer(ELB_QUIC_OTHER_VERSION, QUIC_SLOT_NONE);
	}
	cid_len = w->dcid_len;
	if (cid_len == 0)
		return quic_answer(ELB_QUIC_CID_TOO_SHORT, QUIC_SLOT_NONE);
	/* Constant offsets: the DCID is at 1 (short) or 6 (long), moved
	 * forward in place. What follows it is read by the decoder and
	 * masked off, as in C. */
	if (w->dcid_off == 1) {
		ELB_UNROLL
		for (uint32_t i = 0; i < QUIC_READ - 1; i++)
			w->cid[i] = w->cid[1 + i];
	} else {
		ELB_UNROLL
		for (uint32_t i = 0; i < QUIC_READ - 6; i++)
			w->cid[i] = w->cid[6 + i];
	}
	config_id = elb_quic_lb_config_id(w->cid);
	if (config_id >= ELB_QUIC_LB_CONFIGS) /* ELB_QUIC_LB_NO_CONFIG; a bound for the verifier */
		return quic_answer(ELB_QUIC_NO_CONFIG_CODEPOINT, QUIC_SLOT_NONE);
	q = bpf_map_lookup_elem(&vip_quic, &w->quic_index);
	if (q == NULL || !q->configs[config_id].active)
		return quic_answer(ELB_QUIC_UNKNOWN_CONFIG, QUIC_SLOT_NONE);
	__builtin_memset(&w->server, 0, sizeof(w->server));
	if (elb_quic_lb_decode_with(&q->configs[config_id], w->cid, cid_len, w->server.sid,
				    &w->work) != ELB_QUIC_LB_DECODED)
		return quic_answer(ELB_QUIC_CID_TOO_SHORT, QUIC_SLOT_NONE);
	slot = quic_server_find(w);
	if (slot == ELB_QUIC_NO_SLOT)
		return quic_answer(ELB_QUIC_UNKNOWN_SERVER, QUIC_SLOT_NONE);
	return quic_answer(ELB_QUIC_BY_CID, slot);
}

/* The QUIC step of decide() for a VIP flagged ELB_XDP_VIP_QUIC, over the
 * UDP payload [start, stop): quic_decide for VIP res->vip_index, with the
 * configurations of its vip_quic entry in force (quic_index), its outcome
 * counted in the VIP's counters and kept in res->quic; for
 * ELB_QUIC_BY_CID, the backend slot in res->backend_slot (where decide()
 * ends up putting it). A call, the slot kept in res: with
 * one more value live across the flow lookup, edgelb_xdp's stack plus
 * source_admit's goes over the verifier's 512 octets. The one call between
 * decide() and the decoder's own: on kernels that round each frame to 32
 * octets, edgelb_xdp's frame, this one, the four-pass network, its round
 * and AES take the 512 exactly. */
__noinline int quic_step(struct xdp_md *ctx, struct elb_pipeline_result *res, uint32_t quic_index,
			 uint32_t start, uint32_t stop)
{
	const uint32_t zero = 0;
	struct elb_xdp_quic_scratch *w = bpf_map_lookup_elem(&quic_scratch, &zero);
	struct elb_vip_counters *vc;
	uint32_t answer, outcome;

	if (w == NULL || res == NULL)
		return 0; /* cannot happen: a one-entry array; the verifier's check */
	w->vip_index = res->vip_index;
	w->quic_index = quic_index;
	answer = (uint32_t)quic_decide(ctx, w, start, stop);
	outcome = answer >> QUIC_SLOT_BITS;
	if (outcome >= ELB_QUIC_OUTCOMES) /* cannot happen; the verifier's bound */
		outcome = ELB_QUIC_UNPARSED;
	/* The VIP's counters looked up again (decide() has them, of this
	 * generation): a pointer kept across the decoder's calls would cost
	 * a stack slot. */
	vc = bpf_map_lookup_elem(&vip_counters, &w->vip_index);
	if (vc != NULL)
		vc->quic[outcome]++;
	res->quic = (uint8_t)(outcome + 1);
	if (outcome == ELB_QUIC_BY_CID)
		res->backend_slot = answer & QUIC_SLOT_NONE;
	return 0;
}

/* The payload a QUIC step reads: the datagram's, none in a fragment
 * (elb_quic_route_packet). */
static __always_inline void quic_payload(const struct elb_packet *pkt, uint32_t frame_len,
					 uint32_t *start, uint32_t *stop)
{
	*stop = (uint32_t)pkt->l3_off + pkt->l3_len;
	if (*stop > frame_len)
		*stop = frame_len;
	*start = pkt->l4_off == 0 || (pkt->flags & ELB_PKT_FRAGMENT) ? *stop
								     : (uint32_t)pkt->l4_off + 8;
}

/* The slot the QUIC step found, or QUIC_SLOT_NONE. */
static __always_inline uint32_t quic_slot_of(const struct elb_pipeline_result *res)
{
	return res->quic == ELB_QUIC_BY_CID + 1 ? res->backend_slot : QUIC_SLOT_NONE;
}

/* The backend of the slot a server ID named, or NULL when the slot is not
 * (or no longer) the VIP's: the transient mismatch at the top, a
 * NO_BACKEND drop as for a Maglev pick. */
static __always_inline const struct elb_backend_slot *quic_backend_of(uint32_t slot,
								      uint16_t vip_index)
{
	const struct elb_backend_slot *b = bpf_map_lookup_elem(&backends, &slot);

	if (b == NULL || b->gen == 0 || b->vip_index != vip_index)
		return NULL;
	return b;
}

/* A step's answer when the packet goes on to the next step; otherwise a
 * step returns the XDP action that ends the packet. The steps share plain
 * locals of run(), not a struct of them: a struct holding the packet,
 * whose address goes to map helpers, keeps all its members on the stack
 * (+211 instructions when tried). */
#define ELB_XDP_CONTINUE (-1)

/*
 * The prefix lists' decision (elb_prefix_list.h), as in elb_pipeline.c: the
 * rule of the VIP's list that holds the client, else the node's, counted
 * in the VIP's prefix_matches by scope and action. Only called when some
 * list exists (scopes != 0), and a function of its own: the program's
 * common path stays as short as without lists.
 * @return the action, ELB_PREFIX_NO_MATCH when no rule holds the client.
 */
static __attribute__((noinline)) uint32_t prefix_decide(struct elb_vip_counters *vc,
							const struct elb_xdp_vip *vip,
							const struct elb_flow_key *key,
							uint32_t scopes)
{
	const struct elb_xdp_prefix_rule *rule = NULL;
	struct elb_xdp_prefix_key k = {};
	uint32_t zero = 0, index, scope = ELB_PREFIX_SCOPE_VIP, action;
	void *trie;

	trie = bpf_map_lookup_elem(&prefixes, &zero);
	if (trie == NULL)
		return ELB_PREFIX_NO_MATCH; /* no trie written yet: no rules */
	index = vip->index;
	k.prefixlen = ELB_XDP_PREFIX_SCOPE_BITS + elb_prefix_family_bits(key->family);
	k.family = key->family;
	k.addr = key->src;
	if ((scopes & ELB_XDP_PREFIX_VIPS) &&
	    ((ELB_READ_ONCE(prefix_vips[(index / 64) % ELB_XDP_PREFIX_VIP_WORDS]) >> (index % 64)) &
	     1)) {
		k.scope = vip->gen;
		rule = bpf_map_lookup_elem(trie, &k);
	}
	if (rule == NULL && (scopes & elb_xdp_prefix_node_bit(key->family))) {
		k.scope = ELB_XDP_PREFIX_NODE;
		scope = ELB_PREFIX_SCOPE_NODE;
		rule = bpf_map_lookup_elem(trie, &k);
	}
	action = rule ? rule->action : ELB_PREFIX_NO_MATCH;
	if (record_results) {
		last_prefix.action = (uint8_t)action;
		last_prefix.scope = (uint8_t)scope;
		last_prefix.index = rule ? rule->index : 0;
	}
	/* The bound is for the verifier: user space writes only 1 and 2. */
	if (action - 1 >= ELB_PREFIX_ACTIONS)
		return ELB_PREFIX_NO_MATCH;
	vc->prefix_matches[scope][action - 1]++;
	return action;
}

/*
 * Step 1, as classify() in elb_pipeline.c: parse the frame [data, end)
 * (len bytes), find the VIP. What is not VIP traffic ends here (XDP_DROP
 * when malformed, XDP_PASS to the kernel); VIP traffic continues with
 * *vip and res->vip_index set.
 */
static __always_inline int classify(struct elb_worker_counters *wc, const uint8_t *data,
				    const uint8_t *end, uint32_t len, struct elb_packet *pkt,
				    const struct elb_xdp_vip **vip, struct elb_pipeline_result *res)
{
	bool address_known;
	int parsed;

	wc->rx.packets++;
	wc->rx.bytes += len;
	parsed = elb_parse(data, end, pkt);
	if (parsed == ELB_PARSE_MALFORMED) {
		count_drop(wc, NULL, res, pkt->reason, len);
		return XDP_DROP;
	}
	if (parsed == ELB_PARSE_NOT_IP)
		goto to_kernel;
	*vip = vip_find(&pkt->key, &address_known);
	if (*vip == NULL) {
		/* A fragment cannot say its port: only an all-ports VIP can take it. */
		if ((pkt->flags & ELB_PKT_FRAGMENT) && address_known) {
			count_drop(wc, NULL, res, ELB_REASON_FRAGMENT_NO_VIP, len);
			return XDP_DROP;
		}
		goto to_kernel;
	}
	res->vip_index = (*vip)->index;
	return ELB_XDP_CONTINUE;

to_kernel:
	res->verdict = ELB_VERDICT_KERNEL;
	wc->verdicts[ELB_VERDICT_KERNEL].packets++;
	wc->verdicts[ELB_VERDICT_KERNEL].bytes += len;
	return XDP_PASS;
}

/*
 * Step 2, as decide() in elb_pipeline.c up to the encapsulation: the flow
 * (looked up, refreshed, or created on a Maglev pick), its backend
 * (*backend, *backend_slot, and its counters *bc_out), the rate limit.
 * Ends the packet with XDP_DROP (no backend, rate limited). *hash is the
 * flow hash if *hashed: taken only where it is used (see below).
 */
static __always_inline int decide(struct xdp_md *ctx, struct elb_worker_counters *wc, uint32_t len,
				  const struct elb_packet *pkt, const struct elb_xdp_vip *vip,
				  struct elb_vip_counters **vc_out,
				  const struct elb_backend_slot **backend, uint32_t *backend_slot,
				  struct elb_backend_counters **bc_out, uint64_t *hash, bool *hashed,
				  bool *unsure, struct elb_pipeline_result *res)
{
	const struct elb_xdp_node *nd = &node_config;
	struct elb_xdp_flow *flow = NULL, *stale = NULL;
	struct elb_backend_counters *bc;
	const struct elb_xdp_admission *admission = NULL;
	struct elb_flow_id id;
	void *table;
	struct elb_vip_counters *vc;
	uint64_t now_ns;
	uint32_t now_tick, scopes;
	bool is_icmp_error, hit;

	/* The token buckets count in nanoseconds: rate-limited VIPs and those
	 * with admission control read the precise clock for them; expiry uses
	 * the flow clock in every case. */
	if (use_test_clock) {
		now_ns = test_now_ns;
		now_tick = elb_flow_tick(now_ns);
	} else {
		now_tick = elb_flow_tick(flow_clock_ns());
		now_ns = vip->rate_limited || (vip->encap_flags & ELB_XDP_VIP_ADMISSION)
				 ? bpf_ktime_get_ns()
				 : 0;
	}
	vc = vip_counters_of(vip);
	if (vc == NULL)
		return XDP_ABORTED; /* index < ELB_MAX_VIPS: cannot happen */
	*vc_out = vc;
	vc->rx.packets++;
	vc->rx.bytes += pkt->l3_len;
	/* Before the flow table: a denied client neither finds nor makes a
	 * flow. Read once: user space changes the globals while packets run,
	 * and two reads could disagree. */
	scopes = ELB_READ_ONCE(prefix_scopes);
	if (ELB_UNLIKELY(scopes) &&
	    prefix_decide(vc, vip, &pkt->key, scopes) == ELB_PREFIX_DENY) {
		count_drop(wc, vc, res, ELB_REASON_SOURCE_DENIED, len);
		return XDP_DROP;
	}

	is_icmp_error = (pkt->flags & ELB_PKT_ICMP_ERROR) != 0;
	/*
	 * The flow hash (SipHash, ~25 ns here) only where it is used: Maglev,
	 * and the outer header of IPv6 and GUE. An established flow to an IPv4
	 * backend does without. A TCP SYN, which nearly always starts a flow,
	 * hashes before the flow lookup: hashed after it, SipHash's ~150
	 * instructions stand between the flow table's cache miss and the
	 * Maglev table's, which the CPU then no longer overlaps (measured:
	 * ~+80 ns per new flow in a large table).
	 */
	if ((pkt->tcp_flags & (ELB_TCP_SYN | ELB_TCP_ACK)) == ELB_TCP_SYN) {
		*hash = elb_flow_hash(&pkt->key, &nd->seed);
		*hashed = true;
	}
	elb_flow_id_set(&id, &pkt->key, res->vip_index);
	table = flow_table();
	if (table)
		flow = bpf_map_lookup_elem(table, &id);
	/* An expired entry is a miss, as elb_flow_lookup frees it; it is kept
	 * aside to be overwritten like the way elb_flow_insert would reuse. */
	if (flow && (flow->state == ELB_FLOW_FREE || elb_flow_tick_expired(flow->expiry, now_tick))) {
		stale = flow;
		flow = NULL;
	}
	if (flow)
		*backend = backend_still_valid(flow, res->vip_index);
	hit = flow && *backend &&
	      !((pkt->tcp_flags & (ELB_TCP_SYN | ELB_TCP_ACK)) == ELB_TCP_SYN &&
		flow->state == ELB_FLOW_TCP_CLOSING);
	/* Admission control, after the flow lookup as in elb_pipeline.c: the
	 * one test a VIP without it pays. */
	if (vip->encap_flags & ELB_XDP_VIP_ADMISSION) {
		uint32_t index = res->vip_index;

		admission = bpf_map_lookup_elem(&vip_admission, &index);
		if (admission && admission->n_source_limits) {
			int verdict = source_admit(admission, &pkt->key.src, index, now_ns,
						   !hit && !is_icmp_error);

			if (verdict != ELB_SOURCE_CONFORMS) {
				count_drop(wc, vc, res,
					   verdict == ELB_SOURCE_OVER_PACKETS
						   ? ELB_REASON_SOURCE_RATE_LIMITED
						   : ELB_REASON_SOURCE_NEW_FLOWS_LIMITED,
					   len);
				return XDP_DROP;
			}
		}
	}
	if (ELB_UNLIKELY(vip->encap_flags & ELB_XDP_VIP_QUIC) && pkt->key.proto == ELB_IPPROTO_UDP &&
	    !is_icmp_error) {
		uint32_t start, stop;

		quic_payload(pkt, len, &start, &stop);
		quic_step(ctx, res, elb_xdp_quic_index(res->vip_index, vip->encap_flags), start, stop);
	}
	if (hit) {
		uint32_t quic_slot = quic_slot_of(res);

		*backend_slot = flow->backend_id;
		/* The server ID in a server's CID names the backend: a flow entry
		 * that says otherwise (the 5-tuple's Maglev pick before the
		 * backend set changed) follows it. */
		if (ELB_UNLIKELY(quic_slot != QUIC_SLOT_NONE) && quic_slot != *backend_slot) {
			*backend = quic_backend_of(quic_slot, res->vip_index);
			if (*backend == NULL) {
				count_drop(wc, vc, res, ELB_REASON_NO_BACKEND, len);
				return XDP_DROP;
			}
			*backend_slot = quic_slot;
			flow->backend_id = quic_slot;
			flow->backend_gen = (*backend)->gen;
			wc->flows_repicked++;
		}
		/* Looked up here, not where the packet is counted at the end:
		 * the first touch of the backend's counter line then overlaps
		 * the work below instead of ending the packet (measured: 6-10%
		 * of an established packet). */
		*bc_out = backend_counters_of(*backend_slot, *backend);
		if (!is_icmp_error) {
			enum elb_flow_state next = elb_flow_state_next(
				(enum elb_flow_state)flow->state, pkt->key.proto, pkt->tcp_flags);

			flow->state = (uint8_t)next;
			flow->expiry = now_tick + state_timeout(vip, next);
		}
		/* A sure entry wins as it is; a mid-stream one carries the
		 * alternate (the one test added to an established hit). */
		if (flow->flags & ELB_FLOW_F_MIDSTREAM) {
			res->midstream = 1;
			*unsure = !is_icmp_error;
		}
	} else {
		if (quic_slot_of(res) != QUIC_SLOT_NONE) {
			*backend_slot = quic_slot_of(res);
			*backend = quic_backend_of(*backend_slot, res->vip_index);
		} else {
			if (!*hashed) {
				*hash = elb_flow_hash(&pkt->key, &nd->seed);
				*hashed = true;
			}
			*backend = maglev_pick(vip, *hash, backend_slot);
		}
		if (*backend == NULL) {
			count_drop(wc, vc, res, ELB_REASON_NO_BACKEND, len);
			return XDP_DROP;
		}
		bc = backend_counters_of(*backend_slot, *backend);
		*bc_out = bc;
		/* An ICMP error follows its flow but creates none. A flow's first
		 * packet (a SYN, a datagram) of a VIP in flood mode is forwarded
		 * to the same backend but makes no entry: the table keeps the
		 * established flows. A mid-stream packet still makes its entry. */
		if (!is_icmp_error && !flow && admission && admission->flow_budget.interval &&
		    !elb_flow_learned_midstream(pkt) &&
		    flow_budget_admit(&admission->flow_budget, res->vip_index, vip->gen, now_ns) ==
			    ELB_FLOW_STATELESS) {
			res->stateless = 1;
		} else if (!is_icmp_error) {
			enum elb_flow_state state = elb_flow_state_new(pkt->key.proto, pkt->tcp_flags);
			/* A re-pick decides anew: a SYN starts the connection
			 * here, anything else is a guess (elb_pipeline.c). */
			bool midstream = elb_flow_learned_midstream(pkt);

			if (flow) {
				/* Keeps its token bucket: a re-pick is no reason to refill it. */
				wc->flows_repicked++;
			} else if (stale) {
				flow = stale;
				flow->bucket.pkt_tat = 0;
				flow->bucket.byte_tat = 0;
			}
			if (flow) {
				flow_start(flow, vip, state, now_tick, *backend_slot, *backend, midstream);
			} else {
				struct elb_xdp_flow fresh = {};

				/* Inserted whole: no second lookup for the entry,
				 * except where the rate limit below needs it. May
				 * evict the least recently used flow when full,
				 * as the DPDK table evicts; never fails otherwise.
				 * On failure the packet still goes, without flow
				 * (and so without rate limit). */
				flow_start(&fresh, vip, state, now_tick, *backend_slot, *backend,
					   midstream);
				if (table && bpf_map_update_elem(table, &id, &fresh, BPF_ANY) == 0 &&
				    vip->rate_limited)
					flow = bpf_map_lookup_elem(table, &id);
			}
			if (midstream) {
				res->midstream = 1;
				*unsure = true;
			}
			res->new_flow = 1;
			wc->new_flows++;
			vc->new_flows++;
			if (bc)
				bc->new_flows++;
		}
	}
	res->backend_slot = *backend_slot;

	if (vip->rate_limited && !is_icmp_error && flow &&
	    !elb_token_bucket_admit(&flow->bucket, &vip->rate_limit, now_ns, pkt->l3_len)) {
		if (!(flow->flags & ELB_FLOW_F_RATE_LIMITED)) {
			flow->flags |= ELB_FLOW_F_RATE_LIMITED;
			vc->rate_limited_flows++;
		}
		count_drop(wc, vc, res, ELB_REASON_RATE_LIMITED, len);
		return XDP_DROP;
	}
	/* Routed by CID: no second-chance alternate, as in elb_pipeline.c. */
	if (quic_slot_of(res) != QUIC_SLOT_NONE)
		*unsure = false;
	return ELB_XDP_CONTINUE;
}

/*
 * Step 3, the end of decide() in elb_pipeline.c: the packet encapsulated
 * toward its backend in place (bpf_xdp_adjust_head) and sent back out
 * (XDP_TX), or the ICMP too-big reply, or XDP_DROP.
 */
static __always_inline int encapsulate(struct xdp_md *ctx, struct elb_worker_counters *wc,
				       struct elb_vip_counters *vc, uint32_t len,
				       const struct elb_packet *pkt, const struct elb_xdp_vip *vip,
				       const struct elb_backend_slot *backend, uint32_t backend_slot,
				       struct elb_backend_counters *bc, uint64_t hash, bool hashed,
				       bool unsure, struct elb_pipeline_result *res)
{
	const struct elb_xdp_node *nd = &node_config;
	struct elb_encap_params encap;
	const uint8_t *data, *end;
	uint32_t overhead, need;
	int out_len, move;

	encap.outer_family = backend->family;
	encap.outer_src = backend->family == ELB_AF_INET ? nd->source_v4 : nd->source_v6;
	encap.outer_dst = backend->addr;
	encap.gue = (vip->encap_flags & ELB_XDP_VIP_GUE) != 0;
	encap.gue_dport = vip->gue_dport;
	encap.mtu = vip->mtu;
	elb_memcpy(encap.src_mac, nd->iface_mac, 6);
	elb_memcpy(encap.dst_mac, nd->gateway_mac, 6);
	if (!hashed && (encap.outer_family != ELB_AF_INET || encap.gue))
		hash = elb_flow_hash(&pkt->key, &nd->seed);
	encap.has_alternate = 0;
	if (unsure && (vip->encap_flags & ELB_XDP_VIP_SECOND_CHANCE)) {
		uint32_t alt_slot = 0;
		const struct elb_backend_slot *alt =
			alternate_of(vip, pkt, hash, backend_slot, backend, &alt_slot);

		if (alt) {
			encap.has_alternate = 1;
			encap.alternate = alt->addr;
			res->has_alternate = 1;
			res->alternate_slot = alt_slot;
		}
	}
	overhead = elb_encap_params_overhead(&encap);

	switch (elb_encap_mtu_check(pkt, &encap)) {
	case ELB_MTU_FITS:
		break;
	case ELB_MTU_TOO_BIG_REPLY:
		/* The ICMP "too big" answer to the client, in place of the packet. */
		need = (uint32_t)sizeof(struct elb_eth_hdr) + elb_icmp_too_big_headroom(pkt->key.family);
		move = (int)pkt->l3_off - (int)need;
		if (move_head(ctx, move, &data, &end)) {
			count_drop(wc, vc, res, ELB_REASON_NO_HEADROOM, len);
			return XDP_DROP;
		}
		out_len = elb_icmp_too_big_write((uint8_t *)data, end, pkt, elb_encap_inner_mtu(&encap),
						 encap.src_mac, encap.dst_mac);
		/* Trim what follows the reply (the unquoted rest of the packet). */
		if (out_len < 0 || bpf_xdp_adjust_tail(ctx, out_len - (int)(end - data))) {
			count_drop(wc, vc, res, ELB_REASON_NO_HEADROOM, len);
			return XDP_DROP;
		}
		res->verdict = ELB_VERDICT_REPLY;
		res->reason = ELB_REASON_TOO_BIG;
		res->head_move = move;
		res->out_len = (uint32_t)out_len;
		wc->drops[ELB_REASON_TOO_BIG]++;
		wc->verdicts[ELB_VERDICT_REPLY].packets++;
		wc->verdicts[ELB_VERDICT_REPLY].bytes += (uint32_t)out_len;
		vc->drops[ELB_REASON_TOO_BIG]++;
		vc->replies++;
		return XDP_TX;
	default:
		count_drop(wc, vc, res, ELB_REASON_TOO_BIG_NO_REPLY, len);
		return XDP_DROP;
	}

	need = (uint32_t)sizeof(struct elb_eth_hdr) + overhead;
	move = (int)pkt->l3_off - (int)need;
	if (move_head(ctx, move, &data, &end)) {
		count_drop(wc, vc, res, ELB_REASON_NO_HEADROOM, len);
		return XDP_DROP;
	}
	/* The common case, plain IPIP to an IPv4 backend, written with its
	 * family and GUE flag known to the compiler (the stores restate what
	 * the test found): the same bytes without the branches of the other
	 * cases, 1-2% of an established packet (README, "beside Katran"). */
	if (encap.outer_family == ELB_AF_INET && !encap.gue) {
		encap.outer_family = ELB_AF_INET;
		encap.gue = 0;
		out_len = elb_encap_write((uint8_t *)data, end, pkt, &encap, hash);
	} else {
		out_len = elb_encap_write((uint8_t *)data, end, pkt, &encap, hash);
	}
	/* Trim Ethernet padding after the inner packet, if there is any. */
	if (out_len < 0 ||
	    (out_len != (int)(end - data) && bpf_xdp_adjust_tail(ctx, out_len - (int)(end - data)))) {
		count_drop(wc, vc, res, ELB_REASON_NO_HEADROOM, len);
		return XDP_DROP;
	}
	res->verdict = ELB_VERDICT_FORWARD;
	res->head_move = move;
	res->out_len = (uint32_t)out_len;
	wc->verdicts[ELB_VERDICT_FORWARD].packets++;
	wc->verdicts[ELB_VERDICT_FORWARD].bytes += (uint32_t)out_len;
	vc->forwarded.packets++;
	vc->forwarded.bytes += (uint32_t)out_len;
	if (bc) {
		bc->forwarded.packets++;
		bc->forwarded.bytes += (uint32_t)out_len;
	}
	return XDP_TX;
}

/* elb_pipeline_run: classify(), decide(), encapsulate(); returns the XDP action. */
static __always_inline int run(struct xdp_md *ctx, struct elb_pipeline_result *res)
{
	const uint8_t *data = (const uint8_t *)(long)ctx->data;
	const uint8_t *end = (const uint8_t *)(long)ctx->data_end;
	uint32_t len = (uint32_t)(end - data), zero = 0, backend_slot = 0;
	const struct elb_backend_slot *backend = NULL;
	struct elb_backend_counters *bc = NULL;
	struct elb_worker_counters *wc;
	struct elb_vip_counters *vc;
	const struct elb_xdp_vip *vip;
	struct elb_packet pkt;
	uint64_t hash = 0;
	bool hashed = false, unsure = false;
	int action;

	wc = bpf_map_lookup_elem(&counters, &zero);
	if (wc == NULL)
		return XDP_ABORTED; /* single-entry array: cannot happen */
	action = classify(wc, data, end, len, &pkt, &vip, res);
	if (action != ELB_XDP_CONTINUE)
		return action;
	action = decide(ctx, wc, len, &pkt, vip, &vc, &backend, &backend_slot, &bc, &hash, &hashed,
			&unsure, res);
	if (action != ELB_XDP_CONTINUE)
		return action;
	return encapsulate(ctx, wc, vc, len, &pkt, vip, backend, backend_slot, bc, hash, hashed,
			   unsure, res);
}

SEC("xdp")
int edgelb_xdp(struct xdp_md *ctx)
{
	struct elb_pipeline_result res = {};
	int action;

	res.vip_index = ELB_NO_VIP;
	action = run(ctx, &res);
	if (record_results)
		last_result = res;
	return action;
}

/*
 * Benchmark only (edgelb-xdp-bench --katran): the least a packet costs in
 * this design, over the live maps, without the flow state, counters, rate
 * limit or checks of edgelb_xdp; what edgelb_xdp costs above them is its
 * bookkeeping. IPv4 backends only; anything else is XDP_PASS. Not loaded
 * unless asked for (xdp_dataplane.load_bench_floor).
 */

/* The floors' common end: the IPIP header toward an IPv4 backend written
 * in front, Ethernet padding trimmed, XDP_TX. */
static __always_inline int floor_ipip_tx(struct xdp_md *ctx, const struct elb_packet *pkt,
					 const struct elb_backend_slot *backend)
{
	const struct elb_xdp_node *nd = &node_config;
	struct elb_encap_params encap = {};
	const uint8_t *data, *end;
	int out_len, move;

	encap.outer_family = ELB_AF_INET;
	encap.outer_src = nd->source_v4;
	encap.outer_dst = backend->addr;
	elb_memcpy(encap.src_mac, nd->iface_mac, 6);
	elb_memcpy(encap.dst_mac, nd->gateway_mac, 6);
	move = (int)pkt->l3_off - (int)(sizeof(struct elb_eth_hdr) + elb_encap_params_overhead(&encap));
	if (move_head(ctx, move, &data, &end))
		return XDP_DROP;
	out_len = elb_encap_write((uint8_t *)data, end, pkt, &encap, 0);
	if (out_len < 0 ||
	    (out_len != (int)(end - data) && bpf_xdp_adjust_tail(ctx, out_len - (int)(end - data))))
		return XDP_DROP;
	return XDP_TX;
}

/* The floors' common start: the parse, the VIP, the flow's id and the
 * CPU's flow table; NULL (the floors' XDP_PASS) for anything but an IP
 * packet to a VIP. */
static __always_inline void *floor_classify(struct xdp_md *ctx, struct elb_packet *pkt,
					    const struct elb_xdp_vip **vip, struct elb_flow_id *id)
{
	const uint8_t *data = (const uint8_t *)(long)ctx->data;
	const uint8_t *end = (const uint8_t *)(long)ctx->data_end;
	bool address_known;

	if (elb_parse(data, end, pkt) != ELB_PARSE_IP)
		return NULL;
	*vip = vip_find(&pkt->key, &address_known);
	if (*vip == NULL)
		return NULL;
	elb_flow_id_set(id, &pkt->key, (*vip)->index);
	return flow_table();
}

/* An established packet: the parse, the VIP and flow lookups (the CPU's
 * table, then the flow), the backend, the IPIP header. */
SEC("?xdp")
int edgelb_floor_lookups(struct xdp_md *ctx)
{
	const struct elb_backend_slot *backend;
	const struct elb_xdp_flow *flow;
	const struct elb_xdp_vip *vip;
	struct elb_packet pkt;
	struct elb_flow_id id;
	void *table;
	uint32_t slot;

	table = floor_classify(ctx, &pkt, &vip, &id);
	if (table == NULL)
		return XDP_PASS;
	flow = bpf_map_lookup_elem(table, &id);
	if (flow == NULL)
		return XDP_PASS;
	slot = flow->backend_id;
	backend = bpf_map_lookup_elem(&backends, &slot);
	if (backend == NULL || backend->family != ELB_AF_INET)
		return XDP_PASS;
	return floor_ipip_tx(ctx, &pkt, backend);
}

/* A new flow (a packet whose flow is not in the table): the parse, the VIP,
 * the flow hash (SipHash: keyed, the C pipeline's), the flow lookup's miss
 * (a SYN may be a retransmission: edgelb_xdp must look), the Maglev pick
 * and its backend, the entry inserted, the IPIP header. A flow found is
 * XDP_PASS: the benchmark sends distinct flows. */
SEC("?xdp")
int edgelb_floor_new_flow(struct xdp_md *ctx)
{
	const struct elb_backend_slot *backend;
	const struct elb_xdp_vip *vip;
	struct elb_xdp_flow fresh = {};
	struct elb_packet pkt;
	struct elb_flow_id id;
	uint64_t hash;
	void *table;
	uint32_t slot;

	table = floor_classify(ctx, &pkt, &vip, &id);
	if (table == NULL)
		return XDP_PASS;
	/* In edgelb_xdp's order for a SYN: the hash first, so that the
	 * Maglev read follows the flow lookup's miss closely. */
	hash = elb_flow_hash(&pkt.key, &node_config.seed);
	if (bpf_map_lookup_elem(table, &id))
		return XDP_PASS;
	backend = maglev_pick(vip, hash, &slot);
	if (backend == NULL || backend->family != ELB_AF_INET)
		return XDP_PASS;
	fresh.backend_id = slot;
	fresh.backend_gen = backend->gen;
	if (bpf_map_update_elem(table, &id, &fresh, BPF_ANY))
		return XDP_PASS;
	return floor_ipip_tx(ctx, &pkt, backend);
}

/* Run once by user space with BPF_PROG_TEST_RUN before the dataplane
 * starts (xdp_maps_init_globals): pairs jiffies with CLOCK_MONOTONIC for
 * flow_clock_ns. XDP_ABORTED: the kernel's HZ is unknown, nothing set. */
SEC("xdp")
int edgelb_clock_sync(struct xdp_md *ctx)
{
	uint64_t hz = CONFIG_HZ, per;

	(void)ctx;
	if (hz == 0)
		return XDP_ABORTED;
	per = (1000000000ull + hz / 2) / hz; /* the kernel's TICK_NSEC */
	jiffies_offset_ns = bpf_ktime_get_ns() - bpf_jiffies64() * per;
	jiffy_ns = per;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
