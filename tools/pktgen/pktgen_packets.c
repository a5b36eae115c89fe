/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The well-formed kinds of edgelb-pktgen: packets of client flows to a VIP,
 * fragments of their datagrams, ICMP errors about them, and traffic that is
 * not for a VIP. Each builder writes one frame and its truth record.
 */
#include <string.h>

#include "pktgen.h"

#define TCP_SYN_WINDOW 64240 /* Linux's initial window: 44 * 1460 */
#define MSS_V4 1460
#define MSS_V6 1440
#define ICMPV4_QUOTE_MAX 548 /* RFC 1812 4.3.2.3: the error fits in 576 bytes */
#define ICMPV6_QUOTE_MAX 1232 /* RFC 4443 2.4 (c): the error fits in 1280 bytes */
#define PING_PAYLOAD_LEN 56  /* what ping(8) sends by default */

static const uint16_t vlan_ids[] = {100, 200, 300};
static const uint16_t path_mtus_v4[] = {1280, 1400, 1420, 1450, 1476};
static const uint16_t path_mtus_v6[] = {1280, 1400, 1420, 1450, 1480};

void truth_init(struct truth *t, const char *kind, const char *expect)
{
	memset(t, 0, sizeof(*t));
	t->kind = kind;
	t->expect = expect;
	t->flow = -1;
	t->tcp_flags = -1;
	t->vlan = -1;
	t->icmp_type = -1;
	t->icmp_code = -1;
}

static void truth_set_client(struct truth *t, uint8_t family, const uint8_t addr[16],
			     uint16_t port)
{
	t->client_family = family;
	memcpy(t->client, addr, 16);
	t->client_port = port;
}

static const char *proto_name(uint8_t family, uint8_t proto)
{
	switch (proto) {
	case WIRE_PROTO_TCP:
		return "tcp";
	case WIRE_PROTO_UDP:
		return "udp";
	default:
		return family == 4 ? "icmp" : "icmpv6";
	}
}

/* addr = a.b.c.d (IPv4 in the first 4 bytes, the rest 0). */
static void set_ipv4(uint8_t addr[16], uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
	memset(addr, 0, 16);
	addr[0] = a;
	addr[1] = b;
	addr[2] = c;
	addr[3] = d;
}

/* addr = 2001:db8:SSSS:: (RFC 3849, documentation), subnet bytes s4 s5. */
static void set_ipv6_doc(uint8_t addr[16], uint8_t s4, uint8_t s5)
{
	static const uint8_t doc[4] = {0x20, 0x01, 0x0d, 0xb8};

	memset(addr, 0, 16);
	memcpy(addr, doc, sizeof(doc));
	addr[4] = s4;
	addr[5] = s5;
}

void random_client_addr(uint8_t family, struct prng *rng, uint8_t addr[16])
{
	if (family == 4) {
		/* 198.18.0.0/15 (RFC 2544, benchmarking), drawn in this order */
		uint8_t c = (uint8_t)prng_below(rng, 256);

		set_ipv4(addr, 198, 18, c, (uint8_t)prng_range(rng, 1, 254));
		return;
	}
	/* 2001:db8:c1:SSSS: followed by a random interface identifier */
	set_ipv6_doc(addr, 0x00, 0xc1);
	prng_fill(rng, addr + 6, 10);
	addr[15] |= 1; /* never the subnet-router anycast address */
}

void random_malformed_src(uint8_t family, struct prng *rng, uint8_t addr[16])
{
	if (family == 4) {
		set_ipv4(addr, 198, 19, 0, (uint8_t)prng_range(rng, 1, 254));
		return;
	}
	set_ipv6_doc(addr, 0x0b, 0xad);
	prng_fill(rng, addr + 8, 8);
	addr[15] |= 1;
}

