/* asyncjob watch: job events as they happen. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/cli/cli.h"
#include "proto/jsonw.h"

/* The reply to events.subscribe: it comes after the replay of kept
 * events, which may be long, so the watch prints events while it waits. */
struct subscribed {
	bool answered;
	int status;            /* 0, or the request failed */
	int error_code;
	char error[512];
	bool missed;
	uint64_t since;
};

static void on_subscribed(asyncjob *aj, const asyncjob_reply *reply, void *userdata)
{
	struct subscribed *sub = userdata;
	(void)aj;

	sub->answered = true;
	sub->status = asyncjob_reply_status(reply);
	if (sub->status < 0) {
		const char *msg = asyncjob_reply_error_message(reply);
		sub->error_code = asyncjob_reply_error_code(reply);
		snprintf(sub->error, sizeof(sub->error), "%s", msg ? msg : "the daemon refused");
		return;
	}
	sub->missed = asyncjob_reply_flag(reply, "missed");
}

/* Every line of `watch --json` has one shape: {"event", "seq", "job"}.
 * A state change (job.updated) has its sequence number and the job as of
 * it; progress (job.progress) is not numbered (seq null) and its job has
 * the id, "state": "running" and the progress. */
static void print_json_event(const asyncjob_event *ev)
{
	const char *method = asyncjob_event_method(ev);
	const char *params = asyncjob_event_params_json(ev);

	if (strcmp(method, "job.updated") == 0 && params[0] == '{')
		printf("{\"event\":\"updated\",%s\n", params + 1);
	else if (strcmp(method, "job.progress") == 0 && params[0] == '{')
		printf("{\"event\":\"progress\",\"seq\":null,\"job\":{\"state\":\"running\",%s}\n",
		       params + 1);
}

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
	struct subscribed sub = { .since = since };
	struct jsonw params;
	jsonw_init(&params);
	jsonw_object_begin(&params);
	if (n > 0) {
		jsonw_key(&params, "ids");
		jsonw_array_begin(&params);
		for (size_t i = 0; i < n; i++)
			jsonw_uint(&params, ids[i]);
		jsonw_array_end(&params);
	}
	if (have_since) {
		jsonw_key(&params, "since");
		jsonw_uint(&params, since);
	}
	jsonw_object_end(&params);
	jsonw_raw(&params, "", 1);   /* the terminating NUL */
	free(ids);
	if (params.failed) {
		jsonw_release(&params);
		return cli_fail(cli, -ENOMEM, "subscribe");
	}
	r = asyncjob_send_call(cli->aj, "events.subscribe", params.buf, on_subscribed, &sub);
	jsonw_release(&params);
	if (r < 0)
		return cli_fail(cli, r, "subscribe");

	cli_catch_interrupts();
	for (;;) {
		asyncjob_event *ev = NULL;
		bool was_answered = sub.answered;
		r = asyncjob_next_event(cli->aj, sub.answered ? -1 : 100, &ev);
		if (sub.answered && !was_answered) {
			if (sub.status < 0) {
				cli_error(cli, "watch: %s", sub.error);
				return EXIT_RPC_ERROR;
			}
			if (sub.missed)
				cli_error(cli, "some events after %llu were no longer kept "
					  "(event_history); the replay starts later",
					  (unsigned long long)sub.since);
		}
		if (r == -EINTR || cli_interrupted)
			return EXIT_OK;   /* Ctrl-C ends a watch; that is its normal end */
		if (r == -ETIMEDOUT)
			continue;
		if (r == -ENOBUFS) {
			cli_error(cli, "some events were lost");
			continue;
		}
		if (r < 0)
			return cli_fail(cli, r, "watch");
		const asyncjob_job *job = asyncjob_event_job(ev);
		if (cli->json) {
			print_json_event(ev);
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
		"      --json            print each event as one JSON line:\n"
		"                        {\"event\": \"updated\", \"seq\": N, \"job\": {...}} for a\n"
		"                        state change, {\"event\": \"progress\", \"seq\": null,\n"
		"                        \"job\": {\"id\", \"state\", \"progress\"}} while a fetch runs\n",
	.run = run,
};
