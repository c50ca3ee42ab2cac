/* The SQLite store's durable writes: the loop stages copies of records in
 * a byte buffer of its own, without a lock, and hands the whole buffer
 * over once per loop turn under a mutex held only to swap buffers; one
 * thread takes everything handed over at once, writes it in one
 * transaction (group commit), and tells the loop through an eventfd what
 * is now on disk. No record is a malloc of its own: the buffers go round
 * between the loop and the thread and keep their memory. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <sqlite3.h>

#include "daemon/log.h"
#include "daemon/store-sqlite.h"
#include "daemon/xalloc.h"

/* How long a commit waits for a lock another process holds (the sqlite3
 * shell reading the database, say) before it counts as failed. */
#define BUSY_TIMEOUT_MS 5000
/* Retrying a failed commit: 100 ms, doubling, at most 5 s apart. */
#define RETRY_FIRST_MS 100
#define RETRY_MAX_MS 5000
/* WAL frames (pages) after which the thread checkpoints without waiting
 * for readers (when nothing waits to be committed; while something does,
 * not before the second figure: a checkpoint delays the commit behind it),
 * and after which it waits for them and truncates the WAL: a reader that
 * never lets go cannot make it grow without bound. */
#define WAL_CHECKPOINT_FRAMES 1000
#define WAL_BUSY_CHECKPOINT_FRAMES 2048
#define WAL_TRUNCATE_FRAMES 16384
/* What the WAL file is cut back to when it restarts. */
#define JOURNAL_SIZE_LIMIT (16 * 1024 * 1024)

/* An op that a later change of the same id in its batch replaced. */
enum op_kind { OP_PUT, OP_DELETE, OP_REPLACED };

/* One change, in an op_buf: a put's strings follow it, each with a NUL,
 * in the order type, key, label, body. */
struct op {
	size_t size;               /* with the strings, a multiple of the alignment */
	uint64_t seq;
	uint64_t id;
	int64_t submitted_ms, started_ms, finished_ms;
	size_t type_len, key_len, label_len, body_len;
	uint32_t uid;
	int state;
	enum op_kind kind;
	bool has_key, has_label;
	char data[];
};

/* Changes one after another in one allocation. */
struct op_buf {
	char *data;
	size_t len, cap;
	size_t n;                  /* ops in it that are not OP_REPLACED */
};

/* What the thread is writing (and keeps while commits fail). */
struct batch {
	struct op_buf buf;
	struct op **index;         /* its live ops, in id order once coalesced */
	size_t n, cap;
	uint64_t max_seq;          /* every seq up to this is in it or written */
	uint64_t next_id;          /* the high-water mark to write, 0 none */
	uint64_t event_seq;        /* the event mark to write, 0 none */
};

struct store_sqlite {
	char *path;
	sqlite3 *db;
	sqlite3_stmt *st_begin, *st_commit, *st_rollback, *st_upsert, *st_delete, *st_next_id;
	sqlite3_stmt *st_event_seq;

	pthread_mutex_t lock;
	pthread_cond_t wake;           /* CLOCK_MONOTONIC, for the retry wait */
	pthread_t thread;
	bool thread_started;

	/* Under `lock`. */
	struct op_buf pending;         /* handed over, not taken by the thread yet */
	uint64_t n_batch;              /* what the thread holds, written or not */
	uint64_t last_seq;             /* the last one handed over (only the loop
					* writes it, so the loop reads it freely) */
	uint64_t want_next_id;         /* highest set_next_id, 0 none */
	uint64_t taken_next_id;        /* the part of it the thread took */
	uint64_t want_event_seq;       /* highest set_event_seq, 0 none */
	uint64_t taken_event_seq;
	bool stopping;
	/* The thread waits for work. Written under `lock`; read without it
	 * by store_sqlite_idle(), as a hint. */
	atomic_bool idle;
	bool notified;                 /* the eventfd holds news the loop has not read */
	uint64_t durable_seq;
	int err;
	char errmsg[256];
	struct store_sqlite_stats stats;

	/* The loop's. */
	int efd;
	struct event *ev;
	store_sqlite_durable_fn *on_durable;
	void *arg;
	uint64_t next_id;
	uint64_t event_seq;            /* the event mark, as read at open */
	bool used;                     /* something was staged: load is over */
	struct op_buf staged;          /* changes not handed over yet */
	bool staged_any;               /* staged ops or marks: submit has work */
	uint64_t staged_next_id, staged_event_seq;

	/* The thread's (and open's, before it starts). */
	struct batch batch;
	uint64_t written_next_id;
	uint64_t written_event_seq;
	int wal_frames;
};

/* ------------------------------------------------------------ helpers */

static void set_err(char *err, size_t err_size, const char *fmt, ...) LOG_PRINTF(3, 4);
static void set_err(char *err, size_t err_size, const char *fmt, ...)
{
	va_list ap;

	if (!err || err_size == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, err_size, fmt, ap);
	va_end(ap);
}

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* A failed SQLite call as a negative errno: what a caller can act on (a
 * full disk, a broken one, a read-only one) rather than SQLite's codes. */
static int sqlite_errno(sqlite3 *db, int rc)
{
	int sys = db ? sqlite3_system_errno(db) : 0;

	switch (rc & 0xff) {
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_IOERR:
		if (rc == SQLITE_IOERR_NOMEM)
			return -ENOMEM;
		/* ENOSPC, EDQUOT and EIO say more than SQLite's code. */
		return sys > 0 ? -sys : -EIO;
	case SQLITE_READONLY:
		return -EROFS;
	case SQLITE_CANTOPEN:
	case SQLITE_PERM:
		return sys > 0 ? -sys : -EACCES;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_NOTADB:
		return -EINVAL;
	case SQLITE_CORRUPT:
	default:
		return -EIO;
	}
}

static bool is_corrupt(int rc)
{
	return (rc & 0xff) == SQLITE_CORRUPT;
}

