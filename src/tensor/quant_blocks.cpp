// Reference dequantization and round-to-nearest quantization of the GGUF block types (formats in
// quant_blocks.h). Scalar and unhurried on purpose: this is the oracle of the kernel tests and the fallback
// of the tools; the CPU kernels (backend/cpu/kernels/quant_*) have their own vectorized decoders.
//
// Error of the quantizers, per element, for finite input (s = the sub-block's step, S = the largest step of
// the super-block, M = its largest min; "+ f16": the stored f16 scales are off by half an ulp, 2^-11
// relative, or up to 2^-25 absolute once they are subnormal (below 2^-14), times the code; the tests in
// tests/tensor/test_quant_blocks.cpp check these bounds):
//   Q8_0  s/2 (+ f16),                               s = amax / 127
//   Q4_0  s (+ f16): the value -max rounds to code 16, clamped to 15; s = amax / 8
//   Q4_K  s/2 + 16 S/126 + M/126 (+ f16): the 6-bit rounding of the sub-block step moves it by up to
//         S/126, so the top code can fall short by 15 S/126, and the min is off by up to M/126;
//         s = (max - min(0, min)) / 15.   Q5_K: s/2 + 32 S/126 + M/126 with 31 codes.
//   Q6_K  s + S/8 (+ f16): the 8-bit rounding of the group step moves it by up to S/256, which the extreme
//         (code -32) multiplies by 32; the opposite extreme may need +32, clamped to 31;
//         s = amax / 32 of the 16-element group.
#include "tensor/quant_blocks.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include "core/fp8.h"
#include "core/half.h"

