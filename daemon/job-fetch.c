/* Fetch jobs: an HTTP(S) request through libcurl's multi interface, the
 * seed's aiohttp example as a service. The body is kept in memory (capped)
 * or streamed to a file beneath a write root through the worker threads,
 * which write while curl is paused if they fall behind, so memory stays
 * flat whatever the size. libcurl's security notes are the checklist: only
 * http and https, for redirects too; deny_networks checked on the address
 * actually connected; no netrc, no cookies, no proxy unless configured;
 * certificates always verified; every wait bounded. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "daemon/confine.h"
#include "daemon/daemon.h"
#include "daemon/identity.h"
#include "daemon/fetch-engine.h"
#include "daemon/fetch-retry.h"
#include "daemon/job.h"
#include "daemon/log.h"
#include "daemon/metrics.h"
#include "daemon/netfilter.h"
#include "daemon/params.h"
#include "daemon/workers.h"
#include "daemon/xalloc.h"
#include "proto/base64.h"
#include "proto/json.h"
#include "proto/jsonw.h"

#define MAX_URL_BYTES 8192
#define MAX_HEADERS 100
#define MAX_HEADER_BYTES (64 * 1024)
#define MAX_RESULT_HEADER_BYTES (64 * 1024)
#define MAX_RETRY_ATTEMPTS 10
/* How deep a fetched JSON document may nest. */
#define BODY_JSON_DEPTH 128
/* A save_to download is paused while this much waits to be written, and
 * resumed below a quarter of it: the memory a download may use. */
#define SINK_HIGH_WATER (1024 * 1024)
/* Bodies larger than this are decoded (JSON parse, UTF-8 check) on a
 * worker thread, so a big document does not stall the loop. */
#define INLINE_DECODE_MAX (64 * 1024)

enum method { M_GET, M_HEAD, M_POST, M_PUT, M_PATCH, M_DELETE };
static const char *const method_names[] = { "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE" };

enum expect { EXPECT_AUTO, EXPECT_JSON, EXPECT_TEXT, EXPECT_BASE64 };

/* What a finished body became in the result. */
enum body_kind { BODY_NONE, BODY_JSON, BODY_TEXT, BODY_BASE64, BODY_SAVED };

struct sink;

struct fetch_job {
	struct job *job;
	struct daemon *d;
	struct fetch_transfer xfer;

	/* the spec */
	char *url;
	enum method method;
	struct curl_slist *headers;
	unsigned char *body;
	size_t body_len;
	bool has_body;
	bool follow_redirects;
	uint64_t max_bytes;            /* 0: no limit (save_to only) */
	enum expect expect;
	bool raise_for_status;
	unsigned attempts;             /* in all, the first included */
	bool has_retry;                /* the spec asked for retries */
	double backoff;
	struct confined_path save;
	bool has_save;
	bool save_fsync;               /* flush the file before it takes its name */
	struct write_roots *roots;     /* a reference, while save is set */
	struct identity *requester;    /* whose rights the file has, with save */

	/* the run */
	unsigned attempt;
	char errbuf[CURL_ERROR_SIZE];
	unsigned char *buf;            /* the body, in memory mode */
	size_t buf_len, buf_cap;
	uint64_t bytes;                /* body bytes received this attempt */
	curl_off_t total;              /* expected, or -1 */
	bool too_large;
	bool denied;
	char denied_addr[INET6_ADDRSTRLEN];
	struct event *retry_timer;
	struct sink *sink;
	struct work decode;            /* a large body decoded on a worker */
	bool decoding;
	bool stopped;                  /* the job was stopped: ignore late news */

	/* the result */
	long status;
	char *final_url;
	char *content_type;
	char *headers_json;            /* the response headers, as a JSON object */
	enum body_kind kind;
	char *result;                  /* JSON text (json), bytes (text, base64) */
	size_t result_len;
	char decode_error[160];
	double t_dns, t_connect, t_tls, t_first_byte, t_total;
};

static const char *const fetch_fields[] = {
	"url", "method", "headers", "body", "body_base64", "follow_redirects", "max_bytes",
	"save_to", "fsync", "expect", "raise_for_status", "retry", NULL,
};

static void attempt_start(struct fetch_job *f);
static void attempt_finished(struct fetch_transfer *t, CURLcode result);

/* ------------------------------------------------------------ the spec */

static bool header_name_ok(const char *s)
{
	/* RFC 9110 token characters. */
	if (!*s)
		return false;
	for (; *s; s++)
		if (!(isalnum((unsigned char)*s) || strchr("!#$%&'*+-.^_`|~", *s)))
			return false;
	return true;
}

static bool header_value_ok(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] == '\r' || s[i] == '\n' || s[i] == '\0')
			return false;
	return true;
}

static int parse_headers(const struct json_value *v, struct fetch_job *f, struct rpc_error *e)
{
	size_t total = 0;

	if (!json_is(v, JSON_OBJECT))
		return rpc_error_param(e, "headers", "must be an object of header names to values");
	if (v->len > MAX_HEADERS)
		return rpc_error_param(e, "headers", "more than %d headers", MAX_HEADERS);
	for (uint32_t i = 0; i < v->len; i++) {
		const struct json_value *h = &v->items[i];
		const char *name = h->key;
		char field[96];
		snprintf(field, sizeof(field), "headers.%.80s", name);
		if (strlen(name) != h->key_len || !header_name_ok(name))
			return rpc_error_param(e, field, "not a valid header name");
		if (!strcasecmp(name, "Content-Length") || !strcasecmp(name, "Transfer-Encoding"))
			return rpc_error_param(e, field, "is set by the daemon from the body");
		if (!json_is(h, JSON_STRING))
			return rpc_error_param(e, field, "must be a string");
		const char *s = h->str;
		size_t len = h->len;
		if (!header_value_ok(s, len))
			return rpc_error_param(e, field, "must not contain CR, LF or NUL");
		total += h->key_len + len + 4;
		if (total > MAX_HEADER_BYTES)
			return rpc_error_param(e, "headers", "more than %d bytes", MAX_HEADER_BYTES);
		size_t line_len = h->key_len + len + 3;
		char *line = xmalloc(line_len);
		/* "Name;" is curl's way to send a header with an empty value. */
		if (len == 0)
			snprintf(line, line_len, "%s;", name);
		else
			snprintf(line, line_len, "%s: %s", name, s);
		struct curl_slist *l = curl_slist_append(f->headers, line);
		free(line);
		if (!l)
			xalloc_die();
		f->headers = l;
	}
	return 0;
}

