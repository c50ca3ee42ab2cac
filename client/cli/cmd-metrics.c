/* asyncjob metrics: the daemon's metrics, as a Prometheus scrape sees them. */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include <json-c/json.h>

#include "client/cli/cli.h"

static int run(struct cli *cli, int argc, char **argv)
{
	struct json_object *reply, *text;
	char *json = NULL;
	int opt, code, r;

	while ((opt = cli_getopt(cli, argc, argv, "", NULL, &cmd_metrics)) != -1)
		return EXIT_USAGE;
	if (optind != argc)
		return cli_usage_error(cli, "unexpected argument '%s'", argv[optind]);
	if ((code = cli_connect(cli)) != 0)
		return code;
	r = asyncjob_call(cli->aj, "daemon.metrics", NULL, &json);
	if (r < 0)
		return cli_fail(cli, r, "metrics");
	if (cli->json) {
		puts(json);
		free(json);
		return EXIT_OK;
	}
	reply = json_tokener_parse(json);
	free(json);
	if (!reply || !json_object_object_get_ex(reply, "text", &text)) {
		json_object_put(reply);
		cli_error(cli, "metrics: the daemon's reply has no text");
		return EXIT_RPC_ERROR;
	}
	fwrite(json_object_get_string(text), 1, (size_t)json_object_get_string_len(text), stdout);
	json_object_put(reply);
	return EXIT_OK;
}

const struct cli_command cmd_metrics = {
	.name = "metrics",
	.args = "",
	.summary = "print the daemon's metrics (Prometheus text format)",
	.help = "\nPrints what a Prometheus scrape of the daemon's metrics_listen would get:\n"
		"jobs by type and state, run durations, fetch bytes and statuses, write\n"
		"bytes, connections, workers, the loop's lag as timers see it, the store's\n"
		"commits.\n\n"
		"      --json            print daemon.metrics' result as JSON\n",
	.run = run,
};
