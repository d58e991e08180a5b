// paged_attention on the GPU against the CPU paged kernel on host copies of the same inputs (which is itself
// bit-exact with the contiguous CPU attention, tests/backend/test_paged_attention.cpp): f32 caches within
// 1e-5, bf16 / f16 caches against the CPU run on the same rounded cache values within 2e-3 (both widen to
// f32). Decode batches (q_len 1, and up to 4 rows: the split-K decode kernel), prefill batches mixing decode
// rows, chunks over a cached prefix and fresh prompts (the tiled kernel), contexts up to 4096, block sizes
// 1, 16 and 32 with shuffled block ids, GQA groups 1, 4, 5 and 8, head_dims 64, 80, 128, 256 and 320 (the
// generic kernel), windows and softcap. Every cache row no block table reaches is NaN (as are the rows past
// each sequence's length and the table entries past its blocks), so a read of any of them shows in the
// output. bf16 prefills with head_dims that are multiples of 16 take the tensor-core kernel (q and the
// probabilities rounded to bf16: within 1e-2), tested also with block sizes 1 to 128, query tiles cut
// anywhere and windows around the tile edges. Also: a decode step recorded once and replayed after the
// metadata, q and cache rows changed (the launch depends on shapes only), and metadata out of range giving
// NaN rows without a fault.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/kernels/prefill_row_blocks.h"
#include "core/half.h"
#include "cuda/cuda_harness.h"
#include "ops/paged_attention.h"

