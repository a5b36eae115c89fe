/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Loading the XDP program and its ops for the dataplane protocol: apply
 * (snapshot -> maps), counters (per-CPU maps summed), status. Control path.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "edgelb_xdp_maps.h"
#include "elb_counters.h"
#include "xdp.h"
/* The skeleton names core types: they are defined above. */
#include "edgelb.skel.h"

/* Maps whose content may be lost: one pinned by another version with
 * another layout (a drop reason added, say; a sketch sized for another
 * number of CPUs) is replaced. Counters restart at zero (edgelb-cp takes
 * counts that went down as a new process's); the admission state restarts
 * with full buckets; the admission limits are rewritten by the next
 * configuration (until then the VIPs flagged with them are not limited),
 * and so is the QUIC routing (until then those VIPs' packets go by the
 * 5-tuple).
 * Any other map pinned with another layout still stops the load: it holds
 * state to keep. */
static bool replaceable(const char *name)
{
	static const char *const names[] = {"counters",	    "vip_counters", "backend_counters",
					    "vip_admission", "flow_budgets", "source_cells",
					    "vip_quic",	     "quic_server_tables"};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(name, names[i]) == 0)
			return true;
	return false;
}

/* Unpin a replaceable map whose pinned layout is not this program's. */
static void replace_stale_map(const struct bpf_map *map, const char *path)
{
	struct bpf_map_info info;
	uint32_t len = sizeof(info);
	int fd = bpf_obj_get(path);

	if (fd < 0)
		return; /* not pinned yet */
	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0 &&
	    (info.type != bpf_map__type(map) || info.key_size != bpf_map__key_size(map) ||
	     info.value_size != bpf_map__value_size(map) ||
	     info.max_entries != bpf_map__max_entries(map))) {
		fprintf(stderr,
			"edgelb-xdp: %s was pinned by a version with another layout "
			"(value %u bytes x %u, this one %u x %u): replaced, its counts (or "
			"admission state) restart at zero\n",
			path, info.value_size, info.max_entries, bpf_map__value_size(map),
			bpf_map__max_entries(map));
		if (unlink(path))
			fprintf(stderr, "edgelb-xdp: %s: %s\n", path, strerror(errno));
	}
	close(fd);
}

static int pin_maps(struct edgelb_xdp_bpf *skel, const char *pin_dir)
{
	struct bpf_map *map;
	char path[512];

	bpf_object__for_each_map(map, skel->obj) {
		/* Global data (.bss of the replay hooks) stays per process, and
		 * so does working memory that holds nothing between packets. */
		if (bpf_map__is_internal(map) || map == skel->maps.quic_scratch)
			continue;
		snprintf(path, sizeof(path), "%s/%s", pin_dir, bpf_map__name(map));
		if (replaceable(bpf_map__name(map)))
			replace_stale_map(map, path);
		if (bpf_map__set_pin_path(map, path))
			return -errno;
	}
	return 0;
}

/* The flow tables, after the load: found in (pinned) or added to the outer
 * map, and the flows of an earlier version's map (old_fd >= 0) copied in. */
