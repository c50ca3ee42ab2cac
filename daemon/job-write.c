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
 * that fails before its commit point leaves no trace either.
 *
 * Evidence for a restart. With a store that keeps jobs across restarts
 * (d->keep_job_specs), a write that was running when the daemon stopped is
 * judged when it runs again, on a worker as the requester: a replace is
 * simply made again; an append or a create is made again only when the
 * files prove it was not made, counted as succeeded when they prove it was,
 * and fails with `interrupted` when they cannot tell, never made twice and
 * never silently lost. What the judgement needs is kept before the commit
 * point and costs no store round trip of its own:
 *
 * append: the file as it was before (absent, or its st_dev, st_ino and
 * size) is recorded in the job's RUNNING record, whose durability the write
 * waits for anyway. A worker looks at the file first (the job still
 * queued), the loop records what it saw with the job's start, and the
 * append begins only if the file is still exactly that; if it is not
 * (another program wrote to it meanwhile) nothing is written and the new
 * state is recorded again (after MAX_RESTAMPS times, "unproven": the append
 * goes ahead without evidence, and a restart says `interrupted`). The
 * appends to one path go in order (append_line): the first looks, each
 * after it records the file as the one before will leave it, and they
 * write one at a time, so that no append of ours lands between another's
 * record and its bytes, and a burst of them still records in one group
 * commit. After a restart, with `base` the old size (0 for a file that was
 * absent):
 *
 *   the file now                                   | verdict
 *   -----------------------------------------------+------------------------
 *   absent, and it was absent                      | not made: append now
 *   absent, or another inode, and it was there     | cannot tell
 *   size == base                                   | not made: append now
 *   size < base                                    | cannot tell (cut back)
 *   bytes from base are the content, all of it     | made: succeeded
 *   bytes from base are a first part of it, and    | half made (a write cut
 *     the file ends there                          |   off): append the rest
 *   other bytes from base                          | cannot tell
 *
 * This proves what it says as long as no other program appends the same
 * bytes to the file, or cuts it, while the write is unfinished; two write
 * roots that reach one directory by different paths (a bind mount) count
 * as another program.
 *
 * create: the content is staged under a name a restart can find from the
 * job id (.NAME.asyncjob-ID), and just before the rename that commits it a
 * marker (.NAME.asyncjob-ID.committing) is made beside it. Only the rename
 * takes the staged file away while the marker exists (a failure removes
 * the marker first, then the staged file), so:
 *
 *   marker | staged | target                      | verdict
 *   -------+--------+-----------------------------+--------------------------
 *   absent | any    | any                         | not committed: remove the
 *          |        |                             |   staged file, create now
 *          |        |                             |   (an existing target
 *          |        |                             |   fails EEXIST, as the
 *          |        |                             |   first run would have)
 *   there  | there  | the staged file's inode     | made (cut between link
 *          |        |                             |   and unlink): succeeded
 *   there  | there  | anything else               | not committed: remove
 *          |        |                             |   both, create now
 *   there  | absent | a file with the content     | made: succeeded
 *   there  | absent | absent, or other content    | cannot tell (removed or
 *          |        |                             |   changed since, or the
 *          |        |                             |   staged file removed)
 *
 * The marker outlives the job's final record: it is removed once that is
 * durable, and until it is, the record is marked for tidying, so that a
 * restart in between removes it (job_type.tidy). A machine crash keeps
 * this true on a filesystem that keeps the order of a directory's changes
 * (ext4, xfs: a journal); a crash of the daemon alone, always.
 *
 * replace: staged under the same kind of name, which a run after a restart
 * removes first: a crash leaves no staged file behind. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <uthash.h>

#include "daemon/confine.h"
#include "daemon/daemon.h"
#include "daemon/identity.h"
#include "daemon/job-record.h"
#include "daemon/job.h"
#include "daemon/log.h"
#include "daemon/metrics.h"
#include "daemon/upload.h"
#include "daemon/params.h"
#include "daemon/workers.h"
#include "daemon/xalloc.h"
#include "proto/base64.h"
#include "proto/json.h"
#include "proto/jsonw.h"

#undef uthash_fatal
#define uthash_fatal(msg) xalloc_die()

enum write_mode { W_REPLACE, W_APPEND, W_CREATE };

/* Times an append records the file's state again because it changed before
 * the first byte could go; then it goes ahead without evidence. */
#define MAX_RESTAMPS 3

extern const struct job_type job_type_write;
struct write_job;
TAILQ_HEAD(write_list, write_job);

/* The appends to one path (with evidence), in order. Its members hold
 * write slots and are running: the first looks at the file, and each one
 * after it records the file as the one before will leave it (the same
 * inode, that one's bytes further on), so that a burst of appends to one
 * file records in one group commit; they write one at a time, in order,
 * each when the one before is done. An append that cannot be chained (the
 * one before has not looked yet, or found no file) waits here, off the
 * queue's list, holding no slot, until it can. */
struct append_line {
	UT_hash_handle hh;
	struct write_list members;
	struct write_list waiting;
	char key[];                    /* the path */
};

/* What the write jobs share: one write per worker thread at a time, the
 * rest waiting in order, and the content they hold. */
struct write_queue {
	struct write_list waiting;
	size_t running;
	size_t bytes_pending;          /* content held by unfinished writes */
	struct append_line *lines;     /* by key */
};

/* An append's file before the append: what a restart compares it with. */
enum before_kind {
	BEFORE_UNKNOWN,        /* not looked at, or could not be */
	BEFORE_ABSENT,         /* no file: the append creates it */
	BEFORE_FILE,           /* a regular file: dev, ino, size */
	BEFORE_UNPROVEN,       /* kept changing: the append goes without evidence */
};

struct file_before {
	enum before_kind kind;
	uint64_t dev, ino, size;
};

/* A restarted append's or create's judgement of its evidence. */
enum verdict {
	V_NONE,                /* not judged (not restarted, or a replace) */
	V_NOT_MADE,            /* made now */
	V_HALF_MADE,           /* an append cut off: the rest appended now */
	V_MADE,                /* made before the restart: succeeds as it is */
	V_CANNOT_TELL,         /* fails with `interrupted` */
};

