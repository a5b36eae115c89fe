/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The dataplane service (cp_dataplanes.h): one JSON-RPC client per managed
 * dataplane, on elb_rpc_client's connection object, driven by edgelb-cp's
 * epoll loop. The transport (framing, ids, the input cap) is the client
 * library's; what a reply means for the daemon is here.
 */
#include "cp_dataplanes.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/epoll.h>

#include "elb_dp_api.h"
#include "elb_prefixes.h"

static void dp_disconnect(struct cp_daemon *cp, struct cp_dataplane *dp, const char *why)
{
	if (dp->conn != NULL) {
		epoll_ctl(cp->epfd, EPOLL_CTL_DEL, elb_rpc_conn_fd(dp->conn), NULL);
		elb_rpc_conn_close(dp->conn);
		dp->conn = NULL;
	}
	if (dp->connected) {
		cJSON *fields = cp_event_dataplane(dp->cfg.name);

		cp_log("dataplane %s: disconnected (%s)", dp->cfg.name, why);
		if (fields != NULL)
			cJSON_AddStringToObject(fields, "reason", why);
		cp_emit(cp, "dataplane_lost", fields);
		dp->disconnects++;
		snprintf(dp->last_error, sizeof(dp->last_error), "%s", why);
	}
	dp->connected = false;
	dp->want_out = false;
	dp->ping_sent_ms = 0;
	dp->inflight_gen = 0;
	dp->prefixes_inflight_gen = 0;
	dp->protocol_ok = false; /* asked again on the next connection */
	/* Its tables are unknown while it is away: no agreement, no drain. */
	cJSON_Delete(dp->tables);
	dp->tables = NULL;
	cJSON_Delete(dp->flow_tables);
	dp->flow_tables = NULL;
	dp->next_flow_count_ms = 0;
	dp->next_connect_ms = cp_now_ms() + CP_DP_RECONNECT_MS;
}

/* Why reading ended the connection, as the log line and the event say it. */
static const char *read_error(int rc)
{
	switch (rc) {
	case -EPIPE:
		return "the dataplane closed the connection";
	case -EMSGSIZE:
		return "answer too long";
	case -ENOMEM:
		return "out of memory";
	default:
		return strerror(-rc);
	}
}

/* EPOLLOUT while the connection has output the socket did not take. */
static int dp_update_events(struct cp_daemon *cp, struct cp_dataplane *dp)
{
	struct epoll_event ev;
	bool want_out = elb_rpc_conn_want_write(dp->conn);

	if (want_out == dp->want_out)
		return 0;
	ev.events = EPOLLIN | (want_out ? EPOLLOUT : 0);
	ev.data.ptr = dp;
	if (epoll_ctl(cp->epfd, EPOLL_CTL_MOD, elb_rpc_conn_fd(dp->conn), &ev) < 0)
		return -errno;
	dp->want_out = want_out;
	return 0;
}

/* Queue one request. @return 0, -ENOBUFS (too many pending) or -errno. */
static int dp_send(struct cp_daemon *cp, struct cp_dataplane *dp, enum cp_dp_request kind,
		   const char *method, cJSON *params, uint64_t gen)
{
	int rc = elb_rpc_conn_send(dp->conn, method, params,
				   (struct elb_rpc_tag){.kind = kind, .value = gen}, NULL);

	return rc < 0 ? rc : dp_update_events(cp, dp);
}

static int dp_push(struct cp_daemon *cp, struct cp_dataplane *dp, uint64_t now)
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
		dp->push_sent_ms = now;
	}
	return rc;
}

/* The prefix lists in force, whole (prefixes.set replaces every list). */
static int dp_push_prefixes(struct cp_daemon *cp, struct cp_dataplane *dp, uint64_t now)
{
	cJSON *params = cJSON_CreateObject(), *set = elb_prefix_set_to_json(cp->prefixes);
	int rc;

	if (params == NULL || set == NULL || !cJSON_AddItemToObject(params, "prefixes", set)) {
		cJSON_Delete(params);
		cJSON_Delete(set);
		return -ENOMEM;
	}
	rc = dp_send(cp, dp, CP_REQ_PREFIXES, "prefixes.set", params, cp->prefixes->generation);
	if (rc == 0) {
		dp->prefixes_inflight_gen = cp->prefixes->generation;
		dp->prefixes_sent_ms = now;
	}
	return rc;
}

/* A dataplane that refused a push (config.set or prefixes.set): its
 * last_error, a log line and a push_refused event naming the method. */
static void dp_push_refused(struct cp_daemon *cp, struct cp_dataplane *dp, const char *method,
			    const char *refusal)
{
	cJSON *fields = cp_event_dataplane(dp->cfg.name);

	/* What fits after the prefix (255 bytes in all). */
	snprintf(dp->last_error, sizeof(dp->last_error), "%s refused: %.200s", method, refusal);
	cp_log("dataplane %s: %s", dp->cfg.name, dp->last_error);
	if (fields != NULL) {
		cJSON_AddStringToObject(fields, "method", method);
		cJSON_AddStringToObject(fields, "error", dp->last_error);
	}
	cp_emit(cp, "push_refused", fields);
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
	cp_emit(cp, "dataplane_refused", fields);
}

