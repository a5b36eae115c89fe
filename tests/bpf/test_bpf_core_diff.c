/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * One definition, two dataplanes: runs the same frames through the C build
 * of the core (as the DPDK dataplane uses it) and through its BPF build
 * (bpf/core_check.bpf.c, loaded into the kernel, run with
 * BPF_PROG_TEST_RUN) and requires identical parse results, flow keys,
 * offsets, flags, reasons, flow hashes, Maglev slots, flow states and
 * token-bucket verdicts, and, for the encapsulating program, the same XDP
 * action and the same output frame byte for byte, under six sets of
 * encapsulation parameters (IPv4 outer, IPv6 outer, GUE, an MTU small
 * enough to force ICMP too-big replies, and GUE variant 0 with a
 * second-chance alternate over IPv4 and, with a small MTU, over IPv6).
 *
 * Admission control (elb_admission.h): sequences of steps (a source's key
 * and cells, the source limit's check and commit, the new-flow budget) run
 * in C and by core_check_admission, under limits for IPv4 /32 and /24 and
 * IPv6 /64 and /48, with packets arriving around the limits' rates and
 * pauses long enough to end flood mode: the same cells, verdicts and
 * committed timestamps at every step, and the same state after it.
 *
 * Frames: well-formed IPv4/IPv6 TCP/UDP/ICMP packets with VLAN tags, options,
 * extension headers and fragments, laid out here with pktgen's wire
 * primitives (write_eth, put_be16) at option lengths and extension chains
 * edgelb-pktgen does not draw, plus truncations and random byte mutations
 * of them, plus random bytes. Needs root (CAP_BPF); exits 77
 * (skipped) without it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "elb_admission.h"
#include "elb_encap.h"
#include "elb_flow_state.h"
#include "elb_maglev.h"
#include "elb_parse.h"
#include "elb_test.h"
#include "elb_test_bpf.h"
#include "pktgen_wire.h"
#include "elb_token_bucket.h"
/* The skeleton names the core types: they must be defined first. */
#include "core_check.h"
#include "core_check.skel.h"

#define FRAME_MAX 512
#define MUTATIONS_PER_SEED 2000
#define RANDOM_FRAMES 20000

struct frame {
	uint8_t bytes[FRAME_MAX];
	uint32_t len;
};

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
	return elb_test_rng(&rng_state);
}

/* Appends an Ethernet header (optionally tagged, VLAN 100) and returns its length. */
static uint32_t build_eth(uint8_t *p, uint16_t ethertype, bool vlan)
{
	const struct l2_params l2 = {.vlan = vlan, .vlan_tci = 0x0064};

	return (uint32_t)write_eth(p, &l2, ethertype);
}

/* An L4 header of `proto` at p, with `payload` bytes after it; returns its length. */
static uint32_t build_l4(uint8_t *p, uint8_t proto, uint32_t payload, bool v6)
{
	switch (proto) {
	case ELB_IPPROTO_TCP:
		memset(p, 0, 20);
		put_be16(p, (uint16_t)(1024 + rng() % 60000));
		put_be16(p + 2, 80);
		p[12] = 5 << 4;
		p[13] = (uint8_t)(rng() & 0x1f);
		return 20;
	case ELB_IPPROTO_UDP:
		put_be16(p, (uint16_t)(1024 + rng() % 60000));
		put_be16(p + 2, 53);
		put_be16(p + 4, (uint16_t)(8 + payload));
		put_be16(p + 6, 0);
		return 8;
	default: /* ICMP / ICMPv6 echo request */
		memset(p, 0, 8);
		p[0] = v6 ? ELB_ICMPV6_ECHO_REQUEST : ELB_ICMP_ECHO_REQUEST;
		return 8;
	}
}

static void build_ipv4(struct frame *f, bool vlan, uint8_t proto, uint32_t options, uint16_t frag)
{
	uint8_t *p = f->bytes;
	uint32_t off = build_eth(p, ELB_ETHERTYPE_IPV4, vlan);
	uint8_t *ip = p + off;
	uint32_t hlen = 20 + options, payload = (uint32_t)(rng() % 64), l4;

	memset(ip, 0, hlen);
	ip[0] = (uint8_t)(0x40 | (hlen / 4));
	ip[8] = 64;
	ip[9] = proto;
	put_be16(ip + 6, frag);
	memcpy(ip + 12, (uint8_t[]){198, 51, 100, (uint8_t)rng()}, 4);
	memcpy(ip + 16, (uint8_t[]){10, 100, 0, 1}, 4);
	for (uint32_t i = 20; i < hlen; i++)
		ip[i] = 1; /* NOP options */
	l4 = build_l4(ip + hlen, proto, payload, false);
	memset(ip + hlen + l4, 0xab, payload);
	put_be16(ip + 2, (uint16_t)(hlen + l4 + payload));
	f->len = off + hlen + l4 + payload;
}

