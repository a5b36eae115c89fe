/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The event stream (cp_stream.h) as the daemon's event sink: a client
 * subscribes through the real operator methods on a real elb_rpc socket;
 * events raised by cp_emit (the state core's and the services' only way to
 * reach it) are queued, then sent by the next tick before the snapshot,
 * numbered and typed; events raised without a subscriber are counted only.
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/socket.h>
#include <sys/un.h>

#include "cp_methods.h"
#include "cp_stream.h"
#include "elb_test.h"

static const char config_text[] =
	"{\"node\":{\"source_v4\":\"192.0.2.10\"},"
	"\"vips\":[{\"address\":\"198.51.100.1\",\"port\":443,\"protocol\":\"tcp\","
	"\"backends\":[{\"address\":\"10.0.0.1\"}]}]}";

struct fixture {
	char dir[64];
	char path[96];
	struct cp_daemon cp;
	int client;
	char in[1 << 16];
	size_t in_len;
};

static void fixture_open(struct fixture *f)
{
	struct elb_rpc_server_config rpc = {.methods = cp_methods, .n_methods = cp_n_methods};
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct cp_config *loaded;
	struct elb_dp_err err = {0};

	memset(f, 0, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/test-cp-stream.XXXXXX");
	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/cp.sock", f->dir);
	f->cp.epfd = -1;
	/* As edgelb-cp does: the sink first, then the state. */
	CU_ASSERT_EQUAL_FATAL(cp_stream_open(&f->cp, cp_counters_json), 0);
	CU_ASSERT_EQUAL_FATAL(cp_config_parse(config_text, strlen(config_text), &loaded, &err), 0);
	CU_ASSERT_EQUAL_FATAL(cp_state_init(&f->cp, loaded, 1000), 0);
	rpc.path = f->path;
	rpc.ctx = &f->cp;
	CU_ASSERT_EQUAL_FATAL(elb_rpc_server_open(&f->cp.operator, &rpc), 0);
	f->client = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", f->path);
	CU_ASSERT_FATAL(connect(f->client, (struct sockaddr *)&sun, sizeof(sun)) == 0);
}

static void fixture_close(struct fixture *f)
{
	close(f->client);
	elb_rpc_server_close(f->cp.operator);
	cp_state_free(&f->cp);
	cp_stream_close(&f->cp);
	rmdir(f->dir);
}

/* The next line the client gets, serving the socket meanwhile; NULL if
 * none comes within about a second. */
static cJSON *next_line(struct fixture *f)
{
	for (int round = 0; round < 100; round++) {
		char *nl = memchr(f->in, '\n', f->in_len);
		struct pollfd pfd = {.fd = f->client, .events = POLLIN};

		if (nl != NULL) {
			cJSON *msg = cJSON_ParseWithLength(f->in, (size_t)(nl - f->in));

			f->in_len -= (size_t)(nl + 1 - f->in);
			memmove(f->in, nl + 1, f->in_len);
			return msg;
		}
		elb_rpc_server_poll(f->cp.operator, 10);
		if (poll(&pfd, 1, 0) == 1) {
			ssize_t n = read(f->client, f->in + f->in_len, sizeof(f->in) - f->in_len);

			if (n <= 0)
				return NULL;
			f->in_len += (size_t)n;
		}
	}
	return NULL;
}

static const char *str_at(const cJSON *o, const char *a, const char *b)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, a);

	if (b != NULL)
		v = cJSON_GetObjectItemCaseSensitive(v, b);
	return cJSON_IsString(v) ? v->valuestring : "";
}

static double num_at(const cJSON *o, const char *a, const char *b)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, a), b);

	return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

static void test_events_reach_subscribers(void)
{
	static const char subscribe[] = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"subscribe\","
					"\"params\":{\"interval_ms\":100}}\n";
	struct fixture f;
	cJSON *msg;
	char *text;

	fixture_open(&f);
	/* Before anyone subscribed: counted, not kept. */
	cp_emit(&f.cp, "backend_up", cp_event_dataplane("early"));
	CU_ASSERT_EQUAL(f.cp.events, 2); /* init's desired_changed and this one */
	CU_ASSERT_EQUAL(write(f.client, subscribe, sizeof(subscribe) - 1),
			(ssize_t)sizeof(subscribe) - 1);
	msg = next_line(&f);
	text = cJSON_PrintUnformatted(msg);
	CU_ASSERT_STRING_EQUAL(text, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"interval_ms\":100,"
				     "\"snapshots\":true,\"events\":true}}");
	free(text);
	cJSON_Delete(msg);
	/* Raised from below: queued, sent by the tick, before the snapshot. */
	cp_emit(&f.cp, "dataplane_lost", cp_event_dataplane("dp9"));
	CU_ASSERT_PTR_NULL(next_line(&f));
	cp_stream_tick(&f.cp, 5000);
	msg = next_line(&f);
	CU_ASSERT_PTR_NOT_NULL_FATAL(msg);
	CU_ASSERT_STRING_EQUAL(str_at(msg, "method", NULL), "event");
	CU_ASSERT_STRING_EQUAL(str_at(msg, "params", "type"), "dataplane_lost");
	CU_ASSERT_STRING_EQUAL(str_at(msg, "params", "dataplane"), "dp9");
	CU_ASSERT_EQUAL(num_at(msg, "params", "seq"), 3);
	CU_ASSERT(num_at(msg, "params", "time_ms") > 1.6e12); /* wall clock, ms */
	cJSON_Delete(msg);
	msg = next_line(&f);
	CU_ASSERT_PTR_NOT_NULL_FATAL(msg);
	CU_ASSERT_STRING_EQUAL(str_at(msg, "method", NULL), "snapshot");
	CU_ASSERT_EQUAL(num_at(msg, "params", "seq"), 1);
	CU_ASSERT_EQUAL(num_at(msg, "params", "generation"), 1);
	CU_ASSERT_EQUAL(num_at(msg, "params", "events"), 3);
	CU_ASSERT_EQUAL(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(
				cJSON_GetObjectItemCaseSensitive(msg, "params"), "vips")),
			1);
	cJSON_Delete(msg);
	/* The next snapshot only after the interval. */
	cp_stream_tick(&f.cp, 5050);
	CU_ASSERT_PTR_NULL(next_line(&f));
	cp_stream_tick(&f.cp, 5100);
	msg = next_line(&f);
	CU_ASSERT_EQUAL(num_at(msg, "params", "seq"), 2);
	cJSON_Delete(msg);
	fixture_close(&f);
}

int main(void)
{
	static const struct elb_test_case cases[] = {
		ELB_TEST(test_events_reach_subscribers),
		ELB_TEST_END,
	};

	return elb_test_run("cp_stream", cases);
}
