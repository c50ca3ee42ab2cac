/* The in-memory job store: two uthash indexes, by id (threaded through the
 * jobs themselves, so adding and finding cost no extra allocation) and by
 * owner+key (a small entry for each job that has a key: most have none, and
 * should not carry a second 56-byte handle). Jobs enter in id order, and
 * uthash keeps insertion order, so walking newest to oldest needs no
 * sorting. uthash is used rather than a table of our own: it is small,
 * header-only, and long proven.
 *
 * For job.list, three more lists through the jobs, each in id order: each
 * owner's jobs, each owner's jobs in each state, and everyone's in each
 * state. A query walks the one that fits it (an admin's without an owner),
 * so one user's list never walks another's jobs, nor a state's the jobs in
 * other states. A job that changes state takes its place in its new
 * state's lists by looking both ways, in the owner's (or everyone's) id
 * order, for the nearest job already in that state: the ends first, so
 * the usual change (the newest job to start or to end) costs one step;
 * otherwise the walk stops at the nearer of the two neighbours. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "daemon/job-store.h"
#include "daemon/job.h"
#include "daemon/xalloc.h"

/* uthash reports allocation failure through this hook; the daemon aborts. */
#undef uthash_fatal
#define uthash_fatal(msg) xalloc_die()

struct key_entry {
	struct job *job;
	UT_hash_handle hh;      /* keyed by the job's key_blob */
};

TAILQ_HEAD(job_tailq, job);

/* One owner's jobs: all of them, and those in each state. */
struct job_owner_index {
	uid_t uid;
	size_t n;
	size_t n_state[JOB_STATE_COUNT];
	struct job_tailq jobs;
	struct job_tailq by_state[JOB_STATE_COUNT];
	UT_hash_handle hh;
};

struct memory_store {
	struct job_store base;
	struct job *by_id;
	struct key_entry *by_key;
	struct job_owner_index *owners;
	struct job_tailq state_jobs[JOB_STATE_COUNT];
	uint64_t last_id;
	size_t by_state[JOB_STATE_COUNT];
};

static struct memory_store *ms(struct job_store *s)
{
	return (struct memory_store *)s;
}

/* Ids are handed out in sequence, so the id itself spreads them evenly over
 * the buckets, and jobs made together land in neighbouring buckets: a
 * gather of 100,000 jobs walks the bucket array instead of missing the
 * cache at every job, as a mixing hash would make it. */
static unsigned id_hash(uint64_t id)
{
	return (unsigned)(id ^ (id >> 32));
}

static uint64_t memory_allocate_id(struct job_store *s)
{
	return ++ms(s)->last_id;
}

static uint64_t memory_last_id(struct job_store *s)
{
	return ms(s)->last_id;
}

static struct job_owner_index *owner_index(struct memory_store *m, uid_t uid, bool make)
{
	struct job_owner_index *o;

	HASH_FIND(hh, m->owners, &uid, sizeof(uid), o);
	if (!o && make) {
		o = xcalloc(1, sizeof(*o));
		o->uid = uid;
		TAILQ_INIT(&o->jobs);
		for (int i = 0; i < JOB_STATE_COUNT; i++)
			TAILQ_INIT(&o->by_state[i]);
		HASH_ADD(hh, m->owners, uid, sizeof(o->uid), o);
	}
	return o;
}

/* Puts `job` in `list`, the jobs in its state, in id order, finding its
 * place from `older`/`newer`, its neighbours in a list of the same jobs and
 * more in id order (those of its owner, or everyone's). Each of NEXT_IN
 * and PREV_IN steps along that list. A macro: the two base lists link
 * their jobs differently (a TAILQ, and uthash's prev and next). */
#define INSERT_IN_ID_ORDER(list, link, job, older, newer, PREV_IN, NEXT_IN)		\
	do {									\
		struct job *first_ = TAILQ_FIRST(list);				\
		struct job *last_ = TAILQ_LAST(list, job_tailq);		\
		struct job *back_ = (older), *fwd_ = (newer);			\
		if (!last_ || last_->id < (job)->id) {				\
			TAILQ_INSERT_TAIL(list, job, link);			\
			break;							\
		}								\
		if (first_->id > (job)->id) {					\
			TAILQ_INSERT_HEAD(list, job, link);			\
			break;							\
		}								\
		/* Both ends hold a job in the state: each way meets one. */	\
		for (;;) {							\
			if (back_ && back_->state == (job)->state) {		\
				TAILQ_INSERT_AFTER(list, back_, job, link);	\
				break;						\
			}							\
			if (fwd_ && fwd_->state == (job)->state) {		\
				TAILQ_INSERT_BEFORE(fwd_, job, link);		\
				break;						\
			}							\
			back_ = back_ ? PREV_IN(back_) : NULL;			\
			fwd_ = fwd_ ? NEXT_IN(fwd_) : NULL;			\
		}								\
	} while (0)

