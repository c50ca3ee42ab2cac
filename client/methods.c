/* libasyncjob's methods: each writes its params once, and is offered both
 * as a blocking call and as an asynchronous send. */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "client/internal.h"
#include "proto/protocol.h"

/* Params are written into a writer of their own: aj->w is busy writing the
 * envelope around them. */
struct params {
	struct jsonw w;
};

static int params_done(asyncjob *aj, struct params *p)
{
	if (p->w.failed) {
		jsonw_release(&p->w);
		return aj_fail(aj, -ENOMEM, "out of memory");
	}
	return 0;
}

/* `key` (NULL: none) is added to the spec, over one it names. */
static int build_submit(asyncjob *aj, struct params *p, const asyncjob_spec *spec, unsigned flags,
			const char *key)
{
	jsonw_init(&p->w);
	if (!spec)
		return aj_fail(aj, -EINVAL, "no job spec");
	aj_write_spec(&p->w, spec, flags, key);
	return params_done(aj, p);
}

/* The keys a reconnecting gather gives the jobs whose spec names none:
 * PREFIX-INDEX, the prefix random per call. */
struct gather_keys {
	char prefix[48];
	char key[72];
};

static const char *gather_key(struct gather_keys *k, size_t i)
{
	snprintf(k->key, sizeof(k->key), "%s-%zu", k->prefix, i);
	return k->key;
}

static int build_gather(asyncjob *aj, struct params *p, asyncjob_spec *const *specs, size_t n,
			unsigned flags, double timeout, struct gather_keys *keys)
{
	jsonw_init(&p->w);
	if (n == 0)
		return aj_fail(aj, -EINVAL, "a gather needs at least one job");
	jsonw_object_begin(&p->w);
	jsonw_key(&p->w, "jobs");
	jsonw_array_begin(&p->w);
	for (size_t i = 0; i < n; i++) {
		if (!specs[i]) {
			jsonw_release(&p->w);
			return aj_fail(aj, -EINVAL, "job spec %zu is NULL", i);
		}
		aj_write_spec(&p->w, specs[i], 0,
			      keys && !aj_spec_has_key(specs[i]) ? gather_key(keys, i) : NULL);
	}
	jsonw_array_end(&p->w);
	if (flags & ASYNCJOB_FAIL_FAST) {
		jsonw_key(&p->w, "fail_fast");
		jsonw_bool(&p->w, true);
	}
	if (flags & ASYNCJOB_CANCEL_ON_DISCONNECT) {
		jsonw_key(&p->w, "cancel_on_disconnect");
		jsonw_bool(&p->w, true);
	}
	if (flags & ASYNCJOB_PROGRESS) {
		jsonw_key(&p->w, "progress");
		jsonw_bool(&p->w, true);
	}
	if (timeout > 0 && isfinite(timeout)) {
		jsonw_key(&p->w, "timeout");
		jsonw_double(&p->w, timeout);
	}
	jsonw_object_end(&p->w);
	return params_done(aj, p);
}

static int build_id(asyncjob *aj, struct params *p, uint64_t id)
{
	jsonw_init(&p->w);
	jsonw_object_begin(&p->w);
	jsonw_key(&p->w, "id");
	jsonw_uint(&p->w, id);
	jsonw_object_end(&p->w);
	return params_done(aj, p);
}

static int build_ids(struct jsonw *w, const char *key, const uint64_t *ids, size_t n)
{
	jsonw_key(w, key);
	jsonw_array_begin(w);
	for (size_t i = 0; i < n; i++)
		jsonw_uint(w, ids[i]);
	jsonw_array_end(w);
	return 0;
}

static int build_wait(asyncjob *aj, struct params *p, const uint64_t *ids, size_t n, bool any,
		      double timeout)
{
	jsonw_init(&p->w);
	if (n == 0)
		return aj_fail(aj, -EINVAL, "no job ids to wait for");
	jsonw_object_begin(&p->w);
	build_ids(&p->w, "ids", ids, n);
	jsonw_key(&p->w, "mode");
	jsonw_string(&p->w, any ? "any" : "all");
	if (timeout >= 0 && isfinite(timeout)) {
		jsonw_key(&p->w, "timeout");
		jsonw_double(&p->w, timeout);
	}
	jsonw_object_end(&p->w);
	return params_done(aj, p);
}

