/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Backend-side decapsulation of what the balancer sends (direct server
 * return), for backends whose kernel has no ipip/ip6tnl/fou: an XDP program
 * on the backend's interface strips the outer header and hands the inner
 * packet to the kernel (XDP_PASS), which delivers it to the VIP held on the
 * backend's loopback; the reply goes straight to the client.
 *
 * Recognized (dataplane/core/elb_encap.h is the sender):
 *   IPv4 outer, protocol 4 (IPv4 in IPv4) or 41 (IPv6 in IPv4, harmless to accept)
 *   IPv6 outer, next header 41 (IPv6 in IPv6) or 4 (IPv4 in IPv6)
 *   either outer, UDP to gue_port:
 *     GUE variant 1: the inner IP packet right after the UDP header, its
 *     family told by the first nibble;
 *     GUE variant 0 (data, C clear): the inner packet after the 4-byte GUE
 *     header and Hlen words, its family told by the header's proto (4 or
 *     41) and checked against the first nibble.
 * The outer IP header is taken as is: IPv4 with options is fine, IPv6
 * extension headers are not followed (the balancer adds none) and such a
 * packet passes untouched. Outer IPv4 fragments pass untouched too: only the
 * kernel can reassemble them, and the balancer sets DF whenever the inner has it.
 *
 * Which packets: any encapsulated packet arriving on the interface, whatever
 * its outer destination. This is what an `ip tunnel ... remote any local any`
 * device does too; the inner packet is then subject to the kernel's normal
 * input: it is delivered only if its destination is local (the VIP on lo),
 * and forwarded only if the host forwards. Filtering on the outer source
 * (the balancers' addresses) belongs in a firewall rule or a later option.
 *
 * The frame keeps its Ethernet addresses; only the ethertype changes to the
 * inner family's, so the kernel sees an ordinary frame carrying the inner
 * packet. Everything else is passed untouched.
 *
 * Second chance (issue 16, layout in dataplane/core/elb_second_chance.h):
 * a GUE variant 0 packet whose private data is edgelb's names an alternate
 * backend, the previous owner of the connection's Maglev slot. Such a
 * packet is kept here (decapsulated as above) unless it is a TCP segment
 * without SYN that no local socket owns; that one goes on to the alternate,
 * still encapsulated: outer destination := the alternate, outer source :=
 * the address it arrived at, hops left := 0, TTL / hop limit
 * ELB_DECAP_FORWARD_TTL, MACs from the kernel's FIB and neighbour table,
 * out of the interface it came in on (XDP_TX) or the one the FIB names
 * (bpf_redirect). The alternate keeps whatever arrives with hops left 0, so
 * a packet that no backend knows moves once and stops there: the kernel of
 * the alternate answers it with a RST, as without second chance.
 *   - "Owns": bpf_skc_lookup_tcp in this host's network namespace finds an
 *     established, request or time-wait socket; or only a listener, and the
 *     segment is an ACK carrying a valid SYN cookie of that listener
 *     (bpf_tcp_check_syncookie: a handshake that completes here without a
 *     request socket).
 *   - SYNs stay: a connection starts where it lands. UDP and everything
 *     that is not a TCP segment's start stay too: a UDP "connection" has no
 *     socket to find, so there is nothing to decide on.
 *   - No route or neighbour toward the alternate (bpf_fib_lookup fails):
 *     kept, and counted. The lookup is the one for a packet this host sends
 *     (BPF_FIB_LOOKUP_OUTPUT, out of the receiving interface), but the
 *     kernel answers it only when forwarding is on for that interface
 *     (net.ipv4.conf.IF.forwarding, net.ipv6.conf.IF.forwarding); when it
 *     is off, everything is kept and counted as such (the loader warns).
 * Each decision is counted per CPU by reason (bpf/decap.h); `edgelb-decap
 * --stats` reads the counters. second_chance = 0 at load keeps everything
 * (the negative control of the drills).
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "decap.h"
#include "elb_csum.h"
#include "elb_second_chance.h"
#include "elb_wire.h"

/* Destination UDP port of GUE, host order; the loader sets it before loading. */
const volatile uint16_t gue_port = 6080;
/* 0: packets carrying an alternate are kept like any other (the loader's
 * --no-second-chance). */
const volatile uint8_t second_chance = 1;

/* TTL / hop limit of a packet sent on to the alternate: a new packet of
 * this host, as the balancer's is (ELB_ENCAP_TTL). */
#define ELB_DECAP_FORWARD_TTL 64

/* bpf_fib_lookup's families are the socket API's. */
#define ELB_DECAP_AF_INET 2
#define ELB_DECAP_AF_INET6 10

/* The version field of GUE's first byte (ELB_GUE_VERSION_MASK): variant
 * 1 is IPv4's or IPv6's first nibble (0b01xx). */
#define ELB_DECAP_GUE_VERSION0 0x00
#define ELB_DECAP_GUE_VERSION1 0x40

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ELB_DECAP_STAT_COUNT);
	__type(key, uint32_t);
	__type(value, uint64_t);
} decap_stats SEC(".maps");

