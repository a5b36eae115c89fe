/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The dataplane service (cp_dataplanes.h) against a fake dataplane: a real
 * Unix socket this test listens on, accepts and answers line by line, so
 * that every request edgelb-cp sends is read as the dataplane would read
 * it. Covered: connect and ping first, the protocol check (another version
 * is refused and never pushed to), the push and its acknowledgement, a
 * refused push, a restart behind the socket, and a reconnect after the
 * dataplane closed the connection; the prefix lists (prefixes.set) pushed
 * apart from the config, acknowledged, refused and retried, and the list
 * of a removed VIP dropped with it (in memory, in the file, at load).
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "cp_dataplanes.h"
#include "cp_prefixes.h"
#include "elb_dp_api.h"
#include "cp_event_recorder.h"
#include "elb_test.h"

struct fixture {
	char dir[64];
	char config_path[96];
	char socket_path[96];
	int listen_fd;
	int peer; /* the accepted connection: the fake dataplane's end */
	struct cp_daemon cp;
	struct cp_dataplane *dp;
	struct cp_event_recorder events;
};

static void fixture_open(struct fixture *f)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct cp_config *loaded;
	struct elb_dp_err err = {0};
	char text[1024];

	memset(f, 0, sizeof(*f));
	f->peer = -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/test-cp-dataplanes.XXXXXX");
	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(f->dir));
	snprintf(f->config_path, sizeof(f->config_path), "%s/cp.json", f->dir);
	snprintf(f->socket_path, sizeof(f->socket_path), "%s/dp0.sock", f->dir);
	snprintf(text, sizeof(text),
		 "{\"node\":{\"source_v4\":\"192.0.2.10\"},"
		 "\"dataplanes\":[{\"name\":\"dp0\",\"socket\":\"%s\"}],"
		 "\"vips\":[{\"address\":\"198.51.100.1\",\"port\":443,\"protocol\":\"tcp\","
		 "\"backends\":[{\"address\":\"10.0.0.1\"}]}]}",
		 f->socket_path);
	CU_ASSERT_EQUAL_FATAL(cp_config_parse(text, strlen(text), &loaded, &err), 0);
	f->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", f->socket_path);
	CU_ASSERT_FATAL(bind(f->listen_fd, (struct sockaddr *)&sun, sizeof(sun)) == 0);
	CU_ASSERT_FATAL(listen(f->listen_fd, 4) == 0);
	f->cp.epfd = epoll_create1(EPOLL_CLOEXEC);
	f->cp.config_path = f->config_path;
	f->cp.events_sink = (struct cp_event_sink){.emit = cp_event_record, .ctx = &f->events};
	f->cp.config_committed = cp_prefixes_follow_config; /* as edgelb-cp's main sets it */
	CU_ASSERT_EQUAL_FATAL(cp_state_init(&f->cp, loaded, cp_now_ms()), 0);
	CU_ASSERT_EQUAL_FATAL(cp_dataplanes_init(&f->cp), 0);
	CU_ASSERT_EQUAL_FATAL(f->cp.n_dps, 1);
	f->dp = &f->cp.dps[0];
	f->events.n = 0; /* from here on: the service's events */
}

static void fixture_close(struct fixture *f)
{
	cp_dataplanes_free(&f->cp);
	cp_state_free(&f->cp);
	close(f->cp.epfd);
	if (f->peer >= 0)
		close(f->peer);
	close(f->listen_fd);
	unlink(f->socket_path);
	{
		char path[160];

		unlink(f->config_path);
		snprintf(path, sizeof(path), "%s.prefixes", f->config_path);
		unlink(path);
	}
	rmdir(f->dir);
}

/* One request line from edgelb-cp, parsed; NULL if none within 2 s. */
static cJSON *peer_request(struct fixture *f)
{
	char line[1 << 16];
	size_t len = 0;

	while (len < sizeof(line) - 1) {
		struct pollfd pfd = {.fd = f->peer, .events = POLLIN};

		if (poll(&pfd, 1, 2000) != 1 || read(f->peer, &line[len], 1) != 1)
			return NULL;
		if (line[len] == '\n')
			break;
		len++;
	}
	return cJSON_ParseWithLength(line, len);
}

