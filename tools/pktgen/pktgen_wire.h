/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Frame building by explicit byte offsets, for edgelb-pktgen and, through
 * pktgen_wire_dep, for the C tests (tests/lib): the one frame builder.
 *
 * Deliberately independent of dataplane/core: the generator is the oracle
 * the balancer's parser is tested against, so it shares no struct, constant
 * or helper with it; its checksum is its own RFC 1071 sum, not elb_csum.h.
 * Every field is written with put_be16()/put_be32() at the offset its RFC
 * gives it (791 IPv4, 8200 IPv6, 9293 TCP, 768 UDP, 792 ICMP, 4443 ICMPv6,
 * 826 ARP); the offset tables below are that documentation.
 */
#ifndef PKTGEN_WIRE_H
#define PKTGEN_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pktgen_prng.h"

#define FRAME_MAX_LEN 2048     /* largest frame built: 1518 plus slack */
#define ETH_ADDR_LEN 6
#define ETH_HDR_LEN 14
#define VLAN_TAG_LEN 4
#define ETH_MIN_FRAME_LEN 60   /* without FCS: shorter frames are padded on the wire */
#define IPV4_HDR_LEN 20        /* without options */
#define IPV4_MAX_HDR_LEN 60
#define IPV6_HDR_LEN 40
#define IPV6_EXT_LEN 8         /* the extension headers built here: one 8-byte unit */
#define TCP_HDR_LEN 20         /* without options */
#define TCP_SYN_OPTIONS_LEN 12 /* MSS, SACK permitted, window scale, as Linux sends */
#define UDP_HDR_LEN 8
#define ICMP_HDR_LEN 8         /* type, code, checksum, 4 type-specific bytes */
#define ARP_IPV4_LEN 28

#define WIRE_ETHERTYPE_IPV4 0x0800
#define WIRE_ETHERTYPE_ARP 0x0806
#define WIRE_ETHERTYPE_VLAN 0x8100
#define WIRE_ETHERTYPE_IPV6 0x86dd

#define WIRE_PROTO_HOPOPTS 0
#define WIRE_PROTO_ICMP 1
#define WIRE_PROTO_IPIP 4 /* IPv4 in IP (RFC 2003) */
#define WIRE_PROTO_TCP 6
#define WIRE_PROTO_UDP 17
#define WIRE_PROTO_FRAGMENT 44
#define WIRE_PROTO_ICMPV6 58
#define WIRE_PROTO_NONE 59
#define WIRE_PROTO_DSTOPTS 60

#define WIRE_IPV4_DF 0x4000 /* flags and fragment offset word */
#define WIRE_IPV4_MF 0x2000
#define WIRE_IPV6_FRAG_MF 0x0001

#define WIRE_TCP_FIN 0x01
#define WIRE_TCP_SYN 0x02
#define WIRE_TCP_RST 0x04
#define WIRE_TCP_PSH 0x08
#define WIRE_TCP_ACK 0x10

#define WIRE_ICMP_ECHO_REQUEST 8
#define WIRE_ICMP_DEST_UNREACH 3
#define WIRE_ICMP_CODE_HOST_UNREACH 1
#define WIRE_ICMP_CODE_FRAG_NEEDED 4
#define WIRE_ICMP_CODE_ADMIN_PROHIBITED 13
#define WIRE_ICMPV6_DEST_UNREACH 1
#define WIRE_ICMPV6_CODE_ADMIN_PROHIBITED 1
#define WIRE_ICMPV6_CODE_ADDR_UNREACH 3
#define WIRE_ICMPV6_PKT_TOO_BIG 2
#define WIRE_ICMPV6_ECHO_REQUEST 128

/* Ethernet and 802.1Q, from the start of the frame / of the tag. */
enum {
	ETH_OFF_DST = 0,
	ETH_OFF_SRC = 6,
	ETH_OFF_TYPE = 12,
	VLAN_OFF_TCI = 0,
	VLAN_OFF_TYPE = 2,
};

