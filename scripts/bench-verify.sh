#!/usr/bin/env bash
# Package verification speed on a real Debian 12 root, in one hyperfine run:
#   rescue-inspect verify on the ext4 image (every package, every file),
#   debsums -s --root on the same filesystem loop-mounted read-only,
#   and the floor: xargs -P$(nproc) md5sum over the same files on the mount.
# Needs root (loop mount). Prints a markdown table (also in target/bench-verify.md).
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE=${RESCUE_INSPECT_CACHE:-/var/cache/rescue-inspect}/debian12
scripts/debian-root.sh "$CACHE" >/dev/null
for t in hyperfine:hyperfine debsums:debsums; do
  command -v "${t%%:*}" >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${t##*:}" >/dev/null
done
cargo build --release --locked -q
BIN=$PWD/target/release/rescue-inspect
IMG=$CACHE/ext4.img
MNT=$(mktemp -d)
LIST=$(mktemp)
# noload: do not replay a journal (read-only, like the tool).
mount -o loop,ro,noload "$IMG" "$MNT"
trap 'umount "$MNT"; rmdir "$MNT"; rm -f "$LIST"' EXIT
# The same files debsums checks: every md5sums entry, relative to the root.
(cd "$MNT" && cat var/lib/dpkg/info/*.md5sums | sed 's/^[0-9a-f]*  //') > "$LIST"
FILES=$(wc -l < "$LIST")
BYTES=$(cd "$MNT" && xargs -a "$LIST" -d '\n' stat -c %s | awk '{s+=$1} END {print s}')
echo "data: $FILES files, $((BYTES / 1048576)) MiB of package content; image $(du -h --apparent-size "$IMG" | cut -f1); $(nproc) cores"
hyperfine --warmup 2 --runs 10 --export-markdown target/bench-verify.md \
  -n "rescue-inspect verify (image)" "$BIN verify $IMG" \
  -n "debsums -s --root (mount)" "debsums -s --root $MNT" \
  -n "xargs -P$(nproc) md5sum (mount, floor)" "cd $MNT && xargs -a $LIST -d '\\n' -P$(nproc) -n 256 md5sum >/dev/null"
cat target/bench-verify.md
