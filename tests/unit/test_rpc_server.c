/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The JSON-RPC server's access control and notifications, over real Unix
 * sockets: peers of other uids are real processes (a forked child that
 * drops to that uid), so the credentials are the kernel's, not faked. The
 * access cases need root to change uid and are skipped otherwise.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <stdbool.h>
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
#include "elb_test.h"
#include "elb_version.h"

#define OTHER_UID 65534u   /* nobody */
#define STRANGER_UID 65533u
#define OTHER_GID 65534u   /* nogroup */

struct server_ctx {
	struct elb_rpc_server *srv;
	uint64_t watcher; /* caller of the last "watch" */
	unsigned int sets;
};

static int m_echo(void *ctx, const cJSON *params, cJSON **result, struct elb_rpc_error *error)
{
	(void)ctx;
	(void)error;
	*result = cJSON_Duplicate(params, true);
	return 0;
}

static int m_set(void *ctx, const cJSON *params, cJSON **result, struct elb_rpc_error *error)
{
	struct server_ctx *s = ctx;

	(void)params;
	(void)error;
	s->sets++;
	*result = cJSON_CreateNumber(s->sets);
	return 0;
}

static int m_watch(void *ctx, const cJSON *params, cJSON **result, struct elb_rpc_error *error)
{
	struct server_ctx *s = ctx;

	(void)params;
	(void)error;
	s->watcher = elb_rpc_server_caller(s->srv);
	*result = cJSON_CreateString("watching");
	return 0;
}

static const struct elb_rpc_method methods[] = {
	{"echo", m_echo, true},
	{"set", m_set, false},
	{"watch", m_watch, true},
};

/* A deprecated name of set, to check that access follows the method. */
static const struct elb_rpc_alias set_aliases[] = {
	{"set.old", "set"},
};

struct fixture {
	char dir[64];
	char path[108];
	struct server_ctx ctx;
};

static void fixture_open(struct fixture *f, const struct elb_rpc_access *access, size_t max_output,
			 mode_t mode)
{
	struct elb_rpc_server_config config = {
		.methods = methods,
		.n_methods = sizeof(methods) / sizeof(methods[0]),
		.aliases = set_aliases,
		.n_aliases = sizeof(set_aliases) / sizeof(set_aliases[0]),
		.access = access,
		.max_output = max_output,
		.mode = mode,
	};

	memset(f, 0, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/elb-rpc-test-XXXXXX");
	CU_ASSERT_FATAL(mkdtemp(f->dir) != NULL);
	/* Other uids must reach the socket file. */
	CU_ASSERT_FATAL(chmod(f->dir, 0755) == 0);
	snprintf(f->path, sizeof(f->path), "%s/s", f->dir);
	config.path = f->path;
	config.ctx = &f->ctx;
	CU_ASSERT_FATAL(elb_rpc_server_open(&f->ctx.srv, &config) == 0);
}

static void fixture_close(struct fixture *f)
{
	elb_rpc_server_close(f->ctx.srv);
	rmdir(f->dir);
}

static int connect_to(const char *path)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Poll srv (NULL: none) until fd has a whole line (or EOF: returns NULL). */
static char *read_line_from(struct elb_rpc_server *srv, int fd, unsigned int timeout_ms)
{
	char buf[4096];
	size_t len = 0;

	for (unsigned int waited = 0; waited < timeout_ms && len < sizeof(buf) - 1;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		ssize_t n;

		if (srv != NULL)
			elb_rpc_server_poll(srv, 0);
		if (poll(&p, 1, 5) <= 0) {
			waited += 5;
			continue;
		}
		n = recv(fd, buf + len, 1, 0); /* byte by byte: never read past the line */
		if (n <= 0)
			return NULL;
		if (buf[len] == '\n') {
			buf[len] = '\0';
			return strdup(buf);
		}
		len++;
	}
	return NULL;
}

static char *read_line_serving(struct fixture *f, int fd, unsigned int timeout_ms)
{
	return read_line_from(f != NULL ? f->ctx.srv : NULL, fd, timeout_ms);
}

static bool send_line(int fd, const char *line)
{
	size_t len = strlen(line);

	return send(fd, line, len, MSG_NOSIGNAL) == (ssize_t)len;
}

static cJSON *call(struct fixture *f, int fd, const char *line)
{
	char *text;
	cJSON *json;

	if (!send_line(fd, line))
		return NULL;
	text = read_line_serving(f, fd, 2000);
	json = text != NULL ? cJSON_Parse(text) : NULL;
	free(text);
	return json;
}

static int error_code(const cJSON *response)
{
	const cJSON *error = cJSON_GetObjectItemCaseSensitive(response, "error");
	const cJSON *code = cJSON_GetObjectItemCaseSensitive(error, "code");

	return cJSON_IsNumber(code) ? code->valueint : 0;
}

static const char *error_message(const cJSON *response)
{
	const cJSON *error = cJSON_GetObjectItemCaseSensitive(response, "error");
	const cJSON *message = cJSON_GetObjectItemCaseSensitive(error, "message");

	return cJSON_IsString(message) ? message->valuestring : "";
}

/* ------------------------------------------------------------------------ */
/* Notifications */

static void test_notify_after_response_until_disconnect(void)
{
	struct fixture f;
	int fd, other;
	cJSON *response;
	char *line;

	fixture_open(&f, NULL, 0, 0);
	CU_ASSERT_EQUAL(elb_rpc_server_caller(f.ctx.srv), 0);
	fd = connect_to(f.path);
	other = connect_to(f.path);
	CU_ASSERT_FATAL(fd >= 0 && other >= 0);
	response = call(&f, fd, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"watch\"}\n");
	CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItem(response, "result")->valuestring, "watching");
	cJSON_Delete(response);
	CU_ASSERT_NOT_EQUAL(f.ctx.watcher, 0);
	CU_ASSERT_EQUAL(elb_rpc_server_caller(f.ctx.srv), 0); /* outside handlers */

	CU_ASSERT_EQUAL(elb_rpc_server_notify(f.ctx.srv, f.ctx.watcher, "tick",
					      cJSON_CreateNumber(7)),
			0);
	line = read_line_serving(&f, fd, 2000);
	CU_ASSERT_STRING_EQUAL(line, "{\"jsonrpc\":\"2.0\",\"method\":\"tick\",\"params\":7}");
	free(line);
	/* Only the watcher gets it; the other client's next line is its answer. */
	response = call(&f, other, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"echo\"}\n");
	CU_ASSERT_PTR_NOT_NULL(cJSON_GetObjectItem(response, "result"));
	cJSON_Delete(response);

	CU_ASSERT_EQUAL(elb_rpc_server_notify(f.ctx.srv, f.ctx.watcher + 1000, "tick", NULL),
			-ENOENT);
	close(fd);
	for (int i = 0; i < 20; i++)
		elb_rpc_server_poll(f.ctx.srv, 5);
	CU_ASSERT_EQUAL(elb_rpc_server_notify(f.ctx.srv, f.ctx.watcher, "tick", NULL), -ENOENT);
	close(other);
	fixture_close(&f);
}

