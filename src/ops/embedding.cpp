#include "ops/embedding.h"

#include <cstdint>
#include <string>

#include "ops/kernel_table.h"
#include "ops/op_checks.h"

namespace autoglm {

Status embedding(Backend& backend, const EmbeddingArgs& a) {
  using namespace op_checks;
  constexpr const char* kOp = "embedding";
  AUTOGLM_RETURN_IF_ERROR(has_rank(kOp, "ids", a.ids, 1));
  AUTOGLM_RETURN_IF_ERROR(has_dtype(kOp, "ids", a.ids, DType::kI32));
  AUTOGLM_RETURN_IF_ERROR(has_rank(kOp, "table", a.table, 2));
  AUTOGLM_RETURN_IF_ERROR(has_dtype(kOp, "out", a.out, DType::kF32));
  const int64_t t = a.ids.shape[0], vocab = a.table.shape[0], d = a.table.shape[1];
  AUTOGLM_RETURN_IF_ERROR(has_shape(kOp, "out", a.out, Shape{t, d}));
  // A row of a block-quantized table is a whole number of blocks.
  if (const int64_t block = dtype_block_elements(a.table.dtype); d % block != 0) {
    return invalid_argument("embedding: d = " + std::to_string(d) + " is not a multiple of the " +
                            std::to_string(block) + "-element blocks of " +
                            std::string(dtype_name(a.table.dtype)) + " table " + a.table.describe());
  }
  AUTOGLM_RETURN_IF_ERROR(on_device(kOp, "ids", a.ids, backend));
  AUTOGLM_RETURN_IF_ERROR(on_device(kOp, "table", a.table, backend));
  AUTOGLM_RETURN_IF_ERROR(on_device(kOp, "out", a.out, backend));
  AUTOGLM_RETURN_IF_ERROR(not_null(kOp, "ids", a.ids));
  AUTOGLM_RETURN_IF_ERROR(not_null(kOp, "table", a.table));
  AUTOGLM_RETURN_IF_ERROR(not_null(kOp, "out", a.out));
  // The kernel writes out while it reads the others: any shared byte would corrupt what is still to be read.
  AUTOGLM_RETURN_IF_ERROR(disjoint(kOp, "out", a.out, "table", a.table));
  AUTOGLM_RETURN_IF_ERROR(disjoint(kOp, "out", a.out, "ids", a.ids));
  // A bad id would read outside the table. Host ids are checked here; device ids would need a copy back and
  // are the device kernel's business.
  if (a.ids.device.kind == DeviceKind::kCpu) {
    const auto* ids = a.ids.as<const int32_t>();
    for (int64_t i = 0; i < t; ++i) {
      if (ids[i] < 0 || ids[i] >= vocab) {
        return out_of_range("embedding: id " + std::to_string(ids[i]) + " at position " + std::to_string(i) +
                            " is outside the vocabulary [0, " + std::to_string(vocab) + ")");
      }
    }
  }
  AUTOGLM_ASSIGN_OR_RETURN(auto fn, find_kernel<EmbeddingArgs>(kOp, backend, a.table.dtype));
  fn(backend, a);
  return Status::ok();
}

}  // namespace autoglm