/* IPv4 header (RFC 791 3.1). */
enum {
	IPV4_OFF_VER_IHL = 0,
	IPV4_OFF_TOS = 1,
	IPV4_OFF_TOTAL_LEN = 2,
	IPV4_OFF_ID = 4,
	IPV4_OFF_FRAG = 6, /* 3 flag bits, 13-bit offset in 8-byte units */
	IPV4_OFF_TTL = 8,
	IPV4_OFF_PROTO = 9,
	IPV4_OFF_CSUM = 10,
	IPV4_OFF_SRC = 12,
	IPV4_OFF_DST = 16,
	IPV4_OFF_OPTIONS = 20,
};

/* IPv6 header (RFC 8200 3), extension headers (4.2, 4.5). */
enum {
	IPV6_OFF_VER_TC_FLOW = 0,
	IPV6_OFF_PAYLOAD_LEN = 4,
	IPV6_OFF_NEXT = 6,
	IPV6_OFF_HOP_LIMIT = 7,
	IPV6_OFF_SRC = 8,
	IPV6_OFF_DST = 24,
	IPV6_EXT_OFF_NEXT = 0,
	IPV6_EXT_OFF_LEN = 1, /* in 8-byte units, not counting the first */
	IPV6_FRAG_OFF_NEXT = 0,
	IPV6_FRAG_OFF_OFFSET = 2, /* offset in bytes (8-aligned) | M */
	IPV6_FRAG_OFF_ID = 4,
};

/* TCP (RFC 9293 3.1), UDP (RFC 768), ICMP / ICMPv6 (RFC 792, 4443). */
enum {
	TCP_OFF_SPORT = 0,
	TCP_OFF_DPORT = 2,
	TCP_OFF_SEQ = 4,
	TCP_OFF_ACK = 8,
	TCP_OFF_DOFF = 12, /* data offset in the high nibble, 32-bit words */
	TCP_OFF_FLAGS = 13,
	TCP_OFF_WINDOW = 14,
	TCP_OFF_CSUM = 16,
	TCP_OFF_URG = 18,
	TCP_OFF_OPTIONS = 20,
	UDP_OFF_SPORT = 0,
	UDP_OFF_DPORT = 2,
	UDP_OFF_LEN = 4,
	UDP_OFF_CSUM = 6,
	ICMP_OFF_TYPE = 0,
	ICMP_OFF_CODE = 1,
	ICMP_OFF_CSUM = 2,
	ICMP_OFF_REST = 4,      /* echo: identifier and sequence */
	ICMP_OFF_NEXT_HOP_MTU = 6, /* ICMPv4 fragmentation needed (RFC 1191) */
	ICMPV6_OFF_MTU = 4,     /* ICMPv6 packet too big: 32 bits */
};

/* ARP over Ethernet for IPv4 (RFC 826), after the Ethernet header. */
enum {
	ARP_OFF_HTYPE = 0,
	ARP_OFF_PTYPE = 2,
	ARP_OFF_HLEN = 4,
	ARP_OFF_PLEN = 5,
	ARP_OFF_OPER = 6,
	ARP_OFF_SHA = 8,
	ARP_OFF_SPA = 14,
	ARP_OFF_THA = 18,
	ARP_OFF_TPA = 24,
};

extern const uint8_t wire_client_mac[ETH_ADDR_LEN];   /* 02:00:00:00:00:01 */
extern const uint8_t wire_balancer_mac[ETH_ADDR_LEN]; /* 02:00:00:00:00:02 */

static inline void put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline uint16_t get_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)get_be16(p) << 16 | get_be16(p + 2);
}

/* Layer 2 of a frame: the MACs are fixed, only the tag and the broadcast vary. */
struct l2_params {
	bool vlan;
	uint16_t vlan_tci;
	bool broadcast; /* ARP requests go to ff:ff:ff:ff:ff:ff */
};

/* Everything an IP header (and its extension headers) is built from. */
struct ip_params {
	uint8_t family;   /* 4 or 6 */
	uint8_t src[16];  /* IPv4 addresses in the first 4 bytes */
	uint8_t dst[16];
	uint8_t proto;    /* the upper-layer protocol, after any extension header */
	uint8_t ttl;      /* TTL or hop limit */
	uint8_t tos;      /* IPv4 TOS or IPv6 traffic class */
	uint16_t ipv4_id;
	bool df;
	uint8_t ipv4_options_len; /* 0, 4 or 8: Router Alert, NOP-padded */
	bool ipv6_dstopts;        /* one destination-options header (PadN) */
	uint32_t ipv6_flow_label;
	bool fragment;            /* IPv4 fragment fields, or an IPv6 fragment header */
	bool more_fragments;
	uint32_t frag_offset;     /* bytes, a multiple of 8 */
	uint32_t ipv6_frag_id;
};

