/* Unit tests for proto/jsonw.c: the streaming JSON writer. */
#include "config.h"

#include <math.h>
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

#include "proto/jsonw.h"

/* The writer's text as a NUL-terminated copy (its buffer has no NUL). */
static char *text_of(const struct jsonw *w)
{
	char *s = malloc(w->len + 1);
	assert_non_null(s);
	if (w->len)
		memcpy(s, w->buf, w->len);
	s[w->len] = '\0';
	return s;
}

/* Parses `text` as exactly one JSON value with json-c, strictly and with
 * UTF-8 validation. The text is wrapped in an array so a top-level scalar
 * is complete and anything after the value is an error. Returns the value
 * (a new reference; NULL for JSON null) and sets *ok. */
static struct json_object *parse_json(const char *text, size_t len, bool *ok)
{
	struct json_tokener *tok = json_tokener_new_ex(JSONW_MAX_DEPTH + 8);
	char *wrapped = malloc(len + 3);
	struct json_object *arr, *val = NULL;

	assert_non_null(tok);
	assert_non_null(wrapped);
	wrapped[0] = '[';
	memcpy(wrapped + 1, text, len);
	wrapped[len + 1] = ']';
	wrapped[len + 2] = '\0';
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	arr = json_tokener_parse_ex(tok, wrapped, (int)(len + 2));
	*ok = json_tokener_get_error(tok) == json_tokener_success &&
	      json_tokener_get_parse_end(tok) == len + 2 &&
	      json_object_is_type(arr, json_type_array) &&
	      json_object_array_length(arr) == 1;
	if (*ok)
		val = json_object_get(json_object_array_get_idx(arr, 0));
	json_object_put(arr);
	json_tokener_free(tok);
	free(wrapped);
	return val;
}

/* Checks the writer holds exactly `expected` and that it is valid JSON. */
static void check_json(const struct jsonw *w, const char *expected)
{
	char *s = text_of(w);
	bool ok;

	assert_false(w->failed);
	assert_string_equal(s, expected);
	assert_int_equal(w->len, strlen(expected));
	json_object_put(parse_json(s, w->len, &ok));
	assert_true(ok);
	/* Containers go through json-c's plain entry point too, unless they
	 * nest deeper than its default limit (brackets inside strings only
	 * make this estimate larger). */
	int depth = 0, max_depth = 0;
	for (const char *p = s; *p; p++) {
		if (*p == '[' || *p == '{')
			depth++;
		else if (*p == ']' || *p == '}')
			depth--;
		if (depth > max_depth)
			max_depth = depth;
	}
	if ((s[0] == '{' || s[0] == '[') && max_depth < JSON_TOKENER_DEFAULT_DEPTH) {
		struct json_object *o = json_tokener_parse(s);
		assert_non_null(o);
		json_object_put(o);
	}
	free(s);
}

/* Writes one string and checks the exact output, its validity, and that
 * json-c decodes it back to `decoded` (decoded_len bytes). */
static void check_string(const char *in, size_t in_len, const char *expected,
			 const char *decoded, size_t decoded_len)
{
	struct jsonw w;
	struct json_object *o;
	char *s;
	bool ok;

	jsonw_init(&w);
	jsonw_string_len(&w, in, in_len);
	s = text_of(&w);
	assert_string_equal(s, expected);
	o = parse_json(s, w.len, &ok);
	assert_true(ok);
	assert_true(json_object_is_type(o, json_type_string));
	assert_int_equal(json_object_get_string_len(o), decoded_len);
	assert_memory_equal(json_object_get_string(o), decoded, decoded_len);
	json_object_put(o);
	free(s);
	jsonw_release(&w);
}

