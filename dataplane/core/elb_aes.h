/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * AES-128 on one block, for QUIC-LB connection IDs (elb_quic_lb.h): the
 * draft's single-pass algorithm decrypts one block, its four-pass Feistel
 * network encrypts three or four. One block at a time, per packet, on a
 * key expanded once on the control path.
 *
 * Two implementations of the same function: AES-NI (x86-64 CPUs since
 * 2010), chosen at run time where the CPU has it, and lookup tables
 * (elb_aes_tables.h: what the XDP program runs, and the C fallback). The
 * tests hold both to FIPS-197's vector and to OpenSSL on random keys and
 * blocks.
 *
 * The table path's timing depends on the key and data through the cache.
 * QUIC-LB keys protect linkability, not payloads, and an attacker would
 * have to time single packets through the balancer; still, AES-NI
 * (constant time) runs wherever the CPU has it: elb_aes128_uses_aesni().
 */
#ifndef ELB_AES_H
#define ELB_AES_H

#include "elb_compat.h"

#include "elb_aes_key.h"

#if !defined(__bpf__)
/* Expand a 16-byte key. Control path. */
void elb_aes128_key_init(struct elb_aes128_key *k, const uint8_t key[ELB_AES_BLOCK]);

/* One block; in and out may be the same buffer. */
void elb_aes128_encrypt(const struct elb_aes128_key *k, const uint8_t in[ELB_AES_BLOCK],
			uint8_t out[ELB_AES_BLOCK]);
void elb_aes128_decrypt(const struct elb_aes128_key *k, const uint8_t in[ELB_AES_BLOCK],
			uint8_t out[ELB_AES_BLOCK]);

/* The table implementation alone (tests compare the two). */
void elb_aes128_encrypt_portable(const struct elb_aes128_key *k, const uint8_t in[ELB_AES_BLOCK],
				 uint8_t out[ELB_AES_BLOCK]);
void elb_aes128_decrypt_portable(const struct elb_aes128_key *k, const uint8_t in[ELB_AES_BLOCK],
				 uint8_t out[ELB_AES_BLOCK]);

/* Whether elb_aes128_encrypt/decrypt run on AES-NI on this CPU. */
bool elb_aes128_uses_aesni(void);

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

/* For functions that use AES-NI themselves, after elb_aes128_uses_aesni():
 * the instructions are enabled per function, not for the whole build. */
#define ELB_AESNI_TARGET __attribute__((target("aes,sse2")))

/* One block in a register: what elb_aes128_encrypt runs on AES-NI, for
 * callers that keep their data in registers (four-pass QUIC-LB). */
ELB_AESNI_TARGET static inline __m128i elb_aes128_encrypt_aesni(const struct elb_aes128_key *k,
								__m128i x)
{
	x = _mm_xor_si128(x, _mm_load_si128((const __m128i *)k->enc[0]));
	for (int r = 1; r < ELB_AES128_ROUNDS; r++)
		x = _mm_aesenc_si128(x, _mm_load_si128((const __m128i *)k->enc[r]));
	return _mm_aesenclast_si128(x,
				    _mm_load_si128((const __m128i *)k->enc[ELB_AES128_ROUNDS]));
}
#endif
#endif

#endif /* ELB_AES_H */
