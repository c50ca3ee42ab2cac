/* The daemon under a service manager, played by this test: it listens on a
 * datagram socket named by $NOTIFY_SOCKET, as systemd does, and checks what
 * the daemon says there (READY=1, STATUS= with the job counts, at most about
 * once a second, RELOADING=1, STOPPING=1, WATCHDOG=1 only when asked), that
 * an idle daemon does not wake up at all, and that a URL's password never
 * reaches the log. Skipped (77) in a build without libsystemd. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "tests/common/harness.h"
#include "tests/common/jobs.h"
#include "tests/common/json-assert.h"

struct manager {
	char dir[48];          /* holds the notify socket */
	char path[64];
	int fd;
	struct jobs_daemon d;
	/* Every message the daemon sent, in order, for the checks that look
	 * back ("no WATCHDOG=1 so far"). */
	char seen[64 * 1024];
	size_t seen_len;
};

static struct manager M;

static double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int setup(void **state)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int one = 1;
	(void)state;

	memset(&M, 0, sizeof(M));
	jobs_init(&M.d);
	snprintf(M.dir, sizeof(M.dir), "/tmp/asyncjob-test-notify-XXXXXX");
	assert_non_null(mkdtemp(M.dir));
	snprintf(M.path, sizeof(M.path), "%s/notify", M.dir);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", M.path);
	M.fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(M.fd >= 0);
	assert_int_equal(bind(M.fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	/* The sender's pid comes with each message, as systemd checks it. */
	assert_int_equal(setsockopt(M.fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)), 0);
	setenv("NOTIFY_SOCKET", M.path, 1);
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	tj_put_all();
	jobs_stop(&M.d, 10000);
	close(M.fd);
	unlink(M.path);
	rmdir(M.dir);
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	return 0;
}

/* Receives one message within `timeout_ms` into `buf`; returns false on
 * timeout. Fails the test when the sender is not the daemon. */
static bool recv_message(char *buf, size_t size, int timeout_ms)
{
	struct pollfd pfd = { .fd = M.fd, .events = POLLIN };
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(struct ucred))];
	} control;
	struct iovec iov = { .iov_base = buf, .iov_len = size - 1 };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = control.buf, .msg_controllen = sizeof(control.buf),
	};

	int r = poll(&pfd, 1, timeout_ms);
	if (r <= 0)
		return false;
	ssize_t n = recvmsg(M.fd, &msg, 0);
	assert_true(n >= 0);
	buf[n] = '\0';
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
	assert_non_null(cm);
	assert_int_equal(cm->cmsg_type, SCM_CREDENTIALS);
	struct ucred cred;
	memcpy(&cred, CMSG_DATA(cm), sizeof(cred));
	if (cred.pid != M.d.proc.pid)
		fail_msg("a notification from pid %d, not the daemon (%d): %s", (int)cred.pid,
			 (int)M.d.proc.pid, buf);
	if (M.seen_len + (size_t)n + 2 < sizeof(M.seen)) {
		memcpy(M.seen + M.seen_len, buf, (size_t)n);
		M.seen_len += (size_t)n;
		M.seen[M.seen_len++] = '\n';
		M.seen[M.seen_len] = '\0';
	}
	return true;
}

