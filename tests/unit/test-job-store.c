/* The job store's contract, run unchanged against every backend: add, get,
 * remove, find by (uid, key), the newest-to-oldest walk, ids that are never
 * handed out twice, counts (in all and by state) and references. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <json-c/json.h>
#include <sqlite3.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "daemon/daemon.h"
#include "daemon/job-store.h"
#include "daemon/job.h"
#include "proto/json.h"
#include "tests/common/daemon-fixture.h"

struct ctx {
	struct fixture *f;
	struct job_store *s;
	char dir[64];               /* the SQLite store's state directory */
};

static struct job_store *make_memory(struct ctx *c)
{
	(void)c;
	return job_store_memory_new();
}

/* A real jobs.db in a directory of its own, on the fixture's loop. */
static struct job_store *make_sqlite(struct ctx *c)
{
	struct job_store *s = NULL;
	char err[512];

	snprintf(c->dir, sizeof(c->dir), "/tmp/asyncjob-store-contract.XXXXXX");
	if (!mkdtemp(c->dir))
		return NULL;
	if (job_store_sqlite_new(c->f->base, c->dir, true, &s, err, sizeof(err)) < 0) {
		print_error("%s\n", err);
		return NULL;
	}
	/* Its records hold each job's spec. */
	c->f->d->keep_job_specs = true;
	return s;
}

/* The backends the contract runs against. */
static const struct backend {
	const char *name;
	struct job_store *(*make)(struct ctx *c);
} backends[] = {
	{ "memory", make_memory },
	{ "sqlite", make_sqlite },
};
static const struct backend *backend;

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));
	if (!c)
		return -1;
	/* Keys as long as test_find_long_key's. */
	c->f = fixture_new("max_label_bytes = 4096\n", 0);
	c->s = backend->make(c);
	if (!c->s)
		return -1;
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;
	job_store_free(c->s);
	fixture_free(c->f);
	if (c->dir[0]) {
		char cmd[128];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", c->dir);
		if (system(cmd) != 0)
			return -1;
	}
	free(c);
	return 0;
}

/* A queued sleep job that nobody knows of yet (one reference, the caller's),
 * made from its spec as job.submit makes one. */
static struct job *make_job(struct ctx *c, uid_t uid, const char *key, size_t key_len,
			    const char *label)
{
	struct json_object *o = json_object_new_object();
	struct json_parser parser;
	const struct json_value *spec;
	const struct job_type *type;
	struct job_controls ctl;
	const char *why;
	struct rpc_error e = { 0 };
	void *data = NULL;
	size_t len;

	json_object_object_add(o, "type", json_object_new_string("sleep"));
	json_object_object_add(o, "seconds", json_object_new_int(1));
	if (key)
		json_object_object_add(o, "key", json_object_new_string_len(key, (int)key_len));
	if (label)
		json_object_object_add(o, "label", json_object_new_string(label));
	const char *text = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN, &len);
	json_parser_init(&parser, 32);
	assert_int_equal(json_parse(&parser, text, len, &spec, &why), 0);
	if (job_spec_parse(c->f->d, spec, true, NULL, &type, &data, &ctl, &e) < 0)
		fail_msg("%s: %s", e.field, e.message);
	struct job *job = job_new(c->f->d, type, data, uid, &ctl);
	json_parser_release(&parser);
	json_object_put(o);
	assert_non_null(job);
	assert_int_equal(job->refs, 1);
	assert_int_equal(job->state, JOB_QUEUED);
	return job;
}

