/* Unit tests for proto/jsonrpc.c (line parsing, JSON-RPC 2.0 envelopes) and
 * proto/protocol.c (code, state and error names). */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <json-c/json.h>

#include "proto/jsonrpc.h"
#include "proto/jsonw.h"
#include "proto/protocol.h"

/* ------------------------------------------------------------ helpers */

#define SENTINEL_OBJ ((struct json_object *)&sentinel_storage)
static int sentinel_storage;

/* Runs json_parse_line on `len` bytes with a fresh default tokener. */
static int parse_len(const char *line, size_t len, struct json_object **ret,
		     const char **reason)
{
	struct json_tokener *tok = json_tokener_new();
	int r;

	assert_non_null(tok);
	*ret = SENTINEL_OBJ;
	*reason = NULL;
	r = json_parse_line(tok, line, len, ret, reason);
	json_tokener_free(tok);
	return r;
}

/* Expects `line` to parse; returns the value (NULL for JSON null). */
static struct json_object *parse_ok(const char *line)
{
	struct json_object *o;
	const char *reason;
	int r = parse_len(line, strlen(line), &o, &reason);

	if (r != 0)
		print_error("json_parse_line(%s) refused: %s\n", line, reason ? reason : "(null)");
	assert_int_equal(r, 0);
	assert_ptr_not_equal(o, SENTINEL_OBJ);
	return o;
}

/* Expects `len` bytes at `line` to be refused; returns the reason. */
static const char *parse_refused_len(const char *line, size_t len)
{
	struct json_object *o;
	const char *reason;
	int r = parse_len(line, len, &o, &reason);

	if (r == 0) {
		print_error("json_parse_line(%.*s) accepted it\n", (int)len, line);
		if (o != SENTINEL_OBJ)
			json_object_put(o);
	}
	assert_int_equal(r, -EINVAL);
	assert_non_null(reason);
	assert_true(reason[0] != '\0');
	/* Nothing is handed back on failure. */
	assert_ptr_equal(o, SENTINEL_OBJ);
	return reason;
}

static const char *parse_refused(const char *line)
{
	return parse_refused_len(line, strlen(line));
}

/* Parses a JSON text the test itself supplies (not the code under test). */
static struct json_object *J(const char *text)
{
	struct json_object *o = json_tokener_parse(text);
	assert_non_null(o);
	return o;
}

/* The writer's text as a NUL-terminated copy. */
static char *text_of(const struct jsonw *w)
{
	char *s = malloc(w->len + 1);
	assert_non_null(s);
	if (w->len)
		memcpy(s, w->buf, w->len);
	s[w->len] = '\0';
	return s;
}

/* ------------------------------------------------------ json_parse_line */

static void test_parse_valid_values(void **state)
{
	(void)state;
	struct json_object *o;

	o = parse_ok("{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"id\":1}");
	assert_true(json_object_is_type(o, json_type_object));
	assert_int_equal(json_object_object_length(o), 3);
	json_object_put(o);

	o = parse_ok("[1,\"two\",{\"three\":[3]}]");
	assert_true(json_object_is_type(o, json_type_array));
	assert_int_equal(json_object_array_length(o), 3);
	json_object_put(o);

	o = parse_ok("\"caf\xc3\xa9 \\u00e9\"");
	assert_true(json_object_is_type(o, json_type_string));
	assert_string_equal(json_object_get_string(o), "caf\xc3\xa9 \xc3\xa9");
	json_object_put(o);

	o = parse_ok("-12.5e1 ");
	assert_true(json_object_is_type(o, json_type_double));
	assert_true(json_object_get_double(o) == -125.0);
	json_object_put(o);

	/* A line that is only part of a longer buffer: len is respected. */
	const char buf[] = "{\"a\":1}{\"b\":2}";
	struct json_object *p;
	const char *reason;
	assert_int_equal(parse_len(buf, 7, &p, &reason), 0);
	assert_true(json_object_is_type(p, json_type_object));
	assert_true(json_object_object_get_ex(p, "a", NULL));
	json_object_put(p);
}

/* Prints `len` bytes with non-ASCII and control bytes as \xNN. */
static void print_bytes(const char *what, const char *s, size_t len)
{
	char out[512];
	size_t o = 0;

	for (size_t i = 0; i < len && o + 5 < sizeof(out); i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c >= 0x7f)
			o += (size_t)snprintf(out + o, sizeof(out) - o, "\\x%02x", c);
		else
			out[o++] = (char)c;
	}
	out[o] = '\0';
	print_error("%s: %s\n", what, out);
}

/* Checks every line is refused; lists all that are not, then fails. */
#define expect_all_refused(lines) \
	expect_all_refused_(lines, sizeof(lines) / sizeof((lines)[0]))
