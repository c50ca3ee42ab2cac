/* libasyncjob: the client library for asyncjobd.
 *
 * A connection (asyncjob) talks JSON-RPC 2.0 to the daemon over its Unix
 * socket. Every method has a blocking call, and requests can also be sent
 * asynchronously from a caller's own event loop: asyncjob_fd() and
 * asyncjob_events() say what to wait for, asyncjob_process() does the I/O
 * and runs one callback per reply. Requests may be pipelined; replies are
 * matched to requests by the library.
 *
 * Conventions: functions return 0 (or a count) on success and a negative
 * errno on failure, leaving their ret_* out-parameters untouched; the
 * connection keeps a message about the last failure (asyncjob_errmsg()).
 * -EREMOTEIO means the daemon answered with a JSON-RPC error: see
 * asyncjob_rpc_error_code(). Destructors accept NULL and return NULL.
 * Objects returned through ret_* belong to the caller. The library never
 * aborts, never logs and never raises SIGPIPE. A connection must be used by
 * one thread at a time.
 */
#ifndef ASYNCJOB_H
#define ASYNCJOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct asyncjob asyncjob;               /* a connection */
typedef struct asyncjob_spec asyncjob_spec;     /* a job to submit */
typedef struct asyncjob_job asyncjob_job;       /* a job object the daemon sent */
typedef struct asyncjob_reply asyncjob_reply;   /* a reply, in async callbacks */
typedef struct asyncjob_event asyncjob_event;   /* a notification */

typedef enum asyncjob_state {
	ASYNCJOB_STATE_UNKNOWN = -1,
	ASYNCJOB_QUEUED = 0,
	ASYNCJOB_RUNNING = 1,
	ASYNCJOB_SUCCEEDED = 2,
	ASYNCJOB_FAILED = 3,
	ASYNCJOB_CANCELED = 4,
} asyncjob_state;

/* JSON-RPC error codes the daemon answers with (asyncjob_rpc_error_code()). */
enum {
	ASYNCJOB_RPC_PARSE_ERROR = -32700,
	ASYNCJOB_RPC_INVALID_REQUEST = -32600,
	ASYNCJOB_RPC_METHOD_NOT_FOUND = -32601,
	ASYNCJOB_RPC_INVALID_PARAMS = -32602,
	ASYNCJOB_RPC_INTERNAL_ERROR = -32603,  /* reserved by JSON-RPC; asyncjobd never sends it */
	ASYNCJOB_RPC_JOB_NOT_FOUND = -32001,
	ASYNCJOB_RPC_BUSY = -32002,
	ASYNCJOB_RPC_FORBIDDEN = -32003,
	ASYNCJOB_RPC_JOB_FINISHED = -32004,
	ASYNCJOB_RPC_REQUEST_TOO_LARGE = -32005,
};

/* Flags for submit and gather. */
enum {
	ASYNCJOB_WAIT = 1u << 0,                 /* reply once the job has finished */
	ASYNCJOB_CANCEL_ON_DISCONNECT = 1u << 1, /* cancel if this connection closes first */
	ASYNCJOB_FAIL_FAST = 1u << 2,            /* gather: first failure cancels the rest */
	ASYNCJOB_PROGRESS = 1u << 3,             /* gather: send gather.progress events */
};

/* The library's version, "MAJOR.MINOR.PATCH". */
const char *asyncjob_version(void);

/* ------------------------------------------------------------------ connection */

/* Creates an unconnected handle. Returns 0 or -ENOMEM. */
int asyncjob_new(asyncjob **ret);

/* Connects to the daemon at `path`, or, when path is NULL, at the default:
 * $ASYNCJOB_SOCKET, else $XDG_RUNTIME_DIR/asyncjobd.sock when that exists
 * (for a user's own daemon), else /run/asyncjobd/asyncjobd.sock.
 * Returns 0, or -ENOENT / -ECONNREFUSED / -EACCES / -EAGAIN ... with a
 * message naming the socket. */
int asyncjob_connect(asyncjob *aj, const char *path);

/* Closes the connection and frees the handle. Callbacks of requests still
 * waiting for replies run once with status -ECANCELED. Inside a callback the
 * free is deferred until the callback returns. */
