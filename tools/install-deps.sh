#!/bin/bash
# Installs what building, running and testing sourced needs on Debian 12,
# and only what is missing. Used by tools/demo.sh and tests/ci.sh.
set -euo pipefail
# Build and run: the first line (gettext: msgfmt for the catalogues). Test
# only: the rest (valgrind for the
# memcheck run, clang with its libFuzzer runtime for the fuzz targets,
# clang-format for the format check of changed lines, scdoc and man-db for
# the man pages and their check,
# python3-dbusmock for a mock polkit on a private bus, debootstrap and
# systemd-container for the booted Debian host of tests/host, the SSH
# client its remote scenario uses, Chromium, Cockpit and python3-websocket
# for tests/browser, gnome-shell, xvfb and dbus-x11 for tests/desktop).
DEPS="meson ninja-build gcc pkg-config libglib2.0-dev libjson-glib-dev libsystemd-dev libpq-dev dbus systemd python3 gettext"
if [ "${1:-}" = "--test" ]; then
  DEPS="$DEPS valgrind clang libclang-rt-14-dev clang-format scdoc man-db locales python3-dbusmock debootstrap systemd-container openssh-client"
  # The Cockpit page in a real browser (tests/browser).
  DEPS="$DEPS chromium cockpit-ws cockpit-bridge cockpit-system python3-websocket"
  # The GNOME Shell extension in a headless gnome-shell (tests/desktop).
  DEPS="$DEPS gnome-shell xvfb dbus-x11"
  # The Debian packages (tests/host builds and installs them).
  DEPS="$DEPS debhelper lintian bash-completion gettext"
  # PostgreSQL: the postgresql suite makes clusters of its own (initdb).
  DEPS="$DEPS postgresql"
fi
missing=""
for p in $DEPS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
if [ -n "$missing" ]; then
  echo "Installing:$missing"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
# A German locale: the translation tests run sourcectl, the Cockpit page
# and the GNOME Shell extension in it (de_DE.UTF-8).
if [ "${1:-}" = "--test" ] && ! locale -a 2>/dev/null | grep -qi '^de_DE\.utf-\?8$'; then
  $SUDO localedef -i de_DE -f UTF-8 de_DE.UTF-8
fi
