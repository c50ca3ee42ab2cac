/* job.gather: start jobs together, reply once all have finished (or the
 * first has failed, with fail_fast). asyncio.gather(), as a service. */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>


#include "daemon/conn.h"
#include "daemon/daemon.h"
#include "daemon/job-store.h"
#include "daemon/job.h"
#include "daemon/params.h"
#include "daemon/rpc.h"
#include "daemon/waiter.h"
#include "daemon/xalloc.h"

static const char *const gather_fields[] = {
	"jobs", "fail_fast", "timeout", "cancel_on_disconnect", "progress", NULL,
};

struct parsed_spec {
	const struct job_type *type;
	void *data;
	struct job_controls ctl;
	struct parsed_spec *same_as;   /* an earlier item with the same key */
	struct job *job;               /* the job created for this item */
};

/* A large reply goes out in parts of about this size as it is written:
 * the client reads and the daemon writes at once, and the daemon holds one
 * part, not a 20 MB reply. */
#define GATHER_REPLY_PART_BYTES (128 * 1024)

static void gather_done(struct waiter *w, void *userdata)
{
	struct request *req = userdata;
	bool ok = true;

	req->waiter = NULL;
	if (w->fail_fast && w->failed) {
		uint64_t culprit = 0;
		for (size_t i = 0; i < w->n && !culprit; i++) {
			struct job *j = waiter_job(w, i);
			if (job_state_is_final(j->state) && j->state != JOB_SUCCEEDED)
				culprit = j->id;
		}
		char msg[128];
		snprintf(msg, sizeof(msg),
			 "job %" PRIu64 " in the same gather did not succeed (fail_fast)",
			 culprit);
		for (size_t i = 0; i < w->n; i++)
			job_abort(waiter_job(w, i), JOB_CANCELED, JOB_ERR_CANCELED, msg);
	}

	struct jsonw *out = request_reply_begin(req);
	jsonw_object_begin(out);
	jsonw_key(out, "jobs");
	jsonw_array_begin(out);
	for (size_t i = 0; i < w->n; i++) {
		struct job *j = waiter_job(w, i);
		job_write_json(j, out, j->state);
		if (j->state != JOB_SUCCEEDED)
			ok = false;
		if (out->len >= GATHER_REPLY_PART_BYTES)
			request_reply_send_part(req);
	}
	jsonw_array_end(out);
	jsonw_key(out, "ok");
	jsonw_bool(out, ok);
	jsonw_object_end(out);
	request_reply_end(req);
	request_free(req);
}

static void gather_progress(struct waiter *w, void *userdata)
{
	struct request *req = userdata;
	struct conn *c = req->conn;
	struct jsonw *s = &c->d->scratch;

	rpc_notify_begin(s, RPC_NOTIFY_GATHER_PROGRESS);
	jsonw_object_begin(s);
	jsonw_key(s, "id");
	jsonw_raw_value(s, req->id_json, req->id_len);
	jsonw_key(s, "done");
	jsonw_uint(s, w->n_finished);
	jsonw_key(s, "total");
	jsonw_uint(s, w->n);
	jsonw_object_end(s);
	rpc_notify_end(s);
	/* How many of its jobs are done tells of their states: as a reply
	 * naming them would, it waits for the store. */
	conn_send(c, s->buf, s->len, job_store_changes_made(c->d->store));
}

static int job_gather_handle(struct rpc_call *call, const struct json_value *params,
			     struct jsonw *result)
{
	struct daemon *d = call->d;
	const struct limits *lim = &d->config->limits;
	uid_t uid = call->conn->peer.uid;
	const struct json_value *list;
	bool fail_fast = false, cancel_on_disconnect = false, progress = false;
	double timeout = 0;
	struct parsed_spec *specs;
	struct job **jobs;
	size_t n, n_new = 0;
	int r;
	(void)result;