static void expect_all_refused_(const char *const *lines, size_t n)
{
	size_t accepted = 0;

	for (size_t i = 0; i < n; i++) {
		struct json_object *o;
		const char *reason;
		size_t len = strlen(lines[i]);
		int r = parse_len(lines[i], len, &o, &reason);
		if (r == 0) {
			print_bytes("json_parse_line accepted", lines[i], len);
			if (o != SENTINEL_OBJ)
				json_object_put(o);
			accepted++;
			continue;
		}
		assert_int_equal(r, -EINVAL);
		assert_non_null(reason);
		assert_ptr_equal(o, SENTINEL_OBJ);
	}
	assert_int_equal(accepted, 0);
}

static void test_parse_bare_scalar_at_end(void **state)
{
	(void)state;
	/* A scalar that ends the line is complete only at the end of input;
	 * each is given with how json-c prints the value it parsed. */
	static const struct {
		const char *line;
		enum json_type type;
		const char *printed;
	} scalars[] = {
		{ "42", json_type_int, "42" },
		{ "-7", json_type_int, "-7" },
		{ "0", json_type_int, "0" },
		{ "1.5", json_type_double, "1.5" },
		{ "2e3", json_type_double, "2e3" },
		{ "true", json_type_boolean, "true" },
		{ "false", json_type_boolean, "false" },
		{ "null", json_type_null, NULL },
	};
	size_t refused = 0;

	for (size_t i = 0; i < sizeof(scalars) / sizeof(scalars[0]); i++) {
		struct json_object *o;
		const char *reason;
		int r = parse_len(scalars[i].line, strlen(scalars[i].line), &o, &reason);
		if (r != 0) {
			print_error("json_parse_line(%s) refused: %s\n", scalars[i].line,
				    reason ? reason : "(null)");
			refused++;
			continue;
		}
		assert_int_equal(json_object_get_type(o), scalars[i].type);
		if (scalars[i].printed)
			assert_string_equal(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN),
					    scalars[i].printed);
		else
			assert_null(o);  /* JSON null comes back as NULL */
		json_object_put(o);
	}
	assert_int_equal(refused, 0);

	/* Incomplete scalars are still refused. */
	static const char *const incomplete[] = { "tru", "nul", "1e", "-", "1e+", "\"abc" };
	expect_all_refused(incomplete);
}

static void test_parse_trailing(void **state)
{
	(void)state;
	struct json_object *o;

	/* Whitespace after the value is fine. */
	o = parse_ok("{\"a\":1}  \t\r");
	assert_true(json_object_is_type(o, json_type_object));
	json_object_put(o);
	o = parse_ok("[] ");
	assert_true(json_object_is_type(o, json_type_array));
	json_object_put(o);
	o = parse_ok("7 ");
	assert_int_equal(json_object_get_int64(o), 7);
	json_object_put(o);
	o = parse_ok("  \"s\"  ");
	assert_string_equal(json_object_get_string(o), "s");
	json_object_put(o);

	/* Anything else after it is not; nor is nothing at all. */
	static const char *const bad[] = {
		"{} x", "{}{}", "[1] [2]", "\"a\" \"b\"", "1 2", "{}]", "{} ,", "", "   ",
	};
	expect_all_refused(bad);
}

static void test_parse_nul_refused(void **state)
{
	(void)state;

	assert_string_equal(parse_refused_len("{\"a\":\"x\0y\"}", 11), "NUL byte in message");
	assert_string_equal(parse_refused_len("{}\0", 3), "NUL byte in message");
	assert_string_equal(parse_refused_len("\0{}", 3), "NUL byte in message");
	/* The escaped form is fine. */
	struct json_object *o = parse_ok("\"x\\u0000y\"");
	assert_int_equal(json_object_get_string_len(o), 3);
	assert_memory_equal(json_object_get_string(o), "x\0y", 3);
	json_object_put(o);
}

static void test_parse_invalid_utf8_refused(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"\"\xc3\x28\"",                 /* bad continuation */
		"\"a\x80\"",                    /* lone continuation */
		"\"\xe2\x82\"",                 /* truncated, then the quote */
		"{\"k\xff\":1}",                /* in a key */
		"[\"ok\",\"\xfe\"]",
		/* Well-formed in shape, but not UTF-8 (RFC 3629). */
		"\"\xc0\x80\"",                 /* overlong NUL */
		"\"\xc0\xaf\"",                 /* overlong '/' */
		"\"\xe0\x80\xaf\"",             /* overlong, 3 bytes */
		"\"\xed\xa0\x80\"",             /* surrogate U+D800 */
		"\"\xf4\x90\x80\x80\"",         /* past U+10FFFF */
		"\"\xf5\x80\x80\x80\"",         /* lead byte F5 */
	};

	expect_all_refused(bad);

	/* Valid UTF-8 at the edges is accepted. */
	struct json_object *o = parse_ok("[\"\xc2\x80\",\"\xed\x9f\xbf\",\"\xee\x80\x80\","
					 "\"\xf0\x90\x80\x80\",\"\xf4\x8f\xbf\xbf\",\"\x7f\"]");
	assert_int_equal(json_object_array_length(o), 6);
	json_object_put(o);
}

