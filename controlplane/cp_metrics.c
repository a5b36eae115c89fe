/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * `--metrics ADDR:PORT`: the figures of counters.get in the Prometheus text
 * exposition format (version 0.0.4) at GET /metrics.
 *
 * HTTP is libmicrohttpd's, without a thread of its own: its epoll fd sits
 * in edgelb-cp's epoll set and MHD_run is called from the loop (on its
 * event, and every round for its time limits), so every request is
 * answered on the loop's thread and nothing needs a lock. One request per
 * connection (the answer closes it), METRICS_MAX_CONNS connections at once,
 * METRICS_TIMEOUT_S each: a scraper that stalls costs one fd for a few
 * seconds and never blocks the loop. The listening socket is ours (bound
 * before MHD starts), so a bad address fails with its errno.
 *
 * The page is rendered here from cp_counters_json, the one source of the
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
#include <microhttpd.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "cp_dataplanes.h"
#include "cp_methods.h"
#include "cp_prefixes.h"

#define METRICS_MAX_CONNS 32u
#define METRICS_TIMEOUT_S 5u
/* Per connection: the request head and the response head. */
#define METRICS_CONN_MEMORY (8u << 10)

static const char text_type[] = "text/plain; charset=utf-8";
static const char page_type[] = "text/plain; version=0.0.4; charset=utf-8";

struct cp_metrics {
	int kind; /* CP_POLL_METRICS: the first member, as epoll data */
	int listen_fd;
	int mhd_epoll_fd;
	struct MHD_Daemon *mhd;
	const struct cp_daemon *cp;
	uint64_t scrapes, bad_requests;
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
	{"edgelb_vip_flood_workers", "gauge",
	 "Workers (DPDK) or CPUs (XDP) in flood mode for the VIP now, over the dataplanes "
	 "(its new-flow budget spent: new flows forwarded without an entry).",
	 "flood", "workers_active"},
	{"edgelb_vip_flood_entries_total", "counter",
	 "Times a worker (or CPU) put the VIP in flood mode.", "flood", "entries"},
	{"edgelb_vip_flood_stateless_flows_total", "counter",
	 "New flows forwarded in flood mode, by Maglev, without a flow entry.", "flood",
	 "stateless_flows"},
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

/* Per backend of each VIP (its backend_counters). */
static const struct vip_figure backend_figures[] = {
	{"edgelb_backend_forwarded_packets_total", "counter",
	 "Packets sent to the backend, summed over the dataplanes.", "forwarded", "packets"},
	{"edgelb_backend_forwarded_bytes_total", "counter", "Bytes sent to the backend.",
	 "forwarded", "bytes"},
	{"edgelb_backend_new_flows_total", "counter", "Flows that picked the backend.", NULL,
	 "new_flows"},
	{"edgelb_backend_weight", "gauge", "The backend's configured weight.", NULL, "weight"},
};

/* Each figure, one sample per VIP or, per_backend, per backend of each VIP. */
static void render_figures(struct text *t, const cJSON *vips, const struct vip_figure *figures,
			   size_t n, bool per_backend)
{
	char vip_l[160], b_l[96];
	const cJSON *v, *b;

	for (size_t f = 0; f < n; f++) {
		const struct vip_figure *fig = &figures[f];

		put_family(t, fig->name, fig->type, fig->help);
		cJSON_ArrayForEach(v, vips)
		{
			label(cJSON_GetObjectItem(v, "vip")->valuestring, vip_l, sizeof(vip_l));
			if (!per_backend) {
				put(t, "%s{vip=\"%s\"} ", fig->name, vip_l);
				put_value(t, num(v, fig->group, fig->member));
				continue;
			}
			cJSON_ArrayForEach(b, cJSON_GetObjectItemCaseSensitive(v, "backend_counters"))
			{
				put(t, "%s{vip=\"%s\",backend=\"%s\"} ", fig->name, vip_l,
				    label(cJSON_GetObjectItem(b, "address")->valuestring, b_l,
					  sizeof(b_l)));
				put_value(t, num(b, fig->group, fig->member));
			}
		}
	}
}

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

