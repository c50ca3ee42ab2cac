/* The config file: `key = value` lines, `#` comments, one setting a line.
 * A table describes every key once: its type, bounds and where it lives, so
 * parsing, defaults and daemon.info's list of limits never disagree. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <math.h>
#include <pwd.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/conf.h"
#include "daemon/confine.h"
#include "daemon/netfilter.h"
#include "daemon/xalloc.h"
#include "proto/suggest.h"
#include "proto/jsonw.h"

enum setting_kind {
	SET_COUNT,      /* a non-negative integer */
	SET_BYTES,      /* an integer with an optional K, M or G suffix */
	SET_SECONDS,    /* a non-negative number of seconds */
	SET_PATH,       /* an absolute path */
	SET_MODE,       /* an octal file mode */
	SET_GROUP,      /* a group name or number */
	SET_LOG_LEVEL,
	SET_PATH_LIST,  /* repeatable: each line adds one absolute path */
	SET_PATH_WORDS, /* repeatable: each line adds absolute paths separated by
			 * blanks, to the same list as SET_PATH_LIST */
	SET_NET_LIST,   /* repeatable: CIDR blocks, see netfilter.h */
	SET_STRING,     /* any text */
	SET_STORE,      /* memory or sqlite */
	SET_STORE_SYNC, /* full or normal */
	SET_ON_SHUTDOWN, /* resume or cancel */
};

struct setting {
	const char *key;
	enum setting_kind kind;
	size_t offset;          /* into struct config */
	double min, max;
	bool is_limit;          /* listed by daemon.info */
};

