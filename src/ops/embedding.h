// out[t, :] = table[ids[t], :] converted to f32. Floor: rows gathered * row bytes.
#pragma once

#include "backend/backend.h"

namespace autoglm {

struct EmbeddingArgs {
  TensorView ids;    // [t] i32, each in [0, vocab)
  TensorView table;  // [vocab, d] f32/f16/bf16 (dispatch key)
  TensorView out;    // [t, d] f32
};

// Rejects ids outside [0, vocab) with kOutOfRange before any kernel runs.
Status embedding(Backend& backend, const EmbeddingArgs& args);

}  // namespace autoglm