/* A subscriber that stops reading is dropped at max_output; the server
 * keeps answering everyone else. */
static void test_unread_notifications_drop_only_that_client(void)
{
	struct fixture f;
	int sleeper, awake, rc = 0, sent = 0;
	char payload[1024];
	int sndbuf = 4096;
	cJSON *response;
	struct elb_rpc_stats stats;

	fixture_open(&f, NULL, 64u << 10, 0);
	sleeper = connect_to(f.path);
	awake = connect_to(f.path);
	CU_ASSERT_FATAL(sleeper >= 0 && awake >= 0);
	setsockopt(sleeper, SOL_SOCKET, SO_RCVBUF, &sndbuf, sizeof(sndbuf));
	response = call(&f, sleeper, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"watch\"}\n");
	cJSON_Delete(response);
	memset(payload, 'x', sizeof(payload) - 1);
	payload[sizeof(payload) - 1] = '\0';
	while (rc == 0 && sent < 100000) {
		rc = elb_rpc_server_notify(f.ctx.srv, f.ctx.watcher, "tick",
					   cJSON_CreateString(payload));
		sent++;
	}
	CU_ASSERT_EQUAL(rc, -ENOBUFS);
	/* 64 KiB queued plus what the socket buffers took: far below 100k. */
	CU_ASSERT(sent < 2000);
	elb_rpc_server_stats(f.ctx.srv, &stats);
	CU_ASSERT_EQUAL(stats.dropped, 1);
	response = call(&f, awake, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"set\"}\n");
	CU_ASSERT_EQUAL(cJSON_GetObjectItem(response, "result")->valueint, 1);
	cJSON_Delete(response);
	close(sleeper);
	close(awake);
	fixture_close(&f);
}

/* A line that is not UTF-8 is refused before parsing, so that its bytes
 * are never echoed into an answer (a method name, an id). */
static void test_invalid_utf8_refused(void)
{
	struct fixture f;
	cJSON *response;
	int fd;

	fixture_open(&f, NULL, 0, 0);
	fd = connect_to(f.path);
	CU_ASSERT_FATAL(fd >= 0);
	response = call(&f, fd, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"pi\xffng\"}\n");
	CU_ASSERT_EQUAL(error_code(response), ELB_RPC_PARSE_ERROR);
	CU_ASSERT_STRING_EQUAL(error_message(response),
			       "Parse error: not valid UTF-8 (byte 37 of the line)");
	CU_ASSERT_TRUE(cJSON_IsNull(cJSON_GetObjectItem(response, "id")));
	cJSON_Delete(response);
	/* Valid multi-byte text is taken as it is. */
	response = call(&f, fd, "{\"jsonrpc\":\"2.0\",\"id\":\"caf\xc3\xa9\",\"method\":\"echo\"}\n");
	CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItem(response, "id")->valuestring, "caf\xc3\xa9");
	cJSON_Delete(response);
	close(fd);
	fixture_close(&f);
}

/* ------------------------------------------------------------------------ */
/* Access */

/*
 * Run `script` (request lines, each answer's error code recorded) as a
 * child process with the given ids, while this process serves. Returns
 * the child's exit status: the codes of its answers packed as
 * ANSWERED (1), DENIED (2: -32020), 3 (another error) or NO_ANSWER (4) per
 * request, base 5 (OUTCOMES).
 */
