#!/bin/bash
# The one test command (README, .ci/run): installs what is missing, builds,
# runs every suite, and ends with "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh || exit 1
if [ -d build ]; then
  meson setup --reconfigure build >/dev/null || exit 1
else
  meson setup build >/dev/null || exit 1
fi
ninja -C build || exit 1
meson test -C build --print-errorlogs "$@"
status=$?
# Count the TAP results of every test program (each assertion group is one
# test case); a program without TAP output counts as one.
python3 - build/meson-logs/testlog.json <<'PY'
import json, re, sys
passed = failed = 0
for line in open(sys.argv[1]):
    t = json.loads(line)
    out = t.get("stdout") or ""
    oks = len(re.findall(r"^ok \d+", out, re.M))
    bad = len(re.findall(r"^not ok \d+", out, re.M))
    if t.get("result") not in ("OK", "SKIP", "EXPECTEDFAIL") and bad == 0:
        bad = 1  # crashed or bailed out
    if oks == 0 and bad == 0:
        oks = 1
    passed += oks
    failed += bad
print(f"{passed} passed, {failed} failed")
PY
exit $status
