/* asyncjob get: one job's details. */
#include "config.h"

#include <getopt.h>
#include <stdio.h>

#include "client/cli/cli.h"

static int run(struct cli *cli, int argc, char **argv)
{
	asyncjob_job *job = NULL;
	uint64_t id;
	int opt, code, r;

	while ((opt = cli_getopt(cli, argc, argv, "", NULL, &cmd_get)) != -1)
		return EXIT_USAGE;
	if (optind != argc - 1)
		return cli_usage_error(cli, "expected one job id");
	if (!cli_parse_id(cli, argv[optind], &id))
		return EXIT_USAGE;
	if ((code = cli_connect(cli)) != 0)
		return code;
	r = asyncjob_get(cli->aj, id, &job);
	if (r < 0)
		return cli_fail(cli, r, "get");
	if (cli->json)
		cli_print_job_json(job);
	else
		cli_print_job_details(job);
	asyncjob_job_unref(job);
	return EXIT_OK;
}

const struct cli_command cmd_get = {
	.name = "get",
	.args = "ID",
	.summary = "show a job",
	.help = "\n      --json            print the job object\n",
	.run = run,
};
