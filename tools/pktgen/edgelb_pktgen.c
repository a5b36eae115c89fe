/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * edgelb-pktgen: synthetic traffic for the golden, replay, differential and
 * end-to-end tests. Writes a nanosecond pcap of Ethernet frames and, beside
 * it, a JSON-lines truth file saying what each frame is (pktgen_output.h).
 *
 * The frames are built here from byte offsets, with no code of the
 * balancer: the truth file is an oracle independent of the parser it tests.
 * The same seed gives the same files, byte for byte.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pktgen_mix.h"
#include "pktgen_output.h"
#include "elb_version.h"

#define DEFAULT_PACKETS 100000
#define DEFAULT_FLOWS 5000
#define DEFAULT_RATE_FLOWS 10
#define DEFAULT_START_NS 1700000000000000000ull /* 2023-11-14 22:13:20 UTC */
#define DEFAULT_PPS 100000

enum single_type {
	SINGLE_FLOW,
	SINGLE_FRAGMENT,
	SINGLE_ICMP_ERROR,
	SINGLE_NON_VIP,
	SINGLE_MALFORMED,
};

#define SINGLE_VLAN 0x01
#define SINGLE_IPV4_OPTIONS 0x02
#define SINGLE_IPV6_DSTOPTS 0x04

/* The frames --single can write. */
struct single_kind {
	const char *name;
	enum single_type type;
	uint8_t family;
	uint8_t proto;
	int arg; /* flow role, fragment index, ICMP variant or non-VIP kind */
	uint8_t attrs;
};

