/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * edgelb-cp's state core: the operator's config, the desired dataplane
 * config derived from it and the health results, its generation, the
 * health-check targets and VIP runtime state laid out per VIP, and
 * cp_commit, the one way a change is applied (validated whole, persisted,
 * then installed: all or nothing), in two steps for a group of changes
 * (cp_stage, cp_commit_staged: one write for all of them).
 *
 * No sockets, no epoll, no clock: time comes in as `now`, events leave
 * through the sink the daemon hands in (cp->events_sink), and a target that
 * leaves the config goes through cp->retire_target (its running probe is
 * the health service's). The layers above (controlplane/README.md) hold
 * their own state behind the opaque pointers at the end of struct
 * cp_daemon; this layer never looks behind them.
 */
#ifndef CP_STATE_H
#define CP_STATE_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "cp_base.h"
#include "cp_config.h"
#include "cp_health.h"
#include "cp_slo.h"
#include "elb_rpc.h"

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
	uint64_t expected_ms;  /* when it was computed (monotonic) */
	bool expected_missing; /* not in the desired state (no backend pushed...) */
	uint64_t disagree_since_ms; /* 0: the dataplanes agree */
	bool disagree_alarm;        /* fleet_disagree raised, fleet_agree not yet */
	uint64_t disagreements;     /* episodes that lasted beyond the configured time */
};

/* The node's state toward the routers (cp_bgp.c, docs/fleet.md). */
enum cp_node_state {
	CP_NODE_ACTIVE = 0, /* VIPs announced when they can serve */
	CP_NODE_DRAINING,   /* every VIP withdrawn, traffic still arriving */
	CP_NODE_DRAINED,    /* no VIP packet for bgp.drain_quiet_ms (or timed out) */
};

/*
 * Where events go: emit takes fields (NULL: none) in every case. The event
 * stream (cp_stream.c) is the daemon's sink; a test's sink records them.
 */
struct cp_event_sink {
	void (*emit)(void *ctx, const char *type, cJSON *fields);
	void *ctx;
};

struct cp_daemon;
/* A target is leaving the config (or the daemon stops): stop what runs for
 * it. Called before the target is freed. */
typedef void (*cp_retire_target_fn)(struct cp_daemon *cp, struct cp_target *t);

struct cp_dataplane; /* cp_dataplanes.h */
struct cp_stream;    /* cp_stream.h */
struct cp_metrics;   /* cp_metrics.h */
struct cp_bgp;       /* cp_bgp.h */
struct elb_prefix_set; /* elb_prefixes.h */

struct cp_daemon {
	char *config_path;
	struct cp_config *config;
	/* Targets: config order, VIP by VIP; target_base[v] is the first of VIP v. */
	struct cp_target **targets;
	uint32_t n_targets;
	uint32_t *target_base;
	struct cp_vip_runtime *vip_rt; /* one per config VIP */
	struct elb_dp_config *desired; /* what the dataplanes should have */
	uint64_t gen;                  /* incremented when desired changes */
	uint64_t started_ms;
	uint64_t changes, persist_failures, health_transitions;
	/* Group commit (cp_stage, cp_commit_staged): the config that every
	 * change validated since the last write adds up to, not yet written
	 * nor applied (NULL: none), and how many changes it carries. */
	struct cp_config *staged;
	uint32_t n_staged;
	uint64_t config_writes; /* atomic writes of config_path, each one fsync'ed */
	/* The prefix lists in force (cp_prefixes.h; never NULL once loaded),
	 * and the atomic writes of their file. */
	struct elb_prefix_set *prefixes;
	uint64_t prefix_writes;
	/* Called by cp_commit_staged once a group is written and applied (rc:
	 * the changes it carried) or dropped (rc < 0, err says why): the
	 * answers waiting for it may go out. NULL: nobody waits. */
	void (*group_done)(struct cp_daemon *cp, int rc, const struct elb_dp_err *err);
	uint64_t probe_errors; /* probes not started for a local reason (no fd) */
	uint64_t events;       /* events raised, numbered from 1 */
	struct cp_event_sink events_sink; /* emit NULL: events are counted, then dropped */
	cp_retire_target_fn retire_target; /* NULL: nothing runs for targets */
	/* Called by cp_commit_staged once a config is written and installed
	 * (main: cp_prefixes_follow_config, which drops the lists of VIPs the
	 * config no longer has). NULL: nothing follows the config. */
	void (*config_committed)(struct cp_daemon *cp);
	uint64_t fleet_disagreements; /* over all VIPs */
	uint64_t drains_completed, drains_timed_out;
	/* The BGP figures (cp_bgp.c), copied out for the metrics page. */
	uint8_t node_state;     /* enum cp_node_state */
	uint32_t bgp_announced; /* prefixes in the speaker's config */
	bool bgp_speaker_up;    /* the speaker answers on its control socket */
	uint64_t bgp_speaker_losses;