static void test_commas_nested(void **state)
{
	(void)state;
	struct jsonw w;

	jsonw_init(&w);
	jsonw_object_begin(&w);
	jsonw_key(&w, "a");
	jsonw_int(&w, 1);
	jsonw_key(&w, "b");
	jsonw_array_begin(&w);
	jsonw_int(&w, 1);
	jsonw_uint(&w, 2);
	jsonw_object_begin(&w);
	jsonw_object_end(&w);
	jsonw_array_begin(&w);
	jsonw_array_end(&w);
	jsonw_object_begin(&w);
	jsonw_key(&w, "c");
	jsonw_null(&w);
	jsonw_key(&w, "d");
	jsonw_bool(&w, true);
	jsonw_key(&w, "e");
	jsonw_array_begin(&w);
	jsonw_bool(&w, false);
	jsonw_array_end(&w);
	jsonw_object_end(&w);
	jsonw_raw_value(&w, "{\"r\":[1,2]}", 11);
	jsonw_array_end(&w);
	jsonw_key(&w, "f");
	jsonw_string(&w, "x");
	jsonw_key(&w, "g");
	jsonw_object_begin(&w);
	jsonw_key(&w, "h");
	jsonw_object_begin(&w);
	jsonw_object_end(&w);
	jsonw_object_end(&w);
	jsonw_object_end(&w);
	check_json(&w, "{\"a\":1,\"b\":[1,2,{},[],{\"c\":null,\"d\":true,\"e\":[false]},"
		       "{\"r\":[1,2]}],\"f\":\"x\",\"g\":{\"h\":{}}}");
	assert_int_equal(w.depth, 0);

	/* Raw bytes between messages take no comma; the next message none either. */
	jsonw_raw(&w, "\n", 1);
	jsonw_array_begin(&w);
	jsonw_array_begin(&w);
	jsonw_array_end(&w);
	jsonw_array_begin(&w);
	jsonw_array_begin(&w);
	jsonw_array_end(&w);
	jsonw_array_end(&w);
	jsonw_int(&w, 3);
	jsonw_array_end(&w);
	char *s = text_of(&w);
	const char *second = strchr(s, '\n');
	assert_non_null(second);
	assert_string_equal(second, "\n[[],[[]],3]");
	free(s);

	jsonw_release(&w);
	assert_null(w.buf);
	assert_int_equal(w.len, 0);
}

/* Plain keys and strings take the same commas as the escaping ones, and
 * the buffer grows for them too. */
static void test_plain_members(void **state)
{
	(void)state;
	struct jsonw w;
	char expect[4096];
	size_t n = 0;

	jsonw_init(&w);
	jsonw_array_begin(&w);
	n += (size_t)sprintf(expect + n, "[");
	for (int i = 0; i < 40; i++) {
		jsonw_object_begin(&w);
		jsonw_literal_key(&w, "state");
		jsonw_plain_string(&w, "succeeded", 9);
		jsonw_key(&w, "n");
		jsonw_int(&w, i);
		jsonw_plain_key(&w, "at", 2);
		jsonw_plain_string(&w, "2026-11-25T10:48:48.123Z", 24);
		jsonw_object_end(&w);
		jsonw_plain_string(&w, "", 0);
		n += (size_t)sprintf(expect + n, "%s{\"state\":\"succeeded\",\"n\":%d,"
				     "\"at\":\"2026-11-25T10:48:48.123Z\"},\"\"", i ? "," : "", i);
	}
	jsonw_array_end(&w);
	sprintf(expect + n, "]");
	check_json(&w, expect);
	jsonw_release(&w);
}

static void test_escapes(void **state)
{
	(void)state;

	check_string("say \"hi\"", 8, "\"say \\\"hi\\\"\"", "say \"hi\"", 8);
	check_string("a\\b", 3, "\"a\\\\b\"", "a\\b", 3);
	check_string("l1\nl2\tx", 7, "\"l1\\nl2\\tx\"", "l1\nl2\tx", 7);
	check_string("\r\b\f", 3, "\"\\r\\b\\f\"", "\r\b\f", 3);
	check_string("\x01", 1, "\"\\u0001\"", "\x01", 1);
	check_string("\x1f", 1, "\"\\u001f\"", "\x1f", 1);
	check_string("a\x1b" "b", 3, "\"a\\u001bb\"", "a\x1b" "b", 3);
	/* DEL and the solidus need no escape. */
	check_string("\x7f/", 2, "\"\x7f/\"", "\x7f/", 2);
	check_string("", 0, "\"\"", "", 0);

	/* Through jsonw_string and as a key. */
	struct jsonw w;
	jsonw_init(&w);
	jsonw_object_begin(&w);
	jsonw_key(&w, "k\"\n");
	jsonw_string(&w, "v\\\t");
	jsonw_object_end(&w);
	check_json(&w, "{\"k\\\"\\n\":\"v\\\\\\t\"}");
	jsonw_release(&w);
}

