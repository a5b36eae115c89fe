/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Encapsulation toward backends and ICMP "too big" replies (elb_encap.h).
 *
 * Each case parses an input frame written as a hex dump, makes room in front
 * of the IP packet the way the DPDK dataplane does (the frame sits after
 * RTE_PKTMBUF_HEADROOM bytes of headroom; the new frame starts at
 * l3_off - (14 + headers) from the old one, as rte_pktmbuf_prepend would
 * leave it), runs the writer and compares the result byte for byte with an
 * expected frame, also a hex dump.
 *
 * The expected frames and their checksums were computed independently of
 * this code (a separate Python implementation of the same rules) and each
 * was checked with tshark: outer and inner IPv4 header checksums, ICMP and
 * ICMPv6 checksums, inner TCP/UDP checksums reported correct; the GUE UDP
 * checksum is 0 by design (tshark calls it "not present" over IPv4 and
 * "illegal" over IPv6, where RFC 6935 allows it for tunnels).
 *
 * Addresses: client 198.51.100.10 / 2001:db8:c::10, VIP 203.0.113.1 /
 * 2001:db8:f::1, node 192.0.2.1 / 2001:db8:a::1, backend 192.0.2.20 /
 * 2001:db8:b::20. MACs: our port 02:00:00:00:00:01, the router that sent
 * the input 02:00:00:00:00:fe, the gateway toward backends and clients
 * 02:00:00:00:00:02. GUE port 5555.
 */
#include <string.h>

#include "elb_encap.h"
#include "elb_parse.h"
#include "elb_test.h"

#define HEADROOM 128 /* RTE_PKTMBUF_HEADROOM */
#define FRAME_MAX 2048
#define SENTINEL 0xa5 /* fill of the buffer: bytes no writer may touch keep it */
#define GUE_PORT 5555

static const uint8_t port_mac[6] = {0x02, 0, 0, 0, 0, 0x01};
static const uint8_t gateway_mac[6] = {0x02, 0, 0, 0, 0, 0x02};
static const uint8_t node_v4[4] = {192, 0, 2, 1};
static const uint8_t backend_v4[4] = {192, 0, 2, 20};
static const uint8_t node_v6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0x0a, [15] = 0x01};
static const uint8_t backend_v6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0x0b, [15] = 0x20};

/* A received frame in an mbuf-like buffer: HEADROOM bytes, then the frame.
 * 8-byte aligned, so that every header lands on an even address. */
struct test_frame {
	uint8_t buf[HEADROOM + FRAME_MAX] __attribute__((aligned(8)));
	uint8_t *data;
	const uint8_t *end;
	size_t len;
	struct elb_packet pkt;
};

/* Load hex (then pattern_len bytes start, start + 1, ... for big payloads)
 * and parse it. */
static void frame_load_pattern(struct test_frame *f, const char *hex, size_t pattern_len,
			       uint8_t pattern_start)
{
	size_t i;

	memset(f->buf, SENTINEL, sizeof(f->buf));
	f->data = f->buf + HEADROOM;
	f->len = elb_test_hex(hex, f->data, FRAME_MAX);
	CU_ASSERT_FATAL(f->len + pattern_len <= FRAME_MAX);
	for (i = 0; i < pattern_len; i++)
		f->data[f->len++] = (uint8_t)(pattern_start + i);
	f->end = f->data + f->len;
	CU_ASSERT_EQUAL_FATAL(elb_parse(f->data, f->end, &f->pkt), ELB_PARSE_IP);
}

static void frame_load(struct test_frame *f, const char *hex)
{
	frame_load_pattern(f, hex, 0, 0);
}

/* Start of the new frame once `headers` bytes (Ethernet included) are made
 * room for in front of the IP packet. */
static uint8_t *frame_make_room(struct test_frame *f, uint32_t headers)
{
	CU_ASSERT_FATAL((uint32_t)f->pkt.l3_off + HEADROOM >= headers);
	return f->data + f->pkt.l3_off - headers;
}

/* Nothing before the new frame was written. */
static void assert_untouched_before(const struct test_frame *f, const uint8_t *frame)
{
	const uint8_t *p;

	for (p = f->buf; p < frame; p++)
		if (*p != SENTINEL)
			break;
	CU_ASSERT_PTR_EQUAL(p, frame);
}

static void assert_frame(const uint8_t *got, int got_len, const char *want_hex)
{
	static uint8_t want[FRAME_MAX];
	size_t want_len = elb_test_hex(want_hex, want, sizeof(want));

	CU_ASSERT_FATAL(got_len >= 0);
	ELB_ASSERT_BYTES(got, (size_t)got_len, want, want_len);
}

static struct elb_encap_params params(uint8_t outer_family, bool gue, uint16_t mtu)
{
	struct elb_encap_params p;

	memset(&p, 0, sizeof(p));
	p.outer_family = outer_family;
	p.gue = gue;
	p.gue_dport = elb_htons(GUE_PORT);
	p.mtu = mtu;
	memcpy(p.src_mac, port_mac, 6);
	memcpy(p.dst_mac, gateway_mac, 6);
	if (outer_family == ELB_AF_INET) {
		memcpy(&p.outer_src.v4, node_v4, 4);
		memcpy(&p.outer_dst.v4, backend_v4, 4);
	} else {
		memcpy(p.outer_src.v6, node_v6, 16);
		memcpy(p.outer_dst.v6, backend_v6, 16);
	}
	return p;
}

/* Encapsulate f's packet as p says; returns the new frame in *out. */
static int encap(struct test_frame *f, const struct elb_encap_params *p, uint64_t hash,
		 uint8_t **out)
{
	uint32_t headers = 14 + elb_encap_params_overhead(p);

	*out = frame_make_room(f, headers);
	return elb_encap_write(*out, f->end, &f->pkt, p, hash);
}

static int too_big(struct test_frame *f, uint32_t mtu_for_client, uint8_t **out)
{
	uint32_t headers = 14 + elb_icmp_too_big_headroom(f->pkt.key.family);

	*out = frame_make_room(f, headers);
	return elb_icmp_too_big_write(*out, f->end, &f->pkt, mtu_for_client, port_mac,
				      gateway_mac);
}

/* ---- fixtures: generated once, validated with tshark, pasted here ---- */

static const char v4_syn_in[] =
	"02 00 00 00 00 01 02 00 00 00 00 fe 08 00 # Ethernet\n"
	"45 00 00 28 1c 46 40 00 39 06 bf 4a c6 33 64 0a # IPv4 client -> VIP, DF, ID 0x1c46\n"
	"cb 00 71 01\n"
	"9c 40 00 50 11 22 33 44 00 00 00 00 50 02 fa f0 # TCP 40000 -> 80 SYN\n"
	"6d bb 00 00\n";

