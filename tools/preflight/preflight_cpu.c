/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The CPU findings of the DPDK dataplane: lcores, isolcpus, nohz_full,
 * rcu_nocbs, irq-affinity, irqbalance. A worker polls without pause: what
 * else runs on its CPU (a task, the tick, RCU callbacks, an interrupt) is
 * time taken from packets.
 */
#include "preflight_checks.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* IRQ numbers quoted in a message before "...". */
#define PF_IRQS_QUOTED 8

/* ------------------------------------------------------------------ */
/* lcores                                                              */

int pf_check_lcores(const struct pf_input *in, const struct pf_memory_need *need,
		    struct pf_report *report)
{
	char lcores[PF_LIST_MAX], workers[PF_LIST_MAX], online_list[PF_LIST_MAX];
	char fix[PF_FIX_MAX];
	struct pf_cpuset online, offline;
	unsigned int n_workers = pf_cpuset_count(&in->workers);
	int rc;

	pf_cpuset_format(&in->lcores, lcores, sizeof(lcores));
	pf_cpuset_format(&in->workers, workers, sizeof(workers));
	rc = pf_online_cpus(in->root, &online);
	if (rc < 0)
		return pf_add(report, "lcores", NULL, PF_WARN, PF_FIX_UNREADABLE,
			      "cannot read /sys/devices/system/cpu/online (%s): lcores %s unchecked",
			      strerror(-rc), lcores);
	pf_cpuset_format(&online, online_list, sizeof(online_list));
	pf_cpuset_andnot(&offline, &in->lcores, &online);
	if (pf_cpuset_count(&offline) > 0) {
		char missing[PF_LIST_MAX];

		snprintf(fix, sizeof(fix), "pick --lcores (EAL -l) among the online CPUs %s",
			 online_list);
		return pf_add(report, "lcores", NULL, PF_FAIL, fix,
			      "lcores %s are not online CPUs (online: %s): EAL refuses to start",
			      pf_cpuset_format(&offline, missing, sizeof(missing)), online_list);
	}
	if (n_workers == 0) {
		int second = pf_cpuset_next(&online, in->main_lcore);

		if (second < 0)
			snprintf(fix, sizeof(fix), "this host has one online CPU: edgelb-dp needs two");
		else
			snprintf(fix, sizeof(fix), "--lcores %d,%d (EAL -l %d,%d)", in->main_lcore,
				 second, in->main_lcore, second);
		return pf_add(report, "lcores", NULL, PF_FAIL, fix,
			      "lcores %s: only the main lcore, edgelb-dp needs at least one worker "
			      "lcore besides it",
			      lcores);
	}
	if (n_workers > need->max_workers) {
		snprintf(fix, sizeof(fix),
			 "give --lcores (EAL -l) at most %u CPUs: the main lcore and %u workers",
			 need->max_workers + 1, need->max_workers);
		return pf_add(report, "lcores", NULL, PF_WARN, fix,
			      "%u workers: edgelb-dp uses the first %u and leaves the others idle",
			      n_workers, need->max_workers);
	}
	return pf_add(report, "lcores", NULL, PF_PASS, NULL,
		      "main lcore %d (the lowest, as EAL picks it), worker%s %s", in->main_lcore,
		      n_workers == 1 ? "" : "s", workers);
}

/* ------------------------------------------------------------------ */
/* isolcpus, nohz_full, rcu_nocbs                                      */

/* The CPU list of a boot parameter's value, past flags such as
 * isolcpus=nohz,domain,managed_irq,2-5. */
static const char *param_cpu_list(const char *value)
{
	const char *p = value;

	while (*p && !(*p >= '0' && *p <= '9') && !(p[0] == 'N' && (p[1] == '\0' || p[1] == ','))) {
		const char *comma = strchr(p, ',');

		if (comma == NULL)
			return p + strlen(p);
		p = comma + 1;
	}
	return p;
}

/* The command that puts `param` on the kernel command line with the
 * workers added to what it already lists. */
