/* Limits and hostile clients against the real daemon: many simultaneous
 * connections, connection caps, oversized requests, deep JSON, clients that
 * hang up mid-request or never read, job caps. Each case checks the clear
 * error, that the daemon lives on, and that other clients are unharmed. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "tests/common/harness.h"
#include "tests/common/json-assert.h"

static int error_code(struct json_object *reply)
{
	return json_object_get_int(tj_member(tj_member(reply, "error"), "code"));
}

static const char *error_limit(struct json_object *reply)
{
	return json_object_get_string(tj_member(tj_member(tj_member(reply, "error"), "data"), "limit"));
}

/* A request that must be answered with a result on a fresh connection:
 * proof that the daemon is alive and serving. */
static void assert_daemon_serves(const struct daemon_proc *p)
{
	int fd = raw_connect(p->socket);
	assert_true(fd >= 0);
	raw_send(fd, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"daemon.info\"}");
	struct json_object *r = tj_parse(raw_recv(fd, 5000));
	assert_non_null(tj_member(tj_member(r, "result"), "version"));
	json_object_put(r);
	raw_close(fd);
}

static void stop_and_check(struct daemon_proc *p)
{
	int status = harness_stop(p, 10000);
	harness_cleanup(p);
	assert_int_equal(status, 0);
}

static void test_300_simultaneous_connections(void **state)
{
	(void)state;
	enum { N = 300 };
	struct daemon_proc p;
	int fds[N];

	harness_start(&p, NULL);
	for (int i = 0; i < N; i++) {
		fds[i] = raw_connect(p.socket);
		assert_true(fds[i] >= 0);
	}
	/* Every connection has a request in flight at once. */
	for (int i = 0; i < N; i++) {
		char line[200];
		snprintf(line, sizeof(line), "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"job.submit\","
			 "\"params\":{\"type\":\"sleep\",\"seconds\":0.2,\"wait\":true}}", i);
		assert_int_equal(raw_send(fds[i], line), 0);
	}
	for (int i = 0; i < N; i++) {
		struct json_object *r = tj_parse(raw_recv(fds[i], 10000));
		assert_int_equal(json_object_get_int(tj_member(r, "id")), i);
		assert_string_equal(json_object_get_string(tj_member(tj_member(r, "result"), "state")), "succeeded");
		json_object_put(r);
	}
	for (int i = 0; i < N; i++)
		raw_close(fds[i]);
	stop_and_check(&p);
}

static void test_connection_caps(void **state)
{
	(void)state;
	struct daemon_proc p;
	int fds[3];

	harness_start(&p, "max_connections = 3\n");
	/* The harness's own probe connection may still be closing. */
	for (int i = 0; i < 3; i++) {
		fds[i] = raw_connect(p.socket);
		assert_true(fds[i] >= 0);
		raw_send(fds[i], "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"daemon.info\"}");
		json_object_put(tj_parse(raw_recv(fds[i], 5000)));
	}
	int extra = raw_connect(p.socket);
	assert_true(extra >= 0);
	struct json_object *r = tj_parse(raw_recv(extra, 5000));
	assert_int_equal(error_code(r), -32002);
	assert_string_equal(error_limit(r), "max_connections");
	assert_true(json_object_is_type(tj_member(r, "id"), json_type_null));
	json_object_put(r);
	assert_true(raw_wait_eof(extra, 5000));
	raw_close(extra);

	/* The accepted ones are unharmed, and a freed slot is usable again. */
	raw_send(fds[0], "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"daemon.info\"}");
	json_object_put(tj_parse(raw_recv(fds[0], 5000)));
	raw_close(fds[2]);
	for (int tries = 0;; tries++) {
		int fd = raw_connect(p.socket);
		assert_true(fd >= 0);
		raw_send(fd, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"daemon.info\"}");
		r = tj_parse(raw_recv(fd, 5000));
		bool ok = json_object_object_get_ex(r, "result", NULL);
		json_object_put(r);
		raw_close(fd);
		if (ok)
			break;
		assert_true(tries < 100);   /* the daemon notices the close quickly */
		usleep(20000);
	}
	raw_close(fds[0]);
	raw_close(fds[1]);
	stop_and_check(&p);
}

