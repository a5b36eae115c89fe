/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The main lcore's side of edgelb-dp: applying configurations, reclaiming
 * old snapshots, reporting counters and status. Control path: allocates
 * and may take milliseconds (Maglev builds); never runs on a worker.
 *
 * A change (of the config or of the prefix lists) is applied whole or not
 * at all: the new snapshot is built aside (any error leaves the old one in
 * force), published with one release store of the pointer, and the old one is freed only once every worker has
 * reported a quiescent state after the store (rte_rcu_qsbr), i.e. no worker
 * can still be reading it. Workers never wait for any of this, so no packet
 * is dropped or delayed because a change is in flight.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>

#include "dp.h"
#include "elb_counters.h"
#include "elb_dp_api.h"
#include "elb_flow_count.h"
#include "elb_prefixes.h"
#include "elb_snapshot.h"

void dp_reclaim(struct dp_context *ctx, bool wait)
{
	unsigned int kept = 0;

	for (unsigned int i = 0; i < ctx->n_retired; i++) {
		if (rte_rcu_qsbr_check(ctx->qsbr, ctx->retired[i].token, wait) == 1)
			elb_snapshot_free(ctx->retired[i].snap);
		else
			ctx->retired[kept++] = ctx->retired[i];
	}
	/* Stored only when it changes: the workers read ctx->replay, in the
	 * same cache line, on every packet, and this runs every control poll. */
	if (ctx->n_retired != kept)
		ctx->n_retired = kept;
}

static int publish(struct dp_context *ctx, struct elb_snapshot *next)
{
	struct elb_snapshot *prev;

	dp_reclaim(ctx, false);
	/* Bounded backlog: if workers have not moved on from many old
	 * snapshots yet, wait for them (they report every loop: microseconds). */
	if (ctx->n_retired == DP_RETIRED_MAX)
		dp_reclaim(ctx, true);
	prev = atomic_exchange_explicit(&ctx->snapshot, next, memory_order_acq_rel);
	if (prev != NULL) {
		ctx->retired[ctx->n_retired].snap = prev;
		ctx->retired[ctx->n_retired].token = rte_rcu_qsbr_start(ctx->qsbr);
		ctx->n_retired++;
	}
	return 0;
}

int dp_publish_initial(struct dp_context *ctx)
{
	struct elb_dp_config *empty = elb_dp_config_new();
	struct elb_snapshot *snap = NULL;
	struct elb_dp_err err;
	int rc;

	if (empty == NULL)
		return -ENOMEM;
	/* No VIP: everything goes to the kernel until the first configuration. */
	rc = elb_snapshot_build(empty, NULL, 0, &ctx->next_gen, &snap, &err);
	elb_dp_config_free(empty);
	if (rc)
		return rc;
	return publish(ctx, snap);
}

/* The snapshot of config with the prefix lists of set, continuing from the
 * one in force; its prefix tables are shared when the set is the one it was
 * built with (same_set). */
static int build(struct dp_context *ctx, const struct elb_dp_config *config, uint64_t epoch,
		 const struct elb_prefix_set *set, bool same_set, struct elb_snapshot **out,
		 struct elb_dp_err *e)
{
	struct elb_snapshot *cur = atomic_load(&ctx->snapshot), *next = NULL;
	int rc = elb_snapshot_build(config, cur, epoch, &ctx->next_gen, &next, e);

	if (rc == 0)
		rc = elb_snapshot_set_prefixes(next, same_set ? cur : NULL, set, e);
	if (rc) {
		elb_snapshot_free(next);
		return rc;
	}
	*out = next;
	return 0;
}

static int dp_apply(void *arg, const struct elb_dp_config *config, uint64_t epoch, char *err,
		    size_t errlen)
{
	struct dp_context *ctx = arg;
	struct elb_snapshot *next = NULL;
	struct elb_dp_err e;
	int rc;

	/* Forwarded frames are addressed to the gateway: without its MAC
	 * there is nowhere to send them. */
	if (config->n_vips > 0 && !config->node.has_gateway_mac) {
		snprintf(err, errlen, "node.gateway_mac: needed to forward to backends");
		return -EINVAL;
	}
	rc = build(ctx, config, epoch, ctx->prefixes, true, &next, &e);
	if (rc) {
		snprintf(err, errlen, "%s", e.text[0] ? e.text : strerror(-rc));
		return rc;
	}
	ctx->config = config;
	ctx->epoch = epoch;
	return publish(ctx, next);
}

