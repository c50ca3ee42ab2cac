/* Constructors for RPC errors. */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "daemon/rpc-error.h"

static void reset(struct rpc_error *e, int code)
{
	memset(e, 0, sizeof(*e));
	e->code = code;
}

static int field_error(struct rpc_error *e, int code, int err, const char *field,
		       const char *fmt, va_list ap) __attribute__((format(printf, 5, 0)));

static int field_error(struct rpc_error *e, int code, int err, const char *field,
		       const char *fmt, va_list ap)
{
	reset(e, code);
	snprintf(e->field, sizeof(e->field), "%s", field);
	vsnprintf(e->reason, sizeof(e->reason), fmt, ap);
	return err;
}

int rpc_error_param(struct rpc_error *e, const char *field, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = field_error(e, RPC_INVALID_PARAMS, -EINVAL, field, fmt, ap);
	va_end(ap);
	return r;
}

int rpc_error_forbidden(struct rpc_error *e, const char *field, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = field_error(e, RPC_FORBIDDEN, -EPERM, field, fmt, ap);
	va_end(ap);
	return r;
}

int rpc_error_limit(struct rpc_error *e, int code, const char *limit, uint64_t value,
		    const char *what)
{
	reset(e, code);
	e->limit = limit;
	e->limit_value = value;
	snprintf(e->message, sizeof(e->message), "%s: %s (%s = %" PRIu64 ")", rpc_code_message(code),
		 what, limit, value);
	return -EBUSY;
}

int rpc_error_busy(struct rpc_error *e, const char *limit, uint64_t value, const char *what)
{
	return rpc_error_limit(e, RPC_BUSY, limit, value, what);
}

int rpc_error_not_found(struct rpc_error *e, uint64_t id)
{
	reset(e, RPC_JOB_NOT_FOUND);
	e->has_job = true;
	e->job_id = id;
	snprintf(e->message, sizeof(e->message), "Job not found: %" PRIu64, id);
	return -ENOENT;
}

int rpc_error_finished(struct rpc_error *e, uint64_t id, enum job_state state)
{
	reset(e, RPC_JOB_FINISHED);
	e->has_job = true;
	e->job_id = id;
	e->job_state = state;
	snprintf(e->message, sizeof(e->message), "Job already finished: %" PRIu64 " is %s",
		 id, job_state_name(state));
	return -EALREADY;
}

int rpc_error_simple(struct rpc_error *e, int code, const char *fmt, ...)
{
	va_list ap;
	reset(e, code);
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof(e->message), fmt, ap);
	va_end(ap);
	return -EINVAL;
}

void rpc_error_prefix_field(struct rpc_error *e, const char *prefix)
{
	char buf[sizeof(e->field)];
	snprintf(buf, sizeof(buf), "%s%s", prefix, e->field);
	memcpy(e->field, buf, sizeof(buf));
}
