/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The NIC findings: for DPDK each port's driver, the IOMMU, the port's
 * NUMA node and queues; for XDP the interface's driver, queues and node.
 */
#include "preflight_checks.h"

#include <stdio.h>
#include <string.h>

#include "elb_iface.h"

const char *const pf_native_xdp_drivers[] = {
	/* virtual */
	"veth", "virtio_net", "tun", "hv_netvsc", "vif" /* xen-netfront */, "vmxnet3",
	/* Intel */
	"ixgbe", "ixgbevf", "i40e", "ice", "igb", "igc",
	/* NVIDIA/Mellanox (the PCI drivers' names) */
	"mlx4_core", "mlx5_core",
	/* others */
	"bnxt_en", "nfp", "qede", "thunder-nicvf", "ena", "gve", "mana", "sfc", "sfc_siena",
	"stmmaceth", "mvneta", "mvpp2", "rvu_nicpf", "rvu_nicvf", "fsl_dpaa2_eth", "fsl_dpa",
	"fsl_enetc", "fsl_enetc_vf", "fec", "netsec", "cpsw", "lan966x-switch", "atlantic",
	"ionic", "mtk_soc_eth", "tsnep", "funeth",
	NULL,
};

/* ------------------------------------------------------------------ */
/* nic-driver, iommu, nic-numa, rx-queues (DPDK)                       */

enum port_binding {
	PORT_MISSING = 0,  /* no such PCI device */
	PORT_UNBOUND,      /* no driver */
	PORT_VFIO,         /* vfio-pci: DPDK's */
	PORT_UIO,          /* uio_pci_generic, igb_uio: DPDK's, without IOMMU protection */
	PORT_BIFURCATED,   /* mlx5_core, mlx4_core: the kernel driver, shared with the PMD */
	PORT_KERNEL,       /* any other kernel driver: must be rebound */
};

struct port_state {
	enum port_binding binding;
	char driver[64];
	char netdev[PF_IFNAME_MAX]; /* its kernel interface, "" if none */
};

/* The kernel interface of a PCI device: ADDR/net/IF, or ADDR/virtioN/net/IF
 * for virtio. */
static void pci_netdev(const char *root, const char *addr, char *out, size_t len)
{
	char dir[PF_PATH_MAX], virtio[64];

	out[0] = '\0';
	snprintf(dir, sizeof(dir), "/sys/bus/pci/devices/%s/net", addr);
	if (pf_first_entry(root, dir, "", out, len) == 1)
		return;
	snprintf(dir, sizeof(dir), "/sys/bus/pci/devices/%s", addr);
	if (pf_first_entry(root, dir, "virtio", virtio, sizeof(virtio)) != 1)
		return;
	snprintf(dir, sizeof(dir), "/sys/bus/pci/devices/%s/%s/net", addr, virtio);
	if (pf_first_entry(root, dir, "", out, len) != 1)
		out[0] = '\0';
}

static void read_port(const struct pf_input *in, const char *addr, struct port_state *st)
{
	char path[PF_PATH_MAX];

	memset(st, 0, sizeof(*st));
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s", addr);
	if (!pf_exists(in->root, path)) {
		st->binding = PORT_MISSING;
		return;
	}
	pci_netdev(in->root, addr, st->netdev, sizeof(st->netdev));
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver", addr);
	if (pf_read_link_name(in->root, path, st->driver, sizeof(st->driver)) < 0)
		st->binding = PORT_UNBOUND;
	else if (strcmp(st->driver, "vfio-pci") == 0)
		st->binding = PORT_VFIO;
	else if (strcmp(st->driver, "uio_pci_generic") == 0 || strcmp(st->driver, "igb_uio") == 0)
		st->binding = PORT_UIO;
	else if (strcmp(st->driver, "mlx5_core") == 0 || strcmp(st->driver, "mlx4_core") == 0)
		st->binding = PORT_BIFURCATED;
	else
		st->binding = PORT_KERNEL;
}

static int check_port_driver(const char *addr, const struct port_state *st,
			     struct pf_report *report)
{
	char fix[PF_FIX_MAX];

