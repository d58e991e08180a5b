// SiLU-gated linear unit on a fused gate/up projection: out[r, i] = silu(x[r, i]) * x[r, f + i], i < f,
// where x = [gate | up] along the last dim (HF GLM's gate_up_proj.chunk(2) order; Llama-family weights are
// concatenated in the same order at load time).
#pragma once

#include "backend/backend.h"

namespace autoglm {

struct SwigluArgs {
  TensorView x;    // [rows, 2f] f32 (dispatch key)
  TensorView out;  // [rows, f] f32
};

Status swiglu(Backend& backend, const SwigluArgs& args);

}  // namespace autoglm
