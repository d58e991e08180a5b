#include "hf_test_data.h"

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "support/test_data.h"

namespace autoglm::test {
namespace {

std::string data_dir() {
  return std::string(AUTOGLM_SOURCE_DIR) + "/tests/data/tokenizer";
}

std::string unhex(const std::string& hex) {
  std::string out;
  out.reserve(hex.size() / 2);
  for (size_t i = 0; i + 1 < hex.size(); i += 2)
    out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return out;
}

std::vector<int32_t> to_ids(const nlohmann::json& j) {
  return j.get<std::vector<int32_t>>();
}

}  // namespace

const std::vector<CorpusText>& tokenizer_corpus() {
  static const std::vector<CorpusText> corpus = [] {
    std::vector<CorpusText> out;
    std::ifstream in(data_dir() + "/corpus.jsonl");
    std::string line;
    while (std::getline(in, line)) {
      const auto j = nlohmann::json::parse(line);
      out.push_back({j.at("kind").get<std::string>(), unhex(j.at("hex").get<std::string>())});
    }
    return out;
  }();
  return corpus;
}

Expectations load_expectations(const std::string& name) {
  Expectations e;
  const std::string path = data_dir() + "/expected/" + name + ".jsonl";
  std::ifstream in(path);
  if (!in) {
    ADD_FAILURE() << "missing " << path;
    return e;
  }
  std::string line;
  std::getline(in, line);
  const auto header = nlohmann::json::parse(line).at("header");
  e.reference = header.at("reference").get<std::string>();
  const auto prefix = to_ids(header.at("template_prefix"));
  const auto suffix = to_ids(header.at("template_suffix"));
  while (std::getline(in, line)) {
    const auto j = nlohmann::json::parse(line);
    ExpectedLine l;
    l.ids = to_ids(j.at("a"));
    if (j.contains("t")) {
      l.ids_with_special = to_ids(j.at("t"));
    } else {
      l.ids_with_special = prefix;
      l.ids_with_special.insert(l.ids_with_special.end(), l.ids.begin(), l.ids.end());
      l.ids_with_special.insert(l.ids_with_special.end(), suffix.begin(), suffix.end());
    }
    l.ids_no_parse_special = j.contains("n") ? to_ids(j.at("n")) : l.ids;
    if (j.contains("d")) l.decoded = j.at("d").get<std::string>();
    if (j.contains("ds")) l.decoded_skip_special = j.at("ds").get<std::string>();
    e.lines.push_back(std::move(l));
  }
  return e;
}

std::string shared_tokenizer_dir(const std::string& name) {
  return shared_data_dir() + "/tokenizers/" + name;
}

std::string ids_to_string(const std::vector<int32_t>& ids) {
  std::string s = "[";
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i > 0) s += ", ";
    s += std::to_string(ids[i]);
  }
  return s + "]";
}

std::string escape_bytes(const std::string& bytes, size_t max_len) {
  std::string out;
  for (size_t i = 0; i < bytes.size() && i < max_len; ++i) {
    const unsigned char c = static_cast<unsigned char>(bytes[i]);
    if (c >= 0x20 && c < 0x7F && c != '\\') {
      out.push_back(static_cast<char>(c));
    } else {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02X", c);
      out += buf;
    }
  }
  if (bytes.size() > max_len) out += "...";
  return out;
}

}  // namespace autoglm::test
