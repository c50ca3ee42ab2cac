/* Helpers shared by the asyncjob commands: connecting, errors, option and
 * argument parsing, Ctrl-C, foreground waiting, progress. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "client/cli/cli.h"
#include "proto/base64.h"
#include "proto/jsonw.h"

volatile sig_atomic_t cli_interrupted;

__attribute__((format(printf, 2, 0)))
static void verror(const struct cli *cli, const char *fmt, va_list ap)
{
	char msg[1024];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	/* One line, always. */
	for (char *p = msg; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	if (cli && cli->command)
		fprintf(stderr, "asyncjob: %s: %s\n", cli->command, msg);
	else
		fprintf(stderr, "asyncjob: %s\n", msg);
}

void cli_error(const struct cli *cli, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	verror(cli, fmt, ap);
	va_end(ap);
}

int cli_usage_error(const struct cli *cli, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	verror(cli, fmt, ap);
	va_end(ap);
	fprintf(stderr, "Try 'asyncjob %s --help' for more information.\n",
		cli && cli->command ? cli->command : "");
	return EXIT_USAGE;
}

/* "job 41", "jobs 41, 42 and 43", "jobs 41, 42, 43 and 97 more". */
static void describe_jobs(const uint64_t *ids, size_t n, char *buf, size_t size)
{
	/* A gather that lost its connection before it knew its jobs' ids. */
	if (n == 0) {
		snprintf(buf, size, "the gather's jobs");
		return;
	}
	size_t len = (size_t)snprintf(buf, size, "job%s", n == 1 ? "" : "s");
	for (size_t i = 0; i < n && i < 3 && len < size; i++) {
		const char *sep = i == 0 ? " " : i + 1 == n ? " and " : ", ";
		len += (size_t)snprintf(buf + len, size - len, "%s%llu", sep, (unsigned long long)ids[i]);
	}
	if (n > 3 && len < size)
		snprintf(buf + len, size - len, " and %zu more", n - 3);
}

static void on_reconnect(asyncjob *aj, asyncjob_reconnect_event what, const uint64_t *ids,
			 size_t n, void *userdata)
{
	struct cli *cli = userdata;
	char jobs[96];

	/* The first time names them all; a later one (a fail_fast gather
	 * still going) names those left; a gather that lost its connection
	 * names them once connected again. Ctrl-C cancels all of them. */
	if (n > cli->n_followed) {
		uint64_t *copy = malloc(n * sizeof(*copy));
		if (copy) {
			memcpy(copy, ids, n * sizeof(*copy));
			free(cli->followed);
			cli->followed = copy;
			cli->n_followed = n;
		}
	}
	if (what == ASYNCJOB_RECONNECTED) {
		/* The new connection has no subscription: the progress bar
		 * goes on only if asked for again (best effort, as at first). */
		if (cli->progress_id) {
			char params[64];
			snprintf(params, sizeof(params), "{\"ids\":[%llu]}",
				 (unsigned long long)cli->progress_id);
			(void)asyncjob_send_call(aj, "events.subscribe", params, NULL, NULL);
		}
		return;
	}
	cli->went_away = true;
	/* A note for a person watching; a script just sees the command take
	 * longer. */
	if (cli->quiet || !isatty(STDERR_FILENO))
		return;
	describe_jobs(ids, n, jobs, sizeof(jobs));
	cli_progress_clear();   /* a progress line may be drawn */
	fprintf(stderr, "asyncjob: %s; waiting for it to come back (%s)...\n",
		what == ASYNCJOB_DAEMON_RESTARTING ? "asyncjobd is restarting"
						   : "lost the connection to asyncjobd",
		jobs);
}

/* $ASYNCJOB_RECONNECT_TIMEOUT, or the default. False after printing why
 * it cannot be read. */
