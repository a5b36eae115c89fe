/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * edgelb-preflight's checks on fixture trees (each directory of
 * tests/preflight/fixtures: small /sys and /proc trees, a dataplane config,
 * the command line in `args` and the hand-written findings in `expected`),
 * and its parts: CPU lists, EAL lcores, PCI addresses, what edgelb-dp needs.
 *
 * Expected values are written here or in the fixtures by hand, from what
 * the files say and what edgelb-dp does; none is produced by the code
 * under test.
 *
 * usage: test_preflight FIXTURES_DIR
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "elb_test.h"
#include "preflight_checks.h"
#include "preflight_need.h"
#include "preflight_options.h"

#define MAX_ARGS 32
#define MAX_EXPECTED 64

static const char *fixtures_dir;

/* ---- fixtures ---- */

struct expected_finding {
	char id[PF_ID_MAX];
	char subject[PF_SUBJECT_MAX];
	char status[8];
};

/* `expected`: "# comment", "ID [SUBJECT] STATUS" per finding in order,
 * "exit N". Returns the number of findings; aborts on a malformed file. */
static size_t read_expected(const char *path, struct expected_finding *out, int *exit_status)
{
	char line[512];
	size_t n = 0;
	FILE *f = fopen(path, "r");

	if (f == NULL) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		abort();
	}
	*exit_status = -1;
	while (fgets(line, sizeof(line), f)) {
		char a[PF_SUBJECT_MAX], b[PF_SUBJECT_MAX], c[PF_SUBJECT_MAX];
		int fields;

		if (line[0] == '#' || line[0] == '\n')
			continue;
		fields = sscanf(line, "%63s %79s %79s", a, b, c);
		if (fields == 2 && strcmp(a, "exit") == 0) {
			*exit_status = atoi(b);
			continue;
		}
		if (n == MAX_EXPECTED || fields < 2) {
			fprintf(stderr, "%s: bad line '%s'\n", path, line);
			abort();
		}
		if (pf_format(out[n].id, sizeof(out[n].id), "%s", a) ||
		    pf_format(out[n].subject, sizeof(out[n].subject), "%s", fields == 3 ? b : "") ||
		    pf_format(out[n].status, sizeof(out[n].status), "%s", fields == 3 ? c : b)) {
			fprintf(stderr, "%s: field too long in '%s'\n", path, line);
			abort();
		}
		n++;
	}
	fclose(f);
	return n;
}

/* Run the checks on one fixture, from its directory (its args name files
 * relative to it), and compare with its expected findings. */
