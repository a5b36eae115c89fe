/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * `subscribe`: snapshots of counters.get every interval and events as they
 * happen, sent as JSON-RPC notifications on the subscriber's own
 * connection until it disconnects (docs/control-protocol.md).
 *
 * Notifications go through the operator server's per-client output buffer:
 * a subscriber that stops reading is dropped by the server at its output
 * limit, so a slow monitor never holds up the loop or the other clients.
 * A snapshot is built once per round and copied to each subscriber due.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <arpa/inet.h>

#include "cp_daemon.h"
#include "elb_dp_api.h"

static uint64_t unix_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void drop_subscriber(struct cp_daemon *cp, uint32_t i)
{
	cp->subs[i] = cp->subs[--cp->n_subs];
}

int cp_subscribe(struct cp_daemon *cp, uint32_t interval_ms, bool snapshots, bool events,
		 struct elb_rpc_error *error)
{
	uint64_t client = elb_rpc_server_caller(cp->operator);
	struct cp_subscriber *sub = NULL;

	if (client == 0) {
		elb_rpc_error_set(error, ELB_RPC_INVALID_REQUEST, NULL,
				  "subscribe needs a connection to stream on");
		return -EINVAL;
	}
	for (uint32_t i = 0; i < cp->n_subs; i++)
		if (cp->subs[i].client == client)
			sub = &cp->subs[i];
	if (sub == NULL) {
		if (cp->n_subs == CP_MAX_SUBSCRIBERS) {
			elb_rpc_error_set(error, ELB_RPC_SERVER_BUSY, NULL,
					  "too many subscribers (%u)", CP_MAX_SUBSCRIBERS);
			return -EBUSY;
		}
		sub = &cp->subs[cp->n_subs++];
		memset(sub, 0, sizeof(*sub));
		sub->client = client;
	}
	sub->interval_ms = interval_ms;
	sub->snapshots = snapshots;
	sub->events = events;
	/* The first snapshot on the next round: after the response, which the
	 * server sends when this handler returns. */
	sub->next_ms = 0;
	return 0;
}

void cp_event(struct cp_daemon *cp, const char *type, cJSON *fields)
{
	cJSON *event = fields != NULL ? fields : cJSON_CreateObject();

	cp->events++;
	if (event == NULL)
		return;
	elb_dp_json_add_u64(event, "seq", cp->events);
	elb_dp_json_add_u64(event, "time_ms", unix_ms());
	cJSON_AddStringToObject(event, "type", type);
	/* Sent by the next tick, never from inside a handler: a request's
	 * response comes before the events it causes. */
	if (cp->n_subs == 0 || cp->n_pending_events == CP_MAX_PENDING_EVENTS) {
		cp->events_lost += cp->n_subs > 0;
		cJSON_Delete(event);
		return;
	}
	cp->pending_events[cp->n_pending_events++] = event;
}

/* Give each subscriber that wants them the events raised since the last
 * round. */
static void send_events(struct cp_daemon *cp)
{
	for (uint32_t e = 0; e < cp->n_pending_events; e++) {
		for (uint32_t i = 0; i < cp->n_subs;) {
			cJSON *copy;
			int rc;

			if (!cp->subs[i].events) {
				i++;
				continue;
			}
			copy = cJSON_Duplicate(cp->pending_events[e], true);
			rc = copy != NULL ? elb_rpc_server_notify(cp->operator, cp->subs[i].client,
								  "event", copy)
					  : -ENOMEM;
			if (rc == -ENOENT || rc == -ENOBUFS) {
				drop_subscriber(cp, i);
				continue;
			}
			i++;
		}
		cJSON_Delete(cp->pending_events[e]);
	}
	cp->n_pending_events = 0;
}

void cp_stream_tick(struct cp_daemon *cp, uint64_t now)
{
	cJSON *snapshot = NULL;

	send_events(cp);
	for (uint32_t i = 0; i < cp->n_subs;) {
		struct cp_subscriber *sub = &cp->subs[i];
		cJSON *copy;
		int rc;

		if (!sub->snapshots || now < sub->next_ms) {
			i++;
			continue;
		}
		if (snapshot == NULL) {
			snapshot = cp_counters_json(cp);
			if (snapshot == NULL)
				return; /* out of memory: retried next round */
			elb_dp_json_add_u64(snapshot, "time_ms", unix_ms());
			elb_dp_json_add_u64(snapshot, "generation", cp->gen);
			elb_dp_json_add_u64(snapshot, "events", cp->events);
		}
		copy = cJSON_Duplicate(snapshot, true);
		if (copy == NULL)
			break;
		elb_dp_json_add_u64(copy, "seq", sub->sent + 1);
		rc = elb_rpc_server_notify(cp->operator, sub->client, "snapshot", copy);
		if (rc == -ENOENT || rc == -ENOBUFS) {
			drop_subscriber(cp, i); /* gone, or dropped for not reading */
			continue;
		}
		sub->sent += rc == 0;
		/* Keep the cadence; after a long stall, start again from now. */
		sub->next_ms = sub->next_ms + sub->interval_ms > now
				       ? sub->next_ms + sub->interval_ms
				       : now + sub->interval_ms;
		i++;
	}
	cJSON_Delete(snapshot);
}

cJSON *cp_event_backend(const struct elb_dp_vip_key *vip, const union elb_addr *addr,
			uint8_t family)
{
	char name[ELB_DP_VIP_KEY_STR_MAX], text[INET6_ADDRSTRLEN];
	cJSON *o = cJSON_CreateObject();

	if (o == NULL)
		return NULL;
	cJSON_AddStringToObject(o, "vip", elb_dp_vip_key_str(vip, name, sizeof(name)));
	if (addr != NULL) {
		if (inet_ntop(family == ELB_AF_INET ? AF_INET : AF_INET6, addr->v6, text,
			      sizeof(text)) == NULL)
			snprintf(text, sizeof(text), "?");
		cJSON_AddStringToObject(o, "backend", text);
	}
	return o;
}

cJSON *cp_event_dataplane(const char *name)
{
	cJSON *o = cJSON_CreateObject();

	if (o != NULL)
		cJSON_AddStringToObject(o, "dataplane", name);
	return o;
}