static int parse_url(struct daemon *d, const struct json_value *spec, struct fetch_job *f,
		     struct rpc_error *e)
{
	const char *url;
	size_t len;
	int r = param_string(spec, "url", true, MAX_URL_BYTES, true, &url, &len, e);
	if (r < 0)
		return r;
	(void)d;

	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL;
	if (!u)
		xalloc_die();
	CURLUcode uc = curl_url_set(u, CURLUPART_URL, url, 0);
	if (uc != CURLUE_OK) {
		curl_url_cleanup(u);
		return rpc_error_param(e, "url", "not a valid URL: %s", curl_url_strerror(uc));
	}
	curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
	curl_url_get(u, CURLUPART_HOST, &host, 0);
	bool web = scheme && (!strcasecmp(scheme, "http") || !strcasecmp(scheme, "https"));
	if (!web) {
		r = rpc_error_forbidden(e, "url", "only http and https URLs may be fetched, not %.32s:",
					scheme ? scheme : "?");
	} else if (!host || !*host) {
		r = rpc_error_param(e, "url", "has no host");
	} else {
		f->url = xstrdup(url);
		f->xfer.host = xstrdup(host);
		r = 0;
	}
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return r;
}

/* The request body: bytes, given as a JSON string (which may hold NUL
 * through \u0000) or as base64. */
static int parse_body(const struct json_value *spec, struct fetch_job *f, struct rpc_error *e)
{
	const struct json_value *text = json_get(spec, "body"), *b64 = json_get(spec, "body_base64");
	bool has_text = text != NULL, has_b64 = b64 != NULL;

	if (has_text && has_b64)
		return rpc_error_param(e, "body_base64", "give body or body_base64, not both");
	if (has_text) {
		if (!json_is(text, JSON_STRING))
			return rpc_error_param(e, "body", "must be a string");
		size_t len = text->len;
		f->body = xmalloc(len + 1);
		memcpy(f->body, text->str, len);
		f->body_len = len;
		f->has_body = true;
	} else if (has_b64) {
		if (!json_is(b64, JSON_STRING))
			return rpc_error_param(e, "body_base64", "must be a string");
		size_t len = b64->len;
		f->body = xmalloc(base64_decoded_max(len) + 1);
		long n = base64_decode(b64->str, len, f->body);
		if (n < 0)
			return rpc_error_param(e, "body_base64", "not valid base64 (RFC 4648, padded)");
		f->body_len = (size_t)n;
		f->has_body = true;
	}
	if (f->has_body && (f->method == M_GET || f->method == M_HEAD))
		return rpc_error_param(e, has_text ? "body" : "body_base64",
				       "a %s request carries no body", method_names[f->method]);
	return 0;
}

static int parse_retry(const struct json_value *spec, struct fetch_job *f, struct rpc_error *e)
{
	const struct json_value *v = json_get(spec, "retry");
	static const char *const retry_fields[] = { "attempts", "backoff", NULL };
	double attempts = 1, backoff = 0.5;
	int r;

	f->attempts = 1;
	f->backoff = backoff;
	if (!v)
		return 0;
	if (!json_is(v, JSON_OBJECT))
		return rpc_error_param(e, "retry", "must be an object {\"attempts\": N, \"backoff\": seconds}");
	if ((r = param_check_fields(v, retry_fields, e)) < 0) {
		rpc_error_prefix_field(e, "retry.");
		return r;
	}
	r = param_number(v, "attempts", false, 1, MAX_RETRY_ATTEMPTS, false, &attempts, e);
	if (r < 0) {
		rpc_error_prefix_field(e, "retry.");
		return r;
	}
	r = param_number(v, "backoff", false, 0, FETCH_RETRY_MAX_WAIT, true, &backoff, e);
	if (r < 0) {
		rpc_error_prefix_field(e, "retry.");
		return r;
	}
	f->attempts = (unsigned)attempts;
	f->backoff = backoff;
	f->has_retry = true;
	return 0;
}

static void fetch_free(void *data);

static int fetch_parse(struct daemon *d, const struct json_value *spec, struct identity *requester,
		       void **ret_data, struct rpc_error *e)
{
	const struct limits *lim = &d->config->limits;
	struct fetch_job *f = xcalloc(1, sizeof(*f));
	const char *s;
	size_t len;
	double max_bytes = 0;
	bool b;
	int r;

	f->d = d;
	f->follow_redirects = true;
	f->total = -1;

	if ((r = parse_url(d, spec, f, e)) < 0)
		goto fail;
	r = param_string(spec, "method", false, 8, true, &s, NULL, e);
	if (r < 0)
		goto fail;
	if (r > 0) {
		size_t i;
		for (i = 0; i < sizeof(method_names) / sizeof(method_names[0]); i++)
			if (strcmp(s, method_names[i]) == 0)
				break;
		if (i == sizeof(method_names) / sizeof(method_names[0])) {
			r = rpc_error_param(e, "method", "must be GET, HEAD, POST, PUT, PATCH or DELETE");
			goto fail;
		}
		f->method = (enum method)i;
	}
	const struct json_value *hv = json_get(spec, "headers");
	if (hv && (r = parse_headers(hv, f, e)) < 0)
		goto fail;
	if ((r = parse_body(spec, f, e)) < 0)
		goto fail;
	if ((r = param_bool(spec, "follow_redirects", &b, e)) < 0)
		goto fail;
	if (r > 0)
		f->follow_redirects = b;
	if ((r = param_bool(spec, "raise_for_status", &f->raise_for_status, e)) < 0)
		goto fail;
	r = param_string(spec, "expect", false, 16, true, &s, NULL, e);
	if (r < 0)
		goto fail;
	if (r > 0) {
		if (!strcmp(s, "json"))
			f->expect = EXPECT_JSON;
		else if (!strcmp(s, "text"))
			f->expect = EXPECT_TEXT;
		else if (!strcmp(s, "base64"))
			f->expect = EXPECT_BASE64;
		else {
			r = rpc_error_param(e, "expect", "must be \"json\", \"text\" or \"base64\"");
			goto fail;
		}
	}
	if ((r = parse_retry(spec, f, e)) < 0)
		goto fail;

	r = param_string(spec, "save_to", false, 4096, true, &s, &len, e);
	if (r < 0)
		goto fail;
	if (r > 0) {
		const char *why;
		r = confine_check(d->config->roots, s, len, &f->save, &why);
		if (r == -EPERM) {
			char refusal[256];
			confine_refusal(d->config->roots, s, why, refusal, sizeof(refusal));
			r = rpc_error_forbidden(e, "save_to", "%s", refusal);
			goto fail;
		}
		if (r < 0) {
			r = rpc_error_param(e, "save_to", "%s", why);
			goto fail;
		}
		f->has_save = true;
		f->save_fsync = true;
		f->roots = write_roots_ref(d->config->roots);
		if (requester && !identity_may_act_for(requester)) {
			r = rpc_error_forbidden(e, "save_to", "%s", identity_refusal());
			goto fail;
		}
		f->requester = identity_ref(requester);
		if (f->expect != EXPECT_AUTO) {
			r = rpc_error_param(e, "expect", "not with save_to: the body goes to the file");
			goto fail;
		}
	}
	if ((r = param_bool(spec, "fsync", &f->save_fsync, e)) < 0)
		goto fail;
	if (r > 0 && !f->has_save) {
		r = rpc_error_param(e, "fsync", "only with save_to: without it nothing is written");
		goto fail;
	}

	/* The body kept in memory is always capped; a file only if asked. */
	double ceiling = f->has_save ? (lim->fetch_max_save_bytes ? (double)lim->fetch_max_save_bytes
								  : 1e18)
				     : (double)lim->fetch_max_bytes_ceiling;
	r = param_number(spec, "max_bytes", false, 1, ceiling, false, &max_bytes, e);
	if (r < 0)
		goto fail;
	if (r > 0)
		f->max_bytes = (uint64_t)max_bytes;
	else
		f->max_bytes = f->has_save ? lim->fetch_max_save_bytes : lim->fetch_default_max_bytes;

	*ret_data = f;
	return 0;
fail:
	fetch_free(f);
	return r;
}

