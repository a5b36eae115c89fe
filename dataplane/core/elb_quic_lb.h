/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * QUIC-LB (draft-ietf-quic-load-balancers, issue 19): the server ID a QUIC
 * server encoded in the connection IDs it chose, so that a client that
 * moves to another address keeps its server. This file: finding the
 * Destination Connection ID in a UDP payload (RFC 8999's invariants, the
 * packet types of QUIC versions 1 and 2) and taking the server ID out of
 * it with one of the draft's three algorithms:
 *   - plaintext: the server ID follows the first octet;
 *   - single pass: server ID and nonce are 16 octets, one AES-128-ECB block,
 *     decrypted once;
 *   - four pass: any other length, a four-round Feistel network whose
 *     round function is AES-128-ECB encryption; decoding takes three
 *     rounds, four when the server ID is longer than the nonce.
 * The first octet's top three bits name the configuration (0..6; 0b111 is
 * a server without one: always the 5-tuple), the other five may carry the
 * CID's length and are not trusted.
 *
 * Routing (which packets try the CID, what a decoded server ID maps to)
 * is the pipeline's; this file only decodes.
 */
#ifndef ELB_QUIC_LB_H
#define ELB_QUIC_LB_H

#include "elb_compat.h"

#define ELB_QUIC_CID_MAX 20       /* QUIC v1 and v2 connection IDs */
#define ELB_QUIC_LB_CONFIGS 7     /* config IDs 0..6 */
#define ELB_QUIC_LB_NO_CONFIG 7   /* 0b111: the server has no configuration */
#define ELB_QUIC_SERVER_ID_MAX 15 /* octets */
#define ELB_QUIC_NONCE_MIN 4
#define ELB_QUIC_PLAINTEXT_MAX 19 /* server ID + nonce, within a 20-octet CID */

#define ELB_QUIC_VERSION_1 0x00000001u
#define ELB_QUIC_VERSION_2 0x6b3343cfu

enum elb_quic_packet {
	ELB_QUIC_NOT_QUIC = 0,  /* too short, or a long header that does not parse */
	ELB_QUIC_INITIAL,       /* v1/v2 Initial: the client chose the DCID */
	ELB_QUIC_0RTT,          /* v1/v2 0-RTT: the client chose the DCID */
	ELB_QUIC_HANDSHAKE,     /* v1/v2 Handshake: the server's DCID */
	ELB_QUIC_RETRY,         /* v1/v2 Retry (server to client: not expected here) */
	ELB_QUIC_LONG_OTHER,    /* long header of another version (or version negotiation) */
	ELB_QUIC_SHORT,         /* short header (1-RTT): the server's DCID */
};

/*
 * The packet type and Destination Connection ID of a UDP payload. A short
 * header does not carry its DCID's length: short_cid_len is the VIP's
 * (the length its servers' CIDs have). *dcid_off and *dcid_len locate the
 * DCID in the payload.
 */
ELB_INLINE enum elb_quic_packet elb_quic_parse(const uint8_t *payload, uint32_t len,
					       uint32_t short_cid_len, uint32_t *dcid_off,
					       uint32_t *dcid_len)
{
	uint32_t version, type;

	if (len < 1)
		return ELB_QUIC_NOT_QUIC;
	if (!(payload[0] & 0x80)) {
		if (len < 1 + short_cid_len)
			return ELB_QUIC_NOT_QUIC;
		*dcid_off = 1;
		*dcid_len = short_cid_len;
		return ELB_QUIC_SHORT;
	}
	if (len < 6)
		return ELB_QUIC_NOT_QUIC;
	*dcid_len = payload[5];
	*dcid_off = 6;
	if (*dcid_len > ELB_QUIC_CID_MAX || len < 6 + *dcid_len)
		return ELB_QUIC_NOT_QUIC;
	version = (uint32_t)payload[1] << 24 | (uint32_t)payload[2] << 16 |
		  (uint32_t)payload[3] << 8 | payload[4];
	type = (payload[0] >> 4) & 3;
	if (version == ELB_QUIC_VERSION_1)
		return (enum elb_quic_packet)(ELB_QUIC_INITIAL + type);
	if (version == ELB_QUIC_VERSION_2) /* RFC 9369: the types are rotated by one */
		return (enum elb_quic_packet)(ELB_QUIC_INITIAL + ((type + 3) & 3));
	return ELB_QUIC_LONG_OTHER;
}

enum elb_quic_lb_mode {
	ELB_QUIC_LB_PLAINTEXT = 0,
	ELB_QUIC_LB_SINGLE_PASS, /* server_id_len + nonce_len == 16 */
	ELB_QUIC_LB_FOUR_PASS,
};

