/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * QUIC-LB (elb_quic_lb.h) and the AES under it (elb_aes.h):
 *   - AES-128: FIPS-197's example vector, and both implementations (AES-NI
 *     and portable) against OpenSSL on random keys and blocks, both ways;
 *   - the draft's test vectors (draft-ietf-quic-load-balancers, "Load
 *     Balancer Test Vectors" and the four-pass "Encryption Example"), each
 *     encoded and decoded;
 *   - every server ID and nonce length the draft allows, each mode: decode
 *     (encode (sid, nonce)) == sid on random inputs, and a CID one octet
 *     short refused;
 *   - the packet parser on hand-made long and short headers of v1 and v2;
 *   - routing (elb_quic_route.h): the packet path's elb_quic_route_fast
 *     against the general elb_quic_route_packet on random VIPs and
 *     datagrams (every mode, header, length, truncation), equal slot and
 *     outcome, and the backend of the server ID a CID was encoded with.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "elb_aes.h"
#include "elb_quic_lb.h"
#include "elb_quic_route.h"
#include "elb_test.h"

static void hex(const char *text, uint8_t *out, size_t n)
{
	CU_ASSERT_EQUAL_FATAL(strlen(text), 2 * n);
	for (size_t i = 0; i < n; i++) {
		unsigned int b;

		CU_ASSERT_EQUAL_FATAL(sscanf(text + 2 * i, "%2x", &b), 1);
		out[i] = (uint8_t)b;
	}
}

static void openssl_block(const uint8_t key[16], const uint8_t in[16], uint8_t out[16], int enc)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int n = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(ctx);
	CU_ASSERT_EQUAL_FATAL(EVP_CipherInit_ex(ctx, EVP_aes_128_ecb(), NULL, key, NULL, enc), 1);
	EVP_CIPHER_CTX_set_padding(ctx, 0);
	CU_ASSERT_EQUAL_FATAL(EVP_CipherUpdate(ctx, out, &n, in, 16), 1);
	CU_ASSERT_EQUAL(n, 16);
	EVP_CIPHER_CTX_free(ctx);
}

static void test_aes_fips197(void)
{
	uint8_t key[16], pt[16], ct[16], out[16];
	struct elb_aes128_key k;

	hex("000102030405060708090a0b0c0d0e0f", key, 16);
	hex("00112233445566778899aabbccddeeff", pt, 16);
	hex("69c4e0d86a7b0430d8cdb78070b4c55a", ct, 16);
	elb_aes128_key_init(&k, key);
	elb_aes128_encrypt(&k, pt, out);
	CU_ASSERT_EQUAL(memcmp(out, ct, 16), 0);
	elb_aes128_encrypt_portable(&k, pt, out);
	CU_ASSERT_EQUAL(memcmp(out, ct, 16), 0);
	elb_aes128_decrypt(&k, ct, out);
	CU_ASSERT_EQUAL(memcmp(out, pt, 16), 0);
	elb_aes128_decrypt_portable(&k, ct, out);
	CU_ASSERT_EQUAL(memcmp(out, pt, 16), 0);
	printf("(AES-NI: %s) ", elb_aes128_uses_aesni() ? "yes" : "no");
}

static void test_aes_against_openssl(void)
{
	uint8_t key[16], in[16], want[16], out[16];
	struct elb_aes128_key k;

	srandom(19);
	for (int i = 0; i < 2000; i++) {
		for (int b = 0; b < 16; b++) {
			key[b] = (uint8_t)random();
			in[b] = (uint8_t)random();
		}
		elb_aes128_key_init(&k, key);
		openssl_block(key, in, want, 1);
		elb_aes128_encrypt(&k, in, out);
		CU_ASSERT_EQUAL(memcmp(out, want, 16), 0);
		elb_aes128_encrypt_portable(&k, in, out);
		CU_ASSERT_EQUAL(memcmp(out, want, 16), 0);
		openssl_block(key, in, want, 0);
		elb_aes128_decrypt(&k, in, out);
		CU_ASSERT_EQUAL(memcmp(out, want, 16), 0);
		elb_aes128_decrypt_portable(&k, in, out);
		CU_ASSERT_EQUAL(memcmp(out, want, 16), 0);
	}
}

struct vector {
	const char *key; /* NULL: plaintext */
	const char *sid, *nonce, *cid;
};

