/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * JSON-RPC 2.0 client on a Unix stream socket, one message per line: the
 * other side of elb_rpc.h.
 *
 * Two ways to use it:
 *  - a connection object (struct elb_rpc_conn) that an event loop drives:
 *    non-blocking, requests queued with ids and flushed as the socket takes
 *    them, replies matched to their request by id (in any order) and handed
 *    to a callback. It never blocks and never registers itself anywhere:
 *    the caller polls elb_rpc_conn_fd() for input, and for output while
 *    elb_rpc_conn_want_write() says so. edgelb-cp's dataplane clients are
 *    built on it.
 *  - blocking calls on top of it, for command-line tools and tests:
 *    elb_rpc_call() connects, sends one request, waits for its reply with a
 *    time limit and closes; elb_rpc_conn_connect(), elb_rpc_conn_call() and
 *    elb_rpc_conn_wait() keep a connection for a stream of notifications
 *    (a subscription) with requests on it.
 *
 * Framing: a request is one line of unformatted JSON and "\n"; a reply is
 * one line. What the server sends is, by its "id":
 *  - the id of a pending request: that request's reply;
 *  - null, with an error: a refusal of a request the server could not name
 *    (not JSON, not a request, a line too long) or of the connection (the
 *    peer's credentials, too many clients), after which it usually closes.
 *    The server answers in request order, so it is the reply to the oldest
 *    pending request;
 *  - no id at all, with a method: a notification, handed to the
 *    connection's notification callback (elb_rpc_conn_on_notification).
 * Anything else (a line that is not JSON, an id that is not pending, a
 * notification nobody takes) is skipped and counted: a confused server
 * cannot make the client match a reply to the wrong request. An unfinished
 * line longer than max_input bytes ends the connection (-EMSGSIZE), so a
 * server that never sends "\n" cannot make the client buffer without
 * bound.
 */
#ifndef ELB_RPC_CLIENT_H
#define ELB_RPC_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "elb_rpc.h"

#define ELB_RPC_CLIENT_MAX_INPUT (64u << 20)   /* default cap of one reply line */
#define ELB_RPC_CLIENT_MAX_PENDING 64u         /* default requests awaiting their reply */

/*
 * Why a call failed. code is the server's JSON-RPC error code when it
 * answered with an error, else 0 (a local failure: message says what, the
 * return value is -errno). data is the error's "data" member when it had
 * one (owned here: elb_rpc_client_error_clear frees it).
 */
struct elb_rpc_client_error {
	int code;
	char message[ELB_RPC_ERROR_MESSAGE_MAX];
	cJSON *data;
};

void elb_rpc_client_error_clear(struct elb_rpc_client_error *err);

/* What the caller attached to a request, given back with its reply. */
struct elb_rpc_tag {
	int kind;
	uint64_t value;
};

/*
 * One reply, as the callback sees it: the request's id and tag, and either
 * result (ok true; may be a JSON null) or error. The callback may take
 * result or error.data by setting the member to NULL; whatever is left is
 * freed when it returns.
 */
struct elb_rpc_reply {
	uint64_t id;
	struct elb_rpc_tag tag;
	bool id_null; /* a refusal with "id": null, given to the oldest pending request */
	bool ok;
	cJSON *result;
	struct elb_rpc_client_error error;
};

/* Called once per matched reply, from elb_rpc_conn_read. It must not close
 * the connection (the caller does that after elb_rpc_conn_read returns). */
typedef void (*elb_rpc_reply_fn)(void *ctx, struct elb_rpc_reply *reply);

/*
 * One notification ({"jsonrpc":"2.0","method":...,"params":...}, no id):
 * params is NULL when it had none. The callback may take params by setting
 * it to NULL; whatever is left is freed when it returns.
 */
struct elb_rpc_notification {
	const char *method;
	cJSON *params;
};

/* Called once per notification, from elb_rpc_conn_read, in the order of
 * the lines (a reply and the notifications around it keep their order). It
 * must not close the connection. */
typedef void (*elb_rpc_notification_fn)(void *ctx, struct elb_rpc_notification *note);

struct elb_rpc_conn_stats {
	uint64_t sent;          /* requests queued */
	uint64_t replies;       /* replies matched to a request, refusals (id null) included */
	uint64_t refusals;      /* of which had "id": null */
	uint64_t notifications; /* handed to the notification callback */
	uint64_t skipped;       /* lines that were not JSON, nor a reply to a pending request,
				 * nor a notification taken */
};

struct elb_rpc_conn;

/* Limits of a connection; zero fields take the ELB_RPC_CLIENT_* defaults. */
struct elb_rpc_conn_limits {
	size_t max_input;
	uint32_t max_pending;
};

/*
 * Connect to the server at path, non-blocking. A Unix socket connects at
 * once or fails: -ENOENT / -ECONNREFUSED (no server), -EAGAIN (its backlog
 * is full: try again later), -ENAMETOOLONG, -ENOMEM.
 */
int elb_rpc_conn_open(struct elb_rpc_conn **out, const char *path,
		      const struct elb_rpc_conn_limits *limits);
/* The same on a connected stream socket the caller made (a socketpair in a
 * test); the connection owns fd from here on, also on failure. */
int elb_rpc_conn_adopt(struct elb_rpc_conn **out, int fd, const struct elb_rpc_conn_limits *limits);
/* Close the socket and forget every pending request. NULL is ignored. */
void elb_rpc_conn_close(struct elb_rpc_conn *conn);

/*
 * Blocking open for the tools: elb_rpc_conn_open, tried again every 10 ms
 * while the server's backlog is full (-EAGAIN), at most timeout_ms (-1: no
 * limit). @return as elb_rpc_conn_open.
 */
int elb_rpc_conn_connect(struct elb_rpc_conn **out, const char *path, int timeout_ms);

/* Hand the connection's notifications to fn with ctx (NULL: skip and count
 * them, as at the start). */
void elb_rpc_conn_on_notification(struct elb_rpc_conn *conn, elb_rpc_notification_fn fn,
				  void *ctx);

int elb_rpc_conn_fd(const struct elb_rpc_conn *conn);
/* Queued output the socket has not taken yet: poll for writability. */
bool elb_rpc_conn_want_write(const struct elb_rpc_conn *conn);
/* Requests sent and not answered yet. */
uint32_t elb_rpc_conn_pending(const struct elb_rpc_conn *conn);
void elb_rpc_conn_stats(const struct elb_rpc_conn *conn, struct elb_rpc_conn_stats *out);

/*
 * Queue {"jsonrpc":"2.0","id":N,"method":method,"params":params} (params
 * taken, also on failure; NULL: none) and send what the socket takes now.
 * Ids start at 1 and grow by one per request of the connection.
 * @return 0 (*id set if id is not NULL), -ENOBUFS with max_pending requests
 *         awaiting replies (nothing queued), -ENOMEM, or the -errno of a send
 *         that failed (the connection is then unusable).
 */
int elb_rpc_conn_send(struct elb_rpc_conn *conn, const char *method, cJSON *params,
		      struct elb_rpc_tag tag, uint64_t *id);
/* Send queued output. @return 0 (done or the socket is full) or -errno. */
int elb_rpc_conn_flush(struct elb_rpc_conn *conn);

/*
 * Read what the socket has (without blocking) and hand each complete reply
 * to on_reply (NULL: replies are matched and dropped), each notification to
 * the notification callback.
 * @return 0 (read all there was), -EPIPE (the server closed the connection;
 *         replies that came before it were handed over), -EMSGSIZE (a line
 *         beyond max_input), -ENOMEM or the -errno of recv. Any negative
 *         value leaves the connection unusable: close it.
 */
int elb_rpc_conn_read(struct elb_rpc_conn *conn, elb_rpc_reply_fn on_reply, void *ctx);

/*
 * Blocking: send one request on conn and wait for its reply, at most
 * timeout_ms (-1: no limit). Replies to the connection's other pending
 * requests are skipped; notifications that come first go to the
 * notification callback. Takes params. A server that refused the
 * connection may have closed it before the request could be sent: its
 * refusal is read all the same and returned as the reply.
 * @return 0 with *result set (the caller frees it; a JSON null is a cJSON
 *         null, never NULL), -EREMOTEIO when the server answered with an
 *         error, also a refusal with "id": null (err->code, message, data),
 *         -ETIMEDOUT, -EPIPE (closed before the whole reply), -EMSGSIZE, or
 *         another -errno; on every failure err->message says what happened.
 */
int elb_rpc_conn_call(struct elb_rpc_conn *conn, const char *method, cJSON *params,
		      int timeout_ms, cJSON **result, struct elb_rpc_client_error *err);

/*
 * Blocking: wait at most timeout_ms (-1: no limit) for the server to send
 * something and read it as elb_rpc_conn_read does (replies to on_reply,
 * notifications to the notification callback): the loop of a stream.
 * @return 0 when something was read (it may be part of a line), -ETIMEDOUT
 *         when nothing came, or elb_rpc_conn_read's errors (-EPIPE: the
 *         server closed the connection, what came before it was handed over).
 */
int elb_rpc_conn_wait(struct elb_rpc_conn *conn, int timeout_ms, elb_rpc_reply_fn on_reply,
		      void *ctx);

/*
 * The command-line tools' call: connect to socket_path, call method with
 * params (taken; NULL: none), wait at most timeout_ms (-1: no limit, which
 * includes connecting to a server whose backlog is full), close. Returns as
 * elb_rpc_conn_call, plus connect's -errno (err->message names the path).
 */
int elb_rpc_call(const char *socket_path, const char *method, cJSON *params, int timeout_ms,
		 cJSON **result, struct elb_rpc_client_error *err);

#endif /* ELB_RPC_CLIENT_H */
