#!/bin/sh
# Installs what building and testing asyncjobd needs on Debian 12.
# Idempotent and non-interactive; safe to run again.
set -eu

# Keep in step with Build-Depends in packaging/debian/control (build-deb.sh
# checks): systemd for systemd.pc (where units go), bash-completion for its
# .pc (where the completion goes), groff-base for the manual page test,
# socat for the documentation's examples (test-doc-examples.sh), fish for
# its completion's test (test-completion-fish.sh), python3-prometheus-client
# for the metrics' parser (test-metrics.py).
packages="
  build-essential autoconf automake libtool pkg-config
  libevent-dev libcurl4-openssl-dev libjson-c-dev libsqlite3-dev libsystemd-dev uthash-dev
  systemd bash-completion
  libcmocka-dev libssl-dev openssl groff-base socat fish python3-prometheus-client
"
# --enable-fuzzing also wants clang (libFuzzer ships in libclang-rt-dev).
if [ "${ASYNCJOB_FUZZING:-0}" = 1 ]; then
	packages="$packages clang libclang-rt-dev"
fi

# shellcheck disable=SC2086
exec "$(dirname "$0")/apt-ensure.sh" install-build-deps $packages