static int open_flow_tables(struct xdp_dataplane *dp, uint32_t flows, const char *pin_dir,
			    int old_fd)
{
	uint32_t want = flows ? flows : ELB_XDP_DEFAULT_FLOWS;
	uint64_t dropped = 0;
	bool created;
	int rc;

	rc = xdp_flow_tables_open(&dp->flows, bpf_map__fd(dp->skel->maps.flows), want, pin_dir,
				  &created);
	if (rc) {
		fprintf(stderr, "edgelb-xdp: flow tables: %s\n", strerror(-rc));
		return rc;
	}
	if (!created && flows && dp->flows.capacity != flows)
		fprintf(stderr, "edgelb-xdp: keeping the pinned flow tables of %u entries per CPU "
				"(--flows %u takes effect on an empty pin directory)\n",
			dp->flows.capacity, flows);
	if (old_fd < 0)
		return 0;
	rc = xdp_flows_adopt_percpu(&dp->flows, old_fd, bpf_map__fd(dp->skel->maps.vips),
				    &dp->flows_adopted, &dropped);
	if (rc) {
		/* flows_percpu stays pinned: the next start tries again. */
		fprintf(stderr, "edgelb-xdp: copying the flows of %s/flows_percpu: %s\n", pin_dir,
			strerror(-rc));
		return rc;
	}
	fprintf(stderr, "edgelb-xdp: adopted %llu flows of the earlier per-CPU flow map into the "
			"per-CPU flow tables (%llu of no VIP left out)\n",
		(unsigned long long)dp->flows_adopted, (unsigned long long)dropped);
	if (pin_dir) {
		char path[512];

		snprintf(path, sizeof(path), "%s/flows_percpu", pin_dir);
		if (unlink(path) && errno != ENOENT)
			fprintf(stderr, "edgelb-xdp: removing %s: %s\n", path, strerror(errno));
	}
	return 0;
}

int xdp_dataplane_load(struct xdp_dataplane *dp, uint32_t flows, const char *pin_dir)
{
	int old_flows_fd = -1, rc;

	dp->started_ns = monotonic_ns();
	dp->explain_flows_fd = -1;
	dp->prefixes.trie_fd = -1;
	dp->skel = edgelb_xdp_bpf__open();
	if (dp->skel == NULL) {
		fprintf(stderr, "edgelb-xdp: cannot open the BPF object: %s\n", strerror(errno));
		return -errno;
	}
	if ((rc = xdp_flow_tables_prepare(dp->skel->maps.flows, flows))) {
		fprintf(stderr, "edgelb-xdp: flow table size: %s\n", strerror(-rc));
		return rc;
	}
	if ((rc = xdp_source_cells_prepare(dp->skel->maps.source_cells))) {
		fprintf(stderr, "edgelb-xdp: source sketch size: %s\n", strerror(-rc));
		return rc;
	}
	if (dp->load_bench_floor &&
	    ((rc = bpf_program__set_autoload(dp->skel->progs.edgelb_floor_lookups, true)) ||
	     (rc = bpf_program__set_autoload(dp->skel->progs.edgelb_floor_new_flow, true)))) {
		fprintf(stderr, "edgelb-xdp: benchmark program: %s\n", strerror(-rc));
		return rc;
	}
	if (pin_dir && (rc = pin_maps(dp->skel, pin_dir))) {
		fprintf(stderr, "edgelb-xdp: pin paths: %s\n", strerror(-rc));
		return rc;
	}
	/* A pinned flow map of the earlier layout cannot be reused by libbpf:
	 * moved aside first, its flows copied in once the tables exist. */
	if (pin_dir && (rc = xdp_flows_set_aside_percpu(pin_dir, &old_flows_fd))) {
		fprintf(stderr, "edgelb-xdp: the pinned flow map: %s\n", strerror(-rc));
		return rc;
	}
	rc = edgelb_xdp_bpf__load(dp->skel);
	if (rc)
		fprintf(stderr, "edgelb-xdp: cannot load the XDP program: %s\n", strerror(-rc));
	else
		rc = open_flow_tables(dp, flows, pin_dir, old_flows_fd);
	if (old_flows_fd >= 0)
		close(old_flows_fd);
	if (rc)
		return rc;
	/* Forwarding does not need them: a failure only disables
	 * flow.explain, or makes flow counts take the batch lookup. */
	xdp_explain_load(dp);
	xdp_flow_count_load(dp);
	return 0;
}

