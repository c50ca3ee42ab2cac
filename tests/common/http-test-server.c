/* A loopback HTTP/HTTPS server for the fetch-job tests (libevent evhttp).
 *
 * Usage: http-test-server [--tls-cert FILE --tls-key FILE]
 *
 * Serves HTTP on 127.0.0.1 and 127.0.0.2 and, given a certificate, HTTPS on
 * 127.0.0.1 and 127.0.0.2, each on a port the kernel picks. Once listening
 * it prints one line to stdout, "http=PORT1 http2=PORT2 https=PORT3
 * https2=PORT4" (the HTTPS ports 0 without a certificate), and nothing
 * else. SIGTERM or SIGINT ends the event loop; all
 * is freed and it exits 0. The routes are listed above `routes` below.
 * Linux only: 127.0.0.2 must reach loopback, and /reset disconnects the
 * socket with connect(AF_UNSPEC). */
#include "config.h"

#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/util.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#define PROG "http-test-server"
#define UNUSED(x) (void)(x)

/* /large sends pieces of this size, /endless chunks of ENDLESS_CHUNK; both
 * only once the previous one has left the output buffer. */
#define LARGE_PIECE (64 * 1024)
#define ENDLESS_CHUNK (16 * 1024)
#define PATTERN_MOD 251
#define LARGE_MAX ((uint64_t)1 << 40)
#define SLOW_HEADERS_MAX_MS 3600000UL
#define CHAIN_MAX 1000000UL

/* Byte i of every streamed body is i % 251; a piece starting at offset o is
 * pattern + o % 251. */
static unsigned char pattern[LARGE_PIECE + PATTERN_MOD];

struct flaky_key {
	struct flaky_key *next;
	unsigned long count;
	char key[];
};

struct server {
	struct event_base *base;
	struct evhttp *http;	/* 127.0.0.1 and 127.0.0.2 */
	struct evhttp *https;	/* 127.0.0.1 and 127.0.0.2, TLS */
	SSL_CTX *ssl_ctx;
	unsigned port_http, port_http2, port_https, port_https2;
	unsigned long long requests;
	unsigned long long connections;	/* accepted, HTTP and HTTPS */
	struct flaky_key *flaky;
};

/* ------------------------------------------------------------ JSON */

/* Length of the well-formed UTF-8 sequence at s (n bytes available), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		return n >= 2 && (s[1] & 0xc0) == 0x80 ? 2 : 0;
	if (c >= 0xe0 && c <= 0xef) {
		if (n < 3 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80)
			return 0;
		if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] >= 0xa0))
			return 0;	/* overlong, surrogate */
		return 3;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		if (n < 4 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 ||
		    (s[3] & 0xc0) != 0x80)
			return 0;
		if ((c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] >= 0x90))
			return 0;	/* overlong, above U+10FFFF */
		return 4;
	}
	return 0;
}

static bool utf8_valid(const unsigned char *s, size_t n)
{
	size_t i = 0, k;

	while (i < n) {
		if ((k = utf8_seq(s + i, n - i)) == 0)
			return false;
		i += k;
	}
	return true;
}

/* Appends data as a JSON string; invalid UTF-8 bytes become U+FFFD. */
static void json_str(struct evbuffer *out, const void *data, size_t n)
{
	const unsigned char *s = data;
	size_t i = 0, run = 0, k;

	if (n == 0) {
		evbuffer_add(out, "\"\"", 2);
		return;
	}
	evbuffer_add(out, "\"", 1);
	while (i < n) {
		unsigned char c = s[i];
		const char *esc = NULL;
		char tmp[8];

		if (c >= 0x20 && c != '"' && c != '\\' && c < 0x7f) {
			i++;
			continue;
		}
		if (c >= 0x80 && (k = utf8_seq(s + i, n - i)) != 0) {
			i += k;
			continue;
		}
		evbuffer_add(out, s + run, i - run);
		switch (c) {
		case '"': esc = "\\\""; break;
		case '\\': esc = "\\\\"; break;
		case '\b': esc = "\\b"; break;
		case '\f': esc = "\\f"; break;
		case '\n': esc = "\\n"; break;
		case '\r': esc = "\\r"; break;
		case '\t': esc = "\\t"; break;
		default:
			if (c >= 0x80) {
				esc = "\\ufffd";
			} else {
				snprintf(tmp, sizeof(tmp), "\\u%04x", c);
				esc = tmp;
			}
		}
		evbuffer_add(out, esc, strlen(esc));
		run = ++i;
	}
	evbuffer_add(out, s + run, n - run);
	evbuffer_add(out, "\"", 1);
}

static void json_cstr(struct evbuffer *out, const char *s)
{
	json_str(out, s, strlen(s));
}

