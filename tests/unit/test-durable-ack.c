/* Durable acknowledgement: with a store that writes to disk, no reply or
 * event telling of a job leaves the daemon before the job's record in that
 * state is durable, and a write (or fetch) does not begin before its record
 * is. The store here is the memory store behind a gate the test opens
 * (commit), so "not yet durable" lasts exactly as long as the test wants;
 * the real daemon core answers through the fixture's connection. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "daemon/conn.h"
#include "daemon/daemon.h"
#include "daemon/job-store.h"
#include "daemon/job.h"
#include "tests/common/daemon-fixture.h"

/* ------------------------------------------------------------ the gated store */

struct gated_store {
	struct job_store base;
	struct job_store *inner;
	uint64_t made, durable;
	int health;            /* what the store says of its disk */
};

static struct gated_store *gs(struct job_store *s)
{
	return (struct gated_store *)s;
}

static uint64_t g_allocate_id(struct job_store *s) { return job_store_allocate_id(gs(s)->inner); }
static uint64_t g_last_id(struct job_store *s) { return job_store_last_id(gs(s)->inner); }
/* Each change gets the next number, and the job the number of its last. */
static void g_add(struct job_store *s, struct job *j)
{
	job_store_add(gs(s)->inner, j);
	j->change_seq = ++gs(s)->made;
}
static void g_remove(struct job_store *s, struct job *j)
{
	gs(s)->made++;
	job_store_remove(gs(s)->inner, j);
}
static void g_updated(struct job_store *s, struct job *j, enum job_state from)
{
	job_store_updated(gs(s)->inner, j, from);
	j->change_seq = ++gs(s)->made;
}
static struct job *g_get(struct job_store *s, uint64_t id) { return job_store_get(gs(s)->inner, id); }
static struct job *g_find_key(struct job_store *s, uid_t uid, const char *k, size_t n)
{
	return job_store_find_key(gs(s)->inner, uid, k, n);
}
static struct job *g_newest(struct job_store *s) { return job_store_newest(gs(s)->inner); }
static struct job *g_older(struct job_store *s, struct job *j) { return job_store_older(gs(s)->inner, j); }
static size_t g_count(struct job_store *s) { return job_store_count(gs(s)->inner); }
static size_t g_list(struct job_store *s, const struct job_filter *f, size_t limit, struct job **out,
		     size_t *matched)
{
	return job_store_list(gs(s)->inner, f, limit, out, matched);
}
static size_t g_count_state(struct job_store *s, enum job_state st)
{
	return job_store_count_state(gs(s)->inner, st);
}
static void g_free(struct job_store *s)
{
	job_store_free(gs(s)->inner);
	free(s);
}
static uint64_t g_made(struct job_store *s) { return gs(s)->made; }
static uint64_t g_durable(struct job_store *s) { return gs(s)->durable; }
static int g_health(struct job_store *s) { return gs(s)->health; }

static const struct job_store_ops gated_ops = {
	.allocate_id = g_allocate_id, .last_id = g_last_id, .add = g_add, .remove = g_remove,
	.updated = g_updated, .get = g_get, .find_key = g_find_key, .newest = g_newest,
	.older = g_older, .count = g_count, .count_state = g_count_state, .list = g_list,
	.free = g_free,
	.changes_made = g_made, .changes_durable = g_durable, .health = g_health,
};

static struct gated_store *G;

/* The changes up to `n` are now on disk. */
static void commit_to(uint64_t n)
{
	G->durable = n;
	G->base.on_durable(G->base.on_durable_arg);
}

/* Everything handed to the store so far is now on disk. */
static void commit(void)
{
	commit_to(G->made);
}

/* ------------------------------------------------------------ fixture */

static struct fixture *F;
static char root[64];

static int setup(void **state)
{
	char conf[128];
	(void)state;
	snprintf(root, sizeof(root), "/tmp/asyncjob-durable.XXXXXX");
	if (!mkdtemp(root))
		return -1;
	snprintf(conf, sizeof(conf), "write_root = %s\n", root);
	F = fixture_new(conf, 0);
	G = calloc(1, sizeof(*G));
	G->base.ops = &gated_ops;
	G->inner = job_store_memory_new();
	daemon_use_store(F->d, &G->base);
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];
	(void)state;
	/* What the last commit released is still moving between the pair's
	 * two ends: let it arrive, as a client reading would. */
	fixture_drain(F);
	fixture_free(F);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	return system(cmd) == 0 ? 0 : -1;
}