asyncjob *asyncjob_free(asyncjob *aj);

/* The default socket path (see asyncjob_connect()). Returns 0 and a string
 * the caller frees, or -ENOMEM. */
int asyncjob_default_socket(char **ret_path);

/* The socket this handle is connected to, or NULL. */
const char *asyncjob_socket_path(const asyncjob *aj);

/* A one-line description of the last failure, or "" after none. */
const char *asyncjob_errmsg(const asyncjob *aj);

/* After -EREMOTEIO: the JSON-RPC error code and the error's `data` member
 * as JSON text (NULL when it had none). */
int asyncjob_rpc_error_code(const asyncjob *aj);
const char *asyncjob_rpc_error_data(const asyncjob *aj);

/* The longest reply line accepted (default 64 MiB); longer ones break the
 * connection with -EMSGSIZE. */
int asyncjob_set_max_reply_size(asyncjob *aj, size_t bytes);

/* ------------------------------------------------------------------ job specs */

/* A sleep job: `seconds` >= 0, with an optional message (NULL for none). */
int asyncjob_spec_sleep(double seconds, const char *message, asyncjob_spec **ret);

/* A fetch job: GET `url` (http or https). Set "method", "headers" (with
 * asyncjob_spec_set_json), "body", "save_to", "max_bytes", "expect",
 * "raise_for_status" or "retry" for more. */
int asyncjob_spec_fetch(const char *url, asyncjob_spec **ret);

/* A write job: `size` bytes of `content` to `path` (absolute, beneath one
 * of the daemon's write roots), replacing the file atomically. Set "mode"
 * ("append", "create"), "fsync", "perm" or "mkdirs" for more. */
int asyncjob_spec_write(const char *path, const void *content, size_t size, asyncjob_spec **ret);

/* Any job spec given as a JSON object, e.g. {"type":"sleep","seconds":1}.
 * Returns -EINVAL when `json` is not one JSON object. */
int asyncjob_spec_from_json(const char *json, asyncjob_spec **ret);

/* Sets a field of the spec (replacing an earlier value). The daemon refuses
 * fields it does not know, so a typo fails loudly. */
int asyncjob_spec_set_string(asyncjob_spec *spec, const char *field, const char *value);
int asyncjob_spec_set_number(asyncjob_spec *spec, const char *field, double value);
int asyncjob_spec_set_bool(asyncjob_spec *spec, const char *field, bool value);
/* `json` is any JSON value as text. -EINVAL when it does not parse. */
int asyncjob_spec_set_json(asyncjob_spec *spec, const char *field, const char *json);

/* Shorthands for the common control fields. */
int asyncjob_spec_set_label(asyncjob_spec *spec, const char *label);
int asyncjob_spec_set_timeout(asyncjob_spec *spec, double seconds);
int asyncjob_spec_set_key(asyncjob_spec *spec, const char *idempotency_key);

/* The spec as JSON text, valid until the spec changes or is freed. */
const char *asyncjob_spec_json(const asyncjob_spec *spec);

asyncjob_spec *asyncjob_spec_free(asyncjob_spec *spec);

/* ------------------------------------------------------------------ job objects */

uint64_t asyncjob_job_id(const asyncjob_job *job);
const char *asyncjob_job_type(const asyncjob_job *job);
asyncjob_state asyncjob_job_state(const asyncjob_job *job);
/* NULL when absent. */
const char *asyncjob_job_label(const asyncjob_job *job);
const char *asyncjob_job_submitted_at(const asyncjob_job *job);
const char *asyncjob_job_started_at(const asyncjob_job *job);
const char *asyncjob_job_finished_at(const asyncjob_job *job);
/* For a failed or canceled job: error code ("timeout", "canceled", ...) and
 * message; NULL otherwise. */
const char *asyncjob_job_error_code(const asyncjob_job *job);
const char *asyncjob_job_error_message(const asyncjob_job *job);
/* The result object as JSON text, NULL unless the job succeeded. */
const char *asyncjob_job_result_json(const asyncjob_job *job);
/* A string member of the result, e.g. a sleep's "message"; NULL when absent
 * or not a string. */
