#!/bin/sh
# Fetches Debian 12's OpenSSH server (the package and the one library it needs that a build
# machine may lack, libwrap0) from the package registry and unpacks it, without installing a
# service: tests/sshd_config_diff.rs runs this sshd's `-T` as the reference for
# `rescue-inspect sshd-config`.
#
# usage: scripts/fetch-openssh-server.sh [DIR]   (default /var/cache/rescue-inspect/openssh-server)
set -eu
dir=${1:-/var/cache/rescue-inspect/openssh-server}
if [ -x "$dir/root/usr/sbin/sshd" ]; then
    echo "openssh-server already unpacked in $dir/root"
    exit 0
fi
mkdir -p "$dir/debs"
cd "$dir/debs"
# apt-get download writes into the current directory; as root it warns that _apt cannot
# write here, which is harmless.
apt-get download openssh-server libwrap0 2>&1 | grep -v '^W: Download is performed unsandboxed' || true
mkdir -p "$dir/root.tmp"
for deb in *.deb; do
    dpkg -x "$deb" "$dir/root.tmp"
done
rm -rf "$dir/root"
mv "$dir/root.tmp" "$dir/root"
"$dir/root/usr/sbin/sshd" -V 2>&1 | head -1 || true
echo "openssh-server unpacked in $dir/root"
