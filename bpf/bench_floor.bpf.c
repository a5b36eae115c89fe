/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * The floors the benchmarks measure the balancer against, in the same run:
 * an empty program (the cost of BPF_PROG_TEST_RUN itself, or of XDP_PASS on
 * an interface), and the least a forwarder does: parse Ethernet/IPv4 and a
 * TCP or UDP header, swap the MACs, XDP_TX. tools/xdp-veth-bench also
 * attaches sink_drop to the veth peer that receives what is sent back.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "elb_wire.h"

SEC("xdp")
int floor_pass(struct xdp_md *ctx)
{
	(void)ctx;
	return XDP_PASS;
}

SEC("xdp")
int floor_swap_tx(struct xdp_md *ctx)
{
	uint8_t *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct elb_eth_hdr *eth = (void *)data;
	struct elb_ipv4_hdr *ip = (void *)(eth + 1);
	struct elb_udp_hdr *l4; /* the ports of TCP and UDP are at the same place */
	uint8_t mac[ELB_ETH_ALEN];

	if ((uint8_t *)(ip + 1) > end || eth->ethertype != elb_htons(ELB_ETHERTYPE_IPV4))
		return XDP_PASS;
	l4 = (void *)((uint8_t *)ip + (ip->version_ihl & 0xf) * 4);
	if ((uint8_t *)(l4 + 1) > end ||
	    (ip->protocol != ELB_IPPROTO_TCP && ip->protocol != ELB_IPPROTO_UDP))
		return XDP_PASS;
	elb_memcpy(mac, eth->dst, ELB_ETH_ALEN);
	elb_memcpy(eth->dst, eth->src, ELB_ETH_ALEN);
	elb_memcpy(eth->src, mac, ELB_ETH_ALEN);
	return XDP_TX;
}

/* The receiving end of a veth benchmark: on veth, frames sent with XDP_TX
 * reach the peer only when the peer has an XDP program of its own. */
SEC("xdp")
int sink_drop(struct xdp_md *ctx)
{
	(void)ctx;
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
