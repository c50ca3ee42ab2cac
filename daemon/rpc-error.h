/* An RPC error on its way to the wire. Handlers fill one in; rpc.c is the one
 * place that turns it into a JSON-RPC error object. */
#ifndef ASYNCJOBD_RPC_ERROR_H
#define ASYNCJOBD_RPC_ERROR_H

#include <stdbool.h>
#include <stdint.h>

#include "proto/protocol.h"

struct rpc_error {
	int code;                  /* enum rpc_code */
	char message[256];         /* empty: the code's standard message */
	/* -32602 and -32003: the field at fault and why */
	char field[128];
	char reason[256];
	/* -32002, and -32700 for max_json_depth: the limit reached */
	const char *limit;
	uint64_t limit_value;
	/* -32001 and -32004: the job concerned */
	bool has_job;
	uint64_t job_id;
	enum job_state job_state;
	/* -32002 from a daemon that stops and keeps its jobs: data says
	 * "restarting", so a client tells it from a limit and comes back,
	 * and lists the jobs the request waited for (ids, when not NULL),
	 * which a client that had not been told them (a gather) needs to
	 * wait for them again. */
	bool restarting;
	const uint64_t *ids;
	size_t n_ids;
	/* The store change the error tells of (a job's state in data): it
	 * waits for it as a job object would (jsonw.needs). */
	uint64_t needs;
};

/* Each of these fills `e` and returns a negative errno for the caller to
 * pass up, so a validator can say `return rpc_error_param(e, ...)`. */
int rpc_error_param(struct rpc_error *e, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int rpc_error_forbidden(struct rpc_error *e, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int rpc_error_busy(struct rpc_error *e, const char *limit, uint64_t value, const char *what);
/* A limit reached that its own code reports (a parse error for
 * max_json_depth): "<the code's message>: <what> (<limit> = <value>)", the
 * limit in `data` as for -32002. */
int rpc_error_limit(struct rpc_error *e, int code, const char *limit, uint64_t value,
		    const char *what);
int rpc_error_not_found(struct rpc_error *e, uint64_t id);
int rpc_error_finished(struct rpc_error *e, uint64_t id, enum job_state state);
int rpc_error_simple(struct rpc_error *e, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Puts `prefix` before the field name: "jobs[3]." + "seconds". */
void rpc_error_prefix_field(struct rpc_error *e, const char *prefix);

#endif
