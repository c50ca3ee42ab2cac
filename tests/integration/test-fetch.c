/* Fetch jobs against the real daemon and the loopback test HTTP server
 * (tests/common/http-test-server): bodies and how they are decoded, status
 * codes, redirects, URL and spec checks, methods and request bodies,
 * encodings, size caps, stalls and timeouts, retries, deny_networks,
 * HTTPS, cancellation, progress notifications, save_to confinement, the
 * concurrency caps, a 1000-fetch gather and memory during a large
 * download. Each test starts its own test server and daemon and stops
 * both, checking that each exits cleanly (under the sanitizers a leak
 * makes that exit non-zero). No test asserts that something was quick (a
 * wall-clock upper bound); the backoff test asserts a lower one, which a
 * slow machine can only make easier to meet. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "proto/base64.h"
#include "tests/common/harness.h"
#include "tests/common/jobs.h"
#include "tests/common/json-assert.h"

/* How long any single reply may take (generous: sanitizer builds are slow;
 * only reached when something is broken). */
#define REPLY_MS 60000

static struct {
	char ca_dir[256];               /* for the whole program */
	struct test_server srv;         /* per test */
	bool srv_up;
	struct jobs_daemon d;           /* per test, started by the test */
	char root[256];                 /* a write root, when the test made one */
} T;

/* ------------------------------------------------------------ small helpers */

static double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *url1(const char *path)
{
	return tj_strf("http://127.0.0.1:%u%s", T.srv.http, path);
}

static const char *url2(const char *path)
{
	return tj_strf("http://127.0.0.2:%u%s", T.srv.http2, path);
}

static const char *url_tls(const char *path)
{
	return tj_strf("https://127.0.0.1:%u%s", T.srv.https, path);
}

/* The same server on an address its certificate does not name. */
static const char *url_tls2(const char *path)
{
	return tj_strf("https://127.0.0.2:%u%s", T.srv.https2, path);
}

/* A key for /flaky that no other test uses. */
static const char *unique_key(const char *what)
{
	static char buf[128];
	static unsigned n;
	snprintf(buf, sizeof(buf), "%s-%ld-%u", what, (long)getpid(), ++n);
	return buf;
}

/* RFC 3339 with milliseconds ("2026-11-25T08:25:49.240Z") to ms. */
static int64_t timestamp_ms(const char *s)
{
	struct tm tm = { 0 };
	int ms = 0;

	if (!s || sscanf(s, "%d-%d-%dT%d:%d:%d.%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
			 &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) != 7)
		fail_msg("not a timestamp: %s", s ? s : "(none)");
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (int64_t)timegm(&tm) * 1000 + ms;
}

/* Standard base64 (proto/base64.h: strict, padded) to bytes; fails the
 * test on bad input. The caller frees. */
static unsigned char *b64_decode(const char *s, size_t *ret_len)
{
	if (!s)
		fail_msg("no base64 text");
	size_t n = strlen(s);
	unsigned char *out = malloc(base64_decoded_max(n) + 1);
	assert_non_null(out);
	long len = base64_decode(s, n, out);
	if (len < 0) {
		free(out);
		fail_msg("not base64: %.40s", s);
	}
	*ret_len = (size_t)len;
	return out;
}

/* A fresh write root for the test (removed by teardown). */
static const char *make_root(void)
{
	snprintf(T.root, sizeof(T.root), "/tmp/asyncjob-fetch-root-XXXXXX");
	if (!mkdtemp(T.root)) {
		T.root[0] = '\0';
		fail_msg("mkdtemp: %s", strerror(errno));
	}
	return T.root;
}

static const char *in_root(const char *rel)
{
	return tj_strf("%s/%s", T.root, rel);
}

static void write_small_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (!f)
		fail_msg("%s: %s", path, strerror(errno));
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

/* Waits up to `ms` for `dir` to hold no name starting with `prefix`; the
 * temporary file of a failed download is removed by a worker thread, so
 * it may outlive the job's end by a moment. Returns the count left. */
static int wait_no_entries(const char *dir, const char *prefix, long ms)
{
	int n;
	for (long waited = 0;; waited += 20) {
		n = harness_count_entries(dir, prefix);
		if (n == 0 || waited >= ms)
			return n;
		harness_sleep_ms(20);
	}
}

/* Established (or half-closed, CLOSE_WAIT) TCP connections whose local
 * port is `port`: the test server's side of its open connections. */
static int server_connections(unsigned port)
{
	FILE *f = fopen("/proc/net/tcp", "r");
	char line[512];
	int n = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned lport, st;
		if (sscanf(line, " %*d: %*[0-9A-Fa-f]:%x %*[0-9A-Fa-f]:%*x %x", &lport, &st) == 2 &&
		    lport == port && (st == 0x01 || st == 0x08))
			n++;
	}
	fclose(f);
	return n;
}

static long rss_kb(pid_t pid)
{
	char path[64], line[256];
	long kb = -1;

	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

/* ------------------------------------------------------------ JSON access */

static bool is_number(struct json_object *v)
{
	return json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double);
}

static double jnum(struct json_object *o, const char *path)
{
	struct json_object *v = tj_path(o, path);
	if (!is_number(v))
		fail_msg("%s: no number in %.2000s", path, json_object_to_json_string(o));
	return json_object_get_double(v);
}

/* Nothing at any of the body members but `keep` (NULL: none at all). */
static void assert_body_only(struct json_object *job, const char *keep)
{
	static const char *const members[] = { "json", "text", "body_base64", "saved_to" };
	for (size_t i = 0; i < sizeof(members) / sizeof(members[0]); i++) {
		char path[64];
		snprintf(path, sizeof(path), "result.%s", members[i]);
		bool has = tj_has(job, path);
		bool want = keep && !strcmp(keep, members[i]);
		if (has != want)
			fail_msg("result.%s is %s: %.3000s", members[i], has ? "present" : "missing",
				 json_object_to_json_string(job));
	}
}

/* ------------------------------------------------------------ the daemon */

/* Submits the spec (printf-style JSON text) on `fd`; with `wait`, replies
 * once the job is final. Returns the reply. */
static struct json_object *vsubmit(int fd, bool wait, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));
static struct json_object *vsubmit(int fd, bool wait, const char *fmt, va_list ap)
{
	char text[16384];

	tj_vformat(text, sizeof(text), fmt, ap);
	struct json_object *spec = tj_parse(text);
	if (wait)
		json_object_object_add(spec, "wait", json_object_new_boolean(1));
	return jobs_call(fd, "job.submit", spec);
}

/* Runs a job to its end and returns the final job object. */
static struct json_object *run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static struct json_object *run(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	struct json_object *reply = vsubmit(T.d.fd, true, fmt, ap);
	va_end(ap);
	return tj_take_result(reply);
}

/* Submits a job without waiting; returns its id. */
static int64_t start_job(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int64_t start_job(int fd, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	struct json_object *reply = vsubmit(fd, false, fmt, ap);
	va_end(ap);
	return tj_int(tj_take_result(reply), "id");
}

/* Submits a spec that must be refused; returns the error reply. */
static struct json_object *refused(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static struct json_object *refused(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	struct json_object *reply = vsubmit(T.d.fd, true, fmt, ap);
	va_end(ap);
	if (!tj_path(reply, "error"))
		fail_msg("expected the spec to be refused: %.3000s", json_object_to_json_string(reply));
	return reply;
}

static struct json_object *get_job(int64_t id)
{
	return tj_take_result(jobs_callf(T.d.fd, "job.get", "{\"id\":%" PRId64 "}", id));
}

/* Polls job.get until the job is running with progress.bytes > 0. */
static struct json_object *wait_for_bytes(int64_t id)
{
	for (int i = 0; i < 2000; i++) {
		struct json_object *job = get_job(id);
		const char *st = tj_str(job, "state");
		if (st && strcmp(st, "queued") && strcmp(st, "running"))
			fail_msg("the job ended before it could be canceled: %.2000s",
				 json_object_to_json_string(job));
		struct json_object *b = tj_path(job, "progress.bytes");
		if (json_object_is_type(b, json_type_int) && json_object_get_int64(b) > 0)
			return job;
		tj_put(job);
		harness_sleep_ms(5);
	}
	fail_msg("job %" PRId64 " received no bytes within 10 s", id);
	return NULL;
}

/* ------------------------------------------------------------ setup */

/* When the test program dies (the harness aborts on a daemon that does
 * not start; make check's timeout sends SIGTERM), its children go too. */
static void on_fatal_signal(int sig)
{
	if (T.srv.pid > 0)
		kill(T.srv.pid, SIGKILL);
	if (T.d.proc.pid > 0)
		kill(T.d.proc.pid, SIGKILL);
	signal(sig, SIG_DFL);
	raise(sig);
}

static int group_setup(void **state)
{
	(void)state;
	signal(SIGPIPE, SIG_IGN);
	signal(SIGABRT, on_fatal_signal);
	signal(SIGTERM, on_fatal_signal);
	signal(SIGINT, on_fatal_signal);
	signal(SIGHUP, on_fatal_signal);
	jobs_set_reply_ms(REPLY_MS);
	return test_ca_create(T.ca_dir, sizeof(T.ca_dir)) == 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	test_ca_remove(T.ca_dir);
	return 0;
}

static int setup(void **state)
{
	(void)state;
	jobs_init(&T.d);
	T.root[0] = '\0';
	if (test_server_start(&T.srv, T.ca_dir, 20000) < 0)
		return -1;
	T.srv_up = true;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	int rc = 0;

	tj_put_all();
	int status = jobs_stop(&T.d, 20000);
	if (status != 0) {
		fprintf(stderr, "test-fetch: the daemon exited with status %d\n", status);
		rc = -1;
	}
	if (T.srv_up) {
		status = test_server_stop(&T.srv, 20000);
		T.srv_up = false;
		if (status != 0) {
			fprintf(stderr, "test-fetch: the test server exited with status %d\n", status);
			rc = -1;
		}
	}
	if (T.root[0]) {
		harness_remove_tree(T.root);
		T.root[0] = '\0';
	}
	return rc;
}

#define TEST(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

/* ------------------------------------------------------------ bodies */

static const char todos_body[] =
	"{\"userId\":1,\"id\":1,\"title\":\"delectus aut autem\",\"completed\":false}";

static void test_json_document(void **state)
{
	(void)state;
	jobs_start(&T.d, NULL);
	const char *url = url1("/todos/1");
	struct json_object *job = run("{\"type\":\"fetch\",\"url\":\"%s\"}", url);

	assert_succeeded(job);
	assert_jstr(job, "type", "fetch");
	assert_jint(job, "result.status", 200);
	assert_jstr(job, "result.url", url);
	assert_jstr(job, "result.content_type", "application/json; charset=utf-8");
	assert_jint(job, "result.bytes", (int64_t)strlen(todos_body));
	assert_body_only(job, "json");
	struct json_object *expected = tj_track(tj_parse(todos_body));
	if (!json_object_equal(tj_path(job, "result.json"), expected))
		fail_msg("result.json differs: %s", json_object_to_json_string(job));
	assert_true(json_object_is_type(tj_path(job, "result.headers"), json_type_object));
	assert_jstr(job, "result.headers.Content-Type", "application/json; charset=utf-8");
	assert_jstr(job, "result.headers.Content-Length", "66");

	static const char *const times[] = { "dns", "connect", "tls", "first_byte", "total" };
	for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
		char path[64];
		snprintf(path, sizeof(path), "result.time.%s", times[i]);
		double v = jnum(job, path);
		if (!(v >= 0))
			fail_msg("%s = %g", path, v);
		if (v > jnum(job, "result.time.total"))
			fail_msg("%s = %g is more than the total", path, v);
	}
	assert_true(jnum(job, "result.time.total") >= jnum(job, "result.time.first_byte"));
	assert_true(jnum(job, "result.time.tls") == 0);   /* plain HTTP */
	assert_non_null(tj_str(job, "started_at"));
	assert_true(timestamp_ms(tj_str(job, "finished_at")) >= timestamp_ms(tj_str(job, "started_at")));
}

static void test_json_nested_and_unicode(void **state)
{
	(void)state;
	jobs_start(&T.d, NULL);
	struct json_object *job = run("{\"type\":\"fetch\",\"url\":\"%s\"}", url1("/json"));

	assert_succeeded(job);
	assert_jstr(job, "result.content_type", "application/json");
	assert_jstr(job, "result.json.unicode", "caf\xc3\xa9 \xe2\x98\x95");
	assert_jint(job, "result.json.number", 42);
	assert_true(jnum(job, "result.json.float") == 2.5);
	assert_jint(job, "result.json.nested.list.2", 3);
	assert_jbool(job, "result.json.nested.flag", true);
	assert_true(tj_has(job, "result.json.nested.nothing"));
	assert_jstr(job, "result.json.nested.deeper.key", "value");
}

static void test_text_body(void **state)
{
	(void)state;
	jobs_start(&T.d, NULL);
	struct json_object *job = run("{\"type\":\"fetch\",\"url\":\"%s\"}", url1("/text"));

	assert_succeeded(job);
	assert_jstr(job, "result.text", "hello, world\n");
	assert_jstr(job, "result.content_type", "text/plain; charset=utf-8");
	assert_jint(job, "result.bytes", 13);
	assert_body_only(job, "text");
}

static void test_binary_body(void **state)
{
	(void)state;
	jobs_start(&T.d, NULL);
	struct json_object *job = run("{\"type\":\"fetch\",\"url\":\"%s\"}", url1("/binary"));

	assert_succeeded(job);
	assert_jstr(job, "result.content_type", "application/octet-stream");
	assert_jint(job, "result.bytes", 256);
	assert_body_only(job, "body_base64");
	size_t n;
	unsigned char *b = b64_decode(tj_str(job, "result.body_base64"), &n);
	bool ok = n == 256;
	for (size_t i = 0; ok && i < 256; i++)
		ok = b[i] == i;
	free(b);
	if (!ok)
		fail_msg("body_base64 is not the bytes 0..255: %s", tj_str(job, "result.body_base64"));
}

/* Bodies above 64 KiB are checked and decoded on a worker thread. */
static void test_large_body_in_memory(void **state)
{
	(void)state;
	enum { SIZE = 3000000 };
	jobs_start(&T.d, NULL);
	const char *url = url1(tj_strf("/large?bytes=%d", SIZE));
	struct json_object *job = run("{\"type\":\"fetch\",\"url\":\"%s\"}", url);

	assert_succeeded(job);
	assert_jint(job, "result.bytes", SIZE);
	assert_body_only(job, "body_base64");   /* i % 251 is not UTF-8 */
	size_t n;
	unsigned char *b = b64_decode(tj_str(job, "result.body_base64"), &n);
	size_t bad = n == SIZE ? SIZE : 0;
	for (size_t i = 0; n == SIZE && i < n; i++) {
		if (b[i] != i % 251) {
			bad = i;
			break;
		}
	}
	free(b);
	if (n != SIZE || bad != SIZE)
		fail_msg("body_base64: %zu bytes, first wrong byte at %zu", n, bad);
	tj_put(job);

	job = run("{\"type\":\"fetch\",\"url\":\"%s\",\"expect\":\"json\"}", url);
	assert_failed(job, "network", "not valid JSON");
	tj_put(job);
	job = run("{\"type\":\"fetch\",\"url\":\"%s\",\"expect\":\"text\"}", url);
	assert_failed(job, "network", "UTF-8");
}

static void test_expect_text_on_binary_fails(void **state)
{
	(void)state;
	jobs_start(&T.d, NULL);
	struct json_object *job = run("{\"type\":\"fetch\",\"url\":\"%s\",\"expect\":\"text\"}",
				      url1("/binary"));
	assert_failed(job, "network", "UTF-8");
}

static void test_expect_base64_on_json(void **state)
{
	(void)state;
	static const char body[] =
		"{\"name\":\"asyncjob test\",\"unicode\":\"caf\xc3\xa9 \xe2\x98\x95\","
		"\"number\":42,\"float\":2.5,\"nested\":{\"list\":[1,2,3],"
		"\"flag\":true,\"nothing\":null,\"deeper\":{\"key\":\"value\"}}}";
	jobs_start(&T.d, NULL);
	struct json_object *job = run("{\"type\":\"fetch\",\"url\":\"%s\",\"expect\":\"base64\"}",
				      url1("/json"));

	assert_succeeded(job);
	assert_body_only(job, "body_base64");
	size_t n;
	unsigned char *b = b64_decode(tj_str(job, "result.body_base64"), &n);
	bool same = n == sizeof(body) - 1 && memcmp(b, body, n) == 0;
	free(b);
	assert_true(same);
	assert_jint(job, "result.bytes", (int64_t)(sizeof(body) - 1));

	/* expect "text" on JSON: the document as it came, unparsed. */
	job = run("{\"type\":\"fetch\",\"url\":\"%s\",\"expect\":\"text\"}", url1("/json"));
	assert_succeeded(job);
	assert_body_only(job, "text");
	assert_jstr(job, "result.text", body);
}

static void test_expect_json_on_text_fails(void **state)
{
	(void)state;
	jobs_start(&T.d, NULL);
	struct json_object *job = run("{\"type\":\"fetch\",\"url\":\"%s\",\"expect\":\"json\"}",
				      url1("/text"));
	assert_failed(job, "network", "not valid JSON");
	assert_non_null(strstr(tj_str(job, "error.message"), "text/plain"));

	struct json_object *r = refused("{\"type\":\"fetch\",\"url\":\"%s\",\"expect\":\"xml\"}",
					url1("/text"));
	assert_rpc_error(r, -32602, "expect", "\"json\", \"text\" or \"base64\"");
}

static void test_empty_body(void **state)
{
	(void)state;
	jobs_start(&T.d, NULL);
	/* /large?bytes=0: 200, application/octet-stream, no body at all. */
	const char *url = url1("/large?bytes=0");
	struct json_object *job = run("{\"type\":\"fetch\",\"url\":\"%s\"}", url);
	assert_succeeded(job);
	assert_jint(job, "result.bytes", 0);
	assert_jstr(job, "result.text", "");
	job = run("{\"type\":\"fetch\",\"url\":\"%s\",\"expect\":\"base64\"}", url);
	assert_succeeded(job);
	assert_jstr(job, "result.body_base64", "");
	/* Nothing is not a JSON document: a clean failure (and the daemon
	 * lives on). */
	job = run("{\"type\":\"fetch\",\"url\":\"%s\",\"expect\":\"json\"}", url);
	assert_failed(job, "network", "not valid JSON");
	jobs_assert_serves(&T.d);
}

static void test_invalid_json_fails(void **state)
{
	(void)state;
	jobs_start(&T.d, NULL);
	struct json_object *job = run("{\"type\":\"fetch\",\"url\":\"%s\"}", url1("/invalid-json"));
	assert_failed(job, "network", "not valid JSON");
	assert_non_null(strstr(tj_str(job, "error.message"), "application/json"));
}

/* ------------------------------------------------------------ status codes */

static void test_404_is_a_result(void **state)
{
	(void)state;
	jobs_start(&T.d, NULL);
	struct json_object *job = run("{\"type\":\"fetch\",\"url\":\"%s\"}", url1("/status/404"));

	assert_succeeded(job);
	assert_jint(job, "result.status", 404);
	assert_jint(job, "result.json.status", 404);

	job = run("{\"type\":\"fetch\",\"url\":\"%s\"}", url1("/no/such/route"));
	assert_succeeded(job);
	assert_jint(job, "result.status", 404);
	assert_jstr(job, "result.json.error", "not found");
}

static void test_404_raise_for_status(void **state)
{
	(void)state;
	jobs_start(&T.d, NULL);
	const char *url = url1("/status/404");
	struct json_object *job = run("{\"type\":\"fetch\",\"url\":\"%s\",\"raise_for_status\":true}", url);

	assert_failed(job, "http_status", "404");
	assert_non_null(strstr(tj_str(job, "error.message"), url));

	/* Below 400 it is still a success. */
	job = run("{\"type\":\"fetch\",\"url\":\"%s\",\"raise_for_status\":true}", url1("/status/201"));
	assert_succeeded(job);
	assert_jint(job, "result.status", 201);
	assert_jint(job, "result.json.status", 201);
}

static void test_204_no_content(void **state)
{
	(void)state;
	jobs_start(&T.d, NULL);
	/* 204 has no body by definition (RFC 9110, 15.3.5), whatever its
	 * Content-Type says (the server sends application/json): there is
	 * nothing to decode, and nothing went wrong. */
	struct json_object *job = run("{\"type\":\"fetch\",\"url\":\"%s\"}", url1("/status/204"));
	assert_succeeded(job);
	assert_jint(job, "result.status", 204);
	assert_jstr(job, "result.content_type", "application/json");
	assert_jint(job, "result.bytes", 0);
	assert_false(tj_has(job, "result.json"));
	assert_false(tj_has(job, "result.body_base64"));
}

/* ------------------------------------------------------------ redirects */

static void test_redirect_relative(void **state)
{
	(void)state;
	jobs_start(&T.d, NULL);
	struct json_object *job = run("{\"type\":\"fetch\",\"url\":\"%s\"}", url1("/redirect/relative"));

	assert_succeeded(job);
	assert_jint(job, "result.status", 200);
	assert_jstr(job, "result.url", url1("/json"));
	assert_jstr(job, "result.json.name", "asyncjob test");
	/* The headers are the final response's. */
	assert_jstr(job, "result.headers.Content-Type", "application/json");
	assert_false(tj_has(job, "result.headers.Location"));
}

static void test_redirect_absolute(void **state)
{
	(void)state;
	jobs_start(&T.d, NULL);
	struct json_object *job = run("{\"type\":\"fetch\",\"url\":\"%s\"}", url1("/redirect/absolute"));

	assert_succeeded(job);
	assert_jint(job, "result.status", 200);
	assert_jstr(job, "result.url", url1("/json"));
	assert_jstr(job, "result.json.name", "asyncjob test");

	/* To another host (127.0.0.2) and back to a JSON document there. */
	job = run("{\"type\":\"fetch\",\"url\":\"%s\"}",
		  url1(tj_strf("/redirect/to?url=http%%3A%%2F%%2F127.0.0.2%%3A%u%%2Ftodos%%2F1", T.srv.http2)));
	assert_succeeded(job);
	assert_jstr(job, "result.url", url2("/todos/1"));
	assert_jint(job, "result.json.id", 1);
}

static void test_redirect_not_followed(void **state)
{
	(void)state;
	jobs_start(&T.d, NULL);
	const char *url = url1("/redirect/relative");
	struct json_object *job = run("{\"type\":\"fetch\",\"url\":\"%s\",\"follow_redirects\":false}", url);

	assert_succeeded(job);
	assert_jint(job, "result.status", 302);
	assert_jstr(job, "result.url", url);
	assert_jstr(job, "result.headers.Location", "/json");
}

static void test_redirect_loop_fails(void **state)
{
	(void)state;
	jobs_start(&T.d, NULL);
	struct json_object *job = run("{\"type\":\"fetch\",\"url\":\"%s\"}", url1("/redirect/loop"));
	assert_failed(job, "network", "redirects");
}

static void test_redirect_chain_limit(void **state)
{
	(void)state;
	jobs_start(&T.d, NULL);
	struct json_object *job = run("{\"type\":\"fetch\",\"url\":\"%s\"}", url1("/redirect/chain/5"));

	assert_succeeded(job);
	assert_jstr(job, "result.json.chain", "done");
	assert_jstr(job, "result.url", url1("/redirect/chain/0"));

	job = run("{\"type\":\"fetch\",\"url\":\"%s\"}", url1("/redirect/chain/6"));
	assert_failed(job, "network", "more than 5 redirects");
}

static void test_redirect_limit_setting(void **state)
{
	(void)state;
	jobs_start(&T.d, "fetch_max_redirects = 1\n");
	struct json_object *job = run("{\"type\":\"fetch\",\"url\":\"%s\"}", url1("/redirect/chain/1"));

	assert_succeeded(job);
	assert_jstr(job, "result.json.chain", "done");
	job = run("{\"type\":\"fetch\",\"url\":\"%s\"}", url1("/redirect/chain/2"));
	assert_failed(job, "network", "more than 1 redirects");
}

static void test_redirect_to_other_schemes_forbidden(void **state)
{
	(void)state;
	jobs_start(&T.d, NULL);
	struct json_object *job = run("{\"type\":\"fetch\",\"url\":\"%s\"}", url1("/redirect/file"));
	assert_failed(job, "forbidden", "redirect");

	job = run("{\"type\":\"fetch\",\"url\":\"%s\"}",
		  url1("/redirect/to?url=ftp%3A%2F%2F127.0.0.1%2Fx"));
	assert_failed(job, "forbidden", "redirect");
}

/* ------------------------------------------------------------ URLs */

static void test_url_schemes_forbidden(void **state)
{
	(void)state;
	static const char *const urls[] = {
		"file:///etc/passwd", "FILE:///etc/passwd", "ftp://127.0.0.1/", "gopher://127.0.0.1/",
		"dict://127.0.0.1/x",
	};
	jobs_start(&T.d, NULL);
	for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
		struct json_object *r = refused("{\"type\":\"fetch\",\"url\":\"%s\"}", urls[i]);
		assert_rpc_error(r, -32003, "url", "only http and https");
		tj_put(r);
	}
	/* Nothing was started. */
	assert_jint(jobs_daemon_info(&T.d), "jobs.next_id", 1);
}

