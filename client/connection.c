/* libasyncjob's connection: the socket, request queueing, reply matching,
 * notifications, the async engine and the blocking wait built on it. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "client/internal.h"
#include "proto/jsonrpc.h"
#include "proto/protocol.h"

#define DEFAULT_MAX_REPLY (64u * 1024 * 1024)
#define MAX_QUEUED_EVENTS 65536
#define READS_PER_PROCESS 16
/* Replies may carry fetched JSON documents, so they nest deeper than
 * requests ever may. */
#define REPLY_MAX_DEPTH 512

ASYNCJOB_EXPORT const char *asyncjob_version(void)
{
	return PACKAGE_VERSION;
}

int aj_fail(asyncjob *aj, int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(aj->errmsg, sizeof(aj->errmsg), fmt, ap);
	va_end(ap);
	return err;
}

ASYNCJOB_EXPORT const char *asyncjob_errmsg(const asyncjob *aj)
{
	return aj ? aj->errmsg : "no connection handle";
}

ASYNCJOB_EXPORT int asyncjob_rpc_error_code(const asyncjob *aj)
{
	return aj->rpc_code;
}

ASYNCJOB_EXPORT const char *asyncjob_rpc_error_data(const asyncjob *aj)
{
	return aj->rpc_data;
}

ASYNCJOB_EXPORT const char *asyncjob_socket_path(const asyncjob *aj)
{
	return aj->path;
}

ASYNCJOB_EXPORT int asyncjob_set_max_reply_size(asyncjob *aj, size_t bytes)
{
	if (bytes < 1024)
		return aj_fail(aj, -EINVAL, "max reply size must be at least 1024 bytes");
	aj->max_reply = bytes;
	return 0;
}

ASYNCJOB_EXPORT int asyncjob_new(asyncjob **ret)
{
	asyncjob *aj = calloc(1, sizeof(*aj));
	if (!aj)
		return -ENOMEM;
	json_parser_init(&aj->parser, REPLY_MAX_DEPTH);
	/* Replies' trees may outlive the line (jobs share a long list's). */
	aj->parser.own_numbers = true;
	aj->fd = -1;
	aj->max_reply = DEFAULT_MAX_REPLY;
	jsonw_init(&aj->w);
	*ret = aj;
	return 0;
}

ASYNCJOB_EXPORT int asyncjob_default_socket(char **ret_path)
{
	const char *env = getenv(ASYNCJOB_SOCKET_ENV);
	const char *dir = getenv("XDG_RUNTIME_DIR");
	char *p;

	if (env && *env) {
		p = strdup(env);
	} else {
		p = NULL;
		if (geteuid() != 0 && dir && dir[0] == '/') {
			size_t n = strlen(dir) + sizeof(ASYNCJOB_USER_SOCKET_NAME) + 1;
			struct stat st;
			p = malloc(n);
			if (!p)
				return -ENOMEM;
			snprintf(p, n, "%s/%s", dir, ASYNCJOB_USER_SOCKET_NAME);
			if (stat(p, &st) < 0 || !S_ISSOCK(st.st_mode)) {
				free(p);
				p = NULL;
			}
		}
		if (!p)
			p = strdup(ASYNCJOB_SYSTEM_SOCKET);
	}
	if (!p)
		return -ENOMEM;
	*ret_path = p;
	return 0;
}

/* ------------------------------------------------------------ watching */

static int wanted_events(const asyncjob *aj)
{
	if (aj->fd < 0 || aj->broken)
		return 0;
	return ASYNCJOB_EV_READ | (aj->out_len > aj->out_off ? ASYNCJOB_EV_WRITE : 0);
}

static void update_watch(asyncjob *aj)
{
	int ev = wanted_events(aj);
	if (!aj->watch_fn || ev == aj->watched_events)
		return;
	aj->watched_events = ev;
	aj->watch_fn(aj, ev, aj->watch_userdata);
}

ASYNCJOB_EXPORT int asyncjob_events(const asyncjob *aj)
{
	return wanted_events(aj);
}

ASYNCJOB_EXPORT int asyncjob_fd(const asyncjob *aj)
{
	return aj->fd;
}

ASYNCJOB_EXPORT size_t asyncjob_pending(const asyncjob *aj)
{
	return aj->n_pending;
}

ASYNCJOB_EXPORT void asyncjob_set_watch(asyncjob *aj, asyncjob_watch_fn fn, void *userdata)
{
	aj->watch_fn = fn;
	aj->watch_userdata = userdata;
	aj->watched_events = -2;   /* forces the first call */
	update_watch(aj);
}

