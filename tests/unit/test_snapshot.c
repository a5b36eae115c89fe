/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The snapshot builder's reuse of Maglev tables (elb_snapshot.c): a VIP
 * whose table inputs did not change gets a copy of its previous table, any
 * other VIP a build. Every table of every snapshot is checked against one
 * built here with elb_maglev_build from inputs reconstructed from the
 * configuration (its backends in order, each with the slot the snapshot
 * gave it, weight 0 when draining), and the number of copies against the
 * VIPs that did not change.
 *
 * Prefix lists (elb_snapshot_set_prefixes): each VIP gets the table of its
 * own list by key and the node's; a configuration change shares the tables
 * (same pointers, one more reference each) of lists it did not change, a
 * change of the lists builds them all again; each table decides as the
 * lists written here say.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "elb_config.h"
#include "elb_maglev.h"
#include "elb_prefix_table.h"
#include "elb_prefixes.h"
#include "elb_snapshot.h"
#include "elb_test.h"

#define NODE "\"node\": {\"source_v4\": \"192.0.2.1\", \"gateway_mac\": \"02:00:00:00:00:01\"}"
#define VIP(addr, size, backends)                                                          \
	"{\"address\": \"" addr "\", \"port\": 80, \"protocol\": \"tcp\", \"maglev_size\": " size \
	", \"backends\": [" backends "]}"
#define B(a) "{\"address\": \"10.0.0." #a "\"}"
#define DRAINING(a) "{\"address\": \"10.0.0." #a "\", \"state\": \"draining\"}"

static struct elb_dp_config *parse(const char *text)
{
	struct elb_dp_config *cfg = NULL;
	struct elb_dp_err err;

	CU_ASSERT_FATAL(elb_dp_config_parse(text, strlen(text), &cfg, &err) == 0);
	return cfg;
}

static struct elb_snapshot *build(const char *text, const struct elb_snapshot *prev,
				  uint32_t *next_gen)
{
	struct elb_dp_config *cfg = parse(text);
	struct elb_snapshot *snap = NULL;
	struct elb_dp_err err;

	CU_ASSERT_FATAL(elb_snapshot_build(cfg, prev, prev ? prev->epoch + 1 : 1, next_gen, &snap,
					   &err) == 0);
	elb_dp_config_free(cfg);
	return snap;
}

/* Every VIP's table equals a build from the configuration's inputs. */
static void check_tables(const char *text, const struct elb_snapshot *snap)
{
	struct elb_dp_config *cfg = parse(text);

	for (uint32_t v = 0; v < cfg->n_vips; v++) {
		const struct elb_dp_vip *cv = &cfg->vips[v];
		uint16_t idx = elb_snapshot_vip_index(snap, &cv->key);
		struct elb_maglev_backend *mb = calloc(cv->n_backends + 1, sizeof(*mb));
		uint32_t *want = malloc(sizeof(*want) * cv->maglev_size);

		CU_ASSERT_FATAL(idx != ELB_NO_VIP && mb != NULL && want != NULL);
		for (uint32_t b = 0; b < cv->n_backends; b++) {
			const struct elb_dp_backend *cb = &cv->backends[b];
			uint32_t slot = UINT32_MAX;

			for (uint32_t s = 0; s < snap->n_backend_slots; s++)
				if (snap->backends[s].gen != 0 && snap->backends[s].vip_index == idx &&
				    memcmp(&snap->backends[s].addr, &cb->addr, sizeof(cb->addr)) == 0)
					slot = s;
			CU_ASSERT_FATAL(slot != UINT32_MAX);
			mb[b].addr = cb->addr;
			mb[b].family = cb->family;
			mb[b].weight = cb->state == ELB_DP_BACKEND_DRAINING ? 0 : cb->weight;
			mb[b].id = slot;
		}
		CU_ASSERT_FATAL(elb_maglev_build(want, cv->maglev_size, mb, cv->n_backends) == 0);
		CU_ASSERT(snap->vips[idx].maglev_size == cv->maglev_size);
		CU_ASSERT(memcmp(snap->vips[idx].maglev, want, sizeof(*want) * cv->maglev_size) == 0);
		free(mb);
		free(want);
	}
	elb_dp_config_free(cfg);
}