/* ------------------------------------------------------------ curl callbacks */

static curl_socket_t open_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *addr)
{
	struct fetch_job *f = clientp;
	const struct netfilter *deny = f->d->config->deny_networks;
	(void)purpose;

	if (netfilter_denies(deny, &addr->addr, addr->addrlen)) {
		const void *a = addr->family == AF_INET
			? (const void *)&((struct sockaddr_in *)&addr->addr)->sin_addr
			: (const void *)&((struct sockaddr_in6 *)&addr->addr)->sin6_addr;
		if (addr->family == AF_INET || addr->family == AF_INET6)
			inet_ntop(addr->family, a, f->denied_addr, sizeof(f->denied_addr));
		else
			snprintf(f->denied_addr, sizeof(f->denied_addr), "family %d", addr->family);
		f->denied = true;
		return CURL_SOCKET_BAD;
	}
	return socket(addr->family, addr->socktype | SOCK_CLOEXEC, addr->protocol);
}

/* Runs before every request, on a new connection or a reused one: a
 * connection kept alive from before deny_networks changed must not carry
 * a request it would now refuse. */
static int before_request(void *clientp, char *conn_primary_ip, char *conn_local_ip,
			  int conn_primary_port, int conn_local_port)
{
	struct fetch_job *f = clientp;
	union {
		struct sockaddr sa;
		struct sockaddr_in in;
		struct sockaddr_in6 in6;
	} a = { 0 };
	socklen_t len;
	(void)conn_local_ip;
	(void)conn_primary_port;
	(void)conn_local_port;

	if (inet_pton(AF_INET, conn_primary_ip, &a.in.sin_addr) == 1) {
		a.in.sin_family = AF_INET;
		len = sizeof(a.in);
	} else if (inet_pton(AF_INET6, conn_primary_ip, &a.in6.sin6_addr) == 1) {
		a.in6.sin6_family = AF_INET6;
		len = sizeof(a.in6);
	} else {
		return CURL_PREREQFUNC_OK;   /* not an IP connection (cannot happen) */
	}
	if (!netfilter_denies(f->d->config->deny_networks, &a.sa, len))
		return CURL_PREREQFUNC_OK;
	snprintf(f->denied_addr, sizeof(f->denied_addr), "%s", conn_primary_ip);
	f->denied = true;
	return CURL_PREREQFUNC_ABORT;
}

static void sink_kick(struct sink *s);
static bool sink_accepts(struct sink *s, size_t n);
static void sink_put(struct sink *s, const void *data, size_t n);

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp)
{
	struct fetch_job *f = userp;
	size_t n = size * nmemb;

	/* Counted here, on the decoded bytes, so a compressed bomb is caught
	 * as surely as a long body. */
	if (f->max_bytes && f->bytes + n > f->max_bytes) {
		f->too_large = true;
		return 0;
	}
	if (f->sink) {
		if (!sink_accepts(f->sink, n))
			return CURL_WRITEFUNC_PAUSE;   /* the disk is behind: wait */
		sink_put(f->sink, data, n);
	} else {
		if (f->buf_len + n > f->buf_cap) {
			size_t cap = f->buf_cap ? f->buf_cap : 16384;
			while (cap < f->buf_len + n)
				cap *= 2;
			f->buf = xrealloc(f->buf, cap);
			f->buf_cap = cap;
		}
		memcpy(f->buf + f->buf_len, data, n);
		f->buf_len += n;
	}
	f->bytes += n;
	return n;
}

static int on_progress(void *clientp, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		       curl_off_t ulnow)
{
	struct fetch_job *f = clientp;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;

	f->total = dltotal > 0 ? dltotal : -1;
	job_report_progress(f->job);
	return 0;
}

/* ------------------------------------------------------------ save_to */

enum sink_op { SINK_OPEN, SINK_WRITE, SINK_RESET, SINK_COMMIT, SINK_ABORT };

/* The file side of a save_to download. Its work runs on the worker
 * threads, one piece at a time, in order. When the job goes away first,
 * the sink is orphaned: it finishes its piece, removes its temporary file
 * and frees itself. */
struct sink {
	struct fetch_job *f;           /* NULL once orphaned */
	struct workers *wp;
	struct write_roots *roots;
	struct confined_path cp;
	struct identity *requester;    /* the file work runs with its rights */
	struct work work;
	enum sink_op op;
	bool busy;
	bool fsync;                    /* flush the file and directory on commit */
	bool paused;                   /* curl is paused for us */
	bool finishing;                /* the transfer is done: commit when drained */
	bool reset_wanted;             /* a retry starts over once the worker is free */
	int err;                       /* of the last work, negative errno */
	int dirfd, fd;
	const char *name;
	char tmp[NAME_MAX + 1];
	/* With a store that keeps jobs, the temporary file is named after the
	 * job (part_name), so that a restart finds what a cut-off run left. */
	bool named;
	bool recovering;               /* the job runs again after a restart */
	uint64_t id;
	unsigned char *pending;        /* received, waiting for the worker */
	size_t pending_len, pending_cap;
	unsigned char *writing;        /* being written by the worker */
	size_t writing_len, writing_cap;
	uint64_t written;
};

/* The temporary file of job `id` beside its target `name`, within
 * NAME_MAX: hidden, recognisable, and found again after a restart. */
static void part_name(char *buf, const char *name, uint64_t id)
{
	snprintf(buf, NAME_MAX + 1, ".%.200s.asyncjob-%" PRIu64 ".part", name, id);
}

/* Creates the temporary file: named after the job when its store keeps
 * it (what a run a restart cut off left goes first); a random name when
 * not, or when another file holds the job's. */
static int sink_create(struct sink *s)
{
	int fd = -EEXIST;

	if (s->named) {
		part_name(s->tmp, s->name, s->id);
		if (s->recovering)
			unlinkat(s->dirfd, s->tmp, 0);
		fd = confine_create_named(s->dirfd, s->tmp, 0644);
	}
	if (fd == -EEXIST)
		fd = confine_create_temp(s->dirfd, s->name, 0644, s->tmp, sizeof(s->tmp));
	/* A name not made here is not removed on the way out. */
	if (fd < 0)
		s->tmp[0] = '\0';
	return fd;
}

