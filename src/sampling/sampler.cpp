#include "sampling/sampler.h"

#include "sampling/logits_processors.h"

namespace autoglm {

Sampler::Sampler(const SamplingParams& params)
    : params_(params), rng_(params.seed.has_value() ? *params.seed : Rng::entropy_seed()) {}

bool Sampler::needs_host() const {
  const SamplingParams& p = params_;
  return p.repetition_penalty != 1.0f || p.presence_penalty != 0.0f || p.frequency_penalty != 0.0f ||
         (p.temperature > 0.0f && p.top_k > 0);
}

int32_t Sampler::sample(std::span<float> logits, std::span<const int32_t> prompt,
                        std::span<const int32_t> generated) {
  replace_nan_with_neg_inf(logits);
  apply_repetition_penalty(logits, prompt, generated, params_.repetition_penalty);
  apply_presence_frequency_penalties(logits, generated, params_.presence_penalty, params_.frequency_penalty);
  // The masks never remove the most likely token, so greedy decoding can skip them and the draw.
  if (!(params_.temperature > 0.0f)) {
    return argmax(logits);
  }
  apply_temperature(logits, params_.temperature);
  apply_top_k(logits, params_.top_k);
  apply_top_p(logits, params_.top_p);
  apply_min_p(logits, params_.min_p);
  return draw_from_logits(logits, rng_.next_double());
}

}  // namespace autoglm
