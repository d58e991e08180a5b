#!/usr/bin/env bash
# One call on the GPU machine: build with CUDA, run the gpu tests (ops against the CPU, golden models on the
# GPU), compute-sanitizer on the op tests, then benchmark the Llama-3-8B shape with random bf16 weights.
# Prints a short table last; full logs go to $OUT (or ./device-out when run by hand).
#
#   bench/device/pack.sh          # on the development machine: CUDA binaries + libs into .carry/
#   device run: bash bench/device/run.sh [steps...]   carry: [".carry"]
# Without .carry/bin the script builds on the GPU machine (needs GoogleTest there, and
# bench/device/fetch_deps.sh for the PCRE2 and utf8proc headers).
# Steps (default: all but load, serve, http, matmul, gemm, owngemm, sampling, attention, batches and profile): build
# tests sanitize golden bench load serve http matmul gemm owngemm sampling attention batches profile nccl tp trace
# Environment: BATCHES (batches), SERVE_LIMIT, SERVE_SEQS and SERVE_TOKENS (serve: seconds per run, and
# --max-num-seqs / --max-batched-tokens of the throughput runs), SERVE_ARGS (more bench-serve flags, every
# run), TESTS_FILTER (tests: a gtest filter for test_cuda), CLOCK_LOG (1: log clocks and power), SERVE_RUNS (which of "mixed 128 prefix trace"; default all), GEMM_ARGS (gemm), OWNGEMM_ARGS (owngemm), ATTENTION_ARGS (attention), PROFILE_* (profile; PROFILE_WORKLOAD=mixed for mixed steps).
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-$PWD/device-out}
mkdir -p "$OUT"
STEPS=${*:-build tests sanitize golden bench}
has_step() { [[ " $STEPS " == *" $1 "* ]]; }
summary=()
note() { summary+=("$1"); echo "== $1"; }
# CLOCK_LOG=1: the SM clock, power and throttle reasons every 200 ms while the steps run ($OUT/clocks.csv), to
# tell a kernel's inefficiency from a device that lowered its clocks.
if [ "${CLOCK_LOG:-0}" = 1 ]; then
  nvidia-smi --query-gpu=timestamp,clocks.sm,clocks.mem,power.draw,temperature.gpu,utilization.gpu,clocks_event_reasons.active \
    --format=csv -lms 200 > "$OUT/clocks.csv" 2>&1 &
  clock_logger=$!
  trap 'kill $clock_logger 2> /dev/null' EXIT
fi

