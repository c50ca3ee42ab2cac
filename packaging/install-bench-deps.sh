#!/bin/sh
# Installs what `make bench` needs on Debian 12 besides the build
# dependencies: the peers it measures asyncjobd against (Python's asyncio
# with aiohttp and aiofiles, curl) and nginx, the HTTP server both sides
# fetch from. Idempotent and non-interactive; safe to run again.
set -eu

"$(dirname "$0")/install-build-deps.sh"

packages="nginx curl python3 python3-aiohttp python3-aiofiles"

missing=""
for p in $packages; do
	status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$status" = installed ] || missing="$missing $p"
done

if [ -z "$missing" ]; then
	echo "install-bench-deps: everything is installed"
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "install-bench-deps: missing:$missing; run this script as root" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing
# Debian starts the nginx service on install; the bench runs its own.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
	systemctl disable --now nginx >/dev/null 2>&1 || true
fi
