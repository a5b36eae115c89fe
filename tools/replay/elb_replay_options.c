/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <inttypes.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "elb_flow_table.h"
#include "elb_options.h"
#include "elb_replay_options.h"

static void usage(void)
{
	fprintf(stderr,
		"usage: edgelb-replay --dataplane dpdk|xdp --config FILE --in IN.pcap --out OUT.pcap\n"
		"                     [--verdicts FILE.jsonl] [--flows N] [--prefixes FILE]\n"
		"                     [--socket PATH] [--pace-us N] [--hold-at N]... [--hold-every N]\n"
		"                     [--mac MAC]                     (xdp)\n");
}

int elb_replay_options_parse(int argc, char **argv, struct elb_replay_options *o)
{
	static const struct option longopts[] = {
		{"dataplane", required_argument, NULL, 'd'}, {"config", required_argument, NULL, 'c'},
		{"in", required_argument, NULL, 'i'},        {"out", required_argument, NULL, 'o'},
		{"verdicts", required_argument, NULL, 'v'},  {"socket", required_argument, NULL, 's'},
		{"pace-us", required_argument, NULL, 'p'},   {"flows", required_argument, NULL, 'f'},
		{"mac", required_argument, NULL, 'm'},       {"hold-at", required_argument, NULL, 'H'},
		{"hold-every", required_argument, NULL, 'E'}, {"prefixes", required_argument, NULL, 'P'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	static const uint8_t default_mac[6] = ELB_REPLAY_DEFAULT_MAC;
	unsigned int m[6];
	int c;

	*o = (struct elb_replay_options){.dataplane = "dpdk", .flows = ELB_REPLAY_DEFAULT_FLOWS};
	memcpy(o->mac, default_mac, 6);
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'd':
			o->dataplane = optarg;
			break;
		case 'c':
			o->config_path = optarg;
			break;
		case 'i':
			o->in_path = optarg;
			break;
		case 'o':
			o->out_path = optarg;
			break;
		case 'v':
			o->verdicts_path = optarg;
			break;
		case 's':
			o->socket_path = optarg;
			break;
		case 'P':
			o->prefixes_path = optarg;
			break;
		case 'p':
			if (elb_parse_u32(optarg, 0, 10000000, &o->pace_us)) {
				fprintf(stderr, "edgelb-replay: --pace-us: 0..10000000\n");
				return -EINVAL;
			}
			break;
		case 'f':
			if (elb_parse_u32(optarg, 1, ELB_FLOW_MAX_CAPACITY, &o->flows)) {
				fprintf(stderr, "edgelb-replay: --flows: 1..%u\n", ELB_FLOW_MAX_CAPACITY);
				return -EINVAL;
			}
			break;
		case 'm':
			if (sscanf(optarg, "%2x:%2x:%2x:%2x:%2x:%2x", &m[0], &m[1], &m[2], &m[3], &m[4],
				   &m[5]) != 6) {
				fprintf(stderr, "edgelb-replay: --mac: like 02:00:00:00:00:01\n");
				return -EINVAL;
			}
			for (int i = 0; i < 6; i++)
				o->mac[i] = (uint8_t)m[i];
			o->mac_given = true;
			break;
		case 'H': {
			uint32_t at;

			if (o->n_holds == ELB_REPLAY_MAX_HOLDS ||
			    elb_parse_u32(optarg, 0, UINT32_MAX - 1, &at) ||
			    (o->n_holds && at <= o->hold_at[o->n_holds - 1])) {
				fprintf(stderr, "edgelb-replay: --hold-at: ascending packet indices, "
						"at most %d\n",
					ELB_REPLAY_MAX_HOLDS);
				return -EINVAL;
			}
			o->hold_at[o->n_holds++] = at;
			break;
		}
		case 'E':
			if (elb_parse_u32(optarg, 1, UINT32_MAX, &o->hold_every)) {
				fprintf(stderr, "edgelb-replay: --hold-every: 1..%u packets\n", UINT32_MAX);
				return -EINVAL;
			}
			break;
		default:
			usage();
			return -EINVAL;
		}
	}
	if (strcmp(o->dataplane, "dpdk") != 0 && strcmp(o->dataplane, "xdp") != 0) {
		fprintf(stderr, "edgelb-replay: --dataplane %s: 'dpdk' or 'xdp'\n", o->dataplane);
		return -EINVAL;
	}
	if (!o->config_path || !o->in_path || !o->out_path || optind != argc) {
		usage();
		return -EINVAL;
	}
	if ((o->n_holds || o->hold_every) && !o->socket_path) {
		fprintf(stderr, "edgelb-replay: --hold-at and --hold-every need --socket "
				"(nothing to do while held)\n");
		return -EINVAL;
	}
	if (strcmp(o->dataplane, "dpdk") == 0 && o->mac_given) {
		fprintf(stderr, "edgelb-replay: --mac: XDP replay only (DPDK sends with its port's)\n");
		return -EINVAL;
	}
	return 0;
}

