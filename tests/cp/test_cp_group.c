/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * edgelb-cp's group commit (cp_stage, cp_commit_staged in cp_state.h),
 * without sockets or clock: changes staged one by one are written by one
 * atomic write and applied as one generation; a change refused in the
 * middle of a group fails alone; what the file holds after a crash is
 * exactly what was written (staged changes are not in it); a group whose
 * write fails is dropped whole and leaves everything as it was.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cp_state.h"
#include "cp_test_daemon.h"
#include "elb_test.h"

#define BASE_CONFIG                                                                        \
	"{\"node\":{\"source_v4\":\"192.0.2.10\"},"                                           \
	"\"vips\":[{\"address\":\"198.51.100.1\",\"port\":443,\"protocol\":\"tcp\","          \
	"\"backends\":[{\"address\":\"10.0.0.1\"},{\"address\":\"10.0.0.2\"},"                \
	"{\"address\":\"10.0.0.3\"},{\"address\":\"10.0.0.4\"},{\"address\":\"10.0.0.5\"}]}]}"
#define N_BACKENDS 5

static void fixture_open(struct cp_test_daemon *f)
{
	cp_test_daemon_open(f, "test-cp-group", BASE_CONFIG, NULL);
	CU_ASSERT_EQUAL_FATAL(f->cp.gen, 1);
}

/* The latest config (staged or applied) with backend b of VIP 0 weighted w. */
static struct cp_config *with_weight(const struct cp_daemon *cp, uint32_t b, uint32_t w)
{
	struct cp_config *next = cp_config_clone(cp_latest_config(cp));

	CU_ASSERT_PTR_NOT_NULL_FATAL(next);
	next->vips[0].dp.backends[b].weight = w;
	return next;
}

/* Invalid as a whole: backend b of VIP 0 made a copy of backend 0. */
static struct cp_config *with_duplicate(const struct cp_daemon *cp, uint32_t b)
{
	struct cp_config *next = cp_config_clone(cp_latest_config(cp));

	CU_ASSERT_PTR_NOT_NULL_FATAL(next);
	next->vips[0].dp.backends[b] = next->vips[0].dp.backends[0];
	return next;
}

/* The weights of VIP 0's backends in the config file, as a restart loads it. */
static void file_weights(const char *path, uint32_t out[N_BACKENDS])
{
	struct cp_config *loaded = NULL;
	struct elb_dp_err err = {0};

	CU_ASSERT_EQUAL_FATAL(cp_config_load_file(path, &loaded, &err), 0);
	CU_ASSERT_EQUAL_FATAL(loaded->vips[0].dp.n_backends, N_BACKENDS);
	for (uint32_t b = 0; b < N_BACKENDS; b++)
		out[b] = loaded->vips[0].dp.backends[b].weight;
	cp_config_free(loaded);
}

static void test_group_is_one_write_and_one_generation(void)
{
	static const uint32_t expected[N_BACKENDS] = {11, 12, 1, 14, 15};
	struct cp_test_daemon f;
	struct elb_dp_err err = {0};
	uint32_t weights[N_BACKENDS];

	fixture_open(&f);
	CU_ASSERT_EQUAL(cp_stage(&f.cp, with_weight(&f.cp, 0, 11), &err), 0);
	CU_ASSERT_EQUAL(cp_stage(&f.cp, with_weight(&f.cp, 1, 12), &err), 0);
	/* The third is refused alone: the group goes on without it. */
	CU_ASSERT_EQUAL(cp_stage(&f.cp, with_duplicate(&f.cp, 2), &err), -EINVAL);
	CU_ASSERT_STRING_EQUAL(err.field, "vips[0].backends[2].address");
	CU_ASSERT_EQUAL(cp_stage(&f.cp, with_weight(&f.cp, 3, 14), &err), 0);
	CU_ASSERT_EQUAL(cp_stage(&f.cp, with_weight(&f.cp, 4, 15), &err), 0);
	CU_ASSERT_EQUAL(f.cp.n_staged, 4);
	/* Staged is neither applied nor written nor pushed. */
	CU_ASSERT_EQUAL(f.cp.config->vips[0].dp.backends[0].weight, 1);
	CU_ASSERT_EQUAL(f.cp.desired->vips[0].backends[0].weight, 1);
	CU_ASSERT_EQUAL(f.cp.gen, 1);
	CU_ASSERT_EQUAL(f.cp.changes, 0);
	CU_ASSERT_EQUAL(f.cp.config_writes, 0);
	file_weights(f.path, weights);
	for (uint32_t b = 0; b < N_BACKENDS; b++)
		CU_ASSERT_EQUAL(weights[b], 1);

	CU_ASSERT_EQUAL(cp_commit_staged(&f.cp, 6000, &err), 4);
	CU_ASSERT_EQUAL(f.cp.config_writes, 1);
	CU_ASSERT_EQUAL(f.cp.changes, 4);
	CU_ASSERT_EQUAL(f.cp.n_staged, 0);
	CU_ASSERT_PTR_NULL(f.cp.staged);
	CU_ASSERT_EQUAL(f.cp.gen, 2); /* one generation carries the four */
	file_weights(f.path, weights);
	for (uint32_t b = 0; b < N_BACKENDS; b++) {
		CU_ASSERT_EQUAL(weights[b], expected[b]);
		CU_ASSERT_EQUAL(f.cp.config->vips[0].dp.backends[b].weight, expected[b]);
		CU_ASSERT_EQUAL(f.cp.desired->vips[0].backends[b].weight, expected[b]);
	}
	/* init's desired_changed, a config_changed per change, one desired_changed. */
	CU_ASSERT_EQUAL_FATAL(f.events.n, 6);
	for (unsigned int i = 1; i <= 4; i++) {
		char fields[32];

		snprintf(fields, sizeof(fields), "{\"changes\":%u}", i);
		CU_ASSERT_STRING_EQUAL(f.events.types[i], "config_changed");
		CU_ASSERT_STRING_EQUAL(f.events.fields[i], fields);
	}
	CU_ASSERT_STRING_EQUAL(f.events.types[5], "desired_changed");
	CU_ASSERT_STRING_EQUAL(f.events.fields[5], "{\"generation\":2}");
	/* Nothing staged: nothing written. */
	CU_ASSERT_EQUAL(cp_commit_staged(&f.cp, 7000, &err), 0);
	CU_ASSERT_EQUAL(f.cp.config_writes, 1);
	cp_test_daemon_close(&f);
}

