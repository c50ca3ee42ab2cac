/* A strict JSON parser (RFC 8259) into a read-only tree held in an arena.
 *
 * Why not json-c for this: json-c 0.16's tokener switches locales on every
 * call and builds a hash table per object, which cost about 17,000
 * instructions for a 110-byte request; this parser does the same work in a
 * small fraction of that and allocates nothing per value once warm. json-c
 * is still used where speed does not matter (building specs, printing).
 *
 * The tree is valid until the parser parses again or is released (or, taken
 * with json_parser_take_tree, as long as it is referenced), and numbers
 * point into the parsed text, which must live as long, unless the parser
 * has own_numbers set. Strings
 * (values and member names) are unescaped, NUL-terminated copies; `len`
 * counts a NUL that came as \u0000. Equal short strings may share one
 * copy (member names repeat in every element of a list). Numbers keep their text, so an id is
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

/* The longest member name the parser takes (key_len has 27 bits). */
#define JSON_MAX_KEY_BYTES ((1u << 27) - 1)

/* 24 bytes: a reply listing 100,000 jobs has 1.1 million of them, and each
 * 8 bytes saved is 9 MB less to fault in. */
struct json_value {
	uint32_t type : 3;     /* enum json_kind */
	uint32_t boolean : 1;
	uint32_t integer : 1;  /* a number without fraction or exponent */
	uint32_t key_len : 27; /* bytes of key */
	uint32_t len;          /* bytes of str, or items of an array/object */
	union {
		const char *str;            /* a string (NUL-terminated), a number's text */
		struct json_value *items;   /* elements, or members (with key) */
	};
	const char *key;       /* the member name, inside an object */
};

struct json_chunk;

/* Short strings already copied in this parse, by a hash of their bytes. */
#define JSON_INTERN_SLOTS 256
struct json_interned {
	const char *str;
	uint32_t len;
	uint32_t generation;           /* the parse it belongs to */
};

struct json_frame;

/* Reusable: its memory is kept from one parse to the next. */
struct json_parser {
	struct json_chunk *chunks;     /* arena for the tree and strings */
	struct json_value *stack;      /* values of containers being built */
	size_t stack_len, stack_cap;
	struct json_frame *frames;     /* the containers open */
	size_t n_frames, frames_cap;
	struct json_value root;        /* once have_root */
	bool have_root;
	char *carry;                   /* a token the last piece cut (json_parse_feed) */
	size_t carry_len, carry_cap;
	size_t carry_retry;            /* carry_len at which to try it again */
	int err;                       /* of the parse going on: 0 or its error */
	const char *why;
	size_t error_offset;           /* json_parse: where a text that is not
					* JSON went wrong, in bytes from its start */
	unsigned max_depth;
	bool own_numbers;              /* copy numbers' text into the arena too */
	uint32_t generation;           /* counts parses, for `interned` */
	struct json_interned interned[JSON_INTERN_SLOTS];
};

void json_parser_init(struct json_parser *p, unsigned max_depth);
void json_parser_release(struct json_parser *p);

/* A tree taken from its parser, freed by its last reference. */
struct json_tree {
	unsigned refs;
	struct json_chunk *chunks;
};

/* Takes the arena of the last parse, so the tree lives on without a copy:
 * the parser starts afresh next time. Only for a parser with own_numbers
 * set, since the text goes away. Returns a tree with one reference, or NULL
 * when the arena is mostly slack from an earlier, larger parse (then a copy
 * costs less memory than keeping it) or memory is short. */
struct json_tree *json_parser_take_tree(struct json_parser *p);
struct json_tree *json_tree_ref(struct json_tree *t);
/* Accepts NULL; returns NULL. */
struct json_tree *json_tree_unref(struct json_tree *t);
/* Bytes the last parse put in the arena. */
size_t json_parser_arena_used(const struct json_parser *p);

/* Parses `len` bytes as exactly one JSON text: strict RFC 8259 (no
 * comments, trailing commas, NaN, single quotes, leading zeros, raw control
 * characters in strings, invalid UTF-8 or lone surrogates), nothing after
 * the value but whitespace, nesting at most max_depth (a scalar counts as a
 * level: [[1]] is 3 deep), integers (numbers without fraction or exponent)
 * within 64 bits. Returns 0 and the root, or -EINVAL with a static reason,
 * or -ENOMEM. */
int json_parse(struct json_parser *p, const char *text, size_t len,
	       const struct json_value **ret_root, const char **ret_reason);
/* After json_parse() failed with -EINVAL: the offset, in bytes, at which
 * the text stopped being JSON (its length when it ended too soon). */
size_t json_parse_error_offset(const struct json_parser *p);

/* The reason given when the text nests deeper than max_depth: compare the
 * pointer to tell a limit reached from a text that is not JSON. */
extern const char json_reason_too_deep[];

/* The same parse, of a text that comes in pieces split anywhere (a reply of
 * 20 MB, read 64 KB at a time): each piece is parsed as it comes, and the
 * text need not be kept. Begin, feed every piece (`last` on the final one,
 * which may be empty), then end for the root. Numbers are always copied.
 * Feed and end return 0, or the first error (-EINVAL with a static reason,
 * -ENOMEM), which every later call returns too. The result and every error
 * are those json_parse gives for the whole text. */
void json_parse_begin(struct json_parser *p);
int json_parse_feed(struct json_parser *p, const char *data, size_t len, bool last,
		    const char **ret_reason);
int json_parse_end(struct json_parser *p, const struct json_value **ret_root,
		   const char **ret_reason);

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
