#!/bin/bash
# Integration test of the SQLite job store (store = sqlite) against the real
# asyncjobd and a real jobs.db in a temporary state directory: acknowledged
# jobs survive kill -9, a running sleep ends at its first deadline, a GET
# cut off runs again while a POST fails with `interrupted`, SIGTERM keeps
# the jobs (on_shutdown = resume) or cancels them (cancel), ids are never
# reused (retention included), a file that is not our database, or is
# from a newer asyncjobd, stops the start and is left as it was, and an
# append or a create cut off by a restart is judged from its evidence:
# made again when it was not made, succeeded without a second write when
# it was, `interrupted` when the files cannot tell, with no file of the
# daemon's left beside the target. The CLI in the foreground (sleep,
# gather, fetch -o) goes on across a SIGTERM restart or kill -9, with a
# note only on a terminal, and gives up, or reports a job lost, with exit 3
# and one line. Run by `make check` with ASYNCJOBD and ASYNCJOB_CLI set (see
# Makefile.am).
#
# Each case prints "ok - NAME" or "not ok - NAME" and "#" lines saying why;
# the script exits 1 if any failed. No case asserts a speed: waits are
# bounded polls, and the deadline check allows a loaded machine its slack.
# shellcheck disable=SC2015  # a && b || fail
set -u
export LC_ALL=C

: "${ASYNCJOBD:?ASYNCJOBD must name the asyncjobd binary}"
: "${ASYNCJOB_CLI:?ASYNCJOB_CLI must name the asyncjob binary}"
exec </dev/null

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/common/cases.sh
. "$here/../common/cases.sh"

PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/asyncjob-store.XXXXXX") || exit 99
SOCK=$TMP/s.sock
STATE=$TMP/state
LOG=$TMP/asyncjobd.log
DAEMON_PID=
HOLE_PID=
case_log=$LOG

