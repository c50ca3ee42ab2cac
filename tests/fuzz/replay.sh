#!/bin/sh
# Replays the fuzzing seed corpus and every saved regression input through
# the request fuzz target, built without libFuzzer (make check runs this).
set -u

: "${ASYNCJOB_BUILDDIR:?ASYNCJOB_BUILDDIR must name the build directory}"
: "${ASYNCJOB_SRCDIR:?ASYNCJOB_SRCDIR must name the source directory}"

replay="$ASYNCJOB_BUILDDIR/tests/fuzz/replay-request"
if [ ! -x "$replay" ]; then
	echo "replay.sh: $replay is missing; build it with make check" >&2
	exit 99
fi

exec "$replay" "$ASYNCJOB_SRCDIR/tests/fuzz/corpus" "$ASYNCJOB_SRCDIR/tests/fuzz/regressions"
