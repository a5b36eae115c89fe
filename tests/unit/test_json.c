/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * elb_json: the member readers' range checks and error paths, and the one
 * text form of addresses (dotted quad, RFC 5952 IPv6, [v6]:port).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "elb_json.h"
#include "elb_test.h"

/* Single quotes stand for double quotes, to keep the cases readable. */
static cJSON *json_q(const char *single_quoted)
{
	char *text = strdup(single_quoted);
	cJSON *json;

	CU_ASSERT_PTR_NOT_NULL_FATAL(text);
	for (char *p = text; *p != '\0'; p++)
		if (*p == '\'')
			*p = '"';
	json = cJSON_Parse(text);
	free(text);
	CU_ASSERT_PTR_NOT_NULL_FATAL(json);
	return json;
}

static void expect_err(int rc, const struct elb_dp_err *err, const char *field, const char *text)
{
	CU_ASSERT_EQUAL(rc, -EINVAL);
	if (strcmp(err->field, field) != 0 || strcmp(err->text, text) != 0)
		fprintf(stderr, "\n  got  %s | %s\n  want %s | %s\n", err->field, err->text, field,
			text);
	CU_ASSERT_STRING_EQUAL(err->field, field);
	CU_ASSERT_STRING_EQUAL(err->text, text);
}

static void test_integer_range_checks(void)
{
	static const struct {
		const char *json;
		uint64_t min, max;
		int rc;
		uint64_t value; /* after the read; 77 is the default left alone */
	} cases[] = {
		{"{}", 0, 10, 0, 77},
		{"{'n':0}", 0, 10, 0, 0},
		{"{'n':10}", 0, 10, 0, 10},
		{"{'n':11}", 0, 10, -EINVAL, 77},
		{"{'n':4}", 5, 10, -EINVAL, 77},
		{"{'n':-1}", 0, 10, -EINVAL, 77},
		{"{'n':2.5}", 0, 10, -EINVAL, 77},
		{"{'n':1e300}", 0, UINT64_MAX >> 11, -EINVAL, 77},
		{"{'n':'5'}", 0, 10, -EINVAL, 77},
		{"{'n':true}", 0, 10, -EINVAL, 77},
		{"{'n':null}", 0, 10, -EINVAL, 77},
		{"{'n':9007199254740992}", 0, 1ull << 53, 0, 1ull << 53},
		{"{'n':9007199254740992}", 0, (1ull << 53) - 1, -EINVAL, 77},
		{"{'n':4294967295}", 1, 4294967295u, 0, 4294967295u},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cJSON *json = json_q(cases[i].json);
		struct elb_dp_err err = {0};
		uint64_t v = 77;
		int rc = elb_json_read_uint(json, "a.b", "n", cases[i].min, cases[i].max, &v, &err);

		CU_ASSERT_EQUAL(rc, cases[i].rc);
		CU_ASSERT_EQUAL(v, cases[i].value);
		if (rc < 0) {
			char text[128];

			snprintf(text, sizeof(text),
				 "a.b.n: must be an integer in %" PRIu64 "..%" PRIu64, cases[i].min,
				 cases[i].max);
			expect_err(rc, &err, "a.b.n", text);
		}
		cJSON_Delete(json);
	}
}

static void test_narrow_readers_keep_default_on_error(void)
{
	cJSON *json = json_q("{'w':65535,'big':65536,'p':80}");
	struct elb_dp_err err = {0};
	uint32_t w = 9;
	uint16_t p = 9, big = 9;

	CU_ASSERT_EQUAL(elb_json_read_u32(json, "", "w", 0, 65535, &w, &err), 0);
	CU_ASSERT_EQUAL(w, 65535);
	CU_ASSERT_EQUAL(elb_json_read_u16(json, "", "p", 1, 65535, &p, &err), 0);
	CU_ASSERT_EQUAL(p, 80);
	expect_err(elb_json_read_u16(json, "", "big", 0, 65535, &big, &err), &err, "big",
		   "big: must be an integer in 0..65535");
	CU_ASSERT_EQUAL(big, 9);
	w = 9;
	CU_ASSERT_EQUAL(elb_json_read_u32(json, "", "absent", 0, 1, &w, &err), 0);
	CU_ASSERT_EQUAL(w, 9);
	cJSON_Delete(json);
}

