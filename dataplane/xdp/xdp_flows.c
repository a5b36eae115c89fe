/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The XDP dataplane's flow tables from user space (bpf/edgelb_xdp_maps.h,
 * flows): one LRU_HASH per possible CPU, each in its CPU's entry of the
 * ARRAY_OF_MAPS the program reads. Control path.
 *
 * libbpf creates (or reuses, when pinned) the outer map; the tables are
 * created here after the load, one per CPU that has none, and pinned beside
 * it (flows_cpu<N>), so that a restarted agent reopens them by path and
 * keeps their flows: reading an inner map out of the outer one
 * (BPF_MAP_GET_FD_BY_ID) would take CAP_SYS_ADMIN, which the systemd unit
 * does not grant. The outer map holds the reference the program needs; the
 * fds kept here are for user space's reads and writes (explain, flow
 * counts, benchmarks, tests).
 *
 * Upgrades: edgelb-xdp before this layout pinned one LRU_PERCPU_HASH of
 * struct elb_flow_key -> struct elb_xdp_flow under the same name. libbpf
 * cannot reuse a pinned map of another type, so before the load that pin is
 * moved aside (flows_percpu); after the load each CPU's copy of each of its
 * flows is written into that CPU's table, keyed by the index its VIP has in
 * the pinned vips map (struct elb_flow_id), and the old pin is removed.
 * The copy is not atomic: while an old program still forwards on the old map (the
 * no-gap upgrade, docs/deploy.md), a flow it creates after the copy is not
 * carried over, and is picked again by Maglev, as any new flow is.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "edgelb_xdp_maps.h"
#include "xdp.h"

#define XDP_FLOW_COPY_BATCH 1024u /* flows per batch while adopting an old map */

int xdp_flow_tables_prepare(struct bpf_map *outer, uint32_t capacity)
{
	int ncpu = libbpf_num_possible_cpus(), rc;

	if (ncpu <= 0)
		return ncpu ? ncpu : -EINVAL;
	/* The tables' size is given when they are created (xdp_flow_tables_open):
	 * the kernel does not compare an inner hash map's max_entries with the
	 * template's, and libbpf 1.1 does not hand the template out to resize. */
	(void)capacity;
	rc = bpf_map__set_max_entries(outer, (uint32_t)ncpu);
	return rc;
}

int xdp_source_cells_prepare(struct bpf_map *cells)
{
	int ncpu = libbpf_num_possible_cpus();

	if (ncpu <= 0)
		return ncpu ? ncpu : -EINVAL;
	/* One region per possible CPU (elb_xdp_source_cell); an ARRAY holds at
	 * most 2^32 entries. */
	if ((uint64_t)ncpu * ELB_XDP_SOURCE_CELLS_PER_CPU > UINT32_MAX)
		return -E2BIG;
	return bpf_map__set_max_entries(cells, (uint32_t)ncpu * ELB_XDP_SOURCE_CELLS_PER_CPU);
}

int xdp_flow_table_create(uint32_t capacity, const char *name)
{
	int fd = bpf_map_create(BPF_MAP_TYPE_LRU_HASH, name, sizeof(struct elb_flow_id),
				sizeof(struct elb_xdp_flow), capacity, NULL);

	return fd < 0 ? -errno : fd;
}

void xdp_flow_tables_close(struct xdp_flow_tables *t)
{
	for (int cpu = 0; t->fds != NULL && cpu < t->n; cpu++)
		if (t->fds[cpu] >= 0)
			close(t->fds[cpu]);
	free(t->fds);
	t->fds = NULL;
	t->n = 0;
}

