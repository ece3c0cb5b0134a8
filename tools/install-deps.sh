#!/bin/bash
# Installs what building, running and testing sourced needs on Debian 12,
# and only what is missing. Used by tools/demo.sh and tests/ci.sh.
set -euo pipefail
# Build and run: the first line. Test only: the second (valgrind for the
# memcheck run, clang with its libFuzzer runtime for the fuzz targets,
# clang-format for the format check of changed lines,
# python3-dbusmock for a mock polkit on a private bus, debootstrap and
# systemd-container for the booted Debian host of tests/host, the SSH
# client its remote scenario uses, Chromium, Cockpit and python3-websocket
# for tests/browser, gnome-shell, xvfb and dbus-x11 for tests/desktop).
DEPS="meson ninja-build gcc pkg-config libglib2.0-dev libjson-glib-dev libsystemd-dev dbus systemd python3"
if [ "${1:-}" = "--test" ]; then
  DEPS="$DEPS valgrind clang libclang-rt-14-dev clang-format python3-dbusmock debootstrap systemd-container openssh-client"
  # The Cockpit page in a real browser (tests/browser).
  DEPS="$DEPS chromium cockpit-ws cockpit-bridge cockpit-system python3-websocket"
  # The GNOME Shell extension in a headless gnome-shell (tests/desktop).
  DEPS="$DEPS gnome-shell xvfb dbus-x11"
fi
missing=""
for p in $DEPS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  echo "Installing:$missing"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
