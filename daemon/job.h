/* Jobs: the common part every type shares, their life from queued to a final
 * state, and the table of job types. A job type lives in its own file
 * (job-sleep.c, ...) as one `const struct job_type`. */
#ifndef ASYNCJOBD_JOB_H
#define ASYNCJOBD_JOB_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/types.h>

#include <uthash.h>

#include "daemon/rpc-error.h"
#include "proto/protocol.h"

struct daemon;
struct conn;
struct event;
struct identity;
struct jsonw;
struct json_value;
struct watch;

struct job;

/* What a job that was running when the daemon stopped does at the next
 * start (job_type.recover). */
enum job_recovery {
	JOB_RUN_AGAIN,      /* from the start: it is safe to do twice */
	JOB_RESUME,         /* where it was: the type reads job->started_ms */
	JOB_INTERRUPTED,    /* fails with code interrupted: doing it again is not safe */
	/* Started again to judge from its evidence whether its work was done
	 * (job->recovering set during start): it may have been, so a timeout
	 * or a gather's deadline that ran out while the daemon was down does
	 * not fail it first: the type asks job_ran_out_while_down() and
	 * applies it only to work it finds not done. */
	JOB_JUDGE,
};

struct job_type {
	const char *name;
	/* Its work has effects outside the daemon (a request sent, a file
	 * written): with a store that writes to disk, it starts only once its
	 * record is durable. */
	bool starts_when_durable;
	/* The spec fields this type reads besides `type` and the control
	 * fields; anything else in a spec is refused. NULL-terminated. */
	const char *const *fields;
	/* Validates the spec of a job `requester` asks for (a type that does
	 * file work on its behalf takes a reference). Returns 0 and the
	 * type's data in *ret_data, or a negative errno with `e` filled in. */
	int (*parse)(struct daemon *d, const struct json_value *spec, struct identity *requester,
		     void **ret_data, struct rpc_error *e);
	/* Begins the work. The type calls job_set_running() when the job
	 * starts (now, or later when capacity frees up) and job_succeed() or
	 * job_fail() when it ends. */
	void (*start)(struct job *job);
	/* Optional: whether the job can still be stopped. A job past its
	 * point of no return (a write being committed) answers false, and
	 * the caller lets it finish; true commits the type to stopping. */
	bool (*prepare_stop)(struct job *job);
	/* Stops a job that has not finished, now: drop timers, transfers,
	 * queue places. The core then finishes the job. */
	void (*stop)(struct job *job);
	/* Optional: the job has just ended (any final state): drops what a
	 * finished job, which may be kept for retain_seconds, no longer needs
	 * (timers, transfer handles). */
	void (*finished)(struct job *job);
	/* Writes the result object of a succeeded job. */
	void (*write_result)(const struct job *job, struct jsonw *w);
	/* Optional: what the job works on, for a log line (a fetch's URL, a
	 * write's path), into buf. */
	void (*describe_target)(const struct job *job, char *buf, size_t size);
	/* Optional: writes the progress object of a running job. */
	void (*write_progress)(const struct job *job, struct jsonw *w);
	/* Optional: the bytes a finished job's result holds, counted against
	 * max_retained_result_bytes. */
	size_t (*result_size)(const struct job *job);
	void (*free_data)(void *data);
	/* Optional: what the type shares between its jobs (timers, queues):
	 * made by daemon_new, freed by daemon_free once every job is gone.
	 * The type reaches it with job_type_state(). */
	void *(*state_new)(struct daemon *d);
	void (*state_free)(void *state);
	/* Optional: the rule for a job of this type found running at start
	 * (none: JOB_INTERRUPTED). With JOB_INTERRUPTED, *why says what may
	 * or may not have happened. */
	enum job_recovery (*recover)(const struct job *job, const char **why);
	/* Optional, for a type whose work needs more than its spec to be
	 * judged after a restart: adds members of its own to the job's record
	 * (job-record.c), evidence of how far the work got. A finished job
	 * that left something behind to tidy (a file of the daemon's beside a
	 * user's) marks its record with job_record_needs_tidying() until it
	 * has tidied it. */
	void (*record_write)(const struct job *job, struct jsonw *w);
	/* Optional: reads those members back from the record `body` into the
	 * type's data, for a job restored with data (unfinished, or finished
	 * and marked for tidying). Returns 0, or -EINVAL for members it cannot
	 * read (the record is then not one of ours). */
	int (*record_read)(struct job *job, const struct json_value *body);
	/* Optional: at start, for a finished job restored from a record marked
	 * for tidying: tidies what it left behind (without blocking the loop). */
	void (*tidy)(struct job *job);
	/* Optional: at start, for a job found running that does not run again
	 * (interrupted, or out of time while the daemon was down): removes
	 * what its cut-off run left beside a user's file (without blocking
	 * the loop). A job that runs again does it as it starts. */
	void (*abandon)(struct job *job);
};

