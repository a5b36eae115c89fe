/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * `--metrics ADDR:PORT`: the figures of counters.get in the Prometheus text
 * exposition format (version 0.0.4) at GET /metrics, over a minimal
 * HTTP/1.x server in edgelb-cp's epoll loop.
 *
 * Minimal on purpose: one request per connection (the answer closes it),
 * a request head of at most METRICS_MAX_REQUEST bytes, METRICS_MAX_CONNS
 * connections at once, and each one gets METRICS_DEADLINE_MS to finish, so a
 * scraper that stalls costs one fd for a few seconds and never blocks the
 * loop. Everything is rendered from cp_counters_json, the one source of the
 * operator socket's figures, so the two cannot disagree.
 */
#include "cp_metrics.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#define METRICS_MAX_REQUEST 4096u
#define METRICS_MAX_CONNS 32u
#define METRICS_DEADLINE_MS 5000u

struct metrics_conn {
	int kind;         /* CP_POLL_METRICS: the first member, as epoll data */
	bool is_listener; /* false */
	int fd;
	char in[METRICS_MAX_REQUEST + 1];
	size_t in_len;
	char *out;
	size_t out_len, out_off;
	uint64_t deadline_ms;
	struct metrics_conn *next;
};

struct cp_metrics {
	int kind;         /* CP_POLL_METRICS */
	bool is_listener; /* true */
	int fd;
	struct metrics_conn *conns;
	uint32_t n_conns;
	uint64_t scrapes, bad_requests, dropped;
};

/* ------------------------------------------------------------------------ */
/* Rendering */

struct text {
	char *buf;
	size_t len, cap;
	bool failed;
};

static void put(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (t->failed)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			t->failed = true;
			return;
		}
		if ((size_t)n < t->cap - t->len) {
			t->len += (size_t)n;
			return;
		}
		size_t cap = t->cap ? t->cap * 2 : 16384;
		while (cap - t->len <= (size_t)n)
			cap *= 2;
		char *bigger = realloc(t->buf, cap);

		if (bigger == NULL) {
			t->failed = true;
			return;
		}
		t->buf = bigger;
		t->cap = cap;
	}
}

/* A label value with \, " and newline escaped, as the format requires. */
static const char *label(const char *value, char *buf, size_t len)
{
	size_t o = 0;

	for (const char *p = value; *p != '\0' && o + 3 < len; p++) {
		if (*p == '\\' || *p == '"') {
			buf[o++] = '\\';
			buf[o++] = *p;
		} else if (*p == '\n') {
			buf[o++] = '\\';
			buf[o++] = 'n';
		} else {
			buf[o++] = *p;
		}
	}
	buf[o] = '\0';
	return buf;
}

static double num(const cJSON *object, const char *group, const char *name)
{
	const cJSON *g = group != NULL ? cJSON_GetObjectItemCaseSensitive(object, group) : object;
	const cJSON *n = cJSON_GetObjectItemCaseSensitive(g, name);

	if (cJSON_IsNumber(n))
		return n->valuedouble;
	if (cJSON_IsBool(n))
		return cJSON_IsTrue(n) ? 1 : 0;
	return NAN;
}

/* Integers as integers (counters up to 2^53 are exact), others in full. */
static void put_value(struct text *t, double v)
{
	if (isnan(v))
		put(t, "NaN\n");
	else if (v == floor(v) && fabs(v) < 9007199254740992.0)
		put(t, "%.0f\n", v);
	else
		put(t, "%.17g\n", v);
}

