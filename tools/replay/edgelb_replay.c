/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * edgelb-replay --dataplane dpdk|xdp --config FILE --in IN.pcap --out OUT.pcap
 *               [--verdicts FILE.jsonl] [--flows N] [--mac MAC]
 *               [--socket PATH] [--pace-us N] [--hold-at N]... [--hold-every N]
 *
 * A pcap through one dataplane's own code, on the pcap's clock: one
 * verdict line per packet (elb_verdicts.h) and the frames it sends in
 * OUT.pcap, the same for both dataplanes on the same input
 * (tests/xdp/test_xdp_diff.py). The command line and what both do around
 * their packets (configure, serve --socket, hold) are elb_replay_options.h;
 * the packets are each backend's (replay.h): dp_replay.c for DPDK,
 * xdp_replay.c for XDP. A backend is here when its dataplane is built.
 */
#include <stdio.h>
#include <string.h>

#include "elb_dp_api.h"
#include "elb_version.h"
#include "replay.h"

struct replay_backend {
	const char *dataplane; /* the --dataplane value */
	int (*run)(struct elb_replay_options *o);
};

static const struct replay_backend backends[] = {
#ifdef ELB_REPLAY_HAVE_DPDK
	{"dpdk", dp_replay_run},
#endif
	{"xdp", xdp_replay_run},
};

int main(int argc, char **argv)
{
	struct elb_replay_options o;

	if (elb_version_requested(argc, argv))
		return elb_version_print("edgelb-replay", ELB_DP_PROTOCOL_VERSION);
	if (elb_replay_options_parse(argc, argv, &o))
		return 2;
	for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++)
		if (strcmp(backends[i].dataplane, o.dataplane) == 0)
			return backends[i].run(&o);
	fprintf(stderr, "edgelb-replay: --dataplane %s: not in this build (built without libdpdk)\n",
		o.dataplane);
	return 2;
}
