/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target: edgelb-cp's operator methods, line by line through the
 * real JSON-RPC server (elb_rpc_server_answer: what a client on the socket
 * gets) and the real daemon state (cp_state.c: cp_commit validates,
 * persists atomically, applies). Each input is a sequence of request lines
 * against a fresh daemon loaded from the same base config.
 *
 * Checks after every line: the answer is one JSON-RPC 2.0 response with a
 * result or an error (integer code, message); the file on disk is exactly
 * the state in memory (persisted before applied); an error left the state,
 * the file and the generation as they were (nothing half-applied); the
 * desired dataplane config validates; nothing leaks (ASan).
 *
 * The state file lives on tmpfs (/dev/shm) so that its fsync is cheap.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cp_methods.h"
#include "cp_state.h"
#include "elb_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char base_config[] =
	"{\"node\":{\"source_v4\":\"192.0.2.10\",\"source_v6\":\"2001:db8::10\","
	"\"gateway_mac\":\"02:00:00:00:00:01\"},"
	"\"dataplanes\":[{\"name\":\"dp0\",\"socket\":\"/nonexistent/dp0.sock\"}],"
	"\"vips\":[{\"address\":\"198.51.100.1\",\"port\":8080,\"protocol\":\"tcp\","
	"\"backends\":[{\"address\":\"10.77.0.1\"},{\"address\":\"10.77.0.2\",\"weight\":3}],"
	"\"health_check\":{\"type\":\"http\",\"interval_ms\":1000,\"timeout_ms\":500}},"
	"{\"address\":\"2001:db8:100::1\",\"port\":0,\"protocol\":\"udp\",\"encap\":\"gue\","
	"\"backends\":[{\"address\":\"2001:db8:2::1\",\"state\":\"draining\"}]}]}";

static char dir[] = "/dev/shm/elb-fuzz-cp-XXXXXX";
static char config_path[sizeof(dir) + 16];
static char socket_path[sizeof(dir) + 16];
static struct elb_rpc_server *server;
static struct cp_daemon cp;

static void cleanup(void)
{
	elb_rpc_server_close(server);
	unlink(config_path);
	rmdir(dir);
}

static void setup(void)
{
	struct elb_rpc_server_config rpc = {.methods = cp_methods, .n_methods = cp_n_methods,
					    .aliases = cp_aliases, .n_aliases = cp_n_aliases,
					    .ctx = &cp};

	if (mkdtemp(dir) == NULL)
		abort();
	snprintf(config_path, sizeof(config_path), "%s/cp.json", dir);
	snprintf(socket_path, sizeof(socket_path), "%s/cp.sock", dir);
	rpc.path = socket_path;
	if (elb_rpc_server_open(&server, &rpc) != 0)
		abort();
	atexit(cleanup);
}

/* Abort unless line is one JSON-RPC 2.0 response; returns whether it is an error. */
static bool check_response(const char *line)
{
	cJSON *r = cJSON_Parse(line);
	const cJSON *result, *error, *id;

	if (r == NULL || !cJSON_IsObject(r))
		abort();
	result = cJSON_GetObjectItemCaseSensitive(r, "result");
	error = cJSON_GetObjectItemCaseSensitive(r, "error");
	if ((result == NULL) == (error == NULL))
		abort();
	if (error && (!cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(error, "code")) ||
		      !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(error, "message"))))
		abort();
	id = cJSON_GetObjectItemCaseSensitive(r, "id");
	if (id == NULL || !(cJSON_IsNumber(id) || cJSON_IsString(id) || cJSON_IsNull(id)))
		abort();
	cJSON_Delete(r);
	return error != NULL;
}

static char *state_text(void)
{
	cJSON *json = cp_config_to_json(cp.config);
	char *text = json != NULL ? cJSON_PrintUnformatted(json) : NULL;

	cJSON_Delete(json);
	if (text == NULL)
		abort();
	return text;
}

/* The file on disk, as the state it holds. */
static char *file_state(void)
{
	struct cp_config *loaded = NULL;
	struct elb_dp_err err;
	cJSON *json;
	char *text;

	if (cp_config_load_file(config_path, &loaded, &err) != 0) {
		fprintf(stderr, "fuzz_cp_rpc: state file: %s\n", err.text);
		abort();
	}
	json = cp_config_to_json(loaded);
	text = json != NULL ? cJSON_PrintUnformatted(json) : NULL;
	cJSON_Delete(json);
	cp_config_free(loaded);
	if (text == NULL)
		abort();
	return text;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;
	struct cp_config *loaded = NULL;
	struct elb_dp_err err;

	if (server == NULL)
		setup();
	if (cp_config_parse(base_config, sizeof(base_config) - 1, &loaded, &err) != 0 ||
	    cp_config_write_file(config_path, loaded, &err) != 0)
		abort();
	memset(&cp, 0, sizeof(cp));
	cp.epfd = -1;
	cp.config_path = config_path;
	if (cp_state_init(&cp, loaded, 0) != 0)
		abort();
	cp.operator = server;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = (size_t)((nl ? nl : end) - p);
		uint64_t gen = cp.gen, changes = cp.changes;
		char *before = state_text(), *after, *on_disk;
		char *response = elb_rpc_server_answer(server, p, len);

		after = state_text();
		on_disk = file_state();
		if (strcmp(after, on_disk) != 0) /* persisted before applied */
			abort();
		if (response != NULL) {
			if (check_response(response) && (strcmp(before, after) != 0 || cp.gen != gen ||
				       cp.changes != changes))
				abort(); /* an error changed something */
			free(response);
		}
		if (cp.desired == NULL ||
		    elb_dp_config_validate(cp.desired, "", &err) != 0)
			abort();
		free(before);
		free(after);
		free(on_disk);
		p += len + 1;
	}
	cp.operator = NULL; /* kept for the next input */
	cp_state_free(&cp);
	return 0;
}
