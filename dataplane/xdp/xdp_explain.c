/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * flow.explain for the XDP dataplane (struct elb_dp_ops.explain, see
 * dataplane/control/elb_explain.h): the real program decides, on a copy of
 * the flow's state, and nothing live is written. Control path.
 *
 * The explain instance is bpf/edgelb.bpf.c opened and loaded a second time
 * from the same skeleton, unmodified. Its maps are of two kinds:
 *   shared   the live instance's own maps (bpf_map__reuse_fd): what the
 *            control thread writes and the program only reads. The Maglev
 *            tables and the prefix trie are swapped inside the shared outer
 *            maps, so the explain instance sees every change; the live maps
 *            themselves are never recreated while the process runs, so the
 *            reuse is done once.
 *   scratch  what the program writes per packet: the flow tables (one
 *            table of a few entries, holding the one flow being explained,
 *            put in every CPU's entry of the instance's own outer map) and
 *            the counters. The live flows and counters are never written.
 * Its globals (.bss) are its own: the live ones (node_config, vip_filter,
 * source_keys, the flow clock) are copied in before each run.
 *
 * Admission control: the run starts from the admission state of the CPU
 * whose flow entry is used (CPU 0 for a miss, as DPDK takes worker 0): that
 * CPU's budget state of the VIP and the packet's cells of its sketch are
 * copied into the scratch maps, for every CPU (the run's CPU is not known
 * beforehand), and cleared after the run.
 *
 * One explain: parse the frame (elb_parse, as the program does) for its
 * flow key, read every CPU's live flow table (a user-space lookup does not
 * touch the LRU order: the kernel's lookup for user space leaves the
 * element unmarked), copy the entry in use to the scratch table, which
 * every CPU's entry names (BPF_PROG_TEST_RUN runs on the calling CPU,
 * whichever it is), or delete the key for a miss, and run the program on
 * the frame with BPF_PROG_TEST_RUN.
 *
 * Clock: the program's test clock (use_test_clock), so that the decision,
 * run->now_ns and the flow's expiry as reported are judged at one instant.
 * The agent sets it to CLOCK_MONOTONIC, which is bpf_ktime_get_ns() (the
 * token buckets' clock) and what the jiffies flow clock reads to within a
 * jiffy; the replay to the pcap time of its next packet.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>

#include "edgelb_xdp_maps.h"
#include "elb_explain_run.h"
#include "elb_parse.h"
#include "xdp.h"
/* The skeleton names core types: they are defined above. */
#include "edgelb.skel.h"

/* The scratch flow map holds one flow at a time (deleted after each run);
 * a few spare entries keep the LRU from having to evict on insert. */
#define XDP_EXPLAIN_FLOWS 16

/* Maps the control thread writes and the program only reads. */
static const char *const shared_maps[] = {"node",	  "vips",	"maglev",	"backends",
					 "vip_admission", "prefixes", "vip_quic", "quic_server_tables"};
/* Maps the program writes per packet. */
static const char *const scratch_maps[] = {"flows",	      "counters",     "vip_counters",
					  "backend_counters", "flow_budgets", "source_cells",
					  "quic_scratch"};

static bool name_in(const char *name, const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(name, names[i]) == 0)
			return true;
	return false;
}

/* Share or keep each map of ex; a map in neither list (added to the
 * program later) is refused rather than guessed: shared, a map the program
 * writes would be written by explain; scratch, a configuration map would
 * be empty. */
static int classify_maps(struct xdp_dataplane *dp, struct edgelb_xdp_bpf *ex)
{
	struct bpf_map *map;

	bpf_object__for_each_map(map, ex->obj) {
		const char *name = bpf_map__name(map);
		const struct bpf_map *live;
		int rc;

		if (bpf_map__is_internal(map) ||
		    name_in(name, scratch_maps, sizeof(scratch_maps) / sizeof(scratch_maps[0])))
			continue;
		if (!name_in(name, shared_maps, sizeof(shared_maps) / sizeof(shared_maps[0]))) {
			snprintf(dp->explain_err, sizeof(dp->explain_err),
				 "map %s: neither shared nor scratch (xdp_explain.c)", name);
			return -EINVAL;
		}
		live = bpf_object__find_map_by_name(dp->skel->obj, name);
		rc = live ? bpf_map__reuse_fd(map, bpf_map__fd(live)) : -ENOENT;
		if (rc) {
			snprintf(dp->explain_err, sizeof(dp->explain_err), "map %s: reuse: %s", name,
				 strerror(-rc));
			return rc;
		}
	}
	return 0;
}

