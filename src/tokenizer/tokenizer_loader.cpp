// load_tokenizer: the one place that maps a path to a tokenizer format.
#include <filesystem>
#include <fstream>
#include <string>

#include "gguf/gguf_file.h"
#include "tokenizer/gguf_tokenizer.h"
#include "tokenizer/hf_tokenizer.h"
#include "tokenizer/sentencepiece_tokenizer.h"
#include "tokenizer/tiktoken_tokenizer.h"
#include "tokenizer/tokenizer.h"

namespace autoglm {
namespace {

namespace fs = std::filesystem;

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// tiktoken rank files are text lines "<base64 token> <rank>"; SentencePiece models are binary protobuf.
bool looks_like_tiktoken(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string line;
  if (!std::getline(in, line)) return false;
  const size_t space = line.find(' ');
  if (space == std::string::npos || space == 0 || space + 1 >= line.size()) return false;
  for (size_t i = 0; i < space; ++i) {
    const char c = line[i];
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/' || c == '=')) return false;
  }
  for (size_t i = space + 1; i < line.size(); ++i) {
    if (!std::isdigit(static_cast<unsigned char>(line[i])) && line[i] != '\r') return false;
  }
  return true;
}

Expected<std::unique_ptr<Tokenizer>> load_model_file(const std::string& path) {
  return looks_like_tiktoken(path) ? load_tiktoken(path) : load_sentencepiece_model(path);
}

}  // namespace

Expected<std::unique_ptr<Tokenizer>> load_tokenizer(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return not_found(path + ": no such file or directory");
  if (fs::is_directory(path, ec)) {
    const fs::path dir(path);
    if (fs::exists(dir / "tokenizer.json", ec))
      return load_hf_tokenizer_json((dir / "tokenizer.json").string());
    if (fs::exists(dir / "vocab.json", ec) && fs::exists(dir / "merges.txt", ec))
      return load_hf_vocab_merges(path);
    if (fs::exists(dir / "tokenizer.model", ec)) return load_model_file((dir / "tokenizer.model").string());
    return not_found(path +
                     ": no tokenizer found (looked for tokenizer.json, vocab.json + merges.txt, "
                     "tokenizer.model)");
  }
  if (ends_with(path, ".json")) return load_hf_tokenizer_json(path);
  if (ends_with(path, ".gguf")) {
    AUTOGLM_ASSIGN_OR_RETURN(auto file, GgufFile::open(path));
    return load_gguf_tokenizer(*file);
  }
  if (ends_with(path, ".tiktoken")) return load_tiktoken(path);
  return load_model_file(path);
}

}  // namespace autoglm
