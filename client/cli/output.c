/* How asyncjob shows jobs: what a job returned (as the seed's print()),
 * one-line summaries, details, and JSON for scripts. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "client/cli/cli.h"
#include "proto/base64.h"

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

/* A fetch prints its body as the seed's print(data) would: JSON pretty on
 * a terminal and compact in a pipe, text as it is, binary as the bytes. */
static void print_fetch_body(const asyncjob_job *job)
{
	struct json_object *result = json_tokener_parse(asyncjob_job_result_json(job));
	struct json_object *v;

	if (json_object_object_get_ex(result, "json", &v)) {
		int flags = JSON_C_TO_STRING_NOSLASHESCAPE |
			    (isatty(STDOUT_FILENO) ? JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED
						   : JSON_C_TO_STRING_PLAIN);
		puts(json_object_to_json_string_ext(v, flags));
	} else if (json_object_object_get_ex(result, "text", &v)) {
		fwrite(json_object_get_string(v), 1, (size_t)json_object_get_string_len(v), stdout);
	} else if (json_object_object_get_ex(result, "body_base64", &v)) {
		const char *b64 = json_object_get_string(v);
		size_t len = (size_t)json_object_get_string_len(v);
		unsigned char *bytes = malloc(base64_decoded_max(len) + 1);
		long n = bytes ? base64_decode(b64, len, bytes) : -1;
		if (n > 0)
			fwrite(bytes, 1, (size_t)n, stdout);
		free(bytes);
	}
	/* saved_to: the file is the output; nothing to print. */
	json_object_put(result);
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
	if (type && strcmp(type, "fetch") == 0) {
		print_fetch_body(job);
		return;
	}
	if (type && strcmp(type, "write") == 0)
		return;   /* like cp(1): the file is the output */
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
