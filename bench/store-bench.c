/* The SQLite store's engine alone, from one loop thread, with nothing of
 * the daemon around it: how many record writes per second group commit
 * makes durable with store_sync full and normal, how long one record takes
 * when each waits for the last, and how long a start takes (open, which
 * checks every page, and load) with the records made.
 *
 *   store-bench DIR [JOBS]
 *
 * Each job is two puts, as a job's life is (queued, then succeeded), 300
 * bytes of body each. Prints figures; asserts nothing. */
#include "config.h"

#include <ftw.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "daemon/store-sqlite.h"

struct bench {
	struct event_base *base;
	struct event *pump;
	struct store_sqlite *s;
	uint64_t jobs, made, last_seq, durable;
	int err;
	bool one_at_a_time;
	double *lat;
	double t_put;
};

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char body[300];

static uint64_t put(struct bench *b, uint64_t id, int state)
{
	struct store_record rec = {
		.id = id, .type = "sleep", .uid = 1000, .state = state,
		.submitted_ms = 1700000000000, .finished_ms = state ? 1700000000001 : 0,
		.body = body, .body_len = sizeof(body),
	};
	return store_sqlite_put(b->s, &rec);
}

/* Puts a slice of jobs per loop pass, as a busy daemon would. */
static void on_pump(evutil_socket_t fd, short what, void *arg)
{
	struct bench *b = arg;
	(void)fd;
	(void)what;

	for (int i = 0; i < 256 && b->made < b->jobs; i++) {
		b->made++;
		put(b, b->made, 0);
		put(b, b->made, 2);
	}
	/* One hand-over per loop pass, as the daemon makes one per turn. */
	b->last_seq = store_sqlite_submit(b->s);
	if (b->made < b->jobs)
		event_active(b->pump, EV_TIMEOUT, 0);
}

static void on_durable(void *arg, uint64_t seq, int err)
{
	struct bench *b = arg;

	b->durable = seq;
	b->err = err;
	if (err) {
		fprintf(stderr, "store error %d\n", err);
		event_base_loopbreak(b->base);
		return;
	}
	if (b->one_at_a_time) {
		b->lat[b->made - 1] = now() - b->t_put;
		if (b->made < b->jobs) {
			b->made++;
			b->t_put = now();
			put(b, b->made, 2);
			b->last_seq = store_sqlite_submit(b->s);
			return;
		}
	}
	if (seq >= b->last_seq && b->made >= b->jobs)
		event_base_loopbreak(b->base);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int cmp_double(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;
	return a < b ? -1 : a > b;
}

static int count_rec(void *arg, const struct store_record *rec)
{
	(void)rec;
	(*(uint64_t *)arg)++;
	return 0;
}

static int run(const char *dir, enum store_sync sync, uint64_t jobs)
{
	const char *name = sync == STORE_SYNC_FULL ? "full" : "normal";
	char tmp[4096], path[4200], err[512];
	struct bench b = { .jobs = jobs };
	struct store_sqlite_stats st;
	double t0, t1;

	snprintf(tmp, sizeof(tmp), "%s/store-bench.XXXXXX", dir);
	if (!mkdtemp(tmp)) {
		perror(tmp);
		return 1;
	}
	snprintf(path, sizeof(path), "%s/jobs.db", tmp);
	b.base = event_base_new();
	b.pump = event_new(b.base, -1, 0, on_pump, &b);
	if (store_sqlite_open(path, sync, b.base, on_durable, &b, &b.s, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}

	/* Pipelined: as fast as the loop can put. */
	t0 = now();
	event_active(b.pump, EV_TIMEOUT, 0);
	event_base_dispatch(b.base);
	t1 = now();
	store_sqlite_stats(b.s, &st);
	printf("sync=%s jobs=%" PRIu64 " puts=%" PRIu64 " seconds=%.3f jobs_per_second=%.0f "
	       "puts_per_second=%.0f batches=%" PRIu64 " records_written=%" PRIu64
	       " avg_batch=%.0f last_commit_ms=%.2f\n",
	       name, jobs, 2 * jobs, t1 - t0, jobs / (t1 - t0), 2 * jobs / (t1 - t0), st.batches,
	       st.records_written, st.batches ? (double)(2 * jobs) / st.batches : 0.0,
	       st.last_commit_us / 1000.0);

	/* One at a time: each put waits for the last to be durable. */
	uint64_t n1 = 1000;
	b.lat = calloc(n1, sizeof(double));
	b.one_at_a_time = true;
	b.jobs = jobs + n1;
	b.made = jobs + 1;
	b.t_put = now();
	put(&b, b.made, 2);
	b.last_seq = store_sqlite_submit(b.s);
	b.lat -= jobs;   /* indexed by id - 1 */
	event_base_dispatch(b.base);
	b.lat += jobs;
	qsort(b.lat, n1, sizeof(double), cmp_double);
	printf("sync=%s one_at_a_time=%" PRIu64 " median_ms=%.3f p99_ms=%.3f\n", name, n1,
	       b.lat[n1 / 2] * 1000, b.lat[n1 * 99 / 100] * 1000);
	free(b.lat);
	b.s = store_sqlite_close(b.s);

	/* A start with them all. */
	uint64_t n = 0;
	t0 = now();
	if (store_sqlite_open(path, sync, b.base, on_durable, &b, &b.s, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	t1 = now();
	store_sqlite_load(b.s, count_rec, &n);
	double t2 = now();
	struct stat sb;
	stat(path, &sb);
	printf("sync=%s start records=%" PRIu64 " open_ms=%.0f load_ms=%.0f db_mb=%.1f\n", name, n,
	       (t1 - t0) * 1000, (t2 - t1) * 1000, sb.st_size / 1e6);
	b.s = store_sqlite_close(b.s);
	event_free(b.pump);
	event_base_free(b.base);
	nftw(tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}

int main(int argc, char **argv)
{
	uint64_t jobs = argc > 2 ? strtoull(argv[2], NULL, 10) : 200000;

	if (argc < 2) {
		fprintf(stderr, "usage: store-bench DIR [JOBS]\n");
		return 2;
	}
	memset(body, 'x', sizeof(body));
	return run(argv[1], STORE_SYNC_FULL, jobs) || run(argv[1], STORE_SYNC_NORMAL, jobs);
}
