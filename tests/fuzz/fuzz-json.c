/* libFuzzer target for the JSON parser: a text parsed whole (json_parse)
 * and the same text fed in pieces (json_parse_feed) must agree, on the
 * tree or on the error and its reason. The first byte of an input picks
 * the piece sizes; the rest is the text. Each piece is a heap copy freed
 * once fed, so a pointer kept into one shows under AddressSanitizer. A
 * disagreement calls abort(). */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/json.h"
#include "proto/jsonw.h"

#define MAX_DEPTH 16

/* The tree written back, NUL-terminated; the caller frees it. */
static char *written(const struct json_value *v)
{
	struct jsonw w;

	jsonw_init(&w);
	jsonw_value(&w, v);
	jsonw_raw(&w, "", 1);
	if (w.failed)
		abort();
	return w.buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct json_parser whole, pieces;
	const struct json_value *a = NULL, *b = NULL;
	const char *why_a = NULL, *why_b = NULL;
	uint32_t x;
	size_t pos = 0;
	int r_a, r_b = 0;

	if (size < 1)
		return 0;
	/* Small pieces, up to 4 bytes, when the top bit is set. */
	size_t most = data[0] & 0x80 ? 4 : 64;
	x = 2654435761u * (data[0] + 1u);
	data++;
	size--;

	char *text = malloc(size ? size : 1);
	if (!text)
		abort();
	memcpy(text, data, size);
	json_parser_init(&whole, MAX_DEPTH);
	json_parser_init(&pieces, MAX_DEPTH);
	r_a = json_parse(&whole, text, size, &a, &why_a);

	json_parse_begin(&pieces);
	for (;;) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		size_t n = 1 + x % most;
		if (n > size - pos)
			n = size - pos;
		bool last = pos + n == size;
		char *piece = malloc(n ? n : 1);
		if (!piece)
			abort();
		memcpy(piece, data + pos, n);
		r_b = json_parse_feed(&pieces, piece, n, last, &why_b);
		free(piece);
		pos += n;
		if (r_b != 0 || last)
			break;
	}
	if (r_b == 0)
		r_b = json_parse_end(&pieces, &b, &why_b);

	if (r_a != r_b)
		abort();
	if (r_a == 0) {
		char *ta = written(a), *tb = written(b);
		if (strcmp(ta, tb) != 0)
			abort();
		free(ta);
		free(tb);
	} else if (!why_a || !why_b || strcmp(why_a, why_b) != 0) {
		abort();
	}
	json_parser_release(&whole);
	json_parser_release(&pieces);
	free(text);
	return 0;
}
