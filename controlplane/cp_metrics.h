/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * edgelb-cp --metrics ADDR:PORT: counters.get's figures for Prometheus
 * (text exposition format) at GET /metrics, served by libmicrohttpd from
 * the daemon's epoll loop. See cp_metrics.c.
 */
#ifndef CP_METRICS_H
#define CP_METRICS_H

#include <stddef.h>
#include <sys/socket.h>

#include "cp_state.h"

/* "192.0.2.1:9100" or "[2001:db8::1]:9100" (numeric only). @return 0 or -EINVAL. */
int cp_metrics_parse_address(const char *text, struct sockaddr_storage *out, socklen_t *len);

/* Listen on address, in cp's epoll set (cp->metrics). @return 0, -EINVAL
 * (not an address), or -errno. */
int cp_metrics_open(struct cp_daemon *cp, const char *address);
/* An epoll event whose data.ptr is cp->metrics (kind CP_POLL_METRICS). */
void cp_metrics_event(struct cp_daemon *cp);
/* Every loop round: the servers' time limits. */
void cp_metrics_tick(struct cp_daemon *cp);
/* Close the server and its connections. No server: nothing. */
void cp_metrics_close(struct cp_daemon *cp);

/* The page, malloc'ed (length in *len), or NULL when out of memory. */
char *cp_metrics_render(const struct cp_daemon *cp, size_t *len);

#endif /* CP_METRICS_H */
