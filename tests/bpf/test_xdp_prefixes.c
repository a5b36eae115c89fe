/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The prefix lists in the XDP dataplane (dataplane/xdp/xdp_prefixes.c,
 * the trie step of bpf/edgelb.bpf.c) against the reference decision
 * elb_prefix_list_decide (elb_prefix_list.h), which reads every rule. The
 * real program, loaded and configured as edgelb-xdp does (xdp_ops.apply,
 * then the set through xdp_prefixes_apply), runs frames with
 * BPF_PROG_TEST_RUN; for each, the verdict and drop reason, the rule that
 * decided (its scope, action and position in its list, which the program
 * records with record_results) and in the end every VIP's counters
 * (prefix_matches, drops source_denied) must be the reference's:
 *   1. random nested sets (both families; the node's list and several
 *      VIPs', one VIP without; lengths /0, /1, /31, /32, /63, /64, /127,
 *      /128 favoured), sources at each rule's first and last address and
 *      their outside neighbours, inside random rules, and anywhere;
 *   2. 100,000 rules (writing time printed);
 *   3. a change from set A to set B: every packet then decided by B, also
 *      the packets of flows A let in (a deny stops an established flow);
 *   4. swaps between A and B while another thread sends packets: each
 *      decided by A or by B, never by a mix of their lists;
 *   5. config changes: a list whose VIP is added applies from the VIP's
 *      first packet; a VIP removed takes its list out of the trie, and a
 *      VIP that takes its index does not inherit it; re-added, the VIP's
 *      list applies again;
 *   6. flow.explain (xdp_explain.c) decides as the live program: denied
 *      clients get source_denied;
 *   7. a restart over the pinned maps (a bpffs of the test's own) keeps
 *      the lists in force until the new process applies a set; a config
 *      applied before then removes the list of a VIP it removes.
 * Needs root (CAP_BPF, mount); exits 77 (skipped) without it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <cjson/cJSON.h>
#include <linux/bpf.h>

#include "edgelb_xdp_maps.h"
#include "elb_explain_run.h"
#include "elb_prefixes.h"
#include "elb_replay_options.h"
#include "xdp.h"
#include "xdp_test.h"
/* The skeleton names core types: they are defined above. */
#include "edgelb.skel.h"

#define N_VIPS 6

/* The VIPs: four configured at the start, the last two by test 5. */
struct vip {
	const char *addr;
	uint16_t port;
	uint8_t family;
	const char *backend;
	uint8_t bytes[16];
};

static struct vip vips[N_VIPS] = {
	{"10.0.0.10", 80, ELB_AF_INET, "10.200.0.1", {0}},
	{"10.0.0.11", 80, ELB_AF_INET, "10.200.0.2", {0}},
	{"fd00::10", 80, ELB_AF_INET6, "fd00:200::1", {0}},
	{"fd00::11", 443, ELB_AF_INET6, "fd00:200::2", {0}},
	{"10.0.0.12", 80, ELB_AF_INET, "10.200.0.3", {0}},
	{"10.0.0.13", 80, ELB_AF_INET, "10.200.0.4", {0}},
};

static struct xdp_dataplane dp;
static struct elb_dp_config *in_force;
static uint64_t epoch;
static uint64_t rng = 0x9e3779b97f4a7c15ull;
/* The set in force: the dataplane points into it until the next apply. */
static struct elb_prefix_set *set_in_force;

/* ---- configs and sets ---- */

/* Configure the VIPs whose bit is in mask. @return 0 or -errno. */
static int configure(uint32_t mask)
{
	char text[2048];
	size_t off;
	bool first = true;

	off = (size_t)snprintf(text, sizeof(text),
			       "{\"node\": {\"source_v4\": \"192.168.10.1\", \"source_v6\": "
			       "\"fd00::1\", \"gateway_mac\": \"02:00:00:00:00:fe\"}, \"vips\": [");
	for (int i = 0; i < N_VIPS; i++) {
		if (!(mask & (1u << i)))
			continue;
		off += (size_t)snprintf(text + off, sizeof(text) - off,
					"%s{\"address\": \"%s\", \"port\": %u, \"protocol\": \"tcp\", "
					"\"backends\": [{\"address\": \"%s\"}]}",
					first ? "" : ", ", vips[i].addr, vips[i].port,
					vips[i].backend);
		first = false;
	}
	snprintf(text + off, sizeof(text) - off, "]}");
	return xdp_test_apply(&dp, "%s", text, &in_force, &epoch);
}

/* A rule set being built: per scope (node = N_VIPS, VIP i = i) its rules. */
struct build {
	struct elb_prefix_rule *rules[N_VIPS + 1];
	uint32_t n[N_VIPS + 1], cap[N_VIPS + 1];
};

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

static int rule_cmp(const void *a, const void *b)
{
	const struct elb_prefix_rule *x = a, *y = b;

	if (x->family != y->family)
		return x->family < y->family ? -1 : 1;
	int c = memcmp(&x->addr, &y->addr, sizeof(x->addr));

	if (c)
		return c;
	return (int)x->len - (int)y->len;
}

static void build_add(struct build *b, int scope, const struct elb_prefix_rule *r)
{
	if (b->n[scope] == b->cap[scope]) {
		b->cap[scope] = b->cap[scope] ? 2 * b->cap[scope] : 64;
		b->rules[scope] = realloc(b->rules[scope], sizeof(*r) * b->cap[scope]);
		if (b->rules[scope] == NULL)
			abort();
	}
	b->rules[scope][b->n[scope]++] = *r;
}

static void build_free(struct build *b)
{
	for (int s = 0; s <= N_VIPS; s++)
		free(b->rules[s]);
	memset(b, 0, sizeof(*b));
}

/* addr masked to its first len bits (family bits long). */
static void mask_addr(union elb_addr *a, uint8_t family, uint32_t len)
{
	uint32_t bits = family == ELB_AF_INET ? 32 : 128;

	for (uint32_t i = 0; i < bits / 8; i++) {
		uint32_t keep = len > 8 * i ? len - 8 * i : 0;

		if (keep < 8)
			a->v6[i] &= (uint8_t)(0xff00 >> keep);
	}
	if (family == ELB_AF_INET)
		memset(a->v6 + 4, 0, 12);
}

/* Anchors: the networks rules cluster in, so that they nest. A scope's
 * rules take four consecutive ones (anchor_span) from anchor_first: the node's and the
 * VIPs' overlap in half, so that some addresses fall through a VIP's list
 * to the node's and some meet both. */
#define ANCHORS 8
static union elb_addr anchors[2][ANCHORS];
static uint32_t anchor_first, anchor_span = ANCHORS;

static void random_addr(uint8_t family, union elb_addr *a)
{
	uint32_t bits = family == ELB_AF_INET ? 32 : 128;

	memset(a, 0, sizeof(*a));
	for (uint32_t i = 0; i < bits / 8; i++)
		a->v6[i] = (uint8_t)elb_test_rng(&rng);
}

/* An address near an anchor (its low bits random) or anywhere. */
static void near_addr(uint8_t family, union elb_addr *a)
{
	uint32_t bits = family == ELB_AF_INET ? 32 : 128;
	uint64_t r = elb_test_rng(&rng);

	random_addr(family, a);
	if (r % 5 != 0) {
		union elb_addr base =
			anchors[family == ELB_AF_INET6][(anchor_first + (r >> 8) % anchor_span) % ANCHORS];
		uint32_t keep = (uint32_t)((r >> 16) % (bits + 1));

		for (uint32_t i = 0; i < bits / 8; i++) {
			uint32_t k = keep > 8 * i ? keep - 8 * i : 0;
			uint8_t m = k >= 8 ? 0xff : (uint8_t)(0xff00 >> k);

			a->v6[i] = (uint8_t)((base.v6[i] & m) | (a->v6[i] & ~m));
		}
	}
}

/* Whether random rules may be /0: one /0 in a list decides every packet
 * that list sees, and the lists behind it would go untested. */
static bool zero_len_ok;

/* Edge lengths often; /0 and /1 rarely (two /1 cover every address, and
 * would leave the node's list, and no match, untested); else from a
 * quarter of the family's bits up. */
static uint8_t random_len(uint8_t family)
{
	static const uint8_t edges4[] = {8, 16, 24, 31, 32};
	static const uint8_t edges6[] = {32, 48, 63, 64, 127, 128};
	uint32_t bits = family == ELB_AF_INET ? 32 : 128;
	uint64_t r = elb_test_rng(&rng);

	if (r % 150 == 0)
		return zero_len_ok && (r >> 8) % 2 ? 0 : 1;
	if (r % 3 == 0)
		return family == ELB_AF_INET ? edges4[(r >> 8) % sizeof(edges4)]
					     : edges6[(r >> 8) % sizeof(edges6)];
	return (uint8_t)(bits / 4 + (r >> 8) % (bits - bits / 4 + 1));
}

/* n random rules of family in scope, duplicates possible. */
static void random_rules_some(struct build *b, int scope, uint8_t family, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		struct elb_prefix_rule r;

		memset(&r, 0, sizeof(r));
		r.family = family;
		r.len = random_len(family);
		near_addr(family, &r.addr);
		mask_addr(&r.addr, family, r.len);
		r.action = elb_test_rng(&rng) % 2 ? ELB_PREFIX_ALLOW : ELB_PREFIX_DENY;
		build_add(b, scope, &r);
	}
}

