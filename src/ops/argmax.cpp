#include "ops/argmax.h"

#include "ops/kernel_table.h"
#include "ops/op_checks.h"

namespace autoglm {

Status argmax(Backend& backend, const ArgmaxArgs& a) {
  using namespace op_checks;
  constexpr const char* kOp = "argmax";
  AUTOGLM_RETURN_IF_ERROR(has_rank(kOp, "x", a.x, 2));
  AUTOGLM_RETURN_IF_ERROR(has_dtype(kOp, "x", a.x, DType::kF32));
  AUTOGLM_RETURN_IF_ERROR(has_dtype(kOp, "out", a.out, DType::kI32));
  AUTOGLM_RETURN_IF_ERROR(has_shape(kOp, "out", a.out, Shape{a.x.shape[0]}));
  if (a.x.shape[1] < 1) return invalid_argument("argmax: rows must not be empty");
  if (a.x.shape[0] == 0) return Status::ok();
  for (const auto* t : {&a.x, &a.out}) {
    AUTOGLM_RETURN_IF_ERROR(not_null(kOp, "tensor", *t));
    AUTOGLM_RETURN_IF_ERROR(on_device(kOp, "tensor", *t, backend));
  }
  AUTOGLM_RETURN_IF_ERROR(disjoint(kOp, "out", a.out, "x", a.x));
  AUTOGLM_ASSIGN_OR_RETURN(auto fn, find_kernel<ArgmaxArgs>(kOp, backend, a.x.dtype));
  fn(backend, a);
  return Status::ok();
}

}  // namespace autoglm
