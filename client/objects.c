/* libasyncjob's value types: job specs, job objects, replies and events. */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "client/internal.h"
#include "proto/base64.h"
#include "proto/json.h"
#include "proto/jsonw.h"
#include "proto/protocol.h"

/* ------------------------------------------------------------ specs */

static int spec_new(struct json_object *obj, asyncjob_spec **ret)
{
	asyncjob_spec *s = calloc(1, sizeof(*s));
	if (!s) {
		json_object_put(obj);
		return -ENOMEM;
	}
	s->obj = obj;
	*ret = s;
	return 0;
}

static void spec_changed(asyncjob_spec *s)
{
	free(s->text);
	s->text = NULL;
}

static int spec_put(asyncjob_spec *s, const char *field, struct json_object *v, bool may_be_null)
{
	if (!s || !field || (!v && !may_be_null))
		return -ENOMEM;
	if (json_object_object_add(s->obj, field, v) < 0) {
		json_object_put(v);
		return -ENOMEM;
	}
	spec_changed(s);
	return 0;
}

/* A new spec {"type": TYPE}. */
static int spec_of_type(const char *type, asyncjob_spec **ret)
{
	struct json_object *o = json_object_new_object();
	asyncjob_spec *s;
	int r;

	if (!o)
		return -ENOMEM;
	r = spec_new(o, &s);
	if (r < 0)
		return r;
	r = asyncjob_spec_set_string(s, "type", type);
	if (r < 0) {
		asyncjob_spec_free(s);
		return r;
	}
	*ret = s;
	return 0;
}

ASYNCJOB_EXPORT int asyncjob_spec_sleep(double seconds, const char *message, asyncjob_spec **ret)
{
	asyncjob_spec *s;
	int r;

	if (!isfinite(seconds) || seconds < 0)
		return -EINVAL;
	if ((r = spec_of_type("sleep", &s)) < 0)
		return r;
	if ((r = asyncjob_spec_set_number(s, "seconds", seconds)) < 0 ||
	    (message && (r = asyncjob_spec_set_string(s, "message", message)) < 0)) {
		asyncjob_spec_free(s);
		return r;
	}
	*ret = s;
	return 0;
}

/* Parses `json` as exactly one JSON value, as strictly as the daemon will. */
int aj_parse_value(const char *json, struct json_object **ret)
{
	struct json_parser parser;
	const struct json_value *v;
	const char *reason;
	int r;

	/* As strictly as the daemon reads it; then json-c builds the object
	 * the spec is kept as (valid JSON, so json-c agrees). */
	json_parser_init(&parser, 512);
	r = json_parse(&parser, json, strlen(json), &v, &reason);
	bool is_null = r == 0 && v->type == JSON_NULL;
	json_parser_release(&parser);
	if (r < 0)
		return r;
	*ret = json_tokener_parse(json);
	if (!*ret && !is_null)
		return -ENOMEM;
	return 0;
}

ASYNCJOB_EXPORT int asyncjob_spec_fetch(const char *url, asyncjob_spec **ret)
{
	asyncjob_spec *s;
	int r;

	if (!url)
		return -EINVAL;
	if ((r = spec_of_type("fetch", &s)) < 0)
		return r;
	if ((r = asyncjob_spec_set_string(s, "url", url)) < 0) {
		asyncjob_spec_free(s);
		return r;
	}
	*ret = s;
	return 0;
}

/* JSON strings carry any UTF-8; NUL is possible (\u0000), but base64 says
 * "bytes" more plainly. */
static bool text_safe(const unsigned char *p, size_t n)
{
	return !memchr(p, 0, n) && utf8_valid(p, n);
}

