/* The floor for a round trip: a message and its answer over a Unix socket
 * pair between two processes, doing nothing else.
 *   pingpong [ROUNDS]   prints rounds=N median_us=... p99_us=... */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	size_t rounds = argc > 1 ? strtoul(argv[1], NULL, 10) : 100000;
	/* About the size of a job.submit request and its reply. */
	char msg[256], buf[512];
	int sv[2];

	memset(msg, 'x', sizeof(msg));
	msg[sizeof(msg) - 1] = '\n';
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		return 1;
	pid_t pid = fork();
	if (pid == 0) {
		close(sv[0]);
		for (;;) {
			ssize_t n = read(sv[1], buf, sizeof(buf));
			if (n <= 0 || write(sv[1], buf, (size_t)n) != n)
				_exit(0);
		}
	}
	close(sv[1]);
	double *t = calloc(rounds, sizeof(*t));
	for (size_t i = 0; i < rounds + 1000; i++) {
		double t0 = now();
		if (write(sv[0], msg, sizeof(msg)) != (ssize_t)sizeof(msg))
			return 1;
		size_t got = 0;
		while (got < sizeof(msg)) {
			ssize_t n = read(sv[0], buf, sizeof(buf));
			if (n <= 0)
				return 1;
			got += (size_t)n;
		}
		if (i >= 1000)
			t[i - 1000] = now() - t0;
	}
	close(sv[0]);
	waitpid(pid, NULL, 0);
	qsort(t, rounds, sizeof(*t), cmp);
	printf("rounds=%zu median_us=%.2f p99_us=%.2f\n", rounds, t[rounds / 2] * 1e6,
	       t[(size_t)(rounds * 0.99)] * 1e6);
	free(t);
	return 0;
}
