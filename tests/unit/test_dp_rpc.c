/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The dataplane protocol over a real Unix socket: a server (elb_dp_api) in
 * a temporary directory with a fake dataplane that records what it is
 * asked to apply, and clients made with socket(2). Most tests interleave
 * the server's poll calls with the clients' I/O in one thread, which makes
 * them deterministic; the many-clients test polls the server from a thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "elb_dp_api.h"
#include "elb_file.h"
#include "elb_test.h"
#include "elb_version.h"

/* ------------------------------------------------------------------------ */
/* A fake dataplane */

#define FAKE_LOG_MAX 16

struct fake_dp {
	int apply_calls;
	struct elb_dp_config *applied; /* a copy of the last config applied */
	uint64_t applied_epoch;
	int fail_next_apply; /* -errno for the next apply, then back to 0 */
	/* Backends of the first VIP in each config applied (-1: no VIP), in
	 * order, for the first FAKE_LOG_MAX applies. */
	int applied_backends[FAKE_LOG_MAX];
	int counters_calls;
	bool counters_filtered;
	struct elb_dp_vip_key counters_vip;
};

static int fake_apply(void *ctx, const struct elb_dp_config *config, uint64_t epoch, char *err,
		      size_t errlen)
{
	struct fake_dp *dp = ctx;
	int rc = dp->fail_next_apply;

	dp->apply_calls++;
	if (rc < 0) {
		dp->fail_next_apply = 0;
		snprintf(err, errlen, "port 0 is down");
		return rc;
	}
	if (dp->apply_calls <= FAKE_LOG_MAX)
		dp->applied_backends[dp->apply_calls - 1] =
			config->n_vips > 0 ? (int)config->vips[0].n_backends : -1;
	elb_dp_config_free(dp->applied);
	dp->applied = elb_dp_config_clone(config);
	dp->applied_epoch = epoch;
	return 0;
}

static int fake_counters(void *ctx, cJSON *out, const struct elb_dp_vip_key *vip)
{
	struct fake_dp *dp = ctx;

	dp->counters_calls++;
	dp->counters_filtered = vip != NULL;
	if (vip != NULL)
		dp->counters_vip = *vip;
	/* Above 2^53: must come out digit for digit. */
	elb_dp_json_add_u64(out, "rx_bytes", 12345678901234567891ull);
	cJSON_AddNumberToObject(out, "no_backend", 3);
	return 0;
}

static int fake_status(void *ctx, cJSON *out)
{
	(void)ctx;
	cJSON_AddNumberToObject(out, "ports", 2);
	return 0;
}

static const struct elb_dp_ops fake_ops = {
	.apply = fake_apply,
	.counters = fake_counters,
	.status = fake_status,
};

/* ------------------------------------------------------------------------ */
/* Fixture: a server in a temporary directory */

struct fixture {
	char dir[64];
	char socket_path[100]; /* fits sockaddr_un */
	char state_path[128];
	struct fake_dp dp;
	struct elb_dp_api *api;
};

static void fixture_open_with(struct fixture *f, struct elb_dp_api_options *options)
{
	struct elb_dp_err err;
	int rc;

	options->socket_path = f->socket_path;
	options->state_path = f->state_path;
	options->dataplane = "test";
	rc = elb_dp_api_open(&f->api, options, &fake_ops, &f->dp, &err);
	if (rc != 0)
		fprintf(stderr, "elb_dp_api_open: %s\n", err.text);
	CU_ASSERT_EQUAL_FATAL(rc, 0);
}

static void fixture_init(struct fixture *f)
{
	memset(f, 0, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/elb_dp_rpc.XXXXXX");
	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(f->dir));
	snprintf(f->socket_path, sizeof(f->socket_path), "%s/dp.sock", f->dir);
	snprintf(f->state_path, sizeof(f->state_path), "%s/state.json", f->dir);
}

static void fixture_open(struct fixture *f)
{
	struct elb_dp_api_options options = {0};

	fixture_init(f);
	fixture_open_with(f, &options);
}

static void fixture_close(struct fixture *f)
{
	elb_dp_api_close(f->api);
	f->api = NULL;
	elb_dp_config_free(f->dp.applied);
	f->dp.applied = NULL;
	unlink(f->state_path);
	for (int n = 1; n <= 3; n++) {
		char path[160];

		snprintf(path, sizeof(path), "%s.owners.%d", f->state_path, n);
		unlink(path);
	}
	unlink(f->socket_path);
	rmdir(f->dir);
}

/* ------------------------------------------------------------------------ */
/* Clients */

struct client {
	int fd;
	char *buf; /* received, not yet returned as lines */
	size_t len, cap;
	bool closed; /* EOF or reset seen */
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int connect_to(const char *path)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	CU_ASSERT_FATAL(fd >= 0);
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
	CU_ASSERT_EQUAL_FATAL(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	return fd;
}

static struct client *client_new(struct fixture *f)
{
	struct client *c = calloc(1, sizeof(*c));

	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	c->fd = connect_to(f->socket_path);
	CU_ASSERT_EQUAL(fcntl(c->fd, F_SETFL, O_NONBLOCK), 0);
	return c;
}

static void client_free(struct client *c)
{
	close(c->fd);
	free(c->buf);
	free(c);
}

/* Send everything, running the server whenever the socket is full. Returns
 * false if the server closed the connection first. */
static bool send_all(struct fixture *f, struct client *c, const char *data, size_t len)
{
	uint64_t deadline = now_ms() + 10000;

	while (len > 0 && now_ms() < deadline) {
		ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);

		if (n > 0) {
			data += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno != EAGAIN)
			return false;
		elb_dp_api_poll(f->api, 5);
	}
	return len == 0;
}

static bool send_text(struct fixture *f, struct client *c, const char *text)
{
	return send_all(f, c, text, strlen(text));
}

/* The next response line (malloc'ed, without "\n"), polling the server
 * while waiting; NULL if the connection closed or nothing came in time. */
static char *read_line(struct fixture *f, struct client *c, unsigned int timeout_ms)
{
	uint64_t deadline = now_ms() + timeout_ms;

	for (;;) {
		char *newline = c->len > 0 ? memchr(c->buf, '\n', c->len) : NULL;
		ssize_t n;

		if (newline != NULL) {
			size_t line_len = (size_t)(newline - c->buf);
			char *line = strndup(c->buf, line_len);

			memmove(c->buf, newline + 1, c->len - line_len - 1);
			c->len -= line_len + 1;
			return line;
		}
		if (c->cap - c->len < 4096) {
			c->cap = c->cap ? c->cap * 2 : 65536;
			c->buf = realloc(c->buf, c->cap);
			CU_ASSERT_PTR_NOT_NULL_FATAL(c->buf);
		}
		n = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
		if (n > 0) {
			c->len += (size_t)n;
			continue;
		}
		if (n == 0 || (n < 0 && errno != EAGAIN)) {
			c->closed = true;
			return NULL;
		}
		if (now_ms() >= deadline)
			return NULL;
		if (f->api != NULL)
			elb_dp_api_poll(f->api, 5);
		else
			usleep(1000);
	}
}

static cJSON *read_response(struct fixture *f, struct client *c)
{
	char *line = read_line(f, c, 5000);
	cJSON *json;

	CU_ASSERT_PTR_NOT_NULL_FATAL(line);
	json = cJSON_Parse(line);
	if (json == NULL)
		fprintf(stderr, "not JSON: %s\n", line);
	CU_ASSERT_PTR_NOT_NULL_FATAL(json);
	free(line);
	return json;
}

/* JSON with single quotes, for readable requests. */
static char *json_q(const char *text)
{
	char *out = strdup(text);

	CU_ASSERT_PTR_NOT_NULL_FATAL(out);
	for (char *p = out; *p; p++)
		if (*p == '\'')
			*p = '"';
	return out;
}

/* Call `method` with params (single-quoted JSON or NULL) and return the
 * whole response object. */
static cJSON *call(struct fixture *f, struct client *c, const char *method, const char *params,
		   int id)
{
	char *p = params != NULL ? json_q(params) : NULL;
	size_t cap = 128 + strlen(method) + (p != NULL ? strlen(p) : 0);
	char *line = malloc(cap);
	cJSON *response, *got_id;

	CU_ASSERT_PTR_NOT_NULL_FATAL(line);
	if (p != NULL)
		snprintf(line, cap,
			 "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"%s\",\"params\":%s}\n", id,
			 method, p);
	else
		snprintf(line, cap, "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"%s\"}\n", id,
			 method);
	CU_ASSERT_FATAL(send_all(f, c, line, strlen(line)));
	free(line);
	free(p);
	response = read_response(f, c);
	got_id = cJSON_GetObjectItemCaseSensitive(response, "id");
	CU_ASSERT(cJSON_IsNumber(got_id) && got_id->valueint == id);
	return response;
}

static const cJSON *get(const cJSON *json, const char *name)
{
	return cJSON_GetObjectItemCaseSensitive(json, name);
}