static void test_bool_string_enum(void)
{
	static const char *const names[] = {"tcp", NULL, "udp"};
	cJSON *json = json_q("{'t':true,'f':false,'n':1,'s':'x','proto':'udp','bad':'sctp'}");
	struct elb_dp_err err = {0};
	const char *text = "unchanged";
	bool b = false;
	uint8_t e = 9;

	CU_ASSERT_EQUAL(elb_json_read_bool(json, "o", "t", &b, &err), 0);
	CU_ASSERT_TRUE(b);
	CU_ASSERT_EQUAL(elb_json_read_bool(json, "o", "f", &b, &err), 0);
	CU_ASSERT_FALSE(b);
	b = true;
	CU_ASSERT_EQUAL(elb_json_read_bool(json, "o", "absent", &b, &err), 0);
	CU_ASSERT_TRUE(b);
	expect_err(elb_json_read_bool(json, "o", "n", &b, &err), &err, "o.n",
		   "o.n: must be a boolean");
	CU_ASSERT_TRUE(b);

	CU_ASSERT_EQUAL(elb_json_read_string(json, "", "s", &text, &err), 0);
	CU_ASSERT_STRING_EQUAL(text, "x");
	CU_ASSERT_EQUAL(elb_json_read_string(json, "", "absent", &text, &err), 0);
	CU_ASSERT_PTR_NULL(text);
	expect_err(elb_json_read_string(json, "", "n", &text, &err), &err, "n",
		   "n: must be a string");

	CU_ASSERT_EQUAL(elb_json_read_enum(json, "v", "proto", names, 3, "\"tcp\" or \"udp\"", &e,
					   &err),
			0);
	CU_ASSERT_EQUAL(e, 2);
	expect_err(elb_json_read_enum(json, "v", "bad", names, 3, "\"tcp\" or \"udp\"", &e, &err),
		   &err, "v.bad", "v.bad: must be \"tcp\" or \"udp\"");
	CU_ASSERT_EQUAL(e, 2);
	cJSON_Delete(json);
}

static void test_members_and_paths(void)
{
	static const char *const known[] = {"a", "b", NULL};
	cJSON *ok = json_q("{'a':1,'b':2}");
	cJSON *unknown = json_q("{'a':1,'c':2}");
	cJSON *twice = json_q("{'a':1,'a':2}");
	struct elb_dp_err err = {0};
	char path[ELB_JSON_PATH_MAX], prefix[200];

	CU_ASSERT_EQUAL(elb_dp_json_check_members(ok, "x", known, &err), 0);
	expect_err(elb_dp_json_check_members(unknown, "x", known, &err), &err, "x.c",
		   "x.c: unknown member");
	expect_err(elb_dp_json_check_members(twice, "", known, &err), &err, "a", "a: given twice");
	CU_ASSERT_EQUAL(elb_json_require(ok, "x", "a", &err), 0);
	expect_err(elb_json_require(ok, "x", "port", &err), &err, "x.port", "x.port: missing");
	expect_err(elb_json_expect_object(twice->child, "vips[0]", &err), &err, "vips[0]",
		   "vips[0]: must be an object");

	CU_ASSERT_STRING_EQUAL(elb_json_path_join(path, "", "node"), "node");
	CU_ASSERT_STRING_EQUAL(elb_json_path_join(path, NULL, "node"), "node");
	CU_ASSERT_STRING_EQUAL(elb_json_path_join(path, "vips[2]", "mtu"), "vips[2].mtu");
	CU_ASSERT_STRING_EQUAL(elb_json_path_index(path, "vips[2]", "backends", 5),
			       "vips[2].backends[5]");
	CU_ASSERT_STRING_EQUAL(elb_json_path_index(path, "", "vips", 0), "vips[0]");
	/* Too long for the buffer: cut, never overrun. */
	memset(prefix, 'p', sizeof(prefix) - 1);
	prefix[sizeof(prefix) - 1] = '\0';
	CU_ASSERT_EQUAL(strlen(elb_json_path_join(path, prefix, "m")), ELB_JSON_PATH_MAX - 1);

	/* No path: the text is the message alone. */
	CU_ASSERT_EQUAL(elb_json_fail(&err, "", "line %u, column %u: not valid JSON", 3u, 7u),
			-EINVAL);
	CU_ASSERT_STRING_EQUAL(err.field, "");
	CU_ASSERT_STRING_EQUAL(err.text, "line 3, column 7: not valid JSON");
	CU_ASSERT_EQUAL(elb_json_fail(NULL, "x", "ignored"), -EINVAL);
	CU_ASSERT_EQUAL(elb_json_nomem(&err), -ENOMEM);
	CU_ASSERT_STRING_EQUAL(err.text, "out of memory");
	cJSON_Delete(ok);
	cJSON_Delete(unknown);
	cJSON_Delete(twice);
}

