/* Timers: sleeps finish in deadline order, replies come as jobs finish, job
 * and gather timeouts fail jobs, fail_fast cancels the rest, job.wait's
 * modes and timeout. Only order and "slept >= seconds" are asserted, never
 * an upper bound on time. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "tests/common/daemon-fixture.h"

/* ------------------------------------------------------------ helpers */

static struct json_object *jpath(struct json_object *o, const char *path)
{
	char buf[256];
	char *save = NULL;

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *t = strtok_r(buf, ".", &save); t && o; t = strtok_r(NULL, ".", &save)) {
		if (json_object_is_type(o, json_type_array)) {
			char *end;
			unsigned long i = strtoul(t, &end, 10);
			if (*end || i >= json_object_array_length(o))
				return NULL;
			o = json_object_array_get_idx(o, i);
		} else if (!json_object_is_type(o, json_type_object) ||
			   !json_object_object_get_ex(o, t, &o)) {
			return NULL;
		}
	}
	return o;
}

#define assert_jint(o, path, expected)                                                   \
	do {                                                                             \
		struct json_object *v_ = jpath((o), (path));                             \
		if (!json_object_is_type(v_, json_type_int))                             \
			fail_msg("%s: no integer in %s", (path),                         \
				 json_object_to_json_string(o));                         \
		if (json_object_get_int64(v_) != (int64_t)(expected))                    \
			fail_msg("%s: %lld, expected %lld in %s", (path),                \
				 (long long)json_object_get_int64(v_),                   \
				 (long long)(expected), json_object_to_json_string(o));  \
	} while (0)

#define assert_jstr(o, path, expected)                                                   \
	do {                                                                             \
		struct json_object *v_ = jpath((o), (path));                             \
		if (!json_object_is_type(v_, json_type_string))                          \
			fail_msg("%s: no string in %s", (path),                          \
				 json_object_to_json_string(o));                         \
		if (strcmp(json_object_get_string(v_), (expected)) != 0)                 \
			fail_msg("%s: \"%s\", expected \"%s\" in %s", (path),             \
				 json_object_get_string(v_), (expected),                 \
				 json_object_to_json_string(o));                         \
	} while (0)

#define assert_jbool(o, path, expected)                                                  \
	do {                                                                             \
		struct json_object *v_ = jpath((o), (path));                             \
		if (!json_object_is_type(v_, json_type_boolean) ||                       \
		    json_object_get_boolean(v_) != (expected))                           \
			fail_msg("%s: expected %s in %s", (path),                        \
				 (expected) ? "true" : "false",                          \
				 json_object_to_json_string(o));                         \
	} while (0)

/* The job at `path` slept at least `seconds`. */
#define assert_slept(o, path, seconds)                                                   \
	do {                                                                             \
		struct json_object *v_ = jpath((o), (path));                             \
		if (!v_)                                                                 \
			fail_msg("%s missing in %s", (path), json_object_to_json_string(o)); \
		if (json_object_get_double(v_) < (seconds))                              \
			fail_msg("%s: slept %.9g < %g", (path), json_object_get_double(v_), \
				 (double)(seconds));                                     \
	} while (0)

/* Every parsed object is tracked until put(): when an assertion fails half
 * way, the teardown frees what the test could not. */
static struct json_object *live[256];
static size_t n_live;

static struct json_object *track(struct json_object *o)
{
	if (n_live == sizeof(live) / sizeof(live[0]))
		fail_msg("too many JSON objects held at once");
	live[n_live++] = o;
	return o;
}

/* Stops tracking `o` (it was freed, or handed to another object). */
static void untrack(struct json_object *o)
{
	for (size_t i = n_live; i-- > 0;) {
		if (live[i] == o) {
			live[i] = live[--n_live];
			return;
		}
	}
}

static void put(struct json_object *o)
{
	untrack(o);
	json_object_put(o);
}

static void put_all(void)
{
	while (n_live > 0)
		json_object_put(live[--n_live]);
}

static struct json_object *parse(const char *line)
{
	if (!line)
		fail_msg("nothing arrived");
	struct json_object *o = json_tokener_parse(line);
	if (!o)
		fail_msg("not JSON: %s", line);
	return track(o);
}

static struct json_object *recv_json(struct fixture *f)
{
	return parse(fixture_recv(f, 10000));
}