static const char *const first =
	"{" NODE ", \"vips\": [" VIP("198.51.100.1", "65537", B(1) "," B(2) "," B(3) "," B(4)) ","
	VIP("198.51.100.2", "65537", B(5) "," B(6) "," B(7)) ","
	VIP("198.51.100.3", "251", B(8) "," B(9)) "]}";
/* VIP 1 loses a backend, VIP 2 is unchanged, VIP 3 drains one. */
static const char *const second =
	"{" NODE ", \"vips\": [" VIP("198.51.100.1", "65537", B(1) "," B(2) "," B(4)) ","
	VIP("198.51.100.2", "65537", B(5) "," B(6) "," B(7)) ","
	VIP("198.51.100.3", "251", B(8) "," DRAINING(9)) "]}";
/* VIP 2 changes size only; a VIP 4 joins at the end. */
static const char *const third =
	"{" NODE ", \"vips\": [" VIP("198.51.100.1", "65537", B(1) "," B(2) "," B(4)) ","
	VIP("198.51.100.2", "251", B(5) "," B(6) "," B(7)) ","
	VIP("198.51.100.3", "251", B(8) "," DRAINING(9)) ","
	VIP("198.51.100.4", "251", B(1)) "]}";
/* VIP 1 removed: VIP 4 keeps its index; the backends of VIP 2 reordered. */
static const char *const fourth =
	"{" NODE ", \"vips\": [" VIP("198.51.100.2", "251", B(7) "," B(5) "," B(6)) ","
	VIP("198.51.100.3", "251", B(8) "," DRAINING(9)) ","
	VIP("198.51.100.4", "251", B(1)) "]}";

static void test_reuse_only_unchanged(void)
{
	uint32_t next_gen = 0;
	struct elb_snapshot *s1 = build(first, NULL, &next_gen);
	struct elb_snapshot *s2 = build(second, s1, &next_gen);
	struct elb_snapshot *s2again = build(second, s2, &next_gen);
	struct elb_snapshot *s3 = build(third, s2again, &next_gen);
	struct elb_snapshot *s4 = build(fourth, s3, &next_gen);

	check_tables(first, s1);
	CU_ASSERT_EQUAL(s1->n_maglev_reused, 0); /* nothing to reuse */
	check_tables(second, s2);
	CU_ASSERT_EQUAL(s2->n_maglev_reused, 1); /* VIP 2 only */
	check_tables(second, s2again);
	CU_ASSERT_EQUAL(s2again->n_maglev_reused, 3); /* the same config again */
	check_tables(third, s3);
	CU_ASSERT_EQUAL(s3->n_maglev_reused, 2); /* VIPs 1 and 3 */
	check_tables(fourth, s4);
	/* VIP 3 and VIP 4; VIP 2's order changed, so a build. */
	CU_ASSERT_EQUAL(s4->n_maglev_reused, 2);
	elb_snapshot_free(s1);
	elb_snapshot_free(s2);
	elb_snapshot_free(s2again);
	elb_snapshot_free(s3);
	elb_snapshot_free(s4);
}

/* ---- previous owners (second chance) ---- */

static uint16_t vip_of(const struct elb_snapshot *snap, const char *addr)
{
	struct elb_dp_vip_key key;

	memset(&key, 0, sizeof(key));
	key.family = ELB_AF_INET;
	key.proto = ELB_IPPROTO_TCP;
	key.port = 80;
	CU_ASSERT_FATAL(inet_pton(AF_INET, addr, &key.addr.v4) == 1);
	return elb_snapshot_vip_index(snap, &key);
}

/* The slot of backend 10.0.0.<last> of VIP idx, or UINT32_MAX. */
static uint32_t slot_of(const struct elb_snapshot *snap, uint16_t idx, uint8_t last)
{
	for (uint32_t s = 0; s < snap->n_backend_slots; s++)
		if (snap->backends[s].gen != 0 && snap->backends[s].vip_index == idx &&
		    snap->backends[s].addr.v4 == elb_htonl(0x0a000000u | last))
			return s;
	return UINT32_MAX;
}

