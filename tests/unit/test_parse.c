/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The shared packet parser (elb_parse.h) against real frames.
 *
 * Every frame below is a literal hex dump. The valid ones were built by byte
 * arithmetic outside this code base and checked with text2pcap + tshark -V
 * (layers, lengths, checksums); the malformed ones are those frames with one
 * field broken. Expected keys, offsets and flags are written by hand.
 *
 * Every parse runs twice: in a copy that ends exactly at a PROT_NONE guard
 * page (an over-read crashes the test), and in an exactly sized malloc() copy
 * (an over-read is an ASan report in the sanitized build). Headers must start
 * at even addresses (elb_wire.h), so a frame of odd length cannot both start
 * even and end at the page boundary: odd lengths end one byte before the
 * guard page, and their last byte is left to the ASan copy.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "elb_parse.h"
#include "elb_test.h"

_Static_assert(ELB_IPV6_EXT_MAX == 4, "the extension-chain fixtures assume 4 headers at most");

#define FRAME_MAX 2048

#define CLIENT4 "198.51.100.7"
#define VIP4 "203.0.113.10"
#define CLIENT6 "2001:db8:1::7"
#define VIP6 "2001:db8:2::a"

#define IPPROTO_GRE_ 47

struct want_key {
	uint8_t family;
	uint8_t proto;
	const char *src; /* text form */
	const char *dst;
	uint16_t sport; /* host order */
	uint16_t dport;
};

struct parse_case {
	const char *name;
	const char *hex;
	int result;             /* enum elb_parse_result */
	enum elb_reason reason; /* when ELB_PARSE_MALFORMED */
	/* The rest only when ELB_PARSE_IP. */
	struct want_key key;
	uint16_t l3_off;
	uint16_t l3_len;
	uint16_t l4_off;
	uint16_t vlan_tci;
	uint16_t ipv4_id; /* host order */
	uint8_t flags;
	uint8_t tcp_flags;
	uint8_t icmp_type;
	uint8_t icmp_code;
	uint8_t tos;
	uint8_t ttl;
};

#define IP_OK .result = ELB_PARSE_IP
#define NOT_IP .result = ELB_PARSE_NOT_IP
#define BAD(r) .result = ELB_PARSE_MALFORMED, .reason = ELB_REASON_##r
#define KEY4(p, sp, dp) .key = {ELB_AF_INET, (p), CLIENT4, VIP4, (sp), (dp)}
#define KEY6(p, sp, dp) .key = {ELB_AF_INET6, (p), CLIENT6, VIP6, (sp), (dp)}

#define DF ELB_PKT_DF
#define FRAG ELB_PKT_FRAGMENT
#define LATER ELB_PKT_LATER_FRAGMENT
#define ICMP_ERR ELB_PKT_ICMP_ERROR
#define V4OPT ELB_PKT_IPV4_OPTIONS

#define TCP ELB_IPPROTO_TCP
#define UDP ELB_IPPROTO_UDP

