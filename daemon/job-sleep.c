/* Sleep jobs: wait `seconds` on a timer, then succeed with the optional
 * message. The seed's asyncio.sleep(), as a service. */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <sys/queue.h>

#include <event2/event.h>

#include "daemon/daemon.h"
#include "daemon/job.h"
#include "daemon/metrics.h"
#include "daemon/params.h"
#include "daemon/xalloc.h"
#include "proto/jsonw.h"

struct sleep_lane;

struct sleep_job {
	double seconds;
	char *message;          /* NULL when none was given */
	size_t message_len;
	struct job *job;
	double started_mono;
	double wake_mono;       /* started_mono + seconds */
	double slept;
	struct sleep_lane *lane;        /* the lane it sleeps in, if any */
	TAILQ_ENTRY(sleep_job) lane_link;
	struct event *timer;    /* its own timer, when no lane would take it */
};

/* Timers for sleeps. Of sleeps of one duration, one started later wakes
 * later; so each duration in use gets a lane, its sleeps in wake order and
 * one timer armed for the first. Starting and ending a sleep is O(1) and
 * takes no timer of its own (130 bytes of struct event each), and a sleep
 * wakes at its own absolute time, counted from its start, which libevent's
 * common timeouts (counted from when the timer is added) cannot express.
 * A sleep whose duration finds no lane free, or that would wake before the
 * last of its lane, gets a timer of its own. */
#define SLEEP_LANES 32
/* Sleeps ended per turn of the loop: a burst of 100,000 lets connections be
 * served between its slices. */
#define SLEEP_WAKE_BATCH 4096

TAILQ_HEAD(sleep_list, sleep_job);

struct sleep_lane {
	struct daemon *d;
	double seconds;
	struct sleep_list sleeping;
	struct event *timer;
};

struct sleep_lanes {
	struct sleep_lane lane[SLEEP_LANES];
	unsigned last;          /* the lane used last: a burst shares one */
};

extern const struct job_type job_type_sleep;

static const char *const sleep_fields[] = { "seconds", "message", NULL };

static int sleep_parse(struct daemon *d, const struct json_value *spec, struct identity *requester,
		       void **ret_data, struct rpc_error *e)
{
	(void)requester;   /* a sleep touches no file */
	const struct limits *lim = &d->config->limits;
	double seconds = 0;
	const char *message = NULL;
	size_t message_len = 0;
	int r;

	r = param_number(spec, "seconds", true, 0, lim->max_sleep_seconds, true, &seconds, e);
	if (r < 0)
		return r;
	r = param_string(spec, "message", false, lim->max_message_bytes, false, &message,
			 &message_len, e);
	if (r < 0)
		return r;

	struct sleep_job *s = xcalloc(1, sizeof(*s));
	s->seconds = seconds;
	if (message) {
		s->message = xmalloc(message_len + 1);
		memcpy(s->message, message, message_len);
		s->message[message_len] = '\0';
		s->message_len = message_len;
	}
	*ret_data = s;
	return 0;
}

static void wake(struct sleep_job *s, double now)
{
	metrics_timer_lateness(s->job->d, now - s->wake_mono);
	s->slept = now - s->started_mono;
	job_succeed(s->job);
}

static void on_own_timer(evutil_socket_t fd, short what, void *arg)
{
	struct sleep_job *s = arg;
	double now = mono_seconds();
	(void)fd;
	(void)what;

	/* A sleep never ends early: if the timer did, wait out the rest. */
	if (now < s->wake_mono) {
		struct timeval tv = timeval_from_seconds(s->wake_mono - now);
		xevtimer_add(s->timer, &tv);
		return;
	}
	wake(s, now);
}

static void lane_arm(struct sleep_lane *l, double now)
{
	struct timeval tv = timeval_from_seconds(TAILQ_FIRST(&l->sleeping)->wake_mono - now);
	xevtimer_add(l->timer, &tv);
}

static void on_lane_timer(evutil_socket_t fd, short what, void *arg)
{
	struct sleep_lane *l = arg;
	double now = mono_seconds();
	struct sleep_job *s;
	unsigned woken = 0;
	(void)fd;
	(void)what;

	/* The sleeps that end together end at the instant found: one
	 * finished_at, not a clock read for each. Read the head afresh each
	 * time: ending a job starts queued ones, which may join this lane. */
	daemon_instant_begin(l->d, now);
	while (woken < SLEEP_WAKE_BATCH && (s = TAILQ_FIRST(&l->sleeping)) &&
	       s->wake_mono <= now) {
		TAILQ_REMOVE(&l->sleeping, s, lane_link);
		s->lane = NULL;
		wake(s, now);
		woken++;
	}
	daemon_instant_end(l->d);
	/* For the next of the lane; at once if the batch left some due. */
	if (!TAILQ_EMPTY(&l->sleeping))
		lane_arm(l, now);
}

/* The lane `s` may join: one of its duration whose last sleep wakes no
 * later, else an empty one. NULL when none will do. */
static struct sleep_lane *lane_for(struct daemon *d, const struct sleep_job *s)
{
	struct sleep_lanes *lanes = job_type_state(d, &job_type_sleep);
	struct sleep_lane *empty = NULL;

