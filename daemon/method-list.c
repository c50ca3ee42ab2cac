/* job.list: the caller's most recent jobs, oldest first, optionally only
 * those in one state or of one type. Rows are summaries: a result only on
 * request ("results": true), so that a list of a thousand fetches is not
 * their bodies. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>

#include "daemon/conn.h"
#include "daemon/daemon.h"
#include "daemon/job-store.h"
#include "daemon/job.h"
#include "daemon/params.h"
#include "daemon/rpc.h"
#include "daemon/xalloc.h"

static const char *const list_fields[] = { "state", "type", "limit", "results", NULL };

#define LIST_DEFAULT_LIMIT 100

static int job_list_handle(struct rpc_call *call, const struct json_value *params,
			   struct jsonw *result)
{
	struct daemon *d = call->d;
	size_t max = d->config->limits.max_list_jobs;
	const char *state_name = NULL, *type_name = NULL;
	const struct job_type *type = NULL;
	enum job_state state = JOB_QUEUED;
	double limit = LIST_DEFAULT_LIMIT < max ? LIST_DEFAULT_LIMIT : (double)max;
	struct job **found;
	size_t n = 0, matched = 0;
	bool results = false;
	int r;

	if ((r = param_check_fields(params, list_fields, &call->err)) < 0 ||
	    (r = param_string(params, "state", false, 32, true, &state_name, NULL, &call->err)) < 0 ||
	    (r = param_string(params, "type", false, 32, true, &type_name, NULL, &call->err)) < 0 ||
	    (r = param_number(params, "limit", false, 1, (double)max, false, &limit,
			      &call->err)) < 0 ||
	    (r = param_bool(params, "results", &results, &call->err)) < 0)
		return r;
	if (state_name && job_state_from_name(state_name, &state) < 0)
		return rpc_error_param(&call->err, "state", "must be one of queued, running, "
				       "succeeded, failed, canceled");
	if (type_name && !(type = job_type_find(type_name)))
		return rpc_error_param(&call->err, "type", "unknown job type (known: %s)",
				       job_type_names());

	struct job_filter filter = {
		.any_owner = call->conn->peer.admin,
		.owner = call->conn->peer.uid,
		.any_state = !state_name,
		.state = state,
		.type = type,
	};
	found = xmalloc((size_t)limit * sizeof(*found));
	n = job_store_list(d->store, &filter, (size_t)limit, found, &matched);
	jsonw_object_begin(result);
	jsonw_key(result, "jobs");
	jsonw_array_begin(result);
	for (size_t i = n; i > 0; i--) {
		struct job *j = found[i - 1];
		job_write_json_limited(j, result, j->state, results ? SIZE_MAX : 0);
	}
	jsonw_array_end(result);
	jsonw_key(result, "more");
	jsonw_bool(result, matched > n);
	jsonw_key(result, "total");
	jsonw_uint(result, matched);
	jsonw_object_end(result);
	free(found);
	return 0;
}

const struct rpc_method method_job_list = { RPC_JOB_LIST, job_list_handle };