/* Sort scope's rules and drop duplicates (a set refuses them). */
static void build_unique(struct build *b, int scope)
{
	uint32_t kept = 0;

	qsort(b->rules[scope], b->n[scope], sizeof(*b->rules[scope]), rule_cmp);
	for (uint32_t i = 0; i < b->n[scope]; i++)
		if (kept == 0 || rule_cmp(&b->rules[scope][kept - 1], &b->rules[scope][i]) != 0)
			b->rules[scope][kept++] = b->rules[scope][i];
	b->n[scope] = kept;
}

/* n more distinct random rules of family in scope. */
static void random_rules(struct build *b, int scope, uint8_t family, uint32_t n)
{
	uint32_t want = b->n[scope] + n;

	while (b->n[scope] < want) {
		random_rules_some(b, scope, family, want - b->n[scope]);
		build_unique(b, scope);
	}
}

static void add_prefix_json(cJSON *obj, const struct elb_prefix_rule *r)
{
	char text[INET6_ADDRSTRLEN + 8], addr[INET6_ADDRSTRLEN];
	const char *member = r->action == ELB_PREFIX_ALLOW ? "allow" : "deny";
	cJSON *array = cJSON_GetObjectItemCaseSensitive(obj, member);

	if (array == NULL)
		array = cJSON_AddArrayToObject(obj, member);
	inet_ntop(r->family == ELB_AF_INET ? AF_INET : AF_INET6, &r->addr, addr, sizeof(addr));
	snprintf(text, sizeof(text), "%s/%u", addr, r->len);
	cJSON_AddItemToArray(array, cJSON_CreateString(text));
}

/* The set of b through its JSON form, as prefixes.set takes it (each
 * scope's duplicates dropped first: the set refuses them). NULL: refused. */
static struct elb_prefix_set *set_of(struct build *b)
{
	cJSON *root = cJSON_CreateObject(), *node = cJSON_AddObjectToObject(root, "node");
	cJSON *list = cJSON_AddArrayToObject(root, "vips");
	struct elb_prefix_set *set = NULL;
	struct elb_dp_err err;

	for (int s = 0; s <= N_VIPS; s++) {
		cJSON *obj = node;
		uint32_t kept;

		build_unique(b, s);
		kept = b->n[s];
		if (kept == 0)
			continue;
		if (s < N_VIPS) {
			obj = cJSON_CreateObject();
			cJSON_AddStringToObject(obj, "address", vips[s].addr);
			cJSON_AddNumberToObject(obj, "port", vips[s].port);
			cJSON_AddStringToObject(obj, "protocol", "tcp");
			cJSON_AddItemToArray(list, obj);
		}
		for (uint32_t i = 0; i < kept; i++)
			add_prefix_json(obj, &b->rules[s][i]);
	}
	if (elb_prefix_set_from_json(root, "", &set, &err))
		fprintf(stderr, "set refused: %s\n", err.text);
	cJSON_Delete(root);
	return set;
}