static void test_url_malformed(void **state)
{
	(void)state;
	static const char *const urls[] = {
		"not a url", "http://exa mple.com/", "http://", "http://[::1/", "",
	};
	jobs_start(&T.d, NULL);
	for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
		struct json_object *r = refused("{\"type\":\"fetch\",\"url\":\"%s\"}", urls[i]);
		assert_rpc_error(r, -32602, "url", "url");
		tj_put(r);
	}
	struct json_object *r = refused("{\"type\":\"fetch\"}");
	assert_rpc_error(r, -32602, "url", NULL);
	r = refused("{\"type\":\"fetch\",\"url\":42}");
	assert_rpc_error(r, -32602, "url", NULL);
	r = refused("{\"type\":\"fetch\",\"url\":\"%s\",\"bogus\":1}", url1("/json"));
	assert_rpc_error(r, -32602, "bogus", NULL);
}

/* ------------------------------------------------------------ methods */

static void test_post_body(void **state)
{
	(void)state;
	jobs_start(&T.d, NULL);
	struct json_object *job = run(
		"{\"type\":\"fetch\",\"url\":\"%s\",\"method\":\"POST\",\"body\":\"name=caf\\u00e9&x=1\","
		"\"headers\":{\"Content-Type\":\"text/plain; charset=utf-8\",\"X-Custom\":\"yes\"}}",
		url1("/echo"));

	assert_succeeded(job);
	assert_jint(job, "result.status", 200);
	assert_jstr(job, "result.json.method", "POST");
	assert_jstr(job, "result.json.path", "/echo");
	assert_jstr(job, "result.json.body", "name=caf\xc3\xa9&x=1");
	assert_jint(job, "result.json.body_bytes", 14);
	assert_jstr(job, "result.json.headers.Content-Type", "text/plain; charset=utf-8");
	assert_jstr(job, "result.json.headers.X-Custom", "yes");
	assert_jstr(job, "result.json.headers.Content-Length", "14");

	/* POST without a body sends an empty one. */
	job = run("{\"type\":\"fetch\",\"url\":\"%s\",\"method\":\"POST\"}", url1("/echo"));
	assert_succeeded(job);
	assert_jstr(job, "result.json.method", "POST");
	assert_jint(job, "result.json.body_bytes", 0);
}

static void test_put_body_base64(void **state)
{
	(void)state;
	unsigned char bytes[300];
	char b64[420];

	for (size_t i = 0; i < sizeof(bytes); i++)
		bytes[i] = (unsigned char)(255 - i % 256);
	b64[base64_encode(bytes, sizeof(bytes), b64)] = '\0';
	jobs_start(&T.d, NULL);
	struct json_object *job = run(
		"{\"type\":\"fetch\",\"url\":\"%s\",\"method\":\"PUT\",\"body_base64\":\"%s\","
		"\"headers\":{\"Content-Type\":\"application/octet-stream\"}}",
		url1("/echo"), b64);

	assert_succeeded(job);
	assert_jstr(job, "result.json.method", "PUT");
	assert_jint(job, "result.json.body_bytes", 300);
	assert_jstr(job, "result.json.body_base64", b64);
	assert_jstr(job, "result.json.headers.Content-Type", "application/octet-stream");

	/* A NUL inside a JSON string body goes through as a byte. */
	job = run("{\"type\":\"fetch\",\"url\":\"%s\",\"method\":\"PUT\",\"body\":\"a\\u0000b\"}",
		  url1("/echo"));
	assert_succeeded(job);
	assert_jint(job, "result.json.body_bytes", 3);
}

static void test_patch_and_delete(void **state)
{
	(void)state;
	jobs_start(&T.d, NULL);
	struct json_object *job = run(
		"{\"type\":\"fetch\",\"url\":\"%s\",\"method\":\"PATCH\",\"body\":\"{\\\"done\\\":true}\","
		"\"headers\":{\"Content-Type\":\"application/json\"}}",
		url1("/echo"));

	assert_succeeded(job);
	assert_jstr(job, "result.json.method", "PATCH");
	assert_jstr(job, "result.json.body", "{\"done\":true}");
	assert_jstr(job, "result.json.headers.Content-Type", "application/json");

	job = run("{\"type\":\"fetch\",\"url\":\"%s\",\"method\":\"DELETE\"}", url1("/echo?item=7"));
	assert_succeeded(job);
	assert_jstr(job, "result.json.method", "DELETE");
	assert_jstr(job, "result.json.path", "/echo?item=7");
	assert_jint(job, "result.json.body_bytes", 0);
}

static void test_head(void **state)
{
	(void)state;
	jobs_start(&T.d, NULL);
	struct json_object *job = run("{\"type\":\"fetch\",\"url\":\"%s\",\"method\":\"HEAD\"}", url1("/json"));

	assert_succeeded(job);
	assert_jint(job, "result.status", 200);
	assert_jstr(job, "result.content_type", "application/json");
	assert_jint(job, "result.bytes", 0);
	assert_body_only(job, NULL);

	/* A HEAD answer announcing a large body does not wait for one. */
	job = run("{\"type\":\"fetch\",\"url\":\"%s\",\"method\":\"HEAD\",\"timeout\":20}",
		  url1("/large?bytes=5000000"));
	assert_succeeded(job);
	assert_jint(job, "result.status", 200);
	assert_jstr(job, "result.headers.Content-Length", "5000000");
	assert_jint(job, "result.bytes", 0);
	assert_body_only(job, NULL);
}

static void test_method_and_body_refused(void **state)
{
	(void)state;
	jobs_start(&T.d, NULL);
	const char *url = url1("/echo");
	struct json_object *r;

	r = refused("{\"type\":\"fetch\",\"url\":\"%s\",\"body\":\"x\"}", url);
	assert_rpc_error(r, -32602, "body", "GET request carries no body");
	r = refused("{\"type\":\"fetch\",\"url\":\"%s\",\"method\":\"GET\",\"body\":\"x\"}", url);
	assert_rpc_error(r, -32602, "body", "GET");
	r = refused("{\"type\":\"fetch\",\"url\":\"%s\",\"method\":\"HEAD\",\"body_base64\":\"eA==\"}", url);
	assert_rpc_error(r, -32602, "body_base64", "HEAD");
	r = refused("{\"type\":\"fetch\",\"url\":\"%s\",\"method\":\"POST\",\"body\":\"x\",\"body_base64\":\"eA==\"}", url);
	assert_rpc_error(r, -32602, "body_base64", "not both");
	r = refused("{\"type\":\"fetch\",\"url\":\"%s\",\"method\":\"TRACE\"}", url);
	assert_rpc_error(r, -32602, "method", "GET, HEAD, POST, PUT, PATCH or DELETE");
	r = refused("{\"type\":\"fetch\",\"url\":\"%s\",\"method\":\"post\"}", url);
	assert_rpc_error(r, -32602, "method", NULL);
	r = refused("{\"type\":\"fetch\",\"url\":\"%s\",\"method\":\"POST\",\"body\":7}", url);
	assert_rpc_error(r, -32602, "body", "string");
}

static void test_invalid_base64_refused(void **state)
{
	(void)state;
	static const char *const bad[] = { "AAE=x", "@@@@", "AAE", "A===", "AA=A" };
	jobs_start(&T.d, NULL);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct json_object *r = refused(
			"{\"type\":\"fetch\",\"url\":\"%s\",\"method\":\"PUT\",\"body_base64\":\"%s\"}",
			url1("/echo"), bad[i]);
		assert_rpc_error(r, -32602, "body_base64", "not valid base64");
		tj_put(r);
	}
}

static void test_header_injection_refused(void **state)
{
	(void)state;
	static const struct {
		const char *name, *value;
	} bad[] = {
		{ "X-Test", "a\\r\\nInjected: 1" },
		{ "X-Lf", "a\\nb" },
		{ "X-Cr", "a\\rb" },
		{ "X-Nul", "a\\u0000b" },
	};
	jobs_start(&T.d, NULL);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char field[64];
		snprintf(field, sizeof(field), "headers.%s", bad[i].name);
		struct json_object *r = refused(
			"{\"type\":\"fetch\",\"url\":\"%s\",\"headers\":{\"Accept\":\"*/*\",\"%s\":\"%s\"}}",
			url1("/echo"), bad[i].name, bad[i].value);
		assert_rpc_error(r, -32602, field, "CR, LF");
		assert_non_null(strstr(tj_str(r, "error.message"), field));
		tj_put(r);
	}
	struct json_object *r = refused("{\"type\":\"fetch\",\"url\":\"%s\",\"headers\":{\"X-Num\":5}}",
					url1("/echo"));
	assert_rpc_error(r, -32602, "headers.X-Num", "string");
	r = refused("{\"type\":\"fetch\",\"url\":\"%s\",\"headers\":[\"X-A: b\"]}", url1("/echo"));
	assert_rpc_error(r, -32602, "headers", NULL);
	r = refused("{\"type\":\"fetch\",\"url\":\"%s\",\"method\":\"POST\",\"headers\":{\"Content-Length\":\"1\"}}",
		    url1("/echo"));
	assert_rpc_error(r, -32602, "headers.Content-Length", NULL);
	r = refused("{\"type\":\"fetch\",\"url\":\"%s\",\"method\":\"POST\",\"headers\":{\"transfer-encoding\":\"chunked\"}}",
		    url1("/echo"));
	assert_rpc_error(r, -32602, "headers.transfer-encoding", NULL);
}

static void test_header_name_invalid(void **state)
{
	(void)state;
	static const char *const bad[] = { "Bad Name", "X:Y", "", "caf\\u00e9", "X(y)" };
	static const char *const field[] = { "headers.Bad Name", "headers.X:Y", "headers.",
					     "headers.caf\xc3\xa9", "headers.X(y)" };
	jobs_start(&T.d, NULL);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct json_object *r = refused("{\"type\":\"fetch\",\"url\":\"%s\",\"headers\":{\"%s\":\"v\"}}",
						url1("/echo"), bad[i]);
		assert_rpc_error(r, -32602, field[i], "not a valid header name");
		tj_put(r);
	}
	/* Token characters are fine, and so is an empty value. */
	struct json_object *job = run(
		"{\"type\":\"fetch\",\"url\":\"%s\",\"headers\":{\"X-Ok_1.~!\":\"v\",\"X-Empty\":\"\"}}",
		url1("/echo"));
	assert_succeeded(job);
	struct json_object *v = NULL;
	assert_true(json_object_object_get_ex(tj_path(job, "result.json.headers"), "X-Ok_1.~!", &v));
	assert_string_equal(json_object_get_string(v), "v");
	assert_jstr(job, "result.json.headers.X-Empty", "");
}

static void test_user_agent(void **state)
{
	(void)state;
	jobs_start(&T.d, NULL);
	struct json_object *job = run("{\"type\":\"fetch\",\"url\":\"%s\"}", url1("/echo"));

	assert_succeeded(job);
	assert_jstr(job, "result.json.method", "GET");
	assert_jstr(job, "result.json.headers.User-Agent", "asyncjobd/" PACKAGE_VERSION);
	char expected[64];
	snprintf(expected, sizeof(expected), "asyncjobd/%s",
		 tj_str(jobs_daemon_info(&T.d), "version"));
	assert_jstr(job, "result.json.headers.User-Agent", expected);
}

/* ------------------------------------------------------------ encodings */

static void test_chunked_body(void **state)
{
	(void)state;
	jobs_start(&T.d, NULL);
	struct json_object *job = run("{\"type\":\"fetch\",\"url\":\"%s\"}", url1("/chunked"));

	assert_succeeded(job);
	assert_jstr(job, "result.text", "part1 part2 part3\n");
	assert_jint(job, "result.bytes", 18);
	assert_jstr(job, "result.headers.Transfer-Encoding", "chunked");
}

static void test_gzip_body(void **state)
{
	(void)state;
	jobs_start(&T.d, NULL);
	struct json_object *job = run("{\"type\":\"fetch\",\"url\":\"%s\"}", url1("/gzip"));

	assert_succeeded(job);
	struct json_object *expected = tj_track(tj_parse("{\"compressed\":true}"));
	if (!json_object_equal(tj_path(job, "result.json"), expected))
		fail_msg("result.json: %s", json_object_to_json_string(job));
	assert_jint(job, "result.bytes", 19);   /* decoded */
	assert_jstr(job, "result.headers.Content-Encoding", "gzip");
}

/* ------------------------------------------------------------ size caps */

static void test_max_bytes_content_length(void **state)
{
	(void)state;
	jobs_start(&T.d, NULL);
	struct json_object *job = run("{\"type\":\"fetch\",\"url\":\"%s\",\"max_bytes\":1000000}",
				      url1("/large?bytes=2000000"));
	assert_failed(job, "too_large", "max_bytes (1000000)");

	/* Exactly at the cap is fine; one byte under is not. */
	job = run("{\"type\":\"fetch\",\"url\":\"%s\",\"max_bytes\":5000}", url1("/large?bytes=5000"));
	assert_succeeded(job);
	assert_jint(job, "result.bytes", 5000);
	job = run("{\"type\":\"fetch\",\"url\":\"%s\",\"max_bytes\":4999}", url1("/large?bytes=5000"));
	assert_failed(job, "too_large", "4999");
}

static void test_max_bytes_counts_decoded_bytes(void **state)
{
	(void)state;
	jobs_start(&T.d, NULL);
	/* /gzip: 39 bytes on the wire (Content-Length: 39), 19 once decoded.
	 * max_bytes is "counted after decompression" (PROTOCOL.md). */
	struct json_object *job = run("{\"type\":\"fetch\",\"url\":\"%s\",\"max_bytes\":18}", url1("/gzip"));
	assert_failed(job, "too_large", "max_bytes (18)");
	job = run("{\"type\":\"fetch\",\"url\":\"%s\",\"max_bytes\":19}", url1("/gzip"));
	assert_succeeded(job);
	assert_jint(job, "result.bytes", 19);
	assert_jbool(job, "result.json.compressed", true);
}

static void test_max_bytes_endless(void **state)
{
	(void)state;
	jobs_start(&T.d, NULL);
	struct json_object *job = run("{\"type\":\"fetch\",\"url\":\"%s\",\"max_bytes\":100000}",
				      url1("/endless"));
	assert_failed(job, "too_large", "max_bytes (100000)");
	jobs_assert_serves(&T.d);
}

static void test_max_bytes_ceiling(void **state)
{
	(void)state;
	jobs_start(&T.d, NULL);
	struct json_object *r = refused("{\"type\":\"fetch\",\"url\":\"%s\",\"max_bytes\":268435457}",
					url1("/json"));
	assert_rpc_error(r, -32602, "max_bytes", "268435456");
	r = refused("{\"type\":\"fetch\",\"url\":\"%s\",\"max_bytes\":0}", url1("/json"));
	assert_rpc_error(r, -32602, "max_bytes", NULL);
	r = refused("{\"type\":\"fetch\",\"url\":\"%s\",\"max_bytes\":1.5}", url1("/json"));
	assert_rpc_error(r, -32602, "max_bytes", NULL);
	struct json_object *job = run("{\"type\":\"fetch\",\"url\":\"%s\",\"max_bytes\":268435456}",
				      url1("/json"));
	assert_succeeded(job);
}

static void test_max_bytes_settings(void **state)
{
	(void)state;
	/* The default is clamped to a lower ceiling. */
	jobs_start(&T.d, "fetch_max_bytes_ceiling = 1M\nfetch_default_max_bytes = 4M\n");
	struct json_object *r = refused("{\"type\":\"fetch\",\"url\":\"%s\",\"max_bytes\":2000000}",
					url1("/json"));
	assert_rpc_error(r, -32602, "max_bytes", "1048576");
	struct json_object *job = run("{\"type\":\"fetch\",\"url\":\"%s\"}", url1("/large?bytes=2000000"));
	assert_failed(job, "too_large", "1048576");
	job = run("{\"type\":\"fetch\",\"url\":\"%s\"}", url1("/large?bytes=1048576"));
	assert_succeeded(job);
	assert_jint(job, "result.bytes", 1048576);
}

static void test_retained_result_bytes(void **state)
{
	(void)state;
	jobs_start(&T.d, "max_retained_result_bytes = 100K\n");
	struct json_object *first = run("{\"type\":\"fetch\",\"url\":\"%s\"}", url1("/large?bytes=60000"));
	assert_succeeded(first);
	int64_t id1 = tj_int(first, "id");
	struct json_object *second = run("{\"type\":\"fetch\",\"url\":\"%s\"}", url1("/large?bytes=60000"));
	assert_succeeded(second);
	int64_t id2 = tj_int(second, "id");

	/* Two results do not fit in 100 KiB: the older one is forgotten. */
	struct json_object *r = jobs_callf(T.d.fd, "job.get", "{\"id\":%" PRId64 "}", id1);
	assert_rpc_error(r, -32001, NULL, NULL);
	struct json_object *job = get_job(id2);
	assert_succeeded(job);
	assert_jint(job, "result.bytes", 60000);
}

/* ------------------------------------------------------------ stalls, timeouts */

#define STALL_CONFIG "fetch_low_speed_bytes = 100\nfetch_low_speed_seconds = 2\n"

static void test_stall_slow_drip(void **state)
{
	(void)state;
	jobs_start(&T.d, STALL_CONFIG);
	struct json_object *job = run("{\"type\":\"fetch\",\"url\":\"%s\"}", url1("/slow-drip"));
	assert_failed(job, "network", "stalled");
	assert_non_null(strstr(tj_str(job, "error.message"), "100 bytes/s"));
	tj_put(job);

	/* The same over a connection kept alive from an earlier fetch, whose
	 * connect time curl reports as 0. */
	assert_succeeded(run("{\"type\":\"fetch\",\"url\":\"%s\"}", url1("/json")));
	job = run("{\"type\":\"fetch\",\"url\":\"%s\"}", url1("/slow-drip"));
	assert_failed(job, "network", "stalled");
}

/* The default rate, with only the window shortened: /slow-drip sends a
 * byte a second, which a limit of 1 byte/s (curl stops only *below* it)
 * let run forever; then the job's own timeout ends it instead. */
static void test_stall_slow_drip_default_rate(void **state)
{
	(void)state;
	jobs_start(&T.d, "fetch_low_speed_seconds = 2\n");
	struct json_object *job = run("{\"type\":\"fetch\",\"url\":\"%s\",\"timeout\":20}",
				      url1("/slow-drip"));
	assert_failed(job, "network", "stalled");
	assert_non_null(strstr(tj_str(job, "error.message"), "1024 bytes/s"));
}

static void test_stall_headers_never_finish(void **state)
{
	(void)state;
	jobs_start(&T.d, STALL_CONFIG);
	struct json_object *job = run("{\"type\":\"fetch\",\"url\":\"%s\"}", url1("/headers-never-finish"));
	assert_failed(job, "network", "stalled");
}

/* A loopback port where no connection completes: a listener whose accept
 * queue is full and never drained. Linux drops (does not refuse) a SYN to
 * such a listener, so the client retransmits until its own connect timeout,
 * as with a host that does not answer; a closed port would answer RST at
 * once. listen(fd, 0) leaves room for one connection; fillers connect until
 * one does not complete, which shows the queue is full. */
#define BLACKHOLE_FILLERS 8

struct blackhole {
	int listen_fd;
	int fillers[BLACKHOLE_FILLERS];
	size_t n_fillers;
	unsigned port;
};

static void blackhole_close(struct blackhole *b)
{
	for (size_t i = 0; i < b->n_fillers; i++)
		close(b->fillers[i]);
	b->n_fillers = 0;
	if (b->listen_fd >= 0)
		close(b->listen_fd);
	b->listen_fd = -1;
}

/* False when the queue was not seen to fill up. */
static bool blackhole_open(struct blackhole *b)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);

	b->n_fillers = 0;
	b->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(b->listen_fd >= 0);
	assert_int_equal(bind(b->listen_fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(b->listen_fd, 0), 0);
	assert_int_equal(getsockname(b->listen_fd, (struct sockaddr *)&a, &len), 0);
	b->port = ntohs(a.sin_port);
	while (b->n_fillers < BLACKHOLE_FILLERS) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		assert_true(fd >= 0);
		b->fillers[b->n_fillers++] = fd;
		if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0)
			continue;
		assert_int_equal(errno, EINPROGRESS);
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		/* A SYN that is answered is answered at once on loopback; the
		 * first retransmission would come only after a second. */
		if (poll(&p, 1, 300) == 0)
			return true;
	}
	return false;
}

static void test_connect_timeout(void **state)
{
	(void)state;
	struct blackhole b;
	if (!blackhole_open(&b)) {
		blackhole_close(&b);
		print_message("skipped: %zu connections did not fill a listen(fd, 0) queue\n",
			      (size_t)BLACKHOLE_FILLERS);
		skip();
	}
	jobs_start(&T.d, "fetch_connect_timeout = 0.5\n");
	/* The job's timeout is far longer: without the connect timeout (curl's
	 * own default is 300 s) the job would end with code timeout instead. */
	double t0 = now_seconds();
	struct json_object *job = run("{\"type\":\"fetch\",\"url\":\"http://127.0.0.1:%u/json\","
				      "\"timeout\":20}", b.port);
	double elapsed = now_seconds() - t0;
	blackhole_close(&b);
	print_message("a fetch to an unanswering port failed after %.3f s\n", elapsed);
	assert_failed(job, "network", "could not connect within 0.5 s (fetch_connect_timeout)");
}

static void test_job_timeout(void **state)
{
	(void)state;
	jobs_start(&T.d, STALL_CONFIG);
	struct json_object *job = run("{\"type\":\"fetch\",\"url\":\"%s\",\"timeout\":1}",
				      url1("/slow-headers?ms=5000"));
	assert_failed(job, "timeout", "timed out after 1 s");
	jobs_assert_serves(&T.d);
}

static void test_gather_timeout(void **state)
{
	(void)state;
	jobs_start(&T.d, NULL);
	struct json_object *r = jobs_callf(T.d.fd, "job.gather",
		"{\"timeout\":0.5,\"jobs\":[{\"type\":\"fetch\",\"url\":\"%s\"},"
		"{\"type\":\"fetch\",\"url\":\"%s\"}]}",
		url1("/slow-headers?ms=10000"), url1("/json"));
	struct json_object *res = tj_take_result(r);
	assert_jbool(res, "ok", false);
	assert_failed(tj_path(res, "jobs.0"), "timeout", "gather");
	assert_succeeded(tj_path(res, "jobs.1"));
}

static void test_connection_reset(void **state)
{
	(void)state;
	jobs_start(&T.d, NULL);
	struct json_object *job = run("{\"type\":\"fetch\",\"url\":\"%s\"}", url1("/reset"));
	assert_failed(job, "network", "reset");
}

/* ------------------------------------------------------------ retries */

static void test_retry_succeeds(void **state)
{
	(void)state;
	jobs_start(&T.d, NULL);
	struct json_object *job = run(
		"{\"type\":\"fetch\",\"url\":\"%s\",\"retry\":{\"attempts\":3,\"backoff\":0.05}}",
		url1(tj_strf("/flaky?key=%s&fail=2", unique_key("retry"))));

	assert_succeeded(job);
	assert_jint(job, "result.status", 200);
	assert_jint(job, "result.attempts", 3);
	assert_jint(job, "result.json.attempt", 3);
}

static void test_retry_backoff_doubles(void **state)
{
	(void)state;
	jobs_start(&T.d, NULL);
	/* 500 comes without Retry-After, which would take precedence: the
	 * retries wait 0.4 s and then 0.8 s, 1.2 s in all; the same wait each
	 * time would make it 0.8 s. */
	struct json_object *job = run(
		"{\"type\":\"fetch\",\"url\":\"%s\",\"retry\":{\"attempts\":3,\"backoff\":0.4}}",
		url1(tj_strf("/flaky?key=%s&fail=2&status=500", unique_key("backoff"))));

	assert_succeeded(job);
	assert_jint(job, "result.attempts", 3);
	int64_t ms = timestamp_ms(tj_str(job, "finished_at")) - timestamp_ms(tj_str(job, "started_at"));
	print_message("three attempts with backoff 0.4 s took %" PRId64 " ms\n", ms);
	/* A little slack for millisecond timestamps. */
	if (ms < 1190)
		fail_msg("the attempts took %" PRId64 " ms, less than the 1200 ms of doubled "
			 "backoff", ms);
}

static void test_retry_exhausted_is_a_result(void **state)
{
	(void)state;
	jobs_start(&T.d, NULL);
	struct json_object *job = run(
		"{\"type\":\"fetch\",\"url\":\"%s\",\"retry\":{\"attempts\":2,\"backoff\":0.05}}",
		url1(tj_strf("/flaky?key=%s&fail=2", unique_key("exhausted"))));

	assert_succeeded(job);
	assert_jint(job, "result.status", 503);
	assert_jint(job, "result.attempts", 2);
	assert_jint(job, "result.json.attempt", 2);
}

static void test_retry_exhausted_raise_for_status(void **state)
{
	(void)state;
	jobs_start(&T.d, NULL);
	struct json_object *job = run(
		"{\"type\":\"fetch\",\"url\":\"%s\",\"raise_for_status\":true,"
		"\"retry\":{\"attempts\":2,\"backoff\":0.05}}",
		url1(tj_strf("/flaky?key=%s&fail=2", unique_key("raise"))));
	assert_failed(job, "http_status", "503");
}

static void test_retry_after_honored(void **state)
{
	(void)state;
	jobs_start(&T.d, NULL);
	/* /status/429 says Retry-After: 1. The backoff asked for is 60 s,
	 * longer than the job's timeout: only a retry that follows the
	 * server's word ends in time. */
	struct json_object *job = run(
		"{\"type\":\"fetch\",\"url\":\"%s\",\"timeout\":20,"
		"\"retry\":{\"attempts\":2,\"backoff\":60}}",
		url1("/status/429"));

	assert_succeeded(job);
	assert_jint(job, "result.status", 429);
	assert_jint(job, "result.attempts", 2);
	assert_jstr(job, "result.headers.Retry-After", "1");
}

