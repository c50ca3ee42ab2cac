/* Write jobs against the real daemon: every mode and field of the spec, the
 * modes files get whatever the umask, atomic replacement under a concurrent
 * reader, the path matrix (.., symlinks last, middle and dangling, FIFOs,
 * devices, directories, over-long names, NUL, hard links), a directory
 * swapped for a symlink to the outside while thousands of writes run,
 * ENOSPC on a small tmpfs (in a mount namespace of the daemon's own;
 * skipped where unshare or mount is not permitted), EFBIG past the
 * daemon's RLIMIT_FSIZE (failed mkdirs writes and appends leave nothing;
 * no privilege needed), EACCES (the daemon without CAP_DAC_OVERRIDE when
 * run as root), 10000 writes in one gather, queued writes, cancel,
 * timeouts, fail_fast and shutdown, the write-root settings,
 * max_pending_write_bytes, libasyncjob and the asyncjob CLI. Each test
 * starts its own daemon and stops it, checking that it exits cleanly (under
 * the sanitizers a leak makes that exit non-zero). No test asserts a
 * wall-clock duration. ASYNCJOB_TEST_FILTER=test_cli_gather (a
 * cmocka pattern) runs only the tests it names. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/capability.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "asyncjob.h"
#include "proto/base64.h"
#include "tests/common/harness.h"
#include "tests/common/jobs.h"
#include "tests/common/json-assert.h"

/* How long any single reply may take (generous: sanitizer builds are slow;
 * only reached when something is broken). */
#define REPLY_MS 90000

static struct {
	struct jobs_daemon d;           /* per test, started by the test */
	char root[256];                 /* the write root */
	char outside[256];              /* a directory outside it */
	char mnt[300];                  /* the tmpfs mount point (ENOSPC) */
	mode_t saved_umask;
	/* A helper thread (reader or swapper), stopped and joined by teardown. */
	pthread_t thread;
	bool thread_up;
	atomic_bool stop;
	/* The CLI's output. */
	char cli_out[65536];
	char cli_err[65536];
} T;

/* The race test's swapper (closed by teardown). */
static struct {
	int rootfd;
	bool exchange;          /* renameat2 RENAME_EXCHANGE works here */
	atomic_long swaps;
	atomic_int err;
} S = { .rootfd = -1 };

/* ------------------------------------------------------------ small helpers */

static const char *in_root(const char *rel)
{
	return tj_strf("%s/%s", T.root, rel);
}

static const char *in_outside(const char *rel)
{
	return tj_strf("%s/%s", T.outside, rel);
}

/* A fixed-seed generator: the same "random" bytes on every run. */
static uint64_t prng_state = 0x9e3779b97f4a7c15ull;
static uint64_t prng(void)
{
	uint64_t x = prng_state;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return prng_state = x;
}

static void make_dirs(void)
{
	snprintf(T.root, sizeof(T.root), "/tmp/asyncjob-write-root-XXXXXX");
	if (!mkdtemp(T.root)) {
		T.root[0] = '\0';
		fail_msg("mkdtemp: %s", strerror(errno));
	}
	snprintf(T.outside, sizeof(T.outside), "/tmp/asyncjob-write-out-XXXXXX");
	if (!mkdtemp(T.outside)) {
		T.outside[0] = '\0';
		fail_msg("mkdtemp: %s", strerror(errno));
	}
	chmod(T.root, 0755);
	chmod(T.outside, 0755);
}

/* The names in `dir`, space-separated (for failure messages). */
static const char *list_dir(const char *dir)
{
	static char buf[4096];
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0;

	buf[0] = '\0';
	if (!d)
		return "(unreadable)";
	while ((e = readdir(d)) && n < sizeof(buf) - 300) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%s", n ? " " : "", e->d_name);
	}
	closedir(d);
	return buf;
}

/* Temporary files of write jobs (".NAME.asyncjob-XXXXXXXXXXXX") in `dir`. */
static int count_temp_files(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] == '.' && strstr(e->d_name, ".asyncjob-"))
			n++;
	closedir(d);
	return n;
}

/* A create's marker goes once the job's end is on disk, which is also when
 * its reply leaves: the worker that removes it may come a moment after the
 * reply. So: none left within 5 s. */
#define assert_no_temp_files(dir)                                                          \
	do {                                                                               \
		int n_ = count_temp_files(dir);                                            \
		for (int tries_ = 0; n_ != 0 && tries_ < 500; tries_++) {                  \
			harness_sleep_ms(10);                                              \
			n_ = count_temp_files(dir);                                        \
		}                                                                          \
		if (n_ != 0)                                                               \
			fail_msg("%d temporary file(s) left in %s: %s", n_, (dir), list_dir(dir)); \
	} while (0)

#define assert_entries(dir, expected)                                                      \
	do {                                                                               \
		int n_ = harness_count_entries((dir), "");                                 \
		if (n_ != (expected))                                                      \
			fail_msg("%d entries in %s, expected %d: %s", n_, (dir), (expected),   \
				 list_dir(dir));                                           \
	} while (0)

/* The whole file (malloc'd, NUL-terminated past its end), or NULL. */
static unsigned char *read_file(const char *path, size_t *ret_len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	size_t cap = 65536, len = 0;
	unsigned char *buf = malloc(cap + 1);
	for (;;) {
		if (len == cap) {
			cap *= 2;
			buf = realloc(buf, cap + 1);
		}
		ssize_t n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	*ret_len = len;
	return buf;
}

static const char *check_file(const char *path, const void *content, size_t len)
{
	static char why[PATH_MAX + 256];
	size_t got = 0;
	unsigned char *data = read_file(path, &got);

	if (!data) {
		snprintf(why, sizeof(why), "%s: %s", path, strerror(errno));
		return why;
	}
	if (got != len) {
		snprintf(why, sizeof(why), "%s holds %zu bytes, expected %zu", path, got, len);
		free(data);
		return why;
	}
	if (len && memcmp(data, content, len) != 0) {
		size_t i = 0;
		while (data[i] == ((const unsigned char *)content)[i])
			i++;
		snprintf(why, sizeof(why), "%s differs from the expected content at byte %zu", path, i);
		free(data);
		return why;
	}
	free(data);
	return NULL;
}

#define assert_file(path, content, len) assert_no_why(check_file((path), (content), (len)))
#define assert_file_text(path, text) assert_file((path), (text), strlen(text))

#define assert_absent(path)                                                        \
	do {                                                                       \
		struct stat st_;                                                   \
		if (lstat((path), &st_) == 0)                                      \
			fail_msg("%s exists (mode %o)", (path), (unsigned)st_.st_mode); \
	} while (0)

static unsigned file_mode(const char *path)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		fail_msg("%s: %s", path, strerror(errno));
	return (unsigned)(st.st_mode & 07777);
}

#define assert_mode(path, expected)                                                 \
	do {                                                                        \
		unsigned m_ = file_mode(path);                                      \
		if (m_ != (unsigned)(expected))                                     \
			fail_msg("%s has mode %04o, expected %04o", (path), m_,     \
				 (unsigned)(expected));                             \
	} while (0)

static void put_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (!f)
		fail_msg("%s: %s", path, strerror(errno));
	fputs(text, f);
	fclose(f);
}

/* ------------------------------------------------------------ JSON access */

/* ------------------------------------------------------------ the daemon */

/* With the write root and, optionally, more config lines. */
static void start_write_daemon(const char *more)
{
	jobs_start(&T.d, "write_root = %s\n%s", T.root, more ? more : "");
}

/* A write spec: `extra` (JSON object text, or NULL) with type, path and,
 * unless content is NULL, content (bytes, NULs included). */
static struct json_object *write_spec(const char *path, const void *content, size_t len,
				      const char *extra)
{
	struct json_object *spec = tj_parse(extra ? extra : "{}");
	json_object_object_add(spec, "type", json_object_new_string("write"));
	json_object_object_add(spec, "path", json_object_new_string(path));
	if (content)
		json_object_object_add(spec, "content",
				       json_object_new_string_len(content, (int)len));
	return spec;
}

/* Submits with wait: the reply (tracked). */
static struct json_object *submit_wait(struct json_object *spec)
{
	json_object_object_add(spec, "wait", json_object_new_boolean(1));
	return jobs_call(T.d.fd, "job.submit", spec);
}

/* Runs a write to its end: the final job object. */
static struct json_object *run_write(const char *path, const void *content, size_t len,
				     const char *extra)
{
	return tj_take_result(submit_wait(write_spec(path, content, len, extra)));
}

static struct json_object *run_text(const char *path, const char *text, const char *extra)
{
	return run_write(path, text, text ? strlen(text) : 0, extra);
}

/* A write that must be refused: the error reply. */
static struct json_object *refuse_spec(struct json_object *spec)
{
	struct json_object *reply = submit_wait(spec);
	if (!tj_path(reply, "error"))
		fail_msg("expected the spec to be refused: %.3000s", json_object_to_json_string(reply));
	return reply;
}

static struct json_object *refuse_text(const char *path, const char *text, const char *extra)
{
	return refuse_spec(write_spec(path, text, text ? strlen(text) : 0, extra));
}

/* Runs a write that must succeed and checks its result (type, path, bytes). */
static void write_ok(const char *path, const char *text, const char *extra)
{
	struct json_object *job = run_text(path, text, extra);
	assert_succeeded(job);
	assert_jstr(job, "type", "write");
	assert_jstr(job, "result.path", path);
	assert_jint(job, "result.bytes", (int64_t)strlen(text));
	tj_put(job);
}

/* ------------------------------------------------------------ setup */

static int group_setup(void **state)
{
	(void)state;
	signal(SIGPIPE, SIG_IGN);
	jobs_set_reply_ms(REPLY_MS);
	return 0;
}

static int setup(void **state)
{
	(void)state;
	jobs_init(&T.d);
	T.root[0] = T.outside[0] = T.mnt[0] = '\0';
	T.thread_up = false;
	atomic_store(&T.stop, false);
	T.saved_umask = umask(022);
	make_dirs();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	int rc = 0;

	if (T.thread_up) {
		atomic_store(&T.stop, true);
		pthread_join(T.thread, NULL);
		T.thread_up = false;
	}
	tj_put_all();
	int status = jobs_stop(&T.d, 30000);
	if (status != 0) {
		fprintf(stderr, "test-write: the daemon exited with status %d\n", status);
		rc = -1;
	}
	if (T.root[0] && harness_remove_tree(T.root) < 0)
		fprintf(stderr, "test-write: could not remove %s\n", T.root);
	if (T.outside[0] && harness_remove_tree(T.outside) < 0)
		fprintf(stderr, "test-write: could not remove %s\n", T.outside);
	T.root[0] = T.outside[0] = '\0';
	if (S.rootfd >= 0)
		close(S.rootfd);
	S.rootfd = -1;
	umask(T.saved_umask);
	return rc;
}

#define TEST(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

/* ------------------------------------------------------------ modes and fields */

static void test_replace_creates_and_replaces(void **state)
{
	(void)state;
	start_write_daemon(NULL);
	const char *path = in_root("hello.txt");

	write_ok(path, "Hello, World!", NULL);
	assert_file_text(path, "Hello, World!");
	assert_mode(path, 0644);

	/* Replaced by a shorter content: nothing of the old one remains. */
	struct json_object *job = run_text(path, "Bye", "{\"mode\":\"replace\"}");
	assert_succeeded(job);
	assert_jstr(job, "result.path", path);
	assert_jint(job, "result.bytes", 3);
	assert_file_text(path, "Bye");

	/* The path as given, with doubled slashes, names the same file. */
	job = run_text(tj_strf("%s//hello.txt", T.root), "again", NULL);
	assert_succeeded(job);
	assert_jstr(job, "result.path", path);
	assert_file_text(path, "again");

	assert_entries(T.root, 1);
	assert_no_temp_files(T.root);
}

/* perm as a string and as a number, under the umask the daemon inherits. */
static void check_perms_under_umask(mode_t mask)
{
	umask(mask);
	start_write_daemon(NULL);

	write_ok(in_root("s0600"), "x", "{\"perm\":\"0600\"}");
	assert_mode(in_root("s0600"), 0600);
	write_ok(in_root("n384"), "x", "{\"perm\":384}");
	assert_mode(in_root("n384"), 0600);
	write_ok(in_root("default"), "x", NULL);
	assert_mode(in_root("default"), 0644);
	write_ok(in_root("s0755"), "x", "{\"perm\":\"755\"}");
	assert_mode(in_root("s0755"), 0755);
	write_ok(in_root("n0"), "x", "{\"perm\":0}");
	assert_mode(in_root("n0"), 0);
	write_ok(in_root("s0777"), "x", "{\"perm\":\"0777\"}");
	assert_mode(in_root("s0777"), 0777);
	/* Replacing an existing file gives it the mode asked for. */
	write_ok(in_root("s0600"), "y", "{\"perm\":\"0640\"}");
	assert_mode(in_root("s0600"), 0640);
	/* create uses the same staging. */
	write_ok(in_root("created"), "x", "{\"mode\":\"create\",\"perm\":\"0604\"}");
	assert_mode(in_root("created"), 0604);
	assert_no_temp_files(T.root);
}

static void test_perm_umask_022(void **state)
{
	(void)state;
	check_perms_under_umask(022);
}

static void test_perm_umask_077(void **state)
{
	(void)state;
	check_perms_under_umask(077);
}

