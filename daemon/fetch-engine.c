/* The libcurl multi + libevent glue (the pattern of curl's
 * docs/examples/multi-event.c), with our own admission control: a transfer
 * starts only while fewer than max_total run in all and fewer than
 * max_per_host run for its host; the others wait, per host, and hosts with
 * waiting transfers take turns as slots free, so one busy host cannot starve
 * the rest. Every step is O(1). */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <uthash.h>

#include "daemon/fetch-engine.h"
#include "daemon/log.h"
#include "daemon/xalloc.h"

#undef uthash_fatal
#define uthash_fatal(msg) xalloc_die()

TAILQ_HEAD(transfer_queue, fetch_transfer);

struct host {
	char *name;
	size_t active;
	struct transfer_queue waiting;
	bool in_turns;                  /* on the engine's list of hosts to serve */
	TAILQ_ENTRY(host) turn_link;
	UT_hash_handle hh;
};

/* Enough for a burst of concurrent fetches; each holds a 256 KB buffer,
 * of which only what transfers touched is resident. */
#define IDLE_EASY_MAX 64

struct fetch_engine {
	struct event_base *base;
	CURLM *multi;
	struct event *timer;
	size_t max_total, max_per_host;
	size_t active, queued;
	struct host *hosts;
	TAILQ_HEAD(, host) turns;       /* hosts with waiting transfers and a free slot */
	LIST_HEAD(, sock) socks;        /* every socket curl has us watch */
	CURL *idle[IDLE_EASY_MAX];      /* easy handles kept for the next fetches */
	size_t n_idle;
};

/* One per socket curl asks us to watch; the struct event lives right after
 * it (event_get_struct_event_size()), so changing what is watched reuses it. */
struct sock {
	struct fetch_engine *e;
	curl_socket_t fd;
	LIST_ENTRY(sock) link;
};

static struct event *sock_event(struct sock *s)
{
	return (struct event *)(s + 1);
}

/* ------------------------------------------------------------ curl glue */

static void check_done(struct fetch_engine *e);
static void start_waiting(struct fetch_engine *e);

static void on_socket_event(evutil_socket_t fd, short what, void *arg)
{
	struct fetch_engine *e = arg;
	int flags = 0, running;

	if (what & EV_READ)
		flags |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		flags |= CURL_CSELECT_OUT;
	curl_multi_socket_action(e->multi, fd, flags, &running);
	check_done(e);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct fetch_engine *e = arg;
	int running;
	(void)fd;
	(void)what;

	curl_multi_socket_action(e->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(e);
}

static int socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct fetch_engine *e = userp;
	struct sock *s = socketp;
	(void)easy;

	if (what == CURL_POLL_REMOVE) {
		if (s) {
			event_del(sock_event(s));
			LIST_REMOVE(s, link);
			free(s);
			curl_multi_assign(e->multi, fd, NULL);
		}
		return 0;
	}
	if (!s) {
		s = xcalloc(1, sizeof(*s) + event_get_struct_event_size());
		s->e = e;
		s->fd = fd;
		LIST_INSERT_HEAD(&e->socks, s, link);
		curl_multi_assign(e->multi, fd, s);
	} else {
		/* An event must be deleted before it is assigned again. */
		event_del(sock_event(s));
	}
	short kind = EV_PERSIST | ((what & CURL_POLL_IN) ? EV_READ : 0) |
		     ((what & CURL_POLL_OUT) ? EV_WRITE : 0);
	event_assign(sock_event(s), e->base, fd, kind, on_socket_event, e);
	event_add(sock_event(s), NULL);
	return 0;
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct fetch_engine *e = userp;
	(void)multi;

	if (timeout_ms < 0) {
		evtimer_del(e->timer);
		return 0;
	}
	struct timeval tv = { .tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000 };
	xevtimer_add(e->timer, &tv);
	return 0;
}

/* ------------------------------------------------------------ admission */

