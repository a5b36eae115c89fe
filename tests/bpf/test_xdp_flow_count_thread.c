/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * edgelb-xdp's counting thread (dataplane/xdp/xdp_flow_count.c): while a
 * walk of a big flow map runs, the control thread keeps answering.
 *
 * The dataplane is loaded as the agent loads it (expiry on the balancer's
 * clock), not attached, with a flow map of FLOW_CAPACITY entries filled
 * with FLOWS live flows over the backends of one VIP
 * (bpf_map_update_batch). Requests go through the real dataplane API
 * (elb_dp_api_answer: what elb_dp_api_poll does with a line), on this
 * thread, which plays the control thread:
 *   1. before: no counting thread. vip.tables walks here; a ping asked
 *      at the same time waits for it (the figure "before").
 *   2. after: the thread started. vip.tables, then at once a ping, a
 *      backends.set (of the other VIP) and a ping again, each answered in
 *      under ANSWER_MAX_MS while the walk (over WALK_MIN_MS) runs; the
 *      first vip.tables says flows_counted false (nothing published yet).
 *   3. the walk asked for before the change is not used (the maps changed
 *      under it); a later vip.tables asks a new one, and once it is done
 *      returns the full count (what the synchronous walk of 1. counted),
 *      with flows_age_ms at least the walk's duration.
 *   4. closing the dataplane with a walk under way stops the thread
 *      promptly (the walk ends at its next read()).
 * The thread walks with the iterator where the kernel allows it, else by
 * batch lookup (kernel lockdown); `--batch` makes it walk by batch lookup
 * whatever the kernel, so both walks are tested wherever both can run.
 * Bounds: about 10 s, about 500 MiB (the map in the kernel; user space
 * fills it in chunks). Needs root (CAP_BPF); exits 77 (skipped) without it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "edgelb_xdp_maps.h"
#include "xdp.h"
#include "xdp_test.h"
/* The skeleton names core types: they are defined above. */
#include "edgelb.skel.h"

/* 2^21 by default; the first argument may give 20..22 (2^22: about 1 GiB,
 * for the figures in docs/operator-tools.md, not the test suite). */
static uint32_t FLOW_CAPACITY = 1u << 21;
/* Below the capacity: the LRU map may evict before it is full. */
#define FLOWS (FLOW_CAPACITY - FLOW_CAPACITY / 8)
#define FILL_CHUNK 65536u
#define ANSWER_MAX_MS 100.0 /* what a request may wait while a walk runs */
#define WALK_MIN_MS 300.0   /* the walk must be at least this slow for the test to mean anything */
#define WAIT_MAX_MS 20000.0

static const char *const config_text =
	"{\"node\": {\"source_v4\": \"192.168.10.1\", \"gateway_mac\": \"02:00:00:00:00:fe\"},"
	" \"vips\": ["
	"  {\"address\": \"10.0.0.10\", \"port\": 80, \"protocol\": \"tcp\", \"backends\": ["
	"   {\"address\": \"10.200.0.1\"}, {\"address\": \"10.200.0.2\"},"
	"   {\"address\": \"10.200.0.3\"}, {\"address\": \"10.200.0.4\"}]},"
	"  {\"address\": \"10.0.0.11\", \"port\": 80, \"protocol\": \"tcp\","
	"   \"backends\": [{\"address\": \"10.200.1.1\"}, {\"address\": \"10.200.1.2\"}]}]}";

static struct xdp_dataplane dp;
static struct elb_dp_api *api;

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* One request through the real API; *ms: how long the answer took. */
static cJSON *call(const char *method, const char *params, double *ms)
{
	static unsigned int id;
	char line[1024];
	double t0 = now_ms();
	char *text;
	cJSON *msg, *result;
	int len;

	len = snprintf(line, sizeof(line), "{\"jsonrpc\":\"2.0\",\"id\":%u,\"method\":\"%s\"%s%s}",
		       ++id, method, params ? ",\"params\":" : "", params ? params : "");
	text = elb_dp_api_answer(api, line, (size_t)len);
	if (ms != NULL)
		*ms = now_ms() - t0;
	msg = text ? cJSON_Parse(text) : NULL;
	free(text);
	result = msg ? cJSON_DetachItemFromObjectCaseSensitive(msg, "result") : NULL;
	if (result == NULL) {
		fprintf(stderr, "%s: no result\n", method);
		exit(1);
	}
	cJSON_Delete(msg);
	return result;
}

