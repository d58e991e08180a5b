// Model::forward_batch over a paged cache against Model::forward of each sequence alone on a contiguous
// cache: the same logits, bit for bit on the CPU (batch invariance), whatever the other sequences of the
// batch, the chunking of prompts and the scattering of blocks. Every fixture architecture (partial RoPE, QK
// norm, biases, sliding windows) goes through it. Over an f8_e4m3 paged cache (no contiguous counterpart)
// the reference is the sequence alone in one prefill through forward_batch, and the logits are held to HF's
// within the bound of 3-bit K/V mantissas. Steps split in two halves (model/nano_batch.h) give the same bits,
// run in graph order or through the two-lane schedule, whose plan is checked against the order of its waits.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <random>

#include "backend/backend.h"
#include "graph/executor.h"
#include "model/decoder_graph.h"
#include "model/model.h"
#include "support/golden_fixture.h"
#include "support/lane_check.h"
#include "support/lane_cpu_backend.h"
#include "support/test_data.h"

namespace autoglm {
namespace {

constexpr int64_t kBlockSize = 4;  // small, so sequences span many blocks and end mid-block

struct Fixture {
  std::unique_ptr<Backend> backend;
  std::unique_ptr<Model> model;
};

// two_lanes: the CPU backend with two lanes (tests/support/lane_cpu_backend.h).
Fixture load(const std::string& name, bool two_lanes = false) {
  Fixture f;
  BackendOptions options;
  options.n_threads = 2;
  if (two_lanes) {
    f.backend = std::make_unique<test::LaneCpuBackend>(options);
  } else {
    auto backend = create_backend("cpu", options);
    EXPECT_TRUE(backend.has_value());
    f.backend = std::move(backend).value();
  }
  auto model = Model::load(test::fixture_dir(name), *f.backend);
  EXPECT_TRUE(model.has_value()) << model.status().to_string();
  f.model = std::move(model).value();
  return f;
}

std::vector<float> to_host(Backend& backend, const TensorView& v) {
  std::vector<float> out(static_cast<size_t>(v.numel()));
  EXPECT_TRUE(backend.copy(TensorView{out.data(), DType::kF32, v.shape, Device{}}, v).is_ok());
  return out;
}

// Logits of every position of `tokens`, one sequence alone, fed in one prefill.
std::vector<std::vector<float>> reference_logits(const Fixture& f, const std::vector<int32_t>& tokens) {
  const int64_t vocab = f.model->config().vocab_size;
  auto cache = KvCache::create(*f.backend, f.model->config(), static_cast<int64_t>(tokens.size()));
  EXPECT_TRUE(cache.has_value());
  Executor executor(*f.backend);
  auto logits = f.model->forward(executor, *cache, tokens, /*all_logits=*/true);
  EXPECT_TRUE(logits.has_value()) << logits.status().to_string();
  const std::vector<float> all = to_host(*f.backend, *logits);
  std::vector<std::vector<float>> rows;
  for (size_t i = 0; i < tokens.size(); ++i)
    rows.emplace_back(all.begin() + static_cast<int64_t>(i) * vocab,
                      all.begin() + static_cast<int64_t>(i + 1) * vocab);
  return rows;
}

// Logits of every position of `tokens`, one sequence alone in one prefill over a paged cache of kv_dtype
// (blocks 0, 1, ...).
std::vector<std::vector<float>> paged_alone_logits(const Fixture& f, const std::vector<int32_t>& tokens,
                                                   DType kv_dtype) {
  const int64_t vocab = f.model->config().vocab_size;
  const int64_t n = static_cast<int64_t>(tokens.size());
  std::vector<int32_t> blocks(static_cast<size_t>((n + kBlockSize - 1) / kBlockSize));
  std::iota(blocks.begin(), blocks.end(), 0);
  auto cache = KvCache::create(*f.backend, f.model->config(),
                               static_cast<int64_t>(blocks.size()) * kBlockSize, kv_dtype);
  EXPECT_TRUE(cache.has_value());
  Executor executor(*f.backend);
  std::vector<std::vector<float>> rows;
  // forward_batch gives the last row's logits only: position end - 1's come from a prefill of [0, end).
  for (int64_t end = 1; end <= n; ++end) {
    SequenceSlice slice;
    slice.tokens = std::span<const int32_t>(tokens).subspan(0, static_cast<size_t>(end));
    slice.start = 0;
    slice.blocks = blocks;
    slice.want_logits = true;
    auto logits =
        f.model->forward_batch(executor, *cache, kBlockSize, std::span<const SequenceSlice>(&slice, 1));
    EXPECT_TRUE(logits.has_value()) << logits.status().to_string();
    const std::vector<float> row = to_host(*f.backend, *logits);
    EXPECT_EQ(static_cast<int64_t>(row.size()), vocab);
    rows.push_back(row);
  }
  return rows;
}

// A sequence of the batch test: its tokens, its blocks (scattered over the pool), and how far it has run.
struct Seq {
  std::vector<int32_t> tokens;
  std::vector<int32_t> blocks;
  int32_t done = 0;
  std::vector<std::vector<float>> expected;
};

// How the batched steps run: split in halves where they have decodes and prompt rows (decodes put first so
// that many do), over one lane or two.
struct BatchedRun {
  DType kv_dtype = DType::kF32;
  bool split = false;
  bool two_lanes = false;
};

// The lane schedule and buffer plan of a step's graph, checked against the order of its waits.
void check_step_graph(const Fixture& f, const KvCache& cache, std::span<const SequenceSlice> slices) {
  std::vector<int32_t> packed;
  BatchStepLayout l;
  ASSERT_TRUE(pack_batch_step(slices, kBlockSize, cache.capacity / kBlockSize, f.model->config().vocab_size,
                              0, &packed, &l)
                  .is_ok());
  const int64_t split = nano_batch_split(l, f.model->nano_batch());
  if (split > 0) {
    ASSERT_TRUE(split_batch_step(split, &packed, &l).is_ok());
  }
  PagedStepInputs paged;
  StepInputs in;
  paged_step_inputs(l, packed.data(), Device{}, kBlockSize, &paged, &in);
  Graph g;
  build_decoder_graph(g, f.model->local_config(), f.model->spec(), f.model->weights(), cache, in);
  EXPECT_EQ(g.lane_count(), split > 0 ? 2 : 1);
  const LaneSchedule s = schedule_lanes(g, 2);
  test::expect_lanes_safe(g, s, plan_buffers(g, s));
}

void run_batched(const std::string& fixture_name, uint32_t seed, const BatchedRun& how = {}) {
  SCOPED_TRACE(fixture_name);
  const DType kv_dtype = how.kv_dtype;
  Fixture f = load(fixture_name, how.two_lanes);
  if (how.split) f.model->set_nano_batch({.enabled = true, .min_decode_seqs = 1, .min_prompt_rows = 1});
  int split_steps = 0;
  const int64_t vocab = f.model->config().vocab_size;
  std::mt19937 rng(seed);
  std::vector<Seq> seqs(how.split ? 8 : 5);  // more sequences, more steps with decodes and prompt rows
  int32_t total_blocks = 0;
  for (Seq& s : seqs) {
    const int n = 3 + static_cast<int>(rng() % 30);
    for (int i = 0; i < n; ++i)
      s.tokens.push_back(static_cast<int32_t>(rng() % vocab));
    s.blocks.resize(static_cast<size_t>((n + kBlockSize - 1) / kBlockSize));
    total_blocks += static_cast<int32_t>(s.blocks.size());
  }
  // Shuffled block ids, so no sequence owns a contiguous range.
  std::vector<int32_t> ids(static_cast<size_t>(total_blocks + 3));
  std::iota(ids.begin(), ids.end(), 0);
  std::shuffle(ids.begin(), ids.end(), rng);
  size_t next = 0;
  for (Seq& s : seqs) {
    for (int32_t& b : s.blocks)
      b = ids[next++];
    s.expected =
        kv_dtype == DType::kF32 ? reference_logits(f, s.tokens) : paged_alone_logits(f, s.tokens, kv_dtype);
  }
  auto cache =
      KvCache::create(*f.backend, f.model->config(), static_cast<int64_t>(ids.size()) * kBlockSize, kv_dtype);
  ASSERT_TRUE(cache.has_value());
  Executor executor(*f.backend);
  // Steps: each live sequence takes a random run of 1..6 tokens (prefill chunks and single-token decodes
  // mixed).
  for (int step = 0; step < 200; ++step) {
    std::vector<SequenceSlice> slices;
    std::vector<Seq*> owners;
    for (Seq& s : seqs) {
      const int32_t left = static_cast<int32_t>(s.tokens.size()) - s.done;
      if (left == 0 || rng() % 4 == 0) continue;  // finished, or sits this step out
      // Split runs feed one token half the time: more steps with both decodes and prompt chunks.
      const bool one = how.split && rng() % 2 == 0;
      const int32_t n = one ? 1 : std::min<int32_t>(left, 1 + static_cast<int32_t>(rng() % 6));
      SequenceSlice slice;
      slice.tokens =
          std::span<const int32_t>(s.tokens).subspan(static_cast<size_t>(s.done), static_cast<size_t>(n));
      slice.start = s.done;
      slice.blocks = s.blocks;
      slice.want_logits = rng() % 3 != 0;
      slices.push_back(slice);
      owners.push_back(&s);
    }
    if (how.split) {
      // Decodes first: a step splits after them when prompt chunks follow.
      std::vector<size_t> order(slices.size());
      std::iota(order.begin(), order.end(), 0);
      std::stable_partition(order.begin(), order.end(),
                            [&](size_t i) { return slices[i].tokens.size() == 1; });
      std::vector<SequenceSlice> sorted_slices;
      std::vector<Seq*> sorted_owners;
      for (size_t i : order) {
        sorted_slices.push_back(slices[i]);
        sorted_owners.push_back(owners[i]);
      }
      slices = std::move(sorted_slices);
      owners = std::move(sorted_owners);
      const bool has_decode = !slices.empty() && slices.front().tokens.size() == 1;
      const bool has_prompt = !slices.empty() && slices.back().tokens.size() > 1;
      if (has_decode && has_prompt) {
        ++split_steps;
        if (split_steps <= 3) check_step_graph(f, *cache, slices);
      }
    }
    if (slices.empty()) {
      if (std::all_of(seqs.begin(), seqs.end(),
                      [](const Seq& s) { return s.done == int32_t(s.tokens.size()); }))
        break;
      continue;
    }
    auto logits = f.model->forward_batch(executor, *cache, kBlockSize, slices);
    ASSERT_TRUE(logits.has_value()) << logits.status().to_string();
    const std::vector<float> got = to_host(*f.backend, *logits);
    int64_t row = 0;
    for (size_t i = 0; i < slices.size(); ++i) {
      Seq& s = *owners[i];
      const int32_t last = slices[i].start + static_cast<int32_t>(slices[i].tokens.size()) - 1;
      if (slices[i].want_logits) {
        const std::vector<float>& want = s.expected[static_cast<size_t>(last)];
        ASSERT_TRUE(std::equal(want.begin(), want.end(), got.begin() + row * vocab))
            << "sequence " << (owners[i] - seqs.data()) << " position " << last << " step " << step;
        ++row;
      }
      s.done = last + 1;
    }
    EXPECT_EQ(row, logits->shape[0]);
  }
  if (how.split) {
    EXPECT_GE(split_steps, 5);
  }
}

TEST(ForwardBatch, EqualsEachSequenceAloneOnEveryFixture) {
  uint32_t seed = 1;
  for (const std::string& name : test::golden_fixture_names())
    run_batched(name, seed++);
}

TEST(ForwardBatch, Fp8CacheEqualsEachSequenceAlone) {
  uint32_t seed = 11;
  for (const std::string& name : {std::string("llama"), std::string("qwen2"), std::string("glm4")})
    run_batched(name, seed++, {.kv_dtype = DType::kF8E4M3});
}

TEST(ForwardBatch, SplitStepsEqualEachSequenceAlone) {
  uint32_t seed = 21;
  for (const std::string& name : test::golden_fixture_names())
    run_batched(name, seed++, {.split = true});
}

TEST(ForwardBatch, SplitStepsOnTwoLanesEqualEachSequenceAlone) {
  uint32_t seed = 31;
  for (const std::string& name : {std::string("llama"), std::string("qwen2"), std::string("glm4")})
    run_batched(name, seed++, {.split = true, .two_lanes = true});
  run_batched("llama", 41, {.kv_dtype = DType::kF8E4M3, .split = true, .two_lanes = true});
}

// K and V rounded to e4m3 (relative error <= 2^-4 per element) move the last position's logits of the golden
// prompts by 1-7% of their range on these fixtures (relative max-abs error against HF: 0.011-0.070); 0.1
// bounds that, far below what a misread cache gives (errors of order 1), and ~100x what the f32 cache leaves
// (golden tests: 1e-4 .. 1e-3).
TEST(ForwardBatch, Fp8CacheStaysNearHfLogits) {
  for (const std::string& name : test::golden_fixture_names()) {
    SCOPED_TRACE(name);
    Fixture f = load(name);
    const auto golden = test::load_golden(name);
    for (const auto& p : golden.prompts) {
      const std::vector<int32_t> tokens(p.ids.begin(), p.ids.end());
      const int64_t n = static_cast<int64_t>(tokens.size());
      std::vector<int32_t> blocks(static_cast<size_t>((n + kBlockSize - 1) / kBlockSize));
      std::iota(blocks.begin(), blocks.end(), 0);
      auto cache = KvCache::create(*f.backend, f.model->config(),
                                   static_cast<int64_t>(blocks.size()) * kBlockSize, DType::kF8E4M3);
      ASSERT_TRUE(cache.has_value());
      Executor executor(*f.backend);
      const SequenceSlice slice{tokens, 0, blocks, true};
      auto logits =
          f.model->forward_batch(executor, *cache, kBlockSize, std::span<const SequenceSlice>(&slice, 1));
      ASSERT_TRUE(logits.has_value()) << logits.status().to_string();
      const double err = test::rel_max_abs_error(to_host(*f.backend, *logits), p.logits);
      std::printf("%s prompt of %lld tokens: rel max-abs error %.3g\n", name.c_str(),
                  static_cast<long long>(n), err);
      EXPECT_LT(err, 0.1);
    }
  }
}

TEST(ForwardBatch, RejectsBadSlices) {
  Fixture f = load("llama");
  auto cache = KvCache::create(*f.backend, f.model->config(), 8 * kBlockSize);
  ASSERT_TRUE(cache.has_value());
  Executor executor(*f.backend);
  const std::vector<int32_t> tokens = {1, 2, 3, 4, 5};
  const std::vector<int32_t> one_block = {0};
  const std::vector<int32_t> outside = {0, 8};
  const std::vector<int32_t> bad_token = {1, 5000};
  const std::vector<int32_t> two_blocks = {0, 1};
  auto fails = [&](SequenceSlice slice) {
    return !f.model->forward_batch(executor, *cache, kBlockSize, std::span<const SequenceSlice>(&slice, 1))
                .has_value();
  };
  EXPECT_TRUE(fails({tokens, 0, one_block, true}));  // 5 positions, 1 block of 4
  EXPECT_TRUE(fails({tokens, 0, outside, true}));    // block 8 of a pool of 8
  EXPECT_TRUE(fails({bad_token, 0, two_blocks, true}));
  EXPECT_TRUE(fails({{}, 0, two_blocks, true}));
  EXPECT_TRUE(!f.model->forward_batch(executor, *cache, kBlockSize, {}).has_value());
  EXPECT_TRUE(
      !f.model->forward_batch(executor, *cache, 3, std::vector<SequenceSlice>{{tokens, 0, two_blocks, true}})
           .has_value());
}

}  // namespace
}  // namespace autoglm

