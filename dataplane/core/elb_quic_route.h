/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Routing a VIP's QUIC packets by connection ID (issue 19,
 * docs/quic-lb.md): which packets carry a CID the servers chose, the
 * server ID in it (elb_quic_lb.h), and the backend that has that server ID.
 *
 * - Short headers (1-RTT) and Handshake packets of QUIC v1 and v2 carry a
 *   DCID the server chose: routed by its server ID when it decodes to one a
 *   backend has.
 * - Initial and 0-RTT packets carry the DCID the client chose before the
 *   server answered: the 5-tuple routes them (Maglev and the flow table, as
 *   any UDP flow), and the server they reach chooses CIDs with its own ID.
 * - Other versions' long headers, payloads that are not QUIC, and CIDs that
 *   do not decode (config ID 0b111, a config ID not configured, too short,
 *   a server ID no backend has) go by the 5-tuple too: the draft's
 *   fallback.
 * The flow table keeps working for all of them (per-flow state, rate
 * limits, counters): a CID decides the backend, not whether a flow exists.
 */
#ifndef ELB_QUIC_ROUTE_H
#define ELB_QUIC_ROUTE_H

#include "elb_compat.h"
#include "elb_parse.h"
#include "elb_quic_lb.h"

/* What a VIP's QUIC packet was routed by; counted per VIP under these names. */
#define ELB_QUIC_OUTCOME_LIST(X)                                                              \
	X(BY_CID, "by_cid", "a server's CID, routed by its server ID")                         \
	X(CLIENT_CID, "client_cid", "Initial or 0-RTT: the client's CID, by the 5-tuple")     \
	X(OTHER_VERSION, "other_version", "long header of a version other than 1 and 2")      \
	X(UNPARSED, "not_quic", "payload too short for a QUIC header")                        \
	X(NO_CONFIG_CODEPOINT, "no_config_codepoint", "config ID 0b111: a server without one") \
	X(UNKNOWN_CONFIG, "unknown_config", "config ID not configured for the VIP")            \
	X(CID_TOO_SHORT, "cid_too_short", "CID shorter than the configuration's")              \
	X(UNKNOWN_SERVER, "unknown_server", "server ID that no backend has")

enum elb_quic_outcome {
#define ELB_QUIC_OUTCOME_ENUM(name, counter, text) ELB_QUIC_##name,
	ELB_QUIC_OUTCOME_LIST(ELB_QUIC_OUTCOME_ENUM)
#undef ELB_QUIC_OUTCOME_ENUM
	ELB_QUIC_OUTCOMES
};

#define ELB_QUIC_NO_SLOT 0xffffffffu

/* A VIP's server-ID table is built so that every server ID in it is found
 * within this many probes (elb_snapshot.c grows it until it is): the bound
 * of the XDP program's probe loop, which must find what edgelb-dp finds. */
#define ELB_QUIC_SERVER_PROBES 16

/* One backend's server ID in a VIP's open-addressed table. */
struct elb_quic_server {
	uint8_t sid[ELB_QUIC_SERVER_ID_MAX]; /* zero past the VIP's server ID length */
	uint8_t used;
	uint32_t slot; /* backend slot */
};

/* A VIP's QUIC routing, built on the control path (elb_vip_quic_build). */
struct elb_vip_quic {
	struct elb_quic_lb_config configs[ELB_QUIC_LB_CONFIGS]; /* by config ID; .active */
	uint32_t server_id_len;
	uint32_t mask; /* servers[] has mask + 1 entries, at most half used */
	struct elb_quic_server servers[];
};

/* What routing found for one packet (flow.explain shows it). */
struct elb_quic_route {
	uint8_t outcome;   /* enum elb_quic_outcome */
	uint8_t packet;    /* enum elb_quic_packet */
	uint8_t config_id; /* when a CID was read */
	uint8_t cid_len;
	uint32_t slot; /* ELB_QUIC_BY_CID: the backend slot */
	/* The DCID (cid_len octets; the rest of the room is read by the
	 * decoder and means nothing), and the server ID when decoded. */
	uint8_t cid[ELB_QUIC_CID_ROOM];
	uint8_t sid[ELB_QUIC_SERVER_ID_MAX];
};

/* A server ID (zero-padded to ELB_QUIC_SERVER_ID_MAX) as two words: its
 * first 8 octets and the 7 after, in host order (both dataplanes hash on
 * the same host). */
