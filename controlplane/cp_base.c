/* SPDX-License-Identifier: BSD-3-Clause */
/* edgelb-cp's log line and clocks (cp_base.h). */
#include "cp_base.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

static uint64_t clock_ms(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t cp_now_ms(void)
{
	return clock_ms(CLOCK_MONOTONIC);
}

uint64_t cp_wall_ms(void)
{
	return clock_ms(CLOCK_REALTIME);
}

void cp_log(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "edgelb-cp: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}
