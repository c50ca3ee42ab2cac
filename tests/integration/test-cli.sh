#!/bin/bash
# Integration test of the asyncjob command-line tool against a real asyncjobd
# on a temporary socket. Run by `make check` with ASYNCJOBD, ASYNCJOB_CLI,
# ASYNCJOB_SRCDIR and ASYNCJOB_BUILDDIR set (see the end of Makefile.am).
#
# Each case prints "ok - NAME" or "not ok - NAME" followed by "#" lines saying
# why. The script exits 1 if any case failed (or the daemon did not exit 0 on
# SIGTERM, as under AddressSanitizer when it leaks), 0 otherwise.
#
# No case asserts a wall-clock duration: waiting for a state is a bounded
# poll, and "quickly" is checked through states (a canceled job did not run).
# shellcheck disable=SC2015,SC2317  # a && b || fail; functions run from traps
set -u
export LC_ALL=C

: "${ASYNCJOBD:?ASYNCJOBD must name the asyncjobd binary}"
: "${ASYNCJOB_CLI:?ASYNCJOB_CLI must name the asyncjob binary}"

# Nothing here reads the terminal unless a case gives it stdin.
exec </dev/null

TMP=$(mktemp -d "${TMPDIR:-/tmp}/asyncjob-cli.XXXXXX") || exit 99
SOCK=$TMP/asyncjobd.sock
CONF=$TMP/asyncjobd.conf
LOG=$TMP/asyncjobd.log
DAEMON_PID=
WEB_PID=
BG_PIDS=

# ------------------------------------------------------------------ teardown

# stop_daemon: SIGTERM, a bounded wait, and its exit status as a case.
stop_daemon() {
	local pid=$DAEMON_PID status

	DAEMON_PID=
	begin "asyncjobd exits 0 on SIGTERM"
	if kill -TERM "$pid" 2>/dev/null; then
		# It cancels jobs and answers clients within its grace period.
		for _ in $(seq 200); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			fail "still running 20 s after SIGTERM; killed"
			kill -KILL "$pid" 2>/dev/null
		fi
	else
		fail "asyncjobd was already gone before SIGTERM"
	fi
	wait "$pid"
	status=$?
	[ "$status" -eq 0 ] || fail "asyncjobd exited with status $status"
	if grep -q 'ERROR: [A-Za-z]*Sanitizer' "$LOG" 2>/dev/null; then
		fail "a sanitizer reported an error in the daemon's log"
	fi
	end
}

