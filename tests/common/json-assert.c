/* JSON helpers shared by the cmocka tests (see json-assert.h): parsing that
 * fails the test, dotted paths, tracking of parsed objects, and calls over
 * the in-process daemon fixture. */
#include "config.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include <event2/bufferevent.h>

#include "tests/common/json-assert.h"

/* ------------------------------------------------------------ parsing */

static bool strict_parsing;

void tj_set_strict(bool strict)
{
	strict_parsing = strict;
}

struct json_object *tj_parse(const char *line)
{
	if (!line)
		fail_msg("no reply");
	if (!strict_parsing) {
		struct json_object *o = json_tokener_parse(line);
		if (!o)
			fail_msg("not JSON: %.200s", line);
		return o;
	}

	/* The length with the terminating NUL: strict mode then refuses
	 * anything after the value. */
	struct json_tokener *tok = json_tokener_new();
	if (!tok)
		fail_msg("out of memory");
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	struct json_object *o = json_tokener_parse_ex(tok, line, (int)strlen(line) + 1);
	bool ok = json_tokener_get_error(tok) == json_tokener_success;
	json_tokener_free(tok);
	if (!ok) {
		json_object_put(o);
		fail_msg("not JSON: %.200s", line);
	}
	if (!o)
		fail_msg("a null reply: %.200s", line);
	return o;
}

struct json_object *tj_path(struct json_object *o, const char *path)
{
	char buf[256];
	char *save = NULL;

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *t = strtok_r(buf, ".", &save); t && o; t = strtok_r(NULL, ".", &save)) {
		if (json_object_is_type(o, json_type_array)) {
			char *end;
			unsigned long i = strtoul(t, &end, 10);
			if (*end || i >= json_object_array_length(o))
				return NULL;
			o = json_object_array_get_idx(o, i);
		} else if (!json_object_is_type(o, json_type_object) ||
			   !json_object_object_get_ex(o, t, &o)) {
			return NULL;
		}
	}
	return o;
}

bool tj_has(struct json_object *o, const char *path)
{
	char buf[256];
	const char *dot = strrchr(path, '.');
	struct json_object *parent = o;

	if (dot) {
		snprintf(buf, sizeof(buf), "%.*s", (int)(dot - path), path);
		parent = tj_path(o, buf);
		path = dot + 1;
	}
	return json_object_is_type(parent, json_type_object) &&
	       json_object_object_get_ex(parent, path, NULL);
}

struct json_object *tj_member(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;
	if (!json_object_object_get_ex(o, key, &v))
		fail_msg("no member '%s' in %.300s", key, json_object_to_json_string(o));
	return v;
}

const char *tj_str(struct json_object *o, const char *path)
{
	struct json_object *v = tj_path(o, path);
	return json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

int64_t tj_int(struct json_object *o, const char *path)
{
	struct json_object *v = tj_path(o, path);
	if (!json_object_is_type(v, json_type_int))
		fail_msg("%s: no integer in %.2000s", path, json_object_to_json_string(o));
	return json_object_get_int64(v);
}

/* ------------------------------------------------------------ ownership */

static struct json_object *live[256];
static size_t n_live;

struct json_object *tj_track(struct json_object *o)
{
	if (n_live == sizeof(live) / sizeof(live[0]))
		fail_msg("too many JSON objects held at once");
	live[n_live++] = o;
	return o;
}

void tj_untrack(struct json_object *o)
{
	for (size_t i = n_live; i-- > 0;) {
		if (live[i] == o) {
			live[i] = live[--n_live];
			return;
		}
	}
}

void tj_put(struct json_object *o)
{
	tj_untrack(o);
	json_object_put(o);
}

void tj_put_all(void)
{
	while (n_live > 0)
		json_object_put(live[--n_live]);
}

int64_t tj_take_job_id(struct json_object *reply)
{
	struct json_object *id = tj_path(reply, "result.id");
	if (!json_object_is_type(id, json_type_int))
		fail_msg("submit failed: %s", json_object_to_json_string(reply));
	int64_t v = json_object_get_int64(id);
	tj_put(reply);
	return v;
}

struct json_object *tj_take_result(struct json_object *reply)
{
	struct json_object *r = tj_path(reply, "result");
	if (!r)
		fail_msg("an error reply: %.3000s", json_object_to_json_string(reply));
	tj_track(json_object_get(r));
	tj_put(reply);
	return r;
}

/* ------------------------------------------------------------ the fixture */

int tj_fixture_setup(void **state)
{
	*state = fixture_new(*state, 0);
	return 0;
}

int tj_fixture_teardown(void **state)
{
	tj_put_all();
	fixture_free(*state);
	return 0;
}

struct json_object *tj_recv(struct fixture *f, int timeout_ms)
{
	return tj_track(tj_parse(fixture_recv(f, timeout_ms)));
}

struct json_object *tj_recv_on(struct fixture *f, struct bufferevent *b, int timeout_ms)
{
	return tj_track(tj_parse(fixture_recv_on(f, b, timeout_ms)));
}

struct json_object *tj_call(struct fixture *f, const char *line)
{
	return tj_track(tj_parse(fixture_call(f, line)));
}

void tj_vformat(char *buf, size_t size, const char *fmt, va_list ap)
{
	int n = vsnprintf(buf, size, fmt, ap);
	assert_true(n > 0 && (size_t)n < size);
}

const char *tj_strf(const char *fmt, ...)
{
	static char bufs[16][PATH_MAX + 512];
	static unsigned next;
	char *b = bufs[next++ % 16];
	va_list ap;

	va_start(ap, fmt);
	tj_vformat(b, sizeof(bufs[0]), fmt, ap);
	va_end(ap);
	return b;
}

struct json_object *tj_callf(struct fixture *f, const char *fmt, ...)
{
	char line[8192];
	va_list ap;

	va_start(ap, fmt);
	tj_vformat(line, sizeof(line), fmt, ap);
	va_end(ap);
	return tj_call(f, line);
}

void tj_send_on(struct bufferevent *b, const char *line)
{
	bufferevent_write(b, line, strlen(line));
	bufferevent_write(b, "\n", 1);
}

struct json_object *tj_call_on(struct fixture *f, struct bufferevent *b, const char *line)
{
	tj_send_on(b, line);
	return tj_recv_on(f, b, 5000);
}

void tj_print_bytes(const char *what, const char *s, size_t len, const char *reason)
{
	char out[400];
	size_t o = 0;

	for (size_t i = 0; i < len && o + 8 < sizeof(out); i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c >= 0x7f)
			o += (size_t)snprintf(out + o, sizeof(out) - o, "\\x%02x", c);
		else
			out[o++] = (char)c;
	}
	out[o] = '\0';
	print_error("%s: %s%s%s (%zu bytes)\n", what, out, reason ? " -> " : "",
		    reason ? reason : "", len);
}