/* Sends with params, then releases them. */
static int send_params(asyncjob *aj, const char *method, struct params *p, asyncjob_reply_fn fn,
		       void *userdata)
{
	int r = aj_send(aj, method, p->w.buf, p->w.len, fn, userdata);
	jsonw_release(&p->w);
	return r;
}

static int call_params(asyncjob *aj, const char *method, struct params *p, aj_take_fn take,
		       void *out, const char *what)
{
	int r = aj_call(aj, method, p->w.buf, p->w.len, take, out, what);
	jsonw_release(&p->w);
	return r;
}

static int take_job(asyncjob_reply *reply, void *out)
{
	return aj_job_new(reply->result, reply->tree, out);
}

/* A list of jobs and, for some methods, a flag beside it. */
struct jobs_out {
	const char *flag_name;
	asyncjob_job **jobs;
	size_t n;
	bool flag;
};

static int take_jobs(asyncjob_reply *reply, void *out)
{
	struct jobs_out *o = out;

	if (o->flag_name)
		o->flag = asyncjob_reply_flag(reply, o->flag_name);
	return aj_jobs_from_reply(reply, &o->jobs, &o->n);
}

static int jobs_call(asyncjob *aj, const char *method, struct params *p, const char *flag_name,
		     asyncjob_job ***ret_jobs, size_t *ret_n, bool *ret_flag)
{
	struct jobs_out o = { .flag_name = flag_name };
	int r = call_params(aj, method, p, take_jobs, &o, "list of jobs");

	if (r < 0) {
		asyncjob_jobs_free(o.jobs);
		return r;
	}
	*ret_jobs = o.jobs;
	if (ret_n)
		*ret_n = o.n;
	if (ret_flag)
		*ret_flag = o.flag;
	return 0;
}

static int job_call(asyncjob *aj, const char *method, struct params *p, asyncjob_job **ret_job)
{
	asyncjob_job *job = NULL;
	int r = call_params(aj, method, p, take_job, &job, "job object");

	if (r < 0) {
		asyncjob_job_unref(job);
		return r;
	}
	*ret_job = job;
	return 0;
}

/* ------------------------------------------------------------ blocking */

ASYNCJOB_EXPORT int asyncjob_submit(asyncjob *aj, const asyncjob_spec *spec, unsigned flags,
				    asyncjob_job **ret_job)
{
	struct params p;
	int r = build_submit(aj, &p, spec, flags, NULL);
	if (r < 0)
		return r;
	r = job_call(aj, RPC_JOB_SUBMIT, &p, ret_job);
	if (r != -EREMOTEIO || !(flags & ASYNCJOB_WAIT))
		return r;
	/* The daemon restarted while the job ran: it named the job. */
	asyncjob_job **jobs = NULL;
	r = aj_follow_restarted(aj, r, false, &jobs, NULL);
	if (r < 0)
		return r;
	*ret_job = asyncjob_job_ref(jobs[0]);
	asyncjob_jobs_free(jobs);
	return 0;
}

struct lost_gather {
	asyncjob_spec *const *specs;
	size_t n;
	struct gather_keys *keys;
};

/* The ids of a lost gather's jobs: each spec submitted again with its key
 * (the one given here, or the caller's own) finds the job the daemon kept,
 * or makes it if the daemon never did. */
static int resolve_lost_gather(asyncjob *aj, void *arg, uint64_t *ids)
{
	struct lost_gather *lg = arg;

	for (size_t i = 0; i < lg->n; i++) {
		struct params p;
		asyncjob_job *job = NULL;
		bool own = aj_spec_has_key(lg->specs[i]);
		int r = build_submit(aj, &p, lg->specs[i], 0, own ? NULL : gather_key(lg->keys, i));

		if (r == 0)
			r = job_call(aj, RPC_JOB_SUBMIT, &p, &job);
		if (r < 0)
			return r;
		ids[i] = asyncjob_job_id(job);
		asyncjob_job_unref(job);
	}
	return 0;
}

