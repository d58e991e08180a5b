// Helpers of the element-wise and row-wise GPU op tests (test_add.cpp, test_rms_norm.cpp, ...): the sizes
// every op is checked at, and device copies placed off 16-byte alignment so the scalar fallback of the
// vectorized kernels runs too. The CUDA result is always compared with the CPU kernel of the same op run on
// host copies of the same inputs.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "cuda/cuda_harness.h"

namespace autoglm::test {

// Row lengths: 1, 3, 127 and 4097 take the scalar path; 4, 128, 4096 and 40000 the float4 path. 1025 and
// 8193 (scalar) and 4100 and 40000 (float4) reach the 256- and 1024-thread row groups of row_reduce.cuh.
inline constexpr int64_t kRowLengths[] = {1, 3, 4, 127, 128, 1025, 4096, 4097, 4100, 8193, 40000};
inline constexpr int64_t kRowCounts[] = {1, 3, 7, 33};

// A device copy of `host` whose data starts 4 bytes past a 16-byte boundary (storage keeps it alive).
struct OffsetDeviceTensor {
  Tensor storage;
  TensorView view;
};

inline OffsetDeviceTensor to_device_offset(Backend& cuda, const Tensor& host) {
  OffsetDeviceTensor t;
  auto storage = cuda.allocate(host.dtype(), Shape{host.numel() + 4});
  EXPECT_TRUE(storage.has_value()) << storage.status().to_string();
  if (!storage.has_value()) return t;
  t.storage = std::move(storage).value();
  t.view = TensorView{static_cast<uint8_t*>(t.storage.data()) + dtype_bytes(host.dtype(), 1), host.dtype(),
                      host.shape(), t.storage.device()};
  const Status s = cuda.copy(t.view, host.view());
  EXPECT_TRUE(s.is_ok()) << s.to_string();
  return t;
}

inline std::string shape_trace(const Shape& shape) {
  return "shape " + shape.to_string();
}

}  // namespace autoglm::test
