/* Unit tests for proto/jsonrpc.c (JSON-RPC 2.0 envelopes, on lines parsed
 * with proto/json.c's json_parse) and proto/protocol.c (code, state and
 * error names). */
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

#include "proto/json.h"
#include "proto/jsonrpc.h"
#include "proto/jsonw.h"
#include "proto/protocol.h"
#include "tests/common/json-assert.h"

/* ------------------------------------------------------------ helpers */

/* The nesting limit of the tokener the old tests used (json-c's default). */
#define DEFAULT_DEPTH 32

static const struct json_value sentinel_value;
#define SENTINEL_VALUE (&sentinel_value)

/* A parsed line: the parser holding the tree, and the text its numbers
 * point into, copied to a buffer of exactly the line's length so that a
 * read past the end shows under ASan. */
struct doc {
	struct json_parser p;
	char *text;
	const struct json_value *root;
};

static void doc_release(struct doc *d)
{
	json_parser_release(&d->p);
	free(d->text);
	d->text = NULL;
	d->root = NULL;
}

/* Runs json_parse on `len` bytes with a fresh parser of the default depth.
 * d->root is SENTINEL_VALUE unless json_parse set it. */
static int parse_len(struct doc *d, const char *line, size_t len, const char **reason)
{
	json_parser_init(&d->p, DEFAULT_DEPTH);
	d->text = malloc(len ? len : 1);
	assert_non_null(d->text);
	if (len)
		memcpy(d->text, line, len);
	d->root = SENTINEL_VALUE;
	*reason = NULL;
	return json_parse(&d->p, d->text, len, &d->root, reason);
}

/* Expects `line` to parse; returns the value (a JSON null is a JSON_NULL
 * value). The caller releases d. */
static const struct json_value *parse_ok(struct doc *d, const char *line)
{
	const char *reason;
	int r = parse_len(d, line, strlen(line), &reason);

	if (r != 0) {
		print_error("json_parse(%s) refused: %s\n", line, reason ? reason : "(null)");
		doc_release(d);
	}
	assert_int_equal(r, 0);
	assert_non_null(d->root);
	assert_ptr_not_equal(d->root, SENTINEL_VALUE);
	return d->root;
}

/* Expects `len` bytes at `line` to be refused; returns the (static) reason. */
static const char *parse_refused_len(const char *line, size_t len)
{
	struct doc d;
	const char *reason;
	int r = parse_len(&d, line, len, &reason);
	const struct json_value *root = d.root;

	if (r == 0)
		print_error("json_parse(%.*s) accepted it\n", (int)len, line);
	doc_release(&d);
	assert_int_equal(r, -EINVAL);
	assert_non_null(reason);
	assert_true(reason[0] != '\0');
	/* Nothing is handed back on failure. */
	assert_ptr_equal(root, SENTINEL_VALUE);
	return reason;
}

