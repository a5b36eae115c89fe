/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The backend decapsulation program (bpf/decap.bpf.c) under
 * BPF_PROG_TEST_RUN, byte for byte:
 *   - each encapsulation the balancer sends (IPv4 in IPv4, IPv6 in IPv6,
 *     IPv4 in IPv6, GUE over either outer family, IPv4 outer with options)
 *     comes out as exactly the inner packet behind the same MAC addresses and
 *     the inner family's ethertype, with XDP_PASS;
 *   - what is not ours (plain TCP, UDP to another port, an outer fragment,
 *     a protocol/version mismatch, a truncated header, ARP) passes untouched;
 *   - the GUE port is the one set in rodata at load time;
 *   - round trip with the balancer's own writer (elb_encap_write) for every
 *     outer family and encapsulation: decap(encap(frame)) is the frame's IP
 *     packet;
 *   - second chance (GUE variant 0 naming an alternate backend), in a
 *     network namespace of the test's own (unshare) holding a veth with the
 *     backend's addresses, a permanent neighbour entry for the alternate,
 *     the VIPs on lo and real TCP sockets: a SYN, a segment of an
 *     established connection, an ACK carrying the listener's SYN cookie,
 *     UDP, hops left 0 and second chance switched off are kept
 *     (decapsulated); a segment that no socket owns goes on to the
 *     alternate, byte for byte as written here, over either outer family;
 *     no route to the alternate keeps it; private data cut short passes
 *     untouched; each is counted under its reason;
 *   - edgelb-decap itself (argv[1]) attached in generic mode to that veth:
 *     a frame sent from the peer comes back forwarded, byte for byte, and
 *     --stats, --no-second-chance and --detach do what they say;
 *   - the program's cost per packet (FIGURE line, not asserted): today's
 *     GUE variant 1 against a kept and a forwarded second-chance packet.
 * Root only (exit 77 otherwise).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>

#include "decap.h"
#include "elb_encap.h"
#include "elb_parse.h"
#include "elb_test.h"

#include "decap.skel.h"

#define FRAME_MAX 512

static struct decap_bpf *skel_default; /* gue_port 6080 */
static struct decap_bpf *skel_port7000;
static struct decap_bpf *skel_no_second_chance; /* gue_port 6080, second chance off */

/* The backend's interface in the test's namespace (a veth), its ifindex. */
#define BACKEND_IFACE "elbdecap0"
static unsigned int backend_ifindex;

#define ETH_MACS "02 00 00 00 00 02  02 00 00 00 00 01 "

/* A client's TCP SYN, 198.51.100.2:40000 -> VIP 203.0.113.10:80. The
 * checksums are arbitrary: the program must not look at them. */
#define INNER_V4 "45 00 00 28 12 34 40 00 3f 06 ab cd c6 33 64 02 cb 00 71 0a" \
	"9c 40 00 50 00 00 00 01 00 00 00 00 50 02 ff ff 12 34 00 00"
/* 2001:db8:1::2 port 40000 -> VIP 2001:db8:ff::10 port 80 */
#define INNER_V6 "60 03 00 00 00 14 06 3f" \
	"20 01 0d b8 00 01 00 00 00 00 00 00 00 00 00 02" \
	"20 01 0d b8 00 ff 00 00 00 00 00 00 00 00 00 10" \
	"9c 40 00 50 00 00 00 01 00 00 00 00 50 02 ff ff 56 78 00 00"

/* Outer IPv4 198.51.100.1 -> backend 192.0.2.11; protocol byte at [9]. */
#define OUTER_V4_IPIP "45 00 00 3c 12 34 40 00 40 04 00 00 c6 33 64 01 c0 00 02 0b"
#define OUTER_V4_UDP "45 00 00 44 12 34 40 00 40 11 00 00 c6 33 64 01 c0 00 02 0b"
/* With 4 bytes of options (ihl 6): router alert, the only option seen in the wild. */
#define OUTER_V4_IPIP_OPTS "46 00 00 40 12 34 40 00 40 04 00 00 c6 33 64 01 c0 00 02 0b 94 04 00 00"
#define OUTER_V4_IPIP_MF "45 00 00 3c 12 34 20 00 40 04 00 00 c6 33 64 01 c0 00 02 0b"
/* Outer IPv6 2001:db8::1 -> backend 2001:db8:2::11; next header at [6]. */
#define OUTER_V6(payload_len, next_header)                                                   \
	"60 00 00 00 " payload_len " " next_header " 40"                                      \
	"20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 01"                                      \
	"20 01 0d b8 00 02 00 00 00 00 00 00 00 00 00 11"
/* GUE: source port from the flow hash, destination port, length, checksum 0. */
#define UDP_TO(port_hex, len_hex) "c1 23 " port_hex " " len_hex " 00 00"

/*
 * Second chance. The backend (this test's namespace) is 192.0.2.11 and
 * 2001:db8:2::11 on BACKEND_IFACE, MAC 02:00:00:00:00:0b; the alternate
 * backend is 192.0.2.12 / 2001:db8:2::12, a permanent neighbour at
 * 02:00:00:00:00:0c. The VIPs 203.0.113.10 and 2001:db8:ff::10 and the
 * clients 198.51.100.2, .3 and 2001:db8:1::2 are on lo; a listener on each
 * VIP's port 80, and an established connection from each client's port
 * 40000 (sport "9c 40"); 40001 ("9c 41") has no connection.
 */
#define MAC_BACKEND "02 00 00 00 00 0b"
#define MAC_ALTERNATE "02 00 00 00 00 0c"

/* Inner IPv4 TCP segment, 198.51.100.2:sport -> 203.0.113.10:80, flags
 * "02" SYN, "10" ACK; checksums arbitrary (nothing checks them). */
#define INNER_V4_TCP(sport, flags)                                                         \
	"45 00 00 28 12 34 40 00 3f 06 ab cd c6 33 64 02 cb 00 71 0a"                      \
	sport " 00 50 00 00 00 01 00 00 00 01 50 " flags " ff ff 12 34 00 00"
/* Inner IPv6 TCP segment, [2001:db8:1::2]:sport -> [2001:db8:ff::10]:80. */
#define INNER_V6_TCP(sport, flags)                                                         \
	"60 03 00 00 00 14 06 3f"                                                          \
	"20 01 0d b8 00 01 00 00 00 00 00 00 00 00 00 02"                                  \
	"20 01 0d b8 00 ff 00 00 00 00 00 00 00 00 00 10"                                  \
	sport " 00 50 00 00 00 01 00 00 00 01 50 " flags " ff ff 56 78 00 00"
/* Inner IPv4 UDP datagram, 198.51.100.2:40001 -> 203.0.113.10:53, 4 bytes. */
#define INNER_V4_UDP "45 00 00 20 12 34 40 00 3f 11 ab cd c6 33 64 02 cb 00 71 0a" \
	"9c 41 00 35 00 0c 00 00 de ad be ef"

/* Outer IPv4 198.51.100.1 -> 192.0.2.11, TTL 61 (0x3d), checksum 0 (not
 * checked), total length for a 40-byte inner packet behind UDP + GUE (4) +
 * private data (8): 80. */
#define OUTER_V4_GUE0 "45 00 00 50 12 34 40 00 3d 11 00 00 c6 33 64 01 c0 00 02 0b"
/* UDP: length 60, a non-zero checksum (the forwarded packet carries 0). */
#define UDP_GUE0_V4 "c1 23 17 c0 00 3c ab cd"
/* GUE variant 0: Hlen 2, proto 4 (IPv4), flags 0. */
#define GUE0_V4_INNER4 "02 04 00 00"
/* edgelb's private data: magic, second chance, hops left, family 4, alternate. */
#define PRIV_V4(hops) "eb 01 " hops " 04 c0 00 02 0c"

/* Outer IPv6 2001:db8::1 -> 2001:db8:2::11, hop limit 61, payload 92 =
 * UDP 8 + GUE 4 + private data 20 + a 60-byte inner IPv6 packet. */
