/* Unit tests for proto/json.c: the strict JSON parser (grammar, strings,
 * numbers, depth, arena reuse), its readers, json_clone and jsonw_value. */
#include "config.h"

#include <errno.h>
#include <locale.h>
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

#include "proto/json.h"
#include "proto/jsonw.h"
#include "tests/common/json-assert.h"

/* ------------------------------------------------------------ helpers */

#define DEPTH 32
#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

static const struct json_value sentinel_value;
#define SENTINEL (&sentinel_value)

/* A parser, the tree it gave, and the text that tree's numbers point into:
 * a heap copy of exactly the parsed bytes, no NUL after them, so a read
 * past the end shows under ASan. */
struct doc {
	struct json_parser p;
	char *text;
	const struct json_value *root;
};

static void doc_init(struct doc *d, unsigned max_depth)
{
	json_parser_init(&d->p, max_depth);
	d->text = NULL;
	d->root = NULL;
}

static void doc_release(struct doc *d)
{
	json_parser_release(&d->p);
	free(d->text);
	d->text = NULL;
	d->root = NULL;
}

/* Each test gets a parser of depth 32, released even when it fails. */
static int doc_setup(void **state)
{
	struct doc *d = malloc(sizeof(*d));
	if (!d)
		return -1;
	doc_init(d, DEPTH);
	*state = d;
	return 0;
}

static int doc_teardown(void **state)
{
	doc_release(*state);
	free(*state);
	return 0;
}

static char *written(const struct json_value *v);

/* Parses `text` in pieces of the sizes `piece(i)` gives, each a heap copy
 * freed once fed (a token the parser kept a pointer into would show under
 * ASan), and checks the outcome is json_parse's: the same tree, or the same
 * error. */
static void check_streamed(unsigned max_depth, const char *text, size_t len,
			   size_t (*piece)(size_t i, size_t len), int want_r,
			   const char *want_reason, const char *want_tree)
{
	struct json_parser p;
	const struct json_value *root = NULL;
	const char *reason = NULL;
	size_t pos = 0;
	int r = 0;

	json_parser_init(&p, max_depth);
	json_parse_begin(&p);
	for (size_t i = 0; r == 0; i++) {
		size_t n = piece(i, len);
		if (n > len - pos)
			n = len - pos;
		bool last = pos + n == len;
		char *copy = malloc(n ? n : 1);
		assert_non_null(copy);
		memcpy(copy, text + pos, n);
		r = json_parse_feed(&p, copy, n, last, &reason);
		free(copy);
		pos += n;
		if (last)
			break;
	}
	if (r == 0)
		r = json_parse_end(&p, &root, &reason);
	if (r != want_r || (r != 0 && strcmp(reason, want_reason) != 0)) {
		tj_print_bytes("streamed", text, len, reason);
		print_error("streamed: %d (%s), whole: %d (%s)\n", r, reason ? reason : "",
			    want_r, want_reason ? want_reason : "");
	}
	assert_int_equal(r, want_r);
	if (r == 0) {
		char *got = written(root);
		assert_string_equal(got, want_tree);
		free(got);
	} else {
		assert_string_equal(reason, want_reason);
	}
	json_parser_release(&p);
}

static size_t split_at;
static size_t one_byte(size_t i, size_t len) { (void)i; (void)len; return 1; }
static size_t two_pieces(size_t i, size_t len) { (void)len; return i == 0 ? split_at : SIZE_MAX; }
static size_t ragged(size_t i, size_t len) { (void)len; return 1 + (i * 7919) % 97; }
static size_t whole(size_t i, size_t len) { (void)i; return len; }

/* Parses `len` bytes on d's parser (the previous tree becomes invalid).
 * d->root is SENTINEL unless json_parse set it. Every text is also parsed
 * in pieces, split every way for short texts, which must agree. */
static int doc_parse(struct doc *d, const char *text, size_t len, const char **reason)
{
	free(d->text);
	d->text = malloc(len ? len : 1);
	assert_non_null(d->text);
	if (len)
		memcpy(d->text, text, len);
	d->root = SENTINEL;
	*reason = NULL;
	int r = json_parse(&d->p, d->text, len, &d->root, reason);
	if (r == -ENOMEM)
		return r;

	char *tree = r == 0 ? written(d->root) : NULL;
	unsigned depth = d->p.max_depth;
	check_streamed(depth, text, len, whole, r, *reason, tree);
	check_streamed(depth, text, len, ragged, r, *reason, tree);
	if (len <= 4096)
		check_streamed(depth, text, len, one_byte, r, *reason, tree);
	for (split_at = 0; len <= 128 && split_at <= len; split_at++)
		check_streamed(depth, text, len, two_pieces, r, *reason, tree);
	free(tree);
	return r;
}

static const struct json_value *ok_len(struct doc *d, const char *text, size_t len)
{
	const char *reason;
	int r = doc_parse(d, text, len, &reason);

	if (r != 0)
		tj_print_bytes("refused", text, len, reason);
	assert_int_equal(r, 0);
	assert_non_null(d->root);
	assert_ptr_not_equal(d->root, SENTINEL);
	/* The root is no member. */
	assert_null(d->root->key);
	assert_int_equal(d->root->key_len, 0);
	return d->root;
}

static const struct json_value *ok(struct doc *d, const char *text)
{
	return ok_len(d, text, strlen(text));
}

/* Expects a refusal: -EINVAL, a reason, and no root handed back. */
static const char *refused_len(struct doc *d, const char *text, size_t len)
{
	const char *reason;
	int r = doc_parse(d, text, len, &reason);

	if (r != -EINVAL)
		tj_print_bytes(r == 0 ? "accepted" : "unexpected error", text, len, reason);
	assert_int_equal(r, -EINVAL);
	assert_non_null(reason);
	assert_true(reason[0] != '\0');
	assert_ptr_equal(d->root, SENTINEL);
	return reason;
}

static const char *refused(struct doc *d, const char *text)
{
	return refused_len(d, text, strlen(text));
}

/* Checks every text is refused (with `reason` when not NULL); lists all
 * that are not, then fails. */
static void all_refused(struct doc *d, const char *const *texts, size_t n, const char *reason)
{
	size_t wrong = 0;

	for (size_t i = 0; i < n; i++) {
		const char *why;
		size_t len = strlen(texts[i]);
		int r = doc_parse(d, texts[i], len, &why);
		if (r != -EINVAL || !why || !why[0] || d->root != SENTINEL ||
		    (reason && strcmp(why, reason) != 0)) {
			tj_print_bytes(r == 0 ? "accepted" : "refused, but not as expected", texts[i], len,
				    why);
			wrong++;
		}
	}
	assert_int_equal(wrong, 0);
}

/* A growable byte string for generated documents. */
struct sb {
	char *s;
	size_t len, cap;
};