static int run_as(struct fixture *f, uid_t uid, gid_t gid, const char *const *script, int n,
		  int *refused_code)
{
	int status = -1, pipefd[2];
	pid_t pid;

	CU_ASSERT_FATAL(pipe(pipefd) == 0);
	pid = fork();
	CU_ASSERT_FATAL(pid >= 0);
	if (pid == 0) {
		int fd, packed = 0, refused = 0;

		close(pipefd[0]);
		if (setgroups(0, NULL) < 0 || setgid(gid) < 0 || setuid(uid) < 0)
			_exit(250);
		fd = connect_to(f->path);
		if (fd < 0)
			_exit(251);
		for (int i = 0; i < n; i++) {
			cJSON *r = NULL;
			char *text = NULL;
			int outcome;

			/* A refused peer may find the socket closed when it sends,
			 * with the refusal waiting to be read: read anyway. */
			(void)send_line(fd, script[i]);
			text = read_line_serving(NULL, fd, 3000);
			r = text != NULL ? cJSON_Parse(text) : NULL;
			if (r != NULL && cJSON_GetObjectItem(r, "result") != NULL)
				outcome = 1;
			else if (r != NULL && error_code(r) == ELB_RPC_PERMISSION_DENIED)
				outcome = 2;
			else if (r != NULL)
				outcome = 3;
			else
				outcome = 4;
			/* A refused peer gets one error line with id null, then EOF. */
			if (r != NULL && cJSON_IsNull(cJSON_GetObjectItem(r, "id")) &&
			    strstr(error_message(r), "may not use this socket") != NULL)
				refused = 1;
			packed = packed * 5 + outcome;
			cJSON_Delete(r);
			free(text);
		}
		if (write(pipefd[1], &refused, sizeof(refused)) != sizeof(refused))
			_exit(252);
		_exit(packed);
	}
	close(pipefd[1]);
	for (int waited = 0; waited < 10000; waited += 5) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			break;
		elb_rpc_server_poll(f->ctx.srv, 5);
	}
	if (read(pipefd[0], refused_code, sizeof(*refused_code)) != sizeof(*refused_code))
		*refused_code = -1;
	close(pipefd[0]);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static const char *const read_then_write[] = {
	"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"echo\"}\n",
	"{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"set\"}\n",
};

/* Outcomes of run_as's two requests (echo, then set), packed base 5. */
#define OUTCOMES(echo, set) ((echo) * 5 + (set))
enum { ANSWERED = 1, DENIED = 2, NO_ANSWER = 4 };

static void test_access_by_credentials(void)
{
	static const uint32_t other_uid[] = {OTHER_UID}, other_gid[] = {OTHER_GID};
	static const struct {
		const char *what;
		struct elb_rpc_access access;
		uid_t uid;
		gid_t gid;
		int outcomes;   /* OUTCOMES(echo, set) */
		int refused;    /* the connection got the refusal line */
		unsigned sets;  /* set calls that ran */
		uint64_t denied;
	} cases[] = {
		{"read-only uid: echo answered, set refused with -32020",
		 {.read = {.uids = other_uid, .n_uids = 1}}, OTHER_UID, OTHER_GID,
		 OUTCOMES(ANSWERED, DENIED), 0, 0, 1},
		/* The refusal line answers the first request, then EOF. */
		{"uid in no list: one -32020 line, disconnected",
		 {.read = {.uids = other_uid, .n_uids = 1}}, STRANGER_UID, STRANGER_UID,
		 OUTCOMES(DENIED, NO_ANSWER), 1, 0, 1},
		{"gid in the write list: everything",
		 {.write = {.gids = other_gid, .n_gids = 1}}, STRANGER_UID, OTHER_GID,
		 OUTCOMES(ANSWERED, ANSWERED), 0, 1, 0},
	};

	if (geteuid() != 0) {
		printf("(skipped: needs root to run a peer as another uid) ");
		return;
	}
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct elb_rpc_stats stats;
		struct fixture f;
		int refused, got;

		fixture_open(&f, &cases[i].access, 0, 0666);
		got = run_as(&f, cases[i].uid, cases[i].gid, read_then_write, 2, &refused);
		elb_rpc_server_stats(f.ctx.srv, &stats);
		if (got != cases[i].outcomes || refused != cases[i].refused ||
		    f.ctx.sets != cases[i].sets || stats.denied != cases[i].denied)
			fprintf(stderr, "\n%s: outcomes %d refused %d sets %u denied %llu\n",
				cases[i].what, got, refused, f.ctx.sets,
				(unsigned long long)stats.denied);
		CU_ASSERT_EQUAL(got, cases[i].outcomes);
		CU_ASSERT_EQUAL(refused, cases[i].refused);
		CU_ASSERT_EQUAL(f.ctx.sets, cases[i].sets);
		CU_ASSERT_EQUAL(stats.denied, cases[i].denied);
		fixture_close(&f);
	}
}

/* A read-only peer may call the built-ins (rpc.methods tells it what it
 * may call) and is refused a deprecated name of a method that changes
 * state, as it is the method itself; a writer may call it. */
static void test_builtins_and_aliases_by_credentials(void)
{
	static const uint32_t other_uid[] = {OTHER_UID};
	static const char *const script[] = {
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"rpc.methods\"}\n",
		"{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"set.old\"}\n",
		"{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"ping\"}\n",
		"{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"status.get\"}\n",
	};
	struct elb_rpc_access reader = {.read = {.uids = other_uid, .n_uids = 1}};
	struct elb_rpc_access writer = {.write = {.uids = other_uid, .n_uids = 1}};
	struct elb_rpc_stats stats;
	struct fixture f;
	int refused;

	if (geteuid() != 0) {
		printf("(skipped: needs root to run a peer as another uid) ");
		return;
	}
	fixture_open(&f, &reader, 0, 0666);
	CU_ASSERT_EQUAL(run_as(&f, OTHER_UID, OTHER_GID, script, 4, &refused),
			((ANSWERED * 5 + DENIED) * 5 + ANSWERED) * 5 + ANSWERED);
	CU_ASSERT_EQUAL(refused, 0);
	CU_ASSERT_EQUAL(f.ctx.sets, 0);
	elb_rpc_server_stats(f.ctx.srv, &stats);
	CU_ASSERT_EQUAL(stats.denied, 1);
	fixture_close(&f);

	fixture_open(&f, &writer, 0, 0666);
	CU_ASSERT_EQUAL(run_as(&f, OTHER_UID, OTHER_GID, script, 4, &refused),
			((ANSWERED * 5 + ANSWERED) * 5 + ANSWERED) * 5 + ANSWERED);
	CU_ASSERT_EQUAL(f.ctx.sets, 1);
	fixture_close(&f);
}

