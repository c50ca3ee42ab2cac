/* asyncjob info: what the daemon says about itself. */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include <json-c/json.h>

#include "client/cli/cli.h"

static const char *str(struct json_object *o, const char *k)
{
	struct json_object *v;
	return json_object_object_get_ex(o, k, &v) ? json_object_get_string(v) : "?";
}

static int run(struct cli *cli, int argc, char **argv)
{
	struct json_object *info, *jobs, *limits;
	char *text = NULL;
	int opt, code, r;

	while ((opt = cli_getopt(cli, argc, argv, "", NULL, &cmd_info)) != -1)
		return EXIT_USAGE;
	if (optind != argc)
		return cli_usage_error(cli, "unexpected argument '%s'", argv[optind]);
	if ((code = cli_connect(cli)) != 0)
		return code;
	r = asyncjob_info(cli->aj, &text);
	if (r < 0)
		return cli_fail(cli, r, "info");
	if (cli->json) {
		puts(text);
		free(text);
		return EXIT_OK;
	}
	info = json_tokener_parse(text);
	free(text);
	printf("asyncjobd %s, pid %s, up %s s, socket %s\n", str(info, "version"), str(info, "pid"),
	       str(info, "uptime"), asyncjob_socket_path(cli->aj));
	if (json_object_object_get_ex(info, "jobs", &jobs))
		printf("jobs: %s queued, %s running, %s succeeded, %s failed, %s canceled\n",
		       str(jobs, "queued"), str(jobs, "running"), str(jobs, "succeeded"),
		       str(jobs, "failed"), str(jobs, "canceled"));
	printf("connections: %s, subscribers: %s\n", str(info, "connections"),
	       str(info, "subscribers"));
	struct json_object *roots;
	if (json_object_object_get_ex(info, "write_roots", &roots)) {
		/* Where writes and fetch -o may go. */
		size_t n = json_object_array_length(roots);
		printf("write roots:%s\n", n ? "" : " none (writes are refused)");
		for (size_t i = 0; i < n; i++) {
			struct json_object *root = json_object_array_get_idx(roots, i), *open;
			bool is_open = json_object_object_get_ex(root, "open", &open) &&
				       json_object_get_boolean(open);
			printf("  %s%s\n", str(root, "path"),
			       is_open ? "" : " (missing at start; used once it exists)");
		}
	}
	if (json_object_object_get_ex(info, "limits", &limits)) {
		printf("limits:\n");
		struct json_object_iter it;
		json_object_object_foreachC(limits, it)
			printf("  %-28s %s\n", it.key, json_object_get_string(it.val));
	}
	json_object_put(info);
	return EXIT_OK;
}

const struct cli_command cmd_info = {
	.name = "info",
	.args = "",
	.summary = "show the daemon's version, job counts, write roots and limits",
	.help = "\n      --json            print daemon.info's result as JSON\n",
	.run = run,
};
