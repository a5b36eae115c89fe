/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The JSON-RPC client (elb_rpc_client.h): framing, ids, replies out of
 * order, error replies, refusals with "id": null, notifications in order
 * around the replies, the input cap, a server that closes mid-reply or
 * never answers. The connection object is driven against the other end of
 * a socketpair written by hand; the blocking calls against real servers on
 * Unix sockets in forked children (elb_rpc servers refusing a connection
 * for its credentials or for their client limit, a line for its length,
 * and sending notifications; hand-written misbehaving ones).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "elb_rpc.h"
#include "elb_rpc_client.h"
#include "elb_test.h"

struct pair {
	struct elb_rpc_conn *conn;
	int peer; /* the server's end, written by the test */
};

static void pair_open(struct pair *p, size_t max_input)
{
	struct elb_rpc_conn_limits limits = {.max_input = max_input};
	int sv[2];

	CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
	CU_ASSERT_FATAL(elb_rpc_conn_adopt(&p->conn, sv[0], &limits) == 0);
	p->peer = sv[1];
}

static void pair_close(struct pair *p)
{
	elb_rpc_conn_close(p->conn);
	if (p->peer >= 0)
		close(p->peer);
}

static void peer_write(struct pair *p, const char *text)
{
	CU_ASSERT_EQUAL_FATAL(write(p->peer, text, strlen(text)), (ssize_t)strlen(text));
}

/* What the callback saw, in order. */
struct seen {
	unsigned int n;
	uint64_t ids[8];
	int kinds[8];
	uint64_t values[8];
	bool ok[8];
	bool id_null[8];
	int codes[8];
	char messages[8][ELB_RPC_ERROR_MESSAGE_MAX];
	char results[8][128]; /* result or error.data, unformatted */
};

static void record(void *ctx, struct elb_rpc_reply *reply)
{
	struct seen *s = ctx;
	unsigned int i = s->n++;
	char *text;

	if (i >= 8)
		return;
	s->ids[i] = reply->id;
	s->kinds[i] = reply->tag.kind;
	s->values[i] = reply->tag.value;
	s->ok[i] = reply->ok;
	s->id_null[i] = reply->id_null;
	s->codes[i] = reply->error.code;
	snprintf(s->messages[i], sizeof(s->messages[i]), "%s", reply->error.message);
	text = cJSON_PrintUnformatted(reply->ok ? reply->result : reply->error.data);
	snprintf(s->results[i], sizeof(s->results[i]), "%s", text != NULL ? text : "(none)");
	free(text);
}

static void test_requests_are_lines_with_growing_ids(void)
{
	static const char want[] = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}\n"
				   "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"config.set\","
				   "\"params\":{\"a\":1}}\n";
	struct pair p;
	char got[256];
	uint64_t id = 0;
	cJSON *params = cJSON_CreateObject();
	ssize_t n;

	pair_open(&p, 0);
	cJSON_AddNumberToObject(params, "a", 1);
	CU_ASSERT_EQUAL(elb_rpc_conn_send(p.conn, "ping", NULL, (struct elb_rpc_tag){1, 0}, &id), 0);
	CU_ASSERT_EQUAL(id, 1);
	CU_ASSERT_EQUAL(elb_rpc_conn_send(p.conn, "config.set", params, (struct elb_rpc_tag){2, 7},
					  &id),
			0);
	CU_ASSERT_EQUAL(id, 2);
	CU_ASSERT_FALSE(elb_rpc_conn_want_write(p.conn));
	CU_ASSERT_EQUAL(elb_rpc_conn_pending(p.conn), 2);
	n = read(p.peer, got, sizeof(got));
	ELB_ASSERT_BYTES((const uint8_t *)got, n < 0 ? 0 : (size_t)n, (const uint8_t *)want,
			 sizeof(want) - 1);
	pair_close(&p);
}

