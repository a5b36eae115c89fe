/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Internet checksum (RFC 1071) helpers, shared by the DPDK dataplane and the
 * XDP program: the outer IPv4 header of the encapsulation and the ICMP
 * "too big" replies (elb_encap.h).
 *
 * Convention: a running sum is a uint32_t of 16-bit words taken in network
 * order, i.e. the value (p[0] << 8) | p[1] of bytes p[0], p[1]; header
 * fields are added as host-order values. Reading bytes rather than uint16_t
 * loads keeps the code free of byte-order and alignment questions on both
 * targets. The final value is a host-order uint16_t: store it with
 * elb_htons(). A 32-bit accumulator takes 65537 words of 0xffff before it
 * could overflow; the callers here add fewer than 100.
 */
#ifndef ELB_CSUM_H
#define ELB_CSUM_H

#include "elb_compat.h"
#include "elb_flow.h"
#include "elb_wire.h"

/* Longest byte range elb_csum_add_bounded() sums: its loop runs this many
 * times / 2 whatever the length, so that the BPF verifier sees a constant
 * trip count. Must cover ELB_ICMP_QUOTE_MAX (checked in elb_encap.h). */
#ifndef ELB_CSUM_BOUNDED_MAX
#define ELB_CSUM_BOUNDED_MAX 128
#endif

/* Fold the carries of a running sum into 16 bits (not complemented). Two
 * rounds suffice for any 32-bit sum: the first leaves at most 0x1fffe. */
ELB_INLINE uint16_t elb_csum_fold(uint32_t sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

/* The checksum field value of a finished sum, host order. */
ELB_INLINE uint16_t elb_csum_finish(uint32_t sum)
{
	return (uint16_t)~elb_csum_fold(sum);
}

ELB_INLINE uint32_t elb_csum_add16(uint32_t sum, uint16_t value)
{
	return sum + value;
}

/* A 32-bit field (host-order value) is two words. */
ELB_INLINE uint32_t elb_csum_add32(uint32_t sum, uint32_t value)
{
	return sum + (value >> 16) + (value & 0xffff);
}

/* Add len bytes at p, len a compile-time constant and even, all known to be
 * readable: header fields already bounds-checked, or memory that is not the
 * packet (addresses in a struct). */
ELB_INLINE uint32_t elb_csum_add_fixed(uint32_t sum, const uint8_t *p, uint32_t len)
{
	uint32_t i;

ELB_UNROLL
	for (i = 0; i < len; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	return sum;
}

/* Checksum of a 20-byte IPv4 header (no options), its check field counted
 * as zero whatever it holds. */
ELB_INLINE uint16_t elb_csum_ipv4_hdr(const struct elb_ipv4_hdr *ip)
{
	const uint8_t *p = (const uint8_t *)ip;
	uint32_t sum = 0;

	sum = elb_csum_add_fixed(sum, p, 10);      /* up to the check field */
	sum = elb_csum_add_fixed(sum, p + 12, 8);  /* addresses */
	return elb_csum_finish(sum);
}

/*
 * Add len bytes of the packet at p to *sum, where [p, end) is what may be
 * read; len may be odd (the last byte is the high half of a word padded with
 * zero, RFC 1071). Returns 0, or -1 if the range passes end or len is above
 * ELB_CSUM_BOUNDED_MAX.
 *
 * Verifier: the loop has a constant trip count and is unrolled, and each
 * iteration checks the very bytes it reads against end, at a constant offset
 * from p; a single check of p + len against end would not do, as the
 * verifier does not carry a variable-length check over to later reads.
 */
ELB_INLINE int elb_csum_add_bounded(uint32_t *sum, const uint8_t *p, const uint8_t *end,
				    uint32_t len)
{
	uint32_t acc = *sum;
	uint32_t i;

	if (len > ELB_CSUM_BOUNDED_MAX)
		return -1;
ELB_UNROLL
	for (i = 0; i < ELB_CSUM_BOUNDED_MAX; i += 2) {
		const uint8_t *q = p + i;

		if (i >= len)
			break;
		if (q + 1 > end)
			return -1;
		if (i + 1 == len) {
			acc += (uint32_t)q[0] << 8;
			break;
		}
		if (q + 2 > end)
			return -1;
		acc += (uint32_t)q[0] << 8 | q[1];
	}
	*sum = acc;
	return 0;
}

/* Sum of the IPv6 pseudo-header (RFC 8200 8.1) of an upper-layer packet of
 * upper_len bytes. The addresses are added as eight 32-bit words rather than
 * 32 bytes: on BPF, byte extraction from stack words made clang spill over
 * 150 bytes of stack. */
ELB_INLINE uint32_t elb_csum_ipv6_pseudo(const union elb_addr *saddr, const union elb_addr *daddr,
					 uint32_t upper_len, uint8_t next_header)
{
	uint32_t sum = 0;
	int i;

ELB_UNROLL
	for (i = 0; i < 4; i++) {
		sum = elb_csum_add32(sum, elb_ntohl(saddr->w[i]));
		sum = elb_csum_add32(sum, elb_ntohl(daddr->w[i]));
	}
	sum = elb_csum_add32(sum, upper_len);
	sum = elb_csum_add16(sum, next_header);
	return sum;
}

#endif /* ELB_CSUM_H */
