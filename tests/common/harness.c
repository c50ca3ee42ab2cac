/* The integration-test harness. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/common/harness.h"

static void fail(const struct daemon_proc *p, const char *what, const char *detail)
{
	fprintf(stderr, "harness: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
	if (p)
		harness_dump_log(p);
	abort();
}

void harness_dump_log(const struct daemon_proc *p)
{
	char buf[4096];
	FILE *f = fopen(p->log, "r");
	if (!f)
		return;
	fprintf(stderr, "---- daemon log (%s)\n", p->log);
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		fwrite(buf, 1, n, stderr);
	fprintf(stderr, "----\n");
	fclose(f);
}

void harness_prepare(struct daemon_proc *p, const char *config_lines)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->dir, sizeof(p->dir), "/tmp/asyncjob-test-XXXXXX");
	if (!mkdtemp(p->dir))
		fail(NULL, "mkdtemp", strerror(errno));
	/* Readable by others: a test may connect as another user. */
	chmod(p->dir, 0755);
	snprintf(p->socket, sizeof(p->socket), "%s/asyncjobd.sock", p->dir);
	snprintf(p->config, sizeof(p->config), "%s/asyncjobd.conf", p->dir);
	snprintf(p->log, sizeof(p->log), "%s/asyncjobd.log", p->dir);
	FILE *f = fopen(p->config, "w");
	if (!f)
		fail(NULL, "cannot write", p->config);
	/* Each daemon its own job database (the default store is SQLite), in
	 * its own directory; config_lines may name another. */
	fprintf(f, "# written by the test harness\nlog_level = debug\n"
		"state_directory = %s/state\n%s\n", p->dir, config_lines ? config_lines : "");
	fclose(f);
}

static pid_t spawn(struct daemon_proc *p, const char *socket_path, void (*in_child)(void))
{
	const char *bin = getenv("ASYNCJOBD");
	if (!bin)
		fail(NULL, "ASYNCJOBD is not set (run the tests with make check)", NULL);
	pid_t pid = fork();
	if (pid < 0)
		fail(NULL, "fork", strerror(errno));
	if (pid == 0) {
		int fd = open(p->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd >= 0) {
			dup2(fd, STDERR_FILENO);
			close(fd);
		}
		if (in_child)
			in_child();
		execl(bin, bin, "-c", p->config, "-s", socket_path, (char *)NULL);
		_exit(127);
	}
	return pid;
}