static const char v4_syn_vlan_in[] =
	"02 00 00 00 00 01 02 00 00 00 00 fe # Ethernet\n"
	"81 00 20 64 08 00 # 802.1Q VID 100, PCP 1\n"
	"45 00 00 28 1c 46 40 00 39 06 bf 4a c6 33 64 0a # IPv4 as above\n"
	"cb 00 71 01\n"
	"9c 40 00 50 11 22 33 44 00 00 00 00 50 02 fa f0 # TCP SYN\n"
	"6d bb 00 00\n";

static const char v4_syn_ipip_out[] =
	"02 00 00 00 00 02 02 00 00 00 00 01 08 00 # Ethernet port -> gateway\n"
	"45 00 00 3c 1c 46 40 00 40 04 9a 62 c0 00 02 01 # outer IPv4 node -> backend, DF, IPIP\n"
	"c0 00 02 14\n"
	"45 00 00 28 1c 46 40 00 39 06 bf 4a c6 33 64 0a # inner IPv4, unchanged\n"
	"cb 00 71 01\n"
	"9c 40 00 50 11 22 33 44 00 00 00 00 50 02 fa f0 # TCP SYN\n"
	"6d bb 00 00\n";

static const char v4_ack_padded_in[] =
	"02 00 00 00 00 01 02 00 00 00 00 fe 08 00 # Ethernet\n"
	"45 00 00 28 1c 47 40 00 39 06 bf 49 c6 33 64 0a # IPv4, total length 40\n"
	"cb 00 71 01\n"
	"9c 40 00 50 11 22 33 45 55 66 77 88 50 10 fa f0 # TCP ACK\n"
	"a0 bd 00 00\n"
	"de ad be ef ca fe # Ethernet padding\n";

static const char v4_ack_ipip_out[] =
	"02 00 00 00 00 02 02 00 00 00 00 01 08 00 # Ethernet\n"
	"45 00 00 3c 1c 47 40 00 40 04 9a 61 c0 00 02 01 # outer IPv4, length 60, DF, ID 0x1c47\n"
	"c0 00 02 14\n"
	"45 00 00 28 1c 47 40 00 39 06 bf 49 c6 33 64 0a # inner IPv4\n"
	"cb 00 71 01\n"
	"9c 40 00 50 11 22 33 45 55 66 77 88 50 10 fa f0 # TCP ACK (no padding)\n"
	"a0 bd 00 00\n";

static const char v6_syn_in[] =
	"02 00 00 00 00 01 02 00 00 00 00 fe 86 dd # Ethernet\n"
	"6b 91 23 45 00 14 06 3c 20 01 0d b8 00 0c 00 00 # IPv6 client -> VIP, tc 0xb9\n"
	"00 00 00 00 00 00 00 10 20 01 0d b8 00 0f 00 00\n"
	"00 00 00 00 00 00 00 01\n"
	"9c 41 01 bb a0 b0 c0 d0 00 00 00 00 50 02 fa f0 # TCP 40001 -> 443 SYN\n"
	"59 d6 00 00\n";

static const char v6_syn_ip6ip6_out[] =
	"02 00 00 00 00 02 02 00 00 00 00 01 86 dd # Ethernet\n"
	"6b 9b cd ef 00 3c 29 40 20 01 0d b8 00 0a 00 00 # outer IPv6, tc b9, label bcdef, nh 41\n"
	"00 00 00 00 00 00 00 01 20 01 0d b8 00 0b 00 00\n"
	"00 00 00 00 00 00 00 20\n"
	"6b 91 23 45 00 14 06 3c 20 01 0d b8 00 0c 00 00 # inner IPv6\n"
	"00 00 00 00 00 00 00 10 20 01 0d b8 00 0f 00 00\n"
	"00 00 00 00 00 00 00 01\n"
	"9c 41 01 bb a0 b0 c0 d0 00 00 00 00 50 02 fa f0 # TCP SYN\n"
	"59 d6 00 00\n";

static const char v4_udp_in[] =
	"02 00 00 00 00 01 02 00 00 00 00 fe 08 00 # Ethernet\n"
	"45 2a 00 28 be ef 00 00 32 11 63 6c c6 33 64 0a # IPv4, TOS 0x2a, no DF, ID 0xbeef\n"
	"cb 00 71 01\n"
	"80 e8 27 0f 00 14 f9 0b # UDP 33000 -> 9999\n"
	"65 64 67 65 6c 62 2d 75 64 70 2d 71 # payload\n";

static const char v4_udp_4in6_out[] =
	"02 00 00 00 00 02 02 00 00 00 00 01 86 dd # Ethernet\n"
	"62 a4 32 10 00 28 04 40 20 01 0d b8 00 0a 00 00 # outer IPv6, tc 2a, label 43210, nh 4\n"
	"00 00 00 00 00 00 00 01 20 01 0d b8 00 0b 00 00\n"
	"00 00 00 00 00 00 00 20\n"
	"45 2a 00 28 be ef 00 00 32 11 63 6c c6 33 64 0a # inner IPv4\n"
	"cb 00 71 01\n"
	"80 e8 27 0f 00 14 f9 0b # UDP\n"
	"65 64 67 65 6c 62 2d 75 64 70 2d 71 # payload\n";

static const char v4_udp_gue4_out[] =
	"02 00 00 00 00 02 02 00 00 00 00 01 08 00 # Ethernet\n"
	"45 2a 00 44 be ef 00 00 40 11 37 7a c0 00 02 01 # outer IPv4, TOS 2a, no DF, ID beef\n"
	"c0 00 02 14\n"
	"d2 34 15 b3 00 30 00 00 # UDP 0xd234 -> 5555, checksum 0\n"
	"45 2a 00 28 be ef 00 00 32 11 63 6c c6 33 64 0a # inner IPv4\n"
	"cb 00 71 01\n"
	"80 e8 27 0f 00 14 f9 0b # UDP\n"
	"65 64 67 65 6c 62 2d 75 64 70 2d 71 # payload\n";

