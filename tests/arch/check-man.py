#!/usr/bin/env python3
"""The man pages cover what they document: every sourcectl verb and option
in sourcectl(1), every daemon option in sourced(8), every definition key in
sourced.source(5), every method, property and error of the D-Bus API in
org.sourced.Sourced1(5). The names are read from the code and the XML, so a
new verb, key or member fails here until its page says it. Then each built
page is rendered by man(1) with --warnings: no warning.

Usage: check-man.py SOURCE_ROOT BUILT_PAGE...   (TAP)"""

import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

import tap


def read(root, path):
    with open(os.path.join(root, path)) as fh:
        return fh.read()


def bold(page_text, word):
    # scdoc bold: *word* (possibly followed by = or punctuation inside)
    return re.search(r"\*%s(\*|=|\(\))" % re.escape(word), page_text) is not None


def main():
    root, pages = sys.argv[1], sys.argv[2:]
    checks = []

    ctl = read(root, "cli/sourcectl.c")
    verbs = re.findall(r'^  \{ "([a-z-]+)", "', ctl, re.M)
    options = re.findall(r'^  \{ "([a-z-]+)", (?:no|required)_argument', ctl, re.M)
    page = read(root, "doc/man/sourcectl.1.scd")
    missing = [v for v in verbs if not bold(page, v)] + ["--" + o for o in options if not bold(page, "--" + o)]
    checks.append(("sourcectl(1) has the %d verbs and %d options of cli/sourcectl.c" % (len(verbs), len(options)),
                   missing, verbs and options))

    main_c = read(root, "daemon/main.c")
    dopts = re.findall(r'^  \{ "([a-z-]+)", ', main_c, re.M)
    page = read(root, "doc/man/sourced.8.scd")
    checks.append(("sourced(8) has the %d options of daemon/main.c" % len(dopts),
                   ["--" + o for o in dopts if not bold(page, "--" + o)], dopts))

    settings = read(root, "daemon/settings.c")
    keys = re.findall(r'^  \{ "([A-Z]\w+)", \'\w\', ', settings, re.M)
    page = read(root, "doc/man/sourced.source.5.scd")
    checks.append(("sourced.source(5) has the %d keys of daemon/settings.c" % len(keys),
                   [k for k in keys if not bold(page, k)], keys))

    page = read(root, "doc/man/org.sourced.Sourced1.5.scd")
    members = []
    for xml in ("org.sourced.Sourced1.Manager.xml", "org.sourced.Sourced1.Source.xml"):
        tree = ET.parse(os.path.join(root, "introspection", xml)).getroot()
        for iface in tree.iter("interface"):
            members += [m.get("name") for m in iface if m.tag in ("method", "property", "signal")]
    errors = sorted(set(re.findall(r'X \(\w+, "([\w.]+)", E\w+,', read(root, "common/sourced-api.h"))))
    errors = [e for e in errors if "Error" in e]
    missing = [m for m in members if not bold(page, m)] + [e for e in errors if not bold(page, e)]
    missing += [s for s in ("PropertiesChanged", "InterfacesAdded", "InterfacesRemoved") if s not in page]
    checks.append(("org.sourced.Sourced1(5) has the %d members of the XML and %d errors" % (len(members), len(errors)),
                   missing, members))

    for built in pages:
        name = os.path.basename(built)
        if not os.path.exists(built):
            checks.append(("man renders %s without warnings" % name, ["not built (is scdoc installed?)"], True))
            continue
        r = subprocess.run(["man", "--warnings", "-l", built], capture_output=True, text=True,
                           env=dict(os.environ, MANWIDTH="80", LC_ALL="C.UTF-8", MANPAGER="cat", PAGER="cat"))
        problems = [l for l in r.stderr.splitlines() if l.strip()]
        if r.returncode != 0 and not problems:
            problems = ["man exited with %d" % r.returncode]
        checks.append(("man renders %s without warnings" % name, problems, True))

    checks = [(what, missing if read_any else ["nothing read: the pattern no longer matches the code"])
              for what, missing, read_any in checks]
    return tap.report(checks, prefix="missing: ")


if __name__ == "__main__":
    sys.exit(main())
