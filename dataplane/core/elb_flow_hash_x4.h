/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * elb_flow_hash of four keys at once, for the DPDK burst loop: SipHash-1-3
 * in the four 64-bit lanes of an AVX2 register, the same values as
 * elb_flow_hash (the unit suite compares them), about a third of the
 * instructions per key. The XDP program hashes one packet at a time with
 * elb_flow_hash itself.
 *
 * The SIMD version is chosen at run time (the build targets baseline
 * x86-64, where AVX2 is not given); elsewhere four scalar hashes.
 */
#ifndef ELB_FLOW_HASH_X4_H
#define ELB_FLOW_HASH_X4_H

#if defined(__bpf__)
#error "elb_flow_hash_x4.h is for the DPDK dataplane"
#endif

#include "elb_flow.h"

typedef void elb_flow_hash_x4_fn(const struct elb_flow_key *const keys[4],
				 const struct elb_hash_seed *seed, uint64_t out[4]);

/* The fastest implementation this CPU runs; with allow_simd false the
 * scalar one (for tests that compare the two). */
elb_flow_hash_x4_fn *elb_flow_hash_x4_select(bool allow_simd);

#endif /* ELB_FLOW_HASH_X4_H */
