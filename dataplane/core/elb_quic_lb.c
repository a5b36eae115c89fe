/* SPDX-License-Identifier: BSD-3-Clause */
/* QUIC-LB connection IDs; see elb_quic_lb.h. The four-pass network follows
 * the draft's "Algorithm Description" and "Load Balancer Actions". */
#include "elb_quic_lb.h"

#include <errno.h>
#include <string.h>

/* The halves of a plaintext (or ciphertext) of len octets: half octets
 * each; when len is odd they share the middle octet, its high nibble in
 * the left half's last octet and its low nibble in the right half's first. */
struct halves {
	uint8_t left[ELB_AES_BLOCK / 2 + 2];
	uint8_t right[ELB_AES_BLOCK / 2 + 2];
};

static void split(const uint8_t *in, uint32_t len, struct halves *h)
{
	uint32_t half = (len + 1) / 2;

	memcpy(h->left, in, half);
	memcpy(h->right, in + len / 2, half);
	if (len & 1) {
		h->left[half - 1] &= 0xf0;
		h->right[0] &= 0x0f;
	}
}

static void join(const struct halves *h, uint32_t len, uint8_t *out)
{
	uint32_t half = (len + 1) / 2;

	memcpy(out, h->left, half);
	if (len & 1)
		out[half - 1] |= h->right[0];
	memcpy(out + half, h->right + (len & 1), len / 2);
}

/* target ^= truncate(AES(expand(len, pass, source)), half), then the
 * odd-length nibble of target cleared: the high one of a right half, the
 * low one of a left half. */
static void feistel_round(const struct elb_aes128_key *key, uint32_t len, uint8_t pass,
			  const uint8_t *source, uint8_t *target, bool target_is_right)
{
	uint32_t half = (len + 1) / 2;
	uint8_t block[ELB_AES_BLOCK] = {0};

	memcpy(block, source, half);
	block[14] = (uint8_t)len;
	block[15] = pass;
	elb_aes128_encrypt(key, block, block);
	for (uint32_t i = 0; i < half; i++)
		target[i] ^= block[i];
	if (len & 1) {
		if (target_is_right)
			target[0] &= 0x0f;
		else
			target[half - 1] &= 0xf0;
	}
}

enum elb_quic_lb_miss elb_quic_lb_decode(const struct elb_quic_lb_config *c, const uint8_t *cid,
					 uint32_t cid_len, uint8_t *sid)
{
	uint32_t len = (uint32_t)c->server_id_len + c->nonce_len;
	uint8_t plain[ELB_AES_BLOCK + 3];
	struct halves h;

	if (cid_len < 1 + len)
		return ELB_QUIC_LB_TOO_SHORT;
	switch (c->mode) {
	case ELB_QUIC_LB_PLAINTEXT:
		memcpy(sid, cid + 1, c->server_id_len);
		break;
	case ELB_QUIC_LB_SINGLE_PASS:
		elb_aes128_decrypt(&c->key, cid + 1, plain);
		memcpy(sid, plain, c->server_id_len);
		break;
	default:
		split(cid + 1, len, &h);
		feistel_round(&c->key, len, 4, h.right, h.left, false); /* left_1 */
		feistel_round(&c->key, len, 3, h.left, h.right, true);  /* right_1 */
		feistel_round(&c->key, len, 2, h.right, h.left, false); /* left_0 */
		/* The server ID is in left_0 when the nonce is at least as long. */
		if (c->server_id_len > len / 2)
			feistel_round(&c->key, len, 1, h.left, h.right, true); /* right_0 */
		join(&h, len, plain);
		memcpy(sid, plain, c->server_id_len);
		break;
	}
	return ELB_QUIC_LB_DECODED;
}

void elb_quic_lb_encode(const struct elb_quic_lb_config *c, uint32_t config_id, const uint8_t *sid,
			const uint8_t *nonce, uint8_t *cid)
{
	uint32_t len = (uint32_t)c->server_id_len + c->nonce_len;
	uint8_t plain[ELB_AES_BLOCK + 3];
	struct halves h;

	memcpy(plain, sid, c->server_id_len);
	memcpy(plain + c->server_id_len, nonce, c->nonce_len);
	cid[0] = (uint8_t)(config_id << 5 | (len & 0x1f));
	switch (c->mode) {
	case ELB_QUIC_LB_PLAINTEXT:
		memcpy(cid + 1, plain, len);
		break;
	case ELB_QUIC_LB_SINGLE_PASS:
		elb_aes128_encrypt(&c->key, plain, cid + 1);
		break;
	default:
		split(plain, len, &h);
		feistel_round(&c->key, len, 1, h.left, h.right, true);  /* right_1 */
		feistel_round(&c->key, len, 2, h.right, h.left, false); /* left_1 */
		feistel_round(&c->key, len, 3, h.left, h.right, true);  /* right_2 */
		feistel_round(&c->key, len, 4, h.right, h.left, false); /* left_2 */
		join(&h, len, cid + 1);
		break;
	}
}

int elb_quic_lb_config_init(struct elb_quic_lb_config *c, uint32_t server_id_len,
			    uint32_t nonce_len, const uint8_t *key)
{
	if (server_id_len < 1 || server_id_len > ELB_QUIC_SERVER_ID_MAX ||
	    nonce_len < ELB_QUIC_NONCE_MIN || server_id_len + nonce_len > ELB_QUIC_PLAINTEXT_MAX)
		return -EINVAL;
	memset(c, 0, sizeof(*c));
	c->active = 1;
	c->server_id_len = (uint8_t)server_id_len;
	c->nonce_len = (uint8_t)nonce_len;
	if (key == NULL) {
		c->mode = ELB_QUIC_LB_PLAINTEXT;
		return 0;
	}
	c->mode = server_id_len + nonce_len == ELB_AES_BLOCK ? ELB_QUIC_LB_SINGLE_PASS
							     : ELB_QUIC_LB_FOUR_PASS;
	elb_aes128_key_init(&c->key, key);
	return 0;
}