static void base64(struct evbuffer *out, const unsigned char *s, size_t n)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char quad[4];
	size_t i;

	for (i = 0; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
		quad[0] = tab[v >> 18];
		quad[1] = tab[(v >> 12) & 63];
		quad[2] = tab[(v >> 6) & 63];
		quad[3] = tab[v & 63];
		evbuffer_add(out, quad, 4);
	}
	if (i < n) {
		uint32_t v = (uint32_t)s[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)s[i + 1] << 8;
		quad[0] = tab[v >> 18];
		quad[1] = tab[(v >> 12) & 63];
		quad[2] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
		quad[3] = '=';
		evbuffer_add(out, quad, 4);
	}
}

/* ------------------------------------------------------------ replies */

static void set_header(struct evhttp_request *req, const char *name, const char *value)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);

	evhttp_remove_header(h, name);
	evhttp_add_header(h, name, value);
}

/* Sends code with body (may be NULL); ctype may be NULL. */
static void reply(struct evhttp_request *req, int code, const char *ctype,
		  struct evbuffer *body)
{
	if (ctype)
		set_header(req, "Content-Type", ctype);
	evhttp_send_reply(req, code, NULL, body);
}

static void reply_mem(struct evhttp_request *req, int code, const char *ctype,
		      const void *data, size_t n)
{
	struct evbuffer *b = evbuffer_new();

	if (!b) {
		evhttp_send_error(req, 500, NULL);
		return;
	}
	evbuffer_add(b, data, n);
	reply(req, code, ctype, b);
	evbuffer_free(b);
}

static void reply_json(struct evhttp_request *req, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void reply_json(struct evhttp_request *req, int code, const char *fmt, ...)
{
	struct evbuffer *b = evbuffer_new();
	va_list ap;

	if (!b) {
		evhttp_send_error(req, 500, NULL);
		return;
	}
	va_start(ap, fmt);
	evbuffer_add_vprintf(b, fmt, ap);
	va_end(ap);
	reply(req, code, "application/json", b);
	evbuffer_free(b);
}

/* {"error":msg} */
static void reply_error(struct evhttp_request *req, int code, const char *msg)
{
	struct evbuffer *b = evbuffer_new();

	if (!b) {
		evhttp_send_error(req, 500, NULL);
		return;
	}
	evbuffer_add_printf(b, "{\"error\":");
	json_cstr(b, msg);
	evbuffer_add_printf(b, "}");
	reply(req, code, "application/json", b);
	evbuffer_free(b);
}

static void redirect(struct evhttp_request *req, const char *location)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);

	if (evhttp_add_header(h, "Location", location) != 0) {
		reply_error(req, 400, "invalid redirect target");
		return;
	}
	evhttp_send_reply(req, 302, NULL, NULL);
}

/* For HEAD on a streaming route: the headers alone. */
static bool head_only(struct evhttp_request *req)
{
	if (evhttp_request_get_command(req) != EVHTTP_REQ_HEAD)
		return false;
	evhttp_send_reply_start(req, 200, NULL);
	evhttp_send_reply_end(req);
	return true;
}

/* ------------------------------------------------------------ query */

/* Parses the query string (may be NULL); answers 400 and returns false if
 * it is malformed. Clear q with evhttp_clear_headers. */
static bool query_parse(struct evhttp_request *req, const char *query,
			struct evkeyvalq *q)
{
	if (evhttp_parse_query_str(query ? query : "", q) != 0) {
		reply_error(req, 400, "malformed query");
		return false;
	}
	return true;
}

