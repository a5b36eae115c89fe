/* SPDX-License-Identifier: BSD-3-Clause */
/* The dataplane daemons' shared command line; see elb_options.h. */
#include "elb_options.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "elb_compat.h"

enum {
	OPT_CONFIG = ELB_DP_OPTION_FIRST,
	OPT_STATE,
	OPT_SOCKET,
	OPT_FLOWS,
};

static const struct option shared_options[] = {
	{"config", required_argument, NULL, OPT_CONFIG},
	{"state", required_argument, NULL, OPT_STATE},
	{"socket", required_argument, NULL, OPT_SOCKET},
	{"flows", required_argument, NULL, OPT_FLOWS},
	{"help", no_argument, NULL, 'h'},
};

#define N_SHARED ELB_ARRAY_SIZE(shared_options)

int elb_parse_u32(const char *text, uint32_t min, uint32_t max, uint32_t *out)
{
	unsigned long long value;
	char *end;

	/* strtoull alone would take " 5", "+5" and wrap "-1". */
	if (!isdigit((unsigned char)text[0]))
		return -EINVAL;
	errno = 0;
	value = strtoull(text, &end, 10);
	if (errno || *end || value < min || value > max)
		return -EINVAL;
	*out = (uint32_t)value;
	return 0;
}

static int shared_option(const struct elb_dp_options_spec *spec, int val, const char *arg,
			 struct elb_dp_options *o)
{
	switch (val) {
	case OPT_CONFIG:
		o->config_path = arg;
		return 0;
	case OPT_STATE:
		o->state_path = arg;
		return 0;
	case OPT_SOCKET:
		o->socket_path = arg;
		return 0;
	case OPT_FLOWS:
		if (elb_parse_u32(arg, 1, spec->flows_max, &o->flows) == 0)
			return 0;
		fprintf(stderr, "%s: --flows: 1..%u\n", spec->program, spec->flows_max);
		return -EINVAL;
	default:
		spec->usage();
		return -EINVAL;
	}
}

int elb_dp_options_parse(int argc, char **argv, const struct elb_dp_options_spec *spec,
			 struct elb_dp_options *o)
{
	struct option longopts[ELB_DP_OPTIONS_MAX + 1] = {{0}};
	size_t n = 0;
	int val, rc;

	for (; spec->own != NULL && spec->own[n].name != NULL; n++) {
		if (n == ELB_DP_OPTIONS_MAX - N_SHARED) {
			fprintf(stderr, "%s: more options than ELB_DP_OPTIONS_MAX\n", spec->program);
			return -EINVAL;
		}
		longopts[n] = spec->own[n];
	}
	for (size_t i = 0; i < N_SHARED; i++)
		longopts[n++] = shared_options[i];
	/* 0: glibc starts a fresh scan from argv[1] (edgelb-dp parses what
	 * EAL's own getopt left; the tests parse several command lines). */
	optind = 0;
	while ((val = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if (val < ELB_DP_OPTION_FIRST && val != 'h' && val != '?')
			rc = spec->own_option(spec->ctx, val, optarg);
		else
			rc = shared_option(spec, val, optarg, o);
		if (rc < 0)
			return rc;
	}
	return optind;
}

struct elb_dp_api_options elb_dp_options_api(const struct elb_dp_options *o, const char *dataplane,
					     const struct elb_dp_config *initial)
{
	return (struct elb_dp_api_options){
		.socket_path = o->socket_path,
		.dataplane = dataplane,
		.state_path = o->state_path,
		.initial = initial,
	};
}
