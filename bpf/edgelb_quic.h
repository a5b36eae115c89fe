/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * QUIC-LB decoding (elb_quic_lb.h) for BPF programs: the AES rounds by
 * tables (elb_aes_tables.h) as functions of their own, BPF-to-BPF calls,
 * rather than inlined at each use (the four-pass network runs up to four
 * rounds: inlined, each copy is verified and the program grows by each).
 * Included by bpf/edgelb.bpf.c and bpf/quic_check.bpf.c instead of
 * elb_quic_lb.h, so that both decode with the same calls.
 */
#ifndef EDGELB_QUIC_H
#define EDGELB_QUIC_H

#include "elb_compat.h"

/* elb_quic_lb.h takes the inline tables unless told otherwise first. */
#ifdef ELB_QUIC_LB_H
#error "include edgelb_quic.h before elb_quic_lb.h (and elb_pipeline.h, which includes it)"
#endif

#include "elb_aes_tables.h"

static __attribute__((noinline)) void quic_aes_encrypt(const struct elb_aes128_key *k,
							const uint8_t *in, uint8_t *out)
{
	elb_aes128_encrypt_tables(k, in, out);
}

static __attribute__((noinline)) void quic_aes_decrypt(const struct elb_aes128_key *k,
							const uint8_t *in, uint8_t *out)
{
	elb_aes128_decrypt_tables(k, in, out);
}

#define elb_quic_lb_aes_encrypt quic_aes_encrypt
#define elb_quic_lb_aes_decrypt quic_aes_decrypt

/* The four-pass network, and its round, as calls of their own (below). */
struct elb_quic_lb_config;
struct elb_quic_lb_work;
static __attribute__((noinline)) void quic_lb_round(const struct elb_quic_lb_config *c,
						     uint32_t pass, struct elb_quic_lb_work *w,
						     bool target_is_right);
#define elb_quic_lb_round_call quic_lb_round
static __attribute__((noinline)) void quic_lb_four_pass(const struct elb_quic_lb_config *c,
							 const uint8_t *ciphertext,
							 struct elb_quic_lb_work *w);
#define elb_quic_lb_four_pass_call quic_lb_four_pass

#include "elb_quic_lb.h"

/* r0 cleared at the end of the two: their last store may leave a pointer
 * to the caller's stack there, which the verifier refuses to return (and a
 * returned 0 that no caller reads is optimised away). */
#define QUIC_CLEAR_R0() __asm__ volatile("r0 = 0" ::: "r0")

/* Calls of their own: inlined into their caller, the compiler keeps the
 * round's addresses across the AES calls, and the network's for after
 * the rounds, in a stack the XDP program has no room for. */
static __attribute__((noinline)) void quic_lb_round(const struct elb_quic_lb_config *c,
						     uint32_t pass, struct elb_quic_lb_work *w,
						     bool target_is_right)
{
	elb_quic_lb_round(c, pass, w, target_is_right);
	QUIC_CLEAR_R0();
}

static __attribute__((noinline)) void quic_lb_four_pass(const struct elb_quic_lb_config *c,
							 const uint8_t *ciphertext,
							 struct elb_quic_lb_work *w)
{
	elb_quic_lb_four_pass_decrypt(c, ciphertext, w);
	QUIC_CLEAR_R0();
}

#endif /* EDGELB_QUIC_H */
