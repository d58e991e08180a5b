#include "ops/sample_rows.h"

#include "ops/kernel_table.h"
#include "ops/op_checks.h"

namespace autoglm {

Status sample_rows(Backend& backend, const SampleRowsArgs& a) {
  using namespace op_checks;
  constexpr const char* kOp = "sample_rows";
  AUTOGLM_RETURN_IF_ERROR(has_rank(kOp, "logits", a.logits, 2));
  AUTOGLM_RETURN_IF_ERROR(has_dtype(kOp, "logits", a.logits, DType::kF32));
  AUTOGLM_RETURN_IF_ERROR(has_dtype(kOp, "params", a.params, DType::kF32));
  AUTOGLM_RETURN_IF_ERROR(has_shape(kOp, "params", a.params, Shape{a.logits.shape[0], kSampleRowsParams}));
  AUTOGLM_RETURN_IF_ERROR(has_dtype(kOp, "out", a.out, DType::kI32));
  AUTOGLM_RETURN_IF_ERROR(has_shape(kOp, "out", a.out, Shape{a.logits.shape[0]}));
  if (a.logits.shape[1] < 1) return invalid_argument("sample_rows: rows must not be empty");
  if (a.logits.shape[0] == 0) return Status::ok();
  for (const auto* t : {&a.logits, &a.params, &a.out}) {
    AUTOGLM_RETURN_IF_ERROR(not_null(kOp, "tensor", *t));
    AUTOGLM_RETURN_IF_ERROR(on_device(kOp, "tensor", *t, backend));
  }
  AUTOGLM_RETURN_IF_ERROR(disjoint(kOp, "out", a.out, "logits", a.logits));
  AUTOGLM_RETURN_IF_ERROR(disjoint(kOp, "out", a.out, "params", a.params));
  AUTOGLM_ASSIGN_OR_RETURN(auto fn, find_kernel<SampleRowsArgs>(kOp, backend, a.logits.dtype));
  fn(backend, a);
  return Status::ok();
}

}  // namespace autoglm
