/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Copying a struct elb_snapshot into the XDP program's maps. Control path:
 * system calls, allocation, milliseconds.
 *
 * The DPDK dataplane publishes a snapshot with one pointer store; here the
 * program reads several maps, each written entry by entry, so the order of
 * the writes is what keeps packets from seeing a mix that sends them
 * somewhere wrong:
 *
 *   1. node (seed, outer sources, MACs): the node map, then the program's
 *      node_config global. Both are copied in place: a packet racing the
 *      write may read a half-written node. Those fields change only when
 *      the operator changes the node itself.
 *   2. delete the VIP entries (and address markers) that are gone. From
 *      here on their packets go to the kernel, as they will afterwards; this
 *      also keeps a removed VIP from using the table of a new VIP that takes
 *      its index in step 4.
 *   3. write the backend slots that are new or changed. A slot new in this
 *      snapshot is referenced by no table yet. A slot taken over from a
 *      backend removed in this same change (elb_snapshot_build may hand it
 *      out at once) is still named by the old table of its former VIP until
 *      step 4: the program checks that a picked slot belongs to the VIP and
 *      drops the packet as no_backend otherwise (bpf/edgelb.bpf.c), so for
 *      that moment some new flows of that VIP are dropped, never sent to
 *      another VIP's backend. Existing flows of a removed backend are
 *      re-picked as soon as its slot's generation changes, as in DPDK.
 *   4. per VIP whose table or previous owners (second chance) changed: a
 *      new inner map is created, filled completely (table and previous
 *      owners, bpf/edgelb_xdp_maps.h), and published with one update of
 *      the outer map (the kernel swaps the pointer under RCU), so the
 *      program sees the old or the new table, never a partial one. The table carries its own size in
 *      entry 0, so a VIP entry written later (step 5) cannot pair the old
 *      size with the new table.
 *   5. write the admission control (vip_admission) of the VIPs whose
 *      limits changed and the QUIC routing (xdp_quic.c), then add or update the VIP entries, after setting their addresses' bits in
 *      vip_filter (a packet whose bit is clear skips the vips map, so the
 *      bits must cover every key present). A hash update of an existing key
 *      swaps in a new element: a packet sees the old or the new value whole.
 *   6. delete the QUIC server IDs no longer used (xdp_quic.c), and the
 *      tables of VIP indices no longer used.
 *   7. zero the slots that became empty: no table names them any more (step
 *      4), and flows still holding them fail the generation check and are
 *      re-picked.
 *   8. clear the vip_filter bits of the addresses deleted in step 2.
 *
 * Residual windows: between steps 3 and 5 a VIP whose MTU, encapsulation or
 * rate limit changed is still decided with its old value; a VIP whose
 * admission limits change while it keeps them on (an ARRAY value, copied in
 * place) may have a packet decided on a mix of its old and new limits; backend slot
 * values (ARRAY, copied in place) can be read half-written by a packet of a
 * flow already on that slot only if the slot's content changes while it
 * stays in use, i.e. a backend's state or weight changes (draining): such a
 * packet may read the old or new state (both forward to the same address).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "edgelb_xdp_maps.h"
#include "elb_maglev.h"
#include "xdp.h"
/* The skeleton names core types: they are defined above. */
#include "edgelb.skel.h"

static void vip_key_of(const struct elb_vip_lookup_entry *e, struct elb_xdp_vip_key *k)
{
	memset(k, 0, sizeof(*k));
	k->addr = e->addr;
	k->port = e->port;
	k->proto = e->proto;
	k->family = e->family;
}

