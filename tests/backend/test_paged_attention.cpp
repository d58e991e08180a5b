// paged_attention on the CPU backend: every sequence of a batch is bit for bit what the contiguous attention
// op gives for it alone, over a contiguous cache gathered from its blocks (q_pos0 = seq_len - q_len), on the
// same backend (the pool size picks the key chunks of both). Batches mix decode rows, prefill chunks over a
// cached prefix and fresh prompts; block ids are shuffled, block sizes 1, 16 and 32, sequence lengths not
// multiples of the block size; GQA ratios 1 and 4; windows and softcap; long decodes split into chunks;
// 1 to 4 threads. Cache rows that no block table reaches hold NaN, as do the rows past each sequence's
// length in its last block and the table entries past its blocks, so any stray read shows. bf16 / f16
// caches equal the f32 contiguous op on the widened values. Also: metadata the kernel cannot follow gives
// NaN rows of that sequence only, and the argument checks.
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

#include "core/fp8.h"
#include "core/half.h"
#include "ops/attention.h"
#include "ops/paged_attention.h"
#include "support/guarded_output.h"
#include "support/test_data.h"

namespace autoglm {
namespace {

using test::GuardedOut;
using test::make_cpu;
using test::random_tensor;

struct SeqSpec {
  int64_t q_len, seq_len;
};

struct BatchSpec {
  std::vector<SeqSpec> seqs;
  int64_t q_heads = 8, kv_heads = 2, head_dim = 64, block_size = 16;
  int64_t window = 0;
  float softcap = 0.0f;
  DType cache_dtype = DType::kF32;
  int64_t spare_blocks = 3;  // blocks no table names (NaN)
};

struct Problem {
  BatchSpec spec;
  Tensor q, k_cache, v_cache, block_tables, q_start, seq_lens;
  std::vector<std::vector<int32_t>> blocks;  // per sequence, in position order
  int64_t t = 0, max_q_len = 1;
};

float nan_value() {
  return std::numeric_limits<float>::quiet_NaN();
}

// Element e of a cache as f32 (the widened value for bf16 / f16 / f8_e4m3).
float cache_value(const Tensor& cache, int64_t e) {
  switch (cache.dtype()) {
    case DType::kF32:
      return cache.as<float>()[e];
    case DType::kBF16:
      return bf16_to_f32(cache.as<uint16_t>()[e]);
    case DType::kF8E4M3:
      return fp8_e4m3_to_f32(cache.as<uint8_t>()[e]);
    default:
      return f16_to_f32(cache.as<uint16_t>()[e]);
  }
}

void set_nan(Tensor& cache, int64_t e) {
  if (cache.dtype() == DType::kF32) {
    cache.as<float>()[e] = nan_value();
  } else if (cache.dtype() == DType::kF8E4M3) {
    cache.as<uint8_t>()[e] = 0x7fu;
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
    max_blocks = std::max(max_blocks, n + 1);  // one entry past every sequence (garbage, ignored)
    p.t += s.q_len;
    p.max_q_len = std::max(p.max_q_len, s.q_len);
  }
  const int64_t n_blocks = used_blocks + spec.spare_blocks;
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
    std::vector<int32_t> mine;
    for (int64_t b = 0; b < (seq.seq_len + bs - 1) / bs; ++b) {
      table[b] = ids[next++];
      mine.push_back(table[b]);
    }
    for (int64_t j = 0; j < seq.seq_len; ++j)
      row_used[static_cast<size_t>(mine[static_cast<size_t>(j / bs)] * bs + j % bs)] = true;
    p.blocks.push_back(mine);
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

float scale_of(const BatchSpec& spec) {
  // With a softcap, unscaled scores make the cap bend them noticeably.
  return spec.softcap > 0 ? 1.0f : 1.0f / std::sqrt(static_cast<float>(spec.head_dim));
}

PagedAttentionArgs args_of(const Problem& p, const TensorView& out) {
  PagedAttentionArgs a;
  a.q = p.q.view();
  a.k_cache = p.k_cache.view();
  a.v_cache = p.v_cache.view();
  a.block_tables = p.block_tables.view();
  a.q_start = p.q_start.view();
  a.seq_lens = p.seq_lens.view();
  a.block_size = p.spec.block_size;
  a.max_q_len = p.max_q_len;
  a.scale = scale_of(p.spec);
  a.window = p.spec.window;
  a.softcap = p.spec.softcap;
  a.out = out;
  return a;
}

// The contiguous op on sequence s alone, over its rows gathered (widened to f32) from its blocks.
std::vector<float> contiguous_reference(Backend& backend, const Problem& p, int64_t s) {
  const BatchSpec& spec = p.spec;
  const SeqSpec& seq = spec.seqs[static_cast<size_t>(s)];
  const int64_t row_elems = spec.kv_heads * spec.head_dim, bs = spec.block_size;
  Tensor k = Tensor::host(DType::kF32, Shape{seq.seq_len, spec.kv_heads, spec.head_dim});
  Tensor v = Tensor::host(DType::kF32, Shape{seq.seq_len, spec.kv_heads, spec.head_dim});
  for (int64_t j = 0; j < seq.seq_len; ++j) {
    const int64_t row = int64_t{p.blocks[static_cast<size_t>(s)][static_cast<size_t>(j / bs)]} * bs + j % bs;
    for (int64_t e = 0; e < row_elems; ++e) {
      k.as<float>()[j * row_elems + e] = cache_value(p.k_cache, row * row_elems + e);
      v.as<float>()[j * row_elems + e] = cache_value(p.v_cache, row * row_elems + e);
    }
  }
  const int64_t q_begin = p.q_start.as<int32_t>()[s];
  std::vector<float> out(static_cast<size_t>(seq.q_len * spec.q_heads * spec.head_dim));
  AttentionArgs a{
      p.q.view().rows(q_begin, q_begin + seq.q_len),
      k.view(),
      v.view(),
      seq.seq_len - seq.q_len,
      scale_of(spec),
      spec.window,
      spec.softcap,
      TensorView{out.data(), DType::kF32, Shape{seq.q_len, spec.q_heads, spec.head_dim}, Device{}}};
  const Status status = attention(backend, a);
  EXPECT_TRUE(status.is_ok()) << status.to_string();
  return out;
}

// Every sequence's rows of the paged output equal the contiguous op's bit for bit.
void expect_matches_contiguous(Backend& backend, const Problem& p) {
  GuardedOut out(p.q.shape());
  const Status status = paged_attention(backend, args_of(p, out.view()));
  ASSERT_TRUE(status.is_ok()) << status.to_string();
  out.expect_clean();
  const std::vector<float> got = out.values();
  const int64_t row_elems = p.spec.q_heads * p.spec.head_dim;
  for (int64_t s = 0; s < static_cast<int64_t>(p.spec.seqs.size()); ++s) {
    SCOPED_TRACE("sequence " + std::to_string(s) + " q_len " + std::to_string(p.spec.seqs[s].q_len) +
                 " seq_len " + std::to_string(p.spec.seqs[s].seq_len));
    const std::vector<float> want = contiguous_reference(backend, p, s);
    const float* mine = got.data() + p.q_start.as<int32_t>()[s] * row_elems;
    ASSERT_EQ(std::memcmp(mine, want.data(), want.size() * sizeof(float)), 0) << "first difference: " << [&] {
      for (size_t i = 0; i < want.size(); ++i) {
        if (std::memcmp(&mine[i], &want[i], sizeof(float)) != 0) {
          return "element " + std::to_string(i) + ": " + std::to_string(mine[i]) + " vs " +
                 std::to_string(want[i]);
        }
      }
      return std::string("none");
    }();
  }
}

// Decode rows, a prefill chunk over a cached prefix, a fresh prompt, a one-token sequence, a few rows late in
// a long context.
const std::vector<SeqSpec> kMixed = {{1, 300}, {17, 50}, {20, 20}, {1, 1}, {3, 700}, {1, 37}};

TEST(PagedAttention, MixedBatchEqualsContiguousPerSequence) {
  for (const int n_threads : {1, 4}) {
    auto backend = make_cpu(n_threads);
    for (const int64_t block_size : {1, 16, 32}) {
      for (const auto& [q_heads, kv_heads] : {std::pair<int64_t, int64_t>{4, 4}, {8, 2}}) {
        SCOPED_TRACE("threads " + std::to_string(n_threads) + " block_size " + std::to_string(block_size) +
                     " heads " + std::to_string(q_heads) + ":" + std::to_string(kv_heads));
        BatchSpec spec;
        spec.seqs = kMixed;
        spec.q_heads = q_heads;
        spec.kv_heads = kv_heads;
        spec.block_size = block_size;
        expect_matches_contiguous(*backend, make_problem(spec, 1000 + block_size + q_heads));
      }
    }
  }
}

TEST(PagedAttention, WindowAndSoftcap) {
  auto backend = make_cpu(3);
  for (const int64_t window : {0, 1, 5, 40}) {
    for (const float softcap : {0.0f, 30.0f}) {
      SCOPED_TRACE("window " + std::to_string(window) + " softcap " + std::to_string(softcap));
      BatchSpec spec;
      spec.seqs = kMixed;
      spec.window = window;
      spec.softcap = softcap;
      expect_matches_contiguous(*backend, make_problem(spec, 1100 + window));
    }
  }
}

// head_dims that are not multiples of the 8-float vectors, and MQA.
TEST(PagedAttention, OddHeadDims) {
  auto backend = make_cpu(2);
  for (const int64_t head_dim : {10, 40, 80}) {
    SCOPED_TRACE("head_dim " + std::to_string(head_dim));
    BatchSpec spec;
    spec.seqs = kMixed;
    spec.q_heads = 6;
    spec.kv_heads = 1;
    spec.head_dim = head_dim;
    spec.block_size = 16;
    expect_matches_contiguous(*backend, make_problem(spec, 1200 + head_dim));
  }
}

// Long decodes whose rows are split into key chunks (fewer units than threads), next to a prefill whose
// rows are not: each sequence chunked as it would be alone.
TEST(PagedAttention, LongDecodeSplitIntoChunks) {
  for (const int n_threads : {3, 4, 5}) {
    auto backend = make_cpu(n_threads);
    SCOPED_TRACE("threads " + std::to_string(n_threads));
    BatchSpec spec;
    spec.seqs = {{1, 4096}, {2, 2500}, {33, 1000}, {1, 700}};
    spec.block_size = 32;
    expect_matches_contiguous(*backend, make_problem(spec, 1300 + n_threads));
    spec.window = 1000;
    expect_matches_contiguous(*backend, make_problem(spec, 1310 + n_threads));
  }
}

// A sequence's output does not depend on its batch: alone, first, last, next to long sequences.
TEST(PagedAttention, SequenceIndependentOfBatch) {
  auto backend = make_cpu(4);
  BatchSpec alone;
  alone.seqs = {{5, 400}};
  const Problem single = make_problem(alone, 1400);
  GuardedOut single_out(single.q.shape());
  ASSERT_TRUE(paged_attention(*backend, args_of(single, single_out.view())).is_ok());
  const std::vector<float> want = single_out.values();

  // The same rows in a bigger batch: copy q and the blocks into the new problem's layout.
  BatchSpec crowd;
  crowd.seqs = {{1, 3000}, {5, 400}, {64, 64}};
  Problem many = make_problem(crowd, 1401);
  const int64_t row_elems = alone.kv_heads * alone.head_dim, bs = alone.block_size;
  const int64_t q_elems = alone.q_heads * alone.head_dim;
  std::memcpy(many.q.as<float>() + 1 * q_elems, single.q.as<float>(), single.q.nbytes());
  for (int64_t j = 0; j < 400; ++j) {
    const int64_t from = int64_t{single.blocks[0][j / bs]} * bs + j % bs;
    const int64_t to = int64_t{many.blocks[1][j / bs]} * bs + j % bs;
    std::memcpy(many.k_cache.as<float>() + to * row_elems, single.k_cache.as<float>() + from * row_elems,
                row_elems * sizeof(float));
    std::memcpy(many.v_cache.as<float>() + to * row_elems, single.v_cache.as<float>() + from * row_elems,
                row_elems * sizeof(float));
  }
  GuardedOut out(many.q.shape());
  ASSERT_TRUE(paged_attention(*backend, args_of(many, out.view())).is_ok());
  out.expect_clean();
  const std::vector<float> got = out.values();
  EXPECT_EQ(std::memcmp(got.data() + q_elems, want.data(), want.size() * sizeof(float)), 0);
}

TEST(PagedAttention, NarrowCachesEqualF32OnWidenedValues) {
  auto backend = make_cpu(4);
  for (const DType dtype : {DType::kBF16, DType::kF16, DType::kF8E4M3}) {
    SCOPED_TRACE(dtype_name(dtype));
    BatchSpec spec;
    spec.seqs = {{1, 300}, {17, 50}, {1, 2000}, {2, 33}};
    spec.cache_dtype = dtype;
    expect_matches_contiguous(*backend, make_problem(spec, 1500));
  }
}

// bf16 rows over bf16 or f8_e4m3 caches (for a bf16 o projection): the f32 rows rounded to nearest-even;
// over f32 caches or an odd head_dim they are refused.
TEST(PagedAttention, Bf16RowsAreTheF32RowsRounded) {
  auto backend = make_cpu(2);
  BatchSpec spec;
  spec.seqs = {{1, 300}, {17, 50}, {2, 33}};
  for (const DType cache_dtype : {DType::kBF16, DType::kF8E4M3}) {
    SCOPED_TRACE(dtype_name(cache_dtype));
    spec.cache_dtype = cache_dtype;
    const Problem p = make_problem(spec, 1600);
    Tensor wide = Tensor::host(DType::kF32, p.q.shape()), narrow = Tensor::host(DType::kBF16, p.q.shape());
    ASSERT_TRUE(paged_attention(*backend, args_of(p, wide.view())).is_ok());
    ASSERT_TRUE(paged_attention(*backend, args_of(p, narrow.view())).is_ok());
    for (int64_t i = 0; i < wide.numel(); ++i)
      ASSERT_EQ(f32_to_bf16(wide.as<float>()[i]), narrow.as<uint16_t>()[i]) << "element " << i;
  }
  spec.cache_dtype = DType::kBF16;
  for (const auto& [dtype, head_dim] :
       {std::pair{DType::kF32, int64_t{64}}, std::pair{DType::kBF16, int64_t{40}}}) {
    BatchSpec other = spec;
    other.cache_dtype = dtype;
    other.head_dim = head_dim;
    const Problem q = make_problem(other, 1601);
    Tensor out = Tensor::host(DType::kBF16, q.q.shape());
    const Status refused = paged_attention(*backend, args_of(q, out.view()));
    EXPECT_FALSE(refused.is_ok()) << dtype_name(dtype) << " head_dim " << head_dim;
  }
}

// Metadata the op cannot check: a block id outside the cache, a length past the table. The sequence gets NaN
// rows, never a read outside the cache; the others are still right.
TEST(PagedAttention, BadMetadataPoisonsOnlyItsSequence) {
  auto backend = make_cpu(2);
  BatchSpec spec;
  spec.seqs = {{1, 40}, {3, 50}, {2, 20}};
  for (const int which : {0, 1}) {
    Problem p = make_problem(spec, 1600);
    const int64_t max_blocks = p.block_tables.shape()[1];
    if (which == 0) {
      p.block_tables.as<int32_t>()[1 * max_blocks + 1] = 1 << 20;  // sequence 1's second block
    } else {
      p.seq_lens.as<int32_t>()[1] = static_cast<int32_t>(max_blocks * spec.block_size + 1);
    }
    GuardedOut out(p.q.shape());
    ASSERT_TRUE(paged_attention(*backend, args_of(p, out.view())).is_ok());
    const std::vector<float> got = out.values();
    const int64_t row_elems = spec.q_heads * spec.head_dim;
    for (int64_t i = 0; i < p.t * row_elems; ++i) {
      const bool in_bad = i >= 1 * row_elems && i < 4 * row_elems;
      ASSERT_EQ(std::isnan(got[i]), in_bad) << "element " << i;
    }
  }
}

TEST(PagedAttention, RejectsBadArguments) {
  auto backend = make_cpu(2);
  BatchSpec spec;
  spec.seqs = {{1, 20}, {3, 9}};
  spec.q_heads = 4;
  spec.kv_heads = 2;
  spec.head_dim = 8;
  spec.block_size = 4;
  const Problem p = make_problem(spec, 1700);
  Tensor out = Tensor::host(DType::kF32, p.q.shape());
  const PagedAttentionArgs good = args_of(p, out.view());
  ASSERT_TRUE(paged_attention(*backend, good).is_ok());
  const auto expect_invalid = [&](const PagedAttentionArgs& bad, const char* what) {
    const Status s = paged_attention(*backend, bad);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << what << ": " << s.to_string();
    EXPECT_NE(s.message().find("paged_attention"), std::string::npos) << what << ": " << s.message();
  };
  const int64_t rows = p.k_cache.shape()[0];
  PagedAttentionArgs bad = good;
  bad.q.dtype = DType::kBF16;
  expect_invalid(bad, "bf16 q");
  bad = good;
  bad.out.dtype = DType::kBF16;
  expect_invalid(bad, "bf16 out");
  bad = good;
  bad.v_cache.dtype = DType::kBF16;
  expect_invalid(bad, "v_cache dtype differs");
  bad = good;
  bad.block_tables.dtype = DType::kF32;
  expect_invalid(bad, "f32 block_tables");
  bad = good;
  bad.q_start.dtype = DType::kF32;
  expect_invalid(bad, "f32 q_start");
  bad = good;
  bad.seq_lens.dtype = DType::kF32;
  expect_invalid(bad, "f32 seq_lens");
  bad = good;
  bad.q = p.q.view().reshaped(Shape{4, 32});
  expect_invalid(bad, "q rank");
  bad = good;
  bad.k_cache = p.k_cache.view().reshaped(Shape{rows, 16});
  expect_invalid(bad, "k_cache rank");
  bad = good;
  bad.block_tables = p.block_tables.view().reshaped(Shape{p.block_tables.numel()});
  expect_invalid(bad, "block_tables rank");
  bad = good;
  bad.k_cache = p.k_cache.view().reshaped(Shape{rows, 4, 4});
  bad.v_cache = p.v_cache.view().reshaped(Shape{rows, 4, 4});
  expect_invalid(bad, "cache head_dim != q head_dim");
  bad = good;
  bad.v_cache = p.v_cache.view().rows(0, rows - 4);
  expect_invalid(bad, "v_cache shape != k_cache shape");
  bad = good;
  bad.k_cache = p.k_cache.view().reshaped(Shape{rows * 2 / 3, 3, 8});
  bad.v_cache = p.v_cache.view().reshaped(Shape{rows * 2 / 3, 3, 8});
  expect_invalid(bad, "q_heads not a multiple of kv_heads");
  bad = good;
  bad.k_cache = p.k_cache.view().rows(0, rows - 1);
  bad.v_cache = p.v_cache.view().rows(0, rows - 1);
  expect_invalid(bad, "rows not a multiple of block_size");
  bad = good;
  bad.block_size = 0;
  expect_invalid(bad, "block_size 0");
  bad = good;
  bad.block_size = -4;
  expect_invalid(bad, "negative block_size");
  bad = good;
  bad.block_size = int64_t{1} << 31;
  expect_invalid(bad, "block_size past i32");
  bad = good;
  bad.q_start = p.q_start.view().rows(0, 2);
  expect_invalid(bad, "q_start length");
  bad = good;
  bad.seq_lens = p.seq_lens.view().rows(0, 1);
  expect_invalid(bad, "seq_lens length");
  bad = good;
  bad.out = out.view().reshaped(Shape{4, 8, 4});
  expect_invalid(bad, "out shape");
  bad = good;
  bad.max_q_len = 0;
  expect_invalid(bad, "max_q_len 0");
  bad = good;
  bad.window = -1;
  expect_invalid(bad, "negative window");
  bad = good;
  bad.scale = INFINITY;
  expect_invalid(bad, "infinite scale");
  bad = good;
  bad.scale = NAN;
  expect_invalid(bad, "NaN scale");
  bad = good;
  bad.softcap = -1.0f;
  expect_invalid(bad, "negative softcap");
  bad = good;
  bad.softcap = NAN;
  expect_invalid(bad, "NaN softcap");
  bad = good;
  bad.seq_lens.device = Device{DeviceKind::kCuda, 0};
  expect_invalid(bad, "seq_lens on another device");
  bad = good;
  bad.k_cache.data = nullptr;
  expect_invalid(bad, "k_cache without data");
  bad = good;
  bad.out = TensorView{p.q.data(), DType::kF32, p.q.shape(), p.q.device()};
  expect_invalid(bad, "out is q");
  bad = good;
  bad.out = TensorView{p.k_cache.data(), DType::kF32, p.q.shape(), p.k_cache.device()};
  expect_invalid(bad, "out inside k_cache");
  bad = good;
  bad.out = TensorView{p.v_cache.data(), DType::kF32, p.q.shape(), p.v_cache.device()};
  expect_invalid(bad, "out inside v_cache");
  Tensor meta_out = Tensor::host(DType::kF32, Shape{p.q.numel() + 64});
  bad = good;
  bad.out = TensorView{meta_out.data(), DType::kF32, p.q.shape(), meta_out.device()};
  bad.seq_lens = TensorView{meta_out.as<float>() + 4, DType::kI32, Shape{2}, meta_out.device()};
  expect_invalid(bad, "seq_lens inside out");

  // A cache dtype without a kernel.
  const Tensor i32_k = Tensor::host(DType::kI32, p.k_cache.shape()),
               i32_v = Tensor::host(DType::kI32, p.k_cache.shape());
  bad = good;
  bad.k_cache = i32_k.view();
  bad.v_cache = i32_v.view();
  EXPECT_EQ(paged_attention(*backend, bad).code(), StatusCode::kUnsupported) << "no i32 cache kernel";
}

}  // namespace
}  // namespace autoglm
