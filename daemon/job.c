/* The life of a job, common to every type: validation of the common spec
 * fields, queued -> running -> succeeded | failed | canceled, deadlines,
 * retention of finished jobs, and the job object on the wire. */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "daemon/confine.h"
#include "daemon/conn.h"
#include "daemon/daemon.h"
#include "daemon/events.h"
#include "daemon/identity.h"
#include "daemon/job-record.h"
#include "daemon/job-store.h"
#include "daemon/job.h"
#include "daemon/log.h"
#include "daemon/metrics.h"
#include "daemon/params.h"
#include "daemon/waiter.h"
#include "daemon/xalloc.h"
#include "proto/jsonw.h"

extern const struct job_type job_type_sleep, job_type_fetch, job_type_write;

const struct job_type *const job_types[] = {
	&job_type_sleep,
	&job_type_fetch,
	&job_type_write,
	NULL,
};

const struct job_type *job_type_find(const char *name)
{
	for (size_t i = 0; job_types[i]; i++)
		if (strcmp(job_types[i]->name, name) == 0)
			return job_types[i];
	return NULL;
}

const char *job_type_names(void)
{
	static char names[256];
	if (!names[0]) {
		size_t n = 0;
		for (size_t i = 0; job_types[i]; i++) {
			int r = snprintf(names + n, sizeof(names) - n, "%s%s", i ? ", " : "",
					 job_types[i]->name);
			if (r < 0 || (size_t)r >= sizeof(names) - n)
				break;
			n += (size_t)r;
		}
	}
	return names;
}

static size_t job_type_index(const struct job_type *type)
{
	size_t i = 0;
	while (job_types[i] && job_types[i] != type)
		i++;
	return i;
}

void job_types_init(struct daemon *d)
{
	size_t n = job_type_index(NULL);

	d->type_state = xcalloc(n, sizeof(*d->type_state));
	for (size_t i = 0; i < n; i++)
		if (job_types[i]->state_new)
			d->type_state[i] = job_types[i]->state_new(d);
}

void job_types_free(struct daemon *d)
{
	if (!d->type_state)
		return;
	for (size_t i = 0; job_types[i]; i++)
		if (job_types[i]->state_free)
			job_types[i]->state_free(d->type_state[i]);
	free(d->type_state);
	d->type_state = NULL;
}

void *job_type_state(const struct daemon *d, const struct job_type *type)
{
	return d->type_state[job_type_index(type)];
}

/* ------------------------------------------------------------ the spec */

static const char *const control_fields[] = {
	"timeout", "label", "key", "wait", "cancel_on_disconnect", "not_before", "delay", NULL,
};

static bool in_list(const char *const *list, const struct json_value *member)
{
	for (; list && *list; list++)
		if (param_key_is(member, *list))
			return true;
	return false;
}

static int parse_controls(struct daemon *d, const struct json_value *spec,
			  struct job_controls *c, struct rpc_error *e)
{
	const struct limits *lim = &d->config->limits;
	int r;

	r = param_number(spec, "timeout", false, 0, 100.0 * 365 * 86400, true, &c->timeout, e);
	if (r < 0)
		return r;
	if (r > 0 && c->timeout <= 0)
		return rpc_error_param(e, "timeout", "must be a number of seconds > 0");
	/* When it may start: an absolute time or a delay, as far ahead as a
	 * sleep may last (max_sleep_seconds). */
	const char *at;
	double delay = 0;
	int has_at = param_string(spec, "not_before", false, 64, true, &at, NULL, e);
	if (has_at < 0)
		return has_at;
	int has_delay = param_number(spec, "delay", false, 0, lim->max_sleep_seconds, true,
				     &delay, e);
	if (has_delay < 0)
		return has_delay;
	if (has_at && has_delay)
		return rpc_error_param(e, "delay", "give not_before or delay, not both");
	int64_t now = daemon_wall_ms_now(d);
	if (has_at) {
		if (parse_rfc3339_ms(at, &c->not_before_ms) < 0)
			return rpc_error_param(e, "not_before", "must be an RFC 3339 time such as "
					       "\"2026-12-08T09:30:00Z\" or \"2026-12-08T10:30:00+01:00\"");
		if (c->not_before_ms > now + (int64_t)(lim->max_sleep_seconds * 1000))
			return rpc_error_param(e, "not_before", "more than max_sleep_seconds (%g s) "
					       "ahead", lim->max_sleep_seconds);
	} else if (has_delay && delay > 0) {
		c->not_before_ms = now + (int64_t)(delay * 1000 + 0.5);
	}
	r = param_string(spec, "label", false, lim->max_label_bytes, false, &c->label, NULL, e);
	if (r < 0)
		return r;
	r = param_string(spec, "key", false, lim->max_label_bytes, true, &c->key, &c->key_len, e);
	if (r < 0)
		return r;
	r = param_bool(spec, "wait", &c->wait, e);
	if (r < 0)
		return r;
	r = param_bool(spec, "cancel_on_disconnect", &c->cancel_on_disconnect, e);
	return r < 0 ? r : 0;
}