static void test_retry_after_zero_honored(void **state)
{
	(void)state;
	jobs_start(&T.d, NULL);
	/* /flaky answers 429 with Retry-After: 0, "again now". */
	struct json_object *job = run(
		"{\"type\":\"fetch\",\"url\":\"%s\",\"timeout\":5,"
		"\"retry\":{\"attempts\":2,\"backoff\":60}}",
		url1(tj_strf("/flaky?key=%s&fail=1&status=429", unique_key("after0"))));

	if (!strcmp(tj_str(job, "state"), "failed") &&
	    !strcmp(tj_str(job, "error.code"), "timeout"))
		fail_msg("Retry-After: 0 was not honored: the retry waited for the 60 s backoff "
			 "and the job timed out: %s", json_object_to_json_string(job));
	assert_succeeded(job);
	assert_jint(job, "result.status", 200);
	assert_jint(job, "result.attempts", 2);
	assert_jint(job, "result.json.attempt", 2);
}

/* The requests the test server has had (this one included). */
static int64_t server_requests(void)
{
	struct json_object *job = run("{\"type\":\"fetch\",\"url\":\"%s\"}", url1("/count"));
	assert_succeeded(job);
	return tj_int(job, "result.json.requests");
}

static void test_retry_network_errors(void **state)
{
	(void)state;
	jobs_start(&T.d, NULL);
	/* First thing on a fresh server, so no kept-alive connection exists
	 * (curl would quietly retry a reused one that fails). */
	struct json_object *job = run(
		"{\"type\":\"fetch\",\"url\":\"%s\",\"retry\":{\"attempts\":3,\"backoff\":0.05}}",
		url1("/reset"));
	assert_failed(job, "network", "reset");
	/* Three tries at /reset, then /count itself. */
	assert_int_equal(server_requests(), 4);

	/* A 4xx other than 429 is an answer, not retried. */
	job = run("{\"type\":\"fetch\",\"url\":\"%s\",\"retry\":{\"attempts\":3,\"backoff\":0.05}}",
		  url1(tj_strf("/flaky?key=%s&fail=1&status=404", unique_key("no-retry"))));
	assert_succeeded(job);
	assert_jint(job, "result.status", 404);
	assert_jint(job, "result.attempts", 1);
}

static void test_retry_attempts_reported(void **state)
{
	(void)state;
	jobs_start(&T.d, NULL);
	/* "attempts appears when retry was given" (PROTOCOL.md), also when
	 * the first attempt was the only one allowed. */
	struct json_object *job = run("{\"type\":\"fetch\",\"url\":\"%s\"}", url1("/json"));
	assert_succeeded(job);
	assert_false(tj_has(job, "result.attempts"));
	job = run("{\"type\":\"fetch\",\"url\":\"%s\",\"retry\":{\"attempts\":3}}", url1("/json"));
	assert_succeeded(job);
	assert_jint(job, "result.attempts", 1);
	job = run("{\"type\":\"fetch\",\"url\":\"%s\",\"retry\":{\"attempts\":1}}", url1("/json"));
	assert_succeeded(job);
	assert_jint(job, "result.attempts", 1);
}

static void test_retry_spec_refused(void **state)
{
	(void)state;
	jobs_start(&T.d, NULL);
	const char *url = url1("/json");
	struct json_object *r;

	r = refused("{\"type\":\"fetch\",\"url\":\"%s\",\"retry\":{\"attempts\":0}}", url);
	assert_rpc_error(r, -32602, "retry.attempts", NULL);
	r = refused("{\"type\":\"fetch\",\"url\":\"%s\",\"retry\":{\"attempts\":11}}", url);
	assert_rpc_error(r, -32602, "retry.attempts", NULL);
	r = refused("{\"type\":\"fetch\",\"url\":\"%s\",\"retry\":{\"backoff\":-1}}", url);
	assert_rpc_error(r, -32602, "retry.backoff", NULL);
	r = refused("{\"type\":\"fetch\",\"url\":\"%s\",\"retry\":{\"tries\":2}}", url);
	assert_rpc_error(r, -32602, "retry.tries", "unknown");
	r = refused("{\"type\":\"fetch\",\"url\":\"%s\",\"retry\":3}", url);
	assert_rpc_error(r, -32602, "retry", NULL);
}

/* ------------------------------------------------------------ deny_networks */

static bool ipv6_available(void)
{
	int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

/* A fetch to an IPv6 literal under deny_networks: forbidden, or, on a
 * host without IPv6, a network error before any connection; never a
 * success. */
#define assert_denied_v6(job)                                               \
	do {                                                                \
		const char *code_ = tj_str((job), "error.code");              \
		if (code_ && !strcmp(code_, "network"))                     \
			assert_failed((job), "network", NULL);              \
		else                                                        \
			assert_failed((job), "forbidden", "deny_networks"); \
	} while (0)

static void test_deny_loopback_spellings(void **state)
{
	(void)state;
	jobs_start(&T.d, "deny_networks = 127.0.0.0/8\n");
	const char *urls[] = {
		url1("/json"),
		tj_strf("http://127.1:%u/json", T.srv.http),
		tj_strf("http://2130706433:%u/json", T.srv.http),
		tj_strf("http://0x7f000001:%u/json", T.srv.http),
	};
	for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
		struct json_object *job = run("{\"type\":\"fetch\",\"url\":\"%s\"}", urls[i]);
		assert_failed(job, "forbidden", "127.0.0.1 is not allowed (deny_networks)");
		tj_put(job);
	}
	/* IPv4-mapped IPv6: judged as the IPv4 address it carries. Without
	 * IPv6, curl may give up before it connects, which would prove nothing
	 * about the filter. */
	if (!ipv6_available()) {
		print_message("skipped [::ffff:127.0.0.1]: this host has no IPv6\n");
		return;
	}
	struct json_object *job = run("{\"type\":\"fetch\",\"url\":\"%s\"}",
				      tj_strf("http://[::ffff:127.0.0.1]:%u/json", T.srv.http));
	assert_failed(job, "forbidden", "::ffff:127.0.0.1 is not allowed (deny_networks)");
}

static void test_deny_documented_local_list(void **state)
{
	(void)state;
	/* The list the sample config gives for "this machine". */
	jobs_start(&T.d, "deny_networks = 127.0.0.0/8, 0.0.0.0/8, ::1/128, ::/128\n");
	const char *urls[] = {
		tj_strf("http://0.0.0.0:%u/json", T.srv.http),
		tj_strf("http://localhost:%u/json", T.srv.http),
		tj_strf("http://[::1]:%u/json", T.srv.http),
		tj_strf("http://[::]:%u/json", T.srv.http),
	};
	for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
		struct json_object *job = run("{\"type\":\"fetch\",\"url\":\"%s\"}", urls[i]);
		if (i < 2)
			assert_failed(job, "forbidden", "deny_networks");
		else
			assert_denied_v6(job);
		tj_put(job);
	}
}

static void test_deny_via_redirect(void **state)
{
	(void)state;
	jobs_start(&T.d, "deny_networks = 127.0.0.2/32\n");
	const char *target = tj_strf("http%%3A%%2F%%2F127.0.0.2%%3A%u%%2Fjson", T.srv.http2);
	struct json_object *job = run("{\"type\":\"fetch\",\"url\":\"%s\"}",
				      url1(tj_strf("/redirect/to?url=%s", target)));
	assert_failed(job, "forbidden", "127.0.0.2 is not allowed (deny_networks)");

	job = run("{\"type\":\"fetch\",\"url\":\"%s\"}", url1("/json"));
	assert_succeeded(job);
	assert_jstr(job, "result.json.name", "asyncjob test");
	job = run("{\"type\":\"fetch\",\"url\":\"%s\"}", url2("/json"));
	assert_failed(job, "forbidden", "127.0.0.2");
}

/* Waits until the daemon's log holds `needle` at least `count` times. */
static void wait_for_log(const char *needle, int count)
{
	for (int i = 0; i < 1000; i++) {
		FILE *f = fopen(T.d.proc.log, "r");
		char line[1024];
		int n = 0;
		if (f) {
			while (fgets(line, sizeof(line), f))
				if (strstr(line, needle))
					n++;
			fclose(f);
		}
		if (n >= count)
			return;
		harness_sleep_ms(10);
	}
	fail_msg("\"%s\" did not appear in the daemon's log", needle);
}

static void test_deny_added_by_reload(void **state)
{
	(void)state;
	jobs_start(&T.d, NULL);
	/* A fetch to 127.0.0.2 leaves a kept-alive connection behind. */
	struct json_object *job = run("{\"type\":\"fetch\",\"url\":\"%s\"}", url2("/json"));
	assert_succeeded(job);

	FILE *f = fopen(T.d.proc.config, "a");
	assert_non_null(f);
	fprintf(f, "deny_networks = 127.0.0.2/32\n");
	fclose(f);
	assert_int_equal(kill(T.d.proc.pid, SIGHUP), 0);
	wait_for_log("configuration reloaded", 1);

	/* From now on no fetch may reach 127.0.0.2, over a new connection or
	 * over one opened before the reload. */
	job = run("{\"type\":\"fetch\",\"url\":\"%s\"}", url2("/json"));
	if (!strcmp(tj_str(job, "state"), "succeeded"))
		fail_msg("a fetch reached 127.0.0.2 after deny_networks = 127.0.0.2/32 was loaded "
			 "(a connection kept alive from before the reload was reused): %s",
			 json_object_to_json_string(job));
	assert_failed(job, "forbidden", "127.0.0.2");
}

/* ------------------------------------------------------------ proxy */

static void test_proxy_setting(void **state)
{
	(void)state;
	/* The test server takes absolute-form requests too, so it can stand
	 * in for a proxy: /echo shows the request line's target. */
	jobs_start(&T.d, "proxy = http://127.0.0.1:%u\n", T.srv.http);
	struct json_object *job = run("{\"type\":\"fetch\",\"url\":\"http://proxied.invalid/echo\"}");

	assert_succeeded(job);
	assert_jstr(job, "result.json.path", "http://proxied.invalid/echo");
	assert_jstr(job, "result.json.headers.Host", "proxied.invalid");
}

static void test_proxy_denied(void **state)
{
	(void)state;
	/* With a proxy, deny_networks applies to the connection to it. */
	jobs_start(&T.d, "proxy = http://127.0.0.1:%u\ndeny_networks = 127.0.0.0/8\n", T.srv.http);
	struct json_object *job = run("{\"type\":\"fetch\",\"url\":\"http://proxied.invalid/echo\"}");
	assert_failed(job, "forbidden", "127.0.0.1 is not allowed (deny_networks)");
}

static void test_proxy_environment_ignored(void **state)
{
	(void)state;
	const char *proxy = tj_strf("http://127.0.0.1:%u", T.srv.http);
	setenv("http_proxy", proxy, 1);
	setenv("HTTP_PROXY", proxy, 1);
	setenv("ALL_PROXY", proxy, 1);
	jobs_start(&T.d, NULL);
	unsetenv("http_proxy");
	unsetenv("HTTP_PROXY");
	unsetenv("ALL_PROXY");

	struct json_object *job = run("{\"type\":\"fetch\",\"url\":\"%s\"}", url2("/echo"));
	assert_succeeded(job);
	/* Straight to 127.0.0.2: origin-form, not a proxy's absolute form. */
	assert_jstr(job, "result.json.path", "/echo");
}

/* ------------------------------------------------------------ no ambient state */

/* No cookie engine: a cookie one response sets is not sent back, neither
 * on the redirect it came with nor by a later job (the easy handles are
 * reused, and curl_easy_reset() keeps a handle's cookies). */
static void test_cookies_not_sent(void **state)
{
	(void)state;
	jobs_start(&T.d, NULL);
	struct json_object *job = run("{\"type\":\"fetch\",\"url\":\"%s\"}", url1("/cookie/set"));
	assert_succeeded(job);
	assert_jstr(job, "result.json.path", "/echo");
	if (tj_has(job, "result.json.headers.Cookie"))
		fail_msg("the redirect carried the cookie set with it: %s",
			 json_object_to_json_string(tj_path(job, "result.json.headers")));
	tj_put(job);
	job = run("{\"type\":\"fetch\",\"url\":\"%s\"}", url1("/echo"));
	assert_succeeded(job);
	if (tj_has(job, "result.json.headers.Cookie"))
		fail_msg("a later fetch carried an earlier job's cookie: %s",
			 json_object_to_json_string(tj_path(job, "result.json.headers")));
}

/* No netrc: a .netrc in the daemon's HOME naming the test server sends no
 * credentials (curl would read $HOME/.netrc if asked to). */
