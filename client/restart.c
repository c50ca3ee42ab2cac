/* libasyncjob across restarts of the daemon: a call waiting for jobs that
 * loses the daemon connects again, with backoff, and waits for the same
 * ids (asyncjob_set_reconnect()). */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client/internal.h"

/* The first retry comes soon (a restart takes a moment), later ones no
 * more often than once a second (the daemon may be down for a while). */
#define FIRST_RETRY_MS 50
#define LAST_RETRY_MS 1000

static double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Parses the last error's data, JSON text, into `parser`; NULL when there
 * is none or it does not parse. */
static const struct json_value *error_data(asyncjob *aj, struct json_parser *parser)
{
	const struct json_value *data;
	const char *why;

	json_parser_init(parser, 8);
	if (!aj->rpc_data ||
	    json_parse(parser, aj->rpc_data, strlen(aj->rpc_data), &data, &why) < 0)
		return NULL;
	return data;
}

/* After -EREMOTEIO: whether the daemon said it is restarting (-32002 with
 * data.restarting), and, when `ret_ids` is not NULL, the ids it named
 * (*ret_ids NULL when none; the caller frees). Returns 1, 0 or -ENOMEM. */
static int restart_said(asyncjob *aj, uint64_t **ret_ids, size_t *ret_n)
{
	struct json_parser parser;
	const struct json_value *data, *flag, *ids;
	int r = 0;

	if (aj->rpc_code != ASYNCJOB_RPC_BUSY)
		return 0;
	data = error_data(aj, &parser);
	flag = json_get(data, "restarting");
	if (!json_is(flag, JSON_BOOL) || !flag->boolean)
		goto out;
	r = 1;
	if (!ret_ids)
		goto out;
	*ret_ids = NULL;
	*ret_n = 0;
	ids = json_get(data, "ids");
	if (!json_is(ids, JSON_ARRAY) || ids->len == 0)
		goto out;
	uint64_t *v = malloc(ids->len * sizeof(*v));
	if (!v) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < ids->len; i++) {
		if (!json_uint64(&ids->items[i], &v[i])) {
			/* Not ids this library can wait for: as if none. */
			free(v);
			goto out;
		}
	}
	*ret_ids = v;
	*ret_n = ids->len;
out:
	json_parser_release(&parser);
	return r;
}

/* Whether a failed call means the daemon went away, and how: it said it
 * is restarting, or the connection it had is gone. (A connection closed
 * for a reply too large or unreadable is not that: the daemon is there.) */
static bool went_away(asyncjob *aj, int r, asyncjob_reconnect_event *ret_what)
{
	if (r == -EREMOTEIO && restart_said(aj, NULL, NULL) == 1) {
		*ret_what = ASYNCJOB_DAEMON_RESTARTING;
		return true;
	}
	if ((r == -ECONNRESET || r == -EPIPE || r == -ENOTCONN || r == -ECONNABORTED) && aj->path &&
	    (aj->broken || aj->fd < 0)) {
		*ret_what = ASYNCJOB_CONNECTION_LOST;
		return true;
	}
	return false;
}

/* Runs the reconnect handler. Returns 0, or -ECANCELED when it freed the
 * handle (which is then gone). */
static int tell(asyncjob *aj, asyncjob_reconnect_event what, const uint64_t *ids, size_t n)
{
	if (!aj->reconnect_fn)
		return 0;
	/* As in any callback, a free waits until it returns. */
	aj->dispatching++;
	aj->reconnect_fn(aj, what, ids, n, aj->reconnect_userdata);
	aj->dispatching--;
	if (aj->free_requested) {
		asyncjob_free(aj);
		return -ECANCELED;
	}
	return 0;
}

/* Connects again, retrying while the daemon is away, for up to the
 * reconnect limit, or until `deadline` (> 0: a wait's own timeout, which
 * a caller means as the most it waits). Returns 0, -ETIMEDOUT, -EINTR or
 * -ECANCELED. */
static int come_back(asyncjob *aj, double deadline)
{
	double limit = aj->reconnect_ms / 1000.0;
	double give_up = now_seconds() + limit;
	const char *until = "";
	int delay_ms = FIRST_RETRY_MS;

	if (deadline > 0 && deadline < give_up) {
		give_up = deadline;
		until = " before the wait's timeout";
	}

	for (;;) {
		int r = aj_reopen(aj);
		if (r == 0 || r == -ECANCELED)
			return r;
		double left = give_up - now_seconds();
		if (left <= 0) {
			char why[sizeof(aj->errmsg)];
			snprintf(why, sizeof(why), "%s", aj->errmsg);
			if (*until)
				return aj_fail(aj, -ETIMEDOUT, "asyncjobd did not come back%s (%s)",
					       until, why);
			return aj_fail(aj, -ETIMEDOUT, "asyncjobd did not come back within %g s (%s)",
				       limit, why);
		}
		int ms = left * 1000 < delay_ms ? (int)ceil(left * 1000) : delay_ms;
		if (poll(NULL, 0, ms) < 0 && errno == EINTR)
			return aj_fail(aj, -EINTR, "interrupted while waiting for asyncjobd to come back");
		delay_ms = delay_ms * 2 < LAST_RETRY_MS ? delay_ms * 2 : LAST_RETRY_MS;
	}
}

/* Whether the daemon keeps jobs across restarts. One that keeps them in
 * memory has forgotten ours and may have given their ids to new jobs:
 * those must not be followed. Returns 1 (or 1 for a daemon that does not
 * say), 0, or a negative errno. */
static int daemon_keeps_jobs(asyncjob *aj)
{
	struct json_parser parser;
	const struct json_value *info, *store;
	const char *why;
	char *text = NULL;
	int r = asyncjob_call(aj, "daemon.info", NULL, &text);

	if (r < 0)
		return r;
	json_parser_init(&parser, 64);
	r = 1;
	if (json_parse(&parser, text, strlen(text), &info, &why) == 0 &&
	    json_is(store = json_get(info, "store"), JSON_STRING) && strcmp(store->str, "memory") == 0)
		r = 0;
	json_parser_release(&parser);
	free(text);
	return r;
}

/* -32001 after a restart: the daemon came back without the job. */
static int job_lost(asyncjob *aj, const uint64_t *ids)
{
	struct json_parser parser;
	uint64_t id = ids[0];
	char what[sizeof(aj->errmsg)];

	json_uint64(json_get(error_data(aj, &parser), "id"), &id);
	json_parser_release(&parser);
	snprintf(what, sizeof(what), "%s", aj->errmsg);
	return aj_fail(aj, -EREMOTEIO, "job %" PRIu64 " was lost when asyncjobd restarted: it no "
		       "longer knows it (%s)", id, what);
}

/* job.wait for `ids`, connecting again whenever the daemon goes away;
 * `away` >= 0 when it already has (how), the connection to be made first. */
static int follow(asyncjob *aj, const uint64_t *ids, size_t n, bool any, double timeout, int away,
		  asyncjob_job ***ret_jobs, bool *ret_timed_out)
{
	bool timed = timeout >= 0 && isfinite(timeout);
	double deadline = timed ? now_seconds() + timeout : 0;
	bool came_back = false;
	int r;

	for (;;) {
		if (away >= 0) {
			if ((r = tell(aj, (asyncjob_reconnect_event)away, ids, n)) < 0 ||
			    (r = come_back(aj, timed ? deadline : 0)) < 0 ||
			    (r = tell(aj, ASYNCJOB_RECONNECTED, ids, n)) < 0)
				return r;
			away = -1;
			came_back = true;
			r = daemon_keeps_jobs(aj);
			if (r == 0) {
				aj->rpc_code = ASYNCJOB_RPC_JOB_NOT_FOUND;
				return aj_fail(aj, -EREMOTEIO, "job %" PRIu64 "%s lost when asyncjobd "
					       "restarted: it keeps jobs in memory (store = memory)",
					       ids[0], n > 1 ? " and the others were" : " was");
			}
			asyncjob_reconnect_event what;
			if (r < 0 && went_away(aj, r, &what)) {
				away = (int)what;
				continue;
			}
			if (r < 0)
				return r;
		}
		/* The wait's timeout counts from the call, across restarts. */
		double left = timeout;
		if (timed) {
			left = deadline - now_seconds();
			if (left < 0)
				left = 0;
		}
		r = aj_wait_once(aj, ids, n, any, left, ret_jobs, ret_timed_out);
		if (r == 0 || r == -ECANCELED)
			return r;
		asyncjob_reconnect_event what;
		if (went_away(aj, r, &what)) {
			away = (int)what;
			continue;
		}
		if (r == -EREMOTEIO && came_back && aj->rpc_code == ASYNCJOB_RPC_JOB_NOT_FOUND)
			return job_lost(aj, ids);
		return r;
	}
}

int aj_follow_wait(asyncjob *aj, const uint64_t *ids, size_t n, bool any, double timeout,
		   asyncjob_job ***ret_jobs, bool *ret_timed_out)
{
	return follow(aj, ids, n, any, timeout, -1, ret_jobs, ret_timed_out);
}

/* A fail_fast gather the daemon no longer watches: waits until one job
 * does not succeed, then cancels the others as the daemon would have.
 * `away` as for follow(). */
