/* SPDX-License-Identifier: BSD-3-Clause */
/* What core_check.bpf.c records per packet; read by tests/bpf-core-diff. */
#ifndef CORE_CHECK_H
#define CORE_CHECK_H

#include "elb_admission.h"
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

/* What core_check_admission records per step (tests/bpf/test_bpf_core_diff.c
 * holds the C side's copy): the source's cells in a sketch of
 * ADMISSION_COLUMN_BITS columns, the source limit's verdict and the
 * timestamps it would commit, and the budget's verdict. The state (cells,
 * budget state) is the program's globals, compared after each step. */
#define CORE_CHECK_COLUMN_BITS 12

struct core_check_admission {
	uint32_t cell_index[ELB_SOURCE_ROWS];
	uint32_t source_verdict; /* enum elb_source_verdict */
	uint32_t budget_verdict; /* enum elb_flow_admission, or 2: not asked */
	struct elb_source_check check;
};

#endif
