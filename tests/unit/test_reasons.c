/* SPDX-License-Identifier: BSD-3-Clause */
#include <string.h>

#include "elb_reasons.h"
#include "elb_test.h"

/* Counter names are the control protocol's vocabulary: pin a few, and check
 * that every reason has a distinct, non-empty name and text. */
static void test_names_are_stable(void)
{
	CU_ASSERT_STRING_EQUAL(elb_reason_name(ELB_REASON_NONE), "none");
	CU_ASSERT_STRING_EQUAL(elb_reason_name(ELB_REASON_IPV4_BAD_IHL), "ipv4_bad_ihl");
	CU_ASSERT_STRING_EQUAL(elb_reason_name(ELB_REASON_RATE_LIMITED), "rate_limited");
	CU_ASSERT_STRING_EQUAL(elb_reason_text(ELB_REASON_IPV4_BAD_IHL),
			       "IPv4 header length below 20 bytes");
}

static void test_names_distinct(void)
{
	for (int i = 0; i < ELB_REASON_COUNT; i++) {
		const char *name = elb_reason_name((enum elb_reason)i);

		CU_ASSERT_PTR_NOT_NULL_FATAL(name);
		CU_ASSERT(strlen(name) > 0);
		CU_ASSERT(strlen(elb_reason_text((enum elb_reason)i)) > 0);
		for (int j = 0; j < i; j++)
			CU_ASSERT(strcmp(name, elb_reason_name((enum elb_reason)j)) != 0);
	}
}

static void test_out_of_range(void)
{
	CU_ASSERT_STRING_EQUAL(elb_reason_name(ELB_REASON_COUNT), "unknown");
	CU_ASSERT_STRING_EQUAL(elb_reason_name((enum elb_reason)-1), "unknown");
}

int main(void)
{
	static const struct elb_test_case cases[] = {
		ELB_TEST(test_names_are_stable),
		ELB_TEST(test_names_distinct),
		ELB_TEST(test_out_of_range),
		ELB_TEST_END,
	};
	return elb_test_run("reasons", cases);
}
