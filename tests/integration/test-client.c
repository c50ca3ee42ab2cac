/* libasyncjob against the real daemon: every blocking call, the async API
 * with pipelining and the libevent adapter, events with replay, idempotency
 * keys, cancel on disconnect, large replies parsed as they come (and cut
 * anywhere), the default socket it picks, waits that follow their jobs
 * across a restart or a crash of a daemon that keeps them (and give up on
 * one that does not), and the library's failure paths (no daemon, RPC
 * errors, a daemon that dies mid-call, a signal during a call). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <math.h>
#include <poll.h>
#include <pwd.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "asyncjob-libevent.h"
#include "asyncjob.h"
#include "proto/protocol.h"
#include "tests/common/harness.h"

static struct daemon_proc daemon_p;
/* test_daemon_stops_mid_call stops a daemon that cancels on shutdown. */
static const char daemon_config[] = "on_shutdown = cancel\n";

static int setup(void **state)
{
	(void)state;
	harness_start(&daemon_p, daemon_config);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	int status = harness_stop(&daemon_p, 10000);
	harness_cleanup(&daemon_p);
	return status == 0 ? 0 : -1;
}

static asyncjob *connect_client(void)
{
	asyncjob *aj = NULL;
	assert_int_equal(asyncjob_new(&aj), 0);
	int r = asyncjob_connect(aj, daemon_p.socket);
	if (r < 0)
		fail_msg("connect: %s", asyncjob_errmsg(aj));
	return aj;
}

static asyncjob_spec *sleep_spec(double seconds, const char *message)
{
	asyncjob_spec *s = NULL;
	assert_int_equal(asyncjob_spec_sleep(seconds, message, &s), 0);
	return s;
}

/* ------------------------------------------------------------ blocking */

static void test_submit_wait_and_get(void **state)
{
	(void)state;
	asyncjob *aj = connect_client();
	asyncjob_spec *s = sleep_spec(0.05, "Hello");
	asyncjob_job *job = NULL, *again = NULL;
	double slept = 0;

	assert_int_equal(asyncjob_spec_set_label(s, "greeting"), 0);
	assert_int_equal(asyncjob_submit(aj, s, ASYNCJOB_WAIT, &job), 0);
	assert_int_equal(asyncjob_job_state(job), ASYNCJOB_SUCCEEDED);
	assert_string_equal(asyncjob_job_type(job), "sleep");
	assert_string_equal(asyncjob_job_label(job), "greeting");
	assert_string_equal(asyncjob_job_result_string(job, "message"), "Hello");
	assert_int_equal(asyncjob_job_result_number(job, "slept", &slept), 0);
	assert_true(slept >= 0.05);
	assert_non_null(asyncjob_job_finished_at(job));
	assert_null(asyncjob_job_error_code(job));

	assert_int_equal(asyncjob_get(aj, asyncjob_job_id(job), &again), 0);
	assert_int_equal(asyncjob_job_id(again), asyncjob_job_id(job));
	assert_string_equal(asyncjob_job_result_json(again), asyncjob_job_result_json(job));

	asyncjob_job_unref(job);
	asyncjob_job_unref(again);
	asyncjob_spec_free(s);
	asyncjob_free(aj);
}

static void test_gather_runs_concurrently(void **state)
{
	(void)state;
	asyncjob *aj = connect_client();
	asyncjob_spec *specs[2] = { sleep_spec(0.3, "Hello"), sleep_spec(0.3, "World") };
	asyncjob_job **jobs = NULL;
	bool ok = false;

	assert_int_equal(asyncjob_gather(aj, specs, 2, 0, 0, &jobs, &ok), 0);
	assert_true(ok);
	assert_string_equal(asyncjob_job_result_string(jobs[0], "message"), "Hello");
	assert_string_equal(asyncjob_job_result_string(jobs[1], "message"), "World");
	assert_null(jobs[2]);
	/* Concurrency, shown by the jobs' own timestamps rather than a clock
	 * in the test: each started before the other finished. */
	assert_true(strcmp(asyncjob_job_started_at(jobs[0]), asyncjob_job_finished_at(jobs[1])) < 0);
	assert_true(strcmp(asyncjob_job_started_at(jobs[1]), asyncjob_job_finished_at(jobs[0])) < 0);
	asyncjob_jobs_free(jobs);
	asyncjob_spec_free(specs[0]);
	asyncjob_spec_free(specs[1]);
	asyncjob_free(aj);
}

static void test_gather_fail_fast(void **state)
{
	(void)state;
	asyncjob *aj = connect_client();
	asyncjob_spec *specs[2] = { sleep_spec(30, "never"), sleep_spec(30, NULL) };
	asyncjob_job **jobs = NULL;
	bool ok = true;

	asyncjob_spec_set_timeout(specs[1], 0.05);
	assert_int_equal(asyncjob_gather(aj, specs, 2, ASYNCJOB_FAIL_FAST, 0, &jobs, &ok), 0);
	assert_false(ok);
	assert_int_equal(asyncjob_job_state(jobs[1]), ASYNCJOB_FAILED);
	assert_string_equal(asyncjob_job_error_code(jobs[1]), "timeout");
	assert_int_equal(asyncjob_job_state(jobs[0]), ASYNCJOB_CANCELED);
	assert_string_equal(asyncjob_job_error_code(jobs[0]), "canceled");
	asyncjob_jobs_free(jobs);
	asyncjob_spec_free(specs[0]);
	asyncjob_spec_free(specs[1]);
	asyncjob_free(aj);
}

static void test_gather_timeout(void **state)
{
	(void)state;
	asyncjob *aj = connect_client();
	asyncjob_spec *specs[2] = { sleep_spec(0, "quick"), sleep_spec(30, NULL) };
	asyncjob_job **jobs = NULL;
	bool ok = true;

	assert_int_equal(asyncjob_gather(aj, specs, 2, 0, 0.1, &jobs, &ok), 0);
	assert_false(ok);
	assert_int_equal(asyncjob_job_state(jobs[0]), ASYNCJOB_SUCCEEDED);
	assert_int_equal(asyncjob_job_state(jobs[1]), ASYNCJOB_FAILED);
	assert_string_equal(asyncjob_job_error_code(jobs[1]), "timeout");
	asyncjob_jobs_free(jobs);
	asyncjob_spec_free(specs[0]);
	asyncjob_spec_free(specs[1]);
	asyncjob_free(aj);
}

static uint64_t submit_detached(asyncjob *aj, double seconds, unsigned flags)
{
	asyncjob_spec *s = sleep_spec(seconds, NULL);
	asyncjob_job *job = NULL;
	assert_int_equal(asyncjob_submit(aj, s, flags, &job), 0);
	uint64_t id = asyncjob_job_id(job);
	asyncjob_job_unref(job);
	asyncjob_spec_free(s);
	return id;
}