static const char *parse_refused(const char *line)
{
	return parse_refused_len(line, strlen(line));
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

/* A value written back as compact JSON text (the caller frees it). */
static char *written(const struct json_value *v)
{
	struct jsonw w;
	char *s;

	jsonw_init(&w);
	jsonw_value(&w, v);
	assert_false(w.failed);
	s = text_of(&w);
	jsonw_release(&w);
	return s;
}

/* Whether a number value's text is exactly `text`. */
static bool number_text_is(const struct json_value *v, const char *text)
{
	size_t n = strlen(text);
	return json_is(v, JSON_NUMBER) && v->len == n && memcmp(v->str, text, n) == 0;
}

/* ----------------------------------------------------------- json_parse */

static void test_parse_valid_values(void **state)
{
	(void)state;
	struct doc d;
	const struct json_value *v;

	v = parse_ok(&d, "{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"id\":1}");
	assert_true(json_is(v, JSON_OBJECT));
	assert_int_equal(v->len, 3);
	doc_release(&d);

	v = parse_ok(&d, "[1,\"two\",{\"three\":[3]}]");
	assert_true(json_is(v, JSON_ARRAY));
	assert_int_equal(v->len, 3);
	doc_release(&d);

	v = parse_ok(&d, "\"caf\xc3\xa9 \\u00e9\"");
	assert_true(json_is(v, JSON_STRING));
	assert_string_equal(v->str, "caf\xc3\xa9 \xc3\xa9");
	assert_int_equal(v->len, 8);
	doc_release(&d);

	/* What json-c called a double: a number that is not an integer. */
	v = parse_ok(&d, "-12.5e1 ");
	assert_true(json_is(v, JSON_NUMBER));
	assert_false(v->integer);
	assert_true(number_text_is(v, "-12.5e1"));
	assert_true(json_double(v) == -125.0);
	doc_release(&d);

	/* A line that is only part of a longer buffer: len is respected. */
	const char buf[] = "{\"a\":1}{\"b\":2}";
	const char *reason;
	assert_int_equal(parse_len(&d, buf, 7, &reason), 0);
	assert_true(json_is(d.root, JSON_OBJECT));
	assert_non_null(json_get(d.root, "a"));
	assert_null(json_get(d.root, "b"));
	doc_release(&d);
}

/* Checks every line is refused; lists all that are not, then fails. */
#define expect_all_refused(lines) \
	expect_all_refused_(lines, sizeof(lines) / sizeof((lines)[0]))
static void expect_all_refused_(const char *const *lines, size_t n)
{
	size_t accepted = 0;

	for (size_t i = 0; i < n; i++) {
		struct doc d;
		const char *reason;
		size_t len = strlen(lines[i]);
		int r = parse_len(&d, lines[i], len, &reason);
		const struct json_value *root = d.root;
		doc_release(&d);
		if (r == 0) {
			tj_print_bytes("json_parse accepted", lines[i], len, NULL);
			accepted++;
			continue;
		}
		assert_int_equal(r, -EINVAL);
		assert_non_null(reason);
		assert_ptr_equal(root, SENTINEL_VALUE);
	}
	assert_int_equal(accepted, 0);
}

static void test_parse_bare_scalar_at_end(void **state)
{
	(void)state;
	/* A scalar that ends the line is complete at the end of input; each
	 * is given with how it is written back. (json-c returned NULL for a
	 * JSON null; json_parse gives a JSON_NULL value.) */
	static const struct {
		const char *line;
		enum json_kind type;
		bool integer;
		const char *printed;
	} scalars[] = {
		{ "42", JSON_NUMBER, true, "42" },
		{ "-7", JSON_NUMBER, true, "-7" },
		{ "0", JSON_NUMBER, true, "0" },
		{ "1.5", JSON_NUMBER, false, "1.5" },
		{ "2e3", JSON_NUMBER, false, "2e3" },
		{ "true", JSON_BOOL, false, "true" },
		{ "false", JSON_BOOL, false, "false" },
		{ "null", JSON_NULL, false, "null" },
	};
	size_t refused = 0;

	for (size_t i = 0; i < sizeof(scalars) / sizeof(scalars[0]); i++) {
		struct doc d;
		const char *reason;
		int r = parse_len(&d, scalars[i].line, strlen(scalars[i].line), &reason);
		if (r != 0) {
			print_error("json_parse(%s) refused: %s\n", scalars[i].line,
				    reason ? reason : "(null)");
			doc_release(&d);
			refused++;
			continue;
		}
		assert_int_equal(d.root->type, scalars[i].type);
		assert_int_equal(d.root->integer, scalars[i].integer);
		if (scalars[i].type == JSON_BOOL)
			assert_int_equal(d.root->boolean, scalars[i].line[0] == 't');
		char *s = written(d.root);
		assert_string_equal(s, scalars[i].printed);
		free(s);
		doc_release(&d);
	}
	assert_int_equal(refused, 0);

	/* Incomplete scalars are still refused. */
	static const char *const incomplete[] = { "tru", "nul", "1e", "-", "1e+", "\"abc" };
	expect_all_refused(incomplete);
}

static void test_parse_trailing(void **state)
{
	(void)state;
	struct doc d;
	const struct json_value *v;

	/* Whitespace after the value is fine. */
	v = parse_ok(&d, "{\"a\":1}  \t\r");
	assert_true(json_is(v, JSON_OBJECT));
	doc_release(&d);
	v = parse_ok(&d, "[] ");
	assert_true(json_is(v, JSON_ARRAY));
	doc_release(&d);
	v = parse_ok(&d, "7 ");
	int64_t i = 0;
	assert_true(json_int64(v, &i));
	assert_int_equal(i, 7);
	doc_release(&d);
	v = parse_ok(&d, "  \"s\"  ");
	assert_true(json_string_is(v, "s"));
	doc_release(&d);

	/* Anything else after it is not; nor is nothing at all. */
	static const char *const bad[] = {
		"{} x", "{}{}", "[1] [2]", "\"a\" \"b\"", "1 2", "{}]", "{} ,", "", "   ",
	};
	expect_all_refused(bad);
	assert_string_equal(parse_refused("{} x"), "unexpected data after the JSON value");
	assert_string_equal(parse_refused(""), "no JSON value (empty)");
	assert_string_equal(parse_refused("   "), "no JSON value (empty)");
}

static void test_parse_nul_refused(void **state)
{
	(void)state;

	/* A raw NUL is still refused wherever it is. json_parse_line refused
	 * it up front with "NUL byte in message" (json-c would have taken it
	 * for the end of the input); json_parse reads it as the byte it is: a
	 * control character inside a string, an unexpected byte elsewhere. */
	assert_string_equal(parse_refused_len("{\"a\":\"x\0y\"}", 11), "control character in a string");
	assert_string_equal(parse_refused_len("{}\0", 3), "unexpected data after the JSON value");
	assert_string_equal(parse_refused_len("\0{}", 3), "unexpected character");
	/* The escaped form is fine. */
	struct doc d;
	const struct json_value *v = parse_ok(&d, "\"x\\u0000y\"");
	assert_int_equal(v->len, 3);
	assert_memory_equal(v->str, "x\0y", 3);
	doc_release(&d);
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
	struct doc d;
	const struct json_value *v = parse_ok(&d, "[\"\xc2\x80\",\"\xed\x9f\xbf\",\"\xee\x80\x80\","
					     "\"\xf0\x90\x80\x80\",\"\xf4\x8f\xbf\xbf\",\"\x7f\"]");
	assert_int_equal(v->len, 6);
	doc_release(&d);
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
	struct json_parser p;
	const struct json_value *v;
	const char *reason;

	json_parser_init(&p, 4);
	/* Every value on the path counts, the innermost one included: four
	 * nested empty arrays are four levels, three arrays around a number
	 * are four as well. */
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
		v = NULL;
		reason = NULL;
		int r = json_parse(&p, ok[i], strlen(ok[i]), &v, &reason);
		if (r != 0)
			print_error("%s refused: %s\n", ok[i], reason ? reason : "(null)");
		assert_int_equal(r, 0);
		assert_non_null(v);
	}
	for (size_t i = 0; i < sizeof(too_deep) / sizeof(too_deep[0]); i++) {
		v = SENTINEL_VALUE;
		reason = NULL;
		assert_int_equal(json_parse(&p, too_deep[i], strlen(too_deep[i]), &v, &reason),
				 -EINVAL);
		assert_non_null(reason);
		assert_string_equal(reason, "JSON nested too deeply");
		assert_ptr_equal(v, SENTINEL_VALUE);
	}
	/* The parser starts afresh on each line: a good line after a bad one. */
	v = NULL;
	assert_int_equal(json_parse(&p, "[[[[]]]]", 8, &v, &reason), 0);
	assert_true(json_is(v, JSON_ARRAY));
	assert_int_equal(v->len, 1);

	json_parser_release(&p);
}

