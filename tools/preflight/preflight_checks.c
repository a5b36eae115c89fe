/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The findings and their report, the checks both dataplanes share (config,
 * cpufreq, mtu) and the order pf_run_checks runs them in. The others, one
 * file per concern: preflight_cpu.c (lcores, isolation, IRQs),
 * preflight_memory.c (hugepages, mbufs), preflight_nic.c (the NIC, for DPDK
 * and XDP), preflight_kernel.c (what edgelb-xdp needs of the kernel).
 */
#include "preflight_checks.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "elb_encap.h"

/* What a client on the Internet sends at most: the Ethernet MTU. */
#define PF_CLIENT_MTU 1500u

const char *pf_status_name(enum pf_status status)
{
	switch (status) {
	case PF_PASS:
		return "pass";
	case PF_WARN:
		return "warn";
	case PF_FAIL:
		return "fail";
	}
	return "?";
}

int pf_add(struct pf_report *report, const char *id, const char *subject, enum pf_status status,
	   const char *fix, const char *text_format, ...)
{
	struct pf_finding *f;
	va_list ap;

	if (report->n == report->cap) {
		size_t cap = report->cap ? report->cap * 2 : 16;
		struct pf_finding *grown = realloc(report->findings, cap * sizeof(*grown));

		if (grown == NULL)
			return -ENOMEM;
		report->findings = grown;
		report->cap = cap;
	}
	f = &report->findings[report->n++];
	memset(f, 0, sizeof(*f));
	snprintf(f->id, sizeof(f->id), "%s", id);
	snprintf(f->subject, sizeof(f->subject), "%s", subject ? subject : "");
	f->status = status;
	va_start(ap, text_format);
	vsnprintf(f->text, sizeof(f->text), text_format, ap);
	va_end(ap);
	snprintf(f->fix, sizeof(f->fix), "%s", fix ? fix : "");
	return 0;
}

void pf_report_free(struct pf_report *report)
{
	free(report->findings);
	memset(report, 0, sizeof(*report));
}

int pf_report_exit_status(const struct pf_report *report)
{
	for (size_t i = 0; i < report->n; i++)
		if (report->findings[i].status == PF_FAIL)
			return 1;
	return 0;
}

int pf_input_load_config(struct pf_input *in)
{
	in->config = NULL;
	in->config_rc = 0;
	memset(&in->config_err, 0, sizeof(in->config_err));
	if (in->config_path)
		in->config_rc = elb_dp_config_load_file(in->config_path, &in->config,
							&in->config_err);
	return 0;
}

void pf_input_release(struct pf_input *in)
{
	elb_dp_config_free(in->config);
	in->config = NULL;
}

bool pf_root_is_this_host(const char *root)
{
	return strspn(root, "/") == strlen(root);
}

int pf_packet_cpus(const struct pf_input *in, struct pf_cpuset *out)
{
	if (in->have_lcores) {
		*out = in->lcores;
		return 0;
	}
	return pf_online_cpus(in->root, out);
}

static bool is_dpdk(const struct pf_input *in)
{
	return in->dataplane == PF_DATAPLANE_DPDK;
}

/* ------------------------------------------------------------------ */
/* config                                                              */

int pf_check_config(const struct pf_input *in, struct pf_report *report)
{
	uint32_t backends = 0;

	if (in->config_path == NULL)
		return pf_add(report, "config", NULL, PF_WARN,
			      "edgelb-preflight ... --config /etc/edgelb/dp.json",
			      "no --config: the VIPs' MTU budget is not checked");
	if (in->config_rc < 0)
		return pf_add(report, "config", NULL, PF_FAIL,
			      "edit the member named (docs/dataplane-protocol.md has each one)",
			      "the dataplane would refuse it at start: %s", in->config_err.text);
	for (uint32_t i = 0; i < in->config->n_vips; i++)
		backends += in->config->vips[i].n_backends;
	return pf_add(report, "config", NULL, PF_PASS, NULL,
		      "%s: %u VIP%s, %u backend%s (loaded by the dataplanes' own loader)",
		      in->config_path, in->config->n_vips, in->config->n_vips == 1 ? "" : "s",
		      backends, backends == 1 ? "" : "s");
}

/* ------------------------------------------------------------------ */
/* cpufreq                                                             */