/* append creating a new file: the mode must not depend on the umask either. */
static void test_append_perm_ignores_umask(void **state)
{
	(void)state;
	umask(077);
	start_write_daemon(NULL);
	write_ok(in_root("a0640"), "x", "{\"mode\":\"append\",\"perm\":\"0640\"}");
	write_ok(in_root("adefault"), "x", "{\"mode\":\"append\"}");
	assert_mode(in_root("a0640"), 0640);
	assert_mode(in_root("adefault"), 0644);
}

static void test_perm_invalid(void **state)
{
	(void)state;
	start_write_daemon(NULL);
	static const char *const bad[] = {
		"\"0999\"", "-1", "\"abc\"", "512" /* 01000 */, "\"01000\"", "\"4755\"", "\"\"",
		"true", "420.5", "\"0644x\"", "null", "[420]",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct json_object *r = refuse_text(in_root("p"), "x", tj_strf("{\"perm\":%s}", bad[i]));
		const char *why = jobs_check_rpc_error(r, -32602, "perm", NULL);
		if (why)
			fail_msg("perm %s: %s", bad[i], why);
		tj_put(r);
	}
	assert_entries(T.root, 0);
}

static void test_append_creates_then_appends(void **state)
{
	(void)state;
	start_write_daemon(NULL);
	const char *path = in_root("log.txt");

	struct json_object *job = run_text(path, "one\n", "{\"mode\":\"append\"}");
	assert_succeeded(job);
	assert_jint(job, "result.bytes", 4);
	assert_jstr(job, "result.path", path);
	assert_file_text(path, "one\n");
	assert_mode(path, 0644);
	job = run_text(path, "two\n", "{\"mode\":\"append\",\"fsync\":false}");
	assert_succeeded(job);
	assert_jint(job, "result.bytes", 4);
	job = run_text(path, "three\n", "{\"mode\":\"append\",\"perm\":\"0600\"}");
	assert_succeeded(job);
	assert_file_text(path, "one\ntwo\nthree\n");
	/* perm is for a new file: an existing one keeps its mode. */
	assert_mode(path, 0644);
	/* Appending nothing changes nothing. */
	job = run_text(path, NULL, "{\"mode\":\"append\"}");
	assert_succeeded(job);
	assert_jint(job, "result.bytes", 0);
	assert_file_text(path, "one\ntwo\nthree\n");
	assert_entries(T.root, 1);
}

/* Appends that all find the file missing at once: one creates it, the
 * others append to what it created (none fails with EEXIST). Several
 * rounds, so that the worker threads meet in the window. */
static void test_concurrent_appends_create_once(void **state)
{
	(void)state;
	start_write_daemon(NULL);
	for (int round = 0; round < 20; round++) {
		char name[32], spec[160], params[8192];
		size_t n = 0;
		snprintf(name, sizeof(name), "log-%d.txt", round);
		n += (size_t)snprintf(params + n, sizeof(params) - n, "{\"jobs\":[");
		for (int i = 0; i < 16; i++) {
			snprintf(spec, sizeof(spec),
				 "%s{\"type\":\"write\",\"path\":\"%s\",\"content\":\"x\","
				 "\"mode\":\"append\",\"fsync\":false}", i ? "," : "", in_root(name));
			n += (size_t)snprintf(params + n, sizeof(params) - n, "%s", spec);
		}
		snprintf(params + n, sizeof(params) - n, "]}");
		struct json_object *res =
			tj_take_result(jobs_call(T.d.fd, "job.gather", json_tokener_parse(params)));
		struct json_object *jobs = tj_path(res, "jobs");
		assert_int_equal(json_object_array_length(jobs), 16);
		for (size_t i = 0; i < json_object_array_length(jobs); i++)
			assert_succeeded(json_object_array_get_idx(jobs, i));
		assert_file_text(in_root(name), "xxxxxxxxxxxxxxxx");
	}
}

static void test_create_existing_fails_untouched(void **state)
{
	(void)state;
	start_write_daemon(NULL);
	const char *path = in_root("keep.txt");
	put_file(path, "old content");
	chmod(path, 0600);
	struct stat before, after;
	assert_int_equal(stat(path, &before), 0);

	struct json_object *job = run_text(path, "new content", "{\"mode\":\"create\"}");
	assert_failed(job, "io", "EEXIST");
	assert_non_null(strstr(tj_str(job, "error.message"), path));
	assert_file_text(path, "old content");
	assert_int_equal(stat(path, &after), 0);
	assert_int_equal(before.st_ino, after.st_ino);
	assert_mode(path, 0600);
	/* An empty file counts as existing too. */
	put_file(in_root("empty"), "");
	job = run_text(in_root("empty"), "x", "{\"mode\":\"create\",\"fsync\":false}");
	assert_failed(job, "io", "EEXIST");
	assert_file_text(in_root("empty"), "");
	assert_entries(T.root, 2);
	assert_no_temp_files(T.root);
}

static void test_create_new_file(void **state)
{
	(void)state;
	start_write_daemon(NULL);
	const char *path = in_root("fresh.txt");
	struct json_object *job = run_text(path, "brand new", "{\"mode\":\"create\"}");
	assert_succeeded(job);
	assert_jint(job, "result.bytes", 9);
	assert_jstr(job, "result.path", path);
	assert_file_text(path, "brand new");
	assert_mode(path, 0644);
	/* And a second create of it fails. */
	job = run_text(path, "again", "{\"mode\":\"create\"}");
	assert_failed(job, "io", "EEXIST");
	assert_file_text(path, "brand new");
	assert_entries(T.root, 1);
}

static void test_fsync_false(void **state)
{
	(void)state;
	start_write_daemon(NULL);
	write_ok(in_root("nosync"), "not synced", "{\"fsync\":false}");
	assert_file_text(in_root("nosync"), "not synced");
	write_ok(in_root("nosync"), "replaced", "{\"fsync\":false}");
	assert_file_text(in_root("nosync"), "replaced");
	write_ok(in_root("synced"), "synced", "{\"fsync\":true}");
	assert_file_text(in_root("synced"), "synced");
	assert_entries(T.root, 2);
}

static void test_mkdirs_true_creates_parents(void **state)
{
	(void)state;
	umask(077);
	start_write_daemon(NULL);
	const char *path = in_root("a/b/c/file.txt");

	write_ok(path, "deep", "{\"mkdirs\":true}");
	assert_file_text(path, "deep");
	assert_mode(in_root("a"), 0755);
	assert_mode(in_root("a/b"), 0755);
	assert_mode(in_root("a/b/c"), 0755);
	assert_mode(path, 0644);
	/* Existing directories are used as they are. */
	assert_int_equal(mkdir(in_root("x"), 0700), 0);
	write_ok(in_root("x/y/f"), "f", "{\"mkdirs\":true,\"mode\":\"append\"}");
	assert_mode(in_root("x"), 0700);
	assert_mode(in_root("x/y"), 0755);
	write_ok(in_root("x/y/g"), "g", "{\"mkdirs\":true,\"mode\":\"create\"}");
	assert_file_text(in_root("x/y/g"), "g");
	assert_no_temp_files(in_root("a/b/c"));
}

/* Beneath a set-group-ID directory (a shared root), made directories keep
 * the bit the kernel hands down, so what is written deeper keeps the
 * directory's group. */
static void test_mkdirs_keeps_set_group_id(void **state)
{
	struct stat st;
	(void)state;
	umask(077);
	start_write_daemon(NULL);
	assert_int_equal(mkdir(in_root("shared"), 0755), 0);
	assert_int_equal(chown(in_root("shared"), 0, 61100), 0);
	assert_int_equal(chmod(in_root("shared"), 02775), 0);
	write_ok(in_root("shared/a/b/file.txt"), "deep", "{\"mkdirs\":true}");
	assert_mode(in_root("shared/a"), 02755);
	assert_mode(in_root("shared/a/b"), 02755);
	assert_int_equal(stat(in_root("shared/a/b/file.txt"), &st), 0);
	assert_int_equal(st.st_gid, 61100);
}

static void test_mkdirs_false_fails_enoent(void **state)
{
	(void)state;
	start_write_daemon(NULL);
	static const char *const modes[] = { "replace", "append", "create" };
	for (size_t i = 0; i < 3; i++) {
		const char *path = in_root("missing/file.txt");
		struct json_object *job =
			run_text(path, "x",
				 tj_strf("{\"mode\":\"%s\",\"mkdirs\":false}", modes[i]));
		assert_failed(job, "io", "ENOENT");
		assert_non_null(strstr(tj_str(job, "error.message"), path));
		/* The default is false too. */
		job = run_text(path, "x", tj_strf("{\"mode\":\"%s\"}", modes[i]));
		assert_failed(job, "io", "ENOENT");
	}
	/* A file where a directory should be. */
	put_file(in_root("plain"), "plain");
	struct json_object *job = run_text(in_root("plain/file.txt"), "x", NULL);
	assert_failed(job, "io", "ENOTDIR");
	job = run_text(in_root("plain/sub/file.txt"), "x", "{\"mkdirs\":true}");
	assert_failed(job, "io", "ENOTDIR");
	assert_file_text(in_root("plain"), "plain");
	assert_entries(T.root, 1);
}

static void test_content_with_nul(void **state)
{
	(void)state;
	start_write_daemon(NULL);
	static const char bytes[] = "a\0b\0\0c";   /* 6 bytes */
	const char *path = in_root("nul.bin");

	struct json_object *job = run_write(path, bytes, 6, NULL);
	assert_succeeded(job);
	assert_jint(job, "result.bytes", 6);
	assert_file(path, bytes, 6);
	/* Through the JSON text itself, as a client would send it. */
	job = tj_take_result(jobs_callf(T.d.fd, "job.submit",
					"{\"type\":\"write\",\"path\":\"%s\",\"content\":\"\\u0000x\\u0000\","
					"\"wait\":true}", path));
	assert_succeeded(job);
	assert_jint(job, "result.bytes", 3);
	assert_file(path, "\0x\0", 3);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 3);
}

static void test_content_base64_binary(void **state)
{
	(void)state;
	start_write_daemon(NULL);
	enum { N = 4096 + 2 };   /* not a multiple of 3: padding */
	unsigned char *data = malloc(N);
	char *b64 = malloc(N * 2);
	/* Every byte value, 16 times, shuffled; then two more. */
	for (size_t i = 0; i < 4096; i++)
		data[i] = (unsigned char)i;
	for (size_t i = 4095; i > 0; i--) {
		size_t j = (size_t)(prng() % (i + 1));
		unsigned char t = data[i];
		data[i] = data[j];
		data[j] = t;
	}
	data[4096] = 0;
	data[4097] = 0xff;
	b64[base64_encode(data, N, b64)] = '\0';

	struct json_object *spec = write_spec(in_root("random.bin"), NULL, 0, NULL);
	json_object_object_add(spec, "content_base64", json_object_new_string(b64));
	struct json_object *job = tj_take_result(submit_wait(spec));
	const char *why = jobs_check(job, "succeeded", NULL, NULL);
	bool bytes_ok = tj_int(job, "result.bytes") == N;
	why = why ? why : check_file(in_root("random.bin"), data, N);
	/* One byte, two bytes, and none. */
	spec = write_spec(in_root("one.bin"), NULL, 0, "{\"content_base64\":\"/w==\"}");
	struct json_object *job1 = tj_take_result(submit_wait(spec));
	spec = write_spec(in_root("none.bin"), NULL, 0, "{\"content_base64\":\"\"}");
	struct json_object *job0 = tj_take_result(submit_wait(spec));
	free(data);
	free(b64);
	if (why)
		fail_msg("%s", why);
	assert_true(bytes_ok);
	assert_succeeded(job1);
	assert_jint(job1, "result.bytes", 1);
	assert_file(in_root("one.bin"), "\xff", 1);
	assert_succeeded(job0);
	assert_jint(job0, "result.bytes", 0);
	assert_file(in_root("none.bin"), "", 0);
}

static void test_content_base64_invalid(void **state)
{
	(void)state;
	start_write_daemon(NULL);
	static const char *const bad[] = {
		"\"abc\"", "\"@@@@\"", "\"YQ=\"", "\"Y===\"", "\"YQ==YQ==x\"", "\"aGVsbG8\"", "123",
		"true", "{}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct json_object *r =
			refuse_text(in_root("b"), NULL, tj_strf("{\"content_base64\":%s}", bad[i]));
		const char *why = jobs_check_rpc_error(r, -32602, "content_base64", NULL);
		if (why)
			fail_msg("content_base64 %s: %s", bad[i], why);
		tj_put(r);
	}
	assert_entries(T.root, 0);
}

static void test_content_and_base64_together(void **state)
{
	(void)state;
	start_write_daemon(NULL);
	struct json_object *r = refuse_text(in_root("both"), "text", "{\"content_base64\":\"YQ==\"}");
	assert_rpc_error(r, -32602, "content_base64", "not both");
	/* Even when both are empty. */
	r = refuse_text(in_root("both"), "", "{\"content_base64\":\"\"}");
	assert_rpc_error(r, -32602, "content_base64", NULL);
	assert_entries(T.root, 0);
}

static void test_no_content_empty_file(void **state)
{
	(void)state;
	start_write_daemon(NULL);
	struct json_object *job = run_text(in_root("empty"), NULL, NULL);
	assert_succeeded(job);
	assert_jint(job, "result.bytes", 0);
	assert_file(in_root("empty"), "", 0);
	assert_mode(in_root("empty"), 0644);
	/* Replacing a file with nothing empties it. */
	put_file(in_root("full"), "full");
	job = run_text(in_root("full"), NULL, NULL);
	assert_succeeded(job);
	assert_file(in_root("full"), "", 0);
	/* content "" is the same. */
	write_ok(in_root("empty2"), "", NULL);
	assert_file(in_root("empty2"), "", 0);
	assert_entries(T.root, 3);
}