static bool reconnect_seconds(const struct cli *cli, double *ret)
{
	const char *env = getenv(CLI_RECONNECT_ENV);
	char *end;

	*ret = CLI_RECONNECT_SECONDS;
	if (!env || !*env)
		return true;
	errno = 0;
	double v = strtod(env, &end);
	if (errno || end == env || *end || !isfinite(v) || v < 0 || isspace((unsigned char)*env)) {
		cli_error(cli, "%s=%s: expected a number of seconds (0: do not wait for a "
			  "restarting asyncjobd)", CLI_RECONNECT_ENV, env);
		return false;
	}
	*ret = v;
	return true;
}

int cli_connect(struct cli *cli)
{
	double reconnect;
	int r;

	if (cli->aj)
		return 0;
	if (!reconnect_seconds(cli, &reconnect))
		return EXIT_USAGE;
	r = asyncjob_new(&cli->aj);
	if (r < 0) {
		cli_error(cli, "%s", strerror(-r));
		return EXIT_UNREACHABLE;
	}
	r = asyncjob_connect(cli->aj, cli->socket);
	if (r < 0) {
		fprintf(stderr, "asyncjob: %s; is asyncjobd running? Start it with 'asyncjobd' "
			"(or 'systemctl start asyncjobd.socket'), or name its socket with -s or "
			"ASYNCJOB_SOCKET\n", asyncjob_errmsg(cli->aj));
		return EXIT_UNREACHABLE;
	}
	/* Waits for jobs go on across a restart of the daemon. */
	if (asyncjob_set_reconnect(cli->aj, reconnect, on_reconnect, cli) < 0) {
		cli_error(cli, "%s", asyncjob_errmsg(cli->aj));
		return EXIT_USAGE;
	}
	return 0;
}

/* The spec field the daemon named, as the user typed it: the option or
 * argument of the command (a raw spec's field stays as it is). */
static const char *typed_name(const struct cli *cli, const char *field)
{
	static const struct { const char *field, *typed; } names[] = {
		{ "seconds", "SECONDS" }, { "message", "MESSAGE" }, { "timeout", "--timeout" },
		{ "label", "--label" }, { "key", "--key" }, { "url", "URL" },
		{ "method", "-X" }, { "headers", "-H" }, { "body", "-d" }, { "body_base64", "-d" },
		{ "save_to", "-o" }, { "max_bytes", "--max-bytes" }, { "raise_for_status", "--fail" },
		{ "path", "PATH" }, { "content", "TEXT" }, { "content_base64", "TEXT" },
		{ "upload", "stdin" }, { "perm", "--perm" }, { "fsync", "--no-fsync" },
	};

	if (cli->command && strcmp(cli->command, "submit") == 0)
		return field;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(names[i].field, field) == 0)
			return names[i].typed;
	return field;
}

/* A refusal that names a field (-32602, -32003) said in the CLI's words:
 * "SECONDS: must be a number from 0 to 2592000", "job 2: -o: ...". False
 * when the error names no field. */
static bool explain_field_error(const struct cli *cli)
{
	const char *data = asyncjob_rpc_error_data(cli->aj);
	struct json_object *o = data ? json_tokener_parse(data) : NULL, *f, *why;
	bool said = false;

	if (o && json_object_object_get_ex(o, "field", &f) &&
	    json_object_object_get_ex(o, "reason", &why) && json_object_get_string_len(f) > 0) {
		const char *field = json_object_get_string(f);
		char prefix[48] = "";
		unsigned long index;
		int used = 0;
		/* A gather's item: "jobs[1].seconds" is the second job's SECONDS. */
		if (sscanf(field, "jobs[%lu].%n", &index, &used) == 1 && used > 0) {
			snprintf(prefix, sizeof(prefix), "job %lu: ", index + 1);
			field += used;
		}
		cli_error(cli, "%s%s: %s", prefix, typed_name(cli, field),
			  json_object_get_string(why));
		said = true;
	}
	json_object_put(o);
	return said;
}

