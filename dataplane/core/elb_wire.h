/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Wire formats, defined once for both dataplanes. The core cannot include
 * <linux/ip.h> and <rte_ip.h> in one translation unit (they redefine each
 * other's structs), so it carries its own. Multi-byte fields are in network
 * byte order.
 *
 * Alignment: every header is declared packed with 2-byte alignment. Headers
 * start at even offsets in every frame the dataplanes see (Ethernet is 14
 * bytes, a VLAN tag 4, IPv4 options and IPv6 extension headers are multiples
 * of 4 and 8), so the compiler may use 16-bit accesses, and UBSan holds us to
 * that instead of trusting natural alignment that the wire does not give.
 */
#ifndef ELB_WIRE_H
#define ELB_WIRE_H

#include "elb_compat.h"

#define ELB_WIRE __attribute__((packed, aligned(2)))

#define ELB_ETH_ALEN 6
#define ELB_ETHERTYPE_IPV4 0x0800
#define ELB_ETHERTYPE_ARP 0x0806
#define ELB_ETHERTYPE_VLAN 0x8100
#define ELB_ETHERTYPE_QINQ 0x88a8
#define ELB_ETHERTYPE_IPV6 0x86dd

#define ELB_IPPROTO_HOPOPTS 0
#define ELB_IPPROTO_ICMP 1
#define ELB_IPPROTO_IPIP 4
#define ELB_IPPROTO_TCP 6
#define ELB_IPPROTO_UDP 17
#define ELB_IPPROTO_IPV6 41
#define ELB_IPPROTO_ROUTING 43
#define ELB_IPPROTO_FRAGMENT 44
#define ELB_IPPROTO_ICMPV6 58
#define ELB_IPPROTO_NONE 59
#define ELB_IPPROTO_DSTOPTS 60

struct elb_eth_hdr {
	uint8_t dst[ELB_ETH_ALEN];
	uint8_t src[ELB_ETH_ALEN];
	uint16_t ethertype;
} ELB_WIRE;

struct elb_vlan_hdr {
	uint16_t tci;
	uint16_t ethertype; /* of what follows the tag */
} ELB_WIRE;

#define ELB_IPV4_DF 0x4000 /* in frag_off, host order */
#define ELB_IPV4_MF 0x2000
#define ELB_IPV4_OFFSET_MASK 0x1fff /* in 8-byte units */

struct elb_ipv4_hdr {
	uint8_t version_ihl; /* version 4 in the high nibble, IHL in 32-bit words */
	uint8_t tos;
	uint16_t total_len;
	uint16_t id;
	uint16_t frag_off; /* flags and fragment offset */
	uint8_t ttl;
	uint8_t protocol;
	uint16_t check;
	uint32_t saddr;
	uint32_t daddr;
} ELB_WIRE;

struct elb_ipv6_hdr {
	uint32_t ver_tc_flow; /* version 6, traffic class, flow label */
	uint16_t payload_len;
	uint8_t nexthdr;
	uint8_t hop_limit;
	uint8_t saddr[16];
	uint8_t daddr[16];
} ELB_WIRE;

/* Hop-by-hop, routing and destination options share this prefix. */
struct elb_ipv6_opt_hdr {
	uint8_t nexthdr;
	uint8_t hdrlen; /* in 8-byte units, not counting the first 8 bytes */
} ELB_WIRE;

#define ELB_IPV6_FRAG_OFFSET_MASK 0xfff8 /* in frag_off, host order */
#define ELB_IPV6_FRAG_MF 0x0001

struct elb_ipv6_frag_hdr {
	uint8_t nexthdr;
	uint8_t reserved;
	uint16_t frag_off; /* offset in 8-byte units << 3 | MF */
	uint32_t id;
} ELB_WIRE;

#define ELB_TCP_FIN 0x01
#define ELB_TCP_SYN 0x02
#define ELB_TCP_RST 0x04
#define ELB_TCP_PSH 0x08
#define ELB_TCP_ACK 0x10

struct elb_tcp_hdr {
	uint16_t sport;
	uint16_t dport;
	uint32_t seq;
	uint32_t ack_seq;
	uint8_t doff_res; /* data offset in 32-bit words in the high nibble */
	uint8_t flags;
	uint16_t window;
	uint16_t check;
	uint16_t urg_ptr;
} ELB_WIRE;

struct elb_udp_hdr {
	uint16_t sport;
	uint16_t dport;
	uint16_t len;
	uint16_t check;
} ELB_WIRE;

#define ELB_ICMP_ECHO_REPLY 0
#define ELB_ICMP_DEST_UNREACH 3
#define ELB_ICMP_ECHO_REQUEST 8
#define ELB_ICMP_TIME_EXCEEDED 11
#define ELB_ICMP_PARAM_PROBLEM 12
#define ELB_ICMP_FRAG_NEEDED 4 /* code of ELB_ICMP_DEST_UNREACH */

#define ELB_ICMPV6_DEST_UNREACH 1
#define ELB_ICMPV6_PKT_TOOBIG 2
#define ELB_ICMPV6_TIME_EXCEEDED 3
#define ELB_ICMPV6_PARAM_PROBLEM 4
#define ELB_ICMPV6_ECHO_REQUEST 128
#define ELB_ICMPV6_ECHO_REPLY 129

/* ICMP and ICMPv6 share this layout; `rest` is the MTU for frag-needed
 * (low 16 bits) and packet-too-big (all 32 bits), the id/sequence for echo. */
struct elb_icmp_hdr {
	uint8_t type;
	uint8_t code;
	uint16_t check;
	uint32_t rest;
} ELB_WIRE;

_Static_assert(sizeof(struct elb_eth_hdr) == 14, "ethernet header");
_Static_assert(sizeof(struct elb_vlan_hdr) == 4, "vlan tag");
_Static_assert(sizeof(struct elb_ipv4_hdr) == 20, "ipv4 header");
_Static_assert(sizeof(struct elb_ipv6_hdr) == 40, "ipv6 header");
_Static_assert(sizeof(struct elb_ipv6_frag_hdr) == 8, "ipv6 fragment header");
_Static_assert(sizeof(struct elb_tcp_hdr) == 20, "tcp header");
_Static_assert(sizeof(struct elb_udp_hdr) == 8, "udp header");
_Static_assert(sizeof(struct elb_icmp_hdr) == 8, "icmp header");

#endif /* ELB_WIRE_H */