/* Make set the lists in force; the previous set is freed. @return 0 or -errno. */
static int apply_set(struct elb_prefix_set *set, uint64_t *took_ns)
{
	char err[256] = "";
	uint64_t t0 = monotonic_ns();
	int rc = xdp_prefixes_apply(&dp, set, err, sizeof(err));

	if (took_ns)
		*took_ns = monotonic_ns() - t0;
	if (rc) {
		fprintf(stderr, "apply_prefixes: %s\n", err);
		elb_prefix_set_free(set);
		return rc;
	}
	elb_prefix_set_free(set_in_force);
	set_in_force = set;
	return 0;
}

/* ---- packets, the reference, the counters ---- */

static struct elb_dp_vip_key vip_key(int v)
{
	struct elb_dp_vip_key k;

	memset(&k, 0, sizeof(k));
	k.family = vips[v].family;
	k.proto = ELB_IPPROTO_TCP;
	k.port = vips[v].port;
	memcpy(&k.addr, vips[v].bytes, 16);
	return k;
}

struct expect {
	enum elb_prefix_action action;
	enum elb_prefix_scope scope;
	uint32_t index; /* of the rule in its list */
};

/* What the reference decides for src sending to VIP v under set. */
static struct expect reference(const struct elb_prefix_set *set, int v, const union elb_addr *src)
{
	struct elb_dp_vip_key key = vip_key(v);
	const struct elb_prefix_list *vl = elb_prefix_set_vip_list(set, &key);
	const struct elb_prefix_rule *rule = NULL;
	struct expect e = {ELB_PREFIX_NO_MATCH, ELB_PREFIX_SCOPE_VIP, 0};

	e.action = elb_prefix_list_decide(vl ? vl->rules : NULL, vl ? vl->n : 0, set->node.rules,
					  set->node.n, vips[v].family, src, &e.scope, &rule);
	if (rule)
		e.index = (uint32_t)(rule - (e.scope == ELB_PREFIX_SCOPE_VIP ? vl->rules
									   : set->node.rules));
	return e;
}

struct got {
	uint32_t action; /* XDP action */
	struct elb_pipeline_result res;
	struct elb_xdp_prefix_rule rule;
};

/* A TCP frame from src:sport to VIP v. @return its length. */
static uint32_t frame_to(uint8_t *frame, int v, const union elb_addr *src, uint16_t sport,
			 uint8_t flags)
{
	static const uint8_t dst_mac[6] = {2, 0, 0, 0, 0, 1}, src_mac[6] = {2, 0, 0, 0, 0, 2};

	if (vips[v].family == ELB_AF_INET)
		return elb_test_tcp4_frame(frame, dst_mac, src_mac, ntohl(src->v4), sport,
					   ntohl(*(const uint32_t *)vips[v].bytes), vips[v].port,
					   flags, 10, true);
	return elb_test_tcp6_frame(frame, dst_mac, src_mac, src->v6, sport, vips[v].bytes,
				   vips[v].port, flags, 10);
}

static struct got send_packet(int v, const union elb_addr *src, uint16_t sport, uint8_t flags)
{
	uint8_t frame[160], out[256];
	struct elb_test_xdp_out o;
	uint32_t len = frame_to(frame, v, src, sport, flags);
	struct got g;

	memset(&dp.skel->bss->last_result, 0, sizeof(dp.skel->bss->last_result));
	memset(&dp.skel->bss->last_prefix, 0, sizeof(dp.skel->bss->last_prefix));
	if (elb_test_xdp_run(bpf_program__fd(dp.skel->progs.edgelb_xdp), frame, len, out,
			     sizeof(out), &o))
		exit(1);
	g.action = o.action;
	g.res = dp.skel->bss->last_result;
	g.rule = dp.skel->bss->last_prefix;
	return g;
}

/* The VIP's counters summed over CPUs (this test runs on one). */
static struct elb_vip_counters vip_counters_of(int v)
{
	int ncpu = libbpf_num_possible_cpus();
	size_t stride = xdp_percpu_stride(sizeof(struct elb_vip_counters));
	uint8_t *values = calloc((size_t)ncpu, stride);
	struct elb_vip_counters sum;
	uint32_t index = ELB_MAX_VIPS;

	memset(&sum, 0, sizeof(sum));
	for (uint32_t i = 0; i < ELB_MAX_VIPS; i++) {
		struct elb_dp_vip_key k = vip_key(v);
		const struct elb_vip *sv = &dp.snap->vips[i];

		if (sv->maglev != NULL && sv->family == k.family && sv->port == htons(k.port) &&
		    memcmp(&sv->addr, &k.addr, 16) == 0)
			index = i;
	}
	if (values == NULL || index == ELB_MAX_VIPS ||
	    bpf_map_lookup_elem(bpf_map__fd(dp.skel->maps.vip_counters), &index, values)) {
		free(values);
		return sum;
	}
	for (int cpu = 0; cpu < ncpu; cpu++) {
		const struct elb_vip_counters *c =
			(const void *)(values + (size_t)cpu * stride);

		if (c->gen != dp.snap->vips[index].gen)
			continue;
		for (int s = 0; s < ELB_PREFIX_SCOPES; s++)
			for (int a = 0; a < ELB_PREFIX_ACTIONS; a++)
				sum.prefix_matches[s][a] += c->prefix_matches[s][a];
		sum.drops[ELB_REASON_SOURCE_DENIED] += c->drops[ELB_REASON_SOURCE_DENIED];
		sum.rx.packets += c->rx.packets;
	}
	free(values);
	return sum;
}

