/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Live flows per backend slot on the XDP dataplane (struct
 * elb_dp_ops.flow_counts: vip.tables, drains). Control path.
 *
 * Two walks of the live flow map, one rule (see bpf/flow_count.bpf.c):
 *   iterator      bpf/flow_count.bpf.c, a map-element iterator attached
 *                 once to the live flows map, with the live backends map
 *                 (bpf_map__reuse_fd): the kernel visits each flow and
 *                 counts it in a per-slot array of the object's .bss, which
 *                 user space zeroes before and reads after the walk. No
 *                 flow crosses to user space.
 *   batch lookup  bpf_map_lookup_batch from user space: every CPU's copy of
 *                 every flow copied out. The fallback when the iterator
 *                 cannot be loaded (kernels before 5.9, or before per-CPU
 *                 hash iterators).
 * Both cost about the same (0.4-0.7 us per flow here, "Costs" in
 * docs/operator-tools.md): the kernel reading each CPU's value of each
 * element, which both do, not the copy to user space.
 * status.get says which ("flow_count").
 *
 * Neither is a consistent cut: the program keeps writing while the walk
 * reads; a flow changing meanwhile may be counted or not, which is all a
 * count needs.
 *
 * Clock: the agent judges expiry by the balancer's own flow clock (jiffies
 * with the calibration of bpf/edgelb.bpf.c's edgelb_clock_sync), read by
 * the iterator at the walk's first flow; the batch lookup, which cannot
 * read jiffies, by CLOCK_MONOTONIC, which that clock follows to within a
 * jiffy. The replay runs on the pcap's clock: there every copy in use
 * counts.
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
#include "xdp.h"
/* The skeletons name core types: they are defined above. */
#include "edgelb.skel.h"
#include "flow_count.skel.h"

#define XDP_FLOW_BATCH 1024u /* flows per bpf_map_lookup_batch */

static uint64_t monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int xdp_flow_count_load(struct xdp_dataplane *dp)
{
	uint64_t start = monotonic_ns();
	union bpf_iter_link_info linfo;
	struct flow_count_bpf *fc;
	struct bpf_link *link;
	int ncpu = libbpf_num_possible_cpus(), rc;

	LIBBPF_OPTS(bpf_iter_attach_opts, opts);
	dp->flow_count = NULL;
	fc = flow_count_bpf__open();
	if (fc == NULL) {
		rc = -errno;
		snprintf(dp->flow_count_err, sizeof(dp->flow_count_err), "open: %s", strerror(-rc));
		goto fail;
	}
	if (ncpu <= 0) {
		rc = ncpu ? ncpu : -EINVAL;
		snprintf(dp->flow_count_err, sizeof(dp->flow_count_err), "possible CPUs: %s",
			 strerror(-rc));
		goto fail;
	}
	fc->rodata->ncpus = (uint32_t)ncpu;
	rc = bpf_map__reuse_fd(fc->maps.backends, bpf_map__fd(dp->skel->maps.backends));
	if (rc == 0)
		rc = bpf_map__reuse_fd(fc->maps.flows, bpf_map__fd(dp->skel->maps.flows));
	if (rc) {
		snprintf(dp->flow_count_err, sizeof(dp->flow_count_err), "reuse the live maps: %s",
			 strerror(-rc));
		goto fail;
	}
	rc = flow_count_bpf__load(fc);
	if (rc) {
		snprintf(dp->flow_count_err, sizeof(dp->flow_count_err), "load: %s", strerror(-rc));
		goto fail;
	}
	/* Attaching checks the program's reads of a value against the map's
	 * per-CPU buffer (ncpus values): a wrong ncpus fails here, not later. */
	memset(&linfo, 0, sizeof(linfo));
	linfo.map.map_fd = (uint32_t)bpf_map__fd(fc->maps.flows);
	opts.link_info = &linfo;
	opts.link_info_len = sizeof(linfo);
	link = bpf_program__attach_iter(fc->progs.count_flows, &opts);
	if (link == NULL) {
		rc = -errno;
		snprintf(dp->flow_count_err, sizeof(dp->flow_count_err), "attach: %s",
			 strerror(-rc));
		goto fail;
	}
	fc->links.count_flows = link; /* destroyed with the skeleton */
	dp->flow_count = fc;
	dp->flow_count_err[0] = '\0';
	dp->flow_count_load_ns = monotonic_ns() - start;
	return 0;
fail:
	flow_count_bpf__destroy(fc);
	fprintf(stderr, "edgelb-xdp: flow counts by batch lookup (the iterator is unavailable: %s)\n",
		dp->flow_count_err);
	return rc;
}

void xdp_flow_count_close(struct xdp_dataplane *dp)
{
	flow_count_bpf__destroy(dp->flow_count);
	dp->flow_count = NULL;
}

