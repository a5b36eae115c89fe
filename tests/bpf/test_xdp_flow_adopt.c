/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Upgrading over a pinned flow map of the earlier layout (dataplane/xdp/
 * xdp_flows.c): edgelb-xdp before the per-CPU flow tables pinned `flows` as
 * one BPF_MAP_TYPE_LRU_PERCPU_HASH of struct elb_flow_key -> struct
 * elb_xdp_flow. Here, in a bpffs of its own (mounted in a private mount
 * namespace: no /sys/fs/bpf needed):
 *   1. a dataplane is loaded on the pin directory and configured (two
 *      VIPs, one of all ports), then closed: its maps stay pinned, as an
 *      agent's do across a restart;
 *   2. its `flows` pin is replaced by a map of the old layout, made by hand
 *      (bpf_map_create), holding real flows: each on one CPU or on two
 *      (different backends per CPU), naming backends other than Maglev's
 *      pick where the VIP has several, plus flows to an address that is no
 *      VIP;
 *   3. a new dataplane is loaded on that directory, as the new agent
 *      starts: every flow copy must be in its CPU's table, and the real
 *      program, run on that CPU, must hit it (no new flow, the backend
 *      written, XDP_TX); explain must report it too. The old pin is gone,
 *      `flows` is the new layout;
 *   4. loaded once more (a plain restart): the tables are reused as they
 *      are, nothing adopted again, the flows still hit.
 * And admission control across a restart (another pin directory): a VIP
 * with a new-flow budget and a /32 packets/s limit takes new flows up to
 * its budget, the agent closes, a new one loads on the pins: before any
 * configuration it knows the VIP's limits (counters.get, flow.explain),
 * and the program goes on from the pinned state: the next new flows are
 * stateless (flood mode), the source's next packet over its burst dropped.
 * Needs root (CAP_BPF, mount); exits 77 (skipped) without it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>

#include "edgelb_xdp_maps.h"
#include "elb_explain_run.h"
#include "elb_replay_options.h"
#include "xdp.h"
#include "xdp_test.h"
/* The skeleton names core types: they are defined above. */
#include "edgelb.skel.h"

#define TABLE_FLOWS 4096
#define OLD_FLOWS 300 /* flows of the old map, to the two VIPs */
#define NO_VIP_FLOWS 7 /* flows of the old map to an address that is no VIP */

static const char *const config_fmt =
	"{\"node\": {\"source_v4\": \"192.168.10.1\", \"gateway_mac\": \"02:00:00:00:00:fe\"},"
	" \"vips\": ["
	"  {\"address\": \"10.0.0.10\", \"port\": 80, \"protocol\": \"tcp\", \"backends\": [%s]},"
	"  {\"address\": \"10.0.0.11\", \"port\": 0, \"protocol\": \"tcp\","
	"   \"backends\": [{\"address\": \"10.200.1.1\"}, {\"address\": \"10.200.1.2\"}]}]}";

static char pin_dir[64];
static int ncpu;

/* Flow i: its frame's addresses, and what the old map holds for it. */
struct old_flow {
	struct elb_flow_key key;
	uint32_t src, dst;
	uint16_t sport, dport;
	struct elb_xdp_flow copy[2]; /* CPU 0 and CPU 1 (if ncpu > 1); state FREE: none */
};

static struct old_flow flows[OLD_FLOWS + NO_VIP_FLOWS];

static void flow_frame(const struct old_flow *f, uint8_t *b, uint32_t *len)
{
	static const uint8_t dst_mac[6] = {2, 0, 0, 0, 0, 1}, src_mac[6] = {2, 0, 0, 0, 0, 2};

	*len = elb_test_tcp4_frame(b, dst_mac, src_mac, f->src, f->sport, f->dst, f->dport,
				   ELB_TCP_ACK, 0, true);
}

static int load_at(struct xdp_dataplane *dp, const char *dir)
{
	static const uint8_t mac[6] = ELB_REPLAY_DEFAULT_MAC;

	memset(dp, 0, sizeof(*dp));
	memcpy(dp->iface_mac, mac, 6);
	dp->ifname = "(test, not attached)";
	if (xdp_dataplane_load(dp, TABLE_FLOWS, dir) || xdp_dataplane_start(dp))
		return -1;
	dp->skel->bss->use_test_clock = 0; /* the agent's flow clock */
	dp->skel->bss->record_results = 1;
	return 0;
}