/* The CPUs' drops as source_denied. */
static uint64_t worker_denied(void)
{
	int ncpu = libbpf_num_possible_cpus();
	size_t stride = xdp_percpu_stride(sizeof(struct elb_worker_counters));
	uint8_t *values = calloc((size_t)ncpu, stride);
	uint64_t sum = 0;
	uint32_t zero = 0;

	if (values && bpf_map_lookup_elem(bpf_map__fd(dp.skel->maps.counters), &zero, values) == 0)
		for (int cpu = 0; cpu < ncpu; cpu++)
			sum += ((const struct elb_worker_counters *)(const void *)(values +
										(size_t)cpu * stride))
				       ->drops[ELB_REASON_SOURCE_DENIED];
	free(values);
	return sum;
}

/* A run of packets and what the reference says its counters must gain. */
struct tally {
	uint64_t matches[N_VIPS][ELB_PREFIX_SCOPES][ELB_PREFIX_ACTIONS];
	uint64_t denied[N_VIPS], denied_all, worker_denied_before;
	struct elb_vip_counters before[N_VIPS];
	uint64_t by_scope[ELB_PREFIX_SCOPES + 1]; /* [ELB_PREFIX_SCOPES]: no rule */
	uint32_t packets, failures;
};

static void tally_start(struct tally *t, uint32_t mask)
{
	memset(t, 0, sizeof(*t));
	t->worker_denied_before = worker_denied();
	for (int v = 0; v < N_VIPS; v++)
		if (mask & (1u << v))
			t->before[v] = vip_counters_of(v);
}

static void tally_check(struct tally *t, uint32_t mask)
{
	ELB_CHECK(worker_denied() - t->worker_denied_before == t->denied_all,
		  "CPU drops source_denied: +%llu, want +%llu",
		  (unsigned long long)(worker_denied() - t->worker_denied_before),
		  (unsigned long long)t->denied_all);
	for (int v = 0; v < N_VIPS; v++) {
		struct elb_vip_counters now;

		if (!(mask & (1u << v)))
			continue;
		now = vip_counters_of(v);
		for (int s = 0; s < ELB_PREFIX_SCOPES; s++)
			for (int a = 0; a < ELB_PREFIX_ACTIONS; a++)
				ELB_CHECK(now.prefix_matches[s][a] - t->before[v].prefix_matches[s][a] ==
						  t->matches[v][s][a],
					  "VIP %s prefix_matches[%d][%d]: +%llu, want +%llu",
					  vips[v].addr, s, a,
					  (unsigned long long)(now.prefix_matches[s][a] -
							       t->before[v].prefix_matches[s][a]),
					  (unsigned long long)t->matches[v][s][a]);
		ELB_CHECK(now.drops[ELB_REASON_SOURCE_DENIED] -
					  t->before[v].drops[ELB_REASON_SOURCE_DENIED] ==
				  t->denied[v],
			  "VIP %s source_denied: want +%llu", vips[v].addr,
			  (unsigned long long)t->denied[v]);
	}
}

/* One packet from src to VIP v, checked against the reference under set. */
static void check_packet(struct tally *t, const struct elb_prefix_set *set, int v,
			 const union elb_addr *src, uint8_t flags)
{
	struct expect e = reference(set, v, src);
	struct got g = send_packet(v, src, (uint16_t)(1024 + t->packets % 60000), flags);
	char text[INET6_ADDRSTRLEN] = "";
	bool ok;

	t->packets++;
	if (e.action == ELB_PREFIX_DENY)
		ok = g.action == XDP_DROP && g.res.verdict == ELB_VERDICT_DROP &&
		     g.res.reason == ELB_REASON_SOURCE_DENIED;
	else
		ok = g.action == XDP_TX && g.res.verdict == ELB_VERDICT_FORWARD;
	ok = ok && g.rule.action == e.action &&
	     (e.action == ELB_PREFIX_NO_MATCH || (g.rule.scope == e.scope && g.rule.index == e.index));
	if (!ok && t->failures++ < 10) {
		inet_ntop(vips[v].family == ELB_AF_INET ? AF_INET : AF_INET6, src, text,
			  sizeof(text));
		fprintf(stderr,
			"%s -> %s: XDP action %u reason %u, rule action %u scope %u index %u; "
			"want action %d scope %d index %u\n",
			text, vips[v].addr, g.action, g.res.reason, g.rule.action, g.rule.scope,
			g.rule.index, e.action, e.scope, e.index);
	}
	t->by_scope[e.action == ELB_PREFIX_NO_MATCH ? ELB_PREFIX_SCOPES : e.scope]++;
	if (e.action != ELB_PREFIX_NO_MATCH)
		t->matches[v][e.scope][e.action - 1]++;
	if (e.action == ELB_PREFIX_DENY) {
		t->denied[v]++;
		t->denied_all++;
	}
}

/* a += delta (+1 or -1) as a big-endian number of the family's bytes. */
static void addr_step(union elb_addr *a, uint8_t family, int delta)
{
	int bytes = family == ELB_AF_INET ? 4 : 16;

	for (int i = bytes - 1; i >= 0; i--) {
		uint8_t before = a->v6[i];

		a->v6[i] = (uint8_t)(before + delta);
		if ((delta > 0 && a->v6[i] != 0) || (delta < 0 && before != 0))
			break;
	}
}

/* The last address of a rule. */
static union elb_addr rule_last(const struct elb_prefix_rule *r)
{
	union elb_addr a = r->addr;
	uint32_t bits = r->family == ELB_AF_INET ? 32 : 128;

	for (uint32_t i = 0; i < bits / 8; i++) {
		uint32_t keep = r->len > 8 * i ? r->len - 8 * i : 0;

		if (keep < 8)
			a.v6[i] |= (uint8_t)(0xff >> keep);
	}
	return a;
}

/* Sources at the edges of up to max_rules of list's rules of family (each
 * rule's first and last address and their outside neighbours), then
 * n_random near the anchors or anywhere, sent to VIP v. */
