/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * The shared core compiled for BPF, as XDP programs that record their
 * decisions for the packet they are given (BPF_PROG_TEST_RUN). The test
 * bpf-core-diff runs the same packets through the C build of the same
 * headers and requires identical results and identical output bytes: this
 * is what makes "one definition, two dataplanes" a checked property rather
 * than a hope.
 *
 * core_check:       parser, flow hash, Maglev slot, flow state, token bucket.
 * core_check_encap: parser, flow hash, MTU verdict, then encapsulation or
 *                   the ICMP too-big reply, in place after
 *                   bpf_xdp_adjust_head, as the XDP dataplane will do it.
 * core_check_admission: one step of admission control (elb_admission.h) on
 *                   the globals below: a source's key and cells, the
 *                   source limit's check and commit, the new-flow budget.
 */
#include "elb_encap.h"
#include "elb_flow_state.h"
#include "elb_maglev.h"
#include "elb_parse.h"
#include "elb_token_bucket.h"

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "core_check.h"

const volatile struct elb_hash_seed seed = {ELB_HASH_SEED_DEFAULT_K0, ELB_HASH_SEED_DEFAULT_K1};
const volatile uint32_t maglev_size = ELB_MAGLEV_DEFAULT_SIZE;

/* Writable, not const volatile: the verifier must accept every outer
 * family, GUE and MTU, not only the values of one load. */
struct elb_encap_params encap_params;
struct elb_rate_limit rate_limit;
struct elb_token_bucket bucket;
uint64_t now_ns;

struct core_check_result result;

/* core_check_admission's input (adm_*) and state, written by the test. */
struct elb_source_keys adm_keys;
union elb_addr adm_src;
struct elb_source_limit adm_limit;
struct elb_source_cell adm_cells[ELB_SOURCE_ROWS]; /* the key's cells */
struct elb_flow_budget adm_budget;
struct elb_flow_budget_state adm_budget_state;
uint64_t adm_now_ns;
uint16_t adm_vip_index;
uint8_t adm_new_flow;
struct core_check_admission adm_result;

SEC("xdp")
int core_check(struct xdp_md *ctx)
{
	const uint8_t *data = (const void *)(long)ctx->data;
	const uint8_t *end = (const void *)(long)ctx->data_end;
	struct elb_hash_seed s = {seed.k0, seed.k1};
	struct elb_packet pkt;

	result.parse_result = (uint32_t)elb_parse(data, end, &pkt);
	result.pkt = pkt;
	result.hash = 0;
	result.maglev_slot = 0;
	result.flow_state = 0;
	result.admitted = 0;
	if (result.parse_result == ELB_PARSE_IP) {
		result.hash = elb_flow_hash(&pkt.key, &s);
		result.maglev_slot = elb_maglev_slot(result.hash, maglev_size);
		result.flow_state = (uint8_t)elb_flow_state_next(
			elb_flow_state_new(pkt.key.proto, pkt.tcp_flags), pkt.key.proto,
			pkt.tcp_flags);
		result.admitted = elb_token_bucket_admit(&bucket, &rate_limit, now_ns, pkt.l3_len);
	}
	return XDP_PASS;
}

SEC("xdp")
int core_check_encap(struct xdp_md *ctx)
{
	const uint8_t *data = (const void *)(long)ctx->data;
	const uint8_t *end = (const void *)(long)ctx->data_end;
	struct elb_hash_seed s = {seed.k0, seed.k1};
	struct elb_encap_params p = encap_params;
	struct elb_packet pkt;
	uint32_t room;
	uint64_t hash;
	int verdict, len;

	if (elb_parse(data, end, &pkt) != ELB_PARSE_IP)
		return XDP_PASS;
	hash = elb_flow_hash(&pkt.key, &s);
	verdict = elb_encap_mtu_check(&pkt, &p);
	if (verdict == ELB_MTU_FITS)
		room = (uint32_t)sizeof(struct elb_eth_hdr) + elb_encap_params_overhead(&p);
	else if (verdict == ELB_MTU_TOO_BIG_REPLY)
		room = (uint32_t)sizeof(struct elb_eth_hdr) + elb_icmp_too_big_headroom(pkt.key.family);
	else
		return XDP_DROP;
	if (bpf_xdp_adjust_head(ctx, (int)pkt.l3_off - (int)room))
		return XDP_ABORTED;
	data = (const void *)(long)ctx->data;
	end = (const void *)(long)ctx->data_end;
	if (verdict == ELB_MTU_FITS)
		len = elb_encap_write((uint8_t *)data, end, &pkt, &p, hash);
	else
		len = elb_icmp_too_big_write((uint8_t *)data, end, &pkt, elb_encap_inner_mtu(&p),
					     p.src_mac, p.dst_mac);
	if (len < 0)
		return XDP_ABORTED;
	/* Drop what follows the output frame (Ethernet padding, the unquoted
	 * rest of a too-big packet). */
	if (bpf_xdp_adjust_tail(ctx, len - (int)(end - data)))
		return XDP_ABORTED;
	return XDP_TX;
}

SEC("xdp")
int core_check_admission(struct xdp_md *ctx)
{
	struct elb_source_cell *cells[ELB_SOURCE_ROWS];
	struct elb_source_key key = {};
	struct elb_source_check check;
	enum elb_source_verdict v;

	(void)ctx;
	elb_source_key_of(&adm_src, &adm_limit, adm_vip_index, &key);
	for (uint32_t r = 0; r < ELB_SOURCE_ROWS; r++) {
		adm_result.cell_index[r] =
			elb_source_cell_index(&adm_keys, &key, r, CORE_CHECK_COLUMN_BITS);
		cells[r] = &adm_cells[r];
	}
	v = elb_source_conforms(cells, &adm_limit, adm_now_ns, adm_new_flow, &check);
	adm_result.source_verdict = v;
	adm_result.check = check;
	adm_result.budget_verdict = 2;
	if (v == ELB_SOURCE_CONFORMS) {
		elb_source_commit(cells, &check);
		if (adm_new_flow)
			adm_result.budget_verdict =
				elb_flow_budget_admit(&adm_budget_state, &adm_budget, adm_now_ns);
	}
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
