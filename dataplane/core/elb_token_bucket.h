/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Per-flow rate limit: a token bucket on packets/s and one on bytes/s, each
 * with its burst. A packet passes only if both buckets admit it; a refused
 * packet takes no tokens.
 *
 * Representation: each bucket is kept in its GCRA form (ITU-T I.371 virtual
 * scheduling), which admits exactly the packets a token bucket of the same
 * rate and depth admits, but stores one 64-bit "theoretical arrival time"
 * (TAT) instead of a token count and a timestamp. With T the time one token
 * takes to refill and B the bucket depth, a packet costing c tokens passes
 * if max(TAT, now) + c*T - now <= B*T, and then TAT = max(TAT, now) + c*T.
 * A zeroed bucket is full. No division on the packet path.
 *
 * Units: times are kept in 1/64 ns (ELB_RATE_FRAC_BITS). The packet interval
 * is a whole number of those units: off by under 0.1% up to 1.28e8 packets/s
 * per flow (more than 100GbE carries). The byte interval carries
 * ELB_RATE_BYTE_FRAC_BITS more fractional bits, because per-byte times are
 * tiny (51.2 units at 10 Gbit/s). A packet's cost and the tolerance are both
 * rounded down to whole units, which keeps the burst exact (any packets
 * totalling byte_burst bytes pass a full bucket at once) and lets a packet
 * through at most 1/64 ns early: the byte rate is exact to about 1e-5 plus
 * that (under 0.3% for 64-byte packets at 100 Gbit/s, under 0.02% for
 * 1500-byte ones; near 1e12 B/s a packet under 16 bytes costs nothing, and
 * IP packets have 20 at least). The clock is passed in, in nanoseconds from any origin
 * below 2^57 ns (4.5 years): the DPDK dataplane passes its TSC clock, the
 * XDP program bpf_ktime_get_ns(), replay the pcap timestamps rebased to the
 * first packet.
 *
 * Overflow: init bounds each tolerance by ELB_RATE_MAX_TOLERANCE and the
 * packet length by ELB_RATE_MAX_PACKET_BYTES, so max(TAT, now) + cost never
 * wraps (now < 2^63, TAT <= now + tolerance < 2^63 + 2^62, cost < 2^52).
 *
 * Fail-closed: a packet the limit cannot account for (longer than
 * ELB_RATE_MAX_PACKET_BYTES under a byte limit) is refused.
 *
 * Shared by the DPDK dataplane and the XDP program: both keep the bucket in
 * the flow's table entry, so a flow is limited on the worker (or CPU) that
 * owns it and no state is shared between cores.
 */
#ifndef ELB_TOKEN_BUCKET_H
#define ELB_TOKEN_BUCKET_H

#include "elb_compat.h"

#define ELB_RATE_FRAC_BITS 6
#define ELB_RATE_MAX_NOW_NS (1ull << 57)
#define ELB_RATE_BYTE_FRAC_BITS 12
#define ELB_RATE_MAX_RATE 1000000000000ull /* 1e12 per second */
#define ELB_RATE_MAX_TOLERANCE (1ull << 62) /* 1/64 ns: 834 days */
/* An IP packet's length: bytes * byte_interval then stays below 2^64. */
#define ELB_RATE_MAX_PACKET_BYTES 65535u

/* A VIP's per-flow limit, precomputed on the control path. Zero interval: that
 * dimension is unlimited. */
struct elb_rate_limit {
	uint64_t pkt_interval;   /* 1/64 ns per packet */
	uint64_t pkt_tolerance;  /* burst in packets * pkt_interval, 1/64 ns */
	uint64_t byte_interval;  /* 1/64 ns per byte, << ELB_RATE_BYTE_FRAC_BITS */
	uint64_t byte_tolerance; /* burst in bytes * byte_interval, 1/64 ns, rounded down */
};

/* One flow's state. */
struct elb_token_bucket {
	uint64_t pkt_tat;  /* 1/64 ns */
	uint64_t byte_tat; /* 1/64 ns */
};

/*
 * Admit or refuse one packet of `bytes` bytes (its IP length) at time now_ns
 * (below ELB_RATE_MAX_NOW_NS); updates the bucket only when admitted.
 */
ELB_INLINE bool elb_token_bucket_admit(struct elb_token_bucket *b, const struct elb_rate_limit *rl,
				       uint64_t now_ns, uint32_t bytes)
{
	uint64_t now = now_ns << ELB_RATE_FRAC_BITS;
	uint64_t pkt_tat = b->pkt_tat, byte_tat = b->byte_tat;

	if (rl->pkt_interval) {
		pkt_tat = (pkt_tat > now ? pkt_tat : now) + rl->pkt_interval;
		if (pkt_tat - now > rl->pkt_tolerance)
			return false;
	}
	if (rl->byte_interval) {
		uint64_t cost;

		if (bytes > ELB_RATE_MAX_PACKET_BYTES)
			return false;
		/* Rounded down, as the tolerance: see the top of this file. */
		cost = ((uint64_t)bytes * rl->byte_interval) >> ELB_RATE_BYTE_FRAC_BITS;
		byte_tat = (byte_tat > now ? byte_tat : now) + cost;
		if (byte_tat - now > rl->byte_tolerance)
			return false;
	}
	b->pkt_tat = pkt_tat;
	b->byte_tat = byte_tat;
	return true;
}

#if !defined(__bpf__)
/*
 * Precompute a limit. pps/pkt_burst: packets per second and bucket depth in
 * packets; bytes_per_s/byte_burst: the same in bytes. A rate of 0 leaves
 * that dimension unlimited (its burst is then ignored). A limited dimension
 * needs burst >= 1; byte_burst should be at least the largest packet, which
 * could otherwise never pass. Packet rates above 6.4e10/s get the shortest
 * interval, 1/64 ns (no flow comes near).
 * @return 0, or -EINVAL (rl NULL, burst 0 with a rate, rate above 1e12/s)
 *         or -ERANGE (burst * interval above ELB_RATE_MAX_TOLERANCE: e.g. a
 *         burst of years of traffic). On error *rl is unchanged.
 */
int elb_rate_limit_init(struct elb_rate_limit *rl, uint64_t pps, uint64_t pkt_burst,
			uint64_t bytes_per_s, uint64_t byte_burst);
#endif

#endif /* ELB_TOKEN_BUCKET_H */
