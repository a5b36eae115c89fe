/* SPDX-License-Identifier: BSD-3-Clause */
/* QUIC-LB connection IDs, the control path's side: configurations, and the
 * encoder that tests and tools use as a server would; see elb_quic_lb.h. */
#include "elb_quic_lb.h"

#include <errno.h>
#include <string.h>

void elb_quic_lb_encode(const struct elb_quic_lb_config *c, uint32_t config_id, const uint8_t *sid,
			const uint8_t *nonce, uint8_t *cid)
{
	uint32_t len = (uint32_t)c->server_id_len + c->nonce_len;
	struct elb_quic_lb_work w;

	/* Zero past the plaintext: the four-pass network reads whole words. */
	memset(&w, 0, sizeof(w));

	memcpy(w.plain, sid, c->server_id_len);
	memcpy(w.plain + c->server_id_len, nonce, c->nonce_len);
	cid[0] = (uint8_t)(config_id << 5 | (len & 0x1f));
	switch (c->mode) {
	case ELB_QUIC_LB_PLAINTEXT:
		memcpy(cid + 1, w.plain, len);
		break;
	case ELB_QUIC_LB_SINGLE_PASS:
		elb_aes128_encrypt(&c->key, w.plain, cid + 1);
		break;
	default:
		elb_quic_lb_split(c, w.plain, &w.h);
		elb_quic_lb_round(c, 1, &w, true);  /* right_1 */
		elb_quic_lb_round(c, 2, &w, false); /* left_1 */
		elb_quic_lb_round(c, 3, &w, true);  /* right_2 */
		elb_quic_lb_round(c, 4, &w, false); /* left_2 */
		elb_quic_lb_join(c, &w.h, w.plain);
		memcpy(cid + 1, w.plain, len);
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
	memset(c->sid_mask, 0xff, server_id_len);
	memset(c->half_mask, 0xff, (server_id_len + nonce_len + 1) / 2);
	if (key == NULL) {
		c->mode = ELB_QUIC_LB_PLAINTEXT;
		return 0;
	}
	c->mode = server_id_len + nonce_len == ELB_AES_BLOCK ? ELB_QUIC_LB_SINGLE_PASS
							     : ELB_QUIC_LB_FOUR_PASS;
	elb_aes128_key_init(&c->key, key);
	return 0;
}
