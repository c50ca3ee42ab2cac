/* asyncjob gather: several jobs at once, like asyncio.gather(). */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/cli/cli.h"

struct specs {
	asyncjob_spec **v;
	size_t n, cap;
};

static bool add_spec(struct specs *s, asyncjob_spec *spec)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		asyncjob_spec **v = realloc(s->v, cap * sizeof(*v));
		if (!v)
			return false;
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n++] = spec;
	return true;
}

static void free_specs(struct specs *s)
{
	for (size_t i = 0; i < s->n; i++)
		asyncjob_spec_free(s->v[i]);
	free(s->v);
}

/* One job per line: JSON specs, or the same words as arguments take. */
static int read_specs(const struct cli *cli, FILE *in, struct specs *s)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	unsigned lineno = 0;

	while ((n = getline(&line, &cap, in)) >= 0) {
		lineno++;
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		if (strspn(line, " \t") == (size_t)n)
			continue;
		char where[32];
		snprintf(where, sizeof(where), "stdin line %u", lineno);
		asyncjob_spec *spec = cli_spec_from_words(cli, line, where);
		if (!spec) {
			free(line);
			return EXIT_USAGE;
		}
		if (!add_spec(s, spec)) {
			asyncjob_spec_free(spec);
			free(line);
			return EXIT_USAGE;
		}
	}
	free(line);
	return 0;
}

static void on_event(asyncjob *aj, const asyncjob_event *ev, void *userdata)
{
	(void)aj;
	(void)userdata;
	if (strcmp(asyncjob_event_method(ev), "gather.progress") != 0)
		return;
	/* {"id":..,"done":N,"total":M}: read the two counters by hand. */
	const char *p = asyncjob_event_params_json(ev);
	const char *d = strstr(p, "\"done\":"), *t = strstr(p, "\"total\":");
	if (d && t)
		cli_progress_show("gather", strtoull(d + 7, NULL, 10), strtoull(t + 8, NULL, 10));
}

struct detach_state {
	const struct cli *cli;
	size_t left;
	int code;
	asyncjob_job **jobs;
};

static void on_submitted(asyncjob *aj, const asyncjob_reply *reply, void *userdata)
{
	struct detach_state *st = userdata;
	asyncjob_job *job;
	(void)aj;

	st->left--;
	if (asyncjob_reply_job(reply, &job) < 0) {
		cli_error(st->cli, "%s", asyncjob_reply_error_message(reply));
		st->code = EXIT_RPC_ERROR;
		return;
	}
	if (st->cli->json)
		cli_print_job_json(job);
	else
		printf("%llu\n", (unsigned long long)asyncjob_job_id(job));
	asyncjob_job_unref(job);
}

