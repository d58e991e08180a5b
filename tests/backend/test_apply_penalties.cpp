// apply_penalties on the CPU backend (the reference of the CUDA kernel) against the host sampler's
// apply_repetition_penalty + apply_presence_frequency_penalties, bit for bit: random rows (negative, zero,
// positive and infinite logits, NaN), histories with repeated ids, ids in both histories and out of range,
// every combination of the three penalties, empty lists; several rows of one call with their own penalties;
// entries from Sampler::penalty_entries; bad arguments refused, bad offsets harmless.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "ops/apply_penalties.h"
#include "sampling/logits_processors.h"
#include "sampling/sampler.h"
#include "support/guarded_output.h"

namespace autoglm {
namespace {

using test::make_cpu;

constexpr float kInf = std::numeric_limits<float>::infinity();

struct PenalizedRow {
  std::vector<float> logits;
  std::vector<int32_t> prompt, generated;
  float repetition = 1, presence = 0, frequency = 0;
};

// What the host sampler makes of the row before its greedy choice or its temperature.
std::vector<float> host_penalized(const PenalizedRow& r) {
  std::vector<float> v = r.logits;
  replace_nan_with_neg_inf(v);
  apply_repetition_penalty(v, r.prompt, r.generated, r.repetition);
  apply_presence_frequency_penalties(v, r.generated, r.presence, r.frequency);
  return v;
}

// Runs the CPU kernel over every row at once, each row's entries made by its own Sampler.
std::vector<float> kernel_penalized(const std::vector<PenalizedRow>& rows, int64_t c) {
  const auto n = static_cast<int64_t>(rows.size());
  std::vector<float> logits, params;
  std::vector<int32_t> offsets = {0}, entries;
  for (const PenalizedRow& r : rows) {
    logits.insert(logits.end(), r.logits.begin(), r.logits.end());
    params.insert(params.end(), {r.repetition, r.presence, r.frequency});
    SamplingParams sp;
    sp.repetition_penalty = r.repetition;
    sp.presence_penalty = r.presence;
    sp.frequency_penalty = r.frequency;
    sp.seed = 1;
    Sampler sampler(sp);
    const std::span<const int32_t> e = sampler.penalty_entries(r.prompt, r.generated);
    entries.insert(entries.end(), e.begin(), e.end());
    offsets.push_back(static_cast<int32_t>(entries.size() / 3));
  }
  auto cpu = make_cpu();
  const Status s = apply_penalties(
      *cpu, {TensorView{logits.data(), DType::kF32, Shape{n, c}, Device{}},
             TensorView{params.data(), DType::kF32, Shape{n, kPenaltyParams}, Device{}},
             TensorView{offsets.data(), DType::kI32, Shape{n + 1}, Device{}},
             TensorView{entries.data(), DType::kI32,
                        Shape{static_cast<int64_t>(entries.size()) / 3, kPenaltyEntryFields}, Device{}}});
  EXPECT_TRUE(s.is_ok()) << s.to_string();
  return logits;
}

// Bitwise, except that a NaN the kernel leaves is the host's -inf (both never chosen).
void expect_same_bits(const std::vector<float>& got, const std::vector<float>& want,
                      const std::string& what) {
  ASSERT_EQ(got.size(), want.size());
  int64_t wrong = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::isnan(got[i]) && want[i] == -kInf) continue;
    if (test::bits_of(got[i]) != test::bits_of(want[i]) && wrong++ < 5) {
      ADD_FAILURE() << what << ": element " << i << " is " << got[i] << ", the host's " << want[i];
    }
  }
  EXPECT_EQ(wrong, 0) << what;
}

