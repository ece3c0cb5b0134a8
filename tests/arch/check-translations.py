#!/usr/bin/env python3
"""The catalogues in po/ are whole and well-formed: msgfmt --check accepts
each; every message xgettext finds in the files of po/POTFILES (sourcectl,
the Cockpit page's scripts, the GNOME Shell extension) has a translation in
each; so has every label of cockpit/index.html marked translate="yes",
which xgettext does not read.

Usage: check-translations.py SOURCE_ROOT   (TAP)"""

import os
import re
import subprocess
import sys
import tempfile
import importlib.util

import tap


def load_po2js(root):
    spec = importlib.util.spec_from_file_location("po2js", os.path.join(root, "tools", "po2js.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main():
    root = sys.argv[1]
    po2js = load_po2js(root)
    with open(os.path.join(root, "po", "LINGUAS")) as fh:
        langs = fh.read().split()
    with open(os.path.join(root, "po", "POTFILES")) as fh:
        sources = [l.strip() for l in fh if l.strip() and not l.startswith("#")]
    with tempfile.TemporaryDirectory() as tmp:
        pot = os.path.join(tmp, "sourced.pot")
        r = subprocess.run(["xgettext", "--from-code=UTF-8", "--keyword=_", "--keyword=N_", "--keyword=ngettext:1,2",
                            "--add-comments", "-o", pot] + sources, cwd=root, capture_output=True, text=True)
        if r.returncode != 0:
            print("1..1\nnot ok 1 - xgettext reads po/POTFILES\n# " + r.stderr.strip().replace("\n", "\n# "))
            return 1
        wanted = [e["msgid"] for e in po2js.parse(pot) if e["msgid"]]
    with open(os.path.join(root, "cockpit", "index.html"), encoding="utf-8") as fh:
        html = re.findall(r'<[^>]*\btranslate="yes"[^>]*>([^<]+)<', fh.read())

    checks = []
    for lang in langs:
        po = os.path.join(root, "po", lang + ".po")
        r = subprocess.run(["msgfmt", "--check", "-o", os.devnull, po], capture_output=True, text=True)
        checks.append(("msgfmt --check accepts po/%s.po" % lang, r.stderr.strip().splitlines() if r.returncode else []))
        have = {e["msgid"]: e for e in po2js.parse(po)}
        missing = []
        for m in wanted + html:
            e = have.get(m)
            if not e or e["fuzzy"] or not all(e[k] for k in e if k.startswith("msgstr")):
                missing.append(m)
        checks.append(("po/%s.po translates the %d messages of the sources and the %d labels of index.html"
                       % (lang, len(wanted), len(html)), ["untranslated: %r" % m for m in missing]))
    if not wanted or not html:
        checks.append(("messages were found", ["xgettext found %d, index.html has %d" % (len(wanted), len(html))]))
    return tap.report(checks)


if __name__ == "__main__":
    sys.exit(main())
