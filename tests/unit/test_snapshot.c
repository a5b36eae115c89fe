/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The snapshot builder's reuse of Maglev tables (elb_snapshot.c): a VIP
 * whose table inputs did not change gets a copy of its previous table, any
 * other VIP a build. Every table of every snapshot is checked against one
 * built here with elb_maglev_build from inputs reconstructed from the
 * configuration (its backends in order, each with the slot the snapshot
 * gave it, weight 0 when draining), and the number of copies against the
 * VIPs that did not change.
 */
#include <stdlib.h>
#include <string.h>

#include "elb_config.h"
#include "elb_maglev.h"
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

int main(void)
{
	static const struct elb_test_case cases[] = {
		{"a table is copied only when its inputs are the same", test_reuse_only_unchanged},
		{NULL, NULL},
	};

	return elb_test_run("snapshot", cases);
}
