#!/usr/bin/env bash
# Seed corpora for the image-format fuzz targets (fuzz/fuzz_targets/image_*.rs): small images of
# every format and sub-format, made by qemu-img from a small raw disk with some data in it.
# Usage: scripts/fuzz-image-seeds.sh  (writes fuzz/corpus/image_{qcow2,vmdk,vhd,vhdx}/)
set -euo pipefail
cd "$(dirname "$0")/.."
C=fuzz/corpus
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
mkdir -p "$C"/image_qcow2 "$C"/image_vmdk "$C"/image_vhd "$C"/image_vhdx
# 192 KiB: a run of text, a hole, a run of random bytes.
truncate -s 192K "$W/raw"
head -c 40000 < <(yes 'rescue-inspect fuzz seed') | dd of="$W/raw" conv=notrunc status=none
head -c 30000 /dev/urandom | dd of="$W/raw" bs=1 seek=131072 conv=notrunc status=none
conv() { qemu-img convert -f raw "$@"; }
conv -O qcow2 -o cluster_size=512 "$W/raw" "$C/image_qcow2/v3-512"
conv -O qcow2 -o cluster_size=512,compat=0.10 "$W/raw" "$C/image_qcow2/v2-512"
conv -O qcow2 -c -o cluster_size=512 "$W/raw" "$C/image_qcow2/zlib-512"
conv -O qcow2 -c -o cluster_size=4096,compression_type=zstd "$W/raw" "$C/image_qcow2/zstd-4k"
conv -O qcow2 -o cluster_size=16k,extended_l2=on "$W/raw" "$C/image_qcow2/extl2-16k"
qemu-img create -q -f qcow2 -o cluster_size=512 -u -b base.raw -F raw "$C/image_qcow2/backing" 192K
conv -O vmdk -o subformat=monolithicSparse "$W/raw" "$C/image_vmdk/sparse"
conv -O vmdk -o subformat=streamOptimized "$W/raw" "$C/image_vmdk/stream"
conv -O vmdk -o subformat=monolithicFlat "$W/raw" "$W/flat.vmdk"
cp "$W/flat.vmdk" "$C/image_vmdk/descriptor"
cp "$C/image_vmdk/stream" "$W/disk1.vmdk" && echo '<Envelope/>' > "$W/vm.ovf"
tar --format=ustar -cf "$C/image_vmdk/ova" -C "$W" vm.ovf disk1.vmdk
conv -O vpc -o subformat=fixed,force_size=on "$W/raw" "$C/image_vhd/fixed"
conv -O vpc -o subformat=dynamic "$W/raw" "$C/image_vhd/dynamic"
conv -O vhdx -o block_size=1M "$W/raw" "$C/image_vhdx/dynamic"
ls -l "$C"/image_*