static void test_per_user_connection_cap(void **state)
{
	(void)state;
	struct daemon_proc p;
	int fds[2];

	harness_start(&p, "max_connections_per_user = 2\n");
	for (int i = 0; i < 2; i++) {
		fds[i] = raw_connect(p.socket);
		raw_send(fds[i], "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"daemon.info\"}");
		json_object_put(tj_parse(raw_recv(fds[i], 5000)));
	}
	int extra = raw_connect(p.socket);
	struct json_object *r = tj_parse(raw_recv(extra, 5000));
	assert_int_equal(error_code(r), -32002);
	assert_string_equal(error_limit(r), "max_connections_per_user");
	json_object_put(r);
	raw_close(extra);
	raw_close(fds[0]);
	raw_close(fds[1]);
	stop_and_check(&p);
}

static void send_oversized(int fd, size_t n, bool newline)
{
	char *big = malloc(n + 1);
	memset(big, ' ', n);
	memcpy(big, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"daemon.info\",\"x\":\"", 52);
	big[n] = '\n';
	/* The daemon may close before taking it all; that is fine. */
	(void)raw_send_bytes(fd, big, n + (newline ? 1 : 0));
	free(big);
}

static void test_oversized_request(void **state)
{
	(void)state;
	struct daemon_proc p;

	harness_start(&p, "max_request_bytes = 64K\n");
	/* A bystander with a job in flight, before and after. */
	int other = raw_connect(p.socket);
	raw_send(other, "{\"jsonrpc\":\"2.0\",\"id\":\"before\",\"method\":\"job.submit\",\"params\":"
			"{\"type\":\"sleep\",\"seconds\":0.3,\"wait\":true}}");

	for (int variant = 0; variant < 2; variant++) {
		int fd = raw_connect(p.socket);
		send_oversized(fd, 64 * 1024 + 100, variant == 1);
		struct json_object *r = tj_parse(raw_recv(fd, 5000));
		assert_int_equal(error_code(r), -32005);
		assert_true(json_object_is_type(tj_member(r, "id"), json_type_null));
		json_object_put(r);
		assert_true(raw_wait_eof(fd, 5000));
		raw_close(fd);
	}
	/* Exactly at the limit is fine. */
	int fd = raw_connect(p.socket);
	char *line = malloc(64 * 1024 + 1);
	int n = snprintf(line, 128, "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"daemon.info\"}");
	memset(line + n, ' ', 64 * 1024 - (size_t)n);
	line[64 * 1024] = '\n';
	raw_send_bytes(fd, line, 64 * 1024 + 1);
	free(line);
	struct json_object *r = tj_parse(raw_recv(fd, 5000));
	assert_int_equal(json_object_get_int(tj_member(r, "id")), 7);
	json_object_put(r);
	raw_close(fd);

	r = tj_parse(raw_recv(other, 5000));
	assert_string_equal(json_object_get_string(tj_member(r, "id")), "before");
	assert_string_equal(json_object_get_string(tj_member(tj_member(r, "result"), "state")), "succeeded");
	json_object_put(r);
	raw_close(other);
	stop_and_check(&p);
}

static void test_deep_json(void **state)
{
	(void)state;
	struct daemon_proc p;
	char line[512];

	harness_start(&p, NULL);
	int fd = raw_connect(p.socket);
	int n = snprintf(line, sizeof(line), "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"daemon.info\",\"params\":{\"x\":");
	for (int i = 0; i < 40; i++)
		line[n++] = '[';
	for (int i = 0; i < 40; i++)
		line[n++] = ']';
	snprintf(line + n, sizeof(line) - (size_t)n, "}}");
	raw_send(fd, line);
	struct json_object *r = tj_parse(raw_recv(fd, 5000));
	assert_int_equal(error_code(r), -32700);
	/* A limit reached: named, in the message and in data, as for -32002. */
	assert_string_equal(tj_str(r, "error.message"),
			    "Parse error: JSON nested too deeply (max_json_depth = 32)");
	assert_string_equal(error_limit(r), "max_json_depth");
	assert_int_equal(tj_int(r, "error.data.value"), 32);
	json_object_put(r);
	/* Same connection, next request. */
	raw_send(fd, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"daemon.info\"}");
	r = tj_parse(raw_recv(fd, 5000));
	assert_int_equal(json_object_get_int(tj_member(r, "id")), 2);
	json_object_put(r);
	raw_close(fd);
	stop_and_check(&p);
}

