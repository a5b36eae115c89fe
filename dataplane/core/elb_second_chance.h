/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Second chance (issue 16): a packet whose backend the balancer is not sure
 * of carries a second backend, the alternate, so that the backend it lands
 * on can hand it over when no local socket owns the connection (edgelb-decap
 * does that; see docs/). Shared by the DPDK pipeline, the XDP program and
 * the backend-side program.
 *
 * The alternate is the previous owner of the packet's Maglev slot: each
 * VIP's table has a parallel array of the backend slot that owned each
 * Maglev slot before the last change that moved it (elb_maglev_previous(),
 * control path). It goes on the wire as GUE variant 0 private data
 * (draft-ietf-intarea-gue-09, section 3), written by elb_encap_write():
 *
 *   outer IP | UDP (dport = GUE port, csum 0) |
 *   GUE header, 4 bytes:
 *     byte 0     ver 0 (2 bits) | C 0 (1 bit) | Hlen (5 bits): 32-bit words
 *                of private data after these 4 bytes: 2 (IPv4 alternate)
 *                or 5 (IPv6 alternate)
 *     byte 1     proto: the inner packet, 4 (IPv4) or 41 (IPv6)
 *     bytes 2-3  flags, 0
 *   private data, 4 + 4 or 4 + 16 bytes:
 *     byte 0     ELB_GUE_PRIV_MAGIC (a receiver that finds another value
 *                ignores the private data: not ours)
 *     byte 1     ELB_GUE_PRIV_SECOND_CHANCE
 *     byte 2     hops left: ELB_GUE_PRIV_HOPS_FROM_BALANCER from the
 *                balancer; a backend that forwards the packet sets 0, so a
 *                packet moves at most once
 *     byte 3     family of the alternate, 4 or 6 (the outer family)
 *     then       the alternate's address, network order
 *   inner IP packet
 *
 * A receiver that does not know our private data skips Hlen words and
 * decapsulates as usual (Linux fou in GUE mode does); without an alternate
 * the packet is today's GUE variant 1, byte for byte.
 *
 * Header-only and BPF-compatible, like elb_encap.h.
 */
#ifndef ELB_SECOND_CHANCE_H
#define ELB_SECOND_CHANCE_H

#include "elb_compat.h"
#include "elb_flow.h"
#include "elb_maglev.h"
#include "elb_parse.h"
#include "elb_wire.h"

#define ELB_GUE_PRIV_MAGIC 0xEB
#define ELB_GUE_PRIV_SECOND_CHANCE 1
#define ELB_GUE_PRIV_HOPS_FROM_BALANCER 1

/* GUE variant 0 base header: ver (2 bits) | C (1) | Hlen (5) in byte 0. */
#define ELB_GUE_VERSION_MASK 0xc0
#define ELB_GUE_CONTROL_BIT 0x20
#define ELB_GUE_HLEN_MASK 0x1f

struct elb_gue_hdr {
	uint8_t ver_c_hlen; /* version 0, C 0, Hlen in 32-bit words after this header */
	uint8_t proto;      /* inner protocol: ELB_IPPROTO_IPIP or ELB_IPPROTO_IPV6 */
	uint16_t flags;     /* 0: no optional fields */
} ELB_WIRE;

/* The fixed part of our private data; the alternate's address follows. */
struct elb_gue_priv_hdr {
	uint8_t magic;     /* ELB_GUE_PRIV_MAGIC */
	uint8_t type;      /* ELB_GUE_PRIV_SECOND_CHANCE */
	uint8_t hops_left; /* ELB_GUE_PRIV_HOPS_FROM_BALANCER, 0 once forwarded */
	uint8_t family;    /* of the alternate: ELB_AF_INET or ELB_AF_INET6 */
} ELB_WIRE;

_Static_assert(sizeof(struct elb_gue_hdr) == 4, "GUE header");
_Static_assert(sizeof(struct elb_gue_priv_hdr) == 4, "GUE private data header");

/* Private data bytes (after the 4-byte GUE header) for an alternate of this
 * family: 8 for IPv4, 20 for IPv6; Hlen is this / 4. */
ELB_INLINE uint32_t elb_gue_priv_len(uint8_t family)
{
	return (uint32_t)sizeof(struct elb_gue_priv_hdr) + (family == ELB_AF_INET ? 4u : 16u);
}

/* Bytes an alternate adds to GUE variant 1: the GUE header and the private
 * data, 12 for an IPv4 alternate and 24 for IPv6. */
ELB_INLINE uint32_t elb_second_chance_overhead(uint8_t family)
{
	return (uint32_t)sizeof(struct elb_gue_hdr) + elb_gue_priv_len(family);
}

#define ELB_SECOND_CHANCE_OVERHEAD_V4 12u
#define ELB_SECOND_CHANCE_OVERHEAD_V6 24u

/*
 * Does the previous owner of the packet's Maglev slot become its alternate?
 * The one decision of both dataplanes:
 *   - the VIP has second_chance on (which config allows only with GUE);
 *   - TCP only: the backend side never forwards UDP, the bytes would be
 *     carried for nothing;
 *   - previous_slot names a live backend slot of this VIP other than the
 *     chosen one, of the chosen backend's family: a forwarding backend
 *     rewrites only the outer destination.
 * previous_gen, previous_vip_index and previous_family are the fields of
 * the struct elb_backend_slot at previous_slot (elb_pipeline.h, which this
 * header cannot include: elb_pipeline.c includes elb_encap.h, which
 * includes this), or 0 when previous_slot is ELB_MAGLEV_EMPTY or past the
 * slots in use: a live slot has a non-zero generation, and unused slots are
 * all zero in the snapshot and in the XDP map alike.
 */
ELB_INLINE bool elb_second_chance_alternate_ok(uint8_t second_chance, uint8_t proto,
					       uint16_t vip_index, uint32_t chosen_slot,
					       uint8_t chosen_family, uint32_t previous_slot,
					       uint32_t previous_gen, uint16_t previous_vip_index,
					       uint8_t previous_family)
{
	return second_chance && proto == ELB_IPPROTO_TCP && previous_slot != ELB_MAGLEV_EMPTY &&
	       previous_slot != chosen_slot && previous_gen != 0 &&
	       previous_vip_index == vip_index && previous_family == chosen_family;
}

/*
 * Does a flow learned from this packet start where it is learned? Only a
 * TCP SYN (without ACK) says so; a flow learned from any other TCP segment
 * is learned mid-stream (ELB_FLOW_F_MIDSTREAM): its backend is Maglev's
 * guess. UDP has no SYN and is never mid-stream. One rule for the C
 * pipeline, the BPF program and explain.
 */
ELB_INLINE bool elb_flow_learned_midstream(const struct elb_packet *pkt)
{
	return pkt->key.proto == ELB_IPPROTO_TCP &&
	       (pkt->tcp_flags & (ELB_TCP_SYN | ELB_TCP_ACK)) != ELB_TCP_SYN;
}

#endif /* ELB_SECOND_CHANCE_H */