static void boot_param_fix(const char *root, const char *param, const struct pf_cpuset *workers,
			   char *fix, size_t len)
{
	char value[PF_LIST_MAX], list[PF_LIST_MAX], flags[PF_LIST_MAX];
	struct pf_cpuset want = *workers, present;
	int found = pf_cmdline_param(root, param, value, sizeof(value));

	if (found > 0) {
		const char *cpus = param_cpu_list(value);

		snprintf(flags, sizeof(flags), "%.*s", (int)(cpus - value), value);
		if (pf_cpuset_parse(cpus, -1, &present) == 0)
			pf_cpuset_or(&want, &present);
		pf_cpuset_format(&want, list, sizeof(list));
		snprintf(fix, len,
			 "sed -i 's/%s=[^ \"]*/%s=%s%s/' /etc/default/grub && update-grub && reboot",
			 param, param, flags, list);
	} else {
		pf_cpuset_format(&want, list, sizeof(list));
		snprintf(fix, len,
			 "sed -i 's/^GRUB_CMDLINE_LINUX=\"/&%s=%s /' /etc/default/grub && "
			 "update-grub && reboot",
			 param, list);
	}
}

/* A CPU list file that may hold "(null)" or nothing: the empty set then. */
static int read_cpu_list_file(const char *root, const char *path, struct pf_cpuset *out)
{
	char text[4096];
	int rc = pf_read_text(root, path, text, sizeof(text));

	if (rc < 0)
		return rc;
	if (pf_cpuset_parse(text, -1, out))
		pf_cpuset_clear(out);
	return 0;
}

/* The CPUs a boot parameter lists; the empty set when absent. */
static void boot_param_cpus(const char *root, const char *param, struct pf_cpuset *out)
{
	char value[PF_LIST_MAX];

	pf_cpuset_clear(out);
	if (pf_cmdline_param(root, param, value, sizeof(value)) > 0 &&
	    pf_cpuset_parse(param_cpu_list(value), -1, out))
		pf_cpuset_clear(out);
}

static int check_cpus_covered(const struct pf_input *in, const char *id,
			      const struct pf_cpuset *covered, const char *source,
			      const char *pass_why, const char *warn_why, struct pf_report *report)
{
	char workers[PF_LIST_MAX], have[PF_LIST_MAX], fix[PF_FIX_MAX];

	bool one = pf_cpuset_count(&in->workers) == 1;

	pf_cpuset_format(&in->workers, workers, sizeof(workers));
	pf_cpuset_format(covered, have, sizeof(have));
	if (pf_cpuset_is_subset(&in->workers, covered))
		return pf_add(report, id, NULL, PF_PASS, NULL, "worker%s %s in %s (%s): %s",
			      one ? "" : "s", workers, id, have, pass_why);
	boot_param_fix(in->root, id, &in->workers, fix, sizeof(fix));
	return pf_add(report, id, NULL, PF_WARN, fix, "worker%s %s not%s in %s (%s: %s): %s",
		      one ? "" : "s", workers, one ? "" : " all", id, source,
		      have[0] ? have : "none", warn_why);
}

int pf_check_cpu_isolation(const struct pf_input *in, struct pf_report *report)
{
	struct pf_cpuset isolated, nohz_full, nocbs;
	bool have_nohz_file;
	int rc;

	/* The kernel's own view first (what it applied), the command line
	 * when the file is missing. */
	if (read_cpu_list_file(in->root, "/sys/devices/system/cpu/isolated", &isolated))
		boot_param_cpus(in->root, "isolcpus", &isolated);
	rc = check_cpus_covered(in, "isolcpus", &isolated, "/sys/devices/system/cpu/isolated",
				"the scheduler puts no other task there",
				"any task may be scheduled on a worker and stall its polling for "
				"milliseconds",
				report);
	if (rc)
		return rc;

	have_nohz_file = read_cpu_list_file(in->root, "/sys/devices/system/cpu/nohz_full",
					    &nohz_full) == 0;
	if (!have_nohz_file) {
		pf_cpuset_clear(&nohz_full);
		rc = pf_add(report, "nohz_full", NULL, PF_WARN,
			    "boot a kernel with CONFIG_NO_HZ_FULL=y (Debian's has it), then add "
			    "nohz_full=<workers> to its command line",
			    "this kernel has no nohz_full (no /sys/devices/system/cpu/nohz_full): "
			    "the scheduler tick interrupts every worker 100 to 1000 times a second");
	} else {
		rc = check_cpus_covered(in, "nohz_full", &nohz_full,
					"/sys/devices/system/cpu/nohz_full",
					"no scheduler tick while the worker runs alone",
					"the scheduler tick interrupts each worker 100 to 1000 times a "
					"second",
					report);
	}
	if (rc)
		return rc;

	/* nohz_full CPUs are offloaded too (rcu_init_nohz adds them). */
	boot_param_cpus(in->root, "rcu_nocbs", &nocbs);
	pf_cpuset_or(&nocbs, &nohz_full);
	return check_cpus_covered(in, "rcu_nocbs", &nocbs, "/proc/cmdline rcu_nocbs and nohz_full",
				  "RCU callbacks run on other CPUs",
				  "RCU callbacks run on the workers, in softirq, between bursts",
				  report);
}

