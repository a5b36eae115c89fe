/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What every layer of edgelb-cp uses: its log line, its two clocks, and the
 * tags that say what an epoll event's data.ptr points at.
 *
 * The state core (cp_state.h) never reads a clock: it is handed `now` by
 * its callers, so that its tests can drive time.
 */
#ifndef CP_BASE_H
#define CP_BASE_H

#include <stdint.h>

/* What an epoll event's data.ptr points at: the first member of each. */
enum cp_pollable_kind {
	CP_POLL_OPERATOR = 1,
	CP_POLL_DATAPLANE,
	CP_POLL_TARGET,
	CP_POLL_METRICS, /* the --metrics server (cp_metrics.c) */
	CP_POLL_BGP,     /* the BGP speaker's control socket (cp_bgp.c) */
};

/* Monotonic ms: deadlines and intervals. */
uint64_t cp_now_ms(void);
/* Wall-clock ms since the epoch: for what must outlive the process. */
uint64_t cp_wall_ms(void);
/* A line on stderr, "edgelb-cp: " first. */
void cp_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif /* CP_BASE_H */
