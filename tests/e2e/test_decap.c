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
 *     packet.
 * Root only (exit 77 otherwise).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>

#include "elb_encap.h"
#include "elb_parse.h"
#include "elb_test.h"

#include "decap.skel.h"

#define FRAME_MAX 512

static struct decap_bpf *skel_default; /* gue_port 6080 */
static struct decap_bpf *skel_port7000;

static const char ETH_MACS[] = "02 00 00 00 00 02  02 00 00 00 00 01";

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

static struct decap_bpf *load(unsigned int gue_port)
{
	struct decap_bpf *skel = decap_bpf__open();

	if (!skel)
		return NULL;
	skel->rodata->gue_port = (__u16)gue_port;
	if (decap_bpf__load(skel)) {
		decap_bpf__destroy(skel);
		return NULL;
	}
	return skel;
}

int main(void)
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
		ELB_TEST_END,
	};
	int status;

	if (geteuid() != 0) {
		printf("SKIP: loading BPF programs needs root\n");
		return 77;
	}
	skel_default = load(6080);
	skel_port7000 = load(7000);
	if (!skel_default || !skel_port7000) {
		fprintf(stderr, "cannot load bpf/decap.bpf.c: %s\n", strerror(errno));
		return 1;
	}
	status = elb_test_run("decap", cases);
	decap_bpf__destroy(skel_port7000);
	decap_bpf__destroy(skel_default);
	return status;
}