static const char v6_syn_gue6_out[] =
	"02 00 00 00 00 02 02 00 00 00 00 01 86 dd # Ethernet\n"
	"6b 9f ab cd 00 44 11 40 20 01 0d b8 00 0a 00 00 # outer IPv6, tc b9, label fabcd, nh 17\n"
	"00 00 00 00 00 00 00 01 20 01 0d b8 00 0b 00 00\n"
	"00 00 00 00 00 00 00 20\n"
	"eb cd 15 b3 00 44 00 00 # UDP 0xebcd -> 5555, checksum 0\n"
	"6b 91 23 45 00 14 06 3c 20 01 0d b8 00 0c 00 00 # inner IPv6\n"
	"00 00 00 00 00 00 00 10 20 01 0d b8 00 0f 00 00\n"
	"00 00 00 00 00 00 00 01\n"
	"9c 41 01 bb a0 b0 c0 d0 00 00 00 00 50 02 fa f0 # TCP SYN\n"
	"59 d6 00 00\n";

static const char v4_opt_big_in_hdr[] =
	"02 00 00 00 00 01 02 00 00 00 00 fe 08 00 # Ethernet\n"
	"46 00 01 2c 01 02 40 00 39 06 44 86 c6 33 64 0a # IPv4, IHL 6, length 300, DF\n"
	"cb 00 71 01\n"
	"94 04 00 00 # option: router alert\n"
	"9c 42 00 50 00 00 00 01 00 00 00 02 50 18 fa f0 # TCP 40002 -> 80 PSH ACK\n"
	"f0 c6 00 00\n";

static const char v4_opt_big_icmp_out[] =
	"02 00 00 00 00 02 02 00 00 00 00 01 08 00 # Ethernet\n"
	"45 c0 00 9c 00 00 00 00 40 01 13 62 cb 00 71 01 # IPv4 VIP -> client, TOS c0, ICMP\n"
	"c6 33 64 0a\n"
	"03 04 5d e3 00 00 05 c8 # ICMP 3/4, next-hop MTU 1480\n"
	"46 00 01 2c 01 02 40 00 39 06 44 86 c6 33 64 0a # quote: IPv4 header with option\n"
	"cb 00 71 01 94 04 00 00\n"
	"9c 42 00 50 00 00 00 01 00 00 00 02 50 18 fa f0 # quote: TCP\n"
	"f0 c6 00 00\n"
	"00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f # quote: 84 bytes of payload\n"
	"10 11 12 13 14 15 16 17 18 19 1a 1b 1c 1d 1e 1f\n"
	"20 21 22 23 24 25 26 27 28 29 2a 2b 2c 2d 2e 2f\n"
	"30 31 32 33 34 35 36 37 38 39 3a 3b 3c 3d 3e 3f\n"
	"40 41 42 43 44 45 46 47 48 49 4a 4b 4c 4d 4e 4f\n"
	"50 51 52 53\n";

static const char v4_small_in[] =
	"02 00 00 00 00 01 02 00 00 00 00 fe 08 00 # Ethernet\n"
	"45 00 00 3d 02 03 40 00 39 06 d9 78 c6 33 64 0a # IPv4, total length 61, DF, ID 0x0203\n"
	"cb 00 71 01\n"
	"9c 43 00 50 00 00 00 07 00 00 00 08 50 18 fa f0 # TCP 40003 -> 80 PSH ACK\n"
	"ea 69 00 00\n"
	"47 45 54 20 2f 20 48 54 54 50 2f 31 2e 31 0d 0a # payload, 21 bytes\n"
	"48 6f 73 74 3a\n";

static const char v4_small_icmp_out[] =
	"02 00 00 00 00 02 02 00 00 00 00 01 08 00 # Ethernet\n"
	"45 c0 00 59 00 00 00 00 40 01 13 a5 cb 00 71 01 # IPv4 VIP -> client, length 89, ICMP\n"
	"c6 33 64 0a\n"
	"03 04 5d bf 00 00 05 ac # ICMP 3/4, next-hop MTU 1452\n"
	"45 00 00 3d 02 03 40 00 39 06 d9 78 c6 33 64 0a # quote: the whole 61-byte packet\n"
	"cb 00 71 01 9c 43 00 50 00 00 00 07 00 00 00 08\n"
	"50 18 fa f0 ea 69 00 00 47 45 54 20 2f 20 48 54\n"
	"54 50 2f 31 2e 31 0d 0a 48 6f 73 74 3a\n";

static const char v6_ext_in[] =
	"02 00 00 00 00 01 02 00 00 00 00 fe 86 dd # Ethernet\n"
	"60 00 00 00 00 2a 3c 3c 20 01 0d b8 00 0c 00 00 # IPv6, nh 60 (destination options)\n"
	"00 00 00 00 00 00 00 10 20 01 0d b8 00 0f 00 00\n"
	"00 00 00 00 00 00 00 01\n"
	"06 00 01 04 00 00 00 00 # destination options: PadN, nh TCP\n"
	"9c 44 01 bb 00 00 00 09 00 00 00 0a 50 18 fa f0 # TCP 40004 -> 443 PSH ACK\n"
	"1b 90 00 00\n"
	"68 65 6c 6c 6f 2c 20 62 61 63 6b 65 6e 64 # payload\n";

static const char v6_ext_icmp_out[] =
	"02 00 00 00 00 02 02 00 00 00 00 01 86 dd # Ethernet\n"
	"60 00 00 00 00 5a 3a 40 20 01 0d b8 00 0f 00 00 # IPv6 VIP -> client, ICMPv6\n"
	"00 00 00 00 00 00 00 01 20 01 0d b8 00 0c 00 00\n"
	"00 00 00 00 00 00 00 10\n"
	"02 00 f9 12 00 00 05 78 # ICMPv6 2/0, MTU 1400\n"
	"60 00 00 00 00 2a 3c 3c 20 01 0d b8 00 0c 00 00 # quote: the whole 82-byte packet\n"
	"00 00 00 00 00 00 00 10 20 01 0d b8 00 0f 00 00\n"
	"00 00 00 00 00 00 00 01 06 00 01 04 00 00 00 00\n"
	"9c 44 01 bb 00 00 00 09 00 00 00 0a 50 18 fa f0\n"
	"1b 90 00 00 68 65 6c 6c 6f 2c 20 62 61 63 6b 65\n"
	"6e 64\n";

static const char v6_big_in_hdr[] =
	"02 00 00 00 00 01 02 00 00 00 00 fe 86 dd # Ethernet\n"
	"60 00 00 00 03 c0 11 3c 20 01 0d b8 00 0c 00 00 # IPv6, payload 960, UDP, hlim 60\n"
	"00 00 00 00 00 00 00 10 20 01 0d b8 00 0f 00 00\n"
	"00 00 00 00 00 00 00 01\n"
	"9c 45 11 51 03 c0 d4 41 # UDP 40005 -> 4433, length 960\n";

