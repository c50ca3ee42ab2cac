/* The in-process daemon fixture. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "daemon/conf.h"
#include "daemon/conn.h"
#include "daemon/daemon.h"
#include "daemon/identity.h"
#include "daemon/job-record.h"
#include "proto/jsonw.h"
#include "tests/common/daemon-fixture.h"

static void die(const char *what)
{
	fprintf(stderr, "fixture: %s\n", what);
	abort();
}

struct fixture *fixture_new(const char *config_lines, uid_t uid)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char error[CONFIG_ERROR_MAX];
	struct config *c;
	char path[] = "/tmp/asyncjob-fixture-XXXXXX";

	if (!f)
		die("out of memory");
	if (config_lines) {
		int fd = mkstemp(path);
		if (fd < 0 || write(fd, config_lines, strlen(config_lines)) < 0)
			die("cannot write a config file");
		close(fd);
	}
	if (config_load(config_lines ? path : NULL, true, NULL, &c, error) < 0) {
		fprintf(stderr, "fixture: %s\n", error);
		abort();
	}
	if (config_lines)
		unlink(path);
	/* The tests' own output stays readable: only problems are logged. */
	c->log_level = LOG_LEVEL_ERR;

	f->base = daemon_event_base_new();
	if (!f->base)
		die("cannot create an event base");
	f->d = daemon_new(f->base, c);
	f->client = fixture_connect(f, uid, &f->conn);
	return f;
}

struct bufferevent *fixture_connect(struct fixture *f, uid_t uid, struct conn **ret_conn)
{
	struct bufferevent *pair[2];
	if (bufferevent_pair_new(f->base, 0, pair) < 0)
		die("cannot create a bufferevent pair");
	struct peer_creds peer = { .uid = uid, .gid = uid, .pid = getpid(), .admin = uid == 0,
				   .identity = identity_new(uid, uid, NULL, 0) };
	struct conn *c = conn_new(f->d, pair[0], &peer);
	if (ret_conn)
		*ret_conn = c;
	bufferevent_enable(pair[1], EV_READ | EV_WRITE);
	return pair[1];
}

void fixture_free(struct fixture *f)
{
	if (!f)
		return;
	daemon_free(f->d);
	bufferevent_free(f->client);
	event_base_free(f->base);
	free(f->line);
	free(f);
}

void fixture_send_raw(struct fixture *f, const char *data, size_t len)
{
	bufferevent_write(f->client, data, len);
}

void fixture_send(struct fixture *f, const char *line)
{
	bufferevent_write(f->client, line, strlen(line));
	bufferevent_write(f->client, "\n", 1);
}

void fixture_drain(struct fixture *f)
{
	/* A few passes: one event's callback may make others active. */
	for (int i = 0; i < 8; i++)
		event_base_loop(f->base, EVLOOP_NONBLOCK);
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	*(bool *)arg = true;
}

const char *fixture_recv_on(struct fixture *f, struct bufferevent *client, int timeout_ms)
{
	struct evbuffer *in = bufferevent_get_input(client);
	bool expired = false;
	struct event *timer = evtimer_new(f->base, on_timeout, &expired);
	struct timeval tv = { .tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000 };

	evtimer_add(timer, &tv);
	for (;;) {
		size_t n;
		char *line = evbuffer_readln(in, &n, EVBUFFER_EOL_LF);
		if (line) {
			free(f->line);
			f->line = line;
			event_free(timer);
			return line;
		}
		if (expired)
			break;
		event_base_loop(f->base, EVLOOP_ONCE);
	}
	event_free(timer);
	return NULL;
}

const char *fixture_recv(struct fixture *f, int timeout_ms)
{
	return fixture_recv_on(f, f->client, timeout_ms);
}

const char *fixture_call(struct fixture *f, const char *line)
{
	fixture_send(f, line);
	return fixture_recv(f, 5000);
}

bool fixture_closed(struct fixture *f)
{
	fixture_drain(f);
	/* The conn is gone once the daemon has no connection left for it. */
	return f->d->n_conns == 0;
}

char *fixture_record_text(const struct job *job)
{
	struct jsonw w;
	struct job_record rec;

	jsonw_init(&w);
	job_record_encode(job, &w, &rec);
	char *text = strndup(rec.body, rec.body_len);
	jsonw_release(&w);
	if (!text)
		abort();
	return text;
}
