/* The worker pool: a mutex-protected queue of work, threads that take from
 * it, and a done list the loop collects when an eventfd says so. */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

#include <event2/event.h>

#include "daemon/log.h"
#include "daemon/workers.h"
#include "daemon/xalloc.h"

enum work_state { WORK_QUEUED = 1, WORK_RUNNING, WORK_DONE };

TAILQ_HEAD(work_list, work);

struct workers {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct work_list queue;        /* to run */
	struct work_list finished;     /* run, `done` not called yet */
	unsigned n_queued;
	unsigned n_busy;
	bool stopping;
	unsigned n_threads;
	pthread_t *threads;
	int efd;
	struct event *ev;
};

/* How much nicer than the loop thread the workers are. */
#define WORKER_NICE_INCREMENT 5

static void *worker_main(void *arg)
{
	struct workers *wp = arg;

	/* File I/O on a busy filesystem burns CPU in the kernel (threads
	 * spinning on a directory's lock): on a small machine that must not
	 * starve the loop thread, whose timers and replies are due on time.
	 * Linux gives each thread its own nice value; failing to lower ours
	 * costs only that. */
	errno = 0;
	int nice_now = getpriority(PRIO_PROCESS, (id_t)gettid());
	if (errno == 0)
		(void)setpriority(PRIO_PROCESS, (id_t)gettid(), nice_now + WORKER_NICE_INCREMENT);

	pthread_mutex_lock(&wp->lock);
	for (;;) {
		while (!wp->stopping && TAILQ_EMPTY(&wp->queue))
			pthread_cond_wait(&wp->wake, &wp->lock);
		if (wp->stopping)
			break;   /* what is still queued is canceled by workers_free() */
		struct work *w = TAILQ_FIRST(&wp->queue);
		TAILQ_REMOVE(&wp->queue, w, link);
		wp->n_queued--;
		wp->n_busy++;
		w->state = WORK_RUNNING;
		pthread_mutex_unlock(&wp->lock);

		w->run(w);

		pthread_mutex_lock(&wp->lock);
		wp->n_busy--;
		w->state = WORK_DONE;
		bool first = TAILQ_EMPTY(&wp->finished);
		TAILQ_INSERT_TAIL(&wp->finished, w, link);
		if (first) {
			/* One wake-up for a batch: the loop takes the whole list. */
			uint64_t one = 1;
			while (write(wp->efd, &one, sizeof(one)) < 0 && errno == EINTR)
				;
		}
	}
	pthread_mutex_unlock(&wp->lock);
	return NULL;
}

static void collect(struct workers *wp)
{
	struct work_list done = TAILQ_HEAD_INITIALIZER(done);
	struct work *w;

	pthread_mutex_lock(&wp->lock);
	TAILQ_CONCAT(&done, &wp->finished, link);
	pthread_mutex_unlock(&wp->lock);
	while ((w = TAILQ_FIRST(&done))) {
		TAILQ_REMOVE(&done, w, link);
		w->state = 0;
		w->done(w);
	}
}

static void on_eventfd(evutil_socket_t fd, short what, void *arg)
{
	uint64_t n;
	(void)what;
	while (read(fd, &n, sizeof(n)) < 0 && errno == EINTR)
		;
	collect(arg);
}

struct workers *workers_new(struct event_base *base, unsigned n_threads)
{
	struct workers *wp = xcalloc(1, sizeof(*wp));

	if (n_threads == 0)
		n_threads = 1;
	pthread_mutex_init(&wp->lock, NULL);
	pthread_cond_init(&wp->wake, NULL);
	TAILQ_INIT(&wp->queue);
	TAILQ_INIT(&wp->finished);
	wp->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (wp->efd < 0) {
		log_err("eventfd");
		goto fail;
	}
	wp->ev = event_new(base, wp->efd, EV_READ | EV_PERSIST, on_eventfd, wp);
	if (!wp->ev || event_add(wp->ev, NULL) < 0)
		goto fail;
	wp->threads = xcalloc(n_threads, sizeof(*wp->threads));
	for (unsigned i = 0; i < n_threads; i++) {
		if (pthread_create(&wp->threads[i], NULL, worker_main, wp) != 0) {
			log_errx("cannot start worker thread %u", i);
			break;
		}
		wp->n_threads++;
	}
	if (wp->n_threads == 0)
		goto fail;
	return wp;
fail:
	workers_free(wp);
	return NULL;
}

struct workers *workers_free(struct workers *wp)
{
	struct work *w;

	if (!wp)
		return NULL;
	pthread_mutex_lock(&wp->lock);
	wp->stopping = true;
	pthread_cond_broadcast(&wp->wake);
	pthread_mutex_unlock(&wp->lock);
	for (unsigned i = 0; i < wp->n_threads; i++)
		pthread_join(wp->threads[i], NULL);
	/* The threads finished what they had started and took no more. What
	 * is left is canceled: its `done` runs with `canceled` set, and may
	 * queue more work (cleanup), which is canceled the same way. */
	for (;;) {
		collect(wp);
		pthread_mutex_lock(&wp->lock);
		w = TAILQ_FIRST(&wp->queue);
		if (w) {
			TAILQ_REMOVE(&wp->queue, w, link);
			wp->n_queued--;
		}
		pthread_mutex_unlock(&wp->lock);
		if (!w)
			break;
		w->state = 0;
		w->canceled = true;
		w->done(w);
	}
	if (wp->ev)
		event_free(wp->ev);
	if (wp->efd >= 0)
		close(wp->efd);
	pthread_cond_destroy(&wp->wake);
	pthread_mutex_destroy(&wp->lock);
	free(wp->threads);
	free(wp);
	return NULL;
}

void workers_submit(struct workers *wp, struct work *w)
{
	w->canceled = false;
	pthread_mutex_lock(&wp->lock);
	w->state = WORK_QUEUED;
	TAILQ_INSERT_TAIL(&wp->queue, w, link);
	wp->n_queued++;
	pthread_cond_signal(&wp->wake);
	pthread_mutex_unlock(&wp->lock);
}

bool workers_cancel(struct workers *wp, struct work *w)
{
	bool taken = false;

	pthread_mutex_lock(&wp->lock);
	if (w->state == WORK_QUEUED) {
		TAILQ_REMOVE(&wp->queue, w, link);
		wp->n_queued--;
		w->state = 0;
		taken = true;
	}
	pthread_mutex_unlock(&wp->lock);
	return taken;
}

unsigned workers_queued(struct workers *wp)
{
	pthread_mutex_lock(&wp->lock);
	unsigned n = wp->n_queued;
	pthread_mutex_unlock(&wp->lock);
	return n;
}

unsigned workers_busy(struct workers *wp)
{
	pthread_mutex_lock(&wp->lock);
	unsigned n = wp->n_busy;
	pthread_mutex_unlock(&wp->lock);
	return n;
}
