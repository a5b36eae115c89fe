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
 * the program loaded with flow tables of N = 2^18, 2^20, 2^22 entries per
 * CPU, filled from user space (bpf_map_update_batch) with N established
 * flows in all over the 100 backends, each in one CPU's table (as RSS
 * would place it), and
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
 *
 * With --admission, only this instead (docs/adversarial.md, "XDP"): admission
 * control (issue 18) on the real clock, alternated round by round: 65,536
 * established flows of a VIP without admission control and of one with
 * every limit configured (none reached); a SYN flood from 2^20 spoofed
 * sources to the latter (flood mode); and the established flows
 * interleaved 1:1 with that flood, whose cost against the mean of the two
 * alone is the interference ratio (1.00: the flood costs only its own
 * packets). The limits are edgelb-bench --adversarial's.
 *
 * With --quic, only this instead (docs/quic-lb.md): QUIC routing by
 * connection ID (issue 19), alternated round by round with the empty
 * program: 65,536 established flows of a plain UDP VIP; the same of a
 * QUIC VIP (plaintext QUIC-LB, 100 backends with server IDs) sending 1-RTT
 * packets whose CIDs name their flow's backend, under each configuration
 * (plaintext; single-pass AES; the four-pass network, three AES blocks);
 * and of the QUIC VIP sending Initials (the 5-tuple: the parse alone).
 *
 * With --katran KATRAN.o KATRAN-UNCAPPED.o, only this instead (README,
 * "XDP"; tools/xdp-katran-compare builds the two objects from a Katran
 * checkout outside this tree): Katran's balancer and edgelb side by side
 * on the same VIP, backends and frames, alternated round by round with the
 * empty program and the floors: new flows, one, 65,536 and 1M established
 * flows, not a VIP; ROWS (new,one,65k,1m,nonvip) runs only those. With
 * EDGELB_XDP_BENCH_AB=OBJ (another build of edgelb.bpf.o), that build's
 * program too, in the same rounds over the same maps. See bench_katran.
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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

/* One BPF_PROG_TEST_RUN of one frame: the kernel-reported duration in
 * ns; *action is the program's return. Exits on a failed call. */
static uint64_t run_frame(int prog_fd, const uint8_t *frame, uint32_t *action)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts, .repeat = 1);
	uint8_t out[256];

	opts.data_in = frame;
	opts.data_size_in = BENCH_FRAME_LEN;
	opts.data_out = out;
	opts.data_size_out = sizeof(out);
	if (bpf_prog_test_run_opts(prog_fd, &opts)) {
		fprintf(stderr, "BPF_PROG_TEST_RUN: %s\n", strerror(errno));
		exit(1);
	}
	*action = opts.retval;
	return opts.duration;
}

/* Average kernel-reported ns per call over `calls` calls, cycling through
 * n frames; *last_action is the program's return for the last frame. */
