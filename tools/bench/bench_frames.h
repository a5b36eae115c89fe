/* SPDX-License-Identifier: BSD-3-Clause */
/* The benchmarks' traffic: 60-byte Ethernet/IPv4/TCP frames (40-byte IP
 * packet and 6 bytes of Ethernet padding, as a 64-byte wire frame carries),
 * built with edgelb-pktgen's wire code (pktgen_wire.h), the tree's one
 * frame builder, with correct checksums. */
#ifndef BENCH_FRAMES_H
#define BENCH_FRAMES_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pktgen_wire.h"

#define BENCH_FRAME_LEN ETH_MIN_FRAME_LEN

/* client and vip in host order; flags are the TCP flags. Port 80, DF, ID 1. */
static inline void bench_frame_ipv4_tcp(uint8_t *f, uint32_t client, uint16_t sport, uint32_t vip,
					uint8_t flags)
{
	static const uint8_t port_mac[ETH_ADDR_LEN] = {0x02, 0, 0, 0, 0, 0x01};
	static const uint8_t router_mac[ETH_ADDR_LEN] = {0x02, 0, 0, 0, 0, 0x02};
	const struct tcp_params tcp = {.sport = sport, .dport = 80, .flags = flags};
	struct ip_params ip = {
		.family = 4, .proto = WIRE_PROTO_TCP, .ttl = 64, .ipv4_id = 1, .df = true,
	};
	size_t off;

	memset(f, 0, BENCH_FRAME_LEN);
	put_be32(ip.src, client);
	put_be32(ip.dst, vip);
	off = write_eth_addrs(f, port_mac, router_mac, WIRE_ETHERTYPE_IPV4);
	off += write_ip_headers(f + off, &ip, TCP_HDR_LEN);
	write_tcp_header(f + off, &tcp);
	l4_fill_checksum(&ip, WIRE_PROTO_TCP, f + off, TCP_HDR_LEN);
}

/*
 * n frames to dst (host order), of n distinct flows (clients 198.18.x.y,
 * 256 source ports each) or, with one_flow, n copies of the first.
 * malloc'ed: the caller frees.
 */
static inline uint8_t *bench_make_frames(uint32_t n, uint32_t dst, uint8_t flags, bool one_flow)
{
	uint8_t *f = malloc((size_t)n * BENCH_FRAME_LEN);

	for (uint32_t i = 0; f && i < n; i++) {
		uint32_t k = one_flow ? 0 : i;

		bench_frame_ipv4_tcp(f + (size_t)i * BENCH_FRAME_LEN, 0xc6120000u + (k >> 8),
				     (uint16_t)(10000 + (k & 0xff)), dst, flags);
	}
	return f;
}

#endif
