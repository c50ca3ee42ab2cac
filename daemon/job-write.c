/* Write jobs: a file beneath a write root, written on a worker thread so the
 * event loop never waits on a disk (the seed's aiofiles example). `replace`
 * stages the content in a temporary file beside the target and renames it
 * over the target, so a reader sees the old content or the new, never a mix;
 * `create` does the same but never replaces; `append` appends.
 *
 * Cancel: a queued write is dropped; a running one is stopped at its commit
 * point (the rename, or the first byte of an append) and leaves no trace,
 * the directories its mkdirs made included; once committing it can no
 * longer be stopped and finishes (job.cancel then answers -32004). A write
 * that fails before its commit point leaves no trace either. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>


#include "daemon/confine.h"
#include "daemon/daemon.h"
#include "daemon/identity.h"
#include "daemon/job.h"
#include "daemon/log.h"
#include "daemon/params.h"
#include "daemon/workers.h"
#include "daemon/xalloc.h"
#include "proto/base64.h"
#include "proto/jsonw.h"

enum write_mode { W_REPLACE, W_APPEND, W_CREATE };

extern const struct job_type job_type_write;
struct write_job;

/* What the write jobs share: one write per worker thread at a time, the
 * rest waiting in order, and the content they hold. */
struct write_queue {
	TAILQ_HEAD(, write_job) waiting;
	size_t running;
	size_t bytes_pending;          /* content held by unfinished writes */
};

struct write_job {
	struct job *job;
	struct daemon *d;
	struct write_roots *roots;
	struct confined_path cp;
	struct identity *requester;    /* whose rights the file work has */
	unsigned char *content;
	size_t len;
	enum write_mode mode;
	bool fsync;
	bool mkdirs;
	mode_t perm;

	struct work work;
	bool holds_slot;       /* counted in the queue's running */
	bool waiting;          /* on the queue's waiting list */
	TAILQ_ENTRY(write_job) wait_link;
	bool stopped;          /* canceled: the outcome is discarded */
	bool submitted;        /* handed to the worker threads */

	/* Shared with the worker thread. */
	pthread_mutex_t lock;
	bool cancel;           /* stop before the commit point */
	bool committing;       /* past it */

	/* Worker only: between confine_dirs_use_begin and _end. */
	bool holds_dirs_lock;

	/* The worker's answer. */
	int err;
	const char *step;
	/* Why the target was refused (its type, its other names) when `err`
	 * is the client's doing rather than the disk's; NULL otherwise. */
	const char *refusal;
};

static struct write_queue *queue_of(struct daemon *d)
{
	return job_type_state(d, &job_type_write);
}

static void *write_queue_new(struct daemon *d)
{
	struct write_queue *q = xcalloc(1, sizeof(*q));
	(void)d;
	TAILQ_INIT(&q->waiting);
	return q;
}

static void write_queue_free(void *state)
{
	free(state);
}

static const char *const write_fields[] = {
	"path", "content", "content_base64", "mode", "fsync", "perm", "mkdirs", NULL,
};

/* ------------------------------------------------------------ the spec */

static int parse_perm(const struct json_value *spec, mode_t *ret, struct rpc_error *e)
{
	const struct json_value *v = json_get(spec, "perm");
	unsigned long m;

	if (!v)
		return 0;
	/* JSON has no octal: "0644" as a string, or the number 420. */
	if (json_is(v, JSON_STRING)) {
		const char *s = v->str;
		char *end;
		errno = 0;
		m = strtoul(s, &end, 8);
		if (errno || !*s || *end)
			return rpc_error_param(e, "perm", "must be an octal mode such as \"0644\"");
	} else if (json_is(v, JSON_NUMBER) && v->integer) {
		int64_t n;
		if (!json_int64(v, &n) || n < 0)
			return rpc_error_param(e, "perm", "must be a mode from 0 to 0777");
		m = (unsigned long)n;
	} else {
		return rpc_error_param(e, "perm", "must be an octal string such as \"0644\" or a whole number");
	}
	if (m > 0777)
		return rpc_error_param(e, "perm", "must be a mode from 0 to 0777 (no setuid, "
				       "setgid or sticky bits)");
	*ret = (mode_t)m;
	return 1;
}

static void write_free(void *data);

