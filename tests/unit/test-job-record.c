/* Job records (daemon/job-record.c): a job of each type, queued and
 * finished (succeeded, failed, canceled), made into a record and restored
 * is the same job on the wire, label, key, timeout, requester and spec
 * included; a spec the daemon no longer takes comes back failed with
 * `interrupted`; records that are not ours are refused with a reason; a
 * write's evidence comes back and is kept, and a finished job marked for
 * tidying comes back with its data. */
#include "config.h"

#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "daemon/daemon.h"
#include "daemon/identity.h"
#include "daemon/job-record.h"
#include "daemon/job.h"
#include "proto/json.h"
#include "proto/jsonw.h"
#include "tests/common/daemon-fixture.h"

static struct fixture *F;
static char root[64];

static int setup(void **state)
{
	char conf[128];
	(void)state;
	snprintf(root, sizeof(root), "/tmp/asyncjob-record.XXXXXX");
	if (!mkdtemp(root))
		return -1;
	snprintf(conf, sizeof(conf), "write_root = %s\n", root);
	F = fixture_new(conf, 0);
	F->d->keep_job_specs = true;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	fixture_free(F);
	rmdir(root);
	return 0;
}

/* A job from spec text, as job.submit makes it (not submitted). */
static struct job *job_from(const char *text, struct identity *requester)
{
	struct json_parser p;
	const struct json_value *spec;
	const char *why;
	const struct job_type *type;
	struct job_controls ctl;
	struct rpc_error e = { 0 };
	void *data;

	json_parser_init(&p, 32);
	assert_int_equal(json_parse(&p, text, strlen(text), &spec, &why), 0);
	if (job_spec_parse(F->d, spec, true, requester, &type, &data, &ctl, &e) < 0)
		fail_msg("%s: %s: %s", text, e.field, e.message);
	struct job *job = job_new(F->d, type, data, requester ? requester->uid : 0, &ctl);
	json_parser_release(&p);
	return job;
}

static char *wire(const struct job *job)
{
	struct jsonw w;
	size_t n;
	jsonw_init(&w);
	job_write_json(job, &w, job->state);
	char *s = jsonw_detach(&w, &n);
	jsonw_release(&w);
	assert_non_null(s);
	s = realloc(s, n + 1);   /* the writer's text has no NUL */
	assert_non_null(s);
	s[n] = '\0';
	return s;
}

/* Encodes, restores, and checks the two are the same on the wire. Returns
 * the restored job. */
static struct job *round_trip(struct job *job)
{
	struct jsonw w;
	struct job_record rec;
	struct job *back = NULL;
	char err[256] = "";

	jsonw_init(&w);
	job_record_encode(job, &w, &rec);
	assert_int_equal(rec.id, job->id);
	int r = job_record_restore(F->d, &rec, &back, err, sizeof(err));
	if (r < 0)
		fail_msg("restore: %s (body %.*s)", err, (int)rec.body_len, rec.body);
	jsonw_release(&w);
	char *a = wire(job), *b = wire(back);
	if (strcmp(a, b))
		fail_msg("restored job differs:\n  was %s\n  now %s", a, b);
	free(a);
	free(b);
	assert_int_equal(back->uid, job->uid);
	assert_int_equal(back->timeout, job->timeout);
	assert_int_equal(back->spec_len, job->spec_len);
	assert_memory_equal(back->spec_text, job->spec_text, job->spec_len);
	return back;
}

static void test_queued_jobs_of_each_type(void **state)
{
	char spec[512];
	gid_t groups[] = { 61100, 61101 };
	struct identity *who = identity_new(61001, 61002, groups, 2);
	(void)state;

	const char *specs[] = {
		"{\"type\":\"sleep\",\"seconds\":1.5,\"message\":\"tea \\u00e9\",\"label\":\"l\","
		"\"key\":\"k1\",\"timeout\":30}",
		"{\"type\":\"fetch\",\"url\":\"http://127.0.0.1:9/x\",\"method\":\"PUT\","
		"\"body\":\"{}\",\"retry\":{\"attempts\":3,\"backoff\":0.5},"
		"\"headers\":{\"X-A\":\"1\"}}",
		NULL,
	};
	for (size_t i = 0; specs[i]; i++) {
		struct job *job = job_from(specs[i], who);
		struct job *back = round_trip(job);
		assert_non_null(back->requester);
		assert_int_equal(back->requester->gid, 61002);
		assert_int_equal(back->requester->n_groups, 2);
		assert_int_equal(back->requester->groups[1], 61101);
		assert_non_null(back->data);
		job_unref(back);
		job_unref(job);
	}
	snprintf(spec, sizeof(spec), "{\"type\":\"write\",\"path\":\"%s/f\",\"content\":\"x\","
		 "\"mode\":\"append\",\"mkdirs\":true}", root);
	struct job *job = job_from(spec, who);
	job_unref(round_trip(job));
	job_unref(job);
	identity_unref(who);
}

