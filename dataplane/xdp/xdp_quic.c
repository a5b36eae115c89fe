/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The QUIC routing of a snapshot (struct elb_vip.quic, elb_quic_route.h)
 * in the XDP program's maps (bpf/edgelb_xdp_maps.h): vip_quic, a VIP's
 * configurations by VIP index, and quic_servers, {VIP index, server ID} ->
 * backend slot. Control path; part of xdp_maps_write's order (xdp_maps.c):
 *
 *   - before the vips entries (step 5), xdp_quic_write: the configurations
 *     that changed, each to the VIP's vip_quic entry not in force (two per
 *     VIP index: ELB_XDP_VIP_QUIC_BANK), and every server ID of next. The
 *     vips entry written next names the new entry: one hash update, so a
 *     packet reads the old configurations or the new ones whole, never a
 *     key half-rotated. A VIP turning QUIC on finds both complete when its
 *     flag ELB_XDP_VIP_QUIC appears; a server ID that moves to another
 *     backend is one hash update (old or new slot).
 *   - after them, xdp_quic_prune: the server IDs next does not have. A VIP
 *     index given to another VIP is covered too: its old server IDs are
 *     rewritten or deleted, and the program checks that a slot is the
 *     VIP's before it uses it.
 *
 * The entry not in force may still be read by a packet that looked its
 * VIP up before the previous change flipped the bank: only if two changes
 * of one VIP's QUIC routing come within one packet's time.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "edgelb_xdp_maps.h"
#include "xdp.h"
/* The skeleton names core types: they are defined above. */
#include "edgelb.skel.h"

static void quic_value_of(const struct elb_vip_quic *q, struct elb_xdp_quic *x)
{
	memset(x, 0, sizeof(*x));
	memcpy(x->configs, q->configs, sizeof(x->configs));
	x->server_id_len = q->server_id_len;
}

static void server_key_of(uint16_t vip_index, const struct elb_quic_server *e,
			  struct elb_xdp_quic_server_key *k)
{
	memset(k, 0, sizeof(*k));
	k->vip_index = vip_index;
	memcpy(k->sid, e->sid, sizeof(k->sid));
}

/* Whether snap's VIP vip_index has server ID k->sid. */
static bool snapshot_has_server(const struct elb_snapshot *snap,
				const struct elb_xdp_quic_server_key *k)
{
	const struct elb_vip_quic *q;

	if (k->vip_index >= ELB_MAX_VIPS)
		return false;
	q = snap->vips[k->vip_index].quic;
	return snap->vips[k->vip_index].maglev != NULL && q != NULL &&
	       elb_quic_server_find(q, k->sid) != ELB_QUIC_NO_SLOT;
}

/* Whether the maps hold want as VIP i's configurations already: prev
 * (what they hold) has the same. */
static bool quic_unchanged(const struct elb_snapshot *prev, uint32_t i,
			   const struct elb_xdp_quic *want)
{
	struct elb_xdp_quic have;

	if (prev == NULL || prev->vips[i].maglev == NULL || prev->vips[i].quic == NULL)
		return false;
	quic_value_of(prev->vips[i].quic, &have);
	return memcmp(&have, want, sizeof(have)) == 0;
}

int xdp_quic_write(struct xdp_dataplane *dp, const struct elb_snapshot *next,
		   const struct elb_snapshot *prev)
{
	int quic_fd = bpf_map__fd(dp->skel->maps.vip_quic);
	int servers_fd = bpf_map__fd(dp->skel->maps.quic_servers);

	memcpy(dp->quic_bank_next, dp->quic_bank, sizeof(dp->quic_bank_next));
	for (uint32_t i = 0; i < ELB_MAX_VIPS; i++) {
		const struct elb_vip *v = &next->vips[i];
		struct elb_xdp_quic want;

		if (v->maglev == NULL || v->quic == NULL)
			continue;
		quic_value_of(v->quic, &want);
		if (!quic_unchanged(prev, i, &want)) {
			uint8_t bank = !dp->quic_bank[i];
			uint32_t index = elb_xdp_quic_index(i, bank ? ELB_XDP_VIP_QUIC_BANK : 0);

			if (bpf_map_update_elem(quic_fd, &index, &want, BPF_ANY)) {
				fprintf(stderr, "edgelb-xdp: vip_quic map: %s\n", strerror(errno));
				return -errno;
			}
			dp->quic_bank_next[i] = bank;
		}
		for (uint32_t s = 0; s <= v->quic->mask; s++) {
			const struct elb_quic_server *e = &v->quic->servers[s];
			struct elb_xdp_quic_server_key k;
			uint32_t slot = e->slot, old;

			if (!e->used)
				continue;
			server_key_of((uint16_t)i, e, &k);
			if (bpf_map_lookup_elem(servers_fd, &k, &old) == 0 && old == slot)
				continue;
			if (bpf_map_update_elem(servers_fd, &k, &slot, BPF_ANY)) {
				fprintf(stderr, "edgelb-xdp: quic_servers map: %s\n",
					strerror(errno));
				return -errno;
			}
		}
	}
	return 0;
}

