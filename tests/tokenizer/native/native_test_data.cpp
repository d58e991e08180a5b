#include "native_test_data.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "support/test_data.h"

namespace autoglm::test {
namespace {

std::vector<int32_t> ids_of(const nlohmann::json& j) {
  std::vector<int32_t> ids;
  for (const auto& v : j)
    ids.push_back(v.get<int32_t>());
  return ids;
}

}  // namespace

std::string shared_tokenizer_path(const std::string& relative) {
  return shared_data_dir() + "/tokenizers/" + relative;
}

std::string tokenizer_data_path(const std::string& relative) {
  return std::string(AUTOGLM_SOURCE_DIR) + "/tests/data/tokenizer/" + relative;
}

std::string hex_decode(const std::string& hex) {
  std::string out;
  out.reserve(hex.size() / 2);
  for (size_t i = 0; i + 1 < hex.size(); i += 2)
    out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return out;
}

bool file_exists(const std::string& path) {
  return std::filesystem::exists(path);
}

std::string read_file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

std::vector<VocabVector> load_vocab_vectors(const std::string& name) {
  const std::string base = shared_tokenizer_path("llama-cpp-vocab/ggml-vocab-" + name + ".gguf");
  const std::string inp = read_file_bytes(base + ".inp");
  const std::string out = read_file_bytes(base + ".out");
  std::vector<VocabVector> vectors;
  const std::string separator = "\n__ggml_vocab_test__\n";
  size_t pos = 0;
  while (pos < inp.size()) {
    const size_t end = inp.find(separator, pos);
    if (end == std::string::npos) break;
    vectors.push_back({inp.substr(pos, end - pos), {}});
    pos = end + separator.size();
  }
  std::istringstream lines(out);
  std::string line;
  size_t index = 0;
  while (std::getline(lines, line) && index < vectors.size()) {
    std::istringstream ids(line);
    int32_t id;
    while (ids >> id)
      vectors[index].ids.push_back(id);
    ++index;
  }
  EXPECT_EQ(index, vectors.size()) << base << ".out has fewer lines than texts";
  return vectors;
}

std::vector<CorpusCase> load_corpus_expectations(const std::string& name) {
  std::vector<CorpusCase> cases;
  const std::string corpus_path = tokenizer_data_path("corpus.jsonl");
  const std::string expected_path = tokenizer_data_path("expected/" + name + ".jsonl");
  if (!file_exists(corpus_path) || !file_exists(expected_path)) return cases;
  std::ifstream corpus(corpus_path);
  std::ifstream expected(expected_path);
  std::string line;
  std::getline(expected, line);
  const nlohmann::json header = nlohmann::json::parse(line)["header"];
  const std::vector<int32_t> prefix = ids_of(header["template_prefix"]);
  const std::vector<int32_t> suffix = ids_of(header["template_suffix"]);
  std::string corpus_line;
  while (std::getline(corpus, corpus_line) && std::getline(expected, line)) {
    const nlohmann::json c = nlohmann::json::parse(corpus_line);
    const nlohmann::json e = nlohmann::json::parse(line);
    CorpusCase cc;
    cc.kind = c["kind"].get<std::string>();
    cc.text = hex_decode(c["hex"].get<std::string>());
    cc.plain = ids_of(e["a"]);
    if (e.contains("t")) {
      cc.with_template = ids_of(e["t"]);
    } else {
      cc.with_template = prefix;
      cc.with_template.insert(cc.with_template.end(), cc.plain.begin(), cc.plain.end());
      cc.with_template.insert(cc.with_template.end(), suffix.begin(), suffix.end());
    }
    cc.no_parse = e.contains("n") ? ids_of(e["n"]) : cc.plain;
    if (e.contains("d")) cc.decoded = e["d"].get<std::string>();
    if (e.contains("ds")) cc.decoded_skip = e["ds"].get<std::string>();
    cases.push_back(std::move(cc));
  }
  return cases;
}

int apply_llama_cpp_reference(const std::string& vocab, std::vector<CorpusCase>& cases) {
  const std::string path = tokenizer_data_path("gguf/llama_cpp/" + vocab + ".jsonl");
  if (!file_exists(path)) return -1;
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);  // header
  int changed = 0;
  while (std::getline(in, line)) {
    const nlohmann::json e = nlohmann::json::parse(line);
    const auto i = e["i"].get<size_t>();
    if (i >= cases.size()) {
      ADD_FAILURE() << path << ": index " << i << " is outside the " << cases.size() << " corpus texts";
      continue;
    }
    if (e.contains("a")) cases[i].plain = ids_of(e["a"]);
    if (e.contains("n")) cases[i].no_parse = ids_of(e["n"]);
    ++changed;
  }
  return changed;
}

std::string ids_to_string(const std::vector<int32_t>& ids) {
  std::string s;
  for (int32_t id : ids)
    s += (s.empty() ? "" : " ") + std::to_string(id);
  return s;
}

std::string escape_text(const std::string& text) {
  std::string out;
  for (unsigned char c : text) {
    if (c == '\n') {
      out += "\\n";
    } else if (c < 0x20 || c == 0x7F) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02X", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out.size() > 300 ? out.substr(0, 300) + "..." : out;
}

size_t count_encode_mismatches(const Tokenizer& tokenizer, const std::vector<VocabVector>& vectors,
                               const EncodeOptions& options, const std::string& label) {
  size_t mismatches = 0;
  for (const VocabVector& v : vectors) {
    const std::vector<int32_t> ids = tokenizer.encode(v.text, options);
    if (ids == v.ids) continue;
    if (++mismatches <= 5) {
      ADD_FAILURE() << label << ": text \"" << escape_text(v.text)
                    << "\"\n  expected: " << ids_to_string(v.ids) << "\n  actual:   " << ids_to_string(ids);
    }
  }
  return mismatches;
}

}  // namespace autoglm::test
