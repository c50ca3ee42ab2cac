/* job.cancel: stop a job that has not finished. */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

#include "daemon/conn.h"
#include "daemon/job.h"
#include "daemon/params.h"
#include "daemon/rpc.h"

static const char *const cancel_fields[] = { "id", NULL };

static int job_cancel_handle(struct rpc_call *call, const struct json_value *params,
			     struct jsonw *result)
{
	uint64_t id = 0;
	struct job *job;
	char msg[96];
	int r;

	if ((r = param_check_fields(params, cancel_fields, &call->err)) < 0 ||
	    (r = param_uint64(params, "id", true, &id, &call->err)) < 0 ||
	    (r = rpc_find_job(call, id, &job)) < 0)
		return r;
	if (job_state_is_final(job->state)) {
		r = rpc_error_finished(&call->err, id, job->state);
		call->err.needs = job->change_seq;
		return r;
	}
	if (call->conn->peer.uid == job->uid)
		snprintf(msg, sizeof(msg), "canceled by request");
	else
		snprintf(msg, sizeof(msg), "canceled by uid %u", (unsigned)call->conn->peer.uid);
	if (job_abort(job, JOB_CANCELED, JOB_ERR_CANCELED, msg) == -EBUSY) {
		/* Too late to stop, and about to finish: as good as finished. */
		r = rpc_error_finished(&call->err, id, job->state);
		call->err.needs = job->change_seq;
		snprintf(call->err.message, sizeof(call->err.message),
			 "Job already finishing: %" PRIu64 " is past the point where it can be "
			 "canceled (a write being committed)", id);
		return r;
	}
	job_write_json(job, result, job->state);
	return 0;
}

const struct rpc_method method_job_cancel = { RPC_JOB_CANCEL, job_cancel_handle };