static double num(const cJSON *o, const char *name)
{
	const cJSON *n = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsNumber(n) ? n->valuedouble : -1;
}

/* vip.tables' flows_counted, and its first VIP's flows (-1: none). */
static double tables_flows(const cJSON *r, bool *counted)
{
	const cJSON *vips = cJSON_GetObjectItemCaseSensitive(r, "vips");

	*counted = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "flows_counted"));
	return num(cJSON_GetArrayItem(vips, 0), "flows");
}

static const char *const vip_a =
	"{\"address\":\"10.0.0.10\",\"port\":80,\"protocol\":\"tcp\",\"flows\":true}";

/* FLOWS flows to VIP 10.0.0.10's backends, flow i in CPU i % ncpu's
 * table, expiring in an hour. */
static int fill(void)
{
	int ncpu = dp.flows.n;
	struct elb_flow_id *keys = calloc(FILL_CHUNK, sizeof(*keys));
	struct elb_xdp_flow *values = calloc(FILL_CHUNK, sizeof(*values));
	uint32_t slots[8], n_slots = 0, expiry = elb_flow_tick((uint64_t)(now_ms() * 1e6)) + 214000;

	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	if (keys == NULL || values == NULL || ncpu <= 0)
		return -ENOMEM;
	for (uint32_t s = 0; s < dp.snap->n_backend_slots && n_slots < 8; s++)
		if (dp.snap->backends[s].gen != 0 && dp.snap->backends[s].vip_index == 0)
			slots[n_slots++] = s;
	if (n_slots == 0)
		return -ENOENT;
	for (uint32_t cpu = 0; cpu < (uint32_t)ncpu; cpu++) {
		uint32_t i = cpu;

		while (i < FLOWS) {
			uint32_t n = 0, count;

			memset(values, 0, FILL_CHUNK * sizeof(*values));
			for (; n < FILL_CHUNK && i < FLOWS; n++, i += (uint32_t)ncpu) {
				uint32_t slot = slots[i % n_slots];
				struct elb_xdp_flow *f = &values[n];

				memset(&keys[n], 0, sizeof(keys[n]));
				keys[n].src.v4 = htonl(0x0a000000u + i);
				keys[n].sport = htons((uint16_t)(1024 + i % 60000));
				keys[n].dport = htons(80);
				keys[n].vip_index = dp.snap->vips[0].index; /* 10.0.0.10 */
				f->state = ELB_FLOW_TCP_ESTABLISHED;
				f->expiry = expiry;
				f->backend_id = slot;
				f->backend_gen = dp.snap->backends[slot].gen;
			}
			count = n;
			if (bpf_map_update_batch(dp.flows.fds[cpu], keys, values, &count, &opts) ||
			    count != n) {
				fprintf(stderr, "bpf_map_update_batch: %s (%u of %u)\n",
					strerror(errno), count, n);
				return -EIO;
			}
		}
	}
	free(keys);
	free(values);
	return 0;
}

/* Wait until status.get says no walk is under way. */
static void wait_walk_done(void)
{
	double t0 = now_ms();

	for (;;) {
		cJSON *st = call("status.get", NULL, NULL);
		const cJSON *s = cJSON_GetObjectItemCaseSensitive(st, "status");
		bool walking = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(s, "flow_count_walking"));

		cJSON_Delete(st);
		if (!walking)
			return;
		if (now_ms() - t0 > WAIT_MAX_MS) {
			fprintf(stderr, "the walk did not end\n");
			exit(1);
		}
		usleep(20000);
	}
}

static int last_walk_ms(void)
{
	cJSON *st = call("status.get", NULL, NULL);
	int ms = (int)num(cJSON_GetObjectItemCaseSensitive(st, "status"), "flow_count_last_walk_ms");

	cJSON_Delete(st);
	return ms;
}

