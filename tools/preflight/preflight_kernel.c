/* SPDX-License-Identifier: BSD-3-Clause */
/* What edgelb-xdp needs of the kernel: kernel, bpf-jit, bpffs, lockdown. */
#include "preflight_checks.h"

#include <stdio.h>
#include <string.h>

/* edgelb-xdp needs 5.10: see check_kernel_version. */
#define PF_XDP_MIN_MAJOR 5
#define PF_XDP_MIN_MINOR 10

/* ------------------------------------------------------------------ */
/* kernel, bpf-jit, bpffs, lockdown (XDP)                              */

static int check_kernel_version(const struct pf_input *in, struct pf_report *report)
{
	char release[128];
	unsigned int major = 0, minor = 0;
	int rc = pf_read_text(in->root, "/proc/sys/kernel/osrelease", release, sizeof(release));

	if (rc < 0 || sscanf(release, "%u.%u", &major, &minor) != 2)
		return pf_add(report, "kernel", NULL, PF_WARN, PF_FIX_UNREADABLE,
			      "cannot read the kernel release (/proc/sys/kernel/osrelease)");
	if (major > PF_XDP_MIN_MAJOR || (major == PF_XDP_MIN_MAJOR && minor >= PF_XDP_MIN_MINOR))
		return pf_add(report, "kernel", NULL, PF_PASS, NULL,
			      "%s: %d.%d or later, every BPF feature edgelb-xdp uses is there",
			      release, PF_XDP_MIN_MAJOR, PF_XDP_MIN_MINOR);
	return pf_add(report, "kernel", NULL, PF_FAIL,
		      "apt-get install linux-image-amd64 (Debian 12: 6.1) and reboot",
		      "%s is below %d.%d: edgelb-xdp needs bpf_jiffies64 (5.5), batch map lookups "
		      "(5.6) and map-element iterators (5.9); 5.10 is the first long-term kernel "
		      "with all of them",
		      release, PF_XDP_MIN_MAJOR, PF_XDP_MIN_MINOR);
}

static int check_bpf_jit(const struct pf_input *in, struct pf_report *report)
{
	long jit;

	if (pf_read_long(in->root, "/proc/sys/net/core/bpf_jit_enable", &jit))
		return pf_add(report, "bpf-jit", NULL, PF_WARN,
			      "boot a kernel with CONFIG_BPF_JIT=y (Debian's has it)",
			      "no /proc/sys/net/core/bpf_jit_enable: this kernel has no BPF JIT, "
			      "the program runs in the interpreter, several times slower");
	if (jit == 1)
		return pf_add(report, "bpf-jit", NULL, PF_PASS, NULL,
			      "BPF JIT on: the program runs as native code");
	if (jit == 2)
		return pf_add(report, "bpf-jit", NULL, PF_WARN, "sysctl -w net.core.bpf_jit_enable=1",
			      "BPF JIT in debug mode (2): every compiled image is dumped to the "
			      "kernel log");
	return pf_add(report, "bpf-jit", NULL, PF_WARN, "sysctl -w net.core.bpf_jit_enable=1",
		      "BPF JIT off: the program runs in the interpreter, several times slower");
}

static int check_bpffs(const struct pf_input *in, struct pf_report *report)
{
	int mounted = pf_find_mount(in->root, "bpf", "/sys/fs/bpf", NULL, 0);

	if (mounted < 0)
		return pf_add(report, "bpffs", NULL, PF_WARN, PF_FIX_UNREADABLE, "cannot read /proc/mounts (%s)",
			      strerror(-mounted));
	if (mounted)
		return pf_add(report, "bpffs", NULL, PF_PASS, NULL,
			      "bpffs on /sys/fs/bpf: edgelb-xdp pins its maps under "
			      "/sys/fs/bpf/edgelb/<iface>, so flows survive its restarts");
	/* Not a fail: edgelb-xdp mounts one there itself (ensure_bpffs in
	 * xdp_main.c). A mount of its own lasts as long as its mount
	 * namespace, which is what a boot-time mount avoids. */
	return pf_add(report, "bpffs", NULL, PF_WARN,
		      "mount -t bpf bpf /sys/fs/bpf (for every boot: a line in /etc/fstab, "
		      "'bpf /sys/fs/bpf bpf defaults 0 0')",
		      "no bpffs on /sys/fs/bpf: edgelb-xdp mounts one itself at start; mounted at "
		      "boot it also outlives the agent's mount namespace, and with it the pinned "
		      "flows");
}

static int check_lockdown(const struct pf_input *in, struct pf_report *report)
{
	char text[128], mode[32];
	const char *open_bracket, *close_bracket;
	int rc = pf_read_text(in->root, "/sys/kernel/security/lockdown", text, sizeof(text));

	if (rc < 0) {
		if (pf_find_mount(in->root, "securityfs", NULL, NULL, 0) == 1)
			return pf_add(report, "lockdown", NULL, PF_PASS, NULL,
				      "no lockdown in this kernel (securityfs has no lockdown file)");
		return pf_add(report, "lockdown", NULL, PF_WARN,
			      "mount -t securityfs securityfs /sys/kernel/security",
			      "securityfs not mounted: the lockdown mode cannot be read");
	}
	open_bracket = strchr(text, '[');
	close_bracket = open_bracket ? strchr(open_bracket, ']') : NULL;
	if (close_bracket == NULL)
		return pf_add(report, "lockdown", NULL, PF_WARN, "cat /sys/kernel/security/lockdown",
			      "unexpected /sys/kernel/security/lockdown: '%s'", text);
	snprintf(mode, sizeof(mode), "%.*s", (int)(close_bracket - open_bracket - 1),
		 open_bracket + 1);
	if (strcmp(mode, "none") == 0)
		return pf_add(report, "lockdown", NULL, PF_PASS, NULL,
			      "lockdown none: flow counts use the BPF iterator");
	/* The balancer itself loads and runs under either mode; the flow
	 * counter's map iterator is a tracing program, which the kernel
	 * refuses with EPERM under integrity and confidentiality
	 * (xdp_flow_count.c falls back, tests/bpf/test_xdp_flow_count.c runs
	 * whichever walk the kernel allows). */
	return pf_add(report, "lockdown", NULL, PF_WARN,
		      "nothing is required (counts still work); for the iterator: no lockdown= on "
		      "the kernel command line and, under Secure Boot, mokutil --disable-validation",
		      "lockdown %s: flow counts use the batch lookup, the BPF iterator is refused "
		      "(a tracing program); the balancer is unaffected, and status.get's "
		      "flow_count says batch_lookup",
		      mode);
}

int pf_check_xdp_kernel(const struct pf_input *in, struct pf_report *report)
{
	static const pf_check_fn checks[] = {check_kernel_version, check_bpf_jit, check_bpffs,
					     check_lockdown};

	return pf_check_each(in, report, checks, ELB_ARRAY_SIZE(checks));
}
