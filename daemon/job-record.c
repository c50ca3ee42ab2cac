/* Jobs to records and back (job-record.h). The body is JSON written with
 * jsonw and read with the daemon's own parser: the spec is kept as given
 * and parsed again on restore by the same code that took it the first time,
 * so a restored job is exactly what its spec asks for under this daemon's
 * rules, and no second, restore-only reading of specs can drift from it. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/daemon.h"
#include "daemon/identity.h"
#include "daemon/job-record.h"
#include "daemon/job.h"
#include "daemon/xalloc.h"
#include "proto/json.h"
#include "proto/jsonw.h"

static char *value_text(const struct json_value *v, size_t *ret_len)
{
	struct jsonw w;
	char *text;

	jsonw_init(&w);
	jsonw_value(&w, v);
	text = jsonw_detach(&w, ret_len);
	jsonw_release(&w);
	if (!text)
		xalloc_die();
	/* Kept with the job for its life: at its size, not the writer's
	 * first 512 bytes (51 MB for a gather of 100,000 sleeps). */
	return xrealloc(text, *ret_len + 1);
}

char *job_record_spec_text(const struct json_value *spec, size_t *ret_len)
{
	return value_text(spec, ret_len);
}

/* ------------------------------------------------------------ encode */

void job_record_encode(const struct job *job, struct jsonw *w, struct job_record *ret)
{
	jsonw_reset(w);
	jsonw_object_begin(w);
	jsonw_literal_key(w, "spec");
	if (job->spec_text) {
		jsonw_raw_value(w, job->spec_text, job->spec_len);
	} else {
		/* Every job a client submits has its spec; one made otherwise
		 * (a test's) still makes a record that reads back, and that
		 * fails with `interrupted` if it was unfinished. */
		jsonw_object_begin(w);
		jsonw_literal_key(w, "type");
		jsonw_string(w, job->type->name);
		jsonw_object_end(w);
	}
	if (job->requester) {
		jsonw_literal_key(w, "gid");
		jsonw_uint(w, job->requester->gid);
		jsonw_literal_key(w, "groups");
		jsonw_array_begin(w);
		for (size_t i = 0; i < job->requester->n_groups; i++)
			jsonw_uint(w, job->requester->groups[i]);
		jsonw_array_end(w);
	}
	/* The time it was told to wait for, not the spec's delay: that
	 * would count again from the restart. */
	if (job->not_before_ms) {
		jsonw_literal_key(w, "not_before_ms");
		jsonw_int(w, job->not_before_ms);
	}
	if (job->gather_deadline_ms && !job_state_is_final(job->state)) {
		jsonw_literal_key(w, "gather_deadline_ms");
		jsonw_int(w, job->gather_deadline_ms);
		jsonw_literal_key(w, "gather_timeout");
		jsonw_double(w, job->gather_timeout);
	}
	/* What the type needs besides the spec to judge the job after a
	 * restart (job_type.record_write). */
	if (job->data && job->type->record_write)
		job->type->record_write(job, w);
	/* As job objects carry it on the wire. */
	job_write_outcome(job, w);
	jsonw_object_end(w);

	*ret = (struct job_record){
		.id = job->id,
		.type = job->type->name,
		.uid = job->uid,
		.state = job->state,
		.submitted_ms = job->submitted_ms,
		.started_ms = job->started_ms,
		.finished_ms = job->finished_ms,
		.key = job_key(job),
		.key_len = job->key_blob ? job->key_blob_len - sizeof(uid_t) : 0,
		.label = job->label,
		.body = w->buf,
		.body_len = w->len,
	};
}

void job_record_write_tidy_mark(struct jsonw *w)
{
	jsonw_literal_key(w, "tidy");
	jsonw_bool(w, true);
}

/* ------------------------------------------------------------ restore */

static int bad(char *err, size_t err_size, const struct job_record *rec, const char *why)
{
	snprintf(err, err_size, "job %llu: %s", (unsigned long long)rec->id, why);
	return -EINVAL;
}

/* The requester's identity: uid from the record, gid and groups from the
 * body (a record without them had none: a job no write ran for). */
static int restore_identity(const struct job_record *rec, const struct json_value *body,
			    struct identity **ret)
{
	const struct json_value *gid = json_get(body, "gid"), *groups = json_get(body, "groups");
	uint64_t g = 0;
	gid_t *list = NULL;
	size_t n = 0;

	if (!gid) {
		*ret = NULL;
		return 0;
	}
	if (!json_uint64(gid, &g) || g > UINT32_MAX || !groups || !json_is(groups, JSON_ARRAY))
		return -EINVAL;
	if (groups->len) {
		list = xmalloc(groups->len * sizeof(*list));
		for (uint32_t i = 0; i < groups->len; i++) {
			uint64_t x;
			if (!json_uint64(&groups->items[i], &x) || x > UINT32_MAX) {
				free(list);
				return -EINVAL;
			}
			list[n++] = (gid_t)x;
		}
	}
	*ret = identity_new(rec->uid, (gid_t)g, list, n);
	free(list);
	return 0;
}