/* Why a CID gives no server ID (the 5-tuple routes it instead). */
enum elb_quic_lb_miss {
	ELB_QUIC_LB_DECODED = 0,
	ELB_QUIC_LB_FALLBACK_CODEPOINT, /* config ID 0b111 */
	ELB_QUIC_LB_UNKNOWN_CONFIG,     /* no configuration with that ID */
	ELB_QUIC_LB_TOO_SHORT,          /* shorter than first octet + server ID + nonce */
	ELB_QUIC_LB_UNKNOWN_SERVER,     /* decoded, but no backend has that server ID */
	ELB_QUIC_LB_MISSES,
};

/* The AES the decoder runs: AES-NI or tables in C (elb_aes.c); in BPF the
 * tables, inline unless the program names its own (a BPF-to-BPF call). */
#if defined(__bpf__)
#include "elb_aes_tables.h"
#ifndef elb_quic_lb_aes_encrypt
#define elb_quic_lb_aes_encrypt elb_aes128_encrypt_tables
#define elb_quic_lb_aes_decrypt elb_aes128_decrypt_tables
#endif
#else
#include "elb_aes.h"
#define elb_quic_lb_aes_encrypt elb_aes128_encrypt
#define elb_quic_lb_aes_decrypt elb_aes128_decrypt
#endif

/* One configuration of a VIP, as the control path built it. */
struct elb_quic_lb_config {
	uint8_t active;
	uint8_t mode; /* enum elb_quic_lb_mode */
	uint8_t server_id_len;
	uint8_t nonce_len;
	uint8_t pad0[4];
	/* 0xff for each octet of a server ID, 0 after: the decoded plaintext
	 * ANDed with it, a word at a time, is the server ID, zero-padded.
	 * Masks and halves are word-aligned: BPF reads an unaligned word
	 * octet by octet. */
	uint8_t sid_mask[16] __attribute__((aligned(8)));
	/* 0xff for each octet of a half of the four-pass network
	 * ((server_id_len + nonce_len + 1) / 2), 0 after: the halves are
	 * moved and mixed 8 octets at a time, without a test per octet. */
	uint8_t half_mask[16] __attribute__((aligned(8)));
	uint8_t pad[8];
	struct elb_aes128_key key; /* single and four pass */
};

/* The config ID of a CID (its first octet's top three bits). */
ELB_INLINE uint32_t elb_quic_lb_config_id(const uint8_t *cid)
{
	return cid[0] >> 5;
}

/* The halves of a plaintext (or ciphertext) of len (5..19) octets: half =
 * len / 2 rounded up, octets each; for an odd len they share the middle
 * octet, its high nibble ending the left half, its low one starting the
 * right. Whole words rather than loops over octets: a test per octet
 * costs in C, and in BPF its results, kept across the AES call, spill to
 * a stack the XDP program has no room for. Run-time indexes go through
 * ELB_INDEX (the verifier checks every offset a mask allows). */
#define ELB_QUIC_HALF_MAX ((ELB_QUIC_PLAINTEXT_MAX + 1) / 2)
#define ELB_QUIC_HALF_ROOM 16 /* a power of two above ELB_QUIC_HALF_MAX */
#define ELB_QUIC_PLAIN_ROOM 32

/* Room for a CID that decode may index (first octet + a plaintext). */
#define ELB_QUIC_CID_ROOM (1 + ELB_QUIC_PLAIN_ROOM)

struct elb_quic_lb_halves {
	uint8_t left[ELB_QUIC_HALF_ROOM] __attribute__((aligned(8)));
	uint8_t right[ELB_QUIC_HALF_ROOM] __attribute__((aligned(8)));
};

/* A decode's scratch: on the stack in C (elb_quic_lb_decode); in a
 * per-CPU map in the XDP program, whose stack has no room left for it. */
struct elb_quic_lb_work {
	uint8_t plain[ELB_QUIC_PLAIN_ROOM] __attribute__((aligned(8)));
	struct elb_quic_lb_halves h;
	uint8_t block[ELB_AES_BLOCK] __attribute__((aligned(8)));
};

/* 16 octets: dst = src & mask, or dst ^= src & mask. Octet by octet, no
 * test: C compilers make vector operations of it, and BPF keeps no more
 * than an octet live. */
ELB_INLINE void elb_quic_lb_and16(uint8_t *dst, const uint8_t *src, const uint8_t *mask)
{
	ELB_UNROLL
	for (uint32_t i = 0; i < 16; i++)
		dst[i] = src[i] & mask[i];
}

