// Helpers of the GPU op tests (label gpu): the CUDA backend, host<->device tensors, and guarded device
// outputs. Every GPU kernel is checked against the CPU reference of the same op on random seeded inputs;
// outputs are poisoned with NaN and surrounded by sentinel words on the device, so both an element the
// kernel skipped and a write past either end fail the test.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "backend/backend.h"
#include "support/guarded_output.h"
#include "support/test_data.h"
#include "tensor/quant_blocks.h"
#include "tensor/tensor.h"

namespace autoglm::test {

// The CUDA backend on GPU 0; the test fails (not skips) where there is none: gpu tests run only where a GPU
// is expected.
inline std::unique_ptr<Backend> make_cuda(const BackendOptions& options = {}) {
  auto backend = create_backend("cuda", options);
  EXPECT_TRUE(backend.has_value()) << backend.status().to_string();
  return backend.has_value() ? std::move(backend).value() : nullptr;
}

// A device copy of a host tensor.
inline Tensor to_device(Backend& cuda, const Tensor& host) {
  auto t = cuda.allocate(host.dtype(), host.shape());
  EXPECT_TRUE(t.has_value()) << t.status().to_string();
  if (!t.has_value()) return {};
  const Status s = cuda.copy(t->view(), host.view());
  EXPECT_TRUE(s.is_ok()) << s.to_string();
  return std::move(t).value();
}

// A host copy of any tensor (device or host).
inline Tensor to_host(Backend& cuda, const TensorView& t) {
  Tensor host = Tensor::host(t.dtype, t.shape);
  const Status s = cuda.copy(host.view(), t);
  EXPECT_TRUE(s.is_ok()) << s.to_string();
  return host;
}

// An f32 host tensor rounded to a 16-bit type (to nearest-even), as `dtype` (rounded_16bit) or widened back
// to f32 (rounded_f32): the x the tensor cores multiply when the GPU is handed an f32 x.
inline Tensor rounded_16bit(const Tensor& x, DType dtype) {
  Tensor r = Tensor::host(dtype, x.shape());
  EXPECT_TRUE(quantize_row(dtype, x.as<const float>(), r.data(), x.numel()).is_ok());
  return r;
}
inline Tensor rounded_f32(const Tensor& x, DType dtype) {
  const Tensor narrow = rounded_16bit(x, dtype);
  Tensor r = Tensor::host(DType::kF32, x.shape());
  dequantize_row(dtype, narrow.data(), r.as<float>(), x.numel());
  return r;
}

// An f32 device output: poisoned with kPoisonBits, with kGuard sentinel words on each side.
class GuardedDeviceOut {
 public:
  GuardedDeviceOut(Backend& cuda, Shape shape) : cuda_(cuda), numel_(shape.numel()) {
    std::vector<float> init(static_cast<size_t>(numel_ + 2 * kGuard), from_bits(kSentinelBits));
    std::fill(init.begin() + kGuard, init.end() - kGuard, from_bits(kPoisonBits));
    Tensor host(std::shared_ptr<void>(init.data(), [](void*) {}), DType::kF32, Shape{numel_ + 2 * kGuard},
                Device{});
    storage_ = to_device(cuda, host);
    view_ = TensorView{static_cast<float*>(storage_.data()) + kGuard, DType::kF32, shape, storage_.device()};
  }
  const TensorView& view() const { return view_; }
  std::vector<float> values() const { return to_f32(to_host(cuda_, view_).view()); }
  void expect_clean() const {
    const Tensor all = to_host(cuda_, storage_.view());
    const float* p = all.as<const float>();
    for (int64_t i = 0; i < kGuard; ++i) {
      ASSERT_EQ(bits_of(p[i]), kSentinelBits) << "guard before the output written at " << i;
      ASSERT_EQ(bits_of(p[kGuard + numel_ + i]), kSentinelBits) << "guard after the output written at " << i;
    }
    for (int64_t i = 0; i < numel_; ++i)
      ASSERT_TRUE(std::isfinite(p[kGuard + i])) << "output element " << i;
  }

 private:
  Backend& cuda_;
  int64_t numel_;
  Tensor storage_;
  TensorView view_;
};

}  // namespace autoglm::test
