/* powerloss-shim: an LD_PRELOAD library that records, for the files of one
 * directory, everything a disk would need to know to lose what was not
 * flushed. test-powerloss.py preloads it into asyncjobd, kills the daemon
 * with SIGKILL, and builds from the record what the directory could hold
 * after a power cut at that moment (see the model there).
 *
 * POWERLOSS_DIR names the directory (a path without symbolic links, as
 * realpath(3) gives it); POWERLOSS_LOG names the record, a file the shim
 * appends to. Without both, the shim does nothing but pass calls on.
 * POWERLOSS_LYING_DISK=1 makes it a disk that answers every flush at once
 * without flushing: fsync and fdatasync of the directory's files return 0
 * and are not recorded, so nothing after the start counts as durable (the
 * test must then find losses; it shows that it can).
 *
 * The record is the test's instrument, not the simulated disk: it is
 * written with ordinary write(2), and a record of a change is written
 * before the change is made, so it holds every change a call that returned
 * made. Records (native byte order; struct record_header, then `len` bytes):
 *
 *   C ino, name      a file was created by open (logged after it was)
 *   O ino, name      an existing file was opened
 *   W ino, a=offset  data: about to write it there
 *   T ino, a=size    about to truncate or extend to it
 *   U name           about to unlink it
 *   R a=len(old)     old name then new name: about to rename
 *   X a=result       the result of the W, T, U or R just before (bytes
 *                    written, 0, or -errno); missing when the process died
 *                    in the call, which then may or may not have happened
 *   S ino            fsync or fdatasync of the file returned 0
 *   Y                fsync or fdatasync of the directory returned 0
 *   ! message        something the model cannot follow happened
 *
 * Creations, unlinks and renames are recorded so that the test can model
 * the directory too: a name is durable once the directory has been flushed
 * (Y) after the change, as POSIX has it (SQLite flushes the directory
 * after creating its journal or WAL with synchronous = FULL, and asyncjobd
 * after creating jobs.db); until then the power cut may undo it.
 *
 * What is intercepted is what SQLite and asyncjobd use on the files of the
 * state directory (strace -f -e trace=file,desc of the daemon shows
 * openat, pwrite64, ftruncate, fdatasync, fsync, unlink): open, open64,
 * openat, openat64, creat, creat64 and their _FORTIFY_SOURCE forms, close,
 * write, pwrite, pwrite64, ftruncate, ftruncate64, fsync, fdatasync,
 * unlink, unlinkat, rename, renameat, renameat2, mmap and mmap64. Only
 * files directly in the directory are followed. A file whose name ends in
 * -shm is not: it is SQLite's shared memory for the WAL index, which is
 * mapped, never flushed, and rebuilt from the WAL after a crash.
 *
 * Limits, and what catches them: a write by some other path (writev,
 * fallocate, a dup'ed descriptor, stdio, a writable shared mapping of a
 * followed file, a file in a subdirectory) is either reported with a '!'
 * record or missed; the test compares, after every kill, each file the
 * record says the directory holds with the real file, so a missed write
 * fails the round instead of passing unseen.
 *
 * Thread safety: one mutex orders the records and the calls they describe,
 * so the record's order is the order the calls were made in. A call on a
 * descriptor the shim does not follow (a socket, a pipe, a file elsewhere)
 * takes no lock: the descriptor table is read with atomics, so a signal
 * handler that writes to a pipe cannot deadlock on the shim. */
#undef _FORTIFY_SOURCE
#undef _FILE_OFFSET_BITS
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

/* The _FORTIFY_SOURCE entry points callers built with it use; glibc
 * declares them only under _FORTIFY_SOURCE. */
int __open_2(const char *path, int flags);
int __open64_2(const char *path, int flags);
int __openat_2(int dirfd, const char *path, int flags);
int __openat64_2(int dirfd, const char *path, int flags);

struct record_header {
	uint8_t type;
	uint8_t pad[3];
	uint32_t len;
	uint64_t ino;
	uint64_t a;
	uint64_t b;
};

/* Descriptors the shim follows: the inode of a file in the directory, or
 * DIR_MARK for the directory itself; 0 for any other. */
#define FD_TABLE_SIZE 65536
#define DIR_MARK UINT64_MAX
static _Atomic uint64_t fd_table[FD_TABLE_SIZE];

static pthread_once_t once = PTHREAD_ONCE_INIT;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static bool active;
static bool lying_disk;
static char dir[PATH_MAX];
static size_t dir_len;
static int log_fd = -1;

