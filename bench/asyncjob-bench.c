/* The load generator for make bench: drives asyncjobd through libasyncjob's
 * async API (pipelined requests on many connections, one poll loop) and
 * prints one line of figures per run, as `key=value` pairs for bench/run.
 *
 *   asyncjob-bench submit   -s SOCK [-c CONNS] [-d DEPTH] [-n JOBS]
 *   asyncjob-bench rtt      -s SOCK [-n ROUNDS]
 *   asyncjob-bench gather   -s SOCK [-n JOBS] [--seconds S]
 *   asyncjob-bench fetch    -s SOCK -u URL [-n JOBS] [-d IN_FLIGHT]
 *   asyncjob-bench download -s SOCK -u URL -o PATH [--fsync]
 *   asyncjob-bench writes   -s SOCK -o DIR [-n JOBS] [-d IN_FLIGHT] [--size BYTES] [--fsync]
 *   asyncjob-bench lateness -s SOCK [--duration S] [--interval MS]
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "asyncjob.h"

struct opts {
	const char *socket;
	const char *url;
	const char *out;
	size_t conns, depth, n, size;
	double seconds, duration, interval_ms;
	double hold;                /* submit: sleeps this long, not waited for */
	bool fsync;
	const char *mode;      /* writes: replace (default), create or append */
	size_t files;          /* writes: into this many files (0: one each) */
};

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static _Noreturn void die(const char *what, asyncjob *aj)
{
	fprintf(stderr, "asyncjob-bench: %s: %s\n", what, aj ? asyncjob_errmsg(aj) : strerror(errno));
	exit(1);
}

static asyncjob *connect_to(const char *socket)
{
	asyncjob *aj = NULL;
	if (asyncjob_new(&aj) < 0 || asyncjob_connect(aj, socket) < 0)
		die("connect", aj);
	return aj;
}

/* Runs the poll loop over `n` connections until *done reaches `want`. */
static void run_loop(asyncjob **ajs, size_t n, const size_t *done, size_t want)
{
	struct pollfd *p = calloc(n, sizeof(*p));

	while (*done < want) {
		for (size_t i = 0; i < n; i++) {
			int ev = asyncjob_events(ajs[i]);
			p[i].fd = asyncjob_fd(ajs[i]);
			p[i].events = (short)((ev & ASYNCJOB_EV_READ ? POLLIN : 0) |
					      (ev & ASYNCJOB_EV_WRITE ? POLLOUT : 0));
		}
		if (poll(p, (nfds_t)n, 10000) <= 0)
			die("poll (no progress for 10 s)", NULL);
		for (size_t i = 0; i < n; i++) {
			if (!p[i].revents)
				continue;
			int ready = (p[i].revents & (POLLIN | POLLHUP | POLLERR) ? ASYNCJOB_EV_READ : 0) |
				    (p[i].revents & POLLOUT ? ASYNCJOB_EV_WRITE : 0);
			if (asyncjob_process(ajs[i], ready) < 0)
				die("connection", ajs[i]);
		}
	}
	free(p);
}

/* ------------------------------------------------------------ submit rate */

struct pipe_state {
	asyncjob *aj;
	const asyncjob_spec *spec;
	unsigned flags;
	size_t *done;
	size_t *sent;
	size_t total;
	size_t errors;
};

static void on_submitted(asyncjob *aj, const asyncjob_reply *reply, void *userdata)
{
	struct pipe_state *st = userdata;

	if (asyncjob_reply_status(reply) != 0)
		st->errors++;
	++*st->done;
	/* Keep the pipeline full: one out, one in. */
	if (*st->sent < st->total) {
		++*st->sent;
		asyncjob_send_submit(aj, st->spec, st->flags, on_submitted, st);
	}
}

