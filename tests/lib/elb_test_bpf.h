/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Running a loaded XDP program on one frame with BPF_PROG_TEST_RUN, for the
 * tests that load BPF programs (tests/bpf): the program's action and its
 * output frame, and an assertion on both.
 */
#ifndef ELB_TEST_BPF_H
#define ELB_TEST_BPF_H

#include <stddef.h>
#include <stdint.h>

/* What one run gave back. */
struct elb_test_xdp_out {
	uint32_t action;  /* XDP_PASS, XDP_TX, ... */
	uint32_t len;     /* bytes in out */
};

/*
 * Run prog_fd once on in[0..in_len); the output frame goes to out (up to
 * out_cap bytes; out may be NULL with out_cap 0). @return 0, or -errno
 * (with a line on stderr) when the kernel refused the run.
 */
int elb_test_xdp_run(int prog_fd, const uint8_t *in, uint32_t in_len, uint8_t *out,
		     uint32_t out_cap, struct elb_test_xdp_out *res);

/*
 * Run prog_fd once on in and assert (CUnit) the action and, for want_len > 0,
 * that the output frame is want[0..want_len) byte for byte.
 */
#define ELB_ASSERT_XDP(prog_fd, in, in_len, want_action, want, want_len)                     \
	elb_test_assert_xdp((prog_fd), (in), (in_len), (want_action), (want), (want_len),    \
			    __FILE__, __LINE__)
void elb_test_assert_xdp(int prog_fd, const uint8_t *in, uint32_t in_len, uint32_t want_action,
			 const uint8_t *want, size_t want_len, const char *file, int line);

#endif /* ELB_TEST_BPF_H */
