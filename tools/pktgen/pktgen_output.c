/* SPDX-License-Identifier: BSD-3-Clause */
/* The pcap and truth writers: see pktgen_output.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "pktgen_output.h"

#define SNAPLEN 65535
#define TRUTH_BUFFER_BYTES (1u << 20)

void format_endpoint(char *buf, size_t size, uint8_t family, const uint8_t addr[16], int port)
{
	char text[INET6_ADDRSTRLEN];

	inet_ntop(family == 4 ? AF_INET : AF_INET6, addr, text, sizeof(text));
	if (port < 0)
		snprintf(buf, size, "%s", text);
	else if (family == 4)
		snprintf(buf, size, "%s:%d", text, port);
	else
		snprintf(buf, size, "[%s]:%d", text, port);
}

int output_open(struct gen_output *o, const char *pcap_path, const char *truth_path,
		const struct gen_net *net)
{
	memset(o, 0, sizeof(*o));
	o->net = net;
	for (int fi = 0; fi < 2; fi++)
		format_endpoint(o->vip_text[fi], sizeof(o->vip_text[fi]), fi ? 6 : 4, net->vip[fi],
				net->vip_port[fi]);

	o->dead = pcap_open_dead_with_tstamp_precision(DLT_EN10MB, SNAPLEN,
						       PCAP_TSTAMP_PRECISION_NANO);
	if (!o->dead) {
		fprintf(stderr, "edgelb-pktgen: pcap_open_dead failed\n");
		return -1;
	}
	o->dumper = pcap_dump_open(o->dead, pcap_path);
	if (!o->dumper) {
		fprintf(stderr, "edgelb-pktgen: %s: %s\n", pcap_path, pcap_geterr(o->dead));
		pcap_close(o->dead);
		o->dead = NULL;
		return -1;
	}
	if (truth_path) {
		o->truth = fopen(truth_path, "w");
		if (!o->truth) {
			fprintf(stderr, "edgelb-pktgen: %s: %s\n", truth_path, strerror(errno));
			pcap_dump_close(o->dumper);
			pcap_close(o->dead);
			o->dumper = NULL;
			o->dead = NULL;
			return -1;
		}
		setvbuf(o->truth, NULL, _IOFBF, TRUTH_BUFFER_BYTES);
	}
	return 0;
}

static void put_json_string_or_null(FILE *out, const char *key, const char *value)
{
	if (value)
		fprintf(out, ",\"%s\":\"%s\"", key, value);
	else
		fprintf(out, ",\"%s\":null", key);
}

static void tcp_flags_text(char *buf, int flags)
{
	static const struct {
		uint8_t bit;
		char letter;
	} order[] = {{WIRE_TCP_SYN, 'S'}, {WIRE_TCP_FIN, 'F'}, {WIRE_TCP_RST, 'R'},
		     {WIRE_TCP_PSH, 'P'}, {WIRE_TCP_ACK, 'A'}};
	size_t n = 0;

	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++)
		if (flags & order[i].bit)
			buf[n++] = order[i].letter;
	buf[n] = '\0';
}

static void write_truth(struct gen_output *o, uint64_t ts_ns, const struct frame_out *f)
{
	const struct truth *t = &f->truth;
	FILE *out = o->truth;
	char text[96];

	fprintf(out, "{\"i\":%" PRIu64 ",\"ts_ns\":%" PRIu64 ",\"len\":%zu,\"kind\":\"%s\"",
		o->index, ts_ns, f->len, t->kind);
	if (t->family)
		fprintf(out, ",\"family\":%u", t->family);
	else
		fputs(",\"family\":null", out);
	put_json_string_or_null(out, "proto", t->proto);
	if (t->flow >= 0)
		fprintf(out, ",\"flow\":%" PRId64, t->flow);
	else
		fputs(",\"flow\":null", out);
	put_json_string_or_null(out, "vip",
				t->vip_family ? o->vip_text[family_index(t->vip_family)] : NULL);
	if (t->client_family)
		format_endpoint(text, sizeof(text), t->client_family, t->client, t->client_port);
	put_json_string_or_null(out, "client", t->client_family ? text : NULL);
	if (t->tcp_flags >= 0)
		tcp_flags_text(text, t->tcp_flags);
	put_json_string_or_null(out, "tcp_flags", t->tcp_flags >= 0 ? text : NULL);
	put_json_string_or_null(out, "expect", t->expect);
	put_json_string_or_null(out, "reason", t->reason);
	if (t->vlan >= 0)
		fprintf(out, ",\"vlan\":%d", t->vlan);
	if (t->frag)
		fprintf(out, ",\"frag\":\"%s\"", t->frag);
	if (t->icmp_type >= 0)
		fprintf(out, ",\"icmp_type\":%d,\"icmp_code\":%d", t->icmp_type, t->icmp_code);
	if (t->inner_proto)
		fprintf(out, ",\"inner_proto\":\"%s\"", t->inner_proto);
	if (t->dst_family) {
		format_endpoint(text, sizeof(text), t->dst_family, t->dst, -1);
		fprintf(out, ",\"dst\":\"%s\"", text);
	}
	fputs("}\n", out);
}

void output_write(struct gen_output *o, uint64_t ts_ns, struct frame_out *f)
{
	struct pcap_pkthdr hdr;

	if (!f->truth.reason && f->len < ETH_MIN_FRAME_LEN) {
		memset(f->data + f->len, 0, ETH_MIN_FRAME_LEN - f->len);
		f->len = ETH_MIN_FRAME_LEN;
	}
	memset(&hdr, 0, sizeof(hdr));
	/* With nanosecond precision, tv_usec carries nanoseconds. */
	hdr.ts.tv_sec = (time_t)(ts_ns / 1000000000u);
	hdr.ts.tv_usec = (suseconds_t)(ts_ns % 1000000000u);
	hdr.caplen = (bpf_u_int32)f->len;
	hdr.len = (bpf_u_int32)f->len;
	pcap_dump((u_char *)o->dumper, &hdr, f->data);
	if (o->truth)
		write_truth(o, ts_ns, f);
	o->index++;
}

int output_close(struct gen_output *o)
{
	int rc = 0;

	if (o->dumper) {
		if (pcap_dump_flush(o->dumper) != 0 || ferror(pcap_dump_file(o->dumper))) {
			fprintf(stderr, "edgelb-pktgen: writing the pcap failed\n");
			rc = -1;
		}
		pcap_dump_close(o->dumper);
	}
	if (o->dead)
		pcap_close(o->dead);
	if (o->truth) {
		bool failed_before = ferror(o->truth) != 0;

		if (fclose(o->truth) != 0 || failed_before) {
			fprintf(stderr, "edgelb-pktgen: writing the truth file failed: %s\n",
				strerror(errno));
			rc = -1;
		}
	}
	memset(o, 0, sizeof(*o));
	return rc;
}
