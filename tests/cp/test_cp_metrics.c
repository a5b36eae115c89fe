/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The metrics adapter (cp_metrics.h): the Prometheus page of a fixed state
 * (one VIP, two dataplanes' counters summed), line for line; and the HTTP
 * side, libmicrohttpd driven from an epoll loop as edgelb-cp drives it,
 * asked by a client in a child process: the page and its content type,
 * 404 for other paths, 405 for other methods.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "cp_dataplanes.h"
#include "cp_metrics.h"
#include "elb_prefixes.h"
#include "elb_test.h"

static const char config_text[] =
	"{\"node\":{\"source_v4\":\"192.0.2.10\"},"
	"\"dataplanes\":[{\"name\":\"dp0\",\"socket\":\"/nonexistent/dp0.sock\"},"
	"{\"name\":\"dp1\",\"socket\":\"/nonexistent/dp1.sock\"}],"
	"\"vips\":[{\"address\":\"198.51.100.1\",\"port\":443,\"protocol\":\"tcp\","
	"\"backends\":[{\"address\":\"10.0.0.1\",\"weight\":2},"
	"{\"address\":\"10.0.0.2\",\"state\":\"draining\"}]}]}";

/* The prefix lists in force: two node rules, three of the VIP's. */
static const char prefixes_text[] =
	"{\"generation\":5,\"node\":{\"deny\":[\"203.0.113.0/24\",\"2001:db8:bad::/48\"]},"
	"\"vips\":[{\"address\":\"198.51.100.1\",\"port\":443,\"protocol\":\"tcp\","
	"\"allow\":[\"192.0.2.0/24\",\"198.18.0.0/15\"],\"deny\":[\"0.0.0.0/0\"]}]}";

/* What each dataplane reported in counters.get. */
static const char dp_counters[] =
	"{\"vips\":[{\"vip\":\"198.51.100.1:443/tcp\","
	"\"rx\":{\"packets\":100,\"bytes\":6000},\"forwarded\":{\"packets\":90,\"bytes\":9900},"
	"\"new_flows\":5,\"rate_limited_flows\":1,\"too_big_replies\":0,"
	"\"flood\":{\"active\":true,\"workers_active\":1,\"entries\":3,\"stateless_flows\":700},"
	"\"drops\":{\"rate_limited\":10,\"source_new_flows_limited\":4,\"source_denied\":18},"
	"\"prefixes\":{\"vip\":{\"allowed\":3,\"denied\":11},\"node\":{\"allowed\":0,\"denied\":7}},"
	"\"backends\":[{\"address\":\"10.0.0.1\",\"forwarded\":{\"packets\":90,\"bytes\":9900},"
	"\"new_flows\":5}]}]}";

static void fixed_state(struct cp_daemon *cp)
{
	struct cp_config *loaded;
	struct elb_dp_err err = {0};

	memset(cp, 0, sizeof(*cp));
	cp->epfd = -1;
	CU_ASSERT_EQUAL_FATAL(cp_config_parse(config_text, strlen(config_text), &loaded, &err), 0);
	CU_ASSERT_EQUAL_FATAL(cp_state_init(cp, loaded, 1000), 0);
	CU_ASSERT_EQUAL_FATAL(cp_dataplanes_init(cp), 0);
	{
		cJSON *json = cJSON_Parse(prefixes_text);

		elb_prefix_set_free(cp->prefixes);
		cp->prefixes = NULL;
		CU_ASSERT_EQUAL_FATAL(elb_prefix_set_from_json(json, "", &cp->prefixes, &err), 0);
		cJSON_Delete(json);
	}
	/* dp0 has the lists, dp1 (away) had an older set. */
	cp->dps[0].prefixes_gen = 5;
	cp->dps[1].prefixes_gen = 4;
	for (uint32_t i = 0; i < 2; i++) {
		cp->dps[i].counters = cJSON_Parse(dp_counters);
		CU_ASSERT_PTR_NOT_NULL_FATAL(cp->dps[i].counters);
	}
	/* dp0 holds the current generation; dp1 is away. */
	cp->dps[0].connected = true;
	cp->dps[0].pushed_gen = cp->gen;
	cp->dps[1].restarts = 3;
	cp->changes = 4;
	cp->health_transitions = 2;
	cp->events = 17;
}

static void free_state(struct cp_daemon *cp)
{
	cp_dataplanes_free(cp);
	cp_state_free(cp);
}

static void assert_line(const char *page, const char *line)
{
	char want[512];

	snprintf(want, sizeof(want), "\n%s\n", line);
	if (strstr(page, want) == NULL)
		fprintf(stderr, "\n  missing line: %s\n", line);
	CU_ASSERT_PTR_NOT_NULL(strstr(page, want));
}

static void test_render_fixed_state(void)
{
	static const char first_family[] =
		"# HELP edgelb_vip_rx_packets_total Packets received for the VIP, summed over the "
		"dataplanes.\n"
		"# TYPE edgelb_vip_rx_packets_total counter\n"
		"edgelb_vip_rx_packets_total{vip=\"198.51.100.1:443/tcp\"} 200\n";
	struct cp_daemon cp;
	size_t len = 0;
	char *page;

	fixed_state(&cp);
	page = cp_metrics_render(&cp, &len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(page);
	CU_ASSERT_EQUAL(strlen(page), len);
	CU_ASSERT_EQUAL(strncmp(page, first_family, sizeof(first_family) - 1), 0);
	/* Both dataplanes' reports summed. */
	assert_line(page, "edgelb_vip_rx_packets_total{vip=\"198.51.100.1:443/tcp\"} 200");
	assert_line(page, "edgelb_vip_rx_bytes_total{vip=\"198.51.100.1:443/tcp\"} 12000");
	assert_line(page, "edgelb_vip_forwarded_packets_total{vip=\"198.51.100.1:443/tcp\"} 180");
	assert_line(page, "edgelb_vip_forwarded_bytes_total{vip=\"198.51.100.1:443/tcp\"} 19800");
	assert_line(page, "edgelb_vip_new_flows_total{vip=\"198.51.100.1:443/tcp\"} 10");
	assert_line(page, "edgelb_vip_rate_limited_flows_total{vip=\"198.51.100.1:443/tcp\"} 2");
	assert_line(page, "edgelb_vip_too_big_replies_total{vip=\"198.51.100.1:443/tcp\"} 0");
	assert_line(page, "edgelb_vip_drops_total{vip=\"198.51.100.1:443/tcp\",reason=\"rate_limited\"} 20");
	assert_line(page, "edgelb_vip_drops_total{vip=\"198.51.100.1:443/tcp\","
			  "reason=\"source_new_flows_limited\"} 8");
	assert_line(page, "edgelb_vip_drops_total{vip=\"198.51.100.1:443/tcp\","
			  "reason=\"source_rate_limited\"} 0");
	/* Prefix lists: source_denied among the drops, the matches per list
	 * and action summed over both dataplanes, the rules in force. */
	assert_line(page, "edgelb_vip_drops_total{vip=\"198.51.100.1:443/tcp\","
			  "reason=\"source_denied\"} 36");
	assert_line(page, "# TYPE edgelb_vip_prefix_matches_total counter");
	assert_line(page, "edgelb_vip_prefix_matches_total{vip=\"198.51.100.1:443/tcp\",scope=\"vip\","
			  "action=\"allow\"} 6");
	assert_line(page, "edgelb_vip_prefix_matches_total{vip=\"198.51.100.1:443/tcp\",scope=\"vip\","
			  "action=\"deny\"} 22");
	assert_line(page, "edgelb_vip_prefix_matches_total{vip=\"198.51.100.1:443/tcp\",scope=\"node\","
			  "action=\"allow\"} 0");
	assert_line(page, "edgelb_vip_prefix_matches_total{vip=\"198.51.100.1:443/tcp\",scope=\"node\","
			  "action=\"deny\"} 14");
	assert_line(page, "# TYPE edgelb_prefix_rules gauge");
	assert_line(page, "edgelb_prefix_rules{scope=\"node\"} 2");
	assert_line(page, "edgelb_prefix_rules{scope=\"vip\"} 3");
	assert_line(page, "edgelb_cp_prefixes_generation 5");
	assert_line(page, "edgelb_dataplane_prefixes_in_sync{dataplane=\"dp0\"} 1");
	assert_line(page, "edgelb_dataplane_prefixes_in_sync{dataplane=\"dp1\"} 0");
	/* Flood mode: workers in it now and the counts, summed over both. */
	assert_line(page, "edgelb_vip_flood_workers{vip=\"198.51.100.1:443/tcp\"} 2");
	assert_line(page, "edgelb_vip_flood_entries_total{vip=\"198.51.100.1:443/tcp\"} 6");
	assert_line(page, "edgelb_vip_flood_stateless_flows_total{vip=\"198.51.100.1:443/tcp\"} 1400");
	/* Health and config, from the state core. */
	assert_line(page, "edgelb_vip_backends{vip=\"198.51.100.1:443/tcp\"} 2");
	assert_line(page, "edgelb_vip_backends_healthy{vip=\"198.51.100.1:443/tcp\"} 2");
	assert_line(page, "edgelb_vip_backends_draining{vip=\"198.51.100.1:443/tcp\"} 1");
	assert_line(page, "edgelb_vip_all_down{vip=\"198.51.100.1:443/tcp\"} 0");
	assert_line(page, "edgelb_vip_availability_objective{vip=\"198.51.100.1:443/tcp\"} 0.999");
	assert_line(page, "edgelb_backend_forwarded_packets_total{vip=\"198.51.100.1:443/tcp\","
			  "backend=\"10.0.0.1\"} 180");
	assert_line(page, "edgelb_backend_forwarded_bytes_total{vip=\"198.51.100.1:443/tcp\","
			  "backend=\"10.0.0.2\"} 0");
	assert_line(page, "edgelb_backend_weight{vip=\"198.51.100.1:443/tcp\",backend=\"10.0.0.1\"} 2");
	assert_line(page, "edgelb_backend_up{vip=\"198.51.100.1:443/tcp\",backend=\"10.0.0.2\","
			  "state=\"draining\"} 1");
	/* No SLO sample yet: no availability sample at all. */
	assert_line(page, "# TYPE edgelb_vip_availability gauge");
	CU_ASSERT_PTR_NULL(strstr(page, "edgelb_vip_availability{"));
	/* The daemon's own figures. */
	assert_line(page, "edgelb_dataplanes 2");
	assert_line(page, "edgelb_dataplane_connected{dataplane=\"dp0\",in_sync=\"true\"} 1");
	assert_line(page, "edgelb_dataplane_connected{dataplane=\"dp1\",in_sync=\"false\"} 0");
	assert_line(page, "edgelb_dataplane_restarts_total{dataplane=\"dp1\"} 3");
	assert_line(page, "edgelb_cp_changes_total 4");
	assert_line(page, "edgelb_cp_health_transitions_total 2");
	assert_line(page, "edgelb_cp_events_total 17");
	/* Without a "bgp" section, no BGP figure; the page ends with a newline. */
	CU_ASSERT_PTR_NULL(strstr(page, "edgelb_node_state"));
	CU_ASSERT_EQUAL(page[len - 1], '\n');
	free(page);
	free_state(&cp);
}

/* ------------------------------------------------------------------------ */
/* HTTP through the epoll loop */

#define TEST_PORT "19917"

/* In a child: send `request` to the server, write what came back to out_fd. */
static pid_t http_client(const char *request, int out_fd)
{
	pid_t pid = fork();

	CU_ASSERT_FATAL(pid >= 0);
	if (pid == 0) {
		struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(19917)};
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		char buf[4096];
		ssize_t n;

		inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
		if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
		    write(fd, request, strlen(request)) != (ssize_t)strlen(request))
			_exit(1);
		while ((n = read(fd, buf, sizeof(buf))) > 0)
			if (write(out_fd, buf, (size_t)n) != n)
				_exit(1);
		_exit(n == 0 ? 0 : 1);
	}
	return pid;
}

