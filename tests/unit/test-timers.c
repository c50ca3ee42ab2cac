/* Timers: sleeps finish in deadline order, replies come as jobs finish, job
 * and gather timeouts fail jobs, fail_fast cancels the rest, job.wait's
 * modes and timeout. Only order and "slept >= seconds" are asserted, never
 * an upper bound on time. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/common/json-assert.h"

/* ------------------------------------------------------------ helpers */

/* The job at `path` slept at least `seconds`. */
#define assert_slept(o, path, seconds)                                                   \
	do {                                                                             \
		struct json_object *v_ = tj_path((o), (path));                           \
		if (!v_)                                                                 \
			fail_msg("%s missing in %s", (path), json_object_to_json_string(o)); \
		if (json_object_get_double(v_) < (seconds))                              \
			fail_msg("%s: slept %.9g < %g", (path), json_object_get_double(v_), \
				 (double)(seconds));                                     \
	} while (0)

/* Submits a sleep without waiting; returns the job id. */
static int64_t submit(struct fixture *f, double seconds, const char *extra)
{
	struct json_object *r = tj_callf(f, "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"job.submit\","
					 "\"params\":{\"type\":\"sleep\",\"seconds\":%g%s}}", seconds,
					 extra ? extra : "");
	return tj_take_job_id(r);
}

/* ------------------------------------------------------------ tests */

static void test_finish_in_deadline_order(void **state)
{
	struct fixture *f = *state;
	static const double seconds[] = { 0.05, 0.01, 0.03, 0 };
	int64_t job_of[4] = { 0, 0, 0, 0 };
	int64_t finished[4] = { 0, 0, 0, 0 };
	size_t n_finished = 0, n_replies = 0;
	char lines[1024];
	size_t len = 0;

	struct json_object *r = tj_callf(f, "{\"jsonrpc\":\"2.0\",\"id\":\"sub\","
					 "\"method\":\"events.subscribe\"}");
	assert_jbool(r, "result.missed", false);
	tj_put(r);

	/* All four in one write, so they are submitted in one go. */
	for (int i = 0; i < 4; i++)
		len += (size_t)snprintf(lines + len, sizeof(lines) - len,
					"{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"job.submit\","
					"\"params\":{\"type\":\"sleep\",\"seconds\":%g}}\n",
					i, seconds[i]);
	fixture_send_raw(f, lines, len);

	while (n_finished < 4 || n_replies < 4) {
		r = tj_recv(f, 10000);
		struct json_object *method = tj_path(r, "method");
		if (!method) {
			int64_t i = json_object_get_int64(tj_path(r, "id"));
			assert_true(i >= 0 && i < 4);
			job_of[i] = json_object_get_int64(tj_path(r, "result.id"));
			n_replies++;
		} else {
			assert_string_equal(json_object_get_string(method), "job.updated");
			const char *st = json_object_get_string(tj_path(r, "params.job.state"));
			assert_non_null(st);
			if (strcmp(st, "succeeded") == 0) {
				assert_true(n_finished < 4);
				finished[n_finished++] = json_object_get_int64(tj_path(r, "params.job.id"));
			}
		}
		tj_put(r);
	}
	/* 0, 0.01, 0.03, 0.05: requests 3, 1, 2, 0. */
	const int order[] = { 3, 1, 2, 0 };
	for (int k = 0; k < 4; k++)
		if (finished[k] != job_of[order[k]])
			fail_msg("finish %d was job %lld, expected job %lld (the %g s sleep)", k,
				 (long long)finished[k], (long long)job_of[order[k]],
				 seconds[order[k]]);
}

static void test_wait_replies_out_of_order(void **state)
{
	struct fixture *f = *state;
	static const char both[] =
		"{\"jsonrpc\":\"2.0\",\"id\":\"slow\",\"method\":\"job.submit\","
		"\"params\":{\"type\":\"sleep\",\"seconds\":0.05,\"wait\":true}}\n"
		"{\"jsonrpc\":\"2.0\",\"id\":\"fast\",\"method\":\"job.submit\","
		"\"params\":{\"type\":\"sleep\",\"seconds\":0.01,\"wait\":true}}\n";

	fixture_send_raw(f, both, sizeof(both) - 1);
	struct json_object *first = tj_recv(f, 10000);
	struct json_object *second = tj_recv(f, 10000);
	assert_jstr(first, "id", "fast");
	assert_jstr(first, "result.state", "succeeded");
	assert_slept(first, "result.result.slept", 0.01);
	assert_jstr(second, "id", "slow");
	assert_jstr(second, "result.state", "succeeded");
	assert_slept(second, "result.result.slept", 0.05);
	tj_put(first);
	tj_put(second);
}

