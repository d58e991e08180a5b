// The logits processors of sampling, each a plain function over one row of logits (one float per
// vocabulary id) so it can be tested on its own. Sampler chains them in the order of HF transformers and
// vLLM; see sampler.h.
//
// Conventions shared by every function here:
// - A masked token has logit -inf; masks only ever lower logits to -inf, never raise one.
// - Rows must be NaN-free: Sampler first calls replace_nan_with_neg_inf, so a NaN (a broken kernel, an
//   overflow) becomes an impossible token instead of poisoning the comparisons and the softmax.
// - +inf is allowed and means "certain": when any logit is +inf, the +inf tokens share all the
//   probability equally and every finite token has probability 0.
// - Token ids outside [0, vocabulary size) in a history are ignored rather than trusted as indices.
// - Ties in probability are broken towards the lower id wherever an order is needed (argmax, top-p).
// - Thread-safe: scratch buffers (vocabulary-sized, allocated once per thread and reused) are
//   thread_local, so concurrent calls on different rows do not interfere and steady state allocates
//   nothing.
#pragma once

#include <cstdint>
#include <span>

namespace autoglm {

// Replaces every NaN logit by -inf.
void replace_nan_with_neg_inf(std::span<float> logits);

// HF/CTRL repetition penalty: for each distinct id in token_ids (an id seen many times is penalised once),
// a positive logit is divided by penalty and a negative one multiplied by it, so the token always becomes
// less likely. penalty 1 leaves the row unchanged; penalty must be > 0.
void apply_repetition_penalty(std::span<float> logits, std::span<const int32_t> token_ids, float penalty);

// The same over the union of two histories (prompt and generated ids): an id in both is penalised once,
// as HF does over its single input_ids, without concatenating the histories each step.
void apply_repetition_penalty(std::span<float> logits, std::span<const int32_t> prompt,
                              std::span<const int32_t> generated, float penalty);

// OpenAI presence and frequency penalties over the generated ids:
// logit[id] -= presence * [count(id) > 0] + frequency * count(id).
void apply_presence_frequency_penalties(std::span<float> logits, std::span<const int32_t> generated,
                                        float presence, float frequency);

// Divides every logit by temperature (division, not multiplication by 1 / temperature, to round exactly
// as HF does). temperature must be > 0; greedy decoding (temperature 0) is Sampler's concern.
void apply_temperature(std::span<float> logits, float temperature);

// Keeps the top_k largest logits and masks the rest. Ties at the boundary are all kept: a token is masked
// only if its logit is strictly below the k-th largest value, which is what HF's TopKLogitsWarper
// (scores < topk(scores, k).values[-1]) and vLLM do, so more than k tokens may survive when values tie.
// top_k <= 0 or top_k >= vocabulary size leaves the row unchanged. Cost: O(n log k), no full sort.
void apply_top_k(std::span<float> logits, int32_t top_k);

// Nucleus filtering with HF semantics: order tokens by probability (descending, ties by lower id) and keep
// the smallest prefix whose cumulative probability is >= top_p, i.e. a token survives iff the tokens
// before it sum to less than top_p. The most likely token always survives, so top_p <= 0 keeps exactly
// one token; top_p >= 1 leaves the row unchanged. Probabilities are the softmax of the row as given
// (after earlier masks), accumulated in double. Cost: O(n) expected (selection on cumulative mass, then a
// sort of at most a few hundred tokens), never a full sort of the vocabulary.
void apply_top_p(std::span<float> logits, float top_p);

// Keeps tokens with probability >= min_p * (largest probability), computed as
// logit - max_logit >= log(min_p) in double, so no softmax is needed. min_p <= 0 leaves the row
// unchanged; min_p >= 1 keeps only the tokens tied with the maximum.
void apply_min_p(std::span<float> logits, float min_p);

// The id of the largest logit, the lowest such id on ties (and 0 when every logit is -inf).
// logits must not be empty.
int32_t argmax(std::span<const float> logits);

// One draw from softmax(logits) by inverse CDF over ids in ascending order, with uniform in [0, 1).
// Tokens at -inf (masked) have probability 0 and are never returned. When no token has a positive
// probability (every logit -inf) it falls back to argmax. logits must not be empty.
int32_t draw_from_logits(std::span<const float> logits, double uniform);

}  // namespace autoglm
