/* asyncjob write: the seed's aiofiles example through the daemon. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/cli/cli.h"

/* Reads all of stdin, bytes as they are. */
static int slurp_stdin(unsigned char **ret, size_t *ret_len)
{
	size_t len = 0, cap = 65536;
	unsigned char *buf = malloc(cap);
	size_t n;

	if (!buf)
		return -ENOMEM;
	while ((n = fread(buf + len, 1, cap - len, stdin)) > 0) {
		len += n;
		if (len == cap) {
			unsigned char *p = realloc(buf, cap * 2);
			if (!p) {
				free(buf);
				return -ENOMEM;
			}
			buf = p;
			cap *= 2;
		}
	}
	if (ferror(stdin)) {
		free(buf);
		return -EIO;
	}
	*ret = buf;
	*ret_len = len;
	return 0;
}

/* Appends the components of `rel` to the directory `dir` (absolute, no
 * symlink, no "." or ".."), as the kernel would walk them: "." stays, ".."
 * goes up. A component that exists is looked at: a symlink to a directory
 * is followed (realpath), so that "link/.." means what it means to the
 * shell, not what it looks like. The last component is left as it is
 * (unless "." or ".."): the daemon has its own rule for a symlink there. */
static int walk_relative(char *dir, size_t size, const char *rel)
{
	const char *p = rel;

	while (*p) {
		const char *end = strchr(p, '/');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		const char *next = end ? end + 1 : p + n;
		bool last = true;
		for (const char *q = next; *q; q++)
			if (*q != '/')
				last = false;

		if (n == 0 || (n == 1 && p[0] == '.')) {
			/* nothing */
		} else if (n == 2 && p[0] == '.' && p[1] == '.') {
			char *slash = strrchr(dir, '/');
			if (slash == dir)
				dir[1] = '\0';
			else if (slash)
				*slash = '\0';
		} else {
			size_t len = strlen(dir);
			if (len + 1 + n + 1 > size)
				return -ENAMETOOLONG;
			if (len > 1)
				dir[len++] = '/';
			memcpy(dir + len, p, n);
			dir[len + n] = '\0';
			if (!last) {
				/* Inside: what the kernel would find there. A name
				 * that does not exist yet (--mkdirs) stays as written. */
				char real[PATH_MAX];
				if (realpath(dir, real)) {
					if (strlen(real) + 1 > size)
						return -ENAMETOOLONG;
					strcpy(dir, real);
				}
			}
		}
		p = next;
	}
	return 0;
}

int cli_absolute_path(const char *path, char *buf, size_t size)
{
	char cwd[PATH_MAX];

	/* An absolute path goes as typed: the daemon's rules apply to it. */
	if (path[0] == '/')
		return snprintf(buf, size, "%s", path) < (int)size ? 0 : -ENAMETOOLONG;
	/* A relative one means what it means to the shell here: "./x",
	 * "../files/x" and "link/../x" are resolved from this directory. */
	if (!getcwd(cwd, sizeof(cwd)))
		return -errno;
	if (strlen(cwd) + 1 > size)
		return -ENAMETOOLONG;
	strcpy(buf, cwd);
	return walk_relative(buf, size, path);
}

static int run(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "append", no_argument, NULL, 'a' },
		{ "create", no_argument, NULL, 'c' },
		{ "no-fsync", no_argument, NULL, 'F' },
		{ "mode", required_argument, NULL, 'm' },
		{ "mkdirs", no_argument, NULL, 'p' },
		CLI_CONTROLS_LONG,
		{ NULL, 0, NULL, 0 },
	};
	struct cli_controls controls = { 0 };
	const char *mode = NULL, *perm = NULL;
	bool no_fsync = false, mkdirs = false;
	unsigned char *data = NULL;
	size_t len = 0;
	char path[PATH_MAX];
	asyncjob_spec *spec = NULL;
	int opt, code;

	while ((opt = cli_getopt(cli, argc, argv, "acm:p" CLI_CONTROLS_SHORT, opts, &cmd_write)) != -1) {
		switch (opt) {
		case 'a': mode = "append"; break;
		case 'c': mode = "create"; break;
		case 'F': no_fsync = true; break;
		case 'm': perm = optarg; break;
		case 'p': mkdirs = true; break;
		default:
			if (!cli_controls_take(&controls, opt, optarg))
				return EXIT_USAGE;
		}
	}
	if (optind >= argc || argc - optind > 2)
		return cli_usage_error(cli, "expected PATH and optionally TEXT (or - for stdin)");
	if (cli_absolute_path(argv[optind], path, sizeof(path)) < 0)
		return cli_usage_error(cli, "%s: path too long", argv[optind]);
	if (perm) {
		char *end;
		unsigned long m = strtoul(perm, &end, 8);
		if (!*perm || *end || m > 0777)
			return cli_usage_error(cli, "--mode %s: expected an octal mode such as 0600", perm);
	}

	const char *text = optind + 1 < argc ? argv[optind + 1] : "-";
	if (strcmp(text, "-") == 0) {
		int r = slurp_stdin(&data, &len);
		if (r < 0) {
			cli_error(cli, "reading stdin: %s", strerror(-r));
			return EXIT_USAGE;
		}
	}
	if (asyncjob_spec_write(path, data ? (const void *)data : text, data ? len : strlen(text),
				&spec) < 0) {
		free(data);
		cli_error(cli, "out of memory");
		return EXIT_USAGE;
	}
	free(data);
	if (mode)
		asyncjob_spec_set_string(spec, "mode", mode);
	if (no_fsync)
		asyncjob_spec_set_bool(spec, "fsync", false);
	if (perm)
		asyncjob_spec_set_string(spec, "perm", perm);
	if (mkdirs)
		asyncjob_spec_set_bool(spec, "mkdirs", true);
	code = cli_apply_controls(cli, spec, &controls);
	if (code == 0)
		code = cli_submit_and_follow(cli, spec);
	asyncjob_spec_free(spec);
	return code;
}

const struct cli_command cmd_write = {
	.name = "write",
	.args = "PATH [TEXT]",
	.summary = "write TEXT (or stdin) to a file",
	.help = "\nWrites TEXT, or stdin when TEXT is - or missing (any bytes), to PATH\n"
		"(relative to this directory; it must lie beneath the daemon's write roots).\n"
		"By default the file is replaced atomically: readers see the old content or\n"
		"the new, never a mix.\n\n"
		"  -a, --append          append instead of replacing\n"
		"  -c, --create          fail if the file exists (and leave it alone)\n"
		"      --no-fsync        do not wait for the data to reach the disk\n"
		"  -m, --mode MODE       permissions of a new file, e.g. 0600 (default 0644)\n"
		"  -p, --mkdirs          create missing directories\n"
		CLI_CONTROLS_HELP
		"      --detach          print the job id and return at once\n"
		"      --json            print the job object\n"
		"\nExample: asyncjob write example.txt 'Hello, World!'\n",
	.run = run,
};
