/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The operator methods (cp_methods.c) on the operator socket (elb_rpc):
 * each reads the state core and the services, and changes the state only
 * through cp_commit (a clone of the config changed, validated whole,
 * persisted, applied). The handlers' ctx is the struct cp_daemon.
 */
#ifndef CP_METHODS_H
#define CP_METHODS_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "cp_state.h"
#include "elb_rpc.h"

extern const struct elb_rpc_method cp_methods[];
extern const size_t cp_n_methods;
/* elb_rpc_server_config's defer_methods: answered after the group's write. */
extern const char *const cp_defer_methods[];
/* The deprecated names of cp_methods, for elb_rpc_server_config's aliases. */
extern const struct elb_rpc_alias cp_aliases[];
extern const size_t cp_n_aliases;
/* The members edgelb-cp adds to the RPC server's own ping and status.get
 * (elb_rpc_server_config's ping and status; ctx: the struct cp_daemon). */
int cp_ping_describe(void *ctx, cJSON *result);
int cp_status_describe(void *ctx, cJSON *result);

/* Group commit: write the staged changes and answer them (also
 * elb_rpc_server_config's settle: a read sees every change answered
 * before it). cp_methods_free: what the waiting answers took. */
void cp_methods_settle(void *ctx);
void cp_methods_free(struct cp_daemon *cp);

/* The figures of counters.get (also the subscription snapshots and the
 * Prometheus page): per VIP, the dataplanes' counters summed, and the SLOs. */
cJSON *cp_counters_json(const struct cp_daemon *cp);

#endif /* CP_METHODS_H */