ASYNCJOB_EXPORT int asyncjob_spec_write(const char *path, const void *content, size_t size,
					asyncjob_spec **ret)
{
	struct json_object *v;
	asyncjob_spec *s;
	int r;

	if (!path || (!content && size))
		return -EINVAL;
	if ((r = spec_of_type("write", &s)) < 0)
		return r;
	if ((r = asyncjob_spec_set_string(s, "path", path)) < 0)
		goto fail;
	if (text_safe(content, size)) {
		v = json_object_new_string_len(size ? content : "", (int)size);
		r = spec_put(s, "content", v, false);
	} else {
		char *enc = malloc(base64_encoded_size(size) + 1);
		if (!enc) {
			r = -ENOMEM;
			goto fail;
		}
		size_t n = base64_encode(content, size, enc);
		v = json_object_new_string_len(enc, (int)n);
		free(enc);
		r = spec_put(s, "content_base64", v, false);
	}
	if (r < 0)
		goto fail;
	*ret = s;
	return 0;
fail:
	asyncjob_spec_free(s);
	return r;
}

ASYNCJOB_EXPORT int asyncjob_spec_from_json(const char *json, asyncjob_spec **ret)
{
	struct json_object *o = NULL;

	if (aj_parse_value(json, &o) < 0 || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return -EINVAL;
	}
	return spec_new(o, ret);
}

ASYNCJOB_EXPORT int asyncjob_spec_set_string(asyncjob_spec *spec, const char *field,
					     const char *value)
{
	if (!value)
		return -EINVAL;
	return spec_put(spec, field, json_object_new_string(value), false);
}

ASYNCJOB_EXPORT int asyncjob_spec_set_number(asyncjob_spec *spec, const char *field, double value)
{
	if (!isfinite(value))
		return -EINVAL;
	/* Whole numbers go as integers: a daemon field such as max_bytes may
	 * insist on one. */
	if (value == floor(value) && fabs(value) < 9007199254740992.0)
		return spec_put(spec, field, json_object_new_int64((int64_t)value), false);
	return spec_put(spec, field, json_object_new_double(value), false);
}

ASYNCJOB_EXPORT int asyncjob_spec_set_bool(asyncjob_spec *spec, const char *field, bool value)
{
	return spec_put(spec, field, json_object_new_boolean(value), false);
}

ASYNCJOB_EXPORT int asyncjob_spec_set_json(asyncjob_spec *spec, const char *field, const char *json)
{
	struct json_object *v = NULL;

	if (aj_parse_value(json, &v) < 0)
		return -EINVAL;
	return spec_put(spec, field, v, true);
}

ASYNCJOB_EXPORT int asyncjob_spec_set_label(asyncjob_spec *spec, const char *label)
{
	return asyncjob_spec_set_string(spec, "label", label);
}

ASYNCJOB_EXPORT int asyncjob_spec_set_timeout(asyncjob_spec *spec, double seconds)
{
	return asyncjob_spec_set_number(spec, "timeout", seconds);
}

ASYNCJOB_EXPORT int asyncjob_spec_set_key(asyncjob_spec *spec, const char *key)
{
	return asyncjob_spec_set_string(spec, "key", key);
}

static const char *spec_text(const asyncjob_spec *spec, size_t *ret_len)
{
	asyncjob_spec *s = (asyncjob_spec *)spec;   /* the cache is not the value */
	if (!s->text) {
		size_t n;
		const char *t = json_object_to_json_string_length(s->obj,
			JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &n);
		if (!t || !(s->text = malloc(n + 1)))
			return NULL;
		memcpy(s->text, t, n + 1);
		s->text_len = n;
	}
	if (ret_len)
		*ret_len = s->text_len;
	return s->text;
}

ASYNCJOB_EXPORT const char *asyncjob_spec_json(const asyncjob_spec *spec)
{
	return spec_text(spec, NULL);
}

bool aj_spec_has_key(const asyncjob_spec *spec)
{
	return json_object_object_get_ex(spec->obj, "key", NULL);
}

