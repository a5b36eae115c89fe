/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Malformed frames, one malformation each, named as the balancer's reason
 * counters. Each starts as a well-formed packet to a VIP (so that nothing
 * but the one defect stands between it and forwarding) and then has that
 * defect written in at a known offset, or is cut at a known length.
 *
 * Where a defect can only be had with a second one (a frame that ends inside
 * the IPv4 options also ends before its total length), the frame carries the
 * defect a parser reaching it in header order meets first. Checksums are
 * recomputed after the defect wherever the field is still in the frame, so
 * that the defect is the only thing wrong.
 *
 * Frames are not padded to 60 bytes: a truncation must end where it says.
 * Sources are 198.19.0.0/24 and 2001:db8:bad::/48, apart from every flow.
 */
#include <string.h>

#include "pktgen.h"

const char *const malformed_names[MALFORMED_COUNT] = {
#define MALFORMED_NAME(name, text) [MAL_##name] = text,
	MALFORMED_LIST(MALFORMED_NAME)
#undef MALFORMED_NAME
};

/* A frame under construction and where its layers start. */
struct mal_frame {
	struct l2_params l2;
	struct ip_params ip;
	size_t l3;  /* IP header, from the start of the frame */
	size_t l4;  /* after the IP headers */
	size_t len; /* frame length */
	uint16_t sport;
};

static uint8_t random_family(struct prng *rng)
{
	return prng_percent(rng, 50) ? 4 : 6;
}

static uint8_t random_l4_proto(uint8_t family, struct prng *rng)
{
	static const uint8_t protos[] = {WIRE_PROTO_TCP, WIRE_PROTO_UDP, WIRE_PROTO_ICMP};
	uint8_t proto = protos[prng_below(rng, 3)];

	return proto == WIRE_PROTO_ICMP && family == 6 ? WIRE_PROTO_ICMPV6 : proto;
}

/* Smallest header a first fragment must hold in full (RFC 1858 tiny fragments). */
static size_t l4_min_len(uint8_t proto)
{
	return proto == WIRE_PROTO_TCP ? TCP_HDR_LEN : 8;
}

/* Addresses and layer 2 of a packet from a malformed source to the VIP. */
static void mal_start(const struct gen_net *net, uint8_t family, struct prng *rng,
		      struct mal_frame *m)
{
	memset(m, 0, sizeof(*m));
	if (prng_percent(rng, 20)) {
		m->l2.vlan = true;
		m->l2.vlan_tci = 100;
	}
	m->ip.family = family;
	random_malformed_src(family, rng, m->ip.src);
	memcpy(m->ip.dst, net->vip[family_index(family)], 16);
	m->ip.ttl = (uint8_t)prng_range(rng, 40, 63);
	m->ip.ipv4_id = (uint16_t)prng_next(rng);
	m->ip.df = true;
	m->ip.ipv6_flow_label = (uint32_t)prng_range(rng, 1, 0xfffff);
	m->sport = (uint16_t)prng_range(rng, 1024, 65535);
	m->l3 = l2_len(&m->l2);
}

/* A complete, valid packet of proto (TCP SYN, UDP request, ICMP echo). */
static void mal_build_valid(const struct gen_net *net, uint8_t proto, struct prng *rng,
			    struct mal_frame *m, uint8_t *frame)
{
	uint16_t dport = net->vip_port[family_index(m->ip.family)];

	if (proto == WIRE_PROTO_TCP)
		m->len = build_tcp_syn_frame(frame, &m->l2, &m->ip, m->sport, dport, rng);
	else if (proto == WIRE_PROTO_UDP)
		m->len = build_udp_frame(frame, &m->l2, &m->ip, m->sport, dport,
					 prng_range(rng, 0, 64), rng);
	else
		m->len = build_icmp_echo_frame(frame, &m->l2, &m->ip, m->sport,
					       prng_range(rng, 0, 64), rng);
	m->l4 = m->l3 + ip_headers_len(&m->ip);
}

/*
 * The first bytes of a valid L4 header of proto at p, for a first fragment
 * that ends inside it: TCP SYN, UDP or ICMP echo headers, no payload.
 */
