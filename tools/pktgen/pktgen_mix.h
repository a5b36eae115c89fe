/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The traffic mix of edgelb-pktgen: how many packets of each kind, how they
 * are spread over flows, and how the flows interleave in time.
 */
#ifndef PKTGEN_MIX_H
#define PKTGEN_MIX_H

#include <stdint.h>
#include <stdio.h>

#include "pktgen.h"

/* Shares of the packets, in per mille; client flows get what is left. */
struct mix_profile {
	const char *name;
	unsigned int malformed;
	unsigned int non_vip;
	unsigned int fragment;
	unsigned int icmp_error;
	unsigned int big;
	unsigned int rate_flood_max; /* a cap: rate floods are --rate-flows x 200 */
	const char *summary;
};

const struct mix_profile *mix_find(const char *name);
void mix_describe(FILE *out);

struct gen_config {
	const char *pcap_path;
	const char *truth_path; /* NULL: none */
	uint64_t packets;
	uint64_t seed;
	uint64_t flows;
	uint64_t rate_flows;
	uint64_t start_ns;
	uint64_t pps;
	const struct mix_profile *mix;
	struct gen_net net;
};

/* Write cfg->packets frames. @return 0, or -1 after saying why on stderr. */
int mix_generate(const struct gen_config *cfg);

#endif /* PKTGEN_MIX_H */