ASYNCJOB_EXPORT int asyncjob_gather(asyncjob *aj, asyncjob_spec *const *specs, size_t n,
				    unsigned flags, double timeout, asyncjob_job ***ret_jobs,
				    bool *ret_ok)
{
	struct gather_keys keys, *kp = NULL;
	struct params p;
	int r;

	/* Reconnecting: keys let the gather find its jobs again after a
	 * crash of the daemon, which leaves it no word of their ids. */
	if (aj->reconnect_ms > 0) {
		unsigned char rnd[8];
		if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
			return aj_fail(aj, -EIO, "cannot make the gather's keys: no random bytes");
		uint64_t v = 0;
		for (size_t i = 0; i < sizeof(rnd); i++)
			v = v << 8 | rnd[i];
		snprintf(keys.prefix, sizeof(keys.prefix), "asyncjob-gather-%016" PRIx64, v);
		kp = &keys;
	}
	r = build_gather(aj, &p, specs, n, flags, timeout, kp);
	if (r < 0)
		return r;
	r = jobs_call(aj, RPC_JOB_GATHER, &p, "ok", ret_jobs, NULL, ret_ok);
	if (r == -EREMOTEIO)
		return aj_follow_restarted(aj, r, flags & ASYNCJOB_FAIL_FAST, ret_jobs, ret_ok);
	if (r < 0 && kp) {
		struct lost_gather lg = { .specs = specs, .n = n, .keys = kp };
		return aj_follow_lost_gather(aj, r, n, flags & ASYNCJOB_FAIL_FAST,
					     resolve_lost_gather, &lg, ret_jobs, ret_ok);
	}
	return r;
}

ASYNCJOB_EXPORT int asyncjob_get(asyncjob *aj, uint64_t id, asyncjob_job **ret_job)
{
	struct params p;
	int r = build_id(aj, &p, id);
	return r < 0 ? r : job_call(aj, RPC_JOB_GET, &p, ret_job);
}

ASYNCJOB_EXPORT int asyncjob_cancel(asyncjob *aj, uint64_t id, asyncjob_job **ret_job)
{
	struct params p;
	int r = build_id(aj, &p, id);
	return r < 0 ? r : job_call(aj, RPC_JOB_CANCEL, &p, ret_job);
}

int aj_wait_once(asyncjob *aj, const uint64_t *ids, size_t n, bool any, double timeout,
		 asyncjob_job ***ret_jobs, bool *ret_timed_out)
{
	struct params p;
	int r = build_wait(aj, &p, ids, n, any, timeout);
	return r < 0 ? r : jobs_call(aj, RPC_JOB_WAIT, &p, "timed_out", ret_jobs, NULL, ret_timed_out);
}

ASYNCJOB_EXPORT int asyncjob_wait(asyncjob *aj, const uint64_t *ids, size_t n, bool any,
				  double timeout, asyncjob_job ***ret_jobs, bool *ret_timed_out)
{
	if (aj->reconnect_ms > 0)
		return aj_follow_wait(aj, ids, n, any, timeout, ret_jobs, ret_timed_out);
	return aj_wait_once(aj, ids, n, any, timeout, ret_jobs, ret_timed_out);
}

ASYNCJOB_EXPORT int asyncjob_list(asyncjob *aj, const char *state, const char *type, size_t limit,
				  asyncjob_job ***ret_jobs, size_t *ret_n)
{
	struct params p;
	int r;

	jsonw_init(&p.w);
	jsonw_object_begin(&p.w);
	if (state) {
		jsonw_key(&p.w, "state");
		jsonw_string(&p.w, state);
	}
	if (type) {
		jsonw_key(&p.w, "type");
		jsonw_string(&p.w, type);
	}
	if (limit) {
		jsonw_key(&p.w, "limit");
		jsonw_uint(&p.w, limit);
	}
	jsonw_object_end(&p.w);
	if ((r = params_done(aj, &p)) < 0)
		return r;
	return jobs_call(aj, RPC_JOB_LIST, &p, NULL, ret_jobs, ret_n, NULL);
}

