/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * elb_options: the number reader of the command-line tools, and the
 * command line both dataplane daemons share (--config, --state, --socket,
 * --flows) with a daemon's own options beside it: what lands where, what
 * is refused and the message said on stderr.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "elb_options.h"
#include "elb_test.h"

static void test_parse_u32_accepts_digits_in_range(void)
{
	uint32_t v = 99;

	CU_ASSERT_EQUAL(elb_parse_u32("0", 0, 10, &v), 0);
	CU_ASSERT_EQUAL(v, 0);
	CU_ASSERT_EQUAL(elb_parse_u32("10", 0, 10, &v), 0);
	CU_ASSERT_EQUAL(v, 10);
	CU_ASSERT_EQUAL(elb_parse_u32("007", 1, 10, &v), 0);
	CU_ASSERT_EQUAL(v, 7);
	CU_ASSERT_EQUAL(elb_parse_u32("4294967295", 1, UINT32_MAX, &v), 0);
	CU_ASSERT_EQUAL(v, 4294967295u);
}

static void test_parse_u32_refuses_the_rest(void)
{
	static const char *const bad[] = {"", " 5", "+5", "-1", "5x", "0x10", "1e3", "5 ",
					  "4294967296", "18446744073709551617"};
	uint32_t v = 42;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ELB_CHECK(elb_parse_u32(bad[i], 0, UINT32_MAX, &v) == -EINVAL, "'%s'", bad[i]);
		ELB_CHECK(v == 42, "'%s' changed the value to %u", bad[i], v);
	}
	CU_ASSERT_EQUAL(elb_parse_u32("0", 1, 10, &v), -EINVAL);
	CU_ASSERT_EQUAL(elb_parse_u32("11", 1, 10, &v), -EINVAL);
	CU_ASSERT_EQUAL(v, 42);
}

/* A daemon with two options of its own: --iface NAME and --queues N (1..8). */
struct fake_daemon {
	const char *iface;
	uint32_t queues;
	int own_calls;
	int usage_calls;
};

static struct fake_daemon *current;

static void fake_usage(void)
{
	current->usage_calls++;
}

static int fake_own_option(void *ctx, int val, const char *arg)
{
	struct fake_daemon *d = ctx;

	d->own_calls++;
	if (val == 'i') {
		d->iface = arg;
		return 0;
	}
	if (elb_parse_u32(arg, 1, 8, &d->queues)) {
		fprintf(stderr, "fake: --queues: 1..8\n");
		return -EINVAL;
	}
	return 0;
}

/*
 * Parse argv (NULL-terminated, without the program name) as the fake
 * daemon "fake" with --flows up to 1000; stderr's text into said.
 */
static int parse(struct fake_daemon *d, struct elb_dp_options *o, const char *const *args,
		 char *said, size_t said_len)
{
	static const struct option own[] = {
		{"iface", required_argument, NULL, 'i'},
		{"queues", required_argument, NULL, 'q'},
		{NULL, 0, NULL, 0},
	};
	const struct elb_dp_options_spec spec = {
		.program = "fake",
		.flows_max = 1000,
		.own = own,
		.own_option = fake_own_option,
		.ctx = d,
		.usage = fake_usage,
	};
	char *argv[16];
	int argc = 0, rc, saved;
	FILE *capture = tmpfile();
	size_t n;

	CU_ASSERT_PTR_NOT_NULL_FATAL(capture);
	argv[argc++] = (char *)"fake";
	for (; *args != NULL; args++)
		argv[argc++] = (char *)*args;
	argv[argc] = NULL;
	current = d;
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	dup2(fileno(capture), STDERR_FILENO);
	rc = elb_dp_options_parse(argc, argv, &spec, o);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	rewind(capture);
	n = fread(said, 1, said_len - 1, capture);
	said[n] = '\0';
	fclose(capture);
	return rc;
}

static void test_shared_and_own_options_land_in_their_places(void)
{
	static const char *const args[] = {"--config", "c.json", "--iface", "eth1",
					   "--state", "s.json", "--socket", "/run/x.sock",
					   "--flows", "1000", "--queues", "4",
					   NULL};
	struct fake_daemon d = {0};
	struct elb_dp_options o = {.socket_path = "default.sock", .flows = 5};
	char said[512];

	CU_ASSERT_EQUAL(parse(&d, &o, args, said, sizeof(said)), 13);
	CU_ASSERT_STRING_EQUAL(o.config_path, "c.json");
	CU_ASSERT_STRING_EQUAL(o.state_path, "s.json");
	CU_ASSERT_STRING_EQUAL(o.socket_path, "/run/x.sock");
	CU_ASSERT_EQUAL(o.flows, 1000);
	CU_ASSERT_STRING_EQUAL(d.iface, "eth1");
	CU_ASSERT_EQUAL(d.queues, 4);
	CU_ASSERT_EQUAL(d.own_calls, 2);
	CU_ASSERT_EQUAL(d.usage_calls, 0);
	CU_ASSERT_STRING_EQUAL(said, "");
}