/* v's vips value, naming its vip_quic entry bank[v->index]. */
static void vip_value_of(const struct elb_vip *v, const uint8_t *quic_bank, struct elb_xdp_vip *x)
{
	memset(x, 0, sizeof(*x));
	x->index = v->index;
	x->mtu = v->mtu;
	x->encap_flags = (uint8_t)((v->gue ? ELB_XDP_VIP_GUE : 0) |
				   (v->second_chance ? ELB_XDP_VIP_SECOND_CHANCE : 0));
	x->rate_limited = v->rate_limited;
	x->gue_dport = v->gue_dport;
	x->maglev_size = v->maglev_size;
	x->gen = v->gen;
	x->rate_limit = v->rate_limit;
	x->timeouts = v->timeouts;
	if (v->flow_budget.interval || v->n_source_limits)
		x->encap_flags |= ELB_XDP_VIP_ADMISSION;
	if (v->quic)
		x->encap_flags |= ELB_XDP_VIP_QUIC |
				  (quic_bank[v->index % ELB_MAX_VIPS] ? ELB_XDP_VIP_QUIC_BANK : 0);
}

static void admission_of(const struct elb_vip *v, struct elb_xdp_admission *a)
{
	memset(a, 0, sizeof(*a));
	a->flow_budget = v->flow_budget;
	memcpy(a->source_limits, v->source_limits, sizeof(a->source_limits));
	a->n_source_limits = v->n_source_limits;
}

static bool lookup_entry_used(const struct elb_vip_lookup_entry *e)
{
	return e->vip_index != ELB_NO_VIP;
}

/* The value snap gives the key k (its QUIC VIPs' entries in quic_bank),
 * or false if snap has no such entry. */
static bool snapshot_vip_value(const struct elb_snapshot *snap, const struct elb_xdp_vip_key *k,
			       const uint8_t *quic_bank, struct elb_xdp_vip *value)
{
	for (uint32_t i = 0; i < ELB_VIP_LOOKUP_SIZE; i++) {
		const struct elb_vip_lookup_entry *e = &snap->vip_lookup[i];
		struct elb_xdp_vip_key ek;

		if (!lookup_entry_used(e))
			continue;
		vip_key_of(e, &ek);
		if (memcmp(&ek, k, sizeof(ek)) == 0) {
			if (value)
				vip_value_of(&snap->vips[e->vip_index], quic_bank, value);
			return true;
		}
	}
	return false;
}

static int fail(const char *what, int rc)
{
	fprintf(stderr, "edgelb-xdp: %s: %s\n", what, strerror(-rc));
	return rc;
}

static int write_node(struct xdp_dataplane *dp, const struct elb_snapshot *next)
{
	struct elb_xdp_node n;
	uint32_t zero = 0;

	memset(&n, 0, sizeof(n));
	n.seed = next->seed;
	n.source_v4 = next->source_v4;
	n.source_v6 = next->source_v6;
	memcpy(n.gateway_mac, next->gateway_mac, 6);
	memcpy(n.iface_mac, dp->iface_mac, 6);
	n.epoch = next->epoch;
	if (bpf_map_update_elem(bpf_map__fd(dp->skel->maps.node), &zero, &n, BPF_ANY))
		return fail("node map", -errno);
	dp->skel->bss->node_config = n;
	/* The sketch's layout follows the seed, as in the snapshot. */
	dp->skel->bss->source_keys = next->source_keys;
	return 0;
}

static void filter_set(uint64_t *bits, const union elb_addr *addr)
{
	uint32_t bit = elb_xdp_vip_filter_bit(addr);

	bits[bit / 64] |= 1ull << (bit % 64);
}

/* vip_filter := bits, or |= bits with keep_old. Each word is one store: a
 * packet sees a word's old or new value, and while keys are being added
 * or deleted the words hold the union of both sets. */
static void filter_store(struct xdp_dataplane *dp, const uint64_t *bits, bool keep_old)
{
	uint64_t *words = dp->skel->bss->vip_filter;

	for (uint32_t i = 0; i < ELB_XDP_VIP_FILTER_WORDS; i++) {
		uint64_t v = bits[i];

		if (keep_old)
			v |= __atomic_load_n(&words[i], __ATOMIC_RELAXED);
		__atomic_store_n(&words[i], v, __ATOMIC_RELAXED);
	}
}

