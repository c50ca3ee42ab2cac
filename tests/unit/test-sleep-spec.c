/* Validation of sleep job specs and the common control fields, through
 * job.submit and job.gather: each bad field is refused with -32602 naming it,
 * and nothing is started. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/daemon.h"
#include "daemon/job-store.h"
#include "tests/common/json-assert.h"

#define CONFIG "max_message_bytes = 16\nmax_label_bytes = 8\nmax_sleep_seconds = 100\n"

/* ------------------------------------------------------------ helpers */

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
		r = tj_callf(f, "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"%s\",\"params\":%s}", id,
			     method, params);
	else
		r = tj_callf(f, "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"%s\"}", id, method);

	struct json_object *code = tj_path(r, "error.code");
	struct json_object *fld = tj_path(r, "error.data.field");
	if (!code || json_object_get_int(code) != -32602 ||
	    !json_object_is_type(fld, json_type_string) ||
	    strcmp(json_object_get_string(fld), field) != 0 || !tj_path(r, "error.data.reason"))
		fail_msg("line %d: params %s: expected -32602 naming \"%s\", got %s", line,
			 params ? params : "(none)", field, json_object_to_json_string(r));
	assert_jint(r, "id", id);
	assert_null(tj_path(r, "result"));
	if (job_store_count(f->d->store) != before)
		fail_msg("line %d: params %s: a job was created", line, params ? params : "(none)");
	tj_put(r);
}

#define expect_invalid(f, params, field) expect_invalid_((f), "job.submit", (params), (field), __LINE__)
#define expect_invalid_gather(f, params, field) \
	expect_invalid_((f), "job.gather", (params), (field), __LINE__)

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
	struct json_object *r = tj_callf(f, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"job.submit\","
					 "\"params\":{\"type\":\"sleep\",\"seconds\":100}}");
	assert_jstr(r, "result.state", "running");
	assert_int_equal(job_store_count(f->d->store), 1);
	tj_put(r);
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
	struct json_object *r = tj_callf(f, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"job.submit\","
					 "\"params\":{\"type\":\"sleep\",\"seconds\":0,\"wait\":true,"
					 "\"message\":\"\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9"
					 "\\u00e9\\u00e9\"}}");
	assert_jstr(r, "result.state", "succeeded");
	assert_jstr(r, "result.result.message", "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9");
	tj_put(r);

	r = tj_callf(f, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"job.submit\","
		     "\"params\":{\"type\":\"sleep\",\"seconds\":0,\"wait\":true,"
		     "\"message\":\"1234567890123456\"}}");
	assert_jstr(r, "result.result.message", "1234567890123456");
	tj_put(r);
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
	struct json_object *r = tj_callf(f, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"job.submit\","
					 "\"params\":{\"type\":\"sleep\",\"seconds\":0,\"timeout\":5,"
					 "\"label\":\"12345678\",\"key\":\"abcdefgh\",\"wait\":true,"
					 "\"cancel_on_disconnect\":false}}");
	assert_jstr(r, "result.state", "succeeded");
	assert_jstr(r, "result.label", "12345678");
	assert_jstr(r, "result.key", "abcdefgh");
	assert_jstr(r, "result.type", "sleep");
	tj_put(r);
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
	struct json_object *r = tj_callf(f, "{\"jsonrpc\":\"2.0\",\"id\":\"v\",\"method\":\"job.submit\","
					 "\"params\":{\"type\":\"sleep\",\"seconds\":0.02,"
					 "\"message\":\"hello, world!\",\"wait\":true}}");
	assert_jstr(r, "id", "v");
	assert_null(tj_path(r, "error"));
	assert_jstr(r, "result.state", "succeeded");
	assert_jstr(r, "result.type", "sleep");
	assert_jstr(r, "result.result.message", "hello, world!");
	struct json_object *slept = tj_path(r, "result.result.slept");
	assert_non_null(slept);
	if (json_object_get_double(slept) < 0.02)
		fail_msg("slept %.9g < 0.02", json_object_get_double(slept));
	assert_non_null(tj_path(r, "result.started_at"));
	assert_non_null(tj_path(r, "result.finished_at"));
	assert_null(tj_path(r, "result.error"));
	tj_put(r);

	/* Without a message, the result has none. */
	r = tj_callf(f, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"job.submit\","
		     "\"params\":{\"type\":\"sleep\",\"seconds\":0,\"wait\":true}}");
	assert_jstr(r, "result.state", "succeeded");
	assert_null(tj_path(r, "result.result.message"));
	assert_non_null(tj_path(r, "result.result.slept"));
	tj_put(r);
}

static void test_valid_gather(void **state)
{
	struct fixture *f = *state;
	struct json_object *r = tj_callf(f, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"job.gather\","
					 "\"params\":{\"jobs\":[{\"type\":\"sleep\",\"seconds\":0.01,"
					 "\"message\":\"a\"},{\"type\":\"sleep\",\"seconds\":0,"
					 "\"message\":\"b\",\"label\":\"second\"}]}}");
	assert_jstr(r, "result.jobs.0.result.message", "a");
	assert_jstr(r, "result.jobs.1.result.message", "b");
	assert_jstr(r, "result.jobs.1.label", "second");
	assert_true(json_object_get_boolean(tj_path(r, "result.ok")));
	assert_int_equal(job_store_count(f->d->store), 2);
	tj_put(r);
}

int main(void)
{
/* Each on a fixture with CONFIG. */
#define T(name) tj_fixture_test_config(name, CONFIG)
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
