/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The control plane's configuration: the dataplane model (elb_config.h) for
 * the node and the VIPs, plus what only the control plane knows: the
 * dataplanes it manages, each VIP's availability objective and health
 * check. JSON form in docs/control-protocol.md. Errors name the member by
 * its JSON path, as elb_config does; nothing is half-parsed.
 */
#ifndef CP_CONFIG_H
#define CP_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "elb_config.h"

#define CP_MAX_DATAPLANES 64
#define CP_DP_NAME_MAX 64
#define CP_SOCKET_PATH_MAX 108 /* sockaddr_un.sun_path */
#define CP_HC_PATH_MAX 256
#define CP_SLO_DEFAULT 0.999

enum cp_hc_type {
	CP_HC_NONE = 0, /* no "health_check": every backend counts as up */
	CP_HC_TCP,      /* a TCP connect that completes */
	CP_HC_HTTP,     /* GET path answered with expect_status */
};

struct cp_health_check {
	uint8_t type;   /* enum cp_hc_type */
	uint16_t port;  /* 0: the VIP's port */
	char path[CP_HC_PATH_MAX];
	uint16_t expect_status;
	uint32_t interval_ms;
	uint32_t timeout_ms;
	uint32_t rise; /* passes in a row that bring a down backend back */
	uint32_t fall; /* failures in a row that take an up backend out */
};

struct cp_vip {
	struct elb_dp_vip dp;    /* backends with their operator state and weight */
	double slo_availability; /* objective, in (0, 1] */
	struct cp_health_check hc;
};

struct cp_dataplane_cfg {
	char name[CP_DP_NAME_MAX];
	char socket[CP_SOCKET_PATH_MAX];
};

/* A user or group of the operator socket's access lists: resolved to its id
 * at load; name kept (as written) so that the file is written back as is. */
#define CP_MAX_PRINCIPALS 64 /* per list: ELB_RPC_MAX_ACCESS_IDS */
#define CP_PRINCIPAL_NAME_MAX 33

struct cp_principal {
	uint32_t id;
	char name[CP_PRINCIPAL_NAME_MAX]; /* "": given as a number */
};

struct cp_principals {
	uint32_t n;
	struct cp_principal items[CP_MAX_PRINCIPALS];
};

/* "operator": who may use the operator socket (docs/control-protocol.md). */
struct cp_operator_access {
	uint32_t socket_mode; /* 0: ELB_RPC_SOCKET_MODE */
	bool has_owner, has_group;
	struct cp_principal owner, group;
	struct cp_principals write_users, write_groups; /* every method */
	struct cp_principals read_users, read_groups;   /* read-only methods */
};

/* "fleet": how the dataplanes are compared and how drains end
 * (docs/control-protocol.md). */
#define CP_FLEET_DISAGREE_AFTER_MS_DEFAULT 3000u
#define CP_FLEET_DISAGREE_AFTER_MS_MIN 100u
#define CP_FLEET_DISAGREE_AFTER_MS_MAX 3600000u
#define CP_DRAIN_TIMEOUT_MS_DEFAULT 600000u /* 10 min */
#define CP_DRAIN_TIMEOUT_MS_MIN 100u
#define CP_DRAIN_TIMEOUT_MS_MAX 604800000u /* a week */
#define CP_FLOW_COUNT_INTERVAL_MS_DEFAULT 1000u
#define CP_FLOW_COUNT_INTERVAL_MS_MIN 1000u
#define CP_FLOW_COUNT_INTERVAL_MS_MAX 3600000u

struct cp_fleet_cfg {
	uint32_t disagree_after_ms; /* a table digest differing longer than this is an alarm */
	uint32_t drain_timeout_ms;  /* a drain not finished by then ends as timed out */
	uint32_t flow_count_interval_ms; /* flows counted this often (every poll while
					    a drain runs): counting walks every flow table */
};

/* "bgp": the node announces its VIPs through a BIRD 2 speaker that edgelb-cp
 * configures (cp_bgp.c, docs/fleet.md). Absent: nothing is announced and
 * nothing about BGP runs. */
#define CP_BGP_MAX_NEIGHBORS 16
#define CP_BGP_PATH_MAX 256
#define CP_BGP_HOLD_TIME_S_DEFAULT 3u
#define CP_BGP_DRAIN_QUIET_MS_DEFAULT 2000u
#define CP_BGP_DRAIN_QUIET_MS_MIN 1000u /* above the 1 s counters poll */
#define CP_BGP_DRAIN_QUIET_MS_MAX 600000u
#define CP_BGP_DRAIN_TIMEOUT_MS_DEFAULT 60000u
#define CP_BGP_DRAIN_TIMEOUT_MS_MIN 1000u
#define CP_BGP_DRAIN_TIMEOUT_MS_MAX 604800000u /* a week */
#define CP_BGP_DEFAULT_BIRD "/usr/sbin/bird"
#define CP_BGP_DEFAULT_RUN_DIR "/run/edgelb/bgp"

