/* asyncjob list: recent jobs, oldest first. */
#include "config.h"

#include <getopt.h>
#include <stdio.h>

#include "client/cli/cli.h"

static int run(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "state", required_argument, NULL, 'S' },
		{ "type", required_argument, NULL, 'T' },
		{ "limit", required_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 },
	};
	const char *state = NULL, *type = NULL;
	asyncjob_job **jobs = NULL;
	size_t limit = 0, n = 0;
	int opt, code, r;

	while ((opt = cli_getopt(cli, argc, argv, "n:", opts, &cmd_list)) != -1) {
		switch (opt) {
		case 'S': state = optarg; break;
		case 'T': type = optarg; break;
		case 'n':
			if (!cli_parse_count(cli, optarg, "--limit", &limit))
				return EXIT_USAGE;
			break;
		default: return EXIT_USAGE;
		}
	}
	if (optind != argc)
		return cli_usage_error(cli, "unexpected argument '%s'", argv[optind]);
	if ((code = cli_connect(cli)) != 0)
		return code;
	r = asyncjob_list(cli->aj, state, type, limit, &jobs, &n);
	if (r < 0)
		return cli_fail(cli, r, "list");
	if (!cli->json && n > 0)
		printf("%-8s %-8s %-10s %-25s %s\n", "ID", "TYPE", "STATE", "SUBMITTED", "LABEL");
	for (size_t i = 0; i < n; i++) {
		if (cli->json)
			cli_print_job_json(jobs[i]);
		else
			cli_print_job_summary(jobs[i]);
	}
	asyncjob_jobs_free(jobs);
	return EXIT_OK;
}

const struct cli_command cmd_list = {
	.name = "list",
	.args = "[--state S]",
	.summary = "list your recent jobs",
	.help = "\n      --state S         only jobs in state S: queued, running, succeeded,\n"
		"                        failed or canceled\n"
		"      --type T          only jobs of type T\n"
		"  -n, --limit N         at most N jobs, the most recent (default 100)\n"
		"      --json            print the job objects, one per line\n",
	.run = run,
};
