/* The daemon's state: one instance, owned by main() and passed everywhere,
 * so a test or a fuzzer can build and tear down as many as it likes. */
#ifndef ASYNCJOBD_DAEMON_H
#define ASYNCJOBD_DAEMON_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/time.h>
#include <sys/types.h>
#include <time.h>

#include "daemon/conf.h"
#include "proto/json.h"
#include "proto/jsonw.h"
#include "proto/protocol.h"

struct event_base;
struct event;
struct job;
struct conn;
struct waiter;
struct job_store;
struct event_log;
struct listener;
struct notifier;
struct fetch_engine;
struct workers;
struct uploads;

TAILQ_HEAD(job_queue, job);
TAILQ_HEAD(conn_list, conn);
TAILQ_HEAD(waiter_queue, waiter);

/* Per-uid accounting for the per-user limits. */
struct user_usage;

struct daemon {
	struct event_base *base;
	struct config *config;
	struct json_parser parser;     /* parses requests; depth = max_json_depth */

	struct job_store *store;
	bool keep_job_specs;           /* the store keeps records: jobs keep their spec */
	struct event_log *events;
	struct listener *listener;
	struct notifier *notifier;     /* sd_notify; NULL when nobody listens */
	struct fetch_engine *fetch;    /* libcurl's multi handle on our loop */
	struct workers *workers;       /* threads for blocking file I/O */
	struct uploads *uploads;       /* content sent in pieces, spooled (upload.h) */
	struct metrics *metrics;       /* counters for daemon.metrics (metrics.h) */
	bool restoring;                /* specs parsed are the store's, at start */

	struct conn_list conns;
	size_t n_conns;
	uint64_t next_conn_id;
	struct user_usage *users;
	struct user_usage *last_user;   /* the one found last: most jobs come from one user */
	void **type_state;             /* each job type's own (job_type_state) */

	size_t n_active;                       /* queued + running */

	/* Finished jobs still in the store, oldest first: retention evicts
	 * from the head. */
	struct job_queue finished;
	size_t n_finished;
	/* Jobs retention took out of the store, to be freed a slice at a time
	 * when the loop has nothing more urgent (see job_retention_run). */
	struct job_queue graveyard;
	struct event *graveyard_event;
	size_t retained_result_bytes;  /* results of the finished jobs kept */

	bool tearing_down;             /* daemon_free(): no more job changes */
	struct event *retention_timer;

	/* Work that must not run inside the callback that caused it: replies
	 * to finished waits and freeing dead connections. One event, made
	 * active when there is work, runs it all in the same loop turn. */
	struct event *deferred;
	struct waiter_queue ready_waiters;
	/* Ready waiters whose reply waits for the store (waiter.after_durable). */
	struct waiter_queue durable_waiters;
	struct conn_list dead_conns;

	/* Connections with output queued this loop turn, written at its end. */
	TAILQ_HEAD(, conn) dirty_conns;
	/* Jobs that start once the store has their record on disk, in the
	 * order of the changes they wait for (job.c). */
	struct job_start *starts;
	size_t starts_head, starts_len, starts_cap;
	/* Unfinished jobs loaded from the store, until job_recover_loaded. */
	struct job **loaded;
	size_t n_loaded, loaded_cap;
	/* Connections with output held for the store (conn.held). */
	TAILQ_HEAD(, conn) held_conns;
	struct event *flush;

	struct jsonw scratch;          /* notifications being written */

	bool shutting_down;
	bool shutdown_waiting_jobs;    /* for jobs that could not be stopped */
	struct event *shutdown_timer;
	double started_mono;
	int64_t started_wall_ms;

	/* The instant being handled (see daemon_instant_begin), while
	 * instant_depth > 0. */
	unsigned instant_depth;
	double instant_mono;
	int64_t instant_wall_ms;
};

/* Creates the event loop the daemon needs (precise timers, no cached time).
 * Returns NULL on failure. */
struct event_base *daemon_event_base_new(void);

/* Creates a daemon on `base` with `config` (ownership of config passes to
 * the daemon). No socket yet: see listener.h. */
struct daemon *daemon_new(struct event_base *base, struct config *config);
/* Cancels every job, closes every connection and frees it all. NULL is fine. */
struct daemon *daemon_free(struct daemon *d);

/* Makes `store` (ownership passes) the daemon's store, in place of the one
 * it had, which must hold no job yet. */
void daemon_use_store(struct daemon *d, struct job_store *store);

/* Applies a new config (ownership passes). Logs what changed. */
void daemon_apply_config(struct daemon *d, struct config *config);

/* Has `c`'s queued output written at the end of this loop turn. */
void daemon_mark_dirty(struct daemon *d, struct conn *c);

/* An event is handled at one instant. A message: the jobs it submits and
 * starts (a gather's 100,000) are all submitted and started when the daemon
 * took the message up, and their sleeps and timeouts count from then, as
 * the message asked: together. Sleeps that end together: they all end when
 * their timer fired. Between begin and end (which nest; the outermost
 * counts), daemon_mono_now and daemon_wall_ms_now answer that instant,
 * `mono` and the wall clock read at begin; otherwise, the time now. */
void daemon_instant_begin(struct daemon *d, double mono);
void daemon_instant_end(struct daemon *d);
double daemon_mono_now(const struct daemon *d);
int64_t daemon_wall_ms_now(const struct daemon *d);

/* Schedules the deferred work to run in this loop turn. */
void daemon_kick_deferred(struct daemon *d);

/* Begins an orderly shutdown: stop accepting, cancel jobs with code
 * `shutdown`, send the replies, close connections, leave the loop. */
void daemon_shutdown(struct daemon *d);

/* Whether a shutdown keeps the jobs to go on at the next start (a store
 * on disk, on_shutdown = resume) rather than cancel them. */
bool daemon_keeps_jobs_on_shutdown(const struct daemon *d);

/* Called by the job core after a job finishes. */
void daemon_job_finished(struct daemon *d);

/* Per-user counters. */
size_t daemon_user_active_jobs(struct daemon *d, uid_t uid);
size_t daemon_user_connections(struct daemon *d, uid_t uid);
void daemon_user_adjust(struct daemon *d, uid_t uid, long jobs_delta, long conns_delta);

/* Time helpers: wall clock in ms since the epoch, monotonic in seconds. */
int64_t wall_ms(void);
double mono_seconds(void);
/* A delay for evtimer_add, rounded up to the microsecond so that a timer
 * never fires early; a negative one is none. */
struct timeval timeval_from_seconds(double seconds);
/* Formats an RFC 3339 UTC timestamp with milliseconds,
 * 2026-11-25T10:48:48.123Z: RFC3339_MS_LEN characters and a NUL. */
#define RFC3339_MS_LEN 24
void format_rfc3339_ms(int64_t ms, char buf[32]);
/* An RFC 3339 time ("2026-12-08T09:30:00Z", "...+01:00", fractions to the
 * millisecond) in ms since the epoch. 0, or -EINVAL. */
int parse_rfc3339_ms(const char *s, int64_t *ret);

#endif