int job_spec_parse(struct daemon *d, const struct json_value *spec, bool allow_per_call,
		   struct identity *requester, const struct job_type **ret_type, void **ret_data,
		   struct job_controls *ret_controls, struct rpc_error *e)
{
	struct job_controls c = { 0 };
	const struct job_type *type;
	const struct json_value *v;
	bool has_controls = false;
	int r;

	if (!json_is(spec, JSON_OBJECT))
		return rpc_error_param(e, "", "a job spec must be an object");
	if (!(v = json_get(spec, "type")))
		return rpc_error_param(e, "type", "required (one of: %s)", job_type_names());
	if (!json_is(v, JSON_STRING))
		return rpc_error_param(e, "type", "must be a string (one of: %s)", job_type_names());
	type = strlen(v->str) == v->len ? job_type_find(v->str) : NULL;
	if (!type)
		return rpc_error_param(e, "type", "unknown job type '%.64s' (known: %s)", v->str,
				       job_type_names());

	for (uint32_t i = 0; i < spec->len; i++) {
		const struct json_value *m = &spec->items[i];
		char key[96];
		if (param_key_is(m, "type") || in_list(type->fields, m))
			continue;
		param_key_text(m, key, sizeof(key));
		if (!in_list(control_fields, m))
			return rpc_error_param(e, key, "unknown field for a %s job", type->name);
		if (!allow_per_call && (param_key_is(m, "wait") || param_key_is(m, "cancel_on_disconnect")))
			return rpc_error_param(e, key, "not allowed in a gather item; "
					       "set it on the gather itself");
		has_controls = true;
	}
	/* Most specs carry none: no need to look each one up. */
	if (has_controls && (r = parse_controls(d, spec, &c, e)) < 0)
		return r;

	r = type->parse(d, spec, requester, ret_data, e);
	if (r < 0)
		return r;
	c.requester = requester;
	c.spec = spec;
	*ret_type = type;
	*ret_controls = c;
	return 0;
}

int job_check_capacity(struct daemon *d, uid_t uid, size_t n, struct rpc_error *e)
{
	const struct limits *lim = &d->config->limits;
	int health = job_store_health(d->store);

	/* Nothing is acknowledged that is not on disk: while the store cannot
	 * write, a new job could not be. */
	if (health < 0)
		return rpc_error_simple(e, RPC_STORE_FAILING, "The job store cannot write (%s, %s): "
					"new jobs are refused until it can; reading jobs goes on",
					strerror(-health), errno_name(health));

	if (d->n_active + n > lim->max_active_jobs)
		return rpc_error_busy(e, "max_active_jobs", lim->max_active_jobs,
				      "too many jobs are queued or running");
	if (daemon_user_active_jobs(d, uid) + n > lim->max_active_jobs_per_user)
		return rpc_error_busy(e, "max_active_jobs_per_user", lim->max_active_jobs_per_user,
				      "you have too many jobs queued or running");
	return 0;
}

/* ------------------------------------------------------------ lifetime */

static struct job *make_job(struct daemon *d, uint64_t id, const struct job_type *type, void *data,
			    uid_t uid, const struct job_controls *c, bool keep_spec)
{
	struct job *job = xcalloc(1, sizeof(*job));

	job->id = id;
	job->requester = identity_ref(c->requester);
	if (keep_spec && c->spec)
		job->spec_text = job_record_spec_text(c->spec, &job->spec_len);
	job->type = type;
	job->d = d;
	job->refs = 1;
	job->state = JOB_QUEUED;
	job->uid = uid;
	job->data = data;
	job->timeout = c->timeout;
	job->not_before_ms = c->not_before_ms;
	job->submitted_ms = daemon_wall_ms_now(d);
	if (c->label)
		job->label = xstrdup(c->label);
	if (c->key) {
		job->key_blob_len = sizeof(uid) + c->key_len;
		job->key_blob = xmalloc(job->key_blob_len + 1);
		memcpy(job->key_blob, &uid, sizeof(uid));
		memcpy(job->key_blob + sizeof(uid), c->key, c->key_len);
		job->key_blob[job->key_blob_len] = '\0';
	}
	TAILQ_INIT(&job->watches);
	return job;
}