static void build_ipv6(struct frame *f, bool vlan, uint8_t proto, int ext_headers, bool fragment)
{
	uint8_t *p = f->bytes;
	uint32_t off = build_eth(p, ELB_ETHERTYPE_IPV6, vlan);
	uint8_t *ip6 = p + off, *h = ip6 + 40;
	uint8_t *next = ip6 + 6;
	uint32_t payload = (uint32_t)(rng() % 64), l4;

	memset(ip6, 0, 40);
	ip6[0] = 0x60;
	ip6[7] = 64;
	ip6[8] = 0x20;
	ip6[9] = 0x01;
	ip6[10] = 0x0d;
	ip6[11] = 0xb8;
	ip6[23] = (uint8_t)rng();
	ip6[24] = 0x20;
	ip6[25] = 0x01;
	ip6[26] = 0x0d;
	ip6[27] = 0xb8;
	ip6[39] = 1;
	for (int i = 0; i < ext_headers; i++) {
		*next = i == 0 ? ELB_IPPROTO_HOPOPTS : ELB_IPPROTO_DSTOPTS;
		memset(h, 0, 8);
		next = h;
		h += 8;
	}
	if (fragment) {
		*next = ELB_IPPROTO_FRAGMENT;
		memset(h, 0, 8);
		put_be16(h + 2, (uint16_t)(rng() & 1 ? 0x0001 : 0x00a8));
		next = h;
		h += 8;
	}
	*next = proto;
	l4 = build_l4(h, proto, payload, true);
	memset(h + l4, 0xcd, payload);
	h += l4 + payload;
	put_be16(ip6 + 4, (uint16_t)(h - ip6 - 40));
	f->len = (uint32_t)(h - p);
}

/* An ICMP(v6) error quoting a packet from the VIP back to a client. */
static void build_icmp_error(struct frame *f, bool v6)
{
	struct frame quoted;
	uint32_t off, qoff, quote_len;
	uint8_t *ip;

	if (v6)
		build_ipv6(&quoted, false, rng() & 1 ? ELB_IPPROTO_TCP : ELB_IPPROTO_UDP, 0, false);
	else
		build_ipv4(&quoted, false, rng() & 1 ? ELB_IPPROTO_TCP : ELB_IPPROTO_UDP, 0, 0);
	qoff = 14;
	quote_len = quoted.len - qoff;
	if (quote_len > 120)
		quote_len = 120;
	off = build_eth(f->bytes, v6 ? ELB_ETHERTYPE_IPV6 : ELB_ETHERTYPE_IPV4, false);
	ip = f->bytes + off;
	if (v6) {
		memset(ip, 0, 48);
		ip[0] = 0x60;
		ip[6] = ELB_IPPROTO_ICMPV6;
		ip[7] = 64;
		memcpy(ip + 8, quoted.bytes + qoff + 24, 16);
		memcpy(ip + 24, quoted.bytes + qoff + 8, 16);
		ip[40] = ELB_ICMPV6_PKT_TOOBIG;
		put_be16(ip + 4, (uint16_t)(8 + quote_len));
		memcpy(ip + 48, quoted.bytes + qoff, quote_len);
		f->len = off + 48 + quote_len;
	} else {
		memset(ip, 0, 28);
		ip[0] = 0x45;
		ip[8] = 64;
		ip[9] = ELB_IPPROTO_ICMP;
		memcpy(ip + 12, (uint8_t[]){192, 0, 2, 1}, 4);
		memcpy(ip + 16, (uint8_t[]){10, 100, 0, 1}, 4);
		ip[20] = ELB_ICMP_DEST_UNREACH;
		ip[21] = ELB_ICMP_FRAG_NEEDED;
		put_be16(ip + 2, (uint16_t)(28 + quote_len));
		memcpy(ip + 28, quoted.bytes + qoff, quote_len);
		f->len = off + 28 + quote_len;
	}
}

