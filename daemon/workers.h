/* A small pool of threads for work that would block the event loop: file
 * I/O (open, write, fsync, rename). The loop hands work over, a thread runs
 * it, and the loop is told through one eventfd when it is done: no polling
 * and no lock held by the loop while work runs. */
#ifndef ASYNCJOBD_WORKERS_H
#define ASYNCJOBD_WORKERS_H

#include <stdbool.h>
#include <sys/queue.h>

struct event_base;
struct workers;

struct work {
	/* Runs on a worker thread. It must not touch the daemon's state. */
	void (*run)(struct work *w);
	/* Runs on the loop thread once `run` has returned (also for work
	 * canceled before it ran, with `canceled` set). */
	void (*done)(struct work *w);
	bool canceled;
	/* The pool's bookkeeping. */
	TAILQ_ENTRY(work) link;
	int state;
};

/* Starts `n_threads` (at least 1) threads. Returns NULL on failure. */
struct workers *workers_new(struct event_base *base, unsigned n_threads);

/* Waits for the work in progress, cancels what has not started (its `done`
 * runs with `canceled`), joins the threads and frees the pool. NULL is fine. */
struct workers *workers_free(struct workers *wp);

/* Queues work; `w` must stay valid until its `done` has run. */
void workers_submit(struct workers *wp, struct work *w);

/* Takes back work that has not started yet: returns true, and its `done`
 * will not run. False when it is running or finished (then `done` runs as
 * usual). */
bool workers_cancel(struct workers *wp, struct work *w);

/* Work queued and not yet started, and threads busy (daemon.info's
 * `workers`). */
unsigned workers_queued(struct workers *wp);
unsigned workers_busy(struct workers *wp);

#endif