int pf_check_cpufreq(const struct pf_input *in, struct pf_report *report)
{
	char path[PF_PATH_MAX], governor[64], slow[PF_TEXT_MAX / 2], list[PF_LIST_MAX];
	char missing_list[PF_LIST_MAX], fix[PF_FIX_MAX], slow_cpus_list[PF_LIST_MAX];
	struct pf_cpuset cpus, missing, slow_cpus;
	size_t used = 0;
	int rc = pf_packet_cpus(in, &cpus);

	if (rc)
		return pf_add(report, "cpufreq", NULL, PF_WARN, PF_FIX_UNREADABLE,
			      "cannot read the online CPUs (%s): governors unchecked", strerror(-rc));
	pf_cpuset_clear(&missing);
	pf_cpuset_clear(&slow_cpus);
	slow[0] = '\0';
	for (int cpu = pf_cpuset_first(&cpus); cpu >= 0; cpu = pf_cpuset_next(&cpus, cpu)) {
		snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu%d/cpufreq/scaling_governor",
			 cpu);
		if (pf_read_text(in->root, path, governor, sizeof(governor)) < 0) {
			pf_cpuset_add(&missing, (unsigned int)cpu);
			continue;
		}
		if (strcmp(governor, "performance") == 0)
			continue;
		pf_cpuset_add(&slow_cpus, (unsigned int)cpu);
		if (used < sizeof(slow))
			used += (size_t)snprintf(slow + used, sizeof(slow) - used, "%scpu%d %s",
						 used ? ", " : "", cpu, governor);
	}
	pf_cpuset_format(&cpus, list, sizeof(list));
	pf_cpuset_format(&missing, missing_list, sizeof(missing_list));
	if (pf_cpuset_count(&slow_cpus) > 0) {
		pf_cpuset_format(&slow_cpus, slow_cpus_list, sizeof(slow_cpus_list));
		/* cpupower takes the kernel's list syntax. */
		snprintf(fix, sizeof(fix), "cpupower -c %s frequency-set -g performance",
			 slow_cpus_list);
		return pf_add(report, "cpufreq", NULL, PF_WARN, fix,
			      "%s: a polling core at a lowered clock handles fewer packets, and its "
			      "clock changes with load",
			      slow);
	}
	if (pf_cpuset_count(&missing) == pf_cpuset_count(&cpus)) {
		if (pf_is_virtual_machine(in->root))
			return pf_add(report, "cpufreq", NULL, PF_WARN,
				      "nothing to set in the guest: on the host, pin these vCPUs to "
				      "dedicated cores whose governor is performance",
				      "no cpufreq for CPUs %s: a virtual machine ('hypervisor' in "
				      "/proc/cpuinfo), the host decides the clock",
				      list);
		return pf_add(report, "cpufreq", NULL, PF_WARN,
			      "modprobe acpi-cpufreq (or set the firmware's power profile to maximum "
			      "performance)",
			      "no cpufreq for CPUs %s: no frequency driver loaded, the firmware "
			      "decides the clock",
			      list);
	}
	if (pf_cpuset_count(&missing) > 0)
		return pf_add(report, "cpufreq", NULL, PF_WARN, "modprobe acpi-cpufreq",
			      "no cpufreq for CPUs %s (the others run performance)", missing_list);
	return pf_add(report, "cpufreq", NULL, PF_PASS, NULL, "governor performance on CPUs %s",
		      list);
}

/* ------------------------------------------------------------------ */
/* mtu                                                                 */

/* The MTU of the link packets leave by: a dataplane sends each packet out
 * of the port it came in on (edgelb-dp: the port, at DPDK's default MTU;
 * edgelb-xdp: XDP_TX on its interface). */
static int egress_mtu(const struct pf_input *in, unsigned int *mtu, char *source, size_t len)
{
	char path[PF_PATH_MAX];
	long value;

	if (is_dpdk(in)) {
		*mtu = pf_dpdk_port_mtu();
		snprintf(source, len, "edgelb-dp's port MTU, DPDK's default: it sets none");
		return *mtu ? 0 : -ENOTSUP;
	}
	snprintf(path, sizeof(path), "/sys/class/net/%s/mtu", in->iface);
	if (pf_read_long(in->root, path, &value) || value <= 0)
		return -ENOENT;
	*mtu = (unsigned int)value;
	snprintf(source, len, "%s's MTU", in->iface);
	return 0;
}

/* The most the encapsulation adds for this VIP: over its backends'
 * families (the outer header is the backend's), elb_encap_overhead. */
static uint32_t vip_overhead(const struct elb_dp_vip *vip, char *what, size_t len)
{
	bool gue = vip->encap == ELB_DP_ENCAP_GUE;
	uint8_t family = vip->key.family;
	uint32_t most = 0;

	for (uint32_t b = 0; b < vip->n_backends; b++) {
		uint32_t overhead = elb_encap_overhead(vip->backends[b].family, gue);

		if (overhead > most) {
			most = overhead;
			family = vip->backends[b].family;
		}
	}
	if (vip->n_backends == 0)
		most = elb_encap_overhead(family, gue);
	snprintf(what, len, "%s%s, IPv%c outer%s", gue ? "GUE" : "IP-in-IP",
		 gue ? " (UDP)" : "", family == ELB_AF_INET ? '4' : '6',
		 vip->n_backends == 0 ? "; no backends yet, the VIP's family assumed" : "");
	return most;
}

