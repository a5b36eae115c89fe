/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Maglev table construction: control path only (allocates).
 *
 * Outline of elb_maglev_build():
 *  1. validate everything (size, families, weights) before touching the table;
 *  2. encode each backend's identity (see ELB_MAGLEV_IDENTITY_* in the header),
 *     sort by it and reject duplicates, so that the input order never matters;
 *  3. give each backend with weight its permutation (offset, skip) from two
 *     fixed-key SipHash-1-3 of the identity;
 *  4. hand out turns by stride scheduling (each turn to the lowest pass
 *     (turns + 1) / weight, ties to the lower sorted index). Backends of one
 *     weight share their passes, so the schedule is kept per weight class in
 *     a binary heap, and at each pass the class's members take their turns in
 *     sorted order: equal weights are one class, the paper's round robin, and
 *     a mix of few weights costs a heap step per class and pass rather than
 *     per turn. A turn claims the backend's next preferred slot still free.
 *
 * Occupancy is tracked in a bitmap rather than in the table itself: it is
 * 32 times smaller (8 KiB at M = 65537, so it stays in L1), which is what
 * the probing loop mostly reads, and any id value may be stored.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "elb_maglev.h"

bool elb_is_prime(uint32_t n)
{
	if (n < 2)
		return false;
	if (n % 2 == 0)
		return n == 2;
	for (uint32_t d = 3; (uint64_t)d * d <= n; d += 2)
		if (n % d == 0)
			return false;
	return true;
}

static const struct elb_hash_seed maglev_offset_key = {
	.k0 = ELB_MAGLEV_OFFSET_KEY_K0,
	.k1 = ELB_MAGLEV_OFFSET_KEY_K1,
};
static const struct elb_hash_seed maglev_skip_key = {
	.k0 = ELB_MAGLEV_SKIP_KEY_K0,
	.k1 = ELB_MAGLEV_SKIP_KEY_K1,
};

/* A backend after encoding, the unit that is sorted. */
struct maglev_candidate {
	uint64_t identity[ELB_MAGLEV_IDENTITY_WORDS]; /* hash input and sort key */
	uint32_t weight;
	uint32_t id;
};

/* A backend with weight, walking its permutation while the table fills. */
struct maglev_walker {
	uint32_t next; /* the next slot of its permutation to try */
	uint32_t skip; /* permutation step, 1 .. size - 1 */
	uint32_t id;   /* value stored in the slots it claims */
};

/* A weight class's place in the turn heap: every backend of that weight has
 * the same pass at the start of each of the class's turns. The heap holds
 * the nodes themselves, not indices: a comparison reads no other memory. */
struct maglev_turn {
	uint64_t next_turn; /* turns taken by each member + 1 */
	uint32_t weight;    /* 1 .. ELB_MAGLEV_MAX_WEIGHT */
	uint32_t class_id;  /* index in maglev_schedule.classes: the heap's tie-break */
};

/* The members of a weight class, in sorted order (= walker index order). */
struct maglev_class {
	uint32_t first; /* in maglev_schedule.members */
	uint32_t n;
};

/* Who takes which turn: weight classes and their heap. */
struct maglev_schedule {
	struct maglev_turn *heap;      /* n_classes nodes */
	struct maglev_class *classes;  /* n_classes */
	uint32_t *members;	       /* walker indices grouped by class, ascending in each */
	struct maglev_turn *tied;      /* scratch: classes popped at one pass */
	uint64_t *tied_members;	       /* scratch: bitmap over walkers, all zero between passes */
	uint32_t n_classes;
	uint32_t n_members;	       /* walkers */
};

/*
 * The identity as a byte string, copied into words so that the hash sees
 * the same bytes on a host of either byte order. An IPv4 backend's address
 * bytes 4..15 are not part of its identity: they are zeroed here, so that
 * stray bytes there cannot give two nodes different tables.
 */
static void encode_identity(const struct elb_maglev_backend *backend,
			    uint64_t identity[ELB_MAGLEV_IDENTITY_WORDS])
{
	uint8_t bytes[ELB_MAGLEV_IDENTITY_WORDS * sizeof(uint64_t)] = {0};

	bytes[0] = backend->family;
	if (backend->family == ELB_AF_INET)
		memcpy(&bytes[8], &backend->addr.v4, 4);
	else
		memcpy(&bytes[8], backend->addr.v6, 16);
	memcpy(identity, bytes, sizeof(bytes));
}