struct cp_bgp_neighbor {
	union elb_addr addr;
	uint8_t family; /* ELB_AF_INET or ELB_AF_INET6: the session's channel */
	uint32_t as;
};

struct cp_bgp_cfg {
	bool enabled; /* the config has "bgp" */
	uint32_t local_as;
	union elb_addr router_id; /* IPv4 */
	uint32_t hold_time_s;     /* 0 (no keepalives) or 3..65535 */
	uint32_t n_neighbors;
	struct cp_bgp_neighbor neighbors[CP_BGP_MAX_NEIGHBORS];
	bool has_next_hop_v4, has_next_hop_v6; /* else "next hop self" */
	union elb_addr next_hop_v4, next_hop_v6;
	char bird[CP_BGP_PATH_MAX];            /* the daemon to start */
	char run_dir[CP_BGP_PATH_MAX];         /* its config, pid file and log */
	char control_socket[CP_SOCKET_PATH_MAX]; /* "": RUN_DIR/bird.ctl */
	uint32_t drain_quiet_ms;   /* node drain: no VIP packet for this long ends it */
	uint32_t drain_timeout_ms; /* ... or this long after it began */
	bool drained;              /* the operator's node.drain, until node.resume */
};

/*
 * "drains": the drains in progress, written with the backend.drain that
 * starts one, so that a restarted edgelb-cp goes on with each (same start,
 * timeout and removal) instead of starting it over. A record whose backend
 * is no longer draining is dropped by the next commit.
 */
struct cp_drain_record {
	struct elb_dp_vip_key vip;
	union elb_addr backend;
	uint8_t family;
	bool remove_when_drained;
	uint32_t timeout_ms;      /* 0: fleet.drain_timeout_ms */
	uint64_t started_unix_ms; /* wall clock: the monotonic one does not survive a reboot */
};

struct cp_config {
	struct elb_dp_node node;
	struct cp_fleet_cfg fleet;
	struct cp_bgp_cfg bgp;
	struct cp_operator_access access;
	uint32_t n_dataplanes;
	struct cp_dataplane_cfg *dataplanes;
	uint32_t n_vips;
	struct cp_vip *vips; /* each owns its dp.backends */
	uint32_t n_drains;
	struct cp_drain_record *drains;
};

void cp_health_check_defaults(struct cp_health_check *hc);
/* The "fleet" settings, defaults for a config built without the parser. */
uint32_t cp_fleet_disagree_after_ms(const struct cp_config *config);
uint32_t cp_drain_timeout_ms(const struct cp_config *config);
uint32_t cp_flow_count_interval_ms(const struct cp_config *config);
/* BIRD's control socket: the configured one or RUN_DIR/bird.ctl. */
void cp_bgp_control_socket(const struct cp_bgp_cfg *bgp, char *buf, size_t len);
void cp_config_free(struct cp_config *config);
struct cp_config *cp_config_clone(const struct cp_config *config);
int cp_config_find_vip(const struct cp_config *config, const struct elb_dp_vip_key *key);
/* The drain record of a backend, or NULL. */
struct cp_drain_record *cp_config_find_drain(const struct cp_config *config,
					     const struct elb_dp_vip_key *vip,
					     const union elb_addr *backend, uint8_t family);
/* Add (or replace) a drain record. @return 0 or -ENOMEM. */
int cp_config_put_drain(struct cp_config *config, const struct cp_drain_record *record);
/* Drop the records of backends that are not draining (any more). */
void cp_config_prune_drains(struct cp_config *config);

/* A VIP object (the dataplane's members plus "slo" and "health_check").
 * @return 0, -EINVAL (err names the member) or -ENOMEM; *out untouched on failure. */
int cp_vip_from_json(const cJSON *json, const char *prefix, struct cp_vip *out,
		     struct elb_dp_err *err);
/* The whole config: parses and runs cp_config_validate. */
int cp_config_from_json(const cJSON *json, struct cp_config **out, struct elb_dp_err *err);
int cp_config_parse(const char *text, size_t len, struct cp_config **out, struct elb_dp_err *err);
/* What involves several members: duplicates, totals, node source addresses
 * (checked through elb_dp_config_validate on the view with every backend). */
int cp_config_validate(const struct cp_config *config, struct elb_dp_err *err);

cJSON *cp_vip_to_json(const struct cp_vip *vip);
cJSON *cp_health_check_to_json(const struct cp_health_check *hc);
cJSON *cp_config_to_json(const struct cp_config *config);

/*
 * The dataplane config of this state: each VIP with the backends for which
 * keep(ctx, vip index, backend index) is true (NULL keeps all).
 * @return a new config or NULL (out of memory).
 */
struct elb_dp_config *cp_config_dp_view(const struct cp_config *config,
					bool (*keep)(void *ctx, uint32_t vip, uint32_t backend),
					void *ctx);

/* Atomic write (elb_atomic_write_file), mode 0640. @return 0 or -errno. */
int cp_config_write_file(const char *path, const struct cp_config *config, struct elb_dp_err *err);
int cp_config_load_file(const char *path, struct cp_config **out, struct elb_dp_err *err);

#endif /* CP_CONFIG_H */