/* Runs a statement that returns at most one integer; 0 without a row. */
static int query_int(sqlite3 *db, const char *sql, int64_t *ret)
{
	sqlite3_stmt *st = NULL;
	int64_t v = 0;
	int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);

	if (rc != SQLITE_OK)
		return rc;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		v = sqlite3_column_int64(st, 0);
		rc = SQLITE_DONE;
	}
	if (rc == SQLITE_DONE) {
		rc = SQLITE_OK;
		*ret = v;
	}
	sqlite3_finalize(st);
	return rc;
}

/* The first thing a caller can fix when the database cannot be opened for
 * writing: a missing or read-only directory, or a read-only file. Asks the
 * kernel directly, as SQLite falls back to opening read-only and then
 * reports the errno of that second attempt. Creates nothing. */
static int probe_writable(const char *path, bool *ret_exists)
{
	char *dir = xstrdup(path);
	char *slash = strrchr(dir, '/');
	int r = 0;

	if (!slash)
		strcpy(dir, ".");
	else if (slash == dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	*ret_exists = faccessat(AT_FDCWD, path, F_OK, AT_EACCESS) == 0;
	if (faccessat(AT_FDCWD, dir, F_OK, AT_EACCESS) < 0)
		r = -errno;
	else if (*ret_exists && faccessat(AT_FDCWD, path, R_OK | W_OK, AT_EACCESS) < 0)
		r = -errno;
	else if (faccessat(AT_FDCWD, dir, W_OK | X_OK, AT_EACCESS) < 0)
		r = -errno;   /* the WAL and its index are made beside the file */
	free(dir);
	return r;
}

/* Makes a new file's directory entry durable (SQLite syncs its own
 * journals' directories, not the database's). */
static void sync_directory(const char *path)
{
	char *dir = xstrdup(path);
	char *slash = strrchr(dir, '/');
	int fd;

	if (!slash)
		strcpy(dir, ".");
	else if (slash == dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		if (fsync(fd) < 0)
			log_warn("fsync %s", dir);
		close(fd);
	}
	free(dir);
}

/* Every user's job specs and results are in the database: it is the
 * daemon's alone, whatever the umask and the state directory's mode (the
 * system daemon's is 0755, for the write root beneath it). A new one is
 * made 0600 before SQLite opens it; SQLite gives its WAL and shared-memory
 * files the database's mode when it makes them. */
static int create_private(const char *path, char *err, size_t err_size)
{
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);

	if (fd < 0 && errno != EEXIST) {
		set_err(err, err_size, "cannot make %s: %s", path, strerror(errno));
		return -errno;
	}
	if (fd >= 0)
		close(fd);
	return 0;
}

/* Files an older version left open to others are closed up, once the
 * database is known to be ours (a file that is not is left as it was). */
static int close_up(const char *path, char *err, size_t err_size)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY), e;

	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		e = errno;
		set_err(err, err_size, "cannot open %s: %s", path, strerror(e));
		return -e;
	}
	if (fstat(fd, &st) == 0 && (st.st_mode & 077) && fchmod(fd, st.st_mode & 0700) < 0) {
		e = errno;
		close(fd);
		set_err(err, err_size, "cannot make %s private to asyncjobd: %s", path, strerror(e));
		return -e;
	}
	close(fd);
	return 0;
}

static int close_up_database(const char *path, char *err, size_t err_size)
{
	static const char *const suffixes[] = { "", "-wal", "-shm" };
	size_t n = strlen(path) + sizeof("-wal");
	char *file = xmalloc(n);
	int r = 0;

	for (size_t i = 0; r == 0 && i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		snprintf(file, n, "%s%s", path, suffixes[i]);
		r = close_up(file, err, err_size);
	}
	free(file);
	return r;
}

/* ------------------------------------------------------------ schema */

/* migrations[v] takes a database from schema v to v + 1, inside the one
 * transaction that also sets user_version: an upgrade is whole or not at
 * all. Version 0 is an empty database, so creating one is the same path
 * as upgrading one. */
static const char *const migrations[STORE_SQLITE_SCHEMA_VERSION] = {
	/* 0 → 1 */
	"CREATE TABLE meta ("
	"  name TEXT PRIMARY KEY,"
	"  value INTEGER NOT NULL"
	") WITHOUT ROWID;"
	"INSERT INTO meta (name, value) VALUES ('next_id', 1);"
	"CREATE TABLE jobs ("
	"  id INTEGER PRIMARY KEY,"
	"  type TEXT NOT NULL,"
	"  uid INTEGER NOT NULL,"
	"  state INTEGER NOT NULL,"
	"  submitted_ms INTEGER NOT NULL,"
	"  started_ms INTEGER NOT NULL,"
	"  finished_ms INTEGER NOT NULL,"
	"  key TEXT,"
	"  label TEXT,"
	"  body TEXT NOT NULL"
	");"
	/* Indexes for list queries and keys, dropped by version 2. */
	"CREATE INDEX jobs_by_state ON jobs (state, id);"
	"CREATE INDEX jobs_by_type ON jobs (type, id);"
	"CREATE INDEX jobs_by_uid ON jobs (uid, id);"
	/* Idempotency keys. Not UNIQUE: the daemon keeps keys unique in memory,
	 * and a constraint failure would make the whole batch it is in (other
	 * jobs' records) unwritable, retried for ever. */
	"CREATE INDEX jobs_by_key ON jobs (uid, key) WHERE key IS NOT NULL;",
	/* 1 → 2: nothing reads the table but the load at start, in id order
	 * (the primary key): lists and keys are answered from the jobs in
	 * memory (job_store_list, find_key). Four indexes to keep up at each
	 * write cost the group commit 40% of its throughput. */
	"DROP INDEX jobs_by_state;"
	"DROP INDEX jobs_by_type;"
	"DROP INDEX jobs_by_uid;"
	"DROP INDEX jobs_by_key;",
};