const char *asyncjob_job_result_string(const asyncjob_job *job, const char *field);
/* A number member of the result, e.g. a sleep's "slept". Returns 0, or
 * -ENOENT when absent or not a number. */
int asyncjob_job_result_number(const asyncjob_job *job, const char *field, double *ret);
/* The whole job object as JSON text. */
const char *asyncjob_job_json(const asyncjob_job *job);

/* Returns a new reference to the same job object. */
asyncjob_job *asyncjob_job_ref(asyncjob_job *job);
asyncjob_job *asyncjob_job_unref(asyncjob_job *job);
/* Frees a NULL-terminated array of jobs and the array. */
void asyncjob_jobs_free(asyncjob_job **jobs);

const char *asyncjob_state_name(asyncjob_state state);
/* True for succeeded, failed and canceled. */
bool asyncjob_state_is_final(asyncjob_state state);

/* ------------------------------------------------------------------ blocking calls */

/* Each sends one request and waits for its reply, handling notifications
 * that arrive meanwhile (see asyncjob_set_event_handler()). A signal that
 * interrupts the wait returns -EINTR; the connection stays usable and the
 * late reply is discarded. Must not be called from inside a callback. */

/* Submits a job. `flags`: ASYNCJOB_WAIT, ASYNCJOB_CANCEL_ON_DISCONNECT. */
int asyncjob_submit(asyncjob *aj, const asyncjob_spec *spec, unsigned flags,
		    asyncjob_job **ret_job);

/* Runs `n` jobs together and waits for all of them. `flags`:
 * ASYNCJOB_FAIL_FAST, ASYNCJOB_CANCEL_ON_DISCONNECT, ASYNCJOB_PROGRESS.
 * `timeout` > 0 fails jobs still unfinished after that many seconds.
 * *ret_jobs gets the jobs in input order (NULL-terminated), *ret_ok whether
 * all succeeded. */
int asyncjob_gather(asyncjob *aj, asyncjob_spec *const *specs, size_t n, unsigned flags,
		    double timeout, asyncjob_job ***ret_jobs, bool *ret_ok);

int asyncjob_get(asyncjob *aj, uint64_t id, asyncjob_job **ret_job);

/* Waits until all (or, with `any`, one) of the jobs have finished, or for
 * `timeout` seconds (< 0: no limit). A timeout is not an error: *ret_timed_out
 * says it happened. *ret_jobs: the jobs as they are now, in input order.
 * With asyncjob_set_reconnect(), it goes on across a restart of the daemon. */
int asyncjob_wait(asyncjob *aj, const uint64_t *ids, size_t n, bool any, double timeout,
		  asyncjob_job ***ret_jobs, bool *ret_timed_out);

/* The caller's most recent jobs, oldest first. `state` and `type` filter
 * (NULL: any); `limit` 0 means the daemon's default. */
int asyncjob_list(asyncjob *aj, const char *state, const char *type, size_t limit,
		  asyncjob_job ***ret_jobs, size_t *ret_n);

/* Cancels a job. -EREMOTEIO with code ASYNCJOB_RPC_JOB_FINISHED when it had
 * already finished. */
int asyncjob_cancel(asyncjob *aj, uint64_t id, asyncjob_job **ret_job);

/* daemon.info's result as JSON text. */
int asyncjob_info(asyncjob *aj, char **ret_json);

/* Any method, with params as JSON text (NULL: none); the result as JSON text. */
int asyncjob_call(asyncjob *aj, const char *method, const char *params_json,
		  char **ret_result_json);

/* ------------------------------------------------------------------ restarts */

