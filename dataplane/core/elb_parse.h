/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Packet parser, shared by the DPDK dataplane and the XDP program.
 *
 * elb_parse(data, end, &pkt) reads one Ethernet frame in [data, end) and
 * fills pkt with the flow key and the offsets the pipeline needs. It never
 * reads outside [data, end): every access is preceded by a bounds check of
 * the pointer it dereferences, in the form the BPF verifier tracks
 * (`if (p + size > end) fail;`).
 *
 * Results:
 *   ELB_PARSE_IP         an IPv4/IPv6 packet; pkt->key is its flow. For an
 *                        ICMP error, the key is that of the flow the quoted
 *                        packet belongs to, as the client would send it, so
 *                        the error reaches that flow's backend.
 *   ELB_PARSE_NOT_IP     ARP, LLDP, a second VLAN tag, ...: for the kernel.
 *   ELB_PARSE_MALFORMED  pkt->reason says why (enum elb_reason).
 *
 * Policy decided here:
 *   - One 802.1Q tag is parsed; a frame with two (QinQ) is not ours.
 *   - IPv4 options are skipped and the packet forwarded with them.
 *   - IPv4 header checksums are not verified (the backend's kernel does,
 *     on the inner packet, and NICs mostly already have).
 *   - IPv6 hop-by-hop (first only), routing and destination-options
 *     headers are skipped, at most ELB_IPV6_EXT_MAX of them; a routing
 *     header's segments are not followed.
 *   - Fragments are keyed without ports (see elb_flow.h). A first fragment
 *     must hold its whole minimal L4 header (RFC 1858 tiny fragments), and
 *     no fragment may end past 64 KiB: an IPv4 datagram (with at least a
 *     20-byte header) or an IPv6 payload reassembled from it would exceed
 *     65535 bytes ("ping of death"). One fragment header per packet.
 *   - pkt->l4_off is 0 when the IP packet has no byte after its headers
 *     (IPv6 next header 59 with nothing after it, an IPv4 packet that is
 *     all header), so that a non-zero l4_off always points inside l3_len.
 *   - Trailing bytes after the IP total length (Ethernet padding) are not
 *     part of the packet: pkt->l3_len excludes them.
 */
#ifndef ELB_PARSE_H
#define ELB_PARSE_H

#include "elb_compat.h"
#include "elb_flow.h"
#include "elb_reasons.h"
#include "elb_wire.h"

/*
 * GCC 12 inlines the parser into callers whose buffer size it can see and
 * then warns (-Warray-bounds) about reads on paths that the bounds checks
 * above them make unreachable. The checks are the real guard (the unit
 * suite parses every frame against a guard page, the BPF verifier proves
 * them); the warning is off for this header only.
 */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Warray-bounds"
#endif

#ifndef ELB_IPV6_EXT_MAX
#define ELB_IPV6_EXT_MAX 4 /* extension headers skipped before giving up */
#endif

enum elb_parse_result {
	ELB_PARSE_IP = 0,
	ELB_PARSE_NOT_IP = 1,
	ELB_PARSE_MALFORMED = 2,
};

#define ELB_PKT_VLAN 0x01           /* carried one 802.1Q tag */
#define ELB_PKT_FRAGMENT 0x02       /* an IP fragment, first or later */
#define ELB_PKT_LATER_FRAGMENT 0x04 /* a fragment other than the first: no L4 header */
#define ELB_PKT_DF 0x08             /* must not be fragmented: IPv4 DF, or any IPv6 */
#define ELB_PKT_ICMP_ERROR 0x10     /* key is the quoted packet's flow, reversed */
#define ELB_PKT_IPV4_OPTIONS 0x20   /* IPv4 header longer than 20 bytes */