int cli_fail(struct cli *cli, int r, const char *what)
{
	const char *msg = cli->aj ? asyncjob_errmsg(cli->aj) : strerror(-r);

	switch (r) {
	case -EREMOTEIO:
		/* A bad argument is the user's typing, whichever side finds
		 * it: exit 2, in the CLI's words. A refusal (-32003) is the
		 * daemon's rule: exit 4, in the same words. */
		switch (asyncjob_rpc_error_code(cli->aj)) {
		case -32602:
			if (explain_field_error(cli))
				return EXIT_USAGE;
			break;
		case -32003:
			if (explain_field_error(cli))
				return EXIT_RPC_ERROR;
			break;
		}
		cli_error(cli, "%s", msg);
		/* The daemon came back without the job: it was lost with the
		 * daemon, as when the connection is lost. */
		if (cli->went_away && asyncjob_rpc_error_code(cli->aj) == ASYNCJOB_RPC_JOB_NOT_FOUND)
			return EXIT_UNREACHABLE;
		return EXIT_RPC_ERROR;
	case -ETIMEDOUT:
		if (cli->went_away) {
			char jobs[96];
			describe_jobs(cli->followed, cli->n_followed, jobs, sizeof(jobs));
			cli_error(cli, "gave up waiting for %s: %s", jobs, msg);
			return EXIT_UNREACHABLE;
		}
		cli_error(cli, "%s: %s", what, msg);
		return EXIT_RPC_ERROR;
	case -EINTR:
		return EXIT_INTERRUPTED;
	case -ECONNRESET:
	case -EPIPE:
	case -ENOTCONN:
		cli_error(cli, "lost the connection to asyncjobd at %s: %s",
			  cli->aj ? asyncjob_socket_path(cli->aj) : "?", msg);
		return EXIT_UNREACHABLE;
	default:
		cli_error(cli, "%s: %s", what, msg && *msg ? msg : strerror(-r));
		return EXIT_RPC_ERROR;
	}
}

int cli_getopt(struct cli *cli, int argc, char **argv, const char *extra_short,
	       const struct option *extra_long, const struct cli_command *cmd)
{
	static const struct option globals[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 0x101 },
		{ "detach", no_argument, NULL, 0x102 },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
	};
	struct option all[32];
	char shorts[64];
	size_t n = 0;

	for (size_t i = 0; i < sizeof(globals) / sizeof(globals[0]); i++)
		all[n++] = globals[i];
	for (const struct option *o = extra_long; o && o->name && n < 31; o++)
		all[n++] = *o;
	all[n] = (struct option){ 0 };
	snprintf(shorts, sizeof(shorts), ":s:qh%s", extra_short ? extra_short : "");

	/* Report option errors ourselves, as "asyncjob: COMMAND: ...". */
	opterr = 0;
	for (;;) {
		int opt = getopt_long(argc, argv, shorts, all, NULL);
		switch (opt) {
		case 's': cli->socket = optarg; continue;
		case 0x101: cli->json = true; continue;
		case 0x102: cli->detach = true; continue;
		case 'q': cli->quiet = true; continue;
		case 'h':
			printf("Usage: asyncjob %s %s\n%s\n%s", cmd->name, cmd->args, cmd->summary,
			       cmd->help);
			exit(EXIT_OK);
		case ':':
			cli_usage_error(cli, "option '%s' needs a value", argv[optind - 1]);
			return '?';
		case '?':
			/* "-1" reads as an option to getopt; to the user it is a
			 * number that may not be negative. */
			if (optopt >= '0' && optopt <= '9') {
				/* getopt has moved past "-1", not yet past "-1.5". */
				const char *arg = optind < argc && argv[optind][0] == '-' &&
							  argv[optind][1] == optopt
						  ? argv[optind] : argv[optind - 1];
				cli_usage_error(cli, "'%s' is a negative number: not allowed here", arg);
			} else if (optopt)
				cli_usage_error(cli, "unknown option '-%c'", optopt);
			else
				cli_usage_error(cli, "unknown option '%s'", argv[optind - 1]);
			return '?';
		default:
			return opt;
		}
	}
}

bool cli_parse_seconds(const struct cli *cli, const char *s, const char *what, double *ret)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(v) || v < 0 || isspace((unsigned char)*s)) {
		cli_usage_error(cli, "%s: '%s' is not a number of seconds", what, s);
		return false;
	}
	*ret = v;
	return true;
}