static void test_finished_jobs(void **state)
{
	(void)state;
	struct job *ok = job_from("{\"type\":\"sleep\",\"seconds\":0,\"message\":\"done\"}", NULL);
	job_succeed(ok);
	struct job *back = round_trip(ok);
	assert_int_equal(back->state, JOB_SUCCEEDED);
	/* Its result is kept as text: the type's data is not needed. */
	assert_non_null(back->result_text);
	assert_null(back->data);
	job_unref(back);
	job_unref(ok);

	struct job *bad = job_from("{\"type\":\"sleep\",\"seconds\":5}", NULL);
	job_fail(bad, JOB_ERR_TIMEOUT, "timed out after \"%d\" s", 5);
	back = round_trip(bad);
	assert_int_equal(back->error_code, JOB_ERR_TIMEOUT);
	job_unref(back);
	job_unref(bad);

	struct job *gone = job_from("{\"type\":\"sleep\",\"seconds\":5}", NULL);
	job_fail(gone, JOB_ERR_INTERRUPTED, "asyncjobd restarted");
	back = round_trip(gone);
	assert_int_equal(back->error_code, JOB_ERR_INTERRUPTED);
	job_unref(back);
	job_unref(gone);
}

/* A queued write beneath a root this daemon no longer has: no data, and
 * the reason its spec is refused now, for recovery to fail it with. */
static void test_spec_no_longer_taken(void **state)
{
	struct jsonw w;
	struct job_record rec;
	struct job *back = NULL;
	char err[256];
	(void)state;

	struct job *job = job_from("{\"type\":\"sleep\",\"seconds\":1}", NULL);
	jsonw_init(&w);
	job_record_encode(job, &w, &rec);
	/* The same record, but a write to a path outside every root. */
	static const char body[] = "{\"spec\":{\"type\":\"write\",\"path\":\"/nonexistent-root/f\"},"
				   "\"gid\":0,\"groups\":[]}";
	rec.type = "write";
	rec.body = body;
	rec.body_len = sizeof(body) - 1;
	assert_int_equal(job_record_restore(F->d, &rec, &back, err, sizeof(err)), 0);
	assert_int_equal(back->state, JOB_QUEUED);
	assert_null(back->data);
	assert_int_equal(back->error_code, JOB_ERR_INTERRUPTED);
	assert_non_null(strstr(back->error_message, "no longer takes its spec"));
	assert_non_null(strstr(back->error_message, "path"));
	job_unref(back);
	jsonw_release(&w);
	job_unref(job);
}

static void test_records_not_ours(void **state)
{
	struct job_record rec = { .id = 7, .type = "sleep", .state = JOB_QUEUED };
	struct job *back = NULL;
	char err[256];
	(void)state;

	const char *bodies[] = {
		"not json",
		"[1,2]",
		"{\"nospec\":1}",
		"{\"spec\":{\"type\":\"sleep\",\"seconds\":1},\"gid\":1,\"groups\":[\"x\"]}",
		NULL,
	};
	for (size_t i = 0; bodies[i]; i++) {
		rec.body = bodies[i];
		rec.body_len = strlen(bodies[i]);
		err[0] = '\0';
		assert_int_equal(job_record_restore(F->d, &rec, &back, err, sizeof(err)), -EINVAL);
		assert_non_null(strstr(err, "job 7"));
	}
	rec.body = "{\"spec\":{\"type\":\"sleep\",\"seconds\":1}}";
	rec.body_len = strlen(rec.body);
	rec.type = "teleport";
	assert_int_equal(job_record_restore(F->d, &rec, &back, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "unknown job type"));
	rec.type = "sleep";
	rec.state = JOB_SUCCEEDED;
	assert_int_equal(job_record_restore(F->d, &rec, &back, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "no result"));
	rec.state = JOB_FAILED;
	assert_int_equal(job_record_restore(F->d, &rec, &back, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "error code"));
}

/* The spec text a job keeps for its life takes its own size, not a
 * writer's buffer: a gather of 100,000 sleeps kept 51 MB of slack. */