static void test_job_timeout(void **state)
{
	struct fixture *f = *state;
	struct json_object *r = tj_callf(f, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"job.submit\","
					 "\"params\":{\"type\":\"sleep\",\"seconds\":30,"
					 "\"timeout\":0.02,\"wait\":true}}");
	assert_jint(r, "id", 1);
	assert_jstr(r, "result.state", "failed");
	assert_jstr(r, "result.error.code", "timeout");
	assert_non_null(tj_path(r, "result.error.message"));
	assert_null(tj_path(r, "result.result"));
	assert_non_null(tj_path(r, "result.started_at"));
	assert_non_null(tj_path(r, "result.finished_at"));
	tj_put(r);

	/* A timeout longer than the sleep changes nothing. */
	r = tj_callf(f, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"job.submit\","
		     "\"params\":{\"type\":\"sleep\",\"seconds\":0.01,\"timeout\":30,\"wait\":true}}");
	assert_jstr(r, "result.state", "succeeded");
	assert_slept(r, "result.result.slept", 0.01);
	tj_put(r);
}

static void test_gather_timeout(void **state)
{
	struct fixture *f = *state;
	struct json_object *r = tj_callf(f, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"job.gather\","
					 "\"params\":{\"timeout\":0.05,\"jobs\":["
					 "{\"type\":\"sleep\",\"seconds\":0.01},"
					 "{\"type\":\"sleep\",\"seconds\":30},"
					 "{\"type\":\"sleep\",\"seconds\":31}]}}");
	assert_jint(r, "id", 1);
	assert_jbool(r, "result.ok", false);
	assert_jstr(r, "result.jobs.0.state", "succeeded");
	assert_slept(r, "result.jobs.0.result.slept", 0.01);
	assert_jstr(r, "result.jobs.1.state", "failed");
	assert_jstr(r, "result.jobs.1.error.code", "timeout");
	assert_jstr(r, "result.jobs.2.state", "failed");
	assert_jstr(r, "result.jobs.2.error.code", "timeout");
	tj_put(r);
}

static void test_gather_timeout_with_reused_key(void **state)
{
	struct fixture *f = *state;
	int64_t long_job = submit(f, 60, ",\"key\":\"long\"");

	/* "Jobs not finished that many seconds after the gather started fail
	 * with code timeout" (PROTOCOL.md), also one an item names by its key:
	 * the reply must not wait the minute that job has left. */
	fixture_send(f, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"job.gather\","
		     "\"params\":{\"timeout\":0.05,\"jobs\":["
		     "{\"type\":\"sleep\",\"seconds\":60,\"key\":\"long\"},"
		     "{\"type\":\"sleep\",\"seconds\":0.01}]}}");
	/* The fixture's usual patience, 100 times the gather's timeout. */
	const char *line = fixture_recv(f, 5000);
	if (!line)
		fail_msg("a gather with timeout 0.05 s had not replied after 5 s");
	struct json_object *r = tj_track(tj_parse(line));
	assert_jint(r, "id", 1);
	assert_jint(r, "result.jobs.0.id", long_job);
	assert_jstr(r, "result.jobs.0.state", "failed");
	assert_jstr(r, "result.jobs.0.error.code", "timeout");
	assert_jbool(r, "result.ok", false);
	assert_jstr(r, "result.jobs.1.state", "succeeded");
	tj_put(r);
}