static const struct parse_case valid_cases[] = {
	/* ---- IPv4 TCP and UDP ---- */
	{
		.name = "IPv4 TCP SYN with MSS option, DF",
		.hex =
		/* 58 bytes */
		"02 00 00 00 00 01 02 00 00 00 00 02 08 00  # eth\n"
		"45 00 00 2c 12 34 40 00 40 06 c2 52 c6 33 64 07 cb 00 71 0a  # ipv4\n"
		"9c 40 00 50 11 22 33 44 00 00 00 00 60 02 fa f0 55 f9 00 00  # tcp\n"
		"02 04 05 b4  # tcp options\n",
		IP_OK, KEY4(TCP, 40000, 80), .l3_off = 14, .l3_len = 44, .l4_off = 34,
		.ipv4_id = 0x1234, .flags = DF, .tcp_flags = ELB_TCP_SYN, .ttl = 64,
	},
	{
		.name = "IPv4 TCP ACK+PSH with 9 data bytes",
		.hex =
		/* 63 bytes */
		"02 00 00 00 00 01 02 00 00 00 00 02 08 00  # eth\n"
		"45 00 00 31 12 34 40 00 40 06 c2 4d c6 33 64 07 cb 00 71 0a  # ipv4\n"
		"9c 40 00 50 11 22 33 44 55 66 77 88 50 18 fa f0 c2 27 00 00  # tcp\n"
		"47 45 54 20 2f 0d 0a 0d 0a  # data\n",
		IP_OK, KEY4(TCP, 40000, 80), .l3_off = 14, .l3_len = 49, .l4_off = 34,
		.ipv4_id = 0x1234, .flags = DF, .tcp_flags = ELB_TCP_ACK | ELB_TCP_PSH, .ttl = 64,
	},
	{
		.name = "IPv4 TCP FIN+ACK",
		.hex =
		/* 54 bytes */
		"02 00 00 00 00 01 02 00 00 00 00 02 08 00  # eth\n"
		"45 00 00 28 12 34 40 00 40 06 c2 56 c6 33 64 07 cb 00 71 0a  # ipv4\n"
		"9c 40 00 50 11 22 33 44 55 66 77 88 50 11 fa f0 a0 b7 00 00  # tcp\n",
		IP_OK, KEY4(TCP, 40000, 80), .l3_off = 14, .l3_len = 40, .l4_off = 34,
		.ipv4_id = 0x1234, .flags = DF, .tcp_flags = ELB_TCP_FIN | ELB_TCP_ACK, .ttl = 64,
	},
	{
		.name = "IPv4 TCP RST",
		.hex =
		/* 54 bytes */
		"02 00 00 00 00 01 02 00 00 00 00 02 08 00  # eth\n"
		"45 00 00 28 12 34 40 00 40 06 c2 56 c6 33 64 07 cb 00 71 0a  # ipv4\n"
		"9c 40 00 50 11 22 33 44 00 00 00 00 50 04 fa f0 6d b3 00 00  # tcp\n",
		IP_OK, KEY4(TCP, 40000, 80), .l3_off = 14, .l3_len = 40, .l4_off = 34,
		.ipv4_id = 0x1234, .flags = DF, .tcp_flags = ELB_TCP_RST, .ttl = 64,
	},
	{
		.name = "IPv4 UDP DNS query, TOS 0x28, odd length",
		.hex =
		/* 59 bytes */
		"02 00 00 00 00 01 02 00 00 00 00 02 08 00  # eth\n"
		"45 28 00 2d 12 34 00 00 40 11 02 1f c6 33 64 07 cb 00 71 0a  # ipv4\n"
		"14 e9 00 35 00 19 6e 23  # udp\n"
		"12 34 01 00 00 01 00 00 00 00 00 00 00 00 02 00 01  # data\n",
		IP_OK, KEY4(UDP, 5353, 53), .l3_off = 14, .l3_len = 45, .l4_off = 34,
		.ipv4_id = 0x1234, .tos = 0x28, .ttl = 64,
	},
	{
		.name = "IPv4 IHL 6 (router alert) UDP",
		.hex =
		/* 63 bytes */
		"02 00 00 00 00 01 02 00 00 00 00 02 08 00  # eth\n"
		"46 28 00 31 12 34 00 00 40 11 6d 16 c6 33 64 07 cb 00 71 0a  # ipv4\n"
		"94 04 00 00  # ipv4 options\n"
		"14 e9 00 35 00 19 6e 23  # udp\n"
		"12 34 01 00 00 01 00 00 00 00 00 00 00 00 02 00 01  # data\n",
		IP_OK, KEY4(UDP, 5353, 53), .l3_off = 14, .l3_len = 49, .l4_off = 38,
		.ipv4_id = 0x1234, .flags = V4OPT, .tos = 0x28, .ttl = 64,
	},
	{
		.name = "IPv4 IHL 15 (record route) TCP",
		.hex =
		/* 94 bytes */
		"02 00 00 00 00 01 02 00 00 00 00 02 08 00  # eth\n"
		"4f 00 00 50 12 34 40 00 40 06 ad 07 c6 33 64 07 cb 00 71 0a  # ipv4\n"
		"07 27 04 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00  # ipv4 options\n"
		"00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00\n"
		"9c 40 00 50 11 22 33 44 00 00 00 01 50 10 fa f0 6d a6 00 00  # tcp\n",
		IP_OK, KEY4(TCP, 40000, 80), .l3_off = 14, .l3_len = 80, .l4_off = 74,
		.ipv4_id = 0x1234, .flags = DF | V4OPT, .tcp_flags = ELB_TCP_ACK, .ttl = 64,
	},
	{
		.name = "60-byte frame, 40-byte IP packet, 6 bytes of Ethernet padding",
		.hex =
		/* 60 bytes */
		"02 00 00 00 00 01 02 00 00 00 00 02 08 00  # eth\n"
		"45 00 00 28 12 34 40 00 40 06 c2 56 c6 33 64 07 cb 00 71 0a  # ipv4\n"
		"9c 40 00 50 11 22 33 44 55 66 77 88 50 10 fa f0 a0 b8 00 00  # tcp\n"
		"00 00 00 00 00 00  # eth padding\n",
		IP_OK, KEY4(TCP, 40000, 80), .l3_off = 14, .l3_len = 40, .l4_off = 34,
		.ipv4_id = 0x1234, .flags = DF, .tcp_flags = ELB_TCP_ACK, .ttl = 64,
	},
	{
		.name = "802.1Q tag (PCP 3, VID 100), IPv4 UDP",
		.hex =
		/* 63 bytes */
		"02 00 00 00 00 01 02 00 00 00 00 02 81 00  # eth\n"
		"60 64 08 00  # vlan\n"
		"45 28 00 2d 12 34 00 00 40 11 02 1f c6 33 64 07 cb 00 71 0a  # ipv4\n"
		"14 e9 00 35 00 19 6e 23  # udp\n"
		"12 34 01 00 00 01 00 00 00 00 00 00 00 00 02 00 01  # data\n",
		IP_OK, KEY4(UDP, 5353, 53), .l3_off = 18, .l3_len = 45, .l4_off = 38,
		.vlan_tci = 0x6064, .ipv4_id = 0x1234, .flags = ELB_PKT_VLAN, .tos = 0x28,
		.ttl = 64,
	},
	/* ---- not ours ---- */
	{
		.name = "QinQ (802.1ad outer, 802.1Q inner)",
		.hex =
		/* 67 bytes */
		"02 00 00 00 00 01 02 00 00 00 00 02 88 a8  # eth\n"
		"00 c8 81 00  # eth\n"
		"00 64 08 00  # vlan\n"
		"45 28 00 2d 12 34 00 00 40 11 02 1f c6 33 64 07 cb 00 71 0a  # ipv4\n"
		"14 e9 00 35 00 19 6e 23  # udp\n"
		"12 34 01 00 00 01 00 00 00 00 00 00 00 00 02 00 01  # data\n",
		NOT_IP,
	},
	{
		.name = "two 802.1Q tags",
		.hex =
		/* 67 bytes */
		"02 00 00 00 00 01 02 00 00 00 00 02 81 00  # eth\n"
		"00 c8 81 00  # eth\n"
		"00 64 08 00  # vlan\n"
		"45 28 00 2d 12 34 00 00 40 11 02 1f c6 33 64 07 cb 00 71 0a  # ipv4\n"
		"14 e9 00 35 00 19 6e 23  # udp\n"
		"12 34 01 00 00 01 00 00 00 00 00 00 00 00 02 00 01  # data\n",
		NOT_IP,
	},
	{
		.name = "ARP request",
		.hex =
		/* 60 bytes */
		"ff ff ff ff ff ff 02 00 00 00 00 02 08 06  # eth\n"
		"00 01 08 00 06 04 00 01 02 00 00 00 00 02 c6 33 64 07 00 00  # arp\n"
		"00 00 00 00 cb 00 71 0a\n"
		"00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00  # eth padding\n",
		NOT_IP,
	},
	/* ---- IPv6 ---- */
	{
		.name = "IPv6 TCP SYN",
		.hex =
		/* 78 bytes */
		"02 00 00 00 00 01 02 00 00 00 00 02 86 dd  # eth\n"
		"60 01 23 45 00 18 06 40 20 01 0d b8 00 01 00 00 00 00 00 00  # ipv6\n"
		"00 00 00 07 20 01 0d b8 00 02 00 00 00 00 00 00 00 00 00 0a\n"
		"9c 40 00 50 11 22 33 44 00 00 00 00 60 02 fa f0 60 cd 00 00  # tcp\n"
		"02 04 05 a0  # tcp options\n",
		IP_OK, KEY6(TCP, 40000, 80), .l3_off = 14, .l3_len = 64, .l4_off = 54,
		.flags = DF, .tcp_flags = ELB_TCP_SYN, .ttl = 64,
	},
	{
		.name = "IPv6 UDP, traffic class 0xb8",
		.hex =
		/* 79 bytes */
		"02 00 00 00 00 01 02 00 00 00 00 02 86 dd  # eth\n"
		"6b 81 23 45 00 19 11 40 20 01 0d b8 00 01 00 00 00 00 00 00  # ipv6\n"
		"00 00 00 07 20 01 0d b8 00 02 00 00 00 00 00 00 00 00 00 0a\n"
		"14 e9 00 35 00 19 78 e3  # udp\n"
		"12 34 01 00 00 01 00 00 00 00 00 00 00 00 02 00 01  # data\n",
		IP_OK, KEY6(UDP, 5353, 53), .l3_off = 14, .l3_len = 65, .l4_off = 54,
		.flags = DF, .tos = 0xb8, .ttl = 64,
	},
	{
		.name = "IPv6 hop-by-hop, UDP",
		.hex =
		/* 87 bytes */
		"02 00 00 00 00 01 02 00 00 00 00 02 86 dd  # eth\n"
		"60 01 23 45 00 21 00 40 20 01 0d b8 00 01 00 00 00 00 00 00  # ipv6\n"
		"00 00 00 07 20 01 0d b8 00 02 00 00 00 00 00 00 00 00 00 0a\n"
		"11 00 01 04 00 00 00 00  # hop-by-hop\n"
		"14 e9 00 35 00 19 78 e3  # udp\n"
		"12 34 01 00 00 01 00 00 00 00 00 00 00 00 02 00 01  # data\n",
		IP_OK, KEY6(UDP, 5353, 53), .l3_off = 14, .l3_len = 73, .l4_off = 62,
		.flags = DF, .ttl = 64,
	},
	{
		.name = "IPv6 routing header (SRH, 24 bytes), TCP",
		.hex =
		/* 102 bytes */
		"02 00 00 00 00 01 02 00 00 00 00 02 86 dd  # eth\n"
		"60 01 23 45 00 30 2b 40 20 01 0d b8 00 01 00 00 00 00 00 00  # ipv6\n"
		"00 00 00 07 20 01 0d b8 00 02 00 00 00 00 00 00 00 00 00 0a\n"
		"06 02 04 00 00 00 00 00 20 01 0d b8 00 02 00 00 00 00 00 00  # routing (SRH)\n"
		"00 00 00 0a\n"
		"9c 40 00 50 11 22 33 44 00 00 00 00 60 02 fa f0 60 cd 00 00  # tcp\n"
		"02 04 05 a0  # tcp options\n",
		IP_OK, KEY6(TCP, 40000, 80), .l3_off = 14, .l3_len = 88, .l4_off = 78,
		.flags = DF, .tcp_flags = ELB_TCP_SYN, .ttl = 64,
	},
	{
		.name = "IPv6 destination options, UDP",
		.hex =
		/* 87 bytes */
		"02 00 00 00 00 01 02 00 00 00 00 02 86 dd  # eth\n"
		"60 01 23 45 00 21 3c 40 20 01 0d b8 00 01 00 00 00 00 00 00  # ipv6\n"
		"00 00 00 07 20 01 0d b8 00 02 00 00 00 00 00 00 00 00 00 0a\n"
		"11 00 01 04 00 00 00 00  # destination options\n"
		"14 e9 00 35 00 19 78 e3  # udp\n"
		"12 34 01 00 00 01 00 00 00 00 00 00 00 00 02 00 01  # data\n",
		IP_OK, KEY6(UDP, 5353, 53), .l3_off = 14, .l3_len = 73, .l4_off = 62,
		.flags = DF, .ttl = 64,
	},
	{
		.name = "IPv6 hop-by-hop, dest options, routing, dest options (4 = max), TCP",
		.hex =
		/* 126 bytes */
		"02 00 00 00 00 01 02 00 00 00 00 02 86 dd  # eth\n"
		"60 01 23 45 00 48 00 40 20 01 0d b8 00 01 00 00 00 00 00 00  # ipv6\n"
		"00 00 00 07 20 01 0d b8 00 02 00 00 00 00 00 00 00 00 00 0a\n"
		"3c 00 01 04 00 00 00 00  # hop-by-hop\n"
		"2b 00 01 04 00 00 00 00  # destination options\n"
		"3c 02 04 00 00 00 00 00 20 01 0d b8 00 02 00 00 00 00 00 00  # routing (SRH)\n"
		"00 00 00 0a\n"
		"06 00 01 04 00 00 00 00  # destination options\n"
		"9c 40 00 50 11 22 33 44 00 00 00 00 60 02 fa f0 60 cd 00 00  # tcp\n"
		"02 04 05 a0  # tcp options\n",
		IP_OK, KEY6(TCP, 40000, 80), .l3_off = 14, .l3_len = 112, .l4_off = 102,
		.flags = DF, .tcp_flags = ELB_TCP_SYN, .ttl = 64,
	},
	{
		.name = "IPv6 atomic fragment (offset 0, no MF) parsed as a whole packet",
		.hex =
		/* 87 bytes */
		"02 00 00 00 00 01 02 00 00 00 00 02 86 dd  # eth\n"
		"60 01 23 45 00 21 2c 40 20 01 0d b8 00 01 00 00 00 00 00 00  # ipv6\n"
		"00 00 00 07 20 01 0d b8 00 02 00 00 00 00 00 00 00 00 00 0a\n"
		"11 00 00 00 de ad be ef  # fragment (atomic)\n"
		"14 e9 00 35 00 19 78 e3  # udp\n"
		"12 34 01 00 00 01 00 00 00 00 00 00 00 00 02 00 01  # data\n",
		IP_OK, KEY6(UDP, 5353, 53), .l3_off = 14, .l3_len = 73, .l4_off = 62,
		.flags = DF, .ttl = 64,
	},
	/* ---- fragments ---- */
	{
		.name = "IPv4 first fragment (MF): ports not in the key",
		.hex =
		/* 58 bytes */
		"02 00 00 00 00 01 02 00 00 00 00 02 08 00  # eth\n"
		"45 00 00 2c 42 42 20 00 40 11 b2 39 c6 33 64 07 cb 00 71 0a  # ipv4\n"
		"9c 41 00 09 00 28 0c 0d  # udp\n"
		"00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f  # data\n",
		IP_OK, KEY4(UDP, 0, 0), .l3_off = 14, .l3_len = 44, .l4_off = 34,
		.ipv4_id = 0x4242, .flags = FRAG, .ttl = 64,
	},
	{
		.name = "IPv4 later fragment (offset 24): no L4 header",
		.hex =
		/* 50 bytes */
		"02 00 00 00 00 01 02 00 00 00 00 02 08 00  # eth\n"
		"45 00 00 24 42 42 00 03 40 11 d2 3e c6 33 64 07 cb 00 71 0a  # ipv4\n"
		"10 11 12 13 14 15 16 17 18 19 1a 1b 1c 1d 1e 1f  # data\n",
		IP_OK, KEY4(UDP, 0, 0), .l3_off = 14, .l3_len = 36, .l4_off = 0,
		.ipv4_id = 0x4242, .flags = FRAG | LATER, .ttl = 64,
	},
	{
		.name = "IPv4 last fragment ending a 65535-byte datagram",
		.hex =
		/* 45 bytes */
		"02 00 00 00 00 01 02 00 00 00 00 02 08 00  # eth\n"
		"# ipv4 (offset 8188, 11 bytes: datagram of 65535)\n"
		"45 00 00 1f 43 43 1f fc 40 11 b1 49 c6 33 64 07 cb 00 71 0a\n"
		"00 00 00 00 00 00 00 00 00 00 00  # data\n",
		IP_OK, KEY4(UDP, 0, 0), .l3_off = 14, .l3_len = 31, .l4_off = 0,
		.ipv4_id = 0x4343, .flags = FRAG | LATER, .ttl = 64,
	},
	{
		.name = "IPv6 first fragment: ports not in the key",
		.hex =
		/* 86 bytes */
		"02 00 00 00 00 01 02 00 00 00 00 02 86 dd  # eth\n"
		"60 01 23 45 00 20 2c 40 20 01 0d b8 00 01 00 00 00 00 00 00  # ipv6\n"
		"00 00 00 07 20 01 0d b8 00 02 00 00 00 00 00 00 00 00 00 0a\n"
		"11 00 00 01 de ad be ef  # fragment\n"
		"9c 41 00 09 00 28 16 cd  # udp\n"
		"00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f  # data\n",
		IP_OK, KEY6(UDP, 0, 0), .l3_off = 14, .l3_len = 72, .l4_off = 62,
		.flags = DF | FRAG, .ttl = 64,
	},
	{
		.name = "IPv6 later fragment (offset 24)",
		.hex =
		/* 78 bytes */
		"02 00 00 00 00 01 02 00 00 00 00 02 86 dd  # eth\n"
		"60 01 23 45 00 18 2c 40 20 01 0d b8 00 01 00 00 00 00 00 00  # ipv6\n"
		"00 00 00 07 20 01 0d b8 00 02 00 00 00 00 00 00 00 00 00 0a\n"
		"11 00 00 18 de ad be ef  # fragment\n"
		"10 11 12 13 14 15 16 17 18 19 1a 1b 1c 1d 1e 1f  # data\n",
		IP_OK, KEY6(UDP, 0, 0), .l3_off = 14, .l3_len = 64, .l4_off = 0,
		.flags = DF | FRAG | LATER, .ttl = 64,
	},
	{
		.name = "IPv6 last fragment ending a 65535-byte payload",
		.hex =
		/* 77 bytes */
		"02 00 00 00 00 01 02 00 00 00 00 02 86 dd  # eth\n"
		"60 01 23 45 00 17 2c 40 20 01 0d b8 00 01 00 00 00 00 00 00  # ipv6\n"
		"00 00 00 07 20 01 0d b8 00 02 00 00 00 00 00 00 00 00 00 0a\n"
		"11 00 ff f0 de ad be ef  # fragment (offset 8190)\n"
		"00 00 00 00 00 00 00 00 00 00 00 00 00 00 00  # data\n",
		IP_OK, KEY6(UDP, 0, 0), .l3_off = 14, .l3_len = 63, .l4_off = 0,
		.flags = DF | FRAG | LATER, .ttl = 64,
	},
	/* ---- other protocols ---- */
	{
		.name = "IPv4 GRE: keyed without ports",
		.hex =
		/* 66 bytes */
		"02 00 00 00 00 01 02 00 00 00 00 02 08 00  # eth\n"
		"45 00 00 34 12 34 40 00 40 2f c2 21 c6 33 64 07 cb 00 71 0a  # ipv4\n"
		"00 00 08 00  # gre\n"
		"45 00 00 1c 12 34 40 00 40 01 14 ab 0a 00 00 01 0a 00 00 02  # ipv4 inner\n"
		"08 00 f7 fd 00 01 00 01  # icmp inner\n",
		IP_OK, KEY4(IPPROTO_GRE_, 0, 0), .l3_off = 14, .l3_len = 52, .l4_off = 34,
		.ipv4_id = 0x1234, .flags = DF, .ttl = 64,
	},
	{
		.name = "IPv6 payload length 0, next header 59 (no next header)",
		.hex =
		/* 54 bytes */
		"02 00 00 00 00 01 02 00 00 00 00 02 86 dd  # eth\n"
		"# ipv6 (payload 0, next header 59)\n"
		"60 01 23 45 00 00 3b 40 20 01 0d b8 00 01 00 00 00 00 00 00\n"
		"00 00 00 07 20 01 0d b8 00 02 00 00 00 00 00 00 00 00 00 0a\n",
		IP_OK, KEY6(ELB_IPPROTO_NONE, 0, 0), .l3_off = 14, .l3_len = 40, .l4_off = 0,
		.flags = DF, .ttl = 64,
	},
	/* ---- ICMP ---- */
	{
		.name = "ICMP echo request: not an error, outer addresses",
		.hex =
		/* 50 bytes */
		"02 00 00 00 00 01 02 00 00 00 00 02 08 00  # eth\n"
		"45 00 00 24 12 34 00 00 40 01 02 60 c6 33 64 07 cb 00 71 0a  # ipv4\n"
		"08 00 4a 3f 1c 2a 00 01  # icmp\n"
		"61 62 63 64 65 66 67 68  # data\n",
		IP_OK, KEY4(ELB_IPPROTO_ICMP, 0, 0), .l3_off = 14, .l3_len = 36, .l4_off = 34,
		.ipv4_id = 0x1234, .icmp_type = ELB_ICMP_ECHO_REQUEST, .ttl = 64,
	},
	{
		.name = "ICMPv6 echo request",
		.hex =
		/* 70 bytes */
		"02 00 00 00 00 01 02 00 00 00 00 02 86 dd  # eth\n"
		"60 01 23 45 00 10 3a 40 20 01 0d b8 00 01 00 00 00 00 00 00  # ipv6\n"
		"00 00 00 07 20 01 0d b8 00 02 00 00 00 00 00 00 00 00 00 0a\n"
		"80 00 76 6e 1c 2a 00 01  # icmpv6\n"
		"61 62 63 64 65 66 67 68  # data\n",
		IP_OK, KEY6(ELB_IPPROTO_ICMPV6, 0, 0), .l3_off = 14, .l3_len = 56, .l4_off = 54,
		.flags = DF, .icmp_type = ELB_ICMPV6_ECHO_REQUEST, .ttl = 64,
	},
	{
		.name = "ICMP frag-needed from a router, quoting VIP:80 -> client:40000 TCP",
		.hex =
		/* 70 bytes */
		"02 00 00 00 00 01 02 00 00 00 00 02 08 00  # eth\n"
		"45 00 00 38 12 34 00 00 fa 01 b0 84 c0 00 02 01 cb 00 71 0a  # ipv4\n"
		"03 04 f5 6b 00 00 05 78  # icmp\n"
		"45 00 05 d4 77 77 40 00 40 06 57 67 cb 00 71 0a c6 33 64 07  # quoted ipv4\n"
		"00 50 9c 40 a1 b2 c3 d4  # quoted tcp (8 bytes)\n",
		IP_OK, KEY4(TCP, 40000, 80), .l3_off = 14, .l3_len = 56, .l4_off = 34,
		.ipv4_id = 0x1234, .flags = ICMP_ERR, .icmp_type = ELB_ICMP_DEST_UNREACH,
		.icmp_code = ELB_ICMP_FRAG_NEEDED, .ttl = 250,
	},
	{
		.name = "ICMP time exceeded quoting VIP:53 -> client:5353 UDP",
		.hex =
		/* 74 bytes */
		"02 00 00 00 00 01 02 00 00 00 00 02 08 00  # eth\n"
		"45 00 00 3c 12 34 00 00 fa 01 b0 80 c0 00 02 01 cb 00 71 0a  # ipv4\n"
		"0b 00 5b 63 00 00 00 00  # icmp\n"
		"45 00 00 20 12 34 00 00 01 11 41 54 cb 00 71 0a c6 33 64 07  # quoted ipv4\n"
		"00 35 14 e9 00 0c f0 bd  # quoted udp\n"
		"12 34 81 80  # quoted data\n",
		IP_OK, KEY4(UDP, 5353, 53), .l3_off = 14, .l3_len = 60, .l4_off = 34,
		.ipv4_id = 0x1234, .flags = ICMP_ERR, .icmp_type = ELB_ICMP_TIME_EXCEEDED,
		.ttl = 250,
	},
	{
		.name = "ICMP port unreachable quoting a UDP first fragment: ports zero",
		.hex =
		/* 70 bytes */
		"02 00 00 00 00 01 02 00 00 00 00 02 08 00  # eth\n"
		"45 00 00 38 12 34 00 00 40 01 6a 85 c0 00 02 01 cb 00 71 0a  # ipv4\n"
		"03 03 dc 26 00 00 00 00  # icmp\n"
		"# quoted ipv4 (first fragment)\n"
		"45 00 05 dc 51 51 20 00 40 11 9d 7a cb 00 71 0a c6 33 64 07\n"
		"00 35 14 e9 0b b8 00 00  # quoted udp\n",
		IP_OK, KEY4(UDP, 0, 0), .l3_off = 14, .l3_len = 56, .l4_off = 34,
		.ipv4_id = 0x1234, .flags = ICMP_ERR, .icmp_type = ELB_ICMP_DEST_UNREACH,
		.icmp_code = 3, .ttl = 64,
	},
	{
		.name = "ICMPv6 packet too big quoting VIP:53 -> client:5353 UDP",
		.hex =
		/* 118 bytes */
		"02 00 00 00 00 01 02 00 00 00 00 02 86 dd  # eth\n"
		"60 01 23 45 00 40 3a ff 20 01 0d b8 00 ff 00 00 00 00 00 00  # ipv6\n"
		"00 00 00 01 20 01 0d b8 00 02 00 00 00 00 00 00 00 00 00 0a\n"
		"02 00 07 92 00 00 05 00  # icmpv6\n"
		"60 01 23 45 05 80 11 40 20 01 0d b8 00 02 00 00 00 00 00 00  # quoted ipv6\n"
		"00 00 00 0a 20 01 0d b8 00 01 00 00 00 00 00 00 00 00 00 07\n"
		"00 35 14 e9 05 80 84 4a  # quoted udp\n"
		"00 00 00 00 00 00 00 00  # quoted data\n",
		IP_OK, KEY6(UDP, 5353, 53), .l3_off = 14, .l3_len = 104, .l4_off = 54,
		.flags = DF | ICMP_ERR, .icmp_type = ELB_ICMPV6_PKT_TOOBIG, .ttl = 255,
	},
	{
		.name = "ICMPv6 unreachable quoting TCP behind a destination options header",
		.hex =
		/* 130 bytes */
		"02 00 00 00 00 01 02 00 00 00 00 02 86 dd  # eth\n"
		"60 01 23 45 00 4c 3a ff 20 01 0d b8 00 ff 00 00 00 00 00 00  # ipv6\n"
		"00 00 00 01 20 01 0d b8 00 02 00 00 00 00 00 00 00 00 00 0a\n"
		"01 03 db 6b 00 00 00 00  # icmpv6\n"
		"60 01 23 45 00 1c 3c 40 20 01 0d b8 00 02 00 00 00 00 00 00  # quoted ipv6\n"
		"00 00 00 0a 20 01 0d b8 00 01 00 00 00 00 00 00 00 00 00 07\n"
		"06 00 01 04 00 00 00 00  # quoted dest options\n"
		"00 50 9c 40 a1 b2 c3 d4 11 22 33 45 50 12 fa f0 12 dd 00 00  # quoted tcp\n",
		IP_OK, KEY6(TCP, 40000, 80), .l3_off = 14, .l3_len = 116, .l4_off = 54,
		.flags = DF | ICMP_ERR, .icmp_type = ELB_ICMPV6_DEST_UNREACH, .icmp_code = 3,
		.ttl = 255,
	},
	{
		.name = "ICMPv6 time exceeded (reassembly) quoting a later fragment: ports zero",
		.hex =
		/* 118 bytes */
		"02 00 00 00 00 01 02 00 00 00 00 02 86 dd  # eth\n"
		"60 01 23 45 00 40 3a ff 20 01 0d b8 00 ff 00 00 00 00 00 00  # ipv6\n"
		"00 00 00 01 20 01 0d b8 00 02 00 00 00 00 00 00 00 00 00 0a\n"
		"03 01 d4 79 00 00 00 00  # icmpv6\n"
		"60 01 23 45 00 48 2c 01 20 01 0d b8 00 02 00 00 00 00 00 00  # quoted ipv6\n"
		"00 00 00 0a 20 01 0d b8 00 01 00 00 00 00 00 00 00 00 00 07\n"
		"11 00 05 c9 de ad be ef  # quoted fragment\n"
		"00 01 02 03 04 05 06 07  # quoted payload\n",
		IP_OK, KEY6(UDP, 0, 0), .l3_off = 14, .l3_len = 104, .l4_off = 54,
		.flags = DF | ICMP_ERR, .icmp_type = ELB_ICMPV6_TIME_EXCEEDED, .icmp_code = 1,
		.ttl = 255,
	},
};

