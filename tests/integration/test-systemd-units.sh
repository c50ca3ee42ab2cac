#!/bin/bash
# The systemd files in packaging/systemd: the units pass `systemd-analyze
# verify` without a word, the system service's sandbox rates an exposure of
# at most 2.0 in `systemd-analyze security` (issue 12's bound, with the two
# capabilities write jobs need to act as their clients), its capabilities are
# CAP_SETUID and CAP_SETGID and no other, the socket is where clients look,
# and the sysusers.d and tmpfiles.d files make the user, the group and the
# write root they promise (in a scratch root directory).
#
# systemd is not PID 1 here: everything runs offline. The units are made from
# their templates as make makes them, but naming the binary just built, since
# verify checks that ExecStart= can run.
#
# Run by `make check`; exits 77 when systemd-analyze is not installed
# (Debian: systemd), 1 when a case fails.
set -u
export LC_ALL=C

: "${ASYNCJOBD:?ASYNCJOBD must name the asyncjobd binary}"
: "${ASYNCJOB_SRCDIR:?ASYNCJOB_SRCDIR must name the source directory}"
: "${ASYNCJOB_BUILDDIR:?ASYNCJOB_BUILDDIR must name the build directory}"
exec </dev/null

MAX_EXPOSURE=2.0

if ! command -v systemd-analyze >/dev/null 2>&1; then
	echo "1..0 # SKIP systemd-analyze is not installed (Debian: systemd)"
	exit 77
fi

SRC=$ASYNCJOB_SRCDIR/packaging/systemd
TMP=$(mktemp -d "${TMPDIR:-/tmp}/asyncjob-units.XXXXXX") || exit 99
trap 'rm -rf "$TMP"' EXIT

. "$(dirname "$0")/../common/cases.sh"

# generate TEMPLATE OUTPUT: the template's placeholders filled in with this
# build's directories; none may be left.
generate() {
	sed -e "s|@sbindir@|$(dirname "$ASYNCJOBD")|g" \
	    -e "s|@bindir@|$ASYNCJOB_BUILDDIR/client|g" \
	    -e "s|@sysconfdir@|/etc|g" "$1" >"$2"
	if grep -n '@[A-Za-z_]*@' "$2" >/dev/null; then
		fail "$(basename "$1"): a placeholder make does not fill in:" \
			"$(grep -n '@[A-Za-z_]*@' "$2")"
	fi
}

# analyze_silently ARG...: systemd-analyze ARG... succeeds, saying nothing
# (verify exits 0 even after warning about an unknown setting).
analyze_silently() {
	local out
	out=$(cd "$TMP" && XDG_RUNTIME_DIR=$TMP/run systemd-analyze "$@" 2>&1)
	local status=$?
	[ "$status" -eq 0 ] || fail "systemd-analyze $* exited with $status"
	[ -z "$out" ] || fail "systemd-analyze $* says:" "$out"
}

mkdir -p "$TMP/system" "$TMP/user" "$TMP/run"

begin "system units pass systemd-analyze verify"
generate "$SRC/asyncjobd.service.in" "$TMP/system/asyncjobd.service"
cp "$SRC/asyncjobd.socket" "$TMP/system/"
# --man=no: the manual pages are not installed where verify looks.
analyze_silently verify --man=no system/asyncjobd.socket system/asyncjobd.service
end

begin "user units pass systemd-analyze --user verify"
generate "$SRC/user/asyncjobd.service.in" "$TMP/user/asyncjobd.service"
cp "$SRC/user/asyncjobd.socket" "$TMP/user/"
analyze_silently --user verify --man=no user/asyncjobd.socket user/asyncjobd.service
end

begin "system service exposure is at most $MAX_EXPOSURE"
out=$(cd "$TMP" && systemd-analyze security --offline=true system/asyncjobd.service 2>&1)
exposure=$(printf '%s\n' "$out" |
	sed -n 's/^.*Overall exposure level for asyncjobd\.service: \([0-9][0-9.]*\).*$/\1/p')
if [ -z "$exposure" ]; then
	fail "no overall exposure level in the output of systemd-analyze security:" "$out"
else
	echo "# exposure $exposure"
	awk -v e="$exposure" -v max="$MAX_EXPOSURE" 'BEGIN { exit !(e <= max) }' ||
		fail "exposure $exposure is above $MAX_EXPOSURE:" \
			"$(printf '%s\n' "$out" | grep -E '[0-9]\.[0-9] *$')"
fi
end

