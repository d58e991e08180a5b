// The CUDA backend itself: allocate/copy round trips of several dtypes and sizes (0 and 1 element, past the
// caching allocator's 1 MiB small-block limit), device-to-device copies, the caching allocator's reuse,
// errors as values (a 1 PiB allocation, mismatched copies, a bad device index), the sticky launch error that
// synchronize() reports once, scratch memory, and Tensors that outlive their backend.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "backend/cuda/cuda_allocator.h"
#include "backend/cuda/cuda_backend.h"
#include "cuda/cuda_harness.h"

namespace autoglm {
namespace {

using test::make_cuda;

// A host tensor of random bytes (any dtype, block types included).
Tensor random_bytes(DType dtype, Shape shape, uint64_t seed) {
  Tensor t = Tensor::host(dtype, shape);
  std::mt19937_64 rng(seed);
  auto* p = static_cast<uint8_t*>(t.data());
  for (size_t i = 0; i < t.nbytes(); ++i)
    p[i] = static_cast<uint8_t>(rng());
  return t;
}

bool same_bytes(const Tensor& a, const Tensor& b) {
  return a.nbytes() == b.nbytes() && (a.nbytes() == 0 || std::memcmp(a.data(), b.data(), a.nbytes()) == 0);
}

TEST(CudaBackend, RegistersAndReportsItsDevice) {
  auto cuda = make_cuda();
  ASSERT_NE(cuda, nullptr);
  EXPECT_EQ(cuda->name(), "cuda");
  EXPECT_EQ(cuda->device(), (Device{DeviceKind::kCuda, 0}));
  CudaBackend& backend = cuda_backend(*cuda);
  EXPECT_NE(backend.stream(), nullptr);
  EXPECT_NE(backend.cublaslt(), nullptr);
  EXPECT_NE(backend.workspace(), nullptr);
  EXPECT_EQ(backend.workspace_bytes(), size_t{32} << 20);
  EXPECT_GT(backend.properties().multiProcessorCount, 0);
  EXPECT_TRUE(cuda->synchronize().is_ok());
}

TEST(CudaBackend, BadDeviceIndexIsAnError) {
  auto backend = create_backend("cuda", {.device_index = 4096});
  ASSERT_FALSE(backend.has_value());
  EXPECT_EQ(backend.status().code(), StatusCode::kInvalidArgument) << backend.status().to_string();
  backend = create_backend("cuda", {.device_index = -1});
  EXPECT_FALSE(backend.has_value());
}

// host -> device -> device -> host gives back the same bytes, for every dtype the engine keeps on a GPU and
// sizes from empty to past the small-block limit of the allocator.
TEST(CudaBackend, CopyRoundTrips) {
  auto cuda = make_cuda();
  ASSERT_NE(cuda, nullptr);
  const Shape shapes[] = {Shape{0}, Shape{1}, Shape{3}, Shape{7, 33}, Shape{4097}, Shape{3, (1 << 18) + 5}};
  uint64_t seed = 1;
  for (const DType dtype : {DType::kF32, DType::kF16, DType::kBF16, DType::kI32}) {
    for (const Shape& shape : shapes) {
      SCOPED_TRACE(std::string(dtype_name(dtype)) + shape.to_string());
      const Tensor host = random_bytes(dtype, shape, seed++);
      auto a = cuda->allocate(dtype, shape);
      auto b = cuda->allocate(dtype, shape);
      ASSERT_TRUE(a.has_value() && b.has_value());
      EXPECT_EQ(a->device(), cuda->device());
      EXPECT_EQ(a->shape(), shape);
      EXPECT_EQ(a->dtype(), dtype);
      ASSERT_NE(a->data(), nullptr);
      ASSERT_NE(a->data(), b->data());
      ASSERT_TRUE(cuda->copy(a->view(), host.view()).is_ok());
      ASSERT_TRUE(cuda->copy(b->view(), a->view()).is_ok());  // device to device
      Tensor back = Tensor::host(dtype, shape);
      if (back.nbytes() > 0) std::memset(back.data(), 0xA5, back.nbytes());
      ASSERT_TRUE(cuda->copy(back.view(), b->view()).is_ok());
      EXPECT_TRUE(same_bytes(back, host));
    }
  }
  // A block type travels as bytes too (two Q8_0 rows of 64 elements).
  const Tensor q = random_bytes(DType::kQ8_0, Shape{2, 64}, 99);
  auto dq = cuda->allocate(DType::kQ8_0, Shape{2, 64});
  ASSERT_TRUE(dq.has_value());
  ASSERT_TRUE(cuda->copy(dq->view(), q.view()).is_ok());
  Tensor back = Tensor::host(DType::kQ8_0, Shape{2, 64});
  ASSERT_TRUE(cuda->copy(back.view(), dq->view()).is_ok());
  EXPECT_TRUE(same_bytes(back, q));
  EXPECT_TRUE(cuda->synchronize().is_ok());
}

// A copy into a row range of a device tensor lands at the right offset and touches nothing else.
TEST(CudaBackend, CopyIntoRowsOfADeviceTensor) {
  auto cuda = make_cuda();
  ASSERT_NE(cuda, nullptr);
  const Tensor whole = test::random_tensor(DType::kF32, Shape{10, 6}, 5);
  const Tensor part = test::random_tensor(DType::kF32, Shape{3, 6}, 6);
  const Tensor d = test::to_device(*cuda, whole);
  ASSERT_TRUE(cuda->copy(d.view().rows(4, 7), part.view()).is_ok());
  const Tensor back = test::to_host(*cuda, d.view());
  for (int64_t r = 0; r < 10; ++r) {
    for (int64_t c = 0; c < 6; ++c) {
      const float want = r >= 4 && r < 7 ? part.as<float>()[(r - 4) * 6 + c] : whole.as<float>()[r * 6 + c];
      ASSERT_EQ(back.as<float>()[r * 6 + c], want) << "row " << r << " col " << c;
    }
  }
}

TEST(CudaBackend, HostToHostCopyWorks) {
  auto cuda = make_cuda();
  ASSERT_NE(cuda, nullptr);
  const Tensor a = test::random_tensor(DType::kF32, Shape{17}, 3);
  Tensor b = Tensor::host(DType::kF32, Shape{17});
  ASSERT_TRUE(cuda->copy(b.view(), a.view()).is_ok());
  EXPECT_TRUE(same_bytes(a, b));
}

TEST(CudaBackend, MismatchedCopiesAreErrors) {
  auto cuda = make_cuda();
  ASSERT_NE(cuda, nullptr);
  auto f32 = cuda->allocate(DType::kF32, Shape{8});
  auto f16 = cuda->allocate(DType::kF16, Shape{8});
  auto f32_short = cuda->allocate(DType::kF32, Shape{7});
  ASSERT_TRUE(f32.has_value() && f16.has_value() && f32_short.has_value());
  const Tensor host16 = Tensor::host(DType::kF16, Shape{8});
  EXPECT_EQ(cuda->copy(f32->view(), f16->view()).code(), StatusCode::kInvalidArgument) << "dtype, on device";
  EXPECT_EQ(cuda->copy(f32->view(), host16.view()).code(), StatusCode::kInvalidArgument)
      << "dtype, from host";
  EXPECT_EQ(cuda->copy(f32->view(), f32_short->view()).code(), StatusCode::kInvalidArgument) << "numel";
  TensorView other_gpu = f32->view();
  other_gpu.device.index = 7;
  EXPECT_FALSE(cuda->copy(other_gpu, f32->view()).is_ok()) << "another GPU's tensor";
  // None of these may leave an error behind.
  EXPECT_TRUE(cuda->synchronize().is_ok());
}

// The decode loop frees and allocates the same sizes every step: after the first step the cache serves them
// all, so the memory held stays put and cudaMalloc is not called again.
TEST(CudaBackend, AllocatorReusesFreedBlocks) {
  auto cuda = make_cuda();
  ASSERT_NE(cuda, nullptr);
  CudaBackend& backend = cuda_backend(*cuda);
  const Shape sizes[] = {Shape{1000}, Shape{3, 4096}, Shape{(3 << 20) / 4 + 1}};  // small, small, large
  void* first[3] = {};
  for (int i = 0; i < 3; ++i) {
    auto t = cuda->allocate(DType::kF32, sizes[i]);
    ASSERT_TRUE(t.has_value());
    first[i] = t->data();
  }
  const size_t reserved = backend.reserved_bytes();
  const uint64_t mallocs = backend.allocator_stats().n_cuda_malloc;
  EXPECT_GT(reserved, 0u);
  EXPECT_EQ(backend.allocator_stats().in_use_bytes, 0u);
  for (int step = 0; step < 20; ++step) {
    for (int i = 0; i < 3; ++i) {
      auto t = cuda->allocate(DType::kF32, sizes[i]);
      ASSERT_TRUE(t.has_value());
      EXPECT_EQ(t->data(), first[i]) << "size " << i << " step " << step;
    }
    EXPECT_EQ(backend.reserved_bytes(), reserved) << "step " << step;
  }
  EXPECT_EQ(backend.allocator_stats().n_cuda_malloc, mallocs);
  // Two live blocks of one size are two blocks.
  auto a = cuda->allocate(DType::kF32, Shape{1000});
  auto b = cuda->allocate(DType::kF32, Shape{1000});
  ASSERT_TRUE(a.has_value() && b.has_value());
  EXPECT_NE(a->data(), b->data());
  EXPECT_GE(backend.allocator_stats().peak_in_use_bytes, backend.allocator_stats().in_use_bytes);
}

TEST(CudaBackend, AllocatorRoundsSizes) {
  EXPECT_EQ(CudaAllocator::round_size(0), 512u);
  EXPECT_EQ(CudaAllocator::round_size(1), 512u);
  EXPECT_EQ(CudaAllocator::round_size(513), 1024u);
  EXPECT_EQ(CudaAllocator::round_size(size_t{1} << 20), size_t{1} << 20);
  EXPECT_EQ(CudaAllocator::round_size((size_t{1} << 20) + 1), size_t{2} << 20);
  EXPECT_EQ(CudaAllocator::round_size((size_t{2} << 20) + 1), size_t{4} << 20);
}

// 1 PiB fits no GPU: an error value, no crash, and no error left behind for the next synchronize or launch.
TEST(CudaBackend, HugeAllocationIsAnError) {
  auto cuda = make_cuda();
  ASSERT_NE(cuda, nullptr);
  auto small = cuda->allocate(DType::kF32, Shape{256});  // something cached to release on the retry
  ASSERT_TRUE(small.has_value());
  small = cuda->allocate(DType::kF32, Shape{512});
  auto huge = cuda->allocate(DType::kF32, Shape{int64_t{1} << 48});  // 2^50 bytes
  ASSERT_FALSE(huge.has_value());
  EXPECT_EQ(huge.status().code(), StatusCode::kResourceExhausted) << huge.status().to_string();
  EXPECT_TRUE(cuda->synchronize().is_ok());
  // The backend still works.
  const Tensor host = test::random_tensor(DType::kF32, Shape{100}, 8);
  const Tensor d = test::to_device(*cuda, host);
  EXPECT_TRUE(same_bytes(test::to_host(*cuda, d.view()), host));
}

// A failed launch (here: any failed runtime call, which sets the same last-error state) is reported by the
// next synchronize(), once, naming the kernel.
TEST(CudaBackend, LaunchErrorIsReportedOnceBySynchronize) {
  auto cuda = make_cuda();
  ASSERT_NE(cuda, nullptr);
  CudaBackend& backend = cuda_backend(*cuda);
  backend.note_launch("nothing_failed");
  EXPECT_TRUE(cuda->synchronize().is_ok());
  ASSERT_NE(cudaSetDevice(-1), cudaSuccess);  // a harmless, non-sticky error
  backend.note_launch("probe_kernel");
  ASSERT_NE(cudaSetDevice(-2), cudaSuccess);
  backend.note_launch("second_kernel");  // the first error sticks
  const Status s = cuda->synchronize();
  EXPECT_FALSE(s.is_ok());
  EXPECT_NE(s.message().find("probe_kernel"), std::string::npos) << s.to_string();
  EXPECT_TRUE(cuda->synchronize().is_ok()) << "reported once";
}

// The same report comes from a copy to the host, which synchronizes.
TEST(CudaBackend, CopyToHostReportsLaunchErrors) {
  auto cuda = make_cuda();
  ASSERT_NE(cuda, nullptr);
  const Tensor host = test::random_tensor(DType::kF32, Shape{4}, 9);
  auto d = cuda->allocate(DType::kF32, Shape{4});
  ASSERT_TRUE(d.has_value());
  ASSERT_TRUE(cuda->copy(d->view(), host.view()).is_ok());
  ASSERT_NE(cudaSetDevice(-1), cudaSuccess);
  cuda_backend(*cuda).note_launch("probe_kernel");
  Tensor back = Tensor::host(DType::kF32, Shape{4});
  EXPECT_FALSE(cuda->copy(back.view(), d->view()).is_ok());
  EXPECT_TRUE(cuda->synchronize().is_ok());
}

TEST(CudaBackend, ScratchGrowsAndIsUsable) {
  auto cuda = make_cuda();
  ASSERT_NE(cuda, nullptr);
  CudaBackend& backend = cuda_backend(*cuda);
  void* a = backend.scratch(100);
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(backend.scratch(50), a) << "a smaller request reuses the scratch";
  void* b = backend.scratch(size_t{10} << 20);
  ASSERT_NE(b, nullptr);
  ASSERT_EQ(cudaMemsetAsync(b, 0x3f, size_t{10} << 20, backend.stream()), cudaSuccess);
  EXPECT_TRUE(cuda->synchronize().is_ok());
  EXPECT_EQ(backend.scratch(1), b);
}

// A Tensor may die after its backend: its block then goes straight back to the driver.
TEST(CudaBackend, TensorsMayOutliveTheBackend) {
  Tensor survivor;
  {
    auto cuda = make_cuda();
    ASSERT_NE(cuda, nullptr);
    survivor = test::to_device(*cuda, test::random_tensor(DType::kF32, Shape{1000}, 10));
    ASSERT_TRUE(survivor.defined());
  }
  survivor = Tensor();
  // A new backend still works afterwards.
  auto cuda = make_cuda();
  ASSERT_NE(cuda, nullptr);
  EXPECT_TRUE(cuda->synchronize().is_ok());
}

}  // namespace
}  // namespace autoglm

