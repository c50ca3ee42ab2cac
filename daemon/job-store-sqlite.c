/* The SQLite job store: every read is answered from the memory store's
 * indexes, kept here in step, so job.get, list, wait and info never touch
 * the disk; every change is handed as a record to the durable-write engine
 * (store-sqlite.c), whose thread commits in groups and says when what was
 * handed to it is on disk. A changed job is only marked during the loop
 * turn; its record is made once, as the job is at the end of the turn,
 * and the turn's records go to the engine together: a job that is made,
 * starts and finishes in one turn costs one record. The daemon holds
 * replies, events and file work until then (job-store.h, changes_durable). At start, the records are
 * read back into jobs (job-record.c) and the unfinished ones recovered
 * (job.c, job_recover). */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/daemon.h"
#include "daemon/events.h"
#include "daemon/job-record.h"
#include "daemon/job-store.h"
#include "daemon/job.h"
#include "daemon/lockfile.h"
#include "daemon/log.h"
#include "daemon/store-sqlite.h"
#include "daemon/xalloc.h"
#include "proto/jsonw.h"

#include <event2/event.h>

/* Changed jobs after which a turn hands over before its end, if the store
 * thread is idle. */
#define HAND_OVER_EARLY 16
/* What records may wait for the store thread, staged and handed over: a
 * turn that changed more (a gather of 100,000 jobs, their ends) hands
 * over in parts as the thread takes them, the rest of its jobs marked. */
#define HAND_OVER_BYTES (4u << 20)

struct sqlite_job_store {
	struct job_store base;
	struct job_store *mem;          /* the indexes every read uses */
	struct store_sqlite *engine;
	char *path;
	int lock_fd;                    /* jobs.db.lock, held while open */
	struct jsonw body;              /* scratch: the record being handed over */
	TAILQ_HEAD(, job) dirty;        /* changed this turn, record not made yet */
	size_t n_dirty;
	struct event *end_of_turn;      /* makes them and hands the turn over */
	bool turn_scheduled;            /* end_of_turn is active */
	uint64_t next_id;               /* the next id to hand out */
	uint64_t made, durable;         /* the engine's sequence numbers */
	int health;                     /* 0, or why commits fail now */
	bool loading;                   /* restoring: nothing to write back */
};

static struct sqlite_job_store *ss(struct job_store *s)
{
	return (struct sqlite_job_store *)s;
}

/* The engine's number for what this turn stages: the changes it is told
 * of are handed over together at its end (end_of_turn), so they share it. */
static uint64_t staged_change(struct sqlite_job_store *s, uint64_t seq)
{
	if (!s->turn_scheduled) {
		s->turn_scheduled = true;
		event_active(s->end_of_turn, EV_TIMEOUT, 0);
	}
	return s->made = seq;
}

/* Stages the job's record, as it is now. */
static void stage_record(struct sqlite_job_store *s, struct job *job)
{
	struct job_record rec;

	job_record_encode(job, &s->body, &rec);
	if (s->body.failed)
		xalloc_die();
	struct store_record r = {
		.id = rec.id,
		.type = rec.type,
		.uid = rec.uid,
		.state = (int)rec.state,
		.submitted_ms = rec.submitted_ms,
		.started_ms = rec.started_ms,
		.finished_ms = rec.finished_ms,
		.key = rec.key,
		.key_len = rec.key_len,
		.label = rec.label,
		.body = rec.body,
		.body_len = rec.body_len,
	};
	store_sqlite_put(s->engine, &r);
}

static void hand_over(struct sqlite_job_store *s, bool all);

/* Takes the job off the list of those whose record is to be made. */
static void unmark(struct sqlite_job_store *s, struct job *job)
{
	TAILQ_REMOVE(&s->dirty, job, store_dirty_link);
	job->store_dirty = false;
	s->n_dirty--;
}

/* Marks the job's record to be made at the end of the turn. */
static void put(struct sqlite_job_store *s, struct job *job)
{
	if (s->loading || !job->in_store)
		return;
	if (!job->store_dirty) {
		job->store_dirty = true;
		TAILQ_INSERT_TAIL(&s->dirty, job, store_dirty_link);
		s->n_dirty++;
	}
	/* The number the next hand-over will have: nothing else hands over
	 * in between. */
	job->change_seq = staged_change(s, store_sqlite_staged_seq(s->engine));
	/* A long turn (a pipelined client's many requests) keeps an idle
	 * thread busy with its first part while it makes the rest. */
	if (s->n_dirty >= HAND_OVER_EARLY && store_sqlite_idle(s->engine))
		hand_over(s, false);
}

/* Stages the records of the jobs changed this turn and hands them over:
 * all of them (`all`, or while they fit in HAND_OVER_BYTES with what the
 * thread has not taken yet), closing the number they were promised; or a
 * part, leaving the number open for the rest, handed over after the
 * thread's next commit (on_engine_durable). */