static void test_add_get_remove(void **state)
{
	struct ctx *c = *state;
	struct job *a = make_job(c, 0, NULL, 0, NULL);
	struct job *b = make_job(c, 0, NULL, 0, NULL);

	assert_true(b->id > a->id);
	assert_int_equal(job_store_count(c->s), 0);
	assert_null(job_store_get(c->s, a->id));

	job_store_add(c->s, a);
	job_store_add(c->s, b);
	assert_true(a->in_store);
	assert_true(b->in_store);
	assert_int_equal(job_store_count(c->s), 2);
	assert_ptr_equal(job_store_get(c->s, a->id), a);
	assert_ptr_equal(job_store_get(c->s, b->id), b);
	assert_null(job_store_get(c->s, b->id + 100));
	assert_null(job_store_get(c->s, 0));

	job_store_remove(c->s, a);
	assert_false(a->in_store);
	assert_null(job_store_get(c->s, a->id));
	assert_ptr_equal(job_store_get(c->s, b->id), b);
	assert_int_equal(job_store_count(c->s), 1);

	/* Removing what is not there changes nothing. */
	job_store_remove(c->s, a);
	assert_int_equal(job_store_count(c->s), 1);
	assert_int_equal(a->refs, 1);

	/* A removed job can come back. */
	job_store_add(c->s, a);
	assert_ptr_equal(job_store_get(c->s, a->id), a);
	assert_int_equal(job_store_count(c->s), 2);

	job_unref(a);
	job_unref(b);
}

/* Ids only go up, and one that was handed out is never handed out again,
 * whatever was removed meanwhile. */
static void test_ids_never_reused(void **state)
{
	struct ctx *c = *state;
	uint64_t last = job_store_last_id(c->s);

	for (int i = 0; i < 1000; i++) {
		uint64_t id = job_store_allocate_id(c->s);
		assert_true(id > last);
		assert_int_equal(job_store_last_id(c->s), id);
		last = id;
	}
	struct job *a = make_job(c, 0, NULL, 0, NULL);
	job_store_add(c->s, a);
	job_store_remove(c->s, a);
	job_unref(a);
	assert_true(job_store_allocate_id(c->s) > last);
}

/* A store on disk: the ids of the jobs it held are never handed out again
 * by the store opened anew on the same file, even once they are removed. */
static void test_ids_survive_reopen(void **state)
{
	struct ctx *c = *state;
	char err[512];

	if (!c->dir[0]) {
		print_message("the %s store keeps nothing across a restart: skipped\n",
			      backend->name);
		skip();
	}
	struct job *a = make_job(c, 0, NULL, 0, NULL);
	a->id = job_store_allocate_id(c->s);
	struct job *b = make_job(c, 0, NULL, 0, NULL);
	b->id = job_store_allocate_id(c->s);
	job_store_add(c->s, a);
	job_store_add(c->s, b);
	job_store_remove(c->s, b);   /* the newest, gone */
	uint64_t highest = b->id;
	job_unref(a);
	job_unref(b);
	/* Closing drains: everything handed over is written. */
	job_store_free(c->s);
	c->s = NULL;
	assert_int_equal(job_store_sqlite_new(c->f->base, c->dir, true, &c->s, err, sizeof(err)), 0);
	assert_true(job_store_allocate_id(c->s) > highest);
}

