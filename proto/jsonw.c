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

void jsonw_reset(struct jsonw *w)
{
	w->len = 0;
	w->failed = false;
	w->after_key = false;
	w->depth = 0;
	w->has_items = 0;
}

static bool reserve(struct jsonw *w, size_t extra)
{
	if (w->failed)
		return false;
	if (w->len + extra <= w->cap)
		return true;
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

static void put(struct jsonw *w, const char *s, size_t n)
{
	if (!reserve(w, n))
		return;
	memcpy(w->buf + w->len, s, n);
	w->len += n;
}

static void putc_(struct jsonw *w, char c)
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
	uint64_t bit = UINT64_C(1) << (w->depth - 1);
	if (w->has_items & bit)
		putc_(w, ',');
	else
		w->has_items |= bit;
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
	w->has_items &= ~(UINT64_C(1) << (w->depth - 1));
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

void jsonw_string_len(struct jsonw *w, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, run = 0;

	before_value(w);
	/* Worst case every byte becomes \u00XX; reserve once for the common
	 * case and let put() grow for the rest. */
	if (!reserve(w, len + 2))
		return;
	putc_(w, '"');
	while (i < len) {
		unsigned char c = p[i];
		if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
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
	putc_(w, '"');
}

void jsonw_string(struct jsonw *w, const char *s)
{
	jsonw_string_len(w, s, strlen(s));
}

void jsonw_key(struct jsonw *w, const char *key)
{
	jsonw_string(w, key);
	putc_(w, ':');
	w->after_key = true;
}

static void put_number(struct jsonw *w, const char *fmt_buf, int n)
{
	if (n > 0)
		put(w, fmt_buf, (size_t)n);
}

void jsonw_int(struct jsonw *w, int64_t v)
{
	char b[24];
	before_value(w);
	put_number(w, b, snprintf(b, sizeof(b), "%" PRId64, v));
}

void jsonw_uint(struct jsonw *w, uint64_t v)
{
	char b[24];
	before_value(w);
	put_number(w, b, snprintf(b, sizeof(b), "%" PRIu64, v));
}

void jsonw_double(struct jsonw *w, double v)
{
	char b[32];
	before_value(w);
	if (!isfinite(v)) {
		put(w, "null", 4);
		return;
	}
	/* 15 significant digits print the decimal a person wrote (0.1, not
	 * 0.10000000000000001) and are exact for integers below 2^49. */
	put_number(w, b, snprintf(b, sizeof(b), "%.15g", v));
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

void jsonw_raw(struct jsonw *w, const char *bytes, size_t len)
{
	put(w, bytes, len);
}

struct jsonw_mark jsonw_mark(const struct jsonw *w)
{
	return (struct jsonw_mark){
		.len = w->len,
		.after_key = w->after_key,
		.depth = w->depth,
		.has_items = w->has_items,
	};
}

void jsonw_rewind(struct jsonw *w, struct jsonw_mark m)
{
	if (m.len <= w->len)
		w->len = m.len;
	w->after_key = m.after_key;
	w->depth = m.depth;
	w->has_items = m.has_items;
}
