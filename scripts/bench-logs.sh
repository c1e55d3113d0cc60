#!/usr/bin/env bash
# `rescue-inspect logs` against `journalctl --directory` on the same large, generated journal
# files (systemd-journal-remote from export-format input: several boots, syslog-like messages,
# a few large compressed fields), in one hyperfine run, warm page cache; the journal is read
# from a directory target and from an ext4 image holding it; then `check` on that image (it
# reads only the last boot) and peak memory.
# Usage: scripts/bench-logs.sh [SIZE_MB] (default 2048). Needs: hyperfine, GNU time,
# systemd-journal-remote, journalctl, e2fsprogs, python3.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_MB=${1:-2048}
WORK=${BENCH_WORK:-/var/tmp/rescue-inspect-bench-logs}
OUT=${BENCH_OUT:-target/bench-logs.md}
MID=3d1219c7c4c5404aaa1f6d2a48adfda4
cargo build --release --quiet
BIN=$PWD/target/release/rescue-inspect
TREE=$WORK/tree
JDIR=$TREE/var/log/journal/$MID
if [ ! -f "$WORK/done-$SIZE_MB" ]; then
  rm -rf "$WORK"; mkdir -p "$JDIR" "$TREE/etc"
  printf 'ID=debian\nVERSION_ID=12\n' > "$TREE/etc/os-release"
  # ~330 bytes of journal per entry (measured): entries for SIZE_MB, in files of 128 MiB.
  total=$(( SIZE_MB * 1024 * 1024 / 330 ))
  per=$(( 128 * 1024 * 1024 / 330 ))
  i=0; f=0
  while [ $i -lt $total ]; do
    n=$(( total - i < per ? total - i : per ))
    python3 - "$i" "$n" <<'PY' | /lib/systemd/systemd-journal-remote -o "$JDIR/system@$(printf %04d $f).journal" - >/dev/null 2>&1
import sys
start, n = int(sys.argv[1]), int(sys.argv[2])
out = sys.stdout
t0 = 1_700_000_000_000_000
idents = ["sshd", "systemd", "kernel", "CRON", "nginx", "postgres", "dockerd", "cloud-init"]
units = ["ssh.service", "init.scope", "", "cron.service", "nginx.service", "postgresql.service", "docker.service", "cloud-init.service"]
buf = []
for k in range(start, start + n):
    boot = "%032x" % (1 + k // 400_000)
    j = k % 8
    buf.append(f"__REALTIME_TIMESTAMP={t0 + k * 10_000}\n__MONOTONIC_TIMESTAMP={(k % 400_000) * 10_000 + 1}\n_BOOT_ID={boot}\n_HOSTNAME=web1\n_TRANSPORT=syslog\nPRIORITY={k % 7}\nSYSLOG_IDENTIFIER={idents[j]}\n_PID={1000 + k % 5000}\n")
    if units[j]:
        buf.append(f"_SYSTEMD_UNIT={units[j]}\n")
    buf.append(f"MESSAGE=request {k} from 10.{k % 256}.{(k // 256) % 256}.7 took {k % 997} ms status={200 + k % 5}\n")
    if k % 5000 == 0:
        buf.append("STACK=" + ("frame %d at 0x%x\\n" % (k, k * 7919)) * 100 + "\n")
    buf.append("\n")
    if len(buf) > 20000:
        out.write("".join(buf)); buf = []
out.write("".join(buf))
PY
    i=$(( i + n )); f=$(( f + 1 ))
  done
  rm -f "$WORK/logs.img"
  mke2fs -q -F -t ext4 -d "$TREE" "$WORK/logs.img" $(( SIZE_MB * 3 / 2 + 256 ))M
  touch "$WORK/done-$SIZE_MB"
fi
echo "journal: $(du -sh --apparent-size "$JDIR" | cut -f1) in $(ls "$JDIR" | wc -l) files; $(journalctl --directory "$JDIR" --header 2>/dev/null | awk '/^Entry objects/{s+=$3} END{print s}') entries"
# Same answers first: the same number of entries.
a=$("$BIN" logs "$WORK/logs.img" --source journal | grep -vc '^-- Boot ')
b=$(journalctl --directory "$JDIR" -q -o short --no-pager | wc -l)
echo "entries: rescue-inspect $a, journalctl $b"
hyperfine --warmup "${BENCH_WARMUP:-1}" --runs "${BENCH_RUNS:-3}" --export-markdown "$OUT" \
  -n "rescue-inspect logs (ext4 image)" "$BIN logs $WORK/logs.img --source journal > /dev/null" \
  -n "rescue-inspect logs (directory)" "$BIN logs $TREE --source journal > /dev/null" \
  -n "journalctl --directory -o short" "journalctl --directory $JDIR -q -o short --no-pager > /dev/null" \
  -n "rescue-inspect logs --format json (ext4 image)" "$BIN logs $WORK/logs.img --source journal --format json > /dev/null" \
  -n "journalctl --directory -o json" "journalctl --directory $JDIR -q -o json --no-pager > /dev/null" \
  -n "rescue-inspect logs -u ssh -g 'status=204' (ext4 image)" "$BIN logs $WORK/logs.img --source journal -u ssh -g status=204 > /dev/null" \
  -n "journalctl -u ssh -g 'status=204'" "journalctl --directory $JDIR -q -u ssh.service -g status=204 --no-pager > /dev/null" \
  -n "rescue-inspect check (ext4 image)" "$BIN check $WORK/logs.img --quiet --fail-on never"
for cmd in "$BIN logs $WORK/logs.img --source journal" "journalctl --directory $JDIR -q -o short --no-pager" "$BIN check $WORK/logs.img --quiet --fail-on never"; do
  /usr/bin/time -f "peak RSS %M KiB, %e s: $cmd" $cmd >/dev/null 2>/tmp/bench-logs-time.$$ || true
  tail -1 /tmp/bench-logs-time.$$
done
rm -f /tmp/bench-logs-time.$$