size_t l2_len(const struct l2_params *l2);
size_t ip_headers_len(const struct ip_params *ip);

/* Ethernet header (and tag) at frame, client to balancer; returns its length. */
size_t write_eth(uint8_t *frame, const struct l2_params *l2, uint16_t ethertype);
/* Untagged Ethernet header src -> dst at frame; returns its length. */
size_t write_eth_addrs(uint8_t *frame, const uint8_t dst[ETH_ADDR_LEN],
		       const uint8_t src[ETH_ADDR_LEN], uint16_t ethertype);

/*
 * IP header and extension headers at p, for upper_len bytes after them
 * (for a fragment: its share of the datagram). IPv4 header checksum
 * included. Returns the length written.
 */
size_t write_ip_headers(uint8_t *p, const struct ip_params *ip, size_t upper_len);

/* Internet checksum (RFC 1071) pieces: a running sum over big-endian words. */
uint64_t csum_add(uint64_t sum, const uint8_t *p, size_t len);
uint16_t csum_fold(uint64_t sum);

/* Recompute the IPv4 header checksum over hdr_len bytes at ip. */
void ipv4_fill_checksum(uint8_t *ip, size_t hdr_len);

/*
 * Fill the checksum of the TCP, UDP, ICMP or ICMPv6 message of len bytes at
 * l4 (the whole datagram, for a fragmented one), with the pseudo-header of
 * ip for all but ICMPv4. The field is cleared first.
 */
void l4_fill_checksum(const struct ip_params *ip, uint8_t proto, uint8_t *l4, size_t len);

struct tcp_params {
	uint16_t sport;
	uint16_t dport;
	uint32_t seq;
	uint32_t ack;
	uint8_t flags;
	uint16_t window;
	bool syn_options; /* MSS, SACK permitted, window scale */
	uint16_t mss;
};

/* TCP header alone (with the SYN options if asked); checksum left 0. Returns its length. */
size_t write_tcp_header(uint8_t *p, const struct tcp_params *t);
/* TCP header and payload_len random bytes; checksum left 0. Returns the length. */
size_t write_tcp(uint8_t *p, const struct tcp_params *t, size_t payload_len, struct prng *rng);
/* UDP header alone, for payload_len bytes after it; checksum left 0. */
size_t write_udp_header(uint8_t *p, uint16_t sport, uint16_t dport, size_t payload_len);
/* UDP header and payload_len random bytes; checksum left 0. */
size_t write_udp(uint8_t *p, uint16_t sport, uint16_t dport, size_t payload_len,
		 struct prng *rng);
/* ICMP or ICMPv6 echo request with payload_len bytes; checksum left 0. */
size_t write_icmp_echo(uint8_t *p, uint8_t family, uint16_t ident, uint16_t seq,
		       size_t payload_len, struct prng *rng);
/* ICMP error header (4 type-specific bytes `rest`) and the quote; checksum left 0. */
size_t write_icmp_error(uint8_t *p, uint8_t type, uint8_t code, uint32_t rest,
			const uint8_t *quote, size_t quote_len);

/* Whole ARP request frame: who has target, tell sender. Returns its length. */
size_t write_arp_request(uint8_t *frame, const uint8_t sender_ip[4], const uint8_t target_ip[4]);

/* Where the bytes after the IP headers go, for a frame of l2 and ip. */
static inline size_t frame_upper_offset(const struct l2_params *l2, const struct ip_params *ip)
{
	return l2_len(l2) + ip_headers_len(ip);
}

/*
 * Complete a frame whose upper_len bytes after the IP headers are already
 * in place at frame + frame_upper_offset(): write the Ethernet and IP
 * headers in front, and the L4 checksum when fill_l4_checksum (not for a
 * fragment, whose checksum covers the whole datagram). Returns the frame
 * length, without Ethernet padding.
 */
size_t frame_compose(uint8_t *frame, const struct l2_params *l2, const struct ip_params *ip,
		     size_t upper_len, bool fill_l4_checksum);

#endif /* PKTGEN_WIRE_H */
