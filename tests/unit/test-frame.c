/* Unit tests for proto/frame.c: the bounded newline framer. */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "proto/frame.h"

#define MAX_LINES 64

/* Records every line the framer delivers. */
struct collect {
	size_t n;
	char *lines[MAX_LINES];
	size_t lens[MAX_LINES];
	const char *ptrs[MAX_LINES];
	size_t stop_at;     /* 1-based line number whose callback returns stop_value */
	int stop_value;
};

static int collect_line(void *userdata, const char *line, size_t len)
{
	struct collect *c = userdata;

	assert_true(c->n < MAX_LINES);
	c->lines[c->n] = malloc(len + 1);
	assert_non_null(c->lines[c->n]);
	memcpy(c->lines[c->n], line, len);
	c->lines[c->n][len] = '\0';
	c->lens[c->n] = len;
	c->ptrs[c->n] = line;
	c->n++;
	if (c->stop_at != 0 && c->n == c->stop_at)
		return c->stop_value;
	return 0;
}

static void collect_free(struct collect *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->lines[i]);
	*c = (struct collect){ 0 };
}

static bool points_into(const char *p, const char *buf, size_t len)
{
	uintptr_t a = (uintptr_t)p, b = (uintptr_t)buf;
	return a >= b && a < b + len;
}

/* Feeds a NUL-terminated string; checks it is consumed completely. */
static void feed_all(struct frame_reader *fr, const char *s, struct collect *c)
{
	size_t consumed = 12345;
	int r = frame_reader_feed(fr, s, strlen(s), collect_line, c, &consumed);
	assert_int_equal(r, 0);
	assert_int_equal(consumed, strlen(s));
}

static void test_one_line_per_feed(void **state)
{
	(void)state;
	struct frame_reader fr;
	struct collect c = { 0 };
	const char a[] = "{\"id\":1}\n";
	const char b[] = "second\n";

	frame_reader_init(&fr, 1024);
	feed_all(&fr, a, &c);
	assert_int_equal(c.n, 1);
	assert_string_equal(c.lines[0], "{\"id\":1}");
	assert_int_equal(c.lens[0], 8);
	assert_int_equal(frame_reader_pending(&fr), 0);

	feed_all(&fr, b, &c);
	assert_int_equal(c.n, 2);
	assert_string_equal(c.lines[1], "second");
	assert_int_equal(c.lens[1], 6);
	assert_int_equal(frame_reader_pending(&fr), 0);

	collect_free(&c);
	frame_reader_release(&fr);
}

static void test_many_lines_one_feed(void **state)
{
	(void)state;
	struct frame_reader fr;
	struct collect c = { 0 };
	const char data[] = "a\nbb\nccc\ndddd\n";

	frame_reader_init(&fr, 1024);
	feed_all(&fr, data, &c);
	assert_int_equal(c.n, 4);
	assert_string_equal(c.lines[0], "a");
	assert_string_equal(c.lines[1], "bb");
	assert_string_equal(c.lines[2], "ccc");
	assert_string_equal(c.lines[3], "dddd");
	/* Each line starts right after the previous newline, in place. */
	assert_ptr_equal(c.ptrs[0], data + 0);
	assert_ptr_equal(c.ptrs[1], data + 2);
	assert_ptr_equal(c.ptrs[2], data + 5);
	assert_ptr_equal(c.ptrs[3], data + 9);
	assert_int_equal(frame_reader_pending(&fr), 0);

	/* Complete lines followed by the start of another. */
	feed_all(&fr, "x\nyz", &c);
	assert_int_equal(c.n, 5);
	assert_string_equal(c.lines[4], "x");
	assert_int_equal(frame_reader_pending(&fr), 2);
	feed_all(&fr, "\n", &c);
	assert_int_equal(c.n, 6);
	assert_string_equal(c.lines[5], "yz");
	assert_int_equal(frame_reader_pending(&fr), 0);

	collect_free(&c);
	frame_reader_release(&fr);
}