static void test_valid_utf8_passes(void **state)
{
	(void)state;
	static const char *const valid[] = {
		"caf\xc3\xa9",                  /* U+00E9 */
		"\xc2\x80",                     /* U+0080, smallest 2-byte */
		"\xdf\xbf",                     /* U+07FF */
		"\xe0\xa0\x80",                 /* U+0800, smallest 3-byte */
		"\xe2\x82\xac",                 /* U+20AC */
		"\xed\x9f\xbf",                 /* U+D7FF, just below surrogates */
		"\xee\x80\x80",                 /* U+E000, just above surrogates */
		"\xef\xbf\xbf",                 /* U+FFFF */
		"\xf0\x90\x80\x80",             /* U+10000, smallest 4-byte */
		"\xf0\x9d\x84\x9e",             /* U+1D11E */
		"\xf4\x8f\xbf\xbf",             /* U+10FFFF, the last code point */
		"\xe6\x97\xa5\xe6\x9c\xac a \xf0\x9f\x98\x80",
	};

	for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
		char expected[64];
		size_t n = strlen(valid[i]);
		snprintf(expected, sizeof(expected), "\"%s\"", valid[i]);
		check_string(valid[i], n, expected, valid[i], n);
	}
}

#define FFFD "\xef\xbf\xbd"

static void test_invalid_utf8_replaced(void **state)
{
	(void)state;

	/* A lone continuation byte. */
	check_string("a\x80" "b", 3, "\"a\\ufffdb\"", "a" FFFD "b", 5);
	/* Overlong encodings of NUL and '/'. */
	check_string("\xc0\x80", 2, "\"\\ufffd\\ufffd\"", FFFD FFFD, 6);
	check_string("\xc1\xbf", 2, "\"\\ufffd\\ufffd\"", FFFD FFFD, 6);
	check_string("\xe0\x80\xaf", 3, "\"\\ufffd\\ufffd\\ufffd\"", FFFD FFFD FFFD, 9);
	check_string("\xf0\x80\x80\xaf", 4, "\"\\ufffd\\ufffd\\ufffd\\ufffd\"",
		     FFFD FFFD FFFD FFFD, 12);
	/* UTF-16 surrogates encoded as UTF-8 (U+D800, U+DFFF). */
	check_string("\xed\xa0\x80", 3, "\"\\ufffd\\ufffd\\ufffd\"", FFFD FFFD FFFD, 9);
	check_string("\xed\xbf\xbf", 3, "\"\\ufffd\\ufffd\\ufffd\"", FFFD FFFD FFFD, 9);
	/* Sequences truncated at the end of the string. */
	check_string("ab\xe2\x82", 4, "\"ab\\ufffd\\ufffd\"", "ab" FFFD FFFD, 8);
	check_string("\xc3", 1, "\"\\ufffd\"", FFFD, 3);
	check_string("\xf0\x9f\x98", 3, "\"\\ufffd\\ufffd\\ufffd\"", FFFD FFFD FFFD, 9);
	/* A sequence cut short by an ASCII byte keeps the ASCII byte. */
	check_string("\xe2\x82z", 3, "\"\\ufffd\\ufffdz\"", FFFD FFFD "z", 7);
	/* Past U+10FFFF, and bytes that never occur in UTF-8. */
	check_string("\xf4\x90\x80\x80", 4, "\"\\ufffd\\ufffd\\ufffd\\ufffd\"",
		     FFFD FFFD FFFD FFFD, 12);
	check_string("\xf5\x80\x80\x80", 4, "\"\\ufffd\\ufffd\\ufffd\\ufffd\"",
		     FFFD FFFD FFFD FFFD, 12);
	check_string("x\xfe\xff", 3, "\"x\\ufffd\\ufffd\"", "x" FFFD FFFD, 7);
	/* A valid character right after an invalid byte survives. */
	check_string("\x80\xc3\xa9", 3, "\"\\ufffd\xc3\xa9\"", FFFD "\xc3\xa9", 5);
}