static void test_replies_matched_by_id_in_any_order(void)
{
	struct elb_rpc_conn_stats stats;
	struct seen seen = {0};
	struct pair p;

	pair_open(&p, 0);
	for (int k = 1; k <= 3; k++)
		CU_ASSERT_EQUAL(elb_rpc_conn_send(p.conn, "m", NULL,
						  (struct elb_rpc_tag){k, 100u + (uint64_t)k}, NULL),
				0);
	/* Replies 3, 1, 2; an id never sent, a notification and a line that
	 * is not JSON are skipped; the last reply comes in two pieces. */
	peer_write(&p, "{\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{\"x\":3}}\n"
		       "{\"jsonrpc\":\"2.0\",\"id\":9,\"result\":9}\n"
		       "not json\n"
		       "{\"jsonrpc\":\"2.0\",\"method\":\"event\",\"params\":{}}\n"
		       "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":\"one\"}\r\n"
		       "{\"jsonrpc\":\"2.0\",\"id\":2,");
	CU_ASSERT_EQUAL(elb_rpc_conn_read(p.conn, record, &seen), 0);
	CU_ASSERT_EQUAL(seen.n, 2);
	CU_ASSERT_EQUAL(elb_rpc_conn_pending(p.conn), 1);
	peer_write(&p, "\"result\":null}\n");
	CU_ASSERT_EQUAL(elb_rpc_conn_read(p.conn, record, &seen), 0);
	CU_ASSERT_EQUAL_FATAL(seen.n, 3);
	CU_ASSERT_EQUAL(seen.ids[0], 3);
	CU_ASSERT_EQUAL(seen.kinds[0], 3);
	CU_ASSERT_EQUAL(seen.values[0], 103);
	CU_ASSERT_STRING_EQUAL(seen.results[0], "{\"x\":3}");
	CU_ASSERT_EQUAL(seen.ids[1], 1);
	CU_ASSERT_EQUAL(seen.values[1], 101);
	CU_ASSERT_STRING_EQUAL(seen.results[1], "\"one\"");
	CU_ASSERT_EQUAL(seen.ids[2], 2);
	CU_ASSERT_EQUAL(seen.kinds[2], 2);
	CU_ASSERT_TRUE(seen.ok[2]);
	CU_ASSERT_STRING_EQUAL(seen.results[2], "null");
	CU_ASSERT_EQUAL(elb_rpc_conn_pending(p.conn), 0);
	elb_rpc_conn_stats(p.conn, &stats);
	CU_ASSERT_EQUAL(stats.sent, 3);
	CU_ASSERT_EQUAL(stats.replies, 3);
	CU_ASSERT_EQUAL(stats.skipped, 3);
	/* An answered id is not pending any more: a second reply is skipped. */
	peer_write(&p, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":\"again\"}\n");
	CU_ASSERT_EQUAL(elb_rpc_conn_read(p.conn, record, &seen), 0);
	CU_ASSERT_EQUAL(seen.n, 3);
	pair_close(&p);
}

static void test_error_reply(void)
{
	struct seen seen = {0};
	struct pair p;

	pair_open(&p, 0);
	CU_ASSERT_EQUAL(elb_rpc_conn_send(p.conn, "config.set", NULL, (struct elb_rpc_tag){2, 5},
					  NULL),
			0);
	peer_write(&p, "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-32602,"
		       "\"message\":\"vips[0].port: out of range\",\"data\":{\"field\":\"vips[0].port\"}}}\n");
	CU_ASSERT_EQUAL(elb_rpc_conn_read(p.conn, record, &seen), 0);
	CU_ASSERT_EQUAL_FATAL(seen.n, 1);
	CU_ASSERT_FALSE(seen.ok[0]);
	CU_ASSERT_EQUAL(seen.codes[0], ELB_RPC_INVALID_PARAMS);
	CU_ASSERT_STRING_EQUAL(seen.messages[0], "vips[0].port: out of range");
	CU_ASSERT_STRING_EQUAL(seen.results[0], "{\"field\":\"vips[0].port\"}");
	CU_ASSERT_EQUAL(seen.values[0], 5);
	pair_close(&p);
}