static const char v6_big_icmp_out[] =
	"02 00 00 00 00 02 02 00 00 00 00 01 86 dd # Ethernet\n"
	"60 00 00 00 00 88 3a 40 20 01 0d b8 00 0f 00 00 # IPv6, payload 136, ICMPv6\n"
	"00 00 00 00 00 00 00 01 20 01 0d b8 00 0c 00 00\n"
	"00 00 00 00 00 00 00 10\n"
	"02 00 0f 3d 00 00 04 d0 # ICMPv6 2/0, MTU 1232\n"
	"60 00 00 00 03 c0 11 3c 20 01 0d b8 00 0c 00 00 # quote: IPv6 header\n"
	"00 00 00 00 00 00 00 10 20 01 0d b8 00 0f 00 00\n"
	"00 00 00 00 00 00 00 01\n"
	"9c 45 11 51 03 c0 d4 41 # quote: UDP\n"
	"07 08 09 0a 0b 0c 0d 0e 0f 10 11 12 13 14 15 16 # quote: 80 bytes of payload\n"
	"17 18 19 1a 1b 1c 1d 1e 1f 20 21 22 23 24 25 26\n"
	"27 28 29 2a 2b 2c 2d 2e 2f 30 31 32 33 34 35 36\n"
	"37 38 39 3a 3b 3c 3d 3e 3f 40 41 42 43 44 45 46\n"
	"47 48 49 4a 4b 4c 4d 4e 4f 50 51 52 53 54 55 56\n";

static const char v4_icmp_err_in[] =
	"02 00 00 00 00 01 02 00 00 00 00 fe 08 00 # Ethernet\n"
	"45 00 00 38 55 55 40 00 40 01 7f 30 c6 33 64 0a # IPv4 client -> VIP, DF, ICMP\n"
	"cb 00 71 01\n"
	"03 03 63 56 00 00 00 00 # ICMP 3/3 port unreachable\n"
	"45 00 00 1c 44 44 00 00 40 11 d0 4d cb 00 71 01 # quoted IPv4 VIP -> client\n"
	"c6 33 64 0a\n"
	"00 35 14 e9 00 08 84 80 # quoted UDP 53 -> 5353\n";

static const char v6_later_frag_in[] =
	"02 00 00 00 00 01 02 00 00 00 00 fe 86 dd # Ethernet\n"
	"60 00 00 00 00 18 2c 3c 20 01 0d b8 00 0c 00 00 # IPv6, nh 44 (fragment)\n"
	"00 00 00 00 00 00 00 10 20 01 0d b8 00 0f 00 00\n"
	"00 00 00 00 00 00 00 01\n"
	"11 00 05 a9 ab cd ef 01 # fragment: offset 1448, MF, UDP\n"
	"00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f # fragment data\n";


/* Second chance (elb_second_chance.h): GUE variant 0 with edgelb's private
 * data naming the alternate 192.0.2.21 / 2001:db8:b::21. Written out by
 * hand from draft-ietf-intarea-gue-09 section 3 and the layout in
 * elb_second_chance.h; the outer IPv4 checksum computed separately. */
static const char v4_syn_gue4_alt_out[] =
	"02 00 00 00 00 02 02 00 00 00 00 01 08 00 # Ethernet\n"
	"45 00 00 50 1c 46 40 00 40 11 9a 41 c0 00 02 01 # outer IPv4, length 80, DF, UDP\n"
	"c0 00 02 14\n"
	"d2 34 15 b3 00 3c 00 00 # UDP 0xd234 -> 5555, length 60, checksum 0\n"
	"02 04 00 00 # GUE ver 0, C 0, Hlen 2, proto 4, flags 0\n"
	"eb 01 01 04 c0 00 02 15 # magic, second chance, 1 hop left, IPv4 192.0.2.21\n"
	"45 00 00 28 1c 46 40 00 39 06 bf 4a c6 33 64 0a # inner IPv4 as received\n"
	"cb 00 71 01\n"
	"9c 40 00 50 11 22 33 44 00 00 00 00 50 02 fa f0 # TCP SYN\n"
	"6d bb 00 00\n";

static const char v6_syn_gue6_alt_out[] =
	"02 00 00 00 00 02 02 00 00 00 00 01 86 dd # Ethernet\n"
	"6b 9f ab cd 00 5c 11 40 20 01 0d b8 00 0a 00 00 # outer IPv6, payload 92, nh 17\n"
	"00 00 00 00 00 00 00 01 20 01 0d b8 00 0b 00 00\n"
	"00 00 00 00 00 00 00 20\n"
	"eb cd 15 b3 00 5c 00 00 # UDP 0xebcd -> 5555, length 92, checksum 0\n"
	"05 29 00 00 # GUE ver 0, C 0, Hlen 5, proto 41, flags 0\n"
	"eb 01 01 06 20 01 0d b8 00 0b 00 00 00 00 00 00 # magic, type 1, 1 hop, IPv6 ...\n"
	"00 00 00 21 # ... 2001:db8:b::21\n"
	"6b 91 23 45 00 14 06 3c 20 01 0d b8 00 0c 00 00 # inner IPv6\n"
	"00 00 00 00 00 00 00 10 20 01 0d b8 00 0f 00 00\n"
	"00 00 00 00 00 00 00 01\n"
	"9c 41 01 bb a0 b0 c0 d0 00 00 00 00 50 02 fa f0 # TCP SYN\n"
	"59 d6 00 00\n";

static const uint8_t alternate_v4[4] = {192, 0, 2, 21};
static const uint8_t alternate_v6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0x0b, [15] = 0x21};

static struct elb_encap_params params_alt(uint8_t outer_family, bool gue, uint16_t mtu)
{
	struct elb_encap_params p = params(outer_family, gue, mtu);

	p.has_alternate = 1;
	if (outer_family == ELB_AF_INET)
		memcpy(&p.alternate.v4, alternate_v4, 4);
	else
		memcpy(p.alternate.v6, alternate_v6, 16);
	return p;
}

/* ---- sizes ---- */