static int upgrade(struct store_sqlite *s, int64_t from, char *err, size_t err_size)
{
	char sql[128];
	int rc;

	rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	for (int64_t v = from; rc == SQLITE_OK && v < STORE_SQLITE_SCHEMA_VERSION; v++)
		rc = sqlite3_exec(s->db, migrations[v], NULL, NULL, NULL);
	if (rc == SQLITE_OK) {
		snprintf(sql, sizeof(sql), "PRAGMA application_id = %d; PRAGMA user_version = %d",
			 (int)STORE_SQLITE_APPLICATION_ID, STORE_SQLITE_SCHEMA_VERSION);
		rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
	}
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		int e = sqlite_errno(s->db, rc);
		set_err(err, err_size, "cannot %s %s (schema %" PRId64 " to %d): %s", from ? "upgrade" : "create",
			s->path, from, STORE_SQLITE_SCHEMA_VERSION, sqlite3_errmsg(s->db));
		if (!sqlite3_get_autocommit(s->db))
			(void)sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
		return e;
	}
	if (from > 0)
		log_notice("upgraded %s from schema %" PRId64 " to %d", s->path, from,
			   STORE_SQLITE_SCHEMA_VERSION);
	return 0;
}

static int refuse_corrupt(struct store_sqlite *s, const char *why, char *err, size_t err_size)
{
	char line[200];
	size_t n = 0;

	/* quick_check's report has several lines; the message is one. */
	for (const char *p = why; *p && n + 2 < sizeof(line); p++) {
		if (*p == '\n') {
			line[n++] = ';';
			line[n++] = ' ';
		} else {
			line[n++] = *p;
		}
	}
	line[n] = '\0';
	set_err(err, err_size,
		"%s is corrupt (%s); it was left as it is: move it away (and restore a backup) "
		"or choose another state_directory", s->path, line);
	return -EIO;
}

/* Whose file this is and which schema it has, reading only: a refused
 * file must stay as it was. Sets *ret_version (0: a new database). */
static int check_identity(struct store_sqlite *s, int64_t *ret_version, char *err, size_t err_size)
{
	int64_t app = 0, version = 0, n_objects = 0;
	int rc;

	rc = query_int(s->db, "PRAGMA application_id", &app);
	if (rc == SQLITE_OK)
		rc = query_int(s->db, "PRAGMA user_version", &version);
	if (rc == SQLITE_OK)
		rc = query_int(s->db, "SELECT count(*) FROM sqlite_master", &n_objects);
	if ((rc & 0xff) == SQLITE_NOTADB)
		goto foreign;
	if (is_corrupt(rc))
		return refuse_corrupt(s, sqlite3_errmsg(s->db), err, err_size);
	if (rc != SQLITE_OK) {
		set_err(err, err_size, "cannot read %s: %s", s->path, sqlite3_errmsg(s->db));
		return sqlite_errno(s->db, rc);
	}
	if (app == 0 && n_objects == 0 && version == 0) {
		*ret_version = 0;
		return 0;
	}
	if (app != STORE_SQLITE_APPLICATION_ID)
		goto foreign;
	if (version > STORE_SQLITE_SCHEMA_VERSION) {
		set_err(err, err_size,
			"%s was written by a newer asyncjobd (schema %" PRId64 ", this one knows %d); "
			"run that version, or move the file away",
			s->path, version, STORE_SQLITE_SCHEMA_VERSION);
		return -EPROTO;
	}
	if (version < 0)
		goto foreign;
	*ret_version = version;
	return 0;
foreign:
	set_err(err, err_size,
		"%s is not an asyncjobd database; move it away or choose another state_directory",
		s->path);
	return -EINVAL;
}

/* Reads every page of the b-trees (not the cross-checks of integrity_check):
 * a corrupt database is refused at start rather than found by a commit
 * that would then fail for ever. */
static int check_pages(struct store_sqlite *s, char *err, size_t err_size)
{
	sqlite3_stmt *st = NULL;
	char why[200] = "";
	int rc = sqlite3_prepare_v2(s->db, "PRAGMA quick_check(1)", -1, &st, NULL);

	if (rc == SQLITE_OK) {
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			const char *res = (const char *)sqlite3_column_text(st, 0);
			if (!res || strcmp(res, "ok") != 0)
				snprintf(why, sizeof(why), "%s", res ? res : "quick_check failed");
			rc = SQLITE_OK;
		}
	}
	if (rc != SQLITE_OK && rc != SQLITE_DONE && !why[0]) {
		if (!is_corrupt(rc) && (rc & 0xff) != SQLITE_NOTADB) {
			set_err(err, err_size, "cannot read %s: %s", s->path, sqlite3_errmsg(s->db));
			sqlite3_finalize(st);
			return sqlite_errno(s->db, rc);
		}
		snprintf(why, sizeof(why), "%s", sqlite3_errmsg(s->db));
	}
	sqlite3_finalize(st);
	return why[0] ? refuse_corrupt(s, why, err, err_size) : 0;
}

static int configure(struct store_sqlite *s, enum store_sync sync, char *err, size_t err_size)
{
	sqlite3_stmt *st = NULL;
	char sql[160];
	bool wal = false;
	int rc;

	/* journal_mode answers with the mode now in force. */
	rc = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode = WAL", -1, &st, NULL);
	if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *mode = (const char *)sqlite3_column_text(st, 0);
		wal = mode && strcmp(mode, "wal") == 0;
		rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	if (rc == SQLITE_OK && !wal) {
		set_err(err, err_size, "cannot use write-ahead logging for %s (its filesystem may not "
			"support shared memory mappings); choose another state_directory", s->path);
		return -EOPNOTSUPP;
	}
	if (rc == SQLITE_OK) {
		snprintf(sql, sizeof(sql), "PRAGMA synchronous = %s; PRAGMA journal_size_limit = %d",
			 sync == STORE_SYNC_NORMAL ? "NORMAL" : "FULL", JOURNAL_SIZE_LIMIT);
		rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
	}
	if (rc != SQLITE_OK) {
		set_err(err, err_size, "cannot set up %s: %s", s->path, sqlite3_errmsg(s->db));
		return is_corrupt(rc) ? refuse_corrupt(s, sqlite3_errmsg(s->db), err, err_size)
				      : sqlite_errno(s->db, rc);
	}
	return 0;
}

static int prepare(struct store_sqlite *s, const char *sql, sqlite3_stmt **ret)
{
	return sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, ret, NULL);
}