static void start(struct daemon_proc *p, const char *config_lines, const char *socket_path,
		  void (*in_child)(void))
{
	harness_prepare(p, config_lines);
	if (socket_path)
		snprintf(p->socket, sizeof(p->socket), "%s", socket_path);
	p->pid = spawn(p, p->socket, in_child);
	for (int i = 0; i < 1000; i++) {
		int fd = raw_connect(p->socket);
		if (fd >= 0) {
			close(fd);
			return;
		}
		int status;
		if (waitpid(p->pid, &status, WNOHANG) == p->pid)
			fail(p, "the daemon exited during startup", NULL);
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	fail(p, "the daemon did not answer within 10 s", NULL);
}

void harness_start(struct daemon_proc *p, const char *config_lines)
{
	start(p, config_lines, NULL, NULL);
}

void harness_start_with(struct daemon_proc *p, const char *config_lines, void (*in_child)(void))
{
	start(p, config_lines, NULL, in_child);
}

void harness_start_at(struct daemon_proc *p, const char *config_lines, const char *socket_path)
{
	start(p, config_lines, socket_path, NULL);
}

static int wait_exit(pid_t pid, int timeout_ms)
{
	int status;
	for (int waited = 0; waited < timeout_ms; waited += 10) {
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return -1;
}

int harness_run_expecting_exit(struct daemon_proc *p, const char *config_lines,
			       const char *socket_path, int timeout_ms)
{
	harness_prepare(p, config_lines);
	pid_t pid = spawn(p, socket_path ? socket_path : p->socket, NULL);
	return wait_exit(pid, timeout_ms);
}

int harness_stop(struct daemon_proc *p, int timeout_ms)
{
	if (p->pid <= 0)
		return -1;
	kill(p->pid, SIGTERM);
	int r = wait_exit(p->pid, timeout_ms);
	p->pid = 0;
	if (r != 0)
		harness_dump_log(p);
	return r;
}

int harness_wait(struct daemon_proc *p, int timeout_ms)
{
	if (p->pid <= 0)
		return -1;
	int r = wait_exit(p->pid, timeout_ms);
	p->pid = 0;
	if (r != 0)
		harness_dump_log(p);
	return r;
}

void harness_cleanup(struct daemon_proc *p)
{
	char cmd[400];
	if (p->pid > 0) {
		kill(p->pid, SIGKILL);
		waitpid(p->pid, NULL, 0);
		p->pid = 0;
	}
	if (!p->dir[0] || strncmp(p->dir, "/tmp/asyncjob-test-", 19) != 0)
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", p->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "harness: could not remove %s\n", p->dir);
}

int raw_connect(const char *socket_path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", socket_path);
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

int raw_send_bytes(int fd, const void *data, size_t len)
{
	const char *p = data;
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int raw_send(int fd, const char *line)
{
	int r = raw_send_bytes(fd, line, strlen(line));
	return r < 0 ? r : raw_send_bytes(fd, "\n", 1);
}

/* Bytes read past the last returned line, per descriptor. */
#define MAX_FDS 4096
static struct pending_bytes {
	char *buf;
	size_t len, cap;
} pending[MAX_FDS];

const char *raw_recv(int fd, int timeout_ms)
{
	static char *line;
	if (fd < 0 || fd >= MAX_FDS)
		return NULL;
	struct pending_bytes *pb = &pending[fd];
	struct timespec start;
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		char *nl = pb->len ? memchr(pb->buf, '\n', pb->len) : NULL;
		if (nl) {
			size_t n = (size_t)(nl - pb->buf);
			free(line);
			line = malloc(n + 1);
			memcpy(line, pb->buf, n);
			line[n] = '\0';
			memmove(pb->buf, nl + 1, pb->len - n - 1);
			pb->len -= n + 1;
			return line;
		}
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		long elapsed = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
		if (elapsed >= timeout_ms)
			return NULL;
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		if (poll(&pfd, 1, (int)(timeout_ms - elapsed)) <= 0)
			continue;
		if (pb->cap - pb->len < 65536) {
			pb->cap = pb->cap ? pb->cap * 2 : 131072;
			pb->buf = realloc(pb->buf, pb->cap);
		}
		ssize_t n = recv(fd, pb->buf + pb->len, pb->cap - pb->len, 0);
		if (n <= 0) {
			pb->len = 0;
			return NULL;
		}
		pb->len += (size_t)n;
	}
}

void raw_close(int fd)
{
	if (fd >= 0 && fd < MAX_FDS)
		pending[fd].len = 0;
	close(fd);
}

bool raw_wait_eof(int fd, int timeout_ms)
{
	char buf[4096];
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	for (;;) {
		if (poll(&pfd, 1, timeout_ms) <= 0)
			return false;
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		if (n <= 0) {
			if (fd >= 0 && fd < MAX_FDS)
				pending[fd].len = 0;
			return true;
		}
	}
}

long harness_nobody_uid(void)
{
	struct passwd *pw = getpwnam("nobody");
	return pw ? (long)pw->pw_uid : -1;
}

void harness_sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int harness_remove_tree(const char *dir)
{
	pid_t pid = fork();
	int status;

	if (pid < 0)
		return -1;
	if (pid == 0) {
		execlp("rm", "rm", "-rf", "--", dir, (char *)NULL);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return -1;
	return 0;
}

int harness_count_entries(const char *dir, const char *prefix)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (strncmp(e->d_name, prefix, strlen(prefix)) == 0)
			n++;
	}
	closedir(d);
	return n;
}

/* ------------------------------------------------------------ test HTTP server */

int test_ca_create(char *dir, size_t size)
{
	const char *srcdir = getenv("ASYNCJOB_SRCDIR");
	char script[512], tmpl[] = "/tmp/asyncjob-ca-XXXXXX";
	int status;

	if (!srcdir) {
		fprintf(stderr, "harness: ASYNCJOB_SRCDIR is not set (run the tests with make check)\n");
		return -1;
	}
	if (!mkdtemp(tmpl)) {
		fprintf(stderr, "harness: mkdtemp: %s\n", strerror(errno));
		return -1;
	}
	snprintf(script, sizeof(script), "%s/tests/common/make-test-ca.sh", srcdir);
	pid_t pid = fork();
	if (pid < 0) {
		fprintf(stderr, "harness: fork: %s\n", strerror(errno));
		harness_remove_tree(tmpl);
		return -1;
	}
	if (pid == 0) {
		execl("/bin/sh", "sh", script, tmpl, (char *)NULL);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "harness: %s %s failed\n", script, tmpl);
		harness_remove_tree(tmpl);
		return -1;
	}
	if (snprintf(dir, size, "%s", tmpl) >= (int)size) {
		harness_remove_tree(tmpl);
		return -1;
	}
	return 0;
}

void test_ca_remove(const char *dir)
{
	if (!dir || strncmp(dir, "/tmp/asyncjob-ca-", 17) != 0)
		return;
	if (harness_remove_tree(dir) < 0)
		fprintf(stderr, "harness: could not remove %s\n", dir);
}

static void dump_file(const char *what, const char *path)
{
	char buf[4096];
	size_t n;
	FILE *f = fopen(path, "r");

	if (!f)
		return;
	fprintf(stderr, "---- %s (%s)\n", what, path);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		fwrite(buf, 1, n, stderr);
	fprintf(stderr, "----\n");
	fclose(f);
}

/* Reads the port line from `fd` within timeout_ms. */
static int read_ports(struct test_server *s, int fd, int timeout_ms)
{
	char line[128];
	size_t len = 0;
	struct timespec start, now;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		char *nl = memchr(line, '\n', len);
		if (nl) {
			*nl = '\0';
			if (sscanf(line, "http=%u http2=%u https=%u https2=%u", &s->http, &s->http2,
				   &s->https, &s->https2) != 4 || !s->http || !s->http2) {
				fprintf(stderr, "harness: unexpected line from the test server: %s\n", line);
				return -1;
			}
			return 0;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		long elapsed = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
		if (elapsed >= timeout_ms || len >= sizeof(line) - 1) {
			fprintf(stderr, "harness: no port line from the test server within %d ms\n", timeout_ms);
			return -1;
		}
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int r = poll(&pfd, 1, (int)(timeout_ms - elapsed));
		if (r < 0 && errno != EINTR)
			return -1;
		if (r <= 0)
			continue;
		ssize_t n = read(fd, line + len, sizeof(line) - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fprintf(stderr, "harness: the test server exited before listening\n");
			return -1;
		}
		len += (size_t)n;
	}
}

int test_server_start(struct test_server *s, const char *ca_dir, int timeout_ms)
{
	const char *bin = getenv("ASYNCJOB_TEST_SERVER");
	char cert[300], key[300];
	int pfd[2];

	memset(s, 0, sizeof(*s));
	if (!bin) {
		fprintf(stderr, "harness: ASYNCJOB_TEST_SERVER is not set (run the tests with make check)\n");
		return -1;
	}
	if (ca_dir) {
		snprintf(s->dir, sizeof(s->dir), "%s", ca_dir);
	} else {
		if (test_ca_create(s->dir, sizeof(s->dir)) < 0)
			return -1;
		s->own_dir = true;
	}
	snprintf(cert, sizeof(cert), "%s/server.pem", s->dir);
	snprintf(key, sizeof(key), "%s/server.key", s->dir);
	snprintf(s->log, sizeof(s->log), "%s/server-%ld.log", s->dir, (long)getpid());
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		fprintf(stderr, "harness: pipe: %s\n", strerror(errno));
		goto fail;
	}
	pid_t pid = fork();
	if (pid < 0) {
		fprintf(stderr, "harness: fork: %s\n", strerror(errno));
		close(pfd[0]);
		close(pfd[1]);
		goto fail;
	}
	if (pid == 0) {
		int fd = open(s->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd >= 0)
			dup2(fd, STDERR_FILENO);
		dup2(pfd[1], STDOUT_FILENO);
		execl(bin, bin, "--tls-cert", cert, "--tls-key", key, (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	s->pid = pid;
	int r = read_ports(s, pfd[0], timeout_ms);
	close(pfd[0]);
	if (r < 0) {
		dump_file("test server stderr", s->log);
		bool own = s->own_dir;
		s->own_dir = false;
		test_server_stop(s, 5000);
		s->own_dir = own;
		goto fail;
	}
	return 0;
fail:
	if (s->own_dir)
		test_ca_remove(s->dir);
	s->own_dir = false;
	s->pid = 0;
	return -1;
}

int test_server_stop(struct test_server *s, int timeout_ms)
{
	int r = -1;

	if (s->pid > 0) {
		kill(s->pid, SIGTERM);
		r = wait_exit(s->pid, timeout_ms);
		s->pid = 0;
		if (r != 0) {
			fprintf(stderr, "harness: the test server exited with status %d\n", r);
			dump_file("test server stderr", s->log);
		}
	}
	if (s->log[0])
		unlink(s->log);
	s->log[0] = '\0';
	if (s->own_dir)
		test_ca_remove(s->dir);
	s->own_dir = false;
	return r;
}