static int cmd_submit(const struct opts *o)
{
	asyncjob **ajs = calloc(o->conns, sizeof(*ajs));
	struct pipe_state *st = calloc(o->conns, sizeof(*st));
	asyncjob_spec *spec;
	size_t done = 0, sent = 0, errors = 0;

	/* sleep 0 with wait; with --hold, sleeps left running (a store full
	 * of unfinished jobs). */
	unsigned flags = o->hold > 0 ? 0 : ASYNCJOB_WAIT;
	asyncjob_spec_sleep(o->hold, NULL, &spec);
	for (size_t i = 0; i < o->conns; i++) {
		ajs[i] = connect_to(o->socket);
		st[i] = (struct pipe_state){ .aj = ajs[i], .spec = spec, .flags = flags, .done = &done,
					     .sent = &sent, .total = o->n };
	}
	double t0 = now();
	for (size_t i = 0; i < o->conns; i++)
		for (size_t k = 0; k < o->depth && sent < o->n; k++) {
			sent++;
			asyncjob_send_submit(ajs[i], spec, flags, on_submitted, &st[i]);
		}
	run_loop(ajs, o->conns, &done, o->n);
	double t = now() - t0;
	for (size_t i = 0; i < o->conns; i++) {
		errors += st[i].errors;
		asyncjob_free(ajs[i]);
	}
	printf("jobs=%zu seconds=%.4f jobs_per_second=%.0f errors=%zu\n", o->n, t, (double)o->n / t,
	       errors);
	asyncjob_spec_free(spec);
	free(ajs);
	free(st);
	return errors ? 1 : 0;
}

/* ------------------------------------------------------------ round trip */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static int cmd_rtt(const struct opts *o)
{
	asyncjob *aj = connect_to(o->socket);
	asyncjob_spec *spec;
	double *t = calloc(o->n, sizeof(*t));

	asyncjob_spec_sleep(0, NULL, &spec);
	for (size_t i = 0; i < o->n + 100; i++) {
		asyncjob_job *job = NULL;
		double t0 = now();
		if (asyncjob_submit(aj, spec, ASYNCJOB_WAIT, &job) < 0)
			die("submit", aj);
		double dt = now() - t0;
		if (i >= 100)   /* the first ones warm caches */
			t[i - 100] = dt;
		asyncjob_job_unref(job);
	}
	qsort(t, o->n, sizeof(*t), cmp_double);
	printf("rounds=%zu median_us=%.2f p99_us=%.2f\n", o->n, t[o->n / 2] * 1e6,
	       t[(size_t)(o->n * 0.99)] * 1e6);
	asyncjob_spec_free(spec);
	asyncjob_free(aj);
	free(t);
	return 0;
}

/* ------------------------------------------------------------ gather */

static int cmd_gather(const struct opts *o)
{
	asyncjob *aj = connect_to(o->socket);
	asyncjob_spec *spec, **specs = calloc(o->n, sizeof(*specs));
	asyncjob_job **jobs = NULL;
	bool ok = false;

	asyncjob_spec_sleep(o->seconds, NULL, &spec);
	for (size_t i = 0; i < o->n; i++)
		specs[i] = spec;
	double t0 = now();
	if (asyncjob_gather(aj, specs, o->n, 0, 0, &jobs, &ok) < 0)
		die("gather", aj);
	double t = now() - t0;
	printf("jobs=%zu seconds=%.4f ok=%d\n", o->n, t, ok);
	asyncjob_jobs_free(jobs);
	asyncjob_spec_free(spec);
	free(specs);
	asyncjob_free(aj);
	return ok ? 0 : 1;
}

/* ------------------------------------------------------------ fetch */

/* A fetch counts only when the server answered 200: a figure made of 404s
 * from the wrong server would be worthless. */
static bool fetched_ok(const asyncjob_job *job)
{
	double status = 0;
	return asyncjob_job_state(job) == ASYNCJOB_SUCCEEDED &&
	       asyncjob_job_result_number(job, "status", &status) == 0 && status == 200;
}

struct fetch_state {
	asyncjob *aj;
	asyncjob_spec *spec;
	size_t done, sent, total, errors;
};

static void on_fetched(asyncjob *aj, const asyncjob_reply *reply, void *userdata)
{
	struct fetch_state *st = userdata;
	asyncjob_job *job = NULL;

	if (asyncjob_reply_job(reply, &job) < 0 || !fetched_ok(job))
		st->errors++;
	asyncjob_job_unref(job);
	st->done++;
	if (st->sent < st->total) {
		st->sent++;
		asyncjob_send_submit(aj, st->spec, ASYNCJOB_WAIT, on_fetched, st);
	}
}