static void test_line_split_across_feeds(void **state)
{
	(void)state;
	struct frame_reader fr;
	struct collect c = { 0 };

	frame_reader_init(&fr, 1024);
	feed_all(&fr, "hello", &c);
	assert_int_equal(c.n, 0);
	assert_int_equal(frame_reader_pending(&fr), 5);
	feed_all(&fr, " wor", &c);
	assert_int_equal(c.n, 0);
	assert_int_equal(frame_reader_pending(&fr), 9);
	feed_all(&fr, "ld\nnext", &c);
	assert_int_equal(c.n, 1);
	assert_string_equal(c.lines[0], "hello world");
	assert_int_equal(c.lens[0], 11);
	assert_int_equal(frame_reader_pending(&fr), 4);
	feed_all(&fr, " one\n", &c);
	assert_int_equal(c.n, 2);
	assert_string_equal(c.lines[1], "next one");
	assert_int_equal(frame_reader_pending(&fr), 0);

	collect_free(&c);
	frame_reader_release(&fr);
}

static void test_one_byte_at_a_time(void **state)
{
	(void)state;
	struct frame_reader fr;
	struct collect c = { 0 };
	const char data[] = "{\"jsonrpc\":\"2.0\"}\n\nab\nlast line\n";
	size_t len = strlen(data);

	frame_reader_init(&fr, 1024);
	for (size_t i = 0; i < len; i++) {
		size_t consumed = 99;
		int r = frame_reader_feed(&fr, data + i, 1, collect_line, &c, &consumed);
		assert_int_equal(r, 0);
		assert_int_equal(consumed, 1);
	}
	assert_int_equal(c.n, 4);
	assert_string_equal(c.lines[0], "{\"jsonrpc\":\"2.0\"}");
	assert_int_equal(c.lens[1], 0);
	assert_string_equal(c.lines[2], "ab");
	assert_string_equal(c.lines[3], "last line");
	assert_int_equal(frame_reader_pending(&fr), 0);

	collect_free(&c);
	frame_reader_release(&fr);
}

/* A line far longer than the first buffer allocation, in odd-sized pieces. */
static void test_long_line_in_pieces(void **state)
{
	(void)state;
	struct frame_reader fr;
	struct collect c = { 0 };
	enum { N = 3000 };
	char *data = malloc(N + 1);

	assert_non_null(data);
	for (size_t i = 0; i < N; i++)
		data[i] = (char)('a' + i % 26);
	data[N] = '\n';

	frame_reader_init(&fr, 4096);
	for (size_t pos = 0; pos < N + 1; pos += 7) {
		size_t n = N + 1 - pos < 7 ? N + 1 - pos : 7;
		size_t consumed = 0;
		assert_int_equal(frame_reader_feed(&fr, data + pos, n, collect_line, &c, &consumed), 0);
		assert_int_equal(consumed, n);
	}
	assert_int_equal(c.n, 1);
	assert_int_equal(c.lens[0], N);
	assert_memory_equal(c.lines[0], data, N);
	assert_int_equal(frame_reader_pending(&fr), 0);

	free(data);
	collect_free(&c);
	frame_reader_release(&fr);
}

