/* The listening socket. Like OpenSMTPD's control.c: probe with connect()
 * before unlink(), bind under a tight umask, check the peer's uid on accept,
 * cap connections per user, and back off on EMFILE instead of spinning.
 * Or, under socket activation, the one systemd made: its path, mode and
 * group are the socket unit's, and it is never removed. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#if HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "daemon/conn.h"
#include "daemon/daemon.h"
#include "daemon/identity.h"
#include "daemon/listener.h"
#include "daemon/lockfile.h"
#include "daemon/log.h"
#include "daemon/xalloc.h"
#include "proto/protocol.h"

struct listener {
	struct daemon *d;
	struct evconnlistener *evl;
	char *path;             /* where clients connect */
	bool created;           /* we made the socket file, so we remove it */
	ino_t ino;              /* of the socket file we created */
	dev_t dev;
	int lock_fd;            /* -1 for a socket systemd passed */
	struct event *resume;   /* re-enables accepting after EMFILE */
};

int listener_default_path(char **ret)
{
	if (geteuid() == 0) {
		*ret = xstrdup(ASYNCJOB_SYSTEM_SOCKET);
		return 0;
	}
	const char *dir = getenv("XDG_RUNTIME_DIR");
	if (!dir || dir[0] != '/')
		return -ENOENT;
	size_t n = strlen(dir) + 1 + strlen(ASYNCJOB_USER_SOCKET_NAME) + 1;
	*ret = xmalloc(n);
	snprintf(*ret, n, "%s/%s", dir, ASYNCJOB_USER_SOCKET_NAME);
	return 0;
}

/* Root, or a member of admin_group (primary or supplementary, as the kernel
 * reports them with SO_PEERGROUPS; no NSS lookup on the loop). */
static bool peer_is_admin(struct daemon *d, const struct identity *id)
{
	const struct config *c = d->config;

	if (id->uid == 0)
		return true;
	return c->admin_group && identity_in_group(id, c->admin_gid);
}

static void refuse(int fd, const char *limit, size_t value, const char *what)
{
	char line[256];
	int n = snprintf(line, sizeof(line),
			 "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":%d,"
			 "\"message\":\"Busy: %s (%s = %zu)\","
			 "\"data\":{\"limit\":\"%s\",\"value\":%zu}}}\n",
			 RPC_BUSY, what, limit, value, limit, value);
	/* Best effort: the socket buffer of a new connection is empty. */
	if (n > 0)
		(void)!send(fd, line, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);
	close(fd);
}

static void on_accept(struct evconnlistener *evl, evutil_socket_t fd, struct sockaddr *sa,
		      int socklen, void *arg)
{
	struct listener *l = arg;
	struct daemon *d = l->d;
	const struct limits *lim = &d->config->limits;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	(void)evl;
	(void)sa;
	(void)socklen;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
		log_warn("accept: cannot read peer credentials");
		close(fd);
		return;
	}
	if (d->n_conns >= lim->max_connections) {
		log_warnx("refusing a connection from uid %u: %zu connections open (max_connections)",
			  (unsigned)cred.uid, d->n_conns);
		refuse(fd, "max_connections", lim->max_connections, "too many connections");
		return;
	}
	if (daemon_user_connections(d, cred.uid) >= lim->max_connections_per_user) {
		log_warnx("refusing a connection from uid %u: max_connections_per_user reached",
			  (unsigned)cred.uid);
		refuse(fd, "max_connections_per_user", lim->max_connections_per_user,
		       "too many connections from your user");
		return;
	}

	struct bufferevent *bev = bufferevent_socket_new(d->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!bev) {
		log_warnx("accept: cannot create a buffer for the connection");
		close(fd);
		return;
	}
	struct identity *id = identity_of_peer(fd, cred.uid, cred.gid);
	struct peer_creds peer = {
		.uid = cred.uid,
		.gid = cred.gid,
		.pid = cred.pid,
		.admin = peer_is_admin(d, id),
		.identity = id,
	};
	conn_new(d, bev, &peer);
}

static void on_resume(evutil_socket_t fd, short what, void *arg)
{
	struct listener *l = arg;
	(void)fd;
	(void)what;
	evconnlistener_enable(l->evl);
}

static void on_accept_error(struct evconnlistener *evl, void *arg)
{
	struct listener *l = arg;
	int err = EVUTIL_SOCKET_ERROR();

	if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
		/* Out of descriptors: stop accepting for a moment rather than
		 * spin on a listening socket that stays readable. */
		log_warnx("accept: %s; pausing new connections for a second", strerror(err));
		evconnlistener_disable(evl);
		struct timeval tv = { .tv_sec = 1 };
		xevtimer_add(l->resume, &tv);
		return;
	}
	log_warnx("accept: %s", strerror(err));
}

