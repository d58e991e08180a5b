// What the device sampler costs at a decode step's scale: sample_rows over 256 rows of a 128,256-entry
// vocabulary with no mask, top_p, top_k and both (temperature 0.8), median of 20 calls after 3 warm-ups,
// timed with device events.
//
//   bench_sample_rows_cuda
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "backend/cuda/cuda_backend.h"
#include "ops/sample_rows.h"

namespace autoglm {
namespace {

void check(const Status& s, const char* what) {
  if (!s.is_ok()) {
    std::fprintf(stderr, "%s: %s\n", what, s.to_string().c_str());
    std::exit(1);
  }
}

int run() {
  auto created = create_backend("cuda", {});
  check(created.status(), "cuda backend");
  std::unique_ptr<Backend> owned = std::move(created).value();
  CudaBackend& cuda = cuda_backend(*owned);
  const int64_t rows = 256, c = 128256;
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  std::vector<float> logits(static_cast<size_t>(rows * c));
  for (float& v : logits)
    v = normal(rng);
  Tensor x = std::move(cuda.allocate(DType::kF32, Shape{rows, c})).value();
  Tensor out = std::move(cuda.allocate(DType::kI32, Shape{rows})).value();
  Tensor params = std::move(cuda.allocate(DType::kF32, Shape{rows, kSampleRowsParams})).value();
  check(cuda.copy(x.view(), TensorView{logits.data(), DType::kF32, Shape{rows, c}, Device{}}), "upload");
  struct Masks {
    const char* name;
    float top_p, top_k;
  };
  cudaEvent_t e0, e1;
  cudaEventCreate(&e0);
  cudaEventCreate(&e1);
  std::printf("%-22s %10s\n", "masks (256 x 128256)", "us/call");
  for (const Masks m : {Masks{"none", 1.0f, 0.0f}, Masks{"top_p 0.9", 0.9f, 0.0f},
                        Masks{"top_k 50", 1.0f, 50.0f}, Masks{"top_k 50 + top_p 0.9", 0.9f, 50.0f}}) {
    std::vector<float> p(static_cast<size_t>(rows * kSampleRowsParams));
    for (int64_t r = 0; r < rows; ++r) {
      float* q = p.data() + r * kSampleRowsParams;
      q[0] = 0.8f;
      q[1] = m.top_p;
      q[2] = 0.0f;
      q[3] = 0.5f;
      q[4] = m.top_k;
    }
    check(cuda.copy(params.view(), TensorView{p.data(), DType::kF32, params.shape(), Device{}}), "params");
    for (int i = 0; i < 3; ++i)
      check(sample_rows(cuda, {x.view(), params.view(), out.view()}), "sample_rows");
    std::vector<float> ms;
    for (int i = 0; i < 20; ++i) {
      cudaEventRecord(e0, cuda.stream());
      check(sample_rows(cuda, {x.view(), params.view(), out.view()}), "sample_rows");
      cudaEventRecord(e1, cuda.stream());
      cudaEventSynchronize(e1);
      float t = 0;
      cudaEventElapsedTime(&t, e0, e1);
      ms.push_back(t);
    }
    std::sort(ms.begin(), ms.end());
    std::printf("%-22s %10.0f\n", m.name, ms[ms.size() / 2] * 1e3);
  }
  check(cuda.synchronize(), "synchronize");
  return 0;
}

}  // namespace
}  // namespace autoglm

int main() {
  return autoglm::run();
}
