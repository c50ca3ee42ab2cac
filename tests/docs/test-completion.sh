#!/bin/bash
# The bash completion for asyncjob: it registers itself, offers every command
# and every long option the CLI's --help lists, file names where a path goes,
# and the ids of your jobs from a real asyncjobd on a temporary socket.
# Each case runs twice: in a bare bash, and with the bash-completion package's
# helpers loaded when they are installed.
set -u
export LC_ALL=C

: "${ASYNCJOB_SRCDIR:?ASYNCJOB_SRCDIR must name the source directory}"
: "${ASYNCJOB_CLI:?ASYNCJOB_CLI must name the asyncjob binary}"
: "${ASYNCJOBD:?ASYNCJOBD must name the asyncjobd binary}"

exec </dev/null
SCRIPT=$ASYNCJOB_SRCDIR/completion/asyncjob
TMP=$(mktemp -d "${TMPDIR:-/tmp}/asyncjob-completion.XXXXXX") || exit 99
SOCK=$TMP/asyncjobd.sock
DAEMON_PID=
failures=0
checks=0

cleanup() {
	if [ -n "$DAEMON_PID" ]; then
		kill -TERM "$DAEMON_PID" 2>/dev/null
		wait "$DAEMON_PID" 2>/dev/null
	fi
	rm -rf "$TMP"
}
trap cleanup EXIT

fail() {
	echo "not ok - $*"
	failures=$((failures + 1))
}

# complete_words PRELUDE WORD...: what completing the last WORD offers, one
# per line, in a fresh bash that ran PRELUDE and sourced the script.
complete_words() {
	local prelude=$1
	shift
	bash --norc --noprofile -c '
		eval "$1"
		source "$2" || exit 1
		shift 2
		COMP_WORDS=("$@")
		COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
		COMP_LINE="$*"
		COMP_POINT=${#COMP_LINE}
		COMPREPLY=()
		_asyncjob asyncjob "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
		printf "%s\n" "${COMPREPLY[@]}"
	' complete-test "$prelude" "$SCRIPT" "$@"
}

# offers WHAT EXPECTED... -- WORD...: each EXPECTED word is among the offers.
offers() {
	local what=$1 offered
	shift
	local -a expected=()
	while [ "$1" != -- ]; do
		expected+=("$1")
		shift
	done
	shift
	offered=$(complete_words "$prelude" "$@")
	for w in "${expected[@]}"; do
		checks=$((checks + 1))
		grep -qxF -- "$w" <<<"$offered" ||
			fail "$variant: completing '$*' does not offer '$w' ($what); it offers: $(tr '\n' ' ' <<<"$offered")"
	done
}

# Start a daemon with one running job for the id completion.
"$ASYNCJOBD" --socket "$SOCK" --write-root "$TMP" --state-dir "$TMP/state" --log-level warning 2>"$TMP/daemon.log" &
DAEMON_PID=$!
for _ in $(seq 100); do
	[ -S "$SOCK" ] && break
	sleep 0.1
done
[ -S "$SOCK" ] || { echo "asyncjobd did not start:"; cat "$TMP/daemon.log"; exit 99; }
job_id=$("$ASYNCJOB_CLI" --socket "$SOCK" --detach sleep 600 completion-test) || exit 99
mkdir -p "$TMP/cli" && ln -s "$ASYNCJOB_CLI" "$TMP/cli/asyncjob"
touch "$TMP/file-to-write"

main_help=$("$ASYNCJOB_CLI" --help)
# The long options a --help's option lines name ("  -f, --fail-fast  ..."),
# not those its prose mentions.
option_names() {
	sed -nE 's/^ +(-[A-Za-z], )?(--[a-z][a-z0-9-]*).*/\2/p' | sort -u
}
commands=$(sed -n '/^Commands:/,/^$/p' <<<"$main_help" | awk 'NR > 1 && NF { print $1 }')

variants="bare"
bash_completion=/usr/share/bash-completion/bash_completion
[ -r "$bash_completion" ] && variants="$variants bash-completion"

for variant in $variants; do
	prelude=""
	[ "$variant" = bash-completion ] && prelude="source $bash_completion"

	checks=$((checks + 1))
	registered=$(bash --norc --noprofile -c 'eval "$1"; source "$2" && complete -p asyncjob' \
		complete-test "$prelude" "$SCRIPT")
	[ "$registered" = "complete -F _asyncjob asyncjob" ] ||
		fail "$variant: complete -p asyncjob says '$registered'"

	# shellcheck disable=SC2086  # one word per command
	offers "commands" $commands help -- asyncjob ""
	# shellcheck disable=SC2046  # one word per option
	offers "global options" $(sed -n '/^Options/,/^$/p' <<<"$main_help" | grep -oE -- '--[a-z][a-z0-9-]*' | sort -u) \
		-- asyncjob --
	for cmd in $commands; do
		# shellcheck disable=SC2046
		offers "$cmd --help" $("$ASYNCJOB_CLI" "$cmd" --help | option_names) \
			-- asyncjob "$cmd" -
	done
	offers "files for write" "$TMP/file-to-write" -- asyncjob write "$TMP/file-to"
	offers "files for fetch -o" "$TMP/file-to-write" -- asyncjob fetch -o "$TMP/file-to"
	offers "methods" GET POST DELETE -- asyncjob fetch -X ""
	offers "states" queued running succeeded failed canceled -- asyncjob list --state ""
	offers "job ids from list --json" "$job_id" -- "$TMP/cli/asyncjob" --socket "$SOCK" cancel ""
	offers "job ids from list --json" "$job_id" -- "$TMP/cli/asyncjob" -s "$SOCK" get ""
	PATH=$TMP/cli:$PATH offers "job ids, asyncjob from PATH" "$job_id" -- asyncjob -s "$SOCK" wait ""
done

"$ASYNCJOB_CLI" --socket "$SOCK" cancel "$job_id" >/dev/null || fail "cannot cancel job $job_id"
echo "$((checks - failures)) passed, $failures failed"
[ "$failures" -eq 0 ]
