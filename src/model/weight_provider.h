// Where the decoder gets each weight from: a checkpoint (any WeightSource) or random values (for speed
// measurements of shapes whose weights we do not have). Either way a weight arrives with the shape the
// architecture expects, in the dtype it asks for, on the backend it runs on.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "backend/backend.h"
#include "core/status.h"
#include "loader/weight_source.h"
#include "parallel/shard_plan.h"

namespace autoglm {

class WeightProvider {
 public:
  virtual ~WeightProvider() = default;
  virtual bool has(const std::string& name) const = 0;
  // The weight converted to `dtype` (unset: kept in its stored dtype, e.g. each GGUF tensor's own quant
  // type); kNotFound if absent, kInvalidArgument if its shape differs from `shape` (both naming the tensor
  // and its origin).
  virtual Expected<Tensor> load(const std::string& name, const Shape& shape, std::optional<DType> dtype) = 0;
  // Rows `rows` and columns `cols` of the weight whose whole shape is `shape` (a 1-D weight: `rows` only),
  // in `dtype`: a tensor-parallel rank's part, the same values as those of load(). Read without the rest of
  // the weight where the source allows (a row range is one span of a checkpoint, a column range one span
  // per row). Block types need column ranges on block boundaries (kInvalidArgument otherwise).
  virtual Expected<Tensor> load_part(const std::string& name, const Shape& shape, Range rows, Range cols,
                                     std::optional<DType> dtype) = 0;
};

// Reads from a checkpoint; the source must outlive the provider.
std::unique_ptr<WeightProvider> make_checkpoint_weights(const WeightSource& source, Backend& backend);
// Uniform values in +-sqrt(3 / fan_in) (so activations keep unit scale); 1-D weights (norms) are 1, biases 0.
std::unique_ptr<WeightProvider> make_random_weights(Backend& backend, DType dtype, uint64_t seed);

// Host-side conversion of n elements between f32, f16 and bf16 (round to nearest even), or from a block type
// to any of them (dequantization).
void convert_elements(const void* src, DType src_dtype, void* dst, DType dst_dtype, int64_t n);

}  // namespace autoglm