static void check_vector(const struct vector *v)
{
	uint8_t key[16], sid[ELB_QUIC_SERVER_ID_MAX], nonce[ELB_QUIC_CID_MAX], cid[ELB_QUIC_CID_ROOM];
	uint8_t want[ELB_QUIC_CID_ROOM], got_sid[ELB_QUIC_SERVER_ID_MAX];
	size_t sid_len = strlen(v->sid) / 2, nonce_len = strlen(v->nonce) / 2;
	struct elb_quic_lb_config c;

	if (v->key)
		hex(v->key, key, 16);
	hex(v->sid, sid, sid_len);
	hex(v->nonce, nonce, nonce_len);
	hex(v->cid, want, 1 + sid_len + nonce_len);
	CU_ASSERT_EQUAL_FATAL(elb_quic_lb_config_init(&c, (uint32_t)sid_len, (uint32_t)nonce_len,
						      v->key ? key : NULL), 0);
	elb_quic_lb_encode(&c, elb_quic_lb_config_id(want), sid, nonce, cid);
	CU_ASSERT_EQUAL(memcmp(cid, want, 1 + sid_len + nonce_len), 0);
	CU_ASSERT_EQUAL(elb_quic_lb_decode(&c, want, (uint32_t)(1 + sid_len + nonce_len), got_sid),
			ELB_QUIC_LB_DECODED);
	CU_ASSERT_EQUAL(memcmp(got_sid, sid, sid_len), 0);
}

static void test_draft_vectors(void)
{
	static const char key[] = "8f95f09245765f80256934e50c66207f";
	static const struct vector vectors[] = {
		/* Unencrypted. (The draft's second plaintext vector has a nonce
		 * of nine hex digits: not usable as printed.) */
		{NULL, "c4605e", "4504cc4f", "07c4605e4504cc4f"},
		/* Encrypted: four pass, three decryption passes. */
		{key, "ed793a", "ee080dbf", "0720b1d07b359d3c"},
		/* Four pass, the server ID longer than the nonce: a fourth. */
		{key, "ed793a51d49b8f5fab65", "ee080dbf48", "2fcc381bc74cb4fbad2823a3d1f8fed2"},
		/* Single pass: 8 + 8 octets. */
		{key, "ed793a51d49b8f5f", "ee080dbf48c0d1e5", "504dd2d05a7b0de9b2b9907afb5ecf8cc3"},
		/* 9 + 9 octets. The draft lists it under config 3 but prints a first
		 * octet of 0x12 (config 0, length 18); the octets after it are what
		 * its algorithm gives. */
		{key, "ed793a51d49b8f5fab", "ee080dbf48c0d1e55d", "125779c9cc86beb3a3a4a3ca96fce4bfe0cdbc"},
		/* The four-pass "Encryption Example", an odd length. */
		{"fdf726a9893ec05c0632d3956680baf0", "31441a", "9c69c275", "0767947d29be054a"},
	};

	for (size_t i = 0; i < ELB_ARRAY_SIZE(vectors); i++)
		check_vector(&vectors[i]);
}