static void test_hangups_mid_request(void **state)
{
	(void)state;
	struct daemon_proc p;

	harness_start(&p, NULL);
	for (int i = 0; i < 50; i++) {
		int fd = raw_connect(p.socket);
		switch (i % 3) {
		case 0:   /* half a request, then gone */
			raw_send_bytes(fd, "{\"jsonrpc\":\"2.0\",\"id\":1,\"meth", 29);
			break;
		case 1:   /* a waiting request, gone before the reply */
			raw_send(fd, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"job.submit\",\"params\":"
				     "{\"type\":\"sleep\",\"seconds\":0.05,\"wait\":true}}");
			break;
		case 2:   /* a gather tied to the connection, gone at once */
			raw_send(fd, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"job.gather\",\"params\":"
				     "{\"jobs\":[{\"type\":\"sleep\",\"seconds\":5},{\"type\":\"sleep\",\"seconds\":5}],"
				     "\"cancel_on_disconnect\":true}}");
			break;
		}
		raw_close(fd);
	}
	assert_daemon_serves(&p);
	/* The gathers' jobs were canceled with their connections. */
	int fd = raw_connect(p.socket);
	for (int tries = 0;; tries++) {
		raw_send(fd, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"job.list\",\"params\":{\"state\":\"running\"}}");
		struct json_object *r = tj_parse(raw_recv(fd, 5000));
		size_t running = json_object_array_length(tj_member(tj_member(r, "result"), "jobs"));
		json_object_put(r);
		if (running == 0)
			break;
		assert_true(tries < 100);
		usleep(20000);
	}
	raw_close(fd);
	stop_and_check(&p);
}