static void test_refusal_with_null_id_answers_the_oldest_request(void)
{
	struct elb_rpc_conn_stats stats;
	struct seen seen = {0};
	struct pair p;

	pair_open(&p, 0);
	for (int k = 1; k <= 2; k++)
		CU_ASSERT_EQUAL(elb_rpc_conn_send(p.conn, "m", NULL,
						  (struct elb_rpc_tag){k, 10u + (uint64_t)k}, NULL),
				0);
	/* A result with a null id answers nothing we asked: skipped. The
	 * error with a null id is the server's answer to the oldest request. */
	peer_write(&p, "{\"jsonrpc\":\"2.0\",\"id\":null,\"result\":1}\n"
		       "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32700,"
		       "\"message\":\"Parse error: not JSON\"}}\n");
	CU_ASSERT_EQUAL(elb_rpc_conn_read(p.conn, record, &seen), 0);
	CU_ASSERT_EQUAL_FATAL(seen.n, 1);
	CU_ASSERT_EQUAL(seen.ids[0], 1);
	CU_ASSERT_EQUAL(seen.values[0], 11);
	CU_ASSERT_TRUE(seen.id_null[0]);
	CU_ASSERT_FALSE(seen.ok[0]);
	CU_ASSERT_EQUAL(seen.codes[0], ELB_RPC_PARSE_ERROR);
	CU_ASSERT_STRING_EQUAL(seen.messages[0], "Parse error: not JSON");
	CU_ASSERT_EQUAL(elb_rpc_conn_pending(p.conn), 1);
	/* The other request's own reply still finds it; a refusal with
	 * nothing pending is skipped. */
	peer_write(&p, "{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":\"two\"}\n"
		       "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32600,"
		       "\"message\":\"Invalid Request\"}}\n");
	CU_ASSERT_EQUAL(elb_rpc_conn_read(p.conn, record, &seen), 0);
	CU_ASSERT_EQUAL_FATAL(seen.n, 2);
	CU_ASSERT_EQUAL(seen.ids[1], 2);
	CU_ASSERT_FALSE(seen.id_null[1]);
	CU_ASSERT_STRING_EQUAL(seen.results[1], "\"two\"");
	elb_rpc_conn_stats(p.conn, &stats);
	CU_ASSERT_EQUAL(stats.replies, 2);
	CU_ASSERT_EQUAL(stats.refusals, 1);
	CU_ASSERT_EQUAL(stats.skipped, 2);
	pair_close(&p);
}

/* Replies and notifications as one log, in the order they were handed over. */
struct message_log {
	unsigned int n;
	char lines[8][160];
	cJSON *taken[8]; /* params the notification callback took */
};

static void log_reply(void *ctx, struct elb_rpc_reply *reply)
{
	struct message_log *log = ctx;
	char *text = cJSON_PrintUnformatted(reply->ok ? reply->result : reply->error.data);

	if (log->n < 8)
		snprintf(log->lines[log->n++], sizeof(log->lines[0]), "reply %llu %s",
			 (unsigned long long)reply->id, text != NULL ? text : "(none)");
	free(text);
}

static void log_notification(void *ctx, struct elb_rpc_notification *note)
{
	struct message_log *log = ctx;
	char *text = note->params != NULL ? cJSON_PrintUnformatted(note->params) : NULL;

	if (log->n < 8) {
		log->taken[log->n] = note->params;
		note->params = NULL;
		snprintf(log->lines[log->n++], sizeof(log->lines[0]), "%s %s", note->method,
			 text != NULL ? text : "(none)");
	}
	free(text);
}

static void message_log_clear(struct message_log *log)
{
	for (unsigned int i = 0; i < 8; i++)
		cJSON_Delete(log->taken[i]);
	memset(log, 0, sizeof(*log));
}

static void test_notifications_in_order_around_replies(void)
{
	struct elb_rpc_conn_stats stats;
	struct message_log log = {0};
	struct pair p;

	pair_open(&p, 0);
	CU_ASSERT_EQUAL(elb_rpc_conn_send(p.conn, "subscribe", NULL, (struct elb_rpc_tag){0}, NULL),
			0);
	/* Without a callback a notification is skipped. */
	peer_write(&p, "{\"jsonrpc\":\"2.0\",\"method\":\"event\",\"params\":{\"n\":0}}\n");
	CU_ASSERT_EQUAL(elb_rpc_conn_read(p.conn, log_reply, &log), 0);
	CU_ASSERT_EQUAL(log.n, 0);
	elb_rpc_conn_on_notification(p.conn, log_notification, &log);
	/* One before the reply, two after it (one without params); a message
	 * with neither id nor method is nothing. */
	peer_write(&p, "{\"jsonrpc\":\"2.0\",\"method\":\"event\",\"params\":{\"n\":1}}\n"
		       "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"subscribed\":true}}\n"
		       "{\"jsonrpc\":\"2.0\",\"method\":\"snapshot\"}\n"
		       "{\"jsonrpc\":\"2.0\",\"params\":{\"n\":9}}\n"
		       "{\"jsonrpc\":\"2.0\",\"method\":\"event\",\"params\":[2,\"two\"]}\n");
	CU_ASSERT_EQUAL(elb_rpc_conn_read(p.conn, log_reply, &log), 0);
	CU_ASSERT_EQUAL_FATAL(log.n, 4);
	CU_ASSERT_STRING_EQUAL(log.lines[0], "event {\"n\":1}");
	CU_ASSERT_STRING_EQUAL(log.lines[1], "reply 1 {\"subscribed\":true}");
	CU_ASSERT_STRING_EQUAL(log.lines[2], "snapshot (none)");
	CU_ASSERT_STRING_EQUAL(log.lines[3], "event [2,\"two\"]");
	/* The params the callback took are its own. */
	CU_ASSERT_EQUAL(cJSON_GetArraySize(log.taken[3]), 2);
	elb_rpc_conn_stats(p.conn, &stats);
	CU_ASSERT_EQUAL(stats.replies, 1);
	CU_ASSERT_EQUAL(stats.notifications, 3);
	CU_ASSERT_EQUAL(stats.skipped, 2);
	message_log_clear(&log);
	pair_close(&p);
}

