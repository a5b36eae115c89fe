/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * JSON-RPC 2.0 line server; see elb_rpc.h for the behaviour.
 *
 * Structure: one epoll instance, level-triggered, holding the listening
 * socket and every client. Per client, an input buffer (at most one line
 * plus what follows it) and an output buffer of encoded responses. A round
 * of elb_rpc_server_poll():
 *   1. epoll_wait;
 *   2. per ready client: send what is pending, read once, answer every
 *      complete line (unless its unsent output is above the pause mark),
 *      send;
 *   3. every sweep interval: drop clients whose pending I/O made no
 *      progress for the stall timeout;
 *   4. free the clients closed during the round. A client is only freed
 *      here, because a later event of the same epoll_wait batch may still
 *      point at it.
 * Level-triggered epoll keeps it simple to read only one buffer per event:
 * a busy client is served again in the next round, after the others.
 */
#include "elb_rpc.h"
#include "elb_json.h"
#include "elb_utf8.h"
#include "elb_version.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define EVENTS_PER_ROUND 64
#define ACCEPTS_PER_ROUND 64
#define READ_CHUNK (64u << 10)     /* at most this much read per readiness event */
#define READ_MIN_ROOM 1024u        /* input buffer grows when it has less room */
#define BUFFER_INITIAL (4u << 10)
#define BUFFER_KEEP (64u << 10)    /* idle buffers above this are given back */
#define ACCEPT_RETRY_MS 100        /* out of fds: wait this long before accepting again */
#define PEER_GROUPS_MAX 256        /* supplementary groups of a peer that are looked at */

enum client_access {
	ACCESS_NONE = 0,
	ACCESS_READ,
	ACCESS_WRITE,
};

struct rpc_client {
	int fd;
	uint64_t id;            /* elb_rpc_server_caller's; never reused */
	uint32_t uid;           /* the peer's, at connect */
	uint8_t access;         /* enum client_access */
	uint32_t slot;          /* index in srv->clients */
	uint32_t events;        /* epoll mask registered now */
	bool closing;           /* read nothing more; close once the output is sent */
	bool peer_eof;          /* the client shut down its sending side */
	bool peer_gone;         /* the client is gone: responses are discarded */
	bool dead;              /* closed; freed at the end of the round */
	char *in;
	size_t in_len, in_cap;
	size_t in_head;         /* start of the first unhandled line */
	size_t in_scan;         /* bytes before this were searched for "\n" */
	char *out;
	size_t out_head, out_len, out_cap;
	uint64_t input_ms;      /* last input progress */
	uint64_t output_ms;     /* last output progress, or when output became pending */
	/* Answers held in request order behind a deferred one, from
	 * held[held_head] to held[n_held - 1]: the first is always a deferred
	 * answer not given yet. Empty: both 0. */
	struct rpc_held {
		uint64_t ticket; /* 0: an answer given at once */
		cJSON *id;       /* the request's, for the deferred answer */
		bool notification; /* no answer at all */
		bool ready;
		char *line;      /* NULL: nothing to send (a notification, no memory) */
	} *held;
	uint32_t held_head, n_held, held_cap;
	struct rpc_client *next_dead;
};

/* A method as served: an alias carries its replacement's handler and
 * read_only (unless it has a handler of its own). */
struct served_method {
	const char *name;
	elb_rpc_handler_fn handler;
	bool read_only;
	bool builtin;            /* handler takes the server as ctx */
	const char *replaced_by; /* deprecated alias of this method */
	bool may_defer;          /* in defer_methods: no settle before it */
};

struct elb_rpc_server {
	int epoll_fd;
	int listen_fd;
	char *path;
	dev_t sock_dev; /* identity of our socket file, to remove only ours */
	ino_t sock_ino;
	struct served_method *methods; /* the table's, then the built-ins it does not override */
	size_t n_methods;
	void *ctx;
	elb_rpc_describe_fn ping;
	elb_rpc_describe_fn status;
	void (*settle)(void *ctx);
	unsigned int max_clients;
	size_t max_message;
	size_t max_output;
	size_t output_pause;
	unsigned int stall_timeout_ms;
	unsigned int sweep_interval_ms;
	uint64_t last_sweep_ms;
	uint64_t accept_resume_ms; /* 0: accepting */
	struct rpc_client **clients;
	uint32_t n_clients;
	struct rpc_client *dead;
	struct elb_rpc_stats stats;
	int listen_marker; /* its address tags the listener's epoll events */
	uint64_t next_client_id;
	struct rpc_client *caller; /* whose request runs now; NULL outside handlers */
	uint64_t next_ticket;
	uint64_t deferring; /* the ticket the running handler took, 0: none */
	cJSON *deferred_id; /* its request's id, for client_answer */
	bool deferred_notification;
	struct id_list {
		uint32_t uids[ELB_RPC_MAX_ACCESS_IDS + 2]; /* + root and our euid for write */
		uint32_t n_uids;
		uint32_t gids[ELB_RPC_MAX_ACCESS_IDS];
		uint32_t n_gids;
	} write_ids, read_ids;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void elb_rpc_error_set(struct elb_rpc_error *error, int code, const char *field, const char *fmt,
		       ...)
{
	va_list ap;

	error->code = code;
	snprintf(error->field, sizeof(error->field), "%s", field != NULL ? field : "");
	va_start(ap, fmt);
	vsnprintf(error->message, sizeof(error->message), fmt, ap);
	va_end(ap);
}

/* ------------------------------------------------------------------------ */
/* Messages */

static const struct served_method *find_method(const struct elb_rpc_server *srv,
					       const char *name)
{
	for (size_t i = 0; i < srv->n_methods; i++)
		if (strcmp(srv->methods[i].name, name) == 0)
			return &srv->methods[i];
	return NULL;
}

/* ------------------------------------------------------------------------ */
/* Built-in methods: ping, status.get, rpc.methods (see elb_rpc.h) */

static int builtin_no_params(const cJSON *params, struct elb_rpc_error *error)
{
	static const char *const known[] = {NULL};
	struct elb_dp_err err;

	if (elb_dp_json_check_members(params, "", known, &err) == 0)
		return 0;
	elb_rpc_error_set(error, ELB_RPC_INVALID_PARAMS, err.field, "%s", err.text);
	return -EINVAL;
}

static int builtin_nomem(struct elb_rpc_error *error)
{
	elb_rpc_error_set(error, ELB_RPC_INTERNAL_ERROR, NULL, "out of memory");
	return -ENOMEM;
}

/* A built-in's end: r is the result if it was built whole, else it is
 * freed and the answer is "out of memory". */
static int builtin_answer(cJSON *r, bool built, cJSON **result, struct elb_rpc_error *error)
{
	if (r == NULL || !built) {
		cJSON_Delete(r);
		return builtin_nomem(error);
	}
	*result = r;
	return 0;
}

/* The daemon's part of a built-in; result is freed on failure. */
static int builtin_describe(const struct elb_rpc_server *srv, elb_rpc_describe_fn describe,
			    const char *method, cJSON *result, struct elb_rpc_error *error)
{
	int rc = describe != NULL ? describe(srv->ctx, result) : 0;

	if (rc == 0)
		return 0;
	cJSON_Delete(result);
	if (rc == -ENOMEM)
		return builtin_nomem(error);
	elb_rpc_error_set(error, ELB_RPC_INTERNAL_ERROR, NULL, "%s: %s", method,
			  strerror(rc < 0 ? -rc : EIO));
	return rc < 0 ? rc : -EIO;
}

static int builtin_ping(void *ctx, const cJSON *params, cJSON **result,
			struct elb_rpc_error *error)
{
	struct elb_rpc_server *srv = ctx;
	cJSON *r;
	int rc = builtin_no_params(params, error);