/* ---------------------------------------------------- rpc_request_parse */

struct req_result {
	int code;
	const char *reason;
	struct rpc_request req;
};

static struct req_result req_parse(const struct json_value *obj)
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

/* Whether `v` is an integer number equal to `expected`. */
static bool int_is(const struct json_value *v, int64_t expected)
{
	int64_t i;
	return json_is(v, JSON_NUMBER) && v->integer && json_int64(v, &i) && i == expected;
}

static void test_request_spec_valid(void **state)
{
	(void)state;
	struct doc d;
	const struct json_value *o;
	struct req_result r;

	/* rpc call with positional parameters */
	o = parse_ok(&d, "{\"jsonrpc\": \"2.0\", \"method\": \"subtract\", \"params\": [42, 23], \"id\": 1}");
	r = req_parse(o);
	assert_int_equal(r.code, 0);
	assert_string_equal(r.req.method, "subtract");
	assert_int_equal(r.req.method_len, 8);
	assert_true(json_is(r.req.params, JSON_ARRAY));
	assert_int_equal(r.req.params->len, 2);
	assert_true(r.req.has_id);
	assert_true(r.req.id_valid);
	assert_true(int_is(r.req.id, 1));
	doc_release(&d);

	/* rpc call with named parameters */
	o = parse_ok(&d, "{\"jsonrpc\": \"2.0\", \"method\": \"subtract\", "
			 "\"params\": {\"subtrahend\": 23, \"minuend\": 42}, \"id\": 3}");
	r = req_parse(o);
	assert_int_equal(r.code, 0);
	assert_true(json_is(r.req.params, JSON_OBJECT));
	assert_true(int_is(r.req.id, 3));
	doc_release(&d);

	/* a notification, with and without params */
	o = parse_ok(&d, "{\"jsonrpc\": \"2.0\", \"method\": \"update\", \"params\": [1,2,3,4,5]}");
	r = req_parse(o);
	assert_int_equal(r.code, 0);
	assert_string_equal(r.req.method, "update");
	assert_int_equal(r.req.method_len, 6);
	assert_false(r.req.has_id);
	assert_false(r.req.id_valid);
	assert_null(r.req.id);
	assert_non_null(r.req.params);
	doc_release(&d);

	o = parse_ok(&d, "{\"jsonrpc\": \"2.0\", \"method\": \"foobar\"}");
	r = req_parse(o);
	assert_int_equal(r.code, 0);
	assert_string_equal(r.req.method, "foobar");
	assert_false(r.req.has_id);
	assert_null(r.req.params);
	doc_release(&d);

	/* rpc call of a non-existent method: a well-formed request */
	o = parse_ok(&d, "{\"jsonrpc\": \"2.0\", \"method\": \"foobar\", \"id\": \"1\"}");
	r = req_parse(o);
	assert_int_equal(r.code, 0);
	assert_true(r.req.has_id);
	assert_true(r.req.id_valid);
	assert_true(json_string_is(r.req.id, "1"));
	doc_release(&d);
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
	struct doc d;
	const struct json_value *o;
	struct req_result r;

	/* rpc call with invalid Request object: no id, so none to echo */
	o = parse_ok(&d, "{\"jsonrpc\": \"2.0\", \"method\": 1, \"params\": \"bar\"}");
	r = req_parse(o);
	assert_int_equal(r.code, RPC_INVALID_REQUEST);
	assert_false(r.req.has_id);
	assert_false(r.req.id_valid);
	assert_null(r.req.method);
	doc_release(&d);

	/* The same with an id: the error can carry it. */
	o = parse_ok(&d, "{\"jsonrpc\": \"2.0\", \"method\": 1, \"id\": 9}");
	r = req_parse(o);
	assert_int_equal(r.code, RPC_INVALID_REQUEST);
	assert_string_equal(r.reason, "method must be a string");
	assert_true(r.req.has_id);
	assert_true(r.req.id_valid);
	assert_true(int_is(r.req.id, 9));
	doc_release(&d);

	/* Not objects: an empty batch, a batch element, other values. */
	static const char *const not_objects[] = { "[]", "[1]", "1", "\"req\"", "true", "null" };
	for (size_t i = 0; i < sizeof(not_objects) / sizeof(not_objects[0]); i++) {
		o = parse_ok(&d, not_objects[i]);
		r = req_parse(o);
		assert_int_equal(r.code, RPC_INVALID_REQUEST);
		assert_string_equal(r.reason, "a request must be a JSON object");
		assert_false(r.req.has_id);
		assert_false(r.req.id_valid);
		doc_release(&d);
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
		{ "{\"jsonrpc\":\"2.0 \",\"method\":\"m\",\"id\":1}", "jsonrpc must be \"2.0\"" },
		{ "{\"jsonrpc\":\"2\",\"method\":\"m\",\"id\":1}", "jsonrpc must be \"2.0\"" },
		/* The whole string counts: json-c's strcmp stopped at the NUL. */
		{ "{\"jsonrpc\":\"2.0\\u0000\",\"method\":\"m\",\"id\":1}", "jsonrpc must be \"2.0\"" },
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
		struct doc d;
		const struct json_value *o = parse_ok(&d, bad[i].json);
		struct req_result r = req_parse(o);
		assert_int_equal(r.code, RPC_INVALID_REQUEST);
		assert_string_equal(r.reason, bad[i].reason);
		/* The id was read: the error can echo it. */
		assert_true(r.req.has_id);
		assert_true(r.req.id_valid);
		assert_true(int_is(r.req.id, 1));
		doc_release(&d);
	}

	/* A notification that is invalid has no id to echo. */
	struct doc d;
	const struct json_value *o = parse_ok(&d, "{\"jsonrpc\":\"1.0\",\"method\":\"m\"}");
	struct req_result r = req_parse(o);
	assert_int_equal(r.code, RPC_INVALID_REQUEST);
	assert_false(r.req.has_id);
	assert_false(r.req.id_valid);
	doc_release(&d);
}

