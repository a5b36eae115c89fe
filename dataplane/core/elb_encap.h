/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Encapsulation toward the backend (direct server return) and the ICMP
 * "too big" reply, shared by the DPDK dataplane (plain C on an mbuf) and the
 * XDP program (clang -target bpf, after bpf_xdp_adjust_head).
 *
 * In-place convention of both writers: the caller has already made room in
 * front of the IP packet it received (DPDK: rte_pktmbuf_prepend; XDP:
 * bpf_xdp_adjust_head, then data/data_end reloaded) and passes `frame`, the
 * start of the new frame, and `end`, the end of the buffer's data:
 *
 *   frame = old frame start + pkt->l3_off - (14 + headers written)
 *
 * so the received IP packet already sits right after the headers the writer
 * adds. The writers only write those headers in front of it and return the
 * new frame length, or -1 when [frame, end) cannot hold it. The caller trims
 * the frame to that length: trailing Ethernet padding of the input frame is
 * not part of pkt->l3_len and is not carried.
 *
 * Egress is untagged: the new Ethernet header replaces the old one with its
 * 802.1Q tag, if any. The VLAN a packet came in on says nothing about the
 * way to the backend (or back to the client); if egress ever needs a tag,
 * it is the dataplane's port configuration, not a property of the packet.
 *
 * Encapsulation: plain IP-in-IP, the outer family being the backend's:
 *   IPv4 in IPv4 (protocol 4), IPv6 in IPv6 (next header 41),
 *   IPv4 in IPv6 (next header 4). IPv6 in IPv4 is not supported: callers
 *   must refuse an IPv6 VIP with an IPv4 backend in the configuration; the
 *   writer returns -1 should one get here.
 * or, per VIP, GUE variant 1 (draft-ietf-intarea-gue, "direct IP
 * encapsulation"): outer IP, a UDP header, then the inner IP packet with no
 * GUE header; the receiver tells IPv4 from IPv6 by the first nibble. UDP
 * gives the backend's NIC RSS entropy (the source port is taken from the flow
 * hash) where IP-in-IP would land every flow of a backend on one queue.
 *
 * With a second-chance alternate (elb_second_chance.h), GUE variant 0
 * instead: the UDP header, a 4-byte GUE header and edgelb's private data
 * naming the alternate (12 bytes more than variant 1 for an IPv4 alternate,
 * 24 for IPv6), then the inner IP packet. The MTU check counts the bytes of
 * the packet actually written.
 *
 * The UDP checksum is 0 with both outer families. IPv4 allows it; for IPv6,
 * RFC 6935/6936 allow a zero checksum for tunnel protocols whose inner packet
 * carries its own checks, as here. The backend must accept it: a Linux
 * `ip fou add port N gue -6` socket does (fou creates its UDP sockets with
 * use_udp6_rx_checksums off, so the kernel takes a zero checksum as valid);
 * other UDP tunnel receivers need their zero-checksum option (for
 * vxlan/geneve devices: udp6zerocsumrx).
 *
 * Outer header fields:
 *   IPv4: TOS = inner TOS/traffic class (DSCP and ECN copied, RFC 6040 normal
 *   mode), ID = the inner IPv4 ID, DF copied from the inner, TTL
 *   ELB_ENCAP_TTL. Copying the ID keeps it per client and cheap; two clients
 *   whose packets carry the same ID toward one backend could only collide in
 *   reassembly if both are fragmented, which only happens without DF, i.e.
 *   for the rare senders that allow it.
 *   IPv6: traffic class = inner TOS, flow label = the low 20 bits of the flow
 *   hash (ECMP entropy: every flow of a backend shares outer addresses),
 *   hop limit ELB_ENCAP_TTL.
 *
 * Everything here is header-only, BPF-compatible: no libc, loops with
 * constant trip counts, and every write preceded by a bounds check of the
 * pointer written, in the form the verifier tracks (`if (p + n > end)`).
 */
#ifndef ELB_ENCAP_H
#define ELB_ENCAP_H

#include "elb_compat.h"
#include "elb_csum.h"
#include "elb_flow.h"
#include "elb_parse.h"
#include "elb_second_chance.h"
#include "elb_wire.h"

/* TTL / hop limit of the outer header. */
#ifndef ELB_ENCAP_TTL
#define ELB_ENCAP_TTL 64
#endif

