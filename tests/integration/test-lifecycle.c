/* The daemon's life: command line, config checking, the socket (stale ones
 * replaced, live ones respected, permissions and group), SIGHUP reloads,
 * SIGTERM and SIGINT with jobs and waiting clients, and ownership across
 * users. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "tests/common/harness.h"
#include "tests/common/json-assert.h"

/* Sends one request on a new connection and returns the parsed reply. */
static struct json_object *call(const char *socket_path, const char *line)
{
	int fd = raw_connect(socket_path);
	assert_true(fd >= 0);
	raw_send(fd, line);
	struct json_object *r = tj_parse(raw_recv(fd, 5000));
	raw_close(fd);
	return r;
}

/* Runs the daemon binary with arguments; returns the exit status and all
 * it printed (stdout and stderr) in `out`. */
static int run_daemon(const char *args, char *out, size_t out_size)
{
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "'%s' %s 2>&1", getenv("ASYNCJOBD"), args);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	size_t n = fread(out, 1, out_size - 1, p);
	out[n] = '\0';
	char sink[512];
	while (fread(sink, 1, sizeof(sink), p) > 0)
		;
	int status = pclose(p);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static bool log_contains(const struct daemon_proc *p, const char *needle)
{
	char buf[65536];
	FILE *f = fopen(p->log, "r");
	if (!f)
		return false;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return strstr(buf, needle) != NULL;
}

static void test_command_line(void **state)
{
	(void)state;
	char out[512];

	assert_int_equal(run_daemon("--version", out, sizeof(out)), 0);
	assert_non_null(strstr(out, "asyncjobd " PACKAGE_VERSION));
	assert_int_equal(run_daemon("--help", out, sizeof(out)), 0);
	assert_non_null(strstr(out, "Usage: asyncjobd"));
	assert_int_equal(run_daemon("--bogus", out, sizeof(out)), 2);
	assert_int_equal(run_daemon("extra-argument", out, sizeof(out)), 2);
}

static void test_check_config(void **state)
{
	(void)state;
	char path[] = "/tmp/asyncjob-conf-XXXXXX", args[600], out[2048];
	int fd = mkstemp(path);
	const char *good = "# fine\nmax_connections = 10\nlog_level = debug\nwrite_root = /tmp\n";
	assert_true(write(fd, good, strlen(good)) > 0);
	close(fd);

	snprintf(args, sizeof(args), "--check-config -c %s", path);
	assert_int_equal(run_daemon(args, out, sizeof(out)), 0);
	assert_non_null(strstr(out, "OK"));

	FILE *f = fopen(path, "w");
	fprintf(f, "max_connections = 10\n\nmax_conections = 5\nlog_level = loud\nbogus line\n");
	fclose(f);
	assert_int_equal(run_daemon(args, out, sizeof(out)), 1);
	/* Every error, each naming the file and the line; a misspelt key
	 * with the nearest one. */
	char want[600];
	snprintf(want, sizeof(want), "%s:3: unknown setting 'max_conections'; did you mean "
		 "'max_connections'?", path);
	assert_non_null(strstr(out, want));
	snprintf(want, sizeof(want), "%s:4: log_level:", path);
	assert_non_null(strstr(out, want));
	snprintf(want, sizeof(want), "%s:5: expected 'key = value'", path);
	assert_non_null(strstr(out, want));

	/* Valid, but its only write root is missing: not called OK. */
	f = fopen(path, "w");
	fprintf(f, "write_root = /nonexistent/asyncjob-root\n");
	fclose(f);
	assert_int_equal(run_daemon(args, out, sizeof(out)), 0);
	assert_null(strstr(out, "configuration OK"));
	assert_non_null(strstr(out, "write root /nonexistent/asyncjob-root: No such file"));
	assert_non_null(strstr(out, "configuration valid, with 1 warning(s) above"));

	/* An explicitly named config file must exist. */
	unlink(path);
	assert_int_equal(run_daemon(args, out, sizeof(out)), 1);
	assert_non_null(strstr(out, path));
}

