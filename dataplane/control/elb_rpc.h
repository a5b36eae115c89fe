/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * JSON-RPC 2.0 server on a Unix stream socket, one message per line.
 *
 * Made for the control thread (the DPDK main lcore, or the XDP loader's main
 * loop): single-threaded, non-blocking, driven by epoll. Each call to
 * elb_rpc_server_poll() handles what is ready and returns, so the caller's
 * loop keeps doing its other work; handlers run inside that call, on that
 * thread, one at a time.
 *
 * Framing: a request is one line (ending in "\n"; a "\r" before it is
 * dropped, empty lines are skipped) of at most max_message bytes, the
 * response is one line. A client may pipeline requests: responses come in
 * request order. A final request without "\n" is still answered when the
 * client shuts down its sending side.
 *
 * Per JSON-RPC 2.0: -32700 for a line that is not JSON, -32600 for one that
 * is not a request object (and for a batch: arrays are refused, see
 * docs/dataplane-protocol.md), -32601 for an unknown method (the message and
 * data.method name it), -32602 for invalid params (data.field names the
 * member), -32603 for internal errors. A notification (no "id") is run but
 * never answered, not even with an error.
 *
 * Fairness and resource limits, per client:
 *  - a line longer than max_message gets a -32600 error, then the
 *    connection is closed;
 *  - reading pauses while ELB_RPC_OUTPUT_PAUSE bytes of its responses are
 *    unsent, so a client that pipelines without reading cannot make the
 *    server buffer without bound; a client that would have more than
 *    max_output bytes unsent is disconnected;
 *  - a client whose unsent responses make no progress, or who leaves half a
 *    line unfinished, for stall_timeout_ms is disconnected;
 *  - beyond max_clients, a new connection gets one -32000 error line and is
 *    closed.
 * No client can block another: every socket is non-blocking, and each
 * readiness event reads at most one buffer's worth.
 *
 * Access, from the peer's credentials (SO_PEERCRED and SO_PEERGROUPS, taken
 * when it connects): a peer allowed to change state may call every method,
 * a read-only peer only the methods marked read_only (anything else gets
 * ELB_RPC_PERMISSION_DENIED naming the method), and any other peer gets one
 * ELB_RPC_PERMISSION_DENIED line and is disconnected. The file mode is a
 * first gate; the credentials are the one that cannot be widened by a chmod.
 *
 * Notifications: a handler may note its caller (elb_rpc_server_caller) and
 * the application may later send that client notification lines
 * (elb_rpc_server_notify) until it disconnects, e.g. for subscriptions. They
 * share the client's output buffer and its limits, so a subscriber that
 * stops reading is dropped and never holds the server up.
 */
#ifndef ELB_RPC_H
#define ELB_RPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <cjson/cJSON.h>

/* Bytes in one request line, "\n" excluded. Large enough for config.set of
 * the largest valid config (65536 backends, about 6 MB of JSON): whatever
 * config.get returns can be sent back in one request. */
#define ELB_RPC_MAX_MESSAGE (8u << 20)
#define ELB_RPC_MAX_CLIENTS 1024u           /* connections open at once */
#define ELB_RPC_OUTPUT_PAUSE (1u << 20)     /* unsent bytes above which a client is not read */
#define ELB_RPC_MAX_OUTPUT (16u << 20)      /* unsent bytes above which a client is dropped */
#define ELB_RPC_STALL_TIMEOUT_MS 10000u     /* no progress on pending I/O: disconnect */
#define ELB_RPC_SOCKET_MODE 0660            /* owner and group may connect */

/* JSON-RPC 2.0 error codes. */
#define ELB_RPC_PARSE_ERROR (-32700)
#define ELB_RPC_INVALID_REQUEST (-32600)
#define ELB_RPC_METHOD_NOT_FOUND (-32601)
#define ELB_RPC_INVALID_PARAMS (-32602)
#define ELB_RPC_INTERNAL_ERROR (-32603)
/* Implementation-defined server errors, -32000 .. -32099. */
#define ELB_RPC_SERVER_BUSY (-32000) /* too many clients; sent before closing */
#define ELB_RPC_PERMISSION_DENIED (-32020) /* the peer's credentials do not allow it */

#define ELB_RPC_ERROR_MESSAGE_MAX 512
#define ELB_RPC_ERROR_FIELD_MAX 128

/* What a handler fills when it fails. */
struct elb_rpc_error {
	int code;                                /* ELB_RPC_*; 0 becomes ELB_RPC_INTERNAL_ERROR */
	char message[ELB_RPC_ERROR_MESSAGE_MAX]; /* "error"."message" */
	char field[ELB_RPC_ERROR_FIELD_MAX];     /* if set: "data": {"field": ...} */
	cJSON *data; /* optional object of more "data" members; the server frees it */
};

