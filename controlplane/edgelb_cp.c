/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * edgelb-cp: the control-plane daemon. One thread, one epoll loop that
 * carries the operator socket (elb_rpc), a JSON-RPC client per managed
 * dataplane, and every running health probe. Each round handles the ready
 * fds, then the timers (pings, reconnects, pushes, probe starts and
 * deadlines), which are checked by scanning: the loop wakes at least every
 * CP_TICK_MS, and hundreds of targets cost nothing to scan.
 *
 * State flows one way: config (operator, persisted) + health results ->
 * the desired dataplane config (cp->desired, generation cp->gen) -> a
 * config.set to every dataplane whose accepted generation is older.
 *
 * Under systemd (systemd/edgelb-cp.service): READY=1 once the config is
 * loaded and the operator socket listens; WATCHDOG=1 and STATUS= (how many
 * dataplanes have the current generation) from the epoll loop
 * (elb_notify.h); STOPPING=1 on SIGTERM.
 */
#include "cp_bgp.h"
#include "cp_daemon.h"
#include "cp_metrics.h"
#include "elb_dp_api.h"
#include "elb_notify.h"
#include "elb_version.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>

#define CP_TICK_MS 20
#define CP_DEFAULT_SOCKET "/run/edgelb/cp.sock"

static volatile sig_atomic_t stop_requested;

static void targets_tick(struct cp_daemon *cp, uint64_t now)
{
	for (uint32_t i = 0; i < cp->n_targets; i++) {
		struct cp_target *t = cp->targets[i];
		bool ok;
		int rc;

		if (t->hc.type == CP_HC_NONE)
			continue;
		if (t->probe.fd >= 0) {
			if (cp_probe_expire(&t->probe, cp->epfd, now))
				cp_target_result(cp, t, false);
			continue;
		}
		if (now < t->next_due_ms)
			continue;
		t->next_due_ms = now + t->hc.interval_ms;
		rc = cp_probe_start(&t->probe, cp->epfd, t, &t->hc, &t->addr, t->family, t->port,
				    now, &ok);
		if (rc == 1)
			cp_target_result(cp, t, ok);
		else if (rc < 0 && cp->probe_errors++ % 1000 == 0)
			cp_log("health probe not started (%s): retried next interval",
				strerror(-rc));
	}
}

/* ------------------------------------------------------------------------ */
/* Dataplane clients */

static void dp_disconnect(struct cp_daemon *cp, struct cp_dataplane *dp, const char *why)
{
	if (dp->fd >= 0) {
		epoll_ctl(cp->epfd, EPOLL_CTL_DEL, dp->fd, NULL);
		close(dp->fd);
	}
	if (dp->connected) {
		cJSON *fields = cp_event_dataplane(dp->cfg.name);

		cp_log("dataplane %s: disconnected (%s)", dp->cfg.name, why);
		if (fields != NULL)
			cJSON_AddStringToObject(fields, "reason", why);
		cp_event(cp, "dataplane_lost", fields);
		dp->disconnects++;
		snprintf(dp->last_error, sizeof(dp->last_error), "%s", why);
	}
	dp->fd = -1;
	dp->connected = false;
	dp->in_len = 0;
	dp->out_len = dp->out_off = 0;
	dp->want_out = false;
	dp->pending_count = 0;
	dp->ping_sent_ms = 0;
	dp->inflight_gen = 0;
	dp->protocol_ok = false; /* asked again on the next connection */
	/* Its tables are unknown while it is away: no agreement, no drain. */
	cJSON_Delete(dp->tables);
	dp->tables = NULL;
	cJSON_Delete(dp->flow_tables);
	dp->flow_tables = NULL;
	dp->next_flow_count_ms = 0;
	dp->next_connect_ms = cp_now_ms() + CP_DP_RECONNECT_MS;
}

static int dp_update_events(struct cp_daemon *cp, struct cp_dataplane *dp)
{
	struct epoll_event ev;
	bool want_out = dp->out_len > dp->out_off;

	if (want_out == dp->want_out)
		return 0;
	ev.events = EPOLLIN | (want_out ? EPOLLOUT : 0);
	ev.data.ptr = dp;
	if (epoll_ctl(cp->epfd, EPOLL_CTL_MOD, dp->fd, &ev) < 0)
		return -errno;
	dp->want_out = want_out;
	return 0;
}