static void test_parse_strict(void **state)
{
	(void)state;
	static const char *const bad[] = {
		/* Comments. */
		"/* c */ {}", "{} // c", "{\"a\": /* c */ 1}",
		/* Trailing commas. */
		"[1,]", "{\"a\":1,}", "[1,,2]",
		/* Single quotes, as a value and as a key. */
		"'a'", "{\"a\":'b'}", "{'a':1}", "{\"a\":\"b\",'c':1}",
		/* Other things outside the grammar. */
		"{a:1}", "[01]", "[+1]", "[.5]", "[0x10]", "[True]", "\"\\x41\"",
	};

	expect_all_refused(bad);
}

/* RFC 8259 beyond comments, commas and quotes. */
static void test_parse_strict_rfc8259(void **state)
{
	(void)state;
	static const char *const bad[] = {
		/* Not JSON numbers. */
		"[NaN]", "[Infinity]", "[-Infinity]", "[1.]", "{\"a\":1.}",
		/* Leading zeros, and tokens run together (the fuzzer's finds:
		 * json-c kept "00.5" as a double and echoed it verbatim). */
		"[00.5]", "{\"id\":00e2}", "[01]", "-01", "[0x1]", "[1true]", "[truex]", "[nullnull]",
		/* Raw control characters inside strings must be escaped. */
		"[\"a\tb\"]", "[\"\x01\"]", "{\"k\x1f\":1}",
	};

	expect_all_refused(bad);
}

static void test_parse_depth(void **state)
{
	(void)state;
	struct json_tokener *tok = json_tokener_new_ex(4);
	struct json_object *o;
	const char *reason;

	assert_non_null(tok);
	/* json-c counts every value on the path, the innermost one included:
	 * four nested empty arrays are four levels, three arrays around a
	 * number are four as well. */
	static const char *const ok[] = {
		"[[[[]]]]",
		"[[[1]]]",
		"{\"a\":{\"a\":{\"a\":{}}}}",
		"{\"a\":{\"a\":{\"a\":1}}}",
		"[[[{}]]]",
	};
	static const char *const too_deep[] = {
		"[[[[[]]]]]",
		"[[[[1]]]]",
		"{\"a\":{\"a\":{\"a\":{\"a\":{}}}}}",
		"{\"a\":{\"a\":{\"a\":{\"a\":1}}}}",
		"[[[[{}]]]]",
		"[[[[\"s\"]]]]",
		"[[[[[[[[[[]]]]]]]]]]",
	};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		o = NULL;
		reason = NULL;
		assert_int_equal(json_parse_line(tok, ok[i], strlen(ok[i]), &o, &reason), 0);
		assert_non_null(o);
		json_object_put(o);
	}
	for (size_t i = 0; i < sizeof(too_deep) / sizeof(too_deep[0]); i++) {
		o = SENTINEL_OBJ;
		reason = NULL;
		assert_int_equal(json_parse_line(tok, too_deep[i], strlen(too_deep[i]), &o, &reason),
				 -EINVAL);
		assert_non_null(reason);
		assert_string_equal(reason, "JSON nested too deeply");
		assert_ptr_equal(o, SENTINEL_OBJ);
	}
	/* The tokener is reset between lines: a good line after a bad one. */
	o = NULL;
	assert_int_equal(json_parse_line(tok, "[[[[]]]]", 8, &o, &reason), 0);
	assert_non_null(o);
	json_object_put(o);

	json_tokener_free(tok);
}

/* ---------------------------------------------------- rpc_request_parse */

struct req_result {
	int code;
	const char *reason;
	struct rpc_request req;
};

static struct req_result req_parse(struct json_object *obj)
{
	struct req_result r;
	r.reason = NULL;
	r.code = rpc_request_parse(obj, &r.req, &r.reason);
	if (r.code == 0)
		assert_null(r.reason);
	else
		assert_non_null(r.reason);
	return r;
}

