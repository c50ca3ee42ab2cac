#!/bin/bash
# Installs the Debian packages build-deb.sh made, checks what they put on the
# system, runs the installed daemon the way its units would (as the user
# asyncjobd with CAP_SETUID and CAP_SETGID only, on a socket passed by socket
# activation, owned by the group asyncjob) without needing systemd as PID 1,
# talks to it with the installed asyncjob and libasyncjob, as root and as a
# member of asyncjob whose files the other may not touch, then stops it and
# purges the packages.
#
#   packaging/test-installed.sh [DEBDIR]     (default: _deb at the top)
#
# Run as root on a machine where installing and purging asyncjobd is fine
# (CI, a container): it purges any asyncjobd packages already installed, and
# adds (then removes) a user asyncjob-ci-user. Each check prints "ok - ..."
# or "not ok - ..."; the script exits 1 if any failed.
set -uo pipefail
export LC_ALL=C.UTF-8

top=$(cd "$(dirname "$0")/.." && pwd)
debdir=$(cd "${1:-$top/_deb}" && pwd) || exit 1
packages=(asyncjobd asyncjob libasyncjob0 libasyncjob-dev)
sock=/run/asyncjobd/asyncjobd.sock
roots=/var/lib/asyncjobd/files
test_user=asyncjob-ci-user
tmp=$(mktemp -d "${TMPDIR:-/tmp}/asyncjobd-installed.XXXXXX") || exit 1
daemon_pid=
failures=0
checks=0

if [ "$(id -u)" -ne 0 ]; then
	echo "test-installed: run as root (it installs and purges packages)" >&2
	exit 1
fi

ok() { checks=$((checks + 1)); echo "ok - $*"; }
not_ok() {
	checks=$((checks + 1))
	failures=$((failures + 1))
	echo "not ok - $*"
}
# check NAME COMMAND...: the command succeeds.
check() {
	local name=$1
	shift
	if "$@" >"$tmp/out" 2>&1; then
		ok "$name"
	else
		not_ok "$name"
		sed 's/^/#   /' "$tmp/out"
	fi
}
# check_output NAME EXPECTED COMMAND...: the command succeeds and prints EXPECTED.
check_output() {
	local name=$1 expected=$2 got
	shift 2
	if got=$("$@" 2>"$tmp/err") && [ "$got" = "$expected" ]; then
		ok "$name"
	else
		not_ok "$name"
		printf '#   expected: %s\n#   got: %s\n' "$expected" "$got"
		sed 's/^/#   stderr: /' "$tmp/err"
	fi
}

stop_daemon() {
	[ -n "$daemon_pid" ] || return 0
	local pid=$daemon_pid status
	daemon_pid=
	kill -TERM "$pid" 2>/dev/null
	for _ in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
	wait "$pid"
	status=$?
	if [ "$status" -eq 0 ]; then
		ok "the installed asyncjobd exits 0 on SIGTERM"
	else
		not_ok "the installed asyncjobd exited with status $status on SIGTERM"
		sed 's/^/#   log: /' "$tmp/daemon.log"
	fi
}

cleanup() {
	stop_daemon >/dev/null
	userdel "$test_user" >/dev/null 2>&1
	rm -rf "$tmp"
}
trap cleanup EXIT

apt_get() {
	DEBIAN_FRONTEND=noninteractive apt-get -y -q -o Dpkg::Use-Pty=0 "$@"
}

# ------------------------------------------------------------------ install
version=$(sed -n 's/^AC_INIT(\[asyncjobd\], \[\([^]]*\)\].*/\1/p' "$top/configure.ac")
arch=$(dpkg --print-architecture)
debs=()
for p in "${packages[@]}"; do
	deb=$debdir/${p}_${version}_${arch}.deb
	[ -f "$deb" ] || { echo "test-installed: $deb is missing; run packaging/build-deb.sh" >&2; exit 1; }
	debs+=("$deb")
done

echo "# purging earlier installs, installing ${debs[*]##*/}"
apt_get purge "${packages[@]}" >/dev/null 2>&1
if apt_get install --no-install-recommends "${debs[@]}" >"$tmp/apt.log" 2>&1; then
	ok "apt-get install of the four packages"
else
	not_ok "apt-get install of the four packages"
	sed 's/^/#   /' "$tmp/apt.log"
	exit 1
