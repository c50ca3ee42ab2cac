/* JSON-RPC 2.0 conformance of the real daemon over its socket: the
 * specification's section 7 examples (adapted to asyncjobd's methods),
 * pipelining, out-of-order replies, string ids, half-closed connections. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "tests/common/harness.h"
#include "tests/common/json-assert.h"

static struct daemon_proc daemon_p;

static int setup(void **state)
{
	(void)state;
	harness_start(&daemon_p, NULL);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	int status = harness_stop(&daemon_p, 10000);
	harness_cleanup(&daemon_p);
	/* A daemon that did not exit 0 (a crash, a leak under ASan) fails. */
	return status == 0 ? 0 : -1;
}

/* Asserts an error reply with `code` and id `id_json` ("null", "1", "\"1\""). */
static void assert_error(struct json_object *reply, int code, const char *id_json)
{
	assert_string_equal(json_object_get_string(tj_member(reply, "jsonrpc")), "2.0");
	assert_false(tj_has(reply, "result"));
	struct json_object *err = tj_member(reply, "error");
	assert_int_equal(json_object_get_int(tj_member(err, "code")), code);
	assert_true(json_object_is_type(tj_member(err, "message"), json_type_string));
	assert_string_equal(json_object_to_json_string_ext(tj_member(reply, "id"), JSON_C_TO_STRING_PLAIN),
			    id_json);
}

static int connect_or_fail(void)
{
	int fd = raw_connect(daemon_p.socket);
	assert_true(fd >= 0);
	return fd;
}

/* Sends a line and asserts the next reply is one error object. */
static void expect_error(int fd, const char *line, int code, const char *id_json)
{
	assert_int_equal(raw_send(fd, line), 0);
	struct json_object *r = tj_parse(raw_recv(fd, 5000));
	assert_true(json_object_is_type(r, json_type_object));
	assert_error(r, code, id_json);
	json_object_put(r);
}

static void test_positional_params_refused(void **state)
{
	(void)state;
	int fd = connect_or_fail();
	/* asyncjobd takes named params only. */
	expect_error(fd, "{\"jsonrpc\": \"2.0\", \"method\": \"job.get\", \"params\": [42], \"id\": 1}",
		     -32602, "1");
	raw_close(fd);
}

static void test_named_params(void **state)
{
	(void)state;
	int fd = connect_or_fail();
	raw_send(fd, "{\"jsonrpc\": \"2.0\", \"method\": \"job.submit\", \"params\": "
		     "{\"type\": \"sleep\", \"seconds\": 0, \"message\": \"named\", \"wait\": true}, \"id\": 3}");
	struct json_object *r = tj_parse(raw_recv(fd, 5000));
	assert_int_equal(json_object_get_int(tj_member(r, "id")), 3);
	assert_false(tj_has(r, "error"));
	struct json_object *job = tj_member(r, "result");
	assert_string_equal(json_object_get_string(tj_member(job, "state")), "succeeded");
	assert_string_equal(json_object_get_string(tj_member(tj_member(job, "result"), "message")), "named");
	json_object_put(r);
	raw_close(fd);
}

static void test_notification_gets_no_reply(void **state)
{
	(void)state;
	int fd = connect_or_fail();
	/* A notification runs but is never answered; the next reply on the
	 * connection is the next request's. */
	raw_send(fd, "{\"jsonrpc\": \"2.0\", \"method\": \"job.submit\", \"params\": "
		     "{\"type\": \"sleep\", \"seconds\": 0, \"label\": \"notified\"}}");
	raw_send(fd, "{\"jsonrpc\": \"2.0\", \"method\": \"no.such.method\"}");
	raw_send(fd, "{\"jsonrpc\": \"2.0\", \"method\": \"job.list\", \"params\": {}, \"id\": \"after\"}");
	struct json_object *r = tj_parse(raw_recv(fd, 5000));
	assert_string_equal(json_object_get_string(tj_member(r, "id")), "after");
	struct json_object *jobs = tj_member(tj_member(r, "result"), "jobs");
	bool found = false;
	for (size_t i = 0; i < json_object_array_length(jobs); i++) {
		struct json_object *j = json_object_array_get_idx(jobs, i);
		struct json_object *label;
		if (json_object_object_get_ex(j, "label", &label) &&
		    strcmp(json_object_get_string(label), "notified") == 0)
			found = true;
	}
	assert_true(found);
	json_object_put(r);
	raw_close(fd);
}

static void test_method_not_found(void **state)
{
	(void)state;
	int fd = connect_or_fail();
	expect_error(fd, "{\"jsonrpc\": \"2.0\", \"method\": \"foobar\", \"id\": \"1\"}", -32601, "\"1\"");
	raw_close(fd);
}

static void test_invalid_json(void **state)
{
	(void)state;
	int fd = connect_or_fail();
	expect_error(fd, "{\"jsonrpc\": \"2.0\", \"method\": \"foobar, \"params\": \"bar\", \"baz]",
		     -32700, "null");
	/* The connection lives on. */
	expect_error(fd, "{\"jsonrpc\": \"2.0\", \"method\": \"foobar\", \"id\": 2}", -32601, "2");
	raw_close(fd);
}

