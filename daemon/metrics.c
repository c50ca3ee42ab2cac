/* Metrics (metrics.h). Counters are updated on the loop where jobs change;
 * the exposition is written on the loop from them and from the state the
 * daemon already keeps (counts by state, connections, workers, the store's
 * commit figures). Nothing here wakes an idle daemon: the loop's lag is
 * measured by the timers that fire anyway (sleep jobs). */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "daemon/daemon.h"
#include "daemon/events.h"
#include "daemon/job-store.h"
#include "daemon/job.h"
#include "daemon/log.h"
#include "daemon/metrics.h"
#include "daemon/upload.h"
#include "daemon/workers.h"
#include "daemon/xalloc.h"
#include "proto/jsonw.h"

#define MAX_TYPES 8

static const double duration_bounds[] = { 0.001, 0.01, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600 };
#define N_DURATION (sizeof(duration_bounds) / sizeof(duration_bounds[0]))
static const double lateness_bounds[] = { 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1 };
#define N_LATENESS (sizeof(lateness_bounds) / sizeof(lateness_bounds[0]))

struct histogram {
	uint64_t buckets[16];      /* per bound, not cumulative; the last: above all */
	double sum;
	uint64_t count;
};

struct type_metrics {
	const char *name;
	uint64_t submitted;
	uint64_t finished[JOB_STATE_COUNT];
	struct histogram duration;
};

struct metrics {
	struct type_metrics types[MAX_TYPES];
	size_t n_types;
	uint64_t fetch_bytes;
	uint64_t fetch_status[6];  /* 1xx to 5xx; [0]: no response */
	uint64_t fetch_retries;
	uint64_t write_bytes;
	struct histogram lateness;
	struct evhttp *http;
};

struct metrics *metrics_new(void)
{
	return xcalloc(1, sizeof(struct metrics));
}

struct metrics *metrics_free(struct metrics *m)
{
	if (m) {
		if (m->http)
			evhttp_free(m->http);
		free(m);
	}
	return NULL;
}

static struct type_metrics *of_type(struct metrics *m, const char *name)
{
	for (size_t i = 0; i < m->n_types; i++)
		if (m->types[i].name == name || strcmp(m->types[i].name, name) == 0)
			return &m->types[i];
	if (m->n_types == MAX_TYPES)
		return NULL;
	m->types[m->n_types].name = name;
	return &m->types[m->n_types++];
}

static void observe(struct histogram *h, const double *bounds, size_t n, double v)
{
	size_t i = 0;
	while (i < n && v > bounds[i])
		i++;
	h->buckets[i]++;
	h->sum += v;
	h->count++;
}

void metrics_job_submitted(struct daemon *d, const struct job *job)
{
	struct type_metrics *t = of_type(d->metrics, job->type->name);
	if (t)
		t->submitted++;
}

void metrics_job_finished(struct daemon *d, const struct job *job)
{
	struct type_metrics *t = of_type(d->metrics, job->type->name);

	if (!t)
		return;
	t->finished[job->state]++;
	if (job->started_ms && job->finished_ms >= job->started_ms)
		observe(&t->duration, duration_bounds, N_DURATION,
			(double)(job->finished_ms - job->started_ms) / 1000.0);
}

void metrics_fetch_done(struct daemon *d, long status, uint64_t bytes, unsigned retries)
{
	struct metrics *m = d->metrics;
	m->fetch_bytes += bytes;
	m->fetch_status[status >= 100 && status < 600 ? status / 100 : 0]++;
	m->fetch_retries += retries;
}

void metrics_write_done(struct daemon *d, uint64_t bytes)
{
	d->metrics->write_bytes += bytes;
}

void metrics_timer_lateness(struct daemon *d, double seconds)
{
	observe(&d->metrics->lateness, lateness_bounds, N_LATENESS, seconds < 0 ? 0 : seconds);
}

/* ------------------------------------------------------------ the text */