static int dp_flush(struct cp_daemon *cp, struct cp_dataplane *dp)
{
	while (dp->out_off < dp->out_len) {
		ssize_t n = send(dp->fd, dp->out + dp->out_off, dp->out_len - dp->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			return -errno;
		}
		dp->out_off += (size_t)n;
	}
	if (dp->out_off == dp->out_len)
		dp->out_off = dp->out_len = 0;
	return dp_update_events(cp, dp);
}

/* Queue one request. @return 0, -ENOBUFS (too many pending) or -errno. */
static int dp_send(struct cp_daemon *cp, struct cp_dataplane *dp, uint8_t kind,
		   const char *method, cJSON *params, uint64_t gen)
{
	cJSON *req;
	char *line;
	size_t len;
	struct cp_dp_pending *p;
	int rc;

	if (dp->pending_count == CP_DP_MAX_PENDING) {
		cJSON_Delete(params);
		return -ENOBUFS;
	}
	req = cJSON_CreateObject();
	if (req == NULL) {
		cJSON_Delete(params);
		return -ENOMEM;
	}
	cJSON_AddStringToObject(req, "jsonrpc", "2.0");
	cJSON_AddNumberToObject(req, "id", (double)++dp->next_id);
	cJSON_AddStringToObject(req, "method", method);
	if (params != NULL)
		cJSON_AddItemToObject(req, "params", params);
	line = cJSON_PrintUnformatted(req);
	cJSON_Delete(req);
	if (line == NULL)
		return -ENOMEM;
	len = strlen(line);
	if (dp->out_len + len + 1 > dp->out_cap) {
		size_t cap = (dp->out_len + len + 1) * 2;
		char *grown = realloc(dp->out, cap);

		if (grown == NULL) {
			free(line);
			return -ENOMEM;
		}
		dp->out = grown;
		dp->out_cap = cap;
	}
	memcpy(dp->out + dp->out_len, line, len);
	dp->out[dp->out_len + len] = '\n';
	dp->out_len += len + 1;
	free(line);
	p = &dp->pending[(dp->pending_head + dp->pending_count) % CP_DP_MAX_PENDING];
	p->id = dp->next_id;
	p->kind = kind;
	p->gen = gen;
	dp->pending_count++;
	rc = dp_flush(cp, dp);
	return rc;
}

static int dp_push(struct cp_daemon *cp, struct cp_dataplane *dp)
{
	cJSON *params = cJSON_CreateObject(), *config = elb_dp_config_to_json(cp->desired);
	int rc;

	if (params == NULL || config == NULL) {
		cJSON_Delete(params);
		cJSON_Delete(config);
		return -ENOMEM;
	}
	cJSON_AddItemToObject(params, "config", config);
	rc = dp_send(cp, dp, CP_REQ_PUSH, "config.set", params, cp->gen);
	if (rc == 0) {
		dp->inflight_gen = cp->gen;
		dp->push_sent_ms = cp_now_ms();
	}
	return rc;
}

static double counter(const cJSON *vip, const char *group, const char *name)
{
	const cJSON *g = group != NULL ? cJSON_GetObjectItemCaseSensitive(vip, group) : vip;
	const cJSON *n = cJSON_GetObjectItemCaseSensitive(g, name);

	return cJSON_IsNumber(n) ? n->valuedouble : 0;
}

static void vip_totals(const cJSON *vip, struct cp_slo_totals *out)
{
	out->rx = counter(vip, "rx", "packets");
	out->forwarded = counter(vip, "forwarded", "packets");
	out->forwarded_bytes = counter(vip, "forwarded", "bytes");
	out->rate_limited = counter(vip, "drops", "rate_limited");
	out->new_flows = counter(vip, NULL, "new_flows");
}

/* A counter that went down belongs to a new dataplane process (or a VIP
 * that was removed and added again): all of it is new. */
static double delta_of(double now, double before)
{
	return now >= before ? now - before : now;
}

/* Feed each VIP's SLO totals with what this dataplane counted since its
 * last report. */
