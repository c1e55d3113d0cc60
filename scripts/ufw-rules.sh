#!/bin/sh
# Regenerates testdata/ufw/: the rule files Debian 12's own ufw writes for `ufw allow 22/tcp`
# and `ufw allow from 10.0.0.0/8 to any port 22 proto tcp`, by running ufw in a chroot of the
# debootstrapped Debian root (scripts/debian-root.sh). The root's /etc/ufw is restored after.
#
# usage: scripts/ufw-rules.sh [ROOT]   (default /var/cache/rescue-inspect/debian12/root), as root
set -eu
root=${1:-/var/cache/rescue-inspect/debian12/root}
out=$(cd "$(dirname "$0")/.." && pwd)/testdata/ufw
save=$(mktemp -d)
cp -a "$root/etc/ufw" "$save/ufw"
restore() { rm -rf "$root/etc/ufw"; cp -a "$save/ufw" "$root/etc/ufw"; rm -rf "$save"; }
trap restore EXIT
chroot "$root" ufw allow 22/tcp >/dev/null
cp "$root/etc/ufw/user.rules" "$out/user.rules.allow-22"
rm -rf "$root/etc/ufw"; cp -a "$save/ufw" "$root/etc/ufw"
chroot "$root" ufw allow from 10.0.0.0/8 to any port 22 proto tcp >/dev/null
cp "$root/etc/ufw/user.rules" "$out/user.rules.allow-22-from-10"
echo "wrote $out"
