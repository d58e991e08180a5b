#include "ops/rope.h"

#include <utility>

#include "ops/kernel_table.h"
#include "ops/op_checks.h"

namespace autoglm {

Status rope(Backend& backend, const RopeArgs& a) {
  using namespace op_checks;
  constexpr const char* kOp = "rope";
  AUTOGLM_RETURN_IF_ERROR(has_rank(kOp, "x", a.x, 3));
  AUTOGLM_RETURN_IF_ERROR(has_dtype(kOp, "x", a.x, DType::kF32));
  AUTOGLM_RETURN_IF_ERROR(has_dtype(kOp, "positions", a.positions, DType::kI32));
  AUTOGLM_RETURN_IF_ERROR(has_dtype(kOp, "inv_freq", a.inv_freq, DType::kF32));
  AUTOGLM_RETURN_IF_ERROR(has_dtype(kOp, "out", a.out, DType::kF32));
  const int64_t t = a.x.shape[0], head_dim = a.x.shape[2];
  // rotary_dim = 0 is the struct's default: treating it as "rotate nothing" would hide a caller that forgot
  // to set it, so it is rejected rather than read as the identity.
  if (a.rotary_dim <= 0 || a.rotary_dim % 2 != 0 || a.rotary_dim > head_dim) {
    return invalid_argument("rope: rotary_dim " + std::to_string(a.rotary_dim) +
                            " must be even, > 0 and <= head_dim " + std::to_string(head_dim));
  }
  if (a.layout != RopeLayout::kNeox && a.layout != RopeLayout::kInterleaved) {
    return invalid_argument("rope: unknown layout");
  }
  AUTOGLM_RETURN_IF_ERROR(has_shape(kOp, "positions", a.positions, Shape{t}));
  AUTOGLM_RETURN_IF_ERROR(has_shape(kOp, "inv_freq", a.inv_freq, Shape{a.rotary_dim / 2}));
  AUTOGLM_RETURN_IF_ERROR(has_shape(kOp, "out", a.out, a.x.shape));
  const std::pair<const char*, const TensorView*> tensors[] = {
      {"x", &a.x}, {"positions", &a.positions}, {"inv_freq", &a.inv_freq}, {"out", &a.out}};
  for (const auto& [what, tensor] : tensors) {
    AUTOGLM_RETURN_IF_ERROR(not_null(kOp, what, *tensor));
    AUTOGLM_RETURN_IF_ERROR(on_device(kOp, what, *tensor, backend));
  }
  AUTOGLM_RETURN_IF_ERROR(disjoint_or_same(kOp, "out", a.out, "x", a.x));
  AUTOGLM_RETURN_IF_ERROR(disjoint(kOp, "out", a.out, "positions", a.positions));
  AUTOGLM_RETURN_IF_ERROR(disjoint(kOp, "out", a.out, "inv_freq", a.inv_freq));
  AUTOGLM_ASSIGN_OR_RETURN(auto fn, find_kernel<RopeArgs>(kOp, backend, a.x.dtype));
  fn(backend, a);
  return Status::ok();
}

}  // namespace autoglm