static int prepare_all(struct store_sqlite *s)
{
	int rc = prepare(s, "BEGIN IMMEDIATE", &s->st_begin);

	if (rc == SQLITE_OK)
		rc = prepare(s, "COMMIT", &s->st_commit);
	if (rc == SQLITE_OK)
		rc = prepare(s, "ROLLBACK", &s->st_rollback);
	if (rc == SQLITE_OK)
		rc = prepare(s,
			     "INSERT INTO jobs (id, type, uid, state, submitted_ms, started_ms,"
			     " finished_ms, key, label, body)"
			     " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
			     /* A job's type, owner, submission time and key never
			      * change: leaving them out spares their indexes on
			      * every state change. */
			     " ON CONFLICT (id) DO UPDATE SET state = excluded.state,"
			     " started_ms = excluded.started_ms, finished_ms = excluded.finished_ms,"
			     " label = excluded.label, body = excluded.body",
			     &s->st_upsert);
	if (rc == SQLITE_OK)
		rc = prepare(s, "DELETE FROM jobs WHERE id = ?1", &s->st_delete);
	if (rc == SQLITE_OK)
		rc = prepare(s, "UPDATE meta SET value = max(value, ?1) WHERE name = 'next_id'",
			     &s->st_next_id);
	/* A row of its own, made by the first mark: schema 1 as it was. */
	if (rc == SQLITE_OK)
		rc = prepare(s, "INSERT INTO meta (name, value) VALUES ('event_seq', ?1)"
			     " ON CONFLICT (name) DO UPDATE SET value = max(value, excluded.value)",
			     &s->st_event_seq);
	return rc;
}

static void finalize_all(struct store_sqlite *s)
{
	sqlite3_stmt **all[] = { &s->st_begin, &s->st_commit, &s->st_rollback, &s->st_upsert,
				 &s->st_delete, &s->st_next_id, &s->st_event_seq };

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		sqlite3_finalize(*all[i]);
		*all[i] = NULL;
	}
}

/* Counts WAL frames after each commit; the thread checkpoints by them
 * (this replaces SQLite's automatic checkpoint, which it imitates). */
static int on_wal_commit(void *arg, sqlite3 *db, const char *name, int frames)
{
	struct store_sqlite *s = arg;
	(void)db;
	(void)name;
	s->wal_frames = frames;
	return SQLITE_OK;
}

/* ------------------------------------------------------------ op buffers */

#define OP_ALIGN _Alignof(struct op)

static size_t op_size(size_t strings)
{
	size_t n = sizeof(struct op) + strings;

	return (n + OP_ALIGN - 1) / OP_ALIGN * OP_ALIGN;
}

static void op_buf_grow(struct op_buf *b, size_t more)
{
	if (b->cap - b->len >= more)
		return;
	size_t cap = b->cap ? b->cap * 2 : 16384;
	while (cap - b->len < more)
		cap *= 2;
	b->data = xrealloc(b->data, cap);
	b->cap = cap;
}

/* Room for one op of `size` bytes at the end. */
static struct op *op_buf_add(struct op_buf *b, size_t size)
{
	op_buf_grow(b, size);
	struct op *o = (struct op *)(void *)(b->data + b->len);
	b->len += size;
	b->n++;
	return o;
}

static struct op *op_at(const struct op_buf *b, size_t offset)
{
	return (struct op *)(void *)(b->data + offset);
}

/* Moves everything in `from` to the end of `to`: by swapping the two when
 * `to` is empty (the usual case, no copy), else by copying. */
static void op_buf_move(struct op_buf *to, struct op_buf *from)
{
	if (to->len == 0) {
		struct op_buf t = *to;
		*to = *from;
		*from = t;
	} else if (from->len > 0) {
		op_buf_grow(to, from->len);
		memcpy(to->data + to->len, from->data, from->len);
		to->len += from->len;
		to->n += from->n;
	}
	from->len = 0;
	from->n = 0;
}

/* Empties `b`; a buffer a burst made large gives its memory back. */
static void op_buf_clear(struct op_buf *b)
{
	b->len = 0;
	b->n = 0;
	if (b->cap > 4u * 1024 * 1024) {
		free(b->data);
		b->data = NULL;
		b->cap = 0;
	}
}

static const char *op_type(const struct op *o)
{
	return o->data;
}

static const char *op_key(const struct op *o)
{
	return o->has_key ? o->data + o->type_len + 1 : NULL;
}

static const char *op_label(const struct op *o)
{
	return o->has_label ? o->data + o->type_len + o->key_len + 2 : NULL;
}

static const char *op_body(const struct op *o)
{
	return o->data + o->type_len + o->key_len + o->label_len + 3;
}

/* ------------------------------------------------------------ the thread */

/* By id, then in the order the changes were made: by seq, and within one
 * hand-over (one seq) by place in the buffer, which is the order of the
 * calls. */
static int cmp_op(const void *a, const void *b)
{
	const struct op *x = *(struct op *const *)a, *y = *(struct op *const *)b;

	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	if (x->seq != y->seq)
		return x->seq < y->seq ? -1 : 1;
	return (const char *)x < (const char *)y ? -1 : (const char *)x > (const char *)y;
}

/* Indexes the batch's live ops by id and keeps the last change of each: a
 * job made and finished within one batch is written once, in its final
 * state. Returns how many were dropped. */
static size_t coalesce(struct batch *b)
{
	size_t n = 0, out = 0;

	if (b->buf.n > b->cap) {
		b->cap = b->buf.n + b->buf.n / 2;
		b->index = xrealloc(b->index, b->cap * sizeof(*b->index));
	}
	for (size_t off = 0; off < b->buf.len; off += op_at(&b->buf, off)->size) {
		struct op *o = op_at(&b->buf, off);
		if (o->kind != OP_REPLACED)
			b->index[n++] = o;
	}
	if (n > 1)
		qsort(b->index, n, sizeof(*b->index), cmp_op);
	for (size_t i = 0; i < n; i++) {
		if (i + 1 < n && b->index[i + 1]->id == b->index[i]->id) {
			b->index[i]->kind = OP_REPLACED;
			continue;
		}
		b->index[out++] = b->index[i];
	}
	b->n = out;
	b->buf.n = out;
	return n - out;
}