ELB_INLINE void elb_quic_lb_xor16(uint8_t *dst, const uint8_t *src, const uint8_t *mask)
{
	ELB_UNROLL
	for (uint32_t i = 0; i < 16; i++)
		dst[i] ^= src[i] & mask[i];
}

ELB_INLINE uint32_t elb_quic_lb_len(const struct elb_quic_lb_config *c)
{
	return (uint32_t)c->server_id_len + c->nonce_len;
}

/* in: the plaintext or ciphertext, with ELB_QUIC_PLAIN_ROOM octets of
 * room (those past its length read and masked off). */
ELB_INLINE void elb_quic_lb_split(const struct elb_quic_lb_config *c, const uint8_t *in,
				  struct elb_quic_lb_halves *h)
{
	uint32_t len = elb_quic_lb_len(c), half = (len + 1) / 2;

	elb_quic_lb_and16(h->left, in, c->half_mask);
	elb_quic_lb_and16(h->right, in + ELB_INDEX(len / 2, ELB_QUIC_HALF_ROOM - 1), c->half_mask);
	if (len & 1) {
		h->left[ELB_INDEX(half - 1, ELB_QUIC_HALF_ROOM - 1)] &= 0xf0;
		h->right[0] &= 0x0f;
	}
}

/* The inverse of split: the len octets to out (ELB_QUIC_PLAIN_ROOM of
 * room, zero after them). The right half follows the left, its first
 * octet ORed into the left's last when they share it (its high nibble is
 * zero then, and the left's low one). */
ELB_INLINE void elb_quic_lb_join(const struct elb_quic_lb_config *c,
				 const struct elb_quic_lb_halves *h, uint8_t *out)
{
	uint32_t len = elb_quic_lb_len(c), half = (len + 1) / 2;
	uint8_t *right = out + ELB_INDEX(half - (len & 1), ELB_QUIC_HALF_ROOM - 1);

	ELB_UNROLL
	for (uint32_t i = 0; i < ELB_QUIC_PLAIN_ROOM; i++)
		out[i] = i < ELB_QUIC_HALF_ROOM ? h->left[i] : 0;
	elb_quic_lb_xor16(right, h->right, c->half_mask);
}

/* The draft's round on the halves of w under configuration c: target ^=
 * truncate(AES(expand(len, pass, source)), half), then the odd-length
 * nibble of target cleared (the high one of a right half, the low one of a
 * left half); the target is the right half or the left, the source the
 * other. w->block is scratch. */
ELB_INLINE void elb_quic_lb_round(const struct elb_quic_lb_config *c, uint32_t pass,
				  struct elb_quic_lb_work *w, bool target_is_right)
{
	const uint8_t *source = target_is_right ? w->h.left : w->h.right;
	uint8_t *target = target_is_right ? w->h.right : w->h.left;
	uint32_t len = elb_quic_lb_len(c), half = (len + 1) / 2;

	elb_quic_lb_and16(w->block, source, c->half_mask);
	w->block[14] = (uint8_t)len;
	w->block[15] = (uint8_t)pass;
	elb_quic_lb_aes_encrypt(&c->key, w->block, w->block);
	elb_quic_lb_xor16(target, w->block, c->half_mask);
	if (len & 1) {
		if (target_is_right)
			target[0] &= 0x0f;
		else
			target[ELB_INDEX(half - 1, ELB_QUIC_HALF_ROOM - 1)] &= 0xf0;
	}
}

/* What decode calls for a round: this, unless a BPF program names its
 * own (bpf/edgelb_quic.h: a call rather than four inlined copies). */
#ifndef elb_quic_lb_round_call
#define elb_quic_lb_round_call elb_quic_lb_round
#endif

/* The four-pass network backwards: the ciphertext (ELB_QUIC_PLAIN_ROOM
 * octets of room) to w->plain. */
ELB_INLINE void elb_quic_lb_four_pass_decrypt(const struct elb_quic_lb_config *c,
					      const uint8_t *ciphertext, struct elb_quic_lb_work *w)
{
	elb_quic_lb_split(c, ciphertext, &w->h);
	elb_quic_lb_round_call(c, 4, w, false); /* left_1 */
	elb_quic_lb_round_call(c, 3, w, true);  /* right_1 */
	elb_quic_lb_round_call(c, 2, w, false); /* left_0 */
	/* The server ID is in left_0 when the nonce is at least as long. */
	if (c->server_id_len > elb_quic_lb_len(c) / 2)
		elb_quic_lb_round_call(c, 1, w, true); /* right_0 */
	elb_quic_lb_join(c, &w->h, w->plain);
}