void random_router_addr(uint8_t family, struct prng *rng, uint8_t addr[16])
{
	if (family == 4) {
		set_ipv4(addr, 203, 0, 113, (uint8_t)prng_range(rng, 1, 254));
		return;
	}
	set_ipv6_doc(addr, 0xff, 0xff);
	addr[15] = (uint8_t)prng_range(rng, 1, 254);
}

/* What a host's TTL looks like a few hops away: Linux starts at 64, Windows at 128. */
static uint8_t random_arrival_ttl(struct prng *rng)
{
	uint8_t initial = prng_percent(rng, 70) ? 64 : 128;

	return (uint8_t)(initial - prng_range(rng, 2, 20));
}

void flow_init(struct flow *f, uint32_t id, uint8_t family, uint8_t proto,
	       const struct prng *rng)
{
	struct prng *r;

	memset(f, 0, sizeof(*f));
	f->rng = *rng;
	r = &f->rng;
	f->id = id;
	f->family = family;
	f->proto = proto;
	random_client_addr(family, r, f->client);
	f->client_port = (uint16_t)prng_range(r, 1024, 65535);
	f->ttl = random_arrival_ttl(r);
	/* Most traffic is best effort; some marked AF21 or EF. */
	f->tos = prng_percent(r, 90) ? 0 : prng_percent(r, 50) ? 0x48 : 0xb8;
	f->next_ip_id = (uint16_t)prng_next(r);
	f->flow_label = (uint32_t)prng_range(r, 1, 0xfffff);
	f->client_seq = (uint32_t)prng_next(r);
	f->server_seq = (uint32_t)prng_next(r); /* the server's ISN + 1, once the SYN is answered */
	if (prng_percent(r, 8)) {
		f->l2.vlan = true;
		f->l2.vlan_tci = vlan_ids[prng_below(r, sizeof(vlan_ids) / sizeof(vlan_ids[0]))];
	}
	if (family == 4 && prng_percent(r, 5))
		f->ipv4_options_len = prng_percent(r, 50) ? 4 : 8;
	if (family == 6 && prng_percent(r, 5))
		f->ipv6_dstopts = true;
	/* Linux sets DF on TCP (path MTU discovery); UDP senders differ. */
	f->df = proto == WIRE_PROTO_TCP || prng_percent(r, 50);
	f->ends_with_rst = proto == WIRE_PROTO_TCP && prng_percent(r, 10);
}

void flow_redraw_client(struct flow *f)
{
	random_client_addr(f->family, &f->rng, f->client);
	f->client_port = (uint16_t)prng_range(&f->rng, 1024, 65535);
}

/* The IP header of the flow's next packet from the client to the VIP. */
static void flow_ip_params(const struct gen_net *net, struct flow *f, struct ip_params *ip)
{
	memset(ip, 0, sizeof(*ip));
	ip->family = f->family;
	memcpy(ip->src, f->client, 16);
	memcpy(ip->dst, net->vip[family_index(f->family)], 16);
	ip->proto = f->proto;
	ip->ttl = f->ttl;
	ip->tos = f->tos;
	ip->df = f->df;
	ip->ipv4_options_len = f->ipv4_options_len;
	ip->ipv6_dstopts = f->ipv6_dstopts;
	ip->ipv6_flow_label = f->flow_label;
}

static void flow_truth(const struct flow *f, struct truth *t, const char *kind,
		       const char *expect)
{
	truth_init(t, kind, expect);
	t->family = f->family;
	t->proto = proto_name(f->family, f->proto);
	t->flow = f->id;
	t->vip_family = f->family;
	truth_set_client(t, f->family, f->client, f->client_port);
	if (f->l2.vlan)
		t->vlan = f->l2.vlan_tci & 0xfff;
}

/* Payload of an ordinary request: mostly small, some up to the regular maximum. */
static size_t request_payload_len(struct flow *f, size_t max_len)
{
	if (f->flood)
		return prng_range(&f->rng, 64, 256);
	if (prng_percent(&f->rng, 75))
		return prng_range(&f->rng, 1, 300);
	return prng_range(&f->rng, 301, max_len);
}

