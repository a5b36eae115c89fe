/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The command line both dataplane daemons share: --config, --state,
 * --socket and --flows mean the same in edgelb-dp and edgelb-xdp, so they
 * are read here, once; each daemon hands in only its own options (and its
 * usage text). Also the one strict number reader of the command-line tools.
 * Control path only.
 */
#ifndef ELB_OPTIONS_H
#define ELB_OPTIONS_H

#include <getopt.h>
#include <stdint.h>

#include "elb_dp_api.h"

/* What the shared options set. The caller fills the defaults before
 * parsing; an option not given leaves its member as it was. */
struct elb_dp_options {
	const char *config_path; /* --config FILE: startup configuration */
	const char *state_path;  /* --state FILE: persisted config, loaded at start */
	const char *socket_path; /* --socket PATH: dataplane protocol socket */
	uint32_t flows;          /* --flows N: flow-table capacity */
};

struct elb_dp_options_spec {
	const char *program;      /* "edgelb-dp": the prefix of every message */
	uint32_t flows_max;       /* --flows takes 1..flows_max */
	const struct option *own; /* the daemon's own long options, {NULL} ended;
				   * their vals must be below ELB_DP_OPTION_FIRST */
	/* One of own was given: store it. @return 0, or -EINVAL said on stderr. */
	int (*own_option)(void *ctx, int val, const char *arg);
	void *ctx;
	void (*usage)(void); /* on --help or an option neither knows */
};

/* getopt vals of the shared options: above any character a daemon uses. */
#define ELB_DP_OPTION_FIRST 0x100

/* The most long options, shared and own, one parse takes. */
#define ELB_DP_OPTIONS_MAX 16

/*
 * getopt_long over argv[0..argc) (argv[0] is the program): the shared
 * options into *o, the others through spec->own_option. --help and unknown
 * options print spec->usage.
 * @return the index of the first argument that is not an option, or
 *         -EINVAL (said on stderr).
 */
int elb_dp_options_parse(int argc, char **argv, const struct elb_dp_options_spec *spec,
			 struct elb_dp_options *o);

/*
 * What the shared options ask of the control socket: its path, the state
 * file and the starting config (--config's, loaded by the caller), for
 * elb_dp_api_open; dataplane: "dpdk" or "xdp". The rest stays 0 (defaults).
 */
struct elb_dp_api_options elb_dp_options_api(const struct elb_dp_options *o, const char *dataplane,
					     const struct elb_dp_config *initial);

/*
 * A decimal number in min..max: digits only (no sign, space or suffix).
 * @return 0, or -EINVAL (*out untouched).
 */
int elb_parse_u32(const char *text, uint32_t min, uint32_t max, uint32_t *out);

#endif /* ELB_OPTIONS_H */
