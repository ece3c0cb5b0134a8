#!/usr/bin/env python3
"""One error table (SOURCED_ERRORS and SOURCED_BUS_ERRORS in
common/sourced-api.h) serves the daemon and sourcectl; the two JavaScript
clients cannot include it, so this checks that the Cockpit page and the
GNOME Shell extension have words for every name in it.

Usage: check-errors.py SOURCE_ROOT   (TAP)"""

import os
import re
import sys

import tap

CLIENTS = ["cockpit/format.js", "desktop/gnome-shell/errors.js"]


def main():
    root = sys.argv[1]
    with open(os.path.join(root, "common/sourced-api.h")) as fh:
        text = fh.read()
    names = sorted(set(re.findall(r'X \(\w+, "([\w.]+)"', text)))
    checks = []
    for client in CLIENTS:
        with open(os.path.join(root, client)) as fh:
            js = fh.read()
        missing = [n for n in names if ('"%s"' % n) not in js and ("'%s'" % n) not in js]
        checks.append(("%s has words for the %d error names" % (client, len(names)), missing))
    if not names:
        checks = [(what, ["no error names read from common/sourced-api.h"]) for what, _ in checks]
    return tap.report(checks, prefix="missing: ")


if __name__ == "__main__":
    sys.exit(main())
