/* Helpers for the integration tests that run jobs (see jobs.h). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/common/jobs.h"

/* ------------------------------------------------------------ the daemon */

void jobs_init(struct jobs_daemon *d)
{
	memset(d, 0, sizeof(*d));
	d->fd = -1;
}

void jobs_start(struct jobs_daemon *d, const char *fmt, ...)
{
	char config[4096] = "";

	if (fmt) {
		va_list ap;
		va_start(ap, fmt);
		tj_vformat(config, sizeof(config), fmt, ap);
		va_end(ap);
	}
	harness_start(&d->proc, config);
	d->fd = raw_connect(d->proc.socket);
	assert_true(d->fd >= 0);
}

int jobs_connect(struct jobs_daemon *d)
{
	assert_true(d->n_extra < sizeof(d->extra) / sizeof(d->extra[0]));
	int fd = raw_connect(d->proc.socket);
	assert_true(fd >= 0);
	d->extra[d->n_extra++] = fd;
	return fd;
}

int jobs_stop(struct jobs_daemon *d, int timeout_ms)
{
	int status = 0;

	if (d->fd >= 0)
		raw_close(d->fd);
	for (size_t i = 0; i < d->n_extra; i++)
		raw_close(d->extra[i]);
	if (d->proc.pid > 0)
		status = harness_stop(&d->proc, timeout_ms);
	if (d->proc.dir[0])
		harness_cleanup(&d->proc);
	jobs_init(d);
	return status;
}

/* ------------------------------------------------------------ calls */

static int reply_ms = 60000;
static int64_t next_id = 1;

void jobs_set_reply_ms(int ms)
{
	reply_ms = ms;
}

int64_t jobs_next_id(void)
{
	return next_id++;
}

char *jobs_request_text(int64_t id, const char *method, struct json_object *params)
{
	struct json_object *req = json_object_new_object();

	json_object_object_add(req, "jsonrpc", json_object_new_string("2.0"));
	json_object_object_add(req, "id", json_object_new_int64(id));
	json_object_object_add(req, "method", json_object_new_string(method));
	if (params)
		json_object_object_add(req, "params", params);
	char *s = strdup(json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN));
	json_object_put(req);
	assert_non_null(s);
	return s;
}

struct json_object *jobs_recv_reply(int fd, int64_t id, const char *what)
{
	for (;;) {
		const char *line = raw_recv(fd, reply_ms);
		if (!line)
			fail_msg("no reply to %s (the connection closed, or %d ms passed)", what,
				 reply_ms);
		struct json_object *o = tj_track(tj_parse(line));
		struct json_object *v;
		if (json_object_object_get_ex(o, "id", &v) && json_object_is_type(v, json_type_int) &&
		    json_object_get_int64(v) == id)
			return o;
		tj_put(o);
	}
}

struct json_object *jobs_call(int fd, const char *method, struct json_object *params)
{
	int64_t id = jobs_next_id();
	char *text = jobs_request_text(id, method, params);
	int r = raw_send(fd, text);
	free(text);
	assert_int_equal(r, 0);
	return jobs_recv_reply(fd, id, method);
}

struct json_object *jobs_callf(int fd, const char *method, const char *fmt, ...)
{
	char text[16384];
	va_list ap;

	va_start(ap, fmt);
	tj_vformat(text, sizeof(text), fmt, ap);
	va_end(ap);
	return jobs_call(fd, method, tj_parse(text));
}

struct json_object *jobs_daemon_info(struct jobs_daemon *d)
{
	return tj_take_result(jobs_call(d->fd, "daemon.info", NULL));
}

void jobs_assert_serves(struct jobs_daemon *d)
{
	int fd = jobs_connect(d);
	struct json_object *info = tj_take_result(jobs_call(fd, "daemon.info", NULL));
	assert_non_null(tj_str(info, "version"));
	tj_put(info);
}

/* ------------------------------------------------------------ checks */

const char *jobs_check(struct json_object *job, const char *state, const char *code,
		       const char *needle)
{
	static char why[4096];
	const char *st = tj_str(job, "state"), *c = tj_str(job, "error.code"),
		   *m = tj_str(job, "error.message");

	if (!st || strcmp(st, state) != 0) {
		snprintf(why, sizeof(why), "job state %s, expected %s: %.3500s", st ? st : "(none)",
			 state, json_object_to_json_string(job));
		return why;
	}
	if (!code) {
		if (tj_path(job, "error")) {
			snprintf(why, sizeof(why), "an error in a %s job: %.3500s", state,
				 json_object_to_json_string(job));
			return why;
		}
		if (!strcmp(state, "succeeded") &&
		    !json_object_is_type(tj_path(job, "result"), json_type_object)) {
			snprintf(why, sizeof(why), "no result: %.3500s", json_object_to_json_string(job));
			return why;
		}
		return NULL;
	}
	if (!c || strcmp(c, code) != 0) {
		snprintf(why, sizeof(why), "error code %s, expected %s: %.3500s", c ? c : "(none)", code,
			 json_object_to_json_string(job));
		return why;
	}
	if (!m || !*m || (needle && !strstr(m, needle))) {
		snprintf(why, sizeof(why), "error message \"%s\" does not mention \"%s\"", m ? m : "",
			 needle ? needle : "anything");
		return why;
	}
	if (tj_path(job, "result")) {
		snprintf(why, sizeof(why), "a result in a %s job: %.3500s", state,
			 json_object_to_json_string(job));
		return why;
	}
	return NULL;
}

const char *jobs_check_rpc_error(struct json_object *reply, int code, const char *field,
				 const char *needle)
{
	static char why[4096];
	struct json_object *c = tj_path(reply, "error.code");
	const char *f = tj_str(reply, "error.data.field"), *m = tj_str(reply, "error.message");

	if (!json_object_is_type(c, json_type_int) || json_object_get_int(c) != code) {
		snprintf(why, sizeof(why), "expected RPC error %d: %.3500s", code,
			 json_object_to_json_string(reply));
		return why;
	}
	if (field && (!f || strcmp(f, field) != 0)) {
		snprintf(why, sizeof(why), "data.field %s, expected %s: %.3500s", f ? f : "(none)",
			 field, json_object_to_json_string(reply));
		return why;
	}
	if (!m || (needle && !strstr(m, needle))) {
		snprintf(why, sizeof(why), "error message \"%s\" does not mention \"%s\"", m ? m : "",
			 needle ? needle : "");
		return why;
	}
	return NULL;
}
