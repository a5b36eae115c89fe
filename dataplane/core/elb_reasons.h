/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Why a packet was not forwarded: one list for the parser, the DPDK
 * dataplane and the XDP program, so that both dataplanes count drops under
 * the same names. Each X(NAME, "counter_name", "what happened") row becomes
 * ELB_REASON_NAME; the counter names are what the control socket reports.
 */
#ifndef ELB_REASONS_H
#define ELB_REASONS_H

#define ELB_REASON_LIST(X)                                                                   \
	X(NONE, "none", "no drop")                                                               \
	/* parser: malformed frames */                                                           \
	X(ETH_TRUNCATED, "eth_truncated", "frame shorter than an Ethernet header")               \
	X(VLAN_TRUNCATED, "vlan_truncated", "frame ends inside the 802.1Q tag")                  \
	X(IPV4_TRUNCATED, "ipv4_truncated", "frame ends inside the IPv4 header")                 \
	X(IPV4_BAD_VERSION, "ipv4_bad_version", "IPv4 ethertype but version is not 4")           \
	X(IPV4_BAD_IHL, "ipv4_bad_ihl", "IPv4 header length below 20 bytes")                     \
	X(IPV4_OPTIONS_TRUNCATED, "ipv4_options_truncated", "frame ends inside IPv4 options")    \
	X(IPV4_BAD_TOTAL_LEN, "ipv4_bad_total_len", "IPv4 total length below header or beyond frame") \
	X(IPV4_BAD_FRAGMENT, "ipv4_bad_fragment", "IPv4 fragment too small or past 64 KiB")      \
	X(IPV6_TRUNCATED, "ipv6_truncated", "frame ends inside the IPv6 header")                 \
	X(IPV6_BAD_VERSION, "ipv6_bad_version", "IPv6 ethertype but version is not 6")           \
	X(IPV6_BAD_PAYLOAD_LEN, "ipv6_bad_payload_len", "IPv6 payload length beyond frame, or jumbogram") \
	X(IPV6_EXT_TRUNCATED, "ipv6_ext_truncated", "IPv6 extension header beyond payload")       \
	X(IPV6_EXT_CHAIN, "ipv6_ext_chain", "IPv6 extension chain too long or repeats a fragment header") \
	X(IPV6_BAD_FRAGMENT, "ipv6_bad_fragment", "IPv6 fragment too small or past 64 KiB") \
	X(TCP_TRUNCATED, "tcp_truncated", "IP payload ends inside the TCP header")               \
	X(TCP_BAD_DOFF, "tcp_bad_doff", "TCP data offset below 5 or beyond the IP payload")      \
	X(UDP_TRUNCATED, "udp_truncated", "IP payload ends inside the UDP header")               \
	X(UDP_BAD_LEN, "udp_bad_len", "UDP length below 8 or beyond the IP payload")             \
	X(ICMP_TRUNCATED, "icmp_truncated", "IP payload ends inside the ICMP header")            \
	X(ICMP_INNER_TRUNCATED, "icmp_inner_truncated", "ICMP error quotes less than IP header + 8 bytes") \
	X(ICMP_INNER_BAD, "icmp_inner_bad", "ICMP error quotes a header that does not parse")    \
	/* dataplane decisions */                                                                \
	X(MULTI_SEGMENT, "multi_segment", "frame not in one contiguous buffer")                   \
	X(FRAGMENT_NO_VIP, "fragment_no_vip", "IP fragment to a VIP address without an all-ports VIP") \
	X(NO_BACKEND, "no_backend", "VIP has no backend to pick")                                \
	X(SOURCE_DENIED, "source_denied", "client address denied by a prefix list")              \
	X(RATE_LIMITED, "rate_limited", "flow above its per-flow rate limit")                    \
	X(SOURCE_RATE_LIMITED, "source_rate_limited", "source prefix above the VIP's packets/s limit") \
	X(SOURCE_NEW_FLOWS_LIMITED, "source_new_flows_limited", "source prefix above the VIP's new flows/s limit") \
	X(FLOW_TABLE_FULL, "flow_table_full", "no flow-table entry could be had for a new flow") \
	X(TOO_BIG, "too_big", "encapsulated packet above the MTU; ICMP reply sent to the client") \
	X(TOO_BIG_NO_REPLY, "too_big_no_reply", "encapsulated packet above the MTU and no ICMP reply allowed") \
	X(NO_HEADROOM, "no_headroom", "buffer lacks headroom for the outer headers")             \
	X(TX_FULL, "tx_full", "transmit queue did not take the packet")

enum elb_reason {
#define ELB_REASON_ENUM(name, counter, text) ELB_REASON_##name,
	ELB_REASON_LIST(ELB_REASON_ENUM)
#undef ELB_REASON_ENUM
	ELB_REASON_COUNT
};

#if !defined(__bpf__)
/* Counter name of a reason ("ipv4_bad_ihl"), or "unknown". */
const char *elb_reason_name(enum elb_reason reason);
/* One line a person can read ("IPv4 header length below 20 bytes"). */
const char *elb_reason_text(enum elb_reason reason);
#endif

#endif /* ELB_REASONS_H */