static void sink_step(struct sink *s)
{
	int r = 0;

	switch (s->op) {
	case SINK_OPEN:
		confine_dirs_use_begin();
		s->dirfd = confine_open_parent(&s->cp, false, &s->name);
		if (s->dirfd < 0)
			r = s->dirfd;
		else if ((r = confine_check_target(s->dirfd, s->name)) == 0) {
			s->fd = sink_create(s);
			if (s->fd < 0)
				r = s->fd;
		}
		confine_dirs_use_end();
		break;
	case SINK_WRITE:
		for (size_t off = 0; off < s->writing_len;) {
			ssize_t n = write(s->fd, s->writing + off, s->writing_len - off);
			if (n < 0) {
				if (errno == EINTR)
					continue;
				r = -errno;
				break;
			}
			off += (size_t)n;
		}
		break;
	case SINK_RESET:
		if (ftruncate(s->fd, 0) < 0 || lseek(s->fd, 0, SEEK_SET) < 0)
			r = -errno;
		break;
	case SINK_COMMIT: {
		/* Durable before it is visible under its name; then the
		 * directory, so the rename itself survives a crash. */
		if (s->fsync && fdatasync(s->fd) < 0) {
			r = -errno;
			break;
		}
		if ((r = confine_check_target(s->dirfd, s->name)) < 0)
			break;
		if (renameat(s->dirfd, s->tmp, s->dirfd, s->name) < 0) {
			r = -errno;
			break;
		}
		s->tmp[0] = '\0';
		/* The file is in place already: a directory that cannot be
		 * flushed does not undo that. */
		if (s->fsync)
			(void)confine_sync_dir(s->dirfd);
		break;
	}
	case SINK_ABORT:
		break;
	}
	if (r < 0 || s->op == SINK_COMMIT || s->op == SINK_ABORT) {
		/* Done with the file one way or the other: leave no trace. */
		if (s->fd >= 0)
			close(s->fd);
		s->fd = -1;
		if (s->tmp[0] && s->dirfd >= 0)
			unlinkat(s->dirfd, s->tmp, 0);
		s->tmp[0] = '\0';
		if (s->dirfd >= 0)
			close(s->dirfd);
		s->dirfd = -1;
	}
	s->err = r;
}

/* Every piece runs with the requester's rights, as a write job does. */
static void sink_run(struct work *w)
{
	struct sink *s = (struct sink *)((char *)w - offsetof(struct sink, work));
	int r;

	if (s->requester && (r = identity_enter(s->requester)) < 0) {
		/* The job fails; what is open is closed. A temporary file stays
		 * (only the requester may remove it, and this thread could not
		 * become the requester). */
		if (s->fd >= 0)
			close(s->fd);
		if (s->dirfd >= 0)
			close(s->dirfd);
		s->fd = s->dirfd = -1;
		s->tmp[0] = '\0';
		s->err = r;
		return;
	}
	sink_step(s);
	if (s->requester)
		identity_leave();
}

static void sink_free(struct sink *s)
{
	confined_path_release(&s->cp);
	write_roots_unref(s->roots);
	identity_unref(s->requester);
	free(s->pending);
	free(s->writing);
	free(s);
}

static void sink_submit(struct sink *s, enum sink_op op)
{
	s->op = op;
	s->busy = true;
	workers_submit(s->wp, &s->work);
}

static void sink_done(struct work *w);

static struct sink *sink_new(struct fetch_job *f)
{
	struct sink *s = xcalloc(1, sizeof(*s));
	s->f = f;
	s->wp = f->d->workers;
	s->roots = write_roots_ref(f->roots);
	s->requester = identity_ref(f->requester);
	s->fsync = f->save_fsync;
	s->cp.roots = s->roots;
	s->cp.root = f->save.root;
	s->cp.rel = xstrdup(f->save.rel);
	s->work.run = sink_run;
	s->work.done = sink_done;
	s->dirfd = s->fd = -1;
	s->named = f->d->keep_job_specs;
	s->recovering = f->job->recovering;
	s->id = f->job->id;
	return s;
}

/* At start, a save_to fetch that does not run again: its temporary file,
 * if a cut-off run left one, goes (with the requester's rights, on a
 * worker). */
struct part_tidy {
	struct work work;
	struct write_roots *roots;
	struct confined_path cp;
	struct identity *requester;
	uint64_t id;
};

static void part_tidy_run(struct work *w)
{
	struct part_tidy *t = (struct part_tidy *)((char *)w - offsetof(struct part_tidy, work));
	char tmp[NAME_MAX + 1];
	const char *name;

	if (t->requester && identity_enter(t->requester) < 0)
		return;
	confine_dirs_use_begin();
	int dirfd = confine_open_parent(&t->cp, false, &name);
	if (dirfd >= 0) {
		part_name(tmp, name, t->id);
		unlinkat(dirfd, tmp, 0);
		close(dirfd);
	}
	confine_dirs_use_end();
	if (t->requester)
		identity_leave();
}

static void part_tidy_done(struct work *w)
{
	struct part_tidy *t = (struct part_tidy *)((char *)w - offsetof(struct part_tidy, work));

	confined_path_release(&t->cp);
	write_roots_unref(t->roots);
	identity_unref(t->requester);
	free(t);
}

static void fetch_abandon(struct job *job)
{
	struct fetch_job *f = job->data;

	if (!f->has_save || !job->d->keep_job_specs)
		return;
	struct part_tidy *t = xcalloc(1, sizeof(*t));
	t->roots = write_roots_ref(f->roots);
	t->cp.roots = t->roots;
	t->cp.root = f->save.root;
	t->cp.rel = xstrdup(f->save.rel);
	t->requester = identity_ref(f->requester);
	t->id = job->id;
	t->work.run = part_tidy_run;
	t->work.done = part_tidy_done;
	workers_submit(job->d->workers, &t->work);
}

static bool sink_accepts(struct sink *s, size_t n)
{
	if (s->pending_len > 0 && s->pending_len + n > SINK_HIGH_WATER) {
		s->paused = true;
		return false;
	}
	return true;
}

static void sink_put(struct sink *s, const void *data, size_t n)
{
	if (s->pending_len + n > s->pending_cap) {
		size_t cap = s->pending_cap ? s->pending_cap : 65536;
		while (cap < s->pending_len + n)
			cap *= 2;
		s->pending = xrealloc(s->pending, cap);
		s->pending_cap = cap;
	}
	memcpy(s->pending + s->pending_len, data, n);
	s->pending_len += n;
	sink_kick(s);
}

/* Hands what is pending to a worker, or commits once all is written. */
static void sink_kick(struct sink *s)
{
	if (s->busy || !s->f)
		return;
	if (s->pending_len > 0) {
		/* Swap buffers: curl fills one while the worker writes the other. */
		unsigned char *b = s->writing;
		size_t cap = s->writing_cap;
		s->writing = s->pending;
		s->writing_cap = s->pending_cap;
		s->writing_len = s->pending_len;
		s->pending = b;
		s->pending_cap = cap;
		s->pending_len = 0;
		sink_submit(s, SINK_WRITE);
		return;
	}
	if (s->finishing)
		sink_submit(s, SINK_COMMIT);
}

