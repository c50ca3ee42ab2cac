/* The durable-write engine of the SQLite store: one thread does every
 * SQLite call after open, writes what the loop hands it in group commits,
 * and tells the loop through an eventfd when records are on disk. It
 * speaks only ids and serialised records; it knows nothing of struct job. */
#ifndef ASYNCJOBD_STORE_SQLITE_H
#define ASYNCJOBD_STORE_SQLITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct store_sqlite;

/* The schema this code writes (PRAGMA user_version). A database with an
 * older one is upgraded in place at open; a newer one is refused. */
#define STORE_SQLITE_SCHEMA_VERSION 2
/* PRAGMA application_id of our databases: "ajob". */
#define STORE_SQLITE_APPLICATION_ID 0x616a6f62

/* What survives a restart. The caller fills it and keeps ownership: the
 * engine copies what it needs. Strings need not be NUL-terminated where a
 * length is given; the others must be. type, uid, submitted_ms and key
 * are a job's identity, kept from the first put of its id: later puts
 * change state, started_ms, finished_ms, label and body. */
struct store_record {
	uint64_t id;
	const char *type;              /* "sleep", "fetch", "write" */
	uint32_t uid;
	int state;                     /* proto/protocol.h's enum job_state */
	int64_t submitted_ms, started_ms, finished_ms;  /* wall clock; 0 = not yet */
	const char *key;               /* idempotency key, NULL for none */
	size_t key_len;
	const char *label;             /* NULL for none */
	const char *body;              /* the rest, JSON text made by the caller */
	size_t body_len;
};

enum store_sync {
	STORE_SYNC_FULL,               /* on disk at commit: survives power loss */
	STORE_SYNC_NORMAL,             /* survives a crash of the daemon, not of the machine */
};

/* Called on the loop thread (from the eventfd's callback) when what is
 * durable or the store's health changed: `seq` is the highest sequence
 * number (from store_sqlite_put() and friends) whose records are on disk,
 * 0 before the first; `err` is 0, or the negative errno that stops
 * commits (-ENOSPC, -EIO, -EROFS, ...) while they fail. One call per
 * change, and after each commit (more may be handed over then), not per
 * record nor per retry. The callback may call put, delete
 * and set_next_id, and may close the store. */
typedef void store_sqlite_durable_fn(void *arg, uint64_t seq, int err);

/* Opens or creates the database at `path` and starts the store thread;
 * blocks (call it at start, before the loop runs). The eventfd's event is
 * added to `base`. Returns 0 and sets *ret, or a negative errno with a
 * message naming the file and what to do in `err` (when err_size > 0):
 * -EINVAL another program's file or no SQLite database, -EPROTO a newer
 * schema, -EIO a corrupt database, the open's errno (-ENOENT, -EACCES,
 * -EROFS, ...) when the file or its directory cannot be opened for
 * writing. A refused file is left as it was. `path` is copied. */
int store_sqlite_open(const char *path, enum store_sync sync, struct event_base *base,
		      store_sqlite_durable_fn *on_durable, void *arg,
		      struct store_sqlite **ret, char *err, size_t err_size);

/* Calls each(arg, rec) for every record in id order; `rec` and its strings
 * are valid during the call only. Call it after open and before the first
 * put (it runs on the caller's thread, blocking). Stops at the first
 * nonzero return of `each` and returns it; -EIO (logged, naming the file)
 * when the database turns out corrupt; -EBUSY after a put; 0 otherwise. */
int store_sqlite_load(struct store_sqlite *s,
		      int (*each)(void *arg, const struct store_record *rec), void *arg);

/* The id high-water mark: the lowest id no record ever had. At open, the
 * larger of the persisted mark and the highest stored id + 1 (at least 1);
 * then raised by every put of a higher id and by set_next_id(). Each batch
 * persists it, so deleting the newest records never lowers it. */
uint64_t store_sqlite_next_id(struct store_sqlite *s);

/* On the loop, never blocking and taking no lock: stage a copy of `rec`
 * (insert or replace by id), the deletion of a record, or a new id
 * high-water mark (it never goes back: a lower value is ignored). Nothing
 * staged reaches the store thread before store_sqlite_submit(). Each
 * returns the sequence number the staged changes will have: the record is
 * durable once on_durable reports a `seq` at least as high. Several puts
 * of one id that meet in one batch are written once, the last one. */
uint64_t store_sqlite_put(struct store_sqlite *s, const struct store_record *rec);
uint64_t store_sqlite_delete(struct store_sqlite *s, uint64_t id);
uint64_t store_sqlite_set_next_id(struct store_sqlite *s, uint64_t next);

/* Whether the store thread waits for work now (a hint, read without a
 * lock): a caller in the middle of a long turn may hand over early, so
 * that the thread commits while the rest of the turn is made. */
bool store_sqlite_idle(struct store_sqlite *s);

/* The sequence number what is staged next will have (until a submit). */
uint64_t store_sqlite_staged_seq(struct store_sqlite *s);

/* Hands everything staged to the store thread in one go (one short lock,
 * no copy when the thread has taken what came before) and returns its
 * sequence number; with nothing staged, the last one handed over. Call it
 * once per loop turn, not per record: that is what makes batches. */
uint64_t store_sqlite_submit(struct store_sqlite *s);

/* Hands what is staged over now, as part of the number still open: it
 * is durable only once the submit that closes the number is committed.
 * A caller with much to write stages and hands it over in parts as the
 * thread takes them, so that neither side holds all of it at once. */
void store_sqlite_submit_part(struct store_sqlite *s);

/* Bytes staged (loop) and handed over but not taken yet by the thread. */
size_t store_sqlite_staged_bytes(struct store_sqlite *s);
size_t store_sqlite_pending_bytes(struct store_sqlite *s);

/* The mark of the daemon's event sequence numbers (events.subscribe's
 * `seq`): the highest one handed out, as read at open (0 at first), and
 * raised on the loop like set_next_id, never lowered, so that `seq` never
 * goes back across a restart. Returns the sequence number to wait for. */
uint64_t store_sqlite_event_seq(struct store_sqlite *s);
uint64_t store_sqlite_set_event_seq(struct store_sqlite *s, uint64_t seq);

/* 0, or the error of the last failed commit while the engine retries. */
int store_sqlite_health(struct store_sqlite *s);

struct store_sqlite_stats {
	uint64_t batches;              /* transactions committed */
	uint64_t records_written;      /* rows upserted */
	uint64_t records_deleted;
	uint64_t coalesced;            /* puts replaced by a later one in the same batch */
	uint64_t failed_commits;       /* each retry counts */
	uint64_t checkpoints;          /* WAL checkpoints the engine asked for */
	uint64_t last_commit_us;       /* the last batch, BEGIN to COMMIT done */
	uint64_t commit_us;            /* all of them */
	uint64_t last_batch_size;      /* operations in it */
	uint64_t queued;               /* queued, not taken by the thread yet */
	uint64_t writing;              /* taken: being written, or kept while commits fail */
	uint64_t durable_seq;
};

/* Counters for info and the benchmark; safe on any thread. */
void store_sqlite_stats(struct store_sqlite *s, struct store_sqlite_stats *ret);

/* Drains and frees: everything staged or handed over before is committed (when the disk
 * stays full or broken, it is dropped after one last attempt, with a log
 * line saying how much), the thread is joined and the database closed.
 * Blocks; on_durable is not called from here. NULL is fine; returns NULL. */
struct store_sqlite *store_sqlite_close(struct store_sqlite *s);

#endif