	if (rc < 0)
		return rc;
	r = cJSON_CreateObject();
	if (r == NULL || cJSON_AddTrueToObject(r, "pong") == NULL)
		return builtin_answer(r, false, result, error);
	rc = builtin_describe(srv, srv->ping, ELB_RPC_BUILTIN_PING, r, error);
	if (rc < 0)
		return rc;
	/* Last, as every ping has had it: one version for the whole build. */
	return builtin_answer(r,
			      cJSON_GetObjectItemCaseSensitive(r, "version") != NULL ||
				      cJSON_AddStringToObject(r, "version", ELB_VERSION) != NULL,
			      result, error);
}

static int builtin_status(void *ctx, const cJSON *params, cJSON **result,
			  struct elb_rpc_error *error)
{
	struct elb_rpc_server *srv = ctx;
	struct elb_rpc_stats stats;
	cJSON *r, *control;
	bool ok;
	int rc = builtin_no_params(params, error);

	if (rc < 0)
		return rc;
	r = cJSON_CreateObject();
	if (r == NULL)
		return builtin_nomem(error);
	rc = builtin_describe(srv, srv->status, ELB_RPC_BUILTIN_STATUS, r, error);
	if (rc < 0)
		return rc;
	control = cJSON_GetObjectItemCaseSensitive(r, "control");
	if (control == NULL)
		control = cJSON_AddObjectToObject(r, "control");
	elb_rpc_server_stats(srv, &stats);
	ok = cJSON_IsObject(control) &&
	     cJSON_AddNumberToObject(control, "clients", stats.clients) != NULL &&
	     elb_dp_json_add_u64(control, "requests", stats.requests) != NULL &&
	     elb_dp_json_add_u64(control, "errors", stats.errors) != NULL &&
	     elb_dp_json_add_u64(control, "refused", stats.refused) != NULL &&
	     elb_dp_json_add_u64(control, "dropped", stats.dropped) != NULL &&
	     elb_dp_json_add_u64(control, "oversized", stats.oversized) != NULL &&
	     elb_dp_json_add_u64(control, "denied", stats.denied) != NULL;
	return builtin_answer(r, ok, result, error);
}

static int builtin_methods(void *ctx, const cJSON *params, cJSON **result,
			   struct elb_rpc_error *error)
{
	struct elb_rpc_server *srv = ctx;
	cJSON *r, *list;
	int rc = builtin_no_params(params, error);

	if (rc < 0)
		return rc;
	r = cJSON_CreateObject();
	list = r != NULL ? cJSON_AddArrayToObject(r, "methods") : NULL;
	for (size_t i = 0; list != NULL && i < srv->n_methods; i++) {
		const struct served_method *m = &srv->methods[i];
		cJSON *o = cJSON_CreateObject();

		if (o == NULL || !cJSON_AddItemToArray(list, o)) {
			cJSON_Delete(o);
			list = NULL;
			break;
		}
		if (cJSON_AddStringToObject(o, "name", m->name) == NULL ||
		    cJSON_AddBoolToObject(o, "read_only", m->read_only) == NULL ||
		    (m->replaced_by != NULL &&
		     (cJSON_AddTrueToObject(o, "deprecated") == NULL ||
		      cJSON_AddStringToObject(o, "replaced_by", m->replaced_by) == NULL)))
			list = NULL;
	}
	return builtin_answer(r, list != NULL, result, error);
}

static const struct served_method builtin_methods_table[] = {
	{ELB_RPC_BUILTIN_PING, builtin_ping, true, true, NULL, false},
	{ELB_RPC_BUILTIN_STATUS, builtin_status, true, true, NULL, false},
	{ELB_RPC_BUILTIN_METHODS, builtin_methods, true, true, NULL, false},
};

static bool name_listed(const char *const *names, const char *name)
{
	for (size_t i = 0; names != NULL && names[i] != NULL; i++)
		if (strcmp(names[i], name) == 0)
			return true;
	return false;
}

static const struct elb_rpc_method *table_find(const struct elb_rpc_method *methods, size_t n,
					       const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(methods[i].name, name) == 0)
			return &methods[i];
	return NULL;
}

/*
 * The methods served: the daemon's table, its deprecated aliases (each
 * with its replacement's handler), then each built-in it does not define
 * itself. @return 0, -EINVAL (see elb_rpc_server_open), -ENOMEM.
 */
static int build_method_table(struct elb_rpc_server *srv,
			      const struct elb_rpc_server_config *config)
{
	const struct elb_rpc_method *methods = config->methods;
	size_t n = config->n_methods, count = 0;

	if (config->n_aliases > 0 && config->aliases == NULL)
		return -EINVAL;
	srv->methods = calloc(n + config->n_aliases + ELB_ARRAY_SIZE(builtin_methods_table),
			      sizeof(*srv->methods));
	if (srv->methods == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const struct elb_rpc_method *m = &methods[i];

		if (m->name == NULL || m->handler == NULL ||
		    table_find(methods, i, m->name) != NULL)
			return -EINVAL;
		srv->methods[count++] = (struct served_method){
			.name = m->name, .handler = m->handler, .read_only = m->read_only,
			.may_defer = name_listed(config->defer_methods, m->name)};
	}
	for (size_t i = 0; i < config->n_aliases; i++) {
		const struct elb_rpc_alias *a = &config->aliases[i];
		const struct elb_rpc_method *target =
			a->replaced_by != NULL ? table_find(methods, n, a->replaced_by) : NULL;

		if (a->name == NULL || target == NULL || table_find(methods, n, a->name) != NULL)
			return -EINVAL;
		for (size_t j = 0; j < i; j++)
			if (strcmp(config->aliases[j].name, a->name) == 0)
				return -EINVAL;
		srv->methods[count++] = (struct served_method){.name = a->name,
							       .handler = target->handler,
							       .read_only = target->read_only,
							       .may_defer = name_listed(config->defer_methods,
											target->name),
							       .replaced_by = target->name};
	}
	for (size_t b = 0; b < ELB_ARRAY_SIZE(builtin_methods_table); b++)
		if (table_find(methods, n, builtin_methods_table[b].name) == NULL)
			srv->methods[count++] = builtin_methods_table[b];
	srv->n_methods = count;
	return 0;
}

