/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * edgelbctl: the operator's command line for edgelb-cp. One JSON-RPC
 * request per invocation over the operator socket; the answer is printed as
 * a table (or raw with --json). A JSON-RPC error is printed on stderr and
 * makes the exit status 1; usage errors give 2, a socket failure 3.
 * `explain` goes on to the dataplanes' own sockets (flow.explain), which
 * edgelb-cp lists: it never makes edgelb-cp wait on a dataplane.
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>

#include <cjson/cJSON.h>

#include "elb_version.h"

#define DEFAULT_SOCKET "/run/edgelb/cp.sock"
#define REPLY_MAX (64u << 20)
#define TIMEOUT_S 10

static void usage(FILE *out)
{
	fprintf(out,
		"usage: edgelbctl [--socket PATH] [--json] COMMAND ...\n"
		"  vip list\n"
		"  vip get VIP                      VIP is ADDRESS:PORT/PROTO, [V6]:PORT/PROTO\n"
		"  backend add VIP BACKEND [--weight N] [--dry-run]\n"
		"  backend remove|undrain VIP BACKEND [--dry-run]\n"
		"  backend drain VIP BACKEND [--dry-run] [--wait] [--timeout S] [--remove]\n"
		"                                   --wait: until drained (exit 0) or timed out (4)\n"
		"  backend weight VIP BACKEND N [--dry-run]\n"
		"                                   --dry-run: what would move (backend.preview)\n"
		"  health | counters | slo | config | dataplanes | fleet\n"
		"  stats [--watch] [--interval MS] [--count N]\n"
		"                                   per-VIP and per-backend rates, live with --watch\n"
		"  events [--count N]               events as they happen (subscribe)\n"
		"  explain SRC:SPORT DST:DPORT tcp|udp [--flags SAFRP] [--length N] [--no-df]\n"
		"  explain --packet HEX | --pcap FILE [--frame N]\n"
		"          [--dataplane NAME | --dp-socket PATH] [--output]\n"
		"                                   every step of each dataplane's decision for one\n"
		"                                   packet (flow.explain); exit 5 if they disagree\n"
		"  node                             BGP announcements, speaker, sessions, drain state\n"
		"  node drain [--wait] [--timeout S]\n"
		"                                   withdraw every VIP; --wait: until no VIP traffic\n"
		"                                   arrives (exit 0) or timed out (4)\n"
		"  node resume                      announce again\n"
		"  call METHOD [PARAMS-JSON]        any method, raw\n");
}

/* "198.51.100.1:443/tcp" or "[2001:db8::1]:443/tcp" into params members. */
static int add_vip(cJSON *params, const char *text)
{
	char buf[128], *slash, *colon, *addr = buf;
	char *end;
	long port;

	if (snprintf(buf, sizeof(buf), "%s", text) >= (int)sizeof(buf))
		return -EINVAL;
	slash = strrchr(buf, '/');
	colon = strrchr(buf, ':');
	if (slash == NULL || colon == NULL || colon > slash)
		return -EINVAL;
	*slash = '\0';
	*colon = '\0';
	if (buf[0] == '[') {
		size_t n = strlen(buf);

		if (n < 2 || buf[n - 1] != ']')
			return -EINVAL;
		buf[n - 1] = '\0';
		addr = buf + 1;
	}
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (errno != 0 || *end != '\0' || end == colon + 1 || port < 0 || port > 65535)
		return -EINVAL;
	cJSON_AddStringToObject(params, "address", addr);
	cJSON_AddNumberToObject(params, "port", (double)port);
	cJSON_AddStringToObject(params, "protocol", slash + 1);
	return 0;
}

/* A weight as the server will check it: digits only here, so that "abc"
 * is not sent as 0; the range is the server's to judge (and name). */
static int add_weight(cJSON *params, const char *text)
{
	char *end;
	double value;

	if (text[0] < '0' || text[0] > '9')
		return -EINVAL;
	value = strtod(text, &end);
	if (*end != '\0')
		return -EINVAL;
	cJSON_AddNumberToObject(params, "weight", value);
	return 0;
}

/* One connection to the socket, read line by line. */
struct conn {
	int fd;
	char *buf;
	size_t len, cap;
};

static int conn_open(struct conn *c, const char *path)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct timeval tv = {.tv_sec = TIMEOUT_S};

	memset(c, 0, sizeof(*c));
	if (strlen(path) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	strcpy(sun.sun_path, path);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		int rc = -errno;

		if (c->fd >= 0)
			close(c->fd);
		c->fd = -1;
		return rc;
	}
	setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return 0;
}

static void conn_close(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c->buf);
	c->fd = -1;
	c->buf = NULL;
}

/* Send one request. A failed send is not the end: a server that refused
 * us (permission denied) has closed the socket with its reason waiting to
 * be read, so the caller reads anyway. */
static void conn_request(struct conn *c, const char *method, cJSON *params)
{
	cJSON *req = cJSON_CreateObject();
	char *line;

	cJSON_AddStringToObject(req, "jsonrpc", "2.0");
	cJSON_AddNumberToObject(req, "id", 1);
	cJSON_AddStringToObject(req, "method", method);
	if (params != NULL)
		cJSON_AddItemToObject(req, "params", params);
	line = cJSON_PrintUnformatted(req);
	cJSON_Delete(req);
	if (line == NULL)
		return;
	for (size_t off = 0, n = strlen(line); off < n;) {
		ssize_t w = send(c->fd, line + off, n - off, MSG_NOSIGNAL);

		if (w <= 0)
			break;
		off += (size_t)w;
	}
	(void)!send(c->fd, "\n", 1, MSG_NOSIGNAL);
	free(line);
}

/* The next line from the server, parsed; timeout_s 0 waits for ever. */
static int conn_read(struct conn *c, cJSON **msg, int timeout_s)
{
	struct timeval tv = {.tv_sec = timeout_s};

	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	for (;;) {
		char *nl = c->len > 0 ? memchr(c->buf, '\n', c->len) : NULL;
		ssize_t r;

		if (nl != NULL) {
			size_t line_len = (size_t)(nl - c->buf);

			*msg = cJSON_ParseWithLength(c->buf, line_len);
			memmove(c->buf, nl + 1, c->len - line_len - 1);
			c->len -= line_len + 1;
			return *msg != NULL ? 0 : -EBADMSG;
		}
		if (c->cap - c->len < 65536) {
			size_t cap = c->cap ? c->cap * 2 : 65536 * 2;
			char *grown;

			if (cap > REPLY_MAX || (grown = realloc(c->buf, cap)) == NULL)
				return -EFBIG;
			c->buf = grown;
			c->cap = cap;
		}
		r = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
		if (r < 0)
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		if (r == 0)
			return -ECONNRESET;
		c->len += (size_t)r;
	}
}

static int call(const char *path, const char *method, cJSON *params, cJSON **reply)
{
	struct conn c;
	int rc = conn_open(&c, path);

	if (rc < 0) {
		cJSON_Delete(params);
		return rc;
	}
	conn_request(&c, method, params);
	rc = conn_read(&c, reply, TIMEOUT_S);
	conn_close(&c);
	return rc;
}

static const char *str(const cJSON *o, const char *name)
{
	const cJSON *i = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsString(i) ? i->valuestring : "-";
}

static double num(const cJSON *o, const char *name)
{
	const cJSON *i = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsNumber(i) ? i->valuedouble : 0;
}

static const char *yes(const cJSON *o, const char *name)
{
	return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, name)) ? "yes" : "no";
}