int xdp_flow_count_iter(struct xdp_dataplane *dp, const struct elb_snapshot *snap,
			struct xdp_flow_walk *walk, uint64_t *per_slot)
{
	struct flow_count_bpf *fc = dp->flow_count;
	uint32_t n = snap->n_backend_slots < ELB_MAX_BACKEND_SLOTS ? snap->n_backend_slots
								   : ELB_MAX_BACKEND_SLOTS;
	char buf[64];
	ssize_t got;
	int fd, rc = 0;

	if (fc == NULL)
		return -EOPNOTSUPP;
	/* Only slots below n_slots are counted: the rest is not read. */
	memset(fc->bss->flow_counts, 0, (size_t)n * sizeof(fc->bss->flow_counts[0]));
	fc->bss->n_slots = n;
	fc->bss->check_expiry = walk->check_expiry;
	fc->bss->tick_given = walk->tick_given;
	fc->bss->now_tick = walk->now_tick;
	fc->bss->jiffy_ns = dp->skel->bss->jiffy_ns;
	fc->bss->jiffies_offset_ns = dp->skel->bss->jiffies_offset_ns;
	fc->bss->flows_seen = 0;
	fc->bss->flows_counted = 0;

	fd = bpf_iter_create(bpf_link__fd(fc->links.count_flows));
	if (fd < 0)
		return -errno;
	/*
	 * The program writes nothing to the file: each read() runs it over
	 * up to a million elements (the kernel's MAX_ITER_OBJECTS) and, having
	 * nothing to return, fails with EAGAIN; the next read() goes on from
	 * the element it stopped at. 0: the end of the map.
	 */
	for (;;) {
		got = read(fd, buf, sizeof(buf));
		if (got == 0)
			break;
		if (got < 0 && errno != EAGAIN && errno != EINTR) {
			rc = -errno;
			break;
		}
	}
	close(fd);
	if (rc)
		return rc;
	if (walk->check_expiry && !walk->tick_given)
		walk->now_tick = fc->bss->now_tick; /* unset if the map was empty */
	for (uint32_t s = 0; s < n; s++)
		per_slot[s] += fc->bss->flow_counts[s];
	return 0;
}

int xdp_flow_count_batch(struct xdp_dataplane *dp, const struct elb_snapshot *snap,
			 struct xdp_flow_walk *walk, uint64_t *per_slot)
{
	int fd = bpf_map__fd(dp->skel->maps.flows), ncpu = libbpf_num_possible_cpus();
	size_t stride = xdp_percpu_stride(sizeof(struct elb_xdp_flow));
	struct elb_flow_key *keys = calloc(XDP_FLOW_BATCH, sizeof(*keys));
	uint8_t *values = calloc((size_t)XDP_FLOW_BATCH * (size_t)(ncpu > 0 ? ncpu : 1), stride);
	uint64_t token = 0; /* the hash map's batch position (a bucket index) */
	bool first = true, done = false;
	int rc = 0;

	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	if (keys == NULL || values == NULL || ncpu <= 0) {
		rc = ncpu <= 0 ? ncpu : -ENOMEM;
		goto out;
	}
	if (walk->check_expiry && !walk->tick_given)
		walk->now_tick = elb_flow_tick(monotonic_ns());
	while (!done) {
		uint32_t count = XDP_FLOW_BATCH;

		if (bpf_map_lookup_batch(fd, first ? NULL : &token, &token, keys, values, &count,
					 &opts) < 0) {
			if (errno != ENOENT) {
				rc = -errno;
				goto out;
			}
			done = true; /* the last batch (count may still be > 0) */
		}
		first = false;
		/* The rule of bpf/flow_count.bpf.c, with snap for the backends
		 * map (it holds snap). */
		for (uint32_t k = 0; k < count; k++) {
			for (int cpu = 0; cpu < ncpu; cpu++) {
				const struct elb_xdp_flow *f =
					(const void *)(values + ((size_t)k * (size_t)ncpu + (size_t)cpu) * stride);

				if (f->state == ELB_FLOW_FREE ||
				    (walk->check_expiry &&
				     elb_flow_tick_expired(f->expiry, walk->now_tick)))
					continue;
				if (f->backend_id < snap->n_backend_slots &&
				    snap->backends[f->backend_id].gen == f->backend_gen) {
					per_slot[f->backend_id]++;
					break;
				}
			}
		}
	}
out:
	free(keys);
	free(values);
	return rc;
}

/*
 * The iterator counts with the backends map, which holds dp->snap (the
 * control thread writes it before replacing dp->snap, and nothing else
 * runs meanwhile); vip.tables passes that snapshot. Any other snap is
 * counted by batch lookup, which compares with snap itself.
 */
int xdp_flow_counts(void *arg, const struct elb_snapshot *snap, uint64_t *per_slot)
{
	struct xdp_dataplane *dp = arg;
	struct xdp_flow_walk walk = {.check_expiry = dp->ifname != NULL};

	if (dp->flow_count != NULL && snap == dp->snap)
		return xdp_flow_count_iter(dp, snap, &walk, per_slot);
	return xdp_flow_count_batch(dp, snap, &walk, per_slot);
}