static struct host *get_host(struct fetch_engine *e, const char *name)
{
	struct host *h;
	HASH_FIND_STR(e->hosts, name, h);
	if (h)
		return h;
	h = xcalloc(1, sizeof(*h));
	h->name = xstrdup(name);
	TAILQ_INIT(&h->waiting);
	HASH_ADD_KEYPTR(hh, e->hosts, h->name, strlen(h->name), h);
	return h;
}

static struct host *find_host(struct fetch_engine *e, const char *name)
{
	struct host *h;
	HASH_FIND_STR(e->hosts, name, h);
	return h;
}

static void release_host_if_idle(struct fetch_engine *e, struct host *h)
{
	if (h->active > 0 || !TAILQ_EMPTY(&h->waiting) || h->in_turns)
		return;
	HASH_DEL(e->hosts, h);
	free(h->name);
	free(h);
}

static void update_turn(struct fetch_engine *e, struct host *h)
{
	bool wants = !TAILQ_EMPTY(&h->waiting) && h->active < e->max_per_host;
	if (wants && !h->in_turns) {
		TAILQ_INSERT_TAIL(&e->turns, h, turn_link);
		h->in_turns = true;
	} else if (!wants && h->in_turns) {
		TAILQ_REMOVE(&e->turns, h, turn_link);
		h->in_turns = false;
	}
}

static void start_now(struct fetch_engine *e, struct host *h, struct fetch_transfer *t)
{
	t->active = true;
	h->active++;
	e->active++;
	curl_easy_setopt(t->easy, CURLOPT_PRIVATE, t);
	t->started(t);
}

void fetch_engine_begin(struct fetch_engine *e, struct fetch_transfer *t)
{
	CURLMcode rc;

	if (!t->active || t->in_curl)
		return;
	rc = curl_multi_add_handle(e->multi, t->easy);
	if (rc != CURLM_OK) {
		/* Only misuse or memory exhaustion get here. */
		log_errx("curl_multi_add_handle: %s", curl_multi_strerror(rc));
		xalloc_die();
	}
	t->in_curl = true;
}

static void start_waiting(struct fetch_engine *e)
{
	struct host *h;

	while (e->active < e->max_total && (h = TAILQ_FIRST(&e->turns))) {
		struct fetch_transfer *t = TAILQ_FIRST(&h->waiting);
		TAILQ_REMOVE(&h->waiting, t, link);
		t->queued = false;
		e->queued--;
		/* Round robin: this host goes to the back of the line. */
		TAILQ_REMOVE(&e->turns, h, turn_link);
		h->in_turns = false;
		start_now(e, h, t);
		update_turn(e, h);
	}
}

void fetch_engine_add(struct fetch_engine *e, struct fetch_transfer *t)
{
	struct host *h = get_host(e, t->host);

	/* Straight in when there is room and nobody waits ahead of it. */
	if (e->active < e->max_total && h->active < e->max_per_host && TAILQ_EMPTY(&e->turns) &&
	    TAILQ_EMPTY(&h->waiting)) {
		start_now(e, h, t);
		return;
	}
	t->queued = true;
	e->queued++;
	TAILQ_INSERT_TAIL(&h->waiting, t, link);
	update_turn(e, h);
}

/* Takes an active transfer out of curl and out of the counts. */
static void detach_active(struct fetch_engine *e, struct fetch_transfer *t)
{
	struct host *h = find_host(e, t->host);

	if (t->in_curl)
		curl_multi_remove_handle(e->multi, t->easy);
	t->in_curl = false;
	t->active = false;
	e->active--;
	if (h) {
		h->active--;
		update_turn(e, h);
		release_host_if_idle(e, h);
	}
}

void fetch_engine_remove(struct fetch_engine *e, struct fetch_transfer *t)
{
	if (t->active) {
		detach_active(e, t);
		start_waiting(e);
	} else if (t->queued) {
		struct host *h = find_host(e, t->host);
		TAILQ_REMOVE(&h->waiting, t, link);
		t->queued = false;
		e->queued--;
		update_turn(e, h);
		release_host_if_idle(e, h);
	}
}

static void check_done(struct fetch_engine *e)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(e->multi, &left))) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		CURL *easy = msg->easy_handle;
		CURLcode result = msg->data.result;
		struct fetch_transfer *t = NULL;
		curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&t);
		detach_active(e, t);
		t->finished(t, result);
	}
	start_waiting(e);
}