static void test_gather_fail_fast(void **state)
{
	struct fixture *f = *state;
	struct json_object *r = tj_callf(f, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"job.gather\","
					 "\"params\":{\"fail_fast\":true,\"jobs\":["
					 "{\"type\":\"sleep\",\"seconds\":30,\"timeout\":0.01},"
					 "{\"type\":\"sleep\",\"seconds\":30}]}}");
	assert_jbool(r, "result.ok", false);
	assert_jstr(r, "result.jobs.0.state", "failed");
	assert_jstr(r, "result.jobs.0.error.code", "timeout");
	assert_jstr(r, "result.jobs.1.state", "canceled");
	assert_jstr(r, "result.jobs.1.error.code", "canceled");
	int64_t other = json_object_get_int64(tj_path(r, "result.jobs.1.id"));
	tj_put(r);

	/* The canceled job stays canceled. */
	r = tj_callf(f, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"job.get\",\"params\":{\"id\":%lld}}",
		     (long long)other);
	assert_jstr(r, "result.state", "canceled");
	tj_put(r);
}

static void test_gather_without_fail_fast(void **state)
{
	struct fixture *f = *state;
	/* One failure does not stop the others without fail_fast. */
	struct json_object *r = tj_callf(f, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"job.gather\","
					 "\"params\":{\"jobs\":["
					 "{\"type\":\"sleep\",\"seconds\":30,\"timeout\":0.01},"
					 "{\"type\":\"sleep\",\"seconds\":0.03}]}}");
	assert_jbool(r, "result.ok", false);
	assert_jstr(r, "result.jobs.0.error.code", "timeout");
	assert_jstr(r, "result.jobs.1.state", "succeeded");
	assert_slept(r, "result.jobs.1.result.slept", 0.03);
	tj_put(r);
}

static void test_wait_any(void **state)
{
	struct fixture *f = *state;
	int64_t slow = submit(f, 30, NULL);
	int64_t fast = submit(f, 0.01, NULL);

	struct json_object *r = tj_callf(f, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"job.wait\","
					 "\"params\":{\"ids\":[%lld,%lld],\"mode\":\"any\"}}",
					 (long long)slow, (long long)fast);
	assert_jbool(r, "result.timed_out", false);
	/* In the order asked for. */
	assert_jint(r, "result.jobs.0.id", slow);
	assert_jstr(r, "result.jobs.0.state", "running");
	assert_jint(r, "result.jobs.1.id", fast);
	assert_jstr(r, "result.jobs.1.state", "succeeded");
	assert_slept(r, "result.jobs.1.result.slept", 0.01);
	tj_put(r);
}

static void test_wait_all(void **state)
{
	struct fixture *f = *state;
	int64_t a = submit(f, 0.03, NULL);
	int64_t b = submit(f, 0.01, NULL);

	struct json_object *r = tj_callf(f, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"job.wait\","
					 "\"params\":{\"ids\":[%lld,%lld],\"mode\":\"all\"}}",
					 (long long)a, (long long)b);
	assert_jbool(r, "result.timed_out", false);
	assert_jstr(r, "result.jobs.0.state", "succeeded");
	assert_slept(r, "result.jobs.0.result.slept", 0.03);
	assert_jstr(r, "result.jobs.1.state", "succeeded");
	assert_slept(r, "result.jobs.1.result.slept", 0.01);
	tj_put(r);

	/* "all" is the default; finished jobs answer at once. */
	r = tj_callf(f, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"job.wait\","
		     "\"params\":{\"ids\":[%lld]}}", (long long)a);
	assert_jbool(r, "result.timed_out", false);
	assert_jstr(r, "result.jobs.0.state", "succeeded");
	tj_put(r);
}

static void test_wait_timeout(void **state)
{
	struct fixture *f = *state;
	int64_t slow = submit(f, 30, NULL);
	int64_t fast = submit(f, 0.01, NULL);

	struct json_object *r = tj_callf(f, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"job.wait\","
					 "\"params\":{\"ids\":[%lld,%lld],\"timeout\":0.05}}",
					 (long long)slow, (long long)fast);
	assert_jint(r, "id", 1);
	assert_jbool(r, "result.timed_out", true);
	assert_jstr(r, "result.jobs.0.state", "running");
	assert_jstr(r, "result.jobs.1.state", "succeeded");
	tj_put(r);

	/* A wait timing out does not touch the job. */
	r = tj_callf(f, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"job.get\",\"params\":{\"id\":%lld}}",
		     (long long)slow);
	assert_jstr(r, "result.state", "running");
	tj_put(r);

	/* timeout 0: a poll. */
	r = tj_callf(f, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"job.wait\","
		     "\"params\":{\"ids\":[%lld],\"timeout\":0}}", (long long)slow);
	assert_jbool(r, "result.timed_out", true);
	assert_jstr(r, "result.jobs.0.state", "running");
	tj_put(r);
}

