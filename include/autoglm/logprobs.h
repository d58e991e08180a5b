// Log-probabilities of generated tokens, as the OpenAI API reports them. Plain data; no third-party types.
#pragma once

#include <cstdint>
#include <vector>

namespace autoglm {

struct TokenLogprob {
  int32_t token = 0;
  float logprob = 0;  // natural log; -inf for a token the model gives no probability
};

// For one generated token: its own log-probability and the most likely alternatives (most likely first, ties
// to the lower id). The distribution is the model's own (log-softmax of the raw logits, before penalties,
// temperature and truncation), so the figures do not depend on how the token was chosen.
struct TokenLogprobs {
  TokenLogprob chosen;
  std::vector<TokenLogprob> top;
};

}  // namespace autoglm
