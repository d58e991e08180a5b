#include "ops/fill_pending_tokens.h"

#include "ops/kernel_table.h"
#include "ops/op_checks.h"

namespace autoglm {

Status fill_pending_tokens(Backend& backend, const FillPendingTokensArgs& a) {
  using namespace op_checks;
  constexpr const char* kOp = "fill_pending_tokens";
  AUTOGLM_RETURN_IF_ERROR(has_rank(kOp, "ids", a.ids, 1));
  AUTOGLM_RETURN_IF_ERROR(has_rank(kOp, "choices", a.choices, 1));
  AUTOGLM_RETURN_IF_ERROR(has_dtype(kOp, "ids", a.ids, DType::kI32));
  AUTOGLM_RETURN_IF_ERROR(has_dtype(kOp, "choices", a.choices, DType::kI32));
  if (a.ids.shape[0] == 0) return Status::ok();
  for (const auto* t : {&a.ids, &a.choices}) {
    if (t->shape[0] == 0) continue;
    AUTOGLM_RETURN_IF_ERROR(not_null(kOp, "tensor", *t));
    AUTOGLM_RETURN_IF_ERROR(on_device(kOp, "tensor", *t, backend));
  }
  if (a.choices.shape[0] > 0) AUTOGLM_RETURN_IF_ERROR(disjoint(kOp, "ids", a.ids, "choices", a.choices));
  AUTOGLM_ASSIGN_OR_RETURN(auto fn, find_kernel<FillPendingTokensArgs>(kOp, backend, a.ids.dtype));
  fn(backend, a);
  return Status::ok();
}

}  // namespace autoglm
