/* config_load() and friends: defaults (the write root's included), every
 * setting, size suffixes, errors that name file and line, overrides, the
 * limits JSON and restart detection. */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "daemon/conf.h"
#include "daemon/log.h"
#include "proto/jsonw.h"

#define fail_unless_contains(hay, needle)                                          \
	do {                                                                       \
		if (!strstr((hay), (needle)))                                      \
			fail_msg("'%s' does not contain '%s'", (hay), (needle));  \
	} while (0)

/* Writes `text` to a new temporary file; the caller unlinks and frees. */
static char *write_temp(const char *text)
{
	char *path = strdup("/tmp/test-conf-XXXXXX");
	assert_non_null(path);
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	size_t n = strlen(text);
	assert_int_equal(write(fd, text, n), (ssize_t)n);
	close(fd);
	return path;
}

static void remove_temp(char *path)
{
	unlink(path);
	free(path);
}

/* Loads `text` as a config file and expects success. */
static struct config *load_text(const char *text)
{
	char error[CONFIG_ERROR_MAX];
	struct config *c = NULL;
	char *path = write_temp(text);
	int r = config_load(path, true, NULL, &c, error);
	if (r < 0)
		fail_msg("config_load failed (%d): %s", r, error);
	assert_non_null(c);
	assert_string_equal(c->file, path);
	remove_temp(path);
	return c;
}

/* Loads `text`, whose third line is bad, and checks the error starts with
 * "FILE:3: " and contains `needle`. */
static void expect_error_line3(const char *text, const char *needle)
{
	char error[CONFIG_ERROR_MAX];
	char prefix[128];
	struct config *c = NULL;
	char *path = write_temp(text);

	int r = config_load(path, true, NULL, &c, error);
	if (r >= 0)
		fail_msg("config_load accepted:\n%s", text);
	assert_null(c);
	snprintf(prefix, sizeof(prefix), "%s:3: ", path);
	if (strncmp(error, prefix, strlen(prefix)) != 0)
		fail_msg("error '%s' does not start with '%s'", error, prefix);
	fail_unless_contains(error, needle);
	remove_temp(path);
}

#define HEAD "# a comment\n\n"

static void test_defaults(void **state)
{
	char error[CONFIG_ERROR_MAX];
	struct config *c = NULL;
	(void)state;

	assert_int_equal(config_load(NULL, true, NULL, &c, error), 0);
	assert_non_null(c);
	assert_null(c->file);
	assert_null(c->socket_path);
	assert_int_equal(c->socket_mode, 0660);
	assert_null(c->socket_group);
	assert_null(c->admin_group);
	assert_int_equal(c->n_write_roots, 0);
	assert_int_equal(c->log_level, LOG_LEVEL_INFO);
	/* Durable by default, to the disk itself; resumed after a restart. */
	assert_int_equal(c->store, STORE_SQLITE);
	assert_null(c->state_directory);
	assert_int_equal(c->store_sync, STORE_SYNC_LEVEL_FULL);
	assert_false(c->cancel_on_shutdown);

	const struct limits *l = &c->limits;
	assert_int_equal(l->max_connections, 1024);
	assert_int_equal(l->max_connections_per_user, 512);
	assert_int_equal(l->max_request_bytes, 1024 * 1024);
	assert_int_equal(l->max_json_depth, 32);
	assert_int_equal(l->max_active_jobs, 100000);
	assert_int_equal(l->max_active_jobs_per_user, 25000);
	assert_int_equal(l->max_gather_jobs, 10000);
	assert_int_equal(l->max_retained_jobs, 100000);
	assert_true(l->retain_seconds == 3600);
	assert_int_equal(l->max_output_bytes, 16 * 1024 * 1024);
	assert_int_equal(l->max_pending_requests, 10000);
	assert_int_equal(l->event_history, 100000);
	assert_int_equal(l->max_list_jobs, 10000);
	assert_int_equal(l->max_label_bytes, 256);
	assert_int_equal(l->max_message_bytes, 4 * 1024);
	assert_true(l->max_sleep_seconds == 30.0 * 86400);
	assert_true(l->shutdown_grace_seconds == 5);
	assert_int_equal(l->max_concurrent_fetches, 256);
	assert_int_equal(l->fetch_default_max_bytes, 16 * 1024 * 1024);
	assert_true(l->fetch_connect_timeout == 10);
	/* Above 1 byte/s, so a server dripping a byte a second is stopped. */
	assert_int_equal(l->fetch_low_speed_bytes, 1024);
	assert_true(l->fetch_low_speed_seconds == 30);
	/* Write jobs: the issue asks for a pool of 4 by default. */
	assert_int_equal(l->io_threads, 4);
	config_free(c);
}

