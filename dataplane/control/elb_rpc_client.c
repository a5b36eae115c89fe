/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * JSON-RPC 2.0 line client; see elb_rpc_client.h for the behaviour.
 *
 * Per connection: an output buffer of encoded requests (sent from out_off),
 * an input buffer holding at most one unfinished line after each read, and
 * the pending requests (id and tag) in a small array searched by id: a few
 * dozen entries at most, so a scan costs less than a hash would.
 */
#include "elb_rpc_client.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define READ_CHUNK (64u << 10)      /* the input buffer grows when it has less room */
#define INPUT_INITIAL (128u << 10)
#define CONNECT_RETRY_MS 10         /* blocking call, server backlog full: wait this long */

struct pending_request {
	uint64_t id;
	struct elb_rpc_tag tag;
};

struct elb_rpc_conn {
	int fd;
	size_t max_input;
	uint32_t max_pending;
	char *in;
	size_t in_len, in_cap;
	char *out;
	size_t out_len, out_off, out_cap;
	struct pending_request *pending;
	uint32_t n_pending;
	uint64_t next_id;
	elb_rpc_notification_fn on_notification;
	void *notification_ctx;
	struct elb_rpc_conn_stats stats;
};

void elb_rpc_client_error_clear(struct elb_rpc_client_error *err)
{
	cJSON_Delete(err->data);
	memset(err, 0, sizeof(*err));
}

static void local_error(struct elb_rpc_client_error *err, int rc, const char *what)
{
	cJSON_Delete(err->data);
	err->data = NULL;
	err->code = 0;
	snprintf(err->message, sizeof(err->message), "%s: %s", what,
		 rc == -EPIPE ? "the server closed the connection before answering"
		 : rc == -EMSGSIZE ? "reply longer than the client takes"
		 : rc == -ETIMEDOUT ? "no reply in time"
				    : strerror(-rc));
}

int elb_rpc_conn_adopt(struct elb_rpc_conn **out, int fd, const struct elb_rpc_conn_limits *limits)
{
	struct elb_rpc_conn *conn = calloc(1, sizeof(*conn));

	*out = NULL;
	if (conn == NULL) {
		close(fd);
		return -ENOMEM;
	}
	conn->fd = fd;
	conn->max_input = limits != NULL && limits->max_input != 0 ? limits->max_input
								   : ELB_RPC_CLIENT_MAX_INPUT;
	conn->max_pending = limits != NULL && limits->max_pending != 0
				    ? limits->max_pending
				    : ELB_RPC_CLIENT_MAX_PENDING;
	conn->pending = calloc(conn->max_pending, sizeof(*conn->pending));
	if (conn->pending == NULL) {
		elb_rpc_conn_close(conn);
		return -ENOMEM;
	}
	*out = conn;
	return 0;
}

