#!/usr/bin/env bash
# Time and peak memory of `check` on a real Debian 12 root (~1.4 GB ext4 in a GPT image) and on the
# same filesystem inside a 100 GB sparse GPT image: the default check reads metadata and a few
# small files, so its cost must not depend on the volume's size.
# Needs: hyperfine, GNU time (/usr/bin/time), root for debootstrap and for dropping caches.
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE=${RESCUE_INSPECT_CACHE:-/var/cache/rescue-inspect}/debian12
scripts/debian-root.sh "$CACHE" >/dev/null
cargo build --release --quiet
BIN=$PWD/target/release/rescue-inspect
BIG=$CACHE/sparse-100g.img
if [ ! -f "$BIG" ] || [ "$CACHE/ext4.img" -nt "$BIG" ]; then
  rm -f "$BIG"
  truncate -s 100G "$BIG"
  sgdisk -n 1:2048:+1M -t 1:ef02 -n 2:4096:0 -t 2:8300 -c 2:cloudimg-rootfs "$BIG" >/dev/null
  dd if="$CACHE/ext4.img" of="$BIG" bs=1M seek=2 conv=notrunc,sparse status=none
fi
echo "images: $(du -h --apparent-size "$CACHE/gpt.img" | cut -f1) GPT image ($(du -h "$CACHE/gpt.img" | cut -f1) allocated); $(du -h --apparent-size "$BIG" | cut -f1) sparse GPT image"
OUT=${BENCH_OUT:-target/bench-check.md}
hyperfine --warmup 3 --min-runs 20 -N --export-markdown "$OUT" \
  -n "check 1.4 GB image (warm)" "$BIN check $CACHE/gpt.img --format json" \
  -n "check 100 GB sparse image (warm)" "$BIN check $BIG --format json"
if [ -w /proc/sys/vm/drop_caches ]; then
  hyperfine --min-runs 10 --prepare 'sync; echo 3 > /proc/sys/vm/drop_caches' --export-markdown "${OUT%.md}-cold.md" \
    -n "check 1.4 GB image (cold cache)" "$BIN check $CACHE/gpt.img --format json" \
    -n "check 100 GB sparse image (cold cache)" "$BIN check $BIG --format json"
fi
for img in "$CACHE/gpt.img" "$BIG"; do
  /usr/bin/time -f "peak RSS %M KiB, %e s: $(basename "$img")" "$BIN" check "$img" --format json >/dev/null
done