struct job *job_new(struct daemon *d, const struct job_type *type, void *data,
		    uid_t uid, const struct job_controls *c)
{
	return make_job(d, job_store_allocate_id(d->store), type, data, uid, c, d->keep_job_specs);
}

struct job *job_restored(struct daemon *d, uint64_t id, const struct job_type *type, void *data,
			 uid_t uid, const struct job_controls *c)
{
	return make_job(d, id, type, data, uid, c, true);
}

struct job *job_ref(struct job *job)
{
	job->refs++;
	return job;
}

static void drop_deadline(struct job *job);

struct job *job_unref(struct job *job)
{
	if (!job || --job->refs > 0)
		return NULL;
	drop_deadline(job);
	if (job->type->free_data)
		job->type->free_data(job->data);
	free(job->label);
	free(job->key_blob);
	free(job->error_message);
	free(job->spec_text);
	free(job->result_text);
	identity_unref(job->requester);
	free(job);
	return NULL;
}

/* ------------------------------------------------------------ deadlines */

/* Apart from the job: most jobs have no deadline, and a finished job, which
 * may be kept for an hour, no longer needs one. */
struct job_deadline {
	struct event *ev;
	double at_mono;
	double gather_timeout;      /* for the message, when is_gather */
	bool is_gather;             /* the armed deadline is the gather's */
};

static void drop_deadline(struct job *job)
{
	if (!job->deadline)
		return;
	event_free(job->deadline->ev);
	free(job->deadline);
	job->deadline = NULL;
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct job *job = arg;
	(void)fd;
	(void)what;

	char msg[96];
	if (job->deadline->is_gather)
		snprintf(msg, sizeof(msg), "the gather's timeout of %g s passed",
			 job->deadline->gather_timeout);
	else
		snprintf(msg, sizeof(msg), "timed out after %g s", job->timeout);
	job_abort(job, JOB_FAILED, JOB_ERR_TIMEOUT, msg);
}

/* Arms the deadline at `at_mono` unless an earlier one stands. */
static void arm_deadline(struct job *job, double at_mono, bool is_gather, double gather_timeout)
{
	struct job_deadline *dl = job->deadline;
	if (dl && dl->at_mono <= at_mono)
		return;
	if (!dl) {
		dl = job->deadline = xcalloc(1, sizeof(*dl));
		dl->ev = evtimer_new(job->d->base, on_deadline, job);
		if (!dl->ev)
			xalloc_die();
	}
	dl->at_mono = at_mono;
	dl->is_gather = is_gather;
	dl->gather_timeout = gather_timeout;
	struct timeval tv = timeval_from_seconds(at_mono - mono_seconds());
	xevtimer_add(dl->ev, &tv);
}

void job_set_gather_deadline(struct job *job, double at_mono, double timeout)
{
	struct daemon *d = job->d;
	int64_t at_ms = daemon_wall_ms_now(d) + (int64_t)ceil((at_mono - daemon_mono_now(d)) * 1000);

	if (!job->gather_deadline_ms || at_ms < job->gather_deadline_ms) {
		job->gather_deadline_ms = at_ms;
		job->gather_timeout = timeout;
		/* A job the gather found by key is in the store already: its
		 * record takes the deadline now, not at its next change, so
		 * that it holds across a restart before then. */
		job_store_updated(d->store, job, job->state);
	}
	arm_deadline(job, at_mono, true, timeout);
}

/* ------------------------------------------------------------ states */

/* A job waiting for the store to make its record durable. */
struct job_start {
	struct job *job;       /* a reference */
	uint64_t change;       /* the change it waits for */
	void (*then)(struct job *job);
};

static void defer(struct daemon *d, struct job *job, uint64_t change, void (*then)(struct job *))
{
	if (d->starts_head + d->starts_len == d->starts_cap) {
		/* Move what is left to the front before growing. */
		if (d->starts_head > 0)
			memmove(d->starts, d->starts + d->starts_head,
				d->starts_len * sizeof(*d->starts));
		d->starts_head = 0;
		if (d->starts_len == d->starts_cap) {
			d->starts_cap = d->starts_cap ? 2 * d->starts_cap : 64;
			d->starts = xrealloc(d->starts, d->starts_cap * sizeof(*d->starts));
		}
	}
	d->starts[d->starts_head + d->starts_len++] = (struct job_start){ job_ref(job), change, then };
}

