/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target: the whole per-packet pipeline, from raw frames to
 * verdicts and output bytes, with its state (flow table, token buckets)
 * carried from packet to packet within an input.
 *
 * Input: records of [time step (1 byte, x 0.1 ms)][length (2 bytes, LE)]
 * [frame]. Each frame sits in a buffer holding exactly the headroom and the
 * frame, so ASan reports any byte read or written outside them. After
 * every packet:
 *   FORWARD: Ethernet to the gateway from the port MAC; an outer IPv4 header
 *     with a valid checksum and the right length, or an IPv6 header with
 *     the right payload length, toward a backend slot that is live, belongs
 *     to the VIP named, and has the family of the outer header; then the
 *     input's IP packet, byte for byte.
 *   REPLY: an ICMP/ICMPv6 error with a valid checksum to the packet's source.
 *   KERNEL: the frame untouched.
 *   DROP: a known reason.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "elb_config.h"
#include "elb_csum.h"
#include "elb_pipeline.h"
#include "elb_snapshot.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define HEADROOM 128
#define FLOWS 4096

static const char config_json[] =
	"{\"node\": {\"source_v4\": \"192.168.10.1\", \"source_v6\": \"fd00::1\","
	"  \"gateway_mac\": \"02:00:00:00:00:fe\"},"
	" \"vips\": ["
	"  {\"address\": \"10.0.0.10\", \"port\": 80, \"protocol\": \"tcp\", \"maglev_size\": 251,"
	"   \"rate_limit\": {\"packets_per_s\": 1000, \"packet_burst\": 5},"
	"   \"backends\": [{\"address\": \"10.200.0.1\"}, {\"address\": \"10.200.0.2\", \"weight\": 2},"
	"                  {\"address\": \"10.200.0.3\", \"state\": \"draining\"}]},"
	"  {\"address\": \"10.0.0.10\", \"port\": 0, \"protocol\": \"udp\", \"maglev_size\": 251,"
	"   \"encap\": \"gue\", \"backends\": [{\"address\": \"fd00::200:1\"}]},"
	"  {\"address\": \"2001:db8::10\", \"port\": 80, \"protocol\": \"tcp\", \"maglev_size\": 251,"
	"   \"mtu\": 1400, \"backends\": [{\"address\": \"fd00::200:1\"}, {\"address\": \"fd00::200:2\"}]},"
	"  {\"address\": \"2001:db8::10\", \"port\": 53, \"protocol\": \"udp\", \"maglev_size\": 251,"
	"   \"backends\": []}]}";

static struct elb_snapshot *snap;
static struct elb_worker worker;
static uint64_t clock_ns = 1000000000ull;

static void setup(void)
{
	struct elb_dp_config *cfg;
	struct elb_dp_err err;
	uint32_t gen = 0;
	size_t mem;

	if (elb_dp_config_parse(config_json, strlen(config_json), &cfg, &err) < 0 ||
	    elb_snapshot_build(cfg, NULL, 1, &gen, &snap, &err) != 0) {
		fprintf(stderr, "fuzz_pipeline: set-up: %s\n", err.text);
		abort();
	}
	elb_dp_config_free(cfg);
	mem = elb_flow_table_mem_size(FLOWS);
	if (elb_flow_table_init(&worker.flows, aligned_alloc(64, (mem + 63) & ~(size_t)63), mem,
				FLOWS) != 0)
		abort();
	memcpy(worker.port_mac, (uint8_t[]){0x02, 0, 0, 0, 0, 0x01}, 6);
	worker.vip_counters = calloc(ELB_MAX_VIPS, sizeof(*worker.vip_counters));
	worker.backend_counters = calloc(ELB_MAX_BACKEND_SLOTS, sizeof(*worker.backend_counters));
	worker.flow_budgets = calloc(ELB_MAX_VIPS, sizeof(*worker.flow_budgets));
	worker.source_column_bits = 10;
	worker.source_cells = calloc(1, ELB_SOURCE_SKETCH_BYTES(worker.source_column_bits));
	if (!worker.vip_counters || !worker.backend_counters || !worker.flow_budgets ||
	    !worker.source_cells)
		abort();
}

/* One's-complement sum, written here rather than taken from elb_csum.h. */
static uint32_t sum16(const uint8_t *p, size_t n, uint32_t acc)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		acc += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (n & 1)
		acc += (uint32_t)p[n - 1] << 8;
	return acc;
}