static void test_socket_owner_group_and_mode(void)
{
	struct elb_rpc_server_config config = {
		.methods = methods,
		.n_methods = 1,
		.mode = 0640,
		.set_group = true,
		.group = OTHER_GID,
	};
	struct elb_rpc_server *srv;
	struct stat st;
	char dir[] = "/tmp/elb-rpc-test-XXXXXX", path[108];

	if (geteuid() != 0) {
		printf("(skipped: needs root to give the socket away) ");
		return;
	}
	CU_ASSERT_FATAL(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/s", dir);
	config.path = path;
	CU_ASSERT_FATAL(elb_rpc_server_open(&srv, &config) == 0);
	CU_ASSERT_EQUAL(stat(path, &st), 0);
	CU_ASSERT_EQUAL(st.st_gid, OTHER_GID);
	CU_ASSERT_EQUAL(st.st_uid, 0);
	CU_ASSERT_EQUAL(st.st_mode & 07777, 0640);
	elb_rpc_server_close(srv);
	rmdir(dir);
}

/* ------------------------------------------------------------------------ */
/* Built-in methods and deprecated aliases, through elb_rpc_server_answer */

struct answer_server {
	char dir[64];
	char path[108];
	struct elb_rpc_server *srv;
};

static int answer_server_open(struct answer_server *a, struct elb_rpc_server_config *config)
{
	snprintf(a->dir, sizeof(a->dir), "/tmp/elb-rpc-test-XXXXXX");
	CU_ASSERT_FATAL(mkdtemp(a->dir) != NULL);
	snprintf(a->path, sizeof(a->path), "%s/s", a->dir);
	config->path = a->path;
	a->srv = NULL;
	return elb_rpc_server_open(&a->srv, config);
}

static void answer_server_close(struct answer_server *a)
{
	elb_rpc_server_close(a->srv);
	rmdir(a->dir);
}

/* The response line to a request line, exactly (its "\n" aside). */
static void expect_answer(struct answer_server *a, const char *request, const char *want)
{
	char *got = elb_rpc_server_answer(a->srv, request, strlen(request));
	size_t len;

	CU_ASSERT_PTR_NOT_NULL_FATAL(got);
	len = strlen(got);
	CU_ASSERT_TRUE(len > 0 && got[len - 1] == '\n');
	if (len > 0 && got[len - 1] == '\n')
		got[len - 1] = '\0';
	if (strcmp(got, want) != 0)
		fprintf(stderr, "\n  %s\n  got  %s\n  want %s\n", request, got, want);
	CU_ASSERT_STRING_EQUAL(got, want);
	free(got);
}

static int describe_ping(void *ctx, cJSON *result)
{
	(void)ctx;
	cJSON_AddStringToObject(result, "daemon", "test");
	cJSON_AddNumberToObject(result, "protocol", 7);
	return 0;
}

static int describe_status(void *ctx, cJSON *result)
{
	struct server_ctx *s = ctx;
	cJSON *control = cJSON_AddObjectToObject(result, "control");

	cJSON_AddNumberToObject(result, "sets", s->sets);
	cJSON_AddNumberToObject(control, "apply_failures", 3);
	return 0;
}

static int describe_fails(void *ctx, cJSON *result)
{
	(void)ctx;
	(void)result;
	return -EIO;
}

#define VERSION_MEMBER "\"version\":\"" ELB_VERSION "\""
#define CONTROL_COUNTERS(requests, errors)                                                         \
	"\"clients\":0,\"requests\":" #requests ",\"errors\":" #errors                             \
	",\"refused\":0,\"dropped\":0,\"oversized\":0,\"denied\":0"

/* A daemon without callbacks: what the server alone says. Requests count
 * this one too; elb_rpc_server_answer opens no connection. */
static void test_builtins_without_callbacks(void)
{
	struct elb_rpc_server_config config = {.methods = methods, .n_methods = 3};
	struct answer_server a;

	CU_ASSERT_EQUAL_FATAL(answer_server_open(&a, &config), 0);
	expect_answer(&a, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}",
		      "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"pong\":true," VERSION_MEMBER
		      "}}");
	expect_answer(&a, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"status.get\"}",
		      "{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{\"control\":{"
		      CONTROL_COUNTERS(2, 0) "}}}");
	expect_answer(&a, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"rpc.methods\"}",
		      "{\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{\"methods\":["
		      "{\"name\":\"echo\",\"read_only\":true},"
		      "{\"name\":\"set\",\"read_only\":false},"
		      "{\"name\":\"watch\",\"read_only\":true},"
		      "{\"name\":\"ping\",\"read_only\":true},"
		      "{\"name\":\"status.get\",\"read_only\":true},"
		      "{\"name\":\"rpc.methods\",\"read_only\":true}]}}");
	/* No params accepted, named like any method's unknown member. */
	expect_answer(&a, "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"ping\",\"params\":{\"x\":1}}",
		      "{\"jsonrpc\":\"2.0\",\"id\":4,\"error\":{\"code\":-32602,\"message\":\"x: "
		      "unknown member\",\"data\":{\"field\":\"x\"}}}");
	answer_server_close(&a);
}

