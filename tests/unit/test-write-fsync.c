/* Write jobs on the in-process daemon with fsync(2) replaced by this
 * program's own (the daemon core is linked in, so its calls land here, in
 * sanitizer builds too): which files and directories a write flushes; and,
 * by holding worker threads inside fsync, a running write stopped at a known
 * point (after mkdirs made its directories, before its commit point) and
 * the pool running at most io_threads writes while the rest wait queued. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "daemon/daemon.h"
#include "daemon/workers.h"
#include "tests/common/daemon-fixture.h"
#include "tests/common/harness.h"
#include "tests/common/json-assert.h"

/* ------------------------------------------------------------ fsync */

#define MAX_RECORDED 256

static struct {
	pthread_mutex_t lock;
	pthread_cond_t changed;
	bool hold;              /* an fsync of a regular file waits while set */
	bool fail_dirs;         /* an fsync of a directory fails with EIO while set */
	unsigned held;          /* threads waiting so */
	size_t n;               /* calls recorded */
	struct {
		dev_t dev;
		ino_t ino;
		mode_t type;
	} calls[MAX_RECORDED];
} F = { .lock = PTHREAD_MUTEX_INITIALIZER, .changed = PTHREAD_COND_INITIALIZER };

int fsync(int fd)
{
	struct stat st;
	bool known = fstat(fd, &st) == 0;

	pthread_mutex_lock(&F.lock);
	if (known && F.n < MAX_RECORDED) {
		F.calls[F.n].dev = st.st_dev;
		F.calls[F.n].ino = st.st_ino;
		F.calls[F.n].type = st.st_mode & S_IFMT;
		F.n++;
	}
	if (known && S_ISREG(st.st_mode) && F.hold) {
		F.held++;
		pthread_cond_broadcast(&F.changed);
		while (F.hold)
			pthread_cond_wait(&F.changed, &F.lock);
		F.held--;
	}
	bool fail = known && S_ISDIR(st.st_mode) && F.fail_dirs;
	pthread_mutex_unlock(&F.lock);
	if (fail) {
		errno = EIO;
		return -1;
	}
	return (int)syscall(SYS_fsync, fd);
}

static void forget_fsyncs(void)
{
	pthread_mutex_lock(&F.lock);
	F.n = 0;
	pthread_mutex_unlock(&F.lock);
}

static size_t count_fsyncs(void)
{
	pthread_mutex_lock(&F.lock);
	size_t n = F.n;
	pthread_mutex_unlock(&F.lock);
	return n;
}

/* Whether the file or directory at `path` was flushed since forget_fsyncs. */
static bool was_synced(const char *path)
{
	struct stat st;
	bool found = false;

	if (lstat(path, &st) < 0)
		fail_msg("%s: %s", path, strerror(errno));
	pthread_mutex_lock(&F.lock);
	for (size_t i = 0; i < F.n && !found; i++)
		found = F.calls[i].dev == st.st_dev && F.calls[i].ino == st.st_ino &&
			F.calls[i].type == (st.st_mode & S_IFMT);
	pthread_mutex_unlock(&F.lock);
	return found;
}

static void hold_fsyncs(void)
{
	pthread_mutex_lock(&F.lock);
	F.hold = true;
	pthread_mutex_unlock(&F.lock);
}

static void release_fsyncs(void)
{
	pthread_mutex_lock(&F.lock);
	F.hold = false;
	pthread_cond_broadcast(&F.changed);
	pthread_mutex_unlock(&F.lock);
}

/* Waits until `n` worker threads are held in fsync (10 s at most: only a
 * broken daemon takes that long). */
static void wait_held(unsigned n)
{
	struct timespec until;
	int r = 0;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 10;
	pthread_mutex_lock(&F.lock);
	while (F.held != n && r == 0)
		r = pthread_cond_timedwait(&F.changed, &F.lock, &until);
	unsigned held = F.held;
	pthread_mutex_unlock(&F.lock);
	if (held != n)
		fail_msg("%u worker threads held in fsync, expected %u", held, n);
}

static unsigned count_held(void)
{
	pthread_mutex_lock(&F.lock);
	unsigned n = F.held;
	pthread_mutex_unlock(&F.lock);
	return n;
}

/* ------------------------------------------------------------ fixture */

static struct {
	struct fixture *f;
	char root[64];
	int64_t next_id;
} T;