static void run_fixture(const char *name)
{
	char dir[PATH_MAX], cwd[PATH_MAX], args_text[1024], *argv[MAX_ARGS], err[512];
	struct expected_finding want[MAX_EXPECTED];
	struct pf_report report = {0};
	struct pf_options o;
	size_t n_want;
	int argc = 0, want_exit, rc;
	FILE *f;

	snprintf(dir, sizeof(dir), "%s/%s", fixtures_dir, name);
	CU_ASSERT_FATAL(getcwd(cwd, sizeof(cwd)) != NULL);
	CU_ASSERT_FATAL(chdir(dir) == 0);
	f = fopen("args", "r");
	CU_ASSERT_FATAL(f != NULL);
	CU_ASSERT_FATAL(fgets(args_text, sizeof(args_text), f) != NULL);
	fclose(f);
	/* A build without DPDK has no edgelb-dp to check for. */
	if (strstr(args_text, "--dataplane dpdk") && !pf_dpdk_supported()) {
		CU_ASSERT_FATAL(chdir(cwd) == 0);
		return;
	}
	argv[argc++] = (char *)"edgelb-preflight";
	for (char *tok = strtok(args_text, " \n"); tok && argc < MAX_ARGS - 1;
	     tok = strtok(NULL, " \n"))
		argv[argc++] = tok;
	argv[argc] = NULL;

	rc = pf_options_parse(argc, argv, &o, err, sizeof(err));
	if (rc)
		fprintf(stderr, "%s: %s\n", name, err);
	CU_ASSERT_FATAL(rc == 0);
	pf_input_load_config(&o.input);
	CU_ASSERT_FATAL(pf_run_checks(&o.input, &report) == 0);
	n_want = read_expected("expected", want, &want_exit);

	for (size_t i = 0; i < report.n || i < n_want; i++) {
		const struct pf_finding *got = i < report.n ? &report.findings[i] : NULL;
		bool same = got && i < n_want && strcmp(got->id, want[i].id) == 0 &&
			    strcmp(got->subject, want[i].subject) == 0 &&
			    strcmp(pf_status_name(got->status), want[i].status) == 0;

		if (!same)
			fprintf(stderr, "%s: finding %zu: got %s %s %s (%s), want %s %s %s\n", name,
				i, got ? got->id : "-", got ? got->subject : "",
				got ? pf_status_name(got->status) : "", got ? got->text : "",
				i < n_want ? want[i].id : "-", i < n_want ? want[i].subject : "",
				i < n_want ? want[i].status : "");
		CU_ASSERT(same);
		/* Every finding that is not a pass says how to fix it. */
		if (got && got->status != PF_PASS)
			CU_ASSERT(got->fix[0] != '\0');
		if (got)
			CU_ASSERT(got->text[0] != '\0' && strchr(got->text, '\n') == NULL);
	}
	CU_ASSERT_EQUAL(pf_report_exit_status(&report), want_exit);
	pf_report_free(&report);
	pf_input_release(&o.input);
	CU_ASSERT_FATAL(chdir(cwd) == 0);
}

static void test_fixture_tuned_dpdk(void)
{
	run_fixture("tuned-dpdk");
}

static void test_fixture_untuned_vm(void)
{
	run_fixture("untuned-vm");
}

static void test_fixture_dpdk_numa_mlx(void)
{
	run_fixture("dpdk-numa-mlx");
}

static void test_fixture_config_invalid(void)
{
	run_fixture("config-invalid");
}

static void test_fixture_xdp_lockdown(void)
{
	run_fixture("xdp-lockdown");
}

static void test_fixture_xdp_old_kernel(void)
{
	run_fixture("xdp-old-kernel");
}

/* ---- parts ---- */

static void test_cpuset_parse_and_format(void)
{
	struct pf_cpuset set;
	char buf[128];

	CU_ASSERT(pf_cpuset_parse("0-2,5,7-8", -1, &set) == 0);
	CU_ASSERT_EQUAL(pf_cpuset_count(&set), 6);
	CU_ASSERT(pf_cpuset_has(&set, 5) && !pf_cpuset_has(&set, 6));
	CU_ASSERT_STRING_EQUAL(pf_cpuset_format(&set, buf, sizeof(buf)), "0-2,5,7-8");
	CU_ASSERT(pf_cpuset_parse("", -1, &set) == 0);
	CU_ASSERT_EQUAL(pf_cpuset_count(&set), 0);
	CU_ASSERT_STRING_EQUAL(pf_cpuset_format(&set, buf, sizeof(buf)), "");
	/* "N" is the last CPU where the kernel allows it. */
	CU_ASSERT(pf_cpuset_parse("2-N", 7, &set) == 0);
	CU_ASSERT_STRING_EQUAL(pf_cpuset_format(&set, buf, sizeof(buf)), "2-7");
	CU_ASSERT(pf_cpuset_parse("2-N", -1, &set) == -EINVAL);
	CU_ASSERT(pf_cpuset_parse("3-1", -1, &set) == -EINVAL);
	CU_ASSERT(pf_cpuset_parse("1,,2", -1, &set) == -EINVAL);
	CU_ASSERT(pf_cpuset_parse("(null)", -1, &set) == -EINVAL);
	CU_ASSERT(pf_cpuset_parse("4096", -1, &set) == -EINVAL);
	CU_ASSERT(pf_cpuset_parse("63-65", -1, &set) == 0);
	CU_ASSERT_STRING_EQUAL(pf_cpuset_format(&set, buf, sizeof(buf)), "63-65");
}