/* The table of job types. */
const struct job_type *job_type_find(const char *name);
/* Writes the names as "a, b" for error messages and daemon.info. */
const char *job_type_names(void);
extern const struct job_type *const job_types[];
/* Frees the jobs retention evicted that are still waiting to be (for
 * daemon_free). */
void job_graveyard_empty(struct daemon *d);
/* Makes and frees every type's shared state (daemon_new, daemon_free). */
void job_types_init(struct daemon *d);
void job_types_free(struct daemon *d);
/* The state `type` shares between its jobs in daemon `d`. */
void *job_type_state(const struct daemon *d, const struct job_type *type);

struct job_deadline;


struct job {
	uint64_t id;
	const struct job_type *type;
	struct daemon *d;
	unsigned refs;
	enum job_state state;
	enum job_error error_code;
	uid_t uid;
	bool in_store;
	bool recovering;            /* being started again after a restart */
	/* The store's number for the last change of this job handed to it
	 * (job-store.h, changes_made); 0 with a store that writes nothing. */
	uint64_t change_seq;
	/* Whose rights its file work has; NULL for a job made without a
	 * connection (tests). A reference. */
	struct identity *requester;
	/* The spec as given, when the store keeps records
	 * (daemon.keep_job_specs); NULL otherwise. */
	char *spec_text;
	size_t spec_len;
	/* The result of a job restored from a record, as JSON text: it is
	 * written as it is, and the type's data is not needed for it. */
	char *result_text;
	size_t result_len;

	char *label;
	/* The idempotency key, stored after the owner's uid so one lookup
	 * finds (uid, key). NULL when the job has none. */
	char *key_blob;
	size_t key_blob_len;

	double timeout;             /* seconds of running time, 0: none */
	/* The earliest deadline of a gather that waits for it, on the wall
	 * clock, and that gather's timeout (for the message); 0: none. Kept
	 * in its record, so it holds across a restart. */
	int64_t gather_deadline_ms;
	double gather_timeout;
	int64_t submitted_ms;       /* wall clock */
	/* Not to start before this (wall clock; 0: at once): the spec's
	 * not_before, or its delay from submission. Kept in its record. */
	int64_t not_before_ms;
	struct event *due_timer;    /* armed while it waits for not_before */
	int64_t started_ms;         /* 0 until running */
	int64_t finished_ms;        /* 0 until final */
	double progress_reported;   /* monotonic time of the last job.progress */
	size_t result_bytes;        /* counted in d->retained_result_bytes */
	char *error_message;
	void *data;                 /* the type's */

	/* The job's own timeout (running time) or a gather's overall
	 * deadline, whichever comes first; NULL while neither is armed. */
	struct job_deadline *deadline;
	struct conn *owner;         /* set when cancel_on_disconnect */
	LIST_ENTRY(job) owner_link;
	TAILQ_HEAD(, watch) watches;
	TAILQ_ENTRY(job) finished_link;

	UT_hash_handle hh;          /* the store's index by id */
	/* The store's indexes for job.list (job-store-memory.c), each in id
	 * order: the owner's jobs, the owner's jobs in this state, and
	 * everyone's in this state. */
	TAILQ_ENTRY(job) by_owner_link;
	TAILQ_ENTRY(job) by_owner_state_link;
	TAILQ_ENTRY(job) by_state_link;
	struct job_owner_index *owner_index;
	/* Changed since the SQLite store last wrote its record: on that
	 * store's list of records to stage at the end of the loop turn
	 * (job-store-sqlite.c). */
	bool store_dirty;
	TAILQ_ENTRY(job) store_dirty_link;
};

/* Common control fields of a spec. */
struct job_controls {
	double timeout;
	int64_t not_before_ms;      /* 0: none */
	const char *label;
	const char *key;
	size_t key_len;
	bool wait;
	bool cancel_on_disconnect;
	/* Set by job_spec_parse: who asks (may be NULL), and the spec itself
	 * (valid while the request is handled). */
	struct identity *requester;
	const struct json_value *spec;
};

/* Validates a job spec (type, type fields, control fields). `allow_per_call`
 * admits `wait` and `cancel_on_disconnect`, which gather items may not carry;
 * `requester` is the identity of the client that asks.
 * Returns 0 with the type, its data and the controls, or a negative errno
 * with `e` filled in. */
int job_spec_parse(struct daemon *d, const struct json_value *spec, bool allow_per_call,
		   struct identity *requester, const struct job_type **ret_type, void **ret_data,
		   struct job_controls *ret_controls, struct rpc_error *e);

/* Creates a queued job (one reference, for the caller) that is not yet
 * known to anyone. Takes ownership of `data`. */
struct job *job_new(struct daemon *d, const struct job_type *type, void *data,
		    uid_t uid, const struct job_controls *controls);