/* The prestate, if any, is more config lines. */
static int setup(void **state)
{
	strcpy(T.root, "/tmp/test-write-fsync-XXXXXX");
	if (!mkdtemp(T.root))
		return -1;
	T.f = fixture_new(tj_strf("write_root = %s\n%s", T.root, *state ? (char *)*state : ""), 0);
	T.next_id = 1;
	forget_fsyncs();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	/* A worker held in fsync would keep fixture_free waiting. */
	release_fsyncs();
	tj_put_all();
	fixture_free(T.f);
	T.f = NULL;
	return harness_remove_tree(T.root);
}

static const char *in_root(const char *rel)
{
	return tj_strf("%s/%s", T.root, rel);
}

static struct json_object *call(const char *method, const char *params)
{
	return tj_callf(T.f, "{\"jsonrpc\":\"2.0\",\"id\":%" PRId64 ",\"method\":\"%s\",\"params\":%s}",
			T.next_id++, method, params);
}

/* Submits a write of `text` to root/rel with the JSON fields `extra` (no
 * braces, may be empty): the job object at submission. */
static struct json_object *submit(const char *rel, const char *text, const char *extra)
{
	return tj_take_result(call("job.submit",
				   tj_strf("{\"type\":\"write\",\"path\":\"%s\",\"content\":\"%s\"%s%s}",
					   in_root(rel), text, *extra ? "," : "", extra)));
}

/* The same, waiting for the end: the final job object. */
static struct json_object *run(const char *rel, const char *text, const char *extra)
{
	return submit(rel, text, tj_strf("\"wait\":true%s%s", *extra ? "," : "", extra));
}

static void assert_succeeded(struct json_object *job)
{
	const char *st = tj_str(job, "state");
	if (!st || strcmp(st, "succeeded") != 0)
		fail_msg("job not succeeded: %s", json_object_to_json_string(job));
}

