/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * edgelb-cp's state core (cp_state.h), without sockets or clock: commits
 * are whole or nothing, the generation moves only when what the dataplanes
 * get changes, targets (and their health history) are carried across
 * commits, health transitions and fail static, and the events the core
 * raises through the sink it is handed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "cp_state.h"
#include "elb_file.h"
#include "cp_test_daemon.h"
#include "elb_test.h"

#define BASE_CONFIG                                                                        \
	"{\"node\":{\"source_v4\":\"192.0.2.10\"},"                                           \
	"\"vips\":[{\"address\":\"198.51.100.1\",\"port\":443,\"protocol\":\"tcp\","          \
	"\"health_check\":{\"type\":\"tcp\",\"interval_ms\":1000,\"timeout_ms\":500,"         \
	"\"rise\":2,\"fall\":2},"                                                               \
	"\"backends\":[{\"address\":\"10.0.0.1\"},{\"address\":\"10.0.0.2\"}]}]}"

static unsigned int retired;
static struct cp_target *last_retired;

static void retire(struct cp_daemon *cp, struct cp_target *t)
{
	(void)cp;
	retired++;
	last_retired = t;
}

static void fixture_open(struct cp_test_daemon *f)
{
	retired = 0;
	last_retired = NULL;
	cp_test_daemon_open(f, "test-cp-state", BASE_CONFIG, retire);
}

static char *file_text(const char *path)
{
	FILE *fp = fopen(path, "r");
	char *text = calloc(1, 1 << 16);

	CU_ASSERT_PTR_NOT_NULL_FATAL(fp);
	CU_ASSERT_PTR_NOT_NULL_FATAL(text);
	CU_ASSERT(fread(text, 1, (1 << 16) - 1, fp) > 0);
	fclose(fp);
	return text;
}

/* A clone of the current config with backend b of VIP 0 weighted w. */
static struct cp_config *with_weight(const struct cp_daemon *cp, uint32_t b, uint32_t w)
{
	struct cp_config *next = cp_config_clone(cp->config);

	CU_ASSERT_PTR_NOT_NULL_FATAL(next);
	next->vips[0].dp.backends[b].weight = w;
	return next;
}

static void test_init(void)
{
	struct cp_test_daemon f;

	fixture_open(&f);
	CU_ASSERT_EQUAL(f.cp.gen, 1);
	CU_ASSERT_EQUAL(f.cp.started_ms, 5000);
	CU_ASSERT_EQUAL(f.cp.n_targets, 2);
	CU_ASSERT_EQUAL(f.cp.target_base[0], 0);
	/* Checked backends start unknown, in service, first probe due now. */
	CU_ASSERT_EQUAL(f.cp.targets[1]->state.status, CP_HC_UNKNOWN);
	CU_ASSERT_EQUAL(f.cp.targets[1]->next_due_ms, 5000);
	CU_ASSERT_EQUAL(f.cp.targets[1]->port, 443);
	CU_ASSERT_EQUAL(f.cp.targets[0]->kind, CP_POLL_TARGET);
	CU_ASSERT_TRUE(cp_backend_pushed(&f.cp, 0, 0));
	CU_ASSERT_EQUAL(f.cp.desired->n_vips, 1);
	CU_ASSERT_EQUAL(f.cp.desired->vips[0].n_backends, 2);
	CU_ASSERT_EQUAL_FATAL(f.events.n, 1);
	CU_ASSERT_STRING_EQUAL(f.events.types[0], "desired_changed");
	CU_ASSERT_STRING_EQUAL(f.events.fields[0], "{\"generation\":1}");
	CU_ASSERT_EQUAL(f.cp.events, 1);
	cp_test_daemon_close(&f);
	CU_ASSERT_EQUAL(retired, 2); /* every target retired on free */
}

static void test_commit_refused_changes_nothing(void)
{
	struct cp_test_daemon f;
	struct elb_dp_err err = {0};
	struct cp_config *before, *next;
	char *file_before, *file_after;

	fixture_open(&f);
	before = f.cp.config;
	file_before = file_text(f.path);
	/* Invalid: the same backend twice. */
	next = cp_config_clone(f.cp.config);
	next->vips[0].dp.backends[1] = next->vips[0].dp.backends[0];
	CU_ASSERT_EQUAL(cp_commit(&f.cp, next, 6000, &err), -EINVAL);
	CU_ASSERT_STRING_EQUAL(err.field, "vips[0].backends[1].address");
	CU_ASSERT_PTR_EQUAL(f.cp.config, before);
	CU_ASSERT_EQUAL(f.cp.gen, 1);
	CU_ASSERT_EQUAL(f.cp.changes, 0);
	CU_ASSERT_EQUAL(f.cp.persist_failures, 0);
	/* Valid but not persisted: refused as well, nothing applied. */
	f.cp.config_path = "/nonexistent-dir/cp.json";
	memset(&err, 0, sizeof(err));
	CU_ASSERT(cp_commit(&f.cp, with_weight(&f.cp, 0, 7), 6000, &err) < 0);
	CU_ASSERT_EQUAL(f.cp.persist_failures, 1);
	CU_ASSERT_PTR_EQUAL(f.cp.config, before);
	CU_ASSERT_EQUAL(f.cp.config->vips[0].dp.backends[0].weight, 1);
	CU_ASSERT_EQUAL(f.cp.gen, 1);
	CU_ASSERT_EQUAL(f.cp.changes, 0);
	CU_ASSERT_EQUAL(f.cp.n_targets, 2);
	CU_ASSERT_EQUAL(retired, 0);
	CU_ASSERT_EQUAL(f.events.n, 1); /* only init's */
	f.cp.config_path = f.path;
	file_after = file_text(f.path);
	CU_ASSERT_STRING_EQUAL(file_after, file_before);
	free(file_before);
	free(file_after);
	cp_test_daemon_close(&f);
}