static void assert_default_root(uid_t uid, const char *home, const char *expected)
{
	char *got = config_default_write_root(uid, home);
	if (!expected ? got != NULL : !got || strcmp(got, expected) != 0)
		fail_msg("uid %u, HOME %s: default write root %s, expected %s", (unsigned)uid,
			 home ? home : "(unset)", got ? got : "(none)", expected ? expected : "(none)");
	free(got);
}

/* The write root when none is configured: root's, and an ordinary user's
 * home, from $HOME or, without a usable one, from the password database. */
static void test_default_write_root(void **state)
{
	(void)state;
	assert_default_root(0, "/root", "/var/lib/asyncjobd/files");
	assert_default_root(0, NULL, "/var/lib/asyncjobd/files");
	assert_default_root(4321, "/home/someone", "/home/someone");

	/* Someone in the password database other than root. */
	uid_t uid = 0;
	char dir[PATH_MAX] = "";
	setpwent();
	for (struct passwd *pw; (pw = getpwent());) {
		if (pw->pw_uid != 0 && pw->pw_dir && pw->pw_dir[0] == '/' &&
		    strlen(pw->pw_dir) < sizeof(dir)) {
			uid = pw->pw_uid;
			strcpy(dir, pw->pw_dir);
			break;
		}
	}
	endpwent();
	if (uid == 0)
		skip();   /* nobody but root in the password database */
	assert_default_root(uid, "/home/from-env", "/home/from-env");
	assert_default_root(uid, NULL, dir);
	assert_default_root(uid, "", dir);
	assert_default_root(uid, "relative/home", dir);
	/* Neither $HOME nor an entry: no default root. */
	uid_t unknown = 3999999999u;
	if (!getpwuid(unknown))
		assert_default_root(unknown, NULL, NULL);
}

static void assert_default_state(const char *systemd_dirs, uid_t uid, const char *state_home,
				 const char *home, const char *expected)
{
	char *got = config_default_state_directory(systemd_dirs, uid, state_home, home);
	if (!expected ? got != NULL : !got || strcmp(got, expected) != 0)
		fail_msg("STATE_DIRECTORY %s, uid %u, XDG_STATE_HOME %s, HOME %s: %s, expected %s",
			 systemd_dirs ? systemd_dirs : "(unset)", (unsigned)uid,
			 state_home ? state_home : "(unset)", home ? home : "(unset)",
			 got ? got : "(none)", expected ? expected : "(none)");
	free(got);
}

/* Where jobs.db goes when no state_directory is configured: the unit's
 * StateDirectory= (the system daemon does not run as root), root's, and
 * an ordinary user's XDG state directory. */
static void test_default_state_directory(void **state)
{
	(void)state;
	assert_default_state("/var/lib/asyncjobd", 998, NULL, "/var/lib/asyncjobd/files",
			     "/var/lib/asyncjobd");
	/* Several StateDirectory= entries: the first. */
	assert_default_state("/var/lib/asyncjobd:/var/lib/other", 998, NULL, NULL,
			     "/var/lib/asyncjobd");
	assert_default_state("relative", 0, NULL, "/root", "/var/lib/asyncjobd");
	assert_default_state("", 0, NULL, "/root", "/var/lib/asyncjobd");
	assert_default_state(NULL, 0, "/root/.state", "/root", "/var/lib/asyncjobd");
	assert_default_state(NULL, 4321, "/home/someone/.state", "/home/someone",
			     "/home/someone/.state/asyncjobd");
	assert_default_state(NULL, 4321, "relative", "/home/someone",
			     "/home/someone/.local/state/asyncjobd");
	assert_default_state(NULL, 4321, NULL, "/home/someone",
			     "/home/someone/.local/state/asyncjobd");
}

/* The name of group 0 (for a group given by name), or NULL. */
static const char *group0_name(void)
{
	struct group *g = getgrgid(0);
	return g ? g->gr_name : NULL;
}