namespace autoglm {
namespace {

using test::GuardedDeviceOut;
using test::make_cpu;
using test::make_cuda;
using test::random_tensor;
using test::rel_max_abs_error;
using test::to_device;

struct SeqSpec {
  int64_t q_len, seq_len;
};

struct BatchSpec {
  std::vector<SeqSpec> seqs;
  int64_t q_heads = 8, kv_heads = 2, head_dim = 64, block_size = 16;
  int64_t window = 0;
  float softcap = 0.0f;
  DType cache_dtype = DType::kF32;
  int64_t extra_table_width = 1;  // table entries past the longest sequence (garbage, ignored)
  int64_t table_width = 0;        // > 0: this many entries per sequence instead
  int64_t pool_blocks = 0;        // > 0: this many cache blocks instead of the used ones plus 3
  bool hint_decodes = true;       // pass n_decode_seqs (the leading one-row sequences)
};

struct Problem {
  BatchSpec spec;
  Tensor q, k_cache, v_cache, block_tables, q_start, seq_lens;
  int64_t t = 0, max_q_len = 1, n_decode_seqs = 0;
};

void set_nan(Tensor& cache, int64_t e) {
  if (cache.dtype() == DType::kF32) {
    cache.as<float>()[e] = std::numeric_limits<float>::quiet_NaN();
  } else if (cache.dtype() == DType::kF8E4M3) {
    cache.as<uint8_t>()[e] = 0x7fu;  // NaN in e4m3
  } else {
    cache.as<uint16_t>()[e] = 0x7e00u;  // NaN in bf16 and in f16
  }
}

Problem make_problem(const BatchSpec& spec, uint64_t seed) {
  Problem p;
  p.spec = spec;
  const int64_t bs = spec.block_size, n_seqs = static_cast<int64_t>(spec.seqs.size());
  int64_t used_blocks = 0, max_blocks = 1;
  for (const SeqSpec& s : spec.seqs) {
    const int64_t n = (s.seq_len + bs - 1) / bs;
    used_blocks += n;
    max_blocks = std::max(max_blocks, n + spec.extra_table_width);
    if (spec.hint_decodes && s.q_len == 1 && p.n_decode_seqs == static_cast<int64_t>(&s - spec.seqs.data()))
      ++p.n_decode_seqs;
    p.t += s.q_len;
    p.max_q_len = std::max(p.max_q_len, s.q_len);
  }
  if (spec.table_width > 0) max_blocks = spec.table_width;
  const int64_t n_blocks = spec.pool_blocks > 0 ? spec.pool_blocks : used_blocks + 3;
  const Shape cache_shape{n_blocks * bs, spec.kv_heads, spec.head_dim};
  p.q = random_tensor(DType::kF32, Shape{p.t, spec.q_heads, spec.head_dim}, seed);
  p.k_cache = random_tensor(spec.cache_dtype, cache_shape, seed + 1);
  p.v_cache = random_tensor(spec.cache_dtype, cache_shape, seed + 2);
  std::vector<int32_t> ids(static_cast<size_t>(n_blocks));
  std::iota(ids.begin(), ids.end(), 0);
  std::mt19937_64 rng(seed + 3);
  std::shuffle(ids.begin(), ids.end(), rng);
  p.block_tables = Tensor::host(DType::kI32, Shape{n_seqs, max_blocks});
  p.q_start = Tensor::host(DType::kI32, Shape{n_seqs + 1});
  p.seq_lens = Tensor::host(DType::kI32, Shape{n_seqs});
  std::vector<bool> row_used(static_cast<size_t>(n_blocks * bs), false);
  size_t next = 0;
  int32_t q_begin = 0;
  for (int64_t s = 0; s < n_seqs; ++s) {
    const SeqSpec& seq = spec.seqs[static_cast<size_t>(s)];
    int32_t* table = p.block_tables.as<int32_t>() + s * max_blocks;
    std::fill(table, table + max_blocks, 1 << 30);  // far outside the cache: must be ignored
    for (int64_t b = 0; b < (seq.seq_len + bs - 1) / bs; ++b)
      table[b] = ids[next++];
    for (int64_t j = 0; j < seq.seq_len; ++j)
      row_used[static_cast<size_t>(table[j / bs] * bs + j % bs)] = true;
    p.q_start.as<int32_t>()[s] = q_begin;
    q_begin += static_cast<int32_t>(seq.q_len);
    p.seq_lens.as<int32_t>()[s] = static_cast<int32_t>(seq.seq_len);
  }
  p.q_start.as<int32_t>()[n_seqs] = q_begin;
  const int64_t row_elems = spec.kv_heads * spec.head_dim;
  for (int64_t row = 0; row < n_blocks * bs; ++row) {
    if (row_used[static_cast<size_t>(row)]) continue;
    for (int64_t e = row * row_elems; e < (row + 1) * row_elems; ++e) {
      set_nan(p.k_cache, e);
      set_nan(p.v_cache, e);
    }
  }
  return p;
}

PagedAttentionArgs args_of(const Problem& p, const TensorView& q, const TensorView& k, const TensorView& v,
                           const TensorView& tables, const TensorView& q_start, const TensorView& seq_lens,
                           const TensorView& out) {
  PagedAttentionArgs a;
  a.q = q;
  a.k_cache = k;
  a.v_cache = v;
  a.block_tables = tables;
  a.q_start = q_start;
  a.seq_lens = seq_lens;
  a.block_size = p.spec.block_size;
  a.max_q_len = p.max_q_len;
  a.n_decode_seqs = p.n_decode_seqs;
  a.scale = p.spec.softcap > 0 ? 1.0f : 1.0f / std::sqrt(static_cast<float>(p.spec.head_dim));
  a.window = p.spec.window;
  a.softcap = p.spec.softcap;
  a.out = out;
  return a;
}

std::vector<float> run_cpu(const Problem& p) {
  auto cpu = make_cpu(4);
  std::vector<float> out(static_cast<size_t>(p.q.numel()));
  const TensorView out_view{out.data(), DType::kF32, p.q.shape(), Device{}};
  const Status s =
      paged_attention(*cpu, args_of(p, p.q.view(), p.k_cache.view(), p.v_cache.view(), p.block_tables.view(),
                                    p.q_start.view(), p.seq_lens.view(), out_view));
  EXPECT_TRUE(s.is_ok()) << s.to_string();
  return out;
}

std::string describe(const Problem& p) {
  std::string text = std::string(dtype_name(p.spec.cache_dtype)) + " heads " +
                     std::to_string(p.spec.q_heads) + ":" + std::to_string(p.spec.kv_heads) + " head_dim " +
                     std::to_string(p.spec.head_dim) + " block_size " + std::to_string(p.spec.block_size) +
                     " window " + std::to_string(p.spec.window) + " softcap " +
                     std::to_string(p.spec.softcap) + " seqs";
  for (const SeqSpec& s : p.spec.seqs)
    text += " " + std::to_string(s.q_len) + "/" + std::to_string(s.seq_len);
  return text;
}

// The bf16 tensor-core prefill (paged_attention_bf16_prefill.cu: bf16 and f8_e4m3 caches, head_dim a multiple
// of 16 up to 256, more than 4 rows in some sequence) and decode (paged_attention_decode_tc.cu: head_dim 64,
// 128 or 256) round q and the probabilities to bf16 (f16 in the decode over f8_e4m3): 1e-2 of max|cpu|, the
// bound of the contiguous tensor-core prefill (tests/cuda/test_attention_bf16.cpp says why), while a wrong
// mask, a lost tile or a skipped rescale costs 1e-1 or more. Everything else widens the cache to f32 and
// differs from the CPU only in summation order. With softcap the tests take scale 1 rather than 1 / sqrt(D):
// scores, and the error that rounding q adds to them, grow by sqrt(D) (x16 at D = 256; measured 1.4e-2 on an
// H100 with cap 30), so those cases get 3e-2, still well below what a wrong mask costs.
bool uses_tensor_cores(const Problem& p) {
  const int64_t d = p.spec.head_dim;
  const bool prefill = p.max_q_len > 4 && d % 16 == 0 && d <= 256;
  const bool decode = d == 64 || d == 128 || d == 256;  // paged_attention_decode_tc.cu
  const DType c = p.spec.cache_dtype;
  return (c == DType::kBF16 || c == DType::kF8E4M3) && (prefill || decode);
}

double tolerance(const Problem& p) {
  if (uses_tensor_cores(p)) return p.spec.softcap > 0.0f ? 3e-2 : 1e-2;
  return p.spec.cache_dtype == DType::kF32 ? 1e-5 : 2e-3;
}

// The op on the GPU; empty (and a test failure) when it fails.
std::vector<float> run_cuda(Backend& cuda, const Problem& p) {
  const Tensor q = to_device(cuda, p.q), k = to_device(cuda, p.k_cache), v = to_device(cuda, p.v_cache);
  const Tensor tables = to_device(cuda, p.block_tables), q_start = to_device(cuda, p.q_start),
               seq_lens = to_device(cuda, p.seq_lens);
  GuardedDeviceOut out(cuda, p.q.shape());
  const Status s = paged_attention(cuda, args_of(p, q.view(), k.view(), v.view(), tables.view(),
                                                 q_start.view(), seq_lens.view(), out.view()));
  EXPECT_TRUE(s.is_ok()) << s.to_string();
  EXPECT_TRUE(cuda.synchronize().is_ok());
  if (!s.is_ok()) return {};
  out.expect_clean();
  return out.values();
}

void expect_matches_cpu(Backend& cuda, const Problem& p) {
  SCOPED_TRACE(describe(p));
  const std::vector<float> want = run_cpu(p);
  const std::vector<float> got = run_cuda(cuda, p);
  ASSERT_EQ(got.size(), want.size());
  EXPECT_LE(rel_max_abs_error(got, want), tolerance(p));
}

struct Heads {
  int64_t q_heads, kv_heads, head_dim;
};

const Heads kHeads[] = {{8, 2, 64}, {4, 4, 128}, {32, 8, 128}, {10, 2, 80}, {16, 2, 256}, {8, 1, 64}};

TEST(CudaPagedAttention, DecodeMatchesCpu) {
  auto cuda = make_cuda();
  ASSERT_NE(cuda, nullptr);
  uint64_t seed = 2000;
  for (const DType dtype : {DType::kF32, DType::kBF16, DType::kF16, DType::kF8E4M3}) {
    for (const Heads& h : kHeads) {
      for (const int64_t block_size : {16, 32}) {
        BatchSpec spec;
        spec.seqs = {{1, 1}, {1, 17}, {1, 300}, {1, 1000}, {1, 33}};
        spec.q_heads = h.q_heads;
        spec.kv_heads = h.kv_heads;
        spec.head_dim = h.head_dim;
        spec.block_size = block_size;
        spec.cache_dtype = dtype;
        expect_matches_cpu(*cuda, make_problem(spec, seed += 4));
      }
    }
  }
}

// The decode over bf16 caches lands its K and V tiles by the copy unit on sm_90+
// (BackendOptions::bulk_copies; rows of 256 bytes or more, so head_dim 128 and 256, while 64 keeps cp.async
// either way): whole tiles by tensor copies with blocks of 16 and 32 keys, row by row with blocks of 8; or by
// per-lane cp.async. The same values reach the same products, so the outputs are the same bits, and both
// match the CPU. Windows and short sequences put range edges inside tiles (V rows of keys outside the range,
// NaN in the cache, zeroed after a whole tile landed or instead of copied), block size 8 takes the per-key
// lookups, and 5,000 keys take several splits.
TEST(CudaPagedAttention, BulkCopiesGiveThePerLaneCopiesBits) {
  BackendOptions per_lane;
  per_lane.bulk_copies = false;
  auto bulk = make_cuda();
  auto copies = make_cuda(per_lane);
  ASSERT_NE(bulk, nullptr);
  ASSERT_NE(copies, nullptr);
  uint64_t seed = 9100;
  for (const Heads& h : {Heads{32, 8, 128}, Heads{8, 2, 64}, Heads{16, 2, 256}, Heads{8, 1, 64}}) {
    for (const int64_t block_size : {8, 16, 32}) {
      for (const int64_t window : {0, 37}) {
        BatchSpec spec;
        spec.seqs = {{1, 1}, {1, 15}, {1, 16}, {1, 77}, {1, 5000}, {2, 300}, {1, 1023}};
        spec.q_heads = h.q_heads;
        spec.kv_heads = h.kv_heads;
        spec.head_dim = h.head_dim;
        spec.block_size = block_size;
        spec.window = window;
        spec.cache_dtype = DType::kBF16;
        const Problem p = make_problem(spec, seed += 3);
        SCOPED_TRACE(describe(p));
        const std::vector<float> want = run_cpu(p);
        const std::vector<float> a = run_cuda(*bulk, p);
        const std::vector<float> b = run_cuda(*copies, p);
        ASSERT_EQ(a.size(), want.size());
        ASSERT_EQ(b.size(), want.size());
        EXPECT_LE(rel_max_abs_error(a, want), tolerance(p));
        EXPECT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * sizeof(float)));
      }
    }
  }
}

