#!/usr/bin/env bash
# End-to-end run on a real Debian 12 root: builds the debootstrap cache once (scripts/debian-root.sh),
# then runs the tests that use it. Needs root (debootstrap, loop mount).
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE=${RESCUE_INSPECT_CACHE:-/var/cache/rescue-inspect}/debian12
scripts/debian-root.sh "$CACHE" >/dev/null
RESCUE_INSPECT_DEBIAN=$CACHE cargo test --test real_debian --test real_debian_facts --test real_debian_disk --test real_debian_packages --test real_debian_images --test real_debian_xfs --test real_debian_logs --test journal_replay -- --nocapture