static void test_client_that_never_reads(void **state)
{
	(void)state;
	struct daemon_proc p;

	harness_start(&p, "max_output_bytes = 64K\nmax_gather_jobs = 20000\n");
	int lazy = raw_connect(p.socket);
	/* A small receive buffer makes the daemon's own buffer fill sooner. */
	int small = 4096;
	setsockopt(lazy, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	/* The client has a job of its own, waiting for it, when it is cut off. */
	raw_send(lazy, "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"job.submit\",\"params\":"
		       "{\"type\":\"sleep\",\"seconds\":1.5,\"label\":\"lazy's\",\"wait\":true}}");
	raw_send(lazy, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"events.subscribe\"}");

	/* Another client makes lots of events and must get its reply. */
	int busy = raw_connect(p.socket);
	size_t cap = 64 + 3000 * 40, n = 0;
	char *req = malloc(cap);
	n += (size_t)snprintf(req, cap, "{\"jsonrpc\":\"2.0\",\"id\":\"g\",\"method\":\"job.gather\",\"params\":{\"jobs\":[");
	for (int i = 0; i < 3000; i++)
		n += (size_t)snprintf(req + n, cap - n, "%s{\"type\":\"sleep\",\"seconds\":0}", i ? "," : "");
	snprintf(req + n, cap - n, "]}}");
	raw_send(busy, req);
	free(req);
	struct json_object *r = tj_parse(raw_recv(busy, 20000));
	assert_true(json_object_get_boolean(tj_member(tj_member(r, "result"), "ok")));
	json_object_put(r);

	/* The non-reader was disconnected; the jobs all went on. */
	assert_true(raw_wait_eof(lazy, 10000));
	raw_close(lazy);
	raw_send(busy, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"daemon.info\"}");
	r = tj_parse(raw_recv(busy, 5000));
	assert_int_equal(json_object_get_int(tj_member(tj_member(tj_member(r, "result"), "jobs"), "succeeded")), 3000);
	json_object_put(r);

	/* Its own job too: still running after the disconnect, it finishes,
	 * and another connection of the same user sees it succeed. */
	raw_send(busy, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"job.list\",\"params\":{\"state\":\"running\"}}");
	r = tj_parse(raw_recv(busy, 5000));
	assert_int_equal(json_object_array_length(tj_path(r, "result.jobs")), 1);
	assert_string_equal(tj_str(r, "result.jobs.0.label"), "lazy's");
	int64_t id = tj_int(r, "result.jobs.0.id");
	json_object_put(r);
	char line[160];
	snprintf(line, sizeof(line), "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"job.wait\",\"params\":"
		 "{\"ids\":[%lld]}}", (long long)id);
	raw_send(busy, line);
	r = tj_parse(raw_recv(busy, 5000));
	assert_string_equal(tj_str(r, "result.jobs.0.state"), "succeeded");
	json_object_put(r);
	raw_close(busy);
	stop_and_check(&p);
}

/* A reply far larger than max_output_bytes goes out in parts as it is
 * written; a client that reads gets all of it: the limit judges what the
 * client left unread before the reply, not the reply's own parts. */
static void test_large_reply_to_reader_is_whole(void **state)
{
	(void)state;
	enum { N = 10000 };
	struct daemon_proc p;

	harness_start(&p, "max_output_bytes = 64K\nmax_gather_jobs = 10000\n");
	int fd = raw_connect(p.socket);
	size_t cap = 64 + N * 40, n = 0;
	char *req = malloc(cap);
	n += (size_t)snprintf(req, cap, "{\"jsonrpc\":\"2.0\",\"id\":\"g\",\"method\":\"job.gather\",\"params\":{\"jobs\":[");
	for (int i = 0; i < N; i++)
		n += (size_t)snprintf(req + n, cap - n, "%s{\"type\":\"sleep\",\"seconds\":0}", i ? "," : "");
	snprintf(req + n, cap - n, "]}}");
	raw_send(fd, req);
	free(req);
	const char *line = raw_recv(fd, 20000);
	assert_non_null(line);
	assert_true(strlen(line) > 1000000);
	struct json_object *r = tj_parse(line);
	struct json_object *result = tj_member(r, "result");
	assert_true(json_object_get_boolean(tj_member(result, "ok")));
	assert_int_equal(json_object_array_length(tj_member(result, "jobs")), N);
	json_object_put(r);
	/* The connection lives on. */
	raw_send(fd, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"daemon.info\"}");
	r = tj_parse(raw_recv(fd, 5000));
	assert_int_equal(json_object_get_int(tj_member(tj_member(tj_member(r, "result"), "jobs"), "succeeded")), N);
	json_object_put(r);
	raw_close(fd);
	stop_and_check(&p);
}

/* Replies that come late (sleeps with wait) while the daemon has stopped
 * reading a client that does not read: the output they add, written once
 * the client reads again, must still let the daemon read on, or the rest
 * of the requests wait for ever. */
static void test_paused_reader_resumes_on_late_replies(void **state)
{
	(void)state;
	enum { N = 30000, EVERY = 3 };
	struct daemon_proc p;
	char (*reqs)[160] = calloc(N, sizeof(*reqs));
	size_t *lens = calloc(N, sizeof(*lens));
	size_t i_req = 0, off = 0, lines = 0;
	bool reading = false;
	char buf[65536];

	assert_non_null(reqs);
	assert_non_null(lens);
	for (size_t i = 0; i < N; i++)
		lens[i] = (size_t)snprintf(reqs[i], sizeof(reqs[i]), i % EVERY ?
			"{\"jsonrpc\":\"2.0\",\"id\":%zu,\"method\":\"daemon.info\"}\n" :
			"{\"jsonrpc\":\"2.0\",\"id\":%zu,\"method\":\"job.submit\",\"params\":"
			"{\"type\":\"sleep\",\"seconds\":0.%03zu,\"wait\":true}}\n", i, i % 997 + 1);
	harness_start(&p, "max_output_bytes = 1M\n");
	int fd = raw_connect(p.socket);
	fcntl(fd, F_SETFL, O_NONBLOCK);
	while (lines < N) {
		/* First only write, until the daemon stops reading us (no room
		 * for 300 ms); then read as well. */
		struct pollfd pfd = { .fd = fd, .events = (reading ? POLLIN : 0) |
							   (i_req < N ? POLLOUT : 0) };
		int n = poll(&pfd, 1, reading ? 10000 : 300);
		if (n == 0 && !reading) {
			reading = true;
			continue;
		}
		if (n <= 0)
			fail_msg("stuck after %zu of %d replies, %zu requests sent", lines, N, i_req);
		if ((pfd.revents & POLLOUT) && i_req < N) {
			ssize_t w = send(fd, reqs[i_req] + off, lens[i_req] - off, MSG_NOSIGNAL);
			if (w > 0 && (off += (size_t)w) == lens[i_req]) {
				i_req++;
				off = 0;
			}
		}
		if (pfd.revents & POLLIN) {
			ssize_t got = recv(fd, buf, sizeof(buf), 0);
			assert_true(got > 0);
			for (ssize_t i = 0; i < got; i++)
				lines += buf[i] == '\n';
		}
		if (i_req == N)
			reading = true;
	}
	assert_int_equal(lines, N);
	free(reqs);
	free(lens);
	raw_close(fd);
	assert_daemon_serves(&p);
	stop_and_check(&p);
}

static void test_pipelining_client_is_slowed_not_cut(void **state)
{
	(void)state;
	enum { N = 20000 };
	struct daemon_proc p;
	static const char req[] = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"daemon.info\"}\n";
	size_t total = N * (sizeof(req) - 1), sent = 0;
	size_t lines = 0;
	char buf[65536];

	/* 20000 replies of ~1 KB are far more than max_output_bytes: the
	 * daemon must stop reading rather than buffer them or give up. */
	harness_start(&p, "max_output_bytes = 1M\n");
	int fd = raw_connect(p.socket);
	fcntl(fd, F_SETFL, O_NONBLOCK);
	while (lines < N) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN | (sent < total ? POLLOUT : 0) };
		assert_true(poll(&pfd, 1, 10000) > 0);
		if ((pfd.revents & POLLOUT) && sent < total) {
			size_t off = sent % (sizeof(req) - 1);
			ssize_t w = send(fd, req + off, sizeof(req) - 1 - off, MSG_NOSIGNAL);
			if (w > 0)
				sent += (size_t)w;
		}
		/* Read only when writing is stuck (or done): the daemon's
		 * output piles up first, and it has to stop reading us. */
		if ((pfd.revents & POLLIN) && (sent == total || !(pfd.revents & POLLOUT))) {
			ssize_t got = recv(fd, buf, sizeof(buf), 0);
			assert_true(got > 0);   /* never cut off */
			for (ssize_t i = 0; i < got; i++)
				lines += buf[i] == '\n';
		}
	}
	assert_int_equal(lines, N);
	raw_close(fd);
	assert_daemon_serves(&p);
	stop_and_check(&p);
}

