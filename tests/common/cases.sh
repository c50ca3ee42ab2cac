# Test cases for the shell tests, which source this file (bash):
#
#   begin NAME          a case starts
#   fail MESSAGE...     it fails, for this reason (as often as there are reasons)
#   end                 "ok - NAME", or "not ok - NAME" and the reasons as "#" lines
#
# $ncases and $failures count the cases ended and failed. A test may set
# case_log to a file that a failing case shows too (the daemon's log), and
# define case_begin_hook to reset its own state when a case begins.
# shellcheck shell=bash
ncases=0
failures=0
case_name=
case_errs=
case_log=

begin() {
	case_name=$1
	case_errs=
	if declare -F case_begin_hook >/dev/null; then
		case_begin_hook
	fi
}

fail() {
	case_errs="$case_errs$*"$'\n'
}

end() {
	ncases=$((ncases + 1))
	if [ -z "$case_errs" ]; then
		echo "ok - $case_name"
		return
	fi
	echo "not ok - $case_name"
	printf '%s' "$case_errs" | sed 's/^/#   /'
	if [ -n "$case_log" ] && [ -s "$case_log" ]; then
		sed 's/^/#   log: /' "$case_log"
	fi
	failures=$((failures + 1))
}