static const struct parse_case malformed_cases[] = {
	{
		.name = "13-byte frame",
		.hex =
		/* 13 bytes */
		"02 00 00 00 00 01 02 00 00 00 00 02 08  # eth (13 bytes)\n",
		BAD(ETH_TRUNCATED),
	},
	{
		.name = "frame ends inside the 802.1Q tag",
		.hex =
		/* 16 bytes */
		"02 00 00 00 00 01 02 00 00 00 00 02 81 00  # eth\n"
		"00 64  # vlan (2 of 4 bytes)\n",
		BAD(VLAN_TRUNCATED),
	},
	{
		.name = "19 bytes of IPv4 header",
		.hex =
		/* 33 bytes */
		"02 00 00 00 00 01 02 00 00 00 00 02 08 00  # eth\n"
		"45 28 00 2d 12 34 00 00 40 11 02 1f c6 33 64 07 cb 00 71  # ipv4\n",
		BAD(IPV4_TRUNCATED),
	},
	{
		.name = "IPv4 ethertype, version 6",
		.hex =
		/* 59 bytes */
		"02 00 00 00 00 01 02 00 00 00 00 02 08 00  # eth\n"
		"65 28 00 2d 12 34 00 00 40 11 02 1f c6 33 64 07 cb 00 71 0a  # ipv4\n"
		"14 e9 00 35 00 19 6e 23  # udp\n"
		"12 34 01 00 00 01 00 00 00 00 00 00 00 00 02 00 01  # data\n",
		BAD(IPV4_BAD_VERSION),
	},
	{
		.name = "IPv4 IHL 4",
		.hex =
		/* 59 bytes */
		"02 00 00 00 00 01 02 00 00 00 00 02 08 00  # eth\n"
		"44 28 00 2d 12 34 00 00 40 11 02 1f c6 33 64 07 cb 00 71 0a  # ipv4\n"
		"14 e9 00 35 00 19 6e 23  # udp\n"
		"12 34 01 00 00 01 00 00 00 00 00 00 00 00 02 00 01  # data\n",
		BAD(IPV4_BAD_IHL),
	},
	{
		.name = "IPv4 IHL 0",
		.hex =
		/* 59 bytes */
		"02 00 00 00 00 01 02 00 00 00 00 02 08 00  # eth\n"
		"40 28 00 2d 12 34 00 00 40 11 02 1f c6 33 64 07 cb 00 71 0a  # ipv4\n"
		"14 e9 00 35 00 19 6e 23  # udp\n"
		"12 34 01 00 00 01 00 00 00 00 00 00 00 00 02 00 01  # data\n",
		BAD(IPV4_BAD_IHL),
	},
	{
		.name = "IPv4 IHL 8, frame ends after 4 option bytes",
		.hex =
		/* 38 bytes */
		"02 00 00 00 00 01 02 00 00 00 00 02 08 00  # eth\n"
		"48 00 00 20 12 34 40 00 40 11 bf 53 c6 33 64 07 cb 00 71 0a  # ipv4 (IHL 8)\n"
		"01 01 01 01  # 4 of 12 option bytes\n",
		BAD(IPV4_OPTIONS_TRUNCATED),
	},
	{
		.name = "IPv4 total length 19",
		.hex =
		/* 59 bytes */
		"02 00 00 00 00 01 02 00 00 00 00 02 08 00  # eth\n"
		"45 28 00 13 12 34 00 00 40 11 02 1f c6 33 64 07 cb 00 71 0a  # ipv4\n"
		"14 e9 00 35 00 19 6e 23  # udp\n"
		"12 34 01 00 00 01 00 00 00 00 00 00 00 00 02 00 01  # data\n",
		BAD(IPV4_BAD_TOTAL_LEN),
	},
	{
		.name = "IPv4 IHL 6, total length 20",
		.hex =
		/* 63 bytes */
		"02 00 00 00 00 01 02 00 00 00 00 02 08 00  # eth\n"
		"46 28 00 14 12 34 00 00 40 11 6d 16 c6 33 64 07 cb 00 71 0a  # ipv4\n"
		"94 04 00 00  # ipv4 options\n"
		"14 e9 00 35 00 19 6e 23  # udp\n"
		"12 34 01 00 00 01 00 00 00 00 00 00 00 00 02 00 01  # data\n",
		BAD(IPV4_BAD_TOTAL_LEN),
	},
	{
		.name = "IPv4 total length 100 in a 45-byte packet",
		.hex =
		/* 59 bytes */
		"02 00 00 00 00 01 02 00 00 00 00 02 08 00  # eth\n"
		"45 28 00 64 12 34 00 00 40 11 02 1f c6 33 64 07 cb 00 71 0a  # ipv4\n"
		"14 e9 00 35 00 19 6e 23  # udp\n"
		"12 34 01 00 00 01 00 00 00 00 00 00 00 00 02 00 01  # data\n",
		BAD(IPV4_BAD_TOTAL_LEN),
	},
	{
		.name = "IPv4 fragment at offset 65528 with 16 bytes",
		.hex =
		/* 50 bytes */
		"02 00 00 00 00 01 02 00 00 00 00 02 08 00  # eth\n"
		"# ipv4 (offset 8191, 16 bytes)\n"
		"45 00 00 24 43 43 1f ff 40 11 b1 41 c6 33 64 07 cb 00 71 0a\n"
		"00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00  # data\n",
		BAD(IPV4_BAD_FRAGMENT),
	},
	{
		.name = "IPv4 fragment making a 65536-byte datagram",
		.hex =
		/* 46 bytes */
		"02 00 00 00 00 01 02 00 00 00 00 02 08 00  # eth\n"
		"# ipv4 (offset 8188, 12 bytes: datagram of 65536)\n"
		"45 00 00 20 43 43 1f fc 40 11 b1 48 c6 33 64 07 cb 00 71 0a\n"
		"00 00 00 00 00 00 00 00 00 00 00 00  # data\n",
		BAD(IPV4_BAD_FRAGMENT),
	},
	{
		.name = "IPv4 TCP first fragment of 16 bytes (RFC 1858)",
		.hex =
		/* 50 bytes */
		"02 00 00 00 00 01 02 00 00 00 00 02 08 00  # eth\n"
		"# ipv4 (MF, offset 0, 16 bytes)\n"
		"45 00 00 24 12 34 20 00 40 06 e2 5a c6 33 64 07 cb 00 71 0a\n"
		"9c 40 00 50 11 22 33 44 00 00 00 00 50 02 fa f0  # 16 of 20 tcp bytes\n",
		BAD(IPV4_BAD_FRAGMENT),
	},
	{
		.name = "39 bytes of IPv6 header",
		.hex =
		/* 53 bytes */
		"02 00 00 00 00 01 02 00 00 00 00 02 86 dd  # eth\n"
		"60 01 23 45 00 19 11 40 20 01 0d b8 00 01 00 00 00 00 00 00  # ipv6\n"
		"00 00 00 07 20 01 0d b8 00 02 00 00 00 00 00 00 00 00 00\n",
		BAD(IPV6_TRUNCATED),
	},
	{
		.name = "IPv6 ethertype, version 4",
		.hex =
		/* 79 bytes */
		"02 00 00 00 00 01 02 00 00 00 00 02 86 dd  # eth\n"
		"40 01 23 45 00 19 11 40 20 01 0d b8 00 01 00 00 00 00 00 00  # ipv6\n"
		"00 00 00 07 20 01 0d b8 00 02 00 00 00 00 00 00 00 00 00 0a\n"
		"14 e9 00 35 00 19 78 e3  # udp\n"
		"12 34 01 00 00 01 00 00 00 00 00 00 00 00 02 00 01  # data\n",
		BAD(IPV6_BAD_VERSION),
	},
	{
		.name = "IPv6 payload length 100 in a 25-byte payload",
		.hex =
		/* 79 bytes */
		"02 00 00 00 00 01 02 00 00 00 00 02 86 dd  # eth\n"
		"60 01 23 45 00 64 11 40 20 01 0d b8 00 01 00 00 00 00 00 00  # ipv6\n"
		"00 00 00 07 20 01 0d b8 00 02 00 00 00 00 00 00 00 00 00 0a\n"
		"14 e9 00 35 00 19 78 e3  # udp\n"
		"12 34 01 00 00 01 00 00 00 00 00 00 00 00 02 00 01  # data\n",
		BAD(IPV6_BAD_PAYLOAD_LEN),
	},
	{
		.name = "IPv6 jumbogram (payload length 0, jumbo payload option)",
		.hex =
		/* 62 bytes */
		"02 00 00 00 00 01 02 00 00 00 00 02 86 dd  # eth\n"
		"# ipv6 (payload length 0)\n"
		"60 01 23 45 00 00 00 40 20 01 0d b8 00 01 00 00 00 00 00 00\n"
		"00 00 00 07 20 01 0d b8 00 02 00 00 00 00 00 00 00 00 00 0a\n"
		"11 00 c2 04 00 01 00 20  # hop-by-hop, jumbo payload\n",
		BAD(IPV6_BAD_PAYLOAD_LEN),
	},
	{
		.name = "IPv6 payload length 0 before a TCP header",
		.hex =
		/* 74 bytes */
		"02 00 00 00 00 01 02 00 00 00 00 02 86 dd  # eth\n"
		"# ipv6 (payload length 0, next header tcp)\n"
		"60 01 23 45 00 00 06 40 20 01 0d b8 00 01 00 00 00 00 00 00\n"
		"00 00 00 07 20 01 0d b8 00 02 00 00 00 00 00 00 00 00 00 0a\n"
		"9c 40 00 50 11 22 33 44 00 00 00 00 50 02 fa f0 00 00 00 00  # tcp\n",
		BAD(IPV6_BAD_PAYLOAD_LEN),
	},
	{
		.name = "IPv6 hop-by-hop of 16 bytes in a 12-byte payload",
		.hex =
		/* 66 bytes */
		"02 00 00 00 00 01 02 00 00 00 00 02 86 dd  # eth\n"
		"60 01 23 45 00 0c 00 40 20 01 0d b8 00 01 00 00 00 00 00 00  # ipv6\n"
		"00 00 00 07 20 01 0d b8 00 02 00 00 00 00 00 00 00 00 00 0a\n"
		"11 01 01 0a 00 00 00 00 00 00 00 00  # hop-by-hop (16 bytes declared)\n",
		BAD(IPV6_EXT_TRUNCATED),
	},
	{
		.name = "IPv6 payload of 4 bytes, next header destination options",
		.hex =
		/* 58 bytes */
		"02 00 00 00 00 01 02 00 00 00 00 02 86 dd  # eth\n"
		"# ipv6 (payload length 4)\n"
		"60 01 23 45 00 04 3c 40 20 01 0d b8 00 01 00 00 00 00 00 00\n"
		"00 00 00 07 20 01 0d b8 00 02 00 00 00 00 00 00 00 00 00 0a\n"
		"11 00 01 04  # 4 bytes\n",
		BAD(IPV6_EXT_TRUNCATED),
	},
	{
		.name = "IPv6 with 5 extension headers",
		.hex =
		/* 151 bytes */
		"02 00 00 00 00 01 02 00 00 00 00 02 86 dd  # eth\n"
		"60 01 23 45 00 61 00 40 20 01 0d b8 00 01 00 00 00 00 00 00  # ipv6\n"
		"00 00 00 07 20 01 0d b8 00 02 00 00 00 00 00 00 00 00 00 0a\n"
		"3c 00 01 04 00 00 00 00  # hop-by-hop\n"
		"2b 00 01 04 00 00 00 00  # destination options\n"
		"2b 02 04 00 00 00 00 00 20 01 0d b8 00 02 00 00 00 00 00 00  # routing (SRH)\n"
		"00 00 00 0a\n"
		"3c 02 04 00 00 00 00 00 20 01 0d b8 00 02 00 00 00 00 00 00  # routing (SRH)\n"
		"00 00 00 0a\n"
		"11 00 01 04 00 00 00 00  # destination options\n"
		"14 e9 00 35 00 19 78 e3  # udp\n"
		"12 34 01 00 00 01 00 00 00 00 00 00 00 00 02 00 01  # data\n",
		BAD(IPV6_EXT_CHAIN),
	},
	{
		.name = "IPv6 hop-by-hop after destination options",
		.hex =
		/* 95 bytes */
		"02 00 00 00 00 01 02 00 00 00 00 02 86 dd  # eth\n"
		"60 01 23 45 00 29 3c 40 20 01 0d b8 00 01 00 00 00 00 00 00  # ipv6\n"
		"00 00 00 07 20 01 0d b8 00 02 00 00 00 00 00 00 00 00 00 0a\n"
		"00 00 01 04 00 00 00 00  # destination options\n"
		"11 00 01 04 00 00 00 00  # hop-by-hop\n"
		"14 e9 00 35 00 19 78 e3  # udp\n"
		"12 34 01 00 00 01 00 00 00 00 00 00 00 00 02 00 01  # data\n",
		BAD(IPV6_EXT_CHAIN),
	},
	{
		.name = "IPv6 two fragment headers",
		.hex =
		/* 86 bytes */
		"02 00 00 00 00 01 02 00 00 00 00 02 86 dd  # eth\n"
		"60 01 23 45 00 20 2c 40 20 01 0d b8 00 01 00 00 00 00 00 00  # ipv6\n"
		"00 00 00 07 20 01 0d b8 00 02 00 00 00 00 00 00 00 00 00 0a\n"
		"2c 00 00 01 de ad be ef  # fragment (first, MF)\n"
		"11 00 00 01 de ad be ef  # fragment\n"
		"9c 41 00 09 00 28 00 00  # udp\n"
		"00 00 00 00 00 00 00 00  # data\n",
		BAD(IPV6_EXT_CHAIN),
	},
	{
		.name = "IPv6 two atomic fragment headers",
		.hex =
		/* 86 bytes */
		"02 00 00 00 00 01 02 00 00 00 00 02 86 dd  # eth\n"
		"60 01 23 45 00 20 2c 40 20 01 0d b8 00 01 00 00 00 00 00 00  # ipv6\n"
		"00 00 00 07 20 01 0d b8 00 02 00 00 00 00 00 00 00 00 00 0a\n"
		"2c 00 00 00 de ad be ef  # fragment (atomic)\n"
		"11 00 00 00 de ad be ef  # fragment (atomic)\n"
		"9c 41 00 09 00 10 07 fe  # udp\n"
		"00 00 00 00 00 00 00 00  # data\n",
		BAD(IPV6_EXT_CHAIN),
	},
	{
		.name = "IPv6 TCP first fragment of 16 bytes",
		.hex =
		/* 78 bytes */
		"02 00 00 00 00 01 02 00 00 00 00 02 86 dd  # eth\n"
		"60 01 23 45 00 18 2c 40 20 01 0d b8 00 01 00 00 00 00 00 00  # ipv6\n"
		"00 00 00 07 20 01 0d b8 00 02 00 00 00 00 00 00 00 00 00 0a\n"
		"06 00 00 01 de ad be ef  # fragment (first, MF)\n"
		"9c 40 00 50 11 22 33 44 00 00 00 00 50 02 fa f0  # 16 of 20 tcp bytes\n",
		BAD(IPV6_BAD_FRAGMENT),
	},
	{
		.name = "IPv6 fragment ending at 65536",
		.hex =
		/* 78 bytes */
		"02 00 00 00 00 01 02 00 00 00 00 02 86 dd  # eth\n"
		"60 01 23 45 00 18 2c 40 20 01 0d b8 00 01 00 00 00 00 00 00  # ipv6\n"
		"00 00 00 07 20 01 0d b8 00 02 00 00 00 00 00 00 00 00 00 0a\n"
		"11 00 ff f0 de ad be ef  # fragment (offset 8190)\n"
		"00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00  # data (ends at 65536)\n",
		BAD(IPV6_BAD_FRAGMENT),
	},
	{
		.name = "IPv4 payload of 16 TCP bytes",
		.hex =
		/* 50 bytes */
		"02 00 00 00 00 01 02 00 00 00 00 02 08 00  # eth\n"
		"# ipv4 (total length 36)\n"
		"45 00 00 24 12 34 40 00 40 06 c2 5a c6 33 64 07 cb 00 71 0a\n"
		"9c 40 00 50 11 22 33 44 00 00 00 00 50 02 fa f0  # 16 of 20 tcp bytes\n",
		BAD(TCP_TRUNCATED),
	},
	{
		.name = "IPv6 payload of 19 TCP bytes",
		.hex =
		/* 73 bytes */
		"02 00 00 00 00 01 02 00 00 00 00 02 86 dd  # eth\n"
		"60 01 23 45 00 13 06 40 20 01 0d b8 00 01 00 00 00 00 00 00  # ipv6 (payload 19)\n"
		"00 00 00 07 20 01 0d b8 00 02 00 00 00 00 00 00 00 00 00 0a\n"
		"9c 40 00 50 11 22 33 44 00 00 00 00 50 02 fa f0 00 00 00  # 19 of 20 tcp bytes\n",
		BAD(TCP_TRUNCATED),
	},
	{
		.name = "TCP data offset 4",
		.hex =
		/* 54 bytes */
		"02 00 00 00 00 01 02 00 00 00 00 02 08 00  # eth\n"
		"45 00 00 28 12 34 40 00 40 06 c2 56 c6 33 64 07 cb 00 71 0a  # ipv4\n"
		"9c 40 00 50 11 22 33 44 00 00 00 01 40 10 fa f0 6d a6 00 00  # tcp\n",
		BAD(TCP_BAD_DOFF),
	},
	{
		.name = "TCP data offset 6, 20-byte segment",
		.hex =
		/* 54 bytes */
		"02 00 00 00 00 01 02 00 00 00 00 02 08 00  # eth\n"
		"45 00 00 28 12 34 40 00 40 06 c2 56 c6 33 64 07 cb 00 71 0a  # ipv4\n"
		"9c 40 00 50 11 22 33 44 00 00 00 01 60 10 fa f0 6d a6 00 00  # tcp\n",
		BAD(TCP_BAD_DOFF),
	},
	{
		.name = "TCP data offset 15, 56-byte segment",
		.hex =
		/* 90 bytes */
		"02 00 00 00 00 01 02 00 00 00 00 02 08 00  # eth\n"
		"45 00 00 4c 12 34 40 00 40 06 c2 32 c6 33 64 07 cb 00 71 0a  # ipv4\n"
		"9c 40 00 50 11 22 33 44 00 00 00 01 f0 10 fa f0 6d 82 00 00  # tcp\n"
		"00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00  # data\n"
		"00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00\n",
		BAD(TCP_BAD_DOFF),
	},
	{
		.name = "IPv4 payload of 6 UDP bytes",
		.hex =
		/* 40 bytes */
		"02 00 00 00 00 01 02 00 00 00 00 02 08 00  # eth\n"
		"# ipv4 (total length 26)\n"
		"45 00 00 1a 12 34 40 00 40 11 c2 59 c6 33 64 07 cb 00 71 0a\n"
		"14 e9 00 35 00 08  # 6 of 8 udp bytes\n",
		BAD(UDP_TRUNCATED),
	},
	{
		.name = "UDP length 7",
		.hex =
		/* 59 bytes */
		"02 00 00 00 00 01 02 00 00 00 00 02 08 00  # eth\n"
		"45 28 00 2d 12 34 00 00 40 11 02 1f c6 33 64 07 cb 00 71 0a  # ipv4\n"
		"14 e9 00 35 00 07 6e 23  # udp\n"
		"12 34 01 00 00 01 00 00 00 00 00 00 00 00 02 00 01  # data\n",
		BAD(UDP_BAD_LEN),
	},
	{
		.name = "UDP length 26 in a 25-byte IPv4 payload",
		.hex =
		/* 59 bytes */
		"02 00 00 00 00 01 02 00 00 00 00 02 08 00  # eth\n"
		"45 28 00 2d 12 34 00 00 40 11 02 1f c6 33 64 07 cb 00 71 0a  # ipv4\n"
		"14 e9 00 35 00 1a 6e 23  # udp\n"
		"12 34 01 00 00 01 00 00 00 00 00 00 00 00 02 00 01  # data\n",
		BAD(UDP_BAD_LEN),
	},
	{
		.name = "UDP length 26 in a 25-byte IPv6 payload",
		.hex =
		/* 79 bytes */
		"02 00 00 00 00 01 02 00 00 00 00 02 86 dd  # eth\n"
		"60 01 23 45 00 19 11 40 20 01 0d b8 00 01 00 00 00 00 00 00  # ipv6\n"
		"00 00 00 07 20 01 0d b8 00 02 00 00 00 00 00 00 00 00 00 0a\n"
		"14 e9 00 35 00 1a 78 e3  # udp\n"
		"12 34 01 00 00 01 00 00 00 00 00 00 00 00 02 00 01  # data\n",
		BAD(UDP_BAD_LEN),
	},
	{
		.name = "IPv4 payload of 4 ICMP bytes",
		.hex =
		/* 38 bytes */
		"02 00 00 00 00 01 02 00 00 00 00 02 08 00  # eth\n"
		"# ipv4 (total length 24)\n"
		"45 00 00 18 12 34 00 00 40 01 02 6c c6 33 64 07 cb 00 71 0a\n"
		"08 00 f7 ff  # 4 of 8 icmp bytes\n",
		BAD(ICMP_TRUNCATED),
	},
	{
		.name = "IPv6 payload of 7 ICMPv6 bytes",
		.hex =
		/* 61 bytes */
		"02 00 00 00 00 01 02 00 00 00 00 02 86 dd  # eth\n"
		"60 01 23 45 00 07 3a 40 20 01 0d b8 00 01 00 00 00 00 00 00  # ipv6 (payload 7)\n"
		"00 00 00 07 20 01 0d b8 00 02 00 00 00 00 00 00 00 00 00 0a\n"
		"80 00 00 00 00 01 00  # 7 of 8 icmpv6 bytes\n",
		BAD(ICMP_TRUNCATED),
	},
	{
		.name = "ICMP error quoting an IPv4 header and 4 bytes",
		.hex =
		/* 66 bytes */
		"02 00 00 00 00 01 02 00 00 00 00 02 08 00  # eth\n"
		"45 00 00 34 12 34 00 00 fa 01 b0 88 c0 00 02 01 cb 00 71 0a  # ipv4\n"
		"03 04 5a f3 00 00 05 78  # icmp\n"
		"45 00 00 28 12 34 40 00 40 06 c2 56 cb 00 71 0a c6 33 64 07  # quoted ipv4\n"
		"00 50 9c 40  # 4 quoted tcp bytes\n",
		BAD(ICMP_INNER_TRUNCATED),
	},
	{
		.name = "ICMP error quoting 12 bytes of an IPv4 header",
		.hex =
		/* 54 bytes */
		"02 00 00 00 00 01 02 00 00 00 00 02 08 00  # eth\n"
		"45 00 00 28 12 34 00 00 fa 01 b0 94 c0 00 02 01 cb 00 71 0a  # ipv4\n"
		"03 04 5d ca 00 00 05 78  # icmp\n"
		"45 00 00 28 12 34 40 00 40 06 c2 56  # 12 bytes of the quoted ipv4 header\n",
		BAD(ICMP_INNER_TRUNCATED),
	},
	{
		.name = "ICMP error quoting an IHL 15 header cut after 28 bytes",
		.hex =
		/* 70 bytes */
		"02 00 00 00 00 01 02 00 00 00 00 02 08 00  # eth\n"
		"45 00 00 38 12 34 00 00 fa 01 b0 84 c0 00 02 01 cb 00 71 0a  # ipv4\n"
		"03 04 07 94 00 00 05 78  # icmp\n"
		"# quoted ipv4 (IHL 15), cut after 28 bytes\n"
		"4f 00 00 50 12 34 40 00 40 06 a4 1a cb 00 71 0a c6 33 64 07\n"
		"01 01 01 01 01 01 01 01  # quoted ipv4 options\n",
		BAD(ICMP_INNER_TRUNCATED),
	},
	{
		.name = "ICMP error quoting version 6 as IPv4",
		.hex =
		/* 70 bytes */
		"02 00 00 00 00 01 02 00 00 00 00 02 08 00  # eth\n"
		"45 00 00 38 12 34 00 00 fa 01 b0 84 c0 00 02 01 cb 00 71 0a  # ipv4\n"
		"03 04 f6 8c 00 00 05 78  # icmp\n"
		"# quoted 'ipv4' with version 6\n"
		"65 00 00 28 12 34 40 00 40 06 c2 56 cb 00 71 0a c6 33 64 07\n"
		"00 50 9c 40 11 22 33 44  # quoted tcp\n",
		BAD(ICMP_INNER_BAD),
	},
	{
		.name = "ICMP error quoting IPv4 with IHL 3",
		.hex =
		/* 70 bytes */
		"02 00 00 00 00 01 02 00 00 00 00 02 08 00  # eth\n"
		"45 00 00 38 12 34 00 00 fa 01 b0 84 c0 00 02 01 cb 00 71 0a  # ipv4\n"
		"03 04 18 8d 00 00 05 78  # icmp\n"
		"# quoted ipv4 with IHL 3\n"
		"43 00 00 28 12 34 40 00 40 06 c2 56 cb 00 71 0a c6 33 64 07\n"
		"00 50 9c 40 11 22 33 44  # quoted tcp\n",
		BAD(ICMP_INNER_BAD),
	},
	{
		.name = "ICMPv6 error quoting an IPv6 header and 4 bytes",
		.hex =
		/* 106 bytes */
		"02 00 00 00 00 01 02 00 00 00 00 02 86 dd  # eth\n"
		"60 01 23 45 00 34 3a ff 20 01 0d b8 00 ff 00 00 00 00 00 00  # ipv6\n"
		"00 00 00 01 20 01 0d b8 00 02 00 00 00 00 00 00 00 00 00 0a\n"
		"02 00 96 d8 00 00 05 00  # icmpv6\n"
		"60 01 23 45 00 10 11 40 20 01 0d b8 00 02 00 00 00 00 00 00  # quoted ipv6\n"
		"00 00 00 0a 20 01 0d b8 00 01 00 00 00 00 00 00 00 00 00 07\n"
		"00 35 14 e9  # 4 quoted udp bytes\n",
		BAD(ICMP_INNER_TRUNCATED),
	},
	{
		.name = "ICMPv6 error quoting half of an extension header",
		.hex =
		/* 110 bytes */
		"02 00 00 00 00 01 02 00 00 00 00 02 86 dd  # eth\n"
		"60 01 23 45 00 38 3a ff 20 01 0d b8 00 ff 00 00 00 00 00 00  # ipv6\n"
		"00 00 00 01 20 01 0d b8 00 02 00 00 00 00 00 00 00 00 00 0a\n"
		"02 00 6e df 00 00 05 00  # icmpv6\n"
		"60 01 23 45 00 18 3c 40 20 01 0d b8 00 02 00 00 00 00 00 00  # quoted ipv6\n"
		"00 00 00 0a 20 01 0d b8 00 01 00 00 00 00 00 00 00 00 00 07\n"
		"11 01 01 0a 00 00 00 00  # quoted destination options, 8 of 16 bytes\n",
		BAD(ICMP_INNER_TRUNCATED),
	},
	{
		.name = "ICMPv6 error quoting version 4 as IPv6",
		.hex =
		/* 110 bytes */
		"02 00 00 00 00 01 02 00 00 00 00 02 86 dd  # eth\n"
		"60 01 23 45 00 38 3a ff 20 01 0d b8 00 ff 00 00 00 00 00 00  # ipv6\n"
		"00 00 00 01 20 01 0d b8 00 02 00 00 00 00 00 00 00 00 00 0a\n"
		"02 00 b1 c4 00 00 05 00  # icmpv6\n"
		"# quoted 'ipv6' with version 4\n"
		"45 01 23 45 00 10 11 40 20 01 0d b8 00 02 00 00 00 00 00 00\n"
		"00 00 00 0a 20 01 0d b8 00 01 00 00 00 00 00 00 00 00 00 07\n"
		"00 35 14 e9 00 10 00 00  # quoted udp\n",
		BAD(ICMP_INNER_BAD),
	},
	{
		.name = "ICMPv6 error quoting hop-by-hop after destination options",
		.hex =
		/* 126 bytes */
		"02 00 00 00 00 01 02 00 00 00 00 02 86 dd  # eth\n"
		"60 01 23 45 00 48 3a ff 20 01 0d b8 00 ff 00 00 00 00 00 00  # ipv6\n"
		"00 00 00 01 20 01 0d b8 00 02 00 00 00 00 00 00 00 00 00 0a\n"
		"02 00 58 a4 00 00 05 00  # icmpv6\n"
		"60 01 23 45 00 18 3c 40 20 01 0d b8 00 02 00 00 00 00 00 00  # quoted ipv6\n"
		"00 00 00 0a 20 01 0d b8 00 01 00 00 00 00 00 00 00 00 00 07\n"
		"00 00 01 04 00 00 00 00  # quoted destination options\n"
		"11 00 01 04 00 00 00 00  # quoted hop-by-hop (not first)\n"
		"00 35 14 e9 00 10 00 00  # quoted udp\n",
		BAD(ICMP_INNER_BAD),
	},
};

