#!/bin/bash
# asyncjobd under socket activation, with systemd-socket-activate playing
# systemd: it binds the socket and, on the first connection, execs the daemon
# with the socket as fd 3 (LISTEN_FDS=1). The daemon must serve on it, leave
# the socket file alone (neither create nor remove it), and refuse clearly
# when given two sockets, a TCP one, or a connected one (Accept=yes). Also:
# journal priority prefixes when $JOURNAL_STREAM names the daemon's stderr.
#
# Run by `make check` (ASYNCJOBD, ASYNCJOB_CLI, ASYNCJOB_HAVE_SYSTEMD set).
# Prints "ok"/"not ok" per case; exits 1 if any failed, 77 if none could run.
set -u
export LC_ALL=C

: "${ASYNCJOBD:?ASYNCJOBD must name the asyncjobd binary}"
: "${ASYNCJOB_CLI:?ASYNCJOB_CLI must name the asyncjob binary}"
exec </dev/null

TMP=$(mktemp -d "${TMPDIR:-/tmp}/asyncjob-activation.XXXXXX") || exit 99
SOCK=$TMP/asyncjobd.sock
CONF=$TMP/asyncjobd.conf
LOG=$TMP/asyncjobd.log
PIDS=
skipped=0

printf 'log_level = debug\nstate_directory = %s/state\n' "$TMP" >"$CONF"

