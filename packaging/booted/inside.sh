#!/bin/bash
# The checks packaging/test-booted.sh runs inside a container whose PID 1 is
# systemd, as asyncjob-test.service: install the packages with dpkg, then
# use them as a user would: socket activation, the sandbox in force (seen
# from inside the daemon's mount namespace: read-only system, write root
# writable, private /tmp and /dev, no homes), journal priorities, sleep,
# gather, fetch (names from /etc/hosts and from DNS, HTTPS with a private
# CA), write, reload, stop, purge. Prints "ok N - ..." or "not ok N - ..." per check, and exits 1 if
# any failed. /opt/debs holds the packages; results go to /opt/out.
set -uo pipefail
export LC_ALL=C.UTF-8
exec > >(tee /opt/out/result.txt) 2>&1
fails=0; n=0
ok() { n=$((n+1)); echo "ok $n - $*"; }
nok() { n=$((n+1)); fails=$((fails+1)); echo "not ok $n - $*"; }
check() { local name=$1; shift; local o; if o=$("$@" 2>&1); then ok "$name"; else nok "$name"; printf '%s\n' "$o" | sed 's/^/#   /'; fi; }
expect() { local name=$1 want=$2; shift 2; local got; got=$("$@" 2>/tmp/err); local rc=$?
	if [ "$rc" -eq 0 ] && [ "$got" = "$want" ]; then ok "$name"; else nok "$name"
		printf '#   rc=%s\n#   want: %s\n#   got: %s\n' "$rc" "$want" "$got"; sed 's/^/#   stderr: /' /tmp/err; fi; }
prop() { systemctl show -P "$2" "$1"; }

t0=$(date +%s)
echo "# systemctl is-system-running --wait: $(systemctl is-system-running --wait)"
echo "# boot: $(systemd-analyze 2>/dev/null | head -1)"
echo "# virt: $(systemd-detect-virt); systemd $(systemctl --version | head -1)"

