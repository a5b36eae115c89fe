/* SPDX-License-Identifier: BSD-3-Clause */
/* Control path only: see elb_tables.h. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "elb_tables.h"

#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

static uint64_t fnv_bytes(uint64_t h, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= FNV_PRIME;
	}
	return h;
}

uint64_t elb_table_digest(const uint32_t *table, uint32_t size,
			  const struct elb_table_identity *ids, uint32_t n_ids)
{
	const uint8_t size_le[4] = {(uint8_t)size, (uint8_t)(size >> 8), (uint8_t)(size >> 16),
				    (uint8_t)(size >> 24)};
	uint64_t h = fnv_bytes(FNV_OFFSET, size_le, sizeof(size_le));

	for (uint32_t i = 0; i < size; i++) {
		uint32_t id = table[i];
		uint8_t family;

		if (id >= n_ids || ids[id].family == 0) {
			static const uint8_t empty = 0xff;

			h = fnv_bytes(h, &empty, 1);
			continue;
		}
		family = ids[id].family;
		h = fnv_bytes(h, &family, 1);
		h = fnv_bytes(h, ids[id].addr.v6, family == ELB_AF_INET ? 4 : 16);
	}
	return h;
}

void elb_table_digest_str(uint64_t digest, char out[ELB_TABLE_DIGEST_STR])
{
	snprintf(out, ELB_TABLE_DIGEST_STR, "%016" PRIx64, digest);
}

void elb_table_count_slots(const uint32_t *table, uint32_t size, uint32_t *counts,
			   uint32_t n_ids)
{
	memset(counts, 0, (size_t)n_ids * sizeof(*counts));
	for (uint32_t i = 0; i < size; i++)
		if (table[i] < n_ids)
			counts[table[i]]++;
}

/* Build vip's table with slot value ids[b] for backend b. */
static int build_with_ids(const struct elb_dp_vip *vip, const uint32_t *ids, uint32_t *table)
{
	struct elb_maglev_backend *mb = calloc((size_t)vip->n_backends + 1, sizeof(*mb));
	int rc;

	if (mb == NULL)
		return -ENOMEM;
	for (uint32_t b = 0; b < vip->n_backends; b++) {
		const struct elb_dp_backend *be = &vip->backends[b];

		mb[b].addr = be->addr;
		mb[b].family = be->family;
		/* As elb_snapshot_build: draining keeps flows, takes no new ones. */
		mb[b].weight = be->state == ELB_DP_BACKEND_DRAINING ? 0 : be->weight;
		mb[b].id = ids != NULL ? ids[b] : b;
	}
	rc = elb_maglev_build(table, vip->maglev_size, mb, vip->n_backends);
	free(mb);
	return rc;
}

int elb_table_build_vip(const struct elb_dp_vip *vip, uint32_t *table)
{
	return build_with_ids(vip, NULL, table);
}

int elb_table_vip_digest(const struct elb_dp_vip *vip, uint64_t *digest)
{
	uint32_t *table = malloc((size_t)vip->maglev_size * sizeof(*table));
	struct elb_table_identity *ids = calloc((size_t)vip->n_backends + 1, sizeof(*ids));
	int rc = -ENOMEM;

	if (table != NULL && ids != NULL) {
		for (uint32_t b = 0; b < vip->n_backends; b++) {
			ids[b].addr = vip->backends[b].addr;
			ids[b].family = vip->backends[b].family;
		}
		rc = elb_table_build_vip(vip, table);
		if (rc == 0)
			*digest = elb_table_digest(table, vip->maglev_size, ids, vip->n_backends);
	}
	free(table);
	free(ids);
	return rc;
}

static int identity_cmp(uint8_t fa, const union elb_addr *a, uint8_t fb, const union elb_addr *b)
{
	if (fa != fb)
		return fa < fb ? -1 : 1;
	return memcmp(a->v6, b->v6, fa == ELB_AF_INET ? 4 : 16);
}

static int preview_backend_cmp(const void *x, const void *y)
{
	const struct elb_preview_backend *a = x, *b = y;

	return identity_cmp(a->family, &a->addr, b->family, &b->addr);
}

/* Index of (family, addr) in the sorted merged list. */
static uint32_t merged_index(const struct elb_preview *p, const struct elb_dp_backend *be)
{
	struct elb_preview_backend key = {.addr = be->addr, .family = be->family};
	const struct elb_preview_backend *found =
		bsearch(&key, p->backends, p->n_backends, sizeof(key), preview_backend_cmp);

	return (uint32_t)(found - p->backends);
}

static int merge_backends(struct elb_preview *p, const struct elb_dp_vip *old_vip,
			  const struct elb_dp_vip *new_vip)
{
	uint32_t n_old = old_vip ? old_vip->n_backends : 0, n = 0;
	struct elb_preview_backend *all =
		calloc((size_t)n_old + new_vip->n_backends + 1, sizeof(*all));

	if (all == NULL)
		return -ENOMEM;
	for (uint32_t i = 0; i < n_old + new_vip->n_backends; i++) {
		bool is_old = i < n_old;
		const struct elb_dp_backend *be =
			is_old ? &old_vip->backends[i] : &new_vip->backends[i - n_old];

		all[n].addr = be->addr;
		all[n].family = be->family;
		/* Only the address bytes of the family are the identity. */
		if (be->family == ELB_AF_INET)
			memset(&all[n].addr.v6[4], 0, 12);
		n++;
	}
	qsort(all, n, sizeof(*all), preview_backend_cmp);
	p->n_backends = 0;
	for (uint32_t i = 0; i < n; i++)
		if (p->n_backends == 0 ||
		    preview_backend_cmp(&all[p->n_backends - 1], &all[i]) != 0)
			all[p->n_backends++] = all[i];
	p->backends = all;
	return 0;
}