	switch (st->binding) {
	case PORT_MISSING:
		return pf_add(report, "nic-driver", addr, PF_FAIL, "lspci -D -d ::0200",
			      "no PCI device %s: EAL's -a names a device that is not there", addr);
	case PORT_UNBOUND:
		snprintf(fix, sizeof(fix), "modprobe vfio-pci && dpdk-devbind.py --bind=vfio-pci %s",
			 addr);
		return pf_add(report, "nic-driver", addr, PF_FAIL, fix,
			      "no driver bound: no PMD can reach the device");
	case PORT_VFIO:
		return pf_add(report, "nic-driver", addr, PF_PASS, NULL,
			      "bound to vfio-pci: DPDK's PMD drives it");
	case PORT_UIO:
		snprintf(fix, sizeof(fix), "dpdk-devbind.py --bind=vfio-pci %s", addr);
		return pf_add(report, "nic-driver", addr, PF_WARN, fix,
			      "bound to %s: works, but the NIC can DMA anywhere in memory (no IOMMU "
			      "protection); vfio-pci is the supported way",
			      st->driver);
	case PORT_BIFURCATED:
		return pf_add(report, "nic-driver", addr, PF_PASS, NULL,
			      "on %s%s%s: bifurcated, DPDK's mlx PMD drives it beside the kernel "
			      "driver (leave it bound; needs rdma-core)",
			      st->driver, st->netdev[0] ? ", " : "", st->netdev);
	case PORT_KERNEL:
		if (st->netdev[0])
			snprintf(fix, sizeof(fix),
				 "ip link set dev %s down && modprobe vfio-pci && "
				 "dpdk-devbind.py --bind=vfio-pci %s",
				 st->netdev, addr);
		else
			snprintf(fix, sizeof(fix),
				 "modprobe vfio-pci && dpdk-devbind.py --bind=vfio-pci %s", addr);
		return pf_add(report, "nic-driver", addr, PF_FAIL, fix,
			      "held by the kernel driver %s%s%s: DPDK cannot drive it until it is "
			      "bound to vfio-pci",
			      st->driver, st->netdev[0] ? " as " : "", st->netdev);
	}
	return 0;
}

static int check_iommu(const struct pf_input *in, struct pf_report *report)
{
	char vendor[32], noiommu[8], fix[PF_FIX_MAX];
	const char *params;
	int groups = pf_count_entries(in->root, "/sys/kernel/iommu_groups", "");

	if (groups > 0)
		return pf_add(report, "iommu", NULL, PF_PASS, NULL,
			      "IOMMU on (%d groups in /sys/kernel/iommu_groups): vfio-pci can map "
			      "the NIC's DMA",
			      groups);
	if (pf_read_text(in->root, "/sys/module/vfio/parameters/enable_unsafe_noiommu_mode",
			 noiommu, sizeof(noiommu)) >= 0 &&
	    (noiommu[0] == 'Y' || noiommu[0] == '1'))
		return pf_add(report, "iommu", NULL, PF_WARN,
			      "add intel_iommu=on iommu=pt (AMD: amd_iommu=on iommu=pt) to the "
			      "kernel command line and reboot",
			      "no IOMMU, vfio in no-IOMMU mode: it works, but the NIC can DMA "
			      "anywhere in memory and the kernel is tainted");
	if (pf_is_virtual_machine(in->root))
		return pf_add(report, "iommu", NULL, PF_FAIL,
			      "echo 1 > /sys/module/vfio/parameters/enable_unsafe_noiommu_mode "
			      "(or give the VM a virtual IOMMU)",
			      "no IOMMU in this virtual machine (no IOMMU groups): vfio-pci "
			      "cannot take the NIC");
	pf_cpu_vendor(in->root, vendor, sizeof(vendor));
	params = strcmp(vendor, "AuthenticAMD") == 0 ? "amd_iommu=on iommu=pt"
						      : "intel_iommu=on iommu=pt";
	snprintf(fix, sizeof(fix),
		 "sed -i 's/^GRUB_CMDLINE_LINUX=\"/&%s /' /etc/default/grub && update-grub && "
		 "reboot (and enable VT-d/AMD-Vi in the firmware)",
		 params);
	return pf_add(report, "iommu", NULL, PF_FAIL, fix,
		      "no IOMMU groups: vfio-pci cannot take the NIC (the IOMMU is off in the "
		      "firmware or on the kernel command line)");
}

