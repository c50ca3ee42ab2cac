/* The event history and subscriptions.
 *
 * A record is (seq, job, state) with a reference on the job, not a copy of
 * its JSON: a job's fields never change once set, so the job object "as of"
 * a state can be written again exactly at replay time. That keeps the
 * history at 24 bytes an event and costs nothing when nobody listens. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "daemon/conn.h"
#include "daemon/daemon.h"
#include "daemon/events.h"
#include "daemon/job-store.h"
#include "daemon/job.h"
#include "daemon/notify.h"
#include "daemon/rpc.h"
#include "daemon/xalloc.h"

struct event_record {
	uint64_t seq;
	struct job *job;
	enum job_state state;
};

struct subscription {
	struct conn *conn;
	uint64_t *ids;          /* sorted; NULL: every job the peer may see */
	size_t n_ids;
	/* A replay in progress: the next sequence number to send (0: none),
	 * whether events it was to send had been forgotten, and the request
	 * answered when it is done. */
	uint64_t replay_next;
	bool replay_missed;
	struct request *replay_request;
	TAILQ_ENTRY(subscription) link;
};

struct event_log {
	struct event_record *ring;
	size_t cap;
	size_t head;            /* the oldest record */
	size_t count;
	uint64_t last_seq;
	uint64_t mark_change;   /* the store's change for last_seq, 0 none */
	TAILQ_HEAD(, subscription) subs;
	size_t n_subs;
};

struct event_log *event_log_new(size_t capacity)
{
	struct event_log *log = xcalloc(1, sizeof(*log));
	log->cap = capacity;
	log->ring = capacity ? xcalloc(capacity, sizeof(*log->ring)) : NULL;
	TAILQ_INIT(&log->subs);
	return log;
}

static void drop_oldest(struct event_log *log)
{
	job_unref(log->ring[log->head].job);
	log->ring[log->head].job = NULL;
	log->head = (log->head + 1) % log->cap;
	log->count--;
}

struct event_log *event_log_free(struct event_log *log)
{
	struct subscription *s;

	if (!log)
		return NULL;
	while (log->count)
		drop_oldest(log);
	while ((s = TAILQ_FIRST(&log->subs))) {
		TAILQ_REMOVE(&log->subs, s, link);
		s->conn->sub = NULL;
		if (s->replay_request)
			s->replay_request->data = NULL;
		free(s->ids);
		free(s);
	}
	free(log->ring);
	free(log);
	return NULL;
}

void event_log_resize(struct event_log *log, size_t capacity)
{
	struct event_record *ring;
	size_t n = 0;

	if (capacity == log->cap)
		return;
	while (log->count > capacity)
		drop_oldest(log);
	ring = capacity ? xcalloc(capacity, sizeof(*ring)) : NULL;
	for (; n < log->count; n++)
		ring[n] = log->ring[(log->head + n) % log->cap];
	free(log->ring);
	log->ring = ring;
	log->cap = capacity;
	log->head = 0;
}

void event_log_set_base(struct event_log *log, uint64_t seq)
{
	if (seq > log->last_seq)
		log->last_seq = seq;
}

uint64_t event_log_mark_change(const struct event_log *log)
{
	return log->mark_change;
}

uint64_t event_log_last_seq(const struct event_log *log)
{
	return log->last_seq;
}

uint64_t event_log_first_seq(const struct event_log *log)
{
	return log->last_seq - log->count + 1;
}

