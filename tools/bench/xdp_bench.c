/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * edgelb-xdp-bench: nanoseconds per packet of the XDP dataplane under
 * BPF_PROG_TEST_RUN, side by side in one run with an empty program and a
 * minimal forwarder (parse Ethernet/IPv4/TCP, swap MACs, XDP_TX).
 *
 * Method: one BPF_PROG_TEST_RUN per packet (repeat = 1), averaging the
 * duration the kernel reports, over many calls. With repeat > 1 the kernel
 * does not restore the packet between iterations, so an encapsulating
 * program would see its own output from the second one on (measured
 * nothing). Wall time around the syscall is not used (kernel entry costs
 * about 0.9 us here). Each row: median of 5 runs of CALLS calls; min and
 * max beside it. Pinned to one CPU (the flow table is per CPU).
 *
 * Traffic: 60-byte Ethernet/IPv4/TCP frames to VIP 10.100.0.1:80/tcp with
 * 100 backends, M = 65537, IPIP; the flow table holds 2^20 entries.
 *
 * With --flow-count, only this instead (docs/operator-tools.md, "Costs"):
 * the program loaded with a flow map of N = 2^18, 2^20, 2^22 entries,
 * filled from user space (bpf_map_update_batch) with N established flows
 * over the 100 backends, each live on one CPU (as RSS would place it), and
 * the time of the agent's walk for vip.tables (expiry checked) both ways,
 * side by side on the same map: the map-element iterator counting in the
 * kernel (what xdp_ops.flow_counts uses when it loads) and the batch
 * lookup from user space (its fallback): median of 5 walks each.
 *
 * With --second-chance, only this instead (README, "Second chance"): three
 * GUE VIPs whose 100 backends were all replaced by 100 new ones while the
 * old ones drain, so that every Maglev slot has a previous owner; 65,536
 * established flows each: second_chance off; on, flows learned from SYNs
 * (no alternate); on, flows learned mid-stream (every packet carries the
 * alternate).
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bench_floor.skel.h"
#include "bench_frames.h"
#include "edgelb_xdp_maps.h"
#include "elb_pipeline.h"
#include "xdp.h"
/* The skeleton names the core types: they must be defined first. */
#include "edgelb.skel.h"
#include "flow_count.skel.h"

#define CALLS 100000u
#define RUNS 5
#define BENCH_XDP_FLOWS (1u << 20)

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Average kernel-reported ns per call over `calls` calls, cycling through
 * n frames; *last_action is the program's return for the last frame. */
static double run_once(int prog_fd, const uint8_t *frames, uint32_t n, uint32_t calls,
		       uint32_t *last_action)
{
	uint8_t out[256];
	uint64_t total = 0;

	for (uint32_t i = 0; i < calls; i++) {
		LIBBPF_OPTS(bpf_test_run_opts, opts, .repeat = 1);

		opts.data_in = frames + (size_t)(i % n) * BENCH_FRAME_LEN;
		opts.data_size_in = BENCH_FRAME_LEN;
		opts.data_out = out;
		opts.data_size_out = sizeof(out);
		if (bpf_prog_test_run_opts(prog_fd, &opts)) {
			fprintf(stderr, "BPF_PROG_TEST_RUN: %s\n", strerror(errno));
			exit(1);
		}
		total += opts.duration;
		*last_action = opts.retval;
	}
	return (double)total / calls;
}

static const char *action_name(uint32_t a)
{
	static const char *const names[] = {"ABORTED", "DROP", "PASS", "TX", "REDIRECT"};

	return a < 5 ? names[a] : "?";
}

static void row(const char *what, int prog_fd, const uint8_t *frames, uint32_t n, uint32_t calls,
		double floor_ns)
{
	double ns[RUNS];
	uint32_t action = 0;

	for (int r = 0; r < RUNS; r++)
		ns[r] = run_once(prog_fd, frames, n, calls, &action);
	qsort(ns, RUNS, sizeof(ns[0]), cmp_double);
	printf("| %s | %.0f / %.0f / %.0f | %s | %.2f |\n", what, ns[0], ns[RUNS / 2],
	       ns[RUNS - 1], action_name(action), floor_ns > 0 ? ns[RUNS / 2] / floor_ns : 1.0);
	fflush(stdout);
}

