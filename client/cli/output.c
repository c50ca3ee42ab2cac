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
 * a terminal and compact in a pipe, text as it is, binary as the bytes,
 * but not onto a terminal (curl's rule: it can leave the terminal in a
 * state its user cannot read). A body saved to a file is named when
 * `files_said`. */
static void print_fetch_body(const struct cli *cli, const asyncjob_job *job, bool files_said)
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
		if (isatty(STDOUT_FILENO)) {
			struct json_object *bytes_v;
			long long bytes = json_object_object_get_ex(result, "bytes", &bytes_v)
				? (long long)json_object_get_int64(bytes_v) : -1;
			cli_error(cli, "job %llu: a binary body (%lld bytes) is not printed on a "
				  "terminal; redirect it (> FILE), or fetch with -o FILE",
				  (unsigned long long)asyncjob_job_id(job), bytes);
		} else {
			unsigned char *bytes = malloc(base64_decoded_max(len) + 1);
			long n = bytes ? base64_decode(b64, len, bytes) : -1;
			if (n > 0)
				fwrite(bytes, 1, (size_t)n, stdout);
			free(bytes);
		}
	} else if (files_said && json_object_object_get_ex(result, "saved_to", &v)) {
		struct json_object *bytes_v;
		printf("saved to %s (%lld bytes)\n", json_object_get_string(v),
		       json_object_object_get_ex(result, "bytes", &bytes_v)
		       ? (long long)json_object_get_int64(bytes_v) : -1LL);
	}
	/* saved_to in the foreground: the file is the output, as with curl -o. */
	json_object_put(result);
}

static void print_output(const struct cli *cli, const asyncjob_job *job, bool files_said)
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
		print_fetch_body(cli, job, files_said);
		return;
	}
	if (type && strcmp(type, "write") == 0) {
		/* In the foreground like cp(1): the file is the output. */
		const char *path = asyncjob_job_result_string(job, "path");
		double bytes = 0;
		if (files_said && path && asyncjob_job_result_number(job, "bytes", &bytes) == 0)
			printf("wrote %s (%.0f bytes)\n", path, bytes);
		return;
	}
	const char *result = asyncjob_job_result_json(job);
	if (result)
		puts(result);
}

void cli_print_job_output(const struct cli *cli, const asyncjob_job *job)
{
	print_output(cli, job, false);
}

void cli_print_job_result(const struct cli *cli, const asyncjob_job *job)
{
	print_output(cli, job, true);
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
