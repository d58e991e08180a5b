#include "sampling/logprobs.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <vector>

namespace autoglm {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

float finite_or_neg_inf(float x) {
  return std::isnan(x) ? kNegInf : x;
}

// log p(id) for every id of the row as a function of its logit.
std::function<float(float)> log_softmax_of(std::span<const float> logits) {
  float max_logit = kNegInf;
  for (float x : logits)
    max_logit = std::max(max_logit, finite_or_neg_inf(x));
  if (max_logit == kNegInf) return [](float) { return kNegInf; };  // no distribution at all
  if (std::isinf(max_logit)) {
    // +inf logits share all the mass (sampling's convention, logits_processors.h).
    double count = 0;
    for (float x : logits)
      count += finite_or_neg_inf(x) == max_logit ? 1 : 0;
    const float share = static_cast<float>(-std::log(count));
    return [max_logit, share](float x) { return finite_or_neg_inf(x) == max_logit ? share : kNegInf; };
  }
  // log Z = max + log sum exp(x - max), in double so a large row neither overflows nor loses the tail.
  double sum = 0;
  for (float x : logits)
    sum += std::exp(static_cast<double>(finite_or_neg_inf(x)) - max_logit);
  const double log_z = max_logit + std::log(sum);
  return [log_z](float x) {
    const float v = finite_or_neg_inf(x);
    return v == kNegInf ? kNegInf : static_cast<float>(static_cast<double>(v) - log_z);
  };
}

}  // namespace

TokenLogprobs token_logprobs(std::span<const float> logits, int32_t chosen, int32_t n_top) {
  const std::function<float(float)> logprob = log_softmax_of(logits);
  TokenLogprobs out;
  out.chosen = {chosen, logprob(logits[static_cast<size_t>(chosen)])};
  const size_t k = static_cast<size_t>(std::clamp<int64_t>(n_top, 0, static_cast<int64_t>(logits.size())));
  if (k == 0) return out;
  // Partial selection over ids: larger logit first, the lower id on ties.
  std::vector<int32_t> ids(logits.size());
  for (size_t i = 0; i < ids.size(); ++i)
    ids[i] = static_cast<int32_t>(i);
  auto before = [&](int32_t a, int32_t b) {
    const float va = finite_or_neg_inf(logits[static_cast<size_t>(a)]);
    const float vb = finite_or_neg_inf(logits[static_cast<size_t>(b)]);
    return va != vb ? va > vb : a < b;
  };
  std::partial_sort(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(k), ids.end(), before);
  out.top.reserve(k);
  for (size_t i = 0; i < k; ++i)
    out.top.push_back({ids[i], logprob(logits[static_cast<size_t>(ids[i])])});
  return out;
}

}  // namespace autoglm
