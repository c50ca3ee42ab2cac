/* Job events: live and replayed job.updated notifications, the since and ids
 * filters, per-user visibility, a bounded history, unsubscribing; and the
 * idempotency key and cancel_on_disconnect, which events make visible. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <event2/bufferevent.h>
#include <event2/event.h>

#include "tests/common/json-assert.h"

/* ------------------------------------------------------------ helpers */

/* Sends `line` on client end `b` and reads until its reply, which it
 * returns; notifications that come first are appended to `notes`. */
static struct json_object *call_on(struct fixture *f, struct bufferevent *b, const char *line,
				   struct json_object *notes)
{
	tj_send_on(b, line);
	for (;;) {
		struct json_object *o = tj_recv_on(f, b, 5000);
		if (!tj_path(o, "method"))
			return o;
		assert_jstr(o, "method", "job.updated");
		tj_untrack(o);     /* `notes` owns it now */
		json_object_array_add(notes, o);
	}
}

static struct json_object *callf_on(struct fixture *f, struct bufferevent *b,
				    struct json_object *notes, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static struct json_object *callf_on(struct fixture *f, struct bufferevent *b,
				    struct json_object *notes, const char *fmt, ...)
{
	char line[4096];
	va_list ap;

	va_start(ap, fmt);
	tj_vformat(line, sizeof(line), fmt, ap);
	va_end(ap);
	return call_on(f, b, line, notes);
}

/* Submits a sleep on `b`; returns its id. */
static int64_t submit_on(struct fixture *f, struct bufferevent *b, struct json_object *notes,
			 const char *spec_extra)
{
	struct json_object *r = callf_on(f, b, notes,
					 "{\"jsonrpc\":\"2.0\",\"id\":\"s\",\"method\":\"job.submit\","
					 "\"params\":{\"type\":\"sleep\",%s}}", spec_extra);
	return tj_take_job_id(r);
}

/* Subscribes with `params` (raw JSON or NULL); returns the result. */
static struct json_object *subscribe_on(struct fixture *f, struct bufferevent *b,
					struct json_object *notes, const char *params)
{
	struct json_object *r;
	if (params)
		r = callf_on(f, b, notes, "{\"jsonrpc\":\"2.0\",\"id\":\"sub\","
			     "\"method\":\"events.subscribe\",\"params\":%s}", params);
	else
		r = call_on(f, b, "{\"jsonrpc\":\"2.0\",\"id\":\"sub\",\"method\":\"events.subscribe\"}",
			    notes);
	if (!tj_path(r, "result"))
		fail_msg("subscribe failed: %s", json_object_to_json_string(r));
	return r;
}

static size_t count(struct json_object *notes)
{
	return json_object_array_length(notes);
}

/* Checks that notification i is about `job` in `state`. */
#define assert_note(notes, i, job, state)                                                \
	do {                                                                             \
		struct json_object *n_ = json_object_array_get_idx((notes), (i));        \
		if (!n_)                                                                 \
			fail_msg("no notification %d in %s", (int)(i),                   \
				 json_object_to_json_string(notes));                     \
		assert_jint(n_, "params.job.id", (job));                                 \
		assert_jstr(n_, "params.job.state", (state));                            \
	} while (0)

/* Each event shows the job as it was when it entered the event's state. */
static void check_as_of(struct json_object *note)
{
	struct json_object *job = tj_path(note, "params.job");
	const char *state = json_object_get_string(tj_path(job, "state"));

	assert_non_null(state);
	assert_non_null(tj_path(job, "submitted_at"));
	if (strcmp(state, "queued") == 0) {
		assert_jabsent(job, "started_at");
		assert_jabsent(job, "finished_at");
		assert_jabsent(job, "result");
		assert_jabsent(job, "error");
	} else if (strcmp(state, "running") == 0) {
		assert_non_null(tj_path(job, "started_at"));
		assert_jabsent(job, "finished_at");
		assert_jabsent(job, "result");
		assert_jabsent(job, "error");
	} else if (strcmp(state, "succeeded") == 0) {
		assert_non_null(tj_path(job, "started_at"));
		assert_non_null(tj_path(job, "finished_at"));
		assert_non_null(tj_path(job, "result"));
		assert_jabsent(job, "error");
	} else {
		assert_non_null(tj_path(job, "finished_at"));
		assert_non_null(tj_path(job, "error.code"));
		assert_jabsent(job, "result");
	}
}

/* ------------------------------------------------------------ tests */

static void test_subscribe_gets_new_events_only(void **state)
{
	struct fixture *f = *state;
	struct json_object *notes = tj_track(json_object_new_array());

	int64_t a = submit_on(f, f->client, notes, "\"seconds\":0,\"wait\":true");
	assert_int_equal(count(notes), 0);

	struct json_object *r = subscribe_on(f, f->client, notes, NULL);
	assert_jint(r, "result.seq", 3);
	assert_jint(r, "result.oldest_seq", 1);
	assert_jbool(r, "result.missed", false);
	tj_put(r);
	assert_int_equal(count(notes), 0);    /* nothing replayed */

	int64_t b = submit_on(f, f->client, notes, "\"seconds\":0,\"wait\":true");
	assert_true(b != a);
	assert_int_equal(count(notes), 3);
	assert_note(notes, 0, b, "queued");
	assert_note(notes, 1, b, "running");
	assert_note(notes, 2, b, "succeeded");
	assert_jint(json_object_array_get_idx(notes, 0), "params.seq", 4);
	assert_jint(json_object_array_get_idx(notes, 1), "params.seq", 5);
	assert_jint(json_object_array_get_idx(notes, 2), "params.seq", 6);
	for (size_t i = 0; i < count(notes); i++)
		check_as_of(json_object_array_get_idx(notes, i));
	tj_put(notes);
}

static void test_replay_since_zero(void **state)
{
	struct fixture *f = *state;
	struct json_object *notes = tj_track(json_object_new_array());
	int64_t ids[3];

	ids[0] = submit_on(f, f->client, notes, "\"seconds\":0,\"wait\":true,\"message\":\"m\"");
	ids[1] = submit_on(f, f->client, notes, "\"seconds\":0.01,\"wait\":true");
	ids[2] = submit_on(f, f->client, notes, "\"seconds\":60");
	struct json_object *r = callf_on(f, f->client, notes, "{\"jsonrpc\":\"2.0\",\"id\":1,"
					 "\"method\":\"job.cancel\",\"params\":{\"id\":%lld}}",
					 (long long)ids[2]);
	tj_put(r);
	assert_int_equal(count(notes), 0);

	r = subscribe_on(f, f->client, notes, "{\"since\":0}");
	assert_jint(r, "result.seq", 9);
	assert_jbool(r, "result.missed", false);
	tj_put(r);

	/* Everything, in order, each job queued -> running -> final. */
	assert_int_equal(count(notes), 9);
	static const char *const states[] = { "queued", "running", "succeeded",
					      "queued", "running", "succeeded",
					      "queued", "running", "canceled" };
	for (size_t i = 0; i < 9; i++) {
		struct json_object *n = json_object_array_get_idx(notes, i);
		assert_jint(n, "params.seq", i + 1);
		assert_note(notes, i, ids[i / 3], states[i]);
		check_as_of(n);
	}
	assert_jstr(json_object_array_get_idx(notes, 2), "params.job.result.message", "m");
	assert_jstr(json_object_array_get_idx(notes, 8), "params.job.error.code", "canceled");

	/* Live events follow the replay, numbered on. */
	tj_put(notes);
	notes = tj_track(json_object_new_array());
	int64_t d = submit_on(f, f->client, notes, "\"seconds\":0,\"wait\":true");
	assert_int_equal(count(notes), 3);
	assert_note(notes, 0, d, "queued");
	assert_jint(json_object_array_get_idx(notes, 0), "params.seq", 10);
	tj_put(notes);
}

static void test_replay_since_n(void **state)
{
	struct fixture *f = *state;
	struct json_object *notes = tj_track(json_object_new_array());

	submit_on(f, f->client, notes, "\"seconds\":0,\"wait\":true");
	int64_t b = submit_on(f, f->client, notes, "\"seconds\":0,\"wait\":true");

	struct json_object *r = subscribe_on(f, f->client, notes, "{\"since\":4}");
	assert_jbool(r, "result.missed", false);
	tj_put(r);
	assert_int_equal(count(notes), 2);
	assert_note(notes, 0, b, "running");
	assert_jint(json_object_array_get_idx(notes, 0), "params.seq", 5);
	assert_note(notes, 1, b, "succeeded");
	assert_jint(json_object_array_get_idx(notes, 1), "params.seq", 6);
	tj_put(notes);

	/* Since the last one: nothing; since the future: nothing. */
	notes = tj_track(json_object_new_array());
	r = subscribe_on(f, f->client, notes, "{\"since\":6}");
	assert_jbool(r, "result.missed", false);
	tj_put(r);
	r = subscribe_on(f, f->client, notes, "{\"since\":1000}");
	assert_jbool(r, "result.missed", false);
	tj_put(r);
	assert_int_equal(count(notes), 0);
	tj_put(notes);
}

static void test_ids_filter(void **state)
{
	struct fixture *f = *state;
	struct json_object *notes = tj_track(json_object_new_array());

	int64_t a = submit_on(f, f->client, notes, "\"seconds\":60");
	int64_t b = submit_on(f, f->client, notes, "\"seconds\":60");

	struct json_object *r = subscribe_on(f, f->client, notes, NULL);
	tj_put(r);
	char params[64];
	snprintf(params, sizeof(params), "{\"ids\":[%lld]}", (long long)b);
	r = subscribe_on(f, f->client, notes, params);
	tj_put(r);
	assert_int_equal(count(notes), 0);

	/* a's end is not told; b's is. */
	r = callf_on(f, f->client, notes, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"job.cancel\","
		     "\"params\":{\"id\":%lld}}", (long long)a);
	tj_put(r);
	assert_int_equal(count(notes), 0);
	r = callf_on(f, f->client, notes, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"job.cancel\","
		     "\"params\":{\"id\":%lld}}", (long long)b);
	tj_put(r);
	assert_int_equal(count(notes), 1);
	assert_note(notes, 0, b, "canceled");
	tj_put(notes);

	/* ids with since replays only those jobs. */
	notes = tj_track(json_object_new_array());
	snprintf(params, sizeof(params), "{\"ids\":[%lld],\"since\":0}", (long long)a);
	r = subscribe_on(f, f->client, notes, params);
	tj_put(r);
	assert_int_equal(count(notes), 3);
	assert_note(notes, 0, a, "queued");
	assert_note(notes, 1, a, "running");
	assert_note(notes, 2, a, "canceled");
	tj_put(notes);
}

static void test_other_user_sees_nothing_of_ours(void **state)
{
	struct fixture *f = *state;
	struct json_object *mine = tj_track(json_object_new_array());
	struct json_object *theirs = tj_track(json_object_new_array());
	struct bufferevent *other = fixture_connect(f, 1000, NULL);

	tj_put(subscribe_on(f, f->client, mine, NULL));
	int64_t a = submit_on(f, f->client, mine, "\"seconds\":0,\"wait\":true");
	assert_int_equal(count(mine), 3);

	/* uid 1000: no replay of uid 0's job, */
	struct json_object *r = subscribe_on(f, other, theirs, "{\"since\":0}");
	tj_put(r);
	assert_int_equal(count(theirs), 0);
	/* not even when asking for it by id, */
	char params[64];
	snprintf(params, sizeof(params), "{\"ids\":[%lld],\"since\":0}", (long long)a);
	tj_put(subscribe_on(f, other, theirs, params));
	assert_int_equal(count(theirs), 0);
	tj_put(subscribe_on(f, other, theirs, NULL));

	/* and no live events of uid 0's new jobs. */
	int64_t b = submit_on(f, f->client, mine, "\"seconds\":0,\"wait\":true");
	assert_int_equal(count(mine), 6);
	assert_note(mine, 3, b, "queued");
	r = call_on(f, other, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"daemon.info\"}", theirs);
	tj_put(r);
	assert_int_equal(count(theirs), 0);

	/* Its own job's events it gets; root, an admin, gets them too. */
	int64_t c = submit_on(f, other, theirs, "\"seconds\":0,\"wait\":true");
	assert_int_equal(count(theirs), 3);
	for (size_t i = 0; i < 3; i++)
		assert_jint(json_object_array_get_idx(theirs, i), "params.job.id", c);
	r = call_on(f, f->client, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"daemon.info\"}", mine);
	tj_put(r);
	assert_int_equal(count(mine), 9);
	assert_note(mine, 6, c, "queued");
	assert_note(mine, 8, c, "succeeded");

	tj_put(mine);
	tj_put(theirs);
	bufferevent_free(other);
}

static void test_history_bounded(void **state)
{
	struct fixture *f = *state;
	struct json_object *notes = tj_track(json_object_new_array());

	submit_on(f, f->client, notes, "\"seconds\":0,\"wait\":true");
	int64_t b = submit_on(f, f->client, notes, "\"seconds\":0,\"wait\":true");

	/* Events 1-3 are gone: since 0 missed some, and gets 4-6. */
	struct json_object *r = subscribe_on(f, f->client, notes, "{\"since\":0}");
	assert_jbool(r, "result.missed", true);
	assert_jint(r, "result.seq", 6);
	assert_jint(r, "result.oldest_seq", 4);
	tj_put(r);
	assert_int_equal(count(notes), 3);
	assert_note(notes, 0, b, "queued");
	assert_jint(json_object_array_get_idx(notes, 0), "params.seq", 4);
	assert_note(notes, 2, b, "succeeded");
	tj_put(notes);

	/* since 2: event 3 is gone, missed. */
	notes = tj_track(json_object_new_array());
	r = subscribe_on(f, f->client, notes, "{\"since\":2}");
	assert_jbool(r, "result.missed", true);
	tj_put(r);
	assert_int_equal(count(notes), 3);
	tj_put(notes);

	/* since 3: nothing after it is gone. */
	notes = tj_track(json_object_new_array());
	r = subscribe_on(f, f->client, notes, "{\"since\":3}");
	assert_jbool(r, "result.missed", false);
	tj_put(r);
	assert_int_equal(count(notes), 3);
	tj_put(notes);
}

static void test_unsubscribe(void **state)
{
	struct fixture *f = *state;
	struct json_object *notes = tj_track(json_object_new_array());

	tj_put(subscribe_on(f, f->client, notes, NULL));
	submit_on(f, f->client, notes, "\"seconds\":0,\"wait\":true");
	assert_int_equal(count(notes), 3);

	struct json_object *r = call_on(f, f->client, "{\"jsonrpc\":\"2.0\",\"id\":1,"
					"\"method\":\"events.unsubscribe\"}", notes);
	assert_jbool(r, "result.was_subscribed", true);
	tj_put(r);

	submit_on(f, f->client, notes, "\"seconds\":0,\"wait\":true");
	r = call_on(f, f->client, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"events.unsubscribe\"}",
		    notes);
	assert_jbool(r, "result.was_subscribed", false);
	tj_put(r);
	assert_int_equal(count(notes), 3);
	assert_null(fixture_recv(f, 50));
	tj_put(notes);
}

static void test_idempotency_key(void **state)
{
	struct fixture *f = *state;
	struct json_object *notes = tj_track(json_object_new_array());
	struct bufferevent *other = fixture_connect(f, 1000, NULL);

	int64_t a = submit_on(f, f->client, notes, "\"seconds\":0,\"key\":\"k1\",\"wait\":true");
	/* The same key again, even with another spec: the same job. */
	int64_t again = submit_on(f, f->client, notes, "\"seconds\":5,\"key\":\"k1\"");
	assert_int_equal(again, a);
	struct json_object *r = call_on(f, f->client, "{\"jsonrpc\":\"2.0\",\"id\":1,"
					"\"method\":\"job.submit\",\"params\":{\"type\":\"sleep\","
					"\"seconds\":5,\"key\":\"k1\"}}", notes);
	assert_jint(r, "result.id", a);
	assert_jstr(r, "result.state", "succeeded");
	assert_jstr(r, "result.key", "k1");
	tj_put(r);

	/* Another key, another job. */
	int64_t k2 = submit_on(f, f->client, notes, "\"seconds\":0,\"key\":\"k2\"");
	assert_true(k2 != a);

	/* Another user's same key: a new job of theirs. */
	int64_t b = submit_on(f, other, notes, "\"seconds\":0,\"key\":\"k1\",\"wait\":true");
	assert_true(b != a && b != k2);
	assert_int_equal(submit_on(f, other, notes, "\"seconds\":0,\"key\":\"k1\""), b);
	assert_int_equal(submit_on(f, f->client, notes, "\"seconds\":0,\"key\":\"k1\""), a);

	/* A gather item with the key is that job too. */
	r = call_on(f, f->client, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"job.gather\","
		    "\"params\":{\"jobs\":[{\"type\":\"sleep\",\"seconds\":5,\"key\":\"k1\"}]}}",
		    notes);
	assert_jint(r, "result.jobs.0.id", a);
	assert_jbool(r, "result.ok", true);
	tj_put(r);

	tj_put(notes);
	bufferevent_free(other);
}

static void test_idempotency_key_within_gather(void **state)
{
	struct fixture *f = *state;
	struct json_object *notes = tj_track(json_object_new_array());

	/* The same key twice in one gather: one job, not two. */
	struct json_object *r = call_on(f, f->client, "{\"jsonrpc\":\"2.0\",\"id\":1,"
					"\"method\":\"job.gather\",\"params\":{\"jobs\":["
					"{\"type\":\"sleep\",\"seconds\":0,\"key\":\"dup\"},"
					"{\"type\":\"sleep\",\"seconds\":0,\"key\":\"dup\"}]}}", notes);
	int64_t first = json_object_get_int64(tj_path(r, "result.jobs.0.id"));
	assert_true(first > 0);
	assert_jint(r, "result.jobs.1.id", first);
	tj_put(r);

	r = call_on(f, f->client, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"job.list\"}", notes);
	assert_int_equal(json_object_array_length(tj_path(r, "result.jobs")), 1);
	tj_put(r);
	tj_put(notes);
}

static void test_cancel_on_disconnect(void **state)
{
	struct fixture *f = *state;
	struct json_object *notes = tj_track(json_object_new_array());
	struct bufferevent *other = fixture_connect(f, 1000, NULL);

	tj_put(subscribe_on(f, f->client, notes, NULL));
	int64_t doomed = submit_on(f, other, notes, "\"seconds\":60,\"cancel_on_disconnect\":true");
	int64_t kept = submit_on(f, other, notes, "\"seconds\":60,\"cancel_on_disconnect\":false");
	int64_t plain = submit_on(f, other, notes, "\"seconds\":60");
	/* A gather's jobs go with the connection too. */
	static const char gather[] =
		"{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"job.gather\",\"params\":"
		"{\"cancel_on_disconnect\":true,\"jobs\":[{\"type\":\"sleep\",\"seconds\":60}]}}\n";
	bufferevent_write(other, gather, sizeof(gather) - 1);
	fixture_drain(f);

	/* Freeing one end of a bufferevent pair tells the other end nothing;
	 * a flush with BEV_FINISHED first delivers the EOF a closed socket
	 * would. */
	bufferevent_flush(other, EV_WRITE, BEV_FINISHED);
	bufferevent_free(other);
	fixture_drain(f);

	struct json_object *r = call_on(f, f->client, "{\"jsonrpc\":\"2.0\",\"id\":1,"
					"\"method\":\"job.list\"}", notes);
	struct json_object *jobs = tj_path(r, "result.jobs");
	assert_int_equal(json_object_array_length(jobs), 4);
	assert_jint(jobs, "0.id", doomed);
	assert_jstr(jobs, "0.state", "canceled");
	assert_jstr(jobs, "0.error.code", "canceled");
	assert_jint(jobs, "1.id", kept);
	assert_jstr(jobs, "1.state", "running");
	assert_jint(jobs, "2.id", plain);
	assert_jstr(jobs, "2.state", "running");
	assert_jstr(jobs, "3.state", "canceled");
	assert_jstr(jobs, "3.error.code", "canceled");
	tj_put(r);

	/* The subscriber was told. */
	bool told = false;
	for (size_t i = 0; i < count(notes); i++) {
		struct json_object *n = json_object_array_get_idx(notes, i);
		if (json_object_get_int64(tj_path(n, "params.job.id")) == doomed &&
		    strcmp(json_object_get_string(tj_path(n, "params.job.state")), "canceled") == 0)
			told = true;
	}
	assert_true(told);
	tj_put(notes);
}

int main(void)
{
#define T(name) tj_fixture_test(name)
/* With config lines for the fixture. */
#define TC(name, config) tj_fixture_test_config(name, config)
	const struct CMUnitTest tests[] = {
		T(test_subscribe_gets_new_events_only),
		T(test_replay_since_zero),
		T(test_replay_since_n),
		T(test_ids_filter),
		T(test_other_user_sees_nothing_of_ours),
		TC(test_history_bounded, "event_history = 3\n"),
		T(test_unsubscribe),
		T(test_idempotency_key),
		T(test_idempotency_key_within_gather),
		T(test_cancel_on_disconnect),
	};
#undef T
#undef TC
	return cmocka_run_group_tests(tests, NULL, NULL);
}