int xdp_dataplane_start(struct xdp_dataplane *dp)
{
	struct elb_dp_config *empty;
	struct elb_snapshot *prev = NULL;
	struct elb_dp_err err;
	uint32_t max_gen = 0;
	int rc;

	rc = xdp_maps_init_globals(dp);
	if (rc == 0)
		rc = xdp_maps_read_prev(dp, &prev, &max_gen);
	if (rc)
		return rc;
	if (prev) {
		/* Maps of an earlier process: build the next snapshot from them,
		 * so backends keep their slots and generations, and their flows. */
		dp->snap = prev;
		dp->snap_partial = true;
		dp->next_gen = max_gen;
		/* Their prefix lists stay in force too (keyed by VIP generation). */
		return xdp_prefixes_restore(dp);
	}
	empty = elb_dp_config_new();
	if (empty == NULL)
		return -ENOMEM;
	/* No VIP: everything goes to the kernel until the first configuration. */
	rc = elb_snapshot_build(empty, NULL, 0, &dp->next_gen, &dp->snap, &err);
	elb_dp_config_free(empty);
	if (rc)
		return rc;
	dp->maps_seq++;
	return xdp_maps_write(dp, dp->snap, NULL);
}

void xdp_dataplane_close(struct xdp_dataplane *dp)
{
	xdp_flow_counter_stop(dp); /* before the object it walks with */
	xdp_explain_close(dp);
	xdp_flow_count_close(dp);
	xdp_flow_tables_close(&dp->flows);
	xdp_prefixes_close(dp);
	edgelb_xdp_bpf__destroy(dp->skel);
	dp->skel = NULL;
	elb_snapshot_free(dp->snap);
	dp->snap = NULL;
}

static int xdp_apply(void *arg, const struct elb_dp_config *config, uint64_t epoch, char *err,
		     size_t errlen)
{
	struct xdp_dataplane *dp = arg;
	struct elb_snapshot *next = NULL;
	const struct elb_snapshot *maps_hold = dp->snap_partial ? NULL : dp->snap;
	struct elb_dp_err e;
	int rc;

	/* Forwarded frames are addressed to the gateway: without its MAC
	 * there is nowhere to send them. */
	if (config->n_vips > 0 && !config->node.has_gateway_mac) {
		snprintf(err, errlen, "node.gateway_mac: needed to forward to backends");
		return -EINVAL;
	}
	rc = elb_snapshot_build(config, dp->snap, epoch, &dp->next_gen, &next, &e);
	if (rc) {
		snprintf(err, errlen, "%s", e.text[0] ? e.text : strerror(-rc));
		return rc;
	}
	/* The lists of next's new VIPs, before the maps can name them. */
	rc = xdp_prefixes_stage(dp, next);
	if (rc) {
		snprintf(err, errlen, "writing the prefix lists of new VIPs: %s", strerror(-rc));
		elb_snapshot_free(next);
		xdp_prefixes_settle(dp);
		return rc;
	}
	/* Before the write: a flow-count walk under way now saw a mix. */
	dp->maps_seq++;
	rc = xdp_maps_write(dp, next, maps_hold);
	if (rc) {
		/* Put the previous configuration back, comparing with the maps
		 * themselves: they hold part of next now. */
		snprintf(err, errlen, "writing the BPF maps: %s", strerror(-rc));
		if (!dp->snap_partial && xdp_maps_write(dp, dp->snap, NULL))
			fprintf(stderr, "edgelb-xdp: could not restore the previous maps\n");
		elb_snapshot_free(next);
		xdp_prefixes_settle(dp);
		return rc;
	}
	elb_snapshot_free(dp->snap);
	dp->snap = next;
	dp->snap_partial = false;
	xdp_prefixes_settle(dp);
	return 0;
}

static int read_percpu(int fd, uint32_t key, void *values)
{
	return bpf_map_lookup_elem(fd, &key, values) ? -errno : 0;
}

