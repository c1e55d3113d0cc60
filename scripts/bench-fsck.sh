#!/usr/bin/env bash
# The read-only metadata scan (`rescue-inspect fsck`) against `e2fsck -fn` on the same real
# Debian 12 root image (~1.4 GB ext4, from scripts/debian-root.sh), in one hyperfine run, warm
# page cache; then peak memory of each.
# Needs: hyperfine, GNU time (/usr/bin/time), e2fsprogs; root for debootstrap.
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE=${RESCUE_INSPECT_CACHE:-/var/cache/rescue-inspect}/debian12
scripts/debian-root.sh "$CACHE" >/dev/null
cargo build --release --quiet
BIN=$PWD/target/release/rescue-inspect
IMG=$CACHE/ext4.img
echo "image: $(du -h --apparent-size "$IMG" | cut -f1) ext4 ($(du -h "$IMG" | cut -f1) allocated); $(dumpe2fs -h "$IMG" 2>/dev/null | awk -F: '/^Inode count|^Free inodes/{printf "%s:%s; ", $1, $2}')"
OUT=${BENCH_OUT:-target/bench-fsck.md}
# e2fsck -n exits 0 on a clean filesystem; both must agree that it is clean.
"$BIN" fsck "$IMG" >/dev/null
e2fsck -fn "$IMG" >/dev/null 2>&1
hyperfine --warmup 2 --min-runs 10 -N --export-markdown "$OUT" \
  -n "rescue-inspect fsck" "$BIN fsck $IMG" \
  -n "e2fsck -fn" "e2fsck -fn $IMG"
for cmd in "$BIN fsck $IMG" "e2fsck -fn $IMG"; do
  /usr/bin/time -f "peak RSS %M KiB, %e s: ${cmd%% *}" $cmd >/dev/null 2>/tmp/bench-fsck-time.$$ || true
  tail -1 /tmp/bench-fsck-time.$$
done
rm -f /tmp/bench-fsck-time.$$
