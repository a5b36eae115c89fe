/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * flow.explain for edgelb-dp and edgelb-replay --dataplane dpdk: the
 * workers' live flow tables and the snapshot they read, handed to
 * elb_pipeline_explain (dataplane/core/elb_pipeline_explain.h), which
 * copies the flow's bucket out of each table and runs the real pipeline on
 * the copy. Main lcore only; the workers keep running and are never
 * written to or waited for.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "dp.h"
#include "elb_dp_api.h"

int dp_explain_init(struct dp_context *ctx)
{
	return elb_pipeline_explainer_init(&ctx->explainer, ELB_SOURCE_COLUMN_BITS_DEFAULT);
}

void dp_explain_fini(struct dp_context *ctx)
{
	elb_pipeline_explainer_fini(&ctx->explainer);
}

int dp_explain(void *arg, const uint8_t *frame, uint32_t len, struct elb_explain_run *run,
	       char *err, size_t errlen)
{
	struct dp_context *ctx = arg;
	const struct elb_worker *workers[DP_MAX_WORKERS];
	uint8_t port_macs[DP_MAX_WORKERS][6];
	/* edgelb-replay decides on the pcap's clock; edgelb-dp's workers on the TSC. */
	uint64_t now_ns = ctx->replay ? ctx->replay->now_ns : dp_now_ns(ctx);
	int rc;

	for (uint16_t i = 0; i < ctx->n_workers; i++) {
		workers[i] = &ctx->workers[i]->core;
		/* A worker sends with the MAC of the port the packet came in on
		 * (the request names none): the first data port's, the only one
		 * of edgelb-replay and of a one-port node. Not the worker's own
		 * port_mac, which it rewrites per burst and which is unset until
		 * its first packet. */
		if (ctx->n_ports > 0)
			memcpy(port_macs[i], ctx->ports[0].mac.addr_bytes, 6);
		else
			memset(port_macs[i], 0, 6);
	}
	/* Only this thread replaces and frees snapshots: the one in force stays
	 * valid for the whole call, and it is the one the workers read. */
	rc = elb_pipeline_explain(&ctx->explainer, workers, (const uint8_t(*)[6])port_macs,
				  ctx->n_workers, atomic_load(&ctx->snapshot), frame, len, now_ns,
				  run);
	if (rc == -EBUSY)
		snprintf(err, errlen, "the flow's table bucket kept changing while copied: "
				      "retry");
	else if (rc == -EINVAL)
		snprintf(err, errlen, "frame of %u bytes: 1 to %u, or no worker", len,
			 ELB_EXPLAIN_FRAME_MAX);
	else if (rc)
		snprintf(err, errlen, "%s", strerror(-rc));
	return rc;
}
