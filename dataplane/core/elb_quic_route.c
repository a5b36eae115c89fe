/* SPDX-License-Identifier: BSD-3-Clause */
/* The names of QUIC routing outcomes, and the packet path's parts kept out
 * of line (the general route, four-pass decoding); see elb_quic_route.h. */
#include "elb_quic_route.h"

static const char *const outcome_names[] = {
#define ELB_QUIC_OUTCOME_NAME(name, counter, text) counter,
	ELB_QUIC_OUTCOME_LIST(ELB_QUIC_OUTCOME_NAME)
#undef ELB_QUIC_OUTCOME_NAME
};

static const char *const outcome_texts[] = {
#define ELB_QUIC_OUTCOME_TEXT(name, counter, text) text,
	ELB_QUIC_OUTCOME_LIST(ELB_QUIC_OUTCOME_TEXT)
#undef ELB_QUIC_OUTCOME_TEXT
};

const char *elb_quic_outcome_name(enum elb_quic_outcome outcome)
{
	return (unsigned int)outcome < ELB_QUIC_OUTCOMES ? outcome_names[outcome] : "unknown";
}

const char *elb_quic_outcome_text(enum elb_quic_outcome outcome)
{
	return (unsigned int)outcome < ELB_QUIC_OUTCOMES ? outcome_texts[outcome] : "unknown";
}

const char *elb_quic_packet_name(enum elb_quic_packet packet)
{
	static const char *const names[] = {
		[ELB_QUIC_NOT_QUIC] = "not_quic", [ELB_QUIC_INITIAL] = "initial",
		[ELB_QUIC_0RTT] = "0rtt",	  [ELB_QUIC_HANDSHAKE] = "handshake",
		[ELB_QUIC_RETRY] = "retry",	  [ELB_QUIC_LONG_OTHER] = "other_version",
		[ELB_QUIC_SHORT] = "short",
	};

	return (unsigned int)packet < ELB_ARRAY_SIZE(names) ? names[packet] : "unknown";
}

uint32_t elb_quic_route_general(const struct elb_vip_quic *q, const uint8_t *frame, uint32_t len,
				const struct elb_packet *pkt, uint8_t *outcome)
{
	struct elb_quic_route r;
	uint32_t slot = elb_quic_route_packet(q, frame, len, pkt, &r);

	*outcome = r.outcome;
	return slot;
}

#if defined(__x86_64__) && defined(__GNUC__)
/* x shifted toward its first octet by n (0..15) octets, zeros after. */
ELB_AESNI_TARGET static inline __m128i octets_down(__m128i x, uint32_t n)
{
	if (n >= 8) {
		x = _mm_srli_si128(x, 8);
		n -= 8;
	}
	/* Per 64-bit lane, then the upper lane's low octets carried down
	 * (a shift by 64 bits gives zero). */
	return _mm_or_si128(_mm_srl_epi64(x, _mm_cvtsi32_si128((int)(8 * n))),
			    _mm_sll_epi64(_mm_srli_si128(x, 8), _mm_cvtsi32_si128((int)(64 - 8 * n))));
}

/* x shifted away from its first octet by n (0..15) octets, zeros before. */
ELB_AESNI_TARGET static inline __m128i octets_up(__m128i x, uint32_t n)
{
	if (n >= 8) {
		x = _mm_slli_si128(x, 8);
		n -= 8;
	}
	return _mm_or_si128(_mm_sll_epi64(x, _mm_cvtsi32_si128((int)(8 * n))),
			    _mm_srl_epi64(_mm_slli_si128(x, 8), _mm_cvtsi32_si128((int)(64 - 8 * n))));
}

/* The first n (0..16) octets all ones. */
ELB_AESNI_TARGET static inline __m128i first_octets(uint32_t n)
{
	static const uint8_t ones_then_zeros[32] = {
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	};

	return _mm_loadu_si128((const __m128i *)(ones_then_zeros + 16 - n));
}

/* elb_quic_lb_round on a half held in a register: target ^= the AES
 * encryption of source (zero past its half) with len and pass in the
 * block's last two octets, masked to the target's octets (the shared
 * nibble cleared: target_mask). */
ELB_AESNI_TARGET static inline __m128i four_pass_round(const struct elb_aes128_key *k,
						       __m128i source, __m128i target,
						       __m128i target_mask, uint32_t len,
						       uint32_t pass)
{
	uint64_t tail = (uint64_t)len << 48 | (uint64_t)pass << 56;
	__m128i x = _mm_or_si128(source, _mm_set_epi64x((long long)tail, 0));

	x = elb_aes128_encrypt_aesni(k, x);
	return _mm_xor_si128(target, _mm_and_si128(x, target_mask));
}

/*
 * elb_quic_lb_decode_with's four passes with each half in a register: the
 * same split, rounds and join (test_quic_lb holds it to the general path),
 * without the octet-by-octet copies between arrays and the AES calls
 * through memory. The plaintext P is cid[1..1+len); its right half,
 * P[len/2..len), is read from cid + 1 or, for len 17..19, cid + 4, so that
 * no load passes the CID's 20 octets.
 */
ELB_AESNI_TARGET static void four_pass_aesni(const struct elb_quic_lb_config *c,
					     const uint8_t *cid, uint64_t *lo, uint64_t *hi)
{
	uint32_t len = (uint32_t)c->server_id_len + c->nonce_len, half = (len + 1) / 2;
	uint32_t shift = len / 2, odd = len & 1;
	__m128i p = _mm_loadu_si128((const __m128i *)(cid + 1));
	__m128i half_mask = first_octets(half);
	/* An odd length's middle octet: its high nibble ends the left half,
	 * its low one starts the right. */
	__m128i left_mask = _mm_xor_si128(half_mask, _mm_and_si128(_mm_set1_epi8(odd ? 0x0f : 0),
								   _mm_andnot_si128(first_octets(half - 1),
										    half_mask)));
	__m128i right_mask = _mm_xor_si128(half_mask, _mm_cvtsi32_si128(odd ? 0xf0 : 0));
	__m128i left = _mm_and_si128(p, left_mask), right, out;

	if (len <= 16)
		right = octets_down(p, shift);
	else
		right = octets_down(_mm_loadu_si128((const __m128i *)(cid + 4)), shift - 3);
	right = _mm_and_si128(right, right_mask);
	left = four_pass_round(&c->key, right, left, left_mask, len, 4);  /* left_1 */
	right = four_pass_round(&c->key, left, right, right_mask, len, 3); /* right_1 */
	left = four_pass_round(&c->key, right, left, left_mask, len, 2);  /* left_0 */
	if (c->server_id_len > shift) /* the server ID reaches the right half */
		right = four_pass_round(&c->key, left, right, right_mask, len, 1); /* right_0 */
	out = _mm_or_si128(left, octets_up(right, shift));
	*lo = (uint64_t)_mm_cvtsi128_si64(out);
	*hi = (uint64_t)_mm_cvtsi128_si64(_mm_srli_si128(out, 8));
}
#endif

void elb_quic_route_four_pass(const struct elb_quic_lb_config *c, const uint8_t *cid, uint64_t *lo,
			      uint64_t *hi)
{
	uint8_t sid[ELB_QUIC_SERVER_ID_MAX];

#if defined(__x86_64__) && defined(__GNUC__)
	if (elb_aes128_uses_aesni()) {
		four_pass_aesni(c, cid, lo, hi);
		return;
	}
#endif
	elb_quic_lb_decode(c, cid, ELB_QUIC_CID_MAX, sid); /* c fits: decoded */
	elb_quic_sid_words(sid, lo, hi);
}
