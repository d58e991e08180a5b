// Row-wise sampling where the logits are, so a sampled step sends back one id per sequence instead of a
// vocabulary-sized row (128k floats per sequence for Llama 3).
//
// For row r with params [temperature, top_p, min_p, uniform, top_k]:
//   temperature <= 0: the argmax (exactly ops/argmax.h).
//   otherwise p_i = exp((x_i - max) / temperature) (NaN and -inf logits have p = 0), then
//   1 <= top_k < c: p_i = 0 for the tokens whose x_i / temperature is strictly below the top_k-th largest of
//     those quotients (NaN ranking as -inf): exactly the tokens sampling/logits_processors.h's apply_top_k
//     masks, ties at the boundary all kept; top_k < 1 or >= c masks nothing;
//   top_p < 1: keep the tokens with p_i >= t for the largest threshold t whose kept mass is still >= top_p of
//     the total (sampling/logits_processors.h's nucleus, except that tokens tied at the boundary are all
//     kept);
//   min_p > 0: also drop the tokens with p_i < min_p (p of the most likely token is 1);
//   then one draw by inverse CDF over the kept tokens in ascending id order: the first id whose cumulative
//   kept mass exceeds uniform * (total kept mass). +inf logits share all the mass equally.
// The masks come in the host sampler's order: top-k, then top-p and min-p over what it kept. Deterministic
// for given inputs on a given backend. Penalties come before, from ops/apply_penalties.h on the same rows.
#pragma once

#include "backend/backend.h"

namespace autoglm {

// Columns of SampleRowsArgs::params.
inline constexpr int64_t kSampleRowsParams = 5;

struct SampleRowsArgs {
  TensorView logits;  // [rows, c] f32 (dispatch key), c >= 1
  TensorView params;  // [rows, 5] f32: temperature, top_p, min_p, uniform in [0, 1), top_k (an integer)
  TensorView out;     // [rows] i32
};

Status sample_rows(Backend& backend, const SampleRowsArgs& args);

}  // namespace autoglm