static void slo_feed(struct cp_daemon *cp, const struct cp_dataplane *dp, const cJSON *fresh)
{
	bool same_process = dp->counters != NULL && strcmp(dp->counters_instance, dp->instance) == 0;
	const cJSON *v, *old_vips = same_process ? cJSON_GetObjectItemCaseSensitive(dp->counters,
										  "vips")
						 : NULL;

	cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(fresh, "vips"))
	{
		const cJSON *name = cJSON_GetObjectItemCaseSensitive(v, "vip"), *o;
		struct cp_slo_totals now, before = {0}, delta;
		int index = -1;

		if (!cJSON_IsString(name))
			continue;
		for (uint32_t i = 0; i < cp->config->n_vips && index < 0; i++) {
			char text[ELB_DP_VIP_KEY_STR_MAX];

			if (strcmp(elb_dp_vip_key_str(&cp->config->vips[i].dp.key, text,
						      sizeof(text)),
				   name->valuestring) == 0)
				index = (int)i;
		}
		if (index < 0)
			continue;
		vip_totals(v, &now);
		cJSON_ArrayForEach(o, old_vips)
		{
			const cJSON *n = cJSON_GetObjectItemCaseSensitive(o, "vip");

			if (cJSON_IsString(n) && strcmp(n->valuestring, name->valuestring) == 0)
				vip_totals(o, &before);
		}
		delta.rx = delta_of(now.rx, before.rx);
		delta.forwarded = delta_of(now.forwarded, before.forwarded);
		delta.forwarded_bytes = delta_of(now.forwarded_bytes, before.forwarded_bytes);
		delta.rate_limited = delta_of(now.rate_limited, before.rate_limited);
		delta.new_flows = delta_of(now.new_flows, before.new_flows);
		cp_slo_add(&cp->vip_rt[index].slo, &delta);
	}
}

/* The protocol check on a ping answer: a dataplane is pushed to only once
 * it said, on this connection, that it speaks ELB_DP_PROTOCOL_VERSION.
 * Another number, or none (not a dataplane of protocol 1, which has always
 * answered "protocol"; or a ping refused), makes it refused: kept connected
 * and pinged (a restart behind the socket is checked again), never pushed
 * to nor polled, named in an event, a log line and dataplanes.get. */
static void dp_check_protocol(struct cp_daemon *cp, struct cp_dataplane *dp, const cJSON *result)
{
	const cJSON *proto = cJSON_GetObjectItemCaseSensitive(result, "protocol");
	const cJSON *version = cJSON_GetObjectItemCaseSensitive(result, "version");
	int speaks = cJSON_IsNumber(proto) && proto->valuedouble >= 0 &&
			     proto->valuedouble <= 1e9 ? (int)proto->valuedouble
						       : -1;
	bool was_refused = dp->refused, changed = speaks != dp->protocol;
	cJSON *fields;

	snprintf(dp->version, sizeof(dp->version), "%s",
		 cJSON_IsString(version) ? version->valuestring : "");
	dp->protocol = speaks;
	if (speaks == ELB_DP_PROTOCOL_VERSION) {
		dp->protocol_ok = true;
		dp->refused = false;
		if (was_refused) {
			cp_log("dataplane %s: speaks protocol %d now: managed", dp->cfg.name, speaks);
			dp->last_error[0] = '\0';
		}
		return;
	}
	dp->protocol_ok = false;
	dp->refused = true;
	if (was_refused && !changed)
		return; /* said once per connection and answer */
	if (speaks < 0)
		snprintf(dp->last_error, sizeof(dp->last_error),
			 "dataplane %s does not say which protocol it speaks, edgelb-cp speaks %d: "
			 "not managed",
			 dp->cfg.name, ELB_DP_PROTOCOL_VERSION);
	else
		snprintf(dp->last_error, sizeof(dp->last_error),
			 "dataplane %s speaks protocol %d, edgelb-cp speaks %d: not managed",
			 dp->cfg.name, speaks, ELB_DP_PROTOCOL_VERSION);
	cp_log("%s", dp->last_error);
	fields = cp_event_dataplane(dp->cfg.name);
	if (fields != NULL) {
		if (speaks >= 0)
			cJSON_AddNumberToObject(fields, "protocol", speaks);
		else
			cJSON_AddNullToObject(fields, "protocol");
		cJSON_AddNumberToObject(fields, "expected_protocol", ELB_DP_PROTOCOL_VERSION);
		if (dp->version[0] != '\0')
			cJSON_AddStringToObject(fields, "version", dp->version);
		cJSON_AddStringToObject(fields, "error", dp->last_error);
	}
	cp_event(cp, "dataplane_refused", fields);
}