fi

# ------------------------------------------------------------------ files
for f in /usr/sbin/asyncjobd /usr/bin/asyncjob /etc/asyncjobd/asyncjobd.conf \
	/lib/systemd/system/asyncjobd.service /lib/systemd/system/asyncjobd.socket \
	/usr/lib/systemd/user/asyncjobd.service /usr/lib/systemd/user/asyncjobd.socket \
	/usr/lib/sysusers.d/asyncjobd.conf /usr/lib/tmpfiles.d/asyncjobd.conf \
	/usr/share/bash-completion/completions/asyncjob \
	/usr/include/asyncjob.h /usr/include/asyncjob-libevent.h \
	"/usr/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH)/libasyncjob.so.0"; do
	check "installed: $f" test -e "$f"
done
for page in asyncjobd.8 asyncjobd.conf.5 asyncjob.1 libasyncjob.3; do
	check "man finds ${page%.*}(${page##*.})" man -w "${page##*.}" "${page%.*}"
done
check "/etc/asyncjobd/asyncjobd.conf is a conffile" \
	grep -qx /etc/asyncjobd/asyncjobd.conf /var/lib/dpkg/info/asyncjobd.conffiles
check "systemd-sysusers made the user asyncjobd" getent passwd asyncjobd
check "systemd-sysusers made the group asyncjob" getent group asyncjob
# Shared as /tmp is, within the group asyncjob: sticky, set-group-ID, owned by
# root (tmpfiles.d/asyncjobd.conf).
check_output "systemd-tmpfiles made the write root root:asyncjob 3770" "root asyncjob 3770" \
	stat -c '%U %G %a' "$roots"
check "the socket is enabled (sockets.target wants it)" \
	test -L /etc/systemd/system/sockets.target.wants/asyncjobd.socket
check "the service is not enabled by itself" \
	test ! -e /etc/systemd/system/multi-user.target.wants/asyncjobd.service
check "the user units are not enabled for everyone" \
	test ! -e /etc/systemd/user/sockets.target.wants/asyncjobd.socket
check_output "asyncjobd --version" "asyncjobd $version" /usr/sbin/asyncjobd --version
check "asyncjobd --check-config reads the installed config" \
	grep -q "configuration OK (/etc/asyncjobd/asyncjobd.conf)" <(/usr/sbin/asyncjobd --check-config 2>&1)
check_output "pkg-config --modversion libasyncjob" "$version" pkg-config --modversion libasyncjob
# shellcheck disable=SC2016  # expanded by the inner bash
check "the bash completion offers the commands" bash -c \
	'source /usr/share/bash-completion/completions/asyncjob
	 COMP_WORDS=(asyncjob ""); COMP_CWORD=1; _asyncjob
	 [[ " ${COMPREPLY[*]} " == *" gather "* ]]'

# ------------------------------------------------------------------ daemon
# As asyncjobd.socket and asyncjobd.service would run it: root makes the
# socket (group asyncjob, mode 0660) and passes it, and the daemon runs as
# asyncjobd, $HOME its write root, $STATE_DIRECTORY (StateDirectory=) for
# its jobs.db, the default config, with the unit's
# CapabilityBoundingSet= and AmbientCapabilities=: CAP_SETUID and
# CAP_SETGID, for its worker threads to write as each client, and nothing
# else. systemd-socket-activate listens, and on the first connection execs
# the rest in its own process, so $daemon_pid becomes the daemon's.
install -d -m 0755 /run/asyncjobd
rm -f "$sock"
# systemd-socket-activate hands the program only the variables -E names,
# as the service manager hands a unit's.
env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
	systemd-socket-activate --listen="$sock" -E PATH -E HOME="$roots" -E USER=asyncjobd \
	-E LOGNAME=asyncjobd -E STATE_DIRECTORY=/var/lib/asyncjobd \
	setpriv --reuid=asyncjobd --regid=asyncjobd --init-groups --no-new-privs \
	--inh-caps=-all,+setuid,+setgid --ambient-caps=+setuid,+setgid \
	--bounding-set=-all,+setuid,+setgid /usr/sbin/asyncjobd >"$tmp/daemon.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 100); do
	[ -S "$sock" ] && break
	sleep 0.1