/* Canceled while it waited, or the daemon going away: it never starts. */
static void start_if_queued(struct job *job)
{
	if (job->state == JOB_QUEUED && !job->d->tearing_down && !job->d->shutting_down)
		job->type->start(job);
}

void job_when_durable(struct job *job, void (*then)(struct job *job))
{
	struct daemon *d = job->d;

	if (job_store_behind(d->store))
		defer(d, job, job_store_changes_made(d->store), then);
	else
		then(job);
}

void job_start_durable(struct daemon *d)
{
	uint64_t durable = job_store_changes_durable(d->store);

	while (d->starts_len > 0 && d->starts[d->starts_head].change <= durable) {
		struct job_start s = d->starts[d->starts_head];
		d->starts_head++;
		d->starts_len--;
		s.then(s.job);
		job_unref(s.job);
	}
	if (d->starts_len == 0)
		d->starts_head = 0;
}

void job_starts_drop(struct daemon *d)
{
	/* Each hears of it (the daemon is tearing down, its jobs stopped):
	 * what waited to begin gives back what it held. */
	for (size_t i = 0; i < d->starts_len; i++) {
		struct job_start *s = &d->starts[d->starts_head + i];
		s->then(s->job);
		job_unref(s->job);
	}
	free(d->starts);
	d->starts = NULL;
	d->starts_head = d->starts_len = d->starts_cap = 0;
}

/* Starts a queued job: once its record is on disk, for a type whose work
 * has effects outside the daemon. */
static void start_now(struct job *job)
{
	struct daemon *d = job->d;

	if (job->type->starts_when_durable && job_store_behind(d->store))
		defer(d, job, job_store_changes_made(d->store), start_if_queued);
	else
		job->type->start(job);
}

static bool wait_until_due(struct job *job);

static void on_due(evutil_socket_t fd, short what, void *arg)
{
	struct job *job = arg;
	(void)fd;
	(void)what;

	event_free(job->due_timer);
	job->due_timer = NULL;
	/* A timer that fires a little early (the clocks' granularity, the
	 * wall clock slewed) waits out the rest: never before its time. */
	if (job->state == JOB_QUEUED && !job->d->tearing_down && !job->d->shutting_down &&
	    !wait_until_due(job))
		start_now(job);
	job_unref(job);   /* the timer's */
}

/* A job whose not_before is ahead stays queued until then: a timer (the
 * wall clock's distance, on the loop's monotonic clock) starts it. Returns
 * whether it waits. */
static bool wait_until_due(struct job *job)
{
	struct daemon *d = job->d;
	int64_t left = job->not_before_ms - daemon_wall_ms_now(d);

	if (!job->not_before_ms || left <= 0)
		return false;
	job->due_timer = evtimer_new(d->base, on_due, job);
	if (!job->due_timer)
		xalloc_die();
	struct timeval tv = { .tv_sec = (time_t)(left / 1000),
			      .tv_usec = (suseconds_t)(left % 1000) * 1000 };
	job_ref(job);
	xevtimer_add(job->due_timer, &tv);
	return true;
}

bool job_drop_due_timer(struct job *job)
{
	if (!job->due_timer)
		return false;
	event_free(job->due_timer);
	job->due_timer = NULL;
	job_unref(job);   /* the timer's: the caller holds another */
	return true;
}

void job_submit(struct job *job)
{
	struct daemon *d = job->d;

	job_store_add(d->store, job);
	d->n_active++;
	daemon_user_adjust(d, job->uid, +1, 0);
	log_debug("job %" PRIu64 " (%s) submitted by uid %u", job->id, job->type->name,
		  (unsigned)job->uid);
	metrics_job_submitted(d, job);
	event_log_record(d, job);
	if (!wait_until_due(job))
		start_now(job);
}

void job_set_running(struct job *job)
{
	if (job->state != JOB_QUEUED)
		return;
	job->state = JOB_RUNNING;
	job->started_ms = daemon_wall_ms_now(job->d);
	if (job->timeout > 0)
		arm_deadline(job, daemon_mono_now(job->d) + job->timeout, false, 0);
	job_store_updated(job->d->store, job, JOB_QUEUED);
	event_log_record(job->d, job);
}

void job_record_changed(struct job *job)
{
	job_store_updated(job->d->store, job, job->state);
}