/*
 * New prefix lists: the snapshot in force built again from the same
 * config (its Maglev tables copied, slots and generations kept: the same
 * forwarding state) with tables of the new lists, published as a config
 * change is, so workers see the old lists or the new.
 */
static int dp_apply_prefixes(void *arg, const struct elb_prefix_set *set, char *err,
			     size_t errlen)
{
	struct dp_context *ctx = arg;
	struct elb_snapshot *next = NULL;
	struct elb_dp_err e;
	int rc;

	if (ctx->config == NULL) {
		snprintf(err, errlen, "no configuration applied yet");
		return -EAGAIN;
	}
	rc = build(ctx, ctx->config, ctx->epoch, set, false, &next, &e);
	if (rc) {
		snprintf(err, errlen, "%s", e.text[0] ? e.text : strerror(-rc));
		return rc;
	}
	ctx->prefixes = set;
	return publish(ctx, next);
}

static struct elb_counters_sum *sum_workers(struct dp_context *ctx)
{
	struct elb_counters_sum *sum = elb_counters_sum_new();

	if (sum == NULL)
		return NULL;
	for (uint16_t i = 0; i < ctx->n_workers; i++)
		elb_counters_sum_add(sum, &ctx->workers[i]->core, atomic_load(&ctx->snapshot));
	return sum;
}

static cJSON *workers_json(struct dp_context *ctx)
{
	cJSON *arr = cJSON_CreateArray();

	for (uint16_t i = 0; arr && i < ctx->n_workers; i++) {
		const struct dp_worker *w = ctx->workers[i];
		cJSON *o = cJSON_CreateObject(), *h;

		if (o == NULL)
			break;
		elb_dp_json_add_u64(o, "lcore", w->lcore_id);
		elb_dp_json_add_u64(o, "rx_packets", w->core.counters.rx.packets);
		/* Flows this worker picked a backend for (as the total new_flows): a
		 * flow whose packets reached two workers is picked by both. */
		elb_dp_json_add_u64(o, "new_flows", w->core.counters.new_flows);
		elb_dp_json_add_u64(o, "bursts", w->stats.bursts);
		elb_dp_json_add_u64(o, "tx_dropped", w->stats.tx_dropped);
		elb_dp_json_add_u64(o, "kernel_dropped", w->stats.kernel_dropped);
		elb_dp_json_add_u64(o, "from_kernel", w->stats.from_kernel);
		elb_dp_json_add_u64(o, "flows_in_use", w->core.flows.stats.occupancy);
		/* Bucket i counts bursts whose cycles per packet were in [2^i, 2^(i+1)). */
		h = cJSON_AddArrayToObject(o, "cycles_per_packet_log2_histogram");
		for (int b = 0; h && b < DP_HISTOGRAM_BUCKETS; b++)
			cJSON_AddItemToArray(h, elb_dp_json_u64(w->stats.cycles_histogram[b]));
		cJSON_AddItemToArray(arr, o);
	}
	return arr;
}

static int dp_counters(void *arg, cJSON *out, const struct elb_dp_vip_key *vip)
{
	struct dp_context *ctx = arg;
	struct elb_counters_sum *sum = sum_workers(ctx);
	int rc;

	if (sum == NULL)
		return -ENOMEM;
	/* The control thread's own snapshot pointer stays valid: only this
	 * thread replaces and frees snapshots. */
	rc = elb_counters_to_json(out, sum, atomic_load(&ctx->snapshot), vip);
	if (rc == 0 && vip == NULL)
		cJSON_AddItemToObject(out, "workers", workers_json(ctx));
	elb_counters_sum_free(sum);
	return rc;
}