static void test_request_spec_valid(void **state)
{
	(void)state;
	struct json_object *o;
	struct req_result r;

	/* rpc call with positional parameters */
	o = J("{\"jsonrpc\": \"2.0\", \"method\": \"subtract\", \"params\": [42, 23], \"id\": 1}");
	r = req_parse(o);
	assert_int_equal(r.code, 0);
	assert_string_equal(r.req.method, "subtract");
	assert_true(json_object_is_type(r.req.params, json_type_array));
	assert_int_equal(json_object_array_length(r.req.params), 2);
	assert_true(r.req.has_id);
	assert_true(r.req.id_valid);
	assert_true(json_object_is_type(r.req.id, json_type_int));
	assert_int_equal(json_object_get_int64(r.req.id), 1);
	json_object_put(o);

	/* rpc call with named parameters */
	o = J("{\"jsonrpc\": \"2.0\", \"method\": \"subtract\", "
	      "\"params\": {\"subtrahend\": 23, \"minuend\": 42}, \"id\": 3}");
	r = req_parse(o);
	assert_int_equal(r.code, 0);
	assert_true(json_object_is_type(r.req.params, json_type_object));
	assert_int_equal(json_object_get_int64(r.req.id), 3);
	json_object_put(o);

	/* a notification, with and without params */
	o = J("{\"jsonrpc\": \"2.0\", \"method\": \"update\", \"params\": [1,2,3,4,5]}");
	r = req_parse(o);
	assert_int_equal(r.code, 0);
	assert_string_equal(r.req.method, "update");
	assert_false(r.req.has_id);
	assert_false(r.req.id_valid);
	assert_null(r.req.id);
	assert_non_null(r.req.params);
	json_object_put(o);

	o = J("{\"jsonrpc\": \"2.0\", \"method\": \"foobar\"}");
	r = req_parse(o);
	assert_int_equal(r.code, 0);
	assert_string_equal(r.req.method, "foobar");
	assert_false(r.req.has_id);
	assert_null(r.req.params);
	json_object_put(o);

	/* rpc call of a non-existent method: a well-formed request */
	o = J("{\"jsonrpc\": \"2.0\", \"method\": \"foobar\", \"id\": \"1\"}");
	r = req_parse(o);
	assert_int_equal(r.code, 0);
	assert_true(r.req.has_id);
	assert_true(r.req.id_valid);
	assert_string_equal(json_object_get_string(r.req.id), "1");
	json_object_put(o);
}

static void test_request_spec_invalid_json(void **state)
{
	(void)state;

	/* rpc call with invalid JSON */
	parse_refused("{\"jsonrpc\": \"2.0\", \"method\": \"foobar, \"params\": \"bar\", \"baz]");
	/* rpc call Batch, invalid JSON */
	parse_refused("[ {\"jsonrpc\": \"2.0\", \"method\": \"sum\", \"params\": [1,2,4], \"id\": \"1\"},"
		      "{\"jsonrpc\": \"2.0\", \"method\" ]");
}

static void test_request_spec_invalid(void **state)
{
	(void)state;
	struct json_object *o;
	struct req_result r;

	/* rpc call with invalid Request object: no id, so none to echo */
	o = J("{\"jsonrpc\": \"2.0\", \"method\": 1, \"params\": \"bar\"}");
	r = req_parse(o);
	assert_int_equal(r.code, RPC_INVALID_REQUEST);
	assert_false(r.req.has_id);
	assert_false(r.req.id_valid);
	assert_null(r.req.method);
	json_object_put(o);

	/* The same with an id: the error can carry it. */
	o = J("{\"jsonrpc\": \"2.0\", \"method\": 1, \"id\": 9}");
	r = req_parse(o);
	assert_int_equal(r.code, RPC_INVALID_REQUEST);
	assert_string_equal(r.reason, "method must be a string");
	assert_true(r.req.has_id);
	assert_true(r.req.id_valid);
	assert_int_equal(json_object_get_int64(r.req.id), 9);
	json_object_put(o);

	/* Not objects: an empty batch, a batch element, other values. */
	static const char *const not_objects[] = { "[]", "[1]", "1", "\"req\"", "true" };
	for (size_t i = 0; i < sizeof(not_objects) / sizeof(not_objects[0]); i++) {
		o = J(not_objects[i]);
		r = req_parse(o);
		assert_int_equal(r.code, RPC_INVALID_REQUEST);
		assert_false(r.req.has_id);
		assert_false(r.req.id_valid);
		json_object_put(o);
	}
	r = req_parse(NULL);
	assert_int_equal(r.code, RPC_INVALID_REQUEST);
	assert_false(r.req.has_id);
}

