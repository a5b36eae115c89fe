/* SPDX-License-Identifier: BSD-3-Clause */
/* Control path only: allocates, takes its time (Maglev builds). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "elb_maglev.h"
#include "elb_prefix_table.h"
#include "elb_prefixes.h"
#include "elb_snapshot.h"

static bool vip_matches_key(const struct elb_vip *v, const struct elb_dp_vip_key *key)
{
	return v->family == key->family && v->proto == key->proto &&
	       v->port == elb_htons(key->port) && v->addr.d[0] == key->addr.d[0] &&
	       v->addr.d[1] == key->addr.d[1];
}

uint16_t elb_snapshot_vip_index(const struct elb_snapshot *snap, const struct elb_dp_vip_key *key)
{
	if (snap == NULL)
		return ELB_NO_VIP;
	for (uint32_t i = 0; i < ELB_MAX_VIPS; i++)
		if (snap->vips[i].maglev != NULL && vip_matches_key(&snap->vips[i], key))
			return (uint16_t)i;
	return ELB_NO_VIP;
}

void elb_snapshot_free(struct elb_snapshot *snap)
{
	if (snap == NULL)
		return;
	/* The VIPs' node scope borrows node_prefixes: only their own lists are
	 * theirs. */
	elb_prefix_table_put(snap->node_prefixes);
	for (uint32_t i = 0; i < ELB_MAX_VIPS; i++) {
		elb_prefix_table_put((struct elb_prefix_table *)snap->vips[i].prefixes[ELB_PREFIX_SCOPE_VIP]);
		free((void *)snap->vips[i].maglev);
		free((void *)snap->vips[i].maglev_previous);
		free((void *)snap->vips[i].quic);
		free(snap->maglev_inputs[i].backends);
	}
	free(snap->backends);
	free(snap);
}

/* prev's live slots sorted by (VIP, family, address), to find where a
 * backend that stays in its set was: O(log n) per backend. */
struct slot_ref {
	union elb_addr addr;
	uint16_t vip_index;
	uint8_t family;
	uint32_t slot;
};

static int slot_ref_cmp(const void *a, const void *b)
{
	const struct slot_ref *x = a, *y = b;

	if (x->vip_index != y->vip_index)
		return x->vip_index < y->vip_index ? -1 : 1;
	if (x->family != y->family)
		return x->family < y->family ? -1 : 1;
	return memcmp(x->addr.v6, y->addr.v6, sizeof(x->addr.v6));
}

static struct slot_ref *index_prev_slots(const struct elb_snapshot *prev, uint32_t *n)
{
	struct slot_ref *refs;

	*n = 0;
	if (prev == NULL)
		return NULL;
	refs = malloc((prev->n_backend_slots + 1) * sizeof(*refs));
	if (refs == NULL)
		return NULL;
	for (uint32_t s = 0; s < prev->n_backend_slots; s++) {
		const struct elb_backend_slot *b = &prev->backends[s];

		if (b->gen == 0)
			continue;
		refs[*n] = (struct slot_ref){.addr = b->addr, .vip_index = b->vip_index,
					     .family = b->family, .slot = s};
		(*n)++;
	}
	qsort(refs, *n, sizeof(*refs), slot_ref_cmp);
	return refs;
}

/* Slot of the backend (family, addr) of VIP vip_index in prev, or -1. */
static int64_t prev_slot_of(const struct slot_ref *refs, uint32_t n, uint16_t vip_index,
			    uint8_t family, const union elb_addr *addr)
{
	struct slot_ref key = {.addr = *addr, .vip_index = vip_index, .family = family};
	const struct slot_ref *found;

	if (refs == NULL || vip_index == ELB_NO_VIP)
		return -1;
	found = bsearch(&key, refs, n, sizeof(*refs), slot_ref_cmp);
	return found ? (int64_t)found->slot : -1;
}

/*
 * The Maglev table of prev's VIP `idx` if it was built from exactly these
 * inputs (same key, size, backends in the same order with the same slot,
 * weight and family): the build is a function of them alone, so a copy is
 * the table a build would give, at a memcpy's cost instead of a build's
 * (milliseconds per VIP). NULL otherwise.
 */