/* Said when even the response to an allocation failure cannot be built. */
static const char out_of_memory_line[] =
	"{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32603,\"message\":\"out of "
	"memory\"}}\n";

/*
 * The request's id, to echo. cJSON keeps numbers as doubles and prints them
 * with 15 significant digits, which would change an integer id above 10^15:
 * numbers are written out by hand, integers digit for digit.
 */
static cJSON *copy_id(const cJSON *id)
{
	char text[32];
	double d;

	if (id == NULL)
		return cJSON_CreateNull();
	if (!cJSON_IsNumber(id))
		return cJSON_Duplicate(id, true);
	d = id->valuedouble;
	if (d > -9.2e18 && d < 9.2e18 && d == (double)(long long)d)
		snprintf(text, sizeof(text), "%lld", (long long)d);
	else
		snprintf(text, sizeof(text), "%.17g", d);
	return cJSON_CreateRaw(text);
}

static cJSON *response_base(const cJSON *id)
{
	cJSON *response = cJSON_CreateObject();
	cJSON *id_copy;

	if (response == NULL || cJSON_AddStringToObject(response, "jsonrpc", "2.0") == NULL)
		goto fail;
	id_copy = copy_id(id);
	if (id_copy == NULL)
		goto fail;
	if (!cJSON_AddItemToObject(response, "id", id_copy)) {
		cJSON_Delete(id_copy);
		goto fail;
	}
	return response;
fail:
	cJSON_Delete(response);
	return NULL;
}

/* Encode a response line ("\n"-terminated, malloc'ed); NULL if out of memory. */
static char *encode_line(cJSON *response)
{
	char *text = cJSON_PrintUnformatted(response);
	size_t len;
	char *line;

	if (text == NULL)
		return NULL;
	len = strlen(text);
	line = malloc(len + 2);
	if (line != NULL) {
		memcpy(line, text, len);
		line[len] = '\n';
		line[len + 1] = '\0';
	}
	cJSON_free(text);
	return line;
}

/* The response line {"jsonrpc", "id", name: value}. Takes value; NULL
 * value or no memory: no line (NULL). */
static char *response_line(const cJSON *id, const char *name, cJSON *value)
{
	cJSON *response = value != NULL ? response_base(id) : NULL;
	char *line = NULL;

	if (response != NULL && cJSON_AddItemToObject(response, name, value)) {
		value = NULL;
		line = encode_line(response);
	}
	cJSON_Delete(value);
	cJSON_Delete(response);
	return line;
}

/* Takes ownership of error->data. */
static char *error_line(struct elb_rpc_server *srv, const cJSON *id, struct elb_rpc_error *error)
{
	cJSON *body = cJSON_CreateObject(), *data = error->data;
	int code = error->code != 0 ? error->code : ELB_RPC_INTERNAL_ERROR;

	error->data = NULL;
	srv->stats.errors++;
	if (error->field[0] != '\0') {
		if (data == NULL)
			data = cJSON_CreateObject();
		if (data == NULL || cJSON_AddStringToObject(data, "field", error->field) == NULL)
			goto fail;
	}
	if (body == NULL || cJSON_AddNumberToObject(body, "code", code) == NULL ||
	    cJSON_AddStringToObject(body, "message", error->message) == NULL ||
	    (data != NULL && !cJSON_AddItemToObject(body, "data", data)))
		goto fail;
	return response_line(id, "error", body);
fail:
	cJSON_Delete(data);
	cJSON_Delete(body);
	return NULL;
}

static char *simple_error_line(struct elb_rpc_server *srv, const cJSON *id, int code,
			       const char *field, const char *message)
{
	struct elb_rpc_error error = {0};

	elb_rpc_error_set(&error, code, field, "%s", message);
	return error_line(srv, id, &error);
}

static char *result_line(const cJSON *id, cJSON *result)
{
	return response_line(id, "result", result != NULL ? result : cJSON_CreateNull());
}

static bool blank(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
			return false;
	return true;
}

/*
 * Handle one request line (NUL-terminated at line[len]). Returns the
 * response line to send, NULL for none (a notification); *failed is set if
 * a response was due but could not be built.
 */
