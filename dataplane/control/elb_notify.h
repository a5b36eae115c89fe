/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Readiness, status and watchdog for systemd (Type=notify units in
 * systemd/), through libsystemd's sd_notify: one definition for edgelb-dp,
 * edgelb-xdp and edgelb-cp.
 *
 * Without NOTIFY_SOCKET in the environment (started by hand, by a test, by
 * another supervisor) every call does nothing. The watchdog interval is
 * systemd's (WatchdogSec= -> WATCHDOG_USEC, for the process WATCHDOG_PID
 * names, or any process when it is unset: sd_watchdog_enabled's rules);
 * pings go out at half of it.
 *
 * Call everything from the thread that serves the control socket, in the
 * loop that serves it: a stalled control thread then stops the pings and
 * systemd restarts the daemon (SIGABRT, then SIGKILL) while the workers
 * (edgelb-dp: until the process goes) and the attached XDP program (edgelb-xdp:
 * through the restart, pinned maps) keep carrying traffic.
 */
#ifndef ELB_NOTIFY_H
#define ELB_NOTIFY_H

#include <stdint.h>

/* Read the watchdog interval from the environment. Call once at start,
 * before any other elb_notify_* call. @return the ping interval in
 * microseconds (half of WatchdogSec=), 0 when no watchdog is asked for. */
uint64_t elb_notify_init(void);

/* READY=1 with a STATUS= line (printf format): the daemon serves its
 * socket with its configuration applied. */
void elb_notify_ready(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A STATUS= line (printf format), shown by `systemctl status`. */
void elb_notify_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* WATCHDOG=1 when half the interval has passed since the last ping; cheap
 * otherwise (one clock read). Call from every round of the control loop. */
void elb_notify_watchdog(void);

/* timeout_ms, or less when the next ping is due sooner: for a loop that
 * sleeps in poll between rounds. */
int elb_notify_poll_ms(int timeout_ms);

/* STOPPING=1 with a STATUS= line: shutting down on SIGTERM/SIGINT. */
void elb_notify_stopping(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