cleanup() {
	local pid

	trap - EXIT INT TERM HUP
	# Background CLIs a failed case may have left behind (ours only).
	for pid in $BG_PIDS; do
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	[ -n "$WEB_PID" ] && kill -TERM "$WEB_PID" 2>/dev/null && wait "$WEB_PID" 2>/dev/null
	[ -n "$DAEMON_PID" ] && stop_daemon
	if [ "$failures" -gt 0 ]; then
		echo "# $failures of $ncases case(s) failed; asyncjobd log ($LOG):"
		sed 's/^/#   /' "$LOG" 2>/dev/null
	else
		echo "# all $ncases cases passed"
	fi
	rm -rf "$TMP"
	[ "$failures" -eq 0 ] && exit 0
	exit 1
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# ------------------------------------------------------------------ helpers

run_no=0
shown_run=

. "$(dirname "$0")/../common/cases.sh"
case_begin_hook() { shown_run=; }

# failc MESSAGE...: fail, followed (once a case) by what the last command did.
failc() {
	fail "$@"
	if [ "$shown_run" != "$run_no" ]; then
		fail "$(show)"
		shown_run=$run_no
	fi
}

# run [ARG]...: the CLI on our daemon's socket. Sets rc, and leaves stdout
# and stderr in $TMP/out and $TMP/err (stdout also as $out, without the
# trailing newline).
run() {
	run_no=$((run_no + 1))
	cmd="asyncjob -s SOCK $*"
	"$ASYNCJOB_CLI" -s "$SOCK" "$@" >"$TMP/out" 2>"$TMP/err"
	rc=$?
	out=$(cat "$TMP/out")
}

# run_raw [ARG]...: the same without -s.
run_raw() {
	run_no=$((run_no + 1))
	cmd="asyncjob $*"
	"$ASYNCJOB_CLI" "$@" >"$TMP/out" 2>"$TMP/err"
	rc=$?
	out=$(cat "$TMP/out")
}

# run_tty [ARG]...: run, with a terminal for stdin, stdout and stderr
# (script(1) from util-linux); both outputs land in $TMP/out, with the
# terminal's CR LF line ends. Callers check have_script first.
run_tty() {
	local args=
	run_no=$((run_no + 1))
	cmd="script -qec 'asyncjob -s SOCK $*' /dev/null"
	args=$(printf ' %q' "$@")
	script -qec "$(printf '%q' "$ASYNCJOB_CLI") -s $(printf '%q' "$SOCK")$args" /dev/null \
		>"$TMP/out" 2>"$TMP/err" </dev/null
	rc=$?
	out=$(cat "$TMP/out")
}

have_script() {
	command -v script >/dev/null 2>&1
}

# What the last command did, for failure messages.
show() {
	echo "command: $cmd"
	echo "exit status: $rc"
	sed 's/^/stdout: /' "$TMP/out" | head -n 20
	sed 's/^/stderr: /' "$TMP/err" | head -n 20
}

expect_rc() {
	[ "$rc" = "$1" ] || failc "expected exit status $1, got $rc"
}

# expect_out TEXT: stdout is exactly TEXT (a printf format: "Hello\nWorld\n").
expect_out() {
	# shellcheck disable=SC2059
	printf "$1" | cmp -s - "$TMP/out" ||
		failc "expected stdout $(printf '%q' "$(printf "$1")") (with its newlines)"
}

expect_out_empty() {
	[ ! -s "$TMP/out" ] || failc "expected no output on stdout"
}

expect_err_empty() {
	[ ! -s "$TMP/err" ] || failc "expected nothing on stderr"
}

# expect_out_has / expect_err_has REGEX (grep basic regex)
expect_out_has() {
	grep -q -e "$1" "$TMP/out" || failc "stdout does not match '$1'"
}

expect_err_has() {
	grep -q -e "$1" "$TMP/err" || failc "stderr does not match '$1'"
}

# An error message is exactly one line on stderr.
expect_err_one_line() {
	local n
	n=$(wc -l <"$TMP/err")
	[ "$n" -eq 1 ] || failc "expected a one-line error on stderr, got $n line(s)"
}

# A usage error (exit 2): a one-line message, which may be followed by the
# customary "Try 'asyncjob ... --help' for more information." hint.
expect_usage_error() {
	local msg hint
	expect_rc 2
	msg=$(grep -vc "^Try 'asyncjob.*--help' for more information\.\$" "$TMP/err")
	hint=$(grep -c "^Try 'asyncjob.*--help' for more information\.\$" "$TMP/err")
	[ "$msg" -eq 1 ] && [ "$hint" -le 1 ] && [ "$(wc -l <"$TMP/err")" -eq $((msg + hint)) ] ||
		failc "expected a one-line usage error (plus the Try hint) on stderr," \
			"got $msg message line(s) and $hint hint line(s)"
	if [ "$hint" -eq 1 ] && [ "$(tail -n 1 "$TMP/err" | cut -c1-4)" != "Try " ]; then
		failc "the Try hint is not the last line on stderr"
	fi
}

# poll TRIES CMD...: runs CMD every 0.1 s until it succeeds, at most TRIES times.
poll() {
	local n=$1
	shift
	until "$@"; do
		n=$((n - 1))
		[ "$n" -gt 0 ] || return 1
		sleep 0.1
	done
}

# JSON fields of a one-line object, by sed. Strings only where noted.
json_str() {   # json_str KEY: the (last) "KEY":"..." string value on each line
	sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p"
}
json_id() {    # the job id of a job object line ({"id":N,...})
	sed -n 's/^{"id":\([0-9][0-9]*\),.*/\1/p'
}

# bg_start OUTFILE ERRFILE ARG...: the CLI in the background; sets bg_pid.
bg_start() {
	local o=$1 e=$2
	shift 2
	# Empty now: polls on them must not see an earlier run's output.
	: >"$o"
	: >"$e"
	"$ASYNCJOB_CLI" -s "$SOCK" "$@" >"$o" 2>"$e" &
	bg_pid=$!
	BG_PIDS="$BG_PIDS $bg_pid"
}

# forget_bg PID: it has ended (and was waited for).
forget_bg() {
	local p rest=
	for p in $BG_PIDS; do
		[ "$p" = "$1" ] || rest="$rest $p"
	done
	BG_PIDS=$rest
}

# interrupt PID: Ctrl-C for a background CLI, then its exit status in rc.
# Bash starts background commands with SIGINT ignored until the CLI installs
# its handler, so a signal sent too early is lost: send it again (bounded)
# until the process ends. Sets bg_killed when it had to be killed.
interrupt() {
	local pid=$1
	bg_killed=
	for _ in 1 2 3 4 5; do
		kill -INT "$pid" 2>/dev/null || break
		for _ in $(seq 20); do
			kill -0 "$pid" 2>/dev/null || break 2
			sleep 0.1
		done
	done
	if kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$pid" 2>/dev/null
		bg_killed=1
	fi
	wait "$pid"
	rc=$?
	forget_bg "$pid"
}

# wait_bg PID: waits (at most 10 s, then kills it) for a background CLI to
# end by itself; its exit status in rc, bg_killed set if it had to be killed.
wait_bg() {
	local pid=$1
	bg_killed=
	for _ in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$pid" 2>/dev/null
		bg_killed=1
	fi
	wait "$pid"
	rc=$?
	forget_bg "$pid"
}

daemon_up() {
	"$ASYNCJOB_CLI" -s "$SOCK" info >/dev/null 2>&1
}

# ------------------------------------------------------------------ daemon

mkdir -p "$TMP/files"
cat >"$CONF" <<EOF
# asyncjobd configuration for test-cli.sh
log_level = debug
write_root = $TMP/files
state_directory = $TMP/state
# The last cases stop a daemon that cancels on shutdown; one that resumes
# (the default) is test-store.sh's.
on_shutdown = cancel
EOF

"$ASYNCJOBD" -c "$CONF" -s "$SOCK" >"$LOG" 2>&1 &
DAEMON_PID=$!

begin "asyncjobd starts and answers info"
for _ in $(seq 100); do
	daemon_up && break
	kill -0 "$DAEMON_PID" 2>/dev/null || break
	sleep 0.1
done
if ! daemon_up; then
	fail "asyncjobd did not answer on $SOCK within 10 s"
	if ! kill -0 "$DAEMON_PID" 2>/dev/null; then
		wait "$DAEMON_PID"
		fail "asyncjobd exited with status $?"
		DAEMON_PID=
	fi
	end
	exit 1
fi
end

# ------------------------------------------------------------------ cases

begin "asyncjobd with a socket in a missing directory says so (exit 1)"
out=$("$ASYNCJOBD" -c "$CONF" --store memory -s "$TMP/no/such/dir/s.sock" 2>&1 >/dev/null)
status=$?
[ "$status" -eq 1 ] || fail "exit status $status, not 1: $out"
# The line less its timestamp (a plain stream's: not the journal).
last=$(tail -n 1 <<<"$out" | sed 's/^[0-9-]*T[0-9:.]*Z //')
[ "$last" = "asyncjobd: error: cannot listen on $TMP/no/such/dir/s.sock: the directory $TMP/no/such/dir does not exist (create it, or give another --socket)" ] ||
	fail "it said: $out"
end

begin "submit of a text that is not JSON says what is wrong and where (exit 2)"
run submit '{"type":"sleep",}'
expect_rc 2
expect_err_has 'the job spec is not valid JSON: expected a member name in quotes at byte 17'
run submit '{'
expect_rc 2
expect_err_has 'the job spec is not valid JSON: it ends too soon'
run submit '[1]'
expect_rc 2
expect_err_has "the job spec must be a JSON object, such as .*, not an array"
end

begin "info prints the daemon's version line"
run info
expect_rc 0
expect_err_empty
daemon_version=$("$ASYNCJOBD" --version 2>/dev/null | head -n 1)   # "asyncjobd X.Y.Z"
case $daemon_version in
asyncjobd\ [0-9]*)
	case $(head -n 1 "$TMP/out") in
	"$daemon_version, pid "*", socket $SOCK") ;;
	*) failc "first line is not '$daemon_version, pid N, up S s, socket $SOCK'" ;;
	esac ;;
*) fail "asyncjobd --version printed '$daemon_version'" ;;
esac
expect_out_has '^jobs: [0-9]* queued, [0-9]* running'
expect_out_has '^limits:$'
end

begin "info --json is one JSON object with limits"
run --json info
expect_rc 0
expect_err_empty
[ "$(wc -l <"$TMP/out")" -eq 1 ] || failc "expected one line"
expect_out_has '^{.*}$'
expect_out_has '"limits":{"'
expect_out_has '"version":"'
end

begin "gather 'sleep 1 Hello' 'sleep 1 World' prints Hello, World"
run gather 'sleep 1 Hello' 'sleep 1 World'
expect_rc 0
expect_out 'Hello\nWorld\n'
expect_err_empty   # not a terminal: no progress line
end

begin "gather --json: the two jobs overlapped"
run --json gather 'sleep 1 Hello' 'sleep 1 World'
expect_rc 0
if [ "$(wc -l <"$TMP/out")" -ne 2 ]; then
	failc "expected two job objects"
else
	l1=$(sed -n 1p "$TMP/out")
	l2=$(sed -n 2p "$TMP/out")
	s1=$(echo "$l1" | json_str started_at)
	f1=$(echo "$l1" | json_str finished_at)
	s2=$(echo "$l2" | json_str started_at)
	f2=$(echo "$l2" | json_str finished_at)
	case $l1 in *'"state":"succeeded"'*'"message":"Hello"'*) ;; *) fail "first job: $l1" ;; esac
	case $l2 in *'"state":"succeeded"'*'"message":"World"'*) ;; *) fail "second job: $l2" ;; esac
	if [ -z "$s1" ] || [ -z "$f1" ] || [ -z "$s2" ] || [ -z "$f2" ]; then
		failc "missing started_at/finished_at"
	elif ! { [[ $s1 < $f1 && $s1 < $f2 && $s2 < $f1 && $s2 < $f2 ]]; }; then
		fail "the jobs did not overlap: started $s1 and $s2, finished $f1 and $f2"
	fi
fi
end

begin "gather on a terminal shows a live n/N done line"
if ! command -v script >/dev/null 2>&1; then
	echo "# skipped: script(1) is not installed"