/* Nothing waiting from edgelb-cp. */
static bool peer_silent(struct fixture *f)
{
	struct pollfd pfd = {.fd = f->peer, .events = POLLIN};

	return poll(&pfd, 1, 50) == 0;
}

static const char *method_of(const cJSON *req)
{
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(req, "method");

	return cJSON_IsString(m) ? m->valuestring : "";
}

static int id_of(const cJSON *req)
{
	return cJSON_GetObjectItemCaseSensitive(req, "id")->valueint;
}

/* Answer request `id` with `result` (JSON text) and let the service read it. */
static void answer(struct fixture *f, int id, const char *member, const char *json)
{
	char line[1024];
	int n = snprintf(line, sizeof(line), "{\"jsonrpc\":\"2.0\",\"id\":%d,\"%s\":%s}\n", id,
			 member, json);

	CU_ASSERT_EQUAL_FATAL(write(f->peer, line, (size_t)n), n);
	cp_dataplane_event(&f->cp, f->dp, EPOLLIN);
}

/* Tick until the service connected, then accept its connection. */
static void connect_and_accept(struct fixture *f, uint64_t now)
{
	cp_dataplane_tick(&f->cp, f->dp, now);
	CU_ASSERT_TRUE_FATAL(f->dp->connected);
	f->peer = accept4(f->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	CU_ASSERT_FATAL(f->peer >= 0);
}

/* Connect, get the ping, answer it as a dataplane of protocol `protocol`. */
static void handshake(struct fixture *f, uint64_t now, int protocol, const char *instance)
{
	char result[256];
	cJSON *ping;

	connect_and_accept(f, now);
	ping = peer_request(f);
	CU_ASSERT_PTR_NOT_NULL_FATAL(ping);
	CU_ASSERT_STRING_EQUAL(method_of(ping), "ping");
	snprintf(result, sizeof(result),
		 "{\"pong\":true,\"instance\":\"%s\",\"protocol\":%d,\"version\":\"9.9\"}", instance,
		 protocol);
	answer(f, id_of(ping), "result", result);
	cJSON_Delete(ping);
}

static void test_push_and_acknowledgement(void)
{
	struct fixture f;
	uint64_t now = cp_now_ms();
	cJSON *push, *want;
	char *got_text, *want_text;

	fixture_open(&f);
	handshake(&f, now, ELB_DP_PROTOCOL_VERSION, "i-1");
	CU_ASSERT_TRUE(f.dp->protocol_ok);
	CU_ASSERT_STRING_EQUAL(f.dp->instance, "i-1");
	CU_ASSERT_STRING_EQUAL(f.dp->version, "9.9");
	CU_ASSERT_EQUAL(f.dp->connects, 1);
	CU_ASSERT_EQUAL(cp_dataplanes_current(&f.cp), 0);
	/* The desired state goes out as config.set, tagged with its generation. */
	cp_dataplane_tick(&f.cp, f.dp, now + 1);
	push = peer_request(&f);
	CU_ASSERT_PTR_NOT_NULL_FATAL(push);
	CU_ASSERT_STRING_EQUAL(method_of(push), "config.set");
	CU_ASSERT_EQUAL(id_of(push), 2);
	want = elb_dp_config_to_json(f.cp.desired);
	got_text = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(push, "params"), "config"));
	want_text = cJSON_PrintUnformatted(want);
	CU_ASSERT_STRING_EQUAL(got_text, want_text);
	CU_ASSERT_EQUAL(f.dp->inflight_gen, 1);
	/* In flight: not sent again. */
	cp_dataplane_tick(&f.cp, f.dp, now + 2);
	CU_ASSERT_TRUE(peer_silent(&f));
	answer(&f, 2, "result", "{\"epoch\":7}");
	CU_ASSERT_EQUAL(f.dp->pushed_gen, 1);
	CU_ASSERT_EQUAL(f.dp->inflight_gen, 0);
	CU_ASSERT_EQUAL(f.dp->dp_epoch, 7);
	CU_ASSERT_EQUAL(f.dp->pushes, 1);
	CU_ASSERT_EQUAL(cp_dataplanes_current(&f.cp), 1);
	CU_ASSERT_EQUAL_FATAL(f.events.n, 2);
	CU_ASSERT_STRING_EQUAL(f.events.types[0], "dataplane_connected");
	CU_ASSERT_STRING_EQUAL(f.events.fields[0], "{\"dataplane\":\"dp0\"}");
	CU_ASSERT_STRING_EQUAL(f.events.types[1], "dataplane_updated");
	CU_ASSERT_STRING_EQUAL(f.events.fields[1],
			       "{\"dataplane\":\"dp0\",\"generation\":1,\"epoch\":7}");
	/* Up to date: nothing more is pushed. */
	cp_dataplane_tick(&f.cp, f.dp, now + 3);
	CU_ASSERT_TRUE(peer_silent(&f));
	free(got_text);
	free(want_text);
	cJSON_Delete(want);
	cJSON_Delete(push);
	fixture_close(&f);
}

