/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * edgelbctl: the operator's command line for edgelb-cp. Every command is a
 * row of one table (commands[] below): its words, arguments, JSON-RPC
 * method, how its params are built and its answer printed, and whether it
 * changes state; dispatch and usage() both walk that table. The answer is
 * printed as a table (or raw with --json); exit statuses are enum ctl_exit.
 *
 * A change is committed by edgelb-cp before the dataplanes have it: by
 * default edgelbctl then polls dataplanes.get until every managed dataplane
 * acknowledged the change's generation, so that when it returns the
 * dataplanes forward by the new state (--no-wait: return at the commit).
 *
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

#include <cjson/cJSON.h>

#include "elb_config.h"
#include "elb_rpc_client.h"
#include "elb_version.h"

#define DEFAULT_SOCKET "/run/edgelb/cp.sock"
/* For an answer (or a stream's next message): silence beyond is a dead socket. */
#define TIMEOUT_MS 10000

/* Exit statuses, documented in usage() and edgelbctl(1). */
enum ctl_exit {
	CTL_OK = 0,
	CTL_REFUSED = 1,	  /* edgelb-cp (or a dataplane) answered with an error */
	CTL_USAGE = 2,
	CTL_SOCKET = 3,		  /* no answer: socket missing, closed or silent */
	CTL_TIMED_OUT = 4,	  /* drain --wait: drained by its timeout, or not in time */
	CTL_DISAGREE = 5,	  /* explain: the dataplanes decide differently */
	CTL_NOT_ACKNOWLEDGED = 6, /* a change is committed, not every dataplane has it yet */
};

#define WAIT_TIMEOUT_DEFAULT_S 10.0
#define WAIT_POLL_FIRST_MS 10 /* dataplanes.get at once, again after this */
#define WAIT_POLL_MAX_MS 200  /* the interval grows by half up to this */

/* The global options, as every command sees them. */
struct ctl_opts {
	const char *path;
	bool json;
	bool wait;	       /* a change waits for the dataplanes' acknowledgement */
	double wait_timeout_s; /* for at most this long */
};

static void usage(FILE *out);

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

/*
 * The requests go through dataplane/control's JSON-RPC client
 * (elb_rpc_client.h): elb_rpc_call for one request on a connection of its
 * own, a kept connection for the streams (stats, events, drain --wait),
 * whose notifications come to a callback. A server that refuses a request
 * or the connection itself ("id": null, e.g. "uid N may not use this
 * socket") answers the call with that error.
 */

/* A failed call, said on stderr: the server's error after `what` (exit
 * CTL_REFUSED) or the socket's trouble (CTL_SOCKET). */
static int call_failed(const char *path, int rc, const struct elb_rpc_client_error *err,
		       const char *what)
{
	if (rc == -EREMOTEIO) {
		fprintf(stderr, "edgelbctl: %serror %d: %s\n", what, err->code, err->message);
		return CTL_REFUSED;
	}
	fprintf(stderr, "edgelbctl: %s: %s\n", path, strerror(-rc));
	return CTL_SOCKET;
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

	/* PREFIXES: has the prefix lists in force (pushed apart from the config). */
	printf("%-16s %-9s %-18s %10s %-7s %-8s %8s  %s\n", "DATAPLANE", "CONNECTED", "INSTANCE",
	       "PUSH_EPOCH", "IN_SYNC", "PREFIXES", "RESTARTS", "LAST_ERROR");
	cJSON_ArrayForEach(d, cJSON_GetObjectItemCaseSensitive(result, "dataplanes"))
		printf("%-16s %-9s %-18s %10.0f %-7s %-8s %8.0f  %s\n", str(d, "name"),
		       strcmp(str(d, "state"), "refused") == 0 ? "refused" : yes(d, "connected"),
		       str(d, "instance"), num(d, "last_push_epoch"), yes(d, "in_sync"),
		       yes(d, "prefixes_in_sync"), num(d, "restarts"), str(d, "last_error"));
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

/* What a change is acknowledged by, in dataplanes.get: the config's
 * generation (pushed_generation of each dataplane, "generation" of the
 * answer), or the prefix lists' (prefixes_generation of both). */
struct ack_kind {
	const char *dp_member, *cp_member, *what;
};

static const struct ack_kind config_ack = {"pushed_generation", "generation", "generation"};
static const struct ack_kind prefixes_ack = {"prefixes_generation", "prefixes_generation",
					     "prefix lists generation"};

/* A dataplane edgelb-cp manages that has not acknowledged `generation`. */
static bool lags(const cJSON *dp, const struct ack_kind *ack, double generation)
{
	return strcmp(str(dp, "state"), "refused") != 0 && num(dp, ack->dp_member) < generation;
}

static void print_laggards(const cJSON *dataplanes, const struct ack_kind *ack,
			   double generation)
{
	const cJSON *d;

	cJSON_ArrayForEach(d, dataplanes)
	{
		const char *error = str(d, "last_error");

		if (!lags(d, ack, generation))
			continue;
		fprintf(stderr, "  %s: %s, has %s %.0f%s%s\n", str(d, "name"),
			cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(d, "connected"))
				? "connected"
				: "not connected",
			ack->what, num(d, ack->dp_member), error[0] ? ", last error: " : "", error);
	}
}

/*
 * Wait until every dataplane edgelb-cp manages acknowledged `generation`
 * (0: whatever generation edgelb-cp is at now): poll dataplanes.get at once,
 * then after WAIT_POLL_FIRST_MS, half as long again each time. A dataplane
 * that speaks another protocol (refused) is not managed and not waited for;
 * a disconnected one is, as it gets the state only when it reconnects.
 * @return CTL_OK (also with no dataplane configured), CTL_NOT_ACKNOWLEDGED
 *         after timeout_s (the laggards on stderr), CTL_REFUSED if
 *         dataplanes.get is refused, CTL_SOCKET.
 */
static int wait_acknowledged_by(const char *path, const struct ack_kind *ack, double generation,
				double timeout_s)
{
	struct timespec start, now;
	unsigned int interval_ms = WAIT_POLL_FIRST_MS;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		struct elb_rpc_client_error err = {0};
		cJSON *result = NULL;
		const cJSON *dps, *d;
		unsigned int lagging = 0;
		double waited;
		int rc = elb_rpc_call(path, "dataplanes.get", NULL, TIMEOUT_MS, &result, &err);

		if (rc < 0) {
			rc = call_failed(path, rc, &err, "dataplanes.get: ");
			elb_rpc_client_error_clear(&err);
			return rc;
		}
		if (generation == 0)
			generation = num(result, ack->cp_member);
		dps = cJSON_GetObjectItemCaseSensitive(result, "dataplanes");
		cJSON_ArrayForEach(d, dps)
			lagging += lags(d, ack, generation);
		clock_gettime(CLOCK_MONOTONIC, &now);
		waited = (double)(now.tv_sec - start.tv_sec) +
			 (double)(now.tv_nsec - start.tv_nsec) / 1e9;
		if (lagging > 0 && waited >= timeout_s) {
			fprintf(stderr,
				"edgelbctl: %s %.0f is committed in edgelb-cp, but after "
				"%.1f s %u dataplane%s did not acknowledge it (the change stays; a "
				"dataplane not connected gets it when it reconnects):\n",
				ack->what, generation, waited, lagging, lagging == 1 ? "" : "s");
			print_laggards(dps, ack, generation);
		}
		cJSON_Delete(result);
		if (lagging == 0)
			return CTL_OK;
		if (waited >= timeout_s)
			return CTL_NOT_ACKNOWLEDGED;
		usleep(interval_ms * 1000u);
		interval_ms += interval_ms / 2;
		if (interval_ms > WAIT_POLL_MAX_MS)
			interval_ms = WAIT_POLL_MAX_MS;
	}
}

static int wait_acknowledged(const char *path, double generation, double timeout_s)
{
	return wait_acknowledged_by(path, &config_ack, generation, timeout_s);
}

/*
 * backend drain --wait: subscribe to events on one connection, send the
 * drain on it, then wait for this backend's drain_complete. Unless
 * --no-wait, the dataplanes' acknowledgement of the drain comes first (a
 * drain they do not have cannot end), and with --remove that of the
 * removal last.
 * @return CTL_OK drained (flows gone), CTL_TIMED_OUT ended by its timeout
 *         or not seen in time, CTL_NOT_ACKNOWLEDGED, CTL_REFUSED,
 *         CTL_SOCKET.
 */
static void print_json_line(const cJSON *item);

/* What drain --wait waits for: this backend's drain_complete event. */
struct drain_watch {
	char backend[64];
	cJSON *complete; /* the event's params, once it came */
};

static void drain_event(void *ctx, struct elb_rpc_notification *note)
{
	struct drain_watch *w = ctx;

	if (w->complete != NULL || strcmp(note->method, "event") != 0 ||
	    strcmp(str(note->params, "type"), "drain_complete") != 0 ||
	    strcmp(str(note->params, "backend"), w->backend) != 0)
		return;
	w->complete = note->params;
	note->params = NULL;
}

