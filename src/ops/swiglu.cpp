#include "ops/swiglu.h"

#include "ops/kernel_table.h"
#include "ops/op_checks.h"

namespace autoglm {

Status swiglu(Backend& backend, const SwigluArgs& a) {
  using namespace op_checks;
  constexpr const char* kOp = "swiglu";
  AUTOGLM_RETURN_IF_ERROR(has_rank(kOp, "x", a.x, 2));
  AUTOGLM_RETURN_IF_ERROR(has_dtype(kOp, "x", a.x, DType::kF32));
  AUTOGLM_RETURN_IF_ERROR(has_dtype(kOp, "out", a.out, DType::kF32));
  if (a.x.shape[1] % 2 != 0) {
    return invalid_argument("swiglu: x " + a.x.describe() + " must have an even last dim [gate | up]");
  }
  AUTOGLM_RETURN_IF_ERROR(has_shape(kOp, "out", a.out, Shape{a.x.shape[0], a.x.shape[1] / 2}));
  for (const auto* t : {&a.x, &a.out}) {
    AUTOGLM_RETURN_IF_ERROR(not_null(kOp, "tensor", *t));
    AUTOGLM_RETURN_IF_ERROR(on_device(kOp, "tensor", *t, backend));
  }
  // The header grants no aliasing: out rows are half as wide as x rows, so an in-place call would let one
  // thread's output overwrite rows another thread has not read yet.
  AUTOGLM_RETURN_IF_ERROR(disjoint(kOp, "out", a.out, "x", a.x));
  AUTOGLM_ASSIGN_OR_RETURN(auto fn, find_kernel<SwigluArgs>(kOp, backend, a.x.dtype));
  fn(backend, a);
  return Status::ok();
}

}  // namespace autoglm