else
	# script(1) gives the command a terminal; the progress line goes to
	# stderr on it and is erased before the results are printed.
	run_no=$((run_no + 1))
	cmd="script -qec 'asyncjob gather sleep 0.2 a; sleep 0.3 b' /dev/null"
	script -qec "'$ASYNCJOB_CLI' -s '$SOCK' gather 'sleep 0.2 a' 'sleep 0.3 b'" /dev/null \
		>"$TMP/out" 2>"$TMP/err" </dev/null
	rc=$?
	expect_rc 0
	expect_out_has 'gather: 0/2 done'
	expect_out_has 'gather: 2/2 done'
	# Carriage returns redraw the line; what is left after the last one
	# (minus the erase sequence) is the job's output.
	tr '\r' '\n' <"$TMP/out" | sed 's/\x1b\[K//g' | grep -q '^a$' ||
		failc "the first job's message is missing"
fi
end

begin "sleep 0.1 hi there prints the message"
run sleep 0.1 hi there
expect_rc 0
expect_out 'hi there\n'
expect_err_empty
end

begin "sleep 0 prints nothing"
run sleep 0
expect_rc 0
expect_out_empty
expect_err_empty
end

begin "--json sleep 0 x prints one succeeded job object"
run --json sleep 0 x
expect_rc 0
[ "$(wc -l <"$TMP/out")" -eq 1 ] || failc "expected one line"
expect_out_has '^{"id":[0-9][0-9]*,.*}$'
expect_out_has '"state":"succeeded"'
expect_out_has '"message":"x"'
end

begin "gather reads JSON specs from stdin"
printf '%s\n' '{"type":"sleep","seconds":0.1,"message":"first"}' '' \
	'{"type":"sleep","seconds":0,"message":"second"}' >"$TMP/in"
run gather <"$TMP/in"
expect_rc 0
expect_out 'first\nsecond\n'
expect_err_empty
end

begin "gather - reads job words from stdin"
printf 'sleep 0.1 one\nsleep 0 two\n' >"$TMP/in"
run gather - <"$TMP/in"
expect_rc 0
expect_out 'one\ntwo\n'
expect_err_empty
end

begin "gather's job words take their command's options"
rm -f "$TMP/files/gathered.txt"
run gather 'sleep -l tea 0.1 ready' "write -a $TMP/files/gathered.txt one" \
	"write --append $TMP/files/gathered.txt two"
expect_rc 0
expect_out 'ready\n'
[ "$(cat "$TMP/files/gathered.txt")" = onetwo ] || failc "the appends: $(cat "$TMP/files/gathered.txt")"
run --json gather 'sleep --label tea --in 0.2 0 x'
grep -q '"label":"tea".*"not_before":' "$TMP/out" || failc "no label or not_before: $(cat "$TMP/out")"
run gather 'sleep --fail 1'
expect_usage_error
expect_err_has "^asyncjob: gather: --fail: not an option of a sleep job here"
run gather 'sleep -l'
expect_usage_error
rm -f "$TMP/files/gathered.txt"
end

begin "gather with a bad job word is a usage error"
run gather 'sleep 0 a' 'frobnicate 2'
expect_usage_error
expect_err_has "^asyncjob: gather: .*'frobnicate 2'"
expect_out_empty
end

begin "gather with a bad line on stdin: one error line naming the line"
printf 'sleep 0 a\nfrobnicate 2\n' >"$TMP/in"
run gather <"$TMP/in"
expect_usage_error
expect_err_has "^asyncjob: gather: .*line 2.*frobnicate 2\\|^asyncjob: gather: .*frobnicate 2.*line 2"
expect_out_empty
end

begin "gather --fail-fast: a timeout cancels the other job"
run --json gather --fail-fast '{"type":"sleep","seconds":5,"timeout":0.1}' 'sleep 5 other'
expect_rc 1
if [ "$(wc -l <"$TMP/out")" -ne 2 ]; then
	failc "expected two job objects"
else
	l1=$(sed -n 1p "$TMP/out")
	l2=$(sed -n 2p "$TMP/out")
	case $l1 in *'"state":"failed"'*'"error":{"code":"timeout"'*) ;;
	*) fail "the first job did not fail with a timeout: $l1" ;; esac
	case $l2 in *'"state":"canceled"'*'"error":{"code":"canceled"'*) ;;
	*) fail "the second job was not canceled: $l2" ;; esac
fi
end

begin "gather --fail-fast without --json reports each job on one stderr line"
run gather --fail-fast '{"type":"sleep","seconds":5,"timeout":0.1}' 'sleep 5 other'
expect_rc 1
expect_out_empty
[ "$(wc -l <"$TMP/err")" -eq 2 ] || failc "expected two lines on stderr"
expect_err_has '^asyncjob: job [0-9]* (sleep) failed (timeout): timed out'
expect_err_has '^asyncjob: job [0-9]* (sleep) canceled: '
end

begin "submit a JSON spec prints its message"
run submit '{"type":"sleep","seconds":0,"message":"m"}'
expect_rc 0
expect_out 'm\n'
expect_err_empty
end

begin "submit with an unknown field: the daemon finds it, a usage error all the same (exit 2)"
run submit '{"type":"sleep","seconds":1,"bogus":1}'
expect_rc 2
expect_err_one_line
expect_err_has '^asyncjob: submit: bogus: unknown field for a sleep job$'
expect_out_empty
end

begin "a bad argument the daemon finds is said in the CLI's words, exit 2"
run sleep 99999999999
expect_rc 2
expect_err_one_line
expect_err_has '^asyncjob: sleep: SECONDS: must be a number from 0 to '
run sleep -t 0 1
expect_rc 2
expect_err_has '^asyncjob: sleep: --timeout: must be a number of seconds > 0$'
run gather 'sleep 1' 'sleep 99999999999'
expect_rc 2
expect_err_has '^asyncjob: gather: job 2: SECONDS: must be a number'
end

begin "submit 'not json' is a usage error"
run submit 'not json'
expect_usage_error
expect_err_has '^asyncjob: submit: '
expect_out_empty
end

begin "submit - reads the spec from stdin"
echo '{"type":"sleep","seconds":0,"message":"from stdin"}' >"$TMP/in"
run submit - <"$TMP/in"
expect_rc 0
expect_out 'from stdin\n'
expect_err_empty
end

begin "submit - with empty stdin is a usage error"
run submit - </dev/null
expect_usage_error
end

# --detach, get, wait, cancel on one long job.
begin "--detach sleep 30 prints the job id"
run --detach sleep 30
expect_rc 0
expect_err_empty
detached=
if grep -q '^[0-9][0-9]*$' "$TMP/out" && [ "$(wc -l <"$TMP/out")" -eq 1 ]; then
	detached=$out
else
	failc "expected one line with a job id"
fi
end

job_running() {
	run get "$1"
	[ "$rc" -eq 0 ] && [ "$(head -n 1 "$TMP/out")" = "job $1 (sleep): running" ]
}

