/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The command line of edgelb-replay, one definition for both dataplanes:
 *   edgelb-replay --dataplane dpdk|xdp --config FILE --in IN.pcap --out OUT.pcap
 *                 [--verdicts FILE.jsonl] [--flows N] [--prefixes FILE]
 *                 [--socket PATH] [--pace-us N]   (serve the protocol meanwhile)
 *                 [--hold-at N]...                (with --socket: stop before packet N)
 *                 [--hold-every N]                (with --socket: and before every Nth)
 *                 [--mac MAC]                     (xdp: the source MAC it sends with)
 * and what both replays do the same way around their packets: configure
 * (through the control socket or not), serve the socket between bursts.
 */
#ifndef ELB_REPLAY_OPTIONS_H
#define ELB_REPLAY_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>

#include "elb_dp_api.h"

#define ELB_REPLAY_DEFAULT_FLOWS (1u << 18)
/* Packets between two services of the control socket (and two --pace-us
 * pauses): the DPDK replay's receive burst, which the XDP replay copies. */
#define ELB_REPLAY_BURST 32
/* The MAC of DPDK's net_pcap port, which the DPDK replay sends with: the XDP
 * replay uses it too by default, so that both write the same frames. */
#define ELB_REPLAY_DEFAULT_MAC {0x02, 0x70, 0x63, 0x61, 0x70, 0x00}

#define ELB_REPLAY_MAX_HOLDS 16

struct elb_replay_options {
	const char *dataplane; /* "dpdk" or "xdp" */
	const char *config_path;
	const char *in_path;
	const char *out_path;
	const char *verdicts_path; /* NULL: no verdict lines */
	const char *socket_path;   /* NULL: no control socket */
	const char *prefixes_path; /* NULL: no prefix lists (docs/prefix-lists.md) */
	uint32_t pace_us;          /* pause after each burst of ELB_REPLAY_BURST */
	uint32_t flows;            /* flow-table capacity */
	uint8_t mac[6];
	bool mac_given;
	/* --hold-at, ascending: before the packet of each index (0-based; the
	 * packet count holds after the last one) the replay stops, says so on
	 * stdout ("held before packet N") and serves the socket until SIGUSR1,
	 * so a test can ask (flow.explain, counters.get) or change things at a
	 * known point of the capture. */
	uint64_t hold_at[ELB_REPLAY_MAX_HOLDS];
	uint32_t n_holds;
	uint32_t next_hold; /* index into hold_at of the next hold */
	/* --hold-every N: the same before every packet index that is a
	 * multiple of N (0: none), and after the last packet if the count is
	 * one: a driver then moves the replay in lockstep with its changes. */
	uint32_t hold_every;
};

/* Whether a hold may still come (the replay then checks before each packet). */
static inline bool elb_replay_holds_ahead(const struct elb_replay_options *o)
{
	return o->next_hold < o->n_holds || o->hold_every != 0;
}

/* Parse argv into o; prints the usage and returns -EINVAL on a bad line. */
int elb_replay_options_parse(int argc, char **argv, struct elb_replay_options *o);

/*
 * Put `config` in force as epoch 1 through the dataplane's ops: with
 * --socket by opening the dataplane protocol there (*api is then set, to be
 * served by elb_replay_between_bursts and closed with elb_dp_api_close),
 * else by calling ops->apply once (*api NULL); then the --prefixes lists
 * likewise (through the protocol's path, or ops->apply_prefixes once, the
 * set then kept until the process ends).
 * @return 0, or -errno with the reason printed.
 */
int elb_replay_configure(const struct elb_replay_options *o, const struct elb_dp_config *config,
			 const struct elb_dp_ops *ops, void *ops_ctx, struct elb_dp_api **api);

/* After each burst: answer what the control socket has (api may be NULL),
 * then pause for --pace-us. */
void elb_replay_between_bursts(struct elb_dp_api *api, uint32_t pace_us);

/*
 * Ask before processing packet `next_packet` (0-based), and once more with
 * the packet count after the last: whether --hold-at or --hold-every asks
 * for a hold there (see struct elb_replay_options). Consumes a --hold-at.
 */
bool elb_replay_hold_due(struct elb_replay_options *o, const struct elb_dp_api *api,
			 uint64_t next_packet);

/* The hold: says so on stdout, answers the socket until SIGUSR1. The caller
 * holds no snapshot meanwhile (changes made then may reclaim them all). */
void elb_replay_hold(struct elb_dp_api *api, uint64_t next_packet);

#endif