static void test_embedded_nul(void **state)
{
	(void)state;

	check_string("a\0b", 3, "\"a\\u0000b\"", "a\0b", 3);
	check_string("\0", 1, "\"\\u0000\"", "\0", 1);

	/* jsonw_string stops at the NUL. */
	struct jsonw w;
	jsonw_init(&w);
	jsonw_string(&w, "a\0b");
	check_json(&w, "\"a\"");
	jsonw_release(&w);
}

static void test_integers(void **state)
{
	(void)state;
	struct jsonw w;
	struct json_object *o, *v;
	char *s;
	bool ok;

	jsonw_init(&w);
	jsonw_array_begin(&w);
	jsonw_int(&w, INT64_MIN);
	jsonw_int(&w, INT64_MAX);
	jsonw_uint(&w, UINT64_MAX);
	jsonw_int(&w, 0);
	jsonw_int(&w, -1);
	jsonw_uint(&w, 0);
	jsonw_array_end(&w);
	check_json(&w, "[-9223372036854775808,9223372036854775807,18446744073709551615,0,-1,0]");

	/* json-c reads the extremes back exactly. */
	s = text_of(&w);
	o = json_tokener_parse(s);
	assert_non_null(o);
	v = json_object_array_get_idx(o, 0);
	assert_true(json_object_is_type(v, json_type_int));
	assert_true(json_object_get_int64(v) == INT64_MIN);
	v = json_object_array_get_idx(o, 1);
	assert_true(json_object_get_int64(v) == INT64_MAX);
	v = json_object_array_get_idx(o, 2);
	assert_true(json_object_get_uint64(v) == UINT64_MAX);
	json_object_put(o);
	free(s);

	/* A scalar on its own. */
	jsonw_reset(&w);
	jsonw_int(&w, -42);
	check_json(&w, "-42");
	o = parse_json(w.buf, w.len, &ok);
	assert_true(ok);
	assert_int_equal(json_object_get_int64(o), -42);
	json_object_put(o);

	jsonw_release(&w);
}

static void test_doubles(void **state)
{
	(void)state;
	struct jsonw w;
	struct json_object *o;
	char *s;

	jsonw_init(&w);
	jsonw_double(&w, 0.1);
	check_json(&w, "0.1");

	jsonw_reset(&w);
	jsonw_array_begin(&w);
	jsonw_double(&w, 0.1);
	jsonw_double(&w, 1.5);
	jsonw_double(&w, -2.25);
	jsonw_double(&w, 3.0);
	jsonw_double(&w, 1e300);
	jsonw_double(&w, 1e-7);
	jsonw_double(&w, NAN);
	jsonw_double(&w, INFINITY);
	jsonw_double(&w, -INFINITY);
	jsonw_double(&w, 0.0);
	jsonw_array_end(&w);
	check_json(&w, "[0.1,1.5,-2.25,3,1e+300,1e-07,null,null,null,0]");

	s = text_of(&w);
	o = json_tokener_parse(s);
	assert_non_null(o);
	assert_true(json_object_get_double(json_object_array_get_idx(o, 0)) == 0.1);
	assert_true(json_object_get_double(json_object_array_get_idx(o, 4)) == 1e300);
	assert_null(json_object_array_get_idx(o, 6));
	json_object_put(o);
	free(s);

	/* Non-finite values alone and as object members. */
	jsonw_reset(&w);
	jsonw_double(&w, NAN);
	check_json(&w, "null");
	jsonw_reset(&w);
	jsonw_object_begin(&w);
	jsonw_key(&w, "inf");
	jsonw_double(&w, INFINITY);
	jsonw_key(&w, "x");
	jsonw_double(&w, 0.5);
	jsonw_object_end(&w);
	check_json(&w, "{\"inf\":null,\"x\":0.5}");

	jsonw_release(&w);
}

