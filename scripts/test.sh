#!/usr/bin/env bash
# Sets up (scripts/setup.sh), builds and runs the whole CPU test suite (every CTest label but gpu and perf).
#   scripts/test.sh [ctest args...]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${AUTOGLM_BUILD_DIR:-$root/build}
"$root/scripts/setup.sh" "$build"
cd "$build"
ctest --output-on-failure -j "$(nproc)" -LE 'gpu|perf' "$@"
