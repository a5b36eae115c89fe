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
 *   either outer, UDP to gue_port (GUE variant 1: the inner IP packet right
 *   after the UDP header, its family told by the first nibble)
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
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

/* Destination UDP port of GUE, host order; the loader sets it before loading. */
const volatile __u16 gue_port = 6080;

#define IPV4_MORE_FRAGMENTS 0x2000
#define IPV4_FRAGMENT_OFFSET 0x1fff

/* The ethertype of an IP packet starting at `inner`, from its version
 * nibble; 0 if it is not IPv4 or IPv6 or not there. */
static __always_inline __u16 inner_ethertype(const void *inner, const void *data_end)
{
	const __u8 *version = inner;

	if ((const void *)(version + 1) > data_end)
		return 0;
	switch (*version >> 4) {
	case 4:
		return ETH_P_IP;
	case 6:
		return ETH_P_IPV6;
	}
	return 0;
}

SEC("xdp")
int elb_decap(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	__u8 mac_addresses[2 * ETH_ALEN];
	__u32 outer_len;
	__u16 ethertype;
	__u8 proto;

	if ((void *)(eth + 1) > data_end)
		return XDP_PASS;

	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);

		if ((void *)(ip + 1) > data_end)
			return XDP_PASS;
		if (ip->version != 4 || ip->ihl < 5)
			return XDP_PASS;
		if (ip->frag_off & bpf_htons(IPV4_MORE_FRAGMENTS | IPV4_FRAGMENT_OFFSET))
			return XDP_PASS;
		outer_len = ip->ihl * 4;
		proto = ip->protocol;
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);

		if ((void *)(ip6 + 1) > data_end)
			return XDP_PASS;
		if (ip6->version != 6)
			return XDP_PASS;
		outer_len = sizeof(*ip6);
		proto = ip6->nexthdr;
	} else {
		return XDP_PASS;
	}

	if (proto == IPPROTO_UDP) {
		struct udphdr *udp = data + ETH_HLEN + outer_len;

		if ((void *)(udp + 1) > data_end)
			return XDP_PASS;
		if (udp->dest != bpf_htons(gue_port))
			return XDP_PASS;
		outer_len += sizeof(*udp);
		ethertype = inner_ethertype(udp + 1, data_end);
	} else if (proto == IPPROTO_IPIP || proto == IPPROTO_IPV6) {
		ethertype = inner_ethertype(data + ETH_HLEN + outer_len, data_end);
		/* The protocol number names the inner family: a mismatch is a
		 * malformed packet, left to the kernel to drop. */
		if (ethertype != (proto == IPPROTO_IPIP ? ETH_P_IP : ETH_P_IPV6))
			return XDP_PASS;
	} else {
		return XDP_PASS;
	}
	if (!ethertype)
		return XDP_PASS;

	__builtin_memcpy(mac_addresses, eth, sizeof(mac_addresses));
	if (bpf_xdp_adjust_head(ctx, (int)outer_len))
		return XDP_PASS; /* nothing was changed */

	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	eth = data;
	if ((void *)(eth + 1) > data_end)
		return XDP_DROP; /* cannot happen: the inner header was checked above */
	__builtin_memcpy(eth, mac_addresses, sizeof(mac_addresses));
	eth->h_proto = bpf_htons(ethertype);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