cleanup() {
	[ -n "$DAEMON_PID" ] && kill -KILL "$DAEMON_PID" 2>/dev/null && wait "$DAEMON_PID" 2>/dev/null
	[ -n "$HOLE_PID" ] && kill -KILL "$HOLE_PID" 2>/dev/null && wait "$HOLE_PID" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

aj() { "$ASYNCJOB_CLI" -s "$SOCK" "$@"; }

# start_daemon [ARGS...]: a daemon on the store in $STATE; waits until it
# answers. Returns 1 if it does not.
start_daemon() {
	"$ASYNCJOBD" -s "$SOCK" --store sqlite --state-dir "$STATE" --write-root "$TMP/files" \
		"$@" >>"$LOG" 2>&1 &
	DAEMON_PID=$!
	for _ in $(seq 200); do
		aj info >/dev/null 2>&1 && return 0
		kill -0 "$DAEMON_PID" 2>/dev/null || break
		sleep 0.05
	done
	return 1
}

kill9() {
	kill -KILL "$DAEMON_PID" 2>/dev/null
	wait "$DAEMON_PID" 2>/dev/null
	DAEMON_PID=
}

term() {
	kill -TERM "$DAEMON_PID" 2>/dev/null
	for _ in $(seq 200); do
		kill -0 "$DAEMON_PID" 2>/dev/null || break
		sleep 0.05
	done
	wait "$DAEMON_PID" 2>/dev/null
	local status=$?
	DAEMON_PID=
	return $status
}

# field ID EXPR: a Python expression on the job object `j`, printed.
field() {
	aj --json get "$1" 2>/dev/null |
		"$PY" -c 'import json, sys; j = json.load(sys.stdin); print('"$2"')' 2>/dev/null
}

# wait_state ID STATE: polls until job ID is in STATE (10 s at most).
wait_state() {
	for _ in $(seq 200); do
		[ "$(field "$1" 'j["state"]')" = "$2" ] && return 0
		sleep 0.05
	done
	return 1
}

mkdir -p "$TMP/files"

# ------------------------------------------------------------------ cases

begin "acknowledged jobs survive kill -9, results included"
rm -rf "$STATE"
start_daemon || fail "the daemon did not start"
long=$(aj --detach sleep 600 tea)
hi=$(aj --json submit '{"type":"sleep","seconds":0,"message":"hi","label":"L","key":"k1"}' |
	"$PY" -c 'import json,sys; print(json.load(sys.stdin)["id"])')
aj write "$TMP/files/a.txt" hello >/dev/null || fail "the write failed"
written=$(aj --json submit "{\"type\":\"write\",\"path\":\"$TMP/files/b.txt\",\"content\":\"hello\",\"wait\":true}" |
	"$PY" -c 'import json,sys; print(json.load(sys.stdin)["id"])')
wait_state "$hi" succeeded || fail "job $hi did not succeed"
kill9
start_daemon || fail "the daemon did not start again"
[ "$(field "$long" 'j["state"]')" = running ] || fail "job $long: $(aj --json get "$long" 2>&1)"
[ "$(field "$hi" 'j["result"]["message"], j["label"], j["key"]')" = "hi L k1" ] ||
	fail "job $hi: $(aj --json get "$hi" 2>&1)"
[ "$(field "$written" 'j["state"], j["result"]["bytes"]')" = "succeeded 5" ] ||
	fail "job $written: $(aj --json get "$written" 2>&1)"
# The same key from the same user is still that job.
again=$(aj --json submit '{"type":"sleep","seconds":0,"key":"k1"}' |
	"$PY" -c 'import json,sys; print(json.load(sys.stdin)["id"])')
[ "$again" = "$hi" ] || fail "the key k1 gave job $again, not $hi"
next=$(aj --detach sleep 0)
[ "$next" -gt "$written" ] || fail "a new job got id $next, not above $written"
kill9
end

begin "a running sleep ends at its first deadline after kill -9"
rm -rf "$STATE"
start_daemon || fail "the daemon did not start"
id=$(aj --detach sleep 2 late)
kill9
sleep 0.5
start_daemon || fail "the daemon did not start again"
aj wait "$id" --timeout 10 >/dev/null
took=$(field "$id" '__import__("datetime").datetime.fromisoformat(j["finished_at"].replace("Z", "+00:00")).timestamp() - __import__("datetime").datetime.fromisoformat(j["started_at"].replace("Z", "+00:00")).timestamp()')
slept=$(field "$id" 'j["result"]["slept"]')
"$PY" -c "import sys; sys.exit(not (2.0 <= $took < 2.5))" 2>/dev/null ||
	fail "it ended $took s after it started, not at its deadline of 2 s ($(aj --json get "$id" 2>&1))"
"$PY" -c "import sys; sys.exit(not (2.0 <= $slept < 2.5))" 2>/dev/null ||
	fail "slept says $slept"
echo "# ended ${took} s after it started (slept $slept)"
kill9
end

# A server that accepts connections and never answers, counting them: a
# fetch to it stays running.
"$PY" - "$TMP/hole.port" "$TMP/hole.count" <<'EOF' &
import socket, sys
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(64)
open(sys.argv[1], "w").write(str(s.getsockname()[1]))
held, n = [], 0
while True:
    c, _ = s.accept()
    n += 1
    held.append(c)
    open(sys.argv[2], "w").write(str(n))
EOF
HOLE_PID=$!
for _ in $(seq 100); do [ -s "$TMP/hole.port" ] && break; sleep 0.05; done
HOLE=http://127.0.0.1:$(cat "$TMP/hole.port")
hole_count() { cat "$TMP/hole.count" 2>/dev/null || echo 0; }

begin "a GET cut off runs again; a POST fails with interrupted"
rm -rf "$STATE"
start_daemon || fail "the daemon did not start"
get=$(aj --detach fetch "$HOLE/get")
post=$(aj --detach submit "{\"type\":\"fetch\",\"url\":\"$HOLE/post\",\"method\":\"POST\",\"body\":\"x\"}")
for _ in $(seq 200); do [ "$(hole_count)" -ge 2 ] && break; sleep 0.05; done
[ "$(hole_count)" -eq 2 ] || fail "the server saw $(hole_count) connections, not 2"
kill9
start_daemon || fail "the daemon did not start again"
wait_state "$post" failed || fail "the POST: $(aj --json get "$post" 2>&1)"
[ "$(field "$post" 'j["error"]["code"]')" = interrupted ] || fail "the POST: $(aj --json get "$post" 2>&1)"
field "$post" 'j["error"]["message"]' | grep -q "may or may not" ||
	fail "the POST's message: $(field "$post" 'j["error"]["message"]')"
for _ in $(seq 200); do [ "$(hole_count)" -ge 3 ] && break; sleep 0.05; done
[ "$(hole_count)" -eq 3 ] || fail "the server saw $(hole_count) connections, not 3 (the GET again)"
[ "$(field "$get" 'j["state"]')" = running ] || fail "the GET: $(aj --json get "$get" 2>&1)"
kill9
end

begin "a result nested 120 deep is kept and read back"
rm -rf "$STATE"
mkdir -p "$TMP/www"
"$PY" -c 'print("[" * 120 + "1" + "]" * 120)' >"$TMP/www/deep.json"
"$PY" -m http.server 0 --bind 127.0.0.1 --directory "$TMP/www" >"$TMP/www.log" 2>&1 &
WWW_PID=$!
for _ in $(seq 100); do
	port=$(sed -n 's/.*port \([0-9]*\).*/\1/p' "$TMP/www.log" | head -1)
	[ -n "$port" ] && break
	sleep 0.05
done
start_daemon || fail "the daemon did not start"
deep=$(aj --detach fetch "http://127.0.0.1:$port/deep.json")
wait_state "$deep" succeeded || fail "the fetch: $(aj --json get "$deep" 2>&1 | head -c 300)"
kill9
start_daemon || fail "the daemon did not start again after keeping a deep result"
[ "$(field "$deep" 'json.dumps(j["result"]["json"]).count("[")')" = 120 ] ||
	fail "the result read back: $(aj --json get "$deep" 2>&1 | head -c 300)"
kill9
kill "$WWW_PID" 2>/dev/null
wait "$WWW_PID" 2>/dev/null
end

begin "SIGTERM keeps the jobs (on_shutdown = resume), and a waiting client hears why"
rm -rf "$STATE"
start_daemon || fail "the daemon did not start"
# Told not to wait for the daemon to come back, the CLI says why it stops.
ASYNCJOB_RECONNECT_TIMEOUT=0 aj sleep 2 tea >"$TMP/cli.out" 2>&1 &
cli=$!
for _ in $(seq 100); do [ "$(field 1 'j["state"]')" = running ] && break; sleep 0.05; done
term || fail "asyncjobd exited with status $? on SIGTERM"
wait "$cli"
status=$?
[ "$status" -eq 4 ] || fail "the CLI exited with status $status, not 4"
grep -q "restarting" "$TMP/cli.out" || fail "the waiting client was told: $(cat "$TMP/cli.out")"
start_daemon || fail "the daemon did not start again"
aj wait 1 --timeout 10 >/dev/null
[ "$(field 1 'j["state"], j["result"]["message"]')" = "succeeded tea" ] ||
	fail "job 1: $(aj --json get 1 2>&1)"
kill9
end

begin "SIGTERM tells a waiting gather the ids of its jobs (data.restarting)"
rm -rf "$STATE"
start_daemon || fail "the daemon did not start"
# A gather's client is not told the ids until it ends: the restart says them.
"$PY" - "$SOCK" >"$TMP/gather.out" <<'EOF' &
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall((json.dumps({"jsonrpc": "2.0", "id": 1, "method": "job.gather", "params": {
    "jobs": [{"type": "sleep", "seconds": 60}, {"type": "sleep", "seconds": 60}]}}) + "\n").encode())
print(s.makefile().readline().strip())
EOF
gatherer=$!
for _ in $(seq 100); do [ "$(field 2 'j["state"]')" = running ] && break; sleep 0.05; done
term || fail "asyncjobd exited with status $? on SIGTERM"
wait "$gatherer"
"$PY" -c '
import json, sys
e = json.loads(sys.argv[1])["error"]
sys.exit(not (e["code"] == -32002 and e["data"] == {"restarting": True, "ids": [1, 2]}))' \
	"$(cat "$TMP/gather.out")" 2>/dev/null || fail "the gather was answered: $(cat "$TMP/gather.out")"
end

begin "on_shutdown = cancel cancels them"
rm -rf "$STATE"
printf 'on_shutdown = cancel\n' >"$TMP/cancel.conf"
start_daemon -c "$TMP/cancel.conf" || fail "the daemon did not start"
id=$(aj --detach sleep 600)
term || fail "asyncjobd exited with status $? on SIGTERM"
start_daemon || fail "the daemon did not start again"
[ "$(field "$id" 'j["state"], j["error"]["code"]')" = "canceled shutdown" ] ||
	fail "job $id: $(aj --json get "$id" 2>&1)"
kill9
end

begin "ids are never reused, even after retention removed the newest"
rm -rf "$STATE"
printf 'max_retained_jobs = 0\n' >"$TMP/retain.conf"
start_daemon -c "$TMP/retain.conf" || fail "the daemon did not start"
for _ in 1 2 3; do last=$(aj --detach sleep 0); done
sleep 0.2
aj get "$last" >/dev/null 2>&1 && fail "job $last was kept, though max_retained_jobs = 0"
kill9
start_daemon -c "$TMP/retain.conf" || fail "the daemon did not start again"
next=$(aj --detach sleep 0)
[ "$next" -gt "$last" ] || fail "after a restart the next job got id $next, not above $last"
kill9
end

# ------------------------------------------------------------------ the CLI across restarts

# The CLIs below run in the background as themselves, not through aj(), so
# that $! is the CLI (a signal reaches it).

# wait_cli PID: the exit status of a background CLI, which must end within
# 30 s (else it is killed: 137). A CLI still waiting for a daemon that is
# not coming back would take its whole reconnect limit (60 s by default).
wait_cli() {
	local pid=$1
	for _ in $(seq 600); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	kill -KILL "$pid" 2>/dev/null
	wait "$pid"
}

# one_line FILE: the file holds exactly one line.
one_line() {
	[ "$(wc -l <"$1")" -eq 1 ]
}

# cli_across STOP RESTART JOB SETTLE COMMAND...: on a fresh daemon
# (started by $START_DAEMON, start_daemon unless set, with the words of
# $DAEMON_ARGS), runs COMMAND (a CLI command
# line) in the background, its output in $TMP/cli.out and cli.err; once
# job JOB runs and SETTLE seconds more have passed, stops the daemon with
# STOP (term or kill9), starts it again when RESTART is yes, and sets
# CLI_STATUS to the CLI's exit status.
cli_across() {
	local stop=$1 restart=$2 job=$3 settle=$4 cli
	shift 4
	rm -rf "$STATE"
	# shellcheck disable=SC2086 # words on purpose
	"${START_DAEMON:-start_daemon}" ${DAEMON_ARGS:-} || fail "the daemon did not start"
	"$@" >"$TMP/cli.out" 2>"$TMP/cli.err" &
	cli=$!
	wait_state "$job" running || fail "job $job did not start"
	sleep "$settle"
	"$stop" || fail "asyncjobd exited with status $? on $stop"
	if [ "$restart" = yes ]; then
		"${START_DAEMON:-start_daemon}" ${DAEMON_ARGS:-} || fail "the daemon did not start again"
	fi
	wait_cli "$cli"
	CLI_STATUS=$?
}

# cli_exited STATUS: the CLI run by cli_across exited with STATUS.
cli_exited() {
	[ "$CLI_STATUS" -eq "$1" ] ||
		fail "the CLI exited with status $CLI_STATUS, not $1: $(cat "$TMP/cli.err")"
}

# sleep_across STOP: `asyncjob sleep 3 tea` in the foreground while the
# daemon is stopped with STOP (term or kill9) and started again: it prints
# tea, exits 0, and, with no terminal, writes no note.
sleep_across() {
	cli_across "$1" yes 1 1 "$ASYNCJOB_CLI" -s "$SOCK" sleep 3 tea
	cli_exited 0
	[ "$(cat "$TMP/cli.out")" = tea ] || fail "it printed '$(cat "$TMP/cli.out")', not tea"
	[ ! -s "$TMP/cli.err" ] || fail "it wrote to stderr without a terminal: $(cat "$TMP/cli.err")"
	kill9
}

begin "sleep in the foreground goes on across a SIGTERM restart"
sleep_across term
end

begin "sleep in the foreground goes on across kill -9"
sleep_across kill9
end

begin "gather prints its jobs' output in order across a SIGTERM restart"
cli_across term yes 3 0.5 "$ASYNCJOB_CLI" -s "$SOCK" gather 'sleep 2 Hello' 'sleep 1.5 World' 'sleep 2.5 !'
cli_exited 0
[ "$(cat "$TMP/cli.out")" = "$(printf 'Hello\nWorld\n!')" ] ||
	fail "it printed '$(cat "$TMP/cli.out")'"
[ ! -s "$TMP/cli.err" ] || fail "it wrote to stderr: $(cat "$TMP/cli.err")"
kill9
end

begin "gather across kill -9: finds its jobs again by their keys, none made twice"
cli_across kill9 yes 3 0.5 "$ASYNCJOB_CLI" -s "$SOCK" gather 'sleep 2 Hello' 'sleep 1.5 World' 'sleep 2.5 !'
cli_exited 0
[ "$(cat "$TMP/cli.out")" = "$(printf 'Hello\nWorld\n!')" ] ||
	fail "it printed '$(cat "$TMP/cli.out")'"
[ ! -s "$TMP/cli.err" ] || fail "it wrote to stderr: $(cat "$TMP/cli.err")"
# Three jobs, each with the key the CLI gave it: none made again.
jobs=$(aj --json list | "$PY" -c '
import json, sys
jobs = [json.loads(line) for line in sys.stdin if line.strip()]
print(" ".join("%d:%s:%s" % (j["id"], j["state"], j.get("key", "").startswith("asyncjob-gather-"))
               for j in jobs))')
[ "$jobs" = "1:succeeded:True 2:succeeded:True 3:succeeded:True" ] || fail "the jobs: $jobs"
kill9
end

# The test web server (tests/common/http-test-server), for fetch -o.
WEB=
WEB_PID=
if [ -n "${ASYNCJOB_TEST_SERVER:-}" ] && [ -x "$ASYNCJOB_TEST_SERVER" ]; then
	"$ASYNCJOB_TEST_SERVER" >"$TMP/web.port" 2>"$TMP/web.err" &
	WEB_PID=$!
	for _ in $(seq 100); do [ -s "$TMP/web.port" ] && break; sleep 0.05; done
	WEB="http://127.0.0.1:$(sed -n 's/^http=\([0-9]*\) .*/\1/p' "$TMP/web.port")"
fi

# fetch_across STOP: `asyncjob fetch -o` of a slow body while the daemon
# is stopped with STOP (term or kill9) and started again: the whole body
# is saved, and no temporary file of the cut-off run is left beside it.
fetch_across() {
	rm -f "$TMP/files/paced.bin"
	# 200000 bytes in ten pieces 200 ms apart: it is still coming when
	# the daemon stops, and comes again whole after the restart (a GET).
	cli_across "$1" yes 1 0.5 "$ASYNCJOB_CLI" -s "$SOCK" fetch -o "$TMP/files/paced.bin" \
		"$WEB/paced?bytes=200000&pieces=10&ms=200"
	cli_exited 0
	[ ! -s "$TMP/cli.out" ] || fail "it printed '$(cat "$TMP/cli.out")' (the file is the output)"
	[ ! -s "$TMP/cli.err" ] || fail "it wrote to stderr: $(cat "$TMP/cli.err")"
	"$PY" -c '
import sys
data = open(sys.argv[1], "rb").read()
sys.exit(data != bytes(i % 251 for i in range(200000)))' "$TMP/files/paced.bin" 2>/dev/null ||
		fail "paced.bin is not the 200000 bytes served ($(stat -c %s "$TMP/files/paced.bin" 2>&1))"
	left=$(cd "$TMP/files" && ls -A | grep '^\.paced\.bin\.asyncjob-')
	[ -z "$left" ] || fail "left beside it: $left"
	kill9
}

begin "fetch -o goes on across a SIGTERM restart and saves the whole body"
if [ -z "$WEB" ]; then
	echo "# skipped: no test web server (ASYNCJOB_TEST_SERVER)"
else
	fetch_across term
fi
end

begin "fetch -o goes on across kill -9: the whole body, no temporary file left"
if [ -z "$WEB" ]; then
	echo "# skipped: no test web server (ASYNCJOB_TEST_SERVER)"
else
	fetch_across kill9
fi
end

begin "a POST with save_to cut off by kill -9: interrupted, its temporary file removed"
if [ -z "$WEB" ]; then
	echo "# skipped: no test web server (ASYNCJOB_TEST_SERVER)"
else
	rm -rf "$STATE"
	rm -f "$TMP/files/posted.bin"
	start_daemon || fail "the daemon did not start"
	aj submit --detach "{\"type\":\"fetch\",\"method\":\"POST\",\"save_to\":\"$TMP/files/posted.bin\",\"url\":\"$WEB/paced?bytes=200000&pieces=10&ms=200\"}" >/dev/null ||
		fail "the POST was refused"
	wait_state 1 running || fail "job 1 did not start"
	# Its first pieces are in the temporary file.
	for _ in $(seq 100); do
		(cd "$TMP/files" && ls -A | grep -q '^\.posted\.bin\.asyncjob-') && break
		sleep 0.05
	done
	(cd "$TMP/files" && ls -A | grep -q '^\.posted\.bin\.asyncjob-') || fail "no temporary file was made"
	kill9
	start_daemon || fail "the daemon did not start again"
	[ "$(field 1 'j["state"], j["error"]["code"]')" = "failed interrupted" ] ||
		fail "job 1: $(aj --json get 1 2>&1)"
	for _ in $(seq 100); do
		left=$(cd "$TMP/files" && ls -A | grep '^\.posted\.bin\.asyncjob-')
		[ -z "$left" ] && break
		sleep 0.05
	done
	[ -z "$left" ] || fail "left beside posted.bin: $left"
	[ ! -e "$TMP/files/posted.bin" ] || fail "posted.bin was made"
	kill9
fi
end
[ -n "$WEB_PID" ] && kill "$WEB_PID" 2>/dev/null && wait "$WEB_PID" 2>/dev/null

begin "on_shutdown = cancel: the CLI reports the job canceled (shutdown), exit 1, no waiting"
# The daemon stays down: the CLI has nothing to wait for.
DAEMON_ARGS="-c $TMP/cancel.conf" cli_across term no 1 0 "$ASYNCJOB_CLI" -s "$SOCK" sleep 30 tea
cli_exited 1
[ ! -s "$TMP/cli.out" ] || fail "it printed '$(cat "$TMP/cli.out")'"
one_line "$TMP/cli.err" && grep -q '^asyncjob: job 1 (sleep) canceled (shutdown): ' "$TMP/cli.err" ||
	fail "stderr: $(cat "$TMP/cli.err")"
end

begin "a daemon that does not come back within ASYNCJOB_RECONNECT_TIMEOUT: exit 3, one line"
cli_across term no 1 0 env ASYNCJOB_RECONNECT_TIMEOUT=0.5 "$ASYNCJOB_CLI" -s "$SOCK" sleep 30 tea
cli_exited 3
one_line "$TMP/cli.err" &&
	grep -q '^asyncjob: sleep: gave up waiting for job 1: asyncjobd did not come back within 0.5 s' \
		"$TMP/cli.err" || fail "stderr: $(cat "$TMP/cli.err")"
# The job was kept all the same.
start_daemon || fail "the daemon did not start again"
[ "$(field 1 'j["state"]')" = running ] || fail "job 1: $(aj --json get 1 2>&1)"
kill9
end

begin "ASYNCJOB_RECONNECT_TIMEOUT must be a number of seconds"
out=$(ASYNCJOB_RECONNECT_TIMEOUT=soon aj sleep 0 2>&1)
status=$?
[ "$status" -eq 2 ] || fail "exit status $status, not 2: $out"
grep -q '^asyncjob: sleep: ASYNCJOB_RECONNECT_TIMEOUT=soon: expected a number of seconds' <<<"$out" ||
	fail "it said: $out"
end

begin "on a terminal, a note says the CLI waits for the daemon to come back"
if ! command -v script >/dev/null 2>&1; then
	echo "# skipped: script(1) is not installed"
else
	# script(1) gives the CLI a terminal; what it shows goes to cli.out.
	cli_across term yes 1 0.5 script -qec "$(printf '%q -s %q sleep 3 tea' "$ASYNCJOB_CLI" "$SOCK")" /dev/null
	[ "$CLI_STATUS" -eq 0 ] || fail "the CLI exited with status $CLI_STATUS: $(cat "$TMP/cli.out")"
	tr -d '\r' <"$TMP/cli.out" | sed 's/\x1b\[K//g' >"$TMP/tty.txt"
	[ "$(grep -c 'asyncjobd is restarting; waiting for it to come back (job 1)\.\.\.$' \
		"$TMP/tty.txt")" -eq 1 ] || fail "no single note on the terminal: $(cat "$TMP/tty.txt")"
	[ "$(tail -n 1 "$TMP/tty.txt")" = tea ] || fail "it printed: $(cat "$TMP/tty.txt")"
	kill9
fi
end

begin "Ctrl-C after a restart cancels the job, no longer tied to the connection"
rm -rf "$STATE"
start_daemon || fail "the daemon did not start"
"$ASYNCJOB_CLI" -s "$SOCK" sleep 60 tea >"$TMP/cli.out" 2>"$TMP/cli.err" &
cli=$!
wait_state 1 running || fail "job 1 did not start"
term || fail "asyncjobd exited with status $? on SIGTERM"
start_daemon || fail "the daemon did not start again"
# Connected again: daemon.info counts the CLI's connection and its own.
for _ in $(seq 200); do
	[ "$(aj --json info | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["connections"])')" -ge 2 ] &&
		break
	sleep 0.05
done
kill -INT "$cli"
wait_cli "$cli"
status=$?
[ "$status" -eq 130 ] || fail "the CLI exited with status $status, not 130: $(cat "$TMP/cli.err")"
[ "$(field 1 'j["state"], j["error"]["code"]')" = "canceled canceled" ] ||
	fail "job 1: $(aj --json get 1 2>&1)"
grep -q '^asyncjob: interrupted: job 1 canceled$' "$TMP/cli.err" || fail "stderr: $(cat "$TMP/cli.err")"
kill9
end

# start_memory_daemon: as start_daemon, with store = memory.
start_memory_daemon() {
	"$ASYNCJOBD" -s "$SOCK" --store memory >>"$LOG" 2>&1 &
	DAEMON_PID=$!
	for _ in $(seq 200); do
		aj info >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	return 1
}

begin "a daemon that keeps jobs in memory comes back without the job: exit 3, one line"
START_DAEMON=start_memory_daemon cli_across kill9 yes 1 0 "$ASYNCJOB_CLI" -s "$SOCK" sleep 30 tea
[ "$(aj --json info | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["store"])')" = memory ] ||
	fail "daemon.info does not say store memory: $(aj --json info 2>&1 | head -c 300)"
cli_exited 3
one_line "$TMP/cli.err" &&
	grep -q '^asyncjob: sleep: job 1 was lost when asyncjobd restarted' "$TMP/cli.err" ||
	fail "stderr: $(cat "$TMP/cli.err")"
kill9
end

begin "a gather across kill -9 of a daemon that keeps jobs in memory: exit 3, nothing made again"
START_DAEMON=start_memory_daemon cli_across kill9 yes 2 0 "$ASYNCJOB_CLI" -s "$SOCK" gather \
	'sleep 30 Hello' 'sleep 30 World'
cli_exited 3
one_line "$TMP/cli.err" &&
	grep -q "^asyncjob: gather: the gather's jobs were lost when asyncjobd restarted" "$TMP/cli.err" ||
	fail "stderr: $(cat "$TMP/cli.err")"
[ -z "$(aj list)" ] || fail "jobs were made again: $(aj list)"
kill9
end

# rpc METHOD PARAMS: one request on a connection of its own, the reply's
# result printed as JSON.
rpc() {
	"$PY" - "$SOCK" "$1" "$2" <<'EOF'
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall((json.dumps({"jsonrpc": "2.0", "id": 1, "method": sys.argv[2],
                       "params": json.loads(sys.argv[3])}) + "\n").encode())
print(json.dumps(json.loads(s.makefile().readline()).get("result")))
EOF
}

begin "event seq never goes back across kill -9; a since from before says missed"
rm -rf "$STATE"
start_daemon || fail "the daemon did not start"
for _ in 1 2 3; do aj sleep 0 >/dev/null; done
before=$(rpc events.subscribe '{}' | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["seq"])')
[ "$before" -ge 9 ] || fail "three jobs made seq $before, not 9 or more"
kill9
start_daemon || fail "the daemon did not start again"
after=$(rpc events.subscribe "{\"since\": $((before - 2))}")
[ "$("$PY" -c 'import json,sys; r=json.loads(sys.argv[1]); print(r["seq"] >= '"$before"', r["missed"])' "$after")" = "True True" ] ||
	fail "after the restart: $after (seq was $before)"
aj sleep 0 >/dev/null
next=$(rpc events.subscribe '{}' | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["seq"])')
[ "$next" -gt "$before" ] || fail "a new job's events got seq up to $next, not above $before"
kill9
end

begin "a gather's timeout holds across kill -9"
rm -rf "$STATE"
start_daemon || fail "the daemon did not start"
# The gather's reply never comes: the daemon is killed first.
"$PY" - "$SOCK" <<'EOF' &
import json, socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall((json.dumps({"jsonrpc": "2.0", "id": 1, "method": "job.gather", "params": {
    "jobs": [{"type": "sleep", "seconds": 60}], "timeout": 1.5}}) + "\n").encode())
s.makefile().readline()
EOF
gatherer=$!
for _ in $(seq 100); do [ "$(field 1 'j["state"]')" = running ] && break; sleep 0.05; done
kill9
wait "$gatherer" 2>/dev/null
start_daemon || fail "the daemon did not start again"
wait_state 1 failed || fail "job 1 is still $(field 1 'j["state"]') (the gather's timeout was 1.5 s)"
[ "$(field 1 'j["error"]["code"]')" = timeout ] || fail "job 1: $(aj --json get 1 2>&1)"
took=$(field 1 'round(__import__("datetime").datetime.fromisoformat(j["finished_at"].replace("Z", "+00:00")).timestamp() - __import__("datetime").datetime.fromisoformat(j["submitted_at"].replace("Z", "+00:00")).timestamp(), 1)')
"$PY" -c "import sys; sys.exit(not (1.5 <= $took < 5))" || fail "it failed $took s after it was submitted, not at 1.5 s"
kill9
end

begin "a gather's timeout holds across kill -9 for a job it found by key"
rm -rf "$STATE"
start_daemon || fail "the daemon did not start"
id=$(aj sleep --detach --key found 60 'found by key')
[ "$id" = 1 ] || fail "the job is $id, not 1"
gathered_at=$(date +%s.%N)
"$PY" - "$SOCK" <<'EOF' &
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall((json.dumps({"jsonrpc": "2.0", "id": 1, "method": "job.gather", "params": {
    "jobs": [{"type": "sleep", "seconds": 60, "message": "found by key", "key": "found"}],
    "timeout": 1.5}}) + "\n").encode())
s.makefile().readline()
EOF
gatherer=$!
# Time for the gather to take the job up and for its record to be on disk
# (one group commit): well under the gather's 1.5 s.
sleep 0.5
kill9
wait "$gatherer" 2>/dev/null
start_daemon || fail "the daemon did not start again"
wait_state 1 failed || fail "job 1 is still $(field 1 'j["state"]') (the gather's timeout was 1.5 s)"
[ "$(field 1 'j["error"]["code"]')" = timeout ] || fail "job 1: $(aj --json get 1 2>&1)"
took=$(field 1 'round(__import__("datetime").datetime.fromisoformat(j["finished_at"].replace("Z", "+00:00")).timestamp() - '"$gathered_at"', 1)')
"$PY" -c "import sys; sys.exit(not (1.5 <= $took < 5))" || fail "it failed $took s after the gather, not at 1.5 s"
kill9
end

begin "a second daemon on the same jobs.db is refused"
rm -rf "$STATE"
start_daemon || fail "the daemon did not start"
out=$("$ASYNCJOBD" -s "$TMP/other.sock" --store sqlite --state-dir "$STATE" --write-root "$TMP/files" 2>&1)
status=$?
[ "$status" -eq 1 ] || fail "the second daemon exited with status $status, not 1: $out"
grep -q "another asyncjobd uses $STATE/jobs.db" <<<"$out" || fail "it said: $out"
aj info >/dev/null || fail "the first daemon no longer answers"
kill9
end

begin "sqlite is the default store; jobs.db goes in \$STATE_DIRECTORY (systemd's)"
rm -rf "$TMP/systemd-state"
STATE_DIRECTORY=$TMP/systemd-state:$TMP/second "$ASYNCJOBD" -s "$SOCK" --write-root "$TMP/files" \
	>>"$LOG" 2>&1 &
DAEMON_PID=$!
for _ in $(seq 200); do aj info >/dev/null 2>&1 && break; sleep 0.05; done
id=$(aj --detach sleep 600 'kept by default')
[ -f "$TMP/systemd-state/jobs.db" ] || fail "no jobs.db in \$STATE_DIRECTORY: $(ls -la "$TMP/systemd-state" 2>&1)"
[ ! -e "$TMP/second" ] || fail "the second \$STATE_DIRECTORY entry was used"
kill9
STATE_DIRECTORY=$TMP/systemd-state "$ASYNCJOBD" -s "$SOCK" --write-root "$TMP/files" >>"$LOG" 2>&1 &
DAEMON_PID=$!
for _ in $(seq 200); do aj info >/dev/null 2>&1 && break; sleep 0.05; done
[ "$(field "$id" 'j["type"], j["state"]')" = "sleep running" ] ||
	fail "job $id after kill -9: $(aj --json get "$id" 2>&1)"
kill9
end

begin "jobs.db and the files beside it are the daemon's alone, whatever the umask"
rm -rf "$STATE" && mkdir -m 0755 "$STATE"
saved_umask=$(umask)
umask 0002
start_daemon || fail "the daemon did not start"
umask "$saved_umask"
aj sleep 0 x >/dev/null || fail "a job failed"
modes=$(cd "$STATE" && stat -c '%n %a' jobs.db jobs.db-wal jobs.db-shm jobs.db.lock 2>&1)
[ "$(awk '$2 != "600"' <<<"$modes")" = "" ] || fail "modes: $modes"
kill9
# One an older asyncjobd left open to others is closed up; a file that is
# not a database of ours is not touched (see below).
chmod 0644 "$STATE/jobs.db" "$STATE/jobs.db-wal" "$STATE/jobs.db-shm" 2>/dev/null
start_daemon || fail "the daemon did not start again"
modes=$(cd "$STATE" && stat -c '%n %a' jobs.db jobs.db-wal jobs.db-shm 2>&1)
[ "$(awk '$2 != "600"' <<<"$modes")" = "" ] || fail "modes after the restart: $modes"
kill9
end

# refused_start NAME: the daemon must refuse to start on $STATE/jobs.db,
# naming the file, and leave it byte for byte as it was.
refused_start() {
	local before after out
	before=$(md5sum "$STATE/jobs.db"; stat -c %a "$STATE/jobs.db")
	out=$("$ASYNCJOBD" -s "$SOCK" --store sqlite --state-dir "$STATE" --write-root "$TMP/files" 2>&1)
	local status=$?
	after=$(md5sum "$STATE/jobs.db"; stat -c %a "$STATE/jobs.db")
	[ "$status" -eq 1 ] || fail "it exited with status $status, not 1: $out"
	grep -q "$STATE/jobs.db" <<<"$out" || fail "the message does not name the file: $out"
	grep -q "$1" <<<"$out" || fail "the message does not say '$1': $out"
	[ "$before" = "$after" ] || fail "the file was changed"
	echo "# $(tail -n 1 <<<"$out")"
}

begin "a file that is not our database stops the start, untouched"
rm -rf "$STATE" && mkdir -p "$STATE"
printf 'not a database, and worth keeping\n' >"$STATE/jobs.db"
chmod 0644 "$STATE/jobs.db"
refused_start "not an asyncjobd database"
end

begin "a database from a newer asyncjobd stops the start, untouched"
rm -rf "$STATE" && mkdir -p "$STATE"
"$PY" -c '
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute("PRAGMA application_id = 1634365282")
db.execute("PRAGMA user_version = 99")
db.execute("CREATE TABLE future (x)")
db.commit()' "$STATE/jobs.db"
refused_start "newer"
end

# ------------------------------------------------------------------ writes cut off

# The evidence a write leaves is judged when it runs again after a restart.
# Each case below makes that moment exactly: a write runs to its end under
# a real daemon, which is killed; its record is set back to running (as if
# the kill had come before its end was on disk) and the files are put in
# the state under test; a daemon started on it then judges.

# submit_id SPEC: submits a job spec (JSON), waits for it, prints its id.
submit_id() {
	aj --json submit "$1" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["id"])'
}

# as_running ID [STARTED_MS]: job ID's record as it was before the job
# ended: running (since STARTED_MS, if given), no result, no error, nothing
# to tidy. The rest of the record (the evidence the write kept) stays as
# the daemon wrote it.
as_running() {
	"$PY" - "$STATE/jobs.db" "$1" "${2:-}" <<'EOF'
import json, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
jid = int(sys.argv[2])
(body,) = db.execute("SELECT body FROM jobs WHERE id = ?", (jid,)).fetchone()
b = json.loads(body)
for k in ("result", "error", "tidy"):
    b.pop(k, None)
db.execute("UPDATE jobs SET state = 1, finished_ms = 0, body = ? WHERE id = ?",
           (json.dumps(b), jid))
if sys.argv[3]:
    db.execute("UPDATE jobs SET started_ms = ? WHERE id = ?", (int(sys.argv[3]), jid))
db.commit()
EOF
}

# The file's bytes, for comparing (command substitution keeps no newline).
bytes() { od -An -c "$1" | tr -s ' \n' ' '; }

# append_cut: a fresh store, $F holding "A\n", and job $id that appended
# "hello\n" to it, set back to running with the daemon down. $TMP/want is
# what the file holds once the append is made.
F=$TMP/files/log.txt
printf 'A\nhello\n' >"$TMP/want"
append_cut() {
	rm -rf "$STATE"
	printf 'A\n' >"$F"
	start_daemon || fail "the daemon did not start"
	id=$(submit_id "{\"type\":\"write\",\"path\":\"$F\",\"content\":\"hello\\n\",\"mode\":\"append\",\"wait\":true}")
	[ "$(bytes "$F")" = "$(bytes "$TMP/want")" ] || fail "the first run wrote: $(bytes "$F")"
	kill9
	as_running "$id"
}

begin "an append cut off before its bytes is made after the restart, once"
append_cut
truncate -s 2 "$F"
: >"$LOG"
start_daemon || fail "the daemon did not start again"
wait_state "$id" succeeded || fail "job $id: $(aj --json get "$id" 2>&1)"
[ "$(bytes "$F")" = "$(bytes "$TMP/want")" ] || fail "the file: $(bytes "$F")"
grep -q "job $id: the append to $F, cut off by a restart, was found not made" "$LOG" ||
	fail "the log does not say it was found not made"
kill9
end

begin "an append found made succeeds without a second write"
append_cut
ino=$(stat -c %i "$F")
: >"$LOG"
start_daemon || fail "the daemon did not start again"
wait_state "$id" succeeded || fail "job $id: $(aj --json get "$id" 2>&1)"
[ "$(bytes "$F")" = "$(bytes "$TMP/want")" ] || fail "the file: $(bytes "$F")"
[ "$(stat -c %i "$F")" = "$ino" ] || fail "the file was replaced"
[ "$(field "$id" 'j["result"]["bytes"]')" = 6 ] || fail "job $id: $(aj --json get "$id" 2>&1)"
grep -q "job $id: the append to $F, cut off by a restart, was found made" "$LOG" ||
	fail "the log does not say it was found made"
kill9
end

begin "an append cut off half way is finished, its first bytes not written twice"
append_cut
truncate -s 5 "$F"     # A\nhel
: >"$LOG"
start_daemon || fail "the daemon did not start again"
wait_state "$id" succeeded || fail "job $id: $(aj --json get "$id" 2>&1)"
[ "$(bytes "$F")" = "$(bytes "$TMP/want")" ] || fail "the file: $(bytes "$F")"
grep -q "job $id: .*found half made (3 of 6 bytes)" "$LOG" || fail "the log does not say it was half made"
kill9
end

begin "other bytes after the old end: interrupted, the file left as it is"
append_cut
printf 'A\nworld\n' >"$TMP/other" && cat "$TMP/other" >"$F"    # the same file, other bytes
start_daemon || fail "the daemon did not start again"
wait_state "$id" failed || fail "job $id: $(aj --json get "$id" 2>&1)"
[ "$(field "$id" 'j["error"]["code"]')" = interrupted ] || fail "job $id: $(aj --json get "$id" 2>&1)"
msg=$(field "$id" 'j["error"]["message"]')
grep -q "$F" <<<"$msg" || fail "the message does not name the file: $msg"
grep -q "not this append's" <<<"$msg" || fail "the message does not say why: $msg"
[ "$(bytes "$F")" = "$(bytes "$TMP/other")" ] || fail "the file was changed: $(bytes "$F")"
echo "# $msg"
kill9
end

begin "another file under its name: interrupted, neither file touched"
append_cut
mv "$F" "$F.old" && printf 'A\n' >"$F"
start_daemon || fail "the daemon did not start again"
wait_state "$id" failed || fail "job $id: $(aj --json get "$id" 2>&1)"
field "$id" 'j["error"]["code"], j["error"]["message"]' | grep -q "^interrupted .*another file has taken its name" ||
	fail "job $id: $(aj --json get "$id" 2>&1)"
[ "$(cat "$F")" = A ] || fail "the new file was appended to"
[ "$(bytes "$F.old")" = "$(bytes "$TMP/want")" ] || fail "the old file was changed"
kill9
end

begin "an append made, its timeout run out while the daemon was down: succeeded"
rm -rf "$STATE"
printf 'A\n' >"$F"
start_daemon || fail "the daemon did not start"
id=$(submit_id "{\"type\":\"write\",\"path\":\"$F\",\"content\":\"hello\\n\",\"mode\":\"append\",\"timeout\":5,\"wait\":true}")
kill9
as_running "$id" 1000     # started in 1970: its 5 s are long gone
start_daemon || fail "the daemon did not start again"
wait_state "$id" succeeded || fail "job $id: $(aj --json get "$id" 2>&1)"
[ "$(bytes "$F")" = "$(bytes "$TMP/want")" ] || fail "the file: $(bytes "$F")"
kill9
as_running "$id" 1000
truncate -s 2 "$F"        # and now not made
start_daemon || fail "the daemon did not start a third time"
wait_state "$id" failed || fail "job $id: $(aj --json get "$id" 2>&1)"
field "$id" 'j["error"]["code"], j["error"]["message"]' | grep -q "^timeout timed out after 5 s .*found not made" ||
	fail "job $id: $(aj --json get "$id" 2>&1)"
[ "$(cat "$F")" = A ] || fail "the file: $(bytes "$F")"
kill9
end

begin "an append that made its file, cut off before its bytes: made once after the restart"
rm -rf "$STATE"
rm -f "$F"
start_daemon || fail "the daemon did not start"
id=$(submit_id "{\"type\":\"write\",\"path\":\"$F\",\"content\":\"new\\n\",\"mode\":\"append\",\"wait\":true}")
kill9
as_running "$id"
rm -f "$F"
start_daemon || fail "the daemon did not start again"
wait_state "$id" succeeded || fail "job $id: $(aj --json get "$id" 2>&1)"
[ "$(cat "$F")" = new ] || fail "the file: $(bytes "$F")"
kill9
end

# create_cut: a fresh store and job $id that created $C, set back to running
# with the daemon down; $S and $M name its staged copy and its marker.
C=$TMP/files/made.txt
create_cut() {
	rm -rf "$STATE"
	rm -f "$C" "$TMP"/files/.made.txt.asyncjob-*
	start_daemon || fail "the daemon did not start"
	id=$(submit_id "{\"type\":\"write\",\"path\":\"$C\",\"content\":\"made\",\"mode\":\"create\",\"wait\":true}")
	[ "$(cat "$C")" = made ] || fail "the first run made: $(bytes "$C")"
	kill9
	as_running "$id"
	S=$TMP/files/.made.txt.asyncjob-$id
	M=$S.committing
}

# leftovers: the daemon's own files beside $C, once it has had a moment to
# tidy them.
leftovers() {
	for _ in $(seq 100); do
		[ -z "$(cd "$TMP/files" && ls -A | grep '^\.made\.txt\.asyncjob-')" ] && return
		sleep 0.05
	done
	cd "$TMP/files" && ls -A | grep '^\.made\.txt\.asyncjob-'
}

begin "a create cut off before its rename is made after the restart; no staged copy is left"
create_cut
rm -f "$C"
printf 'ma' >"$S"     # staged, cut off while writing
: >"$LOG"
start_daemon || fail "the daemon did not start again"
wait_state "$id" succeeded || fail "job $id: $(aj --json get "$id" 2>&1)"
[ "$(cat "$C" 2>&1)" = made ] || fail "the file: $(cat "$C" 2>&1)"
grep -q "job $id: the creation of $C, cut off by a restart, was found not made" "$LOG" ||
	fail "the log does not say it was found not made"
left=$(leftovers)
[ -z "$left" ] || fail "left beside it: $left"
kill9
end

begin "a create whose rename happened succeeds without a second write; its marker goes"
create_cut
: >"$M"
ino=$(stat -c %i "$C")
: >"$LOG"
start_daemon || fail "the daemon did not start again"
wait_state "$id" succeeded || fail "job $id: $(aj --json get "$id" 2>&1)"
[ "$(stat -c %i "$C")" = "$ino" ] || fail "the file was made again"
grep -q "job $id: the creation of $C, cut off by a restart, was found made" "$LOG" ||
	fail "the log does not say it was found made"
left=$(leftovers)
[ -z "$left" ] || fail "left beside it: $left"
kill9
end

begin "a create renamed, then removed: interrupted, not made again; its marker goes"
create_cut
: >"$M"
rm -f "$C"
start_daemon || fail "the daemon did not start again"
wait_state "$id" failed || fail "job $id: $(aj --json get "$id" 2>&1)"
msg=$(field "$id" 'j["error"]["code"] + " " + j["error"]["message"]')
grep -q "^interrupted .*$C.*cannot tell" <<<"$msg" || fail "job $id: $msg"
[ -e "$C" ] && fail "it was made again"
left=$(leftovers)
[ -z "$left" ] || fail "left beside it: $left"
echo "# $msg"
kill9
end

begin "a create with its marker and staged copy, cut off before the rename: made now"
create_cut
rm -f "$C"
printf 'made' >"$S"
: >"$M"
start_daemon || fail "the daemon did not start again"
wait_state "$id" succeeded || fail "job $id: $(aj --json get "$id" 2>&1)"
[ "$(cat "$C" 2>&1)" = made ] || fail "the file: $(cat "$C" 2>&1)"
left=$(leftovers)
[ -z "$left" ] || fail "left beside it: $left"
kill9
end

begin "a marker that outlived its finished create is removed at the next start"
create_cut
# As a kill just after the job's end was on disk leaves it: finished, its
# record marked for tidying, the marker still there.
"$PY" - "$STATE/jobs.db" "$id" <<'EOF'
import json, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
jid = int(sys.argv[2])
(body,) = db.execute("SELECT body FROM jobs WHERE id = ?", (jid,)).fetchone()
b = json.loads(body)
b["result"] = {"path": "x", "bytes": 4}
b["tidy"] = True
db.execute("UPDATE jobs SET state = 2, finished_ms = started_ms, body = ? WHERE id = ?",
           (json.dumps(b), jid))
db.commit()
EOF
: >"$M"
start_daemon || fail "the daemon did not start again"
left=$(leftovers)
[ -z "$left" ] || fail "left beside it: $left"
[ "$(field "$id" 'j["state"]')" = succeeded ] || fail "job $id: $(aj --json get "$id" 2>&1)"
kill9
tidy=$("$PY" -c 'import json, sqlite3, sys; print(json.loads(sqlite3.connect(sys.argv[1]).execute(
    "SELECT body FROM jobs WHERE id = ?", (int(sys.argv[2]),)).fetchone()[0]).get("tidy"))' "$STATE/jobs.db" "$id")