void flow_build_packet(const struct gen_net *net, struct flow *f, enum flow_role role,
		       struct frame_out *out)
{
	size_t l4_hdr_len = f->proto == WIRE_PROTO_TCP ? TCP_HDR_LEN : UDP_HDR_LEN;
	size_t payload_len = 0, l4_len, max_payload;
	const char *kind = f->flood ? "rate_flood" : "flow";
	struct ip_params ip;
	uint8_t *l4;

	flow_ip_params(net, f, &ip);
	if (f->family == 4)
		ip.ipv4_id = f->next_ip_id++;
	l4 = out->data + frame_upper_offset(&f->l2, &ip);
	max_payload = REGULAR_MAX_IP_LEN - ip_headers_len(&ip) - l4_hdr_len;
	if (role == ROLE_BIG) {
		size_t ip_len = prng_range(&f->rng, BIG_MIN_IP_LEN, BIG_MAX_IP_LEN);

		payload_len = ip_len - ip_headers_len(&ip) - l4_hdr_len;
		ip.df = true; /* too big for the tunnel, and not to be fragmented */
		kind = "big";
	}

	if (f->proto == WIRE_PROTO_TCP) {
		struct tcp_params t = {
			.sport = f->client_port,
			.dport = net->vip_port[family_index(f->family)],
			.seq = f->client_seq,
			.ack = f->server_seq,
			.flags = WIRE_TCP_ACK,
			.window = (uint16_t)prng_range(&f->rng, 200, 2000), /* scaled by 2^7 */
		};

		if (role == ROLE_DATA)
			role = prng_percent(&f->rng, 60) ? ROLE_PUSH_DATA : ROLE_PURE_ACK;
		switch (role) {
		case ROLE_SYN:
			t.flags = WIRE_TCP_SYN;
			t.ack = 0;
			t.window = TCP_SYN_WINDOW;
			t.syn_options = true;
			t.mss = f->family == 4 ? MSS_V4 : MSS_V6;
			f->client_seq++;
			break;
		case ROLE_HANDSHAKE_ACK:
		case ROLE_LAST_ACK:
			break;
		case ROLE_DATA: /* resolved above */
		case ROLE_PUSH_DATA:
			t.flags = WIRE_TCP_PSH | WIRE_TCP_ACK;
			payload_len = request_payload_len(f, max_payload);
			break;
		case ROLE_PURE_ACK:
			/* The server has sent more meanwhile. */
			f->server_seq += (uint32_t)prng_range(&f->rng, 1, 20000);
			t.ack = f->server_seq;
			break;
		case ROLE_BIG:
			if (prng_percent(&f->rng, 30))
				t.flags |= WIRE_TCP_PSH;
			break;
		case ROLE_FIN:
			t.flags = WIRE_TCP_FIN | WIRE_TCP_ACK;
			f->client_seq++;
			f->server_seq++; /* the server's FIN, which the last ACK acknowledges */
			break;
		case ROLE_RST:
			if (prng_percent(&f->rng, 50)) {
				t.flags = WIRE_TCP_RST;
				t.ack = 0;
			} else {
				t.flags = WIRE_TCP_RST | WIRE_TCP_ACK;
			}
			break;
		}
		l4_len = write_tcp(l4, &t, payload_len, &f->rng);
		f->client_seq += (uint32_t)payload_len;
		flow_truth(f, &out->truth, kind, role == ROLE_BIG ? "drop" : "forward");
		out->truth.tcp_flags = t.flags;
	} else {
		if (role != ROLE_BIG)
			payload_len = request_payload_len(f, max_payload);
		l4_len = write_udp(l4, f->client_port, net->vip_port[family_index(f->family)],
				   payload_len, &f->rng);
		flow_truth(f, &out->truth, kind, role == ROLE_BIG ? "drop" : "forward");
	}
	out->len = frame_compose(out->data, &f->l2, &ip, l4_len, true);
	f->sent++;
	if (role == ROLE_BIG)
		f->big_sent++;
}