static void build_seed(struct frame *f, unsigned int i)
{
	static const uint8_t protos[] = {ELB_IPPROTO_TCP, ELB_IPPROTO_UDP, ELB_IPPROTO_ICMP, 47};
	uint8_t proto = protos[i % 4];
	bool vlan = (i / 4) % 2;

	switch ((i / 8) % 6) {
	case 0:
		build_ipv4(f, vlan, proto, 0, 0x4000);
		break;
	case 1:
		build_ipv4(f, vlan, proto, 4 * (uint32_t)(1 + rng() % 10), 0);
		break;
	case 2:
		build_ipv4(f, vlan, proto, 0, rng() & 1 ? 0x2000 : 0x0010);
		break;
	case 3:
		build_ipv6(f, vlan, proto == ELB_IPPROTO_ICMP ? ELB_IPPROTO_ICMPV6 : proto,
			   (int)(rng() % 3), false);
		break;
	case 4:
		build_ipv6(f, vlan, proto == ELB_IPPROTO_ICMP ? ELB_IPPROTO_ICMPV6 : proto, 0, true);
		break;
	default:
		build_icmp_error(f, rng() & 1);
		break;
	}
}

static void mutate(struct frame *f)
{
	switch (rng() % 4) {
	case 0: /* truncate */
		f->len = (uint32_t)(rng() % (f->len + 1));
		break;
	case 1: /* grow with garbage (looks like padding or a lying length) */
		while (f->len < FRAME_MAX && rng() % 4)
			f->bytes[f->len++] = (uint8_t)rng();
		break;
	default: { /* flip bytes, biased toward the headers */
		int flips = 1 + (int)(rng() % 3);

		for (int i = 0; i < flips && f->len; i++) {
			uint32_t at = (uint32_t)(rng() % (f->len < 80 ? f->len : 80));

			f->bytes[at] ^= (uint8_t)(1u << (rng() % 8));
		}
	}
	}
}

struct tally {
	unsigned long compared, ip, not_ip, malformed, encapsulated, admits, refusals, mismatches;
	unsigned long with_alternate; /* encapsulated or too-big under an alternate's parameters */
};

/* The C side's copy of the BPF program's token bucket and clock. */
static struct elb_token_bucket c_bucket;
static struct elb_rate_limit c_rate_limit;
static uint64_t c_now_ns = 1000000000ull;

static const struct elb_encap_params encap_configs[] = {
	{.outer_family = ELB_AF_INET, .mtu = 1500,
	 .outer_src.v4 = 0x010a8c0, .outer_dst.v4 = 0x0a00a8c0,
	 .src_mac = {2, 0, 0, 0, 0, 0x11}, .dst_mac = {2, 0, 0, 0, 0, 0x22}},
	{.outer_family = ELB_AF_INET6, .mtu = 1500,
	 .outer_src.v6 = {0xfd, 0, [15] = 1}, .outer_dst.v6 = {0xfd, 0, [14] = 1, [15] = 2},
	 .src_mac = {2, 0, 0, 0, 0, 0x11}, .dst_mac = {2, 0, 0, 0, 0, 0x22}},
	{.outer_family = ELB_AF_INET, .gue = 1, .gue_dport = 0xc417 /* 6080 */, .mtu = 1500,
	 .outer_src.v4 = 0x010a8c0, .outer_dst.v4 = 0x0b00a8c0,
	 .src_mac = {2, 0, 0, 0, 0, 0x11}, .dst_mac = {2, 0, 0, 0, 0, 0x22}},
	{.outer_family = ELB_AF_INET6, .gue = 1, .gue_dport = 0xc417, .mtu = 100,
	 .outer_src.v6 = {0xfd, 0, [15] = 1}, .outer_dst.v6 = {0xfd, 0, [14] = 1, [15] = 3},
	 .src_mac = {2, 0, 0, 0, 0, 0x11}, .dst_mac = {2, 0, 0, 0, 0, 0x22}},
	{.outer_family = ELB_AF_INET, .gue = 1, .gue_dport = 0xc417, .mtu = 1500,
	 .outer_src.v4 = 0x010a8c0, .outer_dst.v4 = 0x0b00a8c0,
	 .has_alternate = 1, .alternate.v4 = 0x0c00a8c0,
	 .src_mac = {2, 0, 0, 0, 0, 0x11}, .dst_mac = {2, 0, 0, 0, 0, 0x22}},
	{.outer_family = ELB_AF_INET6, .gue = 1, .gue_dport = 0xc417, .mtu = 124,
	 .outer_src.v6 = {0xfd, 0, [15] = 1}, .outer_dst.v6 = {0xfd, 0, [14] = 1, [15] = 3},
	 .has_alternate = 1, .alternate.v6 = {0xfd, 0, [14] = 1, [15] = 4},
	 .src_mac = {2, 0, 0, 0, 0, 0x11}, .dst_mac = {2, 0, 0, 0, 0, 0x22}},
};

