/* SPDX-License-Identifier: BSD-3-Clause */
/* Health checks; see cp_health.h. */
#include "cp_health.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>

bool cp_hc_record(struct cp_hc_state *state, bool ok, uint32_t rise, uint32_t fall)
{
	bool was_in = cp_hc_in_service(state);

	state->checks++;
	if (ok) {
		state->pass_streak++;
		state->fail_streak = 0;
	} else {
		state->failures++;
		state->fail_streak++;
		state->pass_streak = 0;
	}
	switch (state->status) {
	case CP_HC_UNKNOWN:
		state->status = ok ? CP_HC_UP : CP_HC_DOWN;
		break;
	case CP_HC_UP:
		if (state->fail_streak >= fall)
			state->status = CP_HC_DOWN;
		break;
	default:
		if (state->pass_streak >= rise)
			state->status = CP_HC_UP;
		break;
	}
	if (was_in == cp_hc_in_service(state))
		return false;
	state->transitions++;
	return true;
}

const char *cp_hc_status_name(uint8_t status)
{
	switch (status) {
	case CP_HC_UP:
		return "up";
	case CP_HC_DOWN:
		return "down";
	default:
		return "unknown";
	}
}

void cp_probe_init(struct cp_probe *probe)
{
	memset(probe, 0, sizeof(*probe));
	probe->fd = -1;
}

static void probe_close(struct cp_probe *probe, int epfd)
{
	if (probe->fd >= 0) {
		epoll_ctl(epfd, EPOLL_CTL_DEL, probe->fd, NULL);
		close(probe->fd);
	}
	probe->fd = -1;
	probe->phase = CP_PROBE_IDLE;
}

static int probe_finish(struct cp_probe *probe, int epfd, uint64_t now_ms, bool pass, bool *ok)
{
	probe->last_rtt_ms = (uint32_t)(now_ms - probe->started_ms);
	probe_close(probe, epfd);
	*ok = pass;
	return 1;
}

static int __attribute__((format(printf, 5, 6)))
probe_fail(struct cp_probe *probe, int epfd, uint64_t now_ms, bool *ok, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(probe->error, sizeof(probe->error), fmt, ap);
	va_end(ap);
	return probe_finish(probe, epfd, now_ms, false, ok);
}

int cp_probe_start(struct cp_probe *probe, int epfd, void *tag, const struct cp_health_check *hc,
		   const union elb_addr *addr, uint8_t family, uint16_t port, uint64_t now_ms,
		   bool *ok)
{
	struct sockaddr_storage ss;
	struct epoll_event ev;
	socklen_t sslen;
	char host[INET6_ADDRSTRLEN + 2];
	int fd, rc;

	memset(&ss, 0, sizeof(ss));
	probe->started_ms = now_ms;
	probe->deadline_ms = now_ms + hc->timeout_ms;
	probe->type = hc->type;
	probe->expect_status = hc->expect_status;
	probe->error[0] = '\0';
	probe->reply_len = 0;
	probe->sent = 0;
	if (family == ELB_AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		memcpy(&sin->sin_addr, addr->v6, 4);
		sslen = sizeof(*sin);
		inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
		char text[INET6_ADDRSTRLEN];

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		memcpy(&sin6->sin6_addr, addr->v6, 16);
		sslen = sizeof(*sin6);
		inet_ntop(AF_INET6, &sin6->sin6_addr, text, sizeof(text));
		snprintf(host, sizeof(host), "[%s]", text);
	}
	probe->request_len = (size_t)snprintf(probe->request, sizeof(probe->request),
					      "GET %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: "
					      "edgelb-cp\r\nConnection: close\r\n\r\n",
					      hc->path, host);
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		/* Out of fds or buffers is our problem, not the backend's: no
		 * result, the caller tries again at the next interval. */
		probe->phase = CP_PROBE_IDLE;
		return -errno;
	}
	probe->fd = fd;
	probe->phase = CP_PROBE_CONNECTING;
	rc = connect(fd, (struct sockaddr *)&ss, sslen);
	if (rc < 0 && errno != EINPROGRESS)
		return probe_fail(probe, epfd, now_ms, ok, "connect: %s", strerror(errno));
	ev.events = EPOLLOUT;
	ev.data.ptr = tag;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		rc = -errno;
		probe_close(probe, epfd);
		return rc;
	}
	return 0;
}

