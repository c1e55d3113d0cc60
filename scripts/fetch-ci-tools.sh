#!/bin/sh
# Fetches the consumers the report-format tests check our output with, from the registries:
# Microsoft's SARIF multitool (npm: @microsoft/sarif-multitool-linux, a self-contained binary)
# and junitparser (PyPI). Nothing is installed system-wide but the Python package.
#
# usage: scripts/fetch-ci-tools.sh [DIR]   (default /var/cache/rescue-inspect/sarif-multitool)
set -eu
dir=${1:-/var/cache/rescue-inspect/sarif-multitool}
if [ ! -x "$dir/package/Sarif.Multitool" ]; then
    mkdir -p "$dir"
    cd "$dir"
    npm pack --silent @microsoft/sarif-multitool-linux@5 >/dev/null
    tar xzf microsoft-sarif-multitool-linux-*.tgz
    rm -f microsoft-sarif-multitool-linux-*.tgz
    chmod +x package/Sarif.Multitool
    cd - >/dev/null
fi
echo "SARIF multitool: $dir/package/Sarif.Multitool"
python3 -c 'import junitparser' 2>/dev/null || python3 -m pip install --quiet junitparser
python3 -c 'import junitparser; print("junitparser", junitparser.version)'
