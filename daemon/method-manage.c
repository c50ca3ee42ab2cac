/* job.cancel_many and job.forget: cancel, or forget once finished, every
 * job of the caller's (everyone's for an admin) that matches a filter, as
 * pueue's kill --all and clean do. At most max_list_jobs in one call: a
 * client calls again while "more" says there are others. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/conn.h"
#include "daemon/daemon.h"
#include "daemon/job-store.h"
#include "daemon/job.h"
#include "daemon/params.h"
#include "daemon/rpc.h"
#include "daemon/xalloc.h"

static const char *const filter_fields[] = { "state", "type", "label", NULL };

struct manage_filter {
	struct job_filter store;
	const char *label;
	size_t label_len;
};

/* The filter's params. `active` names the states a job.cancel_many may
 * name (queued, running); job.forget's are the final ones. */
static int parse_filter(struct rpc_call *call, const struct json_value *params, bool active,
			struct manage_filter *f)
{
	const char *state_name = NULL, *type_name = NULL;
	enum job_state state = JOB_QUEUED;
	int r;

	if ((r = param_check_fields(params, filter_fields, &call->err)) < 0 ||
	    (r = param_string(params, "state", false, 32, true, &state_name, NULL, &call->err)) < 0 ||
	    (r = param_string(params, "type", false, 32, true, &type_name, NULL, &call->err)) < 0 ||
	    (r = param_string(params, "label", false, call->d->config->limits.max_label_bytes, true,
			      &f->label, &f->label_len, &call->err)) < 0)
		return r;
	if (state_name && (job_state_from_name(state_name, &state) < 0 ||
			   job_state_is_final(state) == active))
		return rpc_error_param(&call->err, "state", active ? "must be queued or running"
				       : "must be succeeded, failed or canceled");
	f->store = (struct job_filter){
		.any_owner = call->conn->peer.admin,
		.owner = call->conn->peer.uid,
		.any_state = !state_name,
		.state = state,
	};
	if (type_name && !(f->store.type = job_type_find(type_name)))
		return rpc_error_param(&call->err, "type", "unknown job type (known: %s)",
				       job_type_names());
	return 0;
}

/* The jobs that match, oldest first, in a new array; *n of them. */
static struct job **matching(struct daemon *d, const struct manage_filter *f, bool active,
			     size_t *n)
{
	size_t all = 0, got, kept = 0;
	struct job **newest_first, **jobs;

	(void)job_store_list(d->store, &f->store, 0, NULL, &all);
	newest_first = xmalloc((all ? all : 1) * sizeof(*newest_first));
	jobs = xmalloc((all ? all : 1) * sizeof(*jobs));
	got = job_store_list(d->store, &f->store, all, newest_first, &all);
	for (size_t i = got; i > 0; i--) {
		struct job *j = newest_first[i - 1];
		if (job_state_is_final(j->state) == active)
			continue;
		if (f->label && (!j->label || strlen(j->label) != f->label_len ||
				 memcmp(j->label, f->label, f->label_len) != 0))
			continue;
		jobs[kept++] = j;
	}
	free(newest_first);
	*n = kept;
	return jobs;
}

static void write_outcome(struct rpc_call *call, struct jsonw *result, const char *key,
			  const uint64_t *ids, size_t n, bool more)
{
	jsonw_object_begin(result);
	jsonw_key(result, key);
	jsonw_array_begin(result);
	for (size_t i = 0; i < n; i++)
		jsonw_uint(result, ids[i]);
	jsonw_array_end(result);
	jsonw_key(result, "more");
	jsonw_bool(result, more);
	jsonw_object_end(result);
	/* It tells of changes to the store: once they are on disk. */
	uint64_t made = job_store_changes_made(call->d->store);
	if (made > result->needs)
		result->needs = made;
}

static int job_cancel_many_handle(struct rpc_call *call, const struct json_value *params,
				  struct jsonw *result)
{
	struct daemon *d = call->d;
	struct manage_filter f = { 0 };
	size_t n, done = 0, max = d->config->limits.max_list_jobs;
	int r;

	if ((r = parse_filter(call, params, true, &f)) < 0)
		return r;
	struct job **jobs = matching(d, &f, true, &n);
	uint64_t *ids = xmalloc((n ? n : 1) * sizeof(*ids));
	size_t tried = 0;
	for (; tried < n && done < max; tried++) {
		struct job *j = jobs[tried];
		/* A write past its commit point finishes: it is not counted. */
		if (job_abort(j, JOB_CANCELED, JOB_ERR_CANCELED, "canceled by request") == 0)
			ids[done++] = j->id;
	}
	write_outcome(call, result, "canceled", ids, done, tried < n);
	free(ids);
	free(jobs);
	return 0;
}

static int job_forget_handle(struct rpc_call *call, const struct json_value *params,
			     struct jsonw *result)
{
	struct daemon *d = call->d;
	struct manage_filter f = { 0 };
	size_t n, max = d->config->limits.max_list_jobs;
	int r;

	if ((r = parse_filter(call, params, false, &f)) < 0)
		return r;
	struct job **jobs = matching(d, &f, false, &n);
	size_t done = n < max ? n : max;
	uint64_t *ids = xmalloc((done ? done : 1) * sizeof(*ids));
	for (size_t i = 0; i < done; i++) {
		ids[i] = jobs[i]->id;
		job_forget(jobs[i]);
	}
	write_outcome(call, result, "forgotten", ids, done, done < n);
	free(ids);
	free(jobs);
	return 0;
}

const struct rpc_method method_job_cancel_many = { RPC_JOB_CANCEL_MANY, job_cancel_many_handle };
const struct rpc_method method_job_forget = { RPC_JOB_FORGET, job_forget_handle };
