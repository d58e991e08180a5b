// Hopper's warpgroup matrix multiply (wgmma.mma_async, sm_90a): shared-memory matrix descriptors for tiles in
// the 128-byte swizzle, the fences that order the asynchronous products against the registers and shared
// memory around them, and the shapes the kernels here issue. Private to kernels/.
//
// Why: mma.sync (attention_bf16_prefill.cuh) feeds the tensor cores 16 x 8 x 16 per warp from registers that
//   ldmatrix filled; wgmma takes a 64-row product over a warpgroup (4 warps) with its B operand (and A, or A
//   from registers) read by the tensor cores straight from shared memory, asynchronously, at the Hopper rate.
//
// Tiles: a tile whose rows are 64 bf16 (128 bytes) is one "column": row r at byte 128 r, its 16-byte chunk
//   c at chunk c ^ (r % 8) (the 128-byte swizzle, also what the copy unit writes), the column 1024-byte
//   aligned. Rows of 128 bf16 are two such columns, one after the other. swizzled_offset() gives the byte
//   offset of (row, chunk) in a column.
// K-major operands (the reduction dimension along the row: Q and K of S = Q K^T): 8-row groups 1024 bytes
//   apart; a k-step of 16 starts 32 bytes further into the row. MN-major B (V of O += P V, whose rows are
//   keys, the reduction dimension, and whose 128 bytes hold 64 output columns): 8-key groups 1024 bytes
//   apart, the next 64 output columns one column stride further.
// Everything but the host-side pieces exists only in the device pass of an sm_90a target: callers test
//   AUTOGLM_WGMMA_ARCH and keep another path elsewhere.
#pragma once

#include <cstdint>

#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define AUTOGLM_WGMMA_ARCH 1
#else
#define AUTOGLM_WGMMA_ARCH 0
#endif

namespace autoglm::wgmma {

constexpr int kWarpgroupThreads = 128;
constexpr uint32_t kSwizzleRowBytes = 128;    // one row of a column
constexpr uint32_t kSwizzleAtomBytes = 1024;  // 8 rows: the pattern repeats

// Byte offset of 16-byte chunk `chunk` (0-7) of row `row` in a swizzled column.
__host__ __device__ constexpr uint32_t swizzled_offset(uint32_t row, uint32_t chunk) {
  return row * kSwizzleRowBytes + ((chunk ^ (row % 8)) << 4);
}

#if AUTOGLM_WGMMA_ARCH

__device__ __forceinline__ uint64_t descriptor_field(uint32_t bytes) {
  return (bytes & 0x3ffffu) >> 4;
}

// A K-major operand at shared address `addr` (a column's base, plus 32 bytes per k-step of 16).
__device__ __forceinline__ uint64_t k_major(uint32_t addr) {
  return descriptor_field(addr) | (uint64_t{1} << 16) | (descriptor_field(kSwizzleAtomBytes) << 32) |
         (uint64_t{1} << 62);
}

// An MN-major B operand at shared address `addr` (a column's base, plus 1024 bytes per 8 keys), its next 64
// columns `column_stride` bytes further.
__device__ __forceinline__ uint64_t mn_major(uint32_t addr, uint32_t column_stride) {
  return descriptor_field(addr) | (descriptor_field(column_stride) << 16) |
         (descriptor_field(kSwizzleAtomBytes) << 32) | (uint64_t{1} << 62);
}

// Orders this warpgroup's earlier register writes (accumulators, A fragments) before the products it issues
// next.
__device__ __forceinline__ void fence() {
  asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
}
__device__ __forceinline__ void commit() {
  asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
}
// Returns once at most `pending` committed groups of this warpgroup's products are in flight.
template <int pending>
__device__ __forceinline__ void wait() {
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(pending) : "memory");
}

// Keeps the compiler from moving reads or writes of accumulator registers across the asynchronous products.
template <int N>
__device__ __forceinline__ void fence_registers(float (&d)[N]) {
#pragma unroll
  for (int i = 0; i < N; ++i)
    asm volatile("" : "+f"(d[i])::"memory");
}

