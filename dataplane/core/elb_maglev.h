/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Maglev consistent hashing (Eisenbud et al., NSDI 2016).
 *
 * The table is built on the control path (elb_maglev_build, ordinary C
 * only) and published whole; the dataplanes do one array lookup per new
 * flow at slot elb_maglev_slot(flow hash, size). The DPDK dataplane indexes
 * a C array, the XDP program an array map; the slot arithmetic is this one
 * definition.
 *
 * The table depends only on the set of (backend identity, weight): backends
 * are sorted by identity before the build, their permutations come from
 * fixed-key hashes of the identity, and all arithmetic is integer. Two nodes
 * given the same backends in any order build byte-identical tables.
 */
#ifndef ELB_MAGLEV_H
#define ELB_MAGLEV_H

#include "elb_compat.h"
#include "elb_flow.h"

#define ELB_MAGLEV_DEFAULT_SIZE 65537u /* prime; about 650 slots per backend at N = 100 */
#define ELB_MAGLEV_MIN_SIZE 251u       /* prime */
#define ELB_MAGLEV_MAX_SIZE 4194301u   /* prime; 16 MiB of 32-bit slots */
#define ELB_MAGLEV_MAX_WEIGHT 65535u
#define ELB_MAGLEV_EMPTY 0xffffffffu /* slot value when no backend has weight */

/* The slot a flow hash selects in a table of `size` entries. */
ELB_INLINE uint32_t elb_maglev_slot(uint64_t hash, uint32_t size)
{
	return (uint32_t)(hash % size);
}

#if !defined(__bpf__)

/*
 * Permutation of a backend: offset = h(offset key) % size, skip =
 * h(skip key) % (size - 1) + 1, h = elb_siphash13_words over the 3 words
 * (24 bytes) of its identity:
 *   bytes 0..7    family (4 or 6) as a 64-bit little-endian integer
 *   bytes 8..23   the 16 address bytes as stored (network order); for IPv4
 *                 the 4 address bytes, then 12 zero bytes whatever the
 *                 struct holds there
 * Backends are sorted by these bytes (family, then address). The keys are
 * fixed rather than the fleet seed: every node must build the same table
 * whatever its configuration, and the permutations need no secret (the
 * flow-to-slot hash is the keyed one). Changing any of this reshuffles
 * every table of the fleet.
 */
#define ELB_MAGLEV_IDENTITY_WORDS 3
#define ELB_MAGLEV_OFFSET_KEY_K0 0x6d676c76206f6630ULL /* "mglv of0" */
#define ELB_MAGLEV_OFFSET_KEY_K1 0x6d676c76206f6631ULL /* "mglv of1" */
#define ELB_MAGLEV_SKIP_KEY_K0 0x6d676c7620736b30ULL   /* "mglv sk0" */
#define ELB_MAGLEV_SKIP_KEY_K1 0x6d676c7620736b31ULL   /* "mglv sk1" */

/* A backend as the table builder sees it. */
struct elb_maglev_backend {
	union elb_addr addr; /* identity: the backend's address ... */
	uint8_t family;      /* ... and its family (ELB_AF_INET or ELB_AF_INET6) */
	uint32_t weight;     /* 0 (gets no slot) .. ELB_MAGLEV_MAX_WEIGHT */
	uint32_t id;         /* the value stored in the slots this backend owns */
};

/* true if n is prime (trial division; control path only). */
bool elb_is_prime(uint32_t n);

/*
 * Fill table[0..size) so that each slot holds the id of the backend that
 * owns it. size must be prime and within [ELB_MAGLEV_MIN_SIZE,
 * ELB_MAGLEV_MAX_SIZE]. Backends with weight 0 own no slot; if no backend
 * has weight, every slot is ELB_MAGLEV_EMPTY. Slots are shared out in
 * proportion to weight: each turn goes to the backend whose weighted pass
 * is lowest (stride scheduling), which for equal weights is the paper's
 * round robin.
 *
 * Allocates scratch memory: control path only. The table is left untouched
 * when an error is returned.
 * @return 0, -EINVAL (size not prime or out of range, weight too big,
 *         duplicate identity, bad family, table NULL, backends NULL with
 *         n_backends > 0), -ENOMEM.
 */
int elb_maglev_build(uint32_t *table, uint32_t size, const struct elb_maglev_backend *backends,
		     uint32_t n_backends);

/*
 * The previous owner of each slot of a rebuilt table (second chance,
 * elb_second_chance.h): previous[s] for s in [0, new_size), per slot
 *
 *   old = old_table[s] if it is still an owner, else ELB_MAGLEV_EMPTY
 *   old != EMPTY and old != new_table[s]            -> old
 *   old_previous[s] still an owner, != new_table[s] -> old_previous[s]
 *                            (the alternate survives changes that did not
 *                             move this slot)
 *   otherwise                                        -> ELB_MAGLEV_EMPTY
 *
 * "Still an owner": still_owner[id] != 0 (id < n_still): the id names the
 * same backend (same slot and generation) in the new set, active or
 * draining. All EMPTY when there is no old table (old_table NULL) or its
 * size differs: its slots mean other flows. old_previous NULL reads as all
 * EMPTY. previous may not alias the other arrays. Pure, no allocation.
 */
void elb_maglev_previous(uint32_t *previous, const uint32_t *new_table, uint32_t new_size,
			 const uint32_t *old_table, const uint32_t *old_previous,
			 uint32_t old_size, const uint8_t *still_owner, uint32_t n_still);

#endif /* !__bpf__ */

#endif /* ELB_MAGLEV_H */
