/* The daemon object: setup and teardown, deferred work, shutdown, per-user
 * counters and clocks. */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <uthash.h>

#include "daemon/conn.h"
#include "daemon/daemon.h"
#include "daemon/events.h"
#include "daemon/fetch-engine.h"
#include "daemon/identity.h"
#include "daemon/job-store.h"
#include "daemon/job.h"
#include "daemon/listener.h"
#include "daemon/log.h"
#include "daemon/metrics.h"
#include "daemon/rpc.h"
#include "daemon/upload.h"
#include "daemon/waiter.h"
#include "daemon/workers.h"
#include "daemon/xalloc.h"

#undef uthash_fatal
#define uthash_fatal(msg) xalloc_die()

struct user_usage {
	uid_t uid;
	size_t active_jobs;
	size_t connections;
	UT_hash_handle hh;
};

/* ------------------------------------------------------------ clocks */

int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

double mono_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct timeval timeval_from_seconds(double seconds)
{
	if (seconds < 0)
		seconds = 0;
	struct timeval tv = {
		.tv_sec = (time_t)seconds,
		.tv_usec = (suseconds_t)ceil((seconds - floor(seconds)) * 1e6),
	};
	if (tv.tv_usec >= 1000000) {
		tv.tv_sec++;
		tv.tv_usec -= 1000000;
	}
	return tv;
}

/* Days since 1970-01-01 to a proleptic Gregorian date. Counting years from
 * March makes the leap day the last day of a year, so the month follows
 * from the day of the year with one linear formula; eras of 400 years
 * (146,097 days) repeat exactly. */
static void civil_from_days(int64_t days, int64_t *ret_year, int *ret_month, int *ret_day)
{
	int64_t z = days + 719468;      /* days since 0000-03-01 */
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t day_of_era = z - era * 146097;                          /* [0, 146096] */
	int64_t year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36524 -
			       day_of_era / 146096) / 365;                 /* [0, 399] */
	int64_t day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
	int64_t month_from_march = (5 * day_of_year + 2) / 153;         /* [0, 11] */
	int month = (int)(month_from_march < 10 ? month_from_march + 3 : month_from_march - 9);

	*ret_day = (int)(day_of_year - (153 * month_from_march + 2) / 5 + 1);
	*ret_month = month;
	*ret_year = year_of_era + era * 400 + (month <= 2);
}

static void put_digits(char *at, unsigned value, int width)
{
	for (int i = width - 1; i >= 0; i--) {
		at[i] = (char)('0' + value % 10);
		value /= 10;
	}
}

static inline void put_two_digits(char *at, unsigned value)
{
	static const char pairs[] =
		"00010203040506070809101112131415161718192021222324252627282930313233343536373839"
		"40414243444546474849505152535455565758596061626364656667686970717273747576777879"
		"8081828384858687888990919293949596979899";
	memcpy(at, pairs + 2 * value, 2);
}

int parse_rfc3339_ms(const char *s, int64_t *ret)
{
	struct tm tm = { 0 };
	int n = 0, frac_digits = 0;
	int64_t frac = 0;

	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
		   &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6 || n != 19)
		return -EINVAL;
	const char *p = s + n;
	if (*p == '.') {
		for (p++; *p >= '0' && *p <= '9'; p++, frac_digits++)
			if (frac_digits < 3)
				frac = frac * 10 + (*p - '0');
		if (frac_digits == 0)
			return -EINVAL;
		for (int i = frac_digits; i < 3; i++)
			frac *= 10;
	}
	int offset_min = 0;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int oh, om, used = 0;
		if (sscanf(p + 1, "%2d:%2d%n", &oh, &om, &used) != 2 || used != 5 || oh > 23 || om > 59)
			return -EINVAL;
		offset_min = (oh * 60 + om) * (*p == '-' ? -1 : 1);
		p += 6;
	} else {
		return -EINVAL;
	}
	if (*p || tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
	    tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
		return -EINVAL;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	time_t t = timegm(&tm);
	if (t == (time_t)-1)
		return -EINVAL;
	*ret = ((int64_t)t - offset_min * 60) * 1000 + frac;
	return 0;
}