done
# What SocketGroup= and SocketMode= do; no client has connected yet.
chgrp asyncjob "$sock" && chmod 0660 "$sock"
for _ in $(seq 100); do
	asyncjob info >/dev/null 2>&1 && break
	sleep 0.1
done
check "the installed asyncjob reaches the installed asyncjobd at $sock" asyncjob info
check "the daemon took the passed socket and runs as asyncjobd" \
	grep -q "listening on $sock (pid [0-9]*, socket passed by systemd)" "$tmp/daemon.log"
check_output "it runs as the user asyncjobd" asyncjobd stat -c %U "/proc/$daemon_pid"
# CAP_SETGID is bit 6, CAP_SETUID bit 7: 0xc0.
for set in CapBnd CapAmb CapPrm; do
	# shellcheck disable=SC2016  # expanded by awk or the inner bash
	check_output "its $set is CAP_SETUID and CAP_SETGID, no other (c0)" 00000000000000c0 \
		awk -v k="$set:" '$1 == k { print $2 }' "/proc/$daemon_pid/status"
done

info=$(asyncjob info 2>&1)
echo "$info" | sed 's/^/# asyncjob info: /' | head -4
check "asyncjob info names the version and the socket" \
	grep -q "^asyncjobd $version, pid [0-9]*, up .* s, socket $sock\$" <<<"$info"
check_output "asyncjob sleep 1 Hello" "Hello" asyncjob sleep 1 Hello
check_output "the jobs are kept in /var/lib/asyncjobd/jobs.db, the daemon's alone" "asyncjobd 600" \
	stat -c '%U %a' /var/lib/asyncjobd/jobs.db
start=$(date +%s%N)
check_output "asyncjob gather 'sleep 1 Hello' 'sleep 1 World'" $'Hello\nWorld' \
	asyncjob gather 'sleep 1 Hello' 'sleep 1 World'
echo "# the gather took $((($(date +%s%N) - start) / 1000000)) ms (two one-second sleeps at once)"
# Every file a job writes belongs to the user who asked (issue 12). Root
# asks first: root owns the write root, so it may create there, though the
# daemon has no CAP_DAC_OVERRIDE; the set-group-ID write root gives the file
# the group asyncjob.
check "asyncjob write into the write root" asyncjob write "$roots/example.txt" 'Hello, World!'
check_output "the file holds the text" "Hello, World!" cat "$roots/example.txt"
check_output "root's file belongs to root, group asyncjob (set-group-ID write root)" "root asyncjob" \
	stat -c '%U %G' "$roots/example.txt"
check "a write outside the write roots is refused" \
	bash -c '! asyncjob write /etc/asyncjob-ci-test "no" 2>/dev/null && [ ! -e /etc/asyncjob-ci-test ]'

# A member of asyncjob may use the socket; another user may not. The member's
# primary group is nogroup: only its supplementary group asyncjob lets it
# write in the write root (3770 root:asyncjob), so its writes also show that
# the daemon takes on the client's supplementary groups.
useradd --no-create-home --no-user-group --gid nogroup --groups asyncjob \
	--shell /usr/sbin/nologin "$test_user" >/dev/null 2>&1
as_test_user() { runuser -u "$test_user" -- env -u XDG_RUNTIME_DIR -u ASYNCJOB_SOCKET "$@"; }
check_output "a member of asyncjob: asyncjob sleep 0 Hello" "Hello" \
	as_test_user asyncjob sleep 0 Hello
check_output "a non-member cannot connect (exit 3)" 3 \
	bash -c 'runuser -u nobody -- env -u XDG_RUNTIME_DIR asyncjob info >/dev/null 2>&1; echo $?'

# check_job_fails NAME COMMAND...: the command exits 1 (the job failed, not
# the request: the daemon is the one that tried, as the client) for want of
# permission (EACCES, or EPERM from the sticky bit); what it said is shown.
check_job_fails() {
	local name=$1 rc
	shift
	"$@" >"$tmp/out" 2>&1
	rc=$?
	if [ "$rc" -eq 1 ] && grep -qE '\((EACCES|EPERM)\)' "$tmp/out"; then
		ok "$name: $(tr '\n' ' ' <"$tmp/out")"
	else
		not_ok "$name (exit $rc, not 1 with EACCES or EPERM)"
		sed 's/^/#   /' "$tmp/out"
	fi
}

