// The paged-attention op (ops/paged_attention.h) in its decode form (every sequence one query row) or, with
// --prefill Q, its prefill form (every sequence's last min(Q, L) positions are query rows over a cached
// prefix, as a chunk of a chunked prefill) on the CUDA backend with bf16 (or, --cache fp8, f8_e4m3) KV
// caches, Llama-3-8B attention shape (32 query heads, 8 KV heads, head_dim 128, block size 16, scale 1 /
// sqrt(128)): time per call, KV bytes read, achieved bandwidth and its ratio to a measured copy bandwidth,
// for B sequences all of length L
// ("all L") and of seeded lengths uniform in [L/2, L] ("mixed"). Block tables are width / 16 entries wide
// whatever L is (the kernels size their key splits by the table width, as the engine's tables are sized by
// its max context), and the blocks of all sequences are a seeded random permutation of the pool's blocks (a
// fragmented cache). For B <= 64 the output is checked against the CPU backend's paged_attention on the same
// data (max abs error / max |cpu|); the exit status is 1 when an error exceeds 1e-2 of max |cpu output| or
// any output is NaN. Prefill rows report the attention FLOPs (4 * visible keys * head_dim per row and query
// head) per second, and are checked against the CPU while a call is at most 2e10 FLOPs.
//
//   bench_paged_attention_cuda [--batch 1,16,64,256] [--context 128,512,1024] [--width 2048] [--reps 20]
//                              [--prefill Q] [--beside-gemm M] [--gemm-sms N] [--cache bf16|fp8]
//                              [--decodes D] [--decode-context C] [--sustain SECONDS]
//                              [--bulk-copies on|off] [--warpgroup-mma on|off] [--hold-sms 0,66]
//
// --decodes D (with --prefill Q): a mixed step's attention, D decode rows of context C (default 768; mixed:
// uniform in [C/2, C]) ahead of the prompt rows: timed alone, the prompt rows alone, and both in one call
// (the op then runs the prompt rows on the backend's second lane beside the decodes).
// --sustain S: also replays each measurement's calls back to back for S seconds after as long a pre-heat and
// prints the rate and the device's power and SM clock over them (what the op draws near the power limit).
// --hold-sms N,...: the sustained runs are repeated with N SMs held by sleeping blocks (sm_holder.h), the op
// on the others: what it draws and how fast it reads on fewer SMs.
// --beside-gemm M: also times the bf16 GEMM of an [M, 4096] x against the 8B shape's gate/up weight
// [28672, 4096] (bf16 out) on a second stream, alone and started together with the attention calls, with as
// many GEMMs as take about as long as the attention calls: how much of the two a GPU runs at once, the
// question behind running a decode step's memory-bound attention beside its compute-bound projections.
// --gemm-sms N plans those GEMMs for N SMs (BackendOptions::gemm_sm_count), leaving the rest to the
// attention.
// --bulk-copies off: the decode kernel lands K and V by per-lane cp.async instead of bulk copies
// (BackendOptions::bulk_copies), for comparing the two.
// --warpgroup-mma off: the prefill rows take the mma.sync kernel instead of the warpgroup-MMA one on sm_90
// (BackendOptions::warpgroup_mma).
//
// Timing: each measurement is a CUDA graph of calls that rotate over enough independent copies of the caches,
// q and metadata (>= 256 MB of KV, at least 2 copies) that no call finds its KV in the 50 MB L2, replayed 5
// times; the median replay / calls. The graph holds `reps` calls rounded up to a multiple of the copies, so
// every copy is read equally often (small batches need hundreds of copies, hence that many calls). Every copy
// is called once before the recording (the op takes backend scratch for its split partials on first use).
// KV bytes per call: 2 (K and V) * sum(seq_lens) * kv_heads * head_dim * element bytes (2 bf16, 1 fp8).
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <numeric>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "backend/cuda/cuda_backend.h"
#include "core/fp8.h"
#include "core/half.h"
#include "cuda_timing.h"
#include "ops/matmul.h"
#include "ops/paged_attention.h"
#include "sm_holder.h"

