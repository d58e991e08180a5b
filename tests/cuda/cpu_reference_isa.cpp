// The CPU reference of the CUDA op tests multiplies bf16 weights by x as given (f32), as the tolerances
// here assume: the CUDA GEMV keeps x in f32 at m = 1, where the CPU's AVX512_BF16 dot products would round it
// to bf16 (backend/cpu/kernels/matmul_avx512_bf16.cpp). So this binary caps the CPU matmul at the f32-FMA
// kernels before any test runs.
#include "backend/cpu/kernels/matmul_kernels.h"

namespace autoglm {
namespace {

const bool kCpuReferenceInF32 = [] {
  if (matmul_isa() == MatmulIsa::kAvx512Bf16) matmul_set_isa(MatmulIsa::kAvx512);
  return true;
}();

}  // namespace
}  // namespace autoglm
