/* The asyncjob command-line tool: shared state and helpers. Each command
 * lives in cmd-NAME.c as one `const struct cli_command`. */
#ifndef ASYNCJOB_CLI_H
#define ASYNCJOB_CLI_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <asyncjob.h>

/* Exit codes, documented in asyncjob(1) and --help. */
enum {
	EXIT_OK = 0,
	EXIT_JOB_FAILED = 1,       /* a job failed or was canceled */
	EXIT_USAGE = 2,
	EXIT_UNREACHABLE = 3,      /* no daemon, the connection was lost, or the job with it */
	EXIT_RPC_ERROR = 4,        /* the daemon refused the request */
	EXIT_TIMED_OUT = 124,      /* wait --timeout passed (as timeout(1)) */
	EXIT_INTERRUPTED = 130,    /* Ctrl-C; the jobs were canceled */
};

struct cli {
	const char *socket;        /* -s; NULL: the default */
	bool json;                 /* --json: machine-readable output */
	bool detach;               /* --detach: print ids, do not wait */
	bool quiet;                /* -q: no progress or notes */
	asyncjob *aj;
	const char *command;

	/* Following jobs across a restart of the daemon (util.c). */
	bool went_away;            /* the daemon went away while we waited */
	uint64_t *followed;        /* the jobs waited for then, to cancel on Ctrl-C */
	size_t n_followed;
	uint64_t progress_id;      /* fetch: the job whose progress to subscribe to again */
};

/* How long the foreground commands wait for a daemon that went away to
 * come back, unless $ASYNCJOB_RECONNECT_TIMEOUT says otherwise (0: not at
 * all). Long enough for a service manager to restart it, short enough that
 * a daemon that is not coming back is reported. */
#define CLI_RECONNECT_SECONDS 60
#define CLI_RECONNECT_ENV "ASYNCJOB_RECONNECT_TIMEOUT"

struct cli_command {
	const char *name;
	const char *args;          /* for usage lines */
	const char *summary;
	const char *help;          /* options and details */
	/* argv[0] is the command name. Returns an exit code. */
	int (*run)(struct cli *cli, int argc, char **argv);
};

extern volatile sig_atomic_t cli_interrupted;

/* Connects (once). Returns 0, or prints why not and returns EXIT_UNREACHABLE. */
int cli_connect(struct cli *cli);

