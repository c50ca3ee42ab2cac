/* Per-thread identities (daemon/identity.c): a worker thread that takes on
 * a client's uid, gid and groups creates files as that client and is
 * refused what that client may not do, while every other thread keeps the
 * daemon's identity (glibc's setgroups() would change them all); leaving
 * gives the daemon's rights back; a daemon without CAP_SETUID and
 * CAP_SETGID acts only for its own uid; SO_PEERGROUPS is read whole.
 * Taking identities on needs root: as another user those tests skip. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <sys/fsuid.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/capability.h>

#include <cmocka.h>

#include "daemon/identity.h"

/* Ids no account on a test machine has. */
#define CLIENT_UID 61001
#define CLIENT_GID 61002
#define CLIENT_GROUP_A 61100
#define CLIENT_GROUP_B 61101

static char dir[64];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/asyncjob-identity.XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	/* Anyone may create here, as in /tmp. */
	return chmod(dir, 01777);
}

static int teardown(void **state)
{
	char cmd[128];
	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void skip_unless_root(void)
{
	if (geteuid() != 0) {
		print_message("not root: cannot take on other identities; skipped\n");
		skip();
	}
}

static bool groups_are(const gid_t *want, int n)
{
	gid_t got[64];
	int k = (int)syscall(SYS_getgroups, 64, got);   /* this thread's own */
	if (k != n)
		return false;
	for (int i = 0; i < n; i++)
		if (got[i] != want[i])
			return false;
	return true;
}

/* ------------------------------------------------------------ two threads */

static struct {
	pthread_barrier_t entered, checked;
	struct identity *client;
	int enter_result;
	/* What the worker saw as the client. */
	uid_t fsuid;
	gid_t fsgid;
	bool groups_ok;
	struct stat file;
	int create_errno;       /* in a directory only root may write in */
	/* After leaving. */
	uid_t fsuid_after;
	bool groups_after_ok;
} W;

static gid_t own_groups[64];
static int n_own_groups;

static void *worker(void *arg)
{
	char path[128];
	int fd;
	(void)arg;

	W.enter_result = identity_enter(W.client);
	W.fsuid = (uid_t)setfsuid((uid_t)-1);
	W.fsgid = (gid_t)setfsgid((gid_t)-1);
	gid_t want[] = { CLIENT_GROUP_A, CLIENT_GROUP_B };
	W.groups_ok = groups_are(want, 2);
	snprintf(path, sizeof(path), "%s/by-client", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
	if (fd >= 0) {
		fstat(fd, &W.file);
		close(fd);
	}
	snprintf(path, sizeof(path), "%s/roots-only/x", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
	W.create_errno = fd < 0 ? errno : 0;
	if (fd >= 0)
		close(fd);
	pthread_barrier_wait(&W.entered);
	pthread_barrier_wait(&W.checked);   /* the main thread looks meanwhile */
	identity_leave();
	W.fsuid_after = (uid_t)setfsuid((uid_t)-1);
	W.groups_after_ok = groups_are(own_groups, n_own_groups);
	return NULL;
}

static void test_enter_is_per_thread(void **state)
{
	char path[128];
	pthread_t t;
	struct stat st;
	(void)state;

	skip_unless_root();
	assert_true(identity_init());
	n_own_groups = (int)syscall(SYS_getgroups, 64, own_groups);
	assert_true(n_own_groups >= 0);
	snprintf(path, sizeof(path), "%s/roots-only", dir);
	assert_int_equal(mkdir(path, 0755), 0);

	gid_t groups[] = { CLIENT_GROUP_A, CLIENT_GROUP_B };
	W.client = identity_new(CLIENT_UID, CLIENT_GID, groups, 2);
	pthread_barrier_init(&W.entered, NULL, 2);
	pthread_barrier_init(&W.checked, NULL, 2);
	assert_int_equal(pthread_create(&t, NULL, worker, NULL), 0);
	pthread_barrier_wait(&W.entered);

	/* While the worker is the client, this thread is still the daemon. */
	bool main_fsuid_root = setfsuid((uid_t)-1) == 0;
	bool main_groups_kept = groups_are(own_groups, n_own_groups);
	snprintf(path, sizeof(path), "%s/by-daemon", dir);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
	bool main_created = fd >= 0;
	if (fd >= 0) {
		fstat(fd, &st);
		close(fd);
	}
	pthread_barrier_wait(&W.checked);
	pthread_join(t, NULL);
	pthread_barrier_destroy(&W.entered);
	pthread_barrier_destroy(&W.checked);
	W.client = identity_unref(W.client);

	assert_int_equal(W.enter_result, 0);
	assert_int_equal(W.fsuid, CLIENT_UID);
	assert_int_equal(W.fsgid, CLIENT_GID);
	assert_true(W.groups_ok);
	/* The client's file is the client's. */
	assert_int_equal(W.file.st_uid, CLIENT_UID);
	assert_int_equal(W.file.st_gid, CLIENT_GID);
	/* Root's override is gone while acting for the client. */
	assert_int_equal(W.create_errno, EACCES);
	/* The other thread never changed. */
	assert_true(main_fsuid_root);
	assert_true(main_groups_kept);
	assert_true(main_created);
	assert_int_equal(st.st_uid, 0);
	/* Leaving gave the worker the daemon's identity back. */
	assert_int_equal(W.fsuid_after, 0);
	assert_true(W.groups_after_ok);
}

/* ------------------------------------------------------------ no capabilities */

/* In a child that drops CAP_SETUID and CAP_SETGID from its effective set:
 * identity_init says it may not switch, work for its own uid is allowed and
 * runs as itself, another uid's is refused with a message naming the
 * capabilities. Returns the child's exit code: 0 when all held. */
static int child_without_caps(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];

	if (syscall(SYS_capget, &hdr, data) < 0)
		return 10;
	data[0].effective &= ~((1u << CAP_SETUID) | (1u << CAP_SETGID));
	if (syscall(SYS_capset, &hdr, data) < 0)
		return 11;
	if (identity_init())
		return 12;
	struct identity *self = identity_new(geteuid(), getegid(), NULL, 0);
	struct identity *other = identity_new(CLIENT_UID, CLIENT_GID, NULL, 0);
	int rc = 0;
	if (!identity_may_act_for(self))
		rc = 13;
	else if (identity_may_act_for(other))
		rc = 14;
	else if (!strstr(identity_refusal(), "CAP_SETUID") || !strstr(identity_refusal(), "uid 0"))
		rc = 15;
	else if (identity_enter(self) != 0 || setfsuid((uid_t)-1) != (int)geteuid())
		rc = 16;
	identity_leave();
	identity_unref(self);
	identity_unref(other);
	return rc;
}

static void test_without_capabilities_only_own_uid(void **state)
{
	int status;
	(void)state;

	skip_unless_root();
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(child_without_caps());
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* ------------------------------------------------------------ peers */

/* A peer with more groups than the first buffer holds: every one is read,
 * and identity_in_group finds the last. */
static void test_peer_groups_read_whole(void **state)
{
	int sv[2], status;
	gid_t many[200];
	(void)state;

	skip_unless_root();
	for (int i = 0; i < 200; i++)
		many[i] = (gid_t)(62000 + i);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* The peer's credentials are taken at socketpair() time: make
		 * a new pair as the changed child and hand one end over. */
		int inner[2];
		close(sv[0]);
		if (syscall(SYS_setgroups, 200, many) < 0 || syscall(SYS_setgid, CLIENT_GID) < 0 ||
		    syscall(SYS_setuid, CLIENT_UID) < 0)
			_exit(1);
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, inner) < 0)
			_exit(2);
		char b = 0;
		struct iovec iov = { &b, 1 };
		union { struct cmsghdr h; char buf[CMSG_SPACE(sizeof(int))]; } u;
		struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
				    .msg_controllen = sizeof(u.buf) };
		struct cmsghdr *c = CMSG_FIRSTHDR(&m);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &inner[0], sizeof(int));
		if (sendmsg(sv[1], &m, 0) != 1)
			_exit(3);
		/* Wait until the parent has read the credentials. */
		(void)!read(sv[1], &b, 1);
		_exit(0);
	}
	close(sv[1]);
	char b;
	struct iovec iov = { &b, 1 };
	union { struct cmsghdr h; char buf[CMSG_SPACE(sizeof(int))]; } u;
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			    .msg_controllen = sizeof(u.buf) };
	assert_int_equal(recvmsg(sv[0], &m, 0), 1);
	int peer_end;
	memcpy(&peer_end, CMSG_DATA(CMSG_FIRSTHDR(&m)), sizeof(int));

	/* peer_end's peer is the child's end, made with the child's ids. */
	struct identity *id = identity_of_peer(peer_end, CLIENT_UID, CLIENT_GID);
	(void)!write(sv[0], "x", 1);
	waitpid(pid, &status, 0);
	close(peer_end);
	close(sv[0]);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
#if HAVE_DECL_SO_PEERGROUPS
	assert_int_equal(id->n_groups, 200);
	assert_true(identity_in_group(id, 62199));
	assert_true(identity_in_group(id, 62000));
#endif
	assert_true(identity_in_group(id, CLIENT_GID));
	assert_false(identity_in_group(id, 61999));
	identity_unref(id);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_enter_is_per_thread, setup, teardown),
		cmocka_unit_test(test_without_capabilities_only_own_uid),
		cmocka_unit_test(test_peer_groups_read_whole),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
