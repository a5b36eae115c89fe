/* SPDX-License-Identifier: BSD-3-Clause */
#include "elb_test.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>

int elb_test_run(const char *suite_name, const struct elb_test_case *cases)
{
	CU_pSuite suite;
	unsigned int failures;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	suite = CU_add_suite(suite_name, NULL, NULL);
	if (suite == NULL)
		goto error;
	for (; cases->name != NULL; cases++)
		if (CU_add_test(suite, cases->name, cases->fn) == NULL)
			goto error;
	CU_basic_set_mode(CU_BRM_VERBOSE);
	if (CU_basic_run_tests() != CUE_SUCCESS)
		goto error;
	failures = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
	CU_cleanup_registry();
	return failures == 0 ? 0 : 1;
error:
	fprintf(stderr, "CUnit: %s\n", CU_get_error_msg());
	CU_cleanup_registry();
	return 2;
}

static int hex_value(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

size_t elb_test_hex(const char *hex, uint8_t *out, size_t cap)
{
	size_t n = 0;
	const char *p = hex;

	while (*p) {
		int hi, lo;

		if (isspace((unsigned char)*p)) {
			p++;
			continue;
		}
		if (*p == '#') {
			while (*p && *p != '\n')
				p++;
			continue;
		}
		hi = hex_value((unsigned char)p[0]);
		lo = p[1] ? hex_value((unsigned char)p[1]) : -1;
		if (hi < 0 || lo < 0) {
			fprintf(stderr, "elb_test_hex: bad hex at \"%.10s\"\n", p);
			abort();
		}
		if (n == cap) {
			fprintf(stderr, "elb_test_hex: dump longer than %zu bytes\n", cap);
			abort();
		}
		out[n++] = (uint8_t)(hi << 4 | lo);
		p += 2;
	}
	return n;
}

void elb_test_assert_bytes(const uint8_t *got, size_t got_len, const uint8_t *want,
			   size_t want_len, const char *file, int line)
{
	size_t i, n = got_len < want_len ? got_len : want_len;

	for (i = 0; i < n && got[i] == want[i]; i++)
		;
	if (i == n && got_len == want_len) {
		CU_assertImplementation(CU_TRUE, (unsigned int)line, "bytes equal", file, "", CU_FALSE);
		return;
	}
	if (i < n)
		fprintf(stderr, "%s:%d: bytes differ at offset %zu: got %02x, want %02x\n", file,
			line, i, got[i], want[i]);
	else
		fprintf(stderr, "%s:%d: length %zu, want %zu\n", file, line, got_len, want_len);
	CU_assertImplementation(CU_FALSE, (unsigned int)line, "bytes equal", file, "", CU_FALSE);
}

void elb_test_dump(const char *what, const uint8_t *bytes, size_t n)
{
	fprintf(stderr, "%s (%zu bytes):\n", what, n);
	for (size_t i = 0; i < n; i++)
		fprintf(stderr, "%02x%s", bytes[i], i % 16 == 15 ? "\n" : " ");
	fprintf(stderr, "\n");
}