static void test_wait_any_all_timeout(void **state)
{
	(void)state;
	asyncjob *aj = connect_client();
	uint64_t ids[2] = { submit_detached(aj, 0.05, 0), submit_detached(aj, 30, 0) };
	asyncjob_job **jobs = NULL;
	bool timed_out = true;

	/* any: returns once the short one is done; the long one still runs. */
	assert_int_equal(asyncjob_wait(aj, ids, 2, true, -1, &jobs, &timed_out), 0);
	assert_false(timed_out);
	assert_int_equal(asyncjob_job_state(jobs[0]), ASYNCJOB_SUCCEEDED);
	assert_int_equal(asyncjob_job_state(jobs[1]), ASYNCJOB_RUNNING);
	asyncjob_jobs_free(jobs);

	/* all, with a timeout: a result, not an error. */
	assert_int_equal(asyncjob_wait(aj, ids, 2, false, 0.1, &jobs, &timed_out), 0);
	assert_true(timed_out);
	assert_int_equal(asyncjob_job_state(jobs[1]), ASYNCJOB_RUNNING);
	asyncjob_jobs_free(jobs);

	/* Cancel, then all returns. */
	asyncjob_job *canceled = NULL;
	assert_int_equal(asyncjob_cancel(aj, ids[1], &canceled), 0);
	assert_int_equal(asyncjob_job_state(canceled), ASYNCJOB_CANCELED);
	asyncjob_job_unref(canceled);
	assert_int_equal(asyncjob_wait(aj, ids, 2, false, -1, &jobs, &timed_out), 0);
	assert_false(timed_out);
	assert_int_equal(asyncjob_job_state(jobs[1]), ASYNCJOB_CANCELED);
	asyncjob_jobs_free(jobs);

	/* Canceling again: already finished. */
	assert_int_equal(asyncjob_cancel(aj, ids[1], &canceled), -EREMOTEIO);
	assert_int_equal(asyncjob_rpc_error_code(aj), ASYNCJOB_RPC_JOB_FINISHED);
	assert_non_null(strstr(asyncjob_rpc_error_data(aj), "\"canceled\""));
	asyncjob_free(aj);
}

static void test_rpc_errors_reported(void **state)
{
	(void)state;
	asyncjob *aj = connect_client();
	asyncjob_spec *s = NULL;
	asyncjob_job *job = NULL;
	char *result = NULL;

	assert_int_equal(asyncjob_spec_from_json("{\"type\":\"sleep\",\"seconds\":1,\"secnods\":2}", &s), 0);
	assert_int_equal(asyncjob_submit(aj, s, 0, &job), -EREMOTEIO);
	assert_null(job);
	assert_int_equal(asyncjob_rpc_error_code(aj), ASYNCJOB_RPC_INVALID_PARAMS);
	assert_non_null(strstr(asyncjob_errmsg(aj), "secnods"));
	assert_non_null(strstr(asyncjob_rpc_error_data(aj), "\"field\":\"secnods\""));
	asyncjob_spec_free(s);

	assert_int_equal(asyncjob_get(aj, 999999999, &job), -EREMOTEIO);
	assert_int_equal(asyncjob_rpc_error_code(aj), ASYNCJOB_RPC_JOB_NOT_FOUND);

	assert_int_equal(asyncjob_call(aj, "no.such", NULL, &result), -EREMOTEIO);
	assert_int_equal(asyncjob_rpc_error_code(aj), ASYNCJOB_RPC_METHOD_NOT_FOUND);
	/* A malformed params string is caught before sending. */
	assert_int_equal(asyncjob_call(aj, "daemon.info", "{oops", &result), -EINVAL);

	/* The connection is still fine after all that. */
	assert_int_equal(asyncjob_info(aj, &result), 0);
	assert_non_null(strstr(result, "\"limits\""));
	free(result);

	/* Local validation of specs. */
	assert_int_equal(asyncjob_spec_from_json("[1]", &s), -EINVAL);
	assert_int_equal(asyncjob_spec_from_json("{\"a\":1} x", &s), -EINVAL);
	assert_int_equal(asyncjob_spec_sleep(-1, NULL, &s), -EINVAL);
	asyncjob_free(aj);
}