static char *handle_message(struct elb_rpc_server *srv, const char *line, size_t len,
			    bool *failed)
{
	const cJSON *id, *version, *method_name, *params_item;
	const struct served_method *method;
	struct elb_rpc_error error = {0};
	const char *end = NULL;
	cJSON *request = NULL, *params = NULL, *result = NULL;
	char *response = NULL;
	bool notification = false; /* until the request is known to be a valid one */
	size_t bad;
	int rc;

	/* JSON text is UTF-8, and cJSON copies string bytes as they come: an
	 * invalid line would be echoed (a method name, an id) into answers
	 * that are not UTF-8 either. */
	if (!elb_utf8_valid(line, len, &bad)) {
		char text[96];

		snprintf(text, sizeof(text), "Parse error: not valid UTF-8 (byte %zu of the line)",
			 bad + 1);
		response = simple_error_line(srv, NULL, ELB_RPC_PARSE_ERROR, NULL, text);
		goto out;
	}
	request = memchr(line, '\0', len) == NULL
			  ? cJSON_ParseWithLengthOpts(line, len, &end, false)
			  : NULL;
	if (request != NULL && !blank(end, len - (size_t)(end - line))) {
		cJSON_Delete(request);
		request = NULL;
	}
	if (request == NULL) {
		response = simple_error_line(srv, NULL, ELB_RPC_PARSE_ERROR, NULL,
					     "Parse error: the line is not one JSON value");
		goto out;
	}
	if (cJSON_IsArray(request)) {
		response = simple_error_line(srv, NULL, ELB_RPC_INVALID_REQUEST, NULL,
					     "Invalid Request: batch requests are not supported; "
					     "send one request per line");
		goto out;
	}
	if (!cJSON_IsObject(request)) {
		response = simple_error_line(srv, NULL, ELB_RPC_INVALID_REQUEST, NULL,
					     "Invalid Request: not a JSON object");
		goto out;
	}
	id = cJSON_GetObjectItemCaseSensitive(request, "id");
	if (id != NULL && !cJSON_IsString(id) && !cJSON_IsNumber(id) && !cJSON_IsNull(id)) {
		response = simple_error_line(srv, NULL, ELB_RPC_INVALID_REQUEST, "id",
					     "Invalid Request: id must be a string, number or "
					     "null");
		goto out;
	}
	version = cJSON_GetObjectItemCaseSensitive(request, "jsonrpc");
	if (!cJSON_IsString(version) || strcmp(version->valuestring, "2.0") != 0) {
		response = simple_error_line(srv, id, ELB_RPC_INVALID_REQUEST, "jsonrpc",
					     "Invalid Request: jsonrpc must be \"2.0\"");
		goto out;
	}
	method_name = cJSON_GetObjectItemCaseSensitive(request, "method");
	if (!cJSON_IsString(method_name)) {
		response = simple_error_line(srv, id, ELB_RPC_INVALID_REQUEST, "method",
					     "Invalid Request: method must be a string");
		goto out;
	}
	/* From here on the request is valid: a notification gets no answer. */
	notification = id == NULL;
	method = find_method(srv, method_name->valuestring);
	if (method == NULL) {
		elb_rpc_error_set(&error, ELB_RPC_METHOD_NOT_FOUND, NULL,
				  "Method not found: %.100s", method_name->valuestring);
		error.data = cJSON_CreateObject();
		if (error.data != NULL)
			cJSON_AddStringToObject(error.data, "method", method_name->valuestring);
		goto respond_error;
	}
	if (!method->read_only && srv->caller != NULL && srv->caller->access != ACCESS_WRITE) {
		srv->stats.denied++;
		elb_rpc_error_set(&error, ELB_RPC_PERMISSION_DENIED, NULL,
				  "permission denied: %s changes state and uid %u may only read",
				  method->name, srv->caller->uid);
		error.data = cJSON_CreateObject();
		if (error.data != NULL)
			cJSON_AddStringToObject(error.data, "method", method->name);
		goto respond_error;
	}
	params_item = cJSON_GetObjectItemCaseSensitive(request, "params");
	if (params_item != NULL && !cJSON_IsObject(params_item)) {
		elb_rpc_error_set(&error, ELB_RPC_INVALID_PARAMS, "params",
				  "Invalid params: params must be an object");
		goto respond_error;
	}
	if (params_item == NULL) {
		params = cJSON_CreateObject();
		if (params == NULL) {
			elb_rpc_error_set(&error, ELB_RPC_INTERNAL_ERROR, NULL, "out of memory");
			goto respond_error;
		}
		params_item = params;
	}
	/* Also without answers waiting: a change staged by a client that has
	 * gone since is still in the state a method would read. */
	if (!method->may_defer && srv->settle != NULL)
		srv->settle(srv->ctx);
	srv->deferring = 0;
	if (method->may_defer && srv->caller != NULL) {
		/* Copied before the handler runs: once it has deferred, the
		 * change is under way and its answer cannot fail any more. Also
		 * what lets elb_rpc_server_defer give a ticket. */
		srv->deferred_id = copy_id(id);
		if (srv->deferred_id == NULL) {
			elb_rpc_error_set(&error, ELB_RPC_INTERNAL_ERROR, NULL, "out of memory");
			goto respond_error;
		}
	}
	rc = method->handler(method->builtin ? (void *)srv : srv->ctx, params_item, &result,
			     &error);
	if (rc == ELB_RPC_DEFERRED && srv->deferring != 0) {
		/* Answered by elb_rpc_server_reply; client_answer holds the place. */
		cJSON_Delete(result);
		srv->deferred_notification = notification;
		goto out;
	}
	cJSON_Delete(srv->deferred_id);
	srv->deferred_id = NULL;
	if (rc == ELB_RPC_DEFERRED) { /* deferred without a ticket: a handler bug */
		rc = -EINVAL;
		elb_rpc_error_set(&error, ELB_RPC_INTERNAL_ERROR, NULL, "no answer");
	}
	srv->deferring = 0;
	if (rc < 0) {
		cJSON_Delete(result);
		goto respond_error;
	}
	if (notification) {
		cJSON_Delete(result);
		goto out;
	}
	response = result_line(id, result);
	goto out;

respond_error:
	if (notification) {
		cJSON_Delete(error.data);
		goto out;
	}
	response = error_line(srv, id, &error);
out:
	*failed = response == NULL && !notification && srv->deferring == 0;
	cJSON_Delete(params);
	cJSON_Delete(request);
	return response;
}

/* ------------------------------------------------------------------------ */
/* Clients */

static void client_kill(struct elb_rpc_server *srv, struct rpc_client *c)
{
	struct rpc_client *last;

	if (c->dead)
		return;
	c->dead = true;
	/* Closing the fd also removes it from the epoll set. */
	close(c->fd);
	c->fd = -1;
	last = srv->clients[--srv->n_clients];
	srv->clients[c->slot] = last;
	last->slot = c->slot;
	c->next_dead = srv->dead;
	srv->dead = c;
}

static void free_dead_clients(struct elb_rpc_server *srv)
{
	while (srv->dead != NULL) {
		struct rpc_client *c = srv->dead;

		srv->dead = c->next_dead;
		for (uint32_t i = c->held_head; i < c->n_held; i++) {
			cJSON_Delete(c->held[i].id);
			free(c->held[i].line);
		}
		free(c->held);
		free(c->in);
		free(c->out);
		free(c);
	}
}

static size_t output_pending(const struct rpc_client *c)
{
	return c->out_len - c->out_head;
}

static bool output_paused(const struct elb_rpc_server *srv, const struct rpc_client *c)
{
	return output_pending(c) >= srv->output_pause;
}

static void client_update_events(struct elb_rpc_server *srv, struct rpc_client *c)
{
	struct epoll_event ev = {.data.ptr = c};
	uint32_t want = 0;

	if (c->dead)
		return;
	if (!c->closing && !c->peer_eof && !output_paused(srv, c))
		want |= EPOLLIN;
	if (output_pending(c) > 0)
		want |= EPOLLOUT;
	if (want == c->events)
		return;
	ev.events = want;
	if (epoll_ctl(srv->epoll_fd, EPOLL_CTL_MOD, c->fd, &ev) < 0) {
		client_kill(srv, c);
		return;
	}
	c->events = want;
}

/* Queue a response line; a client that does not read its responses is
 * dropped once they exceed max_output. */
