/* libFuzzer target for the request path: the input is raw stream data on a
 * client connection of an in-process daemon; every line that comes back must
 * be a well-formed JSON-RPC 2.0 response, batch of responses or notification.
 * The first byte picks the variant (see tests/fuzz/README.md). */
#include "config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <json-c/json.h>

#include "daemon/conf.h"
#include "daemon/confine.h"
#include "daemon/conn.h"
#include "daemon/daemon.h"
#include "daemon/netfilter.h"
#include "tests/common/daemon-fixture.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The first input byte XOR '@' (0x40) holds these bits, so that '@' is the
 * plain variant and the letters A-O of the seed files set bits 0-3. */
#define MODE_XOR          0x40
#define MODE_LONG_SLEEPS  0x01  /* jobs may outlive the input; fixture_free ends them */
#define MODE_SUBSCRIBE    0x02  /* subscribe to events before the input */
#define MODE_ADMIN        0x04  /* the client is root */
#define MODE_SPLIT        0x08  /* two feeds, split at a point given by bits 4-7 */
#define MODE_TIGHT        0x10  /* tiny retention, per-user and size limits */
#define MODE_OBSERVER     0x20  /* another user subscribes and must hear nothing */
#define MODE_SLOW_READER  0x40  /* replies are read only at the end */
#define MODE_HANG_UP      0x80  /* the client hangs up after the input */

#define CLIENT_UID   1000
#define OBSERVER_UID 2000

/* Sleeps in the short variant end within this; the iteration waits for them. */
#define SHORT_SLEEP_MAX 0.002
#define SETTLE_LIMIT_SECONDS 0.25

static const char subscribe_line[] =
	"{\"jsonrpc\":\"2.0\",\"id\":\"fuzz-sub\",\"method\":\"events.subscribe\","
	"\"params\":{\"since\":0}}\n";

static _Noreturn void bug(const char *what, const char *line, size_t len)
{
	fprintf(stderr, "fuzz-request: %s\n  line: %.*s\n", what, (int)(len > 2000 ? 2000 : len),
		line ? line : "");
	abort();
}

/* fixture_new() without its temporary config file, which costs more than
 * the rest of an iteration: the limits are set on the config directly. They
 * are those of a config file with
 *   max_request_bytes = 4096, max_gather_jobs = 16, max_active_jobs = 64,
 *   max_pending_requests = 32, event_history = 64, max_list_jobs = 50,
 *   max_output_bytes = 64K, max_sleep_seconds = 0.002 (3600 with
 *   MODE_LONG_SLEEPS)
 * plus, with MODE_TIGHT, max_retained_jobs = 2, retain_seconds = 0,
 *   max_active_jobs_per_user = 8, max_label_bytes = 8, max_message_bytes = 16,
 *   max_list_jobs = 3.
 * The rest (connections, sending, the loop, fixture_free) is the fixture's. */
/* Fetch jobs must not reach the network, nor write jobs the home directory:
 * every connection is denied (the proxy, a literal loopback address, saves
 * even a DNS lookup), and files go to a private directory made once. */
static void keep_jobs_local(struct config *c)
{
	static struct write_roots *roots;
	char err[256], warn[256];

	if (!roots) {
		static char dir[] = "/tmp/asyncjob-fuzz-XXXXXX";
		char *paths[1] = { mkdtemp(dir) };
		if (!paths[0] || write_roots_open(paths, 1, &roots, err, sizeof(err), warn,
						  sizeof(warn)) < 0)
			bug("cannot make the fuzzer's write root", NULL, 0);
	}
	write_roots_unref(c->roots);
	c->roots = write_roots_ref(roots);
	if (netfilter_parse("0.0.0.0/0 ::/0", &c->deny_networks, err, sizeof(err)) < 0)
		bug("cannot deny the network", NULL, 0);
	c->proxy = strdup("http://127.0.0.1:9");
}

static struct fixture *new_fixture(unsigned mode)
{
	char error[CONFIG_ERROR_MAX];
	struct fixture *f = calloc(1, sizeof(*f));
	struct config *c;

