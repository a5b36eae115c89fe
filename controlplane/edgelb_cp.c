/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * edgelb-cp: the control-plane daemon's main. It parses the arguments,
 * wires the layers (controlplane/README.md) and runs one thread, one epoll
 * loop that carries the operator socket (elb_rpc), a JSON-RPC client per
 * managed dataplane (cp_dataplanes.c), every running health probe
 * (cp_checks.c), the BGP speaker's control socket (cp_bgp.c) and the
 * metrics server (cp_metrics.c). Each round handles the ready fds, then the
 * timers, which are checked by scanning: the loop wakes at least every
 * CP_TICK_MS.
 *
 * State flows one way: config (operator, persisted) + health results ->
 * the desired dataplane config (cp->desired, generation cp->gen) -> a
 * config.set to every dataplane whose accepted generation is older.
 *
 * Under systemd (systemd/edgelb-cp.service): READY=1 once the config is
 * loaded and the operator socket listens; WATCHDOG=1 and STATUS= (how many
 * dataplanes have the current generation) from the epoll loop
 * (elb_notify.h); STOPPING=1 on SIGTERM.
 */
#include "cp_bgp.h"
#include "cp_checks.h"
#include "cp_dataplanes.h"
#include "cp_fleet.h"
#include "cp_methods.h"
#include "cp_metrics.h"
#include "cp_prefixes.h"
#include "cp_state.h"
#include "cp_stream.h"
#include "elb_dp_api.h"
#include "elb_heap.h"
#include "elb_notify.h"
#include "elb_version.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/epoll.h>
#include <sys/resource.h>

#define CP_TICK_MS 20
#define CP_GROUP_PASSES 64 /* operator socket passes before a group is written */
#define CP_DEFAULT_SOCKET "/run/edgelb/cp.sock"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static void handle_event(struct cp_daemon *cp, struct epoll_event *ev, uint64_t now)
{
	int kind = *(int *)ev->data.ptr;

	if (kind == CP_POLL_OPERATOR)
		elb_rpc_server_poll(cp->operator, 0);
	else if (kind == CP_POLL_DATAPLANE)
		cp_dataplane_event(cp, ev->data.ptr, ev->events);
	else if (kind == CP_POLL_BGP)
		cp_bgp_event(cp, ev->events);
	else if (kind == CP_POLL_METRICS)
		cp_metrics_event(cp);
	else if (kind == CP_POLL_TARGET)
		cp_checks_event(cp, ev->data.ptr, ev->events, now);
}

/* STATUS= for systemd when the number of dataplanes holding the current
 * generation changes. */
static void notify_status(const struct cp_daemon *cp, uint32_t *last_current)
{
	uint32_t current = cp_dataplanes_current(cp);

	if (current == *last_current)
		return;
	*last_current = current;
	elb_notify_status("%u VIP(s); %u of %u dataplane(s) hold generation %" PRIu64,
			  cp->config->n_vips, current, cp->n_dps, cp->gen);
}

static int run(struct cp_daemon *cp)
{
	struct epoll_event events[64];
	uint32_t current_dps = UINT32_MAX;

	while (!stop_requested) {
		uint64_t now, pushed_gen;
		int operator_event;
		int n = epoll_wait(cp->epfd, events, 64, CP_TICK_MS);

		if (n < 0 && errno != EINTR)
			return -errno;
		now = cp_now_ms();
		/* An operator change may free targets that other events of this
		 * round point at: the operator's event is handled last. */
		operator_event = -1;
		for (int i = 0; i < n; i++) {
			if (*(int *)events[i].data.ptr == CP_POLL_OPERATOR)
				operator_event = i;
			else
				handle_event(cp, &events[i], now);
		}
		/* Also without an event: the server's time limits (a client
		 * stalled on half a line) are enforced inside its poll. */
		if (operator_event >= 0)
			handle_event(cp, &events[operator_event], now);
		/* More passes while requests keep coming (each reads a buffer's
		 * worth per client), so that a group is as large as what is
		 * queued; bounded, so that the loop's other work goes on. */
		for (int pass = 0; pass < CP_GROUP_PASSES; pass++)
			if (elb_rpc_server_poll(cp->operator, 0) <= 0)
				break;
		/* Group commit: one write for every change of these passes, then
		 * their answers; the dataplanes' ticks below push the result. */
		cp_methods_settle(cp);
		cp_checks_tick(cp, now);
		/* Pushes first, and the events raised so far (a push's
		 * acknowledgement, dataplane_updated) sent: the fleet's tick may
		 * build a Maglev table per VIP whose generation moved (its
		 * expected digest), milliseconds that need not delay the change
		 * they describe. What the fleet changes itself (a drained backend
		 * removed) goes out after it. */
		pushed_gen = cp->gen;
		for (uint32_t i = 0; i < cp->n_dps; i++)
			cp_dataplane_tick(cp, &cp->dps[i], now);
		cp_stream_tick(cp, now);
		cp_fleet_tick(cp, now);
		for (uint32_t v = 0; v < cp->config->n_vips; v++)
			cp_slo_tick(&cp->vip_rt[v].slo, now);
		for (uint32_t i = 0; cp->gen != pushed_gen && i < cp->n_dps; i++)
			cp_dataplane_tick(cp, &cp->dps[i], now);
		/* After the dataplanes: what it announces follows their state. */
		cp_bgp_tick(cp, now);
		cp_stream_tick(cp, now);
		cp_metrics_tick(cp);
		notify_status(cp, &current_dps);
		/* From this loop only: a stalled loop stops the pings. */
		elb_notify_watchdog();
	}
	cp_methods_settle(cp); /* what was read before the stop is answered */
	elb_notify_stopping("stopping");
	return 0;
}

