// open_weight_source: the one place that maps a model path to its file format.
#include <filesystem>
#include <string_view>
#include <system_error>

#include "loader/gguf_source.h"
#include "loader/safetensors_source.h"
#include "loader/weight_source.h"

namespace autoglm {
namespace {

namespace fs = std::filesystem;

constexpr const char* kIndexFileName = "model.safetensors.index.json";
constexpr const char* kSingleFileName = "model.safetensors";

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

}  // namespace

Expected<std::unique_ptr<WeightSource>> open_weight_source(const std::string& path) {
  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);
  if (ec || !fs::exists(status)) return not_found(path + ": no such file or directory");

  auto upcast =
      [](Expected<std::unique_ptr<SafetensorsSource>> source) -> Expected<std::unique_ptr<WeightSource>> {
    if (!source) return source.status();
    return std::unique_ptr<WeightSource>(std::move(source).value());
  };
  if (fs::is_directory(status)) {
    const fs::path index = fs::path(path) / kIndexFileName;
    const fs::path single = fs::path(path) / kSingleFileName;
    // The index wins: a directory holding both is a sharded checkpoint with a stale or partial single file.
    if (fs::exists(index, ec)) return upcast(SafetensorsSource::open_index(index.string()));
    if (fs::exists(single, ec)) return upcast(SafetensorsSource::open_file(single.string()));
    return not_found(path + ": no weights found (looked for " + kIndexFileName + " and " + kSingleFileName +
                     ")");
  }
  if (ends_with(path, ".gguf")) {
    auto gguf = GgufSource::open(path);
    if (!gguf) return gguf.status();
    return std::unique_ptr<WeightSource>(std::move(gguf).value());
  }
  if (ends_with(path, ".index.json")) return upcast(SafetensorsSource::open_index(path));
  if (ends_with(path, ".safetensors")) return upcast(SafetensorsSource::open_file(path));
  return unsupported(path +
                     ": not a weight file this build reads (expected a directory, a .safetensors file or a " +
                     kIndexFileName + ")");
}

}  // namespace autoglm