static void test_other_protocol_is_refused(void)
{
	struct fixture f;
	uint64_t now = cp_now_ms();

	fixture_open(&f);
	handshake(&f, now, 2, "i-1");
	CU_ASSERT_FALSE(f.dp->protocol_ok);
	CU_ASSERT_TRUE(f.dp->refused);
	CU_ASSERT_EQUAL(f.dp->protocol, 2);
	CU_ASSERT_STRING_EQUAL(f.dp->last_error,
			       "dataplane dp0 speaks protocol 2, edgelb-cp speaks 1: not managed");
	CU_ASSERT_EQUAL_FATAL(f.events.n, 2);
	CU_ASSERT_STRING_EQUAL(f.events.types[1], "dataplane_refused");
	CU_ASSERT_STRING_EQUAL(f.events.fields[1],
			       "{\"dataplane\":\"dp0\",\"protocol\":2,\"expected_protocol\":1,"
			       "\"version\":\"9.9\",\"error\":\"dataplane dp0 speaks protocol 2, "
			       "edgelb-cp speaks 1: not managed\"}");
	/* Never pushed to, never polled: only pings, and it stays connected. */
	cp_dataplane_tick(&f.cp, f.dp, now + 1);
	CU_ASSERT_TRUE(peer_silent(&f));
	cp_dataplane_tick(&f.cp, f.dp, now + CP_DP_COUNTERS_MS + 1);
	{
		cJSON *ping = peer_request(&f);

		CU_ASSERT_STRING_EQUAL(method_of(ping), "ping");
		cJSON_Delete(ping);
	}
	CU_ASSERT_TRUE(peer_silent(&f));
	CU_ASSERT_TRUE(f.dp->connected);
	CU_ASSERT_EQUAL(f.dp->pushes, 0);
	fixture_close(&f);
}

static void test_refused_push_is_retried(void)
{
	struct fixture f;
	uint64_t now = cp_now_ms();
	cJSON *push;

	fixture_open(&f);
	handshake(&f, now, ELB_DP_PROTOCOL_VERSION, "i-1");
	cp_dataplane_tick(&f.cp, f.dp, now + 1);
	push = peer_request(&f);
	CU_ASSERT_PTR_NOT_NULL_FATAL(push);
	answer(&f, id_of(push), "error", "{\"code\":-32602,\"message\":\"vips[0]: no room\"}");
	cJSON_Delete(push);
	CU_ASSERT_EQUAL(f.dp->push_failures, 1);
	CU_ASSERT_EQUAL(f.dp->pushed_gen, 0);
	CU_ASSERT_STRING_EQUAL(f.dp->last_error, "config.set refused: vips[0]: no room");
	CU_ASSERT_STRING_EQUAL(f.events.types[f.events.n - 1], "push_refused");
	CU_ASSERT_STRING_EQUAL(f.events.fields[f.events.n - 1],
			       "{\"dataplane\":\"dp0\",\"method\":\"config.set\",\"error\":"
			       "\"config.set refused: vips[0]: no room\"}");
	/* Not before CP_DP_PUSH_RETRY_MS (the service's clock), then again. */
	cp_dataplane_tick(&f.cp, f.dp, now + 2);
	CU_ASSERT_TRUE(peer_silent(&f));
	cp_dataplane_tick(&f.cp, f.dp, cp_now_ms() + CP_DP_PUSH_RETRY_MS + 1);
	push = NULL;
	for (int i = 0; i < 4 && push == NULL; i++) { /* a ping and counters may come first */
		cJSON *req = peer_request(&f);

		CU_ASSERT_PTR_NOT_NULL_FATAL(req);
		if (strcmp(method_of(req), "config.set") == 0)
			push = req;
		else
			cJSON_Delete(req);
	}
	CU_ASSERT_PTR_NOT_NULL(push);
	cJSON_Delete(push);
	fixture_close(&f);
}