#define PREV_BY_OWNER(j) TAILQ_PREV(j, job_tailq, by_owner_link)
#define NEXT_BY_OWNER(j) TAILQ_NEXT(j, by_owner_link)
#define PREV_BY_ID(j) ((struct job *)(j)->hh.prev)
#define NEXT_BY_ID(j) ((struct job *)(j)->hh.next)

/* Enters the job in the lists of its state. */
static void index_state(struct memory_store *m, struct job *job)
{
	struct job_owner_index *o = job->owner_index;

	INSERT_IN_ID_ORDER(&o->by_state[job->state], by_owner_state_link, job,
			   PREV_BY_OWNER(job), NEXT_BY_OWNER(job), PREV_BY_OWNER, NEXT_BY_OWNER);
	o->n_state[job->state]++;
	INSERT_IN_ID_ORDER(&m->state_jobs[job->state], by_state_link, job, PREV_BY_ID(job),
			   NEXT_BY_ID(job), PREV_BY_ID, NEXT_BY_ID);
}

static void unindex_state(struct memory_store *m, struct job *job, enum job_state state)
{
	TAILQ_REMOVE(&job->owner_index->by_state[state], job, by_owner_state_link);
	job->owner_index->n_state[state]--;
	TAILQ_REMOVE(&m->state_jobs[state], job, by_state_link);
}

/* Jobs enter in id order, so the owner's list is only appended to. */
static void index_job(struct memory_store *m, struct job *job)
{
	struct job_owner_index *o = owner_index(m, job->uid, true);

	job->owner_index = o;
	TAILQ_INSERT_TAIL(&o->jobs, job, by_owner_link);
	o->n++;
	index_state(m, job);
}

static void unindex_job(struct memory_store *m, struct job *job)
{
	struct job_owner_index *o = job->owner_index;

	unindex_state(m, job, job->state);
	TAILQ_REMOVE(&o->jobs, job, by_owner_link);
	job->owner_index = NULL;
	if (--o->n == 0) {
		HASH_DELETE(hh, m->owners, o);
		free(o);
	}
}

static void memory_add(struct job_store *s, struct job *job)
{
	struct memory_store *m = ms(s);
	/* uthash macros evaluate their arguments many times: take the
	 * store's reference separately. */
	job_ref(job);
	HASH_ADD_BYHASHVALUE(hh, m->by_id, id, sizeof(job->id), id_hash(job->id), job);
	if (job->key_blob) {
		struct key_entry *e = xmalloc(sizeof(*e));
		e->job = job;
		HASH_ADD_KEYPTR(hh, m->by_key, job->key_blob, job->key_blob_len, e);
	}
	job->in_store = true;
	m->by_state[job->state]++;
	index_job(m, job);
}

static void memory_remove(struct job_store *s, struct job *job)
{
	struct memory_store *m = ms(s);
	if (!job->in_store)
		return;
	if (job->key_blob) {
		struct key_entry *e;
		HASH_FIND(hh, m->by_key, job->key_blob, job->key_blob_len, e);
		if (e && e->job == job) {
			HASH_DELETE(hh, m->by_key, e);
			free(e);
		}
	}
	unindex_job(m, job);
	HASH_DELETE(hh, m->by_id, job);
	job->in_store = false;
	m->by_state[job->state]--;
	job_unref(job);
}

static void memory_updated(struct job_store *s, struct job *job, enum job_state from)
{
	struct memory_store *m = ms(s);

	if (!job->in_store || from == job->state)
		return;
	m->by_state[from]--;
	m->by_state[job->state]++;
	unindex_state(m, job, from);
	index_state(m, job);
}

static struct job *memory_newest(struct job_store *s);

static size_t memory_list(struct job_store *s, const struct job_filter *f, size_t limit,
			  struct job **out, size_t *matched)
{
	struct memory_store *m = ms(s);
	struct job_owner_index *o = NULL;
	struct job *j;
	size_t n = 0, all;