static void print_vips(const cJSON *result)
{
	const cJSON *v;

	printf("%-32s %8s %8s %8s %-6s %-8s\n", "VIP", "BACKENDS", "HEALTHY", "DRAINING", "CHECK",
	       "ALL_DOWN");
	cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(result, "vips"))
		printf("%-32s %8.0f %8.0f %8.0f %-6s %-8s\n", str(v, "vip"), num(v, "backends"),
		       num(v, "healthy"), num(v, "draining"), str(v, "health_check"),
		       yes(v, "all_down"));
}

static void print_backends(const cJSON *vip)
{
	const cJSON *b;

	printf("%s: %.0f backends, %.0f healthy, check %s%s\n", str(vip, "vip"),
	       num(vip, "backends"), num(vip, "healthy"), str(vip, "health_check"),
	       cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(vip, "all_down"))
		       ? ", ALL DOWN (last healthy set kept)"
		       : "");
	printf("  %-40s %-9s %6s %-8s %-6s %8s %8s %8s %-9s  %s\n", "BACKEND", "STATE", "WEIGHT",
	       "HEALTH", "PUSHED", "CHECKS", "FAILURES", "FLOWS", "DRAIN", "LAST_ERROR");
	cJSON_ArrayForEach(b, cJSON_GetObjectItemCaseSensitive(vip, "backend_health"))
	{
		const cJSON *flows = cJSON_GetObjectItemCaseSensitive(b, "active_flows");
		char flows_text[24];

		if (cJSON_IsNumber(flows))
			snprintf(flows_text, sizeof(flows_text), "%.0f", flows->valuedouble);
		else
			snprintf(flows_text, sizeof(flows_text), "?");
		printf("  %-40s %-9s %6.0f %-8s %-6s %8.0f %8.0f %8s %-9s  %s\n", str(b, "address"),
		       str(b, "state"), num(b, "weight"), str(b, "health"), yes(b, "pushed"),
		       num(b, "checks"), num(b, "failures"), flows_text, str(b, "drain_state"),
		       str(b, "last_error"));
	}
}

static double drops_total(const cJSON *v)
{
	const cJSON *d;
	double total = 0;

	cJSON_ArrayForEach(d, cJSON_GetObjectItemCaseSensitive(v, "drops"))
		if (cJSON_IsNumber(d))
			total += d->valuedouble;
	return total;
}

static void print_counters(const cJSON *result)
{
	const cJSON *v;

	printf("%-32s %14s %14s %12s %12s %8s\n", "VIP", "RX_PACKETS", "FWD_PACKETS", "NEW_FLOWS",
	       "DROPS", "HEALTHY");
	cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(result, "vips"))
	{
		const cJSON *rx = cJSON_GetObjectItemCaseSensitive(v, "rx");
		const cJSON *fwd = cJSON_GetObjectItemCaseSensitive(v, "forwarded");

		printf("%-32s %14.0f %14.0f %12.0f %12.0f %4.0f/%-3.0f\n", str(v, "vip"),
		       num(rx, "packets"), num(fwd, "packets"), num(v, "new_flows"), drops_total(v),
		       num(v, "healthy"), num(v, "backends"));
	}
}

static void print_dataplanes(const cJSON *result)
{
	const cJSON *d;

	printf("%-16s %-9s %-18s %10s %-7s %8s  %s\n", "DATAPLANE", "CONNECTED", "INSTANCE",
	       "PUSH_EPOCH", "IN_SYNC", "RESTARTS", "LAST_ERROR");
	cJSON_ArrayForEach(d, cJSON_GetObjectItemCaseSensitive(result, "dataplanes"))
		printf("%-16s %-9s %-18s %10.0f %-7s %8.0f  %s\n", str(d, "name"),
		       strcmp(str(d, "state"), "refused") == 0 ? "refused" : yes(d, "connected"),
		       str(d, "instance"), num(d, "last_push_epoch"),
		       yes(d, "in_sync"), num(d, "restarts"), str(d, "last_error"));
}

static void print_side(const cJSON *side)
{
	if (!cJSON_IsObject(side))
		printf(" %6s %-9s %9s %7s", "-", "-", "-", "-");
	else
		printf(" %6.0f %-9s %9.0f %6.2f%%", num(side, "weight"), str(side, "state"),
		       num(side, "slots"), 100 * num(side, "share"));
}

static void print_preview(const cJSON *result)
{
	const cJSON *b;

	printf("%s: maglev_size %.0f: %.2f%% of new flows would go elsewhere (%.0f slots move); "
	       "%.0f established flows re-picked (their backend leaves)%s\n",
	       str(result, "vip"), num(result, "maglev_size"), 100 * num(result, "moved_fraction"),
	       num(result, "moved_slots"), num(result, "flows_repicked"),
	       cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(result, "flows_known"))
		       ? ""
		       : " (not every dataplane reported its flows)");
	printf("  %-40s %6s %-9s %9s %7s %6s %-9s %9s %7s %8s\n", "BACKEND", "OLD_W", "OLD_STATE",
	       "OLD_SLOTS", "OLD_SH", "NEW_W", "NEW_STATE", "NEW_SLOTS", "NEW_SH", "FLOWS");
	cJSON_ArrayForEach(b, cJSON_GetObjectItemCaseSensitive(result, "backends"))
	{
		printf("  %-40s", str(b, "address"));
		print_side(cJSON_GetObjectItemCaseSensitive(b, "old"));
		print_side(cJSON_GetObjectItemCaseSensitive(b, "new"));
		printf(" %8.0f%s\n", num(b, "flows"), yes(b, "leaves")[0] == 'y' ? "  leaves" : "");
	}
	if (cJSON_IsString(cJSON_GetObjectItemCaseSensitive(result, "warning")))
		printf("WARNING: %s\n", str(result, "warning"));
}

static void print_fleet(const cJSON *result)
{
	const cJSON *v, *d, *b;

	printf("disagreements %.0f (alarm after %.0f ms), drains completed %.0f, timed out %.0f\n",
	       num(result, "disagreements"), num(result, "disagree_after_ms"),
	       num(result, "drains_completed"), num(result, "drains_timed_out"));
	cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(result, "vips"))
	{
		printf("\n%s: maglev_size %.0f, expected digest %s: %s\n", str(v, "vip"),
		       num(v, "maglev_size"), str(v, "expected_digest"),
		       cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(v, "alarm"))  ? "DISAGREE (alarm)"
		       : cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(v, "agree")) ? "all agree"
										   : "differ (within the grace time)");
		printf("  %-16s %-9s %8s %-16s %-6s %8s\n", "DATAPLANE", "CONNECTED", "EPOCH",
		       "DIGEST", "AGREE", "FLOWS");
		cJSON_ArrayForEach(d, cJSON_GetObjectItemCaseSensitive(v, "dataplanes"))
		{
			const cJSON *agree = cJSON_GetObjectItemCaseSensitive(d, "agree");

			printf("  %-16s %-9s %8.0f %-16s %-6s %8.0f\n", str(d, "name"),
			       yes(d, "connected"), num(d, "epoch"), str(d, "digest"),
			       cJSON_IsNull(agree) ? "?" : cJSON_IsTrue(agree) ? "yes" : "NO",
			       num(d, "flows"));
		}
		printf("  %-40s %-9s %6s %8s %8s %8s %9s %8s  %s\n", "BACKEND", "STATE", "WEIGHT",
		       "W_SHARE", "SLOTS", "SL_SHARE", "NEWFL_SH", "FLOWS", "DRAIN");
		cJSON_ArrayForEach(b, cJSON_GetObjectItemCaseSensitive(v, "backends"))
		{
			const cJSON *nfs = cJSON_GetObjectItemCaseSensitive(b, "new_flow_share");

			printf("  %-40s %-9s %6.0f %7.2f%% %8.0f %7.2f%% ", str(b, "address"),
			       str(b, "state"), num(b, "weight"), 100 * num(b, "weight_share"),
			       num(b, "slots"), 100 * num(b, "slot_share"));
			if (cJSON_IsNumber(nfs))
				printf("%8.2f%% ", 100 * nfs->valuedouble);
			else
				printf("%9s ", "-");
			printf("%8.0f  %s\n", num(b, "active_flows"), str(b, "drain_state"));
		}
	}
}

