/* The strict JSON parser: a machine over a stack of open containers,
 * building into an arena. Containers are built on a value stack and copied
 * into the arena, exactly sized, when they close, so the tree is a few
 * contiguous arrays. Strings are decoded into the arena, NUL-terminated;
 * numbers point into the text unless it goes away. The text may come in
 * pieces (json_parse_feed): a token a piece cuts is kept and completed from
 * the next. */
#include "config.h"

#include <errno.h>
#include <locale.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "proto/json.h"
#include "proto/jsonw.h"

struct json_chunk {
	struct json_chunk *next;
	size_t cap, used;
	_Alignas(max_align_t) char data[];
};

#define CHUNK_MIN (16 * 1024)

void json_parser_init(struct json_parser *p, unsigned max_depth)
{
	*p = (struct json_parser){ .max_depth = max_depth };
}

static void free_chunks(struct json_chunk *c);

void json_parser_release(struct json_parser *p)
{
	free_chunks(p->chunks);
	free(p->stack);
	free(p->frames);
	free(p->carry);
	*p = (struct json_parser){ .max_depth = p->max_depth, .own_numbers = p->own_numbers };
}

static void free_chunks(struct json_chunk *c)
{
	while (c) {
		struct json_chunk *next = c->next;
		free(c);
		c = next;
	}
}

size_t json_parser_arena_used(const struct json_parser *p)
{
	size_t used = 0;
	for (const struct json_chunk *c = p->chunks; c; c = c->next)
		used += c->used;
	return used;
}

struct json_tree *json_parser_take_tree(struct json_parser *p)
{
	size_t cap = 0, used = json_parser_arena_used(p);
	struct json_tree *t;

	for (const struct json_chunk *c = p->chunks; c; c = c->next)
		cap += c->cap;
	if (!p->own_numbers || used < cap / 2 || !(t = malloc(sizeof(*t))))
		return NULL;
	*t = (struct json_tree){ .refs = 1, .chunks = p->chunks };
	p->chunks = NULL;
	return t;
}

struct json_tree *json_tree_ref(struct json_tree *t)
{
	t->refs++;
	return t;
}

struct json_tree *json_tree_unref(struct json_tree *t)
{
	if (t && --t->refs == 0) {
		free_chunks(t->chunks);
		free(t);
	}
	return NULL;
}

/* Keeps one chunk, as big as the largest parse needed so far, so a warm
 * parser allocates nothing. */
static void arena_reset(struct json_parser *p)
{
	struct json_chunk *c = p->chunks;
	size_t total = 0;

	if (!c)
		return;
	if (!c->next) {
		c->used = 0;
		return;
	}
	for (struct json_chunk *k = c; k; k = k->next)
		total += k->cap;
	free_chunks(c);
	p->chunks = malloc(sizeof(*c) + total);
	if (p->chunks)
		*p->chunks = (struct json_chunk){ .cap = total };
}

/* `align`: a power of two. Text needs none: numbers and strings are packed
 * (a reply of 100,000 jobs copies 200,000 numbers). */
static void *arena_alloc_aligned(struct json_parser *p, size_t size, size_t align)
{
	struct json_chunk *c = p->chunks;
	size_t at = c ? (c->used + align - 1) & ~(align - 1) : 0;

	if (!c || at + size > c->cap) {
		size_t cap = size > CHUNK_MIN ? size : CHUNK_MIN;
		if (c && c->cap * 2 > cap)
			cap = c->cap * 2;
		struct json_chunk *n = malloc(sizeof(*n) + cap);
		if (!n)
			return NULL;
		*n = (struct json_chunk){ .next = c, .cap = cap };
		p->chunks = c = n;
		at = 0;
	}
	c->used = at + size;
	return c->data + at;
}

static void *arena_alloc(struct json_parser *p, size_t size)
{
	return arena_alloc_aligned(p, size, _Alignof(struct json_value));
}

static char *arena_alloc_text(struct json_parser *p, size_t size)
{
	return arena_alloc_aligned(p, size, 1);
}

_Static_assert(sizeof(struct json_value) == 24, "json_value grew: every value of a big reply pays for it");

struct cursor {
	const unsigned char *s, *end;
	struct json_parser *p;
	const char *why;
	int err;
	bool more;              /* more text may follow `end` */
	bool copy_numbers;      /* the text does not outlive the parse */
};

