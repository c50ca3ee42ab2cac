/* asyncjob fetch: the seed's aiohttp example through the daemon, with the
 * options people know from curl. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "client/cli/cli.h"

struct progress {
	uint64_t id;
	bool shown;
};

static void format_size(double bytes, char *buf, size_t size)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	int u = 0;
	while (bytes >= 1024 && u < 4) {
		bytes /= 1024;
		u++;
	}
	snprintf(buf, size, u ? "%.1f %s" : "%.0f %s", bytes, units[u]);
}

/* Draws "[=====>      ]  42%  12.0 MiB / 28.5 MiB" from job.progress. */
static void on_event(asyncjob *aj, const asyncjob_event *ev, void *userdata)
{
	struct progress *pr = userdata;
	struct json_object *params, *v, *prog;
	(void)aj;

	if (strcmp(asyncjob_event_method(ev), "job.progress") != 0)
		return;
	params = json_tokener_parse(asyncjob_event_params_json(ev));
	if (!json_object_object_get_ex(params, "id", &v) || json_object_get_uint64(v) != pr->id ||
	    !json_object_object_get_ex(params, "progress", &prog)) {
		json_object_put(params);
		return;
	}
	double bytes = json_object_object_get_ex(prog, "bytes", &v) ? json_object_get_double(v) : 0;
	double total = json_object_object_get_ex(prog, "total", &v) ? json_object_get_double(v) : 0;
	json_object_put(params);

	char have[32], all[32];
	format_size(bytes, have, sizeof(have));
	if (total > 0) {
		char bar[31];
		int width = (int)sizeof(bar) - 1, done = (int)(width * (bytes / total));
		if (done > width)
			done = width;
		for (int i = 0; i < width; i++)
			bar[i] = i < done ? '=' : i == done ? '>' : ' ';
		bar[width] = '\0';
		format_size(total, all, sizeof(all));
		fprintf(stderr, "\r\033[K[%s] %3d%%  %s / %s", bar, (int)(100 * bytes / total), have, all);
	} else {
		fprintf(stderr, "\r\033[K%s", have);
	}
	fflush(stderr);
	pr->shown = true;
}

/* Adds "Name: value" to the headers object; false on a malformed one. */
static bool add_header(struct json_object *headers, const char *line)
{
	const char *colon = strchr(line, ':');
	if (!colon || colon == line)
		return false;
	char *name = strndup(line, (size_t)(colon - line));
	const char *value = colon + 1;
	while (*value == ' ' || *value == '\t')
		value++;
	json_object_object_add(headers, name, json_object_new_string(value));
	free(name);
	return true;
}

/* A request body, in the daemon's request with the rest: well within
 * max_request_bytes' default (1 MiB) once in base64. */
#define MAX_BODY_BYTES (640 * 1024)

/* curl's -d: the text as given; @FILE, the file's bytes; - or @-, stdin's.
 * Returns 0, or an exit code after saying why. */
static int read_body(const struct cli *cli, const char *arg, char **ret, size_t *ret_len)
{
	const char *from = arg[0] == '@' ? arg + 1 : strcmp(arg, "-") == 0 ? "-" : NULL;
	size_t len = 0, cap = 65536;
	char *buf;
	FILE *f;

	if (!from) {
		*ret_len = strlen(arg);
		*ret = strdup(arg);
		return *ret ? 0 : EXIT_USAGE;
	}
	f = strcmp(from, "-") == 0 ? stdin : fopen(from, "rb");
	if (!f)
		return cli_usage_error(cli, "-d @%s: %s", from, strerror(errno));
	buf = malloc(cap);
	while (buf) {
		size_t n = fread(buf + len, 1, cap - len, f);
		len += n;
		if (n == 0 || len > MAX_BODY_BYTES)
			break;
		if (len == cap) {
			char *p = realloc(buf, cap * 2);
			if (!p) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = p;
			cap *= 2;
		}
	}
	bool failed = ferror(f);
	if (f != stdin)
		fclose(f);
	if (!buf)
		return cli_usage_error(cli, "-d %s: out of memory", arg);
	if (failed) {
		free(buf);
		return cli_usage_error(cli, "-d %s: cannot read it", arg);
	}
	if (len > MAX_BODY_BYTES) {
		free(buf);
		return cli_usage_error(cli, "-d %s: a request body may be at most %d KiB", arg,
				       MAX_BODY_BYTES / 1024);
	}
	*ret = buf;
	*ret_len = len;
	return 0;
}

/* What curl would take for a URL without its scheme ("example.com/x"):
 * the daemon takes only http:// and https://, so say which was meant. */
static bool has_scheme(const char *url)
{
	const char *colon = strstr(url, "://");
	return colon && colon > url;
}