/* Byte order of the encoding = (family, then address bytes). */
static int compare_candidates(const void *a, const void *b)
{
	const struct maglev_candidate *x = a;
	const struct maglev_candidate *y = b;

	return memcmp(x->identity, y->identity, sizeof(x->identity));
}

static void fill_empty(uint32_t *table, uint32_t size)
{
	for (uint32_t i = 0; i < size; i++)
		table[i] = ELB_MAGLEV_EMPTY;
}

/*
 * One turn of a backend: walk its permutation from where it stopped to the
 * first free slot, and claim it. The position advances by addition and one
 * conditional subtraction (next < size and skip < size, so one subtraction
 * suffices and nothing overflows 32 bits); no division per probe. A free
 * slot always exists while the table is not full: skip is nonzero and size
 * is prime, so the permutation visits every slot.
 */
static inline uint32_t claim_next_free_slot(struct maglev_walker *walker, uint64_t *used,
					    uint32_t size)
{
	uint32_t slot = walker->next;
	uint32_t skip = walker->skip;

	while (used[slot / 64] & (1ULL << (slot % 64))) {
		slot += skip;
		if (slot >= size)
			slot -= size;
	}
	used[slot / 64] |= 1ULL << (slot % 64);

	walker->next = slot + skip >= size ? slot + skip - size : slot + skip;
	return slot;
}

/*
 * Stride scheduling, exactly: backend i's pass is (turns_i + 1) / weight_i,
 * that is stride scheduling with stride L / weight_i for L the least common
 * multiple of all weights, and its first pass one stride. Passes are
 * compared by cross-multiplying, so L is never computed and nothing is
 * rounded: turns + 1 <= size + 1 < 2^22 and weight < 2^16, the products
 * stay below 2^38. Ties go to the lower sorted index (fill_table merges
 * the members of classes that tie), which makes equal weights the paper's
 * round robin, and the table depend only on the ratios of the weights.
 * The heap orders classes that tie by class_id, which only has to be total.
 */
static inline bool takes_turn_before(const struct maglev_turn *a, const struct maglev_turn *b)
{
	uint64_t pass_a = a->next_turn * b->weight;
	uint64_t pass_b = b->next_turn * a->weight;

	/* Without branches: the outcome is a coin flip, a branch would mispredict. */
	return (pass_a < pass_b) | ((pass_a == pass_b) & (a->class_id < b->class_id));
}

static inline bool same_pass(const struct maglev_turn *a, const struct maglev_turn *b)
{
	return a->next_turn * b->weight == b->next_turn * a->weight;
}

static void heap_sift_down(struct maglev_turn *heap, uint32_t n, uint32_t at)
{
	struct maglev_turn moving = heap[at];

	for (;;) {
		uint64_t child = 2 * (uint64_t)at + 1;

		if (child >= n)
			break;
		if (child + 1 < n && takes_turn_before(&heap[child + 1], &heap[child]))
			child++;
		if (!takes_turn_before(&heap[child], &moving))
			break;
		heap[at] = heap[child];
		at = (uint32_t)child;
	}
	heap[at] = moving;
}

/*
 * The root's pass grew: restore the heap. The root's new pass is usually
 * among the largest (it has just moved one whole stride ahead), so sift it
 * "bottom-up": move the smaller child up level by level to a leaf (one
 * comparison per level, no unpredictable branch), then bring the old root
 * back up from there, which takes few steps.
 */
static void heap_root_grew(struct maglev_turn *heap, uint32_t n)
{
	struct maglev_turn moving = heap[0];
	uint32_t at = 0;

	for (;;) {
		uint64_t child = 2 * (uint64_t)at + 1;

		if (child >= n)
			break;
		if (child + 1 < n)
			child += takes_turn_before(&heap[child + 1], &heap[child]);
		heap[at] = heap[child];
		at = (uint32_t)child;
	}
	while (at > 0) {
		uint32_t parent = (at - 1) / 2;

		if (!takes_turn_before(&moving, &heap[parent]))
			break;
		heap[at] = heap[parent];
		at = parent;
	}
	heap[at] = moving;
}

/* The root is gone (a class popped at this pass): the last node fills in. */
static void heap_pop(struct maglev_turn *heap, uint32_t *n)
{
	if (--*n > 0) {
		heap[0] = heap[*n];
		heap_sift_down(heap, *n, 0);
	}
}

static void heap_push(struct maglev_turn *heap, uint32_t *n, struct maglev_turn node)
{
	uint32_t at = (*n)++;

	while (at > 0) {
		uint32_t parent = (at - 1) / 2;

		if (!takes_turn_before(&node, &heap[parent]))
			break;
		heap[at] = heap[parent];
		at = parent;
	}
	heap[at] = node;
}