const char json_reason_too_deep[] = "JSON nested too deeply";

static int fail(struct cursor *c, const char *why)
{
	c->why = why;
	c->err = -EINVAL;
	return -EINVAL;
}

/* A token runs into the end of the text so far: it may go on in the next
 * piece. */
static int cut(struct cursor *c)
{
	c->err = -EAGAIN;
	return -EAGAIN;
}

static void skip_ws(struct cursor *c)
{
	while (c->s < c->end && (*c->s == ' ' || *c->s == '\n' || *c->s == '\r' || *c->s == '\t'))
		c->s++;
}

/* After a number or a literal: only whitespace, a structural character or
 * the end ("00.5" and "truex" are not two tokens). */
static bool at_delimiter(const struct cursor *c)
{
	if (c->s >= c->end)
		return true;
	switch (*c->s) {
	case ' ': case '\t': case '\r': case '\n': case ',': case ']': case '}': case ':':
		return true;
	default:
		return false;
	}
}

static bool is_digit(unsigned char ch)
{
	return ch >= '0' && ch <= '9';
}

/* Does a run of digits fit an integer json_int64/json_uint64 can return? */
static bool integer_fits(const unsigned char *d, size_t n, bool negative)
{
	const char *max = negative ? "9223372036854775808" : "18446744073709551615";
	size_t max_len = strlen(max);
	if (n != max_len)
		return n < max_len;
	return memcmp(d, max, n) <= 0;
}

/* A digit must come at c->s: one that may be in the next piece is waited
 * for. */
static int need_digit(struct cursor *c)
{
	if (c->s >= c->end)
		return c->more ? cut(c) : fail(c, "invalid number");
	return is_digit(*c->s) ? 0 : fail(c, "invalid number");
}

static int parse_number(struct cursor *c, struct json_value *v)
{
	const unsigned char *start = c->s;
	bool negative = false, integer = true;
	int r;

	if (*c->s == '-') {
		negative = true;
		c->s++;
	}
	if ((r = need_digit(c)) < 0)
		return r;
	const unsigned char *digits = c->s;
	if (*c->s == '0')
		c->s++;
	else
		while (c->s < c->end && is_digit(*c->s))
			c->s++;
	size_t n_digits = (size_t)(c->s - digits);
	if (c->s < c->end && *c->s == '.') {
		integer = false;
		c->s++;
		if ((r = need_digit(c)) < 0)
			return r;
		while (c->s < c->end && is_digit(*c->s))
			c->s++;
	}
	if (c->s < c->end && (*c->s == 'e' || *c->s == 'E')) {
		integer = false;
		c->s++;
		if (c->s < c->end && (*c->s == '+' || *c->s == '-'))
			c->s++;
		if ((r = need_digit(c)) < 0)
			return r;
		while (c->s < c->end && is_digit(*c->s))
			c->s++;
	}
	if (c->s >= c->end && c->more)
		return cut(c);
	if (!at_delimiter(c))
		return fail(c, "invalid number");
	/* An integer that does not fit would be changed by whoever reads it:
	 * refused, so no id or value is ever silently altered. */
	if (integer && !integer_fits(digits, n_digits, negative))
		return fail(c, "integer out of the 64-bit range");
	v->type = JSON_NUMBER;
	v->integer = integer;
	v->str = (const char *)start;
	v->len = (uint32_t)(c->s - start);
	if (c->copy_numbers) {
		char *copy = arena_alloc_text(c->p, v->len + 1);
		if (!copy) {
			c->err = -ENOMEM;
			c->why = "out of memory";
			return -ENOMEM;
		}
		memcpy(copy, start, v->len);
		copy[v->len] = '\0';
		v->str = copy;
	}
	return 0;
}

static int hex4(const unsigned char *s, unsigned *ret)
{
	unsigned v = 0;
	for (int i = 0; i < 4; i++) {
		unsigned char ch = s[i];
		v <<= 4;
		if (ch >= '0' && ch <= '9')
			v |= ch - '0';
		else if (ch >= 'a' && ch <= 'f')
			v |= ch - 'a' + 10;
		else if (ch >= 'A' && ch <= 'F')
			v |= ch - 'A' + 10;
		else
			return -1;
	}
	*ret = v;
	return 0;
}

