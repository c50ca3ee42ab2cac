/* JSON-RPC 2.0 envelopes. */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "proto/jsonrpc.h"
#include "proto/protocol.h"

static bool only_whitespace(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
			return false;
	}
	return true;
}

static bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static size_t skip_digits(const unsigned char *s, size_t i, size_t len)
{
	while (i < len && is_digit(s[i]))
		i++;
	return i;
}

/* Whether a run of decimal digits fits json-c's integers: int64 when
 * negative, uint64 otherwise. */
static bool integer_fits(const unsigned char *d, size_t n, bool negative)
{
	const char *max = negative ? "9223372036854775808" : "18446744073709551615";
	size_t max_len = strlen(max);

	if (n != max_len)
		return n < max_len;
	return memcmp(d, max, n) <= 0;
}

/* After a number or a literal, JSON allows only whitespace, a structural
 * character or the end: "00.5" or "truex" are not two tokens. */
static bool token_ends_at(const unsigned char *s, size_t i, size_t len)
{
	if (i >= len)
		return true;
	switch (s[i]) {
	case ' ': case '\t': case '\r': case '\n': case ',': case ']': case '}': case ':':
		return true;
	default:
		return false;
	}
}

/* The lexical rules of RFC 8259 that json-c's strict mode does not enforce:
 * strings of valid UTF-8 without raw control characters, numbers of the
 * JSON form (no NaN, Infinity or "1."), no quote but the double quote,
 * literals spelt in full. json-c still checks the structure. Returns NULL
 * when the tokens are fine, else why not. */
static const char *check_tokens(const char *text, size_t len)
{
	const unsigned char *s = (const unsigned char *)text;
	size_t i = 0;

	while (i < len) {
		unsigned char c = s[i];
		switch (c) {
		case ' ': case '\t': case '\r': case '\n':
		case '{': case '}': case '[': case ']': case ':': case ',':
			i++;
			continue;
		case '"':
			for (i++;;) {
				if (i >= len)
					return NULL;   /* unterminated: json-c says so */
				c = s[i];
				if (c == '"') {
					i++;
					break;
				}
				if (c < 0x20)
					return "control character in a string";
				if (c == '\\') {
					i += 2;    /* json-c checks the escape itself */
					continue;
				}
				size_t n = utf8_sequence_length(s + i, len - i);
				if (n == 0)
					return "invalid UTF-8 in a string";
				i += n;
			}
			continue;
		case 't': case 'f': case 'n': {
			const char *lit = c == 't' ? "true" : c == 'f' ? "false" : "null";
			size_t n = strlen(lit);
			if (len - i < n || memcmp(s + i, lit, n) != 0 || !token_ends_at(s, i + n, len))
				return "invalid literal";
			i += n;
			continue;
		}
		default:
			break;
		}
		if (c != '-' && !is_digit(c))
			return "unexpected character";
		bool negative = c == '-';
		if (negative)
			i++;
		if (i >= len || !is_digit(s[i]))
			return "invalid number";
		size_t digits_at = i;
		i = s[i] == '0' ? i + 1 : skip_digits(s, i, len);
		/* json-c silently clamps integers it cannot hold, which would
		 * change an id or a value: refuse them instead. */
		if (!(i < len && (s[i] == '.' || s[i] == 'e' || s[i] == 'E')) &&
		    !integer_fits(s + digits_at, i - digits_at, negative))
			return "integer out of the 64-bit range";
		if (i < len && s[i] == '.') {
			if (i + 1 >= len || !is_digit(s[i + 1]))
				return "invalid number";
			i = skip_digits(s, i + 1, len);
		}
		if (i < len && (s[i] == 'e' || s[i] == 'E')) {
			i++;
			if (i < len && (s[i] == '+' || s[i] == '-'))
				i++;
			if (i >= len || !is_digit(s[i]))
				return "invalid number";
			i = skip_digits(s, i, len);
		}
		if (!token_ends_at(s, i, len))
			return "invalid number";
	}
	return NULL;
}