static int step_reset(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
}

static int write_put(struct store_sqlite *s, const struct op *o)
{
	sqlite3_stmt *st = s->st_upsert;

	sqlite3_bind_int64(st, 1, (sqlite3_int64)o->id);
	sqlite3_bind_text64(st, 2, op_type(o), o->type_len, SQLITE_STATIC, SQLITE_UTF8);
	sqlite3_bind_int64(st, 3, o->uid);
	sqlite3_bind_int(st, 4, o->state);
	sqlite3_bind_int64(st, 5, o->submitted_ms);
	sqlite3_bind_int64(st, 6, o->started_ms);
	sqlite3_bind_int64(st, 7, o->finished_ms);
	if (o->has_key)
		sqlite3_bind_text64(st, 8, op_key(o), o->key_len, SQLITE_STATIC, SQLITE_UTF8);
	else
		sqlite3_bind_null(st, 8);
	if (o->has_label)
		sqlite3_bind_text64(st, 9, op_label(o), o->label_len, SQLITE_STATIC, SQLITE_UTF8);
	else
		sqlite3_bind_null(st, 9);
	sqlite3_bind_text64(st, 10, op_body(o), o->body_len, SQLITE_STATIC, SQLITE_UTF8);
	int rc = step_reset(st);
	sqlite3_clear_bindings(st);
	return rc;
}

/* One transaction for the whole batch. Returns 0, or a negative errno
 * with the transaction rolled back and the batch as it was. */
static int write_batch(struct store_sqlite *s, uint64_t *ret_written, uint64_t *ret_deleted)
{
	struct batch *b = &s->batch;
	uint64_t written = 0, deleted = 0;
	int rc = step_reset(s->st_begin);

	/* Deletions first: ids are never reused, so a deletion is always of an
	 * older job, whose key a newer one may take over in the same batch. */
	for (size_t i = 0; rc == SQLITE_OK && i < b->n; i++) {
		if (b->index[i]->kind != OP_DELETE)
			continue;
		sqlite3_bind_int64(s->st_delete, 1, (sqlite3_int64)b->index[i]->id);
		rc = step_reset(s->st_delete);
		deleted++;
	}
	for (size_t i = 0; rc == SQLITE_OK && i < b->n; i++) {
		if (b->index[i]->kind != OP_PUT)
			continue;
		rc = write_put(s, b->index[i]);
		written++;
	}
	if (rc == SQLITE_OK && b->next_id > s->written_next_id) {
		sqlite3_bind_int64(s->st_next_id, 1, (sqlite3_int64)b->next_id);
		rc = step_reset(s->st_next_id);
	}
	if (rc == SQLITE_OK && b->event_seq > s->written_event_seq) {
		sqlite3_bind_int64(s->st_event_seq, 1, (sqlite3_int64)b->event_seq);
		rc = step_reset(s->st_event_seq);
	}
	if (rc == SQLITE_OK)
		rc = step_reset(s->st_commit);
	if (rc == SQLITE_OK) {
		if (b->next_id > s->written_next_id)
			s->written_next_id = b->next_id;
		if (b->event_seq > s->written_event_seq)
			s->written_event_seq = b->event_seq;
		*ret_written = written;
		*ret_deleted = deleted;
		return 0;
	}
	int e = sqlite_errno(s->db, rc);
	pthread_mutex_lock(&s->lock);
	snprintf(s->errmsg, sizeof(s->errmsg), "%s", sqlite3_errmsg(s->db));
	pthread_mutex_unlock(&s->lock);
	/* After SQLITE_FULL or an I/O error SQLite may have rolled back
	 * already; otherwise this does. */
	if (!sqlite3_get_autocommit(s->db))
		(void)step_reset(s->st_rollback);
	return e;
}

static void free_batch_ops(struct batch *b)
{
	op_buf_clear(&b->buf);
	b->n = 0;
	if (b->cap > 65536) {
		free(b->index);
		b->index = NULL;
		b->cap = 0;
	}
}

/* Takes everything handed over into the batch (after what a failed commit
 * left there). Called with the lock held. */
static void take_pending(struct store_sqlite *s)
{
	struct batch *b = &s->batch;

	op_buf_move(&b->buf, &s->pending);
	s->n_batch = b->buf.n;
	if (s->want_next_id > b->next_id)
		b->next_id = s->want_next_id;
	s->taken_next_id = s->want_next_id;
	if (s->want_event_seq > b->event_seq)
		b->event_seq = s->want_event_seq;
	s->taken_event_seq = s->want_event_seq;
	b->max_seq = s->last_seq;
}

static bool has_work(struct store_sqlite *s)
{
	return s->pending.len > 0 || s->batch.buf.len > 0 || s->want_next_id > s->taken_next_id ||
	       s->want_event_seq > s->taken_event_seq;
}

/* Tells the loop there is news; at most one unread wake-up at a time.
 * Called with the lock held. */
