/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Data ports and their exception (TAP) ports.
 *
 * Every ethdev port present after EAL start-up is a data port. Which
 * workers poll it is decided by plan_rx_queues() (below, with the reasons):
 * one RX queue per worker when the port spreads flows over its queues, else
 * one RX queue polled by worker 0; and as many TX queues, since a worker
 * sends only on the ports it receives from. A worker that no port gives a
 * queue would spin for nothing: start-up says so, naming it and the reason
 * (report_idle_workers), rather than leave an idle core unexplained.
 *
 * Exception path: a net_tap port per data port, named <prefix><n>, with the
 * data port's MAC, so that the kernel answers ARP, ICMP, BGP and SSH for
 * the node's own addresses while DPDK owns the NIC. The workers polling the
 * data port send it what is not for a VIP (TX queue = worker index); the
 * main lcore reads what the kernel writes to it (on as many RX queues) and
 * passes it to worker 0, which sends it out.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <rte_bus_vdev.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_log.h>
#include <rte_ring.h>

#include "dp.h"

#define DP_RSS_HF (RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP)
#define DP_WHY_LEN 128 /* why a port feeds fewer workers than there are */

/*
 * How many RX queues a data port gets, that is which workers it feeds
 * (workers 0 .. n-1); *rss tells whether it is configured for RSS. When it
 * feeds fewer workers than there are, `why` says why (else it is empty).
 *
 * The rule: every packet of a flow must reach the same worker, the one
 * whose flow table holds the flow's entry (backend, TCP state, rate
 * bucket); a packet of it reaching another worker would be decided afresh
 * there. So a port is polled by several workers only if it spreads packets
 * over its queues per flow, which is what a driver promises by advertising
 * RSS on IP/TCP/UDP (flow_type_rss_offloads): the queue is a function of the
 * flow's addresses and ports. Such a port gets one queue per worker, or as
 * many as it has if fewer. Without RSS (net_pcap, AF_XDP on a veth): one
 * queue, polled by worker 0.
 *
 * What counts is the per-flow property, not how the driver gets it; the
 * hash fields configured below are a request, which a driver may not apply.
 * net_tap, the multi-queue stand-in for a NIC in the tests
 * (tests/dp/test_dp_multiqueue.py), is such a driver: DPDK 22.11's net_tap
 * advertises RSS on IP, TCP and UDP and 16 queues, but ignores the RSS
 * configuration (its own RSS is an rte_flow action, done with tc and BPF,
 * and needs the multiq qdisc). What spreads its traffic is the kernel's
 * tun driver: each frame the kernel sends into the tap goes to a queue
 * chosen per flow, by a symmetric hash of the flow's addresses and ports
 * (looking through IPIP and IP6IP6), then kept by a table remembering the
 * queue the flow was last written from. edgelb-dp writes a flow's
 * forwarded packets from the queue that received it, so the flow stays
 * there. Per flow, as RSS is: net_tap is used multi-queue like a NIC, and
 * the test checks the result flow by flow (flow.explain's `holders`: the
 * number of workers holding an entry for the flow). A driver that
 * advertised RSS yet spread packets otherwise (round robin) would split
 * flows between workers: `holders` above 1 shows it.
 */
static uint16_t plan_rx_queues(const struct dp_context *ctx, const struct rte_eth_dev_info *info,
			       bool *rss, char *why, size_t whylen)
{
	uint16_t n = ctx->n_workers;

	*rss = false;
	why[0] = '\0';
	if (n == 1)
		return 1;
	if ((info->flow_type_rss_offloads & DP_RSS_HF) == 0) {
		snprintf(why, whylen, "no RSS on the 5-tuple");
		return 1;
	}
	if (info->max_rx_queues < n)
		n = info->max_rx_queues;
	if (info->max_tx_queues < n)
		n = info->max_tx_queues;
	if (n < ctx->n_workers)
		snprintf(why, whylen, "RSS, but at most %u RX and %u TX queues", info->max_rx_queues,
			 info->max_tx_queues);
	if (n < 2)
		return 1;
	*rss = true;
	return n;
}

/*
 * Every worker beyond what the ports feed spins on its lcore and never
 * gets a packet: say which, and why, on stderr at start-up. Worker 0 polls
 * queue 0 of every port, so it is never idle.
 */
