#include "model/architecture.h"

#include <map>
#include <mutex>

namespace autoglm {
namespace {

std::map<std::string, ArchitectureFactory>& registry() {
  static std::map<std::string, ArchitectureFactory> instance;
  return instance;
}

std::mutex& registry_mutex() {
  static std::mutex m;
  return m;
}

}  // namespace

void register_architecture(const std::string& hf_name, ArchitectureFactory factory) {
  std::lock_guard<std::mutex> lock(registry_mutex());
  registry()[hf_name] = std::move(factory);
}

std::vector<std::string> architecture_names() {
  std::lock_guard<std::mutex> lock(registry_mutex());
  std::vector<std::string> names;
  for (const auto& [name, factory] : registry())
    names.push_back(name);
  return names;
}

Expected<DecoderSpec> decoder_spec_for(const ModelConfig& config) {
  ArchitectureFactory factory;
  {
    std::lock_guard<std::mutex> lock(registry_mutex());
    auto it = registry().find(config.architecture);
    if (it != registry().end()) factory = it->second;
  }
  if (!factory) {
    std::string known;
    for (const auto& name : architecture_names())
      known += (known.empty() ? "" : ", ") + name;
    return unsupported("architecture '" + config.architecture + "' is not supported (supported: " + known +
                       ")");
  }
  return factory(config);
}

}  // namespace autoglm
