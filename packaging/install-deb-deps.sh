#!/bin/sh
# Installs what packaging/build-deb.sh and packaging/test-installed.sh need
# on Debian 12: the build dependencies (install-build-deps.sh), debhelper
# and dpkg-dev to build the packages, lintian to check them.
# Idempotent and non-interactive; safe to run again.
set -eu

"$(dirname "$0")/install-build-deps.sh"

exec "$(dirname "$0")/apt-ensure.sh" install-deb-deps debhelper dpkg-dev lintian