/* Nothing arrives while the gate is shut (the loop runs meanwhile). */
static void assert_nothing_arrives(void)
{
	const char *line = fixture_recv(F, 200);
	if (line)
		fail_msg("a line left before its change was durable: %s", line);
}

static const char *recv_line(void)
{
	const char *line = fixture_recv(F, 5000);
	assert_non_null(line);
	return line;
}

/* ------------------------------------------------------------ tests */

static void test_reply_waits_for_the_record(void **state)
{
	(void)state;
	fixture_send(F, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"job.submit\","
		     "\"params\":{\"type\":\"sleep\",\"seconds\":0,\"message\":\"hi\",\"wait\":true}}");
	assert_nothing_arrives();
	assert_true(G->made > 0);
	commit();
	const char *line = recv_line();
	assert_non_null(strstr(line, "\"id\":1"));
	assert_non_null(strstr(line, "\"succeeded\""));
}

static void test_nothing_to_wait_for_is_not_held(void **state)
{
	(void)state;
	const char *line = fixture_call(F, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"daemon.info\"}");
	assert_non_null(line);
	assert_non_null(strstr(line, "\"id\":2"));
}

/* Everything after held output waits too: the client reads in order. */
static void test_order_kept(void **state)
{
	(void)state;
	fixture_send(F, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"job.submit\","
		     "\"params\":{\"type\":\"sleep\",\"seconds\":60}}");
	fixture_send(F, "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"daemon.info\"}");
	assert_nothing_arrives();
	commit();
	assert_non_null(strstr(recv_line(), "\"id\":3"));
	assert_non_null(strstr(recv_line(), "\"id\":4"));
}

static void test_events_wait_too(void **state)
{
	(void)state;
	const char *line = fixture_call(F, "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"events.subscribe\"}");
	assert_non_null(line);
	fixture_send(F, "{\"jsonrpc\":\"2.0\",\"method\":\"job.submit\","
		     "\"params\":{\"type\":\"sleep\",\"seconds\":60}}");
	assert_nothing_arrives();
	commit();
	assert_non_null(strstr(recv_line(), "job.updated"));
}

/* A write does not begin before its record is durable: queued, then
 * running (so that one found queued after a crash never began). */
static void test_write_starts_when_durable(void **state)
{
	char path[128], line[512];
	struct stat st;
	(void)state;

	snprintf(path, sizeof(path), "%s/out.txt", root);
	snprintf(line, sizeof(line), "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"job.submit\","
		 "\"params\":{\"type\":\"write\",\"path\":\"%s\",\"content\":\"x\",\"wait\":true}}", path);
	fixture_send(F, line);
	assert_nothing_arrives();
	struct job *job = job_store_newest(F->d->store);
	assert_non_null(job);
	assert_int_equal(job->state, JOB_QUEUED);
	assert_int_equal(stat(path, &st), -1);
	commit();
	/* Running now, but the file waits for that to be on disk too. */
	fixture_drain(F);
	assert_int_equal(job->state, JOB_RUNNING);
	usleep(20000);
	fixture_drain(F);
	assert_int_equal(stat(path, &st), -1);
	commit();
	/* It runs now; its end is one more change to make durable. */
	for (int i = 0; i < 500 && job->state != JOB_SUCCEEDED; i++) {
		fixture_drain(F);
		usleep(2000);
	}
	assert_int_equal(job->state, JOB_SUCCEEDED);
	assert_int_equal(stat(path, &st), 0);
	assert_nothing_arrives();
	commit();
	assert_non_null(strstr(recv_line(), "\"succeeded\""));
}

/* Canceled while it waits to start: it never starts. */
static void test_canceled_before_durable_never_starts(void **state)
{
	char path[128], line[512];
	struct stat st;
	(void)state;

	snprintf(path, sizeof(path), "%s/never.txt", root);
	snprintf(line, sizeof(line), "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"job.submit\","
		 "\"params\":{\"type\":\"write\",\"path\":\"%s\",\"content\":\"x\"}}", path);
	fixture_send(F, line);
	assert_nothing_arrives();
	struct job *job = job_store_newest(F->d->store);
	fixture_send(F, "{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"job.cancel\",\"params\":{\"id\":1}}");
	fixture_drain(F);
	assert_int_equal(job->state, JOB_CANCELED);
	commit();
	assert_non_null(strstr(recv_line(), "\"id\":7"));
	assert_non_null(strstr(recv_line(), "\"canceled\""));
	for (int i = 0; i < 50; i++) {
		fixture_drain(F);
		usleep(2000);
	}
	assert_int_equal(stat(path, &st), -1);
}

