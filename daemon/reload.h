/* SIGHUP: re-read the config file on a thread (reading a file and resolving
 * group names may block) and apply the result on the loop. */
#ifndef ASYNCJOBD_RELOAD_H
#define ASYNCJOBD_RELOAD_H

#include <stdbool.h>

struct daemon;
struct config_overrides;
struct reloader;

/* `file`, `overrides` and what they point to must outlive the reloader. */
struct reloader *reloader_new(struct daemon *d, const char *file, bool must_exist,
			      const struct config_overrides *overrides);
struct reloader *reloader_free(struct reloader *r);
/* Starts a reload; one asked for while another runs follows it. */
void reloader_request(struct reloader *r);

#endif
