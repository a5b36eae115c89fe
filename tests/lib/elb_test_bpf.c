/* SPDX-License-Identifier: BSD-3-Clause */
#include "elb_test_bpf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>

#include "elb_test.h"

/* Room for any frame a test sends plus the largest encapsulation. */
#define XDP_OUT_MAX 4096

int elb_test_xdp_run(int prog_fd, const uint8_t *in, uint32_t in_len, uint8_t *out,
		     uint32_t out_cap, struct elb_test_xdp_out *res)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = in, .data_size_in = in_len,
		    .data_out = out, .data_size_out = out_cap, .repeat = 1);
	int err;

	if (bpf_prog_test_run_opts(prog_fd, &opts)) {
		err = -errno;
		fprintf(stderr, "BPF_PROG_TEST_RUN: %s\n", strerror(-err));
		return err;
	}
	res->action = opts.retval;
	res->len = opts.data_size_out;
	return 0;
}

void elb_test_assert_xdp(int prog_fd, const uint8_t *in, uint32_t in_len, uint32_t want_action,
			 const uint8_t *want, size_t want_len, const char *file, int line)
{
	static uint8_t out[XDP_OUT_MAX];
	struct elb_test_xdp_out res;
	bool ran = elb_test_xdp_run(prog_fd, in, in_len, out, sizeof(out), &res) == 0;

	CU_assertImplementation(ran ? CU_TRUE : CU_FALSE, (unsigned int)line,
				"BPF_PROG_TEST_RUN ran", file, "", CU_FALSE);
	if (!ran)
		return;
	if (res.action != want_action)
		fprintf(stderr, "%s:%d: XDP action %u, want %u\n", file, line, res.action,
			want_action);
	CU_assertImplementation(res.action == want_action ? CU_TRUE : CU_FALSE,
				(unsigned int)line, "XDP action", file, "", CU_FALSE);
	if (want_len > 0)
		elb_test_assert_bytes(out, res.len, want, want_len, file, line);
}