static int cmd_fetch(const struct opts *o)
{
	struct fetch_state st = { .aj = connect_to(o->socket), .total = o->n };

	if (asyncjob_spec_fetch(o->url, &st.spec) < 0)
		die("spec", NULL);
	double t0 = now();
	for (size_t k = 0; k < o->depth && st.sent < o->n; k++) {
		st.sent++;
		asyncjob_send_submit(st.aj, st.spec, ASYNCJOB_WAIT, on_fetched, &st);
	}
	run_loop(&st.aj, 1, &st.done, o->n);
	double t = now() - t0;
	printf("fetches=%zu seconds=%.4f fetches_per_second=%.0f errors=%zu\n", o->n, t,
	       (double)o->n / t, st.errors);
	asyncjob_spec_free(st.spec);
	asyncjob_free(st.aj);
	return st.errors ? 1 : 0;
}

static int cmd_download(const struct opts *o)
{
	asyncjob *aj = connect_to(o->socket);
	asyncjob_spec *spec;
	asyncjob_job *job = NULL;
	double bytes = 0;

	asyncjob_spec_fetch(o->url, &spec);
	asyncjob_spec_set_string(spec, "save_to", o->out);
	/* As curl -o, unless asked: the file is not flushed before it is
	 * renamed into place. */
	if (!o->fsync)
		asyncjob_spec_set_bool(spec, "fsync", false);
	double t0 = now();
	if (asyncjob_submit(aj, spec, ASYNCJOB_WAIT, &job) < 0)
		die("submit", aj);
	double t = now() - t0;
	asyncjob_job_result_number(job, "bytes", &bytes);
	printf("bytes=%.0f seconds=%.4f mb_per_second=%.1f state=%s\n", bytes, t, bytes / t / 1e6,
	       asyncjob_state_name(asyncjob_job_state(job)));
	int r = fetched_ok(job) ? 0 : 1;
	asyncjob_job_unref(job);
	asyncjob_spec_free(spec);
	asyncjob_free(aj);
	return r;
}

/* ------------------------------------------------------------ writes */

/* Writes go as pipelined job.submit requests with `wait`, `depth` in
 * flight, as a program writing many files would send them: one gather of
 * 10,000 writes would be a single 40 MB request, parsed in one go. */
struct write_state {
	asyncjob_spec **specs;
	size_t n, sent, done, errors;
};

static void on_written(asyncjob *aj, const asyncjob_reply *reply, void *userdata)
{
	struct write_state *st = userdata;
	asyncjob_job *job = NULL;

	if (asyncjob_reply_job(reply, &job) < 0 || asyncjob_job_state(job) != ASYNCJOB_SUCCEEDED)
		st->errors++;
	asyncjob_job_unref(job);
	st->done++;
	if (st->sent < st->n) {
		asyncjob_send_submit(aj, st->specs[st->sent], ASYNCJOB_WAIT, on_written, st);
		st->sent++;
	}
}

static int cmd_writes(const struct opts *o)
{
	asyncjob *aj = connect_to(o->socket);
	struct write_state st = { .specs = calloc(o->n, sizeof(*st.specs)), .n = o->n };
	char *content = malloc(o->size);
	char path[4096];

	memset(content, 'x', o->size);
	for (size_t i = 0; i < o->n; i++) {
		snprintf(path, sizeof(path), "%s/f%zu", o->out, o->files ? i % o->files : i);
		if (asyncjob_spec_write(path, content, o->size, &st.specs[i]) < 0)
			die("spec", NULL);
		if (!o->fsync)
			asyncjob_spec_set_bool(st.specs[i], "fsync", false);
		if (o->mode)
			asyncjob_spec_set_string(st.specs[i], "mode", o->mode);
	}
	double t0 = now();
	while (st.sent < o->depth && st.sent < o->n) {
		asyncjob_send_submit(aj, st.specs[st.sent], ASYNCJOB_WAIT, on_written, &st);
		st.sent++;
	}
	run_loop(&aj, 1, &st.done, o->n);
	double t = now() - t0;
	printf("writes=%zu seconds=%.4f writes_per_second=%.0f errors=%zu\n", o->n, t,
	       (double)o->n / t, st.errors);
	for (size_t i = 0; i < o->n; i++)
		asyncjob_spec_free(st.specs[i]);
	free(st.specs);
	free(content);
	asyncjob_free(aj);
	return st.errors ? 1 : 0;
}

