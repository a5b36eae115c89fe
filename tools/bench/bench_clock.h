/* SPDX-License-Identifier: BSD-3-Clause */
/* Cycle counting for edgelb-bench: TSC reads and their calibration. */
#ifndef BENCH_CLOCK_H
#define BENCH_CLOCK_H

#include <stdint.h>
#include <time.h>

#include <x86intrin.h>

static inline uint64_t bench_cycles(void)
{
	return __rdtsc();
}

static inline uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* TSC ticks per nanosecond, measured against CLOCK_MONOTONIC over ~100 ms. */
static inline double bench_tsc_per_ns(void)
{
	uint64_t t0 = bench_now_ns(), c0 = bench_cycles(), t1, c1;

	do {
		t1 = bench_now_ns();
	} while (t1 - t0 < 100000000ull);
	c1 = bench_cycles();
	return (double)(c1 - c0) / (double)(t1 - t0);
}

#endif
