#include "sampling/logits_processors.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <vector>

namespace autoglm {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();
constexpr float kPosInf = std::numeric_limits<float>::infinity();
// top_k up to a vocabulary / kTopKHeapDivisor selects through a k-sized heap (O(n log k), no copy of the
// row); a larger k copies the row once for nth_element (O(n)), cheaper than a heap that large.
constexpr size_t kTopKHeapDivisor = 8;
// top_p narrows the range holding its cut by selection until at most this many tokens are left, then
// sorts those. Also the first probe: typical LLM distributions reach top_p within a few hundred tokens.
constexpr size_t kTopPSortedRange = 256;

struct TopPCandidate {
  float logit;
  int32_t id;
  float weight;  // exp(logit - max_logit)
};

bool in_vocab(int32_t id, size_t vocab_size) {
  return id >= 0 && static_cast<size_t>(id) < vocab_size;
}

float max_logit(std::span<const float> logits) {
  float best = kNegInf;
  for (float logit : logits) {
    best = std::max(best, logit);
  }
  return best;
}

// exp(logit - max_logit): the unnormalised probability. With a +inf maximum only the +inf tokens count
// (each 1), which avoids inf - inf = NaN. Callers exclude max_logit == -inf (nothing to weigh).
float weight_of(float logit, float max_logit_value) {
  if (max_logit_value == kPosInf) {
    return logit == kPosInf ? 1.0f : 0.0f;
  }
  if (logit == kNegInf) {
    return 0.0f;
  }
  return std::exp(logit - max_logit_value);
}

// Per-thread scratch sized to the vocabulary, allocated once and kept all-zero between calls: each call
// clears only the entries its ids touched, so a call costs O(len(ids)), not O(vocabulary).
std::vector<uint8_t>& seen_scratch(size_t vocab_size) {
  thread_local std::vector<uint8_t> seen;
  if (seen.size() < vocab_size) {
    seen.resize(vocab_size, 0);
  }
  return seen;
}

std::vector<int32_t>& count_scratch(size_t vocab_size) {
  thread_local std::vector<int32_t> counts;
  if (counts.size() < vocab_size) {
    counts.resize(vocab_size, 0);
  }
  return counts;
}

void penalize_unseen(std::span<float> logits, std::span<const int32_t> ids, float penalty,
                     std::vector<uint8_t>& seen) {
  for (int32_t id : ids) {
    if (!in_vocab(id, logits.size()) || seen[id] != 0) {
      continue;
    }
    seen[id] = 1;
    float& logit = logits[id];
    // HF: where(score < 0, score * penalty, score / penalty); 0 stays 0 either way.
    logit = logit < 0.0f ? logit * penalty : logit / penalty;
  }
}

void clear_seen(std::span<const int32_t> ids, size_t vocab_size, std::vector<uint8_t>& seen) {
  for (int32_t id : ids) {
    if (in_vocab(id, vocab_size)) {
      seen[id] = 0;
    }
  }
}

}  // namespace

void replace_nan_with_neg_inf(std::span<float> logits) {
  for (float& logit : logits) {
    if (std::isnan(logit)) {
      logit = kNegInf;
    }
  }
}

void apply_repetition_penalty(std::span<float> logits, std::span<const int32_t> token_ids, float penalty) {
  apply_repetition_penalty(logits, token_ids, {}, penalty);
}

void apply_repetition_penalty(std::span<float> logits, std::span<const int32_t> prompt,
                              std::span<const int32_t> generated, float penalty) {
  if (penalty == 1.0f || logits.empty()) {
    return;
  }
  std::vector<uint8_t>& seen = seen_scratch(logits.size());
  penalize_unseen(logits, prompt, penalty, seen);
  penalize_unseen(logits, generated, penalty, seen);
  clear_seen(prompt, logits.size(), seen);
  clear_seen(generated, logits.size(), seen);
}

void apply_presence_frequency_penalties(std::span<float> logits, std::span<const int32_t> generated,
                                        float presence, float frequency) {
  if ((presence == 0.0f && frequency == 0.0f) || logits.empty()) {
    return;
  }
  std::vector<int32_t>& counts = count_scratch(logits.size());
  for (int32_t id : generated) {
    if (in_vocab(id, logits.size())) {
      ++counts[id];
    }
  }
  for (int32_t id : generated) {
    if (!in_vocab(id, logits.size()) || counts[id] == 0) {
      continue;  // out of range, or already applied at this id's first occurrence
    }
    // Two subtractions in vLLM's order (frequency term, then presence), so results round identically.
    logits[id] -= frequency * static_cast<float>(counts[id]);
    logits[id] -= presence;
    counts[id] = 0;
  }
}

void apply_temperature(std::span<float> logits, float temperature) {
  if (temperature == 1.0f) {
    return;
  }
  for (float& logit : logits) {
    logit /= temperature;
  }
}

void apply_top_k(std::span<float> logits, int32_t top_k) {
  const size_t n = logits.size();
  if (top_k <= 0 || static_cast<size_t>(top_k) >= n) {
    return;
  }
  const auto k = static_cast<size_t>(top_k);
  thread_local std::vector<float> scratch;
  float kth_largest = 0.0f;
  if (k <= n / kTopKHeapDivisor) {
    scratch.resize(k);
    std::partial_sort_copy(logits.begin(), logits.end(), scratch.begin(), scratch.end(),
                           std::greater<float>());
    kth_largest = scratch[k - 1];
  } else {
    scratch.assign(logits.begin(), logits.end());
    std::nth_element(scratch.begin(), scratch.begin() + static_cast<std::ptrdiff_t>(k - 1), scratch.end(),
                     std::greater<float>());
    kth_largest = scratch[k - 1];
  }
  for (float& logit : logits) {
    if (logit < kth_largest) {
      logit = kNegInf;
    }
  }
}