static void test_empty_lines(void **state)
{
	(void)state;
	struct frame_reader fr;
	struct collect c = { 0 };

	frame_reader_init(&fr, 16);
	feed_all(&fr, "\n", &c);
	assert_int_equal(c.n, 1);
	assert_int_equal(c.lens[0], 0);
	assert_string_equal(c.lines[0], "");

	feed_all(&fr, "\n\nx\n\n", &c);
	assert_int_equal(c.n, 5);
	assert_int_equal(c.lens[1], 0);
	assert_int_equal(c.lens[2], 0);
	assert_string_equal(c.lines[3], "x");
	assert_int_equal(c.lens[4], 0);

	/* A partial line ended by a feed that is only the newline. */
	feed_all(&fr, "abc", &c);
	feed_all(&fr, "\n", &c);
	assert_int_equal(c.n, 6);
	assert_string_equal(c.lines[5], "abc");
	assert_int_equal(frame_reader_pending(&fr), 0);

	/* An empty feed changes nothing. */
	size_t consumed = 7;
	assert_int_equal(frame_reader_feed(&fr, "", 0, collect_line, &c, &consumed), 0);
	assert_int_equal(consumed, 0);
	assert_int_equal(c.n, 6);

	/* A zero max_line still takes empty lines. */
	struct frame_reader fr0;
	frame_reader_init(&fr0, 0);
	feed_all(&fr0, "\n", &c);
	assert_int_equal(c.n, 7);
	assert_int_equal(c.lens[6], 0);
	assert_int_equal(frame_reader_feed(&fr0, "a", 1, collect_line, &c, NULL), -EMSGSIZE);
	frame_reader_release(&fr0);

	collect_free(&c);
	frame_reader_release(&fr);
}

static void test_max_line_one_feed(void **state)
{
	(void)state;
	struct frame_reader fr;
	struct collect c = { 0 };

	/* Exactly max_line bytes before the newline is accepted. */
	frame_reader_init(&fr, 8);
	feed_all(&fr, "12345678\n", &c);
	assert_int_equal(c.n, 1);
	assert_string_equal(c.lines[0], "12345678");
	frame_reader_release(&fr);

	/* One more byte is refused without calling back. */
	frame_reader_init(&fr, 8);
	assert_int_equal(frame_reader_feed(&fr, "123456789\n", 10, collect_line, &c, NULL),
			 -EMSGSIZE);
	assert_int_equal(c.n, 1);
	frame_reader_release(&fr);

	/* Too long after a good line in the same feed: the good one is delivered. */
	frame_reader_init(&fr, 8);
	assert_int_equal(frame_reader_feed(&fr, "ok\n123456789\n", 13, collect_line, &c, NULL),
			 -EMSGSIZE);
	assert_int_equal(c.n, 2);
	assert_string_equal(c.lines[1], "ok");
	frame_reader_release(&fr);

	/* An unterminated tail of max_line bytes is kept, one more is refused
	 * at once, before any newline arrives. */
	frame_reader_init(&fr, 8);
	feed_all(&fr, "12345678", &c);
	assert_int_equal(frame_reader_pending(&fr), 8);
	frame_reader_release(&fr);
	frame_reader_init(&fr, 8);
	assert_int_equal(frame_reader_feed(&fr, "123456789", 9, collect_line, &c, NULL),
			 -EMSGSIZE);
	assert_int_equal(c.n, 2);
	frame_reader_release(&fr);

	collect_free(&c);
}