static void finish(struct job *job, enum job_state state, enum job_error code, char *message)
{
	struct daemon *d = job->d;
	enum job_state from = job->state;

	drop_deadline(job);
	job_clear_owner(job);
	job->state = state;
	job->error_code = code;
	job->error_message = message;
	job->finished_ms = daemon_wall_ms_now(d);
	d->n_active--;
	daemon_user_adjust(d, job->uid, -1, 0);
	job_store_updated(d->store, job, from);
	metrics_job_finished(d, job);
	if (job->type->finished && job->data)
		job->type->finished(job);
	if (state == JOB_FAILED) {
		/* An operator sees failures at the default level: who, what,
		 * why in a word, and where (the logger hides a URL's
		 * credentials and query). The message is the client's. */
		char target[512] = "";
		if (job->type->describe_target && job->data)
			job->type->describe_target(job, target, sizeof(target));
		log_notice("job %" PRIu64 " (%s, uid %u) failed (%s)%s%s", job->id, job->type->name,
			   (unsigned)job->uid, job_error_name(code), target[0] ? ": " : "", target);
	}
	log_debug("job %" PRIu64 " %s%s%s", job->id, job_state_name(state),
		  message ? ": " : "", message ? message : "");

	if (job->in_store) {
		TAILQ_INSERT_TAIL(&d->finished, job, finished_link);
		d->n_finished++;
		if (state == JOB_SUCCEEDED && job->type->result_size) {
			job->result_bytes = job->type->result_size(job);
			d->retained_result_bytes += job->result_bytes;
		}
	}
	waiter_job_finished(job);
	event_log_record(d, job);
	job_retention_run(d);
	daemon_job_finished(d);
}

void job_succeed(struct job *job)
{
	if (job_state_is_final(job->state))
		return;
	finish(job, JOB_SUCCEEDED, JOB_ERR_NONE, NULL);
}

void job_fail(struct job *job, enum job_error code, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	if (job_state_is_final(job->state))
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	finish(job, JOB_FAILED, code, xstrdup(buf));
}

int job_abort(struct job *job, enum job_state state, enum job_error code, const char *message)
{
	if (job_state_is_final(job->state))
		return -EALREADY;
	/* One waiting for its time never started: nothing of its type's
	 * to stop. */
	if (!job_drop_due_timer(job)) {
		if (job->type->prepare_stop && !job->type->prepare_stop(job))
			return -EBUSY;
		job->type->stop(job);
	}
	finish(job, state, code, xstrdup(message));
	return 0;
}

/* ------------------------------------------------------------ after a restart */

void job_loaded(struct job *job)
{
	struct daemon *d = job->d;

	if (d->n_loaded == d->loaded_cap) {
		d->loaded_cap = d->loaded_cap ? 2 * d->loaded_cap : 64;
		d->loaded = xrealloc(d->loaded, d->loaded_cap * sizeof(*d->loaded));
	}
	d->loaded[d->n_loaded++] = job_ref(job);
}

/* Seconds of `total` gone by since `since_ms` on the wall clock: never less
 * than none, nor more than all of it, so that a start stamped in the future
 * (a clock set back) never makes a job wait longer than it asked. */
static double elapsed_of(const struct daemon *d, int64_t since_ms, double total)
{
	double gone = (double)(daemon_wall_ms_now(d) - since_ms) / 1000.0;
	return gone < 0 ? 0 : gone > total ? total : gone;
}

/* Seconds left of a gather's deadline, on the wall clock, at most its
 * timeout (a clock set back waits no longer); <= 0: it has passed. */
static double gather_left(const struct job *job)
{
	double left = (double)(job->gather_deadline_ms - daemon_wall_ms_now(job->d)) / 1000.0;
	return left > job->gather_timeout ? job->gather_timeout : left;
}

bool job_ran_out_while_down(const struct job *job, char *msg, size_t size)
{
	if (job->gather_deadline_ms && gather_left(job) <= 0) {
		snprintf(msg, size, "the gather's timeout of %g s passed (asyncjobd was "
			 "restarting)", job->gather_timeout);
		return true;
	}
	if (job->state == JOB_RUNNING && job->timeout > 0 &&
	    elapsed_of(job->d, job->started_ms, job->timeout) >= job->timeout) {
		snprintf(msg, size, "timed out after %g s (asyncjobd was restarting)", job->timeout);
		return true;
	}
	return false;
}

/* At start, a job that does not run again: what a cut-off run of it left
 * is tidied (job_type.abandon), and it fails with `code`. */