static int dp_status(void *arg, cJSON *out)
{
	struct dp_context *ctx = arg;
	const struct elb_snapshot *snap = atomic_load(&ctx->snapshot);
	cJSON *ports = cJSON_AddArrayToObject(out, "ports");

	elb_dp_json_add_u64(out, "workers", ctx->n_workers);
	elb_dp_json_add_u64(out, "uptime_ms",
			    (rte_rdtsc() - ctx->started_tsc) * 1000 / rte_get_tsc_hz());
	elb_dp_json_add_u64(out, "snapshot_epoch", snap->epoch);
	elb_dp_json_add_u64(out, "snapshots_awaiting_reclaim", ctx->n_retired);
	elb_dp_json_add_u64(out, "from_kernel_dropped", ctx->kernel_ring_full);
	for (uint16_t i = 0; ports && i < ctx->n_ports; i++) {
		const struct dp_port *p = &ctx->ports[i];
		struct rte_eth_stats st;
		struct rte_eth_link link;
		cJSON *o = cJSON_CreateObject();
		char mac[RTE_ETHER_ADDR_FMT_SIZE];

		if (o == NULL)
			break;
		rte_ether_format_addr(mac, sizeof(mac), &p->mac);
		cJSON_AddStringToObject(o, "name", p->name);
		cJSON_AddStringToObject(o, "mac", mac);
		elb_dp_json_add_u64(o, "rx_queues", p->n_rxq);
		cJSON_AddBoolToObject(o, "rss", p->rss);
		cJSON_AddBoolToObject(o, "kernel_port", p->kernel_port_id != UINT16_MAX);
		if (rte_eth_link_get_nowait(p->port_id, &link) == 0)
			cJSON_AddBoolToObject(o, "link_up", link.link_status == RTE_ETH_LINK_UP);
		if (rte_eth_stats_get(p->port_id, &st) == 0) {
			elb_dp_json_add_u64(o, "ipackets", st.ipackets);
			elb_dp_json_add_u64(o, "opackets", st.opackets);
			elb_dp_json_add_u64(o, "imissed", st.imissed);
			elb_dp_json_add_u64(o, "ierrors", st.ierrors);
			elb_dp_json_add_u64(o, "rx_nombuf", st.rx_nombuf);
		}
		cJSON_AddItemToArray(ports, o);
	}
	return 0;
}

static const struct elb_snapshot *dp_snapshot(void *arg)
{
	struct dp_context *ctx = arg;

	/* Only this thread replaces and frees snapshots: it stays valid. */
	return atomic_load(&ctx->snapshot);
}

/*
 * Live flows per backend slot, over every worker's table, read from this
 * thread while the workers run: no lock and nothing written, so the workers
 * are not slowed beyond sharing cache lines. The read is racy on purpose
 * (elb_flow_count_backends: relaxed loads, so no torn value; a way being
 * inserted, refreshed or evicted meanwhile may be counted or not, which is
 * all a count needs). Stopping the workers for an exact cut would cost
 * packets for a figure that is stale as soon as it is read. Cost: see
 * "Costs" in docs/operator-tools.md (edgelb-bench --flow-count).
 * edgelb-replay runs on the pcap's clock, not this one: there every way in
 * use counts (expired ways are freed when the replay meets them).
 */
static int dp_flow_counts(void *arg, const struct elb_snapshot *snap, uint64_t *per_slot,
			  uint64_t *age_ms)
{
	struct dp_context *ctx = arg;
	uint32_t now_tick = elb_flow_tick(dp_now_ns(ctx));
	bool check_expiry = ctx->replay == NULL;

	for (uint16_t i = 0; i < ctx->n_workers; i++)
		elb_flow_count_backends(&ctx->workers[i]->core.flows, now_tick, check_expiry, snap,
					per_slot);
	(void)age_ms; /* counted now, synchronously: 0 */
	return 0;
}

const struct elb_dp_ops dp_ops = {
	.apply = dp_apply,
	.counters = dp_counters,
	.status = dp_status,
	.snapshot = dp_snapshot,
	.flow_counts = dp_flow_counts,
	.explain = dp_explain,
	.apply_prefixes = dp_apply_prefixes,
};

void dp_print_counters(struct dp_context *ctx)
{
	cJSON *out = cJSON_CreateObject();
	char *text;

	if (out == NULL || dp_counters(ctx, out, NULL) != 0) {
		cJSON_Delete(out);
		return;
	}
	text = cJSON_Print(out);
	if (text)
		printf("edgelb-dp: final counters\n%s\n", text);
	free(text);
	cJSON_Delete(out);
}
