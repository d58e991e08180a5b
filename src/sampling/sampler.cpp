#include "sampling/sampler.h"

#include "sampling/logits_processors.h"

namespace autoglm {

Sampler::Sampler(const SamplingParams& params)
    : params_(params), rng_(params.seed.has_value() ? *params.seed : Rng::entropy_seed()) {}

bool Sampler::has_penalties() const {
  const SamplingParams& p = params_;
  return p.repetition_penalty != 1.0f || p.presence_penalty != 0.0f || p.frequency_penalty != 0.0f;
}

std::span<const int32_t> Sampler::penalty_entries(std::span<const int32_t> prompt,
                                                  std::span<const int32_t> generated) {
  if (!has_penalties()) return {};
  if (generated.size() < penalty_counted_) {  // not an extension of what was counted: start over
    penalty_entries_.clear();
    penalty_index_.clear();
    penalty_counted_ = 0;
    penalty_prompt_added_ = false;
  }
  // Field offsets within a triple.
  constexpr size_t kCount = 1, kInPrompt = 2;
  auto triple_of = [&](int32_t id) -> int32_t* {
    auto [it, added] = penalty_index_.try_emplace(id, penalty_entries_.size());
    if (added) penalty_entries_.insert(penalty_entries_.end(), {id, 0, 0});
    return penalty_entries_.data() + it->second;
  };
  // Only the repetition penalty reads the prompt.
  if (!penalty_prompt_added_ && params_.repetition_penalty != 1.0f) {
    for (int32_t id : prompt)
      triple_of(id)[kInPrompt] = 1;
  }
  penalty_prompt_added_ = true;
  for (size_t i = penalty_counted_; i < generated.size(); ++i)
    ++triple_of(generated[i])[kCount];
  penalty_counted_ = generated.size();
  return penalty_entries_;
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
