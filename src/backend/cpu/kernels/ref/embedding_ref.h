// Scalar reference of embedding (src/ops/embedding.h): the oracle of the kernel tests.
#pragma once

#include "ops/embedding.h"

namespace autoglm {

// out[t, :] = table[ids[t], :] as f32. Single thread; expects ids already checked to lie in [0, vocab).
void embedding_ref(const EmbeddingArgs& args);

}  // namespace autoglm
