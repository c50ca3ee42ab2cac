/* Metrics in the Prometheus text exposition format (version 0.0.4): the
 * counters the daemon keeps as jobs come and go, and the gauges it reads
 * when asked (daemon.metrics, asyncjob metrics, and the optional listener
 * on metrics_listen). Names and units follow Prometheus' conventions:
 * asyncjobd_ prefix, _total counters, seconds and bytes. */
#ifndef ASYNCJOBD_METRICS_H
#define ASYNCJOBD_METRICS_H

#include <stdint.h>

struct daemon;
struct job;
struct jsonw;
struct metrics;

struct metrics *metrics_new(void);
struct metrics *metrics_free(struct metrics *m);

void metrics_job_submitted(struct daemon *d, const struct job *job);
/* A job has reached its final state (its started_ms and finished_ms set). */
void metrics_job_finished(struct daemon *d, const struct job *job);
/* A fetch's last response: its HTTP status (0: none), the body bytes, and
 * how many times it was tried again. */
void metrics_fetch_done(struct daemon *d, long status, uint64_t bytes, unsigned retries);
void metrics_write_done(struct daemon *d, uint64_t bytes);
/* How late a sleep's timer fired: the event loop's lag as a timer sees it. */
void metrics_timer_lateness(struct daemon *d, double seconds);

/* Appends the whole exposition to `w` (raw text, not JSON). */
void metrics_write_text(struct daemon *d, struct jsonw *w);

/* The listener: GET /metrics over HTTP on `address` (HOST:PORT). Returns 0
 * or a negative errno with `error` saying why. */
int metrics_listen(struct daemon *d, const char *address, char *error, size_t error_size);

#endif
