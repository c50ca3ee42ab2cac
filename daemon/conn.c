/* Client connections. A connection is never freed inside a callback that
 * may still use it: conn_kill() only marks it and queues it, and the daemon's
 * deferred event does the freeing (and the canceling it implies) later in
 * the same loop turn. */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "daemon/conn.h"
#include "daemon/daemon.h"
#include "daemon/events.h"
#include "daemon/identity.h"
#include "daemon/job-store.h"
#include "daemon/job.h"
#include "daemon/log.h"
#include "daemon/rpc.h"
#include "daemon/upload.h"
#include "daemon/xalloc.h"

/* Reading stops while this much output is unread, and resumes once it has
 * drained to a quarter; a pipelining client is slowed, not cut off. */
static size_t pause_threshold(const struct conn *c)
{
	size_t max = c->d->config->limits.max_output_bytes;
	size_t t = max / 4;
	return t > 1024 * 1024 ? 1024 * 1024 : t;
}

static void on_read(struct bufferevent *bev, void *arg);

/* Bytes written for the client and not yet taken by it: in the socket's
 * queue and held for the store. */
static size_t unread_bytes(struct conn *c)
{
	size_t n = evbuffer_get_length(bufferevent_get_output(c->bev));
	return c->held ? n + evbuffer_get_length(c->held) : n;
}

struct held_mark {
	size_t len;            /* bytes of the message */
	uint64_t needs;        /* the store change it waits for */
};

/* Where a message of `len` bytes that tells of store change `needs` goes:
 * straight to the socket's queue when that change is on disk and nothing
 * is held before it; else held, behind a mark. */
static struct evbuffer *output_for(struct conn *c, size_t len, uint64_t needs)
{
	struct job_store *s = c->d->store;

	if (c->n_marks == 0 && needs <= job_store_changes_durable(s))
		return bufferevent_get_output(c->bev);
	if (!c->held && !(c->held = evbuffer_new()))
		xalloc_die();
	if (c->marks_head + c->n_marks == c->marks_cap) {
		if (c->marks_head > 0) {
			memmove(c->marks, c->marks + c->marks_head, c->n_marks * sizeof(*c->marks));
			c->marks_head = 0;
		}
		if (c->n_marks == c->marks_cap) {
			c->marks_cap = c->marks_cap ? 2 * c->marks_cap : 16;
			c->marks = xrealloc(c->marks, c->marks_cap * sizeof(*c->marks));
		}
	}
	c->marks[c->marks_head + c->n_marks++] = (struct held_mark){ len, needs };
	if (!c->on_held_list) {
		c->on_held_list = true;
		TAILQ_INSERT_TAIL(&c->d->held_conns, c, held_link);
	}
	return c->held;
}

bool conn_release_held(struct conn *c)
{
	uint64_t durable = job_store_changes_durable(c->d->store);
	size_t n = 0;

	while (c->n_marks > 0 && c->marks[c->marks_head].needs <= durable) {
		n += c->marks[c->marks_head].len;
		c->marks_head++;
		c->n_marks--;
	}
	if (c->n_marks == 0)
		c->marks_head = 0;
	if (n > 0) {
		if (evbuffer_remove_buffer(c->held, bufferevent_get_output(c->bev), n) != (int)n)
			xalloc_die();
		conn_flush(c);
	}
	return c->n_marks == 0;
}

bool conn_has_room(struct conn *c)
{
	return unread_bytes(c) < pause_threshold(c);
}

static void pause_reading(struct conn *c)
{
	if (c->read_paused)
		return;
	c->read_paused = true;
	bufferevent_disable(c->bev, EV_READ);
	bufferevent_setwatermark(c->bev, EV_WRITE, pause_threshold(c) / 4, 0);
}

static int on_line(void *arg, const char *line, size_t len)
{
	struct conn *c = arg;

	rpc_handle_line(c, line, len);
	if (c->dead || c->closing)
		return 1;
	if (unread_bytes(c) > pause_threshold(c)) {
		pause_reading(c);
		return 1;
	}
	return 0;
}

