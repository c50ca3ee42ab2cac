/* The filesystem's own limit for the write scenario: the system calls a
 * write job makes, in a tight loop in C with nothing around them, so the
 * table can show how much of a write's time is the filesystem's.
 *
 *   fsfloor DIR N SIZE atomic|inplace|sync [THREADS]
 *
 * atomic: what asyncjobd's `replace` does (a temporary file created
 * exclusively beside the target, written, renamed over it); inplace: what
 * aiofiles.open(path, "w") does (open with O_TRUNC, write, close); sync:
 * the floor of a durable commit (SIZE bytes written over the start of one
 * file, then fdatasync, one at a time), which no store_sync = full commit
 * can beat. Prints writes=N seconds=... writes_per_second=... */
#include "config.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct run {
	int dirfd;
	size_t first, count, size;
	bool atomic;
	const char *buf;
	bool failed;
};

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *writer(void *arg)
{
	struct run *r = arg;
	char name[64], tmp[64];

	for (size_t i = r->first; i < r->first + r->count; i++) {
		snprintf(name, sizeof(name), "f%zu", i);
		snprintf(tmp, sizeof(tmp), ".f%zu.tmp", i);
		const char *path = r->atomic ? tmp : name;
		int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (r->atomic ? O_EXCL : O_TRUNC);
		int fd = openat(r->dirfd, path, flags, 0644);
		if (fd < 0 || write(fd, r->buf, r->size) != (ssize_t)r->size || close(fd) < 0 ||
		    (r->atomic && renameat(r->dirfd, tmp, r->dirfd, name) < 0)) {
			perror("fsfloor");
			r->failed = true;
			return NULL;
		}
	}
	return NULL;
}

static int sync_floor(const char *dir, size_t n, size_t size)
{
	char path[4096];
	char *buf = malloc(size ? size : 1);

	snprintf(path, sizeof(path), "%s/sync-floor", dir);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || !buf) {
		perror("fsfloor");
		return 1;
	}
	memset(buf, 'x', size);
	double t0 = now();
	for (size_t i = 0; i < n; i++)
		if (pwrite(fd, buf, size, 0) != (ssize_t)size || fdatasync(fd) < 0) {
			perror("fsfloor");
			return 1;
		}
	double t = now() - t0;
	close(fd);
	unlink(path);
	free(buf);
	printf("writes=%zu seconds=%.4f writes_per_second=%.0f\n", n, t, (double)n / t);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 5) {
		fprintf(stderr, "usage: fsfloor DIR N SIZE atomic|inplace|sync [THREADS]\n");
		return 2;
	}
	size_t n = strtoul(argv[2], NULL, 10), size = strtoul(argv[3], NULL, 10);
	bool atomic = strcmp(argv[4], "atomic") == 0;
	if (strcmp(argv[4], "sync") == 0)
		return sync_floor(argv[1], n, size);
	size_t threads = argc > 5 ? strtoul(argv[5], NULL, 10) : 1;
	int dirfd = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	char *buf = malloc(size ? size : 1);
	struct run *runs = calloc(threads, sizeof(*runs));
	pthread_t *tids = calloc(threads, sizeof(*tids));

	if (dirfd < 0 || !buf || !runs || !tids || threads == 0) {
		perror("fsfloor");
		return 1;
	}
	memset(buf, 'x', size);
	double t0 = now();
	for (size_t t = 0; t < threads; t++) {
		runs[t] = (struct run){ .dirfd = dirfd, .first = n * t / threads,
					.count = n * (t + 1) / threads - n * t / threads,
					.size = size, .atomic = atomic, .buf = buf };
		if (pthread_create(&tids[t], NULL, writer, &runs[t]) != 0) {
			perror("fsfloor: pthread_create");
			return 1;
		}
	}
	bool failed = false;
	for (size_t t = 0; t < threads; t++) {
		pthread_join(tids[t], NULL);
		failed |= runs[t].failed;
	}
	double t = now() - t0;
	printf("writes=%zu seconds=%.4f writes_per_second=%.0f\n", n, t, (double)n / t);
	return failed ? 1 : 0;
}
