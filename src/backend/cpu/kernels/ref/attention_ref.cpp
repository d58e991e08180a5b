#include "backend/cpu/kernels/ref/attention_ref.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/half.h"

namespace autoglm {

void attention_ref(const AttentionArgs& a) {
  const int64_t t = a.q.shape[0], q_heads = a.q.shape[1], head_dim = a.q.shape[2];
  const int64_t kv_heads = a.k_cache.shape[1], group = q_heads / kv_heads;
  std::vector<double> scores;
  std::vector<double> acc(static_cast<size_t>(head_dim));
  for (int64_t i = 0; i < t; ++i) {
    const int64_t pos = a.q_pos0 + i;
    for (int64_t h = 0; h < q_heads; ++h) {
      const int64_t g = h / group;
      const float* q = a.q.as<const float>() + (i * q_heads + h) * head_dim;
      // The mask exactly as attention.h states it.
      auto visible = [&](int64_t j) { return j <= pos && (a.window == 0 || pos - j < a.window); };
      scores.assign(static_cast<size_t>(pos + 1), 0.0);
      double m = -INFINITY;
      for (int64_t j = 0; j <= pos; ++j) {
        if (!visible(j)) continue;
        const float* k = a.k_cache.as<const float>() + (j * kv_heads + g) * head_dim;
        double s = 0;
        for (int64_t d = 0; d < head_dim; ++d)
          s += static_cast<double>(q[d]) * k[d];
        s *= a.scale;
        if (a.softcap != 0) s = a.softcap * std::tanh(s / a.softcap);
        scores[j] = s;
        m = std::max(m, s);
      }
      double sum = 0;
      std::fill(acc.begin(), acc.end(), 0.0);
      for (int64_t j = 0; j <= pos; ++j) {
        if (!visible(j)) continue;
        const double p = std::exp(scores[j] - m);
        sum += p;
        const float* v = a.v_cache.as<const float>() + (j * kv_heads + g) * head_dim;
        for (int64_t d = 0; d < head_dim; ++d)
          acc[d] += p * v[d];
      }
      float* out = a.out.as<float>() + (i * q_heads + h) * head_dim;
      for (int64_t d = 0; d < head_dim; ++d)
        out[d] = static_cast<float>(acc[d] / sum);
    }
  }
}

void kv_store_ref(const KvStoreArgs& a) {
  const int64_t t = a.src.shape[0];
  const size_t elem = dtype_size(a.src.dtype);
  const int64_t row_elems = a.src.shape[1] * a.src.shape[2];
  if (a.src.dtype != a.cache.dtype) {  // f32 into a bf16 or f16 cache
    for (int64_t s = 0; s < t; ++s) {
      for (int64_t e = 0; e < row_elems; ++e) {
        const float x = a.src.as<const float>()[s * row_elems + e];
        a.cache.as<uint16_t>()[(a.start + s) * row_elems + e] =
            a.cache.dtype == DType::kBF16 ? f32_to_bf16(x) : f32_to_f16(x);
      }
    }
    return;
  }
  for (int64_t s = 0; s < t; ++s) {
    for (int64_t e = 0; e < row_elems; ++e) {
      std::memcpy(static_cast<uint8_t*>(a.cache.data) + ((a.start + s) * row_elems + e) * elem,
                  static_cast<const uint8_t*>(a.src.data) + (s * row_elems + e) * elem, elem);
    }
  }
}

}  // namespace autoglm