namespace autoglm {
namespace {

using bench::check;
using bench::copy_bandwidth;
using bench::median_ms;
using bench::median_ms_beside;
using bench::parse_list;
using bench::RecordedCalls;
using bench::sustain;
using bench::Sustained;
using bench::time_calls;

constexpr int64_t kQHeads = 32, kKvHeads = 8, kHeadDim = 128, kBlockSize = 16;
constexpr int64_t kCheckMaxBatch = 64;  // larger batches are timed and checked for NaN only
// Relative to max |cpu output|: the bound tests/cuda/test_paged_attention.cpp holds the tensor-core kernels
// to (q and the probabilities rounded to bf16); a lost tile or a wrong mask costs 1e-1 or more.
constexpr double kMaxError = 1e-2;

// One batch on the host: what every device copy holds, and the CPU reference's inputs.
struct Batch {
  int64_t n_seqs = 0, n_blocks = 0, sum_lens = 0, rows = 0;
  int64_t n_decodes = 0, max_rows = 0;  // the leading one-row sequences; the most rows of one
  double flops = 0;                     // attention FLOPs of all query rows
  Tensor q, k, v, tables, q_start, seq_lens;
};

Tensor host_tensor(DType dtype, Shape shape) {
  Tensor t = Tensor::host(dtype, shape);
  if (!t.defined()) {
    std::fprintf(stderr, "host allocation of %lld elements failed\n", static_cast<long long>(shape.numel()));
    std::exit(1);
  }
  return t;
}

// A sequence of a batch: its length and how many of its last positions are query rows.
struct SeqShape {
  int64_t len, rows;
};

// n sequences of length len (mixed: uniform in [len/2, len]) with their last min(q_len, length) positions as
// query rows.
std::vector<SeqShape> seq_shapes(int64_t n, int64_t len, bool mixed, int64_t q_len, std::mt19937& rng) {
  std::uniform_int_distribution<int64_t> pick_len(std::max<int64_t>(1, len / 2), len);
  std::vector<SeqShape> shapes(static_cast<size_t>(n));
  for (SeqShape& sh : shapes) {
    sh.len = mixed ? pick_len(rng) : len;
    sh.rows = std::min(q_len, sh.len);
  }
  return shapes;
}

// The sequences `shapes` (decodes, if any, first) with tables of table_width entries; the pool holds exactly
// the sequences' blocks, handed out in a random order.
Batch make_batch(const std::vector<SeqShape>& shapes, int64_t table_width, DType cache_dtype,
                 std::mt19937& rng) {
  Batch h;
  const auto n_seqs = static_cast<int64_t>(shapes.size());
  h.n_seqs = n_seqs;
  for (const SeqShape& sh : shapes) {
    h.sum_lens += sh.len;
    h.n_blocks += (sh.len + kBlockSize - 1) / kBlockSize;
  }
  std::vector<int32_t> ids(static_cast<size_t>(h.n_blocks));
  std::iota(ids.begin(), ids.end(), 0);
  std::shuffle(ids.begin(), ids.end(), rng);
  h.tables = host_tensor(DType::kI32, Shape{n_seqs, table_width});
  h.q_start = host_tensor(DType::kI32, Shape{n_seqs + 1});
  h.seq_lens = host_tensor(DType::kI32, Shape{n_seqs});
  int32_t* tables = h.tables.as<int32_t>();
  std::fill(tables, tables + n_seqs * table_width, 0);  // entries past a sequence's blocks: never read
  size_t next = 0;
  for (int64_t s = 0; s < n_seqs; ++s) {
    const int64_t n = shapes[static_cast<size_t>(s)].len, rows = shapes[static_cast<size_t>(s)].rows;
    for (int64_t b = 0; b < (n + kBlockSize - 1) / kBlockSize; ++b)
      tables[s * table_width + b] = ids[next++];
    h.q_start.as<int32_t>()[s] = static_cast<int32_t>(h.rows);
    h.seq_lens.as<int32_t>()[s] = static_cast<int32_t>(n);
    h.rows += rows;
    h.max_rows = std::max(h.max_rows, rows);
    if (rows == 1 && s == h.n_decodes) ++h.n_decodes;
    for (int64_t pos = n - rows; pos < n; ++pos)
      h.flops += 4.0 * static_cast<double>(pos + 1) * kHeadDim * kQHeads;
  }
  h.q_start.as<int32_t>()[n_seqs] = static_cast<int32_t>(h.rows);
  const Shape cache{h.n_blocks * kBlockSize, kKvHeads, kHeadDim};
  h.k = host_tensor(cache_dtype, cache);
  h.v = host_tensor(cache_dtype, cache);
  for (Tensor* t : {&h.k, &h.v}) {
    for (int64_t i = 0; i < t->numel(); ++i) {  // uniform in [-1, 1)
      const float x = static_cast<float>(static_cast<int32_t>(static_cast<uint32_t>(rng()))) * 0x1p-31f;
      if (cache_dtype == DType::kF8E4M3) {
        t->as<uint8_t>()[i] = f32_to_fp8_e4m3(x);
      } else {
        t->as<uint16_t>()[i] = f32_to_bf16(x);
      }
    }
  }
  h.q = host_tensor(DType::kF32, Shape{h.rows, kQHeads, kHeadDim});
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (int64_t i = 0; i < h.q.numel(); ++i)
    h.q.as<float>()[i] = normal(rng);
  return h;
}

PagedAttentionArgs batch_args(const TensorView& q, const TensorView& k, const TensorView& v,
                              const TensorView& tables, const TensorView& q_start, const TensorView& seq_lens,
                              const TensorView& out, const Batch& h) {
  PagedAttentionArgs a;
  a.q = q;
  a.k_cache = k;
  a.v_cache = v;
  a.block_tables = tables;
  a.q_start = q_start;
  a.seq_lens = seq_lens;
  a.block_size = kBlockSize;
  a.max_q_len = h.max_rows;
  a.n_decode_seqs = h.n_decodes;
  a.scale = 1.0f / std::sqrt(static_cast<float>(kHeadDim));
  a.out = out;
  return a;
}

struct DeviceCopy {
  Tensor q, k, v, tables, q_start, seq_lens;
};

// The GEMM of --beside-gemm, on its own backend (its own stream).
class BesideGemm {
 public:
  BesideGemm(int64_t rows, int sm_count) : rows_(rows) {
    BackendOptions options;
    options.gemm_sm_count = sm_count;
    auto created = create_backend("cuda", options);
    check(created.status(), "second cuda backend");
    owned_ = std::move(created).value();
    CudaBackend& cuda = cuda_backend(*owned_);
    x_ = allocate(cuda, Shape{rows, kHidden});
    w_ = allocate(cuda, Shape{kGateUp, kHidden});
    out_ = allocate(cuda, Shape{rows, kGateUp});
    for (const Tensor* t : {&x_, &w_})  // 0x3c3c: bf16 0.0115, any finite value times the same
      check(cudaMemsetAsync(t->data(), 0x3c, t->nbytes(), cuda.stream()), "fill");
  }

