/* Config reload off the loop thread. The thread hands its result back
 * through a pipe the loop watches, so no lock is shared. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "daemon/conf.h"
#include "daemon/daemon.h"
#include "daemon/log.h"
#include "daemon/notify.h"
#include "daemon/reload.h"
#include "daemon/xalloc.h"

struct reload_result {
	struct config *config;        /* NULL on failure */
	char error[CONFIG_ERROR_MAX];
};

struct reloader {
	struct daemon *d;
	const char *file;
	bool must_exist;
	const struct config_overrides *overrides;
	int pipe[2];
	struct event *ev;
	bool running;
	bool again;
};

static void *reload_thread(void *arg)
{
	struct reloader *r = arg;
	struct reload_result *res = xcalloc(1, sizeof(*res));

	if (config_load(r->file, r->must_exist, r->overrides, &res->config, res->error) < 0)
		res->config = NULL;
	/* A pointer is far below PIPE_BUF: the write is atomic. */
	while (write(r->pipe[1], &res, sizeof(res)) < 0 && errno == EINTR)
		;
	return NULL;
}

static void start(struct reloader *r)
{
	pthread_t t;
	pthread_attr_t attr;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, reload_thread, r) != 0) {
		log_errx("reload: cannot start a thread; configuration unchanged");
	} else {
		r->running = true;
	}
	pthread_attr_destroy(&attr);
}

static void on_result(evutil_socket_t fd, short what, void *arg)
{
	struct reloader *r = arg;
	struct reload_result *res;
	(void)what;

	if (read(fd, &res, sizeof(res)) != (ssize_t)sizeof(res))
		return;
	r->running = false;
	if (res->config) {
		daemon_apply_config(r->d, res->config);
	} else {
		/* Every mistake on one log line. */
		for (char *nl = strchr(res->error, '\n'); nl; nl = strchr(nl, '\n'))
			*nl = ';';
		log_errx("reload failed, configuration unchanged: %s", res->error);
	}
	free(res);
	if (r->again) {
		r->again = false;
		start(r);
	}
	/* The reload is over (whatever its outcome) once no other follows. */
	if (!r->running)
		notifier_reloaded(r->d->notifier);
}

struct reloader *reloader_new(struct daemon *d, const char *file, bool must_exist,
			      const struct config_overrides *overrides)
{
	struct reloader *r = xcalloc(1, sizeof(*r));

	r->d = d;
	r->file = file;
	r->must_exist = must_exist;
	r->overrides = overrides;
	if (pipe2(r->pipe, O_CLOEXEC) < 0) {
		log_err("reload: pipe");
		free(r);
		return NULL;
	}
	r->ev = event_new(d->base, r->pipe[0], EV_READ | EV_PERSIST, on_result, r);
	if (!r->ev)
		xalloc_die();
	event_add(r->ev, NULL);
	return r;
}

struct reloader *reloader_free(struct reloader *r)
{
	if (!r)
		return NULL;
	if (r->running) {
		/* Wait for the thread's answer so it never writes to a
		 * closed pipe; it only reads a small file. */
		struct reload_result *res;
		if (read(r->pipe[0], &res, sizeof(res)) == (ssize_t)sizeof(res)) {
			config_free(res->config);
			free(res);
		}
	}
	event_free(r->ev);
	close(r->pipe[0]);
	close(r->pipe[1]);
	free(r);
	return NULL;
}

void reloader_request(struct reloader *r)
{
	if (r->running) {
		r->again = true;
		return;
	}
	log_info("reloading configuration");
	notifier_reloading(r->d->notifier);
	start(r);
	if (!r->running)
		notifier_reloaded(r->d->notifier);
}