static int drain_wait(const struct ctl_opts *o, cJSON *params, unsigned long timeout_s)
{
	struct elb_rpc_client_error err = {0};
	struct drain_watch w = {0};
	struct elb_rpc_conn *conn;
	struct timespec start, now;
	cJSON *sub = cJSON_CreateObject(), *res = NULL;
	const cJSON *drain, *p;
	int rc = elb_rpc_conn_connect(&conn, o->path, TIMEOUT_MS), result;

	snprintf(w.backend, sizeof(w.backend), "%s", str(params, "backend"));
	if (rc < 0) {
		fprintf(stderr, "edgelbctl: %s: %s\n", o->path, strerror(-rc));
		cJSON_Delete(params);
		cJSON_Delete(sub);
		return CTL_SOCKET;
	}
	elb_rpc_conn_on_notification(conn, drain_event, &w);
	cJSON_AddBoolToObject(sub, "snapshots", false);
	cJSON_AddBoolToObject(sub, "events", true);
	rc = elb_rpc_conn_call(conn, "subscribe", sub, TIMEOUT_MS, &res, &err);
	cJSON_Delete(res);
	res = NULL;
	if (rc < 0) {
		fprintf(stderr, "edgelbctl: subscribe refused\n");
		cJSON_Delete(params);
		result = CTL_REFUSED;
		goto out;
	}
	rc = elb_rpc_conn_call(conn, "backend.drain", params, TIMEOUT_MS, &res, &err);
	clock_gettime(CLOCK_MONOTONIC, &start);
	if (rc < 0) {
		result = call_failed(o->path, rc, &err, "");
		if (rc == -ETIMEDOUT)
			result = CTL_TIMED_OUT;
		goto out;
	}
	drain = cJSON_GetObjectItemCaseSensitive(res, "drain");
	/* The events meanwhile wait in the socket's buffer. */
	if (o->wait && (result = wait_acknowledged(o->path, num(res, "generation"),
						   o->wait_timeout_s)) != CTL_OK)
		goto out;
	if (strcmp(str(drain, "state"), "drained") == 0) {
		printf("already drained\n");
		result = CTL_OK;
		goto out;
	}
	if (!o->json)
		printf("draining %s (generation %.0f, timeout %.0f s)...\n", w.backend,
		       num(res, "generation"), num(drain, "timeout_ms") / 1000);
	fflush(stdout);
	while (w.complete == NULL) {
		rc = elb_rpc_conn_wait(conn, TIMEOUT_MS, NULL, NULL);
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (rc == -ETIMEDOUT &&
		    (unsigned long)(now.tv_sec - start.tv_sec) < timeout_s + 30)
			continue; /* quiet: nothing happened yet */
		if (rc < 0) {
			fprintf(stderr, "edgelbctl: %s: %s\n", o->path, strerror(-rc));
			result = rc == -ETIMEDOUT ? CTL_TIMED_OUT : CTL_SOCKET;
			goto out;
		}
	}
	p = w.complete;
	if (o->json)
		print_json_line(p);
	else
		printf("%s %s: drained (%s) after %.1f s, %.0f flows left%s\n", str(p, "vip"),
		       w.backend, str(p, "reason"), num(p, "drain_ms") / 1000, num(p, "flows_left"),
		       yes(p, "removed")[0] == 'y' ? "; removed" : "");
	fflush(stdout);
	result = strcmp(str(p, "reason"), "flows_gone") == 0 ? CTL_OK : CTL_TIMED_OUT;
	/* The removal is committed with the event: wait for the generation
	 * edgelb-cp is at now, which includes it. */
	if (o->wait && yes(p, "removed")[0] == 'y') {
		rc = wait_acknowledged(o->path, 0, o->wait_timeout_s);
		if (rc != CTL_OK)
			result = rc;
	}
out:
	cJSON_Delete(w.complete);
	cJSON_Delete(res);
	elb_rpc_client_error_clear(&err);
	elb_rpc_conn_close(conn);
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

/* A stream being shown: `frames` frames or events at most (0: no limit). */
struct stream {
	struct watch w;
	bool stats, json, clear;
	unsigned long frames, shown;
};

/* One notification of the subscription: an event or a snapshot. */
static void stream_message(void *ctx, struct elb_rpc_notification *note)
{
	struct stream *s = ctx;
	const cJSON *p = note->params;

	if (s->frames != 0 && s->shown >= s->frames)
		return; /* what came with the last one shown */
	if (strcmp(note->method, "event") == 0) {
		char *line = s->w.events[s->w.n_events++ % EVENTS_SHOWN];

		describe_event(p, line, sizeof(s->w.events[0]));
		if (!s->stats) {
			if (s->json)
				print_json_line(p);
			else
				puts(line);
			fflush(stdout);
			s->shown++;
		}
	} else if (strcmp(note->method, "snapshot") == 0 && s->stats) {
		if (s->json) {
			print_json_line(p);
			s->shown++;
		} else if (s->w.previous != NULL) {
			print_stats_frame(p, &s->w, s->clear);
			s->shown++;
		}
		cJSON_Delete(s->w.previous);
		s->w.previous = note->params;
		note->params = NULL;
	}
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
	struct stream s = {
		.stats = stats,
		.json = json,
		.clear = stats && !json && isatty(STDOUT_FILENO),
		.frames = frames,
	};
	struct elb_rpc_client_error err = {0};
	struct elb_rpc_conn *conn;
	cJSON *params = cJSON_CreateObject(), *result = NULL;
	int rc = elb_rpc_conn_connect(&conn, path, TIMEOUT_MS), status;

	if (rc < 0) {
		cJSON_Delete(params);
		fprintf(stderr, "edgelbctl: %s: %s\n", path, strerror(-rc));
		return CTL_SOCKET;
	}
	elb_rpc_conn_on_notification(conn, stream_message, &s);
	cJSON_AddNumberToObject(params, "interval_ms", interval_ms);
	cJSON_AddBoolToObject(params, "snapshots", stats);
	cJSON_AddBoolToObject(params, "events", true);
	rc = elb_rpc_conn_call(conn, "subscribe", params, TIMEOUT_MS, &result, &err);
	cJSON_Delete(result);
	/* Snapshots come every interval: silence for much longer is a dead
	 * server. Events alone may be quiet for ever. */
	while (rc == 0 && (frames == 0 || s.shown < frames))
		rc = elb_rpc_conn_wait(conn, stats ? (int)interval_ms + TIMEOUT_MS : -1, NULL, NULL);
	cJSON_Delete(s.w.previous);
	elb_rpc_conn_close(conn);
	status = rc < 0 ? call_failed(path, rc, &err, "") : CTL_OK;
	elb_rpc_client_error_clear(&err);
	return status;
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

/* --json and the server refused: {"error": {"code", "message"[, "data"]}},
 * the error as the server sent it. */
static void print_error_json(const struct elb_rpc_client_error *err)
{
	cJSON *out = cJSON_CreateObject(), *error = cJSON_AddObjectToObject(out, "error");

	cJSON_AddNumberToObject(error, "code", err->code);
	cJSON_AddStringToObject(error, "message", err->message);
	if (err->data != NULL)
		cJSON_AddItemToObject(error, "data", cJSON_Duplicate(err->data, true));
	print_pretty(out);
	cJSON_Delete(out);
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

static void print_node_state(const cJSON *result)
{
	printf("node %s\n", str(result, "state"));
}

/*
 * node drain --wait: poll node.get until the node is drained, for at most
 * timeout_s (0: the daemon's bgp.drain_timeout_ms, daemon_timeout_ms, and
 * 30 s more).
 * @return CTL_OK drained (no VIP traffic), CTL_TIMED_OUT drained by its
 *         timeout or not in time, CTL_REFUSED, CTL_SOCKET.
 */
static int node_wait_drained(const struct ctl_opts *o, unsigned long timeout_s,
			     double daemon_timeout_ms)
{
	struct timespec start, now;

	if (timeout_s == 0)
		timeout_s = (unsigned long)(daemon_timeout_ms / 1000) + 30;
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		struct elb_rpc_client_error err = {0};
		cJSON *result = NULL;
		const cJSON *drain;
		int rc = elb_rpc_call(o->path, "node.get", NULL, TIMEOUT_MS, &result, &err);

		elb_rpc_client_error_clear(&err);
		if (rc < 0) {
			fprintf(stderr, "edgelbctl: %s: %s\n", o->path,
				rc == -EREMOTEIO ? "node.get refused" : strerror(-rc));
			return rc == -EREMOTEIO ? CTL_REFUSED : CTL_SOCKET;
		}
		drain = cJSON_GetObjectItemCaseSensitive(result, "drain");
		if (strcmp(str(result, "state"), "drained") == 0) {
			if (o->json)
				print_pretty(drain);
			else
				printf("node drained (%s) after %.1f s\n", str(drain, "reason"),
				       num(drain, "drain_ms") / 1000);
			rc = strcmp(str(drain, "reason"), "quiet") == 0 ? CTL_OK : CTL_TIMED_OUT;
			cJSON_Delete(result);
			return rc;
		}
		if (strcmp(str(result, "state"), "active") == 0) {
			fprintf(stderr, "edgelbctl: the node was resumed before it was drained\n");
			cJSON_Delete(result);
			return CTL_REFUSED;
		}
		cJSON_Delete(result);
		clock_gettime(CLOCK_MONOTONIC, &now);
		if ((unsigned long)(now.tv_sec - start.tv_sec) >= timeout_s) {
			fprintf(stderr, "edgelbctl: not drained after %lu s\n", timeout_s);
			return CTL_TIMED_OUT;
		}
		usleep(100000);
	}
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
	/* Second chance: only for a VIP that has it, so other output is as before. */
	if (backend != NULL && vip != NULL &&
	    cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(vip, "second_chance"))) {
		const cJSON *alt = cJSON_GetObjectItemCaseSensitive(r, "alternate");
		bool mid = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "midstream"));

		if (cJSON_IsString(alt))
			printf("  second   alternate %s (slot's previous owner): learned mid-stream, "
			       "the backend hands it over if no socket there owns it\n",
			       alt->valuestring);
		else
			printf("  second   no alternate (%s)\n",
			       mid ? "learned mid-stream, but the slot has no other previous owner"
				   : "the backend is sure: a connection that started here, or UDP");
	}
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
static int explain_command(const struct ctl_opts *opts, char **args, int nargs)
{
	const char *path = opts->path;
	bool json = opts->json;
	const char *only = NULL, *dp_socket = NULL, *pcap = NULL;
	unsigned long frame_index = 1;
	cJSON *params = cJSON_CreateObject(), *targets = cJSON_CreateArray(), *result = NULL;
	struct elb_rpc_client_error err = {0};
	const cJSON *t;
	char first[256] = "", outcome[256];
	int positional = 0, answered = 0, status = CTL_OK, rc;
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
		return CTL_USAGE;
	}

	if (dp_socket != NULL) {
		cJSON *o = cJSON_CreateObject();

		cJSON_AddStringToObject(o, "name", dp_socket);
		cJSON_AddStringToObject(o, "socket", dp_socket);
		cJSON_AddItemToArray(targets, o);
	} else {
		const cJSON *dps;

		rc = elb_rpc_call(path, "dataplanes.get", NULL, TIMEOUT_MS, &result, &err);
		if (rc < 0) {
			status = call_failed(path, rc, &err, "");
			goto out;
		}
		dps = cJSON_GetObjectItemCaseSensitive(result, "dataplanes");
		cJSON_ArrayForEach(t, dps)
			if (only == NULL || strcmp(str(t, "name"), only) == 0)
				cJSON_AddItemToArray(targets, cJSON_Duplicate(t, true));
		cJSON_Delete(result);
		result = NULL;
		if (cJSON_GetArraySize(targets) == 0) {
			fprintf(stderr, "edgelbctl: %s\n",
				only ? "edgelb-cp manages no dataplane of that name"
				     : "edgelb-cp manages no dataplane");
			status = CTL_REFUSED;
			goto out;
		}
	}

	cJSON_ArrayForEach(t, targets) {
		rc = elb_rpc_call(str(t, "socket"), "flow.explain", cJSON_Duplicate(params, true),
				  TIMEOUT_MS, &result, &err);
		if (rc == -EREMOTEIO) {
			fprintf(stderr, "edgelbctl: dataplane %s: error %d: %s\n", str(t, "name"),
				err.code, err.message);
			status = CTL_REFUSED;
		} else if (rc < 0) {
			fprintf(stderr, "edgelbctl: dataplane %s (%s): %s\n", str(t, "name"),
				str(t, "socket"), strerror(-rc));
			status = status ? status : CTL_SOCKET;
		} else {
			if (json) {
				cJSON_AddStringToObject(result, "dataplane", str(t, "name"));
				print_json_line(result);
			} else {
				print_explanation(str(t, "name"), result);
			}
			explanation_outcome(result, outcome, sizeof(outcome));
			if (answered++ == 0)
				snprintf(first, sizeof(first), "%s", outcome);
			else if (strcmp(first, outcome) != 0 && status == CTL_OK)
				status = CTL_DISAGREE;
			if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(result, "consistent")) &&
			    status == CTL_OK)
				status = CTL_DISAGREE;
		}
		cJSON_Delete(result);
		result = NULL;
		elb_rpc_client_error_clear(&err);
	}
	if (!json && answered > 1)
		printf("%s\n", status == CTL_DISAGREE ? "the dataplanes DISAGREE (see above)"
					   : "every dataplane decides the same");
