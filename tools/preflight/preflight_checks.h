/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * edgelb-preflight's checks: what a host lacks for a dataplane
 * configuration, before the dataplane starts.
 *
 * Each check reads files under in->root (preflight_sysfs.h) and adds
 * findings to a report: pass, warn or fail, a one-line explanation and,
 * unless it passes, the command that fixes it. A fail is what keeps the
 * dataplane from starting or makes it lose packets; a warn is what costs
 * performance or predictability. The findings of a run, in order:
 *
 *   DPDK   config, lcores, hugetlbfs, hugepages (one per NUMA node edgelb-dp
 *          allocates on), mbufs, isolcpus, nohz_full, rcu_nocbs,
 *          irq-affinity, irqbalance, cpufreq, nic-driver (per port), iommu
 *          (unless every port is bifurcated), nic-numa and rx-queues (per
 *          port), mtu (per VIP)
 *   XDP    config, kernel, bpf-jit, bpffs, lockdown, xdp-driver, rx-queues,
 *          nic-numa (with --lcores), cpufreq, mtu (per VIP)
 *
 * docs/deploy.md says what each one means to an operator.
 *
 * Nothing here exits or prints: checks return 0 or -errno (-ENOMEM); what
 * they could not read of the host is a finding, not an error.
 */
#ifndef PREFLIGHT_CHECKS_H
#define PREFLIGHT_CHECKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "elb_config.h"
#include "preflight_need.h"
#include "preflight_sysfs.h"

#define PF_ID_MAX 24
#define PF_SUBJECT_MAX 80
#define PF_TEXT_MAX 640
#define PF_FIX_MAX 640
#define PF_PCI_ADDR_MAX 16 /* "0000:03:00.0" */
#define PF_IFNAME_MAX 16   /* IFNAMSIZ */

enum pf_status {
	PF_PASS = 0,
	PF_WARN,
	PF_FAIL,
};

enum pf_dataplane {
	PF_DATAPLANE_DPDK = 0,
	PF_DATAPLANE_XDP,
};

struct pf_finding {
	char id[PF_ID_MAX];           /* "hugepages", "nic-driver"... */
	char subject[PF_SUBJECT_MAX]; /* "node0", a PCI address, a VIP; "" for the host */
	enum pf_status status;
	char text[PF_TEXT_MAX];       /* one line: what was found and what it means */
	char fix[PF_FIX_MAX];         /* one command (line); "" when nothing is to be done */
};

struct pf_report {
	struct pf_finding *findings;
	size_t n;
	size_t cap;
};

/* What the dataplane will be started with, and where the host is. */
struct pf_input {
	const char *root; /* prefix of every /sys and /proc path */
	enum pf_dataplane dataplane;
	bool have_lcores;
	char lcores_arg[256];     /* as given to --lcores */
	struct pf_cpuset lcores;  /* every lcore */
	struct pf_cpuset workers; /* every lcore but the main one (DPDK); all of them (XDP) */
	int main_lcore;           /* DPDK: the lowest lcore, as EAL picks it; -1 for XDP */
	unsigned int n_ports;
	char ports[DP_MAX_PORTS][PF_PCI_ADDR_MAX]; /* DPDK: "0000:03:00.0" */
	char iface[PF_IFNAME_MAX];                 /* XDP */
	bool xdp_generic;                          /* edgelb-xdp --mode generic */
	uint32_t flows;                            /* DPDK: --flows of edgelb-dp */
	uint32_t mbufs;                            /* DPDK: --mbufs of edgelb-dp */
	uint32_t path_mtu;                         /* 0: the egress port's MTU alone */
	const char *config_path;                   /* NULL: no config given */
	/* Set by pf_input_load_config. */
	struct elb_dp_config *config; /* NULL when not given or not loaded */
	int config_rc;
	struct elb_dp_err config_err;
};

/* Load in->config_path with the dataplanes' own loader (elb_config.h); a
 * failure is kept for the "config" finding. Returns 0 (the outcome is in
 * in->config_rc). */
int pf_input_load_config(struct pf_input *in);
void pf_input_release(struct pf_input *in);

/*
 * Add a finding. text and fix are printf formats; fix may be NULL.
 * @return 0 or -ENOMEM.
 */
int pf_add(struct pf_report *report, const char *id, const char *subject, enum pf_status status,
	   const char *fix, const char *text_format, ...) __attribute__((format(printf, 6, 7)));
void pf_report_free(struct pf_report *report);
/* 1 if any finding failed, else 0: the process exit status. */
int pf_report_exit_status(const struct pf_report *report);
const char *pf_status_name(enum pf_status status);

/* Every check that applies to in->dataplane, in the order above.
 * @return 0 or -ENOMEM. */
int pf_run_checks(const struct pf_input *in, struct pf_report *report);

/* The checks one by one (pf_run_checks calls them); each returns 0 or
 * -ENOMEM. */
int pf_check_config(const struct pf_input *in, struct pf_report *report);
int pf_check_lcores(const struct pf_input *in, const struct pf_memory_need *need,
		    struct pf_report *report);
int pf_check_hugepages(const struct pf_input *in, const struct pf_memory_need *need,
		       struct pf_report *report);
int pf_check_mbufs(const struct pf_input *in, const struct pf_memory_need *need,
		   struct pf_report *report);
int pf_check_cpu_isolation(const struct pf_input *in, struct pf_report *report);
int pf_check_irqs(const struct pf_input *in, struct pf_report *report);
int pf_check_cpufreq(const struct pf_input *in, struct pf_report *report);
int pf_check_dpdk_ports(const struct pf_input *in, struct pf_report *report);
int pf_check_xdp_kernel(const struct pf_input *in, struct pf_report *report);
int pf_check_xdp_iface(const struct pf_input *in, struct pf_report *report);
int pf_check_mtu(const struct pf_input *in, struct pf_report *report);

/* A check that needs only the input. */
typedef int (*pf_check_fn)(const struct pf_input *in, struct pf_report *report);
/* checks[0..n) in order, up to the first that fails. @return 0 or its code. */
int pf_check_each(const struct pf_input *in, struct pf_report *report, const pf_check_fn *checks,
		  size_t n);

/* ---- Shared by the check files ---- */

/* The fix of a finding whose files could not be read. */
#define PF_FIX_UNREADABLE "run as root, with --root naming a host's / (it must hold /proc and /sys)"

/* Buffers for CPU lists and sizes in messages. */
#define PF_LIST_MAX 256
#define PF_SIZE_MAX 32

/* Is root "/" (so that the kernel may be asked directly, not only files)? */
bool pf_root_is_this_host(const char *root);
/* CPUs whose frequency and placement matter: every lcore (DPDK); the
 * --lcores given, else every online CPU (XDP, where the kernel runs the
 * program on whichever CPU takes a queue's interrupt). @return 0 or -errno. */
int pf_packet_cpus(const struct pf_input *in, struct pf_cpuset *out);

/*
 * Drivers that run XDP programs natively (ndo_bpf with XDP_SETUP_PROG), by
 * the name their "driver" link in sysfs has: the kernel's list as of 6.x.
 * NULL-terminated.
 */
extern const char *const pf_native_xdp_drivers[];

#endif /* PREFLIGHT_CHECKS_H */