static const uint32_t *reusable_table(const struct elb_snapshot *prev, uint16_t idx,
				      const struct elb_dp_vip *cv,
				      const struct elb_maglev_backend *mb, uint32_t n)
{
	const struct elb_vip *pv;
	const struct elb_maglev_inputs *in;

	if (prev == NULL || idx == ELB_NO_VIP)
		return NULL;
	pv = &prev->vips[idx];
	in = &prev->maglev_inputs[idx];
	if (pv->maglev == NULL || !vip_matches_key(pv, &cv->key) ||
	    pv->maglev_size != cv->maglev_size || in->backends == NULL || in->n != n)
		return NULL;
	for (uint32_t b = 0; b < n; b++)
		if (in->backends[b].id != mb[b].id || in->backends[b].weight != mb[b].weight ||
		    in->backends[b].family != mb[b].family ||
		    memcmp(&in->backends[b].addr, &mb[b].addr, sizeof(mb[b].addr)) != 0)
			return NULL;
	return pv->maglev;
}

/*
 * The previous owners of VIP sv's new table (elb_maglev_previous): from
 * prev's table and previous owners of the same VIP, where the VIP existed
 * there. still_owner (ELB_MAX_BACKEND_SLOTS bytes, all zero on entry and on
 * return) marks the slots whose backend stays in the VIP's set:
 * kept_slots[0..n) (-1: a backend new in the set, never a previous owner).
 */
static void fill_previous(uint32_t *previous, const struct elb_vip *sv,
			  const struct elb_snapshot *prev, const struct elb_dp_vip_key *key,
			  const int32_t *kept_slots, uint32_t n, uint8_t *still_owner)
{
	const struct elb_vip *pv = NULL;

	if (prev != NULL && prev->vips[sv->index].maglev != NULL &&
	    vip_matches_key(&prev->vips[sv->index], key))
		pv = &prev->vips[sv->index];
	for (uint32_t b = 0; b < n; b++)
		if (kept_slots[b] >= 0)
			still_owner[kept_slots[b]] = 1;
	elb_maglev_previous(previous, sv->maglev, sv->maglev_size, pv ? pv->maglev : NULL,
			    pv ? pv->maglev_previous : NULL, pv ? pv->maglev_size : 0, still_owner,
			    ELB_MAX_BACKEND_SLOTS);
	for (uint32_t b = 0; b < n; b++)
		if (kept_slots[b] >= 0)
			still_owner[kept_slots[b]] = 0;
}

static int fail(struct elb_dp_err *err, const char *field, int rc, const char *what)
{
	snprintf(err->field, sizeof(err->field), "%s", field);
	snprintf(err->text, sizeof(err->text), "%s: %s", field, what);
	return rc;
}

/* A VIP's admission control, as configured (validated already by
 * elb_dp_config's checks, which accept what these accept). */
/* A VIP's QUIC routing (elb_quic_route.h) from its config and the slots
 * its backends got: configs by ID, server IDs in a table. NULL with rc 0
 * when the VIP has none. */
/* The most probes a server ID of q takes to be found: its distance from
 * its hash's entry, plus one. */
static uint32_t quic_servers_probes(const struct elb_vip_quic *q)
{
	uint32_t most = 0;

	for (uint32_t i = 0; i <= q->mask; i++)
		if (q->servers[i].used) {
			uint32_t home = elb_quic_server_hash(q->servers[i].sid) & q->mask;
			uint32_t probes = ((i - home) & q->mask) + 1;

			most = probes > most ? probes : most;
		}
	return most;
}

static int quic_init(struct elb_vip *sv, const struct elb_dp_vip *cv, const uint32_t *slots)
{
	const struct elb_dp_quic *cq = &cv->quic;
	struct elb_vip_quic *q;
	uint32_t n = 0, size;

	if (cq->n_configs == 0)
		return 0;
	for (uint32_t b = 0; b < cv->n_backends; b++)
		n += cv->backends[b].quic_server_id_len != 0;
	size = elb_quic_servers_size(n);
again:
	q = calloc(1, sizeof(*q) + size * sizeof(q->servers[0]));
	if (q == NULL)
		return -ENOMEM;
	q->server_id_len = cq->server_id_len;
	q->mask = size - 1;
	for (uint32_t i = 0; i < cq->n_configs; i++) {
		const struct elb_dp_quic_config *c = &cq->configs[i];

		if (elb_quic_lb_config_init(&q->configs[c->id], cq->server_id_len, c->nonce_len,
					    c->has_key ? c->key : NULL) < 0)
			goto invalid;
	}
	for (uint32_t b = 0; b < cv->n_backends; b++) {
		uint8_t sid[ELB_QUIC_SERVER_ID_MAX] = {0};

		if (cv->backends[b].quic_server_id_len == 0)
			continue;
		memcpy(sid, cv->backends[b].quic_server_id, cv->backends[b].quic_server_id_len);
		if (elb_quic_server_add(q, sid, slots[b]) < 0)
			goto invalid;
	}
	/* Clustered IDs: a larger table spreads them (ELB_QUIC_SERVER_PROBES;
	 * 4096 backends' IDs need 8192 entries, this stops well before
	 * anything that large could fail). */
	if (quic_servers_probes(q) > ELB_QUIC_SERVER_PROBES && size < (1u << 20)) {
		free(q);
		size <<= 1;
		goto again;
	}
	sv->quic = q;
	return 0;
invalid: /* validation refuses both: a config that was not validated */
	free(q);
	return -EINVAL;
}