# --- install
# Optional drop-ins to try a unit change without rebuilding: DROPIN_DIR on the host.
if [ -d /opt/dropin ] && ls /opt/dropin/*.conf >/dev/null 2>&1; then
	mkdir -p /etc/systemd/system/asyncjobd.service.d && cp /opt/dropin/*.conf /etc/systemd/system/asyncjobd.service.d/
	echo "# drop-ins: $(cat /opt/dropin/*.conf | grep -v '^#' | tr '\n' ' ')"
fi
debs=$(ls /opt/debs/libasyncjob0_*.deb /opt/debs/asyncjob_*.deb /opt/debs/asyncjobd_*.deb)
check "dpkg -i the packages" dpkg -i $debs
expect "asyncjobd.socket is enabled" enabled systemctl is-enabled asyncjobd.socket
expect "asyncjobd.socket is active after install" active systemctl is-active asyncjobd.socket
expect "asyncjobd.service is not started by the install" inactive prop asyncjobd.service ActiveState
check "user asyncjobd and group asyncjob exist" getent passwd asyncjobd
expect "write root is asyncjobd:asyncjob 2750" "asyncjobd:asyncjob 2750" stat -c '%U:%G %a' /var/lib/asyncjobd/files
expect "socket is root:asyncjob 660" "root:asyncjob 660" stat -c '%U:%G %a' /run/asyncjobd/asyncjobd.sock

# --- socket activation
expect "asyncjob sleep 1 Hello (socket activation)" Hello asyncjob -q sleep 1 Hello
expect "asyncjobd.service is active" active systemctl is-active asyncjobd.service
expect "socket still root:asyncjob 660 with the service running" "root:asyncjob 660" stat -c '%U:%G %a' /run/asyncjobd/asyncjobd.sock
expect "/run/asyncjobd is still 755 with the service running" "755" stat -c '%a' /run/asyncjobd
expect "it runs as asyncjobd" asyncjobd stat -c %U "/proc/$(prop asyncjobd.service MainPID)"
pid=$(prop asyncjobd.service MainPID)
expect "seccomp filter on the daemon (Seccomp: 2)" 2 awk '/^Seccomp:/ { print $2 }' /proc/$pid/status
expect "no new privileges" 1 awk '/^NoNewPrivs:/ { print $2 }' /proc/$pid/status
expect "no capabilities" 0000000000000000 awk '/^CapBnd:/ { print $2 }' /proc/$pid/status
check "own mount namespace" test "$(readlink /proc/$pid/ns/mnt)" != "$(readlink /proc/1/ns/mnt)"
# The sandbox as the daemon sees it: its own mount namespace, entered as root
# (who is refused only by a read-only mount, not by file permissions) and as
# the daemon's user.
in_ns() { nsenter -t "$pid" -m -- "$@"; }
refused_in_ns() { # NAME PATH: creating PATH in the daemon's view fails, read-only
	local o; if o=$(in_ns touch "$2" 2>&1); then in_ns rm -f "$2"; nok "$1 (created $2)"
	else case $o in *"Read-only file system"*) ok "$1" ;; *) nok "$1: $o" ;; esac; fi; }
refused_in_ns "ProtectSystem=strict: /etc is read-only to the daemon" /etc/asyncjob-probe
refused_in_ns "ProtectSystem=strict: /usr is read-only to the daemon" /usr/asyncjob-probe
refused_in_ns "/var/lib/asyncjobd is read-only but for the write root" /var/lib/asyncjobd/probe
check "ReadWritePaths=: the daemon's user may write in the write root" \
	in_ns setpriv --reuid=asyncjobd --regid=asyncjobd --clear-groups -- \
	sh -c 'echo x >/var/lib/asyncjobd/files/.probe && rm /var/lib/asyncjobd/files/.probe'
echo probe >/tmp/asyncjob-host-tmp
check "PrivateTmp=: the host's /tmp is out of the daemon's sight" in_ns test ! -e /tmp/asyncjob-host-tmp
check "PrivateDevices=: no /dev/net/tun in the daemon's /dev" \
	sh -c 'test -e /dev/net/tun && nsenter -t '"$pid"' -m -- test ! -e /dev/net/tun'
expect "NoNewPrivileges=yes in force" yes prop asyncjobd.service NoNewPrivileges
echo "# $(systemctl show -p SystemCallErrorNumber -p RuntimeDirectory -p ProtectSystem -p RestrictAddressFamilies asyncjobd.service | tr '\n' ' ')"
st=$(prop asyncjobd.service StatusText)
case $st in Jobs:*) ok "STATUS= from sd_notify: $st" ;; *) nok "STATUS= is '$st', not Jobs: ..." ;; esac
expect "watchdog is 30s" 30s prop asyncjobd.service WatchdogUSec
expect "gather runs jobs together" "$(printf 'Hello\nWorld')" asyncjob -q gather 'sleep 1 Hello' 'sleep 1 World'
check "asyncjob info" asyncjob info

# --- a group member, and a user who is not one
useradd -m -G asyncjob member && useradd -m outsider
check "ProtectHome=: /home is empty in the daemon's view" \
	sh -c 'test -d /home/member && test -z "$(nsenter -t '"$pid"' -m -- ls -A /home)"'
expect "a member of asyncjob may run jobs" hi runuser -u member -- asyncjob -q sleep 0 hi
runuser -u outsider -- asyncjob -q sleep 0 hi >/dev/null 2>&1; rc=$?
[ "$rc" -eq 3 ] && ok "a user outside asyncjob cannot connect (exit 3)" || nok "outsider: exit $rc, expected 3"

# --- fetch jobs: loopback HTTP server, names from /etc/hosts and from DNS
mkdir -p /srv/www && echo 'Hello over HTTP' >/srv/www/hello.txt
busybox httpd -p 127.0.0.1:8080 -h /srv/www
python3 /opt/test/dns.py /tmp/dns.log & dns_pid=$!
sleep 0.5
expect "fetch http://127.0.0.1:8080/hello.txt" "Hello over HTTP" asyncjob -q fetch --fail -t 10 http://127.0.0.1:8080/hello.txt
expect "fetch http://localhost:8080/hello.txt" "Hello over HTTP" asyncjob -q fetch --fail -t 10 http://localhost:8080/hello.txt
expect "fetch a name from /etc/hosts" "Hello over HTTP" asyncjob -q fetch --fail -t 10 http://fetch-hosts.test:8080/hello.txt
expect "fetch a name resolved by DNS" "Hello over HTTP" asyncjob -q fetch --fail -t 10 http://fetch-dns.test:8080/hello.txt
grep -q '^fetch-dns.test type 1 -> 127.0.0.1' /tmp/dns.log && ok "the daemon asked the DNS server" || { nok "no DNS query seen"; sed 's/^/#   dns: /' /tmp/dns.log; }
asyncjob -q fetch --fail -t 10 http://no-such-name.test:8080/x >/tmp/o 2>&1; rc=$?
[ "$rc" -eq 1 ] && ok "an unknown name fails the job (exit 1): $(tr '\n' ' ' </tmp/o)" || { nok "unknown name: exit $rc"; sed 's/^/#   /' /tmp/o; }
asyncjob -q fetch --fail -t 10 http://127.0.0.1:8080/missing >/dev/null 2>&1; rc=$?
[ "$rc" -eq 1 ] && ok "--fail on 404 exits 1" || nok "--fail on 404: exit $rc"
check "fetch -o into the write root" asyncjob -q fetch --fail -t 10 -o /var/lib/asyncjobd/files/fetched.txt http://localhost:8080/hello.txt
expect "the fetched file has the body" "Hello over HTTP" cat /var/lib/asyncjobd/files/fetched.txt

# --- HTTPS under the sandbox (OpenSSL with MemoryDenyWriteExecute= and the
# system call filter): a CA and a certificate for localhost made here,
# openssl s_server serving /srv/www, the CA given to the daemon by ca_file.
mkdir -p /srv/tls
if (cd /srv/tls &&
	openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=asyncjob-test-ca &&
	openssl req -newkey rsa:2048 -nodes -keyout srv.key -out srv.csr -subj /CN=localhost &&
	printf 'subjectAltName=DNS:localhost\n' >ext &&
	openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out srv.pem -days 2 -extfile ext) >/tmp/tls.log 2>&1
then
	(cd /srv/www && exec openssl s_server -quiet -accept 127.0.0.1:8443 -cert /srv/tls/srv.pem -key /srv/tls/srv.key -WWW) >/tmp/s_server.log 2>&1 &
	tls_pid=$!
	cp /etc/asyncjobd/asyncjobd.conf /tmp/asyncjobd.conf.orig
	echo 'ca_file = /srv/tls/ca.pem' >>/etc/asyncjobd/asyncjobd.conf
	systemctl reload asyncjobd.service
	sleep 0.5
	expect "fetch https://localhost:8443/hello.txt (private CA by ca_file)" "Hello over HTTP" \
		asyncjob -q fetch --fail -t 10 https://localhost:8443/hello.txt
	asyncjob -q fetch --fail -t 10 https://127.0.0.1:8443/hello.txt >/tmp/o 2>&1; rc=$?
	[ "$rc" -eq 1 ] && ok "a certificate for another name fails the fetch: $(tr '\n' ' ' </tmp/o)" ||
		{ nok "https to a name the certificate lacks: exit $rc"; sed 's/^/#   /' /tmp/o; }
	kill "$tls_pid" 2>/dev/null
	cp /tmp/asyncjobd.conf.orig /etc/asyncjobd/asyncjobd.conf
else
	nok "could not make a test CA with openssl"; sed 's/^/#   /' /tmp/tls.log
fi

# --- write jobs
check "write a file" asyncjob -q write /var/lib/asyncjobd/files/hello.txt 'Hello, World!'
expect "its content" "Hello, World!" cat /var/lib/asyncjobd/files/hello.txt
expect "its owner and group" "asyncjobd:asyncjob" stat -c %U:%G /var/lib/asyncjobd/files/hello.txt
check "write with --mkdirs --mode 0640" asyncjob -q write -p -m 0640 /var/lib/asyncjobd/files/a/b/c.txt 'deep'
expect "mode of the new file" 640 stat -c %a /var/lib/asyncjobd/files/a/b/c.txt
check "append" asyncjob -q write -a /var/lib/asyncjobd/files/hello.txt ' Again.'
expect "appended content" "Hello, World! Again." cat /var/lib/asyncjobd/files/hello.txt
asyncjob -q write /etc/asyncjob-escape 'x' >/tmp/o 2>&1; rc=$?
[ "$rc" -ne 0 ] && [ ! -e /etc/asyncjob-escape ] && ok "a write outside the write root is refused (exit $rc)" || nok "write to /etc: exit $rc"

# --- many jobs at once, reload, restart counters
jobs=(); for i in $(seq 20); do jobs+=("sleep 0.5 s$i"); done
check "20 sleeps at once" asyncjob -q gather "${jobs[@]}"
check "systemctl reload asyncjobd" systemctl reload asyncjobd.service
expect "still active after reload" active systemctl is-active asyncjobd.service
expect "a job after reload" again asyncjob -q sleep 0 again
expect "no restarts" 0 prop asyncjobd.service NRestarts

# --- the journal of the daemon
journalctl -u asyncjobd.service -u asyncjobd.socket --no-pager -o short-monotonic >/tmp/j
if grep -Ei 'seccomp|EPERM|operation not permitted|permission denied|bad system call|SIGSYS|core-dump|watchdog timeout|failed|error|warn' /tmp/j | grep -v 'Reloading' >/tmp/bad; then
	nok "journal of asyncjobd has suspicious lines"; sed 's/^/#   /' /tmp/bad
else ok "journal of asyncjobd has no error, EPERM or seccomp lines"; fi
grep -E 'asyncjobd\[[0-9]+\]' /tmp/j | sed 's/^/#   journal: /' | head -40

# journald takes each line's priority from its <N> prefix; none is left in
# the text.
journalctl -u asyncjobd.service -p notice..notice -o cat --no-pager >/tmp/jn
grep -q 'listening on' /tmp/jn && ok "the notice 'listening on' has priority notice in the journal" ||
	{ nok "no 'listening on' line at priority notice"; journalctl -u asyncjobd.service -o verbose --no-pager | grep -B3 -A12 listening | sed 's/^/#   /'; }
if journalctl -u asyncjobd.service -o cat --no-pager | grep -E '^<[0-7]>' >/tmp/jp; then
	nok "a <N> prefix left in a journal message"; sed 's/^/#   /' /tmp/jp
else ok "no <N> prefix left in the journal's messages"; fi

# --- stop, sandbox rating, purge
check "systemctl stop asyncjobd.service" systemctl stop asyncjobd.service
expect "stopped cleanly (Result=success)" success prop asyncjobd.service Result
expect "main exit status 0" 0 prop asyncjobd.service ExecMainStatus
expect "socket still active after the service stops" active systemctl is-active asyncjobd.socket
expect "the next client starts it again" back asyncjob -q sleep 0 back
echo "# $(systemd-analyze security asyncjobd.service --no-pager 2>&1 | tail -1)"
systemd-analyze security asyncjobd.service --no-pager 2>&1 | grep -E '^✗' | sed 's/^/#   /'
check "dpkg --purge" dpkg --purge asyncjobd asyncjob libasyncjob0
[ ! -e /run/asyncjobd/asyncjobd.sock ] && ok "socket removed on purge" || nok "socket still there after purge"

kill "$dns_pid" 2>/dev/null
journalctl -b --no-pager -o short-monotonic >/opt/out/journal.txt
echo "# inside test took $(( $(date +%s) - t0 )) s"
echo "$((n-fails)) passed, $fails failed"
[ "$fails" -eq 0 ]