namespace autoglm {
namespace {

int nearest(float v) {
  return static_cast<int>(std::nearbyint(v));
}

// ---- dequantization (ggml's reference formulas, unfused, in their operation order) ----

void dequantize_q8_0(const BlockQ80* b, float* y, int64_t n_blocks) {
  for (int64_t i = 0; i < n_blocks; ++i, y += 32) {
    const float d = f16_to_f32(b[i].d);
    for (int j = 0; j < 32; ++j)
      y[j] = static_cast<float>(b[i].qs[j]) * d;
  }
}

void dequantize_q4_0(const BlockQ40* b, float* y, int64_t n_blocks) {
  for (int64_t i = 0; i < n_blocks; ++i, y += 32) {
    const float d = f16_to_f32(b[i].d);
    for (int j = 0; j < 16; ++j) {
      y[j] = static_cast<float>((b[i].qs[j] & 15) - 8) * d;
      y[j + 16] = static_cast<float>((b[i].qs[j] >> 4) - 8) * d;
    }
  }
}

// Q4_K and Q5_K share everything but the 5th bit (qh == nullptr for Q4_K).
void dequantize_k4(uint16_t d_bits, uint16_t dmin_bits, const uint8_t* scales, const uint8_t* qs,
                   const uint8_t* qh, float* y) {
  const float d = f16_to_f32(d_bits);
  const float dmin = f16_to_f32(dmin_bits);
  for (int p = 0; p < 4; ++p, y += 64) {
    uint8_t sc, mn;
    k_quant_scale_min(scales, 2 * p, &sc, &mn);
    const float d1 = d * sc, m1 = dmin * mn;
    k_quant_scale_min(scales, 2 * p + 1, &sc, &mn);
    const float d2 = d * sc, m2 = dmin * mn;
    for (int l = 0; l < 32; ++l) {
      int lo = qs[32 * p + l] & 15, hi = qs[32 * p + l] >> 4;
      if (qh != nullptr) {
        lo += ((qh[l] >> (2 * p)) & 1) << 4;
        hi += ((qh[l] >> (2 * p + 1)) & 1) << 4;
      }
      y[l] = d1 * static_cast<float>(lo) - m1;
      y[l + 32] = d2 * static_cast<float>(hi) - m2;
    }
  }
}

void dequantize_q6_k(const BlockQ6K* b, float* y, int64_t n_blocks) {
  for (int64_t i = 0; i < n_blocks; ++i) {
    const float d = f16_to_f32(b[i].d);
    for (int h = 0; h < 2; ++h, y += 128) {
      const uint8_t* ql = b[i].ql + 64 * h;
      const uint8_t* qh = b[i].qh + 32 * h;
      const int8_t* sc = b[i].scales + 8 * h;
      for (int l = 0; l < 32; ++l) {
        const int is = l / 16;
        const int q1 = ((ql[l] & 15) | ((qh[l] & 3) << 4)) - 32;
        const int q2 = ((ql[l + 32] & 15) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        y[l] = d * sc[is] * static_cast<float>(q1);
        y[l + 32] = d * sc[is + 2] * static_cast<float>(q2);
        y[l + 64] = d * sc[is + 4] * static_cast<float>(q3);
        y[l + 96] = d * sc[is + 6] * static_cast<float>(q4);
      }
    }
  }
}

// ---- quantization ----

// ggml's reference: d = amax / 127, q = round-half-away(x / d).
void quantize_q8_0(const float* x, BlockQ80* b, int64_t n_blocks) {
  for (int64_t i = 0; i < n_blocks; ++i, x += 32) {
    float amax = 0.0f;
    for (int j = 0; j < 32; ++j)
      amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    b[i].d = f32_to_f16(d);
    for (int j = 0; j < 32; ++j)
      b[i].qs[j] = static_cast<int8_t>(std::round(x[j] * id));
  }
}

// ggml's reference: the value of largest magnitude maps to code 0 (d = max / -8), the others round half up.
void quantize_q4_0(const float* x, BlockQ40* b, int64_t n_blocks) {
  for (int64_t i = 0; i < n_blocks; ++i, x += 32) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < 32; ++j) {
      if (amax < std::fabs(x[j])) {
        amax = std::fabs(x[j]);
        max = x[j];
      }
    }
    const float d = max / -8.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    b[i].d = f32_to_f16(d);
    for (int j = 0; j < 16; ++j) {
      const int lo = std::min(15, static_cast<int>(x[j] * id + 8.5f));
      const int hi = std::min(15, static_cast<int>(x[j + 16] * id + 8.5f));
      b[i].qs[j] = static_cast<uint8_t>(lo | (hi << 4));
    }
  }
}

// One Q4_K / Q5_K super-block (n_codes = 15 or 31): codes[256] and the packed scales, d, dmin.
void quantize_k4_codes(const float* x, int n_codes, uint8_t* codes, uint8_t* scales, uint16_t* d_bits,
                       uint16_t* dmin_bits) {
  float step[8], min[8], max_step = 0.0f, max_min = 0.0f;
  for (int g = 0; g < 8; ++g) {
    float lo = 0.0f, hi = x[32 * g];
    for (int l = 0; l < 32; ++l) {
      lo = std::min(lo, x[32 * g + l]);
      hi = std::max(hi, x[32 * g + l]);
    }
    step[g] = std::max(0.0f, hi - lo) / static_cast<float>(n_codes);
    min[g] = -lo;
    max_step = std::max(max_step, step[g]);
    max_min = std::max(max_min, min[g]);
  }
  const float inv_step = max_step > 0.0f ? 63.0f / max_step : 0.0f;
  const float inv_min = max_min > 0.0f ? 63.0f / max_min : 0.0f;
  std::memset(scales, 0, 12);
  for (int g = 0; g < 8; ++g) {
    const auto ls = static_cast<uint8_t>(std::min(63, nearest(inv_step * step[g])));
    const auto lm = static_cast<uint8_t>(std::min(63, nearest(inv_min * min[g])));
    if (g < 4) {
      scales[g] |= ls;
      scales[g + 4] |= lm;
    } else {
      scales[g + 4] = static_cast<uint8_t>((ls & 15) | ((lm & 15) << 4));
      scales[g - 4] |= static_cast<uint8_t>((ls >> 4) << 6);
      scales[g] |= static_cast<uint8_t>((lm >> 4) << 6);
    }
  }
  *d_bits = f32_to_f16(max_step / 63.0f);
  *dmin_bits = f32_to_f16(max_min / 63.0f);
  const float d = f16_to_f32(*d_bits), dmin = f16_to_f32(*dmin_bits);
  for (int g = 0; g < 8; ++g) {
    uint8_t sc, mn;
    k_quant_scale_min(scales, g, &sc, &mn);
    const float dg = d * sc, mg = dmin * mn;
    for (int l = 0; l < 32; ++l) {
      const int q = dg != 0.0f ? nearest((x[32 * g + l] + mg) / dg) : 0;
      codes[32 * g + l] = static_cast<uint8_t>(std::clamp(q, 0, n_codes));
    }
  }
}

void quantize_q4_k(const float* x, BlockQ4K* b, int64_t n_blocks) {
  uint8_t codes[256];
  for (int64_t i = 0; i < n_blocks; ++i, x += 256) {
    quantize_k4_codes(x, 15, codes, b[i].scales, &b[i].d, &b[i].dmin);
    for (int p = 0; p < 4; ++p) {
      for (int l = 0; l < 32; ++l)
        b[i].qs[32 * p + l] = static_cast<uint8_t>(codes[64 * p + l] | (codes[64 * p + 32 + l] << 4));
    }
  }
}

void quantize_q5_k(const float* x, BlockQ5K* b, int64_t n_blocks) {
  uint8_t codes[256];
  for (int64_t i = 0; i < n_blocks; ++i, x += 256) {
    quantize_k4_codes(x, 31, codes, b[i].scales, &b[i].d, &b[i].dmin);
    std::memset(b[i].qh, 0, sizeof b[i].qh);
    for (int p = 0; p < 4; ++p) {
      for (int l = 0; l < 32; ++l) {
        const uint8_t lo = codes[64 * p + l], hi = codes[64 * p + 32 + l];
        b[i].qs[32 * p + l] = static_cast<uint8_t>((lo & 15) | ((hi & 15) << 4));
        b[i].qh[l] |= static_cast<uint8_t>(((lo >> 4) << (2 * p)) | ((hi >> 4) << (2 * p + 1)));
      }
    }
  }
}

// Each 16-element group's extreme maps to code -32 (step = extreme / -32, signed, as ggml's make_qx_quants
// starts from); the 16 steps are rounded to int8 multiples of d = (largest step) / -128.
void quantize_q6_k(const float* x, BlockQ6K* b, int64_t n_blocks) {
  for (int64_t i = 0; i < n_blocks; ++i, x += 256) {
    float step[16], max_step = 0.0f;
    for (int g = 0; g < 16; ++g) {
      float amax = 0.0f, max = 0.0f;
      for (int l = 0; l < 16; ++l) {
        if (amax < std::fabs(x[16 * g + l])) {
          amax = std::fabs(x[16 * g + l]);
          max = x[16 * g + l];
        }
      }
      step[g] = max / -32.0f;
      if (std::fabs(step[g]) > std::fabs(max_step)) max_step = step[g];
    }
    std::memset(&b[i], 0, sizeof b[i]);
    if (max_step == 0.0f) continue;  // all zeros: d = 0
    const float inv = -128.0f / max_step;
    b[i].d = f32_to_f16(1.0f / inv);
    const float d = f16_to_f32(b[i].d);
    int8_t codes[256];
    for (int g = 0; g < 16; ++g) {
      b[i].scales[g] = static_cast<int8_t>(std::clamp(nearest(inv * step[g]), -128, 127));
      const float dg = d * b[i].scales[g];
      for (int l = 0; l < 16; ++l) {
        const int q = dg != 0.0f ? nearest(x[16 * g + l] / dg) : 0;
        codes[16 * g + l] = static_cast<int8_t>(std::clamp(q, -32, 31) + 32);
      }
    }
    for (int h = 0; h < 2; ++h) {
      const int8_t* c = codes + 128 * h;
      uint8_t* ql = b[i].ql + 64 * h;
      uint8_t* qh = b[i].qh + 32 * h;
      for (int l = 0; l < 32; ++l) {
        ql[l] = static_cast<uint8_t>((c[l] & 15) | ((c[l + 64] & 15) << 4));
        ql[l + 32] = static_cast<uint8_t>((c[l + 32] & 15) | ((c[l + 96] & 15) << 4));
        qh[l] = static_cast<uint8_t>((c[l] >> 4) | ((c[l + 32] >> 4) << 2) | ((c[l + 64] >> 4) << 4) |
                                     ((c[l + 96] >> 4) << 6));
      }
    }
  }
}

}  // namespace