static void test_max_line_across_feeds(void **state)
{
	(void)state;
	struct frame_reader fr;
	struct collect c = { 0 };

	/* max_line bytes assembled from pieces is accepted. */
	frame_reader_init(&fr, 8);
	feed_all(&fr, "1234", &c);
	feed_all(&fr, "5678", &c);
	assert_int_equal(frame_reader_pending(&fr), 8);
	feed_all(&fr, "\n", &c);
	assert_int_equal(c.n, 1);
	assert_string_equal(c.lines[0], "12345678");
	frame_reader_release(&fr);

	/* The partial exceeds max_line: refused on that feed, no newline needed. */
	frame_reader_init(&fr, 8);
	feed_all(&fr, "1234", &c);
	feed_all(&fr, "5678", &c);
	assert_int_equal(frame_reader_feed(&fr, "9", 1, collect_line, &c, NULL), -EMSGSIZE);
	assert_int_equal(c.n, 1);
	frame_reader_release(&fr);

	/* Byte by byte: fails on the ninth byte. */
	frame_reader_init(&fr, 8);
	for (int i = 0; i < 8; i++)
		assert_int_equal(frame_reader_feed(&fr, "x", 1, collect_line, &c, NULL), 0);
	assert_int_equal(frame_reader_feed(&fr, "x", 1, collect_line, &c, NULL), -EMSGSIZE);
	assert_int_equal(c.n, 1);
	frame_reader_release(&fr);

	/* The newline arrives with the excess byte. */
	frame_reader_init(&fr, 8);
	feed_all(&fr, "12345678", &c);
	assert_int_equal(frame_reader_feed(&fr, "9\n", 2, collect_line, &c, NULL), -EMSGSIZE);
	assert_int_equal(c.n, 1);
	frame_reader_release(&fr);

	/* Same with a larger limit, beyond the first allocation. */
	frame_reader_init(&fr, 300);
	char buf[301];
	memset(buf, 'z', sizeof(buf));
	assert_int_equal(frame_reader_feed(&fr, buf, 200, collect_line, &c, NULL), 0);
	assert_int_equal(frame_reader_feed(&fr, buf, 100, collect_line, &c, NULL), 0);
	assert_int_equal(frame_reader_pending(&fr), 300);
	assert_int_equal(frame_reader_feed(&fr, buf, 1, collect_line, &c, NULL), -EMSGSIZE);
	assert_int_equal(c.n, 1);
	frame_reader_release(&fr);

	collect_free(&c);
}

static void test_callback_stops_feed(void **state)
{
	(void)state;
	struct frame_reader fr;
	struct collect c = { 0 };
	const char data[] = "a\nbb\nccc\n";
	size_t consumed = 0;

	/* Stopping on the first line: the rest is left for later. */
	frame_reader_init(&fr, 64);
	c.stop_at = 1;
	c.stop_value = 7;
	assert_int_equal(frame_reader_feed(&fr, data, 9, collect_line, &c, &consumed), 7);
	assert_int_equal(consumed, 2);
	assert_int_equal(c.n, 1);
	assert_string_equal(c.lines[0], "a");
	assert_int_equal(frame_reader_pending(&fr), 0);

	/* Re-feeding the rest continues with the next line. */
	c.stop_at = 0;
	assert_int_equal(frame_reader_feed(&fr, data + consumed, 9 - consumed,
					   collect_line, &c, &consumed), 0);
	assert_int_equal(consumed, 7);
	assert_int_equal(c.n, 3);
	assert_string_equal(c.lines[1], "bb");
	assert_string_equal(c.lines[2], "ccc");
	collect_free(&c);

	/* Stopping on a buffered line: the reader is clean afterwards. */
	const char rest[] = "z\nrest\n";
	feed_all(&fr, "xy", &c);
	c.stop_at = 1;
	c.stop_value = -1;
	assert_int_equal(frame_reader_feed(&fr, rest, 7, collect_line, &c, &consumed), -1);
	assert_int_equal(consumed, 2);
	assert_string_equal(c.lines[0], "xyz");
	assert_int_equal(frame_reader_pending(&fr), 0);
	c.stop_at = 0;
	assert_int_equal(frame_reader_feed(&fr, rest + consumed, 5,
					   collect_line, &c, &consumed), 0);
	assert_int_equal(consumed, 5);
	assert_int_equal(c.n, 2);
	assert_string_equal(c.lines[1], "rest");
	collect_free(&c);

	/* Stopping on the last complete line: the unfinished tail is not
	 * consumed (nor kept), so re-feeding it keeps it exactly once. */
	const char tail[] = "p\nq\ntail";
	c.stop_at = 2;
	c.stop_value = 1;
	assert_int_equal(frame_reader_feed(&fr, tail, 8, collect_line, &c, &consumed), 1);
	assert_int_equal(consumed, 4);
	assert_int_equal(c.n, 2);
	assert_string_equal(c.lines[1], "q");
	assert_int_equal(frame_reader_pending(&fr), 0);
	c.stop_at = 0;
	assert_int_equal(frame_reader_feed(&fr, tail + consumed, 4,
					   collect_line, &c, &consumed), 0);
	assert_int_equal(consumed, 4);
	assert_int_equal(frame_reader_pending(&fr), 4);
	feed_all(&fr, "\n", &c);
	assert_int_equal(c.n, 3);
	assert_string_equal(c.lines[2], "tail");

	/* ret_consumed may be NULL. */
	c.stop_at = 4;
	c.stop_value = 3;
	assert_int_equal(frame_reader_feed(&fr, "s\nt\n", 4, collect_line, &c, NULL), 3);
	assert_int_equal(c.n, 4);
	assert_string_equal(c.lines[3], "s");

	collect_free(&c);
	frame_reader_release(&fr);
}