/* Held output goes as far as its changes are on disk: a message whose
 * change is durable goes, the next one waits for its own. */
static void test_released_in_parts(void **state)
{
	(void)state;
	fixture_send(F, "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"job.submit\","
		     "\"params\":{\"type\":\"sleep\",\"seconds\":60}}");
	fixture_drain(F);
	uint64_t first = G->made;
	fixture_send(F, "{\"jsonrpc\":\"2.0\",\"id\":10,\"method\":\"job.submit\","
		     "\"params\":{\"type\":\"sleep\",\"seconds\":60}}");
	assert_nothing_arrives();
	assert_true(G->made > first);
	commit_to(first);
	assert_non_null(strstr(recv_line(), "\"id\":9"));
	assert_nothing_arrives();
	commit();
	assert_non_null(strstr(recv_line(), "\"id\":10"));
}

/* What waits on one connection holds up no other: a read of a job whose
 * record is on disk is answered at once elsewhere. */
static void test_other_connections_not_held(void **state)
{
	(void)state;
	fixture_send(F, "{\"jsonrpc\":\"2.0\",\"id\":11,\"method\":\"job.submit\","
		     "\"params\":{\"type\":\"sleep\",\"seconds\":60}}");
	assert_nothing_arrives();
	commit();
	assert_non_null(strstr(recv_line(), "\"id\":11"));
	/* A second job, not on disk yet, on the first connection. */
	fixture_send(F, "{\"jsonrpc\":\"2.0\",\"id\":12,\"method\":\"job.submit\","
		     "\"params\":{\"type\":\"sleep\",\"seconds\":60}}");
	assert_nothing_arrives();
	struct bufferevent *other = fixture_connect(F, 0, NULL);
	static const char get[] = "{\"jsonrpc\":\"2.0\",\"id\":13,\"method\":\"job.get\","
				  "\"params\":{\"id\":1}}\n";
	bufferevent_write(other, get, sizeof(get) - 1);
	const char *line = fixture_recv_on(F, other, 5000);
	assert_non_null(line);
	assert_non_null(strstr(line, "\"id\":13"));
	commit();
	assert_non_null(strstr(recv_line(), "\"id\":12"));
	bufferevent_free(other);   /* the test's end: ours to free */
}

/* A gather's reply is written once its jobs' records are on disk, not
 * written at once and held by the connection meanwhile (a gather of
 * 100,000 jobs would hold 20 MB). */
static void test_gather_reply_written_when_durable(void **state)
{
	(void)state;
	struct conn *c;

	fixture_send(F, "{\"jsonrpc\":\"2.0\",\"id\":20,\"method\":\"job.gather\",\"params\":{\"jobs\":["
		     "{\"type\":\"sleep\",\"seconds\":0,\"message\":\"a\"},"
		     "{\"type\":\"sleep\",\"seconds\":0,\"message\":\"b\"}]}}");
	assert_nothing_arrives();
	assert_int_equal(job_store_count_state(F->d->store, JOB_SUCCEEDED), 2);
	assert_false(TAILQ_EMPTY(&F->d->durable_waiters));
	c = TAILQ_FIRST(&F->d->conns);
	assert_non_null(c);
	assert_true(!c->held || evbuffer_get_length(c->held) == 0);
	commit();
	const char *line = recv_line();
	assert_non_null(strstr(line, "\"id\":20"));
	assert_non_null(strstr(line, "\"ok\":true"));
	assert_true(TAILQ_EMPTY(&F->d->durable_waiters));
}

/* A client that hangs up while its gather waits for the store: the reply is
 * written once the records are (to nobody), and the daemon goes on. */
static void test_gather_client_gone_before_durable(void **state)
{
	(void)state;
	struct bufferevent *other = fixture_connect(F, 0, NULL);
	static const char gather[] =
		"{\"jsonrpc\":\"2.0\",\"id\":21,\"method\":\"job.gather\",\"params\":{\"jobs\":["
		"{\"type\":\"sleep\",\"seconds\":0}]}}\n";

	bufferevent_write(other, gather, sizeof(gather) - 1);
	for (int i = 0; i < 100 && TAILQ_EMPTY(&F->d->durable_waiters); i++)
		assert_null(fixture_recv_on(F, other, 20));
	assert_false(TAILQ_EMPTY(&F->d->durable_waiters));
	bufferevent_free(other);
	assert_null(fixture_recv(F, 200));
	commit();
	assert_true(TAILQ_EMPTY(&F->d->durable_waiters));
	const char *line = fixture_call(F, "{\"jsonrpc\":\"2.0\",\"id\":22,\"method\":\"daemon.info\"}");
	assert_non_null(line);
	assert_non_null(strstr(line, "\"id\":22"));
}

