/* Streaming JSON writer. */
#include "config.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/jsonw.h"

void jsonw_init(struct jsonw *w)
{
	*w = (struct jsonw){ 0 };
}

void jsonw_release(struct jsonw *w)
{
	free(w->buf);
	jsonw_init(w);
}

char *jsonw_detach(struct jsonw *w, size_t *ret_len)
{
	char *text = w->buf;
	char *next = w->failed ? NULL : malloc(w->cap ? w->cap : 512);

	if (!next) {
		w->failed = true;
		return NULL;
	}
	*ret_len = w->len;
	w->buf = next;
	w->cap = w->cap ? w->cap : 512;
	w->len = 0;
	return text;
}

void jsonw_reset(struct jsonw *w)
{
	w->len = 0;
	w->failed = false;
	w->after_key = false;
	w->depth = 0;
	w->needs = 0;
	memset(w->has_items, 0, sizeof(w->has_items));
}

static bool grow(struct jsonw *w, size_t extra) __attribute__((noinline));

static bool grow(struct jsonw *w, size_t extra)
{
	if (w->failed)
		return false;
	size_t cap = w->cap ? w->cap : 512;
	while (cap < w->len + extra)
		cap *= 2;
	char *p = realloc(w->buf, cap);
	if (!p) {
		w->failed = true;
		return false;
	}
	w->buf = p;
	w->cap = cap;
	return true;
}

/* Room for `extra` more bytes; the common case is one comparison. */
static inline bool reserve(struct jsonw *w, size_t extra)
{
	if (w->len + extra <= w->cap && !w->failed)
		return true;
	return grow(w, extra);
}

static inline void put(struct jsonw *w, const char *s, size_t n)
{
	if (!reserve(w, n))
		return;
	memcpy(w->buf + w->len, s, n);
	w->len += n;
}

static inline void putc_(struct jsonw *w, char c)
{
	if (!reserve(w, 1))
		return;
	w->buf[w->len++] = c;
}

/* Writes the comma that separates this value from the previous item. */
static void before_value(struct jsonw *w)
{
	if (w->after_key) {
		w->after_key = false;
		return;
	}
	if (w->depth == 0)
		return;
	uint64_t *word = &w->has_items[(w->depth - 1) / 64];
	uint64_t bit = UINT64_C(1) << ((w->depth - 1) % 64);
	if (*word & bit)
		putc_(w, ',');
	else
		*word |= bit;
}

static void open_container(struct jsonw *w, char c)
{
	before_value(w);
	putc_(w, c);
	if (w->depth >= JSONW_MAX_DEPTH) {
		w->failed = true;
		return;
	}
	w->depth++;
	w->has_items[(w->depth - 1) / 64] &= ~(UINT64_C(1) << ((w->depth - 1) % 64));
}

static void close_container(struct jsonw *w, char c)
{
	if (w->depth > 0)
		w->depth--;
	putc_(w, c);
}

void jsonw_object_begin(struct jsonw *w) { open_container(w, '{'); }
void jsonw_object_end(struct jsonw *w) { close_container(w, '}'); }
void jsonw_array_begin(struct jsonw *w) { open_container(w, '['); }
void jsonw_array_end(struct jsonw *w) { close_container(w, ']'); }

size_t utf8_sequence_length(const unsigned char *s, size_t avail)
{
	unsigned char c = s[0];
	size_t n;
	uint32_t cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if (avail < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	if (cp >= 0xd800 && cp <= 0xdfff)
		return 0;
	return n;
}

bool utf8_valid(const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		size_t k = utf8_sequence_length(s + i, n - i);
		if (!k)
			return false;
		i += k;
	}
	return true;
}

/* Bytes a JSON string may hold as they are: printable ASCII (and DEL) but
 * for the quote and the backslash. Anything else takes the careful path. */
static inline bool plain(unsigned char c)
{
	return c >= 0x20 && c <= 0x7f && c != '"' && c != '\\';
}

static void string_escaped(struct jsonw *w, const unsigned char *p, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t i = 0, run = 0;

	/* `run` plain bytes before p[i] wait to be copied in one go. */
	while (i < len) {
		unsigned char c = p[i];
		if (plain(c)) {
			i++;
			run++;
			continue;
		}
		put(w, (const char *)p + i - run, run);
		run = 0;
		if (c >= 0x80) {
			size_t n = utf8_sequence_length(p + i, len - i);
			if (n == 0) {
				put(w, "\\ufffd", 6);
				i++;
			} else {
				put(w, (const char *)p + i, n);
				i += n;
			}
			continue;
		}
		char esc[6];
		switch (c) {
		case '"': put(w, "\\\"", 2); break;
		case '\\': put(w, "\\\\", 2); break;
		case '\n': put(w, "\\n", 2); break;
		case '\r': put(w, "\\r", 2); break;
		case '\t': put(w, "\\t", 2); break;
		case '\b': put(w, "\\b", 2); break;
		case '\f': put(w, "\\f", 2); break;
		default:
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 0xf];
			put(w, esc, 6);
		}
		i++;
	}
	put(w, (const char *)p + i - run, run);
}