void format_rfc3339_ms(int64_t ms, char buf[32])
{
	/* Every job object carries up to three timestamps, so this is on the
	 * reply path of every job: arithmetic instead of gmtime and strftime,
	 * and the date kept from the last call, as nearly all fall on the same
	 * day, and the whole text of the last two: the jobs of a gather share
	 * their start, and those that ended together their end. Only the loop
	 * thread formats times. */
	static int64_t cached_days = INT64_MIN, cached_ms[2] = { INT64_MIN, INT64_MIN };
	static char date[11], last[2][RFC3339_MS_LEN + 1];
	static unsigned next;

	for (unsigned i = 0; i < 2; i++) {
		if (ms == cached_ms[i]) {
			memcpy(buf, last[i], sizeof(last[i]));
			return;
		}
	}
	int64_t seconds = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
	unsigned milli = (unsigned)(ms - seconds * 1000);
	int64_t days = seconds >= 0 ? seconds / 86400 : -((-seconds + 86399) / 86400);
	unsigned second_of_day = (unsigned)(seconds - days * 86400);

	if (days != cached_days) {
		int64_t year;
		int month, day;
		civil_from_days(days, &year, &month, &day);
		/* RFC 3339 has four-digit years only; no real clock gets past. */
		put_digits(date, (unsigned)(year < 0 ? 0 : year > 9999 ? 9999 : year), 4);
		date[4] = '-';
		put_two_digits(date + 5, (unsigned)month);
		date[7] = '-';
		put_two_digits(date + 8, (unsigned)day);
		date[10] = 'T';
		cached_days = days;
	}
	memcpy(buf, date, 11);
	put_two_digits(buf + 11, second_of_day / 3600);
	buf[13] = ':';
	put_two_digits(buf + 14, second_of_day / 60 % 60);
	buf[16] = ':';
	put_two_digits(buf + 17, second_of_day % 60);
	buf[19] = '.';
	put_digits(buf + 20, milli, 3);
	buf[23] = 'Z';
	buf[24] = '\0';
	memcpy(last[next], buf, sizeof(last[next]));
	cached_ms[next] = ms;
	next ^= 1;
}

/* ------------------------------------------------------------ users */

static struct user_usage *find_user(struct daemon *d, uid_t uid)
{
	struct user_usage *u = d->last_user;

	if (u && u->uid == uid)
		return u;
	HASH_FIND(hh, d->users, &uid, sizeof(uid), u);
	if (u)
		d->last_user = u;
	return u;
}

size_t daemon_user_active_jobs(struct daemon *d, uid_t uid)
{
	struct user_usage *u = find_user(d, uid);
	return u ? u->active_jobs : 0;
}

size_t daemon_user_connections(struct daemon *d, uid_t uid)
{
	struct user_usage *u = find_user(d, uid);
	return u ? u->connections : 0;
}

void daemon_user_adjust(struct daemon *d, uid_t uid, long jobs_delta, long conns_delta)
{
	struct user_usage *u = find_user(d, uid);

	if (!u) {
		u = xcalloc(1, sizeof(*u));
		u->uid = uid;
		HASH_ADD(hh, d->users, uid, sizeof(uid), u);
	}
	u->active_jobs = (size_t)((long)u->active_jobs + jobs_delta);
	u->connections = (size_t)((long)u->connections + conns_delta);
	if (u->active_jobs == 0 && u->connections == 0) {
		HASH_DEL(d->users, u);
		if (d->last_user == u)
			d->last_user = NULL;
		free(u);
	}
}

/* ------------------------------------------------------------ deferred */

static void run_deferred(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;
	(void)fd;
	(void)what;

	/* Freeing a connection may cancel jobs and so ready waiters; running
	 * a waiter may kill a connection. Go on until both are empty. */
	while (!TAILQ_EMPTY(&d->ready_waiters) || !TAILQ_EMPTY(&d->dead_conns)) {
		waiter_run_ready(d);
		conn_free_dead(d);
	}
	if (d->shutting_down && d->n_conns == 0)
		event_base_loopexit(d->base, NULL);
}

/* Writes what this loop turn queued for each connection now, in one write
 * each, instead of one loop turn later when the socket is reported
 * writable: a reply costs one epoll_wait less. What the socket does not
 * take stays for the bufferevent to write as usual. */
static void flush_connections(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;
	struct conn *c;
	(void)fd;
	(void)what;

	while ((c = TAILQ_FIRST(&d->dirty_conns))) {
		TAILQ_REMOVE(&d->dirty_conns, c, dirty_link);
		c->dirty = false;
		if (!c->dead)
			conn_flush(c);
	}
}

void daemon_instant_begin(struct daemon *d, double mono)
{
	if (d->instant_depth++ > 0)
		return;
	d->instant_mono = mono;
	d->instant_wall_ms = wall_ms();
}

void daemon_instant_end(struct daemon *d)
{
	d->instant_depth--;
}

double daemon_mono_now(const struct daemon *d)
{
	return d->instant_depth ? d->instant_mono : mono_seconds();
}

