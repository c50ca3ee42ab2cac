/* The worker pool: run on the threads and done on the loop thread, real
 * concurrency with several threads and FIFO with one, cancel before and
 * while running, workers_free (cancels queued work, waits for running
 * work, delivers finished work) and the queued/busy counts. */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "daemon/workers.h"

#define MAX_TASKS 1000u

/* ------------------------------------------------------------ fixture */

struct fx;

struct task {
	struct work w;
	struct fx *f;
	unsigned index;
	atomic_uint runs;
	atomic_bool run_off_main;       /* `run` was on another thread */
	atomic_bool started, finished;  /* blocking tasks */
	bool met;                       /* rendezvous tasks */
	unsigned dones;
	bool done_on_main;
	bool done_canceled;
	bool finished_before_done;
};

struct fx {
	struct event_base *base;
	pthread_t main;
	struct workers *wp;
	struct task *tasks;             /* MAX_TASKS */
	atomic_uint ran;
	unsigned done, done_off_main, expected;
	bool timed_out;
	/* The gate blocking tasks wait at, and the rendezvous. */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool gate_open;
	unsigned arrived, rendezvous_n;
	/* Serial work. */
	atomic_uint in_flight, max_in_flight, next_order;
	unsigned order[MAX_TASKS];
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	f->base = event_base_new();
	f->tasks = calloc(MAX_TASKS, sizeof(*f->tasks));
	if (!f->base || !f->tasks) {
		if (f->base)
			event_base_free(f->base);
		free(f->tasks);
		free(f);
		return -1;
	}
	f->main = pthread_self();
	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->cond, NULL);
	*state = f;
	return 0;
}

static void open_gate(struct fx *f)
{
	pthread_mutex_lock(&f->lock);
	f->gate_open = true;
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->lock);
}

static int teardown(void **state)
{
	struct fx *f = *state;

	/* A failed test may leave tasks blocked or queued. */
	open_gate(f);
	f->wp = workers_free(f->wp);
	pthread_cond_destroy(&f->cond);
	pthread_mutex_destroy(&f->lock);
	event_base_free(f->base);
	free(f->tasks);
	free(f);
	return 0;
}

/* ------------------------------------------------------------ work */

static struct task *task_of(struct work *w)
{
	return (struct task *)(void *)((char *)w - offsetof(struct task, w));
}

static void note_run(struct task *t)
{
	atomic_fetch_add(&t->runs, 1);
	atomic_fetch_add(&t->f->ran, 1);
	if (!pthread_equal(pthread_self(), t->f->main))
		atomic_store(&t->run_off_main, true);
}

static void run_count(struct work *w)
{
	note_run(task_of(w));
}

/* Waits (at most 5 s) until rendezvous_n tasks are running at once. */
static void run_rendezvous(struct work *w)
{
	struct task *t = task_of(w);
	struct fx *f = t->f;
	struct timespec until;

	note_run(t);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 5;
	pthread_mutex_lock(&f->lock);
	f->arrived++;
	pthread_cond_broadcast(&f->cond);
	while (f->arrived < f->rendezvous_n)
		if (pthread_cond_timedwait(&f->cond, &f->lock, &until) == ETIMEDOUT)
			break;
	t->met = f->arrived >= f->rendezvous_n;
	pthread_mutex_unlock(&f->lock);
}

/* Never two at once on a single thread; records the order. */
static void run_serial(struct work *w)
{
	struct task *t = task_of(w);
	struct fx *f = t->f;

	note_run(t);
	unsigned now = atomic_fetch_add(&f->in_flight, 1) + 1;
	unsigned max = atomic_load(&f->max_in_flight);
	while (now > max && !atomic_compare_exchange_weak(&f->max_in_flight, &max, now))
		;
	f->order[atomic_fetch_add(&f->next_order, 1)] = t->index;
	usleep(200);
	atomic_fetch_sub(&f->in_flight, 1);
}

