#!/usr/bin/env python3
"""No writable file-scope state outside main.c: every object in the daemon's
library is read with objdump (nm's letters do not tell .data.rel.ro, which
holds const tables of pointers, from .data), and any object symbol in a
writable section (.data, .bss) fails the test (unless listed below with
the reason it must be process-wide; the list is empty).

Usage: check-globals.py LIBSOURCED_CORE.a   (TAP)"""

import re
import subprocess
import sys

# (object file, symbol): why it is process-wide. Shrink this list; never
# grow it without a reason a reviewer accepts.
ALLOWED = {
    # Empty: every piece of state belongs to the daemon object (Sourced)
    # or to an object it owns. An entry here needs a reason a reviewer
    # accepts: (object file, symbol): "why it is process-wide".
}


def main():
    out = subprocess.run(["objdump", "-t", sys.argv[1]], capture_output=True, text=True, check=True).stdout
    found = []
    objects = set()
    obj = None
    for line in out.splitlines():
        m = re.match(r"^(\S+\.o):\s+file format", line)
        if m:
            obj = m.group(1).rsplit("/", 1)[-1]
            objects.add(obj)
            continue
        parts = line.split()
        # 0000000000000000 l     O .bss	0000000000000008 watches
        if len(parts) >= 6 and "O" in parts[2:4]:
            section = parts[3] if parts[2] == "O" else parts[4]
            name = parts[-1]
            if name.startswith("__"):
                continue  # the sanitizers' and the toolchain's own (__odr_asan.*, __sancov_*)
            if (section in (".data", ".bss") or section.startswith((".data.", ".bss."))) and \
                    not section.startswith(".data.rel.ro"):
                found.append((obj, name, section))
    if len(objects) < 10:
        print("1..0 # only %d objects read: is %s the daemon's library?" % (len(objects), sys.argv[1]))
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
