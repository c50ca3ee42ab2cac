/* JSON-RPC 2.0 dispatch (https://www.jsonrpc.org/specification): requests,
 * notifications, batches, and the one place where an rpc_error becomes a
 * JSON-RPC error object. */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#include "daemon/conn.h"
#include "daemon/daemon.h"
#include "daemon/job-store.h"
#include "daemon/job.h"
#include "daemon/log.h"
#include "daemon/rpc.h"
#include "daemon/waiter.h"
#include "daemon/xalloc.h"
#include "proto/jsonrpc.h"

struct batch {
	struct conn *conn;
	size_t n_slots;
	size_t n_pending;        /* deferred replies not yet in */
	bool building;           /* its requests are still being dispatched */
	struct {
		char *text;      /* NULL: a notification, no reply */
		size_t len;
		uint64_t needs;  /* the store change it tells of (jsonw.needs) */
	} slots[];
};

struct method_entry {
	const struct rpc_method *method;
	bool may_defer;          /* counts against max_pending_requests */
	bool during_shutdown;    /* still served while shutting down */
};

extern const struct rpc_method method_job_submit, method_job_gather, method_job_get,
	method_job_wait, method_job_list, method_job_cancel, method_events_subscribe,
	method_events_unsubscribe, method_daemon_info, method_upload_begin, method_upload_write,
	method_job_cancel_many, method_job_forget, method_daemon_metrics;

static const struct method_entry methods[] = {
	{ &method_job_submit, true, false },
	{ &method_job_gather, true, false },
	{ &method_job_get, false, true },
	{ &method_job_wait, true, false },
	{ &method_job_list, false, true },
	{ &method_job_cancel, false, true },
	{ &method_job_cancel_many, false, true },
	{ &method_job_forget, false, true },
	{ &method_events_subscribe, true, false },
	{ &method_events_unsubscribe, false, true },
	{ &method_daemon_info, false, true },
	{ &method_daemon_metrics, false, true },
	{ &method_upload_begin, false, false },
	{ &method_upload_write, true, false },
};

static const struct method_entry *find_method(const char *name, size_t len)
{
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (strlen(methods[i].method->name) == len &&
		    memcmp(methods[i].method->name, name, len) == 0)
			return &methods[i];
	return NULL;
}

/* ------------------------------------------------------------ errors */

static void write_error(struct jsonw *w, const char *id, size_t id_len, const struct rpc_error *e)
{
	char message[512];
	bool field_error = e->code == RPC_INVALID_PARAMS || e->code == RPC_FORBIDDEN;

	if (e->needs > w->needs)
		w->needs = e->needs;
	if (e->message[0])
		snprintf(message, sizeof(message), "%s", e->message);
	else if (field_error && e->field[0])
		snprintf(message, sizeof(message), "%s: %s: %s", rpc_code_message(e->code),
			 e->field, e->reason);
	else if (field_error)
		snprintf(message, sizeof(message), "%s: %s", rpc_code_message(e->code), e->reason);
	else
		snprintf(message, sizeof(message), "%s", rpc_code_message(e->code));

	jsonw_object_begin(w);
	jsonw_key(w, "jsonrpc");
	jsonw_raw_value(w, "\"2.0\"", 5);
	jsonw_key(w, "id");
	if (id)
		jsonw_raw_value(w, id, id_len);
	else
		jsonw_null(w);
	jsonw_key(w, "error");
	jsonw_object_begin(w);
	jsonw_key(w, "code");
	jsonw_int(w, e->code);
	jsonw_key(w, "message");
	jsonw_string(w, message);
	if (field_error) {
		jsonw_key(w, "data");
		jsonw_object_begin(w);
		jsonw_key(w, "field");
		jsonw_string(w, e->field);
		jsonw_key(w, "reason");
		jsonw_string(w, e->reason);
		jsonw_object_end(w);
	} else if (e->limit) {
		jsonw_key(w, "data");
		jsonw_object_begin(w);
		jsonw_key(w, "limit");
		jsonw_string(w, e->limit);
		jsonw_key(w, "value");
		jsonw_uint(w, e->limit_value);
		jsonw_object_end(w);
	} else if (e->has_job) {
		jsonw_key(w, "data");
		jsonw_object_begin(w);
		jsonw_key(w, "id");
		jsonw_uint(w, e->job_id);
		if (e->code == RPC_JOB_FINISHED) {
			jsonw_key(w, "state");
			jsonw_string(w, job_state_name(e->job_state));
		}
		jsonw_object_end(w);
	} else if (e->restarting) {
		jsonw_key(w, "data");
		jsonw_object_begin(w);
		jsonw_key(w, "restarting");
		jsonw_bool(w, true);
		if (e->ids) {
			jsonw_key(w, "ids");
			jsonw_array_begin(w);
			for (size_t i = 0; i < e->n_ids; i++)
				jsonw_uint(w, e->ids[i]);
			jsonw_array_end(w);
		}
		jsonw_object_end(w);
	}
	jsonw_object_end(w);
	jsonw_object_end(w);
}

/* ------------------------------------------------------------ delivery */

