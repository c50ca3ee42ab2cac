#!/bin/sh
# Installs what `make bench` needs on Debian 12 besides the build
# dependencies: the peers it measures asyncjobd against (Python's asyncio
# with aiohttp and aiofiles, curl) and nginx, the HTTP server both sides
# fetch from. Idempotent and non-interactive; safe to run again.
set -eu

"$(dirname "$0")/install-build-deps.sh"

"$(dirname "$0")/apt-ensure.sh" install-bench-deps nginx curl python3 python3-aiohttp python3-aiofiles
# Debian starts the nginx service on install; the bench runs its own.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
	systemctl disable --now nginx >/dev/null 2>&1 || true
fi
