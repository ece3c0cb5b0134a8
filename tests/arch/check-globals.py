#!/usr/bin/env python3
"""No writable file-scope state outside main.c: every object in the daemon's
library is read with objdump (nm's letters do not tell .data.rel.ro, which
holds const tables of pointers, from .data), and any object symbol in a
writable section (.data, .bss) fails the test, unless it is one of the
process-wide singletons listed below with the reason it is one.

Usage: check-globals.py LIBSOURCED_CORE.a   (TAP)"""

import re
import subprocess
import sys

# (object file, symbol): why it is process-wide. Shrink this list; never
# grow it without a reason a reviewer accepts.
ALLOWED = {
    ("clock.c.o", "fake"): "the injectable clock (SOURCED_FAKE_CLOCK), read by sourced_now() everywhere",
    ("clock.c.o", "wall_origin"): "the injectable clock",
    ("clock.c.o", "mono_origin"): "the injectable clock",
    ("clock.c.o", "rate"): "the injectable clock",
    ("io-watch.c.o", "epoll_fd"): "one epoll descriptor for every worker pipe in the process",
    ("io-watch.c.o", "watches"): "the epoll descriptor's watches",
    ("io-watch.c.o", "last_id"): "the epoll descriptor's watch ids",
    ("sourced-error.c.o", "q.0"): "the error domain's quark (G_DEFINE_QUARK's cache)",
    ("spawner.c.o", "helper_socks"): "the spawn helper processes, one set per process",
    ("spawner.c.o", "n_helpers"): "the spawn helpers",
    ("spawner.c.o", "watches"): "the spawn helpers' exit watches",
    ("spawner.c.o", "early_exits"): "the spawn helpers' replies",
    ("spawner.c.o", "early_answers"): "the spawn helpers' replies",
    ("spawner.c.o", "early_exits_idle"): "the spawn helpers' replies",
    ("spawner.c.o", "last_id"): "the spawn helpers' request ids",
    ("spawner.c.o", "buf.1"): "the spawn helper's receive buffer (in the helper process)",
}


def main():
    out = subprocess.run(["objdump", "-t", sys.argv[1]], capture_output=True, text=True, check=True).stdout
    found = []
    obj = None
    for line in out.splitlines():
        m = re.match(r"^(\S+\.o):\s+file format", line)
        if m:
            obj = m.group(1).rsplit("/", 1)[-1]
            continue
        parts = line.split()
        # 0000000000000000 l     O .bss	0000000000000008 watches
        if len(parts) >= 6 and "O" in parts[2:4]:
            section = parts[3] if parts[2] == "O" else parts[4]
            name = parts[-1]
            if (section in (".data", ".bss") or section.startswith((".data.", ".bss."))) and \
                    not section.startswith(".data.rel.ro"):
                found.append((obj, name, section))
    if not found:
        print("1..0 # no objects read: is %s the daemon's library?" % sys.argv[1])
        return 1
    print("1..2")
    bad = [f for f in found if (f[0], f[1]) not in ALLOWED and not f[0].startswith("main.")]
    if bad:
        print("not ok 1 - no writable file-scope state outside main.c and the listed singletons")
        for obj_, name, section in bad:
            print("# %s: %s in %s" % (obj_, name, section))
    else:
        print("ok 1 - no writable file-scope state outside main.c and the listed singletons")
    stale = [k for k in ALLOWED if (k[0], k[1]) not in {(f[0], f[1]) for f in found}]
    if stale:
        print("not ok 2 - the list of singletons has no stale entries")
        for k in stale:
            print("# %s: %s is gone: remove it from ALLOWED" % k)
    else:
        print("ok 2 - the list of singletons has no stale entries")
    return 1 if bad or stale else 0


if __name__ == "__main__":
    sys.exit(main())