static void test_other_fields_invalid(void **state)
{
	(void)state;
	start_write_daemon(NULL);
	static const struct {
		const char *extra, *field;
	} bad[] = {
		{ "{\"contents\":\"x\"}", "contents" },
		{ "{\"Mode\":\"append\"}", "Mode" },
		{ "{\"mode\":\"truncate\"}", "mode" },
		{ "{\"mode\":\"\"}", "mode" },
		{ "{\"mode\":1}", "mode" },
		{ "{\"fsync\":\"yes\"}", "fsync" },
		{ "{\"fsync\":1}", "fsync" },
		{ "{\"mkdirs\":\"true\"}", "mkdirs" },
		{ "{\"content\":42}", "content" },
		{ "{\"content\":[\"a\"]}", "content" },
		{ "{\"timeout\":0}", "timeout" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct json_object *r = refuse_text(in_root("f"), NULL, bad[i].extra);
		const char *why = jobs_check_rpc_error(r, -32602, bad[i].field, NULL);
		if (why)
			fail_msg("%s: %s", bad[i].extra, why);
		tj_put(r);
	}
	/* path: missing, empty, not a string. */
	struct json_object *r = refuse_spec(tj_parse("{\"type\":\"write\",\"content\":\"x\"}"));
	assert_rpc_error(r, -32602, "path", NULL);
	r = refuse_spec(tj_parse("{\"type\":\"write\",\"path\":\"\"}"));
	assert_rpc_error(r, -32602, "path", NULL);
	r = refuse_spec(tj_parse("{\"type\":\"write\",\"path\":7}"));
	assert_rpc_error(r, -32602, "path", NULL);
	assert_entries(T.root, 0);
}

static void test_relative_path(void **state)
{
	(void)state;
	start_write_daemon(NULL);
	static const char *const rel[] = { "file.txt", "./file.txt", "sub/file.txt", "~/file.txt" };
	for (size_t i = 0; i < 4; i++) {
		struct json_object *r = refuse_text(rel[i], "x", NULL);
		const char *why = jobs_check_rpc_error(r, -32602, "path", NULL);
		if (why)
			fail_msg("%s: %s", rel[i], why);
		tj_put(r);
	}
	/* The write root itself names no file. */
	struct json_object *r = refuse_text(T.root, "x", NULL);
	assert_rpc_error(r, -32602, "path", "write root");
	r = refuse_text(tj_strf("%s/", T.root), "x", NULL);
	assert_rpc_error(r, -32602, "path", NULL);
	assert_entries(T.root, 0);
}

/* The write roots as configured: nested roots, a root that does not
 * exist, "/" itself, and none at all. */
static void test_write_roots_config(void **state)
{
	(void)state;
	char missing[300];
	snprintf(missing, sizeof(missing), "%s-missing", T.root);
	assert_int_equal(mkdir(in_root("nested"), 0755), 0);
	/* write_roots (the name) adds to the write_root lines. */
	jobs_start(&T.d, "write_root = %s\nwrite_roots = %s/nested/ %s\n", T.root, T.root, missing);
	write_ok(in_root("nested/x"), "nested", NULL);
	assert_file_text(in_root("nested/x"), "nested");
	write_ok(in_root("top"), "top", NULL);
	/* Beneath a root that did not exist at startup: taken, and fails
	 * while the root is missing (mkdirs does not make a root). */
	struct json_object *job = run_write(tj_strf("%s/x", missing), "x", 1, "{\"mkdirs\":true}");
	assert_job(job, "failed", "io", "ENOENT");
	assert_absent(missing);
	tj_put_all();
	int status = jobs_stop(&T.d, 30000);
	assert_int_equal(status, 0);

	/* "/" as the root: the result names the file once, without "//". */
	jobs_start(&T.d, "write_root = /\n");
	write_ok(in_root("slash"), "slash", NULL);
	assert_file_text(in_root("slash"), "slash");
	struct json_object *r = refuse_text("/", "x", NULL);
	assert_rpc_error(r, -32602, "path", NULL);
	tj_put_all();
	status = jobs_stop(&T.d, 30000);
	assert_int_equal(status, 0);

	/* No root configured: the default one (missing or not), and the
	 * refusal names it. */
	jobs_start(&T.d, NULL);
	r = refuse_text(in_root("none"), "x", NULL);
	assert_rpc_error(r, -32003, "path", "outside every write root (write roots: ");
	assert_absent(in_root("none"));
}

static void test_library_write(void **state)
{
	(void)state;
	start_write_daemon(NULL);
	asyncjob *aj = NULL;
	asyncjob_spec *spec = NULL, *specs[3] = { NULL, NULL, NULL };
	asyncjob_job *job = NULL, **jobs = NULL;
	bool ok = false;
	double bytes = 0;
	const char *path = in_root("lib.bin");
	char *outside = strdup(in_outside("lib.bin"));

	assert_int_equal(asyncjob_new(&aj), 0);
	if (asyncjob_connect(aj, T.d.proc.socket) < 0)
		fail_msg("connect: %s", asyncjob_errmsg(aj));

	/* Bytes, NULs included. */
	assert_int_equal(asyncjob_spec_write(path, "lib\0bytes", 9, &spec), 0);
	int r = asyncjob_submit(aj, spec, ASYNCJOB_WAIT, &job);
	asyncjob_spec_free(spec);
	spec = NULL;
	assert_int_equal(r, 0);
	assert_int_equal(asyncjob_job_state(job), ASYNCJOB_SUCCEEDED);
	assert_string_equal(asyncjob_job_type(job), "write");
	assert_string_equal(asyncjob_job_result_string(job, "path"), path);
	assert_int_equal(asyncjob_job_result_number(job, "bytes", &bytes), 0);
	assert_true(bytes == 9);
	asyncjob_job_unref(job);
	job = NULL;
	assert_file(path, "lib\0bytes", 9);

	/* mode create on it: a failed job with code io. */
	assert_int_equal(asyncjob_spec_write(path, "no", 2, &spec), 0);
	assert_int_equal(asyncjob_spec_set_string(spec, "mode", "create"), 0);
	assert_int_equal(asyncjob_spec_set_string(spec, "perm", "0600"), 0);
	r = asyncjob_submit(aj, spec, ASYNCJOB_WAIT, &job);
	asyncjob_spec_free(spec);
	spec = NULL;
	assert_int_equal(r, 0);
	assert_int_equal(asyncjob_job_state(job), ASYNCJOB_FAILED);
	assert_string_equal(asyncjob_job_error_code(job), "io");
	assert_non_null(strstr(asyncjob_job_error_message(job), "EEXIST"));
	asyncjob_job_unref(job);
	job = NULL;
	assert_file(path, "lib\0bytes", 9);

	/* Outside the roots: refused, -32003. */
	assert_int_equal(asyncjob_spec_write(outside, "x", 1, &spec), 0);
	r = asyncjob_submit(aj, spec, ASYNCJOB_WAIT, &job);
	asyncjob_spec_free(spec);
	spec = NULL;
	assert_int_equal(r, -EREMOTEIO);
	assert_int_equal(asyncjob_rpc_error_code(aj), ASYNCJOB_RPC_FORBIDDEN);
	assert_non_null(strstr(asyncjob_rpc_error_data(aj), "\"path\""));
	/* An unknown field set through the library: -32602. */
	assert_int_equal(asyncjob_spec_write(path, "x", 1, &spec), 0);
	assert_int_equal(asyncjob_spec_set_bool(spec, "sync", false), 0);
	r = asyncjob_submit(aj, spec, ASYNCJOB_WAIT, &job);
	asyncjob_spec_free(spec);
	spec = NULL;
	assert_int_equal(r, -EREMOTEIO);
	assert_int_equal(asyncjob_rpc_error_code(aj), ASYNCJOB_RPC_INVALID_PARAMS);

	/* A gather of three: append twice to one file, and mkdirs. */
	assert_int_equal(asyncjob_spec_write(in_root("g/one"), "1", 1, &specs[0]), 0);
	assert_int_equal(asyncjob_spec_set_bool(specs[0], "mkdirs", true), 0);
	assert_int_equal(asyncjob_spec_write(in_root("two"), "2", 1, &specs[1]), 0);
	assert_int_equal(asyncjob_spec_set_bool(specs[1], "fsync", false), 0);
	assert_int_equal(asyncjob_spec_write(in_root("three"), "33", 2, &specs[2]), 0);
	assert_int_equal(asyncjob_spec_set_number(specs[2], "perm", 0600), 0);
	r = asyncjob_gather(aj, specs, 3, 0, 0, &jobs, &ok);
	for (int i = 0; i < 3; i++)
		asyncjob_spec_free(specs[i]);
	assert_int_equal(r, 0);
	assert_true(ok);
	for (int i = 0; i < 3; i++)
		assert_int_equal(asyncjob_job_state(jobs[i]), ASYNCJOB_SUCCEEDED);
	assert_null(jobs[3]);
	asyncjob_jobs_free(jobs);
	assert_file_text(in_root("g/one"), "1");
	assert_file_text(in_root("two"), "2");
	assert_file_text(in_root("three"), "33");
	assert_mode(in_root("three"), 0600);
	asyncjob_free(aj);
	assert_absent(outside);
	free(outside);
}

/* ------------------------------------------------------------ atomic replace */

static struct {
	char path[300];
	size_t size;
	atomic_long reads, seen_a, seen_b, bad;
	char first_bad[256];
} R;

static void reader_bad(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void reader_bad(const char *fmt, ...)
{
	if (atomic_fetch_add(&R.bad, 1) == 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(R.first_bad, sizeof(R.first_bad), fmt, ap);
		va_end(ap);
	}
}

static void *reader_main(void *arg)
{
	(void)arg;
	size_t cap = R.size * 2;
	unsigned char *buf = malloc(cap);

	while (!atomic_load(&T.stop)) {
		int fd = open(R.path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			reader_bad("open: %s", strerror(errno));
			continue;
		}
		size_t n = 0;
		ssize_t k;
		while (n < cap && ((k = read(fd, buf + n, cap - n)) > 0 || (k < 0 && errno == EINTR)))
			if (k > 0)
				n += (size_t)k;
		close(fd);
		atomic_fetch_add(&R.reads, 1);
		if (n != R.size) {
			reader_bad("read %zu bytes, expected %zu", n, R.size);
			continue;
		}
		unsigned char c = buf[0];
		size_t i = 1;
		while (i < n && buf[i] == c)
			i++;
		if (i != n)
			reader_bad("a mix: '%c' up to byte %zu, then '%c'", c, i, buf[i]);
		else if (c == 'A')
			atomic_fetch_add(&R.seen_a, 1);
		else if (c == 'B')
			atomic_fetch_add(&R.seen_b, 1);
		else
			reader_bad("unexpected byte 0x%02x", c);
	}
	free(buf);
	return NULL;
}

static void test_atomic_replace_concurrent_reader(void **state)
{
	(void)state;
	enum { SIZE = 64 * 1024, ROUNDS = 500 };
	start_write_daemon(NULL);
	char *a = malloc(SIZE), *b = malloc(SIZE);
	memset(a, 'A', SIZE);
	memset(b, 'B', SIZE);
	snprintf(R.path, sizeof(R.path), "%s", in_root("target"));
	R.size = SIZE;
	atomic_store(&R.reads, 0);
	atomic_store(&R.seen_a, 0);
	atomic_store(&R.seen_b, 0);
	atomic_store(&R.bad, 0);
	R.first_bad[0] = '\0';

	/* The first write, before the reader starts: from then on the file
	 * always exists. */
	struct json_object *job = run_write(R.path, a, SIZE, NULL);
	const char *why = jobs_check(job, "succeeded", NULL, NULL);
	if (!why) {
		assert_int_equal(pthread_create(&T.thread, NULL, reader_main, NULL), 0);
		T.thread_up = true;
	}
	int failed_round = -1;
	for (int i = 1; i <= ROUNDS && !why; i++) {
		tj_put(job);
		job = run_write(R.path, i % 2 ? b : a, SIZE, NULL);
		why = jobs_check(job, "succeeded", NULL, NULL);
		if (why)
			failed_round = i;
		else if (tj_int(job, "result.bytes") != SIZE)
			why = "wrong result.bytes";
	}
	/* Let the reader see the final state a few times. */
	long reads_at_end = atomic_load(&R.reads);
	for (int i = 0; i < 1000 && atomic_load(&R.reads) < reads_at_end + 10; i++)
		harness_sleep_ms(1);
	atomic_store(&T.stop, true);
	if (T.thread_up) {
		pthread_join(T.thread, NULL);
		T.thread_up = false;
	}
	free(a);
	free(b);
	if (why)
		fail_msg("round %d: %s", failed_round, why);

	print_message("atomic replace: %d replacements, %ld reads: %ld whole A, %ld whole B, %ld bad\n",
		      ROUNDS, atomic_load(&R.reads), atomic_load(&R.seen_a), atomic_load(&R.seen_b),
		      atomic_load(&R.bad));
	if (atomic_load(&R.bad))
		fail_msg("the reader saw %ld torn or missing file(s); the first: %s",
			 atomic_load(&R.bad), R.first_bad);
	assert_true(atomic_load(&R.seen_a) > 0);
	assert_true(atomic_load(&R.seen_b) > 0);
	/* 500 is even: the last content written was A. */
	char *want = malloc(SIZE);
	memset(want, 'A', SIZE);
	why = check_file(R.path, want, SIZE);
	free(want);
	if (why)
		fail_msg("%s", why);
	assert_entries(T.root, 1);
	assert_no_temp_files(T.root);
}

/* ------------------------------------------------------------ the path matrix */

static const char *const all_modes[] = { "replace", "append", "create" };

/* The outside directory holds `secret` with its content, and nothing else. */
static void put_secret(void)
{
	put_file(in_outside("secret"), "outside secret");
}

static void assert_outside_untouched(void)
{
	assert_file_text(in_outside("secret"), "outside secret");
	assert_entries(T.outside, 1);
}

/* Each mode (and with mkdirs) fails the job with `code` and `needle`. */
static void assert_every_mode_fails(const char *path, const char *code, const char *needle)
{
	for (size_t i = 0; i < 3; i++) {
		for (int mk = 0; mk < 2; mk++) {
			struct json_object *job = run_text(
				path, "intruder",
				tj_strf("{\"mode\":\"%s\",\"mkdirs\":%s,\"timeout\":20}",
					all_modes[i], mk ? "true" : "false"));
			const char *why = jobs_check(job, "failed", code, needle);
			if (why)
				fail_msg("%s, mode %s%s: %s", path, all_modes[i], mk ? ", mkdirs" : "",
					 why);
			tj_put(job);
		}
	}
}

static void test_matrix_dotdot(void **state)
{
	(void)state;
	start_write_daemon(NULL);
	put_secret();
	const char *paths[] = {
		tj_strf("%s/../%s/secret", T.root, strrchr(T.outside, '/') + 1),
		tj_strf("%s/a/../b", T.root),
		tj_strf("%s/..", T.root),
		tj_strf("%s/./x", T.root),
		tj_strf("%s/sub/..", T.root),
	};
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		struct json_object *r = refuse_text(paths[i], "x", NULL);
		const char *why = jobs_check_rpc_error(r, -32602, "path", "..");
		if (why)
			fail_msg("%s: %s", paths[i], why);
		tj_put(r);
	}
	/* A name that merely starts with dots is a name. */
	write_ok(in_root("..hidden"), "dots", NULL);
	write_ok(in_root("..."), "dots", NULL);
	assert_outside_untouched();
	assert_entries(T.root, 2);
}

static void test_matrix_absolute_outside(void **state)
{
	(void)state;
	start_write_daemon(NULL);
	put_secret();
	const char *paths[] = {
		in_outside("secret"),
		in_outside("new"),
		tj_strf("%s-sibling/x", T.root),   /* a prefix of the root is not the root */
		"/etc/asyncjob-write-test",
		"/x",
	};
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		struct json_object *r = refuse_text(paths[i], "x", "{\"mkdirs\":true}");
		const char *why =
			jobs_check_rpc_error(r, -32003, "path", "outside every write root");
		if (why)
			fail_msg("%s: %s", paths[i], why);
		/* It names the path and where one may write instead. */
		const char *reason = tj_str(r, "error.data.reason");
		if (!strstr(reason, paths[i]) || !strstr(reason, tj_strf("(write roots: %s)", T.root)))
			fail_msg("the reason names neither the path nor the roots: %s", reason);
		tj_put(r);
	}
	assert_absent("/etc/asyncjob-write-test");
	assert_absent(tj_strf("%s-sibling", T.root));
	assert_outside_untouched();
	assert_entries(T.root, 0);
}