/* A daemon that keeps its jobs on disk (store = sqlite, asyncjobd.conf(5))
 * keeps them across a restart or a crash, under the same ids. With
 * reconnecting on, the blocking calls that wait for jobs follow them
 * across one: asyncjob_wait(), and asyncjob_submit() with ASYNCJOB_WAIT
 * and asyncjob_gather() once the daemon has named their jobs. When the
 * daemon answers that it is restarting, or the connection drops while
 * asyncjob_wait() waits, the call connects to the same socket again (at
 * once, then after 50 ms, twice as long each time up to 1 s), for at most
 * `seconds` from the moment the daemon went away, and waits again for the
 * same ids. It returns what it would have without the restart: a wait's
 * `timeout` counts across it; a gather's timeout is the daemon's and holds
 * too; a gather's ASYNCJOB_FAIL_FAST is carried on by the call, which
 * cancels the others with job.cancel once one fails (code `canceled`).
 *
 * A gather or a submit with ASYNCJOB_WAIT whose connection drops without
 * the daemon saying it restarts (a crash) never learnt its ids and fails
 * with -ECONNRESET as before; asyncjob_submit() without ASYNCJOB_WAIT
 * followed by asyncjob_wait() survives a crash as well.
 *
 * Besides the usual failures these calls return -ETIMEDOUT when the daemon
 * did not come back within `seconds`, or before a wait's `timeout` passed
 * (the message says which), -EREMOTEIO
 * with ASYNCJOB_RPC_JOB_NOT_FOUND when it came back without a job (a daemon
 * that keeps its jobs in memory forgets them), and -EINTR on a signal,
 * also while waiting to reconnect: the handle may then be unconnected
 * (asyncjob_reconnect()). After a reconnect the jobs are not tied to the
 * new connection: ASYNCJOB_CANCEL_ON_DISCONNECT no longer applies to them,
 * and a subscription (asyncjob_subscribe()) is to be made again. */

typedef enum asyncjob_reconnect_event {
	ASYNCJOB_DAEMON_RESTARTING = 0,  /* the daemon said it is restarting; reconnecting */
	ASYNCJOB_CONNECTION_LOST = 1,    /* the connection dropped; reconnecting */
	ASYNCJOB_RECONNECTED = 2,        /* connected again; waiting goes on */
} asyncjob_reconnect_event;

/* Told when a call starts reconnecting and when it has: `ids` are the jobs
 * it waits for (valid during the call). It may send requests
 * (asyncjob_send_*) but not make blocking calls. */
typedef void (*asyncjob_reconnect_fn)(asyncjob *aj, asyncjob_reconnect_event what,
				      const uint64_t *ids, size_t n, void *userdata);

/* Turns reconnecting on for `seconds` > 0 (off by default; 0 turns it
 * off), with `fn` (may be NULL) told of it. -EINVAL for a negative or
 * non-finite `seconds`. */
int asyncjob_set_reconnect(asyncjob *aj, double seconds, asyncjob_reconnect_fn fn, void *userdata);

/* Closes the connection, if any (requests still waiting get -ECONNRESET),
 * and connects to the socket it was connected to, once. Returns as
 * asyncjob_connect(); -ENOTCONN for a handle never connected. The
 * descriptor changes: a handle on an event loop is to be attached again. */
int asyncjob_reconnect(asyncjob *aj);

/* ------------------------------------------------------------------ events */

/* Subscribes this connection to job.updated events: for every job the
 * caller may see, or only `ids` (n > 0). With `since` (not NULL), events
 * after that sequence number that the daemon still keeps are replayed
 * first. *ret_seq (may be NULL) gets the last sequence number so far. */
int asyncjob_subscribe(asyncjob *aj, const uint64_t *ids, size_t n, const uint64_t *since,
		       uint64_t *ret_seq);
int asyncjob_unsubscribe(asyncjob *aj);

/* "job.updated" or "gather.progress". */
const char *asyncjob_event_method(const asyncjob_event *ev);
/* job.updated: the event's sequence number and the job as of the event. */
uint64_t asyncjob_event_seq(const asyncjob_event *ev);
const asyncjob_job *asyncjob_event_job(const asyncjob_event *ev);
/* The notification's params as JSON text. */
const char *asyncjob_event_params_json(const asyncjob_event *ev);
asyncjob_event *asyncjob_event_free(asyncjob_event *ev);

/* Called for each notification as it arrives (from asyncjob_process() or a
 * blocking call). Without a handler, notifications are queued (up to 65536)
 * for asyncjob_next_event(). The event is valid during the call only. */
