/* sd_notify from the event loop. Everything runs on the loop thread, so the
 * watchdog pings stop when the loop stops turning: that is the point. */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "daemon/daemon.h"
#include "daemon/job-store.h"
#include "daemon/log.h"
#include "daemon/notify.h"
#include "daemon/xalloc.h"

#if HAVE_SYSTEMD
#include <systemd/sd-daemon.h>

/* A busy daemon changes job states thousands of times a second; the
 * manager needs a status line it can show, not each change. */
#define STATUS_MIN_INTERVAL_SECONDS 1.0

/* A watchdog interval below this is a typo; pinging faster would spin. */
#define WATCHDOG_MIN_PING_USEC 1000

struct notifier {
	struct daemon *d;
	struct event *status_timer;     /* one-shot: armed only after a change */
	struct event *watchdog_timer;   /* NULL unless the unit sets WatchdogSec= */
	bool status_pending;            /* status_timer is armed */
	bool stopping;                  /* STOPPING=1 sent: no READY=1 after it */
	bool send_failed;               /* logged once; the rest would repeat it */
	double status_sent_mono;
	char status[128];               /* the STATUS= text last sent */
};

static void send_message(struct notifier *n, const char *message)
{
	int r = sd_notify(0, message);

	if (r < 0 && !n->send_failed) {
		n->send_failed = true;
		log_warnx("cannot notify the service manager: %s", strerror(-r));
	}
}

static void format_status(const struct notifier *n, char *buf, size_t size)
{
	const struct daemon *d = n->d;

	snprintf(buf, size, "%sJobs: %zu running, %zu queued",
		 n->stopping ? "Shutting down. " : "", job_store_count_state(d->store, JOB_RUNNING),
		 job_store_count_state(d->store, JOB_QUEUED));
}

/* Sends STATUS= after `state` (which may be empty), unless neither says
 * anything new. */
static void send_status(struct notifier *n, const char *state)
{
	char status[sizeof(n->status)];
	char message[sizeof(status) + 64];

	format_status(n, status, sizeof(status));
	if (!state[0] && strcmp(status, n->status) == 0)
		return;
	snprintf(message, sizeof(message), "%sSTATUS=%s", state, status);
	send_message(n, message);
	memcpy(n->status, status, sizeof(status));
	n->status_sent_mono = mono_seconds();
}

static void on_status_timer(evutil_socket_t fd, short what, void *arg)
{
	struct notifier *n = arg;
	(void)fd;
	(void)what;

	n->status_pending = false;
	send_status(n, "");
}

static void on_watchdog_timer(evutil_socket_t fd, short what, void *arg)
{
	struct notifier *n = arg;
	(void)fd;
	(void)what;

	send_message(n, "WATCHDOG=1");
}

static void arm_watchdog(struct notifier *n)
{
	uint64_t usec;
	int r = sd_watchdog_enabled(0, &usec);

	if (r < 0) {
		log_warnx("ignoring the watchdog settings in the environment: %s", strerror(-r));
		return;
	}
	if (r == 0)
		return;
	/* Half the interval, as sd_watchdog_enabled(3) advises: one late
	 * loop turn must not look like a hang. */
	uint64_t ping = usec / 2 < WATCHDOG_MIN_PING_USEC ? WATCHDOG_MIN_PING_USEC : usec / 2;
	struct timeval tv = { .tv_sec = (time_t)(ping / 1000000),
			      .tv_usec = (suseconds_t)(ping % 1000000) };
	n->watchdog_timer = event_new(n->d->base, -1, EV_PERSIST, on_watchdog_timer, n);
	if (!n->watchdog_timer)
		xalloc_die();
	xevtimer_add(n->watchdog_timer, &tv);
	log_info("watchdog: pinging the service manager every %" PRIu64 " ms", ping / 1000);
}

struct notifier *notifier_new(struct daemon *d)
{
	const char *socket = getenv("NOTIFY_SOCKET");

	if (!socket || !socket[0])
		return NULL;
	struct notifier *n = xcalloc(1, sizeof(*n));
	n->d = d;
	n->status_timer = evtimer_new(d->base, on_status_timer, n);
	if (!n->status_timer)
		xalloc_die();
	arm_watchdog(n);
	return n;
}

struct notifier *notifier_free(struct notifier *n)
{
	if (!n)
		return NULL;
	event_free(n->status_timer);
	if (n->watchdog_timer)
		event_free(n->watchdog_timer);
	free(n);
	return NULL;
}

void notifier_ready(struct notifier *n)
{
	if (n)
		send_status(n, "READY=1\n");
}

void notifier_reloading(struct notifier *n)
{
	struct timespec ts;
	char message[64];

	if (!n || n->stopping)
		return;
	/* systemd 253 and later (Type=notify-reload) want the time with it. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(message, sizeof(message), "RELOADING=1\nMONOTONIC_USEC=%" PRIu64,
		 (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000);
	send_message(n, message);
}

void notifier_reloaded(struct notifier *n)
{
	if (n && !n->stopping)
		send_message(n, "READY=1");
}

void notifier_stopping(struct notifier *n)
{
	if (!n || n->stopping)
		return;
	n->stopping = true;
	send_status(n, "STOPPING=1\n");
}

void notifier_jobs_changed(struct notifier *n)
{
	if (!n || n->status_pending)
		return;
	/* On the next loop turn, which gathers every change this turn makes,
	 * or a second after the last STATUS=, whichever is later. */
	struct timeval tv = timeval_from_seconds(n->status_sent_mono + STATUS_MIN_INTERVAL_SECONDS -
						  mono_seconds());
	n->status_pending = true;
	xevtimer_add(n->status_timer, &tv);
}

#else /* !HAVE_SYSTEMD */

struct notifier *notifier_new(struct daemon *d)
{
	(void)d;
	/* Under Type=notify the manager would wait for a READY=1 that never
	 * comes: say why before it gives up. */
	if (getenv("NOTIFY_SOCKET"))
		log_warnx("built without libsystemd: the service manager is not notified "
			  "(use Type=simple, or rebuild with --enable-systemd)");
	return NULL;
}

struct notifier *notifier_free(struct notifier *n)
{
	(void)n;
	return NULL;
}

void notifier_ready(struct notifier *n) { (void)n; }
void notifier_reloading(struct notifier *n) { (void)n; }
void notifier_reloaded(struct notifier *n) { (void)n; }
void notifier_stopping(struct notifier *n) { (void)n; }
void notifier_jobs_changed(struct notifier *n) { (void)n; }

#endif
