/* libasyncjob adapter for libevent: drives a connection's async API from an
 * event_base. Header-only, so libasyncjob itself does not depend on
 * libevent.
 *
 *   asyncjob_libevent_attach(aj, base);
 *   asyncjob_send_submit(aj, spec, ASYNCJOB_WAIT, on_reply, data);
 *   event_base_dispatch(base);
 *
 * The adapter frees itself when the connection is freed. */
#ifndef ASYNCJOB_LIBEVENT_H
#define ASYNCJOB_LIBEVENT_H

#include <errno.h>
#include <stdlib.h>

#include <event2/event.h>

#include <asyncjob.h>

struct asyncjob_libevent {
	asyncjob *aj;
	struct event *read_ev;
	struct event *write_ev;
};

static inline void asyncjob_libevent_on_io(evutil_socket_t fd, short what, void *arg)
{
	struct asyncjob_libevent *a = (struct asyncjob_libevent *)arg;
	int events = 0;
	(void)fd;

	if (what & EV_READ)
		events |= ASYNCJOB_EV_READ;
	if (what & EV_WRITE)
		events |= ASYNCJOB_EV_WRITE;
	/* The adapter may be gone after this (freed by the watch callback
	 * when a reply callback frees the connection). */
	asyncjob_process(a->aj, events);
}

static inline void asyncjob_libevent_watch(asyncjob *aj, int events, void *userdata)
{
	struct asyncjob_libevent *a = (struct asyncjob_libevent *)userdata;
	(void)aj;

	if (events < 0) {
		event_free(a->read_ev);
		event_free(a->write_ev);
		free(a);
		return;
	}
	if (events & ASYNCJOB_EV_READ)
		event_add(a->read_ev, NULL);
	else
		event_del(a->read_ev);
	if (events & ASYNCJOB_EV_WRITE)
		event_add(a->write_ev, NULL);
	else
		event_del(a->write_ev);
}

/* Attaches a connected handle to `base`. Returns 0 or -ENOMEM. */
static inline int asyncjob_libevent_attach(asyncjob *aj, struct event_base *base)
{
	struct asyncjob_libevent *a = (struct asyncjob_libevent *)calloc(1, sizeof(*a));
	int fd = asyncjob_fd(aj);

	if (!a)
		return -ENOMEM;
	a->aj = aj;
	a->read_ev = event_new(base, fd, EV_READ | EV_PERSIST, asyncjob_libevent_on_io, a);
	a->write_ev = event_new(base, fd, EV_WRITE | EV_PERSIST, asyncjob_libevent_on_io, a);
	if (!a->read_ev || !a->write_ev) {
		if (a->read_ev)
			event_free(a->read_ev);
		if (a->write_ev)
			event_free(a->write_ev);
		free(a);
		return -ENOMEM;
	}
	asyncjob_set_watch(aj, asyncjob_libevent_watch, a);
	return 0;
}

#endif