int xdp_flow_tables_open(struct xdp_flow_tables *t, int outer_fd, uint32_t capacity,
			 const char *pin_dir, bool *created)
{
	int ncpu = libbpf_num_possible_cpus(), rc = 0;

	*created = false;
	if (ncpu <= 0)
		return ncpu ? ncpu : -EINVAL;
	t->fds = malloc((size_t)ncpu * sizeof(*t->fds));
	if (t->fds == NULL)
		return -ENOMEM;
	t->n = ncpu;
	t->capacity = 0;
	for (int cpu = 0; cpu < ncpu; cpu++)
		t->fds[cpu] = -1;
	for (uint32_t cpu = 0; rc == 0 && cpu < (uint32_t)ncpu; cpu++) {
		struct bpf_map_info info;
		uint32_t len = sizeof(info);
		char path[512] = "";
		int fd = -ENOENT;

		if (pin_dir != NULL) {
			snprintf(path, sizeof(path), "%s/flows_cpu%u", pin_dir, cpu);
			fd = bpf_obj_get(path);
			if (fd < 0 && errno != ENOENT) {
				rc = -errno;
				break;
			}
		}
		if (fd < 0) {
			fd = xdp_flow_table_create(capacity, "flows_cpu");
			if (fd < 0) {
				rc = fd;
				break;
			}
			if (path[0] && bpf_obj_pin(fd, path)) {
				rc = -errno;
				close(fd);
				break;
			}
			*created = true;
		}
		t->fds[cpu] = fd;
		/* A reused outer map holds it already: the same map again. */
		if (bpf_map_update_elem(outer_fd, &cpu, &fd, BPF_ANY)) {
			rc = -errno;
			break;
		}
		memset(&info, 0, sizeof(info));
		if (bpf_obj_get_info_by_fd(fd, &info, &len)) {
			rc = -errno;
			break;
		}
		/* Pinned tables keep the size they were made with. */
		if (cpu == 0)
			t->capacity = info.max_entries;
	}
	if (rc)
		xdp_flow_tables_close(t);
	return rc;
}

int xdp_flow_tables_lookup(const struct xdp_flow_tables *t, const struct elb_flow_id *key,
			   struct elb_xdp_flow *per_cpu)
{
	bool any = false;

	for (int cpu = 0; cpu < t->n; cpu++) {
		if (bpf_map_lookup_elem(t->fds[cpu], key, &per_cpu[cpu]) == 0) {
			any = true;
			continue;
		}
		if (errno != ENOENT)
			return -errno;
		memset(&per_cpu[cpu], 0, sizeof(per_cpu[cpu]));
	}
	return any ? 0 : -ENOENT;
}

int xdp_flow_tables_update(const struct xdp_flow_tables *t, const struct elb_flow_id *key,
			   const struct elb_xdp_flow *per_cpu)
{
	for (int cpu = 0; cpu < t->n; cpu++) {
		if (per_cpu[cpu].state != ELB_FLOW_FREE) {
			if (bpf_map_update_elem(t->fds[cpu], key, &per_cpu[cpu], BPF_ANY))
				return -errno;
		} else if (bpf_map_delete_elem(t->fds[cpu], key) && errno != ENOENT) {
			return -errno;
		}
	}
	return 0;
}

int xdp_flow_tables_delete(const struct xdp_flow_tables *t, const struct elb_flow_id *key)
{
	for (int cpu = 0; cpu < t->n; cpu++)
		if (bpf_map_delete_elem(t->fds[cpu], key) && errno != ENOENT)
			return -errno;
	return 0;
}