void dequantize_row(DType dtype, const void* src, float* dst, int64_t n) {
  const int64_t n_blocks = n / dtype_block_elements(dtype);
  switch (dtype) {
    case DType::kF32:
      if (n > 0) std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
      return;
    case DType::kF16:
      for (int64_t i = 0; i < n; ++i)
        dst[i] = f16_to_f32(static_cast<const uint16_t*>(src)[i]);
      return;
    case DType::kBF16:
      for (int64_t i = 0; i < n; ++i)
        dst[i] = bf16_to_f32(static_cast<const uint16_t*>(src)[i]);
      return;
    case DType::kI32:
      std::fill(dst, dst + n, 0.0f);
      return;
    case DType::kF8E4M3:
      for (int64_t i = 0; i < n; ++i)
        dst[i] = fp8_e4m3_to_f32(static_cast<const uint8_t*>(src)[i]);
      return;
    case DType::kQ8_0:
      dequantize_q8_0(static_cast<const BlockQ80*>(src), dst, n_blocks);
      return;
    case DType::kQ4_0:
      dequantize_q4_0(static_cast<const BlockQ40*>(src), dst, n_blocks);
      return;
    case DType::kQ4_K:
      for (int64_t i = 0; i < n_blocks; ++i) {
        const auto& b = static_cast<const BlockQ4K*>(src)[i];
        dequantize_k4(b.d, b.dmin, b.scales, b.qs, nullptr, dst + 256 * i);
      }
      return;
    case DType::kQ5_K:
      for (int64_t i = 0; i < n_blocks; ++i) {
        const auto& b = static_cast<const BlockQ5K*>(src)[i];
        dequantize_k4(b.d, b.dmin, b.scales, b.qs, b.qh, dst + 256 * i);
      }
      return;
    case DType::kQ6_K:
      dequantize_q6_k(static_cast<const BlockQ6K*>(src), dst, n_blocks);
      return;
    case DType::kQ4_Kx8:  // no row of it is contiguous (tensor/quant_repack.h): a caller's mistake, made loud
      std::fill(dst, dst + n, std::numeric_limits<float>::quiet_NaN());
      return;
  }
}