/*
 * A TCP flow of T packets: SYN, then the middle (the handshake ACK, data,
 * pure ACKs and any big segments), then FIN-ACK and the last ACK, or FIN-ACK
 * alone when short, or RST. A UDP flow is all middle. Big packets are spread
 * over the middle so that all n_big fit.
 */
void flow_next_packet(const struct gen_net *net, struct flow *f, struct frame_out *out)
{
	uint32_t total = f->n_packets, pos = f->sent, tail = 0, mid_end, mid_left, big_left;
	enum flow_role role;

	if (f->proto == WIRE_PROTO_TCP) {
		if (pos == 0) {
			flow_build_packet(net, f, ROLE_SYN, out);
			return;
		}
		if (total >= 2)
			tail = f->ends_with_rst || total < 5 ? 1 : 2;
		if (pos >= total - tail) {
			if (f->ends_with_rst)
				role = ROLE_RST;
			else
				role = pos == total - tail ? ROLE_FIN : ROLE_LAST_ACK;
			flow_build_packet(net, f, role, out);
			return;
		}
	}
	mid_end = total - tail;
	mid_left = mid_end - pos;
	big_left = f->n_big - f->big_sent;
	if (big_left && (big_left >= mid_left || prng_below(&f->rng, mid_left) < big_left))
		role = ROLE_BIG;
	else if (f->proto == WIRE_PROTO_TCP && pos == 1)
		role = ROLE_HANDSHAKE_ACK;
	else
		role = ROLE_DATA;
	flow_build_packet(net, f, role, out);
}

void datagram_init(struct datagram *d, uint32_t flow_index, uint8_t family, uint8_t n_frags,
		   struct prng *rng)
{
	uint32_t per_frag = family == 4 ? FRAG_DATA_V4 : FRAG_DATA_V6;

	if (n_frags < 2)
		n_frags = 2;
	if (n_frags > DATAGRAM_MAX_FRAGS)
		n_frags = DATAGRAM_MAX_FRAGS;
	memset(d, 0, sizeof(*d));
	d->flow = flow_index;
	d->n_frags = n_frags;
	/* At least 64 bytes in the last fragment: the datagram really needs n. */
	d->udp_len = (uint32_t)prng_range(rng, (uint64_t)(n_frags - 1) * per_frag + 64,
					  (uint64_t)n_frags * per_frag);
	d->payload_seed = prng_next(rng);
}

void datagram_build_fragment(const struct gen_net *net, struct flow *f, struct datagram *d,
			     unsigned int index, struct frame_out *out)
{
	uint32_t per_frag = f->family == 4 ? FRAG_DATA_V4 : FRAG_DATA_V6;
	uint8_t datagram[DATAGRAM_MAX_FRAGS * FRAG_DATA_V4];
	struct ip_params ip;
	struct prng payload_rng;
	size_t offset = (size_t)index * per_frag, chunk;

	/* One identification for all fragments, drawn when the first is sent. */
	if (!d->id_assigned) {
		d->ipv4_id = f->next_ip_id++;
		d->ipv6_id = (uint32_t)prng_next(&f->rng);
		d->id_assigned = true;
	}
	flow_ip_params(net, f, &ip);
	ip.proto = WIRE_PROTO_UDP;
	ip.df = false;
	ip.ipv4_id = d->ipv4_id;
	/* A flow's destination-options header would belong to the fragmentable
	 * part (RFC 8200 4.5), in the first fragment only: fragments are built
	 * with the bare IPv6 header as their unfragmentable part instead. */
	ip.ipv6_dstopts = false;
	ip.fragment = true;
	ip.ipv6_frag_id = d->ipv6_id;
	ip.frag_offset = (uint32_t)offset;
	ip.more_fragments = index + 1u < d->n_frags;

	/* Rebuilt whole for each fragment: its checksum covers all of it. */
	prng_seed(&payload_rng, d->payload_seed, 0);
	write_udp(datagram, f->client_port, net->vip_port[family_index(f->family)],
		  d->udp_len - UDP_HDR_LEN, &payload_rng);
	l4_fill_checksum(&ip, WIRE_PROTO_UDP, datagram, d->udp_len);

	chunk = d->udp_len - offset < per_frag ? d->udp_len - offset : per_frag;
	memcpy(out->data + frame_upper_offset(&f->l2, &ip), datagram + offset, chunk);
	out->len = frame_compose(out->data, &f->l2, &ip, chunk, false);
	flow_truth(f, &out->truth, "fragment", "drop");
	out->truth.frag = index == 0 ? "first" : "later";
	d->sent++;
}