static int admission_init(struct elb_vip *sv, const struct elb_dp_admission *a)
{
	int rc = elb_flow_budget_init(&sv->flow_budget, a->new_flows_per_s, a->new_flow_burst);

	sv->n_source_limits = 0;
	for (uint32_t i = 0; rc == 0 && i < a->n_sources && i < ELB_SOURCE_LIMITS_MAX; i++) {
		const struct elb_dp_source_limit *l = &a->sources[i];

		rc = elb_source_limit_init(&sv->source_limits[i], sv->family, l->prefix_len,
					   l->packets_per_s, l->packet_burst, l->new_flows_per_s,
					   l->new_flow_burst);
		sv->n_source_limits = (uint8_t)(i + 1);
	}
	return rc;
}

int elb_snapshot_build(const struct elb_dp_config *cfg, const struct elb_snapshot *prev,
		       uint64_t epoch, uint32_t *next_gen, struct elb_snapshot **out,
		       struct elb_dp_err *err)
{
	struct elb_maglev_backend *mb = NULL;
	uint32_t *slot_of = NULL;      /* the VIP being built: backend -> its slot */
	uint16_t *vip_index_of = NULL; /* config VIP -> snapshot VIP index */
	int32_t *prev_slot_map = NULL; /* config VIP, backend -> slot kept from prev */
	bool vip_taken[ELB_MAX_VIPS] = {0};
	uint8_t *slot_taken = NULL;
	uint8_t *still_owner = NULL; /* scratch of fill_previous */
	struct slot_ref *prev_refs = NULL;
	uint32_t n_prev_refs = 0;
	struct elb_snapshot *snap;
	uint32_t total = 0, next_free = 0, n_slots = 0;
	int rc = -ENOMEM;

	memset(err, 0, sizeof(*err));
	if (cfg->n_vips > ELB_MAX_VIPS)
		return fail(err, "vips", -EINVAL, "more VIPs than the dataplane holds");
	for (uint32_t v = 0; v < cfg->n_vips; v++)
		total += cfg->vips[v].n_backends;
	if (total > ELB_MAX_BACKEND_SLOTS)
		return fail(err, "vips", -EINVAL, "more backends over all VIPs than the dataplane holds");

	snap = calloc(1, sizeof(*snap));
	if (snap == NULL)
		return -ENOMEM;
	snap->backends = calloc(ELB_MAX_BACKEND_SLOTS, sizeof(*snap->backends));
	vip_index_of = calloc(cfg->n_vips + 1, sizeof(*vip_index_of));
	prev_slot_map = malloc((total + 1) * sizeof(*prev_slot_map));
	slot_taken = calloc(ELB_MAX_BACKEND_SLOTS, 1);
	still_owner = calloc(ELB_MAX_BACKEND_SLOTS, 1);
	prev_refs = index_prev_slots(prev, &n_prev_refs);
	if (!snap->backends || !vip_index_of || !prev_slot_map || !slot_taken || !still_owner ||
	    (prev != NULL && prev_refs == NULL))
		goto out;

	snap->epoch = epoch;
	snap->seed = cfg->node.hash_seed;
	elb_source_keys_init(&snap->source_keys, &snap->seed);
	snap->source_v4 = cfg->node.source_v4;
	snap->source_v6 = cfg->node.source_v6;
	memcpy(snap->gateway_mac, cfg->node.gateway_mac, 6);
	elb_vip_lookup_clear(snap);

