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
	code = EXIT_OK;
	if (cli->json) {
		cli_print_job_json(job);
	} else if (asyncjob_state_is_final(asyncjob_job_state(job))) {
		/* Finished: what the foreground command would have printed. */
		cli_print_job_result(cli, job);
		code = cli_job_exit_code(job);
	} else {
		cli_print_job_details(job);
	}
	asyncjob_job_unref(job);
	return code;
}

const struct cli_command cmd_get = {
	.name = "get",
	.args = "ID",
	.summary = "show a job",
	.help = "\nA finished job: prints what the foreground command would have printed (a\n"
		"sleep's message, a fetch's body, JSON pretty on a terminal, \"saved to PATH\"\n"
		"or \"wrote PATH\" for a file) and exits as it would (0 succeeded, 1 failed or\n"
		"canceled, its error on stderr). A queued or running job: its details.\n\n"
		"      --json            print the job object\n",
	.run = run,
};
