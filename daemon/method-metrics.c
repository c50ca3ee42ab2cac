/* daemon.metrics: the metrics in Prometheus' text exposition format. */
#include "config.h"

#include "daemon/daemon.h"
#include "daemon/metrics.h"
#include "daemon/params.h"
#include "daemon/rpc.h"
#include "proto/jsonw.h"

static int daemon_metrics_handle(struct rpc_call *call, const struct json_value *params,
				 struct jsonw *result)
{
	static const char *const none[] = { NULL };
	struct jsonw text;
	int r;

	if ((r = param_check_fields(params, none, &call->err)) < 0)
		return r;
	jsonw_init(&text);
	metrics_write_text(call->d, &text);
	jsonw_object_begin(result);
	jsonw_key(result, "content_type");
	jsonw_string(result, "text/plain; version=0.0.4");
	jsonw_key(result, "text");
	jsonw_string_len(result, text.buf ? text.buf : "", text.len);
	jsonw_object_end(result);
	jsonw_release(&text);
	return 0;
}

const struct rpc_method method_daemon_metrics = { RPC_DAEMON_METRICS, daemon_metrics_handle };