/* The daemon's members come between "pong" and "version"; status.get's
 * "control" holds the daemon's members and the server's counters. */
static void test_builtins_with_callbacks(void)
{
	struct server_ctx ctx = {.sets = 2};
	struct elb_rpc_server_config config = {.methods = methods,
					       .n_methods = 3,
					       .ctx = &ctx,
					       .ping = describe_ping,
					       .status = describe_status};
	struct answer_server a;

	CU_ASSERT_EQUAL_FATAL(answer_server_open(&a, &config), 0);
	expect_answer(&a, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}",
		      "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"pong\":true,\"daemon\":\"test\","
		      "\"protocol\":7," VERSION_MEMBER "}}");
	expect_answer(&a, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"set\"}",
		      "{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":3}");
	expect_answer(&a, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"status.get\"}",
		      "{\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{\"control\":{\"apply_failures\":3,"
		      CONTROL_COUNTERS(3, 0) "},\"sets\":3}}");
	answer_server_close(&a);

	config.ping = describe_fails;
	config.status = describe_fails;
	CU_ASSERT_EQUAL_FATAL(answer_server_open(&a, &config), 0);
	expect_answer(&a, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}",
		      "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-32603,\"message\":"
		      "\"ping: Input/output error\"}}");
	expect_answer(&a, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"status.get\"}",
		      "{\"jsonrpc\":\"2.0\",\"id\":2,\"error\":{\"code\":-32603,\"message\":"
		      "\"status.get: Input/output error\"}}");
	answer_server_close(&a);
}

static int m_own_ping(void *ctx, const cJSON *params, cJSON **result,
		      struct elb_rpc_error *error)
{
	(void)ctx;
	(void)params;
	(void)error;
	*result = cJSON_CreateString("own ping");
	return 0;
}

/* A daemon that registers a built-in's name itself keeps it: its entry is
 * served and listed once, with its own read_only. */
static void test_own_entry_wins_over_builtin(void)
{
	static const struct elb_rpc_method own[] = {
		{"ping", m_own_ping, false},
		{"echo", m_echo, true},
	};
	struct elb_rpc_server_config config = {.methods = own, .n_methods = 2,
					       .ping = describe_fails};
	struct answer_server a;

	CU_ASSERT_EQUAL_FATAL(answer_server_open(&a, &config), 0);
	expect_answer(&a, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}",
		      "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":\"own ping\"}");
	expect_answer(&a, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"rpc.methods\"}",
		      "{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{\"methods\":["
		      "{\"name\":\"ping\",\"read_only\":false},"
		      "{\"name\":\"echo\",\"read_only\":true},"
		      "{\"name\":\"status.get\",\"read_only\":true},"
		      "{\"name\":\"rpc.methods\",\"read_only\":true}]}}");
	answer_server_close(&a);
}

/* A deprecated alias answers exactly as its replacement (same handler,
 * same read_only: a read-only peer is refused it as it is the new name),
 * and rpc.methods marks it. */
static void test_alias_answers_as_replacement(void)
{
	static const struct elb_rpc_alias aliases[] = {
		{"echo.old", "echo"},
		{"set.old", "set"},
	};
	struct server_ctx ctx = {0};
	struct elb_rpc_server_config config = {.methods = methods, .n_methods = 3, .ctx = &ctx,
					       .aliases = aliases, .n_aliases = 2};
	struct answer_server a;

	CU_ASSERT_EQUAL_FATAL(answer_server_open(&a, &config), 0);
	expect_answer(&a,
		      "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"echo\",\"params\":{\"a\":[1]}}",
		      "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"a\":[1]}}");
	expect_answer(&a,
		      "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"echo.old\","
		      "\"params\":{\"a\":[1]}}",
		      "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"a\":[1]}}");
	expect_answer(&a, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"set\"}",
		      "{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":1}");
	expect_answer(&a, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"set.old\"}",
		      "{\"jsonrpc\":\"2.0\",\"id\":3,\"result\":2}");
	CU_ASSERT_EQUAL(ctx.sets, 2);
	expect_answer(&a, "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"rpc.methods\"}",
		      "{\"jsonrpc\":\"2.0\",\"id\":4,\"result\":{\"methods\":["
		      "{\"name\":\"echo\",\"read_only\":true},"
		      "{\"name\":\"set\",\"read_only\":false},"
		      "{\"name\":\"watch\",\"read_only\":true},"
		      "{\"name\":\"echo.old\",\"read_only\":true,\"deprecated\":true,"
		      "\"replaced_by\":\"echo\"},"
		      "{\"name\":\"set.old\",\"read_only\":false,\"deprecated\":true,"
		      "\"replaced_by\":\"set\"},"
		      "{\"name\":\"ping\",\"read_only\":true},"
		      "{\"name\":\"status.get\",\"read_only\":true},"
		      "{\"name\":\"rpc.methods\",\"read_only\":true}]}}");
	answer_server_close(&a);
}