static int probe_set_events(struct cp_probe *probe, int epfd, void *tag, uint32_t events)
{
	struct epoll_event ev;

	ev.events = events;
	ev.data.ptr = tag;
	return epoll_ctl(epfd, EPOLL_CTL_MOD, probe->fd, &ev) < 0 ? -errno : 0;
}

/* "HTTP/1.1 200 OK": the status code, or -1 if the line is not a status line. */
static int parse_status_line(const char *line, size_t len)
{
	if (len < 12 || memcmp(line, "HTTP/", 5) != 0)
		return -1;
	const char *sp = memchr(line, ' ', len);

	if (sp == NULL || (size_t)(sp - line) + 4 > len)
		return -1;
	if (sp[1] < '1' || sp[1] > '5' || sp[2] < '0' || sp[2] > '9' || sp[3] < '0' || sp[3] > '9')
		return -1;
	return (sp[1] - '0') * 100 + (sp[2] - '0') * 10 + (sp[3] - '0');
}

int cp_probe_event(struct cp_probe *probe, int epfd, void *tag, uint32_t events,
			  uint64_t now_ms, bool *ok)
{
	int soerr = 0;
	socklen_t len = sizeof(soerr);
	ssize_t n;

	if (probe->fd < 0)
		return 0;
	if (probe->phase == CP_PROBE_CONNECTING) {
		if (getsockopt(probe->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
			soerr = errno;
		if (soerr != 0)
			return probe_fail(probe, epfd, now_ms, ok, "connect: %s", strerror(soerr));
		if (!(events & EPOLLOUT))
			return 0;
		if (probe->type == CP_HC_TCP)
			return probe_finish(probe, epfd, now_ms, true, ok);
		probe->phase = CP_PROBE_SENDING;
	}
	if (probe->phase == CP_PROBE_SENDING) {
		n = send(probe->fd, probe->request + probe->sent, probe->request_len - probe->sent,
			 MSG_NOSIGNAL);
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return probe_fail(probe, epfd, now_ms, ok, "send: %s", strerror(errno));
		if (n > 0)
			probe->sent += (size_t)n;
		if (probe->sent < probe->request_len)
			return 0;
		probe->phase = CP_PROBE_READING;
		if (probe_set_events(probe, epfd, tag, EPOLLIN) < 0)
			return probe_fail(probe, epfd, now_ms, ok, "epoll: %s", strerror(errno));
		return 0;
	}
	/* Reading: the status line is all we need. */
	n = recv(probe->fd, probe->reply + probe->reply_len,
		 sizeof(probe->reply) - 1 - probe->reply_len, 0);
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return 0;
		return probe_fail(probe, epfd, now_ms, ok, "recv: %s", strerror(errno));
	}
	probe->reply_len += (size_t)n;
	probe->reply[probe->reply_len] = '\0';
	if (n > 0 && memchr(probe->reply, '\n', probe->reply_len) == NULL &&
	    probe->reply_len < sizeof(probe->reply) - 1)
		return 0;
	int status = parse_status_line(probe->reply, probe->reply_len);

	if (status < 0)
		return probe_fail(probe, epfd, now_ms, ok, "no HTTP status line in the reply");
	if (status != probe->expect_status)
		return probe_fail(probe, epfd, now_ms, ok, "HTTP status %d, expected %u", status,
				  probe->expect_status);
	return probe_finish(probe, epfd, now_ms, true, ok);
}

int cp_probe_expire(struct cp_probe *probe, int epfd, uint64_t now_ms)
{
	bool ok;

	if (probe->fd < 0 || now_ms < probe->deadline_ms)
		return 0;
	probe_fail(probe, epfd, now_ms, &ok, "timeout after %llu ms",
		   (unsigned long long)(now_ms - probe->started_ms));
	return 1;
}

void cp_probe_cancel(struct cp_probe *probe, int epfd)
{
	probe_close(probe, epfd);
}
