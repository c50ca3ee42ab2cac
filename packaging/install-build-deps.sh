#!/bin/sh
# Installs what building and testing asyncjobd needs on Debian 12.
# Idempotent and non-interactive; safe to run again.
set -eu

packages="
  build-essential autoconf automake libtool pkg-config
  libevent-dev libcurl4-openssl-dev libjson-c-dev libsystemd-dev uthash-dev
  libcmocka-dev libssl-dev openssl
"
# --enable-fuzzing also wants clang (libFuzzer ships in libclang-rt-dev).
if [ "${ASYNCJOB_FUZZING:-0}" = 1 ]; then
	packages="$packages clang libclang-rt-dev"
fi

missing=""
for p in $packages; do
	status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$status" = installed ] || missing="$missing $p"
done

if [ -z "$missing" ]; then
	echo "install-build-deps: everything is installed"
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "install-build-deps: missing:$missing; run this script as root" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing
