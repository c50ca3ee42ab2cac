#!/bin/bash
# Integration test: write jobs and fetches with save_to write as the client
# who asked, not as the daemon (PROTOCOL.md, "Whose identity a write uses").
# Run by `make check` with ASYNCJOBD, ASYNCJOB_SRCDIR and ASYNCJOB_BUILDDIR
# set (see the end of Makefile.am); it needs root, setpriv(1) and Python 3.
#
# It starts the real asyncjobd as root on a socket anyone may connect to
# (socket_mode 0666) with one write root shared the way the packaged one is
# (mode 3770: set-group-ID, sticky, group-writable), and acts as several
# users through setpriv: numeric ids without a passwd entry, so the system is
# not changed. The clients are a small Python script (the build tree's CLI
# may be a libtool wrapper that cannot run as another user).
#
#   A = 61001, B = 61002, C = 61003 (each with a primary group of the same
#   number); RG = 61100, the write root's group (A, B and C are members);
#   G = 61101, a team group (A and B, as a supplementary group only).
#
# Each case prints "ok - NAME" or "not ok - NAME" followed by "#" lines saying
# why. The script exits 1 if any case failed (or the daemon did not exit 0 on
# SIGTERM), 77 when it cannot run here (not root, no setpriv, no Python 3),
# 0 otherwise. No case asserts a wall-clock duration: waits are bounded polls
# and the race's loop is bounded by a count.
# shellcheck disable=SC2015,SC2317  # a && b || fail; functions run from traps
set -u
export LC_ALL=C

exec </dev/null

skip() {
	echo "# skipped: $*"
	exit 77
}

: "${ASYNCJOBD:?ASYNCJOBD must name the asyncjobd binary}"
[ "$(id -u)" -eq 0 ] || skip "needs root (it acts as several users with setpriv)"
command -v setpriv >/dev/null 2>&1 || skip "setpriv (util-linux) is not installed"
[ -x "$ASYNCJOBD" ] || skip "no asyncjobd at $ASYNCJOBD"

A=61001
B=61002
C=61003
RG=61100
G=61101
NOBODY=65534

# A Python 3 that other users may run too (a pyenv shim under /root is not).
PY=
for p in /usr/bin/python3 /usr/local/bin/python3 "$(command -v python3 2>/dev/null)"; do
	[ -n "$p" ] && [ -x "$p" ] || continue
	if setpriv --reuid="$NOBODY" --regid="$NOBODY" --clear-groups -- \
		"$p" -I -c 'import json, socket, ctypes, http.server' >/dev/null 2>&1; then
		PY=$p
		break
	fi
done
[ -n "$PY" ] || skip "no Python 3 that another user may run (tried /usr/bin/python3, /usr/local/bin/python3, python3)"

umask 022   # the daemon's: mkdirs makes 0755 less it
TMP=$(mktemp -d "${TMPDIR:-/tmp}/asyncjob-identity.XXXXXX") || exit 99
chmod 0755 "$TMP"   # other users reach the socket and the scripts
if ! setpriv --reuid="$NOBODY" --regid="$NOBODY" --clear-groups -- test -x "$TMP"; then
	rm -rf "$TMP"
	skip "other users cannot reach $TMP (set TMPDIR to a directory they may traverse)"
fi

SOCK=$TMP/asyncjobd.sock
CONF=$TMP/asyncjobd.conf
LOG=$TMP/asyncjobd.log
ROOT=$TMP/root
WWW=$TMP/www
DAEMON_PID=
WEB_PID=
BG_PIDS=
NOCAP_PID=

# ------------------------------------------------------------------ teardown

# stop_daemon PID LOG NAME: SIGTERM, a bounded wait, and its exit status as a
# case (as test-cli.sh's).
stop_daemon() {
	local pid=$1 log=$2 name=$3 status

	begin "$name exits 0 on SIGTERM"
	if kill -TERM "$pid" 2>/dev/null; then
		for _ in $(seq 200); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			fail "still running 20 s after SIGTERM; killed"
			kill -KILL "$pid" 2>/dev/null
		fi
	else
		fail "it was already gone before SIGTERM"
	fi
	wait "$pid"
	status=$?
	[ "$status" -eq 0 ] || fail "it exited with status $status"
	if grep -q 'ERROR: [A-Za-z]*Sanitizer' "$log" 2>/dev/null; then
		fail "a sanitizer reported an error in its log ($log)"
	fi
	end
}