/*
 * backend drain --wait: subscribe to events on one connection, send the
 * drain on it, then wait for this backend's drain_complete.
 * @return 0 drained (flows gone), 4 ended by its timeout or not seen in
 *         time, 1 refused, 3 socket trouble.
 */
static void print_json_line(const cJSON *item);

static int drain_wait(const char *path, cJSON *params, unsigned long timeout_s, bool json)
{
	char backend[64];
	cJSON *sub = cJSON_CreateObject(), *msg = NULL;
	struct timespec start, now;
	struct conn c;
	int rc = conn_open(&c, path), result = 4;

	snprintf(backend, sizeof(backend), "%s", str(params, "backend"));
	if (rc < 0) {
		fprintf(stderr, "edgelbctl: %s: %s\n", path, strerror(-rc));
		cJSON_Delete(params);
		cJSON_Delete(sub);
		return 3;
	}
	cJSON_AddBoolToObject(sub, "snapshots", false);
	cJSON_AddBoolToObject(sub, "events", true);
	conn_request(&c, "subscribe", sub);
	if (conn_read(&c, &msg, TIMEOUT_S) < 0 || cJSON_GetObjectItem(msg, "result") == NULL) {
		fprintf(stderr, "edgelbctl: subscribe refused\n");
		cJSON_Delete(msg);
		cJSON_Delete(params);
		conn_close(&c);
		return 1;
	}
	cJSON_Delete(msg);
	conn_request(&c, "backend.drain", params);
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		const cJSON *error, *res, *p;

		msg = NULL;
		rc = conn_read(&c, &msg, TIMEOUT_S);
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (rc == -ETIMEDOUT &&
		    (unsigned long)(now.tv_sec - start.tv_sec) < timeout_s + 30)
			continue; /* quiet: nothing happened yet */
		if (rc < 0) {
			fprintf(stderr, "edgelbctl: %s: %s\n", path, strerror(-rc));
			result = rc == -ETIMEDOUT ? 4 : 3;
			break;
		}
		error = cJSON_GetObjectItemCaseSensitive(msg, "error");
		res = cJSON_GetObjectItemCaseSensitive(msg, "result");
		p = cJSON_GetObjectItemCaseSensitive(msg, "params");
		if (error != NULL) {
			fprintf(stderr, "edgelbctl: error %.0f: %s\n", num(error, "code"),
				str(error, "message"));
			result = 1;
			break;
		}
		if (res != NULL) {
			const cJSON *drain = cJSON_GetObjectItemCaseSensitive(res, "drain");

			if (strcmp(str(drain, "state"), "drained") == 0) {
				printf("already drained\n");
				result = 0;
				break;
			}
			if (!json)
				printf("draining %s (generation %.0f, timeout %.0f s)...\n", backend,
				       num(res, "generation"), num(drain, "timeout_ms") / 1000);
			fflush(stdout);
			goto next;
		}
		if (strcmp(str(p, "type"), "drain_complete") != 0 ||
		    strcmp(str(p, "backend"), backend) != 0)
			goto next;
		if (json)
			print_json_line(p);
		else
			printf("%s %s: drained (%s) after %.1f s, %.0f flows left%s\n", str(p, "vip"),
			       backend, str(p, "reason"), num(p, "drain_ms") / 1000,
			       num(p, "flows_left"),
			       yes(p, "removed")[0] == 'y' ? "; removed" : "");
		result = strcmp(str(p, "reason"), "flows_gone") == 0 ? 0 : 4;
		break;
next:
		cJSON_Delete(msg);
	}
	cJSON_Delete(msg);
	conn_close(&c);
	return result;
}

static const cJSON *find_named(const cJSON *list, const char *key, const char *value)
{
	const cJSON *item;

	cJSON_ArrayForEach(item, list)
	{
		const cJSON *k = cJSON_GetObjectItemCaseSensitive(item, key);

		if (cJSON_IsString(k) && strcmp(k->valuestring, value) == 0)
			return item;
	}
	return NULL;
}

/* (now - before) / seconds of a counter; -1 without a previous figure. */
static double rate(const cJSON *now, const cJSON *before, const char *group, const char *name,
		   double seconds)
{
	const cJSON *g_now = group ? cJSON_GetObjectItemCaseSensitive(now, group) : now;
	const cJSON *g_before = group ? cJSON_GetObjectItemCaseSensitive(before, group) : before;
	double a = num(g_now, name), b = num(g_before, name);

	if (before == NULL || seconds <= 0)
		return -1;
	return a >= b ? (a - b) / seconds : a / seconds; /* a dataplane restarted */
}

static void print_rate(const char *fmt_num, double value, int width)
{
	if (value < 0)
		printf(" %*s", width, "-");
	else
		printf(fmt_num, width, value);
}

static void print_percent(const cJSON *value, int width)
{
	if (cJSON_IsNumber(value))
		printf(" %*.4f%%", width - 1, value->valuedouble * 100);
	else
		printf(" %*s", width, "-");
}

#define EVENTS_SHOWN 6

struct watch {
	cJSON *previous; /* the last snapshot's params */
	char events[EVENTS_SHOWN][200];
	unsigned int n_events;
};

static void describe_event(const cJSON *e, char *out, size_t len)
{
	static const char *const fields[] = {"vip",	"backend", "dataplane",
					     "generation", "reason",  "error"};
	double t = num(e, "time_ms");
	time_t secs = (time_t)(t / 1000);
	struct tm tm;
	char when[16] = "";
	size_t o;

	if (localtime_r(&secs, &tm) != NULL)
		strftime(when, sizeof(when), "%H:%M:%S", &tm);
	o = (size_t)snprintf(out, len, "%s.%03d %s", when, (int)((long long)t % 1000),
			     str(e, "type"));
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]) && o < len; i++) {
		const cJSON *f = cJSON_GetObjectItemCaseSensitive(e, fields[i]);

		if (cJSON_IsString(f))
			o += (size_t)snprintf(out + o, len - o, " %s=%s", fields[i], f->valuestring);
		else if (cJSON_IsNumber(f))
			o += (size_t)snprintf(out + o, len - o, " %s=%.0f", fields[i], f->valuedouble);
	}
}