	for (unsigned k = 0; k < SLEEP_LANES; k++) {
		unsigned i = (lanes->last + k) % SLEEP_LANES;
		struct sleep_lane *l = &lanes->lane[i];
		if (!l->timer) {
			l->d = d;
			TAILQ_INIT(&l->sleeping);
			l->timer = evtimer_new(d->base, on_lane_timer, l);
			if (!l->timer)
				xalloc_die();
		}
		if (TAILQ_EMPTY(&l->sleeping)) {
			if (!empty)
				empty = l;
			continue;
		}
		if (l->seconds == s->seconds &&
		    TAILQ_LAST(&l->sleeping, sleep_list)->wake_mono <= s->wake_mono) {
			lanes->last = i;
			return l;
		}
	}
	if (empty) {
		empty->seconds = s->seconds;
		lanes->last = (unsigned)(empty - lanes->lane);
	}
	return empty;
}

/* The lanes' timers are made when a sleep first needs each. */
static void *sleep_lanes_new(struct daemon *d)
{
	(void)d;
	return xcalloc(1, sizeof(struct sleep_lanes));
}

static void sleep_lanes_free(void *state)
{
	struct sleep_lanes *lanes = state;

	for (unsigned i = 0; i < SLEEP_LANES; i++)
		if (lanes->lane[i].timer)
			event_free(lanes->lane[i].timer);
	free(lanes);
}

static void sleep_start(struct job *job)
{
	struct sleep_job *s = job->data;
	struct daemon *d = job->d;

	job_set_running(job);
	s->job = job;
	/* From the instant the message was taken up: a gather's sleeps all
	 * wake together, however long starting 100,000 of them took. */
	double now = daemon_mono_now(d);
	s->started_mono = now;
	/* Resumed after a restart: it began before, and ends at its first
	 * deadline on the wall clock (now, if that has passed). */
	if (job->recovering)
		s->started_mono -= job_elapsed_seconds(job, s->seconds);
	s->wake_mono = s->started_mono + s->seconds;
	if (s->wake_mono <= now) {
		/* Nothing to wait for: done now, not a loop turn later. */
		wake(s, now);
		return;
	}
	struct sleep_lane *l = lane_for(d, s);
	if (l) {
		bool first = TAILQ_EMPTY(&l->sleeping);
		TAILQ_INSERT_TAIL(&l->sleeping, s, lane_link);
		s->lane = l;
		if (first)
			lane_arm(l, mono_seconds());
		return;
	}
	s->timer = evtimer_new(d->base, on_own_timer, s);
	if (!s->timer)
		xalloc_die();
	struct timeval tv = timeval_from_seconds(s->wake_mono - mono_seconds());
	xevtimer_add(s->timer, &tv);
}

/* A sleep waits out what is left of it: it ran on the wall clock. */
static enum job_recovery sleep_recover(const struct job *job, const char **why)
{
	(void)job;
	(void)why;
	return JOB_RESUME;
}

static void sleep_stop(struct job *job)
{
	struct sleep_job *s = job->data;
	struct sleep_lane *l = s->lane;

	if (l) {
		TAILQ_REMOVE(&l->sleeping, s, lane_link);
		s->lane = NULL;
		/* A lane left with sleeps keeps its timer: if it was armed for
		 * this one, it wakes for nothing once and re-arms. */
		if (TAILQ_EMPTY(&l->sleeping))
			evtimer_del(l->timer);
	}
	if (s->timer)
		evtimer_del(s->timer);
	s->slept = mono_seconds() - s->started_mono;
}

static void sleep_finished(struct job *job)
{
	struct sleep_job *s = job->data;

	/* A finished job may be kept for an hour: not its timer. */
	if (s->timer) {
		event_free(s->timer);
		s->timer = NULL;
	}
}

static void sleep_write_result(const struct job *job, struct jsonw *w)
{
	const struct sleep_job *s = job->data;

	jsonw_object_begin(w);
	if (s->message) {
		jsonw_literal_key(w, "message");
		jsonw_string_len(w, s->message, s->message_len);
	}
	jsonw_literal_key(w, "slept");
	/* Microseconds are as fine as the timer is; rounded up, so slept is
	 * never shown below the seconds asked for. */
	jsonw_micros(w, ceil(s->slept * 1e6) / 1e6);
	jsonw_object_end(w);
}

static void sleep_free(void *data)
{
	struct sleep_job *s = data;
	if (!s)
		return;
	if (s->lane)
		TAILQ_REMOVE(&s->lane->sleeping, s, lane_link);
	if (s->timer)
		event_free(s->timer);
	free(s->message);
	free(s);
}

const struct job_type job_type_sleep = {
	.name = "sleep",
	.fields = sleep_fields,
	.parse = sleep_parse,
	.start = sleep_start,
	.stop = sleep_stop,
	.finished = sleep_finished,
	.write_result = sleep_write_result,
	.free_data = sleep_free,
	.recover = sleep_recover,
	.state_new = sleep_lanes_new,
	.state_free = sleep_lanes_free,
};