static void test_request_members(void **state)
{
	(void)state;
	static const struct {
		const char *json;
		const char *reason;
	} bad[] = {
		{ "{\"method\":\"m\",\"id\":1}", "jsonrpc member missing" },
		{ "{\"jsonrpc\":\"1.0\",\"method\":\"m\",\"id\":1}", "jsonrpc must be \"2.0\"" },
		{ "{\"jsonrpc\":2.0,\"method\":\"m\",\"id\":1}", "jsonrpc must be \"2.0\"" },
		{ "{\"jsonrpc\":\"2.0\",\"id\":1}", "method member missing" },
		{ "{\"jsonrpc\":\"2.0\",\"method\":null,\"id\":1}", "method must be a string" },
		{ "{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"params\":\"bar\",\"id\":1}",
		  "params must be an object or an array" },
		{ "{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"params\":3,\"id\":1}",
		  "params must be an object or an array" },
		{ "{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"params\":null,\"id\":1}",
		  "params must be an object or an array" },
		{ "{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"extra\":true,\"id\":1}",
		  "unknown member in request" },
		{ "{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"Id\":1,\"id\":1}",
		  "unknown member in request" },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct json_object *o = J(bad[i].json);
		struct req_result r = req_parse(o);
		assert_int_equal(r.code, RPC_INVALID_REQUEST);
		assert_string_equal(r.reason, bad[i].reason);
		/* The id was read: the error can echo it. */
		assert_true(r.req.has_id);
		assert_true(r.req.id_valid);
		assert_int_equal(json_object_get_int64(r.req.id), 1);
		json_object_put(o);
	}

	/* A notification that is invalid has no id to echo. */
	struct json_object *o = J("{\"jsonrpc\":\"1.0\",\"method\":\"m\"}");
	struct req_result r = req_parse(o);
	assert_int_equal(r.code, RPC_INVALID_REQUEST);
	assert_false(r.req.has_id);
	assert_false(r.req.id_valid);
	json_object_put(o);
}

static void test_request_ids(void **state)
{
	(void)state;
	struct json_object *o;
	struct req_result r;

	/* Strings, numbers and null are kept. */
	o = J("{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"id\":\"abc\"}");
	r = req_parse(o);
	assert_int_equal(r.code, 0);
	assert_true(r.req.has_id && r.req.id_valid);
	assert_string_equal(json_object_get_string(r.req.id), "abc");
	json_object_put(o);

	o = J("{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"id\":-17}");
	r = req_parse(o);
	assert_int_equal(r.code, 0);
	assert_true(r.req.has_id && r.req.id_valid);
	assert_int_equal(json_object_get_int64(r.req.id), -17);
	json_object_put(o);

	o = J("{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"id\":1.5}");
	r = req_parse(o);
	assert_int_equal(r.code, 0);
	assert_true(r.req.has_id && r.req.id_valid);
	assert_true(json_object_is_type(r.req.id, json_type_double));
	assert_true(json_object_get_double(r.req.id) == 1.5);
	json_object_put(o);

	/* id:null is a call, not a notification. */
	o = J("{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"id\":null}");
	r = req_parse(o);
	assert_int_equal(r.code, 0);
	assert_true(r.req.has_id);
	assert_true(r.req.id_valid);
	assert_null(r.req.id);
	json_object_put(o);

	/* Objects, arrays and booleans are refused and cannot be echoed. */
	static const char *const bad_ids[] = {
		"{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"id\":{\"a\":1}}",
		"{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"id\":[1]}",
		"{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"id\":true}",
		"{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"id\":false}",
		"{\"id\":{},\"jsonrpc\":\"2.0\",\"method\":\"m\"}",
	};
	for (size_t i = 0; i < sizeof(bad_ids) / sizeof(bad_ids[0]); i++) {
		o = J(bad_ids[i]);
		r = req_parse(o);
		assert_int_equal(r.code, RPC_INVALID_REQUEST);
		assert_string_equal(r.reason, "id must be a string, a number or null");
		assert_true(r.req.has_id);
		assert_false(r.req.id_valid);
		assert_null(r.req.id);
		json_object_put(o);
	}
}

/* --------------------------------------------------------- rpc_id_write */

/* Parses a request line, writes its id back, and compares with `expected`. */
static void check_id_echo(const char *id_text, const char *expected)
{
	char line[256];
	struct json_object *o, *id;
	struct jsonw w;
	char *s;

	snprintf(line, sizeof(line), "{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"id\":%s}", id_text);
	o = parse_ok(line);
	assert_true(json_object_object_get_ex(o, "id", &id));
	jsonw_init(&w);
	rpc_id_write(&w, id);
	s = text_of(&w);
	assert_string_equal(s, expected);
	free(s);
	jsonw_release(&w);
	json_object_put(o);
}

