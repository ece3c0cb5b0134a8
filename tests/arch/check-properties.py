#!/usr/bin/env python3
"""Each interface's property table (daemon/source-props.h,
daemon/manager-props.h) is the one list the daemon's getters, vtable,
change bits and size bound come from: this checks it against the
introspection XML, property by property, in order: name, type, access and
EmitsChangedSignal. It also checks that every property sourcectl reads into
its SourceInfo (cli/source-info.c) exists, with the same type.

Usage: check-properties.py SOURCE_ROOT   (TAP)"""

import os
import re
import sys
import xml.etree.ElementTree as ET

import tap

TABLES = [
    ("daemon/source-props.h", "SOURCE_PROPERTIES", "introspection/org.sourced.Sourced1.Source.xml",
     "org.sourced.Sourced1.Source"),
    ("daemon/manager-props.h", "MANAGER_PROPERTIES", "introspection/org.sourced.Sourced1.Manager.xml",
     "org.sourced.Sourced1.Manager"),
]
# kind -> (access, EmitsChangedSignal)
KINDS = {"CONST": ("read", "const"), "SIGNAL": ("read", "true"), "SILENT": ("read", "false"),
         "WRITABLE": ("readwrite", "true")}
ROW = re.compile(r'^\s*X \((\w+), "(\w+)", "([^"]+)", (\w+),')


def table_rows(path):
    rows = []
    with open(path) as fh:
        for line in fh:
            m = ROW.match(line)
            if m:
                rows.append(m.groups())
    return rows


def xml_props(path, iface):
    root = ET.parse(path).getroot()
    for i in root.iter("interface"):
        if i.get("name") == iface:
            out = []
            for p in i.findall("property"):
                emits = "true"
                for a in p.findall("annotation"):
                    if a.get("name") == "org.freedesktop.DBus.Property.EmitsChangedSignal":
                        emits = a.get("value")
                out.append((p.get("name"), p.get("type"), p.get("access"), emits))
            return out
    raise SystemExit("no interface %s in %s" % (iface, path))


def main():
    root = sys.argv[1]
    results = []
    for header, _, xml, iface in TABLES:
        rows = table_rows(os.path.join(root, header))
        props = xml_props(os.path.join(root, xml), iface)
        problems = []
        if not rows:
            problems.append("no rows read from " + header)
        for n in range(max(len(rows), len(props))):
            row = rows[n] if n < len(rows) else None
            prop = props[n] if n < len(props) else None
            if row is None:
                problems.append("%s: %s is in the XML but not in the table" % (iface, prop[0]))
                continue
            if prop is None:
                problems.append("%s: %s is in the table but not in the XML" % (iface, row[1]))
                continue
            bit, name, sig, kind = row
            if kind not in KINDS:
                problems.append("%s: unknown kind %s" % (name, kind))
                continue
            want = (name, sig) + KINDS[kind]
            if want != prop:
                problems.append("%s: property %d is %s in the table and %s in the XML" % (iface, n + 1, want, prop))
        results.append(("%s agrees with %s (%d properties)" % (header, xml, len(rows)), problems))

    # The CLI's fields: F ("Name", 't', member)
    source_props = {p[0]: p[1] for p in xml_props(os.path.join(root, TABLES[0][2]), TABLES[0][3])}
    problems = []
    with open(os.path.join(root, "cli/source-info.c")) as fh:
        fields = re.findall(r'F \("(\w+)", \'(\w)\'', fh.read())
    if not fields:
        problems.append("no fields read from cli/source-info.c")
    for name, sig in fields:
        if source_props.get(name) != sig:
            problems.append("cli/source-info.c reads %s as '%s'; the XML has %s" % (name, sig, source_props.get(name)))
    results.append(("every property sourcectl reads exists, with its type (%d)" % len(fields), problems))

    return tap.report(results)


if __name__ == "__main__":
    sys.exit(main())