static void test_lcores_main_is_lowest(void)
{
	struct pf_cpuset lcores, workers;
	char buf[64];
	int main_lcore;

	/* EAL makes the lowest lcore the main one, whatever the order. */
	CU_ASSERT(pf_parse_lcores("3,1,2", &lcores, &main_lcore, &workers) == 0);
	CU_ASSERT_EQUAL(main_lcore, 1);
	CU_ASSERT_STRING_EQUAL(pf_cpuset_format(&workers, buf, sizeof(buf)), "2-3");
	CU_ASSERT(pf_parse_lcores("0", &lcores, &main_lcore, &workers) == 0);
	CU_ASSERT_EQUAL(pf_cpuset_count(&workers), 0);
	CU_ASSERT(pf_parse_lcores("", &lcores, &main_lcore, &workers) == -EINVAL);
	CU_ASSERT(pf_parse_lcores("0-", &lcores, &main_lcore, &workers) == -EINVAL);
}

static void test_pci_addresses(void)
{
	char buf[PF_PCI_ADDR_MAX];

	CU_ASSERT(pf_normalize_pci_addr("03:00.0", buf, sizeof(buf)) == 0);
	CU_ASSERT_STRING_EQUAL(buf, "0000:03:00.0");
	CU_ASSERT(pf_normalize_pci_addr("0000:AF:00.1", buf, sizeof(buf)) == 0);
	CU_ASSERT_STRING_EQUAL(buf, "0000:af:00.1");
	CU_ASSERT(pf_normalize_pci_addr("0000:03:00.0x", buf, sizeof(buf)) == -EINVAL);
	CU_ASSERT(pf_normalize_pci_addr("eth0", buf, sizeof(buf)) == -EINVAL);
	CU_ASSERT(pf_normalize_pci_addr("00:20.0", buf, sizeof(buf)) == -EINVAL);
	CU_ASSERT(pf_normalize_pci_addr("0000:03:00", buf, sizeof(buf)) == -EINVAL);
	CU_ASSERT(pf_normalize_pci_addr("-1:00.0", buf, sizeof(buf)) == -EINVAL);
}

static void test_sizes(void)
{
	uint64_t bytes;
	char buf[32];

	CU_ASSERT(pf_parse_size("2M", &bytes) == 0 && bytes == 2u << 20);
	CU_ASSERT(pf_parse_size("1024M", &bytes) == 0 && bytes == 1u << 30);
	CU_ASSERT(pf_parse_size("1G", &bytes) == 0 && bytes == 1u << 30);
	CU_ASSERT(pf_parse_size("2048kB", &bytes) == 0 && bytes == 2u << 20);
	CU_ASSERT(pf_parse_size("2X", &bytes) == -EINVAL);
	CU_ASSERT_STRING_EQUAL(pf_format_bytes(2u << 20, buf, sizeof(buf)), "2 MiB");
	CU_ASSERT_STRING_EQUAL(pf_format_bytes(3u << 29, buf, sizeof(buf)), "1.5 GiB");
	CU_ASSERT_STRING_EQUAL(pf_format_bytes(100, buf, sizeof(buf)), "100 B");
}

/*
 * What edgelb-dp allocates, worked out by hand:
 *   mbuf: 64-byte object header + 128-byte struct rte_mbuf + 2176 bytes of
 *   data room (128 headroom + 2048) = 2368 = 37 cache lines (odd, so no
 *   channel-spreading pad);
 *   flow table: 8-way buckets of 64 + 8 x 48 bytes, a power of two of
 *   them: 1M flows = 131072 buckets = 56 MiB; 1000001 flows round up to
 *   the same; 1 flow is one bucket (448 bytes, 8 slots);
 *   mbufs at start: per port and worker, an RX queue of 1024 on the port
 *   and one of 64 on its TAP (dp_port.c).
 */