/* ------------------------------------------------------------------ */
/* irq-affinity, irqbalance                                            */

static int compare_irq(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;

	return (x > y) - (x < y);
}

static int check_irq_affinity(const struct pf_input *in, struct pf_report *report)
{
	char dir[PF_PATH_MAX], path[PF_PATH_MAX], text[4096], quoted[PF_TEXT_MAX / 2];
	char workers[PF_LIST_MAX], housekeeping_list[PF_LIST_MAX], fix[PF_FIX_MAX];
	struct pf_cpuset online, housekeeping;
	struct dirent *e;
	long on_workers[PF_IRQS_QUOTED + 1];
	unsigned int total = 0, n_on_workers = 0;
	size_t used = 0;
	DIR *d;
	int rc;

	pf_cpuset_format(&in->workers, workers, sizeof(workers));
	rc = pf_path(in->root, "/proc/irq", dir, sizeof(dir));
	if (rc)
		return rc;
	d = opendir(dir);
	if (d == NULL)
		return pf_add(report, "irq-affinity", NULL, PF_WARN, PF_FIX_UNREADABLE,
			      "cannot list /proc/irq (%s): IRQ placement unchecked", strerror(errno));
	while ((e = readdir(d)) != NULL) {
		struct pf_cpuset affinity;
		char *end;
		long irq = strtol(e->d_name, &end, 10);

		if (end == e->d_name || *end)
			continue;
		snprintf(path, sizeof(path), "/proc/irq/%ld/smp_affinity_list", irq);
		if (pf_read_text(in->root, path, text, sizeof(text)) < 0 ||
		    pf_cpuset_parse(text, -1, &affinity))
			continue;
		total++;
		if (!pf_cpuset_intersects(&affinity, &in->workers))
			continue;
		/* Keep the lowest few to quote: replace the highest kept. */
		if (n_on_workers <= PF_IRQS_QUOTED) {
			on_workers[n_on_workers] = irq;
		} else {
			qsort(on_workers, PF_IRQS_QUOTED + 1, sizeof(on_workers[0]), compare_irq);
			if (irq < on_workers[PF_IRQS_QUOTED])
				on_workers[PF_IRQS_QUOTED] = irq;
		}
		n_on_workers++;
	}
	closedir(d);
	if (n_on_workers == 0)
		return pf_add(report, "irq-affinity", NULL, PF_PASS, NULL,
			      "none of %u IRQs may run on workers %s", total, workers);
	qsort(on_workers, n_on_workers <= PF_IRQS_QUOTED ? n_on_workers : PF_IRQS_QUOTED + 1,
	      sizeof(on_workers[0]), compare_irq);
	quoted[0] = '\0';
	for (unsigned int i = 0; i < n_on_workers && i < PF_IRQS_QUOTED; i++)
		used += (size_t)snprintf(quoted + used, sizeof(quoted) - used, "%s%ld",
					 i ? " " : "", on_workers[i]);
	if (n_on_workers > PF_IRQS_QUOTED)
		snprintf(quoted + used, sizeof(quoted) - used, " ...");
	/* Everything online but the workers; the main lcore at least. */
	if (pf_online_cpus(in->root, &online))
		pf_cpuset_clear(&online);
	pf_cpuset_andnot(&housekeeping, &online, &in->workers);
	if (pf_cpuset_count(&housekeeping) == 0)
		pf_cpuset_add(&housekeeping, (unsigned int)(in->main_lcore >= 0 ? in->main_lcore : 0));
	pf_cpuset_format(&housekeeping, housekeeping_list, sizeof(housekeeping_list));
	snprintf(fix, sizeof(fix),
		 "for f in /proc/irq/[0-9]*/smp_affinity_list; do echo %s > $f; done 2>/dev/null",
		 housekeeping_list);
	return pf_add(report, "irq-affinity", NULL, PF_WARN, fix,
		      "%u of %u IRQs may run on workers %s (%s): each one interrupts a worker's "
		      "polling loop",
		      n_on_workers, total, workers, quoted);
}