/* One side of the preview (the old VIP or the new; vip may be NULL: no
 * old one): where each of its backends is in the union (ids), and what it
 * is there. */
static void mark_side(struct elb_preview *out, const struct elb_dp_vip *vip, bool is_new,
		      uint32_t *ids)
{
	for (uint32_t b = 0; vip != NULL && b < vip->n_backends; b++) {
		const struct elb_dp_backend *be = &vip->backends[b];
		struct elb_preview_backend *pb;

		ids[b] = merged_index(out, be);
		pb = &out->backends[ids[b]];
		if (is_new) {
			pb->in_new = true;
			pb->new_weight = be->weight;
			pb->new_state = be->state;
		} else {
			pb->in_old = true;
			pb->old_weight = be->weight;
			pb->old_state = be->state;
		}
	}
}

int elb_table_preview(const struct elb_dp_vip *old_vip, const struct elb_dp_vip *new_vip,
		      struct elb_preview *out)
{
	uint32_t *old_table = NULL, *new_table = NULL, *old_ids = NULL, *new_ids = NULL;
	uint32_t *old_counts = NULL, *new_counts = NULL;
	uint32_t n_old = old_vip ? old_vip->n_backends : 0;
	uint32_t old_size = old_vip ? old_vip->maglev_size : new_vip->maglev_size;
	int rc = -ENOMEM;

	memset(out, 0, sizeof(*out));
	rc = merge_backends(out, old_vip, new_vip);
	if (rc < 0)
		return rc;
	rc = -ENOMEM;
	old_table = malloc((size_t)old_size * sizeof(*old_table));
	new_table = malloc((size_t)new_vip->maglev_size * sizeof(*new_table));
	old_ids = calloc((size_t)n_old + 1, sizeof(*old_ids));
	new_ids = calloc((size_t)new_vip->n_backends + 1, sizeof(*new_ids));
	old_counts = calloc((size_t)out->n_backends + 1, sizeof(*old_counts));
	new_counts = calloc((size_t)out->n_backends + 1, sizeof(*new_counts));
	if (!old_table || !new_table || !old_ids || !new_ids || !old_counts || !new_counts)
		goto out;
	mark_side(out, old_vip, false, old_ids);
	mark_side(out, new_vip, true, new_ids);
	if (old_vip != NULL)
		rc = build_with_ids(old_vip, old_ids, old_table);
	else {
		for (uint32_t i = 0; i < old_size; i++)
			old_table[i] = ELB_MAGLEV_EMPTY;
		rc = 0;
	}
	if (rc == 0)
		rc = build_with_ids(new_vip, new_ids, new_table);
	if (rc < 0)
		goto out;
	elb_table_count_slots(old_table, old_size, old_counts, out->n_backends);
	elb_table_count_slots(new_table, new_vip->maglev_size, new_counts, out->n_backends);
	out->size = new_vip->maglev_size;
	out->old_size = old_size;
	if (old_size == new_vip->maglev_size) {
		for (uint32_t i = 0; i < old_size; i++)
			out->moved_slots += old_table[i] != new_table[i];
		out->moved_fraction = (double)out->moved_slots / old_size;
	} else {
		/* Different (prime) sizes: a flow hash h picks slot h % M_old
		 * before and h % M_new after, and the pair of residues is
		 * uniform over all M_old x M_new pairs (CRT), so a flow stays
		 * with probability sum over backends of old_share x new_share. */
		double stay = 0;

		for (uint32_t i = 0; i < out->n_backends; i++)
			stay += (double)old_counts[i] / old_size * new_counts[i] /
				new_vip->maglev_size;
		out->moved_fraction = 1.0 - stay;
		out->moved_slots = (uint32_t)(out->moved_fraction * new_vip->maglev_size + 0.5);
	}
	out->new_min_slots = UINT32_MAX;
	for (uint32_t i = 0; i < out->n_backends; i++) {
		struct elb_preview_backend *pb = &out->backends[i];

		pb->old_slots = old_counts[i];
		pb->new_slots = new_counts[i];
		if (pb->in_new && pb->new_state == ELB_DP_BACKEND_ACTIVE && pb->new_weight > 0) {
			out->new_owners++;
			if (pb->new_slots < out->new_min_slots)
				out->new_min_slots = pb->new_slots;
			if (pb->new_slots > out->new_max_slots)
				out->new_max_slots = pb->new_slots;
		}
	}
	if (out->new_owners == 0)
		out->new_min_slots = 0;
	out->small_table =
		(uint64_t)new_vip->maglev_size <= (uint64_t)ELB_TABLE_SLOTS_PER_BACKEND_MIN * new_vip->n_backends;
out:
	free(old_table);
	free(new_table);
	free(old_ids);
	free(new_ids);
	free(old_counts);
	free(new_counts);
	if (rc < 0)
		elb_preview_release(out);
	return rc;
}

void elb_preview_release(struct elb_preview *p)
{
	free(p->backends);
	p->backends = NULL;
	p->n_backends = 0;
}