out:
	elb_rpc_client_error_clear(&err);
	cJSON_Delete(params);
	cJSON_Delete(targets);
	return status;
bad_endpoint:
	fprintf(stderr, "edgelbctl: an endpoint is ADDRESS:PORT or [V6]:PORT\n");
	cJSON_Delete(params);
	cJSON_Delete(targets);
	return CTL_USAGE;
usage:
	usage(stderr);
	cJSON_Delete(params);
	cJSON_Delete(targets);
	return CTL_USAGE;
}

/* ------------------------------------------------------------------------ */
/* The command table */

struct prefix_file;

/* One invocation's request, as its command's builder leaves it. */
struct ctl_request {
	const char *method;
	cJSON *params;
	void (*print)(const cJSON *result);
	bool changes;		 /* wait for the dataplanes' acknowledgement */
	bool drain_wait;	 /* backend drain --wait */
	bool node_wait;		 /* node drain --wait */
	unsigned long timeout_s; /* --timeout of either, 0: none given */
	const struct ack_kind *ack; /* what acknowledges the change; NULL: config_ack */
	struct prefix_file *file; /* prefixes load: its lines, to name them in a refusal */
};

/* A builder's "print the usage and exit CTL_USAGE". */
#define CTL_SHOW_USAGE (-1)

struct ctl_command {
	const char *words[2];	/* "backend", "drain"; "health", NULL */
	const char *synopsis;	/* what follows the words; "\n" between lines */
	const char *help;	/* what it does, or NULL; "\n" between lines */
	int min_args, max_args; /* after the words; max_args -1: any number */
	const char *method;	/* its JSON-RPC method, unless run() does everything */
	bool changes;		/* waits for the dataplanes' acknowledgement */
	/* Params from the arguments after the words: 0, CTL_SHOW_USAGE, or an
	 * exit status after saying why on stderr. NULL: no arguments. */
	int (*build)(const struct ctl_command *cmd, struct ctl_request *req, char **args,
		     int nargs);
	void (*print)(const cJSON *result); /* the answer without --json */
	/* A command with a flow of its own (streams, explain): all of argv
	 * from the first word; returns the exit status. */
	int (*run)(const struct ctl_opts *o, char **args, int nargs);
};

static int bad_vip(void)
{
	fprintf(stderr, "edgelbctl: a VIP is ADDRESS:PORT/PROTO, e.g. 198.51.100.1:443/tcp\n");
	return CTL_USAGE;
}

static int build_vip(const struct ctl_command *cmd, struct ctl_request *req, char **args,
		     int nargs)
{
	(void)cmd;
	(void)nargs;
	return add_vip(req->params, args[0]) < 0 ? bad_vip() : 0;
}

/* backend OP VIP BACKEND [options]: OP is the command's second word. */
static int build_backend(const struct ctl_command *cmd, struct ctl_request *req, char **args,
			 int nargs)
{
	const char *op = cmd->words[1];
	bool is_add = strcmp(op, "add") == 0, is_drain = strcmp(op, "drain") == 0;
	bool is_weight = strcmp(op, "weight") == 0, dry_run = false, weight_given = false;

	if (add_vip(req->params, args[0]) < 0)
		return bad_vip();
	cJSON_AddStringToObject(req->params, "backend", args[1]);
	for (int i = 2; i < nargs; i++) {
		char *end = NULL;

		if (strcmp(args[i], "--dry-run") == 0) {
			dry_run = true;
		} else if (is_add && strcmp(args[i], "--weight") == 0 && i + 1 < nargs &&
			   !weight_given) {
			if (add_weight(req->params, args[++i]) < 0)
				return CTL_SHOW_USAGE;
			weight_given = true;
		} else if (is_add && strcmp(args[i], "--quic-server-id") == 0 && i + 1 < nargs &&
			   !cJSON_GetObjectItem(req->params, "quic_server_id")) {
			cJSON_AddStringToObject(req->params, "quic_server_id", args[++i]);
		} else if (is_weight && !weight_given && args[i][0] != '-') {
			if (add_weight(req->params, args[i]) < 0)
				return CTL_SHOW_USAGE;
			weight_given = true;
		} else if (is_drain && strcmp(args[i], "--wait") == 0) {
			req->drain_wait = true;
		} else if (is_drain && strcmp(args[i], "--remove") == 0) {
			cJSON_AddBoolToObject(req->params, "remove_when_drained", true);
		} else if (is_drain && strcmp(args[i], "--timeout") == 0 && i + 1 < nargs) {
			req->timeout_s = strtoul(args[++i], &end, 10);
			if (*end != '\0' || req->timeout_s == 0 || req->timeout_s > 604800)
				return CTL_SHOW_USAGE;
			cJSON_AddNumberToObject(req->params, "timeout_ms",
						(double)req->timeout_s * 1000);
		} else {
			return CTL_SHOW_USAGE;
		}
	}
	if (is_weight && !weight_given)
		return CTL_SHOW_USAGE;
	if (dry_run) {
		if (req->drain_wait || req->timeout_s != 0 ||
		    cJSON_GetObjectItem(req->params, "remove_when_drained"))
			return CTL_SHOW_USAGE;
		/* The change is named as the method: "resume" also for undrain. */
		cJSON_AddStringToObject(req->params, "change", strchr(cmd->method, '.') + 1);
		req->method = "backend.preview";
		req->print = print_preview;
		req->changes = false;
	}
	return 0;
}