TEST(ApplyPenalties, EqualsTheHostSamplerBitForBit) {
  std::mt19937 rng(13);
  std::normal_distribution<float> normal(0.0f, 4.0f);
  const float repetitions[] = {1.0f, 1.3f, 0.7f, 2.0f};
  const float presences[] = {0.0f, 0.5f, -0.4f, 1.7f};
  const float frequencies[] = {0.0f, 0.25f, -0.3f, 0.1f};
  int64_t rows_checked = 0;
  for (int64_t c : {1, 3, 127, 1000, 4097}) {
    std::vector<PenalizedRow> rows;
    for (int i = 0; i < 64; ++i) {
      PenalizedRow r;
      r.logits.resize(static_cast<size_t>(c));
      for (float& v : r.logits)
        v = normal(rng);
      // Signed zeros, infinities and NaN where the histories reach.
      const float specials[] = {0.0f, -0.0f, kInf, -kInf, std::nanf("")};
      for (float sv : specials)
        r.logits[rng() % c] = sv;
      // Ids from a narrow range so they repeat and the histories overlap; a few outside [0, c).
      const auto span = static_cast<uint32_t>(std::min<int64_t>(c, 40) + 2);
      const int n_prompt = i % 8 == 0 ? 0 : static_cast<int>(rng() % 60);
      const int n_generated = i % 8 == 1 ? 0 : static_cast<int>(rng() % 60);
      for (int j = 0; j < n_prompt; ++j)
        r.prompt.push_back(static_cast<int32_t>(rng() % span) - 1);
      for (int j = 0; j < n_generated; ++j)
        r.generated.push_back(static_cast<int32_t>(rng() % span) - 1);
      r.generated.push_back(static_cast<int32_t>(c) + 7);
      r.repetition = repetitions[i % 4];
      r.presence = presences[(i / 4) % 4];
      r.frequency = frequencies[(i / 16) % 4];
      rows.push_back(std::move(r));
    }
    const std::vector<float> got = kernel_penalized(rows, c);
    for (size_t i = 0; i < rows.size(); ++i) {
      const std::vector<float> want = host_penalized(rows[i]);
      const std::vector<float> row(got.begin() + static_cast<std::ptrdiff_t>(i * c),
                                   got.begin() + static_cast<std::ptrdiff_t>((i + 1) * c));
      expect_same_bits(row, want, "c " + std::to_string(c) + " row " + std::to_string(i));
      ++rows_checked;
    }
  }
  EXPECT_EQ(rows_checked, 5 * 64);
}

TEST(ApplyPenalties, HandWorkedRow) {
  // ids: 0 in the prompt only; 1 generated twice; 2 in both; 3 untouched.
  PenalizedRow r;
  r.logits = {2.0f, -2.0f, 3.0f, 5.0f};
  r.prompt = {0, 2, 0};
  r.generated = {1, 2, 1};
  r.repetition = 2.0f;
  r.presence = 0.5f;
  r.frequency = 0.25f;
  const std::vector<float> got = kernel_penalized({r}, 4);
  // 0: 2 / 2 = 1. 1: -2 * 2 - 0.25 * 2 - 0.5 = -5. 2: 3 / 2 - 0.25 - 0.5 = 0.75. 3: 5.
  EXPECT_EQ(got, (std::vector<float>{1.0f, -5.0f, 0.75f, 5.0f}));
  EXPECT_EQ(got, host_penalized(r));
  // No penalties, or no history: nothing changes.
  PenalizedRow off = r;
  off.repetition = 1.0f;
  off.presence = off.frequency = 0.0f;
  EXPECT_EQ(kernel_penalized({off}, 4), r.logits);
  PenalizedRow empty = r;
  empty.prompt.clear();
  empty.generated.clear();
  EXPECT_EQ(kernel_penalized({empty}, 4), r.logits);
  // Presence and frequency only: the prompt does not count.
  PenalizedRow generated_only = r;
  generated_only.repetition = 1.0f;
  EXPECT_EQ(kernel_penalized({generated_only}, 4), (std::vector<float>{2.0f, -3.0f, 2.25f, 5.0f}));
}