static void out(struct jsonw *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out(struct jsonw *w, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n > 0)
		jsonw_raw(w, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

static void head(struct jsonw *w, const char *name, const char *type, const char *help)
{
	out(w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void histogram_lines(struct jsonw *w, const char *name, const char *labels,
			    const struct histogram *h, const double *bounds, size_t n)
{
	uint64_t cumulative = 0;
	const char *sep = labels[0] ? "," : "";

	for (size_t i = 0; i < n; i++) {
		cumulative += h->buckets[i];
		out(w, "%s_bucket{%s%sle=\"%g\"} %" PRIu64 "\n", name, labels, sep, bounds[i],
		    cumulative);
	}
	cumulative += h->buckets[n];
	out(w, "%s_bucket{%s%sle=\"+Inf\"} %" PRIu64 "\n", name, labels, sep, cumulative);
	out(w, "%s_sum%s%s%s %.9g\n", name, labels[0] ? "{" : "", labels, labels[0] ? "}" : "",
	    h->sum);
	out(w, "%s_count%s%s%s %" PRIu64 "\n", name, labels[0] ? "{" : "", labels,
	    labels[0] ? "}" : "", h->count);
}

void metrics_write_text(struct daemon *d, struct jsonw *w)
{
	struct metrics *m = d->metrics;
	char labels[96];

	head(w, "asyncjobd_jobs_submitted_total", "counter", "Jobs submitted, by type.");
	for (size_t i = 0; i < m->n_types; i++)
		out(w, "asyncjobd_jobs_submitted_total{type=\"%s\"} %" PRIu64 "\n",
		    m->types[i].name, m->types[i].submitted);
	head(w, "asyncjobd_jobs_finished_total", "counter",
	     "Jobs that reached a final state, by type and state.");
	for (size_t i = 0; i < m->n_types; i++)
		for (int s = JOB_SUCCEEDED; s < JOB_STATE_COUNT; s++)
			out(w, "asyncjobd_jobs_finished_total{type=\"%s\",state=\"%s\"} %" PRIu64 "\n",
			    m->types[i].name, job_state_name((enum job_state)s),
			    m->types[i].finished[s]);
	head(w, "asyncjobd_job_run_duration_seconds", "histogram",
	     "How long finished jobs ran, from running to their end, by type.");
	for (size_t i = 0; i < m->n_types; i++) {
		snprintf(labels, sizeof(labels), "type=\"%s\"", m->types[i].name);
		histogram_lines(w, "asyncjobd_job_run_duration_seconds", labels,
				&m->types[i].duration, duration_bounds, N_DURATION);
	}

	head(w, "asyncjobd_jobs", "gauge", "Jobs the daemon holds, by state.");
	for (int s = 0; s < JOB_STATE_COUNT; s++)
		out(w, "asyncjobd_jobs{state=\"%s\"} %zu\n", job_state_name((enum job_state)s),
		    job_store_count_state(d->store, (enum job_state)s));
	head(w, "asyncjobd_active_jobs", "gauge", "Jobs queued or running.");
	out(w, "asyncjobd_active_jobs %zu\n", d->n_active);

	head(w, "asyncjobd_fetch_received_bytes_total", "counter",
	     "Body bytes of finished fetches' last responses.");
	out(w, "asyncjobd_fetch_received_bytes_total %" PRIu64 "\n", m->fetch_bytes);
	head(w, "asyncjobd_fetch_responses_total", "counter",
	     "Finished fetches by their last HTTP status class (none: no response).");
	for (int c = 0; c < 6; c++) {
		char cls[8];
		snprintf(cls, sizeof(cls), c ? "%dxx" : "none", c);
		out(w, "asyncjobd_fetch_responses_total{status=\"%s\"} %" PRIu64 "\n", cls,
		    m->fetch_status[c]);
	}
	head(w, "asyncjobd_fetch_retries_total", "counter", "Fetch attempts made again.");
	out(w, "asyncjobd_fetch_retries_total %" PRIu64 "\n", m->fetch_retries);
	head(w, "asyncjobd_write_bytes_total", "counter", "Bytes written by succeeded writes.");
	out(w, "asyncjobd_write_bytes_total %" PRIu64 "\n", m->write_bytes);

	head(w, "asyncjobd_connections", "gauge", "Client connections open.");
	out(w, "asyncjobd_connections %zu\n", d->n_conns);
	head(w, "asyncjobd_event_subscribers", "gauge", "Connections subscribed to job events.");
	out(w, "asyncjobd_event_subscribers %zu\n", event_log_subscribers(d->events));
	head(w, "asyncjobd_io_workers_busy", "gauge", "I/O threads running work now.");
	out(w, "asyncjobd_io_workers_busy %u\n", workers_busy(d->workers));
	head(w, "asyncjobd_io_work_queued", "gauge", "Work waiting for a free I/O thread.");
	out(w, "asyncjobd_io_work_queued %u\n", workers_queued(d->workers));
	head(w, "asyncjobd_upload_spool_bytes", "gauge",
	     "Bytes in the upload spool: open uploads and content jobs took.");
	out(w, "asyncjobd_upload_spool_bytes %" PRIu64 "\n", uploads_spool_bytes(d->uploads));

	head(w, "asyncjobd_timer_lateness_seconds", "histogram",
	     "How late sleep timers fired: the event loop's lag as timers see it.");
	histogram_lines(w, "asyncjobd_timer_lateness_seconds", "", &m->lateness, lateness_bounds,
			N_LATENESS);

	uint64_t commits, commit_us, last_us;
	if (job_store_commit_stats(d->store, &commits, &commit_us, &last_us)) {
		head(w, "asyncjobd_store_commits_total", "counter",
		     "Group commits of the job store (SQLite transactions).");
		out(w, "asyncjobd_store_commits_total %" PRIu64 "\n", commits);
		head(w, "asyncjobd_store_commit_seconds_total", "counter",
		     "Time the store's thread spent committing, in all.");
		out(w, "asyncjobd_store_commit_seconds_total %.6f\n", (double)commit_us / 1e6);
		head(w, "asyncjobd_store_last_commit_seconds", "gauge",
		     "How long the last commit took, BEGIN to COMMIT done.");
		out(w, "asyncjobd_store_last_commit_seconds %.6f\n", (double)last_us / 1e6);
	}
	head(w, "asyncjobd_start_time_seconds", "gauge", "When the daemon started, Unix time.");
	out(w, "asyncjobd_start_time_seconds %.3f\n", (double)d->started_wall_ms / 1000.0);
}

/* ------------------------------------------------------------ the listener */

static void on_request(struct evhttp_request *req, void *arg)
{
	struct daemon *d = arg;
	const char *uri = evhttp_request_get_uri(req);

	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET ||
	    !uri || (strcmp(uri, "/metrics") != 0 && strncmp(uri, "/metrics?", 9) != 0)) {
		evhttp_send_error(req, HTTP_NOTFOUND, "only GET /metrics here");
		return;
	}
	struct jsonw w;
	jsonw_init(&w);
	metrics_write_text(d, &w);
	struct evbuffer *body = evbuffer_new();
	if (!body || w.failed || evbuffer_add(body, w.buf, w.len) < 0)
		xalloc_die();
	jsonw_release(&w);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
			  "text/plain; version=0.0.4; charset=utf-8");
	evhttp_send_reply(req, HTTP_OK, "OK", body);
	evbuffer_free(body);
}

int metrics_listen(struct daemon *d, const char *address, char *error, size_t error_size)
{
	char host[256];
	const char *colon = strrchr(address, ':');
	char *end;

	if (!colon || colon == address || (size_t)(colon - address) >= sizeof(host)) {
		snprintf(error, error_size, "metrics_listen %s: expected HOST:PORT, such as "
			 "127.0.0.1:9464", address);
		return -EINVAL;
	}
	unsigned long port = strtoul(colon + 1, &end, 10);
	if (!colon[1] || *end || port == 0 || port > 65535) {
		snprintf(error, error_size, "metrics_listen %s: the port must be 1 to 65535", address);
		return -EINVAL;
	}
	memcpy(host, address, (size_t)(colon - address));
	host[colon - address] = '\0';
	/* [::1]:9464 */
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		memmove(host, host + 1, strlen(host) - 2);
		host[strlen(host) - 2] = '\0';
	}
	struct evhttp *http = evhttp_new(d->base);
	if (!http)
		xalloc_die();
	if (evhttp_bind_socket(http, host, (ev_uint16_t)port) < 0) {
		snprintf(error, error_size, "metrics_listen %s: cannot listen there: %s", address,
			 strerror(errno));
		evhttp_free(http);
		return -EADDRNOTAVAIL;
	}
	/* Scrapers send small requests and read small replies. */
	evhttp_set_max_headers_size(http, 8192);
	evhttp_set_max_body_size(http, 0);
	evhttp_set_timeout(http, 10);
	evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	evhttp_set_gencb(http, on_request, d);
	d->metrics->http = http;
	log_notice("metrics on http://%s/metrics", address);
	return 0;
}
