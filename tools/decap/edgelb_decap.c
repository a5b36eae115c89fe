/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * edgelb-decap: attach the backend decapsulation XDP program
 * (bpf/decap.bpf.c) to an interface, or remove it.
 *
 *   edgelb-decap --iface IF [--mode generic|native] [--gue-port N]
 *   edgelb-decap --iface IF --detach
 *
 * The program stays attached after this process exits (an XDP attachment is
 * held by the interface). Attaching again replaces the program in place, so
 * running it twice is harmless. --detach removes only our program: an XDP
 * program of another name on the interface is left alone and reported.
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

#include "decap.skel.h"
#include "elb_version.h"

/* The kernel keeps the first 15 characters of a program's name. */
#define DECAP_PROG_NAME "elb_decap"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: edgelb-decap --iface IF [--mode generic|native] [--gue-port N]\n"
		"       edgelb-decap --iface IF --detach\n"
		"Attaches an XDP program that strips the outer header of IPv4-in-IPv4,\n"
		"IPv6-in-IPv6, IPv4-in-IPv6 and GUE (UDP to --gue-port, default 6080)\n"
		"packets and passes the inner packet to the kernel. Without --mode the\n"
		"kernel picks native when the driver has it, else generic. --detach\n"
		"removes edgelb-decap's program in either mode, and nothing else.\n");
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

static int attach(const char *iface, int ifindex, __u32 mode_flag, unsigned int gue_port)
{
	struct decap_bpf *skel;
	int err;

	skel = decap_bpf__open();
	if (!skel) {
		fprintf(stderr, "edgelb-decap: cannot open the BPF object: %s\n", strerror(errno));
		return 1;
	}
	skel->rodata->gue_port = (__u16)gue_port;
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
	printf("edgelb-decap: attached to %s (%s), GUE port %u\n", iface,
	       mode_flag == XDP_FLAGS_SKB_MODE ? "generic" :
	       mode_flag == XDP_FLAGS_DRV_MODE ? "native" : "kernel's choice", gue_port);
out:
	/* Destroying the skeleton closes our descriptors; the interface keeps
	 * its reference to the attached program. */
	decap_bpf__destroy(skel);
	return err ? 1 : 0;
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{"iface", required_argument, NULL, 'i'},
		{"mode", required_argument, NULL, 'm'},
		{"gue-port", required_argument, NULL, 'g'},
		{"detach", no_argument, NULL, 'd'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *iface = NULL;
	unsigned int gue_port = 6080;
	bool do_detach = false;
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
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!iface || optind != argc) {
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
	return attach(iface, (int)ifindex, mode_flag, gue_port);
}
