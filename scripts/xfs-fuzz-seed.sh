#!/usr/bin/env bash
# Seed filesystems for the xfs fuzz target: small XFS images (v5 and v4) holding every
# structure the reader parses (short-form/block/leaf/node directories, a btree-mapped file,
# unwritten extents, a remote symlink, attributes in short/leaf/node/remote form). v5 needs a
# loop mount (root) to populate; v4 is made from a protofile (the host kernel may not mount v4).
# Usage: scripts/xfs-fuzz-seed.sh OUTDIR   (writes OUTDIR/xfs-v5.img and OUTDIR/xfs-v4.img)
set -euo pipefail
out=${1:?usage: $0 OUTDIR}
mkdir -p "$out"
work=$(mktemp -d)
trap 'umount "$work/m" 2>/dev/null || true; rm -rf "$work"' EXIT

v5="$out/xfs-v5.img"
rm -f "$v5"; truncate -s 300M "$v5"
mkfs.xfs -q -f -m crc=1,bigtime=1 -i sparse=1 "$v5"
mkdir -p "$work/m"
mount -o loop,nouuid "$v5" "$work/m"
(
  cd "$work/m"
  mkdir -p etc d/sf d/block d/leaf d/node
  echo 'ID=rocky' > etc/os-release
  echo 'root:x:0:0::/root:/bin/bash' > etc/passwd
  for i in 1 2 3; do : > d/sf/f$i; done
  for i in $(seq 1 30); do : > d/block/name-$i; done
  for i in $(seq 1 200); do : > d/leaf/a-longer-entry-name-$i; done
  for i in $(seq 1 1500); do : > d/node/a-much-longer-entry-name-for-node-form-$i; done
  ln -s ../etc/passwd etc/link
  ln -s "$(printf 'long/%.0s' $(seq 1 150))end" etc/remote-link
  fallocate -l 64k etc/prealloc
  python3 - <<'PY'
import os
fd = os.open('etc/frag', os.O_CREAT | os.O_WRONLY, 0o644)
for i in range(400):
    os.pwrite(fd, b'x' * 4096, i * 8192)
os.close(fd)
os.setxattr('etc/passwd', 'security.selinux', b'system_u:object_r:passwd_file_t:s0\0')
for i in range(30):
    os.setxattr('etc/os-release', 'user.a%d' % i, b'v' * 40)
os.setxattr('etc/passwd', 'user.big', b'r' * 5000)
for i in range(300):
    os.setxattr('d/leaf', 'user.many-%04d' % i, b'x' * 60)
PY
)
umount "$work/m"

v4="$out/xfs-v4.img"
src="$work/src"; mkdir -p "$src"; echo 'ID=rocky' > "$src/os"; head -c 20000 /dev/urandom > "$src/big"
{
  echo /dev/null; echo 0 0; echo 'd--755 0 0'
  echo 'etc d--755 0 0'
  echo "os-release ---644 0 0 $src/os"
  echo "big ---600 7 8 $src/big"
  echo "link l--777 0 0 $(printf 'long/%.0s' $(seq 1 150))end"
  echo 'd d--755 0 0'
  for i in $(seq 1 300); do echo "entry-with-a-name-$i ---644 0 0 $src/os"; done
  echo '$'; echo '$'; echo '$'
} > "$work/proto"
rm -f "$v4"; truncate -s 300M "$v4"
mkfs.xfs -q -f -m crc=0 -n ftype=0 -b size=1024 -i size=256 -p "$work/proto" "$v4" 2>/dev/null
echo "$v5 $v4"
