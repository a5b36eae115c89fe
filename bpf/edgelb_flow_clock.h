/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The XDP flow table's clock, one definition for the balancer
 * (edgelb.bpf.c) and the flow counter (flow_count.bpf.c), which must judge
 * expiry by the same time. Expiry needs the time to a tick (16.78 ms) only,
 * and bpf_ktime_get_ns() reads the TSC: ~30 ns per packet under
 * virtualisation. jiffies are one load (the verifier inlines
 * bpf_jiffies64) and at most one jiffy behind. edgelb_clock_sync, run once
 * after loading, sets jiffy_ns and the offset that makes
 * jiffies * jiffy_ns + jiffies_offset_ns read as CLOCK_MONOTONIC, to
 * within a jiffy: the clock of flows pinned by an earlier agent and of
 * user space. jiffy_ns 0 (not run, or HZ unknown): bpf_ktime_get_ns().
 */
#ifndef EDGELB_FLOW_CLOCK_H
#define EDGELB_FLOW_CLOCK_H

/* The calibration is passed by address: the offset is read only when used. */
static __always_inline uint64_t elb_xdp_flow_clock_ns(const uint64_t *jiffy_ns,
						      const uint64_t *jiffies_offset_ns)
{
	uint64_t per = *jiffy_ns;

	if (per == 0)
		return bpf_ktime_get_ns();
	return bpf_jiffies64() * per + *jiffies_offset_ns;
}

#endif /* EDGELB_FLOW_CLOCK_H */
