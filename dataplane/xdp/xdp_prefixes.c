/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The prefix lists (docs/prefix-lists.md) in the XDP program's trie
 * (bpf/edgelb_xdp_maps.h, prefixes): edgelb-xdp's apply_prefixes, and the
 * lists' share of every config change. Control path: system calls,
 * milliseconds (a whole set of 100k rules: see tests/bpf/test_xdp_prefixes).
 *
 * A set is made atomic by a swap: the trie is the one entry of an
 * ARRAY_OF_MAPS, a new set is written whole into a new trie, and one
 * update of the outer map publishes it, so a packet sees the old lists or
 * the new. The kernel returns from a map-in-map update made by user space
 * only after every program that may still hold the old trie has finished
 * (an RCU grace period), and the old trie goes with its last reference.
 * Chosen over a generation bit in the keys of one trie: that needs the same
 * wait, which the kernel offers user space only through such an update,
 * twice the entries in one trie, and every old entry deleted one system
 * call at a time; a swap writes each rule once and deletes none.
 *
 * The globals prefix_scopes and prefix_vips say which lookups a packet
 * makes. They cannot change in the same instant as the trie, so while a
 * change is under way they hold the union of what the old and the new
 * lists need (a lookup that finds nothing costs time, never a decision),
 * and what the new ones need once the old trie is out of use.
 *
 * Config changes: a VIP's list is keyed by the VIP's generation, which the
 * VIP keeps while it exists (restarts included) and which is new for a new
 * VIP, also at an index another VIP had. Before the maps get a config,
 * xdp_prefixes_stage adds the lists of its new VIPs to the trie in force:
 * no packet sees them before the vips map names their generation, so no
 * swap is needed, and the new VIP meets its list from its first packet.
 * After, xdp_prefixes_settle deletes the lists of VIPs gone, once the
 * programs that may have read a vips entry of the old config are done (the
 * same wait, asked for by setting the outer map's entry again). A change of
 * backends touches no list.
 *
 * Restart: the outer map is pinned with the others, so a restarted agent
 * keeps the lists in force; xdp_prefixes_restore reads the trie back for
 * the globals (which are per process), and the set edgelb-xdp reloads is
 * then applied as a new one.
 *
 * Costs (tests/bpf/test_xdp_prefixes, a shared 2-vCPU machine): 100k
 * rules written in 65-190 ms; the kernel charges the trie about 60 bytes
 * a rule (5.7 MiB for 100k), plus up to one inner node a rule; a change
 * holds the old and the new trie for a moment. Per packet, with no list
 * anywhere: one load and one branch (no difference measurable with
 * edgelb-xdp-bench); with 100k rules, one trie lookup (two when a VIP's
 * list does not decide) took an established packet from ~290 ns to
 * ~540-620 ns: the trie is a binary tree walked node by node.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "edgelb_xdp_maps.h"
#include "elb_prefixes.h"
#include "xdp.h"
/* The skeleton names core types: they are defined above. */
#include "edgelb.skel.h"

void xdp_prefix_key_of(const struct elb_prefix_rule *rule, uint32_t scope,
		       struct elb_xdp_prefix_key *key)
{
	memset(key, 0, sizeof(*key));
	key->prefixlen = ELB_XDP_PREFIX_SCOPE_BITS + rule->len;
	key->scope = scope;
	key->family = rule->family;
	key->addr = rule->addr;
}

/* The key a snapshot VIP's list is filed under in a set. */
static void vip_key_of(const struct elb_vip *v, struct elb_dp_vip_key *key)
{
	memset(key, 0, sizeof(*key));
	key->addr = v->addr;
	key->family = v->family;
	key->proto = v->proto;
	key->port = elb_ntohs(v->port);
}

/* The VIP lists of set that apply to the VIPs of snap, into out
 * (ELB_MAX_VIPS at most). @return how many. */
static uint32_t resolve(const struct elb_snapshot *snap, const struct elb_prefix_set *set,
			struct xdp_prefix_scope *out)
{
	uint32_t n = 0;

	if (set == NULL)
		return 0;
	for (uint32_t i = 0; i < ELB_MAX_VIPS; i++) {
		const struct elb_vip *v = &snap->vips[i];
		const struct elb_prefix_list *list;
		struct elb_dp_vip_key key;

		if (v->maglev == NULL)
			continue;
		vip_key_of(v, &key);
		list = elb_prefix_set_vip_list(set, &key);
		if (list != NULL && list->n > 0)
			out[n++] = (struct xdp_prefix_scope){.gen = v->gen, .index = (uint16_t)i,
							     .list = list};
	}
	return n;
}

/* Rules written per system call. */
#define XDP_PREFIX_BATCH 4096u

/* Write list's rules into the trie fd under scope: a batch update per
 * XDP_PREFIX_BATCH rules (measured: 100k rules in about 0.1-0.2 s, against
 * 0.35-0.75 s one call a rule), one call a rule where the kernel cannot.
 * @return 0 or -errno. */
static int write_list(int fd, const struct elb_prefix_list *list, uint32_t scope)
{
	uint32_t chunk = list->n < XDP_PREFIX_BATCH ? list->n : XDP_PREFIX_BATCH;
	struct elb_xdp_prefix_key *keys = malloc(sizeof(*keys) * (chunk ? chunk : 1));
	struct elb_xdp_prefix_rule *values = malloc(sizeof(*values) * (chunk ? chunk : 1));
	int rc = 0;

	if (keys == NULL || values == NULL)
		rc = -ENOMEM;
	for (uint32_t done = 0; rc == 0 && done < list->n;) {
		uint32_t n = list->n - done < chunk ? list->n - done : chunk, count = n;

		for (uint32_t i = 0; i < n; i++) {
			xdp_prefix_key_of(&list->rules[done + i], scope, &keys[i]);
			values[i] = (struct elb_xdp_prefix_rule){.action = list->rules[done + i].action,
								 .index = done + i};
		}
		if (bpf_map_update_batch(fd, keys, values, &count, NULL)) {
			/* count: those written; left as passed when the
			 * kernel has no batch update at all. */
			if (count >= n)
				count = 0;
			for (uint32_t i = count; rc == 0 && i < n; i++)
				if (bpf_map_update_elem(fd, &keys[i], &values[i], BPF_ANY))
					rc = -errno;
		}
		done += n;
	}
	free(keys);
	free(values);
	return rc;
}

/* Delete a VIP's list from the trie fd: by its rules, or, for a list an
 * earlier process wrote (rules unknown), every key of its scope. */
static int delete_list(int fd, const struct xdp_prefix_scope *s)
{
	struct elb_xdp_prefix_key key, next, *found = NULL;
	uint32_t n = 0, cap = 0;
	void *cursor = NULL;
	int rc = 0;

	if (s->list != NULL) {
		for (uint32_t i = 0; i < s->list->n; i++) {
			xdp_prefix_key_of(&s->list->rules[i], s->gen, &key);
			if (bpf_map_delete_elem(fd, &key) && errno != ENOENT)
				return -errno;
		}
		return 0;
	}
	/* Deleting the key a walk stands on restarts it: collect first. */
	while (bpf_map_get_next_key(fd, cursor, &next) == 0) {
		key = next;
		cursor = &key;
		if (next.scope != s->gen)
			continue;
		if (n == cap) {
			struct elb_xdp_prefix_key *grown;

			cap = cap ? 2 * cap : 256;
			grown = realloc(found, sizeof(*found) * cap);
			if (grown == NULL) {
				free(found);
				return -ENOMEM;
			}
			found = grown;
		}
		found[n++] = next;
	}
	for (uint32_t i = 0; i < n && rc == 0; i++)
		if (bpf_map_delete_elem(fd, &found[i]) && errno != ENOENT)
			rc = -errno;
	free(found);
	return rc;
}

static uint32_t node_scopes_of(const struct elb_prefix_list *node)
{
	uint32_t scopes = 0;

	for (uint32_t i = 0; i < node->n; i++)
		scopes |= elb_xdp_prefix_node_bit(node->rules[i].family);
	return scopes;
}

/* What packets must look up for these VIP lists and node scopes. */
static uint32_t globals_of(const struct xdp_prefix_scope *vips, uint32_t n, uint32_t node_scopes,
			   uint64_t *bits)
{
	memset(bits, 0, sizeof(uint64_t) * ELB_XDP_PREFIX_VIP_WORDS);
	for (uint32_t i = 0; i < n; i++)
		if (vips[i].index < ELB_MAX_VIPS)
			bits[vips[i].index / 64] |= 1ull << (vips[i].index % 64);
	return node_scopes | (n > 0 ? ELB_XDP_PREFIX_VIPS : 0);
}

/* The globals := scopes and bits, or |= them with keep_old. One store per
 * word: a packet reads each word old or new. */
static void globals_store(struct xdp_dataplane *dp, uint32_t scopes, const uint64_t *bits,
			  bool keep_old)
{
	uint64_t *words = dp->skel->bss->prefix_vips;

	for (uint32_t i = 0; i < ELB_XDP_PREFIX_VIP_WORDS; i++) {
		uint64_t v = bits[i];

		if (keep_old)
			v |= __atomic_load_n(&words[i], __ATOMIC_RELAXED);
		__atomic_store_n(&words[i], v, __ATOMIC_RELAXED);
	}
	if (keep_old)
		scopes |= __atomic_load_n(&dp->skel->bss->prefix_scopes, __ATOMIC_RELAXED);
	__atomic_store_n(&dp->skel->bss->prefix_scopes, scopes, __ATOMIC_RELAXED);
}

/* Put trie fd in the outer map: returns once no program uses the trie it
 * replaces (see the top). */
static int publish(struct xdp_dataplane *dp, int fd)
{
	uint32_t zero = 0;

	return bpf_map_update_elem(bpf_map__fd(dp->skel->maps.prefixes), &zero, &fd, BPF_ANY)
		       ? -errno
		       : 0;
}

/* Returns once every program running when called has finished: the trie
 * in force put in again. Nothing to wait for without one (no packet then
 * reads any list). */
static int wait_programs(struct xdp_dataplane *dp)
{
	return dp->prefixes.trie_fd >= 0 ? publish(dp, dp->prefixes.trie_fd) : 0;
}

int xdp_prefixes_apply(void *ctx, const struct elb_prefix_set *set, char *err, size_t errlen)
{
	LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = BPF_F_NO_PREALLOC);
	struct xdp_dataplane *dp = ctx;
	struct xdp_prefixes *p = &dp->prefixes;
	struct xdp_prefix_scope vips[ELB_MAX_VIPS];
	uint64_t bits[ELB_XDP_PREFIX_VIP_WORDS];
	uint64_t start = monotonic_ns();
	uint32_t n, scopes, rules;
	int fd, rc;

	n = resolve(dp->snap, set, vips);
	fd = bpf_map_create(BPF_MAP_TYPE_LPM_TRIE, "elb_prefixes", sizeof(struct elb_xdp_prefix_key),
			    sizeof(struct elb_xdp_prefix_rule), ELB_XDP_PREFIX_TRIE_MAX, &opts);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "creating the prefix trie: %s", strerror(-rc));
		return rc;
	}
	rc = write_list(fd, &set->node, ELB_XDP_PREFIX_NODE);
	rules = set->node.n;
	for (uint32_t i = 0; rc == 0 && i < n; i++) {
		rc = write_list(fd, vips[i].list, vips[i].gen);
		rules += vips[i].list->n;
	}
	if (rc) {
		snprintf(err, errlen, "writing the prefix trie: %s", strerror(-rc));
		close(fd);
		return rc;
	}
	scopes = globals_of(vips, n, node_scopes_of(&set->node), bits);
	/* Both tries' lookups until the old one is out of use. A packet reads
	 * the globals before the trie: one that read them before this store
	 * must be done before the swap, or it could meet the new trie with
	 * the old lookups. */
	globals_store(dp, scopes, bits, true);
	rc = wait_programs(dp);
	if (rc == 0)
		rc = publish(dp, fd);
	if (rc) {
		uint64_t old_bits[ELB_XDP_PREFIX_VIP_WORDS];

		globals_store(dp, globals_of(p->vips, p->n_vips, p->node_scopes, old_bits),
			      old_bits, false);
		snprintf(err, errlen, "publishing the prefix trie: %s", strerror(-rc));
		close(fd);
		return rc;
	}
	globals_store(dp, scopes, bits, false);
	if (p->trie_fd >= 0)
		close(p->trie_fd);
	p->trie_fd = fd;
	p->set = set;
	memcpy(p->vips, vips, sizeof(*vips) * n);
	p->n_vips = n;
	p->node_scopes = node_scopes_of(&set->node);
	p->rules = rules;
	p->write_ns = monotonic_ns() - start;
	return 0;
}