static void test_socket_permissions(void **state)
{
	(void)state;
	struct daemon_proc p;
	struct stat st;

	harness_start(&p, NULL);
	assert_int_equal(lstat(p.socket, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0660);
	assert_int_equal(harness_stop(&p, 10000), 0);
	/* Removed on the way out. */
	assert_int_equal(lstat(p.socket, &st), -1);
	harness_cleanup(&p);

	harness_start(&p, "socket_mode = 0600\n");
	assert_int_equal(lstat(p.socket, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(harness_stop(&p, 10000), 0);
	harness_cleanup(&p);
}

/* A group the socket can be given: root may give any, nogroup will do;
 * others only one of their own, other than the one it would have anyway.
 * Returns false when there is none. */
static bool group_for_socket(gid_t *ret, char *name, size_t name_size)
{
	if (geteuid() == 0) {
		struct group *g = getgrnam("nogroup");
		if (!g || g->gr_gid == getegid())
			return false;
		*ret = g->gr_gid;
		snprintf(name, name_size, "%s", g->gr_name);
		return true;
	}
	gid_t groups[256];
	int n = getgroups(256, groups);
	for (int i = 0; i < n; i++) {
		if (groups[i] != getegid()) {
			*ret = groups[i];
			/* A number: the group need not have a name. */
			snprintf(name, name_size, "%u", (unsigned)groups[i]);
			return true;
		}
	}
	return false;
}

static void test_socket_group(void **state)
{
	(void)state;
	struct daemon_proc p;
	struct stat st;
	char name[64], config[128];
	gid_t gid;

	if (!group_for_socket(&gid, name, sizeof(name))) {
		print_message("skipped: not root, and no group besides the primary one\n");
		skip();
	}
	snprintf(config, sizeof(config), "socket_group = %s\nsocket_mode = 0640\n", name);
	harness_start(&p, config);
	assert_int_equal(lstat(p.socket, &st), 0);
	assert_int_equal(st.st_gid, gid);
	assert_int_equal(st.st_mode & 0777, 0640);
	assert_int_equal(harness_stop(&p, 10000), 0);
	harness_cleanup(&p);
}

static void test_stale_socket_replaced(void **state)
{
	(void)state;
	struct daemon_proc p, q;
	struct sockaddr_un sun = { .sun_family = AF_UNIX };

	/* A socket file nobody listens on, as a crashed daemon leaves. */
	harness_start(&p, NULL);
	assert_int_equal(harness_stop(&p, 10000), 0);
	assert_true(strlen(p.socket) < sizeof(sun.sun_path));
	memcpy(sun.sun_path, p.socket, strlen(p.socket) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	close(fd);

	/* A new daemon on the stale path replaces the socket and answers
	 * there. */
	harness_start_at(&q, NULL, p.socket);
	assert_true(log_contains(&q, "removed stale socket"));
	struct json_object *r = call(q.socket, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"daemon.info\"}");
	assert_int_equal(tj_int(r, "result.pid"), q.pid);
	json_object_put(r);
	assert_int_equal(harness_stop(&q, 10000), 0);
	harness_cleanup(&q);
	harness_cleanup(&p);
}

static void test_refuses_live_socket_and_non_socket(void **state)
{
	(void)state;
	struct daemon_proc p, q;

	harness_start(&p, NULL);
	int status = harness_run_expecting_exit(&q, NULL, p.socket, 5000);
	assert_int_equal(status, 1);
	assert_true(log_contains(&q, "another asyncjobd"));
	harness_cleanup(&q);
	/* The first one was not disturbed. */
	struct json_object *r = call(p.socket, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"daemon.info\"}");
	json_object_put(r);
	assert_int_equal(harness_stop(&p, 10000), 0);

	/* A regular file where the socket should go is left alone. */
	char path[400];
	snprintf(path, sizeof(path), "%s/not-a-socket", p.dir);
	FILE *f = fopen(path, "w");
	fputs("precious\n", f);
	fclose(f);
	status = harness_run_expecting_exit(&q, NULL, path, 5000);
	assert_int_equal(status, 1);
	assert_true(log_contains(&q, "not a socket"));
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 9);
	harness_cleanup(&q);
	harness_cleanup(&p);
}

static size_t limit_in_force(const char *socket_path, const char *name)
{
	struct json_object *r = call(socket_path, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"daemon.info\"}");
	size_t v = (size_t)json_object_get_int64(tj_member(tj_member(tj_member(r, "result"), "limits"), name));
	json_object_put(r);
	return v;
}

static void rewrite_config(const struct daemon_proc *p, const char *text)
{
	FILE *f = fopen(p->config, "w");
	fputs(text, f);
	fclose(f);
}

static void test_sighup_reload(void **state)
{
	(void)state;
	struct daemon_proc p;

	harness_start(&p, "max_active_jobs = 7\n");
	assert_int_equal(limit_in_force(p.socket, "max_active_jobs"), 7);

	rewrite_config(&p, "max_active_jobs = 9\nlog_level = debug\n");
	kill(p.pid, SIGHUP);
	int tries = 0;
	while (limit_in_force(p.socket, "max_active_jobs") != 9 && tries++ < 200)
		usleep(10000);
	assert_int_equal(limit_in_force(p.socket, "max_active_jobs"), 9);

	/* A broken file leaves the running config alone and says why. */
	rewrite_config(&p, "max_active_jobs = many\n");
	kill(p.pid, SIGHUP);
	tries = 0;
	while (!log_contains(&p, "reload failed") && tries++ < 200)
		usleep(10000);
	assert_true(log_contains(&p, "reload failed"));
	assert_true(log_contains(&p, ":1:"));
	assert_int_equal(limit_in_force(p.socket, "max_active_jobs"), 9);

	assert_int_equal(harness_stop(&p, 10000), 0);
	harness_cleanup(&p);
}

/* Whoever sees the daemon answer may signal it straight away, so its
 * handlers are in place before its socket is. Each try sends SIGTERM the
 * moment a connect() succeeds; with the handlers installed after the
 * socket, about three tries in four caught the daemon without them. */
static void test_sigterm_as_soon_as_it_answers(void **state)
{
	(void)state;

	for (int i = 0; i < 20; i++) {
		struct daemon_proc p;
		harness_prepare(&p, NULL);
		p.pid = fork();
		assert_true(p.pid >= 0);
		if (p.pid == 0) {
			int fd = open(p.log, O_WRONLY | O_CREAT | O_APPEND, 0644);
			if (fd >= 0)
				dup2(fd, STDERR_FILENO);
			execl(getenv("ASYNCJOBD"), "asyncjobd", "-c", p.config, "-s", p.socket, (char *)NULL);
			_exit(127);
		}
		/* No sleep between attempts: the window is short. */
		for (long tries = 0;; tries++) {
			int fd = raw_connect(p.socket);
			if (fd >= 0) {
				close(fd);
				break;
			}
			if (tries % 1000 == 0)
				assert_int_equal(waitpid(p.pid, NULL, WNOHANG), 0);
			assert_true(tries < 10000000);
			sched_yield();
		}
		kill(p.pid, SIGTERM);
		assert_int_equal(harness_wait(&p, 10000), 0);
		harness_cleanup(&p);
	}
}

/* SIGTERM after SIGTERM, as fast as they can be sent, from the first one
 * until the daemon has exited: the ones that arrive while it cleans up
 * must not kill it. Freeing libevent's signal events puts back the default
 * action, which kills; before they were handled, every run died so. */
static void test_sigterm_flood_exits_cleanly(void **state)
{
	(void)state;

	for (int i = 0; i < 5; i++) {
		struct daemon_proc p;
		int status;
		harness_start(&p, NULL);
		for (long tries = 0; waitpid(p.pid, &status, WNOHANG) != p.pid; tries++) {
			assert_true(tries < 100000000);
			kill(p.pid, SIGTERM);
		}
		p.pid = 0;
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			harness_dump_log(&p);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
		harness_cleanup(&p);
	}
}

/* SIGTERM and SIGINT alike, with a daemon that cancels on shutdown (the
 * memory store, or on_shutdown = cancel): jobs canceled with code
 * shutdown, replies sent, exit 0. What a resuming daemon does is
 * test-store.sh's. */
static void shutdown_with_jobs_in_flight(int sig, const char *config_lines)
{
	struct daemon_proc p;

	harness_start(&p, config_lines);
	int waiter = raw_connect(p.socket), gatherer = raw_connect(p.socket);
	raw_send(waiter, "{\"jsonrpc\":\"2.0\",\"id\":\"w\",\"method\":\"job.submit\",\"params\":"
			 "{\"type\":\"sleep\",\"seconds\":60,\"wait\":true}}");
	raw_send(gatherer, "{\"jsonrpc\":\"2.0\",\"id\":\"g\",\"method\":\"job.gather\",\"params\":"
			   "{\"jobs\":[{\"type\":\"sleep\",\"seconds\":60},{\"type\":\"sleep\",\"seconds\":0}]}}");
	/* Both requests are in once another connection sees three jobs. */
	for (int tries = 0;; tries++) {
		struct json_object *r = call(p.socket, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"job.list\"}");
		size_t n = json_object_array_length(tj_member(tj_member(r, "result"), "jobs"));
		json_object_put(r);
		if (n == 3)
			break;
		assert_true(tries < 200);
		usleep(10000);
	}
	kill(p.pid, sig);

	struct json_object *r = tj_parse(raw_recv(waiter, 10000));
	struct json_object *job = tj_member(r, "result");
	assert_string_equal(json_object_get_string(tj_member(job, "state")), "canceled");
	assert_string_equal(json_object_get_string(tj_member(tj_member(job, "error"), "code")), "shutdown");
	json_object_put(r);

	r = tj_parse(raw_recv(gatherer, 10000));
	struct json_object *jobs = tj_member(tj_member(r, "result"), "jobs");
	assert_string_equal(json_object_get_string(tj_member(json_object_array_get_idx(jobs, 0), "state")),
			    "canceled");
	assert_string_equal(json_object_get_string(tj_member(json_object_array_get_idx(jobs, 1), "state")),
			    "succeeded");
	assert_false(json_object_get_boolean(tj_member(tj_member(r, "result"), "ok")));
	json_object_put(r);

	assert_true(raw_wait_eof(waiter, 10000));
	raw_close(waiter);
	raw_close(gatherer);
	assert_int_equal(harness_wait(&p, 10000), 0);
	harness_cleanup(&p);
}

static void test_sigterm_with_jobs_in_flight(void **state)
{
	(void)state;
	shutdown_with_jobs_in_flight(SIGTERM, "on_shutdown = cancel\n");
}

static void test_sigint_with_jobs_in_flight(void **state)
{
	(void)state;
	shutdown_with_jobs_in_flight(SIGINT, "store = memory\n");
}

/* A daemon still finishing a shutdown (here: replies a client does not
 * read, which it may take shutdown_grace_seconds to send) accepts nothing
 * new: the listener closes at once and the socket file goes with it. */
static void test_shutdown_stops_accepting_at_once(void **state)
{
	(void)state;
	enum { N = 2000 };
	struct daemon_proc p;
	struct stat st;
	int queued = 0;

	harness_start(&p, "shutdown_grace_seconds = 10\n");
	int lazy = raw_connect(p.socket);
	assert_true(lazy >= 0);
	/* Replies of 1 KB each, far more than the socket holds. One send:
	 * as many small ones would fill the socket with their overhead. */
	static const char req[] = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"daemon.info\"}\n";
	char *reqs = malloc(N * (sizeof(req) - 1));
	assert_non_null(reqs);
	for (int i = 0; i < N; i++)
		memcpy(reqs + i * (sizeof(req) - 1), req, sizeof(req) - 1);
	assert_int_equal(raw_send_bytes(lazy, reqs, N * (sizeof(req) - 1)), 0);
	free(reqs);
	for (int tries = 0; queued < 100000; tries++) {
		assert_true(tries < 500);
		usleep(10000);
		assert_int_equal(ioctl(lazy, FIONREAD, &queued), 0);
	}
	kill(p.pid, SIGTERM);

	for (int tries = 0; lstat(p.socket, &st) == 0; tries++) {
		assert_true(tries < 500);
		usleep(10000);
	}
	assert_int_equal(errno, ENOENT);
	assert_int_equal(raw_connect(p.socket), -ENOENT);
	/* Still there, waiting for the reader: the refusal was not just the
	 * daemon being gone. */
	assert_int_equal(waitpid(p.pid, NULL, WNOHANG), 0);

	/* Once the client reads what it is owed, the daemon exits 0. */
	assert_true(raw_wait_eof(lazy, 10000));
	raw_close(lazy);
	assert_int_equal(harness_wait(&p, 10000), 0);
	assert_true(log_contains(&p, "shutting down"));
	harness_cleanup(&p);
}

/* In a child switched to `uid`: runs the checks and exits 0 when all hold. */
static int as_other_user(const char *socket_path, uid_t uid, uint64_t root_job)
{
	char line[256];
	if (setgroups(0, NULL) < 0 || setgid((gid_t)uid) < 0 || setuid(uid) < 0)
		return 10;
	int fd = raw_connect(socket_path);
	if (fd < 0)
		return 11;

	/* Another user's job does not exist for us: get, wait, cancel. */
	const char *methods[] = { "job.get", "job.cancel" };
	for (int i = 0; i < 2; i++) {
		snprintf(line, sizeof(line), "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"%s\",\"params\":{\"id\":%llu}}",
			 methods[i], (unsigned long long)root_job);
		raw_send(fd, line);
		const char *reply = raw_recv(fd, 5000);
		if (!reply || !strstr(reply, "-32001"))
			return 12 + i;
	}
	snprintf(line, sizeof(line), "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"job.wait\",\"params\":{\"ids\":[%llu],\"timeout\":0}}",
		 (unsigned long long)root_job);
	raw_send(fd, line);
	const char *reply = raw_recv(fd, 5000);
	if (!reply || !strstr(reply, "-32001"))
		return 14;
	/* Nor in a list, nor in events. */
	raw_send(fd, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"job.list\"}");
	reply = raw_recv(fd, 5000);
	if (!reply || !strstr(reply, "\"jobs\":[]"))
		return 15;
	raw_send(fd, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"events.subscribe\",\"params\":{\"since\":0}}");
	reply = raw_recv(fd, 5000);
	if (!reply || strstr(reply, "job.updated") || !strstr(reply, "\"seq\""))
		return 16;
	/* Our own job works, and its events do reach us. */
	raw_send(fd, "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"job.submit\",\"params\":{\"type\":\"sleep\",\"seconds\":30,\"label\":\"nobody's\"}}");
	bool got_event = false, got_reply = false;
	for (int i = 0; i < 4 && !(got_event && got_reply); i++) {
		reply = raw_recv(fd, 5000);
		if (!reply)
			return 17;
		if (strstr(reply, "job.updated"))
			got_event = true;
		if (strstr(reply, "\"id\":4"))
			got_reply = true;
	}
	if (!got_event || !got_reply)
		return 18;
	raw_close(fd);
	return 0;
}

static void test_other_user_cannot_see_jobs(void **state)
{
	(void)state;
	struct daemon_proc p;
	long nobody = harness_nobody_uid();

	if (geteuid() != 0 || nobody < 0) {
		print_message("skipped: needs root and a 'nobody' account\n");
		skip();
	}
	harness_start(&p, "socket_mode = 0666\n");
	struct json_object *r = call(p.socket, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"job.submit\",\"params\":"
					       "{\"type\":\"sleep\",\"seconds\":30,\"label\":\"root's\"}}");
	uint64_t root_job = (uint64_t)json_object_get_int64(tj_member(tj_member(r, "result"), "id"));
	json_object_put(r);

	pid_t pid = fork();
	if (pid == 0)
		_exit(as_other_user(p.socket, (uid_t)nobody, root_job));
	int status;
	waitpid(pid, &status, 0);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);

	/* Root administers: it sees nobody's job as well as its own. */
	r = call(p.socket, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"job.list\"}");
	const char *text = json_object_to_json_string(r);
	assert_non_null(strstr(text, "nobody's"));
	assert_non_null(strstr(text, "root's"));
	json_object_put(r);

	assert_int_equal(harness_stop(&p, 10000), 0);
	harness_cleanup(&p);
}

/* What admin_sees found. */
enum {
	ADMIN_SEES = 0,           /* it canceled the job */
	ADMIN_NOT_FOUND = 20,     /* the job does not exist for it (-32001) */
};

/* In a child switched to `uid` with primary group `gid` and the
 * supplementary groups `groups`: can it see and cancel `root_job`? Exits
 * ADMIN_SEES or ADMIN_NOT_FOUND; anything else is a failure. */
static int admin_sees(const char *socket_path, uid_t uid, gid_t gid, const gid_t *groups,
		      size_t n_groups, uint64_t root_job)
{
	char line[256];
	if (setgroups(n_groups, groups) < 0 || setgid(gid) < 0 || setuid(uid) < 0)
		return 10;
	int fd = raw_connect(socket_path);
	if (fd < 0)
		return 11;
	snprintf(line, sizeof(line), "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"job.cancel\",\"params\":{\"id\":%llu}}",
		 (unsigned long long)root_job);
	raw_send(fd, line);
	const char *reply = raw_recv(fd, 5000);
	int found = 12;
	if (reply && strstr(reply, "-32001"))
		found = ADMIN_NOT_FOUND;
	else if (reply && strstr(reply, "\"state\":\"canceled\"") && strstr(reply, "canceled by uid"))
		found = ADMIN_SEES;
	raw_close(fd);
	return found;
}

/* Runs admin_sees in a child; returns its exit status. */
static int admin_sees_in_child(const char *socket_path, uid_t uid, gid_t gid, const gid_t *groups,
			       size_t n_groups, uint64_t root_job)
{
	int status;
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(admin_sees(socket_path, uid, gid, groups, n_groups, root_job));
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static uint64_t submit_long_sleep(const char *socket_path)
{
	struct json_object *r = call(socket_path, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"job.submit\",\"params\":"
						  "{\"type\":\"sleep\",\"seconds\":30}}");
	uint64_t id = (uint64_t)json_object_get_int64(tj_member(tj_member(r, "result"), "id"));
	json_object_put(r);
	return id;
}

static void test_admin_group_sees_all(void **state)
{
	(void)state;
	struct daemon_proc p;
	long nobody = harness_nobody_uid();
	struct group *g = getgrnam("nogroup");

	if (geteuid() != 0 || nobody < 0 || !g) {
		print_message("skipped: needs root, a 'nobody' account and a 'nogroup' group\n");
		skip();
	}
	gid_t gid = g->gr_gid;
	harness_start(&p, "socket_mode = 0666\nadmin_group = nogroup\n");
	uint64_t root_job = submit_long_sleep(p.socket);
	assert_int_equal(admin_sees_in_child(p.socket, (uid_t)nobody, gid, NULL, 0, root_job), ADMIN_SEES);
	assert_int_equal(harness_stop(&p, 10000), 0);
	harness_cleanup(&p);
}

/* The kernel reports a peer's supplementary groups (SO_PEERGROUPS): an
 * admin group that is only one of them counts, and another does not. */
static void test_admin_group_as_supplementary_group(void **state)
{
	(void)state;
	struct daemon_proc p;
	long nobody = harness_nobody_uid();
	struct group *g = getgrnam("nogroup");
	/* Numbers: the groups need not exist to be held. */
	const gid_t admins = 54321, others = 54322;

	if (geteuid() != 0 || nobody < 0 || !g) {
		print_message("skipped: needs root, a 'nobody' account and a 'nogroup' group\n");
		skip();
	}
	harness_start(&p, "socket_mode = 0666\nadmin_group = 54321\n");
	uint64_t root_job = submit_long_sleep(p.socket);

	assert_int_equal(admin_sees_in_child(p.socket, (uid_t)nobody, g->gr_gid, &others, 1, root_job),
			 ADMIN_NOT_FOUND);
	const gid_t several[] = { others, admins };
	assert_int_equal(admin_sees_in_child(p.socket, (uid_t)nobody, g->gr_gid, several, 2, root_job),
			 ADMIN_SEES);
	assert_int_equal(harness_stop(&p, 10000), 0);
	harness_cleanup(&p);
}

/* A daemon.info request padded with spaces to `size` bytes. */
static char *padded_request(size_t size)
{
	char *line = malloc(size + 1);
	assert_non_null(line);
	int n = snprintf(line, size + 1, "{\"jsonrpc\":\"2.0\",\"id\":\"padded\",\"method\":\"daemon.info\"}");
	memset(line + n, ' ', size - (size_t)n);
	line[size] = '\0';
	return line;
}

/* A request nested `depth` levels deep (as the parser counts: a scalar is
 * a level). */
static const char *nested_request(int depth)
{
	static char line[512];
	/* {"jsonrpc":..,"params":{"x": ... }}: the request and params are 2. */
	int n = snprintf(line, sizeof(line), "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"daemon.info\",\"params\":{\"x\":");
	for (int i = 0; i < depth - 3; i++)
		line[n++] = '[';
	line[n++] = '1';
	for (int i = 0; i < depth - 3; i++)
		line[n++] = ']';
	snprintf(line + n, sizeof(line) - (size_t)n, "}}");
	return line;
}

static int64_t info_member(const char *socket_path, const char *path)
{
	struct json_object *r = call(socket_path, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"daemon.info\"}");
	int64_t v = tj_int(r, path);
	json_object_put(r);
	return v;
}

/* Rewrites the config and sends SIGHUP; the reload is known to have been
 * applied once max_active_jobs reads `marker`. */
static void reload_with(const struct daemon_proc *p, const char *text, size_t marker)
{
	rewrite_config(p, text);
	kill(p->pid, SIGHUP);
	for (int tries = 0; limit_in_force(p->socket, "max_active_jobs") != marker; tries++) {
		assert_true(tries < 500);
		usleep(10000);
	}
}

/* Submits a sleep of 0 s and returns whether the daemon logged it at debug
 * level (it logs before it replies). */
static bool submit_is_logged(const struct daemon_proc *p)
{
	char want[96];
	struct json_object *r = call(p->socket, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"job.submit\","
						"\"params\":{\"type\":\"sleep\",\"seconds\":0}}");
	snprintf(want, sizeof(want), "job %lld (sleep) submitted", (long long)tj_int(r, "result.id"));
	json_object_put(r);
	return log_contains(p, want);
}

/* What daemon.c's daemon_apply_config applies at once: log_level,
 * max_json_depth, max_request_bytes (on connections already open too),
 * event_history, admin_group; and what it cannot (io_threads), said in the
 * log, the old value kept. */
static void test_sighup_reload_applies_settings(void **state)
{
	(void)state;
	struct daemon_proc p;
	long nobody = harness_nobody_uid();
	struct group *g = getgrnam("nogroup");
	bool as_root = geteuid() == 0 && nobody >= 0 && g;
	char config[512];

	harness_start(&p, "socket_mode = 0666\nmax_active_jobs = 7\n");
	int open_before = raw_connect(p.socket);
	assert_true(open_before >= 0);
	char *big = padded_request(3000);

	/* As started: debug logging, 32 levels, 1 MiB requests, every event
	 * kept, no admin group, 4 I/O threads. */
	assert_true(submit_is_logged(&p));
	assert_true(submit_is_logged(&p));
	raw_send(open_before, big);
	struct json_object *r = tj_parse(raw_recv(open_before, 5000));
	assert_string_equal(tj_str(r, "id"), "padded");
	json_object_put(r);
	r = call(p.socket, nested_request(9));
	assert_int_not_equal(tj_int(r, "error.code"), -32700);
	json_object_put(r);
	assert_int_equal(info_member(p.socket, "result.events.oldest_seq"), 1);
	assert_true(info_member(p.socket, "result.events.last_seq") > 2);
	uint64_t root_job = submit_long_sleep(p.socket);
	if (as_root)
		assert_int_equal(admin_sees_in_child(p.socket, (uid_t)nobody, g->gr_gid, NULL, 0, root_job),
				 ADMIN_NOT_FOUND);
	assert_int_equal(limit_in_force(p.socket, "io_threads"), 4);

	snprintf(config, sizeof(config),
		 "socket_mode = 0666\nmax_active_jobs = 8\nlog_level = warning\nmax_json_depth = 8\n"
		 "max_request_bytes = 2K\nevent_history = 2\nio_threads = 2\n%s",
		 as_root ? "admin_group = nogroup\n" : "");
	reload_with(&p, config, 8);

	assert_false(submit_is_logged(&p));
	r = call(p.socket, nested_request(9));
	assert_int_equal(tj_int(r, "error.code"), -32700);
	json_object_put(r);
	r = call(p.socket, nested_request(8));
	assert_int_not_equal(tj_int(r, "error.code"), -32700);
	json_object_put(r);
	/* The connection opened before the reload has the new limit too. */
	raw_send(open_before, big);
	r = tj_parse(raw_recv(open_before, 5000));
	assert_int_equal(tj_int(r, "error.code"), -32005);
	json_object_put(r);
	assert_true(raw_wait_eof(open_before, 5000));
	raw_close(open_before);
	int64_t last = info_member(p.socket, "result.events.last_seq");
	assert_int_equal(info_member(p.socket, "result.events.oldest_seq"), last - 1);
	if (as_root)
		assert_int_equal(admin_sees_in_child(p.socket, (uid_t)nobody, g->gr_gid, NULL, 0, root_job),
				 ADMIN_SEES);
	else
		print_message("admin_group after a reload not checked: needs root and nobody\n");
	/* io_threads takes a restart: said so (at warning level), and kept. */
	assert_true(log_contains(&p, "changing 'io_threads' takes a restart; keeping the old value"));
	assert_int_equal(limit_in_force(p.socket, "io_threads"), 4);

	/* And back: debug logging again. */
	reload_with(&p, "socket_mode = 0666\nmax_active_jobs = 9\nlog_level = debug\n", 9);
	assert_true(submit_is_logged(&p));

	free(big);
	assert_int_equal(harness_stop(&p, 10000), 0);
	harness_cleanup(&p);
}

/* ------------------------------------------------------------ default socket */

/* The daemon picks $XDG_RUNTIME_DIR/asyncjobd.sock only when not root: as
 * root these tests run it as nobody. Returns the uid to run it as (-1: as
 * we are), or -2 when we are root and there is no nobody to be. */
static long non_root_uid(void)
{
	if (geteuid() != 0)
		return -1;
	long nobody = harness_nobody_uid();
	return nobody >= 0 ? nobody : -2;
}

/* Starts the daemon without --socket as `uid` (-1: as we are), with
 * XDG_RUNTIME_DIR set to `runtime_dir` (NULL: unset). */
/* The harness's state directory (p->dir/state, for jobs.db), made for
 * `uid` (-1: ourselves), who could not make it in p->dir. */
static void give_state_directory(const struct daemon_proc *p, long uid)
{
	char state_dir[300];

	snprintf(state_dir, sizeof(state_dir), "%s/state", p->dir);
	assert_int_equal(mkdir(state_dir, 0700), 0);
	if (uid >= 0)
		assert_int_equal(chown(state_dir, (uid_t)uid, (gid_t)-1), 0);
}

static pid_t spawn_without_socket(const struct daemon_proc *p, long uid, const char *runtime_dir)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid > 0)
		return pid;
	int fd = open(p->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
	if (fd >= 0) {
		dup2(fd, STDERR_FILENO);
		close(fd);
	}
	if (uid >= 0) {
		struct passwd *pw = getpwuid((uid_t)uid);
		if (!pw || setgroups(0, NULL) < 0 || setgid(pw->pw_gid) < 0 || setuid((uid_t)uid) < 0)
			_exit(126);
	}
	if (runtime_dir)
		setenv("XDG_RUNTIME_DIR", runtime_dir, 1);
	else
		unsetenv("XDG_RUNTIME_DIR");
	/* A user's default write root is $HOME: one that exists. */
	setenv("HOME", p->dir, 1);
	execl(getenv("ASYNCJOBD"), "asyncjobd", "-c", p->config, (char *)NULL);
	_exit(127);
}

static void test_default_socket_in_xdg_runtime_dir(void **state)
{
	(void)state;
	struct daemon_proc p;
	struct stat st;
	char runtime_dir[300], want[400];
	long uid = non_root_uid();

	if (uid == -2) {
		print_message("skipped: as root, needs a 'nobody' account\n");
		skip();
	}
	harness_prepare(&p, NULL);
	snprintf(runtime_dir, sizeof(runtime_dir), "%s/runtime", p.dir);
	assert_int_equal(mkdir(runtime_dir, 0700), 0);
	if (uid >= 0)
		assert_int_equal(chown(runtime_dir, (uid_t)uid, (gid_t)-1), 0);
	give_state_directory(&p, uid);
	snprintf(want, sizeof(want), "%s/asyncjobd.sock", runtime_dir);

	p.pid = spawn_without_socket(&p, uid, runtime_dir);
	int fd = -1;
	for (int tries = 0; (fd = raw_connect(want)) < 0; tries++) {
		if (tries == 1000 || waitpid(p.pid, NULL, WNOHANG) == p.pid) {
			harness_dump_log(&p);
			fail_msg("no daemon answered on %s", want);
		}
		usleep(10000);
	}
	raw_send(fd, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"daemon.info\"}");
	struct json_object *r = tj_parse(raw_recv(fd, 5000));
	assert_int_equal(tj_int(r, "result.pid"), p.pid);
	json_object_put(r);
	raw_close(fd);
	assert_int_equal(lstat(want, &st), 0);
	assert_int_equal(st.st_uid, uid >= 0 ? (uid_t)uid : geteuid());
	assert_int_equal(harness_stop(&p, 10000), 0);
	assert_int_equal(lstat(want, &st), -1);
	harness_cleanup(&p);
}

static void test_default_socket_needs_xdg_runtime_dir(void **state)
{
	(void)state;
	struct daemon_proc p;
	long uid = non_root_uid();

	if (uid == -2) {
		print_message("skipped: as root, needs a 'nobody' account\n");
		skip();
	}
	/* Unset, or not an absolute path: no socket to pick. */
	const char *runtime_dirs[] = { NULL, "relative/dir" };
	for (size_t i = 0; i < 2; i++) {
		harness_prepare(&p, NULL);
		give_state_directory(&p, uid);
		pid_t pid = spawn_without_socket(&p, uid, runtime_dirs[i]);
		int status;
		for (int tries = 0; waitpid(pid, &status, WNOHANG) != pid; tries++) {
			if (tries == 1000) {
				kill(pid, SIGKILL);
				waitpid(pid, NULL, 0);
				harness_dump_log(&p);
				fail_msg("the daemon did not exit without XDG_RUNTIME_DIR");
			}
			usleep(10000);
		}
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 1);
		assert_true(log_contains(&p, "XDG_RUNTIME_DIR is not set; name a socket with --socket"));
		harness_cleanup(&p);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_command_line),
		cmocka_unit_test(test_check_config),
		cmocka_unit_test(test_socket_permissions),
		cmocka_unit_test(test_socket_group),
		cmocka_unit_test(test_stale_socket_replaced),
		cmocka_unit_test(test_refuses_live_socket_and_non_socket),
		cmocka_unit_test(test_sighup_reload),
		cmocka_unit_test(test_sigterm_as_soon_as_it_answers),
		cmocka_unit_test(test_sigterm_flood_exits_cleanly),
		cmocka_unit_test(test_sigterm_with_jobs_in_flight),
		cmocka_unit_test(test_sigint_with_jobs_in_flight),
		cmocka_unit_test(test_shutdown_stops_accepting_at_once),
		cmocka_unit_test(test_other_user_cannot_see_jobs),
		cmocka_unit_test(test_admin_group_sees_all),
		cmocka_unit_test(test_admin_group_as_supplementary_group),
		cmocka_unit_test(test_sighup_reload_applies_settings),
		cmocka_unit_test(test_default_socket_in_xdg_runtime_dir),
		cmocka_unit_test(test_default_socket_needs_xdg_runtime_dir),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