#define AUTOGLM_WGMMA_D8(d, i)                                                                \
  "+f"(d[i]), "+f"(d[i + 1]), "+f"(d[i + 2]), "+f"(d[i + 3]), "+f"(d[i + 4]), "+f"(d[i + 5]), \
      "+f"(d[i + 6]), "+f"(d[i + 7])

// d (64 x 64 f32 over the warpgroup, 32 per thread in the accumulator layout) = A B^T, or += where
// `accumulate`: A (64 x 16) and B (64 x 16) bf16, both K-major in shared memory.
__device__ __forceinline__ void mma_64x64x16(float (&d)[32], uint64_t a, uint64_t b, bool accumulate) {
  asm volatile(
      "{\n"
      ".reg .pred p;\n"
      "setp.ne.b32 p, %34, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 "
      "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, "
      "%22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, %32, %33, p, 1, 1, 0, 0;\n"
      "}\n"
      : AUTOGLM_WGMMA_D8(d, 0), AUTOGLM_WGMMA_D8(d, 8), AUTOGLM_WGMMA_D8(d, 16), AUTOGLM_WGMMA_D8(d, 24)
      : "l"(a), "l"(b), "r"(static_cast<int>(accumulate)));
}

// d (64 x 128 f32, 64 per thread) += A B: A (64 x 16 bf16) in registers (4 bf16 pairs per thread, the layout
// of mma.sync's m16n8k16 A fragment per warp), B (16 x 128 bf16) MN-major in shared memory.
__device__ __forceinline__ void mma_64x128x16_rs(float (&d)[64], const uint32_t (&a)[4], uint64_t b) {
  asm volatile(
      "{\n"
      ".reg .pred p;\n"
      "setp.ne.b32 p, %69, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 "
      "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, "
      "%22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, "
      "%42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, "
      "%62, %63}, {%64, %65, %66, %67}, %68, p, 1, 1, 1;\n"
      "}\n"
      : AUTOGLM_WGMMA_D8(d, 0), AUTOGLM_WGMMA_D8(d, 8), AUTOGLM_WGMMA_D8(d, 16), AUTOGLM_WGMMA_D8(d, 24),
        AUTOGLM_WGMMA_D8(d, 32), AUTOGLM_WGMMA_D8(d, 40), AUTOGLM_WGMMA_D8(d, 48), AUTOGLM_WGMMA_D8(d, 56)
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b), "r"(1));
}

// d (64 x N f32 over the warpgroup, N / 2 per thread) = A B^T, or += where `accumulate`: A (64 x 16) and B
// (N x 16) bf16, both K-major in shared memory (a GEMM's weight rows and token rows).
__device__ __forceinline__ void mma_64x128x16(float (&d)[64], uint64_t a, uint64_t b, bool accumulate) {
  asm volatile(
      "{\n"
      ".reg .pred p;\n"
      "setp.ne.b32 p, %66, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 "
      "{"
      "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, "
      "%21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, "
      "%40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, "
      "%59, %60, %61, %62, %63"
      "}, %64, %65, p, 1, 1, 0, 0;\n"
      "}\n"
      : AUTOGLM_WGMMA_D8(d, 0), AUTOGLM_WGMMA_D8(d, 8), AUTOGLM_WGMMA_D8(d, 16), AUTOGLM_WGMMA_D8(d, 24),
        AUTOGLM_WGMMA_D8(d, 32), AUTOGLM_WGMMA_D8(d, 40), AUTOGLM_WGMMA_D8(d, 48), AUTOGLM_WGMMA_D8(d, 56)
      : "l"(a), "l"(b), "r"(static_cast<int>(accumulate)));
}

__device__ __forceinline__ void mma_64x96x16(float (&d)[48], uint64_t a, uint64_t b, bool accumulate) {
  asm volatile(
      "{\n"
      ".reg .pred p;\n"
      "setp.ne.b32 p, %50, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n96k16.f32.bf16.bf16 "
      "{"
      "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, "
      "%21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, "
      "%40, %41, %42, %43, %44, %45, %46, %47"
      "}, %48, %49, p, 1, 1, 0, 0;\n"
      "}\n"
      : AUTOGLM_WGMMA_D8(d, 0), AUTOGLM_WGMMA_D8(d, 8), AUTOGLM_WGMMA_D8(d, 16), AUTOGLM_WGMMA_D8(d, 24),
        AUTOGLM_WGMMA_D8(d, 32), AUTOGLM_WGMMA_D8(d, 40)
      : "l"(a), "l"(b), "r"(static_cast<int>(accumulate)));
}