static void test_restart_and_reconnect(void)
{
	struct fixture f;
	uint64_t now = cp_now_ms();
	cJSON *req;

	fixture_open(&f);
	handshake(&f, now, ELB_DP_PROTOCOL_VERSION, "i-1");
	cp_dataplane_tick(&f.cp, f.dp, now + 1);
	req = peer_request(&f); /* the push */
	CU_ASSERT_PTR_NOT_NULL_FATAL(req);
	CU_ASSERT_STRING_EQUAL(method_of(req), "config.set");
	answer(&f, id_of(req), "result", "{\"epoch\":1}");
	cJSON_Delete(req);
	CU_ASSERT_EQUAL(f.dp->pushed_gen, 1);
	/* A new instance behind the socket without a disconnect: the whole
	 * state again. */
	cp_dataplane_tick(&f.cp, f.dp, now + CP_DP_PING_INTERVAL_MS + 1);
	req = peer_request(&f);
	CU_ASSERT_PTR_NOT_NULL_FATAL(req);
	CU_ASSERT_STRING_EQUAL(method_of(req), "ping");
	answer(&f, id_of(req), "result", "{\"pong\":true,\"instance\":\"i-2\",\"protocol\":1}");
	cJSON_Delete(req);
	CU_ASSERT_EQUAL(f.dp->restarts, 1);
	CU_ASSERT_EQUAL(f.dp->pushed_gen, 0);
	CU_ASSERT_STRING_EQUAL(f.events.types[f.events.n - 1], "dataplane_restarted");
	/* The dataplane closes: lost, then reached again after CP_DP_RECONNECT_MS. */
	close(f.peer);
	f.peer = -1;
	cp_dataplane_event(&f.cp, f.dp, EPOLLIN);
	CU_ASSERT_FALSE(f.dp->connected);
	CU_ASSERT_EQUAL(f.dp->disconnects, 1);
	CU_ASSERT_STRING_EQUAL(f.dp->last_error, "the dataplane closed the connection");
	CU_ASSERT_STRING_EQUAL(f.events.types[f.events.n - 1], "dataplane_lost");
	CU_ASSERT_STRING_EQUAL(f.events.fields[f.events.n - 1],
			       "{\"dataplane\":\"dp0\",\"reason\":\"the dataplane closed the "
			       "connection\"}");
	cp_dataplane_tick(&f.cp, f.dp, f.dp->next_connect_ms - 1);
	CU_ASSERT_FALSE(f.dp->connected);
	handshake(&f, f.dp->next_connect_ms, ELB_DP_PROTOCOL_VERSION, "i-2");
	CU_ASSERT_EQUAL(f.dp->connects, 2);
	CU_ASSERT_TRUE(f.dp->protocol_ok);
	fixture_close(&f);
}

/* A prefix change through the state core, as the methods make it: items
 * from {array: [prefix]} of a request, then committed. */
static void change_prefixes(struct fixture *f, const struct elb_dp_vip_key *vip,
			    enum cp_prefix_op op, const char *request)
{
	cJSON *params = cJSON_Parse(request);
	struct cp_prefix_item *items = NULL;
	struct elb_prefix_set *next = NULL;
	struct elb_dp_err err = {0};
	uint32_t n = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(params);
	CU_ASSERT_EQUAL(cp_prefix_items_from_json(params, "allow", ELB_PREFIX_ALLOW, 0, &items, &n,
						  &err), 0);
	CU_ASSERT_EQUAL(cp_prefix_items_from_json(params, "deny", ELB_PREFIX_DENY, 0, &items, &n,
						  &err), 0);
	CU_ASSERT_EQUAL_FATAL(cp_prefixes_change(f->cp.prefixes, vip, op, items, n, &next, &err), 0);
	CU_ASSERT_EQUAL_FATAL(cp_prefixes_commit(&f->cp, next, &err), 0);
	free(items);
	cJSON_Delete(params);
}