static void assert_text(const char *rel, const char *text)
{
	char buf[256] = "";
	int fd = open(in_root(rel), O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		fail_msg("%s: %s", in_root(rel), strerror(errno));
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	assert_true(n >= 0);
	buf[n] = '\0';
	if (strcmp(buf, text) != 0)
		fail_msg("%s holds \"%s\", expected \"%s\"", rel, buf, text);
}

static bool exists(const char *rel)
{
	struct stat st;
	return lstat(in_root(rel), &st) == 0;
}

/* Names in root/rel, "." and ".." aside. */
static int count_entries(const char *rel)
{
	int n = harness_count_entries(in_root(rel), "");
	if (n < 0)
		fail_msg("%s: %s", in_root(rel), strerror(errno));
	return n;
}

/* Runs the loop until no write holds a worker thread (a canceled one's
 * worker finishes after the job has). */
static unsigned writes_in_workers(void)
{
	return workers_busy(T.f->d->workers) + workers_queued(T.f->d->workers);
}

static void wait_writes_idle(void)
{
	for (int i = 0; i < 10000 && writes_in_workers() > 0; i++) {
		fixture_drain(T.f);
		usleep(1000);
	}
	if (writes_in_workers() > 0)
		fail_msg("%u writes still in the worker threads after 10 s", writes_in_workers());
	/* What they finished is handed back to the loop. */
	fixture_drain(T.f);
}

/* How many of the caller's write jobs are in `state` (job.list). */
static int64_t count_listed(const char *state)
{
	struct json_object *res = tj_take_result(
		call("job.list", tj_strf("{\"type\":\"write\",\"state\":\"%s\"}", state)));
	int64_t n = (int64_t)json_object_array_length(tj_path(res, "jobs"));
	tj_put(res);
	return n;
}

/* ------------------------------------------------------------ what is flushed */

static void test_fsync_flushes_file_and_directory(void **state)
{
	(void)state;
	assert_int_equal(mkdir(in_root("sub"), 0755), 0);

	/* fsync is true by default. */
	assert_succeeded(run("sub/replaced", "r", ""));
	assert_true(was_synced(in_root("sub/replaced")));
	assert_true(was_synced(in_root("sub")));

	forget_fsyncs();
	assert_succeeded(run("sub/created", "c", "\"mode\":\"create\",\"fsync\":true"));
	assert_true(was_synced(in_root("sub/created")));
	assert_true(was_synced(in_root("sub")));

	/* An append that creates the file flushes its new name too. */
	forget_fsyncs();
	assert_succeeded(run("sub/log", "l", "\"mode\":\"append\""));
	assert_true(was_synced(in_root("sub/log")));
	assert_true(was_synced(in_root("sub")));

	/* An append to an existing file changes no directory entry. */
	forget_fsyncs();
	assert_succeeded(run("sub/created", "a", "\"mode\":\"append\",\"fsync\":true"));
	assert_true(was_synced(in_root("sub/created")));
	assert_false(was_synced(in_root("sub")));
	assert_text("sub/created", "ca");
}

/* Directories made by mkdirs: each new name is flushed in its parent,
 * from the existing directory that holds the first one down. */
static void test_fsync_flushes_made_directories(void **state)
{
	(void)state;
	assert_int_equal(mkdir(in_root("old"), 0755), 0);
	assert_succeeded(run("old/new1/new2/file", "m", "\"mkdirs\":true"));
	assert_true(was_synced(in_root("old/new1/new2/file")));
	assert_true(was_synced(in_root("old/new1/new2")));
	assert_true(was_synced(in_root("old/new1")));
	assert_true(was_synced(in_root("old")));
	assert_false(was_synced(T.root));
	assert_text("old/new1/new2/file", "m");
}

/* Flushing the directories made fails: the write fails before its file
 * exists, and leaves no trace, those directories included. */
static void test_made_directories_not_flushed_leave_no_trace(void **state)
{
	(void)state;
	pthread_mutex_lock(&F.lock);
	F.fail_dirs = true;
	pthread_mutex_unlock(&F.lock);
	struct json_object *job = run("n1/n2/file", "x", "\"mkdirs\":true");
	pthread_mutex_lock(&F.lock);
	F.fail_dirs = false;
	pthread_mutex_unlock(&F.lock);
	const char *code = tj_str(job, "error.code"), *message = tj_str(job, "error.message");
	if (!code || strcmp(code, "io") != 0 || !message || !strstr(message, "EIO") ||
	    !strstr(message, "syncing the directories made for"))
		fail_msg("not the failed flush: %s", json_object_to_json_string(job));
	assert_false(exists("n1"));
	assert_int_equal(count_entries(""), 0);
}

static void test_fsync_false_flushes_nothing(void **state)
{
	(void)state;
	assert_int_equal(mkdir(in_root("sub"), 0755), 0);
	const char *no = "\"fsync\":false";

	assert_succeeded(run("sub/replaced", "r", no));
	assert_succeeded(run("sub/created", "c", "\"mode\":\"create\",\"fsync\":false"));
	assert_succeeded(run("sub/created", "a", "\"mode\":\"append\",\"fsync\":false"));
	assert_succeeded(run("sub/appended", "n", "\"mode\":\"append\",\"fsync\":false"));
	assert_succeeded(run("made/dir/replaced", "m", "\"mkdirs\":true,\"fsync\":false"));
	if (count_fsyncs() != 0)
		fail_msg("%zu fsync calls for writes with fsync false", count_fsyncs());
	assert_text("sub/replaced", "r");
	assert_text("sub/created", "ca");
	assert_text("sub/appended", "n");
	assert_text("made/dir/replaced", "m");
}

/* ------------------------------------------------------------ stopped while held */

/* Canceled while its worker is held in fsync: after mkdirs made new/a/b and
 * its temporary file is written there, before its commit point. It leaves
 * nothing: no file, no temporary file, no directory. */
static void test_cancel_held_mkdirs_write_leaves_nothing(void **state)
{
	(void)state;
	hold_fsyncs();
	struct json_object *job = submit("new/a/b/file", "never", "\"mkdirs\":true");
	assert_jstr(job, "state", "running");
	int64_t id = tj_int(job, "id");
	wait_held(1);
	/* Where the worker is now: the directories made, a temp in the last. */
	assert_int_equal(count_entries("new/a/b"), 1);
	assert_false(exists("new/a/b/file"));

	struct json_object *canceled =
		tj_take_result(call("job.cancel", tj_strf("{\"id\":%" PRId64 "}", id)));
	assert_jstr(canceled, "state", "canceled");
	assert_jstr(canceled, "error.code", "canceled");
	release_fsyncs();
	wait_writes_idle();
	if (count_entries("") != 0)
		fail_msg("a canceled mkdirs write left %s", exists("new") ? "new/..." : "something");
}

/* The same with job timeouts. times-out made shared/dir, then another
 * write put its file there: that directory stays, with the other's file;
 * a write alone in what it made leaves nothing. */
static void test_timeout_held_mkdirs_writes(void **state)
{
	(void)state;
	hold_fsyncs();
	int64_t times_out = tj_int(submit("shared/dir/times-out", "never",
					  "\"mkdirs\":true,\"timeout\":0.05"), "id");
	wait_held(1);
	int64_t stays = tj_int(submit("shared/dir/stays", "kept", "\"mkdirs\":true"), "id");
	wait_held(2);
	int64_t alone = tj_int(submit("alone/dir/times-out", "never",
				      "\"mkdirs\":true,\"timeout\":0.05"), "id");
	wait_held(3);

	/* The loop runs until both timeouts have fired. */
	struct json_object *res = tj_take_result(
		call("job.wait", tj_strf("{\"ids\":[%" PRId64 ",%" PRId64 "]}", times_out, alone)));
	for (size_t i = 0; i < 2; i++) {
		struct json_object *j = json_object_array_get_idx(tj_path(res, "jobs"), i);
		assert_jstr(j, "state", "failed");
		assert_jstr(j, "error.code", "timeout");
	}
	release_fsyncs();
	res = tj_take_result(call("job.wait", tj_strf("{\"ids\":[%" PRId64 "]}", stays)));
	assert_succeeded(json_object_array_get_idx(tj_path(res, "jobs"), 0));
	wait_writes_idle();
	assert_text("shared/dir/stays", "kept");
	assert_int_equal(count_entries("shared/dir"), 1);
	assert_false(exists("alone"));
	assert_int_equal(count_entries(""), 1);
}

/* ------------------------------------------------------------ the pool */

/* With every worker held, io_threads writes are running and the rest wait
 * in queued (deterministic: no third thread ever reaches fsync). */
static void check_pool(unsigned io_threads, unsigned n_writes)
{
	int64_t ids[16];

	assert_true(n_writes <= 16 && n_writes > io_threads);
	assert_int_equal(mkdir(in_root("p"), 0755), 0);
	hold_fsyncs();
	for (unsigned i = 0; i < n_writes; i++)
		ids[i] = tj_int(submit(tj_strf("p/f%u", i), tj_strf("write %u", i), ""), "id");
	wait_held(io_threads);
	assert_int_equal(count_listed("running"), io_threads);
	assert_int_equal(count_listed("queued"), n_writes - io_threads);
	struct json_object *info = tj_take_result(call("daemon.info", "{}"));
	assert_jint(info, "limits.io_threads", io_threads);
	assert_jint(info, "jobs.running", io_threads);
	assert_jint(info, "jobs.queued", n_writes - io_threads);
	assert_jint(info, "workers.busy", io_threads);
	assert_jint(info, "workers.queued", 0);
	/* A moment later still no more. */
	fixture_drain(T.f);
	usleep(50 * 1000);
	fixture_drain(T.f);
	assert_int_equal(count_held(), io_threads);

	release_fsyncs();
	char list[256] = "";
	size_t n = 0;
	for (unsigned i = 0; i < n_writes; i++)
		n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%" PRId64, i ? "," : "", ids[i]);
	struct json_object *res = tj_take_result(call("job.wait", tj_strf("{\"ids\":[%s]}", list)));
	for (unsigned i = 0; i < n_writes; i++) {
		assert_succeeded(json_object_array_get_idx(tj_path(res, "jobs"), i));
		assert_text(tj_strf("p/f%u", i), tj_strf("write %u", i));
	}
	wait_writes_idle();
	info = tj_take_result(call("daemon.info", "{}"));
	assert_jint(info, "workers.busy", 0);
}

static void test_pool_of_two(void **state)
{
	(void)state;
	check_pool(2, 5);
}

static void test_pool_default_of_four(void **state)
{
	(void)state;
	check_pool(4, 6);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_fsync_flushes_file_and_directory, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fsync_flushes_made_directories, setup, teardown),
		cmocka_unit_test_setup_teardown(test_made_directories_not_flushed_leave_no_trace, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_fsync_false_flushes_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel_held_mkdirs_write_leaves_nothing, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_timeout_held_mkdirs_writes,
						setup, teardown),
		cmocka_unit_test_prestate_setup_teardown(test_pool_of_two, setup, teardown,
							 (void *)"io_threads = 2\n"),
		cmocka_unit_test_setup_teardown(test_pool_default_of_four, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