static void test_every_key(void **state)
{
	char text[2048];
	const char *g0 = group0_name();
	(void)state;

	snprintf(text, sizeof(text),
		 "# every setting\n"
		 "socket = /run/test/a.sock\n"
		 "  socket_mode=0600  \n"
		 "socket_group = %s\n"
		 "admin_group = 0\n"
		 "write_root = /srv/one\n"
		 "write_root = /srv/two\n"
		 "log_level = debug\n"
		 "max_connections = 10\n"
		 "max_connections_per_user = 5\n"
		 "max_request_bytes = 4096\n"
		 "max_json_depth = 8\n"
		 "max_active_jobs = 20\n"
		 "max_active_jobs_per_user = 7\n"
		 "max_gather_jobs = 3\n"
		 "max_retained_jobs = 0\n"
		 "retain_seconds = 1.5\n"
		 "max_output_bytes = 65536\n"
		 "max_pending_requests = 4\n"
		 "event_history = 0\n"
		 "max_list_jobs = 9\n"
		 "max_label_bytes = 12\n"
		 "max_message_bytes = 0\n"
		 "max_sleep_seconds = 0.25\n"
		 "shutdown_grace_seconds = 2.5\n",
		 g0 ? g0 : "0");
	struct config *c = load_text(text);

	assert_string_equal(c->socket_path, "/run/test/a.sock");
	assert_int_equal(c->socket_mode, 0600);
	assert_string_equal(c->socket_group, g0 ? g0 : "0");
	assert_int_equal(c->socket_gid, 0);
	assert_string_equal(c->admin_group, "0");
	assert_int_equal(c->admin_gid, 0);
	assert_int_equal(c->n_write_roots, 2);
	assert_string_equal(c->write_roots[0], "/srv/one");
	assert_string_equal(c->write_roots[1], "/srv/two");
	assert_int_equal(c->log_level, LOG_LEVEL_DEBUG);

	const struct limits *l = &c->limits;
	assert_int_equal(l->max_connections, 10);
	assert_int_equal(l->max_connections_per_user, 5);
	assert_int_equal(l->max_request_bytes, 4096);
	assert_int_equal(l->max_json_depth, 8);
	assert_int_equal(l->max_active_jobs, 20);
	assert_int_equal(l->max_active_jobs_per_user, 7);
	assert_int_equal(l->max_gather_jobs, 3);
	assert_int_equal(l->max_retained_jobs, 0);
	assert_true(l->retain_seconds == 1.5);
	assert_int_equal(l->max_output_bytes, 65536);
	assert_int_equal(l->max_pending_requests, 4);
	assert_int_equal(l->event_history, 0);
	assert_int_equal(l->max_list_jobs, 9);
	assert_int_equal(l->max_label_bytes, 12);
	assert_int_equal(l->max_message_bytes, 0);
	assert_true(l->max_sleep_seconds == 0.25);
	assert_true(l->shutdown_grace_seconds == 2.5);
	config_free(c);
}

static void test_bounds_accepted(void **state)
{
	(void)state;
	/* Each limit at its minimum and at its maximum. */
	struct config *c = load_text("max_json_depth = 2\n"
				     "max_request_bytes = 1024\n"
				     "max_output_bytes = 64G\n"
				     "max_label_bytes = 1\n"
				     "retain_seconds = 0\n"
				     "shutdown_grace_seconds = 3600\n"
				     "max_connections = 1000000\n");
	assert_int_equal(c->limits.max_json_depth, 2);
	assert_int_equal(c->limits.max_request_bytes, 1024);
	assert_int_equal(c->limits.max_output_bytes, 64ULL * 1024 * 1024 * 1024);
	assert_int_equal(c->limits.max_label_bytes, 1);
	assert_true(c->limits.retain_seconds == 0);
	assert_true(c->limits.shutdown_grace_seconds == 3600);
	assert_int_equal(c->limits.max_connections, 1000000);
	config_free(c);

	c = load_text("max_json_depth = 1000\nmax_request_bytes = 1G\n");
	assert_int_equal(c->limits.max_json_depth, 1000);
	assert_int_equal(c->limits.max_request_bytes, 1024 * 1024 * 1024);
	config_free(c);
}

static void test_per_user_clamped(void **state)
{
	(void)state;
	/* A per-user limit above the global one is cut down to it. */
	struct config *c = load_text("max_connections = 10\nmax_connections_per_user = 50\n"
				     "max_active_jobs = 3\nmax_active_jobs_per_user = 9\n");
	assert_int_equal(c->limits.max_connections_per_user, 10);
	assert_int_equal(c->limits.max_active_jobs_per_user, 3);
	config_free(c);
}