#define OUTER_V6_GUE0                                                                      \
	"60 00 00 00 00 5c 11 3d"                                                          \
	"20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 01"                                  \
	"20 01 0d b8 00 02 00 00 00 00 00 00 00 00 00 11"
#define UDP_GUE0_V6 "c1 23 17 c0 00 5c 00 00"
/* Hlen 5, proto 41 (IPv6). */
#define GUE0_V6_INNER6 "05 29 00 00"
#define PRIV_V6(hops) "eb 01 " hops " 06 20 01 0d b8 00 02 00 00 00 00 00 00 00 00 00 12"

static size_t append_hex(uint8_t *frame, size_t len, const char *hex)
{
	return len + elb_test_hex(hex, frame + len, FRAME_MAX - len);
}

static size_t eth(uint8_t *frame, const char *ethertype)
{
	size_t len = elb_test_hex(ETH_MACS, frame, FRAME_MAX);

	return append_hex(frame, len, ethertype);
}

/* Runs the program on [in, in + in_len); returns the XDP verdict and the
 * output frame. */
static int run(struct decap_bpf *skel, const uint8_t *in, size_t in_len, uint8_t *out,
	       size_t *out_len)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = in, .data_size_in = (__u32)in_len,
		    .data_out = out, .data_size_out = FRAME_MAX, .repeat = 1);
	int err = bpf_prog_test_run_opts(bpf_program__fd(skel->progs.elb_decap), &opts);

	CU_ASSERT_EQUAL_FATAL(err, 0);
	*out_len = opts.data_size_out;
	return (int)opts.retval;
}

/* As run(), as if the frame arrived on the backend's interface (what
 * bpf_fib_lookup starts from); *duration_ns is the kernel's time for it. */
static int run_on_backend(struct decap_bpf *skel, const uint8_t *in, size_t in_len,
			  uint8_t *out, size_t *out_len, uint32_t *duration_ns)
{
	struct xdp_md md = {.data_end = (__u32)in_len, .ingress_ifindex = backend_ifindex};
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = in, .data_size_in = (__u32)in_len,
		    .data_out = out, .data_size_out = FRAME_MAX, .ctx_in = &md,
		    .ctx_size_in = sizeof(md), .repeat = 1);
	int err = bpf_prog_test_run_opts(bpf_program__fd(skel->progs.elb_decap), &opts);

	CU_ASSERT_EQUAL_FATAL(err, 0);
	*out_len = opts.data_size_out;
	if (duration_ns)
		*duration_ns = opts.duration;
	return (int)opts.retval;
}

/* Expects [outer headers + inner] to become [Ethernet(inner type) + inner]. */
static void expect_decap(struct decap_bpf *skel, const char *outer_ethertype,
			 const char *outer_headers, const char *inner_ethertype, const char *inner)
{
	uint8_t in[FRAME_MAX], want[FRAME_MAX], out[FRAME_MAX];
	size_t in_len = eth(in, outer_ethertype), want_len = eth(want, inner_ethertype);
	size_t out_len;

	in_len = append_hex(in, in_len, outer_headers);
	in_len = append_hex(in, in_len, inner);
	want_len = append_hex(want, want_len, inner);
	CU_ASSERT_EQUAL(run(skel, in, in_len, out, &out_len), XDP_PASS);
	ELB_ASSERT_BYTES(out, out_len, want, want_len);
}

/* Expects the frame to pass untouched. */
static void expect_untouched(struct decap_bpf *skel, const uint8_t *in, size_t in_len)
{
	uint8_t out[FRAME_MAX];
	size_t out_len;

	CU_ASSERT_EQUAL(run(skel, in, in_len, out, &out_len), XDP_PASS);
	ELB_ASSERT_BYTES(out, out_len, in, in_len);
}

static void untouched_hex(struct decap_bpf *skel, const char *ethertype, const char *rest)
{
	uint8_t in[FRAME_MAX];
	size_t in_len = eth(in, ethertype);

	in_len = append_hex(in, in_len, rest);
	expect_untouched(skel, in, in_len);
}

static void test_ipv4_in_ipv4(void)
{
	expect_decap(skel_default, "08 00", OUTER_V4_IPIP, "08 00", INNER_V4);
}

static void test_ipv4_in_ipv4_with_options(void)
{
	expect_decap(skel_default, "08 00", OUTER_V4_IPIP_OPTS, "08 00", INNER_V4);
}

static void test_ipv6_in_ipv6(void)
{
	expect_decap(skel_default, "86 dd", OUTER_V6("00 3c", "29"), "86 dd", INNER_V6);
}

static void test_ipv4_in_ipv6(void)
{
	expect_decap(skel_default, "86 dd", OUTER_V6("00 28", "04"), "08 00", INNER_V4);
}

static void test_gue_ipv4_outer(void)
{
	expect_decap(skel_default, "08 00", OUTER_V4_UDP UDP_TO("17 c0", "00 30"), "08 00",
		     INNER_V4);
}

static void test_gue_ipv6_outer_ipv6_inner(void)
{
	expect_decap(skel_default, "86 dd", OUTER_V6("00 44", "11") UDP_TO("17 c0", "00 44"),
		     "86 dd", INNER_V6);
}

static void test_gue_ipv6_outer_ipv4_inner(void)
{
	expect_decap(skel_default, "86 dd", OUTER_V6("00 30", "11") UDP_TO("17 c0", "00 30"),
		     "08 00", INNER_V4);
}

static void test_gue_port_from_rodata(void)
{
	/* 7000 = 0x1b58 is decapsulated by the program loaded with it... */
	expect_decap(skel_port7000, "08 00", OUTER_V4_UDP UDP_TO("1b 58", "00 30"), "08 00",
		     INNER_V4);
	/* ...which leaves the default port alone, and the other way round. */
	untouched_hex(skel_port7000, "08 00", OUTER_V4_UDP UDP_TO("17 c0", "00 30") INNER_V4);
	untouched_hex(skel_default, "08 00", OUTER_V4_UDP UDP_TO("1b 58", "00 30") INNER_V4);
}

static void test_not_ours_untouched(void)
{
	/* the inner SYN itself, as a client sends it */
	untouched_hex(skel_default, "08 00", INNER_V4);
	untouched_hex(skel_default, "86 dd", INNER_V6);
	/* UDP to 6081 */
	untouched_hex(skel_default, "08 00", OUTER_V4_UDP UDP_TO("17 c1", "00 30") INNER_V4);
	/* an outer first fragment (MF): for the kernel to reassemble */
	untouched_hex(skel_default, "08 00", OUTER_V4_IPIP_MF INNER_V4);
	/* protocol 4 announcing IPv4, carrying IPv6 */
	untouched_hex(skel_default, "08 00", OUTER_V4_IPIP INNER_V6);
	/* next header 41 announcing IPv6, carrying IPv4 */
	untouched_hex(skel_default, "86 dd", OUTER_V6("00 28", "29") INNER_V4);
	/* GUE whose payload is neither IPv4 nor IPv6 (a GUE variant 0 header) */
	untouched_hex(skel_default, "08 00",
		      OUTER_V4_UDP UDP_TO("17 c0", "00 0c") "00 04 00 00");
	/* truncated: outer IPv4 header cut short, GUE without its UDP header */
	untouched_hex(skel_default, "08 00", "45 00 00 3c 12 34 40 00 40 04");
	untouched_hex(skel_default, "08 00", OUTER_V4_UDP "c1 23");
	/* encapsulation with nothing inside */
	untouched_hex(skel_default, "08 00", OUTER_V4_IPIP);
	/* ARP request */
	untouched_hex(skel_default, "08 06",
		      "00 01 08 00 06 04 00 01 02 00 00 00 00 01 c6 33 64 01"
		      "00 00 00 00 00 00 c6 33 64 02");
}

/* decap(elb_encap_write(frame)) == the frame's IP packet, for each outer
 * family and encapsulation the balancer has. */