static __always_inline void count(enum elb_decap_stat stat)
{
	uint32_t key = stat;
	uint64_t *value = bpf_map_lookup_elem(&decap_stats, &key);

	if (value)
		*value += 1; /* per CPU: no other writer */
}

/* The ethertype of an IP packet starting at `inner`, from its version
 * nibble; 0 if it is not IPv4 or IPv6 or not there. */
static __always_inline uint16_t inner_ethertype(const uint8_t *inner, const uint8_t *end)
{
	if (inner + 1 > end)
		return 0;
	switch (*inner >> 4) {
	case 4:
		return ELB_ETHERTYPE_IPV4;
	case 6:
		return ELB_ETHERTYPE_IPV6;
	}
	return 0;
}

/* The inner ethertype when the outer header's protocol number (IP-in-IP,
 * GUE variant 0) names the inner family: 0 when the packet there is not of
 * that family, a malformed packet left to the kernel. */
static __always_inline uint16_t announced_ethertype(uint8_t proto, const uint8_t *inner,
						    const uint8_t *end)
{
	uint16_t ethertype = inner_ethertype(inner, end);

	if (proto == ELB_IPPROTO_IPIP && ethertype == ELB_ETHERTYPE_IPV4)
		return ethertype;
	if (proto == ELB_IPPROTO_IPV6 && ethertype == ELB_ETHERTYPE_IPV6)
		return ethertype;
	return 0;
}

/*
 * edgelb's second-chance private data at the start of a GUE variant 0
 * header's Hlen words: 1 when it is there and whole (the fixed part and an
 * alternate of the outer family within Hlen and the packet), 0 when the
 * private data is someone else's (or absent, or behind optional fields we
 * do not parse: flags set), -1 when it is ours but cut short or of the
 * wrong family.
 */
static __always_inline int our_private_data(const struct elb_gue_hdr *gue, const uint8_t *end,
					    uint8_t outer_family)
{
	const struct elb_gue_priv_hdr *priv = (const void *)(gue + 1);
	uint32_t hlen_bytes = (gue->ver_c_hlen & ELB_GUE_HLEN_MASK) * 4u;

	if (gue->flags != 0 || hlen_bytes < sizeof(*priv))
		return 0;
	if ((const uint8_t *)(priv + 1) > end)
		return -1; /* the packet ends inside the Hlen words */
	if (priv->magic != ELB_GUE_PRIV_MAGIC || priv->type != ELB_GUE_PRIV_SECOND_CHANCE)
		return 0;
	if (priv->family != outer_family || elb_gue_priv_len(outer_family) > hlen_bytes)
		return -1;
	if (outer_family == ELB_AF_INET) {
		if ((const uint8_t *)(priv + 1) + 4 > end)
			return -1;
	} else {
		if ((const uint8_t *)(priv + 1) + 16 > end)
			return -1;
	}
	return 1;
}