/* Refuses to take over a socket another daemon answers on; removes one
 * nobody answers on. */
static int probe_existing(const char *path, char *err, size_t err_size)
{
	struct stat st;
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd, r;

	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		r = -errno;
		snprintf(err, err_size, "%s: %s", path, strerror(errno));
		return r;
	}
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, err_size, "%s exists and is not a socket; remove it or choose "
			 "another path with --socket", path);
		return -EEXIST;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		r = -errno;
		snprintf(err, err_size, "socket: %s", strerror(errno));
		return r;
	}
	r = connect(fd, (struct sockaddr *)&sun, sizeof(sun));
	int saved = errno;
	close(fd);
	if (r == 0 || saved == EAGAIN) {
		snprintf(err, err_size, "another asyncjobd is already answering on %s", path);
		return -EADDRINUSE;
	}
	if (saved != ECONNREFUSED) {
		snprintf(err, err_size, "cannot probe the existing socket %s: %s", path,
			 strerror(saved));
		return -saved;
	}
	if (unlink(path) < 0 && errno != ENOENT) {
		r = -errno;
		snprintf(err, err_size, "cannot remove the stale socket %s: %s", path, strerror(errno));
		return r;
	}
	log_notice("removed stale socket %s", path);
	return 0;
}

static int take_lock(const char *path, char *err, size_t err_size)
{
	int fd = lockfile_take(path, err, err_size);
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	const char *why = NULL;

	if (fd == -EBUSY) {
		snprintf(err, err_size, "another asyncjobd holds %s.lock (it is running or "
			 "starting on %s)", path, path);
		return -EADDRINUSE;
	}
	/* The lock file is made beside the socket: what stops it stops the
	 * socket too, and is said of the socket's directory, which the user
	 * chose, not of a file the user never named. */
	switch (fd) {
	case -ENOENT: why = "does not exist (create it, or give another --socket)"; break;
	case -ENOTDIR: why = "is not a directory"; break;
	case -EACCES: why = "is not writable for this user"; break;
	case -EROFS: why = "is on a read-only filesystem"; break;
	}
	if (why) {
		snprintf(dir, sizeof(dir), "%s", path);
		char *slash = strrchr(dir, '/');
		if (slash == dir)
			dir[1] = '\0';
		else if (slash)
			*slash = '\0';
		else
			snprintf(dir, sizeof(dir), ".");
		snprintf(err, err_size, "cannot listen on %s: the directory %s %s", path, dir, why);
	}
	return fd;
}

/* Accepts on `fd`, a listening socket (ownership passes, as of `path`, an
 * allocated string). */
static struct listener *listener_new(struct daemon *d, int fd, char *path, int lock_fd)
{
	struct listener *l = xcalloc(1, sizeof(*l));

	l->d = d;
	l->path = path;
	l->lock_fd = lock_fd;
	l->evl = evconnlistener_new(d->base, on_accept, l, LEV_OPT_CLOSE_ON_FREE, 0, fd);
	l->resume = evtimer_new(d->base, on_resume, l);
	if (!l->evl || !l->resume)
		xalloc_die();
	evconnlistener_set_error_cb(l->evl, on_accept_error);
	return l;
}

int listener_open(struct daemon *d, const char *path, mode_t mode, gid_t gid,
		  struct listener **ret, char *err, size_t err_size)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct listener *l;
	struct stat st;
	int fd = -1, lock_fd, r;
	mode_t old_umask;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		snprintf(err, err_size, "socket path too long (at most %zu bytes): %s",
			 sizeof(sun.sun_path) - 1, path);
		return -ENAMETOOLONG;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);

	/* The system socket's directory is ours to create. */
	if (strcmp(path, ASYNCJOB_SYSTEM_SOCKET) == 0 && mkdir("/run/asyncjobd", 0755) < 0 &&
	    errno != EEXIST) {
		r = -errno;
		snprintf(err, err_size, "cannot create /run/asyncjobd: %s", strerror(errno));
		return r;
	}

	lock_fd = take_lock(path, err, err_size);
	if (lock_fd < 0)
		return lock_fd;
	r = probe_existing(path, err, err_size);
	if (r < 0)
		goto fail;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		r = -errno;
		snprintf(err, err_size, "socket: %s", strerror(errno));
		goto fail;
	}
	/* No moment where the socket exists with looser permissions. */
	old_umask = umask(0177);
	r = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	int saved = errno;
	umask(old_umask);
	if (r < 0) {
		r = -saved;
		snprintf(err, err_size, "cannot bind %s: %s", path, strerror(saved));
		goto fail;
	}
	if ((gid != (gid_t)-1 && chown(path, (uid_t)-1, gid) < 0) || chmod(path, mode) < 0 ||
	    lstat(path, &st) < 0) {
		r = -errno;
		snprintf(err, err_size, "cannot set owner or mode of %s: %s", path, strerror(errno));
		unlink(path);
		goto fail;
	}
	if (listen(fd, SOMAXCONN) < 0) {
		r = -errno;
		snprintf(err, err_size, "listen: %s", strerror(errno));
		unlink(path);
		goto fail;
	}

	l = listener_new(d, fd, xstrdup(path), lock_fd);
	l->created = true;
	l->ino = st.st_ino;
	l->dev = st.st_dev;
	*ret = l;
	return 0;