static void dp_handle_reply(struct cp_daemon *cp, struct cp_dataplane *dp, cJSON *msg)
{
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(msg, "id");
	cJSON *result = cJSON_GetObjectItemCaseSensitive(msg, "result");
	const cJSON *error = cJSON_GetObjectItemCaseSensitive(msg, "error");
	struct cp_dp_pending p;
	uint64_t now = cp_now_ms();

	if (dp->pending_count == 0 || !cJSON_IsNumber(id))
		return;
	p = dp->pending[dp->pending_head];
	if ((uint64_t)id->valuedouble != p.id)
		return; /* answers come in request order: not one of ours */
	dp->pending_head = (dp->pending_head + 1) % CP_DP_MAX_PENDING;
	dp->pending_count--;
	switch (p.kind) {
	case CP_REQ_PING: {
		const cJSON *inst = cJSON_GetObjectItemCaseSensitive(result, "instance");

		dp->ping_sent_ms = 0;
		dp_check_protocol(cp, dp, result);
		if (!cJSON_IsString(inst))
			break;
		if (dp->instance[0] != '\0' && strcmp(dp->instance, inst->valuestring) != 0) {
			/* A new process behind the same socket, reached without our
			 * noticing a disconnect: it has whatever config it started
			 * with, so it gets the whole state again. */
			cp_log("dataplane %s: restarted (instance %s -> %s)", dp->cfg.name,
				dp->instance, inst->valuestring);
			cp_event(cp, "dataplane_restarted", cp_event_dataplane(dp->cfg.name));
			dp->restarts++;
			dp->pushed_gen = 0;
		}
		snprintf(dp->instance, sizeof(dp->instance), "%s", inst->valuestring);
		break;
	}
	case CP_REQ_PUSH:
		dp->inflight_gen = 0;
		if (dp->ping_sent_ms != 0)
			dp->ping_sent_ms = now; /* it waited behind the push */
		if (cJSON_IsObject(result)) {
			const cJSON *epoch = cJSON_GetObjectItemCaseSensitive(result, "epoch");

			cJSON *fields = cp_event_dataplane(dp->cfg.name);

			dp->pushed_gen = p.gen;
			dp->pushes++;
			dp->last_push_ms = now;
			if (cJSON_IsNumber(epoch))
				dp->dp_epoch = (uint64_t)epoch->valuedouble;
			/* The acknowledgement: from here on this dataplane sends
			 * nothing new to a backend that generation left out. */
			elb_dp_json_add_u64(fields, "generation", p.gen);
			elb_dp_json_add_u64(fields, "epoch", dp->dp_epoch);
			cp_event(cp, "dataplane_updated", fields);
		} else {
			const cJSON *m = cJSON_GetObjectItemCaseSensitive(error, "message");

			dp->push_failures++;
			dp->push_retry_ms = now + CP_DP_PUSH_RETRY_MS;
			snprintf(dp->last_error, sizeof(dp->last_error), "config.set refused: %s",
				 cJSON_IsString(m) ? m->valuestring : "?");
			cp_log("dataplane %s: %s", dp->cfg.name, dp->last_error);
			{
				cJSON *fields = cp_event_dataplane(dp->cfg.name);

				if (fields != NULL)
					cJSON_AddStringToObject(fields, "error", dp->last_error);
				cp_event(cp, "push_refused", fields);
			}
		}
		break;
	case CP_REQ_COUNTERS: {
		cJSON *c = cJSON_DetachItemFromObjectCaseSensitive(result, "counters");

		if (c != NULL) {
			slo_feed(cp, dp, c);
			cJSON_Delete(dp->counters);
			dp->counters = c;
			snprintf(dp->counters_instance, sizeof(dp->counters_instance), "%s",
				 dp->instance);
		}
		break;
	}
	case CP_REQ_TABLES:
		/* A dataplane without vip.tables (an older one) answers with an
		 * error: it then takes part in no comparison. */
		if (cJSON_IsObject(result)) {
			cJSON_Delete(dp->tables);
			dp->tables = cJSON_DetachItemFromObjectCaseSensitive(msg, "result");
			dp->tables_ms = now;
			if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(dp->tables,
									  "flows_counted"))) {
				cJSON_Delete(dp->flow_tables);
				dp->flow_tables = cJSON_Duplicate(dp->tables, true);
				dp->flow_tables_ms = now;
			}
		}
		break;
	}
}

