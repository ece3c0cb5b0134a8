#!/usr/bin/env python3
"""The commit rule: a source's persisted control state changes only through
a SourceEdit that commit_track_source() hands out (daemon/source.h). The
compiler holds the mutators to it; this holds the rest: outside source.c
(the mutators) and commit.c (the rollback), no file under daemon/ assigns a
field of SourceControl, and only commit.c begins an edit.

Usage: check-control.py DAEMON_DIR   (TAP: one test per file)"""

import os
import re
import sys

import tap

ALLOWED_WRITES = {"source.c", "commit.c"}
ALLOWED_BEGIN = {"source.c", "source.h", "commit.c"}
# ->control.x = …, ->control.x++, g_free (…->control.x), &…->control.x passed on
WRITE = re.compile(r"control\.\w+\s*(=[^=]|\+\+|--|\+=|-=)|g_free \([\w>-]*control\.|g_clear_pointer \(&[\w>-]*control\.")


def main():
    daemon = sys.argv[1]
    files = sorted(f for f in os.listdir(daemon) if f.endswith((".c", ".h")))
    checks = []
    for f in files:
        problems = []
        with open(os.path.join(daemon, f)) as fh:
            for lineno, line in enumerate(fh, 1):
                code = line.split("//")[0]
                if f not in ALLOWED_WRITES and WRITE.search(code):
                    problems.append("%s:%d writes the control state directly: %s" % (f, lineno, line.strip()))
                if f not in ALLOWED_BEGIN and "source_edit_begin" in code:
                    problems.append("%s:%d begins an edit the commit does not track" % (f, lineno))
        checks.append(("%s changes control state only through a tracked edit" % f, problems))
    return tap.report(checks)


if __name__ == "__main__":
    sys.exit(main())
