/* JSON-RPC dispatch: a line from a connection becomes one request or a
 * batch; each request goes to its method; replies go back now or later. */
#ifndef ASYNCJOBD_RPC_H
#define ASYNCJOBD_RPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "daemon/rpc-error.h"

struct conn;
struct daemon;
struct jsonw;
struct json_value;
struct waiter;
struct batch;
struct job;

/* The call being handled. */
struct rpc_call {
	struct daemon *d;
	struct conn *conn;
	bool notification;          /* no reply is wanted */
	const char *id_json;        /* the id, serialised */
	size_t id_len;
	struct batch *batch;
	size_t slot;
	struct request *deferred;   /* set by rpc_defer() */
	struct rpc_error err;
};

/* A reply owed later (the method returned RPC_DEFERRED). */
struct request {
	struct conn *conn;
	struct batch *batch;        /* NULL for a lone request */
	size_t slot;
	char *id_json;              /* NULL for a notification */
	size_t id_len;
	struct waiter *waiter;      /* what the reply waits for */
	/* Per-method state, freed with the request. */
	void *data;
	void (*free_data)(void *data);
	bool reply_started;         /* a part of the reply has been sent */
	LIST_ENTRY(request) link;
};

/* A method writes its result into `result` and returns 0, returns
 * RPC_DEFERRED after rpc_defer(), or returns a negative errno with
 * call->err filled in. */
#define RPC_DEFERRED 1
typedef int (*rpc_method_fn)(struct rpc_call *call, const struct json_value *params,
			     struct jsonw *result);

struct rpc_method {
	const char *name;
	rpc_method_fn handle;
};

/* Handles one line of input. Returns 0, or -EMSGSIZE when the connection
 * was closed because of it. */
void rpc_handle_line(struct conn *c, const char *line, size_t len);

/* Says the reply will come later. The request is owned by the connection
 * until answered with request_reply_*() or request_error(). */
struct request *rpc_defer(struct rpc_call *call);

/* Answers a deferred request: begin returns the writer for the result value,
 * end sends it. Both free nothing; request_done() frees the request. */
struct jsonw *request_reply_begin(struct request *req);
void request_reply_end(struct request *req);
/* Sends the reply written so far, for a reply too large to be held back
 * whole (a gather's 20 MB): the peer reads it while the rest is written.
 * Nothing else can come between the parts, since they are written in one
 * callback. A reply in a batch is held for the batch's array. */
void request_reply_send_part(struct request *req);
void request_error(struct request *req, const struct rpc_error *err);
/* Frees a request, answered or not; a waiter it holds is canceled. */
void request_free(struct request *req);

/* Finds a job the caller may see. Returns 0, or -ENOENT with call->err set
 * (also for another user's job, so nothing leaks). */
int rpc_find_job(struct rpc_call *call, uint64_t id, struct job **ret);

/* Writes an error reply for a request that could not be read at all. */
void rpc_send_error(struct conn *c, int code, const char *message);

/* Writes params and result for a notification to `conn`. */
void rpc_notify_begin(struct jsonw *w, const char *method);
void rpc_notify_end(struct jsonw *w);

#endif
