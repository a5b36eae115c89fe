/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The example configurations installed in /etc/edgelb (docs/examples) load
 * with the loaders the daemons use: elb_dp_config_load_file (edgelb-dp,
 * edgelb-xdp, edgelb-preflight --config) and cp_config_load_file
 * (edgelb-cp --config). Run on the source files by meson, and on the
 * installed ones by test_install.sh.
 *
 * usage: test_examples DP_EXAMPLE CP_EXAMPLE
 */
#include <stdio.h>

#include "cp_config.h"
#include "elb_config.h"
#include "elb_test.h"

static const char *dp_path, *cp_path;

static void test_dp_example_loads(void)
{
	struct elb_dp_config *config = NULL;
	struct elb_dp_err err = {0};
	int rc = elb_dp_config_load_file(dp_path, &config, &err);

	if (rc != 0)
		fprintf(stderr, "\n  %s: %s\n", dp_path, err.text);
	CU_ASSERT_EQUAL_FATAL(rc, 0);
	/* An example with something in it: a VIP with a backend. */
	CU_ASSERT_EQUAL(config->n_vips, 1);
	CU_ASSERT_EQUAL(config->vips[0].n_backends, 1);
	elb_dp_config_free(config);
}

static void test_cp_example_loads(void)
{
	struct cp_config *config = NULL;
	struct elb_dp_err err = {0};
	int rc = cp_config_load_file(cp_path, &config, &err);

	if (rc != 0)
		fprintf(stderr, "\n  %s: %s\n", cp_path, err.text);
	CU_ASSERT_EQUAL_FATAL(rc, 0);
	CU_ASSERT_EQUAL(config->n_dataplanes, 1);
	CU_ASSERT_EQUAL(config->n_vips, 1);
	CU_ASSERT_EQUAL(config->vips[0].hc.type, CP_HC_HTTP);
	cp_config_free(config);
}

int main(int argc, char **argv)
{
	static const struct elb_test_case cases[] = {
		ELB_TEST(test_dp_example_loads),
		ELB_TEST(test_cp_example_loads),
		ELB_TEST_END,
	};

	if (argc != 3) {
		fprintf(stderr, "usage: test_examples DP_EXAMPLE CP_EXAMPLE\n");
		return 2;
	}
	dp_path = argv[1];
	cp_path = argv[2];
	return elb_test_run("examples", cases);
}