static int write_parse(struct daemon *d, const struct json_value *spec, struct identity *requester,
		       void **ret_data, struct rpc_error *e)
{
	struct write_job *w = xcalloc(1, sizeof(*w));
	const struct json_value *text, *b64;
	const char *path, *s, *why;
	size_t len;
	int r;

	w->d = d;
	w->fsync = true;
	w->perm = 0644;
	pthread_mutex_init(&w->lock, NULL);

	r = param_string(spec, "path", true, PATH_MAX, true, &path, &len, e);
	if (r < 0)
		goto fail;
	r = confine_check(d->config->roots, path, len, &w->cp, &why);
	if (r == -EPERM) {
		r = rpc_error_forbidden(e, "path", "%s", why);
		goto fail;
	}
	if (r < 0) {
		r = rpc_error_param(e, "path", "%s", why);
		goto fail;
	}
	w->roots = write_roots_ref(d->config->roots);
	if (requester && !identity_may_act_for(requester)) {
		r = rpc_error_forbidden(e, "path", "%s", identity_refusal());
		goto fail;
	}
	w->requester = identity_ref(requester);

	text = json_get(spec, "content");
	b64 = json_get(spec, "content_base64");
	bool has_text = text != NULL, has_b64 = b64 != NULL;
	if (has_text && has_b64) {
		r = rpc_error_param(e, "content_base64", "give content or content_base64, not both");
		goto fail;
	}
	if (has_text) {
		if (!json_is(text, JSON_STRING)) {
			r = rpc_error_param(e, "content", "must be a string");
			goto fail;
		}
		/* Bytes: a \u0000 in the JSON string is a NUL in the file. */
		w->len = text->len;
		w->content = xmalloc(w->len + 1);
		memcpy(w->content, text->str, w->len);
	} else if (has_b64) {
		if (!json_is(b64, JSON_STRING)) {
			r = rpc_error_param(e, "content_base64", "must be a string");
			goto fail;
		}
		size_t n = b64->len;
		w->content = xmalloc(base64_decoded_max(n) + 1);
		long got = base64_decode(b64->str, n, w->content);
		if (got < 0) {
			r = rpc_error_param(e, "content_base64", "not valid base64 (RFC 4648, padded)");
			goto fail;
		}
		w->len = (size_t)got;
	}

	r = param_string(spec, "mode", false, 16, true, &s, NULL, e);
	if (r < 0)
		goto fail;
	if (r > 0) {
		if (!strcmp(s, "replace"))
			w->mode = W_REPLACE;
		else if (!strcmp(s, "append"))
			w->mode = W_APPEND;
		else if (!strcmp(s, "create"))
			w->mode = W_CREATE;
		else {
			r = rpc_error_param(e, "mode", "must be \"replace\", \"append\" or \"create\"");
			goto fail;
		}
	}
	if ((r = param_bool(spec, "fsync", &w->fsync, e)) < 0 ||
	    (r = param_bool(spec, "mkdirs", &w->mkdirs, e)) < 0 ||
	    (r = parse_perm(spec, &w->perm, e)) < 0)
		goto fail;

	/* Content waiting to be written is memory a client makes us hold. */
	size_t limit = d->config->limits.max_pending_write_bytes;
	if (queue_of(d)->bytes_pending + w->len > limit) {
		r = rpc_error_busy(e, "max_pending_write_bytes", limit,
				   "too much file content is waiting to be written");
		goto fail;
	}
	*ret_data = w;
	return 0;
fail:
	write_free(w);
	return r;
}

/* ------------------------------------------------------------ on a worker */

/* The write's file (temporary, or appended to) exists in its directory. */
static void file_in_place(struct write_job *w)
{
	if (w->holds_dirs_lock) {
		w->holds_dirs_lock = false;
		confine_dirs_use_end();
	}
}

/* Passes the commit point unless canceled first. */
static bool begin_commit(struct write_job *w)
{
	bool go;
	pthread_mutex_lock(&w->lock);
	go = !w->cancel;
	if (go)
		w->committing = true;
	pthread_mutex_unlock(&w->lock);
	return go;
}

static const char not_regular[] = "only regular files are written";

/* confine_check_target, remembering a refusal for the target's type: its
 * -EINVAL then means a FIFO, device or socket, not a bad argument. */
static int check_target(struct write_job *w, int dirfd, const char *name)
{
	int r = confine_check_target(dirfd, name);
	if (r == -EINVAL)
		w->refusal = not_regular;
	return r;
}

