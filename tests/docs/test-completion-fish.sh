#!/bin/bash
# The fish completion for asyncjob, in a real fish: it offers every command
# and every long option each command's --help lists, file names where a path
# goes, and the ids of your jobs from a real asyncjobd on a temporary socket.
# Skipped (77) where fish is not installed.
set -u
export LC_ALL=C

: "${ASYNCJOB_SRCDIR:?ASYNCJOB_SRCDIR must name the source directory}"
: "${ASYNCJOB_CLI:?ASYNCJOB_CLI must name the asyncjob binary}"
: "${ASYNCJOBD:?ASYNCJOBD must name the asyncjobd binary}"

command -v fish >/dev/null 2>&1 || { echo "# skipped: fish is not installed"; exit 77; }
exec </dev/null
SCRIPT=$ASYNCJOB_SRCDIR/completion/asyncjob.fish
TMP=$(mktemp -d "${TMPDIR:-/tmp}/asyncjob-fish.XXXXXX") || exit 99
SOCK=$TMP/asyncjobd.sock
DAEMON_PID=
failures=0
checks=0

cleanup() {
	if [ -n "$DAEMON_PID" ]; then
		kill -TERM "$DAEMON_PID" 2>/dev/null
		wait "$DAEMON_PID" 2>/dev/null
	fi
	rm -rf "$TMP"
}
trap cleanup EXIT

fail() {
	echo "not ok - $*"
	failures=$((failures + 1))
}

# offers WHAT LINE EXPECTED...: completing LINE (the text before the
# cursor) offers each EXPECTED word; asyncjob is the CLI just built.
offers() {
	local what=$1 line=$2 offered
	shift 2
	offered=$(PATH=$TMP/cli:$PATH HOME=$TMP fish --no-config -c \
		'source $argv[1]; complete -C"$argv[2]"' "$SCRIPT" "$line" | cut -f1)
	for w in "$@"; do
		checks=$((checks + 1))
		grep -qxF -- "$w" <<<"$offered" ||
			fail "completing '$line' does not offer '$w' ($what); it offers: $(tr '\n' ' ' <<<"$offered")"
	done
}

"$ASYNCJOBD" --socket "$SOCK" --write-root "$TMP" --state-dir "$TMP/state" --log-level warning 2>"$TMP/daemon.log" &
DAEMON_PID=$!
for _ in $(seq 100); do
	[ -S "$SOCK" ] && break
	sleep 0.1
done
[ -S "$SOCK" ] || { echo "asyncjobd did not start:"; cat "$TMP/daemon.log"; exit 99; }
job_id=$("$ASYNCJOB_CLI" --socket "$SOCK" --detach sleep 600 completion-test) || exit 99
mkdir -p "$TMP/cli" && ln -s "$ASYNCJOB_CLI" "$TMP/cli/asyncjob"
touch "$TMP/file-to-write"

main_help=$("$ASYNCJOB_CLI" --help)
# The long options a --help's option lines name ("  -f, --fail-fast  ..."),
# not those its prose mentions.
option_names() {
	sed -nE 's/^ +(-[A-Za-z], )?(--[a-z][a-z0-9-]*).*/\2/p' | sort -u
}
commands=$(sed -n '/^Commands:/,/^$/p' <<<"$main_help" | awk 'NR > 1 && NF { print $1 }')

# shellcheck disable=SC2086  # one word per command
offers "commands" "asyncjob " $commands help
# shellcheck disable=SC2046  # one word per option
offers "global options" "asyncjob --" $(sed -n '/^Options/,/^$/p' <<<"$main_help" |
	grep -oE -- '--[a-z][a-z0-9-]*' | sort -u)
for cmd in $commands; do
	# shellcheck disable=SC2046
	offers "$cmd --help" "asyncjob $cmd --" $("$ASYNCJOB_CLI" "$cmd" --help |
		option_names)
done
offers "files for write" "asyncjob write $TMP/file-to" "$TMP/file-to-write"
offers "files for fetch -o" "asyncjob fetch -o $TMP/file-to" "$TMP/file-to-write"
offers "methods" "asyncjob fetch -X " GET POST DELETE
offers "states" "asyncjob list --state " queued running succeeded failed canceled
offers "job ids from list --json" "asyncjob --socket $SOCK cancel " "$job_id"
offers "job ids, -s before the command" "asyncjob -s $SOCK get " "$job_id"

"$ASYNCJOB_CLI" --socket "$SOCK" cancel "$job_id" >/dev/null || fail "cannot cancel job $job_id"
echo "$((checks - failures)) passed, $failures failed"
[ "$failures" -eq 0 ]