static void test_invalid_request_object(void **state)
{
	(void)state;
	int fd = connect_or_fail();
	expect_error(fd, "{\"jsonrpc\": \"2.0\", \"method\": 1, \"params\": \"bar\"}", -32600, "null");
	raw_close(fd);
}

static void test_batch_invalid_json(void **state)
{
	(void)state;
	int fd = connect_or_fail();
	expect_error(fd, "[{\"jsonrpc\": \"2.0\", \"method\": \"daemon.info\", \"id\": \"1\"},"
			 "{\"jsonrpc\": \"2.0\", \"method\"]", -32700, "null");
	raw_close(fd);
}

static void test_empty_batch(void **state)
{
	(void)state;
	int fd = connect_or_fail();
	/* One error object, not an array. */
	expect_error(fd, "[]", -32600, "null");
	raw_close(fd);
}

static void expect_array_of_invalid(int fd, const char *line, size_t n)
{
	raw_send(fd, line);
	struct json_object *r = tj_parse(raw_recv(fd, 5000));
	assert_true(json_object_is_type(r, json_type_array));
	assert_int_equal(json_object_array_length(r), n);
	for (size_t i = 0; i < n; i++)
		assert_error(json_object_array_get_idx(r, i), -32600, "null");
	json_object_put(r);
}

static void test_invalid_batches(void **state)
{
	(void)state;
	int fd = connect_or_fail();
	expect_array_of_invalid(fd, "[1]", 1);
	expect_array_of_invalid(fd, "[1,2,3]", 3);
	raw_close(fd);
}

static void test_mixed_batch(void **state)
{
	(void)state;
	int fd = connect_or_fail();
	raw_send(fd, "["
		     "{\"jsonrpc\": \"2.0\", \"method\": \"daemon.info\", \"id\": \"1\"},"
		     "{\"jsonrpc\": \"2.0\", \"method\": \"job.submit\", \"params\": {\"type\": \"sleep\", \"seconds\": 0}},"
		     "{\"jsonrpc\": \"2.0\", \"method\": \"job.submit\", \"params\": {\"type\": \"sleep\", \"seconds\": 0.05, \"wait\": true}, \"id\": \"2\"},"
		     "{\"foo\": \"boo\"},"
		     "{\"jsonrpc\": \"2.0\", \"method\": \"foo.get\", \"params\": {\"name\": \"myself\"}, \"id\": \"5\"},"
		     "{\"jsonrpc\": \"2.0\", \"method\": \"job.list\", \"id\": \"9\"}"
		     "]");
	struct json_object *r = tj_parse(raw_recv(fd, 5000));
	assert_true(json_object_is_type(r, json_type_array));
	/* Five replies: the notification gets none. The batch waits for the
	 * job submitted with wait. */
	assert_int_equal(json_object_array_length(r), 5);
	struct json_object *a = json_object_array_get_idx(r, 0);
	assert_string_equal(json_object_get_string(tj_member(a, "id")), "1");
	assert_true(tj_has(tj_member(a, "result"), "version"));
	struct json_object *b = json_object_array_get_idx(r, 1);
	assert_string_equal(json_object_get_string(tj_member(b, "id")), "2");
	assert_string_equal(json_object_get_string(tj_member(tj_member(b, "result"), "state")), "succeeded");
	assert_error(json_object_array_get_idx(r, 2), -32600, "null");
	assert_error(json_object_array_get_idx(r, 3), -32601, "\"5\"");
	struct json_object *e = json_object_array_get_idx(r, 4);
	assert_string_equal(json_object_get_string(tj_member(e, "id")), "9");
	json_object_put(r);
	raw_close(fd);
}

static void test_batch_of_notifications(void **state)
{
	(void)state;
	int fd = connect_or_fail();
	raw_send(fd, "[{\"jsonrpc\": \"2.0\", \"method\": \"daemon.info\"},"
		     "{\"jsonrpc\": \"2.0\", \"method\": \"job.submit\", \"params\": {\"type\": \"sleep\", \"seconds\": 0}}]");
	/* Nothing comes back for it: the next line answers the next request. */
	raw_send(fd, "{\"jsonrpc\": \"2.0\", \"method\": \"daemon.info\", \"id\": 77}");
	struct json_object *r = tj_parse(raw_recv(fd, 5000));
	assert_true(json_object_is_type(r, json_type_object));
	assert_int_equal(json_object_get_int(tj_member(r, "id")), 77);
	json_object_put(r);
	raw_close(fd);
}