/*
 * Hand out every turn. At each pass, the classes whose members reach it
 * take turns: one class, its members in order; several (their passes tie,
 * e.g. weights 1 and 2 at pass 1), all their members merged into sorted
 * order through a bitmap. Classes that tie with the root are all reachable
 * from it through tying parents (the heap orders by pass first), so a root
 * whose children do not tie has the pass to itself. Stops when every slot
 * is taken, which may be in the middle of a pass.
 */
static void fill_table(uint32_t *table, uint32_t size, struct maglev_walker *walkers,
		       struct maglev_schedule *sc, uint64_t *used)
{
	uint32_t n_heap = sc->n_classes, filled = 0;

	for (uint32_t i = n_heap / 2; i-- > 0;)
		heap_sift_down(sc->heap, n_heap, i);

	for (;;) {
		struct maglev_turn *root = &sc->heap[0];
		uint32_t n_tied = 0;

		if (!(n_heap > 1 && same_pass(&sc->heap[1], root)) &&
		    !(n_heap > 2 && same_pass(&sc->heap[2], root))) {
			const struct maglev_class *c = &sc->classes[root->class_id];

			for (uint32_t m = c->first; m < c->first + c->n; m++) {
				struct maglev_walker *walker = &walkers[sc->members[m]];

				table[claim_next_free_slot(walker, used, size)] = walker->id;
				if (++filled == size)
					return;
			}
			root->next_turn++;
			heap_root_grew(sc->heap, n_heap);
			continue;
		}
		/* Several classes at this pass. */
		do {
			const struct maglev_class *c = &sc->classes[sc->heap[0].class_id];

			for (uint32_t m = c->first; m < c->first + c->n; m++)
				sc->tied_members[sc->members[m] / 64] |= 1ULL << (sc->members[m] % 64);
			sc->tied[n_tied++] = sc->heap[0];
			heap_pop(sc->heap, &n_heap);
		} while (n_heap > 0 && same_pass(&sc->heap[0], &sc->tied[0]));
		for (uint32_t word = 0; word * 64 < sc->n_members; word++) {
			uint64_t bits = sc->tied_members[word];

			sc->tied_members[word] = 0;
			while (bits != 0) {
				struct maglev_walker *walker =
					&walkers[word * 64 + (uint32_t)__builtin_ctzll(bits)];

				bits &= bits - 1;
				table[claim_next_free_slot(walker, used, size)] = walker->id;
				if (++filled == size)
					return;
			}
		}
		for (uint32_t i = 0; i < n_tied; i++) {
			sc->tied[i].next_turn++;
			heap_push(sc->heap, &n_heap, sc->tied[i]);
		}
	}
}

static int compare_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Weight classes of walkers 0 .. n-1 (weights[i] > 0), members ascending.
 * keys: n scratch words. */
static void schedule_classes(struct maglev_schedule *sc, const struct maglev_candidate *weighted,
			     uint32_t n, uint64_t *keys)
{
	for (uint32_t i = 0; i < n; i++)
		keys[i] = (uint64_t)weighted[i].weight << 32 | i;
	qsort(keys, n, sizeof(*keys), compare_u64);
	sc->n_classes = 0;
	sc->n_members = n;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t weight = (uint32_t)(keys[i] >> 32);

		sc->members[i] = (uint32_t)keys[i];
		if (i == 0 || weight != (uint32_t)(keys[i - 1] >> 32)) {
			sc->classes[sc->n_classes] = (struct maglev_class){.first = i};
			sc->heap[sc->n_classes] = (struct maglev_turn){
				.next_turn = 1, .weight = weight, .class_id = sc->n_classes};
			sc->n_classes++;
		}
		sc->classes[sc->n_classes - 1].n++;
	}
}