fail:
	if (fd >= 0)
		close(fd);
	close(lock_fd);
	return r;
}

#if HAVE_SYSTEMD
/* How a passed socket is named in the log: its path, or @name for one in
 * the abstract namespace. */
static char *passed_socket_name(int fd)
{
	struct sockaddr_un sun;
	socklen_t len = sizeof(sun);
	const size_t path_offset = offsetof(struct sockaddr_un, sun_path);

	memset(&sun, 0, sizeof(sun));
	if (getsockname(fd, (struct sockaddr *)&sun, &len) < 0 || len <= path_offset)
		return xstrdup("(an unnamed socket)");
	size_t n = len - path_offset;
	if (n > sizeof(sun.sun_path))
		n = sizeof(sun.sun_path);
	if (sun.sun_path[0] != '\0')
		return xstrndup(sun.sun_path, n);
	char *name = xmalloc(n + 1);
	name[0] = '@';
	memcpy(name + 1, sun.sun_path + 1, n - 1);
	name[n] = '\0';
	return name;
}
#endif

int listener_open_passed(struct daemon *d, struct listener **ret, char *err, size_t err_size)
{
#if HAVE_SYSTEMD
	/* Unset: nothing this process starts may think the socket is its. */
	int n = sd_listen_fds(1);
	int fd = SD_LISTEN_FDS_START, r;

	if (n < 0) {
		snprintf(err, err_size, "cannot take the sockets systemd passed: %s", strerror(-n));
		return n;
	}
	if (n == 0)
		return 0;
	if (n > 1) {
		snprintf(err, err_size, "systemd passed %d sockets; asyncjobd takes exactly one "
			 "(one ListenStream= in its socket unit)", n);
		return -EINVAL;
	}
	r = sd_is_socket_unix(fd, SOCK_STREAM, 1, NULL, 0);
	if (r < 0) {
		snprintf(err, err_size, "cannot inspect the socket systemd passed: %s",
			 strerror(-r));
		return r;
	}
	if (r == 0) {
		snprintf(err, err_size, "the socket systemd passed is not a listening Unix stream "
			 "socket (the socket unit needs ListenStream=/a/path, Accept=no)");
		return -EINVAL;
	}
	/* libevent accepts only from non-blocking sockets. */
	int flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
		r = -errno;
		snprintf(err, err_size, "cannot make the socket systemd passed non-blocking: %s",
			 strerror(errno));
		return r;
	}
	*ret = listener_new(d, fd, passed_socket_name(fd), -1);
	return 1;
#else
	/* Say so rather than bind a second socket over systemd's. */
	const char *pid = getenv("LISTEN_PID");
	(void)d;
	(void)ret;
	if (getenv("LISTEN_FDS") && pid && strtol(pid, NULL, 10) == (long)getpid()) {
		snprintf(err, err_size, "systemd passed a socket, but this asyncjobd was built "
			 "without libsystemd (rebuild with --enable-systemd)");
		return -EOPNOTSUPP;
	}
	return 0;
#endif
}

const char *listener_path(const struct listener *l)
{
	return l->path;
}

bool listener_passed(const struct listener *l)
{
	return !l->created;
}

struct listener *listener_free(struct listener *l)
{
	struct stat st;

	if (!l)
		return NULL;
	evconnlistener_free(l->evl);
	event_free(l->resume);
	/* Remove the path only if we made it and it is still that socket; a
	 * passed socket is systemd's, and stays for the next activation. */
	if (l->created && lstat(l->path, &st) == 0 && st.st_ino == l->ino && st.st_dev == l->dev)
		unlink(l->path);
	if (l->lock_fd >= 0)
		close(l->lock_fd);
	free(l->path);
	free(l);
	return NULL;
}
