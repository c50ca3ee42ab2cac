/* asyncjobd: command line, startup, signals, the event loop. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "daemon/conf.h"
#include "daemon/daemon.h"
#include "daemon/identity.h"
#include "daemon/job-store.h"
#include "daemon/listener.h"
#include "daemon/log.h"
#include "daemon/notify.h"
#include "daemon/reload.h"
#include "daemon/xalloc.h"
#include "daemon/metrics.h"
#include "daemon/upload.h"

#ifndef ASYNCJOBD_CONFIG_FILE
#define ASYNCJOBD_CONFIG_FILE "/etc/asyncjobd/asyncjobd.conf"
#endif

#define MAX_WRITE_ROOTS 64

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: asyncjobd [OPTION]...\n"
		"Run the asyncjobd job service in the foreground: sleep, fetch and write jobs\n"
		"submitted as JSON-RPC 2.0 requests on a Unix socket.\n"
		"\n"
		"  -s, --socket PATH      listen on PATH (default: %s as root,\n"
		"                         else $XDG_RUNTIME_DIR/asyncjobd.sock)\n"
		"  -c, --config FILE      read settings from FILE (default: %s,\n"
		"                         if it exists)\n"
		"      --write-root DIR   allow write jobs beneath DIR (repeatable; replaces\n"
		"                         the config file's write_root(s) lines)\n"
		"      --log-level LEVEL  error, warning, notice, info (default) or debug\n"
		"      --store KIND       where jobs are kept: sqlite (default: jobs.db in\n"
		"                         the state directory, they outlive a restart or a\n"
		"                         crash) or memory (gone with the process)\n"
		"      --state-dir DIR    the state directory (default: $STATE_DIRECTORY\n"
		"                         under systemd, /var/lib/asyncjobd as root, else\n"
		"                         $XDG_STATE_HOME/asyncjobd)\n"
		"      --check-config     check the configuration and exit\n"
		"  -h, --help             show this help and exit\n"
		"  -V, --version          show the version and exit\n"
		"\n"
		"Signals: SIGHUP reloads the configuration; SIGTERM and SIGINT stop the\n"
		"daemon: unfinished jobs are kept and go on at the next start (store =\n"
		"sqlite), or are canceled (on_shutdown = cancel, or store = memory); waiting\n"
		"clients are answered.\n"
		"\n"
		"Under systemd: a socket passed by socket activation is used instead of\n"
		"--socket (and its socket_mode and socket_group); the service manager hears\n"
		"READY=1, STATUS= with the job counts, RELOADING=1, STOPPING=1 and, with\n"
		"WatchdogSec=, WATCHDOG=1 (Type=notify); log lines carry journal priorities.%s\n"
		"See asyncjobd(8) and asyncjobd.conf(5).\n",
		"/run/asyncjobd/asyncjobd.sock", ASYNCJOBD_CONFIG_FILE,
#if HAVE_SYSTEMD
		""
#else
		"\nThis build has no systemd support: it neither takes sockets nor notifies."
#endif
		);
}

struct signals {
	struct daemon *d;
	struct reloader *reloader;
	struct event *term, *intr, *hup;
};

static void on_stop_signal(evutil_socket_t sig, short what, void *arg)
{
	struct signals *s = arg;
	(void)what;

	if (s->d->shutting_down) {
		log_notice("%s again: exiting now", strsignal((int)sig));
		event_base_loopbreak(s->d->base);
		return;
	}
	log_notice("%s: shutting down", strsignal((int)sig));
	notifier_stopping(s->d->notifier);
	daemon_shutdown(s->d);
}

static void on_hup(evutil_socket_t sig, short what, void *arg)
{
	struct signals *s = arg;
	(void)sig;
	(void)what;
	if (s->reloader)
		reloader_request(s->reloader);
}

/* The socket systemd passed, else the configured (or default) path. */
static int open_listener(struct daemon *d, char *error, size_t error_size)
{
	const struct config *c = d->config;
	char *path = NULL;
	int r;

	r = listener_open_passed(d, &d->listener, error, error_size);
	if (r < 0)
		return r;
	if (r > 0) {
		if (c->socket_path)
			log_notice("socket = %s is not used: systemd passed the socket to listen on",
				   c->socket_path);
		return 0;
	}
	if (c->socket_path) {
		path = xstrdup(c->socket_path);
	} else if ((r = listener_default_path(&path)) < 0) {
		snprintf(error, error_size, "XDG_RUNTIME_DIR is not set; name a socket with --socket");
		return r;
	}
	r = listener_open(d, path, c->socket_mode, c->socket_group ? c->socket_gid : (gid_t)-1,
			  &d->listener, error, error_size);
	free(path);
	return r;
}

