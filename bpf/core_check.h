/* SPDX-License-Identifier: BSD-3-Clause */
/* What core_check.bpf.c records per packet; read by tests/bpf-core-diff. */
#ifndef CORE_CHECK_H
#define CORE_CHECK_H

#include "elb_parse.h"

struct core_check_result {
	uint32_t parse_result; /* enum elb_parse_result */
	uint32_t pad;
	uint64_t hash; /* elb_flow_hash of pkt.key, for ELB_PARSE_IP */
	struct elb_packet pkt;
	uint32_t maglev_slot; /* elb_maglev_slot(hash, maglev_size) */
	uint8_t flow_state;   /* elb_flow_state_next(elb_flow_state_new(...), ...) */
	uint8_t admitted;     /* elb_token_bucket_admit of the packet's IP length */
	uint8_t pad2[2];
};

#endif
