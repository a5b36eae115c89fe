/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * edgelb-cp's state, shared by its event loop (edgelb_cp.c), the dataplane
 * clients and the operator methods (cp_methods.c).
 */
#ifndef CP_DAEMON_H
#define CP_DAEMON_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "cp_config.h"
#include "cp_health.h"
#include "cp_slo.h"
#include "elb_rpc.h"

/* What an epoll event's data.ptr points at: the first member of each. */
enum cp_pollable_kind {
	CP_POLL_OPERATOR = 1,
	CP_POLL_DATAPLANE,
	CP_POLL_TARGET,
	CP_POLL_METRICS, /* the --metrics listener and its connections */
	CP_POLL_BGP,     /* the BGP speaker's control socket (cp_bgp.c) */
};

#define CP_DP_PING_INTERVAL_MS 250u  /* restart noticed within this plus a round trip */
#define CP_DP_PING_TIMEOUT_MS 750u   /* unanswered: the connection is dropped */
#define CP_DP_RECONNECT_MS 100u
#define CP_DP_PUSH_RETRY_MS 1000u    /* after a refused config.set */
#define CP_DP_PUSH_TIMEOUT_MS 30000u /* config.set unanswered: the connection is dropped */
#define CP_DP_COUNTERS_MS 1000u
#define CP_DP_MAX_PENDING 64u
#define CP_DP_MAX_INPUT (64u << 20)

enum cp_dp_request {
	CP_REQ_PING = 1,
	CP_REQ_PUSH,
	CP_REQ_COUNTERS,
	CP_REQ_TABLES,
};

struct cp_dp_pending {
	uint64_t id;
	uint8_t kind;
	uint64_t gen; /* of a push: the desired state it carries */
};