#define XDP_HEADROOM 256 /* what BPF_PROG_TEST_RUN gives an XDP program */

/* The C side of core_check_encap: the same steps on a buffer with headroom.
 * Returns the XDP action; for XDP_TX, *out and *out_len give the output frame. */
static int c_encap(const struct frame *f, const struct elb_encap_params *p, uint8_t *buf,
		   const uint8_t **out, uint32_t *out_len)
{
	struct elb_hash_seed seed = {ELB_HASH_SEED_DEFAULT_K0, ELB_HASH_SEED_DEFAULT_K1};
	uint8_t *frame = buf + XDP_HEADROOM, *start;
	struct elb_packet pkt;
	uint32_t room;
	uint64_t hash;
	int verdict, len;

	memcpy(frame, f->bytes, f->len);
	if (elb_parse(frame, frame + f->len, &pkt) != ELB_PARSE_IP)
		return XDP_PASS;
	hash = elb_flow_hash(&pkt.key, &seed);
	verdict = elb_encap_mtu_check(&pkt, p);
	if (verdict == ELB_MTU_FITS)
		room = (uint32_t)sizeof(struct elb_eth_hdr) + elb_encap_params_overhead(p);
	else if (verdict == ELB_MTU_TOO_BIG_REPLY)
		room = (uint32_t)sizeof(struct elb_eth_hdr) + elb_icmp_too_big_headroom(pkt.key.family);
	else
		return XDP_DROP;
	start = frame + pkt.l3_off - room;
	if (verdict == ELB_MTU_FITS)
		len = elb_encap_write(start, frame + f->len, &pkt, p, hash);
	else
		len = elb_icmp_too_big_write(start, frame + f->len, &pkt, elb_encap_inner_mtu(p),
					     p->src_mac, p->dst_mac);
	if (len < 0)
		return XDP_ABORTED;
	*out = start;
	*out_len = (uint32_t)len;
	return XDP_TX;
}

static int compare_encap(struct core_check *skel, int prog_fd, const struct frame *f,
			 struct tally *t)
{
	static uint8_t c_buf[XDP_HEADROOM + FRAME_MAX] __attribute__((aligned(8)));
	uint8_t bpf_out[XDP_HEADROOM + FRAME_MAX];
	const struct elb_encap_params *p = &encap_configs[t->compared % ELB_ARRAY_SIZE(encap_configs)];
	struct elb_test_xdp_out out;
	const uint8_t *c_out = NULL;
	uint32_t c_len = 0;
	int c_action;

	skel->bss->encap_params = *p;
	c_action = c_encap(f, p, c_buf, &c_out, &c_len);
	if (elb_test_xdp_run(prog_fd, f->bytes, f->len, bpf_out, sizeof(bpf_out), &out))
		return -1;
	if (c_action == XDP_TX)
		t->encapsulated++;
	if (c_action == XDP_TX && p->has_alternate)
		t->with_alternate++;
	if ((int)out.action != c_action ||
	    (c_action == XDP_TX && (out.len != c_len || memcmp(bpf_out, c_out, c_len) != 0))) {
		if (t->mismatches++ < 5) {
			fprintf(stderr, "ENCAP MISMATCH: C action %d, BPF action %u\n", c_action,
				out.action);
			elb_test_dump("input", f->bytes, f->len);
			if (c_action == XDP_TX)
				elb_test_dump("C output", c_out, c_len);
			elb_test_dump("BPF output", bpf_out, out.len);
		}
	}
	return 0;
}

static int encap_fd;

static int compare_one(struct core_check *skel, int prog_fd, const struct frame *f,
		       struct tally *t)
{
	struct elb_hash_seed seed = {ELB_HASH_SEED_DEFAULT_K0, ELB_HASH_SEED_DEFAULT_K1};
	uint8_t buf[FRAME_MAX] __attribute__((aligned(8)));
	struct core_check_result want;
	struct elb_test_xdp_out out;