/* This thread takes no SIGTERM, SIGINT or SIGHUP from now on. */
static void block_stop_signals(void)
{
	sigset_t stop_signals;

	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGTERM);
	sigaddset(&stop_signals, SIGINT);
	sigaddset(&stop_signals, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
}

/* The SQLite store in the state directory, its jobs loaded and the
 * unfinished ones recovered, before any client can connect. */
static int open_store(struct daemon *d, char *error, size_t error_size)
{
	const struct config *c = d->config;
	char *dir = c->state_directory ? xstrdup(c->state_directory)
		: config_default_state_directory(getenv("STATE_DIRECTORY"), geteuid(),
						 getenv("XDG_STATE_HOME"), getenv("HOME"));
	int r;

	if (!dir) {
		snprintf(error, error_size, "no state directory for the job store: set "
			 "state_directory in the configuration, or --state-dir");
		return -ENOENT;
	}
	/* Before the jobs are restored: a write job finds the content it
	 * took from an upload there again. */
	d->uploads = uploads_open(d, dir, true, error, error_size);
	if (!d->uploads) {
		free(dir);
		return -EIO;
	}
	r = job_store_sqlite_open(d, dir, c->store_sync == STORE_SYNC_LEVEL_FULL, error, error_size);
	free(dir);
	if (r == 0)
		uploads_sweep(d->uploads);
	return r;
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "config", required_argument, NULL, 'c' },
		{ "write-root", required_argument, NULL, 'W' },
		{ "log-level", required_argument, NULL, 'L' },
		{ "store", required_argument, NULL, 'S' },
		{ "state-dir", required_argument, NULL, 'D' },
		{ "check-config", no_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *write_roots[MAX_WRITE_ROOTS];
	struct config_overrides ov = { .write_roots = write_roots };
	const char *config_file = ASYNCJOBD_CONFIG_FILE;
	bool config_given = false, check_only = false;
	char error[CONFIG_ERROR_MAX];
	struct config *config;
	int opt, exit_code = 0;

	while ((opt = getopt_long(argc, argv, "s:c:hV", options, NULL)) != -1) {
		switch (opt) {
		case 's': ov.socket_path = optarg; break;
		case 'c': config_file = optarg; config_given = true; break;
		case 'W':
			if (ov.n_write_roots == MAX_WRITE_ROOTS) {
				fprintf(stderr, "asyncjobd: at most %d --write-root options\n",
					MAX_WRITE_ROOTS);
				return 2;
			}
			write_roots[ov.n_write_roots++] = optarg;
			break;
		case 'L': ov.log_level = optarg; break;
		case 'S': ov.store = optarg; break;
		case 'D': ov.state_directory = optarg; break;
		case 'C': check_only = true; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("asyncjobd %s\n", PACKAGE_VERSION); return 0;
		default:
			fprintf(stderr, "Try 'asyncjobd --help' for more information.\n");
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "asyncjobd: unexpected argument '%s'\n"
			"Try 'asyncjobd --help' for more information.\n", argv[optind]);
		return 2;
	}

	log_init(LOG_LEVEL_INFO);
	if (config_load(config_file, config_given, &ov, &config, error) < 0) {
		/* Every mistake, one a line. */
		for (char *line = error, *nl; line; line = nl ? nl + 1 : NULL) {
			nl = strchr(line, '\n');
			fprintf(stderr, "asyncjobd: %.*s\n", nl ? (int)(nl - line) : (int)strlen(line),
				line);
		}
		return 1;
	}
	if (check_only) {
		const char *what = config->file ? config->file : "defaults; no config file";
		if (config->warnings)
			printf("asyncjobd: configuration valid, with %u warning(s) above (%s)\n",
			       config->warnings, what);
		else
			printf("asyncjobd: configuration OK (%s)\n", what);
		config_free(config);
		return 0;
	}
	log_set_level(config->log_level);

	/* A client that hangs up must not kill the daemon, nor a write job
	 * that grows a file past RLIMIT_FSIZE (LimitFSIZE=): that job fails
	 * with EFBIG instead. */
	signal(SIGPIPE, SIG_IGN);
	signal(SIGXFSZ, SIG_IGN);

	struct event_base *base = daemon_event_base_new();
	if (!base) {
		fprintf(stderr, "asyncjobd: cannot create the event loop\n");
		return 1;
	}

	struct daemon *d = daemon_new(base, config);
	if (config->store == STORE_SQLITE && open_store(d, error, sizeof(error)) < 0) {
		log_errx("%s", error);
		d = daemon_free(d);
		event_base_free(base);
		return 1;
	}
	/* The handlers before the socket: whoever sees the daemon answer may
	 * signal it at once, and until its handler is in place each of these
	 * signals kills. libevent catches a signal from event_add() on and
	 * delivers it once the loop runs. */
	struct signals sig = { .d = d };
	sig.term = evsignal_new(base, SIGTERM, on_stop_signal, &sig);
	sig.intr = evsignal_new(base, SIGINT, on_stop_signal, &sig);
	sig.hup = evsignal_new(base, SIGHUP, on_hup, &sig);
	if (!sig.term || !sig.intr || !sig.hup)
		xalloc_die();
	event_add(sig.term, NULL);
	event_add(sig.intr, NULL);
	event_add(sig.hup, NULL);

	if (open_listener(d, error, sizeof(error)) < 0) {
		log_errx("%s", error);
		exit_code = 1;
		goto out;
	}
	if (config->metrics_listen &&
	    metrics_listen(d, config->metrics_listen, error, sizeof(error)) < 0) {
		log_errx("%s", error);
		exit_code = 1;
		goto out;
	}
	sig.reloader = reloader_new(d, config_file, config_given, &ov);
	d->notifier = notifier_new(d);
	log_notice("asyncjobd %s listening on %s (pid %d%s)", PACKAGE_VERSION,
		   listener_path(d->listener), (int)getpid(),
		   listener_passed(d->listener) ? ", socket passed by systemd" : "");
	log_notice("%s", identity_describe());
	notifier_ready(d->notifier);
	if (event_base_dispatch(base) < 0) {
		log_errx("event loop failed");
		exit_code = 1;
	}
	log_notice("stopped");

	reloader_free(sig.reloader);
	/* Before the daemon: stopping its jobs changes the job counts. */
	d->notifier = notifier_free(d->notifier);
out:
	/* The loop is over, but another signal must not cut the cleanup
	 * short (and turn a clean exit into a death by signal). Freeing the
	 * signal events puts back the handlers they replaced, which kill:
	 * until the worker threads are gone, the events catch what reaches
	 * them (nothing runs their callbacks now); this thread takes none at
	 * all, so what comes later stays pending until ignoring the signals
	 * discards it. */
	block_stop_signals();
	daemon_free(d);
	event_free(sig.term);
	event_free(sig.intr);
	event_free(sig.hup);
	signal(SIGTERM, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	event_base_free(base);
	libevent_global_shutdown();
	return exit_code;
}
