/* asyncjob watch: job events as they happen. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "client/cli/cli.h"

static int run(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "since", required_argument, NULL, 'S' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t since = 0, *ids = NULL;
	bool have_since = false;
	size_t n = 0;
	int opt, code, r;

	while ((opt = cli_getopt(cli, argc, argv, "", opts, &cmd_watch)) != -1) {
		switch (opt) {
		case 'S': {
			size_t v;
			if (!cli_parse_count(cli, optarg, "--since", &v))
				return EXIT_USAGE;
			since = v;
			have_since = true;
			break;
		}
		default: return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		n = (size_t)(argc - optind);
		ids = calloc(n, sizeof(*ids));
		if (!ids)
			return EXIT_USAGE;
		for (size_t i = 0; i < n; i++)
			if (!cli_parse_id(cli, argv[optind + (int)i], &ids[i])) {
				free(ids);
				return EXIT_USAGE;
			}
	}
	if ((code = cli_connect(cli)) != 0) {
		free(ids);
		return code;
	}
	r = asyncjob_subscribe(cli->aj, ids, n, have_since ? &since : NULL, NULL);
	free(ids);
	if (r < 0)
		return cli_fail(cli, r, "subscribe");

	cli_catch_interrupts();
	for (;;) {
		asyncjob_event *ev = NULL;
		r = asyncjob_next_event(cli->aj, -1, &ev);
		if (r == -EINTR || cli_interrupted)
			return EXIT_OK;   /* Ctrl-C ends a watch; that is its normal end */
		if (r == -ENOBUFS) {
			cli_error(cli, "some events were lost");
			continue;
		}
		if (r < 0)
			return cli_fail(cli, r, "watch");
		const asyncjob_job *job = asyncjob_event_job(ev);
		if (cli->json) {
			puts(asyncjob_event_params_json(ev));
		} else if (job) {
			const char *label = asyncjob_job_label(job);
			const char *err = asyncjob_job_error_code(job);
			printf("%-8llu job %-8llu %-8s %-10s%s%s%s%s\n",
			       (unsigned long long)asyncjob_event_seq(ev),
			       (unsigned long long)asyncjob_job_id(job), asyncjob_job_type(job),
			       asyncjob_state_name(asyncjob_job_state(job)),
			       label ? " label=" : "", label ? label : "",
			       err ? " error=" : "", err ? err : "");
		}
		/* Each event as it comes, also into a pipe. */
		fflush(stdout);
		asyncjob_event_free(ev);
	}
}

const struct cli_command cmd_watch = {
	.name = "watch",
	.args = "[ID...]",
	.summary = "print job events as they happen",
	.help = "\nPrints one line per state change: sequence number, job id, type, state.\n"
		"Without IDs, every job you may see. Runs until Ctrl-C.\n\n"
		"      --since SEQ       first replay the kept events after SEQ (so a watcher\n"
		"                        that reconnects misses nothing)\n"
		"      --json            print each event's params as JSON\n",
	.run = run,
};