/* A write root missing at start is listed by daemon.info, refuses
 * nothing at submit, and is used as soon as it exists: no SIGHUP. */
static void test_root_made_after_start(void **state)
{
	(void)state;
	const char *late = tj_strf("%s-late", T.root);
	start_write_daemon(tj_strf("write_root = %s\n", late));
	struct json_object *info = tj_take_result(jobs_call(T.d.fd, "daemon.info", NULL));
	assert_jstr(info, "write_roots.0.path", T.root);
	assert_jbool(info, "write_roots.0.open", true);
	assert_jstr(info, "write_roots.1.path", late);
	assert_jbool(info, "write_roots.1.open", false);

	struct json_object *job = run_write(tj_strf("%s/x.txt", late), "early", 5, NULL);
	assert_job(job, "failed", "io", "ENOENT");
	assert_int_equal(mkdir(late, 0755), 0);
	job = run_write(tj_strf("%s/x.txt", late), "made", 4, NULL);
	assert_jstr(job, "state", "succeeded");
	assert_file_text(tj_strf("%s/x.txt", late), "made");
	info = tj_take_result(jobs_call(T.d.fd, "daemon.info", NULL));
	assert_jbool(info, "write_roots.1.open", true);
	assert_int_equal(unlink(tj_strf("%s/x.txt", late)), 0);
	assert_int_equal(rmdir(late), 0);
}

static void test_matrix_symlink_last_outside(void **state)
{
	(void)state;
	start_write_daemon(NULL);
	put_secret();
	assert_int_equal(symlink(in_outside("secret"), in_root("link")), 0);

	assert_every_mode_fails(in_root("link"), "forbidden", "ELOOP");
	struct json_object *job = run_text(in_root("link"), "x", NULL);
	assert_failed(job, "forbidden", "symlink");
	assert_outside_untouched();
	struct stat st;
	assert_int_equal(lstat(in_root("link"), &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	assert_entries(T.root, 1);
}

static void test_matrix_symlink_middle(void **state)
{
	(void)state;
	start_write_daemon(NULL);
	put_secret();
	assert_int_equal(mkdir(in_root("sub"), 0755), 0);
	assert_int_equal(symlink(T.outside, in_root("out")), 0);
	assert_int_equal(symlink(in_root("sub"), in_root("in")), 0);   /* even inside */
	assert_int_equal(symlink("sub", in_root("rel")), 0);
	assert_int_equal(symlink(T.outside, in_root("sub/deep")), 0);

	assert_every_mode_fails(in_root("out/secret"), "forbidden", "ELOOP");
	assert_every_mode_fails(in_root("out/new"), "forbidden", "ELOOP");
	assert_every_mode_fails(in_root("out/newdir/new"), "forbidden", "ELOOP");
	assert_every_mode_fails(in_root("in/new"), "forbidden", "ELOOP");
	assert_every_mode_fails(in_root("rel/new"), "forbidden", "ELOOP");
	assert_every_mode_fails(in_root("sub/deep/new"), "forbidden", "ELOOP");
	assert_every_mode_fails(in_root("sub/deep/a/b/new"), "forbidden", "ELOOP");
	assert_outside_untouched();
	assert_entries(in_root("sub"), 1);
	assert_entries(T.root, 4);
}

static void test_matrix_dangling_symlink_last(void **state)
{
	(void)state;
	start_write_daemon(NULL);
	put_secret();
	assert_int_equal(symlink(in_outside("created"), in_root("dangling")), 0);
	assert_int_equal(symlink("nowhere", in_root("dangling-rel")), 0);

	assert_every_mode_fails(in_root("dangling"), "forbidden", "ELOOP");
	assert_every_mode_fails(in_root("dangling-rel"), "forbidden", "ELOOP");
	assert_absent(in_outside("created"));
	assert_absent(in_root("nowhere"));
	assert_outside_untouched();
	assert_entries(T.root, 2);
}

static void test_matrix_fifo_target(void **state)
{
	(void)state;
	start_write_daemon(NULL);
	assert_int_equal(mkfifo(in_root("fifo"), 0644), 0);
	bool have_dev = mknod(in_root("null"), S_IFCHR | 0666, makedev(1, 3)) == 0;

	/* The job timeout is only a safety net: a hang fails with "timeout". */
	assert_every_mode_fails(in_root("fifo"), "forbidden", "only regular files");
	if (have_dev)
		assert_every_mode_fails(in_root("null"), "forbidden", "only regular files");
	/* Unblock a writer that a broken daemon might have left in open(). */
	int rfd = open(in_root("fifo"), O_RDONLY | O_NONBLOCK);
	if (rfd >= 0)
		close(rfd);
	struct stat st;
	assert_int_equal(lstat(in_root("fifo"), &st), 0);
	assert_true(S_ISFIFO(st.st_mode));
	if (have_dev) {
		assert_int_equal(lstat(in_root("null"), &st), 0);
		assert_true(S_ISCHR(st.st_mode));
	}
	assert_entries(T.root, have_dev ? 2 : 1);
	jobs_assert_serves(&T.d);
}

static void test_matrix_directory_target(void **state)
{
	(void)state;
	start_write_daemon(NULL);
	assert_int_equal(mkdir(in_root("dir"), 0755), 0);
	put_file(in_root("dir/inside"), "inside");

	assert_every_mode_fails(in_root("dir"), "io", "EISDIR");
	/* With a trailing slash the path names a directory: refused at once. */
	struct json_object *r = refuse_text(tj_strf("%s/dir/", T.root), "x", NULL);
	assert_rpc_error(r, -32602, "path", "ends with '/'");
	assert_file_text(in_root("dir/inside"), "inside");
	assert_entries(in_root("dir"), 1);
	assert_entries(T.root, 1);
}

static void test_matrix_long_component(void **state)
{
	(void)state;
	start_write_daemon(NULL);
	char name[300];

	/* 255 bytes is a name (and its temporary file's name fits). */
	memset(name, 'n', 255);
	name[255] = '\0';
	write_ok(in_root(name), "longest", NULL);
	assert_file_text(in_root(name), "longest");
	/* 256 is not, last or in the middle. */
	memset(name, 'n', 256);
	name[256] = '\0';
	struct json_object *r = refuse_text(in_root(name), "x", NULL);
	assert_rpc_error(r, -32602, "path", "NAME_MAX");
	r = refuse_text(tj_strf("%s/%s/file", T.root, name), "x", "{\"mkdirs\":true}");
	assert_rpc_error(r, -32602, "path", "NAME_MAX");
	assert_entries(T.root, 1);
	assert_no_temp_files(T.root);
}

static void test_matrix_longer_than_path_max(void **state)
{
	(void)state;
	start_write_daemon(NULL);
	/* ROOT/ccc.../ccc.../... of exactly `len` bytes. */
	size_t lens[] = { PATH_MAX, PATH_MAX + 1, 5000, 70000 };
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		size_t len = lens[i];
		char *p = malloc(len + 1);
		size_t n = (size_t)snprintf(p, len + 1, "%s", T.root);
		while (n < len) {
			p[n++] = '/';
			for (int k = 0; k < 100 && n < len; k++)
				p[n++] = 'c';
		}
		if (p[len - 1] == '/')
			p[len - 1] = 'c';
		p[len] = '\0';
		struct json_object *r = refuse_spec(write_spec(p, "x", 1, "{\"mkdirs\":true}"));
		free(p);
		const char *why = jobs_check_rpc_error(r, -32602, "path", NULL);
		if (why)
			fail_msg("a path of %zu bytes: %s", len, why);
		tj_put(r);
	}
	assert_entries(T.root, 0);
}

static void test_matrix_embedded_nul(void **state)
{
	(void)state;
	start_write_daemon(NULL);
	struct json_object *r = jobs_callf(T.d.fd, "job.submit",
					   "{\"type\":\"write\",\"path\":\"%s/a\\u0000b\",\"content\":\"x\","
					   "\"wait\":true}", T.root);
	assert_rpc_error(r, -32602, "path", "NUL");
	r = jobs_callf(T.d.fd, "job.submit",
		       "{\"type\":\"write\",\"path\":\"%s/d\\u0000/../../etc/x\",\"content\":\"x\","
		       "\"mkdirs\":true,\"wait\":true}", T.root);
	assert_rpc_error(r, -32602, "path", NULL);
	assert_entries(T.root, 0);
}

/* Hard links: replace puts a new file in place of the link and leaves the
 * other name's content alone; append is refused. */
static void test_matrix_hardlink_replace(void **state)
{
	(void)state;
	start_write_daemon(NULL);
	put_secret();
	if (link(in_outside("secret"), in_root("hl")) < 0)
		skip();   /* another filesystem, or protected_hardlinks */
	write_ok(in_root("hl"), "inside", NULL);
	assert_file_text(in_root("hl"), "inside");
	struct json_object *job = run_text(in_root("hl"), "x", "{\"mode\":\"create\"}");
	assert_failed(job, "io", "EEXIST");
	assert_outside_untouched();
	/* An append would change the other name's content too: refused. */
	assert_int_equal(unlink(in_root("hl")), 0);
	assert_int_equal(link(in_outside("secret"), in_root("hl")), 0);
	job = run_text(in_root("hl"), "x", "{\"mode\":\"append\"}");
	assert_failed(job, "forbidden", "EMLINK");
	assert_failed(job, "forbidden", "other hard links");
	assert_outside_untouched();
}

/* ------------------------------------------------------------ EACCES */

/* Root writes past permission bits through CAP_DAC_OVERRIDE. The EACCES
 * test's daemon starts without it (gone from the bounding and inheritable
 * sets, which are all a root exec takes capabilities from), so that root,
 * as CI runs the tests, meets the permission bits as an ordinary user does.
 * An ordinary user has nothing to drop. Runs in the forked child. */
static void without_dac_override(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2];

	if (geteuid() != 0)
		return;
	if (syscall(SYS_capget, &hdr, data) == 0) {
		data[0].inheritable &= ~(1u << CAP_DAC_OVERRIDE);
		(void)syscall(SYS_capset, &hdr, data);
	}
	(void)prctl(PR_CAPBSET_DROP, CAP_DAC_OVERRIDE, 0, 0, 0);
}

