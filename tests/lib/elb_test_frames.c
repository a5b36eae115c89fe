/* SPDX-License-Identifier: BSD-3-Clause */
/* Test frames from pktgen's wire code: see elb_test_frames.h. */
#include <string.h>

#include "elb_test_frames.h"

uint16_t elb_test_csum(const uint8_t *p, size_t n)
{
	return csum_fold(csum_add(0, p, n));
}

void elb_test_ipv4_addr(uint8_t out[16], uint32_t addr)
{
	memset(out, 0, 16);
	put_be32(out, addr);
}

static void ipv4_params(struct ip_params *ip, uint8_t tos, uint16_t id, uint16_t frag,
			uint8_t proto, uint32_t src, uint32_t dst)
{
	memset(ip, 0, sizeof(*ip));
	ip->family = 4;
	elb_test_ipv4_addr(ip->src, src);
	elb_test_ipv4_addr(ip->dst, dst);
	ip->proto = proto;
	ip->ttl = ELB_TEST_IPV4_TTL;
	ip->tos = tos;
	ip->ipv4_id = id;
	ip->df = (frag & WIRE_IPV4_DF) != 0;
	ip->fragment = (frag & (WIRE_IPV4_MF | 0x1fff)) != 0;
	ip->more_fragments = (frag & WIRE_IPV4_MF) != 0;
	ip->frag_offset = (uint32_t)(frag & 0x1fff) * 8;
}

void elb_test_ipv4(uint8_t *ip, uint8_t tos, uint16_t total, uint16_t id, uint16_t frag,
		   uint8_t proto, uint32_t src, uint32_t dst)
{
	struct ip_params params;

	ipv4_params(&params, tos, id, frag, proto, src, dst);
	write_ip_headers(ip, &params, (size_t)total - IPV4_HDR_LEN);
}

/* Ethernet, the IP header of ip (no options or extension headers), and a
 * TCP segment (seq 0x01020304, ack 0x0a0b0c0d with ACK, window 0xffff,
 * correct checksum) with payload bytes 0, 1, 2, ... Returns the frame
 * length. */
static uint32_t tcp_frame(uint8_t *f, const uint8_t dst_mac[ETH_ADDR_LEN],
			  const uint8_t src_mac[ETH_ADDR_LEN], const struct ip_params *ip,
			  uint16_t sport, uint16_t dport, uint8_t flags, uint32_t payload)
{
	const struct tcp_params tcp = {
		.sport = sport,
		.dport = dport,
		.seq = 0x01020304,
		.ack = (flags & WIRE_TCP_ACK) ? 0x0a0b0c0d : 0,
		.flags = flags,
		.window = 0xffff,
	};
	bool v4 = ip->family == 4;
	size_t off = write_eth_addrs(f, dst_mac, src_mac,
				     v4 ? WIRE_ETHERTYPE_IPV4 : WIRE_ETHERTYPE_IPV6);
	uint8_t *l4 = f + off + (v4 ? IPV4_HDR_LEN : IPV6_HDR_LEN);
	size_t l4_len = write_tcp_header(l4, &tcp) + payload;

	for (uint32_t i = 0; i < payload; i++)
		l4[TCP_HDR_LEN + i] = (uint8_t)i;
	off += write_ip_headers(f + off, ip, l4_len);
	l4_fill_checksum(ip, WIRE_PROTO_TCP, l4, l4_len);
	return (uint32_t)(off + l4_len);
}

uint32_t elb_test_tcp4_frame(uint8_t *f, const uint8_t dst_mac[ETH_ADDR_LEN],
			     const uint8_t src_mac[ETH_ADDR_LEN], uint32_t src, uint16_t sport,
			     uint32_t dst, uint16_t dport, uint8_t flags, uint32_t payload, bool df)
{
	struct ip_params ip;

	ipv4_params(&ip, 0x10, (uint16_t)(0x1000 + sport), df ? WIRE_IPV4_DF : 0, WIRE_PROTO_TCP,
		    src, dst);
	return tcp_frame(f, dst_mac, src_mac, &ip, sport, dport, flags, payload);
}