static void test_job_caps(void **state)
{
	(void)state;
	struct daemon_proc p;

	harness_start(&p, "max_active_jobs = 5\nmax_gather_jobs = 4\n");
	int fd = raw_connect(p.socket);
	raw_send(fd, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"job.gather\",\"params\":{\"jobs\":["
		     "{\"type\":\"sleep\",\"seconds\":5},{\"type\":\"sleep\",\"seconds\":5},"
		     "{\"type\":\"sleep\",\"seconds\":5},{\"type\":\"sleep\",\"seconds\":5},"
		     "{\"type\":\"sleep\",\"seconds\":5}]}}");
	struct json_object *r = tj_parse(raw_recv(fd, 5000));
	assert_int_equal(error_code(r), -32002);
	assert_string_equal(error_limit(r), "max_gather_jobs");
	json_object_put(r);

	for (int i = 0; i < 5; i++) {
		raw_send(fd, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"job.submit\",\"params\":"
			     "{\"type\":\"sleep\",\"seconds\":5}}");
		r = tj_parse(raw_recv(fd, 5000));
		assert_string_equal(json_object_get_string(tj_member(tj_member(r, "result"), "state")), "running");
		json_object_put(r);
	}
	raw_send(fd, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"job.submit\",\"params\":"
		     "{\"type\":\"sleep\",\"seconds\":5}}");
	r = tj_parse(raw_recv(fd, 5000));
	assert_int_equal(error_code(r), -32002);
	assert_string_equal(error_limit(r), "max_active_jobs");
	json_object_put(r);

	/* Nothing accepted was lost: the five still run. */
	raw_send(fd, "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"job.list\",\"params\":{\"state\":\"running\"}}");
	r = tj_parse(raw_recv(fd, 5000));
	assert_int_equal(json_object_array_length(tj_member(tj_member(r, "result"), "jobs")), 5);
	json_object_put(r);
	raw_close(fd);
	stop_and_check(&p);
}