// Up to 4 rows per sequence (speculative decoding) still take the decode kernel.
TEST(CudaPagedAttention, MultiRowDecodeMatchesCpu) {
  auto cuda = make_cuda();
  ASSERT_NE(cuda, nullptr);
  for (const DType dtype : {DType::kF32, DType::kBF16, DType::kF8E4M3}) {
    for (const int64_t window : {0, 7}) {
      BatchSpec spec;
      spec.seqs = {{4, 4}, {1, 50}, {3, 200}, {2, 129}};
      spec.cache_dtype = dtype;
      spec.window = window;
      expect_matches_cpu(*cuda, make_problem(spec, 2100 + window));
    }
  }
}

// One long context and a short one: the splits cut the table width, most of them empty for the short one.
TEST(CudaPagedAttention, LongContextDecodeMatchesCpu) {
  auto cuda = make_cuda();
  ASSERT_NE(cuda, nullptr);
  for (const DType dtype : {DType::kF32, DType::kBF16, DType::kF8E4M3}) {
    for (const Heads& h : {Heads{32, 8, 128}, Heads{8, 2, 64}}) {
      BatchSpec spec;
      spec.seqs = {{1, 4096}, {1, 5}};
      spec.q_heads = h.q_heads;
      spec.kv_heads = h.kv_heads;
      spec.head_dim = h.head_dim;
      spec.block_size = 32;
      spec.cache_dtype = dtype;
      expect_matches_cpu(*cuda, make_problem(spec, 2200));
      spec.seqs = {{1, 4000}};
      spec.window = 1024;
      expect_matches_cpu(*cuda, make_problem(spec, 2210));
    }
  }
}

