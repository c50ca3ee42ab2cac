/* Validation of sleep job specs and the common control fields, through
 * job.submit and job.gather: each bad field is refused with -32602 naming it,
 * and nothing is started. */
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

#include "daemon/daemon.h"
#include "daemon/job-store.h"
#include "tests/common/daemon-fixture.h"

#define CONFIG "max_message_bytes = 16\nmax_label_bytes = 8\nmax_sleep_seconds = 100\n"

/* ------------------------------------------------------------ helpers */

/* The value at a dotted path ("error.data.field", "result.jobs.1.id"). */
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
			fail_msg("%s: \"%s\", expected \"%s\"", (path),                   \
				 json_object_get_string(v_), (expected));                \
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
		fail_msg("no reply");
	struct json_object *o = json_tokener_parse(line);
	if (!o)
		fail_msg("not JSON: %s", line);
	return track(o);
}

static struct json_object *callf(struct fixture *f, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static struct json_object *callf(struct fixture *f, const char *fmt, ...)
{
	char line[8192];
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	assert_true(n > 0 && (size_t)n < sizeof(line));
	return parse(fixture_call(f, line));
}

static int next_id = 100;

/* Sends `method` with `params` (raw JSON, NULL: none) and expects -32602
 * naming `field`, with nothing started. */
static void expect_invalid_(struct fixture *f, const char *method, const char *params,
			    const char *field, int line)
{
	size_t before = job_store_count(f->d->store);
	int id = next_id++;
	struct json_object *r;

	if (params)
		r = callf(f, "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"%s\",\"params\":%s}", id,
			  method, params);
	else
		r = callf(f, "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"%s\"}", id, method);

	struct json_object *code = jpath(r, "error.code");
	struct json_object *fld = jpath(r, "error.data.field");
	if (!code || json_object_get_int(code) != -32602 ||
	    !json_object_is_type(fld, json_type_string) ||
	    strcmp(json_object_get_string(fld), field) != 0 || !jpath(r, "error.data.reason"))
		fail_msg("line %d: params %s: expected -32602 naming \"%s\", got %s", line,
			 params ? params : "(none)", field, json_object_to_json_string(r));
	assert_jint(r, "id", id);
	assert_null(jpath(r, "result"));
	if (job_store_count(f->d->store) != before)
		fail_msg("line %d: params %s: a job was created", line, params ? params : "(none)");
	put(r);
}

#define expect_invalid(f, params, field) expect_invalid_((f), "job.submit", (params), (field), __LINE__)
#define expect_invalid_gather(f, params, field) \
	expect_invalid_((f), "job.gather", (params), (field), __LINE__)

static int setup(void **state)
{
	*state = fixture_new(CONFIG, 0);
	return 0;
}

static int teardown(void **state)
{
	put_all();
	fixture_free(*state);
	return 0;
}

/* ------------------------------------------------------------ seconds */

static void test_seconds_missing(void **state)
{
	expect_invalid(*state, "{\"type\":\"sleep\"}", "seconds");
	expect_invalid(*state, "{\"type\":\"sleep\",\"message\":\"m\"}", "seconds");
}

static void test_seconds_negative(void **state)
{
	expect_invalid(*state, "{\"type\":\"sleep\",\"seconds\":-1}", "seconds");
	expect_invalid(*state, "{\"type\":\"sleep\",\"seconds\":-0.001}", "seconds");
}

static void test_seconds_wrong_types(void **state)
{
	expect_invalid(*state, "{\"type\":\"sleep\",\"seconds\":\"1\"}", "seconds");
	expect_invalid(*state, "{\"type\":\"sleep\",\"seconds\":null}", "seconds");
	expect_invalid(*state, "{\"type\":\"sleep\",\"seconds\":true}", "seconds");
	expect_invalid(*state, "{\"type\":\"sleep\",\"seconds\":false}", "seconds");
	expect_invalid(*state, "{\"type\":\"sleep\",\"seconds\":[1]}", "seconds");
	expect_invalid(*state, "{\"type\":\"sleep\",\"seconds\":{\"s\":1}}", "seconds");
}

static void test_seconds_not_finite(void **state)
{
	/* json-c reads these as infinities: they must not become sleeps. */
	expect_invalid(*state, "{\"type\":\"sleep\",\"seconds\":1e400}", "seconds");
	expect_invalid(*state, "{\"type\":\"sleep\",\"seconds\":-1e400}", "seconds");
}

static void test_seconds_above_max(void **state)
{
	expect_invalid(*state, "{\"type\":\"sleep\",\"seconds\":100.001}", "seconds");
	expect_invalid(*state, "{\"type\":\"sleep\",\"seconds\":1e18}", "seconds");
	expect_invalid(*state, "{\"type\":\"sleep\",\"seconds\":18446744073709551615}", "seconds");
}

static void test_seconds_at_max_accepted(void **state)
{
	struct fixture *f = *state;
	struct json_object *r = callf(f, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"job.submit\","
				      "\"params\":{\"type\":\"sleep\",\"seconds\":100}}");
	assert_jstr(r, "result.state", "running");
	assert_int_equal(job_store_count(f->d->store), 1);
	put(r);
}

/* ------------------------------------------------------------ message */

static void test_message_not_a_string(void **state)
{
	expect_invalid(*state, "{\"type\":\"sleep\",\"seconds\":0,\"message\":5}", "message");
	expect_invalid(*state, "{\"type\":\"sleep\",\"seconds\":0,\"message\":null}", "message");
	expect_invalid(*state, "{\"type\":\"sleep\",\"seconds\":0,\"message\":[\"a\"]}", "message");
}

static void test_message_too_long(void **state)
{
	/* 17 bytes; 9 two-byte characters are 18 bytes. */
	expect_invalid(*state, "{\"type\":\"sleep\",\"seconds\":0,\"message\":\"12345678901234567\"}",
		       "message");
	expect_invalid(*state,
		       "{\"type\":\"sleep\",\"seconds\":0,\"message\":"
		       "\"\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\"}",
		       "message");
}

static void test_message_nul(void **state)
{
	expect_invalid(*state, "{\"type\":\"sleep\",\"seconds\":0,\"message\":\"a\\u0000b\"}",
		       "message");
	expect_invalid(*state, "{\"type\":\"sleep\",\"seconds\":0,\"message\":\"\\u0000\"}", "message");
}

static void test_message_at_limit_accepted(void **state)
{
	struct fixture *f = *state;
	/* 16 bytes in 8 characters: the limit counts bytes. */
	struct json_object *r = callf(f, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"job.submit\","
				      "\"params\":{\"type\":\"sleep\",\"seconds\":0,\"wait\":true,"
				      "\"message\":\"\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9"
				      "\\u00e9\\u00e9\"}}");
	assert_jstr(r, "result.state", "succeeded");
	assert_jstr(r, "result.result.message", "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9");
	put(r);

	r = callf(f, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"job.submit\","
		     "\"params\":{\"type\":\"sleep\",\"seconds\":0,\"wait\":true,"
		     "\"message\":\"1234567890123456\"}}");
	assert_jstr(r, "result.result.message", "1234567890123456");
	put(r);
}

/* ------------------------------------------------------------ type and fields */

static void test_unknown_field(void **state)
{
	expect_invalid(*state, "{\"type\":\"sleep\",\"secs\":1}", "secs");
	expect_invalid(*state, "{\"type\":\"sleep\",\"seconds\":1,\"secs\":1}", "secs");
	expect_invalid(*state, "{\"type\":\"sleep\",\"seconds\":1,\"url\":\"http://x\"}", "url");
}

static void test_type_missing(void **state)
{
	expect_invalid(*state, "{\"seconds\":1}", "type");
	expect_invalid(*state, "{}", "type");
}

static void test_type_not_a_string(void **state)
{
	expect_invalid(*state, "{\"type\":1,\"seconds\":1}", "type");
	expect_invalid(*state, "{\"type\":null,\"seconds\":1}", "type");
	expect_invalid(*state, "{\"type\":[\"sleep\"],\"seconds\":1}", "type");
}

static void test_type_unknown(void **state)
{
	expect_invalid(*state, "{\"type\":\"nap\",\"seconds\":1}", "type");
	expect_invalid(*state, "{\"type\":\"Sleep\",\"seconds\":1}", "type");
	expect_invalid(*state, "{\"type\":\"\",\"seconds\":1}", "type");
}

/* ------------------------------------------------------------ control fields */

static void test_timeout_invalid(void **state)
{
	expect_invalid(*state, "{\"type\":\"sleep\",\"seconds\":1,\"timeout\":0}", "timeout");
	expect_invalid(*state, "{\"type\":\"sleep\",\"seconds\":1,\"timeout\":-1}", "timeout");
	expect_invalid(*state, "{\"type\":\"sleep\",\"seconds\":1,\"timeout\":\"5\"}", "timeout");
	expect_invalid(*state, "{\"type\":\"sleep\",\"seconds\":1,\"timeout\":null}", "timeout");
	expect_invalid(*state, "{\"type\":\"sleep\",\"seconds\":1,\"timeout\":1e400}", "timeout");
}

static void test_label_invalid(void **state)
{
	/* max_label_bytes = 8 */
	expect_invalid(*state, "{\"type\":\"sleep\",\"seconds\":1,\"label\":\"123456789\"}", "label");
	expect_invalid(*state, "{\"type\":\"sleep\",\"seconds\":1,\"label\":7}", "label");
	expect_invalid(*state, "{\"type\":\"sleep\",\"seconds\":1,\"label\":\"ab\\u0000\"}", "label");
}

static void test_key_invalid(void **state)
{
	expect_invalid(*state, "{\"type\":\"sleep\",\"seconds\":1,\"key\":\"\"}", "key");
	expect_invalid(*state, "{\"type\":\"sleep\",\"seconds\":1,\"key\":\"123456789\"}", "key");
	expect_invalid(*state, "{\"type\":\"sleep\",\"seconds\":1,\"key\":1}", "key");
	expect_invalid(*state, "{\"type\":\"sleep\",\"seconds\":1,\"key\":\"k\\u0000\"}", "key");
}

static void test_wait_not_bool(void **state)
{
	expect_invalid(*state, "{\"type\":\"sleep\",\"seconds\":1,\"wait\":1}", "wait");
	expect_invalid(*state, "{\"type\":\"sleep\",\"seconds\":1,\"wait\":\"true\"}", "wait");
	expect_invalid(*state, "{\"type\":\"sleep\",\"seconds\":1,\"wait\":null}", "wait");
}

static void test_cancel_on_disconnect_not_bool(void **state)
{
	expect_invalid(*state, "{\"type\":\"sleep\",\"seconds\":1,\"cancel_on_disconnect\":0}",
		       "cancel_on_disconnect");
	expect_invalid(*state, "{\"type\":\"sleep\",\"seconds\":1,\"cancel_on_disconnect\":\"yes\"}",
		       "cancel_on_disconnect");
}

static void test_controls_accepted(void **state)
{
	struct fixture *f = *state;
	struct json_object *r = callf(f, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"job.submit\","
				      "\"params\":{\"type\":\"sleep\",\"seconds\":0,\"timeout\":5,"
				      "\"label\":\"12345678\",\"key\":\"abcdefgh\",\"wait\":true,"
				      "\"cancel_on_disconnect\":false}}");
	assert_jstr(r, "result.state", "succeeded");
	assert_jstr(r, "result.label", "12345678");
	assert_jstr(r, "result.key", "abcdefgh");
	assert_jstr(r, "result.type", "sleep");
	put(r);
}

/* ------------------------------------------------------------ params */

static void test_params_absent(void **state)
{
	expect_invalid(*state, NULL, "type");
}

static void test_params_array(void **state)
{
	expect_invalid(*state, "[{\"type\":\"sleep\",\"seconds\":1}]", "params");
	expect_invalid(*state, "[]", "params");
	expect_invalid_gather(*state, "[[{\"type\":\"sleep\",\"seconds\":1}]]", "params");
}

/* ------------------------------------------------------------ gather */

static void test_gather_field_prefixed(void **state)
{
	struct fixture *f = *state;
	expect_invalid_gather(f, "{\"jobs\":[{\"type\":\"sleep\",\"seconds\":0},"
			      "{\"type\":\"sleep\",\"seconds\":-1}]}", "jobs[1].seconds");
	expect_invalid_gather(f, "{\"jobs\":[{\"type\":\"sleep\",\"seconds\":0},"
			      "{\"type\":\"sleep\",\"seconds\":0},{\"seconds\":0}]}", "jobs[2].type");
	expect_invalid_gather(f, "{\"jobs\":[{\"type\":\"sleep\",\"seconds\":0,\"secs\":1}]}",
			      "jobs[0].secs");
	expect_invalid_gather(f, "{\"jobs\":[{\"type\":\"sleep\",\"seconds\":0,"
			      "\"message\":\"12345678901234567\"}]}", "jobs[0].message");
	expect_invalid_gather(f, "{\"jobs\":[{\"type\":\"sleep\",\"seconds\":0,\"label\":1}]}",
			      "jobs[0].label");
	/* An item that is no object is named by its index alone. */
	expect_invalid_gather(f, "{\"jobs\":[{\"type\":\"sleep\",\"seconds\":0},5]}", "jobs[1]");
}

static void test_gather_per_call_fields_refused(void **state)
{
	struct fixture *f = *state;
	expect_invalid_gather(f, "{\"jobs\":[{\"type\":\"sleep\",\"seconds\":0,\"wait\":true}]}",
			      "jobs[0].wait");
	expect_invalid_gather(f, "{\"jobs\":[{\"type\":\"sleep\",\"seconds\":0},"
			      "{\"type\":\"sleep\",\"seconds\":0,\"cancel_on_disconnect\":false}]}",
			      "jobs[1].cancel_on_disconnect");
}

static void test_gather_params_invalid(void **state)
{
	struct fixture *f = *state;
	expect_invalid_gather(f, "{}", "jobs");
	expect_invalid_gather(f, NULL, "jobs");
	expect_invalid_gather(f, "{\"jobs\":{}}", "jobs");
	expect_invalid_gather(f, "{\"jobs\":[]}", "jobs");
	expect_invalid_gather(f, "{\"jobs\":[{\"type\":\"sleep\",\"seconds\":0}],\"timeout\":0}",
			      "timeout");
	expect_invalid_gather(f, "{\"jobs\":[{\"type\":\"sleep\",\"seconds\":0}],\"fail_fast\":1}",
			      "fail_fast");
	expect_invalid_gather(f, "{\"jobs\":[{\"type\":\"sleep\",\"seconds\":0}],\"wait\":true}",
			      "wait");
}

/* ------------------------------------------------------------ success */

static void test_valid_spec(void **state)
{
	struct fixture *f = *state;
	struct json_object *r = callf(f, "{\"jsonrpc\":\"2.0\",\"id\":\"v\",\"method\":\"job.submit\","
				      "\"params\":{\"type\":\"sleep\",\"seconds\":0.02,"
				      "\"message\":\"hello, world!\",\"wait\":true}}");
	assert_jstr(r, "id", "v");
	assert_null(jpath(r, "error"));
	assert_jstr(r, "result.state", "succeeded");
	assert_jstr(r, "result.type", "sleep");
	assert_jstr(r, "result.result.message", "hello, world!");
	struct json_object *slept = jpath(r, "result.result.slept");
	assert_non_null(slept);
	if (json_object_get_double(slept) < 0.02)
		fail_msg("slept %.9g < 0.02", json_object_get_double(slept));
	assert_non_null(jpath(r, "result.started_at"));
	assert_non_null(jpath(r, "result.finished_at"));
	assert_null(jpath(r, "result.error"));
	put(r);

	/* Without a message, the result has none. */
	r = callf(f, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"job.submit\","
		     "\"params\":{\"type\":\"sleep\",\"seconds\":0,\"wait\":true}}");
	assert_jstr(r, "result.state", "succeeded");
	assert_null(jpath(r, "result.result.message"));
	assert_non_null(jpath(r, "result.result.slept"));
	put(r);
}

static void test_valid_gather(void **state)
{
	struct fixture *f = *state;
	struct json_object *r = callf(f, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"job.gather\","
				      "\"params\":{\"jobs\":[{\"type\":\"sleep\",\"seconds\":0.01,"
				      "\"message\":\"a\"},{\"type\":\"sleep\",\"seconds\":0,"
				      "\"message\":\"b\",\"label\":\"second\"}]}}");
	assert_jstr(r, "result.jobs.0.result.message", "a");
	assert_jstr(r, "result.jobs.1.result.message", "b");
	assert_jstr(r, "result.jobs.1.label", "second");
	assert_true(json_object_get_boolean(jpath(r, "result.ok")));
	assert_int_equal(job_store_count(f->d->store), 2);
	put(r);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_seconds_missing),
		T(test_seconds_negative),
		T(test_seconds_wrong_types),
		T(test_seconds_not_finite),
		T(test_seconds_above_max),
		T(test_seconds_at_max_accepted),
		T(test_message_not_a_string),
		T(test_message_too_long),
		T(test_message_nul),
		T(test_message_at_limit_accepted),
		T(test_unknown_field),
		T(test_type_missing),
		T(test_type_not_a_string),
		T(test_type_unknown),
		T(test_timeout_invalid),
		T(test_label_invalid),
		T(test_key_invalid),
		T(test_wait_not_bool),
		T(test_cancel_on_disconnect_not_bool),
		T(test_controls_accepted),
		T(test_params_absent),
		T(test_params_array),
		T(test_gather_field_prefixed),
		T(test_gather_per_call_fields_refused),
		T(test_gather_params_invalid),
		T(test_valid_spec),
		T(test_valid_gather),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
