/* Logging: journal priority prefixes only when $JOURNAL_STREAM names the
 * stderr we write to, one line per event whatever the message holds, and no
 * password of a URL in any line. stderr is a temporary file each test reads
 * back. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "daemon/log.h"

struct captured_stderr {
	char path[64];
	int saved_fd;      /* the real stderr, put back at the end */
	char text[4096];   /* what was written, once read back */
};

static int capture_begin(void **state)
{
	struct captured_stderr *c = calloc(1, sizeof(*c));

	assert_non_null(c);
	snprintf(c->path, sizeof(c->path), "/tmp/asyncjob-test-log-XXXXXX");
	int fd = mkstemp(c->path);
	assert_true(fd >= 0);
	c->saved_fd = dup(STDERR_FILENO);
	assert_true(c->saved_fd >= 0);
	assert_int_equal(dup2(fd, STDERR_FILENO), STDERR_FILENO);
	close(fd);
	unsetenv("JOURNAL_STREAM");
	*state = c;
	return 0;
}

static int capture_end(void **state)
{
	struct captured_stderr *c = *state;

	dup2(c->saved_fd, STDERR_FILENO);
	close(c->saved_fd);
	unlink(c->path);
	unsetenv("JOURNAL_STREAM");
	free(c);
	return 0;
}

/* Everything logged so far, as it was written. */
static const char *captured_raw(struct captured_stderr *c)
{
	int fd = open(c->path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	ssize_t n = read(fd, c->text, sizeof(c->text) - 1);
	assert_true(n >= 0);
	c->text[n] = '\0';
	close(fd);
	return c->text;
}

/* The length of a line's timestamp and its space ("2026-12-08T01:44:00.123Z "),
 * or 0 when it has none. */
static size_t timestamp_length(const char *s)
{
	int year, mon, day, h, m, sec, ms, n = 0;
	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ %n", &year, &mon, &day, &h, &m, &sec, &ms,
		   &n) == 7 && n == 25)
		return (size_t)n;
	return 0;
}

/* Everything logged so far, each plain line's timestamp taken off (it is
 * checked by test_plain_lines_carry_a_timestamp). */
static const char *captured(struct captured_stderr *c)
{
	char *text = (char *)captured_raw(c), *out = text;
	for (const char *in = text; *in;) {
		in += timestamp_length(in);
		while (*in && *in != '\n')
			*out++ = *in++;
		if (*in)
			*out++ = *in++;
	}
	*out = '\0';
	return text;
}

