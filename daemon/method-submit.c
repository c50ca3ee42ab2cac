/* job.submit: one job; with `wait`, the reply comes when it has finished. */
#include "config.h"


#include "daemon/conn.h"
#include "daemon/daemon.h"
#include "daemon/job-store.h"
#include "daemon/job.h"
#include "daemon/rpc.h"
#include "daemon/waiter.h"

static void submit_done(struct waiter *w, void *userdata)
{
	struct request *req = userdata;
	struct job *job = waiter_job(w, 0);

	req->waiter = NULL;
	struct jsonw *out = request_reply_begin(req);
	job_write_json(job, out, job->state);
	request_reply_end(req);
	request_free(req);
}

static int job_submit_handle(struct rpc_call *call, const struct json_value *params,
			     struct jsonw *result)
{
	struct daemon *d = call->d;
	uid_t uid = call->conn->peer.uid;
	const struct job_type *type;
	struct job_controls ctl;
	struct job *job = NULL;
	void *data = NULL;
	int r;

	if (!params)
		return rpc_error_param(&call->err, "type",
				       "required: params must be a job spec such as "
				       "{\"type\":\"sleep\",\"seconds\":1}");
	r = job_spec_parse(d, params, true, call->conn->peer.identity, &type, &data, &ctl,
			   &call->err);
	if (r < 0)
		return r;

	if (ctl.key)
		job = job_store_find_key(d->store, uid, ctl.key, ctl.key_len);
	if (job) {
		/* The same key from the same user: that job, not a new one. */
		type->free_data(data);
		job_ref(job);
	} else {
		r = job_check_capacity(d, uid, 1, &call->err);
		if (r < 0) {
			type->free_data(data);
			return r;
		}
		job = job_new(d, type, data, uid, &ctl);
		if (ctl.cancel_on_disconnect)
			job_set_owner(job, call->conn);
		job_submit(job);
	}

	if (ctl.wait && !call->notification && !job_state_is_final(job->state)) {
		struct request *req = rpc_defer(call);
		req->waiter = waiter_new(d, &job, 1, WAIT_ALL, false, -1, submit_done, req);
		job_unref(job);
		return RPC_DEFERRED;
	}
	job_write_json(job, result, job->state);
	job_unref(job);
	return 0;
}

const struct rpc_method method_job_submit = { RPC_JOB_SUBMIT, job_submit_handle };