static void test_slept_at_least_seconds(void **state)
{
	struct fixture *f = *state;
	static const double seconds[] = { 0.001, 0.0015, 0.002, 0.005, 0.0123, 0.02 };

	/* Repeated, since being a little short shows only now and then. */
	for (int round = 0; round < 10; round++) {
		for (size_t i = 0; i < sizeof(seconds) / sizeof(seconds[0]); i++) {
			struct json_object *r = tj_callf(
				f, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"job.submit\","
				   "\"params\":{\"type\":\"sleep\",\"seconds\":%g,\"wait\":true}}",
				seconds[i]);
			assert_jstr(r, "result.state", "succeeded");
			assert_slept(r, "result.result.slept", seconds[i]);
			tj_put(r);
		}
	}
}

static void test_slept_after_busy_turn(void **state)
{
	struct fixture *f = *state;
	static const char info[] = "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"daemon.info\"},";
	static const char sleep[] = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"job.submit\","
				    "\"params\":{\"type\":\"sleep\",\"seconds\":0.01,\"wait\":true}}]";
	enum { N_BEFORE = 2000 };
	size_t len = 1 + N_BEFORE * (sizeof(info) - 1) + sizeof(sleep) - 1;
	char *buf = malloc(len + 1);
	assert_non_null(buf);

	/* One batch with much work ahead of the sleep: the message is busy
	 * for a while before the sleep starts, and the sleep must still last
	 * its whole time from the start it reports. */
	buf[0] = '[';
	for (size_t i = 0; i < N_BEFORE; i++)
		memcpy(buf + 1 + i * (sizeof(info) - 1), info, sizeof(info) - 1);
	memcpy(buf + 1 + N_BEFORE * (sizeof(info) - 1), sleep, sizeof(sleep) - 1);
	buf[len] = '\0';
	struct json_object *r = tj_call(f, buf);
	free(buf);

	/* The reply is large: take what is checked, free it, then check. */
	size_t n = json_object_is_type(r, json_type_array) ? json_object_array_length(r) : 0;
	struct json_object *last = json_object_get(json_object_array_get_idx(r, N_BEFORE));
	if (last)
		tj_track(last);
	tj_put(r);
	assert_int_equal(n, N_BEFORE + 1);
	assert_jint(last, "id", 1);
	assert_jstr(last, "result.state", "succeeded");
	assert_slept(last, "result.result.slept", 0.01);
	tj_put(last);
}

/* A gather's jobs are submitted and started at one instant, the one its
 * message was taken up at, and each sleeps its whole time from it: started
 * one by one, 10,000 would span milliseconds (more under the sanitizers). */
static void test_gather_starts_together(void **state)
{
	struct fixture *f = *state;
	enum { N = 10000 };
	static const char spec[] = "{\"type\":\"sleep\",\"seconds\":0.02},";
	static const char head[] = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"job.gather\","
				   "\"params\":{\"jobs\":[";
	size_t len = sizeof(head) - 1 + N * (sizeof(spec) - 1) + 3;
	char *buf = malloc(len + 1), *p = buf;
	assert_non_null(buf);
	memcpy(p, head, sizeof(head) - 1);
	p += sizeof(head) - 1;
	for (size_t i = 0; i < N; i++, p += sizeof(spec) - 1)
		memcpy(p, spec, sizeof(spec) - 1);
	memcpy(p - 1, "]}}", 4);

	struct json_object *r = tj_call(f, buf);
	free(buf);
	assert_jbool(r, "result.ok", true);
	struct json_object *jobs = tj_path(r, "result.jobs");
	assert_int_equal(json_object_array_length(jobs), N);
	struct json_object *first = json_object_array_get_idx(jobs, 0);
	const char *submitted = tj_str(first, "submitted_at");
	const char *started = tj_str(first, "started_at");
	assert_string_equal(submitted, started);
	for (size_t i = 0; i < N; i++) {
		struct json_object *job = json_object_array_get_idx(jobs, i);
		if (strcmp(tj_str(job, "submitted_at"), submitted) != 0 ||
		    strcmp(tj_str(job, "started_at"), started) != 0)
			fail_msg("jobs[%zu] submitted %s, started %s; jobs[0] %s, %s", i,
				 tj_str(job, "submitted_at"), tj_str(job, "started_at"),
				 submitted, started);
		assert_jstr(job, "state", "succeeded");
		assert_slept(job, "result.slept", 0.02);
		/* Whole milliseconds: at least 20 of them from the shared start. */
		if (strcmp(tj_str(job, "finished_at"), started) <= 0)
			fail_msg("jobs[%zu] finished at %s, started at %s", i,
				 tj_str(job, "finished_at"), started);
	}
	tj_put(r);
}

