#include "ops/op_checks.h"

namespace autoglm::op_checks {
namespace {

std::string prefix(const char* op, const char* what) {
  return std::string(op) + ": " + what + " ";
}

}  // namespace

Status on_device(const char* op, const char* what, const TensorView& t, const Backend& backend) {
  if (t.device == backend.device()) return Status::ok();
  return invalid_argument(prefix(op, what) + t.describe() + " is not on " + backend.device().to_string());
}

Status has_dtype(const char* op, const char* what, const TensorView& t, DType dtype) {
  if (t.dtype == dtype) return Status::ok();
  return invalid_argument(prefix(op, what) + t.describe() + " must be " + std::string(dtype_name(dtype)));
}

Status has_shape(const char* op, const char* what, const TensorView& t, const Shape& shape) {
  if (t.shape == shape) return Status::ok();
  return invalid_argument(prefix(op, what) + t.describe() + " must have shape " + shape.to_string());
}

Status has_rank(const char* op, const char* what, const TensorView& t, int rank) {
  if (t.shape.rank() == rank) return Status::ok();
  return invalid_argument(prefix(op, what) + t.describe() + " must have rank " + std::to_string(rank));
}

Status not_null(const char* op, const char* what, const TensorView& t) {
  if (t.data != nullptr || t.numel() == 0) return Status::ok();
  return invalid_argument(prefix(op, what) + "has no data");
}

Status has_min_rank(const char* op, const char* what, const TensorView& t, int rank) {
  if (t.shape.rank() >= rank) return Status::ok();
  return invalid_argument(prefix(op, what) + t.describe() + " must have rank >= " + std::to_string(rank));
}

bool overlaps(const TensorView& a, const TensorView& b) {
  if (a.data == nullptr || b.data == nullptr || a.nbytes() == 0 || b.nbytes() == 0) return false;
  if (!(a.device == b.device)) return false;
  const auto a_begin = reinterpret_cast<uintptr_t>(a.data), b_begin = reinterpret_cast<uintptr_t>(b.data);
  return a_begin < b_begin + b.nbytes() && b_begin < a_begin + a.nbytes();
}

Status disjoint(const char* op, const char* a_name, const TensorView& a, const char* b_name,
                const TensorView& b) {
  if (!overlaps(a, b)) return Status::ok();
  return invalid_argument(prefix(op, a_name) + "must not alias " + b_name);
}

Status disjoint_or_same(const char* op, const char* a_name, const TensorView& a, const char* b_name,
                        const TensorView& b) {
  if (!overlaps(a, b) || (a.data == b.data && a.nbytes() == b.nbytes())) return Status::ok();
  return invalid_argument(prefix(op, a_name) + "may alias " + b_name +
                          " only exactly, not a shifted overlap");
}

}  // namespace autoglm::op_checks
