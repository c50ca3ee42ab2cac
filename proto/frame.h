/* Newline framing: splits a byte stream into lines, one JSON-RPC message each.
 * Used by the daemon on every connection (the client library parses as
 * bytes come, see json_parse_feed). */
#ifndef ASYNCJOB_PROTO_FRAME_H
#define ASYNCJOB_PROTO_FRAME_H

#include <stddef.h>

struct frame_reader {
	char *partial;      /* the start of a line that has not ended yet */
	size_t len;
	size_t cap;
	size_t max_line;    /* the longest line accepted, newline excluded */
};

/* Called with each complete line, newline excluded. `line` is valid only
 * during the call. Return 0 to go on; any other value stops the feed and is
 * returned by frame_reader_feed(). */
typedef int (*frame_line_fn)(void *userdata, const char *line, size_t len);

void frame_reader_init(struct frame_reader *fr, size_t max_line);
void frame_reader_release(struct frame_reader *fr);

/* Feeds `len` bytes. Complete lines go to `fn`, zero-copy when a line lies
 * within `data`; the tail of an unfinished line is kept for the next feed.
 * Returns 0 when everything was consumed; the callback's non-zero value when
 * it stopped the feed, with *ret_consumed telling how many bytes were used
 * (the rest must be fed again later); -EMSGSIZE once a line is longer than
 * max_line (the stream cannot be resynchronised: close it); -ENOMEM. */
int frame_reader_feed(struct frame_reader *fr, const char *data, size_t len,
		      frame_line_fn fn, void *userdata, size_t *ret_consumed);

/* Bytes of an unfinished line held right now. */
static inline size_t frame_reader_pending(const struct frame_reader *fr)
{
	return fr->len;
}

#endif