static void test_zero_copy_vs_buffered(void **state)
{
	(void)state;
	struct frame_reader fr;
	struct collect c = { 0 };
	const char first[] = "ab\ncd";
	const char second[] = "ef\ngh\n";

	frame_reader_init(&fr, 64);
	feed_all(&fr, first, &c);
	assert_int_equal(c.n, 1);
	/* Wholly inside the caller's buffer: delivered in place. */
	assert_ptr_equal(c.ptrs[0], first);
	assert_int_equal(frame_reader_pending(&fr), 2);

	feed_all(&fr, second, &c);
	assert_int_equal(c.n, 3);
	/* Started in an earlier feed: delivered from the reader's buffer. */
	assert_string_equal(c.lines[1], "cdef");
	assert_ptr_equal(c.ptrs[1], fr.partial);
	assert_false(points_into(c.ptrs[1], second, sizeof(second)));
	assert_false(points_into(c.ptrs[1], first, sizeof(first)));
	/* The next line lies within this feed again: in place. */
	assert_string_equal(c.lines[2], "gh");
	assert_ptr_equal(c.ptrs[2], second + 3);

	collect_free(&c);
	frame_reader_release(&fr);
}

static void test_release_idempotent(void **state)
{
	(void)state;
	struct frame_reader fr;
	struct collect c = { 0 };

	/* On a reader that never allocated. */
	frame_reader_init(&fr, 32);
	frame_reader_release(&fr);
	assert_null(fr.partial);
	frame_reader_release(&fr);
	assert_null(fr.partial);

	/* With a pending partial line. */
	frame_reader_init(&fr, 32);
	feed_all(&fr, "unfinished", &c);
	assert_int_equal(frame_reader_pending(&fr), 10);
	assert_non_null(fr.partial);
	frame_reader_release(&fr);
	assert_null(fr.partial);
	assert_int_equal(fr.len, 0);
	assert_int_equal(fr.cap, 0);
	assert_int_equal(frame_reader_pending(&fr), 0);
	frame_reader_release(&fr);
	assert_null(fr.partial);
	assert_int_equal(fr.len, 0);

	/* Released, the reader keeps its limit and can be used again. */
	assert_int_equal(fr.max_line, 32);
	feed_all(&fr, "again", &c);
	feed_all(&fr, "\n", &c);
	assert_int_equal(c.n, 1);
	assert_string_equal(c.lines[0], "again");
	frame_reader_release(&fr);
	frame_reader_release(&fr);
	assert_null(fr.partial);

	collect_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_line_per_feed),
		cmocka_unit_test(test_many_lines_one_feed),
		cmocka_unit_test(test_line_split_across_feeds),
		cmocka_unit_test(test_one_byte_at_a_time),
		cmocka_unit_test(test_long_line_in_pieces),
		cmocka_unit_test(test_empty_lines),
		cmocka_unit_test(test_max_line_one_feed),
		cmocka_unit_test(test_max_line_across_feeds),
		cmocka_unit_test(test_callback_stops_feed),
		cmocka_unit_test(test_zero_copy_vs_buffered),
		cmocka_unit_test(test_release_idempotent),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