/* The CPUs of set that are not on node (node_of: each CPU's node). */
static void cpus_off_node(const struct pf_cpuset *set, const int *node_of, long node,
			  struct pf_cpuset *off)
{
	pf_cpuset_clear(off);
	for (int cpu = pf_cpuset_first(set); cpu >= 0; cpu = pf_cpuset_next(set, cpu))
		if (node_of[cpu] != node)
			pf_cpuset_add(off, (unsigned int)cpu);
}

static int check_port_numa(const struct pf_input *in, const char *addr, const int *node_of,
			   struct pf_report *report)
{
	char path[PF_PATH_MAX], fix[PF_FIX_MAX], elsewhere[PF_LIST_MAX], suggestion[PF_LIST_MAX];
	struct pf_cpuset off_node, online, on_node;
	unsigned int want = pf_cpuset_count(&in->lcores), picked = 0;
	long node;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/numa_node", addr);
	if (pf_read_long(in->root, path, &node) || node < 0)
		return pf_add(report, "nic-numa", addr, PF_PASS, NULL,
			      "no NUMA node reported (one node, or a VM): nothing to place");
	cpus_off_node(&in->lcores, node_of, node, &off_node);
	if (pf_cpuset_count(&off_node) == 0)
		return pf_add(report, "nic-numa", addr, PF_PASS, NULL,
			      "node %ld, like every lcore", node);
	/* The first online CPUs of the NIC's node, as many as lcores given. */
	pf_cpuset_clear(&on_node);
	if (pf_online_cpus(in->root, &online) == 0)
		for (int cpu = pf_cpuset_first(&online); cpu >= 0 && picked < want;
		     cpu = pf_cpuset_next(&online, cpu))
			if (node_of[cpu] == node) {
				pf_cpuset_add(&on_node, (unsigned int)cpu);
				picked++;
			}
	if (picked == want)
		snprintf(fix, sizeof(fix), "--lcores %s (EAL -l), and hugepages on node %ld",
			 pf_cpuset_format(&on_node, suggestion, sizeof(suggestion)), node);
	else
		snprintf(fix, sizeof(fix), "choose lcores among node %ld's CPUs "
			 "(/sys/devices/system/node/node%ld/cpulist)", node, node);
	return pf_add(report, "nic-numa", addr, PF_WARN, fix,
		      "NIC on node %ld, lcores %s elsewhere: %s crosses the interconnect", node,
		      pf_cpuset_format(&off_node, elsewhere, sizeof(elsewhere)),
		      pf_cpuset_has(&off_node, (unsigned int)in->main_lcore)
			      ? "every packet's DMA into the mbuf pool (on the main lcore's node) "
				"and every worker's read"
			      : "every packet a worker reads");
}

