/* asyncjob cancel: stop jobs, by id or by filter; asyncjob clean: forget
 * finished jobs. */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "client/cli/cli.h"

/* job.cancel_many or job.forget with the filter given, called again while
 * the daemon says there are more. Prints the count, or with --json each
 * id. */
static int by_filter(struct cli *cli, const char *method, const char *key, const char *state,
		     const char *type, const char *label, const char *done_what)
{
	struct json_object *params = json_object_new_object();
	size_t total = 0;
	bool more = true;
	int code;

	if (state)
		json_object_object_add(params, "state", json_object_new_string(state));
	if (type)
		json_object_object_add(params, "type", json_object_new_string(type));
	if (label)
		json_object_object_add(params, "label", json_object_new_string(label));
	if ((code = cli_connect(cli)) != 0) {
		json_object_put(params);
		return code;
	}
	while (more) {
		char *text = NULL;
		struct json_object *reply, *ids, *v;
		int r = asyncjob_call(cli->aj, method,
				      json_object_to_json_string_ext(params, JSON_C_TO_STRING_PLAIN),
				      &text);
		if (r < 0) {
			json_object_put(params);
			return cli_fail(cli, r, method);
		}
		reply = json_tokener_parse(text);
		free(text);
		if (!reply || !json_object_object_get_ex(reply, key, &ids)) {
			json_object_put(reply);
			json_object_put(params);
			cli_error(cli, "%s: the daemon's reply has no %s", method, key);
			return EXIT_RPC_ERROR;
		}
		size_t n = json_object_array_length(ids);
		for (size_t i = 0; cli->json && i < n; i++)
			printf("%s\n", json_object_get_string(json_object_array_get_idx(ids, i)));
		total += n;
		more = json_object_object_get_ex(reply, "more", &v) && json_object_get_boolean(v) &&
		       n > 0;
		json_object_put(reply);
	}
	json_object_put(params);
	if (!cli->json)
		printf("%zu job(s) %s\n", total, done_what);
	return EXIT_OK;
}

static int run(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "all", no_argument, NULL, 'A' },
		{ "state", required_argument, NULL, 'S' },
		{ "type", required_argument, NULL, 'T' },
		{ "label", required_argument, NULL, 'l' },
		{ NULL, 0, NULL, 0 },
	};
	const char *state = NULL, *type = NULL, *label = NULL;
	bool all = false;
	int opt, code, worst = EXIT_OK;

	while ((opt = cli_getopt(cli, argc, argv, "l:", opts, &cmd_cancel)) != -1) {
		switch (opt) {
		case 'A': all = true; break;
		case 'S': state = optarg; break;
		case 'T': type = optarg; break;
		case 'l': label = optarg; break;
		default: return EXIT_USAGE;
		}
	}
	bool filtered = all || state || type || label;
	if (filtered && optind < argc)
		return cli_usage_error(cli, "give job ids or --all/--state/--type/--label, not both");
	if (state && strcmp(state, "queued") != 0 && strcmp(state, "running") != 0)
		return cli_usage_error(cli, "--state %s: only queued or running jobs can be "
				       "canceled", state);
	if (filtered)
		return by_filter(cli, "job.cancel_many", "canceled", state, type, label, "canceled");
	if (optind >= argc)
		return cli_usage_error(cli, "expected one or more job ids, or --all");
	for (int i = optind; i < argc; i++) {
		uint64_t id;
		if (!cli_parse_id(cli, argv[i], &id))
			return EXIT_USAGE;
	}
	if ((code = cli_connect(cli)) != 0)
		return code;
	for (int i = optind; i < argc; i++) {
		asyncjob_job *job = NULL;
		uint64_t id;
		cli_parse_id(cli, argv[i], &id);
		int r = asyncjob_cancel(cli->aj, id, &job);
		if (r < 0) {
			code = cli_fail(cli, r, "cancel");
			if (code == EXIT_UNREACHABLE)
				return code;
			worst = code;
			continue;
		}
		if (cli->json)
			cli_print_job_json(job);
		else
			printf("job %llu canceled\n", (unsigned long long)id);
		asyncjob_job_unref(job);
	}
	return worst;
}

const struct cli_command cmd_cancel = {
	.name = "cancel",
	.args = "ID... | --all | --state S | --label L",
	.summary = "cancel jobs",
	.help = "\nCancels the jobs named, or every queued and running job of yours that\n"
		"matches the filters (everyone's for an admin). Exits 4 when a job named had\n"
		"already finished or does not exist.\n\n"
		"      --all             every job of yours that is queued or running\n"
		"      --state S         only those in state S: queued or running\n"
		"      --type T          only jobs of type T\n"
		"  -l, --label L         only jobs labelled L\n"
		"      --json            print the canceled job objects (by filter: their ids)\n",
	.run = run,
};

static int run_clean(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "state", required_argument, NULL, 'S' },
		{ "type", required_argument, NULL, 'T' },
		{ "label", required_argument, NULL, 'l' },
		{ NULL, 0, NULL, 0 },
	};
	const char *state = NULL, *type = NULL, *label = NULL;
	int opt;

	while ((opt = cli_getopt(cli, argc, argv, "l:", opts, &cmd_clean)) != -1) {
		switch (opt) {
		case 'S': state = optarg; break;
		case 'T': type = optarg; break;
		case 'l': label = optarg; break;
		default: return EXIT_USAGE;
		}
	}
	if (optind < argc)
		return cli_usage_error(cli, "unexpected argument '%s'", argv[optind]);
	if (state && strcmp(state, "succeeded") != 0 && strcmp(state, "failed") != 0 &&
	    strcmp(state, "canceled") != 0)
		return cli_usage_error(cli, "--state %s: only finished jobs are forgotten: "
				       "succeeded, failed or canceled", state);
	return by_filter(cli, "job.forget", "forgotten", state, type, label, "forgotten");
}

const struct cli_command cmd_clean = {
	.name = "clean",
	.args = "[--state S] [--label L]",
	.summary = "forget your finished jobs",
	.help = "\nForgets your finished jobs (everyone's for an admin) now, as retention would\n"
		"later: they leave list, get and wait. Queued and running jobs stay.\n\n"
		"      --state S         only those in state S: succeeded, failed or canceled\n"
		"      --type T          only jobs of type T\n"
		"  -l, --label L         only jobs labelled L\n"
		"      --json            print the ids forgotten, one per line\n",
	.run = run_clean,
};