static size_t put_utf8(char *o, unsigned cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xc0 | (cp >> 6));
		o[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xe0 | (cp >> 12));
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | (cp >> 18));
	o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	o[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* Skips the bytes at `s` that need no attention inside a string (printable
 * ASCII other than '"' and '\\'), eight at a time: strings are most of a
 * reply's bytes. Each test below flags a byte's top bit; borrows only run
 * upward from a flagged byte, so the lowest flag is exact and gives the
 * first byte to look at. */
static const unsigned char *skip_plain(const unsigned char *s, const unsigned char *end)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	const uint64_t ones = UINT64_C(0x0101010101010101), high = UINT64_C(0x8080808080808080);

	while (end - s >= 8) {
		uint64_t x, quote, backslash, special;
		memcpy(&x, s, 8);
		quote = x ^ (ones * '"');
		backslash = x ^ (ones * '\\');
		special = ((x - ones * 0x20) & ~x) |               /* below 0x20 */
			  ((quote - ones) & ~quote) |              /* '"' */
			  ((backslash - ones) & ~backslash) |      /* '\\' */
			  x;                                       /* 0x80 and above */
		special &= high;
		if (special)
			return s + (__builtin_ctzll(special) >> 3);
		s += 8;
	}
#endif
	while (s < end && *s >= 0x20 && *s < 0x80 && *s != '"' && *s != '\\')
		s++;
	return s;
}

#define INTERN_MAX_LEN 32

/* memcmp for the short strings interning compares, without a call. */
static inline bool same_bytes(const char *a, const unsigned char *b, size_t n)
{
	uint64_t x, y;

	for (; n >= 8; n -= 8, a += 8, b += 8) {
		memcpy(&x, a, 8);
		memcpy(&y, b, 8);
		if (x != y)
			return false;
	}
	for (; n > 0; n--)
		if ((unsigned char)*a++ != *b++)
			return false;
	return true;
}

/* A slot for a short string: its first and last eight bytes (which hold
 * what differs between timestamps) and its length, mixed. `avail`: bytes
 * readable at s. Member names are mostly under eight bytes: loaded as a
 * word and masked where the text allows, not by a call to memcpy. */