void apply_top_p(std::span<float> logits, float top_p) {
  if (!(top_p < 1.0f) || logits.empty()) {
    return;  // also skips a NaN top_p, which has no meaningful mask
  }
  const float max_value = max_logit(logits);
  if (max_value == kNegInf) {
    return;
  }
  thread_local std::vector<float> weights;
  weights.resize(logits.size());
  double total = 0.0;
  size_t n_positive = 0;
  for (size_t i = 0; i < logits.size(); ++i) {
    weights[i] = weight_of(logits[i], max_value);
    total += weights[i];
    n_positive += weights[i] > 0.0f ? 1 : 0;
  }
  // Only tokens that can precede the cut become candidates. A token of weight w with n_positive * w <
  // (1 - top_p) * total cannot: all tokens ordered at or after it weigh at most w each, so the mass before
  // it is at least total - n_positive * w > top_p * total. On LLM rows this drops nearly all of the long
  // tail before any selection. The largest token always stays (n_positive * w_max >= total). Tokens whose
  // weight underflows to 0 are dropped too, and masked like any token after the cut.
  const double tail_bound = (1.0 - static_cast<double>(std::max(top_p, 0.0f))) * total;
  thread_local std::vector<TopPCandidate> candidates;
  candidates.clear();
  for (size_t i = 0; i < logits.size(); ++i) {
    if (weights[i] > 0.0f && static_cast<double>(n_positive) * weights[i] >= tail_bound) {
      candidates.push_back({logits[i], static_cast<int32_t>(i), weights[i]});
    }
  }
  const auto before = [](const TopPCandidate& a, const TopPCandidate& b) {
    return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
  };
  const auto at = [&](size_t i) { return candidates.begin() + static_cast<std::ptrdiff_t>(i); };
  const double target = static_cast<double>(top_p) * total;
  // The cut is the first token, in order, whose inclusive cumulative mass reaches target. Narrow the range
  // [lo, hi) known to hold it by selection on mass (quickselect, O(n) expected) instead of sorting the
  // row: invariant: candidates[0, lo) precede the range in order and hold mass_before < target.
  size_t lo = 0;
  size_t hi = candidates.size();
  double mass_before = 0.0;
  bool first_split = true;
  while (hi - lo > kTopPSortedRange) {
    // Peaked distributions put the cut within the first few hundred tokens: probe there first.
    const size_t mid = first_split ? kTopPSortedRange : lo + (hi - lo) / 2;
    first_split = false;
    std::nth_element(at(lo), at(mid), at(hi), before);
    double upper = 0.0;
    for (size_t i = lo; i < mid; ++i) {
      upper += candidates[i].weight;
    }
    if (mass_before + upper >= target) {
      hi = mid;
    } else {
      mass_before += upper;
      lo = mid;
    }
  }
  std::sort(at(lo), at(hi), before);
  double cumulative = mass_before;
  const TopPCandidate* cut = nullptr;
  for (size_t i = lo; i < hi; ++i) {
    cumulative += candidates[i].weight;
    if (cumulative >= target) {
      cut = &candidates[i];
      break;
    }
  }
  if (cut == nullptr) {
    return;  // the whole mass was needed (summing in another order can land a rounding short of it)
  }
  // Keep exactly the tokens ordered at or before the cut: one comparison per token, no index set.
  for (size_t i = 0; i < logits.size(); ++i) {
    const bool kept =
        logits[i] > cut->logit || (logits[i] == cut->logit && static_cast<int32_t>(i) <= cut->id);
    if (!kept) {
      logits[i] = kNegInf;
    }
  }
}

void apply_min_p(std::span<float> logits, float min_p) {
  if (!(min_p > 0.0f) || logits.empty()) {
    return;
  }
  const float max_value = max_logit(logits);
  if (max_value == kNegInf) {
    return;
  }
  // p / p_max = exp(logit - max): compare in log space. With a +inf maximum, inf - inf is NaN and the
  // comparison below is false, so exactly the +inf tokens stay.
  const double log_min_p = std::log(std::min(static_cast<double>(min_p), 1.0));
  for (float& logit : logits) {
    if (static_cast<double>(logit) - static_cast<double>(max_value) < log_min_p) {
      logit = kNegInf;
    }
  }
}

int32_t argmax(std::span<const float> logits) {
  size_t best = 0;
  float best_value = logits.empty() ? kNegInf : logits[0];
  for (size_t i = 1; i < logits.size(); ++i) {
    if (logits[i] > best_value) {  // strict: the first (lowest) id wins ties
      best = i;
      best_value = logits[i];
    }
  }
  return static_cast<int32_t>(best);
}

int32_t draw_from_logits(std::span<const float> logits, double uniform) {
  const float max_value = max_logit(logits);
  if (max_value == kNegInf) {
    return argmax(logits);
  }
  // One exp per token, kept for the scan: exp dominates the cost of a draw over a large vocabulary.
  thread_local std::vector<float> weights;
  weights.resize(logits.size());
  double total = 0.0;
  for (size_t i = 0; i < logits.size(); ++i) {
    weights[i] = weight_of(logits[i], max_value);
    total += weights[i];
  }
  const double target = uniform * total;
  double cumulative = 0.0;
  int32_t last_drawable = -1;
  for (size_t i = 0; i < logits.size(); ++i) {
    if (weights[i] <= 0.0f) {
      continue;  // masked tokens (probability 0) can never be drawn, whatever the rounding
    }
    cumulative += weights[i];
    last_drawable = static_cast<int32_t>(i);
    if (target < cumulative) {
      return last_drawable;
    }
  }
  // Reached only if uniform * total rounded up to the total.
  return last_drawable;
}

}  // namespace autoglm
