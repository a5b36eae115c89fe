/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The event stream (cp_stream.c): `subscribe`rs on the operator socket get
 * snapshots of counters.get every interval and the daemon's events as they
 * happen. It is the daemon's event sink: cp_stream_open installs itself in
 * cp->events_sink, so every cp_emit of the layers below reaches it without
 * their knowing it exists.
 */
#ifndef CP_STREAM_H
#define CP_STREAM_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "cp_state.h"
#include "elb_rpc.h"

#define CP_MAX_SUBSCRIBERS 64u
#define CP_SUB_MIN_INTERVAL_MS 100u
#define CP_SUB_MAX_INTERVAL_MS 3600000u
#define CP_SUB_DEFAULT_INTERVAL_MS 1000u
#define CP_MAX_PENDING_EVENTS 256u /* raised within one loop round */

/* What a snapshot carries (the daemon hands in cp_counters_json). */
typedef cJSON *(*cp_snapshot_fn)(const struct cp_daemon *cp);

/* Allocate cp->stream, notifying on cp->operator, and become
 * cp->events_sink. @return 0 or -ENOMEM. */
int cp_stream_open(struct cp_daemon *cp, cp_snapshot_fn snapshot);
/* Drop the events not sent yet; cp->events_sink is emptied. NULL stream ignored. */
void cp_stream_close(struct cp_daemon *cp);

/* The caller of the running request subscribes (again: new settings). */
int cp_subscribe(struct cp_daemon *cp, uint32_t interval_ms, bool snapshots, bool events,
		 struct elb_rpc_error *error);
/* Send the events raised since the last round and the snapshots due. */
void cp_stream_tick(struct cp_daemon *cp, uint64_t now);

#endif /* CP_STREAM_H */