static void dp_on_readable(struct cp_daemon *cp, struct cp_dataplane *dp)
{
	for (;;) {
		ssize_t n;
		char *start, *nl;

		if (dp->in_cap - dp->in_len < 65536) {
			size_t cap = dp->in_cap ? dp->in_cap * 2 : 131072;
			char *grown;

			if (cap > CP_DP_MAX_INPUT) {
				dp_disconnect(cp, dp, "answer too long");
				return;
			}
			grown = realloc(dp->in, cap);
			if (grown == NULL) {
				dp_disconnect(cp, dp, "out of memory");
				return;
			}
			dp->in = grown;
			dp->in_cap = cap;
		}
		n = recv(dp->fd, dp->in + dp->in_len, dp->in_cap - dp->in_len, MSG_DONTWAIT);
		if (n == 0) {
			dp_disconnect(cp, dp, "the dataplane closed the connection");
			return;
		}
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			dp_disconnect(cp, dp, strerror(errno));
			return;
		}
		dp->in_len += (size_t)n;
		start = dp->in;
		while ((nl = memchr(start, '\n', dp->in_len - (size_t)(start - dp->in))) != NULL) {
			cJSON *msg = cJSON_ParseWithLength(start, (size_t)(nl - start));

			if (msg != NULL) {
				dp_handle_reply(cp, dp, msg);
				cJSON_Delete(msg);
			}
			start = nl + 1;
			if (!dp->connected)
				return;
		}
		dp->in_len -= (size_t)(start - dp->in);
		memmove(dp->in, start, dp->in_len);
	}
}

static void dp_connect(struct cp_daemon *cp, struct cp_dataplane *dp, uint64_t now)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct epoll_event ev;
	int fd;

	dp->next_connect_ms = now + CP_DP_RECONNECT_MS;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", dp->cfg.socket);
	/* A Unix connect completes at once or fails (EAGAIN: backlog full). */
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		snprintf(dp->last_error, sizeof(dp->last_error), "connect %s: %s", dp->cfg.socket,
			 strerror(errno));
		close(fd);
		return;
	}
	ev.events = EPOLLIN;
	ev.data.ptr = dp;
	if (epoll_ctl(cp->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		close(fd);
		return;
	}
	dp->fd = fd;
	dp->connected = true;
	dp->connects++;
	/* Whatever happened while we were away (a restart, another writer),
	 * the dataplane gets the whole state; re-sending what it has is free. */
	dp->pushed_gen = 0;
	dp->push_retry_ms = 0;
	dp->next_ping_ms = now;
	dp->next_counters_ms = now + CP_DP_COUNTERS_MS;
	cp_log("dataplane %s: connected", dp->cfg.name);
	cp_event(cp, "dataplane_connected", cp_event_dataplane(dp->cfg.name));
}

