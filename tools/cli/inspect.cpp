// autoglm inspect FILE: the metadata and tensor table of a GGUF file (like gguf-dump), or the tensors and
// config of a safetensors checkpoint.
#include <cstdio>
#include <map>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "cli/common.h"
#include "gguf/gguf_file.h"
#include "loader/weight_source.h"

namespace autoglm::cli {
namespace {

std::string dims_string(const std::vector<int64_t>& dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i)
    s += (i ? ", " : "") + std::to_string(dims[i]);
  return s + "]";
}

int inspect_gguf(const std::string& path, bool all_values) {
  auto file = GgufFile::open(path);
  if (!file) return fail(file.status());
  const GgufFile& f = **file;
  std::printf("%s: GGUF v%u, %zu metadata keys, %zu tensors, alignment %llu\n", path.c_str(), f.version(),
              f.keys().size(), f.tensors().size(), static_cast<unsigned long long>(f.alignment()));
  std::printf("\nmetadata:\n");
  for (const auto& key : f.keys()) {
    const GgufValue* v = f.find(key);
    const GgufArray* a = v->as_array();
    const std::string type = a ? std::string("arr[") + gguf_value_type_name(a->element_type) + "," +
                                     std::to_string(a->size()) + "]"
                               : gguf_value_type_name(v->type);
    std::printf("  %-44s %-16s %s\n", key.c_str(), type.c_str(),
                v->to_string(all_values ? SIZE_MAX : 6).c_str());
  }
  std::printf("\ntensors:\n");
  std::map<std::string, std::pair<size_t, uint64_t>> per_type;  // type -> (count, bytes)
  uint64_t total = 0;
  for (const auto& t : f.tensors()) {
    const auto traits = ggml_type_traits(t.type);
    const std::string type = traits ? traits->name : "type " + std::to_string(t.type);
    std::printf("  %-40s %-6s %-22s %12llu bytes\n", t.name.c_str(), type.c_str(),
                dims_string(t.dims).c_str(), static_cast<unsigned long long>(t.bytes));
    per_type[type].first++;
    per_type[type].second += t.bytes;
    total += t.bytes;
  }
  std::printf("\ntensor types:");
  for (const auto& [type, cb] : per_type) {
    std::printf(" %s x%zu (%.1f MB)", type.c_str(), cb.first, static_cast<double>(cb.second) / 1e6);
  }
  std::printf("; total %.1f MB\n", static_cast<double>(total) / 1e6);
  return 0;
}

int inspect_safetensors(const std::string& path) {
  auto source = open_weight_source(path);
  if (!source) return fail(source.status());
  std::printf("%s\n", (*source)->describe().c_str());
  for (const auto& name : (*source)->tensor_names()) {
    const auto info = (*source)->info(name);
    std::printf("  %-56s %-5s %s\n", name.c_str(), std::string(dtype_name(info->dtype)).c_str(),
                info->shape.to_string().c_str());
  }
  return 0;
}

}  // namespace

void add_inspect(CLI::App& app) {
  auto path = std::make_shared<std::string>();
  auto all = std::make_shared<bool>(false);
  CLI::App* cmd =
      app.add_subcommand("inspect", "Print the metadata and tensor table of a GGUF or safetensors model");
  cmd->add_option("file", *path, "a .gguf file, a .safetensors file or an HF model directory")->required();
  cmd->add_flag("--all", *all, "print whole arrays");
  cmd->callback([path, all] {
    const bool is_gguf = path->size() > 5 && path->compare(path->size() - 5, 5, ".gguf") == 0;
    set_exit_code(is_gguf ? inspect_gguf(*path, *all) : inspect_safetensors(*path));
  });
}

}  // namespace autoglm::cli
