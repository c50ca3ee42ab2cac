#!/bin/sh
# make demo: start asyncjobd on a private socket, run the seed's examples
# through the asyncjob CLI, print what they print, stop the daemon.
set -eu

builddir=${1:-.}
daemon="$builddir/daemon/asyncjobd"
cli="$builddir/client/asyncjob"
example="$builddir/examples/gather-greet"

dir=$(mktemp -d "${TMPDIR:-/tmp}/asyncjob-demo.XXXXXX")
sock="$dir/asyncjobd.sock"
pid=
cleanup() {
	if [ -n "$pid" ]; then
		kill -TERM "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	rm -rf "$dir"
}
trap cleanup EXIT INT TERM

# An empty config file keeps the demo independent of /etc.
: > "$dir/asyncjobd.conf"
"$daemon" -c "$dir/asyncjobd.conf" -s "$sock" --log-level warning &
pid=$!
i=0
until "$cli" -q -s "$sock" info >/dev/null 2>&1; do
	i=$((i + 1))
	if [ "$i" -gt 100 ]; then
		echo "demo: asyncjobd did not start" >&2
		exit 1
	fi
	sleep 0.1
done

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
echo "== what the daemon did"
"$cli" -s "$sock" list