static void probe(struct tally *t, const struct elb_prefix_set *set, int v,
		  const struct elb_prefix_list *list, uint32_t max_rules, uint32_t n_random,
		  uint8_t flags)
{
	uint8_t family = vips[v].family;
	uint32_t step = list && list->n > max_rules ? list->n / max_rules : 1;

	for (uint32_t i = 0; list && i < list->n; i += step) {
		const struct elb_prefix_rule *r = &list->rules[i];
		union elb_addr first = r->addr, last = rule_last(r), a;

		if (r->family != family)
			continue;
		check_packet(t, set, v, &first, flags);
		check_packet(t, set, v, &last, flags);
		a = first;
		addr_step(&a, family, -1);
		check_packet(t, set, v, &a, flags);
		a = last;
		addr_step(&a, family, 1);
		check_packet(t, set, v, &a, flags);
	}
	for (uint32_t i = 0; i < n_random; i++) {
		union elb_addr a;

		near_addr(family, &a);
		check_packet(t, set, v, &a, flags);
	}
}

/* Every configured VIP (mask) probed with the edges of its own list's and
 * the node's rules in `edges`, decided under set. */
static void probe_edges(const struct elb_prefix_set *set, const struct elb_prefix_set *edges,
			uint32_t mask, uint32_t max_rules, uint32_t n_random, uint8_t flags)
{
	struct tally *t = calloc(1, sizeof(*t));

	if (t == NULL)
		abort();
	tally_start(t, mask);
	for (int v = 0; v < N_VIPS; v++) {
		struct elb_dp_vip_key key = vip_key(v);

		if (!(mask & (1u << v)))
			continue;
		probe(t, set, v, elb_prefix_set_vip_list(edges, &key), max_rules, n_random, flags);
		probe(t, set, v, &edges->node, max_rules, 0, flags);
	}
	tally_check(t, mask);
	printf("  %u packets (VIP list decided %llu, node list %llu, no rule %llu), %u unlike the "
	       "reference\n",
	       t->packets, (unsigned long long)t->by_scope[ELB_PREFIX_SCOPE_VIP],
	       (unsigned long long)t->by_scope[ELB_PREFIX_SCOPE_NODE],
	       (unsigned long long)t->by_scope[ELB_PREFIX_SCOPES], t->failures);
	ELB_CHECK(t->failures == 0, "%u of %u packets decided unlike the reference", t->failures,
		  t->packets);
	free(t);
}

static void probe_all(const struct elb_prefix_set *set, uint32_t mask, uint32_t max_rules,
		      uint32_t n_random, uint8_t flags)
{
	probe_edges(set, set, mask, max_rules, n_random, flags);
}

/* A random set: the node's list (both families) and lists for the VIPs in
 * lists_mask, of about n_node and n_vip rules. */
static struct elb_prefix_set *random_set(uint32_t n_node, uint32_t n_vip, uint32_t lists_mask)
{
	struct build b;
	struct elb_prefix_set *set;

	memset(&b, 0, sizeof(b));
	for (int f = 0; f < 2; f++)
		for (int i = 0; i < ANCHORS; i++)
			random_addr(f ? ELB_AF_INET6 : ELB_AF_INET, &anchors[f][i]);
	anchor_first = 0;
	anchor_span = 4;
	random_rules(&b, N_VIPS, ELB_AF_INET, n_node / 2);
	random_rules(&b, N_VIPS, ELB_AF_INET6, n_node - n_node / 2);
	for (int v = 0; v < N_VIPS; v++) {
		anchor_first = 2 + (uint32_t)v;
		if (lists_mask & (1u << v))
			random_rules(&b, v, vips[v].family, n_vip);
	}
	/* Probes: near any anchor. */
	anchor_first = 0;
	anchor_span = ANCHORS;
	set = set_of(&b);
	build_free(&b);
	return set;
}

#define CONFIGURED 0xfu /* VIPs 0..3 */

/* ---- 1. random nested sets ---- */

static void test_random_sets(void)
{
	/* No list anywhere: no lookup, nothing counted. */
	struct elb_prefix_set *empty = elb_prefix_set_new();

	ELB_CHECK(empty && apply_set(empty, NULL) == 0, "the empty set");
	ELB_CHECK(dp.skel->bss->prefix_scopes == 0, "no list: scopes %u",
		  dp.skel->bss->prefix_scopes);
	probe_all(set_in_force, CONFIGURED, 0, 200, ELB_TCP_SYN);
	for (int round = 0; round < 6; round++) {
		zero_len_ok = round >= 3;
		/* VIP 1 never has a list; the others in turn. */
		uint32_t lists = (round % 2 ? 0x1u : 0xdu) | (round >= 4 ? 0x20u : 0);
		struct elb_prefix_set *set = random_set(round == 0 ? 0 : 300, 120, lists);

		ELB_CHECK(set && apply_set(set, NULL) == 0, "round %d: the set", round);
		if (set == NULL)
			continue;
		printf("round %d: %u rules\n", round, elb_prefix_set_rules(set_in_force));
		probe_all(set_in_force, CONFIGURED, 400, 400, ELB_TCP_SYN);
	}
	zero_len_ok = false;
}

/* ---- 2. 100k rules ---- */

/* What the kernel charges for the trie in force (its fdinfo's memlock). */
static uint64_t trie_memlock(void)
{
	char path[64], line[128];
	unsigned long long bytes = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", dp.prefixes.trie_fd);
	f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "memlock: %llu", &bytes) == 1)
			break;
	if (f)
		fclose(f);
	return bytes;
}

static void test_100k(void)
{
	struct elb_prefix_set *set = random_set(70000, 10000, 0xdu);
	uint64_t took = 0;

	ELB_CHECK(set != NULL, "the set");
	if (set == NULL)
		return;
	ELB_CHECK(apply_set(set, &took) == 0, "apply");
	printf("%u rules written in %.1f ms (%.2f us a rule)\n", elb_prefix_set_rules(set_in_force),
	       (double)took / 1e6, (double)took / 1e3 / elb_prefix_set_rules(set_in_force));
	ELB_CHECK(dp.prefixes.rules == elb_prefix_set_rules(set_in_force), "trie rules %u",
		  dp.prefixes.rules);
	printf("kernel memory of the trie: %.1f MiB\n", (double)trie_memlock() / (1 << 20));
	/* The reference reads every rule per packet: a sample of the edges. */
	probe_all(set_in_force, CONFIGURED, 150, 150, ELB_TCP_SYN);
}