ASYNCJOB_EXPORT int asyncjob_info(asyncjob *aj, char **ret_json)
{
	return asyncjob_call(aj, RPC_DAEMON_INFO, NULL, ret_json);
}

static int take_seq(asyncjob_reply *reply, void *out)
{
	/* An older daemon may not say; the sequence number is then 0. */
	json_uint64(json_get(reply->result, "seq"), out);
	return 0;
}

ASYNCJOB_EXPORT int asyncjob_subscribe(asyncjob *aj, const uint64_t *ids, size_t n,
				       const uint64_t *since, uint64_t *ret_seq)
{
	struct params p;
	int r;

	jsonw_init(&p.w);
	jsonw_object_begin(&p.w);
	if (n > 0)
		build_ids(&p.w, "ids", ids, n);
	if (since) {
		jsonw_key(&p.w, "since");
		jsonw_uint(&p.w, *since);
	}
	jsonw_object_end(&p.w);
	if ((r = params_done(aj, &p)) < 0)
		return r;
	uint64_t seq = 0;
	r = call_params(aj, RPC_EVENTS_SUBSCRIBE, &p, take_seq, &seq, "event sequence number");
	if (r >= 0 && ret_seq)
		*ret_seq = seq;
	return r < 0 ? r : 0;
}

ASYNCJOB_EXPORT int asyncjob_unsubscribe(asyncjob *aj)
{
	int r = aj_call(aj, RPC_EVENTS_UNSUBSCRIBE, NULL, 0, NULL, NULL, "result");
	return r < 0 ? r : 0;
}

/* ------------------------------------------------------------ async */

ASYNCJOB_EXPORT int asyncjob_send_submit(asyncjob *aj, const asyncjob_spec *spec, unsigned flags,
					 asyncjob_reply_fn fn, void *userdata)
{
	struct params p;
	int r = build_submit(aj, &p, spec, flags, NULL);
	return r < 0 ? r : send_params(aj, RPC_JOB_SUBMIT, &p, fn, userdata);
}

ASYNCJOB_EXPORT int asyncjob_send_gather(asyncjob *aj, asyncjob_spec *const *specs, size_t n,
					 unsigned flags, double timeout, asyncjob_reply_fn fn,
					 void *userdata)
{
	struct params p;
	int r = build_gather(aj, &p, specs, n, flags, timeout, NULL);
	return r < 0 ? r : send_params(aj, RPC_JOB_GATHER, &p, fn, userdata);
}

ASYNCJOB_EXPORT int asyncjob_send_get(asyncjob *aj, uint64_t id, asyncjob_reply_fn fn,
				      void *userdata)
{
	struct params p;
	int r = build_id(aj, &p, id);
	return r < 0 ? r : send_params(aj, RPC_JOB_GET, &p, fn, userdata);
}

ASYNCJOB_EXPORT int asyncjob_send_cancel(asyncjob *aj, uint64_t id, asyncjob_reply_fn fn,
					 void *userdata)
{
	struct params p;
	int r = build_id(aj, &p, id);
	return r < 0 ? r : send_params(aj, RPC_JOB_CANCEL, &p, fn, userdata);
}

ASYNCJOB_EXPORT int asyncjob_send_wait(asyncjob *aj, const uint64_t *ids, size_t n, bool any,
				       double timeout, asyncjob_reply_fn fn, void *userdata)
{
	struct params p;
	int r = build_wait(aj, &p, ids, n, any, timeout);
	return r < 0 ? r : send_params(aj, RPC_JOB_WAIT, &p, fn, userdata);
}
