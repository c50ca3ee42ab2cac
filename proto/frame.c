/* Newline framing with a bounded line length. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto/frame.h"

void frame_reader_init(struct frame_reader *fr, size_t max_line)
{
	*fr = (struct frame_reader){ .max_line = max_line };
}

void frame_reader_release(struct frame_reader *fr)
{
	free(fr->partial);
	fr->partial = NULL;
	fr->len = fr->cap = 0;
}

/* The most buffer kept between lines. */
#define FRAME_KEEP_BYTES (64 * 1024)

static int keep_partial(struct frame_reader *fr, const char *data, size_t n)
{
	if (n == 0)
		return 0;
	if (fr->len + n > fr->max_line)
		return -EMSGSIZE;
	if (fr->len + n > fr->cap) {
		size_t cap = fr->cap ? fr->cap : 256;
		while (cap < fr->len + n)
			cap *= 2;
		if (cap > fr->max_line)
			cap = fr->max_line;
		char *p = realloc(fr->partial, cap);
		if (!p)
			return -ENOMEM;
		fr->partial = p;
		fr->cap = cap;
	}
	memcpy(fr->partial + fr->len, data, n);
	fr->len += n;
	return 0;
}

int frame_reader_feed(struct frame_reader *fr, const char *data, size_t len,
		      frame_line_fn fn, void *userdata, size_t *ret_consumed)
{
	size_t pos = 0;
	int r = 0;

	while (pos < len) {
		const char *nl = memchr(data + pos, '\n', len - pos);
		if (!nl) {
			r = keep_partial(fr, data + pos, len - pos);
			if (r < 0)
				return r;
			pos = len;
			break;
		}
		size_t n = (size_t)(nl - (data + pos));
		if (fr->len == 0) {
			if (n > fr->max_line)
				return -EMSGSIZE;
			pos += n + 1;
			r = fn(userdata, data + pos - n - 1, n);
		} else {
			r = keep_partial(fr, data + pos, n);
			if (r < 0)
				return r;
			pos += n + 1;
			/* Reset before the call so a callback that stops the feed
			 * leaves the reader clean for the next line. */
			size_t line_len = fr->len;
			fr->len = 0;
			r = fn(userdata, fr->partial, line_len);
			/* One huge message (a gather of 100,000 jobs) should
			 * not leave its buffer held for the connection's life. */
			if (fr->cap > FRAME_KEEP_BYTES) {
				free(fr->partial);
				fr->partial = NULL;
				fr->cap = 0;
			}
		}
		if (r != 0)
			break;
	}
	if (ret_consumed)
		*ret_consumed = pos;
	return r;
}