void aj_write_spec(struct jsonw *w, const asyncjob_spec *spec, unsigned flags, const char *key)
{
	size_t len;
	const char *t = spec_text(spec, &len);
	bool first = len <= 2;

	if (!t) {
		w->failed = true;
		return;
	}
	if (!(flags & (ASYNCJOB_WAIT | ASYNCJOB_CANCEL_ON_DISCONNECT)) && !key) {
		jsonw_raw_value(w, t, len);
		return;
	}
	/* The additions go last so they win over the same fields in the spec. */
	jsonw_raw_value(w, t, len - 1);
	if (flags & ASYNCJOB_WAIT) {
		jsonw_raw(w, first ? "" : ",", first ? 0 : 1);
		jsonw_raw(w, "\"wait\":true", 11);
		first = false;
	}
	if (flags & ASYNCJOB_CANCEL_ON_DISCONNECT) {
		jsonw_raw(w, first ? "" : ",", first ? 0 : 1);
		jsonw_raw(w, "\"cancel_on_disconnect\":true", 27);
		first = false;
	}
	if (key) {
		/* Keys made here are letters, digits and dashes: nothing to
		 * escape. */
		jsonw_raw(w, first ? "" : ",", first ? 0 : 1);
		jsonw_raw(w, "\"key\":\"", 7);
		jsonw_raw(w, key, strlen(key));
		jsonw_raw(w, "\"", 1);
	}
	jsonw_raw(w, "}", 1);
}

ASYNCJOB_EXPORT asyncjob_spec *asyncjob_spec_free(asyncjob_spec *spec)
{
	if (!spec)
		return NULL;
	json_object_put(spec->obj);
	free(spec->text);
	free(spec);
	return NULL;
}

/* ------------------------------------------------------------ jobs */

static const char *member_string(const struct json_value *o, const char *name)
{
	const struct json_value *v = json_get(o, name);
	return json_is(v, JSON_STRING) ? v->str : NULL;
}

char *aj_json_text(const struct json_value *v)
{
	struct jsonw w;
	char *text;

	jsonw_init(&w);
	if (v)
		jsonw_value(&w, v);
	else
		jsonw_null(&w);
	jsonw_raw(&w, "", 1);   /* the terminating NUL */
	text = w.failed ? NULL : w.buf;
	if (!text)
		jsonw_release(&w);
	return text;
}

ASYNCJOB_EXPORT const char *asyncjob_state_name(asyncjob_state state)
{
	if (state < 0 || state >= JOB_STATE_COUNT)
		return "unknown";
	return job_state_name((enum job_state)state);
}

ASYNCJOB_EXPORT bool asyncjob_state_is_final(asyncjob_state state)
{
	return state == ASYNCJOB_SUCCEEDED || state == ASYNCJOB_FAILED || state == ASYNCJOB_CANCELED;
}

static bool key_is(const struct json_value *m, const char *name, size_t len)
{
	return m->key_len == len && memcmp(m->key, name, len) == 0;
}

#define KEY_IS(m, literal) key_is((m), literal, sizeof(literal) - 1)

/* The id and the state, read once: one pass over the members (a reply may
 * hold 100,000 jobs); a repeated member counts last, as json_get would have
 * it. Returns whether the job has an id. */
static bool read_job_members(asyncjob_job *job)
{
	const struct json_value *obj = job->obj, *state = NULL;
	bool has_id = false;
	enum job_state st;

	for (uint32_t i = 0; i < obj->len; i++) {
		const struct json_value *m = &obj->items[i];
		if (KEY_IS(m, "id"))
			has_id = json_uint64(m, &job->id);
		else if (KEY_IS(m, "state"))
			state = m;
	}
	job->state = json_is(state, JSON_STRING) && job_state_from_name(state->str, &st) == 0
			     ? (asyncjob_state)st
			     : ASYNCJOB_STATE_UNKNOWN;
	return has_id;
}

int aj_job_new(const struct json_value *obj, struct json_tree *tree, asyncjob_job **ret)
{
	asyncjob_job *job;

	if (!json_is(obj, JSON_OBJECT))
		return -EBADMSG;
	job = calloc(1, sizeof(*job));
	if (!job)
		return -ENOMEM;
	job->refs = 1;
	if (tree) {
		job->tree = json_tree_ref(tree);
		job->obj = obj;
	} else {
		/* The reply it came in goes away after the callback: keep a copy. */
		job->copy = json_clone(obj);
		if (!job->copy) {
			free(job);
			return -ENOMEM;
		}
		job->obj = job->copy;
	}
	if (!read_job_members(job)) {
		asyncjob_job_unref(job);
		return -EBADMSG;
	}
	*ret = job;
	return 0;
}

