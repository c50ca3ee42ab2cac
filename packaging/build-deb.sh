#!/bin/bash
# Builds the Debian packages of asyncjobd from this source tree and checks
# them with lintian:
#
#   packaging/build-deb.sh [OUTDIR]
#
# OUTDIR (default: _deb at the top of the tree) receives asyncjobd,
# asyncjob, libasyncjob0 and libasyncjob-dev .deb files, the .changes and
# .buildinfo files, and lintian.txt. The tree itself is left alone: the
# files git knows (committed or not; ignored build products are left out)
# are copied to a temporary directory, packaging/debian becomes its debian/,
# and `dpkg-buildpackage -us -uc -b` builds there (binary packages only,
# unsigned). Outside a git checkout (an unpacked release tarball) the whole
# tree is copied.
#
# DEB_BUILD_OPTIONS passes through: nocheck skips the test suite (CI runs it
# before), parallel=N builds with N jobs. ASYNCJOB_LINTIAN=no skips lintian.
# Lintian errors fail the build; its warnings are listed in lintian.txt.
# packaging/install-deb-deps.sh installs everything this needs.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$top/_deb}
mkdir -p "$out"
out=$(cd "$out" && pwd)

say() { printf 'build-deb: %s\n' "$*"; }
die() { printf 'build-deb: %s\n' "$*" >&2; exit 1; }

# ------------------------------------------------------------------ checks
# The package version is the release's: debian/changelog names the same
# version as configure.ac's AC_INIT (a native package has no revision).
version=$(sed -n 's/^AC_INIT(\[asyncjobd\], \[\([^]]*\)\].*/\1/p' "$top/configure.ac")
deb_version=$(sed -n '1s/^asyncjobd (\([^)]*\)).*/\1/p' "$top/packaging/debian/changelog")
[ -n "$version" ] || die "cannot read the version from configure.ac"
[ "$version" = "$deb_version" ] ||
	die "configure.ac says $version but packaging/debian/changelog says $deb_version; add a changelog entry (dch -v $version)"

# Build-Depends and packaging/install-build-deps.sh name the same packages
# (debhelper's own and build-essential aside), so what CI installs is what
# the package build needs.
script_deps=$(sed -n '/^packages="/,/^"/p' "$top/packaging/install-build-deps.sh" |
	tr -s ' \t"' '\n' | grep -E '^[a-z0-9][a-z0-9.+-]+$' | grep -vx -e packages -e build-essential | sort -u)
control_deps=$(sed -n '/^Build-Depends:/,/^[A-Z]/p' "$top/packaging/debian/control" |
	sed -n 's/^ \([a-z0-9][a-z0-9.+-]*\).*/\1/p' | grep -v -e '^debhelper-compat$' -e '^dh-sequence-' | sort -u)
if [ "$script_deps" != "$control_deps" ]; then
	diff <(echo "$script_deps") <(echo "$control_deps") | sed -n 's/^</  only in install-build-deps.sh:/p; s/^>/  only in debian\/control:/p' >&2
	die "packaging/install-build-deps.sh and the Build-Depends of packaging/debian/control differ"
fi

for tool in dpkg-buildpackage dh; do
	command -v "$tool" >/dev/null || die "$tool is missing; run packaging/install-deb-deps.sh"
done

# ------------------------------------------------------------------ source
work=$(mktemp -d "${TMPDIR:-/tmp}/asyncjobd-deb.XXXXXX")
trap 'rm -rf "$work"' EXIT
src=$work/asyncjobd-$version
mkdir "$src"

if git -C "$top" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	say "copying the files git knows from $top"
	(cd "$top" && git ls-files -z --cached --others --exclude-standard |
		while IFS= read -r -d '' f; do
			# Skip files deleted in the work tree but not yet in git.
			if [ -e "$f" ] || [ -L "$f" ]; then printf '%s\0' "$f"; fi
		done | tar --null --no-recursion -T - -cf -) | tar -xf - -C "$src"
else
	say "not a git checkout: copying all of $top"
	tar -C "$top" --exclude=./_deb --exclude=./_ci --exclude="./${out#"$top"/}" -cf - . | tar -xf - -C "$src"
fi
[ ! -e "$src/debian" ] || die "the tree has a debian/ directory of its own; remove it"
cp -a "$src/packaging/debian" "$src/debian"

# ------------------------------------------------------------------ build
say "dpkg-buildpackage -us -uc -b (DEB_BUILD_OPTIONS=${DEB_BUILD_OPTIONS:-})"
start=$(date +%s)
(cd "$src" && dpkg-buildpackage -us -uc -b)
say "built in $(($(date +%s) - start)) s"

arch=$(dpkg-architecture -qDEB_HOST_ARCH)
changes=asyncjobd_${version}_${arch}.changes
[ -f "$work/$changes" ] || die "dpkg-buildpackage left no $changes"
# Replace what an earlier build of this version left.
rm -f "$out"/asyncjobd_"$version"_* "$out"/asyncjob_"$version"_* \
	"$out"/libasyncjob0_"$version"_* "$out"/libasyncjob-dev_"$version"_* \
	"$out"/*-dbgsym_"$version"_*
for f in "$work"/*.deb "$work"/*.ddeb "$work"/*.changes "$work"/*.buildinfo; do
	[ -e "$f" ] && mv "$f" "$out/"
done

# ------------------------------------------------------------------ lintian
if [ "${ASYNCJOB_LINTIAN:-yes}" = no ]; then
	say "lintian skipped (ASYNCJOB_LINTIAN=no)"
elif ! command -v lintian >/dev/null; then
	say "lintian is not installed; packages not checked (packaging/install-deb-deps.sh installs it)"
else
	say "lintian $changes"
	status=0
	# --fail-on error: warnings are reported, errors fail.
	lintian --info --fail-on error "$out/$changes" >"$out/lintian.txt" 2>&1 || status=$?
	cat "$out/lintian.txt"
	[ "$status" -eq 0 ] || die "lintian found errors (exit $status); see $out/lintian.txt"
	say "lintian: $(grep -c '^E: ' "$out/lintian.txt") errors, $(grep -c '^W: ' "$out/lintian.txt") warnings"
fi

say "packages in $out:"
ls -l "$out"/*.deb
