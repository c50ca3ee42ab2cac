/* JSON-RPC 2.0 envelopes. */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "proto/jsonrpc.h"
#include "proto/protocol.h"

bool json_string_is(const struct json_value *v, const char *s)
{
	size_t n = strlen(s);
	return json_is(v, JSON_STRING) && v->len == n && memcmp(v->str, s, n) == 0;
}

static bool key_is(const struct json_value *m, const char *s)
{
	size_t n = strlen(s);
	return m->key_len == n && memcmp(m->key, s, n) == 0;
}

int rpc_request_parse(const struct json_value *obj, struct rpc_request *ret,
		      const char **ret_reason)
{
	struct rpc_request r = { 0 };
	bool have_version = false;
	int code = 0;
	const char *reason = NULL;

	*ret = r;
	if (!json_is(obj, JSON_OBJECT)) {
		*ret_reason = "a request must be a JSON object";
		return RPC_INVALID_REQUEST;
	}
	/* Read the id first so later errors can echo it. */
	if ((r.id = json_get(obj, "id"))) {
		r.has_id = true;
		switch (r.id->type) {
		case JSON_NULL:
		case JSON_STRING:
		case JSON_NUMBER:
			r.id_valid = true;
			break;
		default:
			r.id = NULL;
			code = RPC_INVALID_REQUEST;
			reason = "id must be a string, a number or null";
		}
	}
	for (uint32_t i = 0; i < obj->len && !code; i++) {
		const struct json_value *m = &obj->items[i];
		if (key_is(m, "jsonrpc")) {
			if (!json_string_is(m, "2.0")) {
				code = RPC_INVALID_REQUEST;
				reason = "jsonrpc must be \"2.0\"";
			}
			have_version = true;
		} else if (key_is(m, "method")) {
			if (!json_is(m, JSON_STRING)) {
				code = RPC_INVALID_REQUEST;
				reason = "method must be a string";
			} else {
				r.method = m->str;
				r.method_len = m->len;
			}
		} else if (key_is(m, "params")) {
			if (!json_is(m, JSON_OBJECT) && !json_is(m, JSON_ARRAY)) {
				code = RPC_INVALID_REQUEST;
				reason = "params must be an object or an array";
			}
			r.params = m;
		} else if (!key_is(m, "id")) {
			code = RPC_INVALID_REQUEST;
			reason = "unknown member in request";
		}
	}
	if (!code && !have_version) {
		code = RPC_INVALID_REQUEST;
		reason = "jsonrpc member missing";
	}
	if (!code && !r.method) {
		code = RPC_INVALID_REQUEST;
		reason = "method member missing";
	}
	*ret = r;
	if (code)
		*ret_reason = reason;
	return code;
}

void rpc_id_write(struct jsonw *w, const struct json_value *id)
{
	switch (id ? id->type : JSON_NULL) {
	case JSON_STRING:
		jsonw_string_len(w, id->str, id->len);
		break;
	case JSON_NUMBER:
		/* The number's own text, strict JSON, echoed to the letter. */
		jsonw_raw_value(w, id->str, id->len);
		break;
	default:
		jsonw_null(w);
	}
}

void rpc_reply_begin(struct jsonw *w, const char *id_json, size_t id_len)
{
	jsonw_raw(w, "{\"jsonrpc\":\"2.0\",\"id\":", 22);
	if (id_json)
		jsonw_raw(w, id_json, id_len);
	else
		jsonw_raw(w, "null", 4);
	jsonw_raw(w, ",\"result\":", 10);
	/* The writer's view: inside an object, right after a key. */
	jsonw_enter_after_key(w);
}

void rpc_reply_end(struct jsonw *w)
{
	jsonw_object_end(w);
}

int rpc_response_parse(const struct json_value *obj, struct rpc_response *ret,
		       const char **ret_reason)
{
	struct rpc_response r = { 0 };
	const struct json_value *err;

	if (!json_is(obj, JSON_OBJECT)) {
		*ret_reason = "response is not an object";
		return -EBADMSG;
	}
	if (!json_string_is(json_get(obj, "jsonrpc"), "2.0")) {
		*ret_reason = "response lacks jsonrpc \"2.0\"";
		return -EBADMSG;
	}
	if (!(r.id = json_get(obj, "id"))) {
		*ret_reason = "response lacks an id";
		return -EBADMSG;
	}
	r.result = json_get(obj, "result");
	err = json_get(obj, "error");
	r.is_error = err != NULL;
	if (!r.result == !err) {
		*ret_reason = "response must have exactly one of result and error";
		return -EBADMSG;
	}
	if (err) {
		const struct json_value *code = json_get(err, "code"), *msg = json_get(err, "message");
		int64_t c;
		if (!json_is(err, JSON_OBJECT) || !json_int64(code, &c) || c < INT32_MIN ||
		    c > INT32_MAX || !json_is(msg, JSON_STRING)) {
			*ret_reason = "malformed error object in response";
			return -EBADMSG;
		}
		r.error_code = (int)c;
		r.error_message = msg->str;
		r.error_message_len = msg->len;
		r.error_data = json_get(err, "data");
	}
	*ret = r;
	return 0;
}

bool rpc_notification_parse(const struct json_value *obj, const char **ret_method,
			    size_t *ret_method_len, const struct json_value **ret_params)
{
	const struct json_value *m;

	if (!json_is(obj, JSON_OBJECT) || !json_string_is(json_get(obj, "jsonrpc"), "2.0") ||
	    json_get(obj, "id") || !json_is(m = json_get(obj, "method"), JSON_STRING))
		return false;
	*ret_method = m->str;
	*ret_method_len = m->len;
	*ret_params = json_get(obj, "params");
	return true;
}