static void test_list_filters(void **state)
{
	(void)state;
	asyncjob *aj = connect_client();
	uint64_t id = submit_detached(aj, 30, 0);
	asyncjob_job **jobs = NULL;
	size_t n = 0;

	assert_int_equal(asyncjob_list(aj, "running", "sleep", 0, &jobs, &n), 0);
	bool found = false;
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(asyncjob_job_state(jobs[i]), ASYNCJOB_RUNNING);
		if (asyncjob_job_id(jobs[i]) == id)
			found = true;
	}
	assert_true(found);
	asyncjob_jobs_free(jobs);

	assert_int_equal(asyncjob_list(aj, NULL, NULL, 1, &jobs, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(asyncjob_job_id(jobs[0]), id);   /* the most recent */
	asyncjob_jobs_free(jobs);

	assert_int_equal(asyncjob_list(aj, "sleeping", NULL, 0, &jobs, &n), -EREMOTEIO);
	assert_int_equal(asyncjob_rpc_error_code(aj), ASYNCJOB_RPC_INVALID_PARAMS);

	asyncjob_job *c = NULL;
	asyncjob_cancel(aj, id, &c);
	asyncjob_job_unref(c);
	asyncjob_free(aj);
}

static void test_idempotency_key(void **state)
{
	(void)state;
	asyncjob *aj = connect_client();
	asyncjob_spec *s = sleep_spec(0, "once");
	asyncjob_job *a = NULL, *b = NULL, *c = NULL;

	asyncjob_spec_set_key(s, "build-42");
	assert_int_equal(asyncjob_submit(aj, s, ASYNCJOB_WAIT, &a), 0);
	assert_int_equal(asyncjob_submit(aj, s, 0, &b), 0);
	assert_int_equal(asyncjob_job_id(a), asyncjob_job_id(b));
	asyncjob_spec_set_key(s, "build-43");
	assert_int_equal(asyncjob_submit(aj, s, 0, &c), 0);
	assert_true(asyncjob_job_id(c) != asyncjob_job_id(a));
	asyncjob_job_unref(a);
	asyncjob_job_unref(b);
	asyncjob_job_unref(c);
	asyncjob_spec_free(s);
	asyncjob_free(aj);
}

static void test_cancel_on_disconnect(void **state)
{
	(void)state;
	asyncjob *owner = connect_client(), *observer = connect_client();
	uint64_t kept = submit_detached(owner, 30, 0);
	uint64_t tied = submit_detached(owner, 30, ASYNCJOB_CANCEL_ON_DISCONNECT);
	asyncjob_job **jobs = NULL;
	bool timed_out;

	asyncjob_free(owner);
	/* The tied job ends as soon as its connection is gone. */
	assert_int_equal(asyncjob_wait(observer, &tied, 1, false, 10, &jobs, &timed_out), 0);
	assert_false(timed_out);
	assert_int_equal(asyncjob_job_state(jobs[0]), ASYNCJOB_CANCELED);
	assert_string_equal(asyncjob_job_error_code(jobs[0]), "canceled");
	asyncjob_jobs_free(jobs);

	asyncjob_job *job = NULL;
	assert_int_equal(asyncjob_get(observer, kept, &job), 0);
	assert_int_equal(asyncjob_job_state(job), ASYNCJOB_RUNNING);
	asyncjob_job_unref(job);
	assert_int_equal(asyncjob_cancel(observer, kept, &job), 0);
	asyncjob_job_unref(job);
	asyncjob_free(observer);
}

static void test_events_and_replay(void **state)
{
	(void)state;
	asyncjob *aj = connect_client(), *other = connect_client();
	asyncjob_event *ev = NULL;
	uint64_t seq0 = 0, last = 0;

	assert_int_equal(asyncjob_subscribe(aj, NULL, 0, NULL, &seq0), 0);
	uint64_t id = submit_detached(other, 0.02, 0);
	const char *want[] = { "queued", "running", "succeeded" };
	for (int i = 0; i < 3; i++) {
		do {
			asyncjob_event_free(ev);
			assert_int_equal(asyncjob_next_event(aj, 5000, &ev), 0);
		} while (asyncjob_job_id(asyncjob_event_job(ev)) != id);
		assert_string_equal(asyncjob_event_method(ev), "job.updated");
		assert_string_equal(asyncjob_state_name(asyncjob_job_state(asyncjob_event_job(ev))), want[i]);
		assert_true(asyncjob_event_seq(ev) > seq0);
		last = asyncjob_event_seq(ev);
	}
	asyncjob_event_free(ev);
	ev = NULL;
	assert_int_equal(asyncjob_next_event(aj, 50, &ev), -ETIMEDOUT);
	asyncjob_free(aj);

	/* A client that reconnects with the last seq it saw before these
	 * three gets exactly them again. */
	aj = connect_client();
	uint64_t since = last - 3;
	assert_int_equal(asyncjob_subscribe(aj, &id, 1, &since, NULL), 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(asyncjob_next_event(aj, 5000, &ev), 0);
		assert_int_equal(asyncjob_event_seq(ev), since + 1 + (uint64_t)i);
		assert_string_equal(asyncjob_state_name(asyncjob_job_state(asyncjob_event_job(ev))), want[i]);
		asyncjob_event_free(ev);
	}
	assert_int_equal(asyncjob_unsubscribe(aj), 0);
	asyncjob_free(aj);
	asyncjob_free(other);
}

static int progress_events;

static void count_progress(asyncjob *aj, const asyncjob_event *ev, void *userdata)
{
	(void)aj;
	(void)userdata;
	if (strcmp(asyncjob_event_method(ev), "gather.progress") == 0)
		progress_events++;
}

static void test_gather_progress_events(void **state)
{
	(void)state;
	asyncjob *aj = connect_client();
	asyncjob_spec *specs[3] = { sleep_spec(0, NULL), sleep_spec(0.01, NULL), sleep_spec(0.02, NULL) };
	asyncjob_job **jobs = NULL;
	bool ok;

	progress_events = 0;
	asyncjob_set_event_handler(aj, count_progress, NULL);
	assert_int_equal(asyncjob_gather(aj, specs, 3, ASYNCJOB_PROGRESS, 0, &jobs, &ok), 0);
	assert_true(ok);
	assert_int_equal(progress_events, 3);
	asyncjob_jobs_free(jobs);
	for (int i = 0; i < 3; i++)
		asyncjob_spec_free(specs[i]);
	asyncjob_free(aj);
}

/* ------------------------------------------------------------ async API */

struct replies {
	size_t count;
	size_t errors;
	uint64_t order[2];
	size_t n_order;
};

static void on_reply(asyncjob *aj, const asyncjob_reply *reply, void *userdata)
{
	struct replies *r = userdata;
	asyncjob_job *job = NULL;
	(void)aj;

	r->count++;
	if (asyncjob_reply_job(reply, &job) < 0) {
		r->errors++;
		return;
	}
	if (r->n_order < 2)
		r->order[r->n_order++] = asyncjob_job_id(job);
	asyncjob_job_unref(job);
}

static void poll_until(asyncjob *aj, const size_t *count, size_t want)
{
	while (*count < want) {
		int ev = asyncjob_events(aj);
		struct pollfd p = { .fd = asyncjob_fd(aj),
				    .events = (short)((ev & ASYNCJOB_EV_READ ? POLLIN : 0) |
						      (ev & ASYNCJOB_EV_WRITE ? POLLOUT : 0)) };
		assert_true(poll(&p, 1, 10000) > 0);
		int ready = (p.revents & (POLLIN | POLLHUP) ? ASYNCJOB_EV_READ : 0) |
			    (p.revents & POLLOUT ? ASYNCJOB_EV_WRITE : 0);
		assert_int_equal(asyncjob_process(aj, ready), 0);
	}
}

static void test_async_pipelined(void **state)
{
	(void)state;
	asyncjob *aj = connect_client();
	asyncjob_spec *s = sleep_spec(0, "p");
	struct replies r = { 0 };

	for (int i = 0; i < 1000; i++)
		assert_int_equal(asyncjob_send_submit(aj, s, ASYNCJOB_WAIT, on_reply, &r), 0);
	assert_int_equal(asyncjob_pending(aj), 1000);
	assert_true(asyncjob_events(aj) & ASYNCJOB_EV_WRITE);
	poll_until(aj, &r.count, 1000);
	assert_int_equal(r.errors, 0);
	assert_int_equal(asyncjob_pending(aj), 0);
	assert_int_equal(asyncjob_events(aj), ASYNCJOB_EV_READ);
	asyncjob_spec_free(s);
	asyncjob_free(aj);
}

static void test_async_out_of_order(void **state)
{
	(void)state;
	asyncjob *aj = connect_client();
	asyncjob_spec *slow = sleep_spec(0.2, NULL), *fast = sleep_spec(0, NULL);
	struct replies r = { 0 };

	assert_int_equal(asyncjob_send_submit(aj, slow, ASYNCJOB_WAIT, on_reply, &r), 0);
	assert_int_equal(asyncjob_send_submit(aj, fast, ASYNCJOB_WAIT, on_reply, &r), 0);
	poll_until(aj, &r.count, 2);
	/* The fast job (the second submitted, the higher id) replied first. */
	assert_true(r.order[0] > r.order[1]);
	asyncjob_spec_free(slow);
	asyncjob_spec_free(fast);
	asyncjob_free(aj);
}

static int freed_status = 1;
static struct event_base *test_base;

static void free_in_callback(asyncjob *aj, const asyncjob_reply *reply, void *userdata)
{
	(void)userdata;
	/* A callback may free its own connection: the free is deferred. */
	asyncjob_free(aj);
	freed_status = asyncjob_reply_status(reply);
	event_base_loopbreak(test_base);
}

static void count_canceled(asyncjob *aj, const asyncjob_reply *reply, void *userdata)
{
	(void)aj;
	if (asyncjob_reply_status(reply) == -ECANCELED)
		++*(int *)userdata;
}

static void test_libevent_adapter(void **state)
{
	(void)state;
	asyncjob *aj = connect_client();
	asyncjob_spec *s = sleep_spec(0.01, NULL), *never = sleep_spec(30, NULL);
	int canceled = 0;

	test_base = event_base_new();
	assert_int_equal(asyncjob_libevent_attach(aj, test_base), 0);
	/* The long one is still pending when the handle goes: its callback
	 * runs once with -ECANCELED. */
	assert_int_equal(asyncjob_send_submit(aj, never, ASYNCJOB_WAIT | ASYNCJOB_CANCEL_ON_DISCONNECT,
					      count_canceled, &canceled), 0);
	assert_int_equal(asyncjob_send_submit(aj, s, ASYNCJOB_WAIT, free_in_callback, NULL), 0);
	freed_status = 1;
	event_base_dispatch(test_base);
	assert_int_equal(freed_status, 0);
	assert_int_equal(canceled, 1);
	event_base_free(test_base);
	asyncjob_spec_free(s);
	asyncjob_spec_free(never);
}

/* ------------------------------------------------------------ large replies */

/* A gather's 2 MB reply is parsed as it arrives; every job comes out whole,
 * in input order. */
static void test_large_reply(void **state)
{
	(void)state;
	enum { N = 10000 };
	asyncjob *aj = connect_client();
	asyncjob_spec *s = sleep_spec(0, "a message long enough to make the reply large");
	asyncjob_spec **specs = calloc(N, sizeof(*specs));
	asyncjob_job **jobs = NULL;
	bool ok = false;
	double slept = -1;

	assert_non_null(specs);
	for (size_t i = 0; i < N; i++)
		specs[i] = s;
	assert_int_equal(asyncjob_gather(aj, specs, N, 0, 0, &jobs, &ok), 0);
	assert_true(ok);
	for (size_t i = 0; i < N; i++) {
		assert_non_null(jobs[i]);
		if (i > 0)
			assert_true(asyncjob_job_id(jobs[i]) == asyncjob_job_id(jobs[i - 1]) + 1);
		assert_int_equal(asyncjob_job_state(jobs[i]), ASYNCJOB_SUCCEEDED);
	}
	assert_null(jobs[N]);
	assert_string_equal(asyncjob_job_type(jobs[N - 1]), "sleep");
	assert_string_equal(asyncjob_job_result_string(jobs[N - 1], "message"),
			    "a message long enough to make the reply large");
	assert_int_equal(asyncjob_job_result_number(jobs[N - 1], "slept", &slept), 0);
	assert_true(slept >= 0);
	assert_non_null(asyncjob_job_finished_at(jobs[N - 1]));
	asyncjob_jobs_free(jobs);

	/* The same connection goes on. */
	char *info = NULL;
	assert_int_equal(asyncjob_info(aj, &info), 0);
	free(info);
	free(specs);
	asyncjob_spec_free(s);
	asyncjob_free(aj);
}

/* A reply over the size set is refused as it arrives, not once held. */
static void test_reply_over_max_size(void **state)
{
	(void)state;
	enum { N = 2000 };
	asyncjob *aj = connect_client();
	asyncjob_spec *s = sleep_spec(0, NULL);
	asyncjob_spec **specs = calloc(N, sizeof(*specs));
	asyncjob_job **jobs = NULL;
	bool ok = false;

	assert_non_null(specs);
	for (size_t i = 0; i < N; i++)
		specs[i] = s;
	assert_int_equal(asyncjob_set_max_reply_size(aj, 100), -EINVAL);
	assert_int_equal(asyncjob_set_max_reply_size(aj, 64 * 1024), 0);
	/* The connection is given up; the call says why. */
	assert_int_equal(asyncjob_gather(aj, specs, N, 0, 0, &jobs, &ok), -ECONNRESET);
	assert_non_null(strstr(asyncjob_errmsg(aj), "exceeded 65536 bytes"));
	assert_null(jobs);
	free(specs);
	asyncjob_spec_free(s);
	asyncjob_free(aj);
}

/* A server that answers the first request with `pieces`, written apart
 * with a pause between, then waits for the client to go. */
static pid_t fake_daemon(const char *path, const char *const *pieces)
{
	int lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	assert_true(lfd >= 0);
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	unlink(path);
	assert_int_equal(bind(lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(lfd, 1), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid > 0) {
		close(lfd);
		return pid;
	}
	int fd = accept(lfd, NULL, NULL);
	char c;
	while (fd >= 0 && read(fd, &c, 1) == 1 && c != '\n')
		;
	for (size_t i = 0; fd >= 0 && pieces[i]; i++) {
		if (write(fd, pieces[i], strlen(pieces[i])) < 0)
			_exit(1);
		usleep(20000);
	}
	while (fd >= 0 && read(fd, &c, 1) > 0)
		;
	_exit(0);
}

/* Replies cut anywhere, even inside a token, are put together; one that
 * turns out to be broken half way is an unreadable reply. */
static void test_reply_in_pieces(void **state)
{
	(void)state;
	char path[400];
	static const char *const good[] = {
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"res", "ult\":{\"jobs\":[{\"id\":4", "2,\"type\":\"sl",
		"eep\",\"state\":\"succeeded\",\"result\":{\"slept\":0.5}}", "],\"ok\":tr", "ue}}\n", NULL,
	};
	static const char *const broken[] = {
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"jobs\":[{\"id\":42,", "\"state\":\"succeeded\"}]x",
		"}}\n", NULL,
	};
	asyncjob *aj = NULL;
	asyncjob_job **jobs = NULL;
	asyncjob_spec *s = sleep_spec(0, NULL);
	asyncjob_spec *specs[1] = { s };
	bool ok = false;
	double slept = 0;
	int status;

	snprintf(path, sizeof(path), "%s/fake.sock", daemon_p.dir);
	pid_t pid = fake_daemon(path, good);
	assert_int_equal(asyncjob_new(&aj), 0);
	assert_int_equal(asyncjob_connect(aj, path), 0);
	assert_int_equal(asyncjob_gather(aj, specs, 1, 0, 0, &jobs, &ok), 0);
	assert_true(ok);
	assert_int_equal(asyncjob_job_id(jobs[0]), 42);
	assert_string_equal(asyncjob_job_type(jobs[0]), "sleep");
	assert_int_equal(asyncjob_job_result_number(jobs[0], "slept", &slept), 0);
	assert_true(slept == 0.5);
	asyncjob_jobs_free(jobs);
	jobs = NULL;
	asyncjob_free(aj);
	assert_int_equal(waitpid(pid, &status, 0), pid);

	pid = fake_daemon(path, broken);
	assert_int_equal(asyncjob_new(&aj), 0);
	assert_int_equal(asyncjob_connect(aj, path), 0);
	assert_int_equal(asyncjob_gather(aj, specs, 1, 0, 0, &jobs, &ok), -ECONNRESET);
	assert_non_null(strstr(asyncjob_errmsg(aj), "unreadable message"));
	assert_null(jobs);
	asyncjob_free(aj);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	unlink(path);
	asyncjob_spec_free(s);
}

/* ------------------------------------------------------------ failures */

static void test_connect_failures(void **state)
{
	(void)state;
	asyncjob *aj = NULL;
	char path[400];

	assert_int_equal(asyncjob_new(&aj), 0);
	snprintf(path, sizeof(path), "%s/missing.sock", daemon_p.dir);
	assert_int_equal(asyncjob_connect(aj, path), -ENOENT);
	assert_non_null(strstr(asyncjob_errmsg(aj), path));
	asyncjob_job *job = NULL;
	assert_int_equal(asyncjob_get(aj, 1, &job), -ENOTCONN);
	asyncjob_free(aj);

	/* The default socket honours ASYNCJOB_SOCKET. */
	char *def = NULL;
	setenv("ASYNCJOB_SOCKET", daemon_p.socket, 1);
	assert_int_equal(asyncjob_default_socket(&def), 0);
	assert_string_equal(def, daemon_p.socket);
	free(def);
	assert_int_equal(asyncjob_new(&aj), 0);
	assert_int_equal(asyncjob_connect(aj, NULL), 0);
	assert_string_equal(asyncjob_socket_path(aj), daemon_p.socket);
	asyncjob_free(aj);
	unsetenv("ASYNCJOB_SOCKET");
}

/* What asyncjob_default_socket() chose, compared with `want`: 0 when it
 * is that, else `code`. */
static int default_socket_is(const char *want, int code)
{
	char *def = NULL;
	if (asyncjob_default_socket(&def) < 0)
		return code;
	int r = strcmp(def, want) == 0 ? 0 : code;
	free(def);
	return r;
}

/* In a child that is not root (nobody, when the tests run as root): the
 * user's socket in XDG_RUNTIME_DIR when a socket is there, else the
 * system's. Exits 0 when every choice is right. */
static int user_default_socket(long uid, const char *runtime_dir, const char *empty_dir,
			       const char *file_dir)
{
	char want[400];
	asyncjob *aj = NULL;

	if (uid >= 0) {
		struct passwd *pw = getpwuid((uid_t)uid);
		if (!pw || setgroups(0, NULL) < 0 || setgid(pw->pw_gid) < 0 || setuid((uid_t)uid) < 0)
			return 10;
	}
	unsetenv("ASYNCJOB_SOCKET");
	snprintf(want, sizeof(want), "%s/asyncjobd.sock", runtime_dir);
	setenv("XDG_RUNTIME_DIR", runtime_dir, 1);
	if (default_socket_is(want, 11))
		return 11;
	/* And the daemon listening there is the one a default connect reaches. */
	if (asyncjob_new(&aj) < 0 || asyncjob_connect(aj, NULL) < 0)
		return 12;
	char *info = NULL;
	int r = asyncjob_info(aj, &info);
	bool same = asyncjob_socket_path(aj) && strcmp(asyncjob_socket_path(aj), want) == 0;
	free(info);
	asyncjob_free(aj);
	if (r < 0 || !same)
		return 13;
	/* No socket there, a file that is not one, no such variable, or one
	 * that is not an absolute path: the system socket. */
	setenv("XDG_RUNTIME_DIR", empty_dir, 1);
	if (default_socket_is(ASYNCJOB_SYSTEM_SOCKET, 14))
		return 14;
	setenv("XDG_RUNTIME_DIR", file_dir, 1);
	if (default_socket_is(ASYNCJOB_SYSTEM_SOCKET, 15))
		return 15;
	unsetenv("XDG_RUNTIME_DIR");
	if (default_socket_is(ASYNCJOB_SYSTEM_SOCKET, 16))
		return 16;
	setenv("XDG_RUNTIME_DIR", "relative", 1);
	if (default_socket_is(ASYNCJOB_SYSTEM_SOCKET, 17))
		return 17;
	return 0;
}

static void test_default_socket_choice(void **state)
{
	(void)state;
	struct daemon_proc user;
	char dir[] = "/tmp/asyncjob-test-XXXXXX", runtime_dir[64], empty_dir[64], file_dir[64];
	char path[128];
	long uid = -1;

	if (geteuid() == 0 && (uid = harness_nobody_uid()) < 0) {
		print_message("skipped: as root, needs a 'nobody' account\n");
		skip();
	}
	assert_non_null(mkdtemp(dir));
	assert_int_equal(chmod(dir, 0755), 0);
	snprintf(runtime_dir, sizeof(runtime_dir), "%s/runtime", dir);
	snprintf(empty_dir, sizeof(empty_dir), "%s/empty", dir);
	snprintf(file_dir, sizeof(file_dir), "%s/file", dir);
	assert_int_equal(mkdir(runtime_dir, 0755), 0);
	assert_int_equal(mkdir(empty_dir, 0755), 0);
	assert_int_equal(mkdir(file_dir, 0755), 0);
	snprintf(path, sizeof(path), "%s/asyncjobd.sock", file_dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/asyncjobd.sock", runtime_dir);
	harness_start_at(&user, "socket_mode = 0666\n", path);

	/* ASYNCJOB_SOCKET first, unless it is empty. */
	setenv("XDG_RUNTIME_DIR", runtime_dir, 1);
	setenv("ASYNCJOB_SOCKET", "/somewhere/else.sock", 1);
	assert_int_equal(default_socket_is("/somewhere/else.sock", 1), 0);
	setenv("ASYNCJOB_SOCKET", "", 1);
	if (geteuid() == 0) {
		/* Root's is the system socket, whatever XDG_RUNTIME_DIR holds. */
		assert_int_equal(default_socket_is(ASYNCJOB_SYSTEM_SOCKET, 1), 0);
	} else {
		assert_int_equal(default_socket_is(path, 1), 0);
	}
	unsetenv("ASYNCJOB_SOCKET");
	unsetenv("XDG_RUNTIME_DIR");

	int status;
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(user_default_socket(uid, runtime_dir, empty_dir, file_dir));
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);

	assert_int_equal(harness_stop(&user, 10000), 0);
	harness_cleanup(&user);
	assert_int_equal(harness_remove_tree(dir), 0);
}

static void on_alarm(int sig)
{
	(void)sig;
}

static void test_signal_interrupts_blocking_call(void **state)
{
	(void)state;
	asyncjob *aj = connect_client();
	uint64_t id = submit_detached(aj, 30, 0);
	asyncjob_job **jobs = NULL;
	bool timed_out;
	struct sigaction sa = { .sa_handler = on_alarm }, old;
	struct itimerval it = { .it_value = { .tv_usec = 100000 } };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, &old);
	setitimer(ITIMER_REAL, &it, NULL);
	assert_int_equal(asyncjob_wait(aj, &id, 1, false, -1, &jobs, &timed_out), -EINTR);
	sigaction(SIGALRM, &old, NULL);

	/* Still usable; the abandoned reply, when it comes, is dropped. */
	asyncjob_job *job = NULL;
	assert_int_equal(asyncjob_cancel(aj, id, &job), 0);
	assert_int_equal(asyncjob_job_state(job), ASYNCJOB_CANCELED);
	asyncjob_job_unref(job);
	char *info = NULL;
	assert_int_equal(asyncjob_info(aj, &info), 0);
	free(info);
	asyncjob_free(aj);
}

/* ------------------------------------------------------------ across restarts */

/* A daemon of a test's own on `socket`, stopped and started again under a
 * client. With `sqlite`, its jobs are kept in `state`. */
struct restarting {
	struct daemon_proc daemon;
	char dir[64];                  /* the socket and the state directory */
	char socket[128];
	char config[256];
	bool start_again;              /* when the client loses it */
	bool submit_when_back;         /* another client submits a job then */
	asyncjob_reconnect_event told[8];
	size_t n_told;
	uint64_t ids[8];
	size_t n_ids;
};

static void restarting_start(struct restarting *r, bool sqlite)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->dir, sizeof(r->dir), "/tmp/asyncjob-test-XXXXXX");
	assert_non_null(mkdtemp(r->dir));
	snprintf(r->socket, sizeof(r->socket), "%s/s.sock", r->dir);
	if (sqlite)
		snprintf(r->config, sizeof(r->config), "store = sqlite\nstate_directory = %s/state",
			 r->dir);
	else
		snprintf(r->config, sizeof(r->config), "store = memory\n");
	harness_start_at(&r->daemon, r->config, r->socket);
}

