/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The QUIC routing of a snapshot (struct elb_vip.quic, elb_quic_route.h)
 * in the XDP program's maps (bpf/edgelb_xdp_maps.h): vip_quic, a VIP's
 * configurations by VIP index, and quic_servers, {VIP index, server ID} ->
 * backend slot. Control path; part of xdp_maps_write's order (xdp_maps.c):
 *
 *   - before the vips entries (step 5), xdp_quic_write: the configurations
 *     that changed and every server ID of next. A VIP turning QUIC on finds
 *     both complete when its flag ELB_XDP_VIP_QUIC appears; a server ID
 *     that moves to another backend is one hash update (old or new slot).
 *   - after them, xdp_quic_prune: the server IDs next does not have. A VIP
 *     index given to another VIP is covered too: its old server IDs are
 *     rewritten or deleted, and the program checks that a slot is the
 *     VIP's before it uses it.
 *
 * Residual window: a configuration of a VIP that keeps QUIC on is copied
 * in place (an ARRAY value), so a key rotated under the same config ID may
 * be read half-written by a packet racing the write: that packet's server
 * ID is then wrong, and it goes by the 5-tuple or to another of the VIP's
 * backends. Rotating keys through a second config ID, as the draft
 * intends, does not have this window.
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

	for (uint32_t i = 0; i < ELB_MAX_VIPS; i++) {
		const struct elb_vip *v = &next->vips[i];
		struct elb_xdp_quic want;

		if (v->maglev == NULL || v->quic == NULL)
			continue;
		quic_value_of(v->quic, &want);
		if (!quic_unchanged(prev, i, &want) &&
		    bpf_map_update_elem(quic_fd, &i, &want, BPF_ANY)) {
			fprintf(stderr, "edgelb-xdp: vip_quic map: %s\n", strerror(errno));
			return -errno;
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
