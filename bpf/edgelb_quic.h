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
#include "elb_quic_lb.h"

#endif /* EDGELB_QUIC_H */