bool cli_parse_id(const struct cli *cli, const char *s, uint64_t *ret)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *end || !isdigit((unsigned char)*s) || v == 0) {
		cli_usage_error(cli, "'%s' is not a job id", s);
		return false;
	}
	*ret = v;
	return true;
}

bool cli_parse_count(const struct cli *cli, const char *s, const char *what, size_t *ret)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *end || !isdigit((unsigned char)*s)) {
		cli_usage_error(cli, "%s: '%s' is not a whole number", what, s);
		return false;
	}
	*ret = (size_t)v;
	return true;
}

int cli_spec_set_bytes(asyncjob_spec *spec, const char *text_field, const char *base64_field,
		       const char *data, size_t len)
{
	char *copy, *enc;
	int r;

	/* Text as text (UTF-8, no NUL), anything else as base64. */
	if (!memchr(data, 0, len) && utf8_valid((const unsigned char *)data, len)) {
		if (!(copy = strndup(data, len)))
			return -ENOMEM;
		r = asyncjob_spec_set_string(spec, text_field, copy);
		free(copy);
		return r < 0 ? r : 0;
	}
	if (!(enc = malloc(base64_encoded_size(len) + 1)))
		return -ENOMEM;
	enc[base64_encode((const unsigned char *)data, len, enc)] = '\0';
	r = asyncjob_spec_set_string(spec, base64_field, enc);
	free(enc);
	return r < 0 ? r : 0;
}

bool cli_parse_size(const struct cli *cli, const char *s, const char *what, size_t *ret)
{
	static const struct { const char *suffix; unsigned shift; } units[] = {
		{ "", 0 }, { "B", 0 }, { "K", 10 }, { "KiB", 10 }, { "k", 10 }, { "M", 20 },
		{ "MiB", 20 }, { "G", 30 }, { "GiB", 30 }, { "T", 40 }, { "TiB", 40 },
	};
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || !isdigit((unsigned char)*s))
		goto bad;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(end, units[i].suffix) != 0)
			continue;
		if (units[i].shift && v > (SIZE_MAX >> units[i].shift))
			goto bad;
		*ret = (size_t)(v << units[i].shift);
		return true;
	}
bad:
	cli_usage_error(cli, "%s: '%s' is not a size (a whole number of bytes, or with K, M "
			"or G: 64K, 16M, 1G)", what, s);
	return false;
}

/* The options a job's word form takes after its kind ("fetch --fail URL",
 * "write -a PATH TEXT", "sleep -l tea 1 ready"), as its command does. */
struct word_options {
	struct cli_controls controls;
	bool fail, append, create, mkdirs, no_fsync;
	const char *method, *output, *max_bytes, *perm;
};

static char *next_word(char **p)
{
	while (isspace((unsigned char)**p))
		(*p)++;
	if (!**p)
		return NULL;
	char *w = *p;
	while (**p && !isspace((unsigned char)**p))
		(*p)++;
	if (**p)
		*(*p)++ = '\0';
	return w;
}

/* Takes the options at *p (a copy of the words, cut where they end);
 * *p then points at the job's arguments. False after a usage error. */
static bool take_word_options(const struct cli *cli, const char *kind, char **p,
			      struct word_options *o, const char *where, const char *sep)
{
	bool fetch = strcmp(kind, "fetch") == 0, write = strcmp(kind, "write") == 0;