static void test_netrc_ignored(void **state)
{
	(void)state;
	char home[] = "/tmp/asyncjob-fetch-home-XXXXXX";
	if (!mkdtemp(home))
		fail_msg("mkdtemp: %s", strerror(errno));
	const char *netrc = tj_strf("%s/.netrc", home);
	write_small_file(netrc, "machine 127.0.0.1 login netrc-user password netrc-secret\n"
				"default login netrc-user password netrc-secret\n");
	assert_int_equal(chmod(netrc, 0600), 0);
	const char *home_was = getenv("HOME");
	char *saved = home_was ? strdup(home_was) : NULL;
	setenv("HOME", home, 1);
	jobs_start(&T.d, NULL);
	if (saved) {
		setenv("HOME", saved, 1);
		free(saved);
	} else {
		unsetenv("HOME");
	}

	struct json_object *job = run("{\"type\":\"fetch\",\"url\":\"%s\"}", url1("/echo"));
	harness_remove_tree(home);
	assert_succeeded(job);
	if (tj_has(job, "result.json.headers.Authorization"))
		fail_msg("credentials from %s were sent: Authorization: %s", netrc,
			 tj_str(job, "result.json.headers.Authorization"));
}

/* ------------------------------------------------------------ HTTPS */

static void test_https_with_ca_file(void **state)
{
	(void)state;
	jobs_start(&T.d, "ca_file = %s/ca.pem\n", T.ca_dir);
	const char *url = url_tls("/json");
	struct json_object *job = run("{\"type\":\"fetch\",\"url\":\"%s\"}", url);

	assert_succeeded(job);
	assert_jint(job, "result.status", 200);
	assert_jstr(job, "result.url", url);
	assert_jstr(job, "result.json.name", "asyncjob test");
	assert_true(jnum(job, "result.time.tls") > 0);
	assert_true(jnum(job, "result.time.total") >= jnum(job, "result.time.tls"));
}

/* The certificate is checked against the host name, not only against
 * the CA: the same server and certificate (for 127.0.0.1 and localhost)
 * on 127.0.0.2 is refused. */
static void test_https_host_name_checked(void **state)
{
	(void)state;
	jobs_start(&T.d, "ca_file = %s/ca.pem\n", T.ca_dir);
	struct json_object *job = run("{\"type\":\"fetch\",\"url\":\"%s\"}", url_tls2("/json"));
	assert_failed(job, "network", "target host name '127.0.0.2'");
	print_message("127.0.0.2: %s\n", tj_str(job, "error.message"));
	tj_put(job);
	job = run("{\"type\":\"fetch\",\"url\":\"%s\"}", url_tls("/json"));
	assert_succeeded(job);
	assert_jstr(job, "result.json.name", "asyncjob test");
}

static void test_https_without_ca_file(void **state)
{
	(void)state;
	jobs_start(&T.d, NULL);
	struct json_object *job = run("{\"type\":\"fetch\",\"url\":\"%s\"}", url_tls("/json"));
	assert_failed(job, "network", "certificate");
}

/* ------------------------------------------------------------ cancel */

static void test_cancel_mid_transfer(void **state)
{
	(void)state;
	jobs_start(&T.d, "fetch_max_bytes_ceiling = 1G\n");
	int baseline = server_connections(T.srv.http);
	int64_t id = start_job(T.d.fd,
			       "{\"type\":\"fetch\",\"url\":\"%s\",\"max_bytes\":1073741824}",
			       url1("/endless"));
	struct json_object *job = wait_for_bytes(id);
	assert_jstr(job, "state", "running");

	struct json_object *r = jobs_callf(T.d.fd, "job.cancel", "{\"id\":%" PRId64 "}", id);
	job = tj_take_result(r);
	assert_job(job, "canceled", "canceled", NULL);
	assert_job(get_job(id), "canceled", "canceled", NULL);

	/* The transfer's connection is closed: the server's count of open
	 * connections goes back to what it was. */
	int n = -1;
	for (int i = 0; i < 500; i++) {
		n = server_connections(T.srv.http);
		if (n <= baseline)
			break;
		harness_sleep_ms(10);
	}
	if (n > baseline)
		fail_msg("the test server still has %d open connection(s) (%d before)", n, baseline);

	struct json_object *info = jobs_daemon_info(&T.d);
	assert_jint(info, "jobs.canceled", 1);
	assert_jint(info, "jobs.running", 0);
	assert_jint(info, "jobs.active", 0);
	/* And fetching goes on. */
	job = run("{\"type\":\"fetch\",\"url\":\"%s\"}", url1("/json"));
	assert_succeeded(job);
}

static void test_cancel_queued(void **state)
{
	(void)state;
	jobs_start(&T.d, "max_concurrent_fetches = 1\n");
	int64_t first = start_job(T.d.fd, "{\"type\":\"fetch\",\"url\":\"%s\"}", url1("/slow-headers?ms=1000"));
	int64_t second = start_job(T.d.fd, "{\"type\":\"fetch\",\"url\":\"%s\"}", url1("/json"));
	struct json_object *job = get_job(second);
	assert_jstr(job, "state", "queued");
	assert_false(tj_has(job, "started_at"));

	job = tj_take_result(jobs_callf(T.d.fd, "job.cancel", "{\"id\":%" PRId64 "}", second));
	assert_job(job, "canceled", "canceled", NULL);
	job = tj_take_result(jobs_callf(T.d.fd, "job.wait", "{\"ids\":[%" PRId64 "]}", first));
	assert_succeeded(tj_path(job, "jobs.0"));
	assert_jint(job, "jobs.0.result.json.waited_ms", 1000);
}

static void test_shutdown_during_fetch(void **state)
{
	(void)state;
	make_root();
	/* A daemon that cancels on shutdown; resuming is test-store.sh's. */
	jobs_start(&T.d, "write_root = %s\non_shutdown = cancel\n", T.root);
	int waiter = jobs_connect(&T.d);
	int64_t id = start_job(T.d.fd, "{\"type\":\"fetch\",\"url\":\"%s\",\"save_to\":\"%s\"}",
			       url1("/endless"), in_root("endless.bin"));
	/* A drip, not a flood: on a fast loopback an in-memory /endless hits
	 * any max_bytes before the shutdown comes. */
	int64_t id2 = start_job(T.d.fd, "{\"type\":\"fetch\",\"url\":\"%s\"}",
				url1("/slow-drip"));
	wait_for_bytes(id);
	wait_for_bytes(id2);
	char req[128];
	snprintf(req, sizeof(req),
		 "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"job.wait\",\"params\":{\"ids\":[%" PRId64
		 ",%" PRId64 "]}}", id, id2);
	assert_int_equal(raw_send(waiter, req), 0);
	/* Requests on a connection are read in order: once this is answered,
	 * the job.wait is waiting. */
	assert_int_equal(raw_send(waiter, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"daemon.info\"}"), 0);
	struct json_object *info = tj_track(tj_parse(raw_recv(waiter, REPLY_MS)));
	assert_jint(info, "id", 2);
	assert_jint(info, "result.jobs.running", 2);

	/* SIGTERM: both are canceled with code shutdown, the waiting client
	 * hears it, the daemon exits 0 and no temporary file is left. */
	assert_int_equal(kill(T.d.proc.pid, SIGTERM), 0);
	struct json_object *r = tj_track(tj_parse(raw_recv(waiter, REPLY_MS)));
	assert_job(tj_path(r, "result.jobs.0"), "canceled", "shutdown", NULL);
	assert_job(tj_path(r, "result.jobs.1"), "canceled", "shutdown", NULL);
	int status = harness_wait(&T.d.proc, 20000);
	assert_int_equal(status, 0);
	assert_int_equal(harness_count_entries(T.root, ""), 0);
}

/* ------------------------------------------------------------ progress */

/* Reads the events on `sub` until job `id` is final, checking each of its
 * job.progress notifications: bytes never go back nor beyond `total`, and
 * a total, when there is one, is `total`. Returns the final job object
 * and how many notifications came, and how many of them had a total. */
static struct json_object *follow_progress(int sub, int64_t id, int64_t total, int *ret_count,
					   int *ret_with_total)
{
	int count = 0, with_total = 0;
	int64_t last_bytes = -1;
	struct json_object *final = NULL;

	while (!final) {
		const char *line = raw_recv(sub, REPLY_MS);
		if (!line)
			fail_msg("the job's events stopped coming (%d progress so far)", count);
		struct json_object *o = tj_track(tj_parse(line));
		const char *method = tj_str(o, "method");
		if (method && !strcmp(method, "job.progress") && tj_int(o, "params.id") == id) {
			struct json_object *p = tj_path(o, "params.progress");
			if (!json_object_is_type(p, json_type_object))
				fail_msg("no progress object: %s", line);
			int64_t bytes = tj_int(o, "params.progress.bytes");
			if (bytes < last_bytes || bytes > total)
				fail_msg("progress.bytes %" PRId64 " after %" PRId64, bytes, last_bytes);
			last_bytes = bytes;
			if (tj_has(o, "params.progress.total")) {
				assert_int_equal(tj_int(o, "params.progress.total"), total);
				with_total++;
			}
			assert_false(tj_has(o, "params.progress.attempt"));
			count++;
		} else if (method && !strcmp(method, "job.updated") && tj_int(o, "params.job.id") == id) {
			const char *st = tj_str(o, "params.job.state");
			if (strcmp(st, "queued") && strcmp(st, "running")) {
				final = tj_path(o, "params.job");
				continue;
			}
		}
		tj_put(o);
	}
	*ret_count = count;
	*ret_with_total = with_total;
	return final;
}

static void test_progress_notifications(void **state)
{
	(void)state;
	enum { TOTAL = 50000000 };
	make_root();
	jobs_start(&T.d, "write_root = %s\n", T.root);
	int sub = jobs_connect(&T.d);
	tj_take_result(jobs_call(sub, "events.subscribe", NULL));

	int64_t id = start_job(T.d.fd, "{\"type\":\"fetch\",\"url\":\"%s\",\"save_to\":\"%s\"}",
			       url1(tj_strf("/large?bytes=%d", TOTAL)), in_root("progress.bin"));
	int count, with_total;
	struct json_object *final = follow_progress(sub, id, TOTAL, &count, &with_total);
	assert_succeeded(final);
	assert_jint(final, "result.bytes", TOTAL);

	/* Nothing more about this job once it is final. */
	const char *line;
	while ((line = raw_recv(sub, 300))) {
		struct json_object *o = tj_track(tj_parse(line));
		const char *method = tj_str(o, "method");
		if (method && !strcmp(method, "job.progress") && tj_int(o, "params.id") == id)
			fail_msg("job.progress after the job ended: %s", line);
		tj_put(o);
	}

	double seconds = (double)(timestamp_ms(tj_str(final, "finished_at")) -
				  timestamp_ms(tj_str(final, "started_at"))) / 1000.0;
	print_message("%d job.progress notifications in %.3f s of running (%d with a total)\n",
		      count, seconds, with_total);
	assert_true(count >= 1);
	/* A second notification comes at least 0.1 s after the first, long
	 * after the headers (and so the Content-Length) arrived. */
	if (count >= 2 && !with_total)
		fail_msg("no progress.total in %d notifications", count);
	if (count > 10 * seconds + 2)
		fail_msg("%d progress notifications in %.3f s: more than 10 a second", count, seconds);
}

/* The total for certain: the length is announced and the body comes in
 * eight pieces 150 ms apart, so notifications (at most one per 0.1 s)
 * keep coming well after the headers. */
static void test_progress_total(void **state)
{
	(void)state;
	enum { TOTAL = 100000 };
	jobs_start(&T.d, NULL);
	int sub = jobs_connect(&T.d);
	tj_take_result(jobs_call(sub, "events.subscribe", NULL));

	int64_t id = start_job(T.d.fd, "{\"type\":\"fetch\",\"url\":\"%s\"}",
			       url1(tj_strf("/paced?bytes=%d&pieces=8&ms=150", TOTAL)));
	int count, with_total;
	struct json_object *final = follow_progress(sub, id, TOTAL, &count, &with_total);
	/* The event says it succeeded; a 100 kB body is not carried in it
	 * (results over 16 KiB are left out of events), job.get has it. */
	assert_jstr(final, "state", "succeeded");
	assert_jabsent(final, "result");
	assert_jbool(final, "result_omitted", true);
	assert_jint(get_job(id), "result.bytes", TOTAL);
	print_message("%d job.progress notifications, %d with a total\n", count, with_total);
	if (with_total == 0)
		fail_msg("none of %d job.progress notifications had progress.total", count);
}

/* ------------------------------------------------------------ save_to */

static void check_pattern_file(const char *path, uint64_t size)
{
	struct stat st;
	if (stat(path, &st) < 0)
		fail_msg("%s: %s", path, strerror(errno));
	if ((uint64_t)st.st_size != size)
		fail_msg("%s has %lld bytes, expected %llu", path, (long long)st.st_size,
			 (unsigned long long)size);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	static unsigned char buf[1 << 16];
	uint64_t off = 0;
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] != (unsigned char)((off + (uint64_t)i) % 251)) {
				close(fd);
				fail_msg("%s: byte %llu is %u, expected %u", path,
					 (unsigned long long)(off + (uint64_t)i), buf[i],
					 (unsigned)((off + (uint64_t)i) % 251));
			}
		}
		off += (uint64_t)n;
	}
	close(fd);
	assert_true(off == size);
}