struct elb_packet {
	struct elb_flow_key key;
	uint16_t l3_off;   /* outer IP header, from the start of the frame */
	uint16_t l3_len;   /* IP packet length: v4 total length, v6 40 + payload */
	uint16_t l4_off;   /* L4 header from the start of the frame; 0 if none */
	uint16_t vlan_tci; /* host order, when ELB_PKT_VLAN */
	uint16_t ipv4_id;  /* network order, IPv4 only */
	uint8_t tos;       /* IPv4 TOS or IPv6 traffic class */
	uint8_t ttl;       /* TTL or hop limit */
	uint8_t tcp_flags; /* ELB_TCP_*, for TCP that is not a fragment */
	uint8_t flags;     /* ELB_PKT_* */
	uint8_t icmp_type; /* for ICMP and ICMPv6 */
	uint8_t icmp_code;
	uint8_t reason; /* enum elb_reason, when ELB_PARSE_MALFORMED */
	uint8_t pad[3];
};

ELB_INLINE int elb_parse_fail(struct elb_packet *pkt, enum elb_reason reason)
{
	pkt->reason = (uint8_t)reason;
	return ELB_PARSE_MALFORMED;
}

ELB_INLINE bool elb_icmp_is_error(uint8_t family, uint8_t type)
{
	if (family == ELB_AF_INET)
		return type == ELB_ICMP_DEST_UNREACH || type == ELB_ICMP_TIME_EXCEEDED ||
		       type == ELB_ICMP_PARAM_PROBLEM;
	return type == ELB_ICMPV6_DEST_UNREACH || type == ELB_ICMPV6_PKT_TOOBIG ||
	       type == ELB_ICMPV6_TIME_EXCEEDED || type == ELB_ICMPV6_PARAM_PROBLEM;
}

/* Smallest L4 header a first fragment must hold in full. */
ELB_INLINE uint32_t elb_l4_min_len(uint8_t proto)
{
	if (proto == ELB_IPPROTO_TCP)
		return sizeof(struct elb_tcp_hdr);
	if (proto == ELB_IPPROTO_UDP || proto == ELB_IPPROTO_ICMP || proto == ELB_IPPROTO_ICMPV6)
		return 8;
	return 0;
}

/* What walking an IPv6 extension chain found. */
struct elb_ipv6_walk {
	uint32_t l4_off; /* from the start of the frame */
	uint8_t proto;   /* the upper-layer protocol */
	uint8_t frag;    /* 0, ELB_PKT_FRAGMENT, or both fragment flags */
};

/*
 * Skip the extension headers of the IPv6 header at frame offset ip_off,
 * whose first next-header value is nexthdr, within limit (frame offset of the
 * end of the IPv6 packet, or of what an ICMP error quotes). Returns
 * ELB_REASON_NONE or why the chain does not parse. Used for the outer packet
 * and for the packet an ICMPv6 error quotes.
 */
ELB_INLINE enum elb_reason elb_ipv6_walk_ext(const uint8_t *data, const uint8_t *end,
					     uint32_t ip_off, uint32_t limit, uint8_t nexthdr,
					     enum elb_reason truncated, struct elb_ipv6_walk *walk)
{
	uint32_t off = ip_off + sizeof(struct elb_ipv6_hdr);
	uint8_t nh = nexthdr;
	bool seen_frag = false;
	int i;