int xdp_prefixes_stage(struct xdp_dataplane *dp, const struct elb_snapshot *next)
{
	struct xdp_prefixes *p = &dp->prefixes;
	struct xdp_prefix_scope vips[ELB_MAX_VIPS];
	uint64_t bits[ELB_XDP_PREFIX_VIP_WORDS];
	uint32_t n, added = 0;
	int rc = 0;

	if (p->trie_fd < 0)
		return 0;
	n = resolve(next, p->set, vips);
	for (uint32_t i = 0; i < n; i++) {
		bool written = false;

		for (uint32_t j = 0; j < p->n_vips && !written; j++)
			written = p->vips[j].gen == vips[i].gen;
		if (written)
			continue;
		/* At most every VIP of the old config and every VIP of next. */
		if (p->n_vips == XDP_PREFIX_SCOPES_MAX)
			return -ENOSPC;
		/* Recorded first: a list written in part is deleted by settle. */
		p->vips[p->n_vips++] = vips[i];
		rc = write_list(p->trie_fd, vips[i].list, vips[i].gen);
		if (rc)
			return rc;
		p->rules += vips[i].list->n;
		vips[added++] = vips[i];
	}
	if (added == 0)
		return 0;
	/* A packet that finds a new VIP in the vips map must have read the
	 * globals after this store. */
	globals_store(dp, globals_of(vips, added, 0, bits), bits, true);
	return wait_programs(dp);
}