/* Fill an error; field may be NULL or "". */
void elb_rpc_error_set(struct elb_rpc_error *error, int code, const char *field, const char *fmt,
		       ...) __attribute__((format(printf, 4, 5)));

/*
 * A method. params is the request's "params" object (an empty object when
 * absent; an array is refused with -32602 before the handler runs).
 * @return 0 with *result set to a new cJSON value the server sends and frees
 *         (NULL sends null), or a negative value with *error filled.
 */
typedef int (*elb_rpc_handler_fn)(void *ctx, const cJSON *params, cJSON **result,
				  struct elb_rpc_error *error);

struct elb_rpc_method {
	const char *name;
	elb_rpc_handler_fn handler;
	bool read_only; /* changes nothing: read-only peers may call it */
};

/*
 * A deprecated name kept for a release: served by the handler of the
 * method that replaces it (same read_only, so it answers exactly as the
 * new name), listed by rpc.methods as deprecated with its replacement.
 * Names follow "Method names" in docs/dataplane-protocol.md (noun.verb).
 */
struct elb_rpc_alias {
	const char *name;
	const char *replaced_by; /* a method of the table (not a built-in, not an alias) */
};

/*
 * Built-in methods, served by every server unless its table has an entry
 * of the same name (that entry wins: a daemon may keep its own):
 *   ping        {"pong": true, <the ping callback's members>, "version": ELB_VERSION}
 *   status.get  {<the status callback's members>, "control": {<server counters>}}
 *               (the server's counters join a "control" object the callback made)
 *   rpc.methods {"methods": [{"name", "read_only"[, "deprecated": true,
 *               "replaced_by"]}...]}: every method served, table order,
 *               then the built-ins.
 * All three are read-only and take no params.
 */
#define ELB_RPC_BUILTIN_PING "ping"
#define ELB_RPC_BUILTIN_STATUS "status.get"
#define ELB_RPC_BUILTIN_METHODS "rpc.methods"

/* A daemon's part of ping or status.get: add members to result (an
 * object). @return 0 or -errno (the call then fails with -32603). */
typedef int (*elb_rpc_describe_fn)(void *ctx, cJSON *result);

/*
 * Who may connect. A peer whose uid, gid or one of its groups is listed in
 * `write` may call everything; else one listed in `read` may call the
 * read_only methods; else it is refused. Root and the server's own
 * effective uid are always in `write`. Lists are copied at open.
 */
struct elb_rpc_id_list {
	const uint32_t *uids;
	uint32_t n_uids;
	const uint32_t *gids;
	uint32_t n_gids;
};

struct elb_rpc_access {
	struct elb_rpc_id_list write;
	struct elb_rpc_id_list read;
};

#define ELB_RPC_MAX_ACCESS_IDS 64u /* per list */

/* Server settings; zero fields take the ELB_RPC_* defaults above. */
struct elb_rpc_server_config {
	const char *path;                     /* socket path (below 108 bytes) */
	const struct elb_rpc_method *methods; /* looked up by exact name; no name twice */
	size_t n_methods;
	const struct elb_rpc_alias *aliases;  /* deprecated names, after the methods */
	size_t n_aliases;
	void *ctx;                 /* passed to every handler and callback */
	elb_rpc_describe_fn ping;   /* NULL: ping says pong and version only */
	elb_rpc_describe_fn status; /* NULL: status.get has the server's counters only */
	/* Called before every method not named in defer_methods (reads among
	 * them), so that it runs on the state the deferred answers will be
	 * given in: it must be cheap when nothing waits (NULL: none). */
	void (*settle)(void *ctx);
	/* NULL-terminated: the methods that may answer later
	 * (elb_rpc_server_defer), their aliases with them. NULL: none. */
	const char *const *defer_methods;
	mode_t mode;               /* socket file mode; 0: ELB_RPC_SOCKET_MODE */
	bool set_owner;            /* give the socket file to owner (else: ours) */
	uid_t owner;
	bool set_group;            /* give the socket file to group (else: ours) */
	gid_t group;
	const struct elb_rpc_access *access; /* NULL: root and our own uid only */
	unsigned int max_clients;
	size_t max_message;
	size_t max_output;
	unsigned int stall_timeout_ms;
};

