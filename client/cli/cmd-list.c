/* asyncjob list: recent jobs, oldest first, as a status table. */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "client/cli/cli.h"

static const char *member(struct json_object *o, const char *k)
{
	struct json_object *v;
	return json_object_object_get_ex(o, k, &v) && json_object_is_type(v, json_type_string)
		? json_object_get_string(v) : NULL;
}

/* An RFC 3339 time as the daemon writes it (UTC, "Z"), in seconds; -1 when
 * it is not one. */
static double parse_time(const char *s)
{
	struct tm tm = { 0 };
	int ms = 0, n = 0;

	if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
			 &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6)
		return -1;
	if (s[n] == '.')
		sscanf(s + n + 1, "%3d", &ms);
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (double)timegm(&tm) + ms / 1000.0;
}

/* A duration as people read it: 0.4s, 12s, 3m05s, 2h10m, 4d3h. */
static void human_duration(double s, char *buf, size_t size)
{
	if (s < 0)
		s = 0;
	long t = (long)s;
	if (s < 10)
		snprintf(buf, size, "%.1fs", s);
	else if (t < 60)
		snprintf(buf, size, "%lds", t);
	else if (t < 3600)
		snprintf(buf, size, "%ldm%02lds", t / 60, t % 60);
	else if (t < 86400)
		snprintf(buf, size, "%ldh%02ldm", t / 3600, t % 3600 / 60);
	else
		snprintf(buf, size, "%ldd%ldh", t / 86400, t % 86400 / 3600);
}

/* Colour for a state on a terminal, unless NO_COLOR (no-color.org). */
static bool use_colour(void)
{
	const char *no = getenv("NO_COLOR"), *term = getenv("TERM");
	return isatty(STDOUT_FILENO) && !(no && *no) && !(term && !strcmp(term, "dumb"));
}

static const char *state_colour(const char *state)
{
	if (!strcmp(state, "succeeded"))
		return "\033[32m";   /* green */
	if (!strcmp(state, "failed"))
		return "\033[31m";   /* red */
	if (!strcmp(state, "canceled"))
		return "\033[33m";   /* yellow */
	if (!strcmp(state, "running"))
		return "\033[36m";   /* cyan */
	return "";
}

static void print_row(struct json_object *job, double now, bool colour)
{
	const char *state = member(job, "state"), *label = member(job, "label");
	const char *type = member(job, "type");
	struct json_object *id = NULL, *error = NULL;
	double submitted = parse_time(member(job, "submitted_at"));
	double started = parse_time(member(job, "started_at"));
	double finished = parse_time(member(job, "finished_at"));
	char age[32] = "-", took[32] = "-", what[64] = "";

	json_object_object_get_ex(job, "id", &id);
	if (submitted >= 0)
		human_duration(now - submitted, age, sizeof(age));
	if (started >= 0)
		human_duration((finished >= 0 ? finished : now) - started, took, sizeof(took));
	/* Why it did not succeed, in a word. */
	if (json_object_object_get_ex(job, "error", &error))
		snprintf(what, sizeof(what), " (%s)", member(error, "code") ? member(error, "code") : "?");
	if (!state)
		state = "?";
	char state_text[80];
	snprintf(state_text, sizeof(state_text), "%s%s", state, what);
	if (colour && *state_colour(state))
		printf("%-8s %-6s %s%-22s\033[0m %-8s %-8s %s\n", json_object_get_string(id),
		       type ? type : "?", state_colour(state), state_text, age, took,
		       label ? label : "");
	else
		printf("%-8s %-6s %-22s %-8s %-8s %s\n", json_object_get_string(id),
		       type ? type : "?", state_text, age, took, label ? label : "");
}

static bool known_state(const char *name)
{
	for (int s = ASYNCJOB_QUEUED; s <= ASYNCJOB_CANCELED; s++)
		if (!strcmp(asyncjob_state_name((asyncjob_state)s), name))
			return true;
	return false;
}