int pf_check_mtu(const struct pf_input *in, struct pf_report *report)
{
	char source[128], what[96], subject[ELB_DP_VIP_KEY_STR_MAX], fix[PF_FIX_MAX];
	unsigned int egress = 0, path;
	bool have_egress;
	int rc;

	if (in->config == NULL)
		return 0; /* the config finding says why */
	have_egress = egress_mtu(in, &egress, source, sizeof(source)) == 0;
	if (in->path_mtu && (!have_egress || in->path_mtu <= egress)) {
		path = in->path_mtu;
		snprintf(source, sizeof(source), "--path-mtu");
	} else if (have_egress) {
		path = egress;
	} else {
		path = 0;
	}
	for (uint32_t i = 0; i < in->config->n_vips; i++) {
		const struct elb_dp_vip *vip = &in->config->vips[i];
		uint32_t overhead = vip_overhead(vip, what, sizeof(what));
		uint32_t inner = vip->mtu > overhead ? vip->mtu - overhead : 0;

		elb_dp_vip_key_str(&vip->key, subject, sizeof(subject));
		if (path == 0) {
			rc = pf_add(report, "mtu", subject, PF_WARN,
				    "edgelb-preflight ... --path-mtu N",
				    "path MTU unknown (no MTU for %s): outer packets up to %u bytes "
				    "unchecked",
				    in->iface, vip->mtu);
		} else if (vip->mtu > path) {
			snprintf(fix, sizeof(fix), "set vips[%u].mtu to %u in %s", i, path,
				 in->config_path);
			rc = pf_add(report, "mtu", subject, PF_FAIL, fix,
				    "mtu %u > path MTU %u (%s): outer packets of %u to %u bytes are "
				    "lost on the way to the backends and no ICMP too-big reaches the "
				    "client",
				    vip->mtu, path, source, path + 1, vip->mtu);
		} else if (in->path_mtu && vip->mtu < path) {
			snprintf(fix, sizeof(fix), "set vips[%u].mtu to %u in %s", i, path,
				 in->config_path);
			rc = pf_add(report, "mtu", subject, PF_WARN, fix,
				    "mtu %u < path MTU %u (%s): clients get ICMP too-big above %u "
				    "bytes where %u would fit (overhead %u: %s)",
				    vip->mtu, path, source, inner, path - overhead, overhead, what);
		} else {
			rc = pf_add(report, "mtu", subject, PF_PASS, NULL,
				    "outer packets up to %u bytes fit the path MTU %u (%s); client "
				    "packets above %u bytes%s get ICMP too-big (overhead %u: %s)",
				    vip->mtu, path, source, inner,
				    inner < PF_CLIENT_MTU ? ", full-size 1500-byte ones included," : "",
				    overhead, what);
		}
		if (rc)
			return rc;
	}
	return 0;
}

/* ------------------------------------------------------------------ */

int pf_check_each(const struct pf_input *in, struct pf_report *report, const pf_check_fn *checks,
		  size_t n)
{
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = checks[i](in, report);
	return rc;
}

int pf_run_checks(const struct pf_input *in, struct pf_report *report)
{
	/* After the memory checks (lcores, hugepages, mbufs), which need the
	 * memory sizing. */
	static const pf_check_fn dpdk_checks[] = {pf_check_cpu_isolation, pf_check_irqs,
						  pf_check_cpufreq, pf_check_dpdk_ports,
						  pf_check_mtu};
	static const pf_check_fn xdp_checks[] = {pf_check_xdp_kernel, pf_check_xdp_iface,
						 pf_check_cpufreq, pf_check_mtu};
	struct pf_memory_need need;
	int rc = pf_check_config(in, report);

	if (rc)
		return rc;
	if (is_dpdk(in)) {
		rc = pf_memory_need(in->flows, in->mbufs,
				    pf_cpuset_count(&in->workers) ? pf_cpuset_count(&in->workers) : 1,
				    in->n_ports ? in->n_ports : 1, &need);
		if (rc)
			return rc;
		rc = pf_check_lcores(in, &need, report);
		if (rc == 0)
			rc = pf_check_hugepages(in, &need, report);
		if (rc == 0)
			rc = pf_check_mbufs(in, &need, report);
		return rc ? rc : pf_check_each(in, report, dpdk_checks, ELB_ARRAY_SIZE(dpdk_checks));
	}
	return pf_check_each(in, report, xdp_checks, ELB_ARRAY_SIZE(xdp_checks));
}