if [ -n "$detached" ]; then
	begin "get ID shows the detached job running"
	poll 50 job_running "$detached" ||
		failc "'get $detached' never showed 'job $detached (sleep): running'"
	expect_out_has '^  submitted:  [0-9-]*T'
	expect_out_has '^  started:    [0-9-]*T'
	end

	begin "get --json ID shows the job object"
	run --json get "$detached"
	expect_rc 0
	expect_out_has "^{\"id\":$detached,\"type\":\"sleep\",.*\"state\":\"running\""
	end

	begin "wait ID --timeout 0.2 exits 124"
	run wait "$detached" --timeout 0.2
	expect_rc 124
	expect_err_one_line
	expect_err_has '^asyncjob: wait: timed out'
	expect_out_empty
	end

	begin "wait -q ID --timeout 0.1 exits 124 quietly"
	run -q wait "$detached" --timeout 0.1
	expect_rc 124
	expect_err_empty
	end

	begin "cancel ID cancels the job"
	run cancel "$detached"
	expect_rc 0
	expect_out "job $detached canceled\\n"
	expect_err_empty
	end

	begin "cancel ID again exits 4"
	run cancel "$detached"
	expect_rc 4
	expect_err_one_line
	expect_err_has '^asyncjob: cancel: '
	expect_out_empty
	end

	begin "wait ID on a canceled job exits 1, saying so on stderr as the foreground would"
	run wait "$detached"
	expect_rc 1
	expect_out_empty
	expect_err_one_line
	expect_err_has "^asyncjob: job $detached (sleep) canceled: canceled by request"
	end

	begin "get ID of a canceled job says so as the foreground would, exit 1"
	run get "$detached"
	expect_rc 1
	expect_err_has "^asyncjob: job $detached (sleep) canceled: canceled by request"
	end
fi

begin "get 999999 exits 4"
run get 999999
expect_rc 4
expect_err_one_line
expect_err_has '^asyncjob: get: .*999999'
expect_out_empty
end

begin "get abc is a usage error"
run get abc
expect_usage_error
expect_err_has "^asyncjob: get: 'abc' is not a job id"
expect_out_empty
end

begin "cancel abc is a usage error"
run cancel abc
expect_usage_error
end

begin "list shows a status table: id, type, state, age, how long it ran, label"
run list
expect_rc 0
expect_err_empty
if [ "$(head -n 1 "$TMP/out" | tr -s ' ')" != "ID TYPE STATE AGE TOOK LABEL" ]; then
	failc "no header line"
fi
# 12 sleep canceled (canceled) 3.2s 0.1s label
[ -n "$detached" ] && expect_out_has "^$detached  *sleep  *canceled (canceled)  *[0-9.]*[smhd][0-9]*s*  "
list_rows=$(($(wc -l <"$TMP/out") - 1))
[ "$(tail -n +2 "$TMP/out" | grep -vEc '^[0-9]+ +[a-z]+ +[a-z]+( \([a-z_]+\))? +[0-9.]+[smhd]([0-9]+[smh])? +(-|[0-9.]+[smhd]([0-9]+[smh])?)( |$)')" -eq 0 ] ||
	failc "rows that are not jobs"
[ "$list_rows" -ge 10 ] || failc "expected the jobs of the cases so far, got $list_rows"
grep -q $'\033' "$TMP/out" && failc "colour on a pipe"
end

begin "list says how many older jobs match beyond -n, on stderr"
run list -n 2
expect_rc 0
[ "$(wc -l <"$TMP/out")" -eq 3 ] || failc "expected a header and 2 rows"
expect_err_one_line
expect_err_has "^asyncjob: $((list_rows - 2)) more older job(s) match; -n $list_rows lists them all$"
end

begin "list -n 0 and list --state bogus are usage errors (exit 2)"
run list -n 0
expect_rc 2
expect_err_has '^asyncjob: list: --limit 0: expected at least 1 job'
run list --state bogus
expect_rc 2
expect_err_has '^asyncjob: list: --state bogus: expected queued, running, succeeded, failed or canceled'
end

begin "list colours states on a terminal, unless NO_COLOR"
if ! have_script; then
	echo "# skipped: script(1) is not installed"
else
	run_tty list --state canceled
	expect_rc 0
	grep -q $'\033\[33mcanceled' "$TMP/out" || failc "no yellow 'canceled' on a terminal"
	NO_COLOR=1 run_tty list --state canceled
	grep -q $'\033' "$TMP/out" && failc "colour with NO_COLOR set"
fi
end

begin "list --state canceled shows only canceled jobs"
run list --state canceled
expect_rc 0
expect_err_empty
[ -n "$detached" ] && expect_out_has "^$detached  *sleep  *canceled "
[ "$(tail -n +2 "$TMP/out" | grep -vc '^[0-9][0-9]*  *sleep  *canceled ')" -eq 0 ] ||
	failc "jobs in other states"
# The fail-fast cases canceled two jobs and the detached one is canceled.
[ "$(tail -n +2 "$TMP/out" | wc -l)" -ge 3 ] || failc "expected at least 3 canceled jobs"
end

begin "list --json prints one summary per line; --results adds the results"
run --json list
expect_rc 0
expect_err_empty
[ "$(grep -vc '^{"id":[0-9][0-9]*,.*}$' "$TMP/out")" -eq 0 ] ||
	failc "lines that are not job objects"
[ "$(wc -l <"$TMP/out")" -eq "$list_rows" ] ||
	failc "$(wc -l <"$TMP/out") objects, but list showed $list_rows jobs"
grep -q '"result":' "$TMP/out" && failc "a result in a summary"
grep -q '"state":"succeeded".*"result_omitted":true' "$TMP/out" ||
	failc "no succeeded job says result_omitted"
run --json list --results
expect_rc 0
grep -q '"state":"succeeded".*"result":{' "$TMP/out" || failc "no result with --results"
grep -q '"result_omitted"' "$TMP/out" && failc "result_omitted with --results"
end

begin "sleep 0.2 --timeout 0.05 fails with a timeout"
run sleep 0.2 --timeout 0.05
expect_rc 1
expect_out_empty
expect_err_one_line
expect_err_has '^asyncjob: job [0-9]* (sleep) failed (timeout): timed out'
end

begin "a failed job is logged in one timestamped line: id, type, uid, code"
failed_id=$(sed -n 's/^asyncjob: job \([0-9]*\) (sleep) failed.*/\1/p' "$TMP/err")
grep -q "^[0-9-]*T[0-9:.]*Z asyncjobd: notice: job $failed_id (sleep, uid $(id -u)) failed (timeout)$" "$LOG" ||
	fail "no log line for job $failed_id: $(grep "job $failed_id" "$LOG")"
end

# Ctrl-C on a foreground sleep: the job is canceled and the CLI exits 130.
canceled_count() {
	"$ASYNCJOB_CLI" -s "$SOCK" --json list --state canceled 2>/dev/null | grep -c '^{"id"'
}
running_ids() {
	"$ASYNCJOB_CLI" -s "$SOCK" --json list --state running 2>/dev/null | json_id
}
have_running() {   # have_running N: exactly N running jobs
	[ "$(running_ids | wc -l)" -eq "$1" ]
}
job_state_is() {   # job_state_is ID STATE
	"$ASYNCJOB_CLI" -s "$SOCK" --json get "$1" 2>/dev/null | grep -q "\"state\":\"$2\""
}

# wait ID ID...: without --any until all have finished, with --any until
# the first has; the exit status says how they ended.
detach_sleep() {   # detach_sleep VAR ARG...: a detached sleep; its id in VAR
	local var=$1
	shift
	"$ASYNCJOB_CLI" -s "$SOCK" --detach sleep "$@" >"$TMP/detached" 2>&1 || return 1
	printf -v "$var" '%s' "$(cat "$TMP/detached")"
}
wait_ids_ok=
if detach_sleep long 30 'long done' && detach_sleep short 0.1 'short done' &&
	detach_sleep short2 0.1 'short2 done' &&
	detach_sleep failed 30 --timeout 0.05 && poll 50 job_state_is "$short" succeeded &&
	poll 50 job_state_is "$short2" succeeded && poll 50 job_state_is "$failed" failed; then
	wait_ids_ok=1
else
	begin "wait on several ids: setting up the jobs"
	fail "could not make the jobs to wait on: $(cat "$TMP/detached")"
	end