/* Strip the outer_len bytes after the Ethernet header, keep the MACs, set
 * the inner ethertype: the kernel receives the inner packet. */
static __always_inline int decapsulate(struct xdp_md *ctx, uint32_t outer_len, uint16_t ethertype)
{
	uint8_t *data = (void *)(long)ctx->data;
	uint8_t *end = (void *)(long)ctx->data_end;
	struct elb_eth_hdr *eth = (void *)data;
	uint8_t mac_addresses[2 * ELB_ETH_ALEN];

	if ((uint8_t *)(eth + 1) > end)
		return XDP_PASS;
	elb_memcpy(mac_addresses, eth, sizeof(mac_addresses));
	if (bpf_xdp_adjust_head(ctx, (int)outer_len))
		return XDP_PASS; /* nothing was changed */

	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	eth = (void *)data;
	if ((uint8_t *)(eth + 1) > end)
		return XDP_DROP; /* cannot happen: the inner header was checked before */
	elb_memcpy(eth, mac_addresses, sizeof(mac_addresses));
	eth->ethertype = elb_htons(ethertype);
	return XDP_PASS;
}

/*
 * Does a local socket own the connection of this inner TCP segment (see
 * the top of this file)? Returns the reason to keep it, or
 * ELB_DECAP_FORWARDED when nothing here owns it. Every socket reference
 * the lookup returns is released before returning.
 */
static __always_inline enum elb_decap_stat local_owner(struct xdp_md *ctx, uint8_t *inner,
						       uint16_t ethertype, struct elb_tcp_hdr *tcp)
{
	struct bpf_sock_tuple tuple;
	enum elb_decap_stat verdict = ELB_DECAP_FORWARDED;
	uint8_t *end = (void *)(long)ctx->data_end;
	struct bpf_sock *sk;
	uint32_t tuple_len;

	elb_memset(&tuple, 0, sizeof(tuple));
	if (ethertype == ELB_ETHERTYPE_IPV4) {
		struct elb_ipv4_hdr *ip = (void *)inner;

		if ((uint8_t *)(ip + 1) > end)
			return ELB_DECAP_KEPT_NOT_TCP;
		tuple.ipv4.saddr = ip->saddr;
		tuple.ipv4.daddr = ip->daddr;
		tuple.ipv4.sport = tcp->sport;
		tuple.ipv4.dport = tcp->dport;
		tuple_len = sizeof(tuple.ipv4);
	} else {
		struct elb_ipv6_hdr *ip6 = (void *)inner;

		if ((uint8_t *)(ip6 + 1) > end)
			return ELB_DECAP_KEPT_NOT_TCP;
		elb_memcpy(tuple.ipv6.saddr, ip6->saddr, 16);
		elb_memcpy(tuple.ipv6.daddr, ip6->daddr, 16);
		tuple.ipv6.sport = tcp->sport;
		tuple.ipv6.dport = tcp->dport;
		tuple_len = sizeof(tuple.ipv6);
	}
	sk = bpf_skc_lookup_tcp(ctx, &tuple, tuple_len, BPF_F_CURRENT_NETNS, 0);
	if (!sk)
		return ELB_DECAP_FORWARDED;
	if (sk->state != BPF_TCP_LISTEN) {
		verdict = ELB_DECAP_KEPT_SOCKET;
	} else if (tcp->flags & ELB_TCP_ACK) {
		/* The header lengths are constants per branch: the verifier
		 * checks [iph, iph + iph_len) against the bounds proven above. */
		long cookie;

		if (ethertype == ELB_ETHERTYPE_IPV4)
			cookie = bpf_tcp_check_syncookie(sk, inner, sizeof(struct elb_ipv4_hdr),
							 (void *)tcp, sizeof(*tcp));
		else
			cookie = bpf_tcp_check_syncookie(sk, inner, sizeof(struct elb_ipv6_hdr),
							 (void *)tcp, sizeof(*tcp));
		if (cookie == 0)
			verdict = ELB_DECAP_KEPT_SYNCOOKIE;
	}
	bpf_sk_release(sk);
	return verdict;
}

