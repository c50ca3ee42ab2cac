/* Per-thread identities for file work done on a client's behalf. The raw
 * system calls matter: glibc's setgroups() changes every thread of the
 * process (it broadcasts set*id calls, as POSIX asks), which would hand one
 * client's groups to the work of all the others; setfsuid() and setfsgid()
 * are per-thread already. */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/capability.h>

#include "daemon/identity.h"
#include "daemon/log.h"
#include "daemon/xalloc.h"

/* The 32-bit-id variants where the plain names are the 16-bit ones. */
#ifdef SYS_setgroups32
#define SYS_SETGROUPS SYS_setgroups32
#else
#define SYS_SETGROUPS SYS_setgroups
#endif

/* Set once by identity_init, before any worker thread starts; read-only
 * afterwards. */
static bool may_switch;
static struct identity *own;
static char refusal[160];
static char description[160];

struct identity *identity_new(uid_t uid, gid_t gid, const gid_t *groups, size_t n_groups)
{
	struct identity *id = xmalloc(sizeof(*id) + n_groups * sizeof(gid_t));

	atomic_init(&id->refs, 1);
	id->uid = uid;
	id->gid = gid;
	id->n_groups = n_groups;
	if (n_groups)
		memcpy(id->groups, groups, n_groups * sizeof(gid_t));
	return id;
}

struct identity *identity_of_peer(int fd, uid_t uid, gid_t gid)
{
	gid_t small[64], *groups = small;
	size_t n = 0;
	struct identity *id;

#if HAVE_DECL_SO_PEERGROUPS
	socklen_t len = sizeof(small);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, small, &len) == 0) {
		n = len / sizeof(gid_t);
	} else if (errno == ERANGE) {
		/* More than fit: the kernel said how many bytes it needs. */
		groups = xmalloc(len);
		if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) == 0)
			n = len / sizeof(gid_t);
	}
	/* Otherwise (a kernel before 4.13) no supplementary group counts,
	 * which can only cost the client rights, never give it any. */
#else
	(void)fd;
#endif
	id = identity_new(uid, gid, groups, n);
	if (groups != small)
		free(groups);
	return id;
}

bool identity_in_group(const struct identity *id, gid_t gid)
{
	if (id->gid == gid)
		return true;
	for (size_t i = 0; i < id->n_groups; i++)
		if (id->groups[i] == gid)
			return true;
	return false;
}

struct identity *identity_ref(struct identity *id)
{
	if (id)
		atomic_fetch_add(&id->refs, 1);
	return id;
}

struct identity *identity_unref(struct identity *id)
{
	if (id && atomic_fetch_sub(&id->refs, 1) == 1)
		free(id);
	return NULL;
}

/* Whether CAP_SETUID and CAP_SETGID are effective (capget, so that no
 * libcap is needed for two bits). */
static bool can_set_ids(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
	uint32_t want = (UINT32_C(1) << CAP_SETUID) | (UINT32_C(1) << CAP_SETGID);

	memset(data, 0, sizeof(data));
	if (syscall(SYS_capget, &hdr, data) < 0)
		return false;
	return (data[0].effective & want) == want;
}

bool identity_init(void)
{
	gid_t *groups = NULL;
	int n = getgroups(0, NULL);

	if (n > 0) {
		groups = xmalloc((size_t)n * sizeof(gid_t));
		n = getgroups(n, groups);
	}
	identity_unref(own);
	own = identity_new(geteuid(), getegid(), groups, n > 0 ? (size_t)n : 0);
	free(groups);
	may_switch = can_set_ids();
	snprintf(refusal, sizeof(refusal),
		 "asyncjobd runs as uid %u without CAP_SETUID and CAP_SETGID, so it writes "
		 "files only for uid %u", (unsigned)own->uid, (unsigned)own->uid);
	if (may_switch)
		snprintf(description, sizeof(description),
			 "file work runs with the identity of the user who asked for it");
	else
		snprintf(description, sizeof(description),
			 "no CAP_SETUID and CAP_SETGID: files are written only for uid %u, "
			 "as that user", (unsigned)own->uid);
	return may_switch;
}

const char *identity_describe(void)
{
	return description;
}

bool identity_may_act_for(const struct identity *id)
{
	return may_switch || (own && id->uid == own->uid);
}

const char *identity_refusal(void)
{
	return refusal;
}

/* setfsuid and setfsgid answer the previous id, never an error: asking
 * again with an id that is never valid (-1) tells what is in force. */
static int set_fsuid(uid_t uid)
{
	setfsuid(uid);
	return (uid_t)setfsuid((uid_t)-1) == uid ? 0 : -EPERM;
}

static int set_fsgid(gid_t gid)
{
	setfsgid(gid);
	return (gid_t)setfsgid((gid_t)-1) == gid ? 0 : -EPERM;
}

static int set_groups(const struct identity *id)
{
	return syscall(SYS_SETGROUPS, id->n_groups, id->groups) < 0 ? -errno : 0;
}

int identity_enter(const struct identity *id)
{
	int r;

	if (!may_switch)
		return 0;
	/* Groups and gid first: CAP_SETGID stays effective whatever the
	 * fsuid, but the uid last keeps the order of leave's reverse. */
	if ((r = set_groups(id)) < 0 || (r = set_fsgid(id->gid)) < 0 || (r = set_fsuid(id->uid)) < 0) {
		identity_leave();
		return r;
	}
	return 0;
}

void identity_leave(void)
{
	if (!may_switch)
		return;
	/* The uid first: back to 0, a root daemon's file capabilities return. */
	if (set_fsuid(own->uid) < 0 || set_fsgid(own->gid) < 0 || set_groups(own) < 0) {
		log_crit("a worker thread cannot take back the daemon's own identity");
		abort();
	}
}