/* And what decode calls for it (bpf/edgelb_quic.h: a call of its own). */
#ifndef elb_quic_lb_four_pass_call
#define elb_quic_lb_four_pass_call elb_quic_lb_four_pass_decrypt
#endif

/* Whether a CID of cid_len octets is long enough for configuration c. */
ELB_INLINE bool elb_quic_lb_fits(const struct elb_quic_lb_config *c, uint32_t cid_len)
{
	uint32_t len = (uint32_t)c->server_id_len + c->nonce_len;

	return cid_len >= 1 + len && len <= ELB_QUIC_PLAINTEXT_MAX && len >= 5;
}

/* The server ID out of a decoded plaintext (16 octets): its first octets,
 * masked, two words at a time (byte-wise, so the host's byte order does
 * not matter). */
ELB_INLINE void elb_quic_lb_masked_sid(const struct elb_quic_lb_config *c, const uint8_t *plain,
				       uint8_t *sid)
{
	ELB_UNROLL
	for (uint32_t i = 0; i < ELB_QUIC_SERVER_ID_MAX; i++)
		sid[i] = plain[i] & c->sid_mask[i];
}

/* elb_quic_lb_decode of a plaintext configuration: without the AES calls,
 * for the XDP program (whose stack has no room for AES by tables). */
ELB_INLINE enum elb_quic_lb_miss elb_quic_lb_decode_plaintext(const struct elb_quic_lb_config *c,
							      const uint8_t *cid, uint32_t cid_len,
							      uint8_t *sid)
{
	if (!elb_quic_lb_fits(c, cid_len))
		return ELB_QUIC_LB_TOO_SHORT;
	elb_quic_lb_masked_sid(c, cid + 1, sid);
	return ELB_QUIC_LB_DECODED;
}

/*
 * The server ID of a CID of cid_len octets (its first octet included, at
 * most ELB_QUIC_CID_MAX; cid is a buffer of ELB_QUIC_CID_ROOM octets, those
 * past cid_len read and not used: the BPF verifier checks every index a
 * mask allows) under configuration c: written to sid
 * (ELB_QUIC_SERVER_ID_MAX octets of room; c->server_id_len are the ID),
 * with w as scratch.
 * @return ELB_QUIC_LB_DECODED, or ELB_QUIC_LB_TOO_SHORT.
 */
ELB_INLINE enum elb_quic_lb_miss elb_quic_lb_decode_with(const struct elb_quic_lb_config *c,
							 const uint8_t *cid, uint32_t cid_len,
							 uint8_t *sid, struct elb_quic_lb_work *w)
{
	const uint8_t *plain = cid + 1;

	if (!elb_quic_lb_fits(c, cid_len))
		return ELB_QUIC_LB_TOO_SHORT;
	if (c->mode == ELB_QUIC_LB_SINGLE_PASS) {
		elb_quic_lb_aes_decrypt(&c->key, cid + 1, w->plain);
		plain = w->plain;
	} else if (c->mode == ELB_QUIC_LB_FOUR_PASS) {
		elb_quic_lb_four_pass_call(c, cid + 1, w);
		plain = w->plain;
	}
	/* One place that masks, whichever the mode (in BPF, two copies of
	 * it merged by the compiler spill their offsets). */
	elb_quic_lb_masked_sid(c, plain, sid);
	return ELB_QUIC_LB_DECODED;
}

/* The same with its scratch on the stack. */
ELB_INLINE enum elb_quic_lb_miss elb_quic_lb_decode(const struct elb_quic_lb_config *c,
						    const uint8_t *cid, uint32_t cid_len,
						    uint8_t *sid)
{
	struct elb_quic_lb_work w;

	return elb_quic_lb_decode_with(c, cid, cid_len, sid, &w);
}

#if !defined(__bpf__)
/*
 * The inverse, for tests and tools (a server's side): a CID of config ID
 * config_id from server ID sid and nonce (c->nonce_len octets), the first
 * octet's low five bits the length that follows it. Writes 1 +
 * server_id_len + nonce_len octets to cid.
 */
void elb_quic_lb_encode(const struct elb_quic_lb_config *c, uint32_t config_id, const uint8_t *sid,
			const uint8_t *nonce, uint8_t *cid);

/* Control path: fill c. A key is needed (16 octets) unless mode is
 * plaintext, chosen from the lengths and whether a key is given.
 * @return 0 or -EINVAL (lengths outside the draft's limits). */
int elb_quic_lb_config_init(struct elb_quic_lb_config *c, uint32_t server_id_len,
			    uint32_t nonce_len, const uint8_t *key);
#endif

#endif /* ELB_QUIC_LB_H */
