#!/bin/bash
# The documentation cannot silently fall behind the code:
#  - every long option the CLI's --help (and each command's --help) prints
#    is in asyncjob(1), a command's own options in that command's section;
#  - every command --help lists has a section in asyncjob(1);
#  - every long option of `asyncjobd --help` is in asyncjobd(8);
#  - every key daemon/conf.c accepts is described in asyncjobd.conf(5) and
#    shown in conf/asyncjobd.conf, and asyncjobd.conf(5) describes no other;
#  - every function of client/asyncjob.h is in libasyncjob(3)'s synopsis;
#  - every page's header names the version being built.
# Needs no groff: it reads the pages' source.
set -u
export LC_ALL=C

: "${ASYNCJOB_SRCDIR:?ASYNCJOB_SRCDIR must name the source directory}"
: "${ASYNCJOB_CLI:?ASYNCJOB_CLI must name the asyncjob binary}"
: "${ASYNCJOBD:?ASYNCJOBD must name the asyncjobd binary}"

MAN=$ASYNCJOB_SRCDIR/man
failures=0
checks=0

fail() {
	echo "not ok - $*"
	failures=$((failures + 1))
}

# The page's source with groff's \- and \% turned into plain text.
plain() {
	sed -e 's/\\-/-/g' -e 's/\\%//g' "$1"
}

# long_options TEXT: the --options named in TEXT, one per line.
long_options() {
	grep -oE -- '--[a-z][a-z0-9-]*' <<<"$1" | sort -u
}

# mentions TEXT OPTION: whether TEXT names OPTION as a whole word.
mentions() {
	grep -qE -- "(^|[^a-z0-9-])$2([^a-z0-9-]|\$)" <<<"$1"
}

# ------------------------------------------------------------------ asyncjob(1)
page=$(plain "$MAN/asyncjob.1")
main_help=$("$ASYNCJOB_CLI" --help) || { echo "asyncjob --help failed" >&2; exit 99; }
global=$(long_options "$main_help")
for opt in $global; do
	checks=$((checks + 1))
	mentions "$page" "$opt" || fail "asyncjob.1 does not mention $opt (asyncjob --help)"
done

commands=$(sed -n '/^Commands:/,/^$/p' <<<"$main_help" | awk 'NR > 1 && NF { print $1 }')
[ -n "$commands" ] || { echo "no commands found in asyncjob --help" >&2; exit 99; }
for cmd in $commands; do
	checks=$((checks + 1))
	# The command's section: from its .SS heading to the next heading.
	section=$(awk -v cmd="$cmd" '
		/^\.S[HS] / { word = $2; gsub(/"/, "", word); on = ($1 == ".SS" && word == cmd) }
		on' <<<"$page")
	if [ -z "$section" ]; then
		fail "asyncjob.1 has no section for the command '$cmd'"
		continue
	fi
	help=$("$ASYNCJOB_CLI" "$cmd" --help) || { fail "asyncjob $cmd --help failed"; continue; }
	for opt in $(long_options "$help"); do
		checks=$((checks + 1))
		if grep -qxF -- "$opt" <<<"$global"; then
			mentions "$page" "$opt" || fail "asyncjob.1 does not mention $opt ($cmd --help)"
		else
			mentions "$section" "$opt" || fail "asyncjob.1's '$cmd' section does not mention $opt ($cmd --help)"
		fi
	done
done

# ------------------------------------------------------------------ asyncjobd(8)
page=$(plain "$MAN/asyncjobd.8")
daemon_help=$("$ASYNCJOBD" --help) || { echo "asyncjobd --help failed" >&2; exit 99; }
for opt in $(long_options "$daemon_help"); do
	checks=$((checks + 1))
	mentions "$page" "$opt" || fail "asyncjobd.8 does not mention $opt (asyncjobd --help)"
done

# ------------------------------------------------------------------ asyncjobd.conf(5)
# The keys of the settings table: { "key", SET_... } and LIMIT(key, ...).
code_keys=$(sed -nE -e 's/^[[:space:]]*\{ "([a-z_]+)", SET_.*/\1/p' \
	-e 's/^[[:space:]]*LIMIT\(([a-z_]+),.*/\1/p' "$ASYNCJOB_SRCDIR/daemon/conf.c" | sort -u)
[ "$(wc -l <<<"$code_keys")" -ge 10 ] || { echo "cannot read the keys of daemon/conf.c" >&2; exit 99; }
# The keys the page describes: tagged paragraphs ".BI key " = value"".
page_keys=$(sed -nE 's/^\.BI ([a-z_]+) " = .*/\1/p' "$MAN/asyncjobd.conf.5" | sort -u)
conf_file=$ASYNCJOB_SRCDIR/conf/asyncjobd.conf
for key in $code_keys; do
	checks=$((checks + 2))
	grep -qxF "$key" <<<"$page_keys" || fail "asyncjobd.conf.5 does not describe '$key' (daemon/conf.c)"
	grep -qE "^#?$key = " "$conf_file" || fail "conf/asyncjobd.conf does not show '$key' (daemon/conf.c)"
done
for key in $page_keys; do
	checks=$((checks + 1))
	grep -qxF "$key" <<<"$code_keys" || fail "asyncjobd.conf.5 describes '$key', which daemon/conf.c does not accept"
done

# ------------------------------------------------------------------ versions
# Each page's header names the version being built.
version=$("$ASYNCJOBD" --version | awk '{ print $2 }')
for page in "$MAN"/*.[1-8]; do
	checks=$((checks + 1))
	grep -q "^\.TH .* \"asyncjobd $version\" " "$page" ||
		fail "${page##*/}: its .TH line does not say \"asyncjobd $version\" (asyncjobd --version)"
done

# ------------------------------------------------------------------ libasyncjob(3)
# Every function of the public header is in the page's synopsis.
page=$(plain "$MAN/libasyncjob.3")
functions=$(grep -ohE '\basyncjob_[a-z_]+\(' "$ASYNCJOB_SRCDIR/client/asyncjob.h" | tr -d '(' | sort -u)
[ "$(wc -l <<<"$functions")" -ge 10 ] || { echo "cannot read the functions of client/asyncjob.h" >&2; exit 99; }
for fn in $functions asyncjob_libevent_attach; do
	checks=$((checks + 1))
	grep -qE "(^|[^a-z_])$fn\(" <<<"$page" || fail "libasyncjob.3 does not declare $fn() (client/asyncjob.h)"
done

echo "$((checks - failures)) passed, $failures failed"
[ "$failures" -eq 0 ]
