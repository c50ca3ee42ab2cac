#!/bin/bash
# Runs the shell examples of README.md and proto/PROTOCOL.md ("$ COMMAND"
# lines in ```sh blocks) as a reader would: in one shell per document, on
# a real asyncjobd listening at $XDG_RUNTIME_DIR/asyncjobd.sock (where the
# CLI and the documents look), with the asyncjob CLI on PATH, in a write
# root. Each must exit 0 and print what the document shows (numbers aside:
# ids and times differ). Examples that need the internet, run until
# interrupted, or stand for the reader's own command are listed as skipped,
# with why. Run by `make check` with ASYNCJOBD, ASYNCJOB_CLI and
# ASYNCJOB_SRCDIR set.
set -u
export LC_ALL=C

: "${ASYNCJOBD:?ASYNCJOBD must name the asyncjobd binary}"
: "${ASYNCJOB_CLI:?ASYNCJOB_CLI must name the asyncjob binary}"
exec </dev/null

here=$(cd "$(dirname "$0")" && pwd)
srcdir=${ASYNCJOB_SRCDIR:-$here/../..}
# shellcheck source=tests/common/cases.sh
. "$here/../common/cases.sh"

PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/asyncjob-docs.XXXXXX") || exit 99
DAEMON_PID=
case_log=$TMP/asyncjobd.log
cleanup() {
	[ -n "$DAEMON_PID" ] && kill -KILL "$DAEMON_PID" 2>/dev/null && wait "$DAEMON_PID" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

mkdir -p "$TMP/run" "$TMP/files" "$TMP/bin"
chmod 0700 "$TMP/run"
ln -s "$ASYNCJOB_CLI" "$TMP/bin/asyncjob"
export XDG_RUNTIME_DIR=$TMP/run
export PATH=$TMP/bin:$PATH
# The CLI run by root goes to the system socket, not $XDG_RUNTIME_DIR's.
export ASYNCJOB_SOCKET=$XDG_RUNTIME_DIR/asyncjobd.sock

# Why an example is not run, or nothing when it is.
why_skipped() {
	case $1 in
	*https://* | *http://*) echo "it needs the internet" ;;
	*some-command*) echo "some-command stands for the reader's own" ;;
	"asyncjob watch"*) echo "it runs until interrupted" ;;
	*socat*) command -v socat >/dev/null || echo "socat is not installed" ;;
	esac
}

# run_document FILE: its examples in one shell, in order, each a case.
run_document() {
	local doc=$1 name
	name=${doc#"$srcdir"/}
	"$PY" "$here/doc-examples.py" list "$doc" >"$TMP/examples.json" ||
		{ begin "$name: examples read"; fail "cannot read them"; end; return; }
	[ -n "$DAEMON_PID" ] && kill -TERM "$DAEMON_PID" && wait "$DAEMON_PID" 2>/dev/null
	"$ASYNCJOBD" -s "$XDG_RUNTIME_DIR/asyncjobd.sock" --store memory --write-root "$TMP/files" \
		>"$case_log" 2>&1 &
	DAEMON_PID=$!
	for _ in $(seq 200); do
		"$ASYNCJOB_CLI" info >/dev/null 2>&1 && break
		sleep 0.05
	done
	# One script: the examples share the shell's variables, as a reader's
	# terminal would ($id in one is set by another).
	local script=$TMP/run.sh n=0
	: >"$script"
	rm -f "$TMP"/cmd.* "$TMP"/want.* "$TMP"/got.* "$TMP"/err.* "$TMP"/status.* "$TMP"/line.*
	while IFS= read -r example; do
		n=$((n + 1))
		"$PY" -c 'import json, sys; e = json.loads(sys.argv[1]); open(sys.argv[2], "w").write(e["command"]); open(sys.argv[3], "w").write(e["output"]); print(e["line"])' \
			"$example" "$TMP/cmd.$n" "$TMP/want.$n" >"$TMP/line.$n"
		if [ -n "$(why_skipped "$(cat "$TMP/cmd.$n")")" ]; then
			continue
		fi
		{
			printf '%s\n' "$(cat "$TMP/cmd.$n")" | sed '1s/^/{ /'
			printf '} >%q 2>%q; echo $? >%q\n' "$TMP/got.$n" "$TMP/err.$n" "$TMP/status.$n"
		} >>"$script"
	done <"$TMP/examples.json"
	(cd "$TMP/files" && bash "$script" >/dev/null 2>&1)
	for k in $(seq "$n"); do
		local cmd line reason
		cmd=$(head -n 1 "$TMP/cmd.$k")
		line=$(cat "$TMP/line.$k")
		reason=$(why_skipped "$(cat "$TMP/cmd.$k")")
		if [ -n "$reason" ]; then
			echo "# skipped: $name:$line: $cmd ($reason)"
			continue
		fi
		begin "$name:$line: $cmd"
		if [ "$(cat "$TMP/status.$k" 2>/dev/null)" != 0 ]; then
			fail "exit status $(cat "$TMP/status.$k" 2>/dev/null || echo none); stderr: $(cat "$TMP/err.$k" 2>/dev/null)"
		elif [ -s "$TMP/want.$k" ] && ! "$PY" "$here/doc-examples.py" same "$TMP/want.$k" "$TMP/got.$k"; then
			fail "printed: $(cat "$TMP/got.$k")" "the document shows: $(cat "$TMP/want.$k")"
		fi
		end
	done
}

run_document "$srcdir/README.md"
run_document "$srcdir/proto/PROTOCOL.md"

echo "$((ncases - failures)) passed, $failures failed"
[ "$failures" -eq 0 ]