static void test_too_many_pending(void)
{
	struct elb_rpc_conn_limits limits = {.max_pending = 2};
	struct elb_rpc_conn *conn;
	int sv[2];

	CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0);
	CU_ASSERT_FATAL(elb_rpc_conn_adopt(&conn, sv[0], &limits) == 0);
	CU_ASSERT_EQUAL(elb_rpc_conn_send(conn, "a", NULL, (struct elb_rpc_tag){0}, NULL), 0);
	CU_ASSERT_EQUAL(elb_rpc_conn_send(conn, "b", NULL, (struct elb_rpc_tag){0}, NULL), 0);
	CU_ASSERT_EQUAL(elb_rpc_conn_send(conn, "c", cJSON_CreateObject(), (struct elb_rpc_tag){0},
					  NULL),
			-ENOBUFS);
	CU_ASSERT_EQUAL(elb_rpc_conn_pending(conn), 2);
	elb_rpc_conn_close(conn);
	close(sv[1]);
}

static void test_oversize_line_ends_the_connection(void)
{
	struct seen seen = {0};
	char line[301];
	struct pair p;

	pair_open(&p, 256);
	CU_ASSERT_EQUAL(elb_rpc_conn_send(p.conn, "m", NULL, (struct elb_rpc_tag){0}, NULL), 0);
	/* A complete reply of 200 bytes is within the cap... */
	memset(line, ' ', sizeof(line));
	memcpy(line, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":1}", 35);
	line[199] = '\n';
	CU_ASSERT_EQUAL_FATAL(write(p.peer, line, 200), 200);
	CU_ASSERT_EQUAL(elb_rpc_conn_read(p.conn, record, &seen), 0);
	CU_ASSERT_EQUAL(seen.n, 1);
	/* ...300 bytes of one unfinished line are not. */
	line[199] = ' ';
	CU_ASSERT_EQUAL_FATAL(write(p.peer, line, 300), 300);
	CU_ASSERT_EQUAL(elb_rpc_conn_read(p.conn, record, &seen), -EMSGSIZE);
	pair_close(&p);
}

static void test_peer_close_is_epipe(void)
{
	struct seen seen = {0};
	char line[256];
	struct pair p;

	pair_open(&p, 0);
	CU_ASSERT_EQUAL(elb_rpc_conn_send(p.conn, "m", NULL, (struct elb_rpc_tag){0}, NULL), 0);
	CU_ASSERT_EQUAL(elb_rpc_conn_send(p.conn, "n", NULL, (struct elb_rpc_tag){0}, NULL), 0);
	/* One whole reply, half of the other, then the server goes (having
	 * read the requests: unread input would make it a reset). */
	CU_ASSERT(read(p.peer, line, sizeof(line)) > 0);
	peer_write(&p, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":1}\n{\"jsonrpc\":\"2.0\",\"id\":2,\"res");
	close(p.peer);
	p.peer = -1;
	CU_ASSERT_EQUAL(elb_rpc_conn_read(p.conn, record, &seen), -EPIPE);
	CU_ASSERT_EQUAL(seen.n, 1);
	CU_ASSERT_EQUAL(elb_rpc_conn_pending(p.conn), 1);
	pair_close(&p);
}

/* ------------------------------------------------------------------------ */
/* The blocking call against servers in child processes */

struct server_dir {
	char dir[64];
	char path[108];
};

