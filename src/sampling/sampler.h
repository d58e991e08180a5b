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
#include <unordered_map>
#include <vector>

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

  // Whether the penalties change the row: then a choice made elsewhere first applies them from
  // penalty_entries (ops/apply_penalties.h).
  bool has_penalties() const;
  // The ids the penalties touch, as ops/apply_penalties.h's entries: flattened (id, count, in_prompt)
  // triples, one per distinct id of generated and, with a repetition penalty, of prompt; count is the id's
  // occurrences in generated, in_prompt 1 if prompt holds it. Ids in order of first appearance (the prompt's
  // first). Kept between calls and brought up to date with the ids appended to generated since the last call,
  // so a decode step costs O(1) amortised (the first call O(prompt)); generated must extend the previous
  // call's (it is recounted from scratch otherwise) and prompt must not change. Valid until the next call.
  // Empty without penalties.
  std::span<const int32_t> penalty_entries(std::span<const int32_t> prompt,
                                           std::span<const int32_t> generated);

 private:
  SamplingParams params_;
  // Seeded from params.seed, or from std::random_device when the request gave none.
  Rng rng_;
  // penalty_entries' state: the triples, each id's triple, and how many generated ids they count.
  std::vector<int32_t> penalty_entries_;
  std::unordered_map<int32_t, size_t> penalty_index_;
  size_t penalty_counted_ = 0;
  bool penalty_prompt_added_ = false;
};

}  // namespace autoglm