int elb_rpc_conn_open(struct elb_rpc_conn **out, const char *path,
		      const struct elb_rpc_conn_limits *limits)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd, rc;

	*out = NULL;
	if (strlen(path) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	memcpy(sun.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* A Unix connect completes at once or fails (EAGAIN: backlog full). */
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	return elb_rpc_conn_adopt(out, fd, limits);
}

void elb_rpc_conn_close(struct elb_rpc_conn *conn)
{
	if (conn == NULL)
		return;
	if (conn->fd >= 0)
		close(conn->fd);
	free(conn->in);
	free(conn->out);
	free(conn->pending);
	free(conn);
}

void elb_rpc_conn_on_notification(struct elb_rpc_conn *conn, elb_rpc_notification_fn fn,
				  void *ctx)
{
	conn->on_notification = fn;
	conn->notification_ctx = ctx;
}

int elb_rpc_conn_fd(const struct elb_rpc_conn *conn)
{
	return conn->fd;
}

bool elb_rpc_conn_want_write(const struct elb_rpc_conn *conn)
{
	return conn->out_off < conn->out_len;
}

uint32_t elb_rpc_conn_pending(const struct elb_rpc_conn *conn)
{
	return conn->n_pending;
}

void elb_rpc_conn_stats(const struct elb_rpc_conn *conn, struct elb_rpc_conn_stats *out)
{
	*out = conn->stats;
}

int elb_rpc_conn_flush(struct elb_rpc_conn *conn)
{
	while (conn->out_off < conn->out_len) {
		ssize_t n = send(conn->fd, conn->out + conn->out_off, conn->out_len - conn->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? 0 : -errno; /* EAGAIN: nothing more for now */
		}
		conn->out_off += (size_t)n;
	}
	conn->out_off = conn->out_len = 0;
	return 0;
}

int elb_rpc_conn_send(struct elb_rpc_conn *conn, const char *method, cJSON *params,
		      struct elb_rpc_tag tag, uint64_t *id)
{
	cJSON *req;
	char *line;
	size_t len;

	if (conn->n_pending == conn->max_pending) {
		cJSON_Delete(params);
		return -ENOBUFS;
	}
	req = cJSON_CreateObject();
	if (req == NULL) {
		cJSON_Delete(params);
		return -ENOMEM;
	}
	cJSON_AddStringToObject(req, "jsonrpc", "2.0");
	cJSON_AddNumberToObject(req, "id", (double)(conn->next_id + 1));
	cJSON_AddStringToObject(req, "method", method);
	if (params != NULL)
		cJSON_AddItemToObject(req, "params", params);
	line = cJSON_PrintUnformatted(req);
	cJSON_Delete(req);
	if (line == NULL)
		return -ENOMEM;
	len = strlen(line);
	if (conn->out_len + len + 1 > conn->out_cap) {
		size_t cap = (conn->out_len + len + 1) * 2;
		char *grown = realloc(conn->out, cap);

		if (grown == NULL) {
			free(line);
			return -ENOMEM;
		}
		conn->out = grown;
		conn->out_cap = cap;
	}
	memcpy(conn->out + conn->out_len, line, len);
	conn->out[conn->out_len + len] = '\n';
	conn->out_len += len + 1;
	free(line);
	conn->next_id++;
	conn->pending[conn->n_pending++] = (struct pending_request){conn->next_id, tag};
	conn->stats.sent++;
	if (id != NULL)
		*id = conn->next_id;
	return elb_rpc_conn_flush(conn);
}

/* The pending request a reply's id names (null: the oldest), taken off the
 * table. */
static bool take_pending(struct elb_rpc_conn *conn, const cJSON *id, struct pending_request *out)
{
	if (!cJSON_IsNull(id) && (!cJSON_IsNumber(id) || id->valuedouble < 1))
		return false;
	for (uint32_t i = 0; i < conn->n_pending; i++) {
		if (!cJSON_IsNull(id) && conn->pending[i].id != (uint64_t)id->valuedouble)
			continue;
		*out = conn->pending[i];
		/* Keep the order of the others: the oldest is looked at first. */
		memmove(&conn->pending[i], &conn->pending[i + 1],
			(conn->n_pending - i - 1) * sizeof(*conn->pending));
		conn->n_pending--;
		return true;
	}
	return false;
}

/* A message without id: a notification if it names a method and someone
 * takes them. @return whether it was handed over. */
static bool handle_notification(struct elb_rpc_conn *conn, cJSON *msg)
{
	const cJSON *method = cJSON_GetObjectItemCaseSensitive(msg, "method");
	struct elb_rpc_notification note;

	if (conn->on_notification == NULL || !cJSON_IsString(method))
		return false;
	note.method = method->valuestring;
	note.params = cJSON_DetachItemFromObjectCaseSensitive(msg, "params");
	conn->stats.notifications++;
	conn->on_notification(conn->notification_ctx, &note);
	cJSON_Delete(note.params);
	return true;
}

static void handle_line(struct elb_rpc_conn *conn, const char *line, size_t len,
			elb_rpc_reply_fn on_reply, void *ctx)
{
	cJSON *msg = cJSON_ParseWithLength(line, len);
	struct elb_rpc_reply reply = {0};
	struct pending_request p;
	const cJSON *id;
	cJSON *error;

	if (msg == NULL || !cJSON_IsObject(msg)) {
		conn->stats.skipped++;
		cJSON_Delete(msg);
		return;
	}
	id = cJSON_GetObjectItemCaseSensitive(msg, "id");
	error = cJSON_GetObjectItemCaseSensitive(msg, "error");
	if (id == NULL) {
		if (!handle_notification(conn, msg))
			conn->stats.skipped++;
		cJSON_Delete(msg);
		return;
	}
	/* Only an error may name no request: a result with a null id
	 * answers nothing we asked. */
	if ((cJSON_IsNull(id) && !cJSON_IsObject(error)) || !take_pending(conn, id, &p)) {
		conn->stats.skipped++;
		cJSON_Delete(msg);
		return;
	}
	conn->stats.replies++;
	reply.id = p.id;
	reply.tag = p.tag;
	reply.id_null = cJSON_IsNull(id);
	conn->stats.refusals += reply.id_null;
	if (cJSON_IsObject(error)) {
		const cJSON *code = cJSON_GetObjectItemCaseSensitive(error, "code");
		const cJSON *message = cJSON_GetObjectItemCaseSensitive(error, "message");

		reply.error.code = cJSON_IsNumber(code) ? code->valueint : ELB_RPC_INTERNAL_ERROR;
		snprintf(reply.error.message, sizeof(reply.error.message), "%s",
			 cJSON_IsString(message) ? message->valuestring : "?");
		reply.error.data = cJSON_DetachItemFromObjectCaseSensitive(error, "data");
	} else {
		reply.ok = true;
		reply.result = cJSON_DetachItemFromObjectCaseSensitive(msg, "result");
		if (reply.result == NULL)
			reply.result = cJSON_CreateNull();
	}
	cJSON_Delete(msg);
	if (on_reply != NULL)
		on_reply(ctx, &reply);
	cJSON_Delete(reply.result);
	cJSON_Delete(reply.error.data);
}

int elb_rpc_conn_read(struct elb_rpc_conn *conn, elb_rpc_reply_fn on_reply, void *ctx)
{
	for (;;) {
		size_t scanned = conn->in_len;
		char *start, *nl;
		ssize_t n;

		if (conn->in_cap - conn->in_len < READ_CHUNK) {
			size_t cap = conn->in_cap ? conn->in_cap * 2 : INPUT_INITIAL;
			char *grown;

			if (cap > conn->max_input + READ_CHUNK)
				cap = conn->max_input + READ_CHUNK;
			if (cap <= conn->in_cap)
				return -EMSGSIZE;
			grown = realloc(conn->in, cap);
			if (grown == NULL)
				return -ENOMEM;
			conn->in = grown;
			conn->in_cap = cap;
		}
		n = recv(conn->fd, conn->in + conn->in_len, conn->in_cap - conn->in_len, MSG_DONTWAIT);
		if (n == 0)
			return -EPIPE;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? 0 : -errno; /* EAGAIN: nothing more for now */
		}
		conn->in_len += (size_t)n;
		start = conn->in;
		/* Only the new bytes can hold the "\n" that ends the unfinished line. */
		nl = memchr(conn->in + scanned, '\n', (size_t)n);
		while (nl != NULL) {
			handle_line(conn, start, (size_t)(nl - start), on_reply, ctx);
			start = nl + 1;
			nl = memchr(start, '\n', conn->in_len - (size_t)(start - conn->in));
		}
		conn->in_len -= (size_t)(start - conn->in);
		memmove(conn->in, start, conn->in_len);
		if (conn->in_len > conn->max_input)
			return -EMSGSIZE;
	}
}