static void notify_locked(struct store_sqlite *s)
{
	uint64_t one = 1;

	if (s->notified)
		return;
	s->notified = true;
	while (write(s->efd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
}

static void checkpoint(struct store_sqlite *s)
{
	int frames = s->wal_frames;
	int mode;

	if (frames < WAL_CHECKPOINT_FRAMES)
		return;
	if (frames < WAL_BUSY_CHECKPOINT_FRAMES) {
		pthread_mutex_lock(&s->lock);
		bool busy = has_work(s);
		pthread_mutex_unlock(&s->lock);
		if (busy)
			return;
	}
	mode = frames >= WAL_TRUNCATE_FRAMES ? SQLITE_CHECKPOINT_TRUNCATE : SQLITE_CHECKPOINT_PASSIVE;
	int rc = sqlite3_wal_checkpoint_v2(s->db, NULL, mode, NULL, NULL);
	/* A failed checkpoint loses nothing (the WAL keeps it all); a full
	 * disk shows at the next commit. */
	if (rc != SQLITE_OK && rc != SQLITE_BUSY)
		log_warnx("checkpoint of %s: %s", s->path, sqlite3_errmsg(s->db));
	s->wal_frames = 0;
	pthread_mutex_lock(&s->lock);
	s->stats.checkpoints++;
	pthread_mutex_unlock(&s->lock);
}

static void wait_retry(struct store_sqlite *s, unsigned ms)
{
	struct timespec until;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	/* New puts do not wake it (they do not signal a busy thread); close
	 * does. */
	while (!s->stopping)
		if (pthread_cond_timedwait(&s->wake, &s->lock, &until) == ETIMEDOUT)
			break;
}

static void *store_main(void *arg)
{
	struct store_sqlite *s = arg;
	unsigned retry_ms = 0;

	pthread_mutex_lock(&s->lock);
	for (;;) {
		while (!s->stopping && !has_work(s)) {
			s->idle = true;
			pthread_cond_wait(&s->wake, &s->lock);
		}
		s->idle = false;
		if (!has_work(s))
			break;   /* stopping, and all is written */
		bool last_try = s->stopping;
		take_pending(s);
		pthread_mutex_unlock(&s->lock);

		uint64_t coalesced = coalesce(&s->batch);
		uint64_t size = s->batch.n, written = 0, deleted = 0;
		uint64_t t0 = now_us();
		int r = write_batch(s, &written, &deleted);
		uint64_t t1 = now_us();

		pthread_mutex_lock(&s->lock);
		s->stats.coalesced += coalesced;
		if (r == 0) {
			bool recovered = s->err != 0;
			s->durable_seq = s->batch.max_seq;
			s->err = 0;
			s->stats.batches++;
			s->stats.records_written += written;
			s->stats.records_deleted += deleted;
			s->stats.last_commit_us = t1 - t0;
			s->stats.commit_us += t1 - t0;
			s->stats.last_batch_size = size;
			s->stats.durable_seq = s->durable_seq;
			s->n_batch = 0;
			notify_locked(s);
			pthread_mutex_unlock(&s->lock);
			if (recovered)
				log_notice("%s: commits work again", s->path);
			free_batch_ops(&s->batch);
			s->batch.next_id = 0;
			s->batch.event_seq = 0;
			checkpoint(s);
			retry_ms = 0;
			pthread_mutex_lock(&s->lock);
			continue;
		}
		s->stats.failed_commits++;
		s->n_batch = s->batch.n;
		bool changed = r != s->err;
		char why[sizeof(s->errmsg)];
		if (changed) {
			s->err = r;
			notify_locked(s);
			memcpy(why, s->errmsg, sizeof(why));
		}
		if (last_try)
			s->n_batch = 0;
		pthread_mutex_unlock(&s->lock);

		/* Logged once per kind of failure, not per retry. */
		if (changed)
			log_warnx("cannot commit to %s: %s (%s); %s", s->path, strerror(-r), why,
				  last_try ? "giving up at shutdown" : "retrying, nothing is lost");
		if (last_try) {
			log_warnx("%s: %zu records and deletions not written at shutdown: %s", s->path,
				  s->batch.n, strerror(-r));
			free_batch_ops(&s->batch);
			s->batch.next_id = 0;
			s->batch.event_seq = 0;
			pthread_mutex_lock(&s->lock);
			break;
		}
		pthread_mutex_lock(&s->lock);
		retry_ms = retry_ms ? retry_ms * 2 : RETRY_FIRST_MS;
		if (retry_ms > RETRY_MAX_MS)
			retry_ms = RETRY_MAX_MS;
		wait_retry(s, retry_ms);
	}
	pthread_mutex_unlock(&s->lock);

	/* The last SQLite calls are this thread's too: closing checkpoints. */
	finalize_all(s);
	if (sqlite3_close(s->db) != SQLITE_OK)
		log_warnx("closing %s: %s", s->path, sqlite3_errmsg(s->db));
	s->db = NULL;
	return NULL;
}

/* ------------------------------------------------------------ the loop */

static void on_eventfd(evutil_socket_t fd, short what, void *arg)
{
	struct store_sqlite *s = arg;
	uint64_t n;
	(void)what;

	while (read(fd, &n, sizeof(n)) < 0 && errno == EINTR)
		;
	pthread_mutex_lock(&s->lock);
	s->notified = false;
	uint64_t seq = s->durable_seq;
	int err = s->err;
	pthread_mutex_unlock(&s->lock);
	/* After each commit, even one that only wrote part of a number's
	 * records (store_sqlite_submit_part): the loop may hand over more.
	 * Last: the callback may close the store. */
	s->on_durable(s->arg, seq, err);
}

int store_sqlite_open(const char *path, enum store_sync sync, struct event_base *base,
		      store_sqlite_durable_fn *on_durable, void *arg,
		      struct store_sqlite **ret, char *err, size_t err_size)
{
	struct store_sqlite *s;
	pthread_condattr_t cattr;
	int64_t version = 0, next_id = 1;
	bool existed;
	int r, rc;

	set_err(err, err_size, "%s", "");
	r = probe_writable(path, &existed);
	if (r < 0) {
		set_err(err, err_size, "cannot open %s for writing: %s", path, strerror(-r));
		return r;
	}

	s = xcalloc(1, sizeof(*s));
	s->path = xstrdup(path);
	s->efd = -1;
	s->on_durable = on_durable;
	s->arg = arg;
	pthread_mutex_init(&s->lock, NULL);
	pthread_condattr_init(&cattr);
	pthread_condattr_setclock(&cattr, CLOCK_MONOTONIC);
	pthread_cond_init(&s->wake, &cattr);
	pthread_condattr_destroy(&cattr);

	r = create_private(path, err, err_size);
	if (r < 0)
		goto fail;
	/* One connection, used by one thread at a time (this one until the
	 * store thread starts): no mutex of SQLite's own. */
	rc = sqlite3_open_v2(path, &s->db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX |
			     SQLITE_OPEN_EXRESCODE, NULL);
	if (rc != SQLITE_OK) {
		r = sqlite_errno(s->db, rc);
		set_err(err, err_size, "cannot open %s: %s", path,
			s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
		goto fail;
	}
	if (sqlite3_db_readonly(s->db, "main") == 1) {
		r = -EROFS;
		set_err(err, err_size, "cannot open %s for writing: %s", path, strerror(-r));
		goto fail;
	}
	sqlite3_extended_result_codes(s->db, 1);
	sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);

	r = check_identity(s, &version, err, err_size);
	if (r == 0 && version > 0)
		r = check_pages(s, err, err_size);
	if (r == 0)
		r = configure(s, sync, err, err_size);
	if (r == 0 && version < STORE_SQLITE_SCHEMA_VERSION)
		r = upgrade(s, version, err, err_size);
	if (r < 0)
		goto fail;
	if (!existed)
		sync_directory(path);

	rc = query_int(s->db,
		       "SELECT max((SELECT value FROM meta WHERE name = 'next_id'),"
		       " coalesce((SELECT max(id) FROM jobs), 0) + 1, 1)", &next_id);
	int64_t event_seq = 0;
	if (rc == SQLITE_OK)
		rc = query_int(s->db, "SELECT coalesce((SELECT value FROM meta WHERE name = 'event_seq'),"
			       " 0)", &event_seq);
	if (rc == SQLITE_OK)
		rc = prepare_all(s);
	if (rc != SQLITE_OK) {
		r = is_corrupt(rc) ? refuse_corrupt(s, sqlite3_errmsg(s->db), err, err_size)
				   : sqlite_errno(s->db, rc);
		if (!is_corrupt(rc))
			set_err(err, err_size, "cannot read %s: %s", path, sqlite3_errmsg(s->db));
		goto fail;
	}
	r = close_up_database(path, err, err_size);
	if (r < 0)
		goto fail;
	s->next_id = (uint64_t)next_id;
	s->written_next_id = (uint64_t)next_id;
	s->event_seq = (uint64_t)event_seq;
	s->written_event_seq = (uint64_t)event_seq;
	sqlite3_wal_hook(s->db, on_wal_commit, s);

	s->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->efd < 0) {
		r = -errno;
		set_err(err, err_size, "eventfd: %s", strerror(-r));
		goto fail;
	}
	s->ev = event_new(base, s->efd, EV_READ | EV_PERSIST, on_eventfd, s);
	if (!s->ev || event_add(s->ev, NULL) < 0) {
		r = -ENOMEM;
		set_err(err, err_size, "cannot watch the store's eventfd");
		goto fail;
	}
	rc = pthread_create(&s->thread, NULL, store_main, s);
	if (rc != 0) {
		r = -rc;
		set_err(err, err_size, "cannot start the store thread: %s", strerror(rc));
		goto fail;
	}
	s->thread_started = true;
	(void)pthread_setname_np(s->thread, "asyncjobd-store");
	*ret = s;
	return 0;
fail:
	store_sqlite_close(s);
	return r;
}

int store_sqlite_load(struct store_sqlite *s,
		      int (*each)(void *arg, const struct store_record *rec), void *arg)
{
	sqlite3_stmt *st = NULL;
	int r = 0, rc;

	if (s->used)
		return -EBUSY;
	rc = sqlite3_prepare_v2(s->db,
				"SELECT id, type, uid, state, submitted_ms, started_ms, finished_ms,"
				" key, label, body FROM jobs ORDER BY id", -1, &st, NULL);
	while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct store_record rec = {
			.id = (uint64_t)sqlite3_column_int64(st, 0),
			.type = (const char *)sqlite3_column_text(st, 1),
			.uid = (uint32_t)sqlite3_column_int64(st, 2),
			.state = sqlite3_column_int(st, 3),
			.submitted_ms = sqlite3_column_int64(st, 4),
			.started_ms = sqlite3_column_int64(st, 5),
			.finished_ms = sqlite3_column_int64(st, 6),
			.key = (const char *)sqlite3_column_text(st, 7),
			.key_len = (size_t)sqlite3_column_bytes(st, 7),
			.label = (const char *)sqlite3_column_text(st, 8),
			.body = (const char *)sqlite3_column_text(st, 9),
			.body_len = (size_t)sqlite3_column_bytes(st, 9),
		};
		if (!rec.type)
			rec.type = "";
		if (!rec.body)
			rec.body = "";
		r = each(arg, &rec);
		if (r != 0)
			break;
		rc = SQLITE_OK;
	}
	if (r == 0 && rc != SQLITE_DONE) {
		r = is_corrupt(rc) || (rc & 0xff) == SQLITE_NOTADB ? -EIO : sqlite_errno(s->db, rc);
		log_errx("cannot load the jobs of %s: %s%s", s->path, sqlite3_errmsg(s->db),
			 r == -EIO ? "; it was left as it is: move it away (and restore a backup)" : "");
	}
	sqlite3_finalize(st);
	return r;
}

