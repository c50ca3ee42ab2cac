/* libcurl's multi interface on the daemon's libevent loop: one CURLM for all
 * fetches, so connections are reused across jobs; curl tells us which
 * sockets and timeouts to watch (socket and timer callbacks) and we call
 * curl_multi_socket_action when they fire. Transfers past the caps (in all
 * and per host) wait in a queue until a slot frees. */
#ifndef ASYNCJOBD_FETCH_ENGINE_H
#define ASYNCJOBD_FETCH_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/queue.h>

#include <curl/curl.h>

struct event_base;
struct fetch_engine;

struct fetch_transfer {
	CURL *easy;
	/* The host the caps count against (from the first URL). */
	char *host;
	/* The transfer has its slot. It is handed to curl, and runs, with
	 * fetch_engine_begin, now or later (once the job's store has it
	 * recorded as running); taken back, it never is. */
	void (*started)(struct fetch_transfer *t);
	/* It ended, with curl's result; the easy handle is no longer in the
	 * multi handle and may be reused or freed. Not called for a transfer
	 * taken back with fetch_engine_remove(). */
	void (*finished)(struct fetch_transfer *t, CURLcode result);
	/* The engine's bookkeeping. */
	bool queued, active;
	bool in_curl;           /* added to the multi handle */
	TAILQ_ENTRY(fetch_transfer) link;
};

struct fetch_engine *fetch_engine_new(struct event_base *base, size_t max_total, size_t max_per_host);
/* Aborts every transfer (no callbacks) and frees the engine. NULL is fine. */
struct fetch_engine *fetch_engine_free(struct fetch_engine *e);
void fetch_engine_set_limits(struct fetch_engine *e, size_t max_total, size_t max_per_host);

/* Starts the transfer now if the caps allow, else queues it (`started` is
 * called when it starts). t->easy and t->host must be set. */
void fetch_engine_add(struct fetch_engine *e, struct fetch_transfer *t);

/* Hands a transfer that has its slot (after `started`) to curl. Does
 * nothing for one taken back meanwhile. */
void fetch_engine_begin(struct fetch_engine *e, struct fetch_transfer *t);

/* Takes a transfer back at once, queued or running; no callback follows.
 * Must not be called from inside a curl callback. */
void fetch_engine_remove(struct fetch_engine *e, struct fetch_transfer *t);

/* An easy handle for a new fetch: an idle one, reset, when there is one,
 * else a new one; NULL when out of memory. Reuse keeps the handle's receive
 * buffer (256 KB, set by the fetch job) paged in: a new one per fetch cost
 * a page fault for every 4 KB it touched. */
CURL *fetch_engine_easy_take(struct fetch_engine *e);
/* Takes back a handle no transfer uses: kept idle (up to a few dozen) or
 * cleaned up. NULL is fine. */
void fetch_engine_easy_give(struct fetch_engine *e, CURL *easy);

size_t fetch_engine_active(const struct fetch_engine *e);
size_t fetch_engine_queued(const struct fetch_engine *e);

#endif
