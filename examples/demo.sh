#!/bin/sh
# make demo: start asyncjobd on a private socket, run the seed's examples
# through the asyncjob CLI, print what they print, restart the daemon to
# show the jobs are kept, stop it.
set -eu

builddir=${1:-.}
daemon="$builddir/daemon/asyncjobd"
cli="$builddir/client/asyncjob"
example="$builddir/examples/gather-greet"
web="$builddir/tests/common/http-test-server"

dir=$(mktemp -d "${TMPDIR:-/tmp}/asyncjob-demo.XXXXXX")
sock="$dir/asyncjobd.sock"
pid=
web_pid=
cleanup() {
	for p in $pid $web_pid; do
		kill -TERM "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	rm -rf "$dir"
}
trap cleanup EXIT INT TERM

# An empty config file keeps the demo independent of /etc; the jobs are
# kept (the default SQLite store) in the demo's own directory.
: > "$dir/asyncjobd.conf"
mkdir "$dir/files"
# poll_until WHAT COMMAND...: runs COMMAND every 0.1 s until it succeeds;
# after 10 s, says WHAT did not start and exits.
poll_until() {
	what=$1
	shift
	i=0
	until "$@" >/dev/null 2>&1; do
		i=$((i + 1))
		if [ "$i" -gt 100 ]; then
			echo "demo: $what did not start" >&2
			exit 1
		fi
		sleep 0.1
	done
}
start_daemon() {
	"$daemon" -c "$dir/asyncjobd.conf" -s "$sock" --write-root "$dir/files" \
		--state-dir "$dir/state" --log-level warning &
	pid=$!
	poll_until asyncjobd "$cli" -q -s "$sock" info
}
start_daemon

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }

echo "== seed example 1: asyncio.gather(greet(\"Hello\"), greet(\"World\"))"
echo "\$ asyncjob gather 'sleep 1 Hello' 'sleep 1 World'"
start=$(now)
"$cli" -s "$sock" gather 'sleep 1 Hello' 'sleep 1 World'
echo "(two one-second sleeps took $(elapsed "$start") s together)"
echo
echo "== the same through libasyncjob (examples/gather-greet.c)"
start=$(now)
"$example" "$sock"
echo "($(elapsed "$start") s)"
echo

# The seed fetches https://jsonplaceholder.typicode.com/todos/1; this machine
# may have no internet, so a small server on loopback serves the same
# document.
"$web" > "$dir/web.port" &
web_pid=$!
poll_until "the local web server" test -s "$dir/web.port"
port=$(sed -n 's/^http=\([0-9]*\) .*/\1/p' "$dir/web.port")
url="http://127.0.0.1:$port/todos/1"
echo "== seed example 2: fetch_data('.../todos/1') with aiohttp"
echo "\$ asyncjob fetch $url"
"$cli" -s "$sock" fetch "$url"
echo
echo "== seed example 3: write_to_file('Hello, World!') with aiofiles"
echo "\$ cd $dir/files && asyncjob write example.txt 'Hello, World!' && cat example.txt"
(cd "$dir/files" && "$cli" -s "$sock" write example.txt 'Hello, World!' && cat example.txt && echo)
echo
echo "== what the daemon did, kept in $dir/state/jobs.db across a restart"
echo "\$ systemctl restart asyncjobd   # here: kill -TERM, start again"
kill -TERM "$pid"
wait "$pid" || true
start_daemon
echo "\$ asyncjob list"
"$cli" -s "$sock" list
