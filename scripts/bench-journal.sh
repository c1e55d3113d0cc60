#!/usr/bin/env bash
# The in-memory journal replay against e2fsck's (`e2fsck -E journal_only`, which replays by
# writing: each of its runs gets a fresh copy of the dirty image) on the real Debian 12 root
# image, in one hyperfine run, warm page cache; plus the same read on the clean image, for the
# cost of the replay alone. The dirty image is made by the kernel: the image is loop-mounted,
# N files are written and fsync'ed one by one (N transactions), and the image is copied while
# still mounted (a power cut at that moment).
# Needs: root (loop mount), hyperfine, e2fsprogs. N: BENCH_FILES (default 2000).
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE=${RESCUE_INSPECT_CACHE:-/var/cache/rescue-inspect}/debian12
scripts/debian-root.sh "$CACHE" >/dev/null
cargo build --release --quiet
BIN=$PWD/target/release/rescue-inspect
N=${BENCH_FILES:-2000}
WORK=$(mktemp -d /tmp/bench-journal.XXXXXX)
trap 'umount "$WORK/mnt" 2>/dev/null || true; rm -rf "$WORK"' EXIT
cp --sparse=always "$CACHE/ext4.img" "$WORK/clean.img"
cp --sparse=always "$CACHE/ext4.img" "$WORK/live.img"
mkdir "$WORK/mnt"
mount -o loop,commit=300 "$WORK/live.img" "$WORK/mnt"
mkdir -p "$WORK/mnt/var/cache/bench"
python3 - "$WORK/mnt/var/cache/bench" "$N" <<'EOF'
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
dfd = os.open(d, os.O_RDONLY)
for i in range(n):
    p = os.path.join(d, f"f{i}")
    with open(p, "w") as f:
        f.write(f"{i}\n" * 50)
        f.flush()
        os.fsync(f.fileno())
    os.fsync(dfd)
EOF
cp --sparse=always "$WORK/live.img" "$WORK/dirty.img"
umount "$WORK/mnt"
"$BIN" check "$WORK/dirty.img" --format json | python3 -c '
import json, sys
r = json.load(sys.stdin)
for f in r["findings"]:
    if f["id"] in ("FS-010", "FS-011"):
        print(f["id"], f["title"])'
echo "image: $(du -h --apparent-size "$WORK/dirty.img" | cut -f1) ext4, journal $(dumpe2fs -h "$WORK/dirty.img" 2>/dev/null | awk -F: '/^Total journal size/{print $2}' | xargs), $N fsync'ed files"
OUT=${BENCH_OUT:-target/bench-journal.md}
hyperfine --warmup 2 --min-runs 10 -N --export-markdown "$OUT" \
  --prepare "true" --prepare "true" \
  --prepare "cp --sparse=always $WORK/dirty.img $WORK/e2fsck.img" \
  -n "rescue-inspect cat (clean image)" "$BIN cat $WORK/clean.img /etc/hostname" \
  -n "rescue-inspect cat (dirty image, replay in memory)" "$BIN cat $WORK/dirty.img /etc/hostname" \
  -n "e2fsck -E journal_only (fresh copy)" "e2fsck -y -E journal_only $WORK/e2fsck.img"