static void give_up(struct job *job, enum job_error code, char *message)
{
	if (job->state == JOB_RUNNING && job->type->abandon)
		job->type->abandon(job);
	finish(job, JOB_FAILED, code, message);
}

static void recover_one(struct job *job)
{
	struct daemon *d = job->d;
	const char *why = "asyncjobd restarted while it ran";
	char message[128];

	d->n_active++;
	daemon_user_adjust(d, job->uid, +1, 0);
	if (!job->data) {
		/* Its spec is refused now; job_record_restore said why. */
		char *refused = job->error_message;
		job->error_message = NULL;
		finish(job, JOB_FAILED, JOB_ERR_INTERRUPTED, refused);
		return;
	}
	enum job_recovery rule = JOB_RUN_AGAIN;
	if (job->state == JOB_RUNNING)
		rule = job->type->recover ? job->type->recover(job, &why) : JOB_INTERRUPTED;
	/* Its time ran out while the daemon was down: it does not begin
	 * again to be stopped at once. (One to judge may have done its work
	 * already, and applies this itself.) */
	bool ran_out = job_ran_out_while_down(job, message, sizeof(message));
	if (ran_out && rule != JOB_JUDGE && job->gather_deadline_ms && gather_left(job) <= 0) {
		give_up(job, JOB_ERR_TIMEOUT, xstrdup(message));
		return;
	}
	/* A gather's deadline holds across the restart, as the wall clock
	 * says. */
	if (job->gather_deadline_ms && gather_left(job) > 0)
		arm_deadline(job, daemon_mono_now(d) + gather_left(job), true, job->gather_timeout);
	if (job->state == JOB_QUEUED) {
		log_debug("job %" PRIu64 " queued again after a restart", job->id);
		/* Scheduled for later: it still waits, as the wall clock says. */
		if (!wait_until_due(job))
			job->type->start(job);
		return;
	}
	if (rule == JOB_INTERRUPTED) {
		give_up(job, JOB_ERR_INTERRUPTED, xstrdup(why));
		return;
	}
	if (ran_out && rule != JOB_JUDGE) {
		give_up(job, JOB_ERR_TIMEOUT, xstrdup(message));
		return;
	}
	log_debug("job %" PRIu64 " %s after a restart", job->id,
		  rule == JOB_RESUME ? "resumed" : rule == JOB_JUDGE ? "judged" : "run again");
	if (job->timeout > 0 && elapsed_of(d, job->started_ms, job->timeout) < job->timeout)
		arm_deadline(job, daemon_mono_now(d) + job->timeout -
			     elapsed_of(d, job->started_ms, job->timeout), false, 0);
	job->recovering = true;
	job->type->start(job);
	job->recovering = false;
}

static int by_id(const void *a, const void *b)
{
	const struct job *x = *(struct job *const *)a, *y = *(struct job *const *)b;

	return x->id < y->id ? -1 : x->id > y->id;
}

static int by_finish(const void *a, const void *b)
{
	const struct job *x = *(struct job *const *)a, *y = *(struct job *const *)b;

	if (x->finished_ms != y->finished_ms)
		return x->finished_ms < y->finished_ms ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

void job_recover_loaded(struct daemon *d)
{
	struct job **jobs = d->loaded;
	size_t n = d->n_loaded, n_finished = 0;

	d->loaded = NULL;
	d->n_loaded = d->loaded_cap = 0;
	/* The finished ones join retention oldest first, as they ended. */
	for (size_t i = 0; i < n; i++)
		if (job_state_is_final(jobs[i]->state)) {
			struct job *t = jobs[n_finished];
			jobs[n_finished++] = jobs[i];
			jobs[i] = t;
		}
	if (n_finished > 1)
		qsort(jobs, n_finished, sizeof(*jobs), by_finish);
	for (size_t i = 0; i < n_finished; i++) {
		struct job *job = jobs[i];
		TAILQ_INSERT_TAIL(&d->finished, job, finished_link);
		d->n_finished++;
		job->result_bytes = job->result_len;
		d->retained_result_bytes += job->result_bytes;
		/* Restored with data only when its record says it left
		 * something behind (job_record_write_tidy_mark). */
		if (job->data && job->type->tidy)
			job->type->tidy(job);
		job_unref(job);
	}
	/* The unfinished, in id order: the order they were submitted in. */
	if (n - n_finished > 1)
		qsort(jobs + n_finished, n - n_finished, sizeof(*jobs), by_id);
	/* One instant: the jobs queued again start together, as a gather's. */
	daemon_instant_begin(d, mono_seconds());
	for (size_t i = n_finished; i < n; i++) {
		recover_one(jobs[i]);
		job_unref(jobs[i]);
	}
	daemon_instant_end(d);
	free(jobs);
	/* What retention would have evicted while the daemon was down goes. */
	job_retention_run(d);
}

double job_elapsed_seconds(const struct job *job, double total)
{
	return elapsed_of(job->d, job->started_ms, total);
}

void job_set_owner(struct job *job, struct conn *conn)
{
	if (job->owner || job_state_is_final(job->state))
		return;
	job->owner = conn;
	LIST_INSERT_HEAD(&conn->owned_jobs, job, owner_link);
}

void job_clear_owner(struct job *job)
{
	if (!job->owner)
		return;
	LIST_REMOVE(job, owner_link);
	job->owner = NULL;
}

void job_report_progress(struct job *job)
{
	double now = mono_seconds();

	if (now - job->progress_reported < 0.1 || !job->type->write_progress)
		return;
	job->progress_reported = now;
	event_log_progress(job->d, job);
}

/* ------------------------------------------------------------ retention */

static void on_retention_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	job_retention_run(arg);
}