static void test_memory_need(void)
{
	struct pf_memory_need need;

	if (!pf_dpdk_supported())
		return;
	CU_ASSERT_FATAL(pf_memory_need(1u << 20, 16383, 2, 1, &need) == 0);
	CU_ASSERT_EQUAL(need.mbuf_object_bytes, 2368);
	CU_ASSERT_EQUAL(need.mbuf_data_room, 2176);
	CU_ASSERT_EQUAL(need.flow_table_bytes, 56ull << 20);
	CU_ASSERT_EQUAL(need.flow_capacity, 1u << 20);
	CU_ASSERT_EQUAL(need.ether_mtu, 1500);
	CU_ASSERT(need.mbuf_pool_bytes >= 16383ull * 2368);
	CU_ASSERT(need.per_worker_bytes > need.flow_table_bytes);
	CU_ASSERT_EQUAL(need.mbufs_at_start, 2 * (1024 + 64));

	CU_ASSERT_FATAL(pf_memory_need(1000001, 16383, 3, 2, &need) == 0);
	CU_ASSERT_EQUAL(need.flow_capacity, 1u << 20);
	CU_ASSERT_EQUAL(need.flow_table_bytes, 56ull << 20);
	CU_ASSERT_EQUAL(need.mbufs_at_start, 2 * 3 * (1024 + 64));
	/* + 2 ports x 3 TX rings of 1024 + 2 kernel rings of 1024 + 4 lcore
	 * caches of up to 1.5 x 256. */
	CU_ASSERT_EQUAL(need.mbufs_busy, 6528 + 6144 + 2048 + 4 * 384);

	CU_ASSERT_FATAL(pf_memory_need(1, 1, 1, 1, &need) == 0);
	CU_ASSERT_EQUAL(need.flow_table_bytes, 448);
	CU_ASSERT_EQUAL(need.flow_capacity, 8);

	/* edgelb-dp caps workers at 64. */
	CU_ASSERT_FATAL(pf_memory_need(1024, 16383, 100, 1, &need) == 0);
	CU_ASSERT_EQUAL(need.workers, 64);
	CU_ASSERT(pf_memory_need(0, 16383, 1, 1, &need) == -EINVAL);
	CU_ASSERT(pf_memory_need(1024, 16383, 0, 1, &need) == -EINVAL);
}

/* A throwaway root with one file in it. */
static void write_file(const char *root, const char *path, const char *text)
{
	char full[PATH_MAX], dir[PATH_MAX];
	FILE *f;

	snprintf(full, sizeof(full), "%s%s", root, path);
	for (char *p = strchr(full + strlen(root) + 1, '/'); p; p = strchr(p + 1, '/')) {
		snprintf(dir, sizeof(dir), "%.*s", (int)(p - full), full);
		mkdir(dir, 0755);
	}
	f = fopen(full, "w");
	CU_ASSERT_FATAL(f != NULL);
	fputs(text, f);
	fclose(f);
}

static void test_cmdline_params(void)
{
	char root[] = "/tmp/preflight-test-XXXXXX", value[64];

	CU_ASSERT_FATAL(mkdtemp(root) != NULL);
	/* What follows "--" is init's, not the kernel's; the last of a
	 * repeated parameter wins. */
	write_file(root, "/proc/cmdline",
		   "ro isolcpus=1 quiet isolcpus=domain,2-3 nohz_full -- isolcpus=9 rcu_nocbs=1\n");
	CU_ASSERT(pf_cmdline_param(root, "isolcpus", value, sizeof(value)) == 1);
	CU_ASSERT_STRING_EQUAL(value, "domain,2-3");
	CU_ASSERT(pf_cmdline_param(root, "nohz_full", value, sizeof(value)) == 1);
	CU_ASSERT_STRING_EQUAL(value, "");
	CU_ASSERT(pf_cmdline_param(root, "rcu_nocbs", value, sizeof(value)) == 0);
	CU_ASSERT(pf_cmdline_param(root, "iso", value, sizeof(value)) == 0);
	CU_ASSERT(pf_cmdline_param("/nonexistent-root", "ro", value, sizeof(value)) == -ENOENT);
	{
		char cmd[PATH_MAX + 16];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
		CU_ASSERT(system(cmd) == 0);
	}
}