/* `"text"` then `tail` (if not NUL), in one reservation. */
static inline void plain_quoted(struct jsonw *w, const char *s, size_t len, char tail)
{
	if (!reserve(w, len + 3))
		return;
	char *o = w->buf + w->len;
	o[0] = '"';
	memcpy(o + 1, s, len);
	o[len + 1] = '"';
	o[len + 2] = tail;
	w->len += len + 2 + (tail != 0);
}

/* Writes "s" (quoted) and `tail` after it. */
static void quoted(struct jsonw *w, const char *s, size_t len, char tail)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (i < len && plain(p[i]))
		i++;
	if (i == len) {
		/* Nothing to escape, the common case: one copy. */
		plain_quoted(w, s, len, tail);
		return;
	}
	putc_(w, '"');
	string_escaped(w, p, len);
	putc_(w, '"');
	if (tail)
		putc_(w, tail);
}

void jsonw_string_len(struct jsonw *w, const char *s, size_t len)
{
	before_value(w);
	quoted(w, s, len, 0);
}

void jsonw_string(struct jsonw *w, const char *s)
{
	jsonw_string_len(w, s, strlen(s));
}

void jsonw_key_len(struct jsonw *w, const char *key, size_t len)
{
	before_value(w);
	quoted(w, key, len, ':');
	w->after_key = true;
}

void jsonw_key(struct jsonw *w, const char *key)
{
	jsonw_key_len(w, key, strlen(key));
}


void jsonw_plain_key(struct jsonw *w, const char *key, size_t len)
{
	before_value(w);
	plain_quoted(w, key, len, ':');
	w->after_key = true;
}

void jsonw_plain_string(struct jsonw *w, const char *s, size_t len)
{
	before_value(w);
	plain_quoted(w, s, len, 0);
}

/* Decimal digits of `v` into the end of `buf`; returns where they start. */
static char *u64_digits(uint64_t v, char *end)
{
	char *p = end;
	do {
		*--p = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	return p;
}

void jsonw_int(struct jsonw *w, int64_t v)
{
	char b[24], *end = b + sizeof(b);
	uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
	char *p = u64_digits(mag, end);
	if (v < 0)
		*--p = '-';
	before_value(w);
	put(w, p, (size_t)(end - p));
}

void jsonw_uint(struct jsonw *w, uint64_t v)
{
	char b[24], *end = b + sizeof(b);
	char *p = u64_digits(v, end);
	before_value(w);
	put(w, p, (size_t)(end - p));
}

void jsonw_double(struct jsonw *w, double v)
{
	char b[32];
	if (!isfinite(v)) {
		before_value(w);
		put(w, "null", 4);
		return;
	}
	/* Whole numbers, the common case, without printf. */
	if (v == floor(v) && fabs(v) < 1e15) {
		jsonw_int(w, (int64_t)v);
		return;
	}
	before_value(w);
	/* 15 significant digits print the decimal a person wrote (0.1, not
	 * 0.10000000000000001) and are exact for integers below 2^49. */
	int n = snprintf(b, sizeof(b), "%.15g", v);
	if (n > 0)
		put(w, b, (size_t)n);
}

void jsonw_micros(struct jsonw *w, double v)
{
	if (!isfinite(v) || fabs(v) >= 1e12) {
		jsonw_double(w, v);
		return;
	}
	char b[40], *end = b + sizeof(b), *p;
	bool negative = v < 0;
	uint64_t us = (uint64_t)llround(fabs(v) * 1e6);
	uint64_t frac = us % 1000000;
	int digits = 6;

	/* Up to six decimals, trailing zeros dropped: 1.0001, 0.5, 2. */
	while (digits > 0 && frac % 10 == 0) {
		frac /= 10;
		digits--;
	}
	p = end;
	if (digits > 0) {
		for (int i = 0; i < digits; i++) {
			*--p = (char)('0' + frac % 10);
			frac /= 10;
		}
		*--p = '.';
	}
	p = u64_digits(us / 1000000, p);
	if (negative && us)
		*--p = '-';
	before_value(w);
	put(w, p, (size_t)(end - p));
}

void jsonw_bool(struct jsonw *w, bool v)
{
	before_value(w);
	if (v)
		put(w, "true", 4);
	else
		put(w, "false", 5);
}

void jsonw_null(struct jsonw *w)
{
	before_value(w);
	put(w, "null", 4);
}

void jsonw_raw_value(struct jsonw *w, const char *json, size_t len)
{
	before_value(w);
	put(w, json, len);
}

void jsonw_enter_after_key(struct jsonw *w)
{
	if (w->depth >= JSONW_MAX_DEPTH) {
		w->failed = true;
		return;
	}
	w->depth++;
	w->has_items[(w->depth - 1) / 64] |= UINT64_C(1) << ((w->depth - 1) % 64);
	w->after_key = true;
}

void jsonw_raw(struct jsonw *w, const char *bytes, size_t len)
{
	put(w, bytes, len);
}

struct jsonw_mark jsonw_mark(const struct jsonw *w)
{
	struct jsonw_mark m = { .len = w->len, .after_key = w->after_key, .depth = w->depth };
	memcpy(m.has_items, w->has_items, sizeof(m.has_items));
	return m;
}

void jsonw_rewind(struct jsonw *w, struct jsonw_mark m)
{
	if (m.len <= w->len)
		w->len = m.len;
	w->after_key = m.after_key;
	w->depth = m.depth;
	memcpy(w->has_items, m.has_items, sizeof(w->has_items));
}