static const struct single_kind single_kinds[] = {
	{"tcp_syn_v4", SINGLE_FLOW, 4, WIRE_PROTO_TCP, ROLE_SYN, 0},
	{"tcp_syn_v6", SINGLE_FLOW, 6, WIRE_PROTO_TCP, ROLE_SYN, 0},
	{"tcp_ack_v4", SINGLE_FLOW, 4, WIRE_PROTO_TCP, ROLE_HANDSHAKE_ACK, 0},
	{"tcp_ack_v6", SINGLE_FLOW, 6, WIRE_PROTO_TCP, ROLE_HANDSHAKE_ACK, 0},
	{"tcp_data_v4", SINGLE_FLOW, 4, WIRE_PROTO_TCP, ROLE_PUSH_DATA, 0},
	{"tcp_data_v6", SINGLE_FLOW, 6, WIRE_PROTO_TCP, ROLE_PUSH_DATA, 0},
	{"tcp_fin_v4", SINGLE_FLOW, 4, WIRE_PROTO_TCP, ROLE_FIN, 0},
	{"tcp_fin_v6", SINGLE_FLOW, 6, WIRE_PROTO_TCP, ROLE_FIN, 0},
	{"tcp_rst_v4", SINGLE_FLOW, 4, WIRE_PROTO_TCP, ROLE_RST, 0},
	{"tcp_rst_v6", SINGLE_FLOW, 6, WIRE_PROTO_TCP, ROLE_RST, 0},
	{"tcp_syn_v4_vlan", SINGLE_FLOW, 4, WIRE_PROTO_TCP, ROLE_SYN, SINGLE_VLAN},
	{"tcp_syn_v6_vlan", SINGLE_FLOW, 6, WIRE_PROTO_TCP, ROLE_SYN, SINGLE_VLAN},
	{"tcp_syn_v4_options", SINGLE_FLOW, 4, WIRE_PROTO_TCP, ROLE_SYN, SINGLE_IPV4_OPTIONS},
	{"tcp_syn_v6_dstopts", SINGLE_FLOW, 6, WIRE_PROTO_TCP, ROLE_SYN, SINGLE_IPV6_DSTOPTS},
	{"udp_v4", SINGLE_FLOW, 4, WIRE_PROTO_UDP, ROLE_DATA, 0},
	{"udp_v6", SINGLE_FLOW, 6, WIRE_PROTO_UDP, ROLE_DATA, 0},
	{"udp_v4_vlan", SINGLE_FLOW, 4, WIRE_PROTO_UDP, ROLE_DATA, SINGLE_VLAN},
	{"udp_v4_options", SINGLE_FLOW, 4, WIRE_PROTO_UDP, ROLE_DATA, SINGLE_IPV4_OPTIONS},
	{"udp_v6_dstopts", SINGLE_FLOW, 6, WIRE_PROTO_UDP, ROLE_DATA, SINGLE_IPV6_DSTOPTS},
	{"big_tcp_v4", SINGLE_FLOW, 4, WIRE_PROTO_TCP, ROLE_BIG, 0},
	{"big_tcp_v6", SINGLE_FLOW, 6, WIRE_PROTO_TCP, ROLE_BIG, 0},
	{"big_udp_v4", SINGLE_FLOW, 4, WIRE_PROTO_UDP, ROLE_BIG, 0},
	{"big_udp_v6", SINGLE_FLOW, 6, WIRE_PROTO_UDP, ROLE_BIG, 0},
	{"frag_first_v4", SINGLE_FRAGMENT, 4, WIRE_PROTO_UDP, 0, 0},
	{"frag_later_v4", SINGLE_FRAGMENT, 4, WIRE_PROTO_UDP, 1, 0},
	{"frag_first_v6", SINGLE_FRAGMENT, 6, WIRE_PROTO_UDP, 0, 0},
	{"frag_later_v6", SINGLE_FRAGMENT, 6, WIRE_PROTO_UDP, 1, 0},
	{"icmp_frag_needed_v4", SINGLE_ICMP_ERROR, 4, WIRE_PROTO_TCP, ICMP_ERR_FRAG_NEEDED, 0},
	{"icmp_unreach_v4", SINGLE_ICMP_ERROR, 4, WIRE_PROTO_UDP, ICMP_ERR_UNREACH, 0},
	{"icmp_ptb_v6", SINGLE_ICMP_ERROR, 6, WIRE_PROTO_TCP, ICMP_ERR_FRAG_NEEDED, 0},
	{"icmp_unreach_v6", SINGLE_ICMP_ERROR, 6, WIRE_PROTO_UDP, ICMP_ERR_UNREACH, 0},
	{"arp", SINGLE_NON_VIP, 4, 0, NON_VIP_ARP, 0},
	{"other_dst_v4", SINGLE_NON_VIP, 4, 0, NON_VIP_OTHER_DST, 0},
	{"other_dst_v6", SINGLE_NON_VIP, 6, 0, NON_VIP_OTHER_DST, 0},
	{"echo_v4", SINGLE_NON_VIP, 4, 0, NON_VIP_ECHO_VIP, 0},
	{"echo_v6", SINGLE_NON_VIP, 6, 0, NON_VIP_ECHO_VIP, 0},
	{"vip_other_port_v4", SINGLE_NON_VIP, 4, 0, NON_VIP_VIP_OTHER_PORT, 0},
	{"vip_other_port_v6", SINGLE_NON_VIP, 6, 0, NON_VIP_VIP_OTHER_PORT, 0},
};

#define SINGLE_KIND_COUNT (sizeof(single_kinds) / sizeof(single_kinds[0]))