/* Strict decimal in [lo, hi]. */
static bool parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
	uint64_t v = 0;

	if (!s || !*s)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		if (v > (UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	if (v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

/* The query parameter `name` as a number; def when absent. Answers 400 and
 * returns false when it is present but not a number in [lo, hi]. */
static bool query_u64(struct evhttp_request *req, struct evkeyvalq *q,
		      const char *name, uint64_t lo, uint64_t hi, uint64_t def,
		      uint64_t *out)
{
	const char *v = evhttp_find_header(q, name);
	char msg[96];

	if (!v) {
		*out = def;
		return true;
	}
	if (parse_u64(v, lo, hi, out))
		return true;
	snprintf(msg, sizeof(msg), "bad %s", name);
	reply_error(req, 400, msg);
	return false;
}

/* ------------------------------------------------------------ streams */

/* A reply that outlives the request callback. Its connection's close
 * callback points at it until it is done, so it is freed with the
 * connection whether the client goes away or the server shuts down. */
struct stream {
	struct evhttp_request *req;
	struct evhttp_connection *evcon;
	struct evbuffer *buf;
	struct event *timer;
	uint64_t sent, total;
	uint64_t piece;		/* /paced: bytes a tick */
	unsigned long ms;
};

static void stream_free(struct stream *st)
{
	if (st->timer)
		event_free(st->timer);
	if (st->buf)
		evbuffer_free(st->buf);
	free(st);
}

static void stream_closed(struct evhttp_connection *evcon, void *arg)
{
	struct stream *st = arg;
	struct evhttp_request *req = st->req;
	/* When the client went away mid-reply, evhttp detaches the request
	 * from the connection and leaves freeing it to us; otherwise (server
	 * shutdown, our own evhttp_connection_free) it frees it itself. */
	bool orphaned = evhttp_request_get_connection(req) == NULL;

	UNUSED(evcon);
	stream_free(st);
	if (orphaned)
		evhttp_request_free(req);
}

static struct stream *stream_new(struct evhttp_request *req)
{
	struct stream *st = calloc(1, sizeof(*st));

	if (!st || !(st->buf = evbuffer_new())) {
		free(st);
		evhttp_send_error(req, 500, NULL);
		return NULL;
	}
	st->req = req;
	st->evcon = evhttp_request_get_connection(req);
	evhttp_connection_set_closecb(st->evcon, stream_closed, st);
	return st;
}

/* The stream is complete: the connection no longer refers to it. */
static void stream_done(struct stream *st)
{
	evhttp_connection_set_closecb(st->evcon, NULL, NULL);
	stream_free(st);
}

static void add_pattern(struct evbuffer *b, uint64_t offset, size_t n)
{
	evbuffer_add_reference(b, pattern + offset % PATTERN_MOD, n, NULL, NULL);
}

/* Called by evhttp each time the output buffer has drained. */
static void large_more(struct evhttp_connection *evcon, void *arg)
{
	struct stream *st = arg;
	struct evhttp_request *req = st->req;
	uint64_t left = st->total - st->sent;
	size_t n = left < LARGE_PIECE ? (size_t)left : LARGE_PIECE;

	UNUSED(evcon);
	add_pattern(st->buf, st->sent, n);
	st->sent += n;
	if (st->sent < st->total) {
		evhttp_send_reply_chunk_with_cb(req, st->buf, large_more, st);
		return;
	}
	evhttp_send_reply_chunk(req, st->buf);
	stream_done(st);
	evhttp_send_reply_end(req);
}

static void endless_more(struct evhttp_connection *evcon, void *arg)
{
	struct stream *st = arg;

	UNUSED(evcon);
	add_pattern(st->buf, st->sent, ENDLESS_CHUNK);
	st->sent += ENDLESS_CHUNK;
	evhttp_send_reply_chunk_with_cb(st->req, st->buf, endless_more, st);
}

static void drip_tick(evutil_socket_t fd, short what, void *arg)
{
	struct stream *st = arg;

	UNUSED(fd);
	UNUSED(what);
	evbuffer_add(st->buf, ".", 1);
	evhttp_send_reply_chunk(st->req, st->buf);
}

/* /paced: the next piece, then the next tick, until the body is complete. */
static void paced_tick(evutil_socket_t fd, short what, void *arg)
{
	struct stream *st = arg;
	struct evhttp_request *req = st->req;
	uint64_t left = st->total - st->sent;
	uint64_t n = left < st->piece ? left : st->piece;
	struct timeval tv = { .tv_sec = (time_t)(st->ms / 1000),
			      .tv_usec = (suseconds_t)(st->ms % 1000) * 1000 };

	UNUSED(fd);
	UNUSED(what);
	for (uint64_t done = 0; done < n;) {
		size_t k = n - done < LARGE_PIECE ? (size_t)(n - done) : LARGE_PIECE;
		add_pattern(st->buf, st->sent + done, k);
		done += k;
	}
	st->sent += n;
	evhttp_send_reply_chunk(req, st->buf);
	if (st->sent < st->total) {
		evtimer_add(st->timer, &tv);
		return;
	}
	stream_done(st);
	evhttp_send_reply_end(req);
}

static void slow_headers_fire(evutil_socket_t fd, short what, void *arg)
{
	struct stream *st = arg;
	struct evhttp_request *req = st->req;
	unsigned long ms = st->ms;

	UNUSED(fd);
	UNUSED(what);
	stream_done(st);
	reply_json(req, 200, "{\"waited_ms\":%lu}", ms);
}

/* /headers-never-finish: evhttp's callbacks on the connection's bufferevent
 * are replaced by these; the request is never answered. */
static void raw_read(struct bufferevent *bev, void *arg)
{
	struct evbuffer *in = bufferevent_get_input(bev);

	UNUSED(arg);
	evbuffer_drain(in, evbuffer_get_length(in));
}

static void raw_event(struct bufferevent *bev, short what, void *arg)
{
	struct stream *st = arg;

	UNUSED(bev);
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))
		evhttp_connection_free(st->evcon);	/* calls stream_closed */
}

/* ------------------------------------------------------------ routes */

struct call {
	struct server *srv;
	struct evhttp_request *req;
	const char *arg;	/* what follows a prefix route's path */
	struct evkeyvalq *q;	/* the parsed query */
};

static void route_todos(const struct call *c)
{
	static const char body[] =
		"{\"userId\":1,\"id\":1,\"title\":\"delectus aut autem\",\"completed\":false}";

	reply_mem(c->req, 200, "application/json; charset=utf-8", body, sizeof(body) - 1);
}

static void route_json(const struct call *c)
{
	/* "café ☕" in UTF-8 */
	static const char body[] =
		"{\"name\":\"asyncjob test\",\"unicode\":\"caf\xc3\xa9 \xe2\x98\x95\","
		"\"number\":42,\"float\":2.5,\"nested\":{\"list\":[1,2,3],"
		"\"flag\":true,\"nothing\":null,\"deeper\":{\"key\":\"value\"}}}";

	reply_mem(c->req, 200, "application/json", body, sizeof(body) - 1);
}

static void route_text(const struct call *c)
{
	reply_mem(c->req, 200, "text/plain; charset=utf-8", "hello, world\n", 13);
}

static void route_binary(const struct call *c)
{
	unsigned char b[256];

	for (size_t i = 0; i < sizeof(b); i++)
		b[i] = (unsigned char)i;
	reply_mem(c->req, 200, "application/octet-stream", b, sizeof(b));
}

static void route_invalid_json(const struct call *c)
{
	reply_mem(c->req, 200, "application/json", "{\"not\": json", 12);
}

static void route_status(const struct call *c)
{
	uint64_t code;

	if (!parse_u64(c->arg, 101, 599, &code)) {
		reply_error(c->req, 404, "not found");
		return;
	}
	if (code == 429 || code == 503)
		set_header(c->req, "Retry-After", "1");
	reply_json(c->req, (int)code, "{\"status\":%d}", (int)code);
}

static void route_flaky(const struct call *c)
{
	const char *key = evhttp_find_header(c->q, "key");
	struct flaky_key *k;
	uint64_t fail, status;

	if (!key)
		key = "";
	if (!query_u64(c->req, c->q, "fail", 0, 1000000000, 1, &fail) ||
	    !query_u64(c->req, c->q, "status", 101, 599, 503, &status))
		return;
	for (k = c->srv->flaky; k; k = k->next)
		if (strcmp(k->key, key) == 0)
			break;
	if (!k) {
		size_t n = strlen(key) + 1;
		if (!(k = malloc(sizeof(*k) + n))) {
			evhttp_send_error(c->req, 500, NULL);
			return;
		}
		memcpy(k->key, key, n);
		k->count = 0;
		k->next = c->srv->flaky;
		c->srv->flaky = k;
	}
	k->count++;
	if (k->count <= fail) {
		if (status == 429 || status == 503)
			set_header(c->req, "Retry-After", "0");
		reply_json(c->req, (int)status, "{\"status\":%d,\"attempt\":%lu}",
			   (int)status, k->count);
		return;
	}
	reply_json(c->req, 200, "{\"attempt\":%lu}", k->count);
}

static void route_redirect_relative(const struct call *c)
{
	redirect(c->req, "/json");
}

static void route_redirect_absolute(const struct call *c)
{
	char loc[64];

	snprintf(loc, sizeof(loc), "http://127.0.0.1:%u/json", c->srv->port_http);
	redirect(c->req, loc);
}

static void route_redirect_loop(const struct call *c)
{
	redirect(c->req, "/redirect/loop");
}

static void route_redirect_file(const struct call *c)
{
	redirect(c->req, "file:///etc/passwd");
}

static void route_cookie_set(const struct call *c)
{
	set_header(c->req, "Set-Cookie", "asyncjob_test=from-the-server; Path=/");
	redirect(c->req, "/echo");
}

static void route_redirect_chain(const struct call *c)
{
	uint64_t n;
	char loc[64];

	if (!parse_u64(c->arg, 0, CHAIN_MAX, &n)) {
		reply_error(c->req, 404, "not found");
		return;
	}
	if (n == 0) {
		reply_json(c->req, 200, "{\"chain\":\"done\"}");
		return;
	}
	snprintf(loc, sizeof(loc), "/redirect/chain/%llu", (unsigned long long)(n - 1));
	redirect(c->req, loc);
}

static void route_redirect_to(const struct call *c)
{
	const char *url = evhttp_find_header(c->q, "url");

	if (!url || !*url) {
		reply_error(c->req, 400, "missing url");
		return;
	}
	redirect(c->req, url);
}

static void route_endless(const struct call *c)
{
	struct stream *st;

	set_header(c->req, "Content-Type", "application/octet-stream");
	if (head_only(c->req) || !(st = stream_new(c->req)))
		return;
	evhttp_send_reply_start(c->req, 200, NULL);
	endless_more(st->evcon, st);
}

static void route_slow_drip(const struct call *c)
{
	static const struct timeval second = { 1, 0 };
	struct stream *st;

	set_header(c->req, "Content-Type", "text/plain");
	if (head_only(c->req) || !(st = stream_new(c->req)))
		return;
	st->timer = event_new(c->srv->base, -1, EV_PERSIST, drip_tick, st);
	if (!st->timer || event_add(st->timer, &second) != 0) {
		stream_done(st);
		evhttp_send_error(c->req, 500, NULL);
		return;
	}
	evhttp_send_reply_start(c->req, 200, NULL);
	drip_tick(-1, 0, st);
}

static void route_headers_never_finish(const struct call *c)
{
	static const char partial[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n";
	struct stream *st = stream_new(c->req);
	struct bufferevent *bev;

	if (!st)
		return;
	bev = evhttp_connection_get_bufferevent(st->evcon);
	bufferevent_setcb(bev, raw_read, NULL, raw_event, st);
	bufferevent_set_timeouts(bev, NULL, NULL);
	bufferevent_write(bev, partial, sizeof(partial) - 1);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
}

static void route_reset(const struct call *c)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(c->req);
	evutil_socket_t fd = bufferevent_getfd(evhttp_connection_get_bufferevent(evcon));
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	struct sockaddr unspec = { .sa_family = AF_UNSPEC };

	if (fd >= 0) {
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		/* evhttp_connection_free shuts the socket down for writing (a
		 * FIN) before the bufferevent closes it, so the client could see
		 * a clean EOF first. Disconnecting the socket now (Linux:
		 * connect to AF_UNSPEC) sends the RST right away. */
		connect(fd, &unspec, sizeof(unspec));
	}
	evhttp_connection_free(evcon);	/* frees the request too */
}

static void route_chunked(const struct call *c)
{
	static const char *const parts[] = { "part1 ", "part2 ", "part3\n" };
	struct evbuffer *b;

	set_header(c->req, "Content-Type", "text/plain");
	if (head_only(c->req))
		return;
	if (!(b = evbuffer_new())) {
		evhttp_send_error(c->req, 500, NULL);
		return;
	}
	evhttp_send_reply_start(c->req, 200, NULL);
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		evbuffer_add(b, parts[i], strlen(parts[i]));
		evhttp_send_reply_chunk(c->req, b);
	}
	evbuffer_free(b);
	evhttp_send_reply_end(c->req);
}