struct write_job {
	struct job *job;
	uint64_t id;           /* the job's, for names a restart finds again */
	struct daemon *d;
	struct write_roots *roots;
	struct confined_path cp;
	struct identity *requester;    /* whose rights the file work has */
	unsigned char *content;
	size_t len;
	/* Content from an upload (upload.h): its spool file, read on the
	 * worker, in place of `content`; -1 for none. */
	int content_fd;
	char upload[UPLOAD_TOKEN_LEN + 1];
	bool content_lost;     /* restored, and the spool file is gone */
	bool released;         /* release() has run: no worker reads it now */
	bool spool_drop_asked;
	enum write_mode mode;
	bool fsync;
	bool mkdirs;
	mode_t perm;

	/* The store keeps records: the write keeps evidence for a restart. */
	bool evidence;
	/* Started again after a restart: the evidence is judged first. */
	bool recovering;
	/* Read back from the record (record_read). */
	bool has_before;       /* append: `before` was recorded */
	bool marked_create;    /* create: made the way the marker proves */
	struct file_before before;     /* append: as recorded */
	unsigned restamps;
	/* create: its marker may be beside the target; removed (tidied) once
	 * the job's final record is durable. */
	bool marker_left;

	struct work work;
	bool holds_slot;       /* counted in the queue's running */
	bool waiting;          /* on the queue's waiting list, or a line's */
	struct append_line *waiting_on;   /* the line it waits on, if one */
	struct append_line *line;         /* the line it is a member of */
	TAILQ_ENTRY(write_job) wait_link;
	TAILQ_ENTRY(write_job) member_link;
	/* A member whose record is on disk, waiting for the ones before it. */
	bool turn_ready;
	bool stopped;          /* canceled: the outcome is discarded */
	bool submitted;        /* handed to the worker threads */

	/* Shared with the worker thread. */
	pthread_mutex_t lock;
	bool cancel;           /* stop before the commit point */
	bool committing;       /* past it (or, restarted, not judged yet) */

	/* Worker only: between confine_dirs_use_begin and _end. */
	bool holds_dirs_lock;

	/* The worker's answer. */
	int err;
	const char *step;
	/* Why the target was refused (its type, its other names) when `err`
	 * is the client's doing rather than the disk's; NULL otherwise. */
	const char *refusal;
	struct file_before seen;   /* append: the file as the worker found it */
	bool marker_made;          /* create: its marker is beside the target */
	int tidy_err;              /* removing the marker: 0 or -errno */
	bool stale;                /* append: not as recorded; nothing written */
	size_t made_already;       /* append: bytes of it a cut-off run wrote */
	enum verdict verdict;
	char *why;                 /* V_CANNOT_TELL, or recovery's: why (malloc'd) */
	/* Restarted with its time run out while the daemon was down: the
	 * timeout's message (malloc'd). Found not made, it is not made. */
	char *ran_out;
	bool timed_out;            /* so found: not made */
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
	struct write_queue *q = state;
	struct append_line *line, *tmp;