int64_t daemon_wall_ms_now(const struct daemon *d)
{
	return d->instant_depth ? d->instant_wall_ms : wall_ms();
}

void daemon_mark_dirty(struct daemon *d, struct conn *c)
{
	if (c->dirty)
		return;
	c->dirty = true;
	TAILQ_INSERT_TAIL(&d->dirty_conns, c, dirty_link);
	event_active(d->flush, EV_TIMEOUT, 0);
}

void daemon_kick_deferred(struct daemon *d)
{
	/* Activating an event that is already active changes nothing. */
	event_active(d->deferred, EV_TIMEOUT, 0);
}

/* ------------------------------------------------------------ lifetime */

struct event_base *daemon_event_base_new(void)
{
	struct event_config *ec = event_config_new();
	struct event_base *base;

	if (!ec)
		return NULL;
	/* timerfd-backed timers, so a sleep wakes within a millisecond; and no
	 * cached loop time, so a timer added late in a busy loop turn counts
	 * from when it was added, not from when the turn began. */
	event_config_set_flag(ec, EVENT_BASE_FLAG_PRECISE_TIMER | EVENT_BASE_FLAG_NO_CACHE_TIME);
	base = event_base_new_with_config(ec);
	event_config_free(ec);
	/* Three priorities: events run at the middle one; writing out what a
	 * loop turn produced runs after them (see flush_connections). */
	if (base && event_base_priority_init(base, 3) < 0) {
		event_base_free(base);
		return NULL;
	}
	return base;
}

/* The store has more changes on disk: the jobs that waited for theirs
 * start, and the output that waited goes out. */
static void store_durable(void *arg)
{
	struct daemon *d = arg;
	struct conn *c, *next;

	/* The output first: what the jobs about to start say comes after. */
	for (c = TAILQ_FIRST(&d->held_conns); c; c = next) {
		next = TAILQ_NEXT(c, held_link);
		if (conn_release_held(c)) {
			TAILQ_REMOVE(&d->held_conns, c, held_link);
			c->on_held_list = false;
		}
	}
	job_start_durable(d);
	waiter_store_durable(d);
}

void daemon_use_store(struct daemon *d, struct job_store *store)
{
	job_store_free(d->store);
	d->store = store;
	store->on_durable = store_durable;
	store->on_durable_arg = d;
	/* A store that writes records needs each job's spec for them. */
	d->keep_job_specs = store->ops->changes_made != NULL;
}

struct daemon *daemon_new(struct event_base *base, struct config *config)
{
	struct daemon *d = xcalloc(1, sizeof(*d));

	d->base = base;
	d->config = config;
	json_parser_init(&d->parser, (unsigned)config->limits.max_json_depth);
	daemon_use_store(d, job_store_memory_new());
	d->events = event_log_new(config->limits.event_history);
	TAILQ_INIT(&d->conns);
	TAILQ_INIT(&d->finished);
	TAILQ_INIT(&d->graveyard);
	TAILQ_INIT(&d->ready_waiters);
	TAILQ_INIT(&d->durable_waiters);
	TAILQ_INIT(&d->dead_conns);
	jsonw_init(&d->scratch);
	/* Before the worker threads, which take identities on from it. */
	identity_init();
	d->workers = workers_new(base, (unsigned)config->limits.io_threads);
	d->fetch = fetch_engine_new(base, config->limits.max_concurrent_fetches,
				    config->limits.max_fetches_per_host);
	if (!d->workers || !d->fetch)
		xalloc_die();
	job_types_init(d);
	d->metrics = metrics_new();
	d->deferred = event_new(base, -1, 0, run_deferred, d);
	d->flush = event_new(base, -1, 0, flush_connections, d);
	if (!d->deferred || !d->flush)
		xalloc_die();
	event_priority_set(d->flush, 2);
	TAILQ_INIT(&d->dirty_conns);
	TAILQ_INIT(&d->held_conns);
	d->started_mono = mono_seconds();
	d->started_wall_ms = wall_ms();
	log_set_level(config->log_level);
	return d;
}

struct daemon *daemon_free(struct daemon *d)
{
	struct conn *c;
	struct job *job;