ASYNCJOB_EXPORT void asyncjob_set_event_handler(asyncjob *aj, asyncjob_event_fn fn, void *userdata)
{
	aj->event_fn = fn;
	aj->event_userdata = userdata;
}

/* ------------------------------------------------------------ connecting */

ASYNCJOB_EXPORT int asyncjob_connect(asyncjob *aj, const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char *p;
	int fd, r;

	if (aj->fd >= 0)
		return aj_fail(aj, -EISCONN, "already connected to %s", aj->path);
	if (path) {
		p = strdup(path);
		if (!p)
			return aj_fail(aj, -ENOMEM, "out of memory");
	} else if ((r = asyncjob_default_socket(&p)) < 0) {
		return aj_fail(aj, r, "out of memory");
	}
	if (strlen(p) >= sizeof(sun.sun_path)) {
		r = aj_fail(aj, -ENAMETOOLONG, "socket path too long: %s", p);
		free(p);
		return r;
	}
	memcpy(sun.sun_path, p, strlen(p) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		r = aj_fail(aj, -errno, "socket: %s", strerror(errno));
		free(p);
		return r;
	}
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		int e = errno;
		if (e == EAGAIN)
			r = aj_fail(aj, -EAGAIN, "cannot connect to %s: the daemon is not accepting "
				    "connections fast enough (listen queue full)", p);
		else
			r = aj_fail(aj, -e, "cannot connect to %s: %s", p, strerror(e));
		close(fd);
		free(p);
		return r;
	}
	free(aj->path);
	aj->path = p;
	aj->fd = fd;
	aj->broken = false;
	aj->errmsg[0] = '\0';
	update_watch(aj);
	return 0;
}

/* ------------------------------------------------------------ replies */

static void unlink_pending(asyncjob *aj, struct pending *p)
{
	if (p->prev)
		p->prev->next = p->next;
	else
		aj->head = p->next;
	if (p->next)
		p->next->prev = p->prev;
	else
		aj->tail = p->prev;
	aj->n_pending--;
}

static void complete(asyncjob *aj, struct pending *p, struct asyncjob_reply *reply)
{
	unlink_pending(aj, p);
	if (p->fn) {
		aj->dispatching++;
		p->fn(aj, reply, p->userdata);
		aj->dispatching--;
	}
	free(reply->result_text);
	free(reply->data_text);
	reply->result_text = reply->data_text = NULL;
	reply->tree = json_tree_unref(reply->tree);
	free(p);
}

/* Every request still waiting gets `status`. */
static void fail_all_pending(asyncjob *aj, int status)
{
	while (aj->head) {
		struct asyncjob_reply reply = { .status = status };
		complete(aj, aj->head, &reply);
	}
}