static void on_read(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	while (!c->dead && !c->closing && !c->read_paused && evbuffer_get_length(in) > 0) {
		struct evbuffer_iovec v;
		size_t used = 0;

		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
			break;
		int r = frame_reader_feed(&c->framer, v.iov_base, v.iov_len, on_line, c, &used);
		if (r == -EMSGSIZE) {
			char msg[128];
			snprintf(msg, sizeof(msg),
				 "Request too large: a message may be at most %zu bytes",
				 c->framer.max_line);
			log_notice("connection %" PRIu64 " (uid %u): %s; closing", c->id,
				   (unsigned)c->peer.uid, msg);
			rpc_send_error(c, RPC_REQUEST_TOO_LARGE, msg);
			evbuffer_drain(in, evbuffer_get_length(in));
			conn_close_when_flushed(c);
			break;
		}
		if (r == -ENOMEM)
			xalloc_die();
		evbuffer_drain(in, used);
	}
}

static void on_write(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	size_t left = unread_bytes(c);

	if (c->dead)
		return;
	if (c->closing && left == 0) {
		conn_kill(c, NULL);
		return;
	}
	if (c->read_paused && left <= pause_threshold(c) / 4) {
		c->read_paused = false;
		bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
		if (!c->read_closed)
			bufferevent_enable(bev, EV_READ);
		/* Lines already read and not yet handled get no new read
		 * event: handle them now. */
		on_read(bev, c);
	}
	if (c->replaying && !c->dead)
		event_log_replay_resume(c->d, c);
}

/* After EOF on a Unix socket, POLLHUP tells a peer that is gone from one
 * that only shut down its writing side and still waits for replies. */
static bool peer_gone(struct conn *c)
{
	struct pollfd p = { .fd = bufferevent_getfd(c->bev), .events = POLLOUT };
	if (p.fd < 0 || poll(&p, 1, 0) < 0)
		return true;
	return (p.revents & (POLLHUP | POLLERR)) != 0;
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;
	(void)bev;

	if (what & BEV_EVENT_ERROR) {
		conn_kill(c, strerror(EVUTIL_SOCKET_ERROR()));
		return;
	}
	if (what & BEV_EVENT_EOF) {
		if (frame_reader_pending(&c->framer) > 0)
			log_debug("connection %" PRIu64 ": peer hung up in the middle of a request",
				  c->id);
		if (peer_gone(c)) {
			conn_kill(c, NULL);
			return;
		}
		c->read_closed = true;
		if (c->n_requests == 0 && !c->sub)
			conn_close_when_flushed(c);
	}
}

struct conn *conn_new(struct daemon *d, struct bufferevent *bev, const struct peer_creds *peer)
{
	struct conn *c = xcalloc(1, sizeof(*c));

	c->d = d;
	c->id = ++d->next_conn_id;
	c->bev = bev;
	c->peer = *peer;
	frame_reader_init(&c->framer, d->config->limits.max_request_bytes);
	jsonw_init(&c->w);
	jsonw_init(&c->id_text);
	LIST_INIT(&c->requests);
	LIST_INIT(&c->owned_jobs);
	LIST_INIT(&c->uploads);
	TAILQ_INSERT_TAIL(&d->conns, c, link);
	d->n_conns++;
	daemon_user_adjust(d, peer->uid, 0, +1);
	bufferevent_setcb(bev, on_read, on_write, on_event, c);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
	log_debug("connection %" PRIu64 " from uid %u pid %d", c->id, (unsigned)peer->uid,
		  (int)peer->pid);
	return c;
}

/* Whether the client may be given more output; kills it if not. */
static bool may_send(struct conn *c)
{
	if (c->dead)
		return false;
	/* Judge the client by what it has left unread so far, not by this
	 * message: one large reply (a big gather) to a client that reads is
	 * fine; more output for one that stopped reading is not. */
	size_t unread = unread_bytes(c);
	if (unread > c->d->config->limits.max_output_bytes) {
		log_warnx("connection %" PRIu64 " (uid %u) has %zu bytes of output unread "
			  "(max_output_bytes); disconnecting it, its jobs go on",
			  c->id, (unsigned)c->peer.uid, unread);
		conn_kill(c, NULL);
		return false;
	}
	return true;
}

void conn_send(struct conn *c, const char *data, size_t len, uint64_t needs)
{
	if (!may_send(c))
		return;
	if (evbuffer_add(output_for(c, len, needs), data, len) < 0)
		xalloc_die();
	daemon_mark_dirty(c->d, c);
}

static void free_sent(const void *data, size_t len, void *extra)
{
	(void)len;
	(void)extra;
	free((void *)data);
}

/* Above this, a message's buffer is handed to the output queue instead of
 * copied into it: a reply to a gather of 100,000 jobs is 20 MB. */
#define SEND_BY_REFERENCE_BYTES (64 * 1024)