	/* Pass 1: VIPs that exist in prev keep their index, backends their slot. */
	for (uint32_t v = 0, k = 0; v < cfg->n_vips; v++) {
		const struct elb_dp_vip *cv = &cfg->vips[v];
		uint16_t idx = elb_snapshot_vip_index(prev, &cv->key);

		vip_index_of[v] = idx;
		if (idx != ELB_NO_VIP)
			vip_taken[idx] = true;
		for (uint32_t b = 0; b < cv->n_backends; b++, k++) {
			int64_t s = prev_slot_of(prev_refs, n_prev_refs, idx, cv->backends[b].family,
						 &cv->backends[b].addr);

			prev_slot_map[k] = (int32_t)s;
			if (s >= 0)
				slot_taken[s] = 1;
		}
	}
	/* Pass 2: new VIPs take free indices. */
	for (uint32_t v = 0, free_vip = 0; v < cfg->n_vips; v++) {
		if (vip_index_of[v] != ELB_NO_VIP)
			continue;
		while (vip_taken[free_vip])
			free_vip++;
		vip_index_of[v] = (uint16_t)free_vip;
		vip_taken[free_vip] = true;
	}

	/* Pass 3: slots, Maglev tables, lookup entries. */
	for (uint32_t v = 0, k = 0; v < cfg->n_vips; v++) {
		const struct elb_dp_vip *cv = &cfg->vips[v];
		struct elb_vip *sv = &snap->vips[vip_index_of[v]];
		const int32_t *kept_slots = prev_slot_map + k;
		const uint32_t *same;
		uint32_t *table, *previous;

		mb = calloc(cv->n_backends + 1, sizeof(*mb));
		table = malloc(sizeof(*table) * cv->maglev_size);
		previous = malloc(sizeof(*previous) * cv->maglev_size);
		if (mb == NULL || table == NULL || previous == NULL) {
			free(table);
			free(previous);
			goto out;
		}
		sv->maglev = table;
		sv->maglev_previous = previous;
		slot_of = realloc(slot_of, (cv->n_backends + 1) * sizeof(*slot_of));
		if (slot_of == NULL)
			goto out;
		for (uint32_t b = 0; b < cv->n_backends; b++, k++) {
			const struct elb_dp_backend *cb = &cv->backends[b];
			struct elb_backend_slot *slot;
			uint32_t s;

			if (prev_slot_map[k] >= 0) {
				s = (uint32_t)prev_slot_map[k];
				snap->backends[s].gen = prev->backends[s].gen;
			} else {
				while (slot_taken[next_free])
					next_free++;
				s = next_free;
				slot_taken[s] = 1;
				snap->backends[s].gen = ++*next_gen;
			}
			slot = &snap->backends[s];
			slot->addr = cb->addr;
			slot->family = cb->family;
			slot->vip_index = vip_index_of[v];
			slot->state = cb->state == ELB_DP_BACKEND_DRAINING ? ELB_BACKEND_DRAINING
									   : ELB_BACKEND_ACTIVE;
			slot->weight = cb->weight;
			if (s + 1 > n_slots)
				n_slots = s + 1;
			mb[b].addr = cb->addr;
			mb[b].family = cb->family;
			/* A draining backend keeps its flows but takes no new ones. */
			mb[b].weight = cb->state == ELB_DP_BACKEND_DRAINING ? 0 : cb->weight;
			mb[b].id = s;
			slot_of[b] = s;
		}
		/* Pass 1 kept prev's index for a VIP that stays: same index. */
		same = reusable_table(prev, vip_index_of[v], cv, mb, cv->n_backends);
		if (same != NULL) {
			memcpy(table, same, sizeof(*table) * cv->maglev_size);
			snap->n_maglev_reused++;
			rc = 0;
		} else {
			rc = elb_maglev_build(table, cv->maglev_size, mb, cv->n_backends);
		}
		snap->maglev_inputs[vip_index_of[v]] =
			(struct elb_maglev_inputs){.backends = mb, .n = cv->n_backends};
		mb = NULL; /* the snapshot's now */
		if (rc) {
			char field[64];

			snprintf(field, sizeof(field), "vips[%u]", v);
			rc = fail(err, field, rc, "Maglev table could not be built");
			goto out;
		}
		sv->index = vip_index_of[v];
		sv->maglev_size = cv->maglev_size;
		fill_previous(previous, sv, prev, &cv->key, kept_slots, cv->n_backends, still_owner);
		sv->addr = cv->key.addr;
		sv->port = elb_htons(cv->key.port);
		sv->proto = cv->key.proto;
		sv->family = cv->key.family;
		sv->mtu = cv->mtu;
		sv->gue = cv->encap == ELB_DP_ENCAP_GUE;
		sv->second_chance = cv->second_chance && sv->gue;
		sv->gue_dport = elb_htons(cfg->node.gue_port);
		/* A VIP that stays keeps its generation (and so its counters). */
		sv->gen = prev != NULL && prev->vips[vip_index_of[v]].maglev != NULL &&
				  vip_matches_key(&prev->vips[vip_index_of[v]], &cv->key)
			  ? prev->vips[vip_index_of[v]].gen
			  : ++*next_gen;
		rc = elb_rate_limit_init(&sv->rate_limit, cv->rate_limit.packets_per_s,
					 cv->rate_limit.packet_burst, cv->rate_limit.bytes_per_s,
					 cv->rate_limit.byte_burst);
		if (rc == 0)
			rc = elb_flow_timeouts_init(&sv->timeouts, cv->timeouts.tcp_syn_ms,
						    cv->timeouts.tcp_established_ms,
						    cv->timeouts.tcp_closing_ms, cv->timeouts.udp_ms);
		if (rc == 0)
			rc = admission_init(sv, &cv->admission);
		if (rc == 0)
			rc = quic_init(sv, cv, slot_of);
		if (rc == -ENOMEM)
			goto out;
		if (rc == 0)
			rc = elb_vip_lookup_insert(snap, sv);
		if (rc) {
			char field[64];

			snprintf(field, sizeof(field), "vips[%u]", v);
			rc = fail(err, field, -EINVAL,
				  "rate limit, timeouts, admission, QUIC or address not usable");
			goto out;
		}
		sv->rate_limited = cv->rate_limit.packets_per_s != 0 || cv->rate_limit.bytes_per_s != 0;
		snap->n_vips++;
	}
	snap->n_backend_slots = n_slots;
	*out = snap;
	snap = NULL;
	rc = 0;
out:
	free(mb);
	free(slot_of);
	free(vip_index_of);
	free(prev_slot_map);
	free(slot_taken);
	free(still_owner);
	free(prev_refs);
	elb_snapshot_free(snap);
	return rc;
}