static void write_l4_header(uint8_t *p, uint8_t proto, uint8_t family, uint16_t sport,
			    uint16_t dport, struct prng *rng)
{
	if (proto == WIRE_PROTO_TCP) {
		struct tcp_params t = {
			.sport = sport,
			.dport = dport,
			.seq = (uint32_t)prng_next(rng),
			.flags = WIRE_TCP_SYN,
			.window = 64240,
		};

		write_tcp(p, &t, 0, rng);
	} else if (proto == WIRE_PROTO_UDP) {
		write_udp(p, sport, dport, 0, rng);
	} else {
		write_icmp_echo(p, family, sport, 1, 0, rng);
	}
}

/* Compose a frame around upper_len bytes already at m->l4 (not checksummed). */
static void mal_compose(struct mal_frame *m, uint8_t *frame, size_t upper_len)
{
	m->l4 = m->l3 + ip_headers_len(&m->ip);
	m->len = frame_compose(frame, &m->l2, &m->ip, upper_len, false);
}

static void mal_truth(struct truth *t, enum malformed_kind kind, const struct mal_frame *m,
		      bool has_ip)
{
	truth_init(t, "malformed", "drop");
	t->reason = malformed_names[kind];
	if (m->l2.vlan)
		t->vlan = m->l2.vlan_tci & 0xfff;
	if (!has_ip)
		return;
	t->family = m->ip.family;
	switch (m->ip.proto) {
	case WIRE_PROTO_TCP:
	case WIRE_PROTO_UDP:
		t->proto = m->ip.proto == WIRE_PROTO_TCP ? "tcp" : "udp";
		t->vip_family = m->ip.family;
		t->client_family = m->ip.family;
		memcpy(t->client, m->ip.src, 16);
		t->client_port = m->sport;
		break;
	case WIRE_PROTO_ICMP:
		t->proto = "icmp";
		break;
	case WIRE_PROTO_ICMPV6:
		t->proto = "icmpv6";
		break;
	default:
		break;
	}
}

/* Write n 8-byte IPv6 extension headers of the given types at p, the last
 * pointing to last_next. Options headers carry one PadN option; fragment
 * headers say "first fragment, more follow". */
static size_t write_ext_chain(uint8_t *p, const uint8_t *types, size_t n, uint8_t last_next,
			      uint32_t frag_id)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t *ext = p + i * IPV6_EXT_LEN;

		ext[IPV6_EXT_OFF_NEXT] = i + 1 < n ? types[i + 1] : last_next;
		if (types[i] == WIRE_PROTO_FRAGMENT) {
			ext[1] = 0;
			put_be16(ext + IPV6_FRAG_OFF_OFFSET, WIRE_IPV6_FRAG_MF);
			put_be32(ext + IPV6_FRAG_OFF_ID, frag_id);
		} else {
			ext[IPV6_EXT_OFF_LEN] = 0;
			ext[2] = 1; /* PadN */
			ext[3] = 4;
			memset(ext + 4, 0, 4);
		}
	}
	return n * IPV6_EXT_LEN;
}

/* IPv6 packet whose extension chain is `types`, then a UDP datagram. */
static void build_ipv6_chain(struct mal_frame *m, uint8_t *frame, const uint8_t *types, size_t n,
			     uint16_t dport, struct prng *rng)
{
	size_t chain_len = n * IPV6_EXT_LEN, udp_len;
	uint8_t *upper;

	m->ip.proto = types[0]; /* a header without extensions: next header = first of chain */
	upper = frame + m->l3 + IPV6_HDR_LEN;
	udp_len = write_udp(upper + chain_len, m->sport, dport, prng_range(rng, 8, 64), rng);
	write_ext_chain(upper, types, n, WIRE_PROTO_UDP, (uint32_t)prng_next(rng));
	m->len = frame_compose(frame, &m->l2, &m->ip, chain_len + udp_len, false);
	m->ip.proto = WIRE_PROTO_UDP;
	l4_fill_checksum(&m->ip, WIRE_PROTO_UDP, upper + chain_len, udp_len);
	m->l4 = m->l3 + IPV6_HDR_LEN + chain_len;
}

