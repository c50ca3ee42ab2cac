/* Uploads: file content larger than one request, sent in pieces
 * (upload.begin, upload.write) and kept in a spool file of the daemon's
 * until a write job takes it (its spec's "upload"). The daemon holds at
 * most the pieces waiting for a worker in memory (max_pending_write_bytes);
 * the rest is on disk, bounded by max_upload_bytes per upload and
 * max_spool_bytes in all.
 *
 * The spool directory is `uploads` in the state directory with the SQLite
 * store: an upload ended (end: true) is synced there before its reply, and
 * a job that took it finds it again after a restart by its token. With the
 * memory store it is a private temporary directory, removed at exit. An
 * upload not taken dies with its connection. */
#ifndef ASYNCJOBD_UPLOAD_H
#define ASYNCJOBD_UPLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto/protocol.h"

struct conn;
struct daemon;
struct rpc_error;
struct uploads;
struct workers;

/* A token: 32 lowercase hex digits (128 random bits). */
#define UPLOAD_TOKEN_LEN ASYNCJOB_UPLOAD_TOKEN_CHARS
/* Uploads not yet taken, per connection. */
#define MAX_UPLOADS_PER_CONNECTION 8

/* Opens (making it if need be) the spool directory `dir`/uploads, for a
 * store that keeps jobs; with `dir` NULL, a temporary directory of its own.
 * Returns NULL and says why in `error`. Blocking: at start only. */
struct uploads *uploads_open(struct daemon *d, const char *dir, bool durable, char *error,
			     size_t error_size);
/* After the store's jobs are restored: removes spool files no restored job
 * took (an upload cut off by the stop, or content a finished job no longer
 * needs). Blocking: at start only. */
void uploads_sweep(struct uploads *u);
/* Closes the directory (a temporary one is removed with what is left). */
struct uploads *uploads_free(struct uploads *u);

/* A connection goes: its uploads not taken go with it. */
void uploads_conn_closed(struct daemon *d, struct conn *conn);

/* For a write job's spec: takes the ended upload `token` of user `uid`,
 * giving its spool file (read-only descriptor) and size. Once taken, it is
 * the job's: upload_content_done() ends it. Returns 0, or a negative errno
 * with `e` filled in, naming `field`. */
int upload_take(struct daemon *d, const char *token, size_t token_len, uid_t uid,
		const char *field, int *ret_fd, uint64_t *ret_size, struct rpc_error *e);
/* The same for a job restored after a restart: opens the spool file by
 * name. -ENOENT when it is gone. */
int upload_reopen(struct daemon *d, const char *token, size_t token_len, int *ret_fd,
		  uint64_t *ret_size);
/* The job that took an upload no longer needs it (its final record is on
 * disk, or it never started): the spool file is removed on a worker. Takes
 * the descriptor. */
void upload_content_done(struct daemon *d, const char *token, int fd, uint64_t size);

/* A job's descriptor of taken content is closed without removing the file
 * (the daemon stops, or the job goes on at the next start): it no longer
 * counts against max_spool_bytes in this process. */
void upload_spool_forget(struct daemon *d, uint64_t size);

/* For daemon.info. */
uint64_t uploads_spool_bytes(const struct uploads *u);
size_t uploads_open_count(const struct uploads *u);

#endif
