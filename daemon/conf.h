/* The daemon's settings: defaults, the config file, command-line overrides.
 * conf/asyncjobd.conf documents every key. */
#ifndef ASYNCJOBD_CONF_H
#define ASYNCJOBD_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "daemon/log.h"

struct jsonw;
struct netfilter;
struct write_roots;

/* Everything a client can make the daemon allocate is bounded by one of these. */
struct limits {
	size_t max_connections;
	size_t max_connections_per_user;
	size_t max_request_bytes;
	size_t max_json_depth;
	size_t max_active_jobs;
	size_t max_active_jobs_per_user;
	size_t max_gather_jobs;
	size_t max_retained_jobs;
	double retain_seconds;
	size_t max_output_bytes;
	size_t max_pending_requests;
	size_t event_history;
	size_t max_list_jobs;
	size_t max_label_bytes;
	size_t max_message_bytes;
	double max_sleep_seconds;
	double shutdown_grace_seconds;
	/* fetch jobs */
	size_t max_concurrent_fetches;
	size_t max_fetches_per_host;
	size_t fetch_default_max_bytes;
	size_t fetch_max_bytes_ceiling;
	size_t fetch_max_save_bytes;      /* 0: no limit for save_to */
	double fetch_connect_timeout;
	size_t fetch_low_speed_bytes;
	double fetch_low_speed_seconds;
	size_t fetch_max_redirects;
	size_t max_retained_result_bytes;
	size_t max_pending_write_bytes;
	size_t max_upload_bytes;          /* one upload (content in pieces) */
	size_t max_spool_bytes;           /* every upload and the content jobs hold */
	size_t io_threads;
};

/* Where jobs are kept (asyncjobd.conf(5), store). */
enum store_kind {
	STORE_MEMORY,               /* in memory: gone with the process */
	STORE_SQLITE,               /* jobs.db in state_directory */
};

/* How far a commit of the SQLite store goes (store_sync). */
enum store_sync_level {
	STORE_SYNC_LEVEL_FULL,      /* on disk: survives a power loss */
	STORE_SYNC_LEVEL_NORMAL,    /* survives a crash of the daemon, not of the machine */
};

struct config {
	char *file;                 /* the file read, NULL when none was */
	char *socket_path;          /* NULL: the default for this user */
	mode_t socket_mode;
	char *socket_group;         /* NULL: the daemon's own group */
	gid_t socket_gid;
	char *admin_group;          /* NULL: only root administers */
	gid_t admin_gid;
	char **write_roots;
	size_t n_write_roots;
	struct write_roots *roots;  /* write_roots opened (or the default) */
	unsigned warnings;          /* said while loading (a write root missing) */
	struct netfilter *deny_networks;   /* NULL: none */
	char *proxy;                /* NULL: fetches go direct */
	char *metrics_listen;       /* HOST:PORT for GET /metrics; NULL: none */
	char *ca_file;              /* NULL: the system's CA store */
	enum log_level log_level;
	enum store_kind store;
	char *state_directory;      /* NULL: the default for this user */
	enum store_sync_level store_sync;
	bool cancel_on_shutdown;    /* on_shutdown = cancel (always, with memory) */
	struct limits limits;
};

/* What the command line sets; it wins over the file, on reload too. */
struct config_overrides {
	const char *socket_path;
	const char *const *write_roots;
	size_t n_write_roots;
	const char *log_level;
	const char *store;
	const char *state_directory;
};

#define CONFIG_ERROR_MAX 4096

/* Builds a config from the defaults, then `file` (when not NULL), then the
 * overrides, and opens the write roots (the configured ones, or
 * config_default_write_root for the effective uid and $HOME; a missing root
 * is logged and skipped). A missing file is an error only when
 * `must_exist`.
 * Returns 0 and a new config in *ret (caller frees with config_free), or a
 * negative errno and a message naming file and line in `error`. Reads the
 * file and resolves group names, so it blocks: call it before the event loop
 * starts or from a thread. */
int config_load(const char *file, bool must_exist, const struct config_overrides *ov,
		struct config **ret, char error[CONFIG_ERROR_MAX]);

struct config *config_free(struct config *c);

/* The write root when none is configured: /var/lib/asyncjobd/files for uid
 * 0; for anyone else their home directory: `home` (the caller's $HOME, may
 * be NULL) when it is an absolute path, else the password database's entry
 * for `uid`. Returns a new string (the caller frees it), or NULL when there
 * is none. Blocks (the password database may be remote). */
char *config_default_write_root(uid_t uid, const char *home);

/* The state directory when none is configured: the first of systemd's
 * $STATE_DIRECTORY (`systemd_dirs`, colon-separated, may be NULL: the
 * unit's StateDirectory=, which the system daemon gets though it does not
 * run as root); else /var/lib/asyncjobd for uid 0; for anyone else
 * $XDG_STATE_HOME/asyncjobd (`state_home`, may be NULL), else
 * `home`/.local/state/asyncjobd, else the password database's home.
 * Returns a new string, or NULL when there is none. Blocks. */
char *config_default_state_directory(const char *systemd_dirs, uid_t uid, const char *state_home,
				     const char *home);

/* Writes the limits as a JSON object (for daemon.info). */
void config_write_limits(const struct config *c, struct jsonw *w);

/* Names the settings that differ between two configs but only take effect
 * at restart (the socket's path, mode and group), or NULL. */
const char *config_restart_needed(const struct config *old, const struct config *new_);

#endif