void conn_send_jsonw(struct conn *c, struct jsonw *w)
{
	if (w->len < SEND_BY_REFERENCE_BYTES) {
		conn_send(c, w->buf, w->len, w->needs);
		return;
	}
	if (!may_send(c))
		return;
	if (evbuffer_add_reference(output_for(c, w->len, w->needs), w->buf, w->len, free_sent,
				   NULL) < 0)
		xalloc_die();
	/* The queue owns the text now; the writer starts afresh. */
	jsonw_init(w);
	daemon_mark_dirty(c->d, c);
}

void conn_send_jsonw_part(struct conn *c, struct jsonw *w, bool first)
{
	size_t len;
	char *text = jsonw_detach(w, &len);

	if (!text)
		xalloc_die();
	if (c->dead || (first && !may_send(c))) {
		free(text);
		return;
	}
	if (evbuffer_add_reference(output_for(c, len, w->needs), text, len, free_sent, NULL) < 0)
		xalloc_die();
	conn_flush(c);
	daemon_mark_dirty(c->d, c);
}

void conn_flush(struct conn *c)
{
	evutil_socket_t fd = bufferevent_getfd(c->bev);
	struct evbuffer *out = bufferevent_get_output(c->bev);

	/* A bufferevent pair (tests) has no descriptor: it moves data itself.
	 * Errors are left to the bufferevent, which reports them. */
	if (fd < 0 || evbuffer_get_length(out) == 0)
		return;
	/* A socket bufferevent keeps the start of its output frozen so that
	 * only its own write callback drains it, 16 KB a loop turn; writing
	 * it here thaws it for the write as that callback does. */
	evbuffer_unfreeze(out, 1);
	evbuffer_write(out, fd);
	evbuffer_freeze(out, 1);
	/* The bufferevent calls on_write only after writes of its own: a
	 * paused reader or a closing connection that this write drained would
	 * wait for ever. It hears of it from a deferred call, never from
	 * inside the writer of a reply in parts. */
	if (c->read_paused || c->closing || c->replaying)
		bufferevent_trigger(c->bev, EV_WRITE, BEV_TRIG_DEFER_CALLBACKS);
}

void conn_kill(struct conn *c, const char *why)
{
	struct daemon *d = c->d;

	if (c->dead)
		return;
	c->dead = true;
	if (why)
		log_debug("connection %" PRIu64 " closed: %s", c->id, why);
	bufferevent_disable(c->bev, EV_READ | EV_WRITE);
	if (c->dirty) {
		TAILQ_REMOVE(&d->dirty_conns, c, dirty_link);
		c->dirty = false;
	}
	if (c->on_held_list) {
		TAILQ_REMOVE(&d->held_conns, c, held_link);
		c->on_held_list = false;
	}
	TAILQ_REMOVE(&d->conns, c, link);
	TAILQ_INSERT_TAIL(&d->dead_conns, c, link);
	daemon_kick_deferred(d);
}

void conn_close_when_flushed(struct conn *c)
{
	if (c->dead)
		return;
	c->closing = true;
	bufferevent_disable(c->bev, EV_READ);
	if (unread_bytes(c) == 0)
		conn_kill(c, NULL);
	else
		bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
}

bool conn_can_see(const struct conn *c, const struct job *job)
{
	return c->peer.admin || c->peer.uid == job->uid;
}

void conn_set_max_request(struct conn *c, size_t max)
{
	c->framer.max_line = max;
}

static void conn_destroy(struct conn *c)
{
	struct daemon *d = c->d;
	struct request *req;
	struct job *job;

	while ((req = LIST_FIRST(&c->requests)))
		request_free(req);
	while ((job = LIST_FIRST(&c->owned_jobs))) {
		job_clear_owner(job);
		job_abort(job, JOB_CANCELED, JOB_ERR_CANCELED,
			  "the client that submitted it disconnected");
	}
	event_log_unsubscribe(d, c);
	uploads_conn_closed(d, c);
	bufferevent_free(c->bev);
	frame_reader_release(&c->framer);
	jsonw_release(&c->w);
	jsonw_release(&c->id_text);
	d->n_conns--;
	daemon_user_adjust(d, c->peer.uid, 0, -1);
	identity_unref(c->peer.identity);
	if (c->held)
		evbuffer_free(c->held);
	free(c->marks);
	free(c);
}

void conn_free_dead(struct daemon *d)
{
	struct conn *c;

	while ((c = TAILQ_FIRST(&d->dead_conns))) {
		TAILQ_REMOVE(&d->dead_conns, c, link);
		conn_destroy(c);
	}
}
