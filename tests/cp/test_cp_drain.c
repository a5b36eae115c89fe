/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The drain state machine (cp_fleet.c) on a fake clock: a backend set
 * draining goes draining -> drained when every dataplane reports no flow
 * left on it (counts taken before the drain began do not count), or when
 * its timeout passes; drain_complete says which. The dataplanes' vip.tables
 * are set by hand, as the dataplane service would store them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cp_dataplanes.h"
#include "cp_fleet.h"
#include "cp_event_recorder.h"
#include "elb_test.h"

static const char config_text[] =
	"{\"node\":{\"source_v4\":\"192.0.2.10\"},"
	"\"fleet\":{\"drain_timeout_ms\":5000},"
	"\"dataplanes\":[{\"name\":\"dp0\",\"socket\":\"/nonexistent/dp0.sock\"}],"
	"\"vips\":[{\"address\":\"198.51.100.1\",\"port\":443,\"protocol\":\"tcp\","
	"\"backends\":[{\"address\":\"10.0.0.1\"},"
	"{\"address\":\"10.0.0.2\",\"state\":\"draining\"}]}]}";

struct fixture {
	struct cp_daemon cp;
	struct cp_event_recorder events;
	struct cp_target *draining;
};

static void fixture_open(struct fixture *f)
{
	struct cp_config *loaded;
	struct elb_dp_err err = {0};

	memset(f, 0, sizeof(*f));
	f->cp.epfd = -1;
	f->cp.events_sink = (struct cp_event_sink){.emit = cp_event_record, .ctx = &f->events};
	CU_ASSERT_EQUAL_FATAL(cp_config_parse(config_text, strlen(config_text), &loaded, &err), 0);
	CU_ASSERT_EQUAL_FATAL(cp_state_init(&f->cp, loaded, 1000), 0);
	CU_ASSERT_EQUAL_FATAL(cp_dataplanes_init(&f->cp), 0);
	f->cp.dps[0].connected = true;
	f->draining = f->cp.targets[1];
	f->events.n = 0;
}

static void fixture_close(struct fixture *f)
{
	cp_dataplanes_free(&f->cp);
	cp_state_free(&f->cp);
}

/* dp0 counted `flows` on the draining backend at `at`. */
static void report_flows(struct fixture *f, unsigned int flows, uint64_t at)
{
	char text[512];

	snprintf(text, sizeof(text),
		 "{\"flows_counted\":true,\"flows_age_ms\":0,\"vips\":[{\"vip\":"
		 "\"198.51.100.1:443/tcp\",\"backends\":[{\"address\":\"10.0.0.1\",\"state\":"
		 "\"active\",\"flows\":40},{\"address\":\"10.0.0.2\",\"state\":\"draining\","
		 "\"flows\":%u}]}]}",
		 flows);
	cJSON_Delete(f->cp.dps[0].flow_tables);
	f->cp.dps[0].flow_tables = cJSON_Parse(text);
	CU_ASSERT_PTR_NOT_NULL_FATAL(f->cp.dps[0].flow_tables);
	f->cp.dps[0].flow_tables_ms = at;
}