/* A ping of the same process, answered; the other polls (counters.get,
 * vip.tables) left unanswered. @return true for a poll (req freed). */
static bool served_poll(struct fixture *f, cJSON *req)
{
	char result[128];

	if (strcmp(method_of(req), "config.set") == 0 || strcmp(method_of(req), "prefixes.set") == 0)
		return false;
	if (strcmp(method_of(req), "ping") == 0) {
		snprintf(result, sizeof(result), "{\"pong\":true,\"instance\":\"%s\",\"protocol\":1}",
			 f->dp->instance);
		answer(f, id_of(req), "result", result);
	}
	cJSON_Delete(req);
	return true;
}

/* The next push from edgelb-cp (config.set or prefixes.set), the polls
 * before it served; NULL if none comes. */
static cJSON *next_push(struct fixture *f)
{
	for (int i = 0; i < 8; i++) {
		cJSON *req = peer_request(f);

		if (req == NULL || !served_poll(f, req))
			return req;
	}
	return NULL;
}

/* No push waiting (polls are served): edgelb-cp sends nothing new. */
static bool no_push(struct fixture *f)
{
	while (!peer_silent(f)) {
		cJSON *req = peer_request(f);

		if (req == NULL)
			return true;
		if (!served_poll(f, req)) {
			cJSON_Delete(req);
			return false;
		}
	}
	return true;
}

static char *params_member_text(const cJSON *req, const char *member)
{
	return cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(req, "params"), member));
}

/* Tick at now; the prefixes.set that goes out is refused as a dataplane
 * without prefix lists refuses it. @return the events before the answer. */
static unsigned int refuse_next_lists(struct fixture *f, uint64_t now)
{
	unsigned int events;
	cJSON *lists;

	cp_dataplane_tick(&f->cp, f->dp, now);
	lists = next_push(f);
	CU_ASSERT_PTR_NOT_NULL_FATAL(lists);
	CU_ASSERT_STRING_EQUAL(method_of(lists), "prefixes.set");
	events = f->events.n;
	answer(f, id_of(lists), "error",
	       "{\"code\":-32602,\"message\":\"this dataplane has no prefix lists\"}");
	cJSON_Delete(lists);
	return events;
}