static void test_id_write(void **state)
{
	(void)state;

	check_id_echo("\"abc\"", "\"abc\"");
	check_id_echo("\"q\\\"b\\\\s\\n\\t\\u0001\"", "\"q\\\"b\\\\s\\n\\t\\u0001\"");
	check_id_echo("\"caf\xc3\xa9\"", "\"caf\xc3\xa9\"");
	check_id_echo("\"a\\u0000b\"", "\"a\\u0000b\"");
	check_id_echo("\"\"", "\"\"");
	check_id_echo("1", "1");
	check_id_echo("0", "0");
	check_id_echo("-5", "-5");
	check_id_echo("9223372036854775807", "9223372036854775807");
	check_id_echo("9223372036854775808", "9223372036854775808");
	check_id_echo("-9223372036854775808", "-9223372036854775808");
	check_id_echo("18446744073709551615", "18446744073709551615");
	check_id_echo("1.50", "1.50");
	check_id_echo("-0.0", "-0.0");
	check_id_echo("1e5", "1e5");
	check_id_echo("2.5E-3", "2.5E-3");
	check_id_echo("null", "null");

	/* Inside an envelope, commas around it are right. */
	struct json_object *o = parse_ok("{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"id\":\"x\"}");
	struct json_object *id;
	struct jsonw w;
	assert_true(json_object_object_get_ex(o, "id", &id));
	jsonw_init(&w);
	jsonw_array_begin(&w);
	jsonw_int(&w, 1);
	rpc_id_write(&w, id);
	rpc_id_write(&w, NULL);
	jsonw_array_end(&w);
	char *s = text_of(&w);
	assert_string_equal(s, "[1,\"x\",null]");
	free(s);
	jsonw_release(&w);
	json_object_put(o);
}

/* ------------------------------------------------------ reply envelope */

static void test_reply_envelope(void **state)
{
	(void)state;
	struct jsonw w;
	struct json_object *o;
	struct rpc_response resp;
	const char *reason = NULL;
	char *s;

	jsonw_init(&w);
	rpc_reply_begin(&w, "7", 1);
	jsonw_object_begin(&w);
	jsonw_key(&w, "a");
	jsonw_int(&w, 1);
	jsonw_key(&w, "b");
	jsonw_bool(&w, true);
	jsonw_object_end(&w);
	rpc_reply_end(&w);
	assert_false(w.failed);
	assert_int_equal(w.depth, 0);
	s = text_of(&w);
	assert_string_equal(s, "{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{\"a\":1,\"b\":true}}");
	o = parse_ok(s);
	assert_int_equal(rpc_response_parse(o, &resp, &reason), 0);
	assert_false(resp.is_error);
	assert_int_equal(json_object_get_int64(resp.id), 7);
	assert_true(json_object_is_type(resp.result, json_type_object));
	assert_int_equal(json_object_object_length(resp.result), 2);
	json_object_put(o);
	free(s);

	/* A null id and a scalar result; then a string id after a reset. */
	jsonw_reset(&w);
	rpc_reply_begin(&w, NULL, 0);
	jsonw_string(&w, "done");
	rpc_reply_end(&w);
	s = text_of(&w);
	assert_string_equal(s, "{\"jsonrpc\":\"2.0\",\"id\":null,\"result\":\"done\"}");
	o = parse_ok(s);
	assert_int_equal(rpc_response_parse(o, &resp, &reason), 0);
	assert_null(resp.id);
	assert_string_equal(json_object_get_string(resp.result), "done");
	json_object_put(o);
	free(s);

	jsonw_reset(&w);
	rpc_reply_begin(&w, "\"req-1\"", 7);
	jsonw_array_begin(&w);
	jsonw_array_end(&w);
	rpc_reply_end(&w);
	/* Two messages in one buffer, a newline apart. */
	jsonw_raw(&w, "\n", 1);
	rpc_reply_begin(&w, "8", 1);
	jsonw_null(&w);
	rpc_reply_end(&w);
	s = text_of(&w);
	assert_string_equal(s, "{\"jsonrpc\":\"2.0\",\"id\":\"req-1\",\"result\":[]}\n"
			       "{\"jsonrpc\":\"2.0\",\"id\":8,\"result\":null}");
	*strchr(s, '\n') = '\0';
	o = parse_ok(s);
	assert_int_equal(rpc_response_parse(o, &resp, &reason), 0);
	assert_string_equal(json_object_get_string(resp.id), "req-1");
	json_object_put(o);
	free(s);

	jsonw_release(&w);
}

/* -------------------------------------------------- rpc_response_parse */

