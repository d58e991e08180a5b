#!/usr/bin/env bash
# Run on the development machine: copies the CUDA-enabled binaries of build/ (the test binaries need
# GoogleTest, which the GPU machine lacks) and the two shared libraries the GPU machine does not have into
# the git-ignored .carry/, which bench/device/run.sh uses when present. Name .carry in the device call's carry.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="${1:-$root/build}"
ninja -C "$build" autoglm test_cuda test_model_gpu test_nccl bench_matmul_cuda bench_sample_rows_cuda bench_paged_attention_cuda \
  bench_gemm_algos_cuda bench_gemm_wgmma_cuda
mkdir -p "$root/.carry/bin" "$root/.carry/lib"
rm -f "$root/.carry/bin/"*
# Compressed: the working tree plus what is carried must stay under the device tool's 64 MiB.
for bin in "$build/tools/autoglm" "$build/tools/bench_matmul_cuda" "$build/tools/bench_sample_rows_cuda" "$build/tests/test_cuda" \
  "$build/tests/test_model_gpu" "$build/tests/test_nccl" "$build/tools/bench_paged_attention_cuda" \
  "$build/tools/bench_gemm_algos_cuda" "$build/tools/bench_gemm_wgmma_cuda"; do
  gzip -9 -c "$bin" > "$root/.carry/bin/$(basename "$bin").gz"
done
# Every shared library the binary needs beyond glibc, libstdc++, CUDA and NCCL (the GPU machine's wheel has it:
# run.sh finds it) -- libcurl and its dependencies, pcre2, utf8proc, ... -- as one archive; run.sh unpacks it
# into a folder searched after the system's own.
rm -rf "$root/.carry/lib"
mkdir -p "$root/.carry/lib"
ldd "$build/tools/autoglm" | awk '$3 ~ /^\// {print $3}' |
  grep -vE '/(libc|libm|libdl|libpthread|librt|libresolv|libutil|libgcc_s|libstdc\+\+|libnccl)\.so|/cuda/' |
  tar -czhf "$root/.carry/lib/libs.tar.gz" --transform 's|.*/||' -T -
# The Llama 3 tokenizer, for serving the 8B shape over HTTP (run.sh http).
mkdir -p "$root/.carry/shared/tokenizers/llama3"
cp "$root/../shared/data/tokenizers/llama3/tokenizer.model" "$root/.carry/shared/tokenizers/llama3/"
# The shared data the GPU tests read (the real stories260K model and its reference text).
mkdir -p "$root/.carry/shared/models/stories260K"
cp "$root/../shared/data/models/stories260K/stories260K.gguf" \
  "$root/../shared/data/models/stories260K/expected_greedy_t0_n200.txt" "$root/.carry/shared/models/stories260K/"
# The serving trace bench-serve replays (bench/device/run.sh serve).
mkdir -p "$root/.carry/shared/traces"
gzip -9 -c "$root/../shared/data/traces/trace_30min.jsonl" > "$root/.carry/shared/traces/trace_30min.jsonl.gz"
# The kernel tracer (run.sh trace) and the CUPTI it needs.
cuda_root="$(dirname "$(dirname "$(readlink -f "$(command -v nvcc)")")")"
g++ -O2 -std=c++20 -shared -fPIC -I"$cuda_root/include" "$root/bench/device/kernel_trace.cpp" -L"$cuda_root/lib" \
  -L"$cuda_root/lib64" -lcupti -o "$root/.carry/lib/libkernel_trace.so"
cp -L "$(ls "$cuda_root"/lib*/libcupti.so.* | head -1)" "$root/.carry/lib/"
du -sh "$root/.carry"
