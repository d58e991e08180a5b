// The per-token pieces of the CPU rope kernels (rope.cpp and rope_kv_store.cpp share them, so the fused op
// rotates bit for bit as rope does): a cos/sin table per token, and the in-place rotation of one head row.
// Math: angle = float(position) * inv_freq[i] in f32, then cosf/sinf, as HF transformers (float32 freqs).
#pragma once

#include <cmath>
#include <cstdint>

#include "ops/rope.h"

namespace autoglm::cpu_rope {

// cos_t[i] and sin_t[i] of angle position * inv_freq[i], i < half; one table serves every head of a token.
inline void fill_table(int32_t position, const float* inv_freq, int64_t half, float* cos_t, float* sin_t) {
  const float p = static_cast<float>(position);
  for (int64_t i = 0; i < half; ++i) {
    const float angle = p * inv_freq[i];
    cos_t[i] = std::cos(angle);
    sin_t[i] = std::sin(angle);
  }
}

// kNeox pairs (i, i + half).
inline void rotate_neox(float* y, const float* cos_t, const float* sin_t, int64_t half) {
  float* lo = y;
  float* hi = y + half;
  for (int64_t i = 0; i < half; ++i) {
    const float x0 = lo[i], x1 = hi[i];
    lo[i] = x0 * cos_t[i] - x1 * sin_t[i];
    hi[i] = x1 * cos_t[i] + x0 * sin_t[i];
  }
}

// kInterleaved pairs (2i, 2i + 1).
inline void rotate_interleaved(float* y, const float* cos_t, const float* sin_t, int64_t half) {
  for (int64_t i = 0; i < half; ++i) {
    const float x0 = y[2 * i], x1 = y[2 * i + 1];
    y[2 * i] = x0 * cos_t[i] - x1 * sin_t[i];
    y[2 * i + 1] = x1 * cos_t[i] + x0 * sin_t[i];
  }
}

// Rotates the first 2 * half dims of the head row y in place; the rest are left as they are.
inline void rotate_row(RopeLayout layout, float* y, const float* cos_t, const float* sin_t, int64_t half) {
  switch (layout) {
    case RopeLayout::kNeox:
      rotate_neox(y, cos_t, sin_t, half);
      return;
    case RopeLayout::kInterleaved:
      rotate_interleaved(y, cos_t, sin_t, half);
      return;
  }
}

}  // namespace autoglm::cpu_rope