static void test_generation_moves_only_on_real_change(void)
{
	struct cp_test_daemon f;
	struct elb_dp_err err = {0};
	char *file;

	fixture_open(&f);
	/* The same config again: a change (persisted, counted), same desired state. */
	CU_ASSERT_EQUAL(cp_commit(&f.cp, cp_config_clone(f.cp.config), 6000, &err), 0);
	CU_ASSERT_EQUAL(f.cp.changes, 1);
	CU_ASSERT_EQUAL(f.cp.gen, 1);
	CU_ASSERT_EQUAL_FATAL(f.events.n, 2);
	CU_ASSERT_STRING_EQUAL(f.events.types[1], "config_changed");
	CU_ASSERT_STRING_EQUAL(f.events.fields[1], "{\"changes\":1}");
	/* A weight: the dataplanes' config differs. */
	CU_ASSERT_EQUAL(cp_commit(&f.cp, with_weight(&f.cp, 1, 3), 7000, &err), 0);
	CU_ASSERT_EQUAL(f.cp.changes, 2);
	CU_ASSERT_EQUAL(f.cp.gen, 2);
	CU_ASSERT_EQUAL(f.cp.desired->vips[0].backends[1].weight, 3);
	CU_ASSERT_EQUAL_FATAL(f.events.n, 4);
	CU_ASSERT_STRING_EQUAL(f.events.types[2], "config_changed");
	CU_ASSERT_STRING_EQUAL(f.events.types[3], "desired_changed");
	CU_ASSERT_STRING_EQUAL(f.events.fields[3], "{\"generation\":2}");
	/* Persisted before applied: the file has the weight. */
	file = file_text(f.path);
	CU_ASSERT_PTR_NOT_NULL(strstr(file, "\"weight\":\t3,"));
	free(file);
	cp_test_daemon_close(&f);
}

static void test_targets_carried_across_commits(void)
{
	struct cp_test_daemon f;
	struct elb_dp_err err = {0};
	struct cp_config *next;
	struct cp_target *second;
	struct elb_dp_backend added;

	fixture_open(&f);
	second = f.cp.targets[1];
	cp_target_result(&f.cp, second, true); /* unknown -> up at once */
	CU_ASSERT_EQUAL(second->state.status, CP_HC_UP);
	/* Drop 10.0.0.1, add 10.0.0.3. */
	next = cp_config_clone(f.cp.config);
	added = next->vips[0].dp.backends[0];
	CU_ASSERT_EQUAL(inet_pton(AF_INET, "10.0.0.3", &added.addr.v4), 1);
	next->vips[0].dp.backends[0] = next->vips[0].dp.backends[1];
	next->vips[0].dp.backends[1] = added;
	CU_ASSERT_EQUAL(cp_commit(&f.cp, next, 9000, &err), 0);
	CU_ASSERT_EQUAL(f.cp.n_targets, 2);
	/* The backend that stayed keeps its target and its history. */
	CU_ASSERT_PTR_EQUAL(f.cp.targets[0], second);
	CU_ASSERT_EQUAL(second->state.status, CP_HC_UP);
	CU_ASSERT_EQUAL(second->state.checks, 1);
	CU_ASSERT_FALSE(second->fresh);
	/* The new one starts afresh, probed at the commit's time. */
	CU_ASSERT_EQUAL(f.cp.targets[1]->state.status, CP_HC_UNKNOWN);
	CU_ASSERT_EQUAL(f.cp.targets[1]->next_due_ms, 9000);
	CU_ASSERT_EQUAL(f.cp.targets[1]->addr.v4, added.addr.v4);
	/* The one that left was retired (its probe is the service's). */
	CU_ASSERT_EQUAL(retired, 1);
	CU_ASSERT_PTR_NOT_NULL(last_retired);
	CU_ASSERT_PTR_NOT_EQUAL(last_retired, second);
	/* A changed health check is a new history for every backend. */
	next = cp_config_clone(f.cp.config);
	next->vips[0].hc.interval_ms = 2000;
	CU_ASSERT_EQUAL(cp_commit(&f.cp, next, 10000, &err), 0);
	CU_ASSERT_PTR_NOT_EQUAL(f.cp.targets[0], second);
	CU_ASSERT_EQUAL(f.cp.targets[0]->state.status, CP_HC_UNKNOWN);
	CU_ASSERT_EQUAL(retired, 3);
	cp_test_daemon_close(&f);
}