/* One scratch flow table in every CPU's entry of ex's outer map: the run
 * finds the flow whichever CPU it is on. *fd: the table, or -1. */
static int scratch_tables_fill(struct edgelb_xdp_bpf *ex, int *fd)
{
	int outer = bpf_map__fd(ex->maps.flows), ncpu = libbpf_num_possible_cpus();

	*fd = xdp_flow_table_create(XDP_EXPLAIN_FLOWS, "explain_flows");
	if (*fd < 0) {
		int rc = *fd;

		*fd = -1;
		return rc;
	}
	for (uint32_t cpu = 0; cpu < (uint32_t)ncpu; cpu++)
		if (bpf_map_update_elem(outer, &cpu, fd, BPF_ANY))
			return -errno;
	return 0;
}

int xdp_explain_load(struct xdp_dataplane *dp)
{
	uint64_t start = monotonic_ns();
	struct edgelb_xdp_bpf *ex;
	int rc;

	dp->explain = NULL;
	ex = edgelb_xdp_bpf__open();
	if (ex == NULL) {
		rc = -errno;
		snprintf(dp->explain_err, sizeof(dp->explain_err), "open: %s", strerror(-rc));
		goto fail;
	}
	rc = classify_maps(dp, ex);
	if (rc)
		goto fail;
	/* Scratch sizes: one flow; backend counters are optional to the
	 * program (a missing slot is not counted), and at full size they
	 * would take 2 MB per CPU for nothing. The VIP counters are not. */
	dp->explain_flows_fd = -1;
	rc = xdp_flow_tables_prepare(ex->maps.flows, XDP_EXPLAIN_FLOWS);
	if (rc == 0)
		rc = bpf_map__set_max_entries(ex->maps.backend_counters, 1);
	if (rc == 0)
		rc = xdp_source_cells_prepare(ex->maps.source_cells);
	if (rc == 0)
		rc = bpf_program__set_autoload(ex->progs.edgelb_clock_sync, false);
	if (rc) {
		snprintf(dp->explain_err, sizeof(dp->explain_err), "map sizes: %s", strerror(-rc));
		goto fail;
	}
	rc = edgelb_xdp_bpf__load(ex);
	if (rc) {
		snprintf(dp->explain_err, sizeof(dp->explain_err), "load: %s", strerror(-rc));
		goto fail;
	}
	rc = scratch_tables_fill(ex, &dp->explain_flows_fd);
	if (rc) {
		snprintf(dp->explain_err, sizeof(dp->explain_err), "scratch flow table: %s",
			 strerror(-rc));
		goto fail;
	}
	dp->explain = ex;
	dp->explain_err[0] = '\0';
	dp->explain_load_ns = monotonic_ns() - start;
	return 0;
fail:
	if (dp->explain_flows_fd >= 0)
		close(dp->explain_flows_fd);
	dp->explain_flows_fd = -1;
	edgelb_xdp_bpf__destroy(ex);
	fprintf(stderr, "edgelb-xdp: flow.explain unavailable: %s\n", dp->explain_err);
	return rc;
}

void xdp_explain_close(struct xdp_dataplane *dp)
{
	if (dp->explain != NULL && dp->explain_flows_fd >= 0)
		close(dp->explain_flows_fd);
	dp->explain_flows_fd = -1;
	edgelb_xdp_bpf__destroy(dp->explain);
	dp->explain = NULL;
}

/*
 * The live entry of key: the CPUs whose table holds it in use and not
 * expired at now_ns (holders), and of those the one expiring last (where),
 * whose copy the decision runs on (*used).
 */
static int live_flow(struct xdp_dataplane *dp, const struct elb_flow_id *key, uint64_t now_ns,
		     struct elb_explain_flow *out, struct elb_xdp_flow *used)
{
	int ncpu = dp->flows.n;
	uint32_t now_tick = elb_flow_tick(now_ns);
	struct elb_xdp_flow *values;
	int rc = 0;

