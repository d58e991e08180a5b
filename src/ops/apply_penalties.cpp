#include "ops/apply_penalties.h"

#include <cstdint>
#include <limits>

#include "ops/kernel_table.h"
#include "ops/op_checks.h"

namespace autoglm {

Status apply_penalties(Backend& backend, const ApplyPenaltiesArgs& a) {
  using namespace op_checks;
  constexpr const char* kOp = "apply_penalties";
  AUTOGLM_RETURN_IF_ERROR(has_rank(kOp, "logits", a.logits, 2));
  AUTOGLM_RETURN_IF_ERROR(has_dtype(kOp, "logits", a.logits, DType::kF32));
  const int64_t rows = a.logits.shape[0];
  AUTOGLM_RETURN_IF_ERROR(has_dtype(kOp, "params", a.params, DType::kF32));
  AUTOGLM_RETURN_IF_ERROR(has_shape(kOp, "params", a.params, Shape{rows, kPenaltyParams}));
  AUTOGLM_RETURN_IF_ERROR(has_dtype(kOp, "offsets", a.offsets, DType::kI32));
  AUTOGLM_RETURN_IF_ERROR(has_shape(kOp, "offsets", a.offsets, Shape{rows + 1}));
  AUTOGLM_RETURN_IF_ERROR(has_dtype(kOp, "entries", a.entries, DType::kI32));
  AUTOGLM_RETURN_IF_ERROR(has_rank(kOp, "entries", a.entries, 2));
  if (a.entries.shape[1] != kPenaltyEntryFields) {
    return invalid_argument("apply_penalties: entries " + a.entries.describe() +
                            " must have 3 columns (id, count, in_prompt)");
  }
  if (a.entries.shape[0] > std::numeric_limits<int32_t>::max()) {
    return invalid_argument("apply_penalties: more entries than i32 offsets can address");
  }
  if (rows == 0) return Status::ok();
  for (const auto* t : {&a.logits, &a.params, &a.offsets}) {
    AUTOGLM_RETURN_IF_ERROR(not_null(kOp, "tensor", *t));
    AUTOGLM_RETURN_IF_ERROR(on_device(kOp, "tensor", *t, backend));
  }
  // An empty list penalises nothing (and may have no storage anywhere).
  if (a.entries.shape[0] == 0) return Status::ok();
  AUTOGLM_RETURN_IF_ERROR(not_null(kOp, "entries", a.entries));
  AUTOGLM_RETURN_IF_ERROR(on_device(kOp, "entries", a.entries, backend));
  AUTOGLM_RETURN_IF_ERROR(disjoint(kOp, "logits", a.logits, "params", a.params));
  AUTOGLM_RETURN_IF_ERROR(disjoint(kOp, "logits", a.logits, "offsets", a.offsets));
  AUTOGLM_RETURN_IF_ERROR(disjoint(kOp, "logits", a.logits, "entries", a.entries));
  AUTOGLM_ASSIGN_OR_RETURN(auto fn, find_kernel<ApplyPenaltiesArgs>(kOp, backend, a.logits.dtype));
  fn(backend, a);
  return Status::ok();
}

}  // namespace autoglm