	r = param_check_fields(params, gather_fields, &call->err);
	if (r < 0)
		return r;
	if (!(list = json_get(params, "jobs")))
		return rpc_error_param(&call->err, "jobs", "required: an array of job specs");
	if (!json_is(list, JSON_ARRAY))
		return rpc_error_param(&call->err, "jobs", "must be an array of job specs");
	n = list->len;
	if (n == 0)
		return rpc_error_param(&call->err, "jobs", "must not be empty");
	if (n > lim->max_gather_jobs)
		return rpc_error_busy(&call->err, "max_gather_jobs", lim->max_gather_jobs,
				      "too many jobs in one gather");
	if ((r = param_bool(params, "fail_fast", &fail_fast, &call->err)) < 0 ||
	    (r = param_bool(params, "cancel_on_disconnect", &cancel_on_disconnect, &call->err)) < 0 ||
	    (r = param_bool(params, "progress", &progress, &call->err)) < 0)
		return r;
	r = param_number(params, "timeout", false, 0, 100.0 * 365 * 86400, true, &timeout,
			 &call->err);
	if (r < 0)
		return r;
	if (r > 0 && timeout <= 0)
		return rpc_error_param(&call->err, "timeout", "must be a number of seconds > 0");

	/* Validate everything before starting anything: a gather starts all
	 * of its jobs or none. */
	specs = xcalloc(n, sizeof(*specs));
	jobs = xcalloc(n, sizeof(*jobs));
	for (size_t i = 0; i < n; i++) {
		r = job_spec_parse(d, &list->items[i], false, call->conn->peer.identity,
				   &specs[i].type, &specs[i].data, &specs[i].ctl, &call->err);
		if (r < 0) {
			char prefix[40];
			snprintf(prefix, sizeof(prefix), "jobs[%zu]%s", i, call->err.field[0] ? "." : "");
			rpc_error_prefix_field(&call->err, prefix);
			goto fail;
		}
		if (!specs[i].ctl.key)
			continue;
		/* A key names one job: one already known, or one an earlier
		 * item of this gather will create. */
		jobs[i] = job_store_find_key(d->store, uid, specs[i].ctl.key, specs[i].ctl.key_len);
		if (jobs[i]) {
			job_ref(jobs[i]);
		} else {
			for (size_t j = 0; j < i && !specs[i].same_as; j++)
				if (specs[j].ctl.key && !specs[j].same_as &&
				    specs[j].ctl.key_len == specs[i].ctl.key_len &&
				    memcmp(specs[j].ctl.key, specs[i].ctl.key, specs[i].ctl.key_len) == 0)
					specs[i].same_as = &specs[j];
		}
		if (jobs[i] || specs[i].same_as) {
			specs[i].type->free_data(specs[i].data);
			specs[i].data = NULL;
		}
	}
	for (size_t i = 0; i < n; i++)
		if (!jobs[i] && !specs[i].same_as)
			n_new++;
	r = job_check_capacity(d, uid, n_new, &call->err);
	if (r < 0)
		goto fail;

	double deadline = daemon_mono_now(d) + timeout;
	for (size_t i = 0; i < n; i++) {
		if (!jobs[i] && !specs[i].same_as) {
			jobs[i] = job_new(d, specs[i].type, specs[i].data, uid, &specs[i].ctl);
			specs[i].data = NULL;
			specs[i].job = jobs[i];
			if (cancel_on_disconnect)
				job_set_owner(jobs[i], call->conn);
		} else if (!jobs[i]) {
			jobs[i] = job_ref(specs[i].same_as->job);
		}
		/* The gather's deadline covers every job it waits for, those
		 * it found by key too. */
		if (timeout > 0 && !job_state_is_final(jobs[i]->state))
			job_set_gather_deadline(jobs[i], deadline, timeout);
	}
	/* The waiter watches before any job starts, so a job that finishes
	 * at once (a zero sleep) is reported like the others. */
	struct request *req = rpc_defer(call);
	req->waiter = waiter_new(d, jobs, n, WAIT_ALL, fail_fast, -1, gather_done, req);
	req->waiter->after_durable = true;
	if (progress && !call->notification)
		req->waiter->progress = gather_progress;
	/* Submitted only once all exist, so the first one's events cannot
	 * race the creation of the others. */
	for (size_t i = 0; i < n; i++)
		if (jobs[i]->state == JOB_QUEUED && !jobs[i]->in_store)
			job_submit(jobs[i]);
	for (size_t i = 0; i < n; i++)
		job_unref(jobs[i]);
	free(jobs);
	free(specs);
	return RPC_DEFERRED;

fail:
	for (size_t i = 0; i < n; i++) {
		if (specs[i].data)
			specs[i].type->free_data(specs[i].data);
		job_unref(jobs[i]);
	}
	free(jobs);
	free(specs);
	return r;
}

const struct rpc_method method_job_gather = { RPC_JOB_GATHER, job_gather_handle };
