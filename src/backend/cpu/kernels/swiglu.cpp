// SwiGLU on a fused [gate | up] projection, f32, CPU: out[r, i] = silu(x[r, i]) * x[r, f + i].
//
// Layout: x [rows, 2f] row-major, out [rows, f]; no aliasing (checked by the op).
// Threading: the rows * f outputs are split flat over the pool in blocks of kGrain elements, so a decode
//   step (one row of ~14k) uses several threads as well as a long prefill; small calls run inline.
// Accumulation: f32; silu(g) = g / (1 + exp(-g)), which saturates to g or -0 without overflow trouble.
//   exp runs 8 lanes at a time (vec_exp.h, ~2 ulp; the file is compiled for AVX2 and baseline x86-64), so
//   a decode row costs about a nanosecond per 8 elements instead of a scalar expf call per element.
// Floor: 3 * rows * f * 4 bytes (read gate and up, write out) / memory bandwidth.
// Reference: ref/swiglu_ref.cpp.
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/kernels/vec_exp.h"
#include "ops/kernel_table.h"
#include "ops/swiglu.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define AUTOGLM_SWIGLU_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#pragma GCC diagnostic ignored "-Wpsabi"  // Vec8 never crosses a non-inlined call
#else
#define AUTOGLM_SWIGLU_CLONES
#endif

namespace autoglm {
namespace {

// With vector exp an element costs well under a nanosecond, so only rows of many thousands of elements
// are worth a pool hand-off (a few microseconds).
constexpr int64_t kGrain = 16384;

AUTOGLM_SWIGLU_CLONES
void swiglu_span(const float* gate, const float* up, float* out, int64_t n) {
  using namespace cpu_vec;
  int64_t i = 0;
  for (; i + kWidth <= n; i += kWidth) {
    const Vec8 g = load(gate + i);
    store(out + i, g / (splat(1.0f) + cpu_vec::exp(-g)) * load(up + i));
  }
  for (; i < n; ++i)
    out[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

void swiglu_cpu_f32(Backend& backend, const SwigluArgs& a) {
  const int64_t rows = a.x.shape[0], f = a.out.shape[1];
  if (f == 0) return;
  const float* x = a.x.as<const float>();
  float* out = a.out.as<float>();
  cpu_pool(backend).parallel_for(
      rows * f,
      [&](int64_t begin, int64_t end, int) {
        // Walk [begin, end) of the flat output row segment by row segment.
        int64_t r = begin / f, i = begin % f;
        for (int64_t done = begin; done < end; ++r, i = 0) {
          const int64_t n = std::min(f - i, end - done);
          const float* row = x + r * 2 * f;
          swiglu_span(row + i, row + f + i, out + r * f + i, n);
          done += n;
        }
      },
      kGrain);
}

const KernelRegistrar<SwigluArgs> kRegister(DeviceKind::kCpu, DType::kF32, swiglu_cpu_f32);

}  // namespace
}  // namespace autoglm
