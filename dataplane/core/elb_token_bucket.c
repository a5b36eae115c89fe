/* SPDX-License-Identifier: BSD-3-Clause */
/* Control-path part of the per-flow rate limit; see elb_token_bucket.h. */
#include <errno.h>

#include "elb_token_bucket.h"

/* 1/64 ns units in one second. */
#define UNITS_PER_S (1000000000ull << ELB_RATE_FRAC_BITS)

/* round(units / rate), without overflow: units < 2^48 here, rate <= 1e12. */
static uint64_t rounded_div(uint64_t units, uint64_t rate)
{
	return (units + rate / 2) / rate;
}

int elb_rate_limit_init(struct elb_rate_limit *rl, uint64_t pps, uint64_t pkt_burst,
			uint64_t bytes_per_s, uint64_t byte_burst)
{
	struct elb_rate_limit out = {0};

	if (rl == NULL || pps > ELB_RATE_MAX_RATE || bytes_per_s > ELB_RATE_MAX_RATE)
		return -EINVAL;
	if ((pps && pkt_burst == 0) || (bytes_per_s && byte_burst == 0))
		return -EINVAL;

	if (pps) {
		out.pkt_interval = rounded_div(UNITS_PER_S, pps);
		if (out.pkt_interval == 0)
			out.pkt_interval = 1;
		if (__builtin_mul_overflow(pkt_burst, out.pkt_interval, &out.pkt_tolerance) ||
		    out.pkt_tolerance > ELB_RATE_MAX_TOLERANCE)
			return -ERANGE;
	}
	if (bytes_per_s) {
		unsigned __int128 tolerance;

		/* 1e12/s still gets 262 fractional steps: no rate rounds to 0. */
		out.byte_interval = rounded_div(UNITS_PER_S << ELB_RATE_BYTE_FRAC_BITS, bytes_per_s);
		/* Rounded down like a packet's cost, so that packets totalling
		 * byte_burst bytes pass a full bucket. 128 bits: the product
		 * carries the fractional bits, the result does not. */
		tolerance = ((unsigned __int128)byte_burst * out.byte_interval) >>
			    ELB_RATE_BYTE_FRAC_BITS;
		if (tolerance > ELB_RATE_MAX_TOLERANCE)
			return -ERANGE;
		out.byte_tolerance = (uint64_t)tolerance;
	}
	*rl = out;
	return 0;
}
