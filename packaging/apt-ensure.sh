#!/bin/sh
# apt-ensure.sh NAME PACKAGE...: installs those of the Debian packages that
# are not installed yet, non-interactively; NAME begins its messages. The
# install-*-deps.sh scripts share it. Does nothing (and needs no root)
# when everything is there already.
set -eu

name=$1
shift

missing=""
for p in "$@"; do
	status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$status" = installed ] || missing="$missing $p"
done

if [ -z "$missing" ]; then
	echo "$name: everything is installed"
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "$name: missing:$missing; run this script as root" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing
