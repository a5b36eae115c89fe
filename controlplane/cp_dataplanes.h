/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The dataplane service: edgelb-cp's JSON-RPC client to each dataplane it
 * manages (the dataplane protocol, docs/dataplane-protocol.md), on
 * elb_rpc_client's connection object, in the daemon's epoll loop.
 *
 * Per dataplane: connect (and reconnect every CP_DP_RECONNECT_MS), ping
 * every CP_DP_PING_INTERVAL_MS (its instance tells a restart; its protocol
 * number is checked before anything else is sent), push the desired state
 * (config.set) whenever its accepted generation is older, and the prefix
 * lists (prefixes.set) whenever its accepted prefix generation is older
 * than cp->prefixes', poll counters.get
 * (fed to the per-VIP SLOs) and vip.tables (fleet agreement, drains).
 * Replies update the state core's view (pushed_gen, counters, tables) and
 * raise events through cp_emit.
 */
#ifndef CP_DATAPLANES_H
#define CP_DATAPLANES_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "cp_state.h"
#include "elb_rpc_client.h"

#define CP_DP_PING_INTERVAL_MS 250u  /* restart noticed within this plus a round trip */
#define CP_DP_PING_TIMEOUT_MS 750u   /* unanswered: the connection is dropped */
#define CP_DP_RECONNECT_MS 100u
#define CP_DP_PUSH_RETRY_MS 1000u    /* after a refused config.set */
#define CP_DP_PUSH_TIMEOUT_MS 30000u /* config.set unanswered: the connection is dropped */
/* After a refused prefixes.set: a refusal is seldom transient (a bad set,
 * a dataplane without prefix lists), and the set may be 100k prefixes. */
#define CP_DP_PREFIXES_RETRY_MS 10000u
#define CP_DP_COUNTERS_MS 1000u
#define CP_DP_MAX_PENDING 64u
#define CP_DP_MAX_INPUT (64u << 20) /* one reply line */

/* What a request was (its reply's tag kind; a push's tag value is the
 * generation it carries). */
enum cp_dp_request {
	CP_REQ_PING = 1,
	CP_REQ_PUSH,
	CP_REQ_COUNTERS,
	CP_REQ_TABLES,
	CP_REQ_PREFIXES, /* prefixes.set; its tag value: the set's generation */
};

struct cp_dataplane {
	int kind; /* CP_POLL_DATAPLANE */
	struct cp_dataplane_cfg cfg;
	struct cp_daemon *cp; /* the daemon it belongs to: replies update its state */
	struct elb_rpc_conn *conn; /* NULL while not connected */
	bool connected;
	bool want_out; /* EPOLLOUT registered */
	char instance[40]; /* the dataplane's, from ping; "" before the first */
	/* From its ping: the dataplane protocol it speaks (-1: its answer said
	 * none) and its build. Nothing but pings goes to a dataplane until an
	 * answer since this connection says ELB_DP_PROTOCOL_VERSION
	 * (protocol_ok); another answer makes it refused (not managed). */
	int protocol;
	char version[64];
	bool protocol_ok;
	bool refused;
	uint64_t dp_epoch;    /* the dataplane's epoch after our last accepted push */
	uint64_t pushed_gen;  /* desired-state generation it has accepted; 0: none */
	uint64_t inflight_gen;
	uint64_t next_connect_ms, next_ping_ms, ping_sent_ms, next_counters_ms, push_retry_ms;
	uint64_t push_sent_ms;
	/* The prefix lists (prefixes.set), tracked apart from the config: a
	 * 100k-prefix set goes out when it changes, never with a backend
	 * change. prefixes_error: its last refusal, "" since it took one. */
	uint64_t prefixes_gen, prefixes_inflight_gen, prefixes_sent_ms, prefixes_retry_ms;
	uint64_t prefix_pushes, prefix_push_failures;
	char prefixes_error[256];
	uint64_t last_push_ms; /* monotonic; 0: never */
	uint64_t connects, restarts, pushes, push_failures, disconnects;
	char last_error[256];
	cJSON *counters; /* the last counters.get "counters", or NULL */
	char counters_instance[40]; /* the instance that reported them */
	cJSON *tables;   /* the last vip.tables result (digests), or NULL while away */
	uint64_t tables_ms; /* monotonic time it arrived */
	/* The last vip.tables result that counted flows: counting walks every
	 * flow table, so it is asked for every poll while a drain runs, else
	 * every fleet.flow_count_interval_ms. */
	cJSON *flow_tables;
	uint64_t flow_tables_ms, next_flow_count_ms;
};

/* One slot per configured dataplane (cp->dps, cp->n_dps), none connected
 * yet. @return 0 or -ENOMEM. */
int cp_dataplanes_init(struct cp_daemon *cp);
/* Close every connection and free the slots. */
void cp_dataplanes_free(struct cp_daemon *cp);
/* Timers of one dataplane: connect, ping, push, poll. */
void cp_dataplane_tick(struct cp_daemon *cp, struct cp_dataplane *dp, uint64_t now);
/* An epoll event whose data.ptr is dp (kind CP_POLL_DATAPLANE). */
void cp_dataplane_event(struct cp_daemon *cp, struct cp_dataplane *dp, uint32_t events);
/* How many dataplanes are connected, speak our protocol and hold cp->gen. */
uint32_t cp_dataplanes_current(const struct cp_daemon *cp);

#endif /* CP_DATAPLANES_H */