/* An ICMP error to the VIP quoting quote_len bytes of a packet of quoted_family. */
static void build_icmp_error_quoting(const struct gen_net *net, struct mal_frame *m,
				     uint8_t *frame, uint8_t quoted_family, size_t quote_len,
				     struct prng *rng)
{
	const uint8_t family = m->ip.family;
	uint8_t quoted[256];
	struct ip_params inner = {0};
	struct tcp_params t = {
		.sport = net->vip_port[family_index(quoted_family)],
		.dport = m->sport,
		.seq = (uint32_t)prng_next(rng),
		.ack = (uint32_t)prng_next(rng),
		.flags = WIRE_TCP_ACK,
		.window = 512,
	};
	size_t inner_hdr_len, l4_len, upper_len;
	uint8_t type = family == 4 ? WIRE_ICMP_DEST_UNREACH : WIRE_ICMPV6_PKT_TOO_BIG;
	uint8_t code = family == 4 ? WIRE_ICMP_CODE_FRAG_NEEDED : 0;

	/* The quoted packet: the VIP to a client, TCP, 200 bytes, well formed. */
	inner.family = quoted_family;
	memcpy(inner.src, net->vip[family_index(quoted_family)], 16);
	random_malformed_src(quoted_family, rng, inner.dst);
	inner.proto = WIRE_PROTO_TCP;
	inner.ttl = 60;
	inner.df = true;
	inner_hdr_len = ip_headers_len(&inner);
	l4_len = write_tcp(quoted + inner_hdr_len, &t, 200 - inner_hdr_len - TCP_HDR_LEN, rng);
	l4_fill_checksum(&inner, WIRE_PROTO_TCP, quoted + inner_hdr_len, l4_len);
	write_ip_headers(quoted, &inner, l4_len);

	/* From a router to the VIP address. */
	random_router_addr(family, rng, m->ip.src);
	m->ip.proto = family == 4 ? WIRE_PROTO_ICMP : WIRE_PROTO_ICMPV6;
	m->ip.df = false;
	m->l4 = m->l3 + ip_headers_len(&m->ip);
	upper_len = write_icmp_error(frame + m->l4, type, code, 1280, quoted, quote_len);
	m->len = frame_compose(frame, &m->l2, &m->ip, upper_len, true);
}

/* A valid frame of the family with a random L4 protocol, for a case to
 * break: its IP header. */
static uint8_t *mal_valid_ip(const struct gen_net *net, uint8_t family, struct prng *rng,
			     struct mal_frame *m, uint8_t *frame)
{
	mal_start(net, family, rng, m);
	mal_build_valid(net, random_l4_proto(family, rng), rng, m, frame);
	return frame + m->l3;
}

/* A valid frame of the family that ends 1 byte to one short of its IP
 * header (1..19 bytes into IPv4's, 1..39 into IPv6's). */
static void mal_ip_truncated(const struct gen_net *net, uint8_t family, struct prng *rng,
			     struct mal_frame *m, uint8_t *frame)
{
	mal_valid_ip(net, family, rng, m, frame);
	m->len = m->l3 + prng_range(rng, 1, (family == 4 ? IPV4_HDR_LEN : IPV6_HDR_LEN) - 1);
}

/* A valid frame of the family (its ethertype) with any IP version but its
 * own in the first nibble. IPv4 keeps a 20-byte header and a checksum that
 * matches, so that only the version is wrong. */
static void mal_ip_bad_version(const struct gen_net *net, uint8_t family, struct prng *rng,
			       struct mal_frame *m, uint8_t *frame)
{
	uint8_t version = (uint8_t)prng_below(rng, 15);
	uint8_t *ip;

	if (version >= family)
		version++;
	ip = mal_valid_ip(net, family, rng, m, frame);
	if (family == 4) {
		ip[IPV4_OFF_VER_IHL] = (uint8_t)(version << 4 | 5);
		ipv4_fill_checksum(ip, IPV4_HDR_LEN);
	} else {
		ip[IPV6_OFF_VER_TC_FLOW] =
			(uint8_t)(version << 4 | (ip[IPV6_OFF_VER_TC_FLOW] & 0x0f));
	}
}

void malformed_build(const struct gen_net *net, enum malformed_kind kind, struct prng *rng,
		     struct frame_out *out)
{
	uint8_t *frame = out->data;
	struct mal_frame m;
	uint8_t family = random_family(rng);
	uint8_t proto = random_l4_proto(family, rng);
	bool has_ip = true;
	uint8_t *ip, *l4;