/* Lists long enough that sharing the reply's tree beats a copy per job. */
#define SHARE_TREE_MIN_JOBS 16

int aj_jobs_from_reply(asyncjob_reply *reply, asyncjob_job ***ret, size_t *ret_n)
{
	const struct json_value *list = json_get(reply->result, "jobs");
	asyncjob_job **jobs;

	if (!json_is(list, JSON_ARRAY))
		return -EBADMSG;
	jobs = calloc(list->len + 1, sizeof(*jobs));
	if (!jobs)
		return -ENOMEM;
	if (!reply->tree && reply->parser && list->len >= SHARE_TREE_MIN_JOBS)
		reply->tree = json_parser_take_tree(reply->parser);
	for (uint32_t i = 0; i < list->len; i++) {
		int r = aj_job_new(&list->items[i], reply->tree, &jobs[i]);
		if (r < 0) {
			asyncjob_jobs_free(jobs);
			return r;
		}
	}
	*ret = jobs;
	if (ret_n)
		*ret_n = list->len;
	return 0;
}

ASYNCJOB_EXPORT uint64_t asyncjob_job_id(const asyncjob_job *job) { return job->id; }
ASYNCJOB_EXPORT const char *asyncjob_job_type(const asyncjob_job *job) { return member_string(job->obj, "type"); }
ASYNCJOB_EXPORT asyncjob_state asyncjob_job_state(const asyncjob_job *job) { return job->state; }
ASYNCJOB_EXPORT const char *asyncjob_job_label(const asyncjob_job *job) { return member_string(job->obj, "label"); }
ASYNCJOB_EXPORT const char *asyncjob_job_submitted_at(const asyncjob_job *job) { return member_string(job->obj, "submitted_at"); }
ASYNCJOB_EXPORT const char *asyncjob_job_started_at(const asyncjob_job *job) { return member_string(job->obj, "started_at"); }
ASYNCJOB_EXPORT const char *asyncjob_job_finished_at(const asyncjob_job *job) { return member_string(job->obj, "finished_at"); }

static const struct json_value *job_error(const asyncjob_job *job)
{
	const struct json_value *err = json_get(job->obj, "error");
	return json_is(err, JSON_OBJECT) ? err : NULL;
}

ASYNCJOB_EXPORT const char *asyncjob_job_error_code(const asyncjob_job *job)
{
	const struct json_value *err = job_error(job);
	return err ? member_string(err, "code") : NULL;
}

ASYNCJOB_EXPORT const char *asyncjob_job_error_message(const asyncjob_job *job)
{
	const struct json_value *err = job_error(job);
	return err ? member_string(err, "message") : NULL;
}

/* The result object, or NULL. */
static const struct json_value *job_result(const asyncjob_job *job)
{
	return json_get(job->obj, "result");
}

static const char *cached_text(char **cache, const struct json_value *v)
{
	if (!*cache)
		*cache = aj_json_text(v);
	return *cache;
}

ASYNCJOB_EXPORT const char *asyncjob_job_result_json(const asyncjob_job *job)
{
	const struct json_value *result = job_result(job);
	if (!result)
		return NULL;
	return cached_text(&((asyncjob_job *)job)->result_text, result);
}

ASYNCJOB_EXPORT const char *asyncjob_job_json(const asyncjob_job *job)
{
	return cached_text(&((asyncjob_job *)job)->text, job->obj);
}

ASYNCJOB_EXPORT const char *asyncjob_job_result_string(const asyncjob_job *job, const char *field)
{
	const struct json_value *result = job_result(job);
	return json_is(result, JSON_OBJECT) ? member_string(result, field) : NULL;
}

