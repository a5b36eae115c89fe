/* SPDX-License-Identifier: BSD-3-Clause */
/* systemd readiness, status and watchdog: see elb_notify.h. */
#include "elb_notify.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <time.h>

#include <systemd/sd-daemon.h>

#define NOTIFY_STATUS_MAX 256 /* bytes of a STATUS= text; longer is cut */

/* Written once by elb_notify_init, then only by the control thread. */
static uint64_t ping_interval_us; /* 0: no watchdog */
static uint64_t next_ping_us;

static uint64_t monotonic_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t elb_notify_init(void)
{
	uint64_t usec = 0;

	/* > 0: enabled for this process (WATCHDOG_PID is ours or unset). The
	 * environment is left as it is: later sd_notify calls need
	 * NOTIFY_SOCKET. */
	if (sd_watchdog_enabled(0, &usec) > 0 && usec >= 2)
		ping_interval_us = usec / 2;
	next_ping_us = 0; /* the first round pings */
	return ping_interval_us;
}

static void notify_with_status(const char *head, const char *fmt, va_list ap)
{
	char status[NOTIFY_STATUS_MAX];

	vsnprintf(status, sizeof(status), fmt, ap);
	sd_notifyf(0, "%sSTATUS=%s", head, status);
}

void elb_notify_ready(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	notify_with_status("READY=1\n", fmt, ap);
	va_end(ap);
}

void elb_notify_status(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	notify_with_status("", fmt, ap);
	va_end(ap);
}

void elb_notify_watchdog(void)
{
	uint64_t now;

	if (ping_interval_us == 0)
		return;
	now = monotonic_us();
	if (now < next_ping_us)
		return;
	next_ping_us = now + ping_interval_us;
	sd_notify(0, "WATCHDOG=1");
}

int elb_notify_poll_ms(int timeout_ms)
{
	uint64_t now, left_ms;

	if (ping_interval_us == 0)
		return timeout_ms;
	now = monotonic_us();
	left_ms = next_ping_us > now ? (next_ping_us - now + 999u) / 1000u : 0;
	return left_ms < (uint64_t)timeout_ms ? (int)left_ms : timeout_ms;
}

void elb_notify_stopping(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	notify_with_status("STOPPING=1\n", fmt, ap);
	va_end(ap);
}