static int check_port_queues(const struct pf_input *in, const char *addr,
			     const struct port_state *st, struct pf_report *report)
{
	char dir[PF_PATH_MAX], fix[PF_FIX_MAX];
	unsigned int workers = pf_cpuset_count(&in->workers);
	int queues;

	if (workers <= 1)
		return pf_add(report, "rx-queues", addr, PF_PASS, NULL,
			      "one worker: one RX queue is all it polls");
	switch (st->binding) {
	case PORT_VFIO:
	case PORT_UIO:
		return pf_add(report, "rx-queues", addr, PF_PASS, NULL,
			      "bound to %s, so its queues are not visible here: edgelb-dp asks for "
			      "%u with RSS at start and names any worker left idle (fewer queues: "
			      "fewer workers fed; no RSS: worker 0 alone)",
			      st->driver, workers);
	case PORT_BIFURCATED:
		return pf_add(report, "rx-queues", addr, PF_PASS, NULL,
			      "the mlx PMD opens its own %u RSS queues beside the kernel's", workers);
	case PORT_KERNEL:
		break;
	default:
		return 0; /* nic-driver says what is wrong */
	}
	if (st->netdev[0] == '\0')
		return pf_add(report, "rx-queues", addr, PF_PASS, NULL,
			      "no kernel interface to count queues on: edgelb-dp counts them at "
			      "start");
	snprintf(dir, sizeof(dir), "/sys/class/net/%s/queues", st->netdev);
	queues = pf_count_entries(in->root, dir, "rx-");
	if (queues >= (int)workers)
		return pf_add(report, "rx-queues", addr, PF_PASS, NULL,
			      "%s: %d RX queues in the kernel, enough for %u workers", st->netdev,
			      queues, workers);
	snprintf(fix, sizeof(fix), "ethtool -l %s (its 'Pre-set maximums' are the device's)",
		 st->netdev);
	return pf_add(report, "rx-queues", addr, PF_WARN, fix,
		      "%s: %d RX queue%s in the kernel for %u workers: unless the device has %u, "
		      "edgelb-dp feeds only as many workers as it has queues (one queue: worker 0 "
		      "alone) and leaves the others idle",
		      st->netdev, queues < 0 ? 0 : queues, queues == 1 ? "" : "s", workers, workers);
}

