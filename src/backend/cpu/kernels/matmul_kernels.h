// The instruction-set-specific pieces of the CPU matmul (src/backend/cpu/kernels/matmul.cpp drives them).
//
// Each instruction set is compiled in its own file with function-level target attributes, never with -march,
// so one binary runs everywhere: matmul.cpp picks the widest set this CPU supports at run time.
//
// Every output element out[i, j] is one accumulator chain over k in steps of the vector width, then the same
// reduction tree, whatever m, n, the tile (i, j) falls in or the thread that computes it. A row's result
// therefore does not depend on the batch it is computed in (batch invariance) nor on the thread count.
#pragma once

#include <cstdint>

namespace autoglm {

// kAvx512Bf16: kAvx512 plus VDPBF16PS for bf16 weights, on x rounded to bf16 (matmul_avx512_bf16.cpp).
enum class MatmulIsa { kScalar, kAvx2, kAvx512, kAvx512Bf16 };

const char* matmul_isa_name(MatmulIsa isa);

// out[i * ldo + j] = dot(x + i * k, w + j * k) (+ bias[j] when bias != nullptr) for i < m, j < n.
// x is f32; w is f32 or raw f16/bf16 bits; accumulation is f32.
template <typename W>
using MatmulBlockFn = void (*)(const float* x, const W* w, const float* bias, float* out, int64_t m,
                               int64_t n, int64_t k, int64_t ldo);
using ConvertFn = void (*)(const uint16_t* src, float* dst, int64_t count);
// Both operands bf16 bits (x rounded to bf16 first), accumulation f32.
using MatmulBf16DotFn = void (*)(const uint16_t* x, const uint16_t* w, const float* bias, float* out,
                                 int64_t m, int64_t n, int64_t k, int64_t ldo);
using RoundFn = void (*)(const float* src, uint16_t* dst, int64_t count);

struct MatmulKernels {
  // For m <= tile_m (decode): w rows are read one after another, each exactly once, straight from memory.
  // A single sequential stream is what the hardware prefetchers follow best: on Zen 4, four interleaved
  // row streams reach only ~60% of the read bandwidth that one stream does.
  MatmulBlockFn<float> stream_f32;
  MatmulBlockFn<uint16_t> stream_f16;
  MatmulBlockFn<uint16_t> stream_bf16;
  // For m > tile_m (prefill), on a block of w rows already copied or widened to f32 (cache-resident):
  // register tiles that reuse each loaded w vector for several x rows and each x vector for several w rows.
  MatmulBlockFn<float> block_f32;
  ConvertFn f16_to_f32;
  ConvertFn bf16_to_f32;
  // x rows per register tile; also the largest m the stream functions are given.
  int64_t tile_m;
  // Sets with bf16 dot products (else null): bf16 weights against x rounded to bf16 by round_to_bf16, both
  // read as stored (a block of bf16 rows is contiguous already), streamed and tiled as above.
  MatmulBf16DotFn stream_bf16_dot = nullptr;
  MatmulBf16DotFn block_bf16_dot = nullptr;
  RoundFn round_to_bf16 = nullptr;
};

const MatmulKernels& matmul_kernels_scalar();
const MatmulKernels& matmul_kernels_avx2();         // needs avx2, fma, f16c
const MatmulKernels& matmul_kernels_avx512();       // needs avx512f/bw/vl, fma, f16c
const MatmulKernels& matmul_kernels_avx512_bf16();  // needs the above and avx512_bf16

// Whether this CPU (and OS) can run the instruction set.
bool matmul_isa_supported(MatmulIsa isa);
// The set the matmul kernel uses: the widest supported one unless overridden.
MatmulIsa matmul_isa();
// Overrides the set (tests run every path on one machine); unsupported sets are ignored. Returns the
// previous one. Not meant to be called while a matmul runs.
MatmulIsa matmul_set_isa(MatmulIsa isa);

}  // namespace autoglm
