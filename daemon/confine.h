/* Write confinement: files are written only beneath the configured write
 * roots, and nothing on the way (symlinks, "..", swapped directories) can
 * lead a write outside one. Used by fetch jobs' save_to and by write jobs. */
#ifndef ASYNCJOBD_CONFINE_H
#define ASYNCJOBD_CONFINE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct write_roots;

/* Opens each root directory once (blocking: call it at startup or on a
 * thread). Roots that do not exist are skipped with a warning in `warn`
 * (which may be NULL). Returns 0 and the set (one reference) in *ret, or a
 * negative errno with a message in `err`. */
int write_roots_open(char *const *paths, size_t n, struct write_roots **ret,
		     char *err, size_t err_size, char *warn, size_t warn_size);

/* The set is shared by the loop and work in flight on other threads. */
struct write_roots *write_roots_ref(struct write_roots *wr);
struct write_roots *write_roots_unref(struct write_roots *wr);

size_t write_roots_count(const struct write_roots *wr);
/* Whether the i-th root is open: false for one missing at start until a
 * write beneath it finds it made (no filesystem access: for the loop). */
bool write_roots_open_now(const struct write_roots *wr, size_t i);
/* The roots' paths, ", "-separated, as far as `size` allows ("..." after
 * the last that fits), for messages. */
void write_roots_describe(const struct write_roots *wr, char *buf, size_t size);
/* The forbidden reason for `path` that confine_check gave as `why`, with
 * the path and the roots named when it lies outside them: what a client
 * needs to find out where it may write. */
void confine_refusal(const struct write_roots *wr, const char *path, const char *why, char *buf,
		     size_t size);
const char *write_roots_path(const struct write_roots *wr, size_t i);

/* A path checked against the roots without touching the filesystem (so it
 * can run on the loop): absolute, no NUL, no "." or ".." component, no
 * component longer than NAME_MAX, and beneath one of the roots. */
struct confined_path {
	const struct write_roots *roots;
	size_t root;           /* which root */
	char *rel;             /* the part beneath it, e.g. "a/b/file.txt" */
};

/* Returns 0 and fills *ret (free with confined_path_release), or -EPERM
 * (outside every root) / -EINVAL (not an acceptable path) with the reason. */
int confine_check(const struct write_roots *wr, const char *path, size_t path_len,
		  struct confined_path *ret, const char **ret_reason);
void confined_path_release(struct confined_path *cp);

/* On a worker thread: opens the directory that will hold the file, beneath
 * the root, following no symlink anywhere (openat2 RESOLVE_BENEATH |
 * RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS, or a component-by-component
 * O_NOFOLLOW walk where openat2 is missing). With `mkdirs`, missing
 * directories are created with mode 0755 (the same way, one by one).
 * Returns an O_PATH directory fd and points *ret_name at the last
 * component of cp->rel; or a negative errno. */
int confine_open_parent(const struct confined_path *cp, bool mkdirs, const char **ret_name);

/* The directories one confine_make_parent created, outermost first: which
 * component of the parent path each is (0: the one beneath the root), and
 * which directory it is. */
struct made_dir {
	size_t depth;
	dev_t dev;
	ino_t ino;
};
struct made_dirs {
	size_t n;
	struct made_dir *dir;
};

/* confine_open_parent with mkdirs, recording in `made` (empty at first)
 * each directory it created, also when it fails half way, so that a write
 * that does not complete can take them away again. Free `made` with
 * made_dirs_release. */
int confine_make_parent(const struct confined_path *cp, struct made_dirs *made,
			const char **ret_name);

/* A worker calls these around opening a directory and creating its file
 * there, so that no failed write's removal of made directories takes the
 * directory away in between. Not around confine_remove_made_dirs. */
void confine_dirs_use_begin(void);
void confine_dirs_use_end(void);

/* Removes the directories in `made` that are empty and still the ones
 * created, deepest first, each through the fd of its parent reached from the
 * root one component at a time without following a symlink; leaves the
 * rest. Blocks: worker threads only. Returns how many it removed. */
size_t confine_remove_made_dirs(const struct confined_path *cp, const struct made_dirs *made);
/* Flushes the directory that holds each made directory, so that the new
 * names survive a crash as the file does; 0 or -errno. */
int confine_sync_made_dirs(const struct confined_path *cp, const struct made_dirs *made);
void made_dirs_release(struct made_dirs *made);

/* Checks the target name in `dirfd`: absent, or a regular file. Returns 0,
 * or -EISDIR, -ELOOP (a symlink), -EINVAL (a FIFO, device or socket). */
int confine_check_target(int dirfd, const char *name);

/* Creates a new temporary file beside `name` in `dirfd` (O_EXCL, never
 * following a symlink) with `perm`. Returns the fd and its name in `tmp`. */
int confine_create_temp(int dirfd, const char *name, mode_t perm, char *tmp, size_t tmp_size);

/* The same under a name the caller chose (one a restart can find again):
 * -EEXIST when a file has that name. */
int confine_create_named(int dirfd, const char *tmp, mode_t perm);

/* Puts the staged temporary file `tmp` in place as `name`, both in
 * `dirfd`: over whatever file has that name when `replace`, else only where
 * there is none (-EEXIST, the existing file untouched), with link(2) where
 * the filesystem has no RENAME_NOREPLACE. Returns 0 or a negative errno; on
 * failure `tmp` is still there for the caller to remove. */
int confine_install(int dirfd, const char *tmp, const char *name, bool replace);

/* Flushes the directory `dirfd` to disk, so a rename in it survives a
 * crash. Blocks: worker threads only. Returns 0 or a negative errno. */
int confine_sync_dir(int dirfd);

/* The errno name for a code ("ENOSPC"), for error messages. */
const char *errno_name(int err);

#endif