TEST(CudaPagedAttention, PrefillMatchesCpu) {
  auto cuda = make_cuda();
  ASSERT_NE(cuda, nullptr);
  uint64_t seed = 2300;
  for (const DType dtype : {DType::kF32, DType::kBF16, DType::kF8E4M3}) {
    for (const Heads& h : kHeads) {
      BatchSpec spec;
      spec.seqs = {{1, 300}, {17, 50}, {100, 100}, {5, 5}, {40, 77}};
      spec.q_heads = h.q_heads;
      spec.kv_heads = h.kv_heads;
      spec.head_dim = h.head_dim;
      spec.cache_dtype = dtype;
      expect_matches_cpu(*cuda, make_problem(spec, seed += 4));
    }
  }
}

// Decodes first, then prefill chunks: the decode rows take the decode kernels (n_decode_seqs), the rest the
// prefill kernel through offset metadata; both halves and the unhinted launch match the CPU.
TEST(CudaPagedAttention, MixedBatchSplitsDecodesFromPrefills) {
  auto cuda = make_cuda();
  ASSERT_NE(cuda, nullptr);
  uint64_t seed = 2350;
  for (const DType dtype : {DType::kF32, DType::kBF16, DType::kF8E4M3}) {
    for (const bool hint : {true, false}) {
      BatchSpec spec;
      spec.seqs = {{1, 300}, {1, 1}, {1, 2000}, {1, 65}, {17, 50}, {100, 100}, {1, 9}, {40, 77}};
      spec.q_heads = 32;
      spec.kv_heads = 8;
      spec.head_dim = 128;
      spec.cache_dtype = dtype;
      spec.hint_decodes = hint;
      expect_matches_cpu(*cuda, make_problem(spec, seed += 4));
    }
  }
}

TEST(CudaPagedAttention, BlockSizesWindowsAndSoftcap) {
  auto cuda = make_cuda();
  ASSERT_NE(cuda, nullptr);
  uint64_t seed = 2400;
  for (const int64_t block_size : {1, 16, 32}) {
    for (const int64_t window : {0, 1, 5, 40}) {
      for (const float softcap : {0.0f, 30.0f}) {
        for (const std::vector<SeqSpec>& seqs : {std::vector<SeqSpec>{{1, 90}, {1, 37}, {1, 1}},
                                                 std::vector<SeqSpec>{{20, 90}, {1, 37}, {9, 9}}}) {
          BatchSpec spec;
          spec.seqs = seqs;
          spec.block_size = block_size;
          spec.window = window;
          spec.softcap = softcap;
          expect_matches_cpu(*cuda, make_problem(spec, seed += 4));
        }
      }
    }
  }
}

TEST(CudaPagedAttention, LongPrefillMatchesCpu) {
  auto cuda = make_cuda();
  ASSERT_NE(cuda, nullptr);
  for (const DType dtype : {DType::kF32, DType::kBF16}) {
    BatchSpec spec;
    spec.seqs = {{1024, 4096}, {1, 2000}, {300, 300}};
    spec.q_heads = 32;
    spec.kv_heads = 8;
    spec.head_dim = 128;
    spec.block_size = 32;
    spec.cache_dtype = dtype;
    expect_matches_cpu(*cuda, make_problem(spec, 2500));
  }
}

