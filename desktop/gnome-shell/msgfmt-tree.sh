#!/bin/sh
# msgfmt-tree.sh OUTDIR DOMAIN LANG.po...: OUTDIR/LANG/LC_MESSAGES/DOMAIN.mo
# for each catalogue, the layout gettext (and the extension) looks up.
set -eu
out=$1 domain=$2
shift 2
rm -rf "$out"
for po in "$@"; do
  lang=$(basename "$po" .po)
  mkdir -p "$out/$lang/LC_MESSAGES"
  msgfmt --check-format -o "$out/$lang/LC_MESSAGES/$domain.mo" "$po"
done