struct elb_rpc_stats {
	uint64_t accepted;  /* connections taken */
	uint64_t refused;   /* connections beyond max_clients */
	uint64_t requests;  /* non-empty lines handled, notifications included */
	uint64_t errors;    /* error responses sent */
	uint64_t oversized; /* connections closed for a too long line */
	uint64_t dropped;   /* connections closed for a stall or unread output */
	uint64_t denied;    /* connections refused and calls refused for credentials */
	uint32_t clients;   /* open now */
};

struct elb_rpc_server;

/*
 * Create the socket and start listening. A stale socket file at path (no
 * server answers on it) is replaced; a live one gives -EADDRINUSE, and a
 * file that is not a socket -EEXIST (never deleted). The socket file gets
 * exactly `mode`.
 * @return 0, or -errno (-ENAMETOOLONG for a path sockaddr_un cannot hold;
 *         -EINVAL for a name given twice, a method without handler, or
 *         an alias whose replacement is not in the method table).
 */
int elb_rpc_server_open(struct elb_rpc_server **out, const struct elb_rpc_server_config *config);

/*
 * Wait up to timeout_ms (0: do not wait, -1: until something happens) for
 * activity, handle what is ready, and return. Clients with pending time
 * limits shorten the wait so that the limits are enforced.
 * @return requests handled (>= 0), or -errno if epoll failed.
 */
int elb_rpc_server_poll(struct elb_rpc_server *srv, int timeout_ms);

/* An fd that becomes readable when elb_rpc_server_poll has work: to nest
 * the server in another event loop. */
int elb_rpc_server_fd(const struct elb_rpc_server *srv);

/*
 * The response line to one request line (len bytes, no newline), exactly as
 * a client would get it, without a socket: for fuzzing and tests. Returns a
 * malloc'ed line ending in "\n", or NULL for a notification.
 */
char *elb_rpc_server_answer(struct elb_rpc_server *srv, const char *line, size_t len);

void elb_rpc_server_stats(const struct elb_rpc_server *srv, struct elb_rpc_stats *out);

/*
 * The client whose request is being handled: a handler's caller, or 0
 * outside a handler (and under elb_rpc_server_answer). Ids are never
 * reused by the server's lifetime.
 */
uint64_t elb_rpc_server_caller(const struct elb_rpc_server *srv);

/* Whether the request being handled comes from a peer that may change
 * state (or from inside the process: elb_rpc_server_answer). A read-only
 * method shows secrets to such peers only. */
bool elb_rpc_server_caller_may_write(const struct elb_rpc_server *srv);

/*
 * Answers given later (group commit: a change is answered once a write
 * that carries it, and the changes queued behind it, is durable). A
 * handler of a method in defer_methods calls elb_rpc_server_defer and
 * returns ELB_RPC_DEFERRED; the server goes on reading and running the
 * client's next requests, and holds every later answer of that client
 * until the deferred one is given by elb_rpc_server_reply, so that answers
 * stay in request order.
 * ELB_RPC_MAX_HELD answers held for one client: it is disconnected.
 */
#define ELB_RPC_DEFERRED 1
#define ELB_RPC_MAX_HELD 65536u

/*
 * Inside a handler of a method in defer_methods: the ticket of the request
 * being handled, for elb_rpc_server_reply. 0 elsewhere, and under
 * elb_rpc_server_answer (no client to hold answers for): the handler
 * answers now.
 */
uint64_t elb_rpc_server_defer(struct elb_rpc_server *srv);

/*
 * Give a deferred answer: result (taken; NULL sends null), or the error
 * when error is not NULL (its data taken). Sent with the answers held
 * behind it, up to the next deferred one. Called outside handlers, or
 * from a handler for the tickets of earlier requests.
 * @return 0, or -ENOENT if the client is gone (or the ticket unknown).
 */
int elb_rpc_server_reply(struct elb_rpc_server *srv, uint64_t ticket, cJSON *result,
			 struct elb_rpc_error *error);

/*
 * Send client a notification line {"jsonrpc":"2.0","method":method,
 * "params":params}; takes params (NULL: none). Called outside handlers, so
 * that a request's response always comes before the notifications it
 * starts.
 * @return 0 (queued; sent as the socket takes it), -ENOENT if the client is
 *         gone or closing, -ENOBUFS if it was dropped for unread output,
 *         -ENOMEM.
 */
int elb_rpc_server_notify(struct elb_rpc_server *srv, uint64_t client, const char *method,
			  cJSON *params);

/* Close every connection and the socket, and remove the socket file if it
 * is still ours. NULL is ignored. */
void elb_rpc_server_close(struct elb_rpc_server *srv);

#endif /* ELB_RPC_H */