	if (!d)
		return NULL;
	d->tearing_down = true;
	d->listener = listener_free(d->listener);
	while ((c = TAILQ_FIRST(&d->conns)))
		conn_kill(c, NULL);   /* moves it to dead_conns */
	conn_free_dead(d);
	/* Jobs still running are stopped; nobody is left to tell. */
	for (job = job_store_newest(d->store); job; job = job_store_older(d->store, job))
		if (!job_state_is_final(job->state) && !job_drop_due_timer(job))
			job->type->stop(job);
	while (!TAILQ_EMPTY(&d->ready_waiters))
		waiter_cancel(TAILQ_FIRST(&d->ready_waiters));
	while (!TAILQ_EMPTY(&d->durable_waiters))
		waiter_cancel(TAILQ_FIRST(&d->durable_waiters));
	/* File work the stopped jobs left (removing temporary files) runs to
	 * its end before the jobs go. */
	d->workers = workers_free(d->workers);
	d->events = event_log_free(d->events);
	TAILQ_INIT(&d->finished);
	job_graveyard_empty(d);
	job_starts_drop(d);
	for (size_t i = 0; i < d->n_loaded; i++)
		job_unref(d->loaded[i]);
	free(d->loaded);
	job_store_free(d->store);
	d->fetch = fetch_engine_free(d->fetch);
	job_types_free(d);
	d->uploads = uploads_free(d->uploads);
	d->metrics = metrics_free(d->metrics);
	if (d->retention_timer)
		event_free(d->retention_timer);
	if (d->shutdown_timer)
		event_free(d->shutdown_timer);
	event_free(d->deferred);
	event_free(d->flush);
	json_parser_release(&d->parser);
	jsonw_release(&d->scratch);
	config_free(d->config);
	struct user_usage *u, *utmp;
	HASH_ITER(hh, d->users, u, utmp) {
		HASH_DEL(d->users, u);
		free(u);
	}
	free(d);
	return NULL;
}

void daemon_apply_config(struct daemon *d, struct config *config)
{
	struct config *old = d->config;
	const char *restart = config_restart_needed(old, config);
	struct conn *c;

	if (restart)
		log_warnx("reload: changing '%s' takes a restart; keeping the old value", restart);
	/* The socket is already bound: keep what it was bound with. */
	free(config->socket_path);
	config->socket_path = old->socket_path ? xstrdup(old->socket_path) : NULL;
	config->socket_mode = old->socket_mode;
	free(config->socket_group);
	config->socket_group = old->socket_group ? xstrdup(old->socket_group) : NULL;
	config->socket_gid = old->socket_gid;
	config->limits.io_threads = old->limits.io_threads;
	config->store = old->store;
	free(config->state_directory);
	config->state_directory = old->state_directory ? xstrdup(old->state_directory) : NULL;
	free(config->metrics_listen);
	config->metrics_listen = old->metrics_listen ? xstrdup(old->metrics_listen) : NULL;
	config->store_sync = old->store_sync;

	d->config = config;
	log_set_level(config->log_level);
	d->parser.max_depth = (unsigned)config->limits.max_json_depth;
	if (config->limits.max_request_bytes != old->limits.max_request_bytes)
		TAILQ_FOREACH(c, &d->conns, link)
			conn_set_max_request(c, config->limits.max_request_bytes);
	event_log_resize(d->events, config->limits.event_history);
	fetch_engine_set_limits(d->fetch, config->limits.max_concurrent_fetches,
				config->limits.max_fetches_per_host);
	job_retention_run(d);
	config_free(old);
	log_notice("configuration reloaded%s%s", config->file ? " from " : "",
		   config->file ? config->file : "");
}

/* ------------------------------------------------------------ shutdown */

static void on_shutdown_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;
	(void)fd;
	(void)what;
	log_warnx("shutdown: %zu connection(s) still had unsent replies after %g s; closing them",
		  d->n_conns, d->config->limits.shutdown_grace_seconds);
	event_base_loopexit(d->base, NULL);
}

/* The second half of a shutdown, once no job is left running: answer the
 * waiters, then close each connection once its output is written. */
static void close_connections(struct daemon *d)
{
	struct conn *c, *tmp;

	while (!TAILQ_EMPTY(&d->ready_waiters) || !TAILQ_EMPTY(&d->dead_conns)) {
		waiter_run_ready(d);
		conn_free_dead(d);
	}
	for (c = TAILQ_FIRST(&d->conns); c; c = tmp) {
		tmp = TAILQ_NEXT(c, link);
		conn_close_when_flushed(c);   /* may move c to dead_conns */
	}
	conn_free_dead(d);
	if (d->n_conns == 0)
		event_base_loopexit(d->base, NULL);
}

void daemon_job_finished(struct daemon *d)
{
	/* The last job that could not be stopped has finished: its waiters
	 * learn how, and the shutdown goes on. */
	if (d->shutting_down && d->n_active == 0 && d->shutdown_waiting_jobs) {
		d->shutdown_waiting_jobs = false;
		waiter_run_ready(d);
		close_connections(d);
	}
}