fi

if [ -n "$wait_ids_ok" ]; then
	begin "wait A B (both succeeded) exits 0 and prints their messages, in order"
	run wait "$short2" "$short"
	expect_rc 0
	expect_out 'short2 done\nshort done\n'
	expect_err_empty
	end

	begin "wait --any A B returns with A finished and B still running, exit 0"
	run wait --any "$long" "$short"
	expect_rc 0
	expect_out 'short done\n'
	end

	begin "wait --any F B: the one finished failed, exit 1"
	run wait --any "$failed" "$long"
	expect_rc 1
	expect_out_empty
	expect_err_one_line
	expect_err_has "^asyncjob: job $failed (sleep) failed (timeout): "
	end

	begin "wait --any A F: one of those finished succeeded, exit 0"
	run wait --any "$short" "$failed"
	expect_rc 0
	end

	begin "wait A F: one failed, exit 1"
	run wait "$short" "$failed"
	expect_rc 1
	expect_out 'short done\n'
	expect_err_has "^asyncjob: job $failed (sleep) failed (timeout): "
	end

	begin "get ID of a finished sleep prints its message, as the foreground did"
	run get "$short"
	expect_rc 0
	expect_out 'short done\n'
	end

	begin "wait --any B --timeout 0.1 with none finished exits 124"
	run wait --any "$long" --timeout 0.1
	expect_rc 124
	end

	begin "wait A B waits while B runs; B canceled: exit 1, both printed"
	detach_sleep soon 0.3 'soon done' || fail "could not start a sleep: $(cat "$TMP/detached")"
	bg_start "$TMP/wait-all.out" "$TMP/wait-all.err" wait "$soon" "$long"
	poll 50 job_state_is "$soon" succeeded || fail "job $soon never succeeded"
	# Its reply, had it been sent when the first job ended, would be in
	# by now.
	sleep 0.3
	kill -0 "$bg_pid" 2>/dev/null || fail "wait returned while job $long was still running"
	run cancel "$long"
	wait_bg "$bg_pid"
	[ -z "$bg_killed" ] || fail "wait did not return once job $long was canceled"
	[ "$rc" -eq 1 ] || fail "wait exited $rc, expected 1 (a job was canceled)"
	[ "$(cat "$TMP/wait-all.out")" = "soon done" ] ||
		fail "wait did not print job $soon's message: $(cat "$TMP/wait-all.out")"
	grep -q "^asyncjob: job $long (sleep) canceled" "$TMP/wait-all.err" ||
		fail "wait did not say job $long was canceled: $(cat "$TMP/wait-all.err")"
	end
fi

begin "--in and --at: the job stays queued until then; canceled meanwhile, it never starts"
run --json sleep --in 1 0 'on time'
expect_rc 0
python3 - "$TMP/out" <<'PY' 2>"$TMP/sched.err" || fail "$(cat "$TMP/sched.err")"
import json, sys
from datetime import datetime
j = json.loads(open(sys.argv[1]).read())
ts = lambda k: datetime.fromisoformat(j[k].replace("Z", "+00:00")).timestamp()
if not (ts("started_at") >= ts("not_before") >= ts("submitted_at") + 0.99):
    sys.exit("not started a second after submission: %s" % j)
PY
later=$("$ASYNCJOB_CLI" -s "$SOCK" --detach sleep --at "$(date -d '+1 hour' +%H:%M)" 0 2>&1)
job_state_is "$later" queued || fail "job $later is not queued"
run cancel "$later"
expect_rc 0
run --json get "$later"
grep -q '"state":"canceled"' "$TMP/out" && ! grep -q '"started_at"' "$TMP/out" ||
	fail "job $later, canceled while it waited: $(cat "$TMP/out")"
run sleep --at 25:00 1
expect_usage_error
run sleep --in 3x 1
expect_usage_error
run submit '{"type":"sleep","seconds":0,"delay":1,"not_before":"2026-12-08T00:00:00Z"}'
expect_rc 2
expect_err_has '^asyncjob: submit: delay: give not_before or delay, not both$'
run submit '{"type":"sleep","seconds":0,"not_before":"tomorrow"}'
expect_rc 2
expect_err_has '^asyncjob: submit: not_before: must be an RFC 3339 time'
end

begin "Ctrl-C cancels a foreground sleep and exits 130"
if ! have_running 0; then
	fail "jobs still running before the case: $(running_ids | tr '\n' ' ')"
fi
before=$(canceled_count)
bg_start "$TMP/intr1.out" "$TMP/intr1.err" sleep 30 x
pid=$bg_pid
if poll 100 have_running 1; then
	id=$(running_ids)
	sleep 0.3
	interrupt "$pid"
	[ -z "$bg_killed" ] || fail "SIGINT did not stop it; killed"
	[ "$rc" -eq 130 ] || fail "exit status $rc, expected 130; stderr: $(cat "$TMP/intr1.err")"
	grep -q "^asyncjob: interrupted: job $id canceled\$" "$TMP/intr1.err" ||
		fail "stderr does not say job $id was canceled: $(cat "$TMP/intr1.err")"
	[ ! -s "$TMP/intr1.out" ] || fail "stdout not empty: $(cat "$TMP/intr1.out")"
	after=$(canceled_count)
	[ "$after" -eq $((before + 1)) ] || fail "canceled jobs: $before before, $after after"
	job_state_is "$id" canceled || fail "job $id is not canceled"
else
	fail "the job never showed as running"
	interrupt "$pid"
fi
end

begin "Ctrl-C on gather cancels all its jobs and exits 130"
bg_start "$TMP/intr2.out" "$TMP/intr2.err" gather 'sleep 30 a' 'sleep 30 b'
pid=$bg_pid
if poll 100 have_running 2; then
	ids=$(running_ids | tr '\n' ' ')
	sleep 0.3
	interrupt "$pid"
	[ -z "$bg_killed" ] || fail "SIGINT did not stop it; killed"
	[ "$rc" -eq 130 ] || fail "exit status $rc, expected 130; stderr: $(cat "$TMP/intr2.err")"
	grep -q '^asyncjob: interrupted: ' "$TMP/intr2.err" ||
		fail "stderr does not say it was interrupted: $(cat "$TMP/intr2.err")"
	# The daemon cancels them when the connection closes.
	for id in $ids; do
		poll 50 job_state_is "$id" canceled || fail "job $id was not canceled"
	done
else
	fail "the two jobs never showed as running"
	interrupt "$pid"
fi
end

# watch: events as they happen, then a replay with --since 0.
subscribed() {
	"$ASYNCJOB_CLI" -s "$SOCK" --json info 2>/dev/null | grep -q '"subscribers":[1-9]'
}
watched_done() {   # watched_done FILE ID
	grep -q "\"job\":{\"id\":$2,.*\"state\":\"succeeded\"" "$1"
}
# states_of FILE ID: the states of job ID's events in FILE, in order.
states_of() {
	grep "\"job\":{\"id\":$2," "$1" | json_str state | tr '\n' ' '
}
# seq_increasing FILE: every line is {"event":"updated","seq":N,...} and N
# increases.
seq_increasing() {
	local prev=0 s
	while IFS= read -r line; do
		s=$(echo "$line" | sed -n 's/^{"event":"updated","seq":\([0-9][0-9]*\),.*/\1/p')
		[ -n "$s" ] && [ "$s" -gt "$prev" ] || return 1
		prev=$s
	done <"$1"
	[ "$prev" -gt 0 ]
}