	render_figures(t, vips, vip_figures, sizeof(vip_figures) / sizeof(vip_figures[0]), false);
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
	/* counters.get's "prefixes": {"vip"|"node": {"allowed", "denied"}}. */
	put_family(t, "edgelb_vip_prefix_matches_total", "counter",
		   "Packets for the VIP a prefix rule decided, by the list (the VIP's own or the "
		   "node's) and the rule's action.");
	cJSON_ArrayForEach(v, vips)
	{
		const cJSON *prefixes = cJSON_GetObjectItemCaseSensitive(v, "prefixes");

		label(cJSON_GetObjectItem(v, "vip")->valuestring, vip_l, sizeof(vip_l));
		for (size_t s = 0; s < 2; s++) {
			const char *scope = s == 0 ? "vip" : "node";
			const cJSON *counts = cJSON_GetObjectItemCaseSensitive(prefixes, scope);

			put(t, "edgelb_vip_prefix_matches_total{vip=\"%s\",scope=\"%s\",action=\"allow\"} ",
			    vip_l, scope);
			put_value(t, num(counts, NULL, "allowed"));
			put(t, "edgelb_vip_prefix_matches_total{vip=\"%s\",scope=\"%s\",action=\"deny\"} ",
			    vip_l, scope);
			put_value(t, num(counts, NULL, "denied"));
		}
	}
	render_windows(t, vips, "edgelb_vip_availability", "availability",
		       "forwarded / (rx - rate_limited) over the window; absent without traffic.");
	render_windows(t, vips, "edgelb_vip_error_budget_left", "error_budget_left",
		       "Share of the error budget left over the window (1 none spent, <0 overspent).");
	render_figures(t, vips, backend_figures,
		       sizeof(backend_figures) / sizeof(backend_figures[0]), true);
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
	put_family(&t, "edgelb_cp_config_writes_total", "counter",
		   "Atomic writes of the config file (one fsync each, for one change or a group).");
	put(&t, "edgelb_cp_config_writes_total %llu\n", (unsigned long long)cp->config_writes);
	put_family(&t, "edgelb_prefix_rules", "gauge",
		   "Prefix allow/deny rules in force, in the node's list and in the VIPs' lists.");
	put(&t, "edgelb_prefix_rules{scope=\"node\"} %u\n", cp->prefixes->node.n);
	put(&t, "edgelb_prefix_rules{scope=\"vip\"} %u\n", cp_prefixes_vip_rules(cp->prefixes));
	put_family(&t, "edgelb_cp_prefixes_generation", "gauge",
		   "Generation of the prefix lists (counts their changes).");
	put(&t, "edgelb_cp_prefixes_generation %llu\n",
	    (unsigned long long)cp->prefixes->generation);
	put_family(&t, "edgelb_dataplane_prefixes_in_sync", "gauge",
		   "1 while the dataplane is connected and has the prefix lists in force.");
	for (uint32_t i = 0; i < cp->n_dps; i++)
		put(&t, "edgelb_dataplane_prefixes_in_sync{dataplane=\"%s\"} %d\n", cp->dps[i].cfg.name,
		    cp->dps[i].connected && cp->dps[i].prefixes_gen == cp->prefixes->generation);
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

static enum MHD_Result answer(struct MHD_Connection *conn, unsigned int status, const char *type,
			      char *body, size_t len, enum MHD_ResponseMemoryMode mode)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, body, mode);
	enum MHD_Result rc;

	if (r == NULL) {
		if (mode == MHD_RESPMEM_MUST_FREE)
			free(body);
		return MHD_NO; /* MHD closes the connection */
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET");
	rc = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return rc;
}

static enum MHD_Result answer_text(struct MHD_Connection *conn, unsigned int status,
				   const char *text)
{
	return answer(conn, status, text_type, (char *)text, strlen(text), MHD_RESPMEM_PERSISTENT);
}

/* MHD's access handler: one call per request (a request body, which no
 * GET has, is not waited for). url comes without its query string. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **req_cls)
{
	struct cp_metrics *m = cls;
	size_t len;
	char *body;

	(void)version;
	(void)upload_data;
	(void)upload_data_size;
	(void)req_cls;
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0) {
		m->bad_requests++;
		return answer_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "GET only\n");
	}
	if (strcmp(url, "/metrics") != 0)
		return answer_text(conn, MHD_HTTP_NOT_FOUND, "the figures are at /metrics\n");
	body = cp_metrics_render(m->cp, &len);
	if (body == NULL)
		return answer_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
	m->scrapes++;
	return answer(conn, MHD_HTTP_OK, page_type, body, len, MHD_RESPMEM_MUST_FREE);
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
	const union MHD_DaemonInfo *info;
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
	m->cp = cp;
	m->mhd_epoll_fd = -1;
	m->listen_fd = socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (m->listen_fd < 0 ||
	    setsockopt(m->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(m->listen_fd, (struct sockaddr *)&addr, len) < 0 || listen(m->listen_fd, 64) < 0) {
		rc = -errno;
		goto fail;
	}
	/* MHD_USE_EPOLL without MHD_USE_INTERNAL_POLLING_THREAD: no thread,
	 * MHD_run from our loop. */
	m->mhd = MHD_start_daemon(MHD_USE_EPOLL | (addr.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0),
				  0, NULL, NULL, on_request, m,
				  MHD_OPTION_LISTEN_SOCKET, m->listen_fd,
				  MHD_OPTION_CONNECTION_LIMIT, (unsigned int)METRICS_MAX_CONNS,
				  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)METRICS_TIMEOUT_S,
				  MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)METRICS_CONN_MEMORY,
				  MHD_OPTION_END);
	if (m->mhd == NULL) {
		rc = -ENOMEM; /* MHD says no more; the socket itself was fine */
		goto fail;
	}
	m->listen_fd = -1; /* MHD's now: MHD_stop_daemon closes it */
	info = MHD_get_daemon_info(m->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	if (info == NULL) {
		rc = -EINVAL;
		goto fail;
	}
	m->mhd_epoll_fd = info->epoll_fd;
	ev.data.ptr = m;
	if (epoll_ctl(cp->epfd, EPOLL_CTL_ADD, m->mhd_epoll_fd, &ev) < 0) {
		rc = -errno;
		goto fail;
	}
	cp->metrics = m;
	return 0;
fail:
	if (m->mhd != NULL)
		MHD_stop_daemon(m->mhd);
	if (m->listen_fd >= 0)
		close(m->listen_fd);
	free(m);
	return rc;
}

void cp_metrics_event(struct cp_daemon *cp)
{
	if (cp->metrics != NULL)
		MHD_run(cp->metrics->mhd);
}

void cp_metrics_tick(struct cp_daemon *cp)
{
	/* Also without an event: MHD closes timed-out connections in MHD_run. */
	cp_metrics_event(cp);
}

void cp_metrics_close(struct cp_daemon *cp)
{
	if (cp->metrics == NULL)
		return;
	epoll_ctl(cp->epfd, EPOLL_CTL_DEL, cp->metrics->mhd_epoll_fd, NULL);
	MHD_stop_daemon(cp->metrics->mhd);
	free(cp->metrics);
	cp->metrics = NULL;
}