static void round_trip(const char *inner_ethertype, const char *inner, uint8_t outer_family,
		       bool gue)
{
	enum { HEADROOM = 128 };
	uint8_t buf[HEADROOM + FRAME_MAX], out[FRAME_MAX], want[FRAME_MAX];
	struct elb_encap_params params;
	struct elb_packet pkt;
	size_t frame_len, want_len, out_len;
	uint8_t *frame;
	int encap_len;

	frame_len = eth(buf + HEADROOM, inner_ethertype);
	frame_len = append_hex(buf + HEADROOM, frame_len, inner);
	want_len = eth(want, inner_ethertype);
	want_len = append_hex(want, want_len, inner);
	CU_ASSERT_EQUAL_FATAL(elb_parse(buf + HEADROOM, buf + HEADROOM + frame_len, &pkt),
			      ELB_PARSE_IP);

	memset(&params, 0, sizeof(params));
	params.outer_family = outer_family;
	params.gue = gue;
	params.gue_dport = elb_htons(6080);
	params.mtu = 1500;
	if (outer_family == ELB_AF_INET) {
		params.outer_src.v4 = elb_htonl(0xc6336401);
		params.outer_dst.v4 = elb_htonl(0xc000020b);
	} else {
		params.outer_src.v6[0] = 0x20;
		params.outer_dst.v6[0] = 0x20;
		params.outer_dst.v6[15] = 0x11;
	}
	/* The MACs the balancer writes are the ones expected back. */
	memcpy(params.dst_mac, want, 6);
	memcpy(params.src_mac, want + 6, 6);
	frame = buf + HEADROOM + pkt.l3_off - (14 + elb_encap_overhead(outer_family, gue));
	encap_len = elb_encap_write(frame, buf + sizeof(buf), &pkt, &params, 0x123456789abcdefull);
	CU_ASSERT_FATAL(encap_len > 0);

	CU_ASSERT_EQUAL(run(skel_default, frame, (size_t)encap_len, out, &out_len), XDP_PASS);
	ELB_ASSERT_BYTES(out, out_len, want, want_len);
}

static void test_round_trip_with_the_balancers_writer(void)
{
	round_trip("08 00", INNER_V4, ELB_AF_INET, false);
	round_trip("08 00", INNER_V4, ELB_AF_INET, true);
	round_trip("08 00", INNER_V4, ELB_AF_INET6, false);
	round_trip("08 00", INNER_V4, ELB_AF_INET6, true);
	round_trip("86 dd", INNER_V6, ELB_AF_INET6, false);
	round_trip("86 dd", INNER_V6, ELB_AF_INET6, true);
}

/* ---- second chance ------------------------------------------------------------------ */

/* The program's counter `stat`, summed over the CPUs. */
static uint64_t stat_count(struct decap_bpf *skel, enum elb_decap_stat stat)
{
	int ncpus = libbpf_num_possible_cpus();
	uint64_t values[ncpus > 0 ? ncpus : 1], sum = 0;
	uint32_t key = stat;

	CU_ASSERT_FATAL(ncpus > 0);
	CU_ASSERT_EQUAL_FATAL(bpf_map_lookup_elem(bpf_map__fd(skel->maps.decap_stats), &key,
						  values), 0);
	for (int i = 0; i < ncpus; i++)
		sum += values[i];
	return sum;
}

/* Runs [eth(outer_ethertype) + packet] on the backend's interface and
 * expects `action` with the frame [want]: the decapsulated inner for
 * XDP_PASS (want_ethertype + want_packet behind the same MACs), the hex
 * dump want_packet as a whole frame for XDP_TX; and the counter `stat` one
 * up, no other. */
static void expect_on_backend(struct decap_bpf *skel, const uint8_t *in, size_t in_len,
			      int action, const uint8_t *want, size_t want_len,
			      enum elb_decap_stat stat)
{
	uint64_t before[ELB_DECAP_STAT_COUNT];
	uint8_t out[FRAME_MAX];
	size_t out_len;
	int i;

	for (i = 0; i < ELB_DECAP_STAT_COUNT; i++)
		before[i] = stat_count(skel, i);
	CU_ASSERT_EQUAL(run_on_backend(skel, in, in_len, out, &out_len, NULL), action);
	ELB_ASSERT_BYTES(out, out_len, want, want_len);
	for (i = 0; i < ELB_DECAP_STAT_COUNT; i++)
		ELB_CHECK(stat_count(skel, i) - before[i] == (i == (int)stat),
			  "counter %d went from %llu to %llu (expected: %d one up)", i,
			  (unsigned long long)before[i], (unsigned long long)stat_count(skel, i),
			  (int)stat);
}

/* [eth(outer) + outer hex] kept: decapsulated to [eth(inner) + inner hex]. */
static void expect_kept(struct decap_bpf *skel, const char *outer_ethertype,
			const char *outer_headers, const char *inner_ethertype, const char *inner,
			enum elb_decap_stat stat)
{
	uint8_t in[FRAME_MAX], want[FRAME_MAX];
	size_t in_len = eth(in, outer_ethertype), want_len = eth(want, inner_ethertype);

	in_len = append_hex(in, in_len, outer_headers);
	in_len = append_hex(in, in_len, inner);
	want_len = append_hex(want, want_len, inner);
	expect_on_backend(skel, in, in_len, XDP_PASS, want, want_len, stat);
}

/* The hex frame `in` sent on as the hex frame `want` (XDP_TX). */
static void expect_forwarded(const char *in_hex, const char *want_hex)
{
	uint8_t in[FRAME_MAX], want[FRAME_MAX];
	size_t in_len = elb_test_hex(in_hex, in, FRAME_MAX);
	size_t want_len = elb_test_hex(want_hex, want, FRAME_MAX);

	expect_on_backend(skel_default, in, in_len, XDP_TX, want, want_len, ELB_DECAP_FORWARDED);
}

static void test_second_chance_syn_kept(void)
{
	expect_kept(skel_default, "08 00", OUTER_V4_GUE0 UDP_GUE0_V4 GUE0_V4_INNER4 PRIV_V4("01"),
		    "08 00", INNER_V4_TCP("9c 41", "02"), ELB_DECAP_KEPT_SYN);
	/* SYN+ACK too: the SYN bit decides */
	expect_kept(skel_default, "08 00", OUTER_V4_GUE0 UDP_GUE0_V4 GUE0_V4_INNER4 PRIV_V4("01"),
		    "08 00", INNER_V4_TCP("9c 41", "12"), ELB_DECAP_KEPT_SYN);
}

static void test_second_chance_established_socket_kept(void)
{
	expect_kept(skel_default, "08 00", OUTER_V4_GUE0 UDP_GUE0_V4 GUE0_V4_INNER4 PRIV_V4("01"),
		    "08 00", INNER_V4_TCP("9c 40", "10"), ELB_DECAP_KEPT_SOCKET);
	/* a FIN of the connection, and over IPv6 */
	expect_kept(skel_default, "08 00", OUTER_V4_GUE0 UDP_GUE0_V4 GUE0_V4_INNER4 PRIV_V4("01"),
		    "08 00", INNER_V4_TCP("9c 40", "11"), ELB_DECAP_KEPT_SOCKET);
	expect_kept(skel_default, "86 dd", OUTER_V6_GUE0 UDP_GUE0_V6 GUE0_V6_INNER6 PRIV_V6("01"),
		    "86 dd", INNER_V6_TCP("9c 40", "10"), ELB_DECAP_KEPT_SOCKET);
}

/* A segment no local socket owns (a listener on the port, no connection)
 * goes to the alternate: outer source := the backend (the address it came
 * to), destination := the alternate, TTL 64 and the checksum over it
 * (a451), UDP checksum 0, hops left 0, MACs from the neighbour entry. */