bool daemon_keeps_jobs_on_shutdown(const struct daemon *d)
{
	return d->keep_job_specs && !d->config->cancel_on_shutdown;
}

/* Answers a request still waiting when the daemon stops and keeps its
 * jobs: -32002 saying it restarts, with the ids of the jobs it waited
 * for. A gather's client was never told those; with them it can wait for
 * the same jobs after the restart. */
static void answer_restarting(struct request *req)
{
	struct rpc_error e = { 0 };
	struct waiter *w = req->waiter;
	uint64_t *ids = NULL;

	rpc_error_simple(&e, RPC_BUSY, "asyncjobd is restarting: the jobs are kept and go on "
			 "after the restart; ask for them again then");
	e.restarting = true;
	if (w) {
		ids = xmalloc(w->n * sizeof(*ids));
		for (size_t i = 0; i < w->n; i++) {
			struct job *job = waiter_job(w, i);
			ids[i] = job->id;
			/* Ids tell of jobs: they leave once the jobs are on
			 * disk, as a reply naming them would. */
			if (job->change_seq > e.needs)
				e.needs = job->change_seq;
		}
		e.ids = ids;
		e.n_ids = w->n;
	}
	request_error(req, &e);
	free(ids);
}

/* A shutdown that keeps the jobs (a store on disk, on_shutdown = resume):
 * nothing is canceled; the work in progress stops when the process does,
 * and each job goes on by its type's rule at the next start. A client
 * waiting on a job hears that the daemon is restarting. */
static void shutdown_resuming(struct daemon *d)
{
	struct conn *c;
	struct request *req;

	/* The daemon closes these connections, not their clients: a job
	 * they would cancel on disconnect is kept too. First, for all of them:
	 * answering a request may close its connection. */
	TAILQ_FOREACH(c, &d->conns, link) {
		struct job *job;
		while ((job = LIST_FIRST(&c->owned_jobs)))
			job_clear_owner(job);
	}
	struct conn *next;
	for (c = TAILQ_FIRST(&d->conns); c; c = next) {
		next = TAILQ_NEXT(c, link);
		while (!c->dead && (req = LIST_FIRST(&c->requests))) {
			answer_restarting(req);
			request_free(req);
		}
	}
	log_notice("shutting down: %zu job(s) kept to go on at the next start, %zu "
		   "connection(s) open", d->n_active, d->n_conns);
	struct timeval tv = timeval_from_seconds(d->config->limits.shutdown_grace_seconds);
	d->shutdown_timer = evtimer_new(d->base, on_shutdown_timeout, d);
	if (!d->shutdown_timer)
		xalloc_die();
	xevtimer_add(d->shutdown_timer, &tv);
	close_connections(d);
}

void daemon_shutdown(struct daemon *d)
{
	struct job *job;
	size_t canceled = 0;

	if (d->shutting_down)
		return;
	d->shutting_down = true;
	d->listener = listener_free(d->listener);
	waiter_store_durable(d);    /* replies parked for the store: written now */
	if (daemon_keeps_jobs_on_shutdown(d)) {
		shutdown_resuming(d);
		return;
	}

	/* Collect first: finishing a job may evict others from the store. */
	struct job **active = xmalloc((d->n_active + 1) * sizeof(*active));
	size_t n = 0;
	for (job = job_store_newest(d->store); job && n < d->n_active;
	     job = job_store_older(d->store, job))
		if (!job_state_is_final(job->state))
			active[n++] = job_ref(job);
	for (size_t i = 0; i < n; i++) {
		if (job_abort(active[i], JOB_CANCELED, JOB_ERR_SHUTDOWN,
			      "the daemon is shutting down") == 0)
			canceled++;
		job_unref(active[i]);
	}
	free(active);
	log_notice("shutting down: %zu job(s) canceled, %zu connection(s) open", canceled,
		   d->n_conns);

	struct timeval tv = timeval_from_seconds(d->config->limits.shutdown_grace_seconds);
	d->shutdown_timer = evtimer_new(d->base, on_shutdown_timeout, d);
	if (!d->shutdown_timer)
		xalloc_die();
	xevtimer_add(d->shutdown_timer, &tv);

	if (d->n_active > 0) {
		/* Writes being committed cannot be stopped; they take moments.
		 * Their clients hear how they ended before we close. */
		log_notice("shutting down: waiting for %zu job(s) past the point where they can "
			   "be stopped", d->n_active);
		d->shutdown_waiting_jobs = true;
		return;
	}
	close_connections(d);
}
