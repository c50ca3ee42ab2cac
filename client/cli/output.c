/* How asyncjob shows jobs: what a job returned (as the seed's print()),
 * one-line summaries, details, and JSON for scripts. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "client/cli/cli.h"

void cli_print_job_json(const asyncjob_job *job)
{
	puts(asyncjob_job_json(job));
}

void cli_report_failure(const struct cli *cli, const asyncjob_job *job)
{
	const char *state = asyncjob_state_name(asyncjob_job_state(job));
	const char *code = asyncjob_job_error_code(job);
	const char *msg = asyncjob_job_error_message(job);
	char why[64] = "";
	(void)cli;

	/* "failed (timeout)", but just "canceled" when the code says no more. */
	if (code && strcmp(code, state) != 0)
		snprintf(why, sizeof(why), " (%s)", code);
	fprintf(stderr, "asyncjob: job %llu (%s) %s%s%s%s\n",
		(unsigned long long)asyncjob_job_id(job), asyncjob_job_type(job), state, why,
		msg && *msg ? ": " : "", msg ? msg : "");
}

void cli_print_job_output(const struct cli *cli, const asyncjob_job *job)
{
	if (cli->json) {
		cli_print_job_json(job);
		return;
	}
	if (asyncjob_job_state(job) != ASYNCJOB_SUCCEEDED) {
		cli_report_failure(cli, job);
		return;
	}
	const char *type = asyncjob_job_type(job);
	if (type && strcmp(type, "sleep") == 0) {
		/* A sleep says its message, like the seed's greet(). */
		const char *message = asyncjob_job_result_string(job, "message");
		if (message)
			puts(message);
		return;
	}
	const char *result = asyncjob_job_result_json(job);
	if (result)
		puts(result);
}

void cli_print_job_summary(const asyncjob_job *job)
{
	const char *label = asyncjob_job_label(job);
	printf("%-8llu %-8s %-10s %-25s %s\n", (unsigned long long)asyncjob_job_id(job),
	       asyncjob_job_type(job), asyncjob_state_name(asyncjob_job_state(job)),
	       asyncjob_job_submitted_at(job) ? asyncjob_job_submitted_at(job) : "-",
	       label ? label : "");
}

void cli_print_job_details(const asyncjob_job *job)
{
	const char *s;

	printf("job %llu (%s): %s\n", (unsigned long long)asyncjob_job_id(job),
	       asyncjob_job_type(job), asyncjob_state_name(asyncjob_job_state(job)));
	if ((s = asyncjob_job_label(job)))
		printf("  label:      %s\n", s);
	if ((s = asyncjob_job_submitted_at(job)))
		printf("  submitted:  %s\n", s);
	if ((s = asyncjob_job_started_at(job)))
		printf("  started:    %s\n", s);
	if ((s = asyncjob_job_finished_at(job)))
		printf("  finished:   %s\n", s);
	if ((s = asyncjob_job_result_json(job)))
		printf("  result:     %s\n", s);
	if ((s = asyncjob_job_error_code(job)))
		printf("  error:      %s: %s\n", s,
		       asyncjob_job_error_message(job) ? asyncjob_job_error_message(job) : "");
}

int cli_job_exit_code(const asyncjob_job *job)
{
	return asyncjob_job_state(job) == ASYNCJOB_SUCCEEDED ? EXIT_OK : EXIT_JOB_FAILED;
}