static void test_size_suffixes(void **state)
{
	(void)state;
	struct config *c = load_text("max_request_bytes = 64K\n"
				     "max_output_bytes = 1M\n"
				     "max_message_bytes = 1MiB\n"
				     "max_label_bytes = 2KB\n");
	assert_int_equal(c->limits.max_request_bytes, 64 * 1024);
	assert_int_equal(c->limits.max_output_bytes, 1024 * 1024);
	assert_int_equal(c->limits.max_message_bytes, 1024 * 1024);
	assert_int_equal(c->limits.max_label_bytes, 2048);
	config_free(c);

	c = load_text("max_request_bytes = 64k\nmax_output_bytes = 2g\nmax_message_bytes = 3kib\n");
	assert_int_equal(c->limits.max_request_bytes, 64 * 1024);
	assert_int_equal(c->limits.max_output_bytes, 2ULL * 1024 * 1024 * 1024);
	assert_int_equal(c->limits.max_message_bytes, 3 * 1024);
	config_free(c);

	/* Unknown suffixes, suffixes on counts and seconds, and junk after one. */
	expect_error_line3(HEAD "max_output_bytes = 1T\n", "max_output_bytes");
	expect_error_line3(HEAD "max_output_bytes = 1Mx\n", "max_output_bytes");
	expect_error_line3(HEAD "max_connections = 1K\n", "max_connections");
	expect_error_line3(HEAD "retain_seconds = 1K\n", "retain_seconds");
	/* A suffix that takes the value past the maximum. */
	expect_error_line3(HEAD "max_request_bytes = 2G\n", "out of range");
}

static void test_comments_and_blank_lines(void **state)
{
	(void)state;
	struct config *c = load_text("\n   \n# max_connections = 3\n\t# indented comment\n"
				     "max_connections = 4\n\n");
	assert_int_equal(c->limits.max_connections, 4);
	config_free(c);
}

static void test_error_unknown_key(void **state)
{
	(void)state;
	expect_error_line3(HEAD "max_conections = 4\n", "unknown setting 'max_conections'");
}

static void test_error_missing_equals(void **state)
{
	(void)state;
	expect_error_line3(HEAD "max_connections 4\n", "max_connections 4");
}

static void test_error_empty_value(void **state)
{
	(void)state;
	expect_error_line3(HEAD "max_connections =\n", "max_connections");
	expect_error_line3(HEAD "socket =   \n", "socket");
}

static void test_error_not_a_number(void **state)
{
	(void)state;
	expect_error_line3(HEAD "max_connections = ten\n", "max_connections");
	expect_error_line3(HEAD "max_connections = 10x\n", "max_connections");
	expect_error_line3(HEAD "retain_seconds = soon\n", "retain_seconds");
	expect_error_line3(HEAD "retain_seconds = nan\n", "retain_seconds");
	expect_error_line3(HEAD "retain_seconds = inf\n", "retain_seconds");
	expect_error_line3(HEAD "max_request_bytes = 1e400\n", "max_request_bytes");
}

static void test_error_fraction_for_count(void **state)
{
	(void)state;
	expect_error_line3(HEAD "max_connections = 1.5\n", "max_connections");
	expect_error_line3(HEAD "max_label_bytes = 2.5\n", "max_label_bytes");
}

static void test_error_out_of_range(void **state)
{
	(void)state;
	expect_error_line3(HEAD "max_json_depth = 1\n", "out of range");
	expect_error_line3(HEAD "max_json_depth = 1001\n", "max_json_depth");
	expect_error_line3(HEAD "max_connections = 0\n", "out of range");
	expect_error_line3(HEAD "max_connections = -1\n", "max_connections");
	expect_error_line3(HEAD "max_request_bytes = 1023\n", "out of range");
	expect_error_line3(HEAD "max_output_bytes = 65535\n", "out of range");
	expect_error_line3(HEAD "retain_seconds = -0.5\n", "out of range");
	expect_error_line3(HEAD "shutdown_grace_seconds = 3600.5\n", "out of range");
}

static void test_error_relative_path(void **state)
{
	(void)state;
	expect_error_line3(HEAD "socket = run/a.sock\n", "not an absolute path");
	expect_error_line3(HEAD "write_root = files\n", "not an absolute path");
	expect_error_line3(HEAD "write_roots = /srv/a files /srv/b\n",
			   "write_roots: 'files' is not an absolute path");
}

