/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The health-check state machine: the first result, rise and fall with
 * exact numbers, streaks broken by the other result; and the probes
 * against real sockets on 127.0.0.1 (TCP accept, refused port, HTTP status,
 * timeout).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "cp_health.h"
#include "elb_test.h"

static void feed(struct cp_hc_state *s, const char *results, uint32_t rise, uint32_t fall,
		 const char *want_status, const char *want_changes)
{
	for (size_t i = 0; results[i] != '\0'; i++) {
		bool changed = cp_hc_record(s, results[i] == '+', rise, fall);
		char status = s->status == CP_HC_UP ? 'U' : s->status == CP_HC_DOWN ? 'D' : '?';

		if (status != want_status[i] || (changed ? 'x' : '.') != want_changes[i])
			fprintf(stderr, "\n  step %zu of \"%s\": status %c change %d\n", i, results,
				status, changed);
		CU_ASSERT_EQUAL(status, want_status[i]);
		CU_ASSERT_EQUAL(changed ? 'x' : '.', want_changes[i]);
	}
}

static void test_first_result_decides(void)
{
	struct cp_hc_state up = {0}, down = {0};

	CU_ASSERT_TRUE(cp_hc_in_service(&up)); /* unknown: in service */
	feed(&up, "+", 2, 3, "U", ".");      /* was in service already */
	feed(&down, "-", 2, 3, "D", "x");    /* out at once */
}

static void test_fall_and_rise(void)
{
	struct cp_hc_state s = {0};

	/* fall 3: two failures are tolerated, the third takes it out. */
	feed(&s, "+--+---", 2, 3, "UUUUUUD", "......x");
	CU_ASSERT_EQUAL(s.fail_streak, 3);
	/* rise 2: a single pass is not enough, a failure resets the streak. */
	feed(&s, "+-++", 2, 3, "DDDU", "...x");
	CU_ASSERT_EQUAL(s.checks, 11);
	CU_ASSERT_EQUAL(s.failures, 6);
	CU_ASSERT_EQUAL(s.transitions, 2);
}

static void test_rise_one_fall_one(void)
{
	struct cp_hc_state s = {0};

	feed(&s, "+-+-", 1, 1, "UDUD", ".xxx");
}

/* A listening socket on 127.0.0.1 and its port. */
static int listener(uint16_t *port)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_FATAL(bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0);
	CU_ASSERT_FATAL(listen(fd, 16) == 0);
	CU_ASSERT_FATAL(getsockname(fd, (struct sockaddr *)&sin, &len) == 0);
	*port = ntohs(sin.sin_port);
	return fd;
}

/* Run a probe to completion (serving one HTTP reply if reply != NULL).
 * @return 1 pass, 0 fail. */
static int probe_once(uint8_t type, uint16_t port, int lfd, const char *reply, uint32_t timeout_ms,
		      char *error, size_t error_len)
{
	struct cp_health_check hc;
	struct cp_probe probe;
	union elb_addr addr = {0};
	int epfd = epoll_create1(0), rc, conn = -1;
	bool ok = false;
	uint64_t now = 0;
	int tag;

	cp_health_check_defaults(&hc);
	hc.type = type;
	hc.timeout_ms = timeout_ms;
	addr.v6[0] = 127;
	addr.v6[3] = 1;
	cp_probe_init(&probe);
	rc = cp_probe_start(&probe, epfd, &tag, &hc, &addr, ELB_AF_INET, port, now, &ok);
	CU_ASSERT(rc >= 0);
	while (rc == 0) {
		struct epoll_event ev;
		int n = epoll_wait(epfd, &ev, 1, 10);

		now += 10;
		if (lfd >= 0 && conn < 0 && reply != NULL)
			conn = accept(lfd, NULL, NULL);
		if (conn >= 0 && reply != NULL) {
			char buf[512];
			ssize_t got = recv(conn, buf, sizeof(buf), MSG_DONTWAIT);

			if (got == 0) { /* an earlier probe's connection: not ours */
				close(conn);
				conn = -1;
			} else if (got > 0) {
				CU_ASSERT_EQUAL(memcmp(buf, "GET /healthz HTTP/1.0\r\n", 23), 0);
				CU_ASSERT(send(conn, reply, strlen(reply), 0) > 0);
				close(conn);
				conn = -2;
			}
		}
		if (n == 1)
			rc = cp_probe_event(&probe, epfd, &tag, ev.events, now, &ok);
		if (rc == 0 && cp_probe_expire(&probe, epfd, now)) {
			ok = false;
			rc = 1;
		}
	}
	if (conn >= 0)
		close(conn);
	snprintf(error, error_len, "%s", probe.error);
	CU_ASSERT_EQUAL(probe.fd, -1);
	close(epfd);
	return ok;
}

static void test_probes(void)
{
	char error[128];
	uint16_t port, dead_port;
	int lfd = listener(&port), dead = listener(&dead_port);

	close(dead); /* a port nobody listens on */
	CU_ASSERT_EQUAL(probe_once(CP_HC_TCP, port, lfd, NULL, 500, error, sizeof(error)), 1);
	CU_ASSERT_EQUAL(probe_once(CP_HC_TCP, dead_port, -1, NULL, 500, error, sizeof(error)), 0);
	CU_ASSERT_STRING_EQUAL(error, "connect: Connection refused");
	CU_ASSERT_EQUAL(probe_once(CP_HC_HTTP, port, lfd, "HTTP/1.0 200 OK\r\n\r\n", 500, error,
				   sizeof(error)),
			1);
	CU_ASSERT_EQUAL(probe_once(CP_HC_HTTP, port, lfd, "HTTP/1.1 503 Unavailable\r\n\r\n", 500,
				   error, sizeof(error)),
			0);
	CU_ASSERT_STRING_EQUAL(error, "HTTP status 503, expected 200");
	/* Accepted by the kernel, never answered: times out. */
	CU_ASSERT_EQUAL(probe_once(CP_HC_HTTP, port, lfd, NULL, 50, error, sizeof(error)), 0);
	CU_ASSERT_EQUAL(strncmp(error, "timeout after", 13), 0);
	close(lfd);
}

int main(void)
{
	static const struct elb_test_case cases[] = {
		ELB_TEST(test_first_result_decides),
		ELB_TEST(test_fall_and_rise),
		ELB_TEST(test_rise_one_fall_one),
		ELB_TEST(test_probes),
		ELB_TEST_END,
	};

	return elb_test_run("cp_health", cases);
}