/* Prints "asyncjob: COMMAND: message" to stderr. */
void cli_error(const struct cli *cli, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Reports a failed library call and returns the exit code for it. */
int cli_fail(struct cli *cli, int r, const char *what);
/* Prints a usage error and returns EXIT_USAGE. */
int cli_usage_error(const struct cli *cli, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Parses command options: the global ones (-s, --json, --detach, -q, -h)
 * plus `extra` (getopt_long style, may be NULL). Returns the option char,
 * -1 at the end, or '?' after printing an error. */
struct option;
int cli_getopt(struct cli *cli, int argc, char **argv, const char *extra_short,
	       const struct option *extra_long, const struct cli_command *cmd);

/* Number parsing for arguments; false after printing a usage error. */
bool cli_parse_seconds(const struct cli *cli, const char *s, const char *what, double *ret);
bool cli_parse_id(const struct cli *cli, const char *s, uint64_t *ret);
bool cli_parse_count(const struct cli *cli, const char *s, const char *what, size_t *ret);

/* Builds a spec from a command-line job: either a JSON object, or words
 * such as "sleep 1 Hello". Prints the problem (after `where`, such as
 * "stdin line 3", when not NULL) and returns NULL. */
/* Sets bytes in a spec: as a string in `text_field` when they are text,
 * else in base64 in `base64_field`. 0 or a negative errno. */
int cli_spec_set_bytes(asyncjob_spec *spec, const char *text_field, const char *base64_field,
		       const char *data, size_t len);
/* A size as the configuration file takes it: 1048576, 64K, 16M, 1G
 * (1024-based). False after printing a usage error. */
bool cli_parse_size(const struct cli *cli, const char *s, const char *what, size_t *ret);
asyncjob_spec *cli_spec_from_words(const struct cli *cli, const char *text, const char *where);

/* Output. */
void cli_print_job_output(const struct cli *cli, const asyncjob_job *job);
void cli_print_job_summary(const asyncjob_job *job);
void cli_print_job_details(const asyncjob_job *job);
void cli_print_job_json(const asyncjob_job *job);
/* A finished job's output for get and wait: as the foreground command
 * printed it, and where a file was written ("saved to", "wrote"). */
void cli_print_job_result(const struct cli *cli, const asyncjob_job *job);
/* Reports a job that did not succeed on stderr. */
void cli_report_failure(const struct cli *cli, const asyncjob_job *job);
/* EXIT_OK for a succeeded job, EXIT_JOB_FAILED otherwise. */
int cli_job_exit_code(const asyncjob_job *job);

/* Ctrl-C: SIGINT and SIGTERM set cli_interrupted and interrupt blocking
 * calls (no SA_RESTART). */
void cli_catch_interrupts(void);

/* Ctrl-C: cancels foreground jobs explicitly, connecting again once if
 * the connection is gone (after a restart they are no longer canceled
 * when it closes). Says so on stderr unless -q. */
void cli_cancel_jobs(struct cli *cli, const uint64_t *ids, size_t n);

/* Waits for jobs in the foreground, canceling them on Ctrl-C.
 * Returns the exit code; prints output as each command would. */
int cli_wait_foreground(struct cli *cli, const uint64_t *ids, size_t n, asyncjob_job ***ret_jobs);

/* Submits a job; unless --detach, waits for it (Ctrl-C cancels) and prints
 * what it returned. Returns the exit code. */
int cli_submit_and_follow(struct cli *cli, asyncjob_spec *spec);

/* --label, --timeout and --key: the job control fields sleep and submit
 * take as options. */
struct cli_controls {
	const char *label;
	const char *timeout;
	const char *key;
	const char *at;            /* --at TIME */
	const char *in;            /* --in DURATION */
};
#define CLI_CONTROLS_SHORT "l:t:k:"
#define CLI_CONTROLS_LONG                                     \
	{ "label", required_argument, NULL, 'l' },            \
	{ "timeout", required_argument, NULL, 't' },          \
	{ "key", required_argument, NULL, 'k' },              \
	{ "at", required_argument, NULL, 0x201 },             \
	{ "in", required_argument, NULL, 0x202 }
#define CLI_CONTROLS_HELP \
	"  -l, --label TEXT      name the job\n" \
	"  -t, --timeout S       fail the job with code timeout after S seconds running\n" \
	"  -k, --key KEY         idempotency key: the same key returns the same job\n" \
	"      --at TIME         start it at TIME, not before: 14:30 (today, or tomorrow\n" \
	"                        once past), '2026-12-24 18:00' (local time), or RFC 3339\n" \
	"      --in DURATION     start it after DURATION: 90s, 15m, 2h, 1d, 1h30m\n"

/* Records `opt` if it is a control option; false when it is not one. */
bool cli_controls_take(struct cli_controls *c, int opt, const char *arg);
/* Sets the control fields given. Returns 0 or EXIT_USAGE after printing why. */
int cli_apply_controls(const struct cli *cli, asyncjob_spec *spec, const struct cli_controls *c);

/* Makes a path absolute against the current directory, as a user means a
 * relative one. Returns 0 or a negative errno. */
int cli_absolute_path(const char *path, char *buf, size_t size);

/* Progress on a terminal: "n/N done" on stderr, redrawn in place. */
bool cli_progress_enabled(const struct cli *cli);
void cli_progress_show(const char *what, uint64_t done, uint64_t total);
void cli_progress_clear(void);

extern const struct cli_command cmd_sleep, cmd_fetch, cmd_write, cmd_gather, cmd_submit, cmd_get, cmd_wait,
	cmd_list, cmd_cancel, cmd_clean, cmd_watch, cmd_info, cmd_metrics;

#endif