/* Grow *buf (*cap bytes) by doubling, from BUFFER_INITIAL, to at least
 * need bytes but not past limit. @return 0 or -ENOMEM (*buf as it was). */
static int grow_buffer(char **buf, size_t *cap, size_t need, size_t limit)
{
	size_t size = *cap > 0 ? *cap : BUFFER_INITIAL;
	char *bigger;

	while (size < need && size < limit)
		size *= 2;
	if (size > limit)
		size = limit;
	bigger = realloc(*buf, size);
	if (bigger == NULL)
		return -ENOMEM;
	*buf = bigger;
	*cap = size;
	return 0;
}

static void client_queue(struct elb_rpc_server *srv, struct rpc_client *c, const char *line,
			 size_t len)
{
	size_t pending = output_pending(c);

	if (c->peer_gone || c->dead)
		return;
	if (pending + len > srv->max_output) {
		srv->stats.dropped++;
		client_kill(srv, c);
		return;
	}
	if (pending == 0)
		c->output_ms = now_ms();
	if (c->out_head > 0) {
		memmove(c->out, c->out + c->out_head, pending);
		c->out_head = 0;
		c->out_len = pending;
	}
	if (c->out_len + len > c->out_cap &&
	    grow_buffer(&c->out, &c->out_cap, c->out_len + len, SIZE_MAX) < 0) {
		client_kill(srv, c);
		return;
	}
	memcpy(c->out + c->out_len, line, len);
	c->out_len += len;
}

