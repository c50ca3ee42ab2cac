/* Typed access to request params with precise errors. */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/params.h"
#include "daemon/xalloc.h"

bool param_key_is(const struct json_value *m, const char *name)
{
	size_t n = strlen(name);
	return m->key_len == n && memcmp(m->key, name, n) == 0;
}

void param_key_text(const struct json_value *m, char *buf, size_t size)
{
	size_t n = m->key_len < size - 1 ? m->key_len : size - 1;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)m->key[i];
		buf[i] = c < 0x20 ? '?' : (char)c;
	}
	buf[n] = '\0';
}

int param_check_fields(const struct json_value *obj, const char *const *allowed,
		       struct rpc_error *e)
{
	if (!obj)
		return 0;
	for (uint32_t i = 0; i < obj->len; i++) {
		const char *const *a;
		for (a = allowed; *a; a++)
			if (param_key_is(&obj->items[i], *a))
				break;
		if (!*a) {
			char key[96];
			param_key_text(&obj->items[i], key, sizeof(key));
			return rpc_error_param(e, key, "unknown field");
		}
	}
	return 0;
}

int param_number(const struct json_value *obj, const char *name, bool required, double min,
		 double max, bool allow_fraction, double *ret, struct rpc_error *e)
{
	const struct json_value *v = json_get(obj, name);
	double x;

	if (!v) {
		if (required)
			return rpc_error_param(e, name, "required");
		return 0;
	}
	if (!json_is(v, JSON_NUMBER))
		return rpc_error_param(e, name, "must be a number");
	x = json_double(v);
	if (!isfinite(x) || x < min || x > max)
		return rpc_error_param(e, name, "must be a number from %.10g to %.10g", min, max);
	if (!allow_fraction && x != floor(x))
		return rpc_error_param(e, name, "must be a whole number");
	*ret = x;
	return 1;
}

int param_value_uint64(const struct json_value *v, const char *name, uint64_t *ret,
		       struct rpc_error *e)
{
	if (!json_uint64(v, ret))
		return rpc_error_param(e, name, "must be a job id (a positive integer)");
	return 1;
}

int param_uint64(const struct json_value *obj, const char *name, bool required, uint64_t *ret,
		 struct rpc_error *e)
{
	const struct json_value *v = json_get(obj, name);

	if (!v) {
		if (required)
			return rpc_error_param(e, name, "required");
		return 0;
	}
	return param_value_uint64(v, name, ret, e);
}

int param_string(const struct json_value *obj, const char *name, bool required, size_t max_len,
		 bool nonempty, const char **ret, size_t *ret_len, struct rpc_error *e)
{
	const struct json_value *v = json_get(obj, name);

	if (!v) {
		if (required)
			return rpc_error_param(e, name, "required");
		return 0;
	}
	if (!json_is(v, JSON_STRING))
		return rpc_error_param(e, name, "must be a string");
	if (nonempty && v->len == 0)
		return rpc_error_param(e, name, "must not be empty");
	if (v->len > max_len)
		return rpc_error_param(e, name, "longer than %zu bytes", max_len);
	if (memchr(v->str, '\0', v->len))
		return rpc_error_param(e, name, "must not contain NUL characters");
	*ret = v->str;
	if (ret_len)
		*ret_len = v->len;
	return 1;
}

int param_string_dup(const struct json_value *obj, const char *name, bool required,
		     size_t max_len, bool nonempty, char **ret, size_t *ret_len,
		     struct rpc_error *e)
{
	const char *s;
	size_t len;
	int r = param_string(obj, name, required, max_len, nonempty, &s, &len, e);

	if (r <= 0)
		return r;
	*ret = xstrndup(s, len);
	if (ret_len)
		*ret_len = len;
	return 1;
}

int param_bool(const struct json_value *obj, const char *name, bool *ret, struct rpc_error *e)
{
	const struct json_value *v = json_get(obj, name);

	if (!v)
		return 0;
	if (!json_is(v, JSON_BOOL))
		return rpc_error_param(e, name, "must be true or false");
	*ret = v->boolean;
	return 1;
}

int param_id_array(const struct json_value *obj, const char *name, bool required,
		   size_t max, const char *max_name, uint64_t **ret, size_t *ret_n,
		   struct rpc_error *e)
{
	const struct json_value *v = json_get(obj, name);
	uint64_t *ids;

	if (!v) {
		if (required)
			return rpc_error_param(e, name, "required");
		return 0;
	}
	if (!json_is(v, JSON_ARRAY))
		return rpc_error_param(e, name, "must be an array of job ids");
	if (v->len == 0)
		return rpc_error_param(e, name, "must not be empty");
	if (v->len > max)
		return rpc_error_busy(e, max_name, max, "too many job ids in one request");
	ids = xmalloc(v->len * sizeof(*ids));
	for (uint32_t i = 0; i < v->len; i++) {
		char f[64];
		snprintf(f, sizeof(f), "%s[%u]", name, i);
		int r = param_value_uint64(&v->items[i], f, &ids[i], e);
		if (r < 0) {
			free(ids);
			return r;
		}
	}
	*ret = ids;
	*ret_n = v->len;
	return 1;
}