static void test_request_ids(void **state)
{
	(void)state;
	struct doc d;
	const struct json_value *o;
	struct req_result r;

	/* Strings, numbers and null are kept. */
	o = parse_ok(&d, "{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"id\":\"abc\"}");
	r = req_parse(o);
	assert_int_equal(r.code, 0);
	assert_true(r.req.has_id && r.req.id_valid);
	assert_true(json_string_is(r.req.id, "abc"));
	doc_release(&d);

	o = parse_ok(&d, "{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"id\":-17}");
	r = req_parse(o);
	assert_int_equal(r.code, 0);
	assert_true(r.req.has_id && r.req.id_valid);
	assert_true(int_is(r.req.id, -17));
	doc_release(&d);

	o = parse_ok(&d, "{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"id\":1.5}");
	r = req_parse(o);
	assert_int_equal(r.code, 0);
	assert_true(r.req.has_id && r.req.id_valid);
	assert_true(json_is(r.req.id, JSON_NUMBER));
	assert_false(r.req.id->integer);
	assert_true(number_text_is(r.req.id, "1.5"));
	assert_true(json_double(r.req.id) == 1.5);
	doc_release(&d);

	/* id:null is a call, not a notification. (json-c gave a NULL id for
	 * it; the id is now a JSON_NULL value, NULL meaning absent.) */
	o = parse_ok(&d, "{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"id\":null}");
	r = req_parse(o);
	assert_int_equal(r.code, 0);
	assert_true(r.req.has_id);
	assert_true(r.req.id_valid);
	assert_true(json_is(r.req.id, JSON_NULL));
	doc_release(&d);

	/* Objects, arrays and booleans are refused and cannot be echoed. */
	static const char *const bad_ids[] = {
		"{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"id\":{\"a\":1}}",
		"{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"id\":[1]}",
		"{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"id\":true}",
		"{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"id\":false}",
		"{\"id\":{},\"jsonrpc\":\"2.0\",\"method\":\"m\"}",
	};
	for (size_t i = 0; i < sizeof(bad_ids) / sizeof(bad_ids[0]); i++) {
		o = parse_ok(&d, bad_ids[i]);
		r = req_parse(o);
		assert_int_equal(r.code, RPC_INVALID_REQUEST);
		assert_string_equal(r.reason, "id must be a string, a number or null");
		assert_true(r.req.has_id);
		assert_false(r.req.id_valid);
		assert_null(r.req.id);
		doc_release(&d);
	}
}