static void fetch_fail_io(struct fetch_job *f, int err, const char *doing);
static void sink_orphan(struct fetch_job *f);

static void sink_done(struct work *w)
{
	struct sink *s = (struct sink *)((char *)w - offsetof(struct sink, work));
	struct fetch_job *f = s->f;
	enum sink_op op = s->op;

	s->busy = false;
	if (w->canceled) {
		/* At teardown, after the loop: clean up right here. */
		s->op = SINK_ABORT;
		sink_run(w);
		sink_free(s);
		return;
	}
	if (!f) {
		/* Orphaned: remove what the last piece left, then go. */
		if (s->fd >= 0 || s->dirfd >= 0) {
			sink_submit(s, SINK_ABORT);
			return;
		}
		sink_free(s);
		return;
	}
	if (s->err < 0) {
		fetch_fail_io(f, s->err, op == SINK_OPEN ? "opening" : op == SINK_COMMIT
					 ? "saving" : "writing");
		return;
	}
	switch (op) {
	case SINK_RESET:
		s->written = 0;
		/* fallthrough */
	case SINK_OPEN:
		attempt_start(f);
		return;
	case SINK_WRITE:
		s->written += s->writing_len;
		s->writing_len = 0;
		if (s->reset_wanted) {
			s->reset_wanted = false;
			sink_submit(s, SINK_RESET);
			return;
		}
		if (s->paused && s->pending_len < SINK_HIGH_WATER / 4) {
			s->paused = false;
			/* May call on_body() at once with the held data. */
			curl_easy_pause(f->xfer.easy, CURLPAUSE_CONT);
		}
		sink_kick(s);
		return;
	case SINK_COMMIT:
		f->kind = BODY_SAVED;
		f->bytes = s->written;
		sink_orphan(f);   /* nothing left open: this frees it */
		job_succeed(f->job);
		return;
	case SINK_ABORT:
		return;
	}
}

/* Detaches the sink from its job: it cleans up on its own. */
static void sink_orphan(struct fetch_job *f)
{
	struct sink *s = f->sink;

	if (!s)
		return;
	f->sink = NULL;
	s->f = NULL;
	/* Work not started yet is taken back; running work finishes and
	 * sink_done() cleans up after it. */
	if (s->busy && !workers_cancel(s->wp, &s->work))
		return;
	s->busy = false;
	if (s->fd >= 0 || s->dirfd >= 0) {
		sink_submit(s, SINK_ABORT);
		return;
	}
	sink_free(s);
}

/* ------------------------------------------------------------ attempts */

static bool retryable_status(long status)
{
	return status == 429 || (status >= 500 && status <= 599);
}

static bool retryable_curl(CURLcode rc)
{
	switch (rc) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return true;
	default:
		return false;
	}
}

static void configure_easy(struct fetch_job *f)
{
	const struct config *c = f->d->config;
	const struct limits *lim = &c->limits;
	CURL *e = f->xfer.easy;

	curl_easy_setopt(e, CURLOPT_URL, f->url);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, f->follow_redirects ? 1L : 0L);
	curl_easy_setopt(e, CURLOPT_MAXREDIRS, (long)lim->fetch_max_redirects);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_NETRC, (long)CURL_NETRC_IGNORED);
	/* No proxy from the environment: only the configured one. */
	curl_easy_setopt(e, CURLOPT_PROXY, c->proxy ? c->proxy : "");
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	if (c->ca_file)
		curl_easy_setopt(e, CURLOPT_CAINFO, c->ca_file);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "asyncjobd/" PACKAGE_VERSION);
	curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)(lim->fetch_connect_timeout * 1000));
	if (lim->fetch_low_speed_bytes > 0) {
		curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, (long)lim->fetch_low_speed_bytes);
		curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, (long)lim->fetch_low_speed_seconds);
	}
	/* No CURLOPT_MAXFILESIZE: it compares max_bytes with the compressed
	 * length; on_body() counts what the body really is. */
	curl_easy_setopt(e, CURLOPT_BUFFERSIZE, 256L * 1024);
	curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, open_socket);
	curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, f);
	curl_easy_setopt(e, CURLOPT_PREREQFUNCTION, before_request);
	curl_easy_setopt(e, CURLOPT_PREREQDATA, f);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, f);
	curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(e, CURLOPT_XFERINFODATA, f);
	curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, f->errbuf);
	if (f->headers)
		curl_easy_setopt(e, CURLOPT_HTTPHEADER, f->headers);
	switch (f->method) {
	case M_GET:
		break;
	case M_HEAD:
		curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
		break;
	default:
		if (f->method != M_POST)
			curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method_names[f->method]);
		if (f->has_body || f->method == M_POST) {
			curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)f->body_len);
			curl_easy_setopt(e, CURLOPT_POSTFIELDS, f->has_body ? (char *)f->body : "");
		}
	}
}

/* The request goes out only once the job is on disk as running: a fetch
 * found "queued" after a crash was never sent. */
static void begin_when_running_is_durable(struct job *job)
{
	struct fetch_job *f = job->data;

	if (!f->stopped)
		fetch_engine_begin(f->d->fetch, &f->xfer);
}

static void started(struct fetch_transfer *t)
{
	struct fetch_job *f = (struct fetch_job *)((char *)t - offsetof(struct fetch_job, xfer));
	/* A daemon shutting down starts nothing new: a kept job begins at
	 * the next start. */
	if (f->d->shutting_down)
		return;
	job_set_running(f->job);
	job_when_durable(f->job, begin_when_running_is_durable);
}

static void attempt_start(struct fetch_job *f)
{
	f->attempt++;
	f->bytes = 0;
	f->buf_len = 0;
	f->total = -1;
	f->too_large = f->denied = false;
	f->errbuf[0] = '\0';
	fetch_engine_add(f->d->fetch, &f->xfer);
}

static void on_retry_timer(evutil_socket_t fd, short what, void *arg)
{
	struct fetch_job *f = arg;
	(void)fd;
	(void)what;

	/* A file starts over from its first byte, once the worker is done
	 * with what the failed attempt left to write. */
	if (f->sink && f->sink->busy)
		f->sink->reset_wanted = true;
	else if (f->sink)
		sink_submit(f->sink, SINK_RESET);
	else
		attempt_start(f);
}

static void schedule_retry(struct fetch_job *f)
{
	curl_off_t after = -1;

	/* "Retry-After: 0" counts too, which CURLINFO_RETRY_AFTER alone
	 * cannot tell from no header at all. */
	struct curl_header *h;
	if (curl_easy_header(f->xfer.easy, "Retry-After", 0, CURLH_HEADER, -1, &h) != CURLHE_OK ||
	    curl_easy_getinfo(f->xfer.easy, CURLINFO_RETRY_AFTER, &after) != CURLE_OK)
		after = -1;
	double wait = fetch_retry_delay(f->attempt, f->backoff, (double)after);
	log_debug("job %" PRIu64 ": attempt %u of %u failed; again in %.3f s", f->job->id,
		  f->attempt, f->attempts, wait);
	if (!f->retry_timer) {
		f->retry_timer = evtimer_new(f->d->base, on_retry_timer, f);
		if (!f->retry_timer)
			xalloc_die();
	}
	struct timeval tv = timeval_from_seconds(wait);
	xevtimer_add(f->retry_timer, &tv);
}

