// Portable fallback of the CPU matmul for CPUs without AVX2/FMA/F16C (the driver is in matmul.cpp).
//
// One dot product per output with four interleaved f32 partial sums (lane p % 4), so the adds of neighbouring
// elements do not wait on each other; the compiler may not vectorize a float reduction by itself. Every
// output goes through the same function, which keeps the batch invariance of the SIMD paths.
#include <cstdint>

#include "backend/cpu/kernels/matmul_kernels.h"
#include "core/half.h"

namespace autoglm {
namespace {

struct LoadF32 {
  static float load(const float* p) { return *p; }
};
struct LoadF16 {
  static float load(const uint16_t* p) { return f16_to_f32(*p); }
};
struct LoadBf16 {
  static float load(const uint16_t* p) { return bf16_to_f32(*p); }
};

template <typename Load, typename W>
float dot(const float* x, const W* w, int64_t k) {
  float s[4] = {0.0f, 0.0f, 0.0f, 0.0f};
  int64_t p = 0;
  for (; p + 4 <= k; p += 4) {
    for (int l = 0; l < 4; ++l)
      s[l] += x[p + l] * Load::load(w + p + l);
  }
  for (int l = 0; p < k; ++p, ++l)
    s[l] += x[p] * Load::load(w + p);
  return (s[0] + s[1]) + (s[2] + s[3]);
}

template <typename Load, typename W>
void block(const float* x, const W* w, const float* bias, float* out, int64_t m, int64_t n, int64_t k,
           int64_t ldo) {
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      const float d = dot<Load>(x + i * k, w + j * k, k);
      out[i * ldo + j] = bias != nullptr ? d + bias[j] : d;
    }
  }
}

template <typename Load>
void convert(const uint16_t* src, float* dst, int64_t count) {
  for (int64_t i = 0; i < count; ++i)
    dst[i] = Load::load(src + i);
}

}  // namespace

const MatmulKernels& matmul_kernels_scalar() {
  static const MatmulKernels kernels{
      .stream_f32 = block<LoadF32, float>,
      .stream_f16 = block<LoadF16, uint16_t>,
      .stream_bf16 = block<LoadBf16, uint16_t>,
      .block_f32 = block<LoadF32, float>,
      .f16_to_f32 = convert<LoadF16>,
      .bf16_to_f32 = convert<LoadBf16>,
      .tile_m = 1,
  };
  return kernels;
}

}  // namespace autoglm
