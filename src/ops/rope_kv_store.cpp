#include "ops/rope_kv_store.h"

#include <cstdint>
#include <string>
#include <utility>

#include "ops/kernel_table.h"
#include "ops/op_checks.h"

namespace autoglm {
namespace {

constexpr const char* kOp = "rope_kv_store";

Status check_shapes(const RopeKvStoreArgs& a) {
  using namespace op_checks;
  const std::pair<const char*, const TensorView*> rank3[] = {
      {"q", &a.q}, {"k", &a.k}, {"v", &a.v}, {"k_cache", &a.k_cache}, {"v_cache", &a.v_cache}};
  for (const auto& [what, tensor] : rank3)
    AUTOGLM_RETURN_IF_ERROR(has_rank(kOp, what, *tensor, 3));
  const int64_t t = a.q.shape[0], head_dim = a.q.shape[2], kv_heads = a.k.shape[1];
  // rotary_dim = 0 is rejected as in rope: a caller with nothing to rotate calls kv_store.
  if (a.rotary_dim <= 0 || a.rotary_dim % 2 != 0 || a.rotary_dim > head_dim) {
    return invalid_argument(std::string(kOp) + ": rotary_dim " + std::to_string(a.rotary_dim) +
                            " must be even, > 0 and <= head_dim " + std::to_string(head_dim));
  }
  if (a.layout != RopeLayout::kNeox && a.layout != RopeLayout::kInterleaved) {
    return invalid_argument(std::string(kOp) + ": unknown layout");
  }
  AUTOGLM_RETURN_IF_ERROR(has_shape(kOp, "k", a.k, Shape{t, kv_heads, head_dim}));
  AUTOGLM_RETURN_IF_ERROR(has_shape(kOp, "v", a.v, a.k.shape));
  AUTOGLM_RETURN_IF_ERROR(has_shape(kOp, "positions", a.positions, Shape{t}));
  if (a.slots.data != nullptr) AUTOGLM_RETURN_IF_ERROR(has_shape(kOp, "slots", a.slots, Shape{t}));
  AUTOGLM_RETURN_IF_ERROR(has_shape(kOp, "inv_freq", a.inv_freq, Shape{a.rotary_dim / 2}));
  AUTOGLM_RETURN_IF_ERROR(has_shape(kOp, "q_out", a.q_out, a.q.shape));
  if (a.k_cache.shape[1] != kv_heads || a.k_cache.shape[2] != head_dim) {
    return invalid_argument(std::string(kOp) + ": k_cache " + a.k_cache.describe() + " rows must be [" +
                            std::to_string(kv_heads) + ", " + std::to_string(head_dim) + "] as k " +
                            a.k.describe());
  }
  return has_shape(kOp, "v_cache", a.v_cache, a.k_cache.shape);
}

Status check_dtypes(const RopeKvStoreArgs& a) {
  using namespace op_checks;
  const std::pair<const char*, const TensorView*> f32[] = {
      {"q", &a.q}, {"k", &a.k}, {"v", &a.v}, {"inv_freq", &a.inv_freq}, {"q_out", &a.q_out}};
  for (const auto& [what, tensor] : f32)
    AUTOGLM_RETURN_IF_ERROR(has_dtype(kOp, what, *tensor, DType::kF32));
  AUTOGLM_RETURN_IF_ERROR(has_dtype(kOp, "positions", a.positions, DType::kI32));
  if (a.slots.data != nullptr) AUTOGLM_RETURN_IF_ERROR(has_dtype(kOp, "slots", a.slots, DType::kI32));
  // The cache dtype (f32, bf16, f16 or f8_e4m3) is the dispatch key: a backend lacking it says "no kernel".
  if (a.v_cache.dtype != a.k_cache.dtype) {
    return invalid_argument(std::string(kOp) + ": v_cache " + a.v_cache.describe() +
                            " must have k_cache's dtype " + std::string(dtype_name(a.k_cache.dtype)));
  }
  return Status::ok();
}

// q_out may be q itself; every other output byte range is disjoint from every input and from the other
// outputs (a kernel reads an input element after another thread may have written an output).
Status check_aliasing(const RopeKvStoreArgs& a) {
  using namespace op_checks;
  AUTOGLM_RETURN_IF_ERROR(disjoint_or_same(kOp, "q_out", a.q_out, "q", a.q));
  // slots with data == nullptr is empty and overlaps nothing.
  const std::pair<const char*, const TensorView*> inputs[] = {
      {"k", &a.k}, {"v", &a.v}, {"positions", &a.positions}, {"inv_freq", &a.inv_freq}, {"slots", &a.slots}};
  const std::pair<const char*, const TensorView*> outputs[] = {
      {"q_out", &a.q_out}, {"k_cache", &a.k_cache}, {"v_cache", &a.v_cache}};
  for (const auto& [out_name, out] : outputs) {
    for (const auto& [in_name, in] : inputs)
      AUTOGLM_RETURN_IF_ERROR(disjoint(kOp, out_name, *out, in_name, *in));
  }
  AUTOGLM_RETURN_IF_ERROR(disjoint(kOp, "k_cache", a.k_cache, "q", a.q));
  AUTOGLM_RETURN_IF_ERROR(disjoint(kOp, "v_cache", a.v_cache, "q", a.q));
  AUTOGLM_RETURN_IF_ERROR(disjoint(kOp, "k_cache", a.k_cache, "q_out", a.q_out));
  AUTOGLM_RETURN_IF_ERROR(disjoint(kOp, "v_cache", a.v_cache, "q_out", a.q_out));
  return disjoint(kOp, "k_cache", a.k_cache, "v_cache", a.v_cache);
}

// Host cache rows are cheap to check, and an out-of-range one would write outside the cache: the slots when
// given (positions then only give the angle), else the positions.
Status check_host_rows(const RopeKvStoreArgs& a) {
  const bool slotted = a.slots.data != nullptr;
  const TensorView& rows = slotted ? a.slots : a.positions;
  if (rows.device.kind != DeviceKind::kCpu) return Status::ok();
  const char* what = slotted ? "slots" : "positions";
  const int64_t capacity = a.k_cache.shape[0];
  const int32_t* values = rows.as<const int32_t>();
  for (int64_t i = 0; i < rows.numel(); ++i) {
    if (values[i] < 0 || values[i] >= capacity) {
      return invalid_argument(std::string(kOp) + ": " + what + "[" + std::to_string(i) +
                              "] = " + std::to_string(values[i]) + " is outside the cache capacity " +
                              std::to_string(capacity));
    }
  }
  return Status::ok();
}

// For a packed qkv: its shape and dtype, and the q, k, v views it stands for (column blocks of its rows,
// described with the shapes the checks above expect; the bytes they span are checked through qkv itself).
Expected<RopeKvStoreArgs> unpack(const RopeKvStoreArgs& a) {
  using namespace op_checks;
  if (a.q.data != nullptr || a.k.data != nullptr || a.v.data != nullptr) {
    return invalid_argument(std::string(kOp) + ": q, k and v must be empty when qkv is given");
  }
  AUTOGLM_RETURN_IF_ERROR(has_rank(kOp, "q_out", a.q_out, 3));
  AUTOGLM_RETURN_IF_ERROR(has_rank(kOp, "k_cache", a.k_cache, 3));
  AUTOGLM_RETURN_IF_ERROR(has_dtype(kOp, "qkv", a.qkv, DType::kF32));
  const int64_t t = a.q_out.shape[0], q_heads = a.q_out.shape[1], head_dim = a.q_out.shape[2];
  const int64_t kv_heads = a.k_cache.shape[1];
  AUTOGLM_RETURN_IF_ERROR(has_shape(kOp, "qkv", a.qkv, Shape{t, (q_heads + 2 * kv_heads) * head_dim}));
  RopeKvStoreArgs u = a;
  float* base = a.qkv.as<float>();
  u.q = TensorView{base, DType::kF32, Shape{t, q_heads, head_dim}, a.qkv.device};
  u.k = TensorView{base + q_heads * head_dim, DType::kF32, Shape{t, kv_heads, head_dim}, a.qkv.device};
  u.v = TensorView{base + (q_heads + kv_heads) * head_dim, DType::kF32, Shape{t, kv_heads, head_dim},
                   a.qkv.device};
  return u;
}

// Packed qkv: every output is disjoint from the whole of qkv (q_out may not alias it: its rows are laid out
// differently).
Status check_packed_aliasing(const RopeKvStoreArgs& a) {
  using namespace op_checks;
  const std::pair<const char*, const TensorView*> outputs[] = {
      {"q_out", &a.q_out}, {"k_cache", &a.k_cache}, {"v_cache", &a.v_cache}};
  const std::pair<const char*, const TensorView*> inputs[] = {
      {"qkv", &a.qkv}, {"positions", &a.positions}, {"inv_freq", &a.inv_freq}, {"slots", &a.slots}};
  for (const auto& [out_name, out] : outputs) {
    for (const auto& [in_name, in] : inputs)
      AUTOGLM_RETURN_IF_ERROR(disjoint(kOp, out_name, *out, in_name, *in));
  }
  AUTOGLM_RETURN_IF_ERROR(disjoint(kOp, "k_cache", a.k_cache, "q_out", a.q_out));
  AUTOGLM_RETURN_IF_ERROR(disjoint(kOp, "v_cache", a.v_cache, "q_out", a.q_out));
  return disjoint(kOp, "k_cache", a.k_cache, "v_cache", a.v_cache);
}

}  // namespace

Status rope_kv_store(Backend& backend, const RopeKvStoreArgs& args) {
  using namespace op_checks;
  const bool packed = args.qkv.data != nullptr;
  RopeKvStoreArgs a = args;
  if (packed) {
    AUTOGLM_RETURN_IF_ERROR(on_device(kOp, "qkv", args.qkv, backend));
    AUTOGLM_ASSIGN_OR_RETURN(a, unpack(args));
  }
  AUTOGLM_RETURN_IF_ERROR(check_shapes(a));
  AUTOGLM_RETURN_IF_ERROR(check_dtypes(a));
  const std::pair<const char*, const TensorView*> tensors[] = {{"q", &a.q},
                                                               {"k", &a.k},
                                                               {"v", &a.v},
                                                               {"positions", &a.positions},
                                                               {"inv_freq", &a.inv_freq},
                                                               {"q_out", &a.q_out},
                                                               {"k_cache", &a.k_cache},
                                                               {"v_cache", &a.v_cache}};
  for (const auto& [what, tensor] : tensors) {
    AUTOGLM_RETURN_IF_ERROR(not_null(kOp, what, *tensor));
    AUTOGLM_RETURN_IF_ERROR(on_device(kOp, what, *tensor, backend));
  }
  if (a.slots.data != nullptr) AUTOGLM_RETURN_IF_ERROR(on_device(kOp, "slots", a.slots, backend));
  AUTOGLM_RETURN_IF_ERROR(packed ? check_packed_aliasing(a) : check_aliasing(a));
  AUTOGLM_RETURN_IF_ERROR(check_host_rows(a));
  AUTOGLM_ASSIGN_OR_RETURN(auto fn, find_kernel<RopeKvStoreArgs>(kOp, backend, a.k_cache.dtype));
  fn(backend, args);
  return Status::ok();
}

}  // namespace autoglm