  // GEMMs alone, then beside the `calls` attention calls of `attention` (sec per call, on stream s).
  void report(cudaStream_t s, int calls, double sec, const std::function<void(int)>& attention) {
    CudaBackend& cuda = cuda_backend(*owned_);
    const auto gemm = [&](int) {
      check(matmul(cuda, MatmulArgs{x_.view(), w_.view(), {}, out_.view()}), "matmul");
    };
    const double gemm_sec = time_calls(cuda.stream(), 2, 8, gemm);
    const int gemms = std::max(1, static_cast<int>(std::lround(sec * calls / gemm_sec)));
    const RecordedCalls a(s, calls, attention);
    const RecordedCalls b(cuda.stream(), gemms, gemm);
    const double a_ms = median_ms(s, [&] { a.replay(s); });
    const double b_ms = median_ms(cuda.stream(), [&] { b.replay(cuda.stream()); });
    const double both_ms = median_ms_beside(s, a, cuda.stream(), b);
    const double tflops = 2.0 * static_cast<double>(rows_) * kGateUp * kHidden * gemms / (b_ms * 1e-3) / 1e12;
    std::printf(
        "      beside %d GEMMs [%lld x %lld x %lld] (%.0f TFLOP/s alone): attention %.3f ms, GEMMs %.3f ms, "
        "one after the other %.3f ms, together %.3f ms (%.2fx)\n",
        gemms, static_cast<long long>(rows_), static_cast<long long>(kGateUp),
        static_cast<long long>(kHidden), tflops, a_ms, b_ms, a_ms + b_ms, both_ms, (a_ms + b_ms) / both_ms);
  }

