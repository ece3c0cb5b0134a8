#!/bin/bash
# Prints the path of a Debian 12 root for the host tests, building it with
# debootstrap the first time (about a minute) and caching it under
# $SOURCED_HOST_CACHE (default /var/cache/sourced-host) by the hash of
# packages.txt and this script, so that a changed list builds a new one.
set -euo pipefail
here=$(dirname "$(readlink -f "$0")")
cache=${SOURCED_HOST_CACHE:-/var/cache/sourced-host}
mirror=${SOURCED_HOST_MIRROR:-http://deb.debian.org/debian}
key=$(cat "$here/packages.txt" "$here/mkroot.sh" | sha256sum | cut -c1-16)
root=$cache/root-$key

if [ -f "$root/.sourced-host-complete" ]; then
  echo "$root"
  exit 0
fi
command -v debootstrap >/dev/null || { echo "mkroot: debootstrap is not installed" >&2; exit 1; }
mkdir -p "$cache"
rm -rf "$root.tmp"
pkgs=$(grep -v '^#' "$here/packages.txt" | xargs | tr ' ' ',')
echo "mkroot: building a Debian 12 root in $root (once)" >&2
debootstrap --variant=minbase --include="$pkgs" bookworm "$root.tmp" "$mirror" >"$cache/debootstrap.log" 2>&1 || {
  echo "mkroot: debootstrap failed; the end of $cache/debootstrap.log:" >&2
  tail -20 "$cache/debootstrap.log" >&2
  exit 1
}
# What every boot of it needs: a name, no login prompts on the console, and
# an SSH server on 127.0.0.1:2222 (the host's network is shared) that takes
# root's key only.
echo sourced-host >"$root.tmp/etc/hostname"
rm -f "$root.tmp/etc/machine-id"
: >"$root.tmp/etc/machine-id"
cat >"$root.tmp/etc/ssh/sshd_config.d/sourced-test.conf" <<'CONF'
Port 2222
ListenAddress 127.0.0.1
PermitRootLogin prohibit-password
PasswordAuthentication no
CONF
# The first boot runs dbus-daemon, Debian's default; the suite switches to
# dbus-broker itself for its second boot (reboot_on_dbus_broker).
rm -f "$root.tmp/etc/systemd/system/dbus.service" "$root.tmp/etc/systemd/user/dbus.service"
chroot "$root.tmp" systemctl mask console-getty.service getty@.service systemd-timesyncd.service \
  apt-daily.timer apt-daily-upgrade.timer >/dev/null 2>&1 || true
# The German locale the translation scenario runs sourcectl in.
chroot "$root.tmp" localedef -i de_DE -f UTF-8 de_DE.UTF-8
touch "$root.tmp/.sourced-host-complete"
# Older roots of other package lists go; this one takes their place.
find "$cache" -maxdepth 1 -name 'root-*' ! -name "root-$key*" -exec rm -rf {} + 2>/dev/null || true
mv "$root.tmp" "$root"
echo "$root"
