/* events.subscribe and events.unsubscribe: job.updated notifications. */
#include "config.h"

#include <stdlib.h>

#include "daemon/conn.h"
#include "daemon/daemon.h"
#include "daemon/events.h"
#include "daemon/params.h"
#include "daemon/rpc.h"

static const char *const subscribe_fields[] = { "ids", "since", NULL };

static int events_subscribe_handle(struct rpc_call *call, const struct json_value *params,
				   struct jsonw *result)
{
	struct daemon *d = call->d;
	uint64_t *ids = NULL, since = 0;
	size_t n = 0;
	int r, has_since;

	if ((r = param_check_fields(params, subscribe_fields, &call->err)) < 0)
		return r;
	if ((has_since = param_uint64(params, "since", false, &since, &call->err)) < 0)
		return has_since;
	r = param_id_array(params, "ids", false, d->config->limits.max_gather_jobs,
			   "max_gather_jobs", &ids, &n, &call->err);
	if (r < 0)
		return r;
	r = event_log_subscribe(call, ids, n, has_since > 0, since, result);
	free(ids);
	return r;
}

static int events_unsubscribe_handle(struct rpc_call *call, const struct json_value *params,
				     struct jsonw *result)
{
	static const char *const none[] = { NULL };
	int r;

	if ((r = param_check_fields(params, none, &call->err)) < 0)
		return r;
	if (call->conn->replaying)
		return rpc_error_simple(&call->err, RPC_INVALID_REQUEST,
					"a replay of events is still being sent on this connection; "
					"wait for its reply first");
	bool was = call->conn->sub != NULL;
	event_log_unsubscribe(call->d, call->conn);
	jsonw_object_begin(result);
	jsonw_key(result, "was_subscribed");
	jsonw_bool(result, was);
	jsonw_object_end(result);
	return 0;
}

const struct rpc_method method_events_subscribe = { RPC_EVENTS_SUBSCRIBE, events_subscribe_handle };
const struct rpc_method method_events_unsubscribe = { RPC_EVENTS_UNSUBSCRIBE,
						      events_unsubscribe_handle };
