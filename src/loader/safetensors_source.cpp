#include "loader/safetensors_source.h"

#include <filesystem>
#include <new>
#include <set>
#include <system_error>

#include <nlohmann/json.hpp>

#include "core/mapped_file.h"

namespace autoglm {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

// A shard is a file beside the index. Absolute paths and ".." are refused so that an index cannot make us map
// arbitrary files elsewhere on the machine.
bool is_plain_relative(const std::string& file) {
  if (file.empty()) return false;
  const fs::path p(file);
  if (p.is_absolute()) return false;
  for (const auto& part : p) {
    if (part == "..") return false;
  }
  return true;
}

// Reads the index's weight_map as tensor name -> shard file name.
Expected<std::map<std::string, std::string>> read_weight_map(const std::string& index_path) {
  AUTOGLM_ASSIGN_OR_RETURN(MappedFile mapped, MappedFile::open(index_path));
  const std::string text(reinterpret_cast<const char*>(mapped.data()), mapped.size());
  Json root;
  try {
    root = Json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    return parse_error(index_path + ": not valid JSON: " + e.what());
  } catch (const std::bad_alloc&) {
    return resource_exhausted(index_path + ": out of memory while parsing");
  }
  if (!root.is_object())
    return parse_error(index_path + ": top level is a JSON " + root.type_name() + ", not an object");
  const auto map_it = root.find("weight_map");
  if (map_it == root.end()) return parse_error(index_path + ": missing 'weight_map'");
  if (!map_it->is_object()) return parse_error(index_path + ": 'weight_map' must be an object");
  if (map_it->empty()) return parse_error(index_path + ": 'weight_map' is empty");
  std::map<std::string, std::string> weight_map;
  for (const auto& [name, file] : map_it->items()) {
    if (!file.is_string()) {
      return parse_error(index_path + ": weight_map entry '" + name + "' must be a file name string, got " +
                         file.dump());
    }
    const std::string& shard = file.get_ref<const std::string&>();
    if (!is_plain_relative(shard)) {
      return parse_error(index_path + ": weight_map entry '" + name + "' names shard '" + shard +
                         "', which is not a file beside the index");
    }
    weight_map.emplace(name, shard);
  }
  return weight_map;
}

}  // namespace

Expected<std::unique_ptr<SafetensorsSource>> SafetensorsSource::open_file(const std::string& path) {
  AUTOGLM_ASSIGN_OR_RETURN(SafetensorsFile file, SafetensorsFile::open(path));
  std::unique_ptr<SafetensorsSource> source(new SafetensorsSource(path));
  for (const std::string& name : file.tensor_names())
    source->owner_.emplace(name, 0);
  source->shards_.push_back(std::move(file));
  return source;
}

Expected<std::unique_ptr<SafetensorsSource>> SafetensorsSource::open_index(const std::string& index_path) {
  AUTOGLM_ASSIGN_OR_RETURN(auto weight_map, read_weight_map(index_path));
  std::unique_ptr<SafetensorsSource> source(new SafetensorsSource(index_path));
  const fs::path dir = fs::path(index_path).parent_path();

  // Open each distinct shard once, in file-name order so that the shard list is deterministic.
  std::map<std::string, size_t> shard_index;
  for (const auto& [name, shard] : weight_map)
    shard_index.emplace(shard, 0);
  std::vector<std::string> shard_names;
  for (auto& [shard, index] : shard_index) {
    const std::string shard_path = (dir / shard).string();
    auto file = SafetensorsFile::open(shard_path);
    if (!file) return file.status().with_context(index_path + ": shard '" + shard + "'");
    index = source->shards_.size();
    source->shards_.push_back(std::move(file).value());
    shard_names.push_back(shard);
  }

  for (const auto& [name, shard] : weight_map) {
    const size_t index = shard_index.at(shard);
    if (!source->shards_[index].info(name)) {
      return not_found(index_path + ": weight_map puts tensor '" + name + "' in shard '" + shard +
                       "', which does not contain it");
    }
    source->owner_.emplace(name, index);
  }
  // Tensors a shard holds but the map forgot are still served; only an unmapped name held by two shards is
  // ambiguous.
  std::map<std::string, size_t> unmapped;
  for (size_t i = 0; i < source->shards_.size(); ++i) {
    for (const std::string& name : source->shards_[i].tensor_names()) {
      if (weight_map.count(name) != 0) continue;
      const auto [it, inserted] = unmapped.emplace(name, i);
      if (!inserted) {
        return parse_error(index_path + ": tensor '" + name + "' is in shards '" + shard_names[it->second] +
                           "' and '" + shard_names[i] + "' and the weight_map names neither");
      }
    }
  }
  source->owner_.insert(unmapped.begin(), unmapped.end());
  return source;
}

std::vector<std::string> SafetensorsSource::tensor_names() const {
  std::vector<std::string> names;
  names.reserve(owner_.size());
  for (const auto& [name, index] : owner_)
    names.push_back(name);
  return names;
}

std::optional<TensorInfo> SafetensorsSource::info(std::string_view name) const {
  const auto it = owner_.find(name);
  if (it == owner_.end()) return std::nullopt;
  return shards_[it->second].info(name);
}

Expected<TensorView> SafetensorsSource::view(std::string_view name) const {
  const auto it = owner_.find(name);
  if (it == owner_.end()) return not_found("tensor '" + std::string(name) + "' not found in " + origin_);
  return shards_[it->second].view(name);
}

}  // namespace autoglm
