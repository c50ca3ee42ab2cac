/* libasyncjob's private structures, shared by its source files. */
#ifndef ASYNCJOB_INTERNAL_H
#define ASYNCJOB_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "asyncjob.h"
#include "proto/json.h"
#include "proto/jsonw.h"

#define ASYNCJOB_EXPORT __attribute__((visibility("default")))

struct pending {
	uint64_t id;
	asyncjob_reply_fn fn;      /* NULL: abandoned, the reply is dropped */
	void *userdata;
	struct pending *prev, *next;
};

struct queued_event {
	asyncjob_event *ev;
	struct queued_event *next;
};

struct asyncjob {
	int fd;
	char *path;
	char errmsg[512];
	int rpc_code;
	char *rpc_data;

	/* Output not yet written: [out_off, out_len) of out. */
	char *out;
	size_t out_len, out_off, out_cap;

	/* Replies and notifications, parsed as their bytes come: a 20 MB
	 * reply is never held as text. */
	struct json_parser parser;
	bool in_message;               /* the parser has the start of one */
	size_t message_bytes;          /* of it so far, newline excluded */
	size_t max_reply;
	struct jsonw w;                /* requests being written */

	uint64_t next_id;
	struct pending *head, *tail;   /* oldest first: replies mostly come in order */
	size_t n_pending;

	asyncjob_event_fn event_fn;
	void *event_userdata;
	struct queued_event *ev_head, *ev_tail;
	size_t n_events;
	bool events_lost;

	asyncjob_watch_fn watch_fn;
	void *watch_userdata;
	int watched_events;

	/* Waiting across daemon restarts (asyncjob_set_reconnect()). */
	int64_t reconnect_ms;          /* how long the daemon may stay away; 0: off */
	asyncjob_reconnect_fn reconnect_fn;
	void *reconnect_userdata;

	int dispatching;               /* depth of callbacks being run */
	bool blocking;                 /* inside a blocking call */
	bool free_requested;
	bool broken;                   /* the connection is gone */
};

struct asyncjob_spec {
	struct json_object *obj;
	char *text;                    /* cached serialisation, NULL when stale */
	size_t text_len;
};

/* Small: a reply may hold 100,000. The members besides id and state are
 * read from the object when asked for. */
struct asyncjob_job {
	unsigned refs;
	asyncjob_state state;
	uint64_t id;
	const struct json_value *obj;  /* the job object: in `copy` or in `tree` */
	struct json_value *copy;       /* its own copy, or NULL */
	struct json_tree *tree;        /* a reference to the reply's tree, or NULL */
	char *result_text;             /* made on first use */
	char *text;
};

/* Valid during a reply callback only: it points into the parsed line. */
struct asyncjob_reply {
	int status;
	int error_code;
	const char *error_message;
	const struct json_value *error_data;
	const struct json_value *result;
	char *result_text;
	char *data_text;
	struct json_parser *parser;    /* the tree's parser, for taking the tree */
	struct json_tree *tree;        /* taken by a list of jobs, shared by them */
};

struct asyncjob_event {
	char *method;
	struct json_value *params;     /* its own copy, or NULL */
	uint64_t seq;
	asyncjob_job *job;
	char *params_text;
};

/* Records a failure on the handle and returns `err` (a negative errno). */
int aj_fail(asyncjob *aj, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Sends a request; `params` is JSON text of an object or NULL. */
int aj_send(asyncjob *aj, const char *method, const char *params, size_t params_len,
	    asyncjob_reply_fn fn, void *userdata);

/* Turns a result into what a blocking call returns, while the reply's tree
 * is still alive (it goes with the line), so nothing is copied twice.
 * Returns 0, -EBADMSG when the result is not what was asked for, or
 * -ENOMEM. */
typedef int (*aj_take_fn)(asyncjob_reply *reply, void *out);

/* Sends and waits. On success `take` (if not NULL) has filled `out`; a
 * result it refuses fails the call with "the daemon's reply holds no
 * <what>". On any failure the caller frees whatever `out` holds (take may
 * have run before the call failed). */
int aj_call(asyncjob *aj, const char *method, const char *params, size_t params_len,
	    aj_take_fn take, void *out, const char *what);

/* Closes the connection (requests waiting get -ECONNRESET) and connects
 * to the same socket again, once. Returns as asyncjob_connect(), or
 * -ECANCELED when a callback freed the handle meanwhile (it is gone). */
int aj_reopen(asyncjob *aj);

/* job.wait once, as asyncjob_wait() without reconnecting. */
int aj_wait_once(asyncjob *aj, const uint64_t *ids, size_t n, bool any, double timeout,
		 asyncjob_job ***ret_jobs, bool *ret_timed_out);

/* asyncjob_wait() with reconnecting on (client/restart.c). */
int aj_follow_wait(asyncjob *aj, const uint64_t *ids, size_t n, bool any, double timeout,
		   asyncjob_job ***ret_jobs, bool *ret_timed_out);

/* After a call that waited for jobs it created (job.submit with wait,
 * job.gather) failed with `r`: when the daemon said it is restarting and
 * named the jobs, and reconnecting is on, waits for them across the
 * restart (with `fail_fast`, until one does not succeed; the others are
 * then canceled) and returns 0 with them in order and *ret_ok (may be
 * NULL) telling whether all succeeded. Otherwise returns `r`. */
int aj_follow_restarted(asyncjob *aj, int r, bool fail_fast, asyncjob_job ***ret_jobs,
			bool *ret_ok);

/* After job.gather failed with `r`: when the connection was lost before
 * the daemon said anything (kill -9) and reconnecting is on, connects
 * again and calls resolve(aj, arg, ids) for the ids of the gather's `n`
 * jobs, each found again by its key (or made now, when the daemon never
 * kept it), then waits for them as aj_follow_restarted() does. Otherwise
 * returns `r`. */
int aj_follow_lost_gather(asyncjob *aj, int r, size_t n, bool fail_fast,
			  int (*resolve)(asyncjob *aj, void *arg, uint64_t *ids), void *arg,
			  asyncjob_job ***ret_jobs, bool *ret_ok);
/* Parses `json` as exactly one JSON value, as strictly as the daemon does,
 * into a json-c object (for building specs). Returns 0 (the value in *ret;
 * null comes back as NULL), -EINVAL or -ENOMEM. */
int aj_parse_value(const char *json, struct json_object **ret);

/* Builds a job from a job object: with `tree`, the tree obj lives in (the
 * job takes a reference); without, a copy of obj. -EBADMSG for an object
 * without an id. */
int aj_job_new(const struct json_value *obj, struct json_tree *tree, asyncjob_job **ret);
/* Reads a reply's {"jobs": [...]} into a NULL-terminated array. A long
 * list takes the reply's tree (reply->tree) and the jobs share it. */
int aj_jobs_from_reply(asyncjob_reply *reply, asyncjob_job ***ret, size_t *ret_n);

/* A value as compact JSON text, a new string (NULL on failure). */
char *aj_json_text(const struct json_value *v);

/* Writes a spec's JSON with flags merged in as fields. */
void aj_write_spec(struct jsonw *w, const asyncjob_spec *spec, unsigned flags, const char *key);
/* Whether the spec names an idempotency key. */
bool aj_spec_has_key(const asyncjob_spec *spec);

#endif