	walk->frag = 0;
ELB_UNROLL
	for (i = 0; i < ELB_IPV6_EXT_MAX; i++) {
		const uint8_t *p = data + off;

		if (nh == ELB_IPPROTO_HOPOPTS || nh == ELB_IPPROTO_ROUTING ||
		    nh == ELB_IPPROTO_DSTOPTS) {
			const struct elb_ipv6_opt_hdr *opt = (const void *)p;
			uint32_t len;

			/* RFC 8200 4.3: hop-by-hop only right after the IPv6 header. */
			if (nh == ELB_IPPROTO_HOPOPTS && i != 0)
				return ELB_REASON_IPV6_EXT_CHAIN;
			if (off + 8 > limit || p + 8 > end)
				return truncated;
			len = ((uint32_t)opt->hdrlen + 1) * 8;
			nh = opt->nexthdr;
			off += len;
			if (off > limit)
				return truncated;
			continue;
		}
		if (nh == ELB_IPPROTO_FRAGMENT) {
			const struct elb_ipv6_frag_hdr *fh = (const void *)p;
			uint16_t fo;

			/* Tracked apart from walk->frag, which an atomic
			 * fragment leaves at 0: a second fragment header is
			 * refused after an atomic one too. */
			if (seen_frag)
				return ELB_REASON_IPV6_EXT_CHAIN;
			seen_frag = true;
			if (off + 8 > limit || p + 8 > end)
				return truncated;
			fo = elb_ntohs(fh->frag_off);
			nh = fh->nexthdr;
			off += 8;
			/* An atomic fragment (offset 0, no MF; RFC 6946) is a whole
			 * packet: keep parsing it as one. */
			if ((fo & (ELB_IPV6_FRAG_OFFSET_MASK | ELB_IPV6_FRAG_MF)) == 0)
				continue;
			walk->frag = ELB_PKT_FRAGMENT;
			if (fo & ELB_IPV6_FRAG_OFFSET_MASK) {
				/* RFC 8200 4.5: the reassembled payload is the
				 * unfragmentable part (off - 8 - ip_off - 40 bytes),
				 * then the offset, then this fragment's data
				 * (limit - off); past 65535 it cannot be reassembled.
				 * In a quote, limit is where the quote ends: a lower
				 * bound, which never refuses a valid packet. */
				uint32_t reasm = (uint32_t)(fo & ELB_IPV6_FRAG_OFFSET_MASK) +
						 (limit - ip_off - sizeof(struct elb_ipv6_hdr) - 8);

				if (reasm > 65535)
					return ELB_REASON_IPV6_BAD_FRAGMENT;
				/* Later fragment: what follows is payload, not headers. */
				walk->frag |= ELB_PKT_LATER_FRAGMENT;
				walk->l4_off = off;
				walk->proto = nh;
				return ELB_REASON_NONE;
			}
			continue;
		}
		walk->l4_off = off;
		walk->proto = nh;
		return ELB_REASON_NONE;
	}
	/* Out of iterations: accept only if what follows is not another extension header. */
	if (nh == ELB_IPPROTO_HOPOPTS || nh == ELB_IPPROTO_ROUTING || nh == ELB_IPPROTO_DSTOPTS ||
	    nh == ELB_IPPROTO_FRAGMENT)
		return ELB_REASON_IPV6_EXT_CHAIN;
	walk->l4_off = off;
	walk->proto = nh;
	return ELB_REASON_NONE;
}

/*
 * The packet an ICMP error quotes starts at frame offset q_off and ends at
 * q_end (the end of the ICMP message). Fill pkt->key with the flow of the
 * quoted packet, reversed: the quoted packet went from the VIP to the client,
 * the key is that of client to VIP.
 */
ELB_INLINE enum elb_reason elb_parse_icmp_quote(const uint8_t *data, const uint8_t *end,
						uint32_t q_off, uint32_t q_end, uint8_t family,
						struct elb_packet *pkt)
{
	const uint8_t *q = data + q_off;
	struct elb_flow_key *key = &pkt->key;
	uint32_t l4_off;
	uint8_t proto;
	bool fragment;