/* The result of a call that must succeed (the response owns it). */
static const cJSON *result_of(const cJSON *response)
{
	const cJSON *result = get(response, "result");

	if (result == NULL) {
		char *text = cJSON_PrintUnformatted(response);

		fprintf(stderr, "\nexpected a result: %s\n", text);
		cJSON_free(text);
	}
	CU_ASSERT_PTR_NOT_NULL_FATAL(result);
	return result;
}

static double number(const cJSON *json, const char *name)
{
	const cJSON *item = get(json, name);

	CU_ASSERT_FATAL(cJSON_IsNumber(item));
	return item->valuedouble;
}

static void expect_error(const cJSON *response, int code, const char *message, const char *field)
{
	const cJSON *error = get(response, "error"), *data;

	if (error == NULL) {
		char *text = cJSON_PrintUnformatted(response);

		fprintf(stderr, "\nexpected an error: %s\n", text);
		cJSON_free(text);
	}
	CU_ASSERT_PTR_NOT_NULL_FATAL(error);
	CU_ASSERT_PTR_NULL(get(response, "result"));
	CU_ASSERT_EQUAL(number(error, "code"), code);
	if (message != NULL) {
		const cJSON *m = get(error, "message");

		CU_ASSERT_FATAL(cJSON_IsString(m));
		if (strcmp(m->valuestring, message) != 0)
			fprintf(stderr, "\ngot message  %s\nwant message %s\n", m->valuestring,
				message);
		CU_ASSERT_STRING_EQUAL(m->valuestring, message);
	}
	data = get(error, "data");
	if (field != NULL) {
		CU_ASSERT_FATAL(cJSON_IsString(get(data, "field")));
		CU_ASSERT_STRING_EQUAL(get(data, "field")->valuestring, field);
	} else {
		CU_ASSERT_PTR_NULL(get(data, "field"));
	}
}

static struct elb_dp_config *config_q(const char *single_quoted)
{
	char *text = json_q(single_quoted);
	struct elb_dp_config *config = NULL;
	struct elb_dp_err err;

	if (elb_dp_config_parse(text, strlen(text), &config, &err) != 0)
		fprintf(stderr, "fixture: %s\n", err.text);
	CU_ASSERT_PTR_NOT_NULL_FATAL(config);
	free(text);
	return config;
}

/* The applied config must equal this one (single-quoted JSON). */
static void expect_applied(const struct fixture *f, const char *single_quoted)
{
	struct elb_dp_config *want = config_q(single_quoted);

	CU_ASSERT_PTR_NOT_NULL_FATAL(f->dp.applied);
	if (!elb_dp_config_equal(f->dp.applied, want)) {
		cJSON *json = elb_dp_config_to_json(f->dp.applied);
		char *text = cJSON_PrintUnformatted(json);

		fprintf(stderr, "\napplied: %s\n", text);
		cJSON_free(text);
		cJSON_Delete(json);
	}
	CU_ASSERT_TRUE(elb_dp_config_equal(f->dp.applied, want));
	CU_ASSERT_TRUE(elb_dp_config_equal(elb_dp_api_config(f->api), want));
	CU_ASSERT_EQUAL(f->dp.applied_epoch, elb_dp_api_epoch(f->api));
	elb_dp_config_free(want);
}

#define NODE_MEMBERS                                                                               \
	"'source_v4':'192.0.2.1','source_v6':'2001:db8::1','gateway_mac':'02:00:00:00:00:01'"
#define NODE_PARAMS "{" NODE_MEMBERS "}"
#define NODE "'node':" NODE_PARAMS
#define VIP80 "'address':'198.51.100.1','port':80,'protocol':'tcp'"
#define TWO_BACKENDS "'backends':[{'address':'10.0.0.1'},{'address':'10.0.0.2','weight':5}]"

/* A mutating call that must succeed: returns the new epoch. */
static uint64_t change(struct fixture *f, struct client *c, const char *method, const char *params,
		       bool want_changed)
{
	cJSON *response = call(f, c, method, params, 99);
	const cJSON *result = result_of(response);
	uint64_t epoch = (uint64_t)number(result, "epoch");

	CU_ASSERT_EQUAL(cJSON_IsTrue(get(result, "changed")), want_changed);
	CU_ASSERT_PTR_NULL(get(result, "warning"));
	CU_ASSERT_EQUAL(epoch, elb_dp_api_epoch(f->api));
	cJSON_Delete(response);
	return epoch;
}

/* ------------------------------------------------------------------------ */
/* Tests */

/* ping and status.get name the build (elb_version.h): git describe or the
 * project version, filled in by meson, never the template's placeholder. */
static void expect_version(const cJSON *result)
{
	const cJSON *v = get(result, "version");

	CU_ASSERT_FATAL(cJSON_IsString(v));
	CU_ASSERT_STRING_EQUAL(v->valuestring, ELB_VERSION);
	CU_ASSERT_TRUE(strlen(v->valuestring) > 0);
	CU_ASSERT_PTR_NULL(strchr(v->valuestring, '@'));
}

static void test_open_and_ping(void)
{
	struct fixture f;
	struct client *c;
	struct stat st;
	cJSON *response;
	const cJSON *result;

	fixture_open(&f);
	/* The starting (empty) config went through apply: epoch 1. */
	CU_ASSERT_EQUAL(f.dp.apply_calls, 1);
	CU_ASSERT_EQUAL(f.dp.applied_epoch, 1);
	CU_ASSERT_EQUAL(f.dp.applied->n_vips, 0);
	CU_ASSERT_EQUAL(stat(f.socket_path, &st), 0);
	CU_ASSERT_TRUE(S_ISSOCK(st.st_mode));
	CU_ASSERT_EQUAL(st.st_mode & 07777, 0660);

	c = client_new(&f);
	response = call(&f, c, "ping", NULL, 1);
	result = result_of(response);
	CU_ASSERT_TRUE(cJSON_IsTrue(get(result, "pong")));
	CU_ASSERT_EQUAL(number(result, "epoch"), 1);
	CU_ASSERT_EQUAL(number(result, "protocol"), ELB_DP_PROTOCOL_VERSION);
	expect_version(result);
	CU_ASSERT_STRING_EQUAL(get(result, "dataplane")->valuestring, "test");
	CU_ASSERT_EQUAL(strlen(get(result, "instance")->valuestring), 16);
	CU_ASSERT_STRING_EQUAL(get(response, "jsonrpc")->valuestring, "2.0");
	cJSON_Delete(response);
	client_free(c);

	fixture_close(&f);
	/* The socket file goes with the server. */
	CU_ASSERT_EQUAL(stat(f.socket_path, &st), -1);
}

/* rpc.methods: every method of the dataplane protocol with whether it
 * changes state, the built-ins, and vip.delete as a deprecated alias. */
static void test_rpc_methods_lists_every_method(void)
{
	static const struct {
		const char *name;
		bool read_only;
		const char *replaced_by;
	} want[] = {
		{"config.get", true, NULL},    {"config.set", false, NULL},
		{"vip.set", false, NULL},      {"vip.remove", false, NULL},
		{"vip.list", true, NULL},      {"vip.tables", true, NULL},
		{"backends.set", false, NULL}, {"node.set", false, NULL},
		{"counters.get", true, NULL},  {"flow.explain", true, NULL},
		{"prefixes.get", true, NULL},  {"prefixes.set", false, NULL},
		{"vip.delete", false, "vip.remove"},
		{"ping", true, NULL},          {"status.get", true, NULL},
		{"rpc.methods", true, NULL},
	};
	struct fixture f;
	struct client *c;
	cJSON *response;
	const cJSON *methods, *m;
	size_t i = 0;

	fixture_open(&f);
	c = client_new(&f);
	response = call(&f, c, "rpc.methods", NULL, 1);
	methods = get(result_of(response), "methods");
	CU_ASSERT_FATAL(cJSON_IsArray(methods));
	CU_ASSERT_EQUAL(cJSON_GetArraySize(methods), (int)(sizeof(want) / sizeof(want[0])));
	cJSON_ArrayForEach(m, methods)
	{
		if (i >= sizeof(want) / sizeof(want[0]))
			break;
		CU_ASSERT_STRING_EQUAL(get(m, "name")->valuestring, want[i].name);
		CU_ASSERT_EQUAL(cJSON_IsTrue(get(m, "read_only")), want[i].read_only);
		if (want[i].replaced_by != NULL) {
			CU_ASSERT_TRUE(cJSON_IsTrue(get(m, "deprecated")));
			CU_ASSERT_STRING_EQUAL(get(m, "replaced_by")->valuestring,
					       want[i].replaced_by);
		} else {
			CU_ASSERT_PTR_NULL(get(m, "deprecated"));
			CU_ASSERT_PTR_NULL(get(m, "replaced_by"));
		}
		i++;
	}
	cJSON_Delete(response);
	/* Built-ins take no params, as every method refuses unknown members. */
	response = call(&f, c, "rpc.methods", "{'verbose':true}", 2);
	expect_error(response, ELB_RPC_INVALID_PARAMS, "verbose: unknown member", "verbose");
	cJSON_Delete(response);
	client_free(c);
	fixture_close(&f);
}

