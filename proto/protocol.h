/* The asyncjobd wire protocol: names and numbers both sides must agree on.
 * proto/PROTOCOL.md is the prose version of this header. */
#ifndef ASYNCJOB_PROTO_PROTOCOL_H
#define ASYNCJOB_PROTO_PROTOCOL_H

#include <stdbool.h>
#include <stddef.h>

/* JSON-RPC 2.0 error codes, the reserved ones and ours (-32000..-32099). */
enum rpc_code {
	RPC_PARSE_ERROR = -32700,
	RPC_INVALID_REQUEST = -32600,
	RPC_METHOD_NOT_FOUND = -32601,
	RPC_INVALID_PARAMS = -32602,
	RPC_INTERNAL_ERROR = -32603,
	RPC_JOB_NOT_FOUND = -32001,
	RPC_BUSY = -32002,
	RPC_FORBIDDEN = -32003,
	RPC_JOB_FINISHED = -32004,
	RPC_REQUEST_TOO_LARGE = -32005,
	RPC_STORE_FAILING = -32006,
};

/* The short message that goes with a code when nothing more precise is
 * known; NULL for codes this protocol does not use. */
const char *rpc_code_message(int code);

enum job_state {
	JOB_QUEUED,
	JOB_RUNNING,
	JOB_SUCCEEDED,
	JOB_FAILED,
	JOB_CANCELED,
};
#define JOB_STATE_COUNT 5

const char *job_state_name(enum job_state state);
/* Returns 0 and sets *ret_state, or -EINVAL for a name that is no state. */
int job_state_from_name(const char *name, enum job_state *ret_state);
static inline bool job_state_is_final(enum job_state s)
{
	return s >= JOB_SUCCEEDED;
}

/* Why a job failed or was canceled: the `error.code` of a job object. */
enum job_error {
	JOB_ERR_NONE,
	JOB_ERR_TIMEOUT,
	JOB_ERR_CANCELED,
	JOB_ERR_SHUTDOWN,
	JOB_ERR_NETWORK,
	JOB_ERR_HTTP_STATUS,
	JOB_ERR_TOO_LARGE,
	JOB_ERR_IO,
	JOB_ERR_FORBIDDEN,
	JOB_ERR_INTERRUPTED,
};

const char *job_error_name(enum job_error code);
/* Returns 0 and sets *ret_code, or -EINVAL for a name that is no code. */
int job_error_from_name(const char *name, enum job_error *ret_code);

/* Method and notification names. */
#define RPC_JOB_SUBMIT "job.submit"
#define RPC_JOB_GATHER "job.gather"
#define RPC_JOB_GET "job.get"
#define RPC_JOB_WAIT "job.wait"
#define RPC_JOB_LIST "job.list"
#define RPC_JOB_CANCEL "job.cancel"
#define RPC_JOB_CANCEL_MANY "job.cancel_many"
#define RPC_JOB_FORGET "job.forget"
#define RPC_EVENTS_SUBSCRIBE "events.subscribe"
#define RPC_EVENTS_UNSUBSCRIBE "events.unsubscribe"
#define RPC_DAEMON_INFO "daemon.info"
#define RPC_DAEMON_METRICS "daemon.metrics"
#define RPC_UPLOAD_BEGIN "upload.begin"
#define RPC_UPLOAD_WRITE "upload.write"
/* An upload's token: lowercase hex digits (128 random bits). */
#define ASYNCJOB_UPLOAD_TOKEN_CHARS 32
#define RPC_NOTIFY_JOB_UPDATED "job.updated"
#define RPC_NOTIFY_GATHER_PROGRESS "gather.progress"
#define RPC_NOTIFY_JOB_PROGRESS "job.progress"

/* A job object in a job.updated event carries its result only when the
 * result's JSON text is at most this long; otherwise "result_omitted": true
 * (the client reads it with job.get). */
#define ASYNCJOB_EVENT_RESULT_MAX_BYTES 16384

/* The socket a client uses when none is named: ASYNCJOB_SOCKET, else the
 * per-user socket when it exists, else the system one. */
#define ASYNCJOB_SYSTEM_SOCKET "/run/asyncjobd/asyncjobd.sock"
#define ASYNCJOB_USER_SOCKET_NAME "asyncjobd.sock"
#define ASYNCJOB_SOCKET_ENV "ASYNCJOB_SOCKET"

#endif