static void report_idle_workers(const struct dp_context *ctx, const char (*why)[DP_WHY_LEN])
{
	char reasons[DP_MAX_PORTS * (DP_WHY_LEN + RTE_ETH_NAME_MAX_LEN + 4)];
	size_t used = 0;
	uint16_t max_rxq = 1, idle = 0;

	for (uint16_t i = 0; i < ctx->n_ports; i++) {
		if (ctx->ports[i].n_rxq > max_rxq)
			max_rxq = ctx->ports[i].n_rxq;
		if (why[i][0] != '\0' && used < sizeof(reasons))
			used += (size_t)snprintf(reasons + used, sizeof(reasons) - used, "%s%s: %s",
						 used ? "; " : "", ctx->ports[i].name, why[i]);
	}
	for (uint16_t w = max_rxq; w < ctx->n_workers; w++) {
		fprintf(stderr,
			"edgelb-dp: worker %u (lcore %u) will stay idle: no port gives it an RX "
			"queue (%s)\n",
			w, ctx->workers[w]->lcore_id, reasons);
		idle++;
	}
	if (idle)
		fprintf(stderr,
			"edgelb-dp: %u of %u workers idle: use fewer worker lcores, or ports with "
			"RSS and a queue per worker\n",
			idle, ctx->n_workers);
}

static int setup_queues(uint16_t port_id, uint16_t n_rxq, uint16_t n_rxd, uint16_t n_txq, bool rss,
			struct rte_mempool *pool)
{
	struct rte_eth_conf conf;
	struct rte_eth_dev_info info;
	uint16_t n_txd = DP_TX_DESC;
	int socket = rte_eth_dev_socket_id(port_id), rc;

	rc = rte_eth_dev_info_get(port_id, &info);
	if (rc)
		return rc;
	memset(&conf, 0, sizeof(conf));
	if (rss) {
		conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
		conf.rx_adv_conf.rss_conf.rss_hf = DP_RSS_HF & info.flow_type_rss_offloads;
	}
	rc = rte_eth_dev_configure(port_id, n_rxq, n_txq, &conf);
	if (rc)
		return rc;
	rc = rte_eth_dev_adjust_nb_rx_tx_desc(port_id, &n_rxd, &n_txd);
	if (rc)
		return rc;
	for (uint16_t q = 0; q < n_rxq; q++) {
		struct rte_eth_rxconf rxconf = info.default_rxconf;

		rc = rte_eth_rx_queue_setup(port_id, q, n_rxd, socket < 0 ? 0 : (unsigned)socket,
					    &rxconf, pool);
		if (rc)
			return rc;
	}
	for (uint16_t q = 0; q < n_txq; q++) {
		rc = rte_eth_tx_queue_setup(port_id, q, n_txd, socket < 0 ? 0 : (unsigned)socket,
					    NULL);
		if (rc)
			return rc;
	}
	return rte_eth_dev_start(port_id);
}

static int create_kernel_port(struct dp_context *ctx, struct dp_port *p, const char *prefix,
			      unsigned int n)
{
	char name[RTE_ETH_NAME_MAX_LEN], args[128];
	uint16_t tap_id;
	int rc;

	snprintf(name, sizeof(name), "net_tap_elb%u", n);
	snprintf(args, sizeof(args), "iface=%s%u,mac=" RTE_ETHER_ADDR_PRT_FMT, prefix, n,
		 RTE_ETHER_ADDR_BYTES(&p->mac));
	rc = rte_vdev_init(name, args);
	if (rc) {
		fprintf(stderr, "edgelb-dp: cannot create TAP port %s (%s): %s\n", name, args,
			strerror(-rc));
		return rc;
	}
	rc = rte_eth_dev_get_port_by_name(name, &tap_id);
	if (rc)
		return rc;
	/* One TX queue per worker polling the data port (what is not for a VIP)
	 * and as many RX queues, all read by the main lcore (what the kernel
	 * sends): net_tap (DPDK 22.11) refuses unequal counts, and the tun
	 * driver spreads the kernel's frames over them. */
	rc = setup_queues(tap_id, p->n_rxq, DP_KERNEL_RX_DESC, p->n_rxq, false, ctx->pool);
	if (rc) {
		fprintf(stderr, "edgelb-dp: TAP port %s: %s\n", name, strerror(-rc));
		return rc;
	}
	snprintf(name, sizeof(name), "dp_from_kernel%u", n);
	p->from_kernel = rte_ring_create(name, DP_KERNEL_RING, rte_socket_id(),
					 RING_F_SP_ENQ | RING_F_SC_DEQ);
	if (p->from_kernel == NULL)
		return -ENOMEM;
	p->kernel_port_id = tap_id;
	return 0;
}