// The tensor-core prefill over bf16 caches: block sizes from 1 (a key tile spans 64 blocks) to 128 (a tile
// within one block), query tiles of 64 rows cut anywhere (5 to 600 rows), chunks over a cached prefix up to
// 4096 positions, decodes in front, GQA 32:8 with head_dim 128 and 8:2 with 64.
TEST(CudaPagedAttention, TensorCorePrefillBlockSizes) {
  auto cuda = make_cuda();
  ASSERT_NE(cuda, nullptr);
  uint64_t seed = 2900;
  for (const int64_t block_size : {1, 16, 32, 64, 128}) {
    for (const Heads& h : {Heads{32, 8, 128}, Heads{8, 2, 64}}) {
      BatchSpec spec;
      spec.seqs = {{1, 100}, {5, 5}, {17, 300}, {64, 64}, {65, 129}, {127, 1000}, {200, 333}};
      if (h.head_dim == 64) spec.seqs.push_back({600, 4096});
      spec.q_heads = h.q_heads;
      spec.kv_heads = h.kv_heads;
      spec.head_dim = h.head_dim;
      spec.block_size = block_size;
      spec.cache_dtype = DType::kBF16;
      expect_matches_cpu(*cuda, make_problem(spec, seed += 4));
    }
  }
}

// Every head_dim the tensor-core prefill compiles (multiples of 16 up to 256), bf16 and f8_e4m3 caches: each
// instantiation has its own copy layout (chunks per key row, keys per pass of the block's threads).
TEST(CudaPagedAttention, TensorCorePrefillEveryHeadDim) {
  auto cuda = make_cuda();
  ASSERT_NE(cuda, nullptr);
  uint64_t seed = 3200;
  for (int64_t head_dim = 16; head_dim <= 256; head_dim += 16) {
    for (const DType dtype : {DType::kBF16, DType::kF8E4M3}) {
      BatchSpec spec;
      spec.seqs = {{1, 40}, {37, 100}, {70, 70}, {130, 200}};
      spec.q_heads = 4;
      spec.kv_heads = 2;
      spec.head_dim = head_dim;
      spec.cache_dtype = dtype;
      expect_matches_cpu(*cuda, make_problem(spec, seed += 4));
    }
  }
}

// Windows around the key tile (64) and the query tile (64), with and without softcap, through the tensor
// cores; head_dims 128 and 256 (32-key tiles).
TEST(CudaPagedAttention, TensorCorePrefillWindowsAndSoftcap) {
  auto cuda = make_cuda();
  ASSERT_NE(cuda, nullptr);
  uint64_t seed = 3000;
  for (const int64_t head_dim : {128, 256}) {
    for (const int64_t window : {0, 1, 31, 64, 65, 200}) {
      for (const float softcap : {0.0f, 30.0f}) {
        BatchSpec spec;
        spec.seqs = {{1, 50}, {70, 70}, {130, 900}, {5, 40}, {300, 2100}};
        spec.q_heads = 8;
        spec.kv_heads = 2;
        spec.head_dim = head_dim;
        spec.block_size = 16;
        spec.window = window;
        spec.softcap = softcap;
        spec.cache_dtype = DType::kBF16;
        expect_matches_cpu(*cuda, make_problem(spec, seed += 4));
      }
    }
  }
}

// Launches large enough that the tensor-core prefill takes two 16-row blocks per warp (128-row query tiles;
// backend/cuda/kernels/prefill_row_blocks.h), on any device of up to 164 SMs: bf16 and f8_e4m3 caches, a
// window across tiles, softcap, head_dim 128 and 64, a decode in front and query tiles cut short.
TEST(CudaPagedAttention, TensorCorePrefillTwoRowBlocksPerWarp) {
  auto cuda = make_cuda();
  ASSERT_NE(cuda, nullptr);
  cudaDeviceProp props{};
  ASSERT_EQ(cudaGetDeviceProperties(&props, 0), cudaSuccess);
  struct Case {
    int64_t q_heads, kv_heads, head_dim, window;
    float softcap;
    DType cache;
  };
  const Case cases[] = {{64, 8, 128, 0, 0.0f, DType::kBF16},
                        {64, 8, 128, 0, 0.0f, DType::kF8E4M3},
                        {64, 8, 128, 65, 30.0f, DType::kBF16},
                        {64, 16, 64, 0, 0.0f, DType::kBF16}};
  uint64_t seed = 3100;
  for (const Case& c : cases) {
    BatchSpec spec;
    spec.seqs = {{1, 500}, {600, 1200}, {70, 70}, {450, 3000}};
    spec.q_heads = c.q_heads;
    spec.kv_heads = c.kv_heads;
    spec.head_dim = c.head_dim;
    spec.window = c.window;
    spec.softcap = c.softcap;
    spec.cache_dtype = c.cache;
    const Problem p = make_problem(spec, seed += 4);
    ASSERT_EQ(attention_bf16::prefill_launch_row_blocks(p.t - p.n_decode_seqs, c.q_heads, c.head_dim,
                                                        props.multiProcessorCount),
              2);
    expect_matches_cpu(*cuda, p);
  }
}