static void restarting_cleanup(struct restarting *r)
{
	if (r->daemon.pid > 0)
		assert_int_equal(harness_stop(&r->daemon, 10000), 0);
	harness_cleanup(&r->daemon);
	assert_int_equal(harness_remove_tree(r->dir), 0);
}

/* Reaps the daemon that stopped or was killed, and starts the next one on
 * the same socket and store a moment later, without waiting for it: the
 * client finds no daemon at first and has to try again. */
static void start_again_later(struct restarting *r)
{
	int status;
	assert_int_equal(waitpid(r->daemon.pid, &status, 0), r->daemon.pid);
	r->daemon.pid = 0;
	harness_cleanup(&r->daemon);
	harness_prepare(&r->daemon, r->config);
	snprintf(r->daemon.socket, sizeof(r->daemon.socket), "%s", r->socket);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		const char *bin = getenv("ASYNCJOBD");
		int fd = open(r->daemon.log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd >= 0) {
			dup2(fd, STDERR_FILENO);
			close(fd);
		}
		harness_sleep_ms(300);
		execl(bin, bin, "-c", r->daemon.config, "-s", r->socket, (char *)NULL);
		_exit(127);
	}
	r->daemon.pid = pid;
}

static void on_reconnect(asyncjob *aj, asyncjob_reconnect_event what, const uint64_t *ids,
			 size_t n, void *userdata)
{
	struct restarting *r = userdata;
	(void)aj;

	if (r->n_told < 8)
		r->told[r->n_told++] = what;
	if (what == ASYNCJOB_RECONNECTED) {
		if (r->submit_when_back) {
			asyncjob *other = NULL;
			assert_int_equal(asyncjob_new(&other), 0);
			assert_int_equal(asyncjob_connect(other, r->socket), 0);
			submit_detached(other, 30, 0);
			asyncjob_free(other);
		}
		return;
	}
	r->n_ids = n < 8 ? n : 8;
	memcpy(r->ids, ids, r->n_ids * sizeof(*ids));
	if (r->start_again)
		start_again_later(r);
	else {
		int status;
		assert_int_equal(waitpid(r->daemon.pid, &status, 0), r->daemon.pid);
		r->daemon.pid = 0;
	}
}

