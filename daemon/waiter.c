/* Waiters: many-to-many links between pending replies and jobs. */
#include "config.h"

#include <stdlib.h>

#include <event2/event.h>

#include "daemon/daemon.h"
#include "daemon/job-store.h"
#include "daemon/job.h"
#include "daemon/waiter.h"
#include "daemon/xalloc.h"

static void make_ready(struct waiter *w)
{
	if (w->queued)
		return;
	w->queued = true;
	TAILQ_INSERT_TAIL(&w->d->ready_waiters, w, ready_link);
	daemon_kick_deferred(w->d);
}

static bool satisfied(const struct waiter *w)
{
	if (w->timed_out)
		return true;
	if (w->fail_fast && w->failed)
		return true;
	if (w->mode == WAIT_ANY)
		return w->n_finished > 0;
	return w->n_finished == w->n;
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct waiter *w = arg;
	(void)fd;
	(void)what;
	if (!satisfied(w)) {
		w->timed_out = true;
		make_ready(w);
	}
}

static void count_finished(struct waiter *w, struct watch *wt)
{
	wt->finished = true;
	w->n_finished++;
	if (wt->job->state != JOB_SUCCEEDED)
		w->failed = true;
}

struct waiter *waiter_new(struct daemon *d, struct job *const *jobs, size_t n,
			  enum waiter_mode mode, bool fail_fast, double timeout,
			  waiter_done_fn done, void *userdata)
{
	struct waiter *w = xcalloc(1, sizeof(*w) + n * sizeof(struct watch));

	w->d = d;
	w->mode = mode;
	w->fail_fast = fail_fast;
	w->n = n;
	w->done = done;
	w->userdata = userdata;
	for (size_t i = 0; i < n; i++) {
		struct watch *wt = &w->watches[i];
		wt->job = job_ref(jobs[i]);
		wt->waiter = w;
		if (job_state_is_final(wt->job->state))
			count_finished(w, wt);
		else
			TAILQ_INSERT_TAIL(&wt->job->watches, wt, link);
	}
	if (satisfied(w)) {
		make_ready(w);
	} else if (timeout >= 0) {
		struct timeval tv = timeval_from_seconds(timeout);
		w->deadline = evtimer_new(d->base, on_deadline, w);
		if (!w->deadline)
			xalloc_die();
		xevtimer_add(w->deadline, &tv);
	}
	return w;
}

static void detach(struct waiter *w)
{
	for (size_t i = 0; i < w->n; i++) {
		struct watch *wt = &w->watches[i];
		if (!wt->finished && wt->waiter) {
			TAILQ_REMOVE(&wt->job->watches, wt, link);
			wt->waiter = NULL;
		}
	}
	if (w->deadline) {
		event_free(w->deadline);
		w->deadline = NULL;
	}
}

static void destroy(struct waiter *w)
{
	for (size_t i = 0; i < w->n; i++)
		job_unref(w->watches[i].job);
	free(w);
}

void waiter_cancel(struct waiter *w)
{
	if (!w)
		return;
	if (w->queued)
		TAILQ_REMOVE(&w->d->ready_waiters, w, ready_link);
	if (w->parked)
		TAILQ_REMOVE(&w->d->durable_waiters, w, ready_link);
	detach(w);
	destroy(w);
}

void waiter_job_finished(struct job *job)
{
	struct watch *wt;

	/* Nothing is unlinked here, so walking the list is safe; waiters
	 * detach themselves later, when they run. */
	TAILQ_FOREACH(wt, &job->watches, link) {
		struct waiter *w = wt->waiter;
		if (wt->finished)
			continue;
		count_finished(w, wt);
		if (w->progress)
			w->progress(w, w->userdata);
		if (satisfied(w))
			make_ready(w);
	}
	/* Every watch on this job is now finished: unlink them all at once. */
	while ((wt = TAILQ_FIRST(&job->watches))) {
		TAILQ_REMOVE(&job->watches, wt, link);
		wt->waiter = NULL;
	}
}

void waiter_run_ready(struct daemon *d)
{
	struct waiter *w;

	/* Callbacks may finish more jobs, readying more waiters: the loop
	 * takes them too. */
	while ((w = TAILQ_FIRST(&d->ready_waiters))) {
		TAILQ_REMOVE(&d->ready_waiters, w, ready_link);
		w->queued = false;
		detach(w);
		/* Not while shutting down: the connections close once their
		 * output is written, and the reply must be among it. */
		if (w->after_durable && !w->was_parked && !d->shutting_down &&
		    job_store_behind(d->store)) {
			/* Once: the changes made by then. Any made later (a
			 * job the callback cancels) hold the reply as usual. */
			w->parked = w->was_parked = true;
			w->durable_at = job_store_changes_made(d->store);
			TAILQ_INSERT_TAIL(&d->durable_waiters, w, ready_link);
			continue;
		}
		w->done(w, w->userdata);
		destroy(w);
	}
}

void waiter_store_durable(struct daemon *d)
{
	uint64_t durable = job_store_changes_durable(d->store);
	struct waiter *w;

	/* In the order they were parked, which is the order of their marks;
	 * all of them once the daemon shuts down. */
	while ((w = TAILQ_FIRST(&d->durable_waiters)) &&
	       (w->durable_at <= durable || d->shutting_down)) {
		TAILQ_REMOVE(&d->durable_waiters, w, ready_link);
		w->parked = false;
		w->queued = true;
		TAILQ_INSERT_TAIL(&d->ready_waiters, w, ready_link);
		daemon_kick_deferred(d);
	}
}