/* Waits (at most 10 s) at the gate, then takes a little longer. */
static void run_block(struct work *w)
{
	struct task *t = task_of(w);
	struct fx *f = t->f;
	struct timespec until;

	note_run(t);
	atomic_store(&t->started, true);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 10;
	pthread_mutex_lock(&f->lock);
	while (!f->gate_open)
		if (pthread_cond_timedwait(&f->cond, &f->lock, &until) == ETIMEDOUT)
			break;
	pthread_mutex_unlock(&f->lock);
	usleep(50 * 1000);
	atomic_store(&t->finished, true);
}

static void on_done(struct work *w)
{
	struct task *t = task_of(w);
	struct fx *f = t->f;

	t->dones++;
	t->done_canceled = w->canceled;
	t->done_on_main = pthread_equal(pthread_self(), f->main);
	t->finished_before_done = atomic_load(&t->finished);
	if (!t->done_on_main)
		f->done_off_main++;
	if (++f->done == f->expected)
		event_base_loopbreak(f->base);
}

static struct task *task(struct fx *f, unsigned i, void (*run)(struct work *))
{
	struct task *t = &f->tasks[i];

	assert_true(i < MAX_TASKS);
	memset(t, 0, sizeof(*t));
	t->f = f;
	t->index = i;
	t->w.run = run;
	t->w.done = on_done;
	t->w.canceled = true;   /* workers_submit must clear it */
	return t;
}

static void submit(struct fx *f, unsigned i, void (*run)(struct work *))
{
	workers_submit(f->wp, &task(f, i, run)->w);
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct fx *f = arg;
	(void)fd;
	(void)what;
	f->timed_out = true;
	event_base_loopbreak(f->base);
}

/* Runs the loop until `expected` dones in all, or `seconds` have passed. */
static void run_until(struct fx *f, unsigned expected, int seconds)
{
	struct timeval tv = { .tv_sec = seconds };
	struct event *timer = evtimer_new(f->base, on_timeout, f);

	assert_non_null(timer);
	assert_int_equal(evtimer_add(timer, &tv), 0);
	f->expected = expected;
	f->timed_out = false;
	while (f->done < expected && !f->timed_out)
		assert_true(event_base_loop(f->base, EVLOOP_ONCE) >= 0);
	event_free(timer);
	if (f->timed_out)
		fail_msg("timed out after %d s with %u of %u dones (%u ran)", seconds, f->done,
			 expected, atomic_load(&f->ran));
}

/* Runs the loop for `ms` milliseconds (to see that nothing else arrives). */
static void run_for(struct fx *f, int ms)
{
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
	assert_int_equal(event_base_loopexit(f->base, &tv), 0);
	assert_true(event_base_dispatch(f->base) >= 0);
}