/* Is slot id still the same backend of VIP idx in snap as in prev? */
static bool stays(const struct elb_snapshot *snap, const struct elb_snapshot *prev, uint16_t idx,
		  uint32_t id)
{
	return id < snap->n_backend_slots && id < prev->n_backend_slots &&
	       snap->backends[id].gen != 0 && snap->backends[id].vip_index == idx &&
	       snap->backends[id].gen == prev->backends[id].gen;
}

/* snap's previous owners of VIP addr against the rule of
 * docs (elb_maglev.h), slot by slot from the two snapshots' tables and
 * slots; returns how many slots name a previous owner. */
static uint32_t check_previous(const struct elb_snapshot *snap, const struct elb_snapshot *prev,
			       const char *addr)
{
	uint16_t idx = vip_of(snap, addr);
	const struct elb_vip *v, *pv;
	uint32_t named = 0;

	CU_ASSERT_FATAL(idx != ELB_NO_VIP && vip_of(prev, addr) == idx);
	v = &snap->vips[idx];
	pv = &prev->vips[idx];
	CU_ASSERT_FATAL(v->maglev_previous != NULL && pv->maglev_previous != NULL);
	for (uint32_t s = 0; s < v->maglev_size; s++) {
		uint32_t want = ELB_MAGLEV_EMPTY;

		if (pv->maglev_size == v->maglev_size) {
			uint32_t old = pv->maglev[s], chain = pv->maglev_previous[s];

			if (old != v->maglev[s] && stays(snap, prev, idx, old))
				want = old;
			else if (chain != v->maglev[s] && stays(snap, prev, idx, chain))
				want = chain;
		}
		ELB_CHECK(v->maglev_previous[s] == want, "%s slot %u: previous %u, want %u", addr, s,
			  v->maglev_previous[s], want);
		named += v->maglev_previous[s] != ELB_MAGLEV_EMPTY;
	}
	return named;
}

static uint32_t slots_owned(const struct elb_vip *v, uint32_t id)
{
	uint32_t n = 0;

	for (uint32_t s = 0; s < v->maglev_size; s++)
		n += v->maglev[s] == id;
	return n;
}

/* Removal, drain, an unchanged VIP, the same configuration again, a size
 * change: each VIP's previous owners, and exact counts where the change
 * says them. */