void icmp_error_build(const struct gen_net *net, struct flow *f, int variant, struct prng *rng,
		      struct frame_out *out)
{
	const int fi = family_index(f->family);
	size_t l4_hdr_len = f->proto == WIRE_PROTO_TCP ? TCP_HDR_LEN : UDP_HDR_LEN;
	uint8_t original[BIG_MAX_IP_LEN + 64];
	size_t orig_len, orig_hdr_len, quote_len, l4_len;
	struct ip_params orig, outer;
	const struct l2_params l2 = {0};
	uint32_t mtu = 0, rest = 0;
	uint8_t type, code;

	if (variant == ICMP_ERR_RANDOM) {
		uint64_t pick = prng_below(rng, 100);

		if (pick < 70)
			variant = ICMP_ERR_FRAG_NEEDED;
		else if (pick < 85)
			variant = ICMP_ERR_UNREACH;
		else
			variant = ICMP_ERR_PROHIBITED;
	}

	/* The packet the backend sent from the VIP straight to the client. */
	memset(&orig, 0, sizeof(orig));
	orig.family = f->family;
	memcpy(orig.src, net->vip[fi], 16);
	memcpy(orig.dst, f->client, 16);
	orig.proto = f->proto;
	orig.ttl = (uint8_t)prng_range(rng, 50, 63);
	orig.ipv4_id = (uint16_t)prng_next(rng);
	orig.df = true;
	orig.ipv6_flow_label = (uint32_t)prng_range(rng, 1, 0xfffff);
	orig_hdr_len = ip_headers_len(&orig);
	if (variant == ICMP_ERR_FRAG_NEEDED) {
		const uint16_t *mtus = f->family == 4 ? path_mtus_v4 : path_mtus_v6;

		mtu = mtus[prng_below(rng, 5)];
		orig_len = prng_range(rng, mtu + 1, BIG_MAX_IP_LEN);
	} else {
		orig_len = prng_range(rng, orig_hdr_len + l4_hdr_len, REGULAR_MAX_IP_LEN);
	}
	if (f->proto == WIRE_PROTO_TCP) {
		struct tcp_params t = {
			.sport = net->vip_port[fi],
			.dport = f->client_port,
			.seq = f->server_seq,
			.ack = f->client_seq,
			.flags = WIRE_TCP_ACK | (prng_percent(rng, 50) ? WIRE_TCP_PSH : 0),
			.window = (uint16_t)prng_range(rng, 200, 2000),
		};

		l4_len = write_tcp(original + orig_hdr_len, &t,
				   orig_len - orig_hdr_len - TCP_HDR_LEN, rng);
	} else {
		l4_len = write_udp(original + orig_hdr_len, net->vip_port[fi], f->client_port,
				   orig_len - orig_hdr_len - UDP_HDR_LEN, rng);
	}
	l4_fill_checksum(&orig, orig.proto, original + orig_hdr_len, l4_len);
	write_ip_headers(original, &orig, l4_len);

