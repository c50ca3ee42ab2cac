/* Lock files beside a path (lockfile.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/lockfile.h"
#include "daemon/xalloc.h"

int lockfile_take(const char *path, char *err, size_t err_size)
{
	size_t n = strlen(path) + sizeof(".lock");
	char *lock_path = xmalloc(n);
	int fd;

	snprintf(lock_path, n, "%s.lock", path);
	fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		fd = -errno;
		snprintf(err, err_size, "cannot open lock file %s: %s", lock_path, strerror(-fd));
	} else if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int r = errno == EWOULDBLOCK ? -EBUSY : -errno;
		if (r != -EBUSY)
			snprintf(err, err_size, "cannot lock %s: %s", lock_path, strerror(-r));
		close(fd);
		fd = r;
	}
	free(lock_path);
	return fd;
}

int make_private_directory(const char *dir)
{
	char *p = xstrdup(dir);
	int r = 0;

	for (char *c = p + 1; ; c++) {
		if (*c != '/' && *c != '\0')
			continue;
		char saved = *c;
		*c = '\0';
		if (mkdir(p, 0700) < 0 && errno != EEXIST) {
			r = -errno;
			break;
		}
		*c = saved;
		if (!saved)
			break;
	}
	free(p);
	return r;
}