static void test_drained_when_flows_are_gone(void)
{
	struct fixture f;
	struct cp_target *t;

	fixture_open(&f);
	t = f.draining;
	CU_ASSERT_EQUAL(f.cp.targets[0]->drain_phase, CP_DRAIN_NONE);
	/* The first tick starts the drain the config asks for. */
	cp_fleet_tick(&f.cp, 10000);
	CU_ASSERT_EQUAL(t->drain_phase, CP_DRAIN_DRAINING);
	CU_ASSERT_EQUAL(t->drain_since_ms, 10000);
	CU_ASSERT_EQUAL(t->drain_deadline_ms, 15000);
	CU_ASSERT_FALSE(t->drain_flows_known);
	CU_ASSERT_TRUE(cp_drain_running(&f.cp));
	/* A count from before the drain began says nothing. */
	report_flows(&f, 0, 9000);
	cp_fleet_tick(&f.cp, 10500);
	CU_ASSERT_EQUAL(t->drain_phase, CP_DRAIN_DRAINING);
	CU_ASSERT_FALSE(t->drain_flows_known);
	/* Flows still there. */
	report_flows(&f, 3, 11000);
	cp_fleet_tick(&f.cp, 11000);
	CU_ASSERT_EQUAL(t->drain_phase, CP_DRAIN_DRAINING);
	CU_ASSERT_TRUE(t->drain_flows_known);
	CU_ASSERT_EQUAL(t->drain_flows, 3);
	CU_ASSERT_EQUAL(f.events.n, 0);
	/* None left: drained. */
	report_flows(&f, 0, 12000);
	cp_fleet_tick(&f.cp, 12000);
	CU_ASSERT_EQUAL(t->drain_phase, CP_DRAIN_DRAINED);
	CU_ASSERT_STRING_EQUAL(t->drain_reason, "flows_gone");
	CU_ASSERT_EQUAL(t->drain_done_ms, 12000);
	CU_ASSERT_EQUAL(f.cp.drains_completed, 1);
	CU_ASSERT_EQUAL(f.cp.drains_timed_out, 0);
	CU_ASSERT_FALSE(cp_drain_running(&f.cp));
	CU_ASSERT_EQUAL_FATAL(f.events.n, 1);
	CU_ASSERT_STRING_EQUAL(f.events.types[0], "drain_complete");
	CU_ASSERT_STRING_EQUAL(f.events.fields[0],
			       "{\"vip\":\"198.51.100.1:443/tcp\",\"backend\":\"10.0.0.2\","
			       "\"reason\":\"flows_gone\",\"drain_ms\":2000,\"flows_left\":0,"
			       "\"flows_known\":true,\"removed\":false}");
	/* Drained stays drained. */
	cp_fleet_tick(&f.cp, 20000);
	CU_ASSERT_EQUAL(t->drain_phase, CP_DRAIN_DRAINED);
	CU_ASSERT_EQUAL(f.events.n, 1);
	fixture_close(&f);
}

static void test_drained_by_timeout(void)
{
	struct fixture f;
	struct cp_target *t;

	fixture_open(&f);
	t = f.draining;
	cp_fleet_tick(&f.cp, 10000);
	report_flows(&f, 7, 11000);
	cp_fleet_tick(&f.cp, 14999);
	CU_ASSERT_EQUAL(t->drain_phase, CP_DRAIN_DRAINING);
	cp_fleet_tick(&f.cp, 15000);
	CU_ASSERT_EQUAL(t->drain_phase, CP_DRAIN_DRAINED);
	CU_ASSERT_STRING_EQUAL(t->drain_reason, "timeout");
	CU_ASSERT_EQUAL(f.cp.drains_timed_out, 1);
	CU_ASSERT_EQUAL_FATAL(f.events.n, 1);
	CU_ASSERT_STRING_EQUAL(f.events.fields[0],
			       "{\"vip\":\"198.51.100.1:443/tcp\",\"backend\":\"10.0.0.2\","
			       "\"reason\":\"timeout\",\"drain_ms\":5000,\"flows_left\":7,"
			       "\"flows_known\":true,\"removed\":false}");
	fixture_close(&f);
}

/* backend.drain's own timeout: a drain started at `now` with 300 ms. */
static void test_drain_started_with_its_own_timeout(void)
{
	struct fixture f;
	cJSON *result = cJSON_CreateObject();
	char *text;

	fixture_open(&f);
	cp_fleet_drain_started(&f.cp, f.draining, 300, false, 20000, result);
	text = cJSON_PrintUnformatted(result);
	CU_ASSERT_STRING_EQUAL(text, "{\"drain\":{\"state\":\"draining\",\"timeout_ms\":300,"
				     "\"remove_when_drained\":false}}");
	free(text);
	cJSON_Delete(result);
	CU_ASSERT_EQUAL(f.draining->drain_deadline_ms, 20300);
	cp_fleet_tick(&f.cp, 20299);
	CU_ASSERT_EQUAL(f.draining->drain_phase, CP_DRAIN_DRAINING);
	cp_fleet_tick(&f.cp, 20300);
	CU_ASSERT_EQUAL(f.draining->drain_phase, CP_DRAIN_DRAINED);
	CU_ASSERT_STRING_EQUAL(f.draining->drain_reason, "timeout");
	fixture_close(&f);
}

int main(void)
{
	static const struct elb_test_case cases[] = {
		ELB_TEST(test_drained_when_flows_are_gone),
		ELB_TEST(test_drained_by_timeout),
		ELB_TEST(test_drain_started_with_its_own_timeout),
		ELB_TEST_END,
	};

	return elb_test_run("cp_drain", cases);
}