/* One request on `fd`; the caller owns the parsed reply. */
static struct json_object *ask(int fd, const char *line)
{
	assert_int_equal(raw_send(fd, line), 0);
	return tj_parse(raw_recv(fd, 5000));
}

/* Submits a sleep of 0 s (with `key` when not NULL) and waits for it:
 * returns its id. */
static uint64_t finished_job(int fd, const char *key)
{
	char line[256];
	snprintf(line, sizeof(line), "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"job.submit\",\"params\":"
		 "{\"type\":\"sleep\",\"seconds\":0,\"wait\":true%s%s%s}}",
		 key ? ",\"key\":\"" : "", key ? key : "", key ? "\"" : "");
	struct json_object *r = ask(fd, line);
	assert_string_equal(tj_str(r, "result.state"), "succeeded");
	uint64_t id = (uint64_t)tj_int(r, "result.id");
	json_object_put(r);
	return id;
}

/* job.get's error code for `id`, 0 when the job is there. */
static int get_error(int fd, uint64_t id)
{
	char line[128];
	snprintf(line, sizeof(line), "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"job.get\","
		 "\"params\":{\"id\":%llu}}", (unsigned long long)id);
	struct json_object *r = ask(fd, line);
	int code = tj_has(r, "error") ? error_code(r) : 0;
	json_object_put(r);
	return code;
}

static void test_retained_jobs_count(void **state)
{
	(void)state;
	struct daemon_proc p;

	harness_start(&p, "max_retained_jobs = 2\n");
	int fd = raw_connect(p.socket);
	uint64_t first = finished_job(fd, NULL);
	uint64_t second = finished_job(fd, NULL);
	assert_int_equal(get_error(fd, first), 0);
	/* A third finished job is one more than may be kept: the oldest goes. */
	uint64_t third = finished_job(fd, NULL);
	assert_int_equal(get_error(fd, first), -32001);
	assert_int_equal(get_error(fd, second), 0);
	assert_int_equal(get_error(fd, third), 0);
	struct json_object *r = ask(fd, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"daemon.info\"}");
	assert_int_equal(tj_int(r, "result.jobs.succeeded"), 2);
	json_object_put(r);
	raw_close(fd);
	stop_and_check(&p);
}

static void test_retained_jobs_age(void **state)
{
	(void)state;
	struct daemon_proc p;

	harness_start(&p, "retain_seconds = 0.3\n");
	int fd = raw_connect(p.socket);
	uint64_t id = finished_job(fd, NULL);
	assert_int_equal(get_error(fd, id), 0);
	/* Nothing else happens: the daemon's own timer has to evict it. The
	 * timer allows 100 ms of slack; 5 s is far more than enough. */
	int tries = 0;
	while (get_error(fd, id) == 0 && tries++ < 250)
		harness_sleep_ms(20);
	assert_int_equal(get_error(fd, id), -32001);
	struct json_object *r = ask(fd, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"daemon.info\"}");
	assert_int_equal(tj_int(r, "result.jobs.succeeded"), 0);
	json_object_put(r);
	raw_close(fd);
	stop_and_check(&p);
}

static void test_key_forgotten_with_its_job(void **state)
{
	(void)state;
	struct daemon_proc p;

	harness_start(&p, "max_retained_jobs = 1\n");
	int fd = raw_connect(p.socket);
	uint64_t keyed = finished_job(fd, "nightly");
	/* While the job is kept, its key finds it. */
	assert_int_equal(finished_job(fd, "nightly"), keyed);
	/* Another finished job evicts it, and the key with it: the same key
	 * now makes a new job. */
	uint64_t other = finished_job(fd, NULL);
	assert_int_equal(get_error(fd, keyed), -32001);
	uint64_t again = finished_job(fd, "nightly");
	assert_true(again != keyed);
	assert_true(again > other);
	raw_close(fd);
	stop_and_check(&p);
}