static struct elb_counters_sum *sum_cpus(struct xdp_dataplane *dp, int *rc_out)
{
	int ncpu = libbpf_num_possible_cpus();
	size_t wstride = xdp_percpu_stride(sizeof(struct elb_worker_counters));
	size_t vstride = xdp_percpu_stride(sizeof(struct elb_vip_counters));
	size_t bstride = xdp_percpu_stride(sizeof(struct elb_backend_counters));
	size_t fstride = xdp_percpu_stride(sizeof(struct elb_flow_budget_state));
	const struct elb_snapshot *snap = dp->snap;
	struct elb_counters_sum *sum = NULL;
	struct elb_vip_counters *vips = NULL;       /* [cpu][ELB_MAX_VIPS] */
	struct elb_backend_counters *backends = NULL; /* [cpu][ELB_MAX_BACKEND_SLOTS] */
	struct elb_flow_budget_state *budgets = NULL; /* [cpu][ELB_MAX_VIPS] */
	uint8_t *wvals = NULL, *vvals = NULL, *bvals = NULL, *fvals = NULL;
	int ffd = bpf_map__fd(dp->skel->maps.flow_budgets);
	int vfd = bpf_map__fd(dp->skel->maps.vip_counters);
	int bfd = bpf_map__fd(dp->skel->maps.backend_counters);
	int rc = -ENOMEM;

	if (ncpu <= 0) {
		*rc_out = ncpu ? ncpu : -EINVAL;
		return NULL;
	}
	sum = elb_counters_sum_new();
	vips = calloc((size_t)ncpu * ELB_MAX_VIPS, sizeof(*vips));
	backends = calloc((size_t)ncpu * ELB_MAX_BACKEND_SLOTS, sizeof(*backends));
	wvals = calloc((size_t)ncpu, wstride);
	vvals = calloc((size_t)ncpu, vstride);
	bvals = calloc((size_t)ncpu, bstride);
	budgets = calloc((size_t)ncpu * ELB_MAX_VIPS, sizeof(*budgets));
	fvals = calloc((size_t)ncpu, fstride);
	if (!sum || !vips || !backends || !wvals || !vvals || !bvals || !budgets || !fvals)
		goto out;
	/* One read per key returns every CPU's copy: only the VIPs and slots
	 * of snap are read (the sum ignores the others). */
	rc = read_percpu(bpf_map__fd(dp->skel->maps.counters), 0, wvals);
	for (uint32_t i = 0; rc == 0 && i < ELB_MAX_VIPS; i++) {
		if (snap->vips[i].maglev == NULL)
			continue;
		rc = read_percpu(vfd, i, vvals);
		for (int cpu = 0; rc == 0 && cpu < ncpu; cpu++)
			memcpy(&vips[(size_t)cpu * ELB_MAX_VIPS + i], vvals + (size_t)cpu * vstride,
			       sizeof(*vips));
		/* The budget state only where the VIP has a budget: the others
		 * stay zeroed, as a state never used. */
		if (rc == 0 && snap->vips[i].flow_budget.interval)
			rc = read_percpu(ffd, i, fvals);
		for (int cpu = 0; rc == 0 && snap->vips[i].flow_budget.interval && cpu < ncpu; cpu++)
			memcpy(&budgets[(size_t)cpu * ELB_MAX_VIPS + i], fvals + (size_t)cpu * fstride,
			       sizeof(*budgets));
	}
	for (uint32_t s = 0; rc == 0 && s < snap->n_backend_slots; s++) {
		if (snap->backends[s].gen == 0)
			continue;
		rc = read_percpu(bfd, s, bvals);
		for (int cpu = 0; rc == 0 && cpu < ncpu; cpu++)
			memcpy(&backends[(size_t)cpu * ELB_MAX_BACKEND_SLOTS + s],
			       bvals + (size_t)cpu * bstride, sizeof(*backends));
	}
	/*
	 * elb_counters_sum_add takes a struct elb_worker: one is assembled per
	 * CPU from that CPU's values. Its flow table is the zeroed stand-in:
	 * the LRU map keeps no insert/expiry/eviction stats.
	 */
	for (int cpu = 0; rc == 0 && cpu < ncpu; cpu++) {
		struct elb_worker w;

		memset(&w, 0, sizeof(w));
		memcpy(&w.counters, wvals + (size_t)cpu * wstride, sizeof(w.counters));
		w.vip_counters = &vips[(size_t)cpu * ELB_MAX_VIPS];
		w.backend_counters = &backends[(size_t)cpu * ELB_MAX_BACKEND_SLOTS];
		w.flow_budgets = &budgets[(size_t)cpu * ELB_MAX_VIPS];
		elb_counters_sum_add(sum, &w, snap);
	}
	if (rc == 0)
		sum->flow_capacity = dp->flows.capacity; /* per CPU */
out:
	free(vips);
	free(backends);
	free(wvals);
	free(vvals);
	free(bvals);
	free(budgets);
	free(fvals);
	if (rc) {
		elb_counters_sum_free(sum);
		sum = NULL;
	}
	*rc_out = rc;
	return sum;
}