/* TTL / hop limit of an ICMP reply to a client. */
#ifndef ELB_ICMP_REPLY_TTL
#define ELB_ICMP_REPLY_TTL 64
#endif

/*
 * Bytes of the original IP packet an ICMP "too big" reply quotes.
 * 128 holds an IPv4 header with the largest options (60 bytes) plus the L4
 * ports, or an IPv6 header with a few extension headers plus the ports: what
 * the client's kernel needs to find the socket whose path MTU to lower
 * (RFC 792 asks for the IP header + 8 bytes). RFC 1812 and RFC 4443 allow
 * more (up to 576 / 1280 bytes in all); more would only lengthen the
 * checksum loop, which is unrolled for the BPF verifier. An override must
 * stay within ELB_CSUM_BOUNDED_MAX.
 */
#ifndef ELB_ICMP_QUOTE_MAX
#define ELB_ICMP_QUOTE_MAX 128
#endif
_Static_assert(ELB_ICMP_QUOTE_MAX <= ELB_CSUM_BOUNDED_MAX,
	       "raise ELB_CSUM_BOUNDED_MAX with ELB_ICMP_QUOTE_MAX");
_Static_assert(ELB_ICMP_QUOTE_MAX >= 60 + 8, "an ICMP error quotes the IP header and 8 bytes");

/* DSCP of ICMP errors to clients: class selector 6, internetwork control
 * (RFC 1812 4.3.2.5 asks for precedence 6 or 7). IPv4 only: ICMPv6 replies
 * go with traffic class 0, as Linux sends them. */
#define ELB_ICMP_ERROR_TOS 0xc0

/* GUE source port: a fixed top (0xc000-0xffff, the dynamic range) and 14 bits
 * of the flow hash, so the backend's RSS spreads flows over its queues. */
#define ELB_GUE_SPORT_BASE 0xc000
#define ELB_GUE_SPORT_HASH_MASK 0x3fff

#define ELB_IPV6_FLOW_LABEL_MASK 0xfffff

/* Per-packet encapsulation parameters, assembled by the dataplane. */
struct elb_encap_params {
	union elb_addr outer_src; /* this node's address of the backend's family */
	union elb_addr outer_dst; /* the backend */
	uint16_t mtu;             /* largest outer IP packet allowed toward backends */
	uint16_t gue_dport;       /* network order; when gue */
	uint8_t outer_family;     /* ELB_AF_INET or ELB_AF_INET6: the backend's */
	uint8_t gue;              /* GUE (IP in UDP) instead of plain IP-in-IP */
	uint8_t src_mac[ELB_ETH_ALEN]; /* our port */
	uint8_t dst_mac[ELB_ETH_ALEN]; /* the gateway toward the backends */
	uint8_t has_alternate;    /* with gue: GUE variant 0 naming `alternate` */
	union elb_addr alternate; /* second-chance alternate, of outer_family */
};

enum elb_mtu_verdict {
	ELB_MTU_FITS = 0,          /* encapsulate and send */
	ELB_MTU_TOO_BIG_REPLY = 1, /* too big: answer with ICMP too-big, don't forward */
	ELB_MTU_TOO_BIG_DROP = 2,  /* too big and no reply allowed: drop */
};

/* Bytes the encapsulation adds in front of the inner IP packet (the
 * Ethernet header not counted) without an alternate: 20 or 40 for the outer
 * IP header, +8 for GUE's UDP header. */
ELB_INLINE uint32_t elb_encap_overhead(uint8_t outer_family, bool gue)
{
	uint32_t overhead = outer_family == ELB_AF_INET ? sizeof(struct elb_ipv4_hdr)
							: sizeof(struct elb_ipv6_hdr);

	if (gue)
		overhead += sizeof(struct elb_udp_hdr);
	return overhead;
}

/* Whether p writes GUE variant 0 with the alternate. */
ELB_INLINE bool elb_encap_carries_alternate(const struct elb_encap_params *p)
{
	return p->gue && p->has_alternate;
}

/* Bytes the encapsulation of these parameters adds: elb_encap_overhead, and
 * with an alternate the GUE header and private data (+12 or +24). */