static void route_gzip(const struct call *c)
{
	/* printf '%s' '{"compressed":true}' | gzip -9n | xxd -i */
	static const unsigned char body[] = {
		0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0xab, 0x56,
		0x4a, 0xce, 0xcf, 0x2d, 0x28, 0x4a, 0x2d, 0x2e, 0x4e, 0x4d, 0x51, 0xb2,
		0x2a, 0x29, 0x2a, 0x4d, 0xad, 0x05, 0x00, 0xf1, 0xea, 0x39, 0x95, 0x13,
		0x00, 0x00, 0x00
	};

	set_header(c->req, "Content-Encoding", "gzip");
	reply_mem(c->req, 200, "application/json", body, sizeof(body));
}

static void route_large(const struct call *c)
{
	struct stream *st;
	uint64_t total;
	char len[24];

	if (!evhttp_find_header(c->q, "bytes")) {
		reply_error(c->req, 400, "missing bytes");
		return;
	}
	if (!query_u64(c->req, c->q, "bytes", 0, LARGE_MAX, 0, &total))
		return;
	set_header(c->req, "Content-Type", "application/octet-stream");
	if (total == 0) {
		evhttp_send_reply(c->req, 200, NULL, NULL);
		return;
	}
	snprintf(len, sizeof(len), "%llu", (unsigned long long)total);
	set_header(c->req, "Content-Length", len);
	if (head_only(c->req) || !(st = stream_new(c->req)))
		return;
	st->total = total;
	evhttp_send_reply_start(c->req, 200, NULL);
	large_more(st->evcon, st);
}