int json_parse_line(struct json_tokener *tok, const char *line, size_t len,
		    struct json_object **ret, const char **ret_reason)
{
	struct json_object *obj;
	enum json_tokener_error err;

	if (len == 0) {
		*ret_reason = "no JSON value (empty)";
		return -EINVAL;
	}
	/* A raw NUL cannot occur in JSON text, and json-c would take it for
	 * the end of the input. */
	if (memchr(line, '\0', len)) {
		*ret_reason = "NUL byte in message";
		return -EINVAL;
	}
	if (len > INT32_MAX) {
		*ret_reason = "message too long";
		return -EINVAL;
	}
	const char *bad = check_tokens(line, len);
	if (bad) {
		*ret_reason = bad;
		return -EINVAL;
	}
	json_tokener_reset(tok);
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	obj = json_tokener_parse_ex(tok, line, (int)len);
	err = json_tokener_get_error(tok);
	/* Where the value ended in `line` (the terminator fed below is
	 * another buffer, whose parse end says nothing about this one). */
	size_t end = json_tokener_get_parse_end(tok);
	if (err == json_tokener_continue) {
		/* A bare number at the end of the line is complete only once
		 * the tokener sees a terminator. */
		obj = json_tokener_parse_ex(tok, "", 1);
		err = json_tokener_get_error(tok);
		if (err == json_tokener_continue) {
			*ret_reason = "message ends before the JSON value does";
			json_object_put(obj);
			return -EINVAL;
		}
	}
	if (err != json_tokener_success) {
		*ret_reason = err == json_tokener_error_depth
			? "JSON nested too deeply"
			: json_tokener_error_desc(err);
		json_object_put(obj);
		return -EINVAL;
	}
	if (end < len && !only_whitespace(line + end, len - end)) {
		*ret_reason = "unexpected data after the JSON value";
		json_object_put(obj);
		return -EINVAL;
	}
	*ret = obj;
	return 0;
}

