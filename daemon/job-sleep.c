/* Sleep jobs: wait `seconds` on a timer, then succeed with the optional
 * message. The seed's asyncio.sleep(), as a service. */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "daemon/daemon.h"
#include "daemon/job.h"
#include "daemon/params.h"
#include "daemon/xalloc.h"
#include "proto/jsonw.h"

struct sleep_job {
	double seconds;
	char *message;          /* NULL when none was given */
	size_t message_len;
	struct event *timer;
	double started_mono;
	double slept;
};

static const char *const sleep_fields[] = { "seconds", "message", NULL };

static int sleep_parse(struct daemon *d, const struct json_value *spec, void **ret_data,
		       struct rpc_error *e)
{
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

/* `common`: the duration is one a burst of sleeps may share (the asked
 * for seconds), not the odd rest of a sleep woken early. */
static void arm(struct job *job, double seconds, bool common)
{
	struct sleep_job *s = job->data;
	struct timeval tv = {
		.tv_sec = (time_t)seconds,
		.tv_usec = (suseconds_t)ceil((seconds - floor(seconds)) * 1e6),
	};
	if (tv.tv_usec >= 1000000) {
		tv.tv_sec++;
		tv.tv_usec -= 1000000;
	}
	evtimer_add(s->timer, common ? daemon_timer_duration(job->d, &tv) : &tv);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct job *job = arg;
	struct sleep_job *s = job->data;
	(void)fd;
	(void)what;

	double slept = mono_seconds() - s->started_mono;
	/* A sleep never ends early: if the timer did, wait out the rest. */
	if (slept < s->seconds) {
		arm(job, s->seconds - slept, false);
		return;
	}
	s->slept = slept;
	job_succeed(job);
}

static void sleep_start(struct job *job)
{
	struct sleep_job *s = job->data;

	job_set_running(job);
	s->started_mono = mono_seconds();
	if (s->seconds == 0) {
		/* Nothing to wait for: done now, not a loop turn later. */
		job_succeed(job);
		return;
	}
	s->timer = evtimer_new(job->d->base, on_timer, job);
	if (!s->timer)
		xalloc_die();
	/* libevent counts a timer from the time it cached when this loop turn
	 * began; a big gather takes a while to start, so without a fresh time
	 * its later sleeps would wake early and have to be put back. */
	event_base_update_cache_time(job->d->base);
	arm(job, s->seconds, true);
}

static void sleep_stop(struct job *job)
{
	struct sleep_job *s = job->data;
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
};