/* ------------------------------------------------------------------------ */
/* Guarded parsing */

static uint8_t *guard_end; /* first byte of the PROT_NONE page */
static size_t guard_room;  /* readable bytes before it */

static void guard_setup(void)
{
	long page = sysconf(_SC_PAGESIZE);
	size_t pages = (FRAME_MAX + (size_t)page - 1) / (size_t)page;
	uint8_t *base;

	base = mmap(NULL, (pages + 1) * (size_t)page, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (base == MAP_FAILED || mprotect(base + pages * (size_t)page, (size_t)page, PROT_NONE)) {
		perror("guard page");
		exit(2);
	}
	guard_end = base + pages * (size_t)page;
	guard_room = pages * (size_t)page;
}

/*
 * Parse frame[0..len) placed so that it ends at the guard page (even length)
 * or one byte before it (odd length: the start stays 2-byte aligned), and
 * again from an exactly sized heap copy; both runs must agree byte for byte.
 * *pkt is filled with garbage first: the parser must set every byte.
 */
static int parse_guarded(const uint8_t *frame, size_t len, struct elb_packet *pkt)
{
	struct elb_packet heap_pkt;
	uint8_t *start, *copy;
	int res, heap_res;

	if (len > guard_room) {
		fprintf(stderr, "frame of %zu bytes does not fit the guard area\n", len);
		abort();
	}
	start = guard_end - len - (len & 1);
	memmove(start, frame, len);
	memset(pkt, 0xa5, sizeof(*pkt));
	res = elb_parse(start, start + len, pkt);
	CU_ASSERT(memcmp(start, frame, len) == 0); /* read only */

	copy = malloc(len ? len : 1);
	if (copy == NULL)
		abort();
	memcpy(copy, frame, len);
	memset(&heap_pkt, 0x5a, sizeof(heap_pkt));
	heap_res = elb_parse(copy, copy + len, &heap_pkt);
	free(copy);

	CU_ASSERT_EQUAL(res, heap_res);
	CU_ASSERT(memcmp(pkt, &heap_pkt, sizeof(*pkt)) == 0);
	return res;
}

static size_t load(const struct parse_case *c, uint8_t *buf)
{
	return elb_test_hex(c->hex, buf, FRAME_MAX);
}

static bool reason_is_parser(unsigned int r)
{
	return r >= ELB_REASON_ETH_TRUNCATED && r <= ELB_REASON_ICMP_INNER_BAD;
}

static bool all_zero(const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n--)
		if (*b++)
			return false;
	return true;
}

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/*
 * What must hold for any parse of frame[0..len), whatever the bytes: checked
 * for every table frame, every truncation and every random frame. Returns
 * false (and says why) on the first violation.
 */