static int listen_at(struct server_dir *d)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd;

	snprintf(d->dir, sizeof(d->dir), "/tmp/elb-rpc-client.XXXXXX");
	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(d->dir));
	snprintf(d->path, sizeof(d->path), "%s/s", d->dir);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", d->path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_FATAL(bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0);
	CU_ASSERT_FATAL(listen(fd, 8) == 0);
	return fd;
}

static void server_dir_remove(struct server_dir *d)
{
	unlink(d->path);
	rmdir(d->dir);
}

/* A child that accepts one connection, reads one request line and then
 * does `what`: "half" writes half a reply and closes, "mute" never answers. */
static pid_t misbehaving_server(int listen_fd, const char *what)
{
	pid_t pid = fork();

	CU_ASSERT_FATAL(pid >= 0);
	if (pid == 0) {
		int fd = accept(listen_fd, NULL, NULL);
		char c;

		while (fd >= 0 && read(fd, &c, 1) == 1 && c != '\n')
			;
		if (strcmp(what, "half") == 0) {
			static const char half[] = "{\"jsonrpc\":\"2.0\",\"id\":1,\"resu";

			if (write(fd, half, sizeof(half) - 1) < 0)
				_exit(1);
			_exit(0);
		}
		pause();
		_exit(0);
	}
	return pid;
}

static void reap(pid_t pid)
{
	int status;

	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
}

static void test_call_server_closes_mid_reply(void)
{
	struct elb_rpc_client_error err = {0};
	struct server_dir d;
	int fd = listen_at(&d);
	pid_t pid = misbehaving_server(fd, "half");
	cJSON *result = (cJSON *)1;

	CU_ASSERT_EQUAL(elb_rpc_call(d.path, "ping", NULL, 5000, &result, &err), -EPIPE);
	CU_ASSERT_PTR_NULL(result);
	CU_ASSERT_EQUAL(err.code, 0);
	CU_ASSERT_STRING_EQUAL(err.message,
			       "ping: the server closed the connection before answering");
	reap(pid);
	close(fd);
	server_dir_remove(&d);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void test_call_times_out(void)
{
	struct elb_rpc_client_error err = {0};
	struct server_dir d;
	int fd = listen_at(&d);
	pid_t pid = misbehaving_server(fd, "mute");
	cJSON *result;
	uint64_t start = now_ms(), took;

	CU_ASSERT_EQUAL(elb_rpc_call(d.path, "ping", NULL, 300, &result, &err), -ETIMEDOUT);
	took = now_ms() - start;
	CU_ASSERT(took >= 300 && took < 2000);
	CU_ASSERT_STRING_EQUAL(err.message, "ping: no reply in time");
	reap(pid);
	close(fd);
	server_dir_remove(&d);
}

static void test_call_no_server(void)
{
	struct elb_rpc_client_error err = {0};
	cJSON *result;

	CU_ASSERT_EQUAL(elb_rpc_call("/tmp/elb-rpc-client-none/s", "ping", cJSON_CreateObject(),
				     1000, &result, &err),
			-ENOENT);
	CU_ASSERT_STRING_EQUAL(err.message,
			       "connect /tmp/elb-rpc-client-none/s: No such file or directory");
}

static int m_echo(void *ctx, const cJSON *params, cJSON **result, struct elb_rpc_error *error)
{
	(void)ctx;
	(void)error;
	*result = cJSON_Duplicate(params, true);
	return 0;
}

static int m_refuse(void *ctx, const cJSON *params, cJSON **result, struct elb_rpc_error *error)
{
	(void)ctx;
	(void)params;
	(void)result;
	elb_rpc_error_set(error, ELB_RPC_INVALID_PARAMS, "backend", "no such backend");
	return -1;
}

/*
 * What a served child sends on its own: after each poll, `ticks` "tick"
 * notifications ({"n": 1, 2, ...}) to the client that last called
 * "subscribe" (outside the handler, as elb_rpc_server_notify wants).
 */
struct ticker {
	struct elb_rpc_server *srv;
	uint64_t subscriber;
	unsigned int due, sent;
};

/* subscribe: note the caller; three ticks follow the reply. */
static int m_subscribe(void *ctx, const cJSON *params, cJSON **result,
		       struct elb_rpc_error *error)
{
	struct ticker *t = ctx;

	(void)params;
	(void)error;
	t->subscriber = elb_rpc_server_caller(t->srv);
	t->due += 3;
	*result = cJSON_CreateTrue();
	return 0;
}

/* An elb_rpc server served by a child process. */
struct served {
	struct server_dir dir;
	struct elb_rpc_server *srv; /* the parent's copy: closed (socket file removed) at the end */
	struct ticker ticker;	    /* the child's copy is the one that counts */
	pid_t pid;
};

/* An elb_rpc server at a fresh path, polled for ever by a child. config's
 * path and ctx are set here. */
static void serve_in_child(struct served *s, struct elb_rpc_server_config *config)
{
	struct server_dir *d = &s->dir;

	memset(&s->ticker, 0, sizeof(s->ticker));
	snprintf(d->dir, sizeof(d->dir), "/tmp/elb-rpc-client.XXXXXX");
	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(d->dir));
	snprintf(d->path, sizeof(d->path), "%s/s", d->dir);
	config->path = d->path;
	config->ctx = &s->ticker;
	CU_ASSERT_EQUAL_FATAL(elb_rpc_server_open(&s->srv, config), 0);
	s->ticker.srv = s->srv;
	s->pid = fork();
	CU_ASSERT_FATAL(s->pid >= 0);
	if (s->pid == 0) {
		struct ticker *t = &s->ticker;

		for (;;) {
			elb_rpc_server_poll(s->srv, -1);
			while (t->sent < t->due) {
				cJSON *n = cJSON_CreateObject();

				cJSON_AddNumberToObject(n, "n", ++t->sent);
				elb_rpc_server_notify(s->srv, t->subscriber, "tick", n);
			}
		}
	}
}