/* write_roots (the name): several roots on one line, added to the
 * same list as write_root lines, in order. */
static void test_write_roots_list(void **state)
{
	(void)state;
	struct config *c = load_text("write_root = /srv/one\n"
				     "write_roots = /srv/two \t /srv/three\t/srv/four\n"
				     "write_roots = /srv/five\n"
				     "write_root = /srv/six\n");
	static const char *const want[] = {
		"/srv/one", "/srv/two", "/srv/three", "/srv/four", "/srv/five", "/srv/six",
	};
	assert_int_equal(c->n_write_roots, 6);
	for (size_t i = 0; i < 6; i++)
		assert_string_equal(c->write_roots[i], want[i]);
	config_free(c);
}

static void test_error_bad_mode(void **state)
{
	(void)state;
	expect_error_line3(HEAD "socket_mode = 0698\n", "socket_mode");
	expect_error_line3(HEAD "socket_mode = 01000\n", "socket_mode");
	expect_error_line3(HEAD "socket_mode = rw-rw----\n", "socket_mode");
	expect_error_line3(HEAD "socket_mode = -1\n", "socket_mode");
}

static void test_error_unknown_group(void **state)
{
	(void)state;
	expect_error_line3(HEAD "socket_group = no-such-group-asyncjobd-test\n",
			   "no-such-group-asyncjobd-test");
	expect_error_line3(HEAD "admin_group = no-such-group-asyncjobd-test\n", "admin_group");
}

static void test_error_bad_log_level(void **state)
{
	(void)state;
	expect_error_line3(HEAD "log_level = loud\n", "log_level");

	struct config *c = load_text("log_level = WARNING\n");
	assert_int_equal(c->log_level, LOG_LEVEL_WARNING);
	config_free(c);
}

static void test_missing_file(void **state)
{
	char error[CONFIG_ERROR_MAX];
	struct config *c = NULL;
	const char *path = "/nonexistent-asyncjobd-test/asyncjobd.conf";
	(void)state;

	/* Missing and optional: the defaults. */
	assert_int_equal(config_load(path, false, NULL, &c, error), 0);
	assert_non_null(c);
	assert_null(c->file);
	assert_int_equal(c->limits.max_connections, 1024);
	c = config_free(c);

	/* Missing and required: an error naming the file. */
	int r = config_load(path, true, NULL, &c, error);
	assert_int_equal(r, -ENOENT);
	assert_null(c);
	if (strncmp(error, path, strlen(path)) != 0)
		fail_msg("error '%s' does not name %s", error, path);
}

static void test_overrides_win(void **state)
{
	char error[CONFIG_ERROR_MAX];
	struct config *c = NULL;
	const char *roots[] = { "/override/one" };
	struct config_overrides ov = {
		.socket_path = "/override/a.sock",
		.write_roots = roots,
		.n_write_roots = 1,
		.log_level = "error",
	};
	char *path = write_temp("socket = /file/a.sock\n"
				"write_root = /file/r1\n"
				"write_root = /file/r2\n"
				"log_level = debug\n"
				"max_connections = 7\n");
	(void)state;

	assert_int_equal(config_load(path, true, &ov, &c, error), 0);
	assert_string_equal(c->socket_path, "/override/a.sock");
	assert_int_equal(c->n_write_roots, 1);
	assert_string_equal(c->write_roots[0], "/override/one");
	assert_int_equal(c->log_level, LOG_LEVEL_ERR);
	/* What the overrides do not touch comes from the file. */
	assert_int_equal(c->limits.max_connections, 7);
	config_free(c);

	/* Without overrides for them, the file's values stand. */
	struct config_overrides partial = { .log_level = "notice" };
	c = NULL;
	assert_int_equal(config_load(path, true, &partial, &c, error), 0);
	assert_string_equal(c->socket_path, "/file/a.sock");
	assert_int_equal(c->n_write_roots, 2);
	assert_int_equal(c->log_level, LOG_LEVEL_NOTICE);
	config_free(c);

	/* Overrides without a file. */
	c = NULL;
	assert_int_equal(config_load(NULL, false, &ov, &c, error), 0);
	assert_string_equal(c->socket_path, "/override/a.sock");
	assert_int_equal(c->n_write_roots, 1);
	config_free(c);
	remove_temp(path);
}