check "the member writes a file of its own" as_test_user asyncjob write "$roots/ci-user.txt" 'mine'
check_output "the member's file belongs to it, group asyncjob" "$test_user asyncjob" \
	stat -c '%U %G' "$roots/ci-user.txt"
check_output "the member's file holds its text" "mine" cat "$roots/ci-user.txt"
check_job_fails "the member may not replace root's file (sticky write root)" \
	as_test_user asyncjob write "$roots/example.txt" 'replaced'
check_job_fails "the member may not append to root's file (0644)" \
	as_test_user asyncjob write --append "$roots/example.txt" 'appended'
# shellcheck disable=SC2016  # expanded by awk or the inner bash
check_output "root's file is unchanged" "Hello, World! root asyncjob" \
	bash -c 'printf "%s " "$(cat "$1")"; stat -c "%U %G" "$1"' - "$roots/example.txt"
# shellcheck disable=SC2016  # expanded by awk or the inner bash
check "a refused replace leaves no temporary file behind" \
	bash -c '! ls -A "$1" | grep -F .asyncjob-' - "$roots"
check "the member makes a directory with --mkdirs" \
	as_test_user asyncjob write --mkdirs "$roots/ci-user-dir/inner.txt" 'inside'
check_output "the directory is the member's, group asyncjob" "$test_user asyncjob" \
	stat -c '%U %G' "$roots/ci-user-dir"
dir_mode=$(stat -c %a "$roots/ci-user-dir")
# shellcheck disable=SC2016  # expanded by awk or the inner bash
check "its mode ($dir_mode) lets no one but the member write in it" \
	bash -c '[ -n "$1" ] && [ $((0$1 & 022)) -eq 0 ]' - "$dir_mode"
check_output "the file in it is the member's" "$test_user" stat -c '%U' "$roots/ci-user-dir/inner.txt"
# Root, without CAP_DAC_OVERRIDE in the daemon, is "others" to that
# directory: its write fails as a job, and the daemon goes on.
check_job_fails "root may not write into the member's directory" \
	asyncjob write "$roots/ci-user-dir/root.txt" 'no'
# shellcheck disable=SC2016  # expanded by awk or the inner bash
check "nothing of root's is left in the member's directory" \
	bash -c '[ "$(ls -A "$1")" = inner.txt ]' - "$roots/ci-user-dir"
check "the daemon still answers after the refusals" asyncjob info

# The C library, through the -dev package's pkg-config file: the seed's
# first example, as the demo builds it in the tree.
# shellcheck disable=SC2046  # pkg-config's flags are words
check "cc examples/gather-greet.c \$(pkg-config --cflags --libs libasyncjob)" \
	cc -std=c11 -Wall -Werror -o "$tmp/greet" "$top/examples/gather-greet.c" \
	$(pkg-config --cflags --libs libasyncjob)
check_output "the program gathers through the installed library" $'Hello\nWorld' "$tmp/greet"

# SIGHUP reloads the installed configuration.
kill -HUP "$daemon_pid"
for _ in $(seq 50); do
	grep -q "configuration reloaded" "$tmp/daemon.log" && break
	sleep 0.1
done
check "SIGHUP reloads /etc/asyncjobd/asyncjobd.conf" \
	grep -q "configuration reloaded from /etc/asyncjobd/asyncjobd.conf" "$tmp/daemon.log"
check "it still answers after the reload" asyncjob info
stop_daemon
rm -f "$sock"
# What the jobs wrote: the write root must be empty for the purge to take it.
find "$roots" -mindepth 1 -delete

# ------------------------------------------------------------------ purge
if apt_get purge "${packages[@]}" >"$tmp/apt.log" 2>&1; then
	ok "apt-get purge of the four packages"
else
	not_ok "apt-get purge of the four packages"
	sed 's/^/#   /' "$tmp/apt.log"
fi
for f in /usr/sbin/asyncjobd /usr/bin/asyncjob /etc/asyncjobd /lib/systemd/system/asyncjobd.socket \
	/etc/systemd/system/sockets.target.wants/asyncjobd.socket /var/lib/asyncjobd; do
	check "purged: $f is gone" test ! -e "$f"
done
rmdir /run/asyncjobd 2>/dev/null

echo "$((checks - failures)) passed, $failures failed"
[ "$failures" -eq 0 ]