/* Why a FIB lookup that did not succeed keeps the packet. */
static __always_inline enum elb_decap_stat fib_failure(long rc)
{
	return rc == BPF_FIB_LKUP_RET_FWD_DISABLED ? ELB_DECAP_KEPT_FORWARDING_OFF
						   : ELB_DECAP_KEPT_FIB_FAILED;
}

/*
 * Send the packet, still encapsulated, to the alternate named in its
 * private data (see the top of this file): returns the XDP action. The FIB
 * is asked first, so that a packet it has no way for is left as it came:
 * then returns -1 and *kept says why.
 */
static __always_inline int forward(struct xdp_md *ctx, uint32_t outer_ip_len, uint8_t outer_family,
				   enum elb_decap_stat *kept)
{
	uint8_t *data = (void *)(long)ctx->data;
	uint8_t *end = (void *)(long)ctx->data_end;
	struct elb_eth_hdr *eth = (void *)data;
	uint8_t *l3 = (uint8_t *)(eth + 1);
	struct elb_udp_hdr *udp = (void *)(l3 + outer_ip_len);
	struct elb_gue_hdr *gue = (void *)(udp + 1);
	struct elb_gue_priv_hdr *priv = (void *)(gue + 1);
	uint8_t *alternate = (uint8_t *)(priv + 1);
	struct bpf_fib_lookup fib;
	long rc;

	*kept = ELB_DECAP_KEPT_FIB_FAILED;
	/* The private data was checked before (our_private_data()); again for
	 * the verifier, on pointers derived anew from ctx. */
	if (alternate + 4 > end)
		return -1;
	elb_memset(&fib, 0, sizeof(fib));
	fib.l4_protocol = ELB_IPPROTO_UDP;
	fib.sport = udp->sport;
	fib.dport = udp->dport;
	fib.ifindex = ctx->ingress_ifindex;
	if (outer_family == ELB_AF_INET) {
		struct elb_ipv4_hdr *ip = (void *)l3;
		uint32_t sum = 0;

		if ((uint8_t *)(ip + 1) > end || alternate + 4 > end)
			return -1;
		fib.family = ELB_DECAP_AF_INET;
		fib.tos = ip->tos;
		fib.tot_len = elb_ntohs(ip->total_len);
		fib.ipv4_src = ip->daddr;
		elb_memcpy(&fib.ipv4_dst, alternate, 4);
		rc = bpf_fib_lookup(ctx, &fib, sizeof(fib), BPF_FIB_LOOKUP_OUTPUT);
		if (rc != BPF_FIB_LKUP_RET_SUCCESS) {
			*kept = fib_failure(rc);
			return -1;
		}
		ip->saddr = ip->daddr;
		elb_memcpy(&ip->daddr, alternate, 4);
		ip->ttl = ELB_DECAP_FORWARD_TTL;
		ip->check = 0;
		/* Options included: the header is taken as it came. Cannot
		 * fail (the header was read above); if it did, the caller
		 * strips this outer header anyway. */
		if (elb_csum_add_bounded(&sum, l3, end, outer_ip_len))
			return -1;
		ip->check = elb_htons(elb_csum_finish(sum));
	} else {
		struct elb_ipv6_hdr *ip6 = (void *)l3;

		if ((uint8_t *)(ip6 + 1) > end || alternate + 16 > end)
			return -1;
		fib.family = ELB_DECAP_AF_INET6;
		fib.flowinfo = ip6->ver_tc_flow & elb_htonl(0x0fffffff);
		fib.tot_len = (uint16_t)(sizeof(*ip6) + elb_ntohs(ip6->payload_len));
		elb_memcpy(fib.ipv6_src, ip6->daddr, 16);
		elb_memcpy(fib.ipv6_dst, alternate, 16);
		rc = bpf_fib_lookup(ctx, &fib, sizeof(fib), BPF_FIB_LOOKUP_OUTPUT);
		if (rc != BPF_FIB_LKUP_RET_SUCCESS) {
			*kept = fib_failure(rc);
			return -1;
		}
		elb_memcpy(ip6->saddr, ip6->daddr, 16);
		elb_memcpy(ip6->daddr, alternate, 16);
		ip6->hop_limit = ELB_DECAP_FORWARD_TTL;
	}
	/* The balancer sends a zero UDP checksum (elb_encap.h); the addresses
	 * it would cover have changed anyway. */
	udp->check = 0;
	priv->hops_left = 0;
	elb_memcpy(eth->dst, fib.dmac, ELB_ETH_ALEN);
	elb_memcpy(eth->src, fib.smac, ELB_ETH_ALEN);
	if (fib.ifindex == ctx->ingress_ifindex)
		return XDP_TX;
	return (int)bpf_redirect(fib.ifindex, 0);
}