static void filter_of_snapshot(const struct elb_snapshot *snap, uint64_t *bits)
{
	memset(bits, 0, sizeof(uint64_t) * ELB_XDP_VIP_FILTER_WORDS);
	for (uint32_t i = 0; i < ELB_VIP_LOOKUP_SIZE; i++)
		if (lookup_entry_used(&snap->vip_lookup[i]))
			filter_set(bits, &snap->vip_lookup[i].addr);
}

static int delete_stale_vips(struct xdp_dataplane *dp, const struct elb_snapshot *next,
			     const struct elb_snapshot *prev)
{
	int fd = bpf_map__fd(dp->skel->maps.vips);
	struct elb_xdp_vip_key k, nk, *stale;
	void *cursor = NULL;
	uint32_t n = 0;

	if (prev) {
		for (uint32_t i = 0; i < ELB_VIP_LOOKUP_SIZE; i++) {
			if (!lookup_entry_used(&prev->vip_lookup[i]))
				continue;
			vip_key_of(&prev->vip_lookup[i], &k);
			if (!snapshot_vip_value(next, &k, NULL, NULL) && bpf_map_delete_elem(fd, &k) &&
			    errno != ENOENT)
				return fail("vips map delete", -errno);
		}
		return 0;
	}
	/* Unknown content (maps of an earlier process): walk the map. Deleting
	 * the key just returned restarts the walk, so collect first. */
	stale = calloc(2 * ELB_MAX_VIPS + 1, sizeof(*stale));
	if (stale == NULL)
		return -ENOMEM;
	while (n < 2 * ELB_MAX_VIPS && bpf_map_get_next_key(fd, cursor, &nk) == 0) {
		k = nk;
		cursor = &k;
		if (!snapshot_vip_value(next, &nk, NULL, NULL))
			stale[n++] = nk;
	}
	for (uint32_t i = 0; i < n; i++)
		if (bpf_map_delete_elem(fd, &stale[i]) && errno != ENOENT) {
			free(stale);
			return fail("vips map delete", -errno);
		}
	free(stale);
	return 0;
}

/* Step 3 (write = true) or step 7 (write = false: zero the emptied slots). */
static int write_slots(struct xdp_dataplane *dp, const struct elb_snapshot *next,
		       const struct elb_snapshot *prev, bool write)
{
	int fd = bpf_map__fd(dp->skel->maps.backends);
	uint32_t end = ELB_MAX_BACKEND_SLOTS;

	if (prev)
		end = next->n_backend_slots > prev->n_backend_slots ? next->n_backend_slots
								    : prev->n_backend_slots;
	for (uint32_t s = 0; s < end; s++) {
		const struct elb_backend_slot *want = &next->backends[s];
		struct elb_backend_slot have;

		if (write != (want->gen != 0))
			continue;
		if (prev) {
			have = prev->backends[s];
		} else if (bpf_map_lookup_elem(fd, &s, &have)) {
			return fail("backends map read", -errno);
		}
		if (memcmp(&have, want, sizeof(have)) == 0)
			continue;
		if (bpf_map_update_elem(fd, &s, want, BPF_ANY))
			return fail("backends map", -errno);
	}
	return 0;
}

/* Previous owners equal: both absent (all EMPTY) or the same array. */
static bool previous_equal(const struct elb_vip *a, const struct elb_vip *b)
{
	if (a->maglev_previous == NULL || b->maglev_previous == NULL)
		return a->maglev_previous == b->maglev_previous;
	return memcmp(a->maglev_previous, b->maglev_previous,
		      sizeof(*a->maglev_previous) * a->maglev_size) == 0;
}

static bool table_unchanged(const struct elb_vip *a, const struct elb_vip *b)
{
	return a->maglev != NULL && b->maglev != NULL && a->gen == b->gen &&
	       a->maglev_size == b->maglev_size &&
	       memcmp(a->maglev, b->maglev, sizeof(*a->maglev) * a->maglev_size) == 0 &&
	       previous_equal(a, b);
}