/* The median kernel-reported time of one run of an established flow's
 * ACK from src to VIP v, in ns (informational: the machine is shared). */
static double median_ns(int v, const union elb_addr *src)
{
	enum { CALLS = 20001 };
	static uint64_t ns[CALLS];
	uint8_t frame[160], out[256];
	uint32_t len = frame_to(frame, v, src, 5555, ELB_TCP_ACK);
	int fd = bpf_program__fd(dp.skel->progs.edgelb_xdp);

	send_packet(v, src, 5555, ELB_TCP_SYN);
	dp.skel->bss->record_results = 0;
	for (int i = 0; i < CALLS; i++) {
		LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame, .data_size_in = len,
			    .data_out = out, .data_size_out = sizeof(out), .repeat = 1);

		ns[i] = bpf_prog_test_run_opts(fd, &opts) == 0 ? opts.duration : 0;
	}
	dp.skel->bss->record_results = 1;
	qsort(ns, CALLS, sizeof(ns[0]), cmp_u64);
	return (double)ns[CALLS / 2];
}

/* A source the set does not deny for VIP v (a denied packet ends early),
 * decided by the given scope (or by no rule: ELB_PREFIX_SCOPES). */
static bool undenied_source(int v, int scope, union elb_addr *src)
{
	for (int i = 0; i < 100000; i++) {
		struct expect e;

		near_addr(vips[v].family, src);
		e = reference(set_in_force, v, src);
		if (e.action != ELB_PREFIX_DENY &&
		    (e.action == ELB_PREFIX_NO_MATCH ? ELB_PREFIX_SCOPES : (int)e.scope) == scope)
			return true;
	}
	return false;
}

/* What the lists cost an established flow's packet, against no list in
 * the same run: printed, not asserted (a shared machine). */
static void test_lookup_cost(void)
{
	union elb_addr by_node, by_vip;
	uint32_t rules = dp.prefixes.rules;
	double with_node, with_vip, without;

	/* test_100k's set is in force. */
	if (!undenied_source(1, ELB_PREFIX_SCOPE_NODE, &by_node) ||
	    !undenied_source(0, ELB_PREFIX_SCOPE_VIP, &by_vip)) {
		CU_FAIL("no source for a case");
		return;
	}
	with_node = median_ns(1, &by_node);
	with_vip = median_ns(0, &by_vip);
	ELB_CHECK(apply_set(elb_prefix_set_new(), NULL) == 0, "the empty set");
	without = median_ns(1, &by_node);
	printf("established flow, median ns per packet: no list %.0f; with %u rules, allowed by "
	       "the node's list (VIP without a list) %.0f (+%.0f), by the VIP's list %.0f (+%.0f)\n",
	       without, rules, with_node, with_node - without, with_vip, with_vip - without);
}

/* ---- 3. A -> B ---- */

static void test_swap(void)
{
	struct elb_prefix_set *a = random_set(400, 150, 0xdu), *b, *a_copy;
	union elb_addr anchors_a[2][ANCHORS];

	ELB_CHECK(a && apply_set(a, NULL) == 0, "set A");
	a_copy = elb_prefix_set_clone(set_in_force);
	memcpy(anchors_a, anchors, sizeof(anchors));
	/* SYNs under A make flows (those A lets in); the same sources' ACKs
	 * follow under B, which denies some of them: no flow gets past it. */
	rng = 0x1234567ull;
	probe_all(set_in_force, CONFIGURED, 300, 300, ELB_TCP_SYN);
	b = random_set(400, 150, 0x5u);
	ELB_CHECK(a_copy && b && apply_set(b, NULL) == 0, "set B");
	if (a_copy == NULL)
		return;
	memcpy(anchors, anchors_a, sizeof(anchors));
	rng = 0x1234567ull;
	probe_edges(set_in_force, a_copy, CONFIGURED, 300, 300, ELB_TCP_ACK);
	/* And B's own edges. */
	probe_all(set_in_force, CONFIGURED, 300, 300, ELB_TCP_SYN);
	elb_prefix_set_free(a_copy);
}

/* ---- 4. swaps under traffic ---- */

struct race {
	volatile bool stop;
	union elb_addr src;
	uint64_t packets, allowed_vip, no_match, mixed;
};

static void *race_sender(void *arg)
{
	struct race *r = arg;

	/* Another CPU than the swaps' where there is one. */
	pin_to(libbpf_num_possible_cpus() > 1 ? 1 : 0);
	while (!r->stop && r->packets < 2000000) {
		struct got g = send_packet(0, &r->src, (uint16_t)(r->packets % 50000 + 1024),
					   ELB_TCP_SYN);

		r->packets++;
		if (g.action == XDP_TX && g.rule.action == ELB_PREFIX_ALLOW &&
		    g.rule.scope == ELB_PREFIX_SCOPE_VIP)
			r->allowed_vip++;
		else if (g.action == XDP_TX && g.rule.action == ELB_PREFIX_NO_MATCH)
			r->no_match++;
		else if (r->mixed++ == 0)
			fprintf(stderr, "a mix: XDP action %u, reason %u, rule action %u scope %u "
					"index %u\n",
				g.action, g.res.reason, g.rule.action, g.rule.scope, g.rule.index);
	}
	return NULL;
}

/* Set A: VIP 0 allows src/32, the node denies its /24 (VIP decides: allow).
 * Set B: VIP 0 has no list, the node denies another /24 (no match). A's
 * node list without A's VIP list denies: a mix (e.g. B's globals, which
 * skip VIP 0's lookup, over A's trie). */
static struct elb_prefix_set *race_set(bool a, const union elb_addr *src)
{
	struct build b;
	struct elb_prefix_rule r;
	struct elb_prefix_set *set;

	memset(&b, 0, sizeof(b));
	memset(&r, 0, sizeof(r));
	r.family = ELB_AF_INET;
	r.addr = *src;
	r.len = 32;
	r.action = ELB_PREFIX_ALLOW;
	if (a)
		build_add(&b, 0, &r);
	r.addr = *src;
	r.len = 24;
	r.action = ELB_PREFIX_DENY;
	if (!a)
		r.addr.v6[0] ^= 0x80;
	mask_addr(&r.addr, ELB_AF_INET, r.len);
	build_add(&b, N_VIPS, &r);
	set = set_of(&b);
	build_free(&b);
	return set;
}