/*
 * The decision for a packet that carries an alternate (inner at
 * ETH_HLEN + outer_len, of `ethertype`): the reason to keep it, or
 * ELB_DECAP_FORWARDED.
 */
static __always_inline enum elb_decap_stat second_chance_verdict(struct xdp_md *ctx,
								 uint32_t outer_len,
								 uint16_t ethertype,
								 uint8_t hops_left)
{
	uint8_t *data = (void *)(long)ctx->data;
	uint8_t *end = (void *)(long)ctx->data_end;
	uint8_t *inner = data + sizeof(struct elb_eth_hdr) + outer_len;
	struct elb_tcp_hdr *tcp;

	if (!second_chance)
		return ELB_DECAP_KEPT_SECOND_CHANCE_OFF;
	if (ethertype == ELB_ETHERTYPE_IPV4) {
		struct elb_ipv4_hdr *ip = (void *)inner;
		uint32_t ihl;

		if ((uint8_t *)(ip + 1) > end)
			return ELB_DECAP_KEPT_NOT_TCP;
		ihl = ip->version_ihl & 0xf;
		if (ihl < 5 || ip->protocol != ELB_IPPROTO_TCP ||
		    (ip->frag_off & elb_htons(ELB_IPV4_MF | ELB_IPV4_OFFSET_MASK)))
			return ELB_DECAP_KEPT_NOT_TCP;
		tcp = (void *)(inner + ihl * 4);
	} else {
		struct elb_ipv6_hdr *ip6 = (void *)inner;

		if ((uint8_t *)(ip6 + 1) > end || ip6->nexthdr != ELB_IPPROTO_TCP)
			return ELB_DECAP_KEPT_NOT_TCP;
		tcp = (void *)(ip6 + 1);
	}
	if ((uint8_t *)(tcp + 1) > end)
		return ELB_DECAP_KEPT_NOT_TCP;
	if (tcp->flags & ELB_TCP_SYN)
		return ELB_DECAP_KEPT_SYN;
	if (!hops_left)
		return ELB_DECAP_KEPT_HOPS_EXHAUSTED;
	return local_owner(ctx, inner, ethertype, tcp);
}

