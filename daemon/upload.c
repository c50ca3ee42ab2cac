/* Uploads (upload.h). The pieces of one upload are written one at a time,
 * in the order they came, each by a worker thread at its offset: the loop
 * never touches the spool file but to hand it over. A piece is answered
 * once it is written; the end (end: true) once all of it is, and, for a
 * store that keeps jobs, synced with its directory entry, so that a job
 * acknowledged with it finds it after a power cut. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <uthash.h>

#include "daemon/confine.h"
#include "daemon/conn.h"
#include "daemon/daemon.h"
#include "daemon/lockfile.h"
#include "daemon/log.h"
#include "daemon/params.h"
#include "daemon/rpc.h"
#include "daemon/upload.h"
#include "daemon/workers.h"
#include "daemon/xalloc.h"
#include "proto/base64.h"
#include "proto/json.h"
#include "proto/jsonw.h"

#undef uthash_fatal
#define uthash_fatal(msg) xalloc_die()

struct piece;
TAILQ_HEAD(piece_queue, piece);

struct upload {
	UT_hash_handle hh;             /* uploads.by_token */
	char token[UPLOAD_TOKEN_LEN + 1];
	struct uploads *u;
	struct conn *conn;             /* NULL: its connection went */
	uid_t uid;
	int fd;
	uint64_t size;                 /* bytes of the pieces accepted */
	struct piece_queue pieces;     /* the first is on a worker */
	bool end_asked;                /* a piece said end: true */
	bool ended;                    /* all written (and synced): a job may take it */
	int err;                       /* a piece could not be written */
	const char *failed_step;
	LIST_ENTRY(upload) conn_link;
};

struct piece {
	struct work work;
	struct upload *up;
	struct request *req;           /* NULL once its connection went */
	unsigned char *data;
	size_t len;
	uint64_t off;
	bool end;
	bool sync;
	int err;
	const char *step;
	TAILQ_ENTRY(piece) link;
};

/* A token whose kept spool file a restored job took (uploads_sweep spares it). */
struct kept_token {
	UT_hash_handle hh;
	char token[UPLOAD_TOKEN_LEN + 1];
};

struct uploads {
	struct daemon *d;
	int dirfd;
	char *dir;                     /* for messages */
	bool durable;                  /* the store keeps jobs: sync the end */
	bool temporary;                /* made for this process: removed at exit */
	struct upload *by_token;
	size_t n_open;
	uint64_t spool_bytes;          /* on disk: open uploads, and content jobs hold */
	size_t pending_bytes;          /* pieces in memory, waiting to be written */
	struct kept_token *kept;
};

/* A spool file to remove, on a worker. */
struct removal {
	struct work work;
	int fd;
	int dirfd;
	char token[UPLOAD_TOKEN_LEN + 1];
};

static bool token_valid(const char *t, size_t len)
{
	if (len != UPLOAD_TOKEN_LEN)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((t[i] >= '0' && t[i] <= '9') || (t[i] >= 'a' && t[i] <= 'f')))
			return false;
	return true;
}

/* ------------------------------------------------------------ the directory */

struct uploads *uploads_open(struct daemon *d, const char *dir, bool durable, char *error,
			     size_t error_size)
{
	struct uploads *u = xcalloc(1, sizeof(*u));
	char path[4096];

	u->d = d;
	u->durable = durable;
	if (dir) {
		snprintf(path, sizeof(path), "%s/uploads", dir);
		int r = make_private_directory(path);
		if (r < 0) {
			snprintf(error, error_size, "cannot make the upload spool %s: %s", path,
				 strerror(-r));
			free(u);
			return NULL;
		}
	} else {
		const char *tmp = getenv("TMPDIR");
		snprintf(path, sizeof(path), "%s/asyncjobd-uploads.XXXXXX",
			 tmp && tmp[0] == '/' ? tmp : "/tmp");
		if (!mkdtemp(path)) {
			snprintf(error, error_size, "cannot make a directory for uploads in %s: %s",
				 tmp && tmp[0] == '/' ? tmp : "/tmp", strerror(errno));
			free(u);
			return NULL;
		}
		u->temporary = true;
	}
	u->dirfd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (u->dirfd < 0) {
		snprintf(error, error_size, "cannot open the upload spool %s: %s", path,
			 strerror(errno));
		if (u->temporary)
			rmdir(path);
		free(u);
		return NULL;
	}
	u->dir = xstrdup(path);
	return u;
}

