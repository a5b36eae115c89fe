/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The node's VIPs announced over BGP through a BIRD 2 speaker that edgelb-cp
 * configures and, if none is running, starts (docs/fleet.md). The routers'
 * ECMP spreads clients over the nodes that announce; every node builds the
 * same Maglev tables from the same backends, so nothing is shared between
 * nodes.
 *
 * A prefix (/32, /128) of a VIP address is announced iff the node is not
 * drained or draining, a VIP on that address has a backend in service and
 * not draining, a neighbor of the prefix's family is configured (a session
 * carries its neighbor's family only), and every managed dataplane is
 * connected and has acknowledged the current state (a change gets
 * CP_BGP_ACK_GRACE_MS to be acknowledged before it counts as not
 * acknowledged, so that a routine backend change does not withdraw the
 * whole node). Evaluated every loop round.
 *
 * Fail static: edgelb-cp leaves BIRD running when it exits (or dies), and a
 * restarted edgelb-cp adopts the BIRD that answers on the control socket
 * without touching its routes until its own view has settled (dataplanes
 * acknowledged, first health results), or CP_BGP_SETTLE_MAX_MS.
 *
 * A service (controlplane/README.md): main wires it and lists its methods
 * after cp_methods (which are driven without it by tests/fuzz/fuzz_cp_rpc.c).
 */
#ifndef CP_BGP_H
#define CP_BGP_H

#include <stddef.h>
#include <stdint.h>

#include "cp_state.h"
#include "elb_rpc.h"

#define CP_BGP_ACK_GRACE_MS 3000u     /* a new generation unacknowledged this long withdraws */
#define CP_BGP_SETTLE_MAX_MS 10000u   /* an adopted speaker is left alone at most this long */
#define CP_BGP_CONNECT_RETRY_MS 200u  /* control socket not answering: tried again */
#define CP_BGP_START_BACKOFF_MS 500u  /* first restart of a dead speaker; doubles */
#define CP_BGP_START_BACKOFF_MAX_MS 10000u
#define CP_BGP_START_TIMEOUT_MS 10000u /* a started speaker silent this long is killed */
#define CP_BGP_COMMAND_TIMEOUT_MS 10000u
#define CP_BGP_RELOAD_RETRY_MS 1000u  /* after a refused configure */
#define CP_BGP_SHOW_INTERVAL_MS 1000u /* sessions read with `show protocols` */

/* Allocate the runtime if the config has "bgp" (cp->bgp stays NULL
 * otherwise): creates run_dir. @return 0 or -errno. */
int cp_bgp_init(struct cp_daemon *cp);
/* Close the control connection; BIRD keeps running (fail static). */
void cp_bgp_free(struct cp_daemon *cp);
void cp_bgp_tick(struct cp_daemon *cp, uint64_t now);
/* The control socket is readable or writable. */
void cp_bgp_event(struct cp_daemon *cp, uint32_t events);

/* node.get, node.drain, node.resume. */
extern const struct elb_rpc_method cp_bgp_methods[];
extern const size_t cp_bgp_n_methods;

/* BIRD's config for this announced set (exposed for the unit test). */
struct cp_bgp_prefix {
	union elb_addr addr;
	uint8_t family;
};
int cp_bgp_render_config(const struct cp_bgp_cfg *bgp, const struct cp_bgp_prefix *prefixes,
			 uint32_t n, char *buf, size_t len);

#endif /* CP_BGP_H */
