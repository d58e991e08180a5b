#include "model/weight_provider.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <thread>
#include <vector>

#include "core/fp8.h"
#include "core/half.h"
#include "tensor/quant_blocks.h"

namespace autoglm {
namespace {

float load_f32(const void* p, DType dtype, int64_t i) {
  switch (dtype) {
    case DType::kF32:
      return static_cast<const float*>(p)[i];
    case DType::kF16:
      return f16_to_f32(static_cast<const uint16_t*>(p)[i]);
    case DType::kBF16:
      return bf16_to_f32(static_cast<const uint16_t*>(p)[i]);
    case DType::kI32:
      return static_cast<float>(static_cast<const int32_t*>(p)[i]);
    case DType::kF8E4M3:
      return fp8_e4m3_to_f32(static_cast<const uint8_t*>(p)[i]);
    case DType::kQ8_0:
    case DType::kQ4_0:
    case DType::kQ4_K:
    case DType::kQ5_K:
    case DType::kQ6_K:
    case DType::kQ4_Kx8:
      break;  // block types convert whole rows (convert_elements), never element by element
  }
  return 0;
}

void store_f32(void* p, DType dtype, int64_t i, float v) {
  switch (dtype) {
    case DType::kF32:
      static_cast<float*>(p)[i] = v;
      return;
    case DType::kF16:
      static_cast<uint16_t*>(p)[i] = f32_to_f16(v);
      return;
    case DType::kBF16:
      static_cast<uint16_t*>(p)[i] = f32_to_bf16(v);
      return;
    case DType::kI32:
      static_cast<int32_t*>(p)[i] = static_cast<int32_t>(v);
      return;
    case DType::kF8E4M3:
      static_cast<uint8_t*>(p)[i] = f32_to_fp8_e4m3(v);
      return;
    case DType::kQ8_0:
    case DType::kQ4_0:
    case DType::kQ4_K:
    case DType::kQ5_K:
    case DType::kQ6_K:
    case DType::kQ4_Kx8:
      return;  // see load_f32
  }
}

// Moves a host tensor onto the backend's device (no copy when that is the host).
Expected<Tensor> to_backend(Tensor host, Backend& backend) {
  if (backend.device().kind == DeviceKind::kCpu) return host;
  AUTOGLM_ASSIGN_OR_RETURN(Tensor t, backend.allocate(host.dtype(), host.shape()));
  AUTOGLM_RETURN_IF_ERROR(backend.copy(t.view(), host.view()));
  return t;
}

bool is_whole(const Shape& shape, Range rows, Range cols) {
  return rows.begin == 0 && rows.end == shape[0] &&
         (shape.rank() == 1 || (cols.begin == 0 && cols.end == shape[1]));
}

// Rows and columns of a host tensor: a view for a row range, else a copy of one byte span per row.
Expected<Tensor> host_part(const std::string& name, const TensorView& whole, Range rows, Range cols,
                           Tensor* keep) {
  const Shape& shape = whole.shape;
  if (rows.begin < 0 || rows.begin > rows.end || rows.end > shape[0] ||
      (shape.rank() == 2 && (cols.begin < 0 || cols.begin > cols.end || cols.end > shape[1]))) {
    return invalid_argument("weight '" + name + "' " + shape.to_string() + ": part out of range");
  }
  if (shape.rank() == 1 || (cols.begin == 0 && cols.end == shape[1])) {
    const TensorView part = whole.rows(rows.begin, rows.end);
    return Tensor(std::shared_ptr<void>(keep->storage(), part.data), part.dtype, part.shape, part.device);
  }
  const int64_t block = dtype_block_elements(whole.dtype);
  if (cols.begin % block != 0 || cols.end % block != 0) {
    return invalid_argument("weight '" + name + "': columns [" + std::to_string(cols.begin) + ", " +
                            std::to_string(cols.end) + ") of " + std::string(dtype_name(whole.dtype)) +
                            " are not on its " + std::to_string(block) + "-element blocks");
  }
  Tensor part = Tensor::host(whole.dtype, Shape{rows.size(), cols.size()});
  if (!part.defined()) return resource_exhausted("cannot allocate a part of " + name);
  const size_t row_bytes = dtype_bytes(whole.dtype, shape[1]);
  const size_t offset = dtype_bytes(whole.dtype, cols.begin), span = dtype_bytes(whole.dtype, cols.size());
  for (int64_t r = 0; r < rows.size(); ++r) {
    std::memcpy(
        static_cast<uint8_t*>(part.data()) + static_cast<size_t>(r) * span,
        static_cast<const uint8_t*>(whole.data) + static_cast<size_t>(rows.begin + r) * row_bytes + offset,
        span);
  }
  return part;
}

class CheckpointWeights final : public WeightProvider {
 public:
  CheckpointWeights(const WeightSource& source, Backend& backend) : source_(source), backend_(backend) {}