/* A gather still waiting for the store when the daemon is freed: its wait
 * goes with its connection (the sanitizer build checks nothing is left or
 * freed twice). */
static void test_gather_waiting_at_teardown(void **state)
{
	(void)state;
	fixture_send(F, "{\"jsonrpc\":\"2.0\",\"id\":23,\"method\":\"job.gather\",\"params\":{\"jobs\":["
		     "{\"type\":\"sleep\",\"seconds\":0}]}}");
	assert_nothing_arrives();
	assert_false(TAILQ_EMPTY(&F->d->durable_waiters));
}

/* Sends a line on another connection and returns its reply (5 s). */
static const char *call_on(struct bufferevent *b, const char *line)
{
	bufferevent_write(b, line, strlen(line));
	bufferevent_write(b, "\n", 1);
	return fixture_recv_on(F, b, 5000);
}

/* While the store cannot write (commits fail, a change stays pending): a
 * new job is refused at once with -32006 naming why, and reads of what is
 * on disk go on, on another connection than the one waiting. */
static void test_store_failing(void **state)
{
	(void)state;
	fixture_send(F, "{\"jsonrpc\":\"2.0\",\"id\":14,\"method\":\"job.submit\","
		     "\"params\":{\"type\":\"sleep\",\"seconds\":60}}");
	fixture_drain(F);
	commit();
	assert_non_null(strstr(recv_line(), "\"id\":14"));
	/* A second job whose record does not reach the disk. */
	fixture_send(F, "{\"jsonrpc\":\"2.0\",\"id\":15,\"method\":\"job.submit\","
		     "\"params\":{\"type\":\"sleep\",\"seconds\":60}}");
	assert_nothing_arrives();
	G->health = -ENOSPC;
	struct bufferevent *other = fixture_connect(F, 0, NULL);
	const char *line = call_on(other, "{\"jsonrpc\":\"2.0\",\"id\":16,\"method\":\"job.submit\","
				   "\"params\":{\"type\":\"sleep\",\"seconds\":1}}");
	assert_non_null(line);
	assert_non_null(strstr(line, "-32006"));
	assert_non_null(strstr(line, "ENOSPC"));
	line = call_on(other, "{\"jsonrpc\":\"2.0\",\"id\":17,\"method\":\"job.get\","
		       "\"params\":{\"id\":1}}");
	assert_non_null(line);
	assert_non_null(strstr(line, "\"running\""));
	line = call_on(other, "{\"jsonrpc\":\"2.0\",\"id\":18,\"method\":\"daemon.info\"}");
	assert_non_null(line);
	assert_non_null(strstr(line, "\"id\":18"));
	/* The job not on disk is not told of, there either. */
	bufferevent_write(other, "{\"jsonrpc\":\"2.0\",\"id\":19,\"method\":\"job.get\","
			  "\"params\":{\"id\":2}}\n", 63);
	line = fixture_recv_on(F, other, 200);
	assert_null(line);
	/* Space again: the engine writes what waited, and it all goes. */
	G->health = 0;
	commit();
	assert_non_null(strstr(recv_line(), "\"id\":15"));
	line = fixture_recv_on(F, other, 5000);
	assert_non_null(line);
	assert_non_null(strstr(line, "\"id\":19"));
	bufferevent_free(other);   /* the test's end: ours to free */
}

/* -32004 tells a job's final state in its data: it waits for that state
 * to be on disk, as a job object would. */
