/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * edgelb-replay's XDP backend (--dataplane xdp; edgelb_replay.c):
 *
 * The XDP program (bpf/edgelb.bpf.c) over a pcap, without any interface:
 * loaded, not attached, configured through the same ops as edgelb-xdp
 * (epoch 1), then given each packet with BPF_PROG_TEST_RUN. The verdict
 * lines (elb_verdicts.h) and OUT.pcap (the XDP_TX frames, in order) are
 * those of the DPDK replay for the same input: tests/xdp/test_xdp_diff.py
 * requires them to be equal.
 *
 * Clock: the pcap's timestamps at nanosecond precision, rebased to the
 * first packet, exactly as the DPDK replay: set in the program's
 * test_now_ns before each run (use_test_clock set, so the first packet's
 * 0 ns is a time too). The decision is read back from last_result.
 *
 * The flow table is per CPU and BPF_PROG_TEST_RUN runs on the calling CPU:
 * the process is pinned to one CPU, so all packets see one table, like the
 * DPDK replay's single worker.
 *
 * --mac: the Ethernet source of what is sent; by default the MAC DPDK's
 * net_pcap port has (02:70:63:61:70:00), so the frames compare equal.
 *
 * --socket: the dataplane protocol, served as the DPDK replay serves it
 * (elb_replay_options.h): after every ELB_REPLAY_BURST packets, then a
 * --pace-us pause, and while held (--hold-at). A change applied there
 * writes the maps between two packets; each verdict line carries the epoch
 * of the snapshot the maps held for its packet. flow.explain there decides
 * at the rebased time of the next packet (after the last: the last one's).
 */
#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_ether.h>
/* libpcap's classic-BPF header defines struct bpf_insn as linux/bpf.h does. */
#define PCAP_DONT_INCLUDE_PCAP_BPF_H
#include <pcap/pcap.h>
#include <pcap/dlt.h>

#include "edgelb_xdp_maps.h"
#include "elb_verdicts.h"
#include "replay.h"
#include "xdp.h"
/* The skeleton names core types: they are defined above. */
#include "edgelb.skel.h"

#define REPLAY_FRAME_OUT_MAX 8192

/* Pin to the CPU we run on: one per-CPU flow table for the whole replay. */
static int pin_to_one_cpu(void)
{
	int cpu = sched_getcpu();
	cpu_set_t set;

	if (cpu < 0)
		return -errno;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set) ? -errno : 0;
}