/* Serve from the loop until the child is done; its whole answer, malloc'ed. */
static char *exchange(struct cp_daemon *cp, const char *request)
{
	size_t cap = 1 << 20, len = 0;
	char *answer = calloc(1, cap);
	int pipefd[2], status = -1;
	pid_t pid;

	CU_ASSERT_FATAL(pipe(pipefd) == 0);
	pid = http_client(request, pipefd[1]);
	close(pipefd[1]);
	for (int round = 0; round < 500; round++) {
		struct epoll_event ev;
		struct pollfd pfd = {.fd = pipefd[0], .events = POLLIN};
		ssize_t n;

		if (epoll_wait(cp->epfd, &ev, 1, 10) == 1)
			CU_ASSERT_EQUAL(*(int *)ev.data.ptr, CP_POLL_METRICS);
		cp_metrics_event(cp);
		cp_metrics_tick(cp);
		if (poll(&pfd, 1, 0) == 1) {
			n = read(pipefd[0], answer + len, cap - len - 1);
			if (n <= 0)
				break;
			len += (size_t)n;
		}
	}
	close(pipefd[0]);
	waitpid(pid, &status, 0);
	CU_ASSERT_EQUAL(status, 0);
	return answer;
}

static void test_http(void)
{
	struct cp_daemon cp;
	char *answer;

	fixed_state(&cp);
	cp.epfd = epoll_create1(EPOLL_CLOEXEC);
	CU_ASSERT_EQUAL(cp_metrics_open(&cp, "127.0.0.1:x"), -EINVAL);
	CU_ASSERT_EQUAL_FATAL(cp_metrics_open(&cp, "127.0.0.1:" TEST_PORT), 0);
	/* A second server on the same port: the bind's errno. */
	{
		struct cp_metrics *first = cp.metrics;

		CU_ASSERT_EQUAL(cp_metrics_open(&cp, "127.0.0.1:" TEST_PORT), -EADDRINUSE);
		CU_ASSERT_PTR_EQUAL(cp.metrics, first);
	}
	answer = exchange(&cp, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
	CU_ASSERT_EQUAL(strncmp(answer, "HTTP/1.1 200 OK\r\n", 17), 0);
	CU_ASSERT_PTR_NOT_NULL(
		strstr(answer, "\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(answer, "\nedgelb_cp_events_total 17\n"));
	free(answer);
	/* The query string is not part of the path. */
	answer = exchange(&cp, "GET /metrics?x=1 HTTP/1.1\r\nHost: x\r\n\r\n");
	CU_ASSERT_EQUAL(strncmp(answer, "HTTP/1.1 200 OK\r\n", 17), 0);
	free(answer);
	answer = exchange(&cp, "GET /other HTTP/1.1\r\nHost: x\r\n\r\n");
	CU_ASSERT_EQUAL(strncmp(answer, "HTTP/1.1 404 Not Found\r\n", 24), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(answer, "\r\n\r\nthe figures are at /metrics\n"));
	free(answer);
	answer = exchange(&cp, "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
	CU_ASSERT_EQUAL(strncmp(answer, "HTTP/1.1 405 Method Not Allowed\r\n", 33), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(answer, "\r\nAllow: GET\r\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(answer, "\r\n\r\nGET only\n"));
	free(answer);
	cp_metrics_close(&cp);
	CU_ASSERT_PTR_NULL(cp.metrics);
	close(cp.epfd);
	cp.epfd = -1;
	free_state(&cp);
}

int main(void)
{
	static const struct elb_test_case cases[] = {
		ELB_TEST(test_render_fixed_state),
		ELB_TEST(test_http),
		ELB_TEST_END,
	};

	signal(SIGPIPE, SIG_IGN);
	return elb_test_run("cp_metrics", cases);
}
