#!/usr/bin/env python3
"""Turns a gettext catalogue into the po.LANG.js a Cockpit page loads
(Cockpit's convention: `cockpit.locale({...})` with the header and each
message as msgid: [null, msgstr...]); a context goes before the msgid,
joined with U+0004, as cockpit.gettext looks it up. Fuzzy and untranslated
messages are left out, as msgfmt leaves them out of a .mo.

Usage: po2js.py LANG INPUT.po OUTPUT.js"""

import json
import re
import sys


def unquote(s):
    return json.loads(s)  # a C string literal of the .po reads as JSON


def parse(path):
    entries, cur, field = [], None, None
    fuzzy = False

    def flush():
        nonlocal cur, fuzzy
        if cur is not None and "msgid" in cur:
            cur["fuzzy"] = fuzzy
            entries.append(cur)
        cur, fuzzy = None, False

    with open(path, encoding="utf-8") as fh:
        for line in fh:
            line = line.rstrip("\n")
            if not line.strip():
                flush()
                continue
            if line.startswith("#,"):
                fuzzy = fuzzy or "fuzzy" in line
                continue
            if line.startswith("#"):
                continue
            m = re.match(r'^(msgctxt|msgid_plural|msgid|msgstr(?:\[(\d+)\])?)\s+(".*")$', line)
            if m:
                if cur is None:
                    cur = {}
                key = m.group(1)
                if key.startswith("msgid") and key != "msgid_plural" and "msgid" in cur:
                    flush()
                    cur = {}
                field = key
                cur[field] = unquote(m.group(3))
                continue
            if line.startswith('"') and cur is not None and field:
                cur[field] += unquote(line)
    flush()
    return entries


def main():
    lang, src, dst = sys.argv[1:4]
    header = {"language": lang, "language-direction": "ltr"}
    plural = "(n != 1)"
    out = {}
    for e in parse(src):
        if e["msgid"] == "":
            for h in e.get("msgstr", "").split("\n"):
                m = re.match(r"Plural-Forms:.*plural=([^;]+);", h)
                if m:
                    plural = m.group(1).strip()
            continue
        if e["fuzzy"]:
            continue
        strs = [e[k] for k in sorted(k for k in e if k.startswith("msgstr"))]
        if not any(strs):
            continue
        key = (e["msgctxt"] + "\u0004" if "msgctxt" in e else "") + e["msgid"]
        out[key] = [e.get("msgid_plural")] + strs
    # The plural rule is C syntax that is also JavaScript.
    if not re.fullmatch(r"[n0-9 ()!=<>%&|?:]+", plural):
        raise SystemExit("po2js: unexpected Plural-Forms expression: " + plural)
    body = json.dumps(out, ensure_ascii=False, indent=1, sort_keys=True)
    with open(dst, "w", encoding="utf-8") as fh:
        fh.write("cockpit.locale({\n \"\": {\"plural-forms\": function (n) { return %s; }, "
                 "\"language\": %s, \"language-direction\": \"ltr\"},\n" % (plural, json.dumps(lang)))
        fh.write(body[1:].lstrip("\n") if len(out) else "});\n")
        if len(out):
            fh.write(");\n")


if __name__ == "__main__":
    main()
