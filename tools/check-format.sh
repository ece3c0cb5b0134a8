#!/bin/bash
# The formatter's verdict on the C lines a change touches (.clang-format),
# not on the whole tree: what was written before the formatter came keeps
# its layout until someone edits it.
#   check-format.sh SOURCE_ROOT [BASE]
# BASE: the commit the change starts from; default $SOURCED_FORMAT_BASE,
# else where HEAD leaves origin's default branch, else HEAD's parent.
# Uncommitted changes count too. Prints TAP (one test) for meson.
set -uo pipefail
cd "$1" || exit 1
echo "1..1"
if ! command -v git-clang-format >/dev/null; then
  echo "not ok 1 - format: git-clang-format is missing (Debian's clang-format package)"
  exit 1
fi
if ! git rev-parse --git-dir >/dev/null 2>&1; then
  # A tarball has no history to tell changed lines by.
  echo "ok 1 - format # SKIP not a git checkout: no change to check"
  exit 0
fi
base=${2:-${SOURCED_FORMAT_BASE:-}}
if [ -z "$base" ]; then
  upstream=$(git rev-parse -q --verify refs/remotes/origin/HEAD 2>/dev/null)
  if [ -n "$upstream" ] && [ "$(git merge-base HEAD "$upstream")" != "$(git rev-parse HEAD)" ]; then
    base=$(git merge-base HEAD "$upstream")
  elif git rev-parse -q --verify HEAD~1 >/dev/null; then
    base=HEAD~1
  else
    base=$(git hash-object -t tree /dev/null) # a first commit: all of it
  fi
fi
diff=$(git clang-format --quiet --diff "$base" -- '*.c' '*.h' 2>&1)
if [ -z "$diff" ] || [ "$diff" = "no modified files to format" ] || [ "$diff" = "clang-format did not modify any files" ]; then
  echo "ok 1 - format: the C lines changed since $(git rev-parse --short "$base" 2>/dev/null || echo "$base") are as .clang-format has them"
  exit 0
fi
echo "not ok 1 - format: changed C lines differ from .clang-format (fix: git clang-format $base)"
echo "$diff" | head -80 | sed 's/^/# /'
exit 1