/* --------------------------------------------------------- rpc_id_write */

/* Parses a request line, writes its id back, and compares with `expected`. */
static void check_id_echo(const char *id_text, const char *expected)
{
	char line[256];
	struct doc d;
	const struct json_value *o, *id;
	struct jsonw w;
	char *s;

	snprintf(line, sizeof(line), "{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"id\":%s}", id_text);
	o = parse_ok(&d, line);
	id = json_get(o, "id");
	assert_non_null(id);
	jsonw_init(&w);
	rpc_id_write(&w, id);
	s = text_of(&w);
	if (strcmp(s, expected) != 0)
		print_error("id %s echoed as %s\n", id_text, s);
	assert_string_equal(s, expected);
	free(s);
	jsonw_release(&w);
	doc_release(&d);
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
	/* Past INT64_MAX, where json-c's int64 reading clamped and the old
	 * writer had to ask for the uint64 instead: now simply the text. */
	check_id_echo("9223372036854775808", "9223372036854775808");
	check_id_echo("-9223372036854775808", "-9223372036854775808");
	check_id_echo("18446744073709551615", "18446744073709551615");
	/* Numbers are echoed as their exact text: no normalisation of
	 * trailing zeros, signs, exponents or their case. */
	check_id_echo("1.50", "1.50");
	check_id_echo("-0.0", "-0.0");
	check_id_echo("-0", "-0");
	check_id_echo("1e5", "1e5");
	check_id_echo("2.5E-3", "2.5E-3");
	check_id_echo("1E+02", "1E+02");
	check_id_echo("0.100000000000000000000000000001", "0.100000000000000000000000000001");
	check_id_echo("1e400", "1e400");
	check_id_echo("null", "null");
	/* Whitespace around the id is not part of it. */
	check_id_echo(" \t12 \r\n", "12");

	/* Inside an envelope, commas around it are right. */
	struct doc d;
	const struct json_value *o = parse_ok(&d, "{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"id\":\"x\"}");
	const struct json_value *id = json_get(o, "id");
	struct jsonw w;
	assert_non_null(id);
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
	doc_release(&d);
}