/* Whether process `pid` has capability `cap` in its effective set. */
static bool has_capability(pid_t pid, int cap)
{
	FILE *f = fopen(tj_strf("/proc/%ld/status", (long)pid), "r");
	char line[256];
	unsigned long long eff = 0;
	bool found = false;

	if (!f)
		fail_msg("/proc/%ld/status: %s", (long)pid, strerror(errno));
	while (!found && fgets(line, sizeof(line), f))
		found = sscanf(line, "CapEff: %llx", &eff) == 1;
	fclose(f);
	if (!found)
		fail_msg("no CapEff line in /proc/%ld/status", (long)pid);
	return (eff >> cap) & 1;
}

/* EACCES, which the issue lists: a directory the daemon may not write in
 * and a file it may not open for writing fail the job with code io and
 * EACCES in the message. As an ordinary user that is what the permission
 * bits give; as root only without CAP_DAC_OVERRIDE (with it every write
 * here succeeds), so the daemon is started without it. Where it cannot be
 * dropped (no CAP_SETPCAP, in some containers) the test skips. A read-only
 * mount would give EROFS and chattr +i EPERM, neither of them EACCES. */
static void test_eacces(void **state)
{
	(void)state;
	harness_start_with(&T.d.proc, tj_strf("write_root = %s\n", T.root), without_dac_override);
	T.d.fd = raw_connect(T.d.proc.socket);
	assert_true(T.d.fd >= 0);
	if (has_capability(T.d.proc.pid, CAP_DAC_OVERRIDE)) {
		print_message("the daemon could not be started without CAP_DAC_OVERRIDE: skipped\n");
		skip();
	}
	assert_int_equal(mkdir(in_root("locked"), 0555), 0);
	assert_int_equal(chmod(in_root("locked"), 0555), 0);
	put_file(in_root("readonly"), "as it was");
	assert_int_equal(chmod(in_root("readonly"), 0444), 0);

	/* No new file in a directory without write permission, in any mode,
	 * nor a directory made there. */
	assert_every_mode_fails(in_root("locked/new"), "io", "EACCES");
	struct json_object *job = run_text(in_root("locked/sub/file"), "x", "{\"mkdirs\":true}");
	assert_failed(job, "io", "EACCES");
	/* No append to a file without write permission. */
	job = run_text(in_root("readonly"), "more", "{\"mode\":\"append\"}");
	assert_failed(job, "io", "EACCES");
	assert_failed(job, "io", "readonly");
	assert_entries(in_root("locked"), 0);
	assert_file_text(in_root("readonly"), "as it was");
	jobs_assert_serves(&T.d);
}

/* ------------------------------------------------------------ race: swapped directory */

