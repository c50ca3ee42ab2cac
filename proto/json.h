/* A strict JSON parser (RFC 8259) into a read-only tree held in an arena.
 *
 * Why not json-c for this: json-c 0.16's tokener switches locales on every
 * call and builds a hash table per object, which cost about 17,000
 * instructions for a 110-byte request; this parser does the same work in a
 * small fraction of that and allocates nothing per value once warm. json-c
 * is still used where speed does not matter (building specs, printing).
 *
 * The tree is valid until the parser parses again or is released, and
 * numbers point into the parsed text, which must live as long. Strings
 * (values and member names) are unescaped, NUL-terminated copies; `len`
 * counts a NUL that came as \u0000. Numbers keep their text, so an id is
 * echoed exactly as it came. */
#ifndef ASYNCJOB_PROTO_JSON_H
#define ASYNCJOB_PROTO_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum json_kind {
	JSON_NULL,
	JSON_BOOL,
	JSON_NUMBER,
	JSON_STRING,
	JSON_ARRAY,
	JSON_OBJECT,
};

struct json_value {
	uint8_t type;          /* enum json_kind */
	bool boolean;
	bool integer;          /* a number without fraction or exponent */
	uint32_t len;          /* bytes of str, or items of an array/object */
	const char *str;       /* a string (NUL-terminated), or a number's text (not) */
	const char *key;       /* the member name, inside an object */
	uint32_t key_len;
	struct json_value *items;   /* elements, or members (with key) */
};

struct json_chunk;

/* Reusable: its memory is kept from one parse to the next. */
struct json_parser {
	struct json_chunk *chunks;     /* arena for the tree and strings */
	struct json_value *stack;      /* values of containers being built */
	size_t stack_len, stack_cap;
	unsigned max_depth;
};

void json_parser_init(struct json_parser *p, unsigned max_depth);
void json_parser_release(struct json_parser *p);

/* Parses `len` bytes as exactly one JSON text: strict RFC 8259 (no
 * comments, trailing commas, NaN, single quotes, leading zeros, raw control
 * characters in strings, invalid UTF-8 or lone surrogates), nothing after
 * the value but whitespace, nesting at most max_depth (a scalar counts as a
 * level: [[1]] is 3 deep), integers (numbers without fraction or exponent)
 * within 64 bits. Returns 0 and the root, or -EINVAL with a static reason,
 * or -ENOMEM. */
int json_parse(struct json_parser *p, const char *text, size_t len,
	       const struct json_value **ret_root, const char **ret_reason);

/* Member `key` of an object (the last, if repeated), or NULL. */
const struct json_value *json_get(const struct json_value *obj, const char *key);

static inline bool json_is(const struct json_value *v, enum json_kind t)
{
	return v && v->type == t;
}

/* A number as a double (every JSON number has one, maybe rounded). */
double json_double(const struct json_value *v);
/* An integer number: returns true and the value when it fits. */
bool json_int64(const struct json_value *v, int64_t *ret);
bool json_uint64(const struct json_value *v, uint64_t *ret);

struct jsonw;
/* Writes a value compactly, on one line (strings re-escaped). */
void jsonw_value(struct jsonw *w, const struct json_value *v);

/* Copies a tree into one allocation the caller frees with free(); NULL on
 * failure. Needed where a value must outlive its parser. */
struct json_value *json_clone(const struct json_value *v);

#endif
