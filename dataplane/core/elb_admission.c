/* SPDX-License-Identifier: BSD-3-Clause */
/* Control-path part of admission control; see elb_admission.h. */
#include <errno.h>

#include "elb_admission.h"
#include "elb_flow.h"

int elb_source_limit_init(struct elb_source_limit *out, uint8_t family, uint8_t prefix_len,
			  uint64_t packets_per_s, uint64_t packet_burst, uint64_t new_flows_per_s,
			  uint64_t new_flow_burst)
{
	struct elb_rate_limit packets, flows;
	int rc;

	if (out == NULL || (family != ELB_AF_INET && family != ELB_AF_INET6) || prefix_len == 0 ||
	    prefix_len > (family == ELB_AF_INET ? 32 : 128))
		return -EINVAL;
	/* The same arithmetic as a per-flow limit's packet dimension. */
	rc = elb_rate_limit_init(&packets, packets_per_s, packet_burst, 0, 0);
	if (rc == 0)
		rc = elb_rate_limit_init(&flows, new_flows_per_s, new_flow_burst, 0, 0);
	if (rc)
		return rc;
	*out = (struct elb_source_limit){
		.pkt_interval = packets.pkt_interval,
		.pkt_tolerance = packets.pkt_tolerance,
		.flow_interval = flows.pkt_interval,
		.flow_tolerance = flows.pkt_tolerance,
		.prefix_len = prefix_len,
		.family = family,
	};
	return 0;
}

int elb_flow_budget_init(struct elb_flow_budget *out, uint64_t new_flows_per_s, uint64_t burst)
{
	struct elb_rate_limit rl;
	int rc;

	if (out == NULL)
		return -EINVAL;
	rc = elb_rate_limit_init(&rl, new_flows_per_s, burst, 0, 0);
	if (rc)
		return rc;
	*out = (struct elb_flow_budget){
		.interval = rl.pkt_interval,
		.tolerance = rl.pkt_tolerance,
		/* Half the rate over one window. */
		.exit_flows = new_flows_per_s * (ELB_FLOOD_WINDOW_NS / 1000000) / 1000 / 2,
	};
	return 0;
}

void elb_source_keys_init(struct elb_source_keys *keys, const struct elb_hash_seed *seed)
{
	const struct elb_hash_seed key = {
		.k0 = seed->k0 ^ 0x736f757263652d30ull, /* "source-0" */
		.k1 = seed->k1 ^ 0x736f757263652d31ull,
	};
	uint64_t counter = 0;

	for (uint32_t r = 0; r < ELB_SOURCE_ROWS; r++) {
		for (uint32_t c = 0; c < ELB_SOURCE_KEY_CHUNKS; c++, counter++)
			keys->mul[r][c] = elb_siphash13_words(&counter, 1, &key);
		keys->add[r] = elb_siphash13_words(&counter, 1, &key);
		counter++;
	}
}