static void test_options_not_given_keep_their_defaults(void)
{
	static const char *const args[] = {"--iface", "eth0", NULL};
	struct fake_daemon d = {0};
	struct elb_dp_options o = {.socket_path = "default.sock", .flows = 5};
	char said[512];

	CU_ASSERT_EQUAL(parse(&d, &o, args, said, sizeof(said)), 3);
	CU_ASSERT_PTR_NULL(o.config_path);
	CU_ASSERT_PTR_NULL(o.state_path);
	CU_ASSERT_STRING_EQUAL(o.socket_path, "default.sock");
	CU_ASSERT_EQUAL(o.flows, 5);
}

static void test_first_argument_that_is_not_an_option(void)
{
	static const char *const args[] = {"--flows", "7", "extra", NULL};
	struct fake_daemon d = {0};
	struct elb_dp_options o = {0};
	char said[512];
	int first = parse(&d, &o, args, said, sizeof(said));

	CU_ASSERT_EQUAL(first, 3);
	CU_ASSERT_EQUAL(o.flows, 7);
}

static void test_flows_out_of_range_is_refused_with_its_range(void)
{
	static const char *const zero[] = {"--flows", "0", NULL};
	static const char *const above[] = {"--flows", "1001", NULL};
	static const char *const word[] = {"--flows", "many", NULL};
	const char *const *cases[] = {zero, above, word};

	for (size_t i = 0; i < 3; i++) {
		struct fake_daemon d = {0};
		struct elb_dp_options o = {.flows = 5};
		char said[512];

		CU_ASSERT_EQUAL(parse(&d, &o, cases[i], said, sizeof(said)), -EINVAL);
		CU_ASSERT_STRING_EQUAL(said, "fake: --flows: 1..1000\n");
		CU_ASSERT_EQUAL(o.flows, 5);
		CU_ASSERT_EQUAL(d.usage_calls, 0);
	}
}

static void test_own_option_refusal_stops_the_parse(void)
{
	static const char *const args[] = {"--queues", "9", "--config", "c.json", NULL};
	struct fake_daemon d = {0};
	struct elb_dp_options o = {0};
	char said[512];

	CU_ASSERT_EQUAL(parse(&d, &o, args, said, sizeof(said)), -EINVAL);
	CU_ASSERT_STRING_EQUAL(said, "fake: --queues: 1..8\n");
	CU_ASSERT_PTR_NULL(o.config_path);
}

static void test_help_and_unknown_options_print_the_usage(void)
{
	static const char *const help[] = {"--help", NULL};
	static const char *const short_help[] = {"-h", NULL};
	static const char *const unknown[] = {"--mbufs", "10", NULL};
	static const char *const missing_arg[] = {"--socket", NULL};
	const char *const *cases[] = {help, short_help, unknown, missing_arg};

	for (size_t i = 0; i < 4; i++) {
		struct fake_daemon d = {0};
		struct elb_dp_options o = {0};
		char said[512];

		CU_ASSERT_EQUAL(parse(&d, &o, cases[i], said, sizeof(said)), -EINVAL);
		CU_ASSERT_EQUAL(d.usage_calls, 1);
		CU_ASSERT_EQUAL(d.own_calls, 0);
	}
}

static void test_api_options_carry_the_shared_ones(void)
{
	const struct elb_dp_options o = {.config_path = "c.json", .state_path = "s.json",
					 .socket_path = "/run/x.sock", .flows = 9};
	struct elb_dp_config *initial = elb_dp_config_new();
	struct elb_dp_api_options api = elb_dp_options_api(&o, "xdp", initial);

	CU_ASSERT_STRING_EQUAL(api.socket_path, "/run/x.sock");
	CU_ASSERT_STRING_EQUAL(api.state_path, "s.json");
	CU_ASSERT_STRING_EQUAL(api.dataplane, "xdp");
	CU_ASSERT_PTR_EQUAL(api.initial, initial);
	CU_ASSERT_FALSE(api.keep_running_state);
	CU_ASSERT_EQUAL(api.max_clients, 0);
	elb_dp_config_free(initial);
}

int main(void)
{
	static const struct elb_test_case cases[] = {
		ELB_TEST(test_parse_u32_accepts_digits_in_range),
		ELB_TEST(test_parse_u32_refuses_the_rest),
		ELB_TEST(test_shared_and_own_options_land_in_their_places),
		ELB_TEST(test_options_not_given_keep_their_defaults),
		ELB_TEST(test_first_argument_that_is_not_an_option),
		ELB_TEST(test_flows_out_of_range_is_refused_with_its_range),
		ELB_TEST(test_own_option_refusal_stops_the_parse),
		ELB_TEST(test_help_and_unknown_options_print_the_usage),
		ELB_TEST(test_api_options_carry_the_shared_ones),
		ELB_TEST_END,
	};

	return elb_test_run("options", cases);
}