/* The caps on ids in one job.wait or events.subscribe (max_gather_jobs)
 * and on jobs in one job.list (max_list_jobs). */
static void test_id_and_list_caps(void **state)
{
	(void)state;
	struct daemon_proc p;

	harness_start(&p, "max_gather_jobs = 3\nmax_list_jobs = 2\n");
	int fd = raw_connect(p.socket);
	uint64_t a = finished_job(fd, NULL), b = finished_job(fd, NULL), c = finished_job(fd, NULL);
	char line[256];

	/* Three ids are within the cap, four are not. */
	snprintf(line, sizeof(line), "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"job.wait\",\"params\":"
		 "{\"ids\":[%llu,%llu,%llu]}}", (unsigned long long)a, (unsigned long long)b,
		 (unsigned long long)c);
	struct json_object *r = ask(fd, line);
	assert_int_equal(json_object_array_length(tj_path(r, "result.jobs")), 3);
	json_object_put(r);
	snprintf(line, sizeof(line), "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"job.wait\",\"params\":"
		 "{\"ids\":[%llu,%llu,%llu,%llu]}}", (unsigned long long)a, (unsigned long long)b,
		 (unsigned long long)c, (unsigned long long)a);
	r = ask(fd, line);
	assert_int_equal(error_code(r), -32002);
	assert_string_equal(error_limit(r), "max_gather_jobs");
	assert_int_equal(tj_int(r, "error.data.value"), 3);
	json_object_put(r);

	r = ask(fd, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"events.subscribe\",\"params\":{\"ids\":[1,2,3,4]}}");
	assert_int_equal(error_code(r), -32002);
	assert_string_equal(error_limit(r), "max_gather_jobs");
	json_object_put(r);
	r = ask(fd, "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"events.subscribe\",\"params\":{\"ids\":[1,2,3]}}");
	assert_true(tj_has(r, "result.seq"));
	json_object_put(r);

	/* job.list: the newest max_list_jobs when no limit is asked for, and
	 * a larger limit refused, naming the field and the most allowed. */
	r = ask(fd, "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"job.list\"}");
	assert_int_equal(json_object_array_length(tj_path(r, "result.jobs")), 2);
	assert_int_equal(tj_int(r, "result.jobs.0.id"), b);
	assert_int_equal(tj_int(r, "result.jobs.1.id"), c);
	assert_true(json_object_get_boolean(tj_path(r, "result.more")));
	assert_int_equal(tj_int(r, "result.total"), 3);
	/* Summaries: a finished sleep's result only when asked for. */
	assert_false(tj_has(r, "result.jobs.0.result"));
	assert_true(json_object_get_boolean(tj_path(r, "result.jobs.0.result_omitted")));
	json_object_put(r);
	r = ask(fd, "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"job.list\",\"params\":"
		"{\"results\":true}}");
	assert_true(tj_has(r, "result.jobs.0.result.slept"));
	assert_false(tj_has(r, "result.jobs.0.result_omitted"));
	json_object_put(r);
	r = ask(fd, "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"job.list\",\"params\":{\"limit\":3}}");
	assert_int_equal(error_code(r), -32602);
	assert_string_equal(tj_str(r, "error.data.field"), "limit");
	assert_non_null(strstr(tj_str(r, "error.data.reason"), "from 1 to 2"));
	json_object_put(r);
	raw_close(fd);
	stop_and_check(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_300_simultaneous_connections),
		cmocka_unit_test(test_connection_caps),
		cmocka_unit_test(test_per_user_connection_cap),
		cmocka_unit_test(test_oversized_request),
		cmocka_unit_test(test_deep_json),
		cmocka_unit_test(test_hangups_mid_request),
		cmocka_unit_test(test_client_that_never_reads),
		cmocka_unit_test(test_large_reply_to_reader_is_whole),
		cmocka_unit_test(test_paused_reader_resumes_on_late_replies),
		cmocka_unit_test(test_pipelining_client_is_slowed_not_cut),
		cmocka_unit_test(test_job_caps),
		cmocka_unit_test(test_retained_jobs_count),
		cmocka_unit_test(test_retained_jobs_age),
		cmocka_unit_test(test_key_forgotten_with_its_job),
		cmocka_unit_test(test_id_and_list_caps),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