static const char *method_name(enum evhttp_cmd_type cmd)
{
	switch (cmd) {
	case EVHTTP_REQ_GET: return "GET";
	case EVHTTP_REQ_POST: return "POST";
	case EVHTTP_REQ_HEAD: return "HEAD";
	case EVHTTP_REQ_PUT: return "PUT";
	case EVHTTP_REQ_DELETE: return "DELETE";
	case EVHTTP_REQ_OPTIONS: return "OPTIONS";
	case EVHTTP_REQ_TRACE: return "TRACE";
	case EVHTTP_REQ_CONNECT: return "CONNECT";
	case EVHTTP_REQ_PATCH: return "PATCH";
	}
	return "UNKNOWN";
}

static void route_echo(const struct call *c)
{
	struct evkeyvalq *in_h = evhttp_request_get_input_headers(c->req);
	struct evbuffer *in = evhttp_request_get_input_buffer(c->req);
	size_t blen = evbuffer_get_length(in);
	const unsigned char *body = blen ? evbuffer_pullup(in, -1) : NULL;
	struct evbuffer *out = evbuffer_new(), *val = evbuffer_new();
	struct evkeyval *h, *o;
	bool first = true;

	if (!out || !val || (blen && !body)) {
		if (out)
			evbuffer_free(out);
		if (val)
			evbuffer_free(val);
		evhttp_send_error(c->req, 500, NULL);
		return;
	}
	evbuffer_add_printf(out, "{\"method\":");
	json_cstr(out, method_name(evhttp_request_get_command(c->req)));
	evbuffer_add_printf(out, ",\"path\":");
	json_cstr(out, evhttp_request_get_uri(c->req));
	evbuffer_add_printf(out, ",\"headers\":{");
	/* Repeated headers are joined with ", " under the first spelling. */
	for (h = in_h->tqh_first; h; h = h->next.tqe_next) {
		for (o = in_h->tqh_first; o != h; o = o->next.tqe_next)
			if (strcasecmp(o->key, h->key) == 0)
				break;
		if (o != h)
			continue;
		evbuffer_drain(val, evbuffer_get_length(val));
		evbuffer_add(val, h->value, strlen(h->value));
		for (o = h->next.tqe_next; o; o = o->next.tqe_next) {
			if (strcasecmp(o->key, h->key) == 0) {
				evbuffer_add(val, ", ", 2);
				evbuffer_add(val, o->value, strlen(o->value));
			}
		}
		if (!first)
			evbuffer_add(out, ",", 1);
		first = false;
		json_cstr(out, h->key);
		evbuffer_add(out, ":", 1);
		json_str(out, evbuffer_pullup(val, -1), evbuffer_get_length(val));
	}
	evbuffer_add_printf(out, "},");
	if (!body || utf8_valid(body, blen)) {
		evbuffer_add_printf(out, "\"body\":");
		json_str(out, body ? (const void *)body : "", blen);
	} else {
		evbuffer_add_printf(out, "\"body_base64\":\"");
		base64(out, body, blen);
		evbuffer_add_printf(out, "\"");
	}
	evbuffer_add_printf(out, ",\"body_bytes\":%zu}", blen);
	reply(c->req, 200, "application/json", out);
	evbuffer_free(out);
	evbuffer_free(val);
}