	/* Every job is gone by now, and with the last of each line the line:
	 * this is for form's sake. */
	HASH_ITER(hh, q->lines, line, tmp) {
		HASH_DEL(q->lines, line);
		free(line);
	}
	free(q);
}
static const char *const write_fields[] = {
	"path", "content", "content_base64", "upload", "mode", "fsync", "perm", "mkdirs", NULL,
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
	w->content_fd = -1;
	w->evidence = d->keep_job_specs;
	w->fsync = true;
	w->perm = 0644;
	pthread_mutex_init(&w->lock, NULL);

	r = param_string(spec, "path", true, PATH_MAX, true, &path, &len, e);
	if (r < 0)
		goto fail;
	r = confine_check(d->config->roots, path, len, &w->cp, &why);
	if (r == -EPERM) {
		char refusal[256];
		confine_refusal(d->config->roots, path, why, refusal, sizeof(refusal));
		r = rpc_error_forbidden(e, "path", "%s", refusal);
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
	const char *token = NULL;
	size_t token_len = 0;
	bool has_text = text != NULL, has_b64 = b64 != NULL;
	if (has_text && has_b64) {
		r = rpc_error_param(e, "content_base64", "give content or content_base64, not both");
		goto fail;
	}
	if ((r = param_string(spec, "upload", false, UPLOAD_TOKEN_LEN, true, &token, &token_len,
			      e)) < 0)
		goto fail;
	if (token && (has_text || has_b64)) {
		r = rpc_error_param(e, "upload", "give content, content_base64 or upload, not two");
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
	/* Last, once nothing else can refuse the spec: taking an upload ends
	 * it for any other job. */
	if (token) {
		uint64_t size = 0;
		memcpy(w->upload, token, token_len);
		if (d->restoring) {
			/* The spec is the store's: the content is where the job
			 * left it, unless something removed it. */
			if (upload_reopen(d, token, token_len, &w->content_fd, &size) < 0)
				w->content_lost = true;
		} else if (!requester) {
			r = rpc_error_param(e, "upload", "only a client's job may take an upload");
			goto fail;
		} else if ((r = upload_take(d, token, token_len, requester->uid, "upload",
					    &w->content_fd, &size, e)) < 0) {
			goto fail;
		}
		if (size > SIZE_MAX) {
			r = rpc_error_param(e, "upload", "too large for this machine");
			goto fail;
		}
		w->len = (size_t)size;
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

/* Back before the commit point, nothing written after all (an append that
 * found its file changed, a restarted write judged not made): a cancel may
 * stop it again. */
static void end_commit(struct write_job *w)
{
	pthread_mutex_lock(&w->lock);
	w->committing = false;
	pthread_mutex_unlock(&w->lock);
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

/* Writes the content's bytes from `from` on to `fd`, from memory or from
 * the upload's spool file; *written says how many made it. */
static int write_content(struct write_job *w, int fd, size_t from, size_t *written)
{
	unsigned char buf[65536];

	*written = 0;
	if (w->content_fd < 0)
		return from < w->len ? write_all(fd, w->content + from, w->len - from, written) : 0;
	while (from < w->len) {
		size_t k = w->len - from < sizeof(buf) ? w->len - from : sizeof(buf);
		ssize_t got = pread(w->content_fd, buf, k, (off_t)from);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return got < 0 ? -errno : -EIO;   /* the spool file is short */
		size_t put;
		int r = write_all(fd, buf, (size_t)got, &put);
		*written += put;
		if (r < 0)
			return r;
		from += (size_t)got;
	}
	return 0;
}

/* Writes the content from byte `from` on to `fd`, flushes it when asked,
 * and closes it. With `undo_size` (not -1), a failed write truncates back
 * to it, as above. */
static int write_sync_close(struct write_job *w, int fd, size_t from, const char *writing,
			    off_t undo_size)
{
	size_t written;
	int r;

	w->step = writing;
	r = write_content(w, fd, from, &written);
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

/* The names a staged write goes by beside its target `name`, which a
 * restart finds again from the job id: the staged copy and (a create's)
 * the marker made just before the commit. Within NAME_MAX. */
static void evidence_names(const struct write_job *w, const char *name, char *staged,
			   char *marker)
{
	snprintf(staged, NAME_MAX + 1, ".%.200s.asyncjob-%" PRIu64, name, w->id);
	if (marker)
		snprintf(marker, NAME_MAX + 1, ".%.200s.asyncjob-%" PRIu64 ".committing", name,
			 w->id);
}

/* The marker: empty, the requester's. One left by a run a restart cut off
 * (a judged create removes it first) is as good as a new one. */
static int make_marker(int dirfd, const char *marker)
{
	int fd = openat(dirfd, marker, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	close(fd);
	return 0;
}

static int run_staged(struct write_job *w, int dirfd, const char *name)
{
	char tmp[NAME_MAX + 1] = "", marker[NAME_MAX + 1] = "";
	bool marked = false;
	int fd, r;

	w->step = "creating a temporary file in";
	if (w->evidence) {
		evidence_names(w, name, tmp, marker);
		/* What a run that a restart cut off staged. */
		if (w->recovering)
			unlinkat(dirfd, tmp, 0);
		fd = confine_create_named(dirfd, tmp, w->perm);
	} else {
		fd = confine_create_temp(dirfd, name, w->perm, tmp, sizeof(tmp));
	}
	if (fd < 0)
		return fd;
	file_in_place(w);
	r = write_sync_close(w, fd, 0, "writing", -1);
	if (r == 0 && !begin_commit(w))
		r = -ECANCELED;
	if (r == 0) {
		w->step = w->mode == W_CREATE ? "creating" : "replacing";
		/* Checked again at the last moment: a directory or a FIFO that
		 * appeared meanwhile is not replaced. */
		r = check_target(w, dirfd, name);
		if (r == 0 && w->evidence && w->mode == W_CREATE) {
			/* From here on only the rename takes the staged copy
			 * away: a restart's evidence that it was made. */
			r = make_marker(dirfd, marker);
			marked = r == 0;
		}
		if (r == 0)
			r = confine_install(dirfd, tmp, name, w->mode == W_REPLACE);
	}
	if (r < 0) {
		/* No temporary file survives a failure; the marker goes
		 * first, so that a crash in between still tells "not made". */
		if (marked)
			unlinkat(dirfd, marker, 0);
		unlinkat(dirfd, tmp, 0);
		return r;
	}
	w->marker_made = marked;
	if (w->fsync) {
		w->step = "syncing the directory of";
		r = confine_sync_dir(dirfd);
	}
	return r;
}

static void cannot_tell(struct write_job *w, const char *fmt, ...) LOG_PRINTF(2, 3);

static void note_seen(struct write_job *w, const struct stat *st)
{
	w->seen = (struct file_before){ .kind = BEFORE_FILE, .dev = (uint64_t)st->st_dev,
					.ino = (uint64_t)st->st_ino, .size = (uint64_t)st->st_size };
}

/* Whether the file an append opened is as its record says (with the bytes
 * a cut-off run made of it already there): only then may its bytes go,
 * and a restart knows where to look for them. */
static bool as_recorded(const struct write_job *w, const struct stat *st)
{
	uint64_t base;

	switch (w->before.kind) {
	case BEFORE_ABSENT:
		base = 0;
		break;
	case BEFORE_FILE:
		if ((uint64_t)st->st_dev != w->before.dev || (uint64_t)st->st_ino != w->before.ino)
			return false;
		base = w->before.size;
		break;
	default:
		return false;
	}
	return (uint64_t)st->st_size == base + w->made_already;
}

static int run_append(struct write_job *w, int dirfd, const char *name)
{
	/* With evidence, the file must be what the record says before the
	 * first byte goes (unless it kept changing: then it goes unproven). */
	bool check = w->evidence && w->before.kind != BEFORE_UNPROVEN;
	bool committed = false, created = false;
	struct stat st;
	int fd, r;

	w->step = "opening";
	/* O_NONBLOCK: a FIFO must fail the check below, not hang the thread. */
	fd = openat(dirfd, name, O_WRONLY | O_APPEND | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		if (check && w->before.kind != BEFORE_ABSENT) {
			w->seen = (struct file_before){ .kind = BEFORE_ABSENT };
			w->stale = true;
			return 0;
		}
		/* Making the file is already an effect: the commit point. */
		if (!begin_commit(w))
			return -ECANCELED;
		committed = true;
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
	if (check && !as_recorded(w, &st)) {
		close(fd);
		if (w->made_already) {
			/* Its first bytes are there, and the rest can no
			 * longer go right after them. */
			cannot_tell(w, "it changed while the rest of a write cut short was about to "
				    "be appended");
			return 0;
		}
		/* Changed since it was recorded (another program wrote to
		 * it): nothing is written; the loop records it as it is now,
		 * and the append tries again once that is on disk. */
		note_seen(w, &st);
		if (committed)
			end_commit(w);
		w->stale = true;
		return 0;
	}
	if (!committed && !begin_commit(w)) {
		close(fd);
		return -ECANCELED;
	}
	r = write_sync_close(w, fd, w->made_already, "appending to", st.st_size);
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

/* ------------------------------------------------------------ judging, after a restart */

/* Sets w->why (any thread). */
static void set_why(struct write_job *w, const char *fmt, va_list ap) LOG_PRINTF(2, 0);
static void set_why(struct write_job *w, const char *fmt, va_list ap)
{
	va_list again;

	va_copy(again, ap);
	int n = vsnprintf(NULL, 0, fmt, again);
	va_end(again);
	free(w->why);
	w->why = xmalloc(n < 0 ? 1 : (size_t)n + 1);
	if (n < 0)
		w->why[0] = '\0';
	else
		vsnprintf(w->why, (size_t)n + 1, fmt, ap);
}

static void cannot_tell(struct write_job *w, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	set_why(w, fmt, ap);
	va_end(ap);
	w->verdict = V_CANNOT_TELL;
}

/* Whether the `n` bytes of `fd` from `off` on are the first `n` bytes of
 * the write's content (in memory, or in its upload's spool file): 1, 0
 * (other bytes, or fewer), or a negative errno. */
static int file_holds(const struct write_job *w, int fd, uint64_t off, size_t n)
{
	unsigned char buf[16384], want[16384];
	size_t at = 0;

	while (at < n) {
		size_t k = n - at < sizeof(buf) ? n - at : sizeof(buf);
		ssize_t got = pread(fd, buf, k, (off_t)(off + at));
		if (got < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (got == 0)
			return 0;
		const unsigned char *expect = w->content + at;
		if (w->content_fd >= 0) {
			size_t have = 0;
			while (have < (size_t)got) {
				ssize_t g = pread(w->content_fd, want + have, (size_t)got - have,
						  (off_t)(at + have));
				if (g < 0 && errno == EINTR)
					continue;
				if (g <= 0)
					return g < 0 ? -errno : -EIO;
				have += (size_t)g;
			}
			expect = want;
		}
		if (memcmp(buf, expect, (size_t)got) != 0)
			return 0;
		at += (size_t)got;
	}
	return 1;
}

/* Compares the `n` bytes from `off` of `name` in `dirfd`, which fstatat
 * found as `st`, with the write's content: 1, 0, or a negative errno (-ESTALE: it is
 * another file, or changed, since `st`). */
static int compare_file(int dirfd, const char *name, const struct stat *st, uint64_t off,
			const struct write_job *w, size_t n)
{
	struct stat again;
	int r;

	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &again) < 0)
		r = -errno;
	else if (again.st_dev != st->st_dev || again.st_ino != st->st_ino ||
		 again.st_size != st->st_size)
		r = -ESTALE;
	else
		r = file_holds(w, fd, off, n);
	close(fd);
	return r;
}

/* 1 and *st when `name` is there in `dirfd` (not followed), 0 when not, or
 * a negative errno. */
static int lookup(int dirfd, const char *name, struct stat *st)
{
	if (fstatat(dirfd, name, st, AT_SYMLINK_NOFOLLOW) == 0)
		return 1;
	return errno == ENOENT ? 0 : -errno;
}

/* The append's table at the top, as the requester. */
static void judge_append(struct write_job *w)
{
	const struct file_before *b = &w->before;
	const char *name;
	struct stat st;
	uint64_t base = 0;
	int r;

	int dirfd = confine_open_parent(&w->cp, false, &name);
	if (dirfd < 0 && dirfd != -ENOENT) {
		cannot_tell(w, "its directory cannot be opened (%s)", errno_name(dirfd));
		return;
	}
	r = dirfd < 0 ? 0 : lookup(dirfd, name, &st);
	if (r <= 0) {
		if (r < 0)
			cannot_tell(w, "it cannot be examined (%s)", errno_name(r));
		else if (b->kind == BEFORE_ABSENT)
			w->verdict = V_NOT_MADE;
		else
			cannot_tell(w, "the file it was appending to is gone");
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		cannot_tell(w, "it is no longer a regular file");
		goto out;
	}
	if (b->kind == BEFORE_FILE) {
		if ((uint64_t)st.st_dev != b->dev || (uint64_t)st.st_ino != b->ino) {
			cannot_tell(w, "another file has taken its name");
			goto out;
		}
		base = b->size;
	}
	uint64_t size = (uint64_t)st.st_size;
	if (size == base) {
		w->verdict = V_NOT_MADE;
		goto out;
	}
	if (size < base) {
		cannot_tell(w, "it is shorter (%" PRIu64 " bytes) than before the append (%" PRIu64 ")",
			    size, base);
		goto out;
	}
	size_t there = size - base < w->len ? (size_t)(size - base) : w->len;
	r = compare_file(dirfd, name, &st, base, w, there);
	if (r < 0)
		cannot_tell(w, "it cannot be read back to compare (%s)",
			    r == -ESTALE ? "it changed meanwhile" : errno_name(r));
	else if (r == 0)
		cannot_tell(w, "the bytes after its old end (%" PRIu64 ") are not this append's", base);
	else if (there == w->len)
		w->verdict = V_MADE;
	else {
		/* The file ends inside its bytes: a write a crash cut short. */
		w->verdict = V_HALF_MADE;
		w->made_already = there;
	}
out:
	if (dirfd >= 0)
		close(dirfd);
}

/* The create's table at the top, as the requester. */
static void judge_create(struct write_job *w)
{
	char staged[NAME_MAX + 1], marker[NAME_MAX + 1];
	struct stat mst, sst, tst;
	const char *name;
	int m, s, t;

	int dirfd = confine_open_parent(&w->cp, false, &name);
	if (dirfd == -ENOENT) {
		w->verdict = V_NOT_MADE;   /* no directory: none of it is there */
		return;
	}
	if (dirfd < 0) {
		cannot_tell(w, "its directory cannot be opened (%s)", errno_name(dirfd));
		return;
	}
	evidence_names(w, name, staged, marker);
	if ((m = lookup(dirfd, marker, &mst)) < 0 || (s = lookup(dirfd, staged, &sst)) < 0 ||
	    (t = lookup(dirfd, name, &tst)) < 0) {
		int e = m < 0 ? m : s < 0 ? s : t;
		cannot_tell(w, "its directory cannot be examined (%s)", errno_name(e));
		goto out;
	}
	if (!m) {
		/* Never got to its commit point. */
		if (s)
			unlinkat(dirfd, staged, 0);
		w->verdict = V_NOT_MADE;
	} else if (s && t && sst.st_dev == tst.st_dev && sst.st_ino == tst.st_ino) {
		/* Linked in place (a filesystem without RENAME_NOREPLACE) and
		 * cut off before the staged name went. */
		unlinkat(dirfd, staged, 0);
		w->marker_made = true;
		w->verdict = V_MADE;
	} else if (s) {
		/* The rename never took the staged copy: the marker first,
		 * as a failure does. */
		unlinkat(dirfd, marker, 0);
		unlinkat(dirfd, staged, 0);
		w->verdict = V_NOT_MADE;
	} else {
		/* The rename took the staged copy away: made, unless someone
		 * else removed it. The marker stays until the job's end is on
		 * disk. */
		w->marker_made = true;
		int r = !t ? 0 : !S_ISREG(tst.st_mode) || (uint64_t)tst.st_size != w->len ? 0
			: compare_file(dirfd, name, &tst, 0, w, w->len);
		if (r == 1)
			w->verdict = V_MADE;
		else if (!t)
			cannot_tell(w, "it was created and then removed, or its staged copy %s was "
				    "removed: asyncjobd cannot tell which", staged);
		else if (r < 0)
			cannot_tell(w, "it cannot be read back to compare (%s)",
				    r == -ESTALE ? "it changed meanwhile" : errno_name(r));
		else
			cannot_tell(w, "what has its name now is not the content this create "
				    "wrote: changed since, or someone else's");
	}
out:
	close(dirfd);
}

/* Everything on the way to the file, the confinement walk included, runs
 * with the requester's rights: the kernel decides what they may do, and
 * what they make is theirs. */
static void write_run(struct work *work)
{
	struct write_job *w = (struct write_job *)((char *)work - offsetof(struct write_job, work));
	bool judge = w->recovering && w->mode != W_REPLACE && w->verdict == V_NONE;
	int r;

	if (w->requester && (r = identity_enter(w->requester)) < 0) {
		if (judge) {
			cannot_tell(w, "asyncjobd cannot take on the requesting user's identity to "
				    "look (%s)", errno_name(r));
			return;
		}
		w->step = "taking on the identity of the requesting user for";
		w->err = r;
		return;
	}
	if (judge) {
		if (w->mode == W_APPEND)
			judge_append(w);
		else
			judge_create(w);
		/* Not made: it may be stopped again before its commit point
		 * (half made, it is past it). */
		if (w->verdict == V_NOT_MADE)
			end_commit(w);
		/* Its time ran out while the daemon was down: what was not
		 * made is not made now. */
		if (w->verdict == V_NOT_MADE && w->ran_out)
			w->timed_out = true;
	}
	if (w->verdict != V_MADE && w->verdict != V_CANNOT_TELL && !w->timed_out)
		write_file(w);
	if (w->requester)
		identity_leave();
}

/* Before an append with evidence: what its file is now, for its RUNNING
 * record. The job is still queued and nothing is changed. */
static void look_run(struct work *work)
{
	struct write_job *w = (struct write_job *)((char *)work - offsetof(struct write_job, work));
	const char *name;
	struct stat st;

	w->seen = (struct file_before){ .kind = BEFORE_UNKNOWN };
	/* Unknown: the append itself, recorded again, says why it fails. */
	if (w->requester && identity_enter(w->requester) < 0)
		return;
	int dirfd = confine_open_parent(&w->cp, false, &name);
	if (dirfd == -ENOENT) {
		w->seen.kind = BEFORE_ABSENT;
	} else if (dirfd >= 0) {
		int r = lookup(dirfd, name, &st);
		if (r == 0)
			w->seen.kind = BEFORE_ABSENT;
		else if (r > 0 && S_ISREG(st.st_mode))
			note_seen(w, &st);
		close(dirfd);
	}
	if (w->requester)
		identity_leave();
}

/* After a create's end is on disk: its marker goes. (Its staged copy is
 * gone already: taken by the rename, or removed by a restart's judgement
 * or a failure.) */
static void tidy_run(struct work *work)
{
	struct write_job *w = (struct write_job *)((char *)work - offsetof(struct write_job, work));
	char staged[NAME_MAX + 1], marker[NAME_MAX + 1];
	const char *name;

	if (w->requester && (w->tidy_err = identity_enter(w->requester)) < 0)
		return;
	int dirfd = confine_open_parent(&w->cp, false, &name);
	w->tidy_err = dirfd == -ENOENT ? 0 : dirfd < 0 ? dirfd : 0;
	if (dirfd >= 0) {
		evidence_names(w, name, staged, marker);
		if (unlinkat(dirfd, marker, 0) < 0 && errno != ENOENT)
			w->tidy_err = -errno;
		close(dirfd);
	}
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

/* Whether an append that keeps evidence may begin: it joins its path's
 * line (as its first member, or chained after the last), or waits on it
 * (then false). Other writes need none. */
static bool take_line(struct write_queue *q, struct write_job *w)
{
	char key[PATH_MAX + 1];
	struct append_line *line;

	if (!w->evidence || w->mode != W_APPEND || w->line)
		return true;
	/* The whole path: the same across a reload that renumbers the roots. */
	full_path(w, key, sizeof(key));
	size_t n = strlen(key);
	HASH_FIND(hh, q->lines, key, n, line);
	if (!line) {
		line = xcalloc(1, sizeof(*line) + n + 1);
		memcpy(line->key, key, n + 1);
		TAILQ_INIT(&line->members);
		TAILQ_INIT(&line->waiting);
		HASH_ADD_KEYPTR(hh, q->lines, line->key, n, line);
	}
	struct write_job *last = TAILQ_LAST(&line->members, write_list);
	if (last && !w->recovering) {
		/* Chained: the file as the last member will leave it. (A
		 * restarted one keeps what its record says, and only waits its
		 * turn.) */
		if (!last->has_before || last->before.kind != BEFORE_FILE || !TAILQ_EMPTY(&line->waiting)) {
			TAILQ_INSERT_TAIL(&line->waiting, w, wait_link);
			w->waiting = true;
			w->waiting_on = line;
			return false;
		}
		w->before = last->before;
		w->before.size += last->len;
		w->has_before = true;
	}
	TAILQ_INSERT_TAIL(&line->members, w, member_link);
	w->line = line;
	return true;
}

/* The appends waiting on a line go back to the head of the queue, in
 * order, to join it (start_waiting then takes them). */
static void line_readmit(struct write_queue *q, struct append_line *line)
{
	struct write_job *w;

	while ((w = TAILQ_LAST(&line->waiting, write_list))) {
		TAILQ_REMOVE(&line->waiting, w, wait_link);
		w->waiting_on = NULL;
		TAILQ_INSERT_HEAD(&q->waiting, w, wait_link);
	}
}

/* w leaves its line (done, or stopped): the next member's turn comes, and
 * those waiting may join. */
static void leave_line(struct write_queue *q, struct write_job *w)
{
	struct append_line *line = w->line;
	bool was_first = TAILQ_FIRST(&line->members) == w;

	TAILQ_REMOVE(&line->members, w, member_link);
	w->line = NULL;
	w->turn_ready = false;
	struct write_job *next = TAILQ_FIRST(&line->members);
	if (was_first && next && next->turn_ready && !w->d->tearing_down) {
		next->turn_ready = false;
		next->submitted = true;
		workers_submit(w->d->workers, &next->work);
	}
	line_readmit(q, line);
	if (TAILQ_EMPTY(&line->members)) {
		HASH_DEL(q->lines, line);
		free(line);
	}
}

static void drop_spool_when_final_is_durable(struct job *job)
{
	struct write_job *w = job->data;

	if (w && w->content_fd >= 0) {
		upload_content_done(job->d, w->upload, w->content_fd, w->len);
		w->content_fd = -1;
	}
	job_unref(job);
}

/* The upload's content a write took goes once no worker reads it and the
 * job's end is on disk: until then a restart needs it to run the job
 * again. Called when either comes about. */
static void drop_spool_when_final(struct write_job *w)
{
	struct job *job = w->job;

	if (w->content_fd < 0 || !w->released || !job || !job_state_is_final(job->state) ||
	    w->spool_drop_asked)
		return;
	w->spool_drop_asked = true;
	job_ref(job);
	job_when_durable(job, drop_spool_when_final_is_durable);
}

static void release(struct write_job *w)
{
	struct write_queue *q = queue_of(w->d);

	if (w->holds_slot) {
		w->holds_slot = false;
		q->running--;
	}
	if (w->waiting) {
		TAILQ_REMOVE(w->waiting_on ? &w->waiting_on->waiting : &q->waiting, w, wait_link);
		w->waiting = false;
		w->waiting_on = NULL;
	}
	if (w->line)
		leave_line(q, w);
	if (w->content) {
		q->bytes_pending -= w->len;
		free(w->content);
		w->content = NULL;
	}
	w->released = true;
	drop_spool_when_final(w);
}

static void tidied(struct work *work)
{
	struct write_job *w = (struct write_job *)((char *)work - offsetof(struct write_job, work));
	struct job *job = w->job;

	if (!work->canceled && w->tidy_err == 0 && !w->d->tearing_down) {
		/* Nothing left beside the target: the record no longer asks
		 * the next start to tidy. */
		w->marker_left = false;
		job_record_changed(job);
	} else if (!work->canceled && w->tidy_err < 0) {
		char path[PATH_MAX + 1];
		full_path(w, path, sizeof(path));
		log_warnx("job %" PRIu64 ": cannot remove the marker beside %s: %s; the next "
			    "start tries again", job->id, path, strerror(-w->tidy_err));
	}
	job_unref(job);   /* taken for the work */
}

/* A create's end is on disk: its marker is no longer evidence of anything,
 * and goes. (At teardown the record, marked for tidying, leaves it to the
 * next start.) */
static void tidy_when_final_is_durable(struct job *job)
{
	struct write_job *w = job->data;

	if (job->d->tearing_down) {
		job_unref(job);
		return;
	}
	w->work.run = tidy_run;
	w->work.done = tidied;
	workers_submit(job->d->workers, &w->work);
}

/* "the append to PATH", "the creation of PATH", for messages. */
static void write_what(const struct write_job *w, char *buf, size_t size)
{
	char path[PATH_MAX + 1];

	full_path(w, path, sizeof(path));
	snprintf(buf, size, "%s %s", w->mode == W_APPEND ? "the append to"
		 : w->mode == W_CREATE ? "the creation of" : "the replacement of", path);
}

/* What a restarted write's judgement found, for the log (the job's state
 * and error tell the client). */
static void log_verdict(const struct write_job *w)
{
	uint64_t id = w->job->id;
	char what[PATH_MAX + 32];

	if (w->verdict == V_NONE)
		return;
	write_what(w, what, sizeof(what));
	switch (w->verdict) {
	case V_MADE:
		log_notice("job %" PRIu64 ": %s, cut off by a restart, was found made: it "
			   "succeeds without being made again", id, what);
		break;
	case V_NOT_MADE:
		log_notice("job %" PRIu64 ": %s, cut off by a restart, was found not made: %s", id,
			   what, w->timed_out ? "its time ran out meanwhile, and it is not made"
			   : "made now");
		break;
	case V_HALF_MADE:
		log_notice("job %" PRIu64 ": %s, cut off by a restart, was found half made (%zu "
			   "of %zu bytes): the rest appended now", id, what, w->made_already, w->len);
		break;
	case V_CANNOT_TELL:
		log_notice("job %" PRIu64 ": %s, cut off by a restart, cannot be told made or "
			   "not: %s", id, what, w->why);
		break;
	case V_NONE:
		break;
	}
}

static void finish_write(struct write_job *w)
{
	struct job *job = w->job;
	char path[PATH_MAX + 1];

	full_path(w, path, sizeof(path));
	log_verdict(w);
	if (w->verdict == V_CANNOT_TELL) {
		char what[PATH_MAX + 32];
		write_what(w, what, sizeof(what));
		job_fail(job, JOB_ERR_INTERRUPTED, "asyncjobd restarted during %s, and cannot tell "
			 "whether it was made: %s; it is not made twice", what, w->why);
	} else if (w->timed_out) {
		char what[PATH_MAX + 32];
		write_what(w, what, sizeof(what));
		job_fail(job, JOB_ERR_TIMEOUT, "%s; %s was found not made, and is not made now",
			 w->ran_out, what);
	} else if (w->err == 0) {
		metrics_write_done(w->d, w->len);
		job_succeed(job);
	} else {
		/* A symlink on the way, or a target refused for what it is, is
		 * forbidden; the rest is the disk's answer (an EINVAL or EMLINK
		 * from the filesystem included). */
		bool through_symlink = w->err == -ELOOP || w->err == -EXDEV;
		const char *why = w->refusal ? w->refusal
				: through_symlink ? "paths may not lead through symlinks" : NULL;
		job_fail(job, why ? JOB_ERR_FORBIDDEN : JOB_ERR_IO, "%s %s: %s (%s)%s%s", w->step,
			 path, strerror(-w->err), errno_name(w->err), why ? "; " : "", why ? why : "");
	}
	if (w->marker_left) {
		job_ref(job);   /* for the tidying work */
		job_when_durable(job, tidy_when_final_is_durable);
	}
}

static void submit_when_running_is_durable(struct job *job);

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
	if (w->stale && !w->stopped && !d->tearing_down) {
		/* The file changed between its record and the append: nothing
		 * was written. Recorded as it is now (or, changing again and
		 * again, as unproven), the append tries again once that is on
		 * disk; it keeps its slot and its line. */
		w->stale = false;
		w->before = ++w->restamps > MAX_RESTAMPS
			? (struct file_before){ .kind = BEFORE_UNPROVEN } : w->seen;
		w->submitted = false;
		job_record_changed(job);
		job_when_durable(job, submit_when_running_is_durable);
		return;
	}
	/* Made after the commit point: no stop came after it. */
	w->marker_left = w->marker_made;
	release(w);
	if (!w->stopped && !d->tearing_down)
		finish_write(w);
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
		if (w->line && TAILQ_FIRST(&w->line->members) != w) {
			/* Its turn comes when the appends before it are done. */
			w->turn_ready = true;
			return;
		}
		w->submitted = true;
		workers_submit(d->workers, &w->work);
		return;
	}
	release(w);
	if (!d->tearing_down)
		start_waiting(d);
	job_unref(job);   /* taken in hand_over */
}

/* An append's look at its file is back: the RUNNING record says what it
 * saw, and the append begins once that is on disk. */
static void looked(struct work *work)
{
	struct write_job *w = (struct write_job *)((char *)work - offsetof(struct write_job, work));
	struct job *job = w->job;
	struct daemon *d = w->d;

	w->submitted = false;
	if (work->canceled || w->stopped || d->tearing_down || d->shutting_down) {
		/* Stopped, or a daemon going away: it never began (a kept job
		 * is still queued, and begins at the next start). */
		release(w);
		if (!work->canceled && !d->tearing_down)
			start_waiting(d);
		job_unref(job);   /* taken in hand_over */
		return;
	}
	w->before = w->seen;
	w->has_before = true;
	w->work.run = write_run;
	w->work.done = write_done;
	if (job->state == JOB_QUEUED)
		job_set_running(job);
	else
		job_record_changed(job);   /* restarted before its first look */
	job_when_durable(job, submit_when_running_is_durable);
	/* The appends after it on its path can be chained now. */
	if (w->before.kind == BEFORE_FILE && !TAILQ_EMPTY(&w->line->waiting)) {
		line_readmit(queue_of(d), w->line);
		start_waiting(d);
	}
}

static void hand_over(struct write_job *w)
{
	struct daemon *d = w->d;

	w->holds_slot = true;
	queue_of(d)->running++;
	job_ref(w->job);
	if (w->evidence && w->mode == W_APPEND && !w->recovering && !w->has_before) {
		/* First on its line: a look at the file, for its RUNNING
		 * record to say what it was. */
		w->work.run = look_run;
		w->work.done = looked;
		w->submitted = true;
		workers_submit(d->workers, &w->work);
		return;
	}
	job_set_running(w->job);
	w->work.run = write_run;
	w->work.done = write_done;
	job_when_durable(w->job, submit_when_running_is_durable);
}

/* A restarted append or create that has not judged its evidence yet: it
 * may be made already, and cannot be stopped until it knows. */
static bool unjudged(const struct write_job *w)
{
	return w->recovering && w->mode != W_REPLACE && w->verdict == V_NONE;
}

/* One write per worker thread at a time; the rest wait in queued. */
static void start_waiting(struct daemon *d)
{
	struct write_queue *q = queue_of(d);
	struct write_job *w, *next;

	for (w = TAILQ_FIRST(&q->waiting); w && q->running < d->config->limits.io_threads;
	     w = next) {
		next = TAILQ_NEXT(w, wait_link);
		/* A daemon shutting down starts nothing new: a kept job begins
		 * at the next start, a canceled one never. An unjudged one
		 * still runs: a shutdown that cancels waits for it. */
		if (d->shutting_down && !unjudged(w))
			continue;
		TAILQ_REMOVE(&q->waiting, w, wait_link);
		w->waiting = false;
		if (take_line(q, w))
			hand_over(w);
	}
}

static void write_start(struct job *job)
{
	struct write_job *w = job->data;
	struct daemon *d = w->d;

	struct write_queue *q = queue_of(d);
	char message[128];

	if (job->recovering) {
		w->recovering = true;
		if (w->mode == W_APPEND && w->before.kind == BEFORE_UNKNOWN) {
			/* Found before its file could be looked at: it never
			 * wrote, and starts as a new append would, if it has
			 * time left. (Not counted as pending: not queued.) */
			if (job_ran_out_while_down(job, message, sizeof(message))) {
				job_fail(job, JOB_ERR_TIMEOUT, "%s; it had not begun", message);
				return;
			}
			w->recovering = false;
		}
		if (unjudged(w)) {
			w->committing = true;
			if (job_ran_out_while_down(job, message, sizeof(message)))
				w->ran_out = xstrdup(message);
		}
	}
	w->job = job;
	w->id = job->id;
	if (w->content_lost) {
		w->released = true;
		job_fail(job, JOB_ERR_INTERRUPTED, "asyncjobd restarted, and the content this write "
			 "took from an upload is gone from its spool; it is not made");
		return;
	}
	if (w->content)
		q->bytes_pending += w->len;
	TAILQ_INSERT_TAIL(&q->waiting, w, wait_link);
	w->waiting = true;
	start_waiting(d);
}

static void why_recovery(struct write_job *w, const char *fmt, ...) LOG_PRINTF(2, 3);
static void why_recovery(struct write_job *w, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	set_why(w, fmt, ap);
	va_end(ap);
}

/* A replace puts a whole new file in place of the name, so doing it again
 * is safe. An append or a create is judged from its evidence (see the
 * top): but one whose record holds none cannot tell, and is never done
 * twice. */
static enum job_recovery write_recover(const struct job *job, const char **why)
{
	struct write_job *w = job->data;
	char what[PATH_MAX + 32];

	if (w->mode == W_REPLACE)
		return JOB_RUN_AGAIN;
	if (w->mode == W_APPEND && w->has_before && w->before.kind != BEFORE_UNPROVEN)
		return JOB_JUDGE;
	if (w->mode == W_CREATE && w->marked_create)
		return JOB_JUDGE;
	write_what(w, what, sizeof(what));
	if (w->mode == W_APPEND && w->has_before)
		why_recovery(w, "asyncjobd restarted during %s; the file kept changing under it, "
			     "so it was appended without evidence of where: it may or may not have "
			     "been made, and is not made twice", what);
	else
		why_recovery(w, "asyncjobd restarted during %s, and its record (from an older "
			     "asyncjobd) holds no evidence of how far it got: it may or may not "
			     "have been made, and is not made twice", what);
	*why = w->why;
	return JOB_INTERRUPTED;
}

static bool write_prepare_stop(struct job *job)
{
	struct write_job *w = job->data;
	bool ok;

	pthread_mutex_lock(&w->lock);
	ok = !w->committing;
	if (ok && w->holds_slot)
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
		/* Appends waiting behind it on its path may join now. */
		start_waiting(w->d);
		return;
	}
	if (w->turn_ready) {
		/* Waiting for its turn: nothing holds it up. */
		release(w);
		job_unref(job);
		start_waiting(w->d);
		return;
	}
	if (w->holds_slot && w->submitted && workers_cancel(w->d->workers, &w->work)) {
		/* Taken back before a thread started it. */
		release(w);
		job_unref(job);
		start_waiting(w->d);
	}
	/* Otherwise the thread stops at the commit point (w->cancel) and
	 * write_done() (or looked()) frees the slot; or, not handed over yet,
	 * the wait for the store does (submit_when_running_is_durable). */
}

static void write_describe_target(const struct job *job, char *buf, size_t size)
{
	const struct write_job *w = job->data;
	char path[PATH_MAX + 1];

	full_path(w, path, sizeof(path));
	snprintf(buf, size, "%s %s", w->mode == W_APPEND ? "append to"
		 : w->mode == W_CREATE ? "create" : "replace", path);
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

/* ------------------------------------------------------------ the record */

/* The evidence in the job's record: an append's file before it (from its
 * RUNNING record on), a create's use of the marker; and, for a finished
 * create whose marker may still be beside its target, the mark that has
 * the next start tidy it. */
static void write_record_write(const struct job *job, struct jsonw *jw)
{
	const struct write_job *w = job->data;

	if (!w->evidence || (w->mode == W_APPEND && !w->has_before) || w->mode == W_REPLACE)
		return;
	jsonw_literal_key(jw, "evidence");
	jsonw_object_begin(jw);
	if (w->mode == W_APPEND) {
		jsonw_literal_key(jw, "before");
		switch (w->before.kind) {
		case BEFORE_FILE:
			jsonw_object_begin(jw);
			jsonw_literal_key(jw, "dev");
			jsonw_uint(jw, w->before.dev);
			jsonw_literal_key(jw, "ino");
			jsonw_uint(jw, w->before.ino);
			jsonw_literal_key(jw, "size");
			jsonw_uint(jw, w->before.size);
			jsonw_object_end(jw);
			break;
		case BEFORE_ABSENT:
			jsonw_plain_string(jw, "absent", 6);
			break;
		case BEFORE_UNPROVEN:
			jsonw_plain_string(jw, "unproven", 8);
			break;
		case BEFORE_UNKNOWN:
			jsonw_plain_string(jw, "unknown", 7);
			break;
		}
	} else {
		jsonw_literal_key(jw, "marker");
		jsonw_bool(jw, true);
	}
	jsonw_object_end(jw);
	if (job_state_is_final(job->state) && w->marker_left)
		job_record_write_tidy_mark(jw);
}

static int write_record_read(struct job *job, const struct json_value *body)
{
	struct write_job *w = job->data;
	const struct json_value *e = json_get(body, "evidence"), *b, *v;

	if (!e)
		return 0;
	if (!json_is(e, JSON_OBJECT))
		return -EINVAL;
	if (w->mode == W_APPEND && (b = json_get(e, "before"))) {
		struct file_before f = { 0 };
		if (json_is(b, JSON_STRING) && !strcmp(b->str, "absent"))
			f.kind = BEFORE_ABSENT;
		else if (json_is(b, JSON_STRING) && !strcmp(b->str, "unproven"))
			f.kind = BEFORE_UNPROVEN;
		else if (json_is(b, JSON_STRING) && !strcmp(b->str, "unknown"))
			f.kind = BEFORE_UNKNOWN;
		else if (json_is(b, JSON_OBJECT) && json_uint64(json_get(b, "dev"), &f.dev) &&
			 json_uint64(json_get(b, "ino"), &f.ino) &&
			 json_uint64(json_get(b, "size"), &f.size))
			f.kind = BEFORE_FILE;
		else
			return -EINVAL;
		w->before = f;
		w->has_before = true;
	}
	if (w->mode == W_CREATE) {
		v = json_get(e, "marker");
		w->marked_create = json_is(v, JSON_BOOL) && v->boolean;
		v = json_get(body, "tidy");
		w->marker_left = job_state_is_final(job->state) && json_is(v, JSON_BOOL) && v->boolean;
	}
	return 0;
}

/* At start, a finished create whose marker may have outlived it. */
static void write_tidy(struct job *job)
{
	struct write_job *w = job->data;

	w->job = job;
	w->id = job->id;
	/* An upload's content is not needed to tidy: it goes once the job's
	 * end (already on disk) is; if the daemon stops before the marker
	 * goes, the job is restored again and tidies without it. */
	w->released = true;
	drop_spool_when_final(w);
	if (!w->marker_left)
		return;
	/* Not needed to tidy, and never counted as pending. */
	free(w->content);
	w->content = NULL;
	job_ref(job);   /* for the work */
	w->work.run = tidy_run;
	w->work.done = tidied;
	workers_submit(job->d->workers, &w->work);
}

/* The job has ended: its upload's content may go (see drop_spool_when_final). */
static void write_finished(struct job *job)
{
	drop_spool_when_final(job->data);
}

static void write_free(void *data)
{
	struct write_job *w = data;

	if (!w)
		return;
	if (w->content && w->job)
		release(w);
	if (w->content_fd >= 0) {
		if (!w->job && !w->d->tearing_down) {
			/* Never a job (refused after its spec was read): its
			 * upload is of no more use. */
			upload_content_done(w->d, w->upload, w->content_fd, w->len);
		} else {
			/* A job that goes on at the next start, or a daemon
			 * that stops: the next start removes what no job needs. */
			close(w->content_fd);
			if (w->d->uploads)
				upload_spool_forget(w->d, w->len);
		}
	}
	free(w->content);
	confined_path_release(&w->cp);
	write_roots_unref(w->roots);
	identity_unref(w->requester);
	pthread_mutex_destroy(&w->lock);
	free(w->why);
	free(w->ran_out);
	free(w);
}

const struct job_type job_type_write = {
	.name = "write",
	.starts_when_durable = true,
	.recover = write_recover,
	.record_write = write_record_write,
	.record_read = write_record_read,
	.tidy = write_tidy,
	.finished = write_finished,
	.fields = write_fields,
	.parse = write_parse,
	.start = write_start,
	.prepare_stop = write_prepare_stop,
	.stop = write_stop,
	.write_result = write_write_result,
	.describe_target = write_describe_target,
	.free_data = write_free,
	.state_new = write_queue_new,
	.state_free = write_queue_free,
};
