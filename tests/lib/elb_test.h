/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The C tests' one harness (CUnit): each test file lists its cases and
 * calls elb_test_run() from main. Expected packets are written in the tests
 * as hex dumps (elb_test_hex) or built with elb_test_frames.h, never
 * produced by the code under test.
 */
#ifndef ELB_TEST_H
#define ELB_TEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <CUnit/CUnit.h>

struct elb_test_case {
	const char *name;
	void (*fn)(void);
};

#define ELB_TEST(fn) {#fn, fn}
#define ELB_TEST_END {NULL, NULL}

/* Runs one suite; returns the process exit status (0 only if every
 * assertion passed). */
int elb_test_run(const char *suite, const struct elb_test_case *cases);

/*
 * Parse a hex dump ("45 00 00 3c", line breaks and "# comments" allowed)
 * into out; returns the byte count. Aborts the test program on a malformed
 * dump or one longer than cap: a broken fixture is a broken test.
 */
size_t elb_test_hex(const char *hex, uint8_t *out, size_t cap);

/* xorshift64*: the tests' fixed-seed PRNG, so that a failure reproduces. */
static inline uint64_t elb_test_rng(uint64_t *state)
{
	*state ^= *state >> 12;
	*state ^= *state << 25;
	*state ^= *state >> 27;
	return *state * 0x2545f4914f6cdd1dull;
}

/* Asserts that got[0..got_len) equals want[0..want_len), printing the first
 * differing offset on failure. */
#define ELB_ASSERT_BYTES(got, got_len, want, want_len)                                    \
	elb_test_assert_bytes((got), (got_len), (want), (want_len), __FILE__, __LINE__)
void elb_test_assert_bytes(const uint8_t *got, size_t got_len, const uint8_t *want,
			   size_t want_len, const char *file, int line);

/*
 * A CUnit assertion that also prints why it failed: the condition, then a
 * printf-style message with the values that explain it (for checks inside
 * loops, where the line alone does not say which case failed).
 */
#define ELB_CHECK(cond, ...)                                                               \
	do {                                                                               \
		bool elb_check_ok_ = (cond);                                               \
		if (!elb_check_ok_) {                                                      \
			fprintf(stderr, "%s:%d: %s: ", __FILE__, __LINE__, #cond);         \
			fprintf(stderr, __VA_ARGS__);                                      \
			fputc('\n', stderr);                                               \
		}                                                                          \
		CU_assertImplementation(elb_check_ok_ ? CU_TRUE : CU_FALSE,                \
					(unsigned int)__LINE__, #cond, __FILE__, "",       \
					CU_FALSE);                                         \
	} while (0)

/* Writes n bytes as a hex dump (16 a line) to stderr, titled `what`. */
void elb_test_dump(const char *what, const uint8_t *bytes, size_t n);

#endif /* ELB_TEST_H */
