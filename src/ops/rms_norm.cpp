#include "ops/rms_norm.h"

#include <cmath>
#include <utility>

#include "ops/kernel_table.h"
#include "ops/op_checks.h"

namespace autoglm {

Status rms_norm(Backend& backend, const RmsNormArgs& a) {
  using namespace op_checks;
  constexpr const char* kOp = "rms_norm";
  AUTOGLM_RETURN_IF_ERROR(has_min_rank(kOp, "x", a.x, 1));
  AUTOGLM_RETURN_IF_ERROR(has_dtype(kOp, "x", a.x, DType::kF32));
  AUTOGLM_RETURN_IF_ERROR(has_dtype(kOp, "weight", a.weight, DType::kF32));
  if (a.out.dtype != DType::kBF16 && a.out.dtype != DType::kF16)
    AUTOGLM_RETURN_IF_ERROR(has_dtype(kOp, "out", a.out, DType::kF32));
  AUTOGLM_RETURN_IF_ERROR(has_shape(kOp, "weight", a.weight, Shape{a.x.shape.back()}));
  AUTOGLM_RETURN_IF_ERROR(has_shape(kOp, "out", a.out, a.x.shape));
  if (!std::isfinite(a.eps) || a.eps < 0) return invalid_argument("rms_norm: eps must be finite and >= 0");
  const std::pair<const char*, const TensorView*> tensors[] = {
      {"x", &a.x}, {"weight", &a.weight}, {"out", &a.out}};
  for (const auto& [what, t] : tensors) {
    AUTOGLM_RETURN_IF_ERROR(not_null(kOp, what, *t));
    AUTOGLM_RETURN_IF_ERROR(on_device(kOp, what, *t, backend));
  }
  AUTOGLM_RETURN_IF_ERROR(disjoint(kOp, "out", a.out, "weight", a.weight));
  if (a.residual.data == nullptr && a.sum_out.data == nullptr) {
    if (a.out.dtype == DType::kF32) {
      AUTOGLM_RETURN_IF_ERROR(disjoint_or_same(kOp, "out", a.out, "x", a.x));
    } else {
      AUTOGLM_RETURN_IF_ERROR(disjoint(kOp, "out", a.out, "x", a.x));
    }
  } else {
    const std::pair<const char*, const TensorView*> sum_tensors[] = {{"residual", &a.residual},
                                                                     {"sum_out", &a.sum_out}};
    for (const auto& [what, t] : sum_tensors) {
      AUTOGLM_RETURN_IF_ERROR(not_null(kOp, what, *t));
      AUTOGLM_RETURN_IF_ERROR(has_dtype(kOp, what, *t, DType::kF32));
      AUTOGLM_RETURN_IF_ERROR(has_shape(kOp, what, *t, a.x.shape));
      AUTOGLM_RETURN_IF_ERROR(on_device(kOp, what, *t, backend));
    }
    AUTOGLM_RETURN_IF_ERROR(disjoint_or_same(kOp, "sum_out", a.sum_out, "x", a.x));
    AUTOGLM_RETURN_IF_ERROR(disjoint(kOp, "sum_out", a.sum_out, "residual", a.residual));
    AUTOGLM_RETURN_IF_ERROR(disjoint(kOp, "sum_out", a.sum_out, "weight", a.weight));
    const std::pair<const char*, const TensorView*> others[] = {
        {"x", &a.x}, {"residual", &a.residual}, {"sum_out", &a.sum_out}};
    for (const auto& [what, t] : others)
      AUTOGLM_RETURN_IF_ERROR(disjoint(kOp, "out", a.out, what, *t));
  }
  AUTOGLM_ASSIGN_OR_RETURN(auto fn, find_kernel<RmsNormArgs>(kOp, backend, a.x.dtype));
  fn(backend, a);
  return Status::ok();
}

}  // namespace autoglm