ELB_INLINE void elb_quic_sid_words(const uint8_t *sid, uint64_t *lo, uint64_t *hi)
{
	*lo = 0;
	*hi = 0;
	elb_memcpy(lo, sid, 8);
	elb_memcpy(hi, sid + 8, ELB_QUIC_SERVER_ID_MAX - 8);
}

/* Multiply-shift of a server ID's two words: two independent multiplies.
 * Server IDs are the operator's, not the sender's: a sender can only look
 * up. */
ELB_INLINE uint32_t elb_quic_server_hash_words(uint64_t lo, uint64_t hi)
{
	return (uint32_t)((lo * 0x9e3779b97f4a7c15ull + hi * 0xc2b2ae3d27d4eb4full) >> 32);
}

ELB_INLINE uint32_t elb_quic_server_hash(const uint8_t *sid)
{
	uint64_t lo, hi;

	elb_quic_sid_words(sid, &lo, &hi);
	return elb_quic_server_hash_words(lo, hi);
}

ELB_INLINE bool elb_quic_sid_equal(const uint8_t *a, const uint8_t *b)
{
	uint64_t alo, ahi, blo, bhi;

	elb_quic_sid_words(a, &alo, &ahi);
	elb_quic_sid_words(b, &blo, &bhi);
	return alo == blo && ahi == bhi;
}

/* An entry's sid and used flag are 16 consecutive octets: read as two
 * words, a used entry's second word is the server ID's with its last octet
 * (always zero) replaced by the flag, 1. One compare per word, no copy. */
_Static_assert(__builtin_offsetof(struct elb_quic_server, used) == ELB_QUIC_SERVER_ID_MAX,
	       "used follows sid");

/* The host-order word whose last octet is 1: a used entry's flag. */
ELB_INLINE uint64_t elb_quic_server_used_word(void)
{
	static const uint8_t octets[8] = {0, 0, 0, 0, 0, 0, 0, 1};
	uint64_t w;

	elb_memcpy(&w, octets, 8);
	return w;
}

/* The backend slot of a server ID given as its two words (elb_quic_sid_words:
 * hi's last octet zero), or ELB_QUIC_NO_SLOT. The table is at most half
 * full, so a probe ends at an empty entry. */
ELB_INLINE uint32_t elb_quic_server_find_words(const struct elb_vip_quic *q, uint64_t lo,
					       uint64_t hi)
{
	uint64_t want_hi = hi | elb_quic_server_used_word();
	uint32_t i = elb_quic_server_hash_words(lo, hi) & q->mask;

	for (uint32_t n = 0; n <= q->mask; n++, i = (i + 1) & q->mask) {
		const struct elb_quic_server *e = &q->servers[i];
		uint64_t elo, ehi;

		elb_memcpy(&elo, (const uint8_t *)e, 8);
		elb_memcpy(&ehi, (const uint8_t *)e + 8, 8);
		if (elo == lo && ehi == want_hi)
			return e->slot;
		if (!e->used)
			return ELB_QUIC_NO_SLOT;
	}
	return ELB_QUIC_NO_SLOT;
}

/* The same for a server ID of server_id_len octets, zero-padded to
 * ELB_QUIC_SERVER_ID_MAX. */
ELB_INLINE uint32_t elb_quic_server_find(const struct elb_vip_quic *q, const uint8_t *sid)
{
	uint64_t lo, hi;

	elb_quic_sid_words(sid, &lo, &hi);
	return elb_quic_server_find_words(q, lo, hi);
}

#if !defined(__bpf__)
#include <errno.h>
#include <string.h>

/*
 * Route one UDP payload of a QUIC VIP: fills r; @return the backend slot
 * (r->outcome ELB_QUIC_BY_CID) or ELB_QUIC_NO_SLOT (the 5-tuple routes it).
 */
