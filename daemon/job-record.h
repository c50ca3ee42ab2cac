/* A job as a store keeps it across restarts: a few columns a store indexes,
 * and one JSON body with the rest (the spec as given, the requester's
 * groups, the result or the error). Runtime state (timers, transfers,
 * watches, the connection) is never in it. job_record_encode makes one from
 * a job; job_record_restore makes a job again from one. */
#ifndef ASYNCJOBD_JOB_RECORD_H
#define ASYNCJOBD_JOB_RECORD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto/protocol.h"

struct daemon;
struct job;
struct json_value;
struct jsonw;

struct job_record {
	uint64_t id;
	const char *type;              /* the type's name */
	uid_t uid;
	enum job_state state;
	int64_t submitted_ms, started_ms, finished_ms;   /* 0: not yet */
	const char *key;               /* NULL: none */
	size_t key_len;
	const char *label;             /* NULL: none */
	const char *body;              /* JSON text */
	size_t body_len;
};

/* The spec as given, as JSON text (malloc'd; *ret_len its length), for a
 * job whose store keeps records. */
char *job_record_spec_text(const struct json_value *spec, size_t *ret_len);

/* Fills *ret with the record of `job`, which must have kept its spec
 * (daemon.keep_job_specs). The body is written into `w` (the caller's, reset
 * first); *ret points into the job and into `w`, valid while both are
 * unchanged. */
void job_record_encode(const struct job *job, struct jsonw *w, struct job_record *ret);

/* For a job type's record_write: marks the record of a finished job as
 * having left something behind that the next start tidies (job_type.tidy):
 * such a job is restored with its data. */
void job_record_write_tidy_mark(struct jsonw *w);

/* Makes the job `rec` describes (one reference, the caller's; in no store,
 * started by nobody). A finished job comes back as it was, its result or
 * error included. An unfinished one comes back in its state with the type's
 * data from its spec, for its type's recovery to decide what it does next;
 * one whose spec this daemon no longer takes (a write root since removed)
 * comes back without data, its error_message saying why, for recovery to
 * fail it with code `interrupted`. The type's own members (record_read) come
 * back with the data; a finished job marked for tidying comes back with its
 * data too, when its spec is still taken. Returns 0, or
 * -EINVAL with the reason in `err` for a record that is not one of ours. */
int job_record_restore(struct daemon *d, const struct job_record *rec, struct job **ret,
		       char *err, size_t err_size);

#endif