	for (;;) {
		while (isspace((unsigned char)**p))
			(*p)++;
		/* "-" and a number are arguments, not options. */
		if ((*p)[0] != '-' || !(*p)[1] || isdigit((unsigned char)(*p)[1]) || (*p)[1] == '.')
			return true;
		char *opt = next_word(p);
		if (strcmp(opt, "--") == 0)
			return true;
		static const char *const with_value[] = {
			"-l", "--label", "-t", "--timeout", "-k", "--key", "--at", "--in",
			"-X", "--request", "-o", "--output", "--max-bytes", "--perm", NULL,
		};
		const char *value = NULL;
		for (size_t i = 0; with_value[i]; i++) {
			if (strcmp(opt, with_value[i]) != 0)
				continue;
			if (!(value = next_word(p))) {
				cli_usage_error(cli, "%s%s%s needs a value", where, sep, opt);
				return false;
			}
		}
		struct cli_controls *c = &o->controls;
		if (!strcmp(opt, "-l") || !strcmp(opt, "--label"))
			c->label = value;
		else if (!strcmp(opt, "-t") || !strcmp(opt, "--timeout"))
			c->timeout = value;
		else if (!strcmp(opt, "-k") || !strcmp(opt, "--key"))
			c->key = value;
		else if (!strcmp(opt, "--at"))
			c->at = value;
		else if (!strcmp(opt, "--in"))
			c->in = value;
		else if (fetch && !strcmp(opt, "--fail"))
			o->fail = true;
		else if (fetch && (!strcmp(opt, "-X") || !strcmp(opt, "--request")))
			o->method = value;
		else if (fetch && (!strcmp(opt, "-o") || !strcmp(opt, "--output")))
			o->output = value;
		else if (fetch && !strcmp(opt, "--max-bytes"))
			o->max_bytes = value;
		else if ((fetch || write) && !strcmp(opt, "--no-fsync"))
			o->no_fsync = true;
		else if (write && (!strcmp(opt, "-a") || !strcmp(opt, "--append")))
			o->append = true;
		else if (write && (!strcmp(opt, "-c") || !strcmp(opt, "--create")))
			o->create = true;
		else if (write && (!strcmp(opt, "-p") || !strcmp(opt, "--mkdirs")))
			o->mkdirs = true;
		else if (write && !strcmp(opt, "--perm"))
			o->perm = value;
		else {
			cli_usage_error(cli, "%s%s%s: not an option of a %s job here (these take: -l, "
					"-t, -k, --at, --in%s)", where, sep, opt, kind,
					fetch ? ", --fail, -X, -o, --max-bytes, --no-fsync"
					: write ? ", -a, -c, -p, --perm, --no-fsync" : "");
			return false;
		}
	}
}

/* Sets the options taken on the spec made from the words. False after a
 * usage error. */
static bool apply_word_options(const struct cli *cli, asyncjob_spec *spec,
			       const struct word_options *o)
{
	size_t max_bytes;

	if (cli_apply_controls(cli, spec, &o->controls) != 0)
		return false;
	if (o->fail)
		asyncjob_spec_set_bool(spec, "raise_for_status", true);
	if (o->method)
		asyncjob_spec_set_string(spec, "method", o->method);
	if (o->output) {
		char abs[PATH_MAX];
		if (cli_absolute_path(o->output, abs, sizeof(abs)) < 0) {
			cli_usage_error(cli, "-o %s: path too long", o->output);
			return false;
		}
		asyncjob_spec_set_string(spec, "save_to", abs);
	}
	if (o->max_bytes) {
		if (!cli_parse_size(cli, o->max_bytes, "--max-bytes", &max_bytes))
			return false;
		asyncjob_spec_set_number(spec, "max_bytes", (double)max_bytes);
	}
	if (o->append && o->create) {
		cli_usage_error(cli, "--append and --create: give one of them");
		return false;
	}
	if (o->append || o->create)
		asyncjob_spec_set_string(spec, "mode", o->append ? "append" : "create");
	if (o->mkdirs)
		asyncjob_spec_set_bool(spec, "mkdirs", true);
	if (o->no_fsync)
		asyncjob_spec_set_bool(spec, "fsync", false);
	if (o->perm)
		asyncjob_spec_set_string(spec, "perm", o->perm);
	return true;
}

static asyncjob_spec *spec_from_words(const struct cli *cli, const char *text, char *p,
				      const char *where, struct word_options *o);