static void test_ids_echoed_exactly(void **state)
{
	(void)state;
	static const char *const ids[] = {
		"\"abc\"", "\"a \\\"quoted\\\" \\u00e9 id\"", "0", "-7", "18446744073709551615",
		"1.50", "null",
	};
	int fd = connect_or_fail();
	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		char line[256];
		snprintf(line, sizeof(line), "{\"jsonrpc\":\"2.0\",\"method\":\"daemon.info\",\"id\":%s}", ids[i]);
		raw_send(fd, line);
		const char *reply = raw_recv(fd, 5000);
		assert_non_null(reply);
		char expect[256];
		snprintf(expect, sizeof(expect), "{\"jsonrpc\":\"2.0\",\"id\":%s,", ids[i]);
		/* Strings may be re-escaped; compare values for those. */
		if (ids[i][0] == '"') {
			struct json_object *r = tj_parse(reply), *want = json_tokener_parse(ids[i]);
			assert_string_equal(json_object_get_string(tj_member(r, "id")), json_object_get_string(want));
			json_object_put(r);
			json_object_put(want);
		} else {
			assert_memory_equal(reply, expect, strlen(expect));
		}
	}
	raw_close(fd);
}

static void test_pipelined_1000(void **state)
{
	(void)state;
	enum { N = 1000 };
	static bool seen[N];
	int fd = connect_or_fail();
	char *buf = malloc((size_t)N * 160);
	size_t len = 0;

	/* All requests in one write, before reading any reply. */
	for (int i = 0; i < N; i++)
		len += (size_t)sprintf(buf + len,
			"{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"job.submit\",\"params\":"
			"{\"type\":\"sleep\",\"seconds\":0,\"message\":\"m%d\",\"wait\":true}}\n", i, i);
	assert_int_equal(raw_send_bytes(fd, buf, len), 0);
	free(buf);
	memset(seen, 0, sizeof(seen));
	for (int n = 0; n < N; n++) {
		struct json_object *r = tj_parse(raw_recv(fd, 10000));
		int id = json_object_get_int(tj_member(r, "id"));
		assert_true(id >= 0 && id < N);
		assert_false(seen[id]);
		seen[id] = true;
		char want[16];
		snprintf(want, sizeof(want), "m%d", id);
		assert_string_equal(json_object_get_string(tj_member(tj_member(tj_member(r, "result"), "result"),
								     "message")), want);
		json_object_put(r);
	}
	raw_close(fd);
}

static void test_out_of_order_replies(void **state)
{
	(void)state;
	int fd = connect_or_fail();
	raw_send(fd, "{\"jsonrpc\":\"2.0\",\"id\":\"slow\",\"method\":\"job.submit\",\"params\":"
		     "{\"type\":\"sleep\",\"seconds\":0.3,\"wait\":true}}");
	raw_send(fd, "{\"jsonrpc\":\"2.0\",\"id\":\"fast\",\"method\":\"job.submit\",\"params\":"
		     "{\"type\":\"sleep\",\"seconds\":0,\"wait\":true}}");
	struct json_object *first = tj_parse(raw_recv(fd, 5000));
	assert_string_equal(json_object_get_string(tj_member(first, "id")), "fast");
	struct json_object *second = tj_parse(raw_recv(fd, 5000));
	assert_string_equal(json_object_get_string(tj_member(second, "id")), "slow");
	json_object_put(first);
	json_object_put(second);
	raw_close(fd);
}

static void test_half_close_still_answered(void **state)
{
	(void)state;
	int fd = connect_or_fail();
	raw_send(fd, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"job.submit\",\"params\":"
		     "{\"type\":\"sleep\",\"seconds\":0.1,\"message\":\"late\",\"wait\":true}}");
	/* Done writing; the reply is still owed. */
	shutdown(fd, SHUT_WR);
	struct json_object *r = tj_parse(raw_recv(fd, 5000));
	assert_string_equal(json_object_get_string(tj_member(tj_member(tj_member(r, "result"), "result"),
							     "message")), "late");
	json_object_put(r);
	/* Then the daemon closes. */
	assert_true(raw_wait_eof(fd, 5000));
	raw_close(fd);
}

static void test_crlf_and_blank_lines(void **state)
{
	(void)state;
	int fd = connect_or_fail();
	const char *msg = "\n\r\n   \n{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"daemon.info\"}\r\n";
	raw_send_bytes(fd, msg, strlen(msg));
	struct json_object *r = tj_parse(raw_recv(fd, 5000));
	assert_int_equal(json_object_get_int(tj_member(r, "id")), 5);
	json_object_put(r);
	raw_close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_positional_params_refused),
		cmocka_unit_test(test_named_params),
		cmocka_unit_test(test_notification_gets_no_reply),
		cmocka_unit_test(test_method_not_found),
		cmocka_unit_test(test_invalid_json),
		cmocka_unit_test(test_invalid_request_object),
		cmocka_unit_test(test_batch_invalid_json),
		cmocka_unit_test(test_empty_batch),
		cmocka_unit_test(test_invalid_batches),
		cmocka_unit_test(test_mixed_batch),
		cmocka_unit_test(test_batch_of_notifications),
		cmocka_unit_test(test_ids_echoed_exactly),
		cmocka_unit_test(test_pipelined_1000),
		cmocka_unit_test(test_out_of_order_replies),
		cmocka_unit_test(test_half_close_still_answered),
		cmocka_unit_test(test_crlf_and_blank_lines),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
