/* SPDX-License-Identifier: BSD-3-Clause */
/* Per-VIP SLO figures: rates, availability windows, rate-limited drops
 * excluded, no traffic = nothing to judge. */
#include <stdio.h>

#include "cp_slo.h"
#include "elb_test.h"

static void feed(struct cp_slo *slo, uint64_t t_ms, double rx, double fwd, double rl, double nf)
{
	struct cp_slo_totals d = {.rx = rx, .forwarded = fwd, .forwarded_bytes = fwd * 100,
				  .rate_limited = rl, .new_flows = nf};

	cp_slo_add(slo, &d);
	cp_slo_tick(slo, t_ms);
}

static void test_no_traffic(void)
{
	static struct cp_slo slo;
	uint64_t covered;

	cp_slo_tick(&slo, 1000);
	CU_ASSERT_EQUAL(cp_slo_availability(&slo, 1000, 60000, &covered), -1);
}

static void test_windows(void)
{
	static struct cp_slo slo;
	uint64_t covered;

	cp_slo_tick(&slo, 1000); /* first sample, zero totals */
	/* 10 minutes of 1000 packets/s offered, 10 of them rate limited,
	 * 985 forwarded: availability 985/990. */
	for (uint64_t t = 2000; t <= 601000; t += 1000)
		feed(&slo, t, 1000, 985, 10, 20);
	CU_ASSERT_DOUBLE_EQUAL(slo.forwarded_pps, 985, 1e-9);
	CU_ASSERT_DOUBLE_EQUAL(slo.new_flows_per_s, 20, 1e-9);
	CU_ASSERT_DOUBLE_EQUAL(slo.forwarded_bytes_per_s, 98500, 1e-9);
	CU_ASSERT_DOUBLE_EQUAL(slo.rate_limited_pps, 10, 1e-9);
	CU_ASSERT_DOUBLE_EQUAL(cp_slo_availability(&slo, 601000, 300000, &covered), 985.0 / 990.0,
			       1e-9);
	CU_ASSERT_EQUAL(covered, 300000);
	/* Then one minute of total loss: the 1-minute window sees it all, the
	 * hour (10 min of history) a tenth of it. */
	for (uint64_t t = 602000; t <= 661000; t += 1000)
		feed(&slo, t, 1000, 0, 0, 0);
	CU_ASSERT_DOUBLE_EQUAL(cp_slo_availability(&slo, 661000, 60000, &covered), 0, 1e-9);
	CU_ASSERT_EQUAL(covered, 60000);
	CU_ASSERT_DOUBLE_EQUAL(cp_slo_availability(&slo, 661000, 3600000, &covered),
			       600.0 * 985 / (600.0 * 990 + 60 * 1000), 1e-9);
	CU_ASSERT_EQUAL(covered, 660000);
}

static void test_error_budget(void)
{
	/* 99.9% objective: 0.1% may fail. */
	CU_ASSERT_DOUBLE_EQUAL(cp_slo_budget_left(1.0, 0.999), 1.0, 1e-9);
	CU_ASSERT_DOUBLE_EQUAL(cp_slo_budget_left(0.9995, 0.999), 0.5, 1e-9);
	CU_ASSERT_DOUBLE_EQUAL(cp_slo_budget_left(0.999, 0.999), 0.0, 1e-9);
	CU_ASSERT_DOUBLE_EQUAL(cp_slo_budget_left(0.998, 0.999), -1.0, 1e-9);
	/* 100%: no budget at all. */
	CU_ASSERT_DOUBLE_EQUAL(cp_slo_budget_left(1.0, 1.0), 1.0, 1e-9);
	CU_ASSERT_DOUBLE_EQUAL(cp_slo_budget_left(0.99999, 1.0), -1.0, 1e-9);
}

int main(void)
{
	static const struct elb_test_case cases[] = {
		ELB_TEST(test_no_traffic),
		ELB_TEST(test_windows),
		ELB_TEST(test_error_budget),
		ELB_TEST_END,
	};

	return elb_test_run("cp_slo", cases);
}
