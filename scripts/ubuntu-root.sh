#!/usr/bin/env bash
# Build (once, then cache) a real Ubuntu 24.04 root with debootstrap from archive.ubuntu.com, set
# up the way an Ubuntu cloud image is after cloud-init's first boot, and pack it:
#   $OUT/root/       the guest tree (openssh-server with ssh.socket activation, cloud-init,
#                    netplan, ufw installed but disabled; user ubuntu with a key)
#   $OUT/minimal/    the same tree minimised like Ubuntu's minimal cloud images: dpkg
#                    path-exclude rules in /etc/dpkg/dpkg.cfg.d/excludes, the excluded files gone
#   $OUT/ext4.img    bare ext4 (LABEL=cloudimg-rootfs) made from root/ with mke2fs -d
#   $OUT/gpt.img     the same filesystem inside a GPT disk (partition 1 = BIOS boot)
# Ubuntu's archive key comes from its ubuntu-keyring package (not in Debian's registry), fetched
# from the same archive. Needs root. Usage: scripts/ubuntu-root.sh [OUT]
set -euo pipefail
OUT=${1:-${RESCUE_INSPECT_CACHE:-$HOME/.cache/rescue-inspect}/ubuntu2404}
MIRROR=${UBUNTU_MIRROR:-http://archive.ubuntu.com/ubuntu}
SUITE=noble
mkdir -p "$OUT"
R=$OUT/root
if [ ! -f "$R/.debootstrap-done" ]; then
  K=$OUT/keyring
  if [ ! -f "$K/usr/share/keyrings/ubuntu-archive-keyring.gpg" ]; then
    deb=$(curl -fsS "$MIRROR/dists/$SUITE/main/binary-amd64/Packages.gz" | gzip -dc |
      awk '/^Package: ubuntu-keyring$/{p=1} p && /^Filename:/{print $2; exit}')
    curl -fsS -o "$OUT/ubuntu-keyring.deb" "$MIRROR/$deb"
    dpkg -x "$OUT/ubuntu-keyring.deb" "$K"
  fi
  rm -rf "$R"
  # Debian's debootstrap has no script for noble; gutsy's is the generic Ubuntu one.
  debootstrap --variant=minbase --keyring="$K/usr/share/keyrings/ubuntu-archive-keyring.gpg" \
    --components=main,universe \
    --include=openssh-server,systemd-sysv,sudo,netplan.io,cloud-init,ufw,iproute2,ca-certificates \
    "$SUITE" "$R" "$MIRROR" /usr/share/debootstrap/scripts/gutsy
  chroot "$R" useradd -m -u 1000 -s /bin/bash -G sudo ubuntu
  install -d -m 700 -o 1000 -g 1000 "$R/home/ubuntu/.ssh"
  echo 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHRoaXMtaXMtYS10ZXN0LWtleS1mb3ItcmVzY3VlLW9r ubuntu@test' \
    > "$R/home/ubuntu/.ssh/authorized_keys"
  chown 1000:1000 "$R/home/ubuntu/.ssh/authorized_keys"; chmod 600 "$R/home/ubuntu/.ssh/authorized_keys"
  echo 'LABEL=cloudimg-rootfs / ext4 discard,commit=30,errors=remount-ro 0 1' > "$R/etc/fstab"
  mkdir -p "$R/etc/netplan"
  # What cloud-init writes on EC2: the NIC matched by MAC, renamed to its predictable name.
  printf 'network:\n    ethernets:\n        ens5:\n            dhcp4: true\n            match:\n                macaddress: 02:1e:4d:2a:6b:01\n            set-name: ens5\n    version: 2\n' \
    > "$R/etc/netplan/50-cloud-init.yaml"
  chmod 600 "$R/etc/netplan/50-cloud-init.yaml"
  # What the cloud image build (livecd-rootfs) puts there.
  echo 'PasswordAuthentication no' > "$R/etc/ssh/sshd_config.d/60-cloudimg-settings.conf"
  echo ubuntu-test > "$R/etc/hostname"
  rm -rf "$R/var/cache/apt/archives/"*.deb
  touch "$R/.debootstrap-done"
fi
M=$OUT/minimal
if [ ! -f "$M/.minimal-done" ] || [ "$R/.debootstrap-done" -nt "$M/.minimal-done" ]; then
  rm -rf "$M"
  cp -a "$R" "$M"
  # Ubuntu's minimal images: /etc/dpkg/dpkg.cfg.d/excludes, and the files it excludes removed.
  cat > "$M/etc/dpkg/dpkg.cfg.d/excludes" <<'EOF'
# Drop all man pages
path-exclude=/usr/share/man/*
# Drop all translations
path-exclude=/usr/share/locale/*/LC_MESSAGES/*.mo
# Drop all documentation ...
path-exclude=/usr/share/doc/*
# ... except copyright files ...
path-include=/usr/share/doc/*/copyright
# ... and Debian changelogs for native & non-native packages
path-include=/usr/share/doc/*/changelog.*
# Lintian stuff is small, but really unnecessary
path-exclude=/usr/share/lintian/*
# Drop all info pages
path-exclude=/usr/share/info/*
EOF
  (cd "$M" && find usr/share/man usr/share/lintian usr/share/info -type f -delete 2>/dev/null || true
   find usr/share/locale -path '*/LC_MESSAGES/*.mo' -delete
   find usr/share/doc -type f ! -name copyright ! -name 'changelog.*' -delete)
  touch "$M/.minimal-done"
fi
used_kb=$(du -sk "$R" | cut -f1)
size_mb=$(( used_kb * 14 / 10 / 1024 + 1024 ))
if [ ! -f "$OUT/ext4.img" ] || [ "$R/.debootstrap-done" -nt "$OUT/ext4.img" ]; then
  rm -f "$OUT/ext4.img"
  mke2fs -q -t ext4 -L cloudimg-rootfs -E root_owner=0:0 -d "$R" "$OUT/ext4.img" "${size_mb}M"
fi
if [ ! -f "$OUT/gpt.img" ] || [ "$OUT/ext4.img" -nt "$OUT/gpt.img" ]; then
  rm -f "$OUT/gpt.img"
  # The BIOS boot partition (4 MiB from sector 2048), the filesystem, the backup GPT.
  truncate -s $(( (size_mb + 8) * 1024 * 1024 )) "$OUT/gpt.img"
  sgdisk -n 14:2048:+4M -t 14:ef02 -c 14:bios -n 1:0:0 -t 1:8300 -c 1:cloudimg-rootfs "$OUT/gpt.img" >/dev/null
  start=$(sgdisk -i 1 "$OUT/gpt.img" | awk '/First sector/{print $3}')
  dd if="$OUT/ext4.img" of="$OUT/gpt.img" bs=1M seek=$(( start * 512 / 1048576 )) conv=notrunc,sparse status=none
fi
echo "$OUT"
