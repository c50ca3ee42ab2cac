/* Waiting for jobs to finish: job.wait, job.gather and job.submit with
 * `wait` all reply through a waiter. A waiter watches a set of jobs (holding
 * a reference to each) and becomes ready when all, or any, have finished,
 * when one fails under fail_fast, or when its deadline passes. Ready waiters
 * run from the daemon's deferred event, never inside the job_finish() that
 * made them ready, so their callbacks may cancel jobs and free things. */
#ifndef ASYNCJOBD_WAITER_H
#define ASYNCJOBD_WAITER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/queue.h>

struct daemon;
struct job;
struct waiter;

enum waiter_mode {
	WAIT_ALL,
	WAIT_ANY,
};

/* Called once when the waiter is ready, with its watches already detached
 * (so the callback may cancel the jobs). The waiter is freed afterwards. */
typedef void (*waiter_done_fn)(struct waiter *w, void *userdata);
/* Called, if set, each time one more watched job finishes. */
typedef void (*waiter_progress_fn)(struct waiter *w, void *userdata);

struct watch {
	struct job *job;
	struct waiter *waiter;
	TAILQ_ENTRY(watch) link;
	bool finished;
};

struct waiter {
	struct daemon *d;
	enum waiter_mode mode;
	bool fail_fast;
	bool queued;             /* on the daemon's ready queue */
	/* Its callback runs once what the jobs did is on disk, rather than
	 * writing a reply that the connection then holds until it is: a
	 * gather of 100,000 jobs would hold 20 MB. */
	bool after_durable;
	bool parked;             /* on the daemon's durable_waiters queue */
	bool was_parked;         /* has waited for the store once */
	uint64_t durable_at;     /* the store change it waits for */
	bool timed_out;
	bool failed;             /* a watched job did not succeed */
	size_t n;
	size_t n_finished;
	struct event *deadline;
	waiter_done_fn done;
	waiter_progress_fn progress;
	void *userdata;
	TAILQ_ENTRY(waiter) ready_link;
	struct watch watches[];
};

/* Watches `n` jobs (n >= 1; references are taken). `timeout` < 0 means none.
 * Jobs already finished count at once; a waiter that is satisfied from the
 * start is ready in this loop turn. */
struct waiter *waiter_new(struct daemon *d, struct job *const *jobs, size_t n,
			  enum waiter_mode mode, bool fail_fast, double timeout,
			  waiter_done_fn done, void *userdata);

static inline struct job *waiter_job(const struct waiter *w, size_t i)
{
	return w->watches[i].job;
}

/* Frees a waiter without calling `done` (its requester went away). */
void waiter_cancel(struct waiter *w);

/* Called by the job core when a job finishes: updates every waiter
 * watching it. */
void waiter_job_finished(struct job *job);

/* Runs the ready waiters; called from the deferred event. */
void waiter_run_ready(struct daemon *d);
/* The store has more changes on disk: the waiters that waited for them
 * are ready. */
void waiter_store_durable(struct daemon *d);

#endif