static int build_node_drain(const struct ctl_command *cmd, struct ctl_request *req,
			    char **args, int nargs)
{
	(void)cmd;
	for (int i = 0; i < nargs; i++) {
		char *end = NULL;

		if (strcmp(args[i], "--wait") == 0) {
			req->node_wait = true;
		} else if (strcmp(args[i], "--timeout") == 0 && i + 1 < nargs) {
			req->timeout_s = strtoul(args[++i], &end, 10);
			if (*end != '\0' || req->timeout_s == 0 || req->timeout_s > 604800)
				return CTL_SHOW_USAGE;
		} else {
			return CTL_SHOW_USAGE;
		}
	}
	return req->timeout_s != 0 && !req->node_wait ? CTL_SHOW_USAGE : 0;
}

/* call METHOD [PARAMS-JSON]: raw, so it cannot know whether METHOD changes
 * state, and never waits for the dataplanes. */
static int build_call(const struct ctl_command *cmd, struct ctl_request *req, char **args,
		      int nargs)
{
	(void)cmd;
	req->method = args[0];
	if (nargs == 2) {
		cJSON_Delete(req->params);
		req->params = cJSON_Parse(args[1]);
		if (req->params == NULL) {
			fprintf(stderr, "edgelbctl: PARAMS is not JSON\n");
			return CTL_USAGE;
		}
	}
	return 0;
}

/* "2000/s (burst 200)", or "unlimited" for a rate of 0. */
static const char *rate_text(const cJSON *o, const char *rate, const char *burst, char *buf,
			     size_t len)
{
	if (num(o, rate) == 0)
		return "unlimited";
	snprintf(buf, len, "%.0f/s (burst %.0f)", num(o, rate), num(o, burst));
	return buf;
}

/* A VIP's "admission" (docs/admission.md) in a few lines. */
static void print_limits(const cJSON *admission)
{
	const cJSON *sources = cJSON_GetObjectItemCaseSensitive(admission, "sources"), *s;
	char a[64], b[64];

	if (!cJSON_IsObject(admission))
		return;
	if (num(admission, "new_flows_per_s") == 0 && cJSON_GetArraySize(sources) == 0) {
		printf("limits: none\n");
		return;
	}
	printf("limits: VIP new flows %s\n",
	       rate_text(admission, "new_flows_per_s", "new_flow_burst", a, sizeof(a)));
	cJSON_ArrayForEach(s, sources)
		printf("  per source /%.0f: packets %s, new flows %s\n", num(s, "prefix_len"),
		       rate_text(s, "packets_per_s", "packet_burst", a, sizeof(a)),
		       rate_text(s, "new_flows_per_s", "new_flow_burst", b, sizeof(b)));
}

static void print_vip_get(const cJSON *result)
{
	const cJSON *config = cJSON_GetObjectItemCaseSensitive(result, "config");

	print_backends(cJSON_GetObjectItemCaseSensitive(result, "health"));
	print_limits(cJSON_GetObjectItemCaseSensitive(config, "admission"));
}

static void print_health(const cJSON *result)
{
	const cJSON *v;

	cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(result, "vips"))
		print_backends(v);
}

static void print_config(const cJSON *result)
{
	print_pretty(cJSON_GetObjectItemCaseSensitive(result, "config"));
}

static void print_committed(const cJSON *result)
{
	printf("ok (generation %.0f)\n", num(result, "generation"));
}

/* stats [--watch] [--interval MS] [--count N], events [--count N] */
static int run_stats(const struct ctl_opts *o, char **args, int nargs)
{
	bool stats = strcmp(args[0], "stats") == 0, watch = false, count_given = false;
	unsigned long interval_ms = 1000, frames = 1;

	for (int i = 1; i < nargs; i++) {
		char *end = NULL;

		if (stats && strcmp(args[i], "--watch") == 0) {
			watch = true;
		} else if (stats && strcmp(args[i], "--interval") == 0 && i + 1 < nargs) {
			interval_ms = strtoul(args[++i], &end, 10);
			if (*end != '\0' || interval_ms < 100 || interval_ms > 3600000)
				goto usage;
		} else if (strcmp(args[i], "--count") == 0 && i + 1 < nargs) {
			frames = strtoul(args[++i], &end, 10);
			if (*end != '\0' || frames == 0)
				goto usage;
			count_given = true;
		} else {
			goto usage;
		}
	}
	if ((watch || !stats) && !count_given)
		frames = 0; /* until interrupted */
	return run_stream(o->path, stats, o->json, (uint32_t)interval_ms, frames);
usage:
	usage(stderr);
	return CTL_USAGE;
}

/* ---- vip limits ---------------------------------------------------------- */

/* A count as the server will check it: digits only, so that "1e3" or "-1"
 * is not sent as something else; at most 2^53 (what a JSON number holds
 * exactly); the range is the server's to judge (and name). */