	if (family == ELB_AF_INET) {
		const struct elb_ipv4_hdr *ip = (const void *)q;
		uint32_t hlen;
		uint16_t fo;

		if (q_off + sizeof(*ip) > q_end || q + sizeof(*ip) > end)
			return ELB_REASON_ICMP_INNER_TRUNCATED;
		if ((ip->version_ihl >> 4) != 4 || (ip->version_ihl & 0xf) < 5)
			return ELB_REASON_ICMP_INNER_BAD;
		hlen = (uint32_t)(ip->version_ihl & 0xf) * 4;
		fo = elb_ntohs(ip->frag_off);
		proto = ip->protocol;
		fragment = (fo & (ELB_IPV4_MF | ELB_IPV4_OFFSET_MASK)) != 0;
		key->src.v4 = ip->daddr;
		key->dst.v4 = ip->saddr;
		l4_off = q_off + hlen;
	} else {
		const struct elb_ipv6_hdr *ip6 = (const void *)q;
		struct elb_ipv6_walk walk = {0};
		enum elb_reason r;

		if (q_off + sizeof(*ip6) > q_end || q + sizeof(*ip6) > end)
			return ELB_REASON_ICMP_INNER_TRUNCATED;
		if ((elb_ntohl(ip6->ver_tc_flow) >> 28) != 6)
			return ELB_REASON_ICMP_INNER_BAD;
		r = elb_ipv6_walk_ext(data, end, q_off, q_end, ip6->nexthdr,
				      ELB_REASON_ICMP_INNER_TRUNCATED, &walk);
		/* A quoted chain that does not parse is the quote's fault, not
		 * the outer packet's: count it as such. */
		if (r != ELB_REASON_NONE)
			return r == ELB_REASON_ICMP_INNER_TRUNCATED ? r : ELB_REASON_ICMP_INNER_BAD;
		proto = walk.proto;
		fragment = walk.frag != 0;
		elb_memcpy(key->src.v6, ip6->daddr, 16);
		elb_memcpy(key->dst.v6, ip6->saddr, 16);
		l4_off = walk.l4_off;
	}
	key->proto = proto;
	key->family = family;
	/* RFC 792: an error quotes at least the IP header and 8 bytes. */
	if (l4_off + 8 > q_end)
		return ELB_REASON_ICMP_INNER_TRUNCATED;
	if (!fragment && (proto == ELB_IPPROTO_TCP || proto == ELB_IPPROTO_UDP)) {
		const uint16_t *ports = (const void *)(data + l4_off);

		if ((const uint8_t *)(ports + 2) > end)
			return ELB_REASON_ICMP_INNER_TRUNCATED;
		key->sport = ports[1];
		key->dport = ports[0];
	}
	return ELB_REASON_NONE;
}

/* Parse the L4 header at frame offset l4_off, l4_len bytes long. */
ELB_INLINE enum elb_reason elb_parse_l4(const uint8_t *data, const uint8_t *end, uint32_t l4_off,
					uint32_t l4_len, struct elb_packet *pkt)
{
	const uint8_t *l4 = data + l4_off;
	uint8_t proto = pkt->key.proto;

	if (proto == ELB_IPPROTO_TCP) {
		const struct elb_tcp_hdr *tcp = (const void *)l4;
		uint32_t doff;

		if (l4_len < sizeof(*tcp) || l4 + sizeof(*tcp) > end)
			return ELB_REASON_TCP_TRUNCATED;
		doff = (uint32_t)(tcp->doff_res >> 4) * 4;
		if (doff < sizeof(*tcp) || doff > l4_len)
			return ELB_REASON_TCP_BAD_DOFF;
		pkt->key.sport = tcp->sport;
		pkt->key.dport = tcp->dport;
		pkt->tcp_flags = tcp->flags;
		return ELB_REASON_NONE;
	}
	if (proto == ELB_IPPROTO_UDP) {
		const struct elb_udp_hdr *udp = (const void *)l4;
		uint32_t ulen;

		if (l4_len < sizeof(*udp) || l4 + sizeof(*udp) > end)
			return ELB_REASON_UDP_TRUNCATED;
		ulen = elb_ntohs(udp->len);
		if (ulen < sizeof(*udp) || ulen > l4_len)
			return ELB_REASON_UDP_BAD_LEN;
		pkt->key.sport = udp->sport;
		pkt->key.dport = udp->dport;
		return ELB_REASON_NONE;
	}
	if ((proto == ELB_IPPROTO_ICMP && pkt->key.family == ELB_AF_INET) ||
	    (proto == ELB_IPPROTO_ICMPV6 && pkt->key.family == ELB_AF_INET6)) {
		const struct elb_icmp_hdr *icmp = (const void *)l4;

		if (l4_len < sizeof(*icmp) || l4 + sizeof(*icmp) > end)
			return ELB_REASON_ICMP_TRUNCATED;
		pkt->icmp_type = icmp->type;
		pkt->icmp_code = icmp->code;
		if (!elb_icmp_is_error(pkt->key.family, icmp->type))
			return ELB_REASON_NONE;
		pkt->flags |= ELB_PKT_ICMP_ERROR;
		return elb_parse_icmp_quote(data, end, l4_off + sizeof(*icmp), l4_off + l4_len,
					    pkt->key.family, pkt);
	}
	/* Any other protocol (GRE, ESP, SCTP, ...): keyed on addresses only. */
	return ELB_REASON_NONE;
}