/* The same calls through vip.remove and through its deprecated name
 * vip.delete, on two servers in the same state: the same answer line for
 * line, success and failure, and the same config applied. */
static void test_vip_delete_answers_as_vip_remove(void)
{
	static const char *const setup[] = {
		"{" NODE ",'vips':[{" VIP80 "," TWO_BACKENDS "},"
		"{'address':'2001:db8::10','port':0,'protocol':'udp'}]}",
	};
	static const char *const calls[] = {
		"{" VIP80 "}",                                     /* removes it */
		"{" VIP80 "}",                                     /* -32001: gone */
		"{'address':'198.51.100.1','port':80}",            /* -32602: protocol missing */
		"{'address':'2001:db8::10','port':0,'protocol':'udp','if_epoch':1}", /* -32003 */
		"{'address':'2001:db8::10','port':0,'protocol':'udp','extra':1}",    /* -32602 */
	};
	struct fixture fr, fd;
	struct client *cr, *cd;
	char params[512];

	fixture_open(&fr);
	fixture_open(&fd);
	cr = client_new(&fr);
	cd = client_new(&fd);
	snprintf(params, sizeof(params), "{'config':%s}", setup[0]);
	CU_ASSERT_EQUAL(change(&fr, cr, "config.set", params, true), 2);
	CU_ASSERT_EQUAL(change(&fd, cd, "config.set", params, true), 2);
	for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++) {
		cJSON *by_new = call(&fr, cr, "vip.remove", calls[i], (int)i + 10);
		cJSON *by_old = call(&fd, cd, "vip.delete", calls[i], (int)i + 10);
		char *text_new = cJSON_PrintUnformatted(by_new);
		char *text_old = cJSON_PrintUnformatted(by_old);

		CU_ASSERT_PTR_NOT_NULL_FATAL(text_new);
		CU_ASSERT_PTR_NOT_NULL_FATAL(text_old);
		if (strcmp(text_new, text_old) != 0)
			fprintf(stderr, "\n  vip.remove %s\n  vip.delete %s\n", text_new, text_old);
		CU_ASSERT_STRING_EQUAL(text_new, text_old);
		CU_ASSERT_EQUAL(i == 0, get(by_new, "result") != NULL);
		free(text_new);
		free(text_old);
		cJSON_Delete(by_new);
		cJSON_Delete(by_old);
	}
#define LEFT "{" NODE ",'vips':[{'address':'2001:db8::10','port':0,'protocol':'udp'}]}"
	expect_applied(&fr, LEFT);
	expect_applied(&fd, LEFT);
#undef LEFT
	CU_ASSERT_EQUAL(elb_dp_api_epoch(fr.api), 3);
	CU_ASSERT_EQUAL(elb_dp_api_epoch(fd.api), 3);
	client_free(cr);
	client_free(cd);
	fixture_close(&fr);
	fixture_close(&fd);
}

static void test_methods(void)
{
	struct fixture f;
	struct client *c;
	cJSON *response;
	const cJSON *result, *vips;
	int applies;

	fixture_open(&f);
	c = client_new(&f);

	CU_ASSERT_EQUAL(change(&f, c, "node.set", NODE_PARAMS, true), 2);
	expect_applied(&f, "{" NODE "}");

	/* vip.set creates ... */
	response = call(&f, c, "vip.set", "{" VIP80 "," TWO_BACKENDS "}", 3);
	result = result_of(response);
	CU_ASSERT_TRUE(cJSON_IsTrue(get(result, "created")));
	CU_ASSERT_EQUAL(number(result, "epoch"), 3);
	cJSON_Delete(response);
	expect_applied(&f, "{" NODE ",'vips':[{" VIP80 "," TWO_BACKENDS "}]}");

	/* ... replaces the settings and keeps the backends when none are given ... */
	response = call(&f, c, "vip.set", "{" VIP80 ",'mtu':1400,'encap':'gue'}", 4);
	result = result_of(response);
	CU_ASSERT_FALSE(cJSON_IsTrue(get(result, "created")));
	CU_ASSERT_EQUAL(number(result, "epoch"), 4);
	cJSON_Delete(response);
	expect_applied(&f,
		       "{" NODE ",'vips':[{" VIP80 ",'mtu':1400,'encap':'gue'," TWO_BACKENDS "}]}");

	/* ... and changes nothing when nothing differs. */
	applies = f.dp.apply_calls;
	CU_ASSERT_EQUAL(change(&f, c, "vip.set", "{" VIP80 ",'mtu':1400,'encap':'gue'}", false), 4);
	CU_ASSERT_EQUAL(f.dp.apply_calls, applies);

	/* A second VIP, IPv6. */
	CU_ASSERT_EQUAL(change(&f, c, "vip.set",
			       "{'address':'2001:db8::10','port':0,'protocol':'udp',"
			       "'backends':[{'address':'2001:db8:1::1'}]}",
			       true),
			5);

	/* backends.set replaces one VIP's set. */
	CU_ASSERT_EQUAL(change(&f, c, "backends.set",
			       "{" VIP80 ",'backends':[{'address':'10.0.0.3','state':'draining'}]}",
			       true),
			6);
	expect_applied(&f, "{" NODE ",'vips':[{" VIP80 ",'mtu':1400,'encap':'gue',"
			   "'backends':[{'address':'10.0.0.3','state':'draining'}]},"
			   "{'address':'2001:db8::10','port':0,'protocol':'udp',"
			   "'backends':[{'address':'2001:db8:1::1'}]}]}");

	/* vip.list: settings and counts, or the backends too. */
	response = call(&f, c, "vip.list", NULL, 7);
	vips = get(result_of(response), "vips");
	CU_ASSERT_EQUAL_FATAL(cJSON_GetArraySize(vips), 2);
	CU_ASSERT_STRING_EQUAL(get(cJSON_GetArrayItem(vips, 0), "address")->valuestring,
			       "198.51.100.1");
	CU_ASSERT_EQUAL(number(cJSON_GetArrayItem(vips, 0), "backend_count"), 1);
	CU_ASSERT_EQUAL(number(cJSON_GetArrayItem(vips, 0), "mtu"), 1400);
	CU_ASSERT_PTR_NULL(get(cJSON_GetArrayItem(vips, 0), "backends"));
	cJSON_Delete(response);
	response = call(&f, c, "vip.list", "{'backends':true}", 8);
	vips = get(result_of(response), "vips");
	CU_ASSERT_EQUAL(cJSON_GetArraySize(get(cJSON_GetArrayItem(vips, 1), "backends")), 1);
	cJSON_Delete(response);

	/* config.get: what is in force, in the form config.set takes. */
	response = call(&f, c, "config.get", NULL, 9);
	result = result_of(response);
	CU_ASSERT_EQUAL(number(result, "epoch"), 6);
	{
		struct elb_dp_config *got = NULL;
		struct elb_dp_err err;

		CU_ASSERT_EQUAL(elb_dp_config_from_json(get(result, "config"), "", &got, &err), 0);
		CU_ASSERT_TRUE(elb_dp_config_equal(got, elb_dp_api_config(f.api)));
		elb_dp_config_free(got);
	}
	cJSON_Delete(response);

	/* counters.get, all or one VIP. */
	response = call(&f, c, "counters.get", NULL, 10);
	result = result_of(response);
	CU_ASSERT_FALSE(f.dp.counters_filtered);
	CU_ASSERT_EQUAL(number(get(result, "counters"), "no_backend"), 3);
	CU_ASSERT_EQUAL(number(result, "epoch"), 6);
	cJSON_Delete(response);
	response = call(&f, c, "counters.get", "{" VIP80 "}", 11);
	result = result_of(response);
	CU_ASSERT_TRUE(f.dp.counters_filtered);
	CU_ASSERT_EQUAL(f.dp.counters_vip.port, 80);
	CU_ASSERT_STRING_EQUAL(get(get(result, "vip"), "address")->valuestring, "198.51.100.1");
	cJSON_Delete(response);
	/* Digit for digit above 2^53. */
	{
		const char line[] = "{\"jsonrpc\":\"2.0\",\"id\":12,\"method\":\"counters.get\"}\n";
		char *text;

		CU_ASSERT_FATAL(send_all(&f, c, line, strlen(line)));
		text = read_line(&f, c, 5000);
		CU_ASSERT_PTR_NOT_NULL_FATAL(text);
		CU_ASSERT_PTR_NOT_NULL(strstr(text, "\"rx_bytes\":12345678901234567891"));
		free(text);
	}

	/* status.get: ours and the dataplane's. */
	response = call(&f, c, "status.get", NULL, 13);
	result = result_of(response);
	CU_ASSERT_EQUAL(number(result, "vips"), 2);
	CU_ASSERT_EQUAL(number(result, "backends"), 2);
	CU_ASSERT_EQUAL(number(get(result, "status"), "ports"), 2);
	CU_ASSERT_EQUAL(number(get(result, "control"), "clients"), 1);
	CU_ASSERT_STRING_EQUAL(get(result, "dataplane")->valuestring, "test");
	CU_ASSERT_EQUAL(number(result, "protocol"), ELB_DP_PROTOCOL_VERSION);
	expect_version(result);
	cJSON_Delete(response);

	/* vip.delete; a second time, there is nothing to delete. */
	CU_ASSERT_EQUAL(change(&f, c, "vip.delete", "{" VIP80 "}", true), 7);
	expect_applied(&f, "{" NODE ",'vips':[{'address':'2001:db8::10','port':0,'protocol':'udp',"
			   "'backends':[{'address':'2001:db8:1::1'}]}]}");
	response = call(&f, c, "vip.delete", "{" VIP80 "}", 14);
	expect_error(response, ELB_DP_ERR_NOT_FOUND, "no VIP 198.51.100.1:80/tcp", NULL);
	cJSON_Delete(response);
	response = call(&f, c, "backends.set", "{" VIP80 ",'backends':[]}", 15);
	expect_error(response, ELB_DP_ERR_NOT_FOUND, "no VIP 198.51.100.1:80/tcp", NULL);
	cJSON_Delete(response);
	response = call(&f, c, "counters.get", "{" VIP80 "}", 16);
	expect_error(response, ELB_DP_ERR_NOT_FOUND, "no VIP 198.51.100.1:80/tcp", NULL);
	cJSON_Delete(response);

	/* config.set: the whole config, as given. */
	CU_ASSERT_EQUAL(change(&f, c, "config.set",
			       "{'config':{" NODE ",'vips':[{" VIP80 "," TWO_BACKENDS "}]}}", true),
			8);
	expect_applied(&f, "{" NODE ",'vips':[{" VIP80 "," TWO_BACKENDS "}]}");

	/* if_epoch guards a change computed from an older config. */
	response = call(&f, c, "vip.delete", "{" VIP80 ",'if_epoch':7}", 17);
	expect_error(response, ELB_DP_ERR_EPOCH_MISMATCH,
		     "if_epoch: the config is at epoch 8, not 7", "if_epoch");
	CU_ASSERT_EQUAL(number(get(get(response, "error"), "data"), "epoch"), 8);
	cJSON_Delete(response);
	CU_ASSERT_EQUAL(change(&f, c, "node.set", "{" NODE_MEMBERS ",'if_epoch':8}", false), 8);
	CU_ASSERT_EQUAL(change(&f, c, "vip.delete", "{" VIP80 ",'if_epoch':8}", true), 9);

	/* Every applied change was persisted. */
	{
		struct elb_dp_config *saved = NULL;
		struct elb_dp_err err;

		CU_ASSERT_EQUAL(elb_dp_config_load_file(f.state_path, &saved, &err), 0);
		CU_ASSERT_TRUE(elb_dp_config_equal(saved, elb_dp_api_config(f.api)));
		elb_dp_config_free(saved);
	}

	client_free(c);
	fixture_close(&f);
}

