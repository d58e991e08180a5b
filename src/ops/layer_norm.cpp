#include "ops/layer_norm.h"

#include <cmath>
#include <utility>

#include "ops/kernel_table.h"
#include "ops/op_checks.h"

namespace autoglm {

Status layer_norm(Backend& backend, const LayerNormArgs& a) {
  using namespace op_checks;
  constexpr const char* kOp = "layer_norm";
  AUTOGLM_RETURN_IF_ERROR(has_min_rank(kOp, "x", a.x, 1));
  AUTOGLM_RETURN_IF_ERROR(has_dtype(kOp, "x", a.x, DType::kF32));
  AUTOGLM_RETURN_IF_ERROR(has_dtype(kOp, "weight", a.weight, DType::kF32));
  AUTOGLM_RETURN_IF_ERROR(has_dtype(kOp, "out", a.out, DType::kF32));
  const Shape row{a.x.shape.back()};
  AUTOGLM_RETURN_IF_ERROR(has_shape(kOp, "weight", a.weight, row));
  AUTOGLM_RETURN_IF_ERROR(has_shape(kOp, "out", a.out, a.x.shape));
  if (!std::isfinite(a.eps) || a.eps < 0) return invalid_argument("layer_norm: eps must be finite and >= 0");
  const std::pair<const char*, const TensorView*> tensors[] = {
      {"x", &a.x}, {"weight", &a.weight}, {"out", &a.out}};
  for (const auto& [what, t] : tensors) {
    AUTOGLM_RETURN_IF_ERROR(not_null(kOp, what, *t));
    AUTOGLM_RETURN_IF_ERROR(on_device(kOp, what, *t, backend));
  }
  if (a.bias.data != nullptr) {
    AUTOGLM_RETURN_IF_ERROR(has_dtype(kOp, "bias", a.bias, DType::kF32));
    AUTOGLM_RETURN_IF_ERROR(has_shape(kOp, "bias", a.bias, row));
    AUTOGLM_RETURN_IF_ERROR(on_device(kOp, "bias", a.bias, backend));
    AUTOGLM_RETURN_IF_ERROR(disjoint(kOp, "out", a.out, "bias", a.bias));
  }
  AUTOGLM_RETURN_IF_ERROR(disjoint_or_same(kOp, "out", a.out, "x", a.x));
  AUTOGLM_RETURN_IF_ERROR(disjoint(kOp, "out", a.out, "weight", a.weight));
  AUTOGLM_ASSIGN_OR_RETURN(auto fn, find_kernel<LayerNormArgs>(kOp, backend, a.x.dtype));
  fn(backend, a);
  return Status::ok();
}

}  // namespace autoglm
