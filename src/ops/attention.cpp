#include "ops/attention.h"

#include <cmath>
#include <string>
#include <utility>

#include "ops/kernel_table.h"
#include "ops/op_checks.h"

namespace autoglm {

Status attention(Backend& backend, const AttentionArgs& a) {
  using namespace op_checks;
  constexpr const char* kOp = "attention";
  AUTOGLM_RETURN_IF_ERROR(has_rank(kOp, "q", a.q, 3));
  AUTOGLM_RETURN_IF_ERROR(has_rank(kOp, "k_cache", a.k_cache, 3));
  const std::pair<const char*, const TensorView*> tensors[] = {
      {"q", &a.q}, {"k_cache", &a.k_cache}, {"v_cache", &a.v_cache}, {"out", &a.out}};
  for (const auto& [what, tensor] : tensors) {
    AUTOGLM_RETURN_IF_ERROR(not_null(kOp, what, *tensor));
    AUTOGLM_RETURN_IF_ERROR(on_device(kOp, what, *tensor, backend));
  }
  AUTOGLM_RETURN_IF_ERROR(has_dtype(kOp, "q", a.q, DType::kF32));
  AUTOGLM_RETURN_IF_ERROR(has_dtype(kOp, "out", a.out, DType::kF32));
  AUTOGLM_RETURN_IF_ERROR(has_dtype(kOp, "v_cache", a.v_cache, a.k_cache.dtype));
  const int64_t t = a.q.shape[0], q_heads = a.q.shape[1], head_dim = a.q.shape[2];
  const int64_t capacity = a.k_cache.shape[0], kv_heads = a.k_cache.shape[1];
  if (a.k_cache.shape[2] != head_dim) {
    return invalid_argument("attention: k_cache " + a.k_cache.describe() + " has another head_dim than q " +
                            a.q.describe());
  }
  AUTOGLM_RETURN_IF_ERROR(has_shape(kOp, "v_cache", a.v_cache, a.k_cache.shape));
  if (kv_heads <= 0 || q_heads % kv_heads != 0) {
    return invalid_argument("attention: q_heads " + std::to_string(q_heads) +
                            " must be a multiple of kv_heads " + std::to_string(kv_heads));
  }
  if (a.q_pos0 < 0 || a.q_pos0 + t > capacity) {
    return invalid_argument("attention: rows [" + std::to_string(a.q_pos0) + ", " +
                            std::to_string(a.q_pos0 + t) + ") exceed the cache capacity " +
                            std::to_string(capacity));
  }
  if (a.window < 0) return invalid_argument("attention: window must be >= 0");
  if (!std::isfinite(a.scale)) return invalid_argument("attention: scale must be finite");
  if (!std::isfinite(a.softcap) || a.softcap < 0) return invalid_argument("attention: softcap must be >= 0");
  AUTOGLM_RETURN_IF_ERROR(has_shape(kOp, "out", a.out, a.q.shape));
  AUTOGLM_RETURN_IF_ERROR(disjoint(kOp, "out", a.out, "q", a.q));
  AUTOGLM_RETURN_IF_ERROR(disjoint(kOp, "out", a.out, "k_cache", a.k_cache));
  AUTOGLM_RETURN_IF_ERROR(disjoint(kOp, "out", a.out, "v_cache", a.v_cache));
  if (a.positions.data != nullptr) {
    // Its values live on the device (read by the kernels); q_pos0 == positions[0] is the caller's promise.
    AUTOGLM_RETURN_IF_ERROR(has_dtype(kOp, "positions", a.positions, DType::kI32));
    AUTOGLM_RETURN_IF_ERROR(has_shape(kOp, "positions", a.positions, Shape{t}));
    AUTOGLM_RETURN_IF_ERROR(on_device(kOp, "positions", a.positions, backend));
    AUTOGLM_RETURN_IF_ERROR(disjoint(kOp, "out", a.out, "positions", a.positions));
  }
  AUTOGLM_ASSIGN_OR_RETURN(auto fn, find_kernel<AttentionArgs>(kOp, backend, a.k_cache.dtype));
  fn(backend, a);
  return Status::ok();
}

Status kv_store(Backend& backend, const KvStoreArgs& a) {
  using namespace op_checks;
  constexpr const char* kOp = "kv_store";
  AUTOGLM_RETURN_IF_ERROR(has_rank(kOp, "src", a.src, 3));
  AUTOGLM_RETURN_IF_ERROR(has_rank(kOp, "cache", a.cache, 3));
  const bool converts =
      a.src.dtype == DType::kF32 && (a.cache.dtype == DType::kBF16 || a.cache.dtype == DType::kF16);
  if (a.src.dtype != a.cache.dtype && !converts) {
    return invalid_argument("kv_store: src " + a.src.describe() + " must have the cache's dtype " +
                            std::string(dtype_name(a.cache.dtype)) + ", or be f32 for a bf16 or f16 cache");
  }
  const int64_t t = a.src.shape[0], capacity = a.cache.shape[0];
  if (a.src.shape[1] != a.cache.shape[1] || a.src.shape[2] != a.cache.shape[2]) {
    return invalid_argument("kv_store: src " + a.src.describe() + " rows do not match cache " +
                            a.cache.describe());
  }
  if (a.start < 0 || a.start + t > capacity) {
    return invalid_argument("kv_store: rows [" + std::to_string(a.start) + ", " +
                            std::to_string(a.start + t) + ") exceed the cache capacity " +
                            std::to_string(capacity));
  }
  for (const auto* tensor : {&a.src, &a.cache}) {
    AUTOGLM_RETURN_IF_ERROR(not_null(kOp, "tensor", *tensor));
    AUTOGLM_RETURN_IF_ERROR(on_device(kOp, "tensor", *tensor, backend));
  }
  AUTOGLM_RETURN_IF_ERROR(disjoint(kOp, "cache", a.cache, "src", a.src));
  AUTOGLM_ASSIGN_OR_RETURN(auto fn, find_kernel<KvStoreArgs>(kOp, backend, a.cache.dtype));
  fn(backend, a);
  return Status::ok();
}

}  // namespace autoglm
