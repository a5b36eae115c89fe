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
};

#endif