static void route_slow_headers(const struct call *c)
{
	struct stream *st;
	struct timeval tv;
	uint64_t ms;

	if (!query_u64(c->req, c->q, "ms", 0, SLOW_HEADERS_MAX_MS, 1000, &ms) ||
	    !(st = stream_new(c->req)))
		return;
	st->ms = (unsigned long)ms;
	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	st->timer = evtimer_new(c->srv->base, slow_headers_fire, st);
	if (!st->timer || evtimer_add(st->timer, &tv) != 0) {
		stream_done(st);
		evhttp_send_error(c->req, 500, NULL);
	}
}

static void route_paced(const struct call *c)
{
	struct stream *st;
	uint64_t total, pieces, ms;
	char len[24];

	if (!query_u64(c->req, c->q, "bytes", 1, LARGE_MAX, 100000, &total) ||
	    !query_u64(c->req, c->q, "pieces", 1, 1000, 10, &pieces) ||
	    !query_u64(c->req, c->q, "ms", 0, SLOW_HEADERS_MAX_MS, 100, &ms))
		return;
	set_header(c->req, "Content-Type", "application/octet-stream");
	snprintf(len, sizeof(len), "%llu", (unsigned long long)total);
	set_header(c->req, "Content-Length", len);
	if (head_only(c->req) || !(st = stream_new(c->req)))
		return;
	st->total = total;
	st->piece = (total + pieces - 1) / pieces;
	st->ms = (unsigned long)ms;
	st->timer = evtimer_new(c->srv->base, paced_tick, st);
	if (!st->timer) {
		stream_done(st);
		evhttp_send_error(c->req, 500, NULL);
		return;
	}
	evhttp_send_reply_start(c->req, 200, NULL);
	paced_tick(-1, 0, st);
}

static void route_count(const struct call *c)
{
	reply_json(c->req, 200, "{\"requests\":%llu,\"connections\":%llu}", c->srv->requests,
		   c->srv->connections);
}