	if (ncpu <= 0)
		return -EINVAL;
	values = calloc((size_t)ncpu, sizeof(*values));
	if (values == NULL)
		return -ENOMEM;
	rc = xdp_flow_tables_lookup(&dp->flows, key, values);
	if (rc) {
		rc = rc == -ENOENT ? 0 : rc;
		goto out;
	}
	for (int cpu = 0; cpu < ncpu; cpu++) {
		const struct elb_xdp_flow *f = &values[cpu];

		if (f->state == ELB_FLOW_FREE || elb_flow_tick_expired(f->expiry, now_tick))
			continue;
		out->holders++;
		if (out->found && (int32_t)(f->expiry - used->expiry) <= 0)
			continue;
		out->found = true;
		out->where = (uint16_t)cpu;
		*used = *f;
	}
	if (out->found) {
		/* Live until the tick reaches expiry: (expiry << shift) ns. */
		int64_t left = (int64_t)(int32_t)(used->expiry - now_tick) *
				       (int64_t)(1ull << ELB_FLOW_TICK_SHIFT) -
			       (int64_t)(now_ns & ((1ull << ELB_FLOW_TICK_SHIFT) - 1));

		out->state = used->state;
		out->flags = used->flags;
		out->expires_in_ms = left / 1000000;
		out->backend_slot = used->backend_id;
		out->backend_gen = used->backend_gen;
		out->bucket = used->bucket;
	}
out:
	free(values);
	return rc;
}

/* The scratch table's entry for key (every CPU's entry names that table):
 * flow, or none. */
static int scratch_flow_set(int fd, const struct elb_flow_id *key,
			    const struct elb_xdp_flow *flow)
{
	if (flow == NULL)
		return bpf_map_delete_elem(fd, key) && errno != ENOENT ? -errno : 0;
	return bpf_map_update_elem(fd, key, flow, BPF_ANY) ? -errno : 0;
}

/*
 * The admission state a run of a packet (source src) of VIP v starts
 * from: live CPU cpu's, copied into every CPU's place of the scratch maps
 * and summed up in *seen (with_state), or those places zeroed again (not
 * with_state). Only cells of the packet's keys are touched.
 */
static int admission_state(struct xdp_dataplane *dp, const struct elb_vip *v,
			   const union elb_addr *src, uint32_t cpu, bool with_state,
			   struct elb_explain_admission *seen)
{
	struct edgelb_xdp_bpf *ex = dp->explain;
	int ncpu = libbpf_num_possible_cpus();
	size_t stride = xdp_percpu_stride(sizeof(struct elb_flow_budget_state));
	int live_cells = bpf_map__fd(dp->skel->maps.source_cells);
	int scratch_cells = bpf_map__fd(ex->maps.source_cells);
	uint8_t *budgets;
	uint32_t index = v->index;
	int rc = 0;

	if (ncpu <= 0 || cpu >= (uint32_t)ncpu)
		return -EINVAL;
	budgets = calloc((size_t)ncpu, stride);
	if (budgets == NULL)
		return -ENOMEM;
	if (with_state &&
	    bpf_map_lookup_elem(bpf_map__fd(dp->skel->maps.flow_budgets), &index, budgets)) {
		rc = -errno;
		goto out;
	}
	if (with_state) {
		/* The run resets a state of another generation, as the CPU's. */
		memcpy(&seen->budget, budgets + (size_t)cpu * stride, sizeof(seen->budget));
		for (int c = 0; c < ncpu; c++)
			memcpy(budgets + (size_t)c * stride, &seen->budget, sizeof(seen->budget));
	}
	if (bpf_map_update_elem(bpf_map__fd(ex->maps.flow_budgets), &index, budgets, BPF_ANY)) {
		rc = -errno;
		goto out;
	}
	for (uint32_t l = 0; l < v->n_source_limits; l++) {
		struct elb_source_cell cells[ELB_SOURCE_ROWS] = {0};
		struct elb_source_cell *rows[ELB_SOURCE_ROWS];
		struct elb_source_key key;

		elb_source_key_of(src, &v->source_limits[l], v->index, &key);
		for (uint32_t r = 0; r < ELB_SOURCE_ROWS; r++) {
			uint32_t cell = elb_source_cell_index(&dp->snap->source_keys, &key, r,
							      ELB_SOURCE_COLUMN_BITS_DEFAULT);
			uint32_t at = elb_xdp_source_cell(cpu, cell);

			rows[r] = &cells[r];
			if (with_state && bpf_map_lookup_elem(live_cells, &at, &cells[r])) {
				rc = -errno;
				goto out;
			}
			for (int each = 0; each < ncpu; each++) {
				at = elb_xdp_source_cell((uint32_t)each, cell);
				if (bpf_map_update_elem(scratch_cells, &at, &cells[r], BPF_ANY)) {
					rc = -errno;
					goto out;
				}
			}
		}
		/* The key's estimate: what the run's check reads. */
		if (with_state) {
			seen->sources[l].pkt_tat = elb_source_estimate(rows, false);
			seen->sources[l].flow_tat = elb_source_estimate(rows, true);
		}
	}
out:
	free(budgets);
	return rc;
}

