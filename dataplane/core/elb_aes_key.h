/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * An expanded AES-128 key: what elb_aes.h's functions (C) and
 * elb_aes_tables.h's (C and BPF) run on. Its own header so that both
 * include it and neither includes the other.
 */
#ifndef ELB_AES_KEY_H
#define ELB_AES_KEY_H

#include "elb_compat.h"

#define ELB_AES_BLOCK 16
#define ELB_AES128_ROUNDS 10

struct elb_aes128_key {
	/* Round keys for encryption, then the equivalent inverse cipher's
	 * (InvMixColumns applied to rounds 1..9, in decryption order), as
	 * AES-NI's aesdec and the tables' decryption want them. */
	uint8_t enc[ELB_AES128_ROUNDS + 1][ELB_AES_BLOCK] __attribute__((aligned(16)));
	uint8_t dec[ELB_AES128_ROUNDS + 1][ELB_AES_BLOCK] __attribute__((aligned(16)));
};

#endif /* ELB_AES_KEY_H */