/* GET and HEAD only (else 405), except /echo; unknown paths get 404
 * {"error":"not found"}, bad parameters 400 {"error":"..."}.
 *
 *   /todos/1, /json, /text, /binary (bytes 0..255), /invalid-json
 *   /status/N            status N (101..599), {"status":N}; 429 and 503 add
 *                        Retry-After: 1
 *   /flaky?key=K&fail=N&status=S
 *                        the first N (default 1) requests for K answer S
 *                        (default 503) with {"status":S,"attempt":n}, plus
 *                        Retry-After: 0 when S is 429 or 503; later ones 200
 *                        {"attempt":n}, n counting from 1 per key
 *   /redirect/relative   302 /json
 *   /redirect/absolute   302 http://127.0.0.1:PORT1/json
 *   /redirect/loop       302 /redirect/loop
 *   /redirect/file       302 file:///etc/passwd
 *   /redirect/chain/N    302 /redirect/chain/N-1; N = 0: 200 {"chain":"done"}
 *   /redirect/to?url=U   302 U (decoded)
 *   /cookie/set          302 /echo, setting the cookie asyncjob_test (Path=/)
 *   /endless             chunked 16 KiB chunks forever, as the client reads
 *   /slow-drip           chunked ".": one now, then one a second, forever
 *   /headers-never-finish  a status line and one header, then silence
 *   /reset               no answer: the connection is reset (RST)
 *   /chunked             "part1 part2 part3\n" in three chunks
 *   /gzip                {"compressed":true}, Content-Encoding: gzip
 *   /large?bytes=N       N bytes (byte i = i % 251) with Content-Length,
 *                        64 KiB at a time as the client reads
 *   /echo                any method: {"method","path" (as sent),"headers"
 *                        (repeats joined with ", "),"body" (UTF-8) or
 *                        "body_base64","body_bytes"}
 *   /slow-headers?ms=N   200 {"waited_ms":N} after N ms (default 1000)
 *   /paced?bytes=N&pieces=K&ms=M
 *                        N bytes (default 100000; byte i = i % 251) with
 *                        Content-Length, in K pieces (default 10), the first
 *                        at once and then one every M ms (default 100);
 *                        any method (a POST whose answer takes its time)
 *   /count               {"requests":n,"connections":m}: every request so
 *                        far and every connection accepted so far, this
 *                        one's too
 *
 * A route whose path ends in '/' matches that prefix and gets the rest as
 * `arg`. */
static const struct route {
	const char *path;
	void (*fn)(const struct call *);
	bool any_method;
} routes[] = {
	{ "/todos/1", route_todos, false },
	{ "/json", route_json, false },
	{ "/text", route_text, false },
	{ "/binary", route_binary, false },
	{ "/invalid-json", route_invalid_json, false },
	{ "/status/", route_status, false },
	{ "/flaky", route_flaky, false },
	{ "/redirect/relative", route_redirect_relative, false },
	{ "/redirect/absolute", route_redirect_absolute, false },
	{ "/redirect/loop", route_redirect_loop, false },
	{ "/redirect/file", route_redirect_file, false },
	{ "/redirect/chain/", route_redirect_chain, false },
	{ "/redirect/to", route_redirect_to, false },
	{ "/cookie/set", route_cookie_set, false },
	{ "/endless", route_endless, false },
	{ "/slow-drip", route_slow_drip, false },
	{ "/headers-never-finish", route_headers_never_finish, false },
	{ "/reset", route_reset, false },
	{ "/chunked", route_chunked, false },
	{ "/gzip", route_gzip, false },
	{ "/large", route_large, false },
	{ "/echo", route_echo, true },
	{ "/slow-headers", route_slow_headers, false },
	{ "/paced", route_paced, true },
	{ "/count", route_count, false },
};

static void handle_request(struct evhttp_request *req, void *arg)
{
	struct server *srv = arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	const char *query = uri ? evhttp_uri_get_query(uri) : NULL;
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	const struct route *r = NULL;
	const char *rest = NULL;
	struct evkeyvalq q;
	struct call c;

	srv->requests++;
	if (!path)
		path = "";
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		size_t n = strlen(routes[i].path);
		if (routes[i].path[n - 1] == '/' ? strncmp(path, routes[i].path, n) == 0
						 : strcmp(path, routes[i].path) == 0) {
			r = &routes[i];
			rest = path + n;
			break;
		}
	}
	if (!r) {
		reply_error(req, 404, "not found");
		return;
	}
	if (!r->any_method && cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
		set_header(req, "Allow", "GET, HEAD");
		reply_error(req, 405, "method not allowed");
		return;
	}
	if (!query_parse(req, query, &q))
		return;
	c = (struct call){ .srv = srv, .req = req, .arg = rest, .q = &q };
	r->fn(&c);
	evhttp_clear_headers(&q);
}

/* ------------------------------------------------------------ setup */

/* evhttp asks for a bufferevent for each connection it accepts: where
 * the connections are counted. */
static struct bufferevent *http_bev(struct event_base *base, void *arg)
{
	struct server *srv = arg;

	srv->connections++;
	return bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
}