static int run(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "state", required_argument, NULL, 'S' },
		{ "type", required_argument, NULL, 'T' },
		{ "limit", required_argument, NULL, 'n' },
		{ "results", no_argument, NULL, 'R' },
		{ NULL, 0, NULL, 0 },
	};
	const char *state = NULL, *type = NULL;
	struct json_object *params, *reply, *jobs = NULL, *v;
	size_t limit = 0;
	bool results = false;
	char *text = NULL;
	int opt, code, r;

	while ((opt = cli_getopt(cli, argc, argv, "n:", opts, &cmd_list)) != -1) {
		switch (opt) {
		case 'S': state = optarg; break;
		case 'T': type = optarg; break;
		case 'R': results = true; break;
		case 'n':
			if (!cli_parse_count(cli, optarg, "--limit", &limit))
				return EXIT_USAGE;
			if (limit == 0)
				return cli_usage_error(cli, "--limit 0: expected at least 1 job");
			break;
		default: return EXIT_USAGE;
		}
	}
	if (optind != argc)
		return cli_usage_error(cli, "unexpected argument '%s'", argv[optind]);
	if (state && !known_state(state))
		return cli_usage_error(cli, "--state %s: expected queued, running, succeeded, failed "
				       "or canceled", state);
	if ((code = cli_connect(cli)) != 0)
		return code;

	params = json_object_new_object();
	if (state)
		json_object_object_add(params, "state", json_object_new_string(state));
	if (type)
		json_object_object_add(params, "type", json_object_new_string(type));
	if (limit)
		json_object_object_add(params, "limit", json_object_new_int64((int64_t)limit));
	if (results)
		json_object_object_add(params, "results", json_object_new_boolean(1));
	r = asyncjob_call(cli->aj, "job.list",
			  json_object_to_json_string_ext(params, JSON_C_TO_STRING_PLAIN), &text);
	json_object_put(params);
	if (r < 0)
		return cli_fail(cli, r, "list");
	reply = json_tokener_parse(text);
	free(text);
	if (!reply || !json_object_object_get_ex(reply, "jobs", &jobs) ||
	    !json_object_is_type(jobs, json_type_array)) {
		json_object_put(reply);
		cli_error(cli, "list: the daemon's reply has no jobs");
		return EXIT_RPC_ERROR;
	}
	size_t n = json_object_array_length(jobs);
	int64_t total = json_object_object_get_ex(reply, "total", &v) ? json_object_get_int64(v)
		: (int64_t)n;
	bool colour = !cli->json && use_colour();
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	double now = (double)ts.tv_sec + ts.tv_nsec / 1e9;

	if (!cli->json && n > 0)
		printf("%-8s %-6s %-22s %-8s %-8s %s\n", "ID", "TYPE", "STATE", "AGE", "TOOK",
		       "LABEL");
	for (size_t i = 0; i < n; i++) {
		struct json_object *job = json_object_array_get_idx(jobs, i);
		if (cli->json)
			puts(json_object_to_json_string_ext(job, JSON_C_TO_STRING_PLAIN |
								   JSON_C_TO_STRING_NOSLASHESCAPE));
		else
			print_row(job, now, colour);
	}
	/* The daemon listed the newest: say that older ones were left out
	 * (on stderr, so that the table stays a table). */
	if (!cli->quiet && total > (int64_t)n)
		fprintf(stderr, "asyncjob: %lld more older job(s) match; -n %lld lists them all\n",
			(long long)(total - (int64_t)n), (long long)total);
	json_object_put(reply);
	return EXIT_OK;
}

const struct cli_command cmd_list = {
	.name = "list",
	.args = "[--state S] [--type T] [-n N]",
	.summary = "list your recent jobs",
	.help = "\nPrints a table of your most recent jobs, oldest first: id, type, state (and\n"
		"error code), age since submitted, how long it ran (or has run), label.\n"
		"States are coloured on a terminal, unless NO_COLOR is set. When older jobs\n"
		"match too, a line on stderr says how many.\n\n"
		"      --state S         only jobs in state S: queued, running, succeeded,\n"
		"                        failed or canceled\n"
		"      --type T          only jobs of type T\n"
		"  -n, --limit N         at most N jobs, the most recent (default 100)\n"
		"      --json            print the job objects, one per line, without their\n"
		"                        results (\"result_omitted\": true)\n"
		"      --results         with --json, print the results too\n",
	.run = run,
};