static void put_family(struct text *t, const char *name, const char *type, const char *help)
{
	put(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A per-VIP figure: group/member of each VIP object (group NULL: top). */
struct vip_figure {
	const char *name, *type, *help, *group, *member;
};

static const struct vip_figure vip_figures[] = {
	{"edgelb_vip_rx_packets_total", "counter",
	 "Packets received for the VIP, summed over the dataplanes.", "rx", "packets"},
	{"edgelb_vip_rx_bytes_total", "counter", "Bytes received for the VIP.", "rx", "bytes"},
	{"edgelb_vip_forwarded_packets_total", "counter",
	 "Packets encapsulated and sent toward a backend.", "forwarded", "packets"},
	{"edgelb_vip_forwarded_bytes_total", "counter",
	 "Bytes sent toward backends, outer headers included.", "forwarded", "bytes"},
	{"edgelb_vip_new_flows_total", "counter", "Flows that picked a backend.", NULL,
	 "new_flows"},
	{"edgelb_vip_rate_limited_flows_total", "counter",
	 "Flows that hit their per-flow rate limit (once per flow-table entry).", NULL,
	 "rate_limited_flows"},
	{"edgelb_vip_too_big_replies_total", "counter",
	 "ICMP fragmentation-needed / packet-too-big replies sent.", NULL, "too_big_replies"},
	{"edgelb_vip_backends", "gauge", "Backends configured.", NULL, "backends"},
	{"edgelb_vip_backends_healthy", "gauge", "Backends passing their health check.", NULL,
	 "healthy"},
	{"edgelb_vip_backends_draining", "gauge", "Backends draining.", NULL, "draining"},
	{"edgelb_vip_all_down", "gauge",
	 "1 while every backend fails its check (the last healthy set is kept).", NULL,
	 "all_down"},
	{"edgelb_vip_forwarded_packets_per_second", "gauge",
	 "Forwarded packets per second over the last second.", "slo", "forwarded_pps"},
	{"edgelb_vip_forwarded_bytes_per_second", "gauge",
	 "Forwarded bytes per second over the last second.", "slo", "forwarded_bytes_per_s"},
	{"edgelb_vip_rate_limited_packets_per_second", "gauge",
	 "Packets dropped by the per-flow rate limit per second.", "slo", "rate_limited_pps"},
	{"edgelb_vip_new_flows_per_second", "gauge", "New flows per second over the last second.",
	 "slo", "new_flows_per_s"},
	{"edgelb_vip_availability_objective", "gauge", "The VIP's availability objective.", "slo",
	 "objective"},
};

static const char *const slo_windows[] = {"1m", "5m", "1h"};

/* A per-window SLO figure: slo.<member>.<window> of each VIP; a window
 * without traffic (null) has no sample: nothing to judge. */
static void render_windows(struct text *t, const cJSON *vips, const char *name,
			   const char *member, const char *help)
{
	char vip_l[160];
	const cJSON *v;

	put_family(t, name, "gauge", help);
	cJSON_ArrayForEach(v, vips)
	{
		const cJSON *slo = cJSON_GetObjectItemCaseSensitive(v, "slo");

		label(cJSON_GetObjectItem(v, "vip")->valuestring, vip_l, sizeof(vip_l));
		for (size_t w = 0; w < sizeof(slo_windows) / sizeof(slo_windows[0]); w++) {
			double value = num(slo, member, slo_windows[w]);

			if (isnan(value))
				continue;
			put(t, "%s{vip=\"%s\",window=\"%s\"} ", name, vip_l, slo_windows[w]);
			put_value(t, value);
		}
	}
}

static void render_vips(struct text *t, const cJSON *vips)
{
	char vip_l[160], b_l[96], r_l[96];
	const cJSON *v, *b, *d;

	for (size_t f = 0; f < sizeof(vip_figures) / sizeof(vip_figures[0]); f++) {
		const struct vip_figure *fig = &vip_figures[f];

		put_family(t, fig->name, fig->type, fig->help);
		cJSON_ArrayForEach(v, vips)
		{
			put(t, "%s{vip=\"%s\"} ", fig->name,
			    label(cJSON_GetObjectItem(v, "vip")->valuestring, vip_l, sizeof(vip_l)));
			put_value(t, num(v, fig->group, fig->member));
		}
	}
	put_family(t, "edgelb_vip_drops_total", "counter",
		   "Packets for the VIP dropped, by reason (rate_limited is policy, not failure).");
	cJSON_ArrayForEach(v, vips)
	{
		label(cJSON_GetObjectItem(v, "vip")->valuestring, vip_l, sizeof(vip_l));
		cJSON_ArrayForEach(d, cJSON_GetObjectItemCaseSensitive(v, "drops"))
		{
			put(t, "edgelb_vip_drops_total{vip=\"%s\",reason=\"%s\"} ", vip_l,
			    label(d->string, r_l, sizeof(r_l)));
			put_value(t, cJSON_IsNumber(d) ? d->valuedouble : NAN);
		}
	}
	render_windows(t, vips, "edgelb_vip_availability", "availability",
		       "forwarded / (rx - rate_limited) over the window; absent without traffic.");
	render_windows(t, vips, "edgelb_vip_error_budget_left", "error_budget_left",
		       "Share of the error budget left over the window (1 none spent, <0 overspent).");
	static const struct vip_figure backend_figures[] = {
		{"edgelb_backend_forwarded_packets_total", "counter",
		 "Packets sent to the backend, summed over the dataplanes.", "forwarded", "packets"},
		{"edgelb_backend_forwarded_bytes_total", "counter", "Bytes sent to the backend.",
		 "forwarded", "bytes"},
		{"edgelb_backend_new_flows_total", "counter", "Flows that picked the backend.", NULL,
		 "new_flows"},
		{"edgelb_backend_weight", "gauge", "The backend's configured weight.", NULL, "weight"},
	};
	for (size_t f = 0; f < sizeof(backend_figures) / sizeof(backend_figures[0]); f++) {
		const struct vip_figure *fig = &backend_figures[f];

		put_family(t, fig->name, fig->type, fig->help);
		cJSON_ArrayForEach(v, vips)
		{
			label(cJSON_GetObjectItem(v, "vip")->valuestring, vip_l, sizeof(vip_l));
			cJSON_ArrayForEach(b, cJSON_GetObjectItemCaseSensitive(v, "backend_counters"))
			{
				put(t, "%s{vip=\"%s\",backend=\"%s\"} ", fig->name, vip_l,
				    label(cJSON_GetObjectItem(b, "address")->valuestring, b_l,
					  sizeof(b_l)));
				put_value(t, num(b, fig->group, fig->member));
			}
		}
	}
	put_family(t, "edgelb_backend_up", "gauge",
		   "1 while the backend is in service (health check not down), else 0.");
	cJSON_ArrayForEach(v, vips)
	{
		label(cJSON_GetObjectItem(v, "vip")->valuestring, vip_l, sizeof(vip_l));
		cJSON_ArrayForEach(b, cJSON_GetObjectItemCaseSensitive(v, "backend_counters"))
		{
			const cJSON *h = cJSON_GetObjectItemCaseSensitive(b, "health");

			put(t, "edgelb_backend_up{vip=\"%s\",backend=\"%s\",state=\"%s\"} %d\n", vip_l,
			    label(cJSON_GetObjectItem(b, "address")->valuestring, b_l, sizeof(b_l)),
			    cJSON_GetObjectItem(b, "state")->valuestring,
			    !(cJSON_IsString(h) && strcmp(h->valuestring, "down") == 0));
		}
	}
}

char *cp_metrics_render(const struct cp_daemon *cp, size_t *len)
{
	cJSON *figures = cp_counters_json(cp);
	struct text t = {0};

	if (figures == NULL)
		return NULL;
	render_vips(&t, cJSON_GetObjectItemCaseSensitive(figures, "vips"));
	put_family(&t, "edgelb_dataplanes", "gauge", "Dataplanes managed.");
	put(&t, "edgelb_dataplanes %u\n", cp->n_dps);
	put_family(&t, "edgelb_dataplane_connected", "gauge",
		   "1 while the control plane is connected to the dataplane and it has the state.");
	for (uint32_t i = 0; i < cp->n_dps; i++)
		put(&t, "edgelb_dataplane_connected{dataplane=\"%s\",in_sync=\"%s\"} %d\n",
		    cp->dps[i].cfg.name,
		    cp->dps[i].connected && cp->dps[i].pushed_gen == cp->gen ? "true" : "false",
		    cp->dps[i].connected);
	put_family(&t, "edgelb_dataplane_restarts_total", "counter",
		   "Dataplane restarts noticed (a new instance behind the socket).");
	for (uint32_t i = 0; i < cp->n_dps; i++)
		put(&t, "edgelb_dataplane_restarts_total{dataplane=\"%s\"} %llu\n",
		    cp->dps[i].cfg.name, (unsigned long long)cp->dps[i].restarts);
	put_family(&t, "edgelb_cp_changes_total", "counter", "Operator changes applied.");
	put(&t, "edgelb_cp_changes_total %llu\n", (unsigned long long)cp->changes);
	put_family(&t, "edgelb_cp_health_transitions_total", "counter",
		   "Backends that went in or out of service.");
	put(&t, "edgelb_cp_health_transitions_total %llu\n",
	    (unsigned long long)cp->health_transitions);
	put_family(&t, "edgelb_cp_events_total", "counter", "Events raised (see subscribe).");
	put(&t, "edgelb_cp_events_total %llu\n", (unsigned long long)cp->events);
	if (cp->bgp != NULL) {
		static const char *const states[] = {"active", "draining", "drained"};

		put_family(&t, "edgelb_node_state", "gauge",
			   "1 for the node's state toward the routers (docs/fleet.md).");
		for (uint8_t i = 0; i < 3; i++)
			put(&t, "edgelb_node_state{state=\"%s\"} %d\n", states[i],
			    cp->node_state == i);
		put_family(&t, "edgelb_bgp_announced_prefixes", "gauge",
			   "VIP prefixes in the BGP speaker's configuration.");
		put(&t, "edgelb_bgp_announced_prefixes %u\n", cp->bgp_announced);
		put_family(&t, "edgelb_bgp_speaker_up", "gauge",
			   "1 while the BGP speaker answers on its control socket.");
		put(&t, "edgelb_bgp_speaker_up %d\n", cp->bgp_speaker_up);
		put_family(&t, "edgelb_bgp_speaker_losses_total", "counter",
			   "Times the BGP speaker was lost (died, closed its control socket).");
		put(&t, "edgelb_bgp_speaker_losses_total %llu\n",
		    (unsigned long long)cp->bgp_speaker_losses);
	}
	cJSON_Delete(figures);
	if (t.failed) {
		free(t.buf);
		return NULL;
	}
	*len = t.len;
	return t.buf;
}

/* ------------------------------------------------------------------------ */
/* HTTP */

static void conn_close(struct cp_daemon *cp, struct metrics_conn *c)
{
	struct cp_metrics *m = cp->metrics;

	for (struct metrics_conn **p = &m->conns; *p != NULL; p = &(*p)->next)
		if (*p == c) {
			*p = c->next;
			break;
		}
	m->n_conns--;
	epoll_ctl(cp->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c->out);
	free(c);
}

static int respond(struct metrics_conn *c, const char *status, const char *type, const char *body,
		   size_t body_len)
{
	char head[256];
	int n = snprintf(head, sizeof(head),
			 "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
			 "Connection: close\r\n\r\n",
			 status, type, body_len);

	c->out = malloc((size_t)n + body_len);
	if (c->out == NULL)
		return -ENOMEM;
	memcpy(c->out, head, (size_t)n);
	memcpy(c->out + n, body, body_len);
	c->out_len = (size_t)n + body_len;
	return 0;
}

/* A whole request head is in: answer it. */
static int answer(struct cp_daemon *cp, struct metrics_conn *c)
{
	static const char text_type[] = "text/plain; charset=utf-8";
	char method[8], target[256];
	size_t len;
	int rc;

	c->in[c->in_len] = '\0';
	if (sscanf(c->in, "%7s %255s HTTP/1.%*c", method, target) != 2) {
		cp->metrics->bad_requests++;
		return respond(c, "400 Bad Request", text_type, "bad request\n", 12);
	}
	if (strcmp(method, "GET") != 0) {
		cp->metrics->bad_requests++;
		return respond(c, "405 Method Not Allowed", text_type, "GET only\n", 9);
	}
	if (strcmp(target, "/metrics") != 0 && strncmp(target, "/metrics?", 9) != 0)
		return respond(c, "404 Not Found", text_type, "the figures are at /metrics\n", 28);
	char *body = cp_metrics_render(cp, &len);

	if (body == NULL)
		return respond(c, "500 Internal Server Error", text_type, "out of memory\n", 14);
	cp->metrics->scrapes++;
	rc = respond(c, "200 OK", "text/plain; version=0.0.4; charset=utf-8", body, len);
	free(body);
	return rc;
}

static void conn_event(struct cp_daemon *cp, struct metrics_conn *c, uint32_t events)
{
	struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};

	if (events & EPOLLERR) {
		conn_close(cp, c);
		return;
	}
	if (c->out == NULL && (events & (EPOLLIN | EPOLLHUP))) {
		ssize_t n = recv(c->fd, c->in + c->in_len, METRICS_MAX_REQUEST - c->in_len,
				 MSG_DONTWAIT);

		if (n <= 0) {
			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				return;
			conn_close(cp, c); /* gone before asking */
			return;
		}
		c->in_len += (size_t)n;
		c->in[c->in_len] = '\0';
		if (strstr(c->in, "\r\n\r\n") == NULL && strstr(c->in, "\n\n") == NULL) {
			if (c->in_len < METRICS_MAX_REQUEST)
				return;
			cp->metrics->bad_requests++;
			if (respond(c, "431 Request Header Fields Too Large", "text/plain",
				    "request head too large\n", 23) < 0) {
				conn_close(cp, c);
				return;
			}
		} else if (answer(cp, c) < 0) {
			conn_close(cp, c);
			return;
		}
		if (epoll_ctl(cp->epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0) {
			conn_close(cp, c);
			return;
		}
	}
	while (c->out != NULL && c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			conn_close(cp, c);
			return;
		}
		c->out_off += (size_t)n;
	}
	if (c->out != NULL)
		conn_close(cp, c); /* all sent: one request per connection */
}

static void accept_conns(struct cp_daemon *cp)
{
	struct cp_metrics *m = cp->metrics;

	for (int i = 0; i < 16; i++) {
		int fd = accept4(m->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct epoll_event ev = {.events = EPOLLIN};
		struct metrics_conn *c;

		if (fd < 0)
			return;
		if (m->n_conns >= METRICS_MAX_CONNS) {
			m->dropped++;
			close(fd);
			continue;
		}
		c = calloc(1, sizeof(*c));
		if (c == NULL) {
			close(fd);
			continue;
		}
		c->kind = CP_POLL_METRICS;
		c->fd = fd;
		c->deadline_ms = cp_now_ms() + METRICS_DEADLINE_MS;
		ev.data.ptr = c;
		if (epoll_ctl(cp->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			close(fd);
			free(c);
			continue;
		}
		c->next = m->conns;
		m->conns = c;
		m->n_conns++;
	}
}

void cp_metrics_event(struct cp_daemon *cp, void *ptr, uint32_t events)
{
	if (((struct cp_metrics *)ptr)->is_listener)
		accept_conns(cp);
	else
		conn_event(cp, ptr, events);
}

void cp_metrics_tick(struct cp_daemon *cp, uint64_t now)
{
	struct metrics_conn *c, *next;

	if (cp->metrics == NULL)
		return;
	for (c = cp->metrics->conns; c != NULL; c = next) {
		next = c->next;
		if (now >= c->deadline_ms) {
			cp->metrics->dropped++;
			conn_close(cp, c);
		}
	}
}

int cp_metrics_parse_address(const char *text, struct sockaddr_storage *out, socklen_t *len)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon = strrchr(text, ':');
	char *end;
	long port;
	size_t host_len;

	if (colon == NULL)
		return -EINVAL;
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (errno != 0 || *end != '\0' || end == colon + 1 || port < 1 || port > 65535)
		return -EINVAL;
	host_len = (size_t)(colon - text);
	if (host_len >= sizeof(host))
		return -EINVAL;
	memcpy(host, text, host_len);
	host[host_len] = '\0';
	memset(out, 0, sizeof(*out));
	if (host_len >= 2 && host[0] == '[' && host[host_len - 1] == ']') {
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)out;

		host[host_len - 1] = '\0';
		if (inet_pton(AF_INET6, host + 1, &a6->sin6_addr) != 1)
			return -EINVAL;
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*a6);
		return 0;
	}
	struct sockaddr_in *a4 = (struct sockaddr_in *)out;

	if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
		return -EINVAL;
	a4->sin_family = AF_INET;
	a4->sin_port = htons((uint16_t)port);
	*len = sizeof(*a4);
	return 0;
}