int job_record_restore(struct daemon *d, const struct job_record *rec, struct job **ret,
		       char *err, size_t err_size)
{
	const struct job_type *type = job_type_find(rec->type);
	struct json_parser parser;
	const struct json_value *body, *spec, *v;
	struct identity *requester = NULL;
	struct job_controls ctl = { 0 };
	struct job *job = NULL;
	const char *why;
	void *data = NULL;
	int r;

	if (!type)
		return bad(err, err_size, rec, "unknown job type");
	if (rec->state > JOB_CANCELED)
		return bad(err, err_size, rec, "unknown state");
	/* As deep as anything the daemon takes or keeps (a fetch's JSON
	 * result is up to 128 deep, and the record wraps it): a result must
	 * never make the store unreadable. */
	json_parser_init(&parser, 1000);
	if (json_parse(&parser, rec->body, rec->body_len, &body, &why) < 0 ||
	    !json_is(body, JSON_OBJECT) || !(spec = json_get(body, "spec")) ||
	    !json_is(spec, JSON_OBJECT)) {
		json_parser_release(&parser);
		return bad(err, err_size, rec, "the body is not a job record");
	}
	if (restore_identity(rec, body, &requester) < 0) {
		json_parser_release(&parser);
		return bad(err, err_size, rec, "its groups are not a list of ids");
	}

	char reason[640] = "";
	bool final = job_state_is_final(rec->state);
	v = json_get(body, "tidy");
	bool tidy = final && json_is(v, JSON_BOOL) && v->boolean;
	if (!final || tidy) {
		/* Parsed again, under this daemon's rules: what the type needs
		 * to go on (or to tidy) comes from the spec, as the first time. */
		const struct job_type *parsed;
		struct rpc_error e = { 0 };
		d->restoring = true;
		r = job_spec_parse(d, spec, true, requester, &parsed, &data, &ctl, &e);
		d->restoring = false;
		if (r == 0 && parsed != type) {
			/* A record that says one type and holds another's spec
			 * is not one this daemon wrote. */
			parsed->free_data(data);
			identity_unref(requester);
			json_parser_release(&parser);
			return bad(err, err_size, rec, "its spec is of another type than the record");
		}
		if (r < 0 && final) {
			/* What it left cannot be reached under this daemon's
			 * rules; the job itself stands as it ended. */
			data = NULL;
			ctl = (struct job_controls){ 0 };
		} else if (r < 0) {
			snprintf(reason, sizeof(reason), "asyncjobd restarted and no longer takes "
				 "its spec: %s%s%s", e.field[0] ? e.field : "", e.field[0] ? ": " : "",
				 e.message);
			data = NULL;
			ctl = (struct job_controls){ 0 };
		}
	}
	/* The label and key as recorded (a finished job's spec is not parsed
	 * again: only its result or error is needed). */
	ctl.label = rec->label;
	ctl.key = rec->key;
	ctl.key_len = rec->key_len;
	if (!ctl.timeout && (v = json_get(spec, "timeout")) && json_is(v, JSON_NUMBER))
		ctl.timeout = json_double(v);
	ctl.requester = requester;
	ctl.spec = spec;
	job = job_restored(d, rec->id, type, data, rec->uid, &ctl);
	identity_unref(requester);

	job->submitted_ms = rec->submitted_ms;
	job->started_ms = rec->started_ms;
	if (!(v = json_get(body, "not_before_ms")) || !json_int64(v, &job->not_before_ms))
		job->not_before_ms = 0;
	if (!job_state_is_final(rec->state) && (v = json_get(body, "gather_deadline_ms")) &&
	    json_int64(v, &job->gather_deadline_ms) && (v = json_get(body, "gather_timeout")) &&
	    json_is(v, JSON_NUMBER))
		job->gather_timeout = json_double(v);
	else
		job->gather_deadline_ms = 0;
	job->finished_ms = rec->finished_ms;
	job->state = rec->state;
	if (job->data && type->record_read && type->record_read(job, body) < 0) {
		job_unref(job);
		json_parser_release(&parser);
		return bad(err, err_size, rec, "its type's evidence cannot be read");
	}
	if (reason[0]) {
		/* Still in its state, with no data: recovery fails it with
		 * this message, a change the store then records. */
		job->error_code = JOB_ERR_INTERRUPTED;
		job->error_message = xstrdup(reason);
	} else if (rec->state == JOB_SUCCEEDED) {
		if (!(v = json_get(body, "result"))) {
			job_unref(job);
			json_parser_release(&parser);
			return bad(err, err_size, rec, "it succeeded but has no result");
		}
		job->result_text = value_text(v, &job->result_len);
	} else if (job_state_is_final(rec->state)) {
		const struct json_value *e = json_get(body, "error"), *code, *message;
		enum job_error c;
		if (!e || !(code = json_get(e, "code")) || !json_is(code, JSON_STRING) ||
		    job_error_from_name(code->str, &c) < 0) {
			job_unref(job);
			json_parser_release(&parser);
			return bad(err, err_size, rec, "it failed but has no known error code");
		}
		message = json_get(e, "message");
		job->error_code = c;
		job->error_message = xstrdup(message && json_is(message, JSON_STRING) ? message->str : "");
	}
	json_parser_release(&parser);
	*ret = job;
	return 0;
}