/* Removes every file in the directory but those kept. */
static size_t remove_unkept(struct uploads *u)
{
	int fd = dup(u->dirfd);
	DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;
	size_t n = 0;

	if (!dir) {
		if (fd >= 0)
			close(fd);
		log_warn("cannot read the upload spool %s", u->dir);
		return 0;
	}
	rewinddir(dir);
	while ((de = readdir(dir))) {
		struct kept_token *k = NULL;
		if (de->d_name[0] == '.')
			continue;
		HASH_FIND_STR(u->kept, de->d_name, k);
		if (k)
			continue;
		if (unlinkat(u->dirfd, de->d_name, 0) == 0)
			n++;
		else
			log_warn("cannot remove %s/%s", u->dir, de->d_name);
	}
	closedir(dir);
	return n;
}

void uploads_sweep(struct uploads *u)
{
	struct kept_token *k, *tmp;
	size_t n = remove_unkept(u);

	if (n)
		log_info("removed %zu upload(s) from %s that no job took before the stop", n,
			 u->dir);
	HASH_ITER(hh, u->kept, k, tmp) {
		HASH_DEL(u->kept, k);
		free(k);
	}
}

struct uploads *uploads_free(struct uploads *u)
{
	struct upload *up, *tmp;

	if (!u)
		return NULL;
	/* Connections are gone by now; what is left waits for no worker
	 * (the pool was drained first). */
	HASH_ITER(hh, u->by_token, up, tmp) {
		HASH_DEL(u->by_token, up);
		close(up->fd);
		free(up);
	}
	if (u->temporary) {
		struct kept_token *k, *ktmp;
		HASH_ITER(hh, u->kept, k, ktmp) {
			HASH_DEL(u->kept, k);
			free(k);
		}
		remove_unkept(u);
		if (rmdir(u->dir) < 0)
			log_warn("cannot remove %s", u->dir);
	}
	close(u->dirfd);
	free(u->dir);
	free(u);
	return NULL;
}

void upload_spool_forget(struct daemon *d, uint64_t size)
{
	d->uploads->spool_bytes -= size;
}

uint64_t uploads_spool_bytes(const struct uploads *u)
{
	return u ? u->spool_bytes : 0;
}

size_t uploads_open_count(const struct uploads *u)
{
	return u ? u->n_open : 0;
}

/* ------------------------------------------------------------ removal */

static void removal_run(struct work *work)
{
	struct removal *rm = (struct removal *)work;

	if (rm->fd >= 0)
		close(rm->fd);
	if (unlinkat(rm->dirfd, rm->token, 0) < 0 && errno != ENOENT)
		log_warn("cannot remove the upload spool file %s", rm->token);
}

static void removal_done(struct work *work)
{
	free(work);
}

static void remove_spool(struct uploads *u, const char *token, int fd, uint64_t size)
{
	struct removal *rm = xcalloc(1, sizeof(*rm));

	rm->fd = fd;
	rm->dirfd = u->dirfd;
	memcpy(rm->token, token, sizeof(rm->token));
	rm->work.run = removal_run;
	rm->work.done = removal_done;
	u->spool_bytes -= size;
	workers_submit(u->d->workers, &rm->work);
}

void upload_content_done(struct daemon *d, const char *token, int fd, uint64_t size)
{
	if (d->tearing_down) {
		/* Left for the next start, which removes what no job needs. */
		close(fd);
		d->uploads->spool_bytes -= size;
		return;
	}
	remove_spool(d->uploads, token, fd, size);
}

/* An upload no job took: its file goes, and it with it. */
static void upload_drop(struct upload *up)
{
	struct uploads *u = up->u;

	if (u->d->tearing_down) {
		/* The pool is gone: the file is left for the next start's
		 * sweep (or the temporary directory's removal). */
		close(up->fd);
		u->spool_bytes -= up->size;
	} else {
		remove_spool(u, up->token, up->fd, up->size);
	}
	free(up);
}

