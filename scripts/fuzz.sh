#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/) with clang and runs each for SECONDS (default 30; the GGUF reader at
# least 60) from a seed corpus of the project's own valid files.
#   scripts/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-30}
shift || true
build=${AUTOGLM_FUZZ_BUILD_DIR:-$root/build-fuzz}
cxx=$(command -v clang++-14 || command -v clang++ || true)
if [ -z "$cxx" ]; then
  echo "fuzz: clang++ not found (scripts/setup.sh installs it)" >&2
  exit 1
fi
flags="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER="$cxx" \
  -DAUTOGLM_FUZZ=ON -DAUTOGLM_BUILD_TESTS=OFF -DAUTOGLM_CUDA=OFF -DCMAKE_CXX_FLAGS="$flags" \
  -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" >/dev/null
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for f in "$root"/fuzz/*_fuzz.cpp; do targets+=("$(basename "$f" .cpp)"); done
fi
cmake --build "$build" -j "$(nproc)" --target "${targets[@]}"

# Seeds: the project's own valid files of each format.
seed_dir() {
  local dir="$build/seeds/$1"
  mkdir -p "$dir"
  case "$1" in
    gguf_fuzz) cp "$root"/tests/data/gguf/*.gguf "$dir"/ 2>/dev/null || true ;;
    tokenizer_json_fuzz) cp "$root"/../shared/data/tokenizers/minilm/tokenizer.json "$dir"/ 2>/dev/null || true ;;
    chat_template_fuzz) cp "$root"/../shared/data/chat_templates/*.jinja "$dir"/ 2>/dev/null || true ;;
    tokenizer_codec_fuzz) head -c 4096 "$root"/../shared/data/corpus/tinyshakespeare.txt > "$dir/prose" ;;
    tiktoken_fuzz) head -n 300 "$root"/../shared/data/tokenizers/cl100k/cl100k_base.tiktoken > "$dir/cl100k_head" ;;
    openai_request_fuzz)
      printf '%s' '{"model":"m","prompt":["a",[1,2]],"max_tokens":8,"temperature":0.5,"stop":["x"],"n":2,"stream":true,"stream_options":{"include_usage":true},"logprobs":2,"seed":3}' > "$dir/completion"
      printf '%s' '{"model":"m","messages":[{"role":"system","content":"s"},{"role":"user","content":[{"type":"text","text":"hi"}]}],"max_completion_tokens":4,"logprobs":true,"top_logprobs":2,"tools":[],"chat_template_kwargs":{"a":1}}' > "$dir/chat" ;;
    sentencepiece_fuzz) cp "$root"/tests/data/tokenizer/gguf/spm/*.model "$dir"/ 2>/dev/null || true ;;
    safetensors_fuzz) cp "$root"/tests/data/fixtures/llama/model-00001-of-00005.safetensors "$dir"/ 2>/dev/null || true ;;
    hf_config_fuzz)
      for f in "$root"/tests/data/fixtures/*/config.json "$root"/tests/data/fixtures/*/generation_config.json; do
        cp "$f" "$dir/$(basename "$(dirname "$f")")_$(basename "$f")"
      done ;;
  esac
  echo "$dir"
}

for t in "${targets[@]}"; do
  corpus="$build/corpus/$t"
  mkdir -p "$corpus"
  t_seconds=$seconds
  if [ "$t" = gguf_fuzz ] && [ "$t_seconds" -lt 60 ]; then t_seconds=60; fi
  echo "fuzz: $t for ${t_seconds}s"
  "$build/fuzz/$t" -max_total_time="$t_seconds" -max_len=65536 -rss_limit_mb=2048 -print_final_stats=1 \
    "$corpus" "$(seed_dir "$t")" 2>&1 | tail -n 12
done