static int parse_count(const char *text, double *out)
{
	unsigned long long v;
	char *end;

	if (text[0] < '0' || text[0] > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(text, &end, 10);
	if (errno != 0 || *end != '\0' || v > (1ull << 53))
		return -EINVAL;
	*out = (double)v;
	return 0;
}

#define LIMITS_SOURCES_MAX 8 /* --source options per command; the VIP takes 2 */

/* One --source LEN:pps=N,burst=N,new=N,new-burst=N (absent keys 0), or
 * LEN:off (that prefix length's limit removed). */
#define SOURCE_KEYS 4

struct source_option {
	double prefix_len;
	bool off;
	double values[SOURCE_KEYS]; /* in the order of source_keys */
};

static const char *const source_keys[SOURCE_KEYS] = {"pps", "burst", "new", "new-burst"};
/* The members of a "sources" entry they set, in the same order. */
static const char *const source_members[SOURCE_KEYS] = {"packets_per_s", "packet_burst",
							"new_flows_per_s", "new_flow_burst"};

static int parse_source_option(const char *text, struct source_option *out)
{
	char buf[256], *colon, *item, *save = NULL;
	bool seen[SOURCE_KEYS] = {false}, any = false;

	if (snprintf(buf, sizeof(buf), "%s", text) >= (int)sizeof(buf))
		return -EINVAL;
	colon = strchr(buf, ':');
	if (colon == NULL)
		return -EINVAL;
	*colon = '\0';
	*out = (struct source_option){0};
	if (parse_count(buf, &out->prefix_len) < 0 || out->prefix_len > 255)
		return -EINVAL;
	if (strcmp(colon + 1, "off") == 0) {
		out->off = true;
		return 0;
	}
	for (item = strtok_r(colon + 1, ",", &save); item != NULL;
	     item = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(item, '=');
		size_t k;

		if (eq == NULL)
			return -EINVAL;
		*eq = '\0';
		for (k = 0; k < SOURCE_KEYS && strcmp(item, source_keys[k]) != 0; k++)
			;
		if (k == SOURCE_KEYS || seen[k] || parse_count(eq + 1, &out->values[k]) < 0)
			return -EINVAL;
		seen[k] = any = true;
	}
	return any ? 0 : -EINVAL;
}

/* What the options ask for; applied to the VIP's admission as read. */
struct limits_options {
	bool clear;
	bool has_rate, has_burst;
	double new_flows_per_s, new_flow_burst;
	int n_sources;
	struct source_option sources[LIMITS_SOURCES_MAX];
};

static int parse_limits_options(char **args, int nargs, struct limits_options *lo)
{
	for (int i = 0; i < nargs; i++) {
		const char *opt = args[i], *value = i + 1 < nargs ? args[i + 1] : NULL;

		if (strcmp(opt, "--clear") == 0 && !lo->clear) {
			lo->clear = true;
			continue;
		}
		if (value == NULL)
			return -EINVAL;
		if (strcmp(opt, "--new-flows-per-s") == 0 && !lo->has_rate) {
			if (parse_count(value, &lo->new_flows_per_s) < 0)
				return -EINVAL;
			lo->has_rate = true;
		} else if (strcmp(opt, "--new-flow-burst") == 0 && !lo->has_burst) {
			if (parse_count(value, &lo->new_flow_burst) < 0)
				return -EINVAL;
			lo->has_burst = true;
		} else if (strcmp(opt, "--source") == 0 && lo->n_sources < LIMITS_SOURCES_MAX) {
			if (parse_source_option(value, &lo->sources[lo->n_sources++]) < 0)
				return -EINVAL;
		} else {
			return -EINVAL;
		}
		i++;
	}
	return 0;
}

/* The index in sources of the entry for prefix_len, or -1. */
static int find_source(const cJSON *sources, double prefix_len)
{
	const cJSON *s;
	int i = 0;

	cJSON_ArrayForEach(s, sources)
	{
		if (num(s, "prefix_len") == prefix_len)
			return i;
		i++;
	}
	return -1;
}

/* The new "admission": the VIP's as read (or none with --clear), with
 * the options applied in order. NULL if out of memory. */
static cJSON *apply_limits(const cJSON *current, const struct limits_options *lo)
{
	cJSON *adm = cJSON_CreateObject(), *sources;
	const cJSON *old_sources = cJSON_GetObjectItemCaseSensitive(current, "sources");
	bool keep = !lo->clear && cJSON_IsObject(current);

	if (adm == NULL)
		return NULL;
	cJSON_AddNumberToObject(adm, "new_flows_per_s",
				lo->has_rate ? lo->new_flows_per_s
					     : keep ? num(current, "new_flows_per_s") : 0);
	cJSON_AddNumberToObject(adm, "new_flow_burst",
				lo->has_burst ? lo->new_flow_burst
					      : keep ? num(current, "new_flow_burst") : 0);
	sources = keep && cJSON_IsArray(old_sources) ? cJSON_Duplicate(old_sources, true)
						      : cJSON_CreateArray();
	if (sources == NULL || !cJSON_AddItemToObject(adm, "sources", sources)) {
		cJSON_Delete(sources);
		cJSON_Delete(adm);
		return NULL;
	}
	for (int i = 0; i < lo->n_sources; i++) {
		const struct source_option *so = &lo->sources[i];
		int at = find_source(sources, so->prefix_len);
		cJSON *entry;

		if (so->off) {
			if (at >= 0)
				cJSON_DeleteItemFromArray(sources, at);
			continue;
		}
		entry = cJSON_CreateObject();
		if (entry == NULL) {
			cJSON_Delete(adm);
			return NULL;
		}
		cJSON_AddNumberToObject(entry, "prefix_len", so->prefix_len);
		for (size_t k = 0; k < SOURCE_KEYS; k++)
			cJSON_AddNumberToObject(entry, source_members[k], so->values[k]);
		/* A length given again replaces its entry, in its place. */
		if (at >= 0)
			cJSON_ReplaceItemInArray(sources, at, entry);
		else
			cJSON_AddItemToArray(sources, entry);
	}
	return adm;
}

/*
 * vip limits VIP [options]: vip.get, then vip.update with the VIP's
 * settings as read and the new "admission" (vip.update replaces the
 * settings: everything else is sent back as it was; "backends" is left out
 * so that edgelb-cp keeps the set it has). Without options: the limits.
 */
/*
 * One member of a VIP's configuration, changed as a whole: vip.get for the
 * VIP's config (args[2]), then, when `edit` gives a new value of `member`
 * (it may also print and return NULL with *status set: nothing to change),
 * vip.update with it, waiting for the dataplanes as every change does, and
 * `print` of the value set. Used by `vip limits` and `vip quic`.
 */
typedef cJSON *(*vip_member_edit)(const cJSON *current, void *arg, int *status);

static int change_vip_member(const struct ctl_opts *o, const char *vip, const char *member,
			     vip_member_edit edit, void *arg, void (*print)(const cJSON *))
{
	struct elb_rpc_client_error err = {0};
	cJSON *key = cJSON_CreateObject(), *got = NULL, *config, *value, *result = NULL;
	int status = CTL_OK;

	if (add_vip(key, vip) < 0) {
		cJSON_Delete(key);
		return bad_vip();
	}
	status = elb_rpc_call(o->path, "vip.get", key, TIMEOUT_MS, &got, &err); /* takes key */
	if (status < 0)
		goto failed;
	config = cJSON_DetachItemFromObjectCaseSensitive(got, "config");
	cJSON_Delete(got);
	if (!cJSON_IsObject(config)) {
		cJSON_Delete(config);
		fprintf(stderr, "edgelbctl: vip.get answered without the VIP's config\n");
		return CTL_REFUSED;
	}
	status = CTL_OK;
	value = edit(cJSON_GetObjectItemCaseSensitive(config, member), arg, &status);
	if (value == NULL) {
		cJSON_Delete(config);
		return status;
	}
	cJSON_DeleteItemFromObjectCaseSensitive(config, member);
	cJSON_DeleteItemFromObjectCaseSensitive(config, "backends");
	/* A null value removes the member (vip.update then takes its default):
	 * only our copy of it, to print, is kept. */
	if (cJSON_IsNull(value)) {
		cJSON *copy = cJSON_Duplicate(value, true);

		cJSON_Delete(value);
		value = copy;
	} else if (!cJSON_AddItemToObject(config, member, value)) {
		cJSON_Delete(value);
		value = NULL;
	} else {
		value = cJSON_Duplicate(value, true);
	}
	if (value == NULL) {
		cJSON_Delete(config);
		fprintf(stderr, "edgelbctl: out of memory\n");
		return CTL_SOCKET;
	}
	/* Takes config; value is our copy of what it sets, to print. */
	status = elb_rpc_call(o->path, "vip.update", config, TIMEOUT_MS, &result, &err);
	if (status < 0) {
		cJSON_Delete(value);
		goto failed;
	}
	status = o->wait ? wait_acknowledged(o->path, num(result, "generation"), o->wait_timeout_s)
			 : CTL_OK;
	/* Printed also when not acknowledged in time: the change is made. */
	if (o->json) {
		cJSON_AddItemToObject(result, member, value);
		print_pretty(result);
	} else {
		print_committed(result);
		print(value);
		cJSON_Delete(value);
	}
	cJSON_Delete(result);
	return status;
failed:
	if (status == -EREMOTEIO && o->json)
		print_error_json(&err);
	status = call_failed(o->path, status, &err, "");
	elb_rpc_client_error_clear(&err);
	return status;
}

struct limits_edit {
	const struct ctl_opts *o;
	struct limits_options lo;
};

static cJSON *edit_limits(const cJSON *current, void *arg, int *status)
{
	struct limits_edit *e = arg;
	cJSON *adm;

	if (!e->lo.clear && !e->lo.has_rate && !e->lo.has_burst && e->lo.n_sources == 0) {
		if (e->o->json)
			print_pretty(current);
		else
			print_limits(current);
		return NULL;
	}
	adm = apply_limits(current, &e->lo);
	if (adm == NULL) {
		fprintf(stderr, "edgelbctl: out of memory\n");
		*status = CTL_SOCKET;
	}
	return adm;
}

static int run_vip_limits(const struct ctl_opts *o, char **args, int nargs)
{
	struct limits_edit e = {.o = o};

	if (parse_limits_options(args + 3, nargs - 3, &e.lo) < 0) {
		usage(stderr);
		return CTL_USAGE;
	}
	return change_vip_member(o, args[2], "admission", edit_limits, &e, print_limits);
}

/* ---- QUIC routing ------------------------------------------------------------ */

/* `vip quic`'s settings: the server ID length, the configurations (ID,
 * nonce length, the key read from a file: never from the command line,
 * where any user sees it in ps), or off. */
struct quic_edit {
	const struct ctl_opts *o;
	bool off;
	long server_id_len; /* 0: keep (or none given) */
	cJSON *configs;     /* NULL: keep */
};

static void print_quic(const cJSON *quic)
{
	/* Keys as their checks, also for a peer that may read them. */
	cJSON *wrap = cJSON_CreateObject(), *shown = cJSON_Duplicate(quic, true);
	const cJSON *c;

	if (!cJSON_IsObject(quic) || wrap == NULL || shown == NULL ||
	    !cJSON_AddItemToObject(wrap, "quic", shown) || elb_dp_config_json_redact(wrap) < 0) {
		if (wrap != NULL && cJSON_GetObjectItem(wrap, "quic") == NULL)
			cJSON_Delete(shown);
		cJSON_Delete(wrap);
		printf("quic: %s\n", cJSON_IsObject(quic) ? "(out of memory)" : "off");
		return;
	}
	printf("quic: server ID %g octets\n",
	       cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(shown, "server_id_length")));
	cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(shown, "configs"))
	{
		const char *check = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "key_check"));

		printf("  config %g: nonce %g octets, %s%s\n",
		       cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(c, "id")),
		       cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(c, "nonce_length")),
		       check != NULL ? "encrypted, key check " : "plaintext", check != NULL ? check : "");
	}
	cJSON_Delete(wrap);
}