uint64_t store_sqlite_next_id(struct store_sqlite *s)
{
	return s->next_id;
}

/* The number the staged changes get when they are handed over. */
static uint64_t staged(struct store_sqlite *s)
{
	s->used = true;
	s->staged_any = true;
	return s->last_seq + 1;
}

static void copy_in(char **p, const char *src, size_t n)
{
	if (n)
		memcpy(*p, src, n);
	(*p)[n] = '\0';
	*p += n + 1;
}

uint64_t store_sqlite_put(struct store_sqlite *s, const struct store_record *rec)
{
	const char *type = rec->type ? rec->type : "";
	size_t type_len = strlen(type);
	size_t label_len = rec->label ? strlen(rec->label) : 0;
	size_t key_len = rec->key ? rec->key_len : 0;
	size_t body_len = rec->body ? rec->body_len : 0;
	struct op *o = op_buf_add(&s->staged, op_size(type_len + key_len + label_len + body_len + 4));
	char *p = o->data;

	o->size = op_size(type_len + key_len + label_len + body_len + 4);
	o->seq = s->last_seq + 1;
	o->kind = OP_PUT;
	o->id = rec->id;
	o->uid = rec->uid;
	o->state = rec->state;
	o->submitted_ms = rec->submitted_ms;
	o->started_ms = rec->started_ms;
	o->finished_ms = rec->finished_ms;
	o->type_len = type_len;
	o->key_len = key_len;
	o->label_len = label_len;
	o->body_len = body_len;
	o->has_key = rec->key != NULL;
	o->has_label = rec->label != NULL;
	copy_in(&p, type, type_len);
	copy_in(&p, rec->key, key_len);
	copy_in(&p, rec->label, label_len);
	copy_in(&p, rec->body, body_len);
	/* The high-water mark follows every id put (even one whose record a
	 * deletion in the same batch makes unwritten), so that deleting the
	 * newest records never lowers it. */
	if (rec->id >= s->next_id)
		s->next_id = rec->id + 1;
	if (rec->id + 1 > s->staged_next_id)
		s->staged_next_id = rec->id + 1;
	return staged(s);
}