static void upload_forget(struct upload *up)
{
	struct uploads *u = up->u;

	HASH_DEL(u->by_token, up);
	u->n_open--;
	if (up->conn) {
		LIST_REMOVE(up, conn_link);
		up->conn->n_uploads--;
		up->conn = NULL;
	}
}

void uploads_conn_closed(struct daemon *d, struct conn *conn)
{
	struct upload *up;

	if (!d->uploads)
		return;
	while ((up = LIST_FIRST(&conn->uploads))) {
		upload_forget(up);
		/* A piece on a worker still writes to it: the last one's
		 * done() drops it. */
		if (TAILQ_EMPTY(&up->pieces))
			upload_drop(up);
	}
	(void)d;
}

/* ------------------------------------------------------------ pieces */

static void piece_run(struct work *work)
{
	struct piece *p = (struct piece *)work;
	struct upload *up = p->up;
	size_t done = 0;

	p->step = "writing";
	while (done < p->len) {
		ssize_t k = pwrite(up->fd, p->data + done, p->len - done, (off_t)(p->off + done));
		if (k < 0) {
			if (errno == EINTR)
				continue;
			p->err = -errno;
			return;
		}
		done += (size_t)k;
	}
	if (p->sync) {
		p->step = "syncing";
		if (fsync(up->fd) < 0 || fsync(up->u->dirfd) < 0)
			p->err = -errno;
	}
}

static void piece_request_gone(void *data)
{
	struct piece *p = data;
	p->req = NULL;
}

static void answer_piece(struct piece *p)
{
	struct upload *up = p->up;
	struct request *req = p->req;

	if (!req)
		return;
	if (up->err) {
		struct rpc_error e = { 0 };
		rpc_error_simple(&e, RPC_INTERNAL_ERROR, "the upload could not be kept: %s its "
				 "spool file in %s: %s (%s)", up->failed_step, up->u->dir,
				 strerror(-up->err), errno_name(up->err));
		request_error(req, &e);
	} else {
		struct jsonw *w = request_reply_begin(req);
		jsonw_object_begin(w);
		jsonw_key(w, "upload");
		jsonw_string(w, up->token);
		jsonw_key(w, "bytes");
		jsonw_uint(w, p->end ? up->size : p->off + p->len);
		jsonw_key(w, "ended");
		jsonw_bool(w, p->end);
		jsonw_object_end(w);
		request_reply_end(req);
	}
	request_free(req);   /* piece_request_gone() clears p->req */
}

static void piece_done(struct work *work);

static void next_piece(struct upload *up)
{
	struct piece *p = TAILQ_FIRST(&up->pieces);

	if (!p)
		return;
	if (up->err) {
		/* Nothing after a failed piece is written. */
		piece_done(&p->work);
		return;
	}
	workers_submit(up->u->d->workers, &p->work);
}

static void piece_done(struct work *work)
{
	struct piece *p = (struct piece *)work;
	struct upload *up = p->up;
	struct uploads *u = up->u;
	bool canceled = work->canceled;

	TAILQ_REMOVE(&up->pieces, p, link);
	u->pending_bytes -= p->len;
	free(p->data);
	p->data = NULL;
	if (p->err && !up->err) {
		up->err = p->err;
		up->failed_step = p->step;
		log_warnx("upload %s: %s its spool file in %s: %s", up->token, p->step, u->dir,
			  strerror(-p->err));
	}
	if (p->end && !up->err && !canceled)
		up->ended = true;
	if (!canceled)
		answer_piece(p);
	free(p);
	if (!up->conn) {
		/* Its connection went: once nothing writes to it, it goes. */
		if (TAILQ_EMPTY(&up->pieces))
			upload_drop(up);
		return;
	}
	if (!canceled)
		next_piece(up);
}

/* ------------------------------------------------------------ methods */

static const char *const begin_fields[] = { NULL };

static int upload_begin_handle(struct rpc_call *call, const struct json_value *params,
			       struct jsonw *result)
{
	struct daemon *d = call->d;
	struct uploads *u = d->uploads;
	struct conn *c = call->conn;
	unsigned char rnd[UPLOAD_TOKEN_LEN / 2];
	struct upload *up;
	int r;

