// WeightSource over safetensors: one file, or a sharded checkpoint described by model.safetensors.index.json.
// open_weight_source() (weight_source.h) picks between them from a path.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"
#include "loader/safetensors_file.h"
#include "loader/weight_source.h"

namespace autoglm {

// Immutable after opening: const methods may be called from several threads at once.
class SafetensorsSource final : public WeightSource {
 public:
  // A single .safetensors file.
  static Expected<std::unique_ptr<SafetensorsSource>> open_file(const std::string& path);
  // A sharded checkpoint: `index_path` is a model.safetensors.index.json whose "weight_map" maps tensor names
  // to shard files beside it. Each shard is mapped once; every mapped name must exist in its shard (kNotFound
  // otherwise). Tensors present in a shard but missing from the map are still served; where the map and a
  // shard disagree, the map wins.
  static Expected<std::unique_ptr<SafetensorsSource>> open_index(const std::string& index_path);

  std::string describe() const override { return origin_; }
  std::vector<std::string> tensor_names() const override;  // lexicographic order
  std::optional<TensorInfo> info(std::string_view name) const override;
  Expected<TensorView> view(std::string_view name) const override;

  size_t shard_count() const { return shards_.size(); }

 private:
  explicit SafetensorsSource(std::string origin) : origin_(std::move(origin)) {}

  std::string origin_;
  std::vector<SafetensorsFile> shards_;
  std::map<std::string, size_t, std::less<>> owner_;  // tensor name -> index into shards_
};

}  // namespace autoglm