static void test_prefix_push(void)
{
	struct fixture f;
	uint64_t now = cp_now_ms();
	struct elb_dp_err err = {0};
	struct cp_config *next;
	cJSON *push, *lists;
	unsigned int events;
	char *text;
	int lists_id;

	fixture_open(&f);
	handshake(&f, now, ELB_DP_PROTOCOL_VERSION, "i-1");
	/* Generation 0 (no list ever set): only the config goes out. */
	cp_dataplane_tick(&f.cp, f.dp, now + 1);
	push = next_push(&f);
	CU_ASSERT_PTR_NOT_NULL_FATAL(push);
	CU_ASSERT_STRING_EQUAL(method_of(push), "config.set");
	answer(&f, id_of(push), "result", "{\"epoch\":2}");
	cJSON_Delete(push);
	cp_dataplane_tick(&f.cp, f.dp, now + 2);
	CU_ASSERT_TRUE(no_push(&f));
	CU_ASSERT_EQUAL(f.dp->prefix_pushes, 0);

	change_prefixes(&f, NULL, CP_PREFIX_ADD, "{\"deny\":[\"203.0.113.0/24\"]}");
	CU_ASSERT_EQUAL(f.cp.prefixes->generation, 1);
	cp_dataplane_tick(&f.cp, f.dp, now + 3);
	lists = next_push(&f);
	CU_ASSERT_PTR_NOT_NULL_FATAL(lists);
	CU_ASSERT_STRING_EQUAL(method_of(lists), "prefixes.set");
	text = params_member_text(lists, "prefixes");
	CU_ASSERT_STRING_EQUAL(text, "{\"generation\":1,\"node\":{\"allow\":[],\"deny\":"
				     "[\"203.0.113.0/24\"]},\"vips\":[]}");
	free(text);
	lists_id = id_of(lists);
	cJSON_Delete(lists);
	CU_ASSERT_EQUAL(f.dp->prefixes_inflight_gen, 1);
	/* A config change while the lists are in flight goes out at once: it
	 * waits for nothing of theirs. */
	next = cp_config_clone(f.cp.config);
	CU_ASSERT_PTR_NOT_NULL_FATAL(next);
	next->vips[0].dp.backends[0].weight = 7;
	CU_ASSERT_EQUAL_FATAL(cp_commit(&f.cp, next, now + 4, &err), 0);
	cp_dataplane_tick(&f.cp, f.dp, now + 4);
	push = next_push(&f);
	CU_ASSERT_PTR_NOT_NULL_FATAL(push);
	CU_ASSERT_STRING_EQUAL(method_of(push), "config.set");
	events = f.events.n;
	answer(&f, lists_id, "result", "{\"generation\":1,\"rules\":1}");
	CU_ASSERT_EQUAL(f.dp->prefixes_gen, 1);
	CU_ASSERT_EQUAL(f.dp->prefixes_inflight_gen, 0);
	CU_ASSERT_EQUAL(f.dp->prefix_pushes, 1);
	CU_ASSERT_EQUAL_FATAL(f.events.n, events + 1);
	CU_ASSERT_STRING_EQUAL(f.events.types[events], "dataplane_prefixes_updated");
	CU_ASSERT_STRING_EQUAL(f.events.fields[events],
			       "{\"dataplane\":\"dp0\",\"prefixes_generation\":1}");
	answer(&f, id_of(push), "result", "{\"epoch\":3}");
	cJSON_Delete(push);
	CU_ASSERT_EQUAL(f.dp->pushed_gen, f.cp.gen);
	/* Both acknowledged: nothing is sent again. */
	cp_dataplane_tick(&f.cp, f.dp, now + 5);
	CU_ASSERT_TRUE(no_push(&f));

	/* Refused: reported once, retried after CP_DP_PREFIXES_RETRY_MS. */
	change_prefixes(&f, NULL, CP_PREFIX_ADD, "{\"allow\":[\"2001:db8::/32\"]}");
	events = refuse_next_lists(&f, now + 6);
	CU_ASSERT_EQUAL(f.dp->prefixes_gen, 1);
	CU_ASSERT_EQUAL(f.dp->prefix_push_failures, 1);
	CU_ASSERT_STRING_EQUAL(f.dp->prefixes_error, "this dataplane has no prefix lists");
	CU_ASSERT_STRING_EQUAL(f.dp->last_error,
			       "prefixes.set refused: this dataplane has no prefix lists");
	CU_ASSERT_EQUAL_FATAL(f.events.n, events + 1);
	CU_ASSERT_STRING_EQUAL(f.events.types[events], "push_refused");
	CU_ASSERT_STRING_EQUAL(f.events.fields[events],
			       "{\"dataplane\":\"dp0\",\"method\":\"prefixes.set\",\"error\":"
			       "\"prefixes.set refused: this dataplane has no prefix lists\"}");
	now = cp_now_ms();
	cp_dataplane_tick(&f.cp, f.dp, now);
	CU_ASSERT_TRUE(no_push(&f));
	events = refuse_next_lists(&f, now + CP_DP_PREFIXES_RETRY_MS + 1);
	CU_ASSERT_EQUAL(f.dp->prefix_push_failures, 2);
	CU_ASSERT_EQUAL(f.events.n, events); /* the same refusal is not said again */

	/* Reached again after the dataplane closed: the config, then the
	 * lists, at once (no retry delay on a new connection). */
	close(f.peer);
	f.peer = -1;
	cp_dataplane_event(&f.cp, f.dp, EPOLLIN);
	CU_ASSERT_FALSE_FATAL(f.dp->connected);
	handshake(&f, f.dp->next_connect_ms, ELB_DP_PROTOCOL_VERSION, "i-2");
	CU_ASSERT_EQUAL(f.dp->prefixes_gen, 0);
	cp_dataplane_tick(&f.cp, f.dp, f.dp->next_connect_ms + 1);
	push = next_push(&f);
	lists = next_push(&f);
	CU_ASSERT_PTR_NOT_NULL_FATAL(push);
	CU_ASSERT_PTR_NOT_NULL_FATAL(lists);
	CU_ASSERT_STRING_EQUAL(method_of(push), "config.set");
	CU_ASSERT_STRING_EQUAL(method_of(lists), "prefixes.set");
	text = params_member_text(lists, "prefixes");
	CU_ASSERT_STRING_EQUAL(text, "{\"generation\":2,\"node\":{\"allow\":[\"2001:db8::/32\"],"
				     "\"deny\":[\"203.0.113.0/24\"]},\"vips\":[]}");
	free(text);
	cJSON_Delete(push);
	cJSON_Delete(lists);
	fixture_close(&f);
}

