/* JSON-RPC 2.0 envelopes: checking a request or a response, and writing the
 * reply envelope. Shared by daemon and client so both read the
 * specification the same way. Lines are parsed with proto/json.h. */
#ifndef ASYNCJOB_PROTO_JSONRPC_H
#define ASYNCJOB_PROTO_JSONRPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/json.h"
#include "proto/jsonw.h"

/* A request or notification, pointing into the tree it was read from. */
struct rpc_request {
	const char *method;
	size_t method_len;
	const struct json_value *params;  /* NULL when absent */
	const struct json_value *id;      /* NULL when absent */
	bool has_id;                      /* false: a notification */
	bool id_valid;                    /* the id can be echoed in an error */
};

/* Checks a request object's members. Returns 0, or RPC_INVALID_REQUEST with
 * a static explanation in *ret_reason and as much of *ret filled as could be
 * read (has_id/id_valid say whether the error can carry the id). */
int rpc_request_parse(const struct json_value *obj, struct rpc_request *ret,
		      const char **ret_reason);

/* Writes an id exactly as it arrived: a string, a number (its very text)
 * or null. */
void rpc_id_write(struct jsonw *w, const struct json_value *id);

/* Writes `{"jsonrpc":"2.0","id":ID,"result":` ... the caller writes the
 * result value and then calls rpc_reply_end(). `id_json` is the id already
 * serialised (NULL means null). */
void rpc_reply_begin(struct jsonw *w, const char *id_json, size_t id_len);
void rpc_reply_end(struct jsonw *w);

/* A response, pointing into the tree it was read from. */
struct rpc_response {
	const struct json_value *id;      /* a null id is a JSON_NULL value */
	const struct json_value *result;  /* NULL for an error */
	bool is_error;
	int error_code;
	const char *error_message;        /* NUL-terminated only if it had no escapes */
	size_t error_message_len;
	const struct json_value *error_data;
};

/* Checks a response object. Returns 0, or -EBADMSG with *ret_reason. */
int rpc_response_parse(const struct json_value *obj, struct rpc_response *ret,
		       const char **ret_reason);

/* Recognises a notification (jsonrpc "2.0", a method, no id) sent by the
 * daemon. Returns true and sets the method and params (NULL when absent). */
bool rpc_notification_parse(const struct json_value *obj, const char **ret_method,
			    size_t *ret_method_len, const struct json_value **ret_params);

/* Whether a JSON string value equals `s`. */
bool json_string_is(const struct json_value *v, const char *s);

#endif
