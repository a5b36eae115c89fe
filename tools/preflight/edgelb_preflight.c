/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * edgelb-preflight: run before a dataplane starts, says what the host lacks
 * for the configuration it is given (hugepages, CPU isolation, IRQs, the
 * NIC's driver, IOMMU and NUMA node, queues, MTU budget; for XDP the
 * kernel, BPF JIT, bpffs, lockdown and the driver's native XDP). Reads
 * only: every fix is printed, none is applied.
 *
 * Exit status: 0 when no finding failed (pass and warn only), 1 when one
 * did, 2 for a usage error, 3 when the checks could not run (out of
 * memory). The checks are in preflight_checks.c; this file is options,
 * output and the one exit.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "elb_version.h"
#include "preflight_checks.h"
#include "preflight_need.h"
#include "preflight_options.h"
#include "preflight_report.h"

#define EXIT_USAGE 2
#define EXIT_INTERNAL 3

/* Prints the report; returns the exit status. */
static int report_and_status(const struct pf_options *o, const struct pf_report *report)
{
	const struct pf_input *in = &o->input;
	struct pf_memory_need need, *need_given = NULL;

	if (!o->json)
		return pf_report_print_text(stdout, report) ? EXIT_INTERNAL
							    : pf_report_exit_status(report);
	if (in->dataplane == PF_DATAPLANE_DPDK &&
	    pf_memory_need(in->flows, in->mbufs,
			   pf_cpuset_count(&in->workers) ? pf_cpuset_count(&in->workers) : 1,
			   in->n_ports, &need) == 0)
		need_given = &need;
	{
		cJSON *doc = pf_report_to_json(in, need_given, report);
		char *text = doc ? cJSON_Print(doc) : NULL;
		int status = text ? pf_report_exit_status(report) : EXIT_INTERNAL;

		if (text && printf("%s\n", text) < 0)
			status = EXIT_INTERNAL;
		free(text);
		cJSON_Delete(doc);
		return status;
	}
}

int main(int argc, char **argv)
{
	struct pf_report report = {0};
	struct pf_options o;
	char err[512];
	int status, rc;

	if (elb_version_requested(argc, argv))
		return elb_version_print("edgelb-preflight", 0);
	rc = pf_options_parse(argc, argv, &o, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "edgelb-preflight: %s\n", err);
		pf_options_usage(stderr);
		status = EXIT_USAGE;
	} else if (o.help) {
		pf_options_usage(stdout);
		status = 0;
	} else {
		pf_input_load_config(&o.input);
		rc = pf_run_checks(&o.input, &report);
		if (rc) {
			fprintf(stderr, "edgelb-preflight: %s\n", strerror(-rc));
			status = EXIT_INTERNAL;
		} else {
			status = report_and_status(&o, &report);
		}
		pf_report_free(&report);
		pf_input_release(&o.input);
	}
	return status;
}
