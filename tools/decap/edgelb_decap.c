/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * edgelb-decap: attach the backend decapsulation XDP program
 * (bpf/decap.bpf.c) to an interface, or remove it.
 *
 *   edgelb-decap --iface IF [--mode generic|native] [--gue-port N] [--no-second-chance]
 *   edgelb-decap --iface IF --detach
 *   edgelb-decap --iface IF --stats
 *
 * The program stays attached after this process exits (an XDP attachment is
 * held by the interface). Attaching again replaces the program in place, so
 * running it twice is harmless. --detach removes only our program: an XDP
 * program of another name on the interface is left alone and reported.
 * --stats prints the attached program's counters (bpf/decap.h), summed over
 * the CPUs, as one JSON object on a line.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <net/if.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>

#include "decap.h"
#include "decap.skel.h"
#include "elb_version.h"

/* The kernel keeps the first 15 characters of a program's name. */
#define DECAP_PROG_NAME "elb_decap"

/* --stats' names of the counters of bpf/decap.h. */
static const char *const stat_names[ELB_DECAP_STAT_COUNT] = {
	[ELB_DECAP_KEPT_NO_ALTERNATE] = "kept_no_alternate",
	[ELB_DECAP_KEPT_SECOND_CHANCE_OFF] = "kept_second_chance_off",
	[ELB_DECAP_KEPT_NOT_TCP] = "kept_not_tcp",
	[ELB_DECAP_KEPT_SYN] = "kept_syn",
	[ELB_DECAP_KEPT_SOCKET] = "kept_socket",
	[ELB_DECAP_KEPT_SYNCOOKIE] = "kept_syncookie",
	[ELB_DECAP_KEPT_HOPS_EXHAUSTED] = "kept_hops_exhausted",
	[ELB_DECAP_KEPT_FORWARDING_OFF] = "kept_forwarding_off",
	[ELB_DECAP_KEPT_FIB_FAILED] = "kept_fib_failed",
	[ELB_DECAP_FORWARDED] = "forwarded",
	[ELB_DECAP_MALFORMED] = "malformed",
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: edgelb-decap --iface IF [--mode generic|native] [--gue-port N]\n"
		"                    [--no-second-chance]\n"
		"       edgelb-decap --iface IF --detach\n"
		"       edgelb-decap --iface IF --stats\n"
		"Attaches an XDP program that strips the outer header of IPv4-in-IPv4,\n"
		"IPv6-in-IPv6, IPv4-in-IPv6 and GUE (UDP to --gue-port, default 6080)\n"
		"packets and passes the inner packet to the kernel. Without --mode the\n"
		"kernel picks native when the driver has it, else generic. --detach\n"
		"removes edgelb-decap's program in either mode, and nothing else.\n"
		"Second chance: a TCP segment without SYN that carries the balancer's\n"
		"alternate backend (GUE private data) and that no local socket owns\n"
		"is sent on to the alternate, once; --no-second-chance keeps it here.\n"
		"--stats prints the attached program's counters as JSON.\n");
}

static int libbpf_quiet(enum libbpf_print_level level, const char *fmt, va_list args)
{
	if (level == LIBBPF_DEBUG)
		return 0;
	return vfprintf(stderr, fmt, args);
}

/* Whether the XDP program with this id is ours (by name). */
static bool prog_is_decap(__u32 prog_id)
{
	struct bpf_prog_info info;
	__u32 info_len = sizeof(info);
	bool ours;
	int fd;

	fd = bpf_prog_get_fd_by_id(prog_id);
	if (fd < 0)
		return false;
	memset(&info, 0, sizeof(info));
	ours = bpf_obj_get_info_by_fd(fd, &info, &info_len) == 0 &&
	       strcmp(info.name, DECAP_PROG_NAME) == 0;
	close(fd);
	return ours;
}

static int detach(const char *iface, int ifindex)
{
	static const struct {
		__u32 flag;
		const char *name;
	} modes[] = {
		{XDP_FLAGS_SKB_MODE, "generic"},
		{XDP_FLAGS_DRV_MODE, "native"},
	};
	LIBBPF_OPTS(bpf_xdp_query_opts, query);
	int removed = 0;
	unsigned int i;

	if (bpf_xdp_query(ifindex, 0, &query)) {
		fprintf(stderr, "edgelb-decap: cannot query XDP on %s: %s\n", iface,
			strerror(errno));
		return 1;
	}
	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		__u32 prog_id = modes[i].flag == XDP_FLAGS_SKB_MODE ? query.skb_prog_id
								     : query.drv_prog_id;
		int err;

		if (!prog_id)
			continue;
		if (!prog_is_decap(prog_id)) {
			fprintf(stderr, "edgelb-decap: %s: the %s XDP program (id %u) is not "
				"edgelb-decap's; left alone\n", iface, modes[i].name, prog_id);
			continue;
		}
		err = bpf_xdp_detach(ifindex, modes[i].flag, NULL);
		if (err) {
			fprintf(stderr, "edgelb-decap: detach from %s (%s): %s\n", iface,
				modes[i].name, strerror(-err));
			return 1;
		}
		printf("edgelb-decap: detached from %s (%s)\n", iface, modes[i].name);
		removed++;
	}
	if (!removed)
		printf("edgelb-decap: nothing attached to %s\n", iface);
	return 0;
}

