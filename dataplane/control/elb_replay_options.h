/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The command line of edgelb-replay, one definition for both dataplanes:
 *   edgelb-replay --dataplane dpdk|xdp --config FILE --in IN.pcap --out OUT.pcap
 *                 [--verdicts FILE.jsonl] [--flows N]
 *                 [--socket PATH] [--pace-us N]   (dpdk: serve the protocol meanwhile)
 *                 [--mac MAC]                     (xdp: the source MAC it sends with)
 */
#ifndef ELB_REPLAY_OPTIONS_H
#define ELB_REPLAY_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>

#define ELB_REPLAY_DEFAULT_FLOWS (1u << 18)
/* The MAC of DPDK's net_pcap port, which the DPDK replay sends with: the XDP
 * replay uses it too by default, so that both write the same frames. */
#define ELB_REPLAY_DEFAULT_MAC {0x02, 0x70, 0x63, 0x61, 0x70, 0x00}

struct elb_replay_options {
	const char *dataplane; /* "dpdk" or "xdp" */
	const char *config_path;
	const char *in_path;
	const char *out_path;
	const char *verdicts_path; /* NULL: no verdict lines */
	const char *socket_path;   /* NULL: no control socket */
	uint32_t pace_us;          /* pause after each burst */
	uint32_t flows;            /* flow-table capacity */
	uint8_t mac[6];
	bool mac_given;
};

/* Parse argv into o; prints the usage and returns -EINVAL on a bad line. */
int elb_replay_options_parse(int argc, char **argv, struct elb_replay_options *o);

#endif