static void print_stats_frame(const cJSON *snap, const struct watch *w, bool clear)
{
	const cJSON *prev = w->previous, *v;
	double seconds = prev ? (num(snap, "time_ms") - num(prev, "time_ms")) / 1000.0 : 0;
	time_t now = time(NULL);
	struct tm tm;
	char when[32] = "";

	if (localtime_r(&now, &tm) != NULL)
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
	if (clear)
		printf("\033[H\033[2J");
	printf("edgelb  %s  generation %.0f  dataplanes reporting %.0f  (rates over %.1f s)\n\n",
	       when, num(snap, "generation"), num(snap, "dataplanes_reporting"), seconds);
	printf("%-30s %10s %10s %9s %10s %9s %7s %10s %9s\n", "VIP", "RX_PPS", "FWD_PPS",
	       "FWD_MBPS", "NEWFLOW/S", "DROPS/S", "HEALTHY", "AVAIL_1M", "BUDGET_1M");
	cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(snap, "vips"))
	{
		const cJSON *pv = prev ? find_named(cJSON_GetObjectItemCaseSensitive(prev, "vips"),
						    "vip", str(v, "vip"))
				       : NULL;
		const cJSON *slo = cJSON_GetObjectItemCaseSensitive(v, "slo"), *b;
		double fwd_pps = rate(v, pv, "forwarded", "packets", seconds);
		double fwd_bytes = rate(v, pv, "forwarded", "bytes", seconds);
		double drops = -1;

		if (pv != NULL && seconds > 0)
			drops = (drops_total(v) - drops_total(pv)) / seconds;
		printf("%-30s", str(v, "vip"));
		print_rate(" %*.0f", rate(v, pv, "rx", "packets", seconds), 10);
		print_rate(" %*.0f", fwd_pps, 10);
		print_rate(" %*.2f", fwd_bytes < 0 ? -1 : fwd_bytes * 8 / 1e6, 9);
		print_rate(" %*.0f", rate(v, pv, NULL, "new_flows", seconds), 10);
		print_rate(" %*.0f", drops < 0 ? -1 : drops, 9);
		printf(" %3.0f/%-3.0f", num(v, "healthy"), num(v, "backends"));
		print_percent(cJSON_GetObjectItemCaseSensitive(
				      cJSON_GetObjectItemCaseSensitive(slo, "availability"), "1m"),
			      10);
		print_percent(cJSON_GetObjectItemCaseSensitive(
				      cJSON_GetObjectItemCaseSensitive(slo, "error_budget_left"),
				      "1m"),
			      9);
		printf("\n  %-40s %-9s %6s %-8s %10s %7s %10s\n", "BACKEND", "STATE", "WEIGHT",
		       "HEALTH", "FWD_PPS", "SHARE", "NEWFLOW/S");
		cJSON_ArrayForEach(b, cJSON_GetObjectItemCaseSensitive(v, "backend_counters"))
		{
			const cJSON *pb =
				pv ? find_named(cJSON_GetObjectItemCaseSensitive(pv, "backend_counters"),
						"address", str(b, "address"))
				   : NULL;
			double pps = rate(b, pb, "forwarded", "packets", seconds);

			printf("  %-40s %-9s %6.0f %-8s", str(b, "address"), str(b, "state"),
			       num(b, "weight"), str(b, "health"));
			print_rate(" %*.0f", pps, 10);
			if (pps >= 0 && fwd_pps > 0)
				printf(" %6.1f%%", pps * 100 / fwd_pps);
			else
				printf(" %7s", "-");
			print_rate(" %*.0f", rate(b, pb, NULL, "new_flows", seconds), 10);
			printf("\n");
		}
		printf("\n");
	}
	if (w->n_events > 0) {
		unsigned int first = w->n_events > EVENTS_SHOWN ? w->n_events - EVENTS_SHOWN : 0;

		printf("recent events:\n");
		for (unsigned int i = first; i < w->n_events; i++)
			printf("  %s\n", w->events[i % EVENTS_SHOWN]);
	}
	fflush(stdout);
}

static void print_json_line(const cJSON *item)
{
	char *text = cJSON_PrintUnformatted(item);

	puts(text != NULL ? text : "null");
	free(text);
	fflush(stdout);
}

/*
 * `stats` and `events`: subscribe and print what comes, until `frames`
 * frames (stats: tables, or snapshots with --json) or events were shown
 * (0: until interrupted). A one-shot table waits for a second snapshot, so
 * that it has rates.
 */
static int run_stream(const char *path, bool stats, bool json, uint32_t interval_ms,
		      unsigned long frames)
{
	struct watch w = {0};
	struct conn c;
	cJSON *params = cJSON_CreateObject(), *msg = NULL;
	unsigned long shown = 0;
	bool clear = stats && !json && isatty(STDOUT_FILENO);
	int rc = conn_open(&c, path);

	if (rc < 0) {
		cJSON_Delete(params);
		fprintf(stderr, "edgelbctl: %s: %s\n", path, strerror(-rc));
		return 3;
	}
	cJSON_AddNumberToObject(params, "interval_ms", interval_ms);
	cJSON_AddBoolToObject(params, "snapshots", stats);
	cJSON_AddBoolToObject(params, "events", true);
	conn_request(&c, "subscribe", params);
	rc = conn_read(&c, &msg, TIMEOUT_S);
	if (rc == 0 && cJSON_GetObjectItemCaseSensitive(msg, "error") != NULL) {
		const cJSON *error = cJSON_GetObjectItemCaseSensitive(msg, "error");

		fprintf(stderr, "edgelbctl: error %.0f: %s\n", num(error, "code"),
			str(error, "message"));
		cJSON_Delete(msg);
		conn_close(&c);
		return 1;
	}
	cJSON_Delete(msg);
	while (rc == 0 && (frames == 0 || shown < frames)) {
		const char *method;
		cJSON *p;

		/* Snapshots come every interval: silence for much longer is a
		 * dead server. Events alone may be quiet for ever. */
		rc = conn_read(&c, &msg, stats ? (int)(interval_ms / 1000) + TIMEOUT_S : 0);
		if (rc < 0)
			break;
		method = str(msg, "method");
		p = cJSON_GetObjectItemCaseSensitive(msg, "params");
		if (strcmp(method, "event") == 0) {
			char *line = w.events[w.n_events++ % EVENTS_SHOWN];

			describe_event(p, line, sizeof(w.events[0]));
			if (!stats) {
				if (json)
					print_json_line(p);
				else
					puts(line);
				fflush(stdout);
				shown++;
			}
		} else if (strcmp(method, "snapshot") == 0 && stats) {
			if (json) {
				print_json_line(p);
				shown++;
			} else if (w.previous != NULL) {
				print_stats_frame(p, &w, clear);
				shown++;
			}
			cJSON_Delete(w.previous);
			w.previous = cJSON_DetachItemFromObjectCaseSensitive(msg, "params");
		}
		cJSON_Delete(msg);
	}
	cJSON_Delete(w.previous);
	conn_close(&c);
	if (rc < 0) {
		fprintf(stderr, "edgelbctl: %s: %s\n", path, strerror(-rc));
		return 3;
	}
	return 0;
}

static void print_slo(const cJSON *result)
{
	static const char *const windows[] = {"1m", "5m", "1h"};
	const cJSON *v;

	printf("%-30s %9s %10s %10s %10s %9s %9s %9s %12s\n", "VIP", "OBJECTIVE", "AVAIL_1M",
	       "AVAIL_5M", "AVAIL_1H", "BUDGET_1M", "BUDGET_5M", "BUDGET_1H", "FWD_PPS");
	cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(result, "vips"))
	{
		const cJSON *slo = cJSON_GetObjectItemCaseSensitive(v, "slo");
		const cJSON *av = cJSON_GetObjectItemCaseSensitive(slo, "availability");
		const cJSON *budget = cJSON_GetObjectItemCaseSensitive(slo, "error_budget_left");

		printf("%-30s %8.4f%%", str(v, "vip"), num(slo, "objective") * 100);
		for (int i = 0; i < 3; i++)
			print_percent(cJSON_GetObjectItemCaseSensitive(av, windows[i]), 10);
		for (int i = 0; i < 3; i++)
			print_percent(cJSON_GetObjectItemCaseSensitive(budget, windows[i]), 9);
		printf(" %12.0f\n", num(slo, "forwarded_pps"));
	}
}