/* Writes all `n` bytes; *written says how many made it, also on failure. */
static int write_all(int fd, const unsigned char *p, size_t n, size_t *written)
{
	*written = 0;
	while (n > 0) {
		ssize_t k = write(fd, p, n);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += k;
		n -= (size_t)k;
		*written += (size_t)k;
	}
	return 0;
}

/* An append that failed half way (ENOSPC, EFBIG) takes back the bytes it
 * wrote, but only while the file is exactly its old size plus those bytes:
 * then nobody appended meanwhile, and nothing of theirs is cut. (An append
 * by another process landing between this check and the truncate would
 * be: a window of one system call, which only a lock every appender takes
 * could close.) */
static void undo_partial_append(int fd, off_t old_size, size_t written)
{
	struct stat st;

	if (written == 0 || fstat(fd, &st) < 0 || st.st_size != old_size + (off_t)written)
		return;
	if (ftruncate(fd, old_size) < 0) {
		/* The partial append stays; the job fails all the same. */
	}
}

/* Writes the content to `fd`, flushes it when asked, and closes it. With
 * `undo_size` (not -1), a failed write truncates back to it, as above. */
static int write_sync_close(struct write_job *w, int fd, const char *writing, off_t undo_size)
{
	size_t written;
	int r;

	w->step = writing;
	r = write_all(fd, w->content, w->len, &written);
	if (r < 0 && undo_size >= 0)
		undo_partial_append(fd, undo_size, written);
	if (r == 0 && w->fsync) {
		w->step = "syncing";
		r = fsync(fd) < 0 ? -errno : 0;
	}
	if (close(fd) < 0 && r == 0)
		r = -errno;
	return r;
}

static int run_staged(struct write_job *w, int dirfd, const char *name)
{
	char tmp[NAME_MAX + 1] = "";
	int fd, r;

	w->step = "creating a temporary file in";
	fd = confine_create_temp(dirfd, name, w->perm, tmp, sizeof(tmp));
	if (fd < 0)
		return fd;
	file_in_place(w);
	r = write_sync_close(w, fd, "writing", -1);
	if (r == 0 && !begin_commit(w))
		r = -ECANCELED;
	if (r == 0) {
		w->step = w->mode == W_CREATE ? "creating" : "replacing";
		/* Checked again at the last moment: a directory or a FIFO that
		 * appeared meanwhile is not replaced. */
		r = check_target(w, dirfd, name);
		if (r == 0)
			r = confine_install(dirfd, tmp, name, w->mode == W_REPLACE);
	}
	if (r < 0) {
		/* No temporary file survives a failure. */
		unlinkat(dirfd, tmp, 0);
		return r;
	}
	if (w->fsync) {
		w->step = "syncing the directory of";
		r = confine_sync_dir(dirfd);
	}
	return r;
}