 private:
  static constexpr int64_t kHidden = 4096, kGateUp = 28672;

  static Tensor allocate(CudaBackend& cuda, Shape shape) {
    auto t = cuda.allocate(DType::kBF16, shape);
    check(t.status(), "allocate");
    return std::move(t).value();
  }

  int64_t rows_;
  std::unique_ptr<Backend> owned_;
  Tensor x_, w_, out_;
};

Tensor upload(CudaBackend& cuda, const Tensor& host, const char* what) {
  auto allocated = cuda.allocate(host.dtype(), host.shape());
  check(allocated.status(), what);
  Tensor t = std::move(allocated).value();
  check(cuda.copy(t.view(), host.view()), what);
  return t;
}

// Times and checks one batch (its row of the table; `part` names which rows of a --decodes batch it holds);
// returns the seconds per call.
double measure(CudaBackend& cuda, Backend& cpu, const Batch& h, int reps, double bandwidth, DType cache_dtype,
               BesideGemm* gemm, double sustain_s, const std::vector<int64_t>& hold_sms, int64_t b,
               int64_t len, bool mixed, const char* part, bool* failed) {
  cudaStream_t s = cuda.stream();
  const size_t pool_bytes = 2 * h.k.nbytes();  // K and V of one copy
  const int copies = static_cast<int>(std::max<size_t>(2, (size_t{256} << 20) / pool_bytes + 1));
  const int calls = copies * ((std::max(reps, 1) + copies - 1) / copies);
  std::vector<DeviceCopy> dev(static_cast<size_t>(copies));
  for (DeviceCopy& d : dev) {
    d.q = upload(cuda, h.q, "upload q");
    d.k = upload(cuda, h.k, "upload k cache");
    d.v = upload(cuda, h.v, "upload v cache");
    d.tables = upload(cuda, h.tables, "upload block tables");
    d.q_start = upload(cuda, h.q_start, "upload q_start");
    d.seq_lens = upload(cuda, h.seq_lens, "upload seq_lens");
  }
  const Shape out_shape{h.rows, kQHeads, kHeadDim};
  auto allocated = cuda.allocate(DType::kF32, out_shape);
  check(allocated.status(), "allocate out");
  const Tensor out = std::move(allocated).value();
  const auto call = [&](int i) {
    const DeviceCopy& d = dev[static_cast<size_t>(i % copies)];
    check(paged_attention(cuda, batch_args(d.q.view(), d.k.view(), d.v.view(), d.tables.view(),
                                           d.q_start.view(), d.seq_lens.view(), out.view(), h)),
          "paged_attention");
  };
  const double sec = time_calls(s, copies, calls, call);
  check(cuda.synchronize(), "paged_attention on the device");
  if (gemm != nullptr) gemm->report(s, calls, sec, call);

  // Check the output of copy 0 (every copy holds the same values) on a poisoned output.
  check(cudaMemsetAsync(out.data(), 0xff, out.nbytes(), s), "poison");
  call(0);
  std::vector<float> got(static_cast<size_t>(out.numel()));
  check(cuda.copy(TensorView{got.data(), DType::kF32, out_shape, Device{}}, out.view()), "download");
  const bool finite = std::all_of(got.begin(), got.end(), [](float x) { return std::isfinite(x); });
  double err = 0;
  const bool compared = h.rows == h.n_decodes ? h.n_seqs <= kCheckMaxBatch : h.flops <= 2e10;
  if (compared) {
    std::vector<float> want(got.size());
    check(paged_attention(cpu, batch_args(h.q.view(), h.k.view(), h.v.view(), h.tables.view(),
                                          h.q_start.view(), h.seq_lens.view(),
                                          TensorView{want.data(), DType::kF32, out_shape, Device{}}, h)),
          "paged_attention on the cpu");
    double scale = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      const double d = std::fabs(static_cast<double>(got[i]) - want[i]);
      err = std::max(err, std::isfinite(d) ? d : INFINITY);
      scale = std::max(scale, std::fabs(static_cast<double>(want[i])));
    }
    err /= scale > 0 ? scale : 1.0;
  }
  *failed |= !finite || err > kMaxError;