static int parse(const char *line, struct pf_options *o)
{
	char copy[512], *argv[MAX_ARGS], err[512];
	int argc = 0;

	snprintf(copy, sizeof(copy), "edgelb-preflight %s", line);
	for (char *tok = strtok(copy, " "); tok && argc < MAX_ARGS - 1; tok = strtok(NULL, " "))
		argv[argc++] = tok;
	argv[argc] = NULL;
	return pf_options_parse(argc, argv, o, err, sizeof(err));
}

static void test_usage_errors(void)
{
	struct pf_options o;

	CU_ASSERT(parse("--dataplane xdp --iface eth0", &o) == 0);
	CU_ASSERT_EQUAL(o.input.main_lcore, -1);
	CU_ASSERT(parse("--dataplane xdp --iface eth0 --lcores 0-3", &o) == 0);
	CU_ASSERT_EQUAL(pf_cpuset_count(&o.input.workers), 4); /* no main lcore under XDP */
	CU_ASSERT(parse("--iface eth0", &o) == -EINVAL);                     /* no dataplane */
	CU_ASSERT(parse("--dataplane vpp --iface eth0", &o) == -EINVAL);
	CU_ASSERT(parse("--dataplane xdp", &o) == -EINVAL);                  /* no iface */
	CU_ASSERT(parse("--dataplane xdp --iface eth0 --flows 10", &o) == -EINVAL);
	CU_ASSERT(parse("--dataplane xdp --iface eth0 --root /nonexistent", &o) == -EINVAL);
	CU_ASSERT(parse("--dataplane xdp --iface eth0 --path-mtu 100", &o) == -EINVAL);
	CU_ASSERT(parse("--dataplane xdp --iface eth0 extra", &o) == -EINVAL);
	CU_ASSERT(parse("--dataplane xdp --iface eth0 --bogus", &o) == -EINVAL);
	CU_ASSERT(parse("--dataplane xdp --iface", &o) == -EINVAL);
	if (!pf_dpdk_supported())
		return;
	CU_ASSERT(parse("--dataplane dpdk --lcores 0-1 --port 03:00.0", &o) == 0);
	CU_ASSERT_STRING_EQUAL(o.input.ports[0], "0000:03:00.0");
	CU_ASSERT_EQUAL(o.input.flows, DP_DEFAULT_FLOWS);
	CU_ASSERT(parse("--dataplane dpdk --port 03:00.0", &o) == -EINVAL);     /* no lcores */
	CU_ASSERT(parse("--dataplane dpdk --lcores 0-1", &o) == -EINVAL);       /* no port */
	CU_ASSERT(parse("--dataplane dpdk --lcores 0-1 --port 03:00.0 --flows 0", &o) == -EINVAL);
	CU_ASSERT(parse("--dataplane dpdk --lcores 0-1 --port 03:00.0 --flows 268435457", &o) ==
		  -EINVAL);
	CU_ASSERT(parse("--dataplane dpdk --lcores 0-1 --port 03:00.0 --iface eth0", &o) ==
		  -EINVAL);
}

int main(int argc, char **argv)
{
	static const struct elb_test_case cases[] = {
		ELB_TEST(test_cpuset_parse_and_format),
		ELB_TEST(test_lcores_main_is_lowest),
		ELB_TEST(test_pci_addresses),
		ELB_TEST(test_sizes),
		ELB_TEST(test_memory_need),
		ELB_TEST(test_cmdline_params),
		ELB_TEST(test_usage_errors),
		ELB_TEST(test_fixture_tuned_dpdk),
		ELB_TEST(test_fixture_untuned_vm),
		ELB_TEST(test_fixture_dpdk_numa_mlx),
		ELB_TEST(test_fixture_config_invalid),
		ELB_TEST(test_fixture_xdp_lockdown),
		ELB_TEST(test_fixture_xdp_old_kernel),
		ELB_TEST_END,
	};

	if (argc != 2) {
		fprintf(stderr, "usage: test_preflight FIXTURES_DIR\n");
		return 2;
	}
	fixtures_dir = argv[1];
	return elb_test_run("preflight", cases);
}