static void print_pretty(const cJSON *item)
{
	char *text = cJSON_Print(item);

	if (text != NULL)
		puts(text);
	free(text);
}

static void print_node(const cJSON *r)
{
	const cJSON *speaker = cJSON_GetObjectItemCaseSensitive(r, "speaker"), *item;
	const cJSON *drain = cJSON_GetObjectItemCaseSensitive(r, "drain");
	const cJSON *last = cJSON_GetObjectItemCaseSensitive(speaker, "last_reload");

	printf("state       %s", str(r, "state"));
	if (cJSON_GetObjectItemCaseSensitive(drain, "since_ms") != NULL)
		printf(" (for %.1f s, no VIP packet for %.1f s)", num(drain, "since_ms") / 1000,
		       num(drain, "quiet_for_ms") / 1000);
	if (cJSON_GetObjectItemCaseSensitive(drain, "reason") != NULL)
		printf("; drained (%s) in %.1f s", str(drain, "reason"), num(drain, "drain_ms") / 1000);
	printf("\n");
	if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "bgp"))) {
		printf("bgp         not configured: nothing is announced\n");
		return;
	}
	printf("announced  ");
	cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(r, "announced"))
		printf(" %s", item->valuestring);
	if (cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(r, "announced")) == 0)
		printf(" -");
	if (cJSON_GetObjectItemCaseSensitive(r, "withdrawn_because") != NULL)
		printf("   (withdrawn: %s)", str(r, "withdrawn_because"));
	printf("\n");
	printf("speaker     %s, pid %.0f%s, %.0f reloads", yes(speaker, "up")[0] == 'y' ? "up" : "DOWN",
	       num(speaker, "pid"), yes(speaker, "adopted")[0] == 'y' ? " (adopted)" : "",
	       num(speaker, "reloads"));
	if (last != NULL)
		printf(", last %s: %s", yes(last, "ok")[0] == 'y' ? "ok" : "REFUSED", str(last, "reply"));
	printf("\n");
	cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(speaker, "sessions"))
		printf("session     %-8s %-16s AS%-10.0f %-6s %s\n", str(item, "name"),
		       str(item, "neighbor"), num(item, "as"), str(item, "state"), str(item, "info"));
}

/*
 * node, node drain [--wait] [--timeout S], node resume. --wait polls node.get
 * until the node is drained.
 * @return 0 done (drained: no VIP traffic), 4 drained by its timeout or not
 *         in time, 1 refused, 2 usage, 3 socket trouble.
 */
static int node_command(const char *path, char **args, int nargs, bool json)
{
	const char *method = "node.get";
	unsigned long timeout_s = 0;
	bool wait = false;
	struct timespec start, now;
	cJSON *reply = NULL;
	const cJSON *result, *error;
	int rc;

	if (nargs >= 2 && strcmp(args[1], "drain") == 0)
		method = "node.drain";
	else if (nargs == 2 && strcmp(args[1], "resume") == 0)
		method = "node.resume";
	else if (nargs != 1)
		goto usage;
	for (int i = 2; strcmp(method, "node.drain") == 0 && i < nargs; i++) {
		char *end = NULL;

		if (strcmp(args[i], "--wait") == 0) {
			wait = true;
		} else if (strcmp(args[i], "--timeout") == 0 && i + 1 < nargs) {
			timeout_s = strtoul(args[++i], &end, 10);
			if (*end != '\0' || timeout_s == 0 || timeout_s > 604800)
				goto usage;
		} else {
			goto usage;
		}
	}
	if (timeout_s != 0 && !wait)
		goto usage;
	rc = call(path, method, NULL, &reply);
	if (rc < 0) {
		fprintf(stderr, "edgelbctl: %s: %s\n", path, strerror(-rc));
		return 3;
	}
	error = cJSON_GetObjectItemCaseSensitive(reply, "error");
	result = cJSON_GetObjectItemCaseSensitive(reply, "result");
	if (error != NULL) {
		fprintf(stderr, "edgelbctl: error %.0f: %s\n", num(error, "code"), str(error, "message"));
		cJSON_Delete(reply);
		return 1;
	}
	if (json)
		print_pretty(result);
	else if (strcmp(method, "node.get") == 0)
		print_node(result);
	else
		printf("node %s\n", str(result, "state"));
	if (!wait) {
		cJSON_Delete(reply);
		return 0;
	}
	if (timeout_s == 0) /* the daemon's bgp.drain_timeout_ms ends it */
		timeout_s = (unsigned long)(num(result, "timeout_ms") / 1000) + 30;
	cJSON_Delete(reply);
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		const cJSON *drain;

		reply = NULL;
		rc = call(path, "node.get", NULL, &reply);
		result = cJSON_GetObjectItemCaseSensitive(reply, "result");
		if (rc < 0 || result == NULL) {
			fprintf(stderr, "edgelbctl: %s: %s\n", path,
				rc < 0 ? strerror(-rc) : "node.get refused");
			cJSON_Delete(reply);
			return rc < 0 ? 3 : 1;
		}
		drain = cJSON_GetObjectItemCaseSensitive(result, "drain");
		if (strcmp(str(result, "state"), "drained") == 0) {
			if (json)
				print_pretty(drain);
			else
				printf("node drained (%s) after %.1f s\n", str(drain, "reason"),
				       num(drain, "drain_ms") / 1000);
			rc = strcmp(str(drain, "reason"), "quiet") == 0 ? 0 : 4;
			cJSON_Delete(reply);
			return rc;
		}
		if (strcmp(str(result, "state"), "active") == 0) {
			fprintf(stderr, "edgelbctl: the node was resumed before it was drained\n");
			cJSON_Delete(reply);
			return 1;
		}
		cJSON_Delete(reply);
		clock_gettime(CLOCK_MONOTONIC, &now);
		if ((unsigned long)(now.tv_sec - start.tv_sec) >= timeout_s) {
			fprintf(stderr, "edgelbctl: not drained after %lu s\n", timeout_s);
			return 4;
		}
		usleep(100000);
	}
usage:
	usage(stderr);
	return 2;
}

/* ------------------------------------------------------------------------ */
/* explain: flow.explain on every dataplane edgelb-cp manages (or one) */

#define EXPLAIN_FRAME_MAX 9216 /* ELB_EXPLAIN_FRAME_MAX */

/* "ADDRESS:PORT" or "[V6]:PORT" into params' `addr_name` and `port_name`. */
static int add_endpoint(cJSON *params, const char *text, const char *addr_name,
			const char *port_name)
{
	char addr[64];
	const char *colon;
	char *end;
	unsigned long port;
	size_t n;

	if (text[0] == '[') {
		const char *close = strchr(text, ']');

		if (close == NULL || close[1] != ':')
			return -EINVAL;
		n = (size_t)(close - text - 1);
		if (n >= sizeof(addr))
			return -EINVAL;
		memcpy(addr, text + 1, n);
		colon = close + 1;
	} else {
		colon = strrchr(text, ':');
		if (colon == NULL || (size_t)(colon - text) >= sizeof(addr))
			return -EINVAL;
		n = (size_t)(colon - text);
		memcpy(addr, text, n);
	}
	addr[n] = '\0';
	port = strtoul(colon + 1, &end, 10);
	if (*end != '\0' || colon[1] == '\0' || port > 65535)
		return -EINVAL;
	cJSON_AddStringToObject(params, addr_name, addr);
	cJSON_AddNumberToObject(params, port_name, (double)port);
	return 0;
}

/* Frame `index` (1-based, as tshark numbers them) of a classic pcap file,
 * as hex in params' "packet". */
