/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The backends of edgelb-replay, one per dataplane (edgelb_replay.c picks
 * one by --dataplane): each runs the pcap through its dataplane's own
 * code and writes what elb_replay_options.h describes. Both take the
 * parsed options (their hold cursor advances) and return the exit code.
 */
#ifndef REPLAY_H
#define REPLAY_H

#include "elb_replay_options.h"

/* --dataplane dpdk: the edgelb-dp worker behind a net_pcap port (dp_replay.c). */
int dp_replay_run(struct elb_replay_options *o);

/* --dataplane xdp: the XDP program by BPF_PROG_TEST_RUN (xdp_replay.c). */
int xdp_replay_run(struct elb_replay_options *o);

#endif /* REPLAY_H */