/* ID:NONCE[:KEYFILE] into a configs entry; the key file holds 32 hex
 * digits (a trailing newline allowed). */
static cJSON *quic_config_arg(const char *arg)
{
	char *copy = strdup(arg), *nonce, *file, *end;
	cJSON *c = cJSON_CreateObject();
	long id, len;

	if (copy == NULL || c == NULL)
		goto fail;
	nonce = strchr(copy, ':');
	if (nonce == NULL)
		goto fail;
	*nonce++ = '\0';
	file = strchr(nonce, ':');
	if (file != NULL)
		*file++ = '\0';
	id = strtol(copy, &end, 10);
	if (*copy == '\0' || *end != '\0' || id < 0 || id > 255)
		goto fail;
	len = strtol(nonce, &end, 10);
	if (*nonce == '\0' || *end != '\0' || len < 0 || len > 255)
		goto fail;
	cJSON_AddNumberToObject(c, "id", (double)id);
	cJSON_AddNumberToObject(c, "nonce_length", (double)len);
	if (file != NULL) {
		char key[34] = "";
		FILE *f = fopen(file, "r");
		size_t n;

		if (f == NULL) {
			fprintf(stderr, "edgelbctl: %s: %s\n", file, strerror(errno));
			goto fail;
		}
		n = fread(key, 1, sizeof(key) - 1, f);
		fclose(f);
		key[n] = '\0';
		key[strcspn(key, "\r\n")] = '\0';
		/* edgelb-cp checks the digits and names the member. */
		cJSON_AddStringToObject(c, "key", key);
		memset(key, 0, sizeof(key));
	}
	free(copy);
	return c;
fail:
	free(copy);
	cJSON_Delete(c);
	return NULL;
}

static cJSON *edit_quic(const cJSON *current, void *arg, int *status)
{
	struct quic_edit *e = arg;
	cJSON *quic;

	(void)status;
	if (e->off)
		return cJSON_CreateNull();
	if (e->server_id_len == 0 && e->configs == NULL) {
		if (e->o->json)
			print_pretty(current);
		else
			print_quic(current);
		return NULL;
	}
	quic = cJSON_IsObject(current) ? cJSON_Duplicate(current, true) : cJSON_CreateObject();
	if (quic == NULL)
		return NULL;
	if (e->server_id_len) {
		cJSON_DeleteItemFromObjectCaseSensitive(quic, "server_id_length");
		cJSON_AddNumberToObject(quic, "server_id_length", (double)e->server_id_len);
	}
	if (e->configs) {
		cJSON_DeleteItemFromObjectCaseSensitive(quic, "configs");
		cJSON_AddItemToObject(quic, "configs", e->configs);
		e->configs = NULL;
	}
	return quic;
}

static int run_vip_quic(const struct ctl_opts *o, char **args, int nargs)
{
	struct quic_edit e = {.o = o};
	int status;

	for (int i = 3; i < nargs; i++) {
		char *end = NULL;

		if (strcmp(args[i], "--off") == 0) {
			e.off = true;
		} else if (strcmp(args[i], "--server-id-length") == 0 && i + 1 < nargs) {
			e.server_id_len = strtol(args[++i], &end, 10);
			if (*end != '\0' || e.server_id_len < 1 || e.server_id_len > 255)
				goto usage;
		} else if (strcmp(args[i], "--config") == 0 && i + 1 < nargs) {
			cJSON *c = quic_config_arg(args[++i]);

			if (c == NULL)
				goto usage;
			if (e.configs == NULL)
				e.configs = cJSON_CreateArray();
			cJSON_AddItemToArray(e.configs, c);
		} else {
			goto usage;
		}
	}
	if (e.off && (e.server_id_len || e.configs))
		goto usage;
	status = change_vip_member(o, args[2], "quic", edit_quic, &e, print_quic);
	cJSON_Delete(e.configs);
	return status;
usage:
	cJSON_Delete(e.configs);
	usage(stderr);
	return CTL_USAGE;
}

/* ---- prefix lists ---------------------------------------------------------- */

/* A trailing "--vip VIP" of args (taken off *nargs) into params. */
static int take_vip_option(cJSON *params, char **args, int *nargs)
{
	if (*nargs >= 2 && strcmp(args[*nargs - 2], "--vip") == 0) {
		if (add_vip(params, args[*nargs - 1]) < 0)
			return bad_vip();
		*nargs -= 2;
	}
	for (int i = 0; i < *nargs; i++)
		if (strcmp(args[i], "--vip") == 0)
			return CTL_SHOW_USAGE;
	return 0;
}

/* allow|deny add|del PREFIX... [--vip VIP]: prefixes.add with the prefixes
 * under the command's action, or prefixes.remove of rules with it. */
static int build_prefix_rules(const struct ctl_command *cmd, struct ctl_request *req, char **args,
			      int nargs)
{
	const char *action = cmd->words[0];
	bool add = strcmp(cmd->words[1], "add") == 0;
	int status = take_vip_option(req->params, args, &nargs);
	cJSON *list;

	if (status != 0)
		return status;
	if (nargs == 0)
		return CTL_SHOW_USAGE;
	list = cJSON_AddArrayToObject(req->params, add ? action : "prefixes");
	for (int i = 0; list != NULL && i < nargs; i++)
		cJSON_AddItemToArray(list, cJSON_CreateString(args[i]));
	if (!add)
		cJSON_AddStringToObject(req->params, "action", action);
	req->ack = &prefixes_ack;
	return 0;
}

static int build_prefixes_list(const struct ctl_command *cmd, struct ctl_request *req,
			       char **args, int nargs)
{
	int status = take_vip_option(req->params, args, &nargs);

	(void)cmd;
	return status != 0 ? status : nargs == 0 ? 0 : CTL_SHOW_USAGE;
}

/* A prefixes file: its name, and the line of each prefix sent, per array. */
struct prefix_file {
	const char *name;
	uint32_t *lines[2]; /* [0] "allow", [1] "deny" */
	uint32_t n[2];
};

static void prefix_file_free(struct prefix_file *f)
{
	if (f == NULL)
		return;
	free(f->lines[0]);
	free(f->lines[1]);
	free(f);
}

/*
 * One "allow PREFIX" or "deny PREFIX" per line; '#' starts a comment; blank
 * lines are skipped. The prefixes themselves are edgelb-cp's to judge: a
 * refusal names the array element, which names the line (prefix_refusal).
 * @return 0, or CTL_USAGE after naming the line on stderr.
 */
static int read_prefix_file(const char *name, cJSON *params, struct prefix_file *f)
{
	cJSON *arrays[2] = {cJSON_AddArrayToObject(params, "allow"),
			    cJSON_AddArrayToObject(params, "deny")};
	FILE *in = fopen(name, "r");
	char *line = NULL;
	size_t cap = 0;
	uint32_t number = 0, cap_lines[2] = {0, 0};
	int status = 0;

	f->name = name;
	if (in == NULL) {
		fprintf(stderr, "edgelbctl: %s: %s\n", name, strerror(errno));
		return CTL_USAGE;
	}
	while (status == 0 && getline(&line, &cap, in) >= 0) {
		char *hash = strchr(line, '#'), *word, *prefix, *extra, *save = NULL;
		int a;

		number++;
		if (hash != NULL)
			*hash = '\0';
		word = strtok_r(line, " \t\r\n", &save);
		if (word == NULL)
			continue;
		prefix = strtok_r(NULL, " \t\r\n", &save);
		extra = strtok_r(NULL, " \t\r\n", &save);
		a = strcmp(word, "allow") == 0 ? 0 : strcmp(word, "deny") == 0 ? 1 : -1;
		if (a < 0 || prefix == NULL || extra != NULL) {
			fprintf(stderr,
				"edgelbctl: %s:%u: expected \"allow PREFIX\" or \"deny PREFIX\"\n",
				name, number);
			status = CTL_USAGE;
			break;
		}
		if (f->n[a] == cap_lines[a]) {
			uint32_t bigger = cap_lines[a] ? cap_lines[a] * 2 : 1024;
			uint32_t *grown = realloc(f->lines[a], bigger * sizeof(*grown));

			if (grown == NULL) {
				fprintf(stderr, "edgelbctl: out of memory\n");
				status = CTL_SOCKET;
				break;
			}
			f->lines[a] = grown;
			cap_lines[a] = bigger;
		}
		f->lines[a][f->n[a]++] = number;
		if (!cJSON_AddItemToArray(arrays[a], cJSON_CreateString(prefix))) {
			fprintf(stderr, "edgelbctl: out of memory\n");
			status = CTL_SOCKET;
		}
	}
	if (status == 0 && ferror(in)) {
		fprintf(stderr, "edgelbctl: %s: %s\n", name, strerror(errno));
		status = CTL_USAGE;
	}
	free(line);
	fclose(in);
	return status;
}