begin "watch --json prints a job's events; SIGINT ends it with 0"
watched=
bg_start "$TMP/watch1.out" "$TMP/watch1.err" --json watch
pid=$bg_pid
if poll 100 subscribed; then
	run --json sleep 0.1 watched
	expect_rc 0
	watched=$(json_id <"$TMP/out")
	[ -n "$watched" ] || failc "no job id in the sleep's output"
	poll 100 watched_done "$TMP/watch1.out" "$watched" ||
		fail "no succeeded event for job $watched"
else
	fail "watch never subscribed"
fi
interrupt "$pid"
[ -z "$bg_killed" ] || fail "SIGINT did not stop it; killed"
[ "$rc" -eq 0 ] || fail "watch exited $rc after SIGINT, expected 0"
[ ! -s "$TMP/watch1.err" ] || fail "stderr: $(cat "$TMP/watch1.err")"
if [ -n "$watched" ]; then
	states=$(states_of "$TMP/watch1.out" "$watched")
	[ "$states" = "queued running succeeded " ] ||
		fail "job $watched's events had states '$states', expected 'queued running succeeded '"
fi
seq_increasing "$TMP/watch1.out" ||
	fail "events without an increasing \"seq\":"$'\n'"$(sed 's/^/  /' "$TMP/watch1.out")"
end

begin "watch --since 0 --json replays earlier events"
bg_start "$TMP/watch2.out" "$TMP/watch2.err" --json watch --since 0
pid=$bg_pid
if [ -n "$watched" ]; then
	poll 100 watched_done "$TMP/watch2.out" "$watched" ||
		fail "job $watched's succeeded event was not replayed"
else
	poll 100 test -s "$TMP/watch2.out" || fail "no events replayed"
fi
interrupt "$pid"
[ -z "$bg_killed" ] || fail "SIGINT did not stop it; killed"
[ "$rc" -eq 0 ] || fail "watch exited $rc after SIGINT, expected 0"
[ ! -s "$TMP/watch2.err" ] || fail "stderr: $(cat "$TMP/watch2.err")"
head -n 1 "$TMP/watch2.out" | grep -q '^{"event":"updated","seq":1,"job":{"id":1,.*"state":"queued"' ||
	fail "the replay does not start with seq 1 (job 1 queued): $(head -n 1 "$TMP/watch2.out")"
if [ -n "$watched" ]; then
	states=$(states_of "$TMP/watch2.out" "$watched")
	[ "$states" = "queued running succeeded " ] ||
		fail "job $watched's replayed states were '$states'"
fi
seq_increasing "$TMP/watch2.out" || fail "replayed events without an increasing \"seq\""
end

begin "watch (text) prints one line per event"
bg_start "$TMP/watch3.out" "$TMP/watch3.err" watch --since 0
pid=$bg_pid
if [ -n "$watched" ]; then
	poll 100 grep -q "^[0-9][0-9]*  *job $watched  *sleep  *succeeded" "$TMP/watch3.out" ||
		fail "no text line for job $watched succeeding"$'\n'"$(head -n 5 "$TMP/watch3.out")"
else
	poll 100 test -s "$TMP/watch3.out" || fail "no events replayed"
fi
interrupt "$pid"
[ "$rc" -eq 0 ] || fail "watch exited $rc after SIGINT, expected 0"
end

begin "unreachable socket: exit 3 and a one-line hint"
run_raw -s "$TMP/nope.sock" info
expect_rc 3
expect_out_empty
expect_err_one_line
expect_err_has "$TMP/nope.sock"
expect_err_has "asyncjobd running?.*Start it with 'asyncjobd'"
end

begin "ASYNCJOB_SOCKET names the socket"
run_no=$((run_no + 1))
cmd="ASYNCJOB_SOCKET=SOCK asyncjob info"
ASYNCJOB_SOCKET=$SOCK "$ASYNCJOB_CLI" info >"$TMP/out" 2>"$TMP/err"
rc=$?
expect_rc 0
expect_out_has "socket $SOCK\$"
end

begin "--help prints usage on stdout"
run_raw --help
expect_rc 0
expect_err_empty
expect_out_has '^Usage: asyncjob '
expect_out_has '^Exit status: '
for c in sleep gather submit get wait list cancel watch info; do
	expect_out_has "^  $c "
done
end

begin "--version prints the version on stdout"
run_raw --version
expect_rc 0
expect_err_empty
expect_out_has '^asyncjob [0-9][0-9.]* (libasyncjob [0-9][0-9.]*)$'
end

begin "sleep --help mentions --detach"
run_raw sleep --help
expect_rc 0
expect_err_empty
expect_out_has '^Usage: asyncjob sleep '
expect_out_has "--detach"
end

begin "help gather is gather --help"
run_raw help gather
expect_rc 0
expect_out_has '^Usage: asyncjob gather '
end

begin "an unknown command is a usage error"
run frobnicate
expect_usage_error
expect_err_has "^asyncjob: unknown command 'frobnicate'$"
expect_out_empty
end

begin "a misspelt command: the nearest is suggested"
run slep 1
expect_usage_error
expect_err_has "^asyncjob: unknown command 'slep'; did you mean 'sleep'?$"
run lsit
expect_err_has "^asyncjob: unknown command 'lsit'; did you mean 'list'?$"
end

begin "no command is a usage error"
run_raw
expect_rc 2
end

begin "sleep without SECONDS is a usage error"
run sleep
expect_usage_error
expect_err_has '^asyncjob: sleep: '
expect_out_empty
end

begin "sleep -- -1 is a usage error"
run sleep -- -1
expect_usage_error
expect_err_has "^asyncjob: sleep: .*'-1'"
end

begin "sleep abc is a usage error"
run sleep abc
expect_usage_error
expect_err_has "^asyncjob: sleep: .*'abc'"
end

begin "sleep -1 x is a usage error about a negative number"
run sleep -1 x
expect_usage_error
expect_err_has "^asyncjob: sleep: '-1' is a negative number"
run sleep -1.5 x
expect_usage_error
expect_err_has "^asyncjob: sleep: '-1.5' is a negative number"
end

begin "an unknown option is a usage error"
run list --bogus
expect_usage_error
expect_err_has 'bogus'
end

begin "wait --timeout abc is a usage error"
run wait 1 --timeout abc
expect_usage_error
end

# ------------------------------------------------------------------ fetch

# The test web server on loopback (tests/common/http-test-server).
WEB=
if [ -n "${ASYNCJOB_TEST_SERVER:-}" ] && [ -x "$ASYNCJOB_TEST_SERVER" ]; then
	"$ASYNCJOB_TEST_SERVER" >"$TMP/web.port" 2>"$TMP/web.err" &
	WEB_PID=$!
	poll 100 test -s "$TMP/web.port"
	WEB="http://127.0.0.1:$(sed -n 's/^http=\([0-9]*\) .*/\1/p' "$TMP/web.port")"
fi

if [ -z "$WEB" ]; then
	echo "# skipped the fetch cases: no test web server (ASYNCJOB_TEST_SERVER)"
else

begin "fetch prints the JSON document (compact in a pipe)"
run fetch "$WEB/todos/1"
expect_rc 0
expect_out '{"userId":1,"id":1,"title":"delectus aut autem","completed":false}\n'
expect_err_empty
end

begin "fetch prints text as it is"
run fetch "$WEB/text"
expect_rc 0
expect_out 'hello, world\n'
end

begin "fetch prints binary bodies as their bytes"
run fetch "$WEB/binary"
expect_rc 0
[ "$(wc -c <"$TMP/out")" -eq 256 ] || failc "expected 256 bytes"
end