static void test_mark_rewind(void **state)
{
	(void)state;
	struct jsonw w;
	struct jsonw_mark m;

	/* Undo a half-written member of an object. */
	jsonw_init(&w);
	jsonw_object_begin(&w);
	jsonw_key(&w, "a");
	jsonw_int(&w, 1);
	m = jsonw_mark(&w);
	jsonw_key(&w, "b");
	jsonw_object_begin(&w);
	jsonw_key(&w, "c");
	jsonw_array_begin(&w);
	jsonw_string(&w, "half");
	jsonw_rewind(&w, m);
	assert_int_equal(w.depth, 1);
	jsonw_key(&w, "d");
	jsonw_int(&w, 2);
	jsonw_key(&w, "e");
	jsonw_int(&w, 3);
	jsonw_object_end(&w);
	check_json(&w, "{\"a\":1,\"d\":2,\"e\":3}");

	/* Undo the first item of an array: the next one takes no comma,
	 * and the ones after it do. */
	jsonw_reset(&w);
	jsonw_array_begin(&w);
	m = jsonw_mark(&w);
	jsonw_object_begin(&w);
	jsonw_key(&w, "x");
	jsonw_int(&w, 1);
	jsonw_rewind(&w, m);
	jsonw_int(&w, 7);
	jsonw_int(&w, 8);
	jsonw_array_end(&w);
	check_json(&w, "[7,8]");

	/* Mark taken right after a key: the value is replaced, no comma. */
	jsonw_reset(&w);
	jsonw_object_begin(&w);
	jsonw_key(&w, "first");
	jsonw_bool(&w, true);
	jsonw_key(&w, "v");
	m = jsonw_mark(&w);
	jsonw_array_begin(&w);
	jsonw_int(&w, 1);
	jsonw_int(&w, 2);
	jsonw_rewind(&w, m);
	jsonw_null(&w);
	jsonw_key(&w, "after");
	jsonw_array_begin(&w);
	jsonw_int(&w, 3);
	jsonw_int(&w, 4);
	jsonw_array_end(&w);
	jsonw_object_end(&w);
	check_json(&w, "{\"first\":true,\"v\":null,\"after\":[3,4]}");

	/* A rewind inside a nested container after the container had items. */
	jsonw_reset(&w);
	jsonw_array_begin(&w);
	jsonw_array_begin(&w);
	jsonw_int(&w, 1);
	jsonw_array_end(&w);
	jsonw_array_begin(&w);
	jsonw_int(&w, 2);
	m = jsonw_mark(&w);
	jsonw_array_end(&w);
	jsonw_array_end(&w);
	jsonw_rewind(&w, m);
	jsonw_int(&w, 3);
	jsonw_array_end(&w);
	jsonw_int(&w, 4);
	jsonw_array_end(&w);
	check_json(&w, "[[1],[2,3],4]");

	jsonw_release(&w);
}

static void test_reset_reuse(void **state)
{
	(void)state;
	struct jsonw w;

	jsonw_init(&w);
	jsonw_array_begin(&w);
	jsonw_int(&w, 1);
	jsonw_object_begin(&w);
	jsonw_key(&w, "k");
	/* Left mid-way: inside two containers, after a key. */
	assert_true(w.after_key);
	assert_int_equal(w.depth, 2);
	char *buf = w.buf;
	size_t cap = w.cap;
	assert_non_null(buf);

	jsonw_reset(&w);
	assert_int_equal(w.len, 0);
	assert_int_equal(w.depth, 0);
	assert_false(w.after_key);
	assert_false(w.failed);
	for (size_t i = 0; i < sizeof(w.has_items) / sizeof(w.has_items[0]); i++)
		assert_int_equal(w.has_items[i], 0);
	/* The memory is kept. */
	assert_ptr_equal(w.buf, buf);
	assert_int_equal(w.cap, cap);

	jsonw_array_begin(&w);
	jsonw_int(&w, 2);
	jsonw_array_end(&w);
	check_json(&w, "[2]");
	assert_ptr_equal(w.buf, buf);

	/* Reset also clears a failure. */
	for (int i = 0; i <= JSONW_MAX_DEPTH; i++)
		jsonw_array_begin(&w);
	assert_true(w.failed);
	jsonw_reset(&w);
	assert_false(w.failed);
	jsonw_object_begin(&w);
	jsonw_key(&w, "ok");
	jsonw_bool(&w, true);
	jsonw_object_end(&w);
	check_json(&w, "{\"ok\":true}");

	jsonw_release(&w);
}