static void test_every_length_round_trips(void)
{
	uint8_t key[16], sid[ELB_QUIC_SERVER_ID_MAX], nonce[ELB_QUIC_CID_MAX], cid[ELB_QUIC_CID_ROOM];
	uint8_t got[ELB_QUIC_SERVER_ID_MAX];
	struct elb_quic_lb_config c;
	int modes[3] = {0};

	srandom(7);
	for (uint32_t sid_len = 0; sid_len <= ELB_QUIC_SERVER_ID_MAX + 1; sid_len++) {
		for (uint32_t nonce_len = 0; nonce_len <= ELB_QUIC_CID_MAX; nonce_len++) {
			bool valid = sid_len >= 1 && sid_len <= ELB_QUIC_SERVER_ID_MAX &&
				     nonce_len >= ELB_QUIC_NONCE_MIN &&
				     sid_len + nonce_len <= ELB_QUIC_PLAINTEXT_MAX;

			for (int keyed = 0; keyed < 2; keyed++) {
				uint32_t len = 1 + sid_len + nonce_len;

				for (int b = 0; b < 16; b++)
					key[b] = (uint8_t)random();
				CU_ASSERT_EQUAL(elb_quic_lb_config_init(&c, sid_len, nonce_len,
									keyed ? key : NULL),
						valid ? 0 : -EINVAL);
				if (!valid)
					continue;
				modes[c.mode]++;
				for (int trial = 0; trial < 20; trial++) {
					uint32_t cr = (uint32_t)random() % ELB_QUIC_LB_CONFIGS;

					for (uint32_t b = 0; b < sid_len; b++)
						sid[b] = (uint8_t)random();
					for (uint32_t b = 0; b < nonce_len; b++)
						nonce[b] = (uint8_t)random();
					elb_quic_lb_encode(&c, cr, sid, nonce, cid);
					CU_ASSERT_EQUAL(elb_quic_lb_config_id(cid), cr);
					CU_ASSERT_EQUAL(cid[0] & 0x1f, sid_len + nonce_len);
					memset(got, 0, sizeof(got));
					CU_ASSERT_EQUAL(elb_quic_lb_decode(&c, cid, len, got),
							ELB_QUIC_LB_DECODED);
					CU_ASSERT_EQUAL(memcmp(got, sid, sid_len), 0);
					CU_ASSERT_EQUAL(elb_quic_lb_decode(&c, cid, len - 1, got),
							ELB_QUIC_LB_TOO_SHORT);
				}
			}
		}
	}
	/* Every mode was met: plaintext, single pass (sid + nonce = 16), four. */
	CU_ASSERT(modes[ELB_QUIC_LB_PLAINTEXT] > 0 && modes[ELB_QUIC_LB_SINGLE_PASS] == 12 &&
		  modes[ELB_QUIC_LB_FOUR_PASS] > 0);
}

static void test_parse_headers(void)
{
	/* v1 Initial, DCID 8 octets; v2 Initial (type bits 01); v1 Handshake;
	 * v2 Handshake (11); v1 0-RTT; unknown version; short header;
	 * truncated long header; a DCID length past 20. */
	static const struct {
		const char *payload;
		enum elb_quic_packet want;
		uint32_t off, len;
	} cases[] = {
		{"c000000001081122334455667788", ELB_QUIC_INITIAL, 6, 8},
		{"d06b3343cf081122334455667788", ELB_QUIC_INITIAL, 6, 8},
		{"e000000001041122334400", ELB_QUIC_HANDSHAKE, 6, 4},
		{"f06b3343cf04112233440000", ELB_QUIC_HANDSHAKE, 6, 4},
		{"d00000000104aabbccdd", ELB_QUIC_0RTT, 6, 4},
		{"c0ff00001d04aabbccdd", ELB_QUIC_LONG_OTHER, 6, 4},
		{"4011223344556677889900", ELB_QUIC_SHORT, 1, 8},
		{"4011223344", ELB_QUIC_NOT_QUIC, 0, 0},
		{"c00000000108112233", ELB_QUIC_NOT_QUIC, 0, 0},
		{"c0000000011511223344556677889900112233445566778899001122", ELB_QUIC_NOT_QUIC, 0, 0},
	};
	uint8_t payload[64];

	for (size_t i = 0; i < ELB_ARRAY_SIZE(cases); i++) {
		size_t n = strlen(cases[i].payload) / 2;
		uint32_t off = 0, len = 0;
		enum elb_quic_packet got;

		hex(cases[i].payload, payload, n);
		got = elb_quic_parse(payload, (uint32_t)n, 8, &off, &len);
		if (got != cases[i].want)
			fprintf(stderr, "\n  case %zu: got %d\n", i, got);
		CU_ASSERT_EQUAL(got, cases[i].want);
		if (got != ELB_QUIC_NOT_QUIC) {
			CU_ASSERT_EQUAL(off, cases[i].off);
			CU_ASSERT_EQUAL(len, cases[i].len);
		}
	}
}

/* ---- routing: the fast path against the general one ------------------------------------- */

#define ROUTE_SERVERS 40
#define ROUTE_L4_OFF 34 /* Ethernet and IPv4 headers; only the offsets matter */
#define ROUTE_PAYLOAD_MAX 44

/* A VIP with server ID length sid_len (1..12: every mode possible), each
 * config ID off, plaintext, single pass or four pass at random, and
 * ROUTE_SERVERS random server IDs (sids, zero-padded) at slots 3 * i + 1. */