static void test_overhead_and_sizes(void)
{
	struct elb_encap_params p;

	CU_ASSERT_EQUAL(elb_encap_overhead(ELB_AF_INET, false), 20);
	CU_ASSERT_EQUAL(elb_encap_overhead(ELB_AF_INET, true), 28);
	CU_ASSERT_EQUAL(elb_encap_overhead(ELB_AF_INET6, false), 40);
	CU_ASSERT_EQUAL(elb_encap_overhead(ELB_AF_INET6, true), 48);
	CU_ASSERT_EQUAL(elb_icmp_too_big_headroom(ELB_AF_INET), 28);
	CU_ASSERT_EQUAL(elb_icmp_too_big_headroom(ELB_AF_INET6), 48);

	p = params(ELB_AF_INET, false, 1500);
	CU_ASSERT_EQUAL(elb_encap_inner_mtu(&p), 1480);
	p = params(ELB_AF_INET, true, 1500);
	CU_ASSERT_EQUAL(elb_encap_inner_mtu(&p), 1472);
	p = params(ELB_AF_INET6, false, 1500);
	CU_ASSERT_EQUAL(elb_encap_inner_mtu(&p), 1460);
	p = params(ELB_AF_INET6, true, 1500);
	CU_ASSERT_EQUAL(elb_encap_inner_mtu(&p), 1452);
	/* An MTU that cannot hold the outer headers gives 0, not a wrapped value. */
	p = params(ELB_AF_INET6, true, 48);
	CU_ASSERT_EQUAL(elb_encap_inner_mtu(&p), 0);
}

/* ---- encapsulation ---- */

/* IPv4 in IPv4: DF and ID copied, TOS 0 copied, TTL 64, protocol 4. */
static void test_ipip_v4(void)
{
	static struct test_frame f;
	struct elb_encap_params p = params(ELB_AF_INET, false, 1500);
	uint8_t *out;
	int len;

	frame_load(&f, v4_syn_in);
	CU_ASSERT_EQUAL(elb_encap_mtu_check(&f.pkt, &p), ELB_MTU_FITS);
	len = encap(&f, &p, 0x1234567890abcdefULL, &out);
	CU_ASSERT_EQUAL(len, 74);
	assert_frame(out, len, v4_syn_ipip_out);
	assert_untouched_before(&f, out);
}

/* A VLAN-tagged input gives the same untagged output. */
static void test_ipip_v4_from_vlan(void)
{
	static struct test_frame f;
	struct elb_encap_params p = params(ELB_AF_INET, false, 1500);
	uint8_t *out;
	int len;

	frame_load(&f, v4_syn_vlan_in);
	CU_ASSERT(f.pkt.flags & ELB_PKT_VLAN);
	CU_ASSERT_EQUAL(f.pkt.l3_off, 18);
	len = encap(&f, &p, 0x1234567890abcdefULL, &out);
	CU_ASSERT_EQUAL(len, 74);
	assert_frame(out, len, v4_syn_ipip_out);
	assert_untouched_before(&f, out);
}

/* A 60-byte frame carrying a 40-byte packet: the 6 padding bytes are not
 * counted in the new length (the caller trims to it). */
static void test_ipip_v4_padding_not_carried(void)
{
	static struct test_frame f;
	struct elb_encap_params p = params(ELB_AF_INET, false, 1500);
	uint8_t *out;
	int len;

	frame_load(&f, v4_ack_padded_in);
	CU_ASSERT_EQUAL(f.len, 60);
	CU_ASSERT_EQUAL(f.pkt.l3_len, 40);
	len = encap(&f, &p, 0, &out);
	CU_ASSERT_EQUAL(len, 14 + 20 + 40);
	assert_frame(out, len, v4_ack_ipip_out);
}

/* IPv6 in IPv6: traffic class 0xb9 (DSCP EF, ECN ECT(1)) copied, flow label
 * from the low 20 bits of the hash (0xbcdef), next header 41. */
static void test_ip6ip6(void)
{
	static struct test_frame f;
	struct elb_encap_params p = params(ELB_AF_INET6, false, 1500);
	uint8_t *out;
	int len;

	frame_load(&f, v6_syn_in);
	len = encap(&f, &p, 0x0123456789abcdefULL, &out);
	CU_ASSERT_EQUAL(len, 14 + 40 + 60);
	assert_frame(out, len, v6_syn_ip6ip6_out);
	assert_untouched_before(&f, out);
}

/* IPv4 in IPv6: TOS 0x2a (AF11, ECT(0)) becomes the traffic class, next
 * header 4, flow label 0x43210 from hash 0xfedcba9876543210. */
static void test_ip4ip6(void)
{
	static struct test_frame f;
	struct elb_encap_params p = params(ELB_AF_INET6, false, 1500);
	uint8_t *out;
	int len;

	frame_load(&f, v4_udp_in);
	len = encap(&f, &p, 0xfedcba9876543210ULL, &out);
	CU_ASSERT_EQUAL(len, 14 + 40 + 40);
	assert_frame(out, len, v4_udp_4in6_out);
}

/* GUE over IPv4: UDP 0xc000 | (0xcafe1234 & 0x3fff) = 0xd234 -> 5555,
 * checksum 0; no DF in the inner, none in the outer; TOS and ID copied. */
static void test_gue_v4(void)
{
	static struct test_frame f;
	struct elb_encap_params p = params(ELB_AF_INET, true, 1500);
	uint8_t *out;
	int len;

	frame_load(&f, v4_udp_in);
	CU_ASSERT_FALSE(f.pkt.flags & ELB_PKT_DF);
	len = encap(&f, &p, 0xcafe1234ULL, &out);
	CU_ASSERT_EQUAL(len, 14 + 28 + 40);
	assert_frame(out, len, v4_udp_gue4_out);
	assert_untouched_before(&f, out);
}

/* GUE over IPv6: hash 0x1111111122ffabcd gives source port 0xebcd and flow
 * label 0xfabcd. */
static void test_gue_v6(void)
{
	static struct test_frame f;
	struct elb_encap_params p = params(ELB_AF_INET6, true, 1500);
	uint8_t *out;
	int len;

	frame_load(&f, v6_syn_in);
	len = encap(&f, &p, 0x1111111122ffabcdULL, &out);
	CU_ASSERT_EQUAL(len, 14 + 48 + 60);
	assert_frame(out, len, v6_syn_gue6_out);
	assert_untouched_before(&f, out);
}

/* ---- MTU verdicts ---- */

/* 40-byte IPv4 packet with DF, IPv4 outer (+20): fits in 60, not in 59. */
static void test_mtu_boundary_ipip_v4(void)
{
	static struct test_frame f;
	struct elb_encap_params p;

	frame_load(&f, v4_syn_in);
	CU_ASSERT_EQUAL(f.pkt.l3_len, 40);
	p = params(ELB_AF_INET, false, 59);
	CU_ASSERT_EQUAL(elb_encap_mtu_check(&f.pkt, &p), ELB_MTU_TOO_BIG_REPLY);
	p = params(ELB_AF_INET, false, 60);
	CU_ASSERT_EQUAL(elb_encap_mtu_check(&f.pkt, &p), ELB_MTU_FITS);
	p = params(ELB_AF_INET, false, 61);
	CU_ASSERT_EQUAL(elb_encap_mtu_check(&f.pkt, &p), ELB_MTU_FITS);
}