/* Sends `sig` to the daemon from a child process once `n` jobs run: then
 * the request that made them waits for them (they sleep long enough). */
static void signal_once_running(struct restarting *r, size_t n, int sig)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid > 0)
		return;
	for (int tries = 0; tries < 1000; tries++) {
		int fd = raw_connect(r->socket);
		const char *line = NULL;
		if (fd >= 0 && raw_send(fd, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"job.list\","
					"\"params\":{\"state\":\"running\"}}") == 0)
			line = raw_recv(fd, 5000);
		size_t running = 0;
		for (const char *p = line; p && (p = strstr(p, "\"state\":\"running\"")); p++)
			running++;
		if (fd >= 0)
			raw_close(fd);
		if (running >= n) {
			kill(r->daemon.pid, sig);
			_exit(0);
		}
		harness_sleep_ms(10);
	}
	_exit(1);
}

static asyncjob *connect_restarting(struct restarting *r, double seconds)
{
	asyncjob *aj = NULL;
	assert_int_equal(asyncjob_new(&aj), 0);
	if (asyncjob_connect(aj, r->socket) < 0)
		fail_msg("connect: %s", asyncjob_errmsg(aj));
	assert_int_equal(asyncjob_set_reconnect(aj, seconds, on_reconnect, r), 0);
	return aj;
}