/* ------------------------------------------------------ reply envelope */

static void test_reply_envelope(void **state)
{
	(void)state;
	struct jsonw w;
	struct doc d;
	const struct json_value *o;
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
	o = parse_ok(&d, s);
	assert_int_equal(rpc_response_parse(o, &resp, &reason), 0);
	assert_false(resp.is_error);
	assert_true(int_is(resp.id, 7));
	assert_true(json_is(resp.result, JSON_OBJECT));
	assert_int_equal(resp.result->len, 2);
	doc_release(&d);
	free(s);

	/* A null id and a scalar result; then a string id after a reset. */
	jsonw_reset(&w);
	rpc_reply_begin(&w, NULL, 0);
	jsonw_string(&w, "done");
	rpc_reply_end(&w);
	s = text_of(&w);
	assert_string_equal(s, "{\"jsonrpc\":\"2.0\",\"id\":null,\"result\":\"done\"}");
	o = parse_ok(&d, s);
	assert_int_equal(rpc_response_parse(o, &resp, &reason), 0);
	/* json-c gave NULL for a null id; now it is a JSON_NULL value. */
	assert_true(json_is(resp.id, JSON_NULL));
	assert_true(json_string_is(resp.result, "done"));
	doc_release(&d);
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
	o = parse_ok(&d, s);
	assert_int_equal(rpc_response_parse(o, &resp, &reason), 0);
	assert_true(json_string_is(resp.id, "req-1"));
	doc_release(&d);
	free(s);

	jsonw_release(&w);
}

/* -------------------------------------------------- rpc_response_parse */