static double run_once(int prog_fd, const uint8_t *frames, uint32_t n, uint32_t calls,
		       uint32_t *last_action)
{
	uint64_t total = 0;

	for (uint32_t i = 0; i < calls; i++)
		total += run_frame(prog_fd, frames + (size_t)(i % n) * BENCH_FRAME_LEN, last_action);
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

/* Fill the flow tables with n flows over the snapshot's first 100 slots,
 * flow i in CPU i % ncpu's table. Returns 0 or -errno. */
static int fc_fill(struct xdp_dataplane *dp, uint32_t n, const uint32_t *slots, uint32_t n_slots)
{
	uint32_t ncpu = (uint32_t)dp->flows.n;
	struct elb_flow_id *keys = calloc(FC_BATCH, sizeof(*keys));
	struct elb_xdp_flow *values = calloc(FC_BATCH, sizeof(*values));
	uint32_t expiry = elb_flow_tick(fc_now_ns()) + elb_flow_ms_to_ticks(3600000);
	int rc = 0;

	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	if (keys == NULL || values == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	/* Per CPU: flows cpu, cpu + ncpu, ... in batches of FC_BATCH. */
	for (uint32_t cpu = 0; rc == 0 && cpu < ncpu; cpu++) {
		uint32_t i = cpu;

		while (rc == 0 && i < n) {
			uint32_t count = 0;

			memset(values, 0, FC_BATCH * sizeof(*values));
			for (; count < FC_BATCH && i < n; count++, i += ncpu) {
				uint32_t slot = slots[i % n_slots];
				struct elb_flow_id *key = &keys[count];
				struct elb_xdp_flow *f = &values[count];

				/* To 10.100.0.1:80/tcp, the only VIP of the config:
				 * index 0. */
				memset(key, 0, sizeof(*key));
				key->src.v4 = __builtin_bswap32(0x40000000u | (i >> 16));
				key->sport = __builtin_bswap16((uint16_t)i);
				key->dport = __builtin_bswap16(80);
				key->vip_index = dp->snap->vips[0].index;
				f->backend_id = slot;
				f->backend_gen = dp->snap->backends[slot].gen;
				f->state = ELB_FLOW_TCP_ESTABLISHED;
				f->expiry = expiry;
			}
			if (bpf_map_update_batch(dp->flows.fds[cpu], keys, values, &count, &opts))
				rc = -errno;
		}
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
	printf("One LRU_HASH flow table of max_entries N per CPU on %d possible CPUs, filled with "
	       "N established flows in all over 100 backends (flow i in CPU i %% ncpu's table), "
	       "counted with the "
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

/* Load and start the XDP dataplane with a flow table of `flows` entries,
 * apply configs[0..n) as epochs 1..n,
 * and load the floor programs beside it. 0, or 1 after saying what failed. */
static int load_with_floor(struct xdp_dataplane *dp, uint32_t flows,
			   struct elb_dp_config *const *configs, int n, struct bench_floor **floor_skel)
{
	char text[ELB_DP_APPLY_ERR_MAX] = "";

	dp->load_bench_floor = true; /* edgelb_floor_lookups, for --katran */
	if (xdp_dataplane_load(dp, flows, NULL) || xdp_dataplane_start(dp))
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
	if (load_with_floor(&dp, BENCH_XDP_FLOWS, (struct elb_dp_config *[]){before, after}, 2,
			    &floor_skel))
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

/* The configuration fmt names with its two VIPs' backends (%s, each
 * 10.200.0.1-100) and, between them, the text between (%s, before the
 * second); NULL after saying why. */
static struct elb_dp_config *config_of(const char *fmt, const char *between)
{
	struct elb_dp_config *cfg = NULL;
	struct elb_dp_err err;
	char backends[100 * 32], *json;
	size_t off = 0;

	for (int i = 0; i < 100; i++)
		off += (size_t)snprintf(backends + off, sizeof(backends) - off,
					"%s{\"address\": \"10.200.0.%d\"}", i ? "," : "", i + 1);
	json = malloc(strlen(fmt) + strlen(between) + 2 * off + 1);
	if (json == NULL)
		return NULL;
	sprintf(json, fmt, backends, between, backends);
	if (elb_dp_config_parse(json, strlen(json), &cfg, &err) < 0)
		fprintf(stderr, "config: %s\n", err.text);
	free(json);
	return cfg;
}

/* The main benchmark's configuration: VIP 10.100.0.1:80/tcp and the
 * rate-limited 10.100.0.2:80/tcp, 100 backends each (10.200.0.1-100). */
static struct elb_dp_config *main_config(void)
{
	static const char head[] =
		"{\"node\": {\"source_v4\": \"192.168.10.1\", \"gateway_mac\": \"02:00:00:00:00:fe\"},"
		" \"vips\": [{\"address\": \"10.100.0.1\", \"port\": 80, \"protocol\": \"tcp\","
		"  \"backends\": [%s]},%s"
		" {\"address\": \"10.100.0.2\", \"port\": 80, \"protocol\": \"tcp\","
		"  \"rate_limit\": {\"packets_per_s\": 1000, \"packet_burst\": 10}, \"backends\": [%s]}]}";

	return config_of(head, "");
}

/* ---- --quic ----------------------------------------------------------------------------- */

#define QUIC_FLOWS (1u << 16)
#define QUIC_ROUNDS 3
#define QUIC_PAYLOAD (BENCH_FRAME_LEN - 42) /* Ethernet, IPv4, UDP */

/* The QUIC VIP's configurations: config ID -> nonce length, key. */
#define QUIC_CONFIGS 3
static const uint8_t quic_nonce_len[QUIC_CONFIGS] = {6, 14, 8};
static const char *const quic_key_hex[QUIC_CONFIGS] = {NULL, "8f95f09245765f80256934e50c66207f",
						       "fdf726a9893ec05c0632d3956680baf0"};

/* VIP 10.100.0.6:443/udp (plain) and 10.100.0.7:443/udp (QUIC-LB: server
 * ID length 2; config 0 plaintext with a 6-octet nonce, 1 single pass, 2
 * four pass), backends 10.200.0.1-100, backend i with server ID i + 1. */
static struct elb_dp_config *quic_config(void)
{
	size_t cap = 64 * 1024, off = 0, poff = 0;
	char *json = malloc(cap), *plain = malloc(cap), *quic = malloc(cap);
	struct elb_dp_config *cfg = NULL;
	struct elb_dp_err err;

	for (int i = 0; json && plain && quic && i < 100; i++) {
		poff += (size_t)snprintf(plain + poff, cap - poff, "%s{\"address\": \"10.200.0.%d\"}",
					 i ? "," : "", i + 1);
		off += (size_t)snprintf(quic + off, cap - off,
					"%s{\"address\": \"10.200.0.%d\", \"quic_server_id\": \"%04x\"}",
					i ? "," : "", i + 1, i + 1);
	}
	if (json && plain && quic) {
		snprintf(json, cap,
			 "{\"node\": {\"source_v4\": \"192.168.10.1\", \"gateway_mac\": "
			 "\"02:00:00:00:00:fe\"}, \"vips\": ["
			 "{\"address\": \"10.100.0.6\", \"port\": 443, \"protocol\": \"udp\", "
			 "\"backends\": [%s]},"
			 "{\"address\": \"10.100.0.7\", \"port\": 443, \"protocol\": \"udp\", "
			 "\"quic\": {\"server_id_length\": 2, \"configs\": ["
			 "{\"id\": 0, \"nonce_length\": %u},"
			 "{\"id\": 1, \"nonce_length\": %u, \"key\": \"%s\"},"
			 "{\"id\": 2, \"nonce_length\": %u, \"key\": \"%s\"}]},"
			 " \"backends\": [%s]}]}",
			 plain, quic_nonce_len[0], quic_nonce_len[1], quic_key_hex[1], quic_nonce_len[2],
			 quic_key_hex[2], quic);
		if (elb_dp_config_parse(json, strlen(json), &cfg, &err) < 0)
			fprintf(stderr, "config: %s\n", err.text);
	}
	free(json);
	free(plain);
	free(quic);
	return cfg;
}

/* QUIC_FLOWS datagrams of distinct flows to vip:443: 1-RTT packets whose
 * DCID is the CID of server ID (flow % 100) + 1 under configuration
 * config_id (its nonce the flow's number), or Initials (config_id < 0); to
 * the plain VIP, the same bytes mean nothing. */
static uint8_t *quic_frames(uint32_t vip, int config_id)
{
	uint8_t *f = malloc((size_t)QUIC_FLOWS * BENCH_FRAME_LEN);
	struct elb_quic_lb_config c;
	uint8_t key[16];

	if (config_id >= 0) {
		for (int i = 0; quic_key_hex[config_id] && i < 16; i++)
			sscanf(quic_key_hex[config_id] + 2 * i, "%2hhx", &key[i]);
		elb_quic_lb_config_init(&c, 2, quic_nonce_len[config_id],
					quic_key_hex[config_id] ? key : NULL);
	}
	for (uint32_t k = 0; f && k < QUIC_FLOWS; k++) {
		uint8_t p[QUIC_PAYLOAD] = {0}, nonce[ELB_QUIC_PLAINTEXT_MAX] = {0};
		uint16_t sid = (uint16_t)(k % 100 + 1);

		if (config_id < 0) {
			/* v1 Initial, an 8-octet DCID of the client's, no SCID, no token. */
			static const uint8_t head[] = {0xc3, 0, 0, 0, 1, 8};

			memcpy(p, head, sizeof(head));
			memset(p + sizeof(head), 0x5c, 8);
		} else {
			uint8_t sid_octets[2] = {(uint8_t)(sid >> 8), (uint8_t)sid};

			_Static_assert(QUIC_PAYLOAD >= 2 + ELB_AES_BLOCK,
				       "the longest CID here (single pass) fits the frame");
			put_be32(nonce, k);
			p[0] = 0x41;
			elb_quic_lb_encode(&c, (uint32_t)config_id, sid_octets, nonce, p + 1);
		}
		bench_frame_ipv4_udp(f + (size_t)k * BENCH_FRAME_LEN, 0xc6120000u + (k >> 8),
				     (uint16_t)(10000 + (k & 0xff)), vip, 443, p, sizeof(p));
	}
	return f;
}

static int bench_quic(void)
{
	enum { CASES = 5 };
	struct xdp_dataplane dp = {.iface_mac = {0x02, 0, 0, 0, 0, 0x01}};
	struct elb_dp_config *cfg = quic_config();
	const char *names[CASES] = {
		"plain UDP VIP, 65536 flows (hits)",
		"QUIC VIP, 65536 flows (hits), 1-RTT routed by CID, plaintext",
		"the same, single-pass AES (one block)",
		"the same, four-pass network (three AES blocks)",
		"QUIC VIP, 65536 flows (hits), Initials (5-tuple)"};
	double best[CASES] = {0}, empty = 0;
	struct bench_floor *floor_skel;
	uint8_t *frames[CASES];
	int prog;

	if (cfg == NULL || load_with_floor(&dp, BENCH_XDP_FLOWS, &cfg, 1, &floor_skel))
		return 1;
	prog = bpf_program__fd(dp.skel->progs.edgelb_xdp);
	frames[0] = quic_frames(0x0a640006, 0);
	for (int c = 0; c < QUIC_CONFIGS; c++)
		frames[1 + c] = quic_frames(0x0a640007, c);
	frames[CASES - 1] = quic_frames(0x0a640007, -1);
	/* Learn the flows (the CIDs' backends for the QUIC VIP); each
	 * configuration's frames are flows of their own (other nonces). */
	for (int c = 0; c < CASES; c++)
		run_once(prog, frames[c], QUIC_FLOWS, QUIC_FLOWS, &(uint32_t){0});
	printf("# edgelb-xdp-bench --quic: ns per packet under BPF_PROG_TEST_RUN, best median "
	       "of %d alternated rounds\n\n",
	       QUIC_ROUNDS);
	for (int r = 0; r < QUIC_ROUNDS; r++) {
		double e = median_ns(bpf_program__fd(floor_skel->progs.floor_pass), frames[0], 1);

		empty = r == 0 || e < empty ? e : empty;
		for (int c = 0; c < CASES; c++) {
			double ns = median_ns(prog, frames[c], QUIC_FLOWS);

			best[c] = r == 0 || ns < best[c] ? ns : best[c];
		}
	}
	printf("| case | ns/pkt | above the empty program | above plain UDP |\n|---|---|---|---|\n");
	printf("| empty program, XDP_PASS | %.0f | | |\n", empty);
	for (int c = 0; c < CASES; c++)
		printf("| %s | %.0f | %.0f | %+.0f |\n", names[c], best[c], best[c] - empty,
		       best[c] - best[0]);
	bench_floor__destroy(floor_skel);
	xdp_dataplane_close(&dp);
	elb_dp_config_free(cfg);
	for (int c = 0; c < CASES; c++)
		free(frames[c]);
	return 0;
}

/* ---- --admission ------------------------------------------------------------------------ */

/* VIP 10.100.0.1:80/tcp without admission control and 10.100.0.3:80/tcp,
 * with_admission with edgelb-bench --adversarial's limits: packets/s per
 * /32 far above what an established source sends, 100 new flows/s per /24
 * and a budget of 10,000 new flows/s (a flood under BPF_PROG_TEST_RUN is
 * far above it); 100 backends each. As there, the established flows are
 * learned before the limits are set (they come from one /24). */
static struct elb_dp_config *adm_config(bool with_admission)
{
	static const char head[] =
		"{\"node\": {\"source_v4\": \"192.168.10.1\", \"gateway_mac\": \"02:00:00:00:00:fe\"},"
		" \"vips\": [{\"address\": \"10.100.0.1\", \"port\": 80, \"protocol\": \"tcp\","
		"  \"backends\": [%s]},"
		" {\"address\": \"10.100.0.3\", \"port\": 80, \"protocol\": \"tcp\", %s"
		"  \"backends\": [%s]}]}";
	static const char admission[] =
		"  \"admission\": {\"new_flows_per_s\": 10000, \"new_flow_burst\": 1000, \"sources\": ["
		"   {\"prefix_len\": 32, \"packets_per_s\": 10000000, \"packet_burst\": 100000},"
		"   {\"prefix_len\": 24, \"new_flows_per_s\": 100, \"new_flow_burst\": 50}]},";

	return config_of(head, with_admission ? admission : "");
}

#define ADM_SPOOFED (1u << 20)
#define ADM_FLOWS (1u << 16)

/* n SYNs to 10.100.0.3 from n distinct sources from base on (each its own
 * /32, nearly each its own /24), as edgelb-bench's spoofed flood. */
static uint8_t *adm_spoofed_syns(uint32_t n, uint32_t base)
{
	uint8_t *f = malloc((size_t)n * BENCH_FRAME_LEN);

	for (uint32_t k = 0; f && k < n; k++)
		bench_frame_ipv4_tcp(f + (size_t)k * BENCH_FRAME_LEN, base + k * 257u,
				     (uint16_t)(1024 + (k & 0x7fff)), 0x0a640003, ELB_TCP_SYN);
	return f;
}

/* A stream: the frames of a (na of them) or, with b, a's and b's (nb)
 * alternately; *cursor counts the stream's packets, so that each run goes
 * on where the last stopped (a flood's sources unseen for as long as b
 * lasts). */
struct adm_stream {
	const uint8_t *a, *b;
	uint32_t na, nb;
	uint64_t cursor;
};

static const uint8_t *adm_next(struct adm_stream *st)
{
	uint64_t k = st->cursor++;

	if (st->b == NULL)
		return st->a + (size_t)(k % st->na) * BENCH_FRAME_LEN;
	if (k % 2)
		return st->b + (size_t)((k / 2) % st->nb) * BENCH_FRAME_LEN;
	return st->a + (size_t)((k / 2) % st->na) * BENCH_FRAME_LEN;
}

/* Median over RUNS runs of CALLS packets of the stream: ns per packet. */
static double adm_median(int prog_fd, struct adm_stream *st)
{
	double ns[RUNS];
	uint32_t action;

	for (int r = 0; r < RUNS; r++) {
		uint64_t total = 0;

		for (uint32_t i = 0; i < CALLS; i++)
			total += run_frame(prog_fd, adm_next(st), &action);
		ns[r] = (double)total / CALLS;
	}
	qsort(ns, RUNS, sizeof(ns[0]), cmp_double);
	return ns[RUNS / 2];
}

/* The least of the rounds' figures, kept in *best. */
static void adm_keep_min(double *best, double ns)
{
	if (*best == 0 || ns < *best)
		*best = ns;
}

static int bench_admission(void)
{
	struct xdp_dataplane dp = {.iface_mac = {0x02, 0, 0, 0, 0, 0x01}};
	struct elb_dp_config *cfg = adm_config(false), *limits = adm_config(true);
	struct bench_floor *floor_skel;
	char text[ELB_DP_APPLY_ERR_MAX] = "";
	uint8_t *plain, *limited, *syns, *mix_syns, *one;
	double empty = 0, bare = 0, lim = 0, flood = 0, mix = 0;
	uint64_t stateless = 0, entries = 0, new_flows_limited = 0, est_forwarded = 0;
	uint32_t action = 0, index = 1;
	int prog, ncpu = libbpf_num_possible_cpus();

	if (cfg == NULL || limits == NULL || ncpu <= 0)
		return 1;
	if (load_with_floor(&dp, BENCH_XDP_FLOWS, &cfg, 1, &floor_skel))
		return 1;
	prog = bpf_program__fd(dp.skel->progs.edgelb_xdp);
	one = bench_make_frames(1, 0x0a640001, ELB_TCP_ACK, true);
	plain = bench_make_frames(ADM_FLOWS, 0x0a640001, ELB_TCP_ACK, false);
	limited = bench_make_frames(ADM_FLOWS, 0x0a640003, ELB_TCP_ACK, false);
	syns = adm_spoofed_syns(ADM_SPOOFED, 0x20000000u);
	mix_syns = adm_spoofed_syns(ADM_SPOOFED, 0x30000000u);
	if (!one || !plain || !limited || !syns || !mix_syns)
		return 1;
	/* The established flows, learned before the flood (mid-stream ACKs:
	 * entries, never a budget's). */
	run_once(prog, plain, ADM_FLOWS, ADM_FLOWS, &action);
	run_once(prog, limited, ADM_FLOWS, ADM_FLOWS, &action);
	if (xdp_ops.apply(&dp, limits, 2, text, sizeof(text))) {
		fprintf(stderr, "edgelb-xdp-bench: the limits: %s\n", text);
		return 1;
	}

	printf("# edgelb-xdp-bench --admission: ns per packet under BPF_PROG_TEST_RUN, real clock; "
	       "least of 3 rounds, alternated\n\n");
	{
		struct adm_stream bare_st = {.a = plain, .na = ADM_FLOWS};
		struct adm_stream lim_st = {.a = limited, .na = ADM_FLOWS};
		struct adm_stream flood_st = {.a = syns, .na = ADM_SPOOFED};
		struct adm_stream mix_st = {.a = limited, .na = ADM_FLOWS, .b = mix_syns,
					    .nb = ADM_SPOOFED};

		/* The established flows with the limits in force: all forwarded. */
		run_once(prog, limited, ADM_FLOWS, ADM_FLOWS, &action);
		for (uint32_t i = 0; i < ADM_FLOWS; i++) {
			run_frame(prog, limited + (size_t)i * BENCH_FRAME_LEN, &action);
			est_forwarded += action == XDP_TX;
		}
		for (int r = 0; r < 3; r++) {
			adm_keep_min(&empty, median_ns(bpf_program__fd(floor_skel->progs.floor_pass),
						       one, 1));
			/* Which of the two goes first alternates: neither
			 * always finds the other's cache lines. */
			if (r % 2) {
				adm_keep_min(&lim, adm_median(prog, &lim_st));
				adm_keep_min(&bare, adm_median(prog, &bare_st));
			} else {
				adm_keep_min(&bare, adm_median(prog, &bare_st));
				adm_keep_min(&lim, adm_median(prog, &lim_st));
			}
			adm_keep_min(&flood, adm_median(prog, &flood_st));
			adm_keep_min(&mix, adm_median(prog, &mix_st));
		}
	}
	{
		size_t stride = xdp_percpu_stride(sizeof(struct elb_flow_budget_state));
		size_t wstride = xdp_percpu_stride(sizeof(struct elb_worker_counters));
		uint8_t *v = calloc((size_t)ncpu, stride > wstride ? stride : wstride);
		uint32_t zero = 0;

		if (v && bpf_map_lookup_elem(bpf_map__fd(dp.skel->maps.flow_budgets), &index, v) == 0)
			for (int c = 0; c < ncpu; c++) {
				const struct elb_flow_budget_state *b =
					(const void *)(v + (size_t)c * stride);

				stateless += b->flood_flows;
				entries += b->flood_entries;
			}
		if (v && bpf_map_lookup_elem(bpf_map__fd(dp.skel->maps.counters), &zero, v) == 0)
			for (int c = 0; c < ncpu; c++)
				new_flows_limited += ((const struct elb_worker_counters *)(const void *)(
							      v + (size_t)c * wstride))
							     ->drops[ELB_REASON_SOURCE_NEW_FLOWS_LIMITED];
		free(v);
	}
	printf("| case | ns/pkt | above the empty program | note |\n|---|---|---|---|\n");
	printf("| empty program, XDP_PASS (the harness) | %.0f | - | |\n", empty);
	printf("| 65536 established flows, VIP without admission control | %.0f | %.0f | |\n",
	       bare, bare - empty);
	printf("| the same flows, VIP with every limit configured (none reached) | %.0f | %.0f | "
	       "x%.2f the VIP without, above the empty program; %llu of %u forwarded |\n",
	       lim, lim - empty, (lim - empty) / (bare - empty), (unsigned long long)est_forwarded,
	       ADM_FLOWS);
	printf("| SYN flood from 2^20 spoofed sources (flood mode) | %.0f | %.0f | flood mode "
	       "entered %llu times, %llu SYNs forwarded without an entry, %llu dropped over a "
	       "/24's new flows/s |\n",
	       flood, flood - empty, (unsigned long long)entries, (unsigned long long)stateless,
	       (unsigned long long)new_flows_limited);
	printf("| established flows and the flood interleaved 1:1 | %.0f | %.0f | interference "
	       "%.2f (mixed / mean of the two alone, above the empty program; 1.00 = none) |\n",
	       mix, mix - empty, (mix - empty) / ((lim - empty + flood - empty) / 2));
	bench_floor__destroy(floor_skel);
	xdp_dataplane_close(&dp);
	elb_dp_config_free(cfg);
	elb_dp_config_free(limits);
	free(one);
	free(plain);
	free(limited);
	free(syns);
	free(mix_syns);
	return 0;
}

/* ---- --katran ---------------------------------------------------------------------------- */

/*
 * Katran's XDP balancer (balancer.bpf.c) beside edgelb in one run, on the
 * same frames: tools/xdp-katran-compare builds the two objects from a
 * Katran checkout outside this tree and passes them here. Nothing of
 * Katran is in this tree but the layouts of the map entries written below,
 * as its balancer_structs.h defines them at commit 19f08fe.
 *
 * Both programs get one VIP 10.100.0.1:80/tcp with 100 backends (IPIP),
 * Maglev rings of 65537 and a flow table of KT_FLOWS entries on the CPU
 * they run on (Katran: an LRU_HASH in lru_mapping[cpu]; edgelb: its
 * LRU_PERCPU_HASH). Each case runs KT_ROUNDS rounds; a round runs the empty
 * program, the floor, Katran and edgelb (and the other build, kt_other),
 * taking turns at going first, then edgelb's floor for the case, CALLS
 * packets each. The ratio is taken per round above that round's
 * empty program; the table gives its median and range.
 */
#define KT_ROUNDS 7
#define KT_FLOWS (1u << 23)
#define KT_RING_SIZE 65537u /* Katran's RING_SIZE */
#define KT_BACKENDS 100u
#define KT_MILLION_FLOWS (1u << 20)

/* Katran's struct vip_definition, vip_meta, real_definition, ctl_value,
 * flow_key and real_pos_lru. */
struct kt_vip_definition {
	uint32_t addr[4]; /* network order; IPv4 in addr[0] */
	uint16_t port;    /* network order */
	uint8_t proto;
	uint8_t pad;
};
_Static_assert(sizeof(struct kt_vip_definition) == 20, "Katran vip_definition");

struct kt_vip_meta {
	uint32_t flags;
	uint32_t vip_num;
};

struct kt_real_definition {
	uint32_t addr[4];
	uint8_t flags;
	uint8_t pad[3];
};
_Static_assert(sizeof(struct kt_real_definition) == 20, "Katran real_definition");

#define KT_FLOW_KEY_SIZE 40u
#define KT_REAL_POS_LRU_SIZE 16u

struct kt_objects {
	struct bpf_object *capped;   /* as built by default (MAX_CONN_RATE 125k/s) */
	struct bpf_object *uncapped; /* MAX_CONN_RATE raised; shares capped's maps */
	int capped_fd, uncapped_fd, lru_fd;
};

static int kt_map_fd(struct bpf_object *obj, const char *name)
{
	struct bpf_map *map = bpf_object__find_map_by_name(obj, name);

	if (map == NULL) {
		fprintf(stderr, "edgelb-xdp-bench: Katran object has no map %s\n", name);
		return -1;
	}
	return bpf_map__fd(map);
}

/* Open and load a Katran object; with share, over share's maps. The
 * program's fd, or -1 after saying why. */
static int kt_load(const char *path, struct bpf_object *share, struct bpf_object **out)
{
	struct bpf_object *obj = bpf_object__open_file(path, NULL);
	struct bpf_program *prog;
	struct bpf_map *map;

	*out = NULL;
	if (libbpf_get_error(obj)) {
		fprintf(stderr, "edgelb-xdp-bench: opening %s failed\n", path);
		return -1;
	}
	*out = obj;
	bpf_object__for_each_map(map, obj) {
		const char *name = bpf_map__name(map);

		/* Internal maps (.rodata, .bss) stay each object's own. */
		if (share == NULL || name[0] == '.')
			continue;
		if (bpf_map__reuse_fd(map, kt_map_fd(share, name))) {
			fprintf(stderr, "edgelb-xdp-bench: sharing Katran map %s failed\n", name);
			return -1;
		}
	}
	prog = bpf_object__find_program_by_name(obj, "balancer_ingress");
	if (prog == NULL || bpf_object__load(obj)) {
		fprintf(stderr, "edgelb-xdp-bench: loading %s failed\n", path);
		return -1;
	}
	return bpf_program__fd(prog);
}

/* Katran's configuration as its control plane would write it: the VIP
 * (vip_num 0), reals 1..KT_BACKENDS (id 0 means "none" to Katran), the
 * VIP's ring (real ids in turn: every slot names a real, as a Maglev ring
 * does), the gateway MAC, and the flow table of the CPU we run on. */
static int kt_configure(struct kt_objects *kt, int cpu)
{
	struct bpf_object *obj = kt->capped;
	struct kt_vip_definition vip = {.proto = ELB_IPPROTO_TCP};
	struct kt_vip_meta meta = {.flags = 0, .vip_num = 0};
	uint64_t ctl = 0;
	uint8_t mac[6] = {0x02, 0, 0, 0, 0, 0xfe};
	uint32_t zero = 0, key = (uint32_t)cpu;
	int fd;

	vip.addr[0] = __builtin_bswap32(0x0a640001);
	vip.port = __builtin_bswap16(80);
	if ((fd = kt_map_fd(obj, "vip_map")) < 0 || bpf_map_update_elem(fd, &vip, &meta, BPF_ANY))
		return -1;
	if ((fd = kt_map_fd(obj, "reals")) < 0)
		return -1;
	for (uint32_t id = 1; id <= KT_BACKENDS; id++) {
		struct kt_real_definition real = {.addr = {__builtin_bswap32(0x0ac80000u + id)}};

		if (bpf_map_update_elem(fd, &id, &real, BPF_ANY))
			return -1;
	}
	if ((fd = kt_map_fd(obj, "ch_rings")) < 0)
		return -1;
	for (uint32_t pos = 0; pos < KT_RING_SIZE; pos++) {
		uint32_t id = 1 + pos % KT_BACKENDS;

		if (bpf_map_update_elem(fd, &pos, &id, BPF_ANY))
			return -1;
	}
	memcpy(&ctl, mac, sizeof(mac));
	if ((fd = kt_map_fd(obj, "ctl_array")) < 0 || bpf_map_update_elem(fd, &zero, &ctl, BPF_ANY))
		return -1;
	/* The inner map's flags must equal the template's (none). */
	kt->lru_fd = bpf_map_create(BPF_MAP_TYPE_LRU_HASH, "kt_lru", KT_FLOW_KEY_SIZE,
				    KT_REAL_POS_LRU_SIZE, KT_FLOWS, NULL);
	if (kt->lru_fd < 0 || (fd = kt_map_fd(obj, "lru_mapping")) < 0 ||
	    bpf_map_update_elem(fd, &key, &kt->lru_fd, BPF_ANY))
		return -1;
	return 0;
}

/* Average kernel-reported ns per call over `calls` calls, frames start,
 * start + 1, ... (mod n); counts calls whose action is not `expect`. */
static double run_from(int prog_fd, const uint8_t *frames, uint32_t n, uint32_t start,
		       uint32_t calls, uint32_t expect, uint32_t *unexpected)
{
	uint64_t total = 0;

	for (uint32_t i = 0; i < calls; i++) {
		uint32_t action;

		total += run_frame(prog_fd, frames + (size_t)((start + i) % n) * BENCH_FRAME_LEN,
				   &action);
		*unexpected += action != expect;
	}
	return (double)total / calls;
}

struct kt_case {
	const char *name;
	const uint8_t *frames;
	uint32_t n;
	bool rotate; /* each round starts CALLS frames further (distinct flows per round) */
	int katran_fd;
	uint32_t expect; /* XDP action of both programs */
	/* edgelb's floor for the row (edgelb_floor_lookups or _new_flow),
	 * or -1, on floor_frames (NULL: frames): the new-flow floor needs
	 * flows of its own, which neither program has seen. */
	int floor_fd;
	const uint8_t *floor_frames;
};

static void kt_cell(char *buf, size_t len, double *v)
{
	qsort(v, KT_ROUNDS, sizeof(v[0]), cmp_double);
	snprintf(buf, len, "%.0f / %.0f / %.0f", v[0], v[KT_ROUNDS / 2], v[KT_ROUNDS - 1]);
}

/* Per-round ratios, sorted in place: "median (min-max)", the median in
 * bold with `bold`. */
static void kt_ratio_cell(char *buf, size_t len, double *ratio, bool bold)
{
	const char *b = bold ? "**" : "";

	qsort(ratio, KT_ROUNDS, sizeof(ratio[0]), cmp_double);
	snprintf(buf, len, "%s%.2f%s (%.2f-%.2f)", b, ratio[KT_ROUNDS / 2], b, ratio[0],
		 ratio[KT_ROUNDS - 1]);
}

/*
 * edgelb_xdp of another build of bpf/edgelb.bpf.o (EDGELB_XDP_BENCH_AB),
 * over this run's maps, globals included (the two builds must declare the
 * same ones): an A/B of two builds within the same rounds, which this
 * machine's drift between processes (up to 40%) would otherwise drown.
 * fd -1: none. For new flows it gets SYNs of its own, as the floor does.
 */
static struct {
	int fd;
	struct bpf_object *obj;
	const uint8_t *syns;
} kt_other = {.fd = -1};

/* Remove the flows of frames[0..n) from edgelb's tables: those the
 * new-flow floor and the other build made, each right after it ran, so
 * that every program inserts into a table of edgelb's flows only, as
 * Katran does into its own. */
static void kt_forget(const struct xdp_dataplane *dp, const uint8_t *frames, uint32_t n)
{
	int vips_fd = bpf_map__fd(dp->skel->maps.vips);

	for (uint32_t i = 0; i < n; i++) {
		const uint8_t *f = frames + (size_t)i * BENCH_FRAME_LEN;
		struct elb_packet pkt;
		struct elb_flow_id id;

		if (elb_parse(f, f + BENCH_FRAME_LEN, &pkt) == ELB_PARSE_IP &&
		    xdp_flow_id_of(vips_fd, &pkt.key, &id) == 0)
			xdp_flow_tables_delete(&dp->flows, &id);
	}
}

/* One case, KT_ROUNDS alternated rounds: one table row (two with
 * kt_other). */
static void kt_row(const struct xdp_dataplane *dp, const struct kt_case *c, int empty_fd,
		   int floor_fd, int edgelb_fd, const uint8_t *one)
{
	double empty[KT_ROUNDS], floor[KT_ROUNDS], katran[KT_ROUNDS], edgelb[KT_ROUNDS];
	double lookups[KT_ROUNDS], other[KT_ROUNDS], ratio[KT_ROUNDS], floor_ratio[KT_ROUNDS];
	double other_ratio[KT_ROUNDS], this_vs_other[KT_ROUNDS];
	char ratio_cell[32], floor_cell[32] = "-", cells[5][64] = {"-", "-", "-", "-", "-"};
	uint32_t unexpected_k = 0, unexpected_e = 0, unexpected_l = 0, unexpected_o = 0, ignored = 0;
	int programs = kt_other.fd >= 0 ? 3 : 2;

	for (int r = 0; r < KT_ROUNDS; r++) {
		uint32_t start = c->rotate ? (uint32_t)r * CALLS : 0;

		empty[r] = run_from(empty_fd, one, 1, 0, CALLS, XDP_PASS, &ignored);
		floor[r] = run_from(floor_fd, one, 1, 0, CALLS, XDP_TX, &ignored);
		/* Katran, edgelb (and the other build) take turns going first. */
		for (int k = 0; k < programs; k++) {
			switch ((k + r) % programs) {
			case 0:
				katran[r] = run_from(c->katran_fd, c->frames, c->n, start, CALLS,
						     c->expect, &unexpected_k);
				break;
			case 1:
				edgelb[r] = run_from(edgelb_fd, c->frames, c->n, start, CALLS,
						     c->expect, &unexpected_e);
				break;
			default:
				other[r] = run_from(kt_other.fd,
						    c->floor_frames ? kt_other.syns : c->frames, c->n,
						    start, CALLS, c->expect, &unexpected_o);
				if (c->floor_frames)
					kt_forget(dp, kt_other.syns + (size_t)start * BENCH_FRAME_LEN,
						  CALLS);
			}
		}
		if (c->floor_fd >= 0)
			lookups[r] = run_from(c->floor_fd, c->floor_frames ? c->floor_frames : c->frames,
					      c->n, start, CALLS, XDP_TX, &unexpected_l);
		if (c->floor_frames)
			kt_forget(dp, c->floor_frames + (size_t)start * BENCH_FRAME_LEN, CALLS);
		ratio[r] = (edgelb[r] - empty[r]) / (katran[r] - empty[r]);
		if (c->floor_fd >= 0)
			floor_ratio[r] = (lookups[r] - empty[r]) / (katran[r] - empty[r]);
		if (programs == 3) {
			other_ratio[r] = (other[r] - empty[r]) / (katran[r] - empty[r]);
			this_vs_other[r] = (edgelb[r] - empty[r]) / (other[r] - empty[r]);
		}
	}
	kt_cell(cells[0], sizeof(cells[0]), empty);
	kt_cell(cells[1], sizeof(cells[1]), floor);
	kt_cell(cells[2], sizeof(cells[2]), katran);
	kt_cell(cells[3], sizeof(cells[3]), edgelb);
	if (c->floor_fd >= 0) {
		kt_cell(cells[4], sizeof(cells[4]), lookups);
		kt_ratio_cell(floor_cell, sizeof(floor_cell), floor_ratio, false);
	}
	kt_ratio_cell(ratio_cell, sizeof(ratio_cell), ratio, true);
	printf("| %s | %s | %s | %s | %s | %s | %s | %s |\n", c->name, cells[0], cells[1],
	       cells[2], cells[3], cells[4], ratio_cell, floor_cell);
	if (programs == 3) {
		char other_cell[64], vs_cell[32];

		kt_cell(other_cell, sizeof(other_cell), other);
		kt_ratio_cell(ratio_cell, sizeof(ratio_cell), other_ratio, true);
		kt_ratio_cell(vs_cell, sizeof(vs_cell), this_vs_other, false);
		printf("| (the other build: its edgelb in the edgelb column; this build / it above the "
		       "empty program: %s) | | | | %s | | %s | |\n",
		       vs_cell, other_cell, ratio_cell);
	}
	/* An unexpected action means one program measured something else. */
	if (unexpected_k || unexpected_e || unexpected_l || unexpected_o)
		printf("| (%s: %u Katran, %u edgelb, %u edgelb-floor, %u other-build packets did not "
		       "end in XDP_%s: row invalid) | | | | | | | |\n",
		       c->name, unexpected_k, unexpected_e, unexpected_l, unexpected_o,
		       action_name(c->expect));
	fflush(stdout);
}

/* Load kt_other from path over dp's maps; 0, or -1 after saying why. */
static int kt_other_load(const struct xdp_dataplane *dp, const char *path)
{
	struct bpf_program *prog;
	struct bpf_map *map;

	kt_other.obj = bpf_object__open_file(path, NULL);
	if (libbpf_get_error(kt_other.obj)) {
		kt_other.obj = NULL;
		fprintf(stderr, "edgelb-xdp-bench: opening %s failed\n", path);
		return -1;
	}
	bpf_object__for_each_map(map, kt_other.obj) {
		const char *name = bpf_map__name(map), *section = strchr(name, '.');
		struct bpf_map *mine = NULL, *m;

		/* Internal maps (.bss, .rodata, ...) are named after their object:
		 * matched by section. */
		bpf_object__for_each_map(m, dp->skel->obj) {
			const char *my_section = strchr(bpf_map__name(m), '.');

			if (section ? my_section && strcmp(section, my_section) == 0
				    : strcmp(name, bpf_map__name(m)) == 0)
				mine = m;
		}
		if (mine == NULL || bpf_map__reuse_fd(map, bpf_map__fd(mine))) {
			fprintf(stderr, "edgelb-xdp-bench: %s: map %s not shared\n", path,
				bpf_map__name(map));
			return -1;
		}
	}
	bpf_object__for_each_program(prog, kt_other.obj)
		bpf_program__set_autoload(prog, strcmp(bpf_program__name(prog), "edgelb_xdp") == 0);
	prog = bpf_object__find_program_by_name(kt_other.obj, "edgelb_xdp");
	if (prog == NULL || bpf_object__load(kt_other.obj)) {
		fprintf(stderr, "edgelb-xdp-bench: loading %s failed\n", path);
		return -1;
	}
	kt_other.fd = bpf_program__fd(prog);
	return 0;
}

/* Teach both programs the flows of frames[0..n): one pass each (Katran's
 * uncapped build, so that its rate guard skips no insert). */
static void kt_learn(const struct kt_objects *kt, int edgelb_fd, const uint8_t *frames, uint32_t n)
{
	uint32_t ignored = 0;

	run_from(kt->uncapped_fd, frames, n, 0, n, XDP_TX, &ignored);
	run_from(edgelb_fd, frames, n, 0, n, XDP_TX, &ignored);
}

/* Whether row `name` is among `rows` (a comma-separated list of new, one,
 * 65k, 1m, nonvip), or every row when rows is NULL: a profile or an A/B
 * of one row need not wait for the others. */
static bool kt_selected(const char *rows, const char *name)
{
	size_t len = strlen(name);

	for (const char *p = rows; p; p = strchr(p, ','), p = p ? p + 1 : NULL)
		if (strncmp(p, name, len) == 0 && (p[len] == ',' || p[len] == '\0'))
			return true;
	return rows == NULL;
}

static int bench_katran(const char *capped_path, const char *uncapped_path, const char *rows)
{
	struct xdp_dataplane dp = {.iface_mac = {0x02, 0, 0, 0, 0, 0x01}};
	struct kt_objects kt = {.lru_fd = -1};
	struct elb_dp_config *cfg = main_config();
	struct bench_floor *floor_skel = NULL;
	uint8_t *one, *many, *million, *syns, *nonvip;
	int edgelb_fd, empty_fd, floor_fd, lookups_fd, new_flow_fd, rc = 1;
	int cpu = sched_getcpu();

	if (cfg == NULL || load_with_floor(&dp, KT_FLOWS, &cfg, 1, &floor_skel))
		return 1;
	kt.capped_fd = kt_load(capped_path, NULL, &kt.capped);
	kt.uncapped_fd = kt.capped_fd < 0 ? -1 : kt_load(uncapped_path, kt.capped, &kt.uncapped);
	if (kt.uncapped_fd < 0 || kt_configure(&kt, cpu)) {
		fprintf(stderr, "edgelb-xdp-bench: Katran not loaded or configured: %s\n",
			strerror(errno));
		goto out;
	}
	edgelb_fd = bpf_program__fd(dp.skel->progs.edgelb_xdp);
	empty_fd = bpf_program__fd(floor_skel->progs.floor_pass);
	floor_fd = bpf_program__fd(floor_skel->progs.floor_swap_tx);
	lookups_fd = bpf_program__fd(dp.skel->progs.edgelb_floor_lookups);
	new_flow_fd = bpf_program__fd(dp.skel->progs.edgelb_floor_new_flow);
	one = bench_make_frames(1, 0x0a640001, ELB_TCP_ACK, true);
	many = bench_make_frames(1u << 16, 0x0a640001, ELB_TCP_ACK, false);
	million = bench_make_frames(KT_MILLION_FLOWS, 0x0a640001, ELB_TCP_ACK, false);
	/* Then the new-flow floor's own flows, and the other build's. */
	syns = bench_make_frames(3 * KT_ROUNDS * CALLS, 0x0a640001, ELB_TCP_SYN, false);
	nonvip = bench_make_frames(1, 0x0a640063, ELB_TCP_ACK, true);
	if (!one || !many || !million || !syns || !nonvip)
		goto out_frames;
	kt_other.syns = syns + (size_t)2 * KT_ROUNDS * CALLS * BENCH_FRAME_LEN;
	if (getenv("EDGELB_XDP_BENCH_AB") && kt_other_load(&dp, getenv("EDGELB_XDP_BENCH_AB")))
		goto out_frames;

	printf("# edgelb-xdp-bench --katran: edgelb and Katran side by side, ns per packet under "
	       "BPF_PROG_TEST_RUN (kernel-reported, one call per packet)\n\n");
	printf("60-byte Ethernet/IPv4/TCP frames, VIP 10.100.0.1:80/tcp, 100 backends, IPIP; flow "
	       "tables of %u entries on CPU %d. Cells: min / median / max over %d alternated rounds "
	       "of %u packets. Ratio: (edgelb - empty) / (Katran - empty) per round, median "
	       "(min-max); the floor's likewise.\n\n",
	       KT_FLOWS, cpu, KT_ROUNDS, CALLS);
	printf("| case | empty program | floor (parse, swap MACs, XDP_TX) | Katran | edgelb | "
	       "edgelb's floor (established: parse, VIP + flow + backend lookups, IPIP; new flows: "
	       "also SipHash, Maglev, LRU insert; no state, counters or checks) | edgelb / Katran "
	       "above the empty program | edgelb's floor / Katran, the same way |\n"
	       "|---|---|---|---|---|---|---|---|\n");
	fflush(stdout);
	/* New flows first, into empty tables: every SYN a distinct flow. */
	if (kt_selected(rows, "new")) {
		const uint8_t *floor_syns = syns + (size_t)KT_ROUNDS * CALLS * BENCH_FRAME_LEN;

		kt_row(&dp, &(struct kt_case){"new flows (distinct SYNs; Katran's MAX_CONN_RATE raised)",
					 syns, KT_ROUNDS * CALLS, true, kt.uncapped_fd, XDP_TX,
					 new_flow_fd, floor_syns},
		       empty_fd, floor_fd, edgelb_fd, one);
	}
	if (kt_selected(rows, "one")) {
		kt_learn(&kt, edgelb_fd, one, 1);
		kt_row(&dp, &(struct kt_case){"one established flow", one, 1, false, kt.capped_fd,
					 XDP_TX, lookups_fd, NULL},
		       empty_fd, floor_fd, edgelb_fd, one);
	}
	if (kt_selected(rows, "65k")) {
		kt_learn(&kt, edgelb_fd, many, 1u << 16);
		kt_row(&dp, &(struct kt_case){"65,536 established flows", many, 1u << 16, true,
					 kt.capped_fd, XDP_TX, lookups_fd, NULL},
		       empty_fd, floor_fd, edgelb_fd, one);
	}
	if (kt_selected(rows, "1m")) {
		kt_learn(&kt, edgelb_fd, million, KT_MILLION_FLOWS);
		kt_row(&dp, &(struct kt_case){"1M established flows", million, KT_MILLION_FLOWS, true,
					 kt.capped_fd, XDP_TX, lookups_fd, NULL},
		       empty_fd, floor_fd, edgelb_fd, one);
	}
	if (kt_selected(rows, "nonvip"))
		kt_row(&dp, &(struct kt_case){"not a VIP (XDP_PASS)", nonvip, 1, false, kt.capped_fd,
					 XDP_PASS, -1, NULL},
		       empty_fd, floor_fd, edgelb_fd, one);
	printf("\nThe tables then hold %u flows (the SYNs' and the ACKs' flows are the same "
	       "5-tuples: 1,048,576 in all).\n",
	       KT_MILLION_FLOWS);
	rc = 0;
out_frames:
	free(one);
	free(many);
	free(million);
	free(syns);
	free(nonvip);
out:
	if (kt.lru_fd >= 0)
		close(kt.lru_fd);
	bpf_object__close(kt_other.obj);
	bpf_object__close(kt.uncapped);
	bpf_object__close(kt.capped);
	bench_floor__destroy(floor_skel);
	xdp_dataplane_close(&dp);
	elb_dp_config_free(cfg);
	return rc;
}

int main(int argc, char **argv)
{
	struct xdp_dataplane dp = {.iface_mac = {0x02, 0, 0, 0, 0, 0x01}};
	struct bench_floor *floor_skel;
	struct elb_dp_config *cfg;
	uint8_t *one, *many, *syns, *nonvip, *limited;
	double empty_ns, floor_ns;
	cpu_set_t cpus;
	int prog;

	CPU_ZERO(&cpus);
	CPU_SET(0, &cpus);
	if (sched_setaffinity(0, sizeof(cpus), &cpus))
		perror("sched_setaffinity");
	if (argc == 2 && strcmp(argv[1], "--flow-count") == 0)
		return bench_flow_count();
	if (argc == 2 && strcmp(argv[1], "--second-chance") == 0)
		return bench_second_chance();
	if (argc == 2 && strcmp(argv[1], "--admission") == 0)
		return bench_admission();
	if (argc == 2 && strcmp(argv[1], "--quic") == 0)
		return bench_quic();
	if ((argc == 4 || argc == 5) && strcmp(argv[1], "--katran") == 0)
		return bench_katran(argv[2], argv[3], argc == 5 ? argv[4] : NULL);
	if (argc != 1) {
		fprintf(stderr, "usage: edgelb-xdp-bench [--flow-count | --second-chance | --admission | --quic | --katran "
				"KATRAN.o KATRAN-UNCAPPED.o [ROWS]]\n");
		return 2;
	}
	cfg = main_config();
	if (cfg == NULL)
		return 1;
	if (load_with_floor(&dp, BENCH_XDP_FLOWS, &cfg, 1, &floor_skel))
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
	return 0;
}
