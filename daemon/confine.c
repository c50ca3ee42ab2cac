/* Write confinement beneath the write roots. The lexical check runs on the
 * loop; everything that touches the filesystem runs on worker threads and
 * resolves paths relative to a root directory fd, never following a
 * symlink, so a directory swapped for a symlink mid-way cannot redirect a
 * write. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#if HAVE_LINUX_OPENAT2_H
#include <linux/openat2.h>
#endif

#include "daemon/confine.h"
#include "daemon/xalloc.h"

struct root {
	char *path;     /* without a trailing slash, except "/" itself */
	size_t len;
	/* O_PATH directory; -1 while it does not exist: the first write
	 * beneath it after it appears opens it (root_fd), no SIGHUP needed. */
	atomic_int fd;
};

struct write_roots {
	atomic_uint refs;
	size_t n;
	struct root roots[];
};

static char *normalize_root(const char *p)
{
	char *s = xstrdup(p);
	size_t n = strlen(s);
	while (n > 1 && s[n - 1] == '/')
		s[--n] = '\0';
	return s;
}

void write_roots_describe(const struct write_roots *wr, char *buf, size_t size)
{
	size_t at = 0;

	if (size == 0)
		return;
	buf[0] = '\0';
	for (size_t i = 0; wr && i < wr->n; i++) {
		const char *sep = i ? ", " : "";
		size_t need = strlen(sep) + wr->roots[i].len;
		if (at + need + 4 >= size) {
			snprintf(buf + at, size - at, "%s...", sep);
			return;
		}
		at += (size_t)snprintf(buf + at, size - at, "%s%s", sep, wr->roots[i].path);
	}
}

void confine_refusal(const struct write_roots *wr, const char *path, const char *why, char *buf,
		     size_t size)
{
	char roots[160];

	if (write_roots_count(wr) == 0) {
		snprintf(buf, size, "%s", why);
		return;
	}
	write_roots_describe(wr, roots, sizeof(roots));
	snprintf(buf, size, "%.60s%s %s (write roots: %s)", path, strlen(path) > 60 ? "..." : "",
		 why, roots);
}

int write_roots_open(char *const *paths, size_t n, struct write_roots **ret,
		     char *err, size_t err_size, char *warn, size_t warn_size)
{
	struct write_roots *wr = xcalloc(1, sizeof(*wr) + n * sizeof(struct root));
	size_t used = 0;

	atomic_init(&wr->refs, 1);
	if (warn && warn_size)
		warn[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (paths[i][0] != '/') {
			snprintf(err, err_size, "write root %s is not an absolute path", paths[i]);
			wr->n = used;
			write_roots_unref(wr);
			return -EINVAL;
		}
		int fd = open(paths[i], O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0 && warn && warn_size)
			snprintf(warn, warn_size, "write root %s: %s; writes beneath it fail until it "
				 "is made", paths[i], strerror(errno));
		wr->roots[used].path = normalize_root(paths[i]);
		wr->roots[used].len = strlen(wr->roots[used].path);
		atomic_init(&wr->roots[used].fd, fd);
		used++;
	}
	wr->n = used;
	*ret = wr;
	return 0;
}

struct write_roots *write_roots_ref(struct write_roots *wr)
{
	if (wr)
		atomic_fetch_add(&wr->refs, 1);
	return wr;
}

struct write_roots *write_roots_unref(struct write_roots *wr)
{
	if (!wr || atomic_fetch_sub(&wr->refs, 1) != 1)
		return NULL;
	for (size_t i = 0; i < wr->n; i++) {
		int fd = atomic_load(&wr->roots[i].fd);
		if (fd >= 0)
			close(fd);
		free(wr->roots[i].path);
	}
	free(wr);
	return NULL;
}

/* The root's directory: opened at start, or now, by the first worker that
 * needs it once it has been made. A negative errno while it is missing. */