static void test_swap_under_traffic(void)
{
	struct race r;
	pthread_t thread;
	uint32_t swaps = 0;
	uint64_t start;

	memset(&r, 0, sizeof(r));
	r.src.v4 = htonl(0xc6336407); /* 198.51.100.7 */
	/* A in force before the first packet. */
	if (apply_set(race_set(true, &r.src), NULL)) {
		CU_FAIL("set A");
		return;
	}
	if (pthread_create(&thread, NULL, race_sender, &r)) {
		CU_FAIL("pthread_create");
		return;
	}
	start = monotonic_ns();
	/* Bounded: 400 swaps or 3 s. */
	while (swaps < 400 && monotonic_ns() - start < 3000000000ull) {
		struct elb_prefix_set *set = race_set(swaps % 2 != 0, &r.src);

		if (set == NULL || apply_set(set, NULL)) {
			CU_FAIL("a swap");
			break;
		}
		swaps++;
	}
	r.stop = true;
	pthread_join(thread, NULL);
	printf("%u swaps under %llu packets: %llu allowed by A, %llu by no rule (B), %llu other\n",
	       swaps, (unsigned long long)r.packets, (unsigned long long)r.allowed_vip,
	       (unsigned long long)r.no_match, (unsigned long long)r.mixed);
	ELB_CHECK(r.mixed == 0, "%llu packets decided by a mix of A and B",
		  (unsigned long long)r.mixed);
	ELB_CHECK(r.allowed_vip > 0 && r.no_match > 0, "both sets seen");
}

/* ---- 5. config changes ---- */

/* Keys in the trie by scope: the node's, and those of VIP generations. */
static uint32_t trie_keys(uint32_t scope)
{
	struct elb_xdp_prefix_key k, next;
	void *cursor = NULL;
	uint32_t n = 0;

	while (bpf_map_get_next_key(dp.prefixes.trie_fd, cursor, &next) == 0) {
		k = next;
		cursor = &k;
		n += next.scope == scope || scope == UINT32_MAX;
	}
	return n;
}

static uint32_t vip_gen(int v)
{
	struct elb_dp_vip_key k = vip_key(v);

	for (uint32_t i = 0; i < ELB_MAX_VIPS; i++) {
		const struct elb_vip *sv = &dp.snap->vips[i];

		if (sv->maglev != NULL && sv->family == k.family && sv->port == htons(k.port) &&
		    memcmp(&sv->addr, &k.addr, 16) == 0)
			return sv->gen;
	}
	return 0;
}

static uint32_t listed_rules(uint32_t mask)
{
	uint32_t n = set_in_force->node.n;

	for (int v = 0; v < N_VIPS; v++) {
		struct elb_dp_vip_key key = vip_key(v);
		const struct elb_prefix_list *l = elb_prefix_set_vip_list(set_in_force, &key);

		if ((mask & (1u << v)) && l)
			n += l->n;
	}
	return n;
}

static void test_config_changes(void)
{
	/* Lists for VIPs 0, 1 and 5; 5 is not configured yet. */
	struct elb_prefix_set *set = random_set(200, 150, 0x23u);
	uint32_t gen1;

	ELB_CHECK(set && apply_set(set, NULL) == 0, "the set");
	if (set == NULL)
		return;
	ELB_CHECK(trie_keys(UINT32_MAX) == listed_rules(CONFIGURED), "trie: %u keys, want %u",
		  trie_keys(UINT32_MAX), listed_rules(CONFIGURED));
	/* VIP 5 added: its list from its first packet. */
	ELB_CHECK(configure(CONFIGURED | 0x20u) == 0, "add VIP 5");
	probe_all(set_in_force, CONFIGURED | 0x20u, 200, 200, ELB_TCP_SYN);
	/* VIP 1 removed, VIP 4 (no list) added in the same change: it may
	 * take VIP 1's index, not its list. */
	gen1 = vip_gen(1);
	ELB_CHECK(configure((CONFIGURED & ~0x2u) | 0x30u) == 0, "VIP 1 -> VIP 4");
	ELB_CHECK(trie_keys(gen1) == 0, "VIP 1's list still has %u keys", trie_keys(gen1));
	ELB_CHECK(trie_keys(UINT32_MAX) == listed_rules((CONFIGURED & ~0x2u) | 0x30u),
		  "trie: %u keys, want %u", trie_keys(UINT32_MAX),
		  listed_rules((CONFIGURED & ~0x2u) | 0x30u));
	ELB_CHECK(dp.prefixes.rules == trie_keys(UINT32_MAX), "rules %u", dp.prefixes.rules);
	probe_all(set_in_force, (CONFIGURED & ~0x2u) | 0x30u, 200, 200, ELB_TCP_SYN);
	/* VIP 1 back (a new generation): its list again. */
	ELB_CHECK(configure(CONFIGURED | 0x30u) == 0, "VIP 1 back");
	ELB_CHECK(vip_gen(1) != gen1, "VIP 1 kept generation %u", gen1);
	probe_all(set_in_force, CONFIGURED | 0x30u, 200, 200, ELB_TCP_SYN);
	ELB_CHECK(configure(CONFIGURED) == 0, "back to VIPs 0..3");
	ELB_CHECK(trie_keys(UINT32_MAX) == listed_rules(CONFIGURED), "trie: %u keys, want %u",
		  trie_keys(UINT32_MAX), listed_rules(CONFIGURED));
}

/* ---- 6. explain ---- */

/* flow.explain runs the prefix step too: its decision is the live run's
 * and the reference's, source_denied for a denied client. */