static size_t count_lines(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* Sets $JOURNAL_STREAM to the device and inode of `fd`, plus `ino_offset`. */
static void set_journal_stream(int fd, unsigned long long ino_offset)
{
	struct stat st;
	char value[64];

	assert_int_equal(fstat(fd, &st), 0);
	snprintf(value, sizeof(value), "%llu:%llu", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino + ino_offset);
	setenv("JOURNAL_STREAM", value, 1);
}

static void test_plain_lines_carry_a_timestamp(void **state)
{
	struct captured_stderr *c = *state;
	struct timespec before;

	clock_gettime(CLOCK_REALTIME, &before);
	log_init(LOG_LEVEL_INFO);
	log_notice("stamped");
	const char *text = captured_raw(c);
	size_t n = timestamp_length(text);
	assert_int_equal(n, 25);
	assert_string_equal(text + n, "asyncjobd: notice: stamped\n");
	/* This second, in UTC. */
	struct tm tm;
	char want[32];
	gmtime_r(&before.tv_sec, &tm);
	strftime(want, sizeof(want), "%Y-%m-%dT%H:", &tm);
	assert_memory_equal(text, want, strlen(want));
}

static void test_plain_lines_without_journal(void **state)
{
	struct captured_stderr *c = *state;

	log_init(LOG_LEVEL_INFO);
	log_warnx("disk %d is %s", 2, "full");
	log_notice("started");
	log_debug("not shown at level info");
	assert_string_equal(captured(c), "asyncjobd: warning: disk 2 is full\n"
					 "asyncjobd: notice: started\n");
}

static void test_journal_prefixes_when_stderr_is_the_journal(void **state)
{
	struct captured_stderr *c = *state;

	set_journal_stream(STDERR_FILENO, 0);
	log_init(LOG_LEVEL_DEBUG);
	log_errx("cannot %s", "start");
	log_warnx("careful");
	log_notice("listening");
	log_info("info");
	log_debug("debug %d", 7);
	assert_string_equal(captured(c), "<3>cannot start\n<4>careful\n<5>listening\n<6>info\n"
					 "<7>debug 7\n");
}

/* The variable is inherited by processes whose stderr is elsewhere. */
static void test_plain_lines_when_journal_stream_names_another_file(void **state)
{
	struct captured_stderr *c = *state;

	set_journal_stream(STDERR_FILENO, 1);
	log_init(LOG_LEVEL_INFO);
	log_notice("one");
	setenv("JOURNAL_STREAM", "garbage", 1);
	log_init(LOG_LEVEL_INFO);
	log_notice("two");
	set_journal_stream(STDERR_FILENO, 0);
	char value[80];
	snprintf(value, sizeof(value), "%s:9", getenv("JOURNAL_STREAM"));
	setenv("JOURNAL_STREAM", value, 1);
	log_init(LOG_LEVEL_INFO);
	log_notice("three");
	assert_string_equal(captured(c), "asyncjobd: notice: one\nasyncjobd: notice: two\n"
					 "asyncjobd: notice: three\n");
}

static void test_one_line_per_event(void **state)
{
	struct captured_stderr *c = *state;
	char long_message[3000];

	log_init(LOG_LEVEL_INFO);
	log_warnx("label %s", "a\nasyncjobd: error: forged\r\nline");
	memset(long_message, 'x', sizeof(long_message) - 1);
	long_message[sizeof(long_message) - 1] = '\0';
	log_warnx("%s", long_message);
	errno = ENOENT;
	log_warn("open %s", "/nowhere");
	const char *text = captured(c);
	assert_int_equal(count_lines(text), 3);
	assert_non_null(strstr(text, "asyncjobd: warning: label a asyncjobd: error: forged  line\n"));
	assert_non_null(strstr(text, "asyncjobd: warning: open /nowhere: No such file or directory\n"));
}

static void test_url_passwords_are_hidden(void **state)
{
	struct captured_stderr *c = *state;

	log_init(LOG_LEVEL_INFO);
	log_warnx("job 1 failed: HTTP 404 from http://alice:s3cret@example.org/a?b=c@d");
	log_warnx("redirect to https://token@h.example:8443#x@y then ftp://ab@host/");
	log_warnx("no userinfo: http://example.org/p@q and mail bob@example.org");
	log_warnx("empty one: http://@example.org/");
	/* libcurl takes these in a password: they do not end the authority. */
	log_warnx("quoted: http://u:pw's\"<x>@example.org/ and \"http://v:w@h/\"");
	assert_string_equal(captured(c),
		"asyncjobd: warning: job 1 failed: HTTP 404 from http://***@example.org/a?***\n"
		"asyncjobd: warning: redirect to https://***@h.example:8443#*** then ftp://**@host/\n"
		"asyncjobd: warning: no userinfo: http://example.org/p@q and mail bob@example.org\n"
		"asyncjobd: warning: empty one: http://@example.org/\n"
		"asyncjobd: warning: quoted: http://***@example.org/ and \"http://***@h/\"\n");
}

/* Tokens travel in queries (?access_token=...) and fragments. */
static void test_url_queries_are_hidden(void **state)
{
	struct captured_stderr *c = *state;

	log_init(LOG_LEVEL_INFO);
	log_warnx("job 2 failed: http://example.org/a/b?token=s3cret&x=1 said 500");
	log_warnx("short: https://h/?ab then https://h/p? and http://h#frag end");
	log_warnx("both: https://u:p@h:1/x/y?q=1#f");
	assert_string_equal(captured(c),
		"asyncjobd: warning: job 2 failed: http://example.org/a/b?*** said 500\n"
		"asyncjobd: warning: short: https://h/?** then https://h/p? and http://h#*** end\n"
		"asyncjobd: warning: both: https://***@h:1/x/y?***\n");
}

/* A line cut short inside a URL's authority may have cut its '@' off: the
 * rest is hidden rather than guessed at. */
static void test_cut_url_is_hidden(void **state)
{
	struct captured_stderr *c = *state;
	char padding[1200];

	memset(padding, 'p', sizeof(padding));
	/* The line is cut at 1022 bytes, the timestamp (25) included. */
	padding[1010 - 25 - sizeof("asyncjobd: warning: ") - sizeof("http://")] = '\0';
	log_init(LOG_LEVEL_INFO);
	log_warnx("%shttp://user:longsecretpassword@example.org/", padding);
	const char *text = captured(c);
	assert_int_equal(count_lines(text), 1);
	assert_null(strstr(text, "secret"));
	assert_null(strstr(text, "longsec"));
	assert_non_null(strstr(text, "http://***\n"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_plain_lines_carry_a_timestamp, capture_begin,
						capture_end),
		cmocka_unit_test_setup_teardown(test_plain_lines_without_journal, capture_begin,
						capture_end),
		cmocka_unit_test_setup_teardown(test_journal_prefixes_when_stderr_is_the_journal,
						capture_begin, capture_end),
		cmocka_unit_test_setup_teardown(test_plain_lines_when_journal_stream_names_another_file,
						capture_begin, capture_end),
		cmocka_unit_test_setup_teardown(test_one_line_per_event, capture_begin, capture_end),
		cmocka_unit_test_setup_teardown(test_url_passwords_are_hidden, capture_begin,
						capture_end),
		cmocka_unit_test_setup_teardown(test_url_queries_are_hidden, capture_begin,
						capture_end),
		cmocka_unit_test_setup_teardown(test_cut_url_is_hidden, capture_begin, capture_end),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
