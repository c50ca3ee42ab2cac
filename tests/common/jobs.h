/* Integration tests that run jobs on the real daemon (cmocka): a daemon
 * started with harness_start and the raw connections a test opens to it,
 * JSON-RPC calls that wait for their reply, and checks on job objects and
 * error replies. Replies are tracked objects (json-assert.h). */
#ifndef ASYNCJOB_TESTS_JOBS_H
#define ASYNCJOB_TESTS_JOBS_H

#include <stdint.h>

#include "tests/common/harness.h"
#include "tests/common/json-assert.h"

/* ------------------------------------------------------------ the daemon */

struct jobs_daemon {
	struct daemon_proc proc;
	int fd;                 /* the main connection, -1 when none */
	int extra[16];          /* more connections (jobs_connect) */
	size_t n_extra;
};

/* No daemon and no connection yet (for a test's setup). */
void jobs_init(struct jobs_daemon *d);
/* Starts the daemon with printf-style config lines (`fmt` NULL: none) and
 * opens the main connection. */
void jobs_start(struct jobs_daemon *d, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Opens another connection, closed by jobs_stop. */
int jobs_connect(struct jobs_daemon *d);
/* Closes every connection, stops the daemon if it runs (SIGTERM, SIGKILL
 * after `timeout_ms`), removes its directory and clears `d`. Returns the
 * daemon's exit status as harness_stop does, or 0 when none was running. */
int jobs_stop(struct jobs_daemon *d, int timeout_ms);

/* ------------------------------------------------------------ calls */

/* How long a call waits for its reply (60 s unless set). */
void jobs_set_reply_ms(int ms);
/* A request id not used before. */
int64_t jobs_next_id(void);
/* The text of a request (`params` is consumed, may be NULL); free() it. */
char *jobs_request_text(int64_t id, const char *method, struct json_object *params);
/* Waits for the reply with this id on `fd` (tracked), skipping
 * notifications and other replies; `what` names it when none comes. */
struct json_object *jobs_recv_reply(int fd, int64_t id, const char *what);
/* Sends a request (`params` is consumed, may be NULL) and returns its
 * reply (tracked). */
struct json_object *jobs_call(int fd, const char *method, struct json_object *params);
/* The same with printf-style JSON text for the params. */
struct json_object *jobs_callf(int fd, const char *method, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The result of daemon.info on the main connection (tracked). */
struct json_object *jobs_daemon_info(struct jobs_daemon *d);
/* Fails the test unless daemon.info on a new connection names a version. */
void jobs_assert_serves(struct jobs_daemon *d);

/* ------------------------------------------------------------ checks */

/* NULL when `job` is in `state` with error `code` whose message contains
 * `needle` (NULL: any message that is not empty) and no result; with
 * `code` NULL, when it has no error (and, if it succeeded, a result
 * object). Otherwise why not, in a static buffer. */
const char *jobs_check(struct json_object *job, const char *state, const char *code,
		       const char *needle);
/* NULL when `reply` is a JSON-RPC error `code` with data.field `field`
 * (NULL: any) and a message containing `needle` (NULL: any). Otherwise why
 * not, in a static buffer. */
const char *jobs_check_rpc_error(struct json_object *reply, int code, const char *field,
				 const char *needle);

/* Macros, so that a failure names the test's own line. */

/* Fails the test with the message `why` unless it is NULL. */
#define assert_no_why(why)                    \
	do {                                  \
		const char *why_ = (why);     \
		if (why_)                     \
			fail_msg("%s", why_); \
	} while (0)

#define assert_job(job, state, code, needle) \
	assert_no_why(jobs_check((job), (state), (code), (needle)))
#define assert_succeeded(job) assert_job((job), "succeeded", NULL, NULL)
#define assert_failed(job, code, needle) assert_job((job), "failed", (code), (needle))
#define assert_rpc_error(reply, code, field, needle) \
	assert_no_why(jobs_check_rpc_error((reply), (code), (field), (needle)))

#endif
