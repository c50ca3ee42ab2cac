/* job.get: one job object. */
#include "config.h"

#include "daemon/job.h"
#include "daemon/params.h"
#include "daemon/rpc.h"

static const char *const get_fields[] = { "id", NULL };

static int job_get_handle(struct rpc_call *call, const struct json_value *params, struct jsonw *result)
{
	uint64_t id = 0;
	struct job *job;
	int r;

	if ((r = param_check_fields(params, get_fields, &call->err)) < 0 ||
	    (r = param_uint64(params, "id", true, &id, &call->err)) < 0 ||
	    (r = rpc_find_job(call, id, &job)) < 0)
		return r;
	job_write_json(job, result, job->state);
	return 0;
}

const struct rpc_method method_job_get = { RPC_JOB_GET, job_get_handle };
