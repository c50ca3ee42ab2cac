/* asyncjob cancel: stop jobs. */
#include "config.h"

#include <getopt.h>
#include <stdio.h>

#include "client/cli/cli.h"

static int run(struct cli *cli, int argc, char **argv)
{
	int opt, code, worst = EXIT_OK;

	while ((opt = cli_getopt(cli, argc, argv, "", NULL, &cmd_cancel)) != -1)
		return EXIT_USAGE;
	if (optind >= argc)
		return cli_usage_error(cli, "expected one or more job ids");
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
	.args = "ID...",
	.summary = "cancel jobs",
	.help = "\nExits 4 when a job had already finished or does not exist.\n\n"
		"      --json            print the canceled job objects\n",
	.run = run,
};