static int connection_lost(asyncjob *aj, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int connection_lost(asyncjob *aj, int err, const char *fmt, ...)
{
	va_list ap;

	if (!aj->broken) {
		/* Keep an explanation the daemon sent before closing (say,
		 * "too many connections") rather than a bare EOF. */
		if (!(err == -ECONNRESET && aj->errmsg[0])) {
			va_start(ap, fmt);
			vsnprintf(aj->errmsg, sizeof(aj->errmsg), fmt, ap);
			va_end(ap);
		}
		aj->broken = true;
	}
	fail_all_pending(aj, -ECONNRESET);
	update_watch(aj);
	return err;
}

static void deliver_event(asyncjob *aj, const char *method, size_t method_len,
			  const struct json_value *params)
{
	asyncjob_event *ev = calloc(1, sizeof(*ev));
	const struct json_value *job;

	if (!ev)
		goto lost;
	ev->method = strndup(method, method_len);
	if (!ev->method)
		goto lost;
	if (params && !(ev->params = json_clone(params)))
		goto lost;
	json_uint64(json_get(params, "seq"), &ev->seq);
	if (strcmp(ev->method, RPC_NOTIFY_JOB_UPDATED) == 0 && (job = json_get(params, "job")) &&
	    aj_job_new(job, NULL, &ev->job) < 0)
		goto lost;

	if (aj->event_fn) {
		aj->dispatching++;
		aj->event_fn(aj, ev, aj->event_userdata);
		aj->dispatching--;
		asyncjob_event_free(ev);
		return;
	}
	if (aj->n_events >= MAX_QUEUED_EVENTS) {
		asyncjob_event_free(ev);
		aj->events_lost = true;
		return;
	}
	struct queued_event *q = malloc(sizeof(*q));
	if (!q)
		goto lost;
	q->ev = ev;
	q->next = NULL;
	if (aj->ev_tail)
		aj->ev_tail->next = q;
	else
		aj->ev_head = q;
	aj->ev_tail = q;
	aj->n_events++;
	return;
lost:
	asyncjob_event_free(ev);
	aj->events_lost = true;
}

/* A message has been parsed whole: dispatches it. Returns 1 to stop reading
 * (the connection is to be freed), 0, or a negative errno. */
static int handle_message(asyncjob *aj)
{
	const struct json_value *msg = NULL, *params;
	struct rpc_response resp;
	const char *reason, *method;
	size_t method_len;
	uint64_t id;

	int r = json_parse_end(&aj->parser, &msg, &reason);
	if (r == -ENOMEM)
		return connection_lost(aj, -ENOMEM, "out of memory");
	if (r < 0)
		return connection_lost(aj, -EBADMSG, "unreadable message from the daemon: %s", reason);
	if (rpc_notification_parse(msg, &method, &method_len, &params)) {
		deliver_event(aj, method, method_len, params);
		goto out;
	}
	if (rpc_response_parse(msg, &resp, &reason) < 0)
		return connection_lost(aj, -EBADMSG, "unreadable reply from the daemon: %s", reason);
	if (!json_uint64(resp.id, &id)) {
		/* Not an answer to any request: the daemon explains why it
		 * will close the connection (a limit, a too large request). */
		if (resp.is_error)
			aj_fail(aj, -ECONNRESET, "the daemon refused: %.*s",
				(int)resp.error_message_len, resp.error_message);
		goto out;
	}
	struct pending *p;
	for (p = aj->head; p && p->id != id; p = p->next)
		;
	if (!p)
		goto out;   /* a reply to an abandoned request */
	struct asyncjob_reply reply = {
		.status = resp.is_error ? -EREMOTEIO : 0,
		.error_code = resp.error_code,
		.error_message = resp.error_message,
		.error_data = resp.error_data,
		.result = resp.result,
		.parser = &aj->parser,
	};
	complete(aj, p, &reply);
out:
	if (aj->free_requested)
		return 1;
	return 0;
}

/* ------------------------------------------------------------ I/O */

static int flush_out(asyncjob *aj)
{
	while (aj->out_off < aj->out_len) {
		ssize_t n = send(aj->fd, aj->out + aj->out_off, aj->out_len - aj->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			return connection_lost(aj, -errno, "writing to %s: %s", aj->path,
					       strerror(errno));
		}
		aj->out_off += (size_t)n;
	}
	if (aj->out_off == aj->out_len)
		aj->out_off = aj->out_len = 0;
	return 0;
}

/* Parses bytes read as they come, a message per line. Returns 1 when a
 * message asked to stop reading, 0, or a negative errno. */
static int take_bytes(asyncjob *aj, const char *buf, size_t n)
{
	size_t pos = 0;

	while (pos < n) {
		const char *nl = memchr(buf + pos, '\n', n - pos);
		size_t end = nl ? (size_t)(nl - buf) : n;
		const char *reason;

		if (!aj->in_message) {
			json_parse_begin(&aj->parser);
			aj->in_message = true;
			aj->message_bytes = 0;
		}
		aj->message_bytes += end - pos;
		if (aj->message_bytes > aj->max_reply)
			return connection_lost(aj, -EMSGSIZE, "a reply exceeded %zu bytes",
					       aj->max_reply);
		int r = json_parse_feed(&aj->parser, buf + pos, end - pos, nl != NULL, &reason);
		if (r == -ENOMEM)
			return connection_lost(aj, -ENOMEM, "out of memory");
		if (r < 0)
			return connection_lost(aj, -EBADMSG, "unreadable message from the daemon: %s",
					       reason);
		if (!nl)
			break;
		pos = end + 1;
		aj->in_message = false;
		if ((r = handle_message(aj)) != 0)
			return r;
	}
	return 0;
}

static int read_some(asyncjob *aj)
{
	char buf[65536];

	for (int i = 0; i < READS_PER_PROCESS && !aj->broken && !aj->free_requested; i++) {
		ssize_t n = recv(aj->fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 0;
			return connection_lost(aj, -errno, "reading from %s: %s", aj->path,
					       strerror(errno));
		}
		if (n == 0)
			return connection_lost(aj, -ECONNRESET, "the daemon closed the connection");
		int r = take_bytes(aj, buf, (size_t)n);
		if (r < 0)
			return r;
		if ((size_t)n < sizeof(buf))
			return 0;
	}
	return 0;
}

static void really_free(asyncjob *aj);

ASYNCJOB_EXPORT int asyncjob_process(asyncjob *aj, int events)
{
	int r = 0;

	if (aj->fd < 0)
		return aj_fail(aj, -ENOTCONN, "not connected");
	if (aj->broken)
		return -ECONNRESET;
	/* From inside a callback only the writing is done: the reply being
	 * handled lives in the parser a nested read would reuse. */
	bool nested = aj->dispatching > 0;
	aj->dispatching++;
	if (aj->out_len > aj->out_off)
		r = flush_out(aj);
	if (r == 0 && !nested && (events & ASYNCJOB_EV_READ || events == 0))
		r = read_some(aj);
	aj->dispatching--;
	if (aj->free_requested && aj->dispatching == 0 && !aj->blocking) {
		really_free(aj);
		return 0;
	}
	update_watch(aj);
	return r;
}

/* Room for `len` more bytes of output. */
static int reserve_out(asyncjob *aj, size_t len)
{
	if (aj->out_off > 0 && aj->out_off == aj->out_len)
		aj->out_off = aj->out_len = 0;
	if (aj->out_len + len > aj->out_cap) {
		if (aj->out_off > 0) {
			memmove(aj->out, aj->out + aj->out_off, aj->out_len - aj->out_off);
			aj->out_len -= aj->out_off;
			aj->out_off = 0;
		}
		size_t cap = aj->out_cap ? aj->out_cap : 4096;
		while (cap < aj->out_len + len)
			cap *= 2;
		if (cap != aj->out_cap) {
			char *p = realloc(aj->out, cap);
			if (!p)
				return -ENOMEM;
			aj->out = p;
			aj->out_cap = cap;
		}
	}
	return 0;
}

static void append_out(asyncjob *aj, const char *data, size_t len)
{
	memcpy(aj->out + aj->out_len, data, len);
	aj->out_len += len;
}


int aj_send(asyncjob *aj, const char *method, const char *params, size_t params_len,
	    asyncjob_reply_fn fn, void *userdata)
{
	struct jsonw *w = &aj->w;
	struct pending *p;

	if (aj->fd < 0)
		return aj_fail(aj, -ENOTCONN, "not connected");
	if (aj->broken)
		return aj_fail(aj, -ENOTCONN, "the connection to %s was lost", aj->path);
	p = calloc(1, sizeof(*p));
	if (!p)
		return aj_fail(aj, -ENOMEM, "out of memory");
	p->id = ++aj->next_id;
	p->fn = fn;
	p->userdata = userdata;

	/* The params go to the output as they are, not through `w`: a
	 * gather's are 3 MB. */
	jsonw_reset(w);
	jsonw_object_begin(w);
	jsonw_key(w, "jsonrpc");
	jsonw_raw_value(w, "\"2.0\"", 5);
	jsonw_key(w, "id");
	jsonw_uint(w, p->id);
	jsonw_key(w, "method");
	jsonw_string(w, method);
	if (params)
		jsonw_key(w, "params");
	if (!params)
		params_len = 0;
	if (w->failed || reserve_out(aj, w->len + params_len + 2) < 0) {
		free(p);
		return aj_fail(aj, -ENOMEM, "out of memory");
	}
	append_out(aj, w->buf, w->len);
	if (params_len)
		append_out(aj, params, params_len);
	append_out(aj, "}\n", 2);
	p->prev = aj->tail;
	if (aj->tail)
		aj->tail->next = p;
	else
		aj->head = p;
	aj->tail = p;
	aj->n_pending++;
	update_watch(aj);
	return 0;
}

ASYNCJOB_EXPORT int asyncjob_send_call(asyncjob *aj, const char *method, const char *params_json,
				       asyncjob_reply_fn fn, void *userdata)
{
	return aj_send(aj, method, params_json, params_json ? strlen(params_json) : 0, fn,
		       userdata);
}

/* ------------------------------------------------------------ blocking */

static void really_free(asyncjob *aj);

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for the socket up to `timeout_ms` (< 0: forever) and processes. */
static int wait_io(asyncjob *aj, int timeout_ms)
{
	struct pollfd p = { .fd = aj->fd, .events = POLLIN };
	int r;

	if (aj->out_len > aj->out_off) {
		r = flush_out(aj);
		if (r < 0)
			return r;
		if (aj->out_len > aj->out_off)
			p.events |= POLLOUT;
	}
	r = poll(&p, 1, timeout_ms);
	if (r < 0) {
		if (errno == EINTR)
			return aj_fail(aj, -EINTR, "interrupted");
		return aj_fail(aj, -errno, "poll: %s", strerror(errno));
	}
	if (r == 0)
		return aj_fail(aj, -ETIMEDOUT, "timed out");
	int ev = 0;
	if (p.revents & (POLLIN | POLLHUP | POLLERR))
		ev |= ASYNCJOB_EV_READ;
	if (p.revents & POLLOUT)
		ev |= ASYNCJOB_EV_WRITE;
	return asyncjob_process(aj, ev);
}

struct sync_call {
	bool done;
	int status;
	int code;
	char *message;
	char *data;
	aj_take_fn take;
	void *out;
	int take_status;
};

static void sync_reply(asyncjob *aj, const asyncjob_reply *reply, void *userdata)
{
	struct sync_call *s = userdata;
	(void)aj;

	s->done = true;
	s->status = reply->status;
	if (reply->status == -EREMOTEIO) {
		s->code = reply->error_code;
		s->message = strdup(reply->error_message ? reply->error_message : "");
		if (reply->error_data)
			s->data = aj_json_text(reply->error_data);
	} else if (reply->status == 0 && s->take) {
		s->take_status = s->take((asyncjob_reply *)reply, s->out);
	}
}

static void abandon(asyncjob *aj, uint64_t id)
{
	for (struct pending *p = aj->head; p; p = p->next)
		if (p->id == id)
			p->fn = NULL;
}

int aj_call(asyncjob *aj, const char *method, const char *params, size_t params_len,
	    aj_take_fn take, void *out, const char *what)
{
	struct sync_call s = { .take = take, .out = out };
	int r;

	if (aj->dispatching || aj->blocking)
		return aj_fail(aj, -EDEADLK, "a blocking call cannot be made from a callback");
	r = aj_send(aj, method, params, params_len, sync_reply, &s);
	if (r < 0)
		return r;
	uint64_t id = aj->next_id;
	aj->rpc_code = 0;
	free(aj->rpc_data);
	aj->rpc_data = NULL;

	/* process() must not free the handle under us: a free asked for by
	 * a callback meanwhile happens when this call returns. */
	aj->blocking = true;
	while (!s.done) {
		r = wait_io(aj, -1);
		if (r < 0 && !s.done) {
			abandon(aj, id);
			break;
		}
	}
	aj->blocking = false;
	if (aj->free_requested) {
		free(s.message);
		free(s.data);
		really_free(aj);
		return -ECANCELED;
	}

	if (!s.done)
		return r;
	if (s.status == -EREMOTEIO) {
		aj->rpc_code = s.code;
		aj->rpc_data = s.data;
		aj_fail(aj, -EREMOTEIO, "%s", s.message ? s.message : "error");
		free(s.message);
		return -EREMOTEIO;
	}
	if (s.status < 0)
		return s.status;
	if (s.take_status == -ENOMEM)
		return aj_fail(aj, -ENOMEM, "out of memory");
	if (s.take_status < 0)
		return aj_fail(aj, s.take_status, "the daemon's reply holds no %s", what);
	return 0;
}

static int take_text(asyncjob_reply *reply, void *out)
{
	char **text = out;
	*text = aj_json_text(reply->result);
	return *text ? 0 : -ENOMEM;
}

ASYNCJOB_EXPORT int asyncjob_call(asyncjob *aj, const char *method, const char *params_json,
				  char **ret_result_json)
{
	char *text = NULL;
	int r;

	if (params_json) {
		/* Check locally so a typo gets a local error, not a broken
		 * connection. */
		struct json_parser parser;
		const struct json_value *p;
		const char *why;
		json_parser_init(&parser, REPLY_MAX_DEPTH);
		bool ok = json_parse(&parser, params_json, strlen(params_json), &p, &why) == 0 &&
			  (json_is(p, JSON_OBJECT) || json_is(p, JSON_ARRAY));
		json_parser_release(&parser);
		if (!ok)
			return aj_fail(aj, -EINVAL, "params must be a JSON object or array");
	}
	r = aj_call(aj, method, params_json, params_json ? strlen(params_json) : 0, take_text,
		    &text, "result");
	if (r < 0) {
		free(text);
		return r;
	}
	*ret_result_json = text;
	return 0;
}

ASYNCJOB_EXPORT int asyncjob_next_event(asyncjob *aj, int timeout_ms, asyncjob_event **ret_event)
{
	int64_t deadline = timeout_ms >= 0 ? now_ms() + timeout_ms : 0;

	if (aj->dispatching || aj->blocking)
		return aj_fail(aj, -EDEADLK, "a blocking call cannot be made from a callback");
	for (;;) {
		if (aj->events_lost) {
			aj->events_lost = false;
			return aj_fail(aj, -ENOBUFS, "events were lost: the queue overflowed");
		}
		if (aj->ev_head) {
			struct queued_event *q = aj->ev_head;
			aj->ev_head = q->next;
			if (!aj->ev_head)
				aj->ev_tail = NULL;
			aj->n_events--;
			*ret_event = q->ev;
			free(q);
			return 0;
		}
		if (aj->fd < 0)
			return aj_fail(aj, -ENOTCONN, "not connected");
		if (aj->broken)
			return -ECONNRESET;
		int left = -1;
		if (timeout_ms >= 0) {
			int64_t l = deadline - now_ms();
			left = l > 0 ? (int)l : 0;
		}
		aj->blocking = true;
		int r = wait_io(aj, left);
		aj->blocking = false;
		if (aj->free_requested) {
			really_free(aj);
			return -ECANCELED;
		}
		if (r < 0 && !aj->ev_head)
			return r;
	}
}

/* ------------------------------------------------------------ reconnecting */

int aj_reopen(asyncjob *aj)
{
	if (!aj->path)
		return aj_fail(aj, -ENOTCONN, "not connected before: no socket to connect to again");
	/* A callback told of the loss may free the handle: the free waits
	 * until the requests have all been told. */
	aj->dispatching++;
	fail_all_pending(aj, -ECONNRESET);
	aj->dispatching--;
	if (aj->free_requested) {
		if (!aj->blocking)
			really_free(aj);
		return -ECANCELED;
	}
	if (aj->fd >= 0) {
		close(aj->fd);
		aj->fd = -1;
	}
	/* Nothing of the old connection carries over: a request half
	 * written, a message half read. */
	aj->out_len = aj->out_off = 0;
	aj->in_message = false;
	aj->broken = false;
	update_watch(aj);
	return asyncjob_connect(aj, aj->path);
}

ASYNCJOB_EXPORT int asyncjob_reconnect(asyncjob *aj)
{
	if (aj->dispatching || aj->blocking)
		return aj_fail(aj, -EDEADLK, "cannot reconnect from a callback");
	return aj_reopen(aj);
}

ASYNCJOB_EXPORT int asyncjob_set_reconnect(asyncjob *aj, double seconds, asyncjob_reconnect_fn fn,
					   void *userdata)
{
	/* A century is "as long as it takes", and fits the milliseconds. */
	if (!(seconds >= 0) || seconds > 100.0 * 365 * 86400)
		return aj_fail(aj, -EINVAL, "the reconnect limit must be a number of seconds >= 0");
	aj->reconnect_ms = (int64_t)(seconds * 1000);
	if (seconds > 0 && aj->reconnect_ms == 0)
		aj->reconnect_ms = 1;
	aj->reconnect_fn = fn;
	aj->reconnect_userdata = userdata;
	return 0;
}

/* ------------------------------------------------------------ freeing */

static void really_free(asyncjob *aj)
{
	aj->dispatching++;
	fail_all_pending(aj, -ECANCELED);
	if (aj->watch_fn)
		aj->watch_fn(aj, -1, aj->watch_userdata);
	aj->dispatching--;
	while (aj->ev_head) {
		struct queued_event *q = aj->ev_head;
		aj->ev_head = q->next;
		asyncjob_event_free(q->ev);
		free(q);
	}
	if (aj->fd >= 0)
		close(aj->fd);
	json_parser_release(&aj->parser);
	jsonw_release(&aj->w);
	free(aj->out);
	free(aj->path);
	free(aj->rpc_data);
	free(aj);
}

ASYNCJOB_EXPORT asyncjob *asyncjob_free(asyncjob *aj)
{
	if (!aj)
		return NULL;
	if (aj->dispatching || aj->blocking) {
		aj->free_requested = true;
		return NULL;
	}
	really_free(aj);
	return NULL;
}
