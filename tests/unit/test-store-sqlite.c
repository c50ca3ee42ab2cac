/* The SQLite store's durable writes, on real database files in temporary
 * directories: durable callbacks and reload, the id high-water mark,
 * deletion, group commit and coalescing, refusals (foreign, text, future,
 * corrupt, truncated, read-only, missing) that leave the file as it was,
 * upgrades (from version 0 and 1), a bounded WAL, a full disk the engine recovers from by
 * itself, a thread that sleeps when idle, and a close that drains. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <dirent.h>
#include <event2/event.h>
#include <sqlite3.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "daemon/store-sqlite.h"

/* ------------------------------------------------------------ fixture */

struct loaded {
	uint64_t id;
	char type[16];
	uint32_t uid;
	int state;
	int64_t submitted_ms, started_ms, finished_ms;
	bool has_key, has_label;
	char key[64], label[64];
	size_t key_len;
	char *body;
	size_t body_len;
};

struct fx {
	struct event_base *base;
	char dir[256];
	char path[PATH_MAX];            /* dir/jobs.db */
	char mnt[512];                  /* a mount of the test's own, or "" */
	char mnt2[512];
	struct store_sqlite *s;
	char err[512];
	/* What on_durable said. */
	unsigned calls, error_calls;
	uint64_t durable;
	int last_err;
	bool went_back;
	uint64_t want_seq;              /* loopbreak when reached */
	bool want_error;                /* loopbreak on an error */
	bool timed_out;
	/* What load gave. */
	struct loaded *rows;
	size_t n_rows, cap_rows;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	const char *tmp = getenv("TMPDIR");

	if (!f)
		return -1;
	f->base = event_base_new();
	snprintf(f->dir, sizeof(f->dir), "%s/test-store-sqlite.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!f->base || !mkdtemp(f->dir)) {
		if (f->base)
			event_base_free(f->base);
		free(f);
		return -1;
	}
	snprintf(f->path, sizeof(f->path), "%s/jobs.db", f->dir);
	*state = f;
	return 0;
}

static void free_rows(struct fx *f)
{
	for (size_t i = 0; i < f->n_rows; i++)
		free(f->rows[i].body);
	free(f->rows);
	f->rows = NULL;
	f->n_rows = f->cap_rows = 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int make_writable(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)ftw;
	if (flag == FTW_D || flag == FTW_DNR)
		chmod(path, (st->st_mode & 07777) | 0700);
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	f->s = store_sqlite_close(f->s);
	if (f->mnt2[0])
		umount2(f->mnt2, MNT_DETACH);
	if (f->mnt[0])
		umount2(f->mnt, MNT_DETACH);
	/* A read-only test may have left directories unwritable. */
	nftw(f->dir, make_writable, 16, FTW_PHYS);
	nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free_rows(f);
	event_base_free(f->base);
	free(f);
	return 0;
}

static void on_durable(void *arg, uint64_t seq, int err)
{
	struct fx *f = arg;

	f->calls++;
	if (seq < f->durable)
		f->went_back = true;
	f->durable = seq;
	f->last_err = err;
	if (err)
		f->error_calls++;
	if ((f->want_seq && seq >= f->want_seq && err == 0) || (f->want_error && err))
		event_base_loopbreak(f->base);
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct fx *f = arg;
	(void)fd;
	(void)what;
	f->timed_out = true;
	event_base_loopbreak(f->base);
}

/* Runs the loop until `seq` is reported durable (or an error, with
 * `or_error`), at most `seconds`. */
static void run_until(struct fx *f, uint64_t seq, bool or_error, int seconds)
{
	struct timeval tv = { .tv_sec = seconds };
	struct event *timer = evtimer_new(f->base, on_timeout, f);

	assert_non_null(timer);
	assert_int_equal(evtimer_add(timer, &tv), 0);
	f->want_seq = seq;
	f->want_error = or_error;
	f->timed_out = false;
	while (!f->timed_out && !(seq && f->durable >= seq && f->last_err == 0) &&
	       !(or_error && f->last_err))
		assert_true(event_base_loop(f->base, EVLOOP_ONCE) >= 0);
	event_free(timer);
	f->want_seq = 0;
	f->want_error = false;
	if (f->timed_out)
		fail_msg("timed out after %d s: durable %" PRIu64 " (want %" PRIu64 "), error %d", seconds,
			 f->durable, seq, f->last_err);
}

/* Runs the loop for `ms` milliseconds. */
static void run_for(struct fx *f, int ms)
{
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };

	assert_int_equal(event_base_loopexit(f->base, &tv), 0);
	assert_true(event_base_dispatch(f->base) >= 0);
}

static int open_at(struct fx *f, const char *path, enum store_sync sync)
{
	f->calls = f->error_calls = 0;
	f->durable = 0;
	f->last_err = 0;
	f->went_back = false;
	f->err[0] = '\0';
	return store_sqlite_open(path, sync, f->base, on_durable, f, &f->s, f->err, sizeof(f->err));
}

static void open_ok(struct fx *f)
{
	int r = open_at(f, f->path, STORE_SYNC_FULL);

	if (r != 0)
		fail_msg("open %s: %d %s", f->path, r, f->err);
	assert_non_null(f->s);
}