static uint16_t fold(uint32_t acc)
{
	while (acc >> 16)
		acc = (acc & 0xffff) + (acc >> 16);
	return (uint16_t)acc;
}

static void check_forward(const uint8_t *out, uint32_t out_len, const uint8_t *orig,
			  const struct elb_packet *pkt, const struct elb_pipeline_result *res)
{
	const struct elb_backend_slot *b = &snap->backends[res->backend_slot];
	uint32_t outer;

	if (res->backend_slot >= snap->n_backend_slots || b->gen == 0 || b->vip_index != res->vip_index)
		abort();
	if (memcmp(out, snap->gateway_mac, 6) || memcmp(out + 6, worker.port_mac, 6))
		abort();
	if (b->family == ELB_AF_INET) {
		const uint8_t *ip = out + 14;

		if (out[12] != 0x08 || out[13] != 0x00 || ip[0] != 0x45)
			abort();
		if (fold(sum16(ip, 20, 0)) != 0xffff)
			abort();
		if ((uint32_t)(ip[2] << 8 | ip[3]) != out_len - 14 || memcmp(ip + 16, b->addr.v6, 4))
			abort();
		outer = 20 + (ip[9] == 17 ? 8u : 0u);
	} else {
		const uint8_t *ip6 = out + 14;

		if (out[12] != 0x86 || out[13] != 0xdd || (ip6[0] >> 4) != 6)
			abort();
		if ((uint32_t)(ip6[4] << 8 | ip6[5]) != out_len - 14 - 40 || memcmp(ip6 + 24, b->addr.v6, 16))
			abort();
		outer = 40 + (ip6[6] == 17 ? 8u : 0u);
	}
	if (out_len != 14 + outer + pkt->l3_len || memcmp(out + 14 + outer, orig + pkt->l3_off, pkt->l3_len))
		abort();
}

static void check_reply(const uint8_t *out, uint32_t out_len, const struct elb_packet *pkt)
{
	if (pkt->key.family == ELB_AF_INET) {
		const uint8_t *ip = out + 14;

		if (fold(sum16(ip, 20, 0)) != 0xffff || memcmp(ip + 16, pkt->key.src.v6, 4))
			abort();
		if (fold(sum16(ip + 20, out_len - 34, 0)) != 0xffff || ip[20] != 3 || ip[21] != 4)
			abort();
	} else {
		const uint8_t *ip6 = out + 14;
		uint32_t len = out_len - 54, acc = sum16(ip6 + 8, 32, 0) + len + ELB_IPPROTO_ICMPV6;

		if (memcmp(ip6 + 24, pkt->key.src.v6, 16) || ip6[40] != 2)
			abort();
		if (fold(sum16(ip6 + 40, len, acc)) != 0xffff)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 0;

	if (snap == NULL)
		setup();
	while (off + 3 <= size) {
		uint32_t step = data[off], len = (uint32_t)(data[off + 1] | data[off + 2] << 8) % 1600;
		struct elb_pipeline_result res;
		struct elb_packet pkt;
		uint8_t *buf, *orig;
		int parsed;

		off += 3;
		if (len > size - off)
			len = (uint32_t)(size - off);
		buf = malloc(HEADROOM + len + 1);
		orig = malloc(len + 1);
		memcpy(buf + HEADROOM, data + off, len);
		memcpy(orig, data + off, len);
		off += len;
		clock_ns += (uint64_t)step * 100000;
		parsed = elb_parse(orig, orig + len, &pkt);
		elb_pipeline_run(&worker, snap, buf + HEADROOM, len, HEADROOM, clock_ns, &res);
		switch (res.verdict) {
		case ELB_VERDICT_FORWARD:
			if (parsed != ELB_PARSE_IP)
				abort();
			check_forward(buf + HEADROOM + res.head_move, res.out_len, orig, &pkt, &res);
			break;
		case ELB_VERDICT_REPLY:
			if (parsed != ELB_PARSE_IP || res.reason != ELB_REASON_TOO_BIG)
				abort();
			check_reply(buf + HEADROOM + res.head_move, res.out_len, &pkt);
			break;
		case ELB_VERDICT_KERNEL:
			if (memcmp(buf + HEADROOM, orig, len))
				abort();
			break;
		case ELB_VERDICT_DROP:
			if (res.reason == ELB_REASON_NONE || res.reason >= ELB_REASON_COUNT)
				abort();
			break;
		default:
			abort();
		}
		if (res.head_move > 0 || (uint32_t)-res.head_move > HEADROOM)
			abort();
		free(buf);
		free(orig);
	}
	return 0;
}
