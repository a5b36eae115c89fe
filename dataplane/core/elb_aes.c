/* SPDX-License-Identifier: BSD-3-Clause */
/* AES-128 on one block; see elb_aes.h. Written from FIPS-197. */
#include "elb_aes.h"

#include <string.h>

#include "elb_aes_tables.h"

/* Multiplication by x (0x02) in GF(2^8) modulo x^8 + x^4 + x^3 + x + 1. */
static inline uint8_t xtime(uint8_t a)
{
	return (uint8_t)((a << 1) ^ ((a >> 7) * 0x1b));
}

static inline uint8_t gmul(uint8_t a, uint8_t b)
{
	uint8_t r = 0;

	while (b) {
		if (b & 1)
			r ^= a;
		a = xtime(a);
		b >>= 1;
	}
	return r;
}

static void inv_mix_columns(uint8_t s[ELB_AES_BLOCK])
{
	for (int c = 0; c < 4; c++) {
		uint8_t *a = &s[4 * c], a0 = a[0], a1 = a[1], a2 = a[2], a3 = a[3];

		a[0] = gmul(a0, 14) ^ gmul(a1, 11) ^ gmul(a2, 13) ^ gmul(a3, 9);
		a[1] = gmul(a0, 9) ^ gmul(a1, 14) ^ gmul(a2, 11) ^ gmul(a3, 13);
		a[2] = gmul(a0, 13) ^ gmul(a1, 9) ^ gmul(a2, 14) ^ gmul(a3, 11);
		a[3] = gmul(a0, 11) ^ gmul(a1, 13) ^ gmul(a2, 9) ^ gmul(a3, 14);
	}
}

void elb_aes128_key_init(struct elb_aes128_key *k, const uint8_t key[ELB_AES_BLOCK])
{
	uint8_t rcon = 1;

	memcpy(k->enc[0], key, ELB_AES_BLOCK);
	for (int r = 1; r <= ELB_AES128_ROUNDS; r++) {
		const uint8_t *p = k->enc[r - 1];
		uint8_t *w = k->enc[r];

		/* First word: RotWord, SubWord, Rcon, then the previous round's. */
		w[0] = p[0] ^ elb_aes_sbox[p[13]] ^ rcon;
		w[1] = p[1] ^ elb_aes_sbox[p[14]];
		w[2] = p[2] ^ elb_aes_sbox[p[15]];
		w[3] = p[3] ^ elb_aes_sbox[p[12]];
		for (int i = 4; i < ELB_AES_BLOCK; i++)
			w[i] = p[i] ^ w[i - 4];
		rcon = xtime(rcon);
	}
	/* The equivalent inverse cipher's keys (FIPS-197 5.3.5). */
	memcpy(k->dec[0], k->enc[ELB_AES128_ROUNDS], ELB_AES_BLOCK);
	for (int r = 1; r < ELB_AES128_ROUNDS; r++) {
		memcpy(k->dec[r], k->enc[ELB_AES128_ROUNDS - r], ELB_AES_BLOCK);
		inv_mix_columns(k->dec[r]);
	}
	memcpy(k->dec[ELB_AES128_ROUNDS], k->enc[0], ELB_AES_BLOCK);
}

void elb_aes128_encrypt_portable(const struct elb_aes128_key *k, const uint8_t in[ELB_AES_BLOCK],
				 uint8_t out[ELB_AES_BLOCK])
{
	uint8_t block[ELB_AES_BLOCK];

	elb_aes128_encrypt_tables(k, in, block); /* in and out may overlap */
	memcpy(out, block, ELB_AES_BLOCK);
}

void elb_aes128_decrypt_portable(const struct elb_aes128_key *k, const uint8_t in[ELB_AES_BLOCK],
				 uint8_t out[ELB_AES_BLOCK])
{
	uint8_t block[ELB_AES_BLOCK];

	elb_aes128_decrypt_tables(k, in, block);
	memcpy(out, block, ELB_AES_BLOCK);
}

#if defined(__x86_64__) && defined(__GNUC__)
ELB_AESNI_TARGET static void encrypt_aesni(const struct elb_aes128_key *k,
					   const uint8_t in[ELB_AES_BLOCK],
					   uint8_t out[ELB_AES_BLOCK])
{
	_mm_storeu_si128((__m128i *)out,
			 elb_aes128_encrypt_aesni(k, _mm_loadu_si128((const __m128i *)in)));
}

ELB_AESNI_TARGET static void decrypt_aesni(const struct elb_aes128_key *k,
					   const uint8_t in[ELB_AES_BLOCK],
					   uint8_t out[ELB_AES_BLOCK])
{
	__m128i x = _mm_xor_si128(_mm_loadu_si128((const __m128i *)in),
				  _mm_load_si128((const __m128i *)k->dec[0]));

	for (int r = 1; r < ELB_AES128_ROUNDS; r++)
		x = _mm_aesdec_si128(x, _mm_load_si128((const __m128i *)k->dec[r]));
	x = _mm_aesdeclast_si128(x, _mm_load_si128((const __m128i *)k->dec[ELB_AES128_ROUNDS]));
	_mm_storeu_si128((__m128i *)out, x);
}

bool elb_aes128_uses_aesni(void)
{
	return __builtin_cpu_supports("aes");
}

void elb_aes128_encrypt(const struct elb_aes128_key *k, const uint8_t in[ELB_AES_BLOCK],
			uint8_t out[ELB_AES_BLOCK])
{
	if (__builtin_expect(__builtin_cpu_supports("aes"), 1))
		encrypt_aesni(k, in, out);
	else
		elb_aes128_encrypt_portable(k, in, out);
}

void elb_aes128_decrypt(const struct elb_aes128_key *k, const uint8_t in[ELB_AES_BLOCK],
			uint8_t out[ELB_AES_BLOCK])
{
	if (__builtin_expect(__builtin_cpu_supports("aes"), 1))
		decrypt_aesni(k, in, out);
	else
		elb_aes128_decrypt_portable(k, in, out);
}
#else
bool elb_aes128_uses_aesni(void)
{
	return false;
}

void elb_aes128_encrypt(const struct elb_aes128_key *k, const uint8_t in[ELB_AES_BLOCK],
			uint8_t out[ELB_AES_BLOCK])
{
	elb_aes128_encrypt_portable(k, in, out);
}

void elb_aes128_decrypt(const struct elb_aes128_key *k, const uint8_t in[ELB_AES_BLOCK],
			uint8_t out[ELB_AES_BLOCK])
{
	elb_aes128_decrypt_portable(k, in, out);
}
#endif