cleanup() {
	local pid
	trap - EXIT INT TERM HUP
	for pid in $PIDS; do
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

. "$(dirname "$0")/../common/cases.sh"
case_log=$LOG
# Each case reads only its own lines of the log.
case_begin_hook() { : >"$LOG"; }
skip() {
	echo "ok - $1 # SKIP $2"
	skipped=$((skipped + 1))
}

# wait_for_path PATH: up to 10 s for it to exist.
wait_for_path() {
	for _ in $(seq 100); do
		[ -e "$1" ] && return 0
		sleep 0.1
	done
	return 1
}

# wait_exit PID: its exit status, or 124 (after SIGKILL) when it runs on
# for 15 s.
wait_exit() {
	local pid=$1
	for _ in $(seq 150); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		return 124
	fi
	wait "$pid"
}

# activate [OPTION]...: systemd-socket-activate OPTION... asyncjobd -c CONF,
# in the background ($sa_pid), its stderr and the daemon's in $LOG.
activate() {
	# Only what -E names reaches the daemon (and the sanitizers read theirs).
	local env=()
	for var in ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS; do
		[ -n "${!var:-}" ] && env+=(-E "$var")
	done
	systemd-socket-activate "${env[@]}" "$@" "$ASYNCJOBD" -c "$CONF" 2>>"$LOG" &
	sa_pid=$!
	PIDS="$PIDS $sa_pid"
}

# A TCP port on 127.0.0.1 nothing listens on, below the usual ephemeral
# range (bash connects through /dev/tcp).
free_port() {
	local port
	for _ in $(seq 50); do
		port=$((10000 + RANDOM % 20000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			echo "$port"
			return 0
		fi
	done
	return 1
}

have_activate=yes
command -v systemd-socket-activate >/dev/null 2>&1 || have_activate=no

# ------------------------------------------------------------------ cases

if [ "$have_activate" = no ]; then
	skip "socket activation" "systemd-socket-activate is not installed (Debian: systemd)"
elif [ "${ASYNCJOB_HAVE_SYSTEMD:-yes}" = no ]; then
	begin "without libsystemd, a passed socket is refused with a clear error"
	rm -f "$SOCK"
	activate -l "$SOCK"
	wait_for_path "$SOCK" || fail "systemd-socket-activate made no socket"
	ASYNCJOB_SOCKET=$SOCK "$ASYNCJOB_CLI" info >/dev/null 2>&1
	wait_exit "$sa_pid"
	status=$?
	[ "$status" -eq 1 ] || fail "asyncjobd exited with $status, not 1"
	grep -q 'built without libsystemd' "$LOG" || fail "no 'built without libsystemd' error"
	end
else
	begin "serves on the socket systemd passed, and leaves it alone"
	rm -f "$SOCK"
	activate -l "$SOCK"
	wait_for_path "$SOCK" || fail "systemd-socket-activate made no socket"
	ino_before=$(stat -c %i "$SOCK" 2>/dev/null)
	# The first connection starts the daemon; this one is answered by it.
	if ! out=$(ASYNCJOB_SOCKET=$SOCK "$ASYNCJOB_CLI" info 2>&1); then
		fail "asyncjob info failed: $out"
	fi
	case $out in
	"asyncjobd "*", pid $sa_pid,"*) ;;
	*) fail "asyncjob info did not name the activated daemon (pid $sa_pid): $out" ;;
	esac
	out=$(ASYNCJOB_SOCKET=$SOCK "$ASYNCJOB_CLI" sleep 0.1 "passed socket works" 2>&1)
	[ "$out" = "passed socket works" ] || fail "a sleep job did not run: $out"
	grep -q "listening on $SOCK (pid $sa_pid, socket passed by systemd)" "$LOG" ||
		fail "the log does not say the socket was passed"
	[ "$(stat -c %i "$SOCK" 2>/dev/null)" = "$ino_before" ] ||
		fail "the socket file was replaced (inode $ino_before before)"
	[ ! -e "$SOCK.lock" ] || fail "the daemon made a lock file beside a passed socket"
	kill -TERM "$sa_pid"
	wait_exit "$sa_pid"
	status=$?
	[ "$status" -eq 0 ] || fail "asyncjobd exited with $status after SIGTERM"
	[ -S "$SOCK" ] || fail "the daemon removed the socket systemd passed"
	[ "$(stat -c %i "$SOCK" 2>/dev/null)" = "$ino_before" ] ||
		fail "the socket file is not the one systemd made"
	grep -q 'ERROR: [A-Za-z]*Sanitizer' "$LOG" && fail "a sanitizer reported an error"
	end

	begin "refuses two passed sockets"
	rm -f "$SOCK" "$SOCK.2"
	activate -l "$SOCK" -l "$SOCK.2"
	wait_for_path "$SOCK" || fail "systemd-socket-activate made no socket"
	ASYNCJOB_SOCKET=$SOCK "$ASYNCJOB_CLI" info >/dev/null 2>&1
	wait_exit "$sa_pid"
	status=$?
	[ "$status" -eq 1 ] || fail "asyncjobd exited with $status, not 1"
	grep -q 'error: systemd passed 2 sockets; asyncjobd takes exactly one' "$LOG" ||
		fail "no clear error about the two sockets"
	end

	begin "refuses a passed TCP socket"
	# A port another test may take meanwhile: try a few.
	for attempt in 1 2 3 4 5; do
		if ! port=$(free_port); then
			fail "no free TCP port found"
			break
		fi
		: >"$LOG"
		activate -l "127.0.0.1:$port"
		for _ in $(seq 100); do
			kill -0 "$sa_pid" 2>/dev/null || break
			(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
			sleep 0.1
		done
		wait_exit "$sa_pid"
		status=$?
		grep -q 'Address already in use' "$LOG" && [ "$attempt" -lt 5 ] && continue
		[ "$status" -eq 1 ] || fail "asyncjobd exited with $status, not 1"
		grep -q 'error: the socket systemd passed is not a listening Unix stream socket' \
			"$LOG" || fail "no clear error about the kind of socket"
		break
	done
	end

	begin "refuses a connection passed instead of a listening socket (Accept=yes)"
	rm -f "$SOCK"
	activate --accept -l "$SOCK"
	wait_for_path "$SOCK" || fail "systemd-socket-activate made no socket"
	ASYNCJOB_SOCKET=$SOCK "$ASYNCJOB_CLI" info >/dev/null 2>&1
	for _ in $(seq 100); do
		grep -q 'is not a listening Unix stream socket' "$LOG" && break
		sleep 0.1
	done
	grep -q 'error: the socket systemd passed is not a listening Unix stream socket' "$LOG" ||
		fail "no clear error about the kind of socket"
	kill -TERM "$sa_pid" 2>/dev/null
	wait_exit "$sa_pid" >/dev/null
	end
fi

# JOURNAL_STREAM: systemd's "DEVICE:INODE" of the stream it gave as stderr.
begin "journal priority prefixes when stderr is the journal stream"
rm -f "$SOCK"
JOURNAL_STREAM=$(stat -c '%d:%i' "$LOG") "$ASYNCJOBD" -c "$CONF" -s "$SOCK" 2>>"$LOG" &
pid=$!
PIDS="$PIDS $pid"
wait_for_path "$SOCK" || fail "the daemon made no socket"
kill -TERM "$pid"
wait_exit "$pid" || fail "asyncjobd did not exit 0 after SIGTERM"
version=$("$ASYNCJOBD" --version | cut -d' ' -f2)
grep -q "^<5>asyncjobd $version listening on $SOCK (pid $pid)\$" "$LOG" ||
	fail "no '<5>asyncjobd $version listening on $SOCK (pid $pid)' line"
bad=$(grep -cv '^<[0-7]>' "$LOG")
[ "$bad" -eq 0 ] || fail "$bad line(s) without a <N> prefix"
end

begin "plain lines when JOURNAL_STREAM names another stream (inherited)"
rm -f "$SOCK"
JOURNAL_STREAM=1:1 "$ASYNCJOBD" -c "$CONF" -s "$SOCK" 2>>"$LOG" &
pid=$!
PIDS="$PIDS $pid"
wait_for_path "$SOCK" || fail "the daemon made no socket"
kill -TERM "$pid"
wait_exit "$pid" || fail "asyncjobd did not exit 0 after SIGTERM"
grep -q '^[0-9-]*T[0-9:.]*Z asyncjobd: notice: asyncjobd .* listening on' "$LOG" ||
	fail "no plain notice line, with its timestamp"
grep -q '^<[0-7]>' "$LOG" && fail "priority prefixes on a stream that is not the journal"
end

if [ "$failures" -gt 0 ]; then
	echo "# $failures of $ncases case(s) failed"
	exit 1
fi
if [ "$ncases" -eq 0 ]; then
	exit 77
fi
echo "# all $ncases cases passed ($skipped skipped)"
exit 0