	/* Only problems are logged, from the start (config_load() may warn). */
	log_set_level(LOG_LEVEL_ERR);
	if (!f || config_load(NULL, false, NULL, &c, error) < 0)
		bug("cannot create a fixture", NULL, 0);
	c->log_level = LOG_LEVEL_ERR;
	keep_jobs_local(c);
	c->limits.max_request_bytes = 4096;
	c->limits.max_gather_jobs = 16;
	c->limits.max_active_jobs = 64;
	c->limits.max_active_jobs_per_user = 64;
	c->limits.max_pending_requests = 32;
	c->limits.event_history = 64;
	c->limits.max_list_jobs = 50;
	c->limits.max_output_bytes = 65536;
	c->limits.max_sleep_seconds = (mode & MODE_LONG_SLEEPS) ? 3600 : SHORT_SLEEP_MAX;
	if (mode & MODE_TIGHT) {
		c->limits.max_retained_jobs = 2;
		c->limits.retain_seconds = 0;
		c->limits.max_active_jobs_per_user = 8;
		c->limits.max_label_bytes = 8;
		c->limits.max_message_bytes = 16;
		c->limits.max_list_jobs = 3;
	}
	f->base = daemon_event_base_new();
	if (!f->base)
		bug("cannot create an event base", NULL, 0);
	f->d = daemon_new(f->base, c);
	f->client = fixture_connect(f, (mode & MODE_ADMIN) ? 0 : CLIENT_UID, &f->conn);
	return f;
}

/* ------------------------------------------------------------ RFC 8259 syntax
 * An independent strict checker, so that json-c's leniencies cannot hide a
 * malformed reply. */

struct scan {
	const unsigned char *p, *end;
	unsigned depth;
};

static void skip_ws(struct scan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
		s->p++;
}

static bool literal(struct scan *s, const char *word)
{
	size_t n = strlen(word);
	if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0)
		return false;
	s->p += n;
	return true;
}

static bool digits(struct scan *s)
{
	const unsigned char *start = s->p;
	while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
		s->p++;
	return s->p > start;
}

static bool number(struct scan *s)
{
	if (s->p < s->end && *s->p == '-')
		s->p++;
	if (s->p < s->end && *s->p == '0')
		s->p++;
	else if (s->p >= s->end || *s->p < '1' || *s->p > '9' || !digits(s))
		return false;
	if (s->p < s->end && *s->p == '.') {
		s->p++;
		if (!digits(s))
			return false;
	}
	if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
		s->p++;
		if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
			s->p++;
		if (!digits(s))
			return false;
	}
	return true;
}