static void test_response_parse(void **state)
{
	(void)state;
	struct json_object *o;
	struct rpc_response resp;
	const char *reason;

	o = J("{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"x\":1}}");
	reason = NULL;
	assert_int_equal(rpc_response_parse(o, &resp, &reason), 0);
	assert_null(reason);
	assert_false(resp.is_error);
	assert_int_equal(json_object_get_int64(resp.id), 1);
	assert_true(json_object_object_get_ex(resp.result, "x", NULL));
	assert_null(resp.error_message);
	json_object_put(o);

	o = J("{\"jsonrpc\":\"2.0\",\"id\":\"a\",\"result\":null}");
	assert_int_equal(rpc_response_parse(o, &resp, &reason), 0);
	assert_false(resp.is_error);
	assert_null(resp.result);
	assert_string_equal(json_object_get_string(resp.id), "a");
	json_object_put(o);

	o = J("{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32600,"
	      "\"message\":\"Invalid Request\",\"data\":{\"why\":\"x\"}}}");
	assert_int_equal(rpc_response_parse(o, &resp, &reason), 0);
	assert_true(resp.is_error);
	assert_int_equal(resp.error_code, RPC_INVALID_REQUEST);
	assert_string_equal(resp.error_message, "Invalid Request");
	assert_true(json_object_is_type(resp.error_data, json_type_object));
	assert_null(resp.id);
	assert_null(resp.result);
	json_object_put(o);

	o = J("{\"jsonrpc\":\"2.0\",\"id\":4,\"error\":{\"code\":-32001,\"message\":\"Job not found\"}}");
	assert_int_equal(rpc_response_parse(o, &resp, &reason), 0);
	assert_true(resp.is_error);
	assert_int_equal(resp.error_code, RPC_JOB_NOT_FOUND);
	assert_string_equal(resp.error_message, "Job not found");
	assert_null(resp.error_data);
	json_object_put(o);

	static const struct {
		const char *json;
		const char *reason;
	} bad[] = {
		{ "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":1,\"error\":{\"code\":1,\"message\":\"m\"}}",
		  "response must have exactly one of result and error" },
		{ "{\"jsonrpc\":\"2.0\",\"id\":1}",
		  "response must have exactly one of result and error" },
		{ "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":\"boom\"}", "malformed error object in response" },
		{ "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":null}", "malformed error object in response" },
		{ "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"message\":\"m\"}}",
		  "malformed error object in response" },
		{ "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":\"-32600\",\"message\":\"m\"}}",
		  "malformed error object in response" },
		{ "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-32600.5,\"message\":\"m\"}}",
		  "malformed error object in response" },
		{ "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-32600}}",
		  "malformed error object in response" },
		{ "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-32600,\"message\":5}}",
		  "malformed error object in response" },
		{ "{\"id\":1,\"result\":1}", "response lacks jsonrpc \"2.0\"" },
		{ "{\"jsonrpc\":\"1.0\",\"id\":1,\"result\":1}", "response lacks jsonrpc \"2.0\"" },
		{ "{\"jsonrpc\":\"2.0\",\"result\":1}", "response lacks an id" },
		{ "[]", "response is not an object" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		o = J(bad[i].json);
		reason = NULL;
		assert_int_equal(rpc_response_parse(o, &resp, &reason), -EBADMSG);
		assert_non_null(reason);
		assert_string_equal(reason, bad[i].reason);
		json_object_put(o);
	}
}

/* ----------------------------------------------- rpc_notification_parse */

static void test_notification_parse(void **state)
{
	(void)state;
	struct json_object *o, *params, *expected_params;
	const char *method;

	o = J("{\"jsonrpc\":\"2.0\",\"method\":\"job.updated\","
	      "\"params\":{\"job\":{\"id\":\"j1\",\"state\":\"running\"}}}");
	method = NULL;
	params = NULL;
	assert_true(rpc_notification_parse(o, &method, &params));
	assert_non_null(method);
	assert_string_equal(method, RPC_NOTIFY_JOB_UPDATED);
	assert_true(json_object_object_get_ex(o, "params", &expected_params));
	assert_ptr_equal(params, expected_params);
	assert_true(json_object_object_get_ex(params, "job", NULL));
	json_object_put(o);

	o = J("{\"jsonrpc\":\"2.0\",\"method\":\"gather.progress\"}");
	params = SENTINEL_OBJ;
	assert_true(rpc_notification_parse(o, &method, &params));
	assert_string_equal(method, RPC_NOTIFY_GATHER_PROGRESS);
	assert_null(params);
	json_object_put(o);

	static const char *const not_notifications[] = {
		"{\"jsonrpc\":\"2.0\",\"method\":\"job.updated\",\"params\":{},\"id\":1}",
		"{\"jsonrpc\":\"2.0\",\"method\":\"job.updated\",\"params\":{},\"id\":null}",
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}",
		"{\"jsonrpc\":\"2.0\",\"method\":5}",
		"{\"jsonrpc\":\"2.0\"}",
		"[{\"jsonrpc\":\"2.0\",\"method\":\"job.updated\"}]",
	};
	for (size_t i = 0; i < sizeof(not_notifications) / sizeof(not_notifications[0]); i++) {
		o = J(not_notifications[i]);
		method = "untouched";
		assert_false(rpc_notification_parse(o, &method, &params));
		assert_string_equal(method, "untouched");
		json_object_put(o);
	}
	assert_false(rpc_notification_parse(NULL, &method, &params));
}

/* ------------------------------------------------------------ protocol.c */