static void hand_over(struct sqlite_job_store *s, bool all)
{
	size_t waiting = all ? 0 : store_sqlite_pending_bytes(s->engine);
	struct job *job;

	s->turn_scheduled = false;
	while ((job = TAILQ_FIRST(&s->dirty))) {
		if (!all && waiting + store_sqlite_staged_bytes(s->engine) >= HAND_OVER_BYTES)
			break;
		unmark(s, job);
		stage_record(s, job);
	}
	if (TAILQ_EMPTY(&s->dirty))
		store_sqlite_submit(s->engine);
	else
		store_sqlite_submit_part(s->engine);
}

static void on_end_of_turn(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	hand_over(arg, false);
}

static uint64_t sq_allocate_id(struct job_store *st)
{
	return ss(st)->next_id++;
}

static uint64_t sq_last_id(struct job_store *st)
{
	return ss(st)->next_id - 1;
}

static void sq_add(struct job_store *st, struct job *job)
{
	job_store_add(ss(st)->mem, job);
	put(ss(st), job);
}

static void sq_remove(struct job_store *st, struct job *job)
{
	struct sqlite_job_store *s = ss(st);
	bool was_in = job->in_store;

	job_store_remove(s->mem, job);
	/* Its deletion says all: no record. */
	if (job->store_dirty)
		unmark(s, job);
	if (was_in && !s->loading)
		staged_change(s, store_sqlite_delete(s->engine, job->id));
}

static void sq_updated(struct job_store *st, struct job *job, enum job_state from)
{
	job_store_updated(ss(st)->mem, job, from);
	put(ss(st), job);
}

static struct job *sq_get(struct job_store *st, uint64_t id)
{
	return job_store_get(ss(st)->mem, id);
}

static struct job *sq_find_key(struct job_store *st, uid_t uid, const char *key, size_t len)
{
	return job_store_find_key(ss(st)->mem, uid, key, len);
}

static struct job *sq_newest(struct job_store *st)
{
	return job_store_newest(ss(st)->mem);
}

static struct job *sq_older(struct job_store *st, struct job *job)
{
	return job_store_older(ss(st)->mem, job);
}

static size_t sq_list(struct job_store *st, const struct job_filter *f, size_t limit,
		      struct job **out, size_t *matched)
{
	return job_store_list(ss(st)->mem, f, limit, out, matched);
}

static size_t sq_count(struct job_store *st)
{
	return job_store_count(ss(st)->mem);
}

static size_t sq_count_state(struct job_store *st, enum job_state state)
{
	return job_store_count_state(ss(st)->mem, state);
}

static uint64_t sq_changes_made(struct job_store *st)
{
	return ss(st)->made;
}

static uint64_t sq_changes_durable(struct job_store *st)
{
	return ss(st)->durable;
}

static int sq_health(struct job_store *st)
{
	return ss(st)->health;
}

static void sq_commit_stats(struct job_store *st, uint64_t *commits, uint64_t *total_us,
			    uint64_t *last_us)
{
	struct store_sqlite_stats stats;

	store_sqlite_stats(ss(st)->engine, &stats);
	*commits = stats.batches;
	*total_us = stats.commit_us;
	*last_us = stats.last_commit_us;
}

static uint64_t sq_event_seq(struct job_store *st)
{
	return store_sqlite_event_seq(ss(st)->engine);
}

static uint64_t sq_note_event(struct job_store *st, uint64_t seq)
{
	struct sqlite_job_store *s = ss(st);

	if (s->loading)
		return 0;
	return staged_change(s, store_sqlite_set_event_seq(s->engine, seq));
}

static void sq_free(struct job_store *st)
{
	struct sqlite_job_store *s = ss(st);

	/* Drains: what was changed is written before the file closes. */
	if (s->engine)
		hand_over(s, true);
	s->engine = store_sqlite_close(s->engine);
	if (s->end_of_turn)
		event_free(s->end_of_turn);
	job_store_free(s->mem);
	jsonw_release(&s->body);
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	free(s->path);
	free(s);
}

static const struct job_store_ops sqlite_ops = {
	.allocate_id = sq_allocate_id,
	.last_id = sq_last_id,
	.add = sq_add,
	.remove = sq_remove,
	.updated = sq_updated,
	.get = sq_get,
	.find_key = sq_find_key,
	.newest = sq_newest,
	.list = sq_list,
	.older = sq_older,
	.count = sq_count,
	.count_state = sq_count_state,
	.free = sq_free,
	.changes_made = sq_changes_made,
	.changes_durable = sq_changes_durable,
	.health = sq_health,
	.commit_stats = sq_commit_stats,
	.event_seq = sq_event_seq,
	.note_event = sq_note_event,
};

/* On the loop, from the engine: more is on disk, or commits fail (or
 * work again). */