static void test_second_chance_no_socket_forwarded_ipv4(void)
{
	expect_forwarded(ETH_MACS "08 00" OUTER_V4_GUE0 UDP_GUE0_V4 GUE0_V4_INNER4 PRIV_V4("01")
			 INNER_V4_TCP("9c 41", "10"),
			 MAC_ALTERNATE MAC_BACKEND "08 00"
			 "45 00 00 50 12 34 40 00 40 11 a4 51 c0 00 02 0b c0 00 02 0c"
			 "c1 23 17 c0 00 3c 00 00" GUE0_V4_INNER4 PRIV_V4("00")
			 INNER_V4_TCP("9c 41", "10"));
	/* no listener on the port either (81 = 0x51): the same */
	expect_forwarded(ETH_MACS "08 00" OUTER_V4_GUE0 UDP_GUE0_V4 GUE0_V4_INNER4 PRIV_V4("01")
			 "45 00 00 28 12 34 40 00 3f 06 ab cd c6 33 64 02 cb 00 71 0a"
			 "9c 40 00 51 00 00 00 01 00 00 00 01 50 10 ff ff 12 34 00 00",
			 MAC_ALTERNATE MAC_BACKEND "08 00"
			 "45 00 00 50 12 34 40 00 40 11 a4 51 c0 00 02 0b c0 00 02 0c"
			 "c1 23 17 c0 00 3c 00 00" GUE0_V4_INNER4 PRIV_V4("00")
			 "45 00 00 28 12 34 40 00 3f 06 ab cd c6 33 64 02 cb 00 71 0a"
			 "9c 40 00 51 00 00 00 01 00 00 00 01 50 10 ff ff 12 34 00 00");
}

/* Outer IPv4 options are carried over, inside the new checksum (0f49). */
static void test_second_chance_forwarded_with_outer_options(void)
{
	expect_forwarded(ETH_MACS "08 00"
			 "46 00 00 54 12 34 40 00 3d 11 00 00 c6 33 64 01 c0 00 02 0b 94 04 00 00"
			 UDP_GUE0_V4 GUE0_V4_INNER4 PRIV_V4("01") INNER_V4_TCP("9c 41", "10"),
			 MAC_ALTERNATE MAC_BACKEND "08 00"
			 "46 00 00 54 12 34 40 00 40 11 0f 49 c0 00 02 0b c0 00 02 0c 94 04 00 00"
			 "c1 23 17 c0 00 3c 00 00" GUE0_V4_INNER4 PRIV_V4("00")
			 INNER_V4_TCP("9c 41", "10"));
}

static void test_second_chance_no_socket_forwarded_ipv6(void)
{
	expect_forwarded(ETH_MACS "86 dd" OUTER_V6_GUE0 UDP_GUE0_V6 GUE0_V6_INNER6 PRIV_V6("01")
			 INNER_V6_TCP("9c 41", "10"),
			 MAC_ALTERNATE MAC_BACKEND "86 dd"
			 "60 00 00 00 00 5c 11 40"
			 "20 01 0d b8 00 02 00 00 00 00 00 00 00 00 00 11"
			 "20 01 0d b8 00 02 00 00 00 00 00 00 00 00 00 12"
			 UDP_GUE0_V6 GUE0_V6_INNER6 PRIV_V6("00") INNER_V6_TCP("9c 41", "10"));
}

static void test_second_chance_hops_exhausted_kept(void)
{
	expect_kept(skel_default, "08 00", OUTER_V4_GUE0 UDP_GUE0_V4 GUE0_V4_INNER4 PRIV_V4("00"),
		    "08 00", INNER_V4_TCP("9c 41", "10"), ELB_DECAP_KEPT_HOPS_EXHAUSTED);
	expect_kept(skel_default, "86 dd", OUTER_V6_GUE0 UDP_GUE0_V6 GUE0_V6_INNER6 PRIV_V6("00"),
		    "86 dd", INNER_V6_TCP("9c 41", "10"), ELB_DECAP_KEPT_HOPS_EXHAUSTED);
}

static void test_second_chance_off_kept(void)
{
	expect_kept(skel_no_second_chance, "08 00",
		    OUTER_V4_GUE0 UDP_GUE0_V4 GUE0_V4_INNER4 PRIV_V4("01"), "08 00",
		    INNER_V4_TCP("9c 41", "10"), ELB_DECAP_KEPT_SECOND_CHANCE_OFF);
	/* and today's encapsulations still decapsulate */
	expect_kept(skel_no_second_chance, "08 00", OUTER_V4_UDP UDP_TO("17 c0", "00 30"), "08 00",
		    INNER_V4, ELB_DECAP_KEPT_NO_ALTERNATE);
}

static void test_second_chance_udp_kept(void)
{
	expect_kept(skel_default, "08 00",
		    "45 00 00 48 12 34 40 00 3d 11 00 00 c6 33 64 01 c0 00 02 0b"
		    "c1 23 17 c0 00 34 00 00" GUE0_V4_INNER4 PRIV_V4("01"),
		    "08 00", INNER_V4_UDP, ELB_DECAP_KEPT_NOT_TCP);
}

/* Writes a /proc/sys file of the test's namespace: 0 or -1. */
static int set_sysctl(const char *path, const char *value)
{
	FILE *f = fopen(path, "w");
	int ok;

	if (!f) {
		perror(path);
		return -1;
	}
	ok = fputs(value, f) >= 0;
	ok = fclose(f) == 0 && ok;
	return ok ? 0 : -1;
}

static void write_sysctl(const char *path, const char *value)
{
	CU_ASSERT_FATAL(set_sysctl(path, value) == 0);
}

static void test_second_chance_no_route_kept(void)
{
	/* forwarding off on the interface: the kernel's FIB lookup refuses */
	write_sysctl("/proc/sys/net/ipv4/conf/" BACKEND_IFACE "/forwarding", "0\n");
	expect_kept(skel_default, "08 00", OUTER_V4_GUE0 UDP_GUE0_V4 GUE0_V4_INNER4 PRIV_V4("01"),
		    "08 00", INNER_V4_TCP("9c 41", "10"), ELB_DECAP_KEPT_FORWARDING_OFF);
	write_sysctl("/proc/sys/net/ipv4/conf/" BACKEND_IFACE "/forwarding", "1\n");
	write_sysctl("/proc/sys/net/ipv6/conf/" BACKEND_IFACE "/forwarding", "0\n");
	expect_kept(skel_default, "86 dd", OUTER_V6_GUE0 UDP_GUE0_V6 GUE0_V6_INNER6 PRIV_V6("01"),
		    "86 dd", INNER_V6_TCP("9c 41", "10"), ELB_DECAP_KEPT_FORWARDING_OFF);
	write_sysctl("/proc/sys/net/ipv6/conf/" BACKEND_IFACE "/forwarding", "1\n");

	/* 198.18.0.1: no route from the backend's interface */
	expect_kept(skel_default, "08 00",
		    OUTER_V4_GUE0 UDP_GUE0_V4 GUE0_V4_INNER4 "eb 01 01 04 c6 12 00 01", "08 00",
		    INNER_V4_TCP("9c 41", "10"), ELB_DECAP_KEPT_FIB_FAILED);
	/* 192.0.2.13: on the link, but no neighbour entry */
	expect_kept(skel_default, "08 00",
		    OUTER_V4_GUE0 UDP_GUE0_V4 GUE0_V4_INNER4 "eb 01 01 04 c0 00 02 0d", "08 00",
		    INNER_V4_TCP("9c 41", "10"), ELB_DECAP_KEPT_FIB_FAILED);
}