void xdp_prefixes_settle(struct xdp_dataplane *dp)
{
	struct xdp_prefixes *p = &dp->prefixes;
	struct xdp_prefix_scope gone[XDP_PREFIX_SCOPES_MAX];
	uint64_t bits[ELB_XDP_PREFIX_VIP_WORDS];
	uint32_t n_gone = 0, kept = 0;
	int rc;

	if (p->trie_fd < 0)
		return;
	for (uint32_t i = 0; i < p->n_vips; i++) {
		const struct xdp_prefix_scope *s = &p->vips[i];
		bool live = s->index < ELB_MAX_VIPS && dp->snap->vips[s->index].maglev != NULL &&
			    dp->snap->vips[s->index].gen == s->gen;

		if (live)
			p->vips[kept++] = *s;
		else
			gone[n_gone++] = *s;
	}
	p->n_vips = kept;
	globals_store(dp, globals_of(p->vips, p->n_vips, p->node_scopes, bits), bits, false);
	if (n_gone == 0)
		return;
	/* A packet may still hold a vips entry of the old config. */
	rc = wait_programs(dp);
	for (uint32_t i = 0; rc == 0 && i < n_gone; i++) {
		rc = delete_list(p->trie_fd, &gone[i]);
		if (rc == 0 && gone[i].list != NULL)
			p->rules -= gone[i].list->n;
	}
	if (rc)
		/* Unreachable entries: they cost memory, not decisions. */
		fprintf(stderr, "edgelb-xdp: deleting the prefix lists of removed VIPs: %s\n",
			strerror(-rc));
}

