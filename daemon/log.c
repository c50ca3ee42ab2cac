/* Logging to stderr. Each line is formatted whole and written with one
 * write(2) so concurrent lines never interleave. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
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

void log_init(enum log_level level)
{
	current_level = level;
	/* systemd sets JOURNAL_STREAM when stderr goes to the journal, which
	 * then understands <N> prefixes and stamps the time itself. */
	journal_prefixes = getenv("JOURNAL_STREAM") != NULL;
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

void log_msg(enum log_level level, bool with_errno, const char *fmt, ...)
{
	char line[1024];
	int saved_errno = errno;
	size_t n = 0;
	va_list ap;
	int r;

	if (!log_enabled(level))
		return;
	if (journal_prefixes)
		r = snprintf(line, sizeof(line), "<%d>", (int)level);
	else
		r = snprintf(line, sizeof(line), "asyncjobd: %s: ", log_level_name(level));
	if (r > 0)
		n = (size_t)r;
	va_start(ap, fmt);
	r = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	va_end(ap);
	if (r > 0)
		n += (size_t)r;
	if (n > sizeof(line) - 2)
		n = sizeof(line) - 2;
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