begin "an HTTP error status is output, exit 0; with --fail, exit 1 and one line"
run fetch "$WEB/status/404"
expect_rc 0
expect_out_has '"status":404'
run fetch --fail "$WEB/status/404"
expect_rc 1
expect_out_empty
expect_err_one_line
expect_err_has '^asyncjob: job [0-9]* (fetch) failed (http_status): HTTP 404 from '
end

begin "fetch -X -H -d send the method, the header and the body"
run fetch -X PUT -H 'X-Test: yes' -d 'payload' "$WEB/echo"
expect_rc 0
expect_out_has '"method":"PUT"'
expect_out_has '"X-Test":"yes"'
expect_out_has '"body":"payload"'
run fetch -d 'form=1' "$WEB/echo"
expect_out_has '"method":"POST"'
end

begin "fetch -o FILE (relative to the current directory) saves the body"
( cd "$TMP/files" && "$ASYNCJOB_CLI" -s "$SOCK" fetch -o saved.json "$WEB/todos/1" ) \
	>"$TMP/out" 2>"$TMP/err"
rc=$?
cmd="(cd files && asyncjob fetch -o saved.json URL)"
expect_rc 0
expect_out_empty
grep -q '"completed":false' "$TMP/files/saved.json" 2>/dev/null || failc "saved.json is missing or wrong"
ls -a "$TMP/files" | grep -q asyncjob- && failc "a temporary file was left behind"
end

begin "fetch -o ./FILE and ../FILE mean what they mean to the shell"
mkdir -p "$TMP/files/sub"
( cd "$TMP/files/sub" && "$ASYNCJOB_CLI" -s "$SOCK" fetch -o ./dot.json "$WEB/todos/1" &&
	"$ASYNCJOB_CLI" -s "$SOCK" fetch -o ../up.json "$WEB/todos/1" ) >"$TMP/out" 2>"$TMP/err"
rc=$?
cmd="(cd files/sub && asyncjob fetch -o ./dot.json URL && asyncjob fetch -o ../up.json URL)"
expect_rc 0
grep -q '"completed":false' "$TMP/files/sub/dot.json" 2>/dev/null || failc "sub/dot.json is missing or wrong"
grep -q '"completed":false' "$TMP/files/up.json" 2>/dev/null || failc "up.json is missing or wrong"
end

begin "fetch -o outside the write roots is refused (exit 4), naming the path and the roots"
run fetch -o /etc/asyncjob-test.json "$WEB/todos/1"
expect_rc 4
expect_err_one_line
expect_err_has "^asyncjob: fetch: -o: /etc/asyncjob-test.json is outside every write root (write roots: $TMP/files)$"
[ ! -e /etc/asyncjob-test.json ] || failc "the file was written"
end

begin "fetch of a file: URL is refused (exit 4, names http)"
run fetch file:///etc/passwd
expect_rc 4
expect_err_one_line
expect_err_has 'http'
end

begin "fetch --max-bytes fails a larger body (too_large)"
run fetch --max-bytes 10 "$WEB/json"
expect_rc 1
expect_err_one_line
expect_err_has '(too_large)'
end

begin "a failed fetch is logged with its URL, the credentials and query hidden"
url_with_secrets=$(sed 's|^http://|http://user:hunter2@|' <<<"$WEB/json?token=s3cret")
run fetch --max-bytes 10 "$url_with_secrets"
expect_rc 1
fid=$(sed -n 's/^asyncjob: job \([0-9]*\) (fetch) failed.*/\1/p' "$TMP/err")
grep -q "asyncjobd: notice: job $fid (fetch, uid $(id -u)) failed (too_large): GET http://\*\*\*@127.0.0.1:[0-9]*/json?\*\*\*$" "$LOG" ||
	fail "no redacted log line for job $fid: $(grep "job $fid" "$LOG")"
grep -q 'hunter2\|s3cret' "$LOG" && fail "a secret in the log"
# A password longer than a log line is taken out whole, not cut.
long=$(printf 'tok-%0700d' 0)
run fetch --max-bytes 10 "$(sed "s|^http://|http://user:$long@|" <<<"$WEB/json")"
expect_rc 1
grep -q "tok-000" "$LOG" && fail "a long password's start is in the log"
end

begin "fetch usage errors exit 2"
run fetch -H 'no colon' "$WEB/json"
expect_usage_error
run fetch
expect_usage_error
run fetch --no-fsync "$WEB/json"
expect_usage_error
end

begin "fetch -o FILE --no-fsync saves the body too"
run fetch --no-fsync -o "$TMP/files/nofsync.json" "$WEB/todos/1"
expect_rc 0
grep -q '"completed":false' "$TMP/files/nofsync.json" 2>/dev/null || failc "nofsync.json is missing or wrong"
end

begin "gather mixes fetch and sleep jobs, output in order"
run gather "fetch $WEB/text" 'sleep 0 done'
expect_rc 0
expect_out 'hello, world\ndone\n'
end

begin "fetch to a file on a terminal shows a progress bar"
if ! have_script; then
	echo "# skipped: script(1) is not installed"
else
	# 3 MiB with its length announced, in ten pieces 150 ms apart: the
	# daemon reports progress (at most ten times a second) while it comes.
	run_tty fetch -o "$TMP/files/paced.bin" "$WEB/paced?bytes=3145728&pieces=10&ms=150"
	expect_rc 0
	[ "$(stat -c %s "$TMP/files/paced.bin" 2>/dev/null)" = 3145728 ] ||
		failc "paced.bin is not 3145728 bytes"
	# "[=====>      ]  42%  1.3 MiB / 3.0 MiB", redrawn after each \r.
	tr '\r' '\n' <"$TMP/out" | sed 's/\x1b\[K//g' |
		grep -q '^\[[= >]*\] *[0-9]*%  [0-9.]* [KM]*i*B / 3\.0 MiB$' ||
		failc "no progress bar with the total (3.0 MiB) was drawn"
	rm -f "$TMP/files/paced.bin"
	# Not on a pipe: nothing but the (absent) body there.
	run fetch -o "$TMP/files/paced.bin" "$WEB/paced?bytes=3145728&pieces=10&ms=150"
	expect_rc 0
	expect_out_empty
	expect_err_empty
	rm -f "$TMP/files/paced.bin"
fi
end

begin "watch --json prints state changes and progress in one shape"
bg_start "$TMP/watch5.out" "$TMP/watch5.err" --json watch
pid=$bg_pid
if poll 100 subscribed; then
	run fetch -o "$TMP/files/paced.bin" "$WEB/paced?bytes=3145728&pieces=10&ms=150"
	expect_rc 0
	rm -f "$TMP/files/paced.bin"
	poll 100 grep -q '"state":"succeeded"' "$TMP/watch5.out" || fail "no succeeded event"
else
	fail "watch never subscribed"
fi
interrupt "$pid"
[ "$rc" -eq 0 ] || fail "watch exited $rc after SIGINT, expected 0"
python3 - "$TMP/watch5.out" <<'PY' 2>"$TMP/shape.err" || fail "$(cat "$TMP/shape.err")"
import json, sys
kinds = set()
for line in open(sys.argv[1]):
    e = json.loads(line)
    if sorted(e) != ["event", "job", "seq"] or "id" not in e["job"]:
        sys.exit("not {event, seq, job}: " + line)
    if e["event"] == "updated" and not isinstance(e["seq"], int):
        sys.exit("an update without its seq: " + line)
    if e["event"] == "progress" and (e["seq"] is not None or "bytes" not in e["job"]["progress"]
                                     or e["job"]["state"] != "running"):
        sys.exit("a progress line without progress: " + line)
    kinds.add(e["event"])