	/* Routers quote anything from the RFC 792 minimum to as much as fits
	 * (RFC 1812 for IPv4; RFC 4443 asks IPv6 routers for as much as fits). */
	quote_len = f->family == 4 ? ICMPV4_QUOTE_MAX : ICMPV6_QUOTE_MAX;
	if (orig_len < quote_len)
		quote_len = orig_len;
	if (prng_percent(rng, f->family == 4 ? 50 : 25))
		quote_len = orig_hdr_len + 8;

	if (f->family == 4) {
		type = WIRE_ICMP_DEST_UNREACH;
		if (variant == ICMP_ERR_FRAG_NEEDED)
			code = WIRE_ICMP_CODE_FRAG_NEEDED;
		else if (variant == ICMP_ERR_UNREACH)
			code = WIRE_ICMP_CODE_HOST_UNREACH;
		else
			code = WIRE_ICMP_CODE_ADMIN_PROHIBITED;
		rest = mtu; /* next-hop MTU in the low 16 bits; 0 when unused */
	} else if (variant == ICMP_ERR_FRAG_NEEDED) {
		type = WIRE_ICMPV6_PKT_TOO_BIG;
		code = 0;
		rest = mtu;
	} else {
		type = WIRE_ICMPV6_DEST_UNREACH;
		if (variant == ICMP_ERR_UNREACH)
			code = WIRE_ICMPV6_CODE_ADDR_UNREACH;
		else
			code = WIRE_ICMPV6_CODE_ADMIN_PROHIBITED;
	}

	/* From a router on the path, to the VIP (the backend's source address). */
	memset(&outer, 0, sizeof(outer));
	outer.family = f->family;
	random_router_addr(f->family, rng, outer.src);
	memcpy(outer.dst, net->vip[fi], 16);
	outer.proto = f->family == 4 ? WIRE_PROTO_ICMP : WIRE_PROTO_ICMPV6;
	outer.ttl = (uint8_t)((prng_percent(rng, 50) ? 255 : 64) - prng_range(rng, 1, 10));
	/* Linux sends ICMPv4 errors as internetwork control, ICMPv6 ones with class 0. */
	outer.tos = f->family == 4 ? 0xc0 : 0;
	outer.ipv4_id = (uint16_t)prng_next(rng);
	l4_len = write_icmp_error(out->data + frame_upper_offset(&l2, &outer), type, code, rest,
				  original, quote_len);
	out->len = frame_compose(out->data, &l2, &outer, l4_len, true);

	truth_init(&out->truth, "icmp_error", "forward");
	out->truth.family = f->family;
	out->truth.proto = proto_name(f->family, outer.proto);
	out->truth.flow = f->id;
	out->truth.vip_family = f->family;
	truth_set_client(&out->truth, f->family, f->client, f->client_port);
	out->truth.icmp_type = type;
	out->truth.icmp_code = code;
	out->truth.inner_proto = proto_name(f->family, f->proto);
}

size_t build_tcp_syn_frame(uint8_t *frame, const struct l2_params *l2, struct ip_params *ip,
			   uint16_t sport, uint16_t dport, struct prng *rng)
{
	struct tcp_params t = {
		.sport = sport,
		.dport = dport,
		.seq = (uint32_t)prng_next(rng),
		.flags = WIRE_TCP_SYN,
		.window = TCP_SYN_WINDOW,
		.syn_options = true,
		.mss = ip->family == 4 ? MSS_V4 : MSS_V6,
	};

	ip->proto = WIRE_PROTO_TCP;
	return frame_compose(frame, l2, ip,
			     write_tcp(frame + frame_upper_offset(l2, ip), &t, 0, rng), true);
}

size_t build_udp_frame(uint8_t *frame, const struct l2_params *l2, struct ip_params *ip,
		       uint16_t sport, uint16_t dport, size_t payload_len, struct prng *rng)
{
	ip->proto = WIRE_PROTO_UDP;
	return frame_compose(frame, l2, ip,
			     write_udp(frame + frame_upper_offset(l2, ip), sport, dport,
				       payload_len, rng),
			     true);
}