/* Send what the socket takes now. */
static void client_flush(struct elb_rpc_server *srv, struct rpc_client *c)
{
	while (!c->dead && output_pending(c) > 0) {
		ssize_t n = send(c->fd, c->out + c->out_head, output_pending(c),
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n > 0) {
			c->out_head += (size_t)n;
			c->output_ms = now_ms();
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		/* EPIPE, ECONNRESET: nobody left to answer. */
		client_kill(srv, c);
		return;
	}
	if (c->dead)
		return;
	if (output_pending(c) == 0) {
		c->out_head = c->out_len = 0;
		if (c->out_cap > BUFFER_KEEP) {
			free(c->out);
			c->out = NULL;
			c->out_cap = 0;
		}
		if (c->closing && c->n_held == 0) {
			client_kill(srv, c);
			return;
		}
	}
	client_update_events(srv, c);
}

/* Room for one more held answer: the front's, given since, or more. */
static int grow_held(struct rpc_client *c)
{
	uint32_t cap = c->held_cap != 0 ? c->held_cap * 2 : 16;
	struct rpc_held *bigger;

	if (c->held_head > 0) {
		memmove(c->held, c->held + c->held_head,
			(c->n_held - c->held_head) * sizeof(*c->held));
		c->n_held -= c->held_head;
		c->held_head = 0;
		return 0;
	}
	bigger = realloc(c->held, cap * sizeof(*bigger));

	if (bigger == NULL)
		return -ENOMEM;
	c->held = bigger;
	c->held_cap = cap;
	return 0;
}

static void client_answer(struct elb_rpc_server *srv, struct rpc_client *c, char *line,
			  size_t len)
{
	bool failed;
	char *response;

	if (len > 0 && line[len - 1] == '\r')
		line[--len] = '\0';
	if (blank(line, len))
		return;
	srv->stats.requests++;
	srv->caller = c;
	response = handle_message(srv, line, len, &failed);
	srv->caller = NULL;
	if (failed)
		response = strdup(out_of_memory_line);
	if (srv->deferring != 0 || c->n_held > 0) {
		struct rpc_held h = {.ticket = srv->deferring, .id = srv->deferred_id,
				     .notification = srv->deferred_notification,
				     .ready = srv->deferring == 0, .line = response};

		srv->deferring = 0;
		srv->deferred_id = NULL;
		if (c->n_held - c->held_head == ELB_RPC_MAX_HELD ||
		    (c->n_held == c->held_cap && grow_held(c) < 0)) {
			cJSON_Delete(h.id);
			free(h.line);
			srv->stats.dropped++;
			client_kill(srv, c);
			return;
		}
		c->held[c->n_held++] = h;
		return;
	}
	if (response != NULL) {
		client_queue(srv, c, response, strlen(response));
		free(response);
	}
}

uint64_t elb_rpc_server_defer(struct elb_rpc_server *srv)
{
	if (srv == NULL || srv->deferred_id == NULL)
		return 0;
	if (srv->deferring == 0)
		srv->deferring = ++srv->next_ticket;
	return srv->deferring;
}

int elb_rpc_server_reply(struct elb_rpc_server *srv, uint64_t ticket, cJSON *result,
			 struct elb_rpc_error *error)
{
	struct rpc_held *h = NULL;
	struct rpc_client *c = NULL;
	uint32_t k = 0;

	/* A client's tickets grow in request order, and the oldest one not
	 * answered is at its front: the search stops past the ticket. */
	for (uint32_t i = 0; i < srv->n_clients && h == NULL; i++) {
		struct rpc_client *d = srv->clients[i];

		for (k = d->held_head; k < d->n_held && d->held[k].ticket <= ticket; k++)
			if (d->held[k].ticket == ticket && !d->held[k].ready) {
				c = d;
				h = &d->held[k];
				break;
			}
	}
	if (h == NULL) {
		cJSON_Delete(result);
		if (error != NULL)
			cJSON_Delete(error->data);
		return -ENOENT;
	}
	if (!h->notification)
		h->line = error != NULL ? error_line(srv, h->id, error) : result_line(h->id, result);
	else if (error != NULL)
		cJSON_Delete(error->data);
	else
		cJSON_Delete(result);
	if (h->line == NULL && !h->notification)
		h->line = strdup(out_of_memory_line);
	h->ready = true;
	/* Send what is ready from the front, up to the next deferred answer. */
	for (k = c->held_head; k < c->n_held && c->held[k].ready; k++) {
		if (c->held[k].line != NULL)
			client_queue(srv, c, c->held[k].line, strlen(c->held[k].line));
		free(c->held[k].line);
		cJSON_Delete(c->held[k].id);
		if (c->dead) {
			k++;
			break;
		}
	}
	c->held_head = k;
	if (k == c->n_held)
		c->held_head = c->n_held = 0;
	if (!c->dead && c != srv->caller)
		client_flush(srv, c);
	return 0;
}

char *elb_rpc_server_answer(struct elb_rpc_server *srv, const char *line, size_t len)
{
	char *copy = malloc(len + 1), *response;
	bool failed;

	if (copy == NULL)
		return NULL;
	memcpy(copy, line, len);
	copy[len] = '\0';
	srv->stats.requests++;
	response = handle_message(srv, copy, len, &failed);
	free(copy);
	return response;
}

uint64_t elb_rpc_server_caller(const struct elb_rpc_server *srv)
{
	return srv->caller != NULL ? srv->caller->id : 0;
}

bool elb_rpc_server_caller_may_write(const struct elb_rpc_server *srv)
{
	return srv->caller == NULL || srv->caller->access == ACCESS_WRITE;
}

int elb_rpc_server_notify(struct elb_rpc_server *srv, uint64_t client, const char *method,
			  cJSON *params)
{
	struct rpc_client *c = NULL;
	cJSON *message;
	char *line;

	for (uint32_t i = 0; i < srv->n_clients; i++)
		if (srv->clients[i]->id == client) {
			c = srv->clients[i];
			break;
		}
	if (c == NULL || c->dead || c->closing || c->peer_gone || c->peer_eof) {
		cJSON_Delete(params);
		return -ENOENT;
	}
	message = cJSON_CreateObject();
	if (message == NULL || cJSON_AddStringToObject(message, "jsonrpc", "2.0") == NULL ||
	    cJSON_AddStringToObject(message, "method", method) == NULL)
		goto nomem;
	if (params != NULL && !cJSON_AddItemToObject(message, "params", params))
		goto nomem;
	params = NULL; /* the message's now */
	line = encode_line(message);
	cJSON_Delete(message);
	if (line == NULL)
		return -ENOMEM;
	client_queue(srv, c, line, strlen(line));
	free(line);
	if (c->dead)
		return -ENOBUFS;
	client_flush(srv, c);
	return 0;
nomem:
	cJSON_Delete(params);
	cJSON_Delete(message);
	return -ENOMEM;
}

/* Give back the handled lines' room. */
static void client_compact_input(struct rpc_client *c)
{
	if (c->in_head == 0)
		return;
	memmove(c->in, c->in + c->in_head, c->in_len - c->in_head);
	c->in_len -= c->in_head;
	c->in_scan -= c->in_head;
	c->in_head = 0;
	if (c->in_len == 0 && c->in_cap > BUFFER_KEEP) {
		free(c->in);
		c->in = NULL;
		c->in_cap = 0;
		c->in_scan = 0;
	}
}

/* Answer the complete lines in the input buffer, while the client's unsent
 * output stays below the pause mark. Returns the number of lines handled. */
static int client_process(struct elb_rpc_server *srv, struct rpc_client *c)
{
	int handled = 0;

	if (c->in == NULL) { /* nothing received since the buffer was given back */
		if (c->peer_eof)
			c->closing = true;
		return 0;
	}
	while (!c->dead && !c->closing && (c->peer_gone || !output_paused(srv, c))) {
		size_t avail = c->in_len - c->in_head;
		char *start = c->in + c->in_head;
		char *newline = c->in_scan < c->in_len
					? memchr(c->in + c->in_scan, '\n', c->in_len - c->in_scan)
					: NULL;

		if (newline != NULL) {
			size_t len = (size_t)(newline - start);

			*newline = '\0';
			c->in_head = c->in_scan = (size_t)(newline + 1 - c->in);
			client_answer(srv, c, start, len);
			handled++;
			continue;
		}
		c->in_scan = c->in_len;
		if (avail > srv->max_message) {
			char *line = simple_error_line(srv, NULL, ELB_RPC_INVALID_REQUEST, NULL,
						       "Invalid Request: line longer than the "
						       "limit; closing the connection");

			srv->stats.oversized++;
			if (line != NULL) {
				client_queue(srv, c, line, strlen(line));
				free(line);
			}
			c->in_head = c->in_len; /* dropped unread */
			c->closing = true;
			break;
		}
		if (c->peer_eof) {
			/* The last request may lack its "\n". The buffer has room
			 * for the NUL: it holds at most max_message bytes here. */
			if (avail > 0) {
				start[avail] = '\0';
				c->in_head = c->in_scan = c->in_len;
				client_answer(srv, c, start, avail);
				handled++;
			}
			c->closing = true;
		}
		break;
	}
	if (!c->dead)
		client_compact_input(c);
	return handled;
}

/* One read of at most READ_CHUNK bytes. */
static void client_read(struct elb_rpc_server *srv, struct rpc_client *c)
{
	/* Room for a whole line of max_message bytes, its "\n" and a NUL. */
	size_t limit = srv->max_message + 2;
	size_t want;
	ssize_t n;

	if (c->in_cap - c->in_len < READ_MIN_ROOM && c->in_cap < limit &&
	    grow_buffer(&c->in, &c->in_cap, c->in_len + READ_MIN_ROOM, limit) < 0) {
		client_kill(srv, c);
		return;
	}
	/* Keep one byte for the NUL of a final line without "\n". */
	want = c->in_cap - 1 - c->in_len;
	if (want > READ_CHUNK)
		want = READ_CHUNK;
	if (want == 0)
		return;
	n = recv(c->fd, c->in + c->in_len, want, MSG_DONTWAIT);
	if (n > 0) {
		c->in_len += (size_t)n;
		c->input_ms = now_ms();
		return;
	}
	if (n == 0) {
		c->peer_eof = true;
		return;
	}
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		return;
	client_kill(srv, c);
}

static int client_event(struct elb_rpc_server *srv, struct rpc_client *c, uint32_t events)
{
	int handled = 0;

	if (events & EPOLLERR) {
		client_kill(srv, c);
		return 0;
	}
	if (events & EPOLLHUP) {
		/* Gone for good: answers cannot be delivered, but what it sent
		 * is still run (it may be notifications). Reading is bounded by
		 * what the socket held when the peer closed. */
		c->peer_gone = true;
		while (!c->dead && !c->peer_eof && !c->closing) {
			size_t before = c->in_len - c->in_head;

			client_read(srv, c);
			if (c->dead || (!c->peer_eof && c->in_len - c->in_head == before))
				break;
			handled += client_process(srv, c);
		}
		client_kill(srv, c);
		return handled;
	}
	if (events & EPOLLOUT)
		client_flush(srv, c);
	if (!c->dead && (events & EPOLLIN) && !c->closing && !c->peer_eof) {
		client_read(srv, c);
		if (!c->dead)
			handled = client_process(srv, c);
	} else if (!c->dead) {
		/* Output drained: answer the lines held back by the pause. */
		handled = client_process(srv, c);
	}
	if (!c->dead)
		client_flush(srv, c);
	return handled;
}

static const char busy_line[] =
	"{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32000,\"message\":\"server busy: "
	"too many clients\"}}\n";

static bool id_listed(const uint32_t *ids, uint32_t n, uint32_t id)
{
	for (uint32_t i = 0; i < n; i++)
		if (ids[i] == id)
			return true;
	return false;
}

static bool peer_in(const struct id_list *list, const struct ucred *cred, const gid_t *groups,
		    int n_groups)
{
	if (id_listed(list->uids, list->n_uids, cred->uid) ||
	    id_listed(list->gids, list->n_gids, cred->gid))
		return true;
	for (int i = 0; i < n_groups; i++)
		if (id_listed(list->gids, list->n_gids, groups[i]))
			return true;
	return false;
}

/* What the peer on fd may do, from its credentials at connect time. */
static enum client_access peer_access(const struct elb_rpc_server *srv, int fd, uint32_t *uid)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	gid_t groups[PEER_GROUPS_MAX];
	socklen_t groups_len = sizeof(groups);
	int n_groups = 0;

	*uid = UINT32_MAX;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || len != sizeof(cred))
		return ACCESS_NONE;
	*uid = cred.uid;
	/* A peer in more groups than fit is judged on those that fit. */
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &groups_len) == 0 ||
	    errno == ERANGE)
		n_groups = (int)(groups_len / sizeof(gid_t));
	if (n_groups > PEER_GROUPS_MAX)
		n_groups = PEER_GROUPS_MAX;
	if (peer_in(&srv->write_ids, &cred, groups, n_groups))
		return ACCESS_WRITE;
	if (peer_in(&srv->read_ids, &cred, groups, n_groups))
		return ACCESS_READ;
	return ACCESS_NONE;
}