static void test_finished_error_waits(void **state)
{
	(void)state;
	fixture_send(F, "{\"jsonrpc\":\"2.0\",\"id\":20,\"method\":\"job.submit\","
		     "\"params\":{\"type\":\"sleep\",\"seconds\":0}}");
	assert_nothing_arrives();
	struct bufferevent *other = fixture_connect(F, 0, NULL);
	static const char cancel[] = "{\"jsonrpc\":\"2.0\",\"id\":21,\"method\":\"job.cancel\","
				     "\"params\":{\"id\":1}}\n";
	bufferevent_write(other, cancel, sizeof(cancel) - 1);
	const char *line = fixture_recv_on(F, other, 200);
	if (line)
		fail_msg("told of a state not on disk: %s", line);
	commit();
	line = fixture_recv_on(F, other, 5000);
	assert_non_null(line);
	assert_non_null(strstr(line, "-32004"));
	assert_non_null(strstr(line, "\"succeeded\""));
	assert_non_null(strstr(recv_line(), "\"id\":20"));
	bufferevent_free(other);   /* the test's end: ours to free */
}

/* ------------------------------------------------------------ evidence for a restart */

static bool record_asks_tidying(const struct job *job)
{
	char *rec = fixture_record_text(job);
	bool tidy = strstr(rec, "\"tidy\":true") != NULL;
	free(rec);
	return tidy;
}

/* Runs the loop (and so the workers' answers) until `cond` or 2 s. */
#define drain_until(cond)                                        \
	do {                                                     \
		for (int i_ = 0; i_ < 1000 && !(cond); i_++) {   \
			fixture_drain(F);                        \
			usleep(2000);                            \
		}                                                \
	} while (0)

static void put_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