# The exposure rating weighs settings against each other: with one of these
# removed it can stay under the threshold, so each is checked by name too.
begin "system service keeps every sandbox setting it promises"
unit=$TMP/system/asyncjobd.service
while IFS= read -r want; do
	grep -qxF -- "$want" "$unit" || fail "asyncjobd.service lacks '$want'"
done <<'EOF'
User=asyncjobd
StateDirectory=asyncjobd
ProtectSystem=strict
ReadWritePaths=-/var/lib/asyncjobd/files
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
NoNewPrivileges=yes
CapabilityBoundingSet=CAP_SETUID CAP_SETGID
AmbientCapabilities=CAP_SETUID CAP_SETGID
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6
SystemCallFilter=@system-service
SystemCallFilter=~@privileged @resources
SystemCallFilter=setfsuid setfsgid setgroups
MemoryDenyWriteExecute=yes
WatchdogSec=30s
EOF
# Settings a later line could undo.
for key in ProtectSystem ProtectHome PrivateTmp PrivateDevices NoNewPrivileges \
	CapabilityBoundingSet AmbientCapabilities RestrictAddressFamilies MemoryDenyWriteExecute \
	ReadWritePaths; do
	n=$(grep -c "^$key=" "$unit")
	[ "$n" -eq 1 ] || fail "asyncjobd.service sets $key= $n times"
done
end

# CAP_SETUID and CAP_SETGID let a worker thread take on a client's identity;
# any other capability would outlive that (the kernel drops CAP_DAC_OVERRIDE,
# CAP_FOWNER, CAP_CHOWN... only when the fsuid leaves 0, and asyncjobd's is
# never 0) and let clients past each other's files. Read as the unit's lines
# say, and as systemd reads them.
begin "system service: CAP_SETUID and CAP_SETGID, no other capability"
for key in CapabilityBoundingSet AmbientCapabilities; do
	caps=$(sed -n "s/^$key=//p" "$unit" | tr ' ' '\n' | sed '/^$/d' | sort -u | tr '\n' ' ')
	[ "$caps" = "CAP_SETGID CAP_SETUID " ] ||
		fail "$key= gives '$caps', not exactly CAP_SETUID and CAP_SETGID"
done
out=$(cd "$TMP" && systemd-analyze security --offline=true system/asyncjobd.service 2>&1)
# Of systemd's checks of the bounding set, only the one for
# CAP_SET(UID|GID|PCAP) may cost exposure (a number ends the line of a check
# that fails, whatever marks the locale gives it).
bad=$(printf '%s\n' "$out" | grep -F 'CapabilityBoundingSet=~' | grep -E '[0-9]\.[0-9] *$' |
	grep -vF 'CapabilityBoundingSet=~CAP_SET(UID|GID|PCAP)')
[ -z "$bad" ] || fail "systemd-analyze security sees other capabilities:" "$bad"
printf '%s\n' "$out" | grep -qF 'CapabilityBoundingSet=~CAP_(DAC_*|FOWNER|IPC_OWNER)' ||
	fail "systemd-analyze security said nothing of CAP_DAC_*/CAP_FOWNER:" "$out"
end

begin "the socket unit listens where clients and the daemon look"
want=$(sed -n 's/^#define ASYNCJOB_SYSTEM_SOCKET "\(.*\)"$/\1/p' "$ASYNCJOB_SRCDIR/proto/protocol.h")
[ -n "$want" ] || fail "no ASYNCJOB_SYSTEM_SOCKET in proto/protocol.h"
grep -qx "ListenStream=$want" "$SRC/asyncjobd.socket" ||
	fail "asyncjobd.socket does not listen on $want"
name=$(sed -n 's/^#define ASYNCJOB_USER_SOCKET_NAME "\(.*\)"$/\1/p' "$ASYNCJOB_SRCDIR/proto/protocol.h")
grep -qx "ListenStream=%t/$name" "$SRC/user/asyncjobd.socket" ||
	fail "the user socket unit does not listen on %t/$name"
for unit in "$TMP/system/asyncjobd.service" "$TMP/user/asyncjobd.service"; do
	grep -qx 'Type=notify' "$unit" || fail "$unit is not Type=notify"
done
end

begin "the units make installs name the installed daemon"
found=0
for unit in "$ASYNCJOB_BUILDDIR/packaging/systemd/asyncjobd.service" \
	    "$ASYNCJOB_BUILDDIR/packaging/systemd/user/asyncjobd.service"; do
	[ -f "$unit" ] || continue   # not built: a build without libsystemd
	found=$((found + 1))
	grep -n '@[A-Za-z_]*@' "$unit" >/dev/null && fail "$unit: placeholders left"
	grep -qx 'ExecStart=/.*/asyncjobd' "$unit" ||
		fail "$unit: ExecStart= is not an absolute path to asyncjobd"
