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
 * Units: times are kept in 1/64 ns (ELB_RATE_FRAC_BITS), so a byte rate of
 * 12.5 GB/s (100 Gbit/s) per flow still rounds by under 2.5%. The clock is
 * passed in, in nanoseconds from any origin below 2^57 ns (4.5 years): the
 * DPDK dataplane passes its TSC clock, the XDP program bpf_ktime_get_ns(),
 * replay the pcap timestamps rebased to the first packet.
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

/* A VIP's per-flow limit, precomputed on the control path. Zero interval: that
 * dimension is unlimited. */
struct elb_rate_limit {
	uint64_t pkt_interval;   /* 1/64 ns per packet */
	uint64_t pkt_tolerance;  /* burst in packets * pkt_interval */
	uint64_t byte_interval;  /* 1/64 ns per byte */
	uint64_t byte_tolerance; /* burst in bytes * byte_interval */
};

/* One flow's state. */
struct elb_token_bucket {
	uint64_t pkt_tat;
	uint64_t byte_tat;
};

/*
 * Admit or refuse one packet of `bytes` bytes at time now_ns; updates the
 * bucket only when admitted.
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
		byte_tat = (byte_tat > now ? byte_tat : now) + (uint64_t)bytes * rl->byte_interval;
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
 * could otherwise never pass.
 * @return 0, or -EINVAL (burst 0 with a rate, rate above 1e12/s) or -ERANGE
 *         (burst * interval does not fit: e.g. a burst of days of traffic).
 */
int elb_rate_limit_init(struct elb_rate_limit *rl, uint64_t pps, uint64_t pkt_burst,
			uint64_t bytes_per_s, uint64_t byte_burst);
#endif

#endif /* ELB_TOKEN_BUCKET_H */