/* GUE variant 0 without edgelb's private data is decapsulated as any GUE. */
static void test_gue_variant0_not_ours(void)
{
	/* no private data (Hlen 0) */
	expect_kept(skel_default, "08 00",
		    "45 00 00 48 12 34 40 00 3d 11 00 00 c6 33 64 01 c0 00 02 0b"
		    "c1 23 17 c0 00 34 00 00 00 04 00 00",
		    "08 00", INNER_V4_TCP("9c 41", "10"), ELB_DECAP_KEPT_NO_ALTERNATE);
	/* another magic */
	expect_kept(skel_default, "08 00",
		    OUTER_V4_GUE0 UDP_GUE0_V4 GUE0_V4_INNER4 "ea 01 01 04 c0 00 02 0c", "08 00",
		    INNER_V4_TCP("9c 41", "10"), ELB_DECAP_KEPT_NO_ALTERNATE);
	/* another type of ours */
	expect_kept(skel_default, "08 00",
		    OUTER_V4_GUE0 UDP_GUE0_V4 GUE0_V4_INNER4 "eb 02 01 04 c0 00 02 0c", "08 00",
		    INNER_V4_TCP("9c 41", "10"), ELB_DECAP_KEPT_NO_ALTERNATE);
	/* flags set: optional fields we do not parse come before private data */
	expect_kept(skel_default, "08 00",
		    OUTER_V4_GUE0 UDP_GUE0_V4 "02 04 80 00" PRIV_V4("01"), "08 00",
		    INNER_V4_TCP("9c 41", "10"), ELB_DECAP_KEPT_NO_ALTERNATE);
	/* IPv4 inside an IPv6 outer, proto 4 */
	expect_kept(skel_default, "86 dd",
		    "60 00 00 00 00 34 11 3d"
		    "20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 01"
		    "20 01 0d b8 00 02 00 00 00 00 00 00 00 00 00 11"
		    "c1 23 17 c0 00 34 00 00 00 04 00 00",
		    "08 00", INNER_V4_TCP("9c 41", "10"), ELB_DECAP_KEPT_NO_ALTERNATE);
}

/* Private data cut short, of the wrong family, or with nothing inside:
 * untouched, counted malformed. What is not even GUE data is untouched and
 * not counted. */
static void test_second_chance_malformed_untouched(void)
{
	static const char *const malformed[] = {
		/* Hlen 2 announcing an IPv6 alternate (needs 5 words) */
		ETH_MACS "08 00" OUTER_V4_GUE0 UDP_GUE0_V4 "02 04 00 00 eb 01 01 06 c0 00 02 0c"
			INNER_V4_TCP("9c 41", "10"),
		/* Hlen 1: the fixed part only, no address */
		ETH_MACS "08 00" OUTER_V4_GUE0 UDP_GUE0_V4 "01 04 00 00 eb 01 01 04"
			INNER_V4_TCP("9c 41", "10"),
		/* an IPv6 alternate in an IPv4 outer packet (Hlen 5) */
		ETH_MACS "08 00" OUTER_V4_GUE0 UDP_GUE0_V4 "05 04 00 00" PRIV_V6("01")
			INNER_V4_TCP("9c 41", "10"),
		/* the frame ends inside the private data */
		ETH_MACS "08 00" OUTER_V4_GUE0 UDP_GUE0_V4 GUE0_V4_INNER4 "eb 01 01 04 c0 00",
		/* the frame ends inside the fixed part */
		ETH_MACS "08 00" OUTER_V4_GUE0 UDP_GUE0_V4 GUE0_V4_INNER4 "eb 01",
		/* whole private data, nothing inside */
		ETH_MACS "08 00" OUTER_V4_GUE0 UDP_GUE0_V4 GUE0_V4_INNER4 PRIV_V4("01"),
		/* proto 41 announcing IPv6, carrying IPv4 */
		ETH_MACS "08 00" OUTER_V4_GUE0 UDP_GUE0_V4 "02 29 00 00" PRIV_V4("01")
			INNER_V4_TCP("9c 41", "10"),
	};
	uint8_t in[FRAME_MAX];
	size_t in_len;

	for (size_t i = 0; i < ELB_ARRAY_SIZE(malformed); i++) {
		in_len = elb_test_hex(malformed[i], in, FRAME_MAX);
		expect_on_backend(skel_default, in, in_len, XDP_PASS, in, in_len,
				  ELB_DECAP_MALFORMED);
	}
	/* a GUE control message (C set) and GUE version 2: not data, not counted */
	in_len = elb_test_hex(ETH_MACS "08 00" OUTER_V4_GUE0 UDP_GUE0_V4 "22 04 00 00" PRIV_V4("01")
			      INNER_V4_TCP("9c 41", "10"), in, FRAME_MAX);
	expect_on_backend(skel_default, in, in_len, XDP_PASS, in, in_len, ELB_DECAP_STAT_COUNT);
	in_len = elb_test_hex(ETH_MACS "08 00" OUTER_V4_GUE0 UDP_GUE0_V4 "82 04 00 00" PRIV_V4("01")
			      INNER_V4_TCP("9c 41", "10"), in, FRAME_MAX);
	expect_on_backend(skel_default, in, in_len, XDP_PASS, in, in_len, ELB_DECAP_STAT_COUNT);
}

/* Internet checksum of a TCP segment with its IPv4 pseudo-header. */
static uint16_t tcp4_checksum(uint32_t saddr, uint32_t daddr, const uint8_t *seg, size_t len)
{
	uint8_t pseudo[12];
	uint32_t sum = 0;
	size_t i;

	memcpy(pseudo, &saddr, 4);
	memcpy(pseudo + 4, &daddr, 4);
	pseudo[8] = 0;
	pseudo[9] = IPPROTO_TCP;
	pseudo[10] = (uint8_t)(len >> 8);
	pseudo[11] = (uint8_t)len;
	for (i = 0; i < sizeof(pseudo); i += 2)
		sum += (uint32_t)pseudo[i] << 8 | pseudo[i + 1];
	for (i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)seg[i] << 8 | seg[i + 1];
	if (len & 1)
		sum += (uint32_t)seg[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

#define COOKIE_CLIENT "198.51.100.3"
#define COOKIE_CLIENT_PORT 40002
#define COOKIE_CLIENT_ISN 0x01020304u

/*
 * A SYN from COOKIE_CLIENT:COOKIE_CLIENT_PORT to the IPv4 listener, sent
 * from a raw socket so that no client socket exists; with tcp_syncookies = 2
 * the listener answers with a SYN cookie and keeps no request. Returns the
 * SYN-ACK's sequence number (the cookie), or 0 on failure.
 */
static uint32_t listener_syn_cookie(void)
{
	struct sockaddr_in client = {.sin_family = AF_INET};
	struct sockaddr_in vip = {.sin_family = AF_INET};
	struct timeval timeout = {.tv_sec = 2};
	uint8_t syn[20] = {0}, reply[256];
	uint32_t cookie = 0, isn = htonl(COOKIE_CLIENT_ISN);
	uint16_t check;
	int fd, tries;

	inet_pton(AF_INET, COOKIE_CLIENT, &client.sin_addr);
	inet_pton(AF_INET, "203.0.113.10", &vip.sin_addr);
	fd = socket(AF_INET, SOCK_RAW, IPPROTO_TCP);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_FATAL(bind(fd, (struct sockaddr *)&client, sizeof(client)) == 0);
	CU_ASSERT_FATAL(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout)) == 0);
	syn[0] = COOKIE_CLIENT_PORT >> 8;
	syn[1] = COOKIE_CLIENT_PORT & 0xff;
	syn[3] = 80;
	memcpy(syn + 4, &isn, 4);
	syn[12] = 0x50;
	syn[13] = 0x02; /* SYN */
	syn[14] = 0xff;
	syn[15] = 0xff;
	check = htons(tcp4_checksum(client.sin_addr.s_addr, vip.sin_addr.s_addr, syn, sizeof(syn)));
	memcpy(syn + 16, &check, 2);
	CU_ASSERT_FATAL(sendto(fd, syn, sizeof(syn), 0, (struct sockaddr *)&vip, sizeof(vip)) ==
			(ssize_t)sizeof(syn));
	/* The raw socket gets the IP packets to COOKIE_CLIENT: look for the SYN-ACK. */
	for (tries = 0; tries < 16 && !cookie; tries++) {
		ssize_t n = recv(fd, reply, sizeof(reply), 0);
		const uint8_t *tcp;

		if (n < 20)
			break;
		tcp = reply + (reply[0] & 0xf) * 4;
		if (tcp + 20 > reply + n)
			continue;
		if (tcp[0] == 0 && tcp[1] == 80 && tcp[2] == (COOKIE_CLIENT_PORT >> 8) &&
		    tcp[3] == (COOKIE_CLIENT_PORT & 0xff) && (tcp[13] & 0x12) == 0x12)
			cookie = (uint32_t)tcp[4] << 24 | (uint32_t)tcp[5] << 16 |
				 (uint32_t)tcp[6] << 8 | tcp[7];
	}
	close(fd);
	return cookie;
}