/* ------------------------------------------------------------ lifetime */

struct fetch_engine *fetch_engine_new(struct event_base *base, size_t max_total, size_t max_per_host)
{
	struct fetch_engine *e = xcalloc(1, sizeof(*e));

	/* Reference counted by libcurl, and thread-safe since 7.84. */
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		free(e);
		return NULL;
	}
	/* Without an asynchronous resolver (threaded or c-ares) curl looks
	 * names up with a blocking getaddrinfo() on our loop. Worth running
	 * with (fetches by address, or a fast local resolver), so a warning. */
	const curl_version_info_data *curl = curl_version_info(CURLVERSION_NOW);
	if (!(curl->features & CURL_VERSION_ASYNCHDNS))
		log_warnx("libcurl %s has no asynchronous resolver: every host name a fetch "
			  "looks up blocks all jobs and clients until the lookup ends",
			  curl->version);
	e->base = base;
	TAILQ_INIT(&e->turns);
	LIST_INIT(&e->socks);
	e->multi = curl_multi_init();
	e->timer = evtimer_new(base, on_timer, e);
	if (!e->multi || !e->timer)
		xalloc_die();
	curl_multi_setopt(e->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
	curl_multi_setopt(e->multi, CURLMOPT_SOCKETDATA, e);
	curl_multi_setopt(e->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(e->multi, CURLMOPT_TIMERDATA, e);
	fetch_engine_set_limits(e, max_total, max_per_host);
	return e;
}

void fetch_engine_set_limits(struct fetch_engine *e, size_t max_total, size_t max_per_host)
{
	struct host *h, *tmp;

	e->max_total = max_total ? max_total : 1;
	e->max_per_host = max_per_host ? max_per_host : 1;
	/* A backstop for redirects to other hosts, which our counts (by the
	 * first URL's host) do not see. */
	curl_multi_setopt(e->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)e->max_per_host);
	curl_multi_setopt(e->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)e->max_total);
	HASH_ITER(hh, e->hosts, h, tmp)
		update_turn(e, h);
	start_waiting(e);
}

struct fetch_engine *fetch_engine_free(struct fetch_engine *e)
{
	struct host *h, *tmp;

	if (!e)
		return NULL;
	HASH_ITER(hh, e->hosts, h, tmp) {
		struct fetch_transfer *t;
		while ((t = TAILQ_FIRST(&h->waiting))) {
			TAILQ_REMOVE(&h->waiting, t, link);
			t->queued = false;
		}
		HASH_DEL(e->hosts, h);
		free(h->name);
		free(h);
	}
	while (e->n_idle > 0)
		curl_easy_cleanup(e->idle[--e->n_idle]);
	/* The multi handle goes before the event base (it may still call the
	 * socket callback to drop sockets). Transfers still in it belong to
	 * jobs, which remove them first; this is the last word. */
	curl_multi_cleanup(e->multi);
	/* Sockets of cached connections curl closed without telling us. */
	struct sock *sk;
	while ((sk = LIST_FIRST(&e->socks))) {
		event_del(sock_event(sk));
		LIST_REMOVE(sk, link);
		free(sk);
	}
	event_free(e->timer);
	free(e);
	curl_global_cleanup();
	return NULL;
}

CURL *fetch_engine_easy_take(struct fetch_engine *e)
{
	if (e->n_idle > 0)
		return e->idle[--e->n_idle];
	return curl_easy_init();
}

void fetch_engine_easy_give(struct fetch_engine *e, CURL *easy)
{
	if (!easy)
		return;
	if (e->n_idle == IDLE_EASY_MAX) {
		curl_easy_cleanup(easy);
		return;
	}
	/* Every option back to its default: the next fetch sets its own. */
	curl_easy_reset(easy);
	e->idle[e->n_idle++] = easy;
}

size_t fetch_engine_active(const struct fetch_engine *e)
{
	return e->active;
}

size_t fetch_engine_queued(const struct fetch_engine *e)
{
	return e->queued;
}