ASYNCJOB_EXPORT int asyncjob_job_result_number(const asyncjob_job *job, const char *field,
					       double *ret)
{
	const struct json_value *result = job_result(job);
	const struct json_value *v = json_is(result, JSON_OBJECT) ? json_get(result, field) : NULL;
	if (!json_is(v, JSON_NUMBER))
		return -ENOENT;
	*ret = json_double(v);
	return 0;
}

ASYNCJOB_EXPORT asyncjob_job *asyncjob_job_ref(asyncjob_job *job)
{
	if (job)
		job->refs++;
	return job;
}

ASYNCJOB_EXPORT asyncjob_job *asyncjob_job_unref(asyncjob_job *job)
{
	if (!job || --job->refs > 0)
		return NULL;
	free(job->copy);
	json_tree_unref(job->tree);
	free(job->result_text);
	free(job->text);
	free(job);
	return NULL;
}

ASYNCJOB_EXPORT void asyncjob_jobs_free(asyncjob_job **jobs)
{
	if (!jobs)
		return;
	for (asyncjob_job **j = jobs; *j; j++)
		asyncjob_job_unref(*j);
	free(jobs);
}

/* ------------------------------------------------------------ replies */

ASYNCJOB_EXPORT int asyncjob_reply_status(const asyncjob_reply *r) { return r->status; }
ASYNCJOB_EXPORT int asyncjob_reply_error_code(const asyncjob_reply *r) { return r->error_code; }

ASYNCJOB_EXPORT const char *asyncjob_reply_error_message(const asyncjob_reply *r)
{
	if (r->status == 0)
		return NULL;
	if (r->status == -EREMOTEIO)
		return r->error_message;
	return r->status == -ECANCELED ? "the connection handle was freed"
				       : "the connection to the daemon was lost";
}

ASYNCJOB_EXPORT const char *asyncjob_reply_error_data(const asyncjob_reply *r)
{
	if (!r->error_data)
		return NULL;
	return cached_text(&((asyncjob_reply *)r)->data_text, r->error_data);
}

ASYNCJOB_EXPORT const char *asyncjob_reply_result_json(const asyncjob_reply *r)
{
	if (r->status != 0)
		return NULL;
	if (!r->result)
		return "null";
	return cached_text(&((asyncjob_reply *)r)->result_text, r->result);
}

ASYNCJOB_EXPORT int asyncjob_reply_job(const asyncjob_reply *r, asyncjob_job **ret_job)
{
	if (r->status != 0)
		return r->status;
	return aj_job_new(r->result, r->tree, ret_job);
}

ASYNCJOB_EXPORT int asyncjob_reply_jobs(const asyncjob_reply *r, asyncjob_job ***ret_jobs,
					size_t *ret_n)
{
	if (r->status != 0)
		return r->status;
	/* The reply is the library's: taking its tree is no change the
	 * caller can see. */
	return aj_jobs_from_reply((asyncjob_reply *)r, ret_jobs, ret_n);
}

ASYNCJOB_EXPORT bool asyncjob_reply_flag(const asyncjob_reply *r, const char *name)
{
	const struct json_value *v = r->status == 0 ? json_get(r->result, name) : NULL;
	return json_is(v, JSON_BOOL) && v->boolean;
}

/* ------------------------------------------------------------ events */

ASYNCJOB_EXPORT const char *asyncjob_event_method(const asyncjob_event *ev) { return ev->method; }
ASYNCJOB_EXPORT uint64_t asyncjob_event_seq(const asyncjob_event *ev) { return ev->seq; }
ASYNCJOB_EXPORT const asyncjob_job *asyncjob_event_job(const asyncjob_event *ev) { return ev->job; }

ASYNCJOB_EXPORT const char *asyncjob_event_params_json(const asyncjob_event *ev)
{
	if (!ev->params)
		return "null";
	return cached_text(&((asyncjob_event *)ev)->params_text, ev->params);
}

ASYNCJOB_EXPORT asyncjob_event *asyncjob_event_free(asyncjob_event *ev)
{
	if (!ev)
		return NULL;
	free(ev->method);
	free(ev->params);
	asyncjob_job_unref(ev->job);
	free(ev->params_text);
	free(ev);
	return NULL;
}