/* Polls `cond` (at most 5 s) without running the loop. */
#define wait_for(cond)                                                            \
	do {                                                                      \
		int n_ = 0;                                                       \
		while (!(cond) && n_++ < 5000)                                    \
			usleep(1000);                                             \
		if (!(cond))                                                      \
			fail_msg("timed out waiting for %s", #cond);              \
	} while (0)

static void assert_done_normally(struct task *t)
{
	if (atomic_load(&t->runs) != 1 || t->dones != 1 || t->done_canceled || !t->done_on_main ||
	    !atomic_load(&t->run_off_main))
		fail_msg("task %u: runs %u dones %u canceled %d done on main %d run off main %d",
			 t->index, atomic_load(&t->runs), t->dones, t->done_canceled,
			 t->done_on_main, atomic_load(&t->run_off_main));
}

/* ------------------------------------------------------------ tests */

static void test_thousand_tasks(void **state)
{
	struct fx *f = *state;

	f->wp = workers_new(f->base, 4);
	assert_non_null(f->wp);
	for (unsigned i = 0; i < MAX_TASKS; i++)
		submit(f, i, run_count);
	/* `done` runs only from the loop, which has not run yet. */
	wait_for(atomic_load(&f->ran) == MAX_TASKS);
	assert_int_equal(f->done, 0);
	run_until(f, MAX_TASKS, 30);
	assert_int_equal(atomic_load(&f->ran), MAX_TASKS);
	assert_int_equal(f->done, MAX_TASKS);
	assert_int_equal(f->done_off_main, 0);
	for (unsigned i = 0; i < MAX_TASKS; i++)
		assert_done_normally(&f->tasks[i]);
	assert_int_equal(workers_queued(f->wp), 0);
	assert_int_equal(workers_busy(f->wp), 0);
	/* Nothing more arrives. */
	run_for(f, 50);
	assert_int_equal(f->done, MAX_TASKS);
	f->wp = workers_free(f->wp);
	assert_null(f->wp);
	assert_int_equal(f->done, MAX_TASKS);
}

static void test_thousand_tasks_loop_running(void **state)
{
	struct fx *f = *state;

	/* Submitted in batches while the loop collects. */
	f->wp = workers_new(f->base, 3);
	assert_non_null(f->wp);
	for (unsigned i = 0; i < MAX_TASKS; i++) {
		submit(f, i, run_count);
		if (i % 100 == 99)
			run_until(f, (i + 1) / 2, 30);
	}
	run_until(f, MAX_TASKS, 30);
	assert_int_equal(f->done_off_main, 0);
	for (unsigned i = 0; i < MAX_TASKS; i++)
		assert_done_normally(&f->tasks[i]);
}

static void rendezvous(struct fx *f, unsigned n_threads, unsigned n)
{
	f->wp = workers_new(f->base, n_threads);
	assert_non_null(f->wp);
	f->rendezvous_n = n;
	for (unsigned i = 0; i < n; i++)
		submit(f, i, run_rendezvous);
	run_until(f, n, 30);
	for (unsigned i = 0; i < n; i++) {
		if (!f->tasks[i].met)
			fail_msg("task %u of %u did not meet the others on %u threads", i, n,
				 n_threads);
		assert_done_normally(&f->tasks[i]);
	}
}

static void test_concurrent_two(void **state)
{
	rendezvous(*state, 2, 2);
}

static void test_concurrent_four(void **state)
{
	rendezvous(*state, 4, 4);
}

static void test_one_thread_serial(void **state)
{
	struct fx *f = *state;
	const unsigned n = 200;

	f->wp = workers_new(f->base, 1);
	assert_non_null(f->wp);
	for (unsigned i = 0; i < n; i++)
		submit(f, i, run_serial);
	run_until(f, n, 30);
	assert_int_equal(atomic_load(&f->max_in_flight), 1);
	for (unsigned i = 0; i < n; i++) {
		assert_int_equal(f->order[i], i);
		assert_done_normally(&f->tasks[i]);
	}
}

static void test_zero_threads_means_one(void **state)
{
	struct fx *f = *state;

	f->wp = workers_new(f->base, 0);
	assert_non_null(f->wp);
	for (unsigned i = 0; i < 20; i++)
		submit(f, i, run_serial);
	run_until(f, 20, 30);
	assert_int_equal(atomic_load(&f->max_in_flight), 1);
	for (unsigned i = 0; i < 20; i++)
		assert_done_normally(&f->tasks[i]);
}

static void test_cancel(void **state)
{
	struct fx *f = *state;

	f->wp = workers_new(f->base, 1);
	assert_non_null(f->wp);
	submit(f, 0, run_block);                /* A: blocks the only thread */
	wait_for(atomic_load(&f->tasks[0].started));
	submit(f, 1, run_count);                /* B: queued behind A */
	submit(f, 2, run_count);                /* C */
	assert_int_equal(workers_queued(f->wp), 2);
	assert_int_equal(workers_busy(f->wp), 1);

	assert_true(workers_cancel(f->wp, &f->tasks[1].w));
	assert_int_equal(workers_queued(f->wp), 1);
	/* Not twice, and not while running. */
	assert_false(workers_cancel(f->wp, &f->tasks[1].w));
	assert_false(workers_cancel(f->wp, &f->tasks[0].w));
	assert_int_equal(workers_busy(f->wp), 1);

	open_gate(f);
	run_until(f, 2, 30);
	run_for(f, 100);
	assert_int_equal(f->done, 2);
	assert_done_normally(&f->tasks[0]);
	assert_true(f->tasks[0].finished_before_done);
	assert_done_normally(&f->tasks[2]);
	assert_int_equal(atomic_load(&f->tasks[1].runs), 0);
	assert_int_equal(f->tasks[1].dones, 0);
	/* Finished work cannot be canceled either. */
	assert_false(workers_cancel(f->wp, &f->tasks[0].w));
	assert_false(workers_cancel(f->wp, &f->tasks[2].w));
	assert_int_equal(workers_queued(f->wp), 0);
	assert_int_equal(workers_busy(f->wp), 0);

	/* Canceled work can be submitted again and runs normally. */
	workers_submit(f->wp, &f->tasks[1].w);
	run_until(f, 3, 30);
	assert_done_normally(&f->tasks[1]);
}

static void test_cancel_middle_of_queue(void **state)
{
	struct fx *f = *state;
	const unsigned n = 10;

	f->wp = workers_new(f->base, 1);
	assert_non_null(f->wp);
	submit(f, 0, run_block);
	wait_for(atomic_load(&f->tasks[0].started));
	for (unsigned i = 1; i < n; i++)
		submit(f, i, run_serial);
	/* Take back the even ones: the queue stays intact around them. */
	for (unsigned i = 2; i < n; i += 2)
		assert_true(workers_cancel(f->wp, &f->tasks[i].w));
	assert_int_equal(workers_queued(f->wp), n / 2);
	open_gate(f);
	run_until(f, 1 + n / 2, 30);
	run_for(f, 50);
	assert_int_equal(f->done, 1 + n / 2);
	for (unsigned i = 1; i < n; i++) {
		if (i % 2 == 0) {
			assert_int_equal(atomic_load(&f->tasks[i].runs), 0);
			assert_int_equal(f->tasks[i].dones, 0);
		} else {
			assert_done_normally(&f->tasks[i]);
		}
	}
	/* In order, the canceled ones left out. */
	for (unsigned k = 0; k < n / 2; k++)
		assert_int_equal(f->order[k], 2 * k + 1);
}

static void *open_gate_later(void *arg)
{
	usleep(200 * 1000);
	open_gate(arg);
	return NULL;
}

static void test_free_cancels_queued(void **state)
{
	struct fx *f = *state;
	pthread_t th;

	f->wp = workers_new(f->base, 1);
	assert_non_null(f->wp);
	submit(f, 0, run_block);                /* running when freed */
	wait_for(atomic_load(&f->tasks[0].started));
	submit(f, 1, run_count);                /* never started */
	submit(f, 2, run_count);
	assert_int_equal(workers_queued(f->wp), 2);

	assert_int_equal(pthread_create(&th, NULL, open_gate_later, f), 0);
	f->wp = workers_free(f->wp);
	assert_null(f->wp);
	assert_int_equal(pthread_join(th, NULL), 0);

	/* The running task was waited for and delivered normally. */
	assert_true(atomic_load(&f->tasks[0].finished));
	assert_true(f->tasks[0].finished_before_done);
	assert_done_normally(&f->tasks[0]);
	/* The queued ones: done with `canceled`, never run, on this thread. */
	for (unsigned i = 1; i <= 2; i++) {
		struct task *t = &f->tasks[i];
		assert_int_equal(atomic_load(&t->runs), 0);
		assert_int_equal(t->dones, 1);
		assert_true(t->done_canceled);
		assert_true(t->done_on_main);
	}
	assert_int_equal(f->done, 3);
}

/* A `done` that queues follow-up work (cleanup) while the pool is freed:
 * the follow-up is canceled too, and workers_free still returns. */
static void on_done_follow_up(struct work *w)
{
	struct task *t = task_of(w);
	struct fx *f = t->f;

	on_done(w);
	if (t->index < 10)
		workers_submit(f->wp, &task(f, t->index + 10, run_count)->w);
}

static void test_free_cancels_follow_up(void **state)
{
	struct fx *f = *state;
	pthread_t th;

	f->wp = workers_new(f->base, 1);
	assert_non_null(f->wp);
	/* 0: running when freed; its done (not canceled) queues 10. */
	struct task *a = task(f, 0, run_block);
	a->w.done = on_done_follow_up;
	workers_submit(f->wp, &a->w);
	wait_for(atomic_load(&f->tasks[0].started));
	/* 1: queued; its canceled done queues 11. */
	struct task *b = task(f, 1, run_count);
	b->w.done = on_done_follow_up;
	workers_submit(f->wp, &b->w);
	assert_int_equal(pthread_create(&th, NULL, open_gate_later, f), 0);
	f->wp = workers_free(f->wp);
	assert_int_equal(pthread_join(th, NULL), 0);

	assert_done_normally(&f->tasks[0]);
	static const unsigned canceled[] = { 1, 10, 11 };
	for (size_t i = 0; i < 3; i++) {
		struct task *t = &f->tasks[canceled[i]];
		if (atomic_load(&t->runs) != 0 || t->dones != 1 || !t->done_canceled ||
		    !t->done_on_main)
			fail_msg("task %u: runs %u dones %u canceled %d on main %d", canceled[i],
				 atomic_load(&t->runs), t->dones, t->done_canceled, t->done_on_main);
	}
	assert_int_equal(f->done, 4);
}

static void test_free_delivers_finished(void **state)
{
	struct fx *f = *state;

	/* Run but not yet collected by the loop when the pool is freed. */
	f->wp = workers_new(f->base, 2);
	assert_non_null(f->wp);
	for (unsigned i = 0; i < 10; i++)
		submit(f, i, run_count);
	wait_for(atomic_load(&f->ran) == 10 && workers_busy(f->wp) == 0);
	assert_int_equal(f->done, 0);
	f->wp = workers_free(f->wp);
	assert_int_equal(f->done, 10);
	for (unsigned i = 0; i < 10; i++)
		assert_done_normally(&f->tasks[i]);
}

static void test_free_idle_and_null(void **state)
{
	struct fx *f = *state;

	assert_null(workers_free(NULL));
	f->wp = workers_new(f->base, 8);
	assert_non_null(f->wp);
	assert_int_equal(workers_queued(f->wp), 0);
	assert_int_equal(workers_busy(f->wp), 0);
	f->wp = workers_free(f->wp);
	assert_null(f->wp);
	assert_int_equal(f->done, 0);
	/* The loop no longer watches the pool's eventfd. */
	assert_int_equal(event_base_get_num_events(f->base, EVENT_BASE_COUNT_ADDED), 0);
}

static void test_counts(void **state)
{
	struct fx *f = *state;

	f->wp = workers_new(f->base, 2);
	assert_non_null(f->wp);
	submit(f, 0, run_block);
	submit(f, 1, run_block);
	wait_for(atomic_load(&f->tasks[0].started) && atomic_load(&f->tasks[1].started));
	for (unsigned i = 2; i < 5; i++)
		submit(f, i, run_count);
	assert_int_equal(workers_busy(f->wp), 2);
	assert_int_equal(workers_queued(f->wp), 3);
	open_gate(f);
	run_until(f, 5, 30);
	assert_int_equal(workers_busy(f->wp), 0);
	assert_int_equal(workers_queued(f->wp), 0);
	for (unsigned i = 0; i < 5; i++)
		assert_done_normally(&f->tasks[i]);
}

static void on_done_resubmit(struct work *w)
{
	struct task *t = task_of(w);
	struct fx *f = t->f;

	/* The first `done` queues the next task from the loop. */
	on_done(w);
	if (t->index + 1 < 50) {
		struct task *next = task(f, t->index + 1, run_count);
		next->w.done = on_done_resubmit;
		workers_submit(f->wp, &next->w);
	}
}

static void test_submit_from_done(void **state)
{
	struct fx *f = *state;

	f->wp = workers_new(f->base, 2);
	assert_non_null(f->wp);
	struct task *t = task(f, 0, run_count);
	t->w.done = on_done_resubmit;
	workers_submit(f->wp, &t->w);
	run_until(f, 50, 30);
	for (unsigned i = 0; i < 50; i++)
		assert_done_normally(&f->tasks[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_thousand_tasks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_thousand_tasks_loop_running, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_two, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_four, setup, teardown),
		cmocka_unit_test_setup_teardown(test_one_thread_serial, setup, teardown),
		cmocka_unit_test_setup_teardown(test_zero_threads_means_one, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel_middle_of_queue, setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_cancels_queued, setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_cancels_follow_up, setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_delivers_finished, setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_idle_and_null, setup, teardown),
		cmocka_unit_test_setup_teardown(test_counts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_submit_from_done, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
