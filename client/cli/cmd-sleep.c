/* asyncjob sleep: the seed's greet() on the daemon. */
#include "config.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "client/cli/cli.h"

static int run(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_CONTROLS_LONG,
		{ NULL, 0, NULL, 0 },
	};
	struct cli_controls controls = { 0 };
	asyncjob_spec *spec = NULL;
	double seconds;
	char *message = NULL;
	int opt, code;

	while ((opt = cli_getopt(cli, argc, argv, CLI_CONTROLS_SHORT, opts, &cmd_sleep)) != -1)
		if (!cli_controls_take(&controls, opt, optarg))
			return EXIT_USAGE;
	if (optind >= argc)
		return cli_usage_error(cli, "missing SECONDS");
	if (!cli_parse_seconds(cli, argv[optind], "SECONDS", &seconds))
		return EXIT_USAGE;
	/* The rest of the words are the message, as echo would join them. */
	size_t len = 0;
	for (int i = optind + 1; i < argc; i++)
		len += strlen(argv[i]) + 1;
	if (len) {
		message = malloc(len);
		if (!message)
			return EXIT_USAGE;
		message[0] = '\0';
		for (int i = optind + 1; i < argc; i++) {
			if (i > optind + 1)
				strcat(message, " ");
			strcat(message, argv[i]);
		}
	}
	if (asyncjob_spec_sleep(seconds, message, &spec) < 0) {
		free(message);
		cli_error(cli, "out of memory");
		return EXIT_USAGE;
	}
	free(message);
	code = cli_apply_controls(cli, spec, &controls);
	if (code == 0)
		code = cli_submit_and_follow(cli, spec);
	asyncjob_spec_free(spec);
	return code;
}

const struct cli_command cmd_sleep = {
	.name = "sleep",
	.args = "SECONDS [MESSAGE]",
	.summary = "sleep, then print MESSAGE",
	.help = "\nRuns a sleep job on the daemon, waits for it and prints its message.\n\n"
		CLI_CONTROLS_HELP
		"      --detach          print the job id and return at once\n"
		"      --json            print the job object\n",
	.run = run,
};