/* node.set changes the members it names and keeps the others (above all
 * the hash seed); null unsets an address or the MAC, which is refused while
 * a backend needs it. */
static void test_node_set_merges(void)
{
	struct fixture f;
	struct client *c;
	cJSON *response;

	fixture_open(&f);
	c = client_new(&f);
	change(&f, c, "node.set",
	       "{" NODE_MEMBERS ",'hash_seed':{'k0':'0000000000000001','k1':'0000000000000002'}}",
	       true);
	change(&f, c, "vip.set", "{" VIP80 ",'backends':[{'address':'2001:db8:1::1'}]}", true);
	CU_ASSERT_EQUAL(change(&f, c, "node.set", "{'gateway_mac':'02:00:00:00:00:02'}", true), 4);
	expect_applied(&f, "{'node':{'source_v4':'192.0.2.1','source_v6':'2001:db8::1',"
			   "'gateway_mac':'02:00:00:00:00:02','hash_seed':{'k0':'0000000000000001',"
			   "'k1':'0000000000000002'}},"
			   "'vips':[{" VIP80 ",'backends':[{'address':'2001:db8:1::1'}]}]}");
	CU_ASSERT_EQUAL(change(&f, c, "node.set", "{'source_v4':null,'gateway_mac':null}", true),
			5);
	CU_ASSERT_FALSE(f.dp.applied->node.has_source_v4);
	CU_ASSERT_FALSE(f.dp.applied->node.has_gateway_mac);
	CU_ASSERT_EQUAL(f.dp.applied->node.hash_seed.k1, 2);
	response = call(&f, c, "node.set", "{'source_v6':null}", 6);
	expect_error(response, ELB_RPC_INVALID_PARAMS,
		     "vips[0].backends[0].address: an IPv6 backend needs node.source_v6",
		     "vips[0].backends[0].address");
	cJSON_Delete(response);
	CU_ASSERT_EQUAL(elb_dp_api_epoch(f.api), 5);
	client_free(c);
	fixture_close(&f);
}

static void test_invalid_params_change_nothing(void)
{
	static const struct {
		const char *method, *params, *message, *field;
	} cases[] = {
		{"vip.set", "{" VIP80 ",'backends':[{'address':'10.0.0.1','weight':70000}]}",
		 "backends[0].weight: must be an integer in 0..65535", "backends[0].weight"},
		{"vip.set", "{" VIP80 ",'prot':'udp'}", "prot: unknown member", "prot"},
		{"vip.set", "{'address':'198.51.100.1','protocol':'tcp'}", "port: missing", "port"},
		{"vip.set", "{" VIP80 ",'maglev_size':1000}",
		 "maglev_size: must be a prime number (e.g. 251, 65537, 655373)", "maglev_size"},
		{"vip.set", "{" VIP80 ",'backends':[{'address':'10.0.0.1'},{'address':'10.0.0.1'}]}",
		 "backends[1].address: duplicate of backends[0]", "backends[1].address"},
		{"vip.set", "{" VIP80 ",'if_epoch':-1}", "if_epoch: must be an integer in "
		 "0..9007199254740992", "if_epoch"},
		{"backends.set", "{" VIP80 "}", "backends: missing", "backends"},
		{"backends.set", "{" VIP80 ",'backends':[{'address':'10.0.0.300'}]}",
		 "backends[0].address: must be an IPv4 or IPv6 address (got \"10.0.0.300\")",
		 "backends[0].address"},
		{"backends.set", "{" VIP80 ",'backends':[],'extra':1}", "extra: unknown member",
		 "extra"},
		{"vip.delete", "{'address':'198.51.100.1','port':80}", "protocol: missing",
		 "protocol"},
		{"node.set", "{'gateway_mac':'zz:00:00:00:00:00'}",
		 "gateway_mac: must be a MAC address like \"aa:bb:cc:dd:ee:ff\"", "gateway_mac"},
		{"config.set", "{}", "config: missing", "config"},
		{"config.set", "{'config':{'vips':[{" VIP80 ",'port':1}]}}",
		 "config.vips[0].port: given twice", "config.vips[0].port"},
		{"config.set", "{'config':{'vips':[{" VIP80 ",'mtu':100}]}}",
		 "config.vips[0].mtu: must be an integer in 576..9216", "config.vips[0].mtu"},
		{"config.get", "{'verbose':true}", "verbose: unknown member", "verbose"},
		{"vip.list", "{'backends':1}", "backends: must be true or false", "backends"},
	};
	struct fixture f;
	struct client *c;
	cJSON *response;
	int applies;

	fixture_open(&f);
	c = client_new(&f);
	change(&f, c, "node.set", NODE_PARAMS, true);
	change(&f, c, "vip.set", "{" VIP80 "," TWO_BACKENDS "}", true);
	applies = f.dp.apply_calls;
	for (size_t i = 0; i < ELB_ARRAY_SIZE(cases); i++) {
		response = call(&f, c, cases[i].method, cases[i].params, (int)i);
		expect_error(response, ELB_RPC_INVALID_PARAMS, cases[i].message, cases[i].field);
		cJSON_Delete(response);
	}
	/* Nothing reached the dataplane, nothing changed. */
	CU_ASSERT_EQUAL(f.dp.apply_calls, applies);
	CU_ASSERT_EQUAL(elb_dp_api_epoch(f.api), 3);
	expect_applied(&f, "{" NODE ",'vips':[{" VIP80 "," TWO_BACKENDS "}]}");
	client_free(c);
	fixture_close(&f);
}

static void test_apply_failure_changes_nothing(void)
{
	struct fixture f;
	struct client *c;
	cJSON *response;
	char *before, *after;
	size_t len;

	fixture_open(&f);
	c = client_new(&f);
	change(&f, c, "node.set", NODE_PARAMS, true);
	CU_ASSERT_EQUAL(elb_read_file(f.state_path, 1 << 20, &before, &len), 0);

	f.dp.fail_next_apply = -EBUSY;
	response = call(&f, c, "vip.set", "{" VIP80 "," TWO_BACKENDS "}", 1);
	expect_error(response, ELB_DP_ERR_APPLY_FAILED,
		     "the dataplane refused the config: port 0 is down (Device or resource busy)",
		     NULL);
	CU_ASSERT_EQUAL(number(get(get(response, "error"), "data"), "errno"), EBUSY);
	cJSON_Delete(response);

	CU_ASSERT_EQUAL(elb_dp_api_epoch(f.api), 2);
	expect_applied(&f, "{" NODE "}");
	CU_ASSERT_EQUAL(elb_read_file(f.state_path, 1 << 20, &after, &len), 0);
	CU_ASSERT_STRING_EQUAL(after, before);
	free(before);
	free(after);

	/* The same change goes through once the dataplane takes it. */
	CU_ASSERT_EQUAL(change(&f, c, "vip.set", "{" VIP80 "," TWO_BACKENDS "}", true), 3);
	client_free(c);
	fixture_close(&f);
}