static struct json_object *callf(struct fixture *f, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static struct json_object *callf(struct fixture *f, const char *fmt, ...)
{
	char line[4096];
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	assert_true(n > 0 && (size_t)n < sizeof(line));
	return parse(fixture_call(f, line));
}

/* Submits a sleep without waiting; returns the job id. */
static int64_t submit(struct fixture *f, double seconds, const char *extra)
{
	struct json_object *r = callf(f, "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"job.submit\","
				      "\"params\":{\"type\":\"sleep\",\"seconds\":%g%s}}", seconds,
				      extra ? extra : "");
	struct json_object *id = jpath(r, "result.id");
	if (!json_object_is_type(id, json_type_int))
		fail_msg("submit failed: %s", json_object_to_json_string(r));
	int64_t v = json_object_get_int64(id);
	put(r);
	return v;
}

static int setup(void **state)
{
	*state = fixture_new(NULL, 0);
	return 0;
}

static int teardown(void **state)
{
	put_all();
	fixture_free(*state);
	return 0;
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

	struct json_object *r = callf(f, "{\"jsonrpc\":\"2.0\",\"id\":\"sub\","
				      "\"method\":\"events.subscribe\"}");
	assert_jbool(r, "result.missed", false);
	put(r);

	/* All four in one write, so they are submitted in one go. */
	for (int i = 0; i < 4; i++)
		len += (size_t)snprintf(lines + len, sizeof(lines) - len,
					"{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"job.submit\","
					"\"params\":{\"type\":\"sleep\",\"seconds\":%g}}\n",
					i, seconds[i]);
	fixture_send_raw(f, lines, len);

	while (n_finished < 4 || n_replies < 4) {
		r = recv_json(f);
		struct json_object *method = jpath(r, "method");
		if (!method) {
			int64_t i = json_object_get_int64(jpath(r, "id"));
			assert_true(i >= 0 && i < 4);
			job_of[i] = json_object_get_int64(jpath(r, "result.id"));
			n_replies++;
		} else {
			assert_string_equal(json_object_get_string(method), "job.updated");
			const char *st = json_object_get_string(jpath(r, "params.job.state"));
			assert_non_null(st);
			if (strcmp(st, "succeeded") == 0) {
				assert_true(n_finished < 4);
				finished[n_finished++] = json_object_get_int64(jpath(r, "params.job.id"));
			}
		}
		put(r);
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
	struct json_object *first = recv_json(f);
	struct json_object *second = recv_json(f);
	assert_jstr(first, "id", "fast");
	assert_jstr(first, "result.state", "succeeded");
	assert_slept(first, "result.result.slept", 0.01);
	assert_jstr(second, "id", "slow");
	assert_jstr(second, "result.state", "succeeded");
	assert_slept(second, "result.result.slept", 0.05);
	put(first);
	put(second);
}

static void test_job_timeout(void **state)
{
	struct fixture *f = *state;
	struct json_object *r = callf(f, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"job.submit\","
				      "\"params\":{\"type\":\"sleep\",\"seconds\":30,"
				      "\"timeout\":0.02,\"wait\":true}}");
	assert_jint(r, "id", 1);
	assert_jstr(r, "result.state", "failed");
	assert_jstr(r, "result.error.code", "timeout");
	assert_non_null(jpath(r, "result.error.message"));
	assert_null(jpath(r, "result.result"));
	assert_non_null(jpath(r, "result.started_at"));
	assert_non_null(jpath(r, "result.finished_at"));
	put(r);

	/* A timeout longer than the sleep changes nothing. */
	r = callf(f, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"job.submit\","
		     "\"params\":{\"type\":\"sleep\",\"seconds\":0.01,\"timeout\":30,\"wait\":true}}");
	assert_jstr(r, "result.state", "succeeded");
	assert_slept(r, "result.result.slept", 0.01);
	put(r);
}

static void test_gather_timeout(void **state)
{
	struct fixture *f = *state;
	struct json_object *r = callf(f, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"job.gather\","
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
	put(r);
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
	struct json_object *r = parse(line);
	assert_jint(r, "id", 1);
	assert_jint(r, "result.jobs.0.id", long_job);
	assert_jstr(r, "result.jobs.0.state", "failed");
	assert_jstr(r, "result.jobs.0.error.code", "timeout");
	assert_jbool(r, "result.ok", false);
	assert_jstr(r, "result.jobs.1.state", "succeeded");
	put(r);
}

static void test_gather_fail_fast(void **state)
{
	struct fixture *f = *state;
	struct json_object *r = callf(f, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"job.gather\","
				      "\"params\":{\"fail_fast\":true,\"jobs\":["
				      "{\"type\":\"sleep\",\"seconds\":30,\"timeout\":0.01},"
				      "{\"type\":\"sleep\",\"seconds\":30}]}}");
	assert_jbool(r, "result.ok", false);
	assert_jstr(r, "result.jobs.0.state", "failed");
	assert_jstr(r, "result.jobs.0.error.code", "timeout");
	assert_jstr(r, "result.jobs.1.state", "canceled");
	assert_jstr(r, "result.jobs.1.error.code", "canceled");
	int64_t other = json_object_get_int64(jpath(r, "result.jobs.1.id"));
	put(r);

	/* The canceled job stays canceled. */
	r = callf(f, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"job.get\",\"params\":{\"id\":%lld}}",
		  (long long)other);
	assert_jstr(r, "result.state", "canceled");
	put(r);
}

static void test_gather_without_fail_fast(void **state)
{
	struct fixture *f = *state;
	/* One failure does not stop the others without fail_fast. */
	struct json_object *r = callf(f, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"job.gather\","
				      "\"params\":{\"jobs\":["
				      "{\"type\":\"sleep\",\"seconds\":30,\"timeout\":0.01},"
				      "{\"type\":\"sleep\",\"seconds\":0.03}]}}");
	assert_jbool(r, "result.ok", false);
	assert_jstr(r, "result.jobs.0.error.code", "timeout");
	assert_jstr(r, "result.jobs.1.state", "succeeded");
	assert_slept(r, "result.jobs.1.result.slept", 0.03);
	put(r);
}

static void test_wait_any(void **state)
{
	struct fixture *f = *state;
	int64_t slow = submit(f, 30, NULL);
	int64_t fast = submit(f, 0.01, NULL);

	struct json_object *r = callf(f, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"job.wait\","
				      "\"params\":{\"ids\":[%lld,%lld],\"mode\":\"any\"}}",
				      (long long)slow, (long long)fast);
	assert_jbool(r, "result.timed_out", false);
	/* In the order asked for. */
	assert_jint(r, "result.jobs.0.id", slow);
	assert_jstr(r, "result.jobs.0.state", "running");
	assert_jint(r, "result.jobs.1.id", fast);
	assert_jstr(r, "result.jobs.1.state", "succeeded");
	assert_slept(r, "result.jobs.1.result.slept", 0.01);
	put(r);
}

static void test_wait_all(void **state)
{
	struct fixture *f = *state;
	int64_t a = submit(f, 0.03, NULL);
	int64_t b = submit(f, 0.01, NULL);

	struct json_object *r = callf(f, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"job.wait\","
				      "\"params\":{\"ids\":[%lld,%lld],\"mode\":\"all\"}}",
				      (long long)a, (long long)b);
	assert_jbool(r, "result.timed_out", false);
	assert_jstr(r, "result.jobs.0.state", "succeeded");
	assert_slept(r, "result.jobs.0.result.slept", 0.03);
	assert_jstr(r, "result.jobs.1.state", "succeeded");
	assert_slept(r, "result.jobs.1.result.slept", 0.01);
	put(r);

	/* "all" is the default; finished jobs answer at once. */
	r = callf(f, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"job.wait\","
		     "\"params\":{\"ids\":[%lld]}}", (long long)a);
	assert_jbool(r, "result.timed_out", false);
	assert_jstr(r, "result.jobs.0.state", "succeeded");
	put(r);
}

static void test_wait_timeout(void **state)
{
	struct fixture *f = *state;
	int64_t slow = submit(f, 30, NULL);
	int64_t fast = submit(f, 0.01, NULL);

	struct json_object *r = callf(f, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"job.wait\","
				      "\"params\":{\"ids\":[%lld,%lld],\"timeout\":0.05}}",
				      (long long)slow, (long long)fast);
	assert_jint(r, "id", 1);
	assert_jbool(r, "result.timed_out", true);
	assert_jstr(r, "result.jobs.0.state", "running");
	assert_jstr(r, "result.jobs.1.state", "succeeded");
	put(r);

	/* A wait timing out does not touch the job. */
	r = callf(f, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"job.get\",\"params\":{\"id\":%lld}}",
		  (long long)slow);
	assert_jstr(r, "result.state", "running");
	put(r);

	/* timeout 0: a poll. */
	r = callf(f, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"job.wait\","
		     "\"params\":{\"ids\":[%lld],\"timeout\":0}}", (long long)slow);
	assert_jbool(r, "result.timed_out", true);
	assert_jstr(r, "result.jobs.0.state", "running");
	put(r);
}

static void test_slept_at_least_seconds(void **state)
{
	struct fixture *f = *state;
	static const double seconds[] = { 0.001, 0.0015, 0.002, 0.005, 0.0123, 0.02 };

	/* Repeated, since being a little short shows only now and then. */
	for (int round = 0; round < 10; round++) {
		for (size_t i = 0; i < sizeof(seconds) / sizeof(seconds[0]); i++) {
			struct json_object *r = callf(
				f, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"job.submit\","
				   "\"params\":{\"type\":\"sleep\",\"seconds\":%g,\"wait\":true}}",
				seconds[i]);
			assert_jstr(r, "result.state", "succeeded");
			assert_slept(r, "result.result.slept", seconds[i]);
			put(r);
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

	/* One batch with much work ahead of the sleep: the loop turn is busy
	 * for a while before the sleep starts, and the sleep must still last
	 * its whole time from its start. */
	buf[0] = '[';
	for (size_t i = 0; i < N_BEFORE; i++)
		memcpy(buf + 1 + i * (sizeof(info) - 1), info, sizeof(info) - 1);
	memcpy(buf + 1 + N_BEFORE * (sizeof(info) - 1), sleep, sizeof(sleep) - 1);
	buf[len] = '\0';
	struct json_object *r = parse(fixture_call(f, buf));
	free(buf);

	/* The reply is large: take what is checked, free it, then check. */
	size_t n = json_object_is_type(r, json_type_array) ? json_object_array_length(r) : 0;
	struct json_object *last = json_object_get(json_object_array_get_idx(r, N_BEFORE));
	if (last)
		track(last);
	put(r);
	assert_int_equal(n, N_BEFORE + 1);
	assert_jint(last, "id", 1);
	assert_jstr(last, "result.state", "succeeded");
	assert_slept(last, "result.result.slept", 0.01);
	put(last);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
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
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