// The prefill over bf16 caches at head_dim 128 runs on Hopper's warpgroup MMA on sm_90
// (paged_attention_prefill_wgmma.cu: the query heads of a KV head packed as the rows of 128- or 192-row
// tiles) and on mma.sync elsewhere or with BackendOptions::warpgroup_mma off. Both match the CPU and, without
// a window, give the same bits (the same products summed in the same order: k-steps of 16 dims for S, of 16
// keys for P V, tiles of 64 keys from key 0; with a window each kernel starts its tiles at the first key its
// block's rows see, and its blocks hold other rows), and the backend names the kernel each took: on a
// Hopper the block shape wgmma_prefill_warpgroups picks for the launch's sequences (1, 2 and 7 prompts take
// both). GQA groups 1, 4, 7 and 64 (tiles of 128 or 192 packed rows: 2 to 192 query rows), block sizes 1 (a
// key tile spans 64 blocks), 16 and 48 (tiles straddle blocks), windows around the tile edges, softcap,
// chunks over cached prefixes, decodes in front, and partial tiles.
TEST(CudaPagedAttention, WarpgroupPrefillMatchesCpuAndMmaSync) {
  BackendOptions mma_sync_only;
  mma_sync_only.warpgroup_mma = false;
  auto warpgroup = make_cuda();
  auto mma_sync = make_cuda(mma_sync_only);
  ASSERT_NE(warpgroup, nullptr);
  ASSERT_NE(mma_sync, nullptr);
  cudaDeviceProp props{};
  ASSERT_EQ(cudaGetDeviceProperties(&props, 0), cudaSuccess);
  struct Case {
    Heads heads;
    int64_t block_size, window;
    float softcap;
  };
  const Case cases[] = {{{32, 8, 128}, 16, 0, 0.0f},  {{32, 8, 128}, 1, 0, 0.0f},
                        {{32, 8, 128}, 48, 0, 0.0f},  {{28, 4, 128}, 16, 0, 0.0f},
                        {{8, 8, 128}, 16, 0, 0.0f},   {{64, 1, 128}, 16, 0, 0.0f},
                        {{32, 8, 128}, 16, 37, 0.0f}, {{28, 4, 128}, 16, 64, 0.0f},
                        {{32, 8, 128}, 16, 0, 30.0f}, {{8, 8, 128}, 32, 65, 30.0f}};
  const std::vector<SeqSpec> prompt_sets[] = {
      {{5, 5}, {17, 300}, {64, 64}, {65, 129}, {127, 1000}, {200, 333}, {600, 2100}},
      {{600, 2100}},
      {{65, 129}, {300, 700}}};
  uint64_t seed = 5100;
  for (const Case& c : cases) {
    for (const std::vector<SeqSpec>& prompts : prompt_sets) {
      for (const bool decodes : {true, false}) {
        BatchSpec spec;
        spec.seqs = prompts;
        if (decodes) spec.seqs.insert(spec.seqs.begin(), {{1, 300}, {1, 9}});
        spec.q_heads = c.heads.q_heads;
        spec.kv_heads = c.heads.kv_heads;
        spec.head_dim = c.heads.head_dim;
        spec.block_size = c.block_size;
        spec.window = c.window;
        spec.softcap = c.softcap;
        spec.cache_dtype = DType::kBF16;
        const Problem p = make_problem(spec, seed += 4);
        SCOPED_TRACE(describe(p));
        const std::vector<float> want = run_cpu(p);
        const std::vector<float> got = run_cuda(*warpgroup, p);
        const std::string kernel = static_cast<CudaBackend&>(*warpgroup).last_launch();
        const std::vector<float> got_mma_sync = run_cuda(*mma_sync, p);
        const std::string mma_sync_kernel = static_cast<CudaBackend&>(*mma_sync).last_launch();
        ASSERT_EQ(got.size(), want.size());
        ASSERT_EQ(got_mma_sync.size(), want.size());
        EXPECT_LE(rel_max_abs_error(got, want), tolerance(p));
        EXPECT_LE(rel_max_abs_error(got_mma_sync, want), tolerance(p));
        if (c.window == 0) {
          EXPECT_EQ(std::memcmp(got.data(), got_mma_sync.data(), got.size() * sizeof(float)), 0);
        }
        if (!decodes) {  // else the decode kernel (or the join of the two streams) launched last
          const std::string hopper_kernel =
              "paged_prefill_wgmma_kernel<" +
              std::to_string(attention_bf16::wgmma_prefill_warpgroups(static_cast<int64_t>(prompts.size()))) +
              ">";
          EXPECT_EQ(kernel, props.major == 9 ? hopper_kernel : "paged_attention_prefill_bf16_kernel");
          EXPECT_EQ(mma_sync_kernel, "paged_attention_prefill_bf16_kernel");
        }
      }
    }
  }
}

// head_dim past the register kernels: the generic kernel, decode and prefill.
TEST(CudaPagedAttention, WideHeadsMatchCpu) {
  auto cuda = make_cuda();
  ASSERT_NE(cuda, nullptr);
  for (const DType dtype : {DType::kF32, DType::kBF16}) {
    BatchSpec spec;
    spec.seqs = {{1, 70}, {12, 40}};
    spec.q_heads = 4;
    spec.kv_heads = 2;
    spec.head_dim = 320;
    spec.cache_dtype = dtype;
    expect_matches_cpu(*cuda, make_problem(spec, 2600));
  }
}