size_t event_log_subscribers(const struct event_log *log)
{
	return log->n_subs;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

static bool wants(const struct subscription *s, const struct job *job)
{
	if (s->conn->dead || !conn_can_see(s->conn, job))
		return false;
	if (!s->ids)
		return true;
	return bsearch(&job->id, s->ids, s->n_ids, sizeof(*s->ids), cmp_u64) != NULL;
}

static void write_event(struct jsonw *w, uint64_t seq, const struct job *job, enum job_state state)
{
	rpc_notify_begin(w, RPC_NOTIFY_JOB_UPDATED);
	jsonw_object_begin(w);
	jsonw_key(w, "seq");
	jsonw_uint(w, seq);
	jsonw_key(w, "job");
	job_write_json_limited(job, w, state, ASYNCJOB_EVENT_RESULT_MAX_BYTES);
	jsonw_object_end(w);
	rpc_notify_end(w);
}

void event_log_record(struct daemon *d, struct job *job)
{
	struct event_log *log = d->events;
	uint64_t seq = ++log->last_seq;
	struct subscription *s;
	bool written = false;
	uint64_t mark = job_store_note_event(d->store, seq);

	if (mark)
		log->mark_change = mark;
	/* Every job state change passes here: the job counts the service
	 * manager shows (STATUS=) may have changed. */
	if (d->notifier)
		notifier_jobs_changed(d->notifier);

	if (log->cap) {
		if (log->count == log->cap)
			drop_oldest(log);
		log->ring[(log->head + log->count) % log->cap] = (struct event_record){
			.seq = seq, .job = job_ref(job), .state = job->state,
		};
		log->count++;
	}
	/* Connections killed while this runs stay on the list (their memory
	 * is freed later) and are skipped by wants(). */
	TAILQ_FOREACH(s, &log->subs, link) {
		/* A replay reaches this event in the history, in order. */
		if (s->replay_next || !wants(s, job))
			continue;
		if (!written) {
			write_event(&d->scratch, seq, job, job->state);
			if (log->mark_change > d->scratch.needs)
				d->scratch.needs = log->mark_change;
			written = true;
		}
		conn_send(s->conn, d->scratch.buf, d->scratch.len, d->scratch.needs);
	}
}

void event_log_progress(struct daemon *d, struct job *job)
{
	struct subscription *s;
	bool written = false;

	TAILQ_FOREACH(s, &d->events->subs, link) {
		/* Progress is not kept: a replaying client has not yet heard
		 * that the job runs, and will hear of its end. */
		if (s->replay_next || !wants(s, job))
			continue;
		if (!written) {
			struct jsonw *w = &d->scratch;
			rpc_notify_begin(w, RPC_NOTIFY_JOB_PROGRESS);
			jsonw_object_begin(w);
			jsonw_key(w, "id");
			jsonw_uint(w, job->id);
			jsonw_key(w, "progress");
			job->type->write_progress(job, w);
			jsonw_object_end(w);
			rpc_notify_end(w);
			/* Progress tells that it runs: not before that is on disk. */
			w->needs = job->change_seq;
			written = true;
		}
		conn_send(s->conn, d->scratch.buf, d->scratch.len, d->scratch.needs);
	}
}

static void write_subscribed(struct event_log *log, bool missed, struct jsonw *result)
{
	jsonw_object_begin(result);
	jsonw_key(result, "seq");
	jsonw_uint(result, log->last_seq);
	jsonw_key(result, "oldest_seq");
	jsonw_uint(result, event_log_first_seq(log));
	jsonw_key(result, "missed");
	jsonw_bool(result, missed);
	jsonw_object_end(result);
	/* The numbers it gives must not come back after a restart. */
	if (log->mark_change > result->needs)
		result->needs = log->mark_change;
}

/* Sends replayed events while the client has less than a window of output
 * unread. Returns true when the replay has reached the newest event. */
static bool replay_pump(struct daemon *d, struct subscription *s)
{
	struct event_log *log = d->events;
	struct conn *c = s->conn;

	while (s->replay_next <= log->last_seq) {
		if (c->dead || !conn_has_room(c))
			return false;
		uint64_t first = event_log_first_seq(log);
		if (s->replay_next < first) {
			/* Forgotten before it could be sent: the client is told. */
			s->replay_missed = true;
			s->replay_next = first;
			continue;
		}
		const struct event_record *r =
			&log->ring[(log->head + (s->replay_next - first)) % log->cap];
		s->replay_next++;
		if (!wants(s, r->job))
			continue;
		write_event(&d->scratch, r->seq, r->job, r->state);
		if (log->mark_change > d->scratch.needs)
			d->scratch.needs = log->mark_change;
		conn_send(c, d->scratch.buf, d->scratch.len, d->scratch.needs);
	}
	s->replay_next = 0;
	c->replaying = false;
	return true;
}

/* The request a replay answers is freed (answered, or its connection
 * closed): the replay has no one to finish for. */
static void replay_request_gone(void *data)
{
	struct subscription *s = data;

	if (!s)
		return;
	s->replay_request = NULL;
	s->replay_next = 0;
	s->conn->replaying = false;
}

void event_log_replay_resume(struct daemon *d, struct conn *conn)
{
	struct subscription *s = conn->sub;
	struct request *req;

	if (!s || !s->replay_next || !(req = s->replay_request))
		return;
	if (!replay_pump(d, s))
		return;
	write_subscribed(d->events, s->replay_missed, request_reply_begin(req));
	request_reply_end(req);
	request_free(req);
}

int event_log_subscribe(struct rpc_call *call, const uint64_t *ids, size_t n_ids, bool replay,
			uint64_t since, struct jsonw *result)
{
	struct daemon *d = call->d;
	struct conn *conn = call->conn;
	struct event_log *log = d->events;
	struct subscription *s = conn->sub;

	/* Its reply is still to come: answering it from here would write
	 * over the reply being made. */
	if (conn->replaying)
		return rpc_error_simple(&call->err, RPC_INVALID_REQUEST,
					"a replay of events is still being sent on this connection; "
					"wait for its reply first");
	if (!s) {
		s = xcalloc(1, sizeof(*s));
		s->conn = conn;
		conn->sub = s;
		TAILQ_INSERT_TAIL(&log->subs, s, link);
		log->n_subs++;
	}
	free(s->ids);
	s->ids = NULL;
	s->n_ids = n_ids;
	if (n_ids) {
		s->ids = xmalloc(n_ids * sizeof(*ids));
		memcpy(s->ids, ids, n_ids * sizeof(*ids));
		qsort(s->ids, n_ids, sizeof(*ids), cmp_u64);
	}
	s->replay_missed = false;
	if (!replay || since >= log->last_seq) {
		write_subscribed(log, false, result);
		return 0;
	}
	s->replay_next = since + 1;
	conn->replaying = true;
	if (replay_pump(d, s)) {
		write_subscribed(log, s->replay_missed, result);
		return 0;
	}
	/* The rest goes as the client reads (conn.c's write callback). */
	struct request *req = rpc_defer(call);
	req->data = s;
	req->free_data = replay_request_gone;
	s->replay_request = req;
	return RPC_DEFERRED;
}

void event_log_unsubscribe(struct daemon *d, struct conn *conn)
{
	struct event_log *log = d->events;
	struct subscription *s = conn->sub;

	if (!s)
		return;
	TAILQ_REMOVE(&log->subs, s, link);
	log->n_subs--;
	conn->sub = NULL;
	free(s->ids);
	free(s);
}