/* Tables the server refuses at open, before any socket exists. */
static void test_bad_method_tables_refused(void)
{
	static const struct elb_rpc_method twice[] = {{"echo", m_echo, true},
						      {"echo", m_set, false}};
	static const struct elb_rpc_method no_handler[] = {{"echo", NULL, true}};
	static const struct elb_rpc_alias to_nothing[] = {{"old", "missing"}};
	static const struct elb_rpc_alias to_builtin[] = {{"old.ping", "ping"}};
	static const struct elb_rpc_alias shadowing[] = {{"set", "echo"}};
	static const struct elb_rpc_alias repeated[] = {{"old", "echo"}, {"old", "set"}};
	static const struct {
		const struct elb_rpc_method *methods;
		size_t n_methods;
		const struct elb_rpc_alias *aliases;
		size_t n_aliases;
	} cases[] = {
		{twice, 2, NULL, 0},	    {no_handler, 1, NULL, 0}, {methods, 3, to_nothing, 1},
		{methods, 3, to_builtin, 1}, {methods, 3, shadowing, 1}, {methods, 3, repeated, 2},
		{methods, 3, NULL, 1},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct elb_rpc_server_config config = {.methods = cases[i].methods,
						       .n_methods = cases[i].n_methods,
						       .aliases = cases[i].aliases,
						       .n_aliases = cases[i].n_aliases};
		struct answer_server a;
		struct stat st;

		CU_ASSERT_EQUAL(answer_server_open(&a, &config), -EINVAL);
		CU_ASSERT_PTR_NULL(a.srv);
		CU_ASSERT_EQUAL(stat(a.path, &st), -1);
		rmdir(a.dir);
	}
}

/* ------------------------------------------------------------------------ */
/* Deferred answers */

/* "change" answers later, as a group commit's write does; settle, when
 * it answers, gives every pending change "done", as edgelb-cp's does. */
struct defer_ctx {
	struct elb_rpc_server *srv;
	uint64_t pending[8]; /* tickets, in request order */
	unsigned int n_pending;
	unsigned int settles;  /* calls of settle */
	unsigned int answered; /* changes answered by settle */
	bool settle_answers;
};

static void defer_settle(void *ctx)
{
	struct defer_ctx *d = ctx;

	d->settles++;
	if (!d->settle_answers)
		return;
	for (unsigned int i = 0; i < d->n_pending; i++) {
		CU_ASSERT_EQUAL(elb_rpc_server_reply(d->srv, d->pending[i],
						     cJSON_CreateString("done"), NULL),
				0);
		d->answered++;
	}
	d->n_pending = 0;
}

static int m_change(void *ctx, const cJSON *params, cJSON **result, struct elb_rpc_error *error)
{
	struct defer_ctx *d = ctx;
	uint64_t ticket = elb_rpc_server_defer(d->srv);

	(void)params;
	(void)error;
	if (ticket == 0) { /* no client to hold answers for: answered now */
		*result = cJSON_CreateString("now");
		return 0;
	}
	CU_ASSERT_FATAL(d->n_pending < sizeof(d->pending) / sizeof(d->pending[0]));
	d->pending[d->n_pending++] = ticket;
	return ELB_RPC_DEFERRED;
}

/* The changes settle answered before it ran. */
static int m_read(void *ctx, const cJSON *params, cJSON **result, struct elb_rpc_error *error)
{
	struct defer_ctx *d = ctx;

	(void)params;
	(void)error;
	*result = cJSON_CreateNumber(d->answered);
	return 0;
}

struct defer_fixture {
	char dir[64];
	char path[108];
	struct defer_ctx ctx;
};

static void defer_open(struct defer_fixture *f, bool settle_answers)
{
	static const struct elb_rpc_method table[] = {
		{"change", m_change, false},
		{"read", m_read, true},
		{"apply", m_read, false}, /* a change that answers at once */
		{"change.unlisted", m_change, false}, /* not in defer_methods */
		{"echo", m_echo, true},
	};
	static const struct elb_rpc_alias change_alias[] = {{"change.old", "change"}};
	static const char *const deferring[] = {"change", NULL};
	struct elb_rpc_server_config config = {
		.methods = table,
		.n_methods = sizeof(table) / sizeof(table[0]),
		.aliases = change_alias,
		.n_aliases = 1,
		.settle = defer_settle,
		.defer_methods = deferring,
	};

	memset(f, 0, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/elb-rpc-test-XXXXXX");
	CU_ASSERT_FATAL(mkdtemp(f->dir) != NULL);
	snprintf(f->path, sizeof(f->path), "%s/s", f->dir);
	config.path = f->path;
	config.ctx = &f->ctx;
	f->ctx.settle_answers = settle_answers;
	CU_ASSERT_FATAL(elb_rpc_server_open(&f->ctx.srv, &config) == 0);
}

static void defer_close(struct defer_fixture *f)
{
	elb_rpc_server_close(f->ctx.srv);
	rmdir(f->dir);
}

/* Serve until want changes are pending (at most 2 s). */
static void serve_until_pending(struct defer_fixture *f, unsigned int want)
{
	for (int i = 0; i < 400 && f->ctx.n_pending < want; i++)
		elb_rpc_server_poll(f->ctx.srv, 5);
	CU_ASSERT_EQUAL_FATAL(f->ctx.n_pending, want);
}

/* Serve a little; true if fd got nothing to read meanwhile. */
static bool silent_while_serving(struct defer_fixture *f, int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};

	for (int i = 0; i < 10; i++)
		elb_rpc_server_poll(f->ctx.srv, 2);
	return poll(&p, 1, 0) == 0;
}