static void test_previous_owners(void)
{
	uint32_t next_gen = 0;
	struct elb_snapshot *s1 = build(first, NULL, &next_gen);
	struct elb_snapshot *s2 = build(second, s1, &next_gen);
	struct elb_snapshot *s2again = build(second, s2, &next_gen);
	struct elb_snapshot *s3 = build(third, s2again, &next_gen);
	uint16_t v1 = vip_of(s1, "198.51.100.1"), v3 = vip_of(s1, "198.51.100.3");
	uint32_t b9 = slot_of(s1, v3, 9);

	/* A first build has no previous owners. */
	for (uint16_t i = 0; i < ELB_MAX_VIPS; i++)
		if (s1->vips[i].maglev != NULL)
			for (uint32_t s = 0; s < s1->vips[i].maglev_size; s++)
				CU_ASSERT_EQUAL_FATAL(s1->vips[i].maglev_previous[s], ELB_MAGLEV_EMPTY);

	/* VIP 1 loses backend 3 (removed, no drain): its slots name nobody;
	 * the few other slots that moved name their owner before. */
	CU_ASSERT(check_previous(s2, s1, "198.51.100.1") < slots_owned(&s1->vips[v1],
								       slot_of(s1, v1, 3)));
	for (uint32_t s = 0; s < s2->vips[v1].maglev_size; s++)
		CU_ASSERT(s2->vips[v1].maglev_previous[s] != slot_of(s1, v1, 3));
	/* VIP 2 unchanged: nobody. */
	CU_ASSERT_EQUAL(check_previous(s2, s1, "198.51.100.2"), 0);
	/* VIP 3 drains 9: exactly 9's slots name 9. */
	CU_ASSERT_EQUAL(check_previous(s2, s1, "198.51.100.3"), slots_owned(&s1->vips[v3], b9));
	for (uint32_t s = 0; s < s2->vips[v3].maglev_size; s++)
		CU_ASSERT_EQUAL(s2->vips[v3].maglev_previous[s],
				s1->vips[v3].maglev[s] == b9 ? b9 : ELB_MAGLEV_EMPTY);

	/* The same configuration again (every table copied): the previous
	 * owners carry over unchanged. */
	CU_ASSERT_EQUAL(s2again->n_maglev_reused, 3);
	for (uint16_t i = 0; i < ELB_MAX_VIPS; i++)
		if (s2->vips[i].maglev != NULL)
			CU_ASSERT(memcmp(s2again->vips[i].maglev_previous, s2->vips[i].maglev_previous,
					 sizeof(uint32_t) * s2->vips[i].maglev_size) == 0);
	check_previous(s2again, s2, "198.51.100.3");

	/* VIP 2 changes size: nobody; VIP 3 (copied) keeps 9 as previous. */
	CU_ASSERT_EQUAL(check_previous(s3, s2again, "198.51.100.2"), 0);
	CU_ASSERT_EQUAL(check_previous(s3, s2again, "198.51.100.3"),
			slots_owned(&s1->vips[v3], b9));
	elb_snapshot_free(s1);
	elb_snapshot_free(s2);
	elb_snapshot_free(s2again);
	elb_snapshot_free(s3);
}

/* Two joins: D's slots name their owner before D; then E's slots name
 * their owner before E, and D's slots that E did not take keep theirs. */
static void test_previous_owners_chain(void)
{
	static const char *const abc =
		"{" NODE ", \"vips\": [" VIP("198.51.100.1", "251", B(1) "," B(2) "," B(3)) "]}";
	static const char *const abcd =
		"{" NODE ", \"vips\": [" VIP("198.51.100.1", "251", B(1) "," B(2) "," B(3) "," B(4)) "]}";
	static const char *const abcde =
		"{" NODE ", \"vips\": [" VIP("198.51.100.1", "251",
					     B(1) "," B(2) "," B(3) "," B(4) "," B(5)) "]}";
	uint32_t next_gen = 0;
	struct elb_snapshot *s1 = build(abc, NULL, &next_gen);
	struct elb_snapshot *s2 = build(abcd, s1, &next_gen);
	struct elb_snapshot *s3 = build(abcde, s2, &next_gen);
	uint16_t v = vip_of(s1, "198.51.100.1");
	uint32_t d = slot_of(s2, v, 4), e = slot_of(s3, v, 5), kept = 0;

	/* Every slot D took names its owner before (and a few slots that
	 * moved between the others name theirs). */
	CU_ASSERT(check_previous(s2, s1, "198.51.100.1") >= slots_owned(&s2->vips[v], d));
	check_previous(s3, s2, "198.51.100.1");
	for (uint32_t s = 0; s < 251; s++) {
		if (s3->vips[v].maglev[s] == e) {
			CU_ASSERT_EQUAL(s3->vips[v].maglev_previous[s], s2->vips[v].maglev[s]);
		} else if (s2->vips[v].maglev[s] == d && s3->vips[v].maglev[s] == d) {
			/* Untouched by E's join: still the owner before D. */
			CU_ASSERT_EQUAL(s3->vips[v].maglev_previous[s], s1->vips[v].maglev[s]);
			kept++;
		}
	}
	CU_ASSERT(kept > 0); /* the chain was exercised */
	elb_snapshot_free(s1);
	elb_snapshot_free(s2);
	elb_snapshot_free(s3);
}

