#!/usr/bin/env python3
"""The daemon's architecture, kept honest: every file under daemon/ belongs
to one layer, and may include headers of its own layer or of layers below,
never above. A new file must be placed in a layer here.

Usage: check-layers.py DAEMON_DIR   (TAP: one test per file)"""

import os
import re
import sys

# Lowest first. Each line: the layer, then the files (without .c/.h) in it.
LAYERS = [
    ("base: errors, time, descriptors, processes, rules, parsers, sd-bus in GLib",
     ["sourced-error", "clock", "fd-limits", "io-watch", "spawner", "sink-rules", "scheduler", "singer",
      "bus-glib", "bus-name", "bus-props", "pg-sql", "json-scan"]),
    ("the store and a source's settings", ["store", "settings", "definition"]),
    ("a source and its data path (the worker, the pump, its PostgreSQL sink)",
     ["source", "source-props", "pump", "worker", "pg-sink"]),
    ("the daemon object: the source table, the observer", ["sourced"]),
    ("what changes it: commit, load, supervisor, authorization", ["commit", "load", "supervisor", "auth"]),
    ("outcomes to bus signals", ["bus-signals"]),
    ("the bus interfaces", ["source-bus", "manager-bus", "manager-props", "bulk-bus"]),
    ("the program", ["main"]),
]
# Generated headers, and the shared contract names (common/), that any
# layer may include.
ANYWHERE = {"config", "sourced-api"}


def main():
    daemon = sys.argv[1]
    level = {}
    for i, (_, names) in enumerate(LAYERS):
        for n in names:
            level[n] = i
    files = sorted(f for f in os.listdir(daemon) if f.endswith((".c", ".h")))
    print("1..%d" % len(files))
    failed = 0
    for n, f in enumerate(files, 1):
        base = f.rsplit(".", 1)[0]
        problems = []
        if base not in level:
            problems.append("%s is in no layer: add it to LAYERS in %s" % (f, __file__))
        else:
            with open(os.path.join(daemon, f)) as fh:
                for lineno, line in enumerate(fh, 1):
                    m = re.match(r'\s*#\s*include\s+"([^"]+)\.h"', line)
                    if not m or m.group(1) in ANYWHERE:
                        continue
                    inc = m.group(1)
                    if inc not in level:
                        problems.append("%s:%d includes %s.h, which is in no layer" % (f, lineno, inc))
                    elif level[inc] > level[base]:
                        problems.append("%s:%d: '%s' (%s) includes %s.h from a higher layer (%s)" % (
                            f, lineno, base, LAYERS[level[base]][0], inc, LAYERS[level[inc]][0]))
        if problems:
            failed += 1
            print("not ok %d - %s" % (n, f))
            for p in problems:
                print("# " + p)
        else:
            print("ok %d - %s" % (n, f))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