/* The same for a job restored from a record: with the id it had. */
struct job *job_restored(struct daemon *d, uint64_t id, const struct job_type *type, void *data,
			 uid_t uid, const struct job_controls *controls);
struct job *job_ref(struct job *job);
/* Drops a reference; frees the job with the last. Returns NULL. */
struct job *job_unref(struct job *job);

/* Enters a job in the store, tells subscribers, and starts it (a type
 * that starts_when_durable: once the store has its record on disk). */
void job_submit(struct job *job);
/* Calls then(job) once every change handed to the store so far is on disk:
 * now with a store that has nothing to wait for. A type whose work has
 * effects outside the daemon begins it this way after job_set_running, so
 * that a job found "queued" after a crash never began. `then` is called
 * whatever became of the job meanwhile (a reference is held): it checks. */
void job_when_durable(struct job *job, void (*then)(struct job *job));
/* The store has made more changes durable: starts the jobs that waited
 * for theirs. */
void job_start_durable(struct daemon *d);
/* At teardown (daemon_free, its jobs stopped): runs what waited for the
 * store, which starts nothing now, and drops it. */
void job_starts_drop(struct daemon *d);

/* A job a store has just read back and holds, for job_recover_loaded. */
void job_loaded(struct job *job);
/* After loading: the finished jobs join retention in the order they ended
 * (one that left something behind tidies it: job_type.tidy), and retention
 * runs; each unfinished job goes on, in id order, by its
 * state and its type's rule (queued: queued again; running:
 * job_type.recover), with its timeout counted from when it started, on the
 * wall clock (run out meanwhile: failed with `timeout`). */
void job_recover_loaded(struct daemon *d);
/* For a job recovered with JOB_JUDGE: whether its time ran out while the
 * daemon was down (a gather's deadline, or its own timeout counted from
 * when it started), with the message a timeout gives then in `msg`. */
bool job_ran_out_while_down(const struct job *job, char *msg, size_t size);
/* For a job resumed after a restart: the seconds of `total` that passed
 * since it started, on the wall clock, between none and all of them. */
double job_elapsed_seconds(const struct job *job, double total);

/* Called by job types. */
void job_set_running(struct job *job);
/* The type's own members of the job's record (job_type.record_write) have
 * changed: the store keeps the record again. Wait for it with
 * job_when_durable. */
void job_record_changed(struct job *job);
void job_succeed(struct job *job);
void job_fail(struct job *job, enum job_error code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Stops a job that has not finished and finishes it in `state` (failed or
 * canceled) with `code`. Returns 0, -EALREADY for a finished job, or -EBUSY
 * for one past its point of no return (it finishes on its own soon). */
int job_abort(struct job *job, enum job_state state, enum job_error code, const char *message);

/* Fails the job with code `timeout` if it has not finished by `at_mono`
 * (monotonic seconds); `timeout` is quoted in the error message. */
void job_set_gather_deadline(struct job *job, double at_mono, double timeout);

/* Makes the job canceled when `conn` closes before it ends. */
void job_set_owner(struct job *job, struct conn *conn);
void job_clear_owner(struct job *job);

/* Writes the job object as it was when it entered `as_of` (its current
 * state for a live view): fields set later are left out. */
void job_write_json(const struct job *job, struct jsonw *w, enum job_state as_of);
/* The same, with a succeeded job's result only when its JSON text is at
 * most `max_result_bytes` long (0: never); otherwise the object says
 * "result_omitted": true and the client reads the result with job.get.
 * Events and lists carry jobs this way, so one large result does not
 * travel in every event of every subscriber, or in every row. */
void job_write_json_limited(const struct job *job, struct jsonw *w, enum job_state as_of,
			    size_t max_result_bytes);

/* For a finished job: its "result" (succeeded) or "error" member, key
 * and value, into the object being written. Nothing for another. */
void job_write_outcome(const struct job *job, struct jsonw *w);
void job_write_outcome_limited(const struct job *job, struct jsonw *w, size_t max_result_bytes);

/* A job's key, as the client sent it. */
static inline const char *job_key(const struct job *job)
{
	return job->key_blob ? job->key_blob + sizeof(uid_t) : NULL;
}

/* Checks the active-job limits for `n` more jobs of `uid`. Returns 0, or
 * -EBUSY with `e` naming the limit. */
int job_check_capacity(struct daemon *d, uid_t uid, size_t n, struct rpc_error *e);

/* Tells subscribers how far a running job has got (job.progress); at most
 * ten times a second per job. */
void job_report_progress(struct job *job);

/* Evicts finished jobs past the retention count, age or result budget;
 * re-arms the timer. */
void job_retention_run(struct daemon *d);
/* Takes a finished job out of the store now: retention's eviction, and
 * job.forget's. Nothing for a job that has not finished. */
void job_forget(struct job *job);
/* A queued job that waits for its not_before no longer does (teardown):
 * its timer goes. Returns whether it was waiting. */
bool job_drop_due_timer(struct job *job);

#endif