static int collect(void *arg, const struct store_record *rec)
{
	struct fx *f = arg;
	struct loaded *l;

	if (f->n_rows == f->cap_rows) {
		f->cap_rows = f->cap_rows ? 2 * f->cap_rows : 64;
		f->rows = realloc(f->rows, f->cap_rows * sizeof(*f->rows));
		assert_non_null(f->rows);
	}
	l = &f->rows[f->n_rows++];
	memset(l, 0, sizeof(*l));
	l->id = rec->id;
	snprintf(l->type, sizeof(l->type), "%s", rec->type);
	l->uid = rec->uid;
	l->state = rec->state;
	l->submitted_ms = rec->submitted_ms;
	l->started_ms = rec->started_ms;
	l->finished_ms = rec->finished_ms;
	l->has_key = rec->key != NULL;
	if (rec->key) {
		assert_true(rec->key_len < sizeof(l->key));
		memcpy(l->key, rec->key, rec->key_len);
		l->key_len = rec->key_len;
	}
	l->has_label = rec->label != NULL;
	if (rec->label)
		snprintf(l->label, sizeof(l->label), "%s", rec->label);
	l->body = malloc(rec->body_len + 1);
	assert_non_null(l->body);
	memcpy(l->body, rec->body, rec->body_len);
	l->body[rec->body_len] = '\0';
	l->body_len = rec->body_len;
	return 0;
}

/* Closes the store, opens it again and loads every record into f->rows. */
static void reopen_and_load(struct fx *f)
{
	f->s = store_sqlite_close(f->s);
	open_ok(f);
	free_rows(f);
	assert_int_equal(store_sqlite_load(f->s, collect, f), 0);
}

static char body_buf[65536];

/* A record whose body tells its id and state. */
/* Stages a record without handing it over; returns the seq it will have. */
static uint64_t stage(struct fx *f, uint64_t id, int state, size_t body_len)
{
	int n = snprintf(body_buf, sizeof(body_buf), "{\"id\":%" PRIu64 ",\"state\":%d,\"pad\":\"", id, state);
	size_t len = body_len > (size_t)n + 2 ? body_len : (size_t)n + 2;

	assert_true(len < sizeof(body_buf));
	memset(body_buf + n, 'x', len - (size_t)n - 2);
	memcpy(body_buf + len - 2, "\"}", 2);
	struct store_record rec = {
		.id = id,
		.type = "sleep",
		.uid = 1000,
		.state = state,
		.submitted_ms = 1700000000000 + (int64_t)id,
		.started_ms = state >= 1 ? 1700000000100 + (int64_t)id : 0,
		.finished_ms = state >= 2 ? 1700000000200 + (int64_t)id : 0,
		.body = body_buf,
		.body_len = len,
	};
	return store_sqlite_put(f->s, &rec);
}

/* Stages a record and hands it over alone. */
static uint64_t put(struct fx *f, uint64_t id, int state, size_t body_len)
{
	stage(f, id, state, body_len);
	return store_sqlite_submit(f->s);
}

static void assert_row(const struct loaded *l, uint64_t id, int state)
{
	char want[64];
	int n = snprintf(want, sizeof(want), "{\"id\":%" PRIu64 ",\"state\":%d,", id, state);

	assert_int_equal(l->id, id);
	assert_int_equal(l->state, state);
	assert_string_equal(l->type, "sleep");
	assert_int_equal(l->uid, 1000);
	assert_true(l->body_len > (size_t)n);
	assert_memory_equal(l->body, want, (size_t)n);
	assert_int_equal(l->submitted_ms, 1700000000000 + (int64_t)id);
}

static struct store_sqlite_stats stats(struct fx *f)
{
	struct store_sqlite_stats st;

	store_sqlite_stats(f->s, &st);
	return st;
}