// A decode step recorded once, then replayed after the metadata (longer sequences, new blocks), q and the
// cache rows were rewritten in place: the replay attends the new state.
TEST(CudaPagedAttention, RecordedDecodeReplaysWithNewMetadata) {
  auto cuda = make_cuda();
  ASSERT_NE(cuda, nullptr);
  BatchSpec first;
  first.seqs = {{1, 100}, {1, 7}, {1, 1500}};
  first.q_heads = 32;
  first.kv_heads = 8;
  first.head_dim = 128;
  first.block_size = 16;
  first.cache_dtype = DType::kBF16;
  first.table_width = 128;  // room to grow: the shapes stay, the metadata changes
  first.pool_blocks = 200;
  BatchSpec second = first;
  second.seqs = {{1, 101}, {1, 400}, {1, 1520}};
  const Problem a = make_problem(first, 2700), b = make_problem(second, 2701);
  ASSERT_EQ(a.block_tables.shape(), b.block_tables.shape());
  ASSERT_EQ(a.k_cache.shape(), b.k_cache.shape());

  const Tensor q = to_device(*cuda, a.q), k = to_device(*cuda, a.k_cache), v = to_device(*cuda, a.v_cache);
  const Tensor tables = to_device(*cuda, a.block_tables), q_start = to_device(*cuda, a.q_start),
               seq_lens = to_device(*cuda, a.seq_lens);
  GuardedDeviceOut out(*cuda, a.q.shape());
  const PagedAttentionArgs args =
      args_of(a, q.view(), k.view(), v.view(), tables.view(), q_start.view(), seq_lens.view(), out.view());
  auto work = cuda->capture([&] { return paged_attention(*cuda, args); });
  ASSERT_TRUE(work.has_value()) << work.status().to_string();
  ASSERT_TRUE((*work)->replay().is_ok());
  ASSERT_TRUE(cuda->synchronize().is_ok());
  out.expect_clean();
  EXPECT_LE(rel_max_abs_error(out.values(), run_cpu(a)), tolerance(a)) << "first replay";

  for (const auto& [dst, src] : {std::pair<const Tensor*, const Tensor*>{&q, &b.q},
                                 {&k, &b.k_cache},
                                 {&v, &b.v_cache},
                                 {&tables, &b.block_tables},
                                 {&q_start, &b.q_start},
                                 {&seq_lens, &b.seq_lens}})
    ASSERT_TRUE(cuda->copy(dst->view(), src->view()).is_ok());
  ASSERT_TRUE((*work)->replay().is_ok());
  ASSERT_TRUE(cuda->synchronize().is_ok());
  out.expect_clean();
  EXPECT_LE(rel_max_abs_error(out.values(), run_cpu(b)), tolerance(b)) << "second replay";
}