size_t build_icmp_echo_frame(uint8_t *frame, const struct l2_params *l2, struct ip_params *ip,
			     uint16_t ident, size_t payload_len, struct prng *rng)
{
	ip->proto = ip->family == 4 ? WIRE_PROTO_ICMP : WIRE_PROTO_ICMPV6;
	return frame_compose(frame, l2, ip,
			     write_icmp_echo(frame + frame_upper_offset(l2, ip), ip->family,
					     ident, (uint16_t)prng_range(rng, 1, 100),
					     payload_len, rng),
			     true);
}

void non_vip_build(const struct gen_net *net, enum non_vip_kind kind, uint8_t family,
		   struct prng *rng, struct frame_out *out)
{
	const int fi = family_index(family);
	const struct l2_params l2 = {0};
	struct truth *t = &out->truth;
	uint16_t sport = (uint16_t)prng_range(rng, 1024, 65535);
	struct ip_params ip;

	truth_init(t, "non_vip", "kernel");
	if (kind == NON_VIP_ARP) {
		uint8_t sender[16], target[16] = {0};

		random_client_addr(4, rng, sender);
		memcpy(target, prng_percent(rng, 50) ? net->vip[0] : net->other_dst[0], 4);
		out->len = write_arp_request(out->data, sender, target);
		t->proto = "arp";
		t->dst_family = 4;
		memcpy(t->dst, target, 16);
		return;
	}

	memset(&ip, 0, sizeof(ip));
	ip.family = family;
	random_client_addr(family, rng, ip.src);
	ip.ttl = random_arrival_ttl(rng);
	ip.ipv4_id = (uint16_t)prng_next(rng);
	ip.df = true;
	ip.ipv6_flow_label = (uint32_t)prng_range(rng, 1, 0xfffff);

	switch (kind) {
	case NON_VIP_OTHER_DST: {
		uint64_t pick = prng_below(rng, 100);

		memcpy(ip.dst, net->other_dst[fi], 16);
		if (pick < 50) {
			out->len = build_tcp_syn_frame(out->data, &l2, &ip, sport, 22, rng);
		} else if (pick < 80) {
			out->len = build_udp_frame(out->data, &l2, &ip, sport, 53,
						   prng_range(rng, 20, 60), rng);
		} else {
			sport = 0;
			out->len = build_icmp_echo_frame(out->data, &l2, &ip,
							 (uint16_t)prng_next(rng),
							 PING_PAYLOAD_LEN, rng);
		}
		break;
	}
	case NON_VIP_ECHO_VIP:
		memcpy(ip.dst, net->vip[fi], 16);
		sport = 0;
		out->len = build_icmp_echo_frame(out->data, &l2, &ip, (uint16_t)prng_next(rng),
						 PING_PAYLOAD_LEN, rng);
		break;
	case NON_VIP_VIP_OTHER_PORT:
	default:
		memcpy(ip.dst, net->vip[fi], 16);
		if (prng_percent(rng, 50)) {
			uint16_t port = net->vip_port[fi] == 22 ? 2222 : 22;

			out->len = build_tcp_syn_frame(out->data, &l2, &ip, sport, port, rng);
		} else {
			uint16_t port = net->vip_port[fi] == 123 ? 1123 : 123;

			out->len = build_udp_frame(out->data, &l2, &ip, sport, port, 48, rng);
		}
		break;
	}
	t->family = family;
	t->proto = proto_name(family, ip.proto);
	truth_set_client(t, family, ip.src, sport);
	if (ip.proto == WIRE_PROTO_TCP)
		t->tcp_flags = WIRE_TCP_SYN;
	if (ip.proto == WIRE_PROTO_ICMP || ip.proto == WIRE_PROTO_ICMPV6) {
		t->icmp_type = family == 4 ? WIRE_ICMP_ECHO_REQUEST : WIRE_ICMPV6_ECHO_REQUEST;
		t->icmp_code = 0;
	}
	t->dst_family = family;
	memcpy(t->dst, ip.dst, 16);
}
