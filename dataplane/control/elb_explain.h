/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * flow.explain: why a packet goes where it goes, step by step, from the
 * dataplane's own decision code on its live tables, changing nothing.
 *
 * Two parts:
 * - the dataplane's (struct elb_dp_ops.explain): find the packet's flow in
 *   its live flow tables and run its real decision on a copy of that state
 *   (edgelb-dp: elb_pipeline_run over a one-bucket view copied from the
 *   worker's table, with scratch counters; edgelb-xdp: the same BPF program
 *   loaded a second time over the live maps but a scratch flow map and
 *   counters, run with BPF_PROG_TEST_RUN). The live flow tables, token
 *   buckets and counters are never written.
 * - the shared one (elb_explain.c): the steps before the flow table (parse,
 *   VIP, flow hash, Maglev slot, the backend's encapsulation and MTU), from
 *   the same shared functions both dataplanes run, over the snapshot in
 *   force; then the answer, with a "consistent" check that the steps lead
 *   where the real run went.
 *
 * Control path only.
 */
#ifndef ELB_EXPLAIN_H
#define ELB_EXPLAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "elb_explain_run.h"
#include "elb_pipeline.h"

/*
 * Build the frame a 5-tuple stands for: Ethernet, IPv4 (DF set when df) or
 * IPv6, TCP with `tcp_flags` (ELB_TCP_*) or UDP, `payload_len` zero bytes,
 * correct checksums. key->family, src, dst, sport, dport (network order),
 * proto are used. @return the frame length, or -EINVAL when it would not
 * fit in `size`.
 */
int elb_explain_build_frame(uint8_t *frame, size_t size, const struct elb_flow_key *key,
			    uint8_t tcp_flags, uint32_t payload_len, bool df);

struct elb_prefix_set;

/*
 * Add the explanation of `frame` to the empty object `out`: the shared
 * steps over `snap` and the prefix lists in force (`prefixes`, NULL: none;
 * the rule is named by elb_prefix_list_decide), then what `run` says the
 * dataplane did. With `with_output`, the frame the dataplane would send, in
 * hex.
 * @return 0 or -ENOMEM.
 */
int elb_explain_render(cJSON *out, const struct elb_snapshot *snap,
		       const struct elb_prefix_set *prefixes, const uint8_t *frame, uint32_t len,
		       const struct elb_explain_run *run, bool with_output);

#endif /* ELB_EXPLAIN_H */