int xdp_counters_json(struct xdp_dataplane *dp, cJSON *out, const struct elb_dp_vip_key *vip)
{
	struct elb_counters_sum *sum;
	int rc;

	sum = sum_cpus(dp, &rc);
	if (sum == NULL)
		return rc;
	rc = elb_counters_to_json(out, sum, dp->snap, vip);
	elb_counters_sum_free(sum);
	return rc;
}

static int xdp_counters(void *arg, cJSON *out, const struct elb_dp_vip_key *vip)
{
	return xdp_counters_json(arg, out, vip);
}

static int xdp_status(void *arg, cJSON *out)
{
	struct xdp_dataplane *dp = arg;
	struct bpf_prog_info info;
	uint32_t len = sizeof(info);

	memset(&info, 0, sizeof(info));
	if (dp->ifname)
		cJSON_AddStringToObject(out, "interface", dp->ifname);
	elb_dp_json_add_u64(out, "ifindex", (uint64_t)dp->ifindex);
	if (dp->mode)
		cJSON_AddStringToObject(out, "mode", dp->mode);
	if (bpf_obj_get_info_by_fd(bpf_program__fd(dp->skel->progs.edgelb_xdp), &info, &len) == 0) {
		elb_dp_json_add_u64(out, "prog_id", info.id);
		elb_dp_json_add_u64(out, "run_cnt", info.run_cnt);
	}
	elb_dp_json_add_u64(out, "attached_prog_id", dp->prog_id);
	elb_dp_json_add_u64(out, "snapshot_epoch", dp->snap->epoch);
	/* Of each CPU's table: a flow lives in the table of the CPU its
	 * packets arrive on. */
	elb_dp_json_add_u64(out, "flow_capacity", dp->flows.capacity);
	elb_dp_json_add_u64(out, "cpus", (uint64_t)libbpf_num_possible_cpus());
	elb_dp_json_add_u64(out, "uptime_ms", (monotonic_ns() - dp->started_ns) / 1000000);
	/* flow.explain's second instance of the program: "ready" or why not. */
	cJSON_AddStringToObject(out, "explain", dp->explain ? "ready" : dp->explain_err);
	elb_dp_json_add_u64(out, "explain_load_us", dp->explain_load_ns / 1000);
	/* How vip.tables counts flows: in the kernel ("iterator") or by
	 * copying the flow map out ("batch_lookup", and why). */
	cJSON_AddStringToObject(out, "flow_count", dp->flow_count ? "iterator" : "batch_lookup");
	if (dp->flow_count == NULL)
		cJSON_AddStringToObject(out, "flow_count_error", dp->flow_count_err);
	elb_dp_json_add_u64(out, "flow_count_load_us", dp->flow_count_load_ns / 1000);
	xdp_flow_counter_status(dp, out);
	xdp_prefixes_status(dp, out);
	return 0;
}

static const struct elb_snapshot *xdp_snapshot(void *arg)
{
	struct xdp_dataplane *dp = arg;

	/* What the maps hold: xdp_apply replaces it only after writing them. */
	return dp->snap;
}

const struct elb_dp_ops xdp_ops = {
	.apply = xdp_apply,
	.counters = xdp_counters,
	.status = xdp_status,
	.snapshot = xdp_snapshot,
	.flow_counts = xdp_flow_counts,
	.explain = xdp_explain,
	.apply_prefixes = xdp_prefixes_apply,
};
