// AVX2 quantized matmul kernels: the bodies in quant_matmul_x86.h compiled for avx2/fma/f16c, with the
// int8 dot product as vpmaddubsw (u8 x s8 pairs to s16) + vpmaddwd against ones (to s32); layout, floors
// and accuracy are in quant_matmul_kernels.h, the driver in quant_matmul.cpp. Function-level target only:
// the driver calls in here after checking the CPU.
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
#pragma GCC target("avx2,fma,f16c")
#include "backend/cpu/kernels/quant_matmul_x86.h"
#pragma GCC pop_options

namespace autoglm {

QuantKernels quant_kernels_avx2(DType dtype) {
  return x86_kernels<false>(dtype);
}

void quantize_x_row_avx2(const float* x, int64_t k, int8_t* q, float* d, float* sum32, float* sum16) {
  quantize_x_row_x86(x, k, q, d, sum32, sum16);
}

}  // namespace autoglm