	*matched = 0;
	if (!f->any_owner && !(o = owner_index(m, f->owner, false)))
		return 0;
	/* Without a type to check, the index counts what matches; with one,
	 * the walk goes on past the limit to count (among the jobs of that
	 * owner and state only). */
#define COLLECT(first, PREV)							\
	for (j = (first); j; j = PREV(j)) {					\
		if (f->type && j->type != f->type)				\
			continue;						\
		if (n < limit)							\
			out[n] = j;						\
		else if (!f->type)						\
			break;							\
		n++;								\
	}
#define PREV_BY_OWNER_STATE(j) TAILQ_PREV(j, job_tailq, by_owner_state_link)
#define PREV_BY_STATE(j) TAILQ_PREV(j, job_tailq, by_state_link)
	if (o && !f->any_state) {
		COLLECT(TAILQ_LAST(&o->by_state[f->state], job_tailq), PREV_BY_OWNER_STATE)
		all = o->n_state[f->state];
	} else if (o) {
		COLLECT(TAILQ_LAST(&o->jobs, job_tailq), PREV_BY_OWNER)
		all = o->n;
	} else if (!f->any_state) {
		COLLECT(TAILQ_LAST(&m->state_jobs[f->state], job_tailq), PREV_BY_STATE)
		all = m->by_state[f->state];
	} else {
		COLLECT(memory_newest(s), PREV_BY_ID)
		all = HASH_COUNT(m->by_id);
	}
#undef COLLECT
	*matched = f->type ? n : all;
	return n < limit ? n : limit;
}

static size_t memory_count_state(struct job_store *s, enum job_state state)
{
	return ms(s)->by_state[state];
}

static struct job *memory_get(struct job_store *s, uint64_t id)
{
	struct job *job;
	HASH_FIND_BYHASHVALUE(hh, ms(s)->by_id, &id, sizeof(id), id_hash(id), job);
	return job;
}

static struct job *memory_find_key(struct job_store *s, uid_t uid, const char *key, size_t len)
{
	char stack[512];
	size_t n = sizeof(uid) + len;
	char *blob = n <= sizeof(stack) ? stack : xmalloc(n);
	struct key_entry *e;

	memcpy(blob, &uid, sizeof(uid));
	memcpy(blob + sizeof(uid), key, len);
	HASH_FIND(hh, ms(s)->by_key, blob, n, e);
	if (blob != stack)
		free(blob);
	return e ? e->job : NULL;
}

static struct job *memory_newest(struct job_store *s)
{
	struct memory_store *m = ms(s);
	if (!m->by_id)
		return NULL;
	return ELMT_FROM_HH(m->by_id->hh.tbl, m->by_id->hh.tbl->tail);
}

static struct job *memory_older(struct job_store *s, struct job *job)
{
	(void)s;
	return job->hh.prev;
}

static size_t memory_count(struct job_store *s)
{
	return HASH_CNT(hh, ms(s)->by_id);
}

static void memory_free(struct job_store *s)
{
	struct memory_store *m = ms(s);
	struct job *job, *tmp;
	struct key_entry *e, *etmp;

	HASH_ITER(hh, m->by_key, e, etmp) {
		HASH_DELETE(hh, m->by_key, e);
		free(e);
	}
	HASH_ITER(hh, m->by_id, job, tmp) {
		unindex_job(m, job);
		HASH_DELETE(hh, m->by_id, job);
		job->in_store = false;
		job_unref(job);
	}
	free(m);
}

static const struct job_store_ops memory_ops = {
	.allocate_id = memory_allocate_id,
	.last_id = memory_last_id,
	.add = memory_add,
	.remove = memory_remove,
	.updated = memory_updated,
	.get = memory_get,
	.find_key = memory_find_key,
	.newest = memory_newest,
	.older = memory_older,
	.count = memory_count,
	.count_state = memory_count_state,
	.list = memory_list,
	.free = memory_free,
};

struct job_store *job_store_memory_new(void)
{
	struct memory_store *m = xcalloc(1, sizeof(*m));
	m->base.ops = &memory_ops;
	for (int i = 0; i < JOB_STATE_COUNT; i++)
		TAILQ_INIT(&m->state_jobs[i]);
	return &m->base;
}
