// The CPU backend's storage of quantized matrices: Q4_K weights that only matmuls read are rewritten, in
// place, with 8 rows interleaved (DType::kQ4_Kx8, tensor/quant_repack.h), the layout whose decode kernel
// runs at twice the rate of the plain one (quant_matmul_x8_x86.h). Same bytes per weight; no dequantization.
// Left as they are: the embedding (row lookups), an LM head tied to it, and matrices whose rows (or whose
// fused parts' rows) are not whole groups of 8.
#pragma once

#include "core/status.h"
#include "model/decoder_weights.h"

namespace autoglm {

Status interleave_cpu_matrices(DecoderWeights& weights);

}  // namespace autoglm