	if ((r = param_check_fields(params, begin_fields, &call->err)) < 0)
		return r;
	if (!u) {
		/* A store that forgets its jobs: a directory of this process's
		 * own, made at the first upload. */
		char why[512];
		if (!(u = d->uploads = uploads_open(d, NULL, false, why, sizeof(why))))
			return rpc_error_simple(&call->err, RPC_INTERNAL_ERROR, "%s", why);
	}
	if (c->n_uploads >= MAX_UPLOADS_PER_CONNECTION)
		return rpc_error_busy(&call->err, "uploads per connection",
				      MAX_UPLOADS_PER_CONNECTION,
				      "this connection has too many uploads no job has taken");
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return rpc_error_simple(&call->err, RPC_INTERNAL_ERROR,
					"no random bytes for an upload token: %s", strerror(errno));
	up = xcalloc(1, sizeof(*up));
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(up->token + 2 * i, 3, "%02x", rnd[i]);
	/* Made on the loop: an empty file in the daemon's own directory, as
	 * cheap as the socket's accept; everything written to it goes
	 * through a worker. */
	up->fd = openat(u->dirfd, up->token, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			0600);
	if (up->fd < 0) {
		r = rpc_error_simple(&call->err, RPC_INTERNAL_ERROR,
				     "cannot make an upload spool file in %s: %s", u->dir,
				     strerror(errno));
		free(up);
		return r;
	}
	up->u = u;
	up->uid = c->peer.uid;
	up->conn = c;
	TAILQ_INIT(&up->pieces);
	LIST_INSERT_HEAD(&c->uploads, up, conn_link);
	c->n_uploads++;
	HASH_ADD_STR(u->by_token, token, up);
	u->n_open++;

	jsonw_object_begin(result);
	jsonw_key(result, "upload");
	jsonw_string(result, up->token);
	jsonw_key(result, "max_bytes");
	jsonw_uint(result, d->config->limits.max_upload_bytes);
	/* The most bytes a piece in base64 may carry and fit in a request. */
	size_t max_req = d->config->limits.max_request_bytes;
	jsonw_key(result, "max_piece_bytes");
	jsonw_uint(result, max_req > 512 ? (max_req - 256) / 4 * 3 : 0);
	jsonw_object_end(result);
	return 0;
}

static const char *const write_fields[] = { "upload", "content", "content_base64", "end", NULL };

static struct upload *find_own(struct rpc_call *call, const char *token, size_t len)
{
	struct upload *up = NULL;

	if (call->d->uploads && token_valid(token, len))
		HASH_FIND_STR(call->d->uploads->by_token, token, up);
	/* Another connection's is not this one's to write to. */
	return up && up->conn == call->conn ? up : NULL;
}

static int upload_write_handle(struct rpc_call *call, const struct json_value *params,
			       struct jsonw *result)
{
	struct daemon *d = call->d;
	struct uploads *u = d->uploads;
	const struct limits *lim = &d->config->limits;
	const struct json_value *text, *b64;
	const char *token;
	size_t token_len;
	bool end = false;
	struct upload *up;
	int r;
	(void)result;

	if ((r = param_check_fields(params, write_fields, &call->err)) < 0 ||
	    (r = param_string(params, "upload", true, 64, true, &token, &token_len,
			      &call->err)) < 0 ||
	    (r = param_bool(params, "end", &end, &call->err)) < 0)
		return r;
	if (!(up = find_own(call, token, token_len)))
		return rpc_error_param(&call->err, "upload", "no upload of this connection has "
				       "this token (an upload lives as long as the connection that "
				       "began it, until a job takes it)");
	if (up->end_asked)
		return rpc_error_param(&call->err, "upload", "this upload has ended; begin "
				       "another");
	if (up->err)
		return rpc_error_simple(&call->err, RPC_INTERNAL_ERROR, "the upload could not be "
					"kept: %s its spool file in %s: %s (%s)", up->failed_step,
					up->u->dir, strerror(-up->err), errno_name(up->err));
	text = json_get(params, "content");
	b64 = json_get(params, "content_base64");
	if (text && b64)
		return rpc_error_param(&call->err, "content_base64",
				       "give content or content_base64, not both");
	if (!text && !b64 && !end)
		return rpc_error_param(&call->err, "content", "required (or content_base64), "
				       "unless end is true");
	if (text && !json_is(text, JSON_STRING))
		return rpc_error_param(&call->err, "content", "must be a string");
	if (b64 && !json_is(b64, JSON_STRING))
		return rpc_error_param(&call->err, "content_base64", "must be a string");

