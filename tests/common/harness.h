/* Integration tests: start the real asyncjobd on a temporary socket, talk to
 * it over raw sockets or through libasyncjob, stop it and check it exited
 * cleanly (under the sanitizers, a leak makes that exit non-zero). */
#ifndef ASYNCJOB_TESTS_HARNESS_H
#define ASYNCJOB_TESTS_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct daemon_proc {
	pid_t pid;
	char dir[256];
	char socket[300];
	char config[300];
	char log[300];
};

/* Starts asyncjobd (the binary named by $ASYNCJOBD) with `config_lines`
 * appended to a private config file, and waits until it answers. Aborts on
 * failure, printing the daemon's log. */
void harness_start(struct daemon_proc *p, const char *config_lines);
/* The same, calling `in_child` in the forked child just before it execs
 * the daemon (to change what the daemon inherits: limits, capabilities). */
void harness_start_with(struct daemon_proc *p, const char *config_lines, void (*in_child)(void));
/* harness_start on `socket_path` (which p->socket then names) instead of
 * one in the temporary directory. */
void harness_start_at(struct daemon_proc *p, const char *config_lines, const char *socket_path);
/* Makes the temporary directory, config file and log path harness_start
 * would, and starts nothing: for a test that starts the daemon itself. */
void harness_prepare(struct daemon_proc *p, const char *config_lines);
/* Starts a daemon but does not wait; returns its exit status once it
 * exits by itself within `timeout_ms` (or -1 if still running, then killed). */
int harness_run_expecting_exit(struct daemon_proc *p, const char *config_lines,
			       const char *socket_path, int timeout_ms);
/* Sends SIGTERM and returns the exit status (or -1 when it had to be killed
 * after `timeout_ms`). */
int harness_stop(struct daemon_proc *p, int timeout_ms);
/* Waits (without signalling) for the daemon to exit; returns its exit
 * status, or -1 when it had to be killed after `timeout_ms`. */
int harness_wait(struct daemon_proc *p, int timeout_ms);
/* Removes the temporary directory. */
void harness_cleanup(struct daemon_proc *p);
/* Prints the daemon's log to stderr (for a failing test). */
void harness_dump_log(const struct daemon_proc *p);

/* A raw connection to the daemon. */
int raw_connect(const char *socket_path);
/* Sends a line (adds the newline). Returns 0 or -errno. */
int raw_send(int fd, const char *line);
int raw_send_bytes(int fd, const void *data, size_t len);
/* Reads one line (without its newline) into a static buffer, waiting up to
 * `timeout_ms`. Returns NULL on timeout or EOF. */
const char *raw_recv(int fd, int timeout_ms);
/* Closes a raw connection and forgets bytes read ahead on it. */
void raw_close(int fd);
/* True when the peer has closed (EOF within timeout_ms). */
bool raw_wait_eof(int fd, int timeout_ms);

/* The uid of an unprivileged account to switch to, or -1 when there is none. */
long harness_nobody_uid(void);

/* Sleeps `ms` milliseconds (through signals). */
void harness_sleep_ms(long ms);
/* Runs rm -rf on `dir`. Returns 0, or -1 when that failed. */
int harness_remove_tree(const char *dir);
/* How many names in `dir` start with `prefix` ("": all of them, but "."
 * and ".."), or -1 when it cannot be read. */
int harness_count_entries(const char *dir, const char *prefix);

/* ------------------------------------------------------------ test HTTP server
 * tests/common/http-test-server (the binary named by $ASYNCJOB_TEST_SERVER):
 * HTTP and HTTPS on 127.0.0.1 and 127.0.0.2, HTTPS with a throwaway CA made
 * by tests/common/make-test-ca.sh (found through $ASYNCJOB_SRCDIR), whose
 * certificate covers 127.0.0.1 and localhost but not 127.0.0.2. */

struct test_server {
	pid_t pid;
	char dir[256];          /* ca.pem, server.pem, server.key, server.log */
	bool own_dir;           /* made by test_server_start: removed by stop */
	char log[300];          /* the server's stderr */
	unsigned http;          /* port on 127.0.0.1 */
	unsigned http2;         /* port on 127.0.0.2 */
	unsigned https;         /* TLS port on 127.0.0.1 */
	unsigned https2;        /* TLS port on 127.0.0.2 (not in the certificate) */
};

/* Makes a new temporary directory (path written to `dir`) holding a
 * throwaway CA (ca.pem) and a server certificate for 127.0.0.1 and
 * localhost (server.pem, server.key). Returns 0, or -1 with a message on
 * stderr (and nothing left behind). */
int test_ca_create(char *dir, size_t size);
/* Removes a directory made by test_ca_create. */
void test_ca_remove(const char *dir);

/* Starts the test server with the certificate in `ca_dir` (NULL: a new
 * one, made with test_ca_create and removed again by test_server_stop) and
 * waits up to `timeout_ms` for its "http=P1 http2=P2 https=P3 https2=P4"
 * line.
 * Returns 0, or -1 with a message on stderr, nothing left running. */
int test_server_start(struct test_server *s, const char *ca_dir, int timeout_ms);
/* Sends SIGTERM and waits up to `timeout_ms` (then SIGKILL). Returns the
 * exit status: 0 for a clean exit (under the sanitizers a leak makes it
 * non-zero), 128 + N for signal N, -1 when it had to be killed or was not
 * running; prints the server's stderr when it is not 0. Safe to call again. */
int test_server_stop(struct test_server *s, int timeout_ms);

#endif