/* A new inner map holding v's table and previous owners (layout in
 * bpf/edgelb_xdp_maps.h), filled before anyone can see it. */
static int build_table(const struct elb_vip *v)
{
	LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = BPF_F_INNER_MAP);
	uint32_t entries = elb_xdp_maglev_entries(v->maglev_size), count = entries;
	uint32_t *keys = malloc(sizeof(*keys) * entries), *values = malloc(sizeof(*values) * entries);
	uint32_t *previous;
	int fd = -ENOMEM, rc;

	if (keys == NULL || values == NULL)
		goto out;
	for (uint32_t i = 0; i < entries; i++)
		keys[i] = i;
	values[0] = v->maglev_size;
	memcpy(values + ELB_XDP_MAGLEV_HEADER, v->maglev, sizeof(*values) * v->maglev_size);
	previous = values + ELB_XDP_MAGLEV_HEADER + v->maglev_size;
	if (v->maglev_previous != NULL)
		memcpy(previous, v->maglev_previous, sizeof(*values) * v->maglev_size);
	else
		for (uint32_t i = 0; i < v->maglev_size; i++)
			previous[i] = ELB_MAGLEV_EMPTY;
	fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "elb_maglev", sizeof(uint32_t), sizeof(uint32_t),
			    entries, &opts);
	if (fd < 0) {
		fd = fail("Maglev table create", -errno);
		goto out;
	}
	rc = bpf_map_update_batch(fd, keys, values, &count, NULL);
	if (rc || count != entries) {
		/* No batch support: one entry at a time. */
		for (uint32_t i = 0; i < entries; i++)
			if (bpf_map_update_elem(fd, &keys[i], &values[i], BPF_ANY)) {
				rc = fail("Maglev table fill", -errno);
				close(fd);
				fd = rc;
				goto out;
			}
	}
out:
	free(keys);
	free(values);
	return fd;
}

static int publish_tables(struct xdp_dataplane *dp, const struct elb_snapshot *next,
			  const struct elb_snapshot *prev)
{
	int outer = bpf_map__fd(dp->skel->maps.maglev);

	for (uint32_t i = 0; i < ELB_MAX_VIPS; i++) {
		const struct elb_vip *v = &next->vips[i];
		int fd, rc = 0;

		if (v->maglev == NULL || (prev && table_unchanged(v, &prev->vips[i])))
			continue;
		fd = build_table(v);
		if (fd < 0)
			return fd;
		if (bpf_map_update_elem(outer, &i, &fd, BPF_ANY))
			rc = fail("Maglev outer map", -errno);
		close(fd); /* the outer map holds it now */
		if (rc)
			return rc;
	}
	return 0;
}

/* Step 5, first: the admission control of each VIP of next that has it
 * and whose limits differ from prev's (all of them without prev). A VIP
 * without it is never read from there: its entry is left as it is. */
static int write_admission(struct xdp_dataplane *dp, const struct elb_snapshot *next,
			   const struct elb_snapshot *prev)
{
	int fd = bpf_map__fd(dp->skel->maps.vip_admission);

	for (uint32_t i = 0; i < ELB_MAX_VIPS; i++) {
		const struct elb_vip *v = &next->vips[i];
		struct elb_xdp_admission want, have;

		if (v->maglev == NULL || !(v->flow_budget.interval || v->n_source_limits))
			continue;
		admission_of(v, &want);
		if (prev && prev->vips[i].maglev != NULL) {
			admission_of(&prev->vips[i], &have);
			if (memcmp(&have, &want, sizeof(want)) == 0)
				continue;
		}
		if (bpf_map_update_elem(fd, &i, &want, BPF_ANY))
			return fail("vip_admission map", -errno);
	}
	return 0;
}

