#!/usr/bin/env bash
# Sets up (scripts/setup.sh), builds and runs the whole CPU test suite: a short libFuzzer session per parser
# entry point (AUTOGLM_FUZZ_SECONDS each, default 30, the GGUF reader 60; 0 skips), the test data a script
# writes, then every CTest label but gpu and perf.
#   scripts/test.sh [ctest args...]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${AUTOGLM_BUILD_DIR:-$root/build}
"$root/scripts/setup.sh" "$build"
fuzz_seconds=${AUTOGLM_FUZZ_SECONDS:-30}
if [ "$fuzz_seconds" != "0" ]; then
  "$root/scripts/fuzz.sh" "$fuzz_seconds"
fi
# The vocab-only GGUF files the tokenizer tests check their in-memory builder against (3 s; git-ignored).
python3 "$root/tools/tokenizer/make_gguf_vocabs.py" --vocabs > /dev/null
cd "$build"
ctest --output-on-failure -j "$(nproc)" -LE 'gpu|perf' "$@"