static void expect_line(struct defer_fixture *f, int fd, const char *want)
{
	char *got = read_line_from(f->ctx.srv, fd, 2000);

	CU_ASSERT_PTR_NOT_NULL_FATAL(got);
	CU_ASSERT_STRING_EQUAL(got, want);
	free(got);
}

/* Answers keep request order: those behind a deferred one wait for it and
 * go out with it; a deferred notification sends nothing; an error is a
 * deferred answer like a result. */
static void test_deferred_answer_keeps_request_order(void)
{
	struct defer_fixture f;
	struct elb_rpc_error error = {0};
	char *now;
	int fd;

	defer_open(&f, false);
	fd = connect_to(f.path);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_TRUE(send_line(fd, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"change\"}\n"
				     "{\"jsonrpc\":\"2.0\",\"id\":\"two\",\"method\":\"echo\","
				     "\"params\":{\"n\":2}}\n"
				     "{\"jsonrpc\":\"2.0\",\"method\":\"change.old\"}\n"
				     "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"change\"}\n"
				     "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"nope\"}\n"));
	serve_until_pending(&f, 3);
	CU_ASSERT_TRUE(silent_while_serving(&f, fd));
	/* Before echo only: never before a change (nor its alias). */
	CU_ASSERT_EQUAL(f.ctx.settles, 1);

	/* The later change first: nothing yet, the first one holds the line. */
	CU_ASSERT_EQUAL(elb_rpc_server_reply(f.ctx.srv, f.ctx.pending[2], cJSON_CreateNumber(3),
					     NULL),
			0);
	CU_ASSERT_TRUE(silent_while_serving(&f, fd));
	CU_ASSERT_EQUAL(elb_rpc_server_reply(f.ctx.srv, f.ctx.pending[0],
					     cJSON_CreateString("done"), NULL),
			0);
	expect_line(&f, fd, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":\"done\"}");
	expect_line(&f, fd, "{\"jsonrpc\":\"2.0\",\"id\":\"two\",\"result\":{\"n\":2}}");
	CU_ASSERT_TRUE(silent_while_serving(&f, fd)); /* the notification's turn */
	elb_rpc_error_set(&error, -32010, NULL, "not applied: %s", "disk full");
	CU_ASSERT_EQUAL(elb_rpc_server_reply(f.ctx.srv, f.ctx.pending[1], NULL, &error), 0);
	expect_line(&f, fd, "{\"jsonrpc\":\"2.0\",\"id\":3,\"result\":3}");
	expect_line(&f, fd,
		    "{\"jsonrpc\":\"2.0\",\"id\":4,\"error\":{\"code\":-32601,\"message\":"
		    "\"Method not found: nope\",\"data\":{\"method\":\"nope\"}}}");
	/* Given once: the ticket is spent. */
	CU_ASSERT_EQUAL(elb_rpc_server_reply(f.ctx.srv, f.ctx.pending[0], NULL, NULL), -ENOENT);

	/* Nothing deferred ahead: answered at once. */
	CU_ASSERT_TRUE(send_line(fd, "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"echo\","
				     "\"params\":{\"n\":5}}\n"));
	expect_line(&f, fd, "{\"jsonrpc\":\"2.0\",\"id\":5,\"result\":{\"n\":5}}");
	/* A deferred error, exactly. */
	CU_ASSERT_TRUE(send_line(fd, "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"change\"}\n"));
	serve_until_pending(&f, 4);
	memset(&error, 0, sizeof(error));
	elb_rpc_error_set(&error, -32010, "vips", "not applied: %s", "disk full");
	CU_ASSERT_EQUAL(elb_rpc_server_reply(f.ctx.srv, f.ctx.pending[3], NULL, &error), 0);
	expect_line(&f, fd,
		    "{\"jsonrpc\":\"2.0\",\"id\":6,\"error\":{\"code\":-32010,\"message\":"
		    "\"not applied: disk full\",\"data\":{\"field\":\"vips\"}}}");
	/* Not in defer_methods: no ticket, answered at once. */
	CU_ASSERT_TRUE(send_line(fd, "{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":"
				     "\"change.unlisted\"}\n"));
	expect_line(&f, fd, "{\"jsonrpc\":\"2.0\",\"id\":8,\"result\":\"now\"}");
	/* Without a client to hold answers for, the handler answers now. */
	now = elb_rpc_server_answer(f.ctx.srv, "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"change\"}",
				    strlen("{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"change\"}"));
	CU_ASSERT_STRING_EQUAL(now, "{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":\"now\"}\n");
	free(now);
	CU_ASSERT_EQUAL(f.ctx.n_pending, 4);
	close(fd);
	defer_close(&f);
}

/* A client gone while its answers wait: the reply finds nothing, what was
 * held is freed (the ASan build checks), the others are served. One that
 * only shut its sending side gets its answers, then end of file. */
