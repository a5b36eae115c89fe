/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The dataplane protocol: the methods edgelb-cp (and operators) call on a
 * dataplane's control socket, implemented once for edgelb-dp (DPDK) and
 * edgelb-xdp on top of the configuration model (elb_config.h) and the
 * JSON-RPC server (elb_rpc.h). docs/dataplane-protocol.md is the reference
 * of the methods.
 *
 * What a dataplane supplies is struct elb_dp_ops. Every change is made the
 * same way: build a complete new config from the current one plus the
 * change, validate it, hand it to ops->apply, and only if that succeeds make
 * it current, increment the epoch and persist it. A refused change leaves
 * everything as it was.
 *
 * Threading: everything here, the ops callbacks included, runs on the
 * thread that calls elb_dp_api_poll() (the control lcore or thread). apply
 * must publish to the workers itself (e.g. build a snapshot aside and swap
 * one pointer, freeing the old one after a grace period). A dataplane may
 * do slow work behind an op on a thread of its own (flow_counts: see its
 * contract) as long as the op itself returns promptly.
 */
#ifndef ELB_DP_API_H
#define ELB_DP_API_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <cjson/cJSON.h>

#include "elb_config.h"
#include "elb_prefixes.h"
#include "elb_rpc.h"

#define ELB_DP_PROTOCOL_VERSION 1

/* Application error codes (JSON-RPC's implementation-defined range). */
#define ELB_DP_ERR_NOT_FOUND (-32001)      /* no VIP with that address, port, protocol */
#define ELB_DP_ERR_APPLY_FAILED (-32002)   /* the dataplane refused the new config */
#define ELB_DP_ERR_EPOCH_MISMATCH (-32003) /* "if_epoch" given and not the current epoch */

#define ELB_DP_APPLY_ERR_MAX 256

struct elb_snapshot;
struct elb_explain_run;

struct elb_dp_ops {
	/*
	 * Make `config` the dataplane's whole configuration, atomically: on
	 * success workers see all of it, on failure none of it (the previous
	 * config stays in force). `epoch` is the number this config gets if
	 * applied. config has been validated; it stays alive and unchanged
	 * until the next successful apply has returned or the API is closed,
	 * so the dataplane may keep pointers into it until then.
	 * @return 0, or -errno with a one-line reason in err (errlen bytes,
	 *         at least ELB_DP_APPLY_ERR_MAX) for the client.
	 */
	int (*apply)(void *ctx, const struct elb_dp_config *config, uint64_t epoch, char *err,
		     size_t errlen);
	/*
	 * Add the dataplane's counters to the empty object `out`: all of them,
	 * or only those of one VIP when vip is not NULL (it is one of the
	 * current config). Names from elb_reasons.h for drops. May be NULL:
	 * counters.get then fails with -32603.
	 * @return 0 or -errno.
	 */
	int (*counters)(void *ctx, cJSON *out, const struct elb_dp_vip_key *vip);
	/* Add whatever describes the dataplane's health to the empty object
	 * `out` (ports, links, workers, program ids...). May be NULL. */
	int (*status)(void *ctx, cJSON *out);
	/*
	 * The forwarding snapshot in force: the Maglev tables the workers (or
	 * the program's maps) use, which vip.tables reports and digests. It
	 * must stay valid until the control thread's next apply. May be NULL:
	 * vip.tables then fails with -32603.
	 */
	const struct elb_snapshot *(*snapshot)(void *ctx);
	/*
	 * Add to per_slot[s] (snap->n_backend_slots entries, zeroed by the
	 * caller) the live flows of the dataplane's flow tables whose entry
	 * names backend slot s with its generation in snap. A count, not a
	 * consistent cut: the tables change while they are read. May be NULL:
	 * vip.tables then reports no flows.
	 *
	 * Age: *age_ms is 0 when called. A dataplane that counts here, on
	 * the control thread, leaves it 0. One whose walk is too slow for the
	 * control thread (edgelb-xdp: seconds at millions of flows) walks on
	 * a thread of its own and answers with the last walk it finished: it
	 * sets *age_ms to how long ago that walk began (the counts saw the
	 * tables no earlier than that), and must only answer with a walk made
	 * entirely while the tables held snap (no apply since it began), so
	 * the backend states vip.tables reports beside the counts are those
	 * the walk saw. Such a dataplane must not hold the control thread for
	 * a walk (a short bounded wait for one is fine).
	 * @return 0, -EAGAIN when no count usable for snap is ready yet (one
	 *         has been asked for), or -errno.
	 */
	int (*flow_counts)(void *ctx, const struct elb_snapshot *snap, uint64_t *per_slot,
			   uint64_t *age_ms);
	/*
	 * flow.explain: find the flow of `frame` (len bytes, at most
	 * ELB_EXPLAIN_FRAME_MAX) in the live flow tables and run the real
	 * decision for it against the snapshot ops->snapshot returns, on a
	 * copy of the flow's state: nothing live is written (flow tables,
	 * token buckets, counters). Fills `run` (see elb_explain.h). May be
	 * NULL: flow.explain then fails with -32603.
	 * @return 0, or -errno with a one-line reason in err (errlen bytes).
	 */
	int (*explain)(void *ctx, const uint8_t *frame, uint32_t len, struct elb_explain_run *run,
		       char *err, size_t errlen);
	/*
	 * prefixes.set: make `set` the dataplane's prefix lists
	 * (docs/prefix-lists.md), combined with the config in force,
	 * atomically: workers decide with the old lists or the new, never a
	 * mix; on failure the old lists stay. set has been validated; it stays
	 * alive and unchanged until the next successful apply_prefixes has
	 * returned or the API is closed, so the dataplane may keep the pointer
	 * (elb_dp_api_prefixes returns it too). Every later apply must attach
	 * the VIPs' lists by VIP key from the set in force. Called at open,
	 * right after the first apply, when the state holds lists. May be
	 * NULL: prefixes.set is then refused.
	 * @return 0, or -errno with a one-line reason in err (errlen bytes).
	 */
	int (*apply_prefixes)(void *ctx, const struct elb_prefix_set *set, char *err,
			      size_t errlen);
};