ELB_INLINE uint32_t elb_encap_params_overhead(const struct elb_encap_params *p)
{
	uint32_t overhead = elb_encap_overhead(p->outer_family, p->gue);

	if (elb_encap_carries_alternate(p))
		overhead += elb_second_chance_overhead(p->outer_family);
	return overhead;
}

/*
 * The largest inner packet that fits p->mtu: what a too-big reply tells the
 * client. 0 if the MTU cannot even hold the outer headers. Configuration
 * must keep it useful: IPv4 hosts ignore a next-hop MTU below 68, and IPv6
 * hosts never go below 1280 (RFC 8200 5), so a VIP with IPv6 clients needs
 * p->mtu >= 1280 + overhead (1320 IPv6 outer, 1328 with GUE) or packets
 * between the two sizes are dropped again and again.
 */
ELB_INLINE uint32_t elb_encap_inner_mtu(const struct elb_encap_params *p)
{
	uint32_t overhead = elb_encap_params_overhead(p);

	return p->mtu > overhead ? p->mtu - overhead : 0;
}

/* Bytes a too-big reply puts between its Ethernet header and the quoted
 * packet: IP header + ICMP header, 28 for IPv4 and 48 for IPv6. */
ELB_INLINE uint32_t elb_icmp_too_big_headroom(uint8_t family)
{
	return (family == ELB_AF_INET ? sizeof(struct elb_ipv4_hdr) : sizeof(struct elb_ipv6_hdr)) +
	       sizeof(struct elb_icmp_hdr);
}

/* RFC 1122 3.2.2 and RFC 4443 2.4 (e): no ICMP error to a source that does
 * not name one host: IPv4 0/8, loopback, multicast, class E and broadcast;
 * IPv6 unspecified and multicast. */
ELB_INLINE bool elb_icmp_source_is_unicast(const struct elb_flow_key *key)
{
	if (key->family == ELB_AF_INET) {
		uint8_t first = ((const uint8_t *)&key->src.v4)[0];

		return first != 0 && first != 127 && first < 224;
	}
	if (key->src.v6[0] == 0xff)
		return false;
	return (key->src.w[0] | key->src.w[1] | key->src.w[2] | key->src.w[3]) != 0;
}

/*
 * Does the packet fit the MTU toward the backend once encapsulated?
 *
 *   FITS            pkt->l3_len + overhead <= p->mtu; and see below.
 *   TOO_BIG_REPLY   too big, the inner forbids fragmentation (IPv4 DF, or
 *                   IPv6, where only the source fragments), and a reply is
 *                   allowed: not for an ICMP error (never an error about an
 *                   error, RFC 1122 3.2.2), not for a later fragment (it
 *                   quotes no L4 header), not to a non-unicast source.
 *   TOO_BIG_DROP    too big otherwise.
 *
 * An IPv4 packet without DF into an IPv4 outer header is FITS even when too
 * big: the sender allowed fragmentation, so it is sent with DF clear in the
 * outer header as well and a router on the way may fragment the outer
 * packet (the backend reassembles it before decapsulating). This keeps such
 * senders working, but only where this node's own link carries the frame:
 * p->mtu must describe the path toward the backends, and the link MTU of
 * the node must be at least the largest such packet + overhead; the
 * dataplane never fragments. Into an IPv6 outer header the same packet is
 * TOO_BIG_DROP: nobody on an IPv6 path may fragment, and the sender, having
 * allowed fragmentation, does not expect an ICMP reply.
 */
ELB_INLINE enum elb_mtu_verdict elb_encap_mtu_check(const struct elb_packet *pkt,
						    const struct elb_encap_params *p)
{
	uint32_t overhead = elb_encap_params_overhead(p);
	uint32_t outer_len = (uint32_t)pkt->l3_len + overhead;

	if (outer_len <= p->mtu)
		return ELB_MTU_FITS;
	if (!(pkt->flags & ELB_PKT_DF)) {
		/* 65535: the outer IPv4 total length field. */
		if (p->outer_family == ELB_AF_INET && pkt->key.family == ELB_AF_INET &&
		    outer_len <= 0xffff)
			return ELB_MTU_FITS;
		return ELB_MTU_TOO_BIG_DROP;
	}
	if (pkt->flags & (ELB_PKT_ICMP_ERROR | ELB_PKT_LATER_FRAGMENT))
		return ELB_MTU_TOO_BIG_DROP;
	if (!elb_icmp_source_is_unicast(&pkt->key))
		return ELB_MTU_TOO_BIG_DROP;
	return ELB_MTU_TOO_BIG_REPLY;
}

