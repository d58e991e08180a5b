// Where a model's named tensors come from, whatever the file format (safetensors today, GGUF next).
// Architectures see only this interface, never a file format.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "tensor/tensor.h"

namespace autoglm {

struct TensorInfo {
  std::string name;
  DType dtype = DType::kF32;
  Shape shape;
  std::string file;  // the file holding it, for error messages
};

class WeightSource {
 public:
  virtual ~WeightSource() = default;

  // A human-readable origin: the file or directory path.
  virtual std::string describe() const = 0;
  virtual std::vector<std::string> tensor_names() const = 0;
  virtual std::optional<TensorInfo> info(std::string_view name) const = 0;
  // A host view of the tensor's bytes in its stored dtype (memory-mapped: valid while the source lives).
  // kNotFound names the tensor and the source when it is absent.
  virtual Expected<TensorView> view(std::string_view name) const = 0;

  bool has(std::string_view name) const { return info(name).has_value(); }
};

// Opens a model path: a directory with model.safetensors or model.safetensors.index.json, or a single
// .safetensors file.
Expected<std::unique_ptr<WeightSource>> open_weight_source(const std::string& path);

}  // namespace autoglm
