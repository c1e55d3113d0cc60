#!/usr/bin/env bash
# Reading a real Debian 12 root's package files through each image format, in one hyperfine run:
# the raw GPT disk, the same disk as qcow2, as zlib- and zstd-compressed qcow2, as
# streamOptimized VMDK, VHDX and fixed VHD (made once with qemu-img, cached next to the raw disk).
# The reader is `rescue-inspect verify`: every file of every package, hashed (the work that
# reads the most of an image).
# Needs hyperfine and qemu-img; builds the Debian root with scripts/debian-root.sh (root).
# Usage: scripts/bench-image.sh [CACHE]   (results: target/bench-image.md)
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE=${1:-${RESCUE_INSPECT_CACHE:-/var/cache/rescue-inspect}/debian12}
scripts/debian-root.sh "$CACHE" >/dev/null
RAW=$CACHE/gpt.img
I=$CACHE/images
mkdir -p "$I"
mk() { # name, qemu-img convert options...
  local out=$I/$1; shift
  if [ ! -f "$out" ] || [ "$RAW" -nt "$out" ]; then
    qemu-img convert -f raw "$@" "$RAW" "$out.tmp" && mv "$out.tmp" "$out"
  fi
}
mk debian12.qcow2 -O qcow2
mk debian12-zlib.qcow2 -O qcow2 -c
mk debian12-zstd.qcow2 -O qcow2 -c -o compression_type=zstd
mk debian12-stream.vmdk -O vmdk -o subformat=streamOptimized
mk debian12.vhdx -O vhdx
mk debian12-fixed.vhd -O vpc -o subformat=fixed,force_size=on
cargo build --release --locked -q
BIN="target/release/rescue-inspect verify"
echo "what is read: $($BIN "$RAW" | tail -1)"
ls -l "$RAW" "$I"/debian12*.{qcow2,vmdk,vhdx,vhd}
# Warm cache: every image is read once before timing.
hyperfine --warmup 2 --runs 10 --export-markdown target/bench-image.md \
  -n raw "$BIN $RAW" \
  -n qcow2 "$BIN $I/debian12.qcow2" \
  -n qcow2-zlib "$BIN $I/debian12-zlib.qcow2" \
  -n qcow2-zstd "$BIN $I/debian12-zstd.qcow2" \
  -n vmdk-stream "$BIN $I/debian12-stream.vmdk" \
  -n vhdx "$BIN $I/debian12.vhdx" \
  -n vhd-fixed "$BIN $I/debian12-fixed.vhd"
cat target/bench-image.md