/* ------------------------------------------------------------ lateness */

/* Sleeps of `interval` one after another; how much later than asked each
 * one woke (from the daemon's own `slept`). */
static int cmd_lateness(const struct opts *o)
{
	asyncjob *aj = connect_to(o->socket);
	asyncjob_spec *spec;
	size_t cap = 100000, n = 0;
	double *late = calloc(cap, sizeof(*late)), seconds = o->interval_ms / 1000.0;
	double end = now() + o->duration;

	asyncjob_spec_sleep(seconds, NULL, &spec);
	while (now() < end && n < cap) {
		asyncjob_job *job = NULL;
		double slept = 0;
		if (asyncjob_submit(aj, spec, ASYNCJOB_WAIT, &job) < 0)
			die("submit", aj);
		asyncjob_job_result_number(job, "slept", &slept);
		late[n++] = slept - seconds;
		asyncjob_job_unref(job);
	}
	qsort(late, n, sizeof(*late), cmp_double);
	printf("sleeps=%zu median_ms=%.3f p99_ms=%.3f max_ms=%.3f\n", n, late[n / 2] * 1e3,
	       late[(size_t)(n * 0.99)] * 1e3, late[n - 1] * 1e3);
	asyncjob_spec_free(spec);
	asyncjob_free(aj);
	free(late);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "url", required_argument, NULL, 'u' },
		{ "out", required_argument, NULL, 'o' },
		{ "conns", required_argument, NULL, 'c' },
		{ "depth", required_argument, NULL, 'd' },
		{ "count", required_argument, NULL, 'n' },
		{ "size", required_argument, NULL, 'S' },
		{ "seconds", required_argument, NULL, 'T' },
		{ "duration", required_argument, NULL, 'D' },
		{ "interval", required_argument, NULL, 'I' },
		{ "fsync", no_argument, NULL, 'F' },
		{ "hold", required_argument, NULL, 'H' },
		{ "mode", required_argument, NULL, 'M' },
		{ "files", required_argument, NULL, 'N' },
		{ NULL, 0, NULL, 0 },
	};
	struct opts o = { .conns = 1, .depth = 64, .n = 100000, .size = 4096, .seconds = 1,
			  .duration = 5, .interval_ms = 10 };
	int opt;

	if (argc < 2) {
		fprintf(stderr, "usage: asyncjob-bench submit|rtt|gather|fetch|download|writes|lateness -s SOCK ...\n");
		return 2;
	}
	const char *cmd = argv[1];
	optind = 2;
	while ((opt = getopt_long(argc, argv, "s:u:o:c:d:n:", options, NULL)) != -1) {
		switch (opt) {
		case 's': o.socket = optarg; break;
		case 'u': o.url = optarg; break;
		case 'o': o.out = optarg; break;
		case 'c': o.conns = strtoul(optarg, NULL, 10); break;
		case 'd': o.depth = strtoul(optarg, NULL, 10); break;
		case 'n': o.n = strtoul(optarg, NULL, 10); break;
		case 'S': o.size = strtoul(optarg, NULL, 10); break;
		case 'T': o.seconds = strtod(optarg, NULL); break;
		case 'D': o.duration = strtod(optarg, NULL); break;
		case 'I': o.interval_ms = strtod(optarg, NULL); break;
		case 'F': o.fsync = true; break;
		case 'H': o.hold = strtod(optarg, NULL); break;
		case 'M': o.mode = optarg; break;
		case 'N': o.files = strtoul(optarg, NULL, 10); break;
		default: return 2;
		}
	}
	if (!strcmp(cmd, "submit"))
		return cmd_submit(&o);
	if (!strcmp(cmd, "rtt"))
		return cmd_rtt(&o);
	if (!strcmp(cmd, "gather"))
		return cmd_gather(&o);
	if (!strcmp(cmd, "fetch") && o.url)
		return cmd_fetch(&o);
	if (!strcmp(cmd, "download") && o.url && o.out)
		return cmd_download(&o);
	if (!strcmp(cmd, "writes") && o.out)
		return cmd_writes(&o);
	if (!strcmp(cmd, "lateness"))
		return cmd_lateness(&o);
	fprintf(stderr, "asyncjob-bench: unknown command or missing option\n");
	return 2;
}