static void served_stop(struct served *s)
{
	reap(s->pid);
	elb_rpc_server_close(s->srv);
	server_dir_remove(&s->dir);
}

/* The elb_rpc server of the daemons, in a child: the client's calls get
 * exactly what the server sends. */
static void test_call_against_elb_rpc_server(void)
{
	static const struct elb_rpc_method methods[] = {
		{.name = "echo", .handler = m_echo, .read_only = true},
		{.name = "refuse", .handler = m_refuse, .read_only = true},
	};
	struct elb_rpc_client_error err = {0};
	struct elb_rpc_server_config config = {.methods = methods, .n_methods = 2};
	cJSON *params = cJSON_CreateObject(), *result;
	struct served s;
	char *text;

	serve_in_child(&s, &config);
	cJSON_AddStringToObject(params, "word", "hello");
	CU_ASSERT_EQUAL(elb_rpc_call(s.dir.path, "echo", params, 5000, &result, &err), 0);
	text = cJSON_PrintUnformatted(result);
	CU_ASSERT_STRING_EQUAL(text, "{\"word\":\"hello\"}");
	free(text);
	cJSON_Delete(result);

	CU_ASSERT_EQUAL(elb_rpc_call(s.dir.path, "refuse", NULL, 5000, &result, &err), -EREMOTEIO);
	CU_ASSERT_EQUAL(err.code, ELB_RPC_INVALID_PARAMS);
	CU_ASSERT_STRING_EQUAL(err.message, "no such backend");
	text = cJSON_PrintUnformatted(err.data);
	CU_ASSERT_STRING_EQUAL(text, "{\"field\":\"backend\"}");
	free(text);
	elb_rpc_client_error_clear(&err);

	CU_ASSERT_EQUAL(elb_rpc_call(s.dir.path, "nope", NULL, 5000, &result, &err), -EREMOTEIO);
	CU_ASSERT_EQUAL(err.code, ELB_RPC_METHOD_NOT_FOUND);
	elb_rpc_client_error_clear(&err);
	served_stop(&s);
}

/* Beyond its max_clients the server answers a connection with one refusal
 * ("id": null) and closes it: that is the call's answer, not a lost
 * connection. */
