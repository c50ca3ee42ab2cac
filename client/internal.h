/* libasyncjob's private structures, shared by its source files. */
#ifndef ASYNCJOB_INTERNAL_H
#define ASYNCJOB_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "asyncjob.h"
#include "proto/frame.h"
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

	struct frame_reader framer;
	struct json_parser parser;     /* replies and notifications */
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

struct asyncjob_job {
	unsigned refs;
	struct json_value *obj;        /* its own copy of the job object */
	uint64_t id;
	asyncjob_state state;
	const char *type, *label;
	const char *submitted_at, *started_at, *finished_at;
	const char *error_code, *error_message;
	const struct json_value *result;
	char *result_text;
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

/* Sends and waits. On success *ret_result gets the result, a copy the
 * caller frees with free(). */
int aj_call(asyncjob *aj, const char *method, const char *params, size_t params_len,
	    struct json_value **ret_result);

/* Parses `json` as exactly one JSON value, as strictly as the daemon does,
 * into a json-c object (for building specs). Returns 0 (the value in *ret;
 * null comes back as NULL), -EINVAL or -ENOMEM. */
int aj_parse_value(const char *json, struct json_object **ret);

/* Builds a job from a job object (copied). */
int aj_job_new(const struct json_value *obj, asyncjob_job **ret);
/* Reads {"jobs": [...]} into a NULL-terminated array. */
int aj_jobs_from_result(const struct json_value *result, asyncjob_job ***ret, size_t *ret_n);

/* A value as compact JSON text, a new string (NULL on failure). */
char *aj_json_text(const struct json_value *v);

/* Writes a spec's JSON with flags merged in as fields. */
void aj_write_spec(struct jsonw *w, const asyncjob_spec *spec, unsigned flags);

#endif
