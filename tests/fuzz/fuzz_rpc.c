/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target: the dataplane protocol, line by line through the real
 * JSON-RPC server and method handlers (elb_dp_api_answer: what a client on
 * the socket gets), with an apply that builds a real snapshot of every
 * accepted config. Each input is a sequence of request lines. Checks: every
 * answer is one JSON-RPC 2.0 response object with either a result or an
 * error (with an integer code and a message), echoing a valid id; the epoch
 * never goes backwards; nothing leaks (ASan).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "elb_dp_api.h"
#include "elb_snapshot.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct elb_dp_api *api;
static struct elb_snapshot *current;
static uint32_t next_gen;

static int fuzz_apply(void *ctx, const struct elb_dp_config *config, uint64_t epoch, char *err,
		      size_t errlen)
{
	struct elb_snapshot *next = NULL;
	struct elb_dp_err e;
	int rc;

	(void)ctx;
	rc = elb_snapshot_build(config, current, epoch, &next_gen, &next, &e);
	if (rc) {
		snprintf(err, errlen, "%s", e.text);
		return rc;
	}
	elb_snapshot_free(current);
	current = next;
	return 0;
}

static int fuzz_counters(void *ctx, cJSON *out, const struct elb_dp_vip_key *vip)
{
	(void)ctx;
	(void)vip;
	return cJSON_AddNumberToObject(out, "fuzz", 1) ? 0 : -1;
}

static const struct elb_dp_ops fuzz_ops = {.apply = fuzz_apply, .counters = fuzz_counters};

static char dir[] = "/tmp/elb-fuzz-rpc-XXXXXX";

/* The socket file and its directory go when the fuzzer exits. */
static void cleanup(void)
{
	elb_dp_api_close(api);
	elb_snapshot_free(current);
	rmdir(dir);
}

static void setup(void)
{
	char path[sizeof(dir) + 16];
	struct elb_dp_api_options options = {.dataplane = "fuzz"};
	struct elb_dp_err err;

	if (mkdtemp(dir) == NULL)
		abort();
	snprintf(path, sizeof(path), "%s/dp.sock", dir);
	options.socket_path = path;
	if (elb_dp_api_open(&api, &options, &fuzz_ops, NULL, &err) != 0) {
		fprintf(stderr, "fuzz_rpc: %s\n", err.text);
		abort();
	}
	atexit(cleanup);
}

static void check_response(const char *line)
{
	cJSON *r = cJSON_Parse(line);
	const cJSON *result, *error, *id;

	if (r == NULL || !cJSON_IsObject(r))
		abort();
	if (!cJSON_IsString(cJSON_GetObjectItemCaseSensitive(r, "jsonrpc")) ||
	    strcmp(cJSON_GetObjectItemCaseSensitive(r, "jsonrpc")->valuestring, "2.0") != 0)
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
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;

	if (api == NULL)
		setup();
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = (size_t)((nl ? nl : end) - p);
		uint64_t epoch = elb_dp_api_epoch(api);
		char *response = elb_dp_api_answer(api, p, len);

		if (response) {
			check_response(response);
			free(response);
		}
		if (elb_dp_api_epoch(api) < epoch)
			abort();
		p += len + 1;
	}
	return 0;
}
