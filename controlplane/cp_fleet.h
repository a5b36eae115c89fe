/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The fleet service (cp_fleet.c): agreement of the dataplanes' Maglev
 * tables with the desired state, the drain state machine, previews, and
 * fleet.get. It reads what the dataplane service polled (cp->dps: the last
 * vip.tables and counters of each) and acts on the state core (cp_commit
 * removes a drained backend when asked to).
 */
#ifndef CP_FLEET_H
#define CP_FLEET_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "cp_state.h"
#include "elb_rpc.h"

/* Compare the dataplanes' last vip.tables with the desired state and move
 * drains on (at now). */
void cp_fleet_tick(struct cp_daemon *cp, uint64_t now);
/* Add backend b of VIP v's drain state to out (health.get, fleet.get). */
void cp_fleet_backend_json(const struct cp_daemon *cp, uint32_t v, uint32_t b, cJSON *out);
/* backend.drain's own params (timeout_ms, remove_when_drained) on target
 * t, after the drain was committed, at now; result gets "drain". */
void cp_fleet_drain_started(struct cp_daemon *cp, struct cp_target *t, uint32_t timeout_ms,
			    bool remove_when_drained, uint64_t now, cJSON *result);
/* fleet.get: the operator method, listed by cp_methods.c. */
int cp_m_fleet_get(void *ctx, const cJSON *params, cJSON **result, struct elb_rpc_error *error);

#endif /* CP_FLEET_H */