/* Detaches the text written so far into `to`; returns its length. */
static size_t take_part(struct jsonw *w, char *to)
{
	size_t n;
	char *part = jsonw_detach(w, &n);

	assert_non_null(part);
	memcpy(to, part, n);
	free(part);
	return n;
}

/* Detached parts, put together, are the text a writer never detached from
 * would have written: the containers, their commas and the key state go on
 * across the cut. */
static void test_detach_parts(void **state)
{
	struct jsonw w;
	char whole[256];
	size_t len = 0;
	(void)state;

	jsonw_init(&w);
	jsonw_object_begin(&w);
	jsonw_key(&w, "jobs");
	jsonw_array_begin(&w);
	for (int i = 0; i < 5; i++) {
		jsonw_object_begin(&w);
		jsonw_key(&w, "id");
		if (i == 3)
			len += take_part(&w, whole + len);   /* between a key and its value */
		jsonw_uint(&w, (uint64_t)i);
		jsonw_object_end(&w);
		if (i == 1 || i == 2)
			len += take_part(&w, whole + len);
	}
	jsonw_array_end(&w);
	jsonw_key(&w, "ok");
	jsonw_bool(&w, true);
	jsonw_object_end(&w);
	assert_false(w.failed);
	memcpy(whole + len, w.buf, w.len);
	len += w.len;
	whole[len] = '\0';
	assert_string_equal(whole, "{\"jobs\":[{\"id\":0},{\"id\":1},{\"id\":2},{\"id\":3},"
				   "{\"id\":4}],\"ok\":true}");
	jsonw_release(&w);
}

static void test_max_depth(void **state)
{
	(void)state;
	struct jsonw w;
	char expected[2 * JSONW_MAX_DEPTH + 1];

	/* JSONW_MAX_DEPTH levels are fine. */
	jsonw_init(&w);
	for (int i = 0; i < JSONW_MAX_DEPTH; i++)
		jsonw_array_begin(&w);
	assert_false(w.failed);
	assert_int_equal(w.depth, JSONW_MAX_DEPTH);
	for (int i = 0; i < JSONW_MAX_DEPTH; i++)
		jsonw_array_end(&w);
	memset(expected, '[', JSONW_MAX_DEPTH);
	memset(expected + JSONW_MAX_DEPTH, ']', JSONW_MAX_DEPTH);
	expected[2 * JSONW_MAX_DEPTH] = '\0';
	check_json(&w, expected);

	/* Commas are still right at the deepest level. */
	jsonw_reset(&w);
	for (int i = 0; i < JSONW_MAX_DEPTH; i++)
		jsonw_array_begin(&w);
	jsonw_int(&w, 1);
	jsonw_int(&w, 2);
	assert_false(w.failed);
	char *s = text_of(&w);
	assert_string_equal(s + JSONW_MAX_DEPTH, "1,2");
	free(s);

	/* One more level sets failed. */
	jsonw_reset(&w);
	for (int i = 0; i < JSONW_MAX_DEPTH + 1; i++)
		jsonw_object_begin(&w);
	assert_true(w.failed);
	assert_true(w.depth <= JSONW_MAX_DEPTH);

	jsonw_release(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_commas_nested),
		cmocka_unit_test(test_plain_members),
		cmocka_unit_test(test_escapes),
		cmocka_unit_test(test_valid_utf8_passes),
		cmocka_unit_test(test_invalid_utf8_replaced),
		cmocka_unit_test(test_embedded_nul),
		cmocka_unit_test(test_integers),
		cmocka_unit_test(test_doubles),
		cmocka_unit_test(test_mark_rewind),
		cmocka_unit_test(test_reset_reuse),
		cmocka_unit_test(test_max_depth),
		cmocka_unit_test(test_detach_parts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
