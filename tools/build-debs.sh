#!/bin/bash
# Builds the Debian packages from this tree (its tracked and new files, not
# its build folders) the way a distribution would, in a copy of its own,
# and puts the .deb files and lintian's report into OUTDIR.
#   build-debs.sh OUTDIR [VERSION]
# VERSION: build as this version (a changelog entry is added to the copy);
# the host suite builds a second, higher one to test an upgrade.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
out=$(mkdir -p "$1" && cd "$1" && pwd)
version=${2:-}
work=$(mktemp -d /tmp/sourced-debs-XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir "$work/sourced"
cd "$src"
if git rev-parse --git-dir >/dev/null 2>&1; then
  git ls-files -co --exclude-standard -z | tar --null -T - -cf - | tar -xf - -C "$work/sourced"
else
  tar --exclude='./build*' --exclude='./obj-*' -cf - . | tar -xf - -C "$work/sourced"
fi
cd "$work/sourced"
if [ -n "$version" ]; then
  { printf 'sourced (%s) unstable; urgency=medium\n\n  * Rebuilt for the upgrade test.\n\n' "$version"
    printf ' -- sourced developers <sourced@sourced.org>  %s\n\n' "$(date -R)"
    cat debian/changelog; } > debian/changelog.new
  mv debian/changelog.new debian/changelog
fi
# The unit suite ran already in the build this comes from.
DEB_BUILD_OPTIONS=nocheck dpkg-buildpackage -us -uc -b >"$out/dpkg-buildpackage.log" 2>&1 || {
  tail -30 "$out/dpkg-buildpackage.log" >&2
  exit 1
}
cd "$work"
lintian --pedantic -I -E ./*.changes >"$out/lintian.txt" 2>&1 || true
mv ./*.deb "$out/"
ls "$out"/*.deb