/* More durations at once than there are lanes: the rest get timers of their
 * own, and every sleep still ends in order and never early. */
static void test_more_durations_than_lanes(void **state)
{
	struct fixture *f = *state;
	enum { N = 48 };
	char lines[N * 160];
	size_t len = 0;

	/* Longest first, so that the order of ending is not the order of
	 * submission; all in one write, with wait: replies come as they end. */
	for (int i = N - 1; i >= 0; i--)
		len += (size_t)snprintf(lines + len, sizeof(lines) - len,
					"{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"job.submit\","
					"\"params\":{\"type\":\"sleep\",\"seconds\":%g,\"wait\":true}}\n",
					i, 0.002 * (i + 1));
	fixture_send_raw(f, lines, len);
	for (int k = 0; k < N; k++) {
		struct json_object *r = tj_recv(f, 10000);
		assert_non_null(r);
		if (tj_int(r, "id") != k)
			fail_msg("reply %d was to request %lld, expected %d (the %g s sleep)", k,
				 (long long)tj_int(r, "id"), k, 0.002 * (k + 1));
		assert_jstr(r, "result.state", "succeeded");
		assert_slept(r, "result.result.slept", 0.002 * (k + 1));
		tj_put(r);
	}
}

/* Canceling the sleep a lane's timer is armed for leaves the others of the
 * lane to end on time; canceling the last leaves nothing armed. */
static void test_cancel_first_of_lane(void **state)
{
	struct fixture *f = *state;
	int64_t first = submit(f, 0.03, NULL);
	int64_t second = submit(f, 0.03, NULL);

	struct json_object *r = tj_callf(f, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"job.cancel\","
					 "\"params\":{\"id\":%lld}}", (long long)first);
	assert_jstr(r, "result.state", "canceled");
	tj_put(r);
	r = tj_callf(f, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"job.wait\","
		     "\"params\":{\"ids\":[%lld],\"timeout\":10}}", (long long)second);
	assert_jbool(r, "result.timed_out", false);
	assert_jstr(r, "result.jobs.0.state", "succeeded");
	assert_slept(r, "result.jobs.0.result.slept", 0.03);
	tj_put(r);

	int64_t last = submit(f, 0.03, NULL);
	r = tj_callf(f, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"job.cancel\","
		     "\"params\":{\"id\":%lld}}", (long long)last);
	assert_jstr(r, "result.state", "canceled");
	tj_put(r);
	/* The emptied lane takes a new sleep of another duration. */
	r = tj_callf(f, "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"job.submit\","
		     "\"params\":{\"type\":\"sleep\",\"seconds\":0.01,\"wait\":true}}");
	assert_jstr(r, "result.state", "succeeded");
	assert_slept(r, "result.result.slept", 0.01);
	tj_put(r);
}

int main(void)
{
#define T(name) tj_fixture_test(name)
	const struct CMUnitTest tests[] = {
		T(test_finish_in_deadline_order),
		T(test_wait_replies_out_of_order),
		T(test_job_timeout),
		T(test_gather_timeout),
		T(test_gather_timeout_with_reused_key),
		T(test_gather_fail_fast),
		T(test_gather_without_fail_fast),
		T(test_wait_any),
		T(test_wait_all),
		T(test_wait_timeout),
		T(test_slept_at_least_seconds),
		T(test_slept_after_busy_turn),
		T(test_gather_starts_together),
		T(test_more_durations_than_lanes),
		T(test_cancel_first_of_lane),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