/* Best effort, like busy_line: a fresh socket has room for one line. */
static void refuse(int fd, const char *line, size_t len)
{
	ssize_t sent = send(fd, line, len, MSG_NOSIGNAL | MSG_DONTWAIT);

	(void)sent;
	close(fd);
}

static void accept_clients(struct elb_rpc_server *srv)
{
	for (int i = 0; i < ACCEPTS_PER_ROUND; i++) {
		struct epoll_event ev = {.events = EPOLLIN};
		enum client_access access;
		struct rpc_client *c;
		uint32_t uid;
		int fd = accept4(srv->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				/* The listener stays readable: stop watching it for a
				 * while instead of spinning on it. */
				struct epoll_event off = {.data.ptr = &srv->listen_marker};

				epoll_ctl(srv->epoll_fd, EPOLL_CTL_MOD, srv->listen_fd, &off);
				srv->accept_resume_ms = now_ms() + ACCEPT_RETRY_MS;
			}
			return;
		}
		if (srv->n_clients >= srv->max_clients) {
			refuse(fd, busy_line, sizeof(busy_line) - 1);
			srv->stats.refused++;
			continue;
		}
		access = peer_access(srv, fd, &uid);
		if (access == ACCESS_NONE) {
			char line[160];
			int len = snprintf(line, sizeof(line),
					   "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":%d,"
					   "\"message\":\"permission denied: uid %u may not use this "
					   "socket\"}}\n",
					   ELB_RPC_PERMISSION_DENIED, uid);

			refuse(fd, line, (size_t)len);
			srv->stats.denied++;
			continue;
		}
		c = calloc(1, sizeof(*c));
		if (c == NULL) {
			close(fd);
			continue;
		}
		c->fd = fd;
		c->id = ++srv->next_client_id;
		c->uid = uid;
		c->access = (uint8_t)access;
		c->events = EPOLLIN;
		c->input_ms = c->output_ms = now_ms();
		ev.data.ptr = c;
		if (epoll_ctl(srv->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			close(fd);
			free(c);
			continue;
		}
		c->slot = srv->n_clients;
		srv->clients[srv->n_clients++] = c;
		srv->stats.accepted++;
	}
}

/* Drop clients whose pending I/O has not moved for the stall timeout, and
 * resume accepting after a shortage of fds. */
static void sweep(struct elb_rpc_server *srv, uint64_t now)
{
	uint32_t i = 0;

	srv->last_sweep_ms = now;
	if (srv->accept_resume_ms != 0 && now >= srv->accept_resume_ms) {
		struct epoll_event on = {.events = EPOLLIN, .data.ptr = &srv->listen_marker};

		if (epoll_ctl(srv->epoll_fd, EPOLL_CTL_MOD, srv->listen_fd, &on) == 0)
			srv->accept_resume_ms = 0;
	}
	while (i < srv->n_clients) {
		struct rpc_client *c = srv->clients[i];
		bool stalled;

		if (output_pending(c) > 0)
			stalled = now - c->output_ms >= srv->stall_timeout_ms;
		else
			stalled = c->in_len > 0 && now - c->input_ms >= srv->stall_timeout_ms;
		if (!stalled) {
			i++;
			continue;
		}
		srv->stats.dropped++;
		client_kill(srv, c); /* moves the last client into slot i */
	}
}

/* Is there a client whose time limit needs the sweep to run? */
static bool timers_pending(const struct elb_rpc_server *srv)
{
	if (srv->accept_resume_ms != 0)
		return true;
	for (uint32_t i = 0; i < srv->n_clients; i++)
		if (output_pending(srv->clients[i]) > 0 || srv->clients[i]->in_len > 0)
			return true;
	return false;
}

int elb_rpc_server_poll(struct elb_rpc_server *srv, int timeout_ms)
{
	struct epoll_event events[EVENTS_PER_ROUND];
	int n, handled = 0;
	uint64_t now;

	if (srv == NULL)
		return -EINVAL;
	if ((timeout_ms < 0 || (unsigned int)timeout_ms > srv->sweep_interval_ms) &&
	    timers_pending(srv))
		timeout_ms = (int)srv->sweep_interval_ms;
	n = epoll_wait(srv->epoll_fd, events, EVENTS_PER_ROUND, timeout_ms);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (int i = 0; i < n; i++) {
		struct rpc_client *c = events[i].data.ptr;

		if (events[i].data.ptr == &srv->listen_marker) {
			accept_clients(srv);
			continue;
		}
		if (c->dead)
			continue;
		handled += client_event(srv, c, events[i].events);
	}
	now = now_ms();
	if (now - srv->last_sweep_ms >= srv->sweep_interval_ms)
		sweep(srv, now);
	free_dead_clients(srv);
	return handled;
}

/* ------------------------------------------------------------------------ */
/* Socket and lifetime */

/* Remove a socket file left by a server that is gone; keep a live one and
 * anything that is not a socket. */