static struct elb_vip_quic *route_vip(uint32_t sid_len,
				      uint8_t sids[ROUTE_SERVERS][ELB_QUIC_SERVER_ID_MAX])
{
	uint32_t size = elb_quic_servers_size(ROUTE_SERVERS);
	struct elb_vip_quic *q = calloc(1, sizeof(*q) + size * sizeof(q->servers[0]));
	uint8_t key[16];

	CU_ASSERT_PTR_NOT_NULL_FATAL(q);
	q->server_id_len = sid_len;
	q->mask = size - 1;
	for (uint32_t id = 0; id < ELB_QUIC_LB_CONFIGS; id++) {
		uint32_t mode = (uint32_t)random() % 4, span = ELB_QUIC_PLAINTEXT_MAX - sid_len;
		uint32_t nonce_len = ELB_QUIC_NONCE_MIN + (uint32_t)random() % (span - 3);

		for (int b = 0; b < 16; b++)
			key[b] = (uint8_t)random();
		if (mode == 0)
			continue; /* off */
		if (mode == 2)
			nonce_len = 16 - sid_len;
		else if (mode == 3 && nonce_len == 16 - sid_len)
			nonce_len = nonce_len > ELB_QUIC_NONCE_MIN ? nonce_len - 1 : nonce_len + 1;
		CU_ASSERT_EQUAL_FATAL(elb_quic_lb_config_init(&q->configs[id], sid_len, nonce_len,
							      mode == 1 ? NULL : key),
				      0);
		CU_ASSERT_EQUAL_FATAL(q->configs[id].mode, mode - 1);
	}
	for (uint32_t i = 0; i < ROUTE_SERVERS; i++) {
		do {
			memset(sids[i], 0, ELB_QUIC_SERVER_ID_MAX);
			for (uint32_t b = 0; b < sid_len; b++)
				sids[i][b] = (uint8_t)random();
		} while (elb_quic_server_add(q, sids[i], 3 * i + 1) != 0);
	}
	return q;
}

/* A random UDP payload of a QUIC VIP: a short header (DCID at 1) or a long
 * one (v1, v2 or another version, DCID length at 5, DCID at 6), its DCID
 * random or encoded under config cr from server ID sid with a random
 * nonce. @return the DCID's offset. */
static uint32_t route_payload(const struct elb_vip_quic *q, uint8_t *payload, uint32_t cr,
			      const uint8_t *sid)
{
	static const uint32_t versions[] = {ELB_QUIC_VERSION_1, ELB_QUIC_VERSION_2, 0xff00001d};
	uint8_t nonce[ELB_QUIC_CID_MAX];
	uint32_t off = 1;

	for (uint32_t b = 0; b < ROUTE_PAYLOAD_MAX; b++)
		payload[b] = (uint8_t)random();
	if (random() % 4 == 0) {
		uint32_t version = versions[(uint32_t)random() % ELB_ARRAY_SIZE(versions)];

		payload[0] = (uint8_t)(0xc0 | (random() % 4) << 4);
		payload[1] = (uint8_t)(version >> 24);
		payload[2] = (uint8_t)(version >> 16);
		payload[3] = (uint8_t)(version >> 8);
		payload[4] = (uint8_t)version;
		payload[5] = (uint8_t)(random() % (ELB_QUIC_CID_MAX + 3));
		off = 6;
	} else {
		payload[0] &= 0x7f;
	}
	payload[off] = (uint8_t)(cr << 5 | (payload[off] & 0x1f));
	if (sid != NULL && cr < ELB_QUIC_LB_CONFIGS && q->configs[cr].active) {
		for (uint32_t b = 0; b < sizeof(nonce); b++)
			nonce[b] = (uint8_t)random();
		elb_quic_lb_encode(&q->configs[cr], cr, sid, nonce, payload + off);
	}
	return off;
}