BUILD=build-device
# NCCL from the machine's nvidia-nccl wheel (too large to carry); NVLink multicast stays off on shared GPUs.
nccl_lib=$(python3 -c "import importlib.util as u; s = u.find_spec('nvidia.nccl'); print(list(s.submodule_search_locations)[0] + '/lib' if s else '')" 2> /dev/null)
[ -n "$nccl_lib" ] && export LD_LIBRARY_PATH=$nccl_lib:${LD_LIBRARY_PATH:-}
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
if compgen -G ".carry/bin/*.gz" > /dev/null; then
  # Binaries built on the development machine (bench/device/pack.sh; a call may carry only those it runs);
  # they read test data through the source path compiled into them.
  if [ -f .carry/lib/libs.tar.gz ]; then
    mkdir -p .carry/lib/so && tar -xzf .carry/lib/libs.tar.gz -C .carry/lib/so
  fi
  # The machine's own libraries first; the carried ones fill in what it lacks.
  export LD_LIBRARY_PATH=/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}:/usr/lib/x86_64-linux-gnu:$PWD/.carry/lib/so
  export AUTOGLM_SHARED_DATA=$PWD/.carry/shared
  [ -f .carry/shared/traces/trace_30min.jsonl.gz ] && gunzip -kf .carry/shared/traces/trace_30min.jsonl.gz
  [ -e /work/main ] || { mkdir -p /work && ln -s "$PWD" /work/main; }
  mkdir -p $BUILD/tests $BUILD/tools
  for t in test_cuda test_model_gpu test_nccl; do
    [ -f .carry/bin/$t.gz ] && gunzip -c .carry/bin/$t.gz > $BUILD/tests/$t
  done
  # The tools, and any other binary carried (e.g. an earlier build of autoglm for SERVE_BIN comparisons).
  for f in .carry/bin/*.gz; do
    t=$(basename "$f" .gz)
    case $t in test_*) ;; *) gunzip -c "$f" > $BUILD/tools/$t && chmod +x $BUILD/tools/$t ;; esac
  done
  chmod +x $BUILD/tests/* $BUILD/tools/*
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"
  note "build: prebuilt binaries from .carry/bin"
elif has_step build; then
  # Headers and static archives of the -dev packages (bench/device/fetch_deps.sh), unpacked into a private
  # prefix (never into /); linked statically because the runtime .so files are not in the -dev packages.
  PREFIX=/tmp/autoglm-deps
  if [ ! -d $PREFIX ]; then
    for f in .carry/debs/*.deb; do dpkg -x "$f" $PREFIX; done
    find $PREFIX -name '*.so' -delete
  fi
  export PKG_CONFIG_SYSROOT_DIR=$PREFIX
  export PKG_CONFIG_PATH=$PREFIX/usr/lib/x86_64-linux-gnu/pkgconfig
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"
  start=$(date +%s)
  cmake -S . -B $BUILD -G Ninja -DCMAKE_BUILD_TYPE=Release -DAUTOGLM_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90a-real \
    > "$OUT/configure.log" 2>&1 || { tail -30 "$OUT/configure.log"; exit 1; }
  if ! ninja -C $BUILD autoglm test_cuda test_model_gpu bench_matmul_cuda bench_sample_rows_cuda bench_paged_attention_cuda \
    bench_gemm_algos_cuda bench_gemm_wgmma_cuda > "$OUT/build.log" 2>&1; then
    grep -E "error|FAILED" -A3 "$OUT/build.log" | head -60
    exit 1
  fi
  note "build: ok in $(( $(date +%s) - start )) s"
fi

if has_step tests; then
  $BUILD/tests/test_cuda --gtest_brief=1 --gtest_filter="${TESTS_FILTER:-*}" > "$OUT/test_cuda.log" 2>&1
  rc=$?
  grep -E "FAILED|Failure|error" "$OUT/test_cuda.log" | head -40
  note "test_cuda: rc=$rc, $(grep -E '^\[  PASSED|^\[  FAILED' "$OUT/test_cuda.log" | head -2 | tr '\n' ' ')"
fi

if has_step sanitize; then
  # The backend tests provoke API errors on purpose (bad device index, a 1 PiB allocation): only memory
  # errors count here.
  timeout 400 compute-sanitizer --tool memcheck --report-api-errors no --error-exitcode 3 $BUILD/tests/test_cuda --gtest_brief=1 \
    > "$OUT/memcheck.log" 2>&1
  rc=$?
  grep -E "ERROR SUMMARY|Invalid|FAILED" "$OUT/memcheck.log" | head -20
  note "memcheck: rc=$rc, $(grep 'ERROR SUMMARY' "$OUT/memcheck.log" | tail -1)"
fi

if has_step nccl; then
  # Collectives over every GPU of the machine (one rank on a single-GPU machine).
  $BUILD/tests/test_nccl > "$OUT/nccl.log" 2>&1
  rc=$?
  grep -E "FAILED|Failure|NCCL group" -A3 "$OUT/nccl.log" | head -20
  note "test_nccl: rc=$rc, $(grep -E '^\[  PASSED|^\[  FAILED' "$OUT/nccl.log" | head -2 | tr '\n' ' ')"
fi

if has_step golden; then
  $BUILD/tests/test_model_gpu > "$OUT/golden.log" 2>&1
  rc=$?
  grep -E "FAILED|Failure" -A4 "$OUT/golden.log" | head -40
  grep -E "rel max-abs" "$OUT/golden.log" | sort -t' ' -k8 -g | tail -3
  note "golden on GPU: rc=$rc, $(grep -E '^\[  PASSED|^\[  FAILED' "$OUT/golden.log" | head -2 | tr '\n' ' ')"
fi

if has_step bench; then
  B="$BUILD/tools/autoglm bench --backend cuda --config bench/configs/llama3-8b.json --random-weights --dtype bf16"
  $B -p 128 -n 256 -r 3 --bandwidth-mib 4096 > "$OUT/bench_decode.txt" 2>&1
  cat "$OUT/bench_decode.txt"
  note "8B decode: $(grep tg256 "$OUT/bench_decode.txt" | cut -d'|' -f6-8)"
  $B -p 2048 -n 1 -r 3 --bandwidth-mib 4096 > "$OUT/bench_prefill.txt" 2>&1
  note "8B prefill: $(grep pp2048 "$OUT/bench_prefill.txt" | cut -d'|' -f6)"
fi

if has_step matmul; then
  # The matmul paths on the 8B projection shapes at decode batch sizes (tools/bench/matmul_cuda.cpp).
  $BUILD/tools/bench_matmul_cuda > "$OUT/bench_matmul.txt" 2>&1
  rc=$?
  cat "$OUT/bench_matmul.txt"
  note "matmul paths: rc=$rc, table above"
fi

if has_step gemm; then
  # cuBLASLt's heuristic choice against the fastest of its candidates at prefill and mixed-step row counts,
  # f32 and bf16 outputs (tools/bench/gemm_algos_cuda.cpp).
  $BUILD/tools/bench_gemm_algos_cuda ${GEMM_ARGS:-} > "$OUT/bench_gemm.txt" 2>&1
  rc=$?
  cat "$OUT/bench_gemm.txt"
  note "gemm algorithms: rc=$rc, table above"
fi

if has_step owngemm; then
  # Our Hopper GEMM against cuBLASLt: the projections, the gate/up outputs, the fused MLP, and with
  # OWNGEMM_ARGS="--sustain S" the rate at the power limit (tools/bench/gemm_wgmma_cuda.cpp).
  $BUILD/tools/bench_gemm_wgmma_cuda ${OWNGEMM_ARGS:-} > "$OUT/bench_owngemm.txt" 2>&1
  rc=$?
  cat "$OUT/bench_owngemm.txt"
  note "own gemm against cuBLASLt: rc=$rc, table above"
fi

if has_step attention; then
  # The paged-attention op in decode form, bf16 KV, 8B heads, at decode batch sizes and contexts
  # (tools/bench/paged_attention_cuda.cpp); rc 1 when its output differs from the CPU's.
  $BUILD/tools/bench_paged_attention_cuda ${ATTENTION_ARGS:-} > "$OUT/bench_attention.txt" 2>&1
  rc=$?
  cat "$OUT/bench_attention.txt"
  note "paged attention: rc=$rc, table above"
fi

if has_step sampling; then
  # The device sampler's cost at a decode step's scale (tools/bench/sample_rows_cuda.cpp).
  $BUILD/tools/bench_sample_rows_cuda > "$OUT/bench_sampling.txt" 2>&1
  note "sampling: rc=$?"
  cat "$OUT/bench_sampling.txt"
fi

if has_step batches; then
  # Decode step time at batch B on the paged engine: B requests of 128 in / 256 out decoding together.
  S="$BUILD/tools/autoglm bench-serve --backend cuda --config bench/configs/llama3-8b.json --random-weights --dtype bf16"
  for B in ${BATCHES:-1 2 4 8 16 32 64}; do
    $S --max-context 1024 --num-prompts $B --input-len 128 --output-len 256 --max-num-seqs $B \
      --max-batched-tokens 4096 > "$OUT/batch_$B.txt" 2>&1
    note "decode batch $B: $(grep -E '^\| TPOT' "$OUT/batch_$B.txt")"
  done
fi

if has_step profile; then
  # Kernel times of decode steps at batch PROFILE_BATCH (Nsight Compute, clocks left alone, caches not
  # flushed between kernels unless PROFILE_CACHE=all: a decode step streams its weights from HBM anyway): the
  # kernels of ~3 steps after the prompts are in and the decode graphs recorded.
  # PROFILE_WORKLOAD=mixed: mixed prefill + decode steps of the serving benchmark's mixed workload instead.
  B=${PROFILE_BATCH:-16}
  S="$BUILD/tools/autoglm bench-serve --backend cuda --config bench/configs/llama3-8b.json --random-weights --dtype bf16"
  if [ "${PROFILE_WORKLOAD:-decode}" = mixed ]; then
    W="--max-context 2048 --num-prompts 400 --input-len 128:1024 --output-len 128:512 --max-num-seqs 256 --max-batched-tokens 4096"
    SKIP=${PROFILE_SKIP:-60000} COUNT=${PROFILE_COUNT:-4000}
  else
    W="--max-context 1024 --num-prompts $B --input-len 128 --output-len 64 --max-num-seqs $B --max-batched-tokens 4096"
    SKIP=${PROFILE_SKIP:-6000} COUNT=${PROFILE_COUNT:-900}
  fi
  timeout 300 ncu --clock-control none --cache-control ${PROFILE_CACHE:-none} --metrics gpu__time_duration.sum --csv --launch-skip $SKIP \
    --launch-count $COUNT $S $W > "$OUT/profile_raw.csv" 2> "$OUT/profile.err"
  note "profile: rc=$?"
  python3 bench/device/kernel_table.py "$OUT/profile_raw.csv" | tee "$OUT/profile_table.txt" | head -40
  python3 bench/device/step_table.py "$OUT/profile_raw.csv" > "$OUT/profile_steps.txt"
  tail -1 "$OUT/profile_steps.txt"
fi

if has_step tp; then
  # Tensor parallelism over every GPU of the machine, random bf16 weights: decode ms/token at batch 1 (TPOT of
  # one request) and at batch 64, TP=1 against TP=all on the 8B shape, TP=all alone on the 70B shape; then
  # the same batch-1 run with every op timed (--profile: the all_reduce line is the collectives' time).
  NGPU=$(nvidia-smi -L | wc -l)
  T="$BUILD/tools/autoglm bench-serve --backend cuda --random-weights --dtype bf16 --max-context 1024 --input-len 128"
  for cfg in llama3-8b llama3-70b; do
    for tp in 1 $NGPU; do
      [ "$cfg" = llama3-70b ] && [ "$tp" -lt 2 ] && continue
      for batch in 1 64; do
        timeout ${TP_LIMIT:-300} $T --config bench/configs/$cfg.json --tensor-parallel $tp --num-prompts $batch \
          --max-num-seqs $batch --output-len 256 > "$OUT/tp_${cfg}_${tp}_$batch.txt" 2>&1
        note "tp $cfg x$tp batch $batch: $(grep -E '^\| TPOT' "$OUT/tp_${cfg}_${tp}_$batch.txt") $(grep -E '^throughput' "$OUT/tp_${cfg}_${tp}_$batch.txt")"
      done
    done
    # Batch-1 decode against its floor (the largest shard's bytes / one GPU's bandwidth): autoglm bench.
    for tp in 1 $NGPU; do
      [ "$cfg" = llama3-70b ] && [ "$tp" -lt 2 ] && continue
      timeout ${TP_LIMIT:-300} $BUILD/tools/autoglm bench --backend cuda --config bench/configs/$cfg.json --random-weights \
        -p 128 -n 128 -r 3 --tensor-parallel $tp > "$OUT/tp_bench_${cfg}_$tp.txt" 2>&1
      note "tp bench $cfg x$tp: $(grep -E 'tg128' "$OUT/tp_bench_${cfg}_$tp.txt")"
    done
    timeout ${TP_LIMIT:-300} $T --config bench/configs/$cfg.json --tensor-parallel $NGPU --num-prompts 1 --output-len 64 \
      --profile > "$OUT/tp_${cfg}_profile.txt" 2>&1
    note "tp $cfg x$NGPU op times: $(grep -E 'all_reduce|all_gather|matmul ' "$OUT/tp_${cfg}_profile.txt" | tr '\n' ' ')"
  done
fi

if has_step trace; then
  # Where the GPU's time goes over a whole mixed serving run: the kernel tracer (bench/device/kernel_trace.cpp,
  # CUPTI) prints busy time, idle gaps by size and kernels by family. TRACE_ARGS: more bench-serve flags.
  cupti_dir=$(dirname "$(ls /usr/local/cuda/extras/CUPTI/lib64/libcupti.so* /usr/local/cuda/lib64/libcupti.so* .carry/lib/libcupti.so* 2> /dev/null | head -1)")
  LD_LIBRARY_PATH=$cupti_dir:$LD_LIBRARY_PATH CUDA_INJECTION64_PATH=$PWD/.carry/lib/libkernel_trace.so \
    KERNEL_TRACE_OUT="$OUT/trace_kernels.txt" KERNEL_TRACE_SKIP_S=${TRACE_SKIP_S:-0} timeout ${SERVE_LIMIT:-150} \
    $BUILD/tools/autoglm bench-serve --backend cuda --config bench/configs/llama3-8b.json --random-weights --dtype bf16 \
    --max-context 2048 --num-prompts ${SERVE_N1:-1000} --input-len 128:1024 --output-len 128:512 \
    --max-num-seqs ${SERVE_SEQS:-512} --max-batched-tokens ${SERVE_TOKENS:-8192} ${TRACE_ARGS:-} > "$OUT/trace_serve.txt" 2>&1
  grep -E "throughput|step" "$OUT/trace_serve.txt" | head -8
  head -60 "$OUT/trace_kernels.txt"
  note "trace: $(head -1 "$OUT/trace_kernels.txt")"
fi

if has_step serve; then
  # Continuous batching over the paged KV cache, 8B shape, random bf16 weights, EOS ignored (bench-serve).
  # SERVE_BIN: another autoglm (an earlier build carried beside this one) for comparisons within one call.
  S="${SERVE_BIN:-$BUILD/tools/autoglm} bench-serve --backend cuda --config bench/configs/llama3-8b.json --random-weights --dtype bf16 ${SERVE_ARGS:-}"
  SERVE_LIMIT=${SERVE_LIMIT:-150}
  SEQS=${SERVE_SEQS:-256} TOKENS=${SERVE_TOKENS:-4096}
  RUNS=" ${SERVE_RUNS:-mixed 128 prefix trace} "
  if [[ $RUNS == *" mixed "* ]]; then
    timeout $SERVE_LIMIT $S --max-context 2048 --num-prompts ${SERVE_N1:-1000} --input-len 128:1024 --output-len 128:512 \
      --max-num-seqs $SEQS --max-batched-tokens $TOKENS --json "$OUT/serve_mixed.json" > "$OUT/serve_mixed.txt" 2>&1
    tail -22 "$OUT/serve_mixed.txt"
    note "serve 128-1024 in / 128-512 out: $(grep throughput "$OUT/serve_mixed.txt")"
  fi
  if [[ $RUNS == *" 128 "* ]]; then
    timeout $SERVE_LIMIT $S --max-context 1024 --num-prompts ${SERVE_N2:-2000} --input-len 128 --output-len 128 \
      --max-num-seqs $SEQS --max-batched-tokens $TOKENS --json "$OUT/serve_128.json" > "$OUT/serve_128.txt" 2>&1
    tail -22 "$OUT/serve_128.txt"
    note "serve 128 in / 128 out: $(grep throughput "$OUT/serve_128.txt")"
  fi
  if [[ $RUNS == *" prefix "* ]]; then
    # Prefix cache: 16 requests behind one 4,096-token system prompt, cold (no prefix caching) and warm (the
    # prompt ran once before).
    P="--max-context 8192 --num-prompts 16 --shared-prefix 4096 --input-len 128 --output-len 16 --max-batched-tokens 8192"
    timeout $SERVE_LIMIT $S $P --no-prefix-caching > "$OUT/serve_prefix_cold.txt" 2>&1
    timeout $SERVE_LIMIT $S $P --prefix-warmup > "$OUT/serve_prefix_warm.txt" 2>&1
    note "prefix 4096 TTFT cold: $(grep '^| TTFT' "$OUT/serve_prefix_cold.txt")"
    note "prefix 4096 TTFT warm: $(grep '^| TTFT' "$OUT/serve_prefix_warm.txt")"
  fi
  if [[ $RUNS == *" trace "* ]]; then
    # The first 500 requests of the real trace, arrivals 20x faster (2,000 do not finish within SERVE_LIMIT).
    timeout $SERVE_LIMIT $S --max-context 8192 --trace .carry/shared/traces/trace_30min.jsonl --max-requests 500 \
      --time-scale 0.05 --max-batched-tokens 8192 --json "$OUT/serve_trace.json" > "$OUT/serve_trace.txt" 2>&1
    tail -20 "$OUT/serve_trace.txt"
    note "trace replay (500 requests, 20x): $(grep throughput "$OUT/serve_trace.txt")"
  fi
fi

if has_step http; then
  # The OpenAI server over HTTP on the GPU: 8B shape, random bf16 weights, the Llama 3 tokenizer; the load test
  # streams from many clients at once and sets the client's latencies beside the engine's step time.
  $BUILD/tools/autoglm serve --backend cuda --random-weights bench/configs/llama3-8b.json --dtype bf16 \
    --tokenizer .carry/shared/tokenizers/llama3/tokenizer.model --served-model-name llama3-8b-random \
    --max-context 2048 --max-num-seqs 256 --max-num-batched-tokens 4096 --port 0 --port-file "$OUT/port" \
    > "$OUT/http_server.log" 2>&1 &
  SERVER=$!
  for _ in $(seq 1 240); do
    [ -s "$OUT/port" ] && python3 -c "import sys, urllib.request as u; u.urlopen(sys.argv[1], timeout=2)" \
      "http://127.0.0.1:$(cat "$OUT/port")/ready" 2> /dev/null && break
    sleep 0.5
  done
  PORT=$(cat "$OUT/port" 2>/dev/null)
  for c in ${HTTP_CLIENTS:-1 64 256}; do
    n=$((c == 1 ? 16 : 4 * c))
    timeout ${HTTP_LIMIT:-120} python3 bench/load/load_test.py --url "http://127.0.0.1:$PORT" --concurrency $c \
      --requests $n --max-tokens 128 --server-pid $SERVER --metrics --json "$OUT/http_c$c.json" \
      > "$OUT/http_c$c.txt" 2>&1
    cat "$OUT/http_c$c.txt"
    note "http $c clients: $(grep -E 'output tok/s' "$OUT/http_c$c.txt" | tr -s ' ')"
  done
  # The scrape after the load: the engine's gauges and the GPU's power, clock and power-cap state.
  python3 -c "import sys, urllib.request as u; print(u.urlopen(sys.argv[1], timeout=5).read().decode())" \
    "http://127.0.0.1:$PORT/metrics" > "$OUT/http_metrics.txt" 2>&1
  note "http metrics: $(grep -E '^autoglm:gpu_' "$OUT/http_metrics.txt" | tr '\n' ' ')"
  kill -TERM $SERVER; wait $SERVER; echo "server exit: $?"
  tail -5 "$OUT/http_server.log"
fi

if has_step load; then
  # 16 GB of bf16 safetensors in the page cache, then load + first token through the CLI.
  CKPT=/tmp/llama3-8b-random
  [ -f $CKPT/model.safetensors.index.json ] ||
    python3 tools/fixtures/make_random_checkpoint.py bench/configs/llama3-8b.json $CKPT > "$OUT/ckpt.log" 2>&1
  cat $CKPT/*.safetensors > /dev/null
  $BUILD/tools/autoglm bench --backend cuda -m $CKPT -p 16 -n 2 -r 1 --bandwidth-mib 1024 \
    > "$OUT/bench_load.txt" 2>&1
  cat "$OUT/bench_load.txt"
  note "8B safetensors load: $(grep -o 'load [0-9.]* s' "$OUT/bench_load.txt")"
fi

echo
echo "==== summary"
printf '%s\n' "${summary[@]}"