/* Rows in jobs.db, read as another process would. */
static int64_t rows_on_disk(const char *dir)
{
	char path[128];
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int64_t n = -1;

	snprintf(path, sizeof(path), "%s/jobs.db", dir);
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM jobs", -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

struct parts_watch {
	struct ctx *c;
	uint64_t target;            /* the number every job was promised */
	int64_t rows_when_durable;  /* rows on disk when it was reported */
	uint64_t *seqs;             /* each job's number, in the order made */
	size_t n;
	unsigned parts_before;      /* commits that wrote part of a number */
};

static void parts_on_durable(void *arg)
{
	struct parts_watch *w = arg;
	struct job_store *s = w->c->s;

	if (job_store_changes_durable(s) >= w->target) {
		w->rows_when_durable = rows_on_disk(w->c->dir);
		event_base_loopbreak(w->c->f->base);
	} else {
		/* More rows than the numbers durable so far account for: part
		 * of an open number is on disk. */
		uint64_t durable = job_store_changes_durable(s);
		int64_t closed = 0;
		for (size_t i = 0; i < w->n && w->seqs[i] <= durable; i++)
			closed++;
		if (rows_on_disk(w->c->dir) > closed)
			w->parts_before++;
	}
}

/* A turn that changes more records than may wait for the store thread
 * (a gather of 100,000 jobs) hands them over in parts; every job was
 * told one number, and that number is durable only once all of them are
 * on disk, not when the first part is. */
static void test_large_turn_in_parts(void **state)
{
	struct ctx *c = *state;
	enum { N = 30000 };
	char label[257];
	struct parts_watch w = { .c = c, .rows_when_durable = -1 };
	uint64_t seqs[N];

	if (!c->dir[0]) {
		print_message("the %s store writes nothing: skipped\n", backend->name);
		skip();
	}
	/* Another process holds the write lock: the store thread, busy with
	 * the first jobs (handed over early, as to an idle thread), cannot
	 * take the rest as they come, and the turn ends with all of them.
	 * (Without it, a thread that keeps up takes them 16 at a time.) */
	char path[128];
	sqlite3 *other = NULL;
	snprintf(path, sizeof(path), "%s/jobs.db", c->dir);
	assert_int_equal(sqlite3_open(path, &other), SQLITE_OK);
	assert_int_equal(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	/* 30,000 records of ~400 bytes: several times what may wait at once. */
	memset(label, 'l', sizeof(label) - 1);
	label[sizeof(label) - 1] = '\0';
	for (int i = 0; i < N; i++) {
		struct job *j = make_job(c, 0, NULL, 0, label);
		j->id = job_store_allocate_id(c->s);
		job_store_add(c->s, j);
		/* Numbers only grow; a store thread that is idle early on may
		 * get the first jobs under a number of their own. */
		assert_true(j->change_seq >= w.target);
		w.target = seqs[i] = j->change_seq;
		job_unref(j);
	}
	assert_int_equal(job_store_changes_made(c->s), w.target);
	assert_true(job_store_changes_durable(c->s) < w.target);
	assert_int_equal(sqlite3_exec(other, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(other);

	w.seqs = seqs;
	w.n = N;
	c->s->on_durable = parts_on_durable;
	c->s->on_durable_arg = &w;
	struct timeval limit = { 60, 0 };
	event_base_loopexit(c->f->base, &limit);
	event_base_dispatch(c->f->base);
	print_message("%d records: %u commit(s) of parts before the number was durable\n", N,
		      w.parts_before);
	assert_int_equal(w.rows_when_durable, N);
	assert_true(w.parts_before >= 1);
}

/* Counts by state follow adds, changes of state and removals. */
static void test_counts_by_state(void **state)
{
	struct ctx *c = *state;
	struct job *j[3];

	for (int i = 0; i < 3; i++) {
		j[i] = make_job(c, 0, NULL, 0, NULL);
		job_store_add(c->s, j[i]);
	}
	assert_int_equal(job_store_count_state(c->s, JOB_QUEUED), 3);
	assert_int_equal(job_store_count_state(c->s, JOB_RUNNING), 0);
	j[0]->state = JOB_RUNNING;
	job_store_updated(c->s, j[0], JOB_QUEUED);
	j[1]->state = JOB_RUNNING;
	job_store_updated(c->s, j[1], JOB_QUEUED);
	j[1]->state = JOB_SUCCEEDED;
	job_store_updated(c->s, j[1], JOB_RUNNING);
	/* A change that is not one of state. */
	job_store_updated(c->s, j[2], JOB_QUEUED);
	assert_int_equal(job_store_count_state(c->s, JOB_QUEUED), 1);
	assert_int_equal(job_store_count_state(c->s, JOB_RUNNING), 1);
	assert_int_equal(job_store_count_state(c->s, JOB_SUCCEEDED), 1);
	job_store_remove(c->s, j[1]);
	assert_int_equal(job_store_count_state(c->s, JOB_SUCCEEDED), 0);
	assert_int_equal(job_store_count(c->s), 2);
	/* A job the store does not hold changes no count. */
	j[1]->state = JOB_FAILED;
	job_store_updated(c->s, j[1], JOB_SUCCEEDED);
	assert_int_equal(job_store_count_state(c->s, JOB_FAILED), 0);
	for (int i = 0; i < 3; i++)
		job_unref(j[i]);
}

static void test_find_key(void **state)
{
	struct ctx *c = *state;
	struct job *a = make_job(c, 0, "alpha", 5, NULL);
	struct job *a_other = make_job(c, 1000, "alpha", 5, NULL);
	struct job *longer = make_job(c, 0, "alphabet", 8, NULL);
	struct job *solo = make_job(c, 0, "solo", 4, NULL);
	struct job *nokey = make_job(c, 0, NULL, 0, NULL);

	job_store_add(c->s, a);
	job_store_add(c->s, a_other);
	job_store_add(c->s, longer);
	job_store_add(c->s, solo);
	job_store_add(c->s, nokey);

	assert_ptr_equal(job_store_find_key(c->s, 0, "alpha", 5), a);
	assert_ptr_equal(job_store_find_key(c->s, 1000, "alpha", 5), a_other);
	assert_ptr_equal(job_store_find_key(c->s, 0, "alphabet", 8), longer);
	/* The length counts: a prefix or a longer key is another key. */
	assert_null(job_store_find_key(c->s, 0, "alph", 4));
	assert_null(job_store_find_key(c->s, 0, "alphabets", 9));
	/* The same key of another uid is not found. */
	assert_null(job_store_find_key(c->s, 1000, "solo", 4));
	assert_null(job_store_find_key(c->s, 42, "alpha", 5));
	assert_ptr_equal(job_store_find_key(c->s, 0, "solo", 4), solo);
	assert_null(job_store_find_key(c->s, 0, "", 0));

	/* Once removed, a key is found no more; the other uid's stays. */
	job_store_remove(c->s, a);
	assert_null(job_store_find_key(c->s, 0, "alpha", 5));
	assert_ptr_equal(job_store_find_key(c->s, 1000, "alpha", 5), a_other);

	job_unref(a);
	job_unref(a_other);
	job_unref(longer);
	job_unref(solo);
	job_unref(nokey);
}

static void test_find_long_key(void **state)
{
	struct ctx *c = *state;
	char key[1000];

	/* Longer than the lookup's stack buffer. */
	memset(key, 'k', sizeof(key));
	struct job *j = make_job(c, 7, key, sizeof(key), NULL);
	job_store_add(c->s, j);
	assert_ptr_equal(job_store_find_key(c->s, 7, key, sizeof(key)), j);
	assert_null(job_store_find_key(c->s, 8, key, sizeof(key)));
	assert_null(job_store_find_key(c->s, 7, key, sizeof(key) - 1));
	job_unref(j);
}

/* Checks that walking newest() then older() yields exactly `expected`. */
static void check_walk(struct job_store *s, struct job *const *expected, size_t n)
{
	size_t i = 0;
	for (struct job *j = job_store_newest(s); j; j = job_store_older(s, j), i++) {
		if (i >= n)
			fail_msg("walk goes on past %zu jobs (job %llu)", n, (unsigned long long)j->id);
		if (j != expected[i])
			fail_msg("walk step %zu: job %llu, expected %llu", i,
				 (unsigned long long)j->id, (unsigned long long)expected[i]->id);
	}
	assert_int_equal(i, n);
	assert_int_equal(job_store_count(s), n);
}

static void test_walk_order(void **state)
{
	struct ctx *c = *state;
	struct job *j[6];

	assert_null(job_store_newest(c->s));
	for (size_t i = 0; i < 6; i++) {
		j[i] = make_job(c, (uid_t)(i % 2), NULL, 0, NULL);
		job_store_add(c->s, j[i]);
	}
	check_walk(c->s, (struct job *[]){ j[5], j[4], j[3], j[2], j[1], j[0] }, 6);

	/* From the middle. */
	job_store_remove(c->s, j[2]);
	check_walk(c->s, (struct job *[]){ j[5], j[4], j[3], j[1], j[0] }, 5);
	/* The newest. */
	job_store_remove(c->s, j[5]);
	check_walk(c->s, (struct job *[]){ j[4], j[3], j[1], j[0] }, 4);
	/* The oldest. */
	job_store_remove(c->s, j[0]);
	check_walk(c->s, (struct job *[]){ j[4], j[3], j[1] }, 3);
	/* A new job goes first. */
	struct job *k = make_job(c, 0, NULL, 0, NULL);
	job_store_add(c->s, k);
	check_walk(c->s, (struct job *[]){ k, j[4], j[3], j[1] }, 4);

	job_store_remove(c->s, k);
	job_store_remove(c->s, j[4]);
	job_store_remove(c->s, j[3]);
	job_store_remove(c->s, j[1]);
	assert_null(job_store_newest(c->s));
	assert_int_equal(job_store_count(c->s), 0);

	job_unref(k);
	for (size_t i = 0; i < 6; i++)
		job_unref(j[i]);
}

static void test_refcounts(void **state)
{
	struct ctx *c = *state;
	struct job *j = make_job(c, 0, "ref", 3, "a label");

	job_store_add(c->s, j);
	assert_int_equal(j->refs, 2);          /* ours and the store's */
	struct job *held = job_ref(j);
	assert_ptr_equal(held, j);
	assert_int_equal(j->refs, 3);

	/* Dropping ours: the store and `held` keep it. */
	assert_null(job_unref(j));
	assert_int_equal(held->refs, 2);

	/* Removed from the store, it lives on while `held` is held. */
	job_store_remove(c->s, held);
	assert_null(job_store_get(c->s, held->id));
	assert_null(job_store_find_key(c->s, 0, "ref", 3));
	assert_int_equal(held->refs, 1);
	assert_string_equal(held->label, "a label");
	assert_string_equal(job_key(held), "ref");
	assert_int_equal(held->state, JOB_QUEUED);

	/* The last reference frees it (AddressSanitizer checks the rest). */
	assert_null(job_unref(held));
}

static void test_free_drops_references(void **state)
{
	struct ctx *c = *state;
	struct job_store *s = job_store_memory_new();
	struct job *kept = make_job(c, 0, "k", 1, NULL);
	struct job *only_store = make_job(c, 0, NULL, 0, NULL);

	job_store_add(s, kept);
	job_store_add(s, only_store);
	job_unref(only_store);                 /* the store holds the last one */
	assert_int_equal(kept->refs, 2);

	job_store_free(s);
	/* Ours survives the store; the other was freed with it. */
	assert_int_equal(kept->refs, 1);
	assert_false(kept->in_store);
	job_unref(kept);
}

/* What job_store_list must answer, found the slow way: a walk over every
 * job from the newest. */
static size_t list_by_walking(struct job_store *s, const struct job_filter *f, size_t limit,
			      struct job **out, size_t *matched)
{
	size_t n = 0;

	*matched = 0;
	for (struct job *j = job_store_newest(s); j; j = job_store_older(s, j)) {
		if ((!f->any_owner && j->uid != f->owner) || (!f->any_state && j->state != f->state) ||
		    (f->type && j->type != f->type))
			continue;
		if (n < limit)
			out[n++] = j;
		++*matched;
	}
	return n;
}

static void check_every_filter(struct job_store *s, size_t n_uids, const char *when)
{
	enum { MAX = 1000 };
	static struct job *want[MAX], *got[MAX];
	const struct job_type *types[] = { NULL, job_type_find("sleep"), job_type_find("fetch") };
	const size_t limits[] = { 1, 7, MAX };

	for (size_t owner = 0; owner <= n_uids; owner++)
		for (int state = -1; state < JOB_STATE_COUNT; state++)
			for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++)
				for (size_t l = 0; l < sizeof(limits) / sizeof(limits[0]); l++) {
					struct job_filter f = {
						.any_owner = owner == n_uids,
						.owner = (uid_t)owner,
						.any_state = state < 0,
						.state = state < 0 ? JOB_QUEUED : (enum job_state)state,
						.type = types[t],
					};
					size_t want_all, got_all;
					size_t nw = list_by_walking(s, &f, limits[l], want, &want_all);
					size_t ng = job_store_list(s, &f, limits[l], got, &got_all);
					if (nw != ng || want_all != got_all ||
					    memcmp(want, got, nw * sizeof(want[0])) != 0)
						fail_msg("%s: owner %zu, state %d, type %zu, limit %zu: "
							 "%zu jobs (of %zu) listed, %zu (of %zu) "
							 "expected", when, owner, state, t, limits[l],
							 ng, got_all, nw, want_all);
				}
}

/* job_store_list answers what a walk over every job would, whatever the
 * order jobs start, end and leave in: the newest first, by owner, state
 * and type. States change in random order (a job started last may end
 * first), and jobs leave from anywhere. */
static void test_list_matches_a_walk(void **state)
{
	struct ctx *c = *state;
	enum { N = 300, UIDS = 3 };
	struct job *j[N];
	unsigned seed = 12345;

	check_every_filter(c->s, UIDS, "empty");
	for (size_t i = 0; i < N; i++) {
		j[i] = make_job(c, (uid_t)(rand_r(&seed) % UIDS), NULL, 0, NULL);
		job_store_add(c->s, j[i]);
	}
	check_every_filter(c->s, UIDS, "all queued");
	for (int round = 0; round < 6; round++) {
		for (size_t k = 0; k < N / 3; k++) {
			struct job *job = j[rand_r(&seed) % N];
			enum job_state from = job->state;
			if (!job->in_store || job_state_is_final(from))
				continue;
			job->state = from == JOB_QUEUED && rand_r(&seed) % 4 ? JOB_RUNNING
				: (enum job_state)(JOB_SUCCEEDED + rand_r(&seed) % 3);
			job_store_updated(c->s, job, from);
		}
		check_every_filter(c->s, UIDS, "after changes of state");
		for (size_t k = 0; k < N / 20; k++) {
			struct job *job = j[rand_r(&seed) % N];
			job_store_remove(c->s, job);
		}
		check_every_filter(c->s, UIDS, "after removals");
	}
	/* The end of each list, and a job that ends long after the newer
	 * ones: newest first still. */
	for (size_t i = N; i-- > 0;) {
		if (!j[i]->in_store || job_state_is_final(j[i]->state))
			continue;
		enum job_state from = j[i]->state;
		j[i]->state = JOB_SUCCEEDED;
		job_store_updated(c->s, j[i], from);
	}
	check_every_filter(c->s, UIDS, "all ended, newest first");
	for (size_t i = 0; i < N; i++) {
		job_store_remove(c->s, j[i]);
		job_unref(j[i]);
	}
	check_every_filter(c->s, UIDS, "all gone");
	assert_int_equal(job_store_count(c->s), 0);
}

static void test_submitted_jobs(void **state)
{
	struct ctx *c = *state;
	struct fixture *f = c->f;
	struct job_store *store = f->d->store;

	assert_int_equal(job_store_count(store), 0);
	const char *line = fixture_call(f, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"job.submit\","
					   "\"params\":{\"type\":\"sleep\",\"seconds\":0,"
					   "\"key\":\"rk\",\"wait\":true}}");
	assert_non_null(line);
	struct json_object *reply = json_tokener_parse(line);
	struct json_object *result, *v;
	assert_non_null(reply);
	assert_true(json_object_object_get_ex(reply, "result", &result));
	assert_true(json_object_object_get_ex(result, "id", &v));
	uint64_t id = (uint64_t)json_object_get_int64(v);
	json_object_put(reply);

	line = fixture_call(f, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"job.submit\","
			       "\"params\":{\"type\":\"sleep\",\"seconds\":60}}");
	assert_non_null(line);

	assert_int_equal(job_store_count(store), 2);
	struct job *j = job_store_get(store, id);
	assert_non_null(j);
	assert_int_equal(j->id, id);
	assert_int_equal(j->state, JOB_SUCCEEDED);
	assert_int_equal(j->uid, 0);
	assert_ptr_equal(job_store_find_key(store, 0, "rk", 2), j);
	assert_null(job_store_find_key(store, 1000, "rk", 2));

	/* The second job is the newest, and running. */
	struct job *newest = job_store_newest(store);
	assert_non_null(newest);
	assert_int_equal(newest->id, id + 1);
	assert_int_equal(newest->state, JOB_RUNNING);
	assert_ptr_equal(job_store_older(store, newest), j);
	assert_null(job_store_older(store, j));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_add_get_remove, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ids_never_reused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ids_survive_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_counts_by_state, setup, teardown),
		cmocka_unit_test_setup_teardown(test_find_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_find_long_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_walk_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_matches_a_walk, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refcounts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_drops_references, setup, teardown),
		cmocka_unit_test_setup_teardown(test_submitted_jobs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_large_turn_in_parts, setup, teardown),
	};
	int failed = 0;

	for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++) {
		backend = &backends[i];
		failed += _cmocka_run_group_tests(backend->name, tests, sizeof(tests) / sizeof(tests[0]),
						  NULL, NULL);
	}
	return failed;
}