	switch (kind) {
	case MAL_ETH_TRUNCATED:
		/* Cut inside the 14-byte Ethernet header. */
		mal_start(net, 4, rng, &m);
		m.l2.vlan = false;
		m.l3 = ETH_HDR_LEN;
		mal_build_valid(net, WIRE_PROTO_TCP, rng, &m, frame);
		m.len = prng_range(rng, 1, ETH_HDR_LEN - 1);
		has_ip = false;
		break;

	case MAL_VLAN_TRUNCATED:
		/* Ethertype 0x8100, then 0 to 3 of the tag's 4 bytes. */
		mal_start(net, 4, rng, &m);
		m.l2.vlan = true;
		m.l2.vlan_tci = 100;
		m.l3 = ETH_HDR_LEN + VLAN_TAG_LEN;
		mal_build_valid(net, WIRE_PROTO_TCP, rng, &m, frame);
		m.len = ETH_HDR_LEN + prng_range(rng, 0, VLAN_TAG_LEN - 1);
		has_ip = false;
		break;

	case MAL_IPV4_TRUNCATED:
		mal_ip_truncated(net, 4, rng, &m, frame);
		break;

	case MAL_IPV4_BAD_VERSION:
		mal_ip_bad_version(net, 4, rng, &m, frame);
		break;

	case MAL_IPV4_BAD_IHL:
		/* Header length 0 to 4 words, below the 20-byte minimum. */
		ip = mal_valid_ip(net, 4, rng, &m, frame);
		ip[IPV4_OFF_VER_IHL] = (uint8_t)(0x40 | prng_below(rng, 5));
		ipv4_fill_checksum(ip, IPV4_HDR_LEN);
		break;

	case MAL_IPV4_OPTIONS_TRUNCATED: {
		/* IHL 6 to 15 says options follow; the frame ends among them. */
		unsigned int ihl = (unsigned int)prng_range(rng, 6, 15);
		size_t options_len = ihl * 4 - IPV4_HDR_LEN;
		size_t present = prng_below(rng, options_len);

		mal_start(net, 4, rng, &m);
		m.ip.proto = WIRE_PROTO_TCP;
		ip = frame + m.l3;
		mal_compose(&m, frame, 0);
		ip[IPV4_OFF_VER_IHL] = (uint8_t)(0x40 | ihl);
		put_be16(ip + IPV4_OFF_TOTAL_LEN, (uint16_t)(ihl * 4 + TCP_HDR_LEN));
		memset(ip + IPV4_HDR_LEN, 1, present); /* NOPs */
		ipv4_fill_checksum(ip, IPV4_HDR_LEN);
		m.len = m.l3 + IPV4_HDR_LEN + present;
		break;
	}

	case MAL_IPV4_BAD_TOTAL_LEN: {
		/* Total length below the header length, or past the frame's end. */
		uint16_t total;

		ip = mal_valid_ip(net, 4, rng, &m, frame);
		if (prng_percent(rng, 50))
			total = (uint16_t)prng_below(rng, IPV4_HDR_LEN);
		else
			total = (uint16_t)(m.len - m.l3 + prng_range(rng, 1, 1000));
		put_be16(ip + IPV4_OFF_TOTAL_LEN, total);
		ipv4_fill_checksum(ip, IPV4_HDR_LEN);
		break;
	}

	case MAL_IPV4_BAD_FRAGMENT:
		mal_start(net, 4, rng, &m);
		proto = random_l4_proto(4, rng);
		m.ip.proto = proto;
		m.ip.df = false;
		m.ip.fragment = true;
		m.l4 = m.l3 + IPV4_HDR_LEN;
		if (prng_percent(rng, 50)) {
			/* A later fragment ending past 65535: offset >= 65512, data >= 24. */
			size_t data_len = prng_range(rng, 24, 64);

			m.ip.frag_offset = (uint32_t)prng_range(rng, 8189, 8191) * 8;
			m.ip.more_fragments = prng_percent(rng, 50);
			prng_fill(rng, frame + m.l4, data_len);
			mal_compose(&m, frame, data_len);
		} else {
			/* A first fragment too short for its L4 header (RFC 1858). */
			write_l4_header(frame + m.l4, proto, 4, m.sport, net->vip_port[0], rng);
			m.ip.more_fragments = true;
			mal_compose(&m, frame, prng_range(rng, 1, l4_min_len(proto) - 1));
		}
		break;

	case MAL_IPV6_TRUNCATED:
		mal_ip_truncated(net, 6, rng, &m, frame);
		break;

	case MAL_IPV6_BAD_VERSION:
		mal_ip_bad_version(net, 6, rng, &m, frame);
		break;

	case MAL_IPV6_BAD_PAYLOAD_LEN:
		/* Payload length past the frame's end, or 0 (a jumbogram) with a
		 * next header other than 59. */
		ip = mal_valid_ip(net, 6, rng, &m, frame);
		if (prng_percent(rng, 50))
			put_be16(ip + IPV6_OFF_PAYLOAD_LEN,
				 (uint16_t)(m.len - m.l4 + prng_range(rng, 1, 1000)));
		else
			put_be16(ip + IPV6_OFF_PAYLOAD_LEN, 0);
		break;

	case MAL_IPV6_EXT_TRUNCATED:
		mal_start(net, 6, rng, &m);
		m.ip.ipv6_dstopts = true;
		mal_build_valid(net, WIRE_PROTO_UDP, rng, &m, frame);
		ip = frame + m.l3;
		if (prng_percent(rng, 50)) {
			/* The payload ends 1 to 7 bytes into the options header. */
			size_t payload = prng_range(rng, 1, IPV6_EXT_LEN - 1);

			put_be16(ip + IPV6_OFF_PAYLOAD_LEN, (uint16_t)payload);
			m.len = m.l3 + IPV6_HDR_LEN + payload;
		} else {
			/* The options header claims more bytes than the payload has. */
			size_t payload = get_be16(ip + IPV6_OFF_PAYLOAD_LEN);
			size_t min_units = (payload + 1 + IPV6_EXT_LEN - 1) / IPV6_EXT_LEN;

			ip[IPV6_HDR_LEN + IPV6_EXT_OFF_LEN] =
				(uint8_t)(min_units - 1 + prng_below(rng, 8));
		}
		break;

	case MAL_IPV6_EXT_CHAIN: {
		static const uint8_t too_long[6] = {WIRE_PROTO_HOPOPTS, WIRE_PROTO_DSTOPTS,
						    WIRE_PROTO_DSTOPTS, WIRE_PROTO_DSTOPTS,
						    WIRE_PROTO_DSTOPTS, WIRE_PROTO_DSTOPTS};
		static const uint8_t hop_not_first[2] = {WIRE_PROTO_DSTOPTS, WIRE_PROTO_HOPOPTS};
		static const uint8_t two_fragments[2] = {WIRE_PROTO_FRAGMENT, WIRE_PROTO_FRAGMENT};
		uint16_t dport = net->vip_port[1];
		uint64_t pick = prng_below(rng, 3);

		mal_start(net, 6, rng, &m);
		if (pick == 0) /* 5 or 6 extension headers: more than 4 */
			build_ipv6_chain(&m, frame, too_long, 5 + prng_below(rng, 2), dport, rng);
		else if (pick == 1)
			build_ipv6_chain(&m, frame, hop_not_first, 2, dport, rng);
		else
			build_ipv6_chain(&m, frame, two_fragments, 2, dport, rng);
		break;
	}

	case MAL_IPV6_BAD_FRAGMENT:
		mal_start(net, 6, rng, &m);
		proto = random_l4_proto(6, rng);
		m.ip.proto = proto;
		m.ip.fragment = true;
		m.ip.ipv6_frag_id = (uint32_t)prng_next(rng);
		if (prng_percent(rng, 50)) {
			/* A later fragment ending past 65535: offset + data > 65535. */
			size_t data_len = prng_range(rng, 16, 64);

			m.ip.frag_offset = prng_percent(rng, 50) ? 65520 : 65528;
			m.ip.more_fragments = prng_percent(rng, 50);
			prng_fill(rng, frame + m.l3 + ip_headers_len(&m.ip), data_len);
			mal_compose(&m, frame, data_len);
		} else {
			/* A first fragment too short for its L4 header. */
			write_l4_header(frame + m.l3 + ip_headers_len(&m.ip), proto, 6, m.sport,
					net->vip_port[1], rng);
			m.ip.more_fragments = true;
			mal_compose(&m, frame, prng_range(rng, 1, l4_min_len(proto) - 1));
		}
		break;

	case MAL_TCP_TRUNCATED:
	case MAL_UDP_TRUNCATED:
	case MAL_ICMP_TRUNCATED: {
		/* The IP payload ends inside the L4 header: 1 to 19 bytes of TCP,
		 * 1 to 7 of UDP or ICMP. */
		size_t min_len;

		mal_start(net, family, rng, &m);
		if (kind == MAL_TCP_TRUNCATED)
			proto = WIRE_PROTO_TCP;
		else if (kind == MAL_UDP_TRUNCATED)
			proto = WIRE_PROTO_UDP;
		else
			proto = family == 4 ? WIRE_PROTO_ICMP : WIRE_PROTO_ICMPV6;
		min_len = proto == WIRE_PROTO_TCP ? TCP_HDR_LEN : 8;
		mal_build_valid(net, proto, rng, &m, frame);
		mal_compose(&m, frame, prng_range(rng, 1, min_len - 1));
		break;
	}

	case MAL_TCP_BAD_DOFF: {
		/* Data offset below 5 words, or past the end of the segment. */
		size_t seg_len;

		mal_start(net, family, rng, &m);
		m.ip.proto = WIRE_PROTO_TCP;
		m.l4 = m.l3 + ip_headers_len(&m.ip);
		l4 = frame + m.l4;
		{
			struct tcp_params t = {
				.sport = m.sport,
				.dport = net->vip_port[family_index(family)],
				.seq = (uint32_t)prng_next(rng),
				.flags = WIRE_TCP_SYN,
				.window = 64240,
			};

			seg_len = write_tcp(l4, &t, 4 * prng_below(rng, 9), rng);
		}
		if (prng_percent(rng, 50))
			l4[TCP_OFF_DOFF] = (uint8_t)(prng_below(rng, 5) << 4);
		else
			l4[TCP_OFF_DOFF] = (uint8_t)(prng_range(rng, seg_len / 4 + 1, 15) << 4);
		m.len = frame_compose(frame, &m.l2, &m.ip, seg_len, true);
		break;
	}

	case MAL_UDP_BAD_LEN: {
		/* UDP length below 8, or more than the IP payload holds. */
		size_t udp_len;

		mal_start(net, family, rng, &m);
		mal_build_valid(net, WIRE_PROTO_UDP, rng, &m, frame);
		l4 = frame + m.l4;
		udp_len = m.len - m.l4;
		if (prng_percent(rng, 50))
			put_be16(l4 + UDP_OFF_LEN, (uint16_t)prng_below(rng, UDP_HDR_LEN));
		else
			put_be16(l4 + UDP_OFF_LEN, (uint16_t)(udp_len + prng_range(rng, 1, 500)));
		l4_fill_checksum(&m.ip, WIRE_PROTO_UDP, l4, udp_len);
		break;
	}

	case MAL_ICMP_INNER_TRUNCATED: {
		/* An ICMP error quoting less than the IP header and 8 bytes. */
		size_t need = (family == 4 ? IPV4_HDR_LEN : IPV6_HDR_LEN) + 8;

		mal_start(net, family, rng, &m);
		build_icmp_error_quoting(net, &m, frame, family, prng_range(rng, 1, need - 1), rng);
		break;
	}

	case MAL_ICMP_INNER_BAD:
		/* An ICMP error quoting a packet of the other IP version, with
		 * enough bytes for either header and 8 more. */
		mal_start(net, family, rng, &m);
		build_icmp_error_quoting(net, &m, frame, family == 4 ? 6 : 4,
					 prng_range(rng, IPV6_HDR_LEN + 8, 128), rng);
		break;

	default:
		mal_start(net, 4, rng, &m);
		m.len = 0;
		break;
	}
	out->len = m.len;
	mal_truth(&out->truth, kind, &m, has_ip);
}
