/* Leveled logging to stderr, one line per event. Under systemd (stderr
 * connected to the journal) lines carry <N> priority prefixes instead of
 * level words; elsewhere a UTC timestamp (2026-12-08T01:44:00.123Z) and the
 * level word. log_warn()/log_err() append strerror(errno); the x variants
 * do not (OpenSMTPD's convention). */
#ifndef ASYNCJOBD_LOG_H
#define ASYNCJOBD_LOG_H

#include <stdbool.h>

enum log_level {
	LOG_LEVEL_CRIT = 2,
	LOG_LEVEL_ERR = 3,
	LOG_LEVEL_WARNING = 4,
	LOG_LEVEL_NOTICE = 5,
	LOG_LEVEL_INFO = 6,
	LOG_LEVEL_DEBUG = 7,
};

void log_init(enum log_level level);
void log_set_level(enum log_level level);
bool log_enabled(enum log_level level);
/* Returns 0 and sets *ret, or -EINVAL. Names: error, warning, notice, info, debug. */
int log_level_from_name(const char *name, enum log_level *ret);
const char *log_level_name(enum log_level level);

#define LOG_PRINTF(a, b) __attribute__((format(printf, a, b)))
void log_msg(enum log_level level, bool with_errno, const char *fmt, ...) LOG_PRINTF(3, 4);

#define log_crit(...) log_msg(LOG_LEVEL_CRIT, false, __VA_ARGS__)
#define log_err(...) log_msg(LOG_LEVEL_ERR, true, __VA_ARGS__)
#define log_errx(...) log_msg(LOG_LEVEL_ERR, false, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LEVEL_WARNING, true, __VA_ARGS__)
#define log_warnx(...) log_msg(LOG_LEVEL_WARNING, false, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_LEVEL_NOTICE, false, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LEVEL_INFO, false, __VA_ARGS__)
/* Debug lines cost a branch when disabled; their arguments are not evaluated. */
#define log_debug(...) do { \
		if (log_enabled(LOG_LEVEL_DEBUG)) \
			log_msg(LOG_LEVEL_DEBUG, false, __VA_ARGS__); \
	} while (0)

#endif
