/* asyncjob: submit and follow asyncjobd jobs from a shell. */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/cli/cli.h"
#include "proto/suggest.h"

static const struct cli_command *const commands[] = {
	&cmd_sleep, &cmd_fetch, &cmd_write, &cmd_gather, &cmd_submit, &cmd_get, &cmd_wait,
	&cmd_list, &cmd_cancel, &cmd_clean, &cmd_watch, &cmd_info, &cmd_metrics, NULL,
};

static void usage(FILE *f)
{
	fprintf(f, "Usage: asyncjob [OPTION]... COMMAND [ARG]...\n"
		   "Run jobs on asyncjobd: sleeps, HTTP fetches and file writes, many at once,\n"
		   "from any shell or program.\n\nCommands:\n");
	for (size_t i = 0; commands[i]; i++) {
		char head[64];
		snprintf(head, sizeof(head), "%s %s", commands[i]->name, commands[i]->args);
		fprintf(f, "  %-34s %s\n", head, commands[i]->summary);
	}
	fprintf(f,
		"\nOptions (before or after the command):\n"
		"  -s, --socket PATH  the daemon's socket (default: $ASYNCJOB_SOCKET, else\n"
		"                     $XDG_RUNTIME_DIR/asyncjobd.sock if present, else\n"
		"                     /run/asyncjobd/asyncjobd.sock)\n"
		"      --json         print job objects as JSON, one per line\n"
		"      --detach       submit, print the job id and return at once\n"
		"  -q, --quiet        no progress line, no notes on stderr\n"
		"  -h, --help         show help (also: asyncjob COMMAND --help)\n"
		"  -V, --version      show the version\n"
		"\nJobs run in the foreground: the command waits, prints what the job\n"
		"returns, and Ctrl-C cancels it. If asyncjobd restarts meanwhile, keeping\n"
		"the jobs, the command waits for it to come back and goes on (for up to\n"
		"$ASYNCJOB_RECONNECT_TIMEOUT seconds, default 60; 0: it does not wait).\n"
		"\nExit status: 0 the job(s) succeeded; 1 a job failed or was canceled;\n"
		"2 usage error; 3 the daemon is unreachable (or came back without the\n"
		"job); 4 the daemon refused the request; 124 wait --timeout passed;\n"
		"130 interrupted (jobs canceled).\n"
		"\nExample: asyncjob gather 'sleep 1 Hello' 'sleep 1 World'\n"
		"See asyncjob(1).\n");
}

static const char *command_name(size_t i, void *arg)
{
	(void)arg;
	/* The commands, and help. */
	size_t n = 0;
	while (commands[n])
		n++;
	return i < n ? commands[i]->name : i == n ? "help" : NULL;
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "detach", no_argument, NULL, 'd' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli cli = { 0 };
	int opt, code;

	/* "+": stop at the command; its own options are parsed by it.
	 * ":": option errors are reported below, in our own words. */
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+:s:qhV", options, NULL)) != -1) {
		switch (opt) {
		case 's': cli.socket = optarg; break;
		case 'j': cli.json = true; break;
		case 'd': cli.detach = true; break;
		case 'q': cli.quiet = true; break;
		case 'h': usage(stdout); return EXIT_OK;
		case 'V':
			printf("asyncjob %s (libasyncjob %s)\n", PACKAGE_VERSION, asyncjob_version());
			return EXIT_OK;
		case ':':
			fprintf(stderr, "asyncjob: option '%s' needs a value\n"
				"Try 'asyncjob --help' for more information.\n", argv[optind - 1]);
			return EXIT_USAGE;
		default:
			if (optopt)
				fprintf(stderr, "asyncjob: unknown option '-%c'\n", optopt);
			else
				fprintf(stderr, "asyncjob: unknown option '%s'\n", argv[optind - 1]);
			fprintf(stderr, "Try 'asyncjob --help' for more information.\n");
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	const char *name = argv[optind];
	if (strcmp(name, "help") == 0) {
		if (optind + 1 < argc) {
			/* asyncjob help COMMAND == asyncjob COMMAND --help */
			char *help_argv[] = { argv[optind + 1], (char *)"--help", NULL };
			for (size_t i = 0; commands[i]; i++)
				if (strcmp(commands[i]->name, argv[optind + 1]) == 0) {
					cli.command = commands[i]->name;
					optind = 0;
					return commands[i]->run(&cli, 2, help_argv);
				}
		}
		usage(stdout);
		return EXIT_OK;
	}
	for (size_t i = 0; commands[i]; i++) {
		if (strcmp(commands[i]->name, name) != 0)
			continue;
		cli.command = name;
		int sub_argc = argc - optind;
		char **sub_argv = argv + optind;
		optind = 0;   /* restart getopt for the command's own options */
		code = commands[i]->run(&cli, sub_argc, sub_argv);
		asyncjob_free(cli.aj);
		free(cli.followed);
		return code;
	}
	const char *near = suggest_nearest(name, command_name, NULL);
	if (near)
		fprintf(stderr, "asyncjob: unknown command '%s'; did you mean '%s'?\n", name, near);
	else
		fprintf(stderr, "asyncjob: unknown command '%s'\n", name);
	fprintf(stderr, "Try 'asyncjob --help' for more information.\n");
	return EXIT_USAGE;
}