static inline uint32_t elb_quic_route(const struct elb_vip_quic *q, const uint8_t *payload,
				      uint32_t len, struct elb_quic_route *r)
{
	uint32_t off = 0, cid_len = 0, avail;

	r->slot = ELB_QUIC_NO_SLOT;
	r->cid_len = 0;
	r->config_id = 0;
	/* A short header's DCID length is the configuration's: read what
	 * there is, up to the longest, and let the decoder check it. */
	avail = len > 1 ? len - 1 : 0;
	r->packet = (uint8_t)elb_quic_parse(payload, len,
					    avail < ELB_QUIC_CID_MAX ? avail : ELB_QUIC_CID_MAX, &off,
					    &cid_len);
	switch (r->packet) {
	case ELB_QUIC_SHORT:
	case ELB_QUIC_HANDSHAKE:
		break;
	case ELB_QUIC_INITIAL:
	case ELB_QUIC_0RTT:
		r->outcome = ELB_QUIC_CLIENT_CID;
		return ELB_QUIC_NO_SLOT;
	case ELB_QUIC_NOT_QUIC:
		r->outcome = ELB_QUIC_UNPARSED;
		return ELB_QUIC_NO_SLOT;
	default: /* other versions; a Retry is the server's, not expected here */
		r->outcome = ELB_QUIC_OTHER_VERSION;
		return ELB_QUIC_NO_SLOT;
	}
	r->cid_len = (uint8_t)cid_len;
	if (cid_len == 0) {
		r->outcome = ELB_QUIC_CID_TOO_SHORT;
		return ELB_QUIC_NO_SLOT;
	}
	/* A constant-size copy when the datagram holds the longest CID (the
	 * common case: a call to memcpy costs more than the decode). */
	if (len - off >= ELB_QUIC_CID_MAX)
		memcpy(r->cid, payload + off, ELB_QUIC_CID_MAX);
	else
		memcpy(r->cid, payload + off, cid_len);
	r->config_id = (uint8_t)elb_quic_lb_config_id(r->cid);
	if (r->config_id == ELB_QUIC_LB_NO_CONFIG) {
		r->outcome = ELB_QUIC_NO_CONFIG_CODEPOINT;
		return ELB_QUIC_NO_SLOT;
	}
	if (!q->configs[r->config_id].active) {
		r->outcome = ELB_QUIC_UNKNOWN_CONFIG;
		return ELB_QUIC_NO_SLOT;
	}
	if (elb_quic_lb_decode(&q->configs[r->config_id], r->cid, cid_len, r->sid) !=
	    ELB_QUIC_LB_DECODED) {
		r->outcome = ELB_QUIC_CID_TOO_SHORT;
		return ELB_QUIC_NO_SLOT;
	}
	r->slot = elb_quic_server_find(q, r->sid);
	r->outcome = r->slot == ELB_QUIC_NO_SLOT ? ELB_QUIC_UNKNOWN_SERVER : ELB_QUIC_BY_CID;
	return r->slot;
}

/* The same for a parsed packet of a QUIC VIP (UDP, not an ICMP error)
 * in frame[0..len): its datagram's payload, or ELB_QUIC_UNPARSED for a
 * fragment (no datagram to read). */
static inline uint32_t elb_quic_route_packet(const struct elb_vip_quic *q, const uint8_t *frame,
					     uint32_t len, const struct elb_packet *pkt,
					     struct elb_quic_route *r)
{
	uint32_t start = (uint32_t)pkt->l4_off + 8, end = (uint32_t)pkt->l3_off + pkt->l3_len;

	if (end > len)
		end = len;
	if (pkt->l4_off == 0 || (pkt->flags & ELB_PKT_FRAGMENT) || start > end) {
		r->packet = ELB_QUIC_NOT_QUIC;
		r->cid_len = 0;
		r->slot = ELB_QUIC_NO_SLOT;
		r->outcome = ELB_QUIC_UNPARSED;
		return ELB_QUIC_NO_SLOT;
	}
	return elb_quic_route(q, frame + start, end - start, r);
}

/* The plaintext's first 16 octets as two words (elb_quic_route_fast masks
 * them to the server ID's) of a CID of ELB_QUIC_CID_MAX octets that
 * four-pass configuration c fits: with AES-NI, the halves in registers;
 * elb_quic_lb_decode otherwise. Out of line (elb_quic_route.c): inlined,
 * it would enlarge elb_quic_route_fast's frame for every packet. */
void elb_quic_route_four_pass(const struct elb_quic_lb_config *c, const uint8_t *cid, uint64_t *lo,
			      uint64_t *hi);

/* elb_quic_route_packet's slot and outcome alone: out of line
 * (elb_quic_route.c), elb_quic_route_fast's fallback. */
uint32_t elb_quic_route_general(const struct elb_vip_quic *q, const uint8_t *frame, uint32_t len,
				const struct elb_packet *pkt, uint8_t *outcome);