/* prefixes load FILE [--vip VIP]: prefixes.replace of the scope's list. */
static int build_prefixes_load(const struct ctl_command *cmd, struct ctl_request *req,
			       char **args, int nargs)
{
	int status = take_vip_option(req->params, args, &nargs);

	(void)cmd;
	if (status != 0)
		return status;
	if (nargs != 1)
		return CTL_SHOW_USAGE;
	req->file = calloc(1, sizeof(*req->file));
	if (req->file == NULL) {
		fprintf(stderr, "edgelbctl: out of memory\n");
		return CTL_SOCKET;
	}
	req->ack = &prefixes_ack;
	return read_prefix_file(args[0], req->params, req->file);
}

/* The file's line of the request's "allow[i]" or "deny[i]" at text; 0 if
 * text names no such element. */
static uint32_t prefix_line(const struct prefix_file *f, const char *text)
{
	unsigned int index;
	char array[8];
	int a;

	if (sscanf(text, "%5[a-z][%u]", array, &index) != 2)
		return 0;
	a = strcmp(array, "allow") == 0 ? 0 : strcmp(array, "deny") == 0 ? 1 : -1;
	return a >= 0 && index < f->n[a] ? f->lines[a][index] : 0;
}

/* A refusal naming "allow[i]" or "deny[i]" of a loaded file, said as the
 * file's line (and the other element it names, as "line N"): true if it
 * was. */
static bool prefix_refusal(const struct prefix_file *f, const struct elb_rpc_client_error *err)
{
	static const char also[] = " is already listed at ";
	const cJSON *field = cJSON_GetObjectItemCaseSensitive(err->data, "field");
	const char *text = err->message, *colon, *other;
	uint32_t line = f != NULL && cJSON_IsString(field) ? prefix_line(f, field->valuestring) : 0;

	if (line == 0)
		return false;
	colon = strstr(text, ": ");
	text = colon != NULL ? colon + 2 : text;
	other = strstr(text, also);
	if (other != NULL && prefix_line(f, other + strlen(also)) != 0)
		fprintf(stderr, "edgelbctl: %s:%u: %.*s%sline %u\n", f->name, line,
			(int)(other - text), text, also, prefix_line(f, other + strlen(also)));
	else
		fprintf(stderr, "edgelbctl: %s:%u: %s\n", f->name, line, text);
	return true;
}

/* "generation 7, 3 rules" and each list, a rule a line. */
static void print_prefix_scope(const char *name, const cJSON *scope)
{
	static const char *const actions[] = {"allow", "deny"};
	const cJSON *p;
	int n = 0;

	for (int a = 0; a < 2; a++)
		n += cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(scope, actions[a]));
	printf("%s: %d rule%s\n", name, n, n == 1 ? "" : "s");
	for (int a = 0; a < 2; a++)
		cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(scope, actions[a]))
			printf("  %-5s %s\n", actions[a], cJSON_IsString(p) ? p->valuestring : "?");
}

static void print_prefixes(const cJSON *result)
{
	const cJSON *set = cJSON_GetObjectItemCaseSensitive(result, "prefixes"), *v;

	printf("generation %.0f, %.0f rules\n", num(result, "generation"), num(result, "rules"));
	if (!cJSON_IsObject(set)) {
		print_prefix_scope(str(result, "vip"), result);
		return;
	}
	print_prefix_scope("node", cJSON_GetObjectItemCaseSensitive(set, "node"));
	cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(set, "vips"))
	{
		const char *addr = str(v, "address"), *proto = str(v, "protocol");
		char name[128];

		snprintf(name, sizeof(name), strchr(addr, ':') ? "[%s]:%.0f/%s" : "%s:%.0f/%s", addr,
			 num(v, "port"), proto);
		print_prefix_scope(name, v);
	}
}

static void print_prefixes_committed(const cJSON *result)
{
	printf("ok (prefix lists generation %.0f, %.0f rules)\n", num(result, "generation"),
	       num(result, "rules"));
}

static const struct ctl_command commands[] = {
	{{"vip", "list"}, "", NULL, 0, 0, "vip.list", false, NULL, print_vips, NULL},
	{{"vip", "get"}, "VIP", "VIP is ADDRESS:PORT/PROTO, [V6]:PORT/PROTO", 1, 1, "vip.get",
	 false, build_vip, print_vip_get, NULL},
	{{"vip", "limits"},
	 "VIP [--new-flows-per-s N] [--new-flow-burst N]\n"
	 "[--source LEN:pps=N,burst=N,new=N,new-burst=N | LEN:off]...\n"
	 "[--clear]",
	 "admission control: the VIP's new-flow budget\n"
	 "and per-source limits (vip.get, vip.update);\n"
	 "--source sets one prefix length's whole limit,\n"
	 "--clear removes every limit first; no option:\n"
	 "show them",
	 1, -1, NULL, true, NULL, NULL, run_vip_limits},
	{{"vip", "quic"},
	 "VIP [--server-id-length N] [--config ID:NONCE[:KEYFILE]]... | --off",
	 "QUIC routing by connection ID (docs/quic-lb.md):\n"
	 "--config replaces the configurations (the key,\n"
	 "32 hex digits, read from KEYFILE); no option:\n"
	 "show them",
	 1, -1, NULL, true, NULL, NULL, run_vip_quic},
	{{"backend", "add"}, "VIP BACKEND [--weight N] [--quic-server-id HEX] [--dry-run]", NULL, 2,
	 -1, "backend.add",
	 true, build_backend, print_committed, NULL},
	{{"backend", "remove"}, "VIP BACKEND [--dry-run]", NULL, 2, -1, "backend.remove", true,
	 build_backend, print_committed, NULL},
	{{"backend", "drain"}, "VIP BACKEND [--dry-run] [--wait] [--timeout S] [--remove]",
	 "--wait: until drained (exit 0) or timed out (4)", 2, -1, "backend.drain", true,
	 build_backend, print_committed, NULL},
	{{"backend", "resume"}, "VIP BACKEND [--dry-run]", "ends a drain: active again", 2, -1,
	 "backend.resume", true, build_backend, print_committed, NULL},
	{{"backend", "undrain"}, "VIP BACKEND [--dry-run]", "deprecated: backend resume", 2, -1,
	 "backend.resume", true, build_backend, print_committed, NULL},
	{{"backend", "weight"}, "VIP BACKEND N [--dry-run]",
	 "--dry-run: what would move (backend.preview)", 2, -1, "backend.weight", true,
	 build_backend, print_committed, NULL},
	{{"deny", "add"}, "PREFIX... [--vip VIP]",
	 "deny rules: the node's list, or the VIP's;\na listed prefix takes the new action", 1,
	 -1, "prefixes.add", true, build_prefix_rules, print_prefixes_committed, NULL},
	{{"deny", "del"}, "PREFIX... [--vip VIP]", "remove deny rules", 1, -1, "prefixes.remove",
	 true, build_prefix_rules, print_prefixes_committed, NULL},
	{{"allow", "add"}, "PREFIX... [--vip VIP]",
	 "allow rules (a VIP's allow overrides the\nnode's deny)", 1, -1, "prefixes.add", true,
	 build_prefix_rules, print_prefixes_committed, NULL},
	{{"allow", "del"}, "PREFIX... [--vip VIP]", "remove allow rules", 1, -1, "prefixes.remove",
	 true, build_prefix_rules, print_prefixes_committed, NULL},
	{{"prefixes", "list"}, "[--vip VIP]", "every list, or the VIP's", 0, 2, "prefixes.get",
	 false, build_prefixes_list, print_prefixes, NULL},
	{{"prefixes", "load"}, "FILE [--vip VIP]",
	 "replace the node's list (or the VIP's) with\nFILE: \"allow PREFIX\" or \"deny PREFIX\" "
	 "a line,\n'#' comments",
	 1, 3, "prefixes.replace", true, build_prefixes_load, print_prefixes_committed, NULL},
	{{"health", NULL}, "", "every VIP's backends: state, health, flows, drain", 0, 0,
	 "health.get", false, NULL, print_health, NULL},
	{{"counters", NULL}, "", "per-VIP packets, new flows and drops", 0, 0, "counters.get",
	 false, NULL, print_counters, NULL},
	{{"slo", NULL}, "", "per-VIP availability and error budget left", 0, 0, "counters.get",
	 false, NULL, print_slo, NULL},
	{{"config", NULL}, "", "the configuration edgelb-cp runs", 0, 0, "config.get", false,
	 NULL, print_config, NULL},
	{{"dataplanes", NULL}, "", "each dataplane: connected, in sync, last error", 0, 0,
	 "dataplanes.get", false, NULL, print_dataplanes, NULL},
	{{"fleet", NULL}, "", "table digests per dataplane, shares, drains", 0, 0, "fleet.get",
	 false, NULL, print_fleet, NULL},
	{{"stats", NULL}, "[--watch] [--interval MS] [--count N]",
	 "per-VIP and per-backend rates, live with --watch", 0, -1, NULL, false, NULL, NULL,
	 run_stats},
	{{"events", NULL}, "[--count N]", "events as they happen (subscribe)", 0, -1, NULL, false,
	 NULL, NULL, run_stats},
	{{"explain", NULL},
	 "SRC:SPORT DST:DPORT tcp|udp [--flags SAFRP] [--length N] [--no-df]\n"
	 "| --packet HEX | --pcap FILE [--frame N]\n"
	 "[--dataplane NAME | --dp-socket PATH] [--output]",
	 "every step of each dataplane's decision for one\n"
	 "packet (flow.explain); exit 5 if they disagree",
	 0, -1, NULL, false, NULL, NULL, explain_command},
	{{"node", NULL}, "", "BGP announcements, speaker, sessions, drain state", 0, 0,
	 "node.get", false, NULL, print_node, NULL},
	{{"node", "drain"}, "[--wait] [--timeout S]",
	 "withdraw every VIP; --wait: until no VIP traffic\narrives (exit 0) or timed out (4)", 0,
	 -1, "node.drain", true, build_node_drain, print_node_state, NULL},
	{{"node", "resume"}, "", "announce again", 0, 0, "node.resume", true, NULL,
	 print_node_state, NULL},
	{{"call", NULL}, "METHOD [PARAMS-JSON]", "any method, raw; never waits for the dataplanes",
	 1, 2, NULL, false, build_call, print_pretty, NULL},
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))
#define USAGE_HELP_COLUMN 35