static void usage(FILE *out)
{
	fprintf(out,
		"usage: edgelb-pktgen --out FILE.pcap [--truth FILE.jsonl] [options]\n"
		"\n"
		"Writes synthetic Ethernet frames to a nanosecond pcap and, with --truth, one\n"
		"JSON object per frame saying what it is. The same seed gives the same files.\n"
		"\n"
		"  --packets N       frames to write (default %d)\n"
		"  --seed S          seed of the generator (default 1)\n"
		"  --flows F         client flows to the VIPs, TCP and UDP (default %d; fewer\n"
		"                    when the packet budget cannot give each its minimum)\n"
		"  --vip4 A:PORT     IPv4 VIP (default 10.0.0.10:80)\n"
		"  --vip6 [A]:PORT   IPv6 VIP (default [2001:db8::10]:80)\n"
		"  --other-dst A     the node's own address, IPv4 or IPv6; may be given once\n"
		"                    per family (defaults 10.0.0.2 and 2001:db8::2)\n"
		"  --rate-flows K    rate-flood flows, each a burst of %d packets within 1 ms\n"
		"                    (default %d)\n"
		"  --start-ns T      timestamp of the first frame (default %llu)\n"
		"  --pps P           frames per simulated second, on average (default %d)\n"
		"  --mix NAME        traffic mix (default \"default\"):\n",
		DEFAULT_PACKETS, DEFAULT_FLOWS, FLOOD_BURST_PACKETS, DEFAULT_RATE_FLOWS,
		DEFAULT_START_NS, DEFAULT_PPS);
	mix_describe(out);
	fprintf(out,
		"  --single KIND     write exactly one frame of KIND (\"--single list\" lists\n"
		"                    them; the seed picks the variant of a malformation)\n"
		"\n"
		"Client flows: 85%% of their packets TCP (80%% of the flows: SYN, ACK, data\n"
		"and pure ACKs, FIN-ACK and ACK, 10%% ending in RST), 15%% UDP requests;\n"
		"60%% IPv4. 8%% of flows carry an 802.1Q tag, 5%% of IPv4 flows IP options,\n"
		"5%% of IPv6 flows a destination-options header. Big packets (IP length\n"
		"1481-1500, DF) are segments of client flows; fragments are UDP datagrams of\n"
		"client flows in 2 or 3 fragments; ICMP errors (70%% fragmentation needed or\n"
		"packet too big) come from a router to the VIP and quote a packet from the VIP\n"
		"to a flow's client. Non-VIP: ARP 20%%, to --other-dst 40%%, ICMP echo to a\n"
		"VIP 25%%, a VIP address on another port 15%%. Malformed frames cycle through\n"
		"the %d reason names.\n",
		MALFORMED_COUNT);
}

static int parse_u64(const char *text, const char *option, uint64_t *value)
{
	char *end;

	errno = 0;
	*value = strtoull(text, &end, 0);
	if (errno || end == text || *end || text[0] == '-') {
		fprintf(stderr, "edgelb-pktgen: %s: not a number: %s\n", option, text);
		return -1;
	}
	return 0;
}

struct number_option {
	int opt;
	const char *name;
	uint64_t *value;
};

static const struct number_option *number_option(const struct number_option *numbers, size_t n,
						 int opt)
{
	for (size_t i = 0; i < n; i++)
		if (numbers[i].opt == opt)
			return &numbers[i];
	return NULL;
}

static int parse_port(const char *text, uint16_t *port)
{
	uint64_t value;
	char *end;

	errno = 0;
	value = strtoull(text, &end, 10);
	if (errno || end == text || *end || value == 0 || value > 65535)
		return -1;
	*port = (uint16_t)value;
	return 0;
}

/* "A:PORT" for IPv4, "[A]:PORT" for IPv6. */
static int parse_vip(const char *text, uint8_t family, uint8_t addr[16], uint16_t *port)
{
	char buf[INET6_ADDRSTRLEN + 16];
	char *sep;

	if (strlen(text) >= sizeof(buf))
		return -1;
	strcpy(buf, text);
	memset(addr, 0, 16);
	if (family == 4) {
		sep = strrchr(buf, ':');
		if (!sep)
			return -1;
		*sep = '\0';
		if (inet_pton(AF_INET, buf, addr) != 1)
			return -1;
		return parse_port(sep + 1, port);
	}
	sep = strstr(buf, "]:");
	if (buf[0] != '[' || !sep)
		return -1;
	*sep = '\0';
	if (inet_pton(AF_INET6, buf + 1, addr) != 1)
		return -1;
	return parse_port(sep + 2, port);
}

static int parse_other_dst(const char *text, struct gen_net *net)
{
	if (strchr(text, ':')) {
		memset(net->other_dst[1], 0, 16);
		return inet_pton(AF_INET6, text, net->other_dst[1]) == 1 ? 0 : -1;
	}
	memset(net->other_dst[0], 0, 16);
	return inet_pton(AF_INET, text, net->other_dst[0]) == 1 ? 0 : -1;
}

static void default_net(struct gen_net *net)
{
	memset(net, 0, sizeof(*net));
	inet_pton(AF_INET, "10.0.0.10", net->vip[0]);
	inet_pton(AF_INET6, "2001:db8::10", net->vip[1]);
	net->vip_port[0] = 80;
	net->vip_port[1] = 80;
	inet_pton(AF_INET, "10.0.0.2", net->other_dst[0]);
	inet_pton(AF_INET6, "2001:db8::2", net->other_dst[1]);
}