uint64_t store_sqlite_delete(struct store_sqlite *s, uint64_t id)
{
	struct op *o = op_buf_add(&s->staged, op_size(0));

	memset(o, 0, sizeof(*o));
	o->size = op_size(0);
	o->seq = s->last_seq + 1;
	o->kind = OP_DELETE;
	o->id = id;
	/* The id was handed out, even if its record was never written (made
	 * and deleted within one turn): the mark covers it. */
	if (id >= s->next_id)
		s->next_id = id + 1;
	if (id + 1 > s->staged_next_id)
		s->staged_next_id = id + 1;
	return staged(s);
}

uint64_t store_sqlite_set_next_id(struct store_sqlite *s, uint64_t next)
{
	if (next > s->next_id)
		s->next_id = next;
	if (next > s->staged_next_id)
		s->staged_next_id = next;
	return staged(s);
}

uint64_t store_sqlite_event_seq(struct store_sqlite *s)
{
	return s->event_seq;
}

uint64_t store_sqlite_set_event_seq(struct store_sqlite *s, uint64_t seq)
{
	if (seq > s->event_seq)
		s->event_seq = seq;
	if (seq > s->staged_event_seq)
		s->staged_event_seq = seq;
	return staged(s);
}

bool store_sqlite_idle(struct store_sqlite *s)
{
	return atomic_load_explicit(&s->idle, memory_order_relaxed);
}

uint64_t store_sqlite_staged_seq(struct store_sqlite *s)
{
	return s->last_seq + 1;
}

/* Moves what is staged to the thread; `close` gives it its number. */
static void hand_over(struct store_sqlite *s, bool close)
{
	bool wake;

	pthread_mutex_lock(&s->lock);
	op_buf_move(&s->pending, &s->staged);
	if (s->staged_next_id > s->want_next_id)
		s->want_next_id = s->staged_next_id;
	if (s->staged_event_seq > s->want_event_seq)
		s->want_event_seq = s->staged_event_seq;
	/* A part's ops carry last_seq + 1, but a batch taken before the
	 * number is closed says only last_seq is durable (take_pending). */
	if (close)
		s->last_seq++;
	wake = s->idle;
	s->idle = false;
	pthread_mutex_unlock(&s->lock);
	if (wake)
		pthread_cond_signal(&s->wake);
	s->staged_next_id = 0;
	s->staged_event_seq = 0;
}

uint64_t store_sqlite_submit(struct store_sqlite *s)
{
	if (!s->staged_any)
		return s->last_seq;
	hand_over(s, true);
	s->staged_any = false;
	return s->last_seq;
}

void store_sqlite_submit_part(struct store_sqlite *s)
{
	if (s->staged.len > 0 || s->staged_next_id || s->staged_event_seq)
		hand_over(s, false);
}

size_t store_sqlite_staged_bytes(struct store_sqlite *s)
{
	return s->staged.len;
}

size_t store_sqlite_pending_bytes(struct store_sqlite *s)
{
	pthread_mutex_lock(&s->lock);
	size_t n = s->pending.len;
	pthread_mutex_unlock(&s->lock);
	return n;
}

int store_sqlite_health(struct store_sqlite *s)
{
	pthread_mutex_lock(&s->lock);
	int err = s->err;
	pthread_mutex_unlock(&s->lock);
	return err;
}

void store_sqlite_stats(struct store_sqlite *s, struct store_sqlite_stats *ret)
{
	pthread_mutex_lock(&s->lock);
	*ret = s->stats;
	ret->queued = s->pending.n;
	ret->writing = s->n_batch;
	pthread_mutex_unlock(&s->lock);
}

struct store_sqlite *store_sqlite_close(struct store_sqlite *s)
{
	if (!s)
		return NULL;
	if (s->thread_started) {
		store_sqlite_submit(s);
		pthread_mutex_lock(&s->lock);
		s->stopping = true;
		pthread_mutex_unlock(&s->lock);
		pthread_cond_signal(&s->wake);
		pthread_join(s->thread, NULL);
		/* What this run wrote; commits that had to be tried again were
		 * logged as they failed, and are only counted here. */
		log_info("%s: %" PRIu64 " commit(s) of %" PRIu64 " record(s) and %" PRIu64
			 " deletion(s) in %.1f ms; %" PRIu64 " change(s) coalesced, %" PRIu64
			 " commit(s) tried again", s->path, s->stats.batches, s->stats.records_written,
			 s->stats.records_deleted, (double)s->stats.commit_us / 1000.0,
			 s->stats.coalesced, s->stats.failed_commits);
	} else if (s->db) {
		/* open failed: nothing was queued; a refused file is only read,
		 * so closing leaves it as it was. */
		finalize_all(s);
		sqlite3_close(s->db);
		s->db = NULL;
	}
	free(s->pending.data);
	free(s->staged.data);
	free(s->batch.buf.data);
	free(s->batch.index);
	if (s->ev)
		event_free(s->ev);
	if (s->efd >= 0)
		close(s->efd);
	pthread_cond_destroy(&s->wake);
	pthread_mutex_destroy(&s->lock);
	free(s->path);
	free(s);
	return NULL;
}