/* ------------------------------------------------------------ results */

static void collect_response(struct fetch_job *f)
{
	CURL *e = f->xfer.easy;
	char *s = NULL;
	curl_off_t t;

	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &f->status);
	free(f->final_url);
	f->final_url = NULL;
	if (curl_easy_getinfo(e, CURLINFO_EFFECTIVE_URL, &s) == CURLE_OK && s)
		f->final_url = xstrdup(s);
	free(f->content_type);
	f->content_type = NULL;
	s = NULL;
	if (curl_easy_getinfo(e, CURLINFO_CONTENT_TYPE, &s) == CURLE_OK && s)
		f->content_type = xstrdup(s);
	if (curl_easy_getinfo(e, CURLINFO_NAMELOOKUP_TIME_T, &t) == CURLE_OK)
		f->t_dns = (double)t / 1e6;
	if (curl_easy_getinfo(e, CURLINFO_CONNECT_TIME_T, &t) == CURLE_OK)
		f->t_connect = (double)t / 1e6;
	if (curl_easy_getinfo(e, CURLINFO_APPCONNECT_TIME_T, &t) == CURLE_OK)
		f->t_tls = (double)t / 1e6;
	if (curl_easy_getinfo(e, CURLINFO_STARTTRANSFER_TIME_T, &t) == CURLE_OK)
		f->t_first_byte = (double)t / 1e6;
	if (curl_easy_getinfo(e, CURLINFO_TOTAL_TIME_T, &t) == CURLE_OK)
		f->t_total = (double)t / 1e6;

	/* The final response's headers, as an object; a repeated header's
	 * values joined with ", " (RFC 9110, 5.3). */
	struct { const char *name; char *value; } seen[MAX_HEADERS];
	size_t n_seen = 0, total = 0;
	struct curl_header *prev = NULL, *hd;
	while ((hd = curl_easy_nextheader(e, CURLH_HEADER, -1, prev)) && n_seen < MAX_HEADERS) {
		prev = hd;
		total += strlen(hd->name) + strlen(hd->value);
		if (total > MAX_RESULT_HEADER_BYTES)
			break;
		size_t i;
		for (i = 0; i < n_seen && strcasecmp(seen[i].name, hd->name) != 0; i++)
			;
		if (i < n_seen) {
			size_t len = strlen(seen[i].value) + strlen(hd->value) + 3;
			char *joined = xmalloc(len);
			snprintf(joined, len, "%s, %s", seen[i].value, hd->value);
			free(seen[i].value);
			seen[i].value = joined;
		} else {
			seen[n_seen].name = hd->name;
			seen[n_seen++].value = xstrdup(hd->value);
		}
	}
	struct jsonw w;
	jsonw_init(&w);
	jsonw_object_begin(&w);
	for (size_t i = 0; i < n_seen; i++) {
		jsonw_key(&w, seen[i].name);
		jsonw_string(&w, seen[i].value);
		free(seen[i].value);
	}
	jsonw_object_end(&w);
	if (w.failed)
		xalloc_die();
	free(f->headers_json);
	f->headers_json = xstrndup(w.buf, w.len);
	jsonw_release(&w);
}

static bool is_json_type(const char *ct)
{
	if (!ct)
		return false;
	size_t n = strcspn(ct, ";");
	while (n > 0 && ct[n - 1] == ' ')
		n--;
	if (n == 16 && !strncasecmp(ct, "application/json", 16))
		return true;
	/* application/problem+json and friends */
	return n > 5 && !strncasecmp(ct + n - 5, "+json", 5);
}

/* Decides what the body becomes and checks it. Runs on the loop for small
 * bodies and on a worker for large ones; touches only `f`'s body fields. */
static void decode_body(struct fetch_job *f)
{
	enum expect ex = f->expect;

	f->decode_error[0] = '\0';
	if (ex == EXPECT_AUTO) {
		if (is_json_type(f->content_type))
			ex = EXPECT_JSON;
		else if (f->buf_len == 0 || utf8_valid(f->buf, f->buf_len))
			ex = EXPECT_TEXT;
		else
			ex = EXPECT_BASE64;
	}
	switch (ex) {
	case EXPECT_JSON: {
		struct json_parser parser;
		const struct json_value *v;
		const char *why;
		json_parser_init(&parser, BODY_JSON_DEPTH);
		int r = json_parse(&parser, f->buf ? (const char *)f->buf : "", f->buf_len, &v, &why);
		if (r == -ENOMEM)
			xalloc_die();
		if (r < 0) {
			snprintf(f->decode_error, sizeof(f->decode_error),
				 "the response (%s) is not valid JSON: %s",
				 f->content_type ? f->content_type : "no content type", why);
		} else {
			/* Compact, one line: it goes inside a reply line. */
			struct jsonw w;
			jsonw_init(&w);
			jsonw_value(&w, v);
			if (w.failed) {
				jsonw_release(&w);
				snprintf(f->decode_error, sizeof(f->decode_error),
					 "the JSON document could not be re-encoded (out of memory)");
			} else {
				f->result = w.buf;
				f->result_len = w.len;
				f->kind = BODY_JSON;
			}
		}
		json_parser_release(&parser);
		break;
	}
	case EXPECT_TEXT:
		if (!utf8_valid(f->buf, f->buf_len)) {
			snprintf(f->decode_error, sizeof(f->decode_error),
				 "the response is not UTF-8 text; ask for expect \"base64\"");
			break;
		}
		/* fallthrough */
	case EXPECT_BASE64:
		f->result = (char *)f->buf;
		f->result_len = f->buf_len;
		f->buf = NULL;
		f->buf_len = f->buf_cap = 0;
		f->kind = ex == EXPECT_TEXT ? BODY_TEXT : BODY_BASE64;
		break;
	case EXPECT_AUTO:
		break;
	}
	if (f->kind != BODY_TEXT && f->kind != BODY_BASE64) {
		free(f->buf);
		f->buf = NULL;
		f->buf_len = f->buf_cap = 0;
	}
}

static void finish_decoded(struct fetch_job *f)
{
	if (f->decode_error[0])
		job_fail(f->job, JOB_ERR_NETWORK, "%s", f->decode_error);
	else
		job_succeed(f->job);
}

static void decode_run(struct work *w)
{
	decode_body((struct fetch_job *)((char *)w - offsetof(struct fetch_job, decode)));
}

static void decode_done(struct work *w)
{
	struct fetch_job *f = (struct fetch_job *)((char *)w - offsetof(struct fetch_job, decode));
	struct job *job = f->job;

	f->decoding = false;
	if (!w->canceled && !f->stopped)
		finish_decoded(f);
	job_unref(job);   /* taken when the work was handed over */
}

