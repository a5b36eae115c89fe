/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * edgelb-pktgen: what a generated frame is, and the builders of each kind.
 *
 * A frame is built together with its truth record, the generator's own
 * statement of what the frame is and what a balancer should do with it.
 * "expect" assumes the reference configuration the tests set up:
 *   - a TCP and a UDP VIP on each of --vip4 and --vip6 (same address:port),
 *     port VIPs (not all-ports), with backends;
 *   - no rate limit;
 *   - a 1500-byte MTU toward the backends, any encapsulation.
 * Under it: VIP flow packets and ICMP errors about them are forwarded;
 * big packets (IP length 1481-1500, DF) are not (the balancer answers
 * "too big"); fragments are dropped (a port VIP cannot take them); non-VIP
 * traffic goes to the kernel; malformed frames are dropped for "reason".
 * rate_flood packets say "forward": whether a limiter drops them depends on
 * the limit a test configures, which the test applies itself.
 */
#ifndef PKTGEN_H
#define PKTGEN_H

#include <stdbool.h>
#include <stdint.h>

#include "pktgen_prng.h"
#include "pktgen_wire.h"

/* Largest IP packet of ordinary traffic: fits a 1500-byte MTU after any
 * encapsulation (IPv6 outer + UDP for GUE: 48 bytes). */
#define REGULAR_MAX_IP_LEN 1400
/* Big packets: above 1500 - 20, the smallest overhead (IPv4 in IPv4). */
#define BIG_MIN_IP_LEN 1481
#define BIG_MAX_IP_LEN 1500
/* Fragment data per fragment (8-aligned), so a fragment stays below
 * REGULAR_MAX_IP_LEN: 20 + 1376 and 40 + 8 + 1352. */
#define FRAG_DATA_V4 1376
#define FRAG_DATA_V6 1352
#define DATAGRAM_MAX_FRAGS 3
#define FLOOD_BURST_PACKETS 200 /* per rate-flood flow, within 1 ms */

/* The addresses traffic is generated for. Index 0 is IPv4, 1 is IPv6. */
struct gen_net {
	uint8_t vip[2][16];
	uint16_t vip_port[2];
	uint8_t other_dst[2][16];
};

static inline int family_index(uint8_t family)
{
	return family == 6;
}

/* The truth record of one frame. Unset fields are written as null. */
struct truth {
	const char *kind;   /* flow, icmp_error, rate_flood, big, fragment, non_vip, malformed */
	uint8_t family;     /* 4 or 6; 0: null (no IP header was built) */
	const char *proto;  /* tcp, udp, icmp, icmpv6, arp; NULL: null */
	int64_t flow;       /* -1: null */
	uint8_t vip_family; /* the VIP of that family; 0: null */
	uint8_t client_family;
	uint8_t client[16];
	uint16_t client_port;
	int tcp_flags;      /* WIRE_TCP_* bits; -1: null */
	const char *expect; /* forward, kernel, drop */
	const char *reason; /* malformation; NULL: null */
	/* Written only when set. */
	int vlan;                /* VLAN ID, -1: untagged */
	const char *frag;        /* "first" or "later" */
	int icmp_type;           /* -1: not ICMP */
	int icmp_code;
	const char *inner_proto; /* of the packet an ICMP error quotes */
	uint8_t dst_family;      /* non-VIP traffic: where it was sent */
	uint8_t dst[16];
};

void truth_init(struct truth *t, const char *kind, const char *expect);

struct frame_out {
	uint8_t data[FRAME_MAX_LEN];
	size_t len;
	struct truth truth;
};

/* One client flow to a VIP, and where it is in its life. */
struct flow {
	uint32_t id;
	uint8_t family;
	uint8_t proto; /* WIRE_PROTO_TCP or WIRE_PROTO_UDP */
	bool flood;    /* a rate-flood flow: one burst */
	bool ends_with_rst;
	struct l2_params l2;
	uint8_t ipv4_options_len;
	bool ipv6_dstopts;
	bool df;
	uint8_t client[16];
	uint16_t client_port;
	uint8_t ttl;
	uint8_t tos;
	uint16_t next_ip_id;
	uint32_t flow_label;
	uint32_t client_seq; /* next sequence number the client sends */
	uint32_t server_seq; /* next byte expected from the server: the client's ACK */
	uint32_t n_packets;  /* of the flow's own stream, big ones included */
	uint32_t n_big;
	uint32_t sent;
	uint32_t big_sent;
	uint64_t key_start; /* where the flow's packets lie in the interleaving */
	uint64_t key_len;
	struct prng rng;
};

/* Draw a flow's addresses and habits from rng, which becomes the flow's own. */
void flow_init(struct flow *f, uint32_t id, uint8_t family, uint8_t proto,
	       const struct prng *rng);
/* Draw a new client address and port, after a collision with another flow. */
void flow_redraw_client(struct flow *f);

enum flow_role {
	ROLE_SYN,
	ROLE_HANDSHAKE_ACK,
	ROLE_DATA,      /* TCP: ROLE_PUSH_DATA or ROLE_PURE_ACK, drawn; UDP: a request */
	ROLE_PUSH_DATA, /* TCP: PSH-ACK with data */
	ROLE_PURE_ACK,  /* TCP: ACK without data */
	ROLE_BIG,
	ROLE_FIN,
	ROLE_LAST_ACK,
	ROLE_RST,
};

void flow_build_packet(const struct gen_net *net, struct flow *f, enum flow_role role,
		       struct frame_out *out);
/* The flow's next packet, its role decided by its position in the flow. */
void flow_next_packet(const struct gen_net *net, struct flow *f, struct frame_out *out);