[ "$tidy" = None ] || fail "the record still asks for tidying: $tidy"
end

# ------------------------------------------------------------------ scheduled jobs

ms_of() { "$PY" -c 'import sys, datetime; print(int(datetime.datetime.fromisoformat(sys.argv[1].replace("Z", "+00:00")).timestamp() * 1000))' "$1"; }

begin "a job scheduled --in 3s keeps its time across kill -9, and one due while down starts at once"
rm -rf "$STATE"
start_daemon || fail "the daemon did not start"
later=$(aj --detach sleep --in 3 0 later)
soon=$(aj --detach sleep --in 1 0 soon)
nb=$(field "$later" 'j["not_before"]')
[ "$(field "$later" 'j["state"]')" = queued ] || fail "job $later is not queued: $(aj --json get "$later")"
kill9
sleep 1.5   # job $soon falls due while the daemon is down
start_daemon || fail "the daemon did not start again"
[ "$(field "$later" 'j["not_before"]')" = "$nb" ] || fail "not_before moved: $(aj --json get "$later")"
wait_state "$soon" succeeded || fail "job $soon, due while down: $(aj --json get "$soon")"
[ "$(field "$later" 'j["state"]')" = queued ] || fail "job $later started before its time"
wait_state "$later" succeeded || fail "job $later: $(aj --json get "$later")"
started=$(ms_of "$(field "$later" 'j["started_at"]')")
[ "$started" -ge "$(ms_of "$nb")" ] || fail "job $later started at $started, before $nb"
kill9
end