/* second_chance from the configuration. */
static void test_second_chance_flag(void)
{
	static const char *const on =
		"{" NODE ", \"vips\": [{\"address\": \"198.51.100.1\", \"port\": 80, "
		"\"protocol\": \"tcp\", \"encap\": \"gue\", \"second_chance\": true, "
		"\"backends\": [" B(1) "]}, " VIP("198.51.100.2", "251", B(2)) "]}";
	uint32_t next_gen = 0;
	struct elb_snapshot *snap = build(on, NULL, &next_gen);

	CU_ASSERT_EQUAL(snap->vips[vip_of(snap, "198.51.100.1")].second_chance, 1);
	CU_ASSERT_EQUAL(snap->vips[vip_of(snap, "198.51.100.2")].second_chance, 0);
	elb_snapshot_free(snap);
}

static struct elb_prefix_set *prefix_set(const char *text)
{
	cJSON *json = cJSON_Parse(text);
	struct elb_prefix_set *set = NULL;
	struct elb_dp_err err;

	CU_ASSERT_PTR_NOT_NULL_FATAL(json);
	CU_ASSERT_FATAL(elb_prefix_set_from_json(json, "", &set, &err) == 0);
	cJSON_Delete(json);
	return set;
}

/* The action a table gives a dotted IPv4 address. */
static enum elb_prefix_action decides(const struct elb_prefix_table *t, const char *addr)
{
	union elb_addr a = {0};

	CU_ASSERT_FATAL(inet_pton(AF_INET, addr, &a.v4) == 1);
	return ELB_PREFIX_VALUE_ACTION(elb_prefix_table_lookup(t, ELB_AF_INET, &a));
}

static uint16_t vip_at(const struct elb_snapshot *snap, const char *addr)
{
	struct elb_dp_vip_key key = {.family = ELB_AF_INET, .proto = ELB_IPPROTO_TCP, .port = 80};

	CU_ASSERT_FATAL(inet_pton(AF_INET, addr, &key.addr.v4) == 1);
	return elb_snapshot_vip_index(snap, &key);
}

