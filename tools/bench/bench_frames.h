/* SPDX-License-Identifier: BSD-3-Clause */
/* The benchmarks' traffic: 60-byte Ethernet/IPv4/TCP (or UDP) frames (40-byte IP
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

/* Ethernet and IPv4 (client -> vip, host order; DF, ID 1) for an L4
 * header and payload of l4_len octets; returns their offset. */
static inline size_t bench_frame_ipv4_head(uint8_t *f, uint32_t client, uint32_t vip, uint8_t proto,
					   size_t l4_len, struct ip_params *ip)
{
	static const uint8_t port_mac[ETH_ADDR_LEN] = {0x02, 0, 0, 0, 0, 0x01};
	static const uint8_t router_mac[ETH_ADDR_LEN] = {0x02, 0, 0, 0, 0, 0x02};
	size_t off;

	memset(ip, 0, sizeof(*ip));
	ip->family = 4;
	ip->proto = proto;
	ip->ttl = 64;
	ip->ipv4_id = 1;
	ip->df = true;
	memset(f, 0, BENCH_FRAME_LEN);
	put_be32(ip->src, client);
	put_be32(ip->dst, vip);
	off = write_eth_addrs(f, port_mac, router_mac, WIRE_ETHERTYPE_IPV4);
	return off + write_ip_headers(f + off, ip, l4_len);
}

/* client and vip in host order; flags are the TCP flags. Port 80. */
static inline void bench_frame_ipv4_tcp(uint8_t *f, uint32_t client, uint16_t sport, uint32_t vip,
					uint8_t flags)
{
	const struct tcp_params tcp = {.sport = sport, .dport = 80, .flags = flags};
	struct ip_params ip;
	size_t off = bench_frame_ipv4_head(f, client, vip, WIRE_PROTO_TCP, TCP_HDR_LEN, &ip);

	write_tcp_header(f + off, &tcp);
	l4_fill_checksum(&ip, WIRE_PROTO_TCP, f + off, TCP_HDR_LEN);
}

/* The same as a UDP datagram to vip:dport carrying payload (len octets,
 * at most BENCH_FRAME_LEN less the headers: 18). */
static inline void bench_frame_ipv4_udp(uint8_t *f, uint32_t client, uint16_t sport, uint32_t vip,
					uint16_t dport, const uint8_t *payload, size_t len)
{
	struct ip_params ip;
	size_t off = bench_frame_ipv4_head(f, client, vip, WIRE_PROTO_UDP, UDP_HDR_LEN + len, &ip);

	write_udp_header(f + off, sport, dport, len);
	memcpy(f + off + UDP_HDR_LEN, payload, len);
	l4_fill_checksum(&ip, WIRE_PROTO_UDP, f + off, UDP_HDR_LEN + len);
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