static void test_save_to_file(void **state)
{
	(void)state;
	make_root();
	jobs_start(&T.d, "write_root = %s\n", T.root);
	assert_int_equal(mkdir(in_root("sub"), 0755), 0);
	const char *path = in_root("sub/out.bin");
	struct json_object *job = run("{\"type\":\"fetch\",\"url\":\"%s\",\"save_to\":\"%s\"}",
				      url1("/large?bytes=10000000"), path);

	assert_succeeded(job);
	assert_jint(job, "result.status", 200);
	assert_jstr(job, "result.saved_to", path);
	assert_jint(job, "result.bytes", 10000000);
	assert_body_only(job, "saved_to");
	check_pattern_file(path, 10000000);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	assert_int_equal(harness_count_entries(in_root("sub"), ".out.bin.asyncjob-"), 0);
	assert_int_equal(harness_count_entries(in_root("sub"), ""), 1);

	/* An existing file is replaced. */
	job = run("{\"type\":\"fetch\",\"url\":\"%s\",\"save_to\":\"%s\"}", url1("/text"), path);
	assert_succeeded(job);
	assert_jint(job, "result.bytes", 13);
	char buf[64] = "";
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	assert_string_equal(buf, "hello, world\n");
	assert_int_equal(harness_count_entries(in_root("sub"), ""), 1);

	/* Without fsync: the same file, complete and alone, only not flushed
	 * before it takes its name. */
	job = run("{\"type\":\"fetch\",\"url\":\"%s\",\"save_to\":\"%s\",\"fsync\":false}",
		  url1("/large?bytes=3000000"), path);
	assert_succeeded(job);
	assert_jint(job, "result.bytes", 3000000);
	check_pattern_file(path, 3000000);
	assert_int_equal(harness_count_entries(in_root("sub"), ""), 1);
}

static void test_save_to_refused(void **state)
{
	(void)state;
	make_root();
	jobs_start(&T.d, "write_root = %s\n", T.root);
	const char *url = url1("/text");
	struct json_object *r;

	r = refused("{\"type\":\"fetch\",\"url\":\"%s\",\"save_to\":\"/tmp/asyncjob-elsewhere/out.bin\"}", url);
	assert_rpc_error(r, -32003, "save_to", "outside every write root");
	r = refused("{\"type\":\"fetch\",\"url\":\"%s\",\"save_to\":\"%s-sibling/out.bin\"}", url, T.root);
	assert_rpc_error(r, -32003, "save_to", NULL);
	r = refused("{\"type\":\"fetch\",\"url\":\"%s\",\"save_to\":\"%s\"}", url, in_root("../escape.bin"));
	assert_rpc_error(r, -32602, "save_to", NULL);
	r = refused("{\"type\":\"fetch\",\"url\":\"%s\",\"save_to\":\"relative/out.bin\"}", url);
	assert_rpc_error(r, -32602, "save_to", NULL);
	r = refused("{\"type\":\"fetch\",\"url\":\"%s\",\"save_to\":\"%s\",\"expect\":\"text\"}", url,
		    in_root("x.bin"));
	assert_rpc_error(r, -32602, "expect", "save_to");
	r = refused("{\"type\":\"fetch\",\"url\":\"%s\",\"fsync\":false}", url);
	assert_rpc_error(r, -32602, "fsync", "only with save_to");
	r = refused("{\"type\":\"fetch\",\"url\":\"%s\",\"save_to\":\"%s\",\"fsync\":\"no\"}", url,
		    in_root("x.bin"));
	assert_rpc_error(r, -32602, "fsync", "true or false");
	assert_int_equal(harness_count_entries(T.root, ""), 0);
}

static void test_save_to_missing_directory(void **state)
{
	(void)state;
	make_root();
	jobs_start(&T.d, "write_root = %s\n", T.root);
	const char *path = in_root("missing/out.bin");
	struct json_object *job = run("{\"type\":\"fetch\",\"url\":\"%s\",\"save_to\":\"%s\"}",
				      url1("/text"), path);
	assert_failed(job, "io", "ENOENT");
	assert_non_null(strstr(tj_str(job, "error.message"), path));
	assert_int_equal(harness_count_entries(T.root, ""), 0);
}

static void test_save_to_directory(void **state)
{
	(void)state;
	make_root();
	jobs_start(&T.d, "write_root = %s\n", T.root);
	assert_int_equal(mkdir(in_root("sub"), 0755), 0);
	struct json_object *job = run("{\"type\":\"fetch\",\"url\":\"%s\",\"save_to\":\"%s\"}",
				      url1("/text"), in_root("sub"));
	assert_failed(job, "io", "EISDIR");
	assert_int_equal(harness_count_entries(in_root("sub"), ""), 0);
	assert_int_equal(harness_count_entries(T.root, ".sub.asyncjob-"), 0);
}

static void test_save_to_symlink(void **state)
{
	(void)state;
	make_root();
	jobs_start(&T.d, "write_root = %s\n", T.root);
	assert_int_equal(mkdir(in_root("sub"), 0755), 0);
	assert_int_equal(symlink(in_root("target.bin"), in_root("link")), 0);
	assert_int_equal(symlink(in_root("sub"), in_root("dirlink")), 0);

	struct json_object *job = run("{\"type\":\"fetch\",\"url\":\"%s\",\"save_to\":\"%s\"}",
				      url1("/text"), in_root("link"));
	assert_failed(job, "forbidden", "ELOOP");
	job = run("{\"type\":\"fetch\",\"url\":\"%s\",\"save_to\":\"%s\"}", url1("/text"),
		  in_root("dirlink/out.bin"));
	assert_failed(job, "forbidden", "ELOOP");

	struct stat st;
	assert_int_equal(lstat(in_root("target.bin"), &st), -1);
	assert_int_equal(harness_count_entries(in_root("sub"), ""), 0);
	assert_int_equal(harness_count_entries(T.root, ".link.asyncjob-"), 0);
}

static void test_save_to_failed_transfer(void **state)
{
	(void)state;
	make_root();
	jobs_start(&T.d, "write_root = %s\n", T.root);
	struct json_object *job = run("{\"type\":\"fetch\",\"url\":\"%s\",\"save_to\":\"%s\"}",
				      url1("/reset"), in_root("reset.bin"));
	assert_failed(job, "network", "reset");
	job = run("{\"type\":\"fetch\",\"url\":\"%s\",\"save_to\":\"%s\",\"max_bytes\":100000}",
		  url1("/endless"), in_root("big.bin"));
	assert_failed(job, "too_large", "100000");
	job = run("{\"type\":\"fetch\",\"url\":\"%s\",\"save_to\":\"%s\",\"max_bytes\":100000}",
		  url1("/large?bytes=3000000"), in_root("big2.bin"));
	assert_failed(job, "too_large", "100000");

	int left = wait_no_entries(T.root, "", 5000);
	if (left)
		fail_msg("%d file(s) left in the write root after failed downloads", left);
}

static void read_small_file(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "r");
	if (!f)
		fail_msg("%s: %s", path, strerror(errno));
	size_t n = fread(buf, 1, size - 1, f);
	fclose(f);
	buf[n] = '\0';
}

#define OLD_CONTENT "the old content\n"

/* The failed download's temporary file is gone, and the file is as it
 * was. In that order: a worker disposes of the temporary file, maybe a
 * moment after the job ended, and only then is the outcome final. */
static void assert_untouched(const char *path, const char *after)
{
	int left = wait_no_entries(T.root, ".keep.txt.asyncjob-", 5000);
	if (left)
		fail_msg("after %s, %d temporary file(s) are left", after, left);
	char buf[256];
	read_small_file(path, buf, sizeof(buf));
	if (strcmp(buf, OLD_CONTENT) != 0)
		fail_msg("after %s, %s holds \"%.200s\" instead of its old content", after, path,
			 buf);
}

/* save_to takes its name only on success: a download that fails leaves a
 * file already there as it was, whatever ended it. */
static void test_save_to_failure_keeps_existing_file(void **state)
{
	(void)state;
	make_root();
	jobs_start(&T.d, "write_root = %s\n", T.root);
	const char *path = in_root("keep.txt");
	write_small_file(path, OLD_CONTENT);
	struct json_object *job;

	job = run("{\"type\":\"fetch\",\"url\":\"%s\",\"save_to\":\"%s\"}", url1("/reset"), path);
	assert_failed(job, "network", "reset");
	assert_untouched(path, "a connection reset");

	job = run("{\"type\":\"fetch\",\"url\":\"%s\",\"save_to\":\"%s\",\"max_bytes\":100000}",
		  url1("/endless"), path);
	assert_failed(job, "too_large", "100000");
	assert_untouched(path, "too_large");

	/* The error status's body arrives whole: only raise_for_status makes
	 * it a failure. */
	job = run("{\"type\":\"fetch\",\"url\":\"%s\",\"save_to\":\"%s\","
		  "\"raise_for_status\":true}", url1("/status/404"), path);
	assert_failed(job, "http_status", "404");
	assert_untouched(path, "a 404 with raise_for_status");

	job = run("{\"type\":\"fetch\",\"url\":\"%s\",\"save_to\":\"%s\",\"raise_for_status\":true,"
		  "\"retry\":{\"attempts\":2,\"backoff\":0}}",
		  url1(tj_strf("/flaky?key=%s&fail=2&status=500", unique_key("keep"))), path);
	assert_failed(job, "http_status", "500");
	assert_untouched(path, "retries that ended in a 500 with raise_for_status");
}

static void test_save_to_cancel_keeps_existing_file(void **state)
{
	(void)state;
	make_root();
	jobs_start(&T.d, "write_root = %s\n", T.root);
	const char *path = in_root("keep.txt");
	write_small_file(path, OLD_CONTENT);
	int64_t id = start_job(T.d.fd,
			       "{\"type\":\"fetch\",\"url\":\"%s\",\"save_to\":\"%s\",\"max_bytes\":2000000000}",
			       url1("/endless"), path);
	wait_for_bytes(id);
	struct json_object *job = tj_take_result(jobs_callf(T.d.fd, "job.cancel", "{\"id\":%" PRId64 "}", id));
	assert_job(job, "canceled", "canceled", NULL);
	assert_untouched(path, "a cancel mid-transfer");
}

static void test_save_to_retry(void **state)
{
	(void)state;
	make_root();
	jobs_start(&T.d, "write_root = %s\n", T.root);
	const char *path = in_root("flaky.bin");
	/* Two 503 answers ({"status":503,"attempt":n}, 26 bytes each) are
	 * written to the file and thrown away; the file and the result hold
	 * the third answer only. */
	struct json_object *job = run(
		"{\"type\":\"fetch\",\"url\":\"%s\",\"save_to\":\"%s\",\"timeout\":20,"
		"\"retry\":{\"attempts\":3,\"backoff\":0.05}}",
		url1(tj_strf("/flaky?key=%s&fail=2", unique_key("save-retry"))), path);
	assert_succeeded(job);
	assert_jint(job, "result.attempts", 3);
	assert_jint(job, "result.status", 200);
	char buf[256];
	read_small_file(path, buf, sizeof(buf));
	assert_string_equal(buf, "{\"attempt\":3}");
	assert_jint(job, "result.bytes", 13);
}

static void test_save_to_retry_without_backoff(void **state)
{
	(void)state;
	make_root();
	jobs_start(&T.d, "write_root = %s\n", T.root);
	const char *path = in_root("flaky.bin");
	/* backoff 0: the retry starts while the failed answer's bytes may
	 * still be on their way to the file. */
	struct json_object *job = run(
		"{\"type\":\"fetch\",\"url\":\"%s\",\"save_to\":\"%s\",\"timeout\":5,"
		"\"retry\":{\"attempts\":3,\"backoff\":0}}",
		url1(tj_strf("/flaky?key=%s&fail=2", unique_key("save-retry0"))), path);
	assert_succeeded(job);
	assert_jint(job, "result.attempts", 3);
	char buf[256];
	read_small_file(path, buf, sizeof(buf));
	assert_string_equal(buf, "{\"attempt\":3}");
	/* And the next download to a file still works. */
	job = run("{\"type\":\"fetch\",\"url\":\"%s\",\"save_to\":\"%s\",\"timeout\":5}",
		  url1("/text"), in_root("after.bin"));
	assert_succeeded(job);
}

static void test_save_to_cancel(void **state)
{
	(void)state;
	make_root();
	jobs_start(&T.d, "write_root = %s\n", T.root);
	int64_t id = start_job(T.d.fd,
			       "{\"type\":\"fetch\",\"url\":\"%s\",\"save_to\":\"%s\",\"max_bytes\":2000000000}",
			       url1("/endless"), in_root("endless.bin"));
	wait_for_bytes(id);
	struct json_object *job = tj_take_result(jobs_callf(T.d.fd, "job.cancel", "{\"id\":%" PRId64 "}", id));
	assert_job(job, "canceled", "canceled", NULL);

	int left = wait_no_entries(T.root, "", 5000);
	if (left)
		fail_msg("%d file(s) left in the write root after a canceled download", left);
	jobs_assert_serves(&T.d);
}