static void reap_children(void)
{
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
}

static void test_submit_wait_follows_a_restart(void **state)
{
	(void)state;
	struct restarting r;
	restarting_start(&r, true);
	r.start_again = true;
	asyncjob *aj = connect_restarting(&r, 30);
	asyncjob_spec *s = sleep_spec(1, "tea");
	asyncjob_job *job = NULL;

	signal_once_running(&r, 1, SIGTERM);
	int rc = asyncjob_submit(aj, s, ASYNCJOB_WAIT, &job);
	if (rc < 0)
		fail_msg("submit: %s", asyncjob_errmsg(aj));
	assert_string_equal(asyncjob_job_result_string(job, "message"), "tea");
	/* The daemon said it restarts, named the job, and came back. */
	assert_int_equal(r.n_told, 2);
	assert_int_equal(r.told[0], ASYNCJOB_DAEMON_RESTARTING);
	assert_int_equal(r.told[1], ASYNCJOB_RECONNECTED);
	assert_int_equal(r.n_ids, 1);
	assert_int_equal(r.ids[0], asyncjob_job_id(job));
	asyncjob_job_unref(job);
	asyncjob_spec_free(s);
	asyncjob_free(aj);
	reap_children();
	restarting_cleanup(&r);
}

static void test_gather_follows_a_restart(void **state)
{
	(void)state;
	struct restarting r;
	restarting_start(&r, true);
	r.start_again = true;
	asyncjob *aj = connect_restarting(&r, 30);
	asyncjob_spec *specs[3] = { sleep_spec(1, "Hello"), sleep_spec(1.2, "World"),
				    sleep_spec(0.8, "!") };
	asyncjob_job **jobs = NULL;
	bool ok = false;

	signal_once_running(&r, 3, SIGTERM);
	int rc = asyncjob_gather(aj, specs, 3, ASYNCJOB_CANCEL_ON_DISCONNECT, 0, &jobs, &ok);
	if (rc < 0)
		fail_msg("gather: %s", asyncjob_errmsg(aj));
	assert_true(ok);
	assert_string_equal(asyncjob_job_result_string(jobs[0], "message"), "Hello");
	assert_string_equal(asyncjob_job_result_string(jobs[1], "message"), "World");
	assert_string_equal(asyncjob_job_result_string(jobs[2], "message"), "!");
	assert_null(jobs[3]);
	assert_int_equal(r.told[0], ASYNCJOB_DAEMON_RESTARTING);
	assert_int_equal(r.n_ids, 3);
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(r.ids[i], asyncjob_job_id(jobs[i]));
	asyncjob_jobs_free(jobs);
	for (size_t i = 0; i < 3; i++)
		asyncjob_spec_free(specs[i]);
	asyncjob_free(aj);
	reap_children();
	restarting_cleanup(&r);
}

