#!/usr/bin/env bash
# Build (once, then cache) a real Debian 12 root with debootstrap from the package registry, and pack
# it as the images the end-to-end tests and benchmarks use:
#   $OUT/root/          the guest tree (a real debootstrapped Debian 12 with openssh-server)
#   $OUT/ext4.img       bare ext4 filesystem made from it with mke2fs -d
#   $OUT/gpt.img        the same filesystem inside a GPT disk (partition 1 = BIOS boot, 2 = root)
#   $OUT/mbr.img        the same filesystem inside an MBR disk (partition 1)
# Needs root (debootstrap, file ownership). Usage: scripts/debian-root.sh [OUT]
# OUT defaults to $RESCUE_INSPECT_CACHE or ~/.cache/rescue-inspect/debian12.
set -euo pipefail
OUT=${1:-${RESCUE_INSPECT_CACHE:-$HOME/.cache/rescue-inspect}/debian12}
SUITE=bookworm
MIRROR=${DEBIAN_MIRROR:-$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
mkdir -p "$OUT"
if [ ! -f "$OUT/root/.debootstrap-done" ]; then
  rm -rf "$OUT/root"
  debootstrap --variant=minbase \
    --include=openssh-server,systemd-sysv,sudo,ifupdown,isc-dhcp-client,netbase,zsh,ufw,nftables \
    "$SUITE" "$OUT/root" "$MIRROR"
  R=$OUT/root
  # A cloud-image-like login: user admin (uid 1000) with a key, as cloud-init would leave it.
  chroot "$R" useradd -m -u 1000 -s /bin/bash -G sudo admin
  install -d -m 700 -o 1000 -g 1000 "$R/home/admin/.ssh"
  # A fixed test key (public half only); tests that need the private half generate their own.
  echo 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHRoaXMtaXMtYS10ZXN0LWtleS1mb3ItcmVzY3VlLW9r admin@test' \
    > "$R/home/admin/.ssh/authorized_keys"
  chown 1000:1000 "$R/home/admin/.ssh/authorized_keys"; chmod 600 "$R/home/admin/.ssh/authorized_keys"
  echo rescue-test > "$R/etc/hostname"
  printf 'UUID=2f5e3a46-7d0b-4bb5-9d3c-6b6e5e8f1a10 / ext4 errors=remount-ro 0 1\n' > "$R/etc/fstab"
  rm -rf "$R/var/cache/apt/archives/"*.deb
  touch "$R/.debootstrap-done"
fi
R=$OUT/root
# The network as a cloud image with classic interface names has it (a root without any
# interface configuration would rightly get NET-012).
if [ ! -f "$R/.network-done" ]; then
  printf 'allow-hotplug eth0\niface eth0 inet dhcp\n' > "$R/etc/network/interfaces.d/eth0"
  printf 'GRUB_CMDLINE_LINUX="console=ttyS0 net.ifnames=0"\n' > "$R/etc/default/grub"
  touch "$R/.network-done" "$R/.debootstrap-done"
fi
# Size: used space plus 40% headroom, at least 1 GiB.
used_kb=$(du -sk --exclude=proc --exclude=sys "$R" | cut -f1)
size_mb=$(( used_kb * 14 / 10 / 1024 + 1024 ))
if [ ! -f "$OUT/ext4.img" ] || [ "$R/.debootstrap-done" -nt "$OUT/ext4.img" ]; then
  rm -f "$OUT/ext4.img"
  mke2fs -q -t ext4 -L cloudimg-rootfs -U 2f5e3a46-7d0b-4bb5-9d3c-6b6e5e8f1a10 \
    -E root_owner=0:0 -d "$R" "$OUT/ext4.img" "${size_mb}M"
fi
if [ ! -f "$OUT/gpt.img" ] || [ "$OUT/ext4.img" -nt "$OUT/gpt.img" ]; then
  rm -f "$OUT/gpt.img" >/dev/null
  truncate -s $(( (size_mb + 4) * 1024 * 1024 )) "$OUT/gpt.img" >/dev/null
  sgdisk -n 1:2048:+1M -t 1:ef02 -c 1:bios -n 2:0:0 -t 2:8300 -c 2:cloudimg-rootfs "$OUT/gpt.img" >/dev/null
  start=$(sgdisk -i 2 "$OUT/gpt.img" | awk '/First sector/{print $3}')
  dd if="$OUT/ext4.img" of="$OUT/gpt.img" bs=1M seek=$(( start * 512 / 1048576 )) conv=notrunc,sparse status=none
fi
if [ ! -f "$OUT/mbr.img" ] || [ "$OUT/ext4.img" -nt "$OUT/mbr.img" ]; then
  rm -f "$OUT/mbr.img"
  truncate -s $(( (size_mb + 2) * 1024 * 1024 )) "$OUT/mbr.img"
  echo 'start=2048, type=83, bootable' | sfdisk -q "$OUT/mbr.img"
  dd if="$OUT/ext4.img" of="$OUT/mbr.img" bs=1M seek=1 conv=notrunc,sparse status=none
fi
echo "$OUT"