static int run_append(struct write_job *w, int dirfd, const char *name)
{
	struct stat st;
	bool created = false;
	int fd, r;

	if (!begin_commit(w))
		return -ECANCELED;
	w->step = "opening";
	/* O_NONBLOCK: a FIFO must fail the check below, not hang the thread. */
	fd = openat(dirfd, name, O_WRONLY | O_APPEND | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		/* A new file gets `perm` exactly, whatever the umask. */
		fd = openat(dirfd, name, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			    w->perm);
		created = fd >= 0;
		if (fd >= 0 && fchmod(fd, w->perm) < 0) {
			r = -errno;
			close(fd);
			return r;
		}
		/* Another append created it in between: append to that one. */
		if (fd < 0 && errno == EEXIST)
			fd = openat(dirfd, name, O_WRONLY | O_APPEND | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	}
	if (fd < 0)
		return -errno;
	file_in_place(w);
	if (fstat(fd, &st) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		if (S_ISDIR(st.st_mode))
			return -EISDIR;
		w->refusal = not_regular;
		return -EINVAL;
	}
	/* Another name for the same file may lie outside the write roots: an
	 * append would change it there. (Replace is safe: a rename replaces
	 * the name, not the file.) */
	if (st.st_nlink > 1) {
		close(fd);
		w->refusal = "the file has other hard links, which an append would change too";
		return -EMLINK;
	}
	r = write_sync_close(w, fd, "appending to", st.st_size);
	if (r == 0 && created && w->fsync) {
		/* The new name, like a replaced one, must survive a crash. */
		w->step = "syncing the directory of";
		r = confine_sync_dir(dirfd);
	}
	return r;
}

static void write_file(struct write_job *w)
{
	struct made_dirs made = { 0 };
	const char *name;
	int dirfd, r;

	w->step = "opening the directory of";
	confine_dirs_use_begin();
	w->holds_dirs_lock = true;
	if (w->mkdirs)
		dirfd = confine_make_parent(&w->cp, &made, &name);
	else
		dirfd = confine_open_parent(&w->cp, false, &name);
	r = dirfd < 0 ? dirfd : 0;
	if (r == 0 && w->fsync && made.n > 0) {
		/* The file's name is flushed with its directory; the names of
		 * the directories made for it must survive a crash too. First,
		 * so that a failure here still leaves no trace. */
		w->step = "syncing the directories made for";
		r = confine_sync_made_dirs(&w->cp, &made);
	}
	if (r == 0) {
		w->step = w->mode == W_CREATE ? "creating" : "checking";
		r = check_target(w, dirfd, name);
	}
	if (r == 0 && w->mode == W_CREATE && faccessat(dirfd, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
		r = -EEXIST;   /* fail early, and leave it untouched */
	if (r == 0)
		r = w->mode == W_APPEND ? run_append(w, dirfd, name) : run_staged(w, dirfd, name);
	if (dirfd >= 0)
		close(dirfd);
	file_in_place(w);
	if (r < 0 && made.n > 0) {
		/* No trace: what this write made goes, unless its file or
		 * another job's is in it (replace failing only at the final
		 * directory fsync, an append that wrote). */
		confine_remove_made_dirs(&w->cp, &made);
	}
	made_dirs_release(&made);
	w->err = r;
}

/* Everything on the way to the file, the confinement walk included, runs
 * with the requester's rights: the kernel decides what they may do, and
 * what they make is theirs. */
static void write_run(struct work *work)
{
	struct write_job *w = (struct write_job *)((char *)work - offsetof(struct write_job, work));
	int r;

	if (w->requester && (r = identity_enter(w->requester)) < 0) {
		w->step = "taking on the identity of the requesting user for";
		w->err = r;
		return;
	}
	write_file(w);
	if (w->requester)
		identity_leave();
}

/* ------------------------------------------------------------ on the loop */

static void start_waiting(struct daemon *d);

static void full_path(const struct write_job *w, char *buf, size_t size)
{
	const char *root = write_roots_path(w->roots, w->cp.root);
	snprintf(buf, size, "%s/%s", strcmp(root, "/") ? root : "", w->cp.rel);
}

static void release(struct write_job *w)
{
	struct write_queue *q = queue_of(w->d);

	if (w->holds_slot) {
		w->holds_slot = false;
		q->running--;
	}
	if (w->waiting) {
		TAILQ_REMOVE(&q->waiting, w, wait_link);
		w->waiting = false;
	}
	if (w->content) {
		q->bytes_pending -= w->len;
		free(w->content);
		w->content = NULL;
	}
}

static void write_done(struct work *work)
{
	struct write_job *w = (struct write_job *)((char *)work - offsetof(struct write_job, work));
	struct job *job = w->job;
	struct daemon *d = w->d;

	if (work->canceled) {
		/* Teardown: it never ran, so it left nothing behind. */
		release(w);
		job_unref(job);
		return;
	}
	release(w);
	if (!w->stopped && !d->tearing_down) {
		if (w->err == 0) {
			job_succeed(job);
		} else {
			char path[PATH_MAX + 1];
			full_path(w, path, sizeof(path));
			/* A symlink on the way, or a target refused for what it
			 * is, is forbidden; the rest is the disk's answer (an
			 * EINVAL or EMLINK from the filesystem included). */
			bool through_symlink = w->err == -ELOOP || w->err == -EXDEV;
			const char *why = w->refusal ? w->refusal
					: through_symlink ? "paths may not lead through symlinks" : NULL;
			job_fail(job, why ? JOB_ERR_FORBIDDEN : JOB_ERR_IO, "%s %s: %s (%s)%s%s",
				 w->step, path, strerror(-w->err), errno_name(w->err), why ? "; " : "",
				 why ? why : "");
		}
	}
	if (!d->tearing_down)
		start_waiting(d);
	job_unref(job);   /* taken when handed to the worker */
}

/* The file is touched only once the job is on disk as running: a write
 * found "queued" after a crash never began. Stopped meanwhile, it gives
 * its slot back as write_done would. */
static void submit_when_running_is_durable(struct job *job)
{
	struct write_job *w = job->data;
	struct daemon *d = w->d;

	if (!w->stopped) {
		w->submitted = true;
		workers_submit(d->workers, &w->work);
		return;
	}
	release(w);
	if (!d->tearing_down)
		start_waiting(d);
	job_unref(job);   /* taken in hand_over */
}

static void hand_over(struct write_job *w)
{
	struct daemon *d = w->d;

	w->holds_slot = true;
	queue_of(d)->running++;
	job_set_running(w->job);
	job_ref(w->job);
	w->work.run = write_run;
	w->work.done = write_done;
	job_when_durable(w->job, submit_when_running_is_durable);
}

/* One write per worker thread at a time; the rest wait in queued. */
static void start_waiting(struct daemon *d)
{
	struct write_queue *q = queue_of(d);
	struct write_job *w;

	/* A daemon shutting down starts nothing new: a kept job begins at
	 * the next start, a canceled one never. */
	while (!d->shutting_down && q->running < d->config->limits.io_threads &&
	       (w = TAILQ_FIRST(&q->waiting))) {
		TAILQ_REMOVE(&q->waiting, w, wait_link);
		w->waiting = false;
		hand_over(w);
	}
}

static void write_start(struct job *job)
{
	struct write_job *w = job->data;
	struct daemon *d = w->d;

	struct write_queue *q = queue_of(d);

	w->job = job;
	q->bytes_pending += w->len;
	TAILQ_INSERT_TAIL(&q->waiting, w, wait_link);
	w->waiting = true;
	start_waiting(d);
}

/* A replace puts a whole new file in place of the name, so doing it again
 * is safe. An append or a create that a restart cut off may or may not
 * have happened, and is never done twice. */
static enum job_recovery write_recover(const struct job *job, const char **why)
{
	const struct write_job *w = job->data;

	if (w->mode == W_REPLACE)
		return JOB_RUN_AGAIN;
	*why = w->mode == W_APPEND
		? "asyncjobd restarted while the append ran: it may or may not have been "
		  "written, and is not appended twice"
		: "asyncjobd restarted while the file was being created: it may or may not "
		  "exist now, and is not created twice";
	return JOB_INTERRUPTED;
}

static bool write_prepare_stop(struct job *job)
{
	struct write_job *w = job->data;
	bool ok;

	if (!w->holds_slot)
		return true;   /* queued: nothing started */
	pthread_mutex_lock(&w->lock);
	ok = !w->committing;
	if (ok)
		w->cancel = true;
	pthread_mutex_unlock(&w->lock);
	return ok;
}

static void write_stop(struct job *job)
{
	struct write_job *w = job->data;

	w->stopped = true;
	if (w->waiting) {
		release(w);
		return;
	}
	if (w->holds_slot && w->submitted && workers_cancel(w->d->workers, &w->work)) {
		/* Taken back before a thread started it. */
		release(w);
		job_unref(job);
		start_waiting(w->d);
	}
	/* Otherwise the thread stops at the commit point (w->cancel) and
	 * write_done() frees the slot; or, not handed over yet, the wait for
	 * the store does (submit_when_running_is_durable). */
}

static void write_write_result(const struct job *job, struct jsonw *jw)
{
	const struct write_job *w = job->data;
	char path[PATH_MAX + 1];

	full_path(w, path, sizeof(path));
	jsonw_object_begin(jw);
	jsonw_key(jw, "path");
	jsonw_string(jw, path);
	jsonw_key(jw, "bytes");
	jsonw_uint(jw, w->len);
	jsonw_object_end(jw);
}

static void write_free(void *data)
{
	struct write_job *w = data;

	if (!w)
		return;
	if (w->content && w->job)
		release(w);
	free(w->content);
	confined_path_release(&w->cp);
	write_roots_unref(w->roots);
	identity_unref(w->requester);
	pthread_mutex_destroy(&w->lock);
	free(w);
}

const struct job_type job_type_write = {
	.name = "write",
	.starts_when_durable = true,
	.recover = write_recover,
	.fields = write_fields,
	.parse = write_parse,
	.start = write_start,
	.prepare_stop = write_prepare_stop,
	.stop = write_stop,
	.write_result = write_write_result,
	.free_data = write_free,
	.state_new = write_queue_new,
	.state_free = write_queue_free,
};