  const double kv_bytes = 2.0 * static_cast<double>(h.sum_lens) * kKvHeads * kHeadDim *
                          static_cast<double>(dtype_size(cache_dtype));
  const double gbs = kv_bytes / sec / 1e9;
  char err_text[32];
  if (!finite) {
    std::snprintf(err_text, sizeof err_text, "NaN");
  } else if (compared) {
    std::snprintf(err_text, sizeof err_text, "%.2e", err);
  } else {
    std::snprintf(err_text, sizeof err_text, "-");
  }
  std::printf("%5lld %7lld %-6s %-8s %6d %9.1f %9.2f %8.0f %6.2f %8.1f %9s\n", static_cast<long long>(b),
              static_cast<long long>(len), mixed ? "mixed" : "all L", part, copies, sec * 1e6, kv_bytes / 1e6,
              gbs, gbs * 1e9 / bandwidth, h.flops / sec / 1e12, err_text);
  std::fflush(stdout);
  if (sustain_s > 0) {
    const RecordedCalls recorded(s, calls, call);
    for (const int64_t held : hold_sms) {
      const bench::SmHolder holder(static_cast<int>(held));
      const Sustained run = sustain(s, recorded, calls, sustain_s);
      std::printf("      sustained %.0f s, %lld SMs held: %.1f us/call, %.0f GB/s; %s\n", sustain_s,
                  static_cast<long long>(holder.held()), run.sec_per_call * 1e6,
                  kv_bytes / run.sec_per_call / 1e9, run.power.c_str());
      std::fflush(stdout);
    }
  }
  return sec;
}

int run(int argc, char** argv) {
  std::vector<int64_t> batches = {1, 16, 64, 256}, contexts = {128, 512, 1024};
  int64_t width = 2048, q_len = 1;
  int reps = 20;
  int64_t gemm_rows = 0, decodes = 0, decode_len = 768;
  double sustain_s = 0;
  std::vector<int64_t> hold_sms = {0};
  int gemm_sms = 0;
  DType cache_dtype = DType::kBF16;
  BackendOptions options;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--batch") batches = parse_list(argv[i + 1]);
    if (flag == "--context") contexts = parse_list(argv[i + 1]);
    if (flag == "--width") width = std::atoll(argv[i + 1]);
    if (flag == "--reps") reps = std::atoi(argv[i + 1]);
    if (flag == "--prefill") q_len = std::max<int64_t>(1, std::atoll(argv[i + 1]));
    if (flag == "--beside-gemm") gemm_rows = std::max<int64_t>(0, std::atoll(argv[i + 1]));
    if (flag == "--gemm-sms") gemm_sms = std::max(0, std::atoi(argv[i + 1]));
    if (flag == "--hold-sms") hold_sms = parse_list(argv[i + 1]);
    if (flag == "--sustain") sustain_s = std::max(0.0, std::atof(argv[i + 1]));
    if (flag == "--decodes") decodes = std::max<int64_t>(0, std::atoll(argv[i + 1]));
    if (flag == "--decode-context") decode_len = std::max<int64_t>(1, std::atoll(argv[i + 1]));
    if (flag == "--cache") cache_dtype = parse_dtype(argv[i + 1]).value_or(DType::kI32);
    if (flag == "--bulk-copies") options.bulk_copies = std::string(argv[i + 1]) != "off";
    if (flag == "--warpgroup-mma") options.warpgroup_mma = std::string(argv[i + 1]) != "off";
  }
  if (cache_dtype != DType::kBF16 && cache_dtype != DType::kF8E4M3) {
    std::fprintf(stderr, "--cache takes bf16 or fp8\n");
    return 1;
  }
  const int64_t table_width = (width + kBlockSize - 1) / kBlockSize;
  for (const int64_t len : contexts) {
    if (len < 1 || len > table_width * kBlockSize) {
      std::fprintf(stderr, "context %lld outside [1, --width %lld]\n", static_cast<long long>(len),
                   static_cast<long long>(width));
      return 1;
    }
  }
  auto created = create_backend("cuda", options);
  check(created.status(), "cuda backend");
  std::unique_ptr<Backend> owned = std::move(created).value();
  CudaBackend& cuda = cuda_backend(*owned);
  auto created_cpu = create_backend("cpu", {});
  check(created_cpu.status(), "cpu backend");
  std::unique_ptr<Backend> cpu = std::move(created_cpu).value();
  cudaStream_t s = cuda.stream();
  const double bandwidth = copy_bandwidth(s);
  if (sustain_s > 0) {
    // What plain copies draw at the HBM rate: the power a memory-bound op cannot go below.
    const size_t bytes = size_t{1} << 30;
    void *a = nullptr, *b = nullptr;
    check(cudaMalloc(&a, bytes), "malloc");
    check(cudaMalloc(&b, bytes), "malloc");
    check(cudaMemsetAsync(a, 1, bytes, s), "memset");
    const RecordedCalls copies(
        s, 4, [&](int) { check(cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice, s), "copy"); });
    const Sustained run = sustain(s, copies, 4, sustain_s);
    std::printf("copy of 1 GiB sustained %.0f s: %.0f GB/s (read + write); %s\n", sustain_s,
                2.0 * static_cast<double>(bytes) / run.sec_per_call / 1e9, run.power.c_str());
    cudaFree(a);
    cudaFree(b);
  }
  std::optional<BesideGemm> gemm;
  if (gemm_rows > 0) gemm.emplace(gemm_rows, gemm_sms);
  std::printf(
      "paged attention, query rows per sequence <= %lld: %s KV, heads %lld:%lld, head_dim %lld, block_size "
      "%lld, table %lld blocks\n",
      static_cast<long long>(q_len), std::string(dtype_name(cache_dtype)).c_str(),
      static_cast<long long>(kQHeads), static_cast<long long>(kKvHeads), static_cast<long long>(kHeadDim),
      static_cast<long long>(kBlockSize), static_cast<long long>(table_width));
  std::printf("copy bandwidth (read + write): %.0f GB/s\n", bandwidth / 1e9);
  std::printf("%5s %7s %-6s %-8s %6s %9s %9s %8s %6s %8s %9s\n", "batch", "context", "lens", "part", "copies",
              "us/call", "KV MB", "GB/s", "ratio", "TFLOP/s", "rel err");
  std::mt19937 rng(7);
  bool failed = false;
  for (const int64_t b : batches) {
    for (const int64_t len : contexts) {
      for (const bool mixed : {false, true}) {
        const std::vector<SeqShape> rows = seq_shapes(b, len, mixed, q_len, rng);
        if (decodes == 0) {
          const Batch h = make_batch(rows, table_width, cache_dtype, rng);
          measure(cuda, *cpu, h, reps, bandwidth, cache_dtype, gemm ? &*gemm : nullptr, sustain_s, hold_sms,
                  b, len, mixed, "-", &failed);
          continue;
        }
        // A mixed step's attention: the decodes alone, the prompt rows alone, and both in one call.
        const std::vector<SeqShape> decode_rows = seq_shapes(decodes, decode_len, mixed, 1, rng);
        std::vector<SeqShape> both = decode_rows;
        both.insert(both.end(), rows.begin(), rows.end());
        double alone = 0;
        for (const auto& [shapes, part] : {std::pair{&decode_rows, "decodes"}, std::pair{&rows, "prompts"}}) {
          const Batch h = make_batch(*shapes, table_width, cache_dtype, rng);
          alone += measure(cuda, *cpu, h, reps, bandwidth, cache_dtype, nullptr, sustain_s, hold_sms, b, len,
                           mixed, part, &failed);
        }
        const Batch h = make_batch(both, table_width, cache_dtype, rng);
        const double together = measure(cuda, *cpu, h, reps, bandwidth, cache_dtype, nullptr, sustain_s,
                                        hold_sms, b, len, mixed, "both", &failed);
        std::printf(
            "      %lld decodes of context %lld beside these prompt rows: one call %.1f us, the two alone "
            "%.1f us "
            "(%.2fx)\n",
            static_cast<long long>(decodes), static_cast<long long>(decode_len), together * 1e6, alone * 1e6,
            alone / together);
      }
    }
  }
  if (failed)
    std::fprintf(stderr, "FAILED: an output is NaN or differs from the CPU by more than %.0e of max |cpu|\n",
                 kMaxError);
  return failed ? 1 : 0;
}

}  // namespace
}  // namespace autoglm

int main(int argc, char** argv) {
  return autoglm::run(argc, argv);
}