/* The new Ethernet header: untagged, from our port to the next hop. */
ELB_INLINE int elb_write_eth(uint8_t *frame, const uint8_t *end, const uint8_t src_mac[6],
			     const uint8_t dst_mac[6], uint16_t ethertype)
{
	struct elb_eth_hdr *eth = (void *)frame;

	if ((const uint8_t *)(eth + 1) > end)
		return -1;
	elb_memcpy(eth->dst, dst_mac, ELB_ETH_ALEN);
	elb_memcpy(eth->src, src_mac, ELB_ETH_ALEN);
	eth->ethertype = elb_htons(ethertype);
	return 0;
}

/* The fields of an IPv4 header without options that its writer takes;
 * network order as on the wire. */
struct elb_ipv4_fields {
	uint8_t tos;
	uint8_t ttl;
	uint8_t protocol;
	uint16_t total_len; /* host order */
	uint16_t id;
	uint16_t frag_off;  /* host order */
	uint32_t saddr;
	uint32_t daddr;
};

/*
 * Write a 20-byte IPv4 header at ip (the caller checked it is writable),
 * its checksum summed from the values rather than read back from the
 * header: the fields are stored by 1- to 4-byte writes, and 16-bit reads
 * across two of them would wait for both to reach the cache.
 */
ELB_INLINE void elb_write_ipv4_hdr(struct elb_ipv4_hdr *ip, const struct elb_ipv4_fields *f)
{
	uint32_t sum = 0x4500u | f->tos;

	sum = elb_csum_add16(sum, f->total_len);
	sum = elb_csum_add16(sum, elb_ntohs(f->id));
	sum = elb_csum_add16(sum, f->frag_off);
	sum = elb_csum_add16(sum, (uint16_t)(f->ttl << 8 | f->protocol));
	sum = elb_csum_add32(sum, elb_ntohl(f->saddr));
	sum = elb_csum_add32(sum, elb_ntohl(f->daddr));
	ip->version_ihl = 0x45;
	ip->tos = f->tos;
	ip->total_len = elb_htons(f->total_len);
	ip->id = f->id;
	ip->frag_off = elb_htons(f->frag_off);
	ip->ttl = f->ttl;
	ip->protocol = f->protocol;
	ip->check = elb_htons(elb_csum_finish(sum));
	ip->saddr = f->saddr;
	ip->daddr = f->daddr;
}

/*
 * Write the Ethernet, outer IP and (GUE) UDP headers, and with an alternate
 * the GUE header and private data, in front of the inner IP packet, which
 * already sits at frame + 14 + elb_encap_params_overhead() (see the top of
 * this file). flow_hash is the packet's flow hash: it gives the IPv6 flow
 * label and the GUE source port. Returns the new frame length,
 * 14 + overhead + pkt->l3_len, or -1 if [frame, end) is too short for it or
 * the combination is not supported (IPv6 in IPv4, unknown family).
 */
