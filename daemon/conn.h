/* One client connection: a bufferevent, the framing of its input, the
 * replies it is owed, the jobs it will cancel when it goes, and its
 * subscription. Everything about a peer lives here (tmux's proc.c). */
#ifndef ASYNCJOBD_CONN_H
#define ASYNCJOBD_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/types.h>

#include "proto/frame.h"
#include "proto/jsonw.h"

struct bufferevent;
struct evbuffer;
struct held_mark;
struct daemon;
struct identity;
struct job;
struct request;
struct subscription;
struct upload;

struct peer_creds {
	uid_t uid;
	gid_t gid;
	pid_t pid;
	bool admin;         /* root, or a member of admin_group */
	/* Its uid, gid and groups, for the file work of its jobs (owned: the
	 * conn takes the reference conn_new is given). */
	struct identity *identity;
};

struct conn {
	struct daemon *d;
	uint64_t id;
	struct bufferevent *bev;
	struct peer_creds peer;
	bool dead;             /* closed: waiting for the deferred free */
	bool read_closed;      /* the peer shut down its side for writing */
	bool read_paused;      /* too much output unread: stop reading */
	bool closing;          /* close once the output is flushed */
	bool dirty;            /* on the daemon's list of output to write */
	bool replaying;        /* an events replay goes on as output drains */
	struct frame_reader framer;
	struct jsonw w;        /* the reply being written */
	struct jsonw id_text;  /* the id of the request being handled */
	LIST_HEAD(, request) requests;   /* replies owed later */
	size_t n_requests;
	LIST_HEAD(, job) owned_jobs;     /* cancel_on_disconnect */
	/* Output held until the store has on disk the change it tells of:
	 * one mark a message held, its bytes and the change it waits for.
	 * Once anything is held, what comes after waits behind it, so the
	 * client reads in order; each message goes as soon as it and those
	 * before it may. */
	struct evbuffer *held;
	struct held_mark *marks;
	size_t marks_head, n_marks, marks_cap;
	bool on_held_list;
	TAILQ_ENTRY(conn) held_link;
	struct subscription *sub;
	LIST_HEAD(, upload) uploads;     /* begun here, not yet taken by a job */
	size_t n_uploads;
	TAILQ_ENTRY(conn) link;          /* in conns, then dead_conns */
	TAILQ_ENTRY(conn) dirty_link;
};

/* Takes over a connected bufferevent (which the conn then owns) and the
 * peer's identity reference. */
struct conn *conn_new(struct daemon *d, struct bufferevent *bev, const struct peer_creds *peer);

/* Hands held output over to the socket as far as the store has made
 * durable what it waits for. Returns whether nothing is held any more. */
bool conn_release_held(struct conn *c);

/* Queues bytes for the peer, once the store has on disk change `needs`
 * (jsonw.needs; 0: none) and what was queued before has gone. A peer that
 * lets its unread output grow past max_output_bytes is disconnected. */
void conn_send(struct conn *c, const char *data, size_t len, uint64_t needs);
/* The same for a writer's text. A large text is not copied: the output
 * queue takes the writer's buffer and `w` is left empty and ready. */
void conn_send_jsonw(struct conn *c, struct jsonw *w);

/* Sends the part of a message `w` holds so far and writes what the socket
 * takes now, so that the peer reads a large reply while the rest is
 * written; `w` goes on with the next part. Only a message's first part
 * (`first`) judges the peer's unread output, as conn_send does: one large
 * reply is judged once, at its start, not by its own size. */
void conn_send_jsonw_part(struct conn *c, struct jsonw *w, bool first);

/* Whether the peer may be sent more now without being slowed: less is
 * unread than makes its reading pause (a replay sends this much at a time). */
bool conn_has_room(struct conn *c);

/* Closes now: pending replies are dropped, cancel_on_disconnect jobs are
 * canceled, and the memory is freed by the deferred work. Safe to call from
 * anywhere, any number of times. */
void conn_kill(struct conn *c, const char *why);

/* Closes once everything queued has been written (for shutdown). */
void conn_close_when_flushed(struct conn *c);

/* May this peer see (get, wait on, cancel, hear about) this job? */
bool conn_can_see(const struct conn *c, const struct job *job);

/* Writes queued output to the socket now, as much as it takes. */
void conn_flush(struct conn *c);

/* Deferred work: frees killed connections. */
void conn_free_dead(struct daemon *d);

/* Applies a changed max_request_bytes to the framing. */
void conn_set_max_request(struct conn *c, size_t max);

#endif