static void test_removed_vip_takes_its_list(void)
{
	struct elb_dp_vip_key vip = {.family = ELB_AF_INET, .proto = ELB_IPPROTO_TCP, .port = 443};
	struct fixture f;
	struct elb_dp_err err = {0};
	struct elb_prefix_set *on_disk = NULL;
	struct cp_config *next;
	char path[160];
	FILE *file;

	fixture_open(&f);
	vip.addr.v4 = htonl(0xc6336401); /* 198.51.100.1 */
	change_prefixes(&f, &vip, CP_PREFIX_ADD,
			"{\"allow\":[\"192.0.2.0/24\"],\"deny\":[\"0.0.0.0/0\"]}");
	change_prefixes(&f, NULL, CP_PREFIX_ADD, "{\"deny\":[\"203.0.113.0/24\"]}");
	CU_ASSERT_EQUAL(f.cp.prefixes->generation, 2);
	CU_ASSERT_EQUAL(f.cp.prefixes->n_vips, 1);
	/* The VIP goes: its list with it, written, in a new generation. */
	next = cp_config_clone(f.cp.config);
	CU_ASSERT_PTR_NOT_NULL_FATAL(next);
	elb_dp_vip_release(&next->vips[0].dp);
	next->n_vips = 0;
	CU_ASSERT_EQUAL_FATAL(cp_commit(&f.cp, next, cp_now_ms(), &err), 0);
	CU_ASSERT_EQUAL(f.cp.prefixes->generation, 3);
	CU_ASSERT_EQUAL(f.cp.prefixes->n_vips, 0);
	CU_ASSERT_EQUAL(f.cp.prefixes->node.n, 1);
	snprintf(path, sizeof(path), "%s.prefixes", f.config_path);
	CU_ASSERT_EQUAL_FATAL(elb_prefix_set_load_file(path, &on_disk, &err), 0);
	CU_ASSERT_TRUE(elb_prefix_set_same_rules(on_disk, f.cp.prefixes));
	CU_ASSERT_EQUAL(on_disk->generation, 3);
	elb_prefix_set_free(on_disk);
	/* A file with the list of a VIP the config lacks (a crash between
	 * the two writes): dropped at load, and the file rewritten. */
	file = fopen(path, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(file);
	fputs("{\"generation\":9,\"node\":{\"deny\":[\"203.0.113.0/24\"]},\"vips\":[{\"address\":"
	      "\"198.51.100.1\",\"port\":443,\"protocol\":\"tcp\",\"deny\":[\"0.0.0.0/0\"]}]}",
	      file);
	fclose(file);
	CU_ASSERT_EQUAL_FATAL(cp_prefixes_load(&f.cp, &err), 0);
	CU_ASSERT_EQUAL(f.cp.prefixes->generation, 10);
	CU_ASSERT_EQUAL(f.cp.prefixes->n_vips, 0);
	CU_ASSERT_EQUAL(f.cp.prefixes->node.n, 1);
	CU_ASSERT_EQUAL_FATAL(elb_prefix_set_load_file(path, &on_disk, &err), 0);
	CU_ASSERT_EQUAL(on_disk->generation, 10);
	CU_ASSERT_EQUAL(on_disk->n_vips, 0);
	elb_prefix_set_free(on_disk);
	fixture_close(&f);
}

int main(void)
{
	static const struct elb_test_case cases[] = {
		ELB_TEST(test_push_and_acknowledgement),
		ELB_TEST(test_other_protocol_is_refused),
		ELB_TEST(test_refused_push_is_retried),
		ELB_TEST(test_restart_and_reconnect),
		ELB_TEST(test_prefix_push),
		ELB_TEST(test_removed_vip_takes_its_list),
		ELB_TEST_END,
	};

	/* A write to a connection the service dropped fails an assertion
	 * instead of ending the run. */
	signal(SIGPIPE, SIG_IGN);
	return elb_test_run("cp_dataplanes", cases);
}