static int (*real_openat)(int, const char *, int, ...);
static int (*real_close)(int);
static ssize_t (*real_write)(int, const void *, size_t);
/* The 64-bit forms, which take every offset on 32-bit systems too. */
static ssize_t (*real_pwrite64)(int, const void *, size_t, off64_t);
static int (*real_ftruncate64)(int, off64_t);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static int (*real_unlinkat)(int, const char *, int);
static int (*real_renameat2)(int, const char *, int, const char *, unsigned);
static void *(*real_mmap64)(void *, size_t, int, int, int, off64_t);

/* ------------------------------------------------------------ setup */

static void *next_symbol(const char *name)
{
	void *p = dlsym(RTLD_NEXT, name);

	if (!p) {
		/* Nothing to pass the call on to: no process can go on. */
		fprintf(stderr, "powerloss-shim: no %s to pass calls on to\n", name);
		abort();
	}
	return p;
}

/* ISO C has no conversion from void * to a function pointer; POSIX
 * promises dlsym's result can be used as one. */
#define RESOLVE(var, name)                                \
	do {                                              \
		void *sym_ = next_symbol(name);           \
		memcpy(&(var), &sym_, sizeof(var));       \
	} while (0)

static void atfork_prepare(void)
{
	pthread_mutex_lock(&lock);
}

static void atfork_release(void)
{
	pthread_mutex_unlock(&lock);
}

/* The functions calls are passed on to, found at the first call. */
static void resolve(void)
{
	RESOLVE(real_openat, "openat");
	RESOLVE(real_close, "close");
	RESOLVE(real_write, "write");
	RESOLVE(real_pwrite64, "pwrite64");
	RESOLVE(real_ftruncate64, "ftruncate64");
	RESOLVE(real_fsync, "fsync");
	RESOLVE(real_fdatasync, "fdatasync");
	RESOLVE(real_unlinkat, "unlinkat");
	RESOLVE(real_renameat2, "renameat2");
	RESOLVE(real_mmap64, "mmap64");
}

static void setup(void)
{
	pthread_once(&once, resolve);
}

/* Following starts when the shim's constructor runs, before main(): calls
 * made earlier (by the loader, or by a sanitizer's runtime as it starts)
 * are passed on, which is also when the environment may not be readable
 * yet. */
__attribute__((constructor)) static void start_following(void)
{
	setup();
	const char *d = getenv("POWERLOSS_DIR");
	const char *l = getenv("POWERLOSS_LOG");
	const char *lie = getenv("POWERLOSS_LYING_DISK");
	if (!d || !*d || !l || !*l)
		return;
	dir_len = strlen(d);
	while (dir_len > 1 && d[dir_len - 1] == '/')
		dir_len--;
	if (dir_len >= sizeof(dir))
		return;
	memcpy(dir, d, dir_len);
	dir[dir_len] = '\0';
	log_fd = real_openat(AT_FDCWD, l, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (log_fd < 0) {
		fprintf(stderr, "powerloss-shim: cannot open %s: %s\n", l, strerror(errno));
		abort();
	}
	lying_disk = lie && strcmp(lie, "1") == 0;
	pthread_atfork(atfork_prepare, atfork_release, atfork_release);
	active = true;
}

/* ------------------------------------------------------------ the record */

/* Writes all of iov, or ends the process: a record with a hole in it
 * would make the test's disk hold something the daemon never wrote. */
static void write_all(struct iovec *iov, int n)
{
	while (n > 0) {
		ssize_t r = writev(log_fd, iov, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			fprintf(stderr, "powerloss-shim: cannot write POWERLOSS_LOG: %s\n",
				r < 0 ? strerror(errno) : "nothing written");
			abort();
		}
		size_t done = (size_t)r;
		while (n > 0 && done >= iov->iov_len) {
			done -= iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (char *)iov->iov_base + done;
			iov->iov_len -= done;
		}
	}
}

/* Called with the lock held. */
static void record(char type, uint64_t ino, uint64_t a, const void *p1, size_t n1,
		   const void *p2, size_t n2)
{
	struct record_header h = { .type = (uint8_t)type, .len = (uint32_t)(n1 + n2),
				   .ino = ino, .a = a };
	struct iovec iov[3] = {
		{ .iov_base = &h, .iov_len = sizeof(h) },
		{ .iov_base = (void *)p1, .iov_len = n1 },
		{ .iov_base = (void *)p2, .iov_len = n2 },
	};
	write_all(iov, 3);
}

static void unsupported_locked(const char *what, const char *detail)
{
	char msg[PATH_MAX + 128];
	int n = snprintf(msg, sizeof(msg), "%s%s%s", what, detail ? ": " : "", detail ? detail : "");

	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof(msg))
		n = sizeof(msg) - 1;
	record('!', 0, 0, msg, (size_t)n, NULL, 0);
}