/* The operator socket's access lists as elb_rpc takes them. */
struct access_ids {
	uint32_t write_uids[CP_MAX_PRINCIPALS], write_gids[CP_MAX_PRINCIPALS];
	uint32_t read_uids[CP_MAX_PRINCIPALS], read_gids[CP_MAX_PRINCIPALS];
};

static void ids_of(const struct cp_principals *list, uint32_t *ids)
{
	for (uint32_t i = 0; i < list->n; i++)
		ids[i] = list->items[i].id;
}

static void operator_access(const struct cp_operator_access *a, struct elb_rpc_server_config *rpc,
			    struct elb_rpc_access *access, struct access_ids *ids)
{
	ids_of(&a->write_users, ids->write_uids);
	ids_of(&a->write_groups, ids->write_gids);
	ids_of(&a->read_users, ids->read_uids);
	ids_of(&a->read_groups, ids->read_gids);
	*access = (struct elb_rpc_access){
		.write = {ids->write_uids, a->write_users.n, ids->write_gids, a->write_groups.n},
		.read = {ids->read_uids, a->read_users.n, ids->read_gids, a->read_groups.n},
	};
	rpc->access = access;
	rpc->mode = a->socket_mode;
	rpc->set_owner = a->has_owner;
	rpc->owner = a->owner.id;
	rpc->set_group = a->has_group;
	rpc->group = a->group.id;
}