/* irqbalance's banned CPUs from its environment: IRQBALANCE_BANNED_CPULIST
 * (a list) or IRQBALANCE_BANNED_CPUS (a hex mask, 32-bit groups with
 * commas). 1 when one was set, 0 when none. */
static int irqbalance_banned(const char *root, long pid, struct pf_cpuset *banned)
{
	char path[PF_PATH_MAX], env[32768];
	int len, set = 0;

	snprintf(path, sizeof(path), "/proc/%ld/environ", pid);
	len = pf_read_bytes(root, path, env, sizeof(env) - 1);
	if (len < 0)
		return 0;
	env[len] = '\0';
	pf_cpuset_clear(banned);
	for (int i = 0; i < len; i += (int)strlen(env + i) + 1) {
		const char *var = env + i;

		if (strncmp(var, "IRQBALANCE_BANNED_CPULIST=", 26) == 0) {
			if (pf_cpuset_parse(var + 26, -1, banned) == 0)
				set = 1;
		} else if (strncmp(var, "IRQBALANCE_BANNED_CPUS=", 23) == 0 && !set) {
			const char *hex = var + 23;
			size_t n = strlen(hex);
			unsigned int bit = 0;

			/* The mask's last digit is CPUs 0-3. */
			for (size_t k = n; k > 0 && bit < PF_MAX_CPUS; k--) {
				char c = hex[k - 1];
				unsigned int digit;

				if (c == ',')
					continue;
				if (c >= '0' && c <= '9')
					digit = (unsigned int)(c - '0');
				else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
					digit = (unsigned int)((c | 0x20) - 'a' + 10);
				else
					break;
				for (unsigned int b = 0; b < 4; b++)
					if (digit >> b & 1)
						pf_cpuset_add(banned, bit + b);
				bit += 4;
			}
			set = 1;
		}
	}
	return set;
}

static int check_irqbalance(const struct pf_input *in, struct pf_report *report)
{
	struct pf_cpuset avoided, nohz_full;
	char workers[PF_LIST_MAX], list[PF_LIST_MAX], fix[PF_FIX_MAX];
	long pid = 0;
	int found = pf_find_process(in->root, "irqbalance", &pid);
	bool from_env;

	pf_cpuset_format(&in->workers, workers, sizeof(workers));
	if (found < 0)
		return pf_add(report, "irqbalance", NULL, PF_WARN, PF_FIX_UNREADABLE,
			      "cannot list /proc (%s): irqbalance unchecked", strerror(-found));
	if (found == 0)
		return pf_add(report, "irqbalance", NULL, PF_PASS, NULL,
			      "irqbalance not running: IRQs stay where they are put");
	/* irqbalance 1.9 (Debian 12) keeps off the CPUs its environment bans,
	 * else off the isolated and nohz_full ones. */
	from_env = irqbalance_banned(in->root, pid, &avoided) == 1;
	if (!from_env) {
		if (read_cpu_list_file(in->root, "/sys/devices/system/cpu/isolated", &avoided))
			pf_cpuset_clear(&avoided);
		if (read_cpu_list_file(in->root, "/sys/devices/system/cpu/nohz_full", &nohz_full) == 0)
			pf_cpuset_or(&avoided, &nohz_full);
	}
	pf_cpuset_format(&avoided, list, sizeof(list));
	if (pf_cpuset_is_subset(&in->workers, &avoided))
		return pf_add(report, "irqbalance", NULL, PF_PASS, NULL,
			      "irqbalance (pid %ld) keeps off workers %s (%s: %s)", pid, workers,
			      from_env ? "banned in its environment" : "isolated or nohz_full", list);
	snprintf(fix, sizeof(fix),
		 "systemctl disable --now irqbalance (or IRQBALANCE_BANNED_CPULIST=%s in "
		 "/etc/default/irqbalance, then systemctl restart irqbalance)",
		 workers);
	return pf_add(report, "irqbalance", NULL, PF_WARN, fix,
		      "irqbalance (pid %ld) may move IRQs onto workers %s (it avoids %s)", pid,
		      workers, list[0] ? list : "none");
}

int pf_check_irqs(const struct pf_input *in, struct pf_report *report)
{
	int rc = check_irq_affinity(in, report);

	return rc ? rc : check_irqbalance(in, report);
}