static int configure_prefixes(const struct elb_replay_options *o, const struct elb_dp_ops *ops,
			      void *ops_ctx, struct elb_dp_api *api)
{
	/* Kept for the process's life: ops->apply_prefixes may keep it. */
	static struct elb_prefix_set *prefixes;
	struct elb_dp_err err = {0};
	int rc;

	rc = elb_prefix_set_load_file(o->prefixes_path, &prefixes, &err);
	if (rc == 0 && api) {
		rc = elb_dp_api_set_prefixes(api, prefixes, &err);
	} else if (rc == 0 && ops->apply_prefixes == NULL) {
		snprintf(err.text, sizeof(err.text), "this dataplane has no prefix lists");
		rc = -EOPNOTSUPP;
	} else if (rc == 0) {
		char text[ELB_DP_APPLY_ERR_MAX] = "";

		rc = ops->apply_prefixes(ops_ctx, prefixes, text, sizeof(text));
		snprintf(err.text, sizeof(err.text), "%s", text);
	}
	if (rc)
		fprintf(stderr, "edgelb-replay: --prefixes refused: %s\n",
			err.text[0] ? err.text : strerror(-rc));
	return rc;
}

int elb_replay_configure(const struct elb_replay_options *o, const struct elb_dp_config *config,
			 const struct elb_dp_ops *ops, void *ops_ctx, struct elb_dp_api **api)
{
	struct elb_dp_err err = {0};
	int rc;

	*api = NULL;
	if (o->socket_path) {
		struct elb_dp_api_options api_options = {
			.socket_path = o->socket_path, .dataplane = o->dataplane, .initial = config};

		rc = elb_dp_api_open(api, &api_options, ops, ops_ctx, &err);
	} else {
		char text[ELB_DP_APPLY_ERR_MAX];

		rc = ops->apply(ops_ctx, config, 1, text, sizeof(text));
		snprintf(err.text, sizeof(err.text), "%s", text);
	}
	if (rc) {
		fprintf(stderr, "edgelb-replay: configuration refused: %s\n",
			err.text[0] ? err.text : strerror(-rc));
		return rc;
	}
	return o->prefixes_path ? configure_prefixes(o, ops, ops_ctx, *api) : 0;
}

void elb_replay_between_bursts(struct elb_dp_api *api, uint32_t pace_us)
{
	if (api)
		elb_dp_api_poll(api, 0);
	if (pace_us) {
		struct timespec pause = {.tv_sec = pace_us / 1000000,
					 .tv_nsec = (long)(pace_us % 1000000) * 1000};

		nanosleep(&pause, NULL);
	}
}

static volatile sig_atomic_t hold_released;

static void release_hold(int sig)
{
	(void)sig;
	hold_released = 1;
}

bool elb_replay_hold_due(struct elb_replay_options *o, const struct elb_dp_api *api,
			 uint64_t next_packet)
{
	bool listed = o->next_hold < o->n_holds && o->hold_at[o->next_hold] == next_packet;
	bool periodic = o->hold_every != 0 && next_packet != 0 && next_packet % o->hold_every == 0;

	if (listed)
		o->next_hold++;
	return (listed || periodic) && api != NULL;
}

void elb_replay_hold(struct elb_dp_api *api, uint64_t next_packet)
{
	struct sigaction sa = {.sa_handler = release_hold};

	hold_released = 0;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	printf("held before packet %" PRIu64 "\n", next_packet);
	fflush(stdout);
	while (!hold_released)
		elb_dp_api_poll(api, 50);
}