static void test_call_refused_by_a_busy_server(void)
{
	static const struct elb_rpc_method methods[] = {
		{.name = "echo", .handler = m_echo, .read_only = true},
	};
	struct elb_rpc_client_error err = {0};
	struct served s;
	struct elb_rpc_server_config config = {.methods = methods, .n_methods = 1,
					       .max_clients = 1};
	struct elb_rpc_conn *first;
	cJSON *result = NULL;

	serve_in_child(&s, &config);
	/* The one client the server takes, answered, so surely accepted. */
	CU_ASSERT_EQUAL_FATAL(elb_rpc_conn_connect(&first, s.dir.path, 5000), 0);
	CU_ASSERT_EQUAL(elb_rpc_conn_call(first, "echo", cJSON_CreateObject(), 5000, &result, &err),
			0);
	cJSON_Delete(result);
	CU_ASSERT_EQUAL(elb_rpc_call(s.dir.path, "echo", cJSON_CreateObject(), 5000, &result, &err),
			-EREMOTEIO);
	CU_ASSERT_PTR_NULL(result);
	CU_ASSERT_EQUAL(err.code, ELB_RPC_SERVER_BUSY);
	CU_ASSERT_STRING_EQUAL(err.message, "server busy: too many clients");
	elb_rpc_client_error_clear(&err);
	elb_rpc_conn_close(first);
	served_stop(&s);
}

/* A request line beyond the server's max_message: refused with "id": null,
 * then the connection is closed with the rest of the line unread. */
static void test_call_refused_for_a_line_too_long(void)
{
	static const struct elb_rpc_method methods[] = {
		{.name = "echo", .handler = m_echo, .read_only = true},
	};
	struct elb_rpc_client_error err = {0};
	struct served s;
	struct elb_rpc_server_config config = {.methods = methods, .n_methods = 1,
					       .max_message = 64};
	cJSON *params = cJSON_CreateObject(), *result = NULL;
	char word[201];

	serve_in_child(&s, &config);
	memset(word, 'w', sizeof(word) - 1);
	word[sizeof(word) - 1] = '\0';
	cJSON_AddStringToObject(params, "word", word);
	CU_ASSERT_EQUAL(elb_rpc_call(s.dir.path, "echo", params, 5000, &result, &err), -EREMOTEIO);
	CU_ASSERT_EQUAL(err.code, ELB_RPC_INVALID_REQUEST);
	CU_ASSERT_STRING_EQUAL(err.message,
			       "Invalid Request: line longer than the limit; closing the connection");
	elb_rpc_client_error_clear(&err);
	served_stop(&s);
}

/*
 * A peer whose credentials the server does not list (edgelbctl run by a
 * stranger): refused at connect with "id": null, then closed, often before
 * the request is even sent. The call in a child with uid and gid 65534
 * tells the parent what it got through a pipe. Root only (setuid).
 */
static void test_call_refused_for_credentials(void)
{
	static const struct elb_rpc_method methods[] = {
		{.name = "echo", .handler = m_echo, .read_only = true},
	};
	struct served s;
	struct elb_rpc_server_config config = {.methods = methods, .n_methods = 1, .mode = 0666};
	char got[ELB_RPC_ERROR_MESSAGE_MAX + 32] = "", want[128];
	int fds[2], status;
	pid_t client;
	ssize_t n;

	if (geteuid() != 0) {
		printf("(not root: skipped) ");
		return;
	}
	serve_in_child(&s, &config);
	CU_ASSERT_FATAL(chmod(s.dir.dir, 0755) == 0 && pipe(fds) == 0);
	client = fork();
	CU_ASSERT_FATAL(client >= 0);
	if (client == 0) {
		struct elb_rpc_client_error err = {0};
		cJSON *result;
		int rc;

		if (setgid(65534) < 0 || setuid(65534) < 0)
			_exit(1);
		rc = elb_rpc_call(s.dir.path, "echo", cJSON_CreateObject(), 5000, &result, &err);
		dprintf(fds[1], "%d %d %s", rc, err.code, err.message);
		_exit(0);
	}
	close(fds[1]);
	n = read(fds[0], got, sizeof(got) - 1);
	got[n > 0 ? n : 0] = '\0';
	close(fds[0]);
	waitpid(client, &status, 0);
	snprintf(want, sizeof(want), "%d %d permission denied: uid 65534 may not use this socket",
		 -EREMOTEIO, ELB_RPC_PERMISSION_DENIED);
	CU_ASSERT_STRING_EQUAL(got, want);
	served_stop(&s);
}

/* A record of "tick" notifications: the n of each, in order. */
struct ticks {
	unsigned int n;
	int values[8];
};

static void record_tick(void *ctx, struct elb_rpc_notification *note)
{
	struct ticks *t = ctx;
	const cJSON *n = cJSON_GetObjectItemCaseSensitive(note->params, "n");

	if (t->n < 8 && strcmp(note->method, "tick") == 0)
		t->values[t->n++] = cJSON_IsNumber(n) ? n->valueint : -1;
}

