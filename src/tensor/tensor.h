// Tensor (owning, shared storage) and TensorView (non-owning pointer + dtype + shape + device).
// Tensors are contiguous and row-major; a view of a row range is a pointer offset.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "tensor/dtype.h"
#include "tensor/shape.h"

namespace autoglm {

enum class DeviceKind : uint8_t { kCpu, kCuda };

struct Device {
  DeviceKind kind = DeviceKind::kCpu;
  int index = 0;
  bool operator==(const Device&) const = default;
  std::string to_string() const;  // "cpu", "cuda:0"
};

struct TensorView {
  void* data = nullptr;
  DType dtype = DType::kF32;
  Shape shape;
  Device device;

  int64_t numel() const { return shape.numel(); }
  size_t nbytes() const { return dtype_bytes(dtype, numel()); }
  template <typename T>
  T* as() const {
    return static_cast<T*>(data);
  }
  // Same bytes, another shape of equal numel.
  TensorView reshaped(Shape new_shape) const;
  // Rows [begin, end) of the outermost dimension.
  TensorView rows(int64_t begin, int64_t end) const;
  std::string describe() const;  // "f32[3, 64]@cpu"
};

class Tensor {
 public:
  Tensor() = default;
  // Adopts storage (any deleter: host free, device free, or a no-op for mmapped weights).
  Tensor(std::shared_ptr<void> storage, DType dtype, Shape shape, Device device);

  // Host tensor of fresh, 64-byte aligned, uninitialized memory; empty Tensor if allocation fails.
  static Tensor host(DType dtype, Shape shape);

  bool defined() const { return storage_ != nullptr; }
  // The owning pointer, for views that keep the storage alive (std::shared_ptr's aliasing constructor).
  const std::shared_ptr<void>& storage() const { return storage_; }
  TensorView view() const { return {storage_.get(), dtype_, shape_, device_}; }
  void* data() const { return storage_.get(); }
  template <typename T>
  T* as() const {
    return static_cast<T*>(storage_.get());
  }
  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  Device device() const { return device_; }
  int64_t numel() const { return shape_.numel(); }
  size_t nbytes() const { return dtype_bytes(dtype_, numel()); }

 private:
  std::shared_ptr<void> storage_;
  DType dtype_ = DType::kF32;
  Shape shape_;
  Device device_;
};

}  // namespace autoglm