static int write_vips(struct xdp_dataplane *dp, const struct elb_snapshot *next,
		      const struct elb_snapshot *prev)
{
	int fd = bpf_map__fd(dp->skel->maps.vips);

	for (uint32_t i = 0; i < ELB_VIP_LOOKUP_SIZE; i++) {
		const struct elb_vip_lookup_entry *e = &next->vip_lookup[i];
		struct elb_xdp_vip_key k;
		struct elb_xdp_vip value, old;

		if (!lookup_entry_used(e))
			continue;
		vip_key_of(e, &k);
		vip_value_of(&next->vips[e->vip_index], dp->quic_bank_next, &value);
		if (prev && snapshot_vip_value(prev, &k, dp->quic_bank, &old) &&
		    memcmp(&old, &value, sizeof(old)) == 0)
			continue;
		if (bpf_map_update_elem(fd, &k, &value, BPF_ANY))
			return fail("vips map", -errno);
	}
	/* The vip_quic entries in force now. After all of a VIP's keys: each
	 * is compared with prev as the maps held it. */
	memcpy(dp->quic_bank, dp->quic_bank_next, sizeof(dp->quic_bank));
	return 0;
}

static int delete_unused_tables(struct xdp_dataplane *dp, const struct elb_snapshot *next,
				const struct elb_snapshot *prev)
{
	int outer = bpf_map__fd(dp->skel->maps.maglev);

	for (uint32_t i = 0; i < ELB_MAX_VIPS; i++) {
		if (next->vips[i].maglev != NULL || (prev && prev->vips[i].maglev == NULL))
			continue;
		if (bpf_map_delete_elem(outer, &i) && errno != ENOENT)
			return fail("Maglev outer map delete", -errno);
	}
	return 0;
}

int xdp_maps_write(struct xdp_dataplane *dp, const struct elb_snapshot *next,
		   const struct elb_snapshot *prev)
{
	uint64_t filter[ELB_XDP_VIP_FILTER_WORDS];
	int rc;

	filter_of_snapshot(next, filter);
	rc = write_node(dp, next);
	if (rc == 0)
		rc = delete_stale_vips(dp, next, prev);
	if (rc == 0)
		rc = write_slots(dp, next, prev, true);
	if (rc == 0)
		rc = publish_tables(dp, next, prev);
	if (rc == 0)
		rc = write_admission(dp, next, prev);
	if (rc == 0)
		rc = xdp_quic_write(dp, next, prev);
	if (rc == 0) {
		filter_store(dp, filter, true);
		rc = write_vips(dp, next, prev);
	}
	if (rc == 0)
		rc = xdp_quic_prune(dp, next);
	if (rc == 0)
		rc = delete_unused_tables(dp, next, prev);
	if (rc == 0)
		rc = write_slots(dp, next, prev, false);
	/* The map now holds exactly next's keys. On failure the bits stay a
	 * superset of what it holds: correct, only slower. */
	if (rc == 0)
		filter_store(dp, filter, false);
	return rc;
}

/* See bpf/edgelb.bpf.c, flow_clock_ns. Without it the program reads the
 * precise clock: slower, as correct. */
static void sync_flow_clock(struct xdp_dataplane *dp)
{
	uint8_t frame[64] = {0};

	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame, .data_size_in = sizeof(frame),
		    .repeat = 1);
	if (bpf_prog_test_run_opts(bpf_program__fd(dp->skel->progs.edgelb_clock_sync), &opts) ||
	    opts.retval != XDP_PASS)
		fprintf(stderr, "edgelb-xdp: jiffies clock unavailable (kernel HZ unknown?): "
				"flows use bpf_ktime_get_ns\n");
}

int xdp_maps_init_globals(struct xdp_dataplane *dp)
{
	uint64_t filter[ELB_XDP_VIP_FILTER_WORDS] = {0};
	int fd = bpf_map__fd(dp->skel->maps.vips);
	struct elb_xdp_vip_key k, nk;
	void *cursor = NULL;
	uint32_t zero = 0;

	sync_flow_clock(dp);
	/* The node configuration and the VIP filter of what pinned maps hold
	 * (zeroes when they are new). */
	if (bpf_map_lookup_elem(bpf_map__fd(dp->skel->maps.node), &zero,
				&dp->skel->bss->node_config))
		return fail("node map read", -errno);
	elb_source_keys_init(&dp->skel->bss->source_keys, &dp->skel->bss->node_config.seed);
	while (bpf_map_get_next_key(fd, cursor, &nk) == 0) {
		k = nk;
		cursor = &k;
		filter_set(filter, &k.addr);
	}
	filter_store(dp, filter, false);
	return 0;
}