// Metadata the op cannot check (it lives on the device): a block id outside the cache, a length past the
// table. That sequence's rows are NaN, nothing outside the cache is read, the other sequences are right.
TEST(CudaPagedAttention, BadMetadataPoisonsOnlyItsSequence) {
  auto cuda = make_cuda();
  ASSERT_NE(cuda, nullptr);
  for (const DType dtype : {DType::kF32, DType::kBF16, DType::kF8E4M3}) {
    for (const bool prefill : {false, true}) {
      for (const int which : {0, 1}) {
        for (const Heads& h : {Heads{8, 2, 64}, Heads{32, 8, 128}}) {
          BatchSpec spec;
          spec.seqs = prefill ? std::vector<SeqSpec>{{5, 40}, {20, 50}, {2, 20}}
                              : std::vector<SeqSpec>{{1, 40}, {1, 50}, {1, 20}};
          spec.q_heads = h.q_heads;
          spec.kv_heads = h.kv_heads;
          spec.head_dim = h.head_dim;
          spec.cache_dtype = dtype;
          Problem p = make_problem(spec, 2800);
          const int64_t max_blocks = p.block_tables.shape()[1];
          if (which == 0) {
            p.block_tables.as<int32_t>()[1 * max_blocks + 1] = 1 << 20;  // sequence 1's second block
          } else {
            p.seq_lens.as<int32_t>()[1] = static_cast<int32_t>(max_blocks * spec.block_size + 1);
          }
          SCOPED_TRACE(describe(p) + (which == 0 ? " bad block id" : " bad length"));
          const Tensor q = to_device(*cuda, p.q), k = to_device(*cuda, p.k_cache),
                       v = to_device(*cuda, p.v_cache);
          const Tensor tables = to_device(*cuda, p.block_tables), q_start = to_device(*cuda, p.q_start),
                       seq_lens = to_device(*cuda, p.seq_lens);
          GuardedDeviceOut out(*cuda, p.q.shape());
          ASSERT_TRUE(paged_attention(*cuda, args_of(p, q.view(), k.view(), v.view(), tables.view(),
                                                     q_start.view(), seq_lens.view(), out.view()))
                          .is_ok());
          ASSERT_TRUE(cuda->synchronize().is_ok());
          const std::vector<float> got = out.values();
          const int64_t row_elems = spec.q_heads * spec.head_dim;
          const int64_t bad_begin = p.q_start.as<int32_t>()[1] * row_elems,
                        bad_end = p.q_start.as<int32_t>()[2] * row_elems;
          if (which == 1) {  // the whole sequence is refused
            for (int64_t i = bad_begin; i < bad_end; ++i)
              ASSERT_TRUE(std::isnan(got[static_cast<size_t>(i)])) << "element " << i;
          }
          for (int64_t i = 0; i < p.t * row_elems; ++i) {
            if (i >= bad_begin && i < bad_end) continue;
            ASSERT_TRUE(std::isfinite(got[static_cast<size_t>(i)])) << "element " << i;
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace autoglm

namespace autoglm {
namespace {

// bf16 rows (ops/paged_attention.h, for a bf16 o projection): the bits of the f32 rows of the same kernels
// rounded to nearest-even, through every path that takes them: tensor-core decode with one split and with
// several (then the merge kernel writes them), the CUDA-core decode (head_dim 96), the tensor-core prefill
// and mixed batches. And a request the kernels cannot serve so (f32 caches) is refused.
TEST(CudaPagedAttention, Bf16RowsAreTheF32RowsRounded) {
  auto cuda = make_cuda();
  ASSERT_NE(cuda, nullptr);
  const std::vector<std::vector<SeqSpec>> batches = {
      {{1, 700}, {1, 33}},                       // decode, few rows: key splits and the merge
      {{1, 300}, {1, 1}, {1, 2000}, {1, 65}},    // decode
      {{17, 50}, {100, 100}, {40, 77}},          // prefill
      {{1, 300}, {1, 9}, {17, 50}, {100, 100}},  // mixed
  };
  uint64_t seed = 4100;
  for (const DType cache_dtype : {DType::kBF16, DType::kF8E4M3}) {
    for (const int64_t head_dim : {64, 96, 128}) {
      for (const auto& seqs : batches) {
        BatchSpec spec;
        spec.seqs = seqs;
        spec.q_heads = 16;
        spec.kv_heads = 4;
        spec.head_dim = head_dim;
        spec.cache_dtype = cache_dtype;
        const Problem p = make_problem(spec, seed += 4);
        SCOPED_TRACE(describe(p));
        const Tensor q = to_device(*cuda, p.q), k = to_device(*cuda, p.k_cache),
                     v = to_device(*cuda, p.v_cache);
        const Tensor tables = to_device(*cuda, p.block_tables), q_start = to_device(*cuda, p.q_start),
                     seq_lens = to_device(*cuda, p.seq_lens);
        Tensor wide = cuda->allocate(DType::kF32, p.q.shape()).value();
        Tensor narrow = cuda->allocate(DType::kBF16, p.q.shape()).value();
        for (Tensor* out : {&wide, &narrow}) {
          const Status s = paged_attention(*cuda, args_of(p, q.view(), k.view(), v.view(), tables.view(),
                                                          q_start.view(), seq_lens.view(), out->view()));
          ASSERT_TRUE(s.is_ok()) << s.to_string();
        }
        std::vector<float> f32(static_cast<size_t>(p.q.numel()));
        std::vector<uint16_t> bf16(f32.size());
        ASSERT_TRUE(
            cuda->copy(TensorView{f32.data(), DType::kF32, p.q.shape(), Device{}}, wide.view()).is_ok());
        ASSERT_TRUE(
            cuda->copy(TensorView{bf16.data(), DType::kBF16, p.q.shape(), Device{}}, narrow.view()).is_ok());
        size_t mismatches = 0;
        for (size_t i = 0; i < f32.size(); ++i) {
          const bool both_nan = std::isnan(f32[i]) && std::isnan(bf16_to_f32(bf16[i]));
          mismatches += !both_nan && f32_to_bf16(f32[i]) != bf16[i];
        }
        EXPECT_EQ(mismatches, 0u);
      }
    }
  }
  // f32 caches: bf16 rows are refused, nothing written.
  BatchSpec spec;
  spec.seqs = {{1, 40}};
  const Problem p = make_problem(spec, 4200);
  const Tensor q = to_device(*cuda, p.q), k = to_device(*cuda, p.k_cache), v = to_device(*cuda, p.v_cache);
  const Tensor tables = to_device(*cuda, p.block_tables), q_start = to_device(*cuda, p.q_start),
               seq_lens = to_device(*cuda, p.seq_lens);
  Tensor narrow = cuda->allocate(DType::kBF16, p.q.shape()).value();
  const Status refused = paged_attention(*cuda, args_of(p, q.view(), k.view(), v.view(), tables.view(),
                                                        q_start.view(), seq_lens.view(), narrow.view()));
  EXPECT_FALSE(refused.is_ok());
  EXPECT_NE(refused.message().find("out"), std::string::npos) << refused.to_string();
}

}  // namespace
}  // namespace autoglm