/* Send raw text; expect one response line (NULL if none within a short
 * wait). */
static cJSON *raw_call(struct fixture *f, struct client *c, const char *text,
		       unsigned int wait_ms)
{
	char *line;
	cJSON *json;

	CU_ASSERT_FATAL(send_all(f, c, text, strlen(text)));
	line = read_line(f, c, wait_ms);
	if (line == NULL)
		return NULL;
	json = cJSON_Parse(line);
	CU_ASSERT_PTR_NOT_NULL(json);
	free(line);
	return json;
}

static void expect_null_id(const cJSON *response)
{
	CU_ASSERT_TRUE(cJSON_IsNull(get(response, "id")));
}

static void test_protocol_errors(void)
{
	struct fixture f;
	struct client *c;
	cJSON *r;

	fixture_open(&f);
	c = client_new(&f);

	r = raw_call(&f, c, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"\n", 5000);
	expect_error(r, ELB_RPC_PARSE_ERROR, "Parse error: the line is not one JSON value", NULL);
	expect_null_id(r);
	cJSON_Delete(r);
	r = raw_call(&f, c, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"} {}\n", 5000);
	expect_error(r, ELB_RPC_PARSE_ERROR, NULL, NULL);
	cJSON_Delete(r);

	r = raw_call(&f, c, "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}]\n", 5000);
	expect_error(r, ELB_RPC_INVALID_REQUEST,
		     "Invalid Request: batch requests are not supported; send one request per "
		     "line",
		     NULL);
	expect_null_id(r);
	cJSON_Delete(r);

	r = raw_call(&f, c, "42\n", 5000);
	expect_error(r, ELB_RPC_INVALID_REQUEST, "Invalid Request: not a JSON object", NULL);
	cJSON_Delete(r);

	r = raw_call(&f, c, "{\"id\":\"abc\",\"method\":\"ping\"}\n", 5000);
	expect_error(r, ELB_RPC_INVALID_REQUEST, "Invalid Request: jsonrpc must be \"2.0\"",
		     "jsonrpc");
	CU_ASSERT_STRING_EQUAL(get(r, "id")->valuestring, "abc");
	cJSON_Delete(r);

	r = raw_call(&f, c, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":7}\n", 5000);
	expect_error(r, ELB_RPC_INVALID_REQUEST, "Invalid Request: method must be a string",
		     "method");
	cJSON_Delete(r);

	r = raw_call(&f, c, "{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":\"ping\"}\n", 5000);
	expect_error(r, ELB_RPC_INVALID_REQUEST,
		     "Invalid Request: id must be a string, number or null", "id");
	expect_null_id(r);
	cJSON_Delete(r);

	r = call(&f, c, "vip.frobnicate", NULL, 4);
	expect_error(r, ELB_RPC_METHOD_NOT_FOUND, "Method not found: vip.frobnicate", NULL);
	CU_ASSERT_STRING_EQUAL(get(get(get(r, "error"), "data"), "method")->valuestring,
			       "vip.frobnicate");
	cJSON_Delete(r);

	r = raw_call(&f, c, "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"ping\",\"params\":[1]}\n",
		     5000);
	expect_error(r, ELB_RPC_INVALID_PARAMS, "Invalid params: params must be an object",
		     "params");
	cJSON_Delete(r);

	/* Blank lines are skipped; CRLF line ends are accepted; a string id
	 * and a null id come back as they were. */
	r = raw_call(&f, c, "\n  \r\n{\"jsonrpc\":\"2.0\",\"id\":\"x-1\",\"method\":\"ping\"}\r\n",
		     5000);
	CU_ASSERT_STRING_EQUAL(get(r, "id")->valuestring, "x-1");
	CU_ASSERT_PTR_NOT_NULL(get(r, "result"));
	cJSON_Delete(r);
	r = raw_call(&f, c, "{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"ping\"}\n", 5000);
	expect_null_id(r);
	CU_ASSERT_PTR_NOT_NULL(get(r, "result"));
	cJSON_Delete(r);

	/* The connection survived all of it. */
	r = call(&f, c, "ping", "{}", 6);
	result_of(r);
	cJSON_Delete(r);
	client_free(c);
	fixture_close(&f);
}

static void test_notifications_get_no_reply(void)
{
	struct fixture f;
	struct client *c;
	cJSON *r;

	fixture_open(&f);
	c = client_new(&f);
	/* A notification is run (here: a change) but never answered, not even
	 * with an error; the next answer is the next request's. */
	CU_ASSERT_FATAL(send_text(&f, c,
				  "{\"jsonrpc\":\"2.0\",\"method\":\"ping\"}\n"
				  "{\"jsonrpc\":\"2.0\",\"method\":\"no.such.method\"}\n"
				  "{\"jsonrpc\":\"2.0\",\"method\":\"vip.set\","
				  "\"params\":{\"port\":1}}\n"
				  "{\"jsonrpc\":\"2.0\",\"method\":\"node.set\",\"params\":"
				  "{\"source_v4\":\"192.0.2.7\"}}\n"));
	r = call(&f, c, "ping", NULL, 7);
	CU_ASSERT_EQUAL(number(result_of(r), "epoch"), 2);
	cJSON_Delete(r);
	CU_ASSERT_TRUE(f.dp.applied->node.has_source_v4);
	/* Nothing else is waiting. */
	CU_ASSERT_PTR_NULL(read_line(&f, c, 100));
	CU_ASSERT_FALSE(c->closed);
	client_free(c);
	fixture_close(&f);
}

static void test_pipelined_requests_in_order(void)
{
	enum { N = 2000 };
	struct fixture f;
	struct client *c;
	char *text = malloc(N * 80), *p;

	CU_ASSERT_PTR_NOT_NULL_FATAL(text);
	fixture_open(&f);
	c = client_new(&f);
	p = text;
	for (int i = 0; i < N; i++)
		p += sprintf(p, "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"%s\"}\n", i,
			     i % 3 == 0 ? "config.get" : i % 3 == 1 ? "ping" : "nope");
	/* All in one go, then all the answers: the server reads while we
	 * write, pausing when we do not read. */
	CU_ASSERT_FATAL(send_all(&f, c, text, (size_t)(p - text)));
	for (int i = 0; i < N; i++) {
		cJSON *r = read_response(&f, c);

		CU_ASSERT_EQUAL_FATAL(number(r, "id"), i);
		CU_ASSERT((i % 3 == 2) == (get(r, "error") != NULL));
		cJSON_Delete(r);
	}
	free(text);
	client_free(c);
	fixture_close(&f);
}

static void test_oversized_line_closes(void)
{
	size_t len = ELB_RPC_MAX_MESSAGE + 1;
	char *big = malloc(len + 1);
	struct fixture f;
	struct client *c, *other;
	cJSON *r;

	CU_ASSERT_PTR_NOT_NULL_FATAL(big);
	fixture_open(&f);

	/* Exactly the limit is fine: a ping padded with spaces. */
	c = client_new(&f);
	memset(big, ' ', len);
	{
		static const char ping[] = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}";

		memcpy(big, ping, strlen(ping));
	}
	big[ELB_RPC_MAX_MESSAGE] = '\n';
	CU_ASSERT_FATAL(send_all(&f, c, big, ELB_RPC_MAX_MESSAGE + 1));
	r = read_response(&f, c);
	CU_ASSERT_PTR_NOT_NULL(get(r, "result"));
	cJSON_Delete(r);

	/* One byte more: an error, then the connection is closed. */
	memset(big, 'x', len);
	big[len] = '\n';
	send_all(&f, c, big, len + 1); /* may stop early: the server hung up */
	r = read_response(&f, c);
	expect_error(r, ELB_RPC_INVALID_REQUEST,
		     "Invalid Request: line longer than the limit; closing the connection", NULL);
	cJSON_Delete(r);
	CU_ASSERT_PTR_NULL(read_line(&f, c, 5000));
	CU_ASSERT_TRUE(c->closed);
	client_free(c);

	/* Others are served as before. */
	other = client_new(&f);
	r = call(&f, other, "ping", NULL, 2);
	result_of(r);
	cJSON_Delete(r);
	client_free(other);
	free(big);
	fixture_close(&f);
}