/* 60-byte IPv6 packet, GUE over IPv6 (+48): fits in 108, not in 107. */
static void test_mtu_boundary_gue_v6(void)
{
	static struct test_frame f;
	struct elb_encap_params p;

	frame_load(&f, v6_syn_in);
	CU_ASSERT_EQUAL(f.pkt.l3_len, 60);
	p = params(ELB_AF_INET6, true, 107);
	CU_ASSERT_EQUAL(elb_encap_mtu_check(&f.pkt, &p), ELB_MTU_TOO_BIG_REPLY);
	p = params(ELB_AF_INET6, true, 108);
	CU_ASSERT_EQUAL(elb_encap_mtu_check(&f.pkt, &p), ELB_MTU_FITS);
	p = params(ELB_AF_INET6, true, 109);
	CU_ASSERT_EQUAL(elb_encap_mtu_check(&f.pkt, &p), ELB_MTU_FITS);
}

/* IPv4 without DF: into IPv4 it goes (outer DF clear, a router may
 * fragment); into IPv6 nobody may fragment it and no reply is due: drop. */
static void test_mtu_ipv4_without_df(void)
{
	static struct test_frame f;
	struct elb_encap_params p;
	uint8_t *out;
	int len;

	frame_load(&f, v4_udp_in);
	p = params(ELB_AF_INET, true, 59);
	CU_ASSERT_EQUAL(elb_encap_mtu_check(&f.pkt, &p), ELB_MTU_FITS);
	/* Written as usual, DF clear (the same bytes as with a large MTU). */
	len = encap(&f, &p, 0xcafe1234ULL, &out);
	assert_frame(out, len, v4_udp_gue4_out);

	frame_load(&f, v4_udp_in);
	p = params(ELB_AF_INET6, false, 79);
	CU_ASSERT_EQUAL(elb_encap_mtu_check(&f.pkt, &p), ELB_MTU_TOO_BIG_DROP);
	p = params(ELB_AF_INET6, false, 80);
	CU_ASSERT_EQUAL(elb_encap_mtu_check(&f.pkt, &p), ELB_MTU_FITS);

	/* Past what an outer IPv4 total length can say: drop, even without DF. */
	p = params(ELB_AF_INET, false, 1500);
	f.pkt.l3_len = 65535 - 20;
	CU_ASSERT_EQUAL(elb_encap_mtu_check(&f.pkt, &p), ELB_MTU_FITS);
	f.pkt.l3_len = 65535 - 19;
	CU_ASSERT_EQUAL(elb_encap_mtu_check(&f.pkt, &p), ELB_MTU_TOO_BIG_DROP);
}

/* Never an ICMP error about an ICMP error (RFC 1122 3.2.2). */
static void test_mtu_no_reply_to_icmp_error(void)
{
	static struct test_frame f;
	struct elb_encap_params p = params(ELB_AF_INET, false, 70);

	frame_load(&f, v4_icmp_err_in);
	CU_ASSERT(f.pkt.flags & ELB_PKT_ICMP_ERROR);
	CU_ASSERT(f.pkt.flags & ELB_PKT_DF);
	CU_ASSERT_EQUAL(f.pkt.l3_len, 56);
	CU_ASSERT_EQUAL(elb_encap_mtu_check(&f.pkt, &p), ELB_MTU_TOO_BIG_DROP);
	p.mtu = 76;
	CU_ASSERT_EQUAL(elb_encap_mtu_check(&f.pkt, &p), ELB_MTU_FITS);
}

/* A later fragment quotes no L4 header: no reply. */
static void test_mtu_no_reply_to_later_fragment(void)
{
	static struct test_frame f;
	struct elb_encap_params p = params(ELB_AF_INET6, false, 100);

	frame_load(&f, v6_later_frag_in);
	CU_ASSERT(f.pkt.flags & ELB_PKT_LATER_FRAGMENT);
	CU_ASSERT_EQUAL(elb_encap_mtu_check(&f.pkt, &p), ELB_MTU_TOO_BIG_DROP);
	p.mtu = 104;
	CU_ASSERT_EQUAL(elb_encap_mtu_check(&f.pkt, &p), ELB_MTU_FITS);
}

/* No reply to a source that is not one host (RFC 1122 3.2.2, RFC 4443 2.4). */
static void test_mtu_no_reply_to_non_unicast_source(void)
{
	static const uint8_t multicast_v4[4] = {224, 0, 0, 1};
	static const uint8_t zero_v4[4] = {0, 0, 0, 0};
	static struct test_frame f;
	struct elb_encap_params p = params(ELB_AF_INET, false, 59);

	frame_load(&f, v4_syn_in);
	CU_ASSERT_EQUAL(elb_encap_mtu_check(&f.pkt, &p), ELB_MTU_TOO_BIG_REPLY);
	memcpy(&f.pkt.key.src.v4, multicast_v4, 4);
	CU_ASSERT_EQUAL(elb_encap_mtu_check(&f.pkt, &p), ELB_MTU_TOO_BIG_DROP);
	memcpy(&f.pkt.key.src.v4, zero_v4, 4);
	CU_ASSERT_EQUAL(elb_encap_mtu_check(&f.pkt, &p), ELB_MTU_TOO_BIG_DROP);

	frame_load(&f, v6_syn_in);
	p = params(ELB_AF_INET6, false, 99);
	CU_ASSERT_EQUAL(elb_encap_mtu_check(&f.pkt, &p), ELB_MTU_TOO_BIG_REPLY);
	f.pkt.key.src.v6[0] = 0xff;
	CU_ASSERT_EQUAL(elb_encap_mtu_check(&f.pkt, &p), ELB_MTU_TOO_BIG_DROP);
	memset(f.pkt.key.src.v6, 0, 16);
	CU_ASSERT_EQUAL(elb_encap_mtu_check(&f.pkt, &p), ELB_MTU_TOO_BIG_DROP);
}

/* ---- ICMP too-big replies ---- */

/* A 300-byte IPv4 packet with a router-alert option: frag-needed quoting its
 * first 128 bytes, next-hop MTU 1480 (IPv4 outer, MTU 1500). */