/* Evicted jobs leave the store at once, but are freed a slice at a time at
 * the loop's lowest priority: a burst of 100,000 jobs ending evicts as many
 * older ones, and freeing them then would hold up the replies the burst
 * makes. The memory is not the process's to give back any sooner. */
#define GRAVEYARD_SLICE 4096

/* Frees up to `most` buried jobs. */
static void free_buried(struct daemon *d, size_t most)
{
	struct job *job;

	for (size_t n = 0; n < most && (job = TAILQ_FIRST(&d->graveyard)); n++) {
		TAILQ_REMOVE(&d->graveyard, job, finished_link);
		job_unref(job);
	}
}

static void on_graveyard(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;
	(void)fd;
	(void)what;

	free_buried(d, GRAVEYARD_SLICE);
	if (!TAILQ_EMPTY(&d->graveyard))
		event_active(d->graveyard_event, EV_TIMEOUT, 0);
}

static void bury(struct daemon *d, struct job *job)
{
	if (!d->graveyard_event) {
		d->graveyard_event = event_new(d->base, -1, 0, on_graveyard, d);
		if (!d->graveyard_event || event_priority_set(d->graveyard_event, 2) < 0)
			xalloc_die();
	}
	TAILQ_INSERT_TAIL(&d->graveyard, job, finished_link);
	/* Activating an active event changes nothing. */
	event_active(d->graveyard_event, EV_TIMEOUT, 0);
}

void job_graveyard_empty(struct daemon *d)
{
	free_buried(d, SIZE_MAX);
	if (d->graveyard_event) {
		event_free(d->graveyard_event);
		d->graveyard_event = NULL;
	}
}

void job_forget(struct job *job)
{
	struct daemon *d = job->d;

	if (!job_state_is_final(job->state) || !job->in_store)
		return;
	TAILQ_REMOVE(&d->finished, job, finished_link);
	d->n_finished--;
	d->retained_result_bytes -= job->result_bytes;
	job->result_bytes = 0;
	/* The store's reference goes; the graveyard's keeps it until a
	 * quiet moment frees it. */
	job_ref(job);
	job_store_remove(d->store, job);
	bury(d, job);
}

void job_retention_run(struct daemon *d)
{
	const struct limits *lim = &d->config->limits;
	int64_t keep_ms = (int64_t)(lim->retain_seconds * 1000);
	int64_t now = 0;
	struct job *job;

	while ((job = TAILQ_FIRST(&d->finished))) {
		if (d->n_finished <= lim->max_retained_jobs &&
		    d->retained_result_bytes <= lim->max_retained_result_bytes) {
			if (!now)
				now = daemon_wall_ms_now(d);
			if (job->finished_ms + keep_ms > now)
				break;
		}
		job_forget(job);
	}

	/* One timer, for the oldest finished job only: an idle daemon with
	 * nothing to expire never wakes up. */
	job = TAILQ_FIRST(&d->finished);
	if (!job) {
		if (d->retention_timer)
			evtimer_del(d->retention_timer);
		return;
	}
	if (!d->retention_timer) {
		d->retention_timer = evtimer_new(d->base, on_retention_timer, d);
		if (!d->retention_timer)
			xalloc_die();
	}
	if (evtimer_pending(d->retention_timer, NULL))
		return;
	if (!now)
		now = daemon_wall_ms_now(d);
	int64_t due = job->finished_ms + keep_ms - now;
	if (due < 0)
		due = 0;
	/* A little slack lets one wake-up expire a burst of jobs. */
	due += 100;
	struct timeval tv = { .tv_sec = (time_t)(due / 1000), .tv_usec = (suseconds_t)(due % 1000) * 1000 };
	xevtimer_add(d->retention_timer, &tv);
}

