/* SPDX-License-Identifier: BSD-3-Clause */
/* Per-VIP service-level figures; see cp_slo.h. */
#include "cp_slo.h"

#include <stddef.h>

void cp_slo_add(struct cp_slo *slo, const struct cp_slo_totals *delta)
{
	slo->total.rx += delta->rx;
	slo->total.forwarded += delta->forwarded;
	slo->total.forwarded_bytes += delta->forwarded_bytes;
	slo->total.rate_limited += delta->rate_limited;
	slo->total.new_flows += delta->new_flows;
}

static const struct cp_slo_sample *newest(const struct cp_slo *slo)
{
	return &slo->ring[(slo->head + CP_SLO_SAMPLES - 1) % CP_SLO_SAMPLES];
}

void cp_slo_tick(struct cp_slo *slo, uint64_t now_ms)
{
	if (slo->rate_base.t_ms == 0) {
		slo->rate_base.t_ms = now_ms;
		slo->rate_base.v = slo->total;
	} else if (now_ms - slo->rate_base.t_ms >= CP_SLO_RATE_MS) {
		double s = (double)(now_ms - slo->rate_base.t_ms) / 1000.0;

		slo->forwarded_pps = (slo->total.forwarded - slo->rate_base.v.forwarded) / s;
		slo->forwarded_bytes_per_s =
			(slo->total.forwarded_bytes - slo->rate_base.v.forwarded_bytes) / s;
		slo->rate_limited_pps =
			(slo->total.rate_limited - slo->rate_base.v.rate_limited) / s;
		slo->new_flows_per_s = (slo->total.new_flows - slo->rate_base.v.new_flows) / s;
		slo->rate_base.t_ms = now_ms;
		slo->rate_base.v = slo->total;
	}
	if (slo->count > 0 && now_ms - newest(slo)->t_ms < CP_SLO_SAMPLE_MS)
		return;
	slo->ring[slo->head].t_ms = now_ms;
	slo->ring[slo->head].v = slo->total;
	slo->head = (slo->head + 1) % CP_SLO_SAMPLES;
	if (slo->count < CP_SLO_SAMPLES)
		slo->count++;
}

double cp_slo_availability(const struct cp_slo *slo, uint64_t now_ms, uint64_t window_ms,
			   uint64_t *covered_ms)
{
	const struct cp_slo_sample *base = NULL;
	double offered, carried;

	*covered_ms = 0;
	/* The oldest sample inside the window, else the oldest there is. */
	for (uint32_t i = 0; i < slo->count; i++) {
		const struct cp_slo_sample *s =
			&slo->ring[(slo->head + CP_SLO_SAMPLES - slo->count + i) % CP_SLO_SAMPLES];

		if (now_ms - s->t_ms <= window_ms) {
			base = s;
			break;
		}
	}
	if (base == NULL)
		return -1;
	*covered_ms = now_ms - base->t_ms;
	offered = (slo->total.rx - base->v.rx) - (slo->total.rate_limited - base->v.rate_limited);
	carried = slo->total.forwarded - base->v.forwarded;
	if (offered <= 0)
		return -1;
	/* Counters are read one after the other: a packet counted forwarded
	 * may not be in rx yet. */
	return carried >= offered ? 1.0 : carried / offered;
}

double cp_slo_budget_left(double availability, double objective)
{
	double budget = 1.0 - objective;

	if (budget <= 0)
		return availability >= 1.0 ? 1.0 : -1.0;
	return 1.0 - (1.0 - availability) / budget;
}
