// AVX-512 VNNI quantized matmul kernels: the bodies in quant_matmul_x86.h compiled with avx512vnni (and
// avx512vl for its 256-bit form), the int8 dot product being one vpdpbusd (u8 x s8, 4 products summed into
// s32) instead of the vpmaddubsw + vpmaddwd pair of AVX2. 256-bit vectors: Zen 4 splits 512-bit operations
// in two anyway, and 32-element blocks map onto them without shuffles. Layout, floors and accuracy are in
// quant_matmul_kernels.h, the driver in quant_matmul.cpp. GCC 12 flags the deliberate self-initialization
// inside _mm512_undefined_*() when it inlines avx512fintrin.h (GCC bug 105593); silenced for this file.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

// Every header is included before the target pragma, so only the kernel bodies get the target (inline
// library functions compiled for it could otherwise be picked by the linker for the whole program).
#include <immintrin.h>

#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

#include "backend/cpu/kernels/quant_matmul_kernels.h"
#include "tensor/quant_blocks.h"

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")
#include "backend/cpu/kernels/quant_matmul_x86.h"
#pragma GCC pop_options

namespace autoglm {

QuantKernels quant_kernels_avx512(DType dtype) {
  return x86_kernels<true>(dtype);
}

}  // namespace autoglm
