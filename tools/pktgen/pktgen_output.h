/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Where generated frames go: a nanosecond pcap and, beside it, the truth
 * file, one JSON object per frame, in the order of the pcap:
 *
 *   {"i": 0, "ts_ns": 1700000000000000000, "len": 74, "kind": "flow",
 *    "family": 4, "proto": "tcp", "flow": 12, "vip": "10.0.0.10:80",
 *    "client": "198.18.3.4:40000", "tcp_flags": "S", "expect": "forward",
 *    "reason": null}
 *
 * followed, when they apply, by "vlan" (VLAN ID), "frag" ("first" or
 * "later"), "icmp_type"/"icmp_code", "inner_proto" (what an ICMP error
 * quotes) and "dst" (where non-VIP traffic went). IPv6 endpoints are
 * written "[addr]:port"; a packet without ports (ICMP) has port 0.
 * tcp_flags is written in the order S F R P A ("S", "A", "PA", "FA", "R",
 * "RA"). See pktgen.h for what "expect" assumes.
 */
#ifndef PKTGEN_OUTPUT_H
#define PKTGEN_OUTPUT_H

#include <pcap/pcap.h>
#include <stdio.h>

#include "pktgen.h"

struct gen_output {
	pcap_t *dead;
	pcap_dumper_t *dumper;
	FILE *truth;           /* NULL: no truth file asked for */
	const struct gen_net *net;
	uint64_t index;        /* of the next frame */
	char vip_text[2][64];  /* "10.0.0.10:80", "[2001:db8::10]:80" */
};

/* Open the pcap (and the truth file, when truth_path is not NULL).
 * @return 0, or -1 after saying why on stderr. */
int output_open(struct gen_output *o, const char *pcap_path, const char *truth_path,
		const struct gen_net *net);

/*
 * Write one frame at ts_ns. Well-formed frames shorter than 60 bytes are
 * padded with zeros first, as Ethernet pads them on the wire; malformed ones
 * are left at the length their malformation needs.
 */
void output_write(struct gen_output *o, uint64_t ts_ns, struct frame_out *f);

/* Flush and close both files. @return 0, or -1 after saying why on stderr. */
int output_close(struct gen_output *o);

/* "addr:port" ("[addr]:port" for IPv6), or the bare address when port < 0. */
void format_endpoint(char *buf, size_t size, uint8_t family, const uint8_t addr[16], int port);

#endif /* PKTGEN_OUTPUT_H */