  bool has(const std::string& name) const override { return source_.has(name); }

  Expected<Tensor> load(const std::string& name, const Shape& shape, std::optional<DType> wanted) override {
    AUTOGLM_ASSIGN_OR_RETURN(TensorView src, checked_view(name, shape, wanted));
    return convert_to_backend(name, src, wanted.value_or(src.dtype));
  }

  Expected<Tensor> load_part(const std::string& name, const Shape& shape, Range rows, Range cols,
                             std::optional<DType> wanted) override {
    if (is_whole(shape, rows, cols)) return load(name, shape, wanted);
    AUTOGLM_ASSIGN_OR_RETURN(TensorView src, checked_view(name, shape, wanted));
    Tensor mapped(std::shared_ptr<void>(std::shared_ptr<void>{}, src.data), src.dtype, src.shape, src.device);
    AUTOGLM_ASSIGN_OR_RETURN(Tensor part, host_part(name, src, rows, cols, &mapped));
    return convert_to_backend(name, part.view(), wanted.value_or(src.dtype));
  }

 private:
  Expected<TensorView> checked_view(const std::string& name, const Shape& shape,
                                    std::optional<DType> wanted) {
    AUTOGLM_ASSIGN_OR_RETURN(TensorView src, source_.view(name));
    const DType dtype = wanted.value_or(src.dtype);
    if (src.shape != shape) {
      return invalid_argument(source_.describe() + ": tensor '" + name + "' has shape " +
                              src.shape.to_string() + ", the model config implies " + shape.to_string());
    }
    if (src.dtype == DType::kI32) {
      return unsupported(source_.describe() + ": tensor '" + name + "' is i32, expected a float type");
    }
    // Block types dequantize to any float type; quantizing is a separate, deliberate step (not at load).
    if (src.dtype != dtype && dtype_is_quantized(dtype)) {
      return unsupported(source_.describe() + ": tensor '" + name + "': converting " +
                         std::string(dtype_name(src.dtype)) + " to " + std::string(dtype_name(dtype)));
    }
    return src;
  }

  // A host tensor (the mapped checkpoint, or a part of it) in `dtype` on the backend.
  Expected<Tensor> convert_to_backend(const std::string& name, const TensorView& src, DType dtype) {
    if (src.dtype == dtype && backend_.device().kind != DeviceKind::kCpu) {
      // Straight from the mapped file to the device: no host copy of the (possibly 16 GB) checkpoint.
      AUTOGLM_ASSIGN_OR_RETURN(Tensor t, backend_.allocate(dtype, src.shape));
      AUTOGLM_RETURN_IF_ERROR(backend_.copy(t.view(), TensorView{src.data, dtype, src.shape, Device{}}));
      return t;
    }
    Tensor host = Tensor::host(dtype, src.shape);
    if (!host.defined()) return resource_exhausted("cannot allocate " + name);
    convert_elements(src.data, src.dtype, host.data(), dtype, src.numel());
    return to_backend(std::move(host), backend_);
  }

  const WeightSource& source_;
  Backend& backend_;
};

// xorshift64*: fast enough to fill gigabytes; statistical quality is irrelevant for speed runs.
float uniform(uint64_t& state) {
  state ^= state >> 12;
  state ^= state << 25;
  state ^= state >> 27;
  return static_cast<float>((state * 0x2545F4914F6CDD1DULL) >> 40) * (1.0f / 16777216.0f);
}

// n values uniform in +-bound, in chunks with their own seeds spread over the cores: an 8B-parameter shape
// is 16 GB of weights, which one thread would take half a minute to draw.
void fill_uniform(void* dst, DType dtype, int64_t n, float bound, uint64_t seed) {
  constexpr int64_t kChunk = 1 << 20;
  const int64_t n_chunks = (n + kChunk - 1) / kChunk;
  const int n_threads =
      static_cast<int>(std::min<int64_t>(n_chunks, std::max(1u, std::thread::hardware_concurrency())));
  auto work = [&](int t) {
    for (int64_t c = t; c < n_chunks; c += n_threads) {
      uint64_t state = (seed ^ (0x9E3779B97F4A7C15ULL * static_cast<uint64_t>(c + 1))) | 1;
      for (int64_t i = c * kChunk; i < std::min(n, (c + 1) * kChunk); ++i)
        store_f32(dst, dtype, i, bound * (2.0f * uniform(state) - 1.0f));
    }
  };
  std::vector<std::thread> threads;
  for (int t = 1; t < n_threads; ++t)
    threads.emplace_back(work, t);
  work(0);
  for (auto& th : threads)
    th.join();
}

class RandomWeights final : public WeightProvider {
 public:
  RandomWeights(Backend& backend, DType dtype, uint64_t seed)
      : backend_(backend), dtype_(dtype), state_(seed) {}

