// Row-wise sampling where the logits are, so a sampled step sends back one id per sequence instead of a
// vocabulary-sized row (128k floats per sequence for Llama 3).
//
// For row r with params [temperature, top_p, min_p, uniform]:
//   temperature <= 0: the argmax (exactly ops/argmax.h).
//   otherwise p_i = exp((x_i - max) / temperature) (NaN and -inf logits have p = 0), then
//   top_p < 1: keep the tokens with p_i >= t for the largest threshold t whose kept mass is still >= top_p of
//     the total (sampling/logits_processors.h's nucleus, except that tokens tied at the boundary are all
//     kept);
//   min_p > 0: also drop the tokens with p_i < min_p (p of the most likely token is 1);
//   then one draw by inverse CDF over the kept tokens in ascending id order: the first id whose cumulative
//   kept mass exceeds uniform * (total kept mass). +inf logits share all the mass equally.
// Deterministic for given inputs on a given backend. Penalties and top-k stay with the host sampler.
#pragma once

#include "backend/backend.h"

namespace autoglm {

struct SampleRowsArgs {
  TensorView logits;  // [rows, c] f32 (dispatch key), c >= 1
  TensorView params;  // [rows, 4] f32: temperature, top_p, min_p, uniform in [0, 1)
  TensorView out;     // [rows] i32
};

Status sample_rows(Backend& backend, const SampleRowsArgs& args);

}  // namespace autoglm
