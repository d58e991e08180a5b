// apply_penalties on the GPU against the CPU kernel (itself held to the host sampler bit for bit): every
// logit bit-equal (NaN stays NaN), at odd and vocabulary sizes, with thousands of entries per row, empty
// rows, out-of-range ids and every combination of the penalties; the logits sit between guard words on the
// device. Then the penalised rows' choices: argmax and sample_rows after apply_penalties equal the CPU's.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "cuda/cuda_harness.h"
#include "ops/apply_penalties.h"
#include "ops/argmax.h"
#include "ops/sample_rows.h"

namespace autoglm {
namespace {

using test::make_cpu;
using test::make_cuda;
using test::to_device;

struct PenaltyCase {
  Tensor logits, params, offsets, entries;
};

// rows x c logits of N(0, 4), with signed zeros, infinities and NaN unless for_choices; per row distinct ids
// (a few out of range) with counts and prompt flags, up to max_entries of them, every 5th row none. With
// for_choices the ids of each row's 8 largest logits come first, so the penalties move the choices.
PenaltyCase make_case(std::mt19937& rng, int64_t rows, int64_t c, int64_t max_entries,
                      bool for_choices = false) {
  std::normal_distribution<float> normal(0.0f, 4.0f);
  PenaltyCase p;
  p.logits = Tensor::host(DType::kF32, Shape{rows, c});
  float* x = p.logits.as<float>();
  for (int64_t i = 0; i < rows * c; ++i)
    x[i] = normal(rng);
  const float specials[] = {0.0f, -0.0f, __builtin_inff(), -__builtin_inff(), std::nanf("")};
  for (int64_t r = 0; r < rows && !for_choices; ++r)
    for (float s : specials)
      x[r * c + static_cast<int64_t>(rng() % c)] = s;
  p.params = Tensor::host(DType::kF32, Shape{rows, kPenaltyParams});
  const float repetitions[] = {1.0f, 1.3f, 0.8f};
  const float presences[] = {0.0f, 0.6f, -0.2f};
  const float frequencies[] = {0.0f, 0.15f, -0.35f};
  std::vector<int32_t> offsets = {0}, entries;
  std::vector<int32_t> ids(static_cast<size_t>(c) + 4);
  std::iota(ids.begin(), ids.end(), -2);  // -2 .. c + 1: four out of range
  for (int64_t r = 0; r < rows; ++r) {
    float* q = p.params.as<float>() + r * kPenaltyParams;
    q[0] = repetitions[r % 3];
    q[1] = presences[(r / 3) % 3];
    q[2] = frequencies[(r / 9) % 3];
    const int64_t n = r % 5 == 4 ? 0 : static_cast<int64_t>(rng() % static_cast<uint64_t>(max_entries + 1));
    std::shuffle(ids.begin(), ids.end(), rng);
    if (for_choices) {
      const float* row = x + r * c;
      std::partial_sort(ids.begin(), ids.begin() + 8, ids.end(), [&](int32_t a, int32_t b) {
        const float va = a >= 0 && a < c ? row[a] : -__builtin_inff();
        const float vb = b >= 0 && b < c ? row[b] : -__builtin_inff();
        return va > vb;
      });
    }
    for (int64_t e = 0; e < std::min<int64_t>(n, static_cast<int64_t>(ids.size())); ++e) {
      const bool in_prompt = rng() % 2 == 0;
      const int32_t count = in_prompt && rng() % 2 == 0 ? 0 : 1 + static_cast<int32_t>(rng() % 9);
      entries.insert(entries.end(), {ids[static_cast<size_t>(e)], count, in_prompt ? 1 : 0});
    }
    offsets.push_back(static_cast<int32_t>(entries.size() / 3));
  }
  p.offsets = Tensor::host(DType::kI32, Shape{rows + 1});
  std::copy(offsets.begin(), offsets.end(), p.offsets.as<int32_t>());
  const auto n_entries = static_cast<int64_t>(entries.size() / 3);
  p.entries = Tensor::host(DType::kI32, Shape{std::max<int64_t>(n_entries, 1), kPenaltyEntryFields});
  std::copy(entries.begin(), entries.end(), p.entries.as<int32_t>());
  p.entries = Tensor(p.entries.storage(), DType::kI32, Shape{n_entries, kPenaltyEntryFields}, Device{});
  return p;
}

// The logits penalised on the device, between guard words that must stay untouched.
Tensor device_penalized(Backend& cuda, const PenaltyCase& p) {
  const int64_t numel = p.logits.numel();
  std::vector<float> init(static_cast<size_t>(numel + 2 * test::kGuard),
                          test::from_bits(test::kSentinelBits));
  std::copy(p.logits.as<float>(), p.logits.as<float>() + numel, init.begin() + test::kGuard);
  Tensor host_init(std::shared_ptr<void>(init.data(), [](void*) {}), DType::kF32,
                   Shape{static_cast<int64_t>(init.size())}, Device{});
  const Tensor storage = to_device(cuda, host_init);
  const TensorView logits{static_cast<float*>(storage.data()) + test::kGuard, DType::kF32, p.logits.shape(),
                          storage.device()};
  const Tensor params = to_device(cuda, p.params), offsets = to_device(cuda, p.offsets);
  const Tensor entries = p.entries.numel() > 0 ? to_device(cuda, p.entries) : Tensor();
  const TensorView entries_view = p.entries.numel() > 0
                                      ? entries.view()
                                      : TensorView{nullptr, DType::kI32, p.entries.shape(), cuda.device()};
  const Status s = apply_penalties(cuda, {logits, params.view(), offsets.view(), entries_view});
  EXPECT_TRUE(s.is_ok()) << s.to_string();
  const Tensor all = test::to_host(cuda, storage.view());
  const float* a = all.as<const float>();
  for (int64_t i = 0; i < test::kGuard; ++i) {
    EXPECT_EQ(test::bits_of(a[i]), test::kSentinelBits) << "guard before the logits written at " << i;
    EXPECT_EQ(test::bits_of(a[test::kGuard + numel + i]), test::kSentinelBits)
        << "guard after the logits written at " << i;
  }
  Tensor out = Tensor::host(DType::kF32, p.logits.shape());
  std::copy(a + test::kGuard, a + test::kGuard + numel, out.as<float>());
  return out;
}

Tensor cpu_penalized(Backend& cpu, const PenaltyCase& p) {
  Tensor out = Tensor::host(DType::kF32, p.logits.shape());
  std::copy(p.logits.as<float>(), p.logits.as<float>() + p.logits.numel(), out.as<float>());
  const Status s = apply_penalties(cpu, {out.view(), p.params.view(), p.offsets.view(), p.entries.view()});
  EXPECT_TRUE(s.is_ok()) << s.to_string();
  return out;
}

TEST(CudaApplyPenalties, MatchesCpuBitForBit) {
  auto cuda = make_cuda();
  ASSERT_NE(cuda, nullptr);
  auto cpu = make_cpu();
  std::mt19937 rng(31);
  for (int64_t c : {1, 3, 127, 4097, 128256}) {
    for (int64_t rows : {1, 7, 33}) {
      SCOPED_TRACE(std::to_string(rows) + " x " + std::to_string(c));
      const PenaltyCase p = make_case(rng, rows, c, c > 100000 ? 3000 : 300);
      const Tensor want = cpu_penalized(*cpu, p);
      const Tensor got = device_penalized(*cuda, p);
      int64_t wrong = 0, changed = 0;
      for (int64_t i = 0; i < p.logits.numel(); ++i) {
        const float g = got.as<float>()[i], w = want.as<float>()[i];
        changed += test::bits_of(w) != test::bits_of(p.logits.as<float>()[i]);
        if (std::isnan(g) && std::isnan(w)) continue;  // NaN payloads differ between CPU and GPU
        if (test::bits_of(g) != test::bits_of(w) && wrong++ < 5) {
          ADD_FAILURE() << "element " << i << ": " << g << ", the CPU's " << w;
        }
      }
      EXPECT_EQ(wrong, 0);
      if (rows > 1 && c > 3) {
        EXPECT_GT(changed, 0);  // the case penalises something (a single logit may be the NaN special)
      }
    }
  }
}

// The choices made from penalised rows: greedy (argmax) and drawn (sample_rows with top_k) equal the CPU's.
TEST(CudaApplyPenalties, ChoicesAfterPenaltiesMatchCpu) {
  auto cuda = make_cuda();
  ASSERT_NE(cuda, nullptr);
  auto cpu = make_cpu();
  std::mt19937 rng(37);
  const int64_t rows = 40, c = 32000;
  const PenaltyCase p = make_case(rng, rows, c, 2000, /*for_choices=*/true);
  const Tensor cpu_logits = cpu_penalized(*cpu, p);
  Tensor greedy_want = Tensor::host(DType::kI32, Shape{rows}),
         greedy_raw = Tensor::host(DType::kI32, Shape{rows});
  ASSERT_TRUE(argmax(*cpu, {cpu_logits.view(), greedy_want.view()}).is_ok());
  ASSERT_TRUE(argmax(*cpu, {p.logits.view(), greedy_raw.view()}).is_ok());
  int moved = 0;
  for (int64_t r = 0; r < rows; ++r)
    moved += greedy_want.as<int32_t>()[r] != greedy_raw.as<int32_t>()[r];
  EXPECT_GT(moved, 5);  // the penalties decide some rows' choices
  // Greedy and k = 1 rows: exact.
  Tensor params = Tensor::host(DType::kF32, Shape{rows, kSampleRowsParams});
  for (int64_t r = 0; r < rows; ++r) {
    float* q = params.as<float>() + r * kSampleRowsParams;
    q[0] = r % 2 == 0 ? 0.0f : 0.8f;
    q[1] = 1.0f;
    q[2] = 0.0f;
    q[3] = static_cast<float>(rng() % 1000) / 1000.0f;
    q[4] = 1.0f;
  }
  Tensor sample_want = Tensor::host(DType::kI32, Shape{rows});
  ASSERT_TRUE(sample_rows(*cpu, {cpu_logits.view(), params.view(), sample_want.view()}).is_ok());

  const Tensor dlogits = to_device(*cuda, p.logits);
  const Tensor dparams = to_device(*cuda, p.params), doffsets = to_device(*cuda, p.offsets);
  const Tensor dentries = to_device(*cuda, p.entries);
  ASSERT_TRUE(
      apply_penalties(*cuda, {dlogits.view(), dparams.view(), doffsets.view(), dentries.view()}).is_ok());
  auto ids = cuda->allocate(DType::kI32, Shape{rows});
  ASSERT_TRUE(ids.has_value());
  ASSERT_TRUE(argmax(*cuda, {dlogits.view(), ids->view()}).is_ok());
  const Tensor greedy_got = test::to_host(*cuda, ids->view());
  const Tensor dsample = to_device(*cuda, params);
  ASSERT_TRUE(sample_rows(*cuda, {dlogits.view(), dsample.view(), ids->view()}).is_ok());
  const Tensor sample_got = test::to_host(*cuda, ids->view());
  for (int64_t r = 0; r < rows; ++r) {
    EXPECT_EQ(greedy_got.as<int32_t>()[r], greedy_want.as<int32_t>()[r]) << "argmax row " << r;
    EXPECT_EQ(sample_got.as<int32_t>()[r], sample_want.as<int32_t>()[r]) << "sample_rows row " << r;
  }
}

}  // namespace
}  // namespace autoglm