struct cp_dataplane {
	int kind; /* CP_POLL_DATAPLANE */
	struct cp_dataplane_cfg cfg;
	int fd;
	bool connected;
	char *in;
	size_t in_len, in_cap;
	char *out;
	size_t out_len, out_off, out_cap;
	bool want_out;
	struct cp_dp_pending pending[CP_DP_MAX_PENDING];
	unsigned int pending_head, pending_count;
	uint64_t next_id;
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

/* One backend of one VIP under health check. */
struct cp_target {
	int kind; /* CP_POLL_TARGET */
	struct elb_dp_vip_key vip;
	union elb_addr addr;
	uint8_t family;
	struct cp_health_check hc; /* a copy: the config may be replaced while a probe runs */
	uint16_t port;
	struct cp_hc_state state;
	struct cp_probe probe;
	uint64_t next_due_ms;
	bool in_last_set; /* in the last pushed set that had a backend in service */
	bool fresh;       /* created by a change not yet committed */
	/* Drain (cp_fleet.c): active -> draining -> drained, then removed by
	 * the operator or, with remove_when_drained, by us. */
	uint8_t drain_phase; /* enum cp_drain_phase */
	bool remove_when_drained;
	bool drain_flows_known;   /* every dataplane reported since the drain began */
	uint32_t drain_timeout_ms; /* 0: the config's fleet.drain_timeout_ms */
	uint64_t drain_since_ms, drain_deadline_ms, drain_done_ms;
	uint64_t drain_flows; /* flows left on it, summed over the dataplanes */
	const char *drain_reason; /* of a finished drain: "flows_gone" or "timeout" */
};

enum cp_drain_phase {
	CP_DRAIN_NONE = 0,
	CP_DRAIN_DRAINING,
	CP_DRAIN_DRAINED,
};

struct cp_vip_runtime {
	struct elb_dp_vip_key key;
	bool all_down;
	uint64_t all_down_alarms; /* times every backend was down at once */
	struct cp_slo slo;
	bool fresh;
	/* Fleet agreement (cp_fleet.c): the digest every dataplane's table of
	 * this VIP should have (of the desired state at expected_gen). */
	uint64_t expected_digest;
	uint64_t expected_gen; /* 0: not computed */
	bool expected_missing; /* not in the desired state (no backend pushed...) */
	uint64_t disagree_since_ms; /* 0: the dataplanes agree */
	bool disagree_alarm;        /* fleet_disagree raised, fleet_agree not yet */
	uint64_t disagreements;     /* episodes that lasted beyond the configured time */
};

/* A `subscribe`r: an operator connection that gets snapshots and events. */
#define CP_MAX_SUBSCRIBERS 64u
#define CP_SUB_MIN_INTERVAL_MS 100u
#define CP_SUB_MAX_INTERVAL_MS 3600000u
#define CP_SUB_DEFAULT_INTERVAL_MS 1000u
#define CP_MAX_PENDING_EVENTS 256u /* raised within one loop round */

struct cp_subscriber {
	uint64_t client; /* elb_rpc_server_caller's id */
	uint32_t interval_ms;
	bool snapshots, events;
	uint64_t next_ms; /* next snapshot due */
	uint64_t sent;    /* snapshots sent */
};

struct cp_metrics; /* cp_metrics.c */
struct cp_bgp;     /* cp_bgp.c */

/* The node's state toward the routers (cp_bgp.c, docs/fleet.md). */
enum cp_node_state {
	CP_NODE_ACTIVE = 0, /* VIPs announced when they can serve */
	CP_NODE_DRAINING,   /* every VIP withdrawn, traffic still arriving */
	CP_NODE_DRAINED,    /* no VIP packet for bgp.drain_quiet_ms (or timed out) */
};

struct cp_daemon {
	int epfd;
	char *config_path;
	struct cp_config *config;
	/* Targets: config order, VIP by VIP; target_base[v] is the first of VIP v. */
	struct cp_target **targets;
	uint32_t n_targets;
	uint32_t *target_base;
	struct cp_vip_runtime *vip_rt; /* one per config VIP */
	struct elb_dp_config *desired; /* what the dataplanes should have */
	uint64_t gen;                  /* incremented when desired changes */
	struct cp_dataplane *dps;
	uint32_t n_dps;
	struct elb_rpc_server *operator;
	int operator_kind; /* CP_POLL_OPERATOR: epoll data for the server's fd */
	uint64_t started_ms;
	uint64_t changes, persist_failures, health_transitions;
	uint64_t probe_errors; /* probes not started for a local reason (no fd) */
	struct cp_subscriber subs[CP_MAX_SUBSCRIBERS];
	uint32_t n_subs;
	uint64_t events; /* events raised, numbered from 1 */
	cJSON *pending_events[CP_MAX_PENDING_EVENTS]; /* raised, not sent yet */
	uint32_t n_pending_events;
	uint64_t events_lost; /* raised while the queue was full */
	struct cp_metrics *metrics;
	uint64_t fleet_disagreements; /* over all VIPs */
	uint64_t drains_completed, drains_timed_out;
	/* BGP (cp_bgp.c), NULL without a "bgp" section. The figures below it
	 * are copied out for the metrics page, which does not link cp_bgp.c. */
	struct cp_bgp *bgp;
	uint8_t node_state;           /* enum cp_node_state */
	uint32_t bgp_announced;       /* prefixes in the speaker's config */
	bool bgp_speaker_up;          /* the speaker answers on its control socket */
	uint64_t bgp_speaker_losses;
};

uint64_t cp_now_ms(void);
/* Wall-clock ms since the epoch: for what must outlive the process. */
uint64_t cp_wall_ms(void);
/* A line on stderr, "edgelb-cp: " first. */
void cp_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* cp_daemon.c. Take loaded (freed on failure too): targets, the desired
 * state, the dataplane slots. @return 0 or -ENOMEM. cp->epfd is set (or -1)
 * before; cp_daemon_free releases everything, sockets included. */
int cp_daemon_init(struct cp_daemon *cp, struct cp_config *loaded);
void cp_daemon_free(struct cp_daemon *cp);
/* A health probe's result: a transition may change the desired state. */
void cp_target_result(struct cp_daemon *cp, struct cp_target *t, bool ok);

/* A new state was committed or a backend entered or left service: rebuild
 * the desired dataplane config, and bump gen if it differs. */
int cp_refresh_desired(struct cp_daemon *cp);
/* Backend b of VIP v is in the set the dataplanes get (health, fail static). */
bool cp_backend_pushed(const struct cp_daemon *cp, uint32_t v, uint32_t b);

/*
 * Replace the config by next (validated by the caller or not: validated
 * here), persisting it first. Takes ownership of next in every case.
 * @return 0, or -errno with err filled; on failure nothing changed.
 */
int cp_commit(struct cp_daemon *cp, struct cp_config *next, struct elb_dp_err *err);

/* The figures of counters.get (also the subscription snapshots and the
 * Prometheus page): per VIP, the dataplanes' counters summed, and the SLOs. */
cJSON *cp_counters_json(const struct cp_daemon *cp);

/*
 * cp_stream.c: subscriptions and events.
 * cp_subscribe: the caller of the running request subscribes (again: new
 * settings). cp_event: raise an event of `type` with the members of
 * `fields` (taken; NULL: none) for every subscriber that wants events.
 * cp_stream_tick: send the snapshots that are due.
 */
int cp_subscribe(struct cp_daemon *cp, uint32_t interval_ms, bool snapshots, bool events,
		 struct elb_rpc_error *error);
void cp_event(struct cp_daemon *cp, const char *type, cJSON *fields);
void cp_stream_tick(struct cp_daemon *cp, uint64_t now);

/* An event's fields about a backend of a VIP, or a dataplane. */
cJSON *cp_event_backend(const struct elb_dp_vip_key *vip, const union elb_addr *addr,
			uint8_t family);
cJSON *cp_event_dataplane(const char *name);

/*
 * cp_fleet.c: fleet agreement, drains, previews. cp_fleet_tick compares the
 * dataplanes' last vip.tables with the desired state and moves drains on;
 * cp_fleet_backend_json adds a backend's drain state to health.get.
 */
void cp_fleet_tick(struct cp_daemon *cp, uint64_t now);
/* Is a backend draining (its flows wanted every poll)? */
bool cp_fleet_draining(const struct cp_daemon *cp);
void cp_fleet_backend_json(const struct cp_daemon *cp, uint32_t v, uint32_t b, cJSON *out);
/* backend.drain's own params (timeout_ms, remove_when_drained) on target
 * t, after the drain was committed; result gets "drain". */
void cp_fleet_drain_started(struct cp_daemon *cp, struct cp_target *t, uint32_t timeout_ms,
			    bool remove_when_drained, cJSON *result);
int cp_m_fleet_get(void *ctx, const cJSON *params, cJSON **result, struct elb_rpc_error *error);
int cp_m_backend_preview(void *ctx, const cJSON *params, cJSON **result,
			 struct elb_rpc_error *error);

extern const struct elb_rpc_method cp_methods[];
extern const size_t cp_n_methods;

#endif /* CP_DAEMON_H */