static char *file_text(const char *path)
{
	static char buf[256];
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static struct job *submit_write(int rid, const char *path, const char *content, const char *mode)
{
	char line[512];

	snprintf(line, sizeof(line), "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"job.submit\","
		 "\"params\":{\"type\":\"write\",\"path\":\"%s\",\"content\":\"%s\",\"mode\":\"%s\","
		 "\"fsync\":false}}", rid, path, content, mode);
	fixture_send(F, line);
	fixture_drain(F);
	struct job *job = job_store_newest(F->d->store);
	assert_non_null(job);
	return job;
}

/* An append looks at its file first, and its RUNNING record says what the
 * file was; no byte goes before that record is on disk. */
static void test_append_records_its_file_first(void **state)
{
	char path[128], want[64];
	struct stat st;
	(void)state;

	snprintf(path, sizeof(path), "%s/log", root);
	put_file(path, "A\n");
	assert_int_equal(stat(path, &st), 0);
	struct job *job = submit_write(30, path, "B\\n", "append");
	commit();
	drain_until(job->state == JOB_RUNNING);
	assert_int_equal(job->state, JOB_RUNNING);
	char *rec = fixture_record_text(job);
	snprintf(want, sizeof(want), "\"ino\":%llu,\"size\":2}", (unsigned long long)st.st_ino);
	if (!strstr(rec, want))
		fail_msg("the RUNNING record does not say what the file was (%s): %s", want, rec);
	free(rec);
	usleep(20000);
	fixture_drain(F);
	assert_string_equal(file_text(path), "A\n");
	commit();
	drain_until(job->state == JOB_SUCCEEDED);
	assert_int_equal(job->state, JOB_SUCCEEDED);
	assert_string_equal(file_text(path), "A\nB\n");
	commit();
}

/* Another program appends between the record and the append: nothing is
 * written at a place the record does not say; the file is recorded again
 * as it is, and the append goes once that is on disk. */
static void test_append_records_a_changed_file_again(void **state)
{
	char path[128];
	(void)state;

	snprintf(path, sizeof(path), "%s/log", root);
	put_file(path, "A\n");
	struct job *job = submit_write(31, path, "B\\n", "append");
	commit();
	drain_until(job->state == JOB_RUNNING);
	put_file(path, "A\nX\n");   /* the same file, grown */
	uint64_t made = G->made;
	commit();
	drain_until(G->made > made);
	assert_true(G->made > made);
	char *rec = fixture_record_text(job);
	if (!strstr(rec, "\"size\":4}"))
		fail_msg("not recorded again as it is now: %s", rec);
	free(rec);
	assert_string_equal(file_text(path), "A\nX\n");
	assert_int_equal(job->state, JOB_RUNNING);
	commit();
	drain_until(job->state == JOB_SUCCEEDED);
	assert_int_equal(job->state, JOB_SUCCEEDED);
	assert_string_equal(file_text(path), "A\nX\nB\n");
	commit();
}

/* Appends to one path run in order: the second records the file as the
 * first will leave it (one group commit for both), and writes after it;
 * none lands between another's record and its bytes. */
static void test_appends_to_one_path_in_line(void **state)
{
	char path[128];
	(void)state;

	snprintf(path, sizeof(path), "%s/log", root);
	put_file(path, "A\n");
	struct job *first = submit_write(32, path, "1", "append");
	struct job *second = submit_write(33, path, "2", "append");
	commit();
	drain_until(first->state == JOB_RUNNING && second->state == JOB_RUNNING);
	assert_int_equal(first->state, JOB_RUNNING);
	assert_int_equal(second->state, JOB_RUNNING);
	char *rec = fixture_record_text(second);
	if (!strstr(rec, "\"size\":3}"))
		fail_msg("the second does not record the file as the first leaves it: %s", rec);
	free(rec);
	usleep(20000);
	fixture_drain(F);
	assert_string_equal(file_text(path), "A\n");
	commit();
	drain_until(first->state == JOB_SUCCEEDED && second->state == JOB_SUCCEEDED);
	assert_int_equal(first->state, JOB_SUCCEEDED);
	assert_int_equal(second->state, JOB_SUCCEEDED);
	assert_string_equal(file_text(path), "A\n12");
	commit();
}

/* An append to a file not there yet cannot be chained (its inode is not
 * known): the next one waits, queued, and looks once the first is done. */
static void test_append_after_one_making_the_file_waits(void **state)
{
	char path[128];
	(void)state;

	snprintf(path, sizeof(path), "%s/new.log", root);
	struct job *first = submit_write(35, path, "1", "append");
	struct job *second = submit_write(36, path, "2", "append");
	commit();
	drain_until(first->state == JOB_RUNNING);
	usleep(20000);
	fixture_drain(F);
	assert_int_equal(second->state, JOB_QUEUED);
	for (int i = 0; i < 1000 && second->state != JOB_SUCCEEDED; i++) {
		commit();
		fixture_drain(F);
		usleep(2000);
	}
	assert_int_equal(first->state, JOB_SUCCEEDED);
	assert_int_equal(second->state, JOB_SUCCEEDED);
	assert_string_equal(file_text(path), "12");
	commit();
}

/* A create's marker outlives the job's end until that is on disk, the
 * record asking meanwhile for it to be tidied; then it goes. */
static void test_create_marker_goes_once_the_end_is_durable(void **state)
{
	char path[128], marker[160];
	struct stat st;
	(void)state;

	snprintf(path, sizeof(path), "%s/new", root);
	struct job *job = submit_write(34, path, "x", "create");
	snprintf(marker, sizeof(marker), "%s/.new.asyncjob-%llu.committing", root,
		 (unsigned long long)job->id);
	commit();
	drain_until(job->state == JOB_RUNNING);
	commit();
	drain_until(job->state == JOB_SUCCEEDED);
	assert_int_equal(job->state, JOB_SUCCEEDED);
	assert_string_equal(file_text(path), "x");
	if (stat(marker, &st) < 0)
		fail_msg("no marker %s beside the file made", marker);
	if (!record_asks_tidying(job))
		fail_msg("the finished record does not ask for tidying");
	usleep(20000);
	fixture_drain(F);
	assert_int_equal(stat(marker, &st), 0);
	commit();
	drain_until(stat(marker, &st) < 0 && !record_asks_tidying(job));
	assert_int_equal(stat(marker, &st), -1);
	if (record_asks_tidying(job))
		fail_msg("the record still asks for tidying");
	commit();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_reply_waits_for_the_record, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nothing_to_wait_for_is_not_held, setup, teardown),
		cmocka_unit_test_setup_teardown(test_order_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gather_reply_written_when_durable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gather_client_gone_before_durable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gather_waiting_at_teardown, setup, teardown),
		cmocka_unit_test_setup_teardown(test_events_wait_too, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_starts_when_durable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_canceled_before_durable_never_starts, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_released_in_parts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_connections_not_held, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_failing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_finished_error_waits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_append_records_its_file_first, setup, teardown),
		cmocka_unit_test_setup_teardown(test_append_records_a_changed_file_again, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_appends_to_one_path_in_line, setup, teardown),
		cmocka_unit_test_setup_teardown(test_append_after_one_making_the_file_waits, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_create_marker_goes_once_the_end_is_durable, setup,
						teardown),
	};
	/* ASYNCJOB_TEST_FILTER=test_order_kept (a cmocka pattern) runs only
	 * the tests it names. */
	if (getenv("ASYNCJOB_TEST_FILTER"))
		cmocka_set_test_filter(getenv("ASYNCJOB_TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