typedef void (*asyncjob_event_fn)(asyncjob *aj, const asyncjob_event *ev, void *userdata);
void asyncjob_set_event_handler(asyncjob *aj, asyncjob_event_fn fn, void *userdata);

/* Takes the next queued notification, waiting up to `timeout_ms` (< 0: no
 * limit). Returns 0, -ETIMEDOUT, -EINTR, -ECONNRESET, or -ENOBUFS once after
 * the queue overflowed and events were lost. */
int asyncjob_next_event(asyncjob *aj, int timeout_ms, asyncjob_event **ret_event);

/* ------------------------------------------------------------------ async API */

/* What asyncjob_events() asks for and asyncjob_process() is told. */
enum {
	ASYNCJOB_EV_READ = 1,
	ASYNCJOB_EV_WRITE = 2,
};

/* Called once per reply. `reply` is valid during the call only. Its status
 * is 0, -EREMOTEIO (an RPC error), -ECONNRESET (the connection was lost) or
 * -ECANCELED (the handle was freed first). */
typedef void (*asyncjob_reply_fn)(asyncjob *aj, const asyncjob_reply *reply, void *userdata);

/* Queue a request; nothing blocks. Returns 0 or a negative errno. */
int asyncjob_send_call(asyncjob *aj, const char *method, const char *params_json,
		       asyncjob_reply_fn fn, void *userdata);
int asyncjob_send_submit(asyncjob *aj, const asyncjob_spec *spec, unsigned flags,
			 asyncjob_reply_fn fn, void *userdata);
int asyncjob_send_gather(asyncjob *aj, asyncjob_spec *const *specs, size_t n, unsigned flags,
			 double timeout, asyncjob_reply_fn fn, void *userdata);
int asyncjob_send_get(asyncjob *aj, uint64_t id, asyncjob_reply_fn fn, void *userdata);
int asyncjob_send_wait(asyncjob *aj, const uint64_t *ids, size_t n, bool any, double timeout,
		       asyncjob_reply_fn fn, void *userdata);
int asyncjob_send_cancel(asyncjob *aj, uint64_t id, asyncjob_reply_fn fn, void *userdata);

/* The socket descriptor; it does not change while connected. */
int asyncjob_fd(const asyncjob *aj);
/* ASYNCJOB_EV_READ and/or ASYNCJOB_EV_WRITE: what to wait for on the fd. */
int asyncjob_events(const asyncjob *aj);
/* Does the I/O the fd is ready for (`events`; 0 just tries) without
 * blocking and runs callbacks. Returns 0, or a negative errno once the
 * connection is lost (pending callbacks then ran with -ECONNRESET). */
int asyncjob_process(asyncjob *aj, int events);
/* Replies still outstanding. */
size_t asyncjob_pending(const asyncjob *aj);

/* Tells an event-loop adapter when asyncjob_events() changes: `events` is
 * the new set, or -1 when the handle is being freed. Called once at once. */
typedef void (*asyncjob_watch_fn)(asyncjob *aj, int events, void *userdata);
void asyncjob_set_watch(asyncjob *aj, asyncjob_watch_fn fn, void *userdata);

/* Reply accessors (valid during the reply callback). */
int asyncjob_reply_status(const asyncjob_reply *reply);
int asyncjob_reply_error_code(const asyncjob_reply *reply);
const char *asyncjob_reply_error_message(const asyncjob_reply *reply);
const char *asyncjob_reply_error_data(const asyncjob_reply *reply);
/* The result as JSON text, NULL for an error. */
const char *asyncjob_reply_result_json(const asyncjob_reply *reply);
/* The result read as one job object (submit, get, cancel). */
int asyncjob_reply_job(const asyncjob_reply *reply, asyncjob_job **ret_job);
/* The result's "jobs" array (gather, wait, list), NULL-terminated. */
int asyncjob_reply_jobs(const asyncjob_reply *reply, asyncjob_job ***ret_jobs, size_t *ret_n);
/* A boolean member of the result ("ok", "timed_out", "more"); false when absent. */
bool asyncjob_reply_flag(const asyncjob_reply *reply, const char *name);

#ifdef __cplusplus
}
#endif

#endif