	/* XDP test runs need at least an Ethernet header: so does a NIC. */
	if (f->len < sizeof(struct elb_eth_hdr))
		return 0;
	memset(&want, 0, sizeof(want));
	memcpy(buf, f->bytes, f->len);
	want.parse_result = (uint32_t)elb_parse(buf, buf + f->len, &want.pkt);
	c_now_ns += 1000; /* 1 us between frames: the bucket both refills and runs dry */
	if (want.parse_result == ELB_PARSE_IP) {
		want.hash = elb_flow_hash(&want.pkt.key, &seed);
		want.maglev_slot = elb_maglev_slot(want.hash, ELB_MAGLEV_DEFAULT_SIZE);
		want.flow_state = (uint8_t)elb_flow_state_next(
			elb_flow_state_new(want.pkt.key.proto, want.pkt.tcp_flags),
			want.pkt.key.proto, want.pkt.tcp_flags);
		want.admitted = elb_token_bucket_admit(&c_bucket, &c_rate_limit, c_now_ns,
						       want.pkt.l3_len);
	}
	skel->bss->now_ns = c_now_ns;

	memset(&skel->bss->result, 0xee, sizeof(skel->bss->result));
	if (elb_test_xdp_run(prog_fd, f->bytes, f->len, NULL, 0, &out))
		return -1;
	want.pad = skel->bss->result.pad;
	memcpy(want.pad2, skel->bss->result.pad2, sizeof(want.pad2));
	t->compared++;
	if (want.parse_result == ELB_PARSE_IP) {
		t->ip++;
		if (want.admitted)
			t->admits++;
		else
			t->refusals++;
	}
	else if (want.parse_result == ELB_PARSE_NOT_IP)
		t->not_ip++;
	else
		t->malformed++;
	if (memcmp(&want, &skel->bss->result, sizeof(want)) != 0) {
		if (t->mismatches++ < 5) {
			fprintf(stderr, "MISMATCH on a %u-byte frame: C result %u reason %s, BPF %u reason %s\n",
				f->len, want.parse_result, elb_reason_name(want.pkt.reason),
				skel->bss->result.parse_result,
				elb_reason_name(skel->bss->result.pkt.reason));
			for (uint32_t i = 0; i < f->len; i++)
				fprintf(stderr, "%02x%s", f->bytes[i], i % 16 == 15 ? "\n" : " ");
			fprintf(stderr, "\n");
		}
	}
	return compare_encap(skel, encap_fd, f, t);
}

static struct core_check *skel;
static int prog_fd;

/* Seeds, their mutations and random frames through both builds: no
 * difference, and every outcome exercised (or the comparison proves little). */
static void test_c_and_bpf_agree(void)
{
	struct tally t = {0};

	for (unsigned int s = 0; s < 48; s++) {
		struct frame seed_frame, f;

		build_seed(&seed_frame, s);
		CU_ASSERT_EQUAL_FATAL(compare_one(skel, prog_fd, &seed_frame, &t), 0);
		for (int m = 0; m < MUTATIONS_PER_SEED; m++) {
			f = seed_frame;
			mutate(&f);
			if (rng() % 2)
				mutate(&f);
			CU_ASSERT_EQUAL_FATAL(compare_one(skel, prog_fd, &f, &t), 0);
		}
	}
	for (int i = 0; i < RANDOM_FRAMES; i++) {
		struct frame f;

		f.len = (uint32_t)(14 + rng() % (FRAME_MAX - 14));
		for (uint32_t b = 0; b < f.len; b++)
			f.bytes[b] = (uint8_t)rng();
		/* Half of them with an IP ethertype, so that they reach the IP parsers. */
		if (i % 2)
			put_be16(f.bytes + 12, i % 4 == 1 ? ELB_ETHERTYPE_IPV4 : ELB_ETHERTYPE_IPV6);
		CU_ASSERT_EQUAL_FATAL(compare_one(skel, prog_fd, &f, &t), 0);
	}
	printf("compared %lu frames (%lu IP, %lu not IP, %lu malformed; %lu encapsulated or "
	       "answered too-big, %lu of them with a second-chance alternate; %lu bucket admits, "
	       "%lu refusals): %lu mismatches\n",
	       t.compared, t.ip, t.not_ip, t.malformed, t.encapsulated, t.with_alternate, t.admits,
	       t.refusals, t.mismatches);
	CU_ASSERT_EQUAL(t.mismatches, 0);
	CU_ASSERT(t.ip > 1000);
	CU_ASSERT(t.not_ip > 100);
	CU_ASSERT(t.malformed > 1000);
	CU_ASSERT(t.encapsulated > 1000);
	CU_ASSERT(t.with_alternate > 200);
	CU_ASSERT(t.admits > 100);
	CU_ASSERT(t.refusals > 100);
}

