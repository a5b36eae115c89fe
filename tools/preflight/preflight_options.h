/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * edgelb-preflight's command line, into a struct pf_input. Separate from
 * main so that the tests parse a fixture's arguments exactly as the tool
 * does.
 */
#ifndef PREFLIGHT_OPTIONS_H
#define PREFLIGHT_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "preflight_checks.h"

struct pf_options {
	struct pf_input input;
	bool json;
	bool help;
};

/*
 * Parse argv (argv[0] is the program). On a usage error, err gets one line
 * saying what is wrong. The config file is not loaded here
 * (pf_input_load_config).
 * @return 0, or -EINVAL with err set.
 */
int pf_options_parse(int argc, char **argv, struct pf_options *out, char *err, size_t err_len);

/* The usage text. */
void pf_options_usage(FILE *out);

/* "0000:03:00.0" from "03:00.0" or "0000:03:00.0" (EAL accepts both).
 * @return 0 or -EINVAL. */
int pf_normalize_pci_addr(const char *text, char *out, size_t len);

/*
 * An EAL -l list (CPUs and ranges: "0-2", "0,2,3") into lcores, main (the
 * lowest, which EAL makes the main lcore unless --main-lcore says
 * otherwise) and workers (the others). @return 0 or -EINVAL.
 */
int pf_parse_lcores(const char *text, struct pf_cpuset *lcores, int *main_lcore,
		    struct pf_cpuset *workers);

#endif /* PREFLIGHT_OPTIONS_H */
