/* asyncjob submit: any job spec as JSON. */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/cli/cli.h"
#include "proto/json.h"

/* Reads all of stdin into a string (for "-"). */
static char *read_stdin(void)
{
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap);
	size_t n;

	if (!buf)
		return NULL;
	while ((n = fread(buf + len, 1, cap - len - 1, stdin)) > 0) {
		len += n;
		if (cap - len < 2) {
			char *p = realloc(buf, cap * 2);
			if (!p) {
				free(buf);
				return NULL;
			}
			buf = p;
			cap *= 2;
		}
	}
	buf[len] = '\0';
	return buf;
}

/* Why a spec is refused: not JSON (what is wrong, and where), or JSON
 * that is not an object. */
static int spec_refused(const struct cli *cli, const char *text)
{
	static const char *const kinds[] = {
		[JSON_NULL] = "null", [JSON_BOOL] = "true or false", [JSON_NUMBER] = "a number",
		[JSON_STRING] = "a string", [JSON_ARRAY] = "an array", [JSON_OBJECT] = "an object",
	};
	struct json_parser parser;
	const struct json_value *v;
	const char *why;
	int code;

	json_parser_init(&parser, 512);
	if (json_parse(&parser, text, strlen(text), &v, &why) < 0) {
		size_t at = json_parse_error_offset(&parser);
		if (at >= strlen(text))
			code = cli_usage_error(cli, "the job spec is not valid JSON: it ends too "
					       "soon (%s)", why);
		else
			code = cli_usage_error(cli, "the job spec is not valid JSON: %s at byte %zu",
					       why, at + 1);
	} else
		code = cli_usage_error(cli, "the job spec must be a JSON object, such as "
				       "'{\"type\":\"sleep\",\"seconds\":1}', not %s",
				       kinds[v->type]);
	json_parser_release(&parser);
	return code;
}

static int run(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_CONTROLS_LONG,
		{ NULL, 0, NULL, 0 },
	};
	struct cli_controls controls = { 0 };
	asyncjob_spec *spec = NULL;
	char *text = NULL;
	int opt, code;

	while ((opt = cli_getopt(cli, argc, argv, CLI_CONTROLS_SHORT, opts, &cmd_submit)) != -1)
		if (!cli_controls_take(&controls, opt, optarg))
			return EXIT_USAGE;
	if (optind != argc - 1)
		return cli_usage_error(cli, "expected one JSON job spec (or - to read it from stdin)");
	if (strcmp(argv[optind], "-") == 0 && !(text = read_stdin())) {
		cli_error(cli, "cannot read stdin");
		return EXIT_USAGE;
	}
	if (asyncjob_spec_from_json(text ? text : argv[optind], &spec) < 0) {
		code = spec_refused(cli, text ? text : argv[optind]);
		free(text);
		return code;
	}
	free(text);
	code = cli_apply_controls(cli, spec, &controls);
	if (code == 0)
		code = cli_submit_and_follow(cli, spec);
	asyncjob_spec_free(spec);
	return code;
}

const struct cli_command cmd_submit = {
	.name = "submit",
	.args = "JSON",
	.summary = "submit any job given as a JSON spec",
	.help = "\nJSON is a job spec such as '{\"type\":\"sleep\",\"seconds\":1,\"message\":\"hi\"}',\n"
		"or - to read it from stdin. The command waits for the job and prints what\n"
		"it returns; Ctrl-C cancels it.\n\n"
		CLI_CONTROLS_HELP
		"      --detach          print the job id and return at once\n"
		"      --json            print the job object\n",
	.run = run,
};