static int follow_fail_fast(asyncjob *aj, const uint64_t *ids, size_t n, int away)
{
	uint64_t *left = malloc(n * sizeof(*left));
	size_t n_left = n;
	bool failed = false;
	int r = 0;

	if (!left)
		return aj_fail(aj, -ENOMEM, "out of memory");
	memcpy(left, ids, n * sizeof(*left));
	while (n_left > 0 && !failed) {
		asyncjob_job **jobs = NULL;
		r = follow(aj, left, n_left, true, -1, away, &jobs, NULL);
		if (r < 0)
			goto out;
		away = -1;
		size_t kept = 0;
		for (size_t i = 0; i < n_left; i++) {
			asyncjob_state st = asyncjob_job_state(jobs[i]);
			if (!asyncjob_state_is_final(st))
				left[kept++] = left[i];
			else if (st != ASYNCJOB_SUCCEEDED)
				failed = true;
		}
		n_left = kept;
		asyncjob_jobs_free(jobs);
	}
	for (size_t i = 0; i < n_left; i++) {
		asyncjob_job *job = NULL;
		r = asyncjob_cancel(aj, left[i], &job);
		asyncjob_job_unref(job);
		/* One that finished meanwhile is as good. */
		if (r == -EREMOTEIO && aj->rpc_code == ASYNCJOB_RPC_JOB_FINISHED)
			r = 0;
		if (r < 0)
			goto out;
	}
out:
	free(left);
	return r;
}

/* Waits for a gather's jobs by id, as the daemon would have: all of them,
 * or with `fail_fast` until one does not succeed (the others then
 * canceled). `away` as for follow(). */
static int follow_gather(asyncjob *aj, const uint64_t *ids, size_t n, bool fail_fast, int away,
			 asyncjob_job ***ret_jobs, bool *ret_ok)
{
	asyncjob_job **jobs = NULL;
	int r = 0;

	if (fail_fast) {
		r = follow_fail_fast(aj, ids, n, away);
		away = -1;
	}
	if (r == 0)
		r = follow(aj, ids, n, false, -1, away, &jobs, NULL);
	if (r < 0) {
		asyncjob_jobs_free(jobs);
		return r;
	}
	bool ok = true;
	for (size_t i = 0; jobs[i]; i++)
		if (asyncjob_job_state(jobs[i]) != ASYNCJOB_SUCCEEDED)
			ok = false;
	*ret_jobs = jobs;
	if (ret_ok)
		*ret_ok = ok;
	return 0;
}

int aj_follow_restarted(asyncjob *aj, int r, bool fail_fast, asyncjob_job ***ret_jobs,
			bool *ret_ok)
{
	uint64_t *ids = NULL;
	size_t n = 0;

	if (r != -EREMOTEIO || aj->reconnect_ms <= 0)
		return r;
	int said = restart_said(aj, &ids, &n);
	if (said < 0)
		return aj_fail(aj, -ENOMEM, "out of memory");
	if (!said || !ids)
		return r;   /* not a restart, or refused before any job was made */

	r = follow_gather(aj, ids, n, fail_fast, ASYNCJOB_DAEMON_RESTARTING, ret_jobs, ret_ok);
	free(ids);
	return r;
}

int aj_follow_lost_gather(asyncjob *aj, int r, size_t n, bool fail_fast,
			  int (*resolve)(asyncjob *aj, void *arg, uint64_t *ids), void *arg,
			  asyncjob_job ***ret_jobs, bool *ret_ok)
{
	asyncjob_reconnect_event what;
	uint64_t *ids;

	if (aj->reconnect_ms <= 0 || !went_away(aj, r, &what) || what != ASYNCJOB_CONNECTION_LOST)
		return r;
	if (!(ids = calloc(n, sizeof(*ids))))
		return aj_fail(aj, -ENOMEM, "out of memory");
	for (;;) {
		/* No ids to name yet: the note says the gather's jobs. */
		if ((r = tell(aj, what, NULL, 0)) < 0 || (r = come_back(aj, 0)) < 0)
			goto out;
		r = daemon_keeps_jobs(aj);
		if (r == 0) {
			aj->rpc_code = ASYNCJOB_RPC_JOB_NOT_FOUND;
			r = aj_fail(aj, -EREMOTEIO, "the gather's jobs were lost when asyncjobd "
				    "restarted: it keeps jobs in memory (store = memory)");
			goto out;
		}
		if (r > 0)
			r = resolve(aj, arg, ids);
		if (r < 0 && went_away(aj, r, &what))
			continue;
		if (r < 0)
			goto out;
		break;
	}
	/* Now they have ids: a handler that cancels on Ctrl-C learns them. */
	if ((r = tell(aj, ASYNCJOB_RECONNECTED, ids, n)) == 0)
		r = follow_gather(aj, ids, n, fail_fast, -1, ret_jobs, ret_ok);
out:
	free(ids);
	return r;
}