int xdp_replay_run(struct elb_replay_options *o)
{
	static struct xdp_dataplane dp;
	struct elb_dp_config *config = NULL;
	struct elb_dp_api *api = NULL;
	struct elb_dp_err err;
	char errbuf[PCAP_ERRBUF_SIZE];
	uint64_t counts[ELB_VERDICT_COUNT] = {0}, index = 0, ts0 = 0, refused = 0;
	static uint8_t frame_out[REPLAY_FRAME_OUT_MAX];
	struct pcap_pkthdr *hdr;
	const u_char *data;
	pcap_t *in = NULL, *dead = NULL;
	pcap_dumper_t *out = NULL;
	FILE *verdicts = NULL;
	int prog_fd, rc, exit_code = 1;

	if (elb_dp_config_load_file(o->config_path, &config, &err) < 0) {
		fprintf(stderr, "edgelb-replay: %s\n", err.text);
		return 1;
	}
	if (pin_to_one_cpu()) {
		fprintf(stderr, "edgelb-replay: cannot pin to one CPU: %s\n", strerror(errno));
		goto out;
	}
	memcpy(dp.iface_mac, o->mac, 6);
	if (xdp_dataplane_load(&dp, o->flows, NULL) || xdp_dataplane_start(&dp))
		goto out;
	if (elb_replay_configure(o, config, &xdp_ops, &dp, &api))
		goto out;

	in = pcap_open_offline_with_tstamp_precision(o->in_path, PCAP_TSTAMP_PRECISION_NANO, errbuf);
	if (in == NULL) {
		fprintf(stderr, "edgelb-replay: %s: %s\n", o->in_path, errbuf);
		goto out;
	}
	dead = pcap_open_dead_with_tstamp_precision(DLT_EN10MB, 65535, PCAP_TSTAMP_PRECISION_NANO);
	out = dead ? pcap_dump_open(dead, o->out_path) : NULL;
	if (out == NULL) {
		fprintf(stderr, "edgelb-replay: %s: %s\n", o->out_path, dead ? pcap_geterr(dead) : "");
		goto out;
	}
	if (o->verdicts_path) {
		verdicts = fopen(o->verdicts_path, "w");
		if (verdicts == NULL) {
			perror(o->verdicts_path);
			goto out;
		}
	}

	prog_fd = bpf_program__fd(dp.skel->progs.edgelb_xdp);
	dp.skel->bss->use_test_clock = 1;
	dp.skel->bss->record_results = 1;
	/* flow.explain decides on the pcap's clock too (xdp_explain.c). */
	dp.explain_test_clock = true;
	while ((rc = pcap_next_ex(in, &hdr, &data)) == 1) {
		uint64_t ts = (uint64_t)hdr->ts.tv_sec * 1000000000ull + (uint64_t)hdr->ts.tv_usec;
		LIBBPF_OPTS(bpf_test_run_opts, run, .data_in = data, .data_size_in = hdr->caplen,
			    .data_out = frame_out, .data_size_out = sizeof(frame_out), .repeat = 1);
		struct elb_pipeline_result res;

		if (index == 0)
			ts0 = ts;
		/* The socket is served once this packet is read, before it runs:
		 * flow.explain there decides at this packet's time. */
		dp.explain_now_ns = ts - ts0;
		if (index > 0 && index % ELB_REPLAY_BURST == 0)
			elb_replay_between_bursts(api, o->pace_us);
		if (elb_replay_hold_due(o, api, index))
			elb_replay_hold(api, index);
		dp.skel->bss->test_now_ns = ts - ts0;
		memset(&dp.skel->bss->last_result, 0, sizeof(dp.skel->bss->last_result));
		if (bpf_prog_test_run_opts(prog_fd, &run)) {
			/*
			 * The kernel refuses to run frames shorter than an
			 * Ethernet header (no NIC hands XDP one either). They are
			 * not decided by the program: the line says so, and the
			 * differential test reports it instead of a verdict.
			 */
			if (verdicts)
				fprintf(verdicts,
					"{\"i\":%" PRIu64 ",\"verdict\":\"not_run\",\"len\":%u,"
					"\"error\":\"%s\"}\n",
					index, hdr->caplen, strerror(errno));
			refused++;
			index++;
			continue;
		}
		res = dp.skel->bss->last_result;
		if (res.verdict >= ELB_VERDICT_COUNT) {
			fprintf(stderr, "edgelb-replay: packet %" PRIu64 ": bad result\n", index);
			goto out;
		}
		counts[res.verdict]++;
		if (verdicts)
			elb_verdict_write(verdicts, index, dp.snap, &res);
		if (run.retval == XDP_TX) {
			struct pcap_pkthdr oh = {.ts = hdr->ts, .caplen = run.data_size_out,
						 .len = run.data_size_out};

			pcap_dump((u_char *)out, &oh, frame_out);
		}
		index++;
	}
	if (rc == -1) {
		fprintf(stderr, "edgelb-replay: %s: %s\n", o->in_path, pcap_geterr(in));
		goto out;
	}
	/* The burst that ends the capture is served as the others; explain
	 * keeps the last packet's time. */
	if (index > 0 && index % ELB_REPLAY_BURST == 0)
		elb_replay_between_bursts(api, o->pace_us);
	if (elb_replay_hold_due(o, api, index))
		elb_replay_hold(api, index);
	fprintf(stderr,
		"edgelb-replay: %" PRIu64 " packets: %" PRIu64 " forwarded, %" PRIu64
		" replies, %" PRIu64 " to the kernel, %" PRIu64 " dropped, %" PRIu64
		" not run (shorter than %d bytes)\n",
		index, counts[ELB_VERDICT_FORWARD], counts[ELB_VERDICT_REPLY],
		counts[ELB_VERDICT_KERNEL], counts[ELB_VERDICT_DROP], refused, ETH_HLEN);
	exit_code = 0;
out:
	elb_dp_api_close(api);
	if (verdicts)
		fclose(verdicts);
	if (out)
		pcap_dump_close(out);
	if (dead)
		pcap_close(dead);
	if (in)
		pcap_close(in);
	elb_dp_config_free(config);
	if (dp.skel)
		xdp_dataplane_close(&dp);
	return exit_code;
}