# ------------------------------------------------------------------ uploads

# Content sent as an upload (asyncjob write from stdin, more than fits in a
# request) is kept in $STATE/uploads under its token until the write that
# took it has ended; a restart in between runs the write from it.

json_id() { "$PY" -c 'import json, sys; print(json.load(sys.stdin)["id"])'; }

# upload_cut: a fresh store, $F holding "A\n", and job $id that appended
# 200 kB from stdin (an upload) to it, set back to running with the daemon
# down; $token names the upload, $TMP/up.bin is its content.
upload_cut() {
	rm -rf "$STATE"
	printf 'A\n' >"$F"
	head -c 200000 /dev/urandom >"$TMP/up.bin"
	start_daemon || fail "the daemon did not start"
	id=$(aj --json write --append "$F" - <"$TMP/up.bin" | json_id)
	[ -n "$id" ] || fail "no job id from the write"
	kill9
	as_running "$id"
	token=$("$PY" -c 'import json, sqlite3, sys; print(json.loads(sqlite3.connect(sys.argv[1]).execute(
    "SELECT body FROM jobs WHERE id = ?", (int(sys.argv[2]),)).fetchone()[0])["spec"]["upload"])' "$STATE/jobs.db" "$id")
	[ -n "$token" ] || fail "the job's spec names no upload"
	{ printf 'A\n'; cat "$TMP/up.bin"; } >"$TMP/want"
}

