/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What operators ask of Maglev tables, computed the same way on every node
 * and in the control plane: a digest of a table, its slot counts per
 * backend, and the preview of a backend-set change (which share of the
 * slots moves). Control path only: allocates.
 *
 * The digest covers the sequence slot -> backend *identity* (family and
 * address), not the slot values a dataplane stores (its own backend-slot
 * numbers, which differ between nodes and processes): two nodes with the
 * same backend set build the same table (elb_maglev.h) and so report the
 * same digest, whatever their internal numbering.
 */
#ifndef ELB_TABLES_H
#define ELB_TABLES_H

#include <stdbool.h>
#include <stdint.h>

#include "elb_config.h"
#include "elb_maglev.h"

/* Digest as printed: 16 hex digits and a NUL. */
#define ELB_TABLE_DIGEST_STR 17

/* Below this many slots per backend, the share of the busiest backend can be
 * more than about 1% above the lightest's: the rule of thumb "M > 100 x N". */
#define ELB_TABLE_SLOTS_PER_BACKEND_MIN 100u

struct elb_table_identity {
	union elb_addr addr;
	uint8_t family; /* ELB_AF_INET, ELB_AF_INET6; 0: no backend (never matches) */
};

/*
 * FNV-1a 64 over the table size and, per slot, the identity of the backend
 * in it: ids[table[i]] (a marker byte for ELB_MAGLEV_EMPTY or an id >= n_ids).
 * IPv4 identities hash their 4 address bytes only (the rest of the union is
 * not part of the address).
 */
uint64_t elb_table_digest(const uint32_t *table, uint32_t size,
			  const struct elb_table_identity *ids, uint32_t n_ids);
void elb_table_digest_str(uint64_t digest, char out[ELB_TABLE_DIGEST_STR]);

/* counts[id] = slots holding id, for id < n_ids (counts zeroed first). */
void elb_table_count_slots(const uint32_t *table, uint32_t size, uint32_t *counts,
			   uint32_t n_ids);

/*
 * The Maglev table a dataplane builds for vip (elb_snapshot.c's rule: a
 * draining backend has weight 0), with slot value = index into
 * vip->backends. table holds vip->maglev_size entries.
 * @return 0, -EINVAL or -ENOMEM (elb_maglev_build).
 */
int elb_table_build_vip(const struct elb_dp_vip *vip, uint32_t *table);

/* The digest of elb_table_build_vip's table. @return 0 or -errno. */
int elb_table_vip_digest(const struct elb_dp_vip *vip, uint64_t *digest);

/* One backend of a preview: in the old set, the new one, or both. */
struct elb_preview_backend {
	union elb_addr addr;
	uint8_t family;
	bool in_old, in_new;
	uint32_t old_weight, new_weight;
	uint8_t old_state, new_state; /* enum elb_dp_backend_state */
	uint32_t old_slots, new_slots;
};

struct elb_preview {
	uint32_t size;        /* M (the new table's; both when the size is unchanged) */
	uint32_t old_size;
	uint32_t moved_slots; /* slots whose backend identity differs */
	double moved_fraction;
	uint32_t n_backends;  /* entries of backends: the union of both sets */
	struct elb_preview_backend *backends; /* sorted by family, address */
	/* New set: backends that own slots, the min/max slots per backend, and
	 * whether M is below ELB_TABLE_SLOTS_PER_BACKEND_MIN per backend. */
	uint32_t new_owners, new_min_slots, new_max_slots;
	bool small_table;
};

/*
 * Compare the table of old (NULL: empty) with the table of new, built as
 * the dataplanes build them. The result is freed by elb_preview_release.
 * @return 0, -EINVAL, -ENOMEM.
 */
int elb_table_preview(const struct elb_dp_vip *old_vip, const struct elb_dp_vip *new_vip,
		      struct elb_preview *out);
void elb_preview_release(struct elb_preview *p);

#endif /* ELB_TABLES_H */