static void test_stalled_client_blocks_nobody(void)
{
	static const char head[] = "{\"jsonrpc\":\"2.0\",\"id\":1,\"met";
	static const char tail[] = "hod\":\"ping\"}\n";
	struct fixture f;
	struct client *stalled, *other;
	cJSON *r;

	fixture_open(&f);
	stalled = client_new(&f);
	other = client_new(&f);
	CU_ASSERT_FATAL(send_all(&f, stalled, head, strlen(head)));
	CU_ASSERT_PTR_NULL(read_line(&f, stalled, 50));
	r = call(&f, other, "ping", NULL, 2);
	result_of(r);
	cJSON_Delete(r);
	/* The stalled client finishes its line and gets its answer. */
	CU_ASSERT_FATAL(send_all(&f, stalled, tail, strlen(tail)));
	r = read_response(&f, stalled);
	CU_ASSERT_EQUAL(number(r, "id"), 1);
	cJSON_Delete(r);
	client_free(stalled);
	client_free(other);
	fixture_close(&f);
}

/* A client that pipelines and never reads: the server stops reading it,
 * then drops it after the stall timeout; meanwhile others are served. */
static void test_client_that_never_reads_is_dropped(void)
{
	struct elb_dp_api_options options = {.max_output = 64 << 10, .stall_timeout_ms = 200};
	const char ping[] = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"config.get\"}\n";
	struct fixture f;
	struct client *greedy, *other;
	uint64_t deadline;
	int refusals = 0;
	cJSON *r;
	bool closed = false;

	fixture_init(&f);
	fixture_open_with(&f, &options);
	greedy = client_new(&f);
	other = client_new(&f);
	/* Write until the socket has taken nothing for a while: the server has
	 * stopped reading this client. */
	deadline = now_ms() + 5000;
	while (refusals < 20 && now_ms() < deadline) {
		ssize_t n = send(greedy->fd, ping, strlen(ping), MSG_NOSIGNAL);

		if (n > 0) {
			refusals = 0;
			continue;
		}
		if (n < 0 && errno != EAGAIN)
			break; /* already dropped */
		refusals++;
		elb_dp_api_poll(f.api, 5);
	}
	r = call(&f, other, "ping", NULL, 3);
	result_of(r);
	cJSON_Delete(r);
	/* Within a few stall timeouts the server hangs up on it. */
	deadline = now_ms() + 5000;
	while (!closed && now_ms() < deadline) {
		struct pollfd p = {.fd = greedy->fd, .events = POLLOUT};

		elb_dp_api_poll(f.api, 20);
		closed = poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLERR));
	}
	CU_ASSERT_TRUE(closed);
	r = call(&f, other, "status.get", NULL, 4);
	CU_ASSERT_EQUAL(number(get(result_of(r), "control"), "dropped"), 1);
	CU_ASSERT_EQUAL(number(get(result_of(r), "control"), "clients"), 1);
	cJSON_Delete(r);
	client_free(greedy);
	client_free(other);
	fixture_close(&f);
}

/* The server in a thread, as in a dataplane, and many clients at once. */
struct server_thread {
	struct elb_dp_api *api;
	atomic_bool stop;
	pthread_t thread;
};

static void *serve(void *arg)
{
	struct server_thread *s = arg;

	while (!atomic_load(&s->stop))
		elb_dp_api_poll(s->api, 10);
	return NULL;
}

static void test_many_concurrent_clients(void)
{
	enum { N = 200 };
	struct fixture f;
	struct server_thread s;
	int fds[N];

	fixture_open(&f);
	s.api = f.api;
	atomic_init(&s.stop, false);
	CU_ASSERT_EQUAL_FATAL(pthread_create(&s.thread, NULL, serve, &s), 0);

	/* All connected and all asking before any reads an answer. */
	for (int i = 0; i < N; i++) {
		struct timeval timeout = {.tv_sec = 10};

		fds[i] = connect_to(f.socket_path);
		setsockopt(fds[i], SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
	}
	for (int i = 0; i < N; i++) {
		char line[128];
		int n = snprintf(line, sizeof(line),
				 "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"%s\"}\n", 1000 + i,
				 i % 2 ? "ping" : "vip.list");

		CU_ASSERT_EQUAL(send(fds[i], line, (size_t)n, MSG_NOSIGNAL), n);
	}
	for (int i = 0; i < N; i++) {
		char buf[4096];
		size_t len = 0;
		cJSON *r;

		while (len == 0 || buf[len - 1] != '\n') {
			ssize_t n = recv(fds[i], buf + len, sizeof(buf) - 1 - len, 0);

			CU_ASSERT_FATAL(n > 0);
			len += (size_t)n;
		}
		buf[len] = '\0';
		r = cJSON_Parse(buf);
		CU_ASSERT_PTR_NOT_NULL_FATAL(r);
		CU_ASSERT_EQUAL(number(r, "id"), 1000 + i);
		CU_ASSERT_PTR_NOT_NULL(get(r, "result"));
		cJSON_Delete(r);
	}
	for (int i = 0; i < N; i++)
		close(fds[i]);
	atomic_store(&s.stop, true);
	pthread_join(s.thread, NULL);
	fixture_close(&f);
}

static void test_client_limit(void)
{
	struct elb_dp_api_options options = {.max_clients = 2};
	struct fixture f;
	struct client *a, *b, *refused;
	char *line;
	cJSON *r;

	fixture_init(&f);
	fixture_open_with(&f, &options);
	a = client_new(&f);
	b = client_new(&f);
	r = call(&f, a, "ping", NULL, 1);
	cJSON_Delete(r);
	r = call(&f, b, "ping", NULL, 1);
	cJSON_Delete(r);
	refused = client_new(&f);
	line = read_line(&f, refused, 5000);
	CU_ASSERT_PTR_NOT_NULL_FATAL(line);
	r = cJSON_Parse(line);
	expect_error(r, ELB_RPC_SERVER_BUSY, "server busy: too many clients", NULL);
	cJSON_Delete(r);
	free(line);
	CU_ASSERT_PTR_NULL(read_line(&f, refused, 5000));
	CU_ASSERT_TRUE(refused->closed);
	client_free(refused);
	/* A slot freed (once the server has seen the close) is a slot taken. */
	client_free(b);
	for (int i = 0; i < 5; i++)
		elb_dp_api_poll(f.api, 10);
	b = client_new(&f);
	r = call(&f, b, "ping", NULL, 2);
	result_of(r);
	cJSON_Delete(r);
	client_free(a);
	client_free(b);
	fixture_close(&f);
}

static void test_socket_file_handling(void)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	struct elb_dp_api_options options = {0};
	struct elb_dp_api *second = NULL;
	struct elb_dp_err err;
	struct fixture f;
	struct fake_dp other = {0};
	int fd;

	fixture_init(&f);
	/* A stale socket: bound, then its process went away. */
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", f.socket_path);
	CU_ASSERT_EQUAL_FATAL(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	close(fd);
	fixture_open_with(&f, &options);

	/* A live one is not taken over. */
	options.socket_path = f.socket_path;
	CU_ASSERT_EQUAL(elb_dp_api_open(&second, &options, &fake_ops, &other, &err), -EADDRINUSE);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.text, "Address already in use"));
	CU_ASSERT_EQUAL(other.apply_calls, 0);
	fixture_close(&f);

	/* Something that is not a socket is never deleted. */
	fixture_init(&f);
	fd = open(f.socket_path, O_CREAT | O_WRONLY, 0600);
	close(fd);
	options.socket_path = f.socket_path;
	options.state_path = NULL;
	CU_ASSERT_EQUAL(elb_dp_api_open(&second, &options, &fake_ops, &other, &err), -EEXIST);
	CU_ASSERT_EQUAL(access(f.socket_path, F_OK), 0);
	unlink(f.socket_path);

	/* A path too long for sockaddr_un. */
	{
		char path[200];

		memset(path, 'a', sizeof(path) - 1);
		path[0] = '/';
		path[sizeof(path) - 1] = '\0';
		options.socket_path = path;
		CU_ASSERT_EQUAL(elb_dp_api_open(&second, &options, &fake_ops, &other, &err),
				-ENAMETOOLONG);
	}
	fixture_close(&f);
}

static void test_state_file_survives_restart(void)
{
	struct elb_dp_api_options options = {0};
	struct fixture f;
	struct client *c;
	struct elb_dp_config *before;

	fixture_open(&f);
	c = client_new(&f);
	change(&f, c, "node.set", NODE_PARAMS, true);
	change(&f, c, "vip.set", "{" VIP80 "," TWO_BACKENDS "}", true);
	client_free(c);
	before = elb_dp_config_clone(elb_dp_api_config(f.api));
	elb_dp_api_close(f.api);
	elb_dp_config_free(f.dp.applied);
	memset(&f.dp, 0, sizeof(f.dp));

	/* A new process: the state file is applied at open, as epoch 1. */
	fixture_open_with(&f, &options);
	CU_ASSERT_EQUAL(f.dp.apply_calls, 1);
	CU_ASSERT_EQUAL(f.dp.applied_epoch, 1);
	CU_ASSERT_TRUE(elb_dp_config_equal(f.dp.applied, before));
	elb_dp_config_free(before);
	fixture_close(&f);

	/* A refused starting config fails the open. */
	fixture_init(&f);
	f.dp.fail_next_apply = -ENODEV;
	{
		struct elb_dp_err err;

		options.socket_path = f.socket_path;
		options.state_path = NULL;
		CU_ASSERT_EQUAL(elb_dp_api_open(&f.api, &options, &fake_ops, &f.dp, &err), -ENODEV);
		CU_ASSERT_PTR_NOT_NULL(strstr(err.text, "port 0 is down"));
		CU_ASSERT_EQUAL(access(f.socket_path, F_OK), -1);
	}
	f.api = NULL;
	fixture_close(&f);
}