uint32_t elb_test_tcp6_frame(uint8_t *f, const uint8_t dst_mac[ETH_ADDR_LEN],
			     const uint8_t src_mac[ETH_ADDR_LEN], const uint8_t src[16],
			     uint16_t sport, const uint8_t dst[16], uint16_t dport, uint8_t flags,
			     uint32_t payload)
{
	struct ip_params ip;

	memset(&ip, 0, sizeof(ip));
	ip.family = 6;
	memcpy(ip.src, src, 16);
	memcpy(ip.dst, dst, 16);
	ip.proto = WIRE_PROTO_TCP;
	ip.ttl = ELB_TEST_IPV4_TTL;
	ip.tos = 0x10;
	return tcp_frame(f, dst_mac, src_mac, &ip, sport, dport, flags, payload);
}

uint32_t elb_test_udp4_frame(uint8_t *f, const uint8_t dst_mac[ETH_ADDR_LEN],
			     const uint8_t src_mac[ETH_ADDR_LEN], uint32_t src, uint16_t sport,
			     uint32_t dst, uint16_t dport, const uint8_t *payload,
			     uint32_t payload_len)
{
	struct ip_params ip;
	size_t off = write_eth_addrs(f, dst_mac, src_mac, WIRE_ETHERTYPE_IPV4);
	uint8_t *l4 = f + off + IPV4_HDR_LEN;
	size_t l4_len = write_udp_header(l4, sport, dport, payload_len) + payload_len;

	memcpy(l4 + UDP_HDR_LEN, payload, payload_len);
	ipv4_params(&ip, 0, (uint16_t)(0x2000 + sport), WIRE_IPV4_DF, WIRE_PROTO_UDP, src, dst);
	off += write_ip_headers(f + off, &ip, l4_len);
	l4_fill_checksum(&ip, WIRE_PROTO_UDP, l4, l4_len);
	return (uint32_t)(off + l4_len);
}

uint32_t elb_test_ipip4_frame(uint8_t *f, const uint8_t dst_mac[ETH_ADDR_LEN],
			      const uint8_t src_mac[ETH_ADDR_LEN], uint32_t src, uint32_t dst,
			      const uint8_t *inner, uint32_t inner_len)
{
	struct ip_params outer;
	size_t off = write_eth_addrs(f, dst_mac, src_mac, WIRE_ETHERTYPE_IPV4);

	ipv4_params(&outer, inner[IPV4_OFF_TOS], get_be16(inner + IPV4_OFF_ID),
		    get_be16(inner + IPV4_OFF_FRAG) & WIRE_IPV4_DF, WIRE_PROTO_IPIP, src, dst);
	off += write_ip_headers(f + off, &outer, inner_len);
	memcpy(f + off, inner, inner_len);
	return (uint32_t)(off + inner_len);
}

uint32_t elb_test_gue4_frame(uint8_t *f, const uint8_t dst_mac[ETH_ADDR_LEN],
			     const uint8_t src_mac[ETH_ADDR_LEN], uint32_t src, uint32_t dst,
			     uint16_t sport, uint16_t dport, uint32_t alternate,
			     const uint8_t *inner, uint32_t inner_len)
{
	struct ip_params outer;
	size_t off = write_eth_addrs(f, dst_mac, src_mac, WIRE_ETHERTYPE_IPV4);
	size_t gue_len = alternate != 0 ? 4 + 8 : 0;

	ipv4_params(&outer, inner[IPV4_OFF_TOS], get_be16(inner + IPV4_OFF_ID),
		    get_be16(inner + IPV4_OFF_FRAG) & WIRE_IPV4_DF, WIRE_PROTO_UDP, src, dst);
	off += write_ip_headers(f + off, &outer, 8 + gue_len + inner_len);
	off += write_udp_header(f + off, sport, dport, gue_len + inner_len);
	if (alternate != 0) {
		f[off++] = 2;                /* ver 0, C 0, Hlen 2 words */
		f[off++] = WIRE_PROTO_IPIP;  /* inner IPv4 */
		put_be16(f + off, 0);        /* flags */
		off += 2;
		f[off++] = 0xeb;             /* edgelb's private data */
		f[off++] = 1;                /* second chance */
		f[off++] = 1;                /* hops left */
		f[off++] = 4;                /* alternate's family */
		put_be32(f + off, alternate);
		off += 4;
	}
	memcpy(f + off, inner, inner_len);
	return (uint32_t)(off + inner_len);
}