static unsigned intern_slot(const unsigned char *s, size_t len, size_t avail)
{
	uint64_t head = 0, tail = 0;

	if (len >= 8) {
		memcpy(&head, s, 8);
		memcpy(&tail, s + len - 8, 8);
	} else if (avail >= 8) {
		memcpy(&head, s, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
		head &= len ? ~UINT64_C(0) >> (64 - 8 * len) : 0;
#else
		head &= len ? ~UINT64_C(0) << (64 - 8 * len) : 0;
#endif
	} else {
		for (size_t i = 0; i < len; i++)
			head |= (uint64_t)s[i] << (8 * i);
	}
	uint64_t h = (head * UINT64_C(0x9e3779b97f4a7c15)) ^ (tail * UINT64_C(0xc2b2ae3d27d4eb4f)) ^ len;
	h ^= h >> 29;
	h *= UINT64_C(0xbf58476d1ce4e5b9);
	return (unsigned)(h >> 56) % JSON_INTERN_SLOTS;
}

/* Parses a string at c->s (the opening quote). Sets *ret and *ret_len. */
static int parse_string(struct cursor *c, const char **ret, uint32_t *ret_len)
{
	const unsigned char *start = ++c->s;
	bool escaped = false;

	/* First pass: find the end, check UTF-8 and control characters. */
	for (;;) {
		c->s = skip_plain(c->s, c->end);
		if (c->s >= c->end || *c->s == '"')
			break;
		unsigned char ch = *c->s;
		if (ch == '\\') {
			escaped = true;
			if (c->s + 1 >= c->end)
				return c->more ? cut(c) : fail(c, "unterminated string");
			c->s += 2;
			continue;
		}
		if (ch < 0x20)
			return fail(c, "control character in a string");
		size_t k = utf8_sequence_length(c->s, (size_t)(c->end - c->s));
		if (!k && c->more && c->end - c->s < 4)
			return cut(c);   /* a character may be cut in two */
		if (!k)
			return fail(c, "invalid UTF-8 in a string");
		c->s += k;
	}
	if (c->s >= c->end)
		return c->more ? cut(c) : fail(c, "unterminated string");
	const unsigned char *stop = c->s++;
	size_t raw = (size_t)(stop - start);
	if (raw > UINT32_MAX)
		return fail(c, "string too long");
	struct json_interned *seen = NULL;
	if (!escaped && raw <= INTERN_MAX_LEN) {
		/* Member names, states and types repeat in every job of a
		 * list, and so do the timestamps of jobs that ended together:
		 * one copy each saves memory and its page faults. */
		seen = &c->p->interned[intern_slot(start, raw, (size_t)(c->end - start))];
		if (seen->generation == c->p->generation && seen->len == raw &&
		    same_bytes(seen->str, start, raw)) {
			*ret = seen->str;
			*ret_len = (uint32_t)raw;
			return 0;
		}
	}
	/* Copied, NUL-terminated, so callers may treat it as a C string
	 * (its length still counts a NUL that came as \u0000). */
	char *o = arena_alloc_text(c->p, raw + 1), *out = o;
	if (!o) {
		c->err = -ENOMEM;
		c->why = "out of memory";
		return -ENOMEM;
	}
	if (!escaped) {
		memcpy(o, start, raw);
		o[raw] = '\0';
		*ret = o;
		*ret_len = (uint32_t)raw;
		if (seen)
			*seen = (struct json_interned){ .str = o, .len = (uint32_t)raw,
							.generation = c->p->generation };
		return 0;
	}

	/* Second pass: decode; never longer than the raw text. */
	for (const unsigned char *s = start; s < stop;) {
		if (*s != '\\') {
			*o++ = (char)*s++;
			continue;
		}
		s++;
		switch (*s++) {
		case '"': *o++ = '"'; break;
		case '\\': *o++ = '\\'; break;
		case '/': *o++ = '/'; break;
		case 'b': *o++ = '\b'; break;
		case 'f': *o++ = '\f'; break;
		case 'n': *o++ = '\n'; break;
		case 'r': *o++ = '\r'; break;
		case 't': *o++ = '\t'; break;
		case 'u': {
			unsigned cp, lo;
			if (stop - s < 4 || hex4(s, &cp) < 0)
				return fail(c, "invalid \\u escape");
			s += 4;
			if (cp >= 0xdc00 && cp <= 0xdfff)
				return fail(c, "invalid \\u escape: lone low surrogate");
			if (cp >= 0xd800 && cp <= 0xdbff) {
				if (stop - s < 6 || s[0] != '\\' || s[1] != 'u' || hex4(s + 2, &lo) < 0 ||
				    lo < 0xdc00 || lo > 0xdfff)
					return fail(c, "invalid \\u escape: lone high surrogate");
				s += 6;
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			}
			o += put_utf8(o, cp);
			break;
		}
		default:
			return fail(c, "invalid escape in a string");
		}
	}
	*o = '\0';
	*ret = out;
	*ret_len = (uint32_t)(o - out);
	return 0;
}

static int literal(struct cursor *c, const char *word, size_t n)
{
	/* The delimiter after it counts: "nul" and "null" may go on. */
	if (c->more && (size_t)(c->end - c->s) <= n)
		return cut(c);
	if ((size_t)(c->end - c->s) < n || memcmp(c->s, word, n) != 0)
		return fail(c, "invalid literal");
	c->s += n;
	if (!at_delimiter(c))
		return fail(c, "invalid literal");
	return 0;
}

static int push(struct cursor *c, const struct json_value *v)
{
	struct json_parser *p = c->p;
	if (p->stack_len == p->stack_cap) {
		size_t cap = p->stack_cap ? p->stack_cap * 2 : 64;
		struct json_value *s = realloc(p->stack, cap * sizeof(*s));
		if (!s) {
			c->err = -ENOMEM;
			c->why = "out of memory";
			return -ENOMEM;
		}
		p->stack = s;
		p->stack_cap = cap;
	}
	p->stack[p->stack_len++] = *v;
	return 0;
}

/* Moves the values pushed since `base` into the arena as v's items. */
static int close_container(struct cursor *c, struct json_value *v, size_t base)
{
	struct json_parser *p = c->p;
	size_t n = p->stack_len - base;

	v->len = (uint32_t)n;
	v->items = NULL;
	if (n) {
		v->items = arena_alloc(p, n * sizeof(*v->items));
		if (!v->items) {
			c->err = -ENOMEM;
			c->why = "out of memory";
			return -ENOMEM;
		}
		memcpy(v->items, p->stack + base, n * sizeof(*v->items));
	}
	p->stack_len = base;
	return 0;
}

/* The parse is a machine over a stack of open containers rather than a
 * recursion, so that it can stop anywhere the text so far ends and go on
 * when more comes (json_parse_feed). */
enum frame_state {
	AFTER_OPEN,     /* after '{' or '[': the closer or the first item */
	BEFORE_ITEM,    /* after ',': an item (an object's: its name first) */
	BEFORE_COLON,   /* an object's: after a member name */
	BEFORE_VALUE,   /* an object's: after ':' */
	AFTER_ITEM,     /* ',' or the closer */
};

struct json_frame {
	struct json_value v;    /* the container, with its own member name */
	size_t base;            /* its items start here on the value stack */
	const char *key;        /* an object's: the name of the member being read */
	uint32_t key_len;
	bool object;
	unsigned char state;
};

static int no_memory(struct cursor *c)
{
	c->err = -ENOMEM;
	c->why = "out of memory";
	return -ENOMEM;
}

/* A value is complete: an item of the open container, or the root. */
static int add_value(struct cursor *c, struct json_value *v)
{
	struct json_parser *p = c->p;

	if (p->n_frames == 0) {
		p->root = *v;
		p->have_root = true;
		return 0;
	}
	struct json_frame *f = &p->frames[p->n_frames - 1];
	if (f->object) {
		v->key = f->key;
		v->key_len = f->key_len;
	}
	f->state = AFTER_ITEM;
	return push(c, v);
}

static int open_container(struct cursor *c, bool object)
{
	struct json_parser *p = c->p;

	if (p->n_frames == p->frames_cap) {
		size_t cap = p->frames_cap ? p->frames_cap * 2 : 16;
		struct json_frame *f = realloc(p->frames, cap * sizeof(*f));
		if (!f)
			return no_memory(c);
		p->frames = f;
		p->frames_cap = cap;
	}
	p->frames[p->n_frames++] = (struct json_frame){
		.v.type = object ? JSON_OBJECT : JSON_ARRAY,
		.base = p->stack_len,
		.object = object,
		.state = AFTER_OPEN,
	};
	c->s++;
	return 0;
}

static int close_top(struct cursor *c)
{
	struct json_parser *p = c->p;
	struct json_frame *f = &p->frames[--p->n_frames];
	struct json_value v = f->v;
	int r;

	c->s++;
	if ((r = close_container(c, &v, f->base)) < 0)
		return r;
	return add_value(c, &v);
}

/* A value starts at c->s: a container is opened, a scalar read whole. */
static int begin_value(struct cursor *c)
{
	struct json_value v = { 0 };
	int r;

	/* Containers around it, plus itself. */
	if (c->p->n_frames + 1 > c->p->max_depth)
		return fail(c, json_reason_too_deep);
	if (c->s >= c->end)
		return c->more ? cut(c) : fail(c, "unexpected end of data");
	switch (*c->s) {
	case '{':
		return open_container(c, true);
	case '[':
		return open_container(c, false);
	case '"':
		v.type = JSON_STRING;
		r = parse_string(c, &v.str, &v.len);
		break;
	case 't':
		v.type = JSON_BOOL;
		v.boolean = true;
		r = literal(c, "true", 4);
		break;
	case 'f':
		v.type = JSON_BOOL;
		r = literal(c, "false", 5);
		break;
	case 'n':
		v.type = JSON_NULL;
		r = literal(c, "null", 4);
		break;
	default:
		if (*c->s != '-' && !is_digit(*c->s))
			return fail(c, "unexpected character");
		r = parse_number(c, &v);
	}
	return r < 0 ? r : add_value(c, &v);
}

/* Why the text may not end here. */
static const char *unfinished(const struct json_parser *p)
{
	if (p->n_frames == 0)
		return "no JSON value (empty)";
	const struct json_frame *f = &p->frames[p->n_frames - 1];
	switch (f->state) {
	case AFTER_OPEN:
	case BEFORE_ITEM:
		return f->object ? "expected a member name in quotes" : "unexpected end of data";
	case BEFORE_COLON:
		return "expected ':' after a member name";
	case BEFORE_VALUE:
		return "unexpected end of data";
	default:
		return f->object ? "unterminated object" : "unterminated array";
	}
}

/* Runs the machine over [c->s, c->end). Returns 0 when all of it was used
 * (and, without c->more, the value is complete), -EAGAIN with c->s at the
 * start of a token the end cut, or an error. */
static int run(struct cursor *c)
{
	struct json_parser *p = c->p;
	int r;

	for (;;) {
		skip_ws(c);
		if (p->have_root) {
			if (c->s < c->end)
				return fail(c, "unexpected data after the JSON value");
			return 0;
		}
		if (c->s >= c->end && c->more)
			return 0;
		const unsigned char *token = c->s;
		if (p->n_frames == 0) {
			if (c->s >= c->end)
				return fail(c, "no JSON value (empty)");
			r = begin_value(c);
		} else {
			struct json_frame *f = &p->frames[p->n_frames - 1];
			unsigned char closer = f->object ? '}' : ']';
			if (c->s >= c->end) {
				/* As the value would have told it, had it begun. */
				if (!f->object && (f->state == AFTER_OPEN || f->state == BEFORE_ITEM) &&
				    p->n_frames + 1 > p->max_depth)
					return fail(c, json_reason_too_deep);
				if (f->state == BEFORE_VALUE && p->n_frames + 1 > p->max_depth)
					return fail(c, json_reason_too_deep);
				return fail(c, unfinished(p));
			}
			switch (f->state) {
			case AFTER_OPEN:
				if (*c->s == closer) {
					r = close_top(c);
					break;
				}
				/* fall through */
			case BEFORE_ITEM:
				if (!f->object) {
					r = begin_value(c);
					break;
				}
				if (*c->s != '"')
					return fail(c, "expected a member name in quotes");
				r = parse_string(c, &f->key, &f->key_len);
				if (r == 0 && f->key_len > JSON_MAX_KEY_BYTES)
					return fail(c, "member name too long");
				if (r == 0)
					f->state = BEFORE_COLON;
				break;
			case BEFORE_COLON:
				if (*c->s != ':')
					return fail(c, "expected ':' after a member name");
				c->s++;
				f->state = BEFORE_VALUE;
				continue;
			case BEFORE_VALUE:
				r = begin_value(c);
				break;
			default:
				if (*c->s == ',') {
					c->s++;
					f->state = BEFORE_ITEM;
					continue;
				}
				if (*c->s == closer) {
					r = close_top(c);
					break;
				}
				return fail(c, f->object ? "expected ',' or '}'" : "expected ',' or ']'");
			}
		}
		if (r == -EAGAIN)
			c->s = token;
		if (r < 0)
			return r;
	}
}

static void start(struct json_parser *p)
{
	arena_reset(p);
	p->stack_len = 0;
	p->n_frames = 0;
	p->have_root = false;
	p->carry_len = 0;
	p->err = 0;
	p->why = NULL;
	/* A new generation forgets the strings of the last parse; generation 0
	 * marks an empty slot. */
	if (++p->generation == 0) {
		memset(p->interned, 0, sizeof(p->interned));
		p->generation = 1;
	}
}

static int finish(struct json_parser *p, const struct json_value **ret_root)
{
	struct json_value *r = arena_alloc(p, sizeof(*r));
	if (!r) {
		p->why = "out of memory";
		return p->err = -ENOMEM;
	}
	*r = p->root;
	*ret_root = r;
	return 0;
}

int json_parse(struct json_parser *p, const char *text, size_t len,
	       const struct json_value **ret_root, const char **ret_reason)
{
	struct cursor c = { .s = (const unsigned char *)text, .end = (const unsigned char *)text + len,
			    .p = p, .copy_numbers = p->own_numbers };

	start(p);
	if (run(&c) < 0 || finish(p, ret_root) < 0) {
		*ret_reason = c.err ? c.why : p->why;
		p->error_offset = c.err ? (size_t)(c.s - (const unsigned char *)text) : len;
		return c.err ? c.err : p->err;
	}
	return 0;
}

size_t json_parse_error_offset(const struct json_parser *p)
{
	return p->error_offset;
}

void json_parse_begin(struct json_parser *p)
{
	start(p);
}

static int reserve_carry(struct json_parser *p, size_t len)
{
	if (len <= p->carry_cap)
		return 0;
	size_t cap = p->carry_cap ? p->carry_cap : 256;
	while (cap < len)
		cap *= 2;
	char *n = realloc(p->carry, cap);
	if (!n)
		return -ENOMEM;
	p->carry = n;
	p->carry_cap = cap;
	return 0;
}

/* Keeps `len` bytes at `data`, which may lie in the carry itself. */
static int keep_carry(struct json_parser *p, const char *data, size_t len)
{
	if (data != p->carry && reserve_carry(p, len) < 0)
		return -ENOMEM;
	memmove(p->carry, data, len);
	p->carry_len = len;
	return 0;
}

/* Runs the machine over one window; a token cut at its end is kept in the
 * carry. `window` may be the carry itself. */
static int run_window(struct json_parser *p, const char *window, size_t len, bool more)
{
	struct cursor c = { .s = (const unsigned char *)window,
			    .end = (const unsigned char *)window + len,
			    .p = p, .more = more, .copy_numbers = true };
	int r = run(&c);

	if (r == -EAGAIN) {
		if (keep_carry(p, (const char *)c.s, (size_t)(c.end - c.s)) < 0) {
			p->why = "out of memory";
			return p->err = -ENOMEM;
		}
		/* Tried again once it has doubled: a long token fed in small
		 * pieces is read a few times over, not once a piece. */
		p->carry_retry = 2 * p->carry_len;
		return 0;
	}
	if (r < 0) {
		p->why = c.why;
		return p->err = r;
	}
	p->carry_len = 0;
	return 0;
}

int json_parse_feed(struct json_parser *p, const char *data, size_t len, bool last,
		    const char **ret_reason)
{
	size_t used = 0;

	while (p->carry_len > 0 && !p->err) {
		/* The token the last piece cut: grow it from this piece until it
		 * ends, by steps as long as it is, so that a long token is not
		 * read again and again. */
		size_t step = p->carry_len < 256 ? 256 : p->carry_len;
		size_t take = len - used < step ? len - used : step;
		if (reserve_carry(p, p->carry_len + take) < 0) {
			p->why = "out of memory";
			p->err = -ENOMEM;
			break;
		}
		memcpy(p->carry + p->carry_len, data + used, take);
		p->carry_len += take;
		used += take;
		bool more = !last || used < len;
		if (more && p->carry_len < p->carry_retry) {
			if (used == len)
				return 0;
			continue;
		}
		if (run_window(p, p->carry, p->carry_len, more) < 0)
			break;
		if (used == len) {
			*ret_reason = p->why;
			return p->err;
		}
	}
	if (!p->err && (used < len || last))
		run_window(p, data + used, len - used, !last);
	*ret_reason = p->why;
	return p->err;
}

int json_parse_end(struct json_parser *p, const struct json_value **ret_root,
		   const char **ret_reason)
{
	if (!p->err && (!p->have_root || p->carry_len > 0)) {
		p->why = p->have_root ? "unexpected data after the JSON value" : unfinished(p);
		p->err = -EINVAL;
	}
	if (!p->err)
		finish(p, ret_root);
	*ret_reason = p->why;
	return p->err;
}

/* ------------------------------------------------------------ reading */

const struct json_value *json_get(const struct json_value *obj, const char *key)
{
	if (!json_is(obj, JSON_OBJECT))
		return NULL;
	size_t n = strlen(key);
	for (uint32_t i = obj->len; i-- > 0;) {
		const struct json_value *m = &obj->items[i];
		if (m->key_len == n && memcmp(m->key, key, n) == 0)
			return m;
	}
	return NULL;
}

static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;
static locale_t c_locale;

static void make_c_locale(void)
{
	c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
}

double json_double(const struct json_value *v)
{
	char buf[64];
	int64_t i;

	if (!json_is(v, JSON_NUMBER))
		return 0;
	if (v->integer && json_int64(v, &i))
		return (double)i;
	/* JSON's decimal point is '.', whatever the caller's locale says. */
	pthread_once(&c_locale_once, make_c_locale);
	size_t n = v->len < sizeof(buf) - 1 ? v->len : sizeof(buf) - 1;
	memcpy(buf, v->str, n);
	buf[n] = '\0';
	if (v->len >= sizeof(buf)) {
		char *big = malloc((size_t)v->len + 1);
		if (!big)
			return 0;
		memcpy(big, v->str, v->len);
		big[v->len] = '\0';
		double d = c_locale ? strtod_l(big, NULL, c_locale) : strtod(big, NULL);
		free(big);
		return d;
	}
	return c_locale ? strtod_l(buf, NULL, c_locale) : strtod(buf, NULL);
}

bool json_uint64(const struct json_value *v, uint64_t *ret)
{
	uint64_t x = 0;

	if (!json_is(v, JSON_NUMBER) || !v->integer || v->str[0] == '-')
		return false;
	for (uint32_t i = 0; i < v->len; i++)
		x = x * 10 + (uint64_t)(v->str[i] - '0');   /* range checked when parsed */
	*ret = x;
	return true;
}

bool json_int64(const struct json_value *v, int64_t *ret)
{
	uint64_t mag = 0;
	bool negative;

	if (!json_is(v, JSON_NUMBER) || !v->integer)
		return false;
	negative = v->str[0] == '-';
	for (uint32_t i = negative; i < v->len; i++)
		mag = mag * 10 + (uint64_t)(v->str[i] - '0');
	if (negative) {
		if (mag > (uint64_t)INT64_MAX + 1)
			return false;
		*ret = mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag;
		return true;
	}
	if (mag > (uint64_t)INT64_MAX)
		return false;
	*ret = (int64_t)mag;
	return true;
}

/* ------------------------------------------------------------ writing */

void jsonw_value(struct jsonw *w, const struct json_value *v)
{
	switch (v->type) {
	case JSON_NULL:
		jsonw_null(w);
		break;
	case JSON_BOOL:
		jsonw_bool(w, v->boolean);
		break;
	case JSON_NUMBER:
		/* Its text was checked to be strict JSON when parsed. */
		jsonw_raw_value(w, v->str, v->len);
		break;
	case JSON_STRING:
		jsonw_string_len(w, v->str, v->len);
		break;
	case JSON_ARRAY:
		jsonw_array_begin(w);
		for (uint32_t i = 0; i < v->len; i++)
			jsonw_value(w, &v->items[i]);
		jsonw_array_end(w);
		break;
	case JSON_OBJECT:
		jsonw_object_begin(w);
		for (uint32_t i = 0; i < v->len; i++) {
			jsonw_key_len(w, v->items[i].key, v->items[i].key_len);
			jsonw_value(w, &v->items[i]);
		}
		jsonw_object_end(w);
		break;
	}
}

/* ------------------------------------------------------------ cloning */

static size_t count_bytes(const struct json_value *v)
{
	size_t n = v->key ? v->key_len + 1 : 0;
	if (v->type == JSON_STRING || v->type == JSON_NUMBER)
		n += v->len + 1;
	if (v->type == JSON_ARRAY || v->type == JSON_OBJECT)
		for (uint32_t i = 0; i < v->len; i++)
			n += count_bytes(&v->items[i]);
	return n;
}

/* Copies v's contents (not v itself) into `to`, items first, then bytes. */
static void clone_into(struct json_value *to, const struct json_value *v, char **bytes,
		       struct json_value **nodes)
{
	*to = *v;
	if (v->key) {
		memcpy(*bytes, v->key, v->key_len);
		(*bytes)[v->key_len] = '\0';
		to->key = *bytes;
		*bytes += v->key_len + 1;
	}
	if (v->type == JSON_STRING || v->type == JSON_NUMBER) {
		memcpy(*bytes, v->str, v->len);
		(*bytes)[v->len] = '\0';
		to->str = *bytes;
		*bytes += v->len + 1;
	}
	if ((v->type == JSON_ARRAY || v->type == JSON_OBJECT) && v->len) {
		to->items = *nodes;
		*nodes += v->len;
		for (uint32_t i = 0; i < v->len; i++)
			clone_into(&to->items[i], &v->items[i], bytes, nodes);
	}
}

static size_t count_nodes(const struct json_value *v)
{
	size_t n = 1;
	if (v->type == JSON_ARRAY || v->type == JSON_OBJECT)
		for (uint32_t i = 0; i < v->len; i++)
			n += count_nodes(&v->items[i]);
	return n;
}

struct json_value *json_clone(const struct json_value *v)
{
	size_t nodes = count_nodes(v);
	size_t bytes = count_bytes(v);
	struct json_value *block = malloc(nodes * sizeof(*block) + bytes);
	if (!block)
		return NULL;
	struct json_value *next_node = block + 1;
	char *next_byte = (char *)(block + nodes);
	clone_into(block, v, &next_byte, &next_node);
	block->key = NULL;
	block->key_len = 0;
	return block;
}