static int command_words(const struct ctl_command *cmd)
{
	return cmd->words[1] != NULL ? 2 : 1;
}

/* The command whose words begin args, the one with more words if two do
 * ("node drain" before "node"); NULL if none. */
static const struct ctl_command *find_command(char **args, int nargs)
{
	const struct ctl_command *found = NULL;

	for (size_t i = 0; i < N_COMMANDS; i++) {
		const struct ctl_command *cmd = &commands[i];
		int n = command_words(cmd);

		if (nargs < n || strcmp(args[0], cmd->words[0]) != 0 ||
		    (n == 2 && strcmp(args[1], cmd->words[1]) != 0))
			continue;
		if (found == NULL || n > command_words(found))
			found = cmd;
	}
	return found;
}

/* One command's usage: words and synopsis, its help from USAGE_HELP_COLUMN
 * (on a line of its own when the synopsis reaches that far). */
static void usage_command(FILE *out, const struct ctl_command *cmd)
{
	const char *text = cmd->synopsis, *nl;
	int col = fprintf(out, "  %s%s%s", cmd->words[0], cmd->words[1] ? " " : "",
			  cmd->words[1] ? cmd->words[1] : "");
	int indent = col + 1;
	bool first = true;

	for (; text != NULL && text[0] != '\0'; text = nl ? nl + 1 : NULL, first = false) {
		int len;

		nl = strchr(text, '\n');
		len = nl ? (int)(nl - text) : (int)strlen(text);
		if (first)
			col += fprintf(out, " %.*s", len, text);
		else
			col = fprintf(out, "\n%*s%.*s", indent, "", len, text) - 1;
	}
	for (text = cmd->help; text != NULL; text = nl ? nl + 1 : NULL) {
		int len;

		nl = strchr(text, '\n');
		len = nl ? (int)(nl - text) : (int)strlen(text);
		if (col < USAGE_HELP_COLUMN)
			fprintf(out, "%*s%.*s", USAGE_HELP_COLUMN - col, "", len, text);
		else
			fprintf(out, "\n%*s%.*s", USAGE_HELP_COLUMN, "", len, text);
		col = USAGE_HELP_COLUMN + 1; /* the next help line goes below */
	}
	fputc('\n', out);
}

static void usage(FILE *out)
{
	int col = 0;

	fprintf(out, "usage: edgelbctl [--socket PATH] [--json] [--no-wait] [--wait-timeout S] "
		     "COMMAND ...\n");
	for (size_t i = 0; i < N_COMMANDS; i++)
		usage_command(out, &commands[i]);
	fprintf(out, "Changes:");
	for (size_t i = 0; i < N_COMMANDS; i++) {
		if (!commands[i].changes)
			continue;
		if (col > 50)
			col = fprintf(out, ",\n ");
		else
			col += fprintf(out, "%s", col > 0 ? ", " : " ");
		col += fprintf(out, "%s%s%s", commands[i].words[0], commands[i].words[1] ? " " : "",
			       commands[i].words[1] ? commands[i].words[1] : "");
	}
	fprintf(out,
		":\nthey return once every dataplane edgelb-cp manages acknowledged them,\n"
		"at most --wait-timeout S seconds (default %.0f), else exit 6\n"
		"(the change is committed; a disconnected dataplane gets it when it reconnects).\n"
		"--no-wait returns as soon as edgelb-cp committed it.\n"
		"exit status: 0 done, 1 refused, 2 usage, 3 no answer from the socket,\n"
		"4 drain timed out (--wait), 5 the dataplanes disagree (explain),\n"
		"6 committed but not acknowledged by every dataplane in time\n",
		WAIT_TIMEOUT_DEFAULT_S);
}

/* A command of the table that is one request: build, call, wait for the
 * dataplanes if it changed state, print. */
static int run_request(const struct ctl_opts *o, const struct ctl_command *cmd, char **args,
		       int nargs)
{
	struct ctl_request req = {
		.method = cmd->method,
		.params = cJSON_CreateObject(),
		.print = cmd->print,
		.changes = cmd->changes,
	};
	struct elb_rpc_client_error err = {0};
	cJSON *result = NULL;
	int status = cmd->build != NULL ? cmd->build(cmd, &req, args, nargs) : CTL_OK;

	if (status != CTL_OK) {
		cJSON_Delete(req.params);
		prefix_file_free(req.file);
		if (status == CTL_SHOW_USAGE) {
			usage(stderr);
			return CTL_USAGE;
		}
		return status;
	}
	if (req.drain_wait)
		/* Without --timeout the daemon's fleet.drain_timeout_ms applies:
		 * wait as long as a week, the longest it can be. */
		return drain_wait(o, req.params, req.timeout_s ? req.timeout_s : 604800);
	status = elb_rpc_call(o->path, req.method, req.params, TIMEOUT_MS, &result, &err);
	if (status < 0) {
		if (status == -EREMOTEIO && o->json)
			print_error_json(&err);
		if (status == -EREMOTEIO && prefix_refusal(req.file, &err))
			status = CTL_REFUSED;
		else
			status = call_failed(o->path, status, &err, "");
		elb_rpc_client_error_clear(&err);
		prefix_file_free(req.file);
		return status;
	}
	prefix_file_free(req.file);
	status = CTL_OK;
	if (req.changes && o->wait)
		status = wait_acknowledged_by(o->path, req.ack != NULL ? req.ack : &config_ack,
					      num(result, "generation"), o->wait_timeout_s);
	/* Printed also when not acknowledged in time: the change is made. */
	if (o->json)
		print_pretty(result);
	else
		req.print(result);
	if (status == CTL_OK && req.node_wait) {
		fflush(stdout);
		status = node_wait_drained(o, req.timeout_s, num(result, "timeout_ms"));
	}
	cJSON_Delete(result);
	return status;
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{"socket", required_argument, NULL, 's'},
		{"json", no_argument, NULL, 'j'},
		{"no-wait", no_argument, NULL, 'n'},
		{"wait-timeout", required_argument, NULL, 'w'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct ctl_opts o = {
		.path = DEFAULT_SOCKET,
		.wait = true,
		.wait_timeout_s = WAIT_TIMEOUT_DEFAULT_S,
	};
	const struct ctl_command *cmd;
	int opt, nargs, n_words;
	char **args, *end;

	if (elb_version_requested(argc, argv))
		return elb_version_print("edgelbctl", 0);
	while ((opt = getopt_long(argc, argv, "+s:jh", options, NULL)) != -1) {
		switch (opt) {
		case 's':
			o.path = optarg;
			break;
		case 'j':
			o.json = true;
			break;
		case 'n':
			o.wait = false;
			break;
		case 'w':
			o.wait_timeout_s = strtod(optarg, &end);
			if (*end != '\0' || end == optarg || !(o.wait_timeout_s > 0) ||
			    o.wait_timeout_s > 604800)
				goto bad_usage;
			break;
		case 'h':
			usage(stdout);
			return CTL_OK;
		default:
			goto bad_usage;
		}
	}
	args = argv + optind;
	nargs = argc - optind;
	cmd = nargs > 0 ? find_command(args, nargs) : NULL;
	if (cmd == NULL)
		goto bad_usage;
	n_words = command_words(cmd);
	if (nargs - n_words < cmd->min_args ||
	    (cmd->max_args >= 0 && nargs - n_words > cmd->max_args))
		goto bad_usage;
	if (cmd->run != NULL)
		return cmd->run(&o, args, nargs);
	return run_request(&o, cmd, args + n_words, nargs - n_words);
bad_usage:
	usage(stderr);
	return CTL_USAGE;
}
