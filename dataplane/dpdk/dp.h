/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * edgelb-dp: the DPDK dataplane.
 *
 * Threads and what they touch:
 *   workers (one per worker lcore): own a struct dp_worker: flow table,
 *     counters, RX queue `queue` of every data port that has it (a port
 *     without RSS has only queue 0, which worker 0 alone polls; see
 *     plan_rx_queues in dp_port.c), TX queue `queue` of those data ports
 *     and of their kernel (TAP) ports. They read the published
 *     snapshot and report a quiescent state to the RCU variable once per
 *     loop.
 *   main lcore (control): serves the control socket, publishes snapshots,
 *     frees the ones no worker can still see, reads what the kernel sends
 *     on each TAP port and hands it to worker 0 through a single-producer
 *     single-consumer ring (worker 0 sends it on its own TX queue, so every
 *     TX queue has one writer and a port needs no queue beyond one per
 *     worker), and reads the workers' counters (never writes them).
 */
#ifndef DP_H
#define DP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <rte_ethdev.h>
#include <rte_ether.h>
#include <rte_mbuf.h>
#include <rte_rcu_qsbr.h>

#include "dp_sizes.h"
#include "elb_pipeline.h"
#include "elb_pipeline_explain.h"

struct elb_dp_config;
struct elb_prefix_set;

#define DP_MAX_WORKERS 64
#define DP_BURST 32               /* packets per RX burst, = ELB_PIPELINE_BURST_MAX */
#define DP_IDLE_SWEEP_BUCKETS 64  /* flow-table buckets swept per idle poll */
#define DP_RETIRED_MAX 16         /* snapshots waiting for every worker to let go */
#define DP_HISTOGRAM_BUCKETS 16   /* cycles/packet per burst: [2^i, 2^(i+1)) */
#define DP_KERNEL_RING 1024       /* frames from the kernel waiting for worker 0 */

_Static_assert(DP_BURST == ELB_PIPELINE_BURST_MAX, "a burst is what the pipeline takes");

struct dp_port {
	uint16_t port_id;
	uint16_t kernel_port_id; /* its TAP port, or UINT16_MAX without an exception path */
	struct rte_ring *from_kernel; /* main lcore -> worker 0: frames the kernel sent */
	uint16_t n_rxq;          /* workers 0 .. n_rxq-1 poll it: a queue each with RSS, else 1 */
	bool rss;
	struct rte_ether_addr mac;
	char name[RTE_ETH_NAME_MAX_LEN];
};

/* Per-worker figures beyond the pipeline's. */
struct dp_worker_stats {
	uint64_t bursts;
	uint64_t tx_dropped;     /* not taken by a TX queue: freed and counted */
	uint64_t kernel_dropped; /* not taken by the TAP queue */
	uint64_t from_kernel;    /* frames of the kernel sent out (worker 0) */
	uint64_t cycles_histogram[DP_HISTOGRAM_BUCKETS];
};

struct __rte_cache_aligned dp_worker {
	struct elb_worker core; /* flow table and pipeline counters */
	struct dp_worker_stats stats;
	unsigned int lcore_id;
	uint16_t index; /* queue index on every port and RCU thread id */
	struct dp_context *ctx;
	void *flow_mem;
};

/* Replay hook: edgelb-replay runs the same worker code and wants every
 * packet's verdict, in order (it passes one packet per call). */
struct dp_replay {
	void (*on_result)(void *arg, const struct rte_mbuf *m,
			  const struct elb_pipeline_result *res);
	void *arg;
	/* The replay's clock while it serves the socket: the rebased time of
	 * the next packet it will process (after the last: the last one's),
	 * which flow.explain decides at. */
	uint64_t now_ns;
};

struct dp_context {
	_Atomic(struct elb_snapshot *) snapshot; /* what workers read */
	struct rte_rcu_qsbr *qsbr;
	atomic_bool stop;
	struct dp_port ports[DP_MAX_PORTS];
	uint16_t n_ports;
	struct dp_worker *workers[DP_MAX_WORKERS];
	uint16_t n_workers;
	struct rte_mempool *pool;
	uint32_t flow_capacity;
	uint64_t tsc_to_ns_mult; /* ns = tsc * mult >> 32 */
	uint32_t next_gen;        /* backend-slot generations (elb_snapshot_build) */
	/* What the snapshot in force was built from (main lcore): the config
	 * and its epoch (kept alive by the API until the next apply), and the
	 * prefix lists (likewise until the next apply_prefixes; NULL: none). */
	const struct elb_dp_config *config;
	uint64_t epoch;
	const struct elb_prefix_set *prefixes;
	struct {
		struct elb_snapshot *snap;
		uint64_t token;
	} retired[DP_RETIRED_MAX];
	uint64_t kernel_ring_full; /* frames from the kernel dropped: ring full (main lcore) */
	unsigned int n_retired;
	uint64_t started_tsc;
	struct dp_replay *replay; /* NULL except in edgelb-replay */
	struct elb_pipeline_explainer explainer; /* flow.explain's scratch (main lcore) */
};

/* dp_port.c. After the workers exist: start-up names the lcores of the
 * workers that no port feeds. */
int dp_ports_init(struct dp_context *ctx, const char *kernel_iface_prefix);
void dp_ports_stop(struct dp_context *ctx);
/* Pass what the kernel sent on TAP ports to worker 0 (main lcore). */
unsigned int dp_kernel_to_wire(struct dp_context *ctx);

/* dp_worker.c */
int dp_workers_init(struct dp_context *ctx);
/* Worker `index` for lcore `lcore`: its flow table, counters, RCU thread id. */
int dp_worker_create(struct dp_context *ctx, uint16_t index, unsigned int lcore);
void dp_workers_free(struct dp_context *ctx);
int dp_worker_main(void *arg);
/* One RX burst of port p through the pipeline and out (used by replay too). */
void dp_worker_process_burst(struct dp_worker *w, const struct elb_snapshot *snap,
			     const struct dp_port *p, struct rte_mbuf **pkts, uint16_t n,
			     uint64_t now_ns);
uint64_t dp_now_ns(const struct dp_context *ctx);

/* dp_control.c */
struct elb_dp_ops;
extern const struct elb_dp_ops dp_ops;
int dp_publish_initial(struct dp_context *ctx);
void dp_reclaim(struct dp_context *ctx, bool wait);
void dp_print_counters(struct dp_context *ctx);

/* dp_explain.c: flow.explain (struct elb_dp_ops.explain), main lcore only. */
int dp_explain_init(struct dp_context *ctx);
void dp_explain_fini(struct dp_context *ctx);
int dp_explain(void *ctx, const uint8_t *frame, uint32_t len, struct elb_explain_run *run,
	       char *err, size_t errlen);

#endif /* DP_H */