static int run(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "request", required_argument, NULL, 'X' },
		{ "header", required_argument, NULL, 'H' },
		{ "data", required_argument, NULL, 'd' },
		{ "output", required_argument, NULL, 'o' },
		{ "fail", no_argument, NULL, 'f' },
		{ "max-bytes", required_argument, NULL, 'm' },
		{ "no-fsync", no_argument, NULL, 'F' },
		CLI_CONTROLS_LONG,
		{ NULL, 0, NULL, 0 },
	};
	struct cli_controls controls = { 0 };
	const char *method = NULL, *data = NULL, *output = NULL;
	bool fail_on_status = false, no_fsync = false;
	size_t max_bytes = 0;
	struct json_object *headers = json_object_new_object();
	asyncjob_spec *spec = NULL;
	asyncjob_job *job = NULL, **done = NULL;
	int opt, code = EXIT_OK;

	while ((opt = cli_getopt(cli, argc, argv, "X:H:d:o:" CLI_CONTROLS_SHORT, opts,
				 &cmd_fetch)) != -1) {
		switch (opt) {
		case 'X': method = optarg; break;
		case 'H':
			if (!add_header(headers, optarg)) {
				json_object_put(headers);
				return cli_usage_error(cli, "-H '%s': write a header as 'Name: value'", optarg);
			}
			break;
		case 'd': data = optarg; break;
		case 'o': output = optarg; break;
		case 'f': fail_on_status = true; break;
		case 'F': no_fsync = true; break;
		case 'm':
			if (!cli_parse_size(cli, optarg, "--max-bytes", &max_bytes)) {
				json_object_put(headers);
				return EXIT_USAGE;
			}
			break;
		default:
			if (!cli_controls_take(&controls, opt, optarg)) {
				json_object_put(headers);
				return EXIT_USAGE;
			}
		}
	}
	if (optind != argc - 1) {
		json_object_put(headers);
		return cli_usage_error(cli, "expected one URL");
	}
	if (!has_scheme(argv[optind])) {
		json_object_put(headers);
		return cli_usage_error(cli, "%s: a URL needs its scheme: https://%s (or http://)",
				       argv[optind], argv[optind]);
	}
	if (asyncjob_spec_fetch(argv[optind], &spec) < 0) {
		json_object_put(headers);
		cli_error(cli, "out of memory");
		return EXIT_USAGE;
	}
	if (method)
		asyncjob_spec_set_string(spec, "method", method);
	else if (data)
		asyncjob_spec_set_string(spec, "method", "POST");   /* as curl -d does */
	if (json_object_object_length(headers) > 0)
		asyncjob_spec_set_json(spec, "headers", json_object_to_json_string(headers));
	json_object_put(headers);
	if (data) {
		char *body = NULL;
		size_t body_len = 0;
		if ((code = read_body(cli, data, &body, &body_len)) != 0)
			goto out;
		code = cli_spec_set_bytes(spec, "body", "body_base64", body, body_len);
		free(body);
		if (code != 0) {
			cli_error(cli, "out of memory");
			goto out;
		}
	}
	if (fail_on_status)
		asyncjob_spec_set_bool(spec, "raise_for_status", true);
	if (max_bytes)
		asyncjob_spec_set_number(spec, "max_bytes", (double)max_bytes);
	if (output) {
		/* The daemon wants an absolute path; a user means "here". */
		char abs[PATH_MAX];
		if (cli_absolute_path(output, abs, sizeof(abs)) < 0) {
			asyncjob_spec_free(spec);
			cli_error(cli, "-o %s: path too long", output);
			return EXIT_USAGE;
		}
		asyncjob_spec_set_string(spec, "save_to", abs);
		if (no_fsync)
			asyncjob_spec_set_bool(spec, "fsync", false);
	} else if (no_fsync) {
		asyncjob_spec_free(spec);
		return cli_usage_error(cli, "--no-fsync: only with -o, --output");
	}
	if ((code = cli_apply_controls(cli, spec, &controls)) != 0)
		goto out;

	if ((code = cli_connect(cli)) != 0)
		goto out;
	if (cli->detach) {
		code = cli_submit_and_follow(cli, spec);
		goto out;
	}
	int r = asyncjob_submit(cli->aj, spec, ASYNCJOB_CANCEL_ON_DISCONNECT, &job);
	if (r < 0) {
		code = cli_fail(cli, r, "submitting the fetch");
		goto out;
	}
	uint64_t id = asyncjob_job_id(job);
	struct progress pr = { .id = id };
	if (cli_progress_enabled(cli)) {
		asyncjob_set_event_handler(cli->aj, on_event, &pr);
		/* Best effort: without events there is just no bar. */
		(void)asyncjob_subscribe(cli->aj, &id, 1, NULL, NULL);
		cli->progress_id = id;
	}
	code = cli_wait_foreground(cli, &id, 1, &done);
	if (pr.shown)
		cli_progress_clear();
	if (code != EXIT_OK)
		goto out;
	cli_print_job_output(cli, done[0]);
	code = cli_job_exit_code(done[0]);
out:
	asyncjob_jobs_free(done);
	asyncjob_job_unref(job);
	asyncjob_spec_free(spec);
	return code;
}

const struct cli_command cmd_fetch = {
	.name = "fetch",
	.args = "URL",
	.summary = "fetch a URL over HTTP(S) and print the body",
	.help = "\nPrints the body: JSON pretty on a terminal (compact in a pipe), text as it\n"
		"is, anything else as raw bytes. A download to a file shows a progress bar on a\n"
		"terminal. An HTTP error status is not a failure unless --fail.\n\n"
		"  -X, --request METHOD  GET (default), HEAD, POST, PUT, PATCH or DELETE\n"
		"  -H, --header 'N: V'   send a header (repeatable)\n"
		"  -d, --data BODY       send BODY (POST unless -X says otherwise); @FILE sends\n"
		"                        the file, - or @- stdin (at most 640 KiB)\n"
		"  -o, --output FILE     save the body to FILE (beneath the daemon's write roots)\n"
		"      --no-fsync        with -o: do not wait for the file to reach the disk\n"
		"      --fail            fail (exit 1) on an HTTP status of 400 or more\n"
		"      --max-bytes N     fail when the body is larger than N bytes (64K, 16M, 1G)\n"
		CLI_CONTROLS_HELP
		"      --detach          print the job id and return at once\n"
		"      --json            print the job object\n"
		"\nExample: asyncjob fetch https://jsonplaceholder.typicode.com/todos/1\n",
	.run = run,
};
