// Chooses the next token from a row of logits, following SamplingParams.
//
// Order of the logits processors (that of HF transformers and vLLM): repetition penalty, presence and
// frequency penalties, temperature, then the top-k, top-p and min-p masks on the resulting distribution,
// then one draw from the request's own seeded generator. Greedy (temperature 0) still applies the
// penalties, then takes the argmax.
#pragma once

#include <cstdint>
#include <span>

#include "autoglm/sampling_params.h"

namespace autoglm {

class Sampler {
 public:
  explicit Sampler(const SamplingParams& params);

  // logits: one row over the vocabulary, modified in place (penalties, temperature, masks).
  // prompt: the prompt's token ids; generated: the ids produced so far for this request.
  int32_t sample(std::span<float> logits, std::span<const int32_t> prompt, std::span<const int32_t> generated);

  const SamplingParams& params() const { return params_; }

 private:
  SamplingParams params_;
  // ... generator state and scratch buffers (implementation's choice)
};

}  // namespace autoglm