/* `url` without its user name, password and login options, for messages
 * that others may read (the log); curl_free() it. NULL when curl cannot
 * parse it or is out of memory. The log masks user information too, but a
 * message cut short inside a long password would escape it. */
static char *url_without_userinfo(const char *url)
{
	CURLU *u = curl_url();
	char *out = NULL;

	if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_set(u, CURLUPART_USER, NULL, 0) == CURLUE_OK &&
	    curl_url_set(u, CURLUPART_PASSWORD, NULL, 0) == CURLUE_OK &&
	    curl_url_set(u, CURLUPART_OPTIONS, NULL, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_URL, &out, 0) != CURLUE_OK)
		out = NULL;
	curl_url_cleanup(u);
	return out;
}

/* With raise_for_status, an error status fails the job; true if it did.
 * Asked as soon as the response is in, before the body is decoded or a
 * save_to file takes its name: a failed job replaces no file. */
static bool failed_on_status(struct fetch_job *f)
{
	if (!f->raise_for_status || f->status < 400)
		return false;
	char *shown = url_without_userinfo(f->final_url ? f->final_url : f->url);
	job_fail(f->job, JOB_ERR_HTTP_STATUS, "HTTP %ld from %s", f->status,
		 shown ? shown : "the server");
	curl_free(shown);
	return true;
}

static void saved_path(const struct fetch_job *f, char *buf, size_t size)
{
	const char *root = write_roots_path(f->roots, f->save.root);
	snprintf(buf, size, "%s/%s", strcmp(root, "/") ? root : "", f->save.rel);
}

static void fetch_fail_io(struct fetch_job *f, int err, const char *doing)
{
	enum job_error code = JOB_ERR_IO;
	const char *why = "";

	if (f->xfer.active || f->xfer.queued)
		fetch_engine_remove(f->d->fetch, &f->xfer);
	if (err == -ELOOP || err == -EXDEV) {
		code = JOB_ERR_FORBIDDEN;
		why = " (the path leads through a symlink or out of the write root)";
	}
	char path[PATH_MAX + 1];
	saved_path(f, path, sizeof(path));
	job_fail(f->job, code, "%s %s: %s (%s)%s", doing, path, strerror(-err), errno_name(err), why);
	sink_orphan(f);
}

/* Whether the attempt got as far as sending its request. Not the connect
 * time: that stays 0 on a connection reused from an earlier fetch. */
static bool request_sent(struct fetch_job *f)
{
	curl_off_t t = 0;
	return curl_easy_getinfo(f->xfer.easy, CURLINFO_PRETRANSFER_TIME_T, &t) == CURLE_OK && t > 0;
}

static void fail_transfer(struct fetch_job *f, CURLcode rc)
{
	const char *detail = f->errbuf[0] ? f->errbuf : curl_easy_strerror(rc);

	if (f->too_large) {
		job_fail(f->job, JOB_ERR_TOO_LARGE, "the response is larger than max_bytes (%" PRIu64 ")",
			 f->max_bytes);
	} else if (f->denied && (rc == CURLE_COULDNT_CONNECT || rc == CURLE_ABORTED_BY_CALLBACK)) {
		job_fail(f->job, JOB_ERR_FORBIDDEN, "connecting to %s is not allowed (deny_networks)",
			 f->denied_addr);
	} else if (rc == CURLE_UNSUPPORTED_PROTOCOL) {
		/* The first URL was checked at submit: this was a redirect. */
		job_fail(f->job, JOB_ERR_FORBIDDEN, "a redirect to a scheme other than http or https "
			 "was refused: %s", detail);
	} else if (rc == CURLE_TOO_MANY_REDIRECTS) {
		job_fail(f->job, JOB_ERR_NETWORK, "more than %zu redirects",
			 f->d->config->limits.fetch_max_redirects);
	} else if (rc == CURLE_OPERATION_TIMEDOUT && request_sent(f)) {
		job_fail(f->job, JOB_ERR_NETWORK, "the transfer stalled (less than %zu bytes/s for "
			 "%g s): %s", f->d->config->limits.fetch_low_speed_bytes,
			 f->d->config->limits.fetch_low_speed_seconds, detail);
	} else if (rc == CURLE_OPERATION_TIMEDOUT) {
		/* No overall curl timeout is set (the job's own timeout is the
		 * daemon's), so before the request this is the connect timeout,
		 * which covers the name lookup and TLS too. */
		job_fail(f->job, JOB_ERR_NETWORK, "could not connect within %g s "
			 "(fetch_connect_timeout): %s", f->d->config->limits.fetch_connect_timeout,
			 detail);
	} else {
		job_fail(f->job, JOB_ERR_NETWORK, "%s", detail);
	}
	sink_orphan(f);
}

static void attempt_finished(struct fetch_transfer *t, CURLcode rc)
{
	struct fetch_job *f = (struct fetch_job *)((char *)t - offsetof(struct fetch_job, xfer));
	long status = 0;

	curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
	bool retry = (rc != CURLE_OK && retryable_curl(rc) && !f->denied && !f->too_large) ||
		     (rc == CURLE_OK && retryable_status(status));
	if (retry && f->attempt < f->attempts) {
		if (f->sink) {
			/* What the failed attempt sent is not worth writing. */
			f->sink->pending_len = 0;
			f->sink->paused = false;
		}
		schedule_retry(f);
		return;
	}
	if (rc != CURLE_OK) {
		fail_transfer(f, rc);
		return;
	}
	collect_response(f);
	if (failed_on_status(f)) {
		sink_orphan(f);   /* removes the temporary file */
		return;
	}
	if (f->sink) {
		f->sink->finishing = true;
		sink_kick(f->sink);
		return;
	}
	/* No body by definition: nothing to decode or check. */
	if (f->method == M_HEAD || f->status == 204 || f->status == 304) {
		job_succeed(f->job);
		return;
	}
	if (f->buf_len > INLINE_DECODE_MAX) {
		f->decoding = true;
		job_ref(f->job);
		f->decode.run = decode_run;
		f->decode.done = decode_done;
		workers_submit(f->d->workers, &f->decode);
		return;
	}
	decode_body(f);
	finish_decoded(f);
}

/* ------------------------------------------------------------ the type */

static void fetch_start(struct job *job)
{
	struct fetch_job *f = job->data;

	f->job = job;
	f->xfer.easy = fetch_engine_easy_take(f->d->fetch);
	if (!f->xfer.easy)
		xalloc_die();
	f->xfer.started = started;
	f->xfer.finished = attempt_finished;
	configure_easy(f);
	if (f->has_save) {
		/* The file first (a worker opens it), then the transfer. */
		f->sink = sink_new(f);
		sink_submit(f->sink, SINK_OPEN);
		return;
	}
	attempt_start(f);
}

