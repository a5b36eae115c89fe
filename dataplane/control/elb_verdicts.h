/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The verdict line of edgelb-replay, one JSON object per input packet, for
 * both dataplanes (the differential test compares them line by line):
 *   {"i":N,"verdict":"forward|reply|kernel|drop","reason":NAME|null,
 *    "vip":"A:P/proto"|null,"backend":ADDR|null,"new_flow":BOOL,
 *    "stateless":BOOL,"out_len":N,"epoch":N}
 * reason is set for drop and reply; backend for forward. stateless: a
 * flow's first packet forwarded in flood mode, with no flow entry
 * (elb_admission.h).
 */
#ifndef ELB_VERDICTS_H
#define ELB_VERDICTS_H

#include <stdint.h>
#include <stdio.h>

#include "elb_pipeline.h"

extern const char *const elb_verdict_names[ELB_VERDICT_COUNT];

/* Write the line of packet `index`, decided under `snap`. */
void elb_verdict_write(FILE *out, uint64_t index, const struct elb_snapshot *snap,
		       const struct elb_pipeline_result *res);

#endif