begin "an append from an upload cut off before its bytes is made from its spool file after kill -9"
upload_cut
[ -z "$(ls "$STATE/uploads")" ] || fail "the spool file outlived the finished job: $(ls "$STATE/uploads")"
# As a kill before the end leaves it: the spool file still there.
cp "$TMP/up.bin" "$STATE/uploads/$token"
truncate -s 2 "$F"
start_daemon || fail "the daemon did not start again"
wait_state "$id" succeeded || fail "job $id: $(aj --json get "$id" 2>&1)"
cmp -s "$F" "$TMP/want" || fail "the file is not A and the upload once ($(stat -c %s "$F") bytes)"
for _ in $(seq 100); do [ -z "$(ls "$STATE/uploads")" ] && break; sleep 0.05; done
[ -z "$(ls "$STATE/uploads")" ] || fail "the spool file was not removed: $(ls "$STATE/uploads")"
kill9
end

begin "an append whose upload's spool file is gone after a restart: interrupted, the file untouched"
upload_cut
truncate -s 2 "$F"
start_daemon || fail "the daemon did not start again"
wait_state "$id" failed || fail "job $id: $(aj --json get "$id" 2>&1)"
[ "$(field "$id" 'j["error"]["code"]')" = interrupted ] || fail "job $id: $(aj --json get "$id" 2>&1)"
field "$id" 'j["error"]["message"]' | grep -q "upload is gone" ||
	fail "the message: $(field "$id" 'j["error"]["message"]')"
[ "$(cat "$F")" = A ] || fail "the file was touched"
kill9
end

begin "a spool file no job took is removed at the next start"
rm -rf "$STATE"
mkdir -p "$STATE/uploads"
stray=0123456789abcdef0123456789abcdef
echo partial >"$STATE/uploads/$stray"
start_daemon || fail "the daemon did not start"
[ ! -e "$STATE/uploads/$stray" ] || fail "the stray spool file is still there"
kill9
end

echo "# $ncases case(s), $failures failed"
[ "$failures" -eq 0 ]