static void test_health_transitions_and_fail_static(void)
{
	struct cp_test_daemon f;
	struct cp_target *a, *b;

	fixture_open(&f);
	a = f.cp.targets[0];
	b = f.cp.targets[1];
	cp_target_result(&f.cp, a, true);
	cp_target_result(&f.cp, b, true);
	CU_ASSERT_EQUAL(f.cp.gen, 1);
	CU_ASSERT_EQUAL(f.events.n, 1); /* unknown -> up: no transition */
	/* a fails twice (fall 2): out of service, the desired state changes. */
	snprintf(a->probe.error, sizeof(a->probe.error), "connect: Connection refused");
	cp_target_result(&f.cp, a, false);
	CU_ASSERT_EQUAL(f.cp.gen, 1);
	cp_target_result(&f.cp, a, false);
	CU_ASSERT_EQUAL(f.cp.gen, 2);
	CU_ASSERT_EQUAL(f.cp.health_transitions, 1);
	CU_ASSERT_FALSE(cp_backend_pushed(&f.cp, 0, 0));
	CU_ASSERT_TRUE(cp_backend_pushed(&f.cp, 0, 1));
	CU_ASSERT_EQUAL(f.cp.desired->vips[0].n_backends, 1);
	CU_ASSERT_EQUAL_FATAL(f.events.n, 3);
	CU_ASSERT_STRING_EQUAL(f.events.types[1], "backend_down");
	CU_ASSERT_STRING_EQUAL(f.events.fields[1],
			       "{\"vip\":\"198.51.100.1:443/tcp\",\"backend\":\"10.0.0.1\","
			       "\"error\":\"connect: Connection refused\"}");
	CU_ASSERT_STRING_EQUAL(f.events.types[2], "desired_changed");
	/* b fails too: every backend down, the last healthy set stays. */
	cp_target_result(&f.cp, b, false);
	cp_target_result(&f.cp, b, false);
	CU_ASSERT_TRUE(f.cp.vip_rt[0].all_down);
	CU_ASSERT_EQUAL(f.cp.vip_rt[0].all_down_alarms, 1);
	CU_ASSERT_FALSE(cp_backend_pushed(&f.cp, 0, 0));
	CU_ASSERT_TRUE(cp_backend_pushed(&f.cp, 0, 1));
	CU_ASSERT_EQUAL(f.cp.gen, 2); /* nothing the dataplanes get changed */
	CU_ASSERT_EQUAL_FATAL(f.events.n, 5);
	CU_ASSERT_STRING_EQUAL(f.events.types[3], "backend_down");
	CU_ASSERT_STRING_EQUAL(f.events.types[4], "vip_all_down");
	CU_ASSERT_STRING_EQUAL(f.events.fields[4], "{\"vip\":\"198.51.100.1:443/tcp\"}");
	/* a comes back (rise 2): recovered, only a is pushed. */
	cp_target_result(&f.cp, a, true);
	cp_target_result(&f.cp, a, true);
	CU_ASSERT_FALSE(f.cp.vip_rt[0].all_down);
	CU_ASSERT_TRUE(cp_backend_pushed(&f.cp, 0, 0));
	CU_ASSERT_FALSE(cp_backend_pushed(&f.cp, 0, 1));
	CU_ASSERT_EQUAL(f.cp.gen, 3);
	CU_ASSERT_EQUAL_FATAL(f.events.n, 8);
	CU_ASSERT_STRING_EQUAL(f.events.types[5], "backend_up");
	CU_ASSERT_STRING_EQUAL(f.events.types[6], "vip_recovered");
	CU_ASSERT_STRING_EQUAL(f.events.types[7], "desired_changed");
	cp_test_daemon_close(&f);
}

/* Without a sink, events are counted and dropped (nothing leaks: ASan). */
static void test_no_sink_counts_events(void)
{
	struct cp_test_daemon f;

	fixture_open(&f);
	f.cp.events_sink = (struct cp_event_sink){0};
	cp_emit(&f.cp, "custom", cp_event_dataplane("dp0"));
	cp_emit(&f.cp, "custom", NULL);
	CU_ASSERT_EQUAL(f.cp.events, 3);
	CU_ASSERT_EQUAL(f.events.n, 1);
	cp_test_daemon_close(&f);
}

int main(void)
{
	static const struct elb_test_case cases[] = {
		ELB_TEST(test_init),
		ELB_TEST(test_commit_refused_changes_nothing),
		ELB_TEST(test_generation_moves_only_on_real_change),
		ELB_TEST(test_targets_carried_across_commits),
		ELB_TEST(test_health_transitions_and_fail_static),
		ELB_TEST(test_no_sink_counts_events),
		ELB_TEST_END,
	};

	return elb_test_run("cp_state", cases);
}