asyncjob_spec *cli_spec_from_words(const struct cli *cli, const char *text, const char *where)
{
	struct word_options o = { 0 };
	/* The options' values point into the copy until they are applied. */
	char *copy = strdup(text);
	asyncjob_spec *spec = NULL;

	if (!copy) {
		cli_error(cli, "out of memory");
		return NULL;
	}
	spec = spec_from_words(cli, text, copy, where, &o);
	if (spec && !apply_word_options(cli, spec, &o))
		spec = asyncjob_spec_free(spec);
	free(copy);
	return spec;
}

static asyncjob_spec *spec_from_words(const struct cli *cli, const char *text, char *p,
				      const char *where, struct word_options *o)
{
	asyncjob_spec *spec = NULL;
	const char *sep = where ? ": " : "";
	char kind[32], seconds[64];
	size_t n;

	if (!where)
		where = "";
	while (isspace((unsigned char)*p))
		p++;
	if (*p == '{') {
		if (asyncjob_spec_from_json(p, &spec) < 0)
			cli_usage_error(cli, "%s%snot a JSON object: %s", where, sep, text);
		return spec;
	}
	for (n = 0; *p && !isspace((unsigned char)*p) && n < sizeof(kind) - 1; p++)
		kind[n++] = *p;
	kind[n] = '\0';
	if (!take_word_options(cli, kind, &p, o, where, sep))
		return NULL;
	if (strcmp(kind, "fetch") == 0) {
		while (isspace((unsigned char)*p))
			p++;
		const char *url = p;
		size_t ulen = strcspn(url, " \t");
		if (ulen == 0 || url[ulen + strspn(url + ulen, " \t")] != '\0') {
			cli_usage_error(cli, "%s%sthe job '%s' needs exactly one URL after 'fetch'",
					where, sep, text);
			return NULL;
		}
		char *u = strndup(url, ulen);
		if (!u || asyncjob_spec_fetch(u, &spec) < 0)
			cli_error(cli, "out of memory");
		free(u);
		return spec;
	}
	if (strcmp(kind, "write") == 0) {
		/* write PATH TEXT: TEXT is the rest of the words. */
		char path[PATH_MAX], abs[PATH_MAX];
		while (isspace((unsigned char)*p))
			p++;
		size_t plen = strcspn(p, " \t");
		if (plen == 0 || plen >= sizeof(path)) {
			cli_usage_error(cli, "%s%sthe job '%s' needs a path after 'write'", where, sep, text);
			return NULL;
		}
		memcpy(path, p, plen);
		path[plen] = '\0';
		p += plen;
		while (isspace((unsigned char)*p))
			p++;
		if (cli_absolute_path(path, abs, sizeof(abs)) < 0) {
			cli_usage_error(cli, "%s%s%s: path too long", where, sep, path);
			return NULL;
		}
		if (asyncjob_spec_write(abs, p, strlen(p), &spec) < 0)
			cli_error(cli, "out of memory");
		return spec;
	}
	if (strcmp(kind, "sleep") != 0) {
		cli_usage_error(cli, "%s%scannot read the job '%s': write 'sleep SECONDS [MESSAGE]', "
				"'fetch URL', 'write PATH TEXT' or a JSON spec such as "
				"'{\"type\":\"sleep\",\"seconds\":1}'", where, sep, text);
		return NULL;
	}
	while (isspace((unsigned char)*p))
		p++;
	for (n = 0; *p && !isspace((unsigned char)*p) && n < sizeof(seconds) - 1; p++)
		seconds[n++] = *p;
	seconds[n] = '\0';
	double secs;
	char *end;
	errno = 0;
	secs = strtod(seconds, &end);
	if (n == 0 || errno || *end || !isfinite(secs) || secs < 0) {
		cli_usage_error(cli, "%s%sthe job '%s' needs a number of seconds after 'sleep'",
				where, sep, text);
		return NULL;
	}
	while (isspace((unsigned char)*p))
		p++;
	if (asyncjob_spec_sleep(secs, *p ? p : NULL, &spec) < 0)
		cli_error(cli, "out of memory");
	return spec;
}

static void on_interrupt(int sig)
{
	(void)sig;
	cli_interrupted = 1;
}