ELB_INLINE int elb_encap_write(uint8_t *frame, const uint8_t *end, const struct elb_packet *pkt,
			       const struct elb_encap_params *p, uint64_t flow_hash)
{
	uint32_t overhead = elb_encap_params_overhead(p);
	uint32_t outer_len = overhead + pkt->l3_len;
	uint32_t frame_len = (uint32_t)sizeof(struct elb_eth_hdr) + outer_len;
	uint8_t *l3 = frame + sizeof(struct elb_eth_hdr);
	uint8_t *next;
	uint8_t inner_proto;

	if (pkt->key.family == ELB_AF_INET)
		inner_proto = ELB_IPPROTO_IPIP;
	else if (pkt->key.family == ELB_AF_INET6 && p->outer_family == ELB_AF_INET6)
		inner_proto = ELB_IPPROTO_IPV6;
	else
		return -1;
	/* The new frame must lie in the buffer; then each header is checked
	 * where it is written, for the verifier. */
	if (frame + frame_len > end)
		return -1;
	if (elb_write_eth(frame, end, p->src_mac, p->dst_mac,
			  p->outer_family == ELB_AF_INET ? ELB_ETHERTYPE_IPV4 : ELB_ETHERTYPE_IPV6))
		return -1;

	if (p->outer_family == ELB_AF_INET) {
		struct elb_ipv4_hdr *ip = (void *)l3;

		if (outer_len > 0xffff)
			return -1;
		if ((const uint8_t *)(ip + 1) > end)
			return -1;
		elb_write_ipv4_hdr(ip, &(struct elb_ipv4_fields){
			.tos = pkt->tos,
			.ttl = ELB_ENCAP_TTL,
			.protocol = p->gue ? ELB_IPPROTO_UDP : inner_proto,
			.total_len = (uint16_t)outer_len,
			.id = pkt->ipv4_id,
			.frag_off = (pkt->flags & ELB_PKT_DF) ? ELB_IPV4_DF : 0,
			.saddr = p->outer_src.v4,
			.daddr = p->outer_dst.v4,
		});
		next = (uint8_t *)(ip + 1);
	} else if (p->outer_family == ELB_AF_INET6) {
		struct elb_ipv6_hdr *ip6 = (void *)l3;
		uint32_t label = (uint32_t)flow_hash & ELB_IPV6_FLOW_LABEL_MASK;

		if (outer_len - sizeof(*ip6) > 0xffff)
			return -1;
		if ((const uint8_t *)(ip6 + 1) > end)
			return -1;
		ip6->ver_tc_flow = elb_htonl(6u << 28 | (uint32_t)pkt->tos << 20 | label);
		ip6->payload_len = elb_htons((uint16_t)(outer_len - sizeof(*ip6)));
		ip6->nexthdr = p->gue ? ELB_IPPROTO_UDP : inner_proto;
		ip6->hop_limit = ELB_ENCAP_TTL;
		elb_memcpy(ip6->saddr, p->outer_src.v6, 16);
		elb_memcpy(ip6->daddr, p->outer_dst.v6, 16);
		next = (uint8_t *)(ip6 + 1);
	} else {
		return -1;
	}

	if (p->gue) {
		struct elb_udp_hdr *udp = (void *)next;
		uint16_t sport =
			(uint16_t)(ELB_GUE_SPORT_BASE | (flow_hash & ELB_GUE_SPORT_HASH_MASK));

		if ((const uint8_t *)(udp + 1) > end)
			return -1;
		udp->sport = elb_htons(sport);
		udp->dport = p->gue_dport;
		/* Covers the GUE header and private data, if any. */
		udp->len = elb_htons((uint16_t)(outer_len - (uint32_t)(next - l3)));
		udp->check = 0; /* see the top of this file */
		if (p->has_alternate) {
			struct elb_gue_hdr *gue = (void *)(udp + 1);
			struct elb_gue_priv_hdr *priv = (void *)(gue + 1);
			uint8_t *alt = (uint8_t *)(priv + 1);

			if ((const uint8_t *)(priv + 1) > end)
				return -1;
			gue->ver_c_hlen = (uint8_t)(elb_gue_priv_len(p->outer_family) / 4);
			gue->proto = inner_proto;
			gue->flags = 0;
			priv->magic = ELB_GUE_PRIV_MAGIC;
			priv->type = ELB_GUE_PRIV_SECOND_CHANCE;
			priv->hops_left = ELB_GUE_PRIV_HOPS_FROM_BALANCER;
			priv->family = p->outer_family;
			if (p->outer_family == ELB_AF_INET) {
				if (alt + 4 > end)
					return -1;
				elb_memcpy(alt, &p->alternate.v4, 4);
			} else {
				if (alt + 16 > end)
					return -1;
				elb_memcpy(alt, p->alternate.v6, 16);
			}
		}
	}
	return (int)frame_len;
}

/*
 * Turn the packet into an ICMP "too big" for its sender: fragmentation
 * needed (type 3 code 4, next-hop MTU in the low 16 bits of the rest field,
 * RFC 1191) for IPv4, packet too big (type 2 code 0, 32-bit MTU, RFC 4443)
 * for IPv6. Sent from the VIP (pkt->key.dst) to the client (pkt->key.src),
 * TTL/hop limit ELB_ICMP_REPLY_TTL, quoting the first
 * min(pkt->l3_len, ELB_ICMP_QUOTE_MAX) bytes of the original IP packet.
 *
 * `frame` = old frame start + pkt->l3_off - (14 + elb_icmp_too_big_headroom()),
 * so the quote already sits in place (see the top of this file). Call only
 * on ELB_MTU_TOO_BIG_REPLY: the key is the packet's own addresses only when
 * it is not an ICMP error, and the checks of elb_encap_mtu_check() are not
 * repeated here. mtu_for_client is elb_encap_inner_mtu(). Returns the new
 * frame length or -1 if [frame, end) is too short.
 */
