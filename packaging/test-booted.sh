#!/bin/bash
# Tests the Debian packages under a real systemd, as a user would have them:
# a container whose PID 1 is systemd (systemd-nspawn --boot), on a host whose
# own PID 1 need not be systemd (CI, a container). Inside, booted/inside.sh
# installs the packages and checks socket activation, the sandbox in force
# (seccomp, CAP_SETUID and CAP_SETGID only, no new privileges, its own mount namespace),
# sd_notify's status, sleep and gather jobs, fetches of names from
# /etc/hosts and from DNS, write jobs, the asyncjob group, reload, stop and
# purge.
#
#   packaging/test-booted.sh [DEBDIR]     (default: _deb at the top)
#
# Run as root. It installs systemd-container and debootstrap on the host if
# they are missing, and makes a minimal Debian 12 root file system once
# (about a minute from the Debian archive apt uses; kept in $WORK/rootfs,
# FRESH=1 makes it again). The container runs throw-away (--volatile=overlay:
# the kept root file system never changes) with a network of its own that is
# only loopback. Results: $WORK/out/result.txt and the boot's journal in
# $WORK/out/journal.txt. Exits with the checks' status.
#
# Any system call the unit's SystemCallFilter= blocks kills the daemon here
# (a drop-in resets SystemCallErrorNumber=), so a call the filter misses
# cannot pass unnoticed as an EPERM the daemon shrugs off. DROPIN_DIR=DIR
# adds DIR/*.conf as further drop-ins, to try a unit change without
# rebuilding the packages.
set -uo pipefail
export LC_ALL=C.UTF-8

top=$(cd "$(dirname "$0")/.." && pwd)
DEBDIR=$(cd "${1:-$top/_deb}" && pwd) || exit 1
WORK=${WORK:-$top/_booted}
ROOT=$WORK/rootfs
OUT=$WORK/out
TIMEOUT=${TIMEOUT:-300}

say() { printf 'test-booted: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }
[ "$(id -u)" -eq 0 ] || die "run as root"
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
t0=$(date +%s.%N)

# The mirror apt already uses (deb822 or one-line sources), else Debian's.
mirror() {
	{
		sed -n 's/^URIs: *\(http[^ ]*\).*/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null
		sed -n 's/^deb  *\(\[[^]]*\]  *\)\{0,1\}\(http[^ ]*\)  *bookworm .*/\2/p' \
			/etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null
	} | grep -v security | head -1
}

# ------------------------------------------------------------ host tools
"$(dirname "$0")/apt-ensure.sh" test-booted systemd-container debootstrap ||
	die "cannot install systemd-container and debootstrap"

# ------------------------------------------------------------ root file system
# The packages' run-time dependencies are installed when the root is made
# (dpkg -i then needs no network inside); busybox serves HTTP and python3
# answers DNS for the fetch checks. A root made with another list is made
# again.
include=systemd,systemd-sysv,dbus,procps,libevent-2.1-7,libevent-core-2.1-7,libevent-extra-2.1-7,libcurl4,libjson-c5,libsqlite3-0,libsystemd0,ca-certificates,busybox,python3-minimal
if [ "${FRESH:-0}" = 1 ] || [ "$(cat "$ROOT/.asyncjob-rootfs-ok" 2>/dev/null)" != "$include" ]; then
	rm -rf "$ROOT"
	mkdir -p "$WORK"
	url=${MIRROR:-$(mirror)}
	url=${url:-http://deb.debian.org/debian}
	say "debootstrap bookworm from $url into $ROOT"
	t=$(date +%s.%N)
	debootstrap --variant=minbase --include="$include" \
		bookworm "$ROOT" "$url" >"$WORK/debootstrap.log" 2>&1 ||
		{ tail -20 "$WORK/debootstrap.log" >&2; die "debootstrap failed"; }
	say "debootstrap took $(elapsed "$t") s"
	echo asyncjob-test >"$ROOT/etc/hostname"
	printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.0.1\tasyncjob-test\n127.0.0.1\tfetch-hosts.test\n' >"$ROOT/etc/hosts"
	# The checks' own DNS server (booted/dns.py) listens on 127.0.0.1:53.
	printf 'nameserver 127.0.0.1\noptions timeout:2 attempts:2\n' >"$ROOT/etc/resolv.conf"
	# No login prompt on the console.
	ln -sf /dev/null "$ROOT/etc/systemd/system/console-getty.service"
	rm -rf "$ROOT"/var/cache/apt/archives/*.deb "$ROOT"/var/lib/apt/lists/*_Packages
	echo "$include" >"$ROOT/.asyncjob-rootfs-ok"
	say "root file system: $(du -sh "$ROOT" | cut -f1)"
fi

# ------------------------------------------------------------ drop-ins
rm -rf "$OUT" "$WORK/dropin" && mkdir -p "$OUT" "$WORK/dropin" || exit 1
printf '# Made by test-booted.sh: a blocked system call kills the daemon.\n[Service]\nSystemCallErrorNumber=\n' \
	>"$WORK/dropin/10-seccomp-kill.conf"
if [ -n "${DROPIN_DIR:-}" ]; then
	cp "$DROPIN_DIR"/*.conf "$WORK/dropin/" || die "no *.conf in $DROPIN_DIR"
fi

# ------------------------------------------------------------ boot
say "booting the container (timeout ${TIMEOUT} s)"
t=$(date +%s.%N)
# --register=no --keep-unit: no machined and no systemd on the host to make
# a scope for it; the container stays in our cgroup.
# systemd.wants= on PID 1's command line starts the checks once booted;
# their unit's SuccessAction=/FailureAction=exit ends the container with
# their status.
timeout --kill-after=10 "$TIMEOUT" systemd-nspawn -q --register=no --keep-unit \
	--volatile=overlay --private-network --console=pipe \
	-D "$ROOT" -M asyncjob-test \
	--bind-ro="$DEBDIR":/opt/debs \
	--bind-ro="$top/packaging/booted":/opt/test \
	--bind-ro="$WORK/dropin":/opt/dropin \
	--bind="$OUT":/opt/out \
	--bind-ro="$top/packaging/booted/asyncjob-test.service":/etc/systemd/system/asyncjob-test.service \
	--boot systemd.wants=asyncjob-test.service >"$OUT/console.txt" 2>&1 </dev/null
rc=$?
say "the container exited with $rc after $(elapsed "$t") s (all: $(elapsed "$t0") s)"
if [ -s "$OUT/result.txt" ]; then
	cat "$OUT/result.txt"
else
	say "no results; the console said:"
	tail -50 "$OUT/console.txt" >&2
	[ "$rc" -ne 0 ] || rc=1
fi
exit "$rc"