int xdp_explain(void *arg, const uint8_t *frame, uint32_t len, struct elb_explain_run *run,
		char *err, size_t errlen)
{
	struct xdp_dataplane *dp = arg;
	struct edgelb_xdp_bpf *ex = dp->explain;
	struct elb_xdp_flow used = {0};
	struct elb_flow_id id;
	struct elb_packet pkt;
	const struct elb_vip *vip = NULL;
	bool have_key;
	int rc = 0;

	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame, .data_size_in = len,
		    .data_out = run->out, .data_size_out = sizeof(run->out), .repeat = 1);
	if (ex == NULL) {
		snprintf(err, errlen, "the explain program is not loaded: %s", dp->explain_err);
		return -EOPNOTSUPP;
	}
	if (len > ELB_EXPLAIN_FRAME_MAX) {
		snprintf(err, errlen, "frame of %u bytes: at most %u", len, ELB_EXPLAIN_FRAME_MAX);
		return -EINVAL;
	}
	memset(&run->flow, 0, sizeof(run->flow));
	memset(&run->admission, 0, sizeof(run->admission));
	memset(&run->result, 0, sizeof(run->result));
	run->where_name = "cpu";
	run->now_ns = dp->explain_test_clock ? dp->explain_now_ns : monotonic_ns();

	/* No key (not IP, malformed) or no VIP: the program never reaches the
	 * flow tables. */
	memset(&pkt, 0, sizeof(pkt));
	have_key = elb_parse(frame, frame + len, &pkt) == ELB_PARSE_IP;
	if (have_key) {
		rc = xdp_flow_id_of(bpf_map__fd(dp->skel->maps.vips), &pkt.key, &id);
		have_key = rc == 0;
		if (rc == -ENOENT)
			rc = 0;
	}
	if (have_key) {
		rc = live_flow(dp, &id, run->now_ns, &run->flow, &used);
		if (rc == 0)
			rc = scratch_flow_set(dp->explain_flows_fd, &id,
					      run->flow.found ? &used : NULL);
		/* The VIP as the maps have it: dp->snap is what they hold. */
		if (id.vip_index < ELB_MAX_VIPS && dp->snap->vips[id.vip_index].maglev != NULL)
			vip = &dp->snap->vips[id.vip_index];
		if (rc == 0 && vip != NULL)
			rc = admission_state(dp, vip, &pkt.key.src, run->flow.where, true,
					     &run->admission);
	}
	if (rc) {
		snprintf(err, errlen, "flow map: %s", strerror(-rc));
		return rc;
	}

	memcpy(ex->bss, dp->skel->bss, sizeof(*ex->bss));
	ex->bss->use_test_clock = 1;
	ex->bss->test_now_ns = run->now_ns;
	ex->bss->record_results = 1;
	memset(&ex->bss->last_result, 0, sizeof(ex->bss->last_result));
	rc = bpf_prog_test_run_opts(bpf_program__fd(ex->progs.edgelb_xdp), &opts);
	if (rc) {
		rc = -errno;
		/* e.g. a frame shorter than Ethernet's header, or one longer
		 * than the kernel runs a non-frags XDP program on */
		snprintf(err, errlen, "BPF_PROG_TEST_RUN refused the frame (%u bytes): %s", len,
			 strerror(-rc));
	} else {
		run->result = ex->bss->last_result;
		if (run->result.verdict >= ELB_VERDICT_COUNT ||
		    ((run->result.verdict == ELB_VERDICT_FORWARD ||
		      run->result.verdict == ELB_VERDICT_REPLY) &&
		     run->result.out_len != opts.data_size_out)) {
			snprintf(err, errlen, "the program's result is inconsistent (action %u)",
				 opts.retval);
			rc = -EPROTO;
		}
	}
	/* Leave the scratch maps empty: the next explain starts from nothing. */
	if (have_key)
		scratch_flow_set(dp->explain_flows_fd, &id, NULL);
	if (vip != NULL)
		admission_state(dp, vip, &pkt.key.src, run->flow.where, false, NULL);
	return rc;
}
