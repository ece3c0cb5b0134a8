#!/bin/sh
# Run by `meson install` after the files are in place: on a running
# systemd host, make the system user before the bus uses the policy that
# names it, and make the bus and systemd read what was installed.
#
# Why: the bus reads /usr/share/dbus-1/system.d as soon as the policy file
# lands (dbus-daemon watches the folder), before any user "sourced"
# exists; it drops the rule for that unknown user, and sourced then fails
# "Cannot own the name …: Permission denied" until the bus is reloaded.
# Packages do the same in their maintainer scripts (dh_installsysusers,
# the dbus trigger); a staged install (DESTDIR) or a host not booted with
# systemd is left alone: whoever deploys it does this there.
#
# Usage: meson-post-install.sh SYSUSERS_FILE
set -eu
sysusers=$1
if [ -n "${DESTDIR:-}" ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ] || [ ! -d /run/systemd/system ]; then
  echo "sourced: not a running systemd host as root: run 'systemd-sysusers $sysusers'," \
       "then reload the system bus and systemd, before starting sourced.service" >&2
  exit 0
fi
echo "sourced: creating the system user (systemd-sysusers $sysusers)"
systemd-sysusers "$sysusers"
echo "sourced: reloading the system bus's configuration and systemd's units"
busctl call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus ReloadConfig
systemctl daemon-reload