static bool is_hex(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* One UTF-8 sequence: no overlong forms, surrogates or code points past
 * U+10FFFF. */
static bool utf8(struct scan *s)
{
	unsigned char c = *s->p;
	size_t n;
	uint32_t cp;

	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		cp = c & 0x07;
	} else {
		return false;
	}
	if ((size_t)(s->end - s->p) < n)
		return false;
	for (size_t i = 1; i < n; i++) {
		if ((s->p[i] & 0xc0) != 0x80)
			return false;
		cp = (cp << 6) | (s->p[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return false;
	s->p += n;
	return true;
}

static bool string(struct scan *s)
{
	if (s->p >= s->end || *s->p != '"')
		return false;
	s->p++;
	while (s->p < s->end) {
		unsigned char c = *s->p;
		if (c == '"') {
			s->p++;
			return true;
		}
		if (c < 0x20)
			return false;
		if (c >= 0x80) {
			if (!utf8(s))
				return false;
			continue;
		}
		s->p++;
		if (c != '\\')
			continue;
		if (s->p >= s->end)
			return false;
		c = *s->p++;
		if (c == 'u') {
			if (s->end - s->p < 4)
				return false;
			for (int i = 0; i < 4; i++)
				if (!is_hex(*s->p++))
					return false;
		} else if (!strchr("\"\\/bfnrt", c) || c == '\0') {
			return false;
		}
	}
	return false;
}

static bool value(struct scan *s);

static bool container(struct scan *s, unsigned char close, bool keyed)
{
	if (++s->depth > 200)
		return false;
	s->p++;
	skip_ws(s);
	if (s->p < s->end && *s->p == close) {
		s->p++;
		s->depth--;
		return true;
	}
	for (;;) {
		skip_ws(s);
		if (keyed) {
			if (!string(s))
				return false;
			skip_ws(s);
			if (s->p >= s->end || *s->p != ':')
				return false;
			s->p++;
		}
		if (!value(s))
			return false;
		skip_ws(s);
		if (s->p >= s->end)
			return false;
		if (*s->p == close) {
			s->p++;
			s->depth--;
			return true;
		}
		if (*s->p != ',')
			return false;
		s->p++;
	}
}

static bool value(struct scan *s)
{
	skip_ws(s);
	if (s->p >= s->end)
		return false;
	switch (*s->p) {
	case '{': return container(s, '}', true);
	case '[': return container(s, ']', false);
	case '"': return string(s);
	case 't': return literal(s, "true");
	case 'f': return literal(s, "false");
	case 'n': return literal(s, "null");
	default: return number(s);
	}
}

static bool valid_json_text(const char *text, size_t len)
{
	struct scan s = { (const unsigned char *)text, (const unsigned char *)text + len, 0 };
	if (!value(&s))
		return false;
	skip_ws(&s);
	return s.p == s.end;
}

/* ------------------------------------------------------------ JSON-RPC shape */

/* Whether every member of `obj` is named in `allowed` (NULL-ended).
 * json_object_object_foreachC: the plain-C loop (the other one is a GNU
 * statement expression). */
static bool only_keys(struct json_object *obj, const char *const *allowed)
{
	struct json_object_iter it;

	json_object_object_foreachC(obj, it) {
		size_t i = 0;
		while (allowed[i] && strcmp(it.key, allowed[i]) != 0)
			i++;
		if (!allowed[i])
			return false;
	}
	return true;
}

static bool is_version(struct json_object *obj)
{
	struct json_object *v;
	return json_object_object_get_ex(obj, "jsonrpc", &v) &&
	       json_object_is_type(v, json_type_string) &&
	       strcmp(json_object_get_string(v), "2.0") == 0;
}

static bool is_response(struct json_object *obj)
{
	struct json_object *id, *err, *code, *msg;
	bool has_result, has_error;

	if (!json_object_is_type(obj, json_type_object) || !is_version(obj))
		return false;
	static const char *const response_keys[] = { "jsonrpc", "id", "result", "error", NULL };
	if (!only_keys(obj, response_keys))
		return false;
	if (!json_object_object_get_ex(obj, "id", &id))
		return false;
	switch (json_object_get_type(id)) {
	case json_type_null:
	case json_type_string:
	case json_type_int:
	case json_type_double:
		break;
	default:
		return false;
	}
	has_result = json_object_object_get_ex(obj, "result", NULL);
	has_error = json_object_object_get_ex(obj, "error", &err);
	if (has_result == has_error)
		return false;
	if (has_result)
		return true;
	if (!json_object_is_type(err, json_type_object))
		return false;
	static const char *const error_keys[] = { "code", "message", "data", NULL };
	if (!only_keys(err, error_keys))
		return false;
	if (!json_object_object_get_ex(err, "code", &code) ||
	    !json_object_is_type(code, json_type_int) ||
	    !json_object_object_get_ex(err, "message", &msg) ||
	    !json_object_is_type(msg, json_type_string))
		return false;
	/* Every code of this protocol is a reserved or server-defined one. */
	int64_t c = json_object_get_int64(code);
	return c >= -32768 && c <= -32000;
}

static bool is_notification(struct json_object *obj)
{
	struct json_object *m, *p;

	if (!json_object_is_type(obj, json_type_object) || !is_version(obj) ||
	    json_object_object_get_ex(obj, "id", NULL) ||
	    !json_object_object_get_ex(obj, "method", &m) ||
	    !json_object_is_type(m, json_type_string) ||
	    !json_object_object_get_ex(obj, "params", &p) ||
	    !json_object_is_type(p, json_type_object))
		return false;
	static const char *const notification_keys[] = { "jsonrpc", "method", "params", NULL };
	if (!only_keys(obj, notification_keys))
		return false;
	const char *name = json_object_get_string(m);
	return strcmp(name, "job.updated") == 0 || strcmp(name, "gather.progress") == 0;
}

/* Which kind of message a line is. */
enum reply_kind { REPLY_RESPONSE, REPLY_BATCH, REPLY_NOTIFICATION };

static enum reply_kind check_line(struct json_tokener *tok, const char *line, size_t len)
{
	struct json_object *obj;
	enum reply_kind kind;

	if (len == 0)
		bug("empty reply line", line, len);
	if (!valid_json_text(line, len))
		bug("reply is not valid JSON text (RFC 8259, UTF-8)", line, len);
	json_tokener_reset(tok);
	obj = json_tokener_parse_ex(tok, line, (int)len);
	if (!obj || json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != len) {
		json_object_put(obj);
		bug("json-c cannot read the reply", line, len);
	}
	if (json_object_is_type(obj, json_type_array)) {
		size_t n = json_object_array_length(obj);
		if (n == 0)
			bug("empty batch reply", line, len);
		for (size_t i = 0; i < n; i++)
			if (!is_response(json_object_array_get_idx(obj, i)))
				bug("batch reply holds something that is not a response", line, len);
		kind = REPLY_BATCH;
	} else if (is_response(obj)) {
		kind = REPLY_RESPONSE;
	} else if (is_notification(obj)) {
		kind = REPLY_NOTIFICATION;
	} else {
		bug("reply is neither a response, a batch of them nor a notification", line, len);
	}
	json_object_put(obj);
	return kind;
}

/* Reads and checks every line the client end holds; returns how many, and
 * how many of them were notifications. */
static size_t check_replies(struct json_tokener *tok, struct bufferevent *client,
			    size_t *ret_notifications)
{
	struct evbuffer *in = bufferevent_get_input(client);
	size_t n = 0, notifications = 0, len;
	char *line;

	while ((line = evbuffer_readln(in, &len, EVBUFFER_EOL_LF))) {
		if (check_line(tok, line, len) == REPLY_NOTIFICATION)
			notifications++;
		free(line);
		n++;
	}
	*ret_notifications = notifications;
	/* The daemon writes whole lines only. */
	if (evbuffer_get_length(in) > 0)
		bug("reply output ends in the middle of a line", NULL, 0);
	return n;
}

/* ------------------------------------------------------------ the loop */

static double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void on_guard(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

static bool conn_alive(struct daemon *d, struct conn *c)
{
	struct conn *x;
	TAILQ_FOREACH(x, &d->conns, link)
		if (x == c)
			return true;
	return false;
}

/* Runs the loop until nothing is left to do now; with `wait_jobs`, also
 * until every (short) job has finished and its replies are out. */
static void settle(struct fixture *f, bool wait_jobs)
{
	fixture_drain(f);
	if (!wait_jobs || f->d->n_active == 0)
		return;

	double limit = now_seconds() + SETTLE_LIMIT_SECONDS;
	struct event *guard = evtimer_new(f->base, on_guard, NULL);
	if (!guard)
		abort();
	while (f->d->n_active > 0 && now_seconds() < limit) {
		struct timeval tv = { 0, 5000 };
		evtimer_add(guard, &tv);
		event_base_loop(f->base, EVLOOP_ONCE);
		fixture_drain(f);
	}
	event_free(guard);
	fixture_drain(f);
	/* A deferred reply waits for jobs; with none left running, every
	 * reply owed must have been sent. */
	if (f->d->n_active == 0 && conn_alive(f->d, f->conn) && f->conn->n_requests > 0)
		bug("requests still await replies though no job is active", NULL, 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct json_tokener *tok;
	struct fixture *f;
	struct bufferevent *observer = NULL;
	unsigned mode = 0;

	if (size > 0) {
		mode = data[0] ^ MODE_XOR;
		data++;
		size--;
	}

	f = new_fixture(mode);
	tok = json_tokener_new_ex(256);
	if (!tok)
		abort();
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);

	/* A client that does not read lets the daemon's output pile up: it
	 * stops reading at a quarter of max_output_bytes, and cuts the client
	 * off past all of it. */
	if (mode & MODE_SLOW_READER)
		bufferevent_disable(f->client, EV_READ);
	if (mode & MODE_OBSERVER) {
		observer = fixture_connect(f, OBSERVER_UID, NULL);
		bufferevent_write(observer, subscribe_line, sizeof(subscribe_line) - 1);
	}
	if (mode & MODE_SUBSCRIBE)
		fixture_send_raw(f, subscribe_line, sizeof(subscribe_line) - 1);
	fixture_drain(f);

	const char *text = (const char *)data;
	if ((mode & MODE_SPLIT) && size > 1) {
		size_t at = size * (((mode >> 4) & 0xf) + 1) / 17;
		fixture_send_raw(f, text, at);
		settle(f, false);
		fixture_send_raw(f, text + at, size - at);
	} else if (size > 0) {
		fixture_send_raw(f, text, size);
	}
	settle(f, false);
	if (mode & MODE_HANG_UP) {
		/* EOF on the pair: the daemon drops the connection, with its
		 * pending replies and cancel_on_disconnect jobs. */
		bufferevent_flush(f->client, EV_WRITE, BEV_FINISHED);
		settle(f, false);
	}
	if (mode & MODE_SLOW_READER) {
		bufferevent_enable(f->client, EV_READ);
		settle(f, false);
	}
	settle(f, !(mode & MODE_LONG_SLEEPS));

	size_t notifications;
	check_replies(tok, f->client, &notifications);
	if (observer) {
		/* Another user's jobs are none of the observer's business: its
		 * subscribe reply is all it may get. */
		size_t n = check_replies(tok, observer, &notifications);
		if (n != 1 || notifications != 0)
			bug("the observer heard about another user's jobs", NULL, 0);
		bufferevent_free(observer);
	}

	json_tokener_free(tok);
	fixture_free(f);
	return 0;
}