static void test_route_fast_equals_general(void)
{
	uint8_t sids[ROUTE_SERVERS][ELB_QUIC_SERVER_ID_MAX], unknown[ELB_QUIC_SERVER_ID_MAX];
	uint32_t seen[ELB_QUIC_OUTCOMES] = {0}, by_mode[3] = {0}, expected = 0;

	srandom(19);
	for (uint32_t vip = 0; vip < 60; vip++) {
		uint32_t sid_len = 1 + (uint32_t)random() % 12;
		struct elb_vip_quic *q = route_vip(sid_len, sids);

		for (uint32_t trial = 0; trial < 2000; trial++) {
			uint32_t cr = (uint32_t)random() % (ELB_QUIC_LB_CONFIGS + 1);
			uint32_t server = (uint32_t)random() % ROUTE_SERVERS, kind = (uint32_t)random() % 8;
			uint32_t payload_len = (uint32_t)random() % (ROUTE_PAYLOAD_MAX + 1);
			uint32_t len = ROUTE_L4_OFF + 8 + payload_len, datagram, off;
			uint8_t *frame = malloc(len), outcome = 0xff;
			uint8_t payload[ROUTE_PAYLOAD_MAX];
			const uint8_t *sid = kind < 5 ? sids[server] : kind < 7 ? unknown : NULL;
			struct elb_quic_route r;
			struct elb_packet pkt;
			uint32_t fast, general;

			CU_ASSERT_PTR_NOT_NULL_FATAL(frame);
			memset(unknown, 0, sizeof(unknown));
			for (uint32_t b = 0; b < sid_len; b++)
				unknown[b] = (uint8_t)random();
			off = route_payload(q, payload, cr, sid);
			/* Exactly len octets: a read past them is a sanitizer's report. */
			memset(frame, 0, ROUTE_L4_OFF + 8);
			memcpy(frame + ROUTE_L4_OFF + 8, payload, payload_len);
			memset(&pkt, 0, sizeof(pkt));
			pkt.l3_off = 14;
			pkt.l4_off = random() % 50 ? ROUTE_L4_OFF : 0;
			pkt.flags = random() % 50 ? 0 : ELB_PKT_FRAGMENT;
			/* The IP length may claim less or more than the frame has. */
			pkt.l3_len = (uint16_t)(20 + 8 + payload_len + (uint32_t)random() % 7 - 3);
			datagram = 14u + pkt.l3_len < len ? 14u + pkt.l3_len : len;
			datagram = datagram >= ROUTE_L4_OFF + 8 ? datagram - ROUTE_L4_OFF - 8 : 0;

			fast = elb_quic_route_fast(q, frame, len, &pkt, &outcome);
			general = elb_quic_route_packet(q, frame, len, &pkt, &r);
			CU_ASSERT_EQUAL(fast, general);
			CU_ASSERT_EQUAL(outcome, r.outcome);
			if (fast != general || outcome != r.outcome)
				fprintf(stderr, "\n  vip %u trial %u: fast %u/%u, general %u/%u\n",
					vip, trial, fast, outcome, general, r.outcome);
			if (outcome < ELB_QUIC_OUTCOMES)
				seen[outcome]++;
			if (outcome == ELB_QUIC_BY_CID)
				by_mode[q->configs[cr].mode]++;
			/* The server ID it was encoded with, whenever the whole
			 * CID arrived in a short header: that server's backend. */
			if (sid == sids[server] && off == 1 && cr < ELB_QUIC_LB_CONFIGS &&
			    q->configs[cr].active && pkt.l4_off && !pkt.flags &&
			    datagram >= 1 + ELB_QUIC_CID_MAX) {
				CU_ASSERT_EQUAL(fast, 3 * server + 1);
				CU_ASSERT_EQUAL(outcome, ELB_QUIC_BY_CID);
				expected++;
			}
			free(frame);
		}
		free(q);
	}
	/* Every outcome and mode was met, and many CIDs checked against
	 * their server. */
	for (uint32_t o = 0; o < ELB_QUIC_OUTCOMES; o++) {
		if (seen[o] < 20)
			fprintf(stderr, "\n  outcome %s seen %u times\n",
				elb_quic_outcome_name((enum elb_quic_outcome)o), seen[o]);
		CU_ASSERT(seen[o] >= 20);
	}
	for (uint32_t m = 0; m < 3; m++)
		CU_ASSERT(by_mode[m] >= 100);
	CU_ASSERT(expected >= 10000);
}

int main(void)
{
	static const struct elb_test_case cases[] = {
		ELB_TEST(test_aes_fips197),
		ELB_TEST(test_aes_against_openssl),
		ELB_TEST(test_draft_vectors),
		ELB_TEST(test_every_length_round_trips),
		ELB_TEST(test_parse_headers),
		ELB_TEST(test_route_fast_equals_general),
		ELB_TEST_END,
	};

	return elb_test_run("quic_lb", cases);
}