SEC("xdp")
int elb_decap(struct xdp_md *ctx)
{
	uint8_t *data = (void *)(long)ctx->data;
	uint8_t *end = (void *)(long)ctx->data_end;
	struct elb_eth_hdr *eth = (void *)data;
	uint8_t *l3 = (uint8_t *)(eth + 1);
	struct elb_gue_priv_hdr *priv;
	enum elb_decap_stat verdict;
	uint32_t outer_ip_len, outer_len;
	uint8_t outer_family, proto;
	uint16_t ethertype;
	int ours = 0;
	int action;

	if ((uint8_t *)(eth + 1) > end)
		return XDP_PASS;

	if (eth->ethertype == elb_htons(ELB_ETHERTYPE_IPV4)) {
		struct elb_ipv4_hdr *ip = (void *)l3;

		if ((uint8_t *)(ip + 1) > end)
			return XDP_PASS;
		if ((ip->version_ihl >> 4) != 4 || (ip->version_ihl & 0xf) < 5)
			return XDP_PASS;
		if (ip->frag_off & elb_htons(ELB_IPV4_MF | ELB_IPV4_OFFSET_MASK))
			return XDP_PASS;
		outer_ip_len = (ip->version_ihl & 0xf) * 4u;
		outer_family = ELB_AF_INET;
		proto = ip->protocol;
	} else if (eth->ethertype == elb_htons(ELB_ETHERTYPE_IPV6)) {
		struct elb_ipv6_hdr *ip6 = (void *)l3;

		if ((uint8_t *)(ip6 + 1) > end)
			return XDP_PASS;
		if ((elb_ntohl(ip6->ver_tc_flow) >> 28) != 6)
			return XDP_PASS;
		outer_ip_len = sizeof(*ip6);
		outer_family = ELB_AF_INET6;
		proto = ip6->nexthdr;
	} else {
		return XDP_PASS;
	}
	outer_len = outer_ip_len;

	if (proto == ELB_IPPROTO_UDP) {
		struct elb_udp_hdr *udp = (void *)(l3 + outer_ip_len);
		uint8_t *gue_start = (uint8_t *)(udp + 1);

		if (gue_start + 1 > end)
			return XDP_PASS;
		if (udp->dport != elb_htons(gue_port))
			return XDP_PASS;
		outer_len += sizeof(*udp);
		if ((*gue_start & ELB_GUE_VERSION_MASK) == ELB_DECAP_GUE_VERSION1) {
			ethertype = inner_ethertype(gue_start, end);
		} else if ((*gue_start & ELB_GUE_VERSION_MASK) == ELB_DECAP_GUE_VERSION0) {
			struct elb_gue_hdr *gue = (void *)gue_start;

			if ((uint8_t *)(gue + 1) > end)
				return XDP_PASS;
			/* A control message is for a GUE endpoint, not a packet to deliver. */
			if (gue->ver_c_hlen & ELB_GUE_CONTROL_BIT)
				return XDP_PASS;
			ours = our_private_data(gue, end, outer_family);
			outer_len += sizeof(*gue) + (gue->ver_c_hlen & ELB_GUE_HLEN_MASK) * 4u;
			ethertype = announced_ethertype(gue->proto, l3 + outer_len, end);
		} else {
			return XDP_PASS;
		}
	} else if (proto == ELB_IPPROTO_IPIP || proto == ELB_IPPROTO_IPV6) {
		/* The protocol number names the inner family: a mismatch is a
		 * malformed packet, left to the kernel to drop. */
		ethertype = announced_ethertype(proto, l3 + outer_len, end);
	} else {
		return XDP_PASS;
	}
	if (ours < 0 || (ours && !ethertype)) {
		count(ELB_DECAP_MALFORMED);
		return XDP_PASS;
	}
	if (!ethertype)
		return XDP_PASS;
	if (!ours) {
		count(ELB_DECAP_KEPT_NO_ALTERNATE);
		return decapsulate(ctx, outer_len, ethertype);
	}

	priv = (void *)(l3 + outer_ip_len + sizeof(struct elb_udp_hdr) +
			sizeof(struct elb_gue_hdr));
	if ((uint8_t *)(priv + 1) > end)
		return XDP_PASS; /* checked by our_private_data(); for the verifier */
	verdict = second_chance_verdict(ctx, outer_len, ethertype, priv->hops_left);
	if (verdict == ELB_DECAP_FORWARDED) {
		action = forward(ctx, outer_ip_len, outer_family, &verdict);
		if (action >= 0) {
			count(ELB_DECAP_FORWARDED);
			return action;
		}
	}
	count(verdict);
	return decapsulate(ctx, outer_len, ethertype);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
