/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Per-VIP service-level figures from the dataplanes' counters: rates, and
 * availability over rolling windows, defined (docs/control-protocol.md) as
 *   forwarded / (rx - rate_limited drops)
 * over the window: the share of the packets the VIP was willing to carry
 * that it carried. Rate-limited drops are the policy working, not a fault.
 *
 * Totals are kept by the control plane, fed with per-dataplane deltas, so
 * that a dataplane restart (its counters back to zero) neither hides
 * traffic nor shows negative figures.
 */
#ifndef CP_SLO_H
#define CP_SLO_H

#include <stdint.h>

#define CP_SLO_SAMPLE_MS 10000u /* one sample per 10 s ... */
#define CP_SLO_SAMPLES 361u     /* ... for an hour, plus the current one */
#define CP_SLO_RATE_MS 1000u    /* rates are over the last second or so */

struct cp_slo_totals {
	double rx;           /* packets */
	double forwarded;    /* packets */
	double forwarded_bytes;
	double rate_limited; /* packets dropped by the per-flow limit */
	double new_flows;
};

struct cp_slo_sample {
	uint64_t t_ms;
	struct cp_slo_totals v;
};

struct cp_slo {
	struct cp_slo_totals total; /* since the control plane started */
	struct cp_slo_sample rate_base;
	double forwarded_pps;
	double forwarded_bytes_per_s;
	double rate_limited_pps;
	double new_flows_per_s;
	struct cp_slo_sample ring[CP_SLO_SAMPLES];
	uint32_t head;  /* next slot to write */
	uint32_t count; /* samples held */
};

void cp_slo_add(struct cp_slo *slo, const struct cp_slo_totals *delta);
/* Take a sample when one is due, update the rates. */
void cp_slo_tick(struct cp_slo *slo, uint64_t now_ms);
/*
 * Availability over the last window_ms (or what history there is of it:
 * *covered_ms says how much). @return in [0, 1], or -1 when no packet was
 * offered in the window (nothing to judge).
 */
double cp_slo_availability(const struct cp_slo *slo, uint64_t now_ms, uint64_t window_ms,
			   uint64_t *covered_ms);

/*
 * The share of the error budget left at this availability: the budget is
 * what the objective allows to fail (1 - objective), and 1 means none of it
 * spent, 0 all of it, below 0 overspent. An objective of 1 has no budget: 1
 * while nothing failed, else -1.
 */
double cp_slo_budget_left(double availability, double objective);

#endif /* CP_SLO_H */