/* The frame of an ACK from the cookie client acknowledging `ack`,
 * encapsulated with an alternate; the inner packet at *inner_off. */
static size_t cookie_ack_frame(uint8_t *frame, uint32_t ack, size_t *inner_off)
{
	char hex[512];

	snprintf(hex, sizeof(hex),
		 ETH_MACS "08 00" OUTER_V4_GUE0 UDP_GUE0_V4 GUE0_V4_INNER4 PRIV_V4("01")
		 "45 00 00 28 12 34 40 00 3f 06 ab cd c6 33 64 03 cb 00 71 0a"
		 "9c 42 00 50 %02x %02x %02x %02x %02x %02x %02x %02x 50 10 ff ff 12 34 00 00",
		 (COOKIE_CLIENT_ISN + 1) >> 24, ((COOKIE_CLIENT_ISN + 1) >> 16) & 0xff,
		 ((COOKIE_CLIENT_ISN + 1) >> 8) & 0xff, (COOKIE_CLIENT_ISN + 1) & 0xff, ack >> 24,
		 (ack >> 16) & 0xff, (ack >> 8) & 0xff, ack & 0xff);
	*inner_off = 14 + 20 + 8 + 4 + 8;
	return elb_test_hex(hex, frame, FRAME_MAX);
}

/* An ACK that only the listener matches is kept when it carries the
 * listener's SYN cookie (the handshake completes here), forwarded when not. */
static void test_second_chance_syncookie_kept(void)
{
	uint8_t in[FRAME_MAX], want[FRAME_MAX];
	size_t in_len, inner_off, want_len;
	uint32_t cookie;

	write_sysctl("/proc/sys/net/ipv4/tcp_syncookies", "2\n");
	cookie = listener_syn_cookie();
	CU_ASSERT_FATAL(cookie != 0);

	in_len = cookie_ack_frame(in, cookie + 1, &inner_off);
	want_len = eth(want, "08 00");
	memcpy(want + want_len, in + inner_off, in_len - inner_off);
	want_len += in_len - inner_off;
	expect_on_backend(skel_default, in, in_len, XDP_PASS, want, want_len,
			  ELB_DECAP_KEPT_SYNCOOKIE);

	/* A wrong cookie: nobody here owns it, it goes on (its bytes are
	 * test_second_chance_no_socket_forwarded_ipv4's). Changed in the hash
	 * bits: the low bits of a cookie are the MSS index, so that cookie + 2
	 * may still be valid with another MSS. */
	in_len = cookie_ack_frame(in, (cookie + 1) ^ 0x00555000u, &inner_off);
	{
		uint8_t out[FRAME_MAX];
		size_t out_len;
		uint64_t forwarded = stat_count(skel_default, ELB_DECAP_FORWARDED);

		CU_ASSERT_EQUAL(run_on_backend(skel_default, in, in_len, out, &out_len, NULL),
				XDP_TX);
		CU_ASSERT_EQUAL(stat_count(skel_default, ELB_DECAP_FORWARDED), forwarded + 1);
	}
}

/* The balancer's own writer with an alternate: a SYN decapsulates to the
 * frame's IP packet; an ACK of no connection goes on to the alternate. */
static void second_chance_round_trip(const char *inner_ethertype, const char *inner,
				     uint8_t outer_family, int want_action)
{
	enum { HEADROOM = 128 };
	uint8_t buf[HEADROOM + FRAME_MAX], out[FRAME_MAX], want[FRAME_MAX];
	struct elb_encap_params params;
	struct elb_packet pkt;
	size_t frame_len, want_len, out_len;
	uint8_t *frame;
	int encap_len;

	frame_len = eth(buf + HEADROOM, inner_ethertype);
	frame_len = append_hex(buf + HEADROOM, frame_len, inner);
	want_len = eth(want, inner_ethertype);
	want_len = append_hex(want, want_len, inner);
	CU_ASSERT_EQUAL_FATAL(elb_parse(buf + HEADROOM, buf + HEADROOM + frame_len, &pkt),
			      ELB_PARSE_IP);

	memset(&params, 0, sizeof(params));
	params.outer_family = outer_family;
	params.gue = 1;
	params.gue_dport = elb_htons(6080);
	params.mtu = 1500;
	params.has_alternate = 1;
	if (outer_family == ELB_AF_INET) {
		params.outer_src.v4 = elb_htonl(0xc6336401);   /* 198.51.100.1 */
		params.outer_dst.v4 = elb_htonl(0xc000020b);   /* 192.0.2.11 */
		params.alternate.v4 = elb_htonl(0xc000020c);   /* 192.0.2.12 */
	} else {
		static const uint8_t backend[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 2, [15] = 0x11};

		params.outer_src.v6[0] = 0x20;
		memcpy(params.outer_dst.v6, backend, 16);
		memcpy(params.alternate.v6, backend, 16);
		params.alternate.v6[15] = 0x12;
	}
	memcpy(params.dst_mac, want, 6);
	memcpy(params.src_mac, want + 6, 6);
	frame = buf + HEADROOM + pkt.l3_off - (14 + elb_encap_params_overhead(&params));
	encap_len = elb_encap_write(frame, buf + sizeof(buf), &pkt, &params, 0x123456789abcdefull);
	CU_ASSERT_FATAL(encap_len > 0);

	CU_ASSERT_EQUAL(run_on_backend(skel_default, frame, (size_t)encap_len, out, &out_len, NULL),
			want_action);
	if (want_action == XDP_PASS)
		ELB_ASSERT_BYTES(out, out_len, want, want_len);
}

static void test_second_chance_round_trip_with_the_balancers_writer(void)
{
	second_chance_round_trip("08 00", INNER_V4_TCP("9c 41", "02"), ELB_AF_INET, XDP_PASS);
	second_chance_round_trip("08 00", INNER_V4_TCP("9c 40", "10"), ELB_AF_INET, XDP_PASS);
	second_chance_round_trip("08 00", INNER_V4_TCP("9c 41", "10"), ELB_AF_INET, XDP_TX);
	second_chance_round_trip("08 00", INNER_V4_TCP("9c 41", "02"), ELB_AF_INET6, XDP_PASS);
	second_chance_round_trip("86 dd", INNER_V6_TCP("9c 41", "02"), ELB_AF_INET6, XDP_PASS);
	second_chance_round_trip("86 dd", INNER_V6_TCP("9c 40", "10"), ELB_AF_INET6, XDP_PASS);
	second_chance_round_trip("86 dd", INNER_V6_TCP("9c 41", "10"), ELB_AF_INET6, XDP_TX);
}

/* ---- cost --------------------------------------------------------------------------- */

#define COST_CALLS 20000
#define COST_RUNS 5

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Median over COST_RUNS of the kernel's mean ns per run, one
 * BPF_PROG_TEST_RUN per packet (with repeat > 1 the kernel would run the
 * program on its own output: decapsulated or forwarded already). */