static uint64_t monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Wait for the fd until deadline (UINT64_MAX: none). @return 0 or -ETIMEDOUT / -errno. */
static int wait_fd(int fd, short events, uint64_t deadline)
{
	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = events};
		uint64_t now = monotonic_ms();
		int wait = deadline == UINT64_MAX ? -1
			   : deadline > now	   ? (int)(deadline - now)
						   : 0;
		int n;

		if (deadline != UINT64_MAX && now >= deadline)
			return -ETIMEDOUT;
		n = poll(&pfd, 1, wait);
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return -errno;
	}
}

static uint64_t deadline_of(int timeout_ms)
{
	return timeout_ms < 0 ? UINT64_MAX : monotonic_ms() + (uint64_t)timeout_ms;
}

struct call_wait {
	uint64_t id;
	bool done;
	struct elb_rpc_reply reply;
};

static void call_reply(void *ctx, struct elb_rpc_reply *reply)
{
	struct call_wait *w = ctx;

	if (reply->id != w->id)
		return; /* another request's: the caller of a blocking call does not want it */
	w->done = true;
	w->reply = *reply;
	reply->result = NULL;
	reply->error.data = NULL;
}

static int call_on(struct elb_rpc_conn *conn, const char *method, cJSON *params,
		   uint64_t deadline, cJSON **result, struct elb_rpc_client_error *err)
{
	struct call_wait w = {0};
	int rc;

	*result = NULL;
	rc = elb_rpc_conn_send(conn, method, params, (struct elb_rpc_tag){0}, &w.id);
	while (rc == 0 && elb_rpc_conn_want_write(conn)) {
		rc = wait_fd(conn->fd, POLLOUT, deadline);
		if (rc == 0)
			rc = elb_rpc_conn_flush(conn);
	}
	/* A server that refused the connection wrote why and closed it, maybe
	 * before the request went out (the request is pending all the same):
	 * its refusal is the answer, to be read. */
	if ((rc == -EPIPE || rc == -ECONNRESET) && elb_rpc_conn_pending(conn) > 0)
		rc = 0;
	while (rc == 0 && !w.done) {
		rc = wait_fd(conn->fd, POLLIN, deadline);
		if (rc == 0)
			rc = elb_rpc_conn_read(conn, call_reply, &w);
		/* A reply and the server's close (or its reset, when it closed
		 * with our request unread) can come in one read. */
		if (rc < 0 && w.done)
			rc = 0;
	}
	if (rc < 0) {
		local_error(err, rc, method);
		return rc;
	}
	if (!w.reply.ok) {
		cJSON_Delete(err->data);
		*err = w.reply.error;
		return -EREMOTEIO;
	}
	*result = w.reply.result;
	return 0;
}

