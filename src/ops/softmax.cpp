#include "ops/softmax.h"

#include "ops/kernel_table.h"
#include "ops/op_checks.h"

namespace autoglm {

Status softmax(Backend& backend, const SoftmaxArgs& a) {
  using namespace op_checks;
  constexpr const char* kOp = "softmax";
  AUTOGLM_RETURN_IF_ERROR(has_min_rank(kOp, "x", a.x, 1));
  AUTOGLM_RETURN_IF_ERROR(has_dtype(kOp, "x", a.x, DType::kF32));
  AUTOGLM_RETURN_IF_ERROR(has_dtype(kOp, "out", a.out, DType::kF32));
  AUTOGLM_RETURN_IF_ERROR(has_shape(kOp, "out", a.out, a.x.shape));
  for (const auto* t : {&a.x, &a.out}) {
    AUTOGLM_RETURN_IF_ERROR(not_null(kOp, "tensor", *t));
    AUTOGLM_RETURN_IF_ERROR(on_device(kOp, "tensor", *t, backend));
  }
  AUTOGLM_RETURN_IF_ERROR(disjoint_or_same(kOp, "out", a.out, "x", a.x));
  AUTOGLM_ASSIGN_OR_RETURN(auto fn, find_kernel<SoftmaxArgs>(kOp, backend, a.x.dtype));
  fn(backend, a);
  return Status::ok();
}

}  // namespace autoglm