ELB_INLINE int elb_icmp_too_big_write(uint8_t *frame, const uint8_t *end,
				      const struct elb_packet *pkt, uint32_t mtu_for_client,
				      const uint8_t src_mac[6], const uint8_t dst_mac[6])
{
	uint32_t quote_len = pkt->l3_len < ELB_ICMP_QUOTE_MAX ? pkt->l3_len : ELB_ICMP_QUOTE_MAX;
	uint32_t ip_and_icmp = elb_icmp_too_big_headroom(pkt->key.family);
	uint32_t frame_len = (uint32_t)sizeof(struct elb_eth_hdr) + ip_and_icmp + quote_len;
	uint8_t *l3 = frame + sizeof(struct elb_eth_hdr);
	struct elb_icmp_hdr *icmp;
	const uint8_t *quote;
	uint32_t sum;

	if (frame + frame_len > end)
		return -1;

	if (pkt->key.family == ELB_AF_INET) {
		struct elb_ipv4_hdr *ip = (void *)l3;
		uint32_t mtu16 = mtu_for_client < 0xffff ? mtu_for_client : 0xffff;

		if (elb_write_eth(frame, end, src_mac, dst_mac, ELB_ETHERTYPE_IPV4))
			return -1;
		if ((const uint8_t *)(ip + 1) > end)
			return -1;
		elb_write_ipv4_hdr(ip, &(struct elb_ipv4_fields){
			.tos = ELB_ICMP_ERROR_TOS,
			.ttl = ELB_ICMP_REPLY_TTL,
			.protocol = ELB_IPPROTO_ICMP,
			.total_len = (uint16_t)(ip_and_icmp + quote_len),
			.saddr = pkt->key.dst.v4,
			.daddr = pkt->key.src.v4,
		});

		icmp = (void *)(ip + 1);
		if ((const uint8_t *)(icmp + 1) > end)
			return -1;
		icmp->type = ELB_ICMP_DEST_UNREACH;
		icmp->code = ELB_ICMP_FRAG_NEEDED;
		icmp->rest = elb_htonl(mtu16);
		sum = 0;
		quote = (const uint8_t *)(icmp + 1);
	} else {
		struct elb_ipv6_hdr *ip6 = (void *)l3;

		if (elb_write_eth(frame, end, src_mac, dst_mac, ELB_ETHERTYPE_IPV6))
			return -1;
		if ((const uint8_t *)(ip6 + 1) > end)
			return -1;
		ip6->ver_tc_flow = elb_htonl(6u << 28);
		ip6->payload_len = elb_htons((uint16_t)(sizeof(*icmp) + quote_len));
		ip6->nexthdr = ELB_IPPROTO_ICMPV6;
		ip6->hop_limit = ELB_ICMP_REPLY_TTL;
		elb_memcpy(ip6->saddr, pkt->key.dst.v6, 16);
		elb_memcpy(ip6->daddr, pkt->key.src.v6, 16);

		icmp = (void *)(ip6 + 1);
		if ((const uint8_t *)(icmp + 1) > end)
			return -1;
		icmp->type = ELB_ICMPV6_PKT_TOOBIG;
		icmp->code = 0;
		icmp->rest = elb_htonl(mtu_for_client);
		sum = elb_csum_ipv6_pseudo(&pkt->key.dst, &pkt->key.src,
					   (uint32_t)sizeof(*icmp) + quote_len, ELB_IPPROTO_ICMPV6);
		quote = (const uint8_t *)(icmp + 1);
	}
	sum = elb_csum_add16(sum, (uint16_t)(icmp->type << 8 | icmp->code));
	sum = elb_csum_add32(sum, elb_ntohl(icmp->rest));
	if (elb_csum_add_bounded(&sum, quote, end, quote_len))
		return -1;
	icmp->check = elb_htons(elb_csum_finish(sum));
	return (int)frame_len;
}

#endif /* ELB_ENCAP_H */