int xdp_flow_id_of(int vips_fd, const struct elb_flow_key *key, struct elb_flow_id *id)
{
	struct elb_xdp_vip_key vk;
	struct elb_xdp_vip vip;

	/* vip_find of bpf/edgelb.bpf.c: exact port, then the all-ports VIP;
	 * a key without ports of TCP or UDP finds at most the address marker,
	 * no VIP. */
	if (!(key->sport != 0 || key->dport != 0 || key->proto == ELB_IPPROTO_TCP ||
	      key->proto == ELB_IPPROTO_UDP))
		return -ENOENT;
	memset(&vk, 0, sizeof(vk));
	vk.addr = key->dst;
	vk.family = key->family;
	vk.proto = key->proto;
	vk.port = key->dport;
	if (bpf_map_lookup_elem(vips_fd, &vk, &vip)) {
		if (errno != ENOENT)
			return -errno;
		vk.port = 0;
		if (bpf_map_lookup_elem(vips_fd, &vk, &vip))
			return errno == ENOENT ? -ENOENT : -errno;
	}
	memset(id, 0, sizeof(*id));
	elb_flow_id_set(id, key, vip.index);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Adopting the flow map of an earlier version */

int xdp_flows_set_aside_percpu(const char *pin_dir, int *old_fd)
{
	char path[512], aside[512];
	struct bpf_map_info info;
	uint32_t len = sizeof(info);
	int fd;

	*old_fd = -1;
	snprintf(path, sizeof(path), "%s/flows", pin_dir);
	snprintf(aside, sizeof(aside), "%s/flows_percpu", pin_dir);
	fd = bpf_obj_get(path);
	if (fd >= 0) {
		memset(&info, 0, sizeof(info));
		if (bpf_obj_get_info_by_fd(fd, &info, &len)) {
			int rc = -errno;

			close(fd);
			return rc;
		}
		if (info.type != BPF_MAP_TYPE_LRU_PERCPU_HASH) {
			close(fd); /* this layout, or not ours: libbpf judges */
		} else if (info.key_size != sizeof(struct elb_flow_key) ||
			   info.value_size != sizeof(struct elb_xdp_flow)) {
			close(fd);
			fprintf(stderr, "edgelb-xdp: %s: a per-CPU flow map of %u-byte keys and "
					"%u-byte values, not edgelb's: left alone\n",
				path, info.key_size, info.value_size);
			return -EINVAL;
		} else {
			/* An aside left by an adoption that did not finish is
			 * older than this map: this one wins. bpffs has no
			 * rename (and refuses names with a dot): pinned a
			 * second time, then unpinned. */
			unlink(aside);
			if (bpf_obj_pin(fd, aside) || unlink(path)) {
				int rc = -errno;

				close(fd);
				fprintf(stderr, "edgelb-xdp: moving %s aside: %s\n", path,
					strerror(-rc));
				return rc;
			}
			*old_fd = fd;
			return 0;
		}
	} else if (errno != ENOENT) {
		return -errno;
	}
	/* An adoption interrupted after the move aside: finish it now. */
	fd = bpf_obj_get(aside);
	if (fd >= 0)
		*old_fd = fd;
	return 0;
}

int xdp_flows_adopt_percpu(const struct xdp_flow_tables *t, int old_fd, int vips_fd,
			   uint64_t *adopted, uint64_t *dropped)
{
	size_t stride = xdp_percpu_stride(sizeof(struct elb_xdp_flow));
	struct elb_flow_key *keys = calloc(XDP_FLOW_COPY_BATCH, sizeof(*keys));
	uint8_t *values = calloc((size_t)XDP_FLOW_COPY_BATCH * (size_t)t->n, stride);
	/* [cpu][k]: the copies of each CPU, in a batch of that CPU's table */
	struct elb_flow_id *cpu_keys = calloc((size_t)XDP_FLOW_COPY_BATCH * (size_t)t->n,
						  sizeof(*cpu_keys));
	struct elb_xdp_flow *cpu_values = calloc((size_t)XDP_FLOW_COPY_BATCH * (size_t)t->n,
						 sizeof(*cpu_values));
	uint32_t *cpu_count = calloc((size_t)t->n, sizeof(*cpu_count));
	uint64_t token = 0;
	bool first = true, done = false;
	int rc = 0;

	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	*adopted = 0;
	*dropped = 0;
	if (!keys || !values || !cpu_keys || !cpu_values || !cpu_count) {
		rc = -ENOMEM;
		goto out;
	}
	while (!done) {
		uint32_t count = XDP_FLOW_COPY_BATCH;

		if (bpf_map_lookup_batch(old_fd, first ? NULL : &token, &token, keys, values, &count,
					 &opts) < 0) {
			if (errno != ENOENT) {
				rc = -errno;
				goto out;
			}
			done = true; /* the last batch (count may still be > 0) */
		}
		first = false;
		memset(cpu_count, 0, (size_t)t->n * sizeof(*cpu_count));
		for (uint32_t k = 0; k < count; k++) {
			struct elb_flow_id id;

			/* Keyed by VIP index now: the VIP its packets find in the
			 * (pinned, adopted) vips map. A flow of no VIP any more
			 * would never be looked up again. */
			rc = xdp_flow_id_of(vips_fd, &keys[k], &id);
			if (rc == -ENOENT) {
				rc = 0;
				(*dropped)++;
				continue;
			}
			if (rc)
				goto out;
			for (int cpu = 0; cpu < t->n; cpu++) {
				const struct elb_xdp_flow *f =
					(const void *)(values + ((size_t)k * (size_t)t->n + (size_t)cpu) *
								stride);
				size_t at = (size_t)cpu * XDP_FLOW_COPY_BATCH + cpu_count[cpu];

				if (f->state == ELB_FLOW_FREE)
					continue; /* never written on that CPU */
				cpu_keys[at] = id;
				cpu_values[at] = *f;
				cpu_count[cpu]++;
			}
		}
		for (int cpu = 0; cpu < t->n; cpu++) {
			uint32_t n = cpu_count[cpu];

			if (n == 0)
				continue;
			if (bpf_map_update_batch(t->fds[cpu], &cpu_keys[(size_t)cpu * XDP_FLOW_COPY_BATCH],
						 &cpu_values[(size_t)cpu * XDP_FLOW_COPY_BATCH], &n,
						 &opts)) {
				rc = -errno;
				goto out;
			}
			*adopted += n;
		}
	}
out:
	free(keys);
	free(values);
	free(cpu_keys);
	free(cpu_values);
	free(cpu_count);
	return rc;
}