static void dp_tick(struct cp_daemon *cp, struct cp_dataplane *dp, uint64_t now)
{
	int rc = 0;

	if (!dp->connected) {
		if (now >= dp->next_connect_ms)
			dp_connect(cp, dp, now);
		if (!dp->connected)
			return;
	}
	/* A ping queued behind a config.set waits for the dataplane to apply
	 * it, which takes as long as building its tables: the push has its own,
	 * longer, limit. */
	if (dp->inflight_gen == 0 && dp->ping_sent_ms != 0 &&
	    now - dp->ping_sent_ms > CP_DP_PING_TIMEOUT_MS) {
		dp_disconnect(cp, dp, "ping unanswered");
		return;
	}
	if (dp->inflight_gen != 0 && now - dp->push_sent_ms > CP_DP_PUSH_TIMEOUT_MS) {
		dp_disconnect(cp, dp, "config.set unanswered");
		return;
	}
	if (dp->ping_sent_ms == 0 && now >= dp->next_ping_ms) {
		rc = dp_send(cp, dp, CP_REQ_PING, "ping", NULL, 0);
		dp->ping_sent_ms = now;
		dp->next_ping_ms = now + CP_DP_PING_INTERVAL_MS;
	}
	if (!dp->protocol_ok) {
		/* Until its ping says it speaks our protocol: nothing else. */
		if (rc < 0 && rc != -ENOBUFS)
			dp_disconnect(cp, dp, strerror(-rc));
		return;
	}
	if (rc == 0 && dp->inflight_gen == 0 && dp->pushed_gen != cp->gen && cp->desired != NULL &&
	    now >= dp->push_retry_ms)
		rc = dp_push(cp, dp);
	if (rc == 0 && now >= dp->next_counters_ms) {
		dp->next_counters_ms = now + CP_DP_COUNTERS_MS;
		rc = dp_send(cp, dp, CP_REQ_COUNTERS, "counters.get", NULL, 0);
		if (rc == 0) {
			bool count = cp_fleet_draining(cp) || now >= dp->next_flow_count_ms;
			cJSON *params = cJSON_CreateObject();

			cJSON_AddBoolToObject(params, "flows", count);
			if (count)
				dp->next_flow_count_ms = now + cp_flow_count_interval_ms(cp->config);
			rc = dp_send(cp, dp, CP_REQ_TABLES, "vip.tables", params, 0);
		}
	}
	if (rc < 0 && rc != -ENOBUFS)
		dp_disconnect(cp, dp, strerror(-rc));
}

/* ------------------------------------------------------------------------ */
/* Main loop */

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static void handle_event(struct cp_daemon *cp, struct epoll_event *ev, uint64_t now)
{
	int kind = *(int *)ev->data.ptr;

	if (kind == CP_POLL_OPERATOR) {
		elb_rpc_server_poll(cp->operator, 0);
	} else if (kind == CP_POLL_DATAPLANE) {
		struct cp_dataplane *dp = ev->data.ptr;

		if (!dp->connected)
			return;
		if (ev->events & (EPOLLIN | EPOLLHUP | EPOLLERR))
			dp_on_readable(cp, dp);
		if (dp->connected && (ev->events & EPOLLOUT)) {
			int rc = dp_flush(cp, dp);

			if (rc < 0)
				dp_disconnect(cp, dp, strerror(-rc));
		}
	} else if (kind == CP_POLL_BGP) {
		cp_bgp_event(cp, ev->events);
	} else if (kind == CP_POLL_METRICS) {
		cp_metrics_event(cp, ev->data.ptr, ev->events);
	} else if (kind == CP_POLL_TARGET) {
		struct cp_target *t = ev->data.ptr;
		bool ok;

		if (cp_probe_event(&t->probe, cp->epfd, t, ev->events, now, &ok) == 1)
			cp_target_result(cp, t, ok);
	}
}

/* STATUS= for systemd when the number of dataplanes holding the current
 * generation changes. */
static void notify_status(const struct cp_daemon *cp, uint32_t *last_current)
{
	uint32_t current = 0;

	for (uint32_t i = 0; i < cp->n_dps; i++)
		current += cp->dps[i].connected && cp->dps[i].protocol_ok &&
			   cp->dps[i].pushed_gen == cp->gen;
	if (current == *last_current)
		return;
	*last_current = current;
	elb_notify_status("%u VIP(s); %u of %u dataplane(s) hold generation %" PRIu64,
			  cp->config->n_vips, current, cp->n_dps, cp->gen);
}

