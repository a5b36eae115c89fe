/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What the XDP dataplane's C tests share beyond tests/lib (the harness,
 * frames, BPF_PROG_TEST_RUN): the clock, CPU pinning, kernel lockdown, a
 * bpffs of the test's own, and putting a config (a format with one %s for the backends) in force
 * through xdp_ops.apply as edgelb-xdp does.
 */
#ifndef XDP_TEST_H
#define XDP_TEST_H

#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "elb_config.h"
#include "elb_dp_api.h"
#include "elb_test.h"
#include "elb_test_bpf.h"
#include "elb_test_frames.h"
#include "xdp.h"

static inline int pin_to(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set);
}

/*
 * Whether the kernel runs in lockdown (integrity or confidentiality), which
 * refuses tracing programs. Read from securityfs; where it is not mounted
 * (a host as it comes), mounted in a mount namespace of this process's
 * own, which ends with it.
 */
static inline bool kernel_locked_down(void)
{
	const char *path = "/sys/kernel/security/lockdown";
	char line[128] = "";
	FILE *f = fopen(path, "r");

	if (f == NULL && unshare(CLONE_NEWNS) == 0 &&
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0 &&
	    mount("securityfs", "/sys/kernel/security", "securityfs", 0, NULL) == 0)
		f = fopen(path, "r");
	if (f == NULL)
		return false; /* no lockdown LSM in this kernel */
	if (fgets(line, sizeof(line), f) == NULL)
		line[0] = '\0';
	fclose(f);
	return strstr(line, "[integrity]") != NULL || strstr(line, "[confidentiality]") != NULL;
}

/*
 * A bpffs of the test's own at /tmp/<name>.<pid> (dir, len bytes), in a
 * mount namespace of its own, gone with the process. @return 0, or 77
 * (skip) without the right to mount, or 1 (message printed).
 */
static inline int xdp_test_bpffs(char *dir, size_t len, const char *name)
{
	snprintf(dir, len, "/tmp/%s.%d", name, (int)getpid());
	if (mkdir(dir, 0700) || unshare(CLONE_NEWNS) ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) || mount("bpf", dir, "bpf", 0, NULL)) {
		int rc = errno == EPERM ? 77 : 1;

		perror("a bpffs for the test");
		rmdir(dir);
		return rc;
	}
	return 0;
}

/*
 * Parse `fmt` with `backends` in its %s and apply it to dp as the next
 * epoch. *in_force is the config in force: the dataplane may point into it
 * until the next apply, so it is freed only then. @return 0 or -errno.
 */
static inline int xdp_test_apply(struct xdp_dataplane *dp, const char *fmt, const char *backends,
				 struct elb_dp_config **in_force, uint64_t *epoch)
{
	char text[2048], errtext[ELB_DP_APPLY_ERR_MAX];
	struct elb_dp_config *config = NULL;
	struct elb_dp_err err;
	int rc;

	snprintf(text, sizeof(text), fmt, backends);
	rc = elb_dp_config_parse(text, strlen(text), &config, &err);
	if (rc < 0) {
		fprintf(stderr, "config: %s\n", err.text);
		return rc;
	}
	rc = xdp_ops.apply(dp, config, ++*epoch, errtext, sizeof(errtext));
	if (rc) {
		fprintf(stderr, "apply: %s\n", errtext);
		elb_dp_config_free(config);
		return rc;
	}
	elb_dp_config_free(*in_force);
	*in_force = config;
	return 0;
}

#endif /* XDP_TEST_H */