int pf_check_dpdk_ports(const struct pf_input *in, struct pf_report *report)
{
	int node_of[PF_MAX_CPUS]; /* 16 KiB */
	struct port_state states[DP_MAX_PORTS];
	bool need_vfio = false;
	int rc;

	for (unsigned int p = 0; p < in->n_ports; p++) {
		read_port(in, in->ports[p], &states[p]);
		rc = check_port_driver(in->ports[p], &states[p], report);
		if (rc)
			return rc;
		need_vfio |= states[p].binding != PORT_BIFURCATED && states[p].binding != PORT_MISSING;
	}
	if (need_vfio) {
		rc = check_iommu(in, report);
		if (rc)
			return rc;
	}
	pf_cpu_nodes(in->root, node_of);
	for (unsigned int p = 0; p < in->n_ports; p++) {
		if (states[p].binding == PORT_MISSING)
			continue;
		rc = check_port_numa(in, in->ports[p], node_of, report);
		if (rc)
			return rc;
	}
	for (unsigned int p = 0; p < in->n_ports; p++) {
		if (states[p].binding == PORT_MISSING)
			continue;
		rc = check_port_queues(in, in->ports[p], &states[p], report);
		if (rc)
			return rc;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* xdp-driver, rx-queues, nic-numa (XDP)                               */

static bool is_native_xdp_driver(const char *driver)
{
	for (const char *const *d = pf_native_xdp_drivers; *d; d++)
		if (strcmp(*d, driver) == 0)
			return true;
	return false;
}

static int check_xdp_driver(const struct pf_input *in, struct pf_report *report)
{
	char path[PF_PATH_MAX], driver[64], fix[PF_FIX_MAX];
	bool from_sysfs;

	snprintf(path, sizeof(path), "/sys/class/net/%s/device/driver", in->iface);
	from_sysfs = pf_read_link_name(in->root, path, driver, sizeof(driver)) >= 0;
	/* A virtual interface has no device link: ask the kernel when the root
	 * is this host's. */
	if (!from_sysfs && (!pf_root_is_this_host(in->root) ||
			    elb_iface_driver(in->iface, driver, sizeof(driver)) < 0))
		driver[0] = '\0';
	if (in->xdp_generic)
		return pf_add(report, "xdp-driver", in->iface, PF_PASS, NULL,
			      "generic mode: any driver%s%s (the kernel's skb path, slower than "
			      "native)",
			      driver[0] ? ", here " : "", driver);
	if (driver[0] && is_native_xdp_driver(driver))
		return pf_add(report, "xdp-driver", in->iface, PF_PASS, NULL,
			      "%s runs XDP natively (the kernel's list of native-XDP drivers as of "
			      "6.x)",
			      driver);
	snprintf(fix, sizeof(fix), "edgelb-xdp --iface %s --mode generic ...", in->iface);
	if (driver[0] == '\0')
		return pf_add(report, "xdp-driver", in->iface, PF_WARN, fix,
			      "no device driver in sysfs (a virtual interface?): native mode is "
			      "only sure with a driver of the kernel's native-XDP list");
	return pf_add(report, "xdp-driver", in->iface, PF_WARN, fix,
		      "%s is not in the kernel's list of native-XDP drivers as of 6.x: --mode "
		      "native may fail to attach; generic mode works on any interface, slower",
		      driver);
}

static int check_xdp_queues(const struct pf_input *in, struct pf_report *report)
{
	char dir[PF_PATH_MAX], fix[PF_FIX_MAX];
	struct pf_cpuset cpus;
	unsigned int want;
	int queues;

	if (pf_packet_cpus(in, &cpus))
		pf_cpuset_clear(&cpus);
	want = pf_cpuset_count(&cpus);
	snprintf(dir, sizeof(dir), "/sys/class/net/%s/queues", in->iface);
	queues = pf_count_entries(in->root, dir, "rx-");
	if (queues < 0)
		return pf_add(report, "rx-queues", in->iface, PF_WARN, PF_FIX_UNREADABLE,
			      "cannot count %s's RX queues (%s)", in->iface, strerror(-queues));
	if (want <= 1 || queues >= (int)want)
		return pf_add(report, "rx-queues", in->iface, PF_PASS, NULL,
			      "%d RX queue%s for %u CPU%s: RSS keeps each flow on one CPU's flow "
			      "table",
			      queues, queues == 1 ? "" : "s", want, want == 1 ? "" : "s");
	snprintf(fix, sizeof(fix), "ethtool -L %s combined %u", in->iface, want);
	if (queues == 1)
		return pf_add(report, "rx-queues", in->iface, PF_WARN, fix,
			      "one RX queue: every packet is handled on one CPU (for a veth, "
			      "steer with RPS instead)");
	return pf_add(report, "rx-queues", in->iface, PF_WARN, fix,
		      "%d RX queues for %u CPUs: only %d CPUs handle packets", queues, want,
		      queues);
}

static int check_xdp_numa(const struct pf_input *in, struct pf_report *report)
{
	int node_of[PF_MAX_CPUS]; /* 16 KiB */
	char path[PF_PATH_MAX], elsewhere[PF_LIST_MAX], fix[PF_FIX_MAX];
	struct pf_cpuset off_node;
	long node;

	snprintf(path, sizeof(path), "/sys/class/net/%s/device/numa_node", in->iface);
	if (pf_read_long(in->root, path, &node) || node < 0)
		return pf_add(report, "nic-numa", in->iface, PF_PASS, NULL,
			      "no NUMA node reported (one node, a VM or a virtual interface)");
	pf_cpu_nodes(in->root, node_of);
	cpus_off_node(&in->lcores, node_of, node, &off_node);
	if (pf_cpuset_count(&off_node) == 0)
		return pf_add(report, "nic-numa", in->iface, PF_PASS, NULL,
			      "node %ld, like CPUs %s", node, in->lcores_arg);
	snprintf(fix, sizeof(fix),
		 "point the queues' IRQs at node %ld's CPUs "
		 "(/sys/devices/system/node/node%ld/cpulist) in /proc/irq/N/smp_affinity_list",
		 node, node);
	return pf_add(report, "nic-numa", in->iface, PF_WARN, fix,
		      "NIC on node %ld, CPUs %s elsewhere: each packet crosses the interconnect",
		      node, pf_cpuset_format(&off_node, elsewhere, sizeof(elsewhere)));
}

int pf_check_xdp_iface(const struct pf_input *in, struct pf_report *report)
{
	char path[PF_PATH_MAX];
	int rc;

	snprintf(path, sizeof(path), "/sys/class/net/%s", in->iface);
	if (!pf_exists(in->root, path))
		return pf_add(report, "xdp-driver", in->iface, PF_FAIL, "ip -br link",
			      "no interface %s", in->iface);
	rc = check_xdp_driver(in, report);
	if (rc == 0)
		rc = check_xdp_queues(in, report);
	if (rc == 0 && in->have_lcores)
		rc = check_xdp_numa(in, report);
	return rc;
}
