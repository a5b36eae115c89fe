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

/* Poll the server until fd has a whole line (or EOF: returns NULL). */
static char *read_line_serving(struct fixture *f, int fd, unsigned int timeout_ms)
{
	char buf[4096];
	size_t len = 0;

	for (unsigned int waited = 0; waited < timeout_ms && len < sizeof(buf) - 1;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		ssize_t n;

		if (f != NULL)
			elb_rpc_server_poll(f->ctx.srv, 0);
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

int main(void)
{
	static const struct elb_test_case cases[] = {
		ELB_TEST(test_notify_after_response_until_disconnect),
		ELB_TEST(test_unread_notifications_drop_only_that_client),
		ELB_TEST(test_invalid_utf8_refused),
		ELB_TEST(test_access_by_credentials),
		ELB_TEST(test_socket_owner_group_and_mode),
		ELB_TEST_END,
	};

	return elb_test_run("rpc_server", cases);
}