done
echo "# $found generated unit(s) checked"
end

begin "sysusers.d makes the user asyncjobd and the group asyncjob"
root=$TMP/root
mkdir -p "$root/etc"
if ! command -v systemd-sysusers >/dev/null 2>&1; then
	echo "# systemd-sysusers is not installed: not checked"
elif ! out=$(systemd-sysusers --root="$root" "$SRC/sysusers.d/asyncjobd.conf" 2>&1); then
	fail "systemd-sysusers failed:" "$out"
else
	grep -q '^asyncjobd:x:[0-9]*:[0-9]*:[^:]*:/var/lib/asyncjobd/files:' "$root/etc/passwd" ||
		fail "no user asyncjobd with home /var/lib/asyncjobd/files:" "$(cat "$root/etc/passwd")"
	grep -q '^asyncjob:x:' "$root/etc/group" || fail "no group asyncjob"
	# Write jobs write as their clients: the daemon's user is no member of
	# the group that shares the write root.
	grep -q '^asyncjob:x:[0-9]*:.*asyncjobd' "$root/etc/group" &&
		fail "asyncjobd is a member of asyncjob:" "$(grep '^asyncjob:' "$root/etc/group")"
fi
end

# The write root is shared as /tmp is, within the group asyncjob: sticky,
# set-group-ID, writable by the group, owned by root. An existing write root
# (2750 asyncjobd:asyncjob, from before issue 12) is brought to that on
# upgrade, and what is in it is left alone.
begin "tmpfiles.d makes the write root 3770 root:asyncjob, and fixes an old one"
if ! command -v systemd-tmpfiles >/dev/null 2>&1 || [ ! -s "$root/etc/passwd" ]; then
	echo "# systemd-tmpfiles or the users are missing: not checked"
elif [ "$(id -u)" -ne 0 ]; then
	echo "# not root: cannot give the directories their owners here; not checked"
elif ! out=$(systemd-tmpfiles --root="$root" --create "$SRC/tmpfiles.d/asyncjobd.conf" 2>&1); then
	fail "systemd-tmpfiles failed:" "$out"
else
	uid=$(sed -n 's/^asyncjobd:x:\([0-9]*\):.*/\1/p' "$root/etc/passwd")
	gid=$(sed -n 's/^asyncjobd:x:\([0-9]*\):.*/\1/p' "$root/etc/group")
	client_gid=$(sed -n 's/^asyncjob:x:\([0-9]*\):.*/\1/p' "$root/etc/group")
	got=$(stat -c '%a %u %g' "$root/var/lib/asyncjobd" 2>&1)
	[ "$got" = "755 $uid $gid" ] ||
		fail "/var/lib/asyncjobd is '$got', not '755 $uid $gid' (StateDirectory= would chown it)"
	got=$(stat -c '%a %u %g' "$root/var/lib/asyncjobd/files" 2>&1)
	[ "$got" = "3770 0 $client_gid" ] ||
		fail "/var/lib/asyncjobd/files is '$got', not '3770 0 $client_gid'"
	# As an older package left it, with a file written then.
	chown "$uid:$client_gid" "$root/var/lib/asyncjobd/files"
	chmod 2750 "$root/var/lib/asyncjobd/files"
	echo old >"$root/var/lib/asyncjobd/files/old.txt"
	chown "$uid:$client_gid" "$root/var/lib/asyncjobd/files/old.txt"
	chmod 0644 "$root/var/lib/asyncjobd/files/old.txt"
	if ! out=$(systemd-tmpfiles --root="$root" --create "$SRC/tmpfiles.d/asyncjobd.conf" 2>&1); then
		fail "systemd-tmpfiles failed on an existing write root:" "$out"
	fi
	got=$(stat -c '%a %u %g' "$root/var/lib/asyncjobd/files" 2>&1)
	[ "$got" = "3770 0 $client_gid" ] ||
		fail "an existing 2750 write root became '$got', not '3770 0 $client_gid'"
	got=$(stat -c '%a %u %g' "$root/var/lib/asyncjobd/files/old.txt" 2>&1)
	[ "$got" = "644 $uid $client_gid" ] ||
		fail "a file in the existing write root became '$got', not '644 $uid $client_gid'"
fi
end

if [ "$failures" -gt 0 ]; then
	echo "# $failures of $ncases case(s) failed"
	exit 1
fi
echo "# all $ncases cases passed"
exit 0