static bool invariants_hold(const uint8_t *frame, size_t len, int res,
			    const struct elb_packet *pkt, const char **why)
{
	const struct elb_flow_key *k = &pkt->key;
	uint32_t l3_end, hdr_min;
	uint16_t ethertype;

#define REQUIRE(cond)                                                                              \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			*why = #cond;                                                              \
			return false;                                                              \
		}                                                                                  \
	} while (0)

	REQUIRE(all_zero(pkt->pad, sizeof(pkt->pad)));
	REQUIRE(all_zero(k->pad, sizeof(k->pad)));
	REQUIRE(res == ELB_PARSE_IP || res == ELB_PARSE_NOT_IP || res == ELB_PARSE_MALFORMED);
	if (res == ELB_PARSE_MALFORMED) {
		REQUIRE(reason_is_parser(pkt->reason));
		return true;
	}
	REQUIRE(pkt->reason == ELB_REASON_NONE);
	if (res == ELB_PARSE_NOT_IP) {
		REQUIRE(len >= 14);
		return true;
	}

	REQUIRE(pkt->l3_off == 14 || pkt->l3_off == 18);
	REQUIRE((pkt->l3_off == 18) == !!(pkt->flags & ELB_PKT_VLAN));
	REQUIRE(pkt->l3_off + (size_t)pkt->l3_len <= len);
	ethertype = rd16(frame + pkt->l3_off - 2);
	if (ethertype == ELB_ETHERTYPE_IPV4) {
		REQUIRE(k->family == ELB_AF_INET);
		REQUIRE(frame[pkt->l3_off] >> 4 == 4);
		hdr_min = (uint32_t)(frame[pkt->l3_off] & 0xf) * 4;
		REQUIRE(hdr_min >= 20 && pkt->l3_len >= hdr_min);
		REQUIRE(all_zero(&k->src.v6[4], 12) && all_zero(&k->dst.v6[4], 12));
		REQUIRE(!!(pkt->flags & ELB_PKT_IPV4_OPTIONS) == (hdr_min > 20));
		if (!(pkt->flags & ELB_PKT_LATER_FRAGMENT))
			REQUIRE(pkt->l4_off == (pkt->l3_len > hdr_min ? pkt->l3_off + hdr_min : 0));
		if (!(pkt->flags & ELB_PKT_ICMP_ERROR)) {
			REQUIRE(memcmp(&k->src.v4, frame + pkt->l3_off + 12, 4) == 0);
			REQUIRE(memcmp(&k->dst.v4, frame + pkt->l3_off + 16, 4) == 0);
			REQUIRE(k->proto == frame[pkt->l3_off + 9]);
		}
	} else {
		REQUIRE(ethertype == ELB_ETHERTYPE_IPV6);
		REQUIRE(k->family == ELB_AF_INET6);
		REQUIRE(frame[pkt->l3_off] >> 4 == 6);
		REQUIRE(pkt->flags & ELB_PKT_DF);
		REQUIRE(!(pkt->flags & ELB_PKT_IPV4_OPTIONS));
		hdr_min = 40;
		REQUIRE(pkt->l3_len >= 40);
		if (!(pkt->flags & ELB_PKT_ICMP_ERROR)) {
			REQUIRE(memcmp(k->src.v6, frame + pkt->l3_off + 8, 16) == 0);
			REQUIRE(memcmp(k->dst.v6, frame + pkt->l3_off + 24, 16) == 0);
		}
	}
	l3_end = pkt->l3_off + (uint32_t)pkt->l3_len;
	if (pkt->l4_off != 0)
		REQUIRE(pkt->l4_off >= pkt->l3_off + hdr_min && pkt->l4_off < l3_end);
	if (pkt->flags & ELB_PKT_LATER_FRAGMENT)
		REQUIRE((pkt->flags & ELB_PKT_FRAGMENT) && pkt->l4_off == 0);
	if (pkt->flags & ELB_PKT_FRAGMENT) {
		REQUIRE(k->sport == 0 && k->dport == 0 && pkt->tcp_flags == 0);
		REQUIRE(!(pkt->flags & ELB_PKT_ICMP_ERROR));
	}
	if (pkt->flags & ELB_PKT_ICMP_ERROR) {
		REQUIRE(pkt->l4_off != 0 && pkt->l4_off + 8u <= l3_end);
		REQUIRE(frame[pkt->l4_off] == pkt->icmp_type);
		REQUIRE(elb_icmp_is_error(k->family, pkt->icmp_type));
		REQUIRE(pkt->tcp_flags == 0);
	} else if (!(pkt->flags & ELB_PKT_FRAGMENT)) {
		if (k->proto == ELB_IPPROTO_TCP) {
			REQUIRE(pkt->l4_off != 0 && pkt->l4_off + 20u <= l3_end);
			REQUIRE(memcmp(&k->sport, frame + pkt->l4_off, 2) == 0);
			REQUIRE(memcmp(&k->dport, frame + pkt->l4_off + 2, 2) == 0);
			REQUIRE(pkt->tcp_flags == frame[pkt->l4_off + 13]);
			REQUIRE(frame[pkt->l4_off + 12] >> 4 >= 5);
		} else if (k->proto == ELB_IPPROTO_UDP) {
			REQUIRE(pkt->l4_off != 0 && pkt->l4_off + 8u <= l3_end);
			REQUIRE(memcmp(&k->sport, frame + pkt->l4_off, 2) == 0);
			REQUIRE(memcmp(&k->dport, frame + pkt->l4_off + 2, 2) == 0);
			REQUIRE(rd16(frame + pkt->l4_off + 4) >= 8);
			REQUIRE(rd16(frame + pkt->l4_off + 4) <= l3_end - pkt->l4_off);
		} else {
			REQUIRE(k->sport == 0 && k->dport == 0 && pkt->tcp_flags == 0);
		}
		if ((k->family == ELB_AF_INET && k->proto == ELB_IPPROTO_ICMP) ||
		    (k->family == ELB_AF_INET6 && k->proto == ELB_IPPROTO_ICMPV6))
			REQUIRE(pkt->l4_off != 0 && frame[pkt->l4_off] == pkt->icmp_type);
	}
	return true;
