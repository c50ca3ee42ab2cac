/* JSON-RPC 2.0 envelopes: parsing a line, checking a request or a response,
 * and writing the reply envelope. Shared by daemon and client so both read
 * the specification the same way. */
#ifndef ASYNCJOB_PROTO_JSONRPC_H
#define ASYNCJOB_PROTO_JSONRPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "proto/jsonw.h"

/* Parses one line as one strict JSON text (RFC 8259: no trailing commas, no
 * comments, valid UTF-8, nothing after the value but whitespace).
 * `tok` carries the nesting limit it was created with.
 * Returns 0 and the value in *ret (the caller owns it; a JSON null comes back
 * as NULL), or -EINVAL with a static explanation in *ret_reason. */
int json_parse_line(struct json_tokener *tok, const char *line, size_t len,
		    struct json_object **ret, const char **ret_reason);

/* A request or notification, pointing into the object it was read from. */
struct rpc_request {
	const char *method;
	struct json_object *params;  /* NULL when absent */
	struct json_object *id;      /* NULL when absent or null */
	bool has_id;                 /* false: a notification */
	bool id_valid;               /* the id can be echoed in an error */
};

/* Checks a request object's members. Returns 0, or RPC_INVALID_REQUEST with
 * a static explanation in *ret_reason and as much of *ret filled as could be
 * read (has_id/id_valid say whether the error can carry the id). */
int rpc_request_parse(struct json_object *obj, struct rpc_request *ret,
		      const char **ret_reason);

/* Writes an id as it arrived: a string, a number or null. */
void rpc_id_write(struct jsonw *w, struct json_object *id);

/* Writes `{"jsonrpc":"2.0","id":ID,"result":` ... the caller writes the
 * result value and then calls rpc_reply_end(). `id_json` is the id already
 * serialised (NULL means null). */
void rpc_reply_begin(struct jsonw *w, const char *id_json, size_t id_len);
void rpc_reply_end(struct jsonw *w);

/* A response, pointing into the object it was read from. */
struct rpc_response {
	struct json_object *id;      /* NULL for a null id */
	struct json_object *result;  /* NULL for a null result or an error */
	bool is_error;
	int error_code;
	const char *error_message;
	struct json_object *error_data;
};

/* Checks a response object. Returns 0, or -EBADMSG with *ret_reason. */
int rpc_response_parse(struct json_object *obj, struct rpc_response *ret,
		       const char **ret_reason);

/* Recognises a notification (a request without id) sent by the daemon.
 * Returns true and sets *ret_method and *ret_params. */
bool rpc_notification_parse(struct json_object *obj, const char **ret_method,
			    struct json_object **ret_params);

#endif