struct elb_dp_api_options {
	const char *socket_path; /* required */
	const char *dataplane;   /* "dpdk" or "xdp": reported by ping and status.get */
	/* If set: the config is loaded from here at open when the file exists,
	 * and written here (atomically) after every applied change; the prefix
	 * lists likewise at "<state_path>.prefixes". */
	const char *state_path;
	/* The starting config when there is no state file; NULL: empty. */
	const struct elb_dp_config *initial;
	/* With neither a state file nor initial: do not apply the empty config
	 * over a state the dataplane kept across the restart (XDP's pinned
	 * maps keep forwarding, established flows included); the epoch stays
	 * 0 and status.get says running_state_kept until the first change,
	 * which is applied whatever it is. */
	bool keep_running_state;
	/* Server limits; 0 takes the ELB_RPC_* defaults. */
	mode_t socket_mode;
	unsigned int max_clients;
	size_t max_output;
	unsigned int stall_timeout_ms;
};

struct elb_dp_api;

/*
 * Open the control socket and apply the starting config (the state file's,
 * else options->initial, else an empty one) through ops->apply; it becomes
 * epoch 1. ops->apply is therefore called once before this returns. Nothing
 * is served until the first elb_dp_api_poll().
 * @return 0, or -errno with err filled (a bad state file, the socket, or
 *         apply's refusal).
 */
int elb_dp_api_open(struct elb_dp_api **out, const struct elb_dp_api_options *options,
		    const struct elb_dp_ops *ops, void *ctx, struct elb_dp_err *err);

/* Serve requests: see elb_rpc_server_poll(). */
int elb_dp_api_poll(struct elb_dp_api *api, int timeout_ms);
/* An fd that becomes readable when elb_dp_api_poll has work. */
int elb_dp_api_fd(const struct elb_dp_api *api);

/* The config in force and its epoch. */
const struct elb_dp_config *elb_dp_api_config(const struct elb_dp_api *api);
uint64_t elb_dp_api_epoch(const struct elb_dp_api *api);
/* The prefix lists in force: never NULL (an empty set before any). */
const struct elb_prefix_set *elb_dp_api_prefixes(const struct elb_dp_api *api);
/* Replace the prefix lists from the control thread itself: the same path
 * as prefixes.set. @return 0 or -errno with err filled. */
int elb_dp_api_set_prefixes(struct elb_dp_api *api, const struct elb_prefix_set *set,
			    struct elb_dp_err *err);

/*
 * Replace the whole config from the control thread itself (e.g. reloading
 * a file on SIGHUP): the same path as config.set.
 * @return 0 (also when nothing changed), -EINVAL (invalid: err says why),
 *         or apply's -errno.
 */
int elb_dp_api_set_config(struct elb_dp_api *api, const struct elb_dp_config *config,
			  struct elb_dp_err *err);

/*
 * Helpers for JSON-RPC methods built on the configuration model (the
 * dataplane protocol here, the control plane's operator socket):
 * a model error as -32602 naming the member (-32603 for -ENOMEM);
 * out of memory as -32603; params with a member not in `known` as -32602.
 * Each returns the negative errno the method returns.
 */
int elb_dp_rpc_model_error(struct elb_rpc_error *error, const struct elb_dp_err *err, int rc);
int elb_dp_rpc_nomem(struct elb_rpc_error *error);
int elb_dp_rpc_check_params(const cJSON *params, const char *const *known,
			    struct elb_rpc_error *error);

/* Answer one request line without the socket (elb_rpc_server_answer). */
char *elb_dp_api_answer(struct elb_dp_api *api, const char *line, size_t len);

/* Close the socket (removing its file) and free everything. NULL ignored. */
void elb_dp_api_close(struct elb_dp_api *api);

#endif /* ELB_DP_API_H */