static double cost_ns(const char *frame_hex, int want_action)
{
	uint8_t in[FRAME_MAX], out[FRAME_MAX];
	size_t in_len = elb_test_hex(frame_hex, in, FRAME_MAX), out_len;
	double runs[COST_RUNS];

	for (int r = 0; r < COST_RUNS; r++) {
		uint64_t total = 0;

		for (int i = 0; i < COST_CALLS; i++) {
			uint32_t ns;

			if (run_on_backend(skel_default, in, in_len, out, &out_len, &ns) !=
			    want_action) {
				CU_FAIL("unexpected action while measuring");
				return 0;
			}
			total += ns;
		}
		runs[r] = (double)total / COST_CALLS;
	}
	qsort(runs, COST_RUNS, sizeof(runs[0]), cmp_double);
	return runs[COST_RUNS / 2];
}

static void test_cost_per_packet(void)
{
	double variant1 = cost_ns(ETH_MACS "08 00" OUTER_V4_UDP UDP_TO("17 c0", "00 30")
				  INNER_V4_TCP("9c 41", "10"), XDP_PASS);
	double kept = cost_ns(ETH_MACS "08 00" OUTER_V4_GUE0 UDP_GUE0_V4 GUE0_V4_INNER4
			      PRIV_V4("01") INNER_V4_TCP("9c 40", "10"), XDP_PASS);
	double forwarded = cost_ns(ETH_MACS "08 00" OUTER_V4_GUE0 UDP_GUE0_V4 GUE0_V4_INNER4
				   PRIV_V4("01") INNER_V4_TCP("9c 41", "10"), XDP_TX);

	printf("\nFIGURE {\"case\": \"decap_cost\", \"unit\": \"ns per packet (BPF_PROG_TEST_RUN, "
	       "median of %d x %d)\", \"gue_variant1_kept\": %.1f, "
	       "\"second_chance_kept_socket\": %.1f, \"second_chance_forwarded\": %.1f}\n",
	       COST_RUNS, COST_CALLS, variant1, kept, forwarded);
	fflush(stdout);
}

/* ---- the test's network namespace ----------------------------------------------------- */

static int sh(const char *cmd)
{
	int status = system(cmd);

	if (status != 0)
		fprintf(stderr, "failed (%d): %s\n", status, cmd);
	return status;
}

/* A TCP connection from client:40000 to vip:80 (the listener `listener`,
 * also the test's), accepted; its two sockets stay open until the test
 * exits, with the namespace. */
static int connect_from_40000(int family, const char *client, const char *vip, int listener)
{
	struct sockaddr_storage from = {0}, to = {0};
	socklen_t len = family == AF_INET ? sizeof(struct sockaddr_in)
					  : sizeof(struct sockaddr_in6);
	int fd = socket(family, SOCK_STREAM, 0);

	if (family == AF_INET) {
		struct sockaddr_in *a = (void *)&from, *b = (void *)&to;

		a->sin_family = b->sin_family = AF_INET;
		a->sin_port = htons(40000);
		b->sin_port = htons(80);
		inet_pton(AF_INET, client, &a->sin_addr);
		inet_pton(AF_INET, vip, &b->sin_addr);
	} else {
		struct sockaddr_in6 *a = (void *)&from, *b = (void *)&to;

		a->sin6_family = b->sin6_family = AF_INET6;
		a->sin6_port = htons(40000);
		b->sin6_port = htons(80);
		inet_pton(AF_INET6, client, &a->sin6_addr);
		inet_pton(AF_INET6, vip, &b->sin6_addr);
	}
	if (fd < 0 || bind(fd, (struct sockaddr *)&from, len) ||
	    connect(fd, (struct sockaddr *)&to, len) || accept(listener, NULL, NULL) < 0) {
		perror("connect_from_40000");
		return -1;
	}
	return 0;
}

static int listen_on_80(int family, const char *vip)
{
	struct sockaddr_storage at = {0};
	socklen_t len = family == AF_INET ? sizeof(struct sockaddr_in)
					  : sizeof(struct sockaddr_in6);
	int fd = socket(family, SOCK_STREAM, 0), one = 1;

	if (family == AF_INET) {
		struct sockaddr_in *a = (void *)&at;

		a->sin_family = AF_INET;
		a->sin_port = htons(80);
		inet_pton(AF_INET, vip, &a->sin_addr);
	} else {
		struct sockaddr_in6 *a = (void *)&at;

		a->sin6_family = AF_INET6;
		a->sin6_port = htons(80);
		inet_pton(AF_INET6, vip, &a->sin6_addr);
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	}
	if (fd < 0 || bind(fd, (struct sockaddr *)&at, len) || listen(fd, 16)) {
		perror("listen_on_80");
		return -1;
	}
	return fd;
}

/* The backend's namespace (see the second-chance frames above), new and
 * the test's alone: it goes away with the process. */
static int backend_namespace(void)
{
	static const char *const setup[] = {
		"ip link set lo up",
		"ip addr add 203.0.113.10/32 dev lo",
		"ip addr add 198.51.100.2/32 dev lo",
		"ip addr add " COOKIE_CLIENT "/32 dev lo",
		"ip -6 addr add 2001:db8:ff::10/128 dev lo",
		"ip -6 addr add 2001:db8:1::2/128 dev lo",
		"ip link add " BACKEND_IFACE " address 02:00:00:00:00:0b type veth peer name "
		BACKEND_IFACE "p",
		"ip link set " BACKEND_IFACE " up",
		"ip link set " BACKEND_IFACE "p up",
		"ip addr add 192.0.2.11/24 dev " BACKEND_IFACE,
		"ip -6 addr add 2001:db8:2::11/64 dev " BACKEND_IFACE " nodad",
		"ip neigh add 192.0.2.12 lladdr 02:00:00:00:00:0c dev " BACKEND_IFACE
		" nud permanent",
		"ip -6 neigh add 2001:db8:2::12 lladdr 02:00:00:00:00:0c dev " BACKEND_IFACE
		" nud permanent",
	};
	int listener4, listener6;

	if (unshare(CLONE_NEWNET)) {
		perror("unshare(CLONE_NEWNET)");
		return -1;
	}
	for (size_t i = 0; i < ELB_ARRAY_SIZE(setup); i++)
		if (sh(setup[i]))
			return -1;
	/* bpf_fib_lookup answers only for an interface that forwards */
	if (set_sysctl("/proc/sys/net/ipv4/conf/" BACKEND_IFACE "/forwarding", "1\n") ||
	    set_sysctl("/proc/sys/net/ipv6/conf/" BACKEND_IFACE "/forwarding", "1\n"))
		return -1;
	backend_ifindex = if_nametoindex(BACKEND_IFACE);
	listener4 = listen_on_80(AF_INET, "203.0.113.10");
	listener6 = listen_on_80(AF_INET6, "2001:db8:ff::10");
	if (!backend_ifindex || listener4 < 0 || listener6 < 0)
		return -1;
	if (connect_from_40000(AF_INET, "198.51.100.2", "203.0.113.10", listener4) ||
	    connect_from_40000(AF_INET6, "2001:db8:1::2", "2001:db8:ff::10", listener6))
		return -1;
	return 0;
}

/* ---- the loader, attached for real ------------------------------------------------------ */

static const char *decap_tool; /* edgelb-decap, argv[1] */

/* `edgelb-decap --iface BACKEND_IFACE --stats`: the count of `name`, or -1. */
static long long live_stat(const char *name)
{
	char cmd[512], line[2048], key[64];
	long long value = -1;
	const char *at;
	FILE *out;

	snprintf(cmd, sizeof(cmd), "%s --iface " BACKEND_IFACE " --stats 2>/dev/null", decap_tool);
	out = popen(cmd, "r");
	if (!out)
		return -1;
	if (fgets(line, sizeof(line), out)) {
		snprintf(key, sizeof(key), "\"%s\": ", name);
		at = strstr(line, key);
		if (at)
			value = strtoll(at + strlen(key), NULL, 10);
	}
	if (pclose(out) != 0)
		return -1;
	return value;
}

/* live_stat(name), waiting up to a second for it to become `want` (the
 * frame sent is handled in softirq context, usually before send()
 * returns). */