void cli_catch_interrupts(void)
{
	struct sigaction sa = { .sa_handler = on_interrupt };
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: a blocking call must return -EINTR. */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

void cli_cancel_jobs(struct cli *cli, const uint64_t *ids, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		asyncjob_job *job = NULL;
		int r = asyncjob_cancel(cli->aj, ids[i], &job);
		/* Interrupted while the daemon was away: it may be back. */
		if ((r == -ENOTCONN || r == -ECONNRESET || r == -EPIPE) &&
		    asyncjob_reconnect(cli->aj) == 0)
			r = asyncjob_cancel(cli->aj, ids[i], &job);
		asyncjob_job_unref(job);
		if (r == 0) {
			if (!cli->quiet)
				fprintf(stderr, "asyncjob: interrupted: job %llu canceled\n",
					(unsigned long long)ids[i]);
		} else if (cli->went_away && !(r == -EREMOTEIO && asyncjob_rpc_error_code(cli->aj) ==
								       ASYNCJOB_RPC_JOB_FINISHED)) {
			/* Not tied to a connection any more: it goes on. */
			cli_error(cli, "interrupted: job %llu is not canceled (%s); cancel it with "
				  "'asyncjob cancel %llu' once asyncjobd is back",
				  (unsigned long long)ids[i], asyncjob_errmsg(cli->aj),
				  (unsigned long long)ids[i]);
		}
	}
}

int cli_wait_foreground(struct cli *cli, const uint64_t *ids, size_t n, asyncjob_job ***ret_jobs)
{
	asyncjob_job **jobs = NULL;
	bool timed_out;
	int r;

	cli_catch_interrupts();
	r = asyncjob_wait(cli->aj, ids, n, false, -1, &jobs, &timed_out);
	if (r == -EINTR || cli_interrupted) {
		asyncjob_jobs_free(jobs);
		cli_cancel_jobs(cli, ids, n);
		return EXIT_INTERRUPTED;
	}
	if (r < 0)
		return cli_fail(cli, r, "waiting for the job");
	*ret_jobs = jobs;
	return EXIT_OK;
}

bool cli_progress_enabled(const struct cli *cli)
{
	return !cli->quiet && !cli->json && isatty(STDERR_FILENO);
}

void cli_progress_show(const char *what, uint64_t done, uint64_t total)
{
	fprintf(stderr, "\r\033[K%s: %llu/%llu done", what, (unsigned long long)done,
		(unsigned long long)total);
	fflush(stderr);
}

void cli_progress_clear(void)
{
	fputs("\r\033[K", stderr);
	fflush(stderr);
}

int cli_submit_and_follow(struct cli *cli, asyncjob_spec *spec)
{
	asyncjob_job *job = NULL, **done = NULL;
	int r, code;

	if ((code = cli_connect(cli)) != 0)
		return code;
	/* Foreground jobs die with the command: if it is killed, the daemon
	 * cancels them when the connection drops. */
	r = asyncjob_submit(cli->aj, spec, cli->detach ? 0 : ASYNCJOB_CANCEL_ON_DISCONNECT, &job);
	if (r < 0)
		return cli_fail(cli, r, "submitting the job");
	if (cli->detach) {
		if (cli->json)
			cli_print_job_json(job);
		else
			printf("%llu\n", (unsigned long long)asyncjob_job_id(job));
		asyncjob_job_unref(job);
		return EXIT_OK;
	}
	uint64_t id = asyncjob_job_id(job);
	asyncjob_job_unref(job);
	code = cli_wait_foreground(cli, &id, 1, &done);
	if (code != EXIT_OK)
		return code;
	cli_print_job_output(cli, done[0]);
	code = cli_job_exit_code(done[0]);
	asyncjob_jobs_free(done);
	return code;
}

bool cli_controls_take(struct cli_controls *c, int opt, const char *arg)
{
	switch (opt) {
	case 'l': c->label = arg; return true;
	case 't': c->timeout = arg; return true;
	case 'k': c->key = arg; return true;
	case 0x201: c->at = arg; return true;
	case 0x202: c->in = arg; return true;
	default: return false;
	}
}

