#!/bin/sh
# The manual pages format without a single groff warning (-ww: all of them),
# as `man --warnings` and lintian check them. Skipped (77) without groff.
set -u

: "${ASYNCJOB_SRCDIR:?ASYNCJOB_SRCDIR must name the source directory}"

if ! command -v groff >/dev/null 2>&1; then
	echo "test-man.sh: groff is not installed (Debian: groff-base); skipping"
	exit 77
fi

failed=0
n=0
for page in "$ASYNCJOB_SRCDIR"/man/*.[1-8]; do
	n=$((n + 1))
	# -t: tables, as man(1) preprocesses them. UTF-8 output, as a reader sees it.
	warnings=$(LC_ALL=C.UTF-8 groff -t -ww -z -man -Tutf8 "$page" 2>&1)
	if [ -n "$warnings" ]; then
		echo "not ok - ${page##*/}"
		printf '%s\n' "$warnings" | sed 's/^/# /'
		failed=$((failed + 1))
	else
		echo "ok - ${page##*/}"
	fi
done
if [ "$n" -eq 0 ]; then
	echo "test-man.sh: no manual pages in $ASYNCJOB_SRCDIR/man" >&2
	exit 99
fi
echo "$((n - failed)) passed, $failed failed"
[ "$failed" -eq 0 ]