/*
 * Second chance hands packets over with bpf_fib_lookup, which the kernel
 * answers only for an interface that forwards: say so when it does not
 * (the program then keeps those packets and counts kept_forwarding_off).
 * A family whose setting is absent (IPv6 disabled) is not reported.
 */
static void warn_if_not_forwarding(const char *iface)
{
	static const char *const families[] = {"ipv4", "ipv6"};
	unsigned int i;

	for (i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
		char path[128];
		FILE *f;
		int on = 1;

		snprintf(path, sizeof(path), "/proc/sys/net/%s/conf/%s/forwarding", families[i],
			 iface);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fscanf(f, "%d", &on) != 1)
			on = 1;
		fclose(f);
		if (!on)
			fprintf(stderr, "edgelb-decap: warning: net.%s.conf.%s.forwarding is 0: "
				"packets for the alternate backend will be kept here "
				"(docs/backend-decap.md, second chance)\n", families[i], iface);
	}
}

static int attach(const char *iface, int ifindex, __u32 mode_flag, unsigned int gue_port,
		  bool second_chance)
{
	struct decap_bpf *skel;
	int err;

	skel = decap_bpf__open();
	if (!skel) {
		fprintf(stderr, "edgelb-decap: cannot open the BPF object: %s\n", strerror(errno));
		return 1;
	}
	skel->rodata->gue_port = (__u16)gue_port;
	skel->rodata->second_chance = second_chance;
	err = decap_bpf__load(skel);
	if (err) {
		fprintf(stderr, "edgelb-decap: cannot load the BPF program: %s\n", strerror(-err));
		goto out;
	}
	/* No XDP_FLAGS_UPDATE_IF_NOEXIST: attaching again replaces the program. */
	err = bpf_xdp_attach(ifindex, bpf_program__fd(skel->progs.elb_decap), mode_flag, NULL);
	if (err) {
		fprintf(stderr, "edgelb-decap: cannot attach to %s: %s\n", iface, strerror(-err));
		goto out;
	}
	printf("edgelb-decap: attached to %s (%s), GUE port %u, second chance %s\n", iface,
	       mode_flag == XDP_FLAGS_SKB_MODE ? "generic" :
	       mode_flag == XDP_FLAGS_DRV_MODE ? "native" : "kernel's choice", gue_port,
	       second_chance ? "on" : "off");
	if (second_chance)
		warn_if_not_forwarding(iface);
out:
	/* Destroying the skeleton closes our descriptors; the interface keeps
	 * its reference to the attached program. */
	decap_bpf__destroy(skel);
	return err ? 1 : 0;
}

/* The id of edgelb-decap's program on the interface (generic or native),
 * 0 if none. */
static __u32 attached_decap(int ifindex)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, query);

	if (bpf_xdp_query(ifindex, 0, &query))
		return 0;
	if (query.skb_prog_id && prog_is_decap(query.skb_prog_id))
		return query.skb_prog_id;
	if (query.drv_prog_id && prog_is_decap(query.drv_prog_id))
		return query.drv_prog_id;
	return 0;
}

/* The descriptor of the program's map called `name`, or -1. */
static int prog_map_by_name(__u32 prog_id, const char *name)
{
	struct bpf_prog_info info;
	__u32 info_len = sizeof(info);
	__u32 map_ids[16];
	int prog_fd, found = -1;
	__u32 i;

	prog_fd = bpf_prog_get_fd_by_id(prog_id);
	if (prog_fd < 0)
		return -1;
	memset(&info, 0, sizeof(info));
	info.nr_map_ids = sizeof(map_ids) / sizeof(map_ids[0]);
	info.map_ids = (__u64)(unsigned long)map_ids;
	if (bpf_obj_get_info_by_fd(prog_fd, &info, &info_len)) {
		close(prog_fd);
		return -1;
	}
	close(prog_fd);
	for (i = 0; i < info.nr_map_ids && i < sizeof(map_ids) / sizeof(map_ids[0]); i++) {
		struct bpf_map_info map_info;
		__u32 map_info_len = sizeof(map_info);
		int map_fd = bpf_map_get_fd_by_id(map_ids[i]);

		if (map_fd < 0)
			continue;
		memset(&map_info, 0, sizeof(map_info));
		if (bpf_obj_get_info_by_fd(map_fd, &map_info, &map_info_len) == 0 &&
		    strcmp(map_info.name, name) == 0) {
			found = map_fd;
			break;
		}
		close(map_fd);
	}
	return found;
}

