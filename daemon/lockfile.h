/* A lock file beside a path (PATH.lock), held for the process's life: one
 * daemon per socket, one daemon per job database. flock(2), so the lock
 * goes with the process however it ends, and a stale file locks nothing. */
#ifndef ASYNCJOBD_LOCKFILE_H
#define ASYNCJOBD_LOCKFILE_H

#include <stddef.h>

/* Opens PATH.lock (made, mode 0600, when missing; never through a symlink)
 * and locks it without waiting. Returns its descriptor, to keep open while
 * the lock is wanted; -EBUSY when another process holds it (`err` is left
 * for the caller, who knows what the lock guards); or another negative
 * errno with `err` naming the file. */
int lockfile_take(const char *path, char *err, size_t err_size);

/* mkdir -p for a directory of the daemon's own (the state directory),
 * private to its user (0700). Returns 0 or a negative errno. */
int make_private_directory(const char *dir);

#endif
