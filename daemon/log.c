/* Logging to stderr. Each line is formatted whole and written with one
 * write(2) so concurrent lines never interleave. Whatever a message holds,
 * a line stays one line and shows no password in a URL. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "daemon/log.h"

static enum log_level current_level = LOG_LEVEL_INFO;
static bool journal_prefixes;

static const struct {
	const char *name;
	enum log_level level;
} level_names[] = {
	{ "crit", LOG_LEVEL_CRIT },
	{ "error", LOG_LEVEL_ERR },
	{ "warning", LOG_LEVEL_WARNING },
	{ "notice", LOG_LEVEL_NOTICE },
	{ "info", LOG_LEVEL_INFO },
	{ "debug", LOG_LEVEL_DEBUG },
};

/* systemd sets JOURNAL_STREAM to "DEVICE:INODE" of the stream it connects
 * stderr to; the journal then reads <N> prefixes and stamps the time and
 * name itself. The variable is inherited: when stderr has been redirected
 * since (asyncjobd run by hand from a service's shell, into a file), it no
 * longer names stderr and the lines stay plain. */
static bool stderr_is_journal(void)
{
	const char *stream = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	int end = 0;

	if (!stream || sscanf(stream, "%llu:%llu%n", &dev, &ino, &end) != 2 ||
	    stream[end] != '\0')
		return false;
	if (fstat(STDERR_FILENO, &st) < 0)
		return false;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void log_init(enum log_level level)
{
	current_level = level;
	journal_prefixes = stderr_is_journal();
}

void log_set_level(enum log_level level)
{
	current_level = level;
}

bool log_enabled(enum log_level level)
{
	return level <= current_level;
}

int log_level_from_name(const char *name, enum log_level *ret)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcasecmp(name, level_names[i].name) == 0) {
			*ret = level_names[i].level;
			return 0;
		}
	}
	if (strcasecmp(name, "warn") == 0) {
		*ret = LOG_LEVEL_WARNING;
		return 0;
	}
	return -EINVAL;
}

const char *log_level_name(enum log_level level)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (level_names[i].level == level)
			return level_names[i].name;
	return "unknown";
}

/* Where libcurl ends the authority of a URL (it takes ' " < > in a
 * password), or what it refuses in a URL at all. */
static bool ends_url(char c)
{
	return (unsigned char)c <= ' ' || c == 0x7f;
}

static bool ends_authority(char c)
{
	return c == '/' || c == '?' || c == '#' || ends_url(c);
}

/* Replaces line[start..end) of the n bytes of line with "***" (or, when
 * shorter, with as many '*'); returns the new length (never more). */
static size_t mask_span(char *line, size_t n, size_t start, size_t end)
{
	static const char mask[] = "***";
	size_t len = end - start;

	if (len <= sizeof(mask) - 1) {
		memset(line + start, '*', len);
		return n;
	}
	memcpy(line + start, mask, sizeof(mask) - 1);
	memmove(line + start + sizeof(mask) - 1, line + end, n - end);
	return n - (len - (sizeof(mask) - 1));
}

/* Hides what a URL may carry of a client's secrets, in every URL in
 * line[0..n): the user information (scheme://user:pass@host, up to the last
 * '@' of the authority) and the query and fragment (?token=... or
 * #access_token=...: all of it, up to the next space, since a query may hold
 * anything). When the line was cut short inside an authority, whether an
 * '@' followed is unknown, so all of it is hidden. Returns the new length
 * (never more). */
static size_t hide_url_secrets(char *line, size_t n, bool cut_short)
{
	size_t i = 0;

	while (i + 3 <= n) {
		const char *sep = memmem(line + i, n - i, "://", 3);
		if (!sep)
			break;
		size_t start = (size_t)(sep - line) + 3, end = start, at = start;
		bool has_userinfo = false;
		for (; end < n && !ends_authority(line[end]); end++) {
			if (line[end] == '@') {
				at = end;
				has_userinfo = true;
			}
		}
		if (end == n && cut_short) {
			at = n;
			has_userinfo = true;
		}
		if (has_userinfo && at > start) {
			size_t shorter = n;
			n = mask_span(line, n, start, at);
			end -= shorter - n;
		}
		/* The path, then what follows its '?' or '#'. */
		while (end < n && !ends_url(line[end]) && line[end] != '?' && line[end] != '#')
			end++;
		if (end < n && (line[end] == '?' || line[end] == '#')) {
			size_t query = ++end;
			while (end < n && !ends_url(line[end]))
				end++;
			if (end > query) {
				size_t shorter = n;
				n = mask_span(line, n, query, end);
				end -= shorter - n;
			}
		}
		i = end;
	}
	return n;
}

void log_msg(enum log_level level, bool with_errno, const char *fmt, ...)
{
	char line[1024];
	const size_t max = sizeof(line) - 2;   /* room for the newline */
	int saved_errno = errno;
	size_t n = 0;
	bool cut_short = false;
	va_list ap;
	int r;

	if (!log_enabled(level))
		return;
	if (journal_prefixes) {
		/* The journal stamps the time itself. */
		r = snprintf(line, sizeof(line), "<%d>", (int)level);
	} else {
		/* A file or a terminal does not: the time, in UTC as the job
		 * objects give it. */
		struct timespec ts;
		struct tm tm;
		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		r = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ asyncjobd: %s: ",
			     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			     tm.tm_sec, ts.tv_nsec / 1000000, log_level_name(level));
	}
	if (r > 0)
		n = (size_t)r;
	va_start(ap, fmt);
	r = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	va_end(ap);
	if (r > 0)
		n += (size_t)r;
	if (n > max) {
		n = max;
		cut_short = true;
	}
	n = hide_url_secrets(line, n, cut_short);
	if (with_errno) {
		r = snprintf(line + n, sizeof(line) - n, ": %s", strerror(saved_errno));
		if (r > 0)
			n += (size_t)r;
		if (n > sizeof(line) - 2)
			n = sizeof(line) - 2;
	}
	/* One line per event: a newline inside the message would let client
	 * data forge log lines. */
	for (size_t i = 0; i < n; i++)
		if (line[i] == '\n' || line[i] == '\r')
			line[i] = ' ';
	line[n++] = '\n';
	ssize_t w = write(STDERR_FILENO, line, n);
	(void)w;
	errno = saved_errno;
}