static struct bufferevent *https_bev(struct event_base *base, void *arg)
{
	struct server *srv = arg;
	SSL *ssl = SSL_new(srv->ssl_ctx);

	srv->connections++;
	if (!ssl)
		return NULL;
	return bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
					      BEV_OPT_CLOSE_ON_FREE);
}

static SSL_CTX *ssl_ctx_load(const char *cert, const char *key)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (!ctx || SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		fprintf(stderr, PROG ": cannot load TLS certificate %s / key %s\n", cert, key);
		ERR_print_errors_fp(stderr);
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

static struct evhttp *http_new(struct server *srv)
{
	struct evhttp *http = evhttp_new(srv->base);

	if (!http) {
		fprintf(stderr, PROG ": evhttp_new failed\n");
		return NULL;
	}
	evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST |
		EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
		EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT |
		EVHTTP_REQ_PATCH);
	evhttp_set_gencb(http, handle_request, srv);
	return http;
}

static bool listen_on(struct evhttp *http, const char *addr, unsigned *port)
{
	struct evhttp_bound_socket *bs = evhttp_bind_socket_with_handle(http, addr, 0);
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);

	if (!bs) {
		fprintf(stderr, PROG ": cannot listen on %s: %s\n", addr, strerror(errno));
		return false;
	}
	if (getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&sin, &len) != 0) {
		fprintf(stderr, PROG ": getsockname: %s\n", strerror(errno));
		return false;
	}
	*port = ntohs(sin.sin_port);
	return true;
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	UNUSED(sig);
	UNUSED(what);
	event_base_loopexit(arg, NULL);
}

static void usage(void)
{
	fprintf(stderr, "usage: " PROG " [--tls-cert FILE --tls-key FILE]\n");
}

int main(int argc, char **argv)
{
	struct server srv = { 0 };
	struct event *ev_term = NULL, *ev_int = NULL;
	const char *cert = NULL, *key = NULL;
	int rc = 1;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--tls-cert") == 0 && i + 1 < argc) {
			cert = argv[++i];
		} else if (strcmp(argv[i], "--tls-key") == 0 && i + 1 < argc) {
			key = argv[++i];
		} else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage();
			return 0;
		} else {
			usage();
			return 2;
		}
	}
	if (!cert != !key) {
		usage();
		return 2;
	}

	signal(SIGPIPE, SIG_IGN);
	for (size_t i = 0; i < sizeof(pattern); i++)
		pattern[i] = (unsigned char)(i % PATTERN_MOD);

	if (!(srv.base = event_base_new())) {
		fprintf(stderr, PROG ": event_base_new failed\n");
		goto out;
	}
	if (!(srv.http = http_new(&srv)))
		goto out;
	evhttp_set_bevcb(srv.http, http_bev, &srv);
	if (!listen_on(srv.http, "127.0.0.1", &srv.port_http) ||
	    !listen_on(srv.http, "127.0.0.2", &srv.port_http2))
		goto out;
	if (cert) {
		if (!(srv.ssl_ctx = ssl_ctx_load(cert, key)) || !(srv.https = http_new(&srv)))
			goto out;
		evhttp_set_bevcb(srv.https, https_bev, &srv);
		if (!listen_on(srv.https, "127.0.0.1", &srv.port_https) ||
		    !listen_on(srv.https, "127.0.0.2", &srv.port_https2))
			goto out;
	}
	ev_term = evsignal_new(srv.base, SIGTERM, on_signal, srv.base);
	ev_int = evsignal_new(srv.base, SIGINT, on_signal, srv.base);
	if (!ev_term || !ev_int || evsignal_add(ev_term, NULL) || evsignal_add(ev_int, NULL)) {
		fprintf(stderr, PROG ": cannot handle signals\n");
		goto out;
	}

	printf("http=%u http2=%u https=%u https2=%u\n", srv.port_http, srv.port_http2,
	       srv.port_https, srv.port_https2);
	if (fflush(stdout) != 0) {
		fprintf(stderr, PROG ": stdout: %s\n", strerror(errno));
		goto out;
	}

	if (event_base_dispatch(srv.base) != 0) {
		fprintf(stderr, PROG ": event loop failed\n");
		goto out;
	}
	rc = 0;
out:
	/* Freeing the servers frees their connections, and the close
	 * callbacks free any streams still running. */
	if (srv.http)
		evhttp_free(srv.http);
	if (srv.https)
		evhttp_free(srv.https);
	if (ev_term)
		event_free(ev_term);
	if (ev_int)
		event_free(ev_int);
	while (srv.flaky) {
		struct flaky_key *next = srv.flaky->next;
		free(srv.flaky);
		srv.flaky = next;
	}
	if (srv.base)
		event_base_free(srv.base);
	SSL_CTX_free(srv.ssl_ctx);
	libevent_global_shutdown();
	return rc;
}