static void batch_finish(struct batch *b)
{
	struct conn *c = b->conn;

	if (b->building || b->n_pending > 0)
		return;
	if (!c->dead) {
		struct jsonw *w = &c->w;
		bool any = false;
		jsonw_reset(w);
		jsonw_raw(w, "[", 1);
		for (size_t i = 0; i < b->n_slots; i++) {
			if (!b->slots[i].text)
				continue;
			if (any)
				jsonw_raw(w, ",", 1);
			jsonw_raw(w, b->slots[i].text, b->slots[i].len);
			if (b->slots[i].needs > w->needs)
				w->needs = b->slots[i].needs;
			any = true;
		}
		jsonw_raw(w, "]\n", 2);
		if (w->failed)
			xalloc_die();
		/* A batch of notifications only gets no reply at all. */
		if (any)
			conn_send(c, w->buf, w->len, w->needs);
	}
	for (size_t i = 0; i < b->n_slots; i++)
		free(b->slots[i].text);
	free(b);
}

/* Sends the reply in c->w, or files it in its batch slot. */
static void deliver(struct conn *c, struct batch *b, size_t slot)
{
	struct jsonw *w = &c->w;

	if (w->failed)
		xalloc_die();
	if (b) {
		b->slots[slot].text = xmalloc(w->len);
		memcpy(b->slots[slot].text, w->buf, w->len);
		b->slots[slot].len = w->len;
		b->slots[slot].needs = w->needs;
		return;
	}
	jsonw_raw(w, "\n", 1);
	if (w->failed)
		xalloc_die();
	conn_send_jsonw(c, w);
}

/* An error with id null, for a message that is not a request. */
static void send_error(struct conn *c, const struct rpc_error *e)
{
	jsonw_reset(&c->w);
	write_error(&c->w, NULL, 0, e);
	deliver(c, NULL, 0);
}

void rpc_send_error(struct conn *c, int code, const char *message)
{
	struct rpc_error e;
	rpc_error_simple(&e, code, "%s", message);
	send_error(c, &e);
}

/* ------------------------------------------------------------ deferral */

struct request *rpc_defer(struct rpc_call *call)
{
	struct request *req = xcalloc(1, sizeof(*req));
	struct conn *c = call->conn;

	req->conn = c;
	req->batch = call->batch;
	req->slot = call->slot;
	if (!call->notification) {
		size_t n = call->id_json ? call->id_len : 4;
		req->id_json = xmalloc(n);
		memcpy(req->id_json, call->id_json ? call->id_json : "null", n);
		req->id_len = n;
	}
	if (req->batch)
		req->batch->n_pending++;
	LIST_INSERT_HEAD(&c->requests, req, link);
	c->n_requests++;
	call->deferred = req;
	return req;
}

struct jsonw *request_reply_begin(struct request *req)
{
	struct jsonw *w = &req->conn->w;
	jsonw_reset(w);
	rpc_reply_begin(w, req->id_json, req->id_len);
	return w;
}

void request_reply_send_part(struct request *req)
{
	struct conn *c = req->conn;

	if (req->batch || !req->id_json)
		return;
	conn_send_jsonw_part(c, &c->w, !req->reply_started);
	req->reply_started = true;
}

void request_reply_end(struct request *req)
{
	struct conn *c = req->conn;

	rpc_reply_end(&c->w);
	if (!req->id_json)
		return;   /* a notification: the work is done, nobody is told */
	if (!req->reply_started) {
		deliver(c, req->batch, req->slot);
		return;
	}
	jsonw_raw(&c->w, "\n", 1);
	conn_send_jsonw_part(c, &c->w, false);
	jsonw_reset(&c->w);
}

void request_error(struct request *req, const struct rpc_error *err)
{
	struct conn *c = req->conn;

	if (!req->id_json)
		return;
	jsonw_reset(&c->w);
	write_error(&c->w, req->id_json, req->id_len, err);
	deliver(c, req->batch, req->slot);
}

void request_free(struct request *req)
{
	struct conn *c = req->conn;
	struct batch *b = req->batch;

	LIST_REMOVE(req, link);
	c->n_requests--;
	waiter_cancel(req->waiter);
	if (req->free_data)
		req->free_data(req->data);
	free(req->id_json);
	free(req);
	if (b) {
		b->n_pending--;
		batch_finish(b);
	}
	if (c->read_closed && c->n_requests == 0 && !c->sub && !c->dead)
		conn_close_when_flushed(c);
}

int rpc_find_job(struct rpc_call *call, uint64_t id, struct job **ret)
{
	struct job *job = job_store_get(call->d->store, id);

	if (!job || !conn_can_see(call->conn, job))
		return rpc_error_not_found(&call->err, id);
	*ret = job;
	return 0;
}

/* ------------------------------------------------------------ dispatch */