int elb_rpc_conn_call(struct elb_rpc_conn *conn, const char *method, cJSON *params,
		      int timeout_ms, cJSON **result, struct elb_rpc_client_error *err)
{
	return call_on(conn, method, params, deadline_of(timeout_ms), result, err);
}

int elb_rpc_conn_wait(struct elb_rpc_conn *conn, int timeout_ms, elb_rpc_reply_fn on_reply,
		      void *ctx)
{
	int rc = wait_fd(conn->fd, POLLIN, deadline_of(timeout_ms));

	return rc < 0 ? rc : elb_rpc_conn_read(conn, on_reply, ctx);
}

static int connect_until(struct elb_rpc_conn **out, const char *path, uint64_t deadline)
{
	int rc;

	for (;;) {
		rc = elb_rpc_conn_open(out, path, NULL);
		if (rc != -EAGAIN || monotonic_ms() + CONNECT_RETRY_MS > deadline)
			return rc;
		usleep(CONNECT_RETRY_MS * 1000);
	}
}

int elb_rpc_conn_connect(struct elb_rpc_conn **out, const char *path, int timeout_ms)
{
	return connect_until(out, path, deadline_of(timeout_ms));
}

int elb_rpc_call(const char *socket_path, const char *method, cJSON *params, int timeout_ms,
		 cJSON **result, struct elb_rpc_client_error *err)
{
	uint64_t deadline = deadline_of(timeout_ms);
	struct elb_rpc_conn *conn;
	int rc;

	*result = NULL;
	rc = connect_until(&conn, socket_path, deadline);
	if (rc < 0) {
		cJSON_Delete(params);
		cJSON_Delete(err->data);
		err->data = NULL;
		err->code = 0;
		snprintf(err->message, sizeof(err->message), "connect %s: %s", socket_path,
			 strerror(-rc));
		return rc;
	}
	rc = call_on(conn, method, params, deadline, result, err);
	elb_rpc_conn_close(conn);
	return rc;
}