/* Polls (at most 5 s) without running the loop. */
#define wait_for(cond)                                                            \
	do {                                                                      \
		int n_ = 0;                                                       \
		while (!(cond) && n_++ < 5000)                                    \
			usleep(1000);                                             \
		if (!(cond))                                                      \
			fail_msg("timed out waiting for %s", #cond);              \
	} while (0)

/* A file's bytes, to see that a refusal left it as it was. */
struct snapshot {
	char *data;
	size_t size;
};

static struct snapshot snap(const char *path)
{
	struct snapshot sn = { 0 };
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	sn.size = (size_t)st.st_size;
	sn.data = malloc(sn.size + 1);
	assert_non_null(sn.data);
	assert_int_equal(read(fd, sn.data, sn.size), (ssize_t)sn.size);
	close(fd);
	return sn;
}

static void assert_unchanged(const char *path, struct snapshot *before)
{
	struct snapshot now = snap(path);

	assert_int_equal(now.size, before->size);
	assert_memory_equal(now.data, before->data, now.size);
	free(now.data);
	free(before->data);
	before->data = NULL;
}

static bool exists(const char *path)
{
	return access(path, F_OK) == 0;
}

/* Runs SQL on the file with SQLite directly (another program's view). */
static void sql_on(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	char *msg = NULL;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("%s: %s", sql, msg);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

static int64_t sql_int(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int64_t v;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

static const char *sql_text(const char *path, const char *sql, char *buf, size_t size)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	snprintf(buf, size, "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	sqlite3_close(db);
	return buf;
}

/* The open must fail with `want`, and its message name the file and hold
 * `says`. */
static void assert_refused(struct fx *f, const char *path, int want, const char *says)
{
	int r = open_at(f, path, STORE_SYNC_FULL);

	if (r != want)
		fail_msg("open %s: %d (%s), want %d", path, r, f->err, want);
	assert_null(f->s);
	if (!strstr(f->err, path) || !strstr(f->err, says))
		fail_msg("message \"%s\" does not name %s or say \"%s\"", f->err, path, says);
	print_message("refused: %s\n", f->err);
}

/* A database of ours with `n` records, closed. */
static void make_db(struct fx *f, unsigned n, size_t body_len)
{
	uint64_t seq = 0;

	open_ok(f);
	for (unsigned i = 1; i <= n; i++)
		seq = put(f, i, 2, body_len);
	if (seq)
		run_until(f, seq, false, 30);
	f->s = store_sqlite_close(f->s);
}

/* A mount namespace of this process's own, for tmpfs and read-only
 * mounts; false (and why) where that is not permitted. */
static bool private_mounts(void)
{
	static int state;

	if (state == 0) {
		if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
			print_message("no mount namespace of our own: %s\n", strerror(errno));
			state = -1;
		} else {
			state = 1;
		}
	}
	return state > 0;
}

/* ------------------------------------------------------------ tests */

static void test_put_durable_reload(void **state)
{
	struct fx *f = *state;
	uint64_t seq;

	open_ok(f);
	assert_int_equal(store_sqlite_next_id(f->s), 1);
	assert_int_equal(store_sqlite_load(f->s, collect, f), 0);
	assert_int_equal(f->n_rows, 0);

	struct store_record full = {
		.id = 1, .type = "write", .uid = 4242, .state = 3,
		.submitted_ms = 1, .started_ms = 2, .finished_ms = 3,
		.key = "k\0ey", .key_len = 4, .label = "tea",
		.body = "{\"error\":\"x\"}", .body_len = 13,
	};
	store_sqlite_put(f->s, &full);
	seq = store_sqlite_submit(f->s);
	assert_int_equal(seq, 1);
	put(f, 2, 0, 100);
	seq = put(f, 3, 1, 5000);
	assert_int_equal(seq, 3);
	assert_int_equal(f->calls, 0);   /* only through the loop */
	run_until(f, seq, false, 10);
	assert_int_equal(f->durable, 3);
	assert_int_equal(f->last_err, 0);
	assert_false(f->went_back);
	assert_int_equal(store_sqlite_health(f->s), 0);
	assert_true(f->calls <= 3);

	reopen_and_load(f);
	assert_int_equal(f->n_rows, 3);
	assert_int_equal(f->rows[0].id, 1);
	assert_string_equal(f->rows[0].type, "write");
	assert_int_equal(f->rows[0].uid, 4242);
	assert_int_equal(f->rows[0].state, 3);
	assert_int_equal(f->rows[0].submitted_ms, 1);
	assert_int_equal(f->rows[0].started_ms, 2);
	assert_int_equal(f->rows[0].finished_ms, 3);
	assert_true(f->rows[0].has_key);
	assert_int_equal(f->rows[0].key_len, 4);
	assert_memory_equal(f->rows[0].key, "k\0ey", 4);
	assert_true(f->rows[0].has_label);
	assert_string_equal(f->rows[0].label, "tea");
	assert_string_equal(f->rows[0].body, "{\"error\":\"x\"}");
	assert_row(&f->rows[1], 2, 0);
	assert_false(f->rows[1].has_key);
	assert_false(f->rows[1].has_label);
	assert_int_equal(f->rows[1].started_ms, 0);
	assert_row(&f->rows[2], 3, 1);
	assert_int_equal(f->rows[2].body_len, 5000);
	assert_int_equal(store_sqlite_next_id(f->s), 4);

	/* A put after load: load is over. */
	seq = put(f, 2, 2, 100);
	assert_int_equal(store_sqlite_load(f->s, collect, f), -EBUSY);
	run_until(f, seq, false, 10);
	reopen_and_load(f);
	assert_int_equal(f->n_rows, 3);
	assert_row(&f->rows[1], 2, 2);
}

static void test_next_id_and_delete(void **state)
{
	struct fx *f = *state;
	uint64_t seq;

	open_ok(f);
	for (uint64_t id = 1; id <= 5; id++)
		seq = put(f, id, 2, 50);
	store_sqlite_set_next_id(f->s, 10);
	seq = store_sqlite_submit(f->s);
	assert_int_equal(store_sqlite_next_id(f->s), 10);
	run_until(f, seq, false, 10);
	reopen_and_load(f);
	assert_int_equal(f->n_rows, 5);
	assert_int_equal(store_sqlite_next_id(f->s), 10);

	/* Never back: a lower mark is ignored. */
	store_sqlite_set_next_id(f->s, 7);
	seq = store_sqlite_submit(f->s);
	assert_int_equal(store_sqlite_next_id(f->s), 10);
	run_until(f, seq, false, 10);
	reopen_and_load(f);
	assert_int_equal(store_sqlite_next_id(f->s), 10);

	/* Deleting the newest records, 20 and 5, keeps the mark past them. */
	seq = put(f, 20, 2, 50);
	assert_int_equal(store_sqlite_next_id(f->s), 21);
	run_until(f, seq, false, 10);
	store_sqlite_delete(f->s, 20);
	store_sqlite_delete(f->s, 5);
	store_sqlite_delete(f->s, 3);
	seq = store_sqlite_submit(f->s);
	run_until(f, seq, false, 10);
	assert_true(stats(f).records_deleted >= 3);
	reopen_and_load(f);
	assert_int_equal(f->n_rows, 3);
	assert_int_equal(f->rows[0].id, 1);
	assert_int_equal(f->rows[1].id, 2);
	assert_int_equal(f->rows[2].id, 4);
	assert_int_equal(store_sqlite_next_id(f->s), 21);

	/* A put and its deletion in one batch: nothing is left. */
	put(f, 30, 0, 50);
	store_sqlite_delete(f->s, 30);
	seq = store_sqlite_submit(f->s);
	run_until(f, seq, false, 10);
	reopen_and_load(f);
	assert_int_equal(f->n_rows, 3);
	assert_int_equal(store_sqlite_next_id(f->s), 31);
}

/* Holds the database's write lock from another connection, so that the
 * store thread's next transaction waits (busy) for it. */
static sqlite3 *hold_write_lock(const char *path)
{
	sqlite3 *db = NULL;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	return db;
}

static void release_write_lock(sqlite3 *db)
{
	assert_int_equal(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

/* Staged changes stay on the loop, taking no lock and waking nobody, until
 * one submit hands them all over under one number. */
static void test_staged_until_submit(void **state)
{
	struct fx *f = *state;

	open_ok(f);
	assert_int_equal(stage(f, 1, 0, 100), 1);
	assert_int_equal(stage(f, 1, 2, 100), 1);
	assert_int_equal(stage(f, 2, 0, 100), 1);
	assert_int_equal(store_sqlite_staged_seq(f->s), 1);
	run_for(f, 200);
	struct store_sqlite_stats st = stats(f);
	assert_int_equal(st.queued + st.writing + st.batches, 0);
	assert_int_equal(f->durable, 0);

	assert_int_equal(store_sqlite_submit(f->s), 1);
	assert_int_equal(store_sqlite_staged_seq(f->s), 2);
	/* Nothing staged: nothing new to wait for. */
	assert_int_equal(store_sqlite_submit(f->s), 1);
	run_until(f, 1, false, 10);
	st = stats(f);
	assert_int_equal(st.batches, 1);
	assert_int_equal(st.records_written, 2);
	assert_int_equal(st.coalesced, 1);

	/* A deletion of an id whose record was never written (made and
	 * deleted within one turn) still moves the id mark past it. */
	store_sqlite_delete(f->s, 7);
	assert_int_equal(store_sqlite_next_id(f->s), 8);
	run_until(f, store_sqlite_submit(f->s), false, 10);
	reopen_and_load(f);
	assert_int_equal(f->n_rows, 2);
	assert_row(&f->rows[0], 1, 2);
	assert_int_equal(store_sqlite_next_id(f->s), 8);
}

/* A part goes to disk at once but counts only with the submit that closes
 * its number. */
static void test_submit_part(void **state)
{
	struct fx *f = *state;

	open_ok(f);
	assert_int_equal(stage(f, 3, 0, 100), 1);
	store_sqlite_submit_part(f->s);
	assert_int_equal(store_sqlite_staged_bytes(f->s), 0);
	wait_for(stats(f).batches == 1);
	run_for(f, 100);
	assert_int_equal(f->durable, 0);
	assert_true(f->calls >= 1);          /* told of the commit all the same */
	assert_int_equal(stage(f, 4, 0, 100), 1);
	assert_int_equal(store_sqlite_submit(f->s), 1);
	run_until(f, 1, false, 10);
	assert_int_equal(stats(f).records_written, 2);
	reopen_and_load(f);
	assert_int_equal(f->n_rows, 2);
}

static void test_group_commit(void **state)
{
	struct fx *f = *state;
	const unsigned n = 10000;
	uint64_t seq = 0;

	open_ok(f);
	/* The thread takes the first record and waits for the lock; the
	 * other 9,999 queue meanwhile and go together in the next batch. */
	sqlite3 *other = hold_write_lock(f->path);
	put(f, 1, 2, 200);
	wait_for(stats(f).writing == 1 && stats(f).queued == 0);
	for (unsigned i = 2; i <= n; i++)
		seq = put(f, i, 2, 200);
	assert_int_equal(stats(f).queued, n - 1);
	assert_int_equal(f->durable, 0);
	release_write_lock(other);
	run_until(f, seq, false, 30);
	struct store_sqlite_stats st = stats(f);
	print_message("%u puts behind a busy thread: %" PRIu64 " batches, %" PRIu64
		      " records, last batch %" PRIu64 " in %.1f ms\n",
		      n, st.batches, st.records_written, st.last_batch_size, st.last_commit_us / 1000.0);
	assert_int_equal(st.batches, 2);
	assert_int_equal(st.records_written, n);
	assert_int_equal(st.last_batch_size, n - 1);
	assert_int_equal(st.queued, 0);
	assert_int_equal(st.writing, 0);
	/* One call per batch at most, never backwards. */
	assert_true(f->calls <= 2);
	assert_false(f->went_back);
	assert_int_equal(f->durable, seq);

	reopen_and_load(f);
	assert_int_equal(f->n_rows, n);
	for (unsigned i = 0; i < n; i++)
		assert_int_equal(f->rows[i].id, i + 1);
}

static void test_group_commit_free_running(void **state)
{
	struct fx *f = *state;
	const unsigned n = 10000;
	uint64_t seq = 0;

	/* No lock held: the puts race a thread that commits as fast as it
	 * can. Batches still grow with the load. */
	open_ok(f);
	for (unsigned i = 1; i <= n; i++)
		seq = put(f, i, 2, 200);
	run_until(f, seq, false, 30);
	struct store_sqlite_stats st = stats(f);
	print_message("%u puts, free running: %" PRIu64 " batches\n", n, st.batches);
	assert_int_equal(st.records_written, n);
	assert_true(st.batches <= n / 10);
	assert_true(f->calls <= st.batches);
}

static void test_same_id_written_once(void **state)
{
	struct fx *f = *state;
	uint64_t seq;

	open_ok(f);
	sqlite3 *other = hold_write_lock(f->path);
	put(f, 1, 2, 100);
	wait_for(stats(f).writing == 1 && stats(f).queued == 0);
	/* Job 7 is made, starts and finishes within one batch; job 8 is made. */
	put(f, 7, 0, 100);
	put(f, 7, 1, 100);
	put(f, 7, 2, 300);
	seq = put(f, 8, 0, 100);
	release_write_lock(other);
	run_until(f, seq, false, 10);
	struct store_sqlite_stats st = stats(f);
	assert_int_equal(st.batches, 2);
	assert_int_equal(st.records_written, 3);    /* 1, then 7 once and 8 */
	assert_int_equal(st.coalesced, 2);
	assert_int_equal(st.last_batch_size, 2);

	reopen_and_load(f);
	assert_int_equal(f->n_rows, 3);
	assert_row(&f->rows[1], 7, 2);
	assert_int_equal(f->rows[1].body_len, 300);
	assert_row(&f->rows[2], 8, 0);
}

static void test_close_drains(void **state)
{
	struct fx *f = *state;

	open_ok(f);
	for (unsigned i = 1; i <= 2000; i++)
		put(f, i, i % 5, 100);
	/* Without running the loop: close writes what is queued. */
	f->s = store_sqlite_close(f->s);
	assert_null(f->s);
	assert_null(store_sqlite_close(NULL));
	open_ok(f);
	assert_int_equal(store_sqlite_load(f->s, collect, f), 0);
	assert_int_equal(f->n_rows, 2000);
	for (unsigned i = 0; i < 2000; i++)
		assert_row(&f->rows[i], i + 1, (int)((i + 1) % 5));
	assert_int_equal(store_sqlite_next_id(f->s), 2001);
}

/* The store thread, found by its name. */
static pid_t store_tid(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	pid_t tid = 0;

	assert_non_null(d);
	while (!tid && (e = readdir(d))) {
		char p[300], comm[64] = "";
		FILE *fp;

		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "/proc/self/task/%s/comm", e->d_name);
		fp = fopen(p, "r");
		if (fp && fgets(comm, sizeof(comm), fp) && strcmp(comm, "asyncjobd-store\n") == 0)
			tid = (pid_t)atoi(e->d_name);
		if (fp)
			fclose(fp);
	}
	closedir(d);
	return tid;
}

static long ctxt_switches(pid_t tid)
{
	char p[100], line[200];
	long total = 0, v;
	FILE *fp;

	snprintf(p, sizeof(p), "/proc/self/task/%d/status", (int)tid);
	fp = fopen(p, "r");
	assert_non_null(fp);
	while (fgets(line, sizeof(line), fp))
		if (sscanf(line, "voluntary_ctxt_switches: %ld", &v) == 1 ||
		    sscanf(line, "nonvoluntary_ctxt_switches: %ld", &v) == 1)
			total += v;
	fclose(fp);
	return total;
}

static void test_idle_thread_sleeps(void **state)
{
	struct fx *f = *state;

	open_ok(f);
	run_until(f, put(f, 1, 2, 100), false, 10);
	pid_t tid = store_tid();
	assert_true(tid > 0);
	/* Let it finish the batch and go back to waiting. */
	usleep(100 * 1000);
	long before = ctxt_switches(tid);
	unsigned calls = f->calls;
	run_for(f, 1000);
	long after = ctxt_switches(tid);
	print_message("store thread %d: %ld context switches in 1 s idle\n", (int)tid, after - before);
	assert_int_equal(after, before);
	assert_int_equal(f->calls, calls);
}

static void test_refuse_foreign(void **state)
{
	struct fx *f = *state;
	struct snapshot before;

	/* Another program's: its own application_id. */
	sql_on(f->path, "PRAGMA application_id = 1234; CREATE TABLE t (x); INSERT INTO t VALUES (1)");
	before = snap(f->path);
	assert_refused(f, f->path, -EINVAL, "is not an asyncjobd database; move it away");
	assert_unchanged(f->path, &before);
	assert_int_equal(unlink(f->path), 0);

	/* Someone else's tables and no application_id. */
	sql_on(f->path, "CREATE TABLE jobs (id INTEGER PRIMARY KEY, what TEXT)");
	before = snap(f->path);
	assert_refused(f, f->path, -EINVAL, "is not an asyncjobd database");
	assert_unchanged(f->path, &before);
	char wal[PATH_MAX + 8];
	snprintf(wal, sizeof(wal), "%s-wal", f->path);
	assert_false(exists(wal));
	assert_int_equal(unlink(f->path), 0);

	/* Not SQLite at all. */
	FILE *fp = fopen(f->path, "w");
	assert_non_null(fp);
	for (int i = 0; i < 200; i++)
		fprintf(fp, "line %d of somebody's notes\n", i);
	fclose(fp);
	before = snap(f->path);
	assert_refused(f, f->path, -EINVAL, "is not an asyncjobd database");
	assert_unchanged(f->path, &before);
}

static void test_refuse_future_schema(void **state)
{
	struct fx *f = *state;
	struct snapshot before;
	char sql[100], want[100];

	make_db(f, 10, 100);
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", STORE_SQLITE_SCHEMA_VERSION + 1);
	sql_on(f->path, sql);
	before = snap(f->path);
	snprintf(want, sizeof(want), "was written by a newer asyncjobd (schema %d, this one knows %d)",
		 STORE_SQLITE_SCHEMA_VERSION + 1, STORE_SQLITE_SCHEMA_VERSION);
	assert_refused(f, f->path, -EPROTO, want);
	assert_unchanged(f->path, &before);
}

/* A database of ours with some of its pages overwritten, or cut short. */
static void test_refuse_corrupt(void **state)
{
	struct fx *f = *state;
	struct snapshot before;
	char junk[4096];
	int fd;

	make_db(f, 3000, 300);
	struct stat st;
	assert_int_equal(stat(f->path, &st), 0);
	assert_true(st.st_size > 16 * 4096);
	/* Two pages in the middle. */
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (char)(i * 37 + 11);
	fd = open(f->path, O_WRONLY);
	assert_true(fd >= 0);
	off_t mid = (st.st_size / 2) & ~(off_t)4095;
	assert_int_equal(pwrite(fd, junk, sizeof(junk), mid), (ssize_t)sizeof(junk));
	assert_int_equal(pwrite(fd, junk, sizeof(junk), mid + 4096), (ssize_t)sizeof(junk));
	close(fd);
	before = snap(f->path);
	assert_refused(f, f->path, -EIO, "is corrupt");
	assert_unchanged(f->path, &before);

	/* Cut to half its size. */
	assert_int_equal(unlink(f->path), 0);
	make_db(f, 3000, 300);
	assert_int_equal(truncate(f->path, st.st_size / 2), 0);
	before = snap(f->path);
	assert_refused(f, f->path, -EIO, "is corrupt");
	assert_unchanged(f->path, &before);
}

static void test_refuse_missing_directory(void **state)
{
	struct fx *f = *state;
	char path[PATH_MAX + 32];

	snprintf(path, sizeof(path), "%s/no-such-dir/jobs.db", f->dir);
	assert_refused(f, path, -ENOENT, "No such file or directory");
	snprintf(path, sizeof(path), "%s/no-such-dir", f->dir);
	assert_false(exists(path));
}

static void test_refuse_read_only_directory(void **state)
{
	struct fx *f = *state;
	struct snapshot before;
	char empty[300], empty_db[320];
	int want = -EACCES;

	/* One directory with a database of ours, one empty. */
	snprintf(f->path, sizeof(f->path), "%s/full/jobs.db", f->dir);
	snprintf(f->mnt, sizeof(f->mnt), "%s/full", f->dir);
	snprintf(empty, sizeof(empty), "%s/empty", f->dir);
	snprintf(empty_db, sizeof(empty_db), "%s/jobs.db", empty);
	assert_int_equal(mkdir(f->mnt, 0700), 0);
	assert_int_equal(mkdir(empty, 0700), 0);
	make_db(f, 10, 100);

	if (geteuid() != 0) {
		/* Permissions hold for anyone but root. */
		assert_int_equal(chmod(f->mnt, 0500), 0);
		assert_int_equal(chmod(empty, 0500), 0);
		f->mnt[0] = '\0';
	} else {
		/* Root writes through permissions: read-only bind mounts. */
		if (!private_mounts()) {
			f->mnt[0] = '\0';
			skip();
		}
		assert_int_equal(mount(f->mnt, f->mnt, NULL, MS_BIND, NULL), 0);
		assert_int_equal(mount(NULL, f->mnt, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL), 0);
		snprintf(f->mnt2, sizeof(f->mnt2), "%s", empty);
		assert_int_equal(mount(empty, empty, NULL, MS_BIND, NULL), 0);
		assert_int_equal(mount(NULL, empty, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL), 0);
		want = -EROFS;
	}
	before = snap(f->path);
	assert_refused(f, f->path, want, strerror(-want));
	assert_unchanged(f->path, &before);
	assert_refused(f, empty_db, want, strerror(-want));
	assert_false(exists(empty_db));
}

/* Version 0 is an empty database, ours by its application_id or no one's
 * yet: what an upgrade starts from, and the same path as a new one. */
static void test_upgrade_from_version_0(void **state)
{
	struct fx *f = *state;
	char sql[100];

	snprintf(sql, sizeof(sql), "PRAGMA application_id = %d; PRAGMA user_version = 0",
		 STORE_SQLITE_APPLICATION_ID);
	sql_on(f->path, sql);
	assert_int_equal(sql_int(f->path, "SELECT count(*) FROM sqlite_master"), 0);
	open_ok(f);
	run_until(f, put(f, 1, 0, 10), false, 10);
	f->s = store_sqlite_close(f->s);
	assert_int_equal(sql_int(f->path, "PRAGMA user_version"), STORE_SQLITE_SCHEMA_VERSION);
	assert_int_equal(sql_int(f->path, "PRAGMA application_id"), STORE_SQLITE_APPLICATION_ID);
	assert_int_equal(sql_int(f->path, "SELECT count(*) FROM jobs"), 1);
	assert_int_equal(sql_int(f->path, "SELECT value FROM meta WHERE name = 'next_id'"), 2);

	/* An empty file (what an interrupted first start may leave). */
	assert_int_equal(unlink(f->path), 0);
	int fd = open(f->path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	close(fd);
	open_ok(f);
	f->s = store_sqlite_close(f->s);
	assert_int_equal(sql_int(f->path, "PRAGMA user_version"), STORE_SQLITE_SCHEMA_VERSION);
	assert_string_equal(sql_text(f->path, "PRAGMA journal_mode", sql, sizeof(sql)), "wal");
}

/* A database of version 1, as that version made it (with a job in it): it
 * is upgraded in place, its job kept, and the indexes version 2 does
 * without are gone. */
static void test_upgrade_from_version_1(void **state)
{
	struct fx *f = *state;
	char sql[2048];

	snprintf(sql, sizeof(sql),
		 "PRAGMA application_id = %d; PRAGMA journal_mode = WAL;"
		 "BEGIN;"
		 "CREATE TABLE meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;"
		 "INSERT INTO meta (name, value) VALUES ('next_id', 8);"
		 "CREATE TABLE jobs (id INTEGER PRIMARY KEY, type TEXT NOT NULL,"
		 " uid INTEGER NOT NULL, state INTEGER NOT NULL, submitted_ms INTEGER NOT NULL,"
		 " started_ms INTEGER NOT NULL, finished_ms INTEGER NOT NULL, key TEXT,"
		 " label TEXT, body TEXT NOT NULL);"
		 "CREATE INDEX jobs_by_state ON jobs (state, id);"
		 "CREATE INDEX jobs_by_type ON jobs (type, id);"
		 "CREATE INDEX jobs_by_uid ON jobs (uid, id);"
		 "CREATE INDEX jobs_by_key ON jobs (uid, key) WHERE key IS NOT NULL;"
		 "INSERT INTO jobs VALUES (7, 'sleep', 1000, 2, 1, 2, 3, 'k', 'tea', '{}');"
		 "PRAGMA user_version = 1;"
		 "COMMIT;", STORE_SQLITE_APPLICATION_ID);
	sql_on(f->path, sql);
	assert_int_equal(sql_int(f->path, "SELECT count(*) FROM sqlite_master WHERE type = 'index'"
				 " AND name LIKE 'jobs_by_%'"), 4);
	open_ok(f);
	f->s = store_sqlite_close(f->s);
	assert_int_equal(sql_int(f->path, "PRAGMA user_version"), STORE_SQLITE_SCHEMA_VERSION);
	assert_int_equal(sql_int(f->path, "SELECT count(*) FROM sqlite_master WHERE type = 'index'"
				 " AND name LIKE 'jobs_by_%'"), 0);
	assert_int_equal(sql_int(f->path, "SELECT count(*) FROM jobs WHERE id = 7 AND key = 'k'"
				 " AND label = 'tea'"), 1);
	assert_int_equal(sql_int(f->path, "SELECT value FROM meta WHERE name = 'next_id'"), 8);
}

static off_t file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? st.st_size : 0;
}

/* 60 MB of records through the store: it checkpoints as it goes and the
 * WAL stays near its bound rather than holding everything. */
static void test_wal_stays_bounded(void **state)
{
	struct fx *f = *state;
	char wal[PATH_MAX + 8];
	off_t biggest = 0;
	uint64_t id = 0, seq = 0;

	snprintf(wal, sizeof(wal), "%s-wal", f->path);
	open_ok(f);
	for (int round = 0; round < 30; round++) {
		for (int i = 0; i < 2000; i++)
			seq = put(f, ++id, 2, 1000);
		run_until(f, seq, false, 30);
		if (file_size(wal) > biggest)
			biggest = file_size(wal);
	}
	struct store_sqlite_stats st = stats(f);
	print_message("%" PRIu64 " records in %" PRIu64 " batches: %" PRIu64
		      " checkpoints, WAL at most %.1f MB, database %.1f MB\n",
		      st.records_written, st.batches, st.checkpoints, biggest / 1e6,
		      file_size(f->path) / 1e6);
	assert_true(st.checkpoints >= 5);
	assert_true(biggest < 24 * 1000 * 1000);
	assert_true(file_size(f->path) > 40 * 1000 * 1000);
}

static void fill(const char *path)
{
	static char block[65536];
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	size_t sizes[] = { sizeof(block), 4096, 512, 1 };

	assert_true(fd >= 0);
	memset(block, 'f', sizeof(block));
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		while (write(fd, block, sizes[i]) > 0)
			;
	assert_int_equal(errno, ENOSPC);
	close(fd);
}

static void test_disk_full(void **state)
{
	struct fx *f = *state;
	char filler[PATH_MAX + 16];
	uint64_t durable_before, seq = 0;

	if (!private_mounts())
		skip();
	snprintf(f->mnt, sizeof(f->mnt), "%s/small", f->dir);
	assert_int_equal(mkdir(f->mnt, 0700), 0);
	if (mount("tmpfs", f->mnt, "tmpfs", MS_NOSUID | MS_NODEV, "size=2m,mode=0700") < 0) {
		print_message("cannot mount a tmpfs: %s\n", strerror(errno));
		f->mnt[0] = '\0';
		skip();
	}
	snprintf(f->path, sizeof(f->path), "%s/jobs.db", f->mnt);
	snprintf(filler, sizeof(filler), "%s/filler", f->mnt);

	open_ok(f);
	for (uint64_t id = 1; id <= 10; id++)
		seq = put(f, id, 2, 200);
	run_until(f, seq, false, 10);
	durable_before = f->durable;

	/* No space left: the commit fails, once reported, nothing durable. */
	fill(filler);
	uint64_t first_unwritten = 0;
	for (uint64_t id = 11; id <= 40; id++) {
		seq = put(f, id, 1, 8000);
		if (!first_unwritten)
			first_unwritten = seq;
	}
	run_until(f, 0, true, 10);
	print_message("disk full: on_durable(%" PRIu64 ", %d)\n", f->durable, f->last_err);
	assert_int_equal(f->last_err, -ENOSPC);
	assert_int_equal(store_sqlite_health(f->s), -ENOSPC);
	assert_int_equal(f->error_calls, 1);
	assert_int_equal(f->durable, durable_before);
	/* Retrying, with nothing reported: still full. */
	run_for(f, 1000);
	assert_int_equal(f->error_calls, 1);
	assert_true(f->durable < first_unwritten);
	assert_true(stats(f).failed_commits >= 2);
	assert_int_equal(stats(f).writing, 30);
	/* More puts meanwhile, one of them an update of a waiting record. */
	put(f, 41, 0, 100);
	seq = put(f, 11, 2, 8000);

	/* Space returns: the engine gets there by itself. */
	assert_int_equal(unlink(filler), 0);
	run_until(f, seq, false, 15);
	assert_int_equal(f->last_err, 0);
	assert_int_equal(store_sqlite_health(f->s), 0);
	assert_false(f->went_back);
	print_message("recovered: on_durable(%" PRIu64 ", 0) after %" PRIu64 " failed commits\n",
		      f->durable, stats(f).failed_commits);

	/* Everything reported durable is there. */
	reopen_and_load(f);
	assert_int_equal(f->n_rows, 41);
	for (uint64_t id = 1; id <= 41; id++)
		assert_int_equal(f->rows[id - 1].id, id);
	assert_row(&f->rows[10], 11, 2);
	assert_row(&f->rows[11], 12, 1);
	assert_int_equal(f->rows[11].body_len, 8000);
	assert_row(&f->rows[40], 41, 0);
}

/* Closing while the disk stays full: one last attempt, then what cannot
 * be written is dropped (with a log line) rather than waited for; what
 * was durable stays. */
static void test_close_while_full(void **state)
{
	struct fx *f = *state;
	char filler[PATH_MAX + 16];
	uint64_t seq = 0;

	if (!private_mounts())
		skip();
	snprintf(f->mnt, sizeof(f->mnt), "%s/small", f->dir);
	assert_int_equal(mkdir(f->mnt, 0700), 0);
	if (mount("tmpfs", f->mnt, "tmpfs", MS_NOSUID | MS_NODEV, "size=2m,mode=0700") < 0) {
		print_message("cannot mount a tmpfs: %s\n", strerror(errno));
		f->mnt[0] = '\0';
		skip();
	}
	snprintf(f->path, sizeof(f->path), "%s/jobs.db", f->mnt);
	snprintf(filler, sizeof(filler), "%s/filler", f->mnt);

	open_ok(f);
	for (uint64_t id = 1; id <= 5; id++)
		seq = put(f, id, 2, 200);
	run_until(f, seq, false, 10);
	fill(filler);
	for (uint64_t id = 6; id <= 30; id++)
		put(f, id, 1, 8000);
	run_until(f, 0, true, 10);
	assert_int_equal(f->last_err, -ENOSPC);

	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	f->s = store_sqlite_close(f->s);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double took = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	print_message("close with the disk full took %.3f s\n", took);
	assert_true(took < 10);

	assert_int_equal(unlink(filler), 0);
	open_ok(f);
	assert_int_equal(store_sqlite_load(f->s, collect, f), 0);
	assert_int_equal(f->n_rows, 5);
	for (uint64_t id = 1; id <= 5; id++)
		assert_row(&f->rows[id - 1], id, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_put_durable_reload, setup, teardown),
		cmocka_unit_test_setup_teardown(test_next_id_and_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_staged_until_submit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_submit_part, setup, teardown),
		cmocka_unit_test_setup_teardown(test_group_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_group_commit_free_running, setup, teardown),
		cmocka_unit_test_setup_teardown(test_same_id_written_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_drains, setup, teardown),
		cmocka_unit_test_setup_teardown(test_idle_thread_sleeps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuse_foreign, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuse_future_schema, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuse_corrupt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuse_missing_directory, setup, teardown),
		cmocka_unit_test_setup_teardown(test_upgrade_from_version_0, setup, teardown),
		cmocka_unit_test_setup_teardown(test_upgrade_from_version_1, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wal_stays_bounded, setup, teardown),
		/* These enter a mount namespace of their own (as root). */
		cmocka_unit_test_setup_teardown(test_refuse_read_only_directory, setup, teardown),
		cmocka_unit_test_setup_teardown(test_disk_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_while_full, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
