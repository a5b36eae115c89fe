/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The memory findings of the DPDK dataplane: hugetlbfs, hugepages per NUMA
 * node, mbufs. What edgelb-dp takes comes from preflight_need.c; here it is
 * placed on the nodes edgelb-dp allocates on and held against what each
 * node has free.
 */
#include "preflight_checks.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* hugetlbfs, hugepages                                                */

#define PF_MAX_NODES 64
#define PF_MAX_PAGE_SIZES 8

/* The page sizes EAL can use: one per hugetlbfs mount, its pagesize=
 * option or the default size (EAL ignores sizes without a mount). */
struct hugetlbfs_mounts {
	uint64_t default_size;
	uint64_t sizes[PF_MAX_PAGE_SIZES];
	unsigned int n;
	char first_point[256];
};

static int note_hugetlbfs(const char *where, const char *type, const char *options, void *arg)
{
	struct hugetlbfs_mounts *m = arg;
	uint64_t size = m->default_size;
	const char *opt = strstr(options, "pagesize=");
	bool known = false;

	if (strcmp(type, "hugetlbfs") != 0)
		return 0;
	if (opt) {
		char value[32];

		snprintf(value, sizeof(value), "%.*s", (int)strcspn(opt + 9, ","), opt + 9);
		if (pf_parse_size(value, &size))
			size = m->default_size;
	}
	if (m->n == 0)
		snprintf(m->first_point, sizeof(m->first_point), "%s", where);
	for (unsigned int i = 0; i < m->n; i++)
		known |= m->sizes[i] == size;
	if (!known && m->n < PF_MAX_PAGE_SIZES)
		m->sizes[m->n++] = size;
	return 0;
}

static int read_hugetlbfs_mounts(const char *root, struct hugetlbfs_mounts *m)
{
	uint64_t kib = 2048;

	memset(m, 0, sizeof(*m));
	/* Without the line (no hugetlb in the kernel), 2 MiB: x86's size. */
	pf_meminfo_kib(root, "Hugepagesize", &kib);
	m->default_size = kib << 10;
	return pf_each_mount(root, note_hugetlbfs, m);
}

struct node_pages {
	uint64_t size;
	long nr;
	long free;
	bool usable; /* a hugetlbfs of this size is mounted */
};

/* The hugepage pools of one node (or of the host without NUMA). */
static int read_node_pages(const char *root, const char *dir, const struct hugetlbfs_mounts *m,
			   struct node_pages *pages, unsigned int max)
{
	char path[PF_PATH_MAX], name[64];
	unsigned int n = 0;

	/* Each size's directory is "hugepages-<kB>kB": try the sizes the
	 * kernel offers on x86-64 and arm64, plus the mounted ones. */
	static const uint64_t candidates_kib[] = {64, 2048, 32768, 524288, 1048576, 16777216};
	uint64_t sizes_kib[PF_MAX_PAGE_SIZES + 6];
	unsigned int n_sizes = 0;

	for (size_t i = 0; i < sizeof(candidates_kib) / sizeof(candidates_kib[0]); i++)
		sizes_kib[n_sizes++] = candidates_kib[i];
	for (unsigned int i = 0; i < m->n; i++) {
		bool known = false;

		for (unsigned int j = 0; j < n_sizes; j++)
			known |= sizes_kib[j] == m->sizes[i] >> 10;
		if (!known)
			sizes_kib[n_sizes++] = m->sizes[i] >> 10;
	}
	for (unsigned int i = 0; i < n_sizes && n < max; i++) {
		struct node_pages p = {.size = sizes_kib[i] << 10};

		snprintf(name, sizeof(name), "hugepages-%llukB", (unsigned long long)sizes_kib[i]);
		if (pf_format(path, sizeof(path), "%s/%s/nr_hugepages", dir, name) ||
		    pf_read_long(root, path, &p.nr))
			continue;
		if (pf_format(path, sizeof(path), "%s/%s/free_hugepages", dir, name) ||
		    pf_read_long(root, path, &p.free))
			p.free = 0;
		/* With nothing mounted the hugetlbfs finding fails already;
		 * count every size so that this one still says what is free. */
		p.usable = m->n == 0;
		for (unsigned int j = 0; j < m->n; j++)
			p.usable |= m->sizes[j] == p.size;
		pages[n++] = p;
	}
	return (int)n;
}

/* What edgelb-dp puts on one node. */
struct node_need {
	bool main;            /* the main lcore is here: mbuf pool, RCU, kernel rings, EAL */
	unsigned int workers; /* flow tables and counters */
	unsigned int ports;   /* descriptor rings */
};

static uint64_t node_need_bytes(const struct node_need *nn, const struct pf_memory_need *need)
{
	return (nn->main ? need->main_bytes : 0) + nn->workers * need->per_worker_bytes +
	       nn->ports * need->port_ring_bytes;
}