/* True when `text` has `line` as one of its lines. */
static bool has_line(const char *text, const char *line)
{
	size_t n = strlen(line);
	for (const char *p = text; p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (strncmp(p, line, n) == 0 && (p[n] == '\n' || p[n] == '\0'))
			return true;
	return false;
}

/* How many lines of all the messages so far start with `prefix`. */
static int count_seen(const char *prefix)
{
	size_t n = strlen(prefix);
	int count = 0;
	for (const char *p = M.seen; *p; p = strchr(p, '\n') + 1)
		count += strncmp(p, prefix, n) == 0;
	return count;
}

/* Waits for a message with the line `want`; fails the test after
 * `timeout_ms`. Leaves the message in `buf`. */
static void expect_message(const char *want, char *buf, size_t size, int timeout_ms)
{
	double deadline = now_seconds() + timeout_ms / 1000.0;

	for (;;) {
		int left = (int)((deadline - now_seconds()) * 1000);
		if (left < 0 || !recv_message(buf, size, left < 0 ? 0 : left))
			fail_msg("no \"%s\" from the daemon within %d ms; it sent:\n%s", want,
				 timeout_ms, M.seen);
		if (has_line(buf, want))
			return;
	}
}

/* Waits until the last STATUS= line the daemon sent is `want`. */
static void expect_latest_status(const char *want, int timeout_ms)
{
	double deadline = now_seconds() + timeout_ms / 1000.0;
	char buf[1024];

	for (;;) {
		const char *last = NULL;
		for (const char *p = M.seen; *p; p = strchr(p, '\n') + 1)
			if (strncmp(p, "STATUS=", 7) == 0)
				last = p;
		if (last && strncmp(last, want, strlen(want)) == 0 && last[strlen(want)] == '\n')
			return;
		int left = (int)((deadline - now_seconds()) * 1000);
		if (left <= 0 || !recv_message(buf, sizeof(buf), left))
			fail_msg("the last status is not \"%s\" after %d ms; the daemon sent:\n%s",
				 want, timeout_ms, M.seen);
	}
}

/* Counts the messages with line `want` that arrive within `ms`. */
static int count_messages(const char *want, int ms)
{
	char buf[1024];
	double deadline = now_seconds() + ms / 1000.0;
	int n = 0;

	for (;;) {
		int left = (int)((deadline - now_seconds()) * 1000);
		if (left <= 0 || !recv_message(buf, sizeof(buf), left))
			return n;
		n += has_line(buf, want);
	}
}

/* Reads (into M.seen) whatever has arrived, without waiting. */
static void drain_messages(void)
{
	char buf[1024];
	while (recv_message(buf, sizeof(buf), 0))
		;
}

static void submit_sleep(double seconds)
{
	tj_put(tj_take_result(jobs_callf(M.d.fd, "job.submit",
					 "{\"type\":\"sleep\",\"seconds\":%g}", seconds)));
}

/* Context switches of all the daemon's threads so far. */
static long long context_switches(pid_t pid)
{
	char path[64];
	long long total = 0;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	DIR *dir = opendir(path);
	assert_non_null(dir);
	struct dirent *e;
	while ((e = readdir(dir))) {
		if (e->d_name[0] == '.')
			continue;
		char status[sizeof(path) + sizeof(e->d_name) + 8], line[256];
		snprintf(status, sizeof(status), "%s/%s/status", path, e->d_name);
		FILE *f = fopen(status, "r");
		if (!f)
			continue;   /* a thread that just ended */
		while (fgets(line, sizeof(line), f)) {
			long long v;
			if (sscanf(line, "voluntary_ctxt_switches: %lld", &v) == 1 ||
			    sscanf(line, "nonvoluntary_ctxt_switches: %lld", &v) == 1)
				total += v;
		}
		fclose(f);
	}
	closedir(dir);
	return total;
}

static bool log_contains(const char *needle)
{
	static char buf[256 * 1024];
	FILE *f = fopen(M.d.proc.log, "r");
	assert_non_null(f);
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return strstr(buf, needle) != NULL;
}

/* ------------------------------------------------------------ tests */

static void test_ready_status_and_stopping(void **state)
{
	char msg[1024];
	(void)state;

	jobs_start(&M.d, NULL);
	expect_message("READY=1", msg, sizeof(msg), 10000);
	/* Ready means clients can connect: the harness already did. */
	assert_true(has_line(msg, "STATUS=Jobs: 0 running, 0 queued"));

	for (int i = 0; i < 3; i++)
		submit_sleep(60);
	expect_message("STATUS=Jobs: 3 running, 0 queued", msg, sizeof(msg), 5000);

	assert_int_equal(kill(M.d.proc.pid, SIGTERM), 0);
	expect_message("STOPPING=1", msg, sizeof(msg), 5000);
	assert_int_equal(harness_wait(&M.d.proc, 10000), 0);
	if (count_seen("WATCHDOG=1") != 0)
		fail_msg("watchdog pings without WATCHDOG_USEC:\n%s", M.seen);
	if (count_seen("READY=1") != 1)
		fail_msg("READY=1 not exactly once:\n%s", M.seen);
}

/* Many changes make few STATUS= lines, the last one right; then an idle
 * daemon stays asleep: no timer of its own wakes it. */
static void test_status_rate_limited_and_idle_quiet(void **state)
{
	char msg[1024];
	(void)state;

	jobs_start(&M.d, NULL);
	expect_message("READY=1", msg, sizeof(msg), 10000);

	double start = now_seconds();
	for (int i = 0; i < 20; i++) {
		submit_sleep(3);
		drain_messages();
	}
	expect_latest_status("STATUS=Jobs: 20 running, 0 queued", 5000);
	/* Then churn: three state changes every 25 ms for two seconds. */
	for (int i = 0; i < 80; i++) {
		submit_sleep(0.01);
		harness_sleep_ms(25);
		/* Read as systemd would, promptly: a full queue would block
		 * the daemon's sd_notify() and hide how often it sends. */
		drain_messages();
	}
	expect_latest_status("STATUS=Jobs: 0 running, 0 queued", 10000);
	double elapsed = now_seconds() - start;
	int updates = count_seen("STATUS=") - 1;   /* not the one with READY=1 */
	print_message("%d STATUS= updates in %.2f s for 300 job state changes\n", updates,
		      elapsed);
	if (updates < 2 || updates > (int)elapsed + 2)
		fail_msg("%d STATUS= updates in %.2f s; at most one a second expected:\n%s",
			 updates, elapsed, M.seen);

	/* Nothing pending now: not one wakeup in three seconds. */
	harness_sleep_ms(1500);
	long long before = context_switches(M.d.proc.pid);
	assert_int_equal(count_messages("STATUS=", 3000), 0);
	long long after = context_switches(M.d.proc.pid);
	if (after != before)
		fail_msg("the idle daemon was woken %lld times in 3 s", after - before);
}

static void test_watchdog_pings(void **state)
{
	char msg[1024];
	(void)state;

	/* 100 ms: pings every 50 ms. WATCHDOG_PID unset: meant for whoever
	 * reads it, as systemd allows. */
	setenv("WATCHDOG_USEC", "100000", 1);
	jobs_start(&M.d, NULL);
	expect_message("READY=1", msg, sizeof(msg), 10000);
	int pings = count_messages("WATCHDOG=1", 1000);
	print_message("%d watchdog pings in 1 s\n", pings);
	if (pings < 5)
		fail_msg("%d WATCHDOG=1 in a second, with WATCHDOG_USEC=100000", pings);
	assert_true(log_contains("watchdog: pinging the service manager every 50 ms"));
}

static void test_no_watchdog_for_another_process(void **state)
{
	char msg[1024], pid[32];
	(void)state;

	setenv("WATCHDOG_USEC", "100000", 1);
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	setenv("WATCHDOG_PID", pid, 1);
	jobs_start(&M.d, NULL);
	expect_message("READY=1", msg, sizeof(msg), 10000);
	assert_int_equal(count_messages("WATCHDOG=1", 1000), 0);
}

static void rewrite_config(const char *text)
{
	FILE *f = fopen(M.d.proc.config, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_reload(void **state)
{
	char msg[1024];
	(void)state;

	jobs_start(&M.d, NULL);
	expect_message("READY=1", msg, sizeof(msg), 10000);

	rewrite_config("log_level = debug\nmax_sleep_seconds = 100\n");
	assert_int_equal(kill(M.d.proc.pid, SIGHUP), 0);
	expect_message("RELOADING=1", msg, sizeof(msg), 5000);
	assert_non_null(strstr(msg, "\nMONOTONIC_USEC="));
	expect_message("READY=1", msg, sizeof(msg), 5000);
	assert_true(log_contains("configuration reloaded"));

	/* A refused config is a reload that ended too. */
	rewrite_config("no_such_setting = 1\n");
	assert_int_equal(kill(M.d.proc.pid, SIGHUP), 0);
	expect_message("RELOADING=1", msg, sizeof(msg), 5000);
	expect_message("READY=1", msg, sizeof(msg), 5000);
	assert_true(log_contains("reload failed"));
	jobs_assert_serves(&M.d);
}

/* A fetch whose URL carries a password fails with that URL in its error
 * message, which the debug log shows: without the password, be it quoted
 * or longer than a log line, and without its query; headers and bodies
 * never reach the log. */
static void test_url_password_not_logged(void **state)
{
	struct test_server srv;
	char msg[1024], long_secret[701];
	(void)state;

	const char *server = getenv("ASYNCJOB_TEST_SERVER");
	if (!server || access(server, X_OK) != 0)
		skip();   /* no test HTTP server in this build */
	memset(long_secret, 'L', sizeof(long_secret) - 1);
	long_secret[sizeof(long_secret) - 1] = '\0';
	memcpy(long_secret, "tok-", 4);
	const char *const passwords[] = { "pw-s3cr3t", "pw's3<cr>3t", long_secret };

	assert_int_equal(test_server_start(&srv, NULL, 20000), 0);
	jobs_start(&M.d, NULL);   /* log_level = debug */
	expect_message("READY=1", msg, sizeof(msg), 10000);
	for (size_t i = 0; i < sizeof(passwords) / sizeof(passwords[0]); i++) {
		struct json_object *job = tj_take_result(jobs_callf(M.d.fd, "job.submit",
			"{\"type\":\"fetch\",\"url\":\"http://alice:%s@127.0.0.1:%u/status/404\","
			"\"raise_for_status\":true,\"wait\":true}", passwords[i], srv.http));
		assert_failed(job, "http_status", "404");
		/* Nor in the job, which others (root, an admin) may read. */
		const char *error = json_object_to_json_string(job);
		if (strstr(error, i == 2 ? "tok-LLLL" : passwords[i]))
			fail_msg("the password is in the job: %s", error);
		tj_put(job);
	}
	/* Tokens in a query, a header and a body. */
	struct json_object *job = tj_take_result(jobs_callf(M.d.fd, "job.submit",
		"{\"type\":\"fetch\",\"url\":\"http://127.0.0.1:%u/status/404?access_token=qry-s3cr3t\","
		"\"method\":\"POST\",\"headers\":{\"Authorization\":\"Bearer hdr-s3cr3t\"},"
		"\"body\":\"body-s3cr3t\",\"raise_for_status\":true,\"wait\":true}", srv.http));
	assert_failed(job, "http_status", "404");
	tj_put(job);
	test_server_stop(&srv, 5000);
	assert_true(log_contains("/status/404?***"));
	const char *const secrets[] = { passwords[0], passwords[1], "tok-LLLL", "qry-s3cr3t",
					"hdr-s3cr3t", "body-s3cr3t" };
	for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++) {
		if (log_contains(secrets[i])) {
			harness_dump_log(&M.d.proc);
			fail_msg("a secret of a fetch is in the log: %s", secrets[i]);
		}
	}
}

int main(void)
{
#if !HAVE_SYSTEMD
	printf("1..0 # SKIP built without libsystemd: nothing to notify\n");
	return 77;
#endif
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_ready_status_and_stopping, setup, teardown),
		cmocka_unit_test_setup_teardown(test_status_rate_limited_and_idle_quiet, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_watchdog_pings, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_watchdog_for_another_process, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reload, setup, teardown),
		cmocka_unit_test_setup_teardown(test_url_password_not_logged, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
