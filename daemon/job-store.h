/* Where jobs are kept and found. The daemon talks to the store only through
 * these operations: ids, the jobs by id and by key, and how many are in each
 * state are the store's, so that a persistent store can replace the
 * in-memory one (job-store-memory.c). */
#ifndef ASYNCJOBD_JOB_STORE_H
#define ASYNCJOBD_JOB_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto/protocol.h"

struct job;
struct job_store;
struct job_type;

/* What job.list asks the store for: the jobs of one owner (or everyone's),
 * in one state (or any), of one type (or any). */
struct job_filter {
	bool any_owner;
	uid_t owner;
	bool any_state;
	enum job_state state;
	const struct job_type *type;   /* NULL: any */
};

struct job_store_ops {
	/* The id for a new job: never one handed out before, by this store
	 * (a persistent one: nor by an earlier run). */
	uint64_t (*allocate_id)(struct job_store *s);
	/* The highest id handed out so far (0: none). */
	uint64_t (*last_id)(struct job_store *s);
	/* Adds a job; the store takes a reference. */
	void (*add)(struct job_store *s, struct job *job);
	/* Removes a job and drops the store's reference. */
	void (*remove)(struct job_store *s, struct job *job);
	/* Tells the store the job changed, from state `from` to its own (the
	 * same when only other fields changed); a persistent store writes. */
	void (*updated)(struct job_store *s, struct job *job, enum job_state from);
	/* Finds by id, or NULL. The store keeps its reference. */
	struct job *(*get)(struct job_store *s, uint64_t id);
	/* Finds by owner and idempotency key, or NULL. */
	struct job *(*find_key)(struct job_store *s, uid_t uid, const char *key, size_t len);
	/* Walks from the newest job to the oldest: newest(), then older(). */
	struct job *(*newest)(struct job_store *s);
	struct job *(*older)(struct job_store *s, struct job *job);
	size_t (*count)(struct job_store *s);
	/* How many of the jobs in the store are in `state`. */
	size_t (*count_state)(struct job_store *s, enum job_state state);
	/* The newest `limit` jobs that match `f`, newest first, into `out`;
	 * returns how many, and sets *matched to how many match in all (more
	 * than returned when older ones match too). Found through indexes by
	 * owner and by state: a caller's query walks the caller's jobs in the
	 * state asked for, not every job in the store, and counts them from
	 * the index's counts (only a type filter is checked job by job, among
	 * those). */
	size_t (*list)(struct job_store *s, const struct job_filter *f, size_t limit,
		       struct job **out, size_t *matched);
	/* Drops every job and frees the store. */
	void (*free)(struct job_store *s);

	/* A store that writes to disk numbers the changes handed to it:
	 * changes_made is the number of the last, changes_durable that of
	 * the last one on disk, and the store calls on_durable (below) when
	 * that moves. No reply or event that tells of a change leaves the
	 * daemon before the change is durable. NULL for a store with nothing
	 * to wait for (memory). Such a store sets job->change_seq to the
	 * number of each change of the job it is handed (job_write_json
	 * marks the text it writes with it: jsonw.needs). */
	uint64_t (*changes_made)(struct job_store *s);
	uint64_t (*changes_durable)(struct job_store *s);
	/* 0, or the negative errno that keeps changes from the disk now (a
	 * full disk): new jobs are refused meanwhile. NULL: always 0. */
	int (*health)(struct job_store *s);
	/* For metrics: commits made, the time spent in them and in the last
	 * (microseconds). NULL for a store that does not commit. */
	void (*commit_stats)(struct job_store *s, uint64_t *commits, uint64_t *total_us,
			     uint64_t *last_us);
	/* A store that writes also keeps the mark of the event sequence
	 * numbers, so that `seq` never goes back across a restart: the last
	 * one handed out before (at open), and each new one (returns the
	 * change to wait for before telling a client of it). NULL: none. */
	uint64_t (*event_seq)(struct job_store *s);
	uint64_t (*note_event)(struct job_store *s, uint64_t seq);
};

struct job_store {
	const struct job_store_ops *ops;
	/* Set by the daemon: called on the loop when changes_durable moves. */
	void (*on_durable)(void *arg);
	void *on_durable_arg;
};

struct job_store *job_store_memory_new(void);

struct daemon;
struct event_base;
/* The SQLite store in DIR/jobs.db (made, with DIR, when missing), empty of
 * jobs in memory whatever the file holds: for job_store_sqlite_open, and
 * for tests. Returns 0 and the store in *ret, or a negative errno with a
 * message in `err`. Blocks. */
int job_store_sqlite_new(struct event_base *base, const char *dir, bool full_sync,
			 struct job_store **ret, char *err, size_t err_size);
/* Opens (or creates) DIR/jobs.db, makes it the daemon's store, loads every
 * job it holds and recovers the unfinished ones (job_recover_loaded).
 * Blocks: at start, before the loop runs. Returns 0, or a negative errno
 * with a message naming the file and what to do in `err`. */
int job_store_sqlite_open(struct daemon *d, const char *dir, bool full_sync, char *err,
			  size_t err_size);

static inline uint64_t job_store_allocate_id(struct job_store *s) { return s->ops->allocate_id(s); }
static inline uint64_t job_store_last_id(struct job_store *s) { return s->ops->last_id(s); }
static inline void job_store_add(struct job_store *s, struct job *j) { s->ops->add(s, j); }
static inline void job_store_remove(struct job_store *s, struct job *j) { s->ops->remove(s, j); }
static inline void job_store_updated(struct job_store *s, struct job *j, enum job_state from)
{
	s->ops->updated(s, j, from);
}
static inline struct job *job_store_get(struct job_store *s, uint64_t id) { return s->ops->get(s, id); }
static inline struct job *job_store_find_key(struct job_store *s, uid_t uid, const char *k, size_t n)
{
	return s->ops->find_key(s, uid, k, n);
}
static inline struct job *job_store_newest(struct job_store *s) { return s->ops->newest(s); }
static inline struct job *job_store_older(struct job_store *s, struct job *j) { return s->ops->older(s, j); }
static inline size_t job_store_count(struct job_store *s) { return s->ops->count(s); }
static inline size_t job_store_count_state(struct job_store *s, enum job_state state)
{
	return s->ops->count_state(s, state);
}
static inline size_t job_store_list(struct job_store *s, const struct job_filter *f, size_t limit,
				    struct job **out, size_t *matched)
{
	return s->ops->list(s, f, limit, out, matched);
}
static inline void job_store_free(struct job_store *s) { if (s) s->ops->free(s); }
static inline uint64_t job_store_changes_made(struct job_store *s)
{
	return s->ops->changes_made ? s->ops->changes_made(s) : 0;
}
static inline uint64_t job_store_changes_durable(struct job_store *s)
{
	return s->ops->changes_durable ? s->ops->changes_durable(s) : 0;
}
static inline int job_store_health(struct job_store *s)
{
	return s->ops->health ? s->ops->health(s) : 0;
}
static inline bool job_store_commit_stats(struct job_store *s, uint64_t *commits,
					  uint64_t *total_us, uint64_t *last_us)
{
	if (!s->ops->commit_stats)
		return false;
	s->ops->commit_stats(s, commits, total_us, last_us);
	return true;
}
static inline uint64_t job_store_note_event(struct job_store *s, uint64_t seq)
{
	return s->ops->note_event ? s->ops->note_event(s, seq) : 0;
}
/* Whether a change handed to the store is not on disk yet. */
static inline bool job_store_behind(struct job_store *s)
{
	return s->ops->changes_made && s->ops->changes_made(s) > s->ops->changes_durable(s);
}

#endif
