/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * The QUIC-LB decoding of the shared core (elb_quic_lb.h, elb_aes_tables.h)
 * compiled for BPF, as an XDP program that records what it found in the
 * payload it is given (BPF_PROG_TEST_RUN): the packet type, the DCID, and
 * the server ID under the configuration in `config`. tests/bpf's
 * bpf_quic_diff requires the C build's results, and measures the cost of
 * each mode. The AES rounds are BPF-to-BPF calls (edgelb_quic.h), as in
 * bpf/edgelb.bpf.c.
 */
#include "elb_compat.h"

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "edgelb_quic.h"

#include "quic_check.h"

/* Writable, not const volatile: the verifier must accept every mode. */
struct elb_quic_lb_config config;
uint32_t short_cid_len;
struct quic_check_result result;

SEC("xdp")
int quic_check(struct xdp_md *ctx)
{
	const uint8_t *data = (const void *)(long)ctx->data;
	const uint8_t *end = (const void *)(long)ctx->data_end;
	uint8_t buf[QUIC_CHECK_READ] = {0}, cid[ELB_QUIC_CID_ROOM] = {0};
	uint32_t len = 0, off = 0, cid_len = 0;
	enum elb_quic_packet packet;

	ELB_UNROLL
	for (uint32_t i = 0; i < QUIC_CHECK_READ; i++) {
		if (data + QUIC_CHECK_PAYLOAD_OFF + i + 1 > end)
			break;
		buf[i] = data[QUIC_CHECK_PAYLOAD_OFF + i];
		len = i + 1;
	}
	if (data + QUIC_CHECK_PAYLOAD_OFF <= end)
		len = (uint32_t)(end - data) - QUIC_CHECK_PAYLOAD_OFF;
	packet = elb_quic_parse(buf, len, short_cid_len % (ELB_QUIC_CID_MAX + 1), &off, &cid_len);
	result.packet = packet;
	result.dcid_off = off;
	result.dcid_len = cid_len;
	result.miss = ELB_QUIC_LB_MISSES;
	if (packet == ELB_QUIC_NOT_QUIC)
		return XDP_PASS;
	/* Constant offsets: the DCID is at 1 (short) or 6 (long). */
	ELB_UNROLL
	for (uint32_t i = 0; i < ELB_QUIC_CID_MAX; i++)
		cid[i] = off == 1 ? buf[1 + i] : buf[6 + i];
	result.config_id = elb_quic_lb_config_id(cid);
	result.miss = elb_quic_lb_decode(&config, cid, cid_len, result.sid);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