static int swap_once(void)
{
	if (S.exchange)
		return renameat2(S.rootfd, "d", S.rootfd, "d.link", RENAME_EXCHANGE);
	/* Two renames: d is briefly missing (such jobs fail with io ENOENT). */
	struct stat st;
	if (fstatat(S.rootfd, "d", &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -1;
	if (S_ISDIR(st.st_mode)) {
		if (renameat(S.rootfd, "d", S.rootfd, "d.real") < 0 ||
		    renameat(S.rootfd, "d.link", S.rootfd, "d") < 0)
			return -1;
	} else {
		if (renameat(S.rootfd, "d", S.rootfd, "d.link") < 0 ||
		    renameat(S.rootfd, "d.real", S.rootfd, "d") < 0)
			return -1;
	}
	return 0;
}

static void *swapper_main(void *arg)
{
	(void)arg;
	while (!atomic_load(&T.stop)) {
		if (swap_once() < 0) {
			atomic_store(&S.err, errno);
			break;
		}
		atomic_fetch_add(&S.swaps, 1);
		/* A short sleep in either state: without it the swapper's
		 * preemption, not the swapping, decides what most lookups meet
		 * (all one state for a whole time slice). */
		struct timespec ts = { 0, 10000 };
		nanosleep(&ts, NULL);
	}
	return NULL;
}

/* After the swapper stopped: ROOT/d is the real directory again. */
static void restore_real_dir(void)
{
	struct stat st;
	if (lstat(in_root("d"), &st) == 0 && S_ISDIR(st.st_mode))
		return;
	assert_int_equal(swap_once(), 0);
	assert_int_equal(lstat(in_root("d"), &st), 0);
	assert_true(S_ISDIR(st.st_mode));
}

static void test_race_directory_swapped_for_symlink(void **state)
{
	(void)state;
	enum { N_FLAT = 3000, N_MKDIRS = 1000 };
	start_write_daemon("max_request_bytes = 8M\n");
	assert_int_equal(mkdir(in_root("d"), 0755), 0);
	assert_int_equal(symlink(T.outside, in_root("d.link")), 0);
	S.rootfd = open(T.root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	assert_true(S.rootfd >= 0);
	S.exchange = renameat2(S.rootfd, "d", S.rootfd, "d.link", RENAME_EXCHANGE) == 0;
	if (S.exchange)
		restore_real_dir();
	atomic_store(&S.swaps, 0);
	atomic_store(&S.err, 0);

	/* Round one: ROOT/d/fileN without mkdirs (openat2); round two:
	 * ROOT/d/mN/file with mkdirs (the component-by-component walk). */
	struct json_object *params = json_object_new_object();
	struct json_object *list = json_object_new_array();
	for (int i = 0; i < N_FLAT + N_MKDIRS; i++) {
		bool mk = i >= N_FLAT;
		const char *path = mk ? in_root(tj_strf("d/m%d/file", i)) : in_root(tj_strf("d/file%d", i));
		const char *content = tj_strf("content of job %d\n", i);
		struct json_object *spec = write_spec(path, content, strlen(content),
						      mk ? "{\"fsync\":false,\"mkdirs\":true}"
							 : "{\"fsync\":false,\"mkdirs\":false}");
		json_object_array_add(list, spec);
	}
	json_object_object_add(params, "jobs", list);

	assert_int_equal(pthread_create(&T.thread, NULL, swapper_main, NULL), 0);
	T.thread_up = true;
	/* Make sure the swapping is under way before the writes start. */
	for (int i = 0; i < 5000 && atomic_load(&S.swaps) < 10 && !atomic_load(&S.err); i++)
		harness_sleep_ms(1);
	long swaps_before = atomic_load(&S.swaps);
	struct json_object *res = tj_take_result(jobs_call(T.d.fd, "job.gather", params));
	long swaps_during = atomic_load(&S.swaps) - swaps_before;
	atomic_store(&T.stop, true);
	pthread_join(T.thread, NULL);
	T.thread_up = false;
	if (atomic_load(&S.err))
		fail_msg("swapping: %s", strerror(atomic_load(&S.err)));
	restore_real_dir();
	close(S.rootfd);
	S.rootfd = -1;

	/* Nothing at all outside. */
	if (harness_count_entries(T.outside, "") != 0)
		fail_msg("files were written OUTSIDE the write root: %s", list_dir(T.outside));

	struct json_object *jobs = tj_path(res, "jobs");
	assert_int_equal(json_object_array_length(jobs), N_FLAT + N_MKDIRS);
	int ok[2] = { 0, 0 }, forbidden[2] = { 0, 0 }, io[2] = { 0, 0 };
	for (int i = 0; i < N_FLAT + N_MKDIRS; i++) {
		struct json_object *job = json_object_array_get_idx(jobs, (size_t)i);
		bool mk = i >= N_FLAT;
		const char *rel = mk ? tj_strf("d/m%d/file", i) : tj_strf("d/file%d", i);
		const char *st = tj_str(job, "state"), *code = tj_str(job, "error.code");
		if (st && !strcmp(st, "succeeded")) {
			ok[mk]++;
			assert_jstr(job, "result.path", in_root(rel));
			const char *why = check_file(in_root(rel),
						     tj_strf("content of job %d\n", i),
						     strlen(tj_strf("content of job %d\n", i)));
			if (why)
				fail_msg("job %d succeeded but %s", i, why);
			continue;
		}
		if (!st || strcmp(st, "failed") || !code ||
		    (strcmp(code, "forbidden") && strcmp(code, "io")))
			fail_msg("job %d: neither succeeded nor failed with forbidden/io: %.2000s", i,
				 json_object_to_json_string(job));
		if (!strcmp(code, "forbidden")) {
			forbidden[mk]++;
			assert_job(job, "failed", "forbidden", "paths may not lead through symlinks");
		} else {
			io[mk]++;
		}
		assert_absent(in_root(rel));
	}
	print_message("race: %ld swaps during the gather (%s); without mkdirs: %d succeeded, "
		      "%d forbidden, %d io; with mkdirs: %d succeeded, %d forbidden, %d io\n",
		      swaps_during, S.exchange ? "RENAME_EXCHANGE" : "two renames",
		      ok[0], forbidden[0], io[0], ok[1], forbidden[1], io[1]);
	/* Everything that succeeded is in the real directory, and nothing else. */
	assert_entries(in_root("d"), ok[0] + ok[1]);
	assert_no_temp_files(in_root("d"));
	if (harness_count_entries(T.outside, "") != 0)
		fail_msg("files were written OUTSIDE the write root: %s", list_dir(T.outside));
	jobs_assert_serves(&T.d);
}

/* ------------------------------------------------------------ ENOSPC on a tmpfs */

/* Runs a command and returns its exit status (-1 when it could not run). */
static int run_quietly(char *const argv[])
{
	pid_t pid = fork();
	int status;

	if (pid < 0)
		return -1;
	if (pid == 0) {
		int fd = open("/dev/null", O_RDWR);
		if (fd >= 0) {
			dup2(fd, 0);
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execv(argv[0], argv);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

#define TMPFS_SCRIPT "mount -t tmpfs -o size=256k tmpfs \"$1\""

/* Like harness_start, with the daemon in a mount namespace of its own
 * where its write root (T.mnt) is a 256 KiB tmpfs: unshare runs sh, which
 * mounts it and execs the daemon (so the pid is the daemon's). Returns
 * false when unshare or mount is not permitted here. */
static bool start_daemon_on_tmpfs(void)
{
	struct daemon_proc *p = &T.d.proc;
	const char *bin = getenv("ASYNCJOBD");

	if (!bin)
		fail_msg("ASYNCJOBD is not set (run the tests with make check)");
	memset(p, 0, sizeof(*p));
	snprintf(p->dir, sizeof(p->dir), "/tmp/asyncjob-test-XXXXXX");
	if (!mkdtemp(p->dir)) {
		p->dir[0] = '\0';
		fail_msg("mkdtemp: %s", strerror(errno));
	}
	chmod(p->dir, 0755);
	snprintf(p->socket, sizeof(p->socket), "%s/asyncjobd.sock", p->dir);
	snprintf(p->config, sizeof(p->config), "%s/asyncjobd.conf", p->dir);
	snprintf(p->log, sizeof(p->log), "%s/asyncjobd.log", p->dir);
	snprintf(T.mnt, sizeof(T.mnt), "%s/tmpfs", p->dir);
	assert_int_equal(mkdir(T.mnt, 0755), 0);

	/* Is it permitted at all? (The mount vanishes with its namespace.) */
	if (access("/usr/bin/unshare", X_OK) < 0)
		return false;
	char *probe[] = { "/usr/bin/unshare", "--mount", "sh", "-c", TMPFS_SCRIPT, "sh", T.mnt, NULL };
	if (run_quietly(probe) != 0)
		return false;

	FILE *f = fopen(p->config, "w");
	assert_non_null(f);
	fprintf(f, "log_level = debug\nwrite_root = %s\nmax_request_bytes = 8M\n"
		"state_directory = %s/state\n", T.mnt, p->dir);
	fclose(f);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fd = open(p->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd >= 0) {
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
			close(fd);
		}
		execl("/usr/bin/unshare", "unshare", "--mount", "sh", "-c",
		      TMPFS_SCRIPT " && exec \"$2\" -c \"$3\" -s \"$4\"", "sh", T.mnt, bin, p->config,
		      p->socket, (char *)NULL);
		_exit(127);
	}
	p->pid = pid;
	for (int i = 0; i < 3000; i++) {
		int fd = raw_connect(p->socket);
		if (fd >= 0) {
			T.d.fd = fd;
			return true;
		}
		int status;
		if (waitpid(pid, &status, WNOHANG) == pid) {
			p->pid = 0;
			harness_dump_log(p);
			fail_msg("the daemon in its mount namespace exited during startup (status %d)",
				 WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
		}
		harness_sleep_ms(10);
	}
	harness_dump_log(p);
	fail_msg("the daemon in its mount namespace did not answer within 30 s");
	return false;
}

static void test_enospc_small_tmpfs(void **state)
{
	(void)state;
	if (!start_daemon_on_tmpfs())
		skip();   /* unshare --mount or mount -t tmpfs not permitted here */
	enum { BIG = 1024 * 1024, SMALL = 200 * 1024 };
	/* The tmpfs as the daemon sees it. */
	char inside[PATH_MAX];
	snprintf(inside, sizeof(inside), "/proc/%ld/root%s", (long)T.d.proc.pid, T.mnt);
	char *big = malloc(BIG), *small = malloc(SMALL);
	memset(big, 'x', BIG);
	memset(small, 's', SMALL);
	const char *keep = tj_strf("%s/keep.txt", T.mnt);

	write_ok(keep, "keep", NULL);
	/* A new file: fails with io ENOSPC, nothing left. */
	struct json_object *j1 = run_write(tj_strf("%s/big.bin", T.mnt), big, BIG, NULL);
	/* Replacing keep.txt: fails, keep.txt as it was. */
	struct json_object *j2 = run_write(keep, big, BIG, NULL);
	/* create: the same. */
	struct json_object *j3 = run_write(tj_strf("%s/new.bin", T.mnt), big, BIG,
					   "{\"mode\":\"create\",\"fsync\":false}");
	/* With mkdirs: the directories it made go too. */
	struct json_object *j3d = run_write(tj_strf("%s/made/dirs/big.bin", T.mnt), big, BIG,
					    "{\"mkdirs\":true}");
	const char *why = jobs_check(j1, "failed", "io", "ENOSPC");
	if (!why)
		why = jobs_check(j2, "failed", "io", "ENOSPC");
	if (!why)
		why = jobs_check(j3, "failed", "io", "ENOSPC");
	if (!why)
		why = jobs_check(j3d, "failed", "io", "ENOSPC");
	free(big);
	if (why) {
		free(small);
		fail_msg("%s", why);
	}
	assert_non_null(strstr(tj_str(j1, "error.message"), "big.bin"));

	/* Inside the daemon's namespace: keep.txt alone, unchanged. */
	int n = harness_count_entries(inside, "");
	const char *names = list_dir(inside);
	if (n != 1) {
		free(small);
		fail_msg("%d entries on the tmpfs after ENOSPC, expected keep.txt alone: %s", n, names);
	}
	why = check_file(tj_strf("%s/keep.txt", inside), "keep", 4);
	if (why) {
		free(small);
		fail_msg("%s", why);
	}
	/* The space is free again: 200 KiB of 256 fit only if nothing of the
	 * failed writes still holds blocks. */
	struct json_object *j4 = run_write(tj_strf("%s/small.bin", T.mnt), small, SMALL, NULL);
	why = jobs_check(j4, "succeeded", NULL, NULL);
	if (!why)
		why = check_file(tj_strf("%s/small.bin", inside), small, SMALL);
	free(small);
	if (why)
		fail_msg("%s", why);
	assert_jint(j4, "result.bytes", SMALL);
	assert_entries(inside, 2);
	/* Nothing was written to the directory beneath the mount. */
	assert_entries(T.mnt, 0);
	/* The daemon is fine. */
	struct json_object *info = jobs_daemon_info(&T.d);
	assert_jint(info, "jobs.failed", 4);
	assert_jint(info, "jobs.succeeded", 2);
	/* append has no staging: it fails with ENOSPC too, and takes back
	 * what fitted, so keep.txt is as it was. */
	big = malloc(BIG);
	memset(big, 'x', BIG);
	struct json_object *j5 = run_write(keep, big, BIG, "{\"mode\":\"append\"}");
	free(big);
	assert_failed(j5, "io", "ENOSPC");
	why = check_file(tj_strf("%s/keep.txt", inside), "keep", 4);
	if (why)
		fail_msg("after the failed append: %s", why);
	assert_entries(inside, 2);
	jobs_assert_serves(&T.d);
	print_message("ENOSPC: 4 writes of 1 MiB (replace, new file, create, mkdirs) failed with io "
		      "ENOSPC on a 256 KiB tmpfs, leaving no file, temp file or directory; a 200 KiB "
		      "write succeeded after them; a 1 MiB append failed with ENOSPC and was taken "
		      "back\n");
}

/* ------------------------------------------------------------ past the file-size limit */

/* Lowers the running daemon's RLIMIT_FSIZE (prlimit, as its own user may):
 * a write that grows a file past it fails with EFBIG half way, a failure
 * in the middle of writing that needs no special filesystem or privilege. */
static void limit_daemon_file_size(rlim_t bytes)
{
	struct rlimit lim;
	assert_int_equal(prlimit(T.d.proc.pid, RLIMIT_FSIZE, NULL, &lim), 0);
	lim.rlim_cur = bytes;
	if (prlimit(T.d.proc.pid, RLIMIT_FSIZE, &lim, NULL) < 0)
		fail_msg("prlimit RLIMIT_FSIZE on the daemon: %s", strerror(errno));
}

/* A mkdirs write that fails before its commit point takes away the
 * directories it made, and only those. */
static void test_mkdirs_failed_write_leaves_no_dirs(void **state)
{
	(void)state;
	enum { LIMIT = 64 * 1024, BIG = 1024 * 1024 };
	/* RLIMIT_FSIZE is the whole process's: jobs.db would hit it too. */
	start_write_daemon("max_request_bytes = 8M\nstore = memory\n");
	limit_daemon_file_size(LIMIT);
	char *big = malloc(BIG);
	memset(big, 'b', BIG);
	assert_int_equal(mkdir(in_root("old"), 0755), 0);
	assert_int_equal(mkdir(in_root("busy"), 0755), 0);
	put_file(in_root("busy/someone-elses"), "x");

	struct json_object *jobs[4] = {
		run_write(in_root("new/a/b/big"), big, BIG, "{\"mkdirs\":true}"),
		run_write(in_root("old/x/y/big"), big, BIG, "{\"mkdirs\":true,\"mode\":\"create\"}"),
		run_write(in_root("old/z/big"), big, BIG, "{\"mkdirs\":true,\"fsync\":false}"),
		run_write(in_root("busy/big"), big, BIG, "{\"mkdirs\":true}"),
	};
	free(big);
	for (size_t i = 0; i < 4; i++)
		assert_failed(jobs[i], "io", "EFBIG");
	assert_absent(in_root("new"));
	assert_entries(in_root("old"), 0);
	assert_entries(in_root("busy"), 1);
	assert_entries(T.root, 2);

	/* What fits is written, its directories made and kept. */
	write_ok(in_root("new/a/b/small"), "small", "{\"mkdirs\":true}");
	assert_file_text(in_root("new/a/b/small"), "small");
	jobs_assert_serves(&T.d);
}

/* An append that fails half way takes back what it wrote (the fallback
 * for test_enospc_small_tmpfs, which skips where no tmpfs can be mounted):
 * the file is as it was, and one the append created is left empty. */
static void test_append_failing_half_way_is_undone(void **state)
{
	(void)state;
	enum { LIMIT = 64 * 1024, BIG = 1024 * 1024 };
	/* RLIMIT_FSIZE is the whole process's: jobs.db would hit it too. */
	start_write_daemon("max_request_bytes = 8M\nstore = memory\n");
	limit_daemon_file_size(LIMIT);
	char *big = malloc(BIG);
	memset(big, 'a', BIG);
	put_file(in_root("log"), "start\n");

	struct json_object *j1 = run_write(in_root("log"), big, BIG, "{\"mode\":\"append\"}");
	struct json_object *j2 = run_write(in_root("fresh"), big, BIG, "{\"mode\":\"append\"}");
	free(big);
	assert_failed(j1, "io", "EFBIG");
	assert_failed(j2, "io", "EFBIG");
	assert_file_text(in_root("log"), "start\n");
	assert_file_text(in_root("fresh"), "");
	/* What fits is appended. */
	write_ok(in_root("log"), "more\n", "{\"mode\":\"append\"}");
	assert_file_text(in_root("log"), "start\nmore\n");
}

/* ------------------------------------------------------------ scale */

static void test_gather_10000_writes(void **state)
{
	(void)state;
	enum { N = 10000 };
	start_write_daemon("max_gather_jobs = 20000\nmax_request_bytes = 8M\n");
	struct json_object *params = json_object_new_object();
	struct json_object *list = json_object_new_array();
	for (int i = 0; i < N; i++) {
		/* Distinct contents of distinct lengths. */
		char content[128];
		int len = snprintf(content, sizeof(content), "file %d:", i);
		for (int k = 0; k < i % 37; k++)
			content[len++] = (char)('a' + (i + k) % 26);
		struct json_object *spec =
			write_spec(in_root(tj_strf("f%05d", i)), content, (size_t)len, "{\"fsync\":false}");
		json_object_array_add(list, spec);
	}
	json_object_object_add(params, "jobs", list);
	struct json_object *res = tj_take_result(jobs_call(T.d.fd, "job.gather", params));
	struct json_object *jobs = tj_path(res, "jobs");
	assert_int_equal(json_object_array_length(jobs), N);
	for (int i = 0; i < N; i++) {
		struct json_object *job = json_object_array_get_idx(jobs, (size_t)i);
		char content[128];
		int len = snprintf(content, sizeof(content), "file %d:", i);
		for (int k = 0; k < i % 37; k++)
			content[len++] = (char)('a' + (i + k) % 26);
		const char *why = jobs_check(job, "succeeded", NULL, NULL);
		if (!why && tj_int(job, "result.bytes") != len)
			why = "wrong result.bytes";
		if (!why && strcmp(tj_str(job, "result.path"), in_root(tj_strf("f%05d", i))))
			why = "wrong result.path";
		if (!why)
			why = check_file(in_root(tj_strf("f%05d", i)), content, (size_t)len);
		if (why)
			fail_msg("job %d: %s", i, why);
	}
	assert_jbool(res, "ok", true);
	assert_entries(T.root, N);
	struct json_object *info = jobs_daemon_info(&T.d);
	assert_jint(info, "jobs.succeeded", N);
	assert_jint(info, "jobs.queued", 0);
	assert_jint(info, "jobs.running", 0);
}

/* ------------------------------------------------------------ queue, cancel, limits */

static void test_queued_writes_and_cancel(void **state)
{
	(void)state;
	enum { N = 40 };
	start_write_daemon("io_threads = 1\n");
	assert_int_equal(mkdir(in_root("q"), 0755), 0);
	int64_t first = tj_int(jobs_daemon_info(&T.d), "jobs.next_id");

	/* One batch: N fsync'ed writes, then job.list, then a cancel of the
	 * last write. With one I/O thread only the first can be running while
	 * the daemon reads the rest. */
	size_t cap = 65536, len = 0;
	char *batch = malloc(cap);
	for (int i = 0; i < N + 2; i++) {
		char *line;
		if (i < N) {
			const char *content = tj_strf("queued write %d\n", i);
			line = jobs_request_text(1000 + i, "job.submit",
						 write_spec(in_root(tj_strf("q/file%d", i)),
							    content, strlen(content),
							    "{\"fsync\":true}"));
		} else if (i == N) {
			line = jobs_request_text(2000, "job.list",
						 tj_parse("{\"state\":\"queued\",\"type\":\"write\"}"));
		} else {
			line = jobs_request_text(2001, "job.cancel",
						 tj_parse(tj_strf("{\"id\":%" PRId64 "}", first + N - 1)));
		}
		size_t n = strlen(line);
		assert_true(len + n + 1 < cap);
		memcpy(batch + len, line, n);
		batch[len + n] = '\n';
		len += n + 1;
		free(line);
	}
	int r = raw_send_bytes(T.d.fd, batch, len);
	free(batch);
	assert_int_equal(r, 0);

	/* Replies in order. */
	uint64_t ids[N - 1];
	int queued_at_submit = 0;
	for (int i = 0; i < N; i++) {
		struct json_object *job =
			tj_take_result(jobs_recv_reply(T.d.fd, 1000 + i, "job.submit"));
		assert_int_equal(tj_int(job, "id"), first + i);
		const char *st = tj_str(job, "state");
		if (st && !strcmp(st, "queued"))
			queued_at_submit++;
		if (i < N - 1)
			ids[i] = (uint64_t)(first + i);
		tj_put(job);
	}
	struct json_object *listed = tj_take_result(jobs_recv_reply(T.d.fd, 2000, "job.list"));
	struct json_object *cancel = jobs_recv_reply(T.d.fd, 2001, "job.cancel");
	size_t n_queued = json_object_array_length(tj_path(listed, "jobs"));
	print_message("queued: %d of %d writes were queued when submitted; job.list showed %zu "
		      "queued\n", queued_at_submit, N, n_queued);
	if (n_queued < 1)
		fail_msg("job.list showed no queued write: %.2000s", json_object_to_json_string(listed));
	for (size_t i = 0; i < n_queued; i++)
		assert_jstr(json_object_array_get_idx(tj_path(listed, "jobs"), i), "state", "queued");

	/* The canceled one never started. */
	struct json_object *canceled = tj_take_result(cancel);
	assert_job(canceled, "canceled", "canceled", NULL);
	assert_jint(canceled, "id", first + N - 1);
	assert_jabsent(canceled, "started_at");

	/* The others all complete. */
	struct json_object *wparams = json_object_new_object();
	struct json_object *arr = json_object_new_array();
	for (int i = 0; i < N - 1; i++)
		json_object_array_add(arr, json_object_new_int64((int64_t)ids[i]));
	json_object_object_add(wparams, "ids", arr);
	struct json_object *waited = tj_take_result(jobs_call(T.d.fd, "job.wait", wparams));
	assert_jbool(waited, "timed_out", false);
	for (int i = 0; i < N - 1; i++) {
		struct json_object *job = json_object_array_get_idx(tj_path(waited, "jobs"), (size_t)i);
		assert_succeeded(job);
		const char *content = tj_strf("queued write %d\n", i);
		assert_file_text(in_root(tj_strf("q/file%d", i)), content);
	}
	assert_absent(in_root(tj_strf("q/file%d", N - 1)));
	struct json_object *again = tj_take_result(
		jobs_callf(T.d.fd, "job.get", "{\"id\":%" PRId64 "}", first + N - 1));
	assert_job(again, "canceled", "canceled", NULL);
	assert_entries(in_root("q"), N - 1);
	assert_no_temp_files(in_root("q"));
	/* Canceling a finished write: -32004. */
	struct json_object *late = jobs_callf(T.d.fd, "job.cancel", "{\"id\":%" PRId64 "}", first);
	assert_rpc_error(late, -32004, NULL, NULL);
	struct json_object *info = jobs_daemon_info(&T.d);
	assert_jint(info, "jobs.queued", 0);
	assert_jint(info, "jobs.running", 0);
	assert_jint(info, "jobs.canceled", 1);
}

/* Until job `id` has left the queue. */
static void wait_until_started(int64_t id)
{
	for (int tries = 0;; tries++) {
		struct json_object *job = tj_take_result(
			jobs_callf(T.d.fd, "job.get", "{\"id\":%" PRId64 "}", id));
		if (strcmp(tj_str(job, "state"), "queued") != 0)
			return;
		if (tries == 3000)
			fail_msg("job %" PRId64 " was still queued after 30 s", id);
		harness_sleep_ms(10);
	}
}

/* A running mkdirs write canceled: either it stopped before its commit
 * point (canceled, no trace: no file, no temporary file, no directory) or
 * it was committing (-32004, then it succeeds). Which one is up to timing
 * here; tests/unit/test-write-fsync holds the worker to cancel before the
 * commit point every time. */
static void test_cancel_running_write(void **state)
{
	(void)state;
	enum { SIZE = 4 * 1024 * 1024, ROUNDS = 5 };
	start_write_daemon("io_threads = 1\nmax_request_bytes = 16M\n");
	char *big = malloc(SIZE);
	memset(big, 'r', SIZE);
	int n_canceled = 0, n_finishing = 0;
	const char *why = NULL;

	for (int round = 0; round < ROUNDS && !why; round++) {
		const char *made = in_root(tj_strf("made%d", round));
		const char *path = in_root(tj_strf("made%d/sub/big", round));
		struct json_object *spec = write_spec(path, big, SIZE,
						      "{\"fsync\":true,\"mkdirs\":true}");
		struct json_object *job = tj_take_result(jobs_call(T.d.fd, "job.submit", spec));
		int64_t id = tj_int(job, "id");
		/* With a durable store a job starts once its record is on disk,
		 * after the reply to the submit. */
		wait_until_started(id);
		struct json_object *reply = jobs_callf(T.d.fd, "job.cancel", "{\"id\":%" PRId64 "}", id);
		if (tj_path(reply, "result")) {
			n_canceled++;
			why = jobs_check(tj_path(reply, "result"), "canceled", "canceled", NULL);
			if (!why && !tj_path(reply, "result.started_at"))
				why = "the canceled write had not started";
			/* The worker removes its temporary file and directories
			 * at the commit point; a following write on the one
			 * thread runs after. */
			if (!why) {
				struct json_object *after = run_text(in_root("after"), "after", NULL);
				why = jobs_check(after, "succeeded", NULL, NULL);
			}
			struct stat st;
			if (!why && lstat(made, &st) == 0)
				why = tj_strf("a canceled write left %s", list_dir(made));
		} else {
			n_finishing++;
			why = jobs_check_rpc_error(reply, -32004, NULL, NULL);
			if (!why) {
				struct json_object *w = tj_take_result(jobs_callf(
					T.d.fd, "job.wait", "{\"ids\":[%" PRId64 "]}", id));
				struct json_object *final = json_object_array_get_idx(tj_path(w, "jobs"), 0);
				why = jobs_check(final, "succeeded", NULL, NULL);
				if (!why)
					why = check_file(path, big, SIZE);
			}
		}
	}
	free(big);
	print_message("cancel running: %d canceled before the commit point, %d past it\n",
		      n_canceled, n_finishing);
	if (why)
		fail_msg("%s", why);
	assert_no_temp_files(T.root);
	jobs_assert_serves(&T.d);
}

/* append commits at once (its first byte): a running append canceled is
 * either stopped before it opened the file (canceled, nothing appended) or
 * past that point (-32004, then all of it is appended). */
static void test_cancel_running_append(void **state)
{
	(void)state;
	enum { SIZE = 4 * 1024 * 1024, ROUNDS = 4 };
	start_write_daemon("max_request_bytes = 16M\n");
	const char *path = in_root("appended");
	put_file(path, "start\n");
	char *big = malloc(SIZE);
	memset(big, 'a', SIZE);
	size_t expected = 6;
	int n_canceled = 0, n_finishing = 0;
	const char *why = NULL;

	for (int round = 0; round < ROUNDS && !why; round++) {
		struct json_object *spec = write_spec(path, big, SIZE, "{\"mode\":\"append\"}");
		int64_t id = tj_int(tj_take_result(jobs_call(T.d.fd, "job.submit", spec)), "id");
		struct json_object *reply = jobs_callf(T.d.fd, "job.cancel", "{\"id\":%" PRId64 "}", id);
		struct json_object *w = tj_take_result(jobs_callf(T.d.fd, "job.wait", "{\"ids\":[%" PRId64 "]}", id));
		struct json_object *final = json_object_array_get_idx(tj_path(w, "jobs"), 0);
		if (tj_path(reply, "result")) {
			n_canceled++;
			why = jobs_check(final, "canceled", "canceled", NULL);
		} else {
			n_finishing++;
			why = jobs_check_rpc_error(reply, -32004, NULL, NULL);
			if (!why)
				why = jobs_check(final, "succeeded", NULL, NULL);
			expected += SIZE;
		}
		/* One more write to it: the canceled one's worker is done. */
		if (!why) {
			struct json_object *after = run_text(path, NULL, "{\"mode\":\"append\"}");
			why = jobs_check(after, "succeeded", NULL, NULL);
		}
		struct stat st;
		if (!why && (stat(path, &st) < 0 || (size_t)st.st_size != expected))
			why = tj_strf("%s holds %lld bytes after round %d, expected %zu", path,
				      (long long)st.st_size, round, expected);
	}
	free(big);
	print_message("cancel running append: %d canceled before opening the file, %d past it "
		      "(-32004)\n", n_canceled, n_finishing);
	if (why)
		fail_msg("%s", why);
	assert_entries(T.root, 1);
}

/* A job timeout on a running write: failed with "timeout" and no trace, or
 * (past the commit point) succeeded with the whole content. */
static void test_timeout_running_write(void **state)
{
	(void)state;
	enum { SIZE = 4 * 1024 * 1024, ROUNDS = 3 };
	start_write_daemon("io_threads = 1\nmax_request_bytes = 16M\n");
	char *big = malloc(SIZE);
	memset(big, 't', SIZE);
	int n_timeout = 0, n_done = 0;
	const char *why = NULL;

	for (int round = 0; round < ROUNDS && !why; round++) {
		const char *path = in_root(tj_strf("t%d", round));
		struct json_object *job = run_write(path, big, SIZE, "{\"timeout\":0.001}");
		const char *st = tj_str(job, "state");
		if (st && !strcmp(st, "failed")) {
			n_timeout++;
			why = jobs_check(job, "failed", "timeout", NULL);
			if (!why) {
				struct json_object *after = run_text(in_root("after"), "after", NULL);
				why = jobs_check(after, "succeeded", NULL, NULL);
			}
			struct stat sb;
			if (!why && lstat(path, &sb) == 0)
				why = "a write that timed out left its file";
		} else {
			n_done++;
			why = jobs_check(job, "succeeded", NULL, NULL);
			if (!why)
				why = check_file(path, big, SIZE);
		}
		if (!why && count_temp_files(T.root) != 0)
			why = tj_strf("temporary files left: %s", list_dir(T.root));
	}
	free(big);
	print_message("timeout on running writes: %d timed out, %d finished\n", n_timeout, n_done);
	if (why)
		fail_msg("%s", why);
}

/* Checks the jobs of a gather of writes to ROOT/<dir>/fileI (content
 * "write I\n"): a succeeded job wrote its whole file, any other left none;
 * counts succeeded, failed and canceled (code `cancel_code`). */
static void check_write_outcomes(struct json_object *jobs, const char *dir, int skip_index,
				 const char *cancel_code, int counts[3])
{
	size_t n = json_object_array_length(jobs);
	counts[0] = counts[1] = counts[2] = 0;
	for (size_t i = 0; i < n; i++) {
		if ((int)i == skip_index)
			continue;
		struct json_object *job = json_object_array_get_idx(jobs, i);
		const char *path = in_root(tj_strf("%s/file%zu", dir, i));
		const char *st = tj_str(job, "state"), *why;
		if (st && !strcmp(st, "succeeded")) {
			counts[0]++;
			why = check_file(path, tj_strf("write %zu\n", i), strlen(tj_strf("write %zu\n", i)));
		} else if (st && !strcmp(st, "canceled")) {
			counts[2]++;
			why = jobs_check(job, "canceled", cancel_code, NULL);
			struct stat sb;
			if (!why && lstat(path, &sb) == 0)
				why = "a canceled write left its file";
		} else {
			counts[1]++;
			why = "neither succeeded nor canceled";
		}
		if (why)
			fail_msg("job %zu: %s: %.2000s", i, why, json_object_to_json_string(job));
	}
}

static struct json_object *gather_params(int n, const char *dir, int bad_index, const char *extra)
{
	struct json_object *params = tj_parse(extra ? extra : "{}");
	struct json_object *list = json_object_new_array();
	for (int i = 0; i < n; i++) {
		const char *content = tj_strf("write %d\n", i);
		const char *path = i == bad_index ? in_root("missing/file")
						  : in_root(tj_strf("%s/file%d", dir, i));
		json_object_array_add(list, write_spec(path, content, strlen(content), NULL));
	}
	json_object_object_add(params, "jobs", list);
	return params;
}

/* fail_fast: the first failing write cancels the others; with one I/O
 * thread those before it are done and those after it still queued. */
static void test_gather_fail_fast_writes(void **state)
{
	(void)state;
	enum { N = 300, BAD = 100 };
	start_write_daemon("io_threads = 1\n");
	assert_int_equal(mkdir(in_root("g"), 0755), 0);
	struct json_object *res = tj_take_result(jobs_call(
		T.d.fd, "job.gather", gather_params(N, "g", BAD, "{\"fail_fast\":true}")));
	assert_jbool(res, "ok", false);
	struct json_object *jobs = tj_path(res, "jobs");
	assert_int_equal(json_object_array_length(jobs), N);
	assert_failed(json_object_array_get_idx(jobs, BAD), "io", "ENOENT");
	int counts[3];
	check_write_outcomes(jobs, "g", BAD, "canceled", counts);
	print_message("fail_fast: %d succeeded, %d canceled\n", counts[0], counts[2]);
	for (int i = 0; i < BAD; i++)
		assert_succeeded(json_object_array_get_idx(jobs, (size_t)i));
	assert_job(json_object_array_get_idx(jobs, N - 1), "canceled", "canceled", NULL);
	assert_entries(in_root("g"), counts[0]);
	assert_no_temp_files(in_root("g"));
	assert_absent(in_root("missing"));
	struct json_object *info = jobs_daemon_info(&T.d);
	assert_jint(info, "jobs.queued", 0);
	assert_jint(info, "jobs.running", 0);
}

/* SIGTERM while writes run and wait: the daemon answers the gather, exits
 * 0, and leaves whole files for the writes that succeeded, nothing else. */
static void test_shutdown_during_writes(void **state)
{
	(void)state;
	enum { N = 1000 };
	/* A daemon that cancels on shutdown; resuming is test-store.sh's. */
	start_write_daemon("io_threads = 2\non_shutdown = cancel\n");
	assert_int_equal(mkdir(in_root("s"), 0755), 0);
	int64_t id = jobs_next_id();
	char *text = jobs_request_text(id, "job.gather", gather_params(N, "s", -1, NULL));
	int r = raw_send(T.d.fd, text);
	free(text);
	assert_int_equal(r, 0);
	/* Some have been written (fsync'ed, so it takes a while). */
	for (int i = 0; i < 3000 && harness_count_entries(in_root("s"), "file") < 10; i++)
		harness_sleep_ms(10);
	assert_int_equal(kill(T.d.proc.pid, SIGTERM), 0);
	struct json_object *res = tj_take_result(jobs_recv_reply(T.d.fd, id, "job.gather"));
	int status = harness_wait(&T.d.proc, 30000);
	if (status != 0)
		fail_msg("the daemon exited with status %d after SIGTERM", status);
	int counts[3];
	check_write_outcomes(tj_path(res, "jobs"), "s", -1, "shutdown", counts);
	print_message("shutdown: %d writes succeeded, %d canceled with code shutdown\n", counts[0],
		      counts[2]);
	assert_true(counts[0] >= 10);
	assert_true(counts[2] > 0);
	assert_entries(in_root("s"), counts[0]);
	assert_no_temp_files(in_root("s"));
}

static void test_max_pending_write_bytes(void **state)
{
	(void)state;
	enum { MIB = 1024 * 1024 };
	start_write_daemon("max_pending_write_bytes = 1M\nmax_request_bytes = 8M\n");
	char *data = malloc(2 * MIB);
	memset(data, 'p', 2 * MIB);

	struct json_object *r2 = submit_wait(write_spec(in_root("two"), data, 2 * MIB, NULL));
	struct json_object *r1p = submit_wait(write_spec(in_root("over"), data, MIB + 1, NULL));
	struct json_object *r1 = submit_wait(write_spec(in_root("one"), data, MIB, NULL));
	const char *why = jobs_check_rpc_error(r2, -32002, NULL, "max_pending_write_bytes");
	if (!why)
		why = jobs_check_rpc_error(r1p, -32002, NULL, NULL);
	if (!why && !tj_path(r1, "result"))
		why = "exactly max_pending_write_bytes was refused";
	if (!why)
		why = check_file(in_root("one"), data, MIB);
	free(data);
	if (why)
		fail_msg("%s", why);
	assert_jstr(r2, "error.data.limit", "max_pending_write_bytes");
	assert_jint(r2, "error.data.value", MIB);
	assert_jstr(r1p, "error.data.limit", "max_pending_write_bytes");
	assert_succeeded(tj_path(r1, "result"));
	assert_absent(in_root("two"));
	assert_absent(in_root("over"));
	assert_entries(T.root, 1);
	/* Once written, the bytes are no longer pending. */
	write_ok(in_root("after"), "after", NULL);
}

/* ------------------------------------------------------------ the CLI */

/* Runs `asyncjob -s SOCKET ARGS...` (NULL-terminated) in `cwd` (NULL: here)
 * with stdin from `stdin_path` (NULL: /dev/null). Returns its exit status;
 * its output is in T.cli_out and T.cli_err. */
static int run_cli(const char *cwd, const char *stdin_path, ...)
{
	const char *cli = getenv("ASYNCJOB_CLI");
	char *argv[32];
	int argc = 0;
	va_list ap;

	if (!cli)
		fail_msg("ASYNCJOB_CLI is not set (run the tests with make check)");
	argv[argc++] = (char *)cli;
	argv[argc++] = "-s";
	argv[argc++] = T.d.proc.socket;
	va_start(ap, stdin_path);
	const char *a;
	while ((a = va_arg(ap, const char *)) && argc < 31)
		argv[argc++] = (char *)a;
	va_end(ap);
	argv[argc] = NULL;

	char out[300], err[300];
	snprintf(out, sizeof(out), "%s/cli.out", T.d.proc.dir);
	snprintf(err, sizeof(err), "%s/cli.err", T.d.proc.dir);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int in = open(stdin_path ? stdin_path : "/dev/null", O_RDONLY);
		int o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int e = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (in < 0 || o < 0 || e < 0)
			_exit(126);
		dup2(in, 0);
		dup2(o, 1);
		dup2(e, 2);
		if (cwd && chdir(cwd) < 0)
			_exit(126);
		execv(cli, argv);
		_exit(127);
	}
	int status = 0;
	bool done = false;
	for (int i = 0; i < 6000 && !done; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			done = true;
		else
			harness_sleep_ms(10);
	}
	if (!done) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
	}
	size_t n;
	unsigned char *o = read_file(out, &n);
	snprintf(T.cli_out, sizeof(T.cli_out), "%s", o ? (char *)o : "");
	free(o);
	unsigned char *e = read_file(err, &n);
	snprintf(T.cli_err, sizeof(T.cli_err), "%s", e ? (char *)e : "");
	free(e);
	if (!done)
		fail_msg("the CLI did not exit within 60 s; stderr: %s", T.cli_err);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

#define assert_cli(expected, ...)                                                        \
	do {                                                                             \
		int rc_ = run_cli(__VA_ARGS__, (const char *)NULL);                      \
		if (rc_ != (expected))                                                   \
			fail_msg("the CLI exited %d, expected %d; stdout: %s; stderr: %s", \
				 rc_, (expected), T.cli_out, T.cli_err);                 \
	} while (0)

static void test_cli_write_text(void **state)
{
	(void)state;
	start_write_daemon(NULL);
	const char *path = in_root("example.txt");
	assert_cli(0, NULL, NULL, "write", path, "Hello, World!");
	assert_string_equal(T.cli_out, "");
	assert_file_text(path, "Hello, World!");
	assert_mode(path, 0644);
	/* Replaced; --json prints the job. */
	assert_cli(0, NULL, NULL, "write", "--json", path, "Bye");
	assert_file_text(path, "Bye");
	struct json_object *job = tj_track(tj_parse(T.cli_out));
	assert_succeeded(job);
	assert_jstr(job, "result.path", path);
	assert_jint(job, "result.bytes", 3);
	/* Outside the roots: refused by the daemon (exit 4). */
	assert_cli(4, NULL, NULL, "write", in_outside("x"), "x");
	assert_absent(in_outside("x"));
	/* A failed job: exit 1, the errno name on stderr. */
	assert_cli(1, NULL, NULL, "write", in_root("no/such/dir"), "x");
	assert_non_null(strstr(T.cli_err, "ENOENT"));
	assert_entries(T.root, 1);
}

static void test_cli_write_stdin_binary(void **state)
{
	(void)state;
	start_write_daemon(NULL);
	enum { N = 256 * 64 + 1 };
	unsigned char *data = malloc(N);
	for (size_t i = 0; i < N; i++)
		data[i] = (unsigned char)(prng() >> 24);
	for (size_t i = 0; i < 256; i++)
		data[i * 64] = (unsigned char)i;   /* every byte value */
	const char *in = tj_strf("%s/stdin.bin", T.d.proc.dir);
	FILE *f = fopen(in, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, N, f), N);
	fclose(f);

	int rc = run_cli(NULL, in, "write", in_root("dash.bin"), "-", (const char *)NULL);
	int rc2 = rc == 0 ? run_cli(NULL, in, "write", in_root("implicit.bin"), (const char *)NULL) : -1;
	const char *why = rc == 0 && rc2 == 0 ? check_file(in_root("dash.bin"), data, N) : "exit status";
	if (!why)
		why = check_file(in_root("implicit.bin"), data, N);
	free(data);
	if (why)
		fail_msg("%s (exit %d, %d; stderr: %s)", why, rc, rc2, T.cli_err);
	/* Empty stdin: an empty file. */
	assert_cli(0, NULL, NULL, "write", in_root("empty.bin"), "-");
	assert_file(in_root("empty.bin"), "", 0);
}

static void test_cli_append(void **state)
{
	(void)state;
	start_write_daemon(NULL);
	const char *path = in_root("log.txt");
	assert_cli(0, NULL, NULL, "write", "--append", path, "one;");
	assert_cli(0, NULL, NULL, "write", "--append", path, "two;");
	assert_cli(0, NULL, NULL, "write", "-a", path, "three");
	assert_file_text(path, "one;two;three");
}

static void test_cli_create(void **state)
{
	(void)state;
	start_write_daemon(NULL);
	const char *path = in_root("once.txt");
	assert_cli(0, NULL, NULL, "write", "--create", path, "first");
	assert_file_text(path, "first");
	assert_cli(1, NULL, NULL, "write", "--create", path, "second");
	assert_non_null(strstr(T.cli_err, "EEXIST"));
	assert_cli(1, NULL, NULL, "write", "-c", path, "third");
	assert_file_text(path, "first");
	assert_entries(T.root, 1);
}

static void test_cli_options(void **state)
{
	(void)state;
	umask(077);
	start_write_daemon(NULL);
	assert_cli(0, NULL, NULL, "write", "--no-fsync", in_root("nosync"), "fast");
	assert_file_text(in_root("nosync"), "fast");
	assert_cli(0, NULL, NULL, "write", "--perm", "0600", in_root("private"), "secret");
	assert_file_text(in_root("private"), "secret");
	assert_mode(in_root("private"), 0600);
	assert_cli(0, NULL, NULL, "write", "--perm=0640", in_root("group"), "g");
	assert_mode(in_root("group"), 0640);
	assert_cli(2, NULL, NULL, "write", "--perm", "999", in_root("bad"), "x");
	assert_cli(2, NULL, NULL, "write", "--perm", "01000", in_root("bad"), "x");
	/* --mode was the permissions; one word, one meaning: it says so. */
	assert_cli(2, NULL, NULL, "write", "--mode", "0600", in_root("bad"), "x");
	assert_non_null(strstr(T.cli_err, "the permissions are --perm 0600"));
	assert_absent(in_root("bad"));
	assert_cli(0, NULL, NULL, "write", "--mkdirs", in_root("x/y/z.txt"), "deep");
	assert_file_text(in_root("x/y/z.txt"), "deep");
	assert_mode(in_root("x"), 0755);
	assert_mode(in_root("x/y"), 0755);
	assert_cli(0, NULL, NULL, "write", "-p", "--no-fsync", "--perm", "0604", in_root("p/q"), "q");
	assert_mode(in_root("p/q"), 0604);
	assert_cli(1, NULL, NULL, "write", in_root("m/n.txt"), "no mkdirs");
	assert_non_null(strstr(T.cli_err, "ENOENT"));
	assert_absent(in_root("m"));
	/* Usage errors. */
	assert_cli(2, NULL, NULL, "write");
	assert_cli(2, NULL, NULL, "write", in_root("a"), "b", "c");
}

static void test_cli_relative_path(void **state)
{
	(void)state;
	start_write_daemon(NULL);
	assert_int_equal(mkdir(in_root("sub"), 0755), 0);
	assert_cli(0, T.root, NULL, "write", "rel.txt", "relative");
	assert_file_text(in_root("rel.txt"), "relative");
	assert_cli(0, in_root("sub"), NULL, "write", "--mkdirs", "a/b.txt", "nested");
	assert_file_text(in_root("sub/a/b.txt"), "nested");
	/* "." and ".." mean what they mean to the shell; the daemon gets
	 * the path they lead to. */
	assert_cli(0, in_root("sub"), NULL, "write", "../up.txt", "up");
	assert_file_text(in_root("up.txt"), "up");
	assert_cli(0, in_root("sub"), NULL, "write", "./dot.txt", "dot");
	assert_file_text(in_root("sub/dot.txt"), "dot");
	assert_cli(0, in_root("sub"), NULL, "write", "--mkdirs", "./new/./deep/../c.txt", "c");
	assert_file_text(in_root("sub/new/c.txt"), "c");
	/* Through a symlink, ".." goes up from where the link leads (outside
	 * the roots: refused), not back to where it looks as if it were. */
	assert_int_equal(symlink(T.outside, in_root("out")), 0);
	assert_cli(4, T.root, NULL, "write", "out/../z.txt", "z");
	assert_absent(in_root("z.txt"));
	/* Relative to a directory outside the roots: refused. */
	assert_cli(4, T.outside, NULL, "write", "x.txt", "x");
	assert_entries(T.outside, 0);
}

static void test_cli_gather(void **state)
{
	(void)state;
	start_write_daemon(NULL);
	assert_cli(0, T.root, NULL, "gather", "write a.txt one", "write b.txt two words");
	assert_file_text(in_root("a.txt"), "one");
	assert_file_text(in_root("b.txt"), "two words");
	/* One failing write: exit 1, the other still written. */
	assert_cli(1, T.root, NULL, "gather", "write c.txt three", "write missing/d.txt four");
	assert_file_text(in_root("c.txt"), "three");
	assert_absent(in_root("missing"));
	assert_entries(T.root, 3);
}

/* ------------------------------------------------------------ main */

int main(void)
{
	const struct CMUnitTest tests[] = {
		/* modes and fields */
		TEST(test_replace_creates_and_replaces),
		TEST(test_perm_umask_022),
		TEST(test_perm_umask_077),
		TEST(test_append_perm_ignores_umask),
		TEST(test_perm_invalid),
		TEST(test_append_creates_then_appends),
		TEST(test_concurrent_appends_create_once),
		TEST(test_create_existing_fails_untouched),
		TEST(test_create_new_file),
		TEST(test_fsync_false),
		TEST(test_mkdirs_true_creates_parents),
		TEST(test_mkdirs_keeps_set_group_id),
		TEST(test_mkdirs_false_fails_enoent),
		TEST(test_content_with_nul),
		TEST(test_content_base64_binary),
		TEST(test_content_base64_invalid),
		TEST(test_content_and_base64_together),
		TEST(test_no_content_empty_file),
		TEST(test_other_fields_invalid),
		TEST(test_relative_path),
		TEST(test_write_roots_config),
		TEST(test_root_made_after_start),
		TEST(test_library_write),
		/* atomicity */
		TEST(test_atomic_replace_concurrent_reader),
		/* the path matrix */
		TEST(test_matrix_dotdot),
		TEST(test_matrix_absolute_outside),
		TEST(test_matrix_symlink_last_outside),
		TEST(test_matrix_symlink_middle),
		TEST(test_matrix_dangling_symlink_last),
		TEST(test_matrix_fifo_target),
		TEST(test_matrix_directory_target),
		TEST(test_matrix_long_component),
		TEST(test_matrix_longer_than_path_max),
		TEST(test_matrix_embedded_nul),
		TEST(test_matrix_hardlink_replace),
		TEST(test_eacces),
		/* races, the disk, scale */
		TEST(test_race_directory_swapped_for_symlink),
		TEST(test_enospc_small_tmpfs),
		TEST(test_mkdirs_failed_write_leaves_no_dirs),
		TEST(test_append_failing_half_way_is_undone),
		TEST(test_gather_10000_writes),
		/* queue, cancel, limits */
		TEST(test_queued_writes_and_cancel),
		TEST(test_cancel_running_write),
		TEST(test_max_pending_write_bytes),
		TEST(test_cancel_running_append),
		TEST(test_timeout_running_write),
		TEST(test_gather_fail_fast_writes),
		TEST(test_shutdown_during_writes),
		/* the CLI */
		TEST(test_cli_write_text),
		TEST(test_cli_write_stdin_binary),
		TEST(test_cli_append),
		TEST(test_cli_create),
		TEST(test_cli_options),
		TEST(test_cli_relative_path),
		TEST(test_cli_gather),
	};

	/* ASYNCJOB_TEST_FILTER=test_cli_* runs only the tests it matches. */
	const char *filter = getenv("ASYNCJOB_TEST_FILTER");
	if (filter && *filter)
		cmocka_set_test_filter(filter);
	return cmocka_run_group_tests(tests, group_setup, NULL);
}