/* --detach: pipeline one job.submit per spec, print the ids in order. */
static int run_detached(struct cli *cli, struct specs *s)
{
	struct detach_state st = { .cli = cli, .left = s->n };

	for (size_t i = 0; i < s->n; i++) {
		int r = asyncjob_send_submit(cli->aj, s->v[i], 0, on_submitted, &st);
		if (r < 0)
			return cli_fail(cli, r, "submitting");
	}
	/* The library's async API driven by poll(2), as any event loop would. */
	while (st.left > 0) {
		int want = asyncjob_events(cli->aj);
		struct pollfd p = {
			.fd = asyncjob_fd(cli->aj),
			.events = (short)((want & ASYNCJOB_EV_READ ? POLLIN : 0) |
					  (want & ASYNCJOB_EV_WRITE ? POLLOUT : 0)),
		};
		if (poll(&p, 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			return cli_fail(cli, -errno, "poll");
		}
		int ready = (p.revents & (POLLIN | POLLHUP | POLLERR) ? ASYNCJOB_EV_READ : 0) |
			    (p.revents & POLLOUT ? ASYNCJOB_EV_WRITE : 0);
		int r = asyncjob_process(cli->aj, ready);
		if (r < 0)
			return cli_fail(cli, r, "submitting");
	}
	return st.code;
}

static int run(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "fail-fast", no_argument, NULL, 'f' },
		{ "timeout", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	struct specs s = { 0 };
	asyncjob_job **jobs = NULL;
	unsigned flags = ASYNCJOB_CANCEL_ON_DISCONNECT;
	double timeout = 0;
	bool ok = false;
	int opt, code = EXIT_OK, r;

	while ((opt = cli_getopt(cli, argc, argv, "ft:", opts, &cmd_gather)) != -1) {
		switch (opt) {
		case 'f': flags |= ASYNCJOB_FAIL_FAST; break;
		case 't':
			if (!cli_parse_seconds(cli, optarg, "--timeout", &timeout))
				return EXIT_USAGE;
			break;
		default: return EXIT_USAGE;
		}
	}
	if (optind == argc || (optind == argc - 1 && strcmp(argv[optind], "-") == 0)) {
		code = read_specs(cli, stdin, &s);
	} else {
		for (int i = optind; i < argc && code == EXIT_OK; i++) {
			asyncjob_spec *spec = cli_spec_from_words(cli, argv[i], NULL);
			if (!spec || !add_spec(&s, spec)) {
				asyncjob_spec_free(spec);
				code = EXIT_USAGE;
			}
		}
	}
	if (code == EXIT_OK && s.n == 0)
		code = cli_usage_error(cli, "no jobs given (as arguments, or one per line on stdin)");
	if (code != EXIT_OK)
		goto out;
	if ((code = cli_connect(cli)) != 0)
		goto out;
	if (cli->detach) {
		code = run_detached(cli, &s);
		goto out;
	}

	bool progress = cli_progress_enabled(cli);
	if (progress) {
		flags |= ASYNCJOB_PROGRESS;
		asyncjob_set_event_handler(cli->aj, on_event, NULL);
		cli_progress_show("gather", 0, s.n);
	}
	cli_catch_interrupts();
	r = asyncjob_gather(cli->aj, s.v, s.n, flags, timeout, &jobs, &ok);
	if (progress)
		cli_progress_clear();
	if (r == -EINTR || cli_interrupted) {
		code = EXIT_INTERRUPTED;
		/* After a restart its jobs are tied to no connection. */
		if (cli->went_away) {
			cli_cancel_jobs(cli, cli->followed, cli->n_followed);
			goto out;
		}
		/* The gather asked for cancel_on_disconnect: closing the
		 * connection on exit cancels its jobs. */
		if (!cli->quiet)
			fprintf(stderr, "asyncjob: interrupted: the gather's %zu job(s) are canceled\n",
				s.n);
		goto out;
	}
	if (r < 0) {
		code = cli_fail(cli, r, "gather");
		goto out;
	}
	for (size_t i = 0; jobs[i]; i++)
		cli_print_job_output(cli, jobs[i]);
	code = ok ? EXIT_OK : EXIT_JOB_FAILED;
out:
	asyncjob_jobs_free(jobs);
	free_specs(&s);
	return code;
}

const struct cli_command cmd_gather = {
	.name = "gather",
	.args = "JOB... | -",
	.summary = "run jobs together, print their results in order",
	.help = "\nEach JOB is one argument: 'sleep SECONDS [MESSAGE]', 'fetch URL', 'write PATH\n"
		"TEXT' or a JSON spec. Options of the job's own command may follow its word:\n"
		"'fetch --fail -o out.json URL', 'write -a log.txt line', 'sleep -l tea 1 x'\n"
		"(-l, -t, -k, --at, --in for all; --fail, -X, -o, --max-bytes, --no-fsync for\n"
		"fetch; -a, -c, -p, --perm, --no-fsync for write). With no\n"
		"JOB, or -, jobs are read from stdin, one per line. All start at once; the\n"
		"command waits for all and prints each one's result in the order given.\n"
		"On a terminal, a live 'n/N done' line shows progress. Ctrl-C cancels them.\n\n"
		"  -f, --fail-fast       the first job to fail cancels the others\n"
		"  -t, --timeout S       fail jobs still unfinished after S seconds\n"
		"      --detach          submit the jobs, print their ids, return at once\n"
		"      --json            print the job objects, one per line\n"
		"\nExample: asyncjob gather 'sleep 1 Hello' 'sleep 1 World'\n",
	.run = run,
};