static void test_rpc_code_message(void **state)
{
	(void)state;
	static const struct {
		int code;
		const char *message;
	} codes[] = {
		{ RPC_PARSE_ERROR, "Parse error" },
		{ RPC_INVALID_REQUEST, "Invalid Request" },
		{ RPC_METHOD_NOT_FOUND, "Method not found" },
		{ RPC_INVALID_PARAMS, "Invalid params" },
		{ RPC_INTERNAL_ERROR, "Internal error" },
		{ RPC_JOB_NOT_FOUND, "Job not found" },
		{ RPC_BUSY, "Busy" },
		{ RPC_FORBIDDEN, "Forbidden" },
		{ RPC_JOB_FINISHED, "Job already finished" },
		{ RPC_REQUEST_TOO_LARGE, "Request too large" },
	};

	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		const char *m = rpc_code_message(codes[i].code);
		assert_non_null(m);
		assert_string_equal(m, codes[i].message);
	}
	assert_int_equal(RPC_PARSE_ERROR, -32700);
	assert_int_equal(RPC_INVALID_REQUEST, -32600);
	assert_int_equal(RPC_METHOD_NOT_FOUND, -32601);
	assert_int_equal(RPC_INVALID_PARAMS, -32602);
	assert_int_equal(RPC_INTERNAL_ERROR, -32603);

	static const int unknown[] = { 0, 1, -1, -32000, -32006, -32099, -32604, -32699, 32600 };
	for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++)
		assert_null(rpc_code_message(unknown[i]));
}

static void test_job_state_names(void **state)
{
	(void)state;
	static const char *const names[JOB_STATE_COUNT] = {
		[JOB_QUEUED] = "queued",
		[JOB_RUNNING] = "running",
		[JOB_SUCCEEDED] = "succeeded",
		[JOB_FAILED] = "failed",
		[JOB_CANCELED] = "canceled",
	};
	enum job_state st;

	for (int i = 0; i < JOB_STATE_COUNT; i++) {
		const char *n = job_state_name((enum job_state)i);
		assert_non_null(n);
		assert_string_equal(n, names[i]);
		st = (enum job_state)-1;
		assert_int_equal(job_state_from_name(n, &st), 0);
		assert_int_equal(st, i);
	}
	assert_string_equal(job_state_name((enum job_state)JOB_STATE_COUNT), "unknown");
	assert_false(job_state_is_final(JOB_QUEUED));
	assert_false(job_state_is_final(JOB_RUNNING));
	assert_true(job_state_is_final(JOB_SUCCEEDED));
	assert_true(job_state_is_final(JOB_FAILED));
	assert_true(job_state_is_final(JOB_CANCELED));

	static const char *const bad[] = { "unknown", "", "Queued", "RUNNING", "queued ",
					   "cancelled", "done" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		st = JOB_RUNNING;
		assert_int_equal(job_state_from_name(bad[i], &st), -EINVAL);
		assert_int_equal(st, JOB_RUNNING);
	}
}

static void test_job_error_names(void **state)
{
	(void)state;
	static const struct {
		enum job_error code;
		const char *name;
	} errs[] = {
		{ JOB_ERR_NONE, "none" },
		{ JOB_ERR_TIMEOUT, "timeout" },
		{ JOB_ERR_CANCELED, "canceled" },
		{ JOB_ERR_SHUTDOWN, "shutdown" },
		{ JOB_ERR_NETWORK, "network" },
		{ JOB_ERR_HTTP_STATUS, "http_status" },
		{ JOB_ERR_TOO_LARGE, "too_large" },
		{ JOB_ERR_IO, "io" },
		{ JOB_ERR_FORBIDDEN, "forbidden" },
	};

	for (size_t i = 0; i < sizeof(errs) / sizeof(errs[0]); i++) {
		const char *n = job_error_name(errs[i].code);
		assert_non_null(n);
		assert_string_equal(n, errs[i].name);
		/* Names are distinct. */
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(n, job_error_name(errs[j].code));
	}
	assert_string_equal(job_error_name((enum job_error)(JOB_ERR_FORBIDDEN + 1)), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_valid_values),
		cmocka_unit_test(test_parse_bare_scalar_at_end),
		cmocka_unit_test(test_parse_trailing),
		cmocka_unit_test(test_parse_nul_refused),
		cmocka_unit_test(test_parse_invalid_utf8_refused),
		cmocka_unit_test(test_parse_strict),
		cmocka_unit_test(test_parse_strict_rfc8259),
		cmocka_unit_test(test_parse_depth),
		cmocka_unit_test(test_request_spec_valid),
		cmocka_unit_test(test_request_spec_invalid_json),
		cmocka_unit_test(test_request_spec_invalid),
		cmocka_unit_test(test_request_members),
		cmocka_unit_test(test_request_ids),
		cmocka_unit_test(test_id_write),
		cmocka_unit_test(test_reply_envelope),
		cmocka_unit_test(test_response_parse),
		cmocka_unit_test(test_notification_parse),
		cmocka_unit_test(test_rpc_code_message),
		cmocka_unit_test(test_job_state_names),
		cmocka_unit_test(test_job_error_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