static int add_pcap_frame(cJSON *params, const char *path, unsigned long index)
{
	uint8_t hdr[24], rec[16], *frame = NULL;
	bool swapped;
	uint32_t magic, caplen = 0;
	char *hex;
	FILE *f = fopen(path, "rb");
	int rc = -EINVAL;

	if (f == NULL) {
		fprintf(stderr, "edgelbctl: %s: %s\n", path, strerror(errno));
		return -errno;
	}
	if (fread(hdr, 1, sizeof(hdr), f) != sizeof(hdr))
		goto bad;
	memcpy(&magic, hdr, 4);
	swapped = magic == 0xd4c3b2a1u || magic == 0x4d3cb2a1u;
	if (!swapped && magic != 0xa1b2c3d4u && magic != 0xa1b23c4du)
		goto bad;
	for (unsigned long i = 1;; i++) {
		if (fread(rec, 1, sizeof(rec), f) != sizeof(rec)) {
			fprintf(stderr, "edgelbctl: %s has %lu frames\n", path, i - 1);
			goto out;
		}
		memcpy(&caplen, rec + 8, 4);
		if (swapped)
			caplen = __builtin_bswap32(caplen);
		if (caplen > 262144)
			goto bad;
		if (i == index)
			break;
		if (fseek(f, caplen, SEEK_CUR) != 0)
			goto bad;
	}
	if (caplen == 0 || caplen > EXPLAIN_FRAME_MAX) {
		fprintf(stderr, "edgelbctl: frame %lu is %u bytes (1..%u explained)\n", index, caplen,
			EXPLAIN_FRAME_MAX);
		goto out;
	}
	frame = malloc(caplen);
	hex = malloc((size_t)caplen * 2 + 1);
	if (frame == NULL || hex == NULL || fread(frame, 1, caplen, f) != caplen) {
		free(hex);
		goto bad;
	}
	for (uint32_t i = 0; i < caplen; i++)
		snprintf(hex + 2 * i, 3, "%02x", frame[i]);
	cJSON_AddStringToObject(params, "packet", hex);
	free(hex);
	rc = 0;
	goto out;
bad:
	fprintf(stderr, "edgelbctl: %s: not a readable pcap file\n", path);
out:
	free(frame);
	fclose(f);
	return rc;
}

static void print_explanation(const char *name, const cJSON *r)
{
	const cJSON *pkt = cJSON_GetObjectItemCaseSensitive(r, "packet");
	const cJSON *vip = cJSON_GetObjectItemCaseSensitive(r, "vip");
	const cJSON *maglev = cJSON_GetObjectItemCaseSensitive(r, "maglev");
	const cJSON *flow = cJSON_GetObjectItemCaseSensitive(r, "flow");
	const cJSON *rate = cJSON_GetObjectItemCaseSensitive(r, "rate_limit");
	const cJSON *backend = cJSON_GetObjectItemCaseSensitive(r, "backend");
	const cJSON *encap = cJSON_GetObjectItemCaseSensitive(r, "encap");
	const cJSON *mtu = cJSON_GetObjectItemCaseSensitive(r, "mtu");
	bool v6 = strcmp(str(pkt, "family"), "ipv6") == 0;

	printf("dataplane %s (epoch %.0f)\n", name, num(r, "epoch"));
	if (strcmp(str(pkt, "parse"), "ok") != 0) {
		printf("  packet   %.0f B: %s %s%s%s\n", num(pkt, "frame_length"), str(pkt, "parse"),
		       cJSON_GetObjectItemCaseSensitive(pkt, "reason") ? str(pkt, "reason") : "",
		       cJSON_GetObjectItemCaseSensitive(pkt, "why") ? ": " : "",
		       cJSON_GetObjectItemCaseSensitive(pkt, "why") ? str(pkt, "why") : "");
	} else {
		printf("  packet   %s%s%s:%.0f -> %s%s%s:%.0f %s", v6 ? "[" : "", str(pkt, "src"),
		       v6 ? "]" : "", num(pkt, "sport"), v6 ? "[" : "", str(pkt, "dst"), v6 ? "]" : "",
		       num(pkt, "dport"), str(pkt, "protocol"));
		if (cJSON_GetObjectItemCaseSensitive(pkt, "tcp_flags"))
			printf(" [%s]", str(pkt, "tcp_flags"));
		printf(", IP length %.0f%s%s\n", num(pkt, "ip_length"),
		       cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(pkt, "fragment")) ? ", fragment" : "",
		       cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(pkt, "icmp_error"))
			       ? ", ICMP error (follows the flow it quotes)"
			       : "");
	}
	if (vip != NULL) {
		if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(vip, "matched")))
			printf("  vip      %s\n", str(vip, "vip"));
		else
			printf("  vip      none: %s\n", str(vip, "why_not"));
	}
	if (maglev != NULL)
		printf("  hash     %s -> Maglev slot %.0f of %.0f -> %s\n", str(r, "flow_hash"),
		       num(maglev, "slot"), num(maglev, "table_size"), str(maglev, "backend"));
	if (flow != NULL) {
		if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(flow, "found"))) {
			const char *where = cJSON_GetObjectItemCaseSensitive(flow, "cpu") ? "cpu" : "worker";

			printf("  flow     %s: entry on %s %.0f (%.0f holding it), %s, expires in %.1f s, "
			       "backend %s%s\n",
			       str(flow, "decision"), where, num(flow, where), num(flow, "holders"),
			       str(flow, "state"), num(flow, "expires_in_ms") / 1000,
			       str(flow, "backend"),
			       cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(flow, "was_rate_limited"))
				       ? ", was rate-limited"
				       : "");
		} else {
			printf("  flow     %s: no entry, the Maglev pick decides\n", str(flow, "decision"));
		}
	}
	if (rate != NULL) {
		printf("  limit   ");
		if (cJSON_GetObjectItemCaseSensitive(rate, "packets_per_s"))
			printf(" %.0f packets/s, %.0f available now;", num(rate, "packets_per_s"),
			       num(rate, "packets_available"));
		if (cJSON_GetObjectItemCaseSensitive(rate, "bytes_per_s"))
			printf(" %.0f B/s, %.0f B available now;", num(rate, "bytes_per_s"),
			       num(rate, "bytes_available"));
		printf(" this packet %s\n",
		       cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(rate, "this_packet_limited"))
			       ? "is LIMITED"
			       : "passes");
	}
	if (backend != NULL)
		printf("  backend  %s (slot %.0f, weight %.0f, %s)%s\n", str(backend, "address"),
		       num(backend, "slot"), num(backend, "weight"), str(backend, "state"),
		       cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "new_flow")) ? ", new flow"
										: "");
	if (encap != NULL && mtu != NULL)
		printf("  encap    %s %s -> %s (+%.0f B); MTU %.0f: %s (%.0f B outer)\n",
		       str(encap, "type"), str(encap, "outer_src"), str(encap, "outer_dst"),
		       num(encap, "overhead"), num(mtu, "mtu"), str(mtu, "verdict"),
		       num(mtu, "outer_length"));
	printf("  verdict  %s", str(r, "verdict"));
	if (cJSON_GetObjectItemCaseSensitive(r, "reason"))
		printf(" (%s)", str(r, "reason"));
	if (cJSON_GetObjectItemCaseSensitive(r, "output_length"))
		printf(", %.0f B sent", num(r, "output_length"));
	printf("%s\n", cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "consistent"))
			       ? ""
			       : "  INCONSISTENT: the steps do not lead where the dataplane went");
	if (cJSON_GetObjectItemCaseSensitive(r, "output"))
		printf("  output   %s\n", str(r, "output"));
}