/* ------------------------------------------------------------ concurrency */

/* One multi handle for all jobs keeps connections alive between them:
 * sequential fetches to one host share a connection. The test server
 * counts the connections it accepts. */
static void test_connection_reuse(void **state)
{
	(void)state;
	enum { N = 5 };
	jobs_start(&T.d, NULL);
	for (int i = 0; i < N; i++)
		assert_succeeded(run("{\"type\":\"fetch\",\"url\":\"%s\"}", url1("/json")));
	struct json_object *job = run("{\"type\":\"fetch\",\"url\":\"%s\"}", url1("/count"));
	assert_succeeded(job);
	assert_jint(job, "result.json.requests", N + 1);
	int64_t connections = tj_int(job, "result.json.connections");
	print_message("%d sequential fetches to one host used %" PRId64 " connection(s)\n", N + 1,
		      connections);
	if (connections >= N + 1)
		fail_msg("%d fetches opened %" PRId64 " connections: none was reused", N + 1,
			 connections);
}

static void test_gather_1000(void **state)
{
	(void)state;
	enum { N = 1000 };
	jobs_start(&T.d, NULL);
	struct json_object *params = json_object_new_object();
	struct json_object *jobs = json_object_new_array();
	const char *url = url1("/json");
	for (int i = 0; i < N; i++) {
		struct json_object *spec = json_object_new_object();
		json_object_object_add(spec, "type", json_object_new_string("fetch"));
		json_object_object_add(spec, "url", json_object_new_string(url));
		json_object_array_add(jobs, spec);
	}
	json_object_object_add(params, "jobs", jobs);

	double t0 = now_seconds();
	struct json_object *res = tj_take_result(jobs_call(T.d.fd, "job.gather", params));
	double elapsed = now_seconds() - t0;
	print_message("%d fetches in one job.gather: %.3f s\n", N, elapsed);

	struct json_object *list = tj_path(res, "jobs");
	assert_int_equal(json_object_array_length(list), N);
	for (int i = 0; i < N; i++) {
		struct json_object *job = json_object_array_get_idx(list, (size_t)i);
		assert_succeeded(job);
		assert_jint(job, "result.status", 200);
		assert_jint(job, "result.json.number", 42);
	}
	assert_jbool(res, "ok", true);
	assert_jint(jobs_daemon_info(&T.d), "jobs.succeeded", N);
}

/* The largest number of the jobs' [started_at, finished_at) intervals that
 * overlap at any job's start. */
static int max_overlap(struct json_object *const *jobs, size_t n)
{
	int best = 0;
	for (size_t i = 0; i < n; i++) {
		int64_t t = timestamp_ms(tj_str(jobs[i], "started_at"));
		int k = 0;
		for (size_t j = 0; j < n; j++)
			if (timestamp_ms(tj_str(jobs[j], "started_at")) <= t &&
			    t < timestamp_ms(tj_str(jobs[j], "finished_at")))
				k++;
		if (k > best)
			best = k;
	}
	return best;
}

static size_t list_count(const char *state)
{
	struct json_object *r =
		tj_take_result(jobs_callf(T.d.fd, "job.list", "{\"state\":\"%s\"}", state));
	return json_object_array_length(tj_path(r, "jobs"));
}

static void test_concurrency_cap_queues(void **state)
{
	(void)state;
	enum { N = 20 };
	int64_t ids[N];
	jobs_start(&T.d, "max_concurrent_fetches = 4\n");

	for (int i = 0; i < N; i++)
		ids[i] = start_job(T.d.fd, "{\"type\":\"fetch\",\"url\":\"%s\"}",
				   url1("/slow-headers?ms=600"));
	size_t queued = list_count("queued"), running = list_count("running");
	if (queued != N - 4 || running != 4)
		fail_msg("right after submitting: %zu queued and %zu running, expected %d and 4",
			 queued, running, N - 4);

	char ids_text[512];
	size_t o = 0;
	for (int i = 0; i < N; i++)
		o += (size_t)snprintf(ids_text + o, sizeof(ids_text) - o, "%s%" PRId64, i ? "," : "", ids[i]);
	struct json_object *r = tj_take_result(jobs_callf(T.d.fd, "job.wait", "{\"ids\":[%s],\"timeout\":60}", ids_text));
	assert_jbool(r, "timed_out", false);
	struct json_object *jobs[N];
	for (int i = 0; i < N; i++) {
		char path[32];
		snprintf(path, sizeof(path), "jobs.%d", i);
		jobs[i] = tj_path(r, path);
		assert_succeeded(jobs[i]);
		assert_jint(jobs[i], "result.json.waited_ms", 600);
	}
	int overlap = max_overlap(jobs, N);
	if (overlap > 4)
		fail_msg("%d fetches ran at once with max_concurrent_fetches = 4", overlap);
}

static void test_per_host_cap(void **state)
{
	(void)state;
	int64_t one[4], two[2];
	jobs_start(&T.d, "max_fetches_per_host = 2\n");

	for (int i = 0; i < 4; i++)
		one[i] = start_job(T.d.fd, "{\"type\":\"fetch\",\"url\":\"%s\"}", url1("/slow-headers?ms=600"));
	for (int i = 0; i < 2; i++)
		two[i] = start_job(T.d.fd, "{\"type\":\"fetch\",\"url\":\"%s\"}", url2("/slow-headers?ms=600"));
	/* 127.0.0.1 runs two and queues two; 127.0.0.2 is not held up. */
	assert_jstr(get_job(one[0]), "state", "running");
	assert_jstr(get_job(one[1]), "state", "running");
	assert_jstr(get_job(one[2]), "state", "queued");
	assert_jstr(get_job(one[3]), "state", "queued");
	assert_jstr(get_job(two[0]), "state", "running");
	assert_jstr(get_job(two[1]), "state", "running");

	struct json_object *r = tj_take_result(jobs_callf(T.d.fd, "job.wait",
		"{\"ids\":[%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64 "],\"timeout\":60}",
		one[0], one[1], one[2], one[3], two[0], two[1]));
	struct json_object *jobs[4];
	for (int i = 0; i < 6; i++) {
		char path[32];
		snprintf(path, sizeof(path), "jobs.%d", i);
		assert_succeeded(tj_path(r, path));
		if (i < 4)
			jobs[i] = tj_path(r, path);
	}
	assert_true(max_overlap(jobs, 4) <= 2);
}

/* ------------------------------------------------------------ memory */

static void test_large_download_memory(void **state)
{
	(void)state;
	const uint64_t size = 200000000;
	make_root();
#ifdef __SANITIZE_ADDRESS__
	/* Under AddressSanitizer freed memory is held in a quarantine (256 MB
	 * by default) instead of being reused, so every buffer the transfer
	 * frees (curl's, when it pauses for the disk) would count as growth.
	 * A small quarantine keeps the figure about the daemon's own
	 * buffering; a sanitizer build is the same daemon otherwise. */
	const char *asan = getenv("ASAN_OPTIONS");
	char *saved = asan ? strdup(asan) : NULL;
	char opts[1024];
	snprintf(opts, sizeof(opts), "%s%squarantine_size_mb=4", asan ? asan : "", asan && *asan ? ":" : "");
	setenv("ASAN_OPTIONS", opts, 1);
	jobs_start(&T.d, "write_root = %s\n", T.root);
	if (saved) {
		setenv("ASAN_OPTIONS", saved, 1);
		free(saved);
	} else {
		unsetenv("ASAN_OPTIONS");
	}
#else
	jobs_start(&T.d, "write_root = %s\n", T.root);
#endif
	/* One small fetch first, so curl's one-time setup is not counted. */
	assert_succeeded(run("{\"type\":\"fetch\",\"url\":\"%s\"}", url1("/json")));

	long before = rss_kb(T.d.proc.pid), peak = before;
	assert_true(before > 0);
	const char *path = in_root("big.bin");
	int64_t id = start_job(T.d.fd, "{\"type\":\"fetch\",\"url\":\"%s\",\"save_to\":\"%s\"}",
			       url1(tj_strf("/large?bytes=%llu", (unsigned long long)size)), path);
	struct json_object *job = NULL;
	for (int i = 0; i < 2400; i++) {
		long kb = rss_kb(T.d.proc.pid);
		if (kb > peak)
			peak = kb;
		job = get_job(id);
		const char *st = tj_str(job, "state");
		if (strcmp(st, "queued") && strcmp(st, "running"))
			break;
		tj_put(job);
		job = NULL;
		harness_sleep_ms(50);
	}
	if (!job)
		fail_msg("the 200 MB download did not end within 2 minutes");
	long kb = rss_kb(T.d.proc.pid);
	if (kb > peak)
		peak = kb;
	print_message("daemon RSS during a 200 MB save_to download: %ld kB before, %ld kB peak, "
		      "growth %ld kB\n", before, peak, peak - before);
	assert_succeeded(job);
	assert_jint(job, "result.bytes", (int64_t)size);
	assert_jstr(job, "result.saved_to", path);
	if (peak - before >= 64 * 1024)
		fail_msg("RSS grew by %ld kB (limit 65536 kB)", peak - before);
	check_pattern_file(path, size);
	assert_int_equal(harness_count_entries(T.root, ".big.bin.asyncjob-"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		TEST(test_json_document),
		TEST(test_json_nested_and_unicode),
		TEST(test_text_body),
		TEST(test_binary_body),
		TEST(test_large_body_in_memory),
		TEST(test_expect_text_on_binary_fails),
		TEST(test_expect_base64_on_json),
		TEST(test_expect_json_on_text_fails),
		TEST(test_empty_body),
		TEST(test_invalid_json_fails),
		TEST(test_404_is_a_result),
		TEST(test_404_raise_for_status),
		TEST(test_204_no_content),
		TEST(test_redirect_relative),
		TEST(test_redirect_absolute),
		TEST(test_redirect_not_followed),
		TEST(test_redirect_loop_fails),
		TEST(test_redirect_chain_limit),
		TEST(test_redirect_limit_setting),
		TEST(test_redirect_to_other_schemes_forbidden),
		TEST(test_url_schemes_forbidden),
		TEST(test_url_malformed),
		TEST(test_post_body),
		TEST(test_put_body_base64),
		TEST(test_patch_and_delete),
		TEST(test_head),
		TEST(test_method_and_body_refused),
		TEST(test_invalid_base64_refused),
		TEST(test_header_injection_refused),
		TEST(test_header_name_invalid),
		TEST(test_user_agent),
		TEST(test_chunked_body),
		TEST(test_gzip_body),
		TEST(test_max_bytes_content_length),
		TEST(test_max_bytes_counts_decoded_bytes),
		TEST(test_max_bytes_endless),
		TEST(test_max_bytes_ceiling),
		TEST(test_max_bytes_settings),
		TEST(test_retained_result_bytes),
		TEST(test_stall_slow_drip),
		TEST(test_stall_slow_drip_default_rate),
		TEST(test_stall_headers_never_finish),
		TEST(test_connect_timeout),
		TEST(test_job_timeout),
		TEST(test_gather_timeout),
		TEST(test_connection_reset),
		TEST(test_retry_succeeds),
		TEST(test_retry_backoff_doubles),
		TEST(test_retry_exhausted_is_a_result),
		TEST(test_retry_exhausted_raise_for_status),
		TEST(test_retry_after_honored),
		TEST(test_retry_after_zero_honored),
		TEST(test_retry_network_errors),
		TEST(test_retry_attempts_reported),
		TEST(test_retry_spec_refused),
		TEST(test_deny_loopback_spellings),
		TEST(test_deny_documented_local_list),
		TEST(test_deny_via_redirect),
		TEST(test_deny_added_by_reload),
		TEST(test_proxy_setting),
		TEST(test_proxy_denied),
		TEST(test_proxy_environment_ignored),
		TEST(test_cookies_not_sent),
		TEST(test_netrc_ignored),
		TEST(test_https_with_ca_file),
		TEST(test_https_host_name_checked),
		TEST(test_https_without_ca_file),
		TEST(test_cancel_mid_transfer),
		TEST(test_cancel_queued),
		TEST(test_shutdown_during_fetch),
		TEST(test_progress_notifications),
		TEST(test_progress_total),
		TEST(test_save_to_file),
		TEST(test_save_to_refused),
		TEST(test_save_to_missing_directory),
		TEST(test_save_to_directory),
		TEST(test_save_to_symlink),
		TEST(test_save_to_failed_transfer),
		TEST(test_save_to_retry),
		TEST(test_save_to_retry_without_backoff),
		TEST(test_save_to_cancel),
		TEST(test_save_to_failure_keeps_existing_file),
		TEST(test_save_to_cancel_keeps_existing_file),
		TEST(test_connection_reuse),
		TEST(test_gather_1000),
		TEST(test_concurrency_cap_queues),
		TEST(test_per_host_cap),
		TEST(test_large_download_memory),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
