#include "tensor/shape.h"

#include <cassert>

namespace autoglm {

Shape::Shape(std::initializer_list<int64_t> dims) {
  assert(dims.size() <= kMaxDims);
  for (int64_t d : dims)
    dims_[rank_++] = d;
}

int64_t Shape::numel() const {
  int64_t n = 1;
  for (int i = 0; i < rank_; ++i)
    n *= dims_[i];
  return n;
}

bool Shape::operator==(const Shape& other) const {
  if (rank_ != other.rank_) return false;
  for (int i = 0; i < rank_; ++i) {
    if (dims_[i] != other.dims_[i]) return false;
  }
  return true;
}

std::string Shape::to_string() const {
  std::string s = "[";
  for (int i = 0; i < rank_; ++i) {
    if (i > 0) s += ", ";
    s += std::to_string(dims_[i]);
  }
  return s + "]";
}

bool Shape::from_dims(const int64_t* dims, int rank, Shape* out) {
  if (rank < 0 || rank > kMaxDims) return false;
  Shape s;
  for (int i = 0; i < rank; ++i)
    s.dims_[i] = dims[i];
  s.rank_ = rank;
  *out = s;
  return true;
}

}  // namespace autoglm