/* What sends a packet where: verdict, reason and backend, for comparing. */
static void explanation_outcome(const cJSON *r, char *out, size_t len)
{
	const cJSON *backend = cJSON_GetObjectItemCaseSensitive(r, "backend");

	snprintf(out, len, "%s %s %s", str(r, "verdict"),
		 cJSON_GetObjectItemCaseSensitive(r, "reason") ? str(r, "reason") : "",
		 backend ? str(backend, "address") : "");
}

/*
 * explain ...: see usage(). Asks edgelb-cp for its dataplanes (or takes
 * --dp-socket) and each of them for flow.explain.
 * @return 0 all answered, consistent and agreeing; 1 a dataplane refused;
 *         2 usage; 3 socket trouble; 5 the dataplanes disagree or one is
 *         inconsistent.
 */
static int explain_command(const char *path, char **args, int nargs, bool json)
{
	const char *only = NULL, *dp_socket = NULL, *pcap = NULL;
	unsigned long frame_index = 1;
	cJSON *params = cJSON_CreateObject(), *targets = cJSON_CreateArray(), *reply = NULL;
	const cJSON *t;
	char first[256] = "", outcome[256];
	int positional = 0, answered = 0, status = 0, rc;
	bool packet_given = false, tuple_flags = false;

	for (int i = 1; i < nargs; i++) {
		char *end = NULL;

		if (strcmp(args[i], "--dataplane") == 0 && i + 1 < nargs) {
			only = args[++i];
		} else if (strcmp(args[i], "--dp-socket") == 0 && i + 1 < nargs) {
			dp_socket = args[++i];
		} else if (strcmp(args[i], "--packet") == 0 && i + 1 < nargs) {
			cJSON_AddStringToObject(params, "packet", args[++i]);
			packet_given = true;
		} else if (strcmp(args[i], "--pcap") == 0 && i + 1 < nargs) {
			pcap = args[++i];
		} else if (strcmp(args[i], "--frame") == 0 && i + 1 < nargs) {
			frame_index = strtoul(args[++i], &end, 10);
			if (*end != '\0' || frame_index == 0)
				goto usage;
		} else if (strcmp(args[i], "--flags") == 0 && i + 1 < nargs) {
			cJSON_AddStringToObject(params, "tcp_flags", args[++i]);
			tuple_flags = true;
		} else if (strcmp(args[i], "--length") == 0 && i + 1 < nargs) {
			unsigned long n = strtoul(args[++i], &end, 10);

			if (*end != '\0' || n > EXPLAIN_FRAME_MAX)
				goto usage;
			cJSON_AddNumberToObject(params, "length", (double)n);
			tuple_flags = true;
		} else if (strcmp(args[i], "--no-df") == 0) {
			cJSON_AddFalseToObject(params, "df");
			tuple_flags = true;
		} else if (strcmp(args[i], "--output") == 0) {
			cJSON_AddTrueToObject(params, "output");
		} else if (args[i][0] != '-' && positional == 0) {
			if (add_endpoint(params, args[i], "src", "sport") < 0)
				goto bad_endpoint;
			positional++;
		} else if (args[i][0] != '-' && positional == 1) {
			if (add_endpoint(params, args[i], "dst", "dport") < 0)
				goto bad_endpoint;
			positional++;
		} else if (args[i][0] != '-' && positional == 2) {
			cJSON_AddStringToObject(params, "protocol", args[i]);
			positional++;
		} else {
			goto usage;
		}
	}
	if ((packet_given ? 1 : 0) + (pcap ? 1 : 0) + (positional ? 1 : 0) != 1 ||
	    (positional && positional != 3) || (!positional && tuple_flags) ||
	    (only && dp_socket))
		goto usage;
	if (pcap != NULL && add_pcap_frame(params, pcap, frame_index) < 0) {
		cJSON_Delete(params);
		cJSON_Delete(targets);
		return 2;
	}

	if (dp_socket != NULL) {
		cJSON *o = cJSON_CreateObject();

		cJSON_AddStringToObject(o, "name", dp_socket);
		cJSON_AddStringToObject(o, "socket", dp_socket);
		cJSON_AddItemToArray(targets, o);
	} else {
		const cJSON *dps;

		rc = call(path, "dataplanes.get", NULL, &reply);
		if (rc < 0) {
			fprintf(stderr, "edgelbctl: %s: %s\n", path, strerror(-rc));
			status = 3;
			goto out;
		}
		dps = cJSON_GetObjectItemCaseSensitive(
			cJSON_GetObjectItemCaseSensitive(reply, "result"), "dataplanes");
		cJSON_ArrayForEach(t, dps)
			if (only == NULL || strcmp(str(t, "name"), only) == 0)
				cJSON_AddItemToArray(targets, cJSON_Duplicate(t, true));
		cJSON_Delete(reply);
		reply = NULL;
		if (cJSON_GetArraySize(targets) == 0) {
			fprintf(stderr, "edgelbctl: %s\n",
				only ? "edgelb-cp manages no dataplane of that name"
				     : "edgelb-cp manages no dataplane");
			status = 1;
			goto out;
		}
	}

	cJSON_ArrayForEach(t, targets) {
		const cJSON *result, *error;

		rc = call(str(t, "socket"), "flow.explain", cJSON_Duplicate(params, true), &reply);
		if (rc < 0) {
			fprintf(stderr, "edgelbctl: dataplane %s (%s): %s\n", str(t, "name"),
				str(t, "socket"), strerror(-rc));
			status = status ? status : 3;
			continue;
		}
		error = cJSON_GetObjectItemCaseSensitive(reply, "error");
		result = cJSON_GetObjectItemCaseSensitive(reply, "result");
		if (error != NULL || result == NULL) {
			fprintf(stderr, "edgelbctl: dataplane %s: error %.0f: %s\n", str(t, "name"),
				num(error, "code"), str(error, "message"));
			status = 1;
		} else {
			if (json) {
				cJSON_AddStringToObject((cJSON *)result, "dataplane", str(t, "name"));
				print_json_line(result);
			} else {
				print_explanation(str(t, "name"), result);
			}
			explanation_outcome(result, outcome, sizeof(outcome));
			if (answered++ == 0)
				snprintf(first, sizeof(first), "%s", outcome);
			else if (strcmp(first, outcome) != 0 && status == 0)
				status = 5;
			if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(result, "consistent")) &&
			    status == 0)
				status = 5;
		}
		cJSON_Delete(reply);
		reply = NULL;
	}
	if (!json && answered > 1)
		printf("%s\n", status == 5 ? "the dataplanes DISAGREE (see above)"
					   : "every dataplane decides the same");
out:
	cJSON_Delete(params);
	cJSON_Delete(targets);
	return status;
bad_endpoint:
	fprintf(stderr, "edgelbctl: an endpoint is ADDRESS:PORT or [V6]:PORT\n");
	cJSON_Delete(params);
	cJSON_Delete(targets);
	return 2;
