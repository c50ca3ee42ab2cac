/* Name tables for the protocol's enumerations, shared by daemon and client. */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "proto/protocol.h"

const char *rpc_code_message(int code)
{
	switch (code) {
	case RPC_PARSE_ERROR: return "Parse error";
	case RPC_INVALID_REQUEST: return "Invalid Request";
	case RPC_METHOD_NOT_FOUND: return "Method not found";
	case RPC_INVALID_PARAMS: return "Invalid params";
	case RPC_INTERNAL_ERROR: return "Internal error";
	case RPC_JOB_NOT_FOUND: return "Job not found";
	case RPC_BUSY: return "Busy";
	case RPC_FORBIDDEN: return "Forbidden";
	case RPC_JOB_FINISHED: return "Job already finished";
	case RPC_REQUEST_TOO_LARGE: return "Request too large";
	case RPC_STORE_FAILING: return "The job store cannot write";
	default: return NULL;
	}
}

static const char *const state_names[JOB_STATE_COUNT] = {
	[JOB_QUEUED] = "queued",
	[JOB_RUNNING] = "running",
	[JOB_SUCCEEDED] = "succeeded",
	[JOB_FAILED] = "failed",
	[JOB_CANCELED] = "canceled",
};

const char *job_state_name(enum job_state state)
{
	if ((unsigned)state >= JOB_STATE_COUNT)
		return "unknown";
	return state_names[state];
}

int job_state_from_name(const char *name, enum job_state *ret_state)
{
	for (unsigned i = 0; i < JOB_STATE_COUNT; i++) {
		if (strcmp(name, state_names[i]) == 0) {
			*ret_state = (enum job_state)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *job_error_name(enum job_error code)
{
	switch (code) {
	case JOB_ERR_NONE: return "none";
	case JOB_ERR_TIMEOUT: return "timeout";
	case JOB_ERR_CANCELED: return "canceled";
	case JOB_ERR_SHUTDOWN: return "shutdown";
	case JOB_ERR_NETWORK: return "network";
	case JOB_ERR_HTTP_STATUS: return "http_status";
	case JOB_ERR_TOO_LARGE: return "too_large";
	case JOB_ERR_IO: return "io";
	case JOB_ERR_FORBIDDEN: return "forbidden";
	case JOB_ERR_INTERRUPTED: return "interrupted";
	}
	return "unknown";
}

int job_error_from_name(const char *name, enum job_error *ret_code)
{
	for (int c = JOB_ERR_NONE; c <= JOB_ERR_INTERRUPTED; c++)
		if (strcmp(name, job_error_name((enum job_error)c)) == 0) {
			*ret_code = (enum job_error)c;
			return 0;
		}
	return -EINVAL;
}