static void handle_one(struct conn *c, const struct json_value *obj, struct batch *b, size_t slot)
{
	struct daemon *d = c->d;
	struct rpc_request req;
	struct rpc_call call = { .d = d, .conn = c, .batch = b, .slot = slot };
	const struct method_entry *m;
	const char *reason = NULL;
	struct jsonw *w = &c->w;
	int code, r;

	code = rpc_request_parse(obj, &req, &reason);
	jsonw_reset(&c->id_text);
	if (req.has_id && req.id_valid) {
		rpc_id_write(&c->id_text, req.id);
		if (c->id_text.failed)
			xalloc_die();
		call.id_json = c->id_text.buf;
		call.id_len = c->id_text.len;
	}
	/* An invalid request is answered even without an id (spec, section
	 * 7: {"jsonrpc": "2.0", "method": 1, "params": "bar"}). */
	call.notification = !req.has_id && code == 0;

	if (code) {
		rpc_error_simple(&call.err, RPC_INVALID_REQUEST, "Invalid Request: %s", reason);
		r = -EINVAL;
		goto reply;
	}
	m = find_method(req.method, req.method_len);
	if (!m) {
		rpc_error_simple(&call.err, RPC_METHOD_NOT_FOUND, "Method not found: %.100s",
				 req.method);
		r = -ENOENT;
		goto reply;
	}
	if (req.params && !json_is(req.params, JSON_OBJECT)) {
		r = rpc_error_param(&call.err, "params",
				    "must be an object of named parameters");
		goto reply;
	}
	if (d->shutting_down && !m->during_shutdown) {
		r = rpc_error_simple(&call.err, RPC_BUSY, "Busy: the daemon is shutting down");
		/* A job.wait that comes in just then waits for jobs that are
		 * kept: its client may come back for them. */
		call.err.restarting = daemon_keeps_jobs_on_shutdown(d);
		goto reply;
	}
	if (m->may_defer && c->n_requests >= d->config->limits.max_pending_requests) {
		r = rpc_error_busy(&call.err, "max_pending_requests",
				   d->config->limits.max_pending_requests,
				   "too many requests on this connection await replies");
		goto reply;
	}

	jsonw_reset(w);
	rpc_reply_begin(w, call.id_json, call.id_len);
	r = m->method->handle(&call, req.params, w);
	if (r == RPC_DEFERRED)
		return;
	if (r >= 0) {
		if (call.notification)
			return;
		rpc_reply_end(w);
		deliver(c, b, slot);
		return;
	}
reply:
	if (call.notification)
		return;
	jsonw_reset(w);
	write_error(w, call.id_json, call.id_len, &call.err);
	deliver(c, b, slot);
}

static bool blank(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
			return false;
	return true;
}

static void handle_line(struct conn *c, const char *line, size_t len)
{
	struct daemon *d = c->d;
	const struct json_value *root = NULL;
	const char *reason;
	struct rpc_error e;

	if (blank(line, len))
		return;
	int r = json_parse(&d->parser, line, len, &root, &reason);
	if (r == -ENOMEM)
		xalloc_die();
	if (r < 0) {
		/* Too deep is a limit reached: named, as every limit is. */
		if (reason == json_reason_too_deep)
			rpc_error_limit(&e, RPC_PARSE_ERROR, "max_json_depth", d->parser.max_depth,
					reason);
		else
			rpc_error_simple(&e, RPC_PARSE_ERROR, "Parse error: %s", reason);
		send_error(c, &e);
		return;
	}
	if (!json_is(root, JSON_ARRAY)) {
		handle_one(c, root, NULL, 0);
		return;
	}

	size_t n = root->len;
	size_t max = d->config->limits.max_pending_requests;
	if (n == 0) {
		rpc_send_error(c, RPC_INVALID_REQUEST, "Invalid Request: empty batch");
	} else if (n > max) {
		rpc_error_busy(&e, "max_pending_requests", max, "too many requests in one batch");
		send_error(c, &e);
	} else {
		struct batch *b = xcalloc(1, sizeof(*b) + n * sizeof(b->slots[0]));
		b->conn = c;
		b->n_slots = n;
		b->building = true;
		for (size_t i = 0; i < n && !c->dead; i++)
			handle_one(c, &root->items[i], b, i);
		b->building = false;
		batch_finish(b);
	}
}

/* The parser keeps its arena for the next request; after a huge one (a
 * gather of 100,000 specs takes 13 MB) it gives the memory back. */
#define PARSER_KEEP_BYTES (1024 * 1024)

void rpc_handle_line(struct conn *c, const char *line, size_t len)
{
	struct daemon *d = c->d;

	daemon_instant_begin(d, mono_seconds());
	handle_line(c, line, len);
	daemon_instant_end(d);
	if (json_parser_arena_used(&d->parser) > PARSER_KEEP_BYTES)
		json_parser_release(&d->parser);
}

void rpc_notify_begin(struct jsonw *w, const char *method)
{
	jsonw_reset(w);
	jsonw_object_begin(w);
	jsonw_key(w, "jsonrpc");
	jsonw_raw_value(w, "\"2.0\"", 5);
	jsonw_key(w, "method");
	jsonw_string(w, method);
	jsonw_key(w, "params");
}

void rpc_notify_end(struct jsonw *w)
{
	jsonw_object_end(w);
	jsonw_raw(w, "\n", 1);
	if (w->failed)
		xalloc_die();
}