static void test_set_config_in_process(void)
{
	struct fixture f;
	struct elb_dp_config *config = config_q("{" NODE ",'vips':[{" VIP80 "}]}");
	struct elb_dp_err err;

	fixture_open(&f);
	CU_ASSERT_EQUAL(elb_dp_api_set_config(f.api, config, &err), 0);
	CU_ASSERT_EQUAL(elb_dp_api_epoch(f.api), 2);
	CU_ASSERT_TRUE(elb_dp_config_equal(f.dp.applied, config));
	config->vips[0].mtu = 100;
	CU_ASSERT_EQUAL(elb_dp_api_set_config(f.api, config, &err), -EINVAL);
	CU_ASSERT_STRING_EQUAL(err.field, "vips[0].mtu");
	CU_ASSERT_EQUAL(elb_dp_api_epoch(f.api), 2);
	elb_dp_config_free(config);
	fixture_close(&f);
}

/* Ids come back as sent, also integers beyond cJSON's 15 printed digits. */
static void test_ids_echoed_exactly(void)
{
	struct fixture f;
	struct client *c;
	char *line;

	fixture_open(&f);
	c = client_new(&f);
	CU_ASSERT_FATAL(send_text(&f, c,
				  "{\"jsonrpc\":\"2.0\",\"id\":9007199254740991,"
				  "\"method\":\"ping\"}\n"
				  "{\"jsonrpc\":\"2.0\",\"id\":-12.5,\"method\":\"ping\"}\n"));
	line = read_line(&f, c, 5000);
	CU_ASSERT_PTR_NOT_NULL_FATAL(line);
	CU_ASSERT_PTR_NOT_NULL(strstr(line, "\"id\":9007199254740991,"));
	free(line);
	line = read_line(&f, c, 5000);
	CU_ASSERT_PTR_NOT_NULL_FATAL(line);
	CU_ASSERT_PTR_NOT_NULL(strstr(line, "\"id\":-12.5,"));
	free(line);
	client_free(c);
	fixture_close(&f);
}

/* `printf '...' | socat - UNIX-CONNECT:...`: the last request has no "\n"
 * and the client shuts down its sending side; it still gets its answer,
 * then the end of the stream. */
static void test_half_closed_client(void)
{
	static const char request[] = "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"ping\"}";
	struct fixture f;
	struct client *c;
	cJSON *r;

	fixture_open(&f);
	c = client_new(&f);
	CU_ASSERT_FATAL(send_all(&f, c, request, strlen(request)));
	CU_ASSERT_EQUAL(shutdown(c->fd, SHUT_WR), 0);
	r = read_response(&f, c);
	CU_ASSERT_EQUAL(number(r, "id"), 5);
	cJSON_Delete(r);
	CU_ASSERT_PTR_NULL(read_line(&f, c, 5000));
	CU_ASSERT_TRUE(c->closed);
	client_free(c);
	fixture_close(&f);
}

/* A client that sends and closes at once: what it sent is still run. */
static void test_request_then_close(void)
{
	static const char request[] = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"node.set\","
				      "\"params\":{\"source_v4\":\"192.0.2.9\"}}\n";
	struct fixture f;
	struct client *c;

	fixture_open(&f);
	c = client_new(&f);
	CU_ASSERT_FATAL(send_all(&f, c, request, strlen(request)));
	client_free(c);
	for (int i = 0; i < 50 && elb_dp_api_epoch(f.api) == 1; i++)
		elb_dp_api_poll(f.api, 10);
	CU_ASSERT_EQUAL(elb_dp_api_epoch(f.api), 2);
	CU_ASSERT_TRUE(f.dp.applied->node.has_source_v4);
	fixture_close(&f);
}

/* The largest valid config, with the longest address spelling, fits in one
 * config.set request and comes back whole from config.get. */
