/* The in-memory job store: two uthash indexes, by id (threaded through the
 * jobs themselves, so adding and finding cost no extra allocation) and by
 * owner+key (a small entry for each job that has a key: most have none, and
 * should not carry a second 56-byte handle). Jobs enter in id order, and
 * uthash keeps insertion order, so walking newest to oldest needs no
 * sorting. uthash is used rather than a table of our own: it is small,
 * header-only, and long proven. */
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

struct memory_store {
	struct job_store base;
	struct job *by_id;
	struct key_entry *by_key;
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
}

static void memory_remove(struct job_store *s, struct job *job)
{
	struct memory_store *m = ms(s);
	if (!job->in_store)
		return;
	HASH_DELETE(hh, m->by_id, job);
	if (job->key_blob) {
		struct key_entry *e;
		HASH_FIND(hh, m->by_key, job->key_blob, job->key_blob_len, e);
		if (e && e->job == job) {
			HASH_DELETE(hh, m->by_key, e);
			free(e);
		}
	}
	job->in_store = false;
	m->by_state[job->state]--;
	job_unref(job);
}

static void memory_updated(struct job_store *s, struct job *job, enum job_state from)
{
	struct memory_store *m = ms(s);

	if (!job->in_store)
		return;
	m->by_state[from]--;
	m->by_state[job->state]++;
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
	.free = memory_free,
};

struct job_store *job_store_memory_new(void)
{
	struct memory_store *m = xcalloc(1, sizeof(*m));
	m->base.ops = &memory_ops;
	return &m->base;
}