static int root_fd(const struct write_roots *wr, size_t i)
{
	struct root *root = (struct root *)&wr->roots[i];
	int fd = atomic_load(&root->fd);

	if (fd >= 0)
		return fd;
	int opened = open(root->path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (opened < 0)
		return -errno;
	int expected = -1;
	if (!atomic_compare_exchange_strong(&root->fd, &expected, opened)) {
		/* Another worker opened it meanwhile: use theirs. */
		close(opened);
		return expected;
	}
	return opened;
}

bool write_roots_open_now(const struct write_roots *wr, size_t i)
{
	return atomic_load(&wr->roots[i].fd) >= 0;
}

size_t write_roots_count(const struct write_roots *wr)
{
	return wr ? wr->n : 0;
}

const char *write_roots_path(const struct write_roots *wr, size_t i)
{
	return wr->roots[i].path;
}

/* ------------------------------------------------------------ on the loop */

int confine_check(const struct write_roots *wr, const char *path, size_t path_len,
		  struct confined_path *ret, const char **ret_reason)
{
	size_t best = SIZE_MAX, best_len = 0;

	if (strlen(path) != path_len) {
		*ret_reason = "contains a NUL character";
		return -EINVAL;
	}
	if (path[0] != '/') {
		*ret_reason = "must be an absolute path";
		return -EINVAL;
	}
	if (path_len >= PATH_MAX) {
		*ret_reason = "is longer than PATH_MAX";
		return -EINVAL;
	}

	/* Normalise: no empty, "." or ".." components. */
	char *norm = xmalloc(path_len + 2);
	size_t n = 0;
	for (const char *p = path; *p;) {
		while (*p == '/')
			p++;
		const char *e = strchr(p, '/');
		size_t clen = e ? (size_t)(e - p) : strlen(p);
		if (clen == 0)
			break;
		if ((clen == 1 && p[0] == '.') || (clen == 2 && p[0] == '.' && p[1] == '.')) {
			free(norm);
			*ret_reason = "may not contain '.' or '..' components";
			return -EINVAL;
		}
		if (clen > NAME_MAX) {
			free(norm);
			*ret_reason = "has a component longer than NAME_MAX (255 bytes)";
			return -EINVAL;
		}
		norm[n++] = '/';
		memcpy(norm + n, p, clen);
		n += clen;
		p += clen;
	}
	norm[n] = '\0';
	if (n == 0) {
		free(norm);
		*ret_reason = "names no file";
		return -EINVAL;
	}

	bool is_root = false;
	for (size_t i = 0; i < write_roots_count(wr); i++) {
		const struct root *r = &wr->roots[i];
		if (n == r->len && memcmp(norm, r->path, n) == 0)
			is_root = true;
		bool beneath = r->len == 1 /* "/" */ ||
			       (n > r->len && memcmp(norm, r->path, r->len) == 0 && norm[r->len] == '/');
		if (beneath && (best == SIZE_MAX || r->len > best_len)) {
			best = i;
			best_len = r->len;
		}
	}
	if (is_root) {
		free(norm);
		*ret_reason = "names no file (it is a write root)";
		return -EINVAL;
	}
	if (path[path_len - 1] == '/') {
		/* "file/" means a directory to POSIX: never a file to write. */
		free(norm);
		*ret_reason = "ends with '/', which names a directory";
		return -EINVAL;
	}
	if (best == SIZE_MAX) {
		free(norm);
		*ret_reason = write_roots_count(wr) ? "is outside every write root"
						    : "cannot be written: no write root is configured";
		return -EPERM;
	}
	size_t skip = best_len == 1 ? 1 : best_len + 1;
	ret->roots = wr;
	ret->root = best;
	ret->rel = xstrdup(norm + skip);
	free(norm);
	return 0;
}

void confined_path_release(struct confined_path *cp)
{
	free(cp->rel);
	cp->rel = NULL;
}

/* ------------------------------------------------------------ on workers */

/* The next component of a relative path into `comp`; advances *p. */
static void next_component(const char **p, char comp[NAME_MAX + 1])
{
	const char *e = strchr(*p, '/');
	size_t clen = e ? (size_t)(e - *p) : strlen(*p);
	memcpy(comp, *p, clen);
	comp[clen] = '\0';
	*p += clen + (e ? 1 : 0);
}

static void record_made(struct made_dirs *made, size_t depth, const struct stat *st)
{
	made->dir = xrealloc(made->dir, (made->n + 1) * sizeof(*made->dir));
	made->dir[made->n++] = (struct made_dir){ .depth = depth, .dev = st->st_dev,
						  .ino = st->st_ino };
}

/* 0755 as promised, whatever the umask, keeping the set-group-ID bit a
 * set-group-ID parent handed down, so that what is written beneath keeps the
 * shared root's group. No chmod when mkdirat made it so already: a sandbox
 * may forbid asking for that bit (systemd's RestrictSUIDSGID=); if it does,
 * the permissions matter more than the group. */
static int set_made_dir_mode(int fd, mode_t mode)
{
	mode_t want = 0755 | (mode & S_ISGID);

	if ((mode & 07777) == want)
		return 0;
	if (fchmod(fd, want) == 0)
		return 0;
	if (errno == EPERM && (want & S_ISGID) && fchmod(fd, 0755) == 0)
		return 0;
	return -errno;
}

/* Component by component, each step on the fd of the last, never following
 * a symlink. With `made`, each directory created is recorded there. */
static int walk(int rootfd, const char *dir, bool mkdirs, struct made_dirs *made)
{
	int fd = fcntl(rootfd, F_DUPFD_CLOEXEC, 0);
	char comp[NAME_MAX + 1];

	if (fd < 0)
		return -errno;
	for (size_t depth = 0; *dir; depth++) {
		next_component(&dir, comp);

		/* No O_DIRECTORY: a symlink opened with O_NOFOLLOW is then
		 * seen as what it is below, whatever is there a moment later. */
		bool made_here = false;
		int next = openat(fd, comp, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0 && errno == ENOENT && mkdirs) {
			made_here = mkdirat(fd, comp, 0755) == 0;
			if (!made_here && errno != EEXIST) {
				int r = -errno;
				close(fd);
				return r;
			}
			/* Recorded at once, so that a failure from here on
			 * (no fd left to open it) still takes it away. */
			struct stat made_st;
			if (made_here && made && fstatat(fd, comp, &made_st, AT_SYMLINK_NOFOLLOW) == 0 &&
			    S_ISDIR(made_st.st_mode))
				record_made(made, depth, &made_st);
			/* O_NONBLOCK: a FIFO swapped in for it must fail the
			 * check below, not hang this thread in open(). */
			next = openat(fd, comp,
				      (made_here ? O_RDONLY | O_NONBLOCK : O_PATH) | O_NOFOLLOW | O_CLOEXEC);
		}
		if (next < 0) {
			int r = -errno;
			close(fd);
			return r;
		}
		struct stat st;
		int r = 0;
		if (fstat(next, &st) < 0)
			r = -errno;
		else if (S_ISLNK(st.st_mode))
			r = -ELOOP;
		else if (!S_ISDIR(st.st_mode))
			r = -ENOTDIR;
		if (r == 0 && made_here)
			r = set_made_dir_mode(next, st.st_mode);
		close(fd);
		if (r < 0) {
			close(next);
			return r;
		}
		fd = next;
	}
	return fd;
}

static int open_parent(const struct confined_path *cp, bool mkdirs, struct made_dirs *made,
		       const char **ret_name)
{
	int rootfd = root_fd(cp->roots, cp->root);
	const char *slash = strrchr(cp->rel, '/');
	char dir[PATH_MAX];
	int fd;

	if (rootfd < 0)
		return rootfd;
	if (!slash) {
		*ret_name = cp->rel;
		fd = fcntl(rootfd, F_DUPFD_CLOEXEC, 0);
		return fd < 0 ? -errno : fd;
	}
	memcpy(dir, cp->rel, (size_t)(slash - cp->rel));
	dir[slash - cp->rel] = '\0';
	*ret_name = slash + 1;

#if HAVE_LINUX_OPENAT2_H && defined(SYS_openat2)
	struct open_how how = {
		.flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	fd = (int)syscall(SYS_openat2, rootfd, dir, &how, sizeof(how));
	if (fd >= 0)
		return fd;
	/* Missing directories to create, or no openat2 here (old kernel,
	 * seccomp): walk instead. Anything else is the answer. */
	if (!((errno == ENOENT && mkdirs) || errno == ENOSYS || errno == EPERM))
		return -errno;
#endif
	return walk(rootfd, dir, mkdirs, made);
}

int confine_open_parent(const struct confined_path *cp, bool mkdirs, const char **ret_name)
{
	return open_parent(cp, mkdirs, NULL, ret_name);
}

int confine_make_parent(const struct confined_path *cp, struct made_dirs *made,
			const char **ret_name)
{
	return open_parent(cp, true, made, ret_name);
}

/* Opens, into holder[i], the directory that holds made->dir[i]: down from
 * the root one component at a time, following no symlink. Returns how many
 * it reached (those beyond cannot be reached so, and are left alone), and
 * in *err why it stopped short (-errno; 0 when it did not). */
static size_t open_made_dir_holders(const struct confined_path *cp, const struct made_dirs *made,
				    int *holder, int *err)
{
	const char *p = cp->rel;
	char comp[NAME_MAX + 1];
	size_t reached = 0;

	*err = 0;
	int rootfd = root_fd(cp->roots, cp->root);
	int fd = rootfd < 0 ? -1 : fcntl(rootfd, F_DUPFD_CLOEXEC, 0);
	if (rootfd < 0)
		errno = -rootfd;
	for (size_t depth = 0; fd >= 0; depth++) {
		if (made->dir[reached].depth == depth) {
			holder[reached++] = fd;
			if (reached == made->n)
				return reached;
			fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
			if (fd < 0)
				break;
		}
		next_component(&p, comp);
		int child = openat(fd, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		int saved = errno;
		close(fd);
		errno = saved;
		fd = child;
	}
	*err = -errno;
	return reached;
}

/* Held shared by every worker from opening a directory until its file
 * exists there (the directory is then not empty and stays), and exclusively
 * by the removal of made directories. */
static pthread_rwlock_t dirs_in_use = PTHREAD_RWLOCK_INITIALIZER;

void confine_dirs_use_begin(void)
{
	pthread_rwlock_rdlock(&dirs_in_use);
}

void confine_dirs_use_end(void)
{
	pthread_rwlock_unlock(&dirs_in_use);
}

size_t confine_remove_made_dirs(const struct confined_path *cp, const struct made_dirs *made)
{
	char comp[NAME_MAX + 1];
	size_t removed = 0;

	if (made->n == 0)
		return 0;
	pthread_rwlock_wrlock(&dirs_in_use);
	int *holder = xcalloc(made->n, sizeof(*holder)), err;
	size_t reached = open_made_dir_holders(cp, made, holder, &err);

	/* Deepest first: a directory is only empty once those below it are
	 * gone. rmdir leaves one that is not empty (another job is using it),
	 * and the dev/ino check one that is no longer the directory made. */
	for (size_t i = reached; i-- > 0;) {
		const struct made_dir *m = &made->dir[i];
		const char *q = cp->rel;
		struct stat st;

		for (size_t d = 0; d <= m->depth; d++)
			next_component(&q, comp);
		if (fstatat(holder[i], comp, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode) &&
		    st.st_dev == m->dev && st.st_ino == m->ino &&
		    unlinkat(holder[i], comp, AT_REMOVEDIR) == 0)
			removed++;
		close(holder[i]);
	}
	free(holder);
	pthread_rwlock_unlock(&dirs_in_use);
	return removed;
}

int confine_sync_made_dirs(const struct confined_path *cp, const struct made_dirs *made)
{
	int r = 0;

	if (made->n == 0)
		return 0;
	int *holder = xcalloc(made->n, sizeof(*holder));
	size_t reached = open_made_dir_holders(cp, made, holder, &r);
	for (size_t i = 0; i < reached; i++) {
		/* An O_PATH descriptor cannot be flushed; confine_sync_dir
		 * opens the directory itself through it. */
		if (r == 0)
			r = confine_sync_dir(holder[i]);
		close(holder[i]);
	}
	free(holder);
	return r;
}

void made_dirs_release(struct made_dirs *made)
{
	free(made->dir);
	made->dir = NULL;
	made->n = 0;
}

int confine_check_target(int dirfd, const char *name)
{
	struct stat st;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (S_ISREG(st.st_mode))
		return 0;
	if (S_ISDIR(st.st_mode))
		return -EISDIR;
	if (S_ISLNK(st.st_mode))
		return -ELOOP;
	return -EINVAL;
}

int confine_create_named(int dirfd, const char *tmp, mode_t perm)
{
	int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, perm);
	if (fd < 0)
		return -errno;
	/* The umask must not change the mode asked for. */
	if (fchmod(fd, perm) < 0) {
		int r = -errno;
		close(fd);
		unlinkat(dirfd, tmp, 0);
		return r;
	}
	return fd;
}

int confine_create_temp(int dirfd, const char *name, mode_t perm, char *tmp, size_t tmp_size)
{
	for (int attempt = 0; attempt < 16; attempt++) {
		unsigned char rnd[6];
		if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
			return -EIO;
		/* Beside the target, hidden, recognisable, within NAME_MAX. */
		snprintf(tmp, tmp_size, ".%.200s.asyncjob-%02x%02x%02x%02x%02x%02x", name, rnd[0],
			 rnd[1], rnd[2], rnd[3], rnd[4], rnd[5]);
		int fd = confine_create_named(dirfd, tmp, perm);
		if (fd != -EEXIST)
			return fd;
	}
	return -EEXIST;
}

int confine_install(int dirfd, const char *tmp, const char *name, bool replace)
{
	if (replace)
		return renameat(dirfd, tmp, dirfd, name) < 0 ? -errno : 0;
	if (renameat2(dirfd, tmp, dirfd, name, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -errno;
	/* A filesystem without RENAME_NOREPLACE: link(2) never replaces. */
	if (linkat(dirfd, tmp, dirfd, name, 0) < 0)
		return -errno;
	unlinkat(dirfd, tmp, 0);
	return 0;
}

int confine_sync_dir(int dirfd)
{
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int r = fsync(fd) < 0 ? -errno : 0;
	close(fd);
	return r;
}

const char *errno_name(int err)
{
	const char *s = strerrorname_np(err < 0 ? -err : err);
	return s ? s : "EUNKNOWN";
}