int xdp_quic_prune(struct xdp_dataplane *dp, const struct elb_snapshot *next)
{
	int fd = bpf_map__fd(dp->skel->maps.quic_servers);
	struct elb_xdp_quic_server_key k, nk;
	void *cursor = NULL;

	/* Deleting the key just read would restart the walk: the one to
	 * delete is deleted after the next key is found. */
	while (bpf_map_get_next_key(fd, cursor, &nk) == 0) {
		if (cursor && !snapshot_has_server(next, &k) && bpf_map_delete_elem(fd, &k) &&
		    errno != ENOENT)
			goto failed;
		k = nk;
		cursor = &k;
	}
	if (cursor && !snapshot_has_server(next, &k) && bpf_map_delete_elem(fd, &k) &&
	    errno != ENOENT)
		goto failed;
	return 0;
failed:
	fprintf(stderr, "edgelb-xdp: quic_servers map delete: %s\n", strerror(errno));
	return -errno;
}

/* The server IDs of quic_servers that belong to VIP index vip_index,
 * into q (mask set, entries empty). @return the count, or -errno. */
static int read_servers(int fd, uint32_t vip_index, struct elb_vip_quic *q)
{
	struct elb_xdp_quic_server_key k, nk;
	void *cursor = NULL;
	int n = 0;

	while (bpf_map_get_next_key(fd, cursor, &nk) == 0) {
		uint32_t slot;

		k = nk;
		cursor = &k;
		if (k.vip_index != vip_index || bpf_map_lookup_elem(fd, &k, &slot))
			continue;
		if (q) {
			struct elb_quic_server e = {0};

			memcpy(e.sid, k.sid, sizeof(e.sid));
			if (elb_quic_server_add(q, e.sid, slot) < 0)
				continue; /* the same ID twice: cannot be */
		}
		n++;
	}
	return n;
}

int xdp_quic_read(struct xdp_dataplane *dp, uint32_t vip_index, uint32_t encap_flags,
		  struct elb_vip *sv)
{
	int servers_fd = bpf_map__fd(dp->skel->maps.quic_servers);
	uint32_t index = elb_xdp_quic_index(vip_index, encap_flags);
	struct elb_xdp_quic x;
	struct elb_vip_quic *q;
	bool any = false;
	int n;

	if (vip_index >= ELB_MAX_VIPS)
		return -EINVAL;
	dp->quic_bank[vip_index] = (encap_flags & ELB_XDP_VIP_QUIC_BANK) != 0;
	sv->quic = NULL;
	if (!(encap_flags & ELB_XDP_VIP_QUIC))
		return 0;
	if (bpf_map_lookup_elem(bpf_map__fd(dp->skel->maps.vip_quic), &index, &x))
		return -errno;
	for (uint32_t c = 0; c < ELB_QUIC_LB_CONFIGS; c++)
		any |= x.configs[c].active != 0;
	/* None: a map replaced at the upgrade from another layout; the next
	 * configuration writes it (the program meanwhile routes by 5-tuple). */
	if (!any)
		return 0;
	n = read_servers(servers_fd, vip_index, NULL);
	if (n < 0)
		return n;
	q = calloc(1, sizeof(*q) + elb_quic_servers_size((uint32_t)n) * sizeof(q->servers[0]));
	if (q == NULL)
		return -ENOMEM;
	memcpy(q->configs, x.configs, sizeof(q->configs));
	q->server_id_len = x.server_id_len;
	q->mask = elb_quic_servers_size((uint32_t)n) - 1;
	read_servers(servers_fd, vip_index, q);
	sv->quic = q;
	return 0;
}
