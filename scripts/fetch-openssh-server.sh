#!/bin/sh
# Fetches the OpenSSH server of Debian 12 (bookworm, OpenSSH 9.2p1) and Debian 13 (trixie,
# OpenSSH 10.0p1) with the libraries it loads, from Debian's package registry, and unpacks each
# into its own directory without installing anything: tests/sshd_config_diff.rs runs each of
# these sshd's `-T` in a chroot as the reference for `rescue-inspect sshd-config`.
#
# usage: scripts/fetch-openssh-server.sh [DIR]   (default /var/cache/rescue-inspect/openssh-server)
# Result: DIR/<suite>/root (the unpacked tree) and DIR/<suite>/version (openssh-server's version).
set -eu
dir=${1:-/var/cache/rescue-inspect/openssh-server}
keyring=/usr/share/keyrings/debian-archive-keyring.gpg

for suite in bookworm trixie; do
    out="$dir/$suite"
    if [ -x "$out/root/usr/sbin/sshd" ] && [ -s "$out/version" ]; then
        echo "$suite: openssh-server $(cat "$out/version") already in $out/root"
        continue
    fi
    apt="$out/apt"
    rm -rf "$out"
    mkdir -p "$apt/etc/apt/sources.list.d" "$apt/etc/apt/preferences.d" \
        "$apt/var/lib/apt/lists/partial" "$apt/var/cache/apt/archives/partial" "$out/debs"
    # A private apt state: the machine's own sources and package database are not touched.
    echo "deb [signed-by=$keyring] http://deb.debian.org/debian $suite main" \
        > "$apt/etc/apt/sources.list"
    # An empty package database: candidates come from the suite alone, not from this machine.
    : > "$apt/status"
    opts="-o Dir=$apt -o Dir::State::status=$apt/status -o Debug::NoLocking=1 -q"
    # shellcheck disable=SC2086
    apt-get $opts update >/dev/null
    # openssh-server and every library package it depends on, recursively.
    # shellcheck disable=SC2086
    pkgs=$(apt-cache $opts depends --recurse --no-recommends --no-suggests --no-conflicts \
        --no-breaks --no-replaces --no-enhances openssh-server \
        | grep -E '^(openssh-server|lib[a-z0-9.+-]*|zlib1g)$' | grep -v -E '^lib.*-(perl|dev)$' | sort -u)
    cd "$out/debs"
    # shellcheck disable=SC2086
    apt-get $opts download $pkgs 2>&1 | grep -v -e '^W: Download is performed unsandboxed' -e '^Get:' || true
    mkdir -p "$out/root"
    for deb in *.deb; do
        dpkg -x "$deb" "$out/root"
    done
    # The merged-/usr links base-files would make.
    for d in bin sbin lib lib64; do
        if [ -d "$out/root/usr/$d" ] && [ ! -e "$out/root/$d" ]; then
            ln -s "usr/$d" "$out/root/$d"
        fi
    done
    dpkg-deb -f openssh-server_*.deb Version > "$out/version"
    cd - >/dev/null
    echo "$suite: openssh-server $(cat "$out/version") unpacked in $out/root"
done