static void unsupported(const char *what, const char *detail)
{
	pthread_mutex_lock(&lock);
	unsupported_locked(what, detail);
	pthread_mutex_unlock(&lock);
}

/* ------------------------------------------------------------ paths */

enum where {
	OUTSIDE,      /* not ours: passed on untouched */
	THE_DIR,      /* the directory itself (its fsync makes entries durable) */
	IN_DIR,       /* a file directly in it: followed */
	BELOW_DIR,    /* deeper: the model has no subdirectories */
};

/* Where path, relative to dirfd, lies; the name in the directory for
 * IN_DIR. The test names the directory as realpath(3) gives it and the
 * daemon builds its paths from it, so comparing text is enough; a path
 * that reaches the directory some other way (a symbolic link, "..") is
 * OUTSIDE, and its writes show up in the test's comparison of the record
 * with the real files. */
static enum where classify(int dirfd, const char *path, char *name, size_t name_size)
{
	char buf[2 * PATH_MAX + 2];
	const char *abs = path;

	if (!active || !path)
		return OUTSIDE;
	if (path[0] != '/') {
		size_t n;
		if (dirfd == AT_FDCWD) {
			if (!getcwd(buf, PATH_MAX))
				return OUTSIDE;
			n = strlen(buf);
		} else {
			char link[64];
			snprintf(link, sizeof(link), "/proc/self/fd/%d", dirfd);
			ssize_t r = readlink(link, buf, PATH_MAX);
			if (r <= 0)
				return OUTSIDE;
			n = (size_t)r;
		}
		size_t len = strlen(path);
		if (n + 1 + len >= sizeof(buf))
			return OUTSIDE;
		buf[n] = '/';
		memcpy(buf + n + 1, path, len + 1);
		abs = buf;
	}
	if (strncmp(abs, dir, dir_len) != 0 || (abs[dir_len] != '/' && abs[dir_len] != '\0'))
		return OUTSIDE;
	const char *rest = abs + dir_len;
	while (*rest == '/')
		rest++;
	if (!*rest || strcmp(rest, ".") == 0 || strcmp(rest, "./") == 0)
		return THE_DIR;
	size_t len = strcspn(rest, "/");
	const char *after = rest + len;
	while (*after == '/')
		after++;
	if (*after)
		return BELOW_DIR;
	if (len >= name_size)
		return BELOW_DIR;
	memcpy(name, rest, len);
	name[len] = '\0';
	/* SQLite's shared memory: not on the simulated disk. */
	if (len >= 4 && strcmp(name + len - 4, "-shm") == 0)
		return OUTSIDE;
	return IN_DIR;
}

static uint64_t followed(int fd)
{
	if (fd < 0 || fd >= FD_TABLE_SIZE)
		return 0;
	return atomic_load(&fd_table[fd]);
}

/* ------------------------------------------------------------ open, close */

static int do_open(int dirfd, const char *path, int flags, mode_t mode)
{
	char name[NAME_MAX + 1];
	struct stat st;

	setup();
	enum where w = classify(dirfd, path, name, sizeof(name));
	if (w == OUTSIDE)
		return real_openat(dirfd, path, flags, mode);
	if (w == BELOW_DIR)
		unsupported("open below the directory", path);

	pthread_mutex_lock(&lock);
	bool existed = w != IN_DIR || fstatat(dirfd, path, &st, 0) == 0;
	if (w == IN_DIR && existed && (flags & O_TRUNC) && (flags & O_ACCMODE) != O_RDONLY)
		unsupported_locked("open with O_TRUNC", name);
	if ((flags & O_TMPFILE) == O_TMPFILE)
		unsupported_locked("open with O_TMPFILE", path);
	int fd = real_openat(dirfd, path, flags, mode);
	int saved = errno;
	if (fd >= 0 && w != BELOW_DIR && fstat(fd, &st) == 0) {
		uint64_t mark = 0;
		if (w == THE_DIR && S_ISDIR(st.st_mode))
			mark = DIR_MARK;
		else if (S_ISREG(st.st_mode)) {
			mark = (uint64_t)st.st_ino;
			record(existed ? 'O' : 'C', mark, 0, name, strlen(name), NULL, 0);
		}
		if (mark && fd < FD_TABLE_SIZE)
			atomic_store(&fd_table[fd], mark);
		else if (mark)
			unsupported_locked("a descriptor beyond the shim's table", name);
	}
	pthread_mutex_unlock(&lock);
	errno = saved;
	return fd;
}