  bool has(const std::string&) const override { return true; }
  Expected<Tensor> load(const std::string& name, const Shape& shape, std::optional<DType> wanted) override {
    AUTOGLM_ASSIGN_OR_RETURN(Tensor host, draw(name, shape, wanted.value_or(dtype_)));
    return to_backend(std::move(host), backend_);
  }
  // The whole weight is drawn (the same values as load's, in the same order of calls), then cut.
  Expected<Tensor> load_part(const std::string& name, const Shape& shape, Range rows, Range cols,
                             std::optional<DType> wanted) override {
    AUTOGLM_ASSIGN_OR_RETURN(Tensor whole, draw(name, shape, wanted.value_or(dtype_)));
    if (is_whole(shape, rows, cols)) return to_backend(std::move(whole), backend_);
    AUTOGLM_ASSIGN_OR_RETURN(Tensor part, host_part(name, whole.view(), rows, cols, &whole));
    return to_backend(std::move(part), backend_);
  }

 private:
  Expected<Tensor> draw(const std::string& name, const Shape& shape, DType dtype) {
    Tensor host = Tensor::host(dtype, shape);
    if (!host.defined()) return resource_exhausted("cannot allocate random weight " + name);
    const int64_t n = host.numel();
    if (shape.rank() == 1) {
      const bool is_bias = name.find("bias") != std::string::npos;
      for (int64_t i = 0; i < n; ++i)
        store_f32(host.data(), dtype, i, is_bias ? 0.0f : 1.0f);
    } else if (dtype_is_quantized(dtype)) {
      // Block types: draw a row in f32, then quantize it as `autoglm quantize` would.
      const int64_t cols = shape.back();
      const float bound = std::sqrt(3.0f / static_cast<float>(cols));
      std::vector<float> row(static_cast<size_t>(cols));
      auto* dst = static_cast<uint8_t*>(host.data());
      for (int64_t r = 0; r < n / cols; ++r) {
        for (float& v : row)
          v = bound * (2.0f * next_uniform() - 1.0f);
        Status s = quantize_row(dtype, row.data(), dst + dtype_bytes(dtype, r * cols), cols);
        if (!s.is_ok()) return s.with_context("random weight " + name);
      }
    } else {
      fill_uniform(host.data(), dtype, n, std::sqrt(3.0f / static_cast<float>(shape.back())), next_seed());
    }
    return host;
  }

  float next_uniform() { return uniform(state_); }
  uint64_t next_seed() {
    next_uniform();
    return state_;
  }

  Backend& backend_;
  DType dtype_;
  uint64_t state_;
};

}  // namespace

void convert_elements(const void* src, DType src_dtype, void* dst, DType dst_dtype, int64_t n) {
  if (src_dtype == dst_dtype) {
    std::memcpy(dst, src, dtype_bytes(src_dtype, n));
    return;
  }
  if (dtype_is_quantized(src_dtype)) {
    // Dequantize a block-aligned chunk at a time to bound the scratch memory.
    const int64_t chunk = dtype_block_elements(src_dtype) * 256;
    std::vector<float> buffer(static_cast<size_t>(chunk));
    for (int64_t begin = 0; begin < n; begin += chunk) {
      const int64_t count = std::min(chunk, n - begin);
      dequantize_row(src_dtype, static_cast<const uint8_t*>(src) + dtype_bytes(src_dtype, begin),
                     buffer.data(), count);
      for (int64_t i = 0; i < count; ++i)
        store_f32(dst, dst_dtype, begin + i, buffer[static_cast<size_t>(i)]);
    }
    return;
  }
  for (int64_t i = 0; i < n; ++i)
    store_f32(dst, dst_dtype, i, load_f32(src, src_dtype, i));
}

std::unique_ptr<WeightProvider> make_checkpoint_weights(const WeightSource& source, Backend& backend) {
  return std::make_unique<CheckpointWeights>(source, backend);
}

std::unique_ptr<WeightProvider> make_random_weights(Backend& backend, DType dtype, uint64_t seed) {
  return std::make_unique<RandomWeights>(backend, dtype, seed | 1);
}

}  // namespace autoglm
