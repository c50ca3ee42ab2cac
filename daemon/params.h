/* Reading request params and job specs with errors that name the field.
 * Each getter returns 1 when the field was present and valid, 0 when it is
 * absent and optional (the output is left alone), or a negative errno with
 * `e` filled in. */
#ifndef ASYNCJOBD_PARAMS_H
#define ASYNCJOBD_PARAMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon/rpc-error.h"
#include "proto/json.h"

/* Refuses fields not in `allowed` (NULL-terminated). */
int param_check_fields(const struct json_value *obj, const char *const *allowed,
		       struct rpc_error *e);

/* Whether a member's name is `name`. */
bool param_key_is(const struct json_value *member, const char *name);
/* Writes a member's name for an error message (NUL and control bytes
 * replaced, truncated to `size`). */
void param_key_text(const struct json_value *member, char *buf, size_t size);

int param_number(const struct json_value *obj, const char *name, bool required, double min,
		 double max, bool allow_fraction, double *ret, struct rpc_error *e);
int param_uint64(const struct json_value *obj, const char *name, bool required, uint64_t *ret,
		 struct rpc_error *e);
/* Strings may not contain NUL; `max_len` counts bytes. The string lives as
 * long as the request's tree. */
int param_string(const struct json_value *obj, const char *name, bool required, size_t max_len,
		 bool nonempty, const char **ret, size_t *ret_len, struct rpc_error *e);
/* The same, copied into a NUL-terminated string the caller frees. */
int param_string_dup(const struct json_value *obj, const char *name, bool required,
		     size_t max_len, bool nonempty, char **ret, size_t *ret_len,
		     struct rpc_error *e);
int param_bool(const struct json_value *obj, const char *name, bool *ret, struct rpc_error *e);
/* An array of job ids, 1..max long; *ret is allocated (caller frees).
 * More ids than `max` is a limit reached (-32002), named `max_name`. */
int param_id_array(const struct json_value *obj, const char *name, bool required,
		   size_t max, const char *max_name, uint64_t **ret, size_t *ret_n,
		   struct rpc_error *e);

/* Checks a JSON value as a job id. */
int param_value_uint64(const struct json_value *v, const char *field, uint64_t *ret,
		       struct rpc_error *e);

#endif