/*
 * The packet path's elb_quic_route_packet: the same slot and outcome
 * (test_quic_lb holds the two equal), without the fields flow.explain
 * shows. The common case, a short header in a datagram that holds the
 * longest CID (the DCID elb_quic_route reads is then 20 octets), is decoded
 * from the frame in place: plaintext and single pass load the 16 octets
 * after the CID's first once, mask them to the server ID's two words and
 * look those up, with nothing copied to the stack (the general path's
 * copies, read back at other offsets and sizes, stall store forwarding).
 * Four pass and everything else go out of line, so that this path needs
 * few registers and no scratch.
 */
static inline uint32_t elb_quic_route_fast(const struct elb_vip_quic *q, const uint8_t *frame,
					   uint32_t len, const struct elb_packet *pkt,
					   uint8_t *outcome)
{
	uint32_t start = (uint32_t)pkt->l4_off + 8, end = (uint32_t)pkt->l3_off + pkt->l3_len;
	const struct elb_quic_lb_config *c;
	const uint8_t *cid;
	uint64_t lo, hi, mask_lo, mask_hi;
	uint8_t plain[ELB_AES_BLOCK];
	uint32_t slot;

	if (end > len)
		end = len;
	if (ELB_UNLIKELY(pkt->l4_off == 0 || (pkt->flags & ELB_PKT_FRAGMENT) ||
			 end < start + 1 + ELB_QUIC_CID_MAX || (frame[start] & 0x80)))
		return elb_quic_route_general(q, frame, len, pkt, outcome);
	cid = frame + start + 1;
	if (ELB_UNLIKELY(elb_quic_lb_config_id(cid) == ELB_QUIC_LB_NO_CONFIG)) {
		*outcome = ELB_QUIC_NO_CONFIG_CODEPOINT;
		return ELB_QUIC_NO_SLOT;
	}
	c = &q->configs[elb_quic_lb_config_id(cid)];
	if (ELB_UNLIKELY(!c->active)) {
		*outcome = ELB_QUIC_UNKNOWN_CONFIG;
		return ELB_QUIC_NO_SLOT;
	}
	if (ELB_UNLIKELY(!elb_quic_lb_fits(c, ELB_QUIC_CID_MAX))) {
		*outcome = ELB_QUIC_CID_TOO_SHORT;
		return ELB_QUIC_NO_SLOT;
	}
	/* elb_quic_lb_masked_sid's words, kept in registers */
	if (c->mode == ELB_QUIC_LB_PLAINTEXT) {
		elb_memcpy(&lo, cid + 1, 8);
		elb_memcpy(&hi, cid + 9, 8);
	} else if (c->mode == ELB_QUIC_LB_SINGLE_PASS) {
		elb_aes128_decrypt(&c->key, cid + 1, plain);
		elb_memcpy(&lo, plain, 8);
		elb_memcpy(&hi, plain + 8, 8);
	} else {
		elb_quic_route_four_pass(c, cid, &lo, &hi);
	}
	elb_memcpy(&mask_lo, c->sid_mask, 8);
	elb_memcpy(&mask_hi, c->sid_mask + 8, 8);
	slot = elb_quic_server_find_words(q, lo & mask_lo, hi & mask_hi);
	*outcome = slot == ELB_QUIC_NO_SLOT ? ELB_QUIC_UNKNOWN_SERVER : ELB_QUIC_BY_CID;
	return slot;
}

/* "short", "handshake", ... */
const char *elb_quic_packet_name(enum elb_quic_packet packet);

/* Counter name of an outcome ("by_cid"), or "unknown". */
const char *elb_quic_outcome_name(enum elb_quic_outcome outcome);
const char *elb_quic_outcome_text(enum elb_quic_outcome outcome);

/* Table entries for n server IDs: a power of two, at least twice n. */
static inline uint32_t elb_quic_servers_size(uint32_t n)
{
	uint32_t size = 4;

	while (size < 2 * n)
		size <<= 1;
	return size;
}

/* Put a server ID (zero-padded) in a table being built. @return 0, or
 * -EEXIST when another backend has it. */
static inline int elb_quic_server_add(struct elb_vip_quic *q, const uint8_t *sid, uint32_t slot)
{
	uint32_t i = elb_quic_server_hash(sid) & q->mask;

	while (q->servers[i].used) {
		if (elb_quic_sid_equal(q->servers[i].sid, sid))
			return -EEXIST;
		i = (i + 1) & q->mask;
	}
	memcpy(q->servers[i].sid, sid, ELB_QUIC_SERVER_ID_MAX);
	q->servers[i].used = 1;
	q->servers[i].slot = slot;
	return 0;
}
#endif

#endif /* ELB_QUIC_ROUTE_H */
