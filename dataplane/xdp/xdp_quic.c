/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The QUIC routing of a snapshot (struct elb_vip.quic, elb_quic_route.h)
 * in the XDP program's maps (bpf/edgelb_xdp_maps.h): vip_quic, a VIP's
 * configurations, two entries per VIP index; quic_server_tables, a VIP's
 * server-ID table as an inner map. Control path; part of xdp_maps_write's
 * order (xdp_maps.c):
 *
 *   - before the vips entries (step 5), xdp_quic_write: each VIP's server-ID
 *     table that changed, as a new inner map published by one update of the
 *     outer map (a packet reads the old table or the new one whole, as for
 *     Maglev); and its configurations that changed, to the VIP's vip_quic
 *     entry not in force (ELB_XDP_VIP_QUIC_BANK). The vips entry written
 *     next names the new entry: one hash update, so a packet reads the old
 *     configurations or the new ones whole, never a key half-rotated. A VIP
 *     turning QUIC on finds both complete when its flag ELB_XDP_VIP_QUIC
 *     appears.
 *   - after them, xdp_quic_prune: the tables of VIP indexes that no longer
 *     route QUIC. A VIP index given to another VIP gets its own table in
 *     the write, and the program checks that a slot is the VIP's before it
 *     uses it.
 *
 * The vip_quic entry not in force may still be read by a packet that looked
 * its VIP up before the previous change flipped the bank: only if two
 * changes of one VIP's QUIC routing come within one packet's time.
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
/* The skeleton names core types: they are defined above. */
#include "edgelb.skel.h"

static void quic_value_of(const struct elb_vip_quic *q, struct elb_xdp_quic *x)
{
	memset(x, 0, sizeof(*x));
	memcpy(x->configs, q->configs, sizeof(x->configs));
	x->server_id_len = q->server_id_len;
}

/* Whether VIP i's server-ID table is the same in both (prev: what the
 * maps hold). */
static bool servers_unchanged(const struct elb_snapshot *prev, uint32_t i,
			      const struct elb_vip_quic *q)
{
	const struct elb_vip_quic *p;

	if (prev == NULL || prev->vips[i].maglev == NULL || prev->vips[i].quic == NULL)
		return false;
	p = prev->vips[i].quic;
	return p->mask == q->mask &&
	       memcmp(p->servers, q->servers, sizeof(q->servers[0]) * (q->mask + 1)) == 0;
}

/* A new inner map holding q's server-ID table (bpf/edgelb_xdp_maps.h:
 * entry 0 the mask, then the entries). @return its fd, or -errno. */
static int build_servers(const struct elb_vip_quic *q)
{
	LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = BPF_F_INNER_MAP);
	uint32_t entries = ELB_XDP_QUIC_SERVERS_HEADER + q->mask + 1;
	struct elb_quic_server head = {.slot = q->mask};
	int fd;

	fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "elb_quic_srv", sizeof(uint32_t),
			    sizeof(struct elb_quic_server), entries, &opts);
	if (fd < 0) {
		fprintf(stderr, "edgelb-xdp: QUIC server table create: %s\n", strerror(errno));
		return -errno;
	}
	for (uint32_t k = 0; k < entries; k++) {
		const struct elb_quic_server *e =
			k < ELB_XDP_QUIC_SERVERS_HEADER ? &head
							: &q->servers[k - ELB_XDP_QUIC_SERVERS_HEADER];

		/* An ARRAY starts zeroed: only used entries and the header. */
		if (k >= ELB_XDP_QUIC_SERVERS_HEADER && !e->used)
			continue;
		if (bpf_map_update_elem(fd, &k, e, BPF_ANY)) {
			int rc = -errno;

			fprintf(stderr, "edgelb-xdp: QUIC server table fill: %s\n", strerror(errno));
			close(fd);
			return rc;
		}
	}
	return fd;
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
	int tables_fd = bpf_map__fd(dp->skel->maps.quic_server_tables);

	memcpy(dp->quic_bank_next, dp->quic_bank, sizeof(dp->quic_bank_next));
	for (uint32_t i = 0; i < ELB_MAX_VIPS; i++) {
		const struct elb_vip *v = &next->vips[i];
		struct elb_xdp_quic want;

		if (v->maglev == NULL || v->quic == NULL)
			continue;
		if (!servers_unchanged(prev, i, v->quic)) {
			int fd = build_servers(v->quic), rc = 0;

			if (fd < 0)
				return fd;
			if (bpf_map_update_elem(tables_fd, &i, &fd, BPF_ANY)) {
				rc = -errno;
				fprintf(stderr, "edgelb-xdp: quic_server_tables map: %s\n",
					strerror(errno));
			}
			close(fd); /* the outer map holds it now */
			if (rc)
				return rc;
		}
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
	}
	return 0;
}

int xdp_quic_prune(struct xdp_dataplane *dp, const struct elb_snapshot *next)
{
	int fd = bpf_map__fd(dp->skel->maps.quic_server_tables);

	for (uint32_t i = 0; i < ELB_MAX_VIPS; i++) {
		if (next->vips[i].maglev != NULL && next->vips[i].quic != NULL)
			continue;
		if (bpf_map_delete_elem(fd, &i) && errno != ENOENT) {
			fprintf(stderr, "edgelb-xdp: quic_server_tables delete: %s\n",
				strerror(errno));
			return -errno;
		}
	}
	return 0;
}

/* VIP index vip_index's server-ID table from its inner map: a new struct
 * elb_vip_quic with the table filled, or NULL (errno set). The inner map is
 * opened by ID, which needs CAP_SYS_ADMIN: without it (the systemd unit)
 * the routing is not read back, and flow.explain shows it from the first
 * configuration on. */
static struct elb_vip_quic *read_servers(struct xdp_dataplane *dp, uint32_t vip_index)
{
	struct elb_quic_server head, e;
	struct elb_vip_quic *q = NULL;
	uint32_t id, zero = 0;
	int fd;

	if (bpf_map_lookup_elem(bpf_map__fd(dp->skel->maps.quic_server_tables), &vip_index, &id))
		return NULL;
	fd = bpf_map_get_fd_by_id(id);
	if (fd < 0)
		return NULL;
	if (bpf_map_lookup_elem(fd, &zero, &head) == 0 && head.slot < (1u << 24) &&
	    ((head.slot + 1) & head.slot) == 0) {
		q = calloc(1, sizeof(*q) + (head.slot + 1) * sizeof(q->servers[0]));
		for (uint32_t i = 0; q && i <= head.slot; i++) {
			uint32_t k = ELB_XDP_QUIC_SERVERS_HEADER + i;

			if (bpf_map_lookup_elem(fd, &k, &e) == 0)
				q->servers[i] = e;
		}
		if (q)
			q->mask = head.slot;
	}
	close(fd);
	return q;
}

int xdp_quic_read(struct xdp_dataplane *dp, uint32_t vip_index, uint32_t encap_flags,
		  struct elb_vip *sv)
{
	uint32_t index = elb_xdp_quic_index(vip_index, encap_flags);
	struct elb_xdp_quic x;
	struct elb_vip_quic *q;
	bool any = false;

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
	q = read_servers(dp, vip_index);
	if (q == NULL)
		return errno == ENOMEM ? -ENOMEM : 0;
	memcpy(q->configs, x.configs, sizeof(q->configs));
	q->server_id_len = x.server_id_len;
	sv->quic = q;
	return 0;
}