usage:
	usage(stderr);
	cJSON_Delete(params);
	cJSON_Delete(targets);
	return 2;
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{"socket", required_argument, NULL, 's'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *path = DEFAULT_SOCKET, *method = NULL, *what;
	bool json = false;
	cJSON *params = cJSON_CreateObject(), *reply = NULL;
	const cJSON *result, *error;
	int opt, rc, nargs;
	char **args;

	if (elb_version_requested(argc, argv))
		return elb_version_print("edgelbctl", 0);
	while ((opt = getopt_long(argc, argv, "+s:jh", options, NULL)) != -1) {
		switch (opt) {
		case 's':
			path = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			usage(stdout);
			cJSON_Delete(params);
			return 0;
		default:
			goto bad_usage;
		}
	}
	args = argv + optind;
	nargs = argc - optind;
	if (nargs < 1)
		goto bad_usage;
	what = args[0];
	if (strcmp(what, "vip") == 0 && nargs == 2 && strcmp(args[1], "list") == 0) {
		method = "vip.list";
	} else if (strcmp(what, "vip") == 0 && nargs == 3 && strcmp(args[1], "get") == 0) {
		method = "vip.get";
		if (add_vip(params, args[2]) < 0)
			goto bad_vip;
	} else if (strcmp(what, "backend") == 0 && nargs >= 4) {
		static const char *const ops[][2] = {{"add", "backend.add"},
						     {"remove", "backend.remove"},
						     {"drain", "backend.drain"},
						     {"undrain", "backend.undrain"},
						     {"weight", "backend.weight"}};
		bool is_add = strcmp(args[1], "add") == 0, is_drain = strcmp(args[1], "drain") == 0;
		bool is_weight = strcmp(args[1], "weight") == 0, dry_run = false, wait = false;
		bool weight_given = false;
		unsigned long timeout_s = 0;

		for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
			if (strcmp(args[1], ops[i][0]) == 0)
				method = ops[i][1];
		if (method == NULL)
			goto bad_usage;
		if (add_vip(params, args[2]) < 0)
			goto bad_vip;
		cJSON_AddStringToObject(params, "backend", args[3]);
		for (int i = 4; i < nargs; i++) {
			char *end = NULL;

			if (strcmp(args[i], "--dry-run") == 0) {
				dry_run = true;
			} else if (is_add && strcmp(args[i], "--weight") == 0 && i + 1 < nargs &&
				   !weight_given) {
				if (add_weight(params, args[++i]) < 0)
					goto bad_usage;
				weight_given = true;
			} else if (is_weight && !weight_given && args[i][0] != '-') {
				if (add_weight(params, args[i]) < 0)
					goto bad_usage;
				weight_given = true;
			} else if (is_drain && strcmp(args[i], "--wait") == 0) {
				wait = true;
			} else if (is_drain && strcmp(args[i], "--remove") == 0) {
				cJSON_AddBoolToObject(params, "remove_when_drained", true);
			} else if (is_drain && strcmp(args[i], "--timeout") == 0 && i + 1 < nargs) {
				timeout_s = strtoul(args[++i], &end, 10);
				if (*end != '\0' || timeout_s == 0 || timeout_s > 604800)
					goto bad_usage;
				cJSON_AddNumberToObject(params, "timeout_ms", (double)timeout_s * 1000);
			} else {
				goto bad_usage;
			}
		}
		if (is_weight && !weight_given)
			goto bad_usage;
		if (dry_run) {
			if (wait || cJSON_GetObjectItem(params, "timeout_ms") ||
			    cJSON_GetObjectItem(params, "remove_when_drained"))
				goto bad_usage;
			cJSON_AddStringToObject(params, "change", args[1]);
			method = "backend.preview";
		} else if (wait) {
			/* Without --timeout the daemon's fleet.drain_timeout_ms applies:
			 * wait as long as a week, the longest it can be. */
			return drain_wait(path, params, timeout_s ? timeout_s : 604800, json);
		}
	} else if (nargs == 1 && strcmp(what, "health") == 0) {
		method = "health.get";
	} else if (nargs == 1 && strcmp(what, "counters") == 0) {
		method = "counters.get";
	} else if (nargs == 1 && strcmp(what, "slo") == 0) {
		method = "counters.get";
	} else if (strcmp(what, "stats") == 0 || strcmp(what, "events") == 0) {
		bool stats = strcmp(what, "stats") == 0, watch = false;
		unsigned long interval_ms = 1000, frames = 1;
		bool count_given = false;

		for (int i = 1; i < nargs; i++) {
			char *end = NULL;

			if (stats && strcmp(args[i], "--watch") == 0) {
				watch = true;
			} else if (stats && strcmp(args[i], "--interval") == 0 && i + 1 < nargs) {
				interval_ms = strtoul(args[++i], &end, 10);
				if (*end != '\0' || interval_ms < 100 || interval_ms > 3600000)
					goto bad_usage;
			} else if (strcmp(args[i], "--count") == 0 && i + 1 < nargs) {
				frames = strtoul(args[++i], &end, 10);
				if (*end != '\0' || frames == 0)
					goto bad_usage;
				count_given = true;
			} else {
				goto bad_usage;
			}
		}
		if ((watch || !stats) && !count_given)
			frames = 0; /* until interrupted */
		cJSON_Delete(params);
		return run_stream(path, stats, json, (uint32_t)interval_ms, frames);

	} else if (nargs == 1 && strcmp(what, "config") == 0) {
		method = "config.get";
	} else if (nargs == 1 && strcmp(what, "dataplanes") == 0) {
		method = "dataplanes.get";
	} else if (nargs == 1 && strcmp(what, "fleet") == 0) {
		method = "fleet.get";
	} else if (strcmp(what, "node") == 0) {
		cJSON_Delete(params);
		return node_command(path, args, nargs, json);
	} else if (strcmp(what, "explain") == 0) {
		cJSON_Delete(params);
		return explain_command(path, args, nargs, json);
	} else if (strcmp(what, "call") == 0 && (nargs == 2 || nargs == 3)) {
		method = args[1];
		if (nargs == 3) {
			cJSON_Delete(params);
			params = cJSON_Parse(args[2]);
			if (params == NULL) {
				fprintf(stderr, "edgelbctl: PARAMS is not JSON\n");
				return 2;
			}
		}
	} else {
		goto bad_usage;
	}

	rc = call(path, method, params, &reply);
	if (rc < 0) {
		fprintf(stderr, "edgelbctl: %s: %s\n", path, strerror(-rc));
		return 3;
	}
	error = cJSON_GetObjectItemCaseSensitive(reply, "error");
	result = cJSON_GetObjectItemCaseSensitive(reply, "result");
	if (error != NULL) {
		if (json)
			print_pretty(reply);
		fprintf(stderr, "edgelbctl: error %.0f: %s\n", num(error, "code"),
			str(error, "message"));
		cJSON_Delete(reply);
		return 1;
	}
	if (json || strcmp(what, "call") == 0)
		print_pretty(result);
	else if (strcmp(method, "vip.list") == 0)
		print_vips(result);
	else if (strcmp(method, "vip.get") == 0)
		print_backends(cJSON_GetObjectItemCaseSensitive(result, "health"));
	else if (strcmp(method, "health.get") == 0) {
		const cJSON *v;

		cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(result, "vips"))
			print_backends(v);
	} else if (strcmp(what, "slo") == 0)
		print_slo(result);
	else if (strcmp(method, "counters.get") == 0)
		print_counters(result);
	else if (strcmp(method, "dataplanes.get") == 0)
		print_dataplanes(result);
	else if (strcmp(method, "fleet.get") == 0)
		print_fleet(result);
	else if (strcmp(method, "backend.preview") == 0)
		print_preview(result);
	else if (strcmp(method, "config.get") == 0)
		print_pretty(cJSON_GetObjectItemCaseSensitive(result, "config"));
	else
		printf("ok (generation %.0f)\n", num(result, "generation"));
	cJSON_Delete(reply);
	return 0;

bad_vip:
	fprintf(stderr, "edgelbctl: a VIP is ADDRESS:PORT/PROTO, e.g. 198.51.100.1:443/tcp\n");
	cJSON_Delete(params);
	return 2;
bad_usage:
	usage(stderr);
	cJSON_Delete(params);
	return 2;
}