static int load(struct xdp_dataplane *dp)
{
	return load_at(dp, pin_dir);
}

/* The live slots of VIP vip_index in dp's snapshot. */
static uint32_t slots_of(const struct xdp_dataplane *dp, uint16_t vip_index, uint32_t *slots,
			 uint32_t max)
{
	uint32_t n = 0;

	for (uint32_t s = 0; s < dp->snap->n_backend_slots && n < max; s++)
		if (dp->snap->backends[s].gen != 0 && dp->snap->backends[s].vip_index == vip_index)
			slots[n++] = s;
	return n;
}

/* The old map's flows: written on CPU i % ncpu, and on both CPUs for every
 * fourth flow (another backend there). Backends other than Maglev's pick
 * where the VIP has several: a hit on them can only be the adopted entry. */
static void make_flows(const struct xdp_dataplane *dp)
{
	uint32_t a[8], b[8], na, nb, now = elb_flow_tick(monotonic_ns());
	uint8_t frame[128], out[256];
	uint32_t len;

	na = slots_of(dp, 0, a, 8);
	nb = slots_of(dp, 1, b, 8);
	ELB_CHECK(na == 5 && nb == 2, "slots %u and %u", na, nb);
	for (uint32_t i = 0; i < OLD_FLOWS + NO_VIP_FLOWS; i++) {
		struct old_flow *f = &flows[i];
		bool to_b = i % 2 == 1, no_vip = i >= OLD_FLOWS;
		const uint32_t *slots = to_b ? b : a;
		uint32_t n = to_b ? nb : na, pick, s;
		struct elb_test_xdp_out res;

		memset(f, 0, sizeof(*f));
		f->src = 0xc6330000u + i;
		f->sport = (uint16_t)(20000 + i);
		f->dst = no_vip ? 0x0a00000cu : to_b ? 0x0a00000bu : 0x0a00000au;
		f->dport = to_b ? (uint16_t)(8000 + i) : 80; /* B: any port */
		f->key.family = ELB_AF_INET;
		f->key.proto = ELB_IPPROTO_TCP;
		f->key.src.v4 = htonl(f->src);
		f->key.dst.v4 = htonl(f->dst);
		f->key.sport = htons(f->sport);
		f->key.dport = htons(f->dport);
		/* Maglev's pick: the program's own answer on an empty table. */
		pick = UINT32_MAX;
		if (!no_vip) {
			flow_frame(f, frame, &len);
			memset(&dp->skel->bss->last_result, 0, sizeof(dp->skel->bss->last_result));
			if (elb_test_xdp_run(bpf_program__fd(dp->skel->progs.edgelb_xdp), frame, len,
					     out, sizeof(out), &res))
				exit(1);
			pick = dp->skel->bss->last_result.backend_slot;
		}
		for (int cpu = 0; cpu < (ncpu > 1 ? 2 : 1); cpu++) {
			struct elb_xdp_flow *c = &f->copy[cpu];

			if (cpu != (int)(i % (uint32_t)ncpu) && (cpu >= ncpu || i % 4 != 0))
				continue;
			s = slots[(i + (uint32_t)cpu) % n];
			if (s == pick)
				s = slots[(i + (uint32_t)cpu + 1) % n];
			c->state = ELB_FLOW_TCP_ESTABLISHED;
			c->backend_id = s;
			c->backend_gen = dp->snap->backends[s].gen;
			c->expiry = now + 100000; /* about half an hour */
			c->bucket.pkt_tat = 0x1234 + i; /* carried as it is */
		}
	}
}

/* 2. The old map, pinned at pin_dir/flows in place of the new one; the new
 * layout's per-CPU tables unpinned (an older version had none). */
