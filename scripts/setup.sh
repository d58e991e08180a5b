#!/usr/bin/env bash
# Installs every build and test dependency from Debian's packages and builds Open-AutoGLM (Release).
# Idempotent: packages already present are skipped, an existing build directory is reused.
#   scripts/setup.sh [BUILD_DIR]     (default: build)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}

packages=(build-essential cmake ninja-build ccache pkg-config
          nlohmann-json3-dev libfmt-dev libspdlog-dev libcli11-dev libpcre2-dev libutf8proc-dev libxxhash-dev
          libgtest-dev libgmock-dev libbenchmark-dev clang-14 libclang-rt-14-dev
          libcurl4-openssl-dev libssl-dev libboost-dev python3 python3-pip)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  echo "setup: installing ${missing[*]}"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Python packages the tests call (tests/requirements.txt): the official OpenAI SDK (the server's contract
# tests), huggingface_hub (the download cache shared with it), gguf and sentencepiece (the vocab-only GGUF
# files tools/tokenizer/make_gguf_vocabs.py writes, against which the tokenizer tests check their own).
if ! python3 -c "import openai, huggingface_hub, gguf, sentencepiece" 2>/dev/null; then
  echo "setup: installing $(tr '\n' ' ' < "$root/tests/requirements.txt")"
  python3 -m pip install --quiet --disable-pip-version-check -r "$root/tests/requirements.txt" ||
    python3 -m pip install --quiet --disable-pip-version-check --break-system-packages -r "$root/tests/requirements.txt"
fi

# NCCL (tensor parallelism over GPUs) where the CUDA backend is built: the nvidia-nccl wheel's library and
# headers, which cmake/nccl.cmake finds. Without it the build leaves the NCCL collectives out.
if command -v nvcc > /dev/null || [ -x /usr/local/cuda/bin/nvcc ]; then
  if ! python3 -c "import importlib.util as u, sys; sys.exit(u.find_spec('nvidia.nccl') is None)" 2> /dev/null; then
    echo "setup: installing nvidia-nccl-cu13"
    python3 -m pip install --quiet --disable-pip-version-check nvidia-nccl-cu13 ||
      python3 -m pip install --quiet --disable-pip-version-check --break-system-packages nvidia-nccl-cu13 ||
      echo "setup: NCCL not installed: the NCCL collectives are left out of the build"
  fi
fi

launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache)
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release "${launcher[@]}" ${AUTOGLM_CMAKE_ARGS:-}
cmake --build "$build" -j "$(nproc)"