/* values[0..n) := entries 0..n of the ARRAY map fd: in batches, one
 * entry at a time where the kernel has no batch lookup. */
static int read_array(int fd, uint32_t *values, uint32_t n)
{
	uint32_t *keys = malloc(sizeof(*keys) * (n ? n : 1));
	uint32_t done = 0, token_in = 0, token_out = 0;
	int rc = 0;

	if (keys == NULL)
		return -ENOMEM;
	while (done < n) {
		uint32_t count = n - done;

		rc = bpf_map_lookup_batch(fd, done ? &token_in : NULL, &token_out, keys + done,
					  values + done, &count, NULL);
		if (rc && errno != ENOENT)
			break;
		done += count;
		token_in = token_out;
		if (rc || count == 0)
			break; /* ENOENT: the end of the map */
	}
	rc = 0;
	/* Each key is its index, so whatever the batches did not cover (or
	 * all of it, without batch support) reads one by one. */
	for (uint32_t i = done < n ? 0 : n; i < n; i++)
		if (bpf_map_lookup_elem(fd, &i, &values[i])) {
			rc = -errno;
			break;
		}
	free(keys);
	return rc;
}

/*
 * Read VIP index's table and previous owners back from its inner map into
 * sv (maglev, maglev_size, maglev_previous): what a restarted agent builds
 * its first snapshot from, so that the previous owners survive the restart
 * (elb_maglev_previous continues from them). A table of an older agent
 * (1 + size entries) reads with no previous owners.
 * @return 0, -ENOENT (no table at index), -ENOMEM, or -errno.
 */