/* A subscription on a kept connection: the notifications that come before
 * a reply are handed over while the call waits for it, those after it by
 * elb_rpc_conn_wait; quiet, the wait times out. */
static void test_notifications_from_elb_rpc_server(void)
{
	static const struct elb_rpc_method methods[] = {
		{.name = "subscribe", .handler = m_subscribe, .read_only = true},
		{.name = "echo", .handler = m_echo, .read_only = true},
	};
	struct elb_rpc_client_error err = {0};
	struct elb_rpc_conn_stats stats;
	struct served s;
	struct elb_rpc_server_config config = {.methods = methods, .n_methods = 2};
	struct elb_rpc_conn *conn;
	struct ticks ticks = {0};
	cJSON *result = NULL;
	uint64_t start, took;

	serve_in_child(&s, &config);
	CU_ASSERT_EQUAL_FATAL(elb_rpc_conn_connect(&conn, s.dir.path, 5000), 0);
	elb_rpc_conn_on_notification(conn, record_tick, &ticks);
	CU_ASSERT_EQUAL(elb_rpc_conn_call(conn, "subscribe", NULL, 5000, &result, &err), 0);
	CU_ASSERT_TRUE(cJSON_IsTrue(result));
	cJSON_Delete(result);
	/* Ticks 1..3 were sent before echo's reply: all in by its return. */
	CU_ASSERT_EQUAL(elb_rpc_conn_call(conn, "echo", cJSON_CreateObject(), 5000, &result, &err),
			0);
	cJSON_Delete(result);
	CU_ASSERT_EQUAL_FATAL(ticks.n, 3);
	CU_ASSERT_EQUAL(ticks.values[0], 1);
	CU_ASSERT_EQUAL(ticks.values[1], 2);
	CU_ASSERT_EQUAL(ticks.values[2], 3);
	/* Ticks 4..6 follow the second subscribe's reply. */
	CU_ASSERT_EQUAL(elb_rpc_conn_call(conn, "subscribe", NULL, 5000, &result, &err), 0);
	cJSON_Delete(result);
	start = now_ms();
	while (ticks.n < 6 && now_ms() - start < 5000)
		CU_ASSERT_EQUAL(elb_rpc_conn_wait(conn, 5000, NULL, NULL), 0);
	CU_ASSERT_EQUAL_FATAL(ticks.n, 6);
	CU_ASSERT_EQUAL(ticks.values[3], 4);
	CU_ASSERT_EQUAL(ticks.values[5], 6);
	start = now_ms();
	CU_ASSERT_EQUAL(elb_rpc_conn_wait(conn, 200, NULL, NULL), -ETIMEDOUT);
	took = now_ms() - start;
	CU_ASSERT(took >= 200 && took < 2000);
	elb_rpc_conn_stats(conn, &stats);
	CU_ASSERT_EQUAL(stats.replies, 3);
	CU_ASSERT_EQUAL(stats.notifications, 6);
	CU_ASSERT_EQUAL(stats.skipped, 0);
	/* The server gone, the wait says so. */
	served_stop(&s);
	CU_ASSERT_EQUAL(elb_rpc_conn_wait(conn, 5000, NULL, NULL), -EPIPE);
	elb_rpc_conn_close(conn);
}

int main(void)
{
	static const struct elb_test_case cases[] = {
		ELB_TEST(test_requests_are_lines_with_growing_ids),
		ELB_TEST(test_replies_matched_by_id_in_any_order),
		ELB_TEST(test_error_reply),
		ELB_TEST(test_refusal_with_null_id_answers_the_oldest_request),
		ELB_TEST(test_notifications_in_order_around_replies),
		ELB_TEST(test_too_many_pending),
		ELB_TEST(test_oversize_line_ends_the_connection),
		ELB_TEST(test_peer_close_is_epipe),
		ELB_TEST(test_call_server_closes_mid_reply),
		ELB_TEST(test_call_times_out),
		ELB_TEST(test_call_no_server),
		ELB_TEST(test_call_against_elb_rpc_server),
		ELB_TEST(test_call_refused_by_a_busy_server),
		ELB_TEST(test_call_refused_for_a_line_too_long),
		ELB_TEST(test_call_refused_for_credentials),
		ELB_TEST(test_notifications_from_elb_rpc_server),
		ELB_TEST_END,
	};

	signal(SIGPIPE, SIG_IGN);
	return elb_test_run("elb_rpc_client", cases);
}
