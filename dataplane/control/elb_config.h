/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The dataplane configuration model: what one node forwards, as plain C
 * structs, with its JSON form (cJSON), its validation and its file form.
 * Shared by edgelb-dp (DPDK) and edgelb-xdp: both receive a validated
 * struct elb_dp_config through their apply callback (elb_dp_api.h) and
 * translate it into their own tables.
 *
 * JSON form (docs/dataplane-protocol.md has the full description):
 *   {"node": {"hash_seed": {"k0": "<16 hex>", "k1": "<16 hex>"},
 *             "source_v4": "192.0.2.1", "source_v6": "2001:db8::1",
 *             "gateway_mac": "aa:bb:cc:dd:ee:ff", "gue_port": 6080},
 *    "vips": [{"address": "198.51.100.1", "port": 443, "protocol": "tcp",
 *              "encap": "ipip", "mtu": 1500, "maglev_size": 65537,
 *              "second_chance": false,
 *              "rate_limit": {"packets_per_s": 0, "packet_burst": 0,
 *                             "bytes_per_s": 0, "byte_burst": 0},
 *              "timeouts": {"tcp_syn_ms": 5000, "tcp_established_ms": 300000,
 *                           "tcp_closing_ms": 10000, "udp_ms": 30000},
 *              "admission": {"new_flows_per_s": 0, "new_flow_burst": 0,
 *                            "sources": [{"prefix_len": 32, "packets_per_s": 2000,
 *                                         "packet_burst": 200, "new_flows_per_s": 100,
 *                                         "new_flow_burst": 20}]},
 *              "backends": [{"address": "10.0.0.1", "weight": 1,
 *                            "state": "active"}]}]}
 * Every member but a VIP's address/port/protocol and a backend's address is
 * optional and has a default. Unknown and repeated members are errors: a
 * typo must not silently become a default.
 *
 * Errors: every parse or validation error names the offending member by its
 * JSON path ("vips[2].backends[5].weight") in struct elb_dp_err, so that a
 * person can act on it. Nothing is ever half-applied: parsing builds a new
 * object or fails, and leaves its output untouched on failure.
 *
 * Memory: a config owns its arrays (vips, and each VIP's backends); copy it
 * with elb_dp_config_clone and free it with elb_dp_config_free. None of this
 * is for the packet path.
 */
#ifndef ELB_CONFIG_H
#define ELB_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <cjson/cJSON.h>

#include "elb_admission.h"
#include "elb_flow.h"
#include "elb_flow_state.h"
#include "elb_json.h"
#include "elb_quic_lb.h"

/* Limits. The totals match the DPDK snapshot (ELB_MAX_VIPS and
 * ELB_MAX_BACKEND_SLOTS in elb_pipeline.h). */
#define ELB_DP_MAX_VIPS 256
#define ELB_DP_MAX_BACKENDS_PER_VIP 4096
#define ELB_DP_MAX_BACKENDS_TOTAL 65536
#define ELB_DP_MAX_WEIGHT 65535u

#define ELB_DP_MTU_MIN 576u  /* IPv4's minimum datagram every host accepts */
#define ELB_DP_MTU_MIN_V6 1280u /* IPv6's minimum link MTU: needed once IPv6 is involved */
#define ELB_DP_MTU_MAX 9216u
#define ELB_DP_MTU_DEFAULT 1500u
#define ELB_DP_GUE_PORT_DEFAULT 6080u

/* Idle timeouts: 1 .. this many ms; the defaults are the flow table's
 * (ELB_FLOW_TIMEOUT_*_MS in elb_flow_state.h). */
#define ELB_DP_TIMEOUT_MAX_MS 4294967295u

/* A config file larger than this is refused by elb_dp_config_load_file (a
 * maximal config is about 8 MiB of JSON). */
#define ELB_DP_CONFIG_FILE_MAX (64u << 20)

/* struct elb_dp_err (why something was refused) is elb_json.h's. */

enum elb_dp_encap {
	ELB_DP_ENCAP_IPIP = 0, /* IP-in-IP; IPv6 backends get IPv4/IPv6-in-IPv6 */
	ELB_DP_ENCAP_GUE,      /* GUE over UDP to node.gue_port */
};

enum elb_dp_backend_state {
	ELB_DP_BACKEND_ACTIVE = 0, /* gets new flows in proportion to its weight */
	ELB_DP_BACKEND_DRAINING,   /* keeps its flows, gets no new ones */
};

/* What identifies a VIP: (address, port, protocol). */
struct elb_dp_vip_key {
	union elb_addr addr; /* IPv4 in the first 4 bytes, the rest zero */
	uint8_t family;      /* ELB_AF_INET or ELB_AF_INET6 */
	uint8_t proto;       /* ELB_IPPROTO_TCP or ELB_IPPROTO_UDP */
	uint16_t port;       /* host order; 0 = every port */
};

struct elb_dp_backend {
	union elb_addr addr; /* identity within the VIP; also the outer destination */
	uint8_t family;      /* the outer header's family */
	uint8_t state;       /* enum elb_dp_backend_state */
	uint32_t weight;     /* 0 (no new flows) .. ELB_DP_MAX_WEIGHT */
	/* The server ID its QUIC connection IDs carry (VIP "quic"); length 0:
	 * none, its CIDs are not routed by ID. */
	uint8_t quic_server_id_len;
	uint8_t quic_server_id[ELB_QUIC_SERVER_ID_MAX];
};

/* Per-flow rate limit as configured; 0 = unlimited. elb_rate_limit_init()
 * accepts every validated value. */
struct elb_dp_rate_limit {
	uint64_t packets_per_s;
	uint64_t packet_burst;
	uint64_t bytes_per_s;
	uint64_t byte_burst;
};

/* Admission control of a VIP (docs/admission.md); every rate 0 = off.
 * Rates are per worker (DPDK) or per CPU (XDP): each core enforces them on
 * what it receives, with state of its own, as the per-flow limit is.
 * Validation takes exactly what elb_flow_budget_init and
 * elb_source_limit_init accept, and refuses a source entry that limits
 * nothing and two entries of one prefix length. */
struct elb_dp_source_limit {
	uint8_t prefix_len; /* of the VIP's family: 1..32 (IPv4), 1..128 (IPv6) */
	uint64_t packets_per_s;
	uint64_t packet_burst;
	uint64_t new_flows_per_s;
	uint64_t new_flow_burst;
};

struct elb_dp_admission {
	uint64_t new_flows_per_s; /* the VIP's new-flow budget; above it, flood mode */
	uint64_t new_flow_burst;
	uint32_t n_sources; /* 0 .. ELB_SOURCE_LIMITS_MAX, distinct prefix lengths */
	struct elb_dp_source_limit sources[ELB_SOURCE_LIMITS_MAX];
};

/* QUIC-LB routing of a UDP VIP (docs/quic-lb.md): the configurations its
 * servers encode connection IDs with, each by its config ID (the CID's
 * first three bits), two or more live at once while keys rotate. One
 * server ID length for all: a backend has one server ID. n_configs 0: off. */
struct elb_dp_quic_config {
	uint8_t id;        /* 0..6 */
	uint8_t nonce_len; /* ELB_QUIC_NONCE_MIN .. ELB_QUIC_PLAINTEXT_MAX - server_id_len */
	bool has_key;      /* else plaintext */
	uint8_t key[16];   /* AES-128; secret: see elb_dp_config_json_redact */
};

struct elb_dp_quic {
	uint8_t server_id_len; /* 1..ELB_QUIC_SERVER_ID_MAX */
	uint8_t n_configs;
	struct elb_dp_quic_config configs[ELB_QUIC_LB_CONFIGS];
};

struct elb_dp_timeouts {
	uint32_t tcp_syn_ms;
	uint32_t tcp_established_ms;
	uint32_t tcp_closing_ms;
	uint32_t udp_ms; /* also other protocols' flows */
};

struct elb_dp_vip {
	struct elb_dp_vip_key key;
	uint8_t encap;        /* enum elb_dp_encap */
	uint16_t mtu;         /* largest outer IP packet toward the backends */
	uint32_t maglev_size; /* prime, ELB_MAGLEV_MIN_SIZE .. ELB_MAGLEV_MAX_SIZE */
	/* Forwarded packets also carry the Maglev slot's previous owner (GUE
	 * private data, docs/second-chance.md); needs encap gue. Opt-in: the
	 * backends must skip GUE private data before it is switched on. */
	bool second_chance;
	struct elb_dp_rate_limit rate_limit;
	struct elb_dp_timeouts timeouts;
	struct elb_dp_admission admission;
	struct elb_dp_quic quic;
	uint32_t n_backends;
	struct elb_dp_backend *backends; /* owned; NULL when n_backends is 0 */
};

struct elb_dp_node {
	struct elb_hash_seed hash_seed; /* fleet-wide flow hash key */
	bool has_source_v4;             /* source_v4 set: needed by IPv4 backends */
	bool has_source_v6;             /* source_v6 set: needed by IPv6 backends */
	bool has_gateway_mac;
	union elb_addr source_v4;       /* outer source toward IPv4 backends */
	union elb_addr source_v6;       /* outer source toward IPv6 backends */
	uint8_t gateway_mac[6];         /* next hop toward the backends */
	uint16_t gue_port;              /* host order; GUE destination port */
};

struct elb_dp_config {
	struct elb_dp_node node;
	uint32_t n_vips;
	struct elb_dp_vip *vips; /* owned; order is kept as given */
};

/* Defaults. A default VIP has no address, port or protocol set (zeros). */
void elb_dp_node_defaults(struct elb_dp_node *node);
void elb_dp_vip_defaults(struct elb_dp_vip *vip);

/* A new empty config (default node, no VIPs); NULL if out of memory. */
struct elb_dp_config *elb_dp_config_new(void);
void elb_dp_config_free(struct elb_dp_config *config);
/* Deep copy; NULL if out of memory. */
struct elb_dp_config *elb_dp_config_clone(const struct elb_dp_config *config);
/* Frees what a VIP owns (its backends), not the VIP itself. */
void elb_dp_vip_release(struct elb_dp_vip *vip);
/* Deep copy of a VIP into *dst (which owns nothing yet). @return 0 or -ENOMEM. */
int elb_dp_vip_copy(struct elb_dp_vip *dst, const struct elb_dp_vip *src);

/* Same content, VIPs and backends in the same order. */
bool elb_dp_config_equal(const struct elb_dp_config *a, const struct elb_dp_config *b);
bool elb_dp_vip_key_equal(const struct elb_dp_vip_key *a, const struct elb_dp_vip_key *b);
/* Index of the VIP with this key, or -ENOENT. */
int elb_dp_config_find_vip(const struct elb_dp_config *config, const struct elb_dp_vip_key *key);
/*
 * Does going from old to next change the Maglev table or the member set of
 * a VIP that both have: its maglev_size, or its backends as a set (family,
 * address, weight; a draining backend counts with weight 0, as the build
 * takes it)? Order is not compared: the build sorts. Such a change gives
 * slots new owners, which is what the previous-owner history behind the
 * state file keeps (docs/second-chance.md). Out of memory answers true.
 */
bool elb_dp_config_tables_moved(const struct elb_dp_config *old, const struct elb_dp_config *next);

/*
 * Check everything the JSON parser checks, plus what involves several
 * members (duplicates, totals, a backend family without its node source
 * address, the IPv6 minimum MTU). Paths are prefixed with `prefix` ("" or
 * NULL for none). @return 0 or -EINVAL with err filled.
 */
int elb_dp_config_validate(const struct elb_dp_config *config, const char *prefix,
			   struct elb_dp_err *err);
/* One VIP, against a node: what elb_dp_config_validate checks per VIP. */
int elb_dp_vip_validate(const struct elb_dp_vip *vip, const struct elb_dp_node *node,
			const char *prefix, struct elb_dp_err *err);
int elb_dp_node_validate(const struct elb_dp_node *node, const char *prefix,
			 struct elb_dp_err *err);

/*
 * JSON to struct. Each function checks types, ranges and unknown members,
 * fills defaults, and names a failing member by its path under `prefix`.
 * elb_dp_config_from_json also runs elb_dp_config_validate. On failure the
 * outputs are untouched.
 * @return 0, -EINVAL (err says why) or -ENOMEM.
 */
int elb_dp_config_from_json(const cJSON *json, const char *prefix, struct elb_dp_config **out,
			    struct elb_dp_err *err);
/* A node: members absent from json keep their value from base (defaults
 * when base is NULL); null unsets source_v4, source_v6 and gateway_mac. */
int elb_dp_node_from_json(const cJSON *json, const char *prefix, const struct elb_dp_node *base,
			  struct elb_dp_node *out, struct elb_dp_err *err);
/* A VIP; *backends_given tells whether "backends" was present (the VIP owns
 * an empty set otherwise). Per-VIP validation against a node is separate. */
int elb_dp_vip_from_json(const cJSON *json, const char *prefix, struct elb_dp_vip *out,
			 bool *backends_given, struct elb_dp_err *err);
/* A backend array, as in "backends". */
int elb_dp_backends_from_json(const cJSON *json, const char *prefix,
			      struct elb_dp_backend **out, uint32_t *n_out, struct elb_dp_err *err);
/*
 * The members "address", "port" and "protocol" of an object into a key.
 * Other members are not looked at: the caller checks what else it accepts.
 */
int elb_dp_vip_key_from_json(const cJSON *json, const char *prefix, struct elb_dp_vip_key *out,
			     struct elb_dp_err *err);
/* elb_dp_json_u64, elb_dp_json_check_members, elb_dp_json_parse_document
 * and the member readers: elb_json.h. */
/* Parse text (as elb_dp_json_parse_document) into a validated config. */
int elb_dp_config_parse(const char *text, size_t len, struct elb_dp_config **out,
			struct elb_dp_err *err);

/*
 * Struct to JSON, every member written out (defaults included), unset node
 * addresses and MAC left out. parse(to_json(c)) equals c for a valid c.
 * @return a new cJSON tree, or NULL if out of memory.
 */
cJSON *elb_dp_config_to_json(const struct elb_dp_config *config);
cJSON *elb_dp_node_to_json(const struct elb_dp_node *node);
/* with_backends false: a "backend_count" member instead of "backends". */
cJSON *elb_dp_vip_to_json(const struct elb_dp_vip *vip, bool with_backends);
cJSON *elb_dp_backends_to_json(const struct elb_dp_backend *backends, uint32_t n_backends);
/* The VIP's "quic" against the VIP and its backends' server IDs (part of
 * elb_dp_vip_validate), paths under prefix (the VIP's). */
int elb_dp_vip_quic_validate(const struct elb_dp_vip *vip, const char *prefix,
			     struct elb_dp_err *err);

/*
 * Replace every QUIC key of a config's or a VIP's JSON form (what
 * elb_dp_config_to_json or elb_dp_vip_to_json built: "vips"[i] or the VIP
 * itself) by its key check value ("key_check": the first three octets of
 * AES-128 of a zero block under the key, in hex): for a peer that may only
 * read, which can tell which key is in force but not learn it.
 * @return 0 or -ENOMEM.
 */
int elb_dp_config_json_redact(cJSON *json);
/* The key check value of a key, 6 hex digits and a NUL. */
void elb_dp_quic_key_check(const uint8_t key[16], char out[7]);

/* A VIP's "admission" member, as elb_dp_vip_to_json writes it. */
cJSON *elb_dp_admission_to_json(const struct elb_dp_admission *admission);
cJSON *elb_dp_vip_key_to_json(const struct elb_dp_vip_key *key);

/* "198.51.100.1:443/tcp", "[2001:db8::1]:0/udp"; buffer of
 * ELB_DP_VIP_KEY_STR_MAX bytes. Returns buf. */
#define ELB_DP_VIP_KEY_STR_MAX 64
const char *elb_dp_vip_key_str(const struct elb_dp_vip_key *key, char *buf, size_t len);

/*
 * Write the config to path atomically (elb_atomic_write_file), pretty
 * printed, mode 0640. @return 0 or -errno with err filled.
 */
int elb_dp_config_write_file(const char *path, const struct elb_dp_config *config,
			     struct elb_dp_err *err);
/*
 * Read and validate a config file. err->text starts with the path, then
 * "line L, column C" for a syntax error or the member's path for an invalid
 * value. @return 0, -errno from the file system, -EFBIG (above
 * ELB_DP_CONFIG_FILE_MAX), -EINVAL or -ENOMEM.
 */
int elb_dp_config_load_file(const char *path, struct elb_dp_config **out, struct elb_dp_err *err);

#endif /* ELB_CONFIG_H */
