// Embedding gather, CUDA: out[t, :] = table[ids[t], :] widened to f32; table f32, f16 or bf16, [vocab, d].
//
// Layout: ids [t] i32 on the device, table [vocab, d] row-major, out [t, d] f32.
// Threading: grid.x is the token, grid.y splits a row into chunks of kThreads vectors; within a row threads
//   take consecutive vectors, so loads and stores coalesce. A vector is 16 bytes of table (4 f32 or 8
//   f16/bf16) when d is a multiple of its width and table and out are 16-byte aligned, else one element.
// Ids: the op checks host ids; device ids cannot be checked without a copy back, so an id outside [0, vocab)
//   writes a row of NaN instead of reading outside the table (the error shows in the logits, not as a fault).
// Conversion: exact widening (f16 through __half2float, bf16 by a 16-bit shift), so the result equals the
//   CPU's bit for bit.
// Floor: t * d * (bytes(table dtype) + 4) bytes / memory bandwidth; decode (t = 1) is latency-bound.
// Reference: kernels/ref/embedding_ref.cpp through the CPU kernel (tests/cuda/test_embedding.cpp).
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "backend/cuda/cuda_backend.h"
#include "ops/embedding.h"
#include "ops/kernel_table.h"

namespace autoglm {
namespace {

constexpr int kThreads = 256;

__device__ __forceinline__ float widen(float v) {
  return v;
}

struct F16 {
  uint16_t bits;
};
struct BF16 {
  uint16_t bits;
};

__device__ __forceinline__ float widen(F16 v) {
  return __half2float(__ushort_as_half(v.bits));
}
__device__ __forceinline__ float widen(BF16 v) {
  return __uint_as_float(static_cast<uint32_t>(v.bits) << 16);
}

// kVec elements of T per 16-byte load when vectorized, 1 otherwise.
template <typename T, int kVec>
__global__ void __launch_bounds__(kThreads)
    embedding_kernel(const int32_t* __restrict__ ids, const T* __restrict__ table, float* __restrict__ out,
                     int64_t vocab, int64_t d) {
  const int64_t token = blockIdx.x;
  const int64_t v = static_cast<int64_t>(blockIdx.y) * kThreads + threadIdx.x;  // vector index in the row
  if (v * kVec >= d) return;
  const int32_t id = ids[token];
  float* dst = out + token * d + v * kVec;
  if (id < 0 || id >= vocab) {
#pragma unroll
    for (int k = 0; k < kVec; ++k)
      dst[k] = __int_as_float(0x7fc00000);
    return;
  }
  const T* src = table + static_cast<int64_t>(id) * d + v * kVec;
  if constexpr (kVec == 1) {
    *dst = widen(*src);
  } else {
    // One 16-byte load of kVec elements, kVec / 4 16-byte stores.
    union {
      uint4 raw;
      T elems[kVec];
    } in;
    in.raw = *reinterpret_cast<const uint4*>(src);
#pragma unroll
    for (int k = 0; k < kVec; k += 4) {
      reinterpret_cast<float4*>(dst)[k / 4] = make_float4(widen(in.elems[k]), widen(in.elems[k + 1]),
                                                          widen(in.elems[k + 2]), widen(in.elems[k + 3]));
    }
  }
}

template <typename T, int kVec>
void launch(Backend& backend, const EmbeddingArgs& a) {
  CudaBackend& cuda = cuda_backend(backend);
  const int64_t t = a.ids.shape[0], vocab = a.table.shape[0], d = a.table.shape[1];
  const int64_t chunks = (d / kVec + kThreads - 1) / kThreads;
  const dim3 grid(static_cast<unsigned>(t), static_cast<unsigned>(chunks));
  embedding_kernel<T, kVec><<<grid, kThreads, 0, cuda.stream()>>>(
      a.ids.as<const int32_t>(), static_cast<const T*>(a.table.data), a.out.as<float>(), vocab, d);
}

bool aligned16(const void* p) {
  return reinterpret_cast<uintptr_t>(p) % 16 == 0;
}

template <typename T>
void embedding_cuda(Backend& backend, const EmbeddingArgs& a) {
  const int64_t t = a.ids.shape[0], d = a.table.shape[1];
  if (t == 0 || d == 0) return;
  constexpr int kVec = 16 / sizeof(T);
  if (d % kVec == 0 && aligned16(a.table.data) && aligned16(a.out.data)) {
    launch<T, kVec>(backend, a);
  } else {
    launch<T, 1>(backend, a);
  }
  cuda_backend(backend).note_launch("embedding");
}

const KernelRegistrar<EmbeddingArgs> kRegisterF32(DeviceKind::kCuda, DType::kF32, embedding_cuda<float>);
const KernelRegistrar<EmbeddingArgs> kRegisterF16(DeviceKind::kCuda, DType::kF16, embedding_cuda<F16>);
const KernelRegistrar<EmbeddingArgs> kRegisterBf16(DeviceKind::kCuda, DType::kBF16, embedding_cuda<BF16>);

}  // namespace
}  // namespace autoglm