/* --stats: the attached program's counters, summed over the CPUs. */
static int print_stats(const char *iface, int ifindex)
{
	__u32 prog_id = attached_decap(ifindex);
	int ncpus = libbpf_num_possible_cpus();
	__u64 *per_cpu;
	int map_fd, cpu;
	__u32 key;

	if (!prog_id) {
		fprintf(stderr, "edgelb-decap: no edgelb-decap program on %s\n", iface);
		return 1;
	}
	map_fd = prog_map_by_name(prog_id, ELB_DECAP_STATS_MAP);
	if (map_fd < 0) {
		fprintf(stderr, "edgelb-decap: the program on %s (id %u) has no map %s "
			"(an older edgelb-decap?)\n", iface, prog_id, ELB_DECAP_STATS_MAP);
		return 1;
	}
	if (ncpus <= 0 || !(per_cpu = calloc((size_t)ncpus, sizeof(*per_cpu)))) {
		close(map_fd);
		fprintf(stderr, "edgelb-decap: cannot size the per-CPU counters\n");
		return 1;
	}
	printf("{\"iface\": \"%s\", \"prog_id\": %u", iface, prog_id);
	for (key = 0; key < ELB_DECAP_STAT_COUNT; key++) {
		unsigned long long sum = 0;

		if (bpf_map_lookup_elem(map_fd, &key, per_cpu)) {
			fprintf(stderr, "edgelb-decap: reading %s: %s\n", ELB_DECAP_STATS_MAP,
				strerror(errno));
			free(per_cpu);
			close(map_fd);
			return 1;
		}
		for (cpu = 0; cpu < ncpus; cpu++)
			sum += per_cpu[cpu];
		printf(", \"%s\": %llu", stat_names[key], sum);
	}
	printf("}\n");
	free(per_cpu);
	close(map_fd);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{"iface", required_argument, NULL, 'i'},
		{"mode", required_argument, NULL, 'm'},
		{"gue-port", required_argument, NULL, 'g'},
		{"detach", no_argument, NULL, 'd'},
		{"stats", no_argument, NULL, 's'},
		{"no-second-chance", no_argument, NULL, 'n'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *iface = NULL;
	unsigned int gue_port = 6080;
	bool do_detach = false, do_stats = false, second_chance = true;
	__u32 mode_flag = 0;
	unsigned int ifindex;
	char *end;
	long value;
	int opt;

	if (elb_version_requested(argc, argv))
		return elb_version_print("edgelb-decap", 0);
	while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (opt) {
		case 'i':
			iface = optarg;
			break;
		case 'm':
			if (strcmp(optarg, "generic") == 0) {
				mode_flag = XDP_FLAGS_SKB_MODE;
			} else if (strcmp(optarg, "native") == 0) {
				mode_flag = XDP_FLAGS_DRV_MODE;
			} else {
				fprintf(stderr, "edgelb-decap: --mode: generic or native\n");
				return 2;
			}
			break;
		case 'g':
			errno = 0;
			value = strtol(optarg, &end, 10);
			if (errno || *end || value < 1 || value > 65535) {
				fprintf(stderr, "edgelb-decap: --gue-port: 1..65535\n");
				return 2;
			}
			gue_port = (unsigned int)value;
			break;
		case 'd':
			do_detach = true;
			break;
		case 's':
			do_stats = true;
			break;
		case 'n':
			second_chance = false;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!iface || optind != argc || (do_detach && do_stats)) {
		usage(stderr);
		return 2;
	}
	ifindex = if_nametoindex(iface);
	if (!ifindex) {
		fprintf(stderr, "edgelb-decap: no interface %s\n", iface);
		return 1;
	}
	libbpf_set_print(libbpf_quiet);
	if (do_detach)
		return detach(iface, (int)ifindex);
	if (do_stats)
		return print_stats(iface, (int)ifindex);
	return attach(iface, (int)ifindex, mode_flag, gue_port, second_chance);
}
