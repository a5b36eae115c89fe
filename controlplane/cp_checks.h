/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The health-check service (cp_checks.c): runs each target's probe
 * (cp_health.h) in the daemon's epoll set when it is due, ends it at its
 * deadline, and hands every result to the state core (cp_target_result).
 */
#ifndef CP_CHECKS_H
#define CP_CHECKS_H

#include <stdint.h>

#include "cp_state.h"

/* Start the probes that are due, expire the ones past their deadline. */
void cp_checks_tick(struct cp_daemon *cp, uint64_t now);
/* An epoll event whose data.ptr is t (kind CP_POLL_TARGET). */
void cp_checks_event(struct cp_daemon *cp, struct cp_target *t, uint32_t events, uint64_t now);
/* cp->retire_target: a target leaves, its probe (if running) stops. */
void cp_checks_retire(struct cp_daemon *cp, struct cp_target *t);

#endif /* CP_CHECKS_H */
