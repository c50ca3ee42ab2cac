/* Job events: every state change gets the next sequence number, is kept in a
 * bounded history (event_history) for replay, and goes to each subscribed
 * connection that may see the job. */
#ifndef ASYNCJOBD_EVENTS_H
#define ASYNCJOBD_EVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct daemon;
struct conn;
struct job;
struct jsonw;
struct rpc_call;

struct event_log;

struct event_log *event_log_new(size_t capacity);
struct event_log *event_log_free(struct event_log *log);
/* Changes how many events are kept; the newest stay. */
void event_log_resize(struct event_log *log, size_t capacity);

/* Records the job's current state and tells subscribers. */
void event_log_record(struct daemon *d, struct job *job);

/* Sends a job.progress notification ({"id", "progress"}) to subscribers;
 * progress is not kept for replay and has no sequence number. */
void event_log_progress(struct daemon *d, struct job *job);

uint64_t event_log_last_seq(const struct event_log *log);
/* After a restart: numbering goes on above `seq` (the store's mark). */
void event_log_set_base(struct event_log *log, uint64_t seq);
/* The store change that makes the last sequence number handed out
 * durable: what tells a client of a sequence number waits for it. */
uint64_t event_log_mark_change(const struct event_log *log);
/* The oldest sequence number still kept (last_seq + 1 when none is). */
uint64_t event_log_first_seq(const struct event_log *log);

/* events.subscribe for the connection making `call` (replacing an earlier
 * subscription): to every job it may see, or only to `ids` (copied) when
 * n_ids > 0. With `replay`, the kept events after `since` are sent first,
 * as fast as the client reads them (never more than a window unread), and
 * the reply follows the last: returns 0 with the reply written in `result`
 * when that is done at once, RPC_DEFERRED when the replay goes on as the
 * client reads. Live events wait behind a replay (the history holds them). */
int event_log_subscribe(struct rpc_call *call, const uint64_t *ids, size_t n_ids, bool replay,
			uint64_t since, struct jsonw *result);
/* The connection's output has drained: a replay in progress goes on. */
void event_log_replay_resume(struct daemon *d, struct conn *conn);
/* Ends the subscription, if any. */
void event_log_unsubscribe(struct daemon *d, struct conn *conn);

/* Counts subscribed connections (for daemon.info). */
size_t event_log_subscribers(const struct event_log *log);

#endif