__device__ __forceinline__ void mma_64x192x16(float (&d)[96], uint64_t a, uint64_t b, bool accumulate) {
  asm volatile(
      "{\n"
      ".reg .pred p;\n"
      "setp.ne.b32 p, %98, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n192k16.f32.bf16.bf16 "
      "{"
      "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, "
      "%21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, "
      "%40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, "
      "%59, %60, %61, %62, %63, %64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, "
      "%78, %79, %80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95"
      "}, %96, %97, p, 1, 1, 0, 0;\n"
      "}\n"
      : AUTOGLM_WGMMA_D8(d, 0), AUTOGLM_WGMMA_D8(d, 8), AUTOGLM_WGMMA_D8(d, 16), AUTOGLM_WGMMA_D8(d, 24),
        AUTOGLM_WGMMA_D8(d, 32), AUTOGLM_WGMMA_D8(d, 40), AUTOGLM_WGMMA_D8(d, 48), AUTOGLM_WGMMA_D8(d, 56),
        AUTOGLM_WGMMA_D8(d, 64), AUTOGLM_WGMMA_D8(d, 72), AUTOGLM_WGMMA_D8(d, 80), AUTOGLM_WGMMA_D8(d, 88)
      : "l"(a), "l"(b), "r"(static_cast<int>(accumulate)));
}

__device__ __forceinline__ void mma_64x256x16(float (&d)[128], uint64_t a, uint64_t b, bool accumulate) {
  asm volatile(
      "{\n"
      ".reg .pred p;\n"
      "setp.ne.b32 p, %130, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n256k16.f32.bf16.bf16 "
      "{"
      "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, "
      "%21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, "
      "%40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, "
      "%59, %60, %61, %62, %63, %64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, "
      "%78, %79, %80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95, %96, "
      "%97, %98, %99, %100, %101, %102, %103, %104, %105, %106, %107, %108, %109, %110, %111, %112, "
      "%113, %114, %115, %116, %117, %118, %119, %120, %121, %122, %123, %124, %125, %126, %127"
      "}, %128, %129, p, 1, 1, 0, 0;\n"
      "}\n"
      : AUTOGLM_WGMMA_D8(d, 0), AUTOGLM_WGMMA_D8(d, 8), AUTOGLM_WGMMA_D8(d, 16), AUTOGLM_WGMMA_D8(d, 24),
        AUTOGLM_WGMMA_D8(d, 32), AUTOGLM_WGMMA_D8(d, 40), AUTOGLM_WGMMA_D8(d, 48), AUTOGLM_WGMMA_D8(d, 56),
        AUTOGLM_WGMMA_D8(d, 64), AUTOGLM_WGMMA_D8(d, 72), AUTOGLM_WGMMA_D8(d, 80), AUTOGLM_WGMMA_D8(d, 88),
        AUTOGLM_WGMMA_D8(d, 96), AUTOGLM_WGMMA_D8(d, 104), AUTOGLM_WGMMA_D8(d, 112), AUTOGLM_WGMMA_D8(d, 120)
      : "l"(a), "l"(b), "r"(static_cast<int>(accumulate)));
}

template <int N>
__device__ __forceinline__ void mma_64xNx16(float (&d)[N / 2], uint64_t a, uint64_t b, bool accumulate) {
  if constexpr (N == 64)
    mma_64x64x16(d, a, b, accumulate);
  else if constexpr (N == 96)
    mma_64x96x16(d, a, b, accumulate);
  else if constexpr (N == 128)
    mma_64x128x16(d, a, b, accumulate);
  else if constexpr (N == 192)
    mma_64x192x16(d, a, b, accumulate);
  else {
    static_assert(N == 256, "wgmma shapes here: N = 64, 96, 128, 192 or 256");
    mma_64x256x16(d, a, b, accumulate);
  }
}

#undef AUTOGLM_WGMMA_D8

#endif  // AUTOGLM_WGMMA_ARCH

}  // namespace autoglm::wgmma