ELB_INLINE int elb_parse_ipv4(const uint8_t *data, const uint8_t *end, uint32_t off,
			      struct elb_packet *pkt)
{
	const struct elb_ipv4_hdr *ip = (const void *)(data + off);
	uint32_t hlen, total_len, frag_bytes;
	enum elb_reason r;
	uint16_t fo;

	if ((const uint8_t *)(ip + 1) > end)
		return elb_parse_fail(pkt, ELB_REASON_IPV4_TRUNCATED);
	if ((ip->version_ihl >> 4) != 4)
		return elb_parse_fail(pkt, ELB_REASON_IPV4_BAD_VERSION);
	hlen = (uint32_t)(ip->version_ihl & 0xf) * 4;
	if (hlen < sizeof(*ip))
		return elb_parse_fail(pkt, ELB_REASON_IPV4_BAD_IHL);
	if (data + off + hlen > end)
		return elb_parse_fail(pkt, ELB_REASON_IPV4_OPTIONS_TRUNCATED);
	total_len = elb_ntohs(ip->total_len);
	if (total_len < hlen || data + off + total_len > end)
		return elb_parse_fail(pkt, ELB_REASON_IPV4_BAD_TOTAL_LEN);

	pkt->l3_off = (uint16_t)off;
	pkt->l3_len = (uint16_t)total_len;
	pkt->tos = ip->tos;
	pkt->ttl = ip->ttl;
	pkt->ipv4_id = ip->id;
	pkt->key.family = ELB_AF_INET;
	pkt->key.proto = ip->protocol;
	pkt->key.src.v4 = ip->saddr;
	pkt->key.dst.v4 = ip->daddr;
	if (hlen > sizeof(*ip))
		pkt->flags |= ELB_PKT_IPV4_OPTIONS;

	fo = elb_ntohs(ip->frag_off);
	if (fo & ELB_IPV4_DF)
		pkt->flags |= ELB_PKT_DF;
	if (fo & (ELB_IPV4_MF | ELB_IPV4_OFFSET_MASK)) {
		frag_bytes = (uint32_t)(fo & ELB_IPV4_OFFSET_MASK) * 8;
		/* The reassembled datagram is the first fragment's header (20
		 * bytes at least) plus the data up to this fragment's end. */
		if (frag_bytes + (total_len - hlen) + sizeof(*ip) > 65535)
			return elb_parse_fail(pkt, ELB_REASON_IPV4_BAD_FRAGMENT);
		pkt->flags |= ELB_PKT_FRAGMENT;
		if (frag_bytes != 0) {
			pkt->flags |= ELB_PKT_LATER_FRAGMENT;
			return ELB_PARSE_IP;
		}
		if (total_len - hlen < elb_l4_min_len(ip->protocol))
			return elb_parse_fail(pkt, ELB_REASON_IPV4_BAD_FRAGMENT);
		if (total_len > hlen)
			pkt->l4_off = (uint16_t)(off + hlen);
		return ELB_PARSE_IP;
	}
	if (total_len > hlen)
		pkt->l4_off = (uint16_t)(off + hlen);
	r = elb_parse_l4(data, end, off + hlen, total_len - hlen, pkt);
	if (r != ELB_REASON_NONE)
		return elb_parse_fail(pkt, r);
	return ELB_PARSE_IP;
}

ELB_INLINE int elb_parse_ipv6(const uint8_t *data, const uint8_t *end, uint32_t off,
			      struct elb_packet *pkt)
{
	const struct elb_ipv6_hdr *ip6 = (const void *)(data + off);
	struct elb_ipv6_walk walk = {0};
	uint32_t payload_len, ver_tc_flow;
	enum elb_reason r;