/* ---- admission control ------------------------------------------------------------------ */

struct adm_phase {
	uint8_t family, prefix_len;
	uint64_t pps, pkt_burst, fps, flow_burst; /* the source limit */
	uint64_t budget_rate, budget_burst;       /* the VIP's new-flow budget */
	uint64_t max_gap_ns;                      /* packets 0 .. max_gap_ns apart */
};

/* Gaps averaging half max_gap_ns: 2e9 / max_gap_ns packets per second,
 * above the packets/s limits (x1.4) so that both verdicts come up. */
static const struct adm_phase adm_phases[] = {
	{ELB_AF_INET, 32, 2000, 20, 500, 5, 300, 10, 700000},
	{ELB_AF_INET, 24, 0, 0, 300, 3, 200, 5, 4000000},
	{ELB_AF_INET6, 64, 5000, 50, 0, 0, 100, 2, 280000},
	{ELB_AF_INET6, 48, 1000, 8, 400, 4, 3000, 30, 1400000},
};

#define ADM_STEPS 20000
/* Every this many steps, a pause longer than two flood windows. */
#define ADM_PAUSE_EVERY 3000

struct adm_tally {
	unsigned long steps, conforms, over_packets, over_new_flows, stateful, stateless, entries,
		mismatches;
};

static int adm_phase_run(const struct adm_phase *ph, const struct elb_source_keys *keys,
			 struct adm_tally *t)
{
	int fd = bpf_program__fd(skel->progs.core_check_admission);
	struct elb_source_cell cells[ELB_SOURCE_ROWS] = {0};
	struct elb_flow_budget_state state = {0};
	struct elb_source_limit limit;
	struct elb_flow_budget budget;
	uint8_t frame[64] = {0};
	uint64_t now = 1000000000ull;

	if (elb_source_limit_init(&limit, ph->family, ph->prefix_len, ph->pps, ph->pkt_burst,
				  ph->fps, ph->flow_burst) ||
	    elb_flow_budget_init(&budget, ph->budget_rate, ph->budget_burst))
		return -1;
	skel->bss->adm_keys = *keys;
	skel->bss->adm_limit = limit;
	skel->bss->adm_budget = budget;
	memset(skel->bss->adm_cells, 0, sizeof(skel->bss->adm_cells));
	memset(&skel->bss->adm_budget_state, 0, sizeof(skel->bss->adm_budget_state));
	for (int i = 0; i < ADM_STEPS; i++) {
		struct core_check_admission want = {.budget_verdict = 2};
		struct elb_source_cell *p[ELB_SOURCE_ROWS];
		struct elb_source_key key;
		struct elb_test_xdp_out out;
		union elb_addr src = {0};
		bool new_flow = rng() % 3 != 0;

		now += rng() % ph->max_gap_ns;
		if (i % ADM_PAUSE_EVERY == ADM_PAUSE_EVERY - 1)
			now += 2 * ELB_FLOOD_WINDOW_NS + rng() % ELB_FLOOD_WINDOW_NS;
		if (ph->family == ELB_AF_INET)
			src.v4 = (uint32_t)rng();
		else
			for (int w = 0; w < 4; w++)
				src.w[w] = (uint32_t)rng();

		elb_source_key_of(&src, &limit, (uint16_t)(i % 256), &key);
		for (uint32_t r = 0; r < ELB_SOURCE_ROWS; r++) {
			want.cell_index[r] =
				elb_source_cell_index(keys, &key, r, CORE_CHECK_COLUMN_BITS);
			p[r] = &cells[r];
		}
		want.source_verdict = elb_source_conforms(p, &limit, now, new_flow, &want.check);
		if (want.source_verdict == ELB_SOURCE_CONFORMS) {
			elb_source_commit(p, &want.check);
			if (new_flow)
				want.budget_verdict = elb_flow_budget_admit(&state, &budget, now);
		}

		skel->bss->adm_src = src;
		skel->bss->adm_now_ns = now;
		skel->bss->adm_vip_index = (uint16_t)(i % 256);
		skel->bss->adm_new_flow = new_flow;
		memset(&skel->bss->adm_result, 0xee, sizeof(skel->bss->adm_result));
		if (elb_test_xdp_run(fd, frame, sizeof(frame), NULL, 0, &out))
			return -1;
		t->steps++;
		t->conforms += want.source_verdict == ELB_SOURCE_CONFORMS;
		t->over_packets += want.source_verdict == ELB_SOURCE_OVER_PACKETS;
		t->over_new_flows += want.source_verdict == ELB_SOURCE_OVER_NEW_FLOWS;
		t->stateful += want.budget_verdict == ELB_FLOW_STATEFUL;
		t->stateless += want.budget_verdict == ELB_FLOW_STATELESS;
		if (memcmp(&want, &skel->bss->adm_result, sizeof(want)) != 0 ||
		    memcmp(cells, skel->bss->adm_cells, sizeof(cells)) != 0 ||
		    memcmp(&state, &skel->bss->adm_budget_state, sizeof(state)) != 0) {
			if (t->mismatches++ < 5)
				fprintf(stderr,
					"ADMISSION MISMATCH, /%u step %d: C source %u budget %u, "
					"BPF source %u budget %u\n",
					ph->prefix_len, i, want.source_verdict, want.budget_verdict,
					skel->bss->adm_result.source_verdict,
					skel->bss->adm_result.budget_verdict);
		}
	}
	t->entries += state.flood_entries;
	return 0;
}