cleanup() {
	local pid

	trap - EXIT INT TERM HUP
	for pid in $BG_PIDS; do
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	[ -n "$WEB_PID" ] && kill -TERM "$WEB_PID" 2>/dev/null && wait "$WEB_PID" 2>/dev/null
	if [ -n "$NOCAP_PID" ]; then
		pid=$NOCAP_PID
		NOCAP_PID=
		stop_daemon "$pid" "$TMP/nocap.log" "the daemon without CAP_SETUID/CAP_SETGID"
	fi
	if [ -n "$DAEMON_PID" ]; then
		pid=$DAEMON_PID
		DAEMON_PID=
		stop_daemon "$pid" "$LOG" asyncjobd
	fi
	if [ "${failures:-0}" -gt 0 ]; then
		echo "# $failures of ${ncases:-0} case(s) failed; the end of asyncjobd's log ($LOG):"
		tail -n 100 "$LOG" 2>/dev/null | sed 's/^/#   /'
		if [ -s "$TMP/nocap.log" ]; then
			echo "# the end of the log of the daemon without capabilities:"
			tail -n 30 "$TMP/nocap.log" | sed 's/^/#   /'
		fi
	else
		echo "# all ${ncases:-0} cases passed"
	fi
	rm -rf "$TMP"
	[ "${failures:-0}" -eq 0 ] && exit 0
	exit 1
}

# shellcheck source-path=SCRIPTDIR/../common source=cases.sh disable=SC1091
. "$(dirname "$0")/../common/cases.sh"
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# ------------------------------------------------------------------ helpers

run_no=0
shown_run=
case_begin_hook() { shown_run=; }

# failc MESSAGE...: fail, followed (once a case) by what the last request did.
failc() {
	fail "$@"
	if [ "$shown_run" != "$run_no" ]; then
		fail "$(show)"
		shown_run=$run_no
	fi
}

show() {
	echo "request: $cmd"
	echo "exit status: $rc"
	head -c 2000 "$TMP/reply" | sed 's/^/reply: /'
	head -n 5 "$TMP/reply.err" | sed 's/^/stderr: /'
}

# as_user WHO CMD...: CMD as A, B, C, nobody (with their groups) or root.
as_user() {
	local who=$1
	shift
	case $who in
	A) setpriv --reuid=$A --regid=$A --groups=$RG,$G -- "$@" ;;
	B) setpriv --reuid=$B --regid=$B --groups=$RG,$G -- "$@" ;;
	C) setpriv --reuid=$C --regid=$C --groups=$RG -- "$@" ;;
	nobody) setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups -- "$@" ;;
	root) "$@" ;;
	*) echo "as_user: unknown user $who" >&2; return 99 ;;
	esac
}

# jstr TEXT: TEXT as a JSON string. Our paths and contents are plain ASCII;
# a backslash in TEXT is JSON's escape ("line\n" ends in a newline), so a
# content reads the same here as in the printf format expect_content takes.
jstr() {
	printf '"%s"' "${1//\"/\\\"}"
}

# rpc WHO METHOD PARAMS: one request as WHO to $RPC_SOCK (default $SOCK);
# the reply line in $TMP/reply, its fields in st, code, msg (the job's
# state, error code and message), rpc_code and rpc_field (a JSON-RPC
# error's code and data.field).
rpc() {
	local who=$1 method=$2 params=$3 sock=${RPC_SOCK:-$SOCK}
	local -a fields
	run_no=$((run_no + 1))
	cmd="as $who: $method $params"
	as_user "$who" "$PY" -I "$TMP/rpc.py" "$sock" "$method" "$params" >"$TMP/reply" 2>"$TMP/reply.err"
	rc=$?
	mapfile -t fields < <("$PY" -I "$TMP/jget.py" "$TMP/reply" result.state result.error.code \
		result.error.message error.code error.data.field)
	st=${fields[0]-}
	code=${fields[1]-}
	msg=${fields[2]-}
	rpc_code=${fields[3]-}
	rpc_field=${fields[4]-}
}

# write_spec PATH MODE CONTENT [MKDIRS]: a write job's spec ($FSYNC: fsync).
write_spec() {
	printf '{"type":"write","path":%s,"mode":"%s","content":%s,"mkdirs":%s,"fsync":%s}' \
		"$(jstr "$1")" "$2" "$(jstr "$3")" "${4:-false}" "${FSYNC:-true}"
}

# write_as WHO PATH MODE CONTENT [MKDIRS]: submit it and wait for the end.
write_as() {
	local spec
	spec=$(write_spec "$2" "$3" "$4" "${5:-false}")
	rpc "$1" job.submit "${spec%\}},\"wait\":true}"
}

# save_as WHO PATH: fetch $WEB_URL/file.txt with save_to PATH and wait.
save_as() {
	rpc "$1" job.submit "{\"type\":\"fetch\",\"url\":$(jstr "$WEB_URL/file.txt"),\"save_to\":$(jstr "$2"),\"wait\":true}"
}

# expect_ok WHAT: the last job succeeded.
expect_ok() {
	[ "$st" = succeeded ] || failc "$1: expected the job to succeed; state '$st', error '$code: $msg'"
}

# expect_io_fail WHAT ERRNOS: the last job failed with code io, and its
# message names one of ERRNOS (an extended regex such as EACCES|EPERM).
expect_io_fail() {
	if [ "$st" != failed ] || [ "$code" != io ] || ! grep -Eq "(^|[^A-Z])($2)([^A-Z]|\$)" <<<"$msg"; then
		failc "$1: expected the job to fail with code io and $2; state '$st', error '$code: $msg'"
	fi
}

