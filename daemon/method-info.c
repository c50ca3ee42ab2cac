/* daemon.info: version, uptime, job counts, the I/O threads' load and the
 * limits in force. */
#include "config.h"

#include <math.h>
#include <unistd.h>

#include "daemon/confine.h"
#include "daemon/conn.h"
#include "daemon/daemon.h"
#include "daemon/events.h"
#include "daemon/job-store.h"
#include "daemon/job.h"
#include "daemon/params.h"
#include "daemon/rpc.h"
#include "daemon/upload.h"
#include "daemon/workers.h"

static int daemon_info_handle(struct rpc_call *call, const struct json_value *params,
			      struct jsonw *w)
{
	static const char *const none[] = { NULL };
	struct daemon *d = call->d;
	char started[32];
	int r;

	if ((r = param_check_fields(params, none, &call->err)) < 0)
		return r;
	format_rfc3339_ms(d->started_wall_ms, started);

	jsonw_object_begin(w);
	jsonw_key(w, "version");
	jsonw_string(w, PACKAGE_VERSION);
	jsonw_key(w, "pid");
	jsonw_int(w, getpid());
	jsonw_key(w, "started_at");
	jsonw_string(w, started);
	jsonw_key(w, "uptime");
	jsonw_double(w, floor((mono_seconds() - d->started_mono) * 1000) / 1000);
	/* A client that lost its connection asks: after a restart, a job id
	 * from before means the same job only where the jobs were kept. */
	jsonw_key(w, "store");
	jsonw_string(w, d->config->store == STORE_SQLITE ? "sqlite" : "memory");
	jsonw_key(w, "job_types");
	jsonw_array_begin(w);
	for (size_t i = 0; job_types[i]; i++)
		jsonw_string(w, job_types[i]->name);
	jsonw_array_end(w);
	jsonw_key(w, "jobs");
	jsonw_object_begin(w);
	for (unsigned s = 0; s < JOB_STATE_COUNT; s++) {
		jsonw_key(w, job_state_name((enum job_state)s));
		jsonw_uint(w, job_store_count_state(d->store, (enum job_state)s));
	}
	jsonw_key(w, "active");
	jsonw_uint(w, d->n_active);
	jsonw_key(w, "next_id");
	jsonw_uint(w, job_store_last_id(d->store) + 1);
	jsonw_object_end(w);
	jsonw_key(w, "connections");
	jsonw_uint(w, d->n_conns);
	jsonw_key(w, "subscribers");
	jsonw_uint(w, event_log_subscribers(d->events));
	jsonw_key(w, "events");
	jsonw_object_begin(w);
	jsonw_key(w, "last_seq");
	jsonw_uint(w, event_log_last_seq(d->events));
	jsonw_key(w, "oldest_seq");
	jsonw_uint(w, event_log_first_seq(d->events));
	jsonw_object_end(w);
	jsonw_key(w, "workers");
	jsonw_object_begin(w);
	jsonw_key(w, "busy");
	jsonw_uint(w, workers_busy(d->workers));
	jsonw_key(w, "queued");
	jsonw_uint(w, workers_queued(d->workers));
	jsonw_object_end(w);
	/* Where write jobs and fetches with save_to may write. */
	jsonw_key(w, "write_roots");
	jsonw_array_begin(w);
	for (size_t i = 0; i < write_roots_count(d->config->roots); i++) {
		jsonw_object_begin(w);
		jsonw_key(w, "path");
		jsonw_string(w, write_roots_path(d->config->roots, i));
		jsonw_key(w, "open");
		jsonw_bool(w, write_roots_open_now(d->config->roots, i));
		jsonw_object_end(w);
	}
	jsonw_array_end(w);
	jsonw_key(w, "uploads");
	jsonw_object_begin(w);
	jsonw_key(w, "open");
	jsonw_uint(w, uploads_open_count(d->uploads));
	jsonw_key(w, "spool_bytes");
	jsonw_uint(w, uploads_spool_bytes(d->uploads));
	jsonw_object_end(w);
	jsonw_key(w, "caller");
	jsonw_object_begin(w);
	jsonw_key(w, "uid");
	jsonw_uint(w, call->conn->peer.uid);
	jsonw_key(w, "admin");
	jsonw_bool(w, call->conn->peer.admin);
	jsonw_key(w, "active_jobs");
	jsonw_uint(w, daemon_user_active_jobs(d, call->conn->peer.uid));
	jsonw_object_end(w);
	jsonw_key(w, "limits");
	config_write_limits(d->config, w);
	jsonw_object_end(w);
	return 0;
}

const struct rpc_method method_daemon_info = { RPC_DAEMON_INFO, daemon_info_handle };