int xdp_prefixes_restore(struct xdp_dataplane *dp)
{
	struct xdp_prefixes *p = &dp->prefixes;
	struct elb_xdp_prefix_key key, next;
	uint64_t bits[ELB_XDP_PREFIX_VIP_WORDS];
	void *cursor = NULL;
	uint32_t zero = 0, id;
	int fd;

	if (bpf_map_lookup_elem(bpf_map__fd(dp->skel->maps.prefixes), &zero, &id))
		return 0; /* no trie: no lists */
	fd = bpf_map_get_fd_by_id(id);
	if (fd < 0)
		return -errno;
	p->trie_fd = fd;
	p->rules = 0;
	while (bpf_map_get_next_key(fd, cursor, &next) == 0) {
		bool known = false;

		key = next;
		cursor = &key;
		p->rules++;
		if (next.scope == ELB_XDP_PREFIX_NODE) {
			p->node_scopes |= elb_xdp_prefix_node_bit((uint8_t)next.family);
			continue;
		}
		for (uint32_t j = 0; j < p->n_vips && !known; j++)
			known = p->vips[j].gen == next.scope;
		if (known || p->n_vips == XDP_PREFIX_SCOPES_MAX)
			continue;
		/* The VIP of that generation, if the maps still have it; else
		 * no index (settle deletes the list). */
		p->vips[p->n_vips] = (struct xdp_prefix_scope){.gen = next.scope, .index = 0xffff};
		for (uint32_t i = 0; dp->snap && i < ELB_MAX_VIPS; i++)
			if (dp->snap->vips[i].maglev != NULL && dp->snap->vips[i].gen == next.scope)
				p->vips[p->n_vips].index = (uint16_t)i;
		p->n_vips++;
	}
	globals_store(dp, globals_of(p->vips, p->n_vips, p->node_scopes, bits), bits, false);
	return 0;
}

void xdp_prefixes_status(const struct xdp_dataplane *dp, cJSON *out)
{
	elb_dp_json_add_u64(out, "prefix_trie_rules", dp->prefixes.rules);
	elb_dp_json_add_u64(out, "prefix_trie_write_ms", dp->prefixes.write_ns / 1000000);
}

void xdp_prefixes_close(struct xdp_dataplane *dp)
{
	if (dp->prefixes.trie_fd >= 0)
		close(dp->prefixes.trie_fd);
	dp->prefixes.trie_fd = -1;
}