static void test_prefix_tables(void)
{
	static const char lists[] =
		"{\"node\": {\"deny\": [\"203.0.113.0/24\"]},"
		" \"vips\": [{\"address\": \"198.51.100.1\", \"port\": 80, \"protocol\": \"tcp\","
		"             \"allow\": [\"203.0.113.128/25\"]},"
		"            {\"address\": \"198.51.100.9\", \"port\": 80, \"protocol\": \"tcp\","
		"             \"deny\": [\"0.0.0.0/0\"]}]}";
	const char *c1 = "{" NODE ", \"vips\": [" VIP("198.51.100.1", "251", B(1) "," B(2)) ","
			 VIP("198.51.100.2", "251", B(3)) "]}";
	/* 198.51.100.2 loses a backend; 198.51.100.9 (whose list waited) appears. */
	const char *c2 = "{" NODE ", \"vips\": [" VIP("198.51.100.1", "251", B(1) "," B(2)) ","
			 VIP("198.51.100.2", "251", B(4)) "," VIP("198.51.100.9", "251", B(5)) "]}";
	struct elb_prefix_set *set = prefix_set(lists), *set2;
	const struct elb_prefix_table *own1, *node;
	struct elb_snapshot *s1, *s2, *s3;
	uint16_t v1, v2, v9;
	uint32_t gen = 0;
	struct elb_dp_err err;

	s1 = build(c1, NULL, &gen);
	CU_ASSERT_FATAL(elb_snapshot_set_prefixes(s1, NULL, set, &err) == 0);
	v1 = vip_at(s1, "198.51.100.1");
	v2 = vip_at(s1, "198.51.100.2");
	node = s1->node_prefixes;
	own1 = s1->vips[v1].prefixes[ELB_PREFIX_SCOPE_VIP];
	CU_ASSERT_PTR_NOT_NULL_FATAL(node);
	CU_ASSERT_PTR_NOT_NULL_FATAL(own1);
	CU_ASSERT_EQUAL(node->refs, 1);
	CU_ASSERT(s1->vips[v1].has_prefixes && s1->vips[v2].has_prefixes);
	CU_ASSERT_PTR_EQUAL(s1->vips[v1].prefixes[ELB_PREFIX_SCOPE_NODE], node);
	CU_ASSERT_PTR_EQUAL(s1->vips[v2].prefixes[ELB_PREFIX_SCOPE_NODE], node);
	CU_ASSERT_PTR_NULL(s1->vips[v2].prefixes[ELB_PREFIX_SCOPE_VIP]);
	CU_ASSERT_EQUAL(decides(node, "203.0.113.200"), ELB_PREFIX_DENY);
	CU_ASSERT_EQUAL(decides(node, "192.0.2.1"), ELB_PREFIX_NO_MATCH);
	CU_ASSERT_EQUAL(decides(own1, "203.0.113.200"), ELB_PREFIX_ALLOW);
	CU_ASSERT_EQUAL(decides(own1, "203.0.113.1"), ELB_PREFIX_NO_MATCH);

	/* A configuration change, same lists: tables shared, the new VIP's built. */
	s2 = build(c2, s1, &gen);
	CU_ASSERT_FATAL(elb_snapshot_set_prefixes(s2, s1, set, &err) == 0);
	v9 = vip_at(s2, "198.51.100.9");
	CU_ASSERT_FATAL(v9 != ELB_NO_VIP);
	CU_ASSERT_PTR_EQUAL(s2->node_prefixes, node);
	CU_ASSERT_PTR_EQUAL(s2->vips[v1].prefixes[ELB_PREFIX_SCOPE_VIP], own1);
	CU_ASSERT_EQUAL(node->refs, 2);
	CU_ASSERT_EQUAL(own1->refs, 2);
	CU_ASSERT_EQUAL(decides(s2->vips[v9].prefixes[ELB_PREFIX_SCOPE_VIP], "192.0.2.1"),
			ELB_PREFIX_DENY);
	/* The old snapshot goes (after its grace period): the shared tables stay. */
	elb_snapshot_free(s1);
	CU_ASSERT_EQUAL(node->refs, 1);
	CU_ASSERT_EQUAL(decides(s2->node_prefixes, "203.0.113.1"), ELB_PREFIX_DENY);

	/* New lists: every table built again; none left for a VIP without one. */
	set2 = prefix_set("{\"vips\": [{\"address\": \"198.51.100.2\", \"port\": 80,"
			  " \"protocol\": \"tcp\", \"deny\": [\"192.0.2.0/24\"]}]}");
	s3 = build(c2, s2, &gen);
	CU_ASSERT_FATAL(elb_snapshot_set_prefixes(s3, NULL, set2, &err) == 0);
	CU_ASSERT_PTR_NULL(s3->node_prefixes);
	CU_ASSERT_PTR_NULL(s3->vips[v1].prefixes[ELB_PREFIX_SCOPE_VIP]);
	CU_ASSERT_FALSE(s3->vips[v1].has_prefixes);
	CU_ASSERT_FALSE(s3->vips[v9].has_prefixes);
	CU_ASSERT_TRUE(s3->vips[v2].has_prefixes);
	CU_ASSERT_EQUAL(decides(s3->vips[v2].prefixes[ELB_PREFIX_SCOPE_VIP], "192.0.2.7"),
			ELB_PREFIX_DENY);
	/* No lists at all: nothing. */
	CU_ASSERT_FATAL(elb_snapshot_set_prefixes(s3, NULL, NULL, &err) == 0);
	CU_ASSERT_FALSE(s3->vips[v2].has_prefixes);
	CU_ASSERT_PTR_NULL(s3->vips[v2].prefixes[ELB_PREFIX_SCOPE_VIP]);
	elb_snapshot_free(s2);
	elb_snapshot_free(s3);
	elb_prefix_set_free(set);
	elb_prefix_set_free(set2);
}

/* The most probes any server ID of q needs, counted here: the distance
 * from its hash's entry to where it is, plus one. */