static void test_largest_config_round_trip(void)
{
	struct elb_dp_config *big = elb_dp_config_new();
	struct fixture f;
	struct client *c;
	char *config_text, *request;
	size_t len;
	cJSON *json, *r;
	struct elb_dp_config *got = NULL;
	struct elb_dp_err err;

	CU_ASSERT_PTR_NOT_NULL_FATAL(big);
	big->node.has_source_v6 = true;
	big->node.source_v6.v6[0] = 0x20;
	big->node.source_v6.v6[15] = 1;
	big->n_vips = ELB_DP_MAX_BACKENDS_TOTAL / ELB_DP_MAX_BACKENDS_PER_VIP;
	big->vips = calloc(big->n_vips, sizeof(*big->vips));
	CU_ASSERT_PTR_NOT_NULL_FATAL(big->vips);
	for (uint32_t i = 0; i < big->n_vips; i++) {
		struct elb_dp_vip *vip = &big->vips[i];

		elb_dp_vip_defaults(vip);
		vip->key.family = ELB_AF_INET6;
		memset(vip->key.addr.v6, 0xab, 16);
		vip->key.addr.v6[0] = 0x2a;
		vip->key.addr.v6[15] = (uint8_t)i;
		vip->key.port = 65535;
		vip->key.proto = ELB_IPPROTO_UDP;
		vip->n_backends = ELB_DP_MAX_BACKENDS_PER_VIP;
		vip->backends = calloc(vip->n_backends, sizeof(*vip->backends));
		CU_ASSERT_PTR_NOT_NULL_FATAL(vip->backends);
		for (uint32_t j = 0; j < vip->n_backends; j++) {
			memset(vip->backends[j].addr.v6, 0xcd, 16);
			vip->backends[j].addr.v6[0] = 0x2a;
			/* Every group four digits long, the address unique. */
			vip->backends[j].addr.v6[12] = (uint8_t)(0x10 + (j >> 8));
			vip->backends[j].addr.v6[15] = (uint8_t)j;
			vip->backends[j].family = ELB_AF_INET6;
			vip->backends[j].weight = 65535;
			vip->backends[j].state = ELB_DP_BACKEND_DRAINING;
		}
	}
	json = elb_dp_config_to_json(big);
	config_text = cJSON_PrintUnformatted(json);
	cJSON_Delete(json);
	CU_ASSERT_PTR_NOT_NULL_FATAL(config_text);
	len = strlen(config_text) + 128;
	request = malloc(len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(request);
	len = (size_t)snprintf(request, len,
			       "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"config.set\","
			       "\"params\":{\"config\":%s}}\n",
			       config_text);
	cJSON_free(config_text);
	CU_ASSERT(len > (5u << 20));
	CU_ASSERT(len <= ELB_RPC_MAX_MESSAGE);

	fixture_open(&f);
	c = client_new(&f);
	CU_ASSERT_FATAL(send_all(&f, c, request, len));
	free(request);
	r = read_response(&f, c);
	CU_ASSERT_EQUAL(number(result_of(r), "epoch"), 2);
	cJSON_Delete(r);
	CU_ASSERT_TRUE(elb_dp_config_equal(f.dp.applied, big));

	r = call(&f, c, "config.get", NULL, 2);
	CU_ASSERT_EQUAL(elb_dp_config_from_json(get(result_of(r), "config"), "", &got, &err), 0);
	CU_ASSERT_TRUE(elb_dp_config_equal(got, big));
	elb_dp_config_free(got);
	cJSON_Delete(r);
	client_free(c);
	fixture_close(&f);
	elb_dp_config_free(big);
}

/* Half a line left for longer than the stall timeout: the slot is freed. */
static void test_half_line_times_out(void)
{
	struct elb_dp_api_options options = {.stall_timeout_ms = 100};
	static const char head[] = "{\"jsonrpc\":\"2.0\",";
	struct fixture f;
	struct client *c, *idle;
	cJSON *r;

	fixture_init(&f);
	fixture_open_with(&f, &options);
	c = client_new(&f);
	idle = client_new(&f); /* connected, sends nothing: that is not a stall */
	CU_ASSERT_FATAL(send_all(&f, c, head, strlen(head)));
	CU_ASSERT_PTR_NULL(read_line(&f, c, 2000));
	CU_ASSERT_TRUE(c->closed);
	r = call(&f, idle, "status.get", NULL, 1);
	CU_ASSERT_EQUAL(number(get(result_of(r), "control"), "dropped"), 1);
	cJSON_Delete(r);
	client_free(c);
	client_free(idle);
	fixture_close(&f);
}

static void owners_path(const struct fixture *f, int n, char *buf, size_t len)
{
	snprintf(buf, len, "%s.owners.%d", f->state_path, n);
}

/* Backends of the first VIP in history file n; -1 when there is no file. */
static int owners_backends(const struct fixture *f, int n)
{
	struct elb_dp_config *config = NULL;
	struct elb_dp_err err;
	char path[160];
	int backends;

	owners_path(f, n, path, sizeof(path));
	if (access(path, F_OK) != 0)
		return -1;
	CU_ASSERT_EQUAL_FATAL(elb_dp_config_load_file(path, &config, &err), 0);
	backends = config->n_vips > 0 ? (int)config->vips[0].n_backends : -1;
	elb_dp_config_free(config);
	return backends;
}

static void expect_history(const struct fixture *f, int first, int second, int third)
{
	CU_ASSERT_EQUAL(owners_backends(f, 1), first);
	CU_ASSERT_EQUAL(owners_backends(f, 2), second);
	CU_ASSERT_EQUAL(owners_backends(f, 3), third);
}

static double control_number(struct fixture *f, const char *name)
{
	struct client *c = client_new(f);
	cJSON *r = call(f, c, "status.get", NULL, 7);
	double v = number(get(result_of(r), "control"), name);

	cJSON_Delete(r);
	client_free(c);
	return v;
}

static void reopen(struct fixture *f, struct elb_dp_api_options *options)
{
	elb_dp_api_close(f->api);
	elb_dp_config_free(f->dp.applied);
	memset(&f->dp, 0, sizeof(f->dp));
	fixture_open_with(f, options);
}

/*
 * The previous-owner history: the config in force before each change that
 * moved a VIP's Maglev table (members, effective weights, size) is kept
 * beside the state file, newest first, 3 deep; other changes keep none. At
 * open, the history is applied oldest first, then the state file's config
 * as epoch 1; a corrupt or refused history config is skipped and counted.
 */
static void test_owner_history(void)
{
	struct elb_dp_api_options options = {0};
	struct fixture f;
	struct client *c;
	char path[160];
	int fd;

	fixture_open(&f);
	c = client_new(&f);
	change(&f, c, "node.set", NODE_PARAMS, true);
	change(&f, c, "vip.set", "{" VIP80 ",'backends':[{'address':'10.0.0.1'}]}", true);
	/* A new VIP has no previous owners: nothing kept. */
	expect_history(&f, -1, -1, -1);
	change(&f, c, "vip.set", "{" VIP80 "," TWO_BACKENDS "}", true);
	expect_history(&f, 1, -1, -1);
	/* The same set in another order, and an MTU: the table is the same. */
	change(&f, c, "vip.set",
	       "{" VIP80 ",'mtu':1400,'backends':[{'address':'10.0.0.2','weight':5},"
	       "{'address':'10.0.0.1'}]}",
	       true);
	expect_history(&f, 1, -1, -1);
	/* Draining takes the backend's slots away: a move. */
	change(&f, c, "vip.set",
	       "{" VIP80 ",'backends':[{'address':'10.0.0.2','weight':5,'state':'draining'},"
	       "{'address':'10.0.0.1'}]}",
	       true);
	expect_history(&f, 2, 1, -1);
	change(&f, c, "vip.set",
	       "{" VIP80 ",'backends':[{'address':'10.0.0.2','weight':5,'state':'draining'},"
	       "{'address':'10.0.0.1'},{'address':'10.0.0.3'}]}",
	       true);
	expect_history(&f, 2, 2, 1);
	CU_ASSERT_EQUAL(owners_backends(&f, 2), 2);
	change(&f, c, "vip.set",
	       "{" VIP80 ",'backends':[{'address':'10.0.0.2','weight':5,'state':'draining'},"
	       "{'address':'10.0.0.1'},{'address':'10.0.0.3'},{'address':'10.0.0.4'}]}",
	       true);
	/* 3 deep: the oldest (one backend) is gone. */
	expect_history(&f, 3, 2, 2);
	client_free(c);

	/* A restart replays .3, .2, .1, then the state file as epoch 1. */
	reopen(&f, &options);
	CU_ASSERT_EQUAL(f.dp.apply_calls, 4);
	CU_ASSERT_EQUAL(f.dp.applied_backends[0], 2);
	CU_ASSERT_EQUAL(f.dp.applied_backends[1], 2);
	CU_ASSERT_EQUAL(f.dp.applied_backends[2], 3);
	CU_ASSERT_EQUAL(f.dp.applied_backends[3], 4);
	CU_ASSERT_EQUAL(f.dp.applied_epoch, 1);
	CU_ASSERT_EQUAL(elb_dp_api_epoch(f.api), 1);
	CU_ASSERT_EQUAL(control_number(&f, "owner_history_applied"), 3);
	CU_ASSERT_EQUAL(control_number(&f, "owner_history_failures"), 0);
	/* The restart itself is no change: the history is as it was. */
	expect_history(&f, 3, 2, 2);

	/* A corrupt entry is skipped, a refused one too: never fatal. */
	owners_path(&f, 2, path, sizeof(path));
	fd = open(path, O_WRONLY | O_TRUNC);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(write(fd, "{\"vips\": [", 10), 10);
	close(fd);
	f.dp.fail_next_apply = 0;
	elb_dp_api_close(f.api);
	elb_dp_config_free(f.dp.applied);
	memset(&f.dp, 0, sizeof(f.dp));
	f.dp.fail_next_apply = -ENODEV; /* the first history apply: .3 */
	fixture_open_with(&f, &options);
	CU_ASSERT_EQUAL(f.dp.apply_calls, 3);
	CU_ASSERT_EQUAL(f.dp.applied_backends[1], 3);
	CU_ASSERT_EQUAL(f.dp.applied_backends[2], 4);
	CU_ASSERT_EQUAL(elb_dp_api_epoch(f.api), 1);
	CU_ASSERT_EQUAL(control_number(&f, "owner_history_applied"), 1);
	CU_ASSERT_EQUAL(control_number(&f, "owner_history_failures"), 2);

	/* A dataplane that kept its own state (XDP's pinned maps) is not
	 * replayed over. */
	options.keep_running_state = true;
	reopen(&f, &options);
	CU_ASSERT_EQUAL(f.dp.apply_calls, 1);
	CU_ASSERT_EQUAL(f.dp.applied_backends[0], 4);
	options.keep_running_state = false;

	/* Without the state file, the history is not applied. */
	unlink(f.state_path);
	reopen(&f, &options);
	CU_ASSERT_EQUAL(f.dp.apply_calls, 1);
	CU_ASSERT_EQUAL(f.dp.applied_backends[0], -1);
	fixture_close(&f);
}

/* A state file that cannot be written does not undo a change: the result
 * carries a warning and status.get counts it. */
static void test_persist_failure_warns(void)
{
	struct elb_dp_api_options options = {0};
	struct fixture f;
	struct client *c;
	cJSON *r;
	const cJSON *result;

	fixture_init(&f);
	snprintf(f.state_path, sizeof(f.state_path), "%s/missing/state.json", f.dir);
	fixture_open_with(&f, &options);
	c = client_new(&f);
	r = call(&f, c, "node.set", NODE_PARAMS, 1);
	result = result_of(r);
	CU_ASSERT_EQUAL(number(result, "epoch"), 2);
	CU_ASSERT_TRUE(cJSON_IsString(get(result, "warning")));
	CU_ASSERT_PTR_NOT_NULL(strstr(get(result, "warning")->valuestring,
				      "cannot write: No such file or directory"));
	cJSON_Delete(r);
	CU_ASSERT_TRUE(f.dp.applied->node.has_source_v4);
	r = call(&f, c, "status.get", NULL, 2);
	CU_ASSERT_EQUAL(number(get(result_of(r), "control"), "persist_failures"), 2);
	CU_ASSERT_TRUE(cJSON_IsString(get(get(result_of(r), "control"), "persist_error")));
	cJSON_Delete(r);
	client_free(c);
	fixture_close(&f);
}

int main(void)
{
	static const struct elb_test_case cases[] = {
		ELB_TEST(test_open_and_ping),
		ELB_TEST(test_methods),
		ELB_TEST(test_rpc_methods_lists_every_method),
		ELB_TEST(test_vip_delete_answers_as_vip_remove),
		ELB_TEST(test_node_set_merges),
		ELB_TEST(test_invalid_params_change_nothing),
		ELB_TEST(test_apply_failure_changes_nothing),
		ELB_TEST(test_protocol_errors),
		ELB_TEST(test_notifications_get_no_reply),
		ELB_TEST(test_pipelined_requests_in_order),
		ELB_TEST(test_oversized_line_closes),
		ELB_TEST(test_stalled_client_blocks_nobody),
		ELB_TEST(test_client_that_never_reads_is_dropped),
		ELB_TEST(test_many_concurrent_clients),
		ELB_TEST(test_client_limit),
		ELB_TEST(test_socket_file_handling),
		ELB_TEST(test_state_file_survives_restart),
		ELB_TEST(test_set_config_in_process),
		ELB_TEST(test_ids_echoed_exactly),
		ELB_TEST(test_half_closed_client),
		ELB_TEST(test_request_then_close),
		ELB_TEST(test_largest_config_round_trip),
		ELB_TEST(test_half_line_times_out),
		ELB_TEST(test_persist_failure_warns),
		ELB_TEST(test_owner_history),
		ELB_TEST_END,
	};
	return elb_test_run("dp_rpc", cases);
}
