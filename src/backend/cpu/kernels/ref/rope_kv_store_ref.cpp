#include "backend/cpu/kernels/ref/rope_kv_store_ref.h"

#include <cstdint>
#include <vector>

#include "backend/cpu/kernels/ref/rope_ref.h"
#include "core/half.h"

namespace autoglm {
namespace {

// Row t of src ([t, kv_heads, head_dim] f32) into cache row `row`, converted to the cache's dtype.
void store_ref(const float* src, int64_t row_elems, const TensorView& cache, int64_t row) {
  for (int64_t e = 0; e < row_elems; ++e) {
    const int64_t at = row * row_elems + e;
    if (cache.dtype == DType::kBF16) {
      cache.as<uint16_t>()[at] = f32_to_bf16(src[e]);
    } else if (cache.dtype == DType::kF16) {
      cache.as<uint16_t>()[at] = f32_to_f16(src[e]);
    } else {
      cache.as<float>()[at] = src[e];
    }
  }
}

}  // namespace

void rope_kv_store_ref(const RopeKvStoreArgs& a) {
  rope_ref({a.q, a.positions, a.inv_freq, a.rotary_dim, a.layout, a.q_out});
  std::vector<float> k_rot(static_cast<size_t>(a.k.numel()));
  const TensorView k_out{k_rot.data(), DType::kF32, a.k.shape, a.k.device};
  rope_ref({a.k, a.positions, a.inv_freq, a.rotary_dim, a.layout, k_out});
  const int64_t t = a.k.shape[0], row_elems = a.k.shape[1] * a.k.shape[2];
  for (int64_t i = 0; i < t; ++i) {
    const int64_t row = a.positions.as<const int32_t>()[i];
    store_ref(k_rot.data() + i * row_elems, row_elems, a.k_cache, row);
    store_ref(a.v.as<const float>() + i * row_elems, row_elems, a.v_cache, row);
  }
}

}  // namespace autoglm
