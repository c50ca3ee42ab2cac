/* Whose identity a job's file operations use: the requesting client's uid,
 * primary gid and supplementary groups, taken on by the worker thread that
 * does the work (per-thread setfsuid, setfsgid and setgroups, as knfsd and
 * Samba do), so the kernel's permission checks decide and a new file belongs
 * to the requester. */
#ifndef ASYNCJOBD_IDENTITY_H
#define ASYNCJOBD_IDENTITY_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* A client's identity as the kernel reported it at connect time
 * (SO_PEERCRED, SO_PEERGROUPS). Immutable once made; shared by reference
 * between a connection, its jobs and the worker threads that run them. */
struct identity {
	atomic_uint refs;
	uid_t uid;
	gid_t gid;
	size_t n_groups;
	gid_t groups[];
};

/* Copies the groups. Returns the identity with one reference (aborts on
 * out of memory, as xmalloc does). */
struct identity *identity_new(uid_t uid, gid_t gid, const gid_t *groups, size_t n_groups);
/* The identity of the peer of the connected Unix socket `fd`, whose uid and
 * gid SO_PEERCRED gave: its supplementary groups are read here. Returns it
 * with one reference. */
struct identity *identity_of_peer(int fd, uid_t uid, gid_t gid);
/* Whether `gid` is the identity's primary group or one of its others. */
bool identity_in_group(const struct identity *id, gid_t gid);
struct identity *identity_ref(struct identity *id);
/* Drops a reference; frees with the last. Accepts NULL; returns NULL. */
struct identity *identity_unref(struct identity *id);

/* Once at start, before any worker thread exists: records the daemon's own
 * identity and whether it may take on others' (CAP_SETUID and CAP_SETGID
 * in its effective set). Returns whether it may. */
bool identity_init(void);

/* One line for the log: whose identity file work uses. */
const char *identity_describe(void);

/* Whether work for `id` can run with `id`'s own rights: the daemon may take
 * on other identities, or `id` is the daemon's own uid (then the work runs
 * as the daemon, which is that user). On the loop; no system call. */
bool identity_may_act_for(const struct identity *id);

/* The message a refusal of identity_may_act_for gives (static text). */
const char *identity_refusal(void);

/* On a worker thread: the calling thread takes on `id` for its filesystem
 * operations until identity_leave. Returns 0, or a negative errno (the
 * thread then keeps the daemon's identity and the work must not go on).
 * A daemon that may not take on identities does nothing here (the work is
 * its own user's, identity_may_act_for said). */
int identity_enter(const struct identity *id);
/* Back to the daemon's own identity. Aborts if the kernel refuses: a
 * thread left acting for one client must never do another's work. */
void identity_leave(void);

#endif
