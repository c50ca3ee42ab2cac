/* The listening Unix socket: creating it safely (never over another live
 * daemon, replacing a stale one) or taking the one systemd passed, accepting
 * with peer credentials, and the connection limits. */
#ifndef ASYNCJOBD_LISTENER_H
#define ASYNCJOBD_LISTENER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct daemon;
struct listener;

/* The socket path used when none is configured: the system one for root,
 * $XDG_RUNTIME_DIR/asyncjobd.sock for anyone else. Returns 0 and a new
 * string in *ret, or -ENOENT when XDG_RUNTIME_DIR is unset. */
int listener_default_path(char **ret);

/* Creates, binds and listens on `path` with `mode`, and group `gid` unless
 * it is (gid_t)-1. Returns 0, or a negative errno with a message in `err`. */
int listener_open(struct daemon *d, const char *path, mode_t mode, gid_t gid,
		  struct listener **ret, char *err, size_t err_size);

/* Socket activation: takes the listening socket systemd passed
 * ($LISTEN_FDS, unset here so nothing else takes it). Returns 1 with the
 * listener in *ret; 0 when none was passed (make one with listener_open);
 * or a negative errno with a message in `err` when more than one socket, or
 * one that is not a listening Unix stream socket, was passed (or when built
 * without libsystemd). The socket's path, mode and group are the socket
 * unit's; it is never removed. */
int listener_open_passed(struct daemon *d, struct listener **ret, char *err, size_t err_size);

/* Where clients connect, for the log. */
const char *listener_path(const struct listener *l);
/* True for a socket systemd passed. */
bool listener_passed(const struct listener *l);

/* Closes the socket and removes its path if it is still ours. NULL is fine. */
struct listener *listener_free(struct listener *l);

#endif
