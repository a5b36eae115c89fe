/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * The shared core compiled for BPF, as an XDP program that records its
 * decision for the packet it is given (BPF_PROG_TEST_RUN). The test
 * bpf-core-diff runs the same packets through the C build of the same
 * headers and requires identical results: this is what makes "one
 * definition, two dataplanes" a checked property rather than a hope.
 */
#include "elb_parse.h"

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "core_check.h"

const volatile struct elb_hash_seed seed = {ELB_HASH_SEED_DEFAULT_K0, ELB_HASH_SEED_DEFAULT_K1};
const volatile uint32_t maglev_size = 65537;

struct core_check_result result;

SEC("xdp")
int core_check(struct xdp_md *ctx)
{
	const uint8_t *data = (const void *)(long)ctx->data;
	const uint8_t *end = (const void *)(long)ctx->data_end;
	struct elb_hash_seed s = {seed.k0, seed.k1};
	struct elb_packet pkt;

	result.parse_result = (uint32_t)elb_parse(data, end, &pkt);
	result.pkt = pkt;
	if (result.parse_result == ELB_PARSE_IP) {
		result.hash = elb_flow_hash(&pkt.key, &s);
	} else {
		result.hash = 0;
	}
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
