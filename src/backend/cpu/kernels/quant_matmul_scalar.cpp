// Portable fallback of the quantized matmul kernels (quant_matmul_kernels.h), for CPUs without AVX2.
//
// The same decomposition as the SIMD paths: per 32 (Q6_K: 16) elements an exact int32 dot product of the
// weight codes with x's int8 values, scaled in f32 by the block scales; the offsets and mins go through x's
// block sums. Only the order of the f32 additions differs from the SIMD paths. Dequantization is the
// reference dequantize_row. Compute-bound (1-3 codes per cycle with the compiler's SSE2), far from the
// memory floor of quant_matmul.cpp: a correctness fallback. Reference: kernels/ref/matmul_ref.cpp.
#include <cmath>
#include <cstdint>

#include "backend/cpu/kernels/quant_matmul_kernels.h"
#include "core/half.h"
#include "tensor/quant_blocks.h"
#include "tensor/quant_repack.h"

namespace autoglm {
namespace {

int32_t dot32(const uint8_t* codes, const int8_t* x) {
  int32_t s = 0;
  for (int l = 0; l < 32; ++l)
    s += codes[l] * x[l];
  return s;
}

float dot_q8_0(const QuantizedXRow& x, const void* w, int64_t n_blocks) {
  const auto* b = static_cast<const BlockQ80*>(w);
  float acc = 0.0f;
  for (int64_t i = 0; i < n_blocks; ++i) {
    int32_t s = 0;
    for (int l = 0; l < 32; ++l)
      s += b[i].qs[l] * x.q[32 * i + l];
    acc += f16_to_f32(b[i].d) * x.d[i] * static_cast<float>(s);
  }
  return acc;
}

float dot_q4_0(const QuantizedXRow& x, const void* w, int64_t n_blocks) {
  const auto* b = static_cast<const BlockQ40*>(w);
  float acc = 0.0f;
  for (int64_t i = 0; i < n_blocks; ++i) {
    int32_t s = 0;
    for (int l = 0; l < 16; ++l) {
      s += ((b[i].qs[l] & 15) - 8) * x.q[32 * i + l];
      s += ((b[i].qs[l] >> 4) - 8) * x.q[32 * i + 16 + l];
    }
    acc += f16_to_f32(b[i].d) * x.d[i] * static_cast<float>(s);
  }
  return acc;
}

// Q4_K (qh == nullptr) and Q5_K: codes of one super-block, then per sub-block d * sc * dx * dot - min term.
float dot_k4(const QuantizedXRow& x, int64_t i, uint16_t d_bits, uint16_t dmin_bits, const uint8_t* scales,
             const uint8_t* qs, const uint8_t* qh) {
  const float d = f16_to_f32(d_bits), dmin = f16_to_f32(dmin_bits);
  float acc = 0.0f, acc_min = 0.0f;
  for (int p = 0; p < 4; ++p) {
    uint8_t lo[32], hi[32];
    for (int l = 0; l < 32; ++l) {
      lo[l] = qs[32 * p + l] & 15;
      hi[l] = qs[32 * p + l] >> 4;
      if (qh != nullptr) {
        lo[l] |= ((qh[l] >> (2 * p)) & 1) << 4;
        hi[l] |= ((qh[l] >> (2 * p + 1)) & 1) << 4;
      }
    }
    for (int half = 0; half < 2; ++half) {
      const int g = 2 * p + half;
      const int64_t xb = 8 * i + g;
      uint8_t sc, mn;
      k_quant_scale_min(scales, g, &sc, &mn);
      const int32_t s = dot32(half == 0 ? lo : hi, x.q + 32 * xb);
      acc += d * sc * x.d[xb] * static_cast<float>(s);
      acc_min += dmin * mn * x.sum32[xb];
    }
  }
  return acc - acc_min;
}

float dot_q4_k(const QuantizedXRow& x, const void* w, int64_t n_blocks) {
  const auto* b = static_cast<const BlockQ4K*>(w);
  float acc = 0.0f;
  for (int64_t i = 0; i < n_blocks; ++i)
    acc += dot_k4(x, i, b[i].d, b[i].dmin, b[i].scales, b[i].qs, nullptr);
  return acc;
}

float dot_q5_k(const QuantizedXRow& x, const void* w, int64_t n_blocks) {
  const auto* b = static_cast<const BlockQ5K*>(w);
  float acc = 0.0f;
  for (int64_t i = 0; i < n_blocks; ++i)
    acc += dot_k4(x, i, b[i].d, b[i].dmin, b[i].scales, b[i].qs, b[i].qh);
  return acc;
}

float dot_q6_k(const QuantizedXRow& x, const void* w, int64_t n_blocks) {
  const auto* b = static_cast<const BlockQ6K*>(w);
  float acc = 0.0f;
  for (int64_t i = 0; i < n_blocks; ++i) {
    const float d = f16_to_f32(b[i].d);
    for (int h = 0; h < 2; ++h) {
      const uint8_t* ql = b[i].ql + 64 * h;
      const uint8_t* qh = b[i].qh + 32 * h;
      uint8_t codes[128];
      for (int l = 0; l < 32; ++l) {
        codes[l] = static_cast<uint8_t>((ql[l] & 15) | ((qh[l] & 3) << 4));
        codes[l + 32] = static_cast<uint8_t>((ql[l + 32] & 15) | (((qh[l] >> 2) & 3) << 4));
        codes[l + 64] = static_cast<uint8_t>((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4));
        codes[l + 96] = static_cast<uint8_t>((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4));
      }
      for (int j = 0; j < 8; ++j) {  // 16-element groups of this half
        const int64_t g16 = 16 * i + 8 * h + j;
        int32_t s = 0;
        for (int l = 0; l < 16; ++l)
          s += codes[16 * j + l] * x.q[16 * g16 + l];
        const float scale = d * b[i].scales[8 * h + j];
        acc += scale * x.d[g16 / 2] * static_cast<float>(s) - 32.0f * scale * x.sum16[g16];
      }
    }
  }
  return acc;
}

template <float (*kRowDot)(const QuantizedXRow&, const void*, int64_t)>
void rows_dot(const QuantizedXRow* x, int64_t m, const uint8_t* w, int64_t row_bytes, int64_t n_rows,
              int64_t n_blocks, const float* bias, float* out, int64_t ldo) {
  for (int64_t j = 0; j < n_rows; ++j) {
    for (int64_t i = 0; i < m; ++i) {
      const float dot = kRowDot(x[i], w + j * row_bytes, n_blocks);
      out[i * ldo + j] = bias != nullptr ? dot + bias[j] : dot;
    }
  }
}

// Q4_K with 8 rows interleaved: the f32 operations of quant_matmul_x8_x86.h in its order, one row at a
// time, so every path gives the same bits (the SIMD lanes are the rows).
float dot_q4_k_x8_row(const QuantizedXRow& x, const BlockQ4Kx8* blocks, int64_t n_blocks, int r) {
  float acc = 0.0f;
  for (int64_t i = 0; i < n_blocks; ++i) {
    const BlockQ4Kx8& b = blocks[i];
    uint8_t scales[12];
    for (int c = 0; c < 12; ++c)
      scales[c] = b.scales[8 * c + r];
    float even = 0.0f, odd = 0.0f, mins = 0.0f;
    for (int p = 0; p < 4; ++p) {
      int32_t lo = 0, hi = 0;
      for (int t = 0; t < 8; ++t) {
        for (int e = 0; e < 4; ++e) {
          const uint8_t q = b.qs[256 * p + 32 * t + 4 * r + e];
          lo += (q & 15) * x.q[256 * i + 64 * p + 4 * t + e];
          hi += (q >> 4) * x.q[256 * i + 64 * p + 32 + 4 * t + e];
        }
      }
      const int g = 2 * p;
      uint8_t sc0, mn0, sc1, mn1;
      k_quant_scale_min(scales, g, &sc0, &mn0);
      k_quant_scale_min(scales, g + 1, &sc1, &mn1);
      even = std::fma(static_cast<float>(lo), static_cast<float>(sc0) * x.d[8 * i + g], even);
      odd = std::fma(static_cast<float>(hi), static_cast<float>(sc1) * x.d[8 * i + g + 1], odd);
      mins = std::fma(static_cast<float>(mn0), x.sum32[8 * i + g], mins);
      mins = std::fma(static_cast<float>(mn1), x.sum32[8 * i + g + 1], mins);
    }
    acc = std::fma(odd + even, f16_to_f32(b.d[r]), acc);
    acc = std::fma(-mins, f16_to_f32(b.dmin[r]), acc);
  }
  return acc;
}

void rows_dot_q4_k_x8(const QuantizedXRow* x, int64_t m, const uint8_t* w, int64_t row_bytes, int64_t n_rows,
                      int64_t n_blocks, const float* bias, float* out, int64_t ldo) {
  for (int64_t j = 0; j < n_rows; j += kQ4Kx8Rows) {
    const auto* blocks = reinterpret_cast<const BlockQ4Kx8*>(w + j * row_bytes);
    for (int64_t i = 0; i < m; ++i) {
      for (int r = 0; r < kQ4Kx8Rows; ++r) {
        const float dot = dot_q4_k_x8_row(x[i], blocks, n_blocks, r);
        out[i * ldo + j + r] = bias != nullptr ? dot + bias[j + r] : dot;
      }
    }
  }
}

template <DType kType>
void dequantize(const void* src, float* dst, int64_t count) {
  dequantize_row(kType, src, dst, count);
}

}  // namespace

QuantKernels quant_kernels_scalar(DType dtype) {
  switch (dtype) {
    case DType::kF32:
    case DType::kF16:
    case DType::kBF16:
    case DType::kI32:
    case DType::kF8E4M3:
      return {};
    case DType::kQ8_0:
      return {rows_dot<dot_q8_0>, dequantize<DType::kQ8_0>};
    case DType::kQ4_0:
      return {rows_dot<dot_q4_0>, dequantize<DType::kQ4_0>};
    case DType::kQ4_K:
      return {rows_dot<dot_q4_k>, dequantize<DType::kQ4_K>};
    case DType::kQ5_K:
      return {rows_dot<dot_q5_k>, dequantize<DType::kQ5_K>};
    case DType::kQ6_K:
      return {rows_dot<dot_q6_k>, dequantize<DType::kQ6_K>};
    case DType::kQ4_Kx8:  // dequantize: after quant_matmul.cpp has unpacked the groups to Q4_K
      return {rows_dot_q4_k_x8, dequantize<DType::kQ4_K>};
  }
  return {};
}

}  // namespace autoglm