static void test_spec_text_fits(void **state)
{
	struct json_parser parser;
	const struct json_value *spec;
	const char *why;
	static const char text[] = "{\"type\":\"sleep\",\"seconds\":1}";
	size_t len;

	(void)state;
	json_parser_init(&parser, 32);
	assert_int_equal(json_parse(&parser, text, sizeof(text) - 1, &spec, &why), 0);
	char *kept = job_record_spec_text(spec, &len);
	assert_int_equal(len, sizeof(text) - 1);
	assert_memory_equal(kept, text, len);
	/* malloc's own rounding, and no more. */
	assert_true(malloc_usable_size(kept) < len + 32);
	free(kept);
	json_parser_release(&parser);
}

/* Restores `body` as a record of job 9 of type write in `state`; returns
 * job_record_restore's answer and the job in *ret. */
static int restore_write(const char *body, enum job_state state, struct job **ret, char *err,
			 size_t err_size)
{
	struct job_record rec = {
		.id = 9, .type = "write", .state = state, .submitted_ms = 1000, .started_ms = 1000,
		.finished_ms = job_state_is_final(state) ? 2000 : 0, .body = body,
		.body_len = strlen(body),
	};
	return job_record_restore(F->d, &rec, ret, err, err_size);
}

/* A write's evidence (job_type.record_write) comes back with the job and
 * goes into its record again; evidence the type cannot read makes the
 * record not one of ours. */
static void test_write_evidence_kept(void **state)
{
	char body[512], err[256] = "";
	struct job *back = NULL;
	(void)state;

	snprintf(body, sizeof(body), "{\"spec\":{\"type\":\"write\",\"path\":\"%s/f\",\"content\":"
		 "\"x\",\"mode\":\"append\"},\"gid\":0,\"groups\":[],\"evidence\":{\"before\":"
		 "{\"dev\":2049,\"ino\":18446744073709551615,\"size\":7}}}", root);
	if (restore_write(body, JOB_RUNNING, &back, err, sizeof(err)) < 0)
		fail_msg("restore: %s", err);
	assert_non_null(back->data);
	char *again = fixture_record_text(back);
	if (!strstr(again, "\"evidence\":{\"before\":{\"dev\":2049,\"ino\":18446744073709551615,"
			   "\"size\":7}}"))
		fail_msg("the evidence is not kept: %s", again);
	free(again);
	job_unref(back);

	snprintf(body, sizeof(body), "{\"spec\":{\"type\":\"write\",\"path\":\"%s/f\",\"content\":"
		 "\"x\",\"mode\":\"append\"},\"gid\":0,\"groups\":[],\"evidence\":{\"before\":5}}", root);
	assert_int_equal(restore_write(body, JOB_RUNNING, &back, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "evidence"));
}

/* A finished create marked for tidying comes back with its data (for its
 * type to tidy at start), and keeps the mark until it has; one whose spec
 * is no longer taken comes back as it ended, without data. */
static void test_finished_write_to_tidy(void **state)
{
	char body[512], err[256] = "";
	struct job *back = NULL;
	(void)state;

	snprintf(body, sizeof(body), "{\"spec\":{\"type\":\"write\",\"path\":\"%s/f\",\"content\":"
		 "\"x\",\"mode\":\"create\"},\"gid\":0,\"groups\":[],\"evidence\":{\"marker\":true},"
		 "\"tidy\":true,\"result\":{\"path\":\"%s/f\",\"bytes\":1}}", root, root);
	if (restore_write(body, JOB_SUCCEEDED, &back, err, sizeof(err)) < 0)
		fail_msg("restore: %s", err);
	assert_int_equal(back->state, JOB_SUCCEEDED);
	assert_non_null(back->data);
	char *again = fixture_record_text(back);
	if (!strstr(again, "\"tidy\":true"))
		fail_msg("the mark is lost before tidying: %s", again);
	free(again);
	job_unref(back);

	static const char gone[] = "{\"spec\":{\"type\":\"write\",\"path\":\"/nonexistent-root/f\","
				   "\"mode\":\"create\"},\"gid\":0,\"groups\":[],\"tidy\":true,"
				   "\"result\":{\"path\":\"/nonexistent-root/f\",\"bytes\":0}}";
	if (restore_write(gone, JOB_SUCCEEDED, &back, err, sizeof(err)) < 0)
		fail_msg("restore: %s", err);
	assert_int_equal(back->state, JOB_SUCCEEDED);
	assert_null(back->data);
	assert_int_equal(back->error_code, JOB_ERR_NONE);
	job_unref(back);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_queued_jobs_of_each_type, setup, teardown),
		cmocka_unit_test_setup_teardown(test_finished_jobs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spec_no_longer_taken, setup, teardown),
		cmocka_unit_test_setup_teardown(test_records_not_ours, setup, teardown),
		cmocka_unit_test(test_spec_text_fits),
		cmocka_unit_test_setup_teardown(test_write_evidence_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_finished_write_to_tidy, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
