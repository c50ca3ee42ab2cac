/* Where jobs are kept and found. The daemon talks to the store only through
 * these operations, so a persistent store can replace the in-memory one
 * (job-store-memory.c) without touching the rest. */
#ifndef ASYNCJOBD_JOB_STORE_H
#define ASYNCJOBD_JOB_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct job;
struct job_store;

struct job_store_ops {
	/* Adds a job; the store takes a reference. */
	void (*add)(struct job_store *s, struct job *job);
	/* Removes a job and drops the store's reference. */
	void (*remove)(struct job_store *s, struct job *job);
	/* Tells the store the job changed state (a persistent store writes). */
	void (*updated)(struct job_store *s, struct job *job);
	/* Finds by id, or NULL. The store keeps its reference. */
	struct job *(*get)(struct job_store *s, uint64_t id);
	/* Finds by owner and idempotency key, or NULL. */
	struct job *(*find_key)(struct job_store *s, uid_t uid, const char *key, size_t len);
	/* Walks from the newest job to the oldest: newest(), then older(). */
	struct job *(*newest)(struct job_store *s);
	struct job *(*older)(struct job_store *s, struct job *job);
	size_t (*count)(struct job_store *s);
	/* Drops every job and frees the store. */
	void (*free)(struct job_store *s);
};

struct job_store {
	const struct job_store_ops *ops;
};

struct job_store *job_store_memory_new(void);

static inline void job_store_add(struct job_store *s, struct job *j) { s->ops->add(s, j); }
static inline void job_store_remove(struct job_store *s, struct job *j) { s->ops->remove(s, j); }
static inline void job_store_updated(struct job_store *s, struct job *j) { s->ops->updated(s, j); }
static inline struct job *job_store_get(struct job_store *s, uint64_t id) { return s->ops->get(s, id); }
static inline struct job *job_store_find_key(struct job_store *s, uid_t uid, const char *k, size_t n)
{
	return s->ops->find_key(s, uid, k, n);
}
static inline struct job *job_store_newest(struct job_store *s) { return s->ops->newest(s); }
static inline struct job *job_store_older(struct job_store *s, struct job *j) { return s->ops->older(s, j); }
static inline size_t job_store_count(struct job_store *s) { return s->ops->count(s); }
static inline void job_store_free(struct job_store *s) { if (s) s->ops->free(s); }

#endif