int elb_maglev_build(uint32_t *table, uint32_t size, const struct elb_maglev_backend *backends,
		     uint32_t n_backends)
{
	struct maglev_candidate *candidates = NULL;
	struct maglev_walker *walkers = NULL;
	struct maglev_schedule sc = {0};
	uint64_t *used = NULL, *keys = NULL;
	uint32_t n_weighted = 0;
	int ret = -ENOMEM;

	if (table == NULL || (backends == NULL && n_backends > 0))
		return -EINVAL;
	if (size < ELB_MAGLEV_MIN_SIZE || size > ELB_MAGLEV_MAX_SIZE || !elb_is_prime(size))
		return -EINVAL;
	for (uint32_t i = 0; i < n_backends; i++) {
		if (backends[i].family != ELB_AF_INET && backends[i].family != ELB_AF_INET6)
			return -EINVAL;
		if (backends[i].weight > ELB_MAGLEV_MAX_WEIGHT)
			return -EINVAL;
	}
	if (n_backends == 0) {
		fill_empty(table, size);
		return 0;
	}

	/* The table is written only once nothing can fail any more. calloc
	 * rather than malloc: it checks the multiplication for overflow. */
	candidates = calloc(n_backends, sizeof(*candidates));
	if (candidates == NULL)
		return -ENOMEM;
	for (uint32_t i = 0; i < n_backends; i++) {
		encode_identity(&backends[i], candidates[i].identity);
		candidates[i].weight = backends[i].weight;
		candidates[i].id = backends[i].id;
	}
	/* Identities are unique once duplicates are rejected below, so the
	 * order is total and qsort's instability cannot show. */
	qsort(candidates, n_backends, sizeof(*candidates), compare_candidates);
	for (uint32_t i = 1; i < n_backends; i++) {
		if (compare_candidates(&candidates[i - 1], &candidates[i]) == 0) {
			ret = -EINVAL;
			goto out;
		}
	}
	/* Weight-0 backends drop out here; the others move to the front in
	 * sorted order, which is the tie-break order of the turns. */
	for (uint32_t i = 0; i < n_backends; i++)
		if (candidates[i].weight != 0)
			candidates[n_weighted++] = candidates[i];
	if (n_weighted == 0) {
		fill_empty(table, size);
		ret = 0;
		goto out;
	}

	walkers = calloc(n_weighted, sizeof(*walkers));
	used = calloc((size + 63) / 64, sizeof(*used));
	keys = calloc(n_weighted, sizeof(*keys));
	sc.heap = calloc(n_weighted, sizeof(*sc.heap));
	sc.classes = calloc(n_weighted, sizeof(*sc.classes));
	sc.members = calloc(n_weighted, sizeof(*sc.members));
	sc.tied = calloc(n_weighted, sizeof(*sc.tied));
	sc.tied_members = calloc((n_weighted + 63) / 64, sizeof(*sc.tied_members));
	if (walkers == NULL || used == NULL || keys == NULL || sc.heap == NULL ||
	    sc.classes == NULL || sc.members == NULL || sc.tied == NULL || sc.tied_members == NULL)
		goto out;

	for (uint32_t i = 0; i < n_weighted; i++) {
		const uint64_t *identity = candidates[i].identity;
		uint64_t h_offset =
			elb_siphash13_words(identity, ELB_MAGLEV_IDENTITY_WORDS, &maglev_offset_key);
		uint64_t h_skip =
			elb_siphash13_words(identity, ELB_MAGLEV_IDENTITY_WORDS, &maglev_skip_key);

		walkers[i] = (struct maglev_walker){
			.next = (uint32_t)(h_offset % size),
			.skip = (uint32_t)(h_skip % (size - 1) + 1),
			.id = candidates[i].id,
		};
	}
	schedule_classes(&sc, candidates, n_weighted, keys);
	fill_table(table, size, walkers, &sc, used);
	ret = 0;
out:
	free(sc.tied_members);
	free(sc.tied);
	free(sc.members);
	free(sc.classes);
	free(sc.heap);
	free(keys);
	free(used);
	free(walkers);
	free(candidates);
	return ret;
}

static inline bool still_owner_of(const uint8_t *still_owner, uint32_t n_still, uint32_t id)
{
	return id != ELB_MAGLEV_EMPTY && id < n_still && still_owner[id] != 0;
}

void elb_maglev_previous(uint32_t *previous, const uint32_t *new_table, uint32_t new_size,
			 const uint32_t *old_table, const uint32_t *old_previous,
			 uint32_t old_size, const uint8_t *still_owner, uint32_t n_still)
{
	if (old_table == NULL || old_size != new_size) {
		fill_empty(previous, new_size);
		return;
	}
	for (uint32_t s = 0; s < new_size; s++) {
		uint32_t owner = new_table[s];
		uint32_t old = old_table[s];
		uint32_t chain = old_previous != NULL ? old_previous[s] : ELB_MAGLEV_EMPTY;

		if (old != owner && still_owner_of(still_owner, n_still, old))
			previous[s] = old;
		else if (chain != owner && still_owner_of(still_owner, n_still, chain))
			previous[s] = chain;
		else
			previous[s] = ELB_MAGLEV_EMPTY;
	}
}