/* --in: "90s", "15m", "2h", "1d", "1h30m", or plain seconds. */
static bool parse_duration(const char *s, double *ret)
{
	double total = 0;
	const char *p = s;

	if (!*s)
		return false;
	while (*p) {
		char *end;
		errno = 0;
		double v = strtod(p, &end);
		if (end == p || errno || v < 0 || !isfinite(v))
			return false;
		switch (*end) {
		case '\0': total += v; p = end; break;
		case 's': total += v; p = end + 1; break;
		case 'm': total += v * 60; p = end + 1; break;
		case 'h': total += v * 3600; p = end + 1; break;
		case 'd': total += v * 86400; p = end + 1; break;
		default: return false;
		}
	}
	*ret = total;
	return true;
}

/* --at: RFC 3339 as it is; "YYYY-MM-DD HH:MM[:SS]" (or with a T) and
 * "HH:MM[:SS]" in local time, the latter today or, once past, tomorrow
 * (as at(1) takes it). The UTC RFC 3339 text in buf. */
static bool parse_at(const char *s, char *buf, size_t size)
{
	struct tm tm = { 0 };
	int n = 0;
	size_t len = strlen(s);

	/* A zone given: the daemon reads it. */
	if (len > 19 && s[10] == 'T' && (s[len - 1] == 'Z' || s[len - 6] == '+' || s[len - 6] == '-')) {
		snprintf(buf, size, "%s", s);
		return true;
	}
	time_t now = time(NULL);
	if (sscanf(s, "%4d-%2d-%2d%*1[ T]%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
		   &tm.tm_hour, &tm.tm_min, &n) == 5) {
		tm.tm_year -= 1900;
		tm.tm_mon -= 1;
	} else if (sscanf(s, "%2d:%2d%n", &tm.tm_hour, &tm.tm_min, &n) == 2) {
		struct tm today;
		localtime_r(&now, &today);
		tm.tm_year = today.tm_year;
		tm.tm_mon = today.tm_mon;
		tm.tm_mday = today.tm_mday;
	} else {
		return false;
	}
	if (s[n] == ':') {
		int used = 0;
		if (sscanf(s + n + 1, "%2d%n", &tm.tm_sec, &used) != 1)
			return false;
		n += 1 + used;
	}
	if (s[n] || tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 59)
		return false;
	tm.tm_isdst = -1;
	time_t t = mktime(&tm);
	if (t == (time_t)-1)
		return false;
	if (len <= 8 && t <= now) {
		tm.tm_mday++;
		tm.tm_isdst = -1;
		t = mktime(&tm);
	}
	struct tm utc;
	gmtime_r(&t, &utc);
	strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &utc);
	return true;
}

int cli_apply_controls(const struct cli *cli, asyncjob_spec *spec, const struct cli_controls *c)
{
	double t;

	if (c->label && asyncjob_spec_set_label(spec, c->label) < 0)
		return EXIT_USAGE;
	if (c->timeout) {
		if (!cli_parse_seconds(cli, c->timeout, "--timeout", &t))
			return EXIT_USAGE;
		asyncjob_spec_set_timeout(spec, t);
	}
	if (c->key && asyncjob_spec_set_key(spec, c->key) < 0)
		return EXIT_USAGE;
	if (c->at && c->in)
		return cli_usage_error(cli, "--at and --in: give one of them");
	if (c->at) {
		char when[64];
		if (!parse_at(c->at, when, sizeof(when)))
			return cli_usage_error(cli, "--at %s: expected a time such as 14:30, "
					       "'2026-12-24 18:00' or 2026-12-24T18:00:00Z", c->at);
		asyncjob_spec_set_string(spec, "not_before", when);
	}
	if (c->in) {
		double delay;
		if (!parse_duration(c->in, &delay))
			return cli_usage_error(cli, "--in %s: expected a duration such as 90s, 15m, "
					       "2h or 1h30m", c->in);
		asyncjob_spec_set_number(spec, "delay", delay);
	}
	return 0;
}