static void pin_old_map(void)
{
	size_t stride = xdp_percpu_stride(sizeof(struct elb_xdp_flow));
	uint8_t *v = calloc((size_t)ncpu, stride);
	char path[128];
	int fd;

	snprintf(path, sizeof(path), "%s/flows", pin_dir);
	ELB_CHECK(unlink(path) == 0, "unpin the new flows map: %s", strerror(errno));
	for (int cpu = 0; cpu < ncpu; cpu++) {
		snprintf(path, sizeof(path), "%s/flows_cpu%d", pin_dir, cpu);
		ELB_CHECK(unlink(path) == 0, "unpin CPU %d's table: %s", cpu, strerror(errno));
	}
	snprintf(path, sizeof(path), "%s/flows", pin_dir);
	fd = bpf_map_create(BPF_MAP_TYPE_LRU_PERCPU_HASH, "flows", sizeof(struct elb_flow_key),
			    sizeof(struct elb_xdp_flow), 1024, NULL);
	if (fd < 0 || v == NULL) {
		perror("the old flow map");
		exit(1);
	}
	for (uint32_t i = 0; i < OLD_FLOWS + NO_VIP_FLOWS; i++) {
		memset(v, 0, (size_t)ncpu * stride);
		for (int cpu = 0; cpu < ncpu && cpu < 2; cpu++)
			memcpy(v + (size_t)cpu * stride, &flows[i].copy[cpu],
			       sizeof(struct elb_xdp_flow));
		if (bpf_map_update_elem(fd, &flows[i].key, v, BPF_NOEXIST)) {
			perror("old flow");
			exit(1);
		}
	}
	ELB_CHECK(bpf_obj_pin(fd, path) == 0, "pin the old flows map: %s", strerror(errno));
	close(fd);
	free(v);
}

static uint32_t copies(bool with_no_vip)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < (with_no_vip ? OLD_FLOWS + NO_VIP_FLOWS : OLD_FLOWS); i++)
		for (int cpu = 0; cpu < 2; cpu++)
			n += flows[i].copy[cpu].state != ELB_FLOW_FREE;
	return n;
}

/* Every copy in its CPU's table as written, and a hit there for the real
 * program: no new flow, the backend written. */
static void check_hits(struct xdp_dataplane *dp, const char *what)
{
	uint32_t hits = 0, explained = 0, bad = 0;
	uint8_t frame[128], out[256];
	struct elb_explain_run *run = calloc(1, sizeof(*run));
	char err[256];
	uint32_t len;

	for (uint32_t i = 0; i < OLD_FLOWS; i++) {
		const struct old_flow *f = &flows[i];
		struct elb_xdp_flow got[64];
		struct elb_flow_id id;
		int holders = 0;

		ELB_CHECK(ncpu <= 64 && xdp_flow_id_of(bpf_map__fd(dp->skel->maps.vips), &f->key,
							&id) == 0 &&
			      xdp_flow_tables_lookup(&dp->flows, &id, got) == 0,
			  "%s: flow %u is in no table", what, i);
		flow_frame(f, frame, &len);
		for (int cpu = 0; cpu < ncpu && cpu < 2; cpu++) {
			const struct elb_xdp_flow *want = &f->copy[cpu];
			struct elb_test_xdp_out res;
			const struct elb_pipeline_result *r = &dp->skel->bss->last_result;

			if (want->state == ELB_FLOW_FREE) {
				ELB_CHECK(got[cpu].state == ELB_FLOW_FREE,
					  "%s: flow %u in CPU %d's table", what, i, cpu);
				continue;
			}
			holders++;
			ELB_CHECK(got[cpu].backend_id == want->backend_id &&
				      got[cpu].backend_gen == want->backend_gen &&
				      got[cpu].bucket.pkt_tat == want->bucket.pkt_tat,
				  "%s: flow %u on CPU %d: slot %u, want %u", what, i, cpu,
				  got[cpu].backend_id, want->backend_id);
			if (pin_to(cpu)) {
				perror("sched_setaffinity");
				exit(1);
			}
			memset(&dp->skel->bss->last_result, 0, sizeof(*r));
			if (elb_test_xdp_run(bpf_program__fd(dp->skel->progs.edgelb_xdp), frame, len,
					     out, sizeof(out), &res))
				exit(1);
			if (res.action == XDP_TX && r->new_flow == 0 &&
			    r->backend_slot == want->backend_id)
				hits++;
			else
				bad++;
		}
		/* Explain names a holder and its backend (the copy expiring
		 * last; all expire alike here but for the ticks between runs). */
		if (xdp_ops.explain(dp, frame, len, run, err, sizeof(err)) == 0 && run->flow.found &&
		    run->flow.holders == holders && run->result.new_flow == 0 &&
		    run->result.backend_slot == f->copy[run->flow.where].backend_id)
			explained++;
	}
	pin_to(0);
	ELB_CHECK(bad == 0 && hits == copies(false), "%s: %u hits, %u misses of %u copies", what,
		  hits, bad, copies(false));
	ELB_CHECK(explained == OLD_FLOWS, "%s: %u of %u flows explained as hits", what, explained,
		  OLD_FLOWS);
	printf("%s: %u flow copies on %d CPUs hit their backend; explain agrees on %u flows\n", what,
	       hits, ncpu < 2 ? ncpu : 2, explained);
	free(run);
}

