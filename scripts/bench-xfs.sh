#!/usr/bin/env bash
# XFS against its peers on the same real Debian 12 tree (scripts/debian-root.sh) copied onto a
# 1 GiB XFS image through a loop mount: `rescue-inspect fsck` (the metadata walk) against
# `xfs_repair -n`; `check` on the XFS image against `check` on the ext4 image of the same tree
# (ext4-view); reading every file (`check --packages all`: dpkg's md5sums of every packaged
# file) on XFS and on ext4. One hyperfine run, warm page cache; then peak memory.
# Needs: hyperfine, GNU time, xfsprogs, e2fsprogs; root (debootstrap, loop mount).
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE=${RESCUE_INSPECT_CACHE:-/var/cache/rescue-inspect}/debian12
scripts/debian-root.sh "$CACHE" >/dev/null
cargo build --release --quiet
BIN=$PWD/target/release/rescue-inspect
XFS=$CACHE/xfs.img
EXT4=$CACHE/ext4.img
if [ ! -f "$XFS" ] || [ "$CACHE/root/.debootstrap-done" -nt "$XFS" ]; then
  rm -f "$XFS"; truncate -s 1G "$XFS"
  mkfs.xfs -q -f -m uuid=2f5e3a46-7d0b-4bb5-9d3c-6b6e5e8f1a10 "$XFS"
  M=$(mktemp -d); mount -o loop,nouuid "$XFS" "$M"; cp -a "$CACHE/root/." "$M/"; umount "$M"; rmdir "$M"
fi
echo "xfs image: $(du -h --apparent-size "$XFS" | cut -f1) ($(du -h "$XFS" | cut -f1) allocated), $(xfs_db -r -c 'sb 0' -c 'p icount' "$XFS")"
OUT=${BENCH_OUT:-target/bench-xfs.md}
"$BIN" fsck "$XFS" >/dev/null
xfs_repair -n -f "$XFS" >/dev/null 2>&1
hyperfine --warmup 2 --min-runs 10 -N --export-markdown "$OUT" \
  -n "rescue-inspect fsck (xfs)" "$BIN fsck $XFS" \
  -n "xfs_repair -n" "xfs_repair -n -f $XFS" \
  -n "check (xfs)" "$BIN check --quiet $XFS" \
  -n "check (ext4)" "$BIN check --quiet $EXT4" \
  -n "check --packages all (xfs)" "$BIN check --quiet --packages all $XFS" \
  -n "check --packages all (ext4)" "$BIN check --quiet --packages all $EXT4"
for cmd in "$BIN fsck $XFS" "xfs_repair -n -f $XFS" "$BIN check --quiet --packages all $XFS" "$BIN check --quiet --packages all $EXT4"; do
  /usr/bin/time -f "peak RSS %M KiB, %e s: $cmd" $cmd >/dev/null 2>/tmp/bench-xfs-time.$$ || true
  tail -1 /tmp/bench-xfs-time.$$
done
rm -f /tmp/bench-xfs-time.$$