/* A crash before the write: a restart loads what was written, without the
 * staged changes (nobody was told about them); after the write, all. */
static void test_crash_before_write_loses_only_staged(void)
{
	struct cp_test_daemon f;
	struct elb_dp_err err = {0};
	uint32_t weights[N_BACKENDS];

	fixture_open(&f);
	CU_ASSERT_EQUAL(cp_commit(&f.cp, with_weight(&f.cp, 0, 7), 6000, &err), 0);
	CU_ASSERT_EQUAL(cp_stage(&f.cp, with_weight(&f.cp, 1, 8), &err), 0);
	CU_ASSERT_EQUAL(cp_stage(&f.cp, with_weight(&f.cp, 2, 9), &err), 0);
	file_weights(f.path, weights);
	CU_ASSERT_EQUAL(weights[0], 7);
	CU_ASSERT_EQUAL(weights[1], 1);
	CU_ASSERT_EQUAL(weights[2], 1);
	/* cp_commit writes what was staged before it with its own change. */
	CU_ASSERT_EQUAL(cp_commit(&f.cp, with_weight(&f.cp, 3, 10), 7000, &err), 0);
	CU_ASSERT_EQUAL(f.cp.config_writes, 2);
	CU_ASSERT_EQUAL(f.cp.changes, 4);
	CU_ASSERT_EQUAL(f.cp.gen, 3);
	file_weights(f.path, weights);
	CU_ASSERT_EQUAL(weights[0], 7);
	CU_ASSERT_EQUAL(weights[1], 8);
	CU_ASSERT_EQUAL(weights[2], 9);
	CU_ASSERT_EQUAL(weights[3], 10);
	CU_ASSERT_EQUAL(weights[4], 1);
	cp_test_daemon_close(&f);
}

static void test_failed_write_drops_the_group(void)
{
	struct cp_test_daemon f;
	struct elb_dp_err err = {0};
	const struct cp_config *before;
	uint32_t weights[N_BACKENDS];

	fixture_open(&f);
	before = f.cp.config;
	f.cp.config_path = "/nonexistent-dir/cp.json";
	CU_ASSERT_EQUAL(cp_stage(&f.cp, with_weight(&f.cp, 0, 21), &err), 0);
	CU_ASSERT_EQUAL(cp_stage(&f.cp, with_weight(&f.cp, 1, 22), &err), 0);
	CU_ASSERT_EQUAL(cp_commit_staged(&f.cp, 6000, &err), -ENOENT);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.text, "/nonexistent-dir/cp.json"));
	CU_ASSERT_EQUAL(f.cp.persist_failures, 1);
	CU_ASSERT_EQUAL(f.cp.config_writes, 0);
	CU_ASSERT_EQUAL(f.cp.changes, 0);
	CU_ASSERT_EQUAL(f.cp.n_staged, 0);
	CU_ASSERT_PTR_NULL(f.cp.staged);
	CU_ASSERT_PTR_EQUAL(f.cp.config, before);
	CU_ASSERT_EQUAL(f.cp.config->vips[0].dp.backends[0].weight, 1);
	CU_ASSERT_EQUAL(f.cp.gen, 1);
	CU_ASSERT_EQUAL(f.events.n, 1); /* only init's */
	/* The next group starts from what is in force, not from the dropped one. */
	f.cp.config_path = f.path;
	CU_ASSERT_EQUAL(cp_stage(&f.cp, with_weight(&f.cp, 2, 23), &err), 0);
	CU_ASSERT_EQUAL(cp_commit_staged(&f.cp, 7000, &err), 1);
	file_weights(f.path, weights);
	CU_ASSERT_EQUAL(weights[0], 1);
	CU_ASSERT_EQUAL(weights[1], 1);
	CU_ASSERT_EQUAL(weights[2], 23);
	cp_test_daemon_close(&f);
}

/* Staged changes left at shutdown are freed (ASan) and never written. */
static void test_staged_freed_at_shutdown(void)
{
	struct cp_test_daemon f;
	struct elb_dp_err err = {0};
	uint32_t weights[N_BACKENDS];

	fixture_open(&f);
	CU_ASSERT_EQUAL(cp_stage(&f.cp, with_weight(&f.cp, 4, 30), &err), 0);
	file_weights(f.path, weights);
	CU_ASSERT_EQUAL(weights[4], 1);
	cp_test_daemon_close(&f);
}

int main(void)
{
	static const struct elb_test_case cases[] = {
		ELB_TEST(test_group_is_one_write_and_one_generation),
		ELB_TEST(test_crash_before_write_loses_only_staged),
		ELB_TEST(test_failed_write_drops_the_group),
		ELB_TEST(test_staged_freed_at_shutdown),
		ELB_TEST_END,
	};

	return elb_test_run("cp_group", cases);
}
