/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * edgelb-preflight's two outputs: aligned lines for people
 *
 *   FAIL  hugepages     node0: 0 of 0 2 MiB pages free, ...  ->  echo 59 > ...
 *
 * and one JSON document for scripts:
 *
 *   {"dataplane": "dpdk", "root": "/", "inputs": {...}, "memory": {...},
 *    "findings": [{"id": "hugepages", "subject": "node0", "status": "fail",
 *                  "text": "...", "fix": "..."}, ...],
 *    "summary": {"pass": 9, "warn": 5, "fail": 2}, "exit_status": 1}
 *
 * "memory" (DPDK only) is what edgelb-dp will allocate, from
 * preflight_need.h; "subject" and "fix" are "" when there is none.
 */
#ifndef PREFLIGHT_REPORT_H
#define PREFLIGHT_REPORT_H

#include <stdio.h>

#include <cjson/cJSON.h>

#include "preflight_checks.h"

/* The lines, then one of totals. @return 0 or -EIO. */
int pf_report_print_text(FILE *out, const struct pf_report *report);

/* The JSON document; NULL if out of memory. need may be NULL (XDP). */
cJSON *pf_report_to_json(const struct pf_input *in, const struct pf_memory_need *need,
			 const struct pf_report *report);

#endif /* PREFLIGHT_REPORT_H */
