/* JSON helpers for the cmocka tests: parse replies (failing the test when one
 * is missing or not JSON), reach values by dotted path, assert on them, keep
 * parsed objects tracked so a failing test leaks nothing, and talk to the
 * in-process daemon fixture. Shared by the unit and integration tests. */
#ifndef ASYNCJOB_TESTS_JSON_ASSERT_H
#define ASYNCJOB_TESTS_JSON_ASSERT_H

/* cmocka needs these before it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "tests/common/daemon-fixture.h"

struct bufferevent;

/* ------------------------------------------------------------ parsing */

/* Parses one line of JSON text. Fails the test when `line` is NULL (nothing
 * arrived) or is not JSON. The caller owns the result (json_object_put, or
 * tj_track it). */
struct json_object *tj_parse(const char *line);

/* From now on, tj_parse (and so every helper below that parses) is strict:
 * json-c's strict mode, nothing but the value on the line, and a JSON null
 * is refused. Off by default. */
void tj_set_strict(bool strict);

/* The value in `o` at a dotted path ("error.data.field", "result.jobs.1.id":
 * a number indexes an array), or NULL when there is none. A JSON null is
 * NULL too; tj_has tells it from absent. */
struct json_object *tj_path(struct json_object *o, const char *path);

/* True when the member at `path` exists, even with a null value. */
bool tj_has(struct json_object *o, const char *path);

/* The member `key` of object `o`; fails the test when there is none. */
struct json_object *tj_member(struct json_object *o, const char *key);

/* The string at `path`, or NULL when there is no string there. */
const char *tj_str(struct json_object *o, const char *path);

/* The integer at `path`; fails the test when there is none. */
int64_t tj_int(struct json_object *o, const char *path);

/* ------------------------------------------------------------ assertions */

/* Macros, so that a failure names the test's own line. */

/* The integer at `path` is `expected`. */
#define assert_jint(o, path, expected)                                                   \
	do {                                                                             \
		struct json_object *v_ = tj_path((o), (path));                           \
		if (!json_object_is_type(v_, json_type_int))                             \
			fail_msg("%s: no integer in %s", (path),                         \
				 json_object_to_json_string(o));                         \
		if (json_object_get_int64(v_) != (int64_t)(expected))                    \
			fail_msg("%s: %lld, expected %lld in %s", (path),                \
				 (long long)json_object_get_int64(v_),                   \
				 (long long)(expected), json_object_to_json_string(o));  \
	} while (0)

/* The string at `path` is `expected`. */
#define assert_jstr(o, path, expected)                                                   \
	do {                                                                             \
		struct json_object *v_ = tj_path((o), (path));                           \
		if (!json_object_is_type(v_, json_type_string))                          \
			fail_msg("%s: no string in %s", (path),                          \
				 json_object_to_json_string(o));                         \
		if (strcmp(json_object_get_string(v_), (expected)) != 0)                 \
			fail_msg("%s: \"%s\", expected \"%s\" in %s", (path),            \
				 json_object_get_string(v_), (expected),                 \
				 json_object_to_json_string(o));                         \
	} while (0)

/* The boolean at `path` is `expected`. */
#define assert_jbool(o, path, expected)                                                  \
	do {                                                                             \
		struct json_object *v_ = tj_path((o), (path));                           \
		if (!json_object_is_type(v_, json_type_boolean) ||                       \
		    json_object_get_boolean(v_) != (expected))                           \
			fail_msg("%s: expected %s in %s", (path),                        \
				 (expected) ? "true" : "false",                          \
				 json_object_to_json_string(o));                         \
	} while (0)

/* Nothing (or null) at `path`. */
#define assert_jabsent(o, path)                                                          \
	do {                                                                             \
		if (tj_path((o), (path)))                                                \
			fail_msg("%s present in %s", (path), json_object_to_json_string(o)); \
	} while (0)

/* ------------------------------------------------------------ ownership */

/* Every object a test holds is tracked until tj_put(): when an assertion
 * fails half way, the teardown's tj_put_all() frees what the test could not.
 * Returns `o`. */
struct json_object *tj_track(struct json_object *o);
/* Stops tracking `o` (it was freed, or handed to another object). */
void tj_untrack(struct json_object *o);
/* Untracks and frees `o`. */
void tj_put(struct json_object *o);
/* Frees everything still tracked. */
void tj_put_all(void);

/* The job id (result.id) of a reply to job.submit, which it frees
 * (tj_put). Fails the test when the reply has none. */
int64_t tj_take_job_id(struct json_object *reply);

/* The result of a JSON-RPC reply that must not be an error, as a tracked
 * object of its own; the reply is freed (tj_put). Fails the test when the
 * reply has no result. */
struct json_object *tj_take_result(struct json_object *reply);

/* ------------------------------------------------------------ the fixture */

/* A cmocka setup and teardown for tests on the fixture. The setup creates
 * one for uid 0, the initial state (cmocka's prestate), if any, being its
 * config lines; the teardown frees every tracked object, then the
 * fixture. */
int tj_fixture_setup(void **state);
int tj_fixture_teardown(void **state);
/* A cmocka test on such a fixture, with default limits or with `config`. */
#define tj_fixture_test(name) \
	cmocka_unit_test_setup_teardown(name, tj_fixture_setup, tj_fixture_teardown)
#define tj_fixture_test_config(name, config) \
	cmocka_unit_test_prestate_setup_teardown(name, tj_fixture_setup, tj_fixture_teardown, \
						 (void *)(config))

/* These return tracked objects. */

/* The next line received, parsed, waiting up to `timeout_ms`. */
struct json_object *tj_recv(struct fixture *f, int timeout_ms);
/* The same on another client end. */
struct json_object *tj_recv_on(struct fixture *f, struct bufferevent *b, int timeout_ms);

/* Sends `line` and returns the next line received, parsed. */
struct json_object *tj_call(struct fixture *f, const char *line);
/* The same with a printf-style line. */
struct json_object *tj_callf(struct fixture *f, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Sends `line` (adding the newline) on client end `b`. */
void tj_send_on(struct bufferevent *b, const char *line);
/* Sends `line` on `b` and returns the next line received there, parsed,
 * waiting up to 5 s. */
struct json_object *tj_call_on(struct fixture *f, struct bufferevent *b, const char *line);

/* Formats into `buf`, failing the test when the text is empty or does not
 * fit (for printf-style helpers like tj_callf). */
void tj_vformat(char *buf, size_t size, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

/* printf into one of 16 rotating static buffers, so that a few results
 * can be used in one call; fails the test when the text is empty or does
 * not fit (PATH_MAX + 511 bytes). */
const char *tj_strf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* For a failure message: prints `len` bytes of `s` (non-ASCII and control
 * bytes as \xNN), then `reason` if not NULL. */
void tj_print_bytes(const char *what, const char *s, size_t len, const char *reason);

#endif