/* The full count, from the synchronous walk of case 1. */
static double flows_written_counted;
/* How long the counting thread's last walk took (case 3). */
static int walk_ms;

/* 1. Before: the walk on the control thread, a ping behind it. */
static void test_walk_on_control_thread(void)
{
	double t0, sync_ms, ms_ping, ms_set, want;
	bool counted;
	cJSON *r;

	t0 = now_ms();
	r = call("vip.tables", vip_a, &sync_ms);
	want = tables_flows(r, &counted);
	ELB_CHECK(counted && num(r, "flows_age_ms") == 0, "a synchronous count is 0 ms old");
	cJSON_Delete(r);
	cJSON_Delete(call("ping", NULL, NULL));
	ms_ping = now_ms() - t0;
	ELB_CHECK(want > FLOWS * 0.99, "the synchronous walk counted %.0f of %u flows", want, FLOWS);
	printf("before: vip.tables walks on the control thread for %.0f ms; a ping sent with it "
	       "is answered after %.0f ms\n",
	       sync_ms, ms_ping);
	ELB_CHECK(sync_ms > WALK_MIN_MS, "the walk takes %.0f ms: too fast to show anything", sync_ms);

	/* A change with no walk under way, for reference. */
	r = call("backends.set",
		 "{\"address\":\"10.0.0.11\",\"port\":80,\"protocol\":\"tcp\","
		 "\"backends\":[{\"address\":\"10.200.1.4\"}]}",
		 &ms_set);
	cJSON_Delete(r);
	printf("a backends.set with no walk under way: %.1f ms\n", ms_set);

	flows_written_counted = want;
}

/* 2. After: the counting thread; the control thread answers while it walks. */
static void test_counting_thread_keeps_answering(void)
{
	double ms_tables, ms_ping, ms_set, ms_ping2, got;
	bool counted;
	cJSON *r;
	int rc;

	rc = xdp_flow_counter_start(&dp);
	ELB_CHECK(rc == 0, "counter start: %s", strerror(-rc));
	if (rc)
		exit(1); /* nothing after this can run */
	r = call("vip.tables", vip_a, &ms_tables);
	got = tables_flows(r, &counted);
	ELB_CHECK(!counted && got < 0, "nothing published yet: flows_counted false (%.0f flows)", got);
	cJSON_Delete(r);
	cJSON_Delete(call("ping", NULL, &ms_ping));
	r = call("backends.set",
		 "{\"address\":\"10.0.0.11\",\"port\":80,\"protocol\":\"tcp\","
		 "\"backends\":[{\"address\":\"10.200.1.3\"}]}",
		 &ms_set);
	ELB_CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "changed")), "backends.set applied");
	cJSON_Delete(r);
	cJSON_Delete(call("ping", NULL, &ms_ping2));
	r = call("status.get", NULL, NULL);
	ELB_CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(r, "status"),
							    "flow_count_walking")),
		  "the walk still runs after all that");
	cJSON_Delete(r);
	printf("after: while the walk runs, vip.tables %.1f ms, ping %.1f ms, backends.set %.1f ms, "
	       "ping %.1f ms\n",
	       ms_tables, ms_ping, ms_set, ms_ping2);
	ELB_CHECK(ms_tables < ANSWER_MAX_MS && ms_ping < ANSWER_MAX_MS && ms_set < ANSWER_MAX_MS &&
		      ms_ping2 < ANSWER_MAX_MS,
		  "answers while the walk runs: over %.0f ms", ANSWER_MAX_MS);
}

