#include "ops/add.h"

#include "ops/kernel_table.h"
#include "ops/op_checks.h"

namespace autoglm {

Status add(Backend& backend, const AddArgs& a) {
  using namespace op_checks;
  constexpr const char* kOp = "add";
  AUTOGLM_RETURN_IF_ERROR(has_dtype(kOp, "a", a.a, DType::kF32));
  AUTOGLM_RETURN_IF_ERROR(has_dtype(kOp, "b", a.b, DType::kF32));
  AUTOGLM_RETURN_IF_ERROR(has_dtype(kOp, "out", a.out, DType::kF32));
  AUTOGLM_RETURN_IF_ERROR(has_shape(kOp, "b", a.b, a.a.shape));
  AUTOGLM_RETURN_IF_ERROR(has_shape(kOp, "out", a.out, a.a.shape));
  for (const auto* t : {&a.a, &a.b, &a.out}) {
    AUTOGLM_RETURN_IF_ERROR(not_null(kOp, "tensor", *t));
    AUTOGLM_RETURN_IF_ERROR(on_device(kOp, "tensor", *t, backend));
  }
  AUTOGLM_RETURN_IF_ERROR(disjoint_or_same(kOp, "out", a.out, "a", a.a));
  AUTOGLM_RETURN_IF_ERROR(disjoint_or_same(kOp, "out", a.out, "b", a.b));
  AUTOGLM_ASSIGN_OR_RETURN(auto fn, find_kernel<AddArgs>(kOp, backend, a.a.dtype));
  fn(backend, a);
  return Status::ok();
}

}  // namespace autoglm
