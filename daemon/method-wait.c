/* job.wait: reply when all (or any) of the given jobs have finished, or when
 * the timeout passes; a timeout is a result, not an error. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "daemon/daemon.h"
#include "daemon/job.h"
#include "daemon/params.h"
#include "daemon/rpc.h"
#include "daemon/waiter.h"
#include "daemon/xalloc.h"

static const char *const wait_fields[] = { "ids", "mode", "timeout", NULL };

static void wait_done(struct waiter *w, void *userdata)
{
	struct request *req = userdata;

	req->waiter = NULL;
	struct jsonw *out = request_reply_begin(req);
	jsonw_object_begin(out);
	jsonw_key(out, "jobs");
	jsonw_array_begin(out);
	for (size_t i = 0; i < w->n; i++)
		job_write_json(waiter_job(w, i), out, waiter_job(w, i)->state);
	jsonw_array_end(out);
	jsonw_key(out, "timed_out");
	jsonw_bool(out, w->timed_out);
	jsonw_object_end(out);
	request_reply_end(req);
	request_free(req);
}

static int job_wait_handle(struct rpc_call *call, const struct json_value *params,
			   struct jsonw *result)
{
	struct daemon *d = call->d;
	enum waiter_mode mode = WAIT_ALL;
	const char *mode_name = NULL;
	double timeout = -1;
	uint64_t *ids = NULL;
	struct job **jobs = NULL;
	size_t n = 0;
	int r;
	(void)result;

	if ((r = param_check_fields(params, wait_fields, &call->err)) < 0 ||
	    (r = param_string(params, "mode", false, 16, true, &mode_name, NULL, &call->err)) < 0 ||
	    (r = param_number(params, "timeout", false, 0, 100.0 * 365 * 86400, true, &timeout,
			      &call->err)) < 0)
		return r;
	if (mode_name) {
		if (strcmp(mode_name, "all") == 0)
			mode = WAIT_ALL;
		else if (strcmp(mode_name, "any") == 0)
			mode = WAIT_ANY;
		else
			return rpc_error_param(&call->err, "mode", "must be \"all\" or \"any\"");
	}
	r = param_id_array(params, "ids", true, d->config->limits.max_gather_jobs,
			   "max_gather_jobs", &ids, &n, &call->err);
	if (r < 0)
		return r;
	jobs = xcalloc(n, sizeof(*jobs));
	for (size_t i = 0; i < n; i++) {
		r = rpc_find_job(call, ids[i], &jobs[i]);
		if (r < 0)
			goto out;
	}
	struct request *req = rpc_defer(call);
	req->waiter = waiter_new(d, jobs, n, mode, false, timeout, wait_done, req);
	r = RPC_DEFERRED;
out:
	free(jobs);
	free(ids);
	return r;
}

const struct rpc_method method_job_wait = { RPC_JOB_WAIT, job_wait_handle };