static int run(struct cp_daemon *cp)
{
	struct epoll_event events[64];
	uint32_t current_dps = UINT32_MAX;

	while (!stop_requested) {
		uint64_t now;
		int operator_event;
		int n = epoll_wait(cp->epfd, events, 64, CP_TICK_MS);

		if (n < 0 && errno != EINTR)
			return -errno;
		now = cp_now_ms();
		/* An operator change may free targets that other events of this
		 * round point at: the operator's event is handled last. Nothing
		 * is read through an event after it was handled (a metrics
		 * connection frees itself when done). */
		operator_event = -1;
		for (int i = 0; i < n; i++) {
			if (*(int *)events[i].data.ptr == CP_POLL_OPERATOR)
				operator_event = i;
			else
				handle_event(cp, &events[i], now);
		}
		/* Also without an event: the server's time limits (a client
		 * stalled on half a line) are enforced inside its poll. */
		if (operator_event >= 0)
			handle_event(cp, &events[operator_event], now);
		else
			elb_rpc_server_poll(cp->operator, 0);
		targets_tick(cp, now);
		cp_fleet_tick(cp, now);
		for (uint32_t v = 0; v < cp->config->n_vips; v++)
			cp_slo_tick(&cp->vip_rt[v].slo, now);
		for (uint32_t i = 0; i < cp->n_dps; i++)
			dp_tick(cp, &cp->dps[i], now);
		/* After the dataplanes: what it announces follows their state. */
		cp_bgp_tick(cp, now);
		cp_stream_tick(cp, now);
		cp_metrics_tick(cp, now);
		notify_status(cp, &current_dps);
		/* From this loop only: a stalled loop stops the pings. */
		elb_notify_watchdog();
	}
	elb_notify_stopping("stopping");
	return 0;
}

/* The operator socket's access lists as elb_rpc takes them. */
struct access_ids {
	uint32_t write_uids[CP_MAX_PRINCIPALS], write_gids[CP_MAX_PRINCIPALS];
	uint32_t read_uids[CP_MAX_PRINCIPALS], read_gids[CP_MAX_PRINCIPALS];
};

static void ids_of(const struct cp_principals *list, uint32_t *ids)
{
	for (uint32_t i = 0; i < list->n; i++)
		ids[i] = list->items[i].id;
}

static void operator_access(const struct cp_operator_access *a, struct elb_rpc_server_config *rpc,
			    struct elb_rpc_access *access, struct access_ids *ids)
{
	ids_of(&a->write_users, ids->write_uids);
	ids_of(&a->write_groups, ids->write_gids);
	ids_of(&a->read_users, ids->read_uids);
	ids_of(&a->read_groups, ids->read_gids);
	*access = (struct elb_rpc_access){
		.write = {ids->write_uids, a->write_users.n, ids->write_gids, a->write_groups.n},
		.read = {ids->read_uids, a->read_users.n, ids->read_gids, a->read_groups.n},
	};
	rpc->access = access;
	rpc->mode = a->socket_mode;
	rpc->set_owner = a->has_owner;
	rpc->owner = a->owner.id;
	rpc->set_group = a->has_group;
	rpc->group = a->group.id;
}