# expect_forbidden_rpc WHAT FIELD: refused at submit with -32003 naming FIELD.
expect_forbidden_rpc() {
	if [ "$rpc_code" != -32003 ] || [ "$rpc_field" != "$2" ]; then
		failc "$1: expected JSON-RPC error -32003 with data.field '$2'; got code '$rpc_code', field '$rpc_field', job state '$st'"
	fi
}

# expect_owner WHAT PATH UID [GID]
expect_owner() {
	local got want=$3${4:+:$4}
	if [ ! -e "$2" ]; then
		fail "$1: $2 does not exist"
		return
	fi
	if [ -n "${4:-}" ]; then
		got=$(stat -c %u:%g "$2")
	else
		got=$(stat -c %u "$2")
	fi
	[ "$got" = "$want" ] || fail "$1: $2 belongs to $got (uid:gid), expected $want"
}

# expect_content WHAT PATH TEXT (a printf format)
expect_content() {
	# shellcheck disable=SC2059
	printf "$3" | cmp -s - "$2" 2>/dev/null ||
		fail "$1: $2 does not hold $(printf '%q' "$(printf "$3")"), but $(head -c 200 "$2" 2>&1 | od -c | head -n 3 | tr '\n' ' ')"
}

# gid_in DIR UID_PRIMARY_GID: the group a new entry in DIR gets.
gid_in() {
	if [ -g "$1" ]; then stat -c %g "$1"; else echo "$2"; fi
}

# snap PATH...: what is there, for before/after comparisons: names, inodes,
# owners, modes, sizes, times and the contents' checksums.
snap() {
	find "$@" -printf '%p %i %U:%G %m %y %s %T@\n' 2>&1 | sort
	find "$@" -type f -exec md5sum {} + 2>&1 | sort
}

# expect_same WHAT BEFORE_FILE PATH...
expect_same() {
	local what=$1 before=$2
	shift 2
	snap "$@" >"$TMP/snap.after"
	if ! cmp -s "$before" "$TMP/snap.after"; then
		fail "$what: changed:"$'\n'"$(diff "$before" "$TMP/snap.after" | grep '^[<>]' | head -n 12)"
	fi
}