int dp_ports_init(struct dp_context *ctx, const char *kernel_iface_prefix)
{
	bool with_kernel = kernel_iface_prefix != NULL && kernel_iface_prefix[0] != '\0';
	uint16_t port_ids[DP_MAX_PORTS], n = 0, pid;
	char why[DP_MAX_PORTS][DP_WHY_LEN];
	int rc;

	/* Collect first: creating TAP ports adds ports to the iteration. */
	RTE_ETH_FOREACH_DEV(pid) {
		if (n == DP_MAX_PORTS) {
			fprintf(stderr, "edgelb-dp: more than %d ports\n", DP_MAX_PORTS);
			return -E2BIG;
		}
		port_ids[n++] = pid;
	}
	if (n == 0) {
		fprintf(stderr, "edgelb-dp: no port (give -a PCI_ADDR or --vdev)\n");
		return -ENODEV;
	}
	for (uint16_t i = 0; i < n; i++) {
		struct dp_port *p = &ctx->ports[i];
		struct rte_eth_dev_info info;

		p->port_id = port_ids[i];
		p->kernel_port_id = UINT16_MAX;
		rc = rte_eth_dev_info_get(p->port_id, &info);
		if (rc)
			return rc;
		rte_eth_dev_get_name_by_port(p->port_id, p->name);
		p->n_rxq = plan_rx_queues(ctx, &info, &p->rss, why[i], sizeof(why[i]));
		/* A worker sends only on ports it receives from (a frame leaves by
		 * the port it came in on), so TX queues match RX queues. */
		rc = setup_queues(p->port_id, p->n_rxq, DP_RX_DESC, p->n_rxq, p->rss, ctx->pool);
		if (rc) {
			fprintf(stderr, "edgelb-dp: port %s: %s\n", p->name, strerror(-rc));
			return rc;
		}
		rte_eth_macaddr_get(p->port_id, &p->mac);
		ctx->n_ports++;
		printf("edgelb-dp: port %u %s mac " RTE_ETHER_ADDR_PRT_FMT ", %u RX queue%s%s\n",
		       p->port_id, p->name, RTE_ETHER_ADDR_BYTES(&p->mac), p->n_rxq,
		       p->n_rxq == 1 ? "" : "s", p->rss ? " (RSS)" : "");
		fflush(stdout); /* the port's line before what is said about it */
		if (why[i][0] != '\0')
			fprintf(stderr, "edgelb-dp: port %u %s feeds %s %u only (of %u): %s\n",
				p->port_id, p->name, p->n_rxq == 1 ? "worker" : "workers 0 to",
				p->n_rxq - 1, ctx->n_workers, why[i]);
		if (with_kernel) {
			rc = create_kernel_port(ctx, p, kernel_iface_prefix, i);
			if (rc)
				return rc;
		}
	}
	report_idle_workers(ctx, (const char(*)[DP_WHY_LEN])why);
	return 0;
}

void dp_ports_stop(struct dp_context *ctx)
{
	for (uint16_t i = 0; i < ctx->n_ports; i++) {
		struct dp_port *p = &ctx->ports[i];

		if (p->kernel_port_id != UINT16_MAX) {
			struct rte_mbuf *m;

			rte_eth_dev_stop(p->kernel_port_id);
			rte_eth_dev_close(p->kernel_port_id);
			while (rte_ring_dequeue(p->from_kernel, (void **)&m) == 0)
				rte_pktmbuf_free(m);
			rte_ring_free(p->from_kernel);
		}
		rte_eth_dev_stop(p->port_id);
		rte_eth_dev_close(p->port_id);
	}
}

unsigned int dp_kernel_to_wire(struct dp_context *ctx)
{
	struct rte_mbuf *pkts[DP_BURST];
	unsigned int moved = 0;

	for (uint16_t i = 0; i < ctx->n_ports; i++) {
		const struct dp_port *p = &ctx->ports[i];
		unsigned int n, queued;

		if (p->kernel_port_id == UINT16_MAX)
			continue;
		for (uint16_t q = 0; q < p->n_rxq; q++) {
			n = rte_eth_rx_burst(p->kernel_port_id, q, pkts, DP_BURST);
			if (n == 0)
				continue;
			queued = rte_ring_enqueue_burst(p->from_kernel, (void **)pkts, n, NULL);
			if (queued < n) {
				rte_pktmbuf_free_bulk(&pkts[queued], n - queued);
				ctx->kernel_ring_full += n - queued;
			}
			moved += n;
		}
	}
	return moved;
}