#undef REQUIRE
}

static void assert_invariants(const char *what, const uint8_t *frame, size_t len, int res,
			      const struct elb_packet *pkt)
{
	const char *why = NULL;
	bool ok = invariants_hold(frame, len, res, pkt, &why);

	if (!ok)
		fprintf(stderr, "\n%s (%zu bytes, result %d, reason %s): violates %s\n", what, len,
			res, elb_reason_name((enum elb_reason)pkt->reason), why);
	CU_ASSERT(ok);
}

/* ------------------------------------------------------------------------ */
/* The tables */

static void addr_of(const char *text, uint8_t family, union elb_addr *a)
{
	memset(a, 0, sizeof(*a));
	if (inet_pton(family == ELB_AF_INET ? AF_INET : AF_INET6, text, a) != 1) {
		fprintf(stderr, "bad address in a fixture: %s\n", text);
		abort();
	}
}

#define CHECK_FIELD(c, got, want)                                                                  \
	do {                                                                                       \
		if ((got) != (want)) {                                                             \
			fprintf(stderr, "\n%s: %s = %#x, want %#x\n", (c)->name, #got,             \
				(unsigned int)(got), (unsigned int)(want));                        \
			CU_FAIL(#got);                                                             \
		}                                                                                  \
	} while (0)

static void check_case(const struct parse_case *c)
{
	uint8_t frame[FRAME_MAX];
	size_t len = load(c, frame);
	struct elb_packet pkt;
	struct elb_flow_key want;
	int res = parse_guarded(frame, len, &pkt);

	CHECK_FIELD(c, res, c->result);
	if (res != c->result)
		return;
	assert_invariants(c->name, frame, len, res, &pkt);
	if (res == ELB_PARSE_MALFORMED) {
		if (pkt.reason != c->reason)
			fprintf(stderr, "\n%s: reason %s, want %s\n", c->name,
				elb_reason_name((enum elb_reason)pkt.reason),
				elb_reason_name(c->reason));
		CU_ASSERT_EQUAL(pkt.reason, c->reason);
		return;
	}
	if (res != ELB_PARSE_IP)
		return;

	memset(&want, 0, sizeof(want));
	addr_of(c->key.src, c->key.family, &want.src);
	addr_of(c->key.dst, c->key.family, &want.dst);
	want.sport = htons(c->key.sport);
	want.dport = htons(c->key.dport);
	want.proto = c->key.proto;
	want.family = c->key.family;
	if (memcmp(&pkt.key, &want, sizeof(want)) != 0) {
		fprintf(stderr, "\n%s: flow key differs\n", c->name);
		ELB_ASSERT_BYTES((const uint8_t *)&pkt.key, sizeof(pkt.key),
				 (const uint8_t *)&want, sizeof(want));
	}
	CHECK_FIELD(c, pkt.l3_off, c->l3_off);
	CHECK_FIELD(c, pkt.l3_len, c->l3_len);
	CHECK_FIELD(c, pkt.l4_off, c->l4_off);
	CHECK_FIELD(c, pkt.vlan_tci, c->vlan_tci);
	CHECK_FIELD(c, ntohs(pkt.ipv4_id), c->ipv4_id);
	CHECK_FIELD(c, pkt.flags, c->flags);
	CHECK_FIELD(c, pkt.tcp_flags, c->tcp_flags);
	CHECK_FIELD(c, pkt.icmp_type, c->icmp_type);
	CHECK_FIELD(c, pkt.icmp_code, c->icmp_code);
	CHECK_FIELD(c, pkt.tos, c->tos);
	CHECK_FIELD(c, pkt.ttl, c->ttl);
}

static void test_valid_frames(void)
{
	for (size_t i = 0; i < ELB_ARRAY_SIZE(valid_cases); i++)
		check_case(&valid_cases[i]);
}

static void test_malformed_frames(void)
{
	for (size_t i = 0; i < ELB_ARRAY_SIZE(malformed_cases); i++)
		check_case(&malformed_cases[i]);
}

/* Every reason the parser can give has a frame of its own above. */
static void test_every_parser_reason_covered(void)
{
	for (unsigned int r = ELB_REASON_ETH_TRUNCATED; r <= ELB_REASON_ICMP_INNER_BAD; r++) {
		bool seen = false;

		for (size_t i = 0; i < ELB_ARRAY_SIZE(malformed_cases); i++)
			seen |= malformed_cases[i].reason == r;
		if (!seen)
			fprintf(stderr, "\nno frame for reason %s\n", elb_reason_name(r));
		CU_ASSERT(seen);
	}
}

static const struct parse_case *find_case(const char *name)
{
	for (size_t i = 0; i < ELB_ARRAY_SIZE(valid_cases); i++)
		if (strcmp(valid_cases[i].name, name) == 0)
			return &valid_cases[i];
	fprintf(stderr, "no case named %s\n", name);
	abort();
}

/* IHL 6..15: NOP options inserted into the IPv4 UDP frame, lengths fixed up. */
static void test_ipv4_ihl_6_to_15(void)
{
	const struct parse_case *base = find_case("IPv4 UDP DNS query, TOS 0x28, odd length");
	uint8_t orig[FRAME_MAX], frame[FRAME_MAX];
	size_t len = load(base, orig);

	for (unsigned int ihl = 6; ihl <= 15; ihl++) {
		size_t opt = (ihl - 5) * 4;
		uint16_t total = (uint16_t)(45 + opt);
		struct elb_packet pkt;
		int res;

		memcpy(frame, orig, 34);
		memset(frame + 34, 0x01, opt); /* NOP */
		memcpy(frame + 34 + opt, orig + 34, len - 34);
		frame[14] = (uint8_t)(0x40 | ihl);
		frame[16] = (uint8_t)(total >> 8);
		frame[17] = (uint8_t)total;
		res = parse_guarded(frame, len + opt, &pkt);
		CU_ASSERT_EQUAL_FATAL(res, ELB_PARSE_IP);
		CU_ASSERT_EQUAL(pkt.l3_len, total);
		CU_ASSERT_EQUAL(pkt.l4_off, 14 + ihl * 4);
		CU_ASSERT_EQUAL(pkt.flags, ELB_PKT_IPV4_OPTIONS);
		CU_ASSERT_EQUAL(ntohs(pkt.key.sport), 5353);
		CU_ASSERT_EQUAL(ntohs(pkt.key.dport), 53);
		assert_invariants("IHL loop", frame, len + opt, res, &pkt);
	}
}

/*
 * Every prefix of every table frame: never a read past the prefix, never an
 * IP result that reaches past it. A prefix of a valid frame is malformed,
 * unless it still holds the whole IP packet (it cut Ethernet padding only),
 * in which case it parses exactly as the whole frame did.
 */
static void truncate_case(const struct parse_case *c)
{
	uint8_t frame[FRAME_MAX];
	size_t len = load(c, frame);
	struct elb_packet full, pkt;
	int full_res = parse_guarded(frame, len, &full);

	for (size_t cut = 0; cut < len; cut++) {
		int res = parse_guarded(frame, cut, &pkt);

		assert_invariants(c->name, frame, cut, res, &pkt);
		if (cut < 14) {
			CU_ASSERT_EQUAL(res, ELB_PARSE_MALFORMED);
			CU_ASSERT_EQUAL(pkt.reason, ELB_REASON_ETH_TRUNCATED);
			continue;
		}
		if (full_res == ELB_PARSE_NOT_IP) {
			CU_ASSERT(res == ELB_PARSE_NOT_IP ||
				  (res == ELB_PARSE_MALFORMED &&
				   pkt.reason == ELB_REASON_VLAN_TRUNCATED));
			continue;
		}
		if (full_res != ELB_PARSE_IP)
			continue;
		if (cut >= (size_t)full.l3_off + full.l3_len) {
			CU_ASSERT_EQUAL(res, ELB_PARSE_IP);
			CU_ASSERT(memcmp(&pkt, &full, sizeof(pkt)) == 0);
		} else {
			if (res != ELB_PARSE_MALFORMED)
				fprintf(stderr, "\n%s cut to %zu bytes: result %d\n", c->name, cut,
					res);
			CU_ASSERT_EQUAL(res, ELB_PARSE_MALFORMED);
		}
	}
}

static void test_truncations(void)
{
	for (size_t i = 0; i < ELB_ARRAY_SIZE(valid_cases); i++)
		truncate_case(&valid_cases[i]);
	for (size_t i = 0; i < ELB_ARRAY_SIZE(malformed_cases); i++)
		truncate_case(&malformed_cases[i]);
}

/* Bytes after the IP packet are Ethernet padding or trailer, whatever they
 * hold: 64 more of them change nothing. */
static void test_trailing_bytes(void)
{
	for (size_t i = 0; i < ELB_ARRAY_SIZE(valid_cases); i++) {
		const struct parse_case *c = &valid_cases[i];
		uint8_t frame[FRAME_MAX];
		size_t len = load(c, frame);
		struct elb_packet a, b;
		int ra, rb;

		memset(frame + len, 0xee, 64);
		ra = parse_guarded(frame, len, &a);
		rb = parse_guarded(frame, len + 64, &b);
		CU_ASSERT_EQUAL(ra, rb);
		if (ra == ELB_PARSE_IP)
			CU_ASSERT(memcmp(&a, &b, sizeof(a)) == 0);
	}
}

/* ------------------------------------------------------------------------ */
/* Random frames */

#define RANDOM_FRAMES 200000

static uint64_t rng_state = 0x2545f4914f6cdd1dull;

static uint64_t rng(void)
{
	return elb_test_rng(&rng_state);
}

/* Bytes that steer the parser somewhere interesting when written anywhere. */
static const uint8_t magic[] = {
	0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x08, 0x0b, 0x11, 0x14, 0x20, 0x2c, 0x3a, 0x3b,
	0x3c, 0x2b, 0x40, 0x45, 0x46, 0x4f, 0x60, 0x80, 0x81, 0x86, 0xdd, 0xff,
};

static size_t random_frame(uint8_t *f)
{
	size_t len = rng() % 160, l3 = 14;
	uint64_t kind = rng() % 4;

	for (size_t i = 0; i < len; i++)
		f[i] = (uint8_t)rng();
	if (kind == 0 || len < 14)
		return len; /* pure noise */
	/* An IP ethertype, sometimes behind a tag, and a plausible first byte. */
	f[12] = (rng() & 1) ? 0x08 : 0x86;
	f[13] = f[12] == 0x08 ? 0x00 : 0xdd;
	if (kind == 2 && len >= 18) {
		f[16] = f[12];
		f[17] = f[13];
		f[12] = 0x81;
		f[13] = 0x00;
		l3 = 18;
	}
	if (len > l3)
		f[l3] = f[l3 - 2] == 0x08 ? (uint8_t)(0x45 + rng() % 11) : 0x60;
	if (len > l3 + 3 && f[l3 - 2] == 0x08) {
		uint16_t total = (uint16_t)(len - l3 - rng() % 4);
		f[l3 + 2] = (uint8_t)(total >> 8);
		f[l3 + 3] = (uint8_t)total;
	}
	if (len > l3 + 5 && f[l3 - 2] == 0x86) {
		uint16_t pl = (uint16_t)(len - l3 - 40 - rng() % 4);
		f[l3 + 4] = (uint8_t)(pl >> 8);
		f[l3 + 5] = (uint8_t)pl;
	}
	return len;
}

static size_t mutated_frame(uint8_t *f)
{
	const struct parse_case *c;
	size_t n = ELB_ARRAY_SIZE(valid_cases) + ELB_ARRAY_SIZE(malformed_cases);
	size_t i = rng() % n, len, flips;

	c = i < ELB_ARRAY_SIZE(valid_cases) ? &valid_cases[i]
					     : &malformed_cases[i - ELB_ARRAY_SIZE(valid_cases)];
	len = load(c, f);
	flips = 1 + rng() % 4;
	while (flips--) {
		size_t at = len ? rng() % len : 0;

		if (len == 0)
			break;
		switch (rng() % 3) {
		case 0:
			f[at] = (uint8_t)rng();
			break;
		case 1:
			f[at] = magic[rng() % sizeof(magic)];
			break;
		default:
			f[at] ^= (uint8_t)(1u << (rng() % 8));
			break;
		}
	}
	switch (rng() % 4) {
	case 0: /* cut */
		len = len ? rng() % (len + 1) : 0;
		break;
	case 1: /* extend with noise */
		for (size_t extra = rng() % 24; extra; extra--)
			f[len++] = (uint8_t)rng();
		break;
	default:
		break;
	}
	return len;
}

static void test_random_frames(void)
{
	unsigned long counts[3] = {0}, reasons[ELB_REASON_COUNT] = {0};
	uint8_t frame[FRAME_MAX];

	for (unsigned int i = 0; i < RANDOM_FRAMES; i++) {
		struct elb_packet pkt;
		size_t len = (i & 1) ? mutated_frame(frame) : random_frame(frame);
		int res = parse_guarded(frame, len, &pkt);

		assert_invariants("random frame", frame, len, res, &pkt);
		if (res >= 0 && res <= 2)
			counts[res]++;
		if (res == ELB_PARSE_MALFORMED && pkt.reason < ELB_REASON_COUNT)
			reasons[pkt.reason]++;
	}
	printf("\n    %d random frames: %lu IP, %lu not IP, %lu malformed\n    ", RANDOM_FRAMES,
	       counts[ELB_PARSE_IP], counts[ELB_PARSE_NOT_IP], counts[ELB_PARSE_MALFORMED]);
	for (unsigned int r = 0; r < ELB_REASON_COUNT; r++)
		if (reasons[r])
			printf("%s=%lu ", elb_reason_name(r), reasons[r]);
	printf("\n");
	/* The generator must reach the deep paths, or the loop proves little. */
	CU_ASSERT(counts[ELB_PARSE_IP] > RANDOM_FRAMES / 20);
	for (unsigned int r = ELB_REASON_ETH_TRUNCATED; r <= ELB_REASON_ICMP_INNER_BAD; r++)
		CU_ASSERT(reasons[r] > 0);
}

int main(void)
{
	static const struct elb_test_case cases[] = {
		ELB_TEST(test_valid_frames),
		ELB_TEST(test_malformed_frames),
		ELB_TEST(test_every_parser_reason_covered),
		ELB_TEST(test_ipv4_ihl_6_to_15),
		ELB_TEST(test_truncations),
		ELB_TEST(test_trailing_bytes),
		ELB_TEST(test_random_frames),
		ELB_TEST_END,
	};

	guard_setup();
	return elb_test_run("parse", cases);
}