# expect_no_temp WHAT: no temporary file (".NAME.asyncjob-XXXX", or any
# hidden name: the test makes none) anywhere under the write root.
expect_no_temp() {
	local left
	left=$(find "$ROOT" -name '.*' -printf '%p (%U:%G)\n' | head -n 10)
	[ -z "$left" ] || fail "$1: left behind under the write root:"$'\n'"$left"
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

forget_bg() {
	local p rest=
	for p in $BG_PIDS; do
		[ "$p" = "$1" ] || rest="$rest $p"
	done
	BG_PIDS=$rest
}

# wait_bg PID TRIES: waits (TRIES tenths of a second at most, then kills it)
# for a background process; its status in rc, bg_killed set if killed.
wait_bg() {
	local pid=$1
	bg_killed=
	for _ in $(seq "$2"); do
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

# answers WHO [SOCKET]: the daemon answers daemon.info from WHO.
answers() {
	as_user "$1" "$PY" -I "$TMP/rpc.py" "${2:-$SOCK}" daemon.info '{}' >"$TMP/info" 2>/dev/null &&
		[ -n "$("$PY" -I "$TMP/jget.py" "$TMP/info" result.version)" ]
}

# ------------------------------------------------------------------ scripts

# rpc.py SOCKET METHOD PARAMS: one request, the reply line on stdout.
cat >"$TMP/rpc.py" <<'EOF'
import json, socket, sys
path, method, params = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(120)   # bounded: a daemon that never answers fails the case
try:
    s.connect(path)
    s.sendall((json.dumps({"jsonrpc": "2.0", "id": 1, "method": method,
                           "params": params}) + "\n").encode())
    buf = b""
    while True:
        while b"\n" not in buf:
            chunk = s.recv(1 << 20)
            if not chunk:
                sys.exit("rpc.py: the connection closed before the reply")
            buf += chunk
        line, buf = buf.split(b"\n", 1)
        if line.strip() and "id" in json.loads(line):
            print(line.decode())
            break
except OSError as e:
    sys.exit("rpc.py: %s: %s" % (path, e))
EOF

# jget.py FILE PATH...: fields of the JSON on FILE's first line, one a line
# (empty when absent); PATH is dotted, list indices as numbers.
cat >"$TMP/jget.py" <<'EOF'
import json, sys
try:
    with open(sys.argv[1]) as f:
        r = json.loads(f.readline())
except Exception:
    r = None
for p in sys.argv[2:]:
    v = r
    for k in p.split("."):
        if isinstance(v, list) and k.isdigit() and int(k) < len(v):
            v = v[int(k)]
        elif isinstance(v, dict) and k in v:
            v = v[k]
        else:
            v = None
            break
    s = "" if v is None else v if isinstance(v, str) else json.dumps(v)
    print(s.replace("\n", " "))
EOF

# outcomes.py FILE: one line per job of a job.gather (or job.submit) reply:
# "STATE CODE ERRNO PATH MESSAGE" ("-" for none; the result's path, the
# error's message); "rpc-error CODE -" for a refused request.
cat >"$TMP/outcomes.py" <<'EOF'
import json, re, sys
try:
    with open(sys.argv[1]) as f:
        r = json.loads(f.readline())
except Exception as e:
    print("no-reply - -")
    sys.exit(0)
if "error" in r:
    print("rpc-error %s -" % r["error"].get("code"))
    sys.exit(0)
res = r.get("result") or {}
for j in res.get("jobs", [res]):
    e = j.get("error") or {}
    m = re.search(r"\((E[A-Z0-9]+)\)", e.get("message", ""))
    print(j.get("state", "-"), e.get("code", "-"), m.group(1) if m else "-",
          (j.get("result") or {}).get("path", "-"), e.get("message", "").replace("\n", " "))
EOF

# swap.py DIR NAME1 NAME2 STOPFILE MAX: exchanges NAME1 and NAME2 in DIR
# (renameat2 RENAME_EXCHANGE) until STOPFILE exists, MAX times at most,
# always an even number of times (so both end where they began). Prints
# "started" once under way, and the count at the end.
cat >"$TMP/swap.py" <<'EOF'
import ctypes, os, sys
d, n1, n2, stop, most = sys.argv[1], sys.argv[2].encode(), sys.argv[3].encode(), sys.argv[4], int(sys.argv[5])
libc = ctypes.CDLL(None, use_errno=True)
renameat2 = libc.renameat2
dfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
def exchange():
    if renameat2(dfd, n1, dfd, n2, 2) != 0:   # RENAME_EXCHANGE
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
n = 0
while n < most:
    exchange()
    exchange()
    n += 2
    if n == 2:
        print("started", flush=True)
    if n % 64 == 0 and os.path.exists(stop):
        break
print(n, flush=True)
EOF

# httpd.py DIR: serves DIR on 127.0.0.1, a free port, printed first.
cat >"$TMP/httpd.py" <<'EOF'
import functools, http.server, sys
class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                      functools.partial(Quiet, directory=sys.argv[1]))
print(srv.server_address[1], flush=True)
srv.serve_forever()
EOF
chmod 0644 "$TMP"/*.py

# ------------------------------------------------------------------ setup

# The write root, shared as the packaged one is: 3770 root:RG.
mkdir "$ROOT"
chown 0:$RG "$ROOT"
chmod 3770 "$ROOT"

mkdir "$WWW"
printf 'fetched body\n' >"$WWW/file.txt"
chmod -R a+rX "$WWW"
"$PY" -I "$TMP/httpd.py" "$WWW" >"$TMP/web.port" 2>"$TMP/web.err" &
WEB_PID=$!
WEB_URL=
poll 100 test -s "$TMP/web.port" && WEB_URL="http://127.0.0.1:$(head -n 1 "$TMP/web.port")"

cat >"$CONF" <<EOF
# asyncjobd configuration for test-write-identity.sh
log_level = info
write_root = $ROOT
socket_mode = 0666
state_directory = $TMP/state
EOF

"$ASYNCJOBD" -c "$CONF" -s "$SOCK" >"$LOG" 2>&1 &
DAEMON_PID=$!

begin "asyncjobd (as root) starts and answers another user"
for _ in $(seq 100); do
	answers nobody && break
	kill -0 "$DAEMON_PID" 2>/dev/null || break
	sleep 0.1
done
if ! answers nobody; then
	fail "asyncjobd did not answer uid $NOBODY on $SOCK within 10 s"
	if ! kill -0 "$DAEMON_PID" 2>/dev/null; then
		wait "$DAEMON_PID"
		fail "asyncjobd exited with status $?"
		DAEMON_PID=
	fi
	end
	exit 1
fi
end

begin "the test web server answers"
[ -n "$WEB_URL" ] || fail "python3 http.server did not start: $(head -n 5 "$TMP/web.err")"
end

# ------------------------------------------------------------------ 1. A writes

begin "A's replace write succeeds; the file is A's (uid, and the root's group)"
write_as A "$ROOT/a.txt" replace "A's text\n"
expect_ok "A replace $ROOT/a.txt"
expect_content "a.txt" "$ROOT/a.txt" "A's text\n"
expect_owner "a.txt" "$ROOT/a.txt" $A "$(gid_in "$ROOT" $A)"
end

begin "A's mkdirs write: the directory made is A's, mode 0755"
write_as A "$ROOT/adir/own.txt" replace "A's own\n" true
expect_ok "A mkdirs $ROOT/adir/own.txt"
expect_owner "adir" "$ROOT/adir" $A
expect_owner "adir/own.txt" "$ROOT/adir/own.txt" $A
mode=$(stat -c %a "$ROOT/adir" 2>/dev/null)
[ "${mode: -3}" = 755 ] || fail "adir has mode $mode, expected 755 (the daemon's umask is 022)"
expect_content "adir/own.txt" "$ROOT/adir/own.txt" "A's own\n"
end

# ------------------------------------------------------------------ 2. B on A's

# Each case compares A's file and directory before and after it.
case_begin_hook() {
	shown_run=
	snap "$ROOT/a.txt" "$ROOT/adir" >"$TMP/snap.a"
}

begin "B's replace of A's file in the sticky root fails (io, EPERM), the file untouched"
write_as B "$ROOT/a.txt" replace "B was here\n"
expect_io_fail "B replace $ROOT/a.txt" 'EPERM|EACCES'
expect_same "A's file" "$TMP/snap.a" "$ROOT/a.txt" "$ROOT/adir"
expect_no_temp "B replace a.txt"
end

begin "B's append to A's file fails (io, EACCES), the file untouched"
write_as B "$ROOT/a.txt" append "B was here\n"
expect_io_fail "B append $ROOT/a.txt" 'EACCES|EPERM'
expect_same "A's file" "$TMP/snap.a" "$ROOT/a.txt" "$ROOT/adir"
expect_no_temp "B append a.txt"
end

begin "B's create over A's file fails (io, EEXIST), the file untouched"
write_as B "$ROOT/a.txt" create "B was here\n"
expect_io_fail "B create $ROOT/a.txt" 'EEXIST|EACCES|EPERM'
expect_same "A's file" "$TMP/snap.a" "$ROOT/a.txt" "$ROOT/adir"
expect_no_temp "B create a.txt"
end

begin "B's replace of A's file in A's directory fails (io, EACCES)"
write_as B "$ROOT/adir/own.txt" replace "B was here\n"
expect_io_fail "B replace $ROOT/adir/own.txt" 'EACCES|EPERM'
expect_same "A's directory" "$TMP/snap.a" "$ROOT/a.txt" "$ROOT/adir"
expect_no_temp "B replace adir/own.txt"
end

begin "B's append to A's file in A's directory fails (io, EACCES)"
write_as B "$ROOT/adir/own.txt" append "B was here\n"
expect_io_fail "B append $ROOT/adir/own.txt" 'EACCES|EPERM'
expect_same "A's directory" "$TMP/snap.a" "$ROOT/a.txt" "$ROOT/adir"
end

begin "B creating a file in A's directory fails (io, EACCES), nothing left"
write_as B "$ROOT/adir/f" replace "B was here\n"
expect_io_fail "B replace $ROOT/adir/f" 'EACCES|EPERM'
write_as B "$ROOT/adir/g" create "B was here\n"
expect_io_fail "B create $ROOT/adir/g" 'EACCES|EPERM'
write_as B "$ROOT/adir/h" append "B was here\n"
expect_io_fail "B append $ROOT/adir/h" 'EACCES|EPERM'
expect_same "A's directory" "$TMP/snap.a" "$ROOT/a.txt" "$ROOT/adir"
expect_no_temp "B in adir"
end

begin "B's mkdirs write into A's directory fails (io, EACCES), no directory made"
write_as B "$ROOT/adir/sub/deeper/f" replace "B was here\n" true
expect_io_fail "B mkdirs $ROOT/adir/sub/deeper/f" 'EACCES|EPERM'
[ ! -e "$ROOT/adir/sub" ] || fail "$ROOT/adir/sub exists ($(stat -c '%U:%G %a' "$ROOT/adir/sub"))"
expect_same "A's directory" "$TMP/snap.a" "$ROOT/a.txt" "$ROOT/adir"
expect_no_temp "B mkdirs in adir"
end

if [ -n "$WEB_URL" ]; then
begin "B's save_to onto A's file fails (io, EPERM), the file untouched"
save_as B "$ROOT/a.txt"
expect_io_fail "B save_to $ROOT/a.txt" 'EPERM|EACCES'
expect_same "A's file" "$TMP/snap.a" "$ROOT/a.txt" "$ROOT/adir"
expect_no_temp "B save_to a.txt"
end

begin "B's save_to into A's directory fails (io, EACCES), nothing left"
save_as B "$ROOT/adir/x"
expect_io_fail "B save_to $ROOT/adir/x" 'EACCES|EPERM'
save_as B "$ROOT/adir/own.txt"
expect_io_fail "B save_to $ROOT/adir/own.txt" 'EACCES|EPERM'
expect_same "A's directory" "$TMP/snap.a" "$ROOT/a.txt" "$ROOT/adir"
expect_no_temp "B save_to in adir"
end
fi

case_begin_hook() { shown_run=; }

# ------------------------------------------------------------------ 3. B's own

begin "B's own replace, append and create succeed; the files are B's"
write_as B "$ROOT/b.txt" replace "one\n"
expect_ok "B replace $ROOT/b.txt"
write_as B "$ROOT/b.txt" replace "two\n"
expect_ok "B replace its own $ROOT/b.txt again (sticky root)"
write_as B "$ROOT/b.txt" append "three\n"
expect_ok "B append $ROOT/b.txt"
expect_content "b.txt" "$ROOT/b.txt" "two\nthree\n"
expect_owner "b.txt" "$ROOT/b.txt" $B "$(gid_in "$ROOT" $B)"
write_as B "$ROOT/b-new.txt" create "new\n"
expect_ok "B create $ROOT/b-new.txt"
expect_content "b-new.txt" "$ROOT/b-new.txt" "new\n"
expect_owner "b-new.txt" "$ROOT/b-new.txt" $B "$(gid_in "$ROOT" $B)"
write_as B "$ROOT/b-app.txt" append "appended\n"
expect_ok "B append (creating) $ROOT/b-app.txt"
expect_owner "b-app.txt" "$ROOT/b-app.txt" $B "$(gid_in "$ROOT" $B)"
expect_no_temp "B's own writes"
end

begin "B's mkdirs write: the directories made and the file are B's"
write_as B "$ROOT/bmk/x/f.txt" replace "deep\n" true
expect_ok "B mkdirs $ROOT/bmk/x/f.txt"
expect_owner "bmk" "$ROOT/bmk" $B "$(gid_in "$ROOT" $B)"
expect_owner "bmk/x" "$ROOT/bmk/x" $B "$(gid_in "$ROOT/bmk" $B)"
expect_owner "bmk/x/f.txt" "$ROOT/bmk/x/f.txt" $B "$(gid_in "$ROOT/bmk/x" $B)"
expect_content "bmk/x/f.txt" "$ROOT/bmk/x/f.txt" "deep\n"
end

begin "B's write in its own plain directory gets B's primary group"
install -d -o $B -g $B -m 0755 "$ROOT/bown"
write_as B "$ROOT/bown/p.txt" replace "plain\n"
expect_ok "B replace $ROOT/bown/p.txt"
expect_owner "bown/p.txt" "$ROOT/bown/p.txt" $B $B
end

if [ -n "$WEB_URL" ]; then
begin "B's save_to: the saved file is B's"
save_as B "$ROOT/b-saved.txt"
expect_ok "B save_to $ROOT/b-saved.txt"
expect_content "b-saved.txt" "$ROOT/b-saved.txt" "fetched body\n"
expect_owner "b-saved.txt" "$ROOT/b-saved.txt" $B "$(gid_in "$ROOT" $B)"
save_as B "$ROOT/b.txt"
expect_ok "B save_to over its own $ROOT/b.txt"
expect_content "b.txt" "$ROOT/b.txt" "fetched body\n"
expect_owner "b.txt" "$ROOT/b.txt" $B
expect_no_temp "B's save_to"
end
fi

# ------------------------------------------------------------------ 4. groups

install -d -o $A -g $G -m 2770 "$ROOT/g"

begin "B, in G only as a supplementary group, creates a file in A's 2770 G directory"
write_as B "$ROOT/g/b.txt" replace "team\n"
expect_ok "B replace $ROOT/g/b.txt"
expect_content "g/b.txt" "$ROOT/g/b.txt" "team\n"
expect_owner "g/b.txt" "$ROOT/g/b.txt" $B $G
end

snap "$ROOT/g" >"$TMP/snap.g"
begin "C, not in G, is refused in that directory (io, EACCES), nothing left"
write_as C "$ROOT/g/c.txt" replace "C was here\n"
expect_io_fail "C replace $ROOT/g/c.txt" 'EACCES|EPERM'
write_as C "$ROOT/g/b.txt" append "C was here\n"
expect_io_fail "C append $ROOT/g/b.txt" 'EACCES|EPERM'
write_as C "$ROOT/g/csub/f" replace "C was here\n" true
expect_io_fail "C mkdirs $ROOT/g/csub/f" 'EACCES|EPERM'
if [ -n "$WEB_URL" ]; then
	save_as C "$ROOT/g/c-saved"
	expect_io_fail "C save_to $ROOT/g/c-saved" 'EACCES|EPERM'
fi
expect_same "$ROOT/g" "$TMP/snap.g" "$ROOT/g"
expect_no_temp "C in g"
# C may still write where it may: the shared root.
write_as C "$ROOT/c.txt" replace "C's own\n"
expect_ok "C replace $ROOT/c.txt"
expect_owner "c.txt" "$ROOT/c.txt" $C "$(gid_in "$ROOT" $C)"
end

# ------------------------------------------------------------------ 5. root

begin "a root client still writes as root"
write_as root "$ROOT/root.txt" replace "root's\n"
expect_ok "root replace $ROOT/root.txt"
expect_content "root.txt" "$ROOT/root.txt" "root's\n"
expect_owner "root.txt" "$ROOT/root.txt" 0
write_as root "$ROOT/rootmk/f" replace "root's\n" true
expect_ok "root mkdirs $ROOT/rootmk/f"
expect_owner "rootmk" "$ROOT/rootmk" 0
expect_owner "rootmk/f" "$ROOT/rootmk/f" 0
end

# ------------------------------------------------------------------ 6. race

# B owns ROOT/bdir (0777, so A may write in it too) and ROOT/blink, a
# symlink to A's private ROOT/apriv; B swaps the two names over and over
# while A's and B's writes go to ROOT/bdir/... Whichever name a write sees,
# it must never land in apriv.
RACE_ROUNDS=4
RACE_JOBS=50   # per user and round
SWAP_MAX=4000000
install -d -o $A -g $A -m 0700 "$ROOT/apriv"
printf 'secret\n' >"$ROOT/apriv/secret.txt"
chown $A:$A "$ROOT/apriv/secret.txt"
chmod 0600 "$ROOT/apriv/secret.txt"
install -d -o $B -g $B -m 0777 "$ROOT/bdir"
as_user B ln -s apriv "$ROOT/blink"
# The appended files exist before: two appends that both create the same
# file at once are not what this case is about.
install -o $A -g $A -m 0644 /dev/null "$ROOT/bdir/a-app"
install -o $B -g $B -m 0644 /dev/null "$ROOT/bdir/b-app"
snap "$ROOT/apriv" >"$TMP/snap.apriv"
snap "$ROOT/adir" >"$TMP/snap.adir"

# gather_spec USER_LETTER: RACE_JOBS writes into bdir: replace, append, mkdirs.
gather_spec() {
	local i sep='' p=$1
	printf '{"jobs":['
	for i in $(seq "$RACE_JOBS"); do
		case $((i % 3)) in
		0) FSYNC=false write_spec "$ROOT/bdir/$p-f" replace "$p $i\n" ;;
		1) FSYNC=false write_spec "$ROOT/bdir/$p-app" append "$p $i\n" ;;
		2) FSYNC=false write_spec "$ROOT/bdir/${p}mk/d$((i % 5))/f" replace "$p $i\n" true ;;
		esac | sed "s/^/$sep/"
		sep=,
	done
	printf ']}'
}
gather_spec a >"$TMP/gather.a"
gather_spec b >"$TMP/gather.b"

begin "race: B swaps its directory for a symlink to A's; no write lands in A's"
if ! "$PY" -I -c 'import ctypes; ctypes.CDLL(None).renameat2' 2>/dev/null; then
	echo "# skipped: the C library has no renameat2"
elif [ ! -L "$ROOT/blink" ]; then
	fail "B could not make the symlink $ROOT/blink"
else
	: >"$TMP/swap.out"
	as_user B "$PY" -I "$TMP/swap.py" "$ROOT" bdir blink "$TMP/swap.stop" "$SWAP_MAX" \
		>"$TMP/swap.out" 2>"$TMP/swap.err" &
	swap_pid=$!
	BG_PIDS="$BG_PIDS $swap_pid"
	poll 100 grep -q '^started$' "$TMP/swap.out" || fail "the swapper did not start: $(head -n 5 "$TMP/swap.err")"
	: >"$TMP/race.outcomes.a"
	: >"$TMP/race.outcomes.b"
	for round in $(seq "$RACE_ROUNDS"); do
		as_user A "$PY" -I "$TMP/rpc.py" "$SOCK" job.gather "$(cat "$TMP/gather.a")" \
			>"$TMP/race.a.$round" 2>"$TMP/race.a.err" &
		pa=$!
		as_user B "$PY" -I "$TMP/rpc.py" "$SOCK" job.gather "$(cat "$TMP/gather.b")" \
			>"$TMP/race.b.$round" 2>"$TMP/race.b.err" &
		pb=$!
		BG_PIDS="$BG_PIDS $pa $pb"
		wait_bg "$pa" 1300
		[ "$rc" -eq 0 ] || fail "round $round: A's gather: status $rc${bg_killed:+ (killed)}: $(head -n 3 "$TMP/race.a.err")"
		wait_bg "$pb" 1300
		[ "$rc" -eq 0 ] || fail "round $round: B's gather: status $rc${bg_killed:+ (killed)}: $(head -n 3 "$TMP/race.b.err")"
		"$PY" -I "$TMP/outcomes.py" "$TMP/race.a.$round" >>"$TMP/race.outcomes.a"
		"$PY" -I "$TMP/outcomes.py" "$TMP/race.b.$round" >>"$TMP/race.outcomes.b"
		kill -0 "$swap_pid" 2>/dev/null || break   # it reached SWAP_MAX
	done
	: >"$TMP/swap.stop"
	wait_bg "$swap_pid" 600
	[ -z "$bg_killed" ] || fail "the swapper did not stop; killed"
	[ "$rc" -eq 0 ] || fail "the swapper failed (status $rc): $(tail -n 3 "$TMP/swap.err")"
	swaps=$(tail -n 1 "$TMP/swap.out")
	if [ -L "$ROOT/bdir" ] || [ ! -d "$ROOT/bdir" ] || [ ! -L "$ROOT/blink" ]; then
		fail "after an even number of swaps, bdir is not B's directory and blink the symlink"
	fi

	# Outcomes: succeeded (into the real directory); refused for the
	# symlink (forbidden, ELOOP or EXDEV); io ENOENT. Nothing else.
	declare -A race_stat=()
	for who in a b; do
		f=$TMP/race.outcomes.$who
		n_all=$(wc -l <"$f")
		n_ok=$(grep -c '^succeeded ' "$f")
		n_link=$(grep -Ec '^failed forbidden (ELOOP|EXDEV) ' "$f")
		n_noent=$(grep -c '^failed io ENOENT ' "$f")
		other=$(grep -Ev '^succeeded |^failed forbidden (ELOOP|EXDEV) |^failed io ENOENT ' "$f" |
			sort | uniq -c | head -n 5)
		[ "$n_all" -eq $((RACE_ROUNDS * RACE_JOBS)) ] ||
			fail "$who: $n_all job outcomes, expected $((RACE_ROUNDS * RACE_JOBS))"
		[ -z "$other" ] ||
			fail "$who: jobs ended otherwise than succeeded, forbidden (ELOOP/EXDEV) or io ENOENT:"$'\n'"$other"
		race_stat[$who]="$n_ok succeeded, $n_link refused for the symlink, $n_noent ENOENT"
	done
	echo "# race: ${swaps:-?} swaps; A's $((RACE_ROUNDS * RACE_JOBS)) writes: ${race_stat[a]}; B's: ${race_stat[b]}"

	expect_same "A's private directory" "$TMP/snap.apriv" "$ROOT/apriv"
	expect_same "A's directory adir" "$TMP/snap.adir" "$ROOT/adir"
	left=$(find "$ROOT/apriv" "$ROOT/adir" -uid $B -printf '%p\n' | head -n 5)
	[ -z "$left" ] || fail "B owns files in A's directories:"$'\n'"$left"
	# Each path a job succeeded on is a file in B's real directory.
	missing=$(awk '$1 == "succeeded" { print $4 }' "$TMP/race.outcomes.a" "$TMP/race.outcomes.b" |
		sort -u | while read -r p; do [ -f "$p" ] || echo "$p"; done | head -n 5)
	[ -z "$missing" ] || fail "succeeded, but not a file in $ROOT/bdir:"$'\n'"$missing"
	expect_no_temp "the race"
fi
end

# ------------------------------------------------------------------ 7. still up

begin "asyncjobd still answers daemon.info (root and another user)"
answers root || fail "no daemon.info answer for root"
answers C || fail "no daemon.info answer for uid $C"
end

pid=$DAEMON_PID
DAEMON_PID=
stop_daemon "$pid" "$LOG" asyncjobd

# ------------------------------------------------------------------ 8. no caps

# A daemon as A without CAP_SETUID/CAP_SETGID writes for A only.
NOCAP=$TMP/nocap
if ! setpriv --help 2>&1 | grep -q -e '--bounding-set'; then
	echo "# skipped the daemon without capabilities: this setpriv has no --bounding-set"
elif ! as_user A test -x "$ASYNCJOBD"; then
	echo "# skipped the daemon without capabilities: uid $A cannot run $ASYNCJOBD"
else
	install -d -o $A -g $A -m 0755 "$NOCAP" "$NOCAP/root"
	cat >"$TMP/nocap.conf" <<EOF
# asyncjobd configuration for test-write-identity.sh, a daemon without capabilities
log_level = info
write_root = $NOCAP/root
socket_mode = 0666
state_directory = $NOCAP/state
EOF
	setpriv --reuid=$A --regid=$A --clear-groups --inh-caps=-all --bounding-set=-all -- \
		"$ASYNCJOBD" -c "$TMP/nocap.conf" -s "$NOCAP/sock" >"$TMP/nocap.log" 2>&1 &
	NOCAP_PID=$!
	RPC_SOCK=$NOCAP/sock   # the requests below go to it

	begin "a daemon run as A without CAP_SETUID/CAP_SETGID starts"
	poll 100 answers B "$NOCAP/sock" || fail "it did not answer on $NOCAP/sock within 10 s"
	end

	begin "that daemon writes for A, the file A's"
	write_as A "$NOCAP/root/a.txt" replace "A's\n"
	expect_ok "A replace $NOCAP/root/a.txt"
	expect_owner "a.txt" "$NOCAP/root/a.txt" $A
	end

	begin "that daemon refuses B's write at submit (-32003, field path)"
	write_as B "$NOCAP/root/b.txt" replace "B's\n"
	expect_forbidden_rpc "B write $NOCAP/root/b.txt" path
	[ ! -e "$NOCAP/root/b.txt" ] || fail "$NOCAP/root/b.txt was written"
	end

	if [ -n "$WEB_URL" ]; then
	begin "that daemon refuses B's save_to at submit (-32003, field save_to)"
	save_as B "$NOCAP/root/b-saved"
	expect_forbidden_rpc "B save_to $NOCAP/root/b-saved" save_to
	[ ! -e "$NOCAP/root/b-saved" ] || fail "$NOCAP/root/b-saved was written"
	end
	fi

	begin "that daemon still runs B's other jobs"
	rpc B job.submit '{"type":"sleep","seconds":0,"message":"hi","wait":true}'
	expect_ok "B sleep"
	end

	pid=$NOCAP_PID
	NOCAP_PID=
	stop_daemon "$pid" "$TMP/nocap.log" "the daemon without CAP_SETUID/CAP_SETGID"
fi

exit 0
