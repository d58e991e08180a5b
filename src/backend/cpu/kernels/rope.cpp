// Rotary position embedding, f32, CPU, both pair layouts, partial rotary.
//
// Layout: x and out are [t, heads, head_dim]; positions [t] i32; inv_freq [rotary_dim / 2]. out may be x.
//   kNeox pairs (i, i + rotary_dim/2), kInterleaved pairs (2i, 2i + 1); dims >= rotary_dim are copied.
// Math (rope_rows.h, shared with rope_kv_store.cpp): angle = float(position) * inv_freq[i] in f32, then
//   cosf/sinf, as HF transformers (float32 freqs). One cos/sin table per token serves all its heads. Each
//   head is copied to out first and then rotated in place through one pointer, so the aliased call
//   (out == x) vectorizes like the separate one.
// Threading: tokens split over the pool in blocks of >= kMinElemsPerTask elements; decode runs inline.
// Accumulation: f32 throughout (two products per output element).
// Floor: 2 * t * heads * head_dim * 4 bytes / memory bandwidth, plus t * rotary_dim trig calls.
// Reference: ref/rope_ref.cpp.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/kernels/rope_rows.h"
#include "ops/kernel_table.h"
#include "ops/rope.h"

namespace autoglm {
namespace {

constexpr int64_t kMinElemsPerTask = 16384;

void rope_tokens(const RopeArgs& a, int64_t begin, int64_t end) {
  const int64_t heads = a.x.shape[1], head_dim = a.x.shape[2], half = a.rotary_dim / 2;
  const int32_t* positions = a.positions.as<const int32_t>();
  const float* inv_freq = a.inv_freq.as<const float>();
  std::vector<float> table(2 * static_cast<size_t>(half));
  float* cos_t = table.data();
  float* sin_t = cos_t + half;
  for (int64_t t = begin; t < end; ++t) {
    cpu_rope::fill_table(positions[t], inv_freq, half, cos_t, sin_t);
    for (int64_t h = 0; h < heads; ++h) {
      const int64_t offset = (t * heads + h) * head_dim;
      const float* x = a.x.as<const float>() + offset;
      float* y = a.out.as<float>() + offset;
      if (y != x) std::memcpy(y, x, static_cast<size_t>(head_dim) * sizeof(float));
      cpu_rope::rotate_row(a.layout, y, cos_t, sin_t, half);
    }
  }
}

void rope_cpu_f32(Backend& backend, const RopeArgs& a) {
  const int64_t t = a.x.shape[0];
  const int64_t token_elems = std::max<int64_t>(1, a.x.shape[1] * a.x.shape[2]);
  const int64_t grain = std::max<int64_t>(1, kMinElemsPerTask / token_elems);
  cpu_pool(backend).parallel_for(
      t, [&](int64_t begin, int64_t end, int) { rope_tokens(a, begin, end); }, grain);
}

const KernelRegistrar<RopeArgs> kRegister(DeviceKind::kCpu, DType::kF32, rope_cpu_f32);

}  // namespace
}  // namespace autoglm