static int map_type_at(const char *name)
{
	struct bpf_map_info info;
	uint32_t len = sizeof(info);
	char path[128];
	int fd, type;

	snprintf(path, sizeof(path), "%s/%s", pin_dir, name);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return -errno;
	memset(&info, 0, sizeof(info));
	type = bpf_obj_get_info_by_fd(fd, &info, &len) ? -errno : (int)info.type;
	close(fd);
	return type;
}

static void test_adopt(void)
{
	struct elb_dp_config *in_force = NULL;
	struct xdp_dataplane dp;
	uint64_t epoch = 0;

	/* 1. configured, closed: the maps stay pinned. */
	ELB_CHECK(load(&dp) == 0, "first load");
	ELB_CHECK(xdp_test_apply(&dp, config_fmt,
				 "{\"address\": \"10.200.0.1\"}, {\"address\": \"10.200.0.2\"},"
				 " {\"address\": \"10.200.0.3\"}, {\"address\": \"10.200.0.4\"},"
				 " {\"address\": \"10.200.0.5\"}",
				 &in_force, &epoch) == 0,
		  "config");
	make_flows(&dp);
	xdp_dataplane_close(&dp);
	/* 2. */
	pin_old_map();
	ELB_CHECK(map_type_at("flows") == BPF_MAP_TYPE_LRU_PERCPU_HASH, "old layout pinned");

	/* 3. the new agent starts on it. */
	ELB_CHECK(load(&dp) == 0, "load over the old layout");
	ELB_CHECK(dp.flows_adopted == copies(false), "adopted %llu copies, want %u",
		  (unsigned long long)dp.flows_adopted, copies(false));
	ELB_CHECK(map_type_at("flows") == BPF_MAP_TYPE_ARRAY_OF_MAPS, "flows is the new layout");
	ELB_CHECK(map_type_at("flows_percpu") == -ENOENT, "the old map is unpinned");
	check_hits(&dp, "adopted");
	xdp_dataplane_close(&dp);

	/* 4. a plain restart: the tables are the pinned ones. */
	ELB_CHECK(load(&dp) == 0, "load again");
	ELB_CHECK(dp.flows_adopted == 0 && dp.flows.capacity == TABLE_FLOWS,
		  "restart: adopted %llu, capacity %u", (unsigned long long)dp.flows_adopted,
		  dp.flows.capacity);
	check_hits(&dp, "restarted");
	xdp_dataplane_close(&dp);
	elb_dp_config_free(in_force);
}

/* Budget 2 new flows/s (burst 2), 10 packets/s per /32 (burst 4). */
static const char *const admission_config =
	"{\"node\": {\"source_v4\": \"192.168.10.1\", \"gateway_mac\": \"02:00:00:00:00:fe\"},"
	" \"vips\": [{\"address\": \"10.0.0.12\", \"port\": 80, \"protocol\": \"tcp\","
	"  \"admission\": {\"new_flows_per_s\": 2, \"new_flow_burst\": 2,"
	"    \"sources\": [{\"prefix_len\": 32, \"packets_per_s\": 10, \"packet_burst\": 4}]},"
	"  \"backends\": [%s]}]}";