namespace autoglm {
namespace {

// Copies larger than the two 16 MiB pinned staging buffers go through them in chunks; an odd size leaves a
// partial last chunk. Every byte must arrive in order both ways.
TEST(CudaBackendStaging, MultiChunkRoundTripKeepsEveryByte) {
  auto cuda = test::make_cuda();
  ASSERT_TRUE(cuda);
  const int64_t n = (int64_t{40} << 20) / 4 + 12345;  // ~40 MiB of f32: three chunks, the last partial
  Tensor host = Tensor::host(DType::kF32, Shape{n});
  for (int64_t i = 0; i < n; ++i)
    host.as<float>()[i] = static_cast<float>(i % 1000003) * 0.5f;
  auto device = cuda->allocate(DType::kF32, Shape{n});
  ASSERT_TRUE(device.has_value());
  ASSERT_TRUE(cuda->copy(device->view(), host.view()).is_ok());
  // The upload has read the source: overwriting it now must not change what reaches the device.
  std::fill(host.as<float>(), host.as<float>() + n, -1.0f);
  Tensor back = Tensor::host(DType::kF32, Shape{n});
  ASSERT_TRUE(cuda->copy(back.view(), device->view()).is_ok());
  for (int64_t i = 0; i < n; ++i)
    ASSERT_EQ(back.as<float>()[i], static_cast<float>(i % 1000003) * 0.5f) << i;
}

}  // namespace
}  // namespace autoglm