static void test_reply_after_client_closed_is_harmless(void)
{
	struct defer_fixture f;
	struct elb_rpc_stats stats;
	unsigned int settles;
	char buf[8];
	int fd;

	defer_open(&f, false);
	/* Gone after its request was read. */
	fd = connect_to(f.path);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_TRUE(send_line(fd, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"change\"}\n"));
	serve_until_pending(&f, 1);
	close(fd);
	for (int i = 0; i < 20; i++)
		elb_rpc_server_poll(f.ctx.srv, 2);
	CU_ASSERT_EQUAL(elb_rpc_server_reply(f.ctx.srv, f.ctx.pending[0],
					     cJSON_CreateString("done"), NULL),
			-ENOENT);
	/* Gone before it was read, with an answer ready behind the deferred
	 * one: its requests still run (the hang-up path). */
	fd = connect_to(f.path);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_TRUE(send_line(fd, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"change\"}\n"
				     "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"echo\","
				     "\"params\":{\"n\":3}}\n"));
	close(fd);
	serve_until_pending(&f, 2);
	for (int i = 0; i < 20; i++)
		elb_rpc_server_poll(f.ctx.srv, 2);
	CU_ASSERT_EQUAL(elb_rpc_server_reply(f.ctx.srv, f.ctx.pending[1], NULL, NULL), -ENOENT);
	/* Shut for sending only: answered, then closed by the server. */
	fd = connect_to(f.path);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_TRUE(send_line(fd, "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"change\"}\n"
				     "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"echo\","
				     "\"params\":{\"n\":5}}"));
	CU_ASSERT_EQUAL(shutdown(fd, SHUT_WR), 0);
	serve_until_pending(&f, 3);
	CU_ASSERT_TRUE(silent_while_serving(&f, fd));
	CU_ASSERT_EQUAL(elb_rpc_server_reply(f.ctx.srv, f.ctx.pending[2],
					     cJSON_CreateString("done"), NULL),
			0);
	expect_line(&f, fd, "{\"jsonrpc\":\"2.0\",\"id\":4,\"result\":\"done\"}");
	expect_line(&f, fd, "{\"jsonrpc\":\"2.0\",\"id\":5,\"result\":{\"n\":5}}");
	for (int i = 0; i < 20; i++)
		elb_rpc_server_poll(f.ctx.srv, 2);
	CU_ASSERT_EQUAL(recv(fd, buf, sizeof(buf), MSG_DONTWAIT), 0);
	close(fd);
	elb_rpc_server_stats(f.ctx.srv, &stats);
	CU_ASSERT_EQUAL(stats.dropped, 0);
	/* Still serving; settle runs before echo although no answer waits
	 * (what the gone clients asked may still be staged). */
	settles = f.ctx.settles;
	fd = connect_to(f.path);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_TRUE(send_line(fd, "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"echo\","
				     "\"params\":{\"n\":6}}\n"));
	expect_line(&f, fd, "{\"jsonrpc\":\"2.0\",\"id\":6,\"result\":{\"n\":6}}");
	CU_ASSERT_EQUAL(f.ctx.settles, settles + 1);
	close(fd);
	defer_close(&f);
}

/* A read waits for the changes deferred before it, on any connection:
 * settle answers them first, and the read sees them. So does a change
 * that answers at once (edgelb-cp's node.drain: it must not be built on
 * the state without them). */
static void test_settle_runs_before_a_read_while_answers_wait(void)
{
	struct defer_fixture f;
	int writer, reader;

	defer_open(&f, true);
	writer = connect_to(f.path);
	reader = connect_to(f.path);
	CU_ASSERT_FATAL(writer >= 0 && reader >= 0);
	CU_ASSERT_TRUE(send_line(writer, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"change\"}\n"));
	serve_until_pending(&f, 1);
	CU_ASSERT_EQUAL(f.ctx.settles, 0);
	CU_ASSERT_TRUE(silent_while_serving(&f, writer));
	CU_ASSERT_TRUE(send_line(reader, "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"read\"}\n"));
	expect_line(&f, reader, "{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":1}");
	expect_line(&f, writer, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":\"done\"}");
	CU_ASSERT_EQUAL(f.ctx.settles, 1);
	CU_ASSERT_EQUAL(f.ctx.n_pending, 0);
	/* On the same connection: the change's answer, then the read's. */
	CU_ASSERT_TRUE(send_line(writer, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"change\"}\n"
					 "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"read\"}\n"));
	expect_line(&f, writer, "{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":\"done\"}");
	expect_line(&f, writer, "{\"jsonrpc\":\"2.0\",\"id\":3,\"result\":2}");
	CU_ASSERT_EQUAL(f.ctx.settles, 2);
	CU_ASSERT_TRUE(send_line(writer, "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"change\"}\n"
					 "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"apply\"}\n"));
	expect_line(&f, writer, "{\"jsonrpc\":\"2.0\",\"id\":4,\"result\":\"done\"}");
	expect_line(&f, writer, "{\"jsonrpc\":\"2.0\",\"id\":5,\"result\":3}");
	CU_ASSERT_EQUAL(f.ctx.settles, 3);
	close(writer);
	close(reader);
	defer_close(&f);
}

int main(void)
{
	static const struct elb_test_case cases[] = {
		ELB_TEST(test_notify_after_response_until_disconnect),
		ELB_TEST(test_unread_notifications_drop_only_that_client),
		ELB_TEST(test_invalid_utf8_refused),
		ELB_TEST(test_access_by_credentials),
		ELB_TEST(test_builtins_and_aliases_by_credentials),
		ELB_TEST(test_socket_owner_group_and_mode),
		ELB_TEST(test_builtins_without_callbacks),
		ELB_TEST(test_builtins_with_callbacks),
		ELB_TEST(test_own_entry_wins_over_builtin),
		ELB_TEST(test_alias_answers_as_replacement),
		ELB_TEST(test_bad_method_tables_refused),
		ELB_TEST(test_deferred_answer_keeps_request_order),
		ELB_TEST(test_reply_after_client_closed_is_harmless),
		ELB_TEST(test_settle_runs_before_a_read_while_answers_wait),
		ELB_TEST_END,
	};

	return elb_test_run("rpc_server", cases);
}