/* A SYN of source port sport from 198.51.100.9 to 10.0.0.12:80, run at
 * now_ns on the test clock: the program's result. */
static struct elb_pipeline_result admission_syn(struct xdp_dataplane *dp, uint16_t sport,
						uint64_t now_ns)
{
	static const uint8_t dst_mac[6] = {2, 0, 0, 0, 0, 1}, src_mac[6] = {2, 0, 0, 0, 0, 2};
	uint8_t frame[128], out[256];
	struct elb_test_xdp_out res;
	uint32_t len = elb_test_tcp4_frame(frame, dst_mac, src_mac, 0xc6336409, sport, 0x0a00000c,
					   80, ELB_TCP_SYN, 0, true);

	dp->skel->bss->use_test_clock = 1;
	dp->skel->bss->test_now_ns = now_ns;
	memset(&dp->skel->bss->last_result, 0, sizeof(dp->skel->bss->last_result));
	if (elb_test_xdp_run(bpf_program__fd(dp->skel->progs.edgelb_xdp), frame, len, out,
			     sizeof(out), &res))
		exit(1);
	return dp->skel->bss->last_result;
}

static void test_admission_restart(void)
{
	const uint64_t now = 5000000000ull;
	struct elb_dp_config *in_force = NULL;
	struct elb_pipeline_result r[5];
	struct xdp_dataplane dp;
	char dir[96];
	uint64_t epoch = 0;

	snprintf(dir, sizeof(dir), "%s/admission", pin_dir);
	ELB_CHECK(mkdir(dir, 0700) == 0, "mkdir %s", dir);
	ELB_CHECK(load_at(&dp, dir) == 0, "first load");
	ELB_CHECK(xdp_test_apply(&dp, admission_config, "{\"address\": \"10.200.2.1\"}",
				 &in_force, &epoch) == 0,
		  "config");
	/* Within the budget: two entries. */
	r[0] = admission_syn(&dp, 1001, now);
	r[1] = admission_syn(&dp, 1002, now);
	xdp_dataplane_close(&dp);

	ELB_CHECK(load_at(&dp, dir) == 0, "restart");
	ELB_CHECK(dp.snap->vips[0].flow_budget.interval != 0 && dp.snap->vips[0].n_source_limits == 1,
		  "the restarted agent does not know the VIP's limits");
	/* Over the budget: flood mode; then the fifth packet of the source
	 * within its burst of 4 is dropped. */
	r[2] = admission_syn(&dp, 1003, now);
	r[3] = admission_syn(&dp, 1004, now);
	r[4] = admission_syn(&dp, 1005, now);
	for (int i = 0; i < 4; i++)
		ELB_CHECK(r[i].verdict == ELB_VERDICT_FORWARD && r[i].stateless == (i >= 2) &&
				  r[i].new_flow == (i < 2),
			  "SYN %d: verdict %u stateless %u new_flow %u", i, r[i].verdict,
			  r[i].stateless, r[i].new_flow);
	ELB_CHECK(r[4].verdict == ELB_VERDICT_DROP && r[4].reason == ELB_REASON_SOURCE_RATE_LIMITED,
		  "SYN 4: verdict %u reason %u", r[4].verdict, r[4].reason);
	xdp_dataplane_close(&dp);
	elb_dp_config_free(in_force);
}

int main(void)
{
	static const struct elb_test_case cases[] = {
		ELB_TEST(test_adopt),
		ELB_TEST(test_admission_restart),
		ELB_TEST_END,
	};
	int rc;

	if (geteuid() != 0) {
		fprintf(stderr, "SKIP: loading BPF programs needs root\n");
		return 77;
	}
	ncpu = libbpf_num_possible_cpus();
	if (ncpu <= 0)
		return 1;
	rc = xdp_test_bpffs(pin_dir, sizeof(pin_dir), "edgelb-adopt");
	if (rc)
		return rc;
	if (pin_to(0))
		return 1;
	rc = elb_test_run("xdp_flow_adopt", cases);
	umount(pin_dir);
	rmdir(pin_dir);
	return rc;
}