static void test_explain(void)
{
	struct elb_prefix_set *set = random_set(300, 120, 0xdu);
	struct elb_explain_run *run = malloc(sizeof(*run));
	uint32_t checked = 0, denied = 0;

	ELB_CHECK(run && set && apply_set(set, NULL) == 0, "the set");
	if (run == NULL || set == NULL) {
		free(run);
		return;
	}
	dp.explain_test_clock = true;
	dp.explain_now_ns = dp.skel->bss->test_now_ns;
	for (uint32_t i = 0; i < 400; i++) {
		int v = (int)(i % 4);
		uint8_t frame[160];
		union elb_addr src;
		char err[256] = "";
		struct expect e;
		struct got g;
		uint32_t len;

		near_addr(vips[v].family, &src);
		e = reference(set_in_force, v, &src);
		len = frame_to(frame, v, &src, (uint16_t)(40000 + i), ELB_TCP_SYN);
		if (xdp_ops.explain(&dp, frame, len, run, err, sizeof(err))) {
			CU_FAIL("explain");
			fprintf(stderr, "explain: %s\n", err);
			break;
		}
		g = send_packet(v, &src, (uint16_t)(40000 + i), ELB_TCP_SYN);
		ELB_CHECK(run->result.verdict == g.res.verdict && run->result.reason == g.res.reason,
			  "explain: verdict %u reason %u, the live run %u %u", run->result.verdict,
			  run->result.reason, g.res.verdict, g.res.reason);
		ELB_CHECK((run->result.reason == ELB_REASON_SOURCE_DENIED) ==
				  (e.action == ELB_PREFIX_DENY),
			  "explain: reason %u, the reference's action %d", run->result.reason,
			  e.action);
		checked++;
		denied += e.action == ELB_PREFIX_DENY;
	}
	printf("%u explanations, %u source_denied\n", checked, denied);
	ELB_CHECK(denied > 20 && checked - denied > 20, "denied %u of %u", denied, checked);
	free(run);
}

/* ---- 7. restart ---- */

static char pin_dir[64];

static int load_dataplane(void)
{
	static const uint8_t mac[6] = ELB_REPLAY_DEFAULT_MAC;

	memset(&dp, 0, sizeof(dp));
	memcpy(dp.iface_mac, mac, 6);
	if (xdp_dataplane_load(&dp, 1u << 16, pin_dir) || xdp_dataplane_start(&dp))
		return -1;
	dp.skel->bss->use_test_clock = 1;
	dp.skel->bss->test_now_ns = 1000000000ull;
	dp.skel->bss->record_results = 1;
	return 0;
}

/* A new process over the pinned maps keeps the lists in force (before any
 * config or set is applied to it), and a config applied then neither
 * loses them nor keeps the list of a VIP it removes; the next set replaces
 * them all. */
static void test_restart(void)
{
	struct elb_prefix_set *set = random_set(300, 120, 0xdu), *before;
	uint32_t gen2;

	ELB_CHECK(set && apply_set(set, NULL) == 0, "the set");
	before = elb_prefix_set_clone(set_in_force);
	if (before == NULL) {
		CU_FAIL("clone");
		return;
	}
	xdp_dataplane_close(&dp);
	if (load_dataplane()) {
		CU_FAIL("the second load");
		elb_prefix_set_free(before);
		exit(1);
	}
	ELB_CHECK(dp.prefixes.set == NULL && dp.prefixes.rules == elb_prefix_set_rules(before),
		  "restored %u rules, want %u", dp.prefixes.rules, elb_prefix_set_rules(before));
	probe_all(before, CONFIGURED, 200, 200, ELB_TCP_SYN);
	/* The same VIPs (they keep their generations): nothing changes. */
	ELB_CHECK(configure(CONFIGURED) == 0, "the config again");
	probe_all(before, CONFIGURED, 200, 200, ELB_TCP_SYN);
	/* VIP 2 (a list, rules unknown to this process) removed. */
	gen2 = vip_gen(2);
	ELB_CHECK(configure(CONFIGURED & ~0x4u) == 0, "without VIP 2");
	ELB_CHECK(trie_keys(gen2) == 0, "VIP 2's list still has %u keys", trie_keys(gen2));
	probe_all(before, CONFIGURED & ~0x4u, 200, 200, ELB_TCP_SYN);
	ELB_CHECK(configure(CONFIGURED) == 0, "VIP 2 back");
	/* The set of this process. */
	set = random_set(300, 120, 0x6u);
	ELB_CHECK(set && apply_set(set, NULL) == 0, "a new set");
	ELB_CHECK(trie_keys(UINT32_MAX) == listed_rules(CONFIGURED), "trie: %u keys, want %u",
		  trie_keys(UINT32_MAX), listed_rules(CONFIGURED));
	probe_all(set_in_force, CONFIGURED, 200, 200, ELB_TCP_SYN);
	elb_prefix_set_free(before);
}

int main(void)
{
	static const struct elb_test_case cases[] = {
		ELB_TEST(test_random_sets),
		ELB_TEST(test_100k),
		ELB_TEST(test_lookup_cost),
		ELB_TEST(test_swap),
		ELB_TEST(test_swap_under_traffic),
		ELB_TEST(test_config_changes),
		ELB_TEST(test_explain),
		ELB_TEST(test_restart),
		ELB_TEST_END,
	};
	int rc;

	if (geteuid() != 0) {
		fprintf(stderr, "SKIP: loading BPF programs needs root\n");
		return 77;
	}
	for (int v = 0; v < N_VIPS; v++)
		inet_pton(vips[v].family == ELB_AF_INET ? AF_INET : AF_INET6, vips[v].addr,
			  vips[v].bytes);
	/* Pinned maps for test 7. */
	rc = xdp_test_bpffs(pin_dir, sizeof(pin_dir), "edgelb-prefixes");
	if (rc)
		return rc;
	/* One CPU: one flow table and one copy of the counters in use. */
	if (pin_to(0)) {
		perror("sched_setaffinity");
		return 1;
	}
	if (load_dataplane())
		return errno == EPERM ? 77 : 1;
	if (configure(CONFIGURED))
		return 1;
	rc = elb_test_run("xdp_prefixes", cases);
	xdp_dataplane_close(&dp);
	umount(pin_dir);
	rmdir(pin_dir);
	elb_dp_config_free(in_force);
	elb_prefix_set_free(set_in_force);
	return rc;
}