static void test_address_reader(void)
{
	static const struct {
		const char *json;
		uint8_t want;
		int rc;
		uint8_t family;
		const char *text; /* error text, or the address formatted back */
	} cases[] = {
		{"{'a':'192.0.2.1'}", 0, 0, ELB_AF_INET, "192.0.2.1"},
		{"{'a':'2001:DB8:0:0:0:0:0:1'}", 0, 0, ELB_AF_INET6, "2001:db8::1"},
		{"{'a':'192.0.2.1'}", ELB_AF_INET, 0, ELB_AF_INET, "192.0.2.1"},
		{"{'a':'192.0.2.1'}", ELB_AF_INET6, -EINVAL, 0,
		 "s.a: must be an IPv6 address (got \"192.0.2.1\")"},
		{"{'a':'2001:db8::1'}", ELB_AF_INET, -EINVAL, 0,
		 "s.a: must be an IPv4 address (got \"2001:db8::1\")"},
		{"{'a':'10.0.0.300'}", 0, -EINVAL, 0,
		 "s.a: must be an IPv4 or IPv6 address (got \"10.0.0.300\")"},
		{"{'a':'::ffff:192.0.2.1'}", 0, -EINVAL, 0,
		 "s.a: write an IPv4 address as IPv4, not IPv4-mapped IPv6"},
		{"{'a':7}", 0, -EINVAL, 0, "s.a: must be a string"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cJSON *json = json_q(cases[i].json);
		struct elb_dp_err err = {0};
		union elb_addr addr;
		uint8_t family = 0;
		bool present = true;
		char text[ELB_ADDR_TEXT_MAX];
		int rc = elb_json_read_address(json, "s", "a", cases[i].want, &addr, &family,
					       &present, &err);

		CU_ASSERT_EQUAL(rc, cases[i].rc);
		CU_ASSERT_EQUAL(present, rc == 0);
		if (rc == 0) {
			CU_ASSERT_EQUAL(family, cases[i].family);
			CU_ASSERT_STRING_EQUAL(elb_addr_format(&addr, family, text, sizeof(text)),
					       cases[i].text);
		} else {
			expect_err(rc, &err, "s.a", cases[i].text);
		}
		cJSON_Delete(json);
	}
}

static void test_address_text(void)
{
	static const struct {
		const char *in;
		uint16_t port;
		const char *text, *with_port;
	} cases[] = {
		{"192.0.2.1", 443, "192.0.2.1", "192.0.2.1:443"},
		{"10.0.0.255", 0, "10.0.0.255", "10.0.0.255:0"},
		{"255.255.255.255", 65535, "255.255.255.255", "255.255.255.255:65535"},
		{"2001:db8::1", 443, "2001:db8::1", "[2001:db8::1]:443"},
		/* RFC 5952: lowercase, leading zeros dropped, the longest run of
		 * zero groups compressed (the first of two equal runs), a single
		 * zero group not compressed. */
		{"2001:0DB8:0000:0000:0001:0000:0000:0001", 80, "2001:db8::1:0:0:1",
		 "[2001:db8::1:0:0:1]:80"},
		{"2001:db8:0:1:1:1:1:1", 6080, "2001:db8:0:1:1:1:1:1",
		 "[2001:db8:0:1:1:1:1:1]:6080"},
		{"2001:db8:0:0:1:0:0:0", 1, "2001:db8:0:0:1::", "[2001:db8:0:0:1::]:1"},
		{"fe80::", 0, "fe80::", "[fe80::]:0"},
		{"::2", 53, "::2", "[::2]:53"},
		{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535,
		 "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
		 "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535"},
	};
	char text[ELB_ADDR_TEXT_MAX], with_port[ELB_ADDR_PORT_TEXT_MAX], small[8];
	union elb_addr addr;
	uint8_t family;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CU_ASSERT_EQUAL_FATAL(elb_addr_parse(cases[i].in, &addr, &family), 0);
		CU_ASSERT_STRING_EQUAL(elb_addr_format(&addr, family, text, sizeof(text)),
				       cases[i].text);
		CU_ASSERT_STRING_EQUAL(elb_addr_port_format(&addr, family, cases[i].port, with_port,
							    sizeof(with_port)),
				       cases[i].with_port);
	}
	/* IPv4 keeps bytes 4..15 zero, so keys compare all 16. */
	CU_ASSERT_EQUAL(elb_addr_parse("198.51.100.7", &addr, &family), 0);
	CU_ASSERT_EQUAL(family, ELB_AF_INET);
	for (int b = 4; b < 16; b++)
		CU_ASSERT_EQUAL(addr.v6[b], 0);
	CU_ASSERT_EQUAL(elb_addr_parse("::ffff:10.0.0.1", &addr, &family), -EAFNOSUPPORT);
	CU_ASSERT_EQUAL(elb_addr_parse("1.2.3", &addr, &family), -EINVAL);
	CU_ASSERT_EQUAL(elb_addr_parse("", &addr, &family), -EINVAL);
	/* An unknown family, or a buffer too small for the text: "?". */
	CU_ASSERT_EQUAL(elb_addr_parse("2001:db8::1", &addr, &family), 0);
	CU_ASSERT_STRING_EQUAL(elb_addr_format(&addr, 3, text, sizeof(text)), "?");
	CU_ASSERT_STRING_EQUAL(elb_addr_format(&addr, family, small, sizeof(small)), "?");
}

int main(void)
{
	static const struct elb_test_case cases[] = {
		ELB_TEST(test_integer_range_checks),
		ELB_TEST(test_narrow_readers_keep_default_on_error),
		ELB_TEST(test_bool_string_enum),
		ELB_TEST(test_members_and_paths),
		ELB_TEST(test_address_reader),
		ELB_TEST(test_address_text),
		ELB_TEST_END,
	};

	return elb_test_run("json", cases);
}
