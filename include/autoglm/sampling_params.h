// How the next token is chosen from the logits. Plain data; no third-party types.
#pragma once

#include <cstdint>
#include <optional>

namespace autoglm {

struct SamplingParams {
  // 0 selects greedy decoding (argmax; ties go to the lowest id). Otherwise logits are divided by it.
  float temperature = 1.0f;
  // Keep only the k most likely tokens; 0 or negative disables.
  int32_t top_k = 0;
  // Keep the smallest set of most likely tokens whose probability sums to at least top_p; 1 disables.
  float top_p = 1.0f;
  // Drop tokens whose probability is below min_p times the top probability; 0 disables.
  float min_p = 0.0f;
  // HF/CTRL repetition penalty over prompt and generated tokens: positive logits divided, negative
  // multiplied by it; 1 disables.
  float repetition_penalty = 1.0f;
  // OpenAI penalties over generated tokens: logit -= presence * [count > 0] + frequency * count.
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
  // Seeds the request's random generator; unset draws a seed from the system entropy source.
  std::optional<uint64_t> seed;
};

}  // namespace autoglm