int cp_metrics_open(struct cp_daemon *cp, const char *address)
{
	struct sockaddr_storage addr;
	struct epoll_event ev = {.events = EPOLLIN};
	struct cp_metrics *m;
	socklen_t len;
	int one = 1, rc;

	rc = cp_metrics_parse_address(address, &addr, &len);
	if (rc < 0)
		return rc;
	m = calloc(1, sizeof(*m));
	if (m == NULL)
		return -ENOMEM;
	m->kind = CP_POLL_METRICS;
	m->is_listener = true;
	m->fd = socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (m->fd < 0 || setsockopt(m->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(m->fd, (struct sockaddr *)&addr, len) < 0 || listen(m->fd, 64) < 0) {
		rc = -errno;
		goto fail;
	}
	ev.data.ptr = m;
	if (epoll_ctl(cp->epfd, EPOLL_CTL_ADD, m->fd, &ev) < 0) {
		rc = -errno;
		goto fail;
	}
	cp->metrics = m;
	return 0;
fail:
	if (m->fd >= 0)
		close(m->fd);
	free(m);
	return rc;
}

void cp_metrics_close(struct cp_daemon *cp)
{
	if (cp->metrics == NULL)
		return;
	while (cp->metrics->conns != NULL)
		conn_close(cp, cp->metrics->conns);
	epoll_ctl(cp->epfd, EPOLL_CTL_DEL, cp->metrics->fd, NULL);
	close(cp->metrics->fd);
	free(cp->metrics);
	cp->metrics = NULL;
}