static void test_icmp_frag_needed_v4_options_truncated(void)
{
	static struct test_frame f;
	struct elb_encap_params p = params(ELB_AF_INET, false, 1500);
	uint8_t *out;
	int len;

	frame_load_pattern(&f, v4_opt_big_in_hdr, 256, 0x00);
	CU_ASSERT(f.pkt.flags & ELB_PKT_IPV4_OPTIONS);
	CU_ASSERT_EQUAL(f.pkt.l3_len, 300);
	len = too_big(&f, elb_encap_inner_mtu(&p), &out);
	CU_ASSERT_EQUAL(len, 14 + 28 + ELB_ICMP_QUOTE_MAX);
	assert_frame(out, len, v4_opt_big_icmp_out);
	assert_untouched_before(&f, out);
}

/* A 61-byte packet is quoted whole; its odd length exercises the padding
 * of the last checksum word. MTU 1452 (GUE over IPv6, MTU 1500). */
static void test_icmp_frag_needed_v4_small_odd(void)
{
	static struct test_frame f;
	struct elb_encap_params p = params(ELB_AF_INET6, true, 1500);
	uint8_t *out;
	int len;

	frame_load(&f, v4_small_in);
	CU_ASSERT_EQUAL(f.pkt.l3_len, 61);
	len = too_big(&f, elb_encap_inner_mtu(&p), &out);
	CU_ASSERT_EQUAL(len, 14 + 28 + 61);
	assert_frame(out, len, v4_small_icmp_out);
}

/* IPv6 with a destination-options header, 82 bytes: quoted whole, ICMPv6
 * checksum over the pseudo-header; MTU 1400 (IPv6 outer, MTU 1440). */
static void test_icmp6_too_big_ext_header(void)
{
	static struct test_frame f;
	struct elb_encap_params p = params(ELB_AF_INET6, false, 1440);
	uint8_t *out;
	int len;

	frame_load(&f, v6_ext_in);
	CU_ASSERT_EQUAL(f.pkt.key.proto, ELB_IPPROTO_TCP);
	CU_ASSERT_EQUAL(f.pkt.l3_len, 82);
	len = too_big(&f, elb_encap_inner_mtu(&p), &out);
	CU_ASSERT_EQUAL(len, 14 + 48 + 82);
	assert_frame(out, len, v6_ext_icmp_out);
	assert_untouched_before(&f, out);
}

/* A 1000-byte IPv6 packet: 128 bytes quoted; MTU 1232 (GUE over IPv6, 1280). */
static void test_icmp6_too_big_truncated(void)
{
	static struct test_frame f;
	struct elb_encap_params p = params(ELB_AF_INET6, true, 1280);
	uint8_t *out;
	int len;

	frame_load_pattern(&f, v6_big_in_hdr, 952, 0x07);
	CU_ASSERT_EQUAL(f.pkt.l3_len, 1000);
	len = too_big(&f, elb_encap_inner_mtu(&p), &out);
	CU_ASSERT_EQUAL(len, 14 + 48 + ELB_ICMP_QUOTE_MAX);
	assert_frame(out, len, v6_big_icmp_out);
}

/* ---- short buffers and unsupported combinations ---- */

/* One byte short of the new frame: -1 and nothing written; exactly enough:
 * written. Likewise when even the Ethernet header does not fit. */
static void test_encap_short_buffer(void)
{
	static struct test_frame f;
	static uint8_t before[sizeof(f.buf)];
	struct elb_encap_params p = params(ELB_AF_INET6, true, 1500);
	uint8_t *frame;

	frame_load(&f, v6_syn_in);
	frame = frame_make_room(&f, 14 + 48);
	memcpy(before, f.buf, sizeof(f.buf));
	CU_ASSERT_EQUAL(elb_encap_write(frame, f.end - 1, &f.pkt, &p, 1), -1);
	CU_ASSERT_EQUAL(memcmp(before, f.buf, sizeof(f.buf)), 0);
	CU_ASSERT_EQUAL(elb_encap_write(frame, frame + 13, &f.pkt, &p, 1), -1);
	CU_ASSERT_EQUAL(elb_encap_write(frame, frame, &f.pkt, &p, 1), -1);
	CU_ASSERT_EQUAL(memcmp(before, f.buf, sizeof(f.buf)), 0);
	CU_ASSERT_EQUAL(elb_encap_write(frame, f.end, &f.pkt, &p, 0x1111111122ffabcdULL),
			14 + 48 + 60);
	assert_frame(frame, 14 + 48 + 60, v6_syn_gue6_out);
}

static void test_icmp_short_buffer(void)
{
	static struct test_frame f;
	static uint8_t before[sizeof(f.buf)];
	uint8_t *frame;

	frame_load(&f, v4_small_in);
	frame = frame_make_room(&f, 14 + 28);
	memcpy(before, f.buf, sizeof(f.buf));
	CU_ASSERT_EQUAL(elb_icmp_too_big_write(frame, f.end - 1, &f.pkt, 1452, port_mac,
					       gateway_mac), -1);
	CU_ASSERT_EQUAL(elb_icmp_too_big_write(frame, frame + 20, &f.pkt, 1452, port_mac,
					       gateway_mac), -1);
	CU_ASSERT_EQUAL(memcmp(before, f.buf, sizeof(f.buf)), 0);
	CU_ASSERT_EQUAL(elb_icmp_too_big_write(frame, f.end, &f.pkt, 1452, port_mac, gateway_mac),
			14 + 28 + 61);
	assert_frame(frame, 14 + 28 + 61, v4_small_icmp_out);
}

/* IPv6 in IPv4 is not supported: refused, nothing written. */
static void test_encap_v6_in_v4_refused(void)
{
	static struct test_frame f;
	static uint8_t before[sizeof(f.buf)];
	struct elb_encap_params p = params(ELB_AF_INET, false, 1500);
	uint8_t *out;

	frame_load(&f, v6_syn_in);
	memcpy(before, f.buf, sizeof(f.buf));
	CU_ASSERT_EQUAL(encap(&f, &p, 1, &out), -1);
	CU_ASSERT_EQUAL(memcmp(before, f.buf, sizeof(f.buf)), 0);
}

/* ---- second chance: GUE variant 0 with the alternate ---- */

static void test_gue_v4_alternate(void)
{
	static struct test_frame f;
	struct elb_encap_params p = params_alt(ELB_AF_INET, true, 1500);
	uint8_t *out;
	int len;

	frame_load(&f, v4_syn_in);
	len = encap(&f, &p, 0xcafe1234ULL, &out);
	CU_ASSERT_EQUAL(len, 14 + 28 + 12 + 40);
	assert_frame(out, len, v4_syn_gue4_alt_out);
	assert_untouched_before(&f, out);
}