/* The mode argument is there only when the flags need it. */
#define MODE_ARG(flags, mode)                                                     \
	do {                                                                      \
		if ((flags) & O_CREAT || ((flags) & O_TMPFILE) == O_TMPFILE) {    \
			va_list ap;                                               \
			va_start(ap, flags);                                      \
			mode = (mode_t)va_arg(ap, int);                           \
			va_end(ap);                                               \
		}                                                                 \
	} while (0)

int open(const char *path, int flags, ...)
{
	mode_t mode = 0;
	MODE_ARG(flags, mode);
	return do_open(AT_FDCWD, path, flags, mode);
}

int open64(const char *path, int flags, ...)
{
	mode_t mode = 0;
	MODE_ARG(flags, mode);
	return do_open(AT_FDCWD, path, flags, mode);
}

int openat(int dirfd, const char *path, int flags, ...)
{
	mode_t mode = 0;
	MODE_ARG(flags, mode);
	return do_open(dirfd, path, flags, mode);
}

int openat64(int dirfd, const char *path, int flags, ...)
{
	mode_t mode = 0;
	MODE_ARG(flags, mode);
	return do_open(dirfd, path, flags, mode);
}

int __open_2(const char *path, int flags)
{
	return do_open(AT_FDCWD, path, flags, 0);
}

int __open64_2(const char *path, int flags)
{
	return do_open(AT_FDCWD, path, flags, 0);
}

int __openat_2(int dirfd, const char *path, int flags)
{
	return do_open(dirfd, path, flags, 0);
}

int __openat64_2(int dirfd, const char *path, int flags)
{
	return do_open(dirfd, path, flags, 0);
}

int creat(const char *path, mode_t mode)
{
	return do_open(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode);
}

int creat64(const char *path, mode_t mode)
{
	return do_open(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode);
}

int close(int fd)
{
	setup();
	/* Forgotten before the number can be handed out again. */
	if (followed(fd))
		atomic_store(&fd_table[fd], 0);
	return real_close(fd);
}

/* ------------------------------------------------------------ writes */

/* The result of a change, after its call; errno is kept for the caller. */
static void record_result(long long result, int saved_errno)
{
	record('X', 0, (uint64_t)(result < 0 ? -saved_errno : result), NULL, 0, NULL, 0);
}

ssize_t write(int fd, const void *buf, size_t n)
{
	setup();
	uint64_t ino = followed(fd);
	if (!ino || ino == DIR_MARK)
		return real_write(fd, buf, n);

	pthread_mutex_lock(&lock);
	/* Where write(2) puts it: the end with O_APPEND, else the
	 * descriptor's offset (the lock keeps this process's other writers
	 * of the file out in between). */
	int fl = fcntl(fd, F_GETFL);
	off64_t off;
	struct stat64 st;
	if (fl >= 0 && (fl & O_APPEND))
		off = fstat64(fd, &st) == 0 ? st.st_size : -1;
	else
		off = lseek64(fd, 0, SEEK_CUR);
	if (off < 0) {
		pthread_mutex_unlock(&lock);
		return real_write(fd, buf, n);   /* cannot say where: it fails on the file too */
	}
	record('W', ino, (uint64_t)off, buf, n, NULL, 0);
	ssize_t r = real_write(fd, buf, n);
	int saved = errno;
	record_result(r, saved);
	pthread_mutex_unlock(&lock);
	errno = saved;
	return r;
}