static double median_ns(int prog_fd, const uint8_t *frames, uint32_t n)
{
	double ns[RUNS];
	uint32_t action;

	for (int r = 0; r < RUNS; r++)
		ns[r] = run_once(prog_fd, frames, n, CALLS, &action);
	qsort(ns, RUNS, sizeof(ns[0]), cmp_double);
	return ns[RUNS / 2];
}

/* ---- --flow-count ------------------------------------------------------------------------ */

#define FC_WALKS 5
#define FC_BATCH 4096u /* flows per bpf_map_update_batch */

static const char fc_config_head[] =
	"{\"node\": {\"source_v4\": \"192.168.10.1\", \"gateway_mac\": \"02:00:00:00:00:fe\"},"
	" \"vips\": [{\"address\": \"10.100.0.1\", \"port\": 80, \"protocol\": \"tcp\","
	"  \"backends\": [%s]}]}";

static uint64_t fc_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Fill the flow map with n flows over the snapshot's first 100 slots, flow i
 * live on CPU i % ncpu (the other CPUs' copies free). Returns 0 or -errno. */
static int fc_fill(struct xdp_dataplane *dp, uint32_t n, const uint32_t *slots, uint32_t n_slots)
{
	int fd = bpf_map__fd(dp->skel->maps.flows), ncpu = libbpf_num_possible_cpus();
	size_t stride = xdp_percpu_stride(sizeof(struct elb_xdp_flow));
	struct elb_flow_key *keys = calloc(FC_BATCH, sizeof(*keys));
	uint8_t *values = calloc((size_t)FC_BATCH * (size_t)ncpu, stride);
	uint32_t expiry = elb_flow_tick(fc_now_ns()) + elb_flow_ms_to_ticks(3600000);
	int rc = 0;

	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	if (keys == NULL || values == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	for (uint32_t first = 0; rc == 0 && first < n; first += FC_BATCH) {
		uint32_t count = n - first < FC_BATCH ? n - first : FC_BATCH;

		memset(values, 0, (size_t)FC_BATCH * (size_t)ncpu * stride);
		for (uint32_t k = 0; k < count; k++) {
			uint32_t i = first + k, slot = slots[i % n_slots];
			struct elb_flow_key *key = &keys[k];
			struct elb_xdp_flow *f = (void *)(values + ((size_t)k * (size_t)ncpu +
								    (size_t)(i % (uint32_t)ncpu)) *
									   stride);

			memset(key, 0, sizeof(*key));
			key->family = ELB_AF_INET;
			key->proto = ELB_IPPROTO_TCP;
			key->src.v4 = __builtin_bswap32(0x40000000u | (i >> 16));
			key->sport = __builtin_bswap16((uint16_t)i);
			key->dst.v4 = __builtin_bswap32(0x0a640001);
			key->dport = __builtin_bswap16(80);
			f->backend_id = slot;
			f->backend_gen = dp->snap->backends[slot].gen;
			f->state = ELB_FLOW_TCP_ESTABLISHED;
			f->expiry = expiry;
		}
		if (bpf_map_update_batch(fd, keys, values, &count, &opts))
			rc = -errno;
	}
out:
	free(keys);
	free(values);
	return rc;
}

/* One way of walking: median of FC_WALKS walks, and what the last counted. */
static int fc_walks(struct xdp_dataplane *dp, bool iterator, const uint32_t *slots,
		    uint32_t n_slots, uint64_t *per_slot, double *ms, uint64_t *counted)
{
	for (int r = 0; r < FC_WALKS; r++) {
		/* The agent's walk: expiry checked, on the walk's own clock. */
		struct xdp_flow_walk walk = {.check_expiry = true};
		uint64_t t0;
		int rc;

		memset(per_slot, 0, sizeof(*per_slot) * ELB_MAX_BACKEND_SLOTS);
		t0 = fc_now_ns();
		rc = iterator ? xdp_flow_count_iter(dp, dp->snap, &walk, per_slot)
			      : xdp_flow_count_batch(dp, dp->snap, &walk, per_slot);
		ms[r] = (double)(fc_now_ns() - t0) / 1e6;
		if (rc) {
			fprintf(stderr, "edgelb-xdp-bench: flow count (%s): %s\n",
				iterator ? "iterator" : "batch lookup", strerror(-rc));
			return rc;
		}
	}
	*counted = 0;
	for (uint32_t i = 0; i < n_slots; i++)
		*counted += per_slot[slots[i]];
	qsort(ms, FC_WALKS, sizeof(ms[0]), cmp_double);
	return 0;
}

static int bench_flow_count(void)
{
	static const unsigned int log2_sizes[] = {18, 20, 22};
	char backends[100 * 32], text[ELB_DP_APPLY_ERR_MAX], *json;
	uint64_t *per_slot = calloc(ELB_MAX_BACKEND_SLOTS, sizeof(*per_slot));
	struct elb_dp_config *cfg;
	struct elb_dp_err err;
	size_t off = 0;

	for (int i = 0; i < 100; i++)
		off += (size_t)snprintf(backends + off, sizeof(backends) - off,
					"%s{\"address\": \"10.200.0.%d\"}", i ? "," : "", i + 1);
	json = malloc(sizeof(fc_config_head) + off);
	sprintf(json, fc_config_head, backends);
	if (per_slot == NULL || elb_dp_config_parse(json, strlen(json), &cfg, &err) < 0) {
		fprintf(stderr, "config: %s\n", per_slot ? err.text : "out of memory");
		return 1;
	}
	printf("# edgelb-xdp-bench --flow-count: the agent's walk of the flow map (vip.tables)\n\n");
	printf("LRU_PERCPU_HASH flow map of max_entries N on %d possible CPUs, filled with N "
	       "established flows over 100 backends (each live on one CPU), counted with the "
	       "agent's expiry check by the map-element iterator (in the kernel) and by batch "
	       "lookup (1024 flows per bpf_map_lookup_batch, from user space), one after the "
	       "other on the same map; median of %d walks each.\n\n",
	       libbpf_num_possible_cpus(), FC_WALKS);
	printf("| N (max_entries) | walk | flows counted | fill s | walk ms (min / median / max) | "
	       "ns per flow |\n|---|---|---|---|---|---|\n");
	fflush(stdout);
	for (size_t z = 0; z < sizeof(log2_sizes) / sizeof(log2_sizes[0]); z++) {
		const uint32_t n = 1u << log2_sizes[z];
		/* ifname set: the agent's dataplane; nothing is attached. */
		struct xdp_dataplane dp = {.iface_mac = {0x02, 0, 0, 0, 0, 0x01},
					   .ifname = "(bench, not attached)"};
		uint32_t slots[100], n_slots = 0;
		uint64_t counted = 0, t0;
		double ms[FC_WALKS], fill_s;
		int rc;

		if (xdp_dataplane_load(&dp, n, NULL) || xdp_dataplane_start(&dp) ||
		    xdp_ops.apply(&dp, cfg, 1, text, sizeof(text))) {
			fprintf(stderr, "edgelb-xdp-bench: loading with %u flows failed (root?)\n", n);
			return 1;
		}
		if (dp.flow_count == NULL)
			fprintf(stderr, "edgelb-xdp-bench: no iterator (%s): batch lookup only\n",
				dp.flow_count_err);
		for (uint32_t sl = 0; sl < dp.snap->n_backend_slots && n_slots < 100; sl++)
			if (dp.snap->backends[sl].gen != 0)
				slots[n_slots++] = sl;
		t0 = fc_now_ns();
		rc = n_slots ? fc_fill(&dp, n, slots, n_slots) : -ENOENT;
		fill_s = (double)(fc_now_ns() - t0) / 1e9;
		if (rc) {
			fprintf(stderr, "edgelb-xdp-bench: filling %u flows: %s\n", n, strerror(-rc));
			xdp_dataplane_close(&dp);
			return 1;
		}
		for (int way = dp.flow_count ? 0 : 1; way < 2; way++) {
			bool iterator = way == 0;

			if (fc_walks(&dp, iterator, slots, n_slots, per_slot, ms, &counted)) {
				xdp_dataplane_close(&dp);
				return 1;
			}
			printf("| 2^%u | %s | %llu (%.1f%%) | %.1f | %.1f / %.1f / %.1f | %.0f |\n",
			       log2_sizes[z], iterator ? "iterator" : "batch lookup",
			       (unsigned long long)counted, 100.0 * (double)counted / n, fill_s, ms[0],
			       ms[FC_WALKS / 2], ms[FC_WALKS - 1], ms[FC_WALKS / 2] * 1e6 / n);
			fflush(stdout);
		}
		xdp_dataplane_close(&dp);
	}
	/* What loading the iterator adds to the dataplane's start. */
	{
		struct xdp_dataplane dp = {.iface_mac = {0x02, 0, 0, 0, 0, 0x01}};

		if (xdp_dataplane_load(&dp, 0, NULL) == 0 && dp.flow_count)
			printf("\nLoading and attaching the iterator: %.1f ms (the explain "
			       "instance: %.1f ms).\n",
			       (double)dp.flow_count_load_ns / 1e6, (double)dp.explain_load_ns / 1e6);
		xdp_dataplane_close(&dp);
	}
	elb_dp_config_free(cfg);
	free(json);
	free(per_slot);
	return 0;
}

/* Load and start the XDP dataplane, apply configs[0..n) as epochs 1..n,
 * and load the floor programs beside it. 0, or 1 after saying what failed. */
static int load_with_floor(struct xdp_dataplane *dp, struct elb_dp_config *const *configs, int n,
			   struct bench_floor **floor_skel)
{
	char text[ELB_DP_APPLY_ERR_MAX] = "";

	if (xdp_dataplane_load(dp, BENCH_XDP_FLOWS, NULL) || xdp_dataplane_start(dp))
		goto failed;
	for (int i = 0; i < n; i++)
		if (xdp_ops.apply(dp, configs[i], (uint64_t)i + 1, text, sizeof(text)))
			goto failed;
	*floor_skel = bench_floor__open_and_load();
	if (*floor_skel == NULL) {
		fprintf(stderr, "edgelb-xdp-bench: loading the floor programs failed\n");
		return 1;
	}
	return 0;
failed:
	fprintf(stderr, "edgelb-xdp-bench: loading the XDP dataplane failed (root?) %s\n", text);
	return 1;
}

/* ---- --second-chance --------------------------------------------------------------------- */

/* Three GUE VIPs, 10.100.0.3 (second chance off), .4 and .5 (on), with the
 * backends 10.200.0.1-100, or those draining and 10.201.0.1-100 active. */
static struct elb_dp_config *sc_config(bool replaced)
{
	static const char vip[] = "%s{\"address\": \"10.100.0.%d\", \"port\": 80, \"protocol\": "
				  "\"tcp\", \"encap\": \"gue\", \"second_chance\": %s, "
				  "\"backends\": [%s]}";
	size_t cap = 64 * 1024, off = 0, boff = 0;
	char *backends = malloc(cap), *json = malloc(4 * cap);
	struct elb_dp_config *cfg = NULL;
	struct elb_dp_err err;

	for (int i = 0; i < 100; i++)
		boff += (size_t)snprintf(backends + boff, cap - boff,
					 "%s{\"address\": \"10.200.0.%d\"%s}", i ? "," : "", i + 1,
					 replaced ? ", \"state\": \"draining\"" : "");
	for (int i = 0; replaced && i < 100; i++)
		boff += (size_t)snprintf(backends + boff, cap - boff,
					 ",{\"address\": \"10.201.0.%d\"}", i + 1);
	off += (size_t)snprintf(json + off, 4 * cap - off,
				"{\"node\": {\"source_v4\": \"192.168.10.1\", "
				"\"gateway_mac\": \"02:00:00:00:00:fe\"}, \"vips\": [");
	for (int v = 3; v <= 5; v++)
		off += (size_t)snprintf(json + off, 4 * cap - off, vip, v > 3 ? "," : "", v,
					v > 3 ? "true" : "false", backends);
	snprintf(json + off, 4 * cap - off, "]}");
	if (elb_dp_config_parse(json, strlen(json), &cfg, &err) < 0)
		fprintf(stderr, "config: %s\n", err.text);
	free(backends);
	free(json);
	return cfg;
}

static int bench_second_chance(void)
{
	struct xdp_dataplane dp = {.iface_mac = {0x02, 0, 0, 0, 0, 0x01}};
	struct elb_dp_config *before = sc_config(false), *after = sc_config(true);
	uint8_t *acks[3], *syns;
	struct bench_floor *floor_skel;
	double floor_ns;
	int prog;

	if (before == NULL || after == NULL)
		return 1;
	if (load_with_floor(&dp, (struct elb_dp_config *[]){before, after}, 2, &floor_skel))
		return 1;
	prog = bpf_program__fd(dp.skel->progs.edgelb_xdp);
	for (int v = 0; v < 3; v++)
		acks[v] = bench_make_frames(1u << 16, 0x0a640003 + (uint32_t)v, ELB_TCP_ACK, false);
	syns = bench_make_frames(1u << 16, 0x0a640004, ELB_TCP_SYN, false);
	/* Learn the flows: .3 and .5 from their ACKs (mid-stream), .4 from SYNs. */
	run_once(prog, acks[0], 1u << 16, 1u << 16, &(uint32_t){0});
	run_once(prog, syns, 1u << 16, 1u << 16, &(uint32_t){0});
	run_once(prog, acks[2], 1u << 16, 1u << 16, &(uint32_t){0});

	printf("# edgelb-xdp-bench --second-chance: ns per packet under BPF_PROG_TEST_RUN\n\n");
	printf("| program, case | ns/pkt min / median / max | action | x floor |\n|---|---|---|---|\n");
	floor_ns = median_ns(bpf_program__fd(floor_skel->progs.floor_swap_tx), acks[0], 1);
	row("floor: parse Eth/IPv4/TCP, swap MACs, XDP_TX",
	    bpf_program__fd(floor_skel->progs.floor_swap_tx), acks[0], 1, CALLS, floor_ns);
	for (int round = 0; round < 2; round++) {
		row("edgelb, 65536 flows (hits), GUE, second_chance off", prog, acks[0], 1u << 16,
		    CALLS, floor_ns);
		row("edgelb, 65536 flows (hits), GUE, second_chance on, learned from SYNs", prog,
		    acks[1], 1u << 16, CALLS, floor_ns);
		row("edgelb, 65536 flows (hits), GUE, second_chance on, learned mid-stream (alternate)",
		    prog, acks[2], 1u << 16, CALLS, floor_ns);
	}
	bench_floor__destroy(floor_skel);
	xdp_dataplane_close(&dp);
	elb_dp_config_free(before);
	elb_dp_config_free(after);
	for (int v = 0; v < 3; v++)
		free(acks[v]);
	free(syns);
	return 0;
}

int main(int argc, char **argv)
{
	static const char head[] =
		"{\"node\": {\"source_v4\": \"192.168.10.1\", \"gateway_mac\": \"02:00:00:00:00:fe\"},"
		" \"vips\": [{\"address\": \"10.100.0.1\", \"port\": 80, \"protocol\": \"tcp\","
		"  \"backends\": [%s]},"
		" {\"address\": \"10.100.0.2\", \"port\": 80, \"protocol\": \"tcp\","
		"  \"rate_limit\": {\"packets_per_s\": 1000, \"packet_burst\": 10}, \"backends\": [%s]}]}";
	struct xdp_dataplane dp = {.iface_mac = {0x02, 0, 0, 0, 0, 0x01}};
	struct bench_floor *floor_skel;
	struct elb_dp_config *cfg;
	struct elb_dp_err err;
	char backends[100 * 32], *json;
	uint8_t *one, *many, *syns, *nonvip, *limited;
	double empty_ns, floor_ns;
	cpu_set_t cpus;
	size_t off = 0;
	int prog;

	CPU_ZERO(&cpus);
	CPU_SET(0, &cpus);
	if (sched_setaffinity(0, sizeof(cpus), &cpus))
		perror("sched_setaffinity");
	if (argc == 2 && strcmp(argv[1], "--flow-count") == 0)
		return bench_flow_count();
	if (argc == 2 && strcmp(argv[1], "--second-chance") == 0)
		return bench_second_chance();
	if (argc != 1) {
		fprintf(stderr, "usage: edgelb-xdp-bench [--flow-count | --second-chance]\n");
		return 2;
	}
	for (int i = 0; i < 100; i++)
		off += (size_t)snprintf(backends + off, sizeof(backends) - off,
					"%s{\"address\": \"10.200.0.%d\"}", i ? "," : "", i + 1);
	json = malloc(sizeof(head) + 2 * off);
	sprintf(json, head, backends, backends);
	if (elb_dp_config_parse(json, strlen(json), &cfg, &err) < 0) {
		fprintf(stderr, "config: %s\n", err.text);
		return 1;
	}
	if (load_with_floor(&dp, &cfg, 1, &floor_skel))
		return 1;
	prog = bpf_program__fd(dp.skel->progs.edgelb_xdp);

	one = bench_make_frames(1, 0x0a640001, ELB_TCP_ACK, true);
	many = bench_make_frames(1u << 16, 0x0a640001, ELB_TCP_ACK, false);
	syns = bench_make_frames(CALLS * RUNS, 0x0a640001, ELB_TCP_SYN, false);
	nonvip = bench_make_frames(1, 0x0a640063, ELB_TCP_ACK, true);
	limited = bench_make_frames(1, 0x0a640002, ELB_TCP_ACK, true);

	printf("# edgelb-xdp-bench: ns per packet under BPF_PROG_TEST_RUN (kernel-reported)\n\n");
	printf("| program, case | ns/pkt min / median / max | action | x floor |\n|---|---|---|---|\n");
	empty_ns = median_ns(bpf_program__fd(floor_skel->progs.floor_pass), one, 1);
	floor_ns = median_ns(bpf_program__fd(floor_skel->progs.floor_swap_tx), one, 1);
	row("empty program, XDP_PASS (the harness's own cost)",
	    bpf_program__fd(floor_skel->progs.floor_pass), one, 1, CALLS, floor_ns);
	row("floor: parse Eth/IPv4/TCP, swap MACs, XDP_TX",
	    bpf_program__fd(floor_skel->progs.floor_swap_tx), one, 1, CALLS, floor_ns);
	/* New flows first, while the table is empty: every SYN a distinct flow. */
	{
		double ns = 0;
		uint32_t action = 0;

		for (int r = 0; r < RUNS; r++)
			ns += run_once(prog, syns + (size_t)r * CALLS * BENCH_FRAME_LEN, CALLS, CALLS,
				       &action);
		printf("| edgelb, new flows (%u distinct SYNs into an empty %u-entry table) | %.0f (mean) "
		       "| %s | %.2f |\n",
		       CALLS * RUNS, BENCH_XDP_FLOWS, ns / RUNS, action_name(action),
		       ns / RUNS / floor_ns);
	}
	run_once(prog, one, 1, 10, &(uint32_t){0});
	row("edgelb, established flow (one flow, flow-table hit), IPIP", prog, one, 1, CALLS, floor_ns);
	run_once(prog, many, 1u << 16, 1u << 16, &(uint32_t){0});
	row("edgelb, established flows (65536 flows, hits), IPIP", prog, many, 1u << 16, CALLS,
	    floor_ns);
	row("edgelb, one flow over its rate limit (dropped)", prog, limited, 1, CALLS, floor_ns);
	row("edgelb, not for a VIP (XDP_PASS)", prog, nonvip, 1, CALLS, floor_ns);
	printf("\nThe harness alone (empty program): %.0f ns.\n", empty_ns);

	bench_floor__destroy(floor_skel);
	xdp_dataplane_close(&dp);
	elb_dp_config_free(cfg);
	free(json);
	return 0;
}
