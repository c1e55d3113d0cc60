#!/usr/bin/env bash
# End-to-end run on a real Ubuntu 24.04 root: builds the debootstrap cache once
# (scripts/ubuntu-root.sh, from archive.ubuntu.com), then runs tests/real_ubuntu.rs. Needs root
# and the Ubuntu archive; not part of .ci/run (a fresh machine would spend minutes on the
# debootstrap, and CI may not reach the archive).
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE=${RESCUE_INSPECT_CACHE:-/var/cache/rescue-inspect}/ubuntu2404
scripts/ubuntu-root.sh "$CACHE" >/dev/null
RESCUE_INSPECT_UBUNTU=$CACHE cargo test --test real_ubuntu -- --nocapture