int rpc_request_parse(struct json_object *obj, struct rpc_request *ret,
		      const char **ret_reason)
{
	struct rpc_request r = { 0 };
	bool have_version = false;
	int code = 0;
	const char *reason = NULL;

	*ret = r;
	if (!json_object_is_type(obj, json_type_object)) {
		*ret_reason = "a request must be a JSON object";
		return RPC_INVALID_REQUEST;
	}
	/* Read the id first so later errors can echo it. */
	if (json_object_object_get_ex(obj, "id", &r.id)) {
		r.has_id = true;
		switch (json_object_get_type(r.id)) {
		case json_type_null:
		case json_type_string:
		case json_type_int:
		case json_type_double:
			r.id_valid = true;
			break;
		default:
			r.id = NULL;
			code = RPC_INVALID_REQUEST;
			reason = "id must be a string, a number or null";
		}
	}
	json_object_object_foreach(obj, key, val) {
		if (code)
			break;
		if (strcmp(key, "jsonrpc") == 0) {
			if (!json_object_is_type(val, json_type_string) ||
			    strcmp(json_object_get_string(val), "2.0") != 0) {
				code = RPC_INVALID_REQUEST;
				reason = "jsonrpc must be \"2.0\"";
			}
			have_version = true;
		} else if (strcmp(key, "method") == 0) {
			if (!json_object_is_type(val, json_type_string)) {
				code = RPC_INVALID_REQUEST;
				reason = "method must be a string";
			} else {
				r.method = json_object_get_string(val);
			}
		} else if (strcmp(key, "params") == 0) {
			if (!json_object_is_type(val, json_type_object) &&
			    !json_object_is_type(val, json_type_array)) {
				code = RPC_INVALID_REQUEST;
				reason = "params must be an object or an array";
			}
			r.params = val;
		} else if (strcmp(key, "id") != 0) {
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

void rpc_id_write(struct jsonw *w, struct json_object *id)
{
	switch (json_object_get_type(id)) {
	case json_type_string:
		jsonw_string_len(w, json_object_get_string(id),
				 (size_t)json_object_get_string_len(id));
		break;
	case json_type_int: {
		int64_t v = json_object_get_int64(id);
		if (v == INT64_MAX)
			jsonw_uint(w, json_object_get_uint64(id));
		else
			jsonw_int(w, v);
		break;
	}
	case json_type_double: {
		/* json-c keeps the text a parsed double came as, so the id
		 * is echoed exactly. */
		size_t n;
		const char *s = json_object_to_json_string_length(id, JSON_C_TO_STRING_PLAIN, &n);
		jsonw_raw_value(w, s, n);
		break;
	}
	default:
		jsonw_null(w);
	}
}

static void write_id(struct jsonw *w, const char *id_json, size_t id_len)
{
	jsonw_key(w, "id");
	if (id_json)
		jsonw_raw_value(w, id_json, id_len);
	else
		jsonw_null(w);
}

void rpc_reply_begin(struct jsonw *w, const char *id_json, size_t id_len)
{
	jsonw_object_begin(w);
	jsonw_key(w, "jsonrpc");
	jsonw_raw_value(w, "\"2.0\"", 5);
	write_id(w, id_json, id_len);
	jsonw_key(w, "result");
}

void rpc_reply_end(struct jsonw *w)
{
	jsonw_object_end(w);
}

int rpc_response_parse(struct json_object *obj, struct rpc_response *ret,
		       const char **ret_reason)
{
	struct rpc_response r = { 0 };
	struct json_object *v, *err;
	bool has_result;

	if (!json_object_is_type(obj, json_type_object)) {
		*ret_reason = "response is not an object";
		return -EBADMSG;
	}
	if (!json_object_object_get_ex(obj, "jsonrpc", &v) ||
	    !json_object_is_type(v, json_type_string) ||
	    strcmp(json_object_get_string(v), "2.0") != 0) {
		*ret_reason = "response lacks jsonrpc \"2.0\"";
		return -EBADMSG;
	}
	if (!json_object_object_get_ex(obj, "id", &r.id)) {
		*ret_reason = "response lacks an id";
		return -EBADMSG;
	}
	has_result = json_object_object_get_ex(obj, "result", &r.result);
	r.is_error = json_object_object_get_ex(obj, "error", &err);
	if (has_result == r.is_error) {
		*ret_reason = "response must have exactly one of result and error";
		return -EBADMSG;
	}
	if (r.is_error) {
		struct json_object *code, *msg;
		if (!json_object_is_type(err, json_type_object) ||
		    !json_object_object_get_ex(err, "code", &code) ||
		    !json_object_is_type(code, json_type_int) ||
		    !json_object_object_get_ex(err, "message", &msg) ||
		    !json_object_is_type(msg, json_type_string)) {
			*ret_reason = "malformed error object in response";
			return -EBADMSG;
		}
		r.error_code = json_object_get_int(code);
		r.error_message = json_object_get_string(msg);
		json_object_object_get_ex(err, "data", &r.error_data);
	}
	*ret = r;
	return 0;
}

bool rpc_notification_parse(struct json_object *obj, const char **ret_method,
			    struct json_object **ret_params)
{
	struct json_object *m, *v, *p = NULL;

	if (!json_object_is_type(obj, json_type_object) ||
	    !json_object_object_get_ex(obj, "jsonrpc", &v) ||
	    !json_object_is_type(v, json_type_string) ||
	    strcmp(json_object_get_string(v), "2.0") != 0 ||
	    json_object_object_get_ex(obj, "id", NULL) ||
	    !json_object_object_get_ex(obj, "method", &m) ||
	    !json_object_is_type(m, json_type_string))
		return false;
	json_object_object_get_ex(obj, "params", &p);
	*ret_method = json_object_get_string(m);
	*ret_params = p;
	return true;
}