TEST(ApplyPenalties, RefusesBadArguments) {
  auto cpu = make_cpu();
  std::vector<float> x(8), params(6);
  std::vector<int32_t> offsets(3), entries(6);
  const TensorView good_x{x.data(), DType::kF32, Shape{2, 4}, Device{}};
  const TensorView good_params{params.data(), DType::kF32, Shape{2, 3}, Device{}};
  const TensorView good_offsets{offsets.data(), DType::kI32, Shape{3}, Device{}};
  const TensorView good_entries{entries.data(), DType::kI32, Shape{2, 3}, Device{}};
  EXPECT_TRUE(apply_penalties(*cpu, {good_x, good_params, good_offsets, good_entries}).is_ok());
  auto refused = [&](ApplyPenaltiesArgs a) {
    const Status s = apply_penalties(*cpu, a);
    EXPECT_FALSE(s.is_ok());
    EXPECT_NE(s.to_string().find("apply_penalties"), std::string::npos) << s.to_string();
  };
  refused({good_x.reshaped(Shape{8}), good_params, good_offsets, good_entries});
  refused(
      {TensorView{x.data(), DType::kF16, Shape{2, 4}, Device{}}, good_params, good_offsets, good_entries});
  refused({good_x, good_params.reshaped(Shape{3, 2}), good_offsets, good_entries});
  refused({good_x, good_params, TensorView{offsets.data(), DType::kI32, Shape{2}, Device{}}, good_entries});
  refused({good_x, good_params, TensorView{offsets.data(), DType::kF32, Shape{3}, Device{}}, good_entries});
  refused({good_x, good_params, good_offsets, good_entries.reshaped(Shape{3, 2})});
  refused({good_x, good_params, good_offsets, good_entries.reshaped(Shape{6})});
  refused({good_x, good_params, good_offsets, TensorView{nullptr, DType::kI32, Shape{2, 3}, Device{}}});
  // The logits must not share bytes with what describes them.
  refused({good_x, TensorView{x.data(), DType::kF32, Shape{2, 3}, Device{}}, good_offsets, good_entries});
  // No rows, or no entries: nothing to do.
  EXPECT_TRUE(
      apply_penalties(*cpu, {TensorView{x.data(), DType::kF32, Shape{0, 4}, Device{}},
                             TensorView{params.data(), DType::kF32, Shape{0, 3}, Device{}},
                             TensorView{offsets.data(), DType::kI32, Shape{1}, Device{}}, good_entries})
          .is_ok());
  EXPECT_TRUE(apply_penalties(*cpu, {good_x, good_params, good_offsets,
                                     TensorView{nullptr, DType::kI32, Shape{0, 3}, Device{}}})
                  .is_ok());
}

// Offsets past the list, decreasing or negative are clamped: entries are dropped, nothing is read or written
// outside the tensors (the logits sit between guard words).
TEST(ApplyPenalties, BadOffsetsAndIdsAreHarmless) {
  auto cpu = make_cpu();
  const int64_t rows = 3, c = 5;
  std::vector<float> storage(static_cast<size_t>(rows * c + 2 * test::kGuard),
                             test::from_bits(test::kSentinelBits));
  float* x = storage.data() + test::kGuard;
  for (int64_t i = 0; i < rows * c; ++i)
    x[i] = 1.0f;
  std::vector<float> params = {2.0f, 0, 0, 2.0f, 0, 0, 2.0f, 0, 0};
  // Entries: ids -1, 5 (out of range), 2, 4.
  std::vector<int32_t> entries = {-1, 1, 0, 5, 1, 0, 2, 1, 0, 4, 0, 1};
  // Row 0: [-3, 100) -> [0, 4), all four; row 1: [100, 2) -> [4, 4), none; row 2: [2, -1) -> [2, 2), none.
  std::vector<int32_t> offsets = {-3, 100, 2, -1};
  ASSERT_TRUE(apply_penalties(*cpu, {TensorView{x, DType::kF32, Shape{rows, c}, Device{}},
                                     TensorView{params.data(), DType::kF32, Shape{rows, 3}, Device{}},
                                     TensorView{offsets.data(), DType::kI32, Shape{rows + 1}, Device{}},
                                     TensorView{entries.data(), DType::kI32, Shape{4, 3}, Device{}}})
                  .is_ok());
  const std::vector<float> want = {1, 1, 0.5f, 1, 0.5f, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
  EXPECT_EQ(std::vector<float>(x, x + rows * c), want);
  for (int64_t i = 0; i < test::kGuard; ++i) {
    EXPECT_EQ(test::bits_of(storage[i]), test::kSentinelBits);
    EXPECT_EQ(test::bits_of(storage[test::kGuard + rows * c + i]), test::kSentinelBits);
  }
}

}  // namespace
}  // namespace autoglm
