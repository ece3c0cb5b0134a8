#!/usr/bin/env python3
"""The GLib test cases meson runs are read from the lines of a test program
that register them (tests/meson.build): this checks that list against the
cases the program itself lists (`-l`), so a case registered some other way
fails here instead of never running.

Usage: check-cases.py PROGRAM SOURCE   (TAP: one test)"""

import re
import subprocess
import sys


def main():
    program, source = sys.argv[1], sys.argv[2]
    scraped = []
    with open(source) as fh:
        for line in fh:
            if 'g_test_add_func ("' in line or '  ADD ("' in line:
                scraped.append(line.split('"')[1])
    out = subprocess.run([program, "-l"], capture_output=True, text=True, timeout=60)
    listed = [l.strip() for l in out.stdout.splitlines() if l.startswith("/")]
    print("1..1")
    missing = sorted(set(listed) - set(scraped))
    extra = sorted(set(scraped) - set(listed))
    if out.returncode != 0 or missing or extra or not listed:
        print("not ok 1 - %s: the cases meson runs are those the program has" % source)
        if out.returncode != 0:
            print("# %s -l exited with %d: %s" % (program, out.returncode, out.stderr.strip()[-500:]))
        for p in missing:
            print("# registered but not run by meson (register it with g_test_add_func (\"...\") on one line): " + p)
        for p in extra:
            print("# run by meson but not registered: " + p)
        return 1
    print("ok 1 - %s: the %d cases meson runs are those the program has" % (source, len(listed)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
