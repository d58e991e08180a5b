#include "hub/model_files.h"

#include <fnmatch.h>

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <set>

#include "hub/repo_spec.h"

namespace autoglm::hub {
namespace {

bool contains(const std::vector<std::string>& files, const std::string& name) {
  return std::find(files.begin(), files.end(), name) != files.end();
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// "a, b, c" of at most `limit` names, then "and N more".
std::string name_list(const std::vector<std::string>& names, size_t limit = 8) {
  std::string out;
  for (size_t i = 0; i < names.size() && i < limit; ++i)
    out += (i ? ", " : "") + names[i];
  if (names.size() > limit) out += " and " + std::to_string(names.size() - limit) + " more";
  return out;
}

std::vector<std::string> gguf_files(const std::vector<std::string>& files) {
  std::vector<std::string> out;
  for (const auto& f : files) {
    if (ends_with(f, ".gguf")) out.push_back(f);
  }
  return out;
}

std::string gguf_hint(const std::vector<std::string>& files, const std::string& repo_id) {
  const auto ggufs = gguf_files(files);
  if (ggufs.empty()) return "";
  return "; it holds GGUF files (" + name_list(ggufs, 4) + "): pick one with " + repo_id + ":FILE";
}

// llama.cpp's split naming: PREFIX-00001-of-00003.gguf.
struct SplitName {
  std::string prefix;
  int count = 0;
};

std::optional<SplitName> split_name(const std::string& file) {
  static const std::regex kSplit(R"((.*)-(\d{5})-of-(\d{5})\.gguf)");
  std::smatch m;
  if (!std::regex_match(file, m, kSplit)) return std::nullopt;
  return SplitName{m[1].str(), std::stoi(m[3].str())};
}

std::string shard_name(const SplitName& s, int index) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "-%05d-of-%05d.gguf", index, s.count);
  return s.prefix + buf;
}

}  // namespace

Expected<std::vector<std::string>> model_metadata_files(const std::vector<std::string>& files,
                                                        const std::string& repo_id) {
  if (!contains(files, "config.json")) {
    return not_found(repo_id + " has no config.json: not a transformers model" + gguf_hint(files, repo_id));
  }
  std::vector<std::string> out = {"config.json"};
  if (contains(files, "tokenizer.json")) {
    out.push_back("tokenizer.json");
  } else if (contains(files, "tokenizer.model")) {
    out.push_back("tokenizer.model");
  } else if (contains(files, "vocab.json") && contains(files, "merges.txt")) {
    out.push_back("vocab.json");
    out.push_back("merges.txt");
  } else {
    return not_found(repo_id +
                     " has no tokenizer (tokenizer.json, tokenizer.model or vocab.json + merges.txt)");
  }
  for (const char* optional : {"generation_config.json", "tokenizer_config.json", "special_tokens_map.json",
                               "chat_template.jinja", "chat_template.json", "model.safetensors.index.json"}) {
    if (contains(files, optional)) out.push_back(optional);
  }
  return out;
}

Expected<std::vector<std::string>> model_weight_files(const std::vector<std::string>& files,
                                                      const std::string& index_json,
                                                      const std::string& repo_id) {
  if (!index_json.empty()) {
    const nlohmann::json j = nlohmann::json::parse(index_json, nullptr, false);
    if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object()) {
      return parse_error(repo_id + ": model.safetensors.index.json has no weight_map");
    }
    std::set<std::string> shards;
    for (const auto& [tensor, shard] : j["weight_map"].items()) {
      if (!shard.is_string())
        return parse_error(repo_id + ": model.safetensors.index.json: " + tensor + " maps to a non-string");
      shards.insert(shard.get<std::string>());
    }
    for (const auto& shard : shards) {
      if (!is_safe_relative_path(shard) || !contains(files, shard)) {
        return not_found(repo_id + ": the shard " + shard +
                         " named by model.safetensors.index.json is not there");
      }
    }
    if (shards.empty()) return parse_error(repo_id + ": model.safetensors.index.json names no shard");
    return std::vector<std::string>(shards.begin(), shards.end());
  }
  if (contains(files, "model.safetensors")) return std::vector<std::string>{"model.safetensors"};
  std::vector<std::string> out;
  for (const auto& f : files) {
    if (f.find('/') == std::string::npos && ends_with(f, ".safetensors")) out.push_back(f);
  }
  if (out.empty()) return not_found(repo_id + " has no .safetensors weights" + gguf_hint(files, repo_id));
  return out;
}

Expected<std::vector<std::string>> match_file_pattern(const std::vector<std::string>& files,
                                                      const std::string& pattern,
                                                      const std::string& repo_id) {
  std::vector<std::string> matches;
  if (contains(files, pattern)) {
    matches.push_back(pattern);
  } else {
    for (const auto& f : files) {
      if (fnmatch(pattern.c_str(), f.c_str(), 0) == 0) matches.push_back(f);
    }
  }
  if (matches.empty()) {
    const auto ggufs = gguf_files(files);
    return not_found("no file of " + repo_id + " matches '" + pattern + "'" +
                     (ggufs.empty() ? "" : "; its GGUF files: " + name_list(ggufs)));
  }
  // One split GGUF: every match a shard of the same set. Its loader opens the first shard and finds the
  // others beside it, so all are fetched.
  std::optional<SplitName> split = split_name(matches.front());
  for (const auto& m : matches) {
    const auto s = split_name(m);
    if (!split || !s || s->prefix != split->prefix || s->count != split->count) split.reset();
  }
  if (split) {
    std::vector<std::string> shards;
    for (int i = 1; i <= split->count; ++i) {
      shards.push_back(shard_name(*split, i));
      if (!contains(files, shards.back())) {
        return not_found(repo_id + ": the split GGUF " + matches.front() + " lacks its shard " +
                         shards.back());
      }
    }
    return shards;
  }
  if (matches.size() > 1) {
    return invalid_argument("'" + pattern + "' matches " + std::to_string(matches.size()) + " files of " +
                            repo_id + " (" + name_list(matches) + "): name one");
  }
  return matches;
}

}  // namespace autoglm::hub