static void test_bad_overrides(void **state)
{
	char error[CONFIG_ERROR_MAX];
	struct config *c = NULL;
	const char *roots[] = { "/ok", "relative" };
	(void)state;

	struct config_overrides ov = { .socket_path = "relative.sock" };
	assert_true(config_load(NULL, false, &ov, &c, error) < 0);
	assert_null(c);
	fail_unless_contains(error, "--socket");

	struct config_overrides ov2 = { .write_roots = roots, .n_write_roots = 2 };
	assert_true(config_load(NULL, false, &ov2, &c, error) < 0);
	assert_null(c);
	fail_unless_contains(error, "relative");

	struct config_overrides ov3 = { .log_level = "chatty" };
	assert_true(config_load(NULL, false, &ov3, &c, error) < 0);
	assert_null(c);
	fail_unless_contains(error, "chatty");
}

static void check_limit(struct json_object *obj, const char *key, double expected)
{
	struct json_object *v;
	if (!json_object_object_get_ex(obj, key, &v))
		fail_msg("limit '%s' missing", key);
	if (!json_object_is_type(v, json_type_int) && !json_object_is_type(v, json_type_double))
		fail_msg("limit '%s' is not a number", key);
	if (json_object_get_double(v) != expected)
		fail_msg("limit '%s' is %g, expected %g", key, json_object_get_double(v), expected);
}

static void test_write_limits(void **state)
{
	struct jsonw w;
	(void)state;

	struct config *c = load_text("max_connections = 10\nretain_seconds = 1.25\n"
				     "max_output_bytes = 64G\nmax_sleep_seconds = 0.5\n");
	jsonw_init(&w);
	config_write_limits(c, &w);
	assert_false(w.failed);

	char *text = strndup(w.buf, w.len);
	struct json_tokener *tok = json_tokener_new();
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	struct json_object *obj = json_tokener_parse_ex(tok, text, (int)strlen(text) + 1);
	if (!obj || json_tokener_get_error(tok) != json_tokener_success)
		fail_msg("not valid JSON: %s", text);
	assert_true(json_object_is_type(obj, json_type_object));

	const struct limits *l = &c->limits;
	check_limit(obj, "max_connections", 10);
	check_limit(obj, "max_connections_per_user", (double)l->max_connections_per_user);
	check_limit(obj, "max_request_bytes", (double)l->max_request_bytes);
	check_limit(obj, "max_json_depth", (double)l->max_json_depth);
	check_limit(obj, "max_active_jobs", (double)l->max_active_jobs);
	check_limit(obj, "max_active_jobs_per_user", (double)l->max_active_jobs_per_user);
	check_limit(obj, "max_gather_jobs", (double)l->max_gather_jobs);
	check_limit(obj, "max_retained_jobs", (double)l->max_retained_jobs);
	check_limit(obj, "retain_seconds", 1.25);
	check_limit(obj, "max_output_bytes", 64.0 * 1024 * 1024 * 1024);
	check_limit(obj, "max_pending_requests", (double)l->max_pending_requests);
	check_limit(obj, "event_history", (double)l->event_history);
	check_limit(obj, "max_list_jobs", (double)l->max_list_jobs);
	check_limit(obj, "max_label_bytes", (double)l->max_label_bytes);
	check_limit(obj, "max_message_bytes", (double)l->max_message_bytes);
	check_limit(obj, "max_sleep_seconds", 0.5);
	check_limit(obj, "shutdown_grace_seconds", (double)l->shutdown_grace_seconds);
	check_limit(obj, "max_concurrent_fetches", (double)l->max_concurrent_fetches);
	check_limit(obj, "max_fetches_per_host", (double)l->max_fetches_per_host);
	check_limit(obj, "fetch_default_max_bytes", (double)l->fetch_default_max_bytes);
	check_limit(obj, "fetch_max_bytes_ceiling", (double)l->fetch_max_bytes_ceiling);
	check_limit(obj, "fetch_max_save_bytes", (double)l->fetch_max_save_bytes);
	check_limit(obj, "fetch_connect_timeout", l->fetch_connect_timeout);
	check_limit(obj, "fetch_low_speed_bytes", (double)l->fetch_low_speed_bytes);
	check_limit(obj, "fetch_low_speed_seconds", l->fetch_low_speed_seconds);
	check_limit(obj, "fetch_max_redirects", (double)l->fetch_max_redirects);
	check_limit(obj, "max_retained_result_bytes", (double)l->max_retained_result_bytes);
	check_limit(obj, "max_pending_write_bytes", (double)l->max_pending_write_bytes);
	check_limit(obj, "io_threads", (double)l->io_threads);
	check_limit(obj, "max_upload_bytes", (double)l->max_upload_bytes);
	check_limit(obj, "max_spool_bytes", (double)l->max_spool_bytes);
	/* Limits only: no socket, groups, roots, proxy or log level. */
	assert_int_equal(json_object_object_length(obj), 31);

	json_object_put(obj);
	json_tokener_free(tok);
	free(text);
	jsonw_release(&w);
	config_free(c);
}

