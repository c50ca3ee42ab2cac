/* The strict JSON parser: recursive descent into an arena. Containers are
 * built on a value stack and copied into the arena, exactly sized, when
 * they close, so the tree is a few contiguous arrays. Strings are decoded
 * into the arena, NUL-terminated; numbers point into the text. */
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

static void *arena_alloc(struct json_parser *p, size_t size)
{
	struct json_chunk *c = p->chunks;

	size = (size + 15) & ~(size_t)15;
	if (!c || c->used + size > c->cap) {
		size_t cap = size > CHUNK_MIN ? size : CHUNK_MIN;
		if (c && c->cap * 2 > cap)
			cap = c->cap * 2;
		struct json_chunk *n = malloc(sizeof(*n) + cap);
		if (!n)
			return NULL;
		*n = (struct json_chunk){ .next = c, .cap = cap };
		p->chunks = c = n;
	}
	void *r = c->data + c->used;
	c->used += size;
	return r;
}

_Static_assert(sizeof(struct json_value) == 24, "json_value grew: every value of a big reply pays for it");

struct cursor {
	const unsigned char *s, *end;
	struct json_parser *p;
	const char *why;
	int err;
};

static int fail(struct cursor *c, const char *why)
{
	c->why = why;
	c->err = -EINVAL;
	return -EINVAL;
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

static int parse_number(struct cursor *c, struct json_value *v)
{
	const unsigned char *start = c->s;
	bool negative = false, integer = true;

	if (*c->s == '-') {
		negative = true;
		c->s++;
	}
	if (c->s >= c->end || !is_digit(*c->s))
		return fail(c, "invalid number");
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
		if (c->s >= c->end || !is_digit(*c->s))
			return fail(c, "invalid number");
		while (c->s < c->end && is_digit(*c->s))
			c->s++;
	}
	if (c->s < c->end && (*c->s == 'e' || *c->s == 'E')) {
		integer = false;
		c->s++;
		if (c->s < c->end && (*c->s == '+' || *c->s == '-'))
			c->s++;
		if (c->s >= c->end || !is_digit(*c->s))
			return fail(c, "invalid number");
		while (c->s < c->end && is_digit(*c->s))
			c->s++;
	}
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
	if (c->p->own_numbers) {
		char *copy = arena_alloc(c->p, v->len + 1);
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

/* A slot for a short string: its first and last eight bytes (which hold
 * what differs between timestamps) and its length, mixed. */
static unsigned intern_slot(const unsigned char *s, size_t len)
{
	uint64_t head = 0, tail = 0;

	if (len >= 8) {
		memcpy(&head, s, 8);
		memcpy(&tail, s + len - 8, 8);
	} else {
		memcpy(&head, s, len);
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
				return fail(c, "unterminated string");
			c->s += 2;
			continue;
		}
		if (ch < 0x20)
			return fail(c, "control character in a string");
		size_t k = utf8_sequence_length(c->s, (size_t)(c->end - c->s));
		if (!k)
			return fail(c, "invalid UTF-8 in a string");
		c->s += k;
	}
	if (c->s >= c->end)
		return fail(c, "unterminated string");
	const unsigned char *stop = c->s++;
	size_t raw = (size_t)(stop - start);
	if (raw > UINT32_MAX)
		return fail(c, "string too long");
	struct json_interned *seen = NULL;
	if (!escaped && raw <= INTERN_MAX_LEN) {
		/* Member names, states and types repeat in every job of a
		 * list, and so do the timestamps of jobs that ended together:
		 * one copy each saves memory and its page faults. */
		seen = &c->p->interned[intern_slot(start, raw)];
		if (seen->generation == c->p->generation && seen->len == raw &&
		    memcmp(seen->str, start, raw) == 0) {
			*ret = seen->str;
			*ret_len = (uint32_t)raw;
			return 0;
		}
	}
	/* Copied, NUL-terminated, so callers may treat it as a C string
	 * (its length still counts a NUL that came as \u0000). */
	char *o = arena_alloc(c->p, raw + 1), *out = o;
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

static int parse_value(struct cursor *c, struct json_value *v, unsigned depth);

static int parse_container(struct cursor *c, struct json_value *v, unsigned depth, bool object)
{
	size_t base = c->p->stack_len;
	unsigned char closer = object ? '}' : ']';
	int r;

	v->type = object ? JSON_OBJECT : JSON_ARRAY;
	c->s++;
	skip_ws(c);
	if (c->s < c->end && *c->s == closer) {
		c->s++;
		return close_container(c, v, base);
	}
	for (;;) {
		struct json_value item = { 0 };
		skip_ws(c);
		if (object) {
			if (c->s >= c->end || *c->s != '"')
				return fail(c, "expected a member name in quotes");
			uint32_t key_len;
			if ((r = parse_string(c, &item.key, &key_len)) < 0)
				return r;
			if (key_len > JSON_MAX_KEY_BYTES)
				return fail(c, "member name too long");
			item.key_len = key_len;
			skip_ws(c);
			if (c->s >= c->end || *c->s != ':')
				return fail(c, "expected ':' after a member name");
			c->s++;
			skip_ws(c);
		}
		if ((r = parse_value(c, &item, depth + 1)) < 0 || (r = push(c, &item)) < 0)
			return r;
		skip_ws(c);
		if (c->s >= c->end)
			return fail(c, object ? "unterminated object" : "unterminated array");
		if (*c->s == ',') {
			c->s++;
			continue;
		}
		if (*c->s == closer) {
			c->s++;
			return close_container(c, v, base);
		}
		return fail(c, object ? "expected ',' or '}'" : "expected ',' or ']'");
	}
}

/* `depth`: containers around this value. The value is level depth + 1. */
static int parse_value(struct cursor *c, struct json_value *v, unsigned depth)
{
	const char *key = v->key;
	uint32_t key_len = v->key_len;

	*v = (struct json_value){ .key = key, .key_len = key_len };
	if (depth + 1 > c->p->max_depth)
		return fail(c, "JSON nested too deeply");
	if (c->s >= c->end)
		return fail(c, "unexpected end of data");
	switch (*c->s) {
	case '{':
		return parse_container(c, v, depth, true);
	case '[':
		return parse_container(c, v, depth, false);
	case '"':
		v->type = JSON_STRING;
		return parse_string(c, &v->str, &v->len);
	case 't':
		v->type = JSON_BOOL;
		v->boolean = true;
		return literal(c, "true", 4);
	case 'f':
		v->type = JSON_BOOL;
		return literal(c, "false", 5);
	case 'n':
		v->type = JSON_NULL;
		return literal(c, "null", 4);
	default:
		if (*c->s == '-' || is_digit(*c->s))
			return parse_number(c, v);
		return fail(c, "unexpected character");
	}
}

int json_parse(struct json_parser *p, const char *text, size_t len,
	       const struct json_value **ret_root, const char **ret_reason)
{
	struct cursor c = { .s = (const unsigned char *)text, .end = (const unsigned char *)text + len,
			    .p = p };
	struct json_value root = { 0 };

	arena_reset(p);
	p->stack_len = 0;
	/* A new generation forgets the strings of the last parse; generation 0
	 * marks an empty slot. */
	if (++p->generation == 0) {
		memset(p->interned, 0, sizeof(p->interned));
		p->generation = 1;
	}
	skip_ws(&c);
	if (c.s >= c.end) {
		*ret_reason = "no JSON value (empty)";
		return -EINVAL;
	}
	if (parse_value(&c, &root, 0) < 0) {
		*ret_reason = c.why;
		return c.err;
	}
	skip_ws(&c);
	if (c.s < c.end) {
		*ret_reason = "unexpected data after the JSON value";
		return -EINVAL;
	}
	struct json_value *r = arena_alloc(p, sizeof(*r));
	if (!r) {
		*ret_reason = "out of memory";
		return -ENOMEM;
	}
	*r = root;
	*ret_root = r;
	return 0;
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
