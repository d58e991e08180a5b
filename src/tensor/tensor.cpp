#include "tensor/tensor.h"

#include <cassert>
#include <cstdlib>
#include <utility>

#include "core/aligned_buffer.h"

namespace autoglm {

std::string Device::to_string() const {
  return kind == DeviceKind::kCpu ? std::string("cpu") : "cuda:" + std::to_string(index);
}

TensorView TensorView::reshaped(Shape new_shape) const {
  assert(new_shape.numel() == numel());
  TensorView v = *this;
  v.shape = new_shape;
  return v;
}

TensorView TensorView::rows(int64_t begin, int64_t end) const {
  assert(shape.rank() >= 1 && begin >= 0 && begin <= end && end <= shape[0]);
  const int64_t row_elems = shape[0] == 0 ? 0 : numel() / shape[0];
  TensorView v = *this;
  v.data = static_cast<uint8_t*>(data) + dtype_bytes(dtype, begin * row_elems);
  v.shape[0] = end - begin;
  return v;
}

std::string TensorView::describe() const {
  return std::string(dtype_name(dtype)) + shape.to_string() + "@" + device.to_string();
}

Tensor::Tensor(std::shared_ptr<void> storage, DType dtype, Shape shape, Device device)
    : storage_(std::move(storage)), dtype_(dtype), shape_(shape), device_(device) {}

Tensor Tensor::host(DType dtype, Shape shape) {
  AlignedPtr p = aligned_alloc_bytes(dtype_bytes(dtype, shape.numel()));
  if (!p) return {};
  return Tensor(std::shared_ptr<void>(p.release(), FreeDeleter{}), dtype, shape, Device{});
}

}  // namespace autoglm