if kinds != {"updated", "progress"}:
    sys.exit("expected updates and progress, got " + " ".join(sorted(kinds)))
PY
end

begin "fetch prints JSON pretty on a terminal"
if ! have_script; then
	echo "# skipped: script(1) is not installed"
else
	run_tty fetch "$WEB/todos/1"
	expect_rc 0
	# One member a line, indented, a space after each colon.
	[ "$(tr -d '\r' <"$TMP/out" | grep -c '^ *"[a-zA-Z]*": ')" -eq 4 ] ||
		failc "expected the document's four members on four lines"
	tr -d '\r' <"$TMP/out" | grep -q '^ *"title": "delectus aut autem",$' ||
		failc "no pretty line for \"title\""
	# The compact form is the pipe's (see "fetch prints the JSON document").
	grep -q '{"userId":1,' "$TMP/out" && failc "the document was printed compact"
fi
end

begin "fetch -d @FILE and -d - send a file's and stdin's bytes, as curl does"
printf 'from a file' >"$TMP/body.txt"
run fetch -d @"$TMP/body.txt" "$WEB/echo"
expect_rc 0
grep -q '"method":"POST".*"body":"from a file"' "$TMP/out" || failc "the file was not the body"
printf 'from stdin' | "$ASYNCJOB_CLI" -s "$SOCK" fetch -d - "$WEB/echo" >"$TMP/out" 2>"$TMP/err"
grep -q '"body":"from stdin"' "$TMP/out" || failc "stdin was not the body: $(cat "$TMP/out" "$TMP/err")"
printf '\000\001\377' >"$TMP/body.bin"
run fetch -X PUT -d @"$TMP/body.bin" "$WEB/echo"
grep -q '"method":"PUT".*"body_base64":"AAH/"' "$TMP/out" || failc "binary bytes were not sent as they are"
run fetch -d @"$TMP/no-such-file" "$WEB/echo"
expect_rc 2
expect_err_has "^asyncjob: fetch: -d @$TMP/no-such-file: No such file or directory"
end

begin "fetch takes --label and --key; sizes take suffixes; a URL needs its scheme"
run --json fetch --label fetched --key fetch-key-1 "$WEB/text"
expect_rc 0
grep -q '"label":"fetched","key":"fetch-key-1"' "$TMP/out" || failc "no label and key in the job"
run fetch --max-bytes 1K "$WEB/large?bytes=4096"
expect_rc 1
expect_err_has 'more than 1024 bytes\|max_bytes\|too large'
run fetch --max-bytes 2Q "$WEB/text"
expect_rc 2
expect_err_has "^asyncjob: fetch: --max-bytes: '2Q' is not a size"
run fetch example.com/x
expect_rc 2
expect_err_has '^asyncjob: fetch: example.com/x: a URL needs its scheme: https://example.com/x'
end

begin "get and wait print a detached fetch's body as the foreground would"
fid=$("$ASYNCJOB_CLI" -s "$SOCK" --detach fetch "$WEB/todos/1" 2>&1)
run wait "$fid"
expect_rc 0
grep -q '^{"userId":1,' "$TMP/out" || failc "wait did not print the document compact on a pipe"
run get "$fid"
expect_rc 0
grep -q '^{"userId":1,' "$TMP/out" || failc "get did not print the document"
if have_script; then
	run_tty get "$fid"
	tr -d '\r' <"$TMP/out" | grep -q '^ *"title": "delectus aut autem",$' ||
		failc "get on a terminal did not print the document pretty"
fi
end

begin "a binary body goes to a pipe, but is not printed on a terminal (curl's rule)"
bid=$("$ASYNCJOB_CLI" -s "$SOCK" --detach fetch "$WEB/binary" 2>&1)
run wait "$bid"
expect_rc 0
[ -s "$TMP/out" ] || failc "no bytes on the pipe"
if have_script; then
	run_tty get "$bid"
	expect_rc 0
	grep -q 'binary body ([0-9]* bytes) is not printed on a terminal; redirect it' "$TMP/out" ||
		failc "no warning instead of the bytes"
fi
end

begin "get of a fetch saved with -o and of a write says where the file is"
sid=$("$ASYNCJOB_CLI" -s "$SOCK" --detach fetch -o "$TMP/files/got.json" "$WEB/todos/1" 2>&1)
run wait "$sid"
expect_rc 0
expect_out_has "^saved to $TMP/files/got.json ([0-9]* bytes)$"
wid=$("$ASYNCJOB_CLI" -s "$SOCK" --detach write "$TMP/files/w.txt" hello 2>&1)
run wait "$wid"
expect_rc 0
expect_out "wrote $TMP/files/w.txt (5 bytes)\n"
rm -f "$TMP/files/got.json" "$TMP/files/w.txt"
end

begin "fetch --timeout fails a fetch that takes longer (exit 1)"
run fetch --timeout 1 "$WEB/slow-headers?ms=10000"
expect_rc 1
expect_out_empty
expect_err_one_line
expect_err_has '^asyncjob: job [0-9]* (fetch) failed (timeout): timed out after 1 s'
end

fi

begin "no job is left running"
have_running 0 || fail "running: $(running_ids | tr '\n' ' ')"
end

# Last: stop the daemon under a foreground sleep and a watch.
bg_start "$TMP/sleep.out" "$TMP/sleep.err" sleep 30 bye
sleep_pid=$bg_pid
bg_start "$TMP/watch4.out" "$TMP/watch4.err" watch --since 0
watch_pid=$bg_pid
clients_ready=
# Output from the watch: it has subscribed (and replays).
poll 100 have_running 1 && poll 100 test -s "$TMP/watch4.out" && clients_ready=1

stop_daemon

begin "when asyncjobd stops, a foreground sleep exits 1 (canceled)"
[ -n "$clients_ready" ] || fail "the sleep job or the watch was not there before the shutdown"
wait_bg "$sleep_pid"
[ -z "$bg_killed" ] || fail "it did not end; killed"
[ "$rc" -eq 1 ] || fail "exit status $rc, expected 1; stderr: $(cat "$TMP/sleep.err")"
[ "$(wc -l <"$TMP/sleep.err")" -eq 1 ] && grep -q '^asyncjob: job [0-9]* (sleep) canceled (shutdown): ' "$TMP/sleep.err" ||
	fail "expected one line saying the job was canceled, got: $(cat "$TMP/sleep.err")"
[ ! -s "$TMP/sleep.out" ] || fail "stdout: $(cat "$TMP/sleep.out")"
end

begin "when asyncjobd stops, watch exits 3 (connection lost)"
wait_bg "$watch_pid"
[ -z "$bg_killed" ] || fail "it did not end; killed"
[ "$rc" -eq 3 ] || fail "exit status $rc, expected 3; stderr: $(cat "$TMP/watch4.err")"
[ "$(wc -l <"$TMP/watch4.err")" -eq 1 ] && grep -q "^asyncjob: watch: lost the connection to asyncjobd at $SOCK" "$TMP/watch4.err" ||
	fail "expected one line saying the connection was lost, got: $(cat "$TMP/watch4.err")"
grep -q '^[0-9][0-9]*  *job [0-9]*  *sleep  *canceled .*error=' "$TMP/watch4.out" ||
	fail "watch did not show the job canceled: $(cat "$TMP/watch4.out")"
end

exit 0
