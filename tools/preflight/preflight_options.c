/* SPDX-License-Identifier: BSD-3-Clause */
#include "preflight_options.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "elb_flow_table.h"
#include "elb_options.h"

#define PF_PATH_MTU_MIN 576u /* ELB_DP_MTU_MIN: below it no VIP mtu could fit */
#define PF_PATH_MTU_MAX 65535u

void pf_options_usage(FILE *out)
{
	fprintf(out,
		"usage: edgelb-preflight --dataplane dpdk --lcores LIST --port PCI_ADDR [--port ...]\n"
		"                        [--flows N] [--mbufs N] [--config FILE] [--path-mtu N]\n"
		"                        [--root DIR] [--json]\n"
		"       edgelb-preflight --dataplane xdp --iface NAME [--xdp-mode native|generic]\n"
		"                        [--lcores LIST] [--config FILE] [--path-mtu N] [--root DIR]\n"
		"                        [--json]\n"
		"What the host lacks for a dataplane started with these settings: one line per\n"
		"finding (pass, warn, fail) with the command that fixes it.\n"
		"  --dataplane   dpdk (edgelb-dp) or xdp (edgelb-xdp)\n"
		"  --lcores      EAL -l of edgelb-dp (\"0-2\", \"0,2,3\"): the lowest is the main lcore,\n"
		"                the others workers; for xdp, the CPUs meant to handle packets\n"
		"  --port        a data port's PCI address, as given to EAL -a (repeat per port)\n"
		"  --iface       edgelb-xdp's --iface\n"
		"  --xdp-mode    edgelb-xdp's --mode (default native)\n"
		"  --flows       edgelb-dp's --flows, per worker (default %u)\n"
		"  --mbufs       edgelb-dp's --mbufs (default %u)\n"
		"  --config      the dataplane configuration (JSON, docs/dataplane-protocol.md)\n"
		"  --path-mtu    the MTU of the path toward the backends, if below the port's\n"
		"  --root        read /sys and /proc under DIR instead of / (default /)\n"
		"  --json        one JSON document instead of lines\n"
		"Exit status: 0 no finding failed, 1 some failed, 2 usage error, 3 the checks\n"
		"could not run (out of memory).\n",
		DP_DEFAULT_FLOWS, DP_DEFAULT_MBUFS);
}

/* A hex field of 1 to max_digits digits followed by `stop`; advances *p past
 * both. scanf's %x would also take "0x" prefixes and signs. */
static int hex_field(const char **p, size_t max_digits, char stop, unsigned int *out)
{
	size_t n = strspn(*p, "0123456789abcdefABCDEF");

	if (n == 0 || n > max_digits || (*p)[n] != stop)
		return -EINVAL;
	*out = (unsigned int)strtoul(*p, NULL, 16);
	*p += n + (stop ? 1 : 0);
	return 0;
}

int pf_normalize_pci_addr(const char *text, char *out, size_t len)
{
	unsigned int domain = 0, bus, device, function;
	const char *p = text;

	/* DDDD:BB:DD.F or BB:DD.F, nothing after: a domain has a second ':'. */
	if (strchr(text, ':') != strrchr(text, ':') && hex_field(&p, 4, ':', &domain))
		return -EINVAL;
	if (hex_field(&p, 2, ':', &bus) || hex_field(&p, 2, '.', &device) ||
	    hex_field(&p, 1, '\0', &function))
		return -EINVAL;
	if (device > 0x1f || function > 7)
		return -EINVAL;
	if (snprintf(out, len, "%04x:%02x:%02x.%x", domain, bus, device, function) >= (int)len)
		return -EINVAL;
	return 0;
}

int pf_parse_lcores(const char *text, struct pf_cpuset *lcores, int *main_lcore,
		    struct pf_cpuset *workers)
{
	struct pf_cpuset set;

	/* EAL's -l takes no "N", and an empty list is no list. */
	if (pf_cpuset_parse(text, -1, &set) || pf_cpuset_count(&set) == 0)
		return -EINVAL;
	*lcores = set;
	*main_lcore = pf_cpuset_first(&set);
	*workers = set;
	workers->bits[*main_lcore / 64] &= ~(1ull << (*main_lcore % 64));
	return 0;
}

/* The usage error: one line into err. Always -EINVAL. */
static int usage_error(char *err, size_t err_len, const char *format, const char *arg)
{
	snprintf(err, err_len, format, arg);
	return -EINVAL;
}

