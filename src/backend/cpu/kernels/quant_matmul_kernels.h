// The instruction-set-specific pieces of the CPU matmul on GGUF block-quantized weights (Q8_0, Q4_0, Q4_K,
// Q5_K, Q6_K; formats in tensor/quant_blocks.h). quant_matmul.cpp drives them.
//
// Decode (m <= kQuantStreamMaxM): x is quantized once per call to int8 with one f32 scale per 32 elements
// (round to nearest, scale = amax / 127: each x element moves by at most 1/254 of its 32-block's largest
// magnitude), and every output is a sum of exact integer dot products of x's int8 values with the weight
// codes, one per 32 (Q6_K: 16) elements, each scaled in f32 by the product of the block scales.
//
// Why int8 rather than widening w to f32 in registers: at DRAM speed a core must consume ~10 Q4_K elements
// per cycle (15 GB/s per core at 2.5 GHz); widening (nibble -> int32 -> f32, scale, FMA) costs ~4 vector
// ops per 8-16 elements and cannot keep up, while an int8 dot product (AVX2 vpmaddubsw + vpmaddwd, AVX-512
// VNNI vpdpbusd) eats 32 codes in 1-2 ops. llama.cpp does the same (with one x scale per 256 elements for
// the K types; ours stays per 32, the finer rounding, at the cost of one f32 FMA per 32 codes).
//
// The unsigned codes (nibbles, 5- and 6-bit values) are the u8 operand; the offsets of Q4_0 (8) and Q6_K
// (32) and the mins of Q4_K/Q5_K are subtracted through precomputed sums of x (QuantizedXRow::sum32/sum16);
// Q8_0 weights are signed and go through the sign trick (|w| times x with w's sign). No pair of products
// saturates the 16-bit sums of vpmaddubsw (at most 2 * 128 * 127).
//
// Q4_K matrices on the CPU backend are stored with 8 rows interleaved (DType::kQ4_Kx8, tensor/quant_repack.h,
// model/cpu_weight_layout.h): their row dot works on 8 rows at once (quant_matmul_x8_x86.h), at about twice
// the rate of the one-row Q4_K kernel; the plain layout remains for matrices that are not whole groups.
//
// Prefill (m > kQuantStreamMaxM): blocks of w rows are dequantized to f32 (dequantize_row's values) into a
// thread-local buffer and multiplied with the f32 register tiles of matmul_kernels.h: prefill has f32
// accuracy and its rows do not depend on the batch. Decode rows are the same for every m <= 4 and thread
// count, but differ from prefill rows by the int8 rounding of x.
#pragma once

#include <cstdint>

#include "backend/cpu/kernels/matmul_kernels.h"
#include "tensor/dtype.h"

namespace autoglm {

// Largest m that takes the int8 decode path.
inline constexpr int64_t kQuantStreamMaxM = 4;

// One row of x (k elements, k a multiple of 32) quantized for the integer dot products: x[p] ~ d[p / 32] *
// q[p]. A non-finite block has d = NaN (and q = 0), so it turns the outputs it touches into NaN.
struct QuantizedXRow {
  const int8_t* q;     // [k] in [-127, 127]
  const float* d;      // [k / 32] scales
  const float* sum32;  // [k / 32] d * (sum of the block's q)
  const float* sum16;  // [k / 16] d * (sum of q over each half block)
};

// out[i * ldo + j] = dot(x[i], w row j) (+ bias[j]) for i < m, j < n_rows; w rows are row_bytes apart,
// n_blocks blocks of the kernel's type each. Each w row is read once (in address order) and dotted with
// the m x rows while it sits in L1; an output does not depend on m nor on the rows around it.
using QuantRowsDotFn = void (*)(const QuantizedXRow* x, int64_t m, const uint8_t* w, int64_t row_bytes,
                                int64_t n_rows, int64_t n_blocks, const float* bias, float* out, int64_t ldo);
// dst[0, count) = the count elements at src as f32 (count a multiple of the block); bit-identical to
// dequantize_row.
using DequantizeFn = void (*)(const void* src, float* dst, int64_t count);

struct QuantKernels {
  QuantRowsDotFn rows_dot = nullptr;  // null for the plain types
  DequantizeFn dequantize = nullptr;
};

QuantKernels quant_kernels_scalar(DType dtype);
QuantKernels quant_kernels_avx2(DType dtype);    // needs avx2, fma, f16c
QuantKernels quant_kernels_avx512(DType dtype);  // needs avx512f/bw/vl and avx512vnni, plus avx2, fma, f16c

// The kernels of the instruction set matmul_isa() selects; the AVX-512 set falls back to the AVX2 kernels
// on CPUs without VNNI.
QuantKernels quant_kernels(DType dtype);
// The set those kernels actually use (AVX-512 only with VNNI).
MatmulIsa quant_isa();

// Quantizes x[0, k) (k a multiple of 32) into q[k], d[k / 32], sum32[k / 32], sum16[k / 16]: per 32-block,
// d = amax / 127 and q = x * (127 / amax) rounded to nearest even. The AVX2 version (used whenever
// quant_isa() is not scalar) gives the same bytes.
void quantize_x_row(const float* x, int64_t k, int8_t* q, float* d, float* sum32, float* sum16);
void quantize_x_row_scalar(const float* x, int64_t k, int8_t* q, float* d, float* sum32, float* sum16);
void quantize_x_row_avx2(const float* x, int64_t k, int8_t* q, float* d, float* sum32, float* sum16);

}  // namespace autoglm
