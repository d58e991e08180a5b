// Rotary position embedding applied to the first rotary_dim dims of every head; the rest pass through.
// angle(t, i) = positions[t] * inv_freq[i] in f32, i < rotary_dim / 2. inv_freq carries any frequency
// scaling (Llama 3, linear, ...), computed once per model by the caller.
//   kNeox:        pairs (i, i + rotary_dim/2)   HF rotate_half (Llama, Qwen, Mistral)
//   kInterleaved: pairs (2i, 2i + 1)            GPT-J / GLM / GGUF "normal" layout
#pragma once

#include "backend/backend.h"

namespace autoglm {

enum class RopeLayout : uint8_t { kNeox, kInterleaved };

struct RopeArgs {
  TensorView x;          // [t, heads, head_dim] f32 (dispatch key)
  TensorView positions;  // [t] i32
  TensorView inv_freq;   // [rotary_dim / 2] f32
  int rotary_dim = 0;    // even, <= head_dim
  RopeLayout layout = RopeLayout::kNeox;
  TensorView out;  // same shape as x; may alias x
};

Status rope(Backend& backend, const RopeArgs& args);

}  // namespace autoglm
