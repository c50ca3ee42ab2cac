/* A daemon core on its own event_base with one client connection over a
 * bufferevent pair: the real request path (framing, parsing, dispatch, jobs,
 * replies) without sockets or processes. For unit tests and the fuzzer. */
#ifndef ASYNCJOB_TESTS_DAEMON_FIXTURE_H
#define ASYNCJOB_TESTS_DAEMON_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct daemon;
struct conn;
struct config;

struct fixture {
	struct event_base *base;
	struct daemon *d;
	struct conn *conn;
	struct bufferevent *client;   /* the test's end of the pair */
	char *line;                   /* the last line received */
};

/* Creates a daemon with default limits changed by `config_lines` ("key =
 * value" lines, may be NULL) and one connection from `uid`. Aborts the test
 * program on failure. */
struct fixture *fixture_new(const char *config_lines, uid_t uid);
void fixture_free(struct fixture *f);

/* Adds another connection; returns its client end. */
struct bufferevent *fixture_connect(struct fixture *f, uid_t uid, struct conn **ret_conn);

/* Sends bytes as they are (no newline added). */
void fixture_send_raw(struct fixture *f, const char *data, size_t len);
/* Sends a line (adds the newline). */
void fixture_send(struct fixture *f, const char *line);

/* Runs the loop until a whole line has arrived or `timeout_ms` passed.
 * Returns the line (valid until the next call) or NULL. */
const char *fixture_recv(struct fixture *f, int timeout_ms);
/* The same for another client end. */
const char *fixture_recv_on(struct fixture *f, struct bufferevent *client, int timeout_ms);

/* Sends a line and returns the next line received (or NULL). */
const char *fixture_call(struct fixture *f, const char *line);

/* Runs the loop without blocking until nothing is left to do right now. */
void fixture_drain(struct fixture *f);

/* True when the daemon closed the test's connection. */
bool fixture_closed(struct fixture *f);

struct job;
/* The body of the job's record as the store would write it now, as text;
 * free() it. */
char *fixture_record_text(const struct job *job);

#endif