	if ((const uint8_t *)(ip6 + 1) > end)
		return elb_parse_fail(pkt, ELB_REASON_IPV6_TRUNCATED);
	ver_tc_flow = elb_ntohl(ip6->ver_tc_flow);
	if ((ver_tc_flow >> 28) != 6)
		return elb_parse_fail(pkt, ELB_REASON_IPV6_BAD_VERSION);
	payload_len = elb_ntohs(ip6->payload_len);
	/* Zero is a jumbogram (RFC 2675), which no Ethernet carries, unless
	 * there is nothing after the header at all. */
	if ((payload_len == 0 && ip6->nexthdr != ELB_IPPROTO_NONE) ||
	    data + off + sizeof(*ip6) + payload_len > end)
		return elb_parse_fail(pkt, ELB_REASON_IPV6_BAD_PAYLOAD_LEN);

	pkt->l3_off = (uint16_t)off;
	pkt->l3_len = (uint16_t)(sizeof(*ip6) + payload_len);
	pkt->tos = (uint8_t)(ver_tc_flow >> 20);
	pkt->ttl = ip6->hop_limit;
	pkt->flags |= ELB_PKT_DF;
	pkt->key.family = ELB_AF_INET6;
	elb_memcpy(pkt->key.src.v6, ip6->saddr, 16);
	elb_memcpy(pkt->key.dst.v6, ip6->daddr, 16);

	r = elb_ipv6_walk_ext(data, end, off, off + sizeof(*ip6) + payload_len, ip6->nexthdr,
			      ELB_REASON_IPV6_EXT_TRUNCATED, &walk);
	if (r != ELB_REASON_NONE)
		return elb_parse_fail(pkt, r);
	pkt->key.proto = walk.proto;
	pkt->flags |= walk.frag;
	if (walk.frag & ELB_PKT_LATER_FRAGMENT)
		return ELB_PARSE_IP;
	if (walk.l4_off < off + sizeof(*ip6) + payload_len)
		pkt->l4_off = (uint16_t)walk.l4_off;
	if (walk.frag) {
		if (off + sizeof(*ip6) + payload_len - walk.l4_off < elb_l4_min_len(walk.proto))
			return elb_parse_fail(pkt, ELB_REASON_IPV6_BAD_FRAGMENT);
		return ELB_PARSE_IP;
	}
	r = elb_parse_l4(data, end, walk.l4_off, off + sizeof(*ip6) + payload_len - walk.l4_off, pkt);
	if (r != ELB_REASON_NONE)
		return elb_parse_fail(pkt, r);
	return ELB_PARSE_IP;
}

/* Parse the frame [data, end). See the top of this file. */
ELB_INLINE int elb_parse(const uint8_t *data, const uint8_t *end, struct elb_packet *pkt)
{
	const struct elb_eth_hdr *eth = (const void *)data;
	uint32_t off = sizeof(*eth);
	uint16_t ethertype;

	elb_memset(pkt, 0, sizeof(*pkt));
	if ((const uint8_t *)(eth + 1) > end)
		return elb_parse_fail(pkt, ELB_REASON_ETH_TRUNCATED);
	ethertype = elb_ntohs(eth->ethertype);
	if (ethertype == ELB_ETHERTYPE_VLAN) {
		const struct elb_vlan_hdr *vlan = (const void *)(eth + 1);

		if ((const uint8_t *)(vlan + 1) > end)
			return elb_parse_fail(pkt, ELB_REASON_VLAN_TRUNCATED);
		pkt->flags |= ELB_PKT_VLAN;
		pkt->vlan_tci = elb_ntohs(vlan->tci);
		ethertype = elb_ntohs(vlan->ethertype);
		off += sizeof(*vlan);
	}
	if (ethertype == ELB_ETHERTYPE_IPV4)
		return elb_parse_ipv4(data, end, off, pkt);
	if (ethertype == ELB_ETHERTYPE_IPV6)
		return elb_parse_ipv6(data, end, off, pkt);
	return ELB_PARSE_NOT_IP;
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#endif /* ELB_PARSE_H */
