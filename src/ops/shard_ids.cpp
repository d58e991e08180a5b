#include "ops/shard_ids.h"

#include "ops/kernel_table.h"
#include "ops/op_checks.h"

namespace autoglm {

Status shard_ids(Backend& backend, const ShardIdsArgs& a) {
  using namespace op_checks;
  constexpr const char* kOp = "shard_ids";
  AUTOGLM_RETURN_IF_ERROR(has_rank(kOp, "ids", a.ids, 1));
  AUTOGLM_RETURN_IF_ERROR(has_dtype(kOp, "ids", a.ids, DType::kI32));
  AUTOGLM_RETURN_IF_ERROR(has_dtype(kOp, "out", a.out, DType::kI32));
  AUTOGLM_RETURN_IF_ERROR(has_shape(kOp, "out", a.out, a.ids.shape));
  if (a.begin < 0 || a.end <= a.begin) return invalid_argument("shard_ids: the range must not be empty");
  if (a.ids.shape[0] == 0) return Status::ok();
  for (const auto* t : {&a.ids, &a.out}) {
    AUTOGLM_RETURN_IF_ERROR(not_null(kOp, "tensor", *t));
    AUTOGLM_RETURN_IF_ERROR(on_device(kOp, "tensor", *t, backend));
  }
  AUTOGLM_RETURN_IF_ERROR(disjoint_or_same(kOp, "out", a.out, "ids", a.ids));
  AUTOGLM_ASSIGN_OR_RETURN(auto fn, find_kernel<ShardIdsArgs>(kOp, backend, a.ids.dtype));
  fn(backend, a);
  return Status::ok();
}

}  // namespace autoglm