static void on_engine_durable(void *arg, uint64_t seq, int err)
{
	struct sqlite_job_store *s = arg;

	if (err != s->health) {
		if (err)
			log_errx("the job store %s cannot write: %s; new jobs are refused "
				 "until it can", s->path, strerror(-err));
		else
			log_notice("the job store %s writes again", s->path);
		s->health = err;
	}
	if (seq > s->durable)
		s->durable = seq;
	/* The thread took what waited: the rest of a large turn follows. */
	if (!TAILQ_EMPTY(&s->dirty))
		hand_over(s, false);
	if (s->base.on_durable)
		s->base.on_durable(s->base.on_durable_arg);
}

/* ------------------------------------------------------------ opening */

struct load_ctx {
	struct daemon *d;
	struct sqlite_job_store *s;
	char *err;
	size_t err_size;
	size_t n;
};

static int load_one(void *arg, const struct store_record *r)
{
	struct load_ctx *lc = arg;
	struct job *job;
	struct job_record rec = {
		.id = r->id,
		.type = r->type,
		.uid = r->uid,
		.state = (enum job_state)r->state,
		.submitted_ms = r->submitted_ms,
		.started_ms = r->started_ms,
		.finished_ms = r->finished_ms,
		.key = r->key,
		.key_len = r->key_len,
		.label = r->label,
		.body = r->body,
		.body_len = r->body_len,
	};
	char why[256];

	if (job_record_restore(lc->d, &rec, &job, why, sizeof(why)) < 0) {
		snprintf(lc->err, lc->err_size, "%s: %s; the file is left as it is: move it away "
			 "to start afresh", lc->s->path, why);
		return -EINVAL;
	}
	job_store_add(&lc->s->base, job);
	job_loaded(job);
	job_unref(job);
	lc->n++;
	return 0;
}

/* One daemon per database: two would each take the other's jobs for
 * their own. */
static int lock_database(const char *path, char *err, size_t err_size)
{
	int fd = lockfile_take(path, err, err_size);

	if (fd == -EBUSY)
		snprintf(err, err_size, "another asyncjobd uses %s (it holds %s.lock); give this "
			 "one another state_directory", path, path);
	return fd;
}

int job_store_sqlite_new(struct event_base *base, const char *dir, bool full_sync,
			 struct job_store **ret, char *err, size_t err_size)
{
	struct sqlite_job_store *s;
	struct store_sqlite *engine = NULL;
	size_t n = strlen(dir) + sizeof("/jobs.db");
	char *path = xmalloc(n);
	int r, lock_fd;

	snprintf(path, n, "%s/jobs.db", dir);
	if ((r = make_private_directory(dir)) < 0) {
		snprintf(err, err_size, "cannot make the state directory %s: %s", dir, strerror(-r));
		free(path);
		return r;
	}
	if ((lock_fd = lock_database(path, err, err_size)) < 0) {
		free(path);
		return lock_fd;
	}
	s = xcalloc(1, sizeof(*s));
	s->lock_fd = lock_fd;
	r = store_sqlite_open(path, full_sync ? STORE_SYNC_FULL : STORE_SYNC_NORMAL, base,
			      on_engine_durable, s, &engine, err, err_size);
	if (r < 0) {
		close(lock_fd);
		free(path);
		free(s);
		return r;
	}
	s->base.ops = &sqlite_ops;
	TAILQ_INIT(&s->dirty);
	s->end_of_turn = event_new(base, -1, 0, on_end_of_turn, s);
	if (!s->end_of_turn)
		xalloc_die();
	/* After the turn's other work, which may change the same jobs again. */
	event_priority_set(s->end_of_turn, event_base_get_npriorities(base) - 1);
	s->mem = job_store_memory_new();
	s->engine = engine;
	s->path = path;
	jsonw_init(&s->body);
	s->next_id = store_sqlite_next_id(engine);
	*ret = &s->base;
	return 0;
}

int job_store_sqlite_open(struct daemon *d, const char *dir, bool full_sync, char *err,
			  size_t err_size)
{
	struct job_store *store;
	struct sqlite_job_store *s;
	int r;

	r = job_store_sqlite_new(d->base, dir, full_sync, &store, err, err_size);
	if (r < 0)
		return r;
	s = ss(store);
	daemon_use_store(d, store);
	const char *path = s->path;
	struct store_sqlite *engine = s->engine;

	struct load_ctx lc = { .d = d, .s = s, .err = err, .err_size = err_size };
	s->loading = true;
	r = store_sqlite_load(engine, load_one, &lc);
	s->loading = false;
	if (r < 0) {
		if (r != -EINVAL)
			snprintf(err, err_size, "%s: cannot read it back: %s; the file is left as "
				 "it is", path, strerror(-r));
		/* The daemon goes no further; the loaded jobs go with it. */
		return r;
	}
	log_notice("job store %s: %zu job(s) loaded", path, lc.n);
	/* Event numbers go on from where they were. */
	event_log_set_base(d->events, store_sqlite_event_seq(engine));
	job_recover_loaded(d);
	return 0;
}