static uint32_t most_probes(const struct elb_vip_quic *q)
{
	uint32_t most = 0;

	for (uint32_t i = 0; i <= q->mask; i++) {
		uint32_t home, n;

		if (!q->servers[i].used)
			continue;
		home = elb_quic_server_hash(q->servers[i].sid) & q->mask;
		n = (i >= home ? i - home : i + q->mask + 1 - home) + 1;
		most = n > most ? n : most;
	}
	return most;
}

/* Server IDs chosen so that they all hash to 4 entries of the table their
 * number would get: the snapshot grows the table until every one is found
 * within ELB_QUIC_SERVER_PROBES probes (the XDP program's bound), and each
 * still names its backend's slot. */
static void test_quic_server_probes(void)
{
	enum { IDS = 40 };
	uint32_t mask = elb_quic_servers_size(IDS) - 1, found = 0, gen = 0;
	char *text = malloc(64 * 1024), *at;
	uint8_t ids[IDS][ELB_QUIC_SERVER_ID_MAX];
	struct elb_snapshot *snap;
	const struct elb_vip_quic *q;
	uint16_t v;

	CU_ASSERT_FATAL(text != NULL);
	for (uint32_t x = 1; found < IDS && x < (1u << 24); x++) {
		uint8_t sid[ELB_QUIC_SERVER_ID_MAX] = {(uint8_t)(x >> 16), (uint8_t)(x >> 8),
						       (uint8_t)x};

		if ((elb_quic_server_hash(sid) & mask) < 4)
			memcpy(ids[found++], sid, sizeof(sid));
	}
	CU_ASSERT_FATAL(found == IDS);
	at = text + sprintf(text, "{" NODE ", \"vips\": [{\"address\": \"198.51.100.7\","
				  " \"port\": 443, \"protocol\": \"udp\", \"quic\":"
				  " {\"server_id_length\": 3, \"configs\": [{\"id\": 0,"
				  " \"nonce_length\": 8}]}, \"backends\": [");
	for (uint32_t b = 0; b < IDS; b++)
		at += sprintf(at, "%s{\"address\": \"10.1.0.%u\", \"quic_server_id\": \"%02x%02x%02x\"}",
			      b ? ", " : "", b + 1, ids[b][0], ids[b][1], ids[b][2]);
	sprintf(at, "]}]}");
	snap = build(text, NULL, &gen);
	{
		struct elb_dp_vip_key key = {.family = ELB_AF_INET, .proto = ELB_IPPROTO_UDP,
					     .port = 443};

		CU_ASSERT_FATAL(inet_pton(AF_INET, "198.51.100.7", &key.addr.v4) == 1);
		v = elb_snapshot_vip_index(snap, &key);
	}
	CU_ASSERT_FATAL(v != ELB_NO_VIP && snap->vips[v].quic != NULL);
	q = snap->vips[v].quic;
	CU_ASSERT(q->mask > mask); /* grown: at the first size they need up to 40 */
	CU_ASSERT(most_probes(q) <= ELB_QUIC_SERVER_PROBES);
	for (uint32_t b = 0; b < IDS; b++) {
		const struct elb_vip *sv = &snap->vips[v];
		uint32_t slot = elb_quic_server_find(q, ids[b]);
		char addr[32];

		snprintf(addr, sizeof(addr), "10.1.0.%u", b + 1);
		CU_ASSERT(slot != ELB_QUIC_NO_SLOT && slot < snap->n_backend_slots &&
			  snap->backends[slot].addr.v4 == inet_addr(addr) &&
			  snap->backends[slot].vip_index == sv->index);
	}
	elb_snapshot_free(snap);
	free(text);
}

int main(void)
{
	static const struct elb_test_case cases[] = {
		{"a table is copied only when its inputs are the same", test_reuse_only_unchanged},
		{"previous owners per Maglev slot", test_previous_owners},
		{"previous owners over two changes", test_previous_owners_chain},
		{"second_chance from the configuration", test_second_chance_flag},
		{"prefix tables by VIP key, shared across configuration changes",
		 test_prefix_tables},
		{"QUIC server-ID tables found within the XDP program's probes",
		 test_quic_server_probes},
		{NULL, NULL},
	};

	return elb_test_run("snapshot", cases);
}