static void describe_node_need(const struct node_need *nn, const struct pf_memory_need *need,
			       char *buf, size_t len)
{
	char a[PF_SIZE_MAX], b[PF_SIZE_MAX], c[PF_SIZE_MAX];
	size_t used = 0;

	buf[0] = '\0';
	if (nn->main)
		used += (size_t)snprintf(buf + used, len - used, "mbuf pool %s, EAL and rings %s",
					 pf_format_bytes(need->mbuf_pool_bytes, a, sizeof(a)),
					 pf_format_bytes(need->main_other_bytes, b, sizeof(b)));
	if (nn->workers && used < len)
		used += (size_t)snprintf(buf + used, len - used,
					 "%s%u worker%s x %s (flow table %s for %u flows, counters %s)",
					 used ? ", " : "", nn->workers, nn->workers == 1 ? "" : "s",
					 pf_format_bytes(need->per_worker_bytes, a, sizeof(a)),
					 pf_format_bytes(need->flow_table_bytes, b, sizeof(b)),
					 need->flow_capacity,
					 pf_format_bytes(need->worker_counter_bytes, c, sizeof(c)));
	if (nn->ports && used < len)
		snprintf(buf + used, len - used, "%s%u port%s rings %s", used ? ", " : "",
			 nn->ports, nn->ports == 1 ? "'s" : "s'",
			 pf_format_bytes(nn->ports * need->port_ring_bytes, a, sizeof(a)));
}

/* The node edgelb-dp allocates a port's rings on: its numa_node, or 0
 * when the device reports none (setup_queues in dp_port.c). */
static int port_node(const struct pf_input *in, const char *port)
{
	char path[PF_PATH_MAX];
	long node;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/numa_node", port);
	if (pf_read_long(in->root, path, &node) || node < 0)
		return 0;
	return node < PF_MAX_NODES ? (int)node : 0;
}

static int node_or_zero(int node)
{
	return node >= 0 && node < PF_MAX_NODES ? node : 0;
}

static int check_one_node(const struct pf_input *in, const struct pf_memory_need *need,
			  const struct hugetlbfs_mounts *mounts, bool numa, int node,
			  const struct node_need *nn, struct pf_report *report)
{
	char dir[PF_PATH_MAX], subject[PF_SUBJECT_MAX], have[PF_TEXT_MAX / 2], why[PF_TEXT_MAX];
	char need_text[PF_SIZE_MAX], free_text[PF_SIZE_MAX], size_text[PF_SIZE_MAX];
	char fix[PF_FIX_MAX];
	struct node_pages pages[PF_MAX_PAGE_SIZES + 6];
	uint64_t needed = node_need_bytes(nn, need), free_bytes = 0, fix_size = 0, shortfall;
	size_t used = 0;
	long fix_nr = 0;
	int n;

	if (numa)
		snprintf(dir, sizeof(dir), "/sys/devices/system/node/node%d/hugepages", node);
	else
		snprintf(dir, sizeof(dir), "/sys/kernel/mm/hugepages");
	snprintf(subject, sizeof(subject), numa ? "node%d" : "host", node);
	describe_node_need(nn, need, why, sizeof(why));
	pf_format_bytes(needed, need_text, sizeof(need_text));
	n = read_node_pages(in->root, dir, mounts, pages, sizeof(pages) / sizeof(pages[0]));
	if (n <= 0)
		return pf_add(report, "hugepages", subject, PF_FAIL,
			      "boot a kernel with CONFIG_HUGETLBFS (Debian's has it)",
			      "no hugepage pools in %s, need %s (%s)", dir, need_text, why);
	have[0] = '\0';
	for (int i = 0; i < n; i++) {
		if (!pages[i].usable)
			continue;
		free_bytes += (uint64_t)pages[i].free * pages[i].size;
		used += (size_t)snprintf(have + used, sizeof(have) - used, "%s%ld of %ld %s pages free",
					 used ? " + " : "", pages[i].free, pages[i].nr,
					 pf_format_bytes(pages[i].size, size_text,
							 sizeof(size_text)));
		if (used >= sizeof(have))
			break;
		/* Top up the default size if EAL can use it, else the first
		 * usable one. */
		if (fix_size == 0 || pages[i].size == mounts->default_size) {
			fix_size = pages[i].size;
			fix_nr = pages[i].nr;
		}
	}
	if (fix_size == 0)
		return pf_add(report, "hugepages", subject, PF_FAIL,
			      "mount -t hugetlbfs nodev /dev/hugepages",
			      "no mounted hugetlbfs has this node's page sizes, need %s (%s)",
			      need_text, why);
	if (free_bytes >= needed)
		return pf_add(report, "hugepages", subject, PF_PASS, NULL,
			      "%s (%s), need %s (%s)", have,
			      pf_format_bytes(free_bytes, free_text, sizeof(free_text)), need_text,
			      why);
	shortfall = needed - free_bytes;
	pf_format(fix, sizeof(fix), "echo %llu > %s/hugepages-%llukB/nr_hugepages",
		 (unsigned long long)(fix_nr + (long)((shortfall + fix_size - 1) / fix_size)), dir,
		 (unsigned long long)(fix_size >> 10));
	return pf_add(report, "hugepages", subject, PF_FAIL, fix,
		      "%s (%s), need %s (%s): %llu more %s pages", have,
		      pf_format_bytes(free_bytes, free_text, sizeof(free_text)), need_text, why,
		      (unsigned long long)((shortfall + fix_size - 1) / fix_size),
		      pf_format_bytes(fix_size, size_text, sizeof(size_text)));
}

