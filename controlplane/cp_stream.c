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
#include "cp_stream.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "elb_dp_api.h"

struct cp_subscriber {
	uint64_t client; /* elb_rpc_server_caller's id */
	uint32_t interval_ms;
	bool snapshots, events;
	uint64_t next_ms; /* next snapshot due */
	uint64_t sent;    /* snapshots sent */
};

struct cp_stream {
	struct cp_daemon *cp;
	cp_snapshot_fn snapshot;
	struct cp_subscriber subs[CP_MAX_SUBSCRIBERS];
	uint32_t n_subs;
	cJSON *pending_events[CP_MAX_PENDING_EVENTS]; /* raised, not sent yet */
	uint32_t n_pending_events;
	uint64_t events_lost; /* raised while the queue was full */
};

static void drop_subscriber(struct cp_stream *st, uint32_t i)
{
	st->subs[i] = st->subs[--st->n_subs];
}

int cp_subscribe(struct cp_daemon *cp, uint32_t interval_ms, bool snapshots, bool events,
		 struct elb_rpc_error *error)
{
	uint64_t client = elb_rpc_server_caller(cp->operator);
	struct cp_stream *st = cp->stream;
	struct cp_subscriber *sub = NULL;

	if (client == 0 || st == NULL) {
		elb_rpc_error_set(error, ELB_RPC_INVALID_REQUEST, NULL,
				  "subscribe needs a connection to stream on");
		return -EINVAL;
	}
	for (uint32_t i = 0; i < st->n_subs; i++)
		if (st->subs[i].client == client)
			sub = &st->subs[i];
	if (sub == NULL) {
		if (st->n_subs == CP_MAX_SUBSCRIBERS) {
			elb_rpc_error_set(error, ELB_RPC_SERVER_BUSY, NULL,
					  "too many subscribers (%u)", CP_MAX_SUBSCRIBERS);
			return -EBUSY;
		}
		sub = &st->subs[st->n_subs++];
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

/* The daemon's event sink (cp->events_sink): cp_emit counted the event. */
static void stream_emit(void *ctx, const char *type, cJSON *fields)
{
	struct cp_stream *st = ctx;
	cJSON *event = fields != NULL ? fields : cJSON_CreateObject();

	if (event == NULL)
		return;
	elb_dp_json_add_u64(event, "seq", st->cp->events);
	elb_dp_json_add_u64(event, "time_ms", cp_wall_ms());
	cJSON_AddStringToObject(event, "type", type);
	/* Sent by the next tick, never from inside a handler: a request's
	 * response comes before the events it causes. */
	if (st->n_subs == 0 || st->n_pending_events == CP_MAX_PENDING_EVENTS) {
		st->events_lost += st->n_subs > 0;
		cJSON_Delete(event);
		return;
	}
	st->pending_events[st->n_pending_events++] = event;
}

/* Give each subscriber that wants them the events raised since the last
 * round. */
static void send_events(struct cp_stream *st)
{
	struct cp_daemon *cp = st->cp;

	for (uint32_t e = 0; e < st->n_pending_events; e++) {
		for (uint32_t i = 0; i < st->n_subs;) {
			cJSON *copy;
			int rc;

			if (!st->subs[i].events) {
				i++;
				continue;
			}
			copy = cJSON_Duplicate(st->pending_events[e], true);
			rc = copy != NULL ? elb_rpc_server_notify(cp->operator, st->subs[i].client,
								  "event", copy)
					  : -ENOMEM;
			if (rc == -ENOENT || rc == -ENOBUFS) {
				drop_subscriber(st, i);
				continue;
			}
			i++;
		}
		cJSON_Delete(st->pending_events[e]);
	}
	st->n_pending_events = 0;
}

void cp_stream_tick(struct cp_daemon *cp, uint64_t now)
{
	struct cp_stream *st = cp->stream;
	cJSON *snapshot = NULL;

	if (st == NULL)
		return;
	send_events(st);
	for (uint32_t i = 0; i < st->n_subs;) {
		struct cp_subscriber *sub = &st->subs[i];
		cJSON *copy;
		int rc;

		if (!sub->snapshots || now < sub->next_ms) {
			i++;
			continue;
		}
		if (snapshot == NULL) {
			snapshot = st->snapshot(cp);
			if (snapshot == NULL)
				return; /* out of memory: retried next round */
			elb_dp_json_add_u64(snapshot, "time_ms", cp_wall_ms());
			elb_dp_json_add_u64(snapshot, "generation", cp->gen);
			elb_dp_json_add_u64(snapshot, "events", cp->events);
		}
		copy = cJSON_Duplicate(snapshot, true);
		if (copy == NULL)
			break;
		elb_dp_json_add_u64(copy, "seq", sub->sent + 1);
		rc = elb_rpc_server_notify(cp->operator, sub->client, "snapshot", copy);
		if (rc == -ENOENT || rc == -ENOBUFS) {
			drop_subscriber(st, i); /* gone, or dropped for not reading */
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

int cp_stream_open(struct cp_daemon *cp, cp_snapshot_fn snapshot)
{
	struct cp_stream *st = calloc(1, sizeof(*st));

	if (st == NULL)
		return -ENOMEM;
	st->cp = cp;
	st->snapshot = snapshot;
	cp->stream = st;
	cp->events_sink = (struct cp_event_sink){.emit = stream_emit, .ctx = st};
	return 0;
}

void cp_stream_close(struct cp_daemon *cp)
{
	struct cp_stream *st = cp->stream;

	if (st == NULL)
		return;
	for (uint32_t i = 0; i < st->n_pending_events; i++)
		cJSON_Delete(st->pending_events[i]);
	free(st);
	cp->stream = NULL;
	cp->events_sink = (struct cp_event_sink){0};
}