static void test_response_parse(void **state)
{
	(void)state;
	struct doc d;
	const struct json_value *o;
	struct rpc_response resp;
	const char *reason;

	o = parse_ok(&d, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"x\":1}}");
	reason = NULL;
	assert_int_equal(rpc_response_parse(o, &resp, &reason), 0);
	assert_null(reason);
	assert_false(resp.is_error);
	assert_true(int_is(resp.id, 1));
	assert_non_null(json_get(resp.result, "x"));
	assert_null(resp.error_message);
	doc_release(&d);

	o = parse_ok(&d, "{\"jsonrpc\":\"2.0\",\"id\":\"a\",\"result\":null}");
	assert_int_equal(rpc_response_parse(o, &resp, &reason), 0);
	assert_false(resp.is_error);
	/* json-c gave NULL for a null result; now it is a JSON_NULL value
	 * (result is NULL only for an error). */
	assert_true(json_is(resp.result, JSON_NULL));
	assert_true(json_string_is(resp.id, "a"));
	doc_release(&d);

	o = parse_ok(&d, "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32600,"
			 "\"message\":\"Invalid Request\",\"data\":{\"why\":\"x\"}}}");
	assert_int_equal(rpc_response_parse(o, &resp, &reason), 0);
	assert_true(resp.is_error);
	assert_int_equal(resp.error_code, RPC_INVALID_REQUEST);
	assert_string_equal(resp.error_message, "Invalid Request");
	assert_int_equal(resp.error_message_len, 15);
	assert_true(json_is(resp.error_data, JSON_OBJECT));
	/* A null id is a JSON_NULL value (json-c: NULL). */
	assert_true(json_is(resp.id, JSON_NULL));
	assert_null(resp.result);
	doc_release(&d);

	o = parse_ok(&d, "{\"jsonrpc\":\"2.0\",\"id\":4,\"error\":{\"code\":-32001,\"message\":\"Job not found\"}}");
	assert_int_equal(rpc_response_parse(o, &resp, &reason), 0);
	assert_true(resp.is_error);
	assert_int_equal(resp.error_code, RPC_JOB_NOT_FOUND);
	assert_string_equal(resp.error_message, "Job not found");
	assert_null(resp.error_data);
	doc_release(&d);

	/* A message with an escaped NUL keeps its length. */
	o = parse_ok(&d, "{\"jsonrpc\":\"2.0\",\"id\":5,\"error\":{\"code\":1,\"message\":\"a\\u0000b\"}}");
	assert_int_equal(rpc_response_parse(o, &resp, &reason), 0);
	assert_int_equal(resp.error_message_len, 3);
	assert_memory_equal(resp.error_message, "a\0b", 3);
	doc_release(&d);

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
		/* Not an integer in form, though whole in value (json-c: a double). */
		{ "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-32600.0,\"message\":\"m\"}}",
		  "malformed error object in response" },
		/* Past the int range: json-c's json_object_get_int clamped these
		 * to INT32_MAX/INT32_MIN and took them; now they are refused. */
		{ "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":2147483648,\"message\":\"m\"}}",
		  "malformed error object in response" },
		{ "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-2147483649,\"message\":\"m\"}}",
		  "malformed error object in response" },
		{ "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-32600}}",
		  "malformed error object in response" },
		{ "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-32600,\"message\":5}}",
		  "malformed error object in response" },
		{ "{\"id\":1,\"result\":1}", "response lacks jsonrpc \"2.0\"" },
		{ "{\"jsonrpc\":\"1.0\",\"id\":1,\"result\":1}", "response lacks jsonrpc \"2.0\"" },
		{ "{\"jsonrpc\":\"2.0\\u0000\",\"id\":1,\"result\":1}", "response lacks jsonrpc \"2.0\"" },
		{ "{\"jsonrpc\":\"2.00\",\"id\":1,\"result\":1}", "response lacks jsonrpc \"2.0\"" },
		{ "{\"jsonrpc\":\"2.0\",\"result\":1}", "response lacks an id" },
		{ "[]", "response is not an object" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		o = parse_ok(&d, bad[i].json);
		reason = NULL;
		assert_int_equal(rpc_response_parse(o, &resp, &reason), -EBADMSG);
		assert_non_null(reason);
		assert_string_equal(reason, bad[i].reason);
		doc_release(&d);
	}

	/* The int range's own ends are fine. */
	o = parse_ok(&d, "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-2147483648,\"message\":\"m\"}}");
	assert_int_equal(rpc_response_parse(o, &resp, &reason), 0);
	assert_int_equal(resp.error_code, INT32_MIN);
	doc_release(&d);
	o = parse_ok(&d, "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":2147483647,\"message\":\"m\"}}");
	assert_int_equal(rpc_response_parse(o, &resp, &reason), 0);
	assert_int_equal(resp.error_code, INT32_MAX);
	doc_release(&d);
}