namespace autoglm {
namespace {

// Two decodes, a prompt chunk that wants no logits and one that does: split after the decodes, the second
// half's q_start and logit rows count from its first row.
TEST(BatchStep, SplitRebasesTheSecondHalf) {
  const std::vector<int32_t> one{5}, two{6}, chunk{1, 2, 3}, tail{4, 5};
  const std::vector<int32_t> blocks{0, 1, 2, 3};
  const std::vector<SequenceSlice> slices{
      {one, 3, blocks, true}, {two, 7, blocks, true}, {chunk, 0, blocks, false}, {tail, 4, blocks, true}};
  std::vector<int32_t> packed;
  BatchStepLayout l;
  ASSERT_TRUE(pack_batch_step(slices, 4, 8, 100, 0, &packed, &l).is_ok());
  EXPECT_EQ(l.n_decode_seqs, 2);
  NanoBatchOptions nano{.enabled = true, .min_decode_seqs = 2, .min_prompt_rows = 5};
  EXPECT_EQ(nano_batch_split(l, nano), 2);
  nano.min_prompt_rows = 6;  // 5 prompt rows
  EXPECT_EQ(nano_batch_split(l, nano), 0);
  nano.min_prompt_rows = 1;
  nano.min_decode_seqs = 3;
  EXPECT_EQ(nano_batch_split(l, nano), 0);
  EXPECT_EQ(nano_batch_split(l, NanoBatchOptions{}), 0);  // off by default

  const int64_t whole_size = l.size;
  ASSERT_TRUE(split_batch_step(2, &packed, &l).is_ok());
  const StepSplit& sp = l.split;
  EXPECT_EQ(sp.seq, 2);
  EXPECT_EQ(sp.row, 2);
  EXPECT_EQ(sp.logit_rows, 2);
  EXPECT_EQ(sp.n_decode_seqs[0], 2);
  EXPECT_EQ(sp.n_decode_seqs[1], 0);
  EXPECT_EQ(sp.max_q_len[0], 1);
  EXPECT_EQ(sp.max_q_len[1], 3);
  EXPECT_EQ(sp.q_start, whole_size);
  const std::vector<int32_t> q_start(packed.begin() + sp.q_start, packed.begin() + sp.q_start + 3);
  EXPECT_EQ(q_start, (std::vector<int32_t>{0, 3, 5}));
  // The whole step's logit rows are 0, 1, 6; the second half's one row is its 5th (index 4).
  EXPECT_EQ(packed[static_cast<size_t>(sp.logit_rows_second)], 4);
  EXPECT_EQ(l.size, sp.logit_rows_second + 1);
  EXPECT_EQ(static_cast<int64_t>(packed.size()), l.size);
  // Bad split points.
  EXPECT_FALSE(split_batch_step(2, &packed, &l).is_ok());  // already split
  BatchStepLayout fresh;
  ASSERT_TRUE(pack_batch_step(slices, 4, 8, 100, 0, &packed, &fresh).is_ok());
  EXPECT_FALSE(split_batch_step(0, &packed, &fresh).is_ok());
  EXPECT_FALSE(split_batch_step(4, &packed, &fresh).is_ok());
}

}  // namespace
}  // namespace autoglm