/* 3. That walk began before the change: not used; the next one is. */
static void test_stale_walk_not_reported(void)
{
	double ms_tables, got, want = flows_written_counted;
	bool counted;
	cJSON *r;

	wait_walk_done();
	walk_ms = last_walk_ms();
	ELB_CHECK(walk_ms > WALK_MIN_MS, "the thread's walk took %d ms", walk_ms);
	r = call("vip.tables", vip_a, &ms_tables);
	got = tables_flows(r, &counted);
	ELB_CHECK(!counted && ms_tables < ANSWER_MAX_MS,
		  "a walk from before the change is not reported (%.0f flows, %.1f ms)", got, ms_tables);
	cJSON_Delete(r);
	wait_walk_done();
	r = call("vip.tables", vip_a, &ms_tables);
	got = tables_flows(r, &counted);
	walk_ms = last_walk_ms();
	ELB_CHECK(counted && got == want, "the full count: %.0f flows of %.0f", got, want);
	ELB_CHECK(num(r, "flows_age_ms") >= walk_ms && walk_ms > WALK_MIN_MS,
		  "flows_age_ms %.0f, the walk took %d ms", num(r, "flows_age_ms"), walk_ms);
	ELB_CHECK(ms_tables < ANSWER_MAX_MS, "vip.tables took %.1f ms", ms_tables);
	printf("later: vip.tables %.1f ms, %.0f flows counted, flows_age_ms %.0f (the walk took "
	       "%d ms on the counting thread)\n",
	       ms_tables, got, num(r, "flows_age_ms"), walk_ms);
	cJSON_Delete(r);
}

/* 4. Stop with a walk under way (that vip.tables asked for one). */
static void test_close_during_walk(void)
{
	double t0, close_ms;

	usleep(50000);
	elb_dp_api_close(api);
	t0 = now_ms();
	xdp_dataplane_close(&dp);
	close_ms = now_ms() - t0;
	printf("closed with a walk under way in %.0f ms\n", close_ms);
	ELB_CHECK(close_ms < walk_ms, "closing took %.0f ms (a walk %d ms)", close_ms, walk_ms);
}

int main(int argc, char **argv)
{
	static const struct elb_test_case cases[] = {
		ELB_TEST(test_walk_on_control_thread),
		ELB_TEST(test_counting_thread_keeps_answering),
		ELB_TEST(test_stale_walk_not_reported),
		ELB_TEST(test_close_during_walk),
		ELB_TEST_END,
	};
	struct elb_dp_config *initial = NULL;
	struct elb_dp_err err;
	bool batch_only = false;
	char sock[64];
	double t0;
	int rc;

	for (int i = 1; i < argc; i++) {
		int log2 = atoi(argv[i]);

		if (strcmp(argv[i], "--batch") == 0) {
			batch_only = true;
		} else if (log2 >= 20 && log2 <= 22) {
			FLOW_CAPACITY = 1u << log2;
		} else {
			fprintf(stderr,
				"usage: %s [--batch] [20..22] (log2 of the flow map's size)\n",
				argv[0]);
			return 2;
		}
	}
	if (geteuid() != 0) {
		fprintf(stderr, "SKIP: loading BPF programs needs root\n");
		return 77;
	}
	dp.ifname = "(test, not attached)"; /* the agent's walk: expiry checked */
	if (xdp_dataplane_load(&dp, FLOW_CAPACITY, NULL) || xdp_dataplane_start(&dp))
		return errno == EPERM ? 77 : 1;
	if (batch_only)
		xdp_flow_count_close(&dp); /* as where the kernel refuses the iterator */
	printf("the counting thread walks by %s\n",
	       dp.flow_count ? "the iterator" : "batch lookup");
	if (elb_dp_config_parse(config_text, strlen(config_text), &initial, &err) < 0) {
		fprintf(stderr, "config: %s\n", err.text);
		return 1;
	}
	snprintf(sock, sizeof(sock), "/tmp/edgelb-fc-thread-%d.sock", (int)getpid());
	{
		struct elb_dp_api_options o = {.socket_path = sock, .dataplane = "xdp",
					       .initial = initial};

		rc = elb_dp_api_open(&api, &o, &xdp_ops, &dp, &err);
		if (rc) {
			fprintf(stderr, "api: %s\n", err.text);
			return 1;
		}
	}
	t0 = now_ms();
	if (fill())
		return 1;
	printf("%u flows written in %.0f ms (map of %u)\n", FLOWS, now_ms() - t0, FLOW_CAPACITY);

	/* In this order: each case goes on from where the last left the threads. */
	rc = elb_test_run("xdp_flow_count_thread", cases);
	elb_dp_config_free(initial);
	if (rc == 0)
		printf("the control thread kept answering while the counting thread walked\n");
	return rc;
}