/* The daemon no longer watches the gather: the library stops it at the
 * first failure as the daemon would have. */
static void test_fail_fast_gather_across_a_restart(void **state)
{
	(void)state;
	struct restarting r;
	restarting_start(&r, true);
	r.start_again = true;
	asyncjob *aj = connect_restarting(&r, 30);
	asyncjob_spec *specs[2] = { sleep_spec(30, NULL), sleep_spec(30, NULL) };
	asyncjob_job **jobs = NULL;
	bool ok = true;

	assert_int_equal(asyncjob_spec_set_timeout(specs[0], 1.5), 0);
	signal_once_running(&r, 2, SIGTERM);
	int rc = asyncjob_gather(aj, specs, 2, ASYNCJOB_FAIL_FAST, 0, &jobs, &ok);
	if (rc < 0)
		fail_msg("gather: %s", asyncjob_errmsg(aj));
	assert_false(ok);
	assert_int_equal(asyncjob_job_state(jobs[0]), ASYNCJOB_FAILED);
	assert_string_equal(asyncjob_job_error_code(jobs[0]), "timeout");
	assert_int_equal(asyncjob_job_state(jobs[1]), ASYNCJOB_CANCELED);
	asyncjob_jobs_free(jobs);
	asyncjob_spec_free(specs[0]);
	asyncjob_spec_free(specs[1]);
	asyncjob_free(aj);
	reap_children();
	restarting_cleanup(&r);
}

static void test_wait_follows_a_crash(void **state)
{
	(void)state;
	struct restarting r;
	restarting_start(&r, true);
	r.start_again = true;
	asyncjob *aj = connect_restarting(&r, 30);
	uint64_t id = submit_detached(aj, 1, 0);
	asyncjob_job **jobs = NULL;
	bool timed_out = true;

	signal_once_running(&r, 1, SIGKILL);
	/* Its timeout counts across the crash, and is long enough for it. */
	int rc = asyncjob_wait(aj, &id, 1, false, 60, &jobs, &timed_out);
	if (rc < 0)
		fail_msg("wait: %s", asyncjob_errmsg(aj));
	assert_false(timed_out);
	assert_int_equal(asyncjob_job_state(jobs[0]), ASYNCJOB_SUCCEEDED);
	assert_int_equal(r.told[0], ASYNCJOB_CONNECTION_LOST);
	assert_int_equal(r.told[1], ASYNCJOB_RECONNECTED);
	asyncjob_jobs_free(jobs);
	asyncjob_free(aj);
	reap_children();
	restarting_cleanup(&r);
}

static void test_reconnect_gives_up(void **state)
{
	(void)state;
	struct restarting r;
	restarting_start(&r, true);
	asyncjob *aj = connect_restarting(&r, 0.5);
	uint64_t id = submit_detached(aj, 30, 0);
	asyncjob_job **jobs = NULL;
	bool timed_out;

	signal_once_running(&r, 1, SIGTERM);
	assert_int_equal(asyncjob_wait(aj, &id, 1, false, -1, &jobs, &timed_out), -ETIMEDOUT);
	assert_non_null(strstr(asyncjob_errmsg(aj), "did not come back within 0.5 s"));
	assert_int_equal(r.n_told, 1);
	/* Once it is back, the handle connects again and the job is there. */
	harness_cleanup(&r.daemon);
	harness_start_at(&r.daemon, r.config, r.socket);
	assert_int_equal(asyncjob_reconnect(aj), 0);
	asyncjob_job *job = NULL;
	assert_int_equal(asyncjob_cancel(aj, id, &job), 0);
	asyncjob_job_unref(job);
	asyncjob_free(aj);
	reap_children();
	restarting_cleanup(&r);
}

/* A wait's timeout is the most the caller waits, reconnecting included. */
static void test_wait_timeout_bounds_reconnecting(void **state)
{
	(void)state;
	struct restarting r;
	restarting_start(&r, true);
	asyncjob *aj = connect_restarting(&r, 30);
	uint64_t id = submit_detached(aj, 30, 0);
	asyncjob_job **jobs = NULL;
	bool timed_out;

	signal_once_running(&r, 1, SIGTERM);
	assert_int_equal(asyncjob_wait(aj, &id, 1, false, 1, &jobs, &timed_out), -ETIMEDOUT);
	assert_non_null(strstr(asyncjob_errmsg(aj), "did not come back before the wait's timeout"));
	asyncjob_free(aj);
	reap_children();
	restarting_cleanup(&r);
}

