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

#endif