/* ----------------------------------------------- rpc_notification_parse */

static void test_notification_parse(void **state)
{
	(void)state;
	struct doc d;
	const struct json_value *o, *params, *expected_params;
	const char *method;
	size_t method_len;

	o = parse_ok(&d, "{\"jsonrpc\":\"2.0\",\"method\":\"job.updated\","
			 "\"params\":{\"job\":{\"id\":\"j1\",\"state\":\"running\"}}}");
	method = NULL;
	method_len = 0;
	params = NULL;
	assert_true(rpc_notification_parse(o, &method, &method_len, &params));
	assert_non_null(method);
	assert_string_equal(method, RPC_NOTIFY_JOB_UPDATED);
	assert_int_equal(method_len, strlen(RPC_NOTIFY_JOB_UPDATED));
	expected_params = json_get(o, "params");
	assert_non_null(expected_params);
	assert_ptr_equal(params, expected_params);
	assert_non_null(json_get(params, "job"));
	doc_release(&d);

	o = parse_ok(&d, "{\"jsonrpc\":\"2.0\",\"method\":\"gather.progress\"}");
	params = SENTINEL_VALUE;
	assert_true(rpc_notification_parse(o, &method, &method_len, &params));
	assert_string_equal(method, RPC_NOTIFY_GATHER_PROGRESS);
	assert_int_equal(method_len, strlen(RPC_NOTIFY_GATHER_PROGRESS));
	assert_null(params);
	doc_release(&d);

	static const char *const not_notifications[] = {
		"{\"jsonrpc\":\"2.0\",\"method\":\"job.updated\",\"params\":{},\"id\":1}",
		"{\"jsonrpc\":\"2.0\",\"method\":\"job.updated\",\"params\":{},\"id\":null}",
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}",
		"{\"jsonrpc\":\"2.0\",\"method\":5}",
		"{\"jsonrpc\":\"2.0\"}",
		"[{\"jsonrpc\":\"2.0\",\"method\":\"job.updated\"}]",
	};
	for (size_t i = 0; i < sizeof(not_notifications) / sizeof(not_notifications[0]); i++) {
		o = parse_ok(&d, not_notifications[i]);
		method = "untouched";
		method_len = 99;
		params = SENTINEL_VALUE;
		assert_false(rpc_notification_parse(o, &method, &method_len, &params));
		assert_string_equal(method, "untouched");
		assert_int_equal(method_len, 99);
		assert_ptr_equal(params, SENTINEL_VALUE);
		doc_release(&d);
	}
	assert_false(rpc_notification_parse(NULL, &method, &method_len, &params));
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
		{ RPC_STORE_FAILING, "The job store cannot write" },
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

	assert_int_equal(RPC_STORE_FAILING, -32006);
	static const int unknown[] = { 0, 1, -1, -32000, -32007, -32099, -32604, -32699, 32600 };
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
		{ JOB_ERR_INTERRUPTED, "interrupted" },
	};

	for (size_t i = 0; i < sizeof(errs) / sizeof(errs[0]); i++) {
		const char *n = job_error_name(errs[i].code);
		assert_non_null(n);
		assert_string_equal(n, errs[i].name);
		/* Names are distinct. */
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(n, job_error_name(errs[j].code));
	}
	assert_string_equal(job_error_name((enum job_error)(JOB_ERR_INTERRUPTED + 1)), "unknown");
	/* And back from the names. */
	for (size_t i = 0; i < sizeof(errs) / sizeof(errs[0]); i++) {
		enum job_error c = JOB_ERR_NONE;
		assert_int_equal(job_error_from_name(errs[i].name, &c), 0);
		assert_int_equal(c, errs[i].code);
	}
	enum job_error c = JOB_ERR_IO;
	assert_int_equal(job_error_from_name("unknown", &c), -EINVAL);
	assert_int_equal(job_error_from_name("", &c), -EINVAL);
	assert_int_equal(c, JOB_ERR_IO);
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
