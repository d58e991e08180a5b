// Rotary position embedding, f32, CUDA, both pair layouts, partial rotary.
//
// Layout: x and out are [t, heads, head_dim]; positions [t] i32 and inv_freq [rotary_dim / 2] f32 on the
//   device. kNeox pairs (i, i + rotary_dim/2), kInterleaved pairs (2i, 2i + 1); dims >= rotary_dim are
//   copied. out may be x: each pair is read and written by the same thread, and the copy is skipped.
// Math (rope_math.cuh, shared with rope_kv_store.cu): angle = float(position) * inv_freq[i] in f32, then the
//   accurate sincosf, as HF transformers and the CPU kernel.
// Threading: a flat grid-stride loop, one thread per rotated pair (consecutive threads take consecutive
//   pairs of a head, so loads coalesce; interleaved pairs are one float2 load when aligned), then one thread
//   per passed-through element. Each thread recomputes its angle: a few dozen FLOPs against 16 bytes moved.
// Floor: 2 * t * heads * head_dim * 4 bytes / memory bandwidth.
// Reference: kernels/ref/rope_ref.cpp through the CPU kernel (tests/cuda/test_rope.cpp).
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/kernels/rope_math.cuh"
#include "ops/kernel_table.h"
#include "ops/rope.h"

namespace autoglm {
namespace {

constexpr int kThreads = 256;

using cuda_rope::PairAccess;

template <PairAccess kAccess>
__global__ void __launch_bounds__(kThreads)
    rope_kernel(const float* x, const int32_t* __restrict__ positions, const float* __restrict__ inv_freq,
                float* out, int64_t heads, int64_t head_dim, int64_t half, int64_t n_pairs, int64_t n_pass) {
  // x and out may be the same memory, so neither is __restrict__.
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  const int64_t first = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  for (int64_t p = first; p < n_pairs; p += stride) {
    const int64_t row = p / half, i = p % half;  // row = token * heads + head
    const int64_t token = row / heads;
    float s, c;
    cuda_rope::angle_sincos(positions[token], inv_freq[i], &s, &c);
    const float* xr = x + row * head_dim;
    float* yr = out + row * head_dim;
    const float2 y = cuda_rope::rotate(cuda_rope::load_pair<kAccess>(xr, i, half), s, c);
    cuda_rope::store_pair<kAccess>(yr, i, half, y);
  }
  // Dims past rotary_dim pass through (n_pass is 0 when out is x).
  const int64_t pass = head_dim - 2 * half;
  for (int64_t e = first; e < n_pass; e += stride) {
    const int64_t offset = (e / pass) * head_dim + 2 * half + e % pass;
    out[offset] = x[offset];
  }
}

template <PairAccess kAccess>
void launch(Backend& backend, const RopeArgs& a, int64_t n_pairs, int64_t n_pass) {
  CudaBackend& cuda = cuda_backend(backend);
  const int64_t work = std::max(n_pairs, n_pass);
  // Enough blocks to fill every SM a few times over; the grid-stride loop covers the rest.
  const int64_t max_blocks = static_cast<int64_t>(cuda.properties().multiProcessorCount) * 16;
  const auto blocks =
      static_cast<unsigned>(std::clamp<int64_t>((work + kThreads - 1) / kThreads, 1, max_blocks));
  rope_kernel<kAccess><<<blocks, kThreads, 0, cuda.stream()>>>(
      a.x.as<const float>(), a.positions.as<const int32_t>(), a.inv_freq.as<const float>(), a.out.as<float>(),
      a.x.shape[1], a.x.shape[2], a.rotary_dim / 2, n_pairs, n_pass);
}

void rope_cuda_f32(Backend& backend, const RopeArgs& a) {
  const int64_t t = a.x.shape[0], heads = a.x.shape[1], head_dim = a.x.shape[2], half = a.rotary_dim / 2;
  const int64_t rows = t * heads;
  const int64_t n_pairs = rows * half;
  const int64_t n_pass = a.out.data == a.x.data ? 0 : rows * (head_dim - 2 * half);
  if (n_pairs == 0 && n_pass == 0) return;
  switch (a.layout) {
    case RopeLayout::kNeox:
      launch<PairAccess::kNeox>(backend, a, n_pairs, n_pass);
      break;
    case RopeLayout::kInterleaved: {
      // Every row starts 8-byte aligned when head_dim is even and both bases are.
      const bool vec2 = head_dim % 2 == 0 && reinterpret_cast<uintptr_t>(a.x.data) % 8 == 0 &&
                        reinterpret_cast<uintptr_t>(a.out.data) % 8 == 0;
      if (vec2) {
        launch<PairAccess::kInterleavedVec2>(backend, a, n_pairs, n_pass);
      } else {
        launch<PairAccess::kInterleavedScalar>(backend, a, n_pairs, n_pass);
      }
      break;
    }
  }
  cuda_backend(backend).note_launch("rope");
}

const KernelRegistrar<RopeArgs> kRegister(DeviceKind::kCuda, DType::kF32, rope_cuda_f32);

}  // namespace
}  // namespace autoglm