int pf_options_parse(int argc, char **argv, struct pf_options *out, char *err, size_t err_len)
{
	static const struct option longopts[] = {
		{"dataplane", required_argument, NULL, 'd'},
		{"lcores", required_argument, NULL, 'l'},
		{"port", required_argument, NULL, 'p'},
		{"iface", required_argument, NULL, 'i'},
		{"xdp-mode", required_argument, NULL, 'x'},
		{"flows", required_argument, NULL, 'f'},
		{"mbufs", required_argument, NULL, 'm'},
		{"config", required_argument, NULL, 'c'},
		{"path-mtu", required_argument, NULL, 'M'},
		{"root", required_argument, NULL, 'r'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct pf_options o;
	struct pf_input *in = &o.input;
	bool have_dataplane = false, have_flows = false, have_mbufs = false, have_mode = false;
	struct stat st;
	int c;

	memset(&o, 0, sizeof(o));
	in->root = "/";
	in->main_lcore = -1;
	in->flows = DP_DEFAULT_FLOWS;
	in->mbufs = DP_DEFAULT_MBUFS;
	/* 0: a fresh scan, as the tests parse several command lines. Errors
	 * are reported here, not by getopt. */
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case 'd':
			if (strcmp(optarg, "dpdk") == 0)
				in->dataplane = PF_DATAPLANE_DPDK;
			else if (strcmp(optarg, "xdp") == 0)
				in->dataplane = PF_DATAPLANE_XDP;
			else
				return usage_error(err, err_len,
						   "--dataplane: dpdk or xdp, not '%s'", optarg);
			have_dataplane = true;
			break;
		case 'l':
			if (pf_parse_lcores(optarg, &in->lcores, &in->main_lcore, &in->workers))
				return usage_error(err, err_len,
						   "--lcores: CPUs and ranges as EAL's -l takes them "
						   "(\"0-2\", \"0,2,3\"), not '%s'",
						   optarg);
			snprintf(in->lcores_arg, sizeof(in->lcores_arg), "%s", optarg);
			in->have_lcores = true;
			break;
		case 'p':
			if (in->n_ports == DP_MAX_PORTS)
				return usage_error(err, err_len, "--port: edgelb-dp takes at most %s",
						   "8 ports");
			if (pf_normalize_pci_addr(optarg, in->ports[in->n_ports],
						  sizeof(in->ports[0])))
				return usage_error(err, err_len,
						   "--port: a PCI address (0000:03:00.0), not '%s'",
						   optarg);
			in->n_ports++;
			break;
		case 'i':
			if (strlen(optarg) == 0 || strlen(optarg) >= sizeof(in->iface) ||
			    strchr(optarg, '/'))
				return usage_error(err, err_len, "--iface: an interface name, not '%s'",
						   optarg);
			snprintf(in->iface, sizeof(in->iface), "%s", optarg);
			break;
		case 'x':
			if (strcmp(optarg, "generic") != 0 && strcmp(optarg, "native") != 0)
				return usage_error(err, err_len,
						   "--xdp-mode: native or generic, not '%s'", optarg);
			in->xdp_generic = strcmp(optarg, "generic") == 0;
			have_mode = true;
			break;
		case 'f':
			if (elb_parse_u32(optarg, 1, ELB_FLOW_MAX_CAPACITY, &in->flows))
				return usage_error(err, err_len,
						   "--flows: 1 to 2^28 (edgelb-dp's limit), not '%s'",
						   optarg);
			have_flows = true;
			break;
		case 'm':
			if (elb_parse_u32(optarg, 1, UINT32_MAX, &in->mbufs))
				return usage_error(err, err_len, "--mbufs: a positive number, not '%s'",
						   optarg);
			have_mbufs = true;
			break;
		case 'c':
			in->config_path = optarg;
			break;
		case 'M':
			if (elb_parse_u32(optarg, PF_PATH_MTU_MIN, PF_PATH_MTU_MAX, &in->path_mtu))
				return usage_error(err, err_len, "--path-mtu: 576 to 65535, not '%s'",
						   optarg);
			break;
		case 'r':
			in->root = optarg;
			break;
		case 'j':
			o.json = true;
			break;
		case 'h':
			o.help = true;
			*out = o;
			return 0;
		case ':':
			return usage_error(err, err_len, "%s needs a value", argv[optind - 1]);
		default:
			return usage_error(err, err_len, "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind != argc)
		return usage_error(err, err_len, "unexpected argument '%s'", argv[optind]);
	if (!have_dataplane)
		return usage_error(err, err_len, "--dataplane %s is required", "dpdk|xdp");
	if (stat(in->root, &st) || !S_ISDIR(st.st_mode))
		return usage_error(err, err_len, "--root: '%s' is not a directory", in->root);
	if (in->dataplane == PF_DATAPLANE_DPDK) {
		if (!pf_dpdk_supported())
			return usage_error(err, err_len, "--dataplane dpdk: %s",
					   "this build has no DPDK (nor edgelb-dp)");
		if (!in->have_lcores)
			return usage_error(err, err_len, "--dataplane dpdk needs %s",
					   "--lcores (EAL's -l)");
		if (in->n_ports == 0)
			return usage_error(err, err_len, "--dataplane dpdk needs %s",
					   "--port PCI_ADDR (EAL's -a), one per data port");
		if (in->iface[0] || have_mode)
			return usage_error(err, err_len, "%s: for --dataplane xdp only",
					   in->iface[0] ? "--iface" : "--xdp-mode");
	} else {
		if (in->iface[0] == '\0')
			return usage_error(err, err_len, "--dataplane xdp needs %s", "--iface NAME");
		if (in->n_ports || have_flows || have_mbufs)
			return usage_error(err, err_len, "%s: for --dataplane dpdk only",
					   in->n_ports ? "--port" : have_flows ? "--flows" : "--mbufs");
		/* Every CPU handles packets under XDP: no main lcore. */
		in->workers = in->lcores;
		in->main_lcore = -1;
	}
	*out = o;
	return 0;
}