/* A reply to one of our requests (elb_rpc_client matched it by id). */
static void dp_handle_reply(void *ctx, struct elb_rpc_reply *reply)
{
	struct cp_dataplane *dp = ctx;
	struct cp_daemon *cp = dp->cp;
	cJSON *result = reply->ok ? reply->result : NULL;
	uint64_t now = cp_now_ms();

	switch (reply->tag.kind) {
	case CP_REQ_PING: {
		const cJSON *inst = cJSON_GetObjectItemCaseSensitive(result, "instance");

		dp->ping_sent_ms = 0;
		if (!reply->ok) {
			/* Refused (e.g. "id": null: our credentials are not among the
			 * dataplane's allowed peers): its own words say why, where a
			 * protocol check would only say it named no protocol. */
			char why[sizeof(dp->last_error)];

			/* The reason is cut to what last_error holds beside the name. */
			snprintf(why, sizeof(why), "dataplane %s refused ping: %.160s", dp->cfg.name,
				 reply->error.message);
			if (strcmp(why, dp->last_error) != 0)
				cp_log("%s", why); /* once per change of answer */
			memcpy(dp->last_error, why, sizeof(why));
			dp->protocol_ok = false;
			dp->refused = true;
			break;
		}
		dp_check_protocol(cp, dp, result);
		if (!cJSON_IsString(inst))
			break;
		if (dp->instance[0] != '\0' && strcmp(dp->instance, inst->valuestring) != 0) {
			/* A new process behind the same socket, reached without our
			 * noticing a disconnect: it has whatever config it started
			 * with, so it gets the whole state again. */
			cp_log("dataplane %s: restarted (instance %s -> %s)", dp->cfg.name,
				dp->instance, inst->valuestring);
			cp_emit(cp, "dataplane_restarted", cp_event_dataplane(dp->cfg.name));
			dp->restarts++;
			dp->pushed_gen = 0;
			dp->prefixes_gen = 0;
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

			dp->pushed_gen = reply->tag.value;
			dp->pushes++;
			dp->last_push_ms = now;
			if (cJSON_IsNumber(epoch))
				dp->dp_epoch = (uint64_t)epoch->valuedouble;
			/* The acknowledgement: from here on this dataplane sends
			 * nothing new to a backend that generation left out. */
			elb_dp_json_add_u64(fields, "generation", reply->tag.value);
			elb_dp_json_add_u64(fields, "epoch", dp->dp_epoch);
			cp_emit(cp, "dataplane_updated", fields);
		} else {
			dp->push_failures++;
			dp->push_retry_ms = now + CP_DP_PUSH_RETRY_MS;
			dp_push_refused(cp, dp, "config.set", reply->ok ? "?" : reply->error.message);
		}
		break;
	case CP_REQ_PREFIXES:
		dp->prefixes_inflight_gen = 0;
		if (dp->ping_sent_ms != 0)
			dp->ping_sent_ms = now; /* it waited behind the push */
		if (cJSON_IsObject(result)) {
			cJSON *fields = cp_event_dataplane(dp->cfg.name);

			dp->prefixes_gen = reply->tag.value;
			dp->prefix_pushes++;
			dp->prefixes_error[0] = '\0';
			elb_dp_json_add_u64(fields, "prefixes_generation", reply->tag.value);
			cp_emit(cp, "dataplane_prefixes_updated", fields);
		} else {
			const char *refusal = reply->ok ? "?" : reply->error.message;
			bool again = dp->prefixes_error[0] != '\0' &&
				     strncmp(refusal, dp->prefixes_error,
					     sizeof(dp->prefixes_error) - 1) == 0;

			dp->prefix_push_failures++;
			dp->prefixes_retry_ms = now + CP_DP_PREFIXES_RETRY_MS;
			/* Said once for each new refusal, not at every retry. */
			snprintf(dp->prefixes_error, sizeof(dp->prefixes_error), "%.255s", refusal);
			if (!again)
				dp_push_refused(cp, dp, "prefixes.set", refusal);
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
			dp->tables = result;
			reply->result = NULL; /* taken */
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

static void dp_connect(struct cp_daemon *cp, struct cp_dataplane *dp, uint64_t now)
{
	static const struct elb_rpc_conn_limits limits = {.max_input = CP_DP_MAX_INPUT,
							  .max_pending = CP_DP_MAX_PENDING};
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = dp};
	int rc;

	dp->next_connect_ms = now + CP_DP_RECONNECT_MS;
	rc = elb_rpc_conn_open(&dp->conn, dp->cfg.socket, &limits);
	if (rc < 0) {
		snprintf(dp->last_error, sizeof(dp->last_error), "connect %s: %s", dp->cfg.socket,
			 strerror(-rc));
		return;
	}
	if (epoll_ctl(cp->epfd, EPOLL_CTL_ADD, elb_rpc_conn_fd(dp->conn), &ev) < 0) {
		elb_rpc_conn_close(dp->conn);
		dp->conn = NULL;
		return;
	}
	dp->connected = true;
	dp->connects++;
	/* Whatever happened while we were away (a restart, another writer),
	 * the dataplane gets the whole state; re-sending what it has is free. */
	dp->pushed_gen = 0;
	dp->push_retry_ms = 0;
	dp->prefixes_gen = 0;
	dp->prefixes_retry_ms = 0;
	dp->prefixes_error[0] = '\0';
	dp->next_ping_ms = now;
	dp->next_counters_ms = now + CP_DP_COUNTERS_MS;
	cp_log("dataplane %s: connected", dp->cfg.name);
	cp_emit(cp, "dataplane_connected", cp_event_dataplane(dp->cfg.name));
}

void cp_dataplane_tick(struct cp_daemon *cp, struct cp_dataplane *dp, uint64_t now)
{
	bool pushing;
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
	if (dp->inflight_gen == 0 && dp->prefixes_inflight_gen == 0 && dp->ping_sent_ms != 0 &&
	    now - dp->ping_sent_ms > CP_DP_PING_TIMEOUT_MS) {
		dp_disconnect(cp, dp, "ping unanswered");
		return;
	}
	if (dp->inflight_gen != 0 && now - dp->push_sent_ms > CP_DP_PUSH_TIMEOUT_MS) {
		dp_disconnect(cp, dp, "config.set unanswered");
		return;
	}
	if (dp->prefixes_inflight_gen != 0 && now - dp->prefixes_sent_ms > CP_DP_PUSH_TIMEOUT_MS) {
		dp_disconnect(cp, dp, "prefixes.set unanswered");
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
		rc = dp_push(cp, dp, now);
	/* The lists after the config: a config.set is never queued behind
	 * them when both are due, and neither waits for the other's answer
	 * (the dataplane resolves VIP lists against whichever config it has). */
	if (rc == 0 && dp->prefixes_inflight_gen == 0 && cp->prefixes != NULL &&
	    cp->prefixes->generation != 0 && dp->prefixes_gen != cp->prefixes->generation &&
	    now >= dp->prefixes_retry_ms)
		rc = dp_push_prefixes(cp, dp, now);
	pushing = dp->inflight_gen != 0 || dp->prefixes_inflight_gen != 0;
	/* The polls (about a millisecond of the dataplane's time: counters,
	 * table digests) wait while a push is in flight, so that its answer
	 * does not queue behind them; a stream of pushes delays them by one
	 * interval at most. */
	if (rc == 0 && now >= dp->next_counters_ms &&
	    (!pushing || now >= dp->next_counters_ms + CP_DP_COUNTERS_MS)) {
		dp->next_counters_ms = now + CP_DP_COUNTERS_MS;
		rc = dp_send(cp, dp, CP_REQ_COUNTERS, "counters.get", NULL, 0);
		if (rc == 0) {
			bool count = cp_drain_running(cp) || now >= dp->next_flow_count_ms;
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

void cp_dataplane_event(struct cp_daemon *cp, struct cp_dataplane *dp, uint32_t events)
{
	int rc = 0;

	if (!dp->connected)
		return;
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		rc = elb_rpc_conn_read(dp->conn, dp_handle_reply, dp);
		if (rc < 0) {
			dp_disconnect(cp, dp, read_error(rc));
			return;
		}
	}
	if (events & EPOLLOUT) {
		rc = elb_rpc_conn_flush(dp->conn);
		if (rc == 0)
			rc = dp_update_events(cp, dp);
		if (rc < 0)
			dp_disconnect(cp, dp, strerror(-rc));
	}
}

int cp_dataplanes_init(struct cp_daemon *cp)
{
	cp->dps = calloc(cp->config->n_dataplanes + 1, sizeof(*cp->dps));
	if (cp->dps == NULL)
		return -ENOMEM;
	cp->n_dps = cp->config->n_dataplanes;
	for (uint32_t i = 0; i < cp->n_dps; i++) {
		cp->dps[i].kind = CP_POLL_DATAPLANE;
		cp->dps[i].cp = cp;
		cp->dps[i].cfg = cp->config->dataplanes[i];
	}
	return 0;
}

void cp_dataplanes_free(struct cp_daemon *cp)
{
	for (uint32_t i = 0; i < cp->n_dps; i++) {
		elb_rpc_conn_close(cp->dps[i].conn);
		cJSON_Delete(cp->dps[i].counters);
		cJSON_Delete(cp->dps[i].tables);
		cJSON_Delete(cp->dps[i].flow_tables);
	}
	free(cp->dps);
	cp->dps = NULL;
	cp->n_dps = 0;
}

uint32_t cp_dataplanes_current(const struct cp_daemon *cp)
{
	uint32_t current = 0;

	for (uint32_t i = 0; i < cp->n_dps; i++)
		current += cp->dps[i].connected && cp->dps[i].protocol_ok &&
			   cp->dps[i].pushed_gen == cp->gen;
	return current;
}
