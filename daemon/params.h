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

struct json_object;

/* Refuses fields not in `allowed` (NULL-terminated). */
int param_check_fields(struct json_object *obj, const char *const *allowed, struct rpc_error *e);

int param_number(struct json_object *obj, const char *name, bool required, double min,
		 double max, bool allow_fraction, double *ret, struct rpc_error *e);
int param_uint64(struct json_object *obj, const char *name, bool required, uint64_t *ret,
		 struct rpc_error *e);
/* Strings may not contain NUL; `max_len` counts bytes. */
int param_string(struct json_object *obj, const char *name, bool required, size_t max_len,
		 bool nonempty, const char **ret, size_t *ret_len, struct rpc_error *e);
int param_bool(struct json_object *obj, const char *name, bool *ret, struct rpc_error *e);
/* An array of job ids, 1..max long; *ret is allocated (caller frees). */
int param_id_array(struct json_object *obj, const char *name, bool required, size_t max,
		   uint64_t **ret, size_t *ret_n, struct rpc_error *e);

/* Checks a JSON value as a job id. */
int param_value_uint64(struct json_object *v, const char *field, uint64_t *ret,
		       struct rpc_error *e);

#endif