#define LIMIT(name, kind, lo, hi) \
	{ #name, kind, offsetof(struct config, limits.name), lo, hi, true }

static const struct setting settings[] = {
	{ "socket", SET_PATH, offsetof(struct config, socket_path), 0, 0, false },
	{ "socket_mode", SET_MODE, offsetof(struct config, socket_mode), 0, 0777, false },
	{ "socket_group", SET_GROUP, offsetof(struct config, socket_group), 0, 0, false },
	{ "admin_group", SET_GROUP, offsetof(struct config, admin_group), 0, 0, false },
	{ "write_root", SET_PATH_LIST, offsetof(struct config, write_roots), 0, 0, false },
	{ "write_roots", SET_PATH_WORDS, offsetof(struct config, write_roots), 0, 0, false },
	{ "log_level", SET_LOG_LEVEL, offsetof(struct config, log_level), 0, 0, false },
	{ "deny_networks", SET_NET_LIST, offsetof(struct config, deny_networks), 0, 0, false },
	{ "proxy", SET_STRING, offsetof(struct config, proxy), 0, 0, false },
	{ "metrics_listen", SET_STRING, offsetof(struct config, metrics_listen), 0, 0, false },
	{ "ca_file", SET_PATH, offsetof(struct config, ca_file), 0, 0, false },
	{ "store", SET_STORE, offsetof(struct config, store), 0, 0, false },
	{ "state_directory", SET_PATH, offsetof(struct config, state_directory), 0, 0, false },
	{ "store_sync", SET_STORE_SYNC, offsetof(struct config, store_sync), 0, 0, false },
	{ "on_shutdown", SET_ON_SHUTDOWN, offsetof(struct config, cancel_on_shutdown), 0, 0, false },
	LIMIT(max_connections, SET_COUNT, 1, 1000000),
	LIMIT(max_connections_per_user, SET_COUNT, 1, 1000000),
	LIMIT(max_request_bytes, SET_BYTES, 1024, 1024.0 * 1024 * 1024),
	LIMIT(max_json_depth, SET_COUNT, 2, 1000),
	LIMIT(max_active_jobs, SET_COUNT, 1, 100000000),
	LIMIT(max_active_jobs_per_user, SET_COUNT, 1, 100000000),
	LIMIT(max_gather_jobs, SET_COUNT, 1, 10000000),
	LIMIT(max_retained_jobs, SET_COUNT, 0, 100000000),
	LIMIT(retain_seconds, SET_SECONDS, 0, 365.0 * 86400),
	LIMIT(max_output_bytes, SET_BYTES, 65536, 64.0 * 1024 * 1024 * 1024),
	LIMIT(max_pending_requests, SET_COUNT, 1, 100000000),
	LIMIT(event_history, SET_COUNT, 0, 100000000),
	LIMIT(max_list_jobs, SET_COUNT, 1, 100000000),
	LIMIT(max_label_bytes, SET_BYTES, 1, 1024 * 1024),
	LIMIT(max_message_bytes, SET_BYTES, 0, 64.0 * 1024 * 1024),
	LIMIT(max_sleep_seconds, SET_SECONDS, 0, 100.0 * 365 * 86400),
	LIMIT(shutdown_grace_seconds, SET_SECONDS, 0, 3600),
	LIMIT(max_concurrent_fetches, SET_COUNT, 1, 100000),
	LIMIT(max_fetches_per_host, SET_COUNT, 1, 100000),
	LIMIT(fetch_default_max_bytes, SET_BYTES, 1, 64.0 * 1024 * 1024 * 1024),
	LIMIT(fetch_max_bytes_ceiling, SET_BYTES, 1, 64.0 * 1024 * 1024 * 1024),
	LIMIT(fetch_max_save_bytes, SET_BYTES, 0, 1024.0 * 1024 * 1024 * 1024 * 1024),
	LIMIT(fetch_connect_timeout, SET_SECONDS, 0.001, 3600),
	LIMIT(fetch_low_speed_bytes, SET_BYTES, 0, 1024.0 * 1024 * 1024),
	LIMIT(fetch_low_speed_seconds, SET_SECONDS, 1, 86400),
	LIMIT(fetch_max_redirects, SET_COUNT, 0, 100),
	LIMIT(max_retained_result_bytes, SET_BYTES, 0, 1024.0 * 1024 * 1024 * 1024),
	LIMIT(max_pending_write_bytes, SET_BYTES, 0, 1024.0 * 1024 * 1024 * 1024),
	LIMIT(max_upload_bytes, SET_BYTES, 0, 1024.0 * 1024 * 1024 * 1024 * 1024),
	LIMIT(max_spool_bytes, SET_BYTES, 0, 1024.0 * 1024 * 1024 * 1024 * 1024),
	LIMIT(io_threads, SET_COUNT, 1, 256),
};

#define N_SETTINGS (sizeof(settings) / sizeof(settings[0]))

static const struct limits default_limits = {
	.max_connections = 1024,
	.max_connections_per_user = 512,
	.max_request_bytes = 1024 * 1024,
	.max_json_depth = 32,
	.max_active_jobs = 100000,
	.max_active_jobs_per_user = 25000,
	.max_gather_jobs = 10000,
	.max_retained_jobs = 100000,
	.retain_seconds = 3600,
	.max_output_bytes = 16 * 1024 * 1024,
	.max_pending_requests = 10000,
	.event_history = 100000,
	.max_list_jobs = 10000,
	.max_label_bytes = 256,
	.max_message_bytes = 4 * 1024,
	.max_sleep_seconds = 30.0 * 86400,
	.shutdown_grace_seconds = 5,
	.max_concurrent_fetches = 256,
	.max_fetches_per_host = 128,
	.fetch_default_max_bytes = 16 * 1024 * 1024,
	.fetch_max_bytes_ceiling = 256 * 1024 * 1024,
	.fetch_max_save_bytes = 0,
	.fetch_connect_timeout = 10,
	/* curl gives up only when the rate is *below* the limit, so at 1 byte/s
	 * a server dripping a byte a second held a slot forever. 1 KiB/s over
	 * 30 s ends any drip or trickle meant to tie up a slot, yet is far
	 * below what even a poor mobile link delivers, so a real download
	 * that is merely slow still completes. */
	.fetch_low_speed_bytes = 1024,
	.fetch_low_speed_seconds = 30,
	.fetch_max_redirects = 5,
	.max_retained_result_bytes = 256 * 1024 * 1024,
	.max_pending_write_bytes = 256 * 1024 * 1024,
	.max_upload_bytes = 1024 * 1024 * 1024,
	.max_spool_bytes = 4ULL * 1024 * 1024 * 1024,
	.io_threads = 4,
};

static void set_error(char error[CONFIG_ERROR_MAX], const char *file, unsigned line,
		      const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Adds a line to `error`: a file is read to its end, and every mistake in
 * it said at once, as a compiler does. */
static void set_error(char error[CONFIG_ERROR_MAX], const char *file, unsigned line,
		      const char *fmt, ...)
{
	size_t at = strlen(error);
	va_list ap;
	int n = 0;

	if (at > 0) {
		if (at + 2 >= CONFIG_ERROR_MAX)
			return;
		error[at++] = '\n';
		error[at] = '\0';
	}
	char *out = error + at;
	size_t room = CONFIG_ERROR_MAX - at;
	if (file && line)
		n = snprintf(out, room, "%s:%u: ", file, line);
	else if (file)
		n = snprintf(out, room, "%s: ", file);
	if (n < 0 || (size_t)n >= room)
		n = 0;
	va_start(ap, fmt);
	vsnprintf(out + n, room - (size_t)n, fmt, ap);
	va_end(ap);
}

static const struct setting *find_setting(const char *key)
{
	for (size_t i = 0; i < N_SETTINGS; i++)
		if (strcmp(settings[i].key, key) == 0)
			return &settings[i];
	return NULL;
}

static const char *setting_key(size_t i, void *arg)
{
	(void)arg;
	return i < N_SETTINGS ? settings[i].key : NULL;
}

/* Parses a whole-string number with an optional size suffix. */
static int parse_number(const char *s, bool allow_suffix, bool allow_fraction, double *ret)
{
	char *end;
	double mult = 1;

	if (!*s || isspace((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || !isfinite(v))
		return -EINVAL;
	if (allow_suffix && *end) {
		switch (toupper((unsigned char)*end)) {
		case 'K': mult = 1024; break;
		case 'M': mult = 1024.0 * 1024; break;
		case 'G': mult = 1024.0 * 1024 * 1024; break;
		default: return -EINVAL;
		}
		end++;
		if (toupper((unsigned char)*end) == 'I')
			end++;
		if (toupper((unsigned char)*end) == 'B')
			end++;
	}
	if (*end)
		return -EINVAL;
	v *= mult;
	if (!allow_fraction && v != floor(v))
		return -EINVAL;
	*ret = v;
	return 0;
}

static int resolve_group(const char *name, gid_t *ret)
{
	char *end;
	errno = 0;
	unsigned long n = strtoul(name, &end, 10);
	if (!errno && *name && !*end && n < (unsigned long)(gid_t)-1) {
		*ret = (gid_t)n;
		return 0;
	}
	struct group *g = getgrnam(name);
	if (!g)
		return -ENOENT;
	*ret = g->gr_gid;
	return 0;
}

/* Adds the `len` bytes at `path` to the write roots. */
static int add_write_root(struct config *c, const struct setting *s, const char *path, size_t len,
			  const char *file, unsigned line, char error[CONFIG_ERROR_MAX])
{
	if (path[0] != '/') {
		set_error(error, file, line, "%s: '%.*s' is not an absolute path", s->key, (int)len,
			  path);
		return -EINVAL;
	}
	c->write_roots = xrealloc(c->write_roots, (c->n_write_roots + 1) * sizeof(*c->write_roots));
	c->write_roots[c->n_write_roots++] = xstrndup(path, len);
	return 0;
}

static int apply_setting(struct config *c, const struct setting *s, const char *value,
			 const char *file, unsigned line, char error[CONFIG_ERROR_MAX])
{
	char *base = (char *)c;
	double v;

	switch (s->kind) {
	case SET_COUNT:
	case SET_BYTES:
	case SET_SECONDS:
		if (parse_number(value, s->kind == SET_BYTES, s->kind == SET_SECONDS, &v) < 0) {
			set_error(error, file, line, "%s: expected %s, got '%s'", s->key,
				  s->kind == SET_SECONDS ? "a number of seconds"
				  : s->kind == SET_BYTES ? "a size such as 65536 or 64K"
				  : "a whole number", value);
			return -EINVAL;
		}
		if (v < s->min || v > s->max) {
			set_error(error, file, line, "%s: %s is out of range (%.15g to %.15g)",
				  s->key, value, s->min, s->max);
			return -ERANGE;
		}
		if (s->kind == SET_SECONDS)
			*(double *)(base + s->offset) = v;
		else
			*(size_t *)(base + s->offset) = (size_t)v;
		return 0;
	case SET_PATH:
		if (value[0] != '/') {
			set_error(error, file, line, "%s: '%s' is not an absolute path", s->key, value);
			return -EINVAL;
		}
		free(*(char **)(base + s->offset));
		*(char **)(base + s->offset) = xstrdup(value);
		return 0;
	case SET_MODE: {
		char *end;
		errno = 0;
		unsigned long m = strtoul(value, &end, 8);
		if (errno || !*value || *end || m > 0777) {
			set_error(error, file, line, "%s: expected an octal mode such as 0660, got '%s'",
				  s->key, value);
			return -EINVAL;
		}
		*(mode_t *)(base + s->offset) = (mode_t)m;
		return 0;
	}
	case SET_GROUP: {
		gid_t gid;
		if (resolve_group(value, &gid) < 0) {
			set_error(error, file, line, "%s: no group named '%s'", s->key, value);
			return -ENOENT;
		}
		char **name = (char **)(base + s->offset);
		free(*name);
		*name = xstrdup(value);
		if (name == &c->socket_group)
			c->socket_gid = gid;
		else
			c->admin_gid = gid;
		return 0;
	}
	case SET_LOG_LEVEL:
		if (log_level_from_name(value, (enum log_level *)(base + s->offset)) < 0) {
			set_error(error, file, line,
				  "%s: expected error, warning, notice, info or debug, got '%s'",
				  s->key, value);
			return -EINVAL;
		}
		return 0;
	case SET_NET_LIST: {
		struct netfilter **nf = (struct netfilter **)(base + s->offset);
		char why[256];
		int r = *nf ? netfilter_add(*nf, value, why, sizeof(why))
			    : netfilter_parse(value, nf, why, sizeof(why));
		if (r < 0) {
			set_error(error, file, line, "%s: %s", s->key, why);
			return r;
		}
		return 0;
	}
	case SET_STORE:
		if (!strcmp(value, "memory"))
			*(enum store_kind *)(base + s->offset) = STORE_MEMORY;
		else if (!strcmp(value, "sqlite"))
			*(enum store_kind *)(base + s->offset) = STORE_SQLITE;
		else {
			set_error(error, file, line, "%s: expected memory or sqlite, got '%s'",
				  s->key, value);
			return -EINVAL;
		}
		return 0;
	case SET_STORE_SYNC:
		if (!strcmp(value, "full"))
			*(enum store_sync_level *)(base + s->offset) = STORE_SYNC_LEVEL_FULL;
		else if (!strcmp(value, "normal"))
			*(enum store_sync_level *)(base + s->offset) = STORE_SYNC_LEVEL_NORMAL;
		else {
			set_error(error, file, line, "%s: expected full or normal, got '%s'",
				  s->key, value);
			return -EINVAL;
		}
		return 0;
	case SET_ON_SHUTDOWN:
		if (strcmp(value, "resume") && strcmp(value, "cancel")) {
			set_error(error, file, line, "%s: expected resume or cancel, got '%s'",
				  s->key, value);
			return -EINVAL;
		}
		*(bool *)(base + s->offset) = !strcmp(value, "cancel");
		return 0;
	case SET_STRING:
		free(*(char **)(base + s->offset));
		*(char **)(base + s->offset) = xstrdup(value);
		return 0;
	case SET_PATH_LIST:
		return add_write_root(c, s, value, strlen(value), file, line, error);
	case SET_PATH_WORDS:
		/* The spelling, several roots on one line; a path with
		 * a blank in it takes a write_root line of its own. */
		for (const char *p = value; *p;) {
			size_t n = strcspn(p, " \t");
			int r = add_write_root(c, s, p, n, file, line, error);
			if (r < 0)
				return r;
			p += n;
			p += strspn(p, " \t");
		}
		return 0;
	}
	return -EINVAL;
}

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	char *e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

static int parse_file(struct config *c, const char *file, bool must_exist,
		      char error[CONFIG_ERROR_MAX])
{
	FILE *f = fopen(file, "re");
	char buf[4096];
	unsigned line = 0;
	int r = 0;

	if (!f) {
		if (errno == ENOENT && !must_exist)
			return 0;
		r = -errno;
		set_error(error, file, 0, "cannot open: %s", strerror(errno));
		return r;
	}
	c->file = xstrdup(file);
	/* Each mistake is said and the reading goes on: r keeps the first. */
	while (fgets(buf, sizeof(buf), f)) {
		line++;
		size_t n = strlen(buf);
		if (n == sizeof(buf) - 1 && buf[n - 1] != '\n') {
			set_error(error, file, line, "line longer than %zu bytes", sizeof(buf) - 2);
			r = -E2BIG;
			break;
		}
		char *s = trim(buf);
		if (*s == '\0' || *s == '#')
			continue;
		char *eq = strchr(s, '=');
		if (!eq) {
			set_error(error, file, line, "expected 'key = value', got '%s'", s);
			r = r ? r : -EINVAL;
			continue;
		}
		*eq = '\0';
		char *key = trim(s);
		char *value = trim(eq + 1);
		const struct setting *st = find_setting(key);
		if (!st) {
			const char *near = suggest_nearest(key, setting_key, NULL);
			if (near)
				set_error(error, file, line, "unknown setting '%s'; did you mean '%s'?",
					  key, near);
			else
				set_error(error, file, line, "unknown setting '%s'", key);
			r = r ? r : -EINVAL;
			continue;
		}
		if (!*value) {
			set_error(error, file, line, "%s: no value given", key);
			r = r ? r : -EINVAL;
			continue;
		}
		int applied = apply_setting(c, st, value, file, line, error);
		if (applied < 0 && !r)
			r = applied;
	}
	if (!r && ferror(f)) {
		r = -EIO;
		set_error(error, file, line, "read error");
	}
	fclose(f);
	return r;
}

char *config_default_write_root(uid_t uid, const char *home)
{
	if (uid == 0)
		return xstrdup("/var/lib/asyncjobd/files");
	if (home && home[0] == '/')
		return xstrdup(home);

	/* No usable $HOME (a service, su without -l): the password database. */
	struct passwd pw, *found = NULL;
	size_t size = 1024;
	char *buf = NULL, *dir = NULL;
	int r;
	do {
		size *= 2;
		buf = xrealloc(buf, size);
		r = getpwuid_r(uid, &pw, buf, size, &found);
	} while (r == ERANGE && size < 1024 * 1024);
	if (r == 0 && found && found->pw_dir && found->pw_dir[0] == '/')
		dir = xstrdup(found->pw_dir);
	free(buf);
	return dir;
}

char *config_default_state_directory(const char *systemd_dirs, uid_t uid, const char *state_home,
				     const char *home)
{
	static const char leaf[] = "asyncjobd";
	char *base, *dir;
	size_t n;

	if (systemd_dirs && systemd_dirs[0] == '/')
		return xstrndup(systemd_dirs, strcspn(systemd_dirs, ":"));
	if (uid == 0)
		return xstrdup("/var/lib/asyncjobd");
	if (state_home && state_home[0] == '/') {
		n = strlen(state_home) + sizeof(leaf) + 1;
		dir = xmalloc(n);
		snprintf(dir, n, "%s/%s", state_home, leaf);
		return dir;
	}
	/* $XDG_STATE_HOME's default, beneath the same home a write root
	 * would be. */
	base = config_default_write_root(uid, home);
	if (!base)
		return NULL;
	n = strlen(base) + sizeof("/.local/state/") + sizeof(leaf);
	dir = xmalloc(n);
	snprintf(dir, n, "%s/.local/state/%s", base, leaf);
	free(base);
	return dir;
}

/* Opens the configured write roots, or the default one. */
static int open_roots(struct config *c, char error[CONFIG_ERROR_MAX])
{
	char warn[512];
	char *def[1] = { NULL };
	char *const *paths = c->write_roots;
	size_t n = c->n_write_roots;
	int r;

	if (n == 0) {
		def[0] = config_default_write_root(geteuid(), getenv("HOME"));
		paths = def;
		n = def[0] ? 1 : 0;
	}
	r = write_roots_open(paths, n, &c->roots, error, CONFIG_ERROR_MAX, warn, sizeof(warn));
	free(def[0]);
	if (r == 0 && warn[0]) {
		log_warnx("%s", warn);
		c->warnings++;
	}
	return r;
}

int config_load(const char *file, bool must_exist, const struct config_overrides *ov,
		struct config **ret, char error[CONFIG_ERROR_MAX])
{
	struct config *c = xcalloc(1, sizeof(*c));
	int r;

	c->socket_mode = 0660;
	c->log_level = LOG_LEVEL_INFO;
	c->store = STORE_SQLITE;
	c->limits = default_limits;
	error[0] = '\0';

	if (file) {
		r = parse_file(c, file, must_exist, error);
		if (r < 0)
			goto fail;
	}
	if (ov && ov->socket_path) {
		r = apply_setting(c, find_setting("socket"), ov->socket_path, "--socket", 0, error);
		if (r < 0)
			goto fail;
	}
	if (ov && ov->n_write_roots) {
		/* Roots named on the command line replace the file's. */
		for (size_t i = 0; i < c->n_write_roots; i++)
			free(c->write_roots[i]);
		c->n_write_roots = 0;
		for (size_t i = 0; i < ov->n_write_roots; i++) {
			r = apply_setting(c, find_setting("write_root"), ov->write_roots[i],
					  "--write-root", 0, error);
			if (r < 0)
				goto fail;
		}
	}
	if (ov && ov->log_level) {
		r = apply_setting(c, find_setting("log_level"), ov->log_level, "--log-level", 0, error);
		if (r < 0)
			goto fail;
	}
	if (ov && ov->store) {
		r = apply_setting(c, find_setting("store"), ov->store, "--store", 0, error);
		if (r < 0)
			goto fail;
	}
	if (ov && ov->state_directory) {
		r = apply_setting(c, find_setting("state_directory"), ov->state_directory,
				  "--state-dir", 0, error);
		if (r < 0)
			goto fail;
	}
	r = open_roots(c, error);
	if (r < 0)
		goto fail;
	if (c->limits.max_connections_per_user > c->limits.max_connections)
		c->limits.max_connections_per_user = c->limits.max_connections;
	if (c->limits.max_active_jobs_per_user > c->limits.max_active_jobs)
		c->limits.max_active_jobs_per_user = c->limits.max_active_jobs;
	if (c->limits.fetch_default_max_bytes > c->limits.fetch_max_bytes_ceiling)
		c->limits.fetch_default_max_bytes = c->limits.fetch_max_bytes_ceiling;
	*ret = c;
	return 0;
fail:
	config_free(c);
	return r;
}

struct config *config_free(struct config *c)
{
	if (!c)
		return NULL;
	free(c->file);
	free(c->socket_path);
	free(c->socket_group);
	free(c->admin_group);
	for (size_t i = 0; i < c->n_write_roots; i++)
		free(c->write_roots[i]);
	free(c->write_roots);
	write_roots_unref(c->roots);
	netfilter_free(c->deny_networks);
	free(c->proxy);
	free(c->metrics_listen);
	free(c->state_directory);
	free(c->ca_file);
	free(c);
	return NULL;
}

void config_write_limits(const struct config *c, struct jsonw *w)
{
	const char *base = (const char *)c;

	jsonw_object_begin(w);
	for (size_t i = 0; i < N_SETTINGS; i++) {
		const struct setting *s = &settings[i];
		if (!s->is_limit)
			continue;
		jsonw_key(w, s->key);
		if (s->kind == SET_SECONDS)
			jsonw_double(w, *(const double *)(base + s->offset));
		else
			jsonw_uint(w, *(const size_t *)(base + s->offset));
	}
	jsonw_object_end(w);
}

static bool str_differs(const char *a, const char *b)
{
	if (!a || !b)
		return a != b;
	return strcmp(a, b) != 0;
}

const char *config_restart_needed(const struct config *old, const struct config *new_)
{
	if (str_differs(old->socket_path, new_->socket_path))
		return "socket";
	if (old->socket_mode != new_->socket_mode)
		return "socket_mode";
	if (str_differs(old->socket_group, new_->socket_group))
		return "socket_group";
	if (old->limits.io_threads != new_->limits.io_threads)
		return "io_threads";
	/* The store is opened once, at start, with its jobs loaded. */
	if (old->store != new_->store)
		return "store";
	if (str_differs(old->state_directory, new_->state_directory))
		return "state_directory";
	if (str_differs(old->metrics_listen, new_->metrics_listen))
		return "metrics_listen";
	if (old->store_sync != new_->store_sync)
		return "store_sync";
	return NULL;
}