	size_t len = text ? text->len : b64 ? base64_decoded_max(b64->len) : 0;
	unsigned char *data = NULL;
	if (text) {
		data = xmalloc(len + 1);
		memcpy(data, text->str, len);
	} else if (b64) {
		data = xmalloc(len + 1);
		long got = base64_decode(b64->str, b64->len, data);
		if (got < 0) {
			free(data);
			return rpc_error_param(&call->err, "content_base64",
					       "not valid base64 (RFC 4648, padded)");
		}
		len = (size_t)got;
	}
	if (up->size + len > lim->max_upload_bytes)
		r = rpc_error_busy(&call->err, "max_upload_bytes", lim->max_upload_bytes,
				   "the upload would be larger than one may be");
	else if (u->spool_bytes + len > lim->max_spool_bytes)
		r = rpc_error_busy(&call->err, "max_spool_bytes", lim->max_spool_bytes,
				   "the uploads waiting and the content jobs hold fill the spool");
	else if (u->pending_bytes + len > lim->max_pending_write_bytes)
		r = rpc_error_busy(&call->err, "max_pending_write_bytes",
				   lim->max_pending_write_bytes,
				   "too much content is waiting to be written");
	if (r < 0) {
		free(data);
		return r;
	}

	struct piece *p = xcalloc(1, sizeof(*p));
	p->up = up;
	p->data = data;
	p->len = len;
	p->off = up->size;
	p->end = end;
	p->sync = end && u->durable;
	p->work.run = piece_run;
	p->work.done = piece_done;
	up->size += len;
	u->spool_bytes += len;
	u->pending_bytes += len;
	if (end)
		up->end_asked = true;
	struct request *req = rpc_defer(call);
	req->data = p;
	req->free_data = piece_request_gone;
	p->req = req;
	bool idle = TAILQ_EMPTY(&up->pieces);
	TAILQ_INSERT_TAIL(&up->pieces, p, link);
	if (idle)
		next_piece(up);
	return RPC_DEFERRED;
}

const struct rpc_method method_upload_begin = { RPC_UPLOAD_BEGIN, upload_begin_handle };
const struct rpc_method method_upload_write = { RPC_UPLOAD_WRITE, upload_write_handle };

/* ------------------------------------------------------------ for jobs */

int upload_take(struct daemon *d, const char *token, size_t token_len, uid_t uid,
		const char *field, int *ret_fd, uint64_t *ret_size, struct rpc_error *e)
{
	struct upload *up = NULL;

	if (d->uploads && token_valid(token, token_len))
		HASH_FIND_STR(d->uploads->by_token, token, up);
	if (!up || up->uid != uid)
		return rpc_error_param(e, field, "no upload of yours has this token (an upload "
				       "lives as long as the connection that began it, until a job "
				       "takes it)");
	if (up->err)
		return rpc_error_param(e, field, "this upload failed: %s its spool file: %s",
				       up->failed_step, strerror(-up->err));
	if (!up->ended)
		return rpc_error_param(e, field, "this upload has not ended: send its last piece "
				       "with end: true and wait for the reply");
	upload_forget(up);
	*ret_fd = up->fd;
	*ret_size = up->size;
	free(up);
	return 0;
}

int upload_reopen(struct daemon *d, const char *token, size_t token_len, int *ret_fd,
		  uint64_t *ret_size)
{
	struct uploads *u = d->uploads;
	struct kept_token *k;
	struct stat st;

	if (!u || !token_valid(token, token_len))
		return -EINVAL;
	int fd = openat(u->dirfd, token, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		int r = S_ISREG(st.st_mode) ? -errno : -EINVAL;
		close(fd);
		return r;
	}
	HASH_FIND_STR(u->kept, token, k);
	if (!k) {
		k = xcalloc(1, sizeof(*k));
		memcpy(k->token, token, token_len);
		HASH_ADD_STR(u->kept, token, k);
	}
	u->spool_bytes += (uint64_t)st.st_size;
	*ret_fd = fd;
	*ret_size = (uint64_t)st.st_size;
	return 0;
}
