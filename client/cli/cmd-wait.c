/* asyncjob wait: until jobs finish, like the shell's wait. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "client/cli/cli.h"

static int run(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "any", no_argument, NULL, 'a' },
		{ "timeout", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	asyncjob_job **jobs = NULL;
	uint64_t *ids;
	size_t n;
	double timeout = -1;
	bool any = false, timed_out = false;
	int opt, code, r;

	while ((opt = cli_getopt(cli, argc, argv, "at:", opts, &cmd_wait)) != -1) {
		switch (opt) {
		case 'a': any = true; break;
		case 't':
			if (!cli_parse_seconds(cli, optarg, "--timeout", &timeout))
				return EXIT_USAGE;
			break;
		default: return EXIT_USAGE;
		}
	}
	if (optind >= argc)
		return cli_usage_error(cli, "expected one or more job ids");
	n = (size_t)(argc - optind);
	ids = calloc(n, sizeof(*ids));
	if (!ids)
		return EXIT_USAGE;
	for (size_t i = 0; i < n; i++) {
		if (!cli_parse_id(cli, argv[optind + (int)i], &ids[i])) {
			free(ids);
			return EXIT_USAGE;
		}
	}
	if ((code = cli_connect(cli)) != 0) {
		free(ids);
		return code;
	}
	cli_catch_interrupts();
	r = asyncjob_wait(cli->aj, ids, n, any, timeout, &jobs, &timed_out);
	free(ids);
	if (r == -EINTR)
		return EXIT_INTERRUPTED;   /* waiting cancels nothing */
	if (r < 0)
		return cli_fail(cli, r, "wait");

	code = EXIT_OK;
	bool any_success = false;
	for (size_t i = 0; jobs[i]; i++) {
		asyncjob_state st = asyncjob_job_state(jobs[i]);
		if (cli->json)
			cli_print_job_json(jobs[i]);
		else if (asyncjob_state_is_final(st))
			cli_print_job_result(cli, jobs[i]);
		/* One still running (--any, --timeout) has no output yet. */
		if (st == ASYNCJOB_SUCCEEDED)
			any_success = true;
		else if (asyncjob_state_is_final(st))
			code = EXIT_JOB_FAILED;
	}
	asyncjob_jobs_free(jobs);
	if (timed_out) {
		if (!cli->quiet)
			cli_error(cli, "timed out after %g s", timeout);
		return EXIT_TIMED_OUT;
	}
	/* With --any, one success is enough. */
	if (any && any_success)
		return EXIT_OK;
	return code;
}

const struct cli_command cmd_wait = {
	.name = "wait",
	.args = "ID...",
	.summary = "wait for jobs to finish",
	.help = "\nPrints each finished job's output as its foreground command would have (a\n"
		"sleep's message, a fetch's body, \"saved to PATH\" or \"wrote PATH\" for a\n"
		"file; a failure on stderr), in the order given; nothing for one still\n"
		"running (with --any or --timeout). Exits 0 when they all succeeded, 1\n"
		"when one failed or was canceled, 124 on --timeout.\n\n"
		"  -a, --any             return when any one of them has finished\n"
		"  -t, --timeout S       give up after S seconds\n"
		"      --json            print the job objects, one per line\n",
	.run = run,
};
