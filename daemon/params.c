/* Typed access to request params with precise errors. */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "daemon/params.h"
#include "daemon/xalloc.h"

int param_check_fields(struct json_object *obj, const char *const *allowed, struct rpc_error *e)
{
	if (!obj)
		return 0;
	json_object_object_foreach(obj, key, val) {
		(void)val;
		const char *const *a;
		for (a = allowed; *a; a++)
			if (strcmp(*a, key) == 0)
				break;
		if (!*a)
			return rpc_error_param(e, key, "unknown field");
	}
	return 0;
}

static struct json_object *field(struct json_object *obj, const char *name)
{
	struct json_object *v = NULL;
	if (!obj || !json_object_object_get_ex(obj, name, &v))
		return NULL;
	return v;
}

static bool present(struct json_object *obj, const char *name)
{
	return obj && json_object_object_get_ex(obj, name, NULL);
}

int param_number(struct json_object *obj, const char *name, bool required, double min,
		 double max, bool allow_fraction, double *ret, struct rpc_error *e)
{
	struct json_object *v = field(obj, name);
	double x;

	if (!present(obj, name)) {
		if (required)
			return rpc_error_param(e, name, "required");
		return 0;
	}
	if (!json_object_is_type(v, json_type_int) && !json_object_is_type(v, json_type_double))
		return rpc_error_param(e, name, "must be a number");
	x = json_object_get_double(v);
	if (!isfinite(x) || x < min || x > max)
		return rpc_error_param(e, name, "must be a number from %.10g to %.10g", min, max);
	if (!allow_fraction && x != floor(x))
		return rpc_error_param(e, name, "must be a whole number");
	*ret = x;
	return 1;
}

int param_value_uint64(struct json_object *v, const char *name, uint64_t *ret,
		       struct rpc_error *e)
{
	if (!json_object_is_type(v, json_type_int))
		return rpc_error_param(e, name, "must be a job id (a positive integer)");
	int64_t s = json_object_get_int64(v);
	if (s < 0)
		return rpc_error_param(e, name, "must be a job id (a positive integer)");
	*ret = s == INT64_MAX ? json_object_get_uint64(v) : (uint64_t)s;
	return 1;
}

int param_uint64(struct json_object *obj, const char *name, bool required, uint64_t *ret,
		 struct rpc_error *e)
{
	if (!present(obj, name)) {
		if (required)
			return rpc_error_param(e, name, "required");
		return 0;
	}
	return param_value_uint64(field(obj, name), name, ret, e);
}

int param_string(struct json_object *obj, const char *name, bool required, size_t max_len,
		 bool nonempty, const char **ret, size_t *ret_len, struct rpc_error *e)
{
	struct json_object *v = field(obj, name);
	const char *s;
	size_t n;

	if (!present(obj, name)) {
		if (required)
			return rpc_error_param(e, name, "required");
		return 0;
	}
	if (!json_object_is_type(v, json_type_string))
		return rpc_error_param(e, name, "must be a string");
	s = json_object_get_string(v);
	n = (size_t)json_object_get_string_len(v);
	if (nonempty && n == 0)
		return rpc_error_param(e, name, "must not be empty");
	if (n > max_len)
		return rpc_error_param(e, name, "longer than %zu bytes", max_len);
	if (memchr(s, '\0', n))
		return rpc_error_param(e, name, "must not contain NUL characters");
	*ret = s;
	if (ret_len)
		*ret_len = n;
	return 1;
}

int param_bool(struct json_object *obj, const char *name, bool *ret, struct rpc_error *e)
{
	struct json_object *v = field(obj, name);

	if (!present(obj, name))
		return 0;
	if (!json_object_is_type(v, json_type_boolean))
		return rpc_error_param(e, name, "must be true or false");
	*ret = json_object_get_boolean(v);
	return 1;
}

int param_id_array(struct json_object *obj, const char *name, bool required, size_t max,
		   uint64_t **ret, size_t *ret_n, struct rpc_error *e)
{
	struct json_object *v = field(obj, name);
	uint64_t *ids;
	size_t n;

	if (!present(obj, name)) {
		if (required)
			return rpc_error_param(e, name, "required");
		return 0;
	}
	if (!json_object_is_type(v, json_type_array))
		return rpc_error_param(e, name, "must be an array of job ids");
	n = json_object_array_length(v);
	if (n == 0)
		return rpc_error_param(e, name, "must not be empty");
	if (n > max)
		return rpc_error_param(e, name, "more than %zu ids", max);
	ids = xmalloc(n * sizeof(*ids));
	for (size_t i = 0; i < n; i++) {
		char f[64];
		snprintf(f, sizeof(f), "%s[%zu]", name, i);
		int r = param_value_uint64(json_object_array_get_idx(v, i), f, &ids[i], e);
		if (r < 0) {
			free(ids);
			return r;
		}
	}
	*ret = ids;
	*ret_n = n;
	return 1;
}
