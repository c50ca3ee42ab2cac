/* A small streaming JSON writer into one growable buffer.
 * Replies and notifications are written straight to text with it, which
 * costs a fraction of building a json-c tree and printing it. */
#ifndef ASYNCJOB_PROTO_JSONW_H
#define ASYNCJOB_PROTO_JSONW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Deeper than any parse the daemon or the client allows (max_json_depth is
 * at most 1000), so whatever was read can be written back. */
#define JSONW_MAX_DEPTH 1024

struct jsonw {
	char *buf;
	size_t len;
	size_t cap;
	bool failed;            /* an allocation failed: the text is incomplete */
	bool after_key;         /* the next value follows a key: no comma */
	unsigned depth;
	uint64_t has_items[JSONW_MAX_DEPTH / 64];   /* bit d: the container at depth d has an item */
	/* The change of the daemon's job store the text tells of, the latest
	 * (0: none): it may leave only once that change is on disk. Kept
	 * across jsonw_detach, cleared by jsonw_reset. */
	uint64_t needs;
};

void jsonw_init(struct jsonw *w);
void jsonw_release(struct jsonw *w);
/* Hands over the text written so far, `*ret_len` bytes for the caller to
 * free(), and goes on writing where it was (inside the same containers) in
 * a new buffer of the same size. NULL when w->failed or out of memory. */
char *jsonw_detach(struct jsonw *w, size_t *ret_len);
/* Empties the buffer, keeping its memory for reuse. */
void jsonw_reset(struct jsonw *w);

void jsonw_object_begin(struct jsonw *w);
void jsonw_object_end(struct jsonw *w);
void jsonw_array_begin(struct jsonw *w);
void jsonw_array_end(struct jsonw *w);
void jsonw_key(struct jsonw *w, const char *key);
void jsonw_key_len(struct jsonw *w, const char *key, size_t len);

/* A key or string the caller knows needs no escaping: printable ASCII
 * without '"' or '\\', such as a literal, an enum name or a timestamp.
 * Skips the scan for bytes to escape, which matters on the reply path
 * where each job object writes a dozen of them. */
void jsonw_plain_key(struct jsonw *w, const char *key, size_t len);
void jsonw_plain_string(struct jsonw *w, const char *s, size_t len);
#define jsonw_literal_key(w, literal) jsonw_plain_key((w), "" literal, sizeof(literal) - 1)

/* Strings are escaped as JSON requires; bytes that are not valid UTF-8
 * become U+FFFD so the output is always valid JSON text. */
void jsonw_string(struct jsonw *w, const char *s);
void jsonw_string_len(struct jsonw *w, const char *s, size_t len);
void jsonw_int(struct jsonw *w, int64_t v);
void jsonw_uint(struct jsonw *w, uint64_t v);
/* Non-finite numbers have no JSON form and are written as null. */
void jsonw_double(struct jsonw *w, double v);
/* A duration or a time in seconds, with at most six decimals (microseconds)
 * and no trailing zeros: 1.000131, 0.5, 2. */
void jsonw_micros(struct jsonw *w, double v);
void jsonw_bool(struct jsonw *w, bool v);
void jsonw_null(struct jsonw *w);
/* Appends an already serialised JSON value. */
void jsonw_raw_value(struct jsonw *w, const char *json, size_t len);
/* Tells the writer that raw bytes just opened an object and wrote a key
 * (a prebuilt envelope prefix): the next value follows that key. */
void jsonw_enter_after_key(struct jsonw *w);
/* Appends bytes outside the JSON structure (a newline between messages). */
void jsonw_raw(struct jsonw *w, const char *bytes, size_t len);

/* Length of the valid UTF-8 sequence at `s` (1 to 4 bytes), or 0 when it is
 * not one: overlong forms, surrogates and code points past U+10FFFF are
 * invalid (RFC 3629). */
size_t utf8_sequence_length(const unsigned char *s, size_t avail);

/* Whether all `n` bytes are valid UTF-8. */
bool utf8_valid(const unsigned char *s, size_t n);

/* A mark records the writer's state so a half-written value can be undone. */
struct jsonw_mark {
	size_t len;
	bool after_key;
	unsigned depth;
	uint64_t has_items[JSONW_MAX_DEPTH / 64];
};
struct jsonw_mark jsonw_mark(const struct jsonw *w);
void jsonw_rewind(struct jsonw *w, struct jsonw_mark mark);

#endif