static ssize_t pwrite_common(int fd, const void *buf, size_t n, off64_t off)
{
	setup();
	uint64_t ino = followed(fd);
	if (!ino || ino == DIR_MARK)
		return real_pwrite64(fd, buf, n, off);

	pthread_mutex_lock(&lock);
	int fl = fcntl(fd, F_GETFL);
	/* Linux appends a pwrite on an O_APPEND descriptor whatever the offset. */
	if (fl >= 0 && (fl & O_APPEND))
		unsupported_locked("pwrite on an O_APPEND descriptor", NULL);
	record('W', ino, (uint64_t)off, buf, n, NULL, 0);
	ssize_t r = real_pwrite64(fd, buf, n, off);
	int saved = errno;
	record_result(r, saved);
	pthread_mutex_unlock(&lock);
	errno = saved;
	return r;
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
	return pwrite_common(fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off64_t off)
{
	return pwrite_common(fd, buf, n, off);
}

static int truncate_common(int fd, off64_t size)
{
	setup();
	uint64_t ino = followed(fd);
	if (!ino || ino == DIR_MARK)
		return real_ftruncate64(fd, size);

	pthread_mutex_lock(&lock);
	record('T', ino, (uint64_t)size, NULL, 0, NULL, 0);
	int r = real_ftruncate64(fd, size);
	int saved = errno;
	record_result(r, saved);
	pthread_mutex_unlock(&lock);
	errno = saved;
	return r;
}

int ftruncate(int fd, off_t size)
{
	return truncate_common(fd, size);
}

int ftruncate64(int fd, off64_t size)
{
	return truncate_common(fd, size);
}

/* ------------------------------------------------------------ flushes */

/* The record comes after the flush returned: only then may the caller
 * count on it, and a process killed in the call was told nothing. */
static int sync_common(int fd, int (*real)(int))
{
	setup();
	uint64_t ino = followed(fd);
	if (!ino)
		return real(fd);
	if (lying_disk)
		return 0;

	pthread_mutex_lock(&lock);
	int r = real(fd);
	int saved = errno;
	if (r == 0)
		record(ino == DIR_MARK ? 'Y' : 'S', ino == DIR_MARK ? 0 : ino, 0, NULL, 0, NULL, 0);
	pthread_mutex_unlock(&lock);
	errno = saved;
	return r;
}

int fsync(int fd)
{
	return sync_common(fd, real_fsync);
}

int fdatasync(int fd)
{
	return sync_common(fd, real_fdatasync);
}

/* ------------------------------------------------------------ names */

int unlinkat(int dirfd, const char *path, int flags)
{
	char name[NAME_MAX + 1];

	setup();
	enum where w = classify(dirfd, path, name, sizeof(name));
	if (w == OUTSIDE || w == THE_DIR)
		return real_unlinkat(dirfd, path, flags);
	if (w == BELOW_DIR) {
		unsupported("unlink below the directory", path);
		return real_unlinkat(dirfd, path, flags);
	}

	pthread_mutex_lock(&lock);
	record('U', 0, 0, name, strlen(name), NULL, 0);
	int r = real_unlinkat(dirfd, path, flags);
	int saved = errno;
	record_result(r, saved);
	pthread_mutex_unlock(&lock);
	errno = saved;
	return r;
}

int unlink(const char *path)
{
	return unlinkat(AT_FDCWD, path, 0);
}

int renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
	      unsigned flags)
{
	char old_name[NAME_MAX + 1], new_name[NAME_MAX + 1];

	setup();
	enum where wo = classify(olddirfd, oldpath, old_name, sizeof(old_name));
	enum where wn = classify(newdirfd, newpath, new_name, sizeof(new_name));
	if (wo == OUTSIDE && wn == OUTSIDE)
		return real_renameat2(olddirfd, oldpath, newdirfd, newpath, flags);
	if (wo != IN_DIR || wn != IN_DIR || (flags & RENAME_EXCHANGE)) {
		unsupported("a rename the model cannot follow", newpath);
		return real_renameat2(olddirfd, oldpath, newdirfd, newpath, flags);
	}

	pthread_mutex_lock(&lock);
	size_t old_len = strlen(old_name);
	record('R', 0, old_len, old_name, old_len, new_name, strlen(new_name));
	int r = real_renameat2(olddirfd, oldpath, newdirfd, newpath, flags);
	int saved = errno;
	record_result(r, saved);
	pthread_mutex_unlock(&lock);
	errno = saved;
	return r;
}

int renameat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath)
{
	return renameat2(olddirfd, oldpath, newdirfd, newpath, 0);
}

int rename(const char *oldpath, const char *newpath)
{
	return renameat2(AT_FDCWD, oldpath, AT_FDCWD, newpath, 0);
}

/* ------------------------------------------------------------ mappings */

/* Stores through a shared writable mapping bypass write(2): the record
 * would miss them, so they are reported. SQLite maps only the -shm file
 * unless PRAGMA mmap_size asks it to map the database. */
static void check_mapping(int prot, int flags, int fd)
{
	uint64_t ino = followed(fd);

	if (ino && ino != DIR_MARK && (prot & PROT_WRITE) && (flags & MAP_SHARED))
		unsupported("a writable shared mapping of a followed file", NULL);
}

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	setup();
	check_mapping(prot, flags, fd);
	return real_mmap64(addr, len, prot, flags, fd, off);
}

void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off64_t off)
{
	setup();
	check_mapping(prot, flags, fd);
	return real_mmap64(addr, len, prot, flags, fd, off);
}