static void sb_add(struct sb *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *t = realloc(b->s, cap);
		assert_non_null(t);
		b->s = t;
		b->cap = cap;
	}
	if (n)
		memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static void sb_str(struct sb *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

static void sb_printf(struct sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(struct sb *b, const char *fmt, ...)
{
	char tmp[128];
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	assert_true(n >= 0 && (size_t)n < sizeof(tmp));
	sb_add(b, tmp, (size_t)n);
}

/* `tmpl` with each '@' replaced by the `n` bytes at `s`. */
static void subst(struct sb *b, const char *tmpl, const char *s, size_t n)
{
	b->len = 0;
	sb_add(b, "", 0);
	for (const char *t = tmpl; *t; t++) {
		if (*t == '@')
			sb_add(b, s, n);
		else
			sb_add(b, t, 1);
	}
}

/* A value written back by jsonw_value, NUL-terminated (the caller frees). */
static char *written(const struct json_value *v)
{
	struct jsonw w;

	jsonw_init(&w);
	jsonw_value(&w, v);
	assert_false(w.failed);
	assert_int_equal(w.depth, 0);
	char *s = malloc(w.len + 1);
	assert_non_null(s);
	if (w.len)
		memcpy(s, w.buf, w.len);
	s[w.len] = '\0';
	jsonw_release(&w);
	return s;
}

/* A string value of exactly these bytes, NUL-terminated after them. */
static void assert_str(const struct json_value *v, const char *bytes, size_t len)
{
	assert_true(json_is(v, JSON_STRING));
	assert_int_equal(v->len, len);
	assert_non_null(v->str);
	if (len)
		assert_memory_equal(v->str, bytes, len);
	assert_int_equal(v->str[len], '\0');
}

/* A number whose text is exactly `text`. */
static void assert_num(const struct json_value *v, const char *text, bool integer)
{
	size_t n = strlen(text);
	assert_true(json_is(v, JSON_NUMBER));
	assert_int_equal(v->integer, integer);
	assert_int_equal(v->len, n);
	assert_memory_equal(v->str, text, n);
}

/* A member named by exactly these bytes. */
static void assert_key(const struct json_value *m, const char *key, size_t len)
{
	assert_non_null(m->key);
	assert_int_equal(m->key_len, len);
	if (len)
		assert_memory_equal(m->key, key, len);
	assert_int_equal(m->key[len], '\0');
}

static bool int_is(const struct json_value *v, int64_t expected)
{
	int64_t i;
	return json_int64(v, &i) && i == expected;
}

/* ------------------------------------------------------------ types */

/* Where a text stops being JSON, for a message that says where. */
static void test_error_offset(void **state)
{
	static const struct {
		const char *text;
		size_t at;
	} cases[] = {
		{ "{\"type\":\"sleep\",}", 16 },   /* the '}' where a name should be */
		{ "[1,2,,3]", 5 },
		{ "{\"a\":1} x", 8 },
		{ "nul", 0 },
		{ "{", 1 },                      /* ended too soon: its length */
		{ "\"abc", 4 },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct json_parser p;
		const struct json_value *v;
		const char *why;

		json_parser_init(&p, 32);
		assert_int_equal(json_parse(&p, cases[i].text, strlen(cases[i].text), &v, &why),
				 -EINVAL);
		if (json_parse_error_offset(&p) != cases[i].at)
			fail_msg("%s: error at %zu, not %zu (%s)", cases[i].text,
				 json_parse_error_offset(&p), cases[i].at, why);
		json_parser_release(&p);
	}
}

static void test_scalars(void **state)
{
	struct doc *d = *state;
	const struct json_value *v;

	v = ok(d, "null");
	assert_int_equal(v->type, JSON_NULL);
	assert_true(json_is(v, JSON_NULL));
	assert_false(json_is(v, JSON_BOOL));

	v = ok(d, "true");
	assert_int_equal(v->type, JSON_BOOL);
	assert_true(v->boolean);
	v = ok(d, "false");
	assert_int_equal(v->type, JSON_BOOL);
	assert_false(v->boolean);
	assert_false(json_is(v, JSON_NULL));

	v = ok(d, "42");
	assert_num(v, "42", true);
	assert_true(int_is(v, 42));
	v = ok(d, "-1.5");
	assert_num(v, "-1.5", false);
	assert_true(json_double(v) == -1.5);

	v = ok(d, "\"hi\"");
	assert_str(v, "hi", 2);
	assert_false(json_is(v, JSON_NUMBER));
	v = ok(d, "\"\"");
	assert_str(v, "", 0);

	/* json_is is false for NULL whatever the kind. */
	for (int k = JSON_NULL; k <= JSON_OBJECT; k++)
		assert_false(json_is(NULL, (enum json_kind)k));
	/* And true for exactly one kind. */
	static const char *const one_each[] = { "null", "true", "1", "\"s\"", "[]", "{}" };
	for (size_t i = 0; i < N_ELEMS(one_each); i++) {
		v = ok(d, one_each[i]);
		for (int k = JSON_NULL; k <= JSON_OBJECT; k++)
			assert_int_equal(json_is(v, (enum json_kind)k), (size_t)k == i);
	}
}

static void test_containers(void **state)
{
	struct doc *d = *state;
	const struct json_value *v;

	v = ok(d, "[null,true,false,0,\"s\",[],{}]");
	assert_int_equal(v->type, JSON_ARRAY);
	assert_int_equal(v->len, 7);
	assert_int_equal(v->items[0].type, JSON_NULL);
	assert_true(v->items[1].type == JSON_BOOL && v->items[1].boolean);
	assert_true(v->items[2].type == JSON_BOOL && !v->items[2].boolean);
	assert_num(&v->items[3], "0", true);
	assert_str(&v->items[4], "s", 1);
	assert_true(json_is(&v->items[5], JSON_ARRAY) && v->items[5].len == 0);
	assert_true(json_is(&v->items[6], JSON_OBJECT) && v->items[6].len == 0);
	/* Array elements have no names. */
	for (uint32_t i = 0; i < v->len; i++)
		assert_null(v->items[i].key);

	v = ok(d, "{\"n\":null,\"b\":true,\"i\":-3,\"f\":2.5,\"s\":\"x\",\"a\":[1],\"o\":{\"k\":\"v\"}}");
	assert_int_equal(v->type, JSON_OBJECT);
	assert_int_equal(v->len, 7);
	static const char *const keys[] = { "n", "b", "i", "f", "s", "a", "o" };
	for (uint32_t i = 0; i < v->len; i++) {
		assert_key(&v->items[i], keys[i], 1);
		assert_ptr_equal(json_get(v, keys[i]), &v->items[i]);
	}
	assert_true(json_is(json_get(v, "n"), JSON_NULL));
	assert_true(json_get(v, "b")->boolean);
	assert_true(int_is(json_get(v, "i"), -3));
	assert_true(json_double(json_get(v, "f")) == 2.5);
	assert_str(json_get(v, "s"), "x", 1);
	assert_true(int_is(&json_get(v, "a")->items[0], 1));
	assert_str(json_get(json_get(v, "o"), "k"), "v", 1);
}

static void test_nested(void **state)
{
	struct doc *d = *state;
	const struct json_value *v, *a, *b, *deep;

	v = ok(d, "{\"a\":[1,{\"b\":[[],{},[2,[3,[4]]]]},\"x\"],\"c\":{\"d\":{\"e\":null}}}");
	a = json_get(v, "a");
	assert_true(json_is(a, JSON_ARRAY));
	assert_int_equal(a->len, 3);
	assert_true(int_is(&a->items[0], 1));
	assert_str(&a->items[2], "x", 1);
	b = json_get(&a->items[1], "b");
	assert_true(json_is(b, JSON_ARRAY));
	assert_int_equal(b->len, 3);
	assert_true(json_is(&b->items[0], JSON_ARRAY) && b->items[0].len == 0);
	assert_true(json_is(&b->items[1], JSON_OBJECT) && b->items[1].len == 0);
	deep = &b->items[2];
	assert_int_equal(deep->len, 2);
	assert_true(int_is(&deep->items[0], 2));
	deep = &deep->items[1];
	assert_int_equal(deep->len, 2);
	assert_true(int_is(&deep->items[0], 3));
	deep = &deep->items[1];
	assert_int_equal(deep->len, 1);
	assert_true(int_is(&deep->items[0], 4));
	assert_true(json_is(json_get(json_get(json_get(v, "c"), "d"), "e"), JSON_NULL));
	/* json_get through a missing link is NULL, not a crash. */
	assert_null(json_get(json_get(json_get(v, "c"), "x"), "e"));
}

static void test_empty_containers(void **state)
{
	struct doc *d = *state;
	const struct json_value *v;

	static const struct {
		const char *text;
		enum json_kind type;
	} empty[] = {
		{ "[]", JSON_ARRAY }, { "{}", JSON_OBJECT }, { "[ ]", JSON_ARRAY },
		{ "{ \t\r\n }", JSON_OBJECT }, { " [\n] ", JSON_ARRAY },
	};
	for (size_t i = 0; i < N_ELEMS(empty); i++) {
		v = ok(d, empty[i].text);
		assert_int_equal(v->type, empty[i].type);
		assert_int_equal(v->len, 0);
		assert_null(json_get(v, ""));
	}

	v = ok(d, "[[],{},[[]],[{}]]");
	assert_int_equal(v->len, 4);
	assert_int_equal(v->items[0].len, 0);
	assert_int_equal(v->items[1].len, 0);
	assert_int_equal(v->items[2].len, 1);
	assert_int_equal(v->items[2].items[0].len, 0);
	assert_int_equal(v->items[3].items[0].type, JSON_OBJECT);

	/* An empty name is a name. */
	v = ok(d, "{\"\":[],\"a\":{}}");
	assert_int_equal(v->len, 2);
	assert_key(&v->items[0], "", 0);
	assert_ptr_equal(json_get(v, ""), &v->items[0]);
	assert_true(json_is(json_get(v, ""), JSON_ARRAY));
	assert_true(json_is(json_get(v, "a"), JSON_OBJECT));
}

static void test_member_order_and_repeats(void **state)
{
	struct doc *d = *state;
	const struct json_value *v;

	/* Members stay in document order. */
	v = ok(d, "{\"z\":1,\"a\":2,\"m\":3,\"b\":4}");
	static const char *const order[] = { "z", "a", "m", "b" };
	for (uint32_t i = 0; i < 4; i++) {
		assert_key(&v->items[i], order[i], 1);
		assert_true(int_is(&v->items[i], (int64_t)i + 1));
	}

	/* Repeated names are all kept; json_get gives the last. */
	v = ok(d, "{\"k\":1,\"x\":0,\"k\":2,\"k\":3}");
	assert_int_equal(v->len, 4);
	assert_ptr_equal(json_get(v, "k"), &v->items[3]);
	assert_true(int_is(json_get(v, "k"), 3));
	assert_true(int_is(&v->items[0], 1));
	assert_true(int_is(&v->items[2], 2));
	assert_ptr_equal(json_get(v, "x"), &v->items[1]);

	/* Whatever their kinds. */
	v = ok(d, "{\"k\":{\"x\":1},\"k\":[2]}");
	assert_true(json_is(json_get(v, "k"), JSON_ARRAY));

	/* Names compare decoded: an escaped name is the same name. */
	v = ok(d, "{\"\\u006b\":1,\"k\":2}");
	assert_true(int_is(json_get(v, "k"), 2));
	v = ok(d, "{\"k\":1,\"\\u006b\":2}");
	assert_true(int_is(json_get(v, "k"), 2));
	assert_ptr_equal(json_get(v, "k"), &v->items[1]);

	/* Exact matches only. */
	v = ok(d, "{\"ab\":1,\"a\\u0000b\":2}");
	assert_null(json_get(v, "a"));
	assert_null(json_get(v, "abc"));
	assert_null(json_get(v, "AB"));
	assert_null(json_get(v, ""));
	assert_true(int_is(json_get(v, "ab"), 1));
	/* A name with a NUL is not found by the part before it. */
	assert_key(&v->items[1], "a\0b", 3);

	/* Not an object: NULL. */
	v = ok(d, "[\"k\",{\"k\":1}]");
	assert_null(json_get(v, "k"));
	assert_null(json_get(&v->items[0], "k"));
	assert_null(json_get(NULL, "k"));
	assert_non_null(json_get(&v->items[1], "k"));
}

/* ------------------------------------------------------------ whitespace */

static void test_whitespace(void **state)
{
	struct doc *d = *state;
	const struct json_value *v;

#define WS " \t\r\n"
	v = ok(d, WS "{" WS "\"a\"" WS ":" WS "[" WS "1" WS "," WS "true" WS "," WS "\"s\"" WS
		  "," WS "null" WS "," WS "{" WS "}" WS "," WS "[" WS "]" WS "]" WS "," WS "\"b\""
		  WS ":" WS "-2.5e3" WS "}" WS);
#undef WS
	assert_int_equal(v->len, 2);
	const struct json_value *a = json_get(v, "a");
	assert_int_equal(a->len, 6);
	assert_true(int_is(&a->items[0], 1));
	assert_true(a->items[1].boolean);
	assert_str(&a->items[2], "s", 1);
	assert_true(json_is(&a->items[3], JSON_NULL));
	assert_num(json_get(v, "b"), "-2.5e3", false);

	/* Each of the four, alone, in every place whitespace may go; any
	 * other byte or Unicode space in the same places is refused. */
	static const char *const places[] = {
		"@[1,2]", "[1,2]@", "[@1,2]", "[1@,2]", "[1,@2]", "[1,2@]", "[@]", "{@}",
		"{@\"a\":1}", "{\"a\"@:1}", "{\"a\":@1}", "{\"a\":1@}", "{\"a\":1,@\"b\":2}",
		"@true", "null@", "[false@]", "@\"s\"@",
	};
	static const struct {
		const char *s;
		size_t n;
	} good[] = { { " ", 1 }, { "\t", 1 }, { "\r", 1 }, { "\n", 1 } },
	  bad[] = {
		{ "\v", 1 }, { "\f", 1 }, { "\0", 1 }, { "\x1c", 1 }, { "\x1f", 1 }, { "\x7f", 1 },
		{ "\xa0", 1 }, { "\xc2\xa0", 2 }, { "\xc2\x85", 2 }, { "\xe2\x80\xa8", 3 },
		{ "\xe2\x80\xa9", 3 }, { "\xe3\x80\x80", 3 }, { "\xef\xbb\xbf", 3 }, { "\\", 1 },
		{ "/", 1 }, { "#", 1 }, { ";", 1 }, { "_", 1 },
	};
	struct sb b = { 0 };
	size_t wrong = 0;
	for (size_t p = 0; p < N_ELEMS(places); p++) {
		for (size_t i = 0; i < N_ELEMS(good); i++) {
			const char *why;
			subst(&b, places[p], good[i].s, good[i].n);
			if (doc_parse(d, b.s, b.len, &why) != 0) {
				tj_print_bytes("refused", b.s, b.len, why);
				wrong++;
			}
		}
		for (size_t i = 0; i < N_ELEMS(bad); i++) {
			const char *why;
			subst(&b, places[p], bad[i].s, bad[i].n);
			if (doc_parse(d, b.s, b.len, &why) != -EINVAL || d->root != SENTINEL) {
				tj_print_bytes("accepted", b.s, b.len, why);
				wrong++;
			}
		}
	}
	free(b.s);
	assert_int_equal(wrong, 0);

	/* Whitespace does not go inside a token. */
	static const char *const inside[] = {
		"tr ue", "nu\tll", "fal\nse", "1 .5", "- 1", "1e 5", "1. 5", "1 e5", "-\n0",
	};
	all_refused(d, inside, N_ELEMS(inside), NULL);
	/* Inside a string, spaces are the string's own (a raw tab, CR or LF
	 * is a control character there: see test_control_characters). */
	v = ok(d, "\"  a \\t b \"");
	assert_str(v, "  a \t b ", 8);
}

/* ------------------------------------------------------------ strings */

static void test_escapes(void **state)
{
	struct doc *d = *state;
	const struct json_value *v;

	v = ok(d, "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"");
	assert_str(v, "\"\\/\b\f\n\r\t", 8);

	static const struct {
		const char *json;
		char byte;
	} one[] = {
		{ "\"\\\"\"", '"' }, { "\"\\\\\"", '\\' }, { "\"\\/\"", '/' }, { "\"\\b\"", '\b' },
		{ "\"\\f\"", '\f' }, { "\"\\n\"", '\n' }, { "\"\\r\"", '\r' }, { "\"\\t\"", '\t' },
	};
	for (size_t i = 0; i < N_ELEMS(one); i++) {
		v = ok(d, one[i].json);
		assert_str(v, &one[i].byte, 1);
	}

	/* Between other text, and in names. */
	v = ok(d, "\"a\\nb\\\\c\\\"d\"");
	assert_str(v, "a\nb\\c\"d", 7);
	v = ok(d, "{\"a\\/b\":1,\"\\t\":2}");
	assert_key(&v->items[0], "a/b", 3);
	assert_true(int_is(json_get(v, "a/b"), 1));
	assert_true(int_is(json_get(v, "\t"), 2));

	/* \uXXXX, to UTF-8, either case of hex, surrogate pairs to 4 bytes. */
	static const struct {
		const char *json;
		const char *bytes;
		size_t len;
	} u[] = {
		{ "\"\\u0041\"", "A", 1 },
		{ "\"\\u0000\"", "\0", 1 },
		{ "\"a\\u0000b\"", "a\0b", 3 },
		{ "\"\\u0000\\u0000\"", "\0\0", 2 },
		{ "\"\\u001f\"", "\x1f", 1 },
		{ "\"\\u007f\"", "\x7f", 1 },
		{ "\"\\u0080\"", "\xc2\x80", 2 },
		{ "\"\\u00e9\"", "\xc3\xa9", 2 },
		{ "\"\\u00E9\"", "\xc3\xa9", 2 },
		{ "\"\\u07ff\"", "\xdf\xbf", 2 },
		{ "\"\\u0800\"", "\xe0\xa0\x80", 3 },
		{ "\"\\u20ac\"", "\xe2\x82\xac", 3 },
		{ "\"\\ud7ff\"", "\xed\x9f\xbf", 3 },
		{ "\"\\ue000\"", "\xee\x80\x80", 3 },
		{ "\"\\uffFd\"", "\xef\xbf\xbd", 3 },
		{ "\"\\uFFFF\"", "\xef\xbf\xbf", 3 },
		{ "\"\\ud800\\udc00\"", "\xf0\x90\x80\x80", 4 },
		{ "\"\\ud83d\\ude00\"", "\xf0\x9f\x98\x80", 4 },
		{ "\"\\uD834\\uDD1E\"", "\xf0\x9d\x84\x9e", 4 },
		{ "\"\\udbff\\udfff\"", "\xf4\x8f\xbf\xbf", 4 },
		{ "\"x\\u00e9y\\ud83d\\ude00z\\n\"", "x\xc3\xa9y\xf0\x9f\x98\x80z\n", 10 },
		{ "\"\\ud83d\\ude00\\ud83d\\ude00\"", "\xf0\x9f\x98\x80\xf0\x9f\x98\x80", 8 },
		{ "\"caf\xc3\xa9\\u00e9\"", "caf\xc3\xa9\xc3\xa9", 7 },
	};
	for (size_t i = 0; i < N_ELEMS(u); i++) {
		v = ok(d, u[i].json);
		assert_str(v, u[i].bytes, u[i].len);
	}

	/* \u0000 in a name counts in key_len too. */
	v = ok(d, "{\"\\u0041\\u0000\":1}");
	assert_key(&v->items[0], "A\0", 2);
}

static void test_escapes_refused(void **state)
{
	struct doc *d = *state;

	static const char *const surrogates[] = {
		/* Lone high surrogates. */
		"\"\\ud800\"", "\"\\udbff\"", "\"\\uD800\"", "\"\\ud800x\"", "\"x\\ud800\"",
		"\"\\ud800\\n\"", "\"\\ud800\\u0041\"", "\"\\ud800\\ud800\"", "\"\\ud800\\udbff\"",
		"\"\\ud800\\ue000\"", "\"\\ud800\\u\"", "\"\\ud800\\udc0\"", "\"\\ud800\\udcxx\"",
		"\"\\ud800u\\udc00\"", "\"\\ud800\\\\udc00\"", "\"\\ud800 \\udc00\"",
		/* Lone low surrogates. */
		"\"\\udc00\"", "\"\\udfff\"", "\"\\uDC00\"", "\"a\\udc00b\"", "\"\\udc00\\ud800\"",
		/* In a name. */
		"{\"\\ud800\":1}", "{\"\\udc00\":1}",
	};
	all_refused(d, surrogates, N_ELEMS(surrogates), NULL);
	for (size_t i = 0; i < N_ELEMS(surrogates); i++)
		assert_non_null(strstr(refused(d, surrogates[i]), "escape"));

	static const char *const bad_hex[] = {
		"\"\\u\"", "\"\\u1\"", "\"\\u12\"", "\"\\u123\"", "\"\\u12G4\"", "\"\\uGGGG\"",
		"\"\\u 123\"", "\"\\u-123\"", "\"\\u+123\"", "\"\\u00e\"", "\"\\u00\\u0041\"",
		"\"\\u0g00\"", "\"\\u000\xc3\xa9\"", "\"\\x41\"", "\"\\U0041\"", "{\"\\u12\":1}",
		"\"\\u12\"\"", "[\"\\u12\",1]",
	};
	all_refused(d, bad_hex, N_ELEMS(bad_hex), NULL);
	assert_non_null(strstr(refused(d, "\"\\u12G4\""), "escape"));
	assert_non_null(strstr(refused(d, "\"\\u12\""), "escape"));

	/* Of all 256 bytes after a backslash, only the eight escapes and
	 * \u (with its four hex digits) are accepted. */
	struct sb b = { 0 };
	size_t wrong = 0;
	for (unsigned c = 0; c < 256; c++) {
		char ch = (char)c;
		const char *why;
		bool valid = strchr("\"\\/bfnrt", (int)c) && c != 0;
		subst(&b, "\"\\@\"", &ch, 1);
		int r = doc_parse(d, b.s, b.len, &why);
		if (valid ? r != 0 : (r != -EINVAL || d->root != SENTINEL)) {
			tj_print_bytes(r == 0 ? "accepted" : "refused", b.s, b.len, why);
			wrong++;
		} else if (!valid && c < 0x80 && !strstr(why, "escape") && !strstr(why, "unterminated")) {
			/* The reason names the escape (or, for \" at the end, the
			 * missing quote). */
			tj_print_bytes("wrong reason", b.s, b.len, why);
			wrong++;
		}
		/* The same in a name. */
		subst(&b, "{\"\\@\":0}", &ch, 1);
		r = doc_parse(d, b.s, b.len, &why);
		if (valid ? r != 0 : r != -EINVAL) {
			tj_print_bytes(r == 0 ? "accepted" : "refused", b.s, b.len, why);
			wrong++;
		}
	}
	free(b.s);
	assert_int_equal(wrong, 0);

	/* A backslash with nothing after it. */
	assert_string_equal(refused(d, "\"\\"), "unterminated string");
	assert_string_equal(refused(d, "\"abc\\\""), "unterminated string");
}

static void test_control_characters(void **state)
{
	struct doc *d = *state;
	const struct json_value *v;
	struct sb b = { 0 };
	size_t wrong = 0;

	/* Every raw byte below 0x20 is refused in a value and in a name; each
	 * is fine escaped. */
	for (unsigned c = 0; c < 0x20; c++) {
		char ch = (char)c;
		const char *why;
		subst(&b, "\"a@b\"", &ch, 1);
		if (doc_parse(d, b.s, b.len, &why) != -EINVAL || d->root != SENTINEL ||
		    strcmp(why, "control character in a string") != 0) {
			tj_print_bytes("not refused as a control character", b.s, b.len, why);
			wrong++;
		}
		subst(&b, "{\"k@\":1}", &ch, 1);
		if (doc_parse(d, b.s, b.len, &why) != -EINVAL ||
		    strcmp(why, "control character in a string") != 0) {
			tj_print_bytes("not refused as a control character", b.s, b.len, why);
			wrong++;
		}
		/* The same after an escape (the second, decoding pass). */
		subst(&b, "\"\\n@\"", &ch, 1);
		if (doc_parse(d, b.s, b.len, &why) != -EINVAL) {
			tj_print_bytes("accepted", b.s, b.len, why);
			wrong++;
		}
		b.len = 0;
		sb_printf(&b, "\"\\u%04x\"", c);
		v = ok_len(d, b.s, b.len);
		assert_str(v, &ch, 1);
	}
	free(b.s);
	assert_int_equal(wrong, 0);

	/* DEL is not a control character for JSON. */
	v = ok(d, "\"a\x7f\"");
	assert_str(v, "a\x7f", 2);
}

struct bytes {
	const char *s;
	size_t n;
};
#define B(lit) { lit, sizeof(lit) - 1 }

static void test_utf8(void **state)
{
	struct doc *d = *state;
	const struct json_value *v;
	struct sb b = { 0 };
	size_t wrong = 0;

	static const struct bytes bad[] = {
		/* Overlong forms. */
		B("\xc0\x80"), B("\xc0\xaf"), B("\xc1\xbf"), B("\xe0\x80\x80"), B("\xe0\x80\xaf"),
		B("\xe0\x9f\xbf"), B("\xf0\x80\x80\x80"), B("\xf0\x8f\xbf\xbf"),
		/* UTF-16 surrogates encoded as UTF-8. */
		B("\xed\xa0\x80"), B("\xed\xaf\xbf"), B("\xed\xb0\x80"), B("\xed\xbf\xbf"),
		B("\xed\xa0\xbd\xed\xb8\x80"),
		/* Past U+10FFFF, and bytes that never start a sequence. */
		B("\xf4\x90\x80\x80"), B("\xf7\xbf\xbf\xbf"), B("\xf5\x80\x80\x80"),
		B("\xf8\x88\x80\x80\x80"), B("\xfc\x84\x80\x80\x80\x80"), B("\xfe"), B("\xff"),
		/* Truncated sequences. */
		B("\xc3"), B("\xe2\x82"), B("\xf0\x9f\x98"), B("\xc3" "a"), B("\xe2\x82" "a"),
		B("\xf0\x9f" "ab"),
		/* Lone or extra continuation bytes. */
		B("\x80"), B("\xbf"), B("a\x80" "b"), B("\xc3\xa9\xa9"), B("\xe2\x82\xac\x80"),
		/* A bad continuation. */
		B("\xc3\x28"), B("\xe2\x28\xa1"), B("\xe2\x82\x28"), B("\xf0\x28\x8c\xbc"),
		B("\xf0\x90\x28\xbc"), B("\xf0\x9f\x98\x28"), B("\xc3\xc3\xa9"),
	};
	static const char *const places[] = { "\"@\"", "[\"ok\",\"x@y\"]", "{\"@\":1}", "{\"a\":\"@\"}" };
	for (size_t p = 0; p < N_ELEMS(places); p++) {
		for (size_t i = 0; i < N_ELEMS(bad); i++) {
			const char *why;
			subst(&b, places[p], bad[i].s, bad[i].n);
			if (doc_parse(d, b.s, b.len, &why) != -EINVAL || d->root != SENTINEL ||
			    strcmp(why, "invalid UTF-8 in a string") != 0) {
				tj_print_bytes("not refused as invalid UTF-8", b.s, b.len, why);
				wrong++;
			}
		}
	}
	/* Truncated by the end of the input itself. */
	static const struct bytes cut[] = { B("\"\xe2\x82"), B("\"\xf0\x9f\x98"), B("\"\xc3") };
	for (size_t i = 0; i < N_ELEMS(cut); i++)
		refused_len(d, cut[i].s, cut[i].n);

	/* Valid sequences, at the edges of each length, are kept as they are. */
	static const struct bytes good[] = {
		B("\xc2\x80"), B("\xdf\xbf"), B("\xe0\xa0\x80"), B("\xed\x9f\xbf"), B("\xee\x80\x80"),
		B("\xef\xbf\xbf"), B("\xef\xbb\xbf"), B("\xf0\x90\x80\x80"), B("\xf4\x8f\xbf\xbf"),
		B("\xf0\x9f\x98\x80"), B("a\xc3\xa9" "b\xe2\x82\xac" "c\xf0\x9f\x98\x80" "d"),
		B("\xe2\x80\xa8\xe2\x80\xa9"),
	};
	for (size_t i = 0; i < N_ELEMS(good); i++) {
		subst(&b, "[\"@\",{\"@\":0}]", good[i].s, good[i].n);
		v = ok_len(d, b.s, b.len);
		assert_str(&v->items[0], good[i].s, good[i].n);
		assert_key(&v->items[1].items[0], good[i].s, good[i].n);
	}
	free(b.s);
	assert_int_equal(wrong, 0);

	/* Outside strings, non-ASCII is no token at all (a BOM included). */
	static const char *const outside[] = {
		"\xc3\xa9", "[\xc3\xa9]", "{\"a\":\xc3\xa9}", "\xef\xbb\xbf{}", "{}\xef\xbb\xbf",
		"\xd9\xa1", "\xef\xbc\x91",
	};
	all_refused(d, outside, N_ELEMS(outside), NULL);
}

/* ------------------------------------------------------------ numbers */

static void test_number_grammar(void **state)
{
	struct doc *d = *state;
	const struct json_value *v;
	struct sb b = { 0 };

	static const struct {
		const char *text;
		bool integer;
	} good[] = {
		{ "0", true }, { "-0", true }, { "1", true }, { "-1", true }, { "9", true },
		{ "10", true }, { "1234567890", true }, { "-1234567890", true },
		{ "0.0", false }, { "-0.0", false }, { "0.5", false }, { "1.5", false },
		{ "1.5e+10", false }, { "1E-2", false }, { "1e5", false }, { "1E5", false },
		{ "1e+5", false }, { "1e-5", false }, { "0e0", false }, { "0E+0", false },
		{ "-0e-0", false }, { "2.50", false }, { "1.0", false }, { "1.00000", false },
		{ "-123.456E-7", false }, { "1e0001", false }, { "0.000001", false },
		{ "123.456e789", false }, { "1e-400", false }, { "10e10", false },
	};
	static const char *const places[] = { "@", "[@]", "{\"n\":@}", "[@,@]", " @\t", "[\n@\r]" };
	for (size_t p = 0; p < N_ELEMS(places); p++) {
		for (size_t i = 0; i < N_ELEMS(good); i++) {
			subst(&b, places[p], good[i].text, strlen(good[i].text));
			v = ok_len(d, b.s, b.len);
			if (json_is(v, JSON_ARRAY)) {
				for (uint32_t k = 0; k < v->len; k++)
					assert_num(&v->items[k], good[i].text, good[i].integer);
			} else if (json_is(v, JSON_OBJECT)) {
				assert_num(json_get(v, "n"), good[i].text, good[i].integer);
			} else {
				assert_num(v, good[i].text, good[i].integer);
			}
		}
	}

	static const char *const bad[] = {
		"01", "-01", "00", "-00", "001", "1.", "-1.", "1.e5", ".5", "-.5", "+1", "+0",
		"1e", "1E", "1e+", "1e-", "1E+", "--1", "-", "-+1", "0x10", "0X1", "0b1", "1f",
		"1L", "1.5.2", "1e5e5", "1e5.5", "1ee5", "1e+-5", "1.5E", "0.e1", "NaN", "nan",
		"-NaN", "Infinity", "-Infinity", "inf", "-inf", "1_000", "1a", "1e5x", "0.5.",
		"\xd9\xa1", "\xef\xbc\x91", "1\"", "1[", "1{", "-a", "1.a", "1e+a",
	};
	size_t wrong = 0;
	for (size_t p = 0; p < 3; p++) {
		for (size_t i = 0; i < N_ELEMS(bad); i++) {
			const char *why;
			subst(&b, places[p], bad[i], strlen(bad[i]));
			if (doc_parse(d, b.s, b.len, &why) != -EINVAL || d->root != SENTINEL) {
				tj_print_bytes("accepted", b.s, b.len, why);
				wrong++;
			}
		}
	}
	free(b.s);
	assert_int_equal(wrong, 0);
	assert_string_equal(refused(d, "01"), "invalid number");
	assert_string_equal(refused(d, "1."), "invalid number");
	assert_string_equal(refused(d, "-"), "invalid number");
	assert_string_equal(refused(d, "1e"), "invalid number");
	assert_string_equal(refused(d, "[1e+]"), "invalid number");
	/* Whitespace inside a number splits it: trailing data then. */
	refused(d, "1 2");
	refused(d, "[1 2]");
}

static void test_integer_range(void **state)
{
	struct doc *d = *state;
	const struct json_value *v;
	int64_t i;
	uint64_t u;

	v = ok(d, "9223372036854775807");
	assert_true(v->integer);
	assert_true(json_int64(v, &i) && i == INT64_MAX);
	assert_true(json_uint64(v, &u) && u == (uint64_t)INT64_MAX);

	v = ok(d, "9223372036854775808");
	assert_true(v->integer);
	assert_false(json_int64(v, &i));
	assert_true(json_uint64(v, &u) && u == (uint64_t)INT64_MAX + 1);

	v = ok(d, "-9223372036854775808");
	assert_true(v->integer);
	assert_true(json_int64(v, &i) && i == INT64_MIN);
	assert_false(json_uint64(v, &u));

	v = ok(d, "18446744073709551615");
	assert_true(v->integer);
	assert_false(json_int64(v, &i));
	assert_true(json_uint64(v, &u) && u == UINT64_MAX);

	v = ok(d, "[18446744073709551615,-9223372036854775808]");
	assert_true(json_uint64(&v->items[0], &u) && u == UINT64_MAX);
	assert_true(json_int64(&v->items[1], &i) && i == INT64_MIN);

	/* One past either end, and far past, is refused: an integer that
	 * does not fit would be altered by whoever reads it. */
	static const char *const out[] = {
		"18446744073709551616", "18446744073709551617", "18446744073709551620",
		"19999999999999999999", "99999999999999999999", "100000000000000000000",
		"184467440737095516150", "-9223372036854775809", "-9223372036854775810",
		"-9999999999999999999", "-18446744073709551615", "-100000000000000000000",
		"[18446744073709551616]", "{\"a\":-9223372036854775809}",
		"[1,18446744073709551616,2]",
	};
	all_refused(d, out, N_ELEMS(out), "integer out of the 64-bit range");

	/* The same magnitudes with a fraction or an exponent are numbers,
	 * not integers, and are accepted (json_double rounds them). */
	static const char *const big[] = {
		"18446744073709551616.0", "18446744073709551616e0", "-9223372036854775809.5",
		"1e400", "-1e400", "1E+400", "1e-400", "100000000000000000000e-1",
	};
	for (size_t k = 0; k < N_ELEMS(big); k++) {
		v = ok(d, big[k]);
		assert_num(v, big[k], false);
		i = 7;
		u = 7;
		assert_false(json_int64(v, &i));
		assert_false(json_uint64(v, &u));
		assert_int_equal(i, 7);
		assert_int_equal(u, 7);
	}
	/* 1e400 is a valid JSON number past the range of a double:
	 * json_double gives an infinity (strtod's HUGE_VAL), which callers
	 * must check (param_number refuses non-finite values). */
	v = ok(d, "1e400");
	assert_true(isinf(json_double(v)) && json_double(v) > 0);
	v = ok(d, "-1e400");
	assert_true(isinf(json_double(v)) && json_double(v) < 0);
	v = ok(d, "1e-400");
	assert_true(json_double(v) == 0.0);
	v = ok(d, "18446744073709551616.0");
	assert_true(json_double(v) == 18446744073709551616.0);
}

static void test_int_accessors(void **state)
{
	struct doc *d = *state;
	const struct json_value *v;

	static const struct {
		const char *text;
		bool i_ok;
		int64_t i;
		bool u_ok;
		uint64_t u;
	} cases[] = {
		{ "0", true, 0, true, 0 },
		{ "1", true, 1, true, 1 },
		{ "-1", true, -1, false, 0 },
		{ "42", true, 42, true, 42 },
		{ "-42", true, -42, false, 0 },
		{ "4294967295", true, 4294967295, true, 4294967295u },
		{ "4294967296", true, 4294967296, true, 4294967296u },
		{ "-4294967296", true, -4294967296, false, 0 },
		{ "9223372036854775806", true, INT64_MAX - 1, true, (uint64_t)INT64_MAX - 1 },
		{ "9223372036854775807", true, INT64_MAX, true, (uint64_t)INT64_MAX },
		{ "9223372036854775808", false, 0, true, (uint64_t)INT64_MAX + 1 },
		{ "-9223372036854775807", true, -INT64_MAX, false, 0 },
		{ "-9223372036854775808", true, INT64_MIN, false, 0 },
		{ "18446744073709551614", false, 0, true, UINT64_MAX - 1 },
		{ "18446744073709551615", false, 0, true, UINT64_MAX },
		/* -0 is the integer 0 for json_int64, but json_uint64 refuses
		 * any minus sign, -0 included: pinned here as it is. */
		{ "-0", true, 0, false, 0 },
		/* Whole in value but not integers in form. */
		{ "1.0", false, 0, false, 0 },
		{ "1e2", false, 0, false, 0 },
		{ "0.0", false, 0, false, 0 },
		{ "-0.0", false, 0, false, 0 },
		{ "10E0", false, 0, false, 0 },
	};
	for (size_t k = 0; k < N_ELEMS(cases); k++) {
		int64_t i = 0x5a5a;
		uint64_t u = 0x5a5a;
		v = ok(d, cases[k].text);
		bool i_ok = json_int64(v, &i), u_ok = json_uint64(v, &u);
		if (i_ok != cases[k].i_ok || u_ok != cases[k].u_ok)
			print_error("%s: int64 %d, uint64 %d\n", cases[k].text, i_ok, u_ok);
		assert_int_equal(i_ok, cases[k].i_ok);
		assert_int_equal(u_ok, cases[k].u_ok);
		/* The value when it fits; untouched when not. */
		assert_true(i == (i_ok ? cases[k].i : 0x5a5a));
		assert_true(u == (u_ok ? cases[k].u : 0x5a5a));
	}

	/* Not numbers at all. */
	static const char *const others[] = { "\"1\"", "true", "false", "null", "[1]", "{\"a\":1}" };
	for (size_t k = 0; k < N_ELEMS(others); k++) {
		int64_t i = 0x5a5a;
		uint64_t u = 0x5a5a;
		v = ok(d, others[k]);
		assert_false(json_int64(v, &i));
		assert_false(json_uint64(v, &u));
		assert_true(json_double(v) == 0);
		assert_int_equal(i, 0x5a5a);
		assert_int_equal(u, 0x5a5a);
	}
	int64_t i = 1;
	uint64_t u = 1;
	assert_false(json_int64(NULL, &i));
	assert_false(json_uint64(NULL, &u));
	assert_true(json_double(NULL) == 0);

	/* Only the number's own bytes are read, not what follows it in the
	 * buffer. */
	struct json_parser p;
	const char *why;
	const char text[] = "12345.75e1";
	json_parser_init(&p, 4);
	assert_int_equal(json_parse(&p, text, 3, &v, &why), 0);
	assert_num(v, "123", true);
	assert_true(int_is(v, 123));
	assert_true(json_uint64(v, &u) && u == 123);
	assert_true(json_double(v) == 123.0);
	assert_int_equal(json_parse(&p, text, 7, &v, &why), 0);
	assert_num(v, "12345.7", false);
	assert_true(json_double(v) == 12345.7);
	json_parser_release(&p);
}

/* "1" and n zeros, then "e-n": the value 1, in 1 + n + 2 + digits(n) bytes. */
static void long_one(struct sb *b, unsigned n)
{
	b->len = 0;
	sb_str(b, "1");
	for (unsigned k = 0; k < n; k++)
		sb_str(b, "0");
	sb_printf(b, "e-%u", n);
}

static void test_double(void **state)
{
	struct doc *d = *state;
	const struct json_value *v;

	static const struct {
		const char *text;
		double value;
	} cases[] = {
		{ "0", 0.0 }, { "1", 1.0 }, { "-1", -1.0 }, { "1.5", 1.5 }, { "-2.25e1", -22.5 },
		{ "1E-2", 0.01 }, { "0.1", 0.1 }, { "1.5e+10", 1.5e10 }, { "2.50", 2.5 },
		{ "123456789012345678", 123456789012345678.0 },
		{ "9223372036854775807", 9223372036854775807.0 },
		{ "-9223372036854775808", -9223372036854775808.0 },
		{ "18446744073709551615", 18446744073709551615.0 },
		{ "2.2250738585072014e-308", 2.2250738585072014e-308 },
		{ "1.7976931348623157e308", 1.7976931348623157e308 },
		{ "4.9e-324", 4.9e-324 },
		{ "-0", 0.0 }, { "-0.0", -0.0 }, { "1e0001", 10.0 },
	};
	for (size_t k = 0; k < N_ELEMS(cases); k++) {
		v = ok(d, cases[k].text);
		if (json_double(v) != cases[k].value)
			print_error("%s read as %.17g\n", cases[k].text, json_double(v));
		assert_true(json_double(v) == cases[k].value);
	}
	v = ok(d, "-0.0");
	assert_true(signbit(json_double(v)));

	/* Numbers longer than json_double's 64-byte buffer, and at its edge:
	 * all of the text counts. */
	struct sb b = { 0 };
	static const unsigned zeros[] = { 56, 57, 58, 59, 60, 61, 62, 120, 300, 1000 };
	for (size_t k = 0; k < N_ELEMS(zeros); k++) {
		long_one(&b, zeros[k]);
		v = ok_len(d, b.s, b.len);
		if (json_double(v) != 1.0)
			print_error("%zu-byte number read as %.17g\n", b.len, json_double(v));
		assert_true(json_double(v) == 1.0);
	}
	b.len = 0;
	sb_str(&b, "0.5");
	for (int k = 0; k < 200; k++)
		sb_str(&b, "0");
	v = ok_len(d, b.s, b.len);
	assert_true(json_double(v) == 0.5);
	free(b.s);
}

static void test_double_locale(void **state)
{
	struct doc *d = *state;
	static const char *const names[] = { "de_DE.UTF-8", "de_DE.utf8" };
	const char *set = NULL;

	for (size_t k = 0; k < N_ELEMS(names) && !set; k++)
		set = setlocale(LC_NUMERIC, names[k]);
	if (!set) {
		print_message("No de_DE.UTF-8 locale: the locale check is skipped.\n");
		skip();
	}
	/* The locale's decimal point really is a comma: plain strtod would
	 * read "1.5" as 1. */
	bool comma = strcmp(localeconv()->decimal_point, ",") == 0;
	double naive = strtod("1.5", NULL);

	struct sb b = { 0 };
	sb_str(&b, "0.5");
	for (int k = 0; k < 100; k++)
		sb_str(&b, "0");
	double x1 = json_double(ok(d, "1.5"));
	double x2 = json_double(ok(d, "-2.25e1"));
	double x3 = json_double(ok(d, "1E-2"));
	double x4 = json_double(ok_len(d, b.s, b.len));   /* the long path */
	double x5 = json_double(ok(d, "[3.25]")->items);
	free(b.s);
	setlocale(LC_NUMERIC, "C");

	assert_true(comma);
	assert_true(naive == 1.0);
	assert_true(x1 == 1.5);
	assert_true(x2 == -22.5);
	assert_true(x3 == 0.01);
	assert_true(x4 == 0.5);
	assert_true(x5 == 3.25);
}

/* ------------------------------------------------------------ literals */

static void test_literals(void **state)
{
	struct doc *d = *state;
	const struct json_value *v;

	v = ok(d, "[true,false,null, true ,\tfalse\n,\rnull]");
	assert_int_equal(v->len, 6);
	for (uint32_t k = 0; k < 6; k += 3) {
		assert_true(v->items[k].type == JSON_BOOL && v->items[k].boolean);
		assert_true(v->items[k + 1].type == JSON_BOOL && !v->items[k + 1].boolean);
		assert_int_equal(v->items[k + 2].type, JSON_NULL);
	}
	v = ok(d, "{\"t\":true,\"f\":false,\"n\":null}");
	assert_true(json_get(v, "t")->boolean);
	assert_false(json_get(v, "f")->boolean);
	assert_true(json_is(json_get(v, "n"), JSON_NULL));

	static const char *const bad[] = {
		"truex", "nul", "tru", "t", "f", "n", "fals", "falsex", "nulll", "nullx", "True",
		"TRUE", "FALSE", "Null", "NULL", "tRue", "true1", "true_", "[truex]", "[true false]",
		"{\"a\":nul}", "{\"a\":tru}", "[tru]", "truefalse", "nulltrue", "undefined", "none",
		"nil", "true\"\"", "[null\"\"]", "true[]", "false{}", "{\"a\":truex}",
	};
	all_refused(d, bad, N_ELEMS(bad), NULL);
	assert_string_equal(refused(d, "truex"), "invalid literal");
	assert_string_equal(refused(d, "nul"), "invalid literal");
	assert_string_equal(refused(d, "tru"), "invalid literal");
}

/* ------------------------------------------------------------ framing */

static void test_trailing_data(void **state)
{
	struct doc *d = *state;

	static const char *const bad[] = {
		"{} x", "1 2", "{}{}", "[][]", "[]{}", "\"a\"\"b\"", "\"a\" \"b\"", "null null",
		"true false", "1 x", "{}]", "[]]", "{}}", "{},", "1,", "\"a\",", "[1]\n[2]",
		"{} \x01", "0 0", "{}\n{}", "1:", "null,", "[] /", "{} #",
	};
	all_refused(d, bad, N_ELEMS(bad), "unexpected data after the JSON value");

	static const char *const good[] = { "{} ", "{}\t", "{}\r", "{}\n", "1 \r\n\t ", "\"s\"\n" };
	for (size_t k = 0; k < N_ELEMS(good); k++)
		ok(d, good[k]);
}

static void test_empty_input(void **state)
{
	struct doc *d = *state;

	static const char *const empty[] = { "", " ", "\t", "\r\n", " \t\r\n " };
	all_refused(d, empty, N_ELEMS(empty), "no JSON value (empty)");
	/* Bytes beyond len do not count. */
	struct json_parser p;
	const struct json_value *v = SENTINEL;
	const char *why = NULL;
	json_parser_init(&p, 4);
	assert_int_equal(json_parse(&p, "{}", 0, &v, &why), -EINVAL);
	assert_string_equal(why, "no JSON value (empty)");
	assert_ptr_equal(v, SENTINEL);
	json_parser_release(&p);
}

static void test_structure_refused(void **state)
{
	struct doc *d = *state;

	static const char *const bad[] = {
		"[", "]", "{", "}", "[1", "[1,", "{\"a\":1", "{\"a\"", "{\"a\":", "{\"a\":1,", ":",
		",", "\"abc", "[1,]", "[,1]", "[,]", "[1 2]", "[1,,2]", "{\"a\" 1}", "{\"a\":}",
		"{:1}", "{1:2}", "{\"a\":1,}", "{,}", "{\"a\":1 \"b\":2}", "{\"a\"::1}", "[}", "{]",
		"{\"a\":1]", "[1}", "{\"a\",1}", "{\"a\"}", "{null:1}", "{[]:1}", "{{}:1}", "'a'",
		"{'a':1}", "/*c*/1", "1//c", "[1]//", "{a:1}", "[\"a\"1]", "[\"a\":1]", "[[]",
		"[[]]]", "{\"a\":{}", "[{]}", "\"\\\"",
	};
	all_refused(d, bad, N_ELEMS(bad), NULL);
	assert_string_equal(refused(d, "{1:2}"), "expected a member name in quotes");
	assert_string_equal(refused(d, "{\"a\" 1}"), "expected ':' after a member name");
	assert_string_equal(refused(d, "[1 2]"), "expected ',' or ']'");
	assert_string_equal(refused(d, "{\"a\":1 \"b\":2}"), "expected ',' or '}'");
	assert_string_equal(refused(d, "[1"), "unterminated array");
	assert_string_equal(refused(d, "{\"a\":1"), "unterminated object");
	assert_string_equal(refused(d, "\"abc"), "unterminated string");
	assert_string_equal(refused(d, "[1,"), "unexpected end of data");
	assert_string_equal(refused(d, "'a'"), "unexpected character");
}

/* ------------------------------------------------------------ depth */

/* `n` containers, arrays ('a'), objects ('o', as {"a":...}) or both
 * alternating ('m'), around `leaf`, or with the innermost empty when leaf
 * is NULL: n levels deep, or n + 1 with a leaf. */
static char *nest(unsigned n, char mode, const char *leaf)
{
	struct sb b = { 0 };
	sb_add(&b, "", 0);
	for (unsigned k = 0; k < n; k++) {
		bool object = mode == 'o' || (mode == 'm' && k % 2);
		bool innermost_empty = !leaf && k == n - 1;
		sb_str(&b, object ? (innermost_empty ? "{" : "{\"a\":") : "[");
	}
	if (leaf)
		sb_str(&b, leaf);
	for (unsigned k = n; k-- > 0;) {
		bool object = mode == 'o' || (mode == 'm' && k % 2);
		sb_str(&b, object ? "}" : "]");
	}
	return b.s;
}

static void check_depth(unsigned max_depth, const char *text, bool accepted)
{
	struct json_parser p;
	const struct json_value *v = SENTINEL;
	const char *why = NULL;

	json_parser_init(&p, max_depth);
	int r = json_parse(&p, text, strlen(text), &v, &why);
	json_parser_release(&p);
	if (r != (accepted ? 0 : -EINVAL))
		print_error("max_depth %u: %.80s%s %s (%s)\n", max_depth, text,
			    strlen(text) > 80 ? "..." : "", accepted ? "refused" : "accepted",
			    why ? why : "");
	if (accepted) {
		assert_int_equal(r, 0);
	} else {
		assert_int_equal(r, -EINVAL);
		assert_string_equal(why, "JSON nested too deeply");
		assert_ptr_equal(v, SENTINEL);
	}
}

static void test_depth_small(void **state)
{
	(void)state;

	/* One level: a scalar, or an empty container. */
	static const char *const ok1[] = { "1", "\"s\"", "true", "null", "[]", "{}", " [ ] " };
	static const char *const deep1[] = {
		"[1]", "[[]]", "[{}]", "{\"a\":1}", "{\"a\":{}}", "{\"a\":[]}", "[null]",
	};
	for (size_t k = 0; k < N_ELEMS(ok1); k++)
		check_depth(1, ok1[k], true);
	for (size_t k = 0; k < N_ELEMS(deep1); k++)
		check_depth(1, deep1[k], false);

	/* Two levels. */
	static const char *const ok2[] = {
		"[1]", "[[]]", "[{}]", "{\"a\":1}", "{\"a\":{}}", "{\"a\":[]}", "[1,2,3]",
		"{\"a\":1,\"b\":[]}", "[[],{},\"x\"]", "1",
	};
	static const char *const deep2[] = {
		"[[1]]", "[[[]]]", "[{\"a\":1}]", "{\"a\":[1]}", "{\"a\":{\"b\":{}}}", "[1,[2]]",
		"{\"a\":1,\"b\":[2]}", "[[],[[]]]",
	};
	for (size_t k = 0; k < N_ELEMS(ok2); k++)
		check_depth(2, ok2[k], true);
	for (size_t k = 0; k < N_ELEMS(deep2); k++)
		check_depth(2, deep2[k], false);

	/* Depth is along a path, not summed over siblings. */
	check_depth(3, "[[1],[1],{\"a\":1},[[]]]", true);
	check_depth(3, "[[1],[1],[[1]]]", false);
	check_depth(4, "[[[[]]]]", true);
	check_depth(4, "[[[1]]]", true);
	check_depth(4, "[[[[1]]]]", false);
}

static void test_depth_generated(void **state)
{
	(void)state;
	static const char modes[] = { 'a', 'o', 'm' };
	static const unsigned limits[] = { 1, 2, 3, 32, 1000 };

	for (size_t l = 0; l < N_ELEMS(limits); l++) {
		unsigned max = limits[l];
		for (size_t m = 0; m < N_ELEMS(modes); m++) {
			char *s;
			/* Empty innermost: max containers pass, max + 1 do not. */
			s = nest(max, modes[m], NULL);
			check_depth(max, s, true);
			free(s);
			s = nest(max + 1, modes[m], NULL);
			check_depth(max, s, false);
			free(s);
			/* Around a scalar, which is a level of its own. */
			static const char *const leaves[] = { "1", "\"s\"", "null", "true" };
			for (size_t k = 0; k < N_ELEMS(leaves); k++) {
				s = nest(max - 1, modes[m], leaves[k]);
				check_depth(max, s, true);
				free(s);
				s = nest(max, modes[m], leaves[k]);
				check_depth(max, s, false);
				free(s);
			}
		}
	}

	/* A parser goes on after a depth error, with the same limit. */
	struct json_parser p;
	const struct json_value *v;
	const char *why;
	json_parser_init(&p, 3);
	assert_int_equal(json_parse(&p, "[[[[]]]]", 8, &v, &why), -EINVAL);
	assert_int_equal(json_parse(&p, "[[[]]]", 6, &v, &why), 0);
	assert_int_equal(v->len, 1);
	assert_int_equal(v->items[0].items[0].len, 0);
	json_parser_release(&p);
}

/* ------------------------------------------------------------ size */

static void test_long_strings(void **state)
{
	struct doc *d = *state;
	const struct json_value *v;
	const size_t mib = 1u << 20;
	struct sb b = { 0 };

	/* 1 MiB of plain text, as a value and as a name. */
	char *plain = malloc(mib);
	assert_non_null(plain);
	for (size_t k = 0; k < mib; k++)
		plain[k] = k % 64 == 63 ? 'y' : 'x';
	sb_str(&b, "[\"");
	sb_add(&b, plain, mib);
	sb_str(&b, "\",{\"");
	sb_add(&b, plain, mib);
	sb_str(&b, "\":1}]");
	v = ok_len(d, b.s, b.len);
	assert_str(&v->items[0], plain, mib);
	assert_key(&v->items[1].items[0], plain, mib);
	assert_true(int_is(&v->items[1].items[0], 1));
	free(plain);

	/* 1 MiB of escapes and multi-byte characters. */
	static const char piece[] = "a\\n\\u00e9\\ud83d\\ude00\xe2\x82\xac\\\\";
	static const char decoded[] = "a\n\xc3\xa9\xf0\x9f\x98\x80\xe2\x82\xac\\";
	size_t reps = mib / (sizeof(piece) - 1) + 1;
	b.len = 0;
	sb_str(&b, "\"");
	for (size_t k = 0; k < reps; k++)
		sb_add(&b, piece, sizeof(piece) - 1);
	sb_str(&b, "\"");
	assert_true(b.len > mib);
	v = ok_len(d, b.s, b.len);
	assert_true(json_is(v, JSON_STRING));
	assert_int_equal(v->len, reps * (sizeof(decoded) - 1));
	for (size_t k = 0; k < reps; k++)
		assert_memory_equal(v->str + k * (sizeof(decoded) - 1), decoded, sizeof(decoded) - 1);
	assert_int_equal(v->str[v->len], '\0');

	/* One bad byte at the very end of 1 MiB is still found. */
	b.len = 0;
	sb_str(&b, "\"");
	for (size_t k = 0; k < mib; k++)
		sb_add(&b, "z", 1);
	sb_add(&b, "\x01\"", 2);
	assert_string_equal(refused_len(d, b.s, b.len), "control character in a string");
	b.s[b.len - 2] = '\\';
	b.s[b.len - 1] = 'q';
	sb_str(&b, "\"");
	refused_len(d, b.s, b.len);
	free(b.s);
}

/* A member name has up to JSON_MAX_KEY_BYTES (27 bits of key_len); one
 * byte more is refused, never cut short. A string value may be longer. */
static void test_key_length_limit(void **state)
{
	struct doc *d = *state;
	const size_t max = JSON_MAX_KEY_BYTES;
	char *text = malloc(max + 16);
	const struct json_value *v;

	assert_non_null(text);
	text[0] = '{';
	text[1] = '"';
	memset(text + 2, 'k', max + 1);
	memcpy(text + 2 + max + 1, "\":1}", 4);
	assert_string_equal(refused_len(d, text, max + 7), "member name too long");

	/* The same bytes as a value are fine. */
	text[0] = '[';
	memcpy(text + 2 + max + 1, "\"]", 2);
	v = ok_len(d, text, max + 5);
	assert_int_equal(v->items[0].len, max + 1);
	free(text);
}

/* Strings are scanned a word at a time: put each kind of byte that needs
 * attention at every offset of strings from 0 to 40 bytes, so it falls on
 * each position within a word and in the bytewise tail. */
static void test_string_scan_offsets(void **state)
{
	struct doc *d = *state;
	static const struct {
		const char *raw;        /* as it appears in the JSON text */
		const char *decoded;    /* NULL: the string is refused */
	} cases[] = {
		{ "\\\"", "\"" },
		{ "\\\\", "\\" },
		{ "\\n", "\n" },
		{ "\\u0041", "A" },
		{ "\xc3\xa9", "\xc3\xa9" },
		{ "\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80" },
		{ "\x7f", "\x7f" },
		{ " ", " " },
		{ "\x01", NULL },
		{ "\x1f", NULL },
		{ "\n", NULL },
		{ "\x80", NULL },
		{ "\xff", NULL },
		{ "\xc3", NULL },
	};
	char text[128], want[128];

	for (size_t k = 0; k < N_ELEMS(cases); k++) {
		size_t raw_len = strlen(cases[k].raw);
		for (size_t len = 0; len <= 40; len++) {
			for (size_t at = 0; at <= len; at++) {
				size_t n = 0, w = 0;
				text[n++] = '"';
				for (size_t i = 0; i < len; i++) {
					if (i == at) {
						memcpy(text + n, cases[k].raw, raw_len);
						n += raw_len;
						if (cases[k].decoded) {
							strcpy(want + w, cases[k].decoded);
							w += strlen(cases[k].decoded);
						}
					}
					text[n++] = (char)('a' + i % 26);
					want[w++] = (char)('a' + i % 26);
				}
				if (at == len) {
					memcpy(text + n, cases[k].raw, raw_len);
					n += raw_len;
					if (cases[k].decoded) {
						strcpy(want + w, cases[k].decoded);
						w += strlen(cases[k].decoded);
					}
				}
				text[n++] = '"';
				if (!cases[k].decoded) {
					refused_len(d, text, n);
					continue;
				}
				const struct json_value *v = ok_len(d, text, n);
				assert_str(v, want, w);
				/* Unterminated: the closing quote cut off. */
				refused_len(d, text, n - 1);
			}
		}
	}
}

/* {"k0":0,"k1":1,...} with n members. */
static char *many_members(size_t n, size_t *len)
{
	struct sb b = { 0 };
	sb_str(&b, "{");
	for (size_t k = 0; k < n; k++)
		sb_printf(&b, "%s\"k%zu\":%zu", k ? "," : "", k, k);
	sb_str(&b, "}");
	*len = b.len;
	return b.s;
}

static void check_many_members(const struct json_value *v, size_t n)
{
	char key[32];

	assert_true(json_is(v, JSON_OBJECT));
	assert_int_equal(v->len, n);
	for (size_t k = 0; k < n; k++) {
		int kl = snprintf(key, sizeof(key), "k%zu", k);
		assert_key(&v->items[k], key, (size_t)kl);
		assert_true(int_is(&v->items[k], (int64_t)k));
	}
	assert_ptr_equal(json_get(v, "k0"), &v->items[0]);
	snprintf(key, sizeof(key), "k%zu", n / 2);
	assert_ptr_equal(json_get(v, key), &v->items[n / 2]);
	snprintf(key, sizeof(key), "k%zu", n - 1);
	assert_ptr_equal(json_get(v, key), &v->items[n - 1]);
	snprintf(key, sizeof(key), "k%zu", n);
	assert_null(json_get(v, key));
}

static void test_many_members(void **state)
{
	struct doc *d = *state;
	const struct json_value *v;
	const size_t n = 100000;
	size_t len;

	char *big = many_members(n, &len);
	v = ok_len(d, big, len);
	check_many_members(v, n);
	/* Written back, it is the same text. */
	char *s = written(v);
	assert_string_equal(s, big);
	free(s);
	free(big);

	/* As many small containers in an array, and strings in an object's
	 * arrays: the value stack holds them all at once. */
	struct sb b = { 0 };
	sb_str(&b, "[");
	for (size_t k = 0; k < n; k++)
		sb_printf(&b, "%s[%zu,{\"s\":\"v%zu\"}]", k ? "," : "", k, k);
	sb_str(&b, "]");
	v = ok_len(d, b.s, b.len);
	assert_int_equal(v->len, n);
	for (size_t k = 0; k < n; k += 997) {
		char want[32];
		int wl = snprintf(want, sizeof(want), "v%zu", k);
		assert_int_equal(v->items[k].len, 2);
		assert_true(int_is(&v->items[k].items[0], (int64_t)k));
		assert_str(json_get(&v->items[k].items[1], "s"), want, (size_t)wl);
	}
	free(b.s);
}

static void test_parser_reuse(void **state)
{
	(void)state;
	struct json_parser p;
	const struct json_value *v;
	const char *why;
	const size_t n = 100000;
	size_t len;
	char *big = many_members(n, &len);

	json_parser_init(&p, 8);
	/* Big, small, big, small: each tree right. */
	assert_int_equal(json_parse(&p, big, len, &v, &why), 0);
	check_many_members(v, n);
	assert_non_null(p.chunks);

	assert_int_equal(json_parse(&p, "[1,\"two\"]", 9, &v, &why), 0);
	assert_int_equal(v->len, 2);
	assert_true(int_is(&v->items[0], 1));
	assert_str(&v->items[1], "two", 3);
	/* From here on the parser has all the memory it needs. */
	struct json_chunk *kept = p.chunks;
	struct json_value *stack = p.stack;
	size_t stack_cap = p.stack_cap;
	assert_non_null(kept);

	/* Round after round, nothing more is allocated. */
	for (int round = 0; round < 4; round++) {
		assert_int_equal(json_parse(&p, big, len, &v, &why), 0);
		check_many_members(v, n);
		assert_ptr_equal(p.chunks, kept);
		assert_ptr_equal(p.stack, stack);
		assert_int_equal(p.stack_cap, stack_cap);

		assert_int_equal(json_parse(&p, "{\"a\":[]}", 8, &v, &why), 0);
		assert_true(json_is(json_get(v, "a"), JSON_ARRAY));
		assert_ptr_equal(p.chunks, kept);
	}

	/* A parse that fails half way leaves nothing behind for the next:
	 * the values it had stacked are not kept, however many times. */
	for (int k = 0; k < 100000; k++) {
		assert_int_equal(json_parse(&p, "[1,[2,[3,", 9, &v, &why), -EINVAL);
		assert_int_equal(json_parse(&p, "[4,5]", 5, &v, &why), 0);
		assert_int_equal(v->len, 2);
		assert_true(int_is(&v->items[1], 5));
	}
	assert_int_equal(p.stack_cap, stack_cap);
	assert_ptr_equal(p.chunks, kept);
	assert_int_equal(json_parse(&p, "{\"a\":1,\"b\":2,\"c\":", 17, &v, &why), -EINVAL);
	assert_int_equal(json_parse(&p, "{\"z\":0}", 7, &v, &why), 0);
	assert_int_equal(v->len, 1);
	assert_key(&v->items[0], "z", 1);
	assert_int_equal(json_parse(&p, big, len - 1, &v, &why), -EINVAL);
	assert_int_equal(json_parse(&p, big, len, &v, &why), 0);
	check_many_members(v, n);

	/* Released, it can be released again, and used again. */
	json_parser_release(&p);
	assert_null(p.chunks);
	assert_int_equal(p.max_depth, 8);
	json_parser_release(&p);
	assert_int_equal(json_parse(&p, "[[true]]", 8, &v, &why), 0);
	assert_true(v->items[0].items[0].boolean);
	json_parser_release(&p);
	free(big);
}

/* ------------------------------------------------------------ clone */

/* Same contents; with `distinct`, no string, name or item array shared. */
static void same_tree(const struct json_value *a, const struct json_value *b, bool distinct)
{
	assert_int_equal(a->type, b->type);
	assert_int_equal(a->len, b->len);
	assert_int_equal(a->key_len, b->key_len);
	assert_int_equal(a->key == NULL, b->key == NULL);
	if (a->key) {
		if (a->key_len)
			assert_memory_equal(a->key, b->key, a->key_len);
		assert_int_equal(b->key[b->key_len], '\0');
		if (distinct)
			assert_ptr_not_equal(a->key, b->key);
	}
	switch (a->type) {
	case JSON_BOOL:
		assert_int_equal(a->boolean, b->boolean);
		break;
	case JSON_NUMBER:
		assert_int_equal(a->integer, b->integer);
		assert_memory_equal(a->str, b->str, a->len);
		if (distinct)
			assert_ptr_not_equal(a->str, b->str);
		break;
	case JSON_STRING:
		if (a->len)
			assert_memory_equal(a->str, b->str, a->len);
		assert_int_equal(b->str[b->len], '\0');
		if (distinct)
			assert_ptr_not_equal(a->str, b->str);
		break;
	case JSON_ARRAY:
	case JSON_OBJECT:
		if (a->len && distinct)
			assert_ptr_not_equal(a->items, b->items);
		for (uint32_t k = 0; k < a->len; k++)
			same_tree(&a->items[k], &b->items[k], distinct);
		break;
	default:
		break;
	}
}

static void test_clone(void **state)
{
	struct doc *d = *state;
	static const char text[] =
		"{\"s\":\"a\\u0000b\\n\xc3\xa9\",\"n\":-12.5e3,\"i\":18446744073709551615,"
		"\"t\":true,\"f\":false,\"z\":null,\"a\":[1,[2,[3,{}]],[],\"x\",\"\"],"
		"\"o\":{\"k\\u0000\":{\"deep\":[null,-0]}},\"\":0,\"s\":\"last\"}";
	const struct json_value *v = ok(d, text);
	char *before = written(v);

	struct json_value *c = json_clone(v);
	assert_non_null(c);
	same_tree(v, c, true);
	assert_null(c->key);

	/* A member's clone is a root: no name. */
	const struct json_value *member = json_get(v, "a");
	struct json_value *mc = json_clone(member);
	assert_non_null(mc);
	assert_null(mc->key);
	assert_int_equal(mc->key_len, 0);
	assert_int_equal(mc->len, member->len);
	for (uint32_t k = 0; k < member->len; k++)
		same_tree(&member->items[k], &mc->items[k], true);

	/* Scalars and empty containers. */
	static const char *const small[] = { "\"x\\u0000y\"", "7", "-0.5e-3", "true", "null",
					     "[]", "{}", "\"\"" };
	struct json_value *sc[N_ELEMS(small)];
	char *sw[N_ELEMS(small)];
	for (size_t k = 0; k < N_ELEMS(small); k++) {
		const struct json_value *s = ok(d, small[k]);
		sc[k] = json_clone(s);
		assert_non_null(sc[k]);
		same_tree(s, sc[k], true);
		sw[k] = written(s);
	}

	/* The parser released and the text overwritten and freed: the
	 * clones stand alone (ASan would see any pointer left into either). */
	json_parser_release(&d->p);
	memset(d->text, 'X', strlen(small[N_ELEMS(small) - 1]));
	free(d->text);
	d->text = NULL;

	char *after = written(c);
	assert_string_equal(after, before);
	assert_str(json_get(c, "s"), "last", 4);
	assert_str(&c->items[0], "a\0b\n\xc3\xa9", 6);
	uint64_t u;
	assert_true(json_uint64(json_get(c, "i"), &u) && u == UINT64_MAX);
	assert_true(json_double(json_get(c, "n")) == -12500.0);
	const struct json_value *k0 = &json_get(c, "o")->items[0];
	assert_key(k0, "k\0", 2);
	assert_true(json_is(&json_get(k0, "deep")->items[0], JSON_NULL));
	assert_true(int_is(&json_get(k0, "deep")->items[1], 0));
	assert_true(int_is(json_get(c, ""), 0));
	for (size_t k = 0; k < N_ELEMS(small); k++) {
		char *w = written(sc[k]);
		assert_string_equal(w, sw[k]);
		free(w);
	}

	/* A clone of a clone, once the first is gone. */
	struct json_value *cc = json_clone(c);
	assert_non_null(cc);
	same_tree(c, cc, true);
	free(c);
	char *again = written(cc);
	assert_string_equal(again, before);
	free(again);

	char *m_after = written(mc);
	assert_string_equal(m_after, "[1,[2,[3,{}]],[],\"x\",\"\"]");
	free(m_after);

	free(cc);
	free(mc);
	for (size_t k = 0; k < N_ELEMS(small); k++) {
		free(sc[k]);
		free(sw[k]);
	}
	free(before);
	free(after);
}

/* ------------------------------------------------------------ writing */

static void test_write_round_trip(void **state)
{
	struct doc *d = *state;
	static const struct {
		const char *in;
		const char *out;
	} corpus[] = {
		{ "null", "null" },
		{ " true ", "true" },
		{ "false", "false" },
		{ "0", "0" },
		{ "-0", "-0" },
		{ "1.5e+10", "1.5e+10" },
		{ "-12.50E-3", "-12.50E-3" },
		{ "18446744073709551615", "18446744073709551615" },
		{ "-9223372036854775808", "-9223372036854775808" },
		{ "1E400", "1E400" },
		{ "\"\"", "\"\"" },
		{ "\"plain text\"", "\"plain text\"" },
		{ "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\\"\\\\/\\b\\f\\n\\r\\t\"" },
		{ "\"\\u0000\"", "\"\\u0000\"" },
		{ "\"a\\u0000b\\u0001\\u001f\\u001F\\u007f\"", "\"a\\u0000b\\u0001\\u001f\\u001f\x7f\"" },
		{ "\"\\u00e9\\u20ac\\ud83d\\ude00\"", "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"" },
		{ "\"\xe2\x80\xa8\xef\xbb\xbf\xf4\x8f\xbf\xbf\"", "\"\xe2\x80\xa8\xef\xbb\xbf\xf4\x8f\xbf\xbf\"" },
		{ "\"\\u0022\\u005c\\u002f\\u0008\\u000c\\u000a\\u000d\\u0009\"",
		  "\"\\\"\\\\/\\b\\f\\n\\r\\t\"" },
		{ "[]", "[]" },
		{ "[ ]", "[]" },
		{ "{}", "{}" },
		{ "{ \n }", "{}" },
		{ "[1, 2 ,3]", "[1,2,3]" },
		{ " {\"a\" : 1 , \"b\" : [ true , false , null ] } ",
		  "{\"a\":1,\"b\":[true,false,null]}" },
		{ "{\"k\":1,\"k\":2}", "{\"k\":1,\"k\":2}" },
		{ "{\"z\":0,\"a\":1}", "{\"z\":0,\"a\":1}" },
		{ "{\"\\u006b\\n\":\"v\",\"\":\"\"}", "{\"k\\n\":\"v\",\"\":\"\"}" },
		{ "{\"a\\u0000\":[{\"b\":{}}]}", "{\"a\\u0000\":[{\"b\":{}}]}" },
		{ "{\"\\\"q\\\"\":\"\\\\\"}", "{\"\\\"q\\\"\":\"\\\\\"}" },
		{ "[[[[[[[[[[1]]]]]]]]]]", "[[[[[[[[[[1]]]]]]]]]]" },
		{ "[{\"a\":[{\"b\":[{\"c\":null}]}]},[],{},\"x\",-0.0,1E400]",
		  "[{\"a\":[{\"b\":[{\"c\":null}]}]},[],{},\"x\",-0.0,1E400]" },
		{ "\t[\r\n1e0001\n]\r", "[1e0001]" },
		{ "{\"jsonrpc\":\"2.0\",\"method\":\"job.submit\",\"params\":{\"type\":\"sleep\","
		  "\"spec\":{\"seconds\":0.25}},\"id\":\"r-1\"}",
		  "{\"jsonrpc\":\"2.0\",\"method\":\"job.submit\",\"params\":{\"type\":\"sleep\","
		  "\"spec\":{\"seconds\":0.25}},\"id\":\"r-1\"}" },
	};

	for (size_t k = 0; k < N_ELEMS(corpus); k++) {
		const struct json_value *v = ok(d, corpus[k].in);
		char *w1 = written(v);
		if (strcmp(w1, corpus[k].out) != 0)
			print_error("%s written as %s\n", corpus[k].in, w1);
		assert_string_equal(w1, corpus[k].out);
		/* Kept: the first tree, to compare with the second. */
		struct json_value *first = json_clone(v);
		assert_non_null(first);
		v = ok(d, w1);
		same_tree(first, v, false);
		char *w2 = written(v);
		assert_string_equal(w2, w1);
		free(first);
		free(w1);
		free(w2);
	}

	/* Inside a writer's own structure, commas and names come right. */
	const struct json_value *v = ok(d, "[{\"a\":[1,2]},\"s\",null]");
	struct jsonw w;
	jsonw_init(&w);
	jsonw_object_begin(&w);
	jsonw_key(&w, "x");
	jsonw_value(&w, v);
	jsonw_key(&w, "y");
	jsonw_value(&w, &v->items[0]);
	jsonw_key(&w, "z");
	jsonw_array_begin(&w);
	jsonw_value(&w, &v->items[1]);
	jsonw_value(&w, &v->items[2]);
	jsonw_array_end(&w);
	jsonw_object_end(&w);
	assert_false(w.failed);
	assert_int_equal(w.len, strlen("{\"x\":[{\"a\":[1,2]},\"s\",null],\"y\":{\"a\":[1,2]},"
				       "\"z\":[\"s\",null]}"));
	assert_memory_equal(w.buf, "{\"x\":[{\"a\":[1,2]},\"s\",null],\"y\":{\"a\":[1,2]},"
			    "\"z\":[\"s\",null]}", w.len);
	jsonw_release(&w);
}

/* Whatever json_parse accepts, jsonw_value must write: daemon/job-fetch.c
 * parses a fetched body with max_depth 128 and aborts (xalloc_die) when the
 * writer fails, and the client writes replies parsed to depth 512. */
static void test_write_deep(void **state)
{
	(void)state;
	static const unsigned depths[] = { 2, 63, 64, 65, 100, 128 };
	size_t failed = 0;

	for (size_t k = 0; k < N_ELEMS(depths); k++) {
		static const char modes[] = { 'a', 'o' };
		for (size_t m = 0; m < N_ELEMS(modes); m++) {
			struct json_parser p;
			const struct json_value *v;
			const char *why;
			struct jsonw w;
			char *text = nest(depths[k], modes[m], NULL);

			json_parser_init(&p, 128);
			assert_int_equal(json_parse(&p, text, strlen(text), &v, &why), 0);
			jsonw_init(&w);
			jsonw_value(&w, v);
			if (w.failed || w.len != strlen(text) || memcmp(w.buf, text, w.len) != 0) {
				print_error("depth %u (%s): jsonw_value %s\n", depths[k],
					    modes[m] == 'a' ? "arrays" : "objects",
					    w.failed ? "failed" : "wrote other text");
				failed++;
			}
			jsonw_release(&w);
			json_parser_release(&p);
			free(text);
		}
	}
	assert_int_equal(failed, 0);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, doc_setup, doc_teardown)
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_error_offset),
		T(test_scalars),
		T(test_containers),
		T(test_nested),
		T(test_empty_containers),
		T(test_member_order_and_repeats),
		T(test_whitespace),
		T(test_escapes),
		T(test_escapes_refused),
		T(test_control_characters),
		T(test_utf8),
		T(test_number_grammar),
		T(test_integer_range),
		T(test_int_accessors),
		T(test_double),
		T(test_double_locale),
		T(test_literals),
		T(test_trailing_data),
		T(test_empty_input),
		T(test_structure_refused),
		T(test_depth_small),
		T(test_depth_generated),
		T(test_long_strings),
		T(test_key_length_limit),
		T(test_string_scan_offsets),
		T(test_many_members),
		T(test_parser_reuse),
		T(test_clone),
		T(test_write_round_trip),
		T(test_write_deep),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