Status quantize_row(DType dtype, const float* src, void* dst, int64_t n) {
  const int64_t block = dtype_block_elements(dtype);
  if (n < 0 || n % block != 0) {
    return invalid_argument("quantize_row: " + std::to_string(n) + " elements are not a whole number of " +
                            std::string(dtype_name(dtype)) + " blocks of " + std::to_string(block));
  }
  const int64_t n_blocks = n / block;
  switch (dtype) {
    case DType::kF32:
      if (n > 0) std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
      return Status::ok();
    case DType::kF16:
      for (int64_t i = 0; i < n; ++i)
        static_cast<uint16_t*>(dst)[i] = f32_to_f16(src[i]);
      return Status::ok();
    case DType::kBF16:
      for (int64_t i = 0; i < n; ++i)
        static_cast<uint16_t*>(dst)[i] = f32_to_bf16(src[i]);
      return Status::ok();
    case DType::kI32:
      return unsupported("quantize_row: i32 is not a float type");
    case DType::kF8E4M3:
      for (int64_t i = 0; i < n; ++i)
        static_cast<uint8_t*>(dst)[i] = f32_to_fp8_e4m3(src[i]);
      return Status::ok();
    case DType::kQ8_0:
      quantize_q8_0(src, static_cast<BlockQ80*>(dst), n_blocks);
      return Status::ok();
    case DType::kQ4_0:
      quantize_q4_0(src, static_cast<BlockQ40*>(dst), n_blocks);
      return Status::ok();
    case DType::kQ4_K:
      quantize_q4_k(src, static_cast<BlockQ4K*>(dst), n_blocks);
      return Status::ok();
    case DType::kQ5_K:
      quantize_q5_k(src, static_cast<BlockQ5K*>(dst), n_blocks);
      return Status::ok();
    case DType::kQ6_K:
      quantize_q6_k(src, static_cast<BlockQ6K*>(dst), n_blocks);
      return Status::ok();
    case DType::kQ4_Kx8:
      return unsupported("quantize_row: q4_k_x8 holds groups of 8 rows (quantize to q4_k, then repack)");
  }
  return unsupported("quantize_row: unknown dtype");
}

}  // namespace autoglm