static int clear_stale_socket(const char *path, const struct sockaddr_un *addr)
{
	struct stat st;
	int fd, rc;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	rc = connect(fd, (const struct sockaddr *)addr, sizeof(*addr));
	/* EAGAIN: alive with a full backlog. */
	if (rc == 0 || errno == EAGAIN || errno == EINPROGRESS) {
		close(fd);
		return -EADDRINUSE;
	}
	rc = errno;
	close(fd);
	if (rc != ECONNREFUSED)
		return -rc;
	if (unlink(path) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

static int open_listener(struct elb_rpc_server *srv, const struct elb_rpc_server_config *config)
{
	const char *path = config->path;
	mode_t mode = config->mode ? config->mode : ELB_RPC_SOCKET_MODE;
	uid_t owner = config->set_owner ? config->owner : (uid_t)-1;
	gid_t group = config->set_group ? config->group : (gid_t)-1;
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	struct stat st;
	int fd, rc;

	if (strlen(path) >= sizeof(addr.sun_path))
		return -ENAMETOOLONG;
	memcpy(addr.sun_path, path, strlen(path) + 1);
	rc = clear_stale_socket(path, &addr);
	if (rc < 0)
		return rc;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* Linux creates the socket file with the socket inode's mode minus the
	 * umask: set it first, so that the file is never more open than
	 * `mode`, then set it exactly once the file exists. */
	if (fchmod(fd, mode) < 0 ||
	    bind(fd, (const struct sockaddr *)&addr, sizeof(addr)) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	if ((owner != (uid_t)-1 || group != (gid_t)-1) && chown(path, owner, group) < 0) {
		rc = -errno;
		close(fd);
		unlink(path);
		return rc;
	}
	if (chmod(path, mode) < 0 || listen(fd, SOMAXCONN) < 0 || stat(path, &st) < 0) {
		rc = -errno;
		close(fd);
		unlink(path);
		return rc;
	}
	srv->listen_fd = fd;
	srv->sock_dev = st.st_dev;
	srv->sock_ino = st.st_ino;
	return 0;
}

static int copy_ids(struct id_list *to, const struct elb_rpc_id_list *from)
{
	if (from->n_uids > ELB_RPC_MAX_ACCESS_IDS || from->n_gids > ELB_RPC_MAX_ACCESS_IDS ||
	    (from->n_uids > 0 && from->uids == NULL) || (from->n_gids > 0 && from->gids == NULL))
		return -EINVAL;
	for (uint32_t i = 0; i < from->n_uids; i++)
		to->uids[to->n_uids++] = from->uids[i];
	for (uint32_t i = 0; i < from->n_gids; i++)
		to->gids[to->n_gids++] = from->gids[i];
	return 0;
}

static int copy_access(struct elb_rpc_server *srv, const struct elb_rpc_access *access)
{
	int rc = 0;

	srv->write_ids.uids[srv->write_ids.n_uids++] = 0;
	srv->write_ids.uids[srv->write_ids.n_uids++] = (uint32_t)geteuid();
	if (access != NULL) {
		rc = copy_ids(&srv->write_ids, &access->write);
		if (rc == 0)
			rc = copy_ids(&srv->read_ids, &access->read);
	}
	return rc;
}

int elb_rpc_server_open(struct elb_rpc_server **out, const struct elb_rpc_server_config *config)
{
	struct elb_rpc_server *srv;
	struct epoll_event ev = {.events = EPOLLIN};
	int rc;

	if (out == NULL || config == NULL || config->path == NULL ||
	    (config->n_methods > 0 && config->methods == NULL))
		return -EINVAL;
	srv = calloc(1, sizeof(*srv));
	if (srv == NULL)
		return -ENOMEM;
	srv->epoll_fd = srv->listen_fd = -1;
	srv->ctx = config->ctx;
	srv->ping = config->ping;
	srv->status = config->status;
	srv->settle = config->settle;
	srv->max_clients = config->max_clients ? config->max_clients : ELB_RPC_MAX_CLIENTS;
	srv->max_message = config->max_message ? config->max_message : ELB_RPC_MAX_MESSAGE;
	srv->max_output = config->max_output ? config->max_output : ELB_RPC_MAX_OUTPUT;
	srv->output_pause = srv->max_output < ELB_RPC_OUTPUT_PAUSE ? srv->max_output / 2
								     : ELB_RPC_OUTPUT_PAUSE;
	srv->stall_timeout_ms = config->stall_timeout_ms ? config->stall_timeout_ms
							 : ELB_RPC_STALL_TIMEOUT_MS;
	/* Enforce the timeout to within a tenth of it, between 10 ms and 1 s. */
	srv->sweep_interval_ms = srv->stall_timeout_ms / 10;
	if (srv->sweep_interval_ms < 10)
		srv->sweep_interval_ms = 10;
	if (srv->sweep_interval_ms > 1000)
		srv->sweep_interval_ms = 1000;
	srv->last_sweep_ms = now_ms();
	srv->path = strdup(config->path);
	srv->clients = calloc(srv->max_clients, sizeof(*srv->clients));
	if (srv->path == NULL || srv->clients == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	rc = build_method_table(srv, config);
	if (rc < 0)
		goto fail;
	srv->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (srv->epoll_fd < 0) {
		rc = -errno;
		goto fail;
	}
	rc = copy_access(srv, config->access);
	if (rc < 0)
		goto fail;
	rc = open_listener(srv, config);
	if (rc < 0)
		goto fail;
	ev.data.ptr = &srv->listen_marker;
	if (epoll_ctl(srv->epoll_fd, EPOLL_CTL_ADD, srv->listen_fd, &ev) < 0) {
		rc = -errno;
		goto fail;
	}
	*out = srv;
	return 0;
fail:
	elb_rpc_server_close(srv);
	return rc;
}

int elb_rpc_server_fd(const struct elb_rpc_server *srv)
{
	return srv->epoll_fd;
}

void elb_rpc_server_stats(const struct elb_rpc_server *srv, struct elb_rpc_stats *out)
{
	*out = srv->stats;
	out->clients = srv->n_clients;
}

void elb_rpc_server_close(struct elb_rpc_server *srv)
{
	struct stat st;

	if (srv == NULL)
		return;
	while (srv->n_clients > 0)
		client_kill(srv, srv->clients[0]);
	free_dead_clients(srv);
	if (srv->listen_fd >= 0) {
		close(srv->listen_fd);
		/* Another server may have taken the path since: leave its file. */
		if (stat(srv->path, &st) == 0 && st.st_dev == srv->sock_dev &&
		    st.st_ino == srv->sock_ino)
			unlink(srv->path);
	}
	if (srv->epoll_fd >= 0)
		close(srv->epoll_fd);
	free(srv->clients);
	free(srv->methods);
	free(srv->path);
	free(srv);
}