int pf_check_hugepages(const struct pf_input *in, const struct pf_memory_need *need,
		       struct pf_report *report)
{
	int node_of[PF_MAX_CPUS]; /* 16 KiB */
	struct node_need nodes[PF_MAX_NODES];
	struct hugetlbfs_mounts mounts;
	char sizes[PF_LIST_MAX], size_text[PF_SIZE_MAX];
	size_t used = 0;
	unsigned int placed = 0;
	bool numa = pf_exists(in->root, "/sys/devices/system/node");
	int rc;

	rc = read_hugetlbfs_mounts(in->root, &mounts);
	if (rc < 0)
		return pf_add(report, "hugetlbfs", NULL, PF_WARN, PF_FIX_UNREADABLE,
			      "cannot read /proc/mounts (%s)", strerror(-rc));
	if (mounts.n == 0) {
		rc = pf_add(report, "hugetlbfs", NULL, PF_FAIL,
			    "mkdir -p /dev/hugepages && mount -t hugetlbfs nodev /dev/hugepages",
			    "no hugetlbfs mounted: EAL finds no hugepages and stops (unless run with "
			    "--no-huge, for tests only)");
	} else {
		sizes[0] = '\0';
		for (unsigned int i = 0; i < mounts.n && used < sizeof(sizes); i++)
			used += (size_t)snprintf(sizes + used, sizeof(sizes) - used, "%s%s",
						 i ? ", " : "",
						 pf_format_bytes(mounts.sizes[i], size_text,
								 sizeof(size_text)));
		rc = pf_add(report, "hugetlbfs", NULL, PF_PASS, NULL,
			    "mounted on %s%s (page sizes: %s)", mounts.first_point,
			    mounts.n > 1 ? " and elsewhere" : "", sizes);
	}
	if (rc)
		return rc;

	/* Where edgelb-dp allocates each part (preflight_need.h). */
	memset(nodes, 0, sizeof(nodes));
	pf_cpu_nodes(in->root, node_of);
	nodes[node_or_zero(in->main_lcore >= 0 ? node_of[in->main_lcore] : 0)].main = true;
	for (int cpu = pf_cpuset_first(&in->workers); cpu >= 0 && placed < need->workers;
	     cpu = pf_cpuset_next(&in->workers, cpu), placed++)
		nodes[node_or_zero(node_of[cpu])].workers++;
	for (unsigned int p = 0; p < in->n_ports; p++)
		nodes[port_node(in, in->ports[p])].ports++;
	for (int node = 0; node < PF_MAX_NODES; node++) {
		if (!nodes[node].main && !nodes[node].workers && !nodes[node].ports)
			continue;
		rc = check_one_node(in, need, &mounts, numa, node, &nodes[node], report);
		if (rc)
			return rc;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* mbufs                                                               */

/* A mempool is best sized 2^q - 1 (its ring holds 2^q - 1 objects). */
static uint32_t suggested_mbufs(uint32_t at_least)
{
	uint64_t size = 1;

	while (size - 1 < at_least)
		size <<= 1;
	return size - 1 > UINT32_MAX ? UINT32_MAX : (uint32_t)(size - 1);
}

int pf_check_mbufs(const struct pf_input *in, const struct pf_memory_need *need,
		   struct pf_report *report)
{
	char fix[PF_FIX_MAX], pool[PF_SIZE_MAX];

	(void)in;
	pf_format_bytes(need->mbuf_pool_bytes, pool, sizeof(pool));
	if (need->mbufs < need->mbufs_at_start) {
		snprintf(fix, sizeof(fix), "edgelb-dp ... -- --mbufs %u", suggested_mbufs(need->mbufs_busy));
		return pf_add(report, "mbufs", NULL, PF_FAIL, fix,
			      "%u mbufs cannot fill the RX rings at start: %u port%s x %u queues x "
			      "(%u + %u for the TAP) descriptors = %u; edgelb-dp stops with a port "
			      "error",
			      need->mbufs, need->ports, need->ports == 1 ? "" : "s", need->workers,
			      need->rx_desc, need->kernel_rx_desc, need->mbufs_at_start);
	}
	if (need->mbufs < need->mbufs_busy) {
		snprintf(fix, sizeof(fix), "edgelb-dp ... -- --mbufs %u", suggested_mbufs(need->mbufs_busy));
		return pf_add(report, "mbufs", NULL, PF_WARN, fix,
			      "%u mbufs: RX rings take %u at start, full TX rings and lcore caches "
			      "can hold up to %u: under load RX runs out of buffers and drops",
			      need->mbufs, need->mbufs_at_start, need->mbufs_busy);
	}
	return pf_add(report, "mbufs", NULL, PF_PASS, NULL,
		      "%u mbufs of %u bytes (%s): RX rings take %u at start, up to %u with full TX "
		      "rings and lcore caches",
		      need->mbufs, need->mbuf_object_bytes, pool, need->mbufs_at_start,
		      need->mbufs_busy);
}
