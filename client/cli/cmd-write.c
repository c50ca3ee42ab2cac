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

#include <json-c/json.h>

#include "client/cli/cli.h"
#include "proto/base64.h"
#include "proto/protocol.h"

/* Content up to this size goes in the job's spec (escaped, at most six
 * times as long: within the daemon's default max_request_bytes); more is
 * sent as an upload, in pieces. */
#define INLINE_MAX (64 * 1024)
/* Bytes in one upload piece, at most (base64 makes a third more). */
#define PIECE_MAX (192 * 1024)

/* Reads stdin until `buf` is full or stdin ends: the bytes read, or a
 * negative errno. */
static ssize_t read_stdin(unsigned char *buf, size_t size)
{
	size_t n = 0;

	while (n < size) {
		ssize_t k = read(STDIN_FILENO, buf + n, size - n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		if (k == 0)
			break;
		n += (size_t)k;
	}
	return (ssize_t)n;
}

#define UPLOAD_TOKEN_CHARS ASYNCJOB_UPLOAD_TOKEN_CHARS

static void cli_progress_clear_if(const struct cli *cli)
{
	if (cli_progress_enabled(cli))
		cli_progress_clear();
}

static void show_uploaded(const struct cli *cli, uint64_t bytes)
{
	if (cli_progress_enabled(cli)) {
		fprintf(stderr, "\r\033[Ksending stdin to asyncjobd: %.1f MiB",
			(double)bytes / (1024 * 1024));
		fflush(stderr);
	}
}

/* One upload.write: a piece (or none) and whether it is the last. */
static int send_piece(struct cli *cli, const char *token, const unsigned char *data, size_t len,
		      bool end)
{
	size_t enc_len = base64_encoded_size(len);
	size_t size = enc_len + UPLOAD_TOKEN_CHARS + 96;
	char *params = malloc(size), *result = NULL;
	int n, r;

	if (!params)
		return -ENOMEM;
	n = snprintf(params, size, "{\"upload\":\"%s\",\"end\":%s,\"content_base64\":\"", token,
		     end ? "true" : "false");
	n += (int)base64_encode(data, len, params + n);
	snprintf(params + n, size - (size_t)n, "\"}");
	r = asyncjob_call(cli->aj, "upload.write", params, &result);
	free(params);
	free(result);
	return r;
}

/* Sends `first` and the rest of stdin as an upload; its token in `token`.
 * Returns 0, or an exit code after saying why. */
static int upload_stdin(struct cli *cli, const unsigned char *first, size_t first_len,
			char token[UPLOAD_TOKEN_CHARS + 1])
{
	struct json_object *res, *v;
	unsigned char *buf;
	uint64_t sent = 0;
	size_t piece = PIECE_MAX;
	char *text = NULL;
	int r, code;

	if ((code = cli_connect(cli)) != 0)
		return code;
	r = asyncjob_call(cli->aj, "upload.begin", NULL, &text);
	if (r < 0)
		return cli_fail(cli, r, "sending stdin");
	res = json_tokener_parse(text);
	free(text);
	if (!res || !json_object_object_get_ex(res, "upload", &v) ||
	    json_object_get_string_len(v) != UPLOAD_TOKEN_CHARS) {
		json_object_put(res);
		cli_error(cli, "sending stdin: the daemon gave no upload token");
		return EXIT_RPC_ERROR;
	}
	memcpy(token, json_object_get_string(v), UPLOAD_TOKEN_CHARS + 1);
	/* A daemon that takes smaller requests says how large a piece may be. */
	if (json_object_object_get_ex(res, "max_piece_bytes", &v) && json_object_get_int64(v) > 0 &&
	    (uint64_t)json_object_get_int64(v) < piece)
		piece = (size_t)json_object_get_int64(v);
	json_object_put(res);

	if (!(buf = malloc(piece))) {
		cli_error(cli, "out of memory");
		return EXIT_USAGE;
	}
	for (size_t off = 0; off < first_len && r >= 0; off += piece) {
		size_t k = first_len - off < piece ? first_len - off : piece;
		r = send_piece(cli, token, first + off, k, false);
		sent += k;
		show_uploaded(cli, sent);
	}
	while (r >= 0) {
		ssize_t n = read_stdin(buf, piece);
		if (n < 0) {
			free(buf);
			cli_progress_clear_if(cli);
			cli_error(cli, "reading stdin: %s", strerror((int)-n));
			return EXIT_USAGE;
		}
		/* The last piece says so; an empty one ends an upload whose
		 * length was a multiple of the piece. */
		r = send_piece(cli, token, buf, (size_t)n, (size_t)n < piece);
		sent += (uint64_t)n;
		show_uploaded(cli, sent);
		if ((size_t)n < piece)
			break;
	}
	free(buf);
	cli_progress_clear_if(cli);
	if (r == -EREMOTEIO && asyncjob_rpc_error_code(cli->aj) == -32002) {
		/* A limit of the daemon's (max_upload_bytes, max_spool_bytes). */
		cli_error(cli, "stdin is more than asyncjobd takes now: %s", asyncjob_errmsg(cli->aj));
		return EXIT_RPC_ERROR;
	}
	return r < 0 ? cli_fail(cli, r, "sending stdin") : 0;
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
		{ "perm", required_argument, NULL, 'P' },
		/* Was the permissions, while a spec's "mode" is how it writes. */
		{ "mode", required_argument, NULL, 'M' },
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

	while ((opt = cli_getopt(cli, argc, argv, "acp" CLI_CONTROLS_SHORT, opts, &cmd_write)) != -1) {
		switch (opt) {
		case 'a': mode = "append"; break;
		case 'c': mode = "create"; break;
		case 'F': no_fsync = true; break;
		case 'P': perm = optarg; break;
		case 'M':
			return cli_usage_error(cli, "--mode %s: the permissions are --perm %s (a write's "
					       "mode is --append or --create)", optarg, optarg);
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
			return cli_usage_error(cli, "--perm %s: expected an octal mode such as 0600", perm);
	}

	const char *text = optind + 1 < argc ? argv[optind + 1] : "-";
	char token[UPLOAD_TOKEN_CHARS + 1] = "";
	if (strcmp(text, "-") == 0) {
		/* A little more than fits inline tells which way it goes. */
		data = malloc(INLINE_MAX + 1);
		ssize_t n = data ? read_stdin(data, INLINE_MAX + 1) : -ENOMEM;
		if (n < 0) {
			free(data);
			cli_error(cli, "reading stdin: %s", strerror((int)-n));
			return EXIT_USAGE;
		}
		len = (size_t)n;
		if (len > INLINE_MAX) {
			code = upload_stdin(cli, data, len, token);
			free(data);
			data = NULL;
			len = 0;
			if (code != 0)
				return code;
		}
	}
	int r;
	if (token[0]) {
		/* The spec names the upload in place of content. */
		struct json_object *o = json_object_new_object();
		json_object_object_add(o, "type", json_object_new_string("write"));
		json_object_object_add(o, "path", json_object_new_string(path));
		json_object_object_add(o, "upload", json_object_new_string(token));
		r = asyncjob_spec_from_json(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN),
					    &spec);
		json_object_put(o);
	} else {
		r = asyncjob_spec_write(path, data ? (const void *)data : text,
					data ? len : strlen(text), &spec);
	}
	free(data);
	if (r < 0) {
		asyncjob_spec_free(spec);
		cli_error(cli, "out of memory");
		return EXIT_USAGE;
	}
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
		"the new, never a mix. stdin may be as large as the daemon's max_upload_bytes\n"
		"(1 GiB by default): more than 64 KiB is sent in pieces, kept on disk.\n\n"
		"  -a, --append          append instead of replacing\n"
		"  -c, --create          fail if the file exists (and leave it alone)\n"
		"      --no-fsync        do not wait for the data to reach the disk\n"
		"      --perm MODE       permissions of a new file, e.g. 0600 (default 0644)\n"
		"  -p, --mkdirs          create missing directories\n"
		CLI_CONTROLS_HELP
		"      --detach          print the job id and return at once\n"
		"      --json            print the job object\n"
		"\nExample: asyncjob write example.txt 'Hello, World!'\n",
	.run = run,
};