/* The same admission steps in both builds: the same cells, verdicts and
 * state, with every verdict and flood mode entered and left. */
static void test_admission_c_and_bpf_agree(void)
{
	struct elb_hash_seed seed = {rng(), rng()};
	struct elb_source_keys keys;
	struct adm_tally t = {0};

	elb_source_keys_init(&keys, &seed);
	for (size_t i = 0; i < sizeof(adm_phases) / sizeof(adm_phases[0]); i++)
		CU_ASSERT_EQUAL_FATAL(adm_phase_run(&adm_phases[i], &keys, &t), 0);
	printf("admission: %lu steps (%lu conform, %lu over packets/s, %lu over new flows/s; "
	       "budget: %lu stateful, %lu stateless, %lu flood-mode entries): %lu mismatches\n",
	       t.steps, t.conforms, t.over_packets, t.over_new_flows, t.stateful, t.stateless,
	       t.entries, t.mismatches);
	CU_ASSERT_EQUAL(t.mismatches, 0);
	CU_ASSERT(t.over_packets > 1000);
	CU_ASSERT(t.over_new_flows > 1000);
	CU_ASSERT(t.stateful > 1000);
	CU_ASSERT(t.stateless > 1000);
	/* Entered more than once per phase: flood mode was left in between. */
	CU_ASSERT(t.entries > 2 * sizeof(adm_phases) / sizeof(adm_phases[0]));
}

int main(void)
{
	static const struct elb_test_case cases[] = {
		ELB_TEST(test_c_and_bpf_agree),
		ELB_TEST(test_admission_c_and_bpf_agree),
		ELB_TEST_END,
	};
	int rc;

	if (geteuid() != 0) {
		fprintf(stderr, "SKIP: loading BPF programs needs root\n");
		return 77;
	}
	libbpf_set_strict_mode(LIBBPF_STRICT_ALL);
	skel = core_check__open_and_load();
	if (skel == NULL) {
		fprintf(stderr, "core_check.bpf.o did not load (verifier or permissions): %s\n",
			strerror(errno));
		return errno == EPERM ? 77 : 1;
	}
	prog_fd = bpf_program__fd(skel->progs.core_check);
	encap_fd = bpf_program__fd(skel->progs.core_check_encap);
	/* 2000 packets/s, burst 20, and 1 MB/s, burst 3000 bytes, on both sides. */
	if (elb_rate_limit_init(&c_rate_limit, 2000, 20, 1000000, 3000) != 0) {
		core_check__destroy(skel);
		return 1;
	}
	skel->bss->rate_limit = c_rate_limit;
	rc = elb_test_run("bpf_core_diff", cases);
	core_check__destroy(skel);
	return rc;
}