static long long live_stat_reaching(const char *name, long long want)
{
	long long value = live_stat(name);

	for (int i = 0; i < 100 && value != want; i++) {
		usleep(10000);
		value = live_stat(name);
	}
	return value;
}

/* The next frame that arrives on the veth peer within a second, 0 if none. */
static size_t receive_on_peer(int fd, uint8_t *frame)
{
	for (int tries = 0; tries < 64; tries++) {
		struct sockaddr_ll from;
		socklen_t from_len = sizeof(from);
		ssize_t n = recvfrom(fd, frame, FRAME_MAX, 0, (struct sockaddr *)&from, &from_len);

		if (n < 0)
			return 0;
		if (from.sll_pkttype != PACKET_OUTGOING)
			return (size_t)n;
	}
	return 0;
}

/*
 * edgelb-decap itself, attached in generic mode to the backend's veth: a
 * frame sent from the peer that no socket owns comes back out to the peer
 * exactly as test_second_chance_no_socket_forwarded_ipv4 has it (XDP_TX on
 * the real receive path), a segment of the established connection is
 * kept, and --stats counts both; --no-second-chance and --detach.
 */
static void test_loader_attached_forwards_and_counts(void)
{
	uint8_t in[FRAME_MAX], want[FRAME_MAX], got[FRAME_MAX];
	size_t in_len, want_len, got_len;
	struct sockaddr_ll peer = {.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL)};
	struct timeval timeout = {.tv_sec = 1};
	char cmd[512];
	int fd;

	snprintf(cmd, sizeof(cmd), "%s --iface " BACKEND_IFACE " --mode generic >/dev/null",
		 decap_tool);
	CU_ASSERT_FATAL(sh(cmd) == 0);
	peer.sll_ifindex = (int)if_nametoindex(BACKEND_IFACE "p");
	fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_FATAL(bind(fd, (struct sockaddr *)&peer, sizeof(peer)) == 0);
	CU_ASSERT_FATAL(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout)) == 0);

	in_len = elb_test_hex(MAC_BACKEND "02 00 00 00 00 01 08 00" OUTER_V4_GUE0 UDP_GUE0_V4
			      GUE0_V4_INNER4 PRIV_V4("01") INNER_V4_TCP("9c 41", "10"),
			      in, FRAME_MAX);
	want_len = elb_test_hex(MAC_ALTERNATE MAC_BACKEND "08 00"
				"45 00 00 50 12 34 40 00 40 11 a4 51 c0 00 02 0b c0 00 02 0c"
				"c1 23 17 c0 00 3c 00 00" GUE0_V4_INNER4 PRIV_V4("00")
				INNER_V4_TCP("9c 41", "10"), want, FRAME_MAX);
	CU_ASSERT_EQUAL_FATAL(send(fd, in, in_len, 0), (ssize_t)in_len);
	got_len = receive_on_peer(fd, got);
	ELB_ASSERT_BYTES(got, got_len, want, want_len);
	CU_ASSERT_EQUAL(live_stat("forwarded"), 1);

	/* a segment of the established connection: kept, nothing comes back */
	in_len = elb_test_hex(MAC_BACKEND "02 00 00 00 00 01 08 00" OUTER_V4_GUE0 UDP_GUE0_V4
			      GUE0_V4_INNER4 PRIV_V4("01") INNER_V4_TCP("9c 40", "10"),
			      in, FRAME_MAX);
	CU_ASSERT_EQUAL_FATAL(send(fd, in, in_len, 0), (ssize_t)in_len);
	CU_ASSERT_EQUAL(live_stat_reaching("kept_socket", 1), 1);
	CU_ASSERT_EQUAL(live_stat("forwarded"), 1);

	/* attached again with second chance off: new counters, nothing forwarded */
	snprintf(cmd, sizeof(cmd),
		 "%s --iface " BACKEND_IFACE " --mode generic --no-second-chance >/dev/null",
		 decap_tool);
	CU_ASSERT_FATAL(sh(cmd) == 0);
	in_len = elb_test_hex(MAC_BACKEND "02 00 00 00 00 01 08 00" OUTER_V4_GUE0 UDP_GUE0_V4
			      GUE0_V4_INNER4 PRIV_V4("01") INNER_V4_TCP("9c 41", "10"),
			      in, FRAME_MAX);
	CU_ASSERT_EQUAL_FATAL(send(fd, in, in_len, 0), (ssize_t)in_len);
	CU_ASSERT_EQUAL(live_stat_reaching("kept_second_chance_off", 1), 1);
	CU_ASSERT_EQUAL(live_stat("forwarded"), 0);
	close(fd);

	snprintf(cmd, sizeof(cmd), "%s --iface " BACKEND_IFACE " --detach >/dev/null", decap_tool);
	CU_ASSERT(sh(cmd) == 0);
	CU_ASSERT_EQUAL(live_stat("forwarded"), -1); /* no program: --stats fails */
}

static struct decap_bpf *load(unsigned int gue_port, bool second_chance)
{
	struct decap_bpf *skel = decap_bpf__open();

	if (!skel)
		return NULL;
	skel->rodata->gue_port = (__u16)gue_port;
	skel->rodata->second_chance = second_chance;
	if (decap_bpf__load(skel)) {
		decap_bpf__destroy(skel);
		return NULL;
	}
	return skel;
}

int main(int argc, char **argv)
{
	static const struct elb_test_case cases[] = {
		ELB_TEST(test_ipv4_in_ipv4),
		ELB_TEST(test_ipv4_in_ipv4_with_options),
		ELB_TEST(test_ipv6_in_ipv6),
		ELB_TEST(test_ipv4_in_ipv6),
		ELB_TEST(test_gue_ipv4_outer),
		ELB_TEST(test_gue_ipv6_outer_ipv6_inner),
		ELB_TEST(test_gue_ipv6_outer_ipv4_inner),
		ELB_TEST(test_gue_port_from_rodata),
		ELB_TEST(test_not_ours_untouched),
		ELB_TEST(test_round_trip_with_the_balancers_writer),
		ELB_TEST(test_gue_variant0_not_ours),
		ELB_TEST(test_second_chance_syn_kept),
		ELB_TEST(test_second_chance_established_socket_kept),
		ELB_TEST(test_second_chance_no_socket_forwarded_ipv4),
		ELB_TEST(test_second_chance_no_socket_forwarded_ipv6),
		ELB_TEST(test_second_chance_forwarded_with_outer_options),
		ELB_TEST(test_second_chance_hops_exhausted_kept),
		ELB_TEST(test_second_chance_off_kept),
		ELB_TEST(test_second_chance_udp_kept),
		ELB_TEST(test_second_chance_no_route_kept),
		ELB_TEST(test_second_chance_malformed_untouched),
		ELB_TEST(test_second_chance_syncookie_kept),
		ELB_TEST(test_second_chance_round_trip_with_the_balancers_writer),
		ELB_TEST(test_loader_attached_forwards_and_counts),
		ELB_TEST(test_cost_per_packet),
		ELB_TEST_END,
	};
	int status;

	if (argc != 2) {
		fprintf(stderr, "usage: test_decap PATH-OF-edgelb-decap\n");
		return 2;
	}
	decap_tool = argv[1];
	if (geteuid() != 0) {
		printf("SKIP: loading BPF programs needs root\n");
		return 77;
	}
	skel_default = load(6080, true);
	skel_port7000 = load(7000, true);
	skel_no_second_chance = load(6080, false);
	if (!skel_default || !skel_port7000 || !skel_no_second_chance) {
		fprintf(stderr, "cannot load bpf/decap.bpf.c: %s\n", strerror(errno));
		return 1;
	}
	if (backend_namespace()) {
		fprintf(stderr, "cannot set up the backend's network namespace\n");
		return 1;
	}
	status = elb_test_run("decap", cases);
	decap_bpf__destroy(skel_no_second_chance);
	decap_bpf__destroy(skel_port7000);
	decap_bpf__destroy(skel_default);
	return status;
}
