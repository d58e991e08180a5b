// Chooses the next token from a row of logits, following SamplingParams.
//
// Order of the logits processors (that of HF transformers and vLLM): repetition penalty, presence and
// frequency penalties, temperature, then the top-k, top-p and min-p masks on the resulting distribution,
// then one draw from the request's own seeded generator. Greedy (temperature <= 0) still applies the
// penalties, then takes the argmax (ties to the lowest id) and consumes no random number.
//
// NaN logits are treated as -inf (never drawn). If every logit is -inf or NaN, sample returns 0, the
// argmax rule applied to an all-tied row. The processors themselves are in logits_processors.h.
//
// Reproducibility: with params.seed set, the same logits give the same tokens. The uniform numbers are
// bit-identical on every platform (rng.h); the probabilities go through the platform's expf, which may
// differ by an ulp between C libraries, so a draw landing within rounding of a CDF boundary could differ
// across platforms, never across runs on one.
//
// One Sampler per request; not thread-safe (it owns the request's generator).
#pragma once

#include <cstdint>
#include <span>

#include "autoglm/sampling_params.h"
#include "sampling/rng.h"

namespace autoglm {

class Sampler {
 public:
  explicit Sampler(const SamplingParams& params);

  // logits: one row over the vocabulary (not empty), modified in place (penalties, temperature, masks).
  // prompt: the prompt's token ids; generated: the ids produced so far for this request. The repetition
  // penalty covers both; the presence and frequency penalties only generated.
  int32_t sample(std::span<float> logits, std::span<const int32_t> prompt,
                 std::span<const int32_t> generated);

  const SamplingParams& params() const { return params_; }
  // The uniform number in [0, 1) the next draw would use, consumed: for a draw made elsewhere (on the device,
  // ops/sample_rows.h) from the request's own seeded sequence.
  double next_uniform() { return rng_.next_double(); }
  // Whether the choice needs this sampler's host state (penalties over the history, top-k); otherwise a
  // device kernel taking temperature, top_p, min_p and a uniform makes it.
  bool needs_host() const;

 private:
  SamplingParams params_;
  // Seeded from params.seed, or from std::random_device when the request gave none.
  Rng rng_;
};

}  // namespace autoglm