/* The table of `list` (NULL or empty: none): reuse's if it was built from
 * the same rules, else a new one. */
static int prefix_table_for(const struct elb_prefix_list *list, struct elb_prefix_table *reuse,
			    struct elb_prefix_table **out)
{
	*out = NULL;
	if (list == NULL || list->n == 0)
		return 0;
	if (reuse != NULL && reuse->source == list->rules && reuse->n_rules == list->n) {
		*out = elb_prefix_table_get(reuse);
		return 0;
	}
	return elb_prefix_table_build(list->rules, list->n, out);
}

int elb_snapshot_set_prefixes(struct elb_snapshot *snap, const struct elb_snapshot *reuse,
			      const struct elb_prefix_set *set, struct elb_dp_err *err)
{
	struct elb_prefix_table *node = NULL;
	int rc;

	memset(err, 0, sizeof(*err));
	rc = prefix_table_for(set ? &set->node : NULL, reuse ? reuse->node_prefixes : NULL, &node);
	if (rc)
		return fail(err, "prefixes.node", rc, "prefix table could not be built");
	elb_prefix_table_put(snap->node_prefixes);
	snap->node_prefixes = node;
	for (uint32_t i = 0; i < ELB_MAX_VIPS; i++) {
		struct elb_vip *v = &snap->vips[i];
		struct elb_dp_vip_key key = {.addr = v->addr, .family = v->family, .proto = v->proto,
					     .port = elb_ntohs(v->port)};
		struct elb_prefix_table *own = NULL, *old = NULL;
		uint16_t r;

		if (v->maglev == NULL)
			continue;
		r = elb_snapshot_vip_index(reuse, &key);
		if (r != ELB_NO_VIP)
			old = (struct elb_prefix_table *)reuse->vips[r].prefixes[ELB_PREFIX_SCOPE_VIP];
		rc = prefix_table_for(set ? elb_prefix_set_vip_list(set, &key) : NULL, old, &own);
		if (rc) {
			char name[ELB_DP_VIP_KEY_STR_MAX], field[ELB_DP_VIP_KEY_STR_MAX + 32];

			snprintf(field, sizeof(field), "prefixes of VIP %s",
				 elb_dp_vip_key_str(&key, name, sizeof(name)));
			return fail(err, field, rc, "prefix table could not be built");
		}
		elb_prefix_table_put((struct elb_prefix_table *)v->prefixes[ELB_PREFIX_SCOPE_VIP]);
		v->prefixes[ELB_PREFIX_SCOPE_VIP] = own;
		v->prefixes[ELB_PREFIX_SCOPE_NODE] = node;
		v->has_prefixes = own != NULL || node != NULL;
	}
	return 0;
}