static int read_table(struct xdp_dataplane *dp, uint32_t index, struct elb_vip *sv)
{
	int outer = bpf_map__fd(dp->skel->maps.maglev);
	struct bpf_map_info info;
	uint32_t info_len = sizeof(info), id, size, entries;
	uint32_t *values = NULL, *table = NULL, *previous = NULL;
	int fd, rc = 0;

	if (bpf_map_lookup_elem(outer, &index, &id))
		return -ENOENT;
	fd = bpf_map_get_fd_by_id(id);
	if (fd < 0)
		return -errno;
	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(fd, &info, &info_len)) {
		rc = -errno;
		goto out;
	}
	entries = info.max_entries;
	values = malloc(sizeof(*values) * (entries ? entries : 1));
	if (values == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	rc = read_array(fd, values, entries);
	if (rc)
		goto out;
	size = entries > 0 ? values[0] : 0;
	if (size == 0 || entries < ELB_XDP_MAGLEV_HEADER + size) {
		rc = -EINVAL;
		goto out;
	}
	table = malloc(sizeof(*table) * size);
	if (table == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	memcpy(table, values + ELB_XDP_MAGLEV_HEADER, sizeof(*table) * size);
	if (entries >= elb_xdp_maglev_entries(size)) {
		previous = malloc(sizeof(*previous) * size);
		if (previous == NULL) {
			rc = -ENOMEM;
			goto out;
		}
		memcpy(previous, values + ELB_XDP_MAGLEV_HEADER + size, sizeof(*previous) * size);
	}
	sv->maglev = table;
	sv->maglev_previous = previous;
	sv->maglev_size = size;
	table = previous = NULL;
out:
	free(values);
	free(table);
	free(previous);
	close(fd);
	return rc;
}

int xdp_maps_read_prev(struct xdp_dataplane *dp, struct elb_snapshot **out, uint32_t *max_gen)
{
	int vips_fd = bpf_map__fd(dp->skel->maps.vips);
	int backends_fd = bpf_map__fd(dp->skel->maps.backends);
	int admission_fd = bpf_map__fd(dp->skel->maps.vip_admission);
	struct elb_xdp_vip_key k, nk;
	struct elb_snapshot *snap;
	void *cursor = NULL;
	bool any = false;

	*out = NULL;
	*max_gen = 0;
	snap = calloc(1, sizeof(*snap));
	if (snap == NULL)
		return -ENOMEM;
	snap->backends = calloc(ELB_MAX_BACKEND_SLOTS, sizeof(*snap->backends));
	if (snap->backends == NULL) {
		elb_snapshot_free(snap);
		return -ENOMEM;
	}
	elb_vip_lookup_clear(snap);
	/* The seed the program runs with (xdp_maps_init_globals read it), and
	 * so the sketch layout that flow.explain reads. */
	snap->seed = dp->skel->bss->node_config.seed;
	elb_source_keys_init(&snap->source_keys, &snap->seed);
	while (bpf_map_get_next_key(vips_fd, cursor, &nk) == 0) {
		struct elb_xdp_vip v;
		struct elb_vip *sv;

		k = nk;
		cursor = &k;
		if (k.proto == 0 || bpf_map_lookup_elem(vips_fd, &k, &v) || v.index >= ELB_MAX_VIPS)
			continue; /* address markers carry nothing of their own */
		sv = &snap->vips[v.index];
		sv->addr = k.addr;
		sv->port = k.port;
		sv->proto = k.proto;
		sv->family = k.family;
		sv->index = v.index;
		sv->gen = v.gen;
		sv->gue = (v.encap_flags & ELB_XDP_VIP_GUE) != 0;
		sv->second_chance = (v.encap_flags & ELB_XDP_VIP_SECOND_CHANCE) != 0;
		/* Its limits, for counters.get and flow.explain until the first
		 * configuration: what the program enforces meanwhile. */
		/* Its QUIC routing and the vip_quic entry in force: for
		 * flow.explain, and so that the next write goes to the other. */
		if (xdp_quic_read(dp, v.index, v.encap_flags, sv) == -ENOMEM) {
			elb_snapshot_free(snap);
			return -ENOMEM;
		}
		if (v.encap_flags & ELB_XDP_VIP_ADMISSION) {
			struct elb_xdp_admission a;
			uint32_t index = v.index;

			if (bpf_map_lookup_elem(admission_fd, &index, &a) == 0 &&
			    a.n_source_limits <= ELB_SOURCE_LIMITS_MAX) {
				sv->flow_budget = a.flow_budget;
				memcpy(sv->source_limits, a.source_limits, sizeof(sv->source_limits));
				sv->n_source_limits = a.n_source_limits;
			}
		}
		/* The table and previous owners, for the previous owners of the
		 * first snapshot built from this one. Without them (a table
		 * that cannot be read) only "this VIP exists" matters to
		 * elb_snapshot_build: a one-slot stand-in. */
		if (sv->maglev == NULL && read_table(dp, v.index, sv) != 0) {
			sv->maglev_size = 1;
			sv->maglev = calloc(1, sizeof(*sv->maglev));
			if (sv->maglev == NULL) {
				elb_snapshot_free(snap);
				return -ENOMEM;
			}
		}
		snap->n_vips++;
		if (v.gen > *max_gen)
			*max_gen = v.gen;
		any = true;
	}
	for (uint32_t s = 0; s < ELB_MAX_BACKEND_SLOTS; s++) {
		struct elb_backend_slot *b = &snap->backends[s];

		if (bpf_map_lookup_elem(backends_fd, &s, b)) {
			elb_snapshot_free(snap);
			return fail("backends map read", -errno);
		}
		if (b->gen == 0)
			continue;
		snap->n_backend_slots = s + 1;
		if (b->gen > *max_gen)
			*max_gen = b->gen;
		any = true;
	}
	if (!any) {
		elb_snapshot_free(snap);
		return 0;
	}
	*out = snap;
	return 0;
}