/* One UDP datagram of a flow, sent as n_frags (2 to DATAGRAM_MAX_FRAGS) IP fragments. */
struct datagram {
	uint32_t flow;        /* index in the flow array */
	uint32_t udp_len;     /* UDP header + payload */
	uint8_t n_frags;
	uint8_t sent;
	bool id_assigned;
	uint16_t ipv4_id;
	uint32_t ipv6_id;
	uint64_t payload_seed; /* the datagram is rebuilt from it for each fragment */
};

void datagram_init(struct datagram *d, uint32_t flow_index, uint8_t family, uint8_t n_frags,
		   struct prng *rng);
void datagram_build_fragment(const struct gen_net *net, struct flow *f, struct datagram *d,
			     unsigned int index, struct frame_out *out);

enum icmp_error_variant {
	ICMP_ERR_RANDOM = -1,
	ICMP_ERR_FRAG_NEEDED, /* ICMPv4 3/4; ICMPv6 packet too big */
	ICMP_ERR_UNREACH,     /* host / address unreachable */
	ICMP_ERR_PROHIBITED,  /* administratively prohibited */
};

/* An ICMP error from a router to the VIP about a packet the backend sent to f. */
void icmp_error_build(const struct gen_net *net, struct flow *f, int variant, struct prng *rng,
		      struct frame_out *out);

enum non_vip_kind {
	NON_VIP_ARP,            /* IPv4 only */
	NON_VIP_OTHER_DST,      /* to the node's own address */
	NON_VIP_ECHO_VIP,       /* ICMP echo request to a VIP address */
	NON_VIP_VIP_OTHER_PORT, /* to a VIP address, on a port with no VIP */
	NON_VIP_KIND_COUNT,
};

void non_vip_build(const struct gen_net *net, enum non_vip_kind kind, uint8_t family,
		   struct prng *rng, struct frame_out *out);

/* The malformations, named as the balancer's reason counters. */
#define MALFORMED_LIST(X)                                                                     \
	X(ETH_TRUNCATED, "eth_truncated")                                                     \
	X(VLAN_TRUNCATED, "vlan_truncated")                                                   \
	X(IPV4_TRUNCATED, "ipv4_truncated")                                                   \
	X(IPV4_BAD_VERSION, "ipv4_bad_version")                                               \
	X(IPV4_BAD_IHL, "ipv4_bad_ihl")                                                       \
	X(IPV4_OPTIONS_TRUNCATED, "ipv4_options_truncated")                                   \
	X(IPV4_BAD_TOTAL_LEN, "ipv4_bad_total_len")                                           \
	X(IPV4_BAD_FRAGMENT, "ipv4_bad_fragment")                                             \
	X(IPV6_TRUNCATED, "ipv6_truncated")                                                   \
	X(IPV6_BAD_VERSION, "ipv6_bad_version")                                               \
	X(IPV6_BAD_PAYLOAD_LEN, "ipv6_bad_payload_len")                                       \
	X(IPV6_EXT_TRUNCATED, "ipv6_ext_truncated")                                           \
	X(IPV6_EXT_CHAIN, "ipv6_ext_chain")                                                   \
	X(IPV6_BAD_FRAGMENT, "ipv6_bad_fragment")                                             \
	X(TCP_TRUNCATED, "tcp_truncated")                                                     \
	X(TCP_BAD_DOFF, "tcp_bad_doff")                                                       \
	X(UDP_TRUNCATED, "udp_truncated")                                                     \
	X(UDP_BAD_LEN, "udp_bad_len")                                                         \
	X(ICMP_TRUNCATED, "icmp_truncated")                                                   \
	X(ICMP_INNER_TRUNCATED, "icmp_inner_truncated")                                       \
	X(ICMP_INNER_BAD, "icmp_inner_bad")

enum malformed_kind {
#define MALFORMED_ENUM(name, text) MAL_##name,
	MALFORMED_LIST(MALFORMED_ENUM)
#undef MALFORMED_ENUM
	MALFORMED_COUNT
};

extern const char *const malformed_names[MALFORMED_COUNT];

/* One frame with exactly that malformation; variants and family drawn from rng. */
void malformed_build(const struct gen_net *net, enum malformed_kind kind, struct prng *rng,
		     struct frame_out *out);

/* Well-formed single frames from src to dst, used by several kinds; each
 * sets ip->proto. Return the frame length. */
size_t build_tcp_syn_frame(uint8_t *frame, const struct l2_params *l2, struct ip_params *ip,
			   uint16_t sport, uint16_t dport, struct prng *rng);
size_t build_udp_frame(uint8_t *frame, const struct l2_params *l2, struct ip_params *ip,
		       uint16_t sport, uint16_t dport, size_t payload_len, struct prng *rng);
size_t build_icmp_echo_frame(uint8_t *frame, const struct l2_params *l2, struct ip_params *ip,
			     uint16_t ident, size_t payload_len, struct prng *rng);

/* Client addresses: flows and non-VIP traffic from 198.18.0.0/16 and
 * 2001:db8:c1::/48, malformed frames from 198.19.0.0/24 and 2001:db8:bad::/48,
 * ICMP errors from routers in 203.0.113.0/24 and 2001:db8:ffff::/48. */
void random_client_addr(uint8_t family, struct prng *rng, uint8_t addr[16]);
void random_malformed_src(uint8_t family, struct prng *rng, uint8_t addr[16]);
void random_router_addr(uint8_t family, struct prng *rng, uint8_t addr[16]);

#endif /* PKTGEN_H */
