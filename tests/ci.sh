#!/bin/bash
# The one test command (README, .ci/run): installs what is missing, then
#   1. builds and runs every suite (unit, integration, bulk, data, cli,
#      auth, stress, sourced under valgrind's memcheck; host: the installed
#      build on a booted Debian 12 under systemd-nspawn, tests/host;
#      browser: the Cockpit page in headless Chromium, tests/browser;
#      desktop: the GNOME Shell extension in a headless gnome-shell,
#      tests/desktop),
#   1b. runs the auth suite again from a copy in a private (0700) folder,
#   2. builds again with AddressSanitizer + UndefinedBehaviorSanitizer and
#      runs the same suites (valgrind, host, browser and desktop aside) — a
#      sanitizer report in sourced's log fails the test that caused it,
#   3. builds the libFuzzer targets with clang and runs each for
#      SOURCED_FUZZ_SECONDS (default 20) seconds,
# and ends with "N passed, N failed" over all of it.
set -uo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh --test || exit 1

setup() { # dir, meson options...
  local dir=$1; shift
  if [ -d "$dir" ]; then
    meson setup --reconfigure "$dir" "$@" >/dev/null || meson setup --wipe "$dir" "$@" >/dev/null
  else
    meson setup "$dir" "$@" >/dev/null
  fi && ninja -C "$dir"
}

status=0
build_failures=0
logs=()

echo "=== build: plain (prefix /usr, as a package: the host suite installs it)"
if setup build --prefix=/usr; then
  meson test -C build --print-errorlogs || status=1
  logs+=(build/meson-logs/testlog.json)
else
  status=1; build_failures=$((build_failures + 1)); echo "BUILD FAILED: build"
fi

# The suites that run parts as another user (auth: sourcectl as nobody)
# once more from a copy of the tree in a private folder (mode 0700, as a
# home folder is), wherever this checkout lies: a test that reaches into
# the build tree as nobody fails here even when CI's checkout is
# world-readable. (The browser and desktop suites stage their files the
# same way; see tests/browser and tests/desktop.)
echo "=== private checkout: the auth suite from a 0700 folder"
private=$(mktemp -d /tmp/sourced-private-XXXXXX)
chmod 0700 "$private"
if git rev-parse --git-dir >/dev/null 2>&1; then
  git ls-files -co --exclude-standard -z | tar --null -T - -cf - | tar -xf - -C "$private"
else
  tar --exclude='./build*' -cf - . | tar -xf - -C "$private"
fi
if (cd "$private" && meson setup build >/dev/null && ninja -C build daemon/sourced cli/sourcectl tests/test-auth >/dev/null); then
  meson test -C "$private/build" --no-rebuild --print-errorlogs --suite auth || status=1
  mkdir -p build/meson-logs
  cp "$private/build/meson-logs/testlog.json" build/meson-logs/testlog-private.json
  logs+=(build/meson-logs/testlog-private.json)
else
  status=1; build_failures=$((build_failures + 1)); echo "BUILD FAILED: private checkout"
fi
rm -rf "$private"

echo "=== build: AddressSanitizer + UndefinedBehaviorSanitizer"
if setup build-asan -Db_sanitize=address,undefined -Db_lundef=false; then
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    meson test -C build-asan --print-errorlogs --no-suite valgrind --no-suite host --no-suite browser --no-suite desktop --no-suite lint || status=1
  logs+=(build-asan/meson-logs/testlog.json)
else
  status=1; build_failures=$((build_failures + 1)); echo "BUILD FAILED: build-asan"
fi

echo "=== build: libFuzzer targets (clang)"
if CC=clang setup build-fuzz -Dfuzzing=true -Db_sanitize=address,undefined -Db_lundef=false; then
  meson test -C build-fuzz --print-errorlogs --suite fuzz || status=1
  logs+=(build-fuzz/meson-logs/testlog.json)
else
  status=1; build_failures=$((build_failures + 1)); echo "BUILD FAILED: build-fuzz"
fi

# Count the TAP results of every test program (each GLib test case is one);
# a program without TAP output (a fuzzer) counts as one. A build that failed
# counts as one failure.
python3 - "$build_failures" "${logs[@]}" <<'PY'
import json, re, sys
passed = failed = 0
for path in sys.argv[2:]:
    for line in open(path):
        t = json.loads(line)
        out = t.get("stdout") or ""
        oks = len(re.findall(r"^ok \d+", out, re.M))
        bad = len(re.findall(r"^not ok \d+", out, re.M))
        if t.get("result") not in ("OK", "SKIP", "EXPECTEDFAIL") and bad == 0:
            bad = 1  # crashed, bailed out, or a fuzzer found something
        if oks == 0 and bad == 0:
            oks = 1
        passed += oks
        failed += bad
# A build that failed left no log: one failure each.
failed += int(sys.argv[1])
print(f"{passed} passed, {failed} failed")
PY
exit $status