static void usage(FILE *out)
{
	fprintf(out, "usage: edgelb-cp --config FILE [--socket PATH] [--metrics ADDR:PORT]\n"
		     "  --config FILE        control-plane configuration; operator changes are "
		     "written back\n"
		     "  --socket PATH        operator socket (default " CP_DEFAULT_SOCKET ")\n"
		     "  --metrics ADDR:PORT  Prometheus page at http://ADDR:PORT/metrics\n"
		     "                       (numeric address; [v6]:port)\n");
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{"config", required_argument, NULL, 'c'},
		{"socket", required_argument, NULL, 's'},
		{"metrics", required_argument, NULL, 'm'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct cp_daemon cp = {.epfd = -1, .operator_kind = CP_POLL_OPERATOR};
	const char *socket_path = CP_DEFAULT_SOCKET, *metrics = NULL;
	struct elb_rpc_server_config rpc = {0};
	struct elb_rpc_method *methods;
	struct elb_rpc_access access;
	struct access_ids ids;
	struct cp_config *loaded;
	struct elb_dp_err err;
	struct epoll_event ev;
	struct sigaction sa;
	struct rlimit nofile;
	int opt, rc;

	if (elb_version_requested(argc, argv))
		return elb_version_print("edgelb-cp", ELB_DP_PROTOCOL_VERSION);
	while ((opt = getopt_long(argc, argv, "c:s:m:h", options, NULL)) != -1) {
		switch (opt) {
		case 'c':
			cp.config_path = optarg;
			break;
		case 's':
			socket_path = optarg;
			break;
		case 'm':
			metrics = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (cp.config_path == NULL || optind != argc) {
		usage(stderr);
		return 2;
	}
	elb_notify_init();
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* One fd per running probe: hundreds at once. */
	if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
		nofile.rlim_cur = nofile.rlim_max;
		setrlimit(RLIMIT_NOFILE, &nofile);
	}

	rc = cp_config_load_file(cp.config_path, &loaded, &err);
	if (rc < 0) {
		fprintf(stderr, "edgelb-cp: %s\n", err.text);
		return 1;
	}
	cp.epfd = epoll_create1(EPOLL_CLOEXEC);
	rc = cp.epfd < 0 ? -errno : cp_daemon_init(&cp, loaded);
	if (rc < 0) {
		if (cp.epfd < 0)
			cp_config_free(loaded);
		fprintf(stderr, "edgelb-cp: %s\n", strerror(-rc));
		cp_daemon_free(&cp);
		return 1;
	}

	rc = cp_bgp_init(&cp);
	if (rc < 0) {
		fprintf(stderr, "edgelb-cp: bgp: %s\n", strerror(-rc));
		cp_daemon_free(&cp);
		return 1;
	}
	/* The operator methods, and the node's (cp_bgp.c) after them. */
	methods = calloc(cp_n_methods + cp_bgp_n_methods, sizeof(*methods));
	if (methods == NULL) {
		fprintf(stderr, "edgelb-cp: out of memory\n");
		cp_bgp_free(&cp);
		cp_daemon_free(&cp);
		return 1;
	}
	memcpy(methods, cp_methods, cp_n_methods * sizeof(*methods));
	memcpy(methods + cp_n_methods, cp_bgp_methods, cp_bgp_n_methods * sizeof(*methods));
	rpc.path = socket_path;
	rpc.methods = methods;
	rpc.n_methods = cp_n_methods + cp_bgp_n_methods;
	rpc.ctx = &cp;
	operator_access(&loaded->access, &rpc, &access, &ids);
	rc = elb_rpc_server_open(&cp.operator, &rpc);
	if (rc < 0) {
		fprintf(stderr, "edgelb-cp: operator socket %s: %s\n", socket_path, strerror(-rc));
		cp_bgp_free(&cp);
		cp_daemon_free(&cp);
		free(methods);
		return 1;
	}
	ev.events = EPOLLIN;
	ev.data.ptr = &cp.operator_kind;
	if (epoll_ctl(cp.epfd, EPOLL_CTL_ADD, elb_rpc_server_fd(cp.operator), &ev) < 0) {
		fprintf(stderr, "edgelb-cp: epoll: %s\n", strerror(errno));
		cp_bgp_free(&cp);
		cp_daemon_free(&cp);
		free(methods);
		return 1;
	}
	if (metrics != NULL) {
		rc = cp_metrics_open(&cp, metrics);
		if (rc < 0) {
			fprintf(stderr, "edgelb-cp: --metrics %s: %s\n", metrics,
				rc == -EINVAL ? "not ADDRESS:PORT (numeric, [v6]:port)"
					      : strerror(-rc));
			cp_bgp_free(&cp);
			cp_daemon_free(&cp);
			free(methods);
			return rc == -EINVAL ? 2 : 1;
		}
	}
	cp_log("managing %u dataplane(s), %u VIP(s), %u backend(s); operator socket %s%s%s",
		cp.n_dps, cp.config->n_vips, cp.n_targets, socket_path,
		metrics != NULL ? "; metrics http://" : "", metrics != NULL ? metrics : "");
	/* The config loaded, the operator socket listening (served from the
	 * first round of run()). Dataplanes are reached afterwards. */
	elb_notify_ready("%u VIP(s), %u dataplane(s), operator socket %s", cp.config->n_vips,
			 cp.n_dps, socket_path);
	rc = run(&cp);
	if (rc < 0)
		fprintf(stderr, "edgelb-cp: epoll_wait: %s\n", strerror(-rc));
	cp_bgp_free(&cp);
	cp_daemon_free(&cp);
	free(methods);
	return rc < 0 ? 1 : 0;
}