static void list_single_kinds(void)
{
	for (size_t i = 0; i < SINGLE_KIND_COUNT; i++)
		printf("%s\n", single_kinds[i].name);
	for (int i = 0; i < MALFORMED_COUNT; i++)
		printf("%s\n", malformed_names[i]);
}

static void build_single(const struct gen_config *cfg, const struct single_kind *k,
			 struct frame_out *out)
{
	struct datagram datagram;
	struct prng rng;
	struct flow flow;

	prng_seed(&rng, cfg->seed, 0);
	if (k->type == SINGLE_NON_VIP) {
		non_vip_build(&cfg->net, (enum non_vip_kind)k->arg, k->family, &rng, out);
		return;
	}
	/* A flow of exactly the asked shape: no tag or extension headers unless asked. */
	flow_init(&flow, 0, k->family, k->proto, &rng);
	flow.l2.vlan = (k->attrs & SINGLE_VLAN) != 0;
	flow.l2.vlan_tci = 100;
	flow.ipv4_options_len = k->attrs & SINGLE_IPV4_OPTIONS ? 4 : 0;
	flow.ipv6_dstopts = (k->attrs & SINGLE_IPV6_DSTOPTS) != 0;
	switch (k->type) {
	case SINGLE_FLOW:
		flow_build_packet(&cfg->net, &flow, (enum flow_role)k->arg, out);
		break;
	case SINGLE_FRAGMENT:
		datagram_init(&datagram, 0, k->family, 2, &rng);
		datagram_build_fragment(&cfg->net, &flow, &datagram, (unsigned int)k->arg, out);
		break;
	case SINGLE_ICMP_ERROR:
	default:
		icmp_error_build(&cfg->net, &flow, k->arg, &rng, out);
		break;
	}
}

static int write_single(const struct gen_config *cfg, const char *name)
{
	struct frame_out frame;
	struct gen_output out;
	struct prng rng;
	bool found = false;

	memset(&frame, 0, sizeof(frame));
	for (size_t i = 0; i < SINGLE_KIND_COUNT && !found; i++) {
		if (strcmp(single_kinds[i].name, name) == 0) {
			build_single(cfg, &single_kinds[i], &frame);
			found = true;
		}
	}
	for (int i = 0; i < MALFORMED_COUNT && !found; i++) {
		if (strcmp(malformed_names[i], name) == 0) {
			prng_seed(&rng, cfg->seed, 0);
			malformed_build(&cfg->net, (enum malformed_kind)i, &rng, &frame);
			found = true;
		}
	}
	if (!found) {
		fprintf(stderr, "edgelb-pktgen: unknown --single kind %s (try --single list)\n",
			name);
		return -1;
	}
	if (output_open(&out, cfg->pcap_path, cfg->truth_path, &cfg->net) != 0)
		return -1;
	output_write(&out, cfg->start_ns, &frame);
	return output_close(&out);
}

enum option_id {
	OPT_OUT = 'o',
	OPT_HELP = 'h',
	OPT_TRUTH = 256,
	OPT_PACKETS,
	OPT_SEED,
	OPT_FLOWS,
	OPT_VIP4,
	OPT_VIP6,
	OPT_OTHER_DST,
	OPT_RATE_FLOWS,
	OPT_START_NS,
	OPT_PPS,
	OPT_MIX,
	OPT_SINGLE,
};

static const struct option long_options[] = {
	{"out", required_argument, NULL, OPT_OUT},
	{"truth", required_argument, NULL, OPT_TRUTH},
	{"packets", required_argument, NULL, OPT_PACKETS},
	{"seed", required_argument, NULL, OPT_SEED},
	{"flows", required_argument, NULL, OPT_FLOWS},
	{"vip4", required_argument, NULL, OPT_VIP4},
	{"vip6", required_argument, NULL, OPT_VIP6},
	{"other-dst", required_argument, NULL, OPT_OTHER_DST},
	{"rate-flows", required_argument, NULL, OPT_RATE_FLOWS},
	{"start-ns", required_argument, NULL, OPT_START_NS},
	{"pps", required_argument, NULL, OPT_PPS},
	{"mix", required_argument, NULL, OPT_MIX},
	{"single", required_argument, NULL, OPT_SINGLE},
	{"help", no_argument, NULL, OPT_HELP},
	{NULL, 0, NULL, 0},
};