static void usage(FILE *out)
{
	fprintf(out, "usage: edgelb-cp --config FILE [--socket PATH] [--metrics ADDR:PORT]\n"
		     "  --config FILE        control-plane configuration; operator changes are "
		     "written back\n"
		     "  --socket PATH        operator socket (default " CP_DEFAULT_SOCKET ")\n"
		     "  --metrics ADDR:PORT  Prometheus page at http://ADDR:PORT/metrics\n"
		     "                       (numeric address; [v6]:port)\n");
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{"config", required_argument, NULL, 'c'},
		{"socket", required_argument, NULL, 's'},
		{"metrics", required_argument, NULL, 'm'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct cp_daemon cp = {.epfd = -1, .operator_kind = CP_POLL_OPERATOR,
			       .retire_target = cp_checks_retire,
			       .config_committed = cp_prefixes_follow_config};
	const char *socket_path = CP_DEFAULT_SOCKET, *metrics = NULL;
	struct elb_rpc_server_config rpc = {0};
	struct elb_rpc_method *methods = NULL;
	struct elb_rpc_access access;
	struct access_ids ids;
	struct cp_config *loaded;
	struct elb_dp_err err;
	struct epoll_event ev;
	struct sigaction sa;
	struct rlimit nofile;
	int opt, rc, status = 1;

	if (elb_version_requested(argc, argv))
		return elb_version_print("edgelb-cp", ELB_DP_PROTOCOL_VERSION);
	elb_heap_keep_freed();
	while ((opt = getopt_long(argc, argv, "c:s:m:h", options, NULL)) != -1) {
		switch (opt) {
		case 'c':
			cp.config_path = optarg;
			break;
		case 's':
			socket_path = optarg;
			break;
		case 'm':
			metrics = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (cp.config_path == NULL || optind != argc) {
		usage(stderr);
		return 2;
	}
	elb_notify_init();
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* One fd per running probe: hundreds at once. */
	if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
		nofile.rlim_cur = nofile.rlim_max;
		setrlimit(RLIMIT_NOFILE, &nofile);
	}

	/* Set up bottom up; every failure unwinds from its label down. */
	rc = cp_config_load_file(cp.config_path, &loaded, &err);
	if (rc < 0) {
		fprintf(stderr, "edgelb-cp: %s\n", err.text);
		return 1;
	}
	cp.epfd = epoll_create1(EPOLL_CLOEXEC);
	if (cp.epfd < 0) {
		fprintf(stderr, "edgelb-cp: %s\n", strerror(errno));
		cp_config_free(loaded);
		return 1;
	}
	/* The event sink first: the state core raises events from its first
	 * refresh on. Snapshots carry counters.get's figures. */
	rc = cp_stream_open(&cp, cp_counters_json);
	if (rc == 0)
		rc = cp_state_init(&cp, loaded, cp_now_ms()); /* takes loaded */
	else
		cp_config_free(loaded);
	if (rc == 0)
		rc = cp_dataplanes_init(&cp);
	if (rc < 0) {
		fprintf(stderr, "edgelb-cp: %s\n", strerror(-rc));
		goto out_state;
	}
	rc = cp_prefixes_load(&cp, &err);
	if (rc < 0) {
		fprintf(stderr, "edgelb-cp: %s\n", err.text);
		goto out_state;
	}
	rc = cp_bgp_init(&cp);
	if (rc < 0) {
		fprintf(stderr, "edgelb-cp: bgp: %s\n", strerror(-rc));
		goto out_state;
	}
	/* The operator methods, and the node's (cp_bgp.c) after them. */
	methods = calloc(cp_n_methods + cp_bgp_n_methods, sizeof(*methods));
	if (methods == NULL) {
		fprintf(stderr, "edgelb-cp: out of memory\n");
		goto out_bgp;
	}
	memcpy(methods, cp_methods, cp_n_methods * sizeof(*methods));
	memcpy(methods + cp_n_methods, cp_bgp_methods, cp_bgp_n_methods * sizeof(*methods));
	rpc.path = socket_path;
	rpc.methods = methods;
	rpc.n_methods = cp_n_methods + cp_bgp_n_methods;
	rpc.aliases = cp_aliases;
	rpc.n_aliases = cp_n_aliases;
	rpc.ctx = &cp;
	rpc.ping = cp_ping_describe;
	rpc.status = cp_status_describe;
	rpc.settle = cp_methods_settle;
	rpc.defer_methods = cp_defer_methods;
	operator_access(&cp.config->access, &rpc, &access, &ids);
	rc = elb_rpc_server_open(&cp.operator, &rpc);
	if (rc < 0) {
		fprintf(stderr, "edgelb-cp: operator socket %s: %s\n", socket_path, strerror(-rc));
		goto out_methods;
	}
	ev.events = EPOLLIN;
	ev.data.ptr = &cp.operator_kind;
	if (epoll_ctl(cp.epfd, EPOLL_CTL_ADD, elb_rpc_server_fd(cp.operator), &ev) < 0) {
		fprintf(stderr, "edgelb-cp: epoll: %s\n", strerror(errno));
		goto out_operator;
	}
	if (metrics != NULL) {
		rc = cp_metrics_open(&cp, metrics);
		if (rc < 0) {
			fprintf(stderr, "edgelb-cp: --metrics %s: %s\n", metrics,
				rc == -EINVAL ? "not ADDRESS:PORT (numeric, [v6]:port)"
					      : strerror(-rc));
			status = rc == -EINVAL ? 2 : 1;
			goto out_operator;
		}
	}
	cp_log("managing %u dataplane(s), %u VIP(s), %u backend(s); operator socket %s%s%s",
		cp.n_dps, cp.config->n_vips, cp.n_targets, socket_path,
		metrics != NULL ? "; metrics http://" : "", metrics != NULL ? metrics : "");
	/* The config loaded, the operator socket listening (served from the
	 * first round of run()). Dataplanes are reached afterwards. */
	elb_notify_ready("%u VIP(s), %u dataplane(s), operator socket %s", cp.config->n_vips,
			 cp.n_dps, socket_path);
	rc = run(&cp);
	if (rc < 0)
		fprintf(stderr, "edgelb-cp: epoll_wait: %s\n", strerror(-rc));
	else
		status = 0;

	cp_metrics_close(&cp);
out_operator:
	elb_rpc_server_close(cp.operator);
	cp.operator = NULL;
	cp_methods_free(&cp);
out_methods:
	free(methods);
out_bgp:
	cp_bgp_free(&cp);
out_state:
	cp_dataplanes_free(&cp);
	cp_state_free(&cp);
	cp_stream_close(&cp);
	close(cp.epfd);
	return status;
}
