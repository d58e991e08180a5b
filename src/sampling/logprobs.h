// Log-probabilities of one row of logits for the API's logprobs / top_logprobs.
#pragma once

#include <cstdint>
#include <span>

#include "autoglm/logprobs.h"

namespace autoglm {

// log_softmax(logits)[chosen] and the n_top most likely ids (descending, ties to the lower id). NaN logits
// count as -inf. The normaliser is accumulated in double from the maximum, so a row of large logits does not
// overflow. logits must not be empty; chosen must be a valid id; n_top is clamped to [0, vocabulary size].
TokenLogprobs token_logprobs(std::span<const float> logits, int32_t chosen, int32_t n_top);

}  // namespace autoglm
