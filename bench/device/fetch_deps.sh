#!/usr/bin/env bash
# Run on the development machine before bench/device/run.sh: the GPU machine has no network and lacks the
# PCRE2 and utf8proc headers the tokenizer module needs, so their Debian -dev packages travel with the
# checkout in the git-ignored .carry/debs (name .carry in the device call's carry list).
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p .carry/debs
cd .carry/debs
if ! ls libpcre2-dev_*.deb libutf8proc-dev_*.deb >/dev/null 2>&1; then
  apt-get download libpcre2-dev libutf8proc-dev 2>/dev/null
fi
ls -1