static struct config *load_with_socket(const char *socket_path)
{
	char error[CONFIG_ERROR_MAX];
	struct config *c = NULL;
	struct config_overrides ov = { .socket_path = socket_path };
	assert_int_equal(config_load(NULL, false, &ov, &c, error), 0);
	return c;
}

static void test_restart_needed(void **state)
{
	(void)state;
	struct config *a = load_with_socket(NULL);
	struct config *b = load_with_socket(NULL);

	assert_null(config_restart_needed(a, b));

	/* Changes that apply at once. */
	config_free(b);
	b = load_text("admin_group = 0\nwrite_root = /srv\nmax_active_jobs = 5\nlog_level = error\n");
	assert_null(config_restart_needed(a, b));
	config_free(b);

	/* The socket's path: set, changed, unset. */
	b = load_with_socket("/run/x.sock");
	assert_non_null(config_restart_needed(a, b));
	assert_string_equal(config_restart_needed(a, b), "socket");
	assert_string_equal(config_restart_needed(b, a), "socket");
	struct config *b2 = load_with_socket("/run/y.sock");
	assert_string_equal(config_restart_needed(b, b2), "socket");
	config_free(b2);
	b2 = load_with_socket("/run/x.sock");
	assert_null(config_restart_needed(b, b2));
	config_free(b2);
	config_free(b);

	/* The socket's mode. */
	b = load_text("socket_mode = 0666\n");
	const char *what = config_restart_needed(a, b);
	assert_non_null(what);
	assert_string_equal(what, "socket_mode");
	config_free(b);

	/* The socket's group. */
	b = load_text("socket_group = 0\n");
	what = config_restart_needed(a, b);
	assert_non_null(what);
	assert_string_equal(what, "socket_group");
	config_free(b);

	/* The store's settings. */
	static const char *const store_settings[][2] = {
		{ "store = memory\n", "store" },
		{ "state_directory = /var/lib/elsewhere\n", "state_directory" },
		{ "store_sync = normal\n", "store_sync" },
	};
	for (size_t i = 0; i < sizeof(store_settings) / sizeof(store_settings[0]); i++) {
		b = load_text(store_settings[i][0]);
		what = config_restart_needed(a, b);
		assert_non_null(what);
		assert_string_equal(what, store_settings[i][1]);
		config_free(b);
	}
	/* on_shutdown is read at the shutdown: at once. */
	b = load_text("on_shutdown = cancel\n");
	assert_null(config_restart_needed(a, b));
	config_free(b);

	config_free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_default_write_root),
		cmocka_unit_test(test_default_state_directory),
		cmocka_unit_test(test_every_key),
		cmocka_unit_test(test_bounds_accepted),
		cmocka_unit_test(test_per_user_clamped),
		cmocka_unit_test(test_size_suffixes),
		cmocka_unit_test(test_comments_and_blank_lines),
		cmocka_unit_test(test_error_unknown_key),
		cmocka_unit_test(test_error_missing_equals),
		cmocka_unit_test(test_error_empty_value),
		cmocka_unit_test(test_error_not_a_number),
		cmocka_unit_test(test_error_fraction_for_count),
		cmocka_unit_test(test_error_out_of_range),
		cmocka_unit_test(test_error_relative_path),
		cmocka_unit_test(test_write_roots_list),
		cmocka_unit_test(test_error_bad_mode),
		cmocka_unit_test(test_error_unknown_group),
		cmocka_unit_test(test_error_bad_log_level),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_overrides_win),
		cmocka_unit_test(test_bad_overrides),
		cmocka_unit_test(test_write_limits),
		cmocka_unit_test(test_restart_needed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