/* A daemon that keeps jobs in memory starts over at id 1: a job from
 * before is not followed, even when a new one has its id. */
static void test_memory_daemon_loses_the_job(void **state)
{
	(void)state;
	struct restarting r;
	restarting_start(&r, false);
	r.start_again = true;
	asyncjob *aj = connect_restarting(&r, 30);
	uint64_t id = submit_detached(aj, 30, 0);
	asyncjob_job **jobs = NULL;
	bool timed_out;

	r.submit_when_back = true;
	signal_once_running(&r, 1, SIGKILL);
	assert_int_equal(asyncjob_wait(aj, &id, 1, false, -1, &jobs, &timed_out), -EREMOTEIO);
	assert_int_equal(asyncjob_rpc_error_code(aj), ASYNCJOB_RPC_JOB_NOT_FOUND);
	assert_non_null(strstr(asyncjob_errmsg(aj), "lost when asyncjobd restarted"));
	/* The new daemon did give the id to another job. */
	asyncjob_job *other = NULL;
	assert_int_equal(asyncjob_get(aj, id, &other), 0);
	asyncjob_job_unref(other);
	asyncjob_free(aj);
	reap_children();
	restarting_cleanup(&r);
}

/* A daemon that keeps jobs on disk, but came back on another store. */
static void test_durable_daemon_without_the_job(void **state)
{
	(void)state;
	struct restarting r;
	restarting_start(&r, true);
	r.start_again = true;
	asyncjob *aj = connect_restarting(&r, 30);
	uint64_t id = submit_detached(aj, 30, 0);
	asyncjob_job **jobs = NULL;
	bool timed_out;

	snprintf(r.config, sizeof(r.config), "store = sqlite\nstate_directory = %s/other", r.dir);
	signal_once_running(&r, 1, SIGTERM);
	assert_int_equal(asyncjob_wait(aj, &id, 1, false, -1, &jobs, &timed_out), -EREMOTEIO);
	assert_int_equal(asyncjob_rpc_error_code(aj), ASYNCJOB_RPC_JOB_NOT_FOUND);
	assert_non_null(strstr(asyncjob_errmsg(aj), "was lost when asyncjobd restarted"));
	asyncjob_free(aj);
	reap_children();
	restarting_cleanup(&r);
}

static void test_reconnect_arguments(void **state)
{
	(void)state;
	asyncjob *aj = NULL;
	assert_int_equal(asyncjob_new(&aj), 0);
	assert_int_equal(asyncjob_set_reconnect(aj, -1, NULL, NULL), -EINVAL);
	assert_int_equal(asyncjob_set_reconnect(aj, INFINITY, NULL, NULL), -EINVAL);
	assert_int_equal(asyncjob_set_reconnect(aj, 0, NULL, NULL), 0);
	/* Never connected: nothing to connect to again. */
	assert_int_equal(asyncjob_reconnect(aj), -ENOTCONN);
	asyncjob_free(aj);
}

static asyncjob_job *last_job;

static void keep_job(asyncjob *aj, const asyncjob_reply *reply, void *userdata)
{
	(void)aj;
	++*(size_t *)userdata;
	assert_int_equal(asyncjob_reply_job(reply, &last_job), 0);
}

/* Runs last: it stops the daemon under a waiting client. */
static void test_daemon_stops_mid_call(void **state)
{
	(void)state;
	asyncjob *aj = connect_client();
	asyncjob_spec *s = sleep_spec(30, NULL);
	asyncjob_job **jobs = NULL;
	size_t n = 0, replies = 0;

	assert_int_equal(asyncjob_send_submit(aj, s, ASYNCJOB_WAIT, keep_job, &replies), 0);
	/* Requests are handled in order: once this answers, the job runs. */
	assert_int_equal(asyncjob_list(aj, "running", NULL, 0, &jobs, &n), 0);
	assert_true(n >= 1);
	asyncjob_jobs_free(jobs);

	/* SIGTERM: the daemon cancels the job with code shutdown and still
	 * answers the waiting request before it exits 0. */
	kill(daemon_p.pid, SIGTERM);
	poll_until(aj, &replies, 1);
	assert_int_equal(asyncjob_job_state(last_job), ASYNCJOB_CANCELED);
	assert_string_equal(asyncjob_job_error_code(last_job), "shutdown");
	last_job = asyncjob_job_unref(last_job);
	assert_int_equal(harness_wait(&daemon_p, 10000), 0);

	/* Now nobody answers: calls fail cleanly with a lost connection. */
	char *info = NULL;
	int rc = asyncjob_info(aj, &info);
	assert_true(rc == -ECONNRESET || rc == -ENOTCONN);
	assert_true(strlen(asyncjob_errmsg(aj)) > 0);
	asyncjob_spec_free(s);
	asyncjob_free(aj);
	/* Restart so the group teardown has a daemon to stop. */
	harness_cleanup(&daemon_p);
	harness_start(&daemon_p, daemon_config);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_submit_wait_and_get),
		cmocka_unit_test(test_gather_runs_concurrently),
		cmocka_unit_test(test_gather_fail_fast),
		cmocka_unit_test(test_gather_timeout),
		cmocka_unit_test(test_wait_any_all_timeout),
		cmocka_unit_test(test_rpc_errors_reported),
		cmocka_unit_test(test_list_filters),
		cmocka_unit_test(test_idempotency_key),
		cmocka_unit_test(test_cancel_on_disconnect),
		cmocka_unit_test(test_events_and_replay),
		cmocka_unit_test(test_gather_progress_events),
		cmocka_unit_test(test_async_pipelined),
		cmocka_unit_test(test_async_out_of_order),
		cmocka_unit_test(test_libevent_adapter),
		cmocka_unit_test(test_large_reply),
		cmocka_unit_test(test_reply_over_max_size),
		cmocka_unit_test(test_reply_in_pieces),
		cmocka_unit_test(test_connect_failures),
		cmocka_unit_test(test_default_socket_choice),
		cmocka_unit_test(test_signal_interrupts_blocking_call),
		cmocka_unit_test(test_submit_wait_follows_a_restart),
		cmocka_unit_test(test_gather_follows_a_restart),
		cmocka_unit_test(test_fail_fast_gather_across_a_restart),
		cmocka_unit_test(test_wait_follows_a_crash),
		cmocka_unit_test(test_reconnect_gives_up),
		cmocka_unit_test(test_wait_timeout_bounds_reconnecting),
		cmocka_unit_test(test_memory_daemon_loses_the_job),
		cmocka_unit_test(test_durable_daemon_without_the_job),
		cmocka_unit_test(test_reconnect_arguments),
		cmocka_unit_test(test_daemon_stops_mid_call),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