static void fetch_stop(struct job *job)
{
	struct fetch_job *f = job->data;

	if (f->xfer.active || f->xfer.queued)
		fetch_engine_remove(f->d->fetch, &f->xfer);
	if (f->retry_timer)
		evtimer_del(f->retry_timer);
	f->stopped = true;
	if (f->decoding && workers_cancel(f->d->workers, &f->decode)) {
		f->decoding = false;
		job_unref(job);
	}
	sink_orphan(f);
}

/* RFC 9110 9.2.2: GET, HEAD, PUT and DELETE mean the same done twice, so a
 * fetch cut off by a restart runs again (a save_to file is only ever
 * replaced whole); POST and PATCH may not. */
static enum job_recovery fetch_recover(const struct job *job, const char **why)
{
	const struct fetch_job *f = job->data;

	if (f->method == M_POST || f->method == M_PATCH) {
		*why = f->method == M_POST
			? "asyncjobd restarted while the POST request ran: it may or may not "
			  "have reached the server, and is not sent twice"
			: "asyncjobd restarted while the PATCH request ran: it may or may not "
			  "have reached the server, and is not sent twice";
		return JOB_INTERRUPTED;
	}
	return JOB_RUN_AGAIN;
}

static void fetch_finished(struct job *job)
{
	struct fetch_job *f = job->data;

	metrics_fetch_done(f->d, f->status, f->bytes, f->attempt > 1 ? f->attempt - 1 : 0);
	/* What the result shows was read from the handle already; it goes
	 * back for the next fetch. A transfer still in curl (none should be)
	 * keeps it until the job is freed. */
	if (f->xfer.easy && !f->xfer.active && !f->xfer.queued) {
		fetch_engine_easy_give(f->d->fetch, f->xfer.easy);
		f->xfer.easy = NULL;
	}
}

static void fetch_write_progress(const struct job *job, struct jsonw *w)
{
	const struct fetch_job *f = job->data;

	jsonw_object_begin(w);
	jsonw_key(w, "bytes");
	jsonw_uint(w, f->bytes);
	if (f->total >= 0) {
		jsonw_key(w, "total");
		jsonw_uint(w, (uint64_t)f->total);
	}
	if (f->attempts > 1) {
		jsonw_key(w, "attempt");
		jsonw_uint(w, f->attempt);
	}
	jsonw_object_end(w);
}

static void write_base64(struct jsonw *w, const unsigned char *data, size_t n)
{
	size_t len = base64_encoded_size(n);
	char *enc = xmalloc(len + 1);
	base64_encode(data, n, enc);
	jsonw_string_len(w, enc, len);
	free(enc);
}

static void fetch_write_result(const struct job *job, struct jsonw *w)
{
	const struct fetch_job *f = job->data;

	jsonw_object_begin(w);
	jsonw_key(w, "status");
	jsonw_int(w, f->status);
	jsonw_key(w, "url");
	jsonw_string(w, f->final_url ? f->final_url : f->url);
	jsonw_key(w, "headers");
	if (f->headers_json)
		jsonw_raw_value(w, f->headers_json, strlen(f->headers_json));
	else
		jsonw_raw_value(w, "{}", 2);
	jsonw_key(w, "content_type");
	if (f->content_type)
		jsonw_string(w, f->content_type);
	else
		jsonw_null(w);
	jsonw_key(w, "bytes");
	jsonw_uint(w, f->bytes);
	switch (f->kind) {
	case BODY_JSON:
		jsonw_key(w, "json");
		jsonw_raw_value(w, f->result, f->result_len);
		break;
	case BODY_TEXT:
		jsonw_key(w, "text");
		jsonw_string_len(w, f->result ? f->result : "", f->result_len);
		break;
	case BODY_BASE64:
		jsonw_key(w, "body_base64");
		write_base64(w, (const unsigned char *)f->result, f->result_len);
		break;
	case BODY_SAVED: {
		char path[PATH_MAX + 1];
		saved_path(f, path, sizeof(path));
		jsonw_key(w, "saved_to");
		jsonw_string(w, path);
		break;
	}
	case BODY_NONE:
		break;
	}
	if (f->has_retry) {
		jsonw_key(w, "attempts");
		jsonw_uint(w, f->attempt);
	}
	jsonw_key(w, "time");
	jsonw_object_begin(w);
	jsonw_key(w, "dns");
	jsonw_micros(w, f->t_dns);
	jsonw_key(w, "connect");
	jsonw_micros(w, f->t_connect);
	jsonw_key(w, "tls");
	jsonw_micros(w, f->t_tls);
	jsonw_key(w, "first_byte");
	jsonw_micros(w, f->t_first_byte);
	jsonw_key(w, "total");
	jsonw_micros(w, f->t_total);
	jsonw_object_end(w);
	jsonw_object_end(w);
}

/* The method and URL for a log line, with what may be a client's secret
 * taken out here, whole, before any cut for length: the user information
 * (user:password@) and the query and fragment. */
static void fetch_describe_target(const struct job *job, char *buf, size_t size)
{
	const struct fetch_job *f = job->data;
	const char *url = f->url, *scheme_end = strstr(url, "://");

	if (!scheme_end) {
		snprintf(buf, size, "%s (a URL without a scheme)", method_names[f->method]);
		return;
	}
	const char *host = scheme_end + 3;
	size_t authority = strcspn(host, "/?#");
	const char *at = NULL;
	for (const char *p = host; p < host + authority; p++)
		if (*p == '@')
			at = p;
	const char *rest = at ? at + 1 : host;
	size_t kept = strcspn(rest, "?#");
	snprintf(buf, size, "%s %.*s%s%.*s%s", method_names[f->method], (int)(host - url), url,
		 at ? "***@" : "", (int)kept, rest, rest[kept] ? "?***" : "");
}

static size_t fetch_result_size(const struct job *job)
{
	const struct fetch_job *f = job->data;
	return f->result_len + (f->headers_json ? strlen(f->headers_json) : 0);
}

static void fetch_free(void *data)
{
	struct fetch_job *f = data;

	if (!f)
		return;
	if (f->sink)
		sink_orphan(f);
	if (f->retry_timer)
		event_free(f->retry_timer);
	if (f->xfer.easy)
		curl_easy_cleanup(f->xfer.easy);
	free(f->xfer.host);
	curl_slist_free_all(f->headers);
	free(f->url);
	free(f->body);
	free(f->buf);
	free(f->final_url);
	free(f->content_type);
	free(f->headers_json);
	free(f->result);
	confined_path_release(&f->save);
	write_roots_unref(f->roots);
	identity_unref(f->requester);
	free(f);
}

const struct job_type job_type_fetch = {
	.name = "fetch",
	.starts_when_durable = true,
	.recover = fetch_recover,
	.abandon = fetch_abandon,
	.fields = fetch_fields,
	.parse = fetch_parse,
	.start = fetch_start,
	.stop = fetch_stop,
	.finished = fetch_finished,
	.write_result = fetch_write_result,
	.write_progress = fetch_write_progress,
	.result_size = fetch_result_size,
	.describe_target = fetch_describe_target,
	.free_data = fetch_free,
};