int main(int argc, char **argv)
{
	struct gen_config cfg = {
		.packets = DEFAULT_PACKETS,
		.seed = 1,
		.flows = DEFAULT_FLOWS,
		.rate_flows = DEFAULT_RATE_FLOWS,
		.start_ns = DEFAULT_START_NS,
		.pps = DEFAULT_PPS,
		.mix = mix_find("default"),
	};
	/* The options that take a number, and where it goes. */
	const struct number_option numbers[] = {
		{OPT_PACKETS, "--packets", &cfg.packets},
		{OPT_SEED, "--seed", &cfg.seed},
		{OPT_FLOWS, "--flows", &cfg.flows},
		{OPT_RATE_FLOWS, "--rate-flows", &cfg.rate_flows},
		{OPT_START_NS, "--start-ns", &cfg.start_ns},
		{OPT_PPS, "--pps", &cfg.pps},
	};
	const struct number_option *number;
	const char *single = NULL;
	int opt, bad = 0;

	if (elb_version_requested(argc, argv))
		return elb_version_print("edgelb-pktgen", 0);
	default_net(&cfg.net);
	while ((opt = getopt_long(argc, argv, "o:h", long_options, NULL)) != -1) {
		switch (opt) {
		case OPT_OUT:
			cfg.pcap_path = optarg;
			break;
		case OPT_TRUTH:
			cfg.truth_path = optarg;
			break;
		case OPT_VIP4:
		case OPT_VIP6: {
			int v6 = opt == OPT_VIP6; /* the index of net.vip */

			if (parse_vip(optarg, v6 ? 6 : 4, cfg.net.vip[v6], &cfg.net.vip_port[v6])) {
				fprintf(stderr, "edgelb-pktgen: --vip%d wants %s: %s\n", v6 ? 6 : 4,
					v6 ? "[A]:PORT" : "A:PORT", optarg);
				bad = 1;
			}
			break;
		}
		case OPT_OTHER_DST:
			if (parse_other_dst(optarg, &cfg.net) != 0) {
				fprintf(stderr, "edgelb-pktgen: --other-dst: not an address: %s\n",
					optarg);
				bad = 1;
			}
			break;
		case OPT_MIX:
			cfg.mix = mix_find(optarg);
			if (!cfg.mix) {
				fprintf(stderr, "edgelb-pktgen: unknown --mix %s\n", optarg);
				bad = 1;
			}
			break;
		case OPT_SINGLE:
			single = optarg;
			break;
		case OPT_HELP:
			usage(stdout);
			return 0;
		default:
			number = number_option(numbers, sizeof(numbers) / sizeof(numbers[0]), opt);
			if (number == NULL) {
				usage(stderr);
				return 2;
			}
			bad |= parse_u64(optarg, number->name, number->value);
		}
	}
	if (single && strcmp(single, "list") == 0) {
		list_single_kinds();
		return 0;
	}
	if (optind < argc) {
		fprintf(stderr, "edgelb-pktgen: unexpected argument %s\n", argv[optind]);
		bad = 1;
	}
	if (!cfg.pcap_path) {
		fprintf(stderr, "edgelb-pktgen: --out is required\n");
		bad = 1;
	}
	if (cfg.packets == 0 || cfg.flows == 0 || cfg.pps == 0) {
		fprintf(stderr, "edgelb-pktgen: --packets, --flows and --pps must be above 0\n");
		bad = 1;
	}
	if (cfg.packets > UINT32_MAX || cfg.flows > UINT32_MAX / 4) {
		fprintf(stderr, "edgelb-pktgen: --packets or --flows too large\n");
		bad = 1;
	}
	if (memcmp(cfg.net.vip[0], cfg.net.other_dst[0], 16) == 0 ||
	    memcmp(cfg.net.vip[1], cfg.net.other_dst[1], 16) == 0) {
		fprintf(stderr, "edgelb-pktgen: --other-dst must not be a VIP address\n");
		bad = 1;
	}
	if (bad) {
		usage(stderr);
		return 2;
	}
	if (single)
		return write_single(&cfg, single) == 0 ? 0 : 1;
	return mix_generate(&cfg) == 0 ? 0 : 1;
}