/* ------------------------------------------------------------ wire form */

/* Names and timestamps on the wire are plain ASCII: written without the
 * scan for bytes to escape. */
static void write_plain_name(struct jsonw *w, const char *name)
{
	jsonw_plain_string(w, name, strlen(name));
}

static void write_time(struct jsonw *w, int64_t ms)
{
	char buf[32];
	format_rfc3339_ms(ms, buf);
	jsonw_plain_string(w, buf, RFC3339_MS_LEN);
}

void job_write_json(const struct job *job, struct jsonw *w, enum job_state as_of)
{
	job_write_json_limited(job, w, as_of, SIZE_MAX);
}

void job_write_json_limited(const struct job *job, struct jsonw *w, enum job_state as_of,
			    size_t max_result_bytes)
{
	enum job_state state = as_of;

	/* The text tells of the job as the store has it last: it waits for
	 * that to be on disk. */
	if (job->change_seq > w->needs)
		w->needs = job->change_seq;
	jsonw_object_begin(w);
	jsonw_literal_key(w, "id");
	jsonw_uint(w, job->id);
	jsonw_literal_key(w, "type");
	write_plain_name(w, job->type->name);
	if (job->label) {
		jsonw_literal_key(w, "label");
		jsonw_string(w, job->label);
	}
	if (job->key_blob) {
		jsonw_literal_key(w, "key");
		jsonw_string_len(w, job_key(job), job->key_blob_len - sizeof(uid_t));
	}
	jsonw_literal_key(w, "state");
	write_plain_name(w, job_state_name(state));
	jsonw_literal_key(w, "submitted_at");
	write_time(w, job->submitted_ms);
	if (job->not_before_ms) {
		jsonw_literal_key(w, "not_before");
		write_time(w, job->not_before_ms);
	}
	if (state != JOB_QUEUED && job->started_ms) {
		jsonw_literal_key(w, "started_at");
		write_time(w, job->started_ms);
	}
	if (state == JOB_RUNNING && job->state == JOB_RUNNING && job->type->write_progress) {
		jsonw_literal_key(w, "progress");
		job->type->write_progress(job, w);
	}
	if (job_state_is_final(state)) {
		jsonw_literal_key(w, "finished_at");
		write_time(w, job->finished_ms);
		job_write_outcome_limited(job, w, max_result_bytes);
	}
	jsonw_object_end(w);
}

void job_write_outcome(const struct job *job, struct jsonw *w)
{
	job_write_outcome_limited(job, w, SIZE_MAX);
}

/* Writes the result, or "result_omitted" when its text passes `max`. What
 * the job holds (result_bytes, the body of a fetch) is a lower bound of
 * the text's length: past the limit, nothing is written to find out. */
static void write_result_limited(const struct job *job, struct jsonw *w, size_t max)
{
	size_t at_least = job->result_text ? job->result_len : job->result_bytes;

	if (max != SIZE_MAX && (max == 0 || at_least > max)) {
		jsonw_literal_key(w, "result_omitted");
		jsonw_bool(w, true);
		return;
	}
	struct jsonw_mark before = jsonw_mark(w);
	jsonw_literal_key(w, "result");
	size_t start = w->len;
	if (job->result_text)
		jsonw_raw_value(w, job->result_text, job->result_len);
	else
		job->type->write_result(job, w);
	if (max != SIZE_MAX && w->len - start > max) {
		jsonw_rewind(w, before);
		jsonw_literal_key(w, "result_omitted");
		jsonw_bool(w, true);
	}
}

void job_write_outcome_limited(const struct job *job, struct jsonw *w, size_t max_result_bytes)
{
	if (job->state == JOB_SUCCEEDED) {
		write_result_limited(job, w, max_result_bytes);
	} else if (job_state_is_final(job->state)) {
		jsonw_literal_key(w, "error");
		jsonw_object_begin(w);
		jsonw_literal_key(w, "code");
		write_plain_name(w, job_error_name(job->error_code));
		jsonw_literal_key(w, "message");
		jsonw_string(w, job->error_message ? job->error_message : "");
		jsonw_object_end(w);
	}
}