	/* The layers above: set up and freed by them (NULL / 0 without). */
	int epfd;                      /* the loop's epoll set (edgelb_cp.c) */
	struct elb_rpc_server *operator; /* the operator socket (edgelb_cp.c) */
	int operator_kind;             /* CP_POLL_OPERATOR: epoll data for the server's fd */
	struct cp_dataplane *dps;      /* cp_dataplanes.c */
	uint32_t n_dps;
	struct cp_stream *stream;      /* cp_stream.c */
	struct cp_metrics *metrics;    /* cp_metrics.c */
	struct cp_bgp *bgp;            /* cp_bgp.c; NULL without a "bgp" section */
	struct cp_waiting *waiting;    /* cp_methods.c: answers waiting for the group's write */
};

/*
 * Take loaded (freed on failure too): targets laid out (probes due at now),
 * the desired state at generation 1. Set cp->config_path, events_sink and
 * retire_target before. @return 0 or -ENOMEM.
 */
int cp_state_init(struct cp_daemon *cp, struct cp_config *loaded, uint64_t now);
/* Free what cp_state_init made (the targets retired first). */
void cp_state_free(struct cp_daemon *cp);

/* Raise an event (fields taken; NULL: none) through cp->events_sink. */
void cp_emit(struct cp_daemon *cp, const char *type, cJSON *fields);
/* An event's fields about a backend of a VIP (addr NULL: the VIP), or a
 * dataplane. NULL when out of memory (cp_emit takes NULL). */
cJSON *cp_event_backend(const struct elb_dp_vip_key *vip, const union elb_addr *addr,
			uint8_t family);
cJSON *cp_event_dataplane(const char *name);

/* A health probe's result: a transition may change the desired state. */
void cp_target_result(struct cp_daemon *cp, struct cp_target *t, bool ok);

/* A new state was committed or a backend entered or left service: rebuild
 * the desired dataplane config, and bump gen if it differs. */
int cp_refresh_desired(struct cp_daemon *cp);
/* Backend b of VIP v is in the set the dataplanes get (health, fail static). */
bool cp_backend_pushed(const struct cp_daemon *cp, uint32_t v, uint32_t b);

/* Is a backend draining (its flows wanted every poll)? */
bool cp_drain_running(const struct cp_daemon *cp);

/*
 * Replace the config by next (validated here), persisting it to
 * cp->config_path first. Takes ownership of next in every case. New targets
 * get their first probe at now. Changes staged before (cp_stage) are
 * written and applied with it.
 * @return 0, or -errno with err filled; on failure nothing changed.
 */
int cp_commit(struct cp_daemon *cp, struct cp_config *next, uint64_t now,
	      struct elb_dp_err *err);

/*
 * Group commit: one atomic write (one fsync of the file, one of its
 * directory) for every change that arrived while the previous write was
 * in flight. A change is built from cp_latest_config (the staged config if
 * there is one), then cp_stage validates it whole and makes it the staged
 * config: not written, not applied, not pushed, not to be answered yet. A
 * refused change leaves the staged config as it was, so it fails alone.
 * cp_commit_staged then writes the staged config once and applies it: the
 * changes it carries may be answered and pushed only after it returned 0.
 * A crash before that write loses only changes nobody was told about.
 */
const struct cp_config *cp_latest_config(const struct cp_daemon *cp);
/* Takes next in every case. @return 0, or -errno with err filled (nothing
 * staged). */
int cp_stage(struct cp_daemon *cp, struct cp_config *next, struct elb_dp_err *err);
/*
 * Write the staged config to cp->config_path and apply it (new targets
 * probed from now, the desired state refreshed once).
 * @return the number of changes it carried (0: none staged), or -errno
 *         with err filled: then every staged change is dropped, nothing
 *         applied, the file as it was (persist_failures counts it).
 */
int cp_commit_staged(struct cp_daemon *cp, uint64_t now, struct elb_dp_err *err);

#endif /* CP_STATE_H */