static void test_gue_v6_alternate(void)
{
	static struct test_frame f;
	struct elb_encap_params p = params_alt(ELB_AF_INET6, true, 1500);
	uint8_t *out;
	int len;

	frame_load(&f, v6_syn_in);
	len = encap(&f, &p, 0x1111111122ffabcdULL, &out);
	CU_ASSERT_EQUAL(len, 14 + 48 + 24 + 60);
	assert_frame(out, len, v6_syn_gue6_alt_out);
	assert_untouched_before(&f, out);
}

/* An alternate without GUE has no place on the wire: plain IP-in-IP, the
 * same bytes as without one. */
static void test_alternate_needs_gue(void)
{
	static struct test_frame f;
	struct elb_encap_params p = params_alt(ELB_AF_INET6, false, 1500);
	uint8_t *out;
	int len;

	CU_ASSERT_EQUAL(elb_encap_params_overhead(&p), 40);
	frame_load(&f, v6_syn_in);
	len = encap(&f, &p, 0x2222222233fbcdefULL, &out);
	assert_frame(out, len, v6_syn_ip6ip6_out);
}

/* Sizes and the MTU check count the alternate: +12 (IPv4), +24 (IPv6). */
static void test_alternate_sizes_and_mtu(void)
{
	static struct test_frame f;
	struct elb_encap_params p;

	CU_ASSERT_EQUAL(sizeof(struct elb_gue_hdr), 4);
	CU_ASSERT_EQUAL(elb_gue_priv_len(ELB_AF_INET), 8);
	CU_ASSERT_EQUAL(elb_gue_priv_len(ELB_AF_INET6), 20);
	CU_ASSERT_EQUAL(elb_second_chance_overhead(ELB_AF_INET), ELB_SECOND_CHANCE_OVERHEAD_V4);
	CU_ASSERT_EQUAL(elb_second_chance_overhead(ELB_AF_INET6), ELB_SECOND_CHANCE_OVERHEAD_V6);
	CU_ASSERT_EQUAL(ELB_SECOND_CHANCE_OVERHEAD_V4, 12);
	CU_ASSERT_EQUAL(ELB_SECOND_CHANCE_OVERHEAD_V6, 24);
	p = params_alt(ELB_AF_INET, true, 1500);
	CU_ASSERT_EQUAL(elb_encap_params_overhead(&p), 40);
	CU_ASSERT_EQUAL(elb_encap_inner_mtu(&p), 1460);
	p = params_alt(ELB_AF_INET6, true, 1500);
	CU_ASSERT_EQUAL(elb_encap_params_overhead(&p), 72);
	CU_ASSERT_EQUAL(elb_encap_inner_mtu(&p), 1428);

	/* 40-byte IPv4 packet with DF: 80 with an IPv4 alternate. */
	frame_load(&f, v4_syn_in);
	p = params_alt(ELB_AF_INET, true, 79);
	CU_ASSERT_EQUAL(elb_encap_mtu_check(&f.pkt, &p), ELB_MTU_TOO_BIG_REPLY);
	p = params_alt(ELB_AF_INET, true, 80);
	CU_ASSERT_EQUAL(elb_encap_mtu_check(&f.pkt, &p), ELB_MTU_FITS);
	/* The same MTU fits the packet without the alternate. */
	p = params(ELB_AF_INET, true, 68);
	CU_ASSERT_EQUAL(elb_encap_mtu_check(&f.pkt, &p), ELB_MTU_FITS);
	/* 60-byte IPv6 packet: 132 with an IPv6 alternate. */
	frame_load(&f, v6_syn_in);
	p = params_alt(ELB_AF_INET6, true, 131);
	CU_ASSERT_EQUAL(elb_encap_mtu_check(&f.pkt, &p), ELB_MTU_TOO_BIG_REPLY);
	p = params_alt(ELB_AF_INET6, true, 132);
	CU_ASSERT_EQUAL(elb_encap_mtu_check(&f.pkt, &p), ELB_MTU_FITS);
}

/* A buffer one byte short of the variant-0 frame: refused, not overrun. */
static void test_alternate_short_buffer(void)
{
	static struct test_frame f;
	struct elb_encap_params p = params_alt(ELB_AF_INET6, true, 1500);
	uint8_t *out;

	frame_load(&f, v6_syn_in);
	out = frame_make_room(&f, 14 + 72);
	CU_ASSERT_EQUAL(elb_encap_write(out, f.end - 1, &f.pkt, &p, 1), -1);
	CU_ASSERT_EQUAL(elb_encap_write(out, f.end, &f.pkt, &p, 1), 14 + 72 + 60);
}

int main(void)
{
	static const struct elb_test_case cases[] = {
		ELB_TEST(test_overhead_and_sizes),
		ELB_TEST(test_ipip_v4),
		ELB_TEST(test_ipip_v4_from_vlan),
		ELB_TEST(test_ipip_v4_padding_not_carried),
		ELB_TEST(test_ip6ip6),
		ELB_TEST(test_ip4ip6),
		ELB_TEST(test_gue_v4),
		ELB_TEST(test_gue_v6),
		ELB_TEST(test_mtu_boundary_ipip_v4),
		ELB_TEST(test_mtu_boundary_gue_v6),
		ELB_TEST(test_mtu_ipv4_without_df),
		ELB_TEST(test_mtu_no_reply_to_icmp_error),
		ELB_TEST(test_mtu_no_reply_to_later_fragment),
		ELB_TEST(test_mtu_no_reply_to_non_unicast_source),
		ELB_TEST(test_icmp_frag_needed_v4_options_truncated),
		ELB_TEST(test_icmp_frag_needed_v4_small_odd),
		ELB_TEST(test_icmp6_too_big_ext_header),
		ELB_TEST(test_icmp6_too_big_truncated),
		ELB_TEST(test_encap_short_buffer),
		ELB_TEST(test_icmp_short_buffer),
		ELB_TEST(test_encap_v6_in_v4_refused),
		ELB_TEST(test_gue_v4_alternate),
		ELB_TEST(test_gue_v6_alternate),
		ELB_TEST(test_alternate_needs_gue),
		ELB_TEST(test_alternate_sizes_and_mtu),
		ELB_TEST(test_alternate_short_buffer),
		ELB_TEST_END,
	};
	return elb_test_run("encap", cases);
}
