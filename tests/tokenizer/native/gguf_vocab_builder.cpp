#include "gguf_vocab_builder.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "native_test_data.h"
#include "support/gguf_writer.h"
#include "tokenizer/native/sentencepiece_model.h"

namespace autoglm::test {
namespace {

// gguf-py's TokenType.
constexpr int32_t kNormal = 1;
constexpr int32_t kUnknown = 2;
constexpr int32_t kControl = 3;
constexpr int32_t kUserDefined = 4;
constexpr int32_t kUnused = 5;
constexpr int32_t kByte = 6;

using nlohmann::json;

// GPT-2's bytes_to_unicode, written out independently of the tokenizer's own table.
std::string byte_level(const std::string& bytes) {
  std::string out;
  for (unsigned char b : bytes) {
    const auto printable = [](int x) {
      return (x >= 0x21 && x <= 0x7E) || (x >= 0xA1 && x <= 0xAC) || x >= 0xAE;
    };
    uint32_t cp = b;
    if (!printable(b)) {
      int n = 0;
      for (int x = 0; x < b; ++x)
        n += !printable(x);
      cp = 256 + n;
    }
    if (cp < 0x80) {
      out.push_back(static_cast<char>(cp));
    } else {
      out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }
  return out;
}

std::string base64_decode(const std::string& in) {
  static const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  uint32_t buffer = 0;
  int bits = 0;
  for (char c : in) {
    if (c == '=') break;
    buffer = (buffer << 6) | static_cast<uint32_t>(alphabet.find(c));
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buffer >> bits) & 0xFF));
    }
  }
  return out;
}

Expected<std::string> read_source(const std::string& path) {
  if (!file_exists(path)) return not_found(path + ": vocabulary source not found");
  return read_file_bytes(path);
}

Expected<json> read_json(const std::string& path) {
  AUTOGLM_ASSIGN_OR_RETURN(std::string text, read_source(path));
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    return parse_error(path + ": " + e.what());
  }
}

Expected<std::vector<std::string>> read_merges_txt(const std::string& path) {
  AUTOGLM_ASSIGN_OR_RETURN(std::string text, read_source(path));
  std::vector<std::string> merges;
  size_t pos = 0;
  bool first = true;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string::npos) eol = text.size();
    std::string line = text.substr(pos, eol - pos);
    pos = eol + 1;
    const bool version = first && line.rfind("#version", 0) == 0;
    first = false;
    if (!version && !line.empty()) merges.push_back(std::move(line));
  }
  return merges;
}

// The keys every vocabulary has, in gguf-py's order.
struct Vocab {
  Vocab(std::string arch_, std::string name_, std::string model_, std::string pre_)
      : arch(std::move(arch_)), name(std::move(name_)), model(std::move(model_)), pre(std::move(pre_)) {}
  std::string arch, name, model, pre;
  std::vector<std::string> tokens;
  std::vector<int32_t> types;
  std::vector<float> scores;                          // written when not empty
  std::vector<std::string> merges;                    // written when not empty
  std::vector<std::pair<std::string, uint32_t>> ids;  // "bos_token_id" -> tokenizer.ggml.bos_token_id
  std::vector<std::pair<std::string, bool>> flags;    // "add_bos_token" -> tokenizer.ggml.add_bos_token
};

std::vector<uint8_t> write(const Vocab& v) {
  GgufWriter w;
  w.add_string("general.architecture", v.arch);
  w.add_string("general.name", v.name);
  w.add_string("tokenizer.ggml.model", v.model);
  w.add_string("tokenizer.ggml.pre", v.pre);
  w.add_string_array("tokenizer.ggml.tokens", v.tokens);
  if (!v.scores.empty()) w.add_f32_array("tokenizer.ggml.scores", v.scores);
  w.add_i32_array("tokenizer.ggml.token_type", v.types);
  if (!v.merges.empty()) w.add_string_array("tokenizer.ggml.merges", v.merges);
  for (const auto& [key, id] : v.ids)
    w.add_u32("tokenizer.ggml." + key, id);
  for (const auto& [key, value] : v.flags)
    w.add_bool("tokenizer.ggml." + key, value);
  return w.bytes();
}

Expected<Vocab> llama_spm(const std::string& dir) {
  const std::string path = dir + "/llama2/tokenizer.model";
  AUTOGLM_ASSIGN_OR_RETURN(std::string bytes, read_source(path));
  auto proto = native::parse_sentencepiece_model_proto(bytes);
  if (!proto.has_value()) return proto.status().with_context(path);
  Vocab v{"llama", "llama-spm", "llama", "default"};
  for (const native::SpmPiece& p : proto->pieces) {
    v.tokens.push_back(p.piece);
    v.scores.push_back(p.score);
    // convert_hf_to_gguf: UNKNOWN, CONTROL, UNUSED, BYTE as SentencePiece says, everything else NORMAL.
    const auto t = static_cast<int32_t>(p.type);
    v.types.push_back(t == kUnknown || t == kControl || t == kUnused || t == kByte ? t : kNormal);
  }
  v.ids = {{"bos_token_id", 1}, {"eos_token_id", 2}, {"unknown_token_id", 0}};
  v.flags = {{"add_bos_token", true}, {"add_eos_token", false}};
  return v;
}

Expected<Vocab> phi3(const std::string& dir) {
  AUTOGLM_ASSIGN_OR_RETURN(json tj, read_json(dir + "/phi3/tokenizer.json"));
  AUTOGLM_ASSIGN_OR_RETURN(json config, read_json(dir + "/phi3/tokenizer_config.json"));
  constexpr int32_t kVocabSize = 32064;  // Phi-3-mini config.json
  Vocab v{"phi3", "Phi3", "llama", "default"};
  v.tokens.resize(kVocabSize);
  for (int32_t i = 0; i < kVocabSize; ++i)
    v.tokens[i] = "[PAD" + std::to_string(i) + "]";
  v.scores.assign(kVocabSize, -10000.0f);
  v.types.assign(kVocabSize, kUnused);
  // SentencePiece BPE merges by the score of the merged piece: score = -(rank of the first merge making it).
  std::unordered_map<std::string, int64_t> first_merge;
  const json& merges = tj["model"]["merges"];
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const json& m = merges[rank];
    std::string merged;
    if (m.is_string()) {
      const std::string s = m.get<std::string>();
      const size_t space = s.find(' ');
      merged = s.substr(0, space) + s.substr(space + 1);
    } else {
      merged = m[0].get<std::string>() + m[1].get<std::string>();
    }
    first_merge.emplace(merged, static_cast<int64_t>(rank));
  }
  for (const auto& [piece, id_json] : tj["model"]["vocab"].items()) {
    const auto i = id_json.get<int32_t>();
    v.tokens[i] = piece;
    const auto it = first_merge.find(piece);
    v.scores[i] = it != first_merge.end() ? -static_cast<float>(it->second)
                                          : -static_cast<float>(static_cast<int64_t>(merges.size()) + i);
    if (piece == "<unk>") {
      v.types[i] = kUnknown;
    } else if (piece == "<s>" || piece == "</s>") {
      v.types[i] = kControl;
    } else if (piece.size() == 6 && piece.rfind("<0x", 0) == 0 && piece.back() == '>') {
      v.types[i] = kByte;
      v.scores[i] = 0.0f;
    } else {
      v.types[i] = kNormal;
    }
  }
  for (const auto& [id, data] : config["added_tokens_decoder"].items()) {
    const int32_t i = std::stoi(id);
    std::string token = data["content"].get<std::string>();
    const bool looks_special =
        token.rfind("<|", 0) == 0 && token.size() >= 4 && token.substr(token.size() - 2) == "|>";
    if (data.value("special", false) || looks_special) {
      v.types[i] = kControl;
    } else {
      for (size_t p; (p = token.find("\xE2\x96\x81")) != std::string::npos;)
        token.replace(p, 3, " ");
      v.types[i] = kUserDefined;
    }
    v.scores[i] = -1000.0f;
    v.tokens[i] = token;
  }
  v.ids = {
      {"bos_token_id", 1}, {"eos_token_id", 32000}, {"unknown_token_id", 0}, {"padding_token_id", 32000}};
  v.flags = {{"add_bos_token", true}, {"add_eos_token", false}};
  return v;
}

Expected<Vocab> bert_bge(const std::string& dir) {
  AUTOGLM_ASSIGN_OR_RETURN(json tj, read_json(dir + "/minilm/tokenizer.json"));
  const json& vocab = tj["model"]["vocab"];
  std::vector<bool> special(vocab.size(), false);
  for (const json& t : tj["added_tokens"]) {
    if (t.value("special", false) && t["id"].get<size_t>() < special.size())
      special[t["id"].get<size_t>()] = true;
  }
  Vocab v{"bert", "bert-bge", "bert", "bert-bge"};
  v.tokens.resize(vocab.size());
  v.types.assign(vocab.size(), kNormal);
  // BertModel.set_vocab: special tokens kept; "##x" -> "x"; "x" -> "▁x" (the phantom space).
  for (const auto& [piece, id_json] : vocab.items()) {
    const auto i = id_json.get<size_t>();
    if (special[i]) {
      v.tokens[i] = piece;
      v.types[i] = kControl;
    } else if (piece.rfind("##", 0) == 0) {
      v.tokens[i] = piece.substr(2);
    } else {
      v.tokens[i] = "\xE2\x96\x81" + piece;
    }
  }
  for (const auto& [key, piece] : {std::pair<const char*, const char*>{"bos_token_id", "[CLS]"},
                                   {"seperator_token_id", "[SEP]"},  // gguf-py's spelling
                                   {"unknown_token_id", "[UNK]"},
                                   {"padding_token_id", "[PAD]"},
                                   {"mask_token_id", "[MASK]"}}) {
    v.ids.emplace_back(key, vocab[piece].get<uint32_t>());
  }
  v.flags = {{"add_bos_token", true}, {"add_eos_token", false}, {"add_sep_token", true}};
  return v;
}

Expected<Vocab> gpt2(const std::string& dir) {
  AUTOGLM_ASSIGN_OR_RETURN(json vocab, read_json(dir + "/gpt2/vocab.json"));
  Vocab v{"gpt2", "gpt-2", "gpt2", "gpt-2"};
  v.tokens.resize(vocab.size());
  for (const auto& [piece, id] : vocab.items())
    v.tokens[id.get<size_t>()] = piece;
  for (const std::string& t : v.tokens)
    v.types.push_back(t == "<|endoftext|>" ? kControl : kNormal);
  AUTOGLM_ASSIGN_OR_RETURN(v.merges, read_merges_txt(dir + "/gpt2/merges.txt"));
  v.ids = {{"bos_token_id", 50256}, {"eos_token_id", 50256}, {"unknown_token_id", 50256}};
  return v;
}

Expected<Vocab> qwen2(const std::string& dir) {
  AUTOGLM_ASSIGN_OR_RETURN(json vocab, read_json(dir + "/qwen2/vocab.json"));
  AUTOGLM_ASSIGN_OR_RETURN(json config, read_json(dir + "/qwen2/tokenizer_config.json"));
  const json& added = config["added_tokens_decoder"];
  int32_t n = 0;
  for (const auto& [piece, id] : vocab.items())
    n = std::max(n, id.get<int32_t>() + 1);
  for (const auto& [id, data] : added.items())
    n = std::max(n, std::stoi(id) + 1);
  Vocab v{"qwen2", "qwen2", "gpt2", "qwen2"};
  v.tokens.resize(n);
  v.types.assign(n, kUnused);
  for (int32_t i = 0; i < n; ++i)
    v.tokens[i] = "[PAD" + std::to_string(i) + "]";
  for (const auto& [piece, id] : vocab.items()) {
    v.tokens[id.get<int32_t>()] = piece;
    v.types[id.get<int32_t>()] = kNormal;
  }
  uint32_t eos = 0;
  for (const auto& [id, data] : added.items()) {
    const int32_t i = std::stoi(id);
    v.tokens[i] = data["content"].get<std::string>();
    v.types[i] = data.value("special", false) || v.tokens[i].rfind("<|", 0) == 0 ? kControl : kUserDefined;
    if (v.tokens[i] == "<|endoftext|>") eos = static_cast<uint32_t>(i);
  }
  AUTOGLM_ASSIGN_OR_RETURN(v.merges, read_merges_txt(dir + "/qwen2/merges.txt"));
  v.ids = {{"eos_token_id", eos}, {"padding_token_id", eos}};
  v.flags = {{"add_bos_token", false}};
  return v;
}

Expected<Vocab> llama_bpe(const std::string& dir) {
  AUTOGLM_ASSIGN_OR_RETURN(std::string file, read_source(dir + "/llama3/tokenizer.model"));
  std::vector<std::string> by_rank;
  std::unordered_map<std::string, int32_t> ranks;
  size_t pos = 0;
  while (pos < file.size()) {
    size_t eol = file.find('\n', pos);
    if (eol == std::string::npos) eol = file.size();
    const std::string line = file.substr(pos, eol - pos);
    pos = eol + 1;
    const size_t space = line.find(' ');
    if (space == std::string::npos) continue;
    const int32_t rank = std::stoi(line.substr(space + 1));
    if (static_cast<int32_t>(by_rank.size()) <= rank) by_rank.resize(rank + 1);
    by_rank[rank] = base64_decode(line.substr(0, space));
    ranks[by_rank[rank]] = rank;
  }
  Vocab v{"llama", "llama-bpe", "gpt2", "llama-bpe"};
  std::vector<std::pair<int32_t, int32_t>> local;
  for (const std::string& token : by_rank) {
    local.clear();
    for (size_t k = 1; k < token.size(); ++k) {
      const auto l = ranks.find(token.substr(0, k));
      const auto r = ranks.find(token.substr(k));
      if (l != ranks.end() && r != ranks.end()) local.emplace_back(l->second, r->second);
    }
    std::sort(local.begin(), local.end());
    for (const auto& [l, r] : local)
      v.merges.push_back(byte_level(by_rank[l]) + " " + byte_level(by_rank[r]));
  }
  for (const std::string& t : by_rank)
    v.tokens.push_back(byte_level(t));
  v.types.assign(v.tokens.size(), kNormal);
  for (const char* s :
       {"<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>",
        "<|reserved_special_token_1|>", "<|reserved_special_token_2|>", "<|reserved_special_token_3|>",
        "<|start_header_id|>", "<|end_header_id|>", "<|reserved_special_token_4|>", "<|eot_id|>"}) {
    v.tokens.emplace_back(s);
  }
  for (int i = 5; i < 256 - 5; ++i)
    v.tokens.push_back("<|reserved_special_token_" + std::to_string(i) + "|>");
  v.types.resize(v.tokens.size(), kControl);
  v.ids = {{"bos_token_id", 128000}, {"eos_token_id", 128001}};
  v.flags = {{"add_bos_token", true}};
  return v;
}

}  // namespace

const std::vector<std::string>& vocab_gguf_names() {
  static const std::vector<std::string> names = {"llama-spm", "phi-3", "gpt-2",
                                                 "bert-bge",  "qwen2", "llama-bpe"};
  return names;
}

Expected<std::vector<uint8_t>> build_vocab_gguf(const std::string& name, const std::string& dir) {
  Expected<Vocab> vocab = Status(StatusCode::kNotFound, "no builder for vocabulary '" + name + "'");
  try {
    if (name == "llama-spm") vocab = llama_spm(dir);
    if (name == "phi-3") vocab = phi3(dir);
    if (name == "gpt-2") vocab = gpt2(dir);
    if (name == "bert-bge") vocab = bert_bge(dir);
    if (name == "qwen2") vocab = qwen2(dir);
    if (name == "llama-bpe") vocab = llama_bpe(dir);
  } catch (const json::exception& e) {
    return parse_error("building ggml-vocab-" + name + ".gguf: unexpected JSON in the sources: " + e.what());
  }
  if (!vocab.has_value()) return vocab.status();
  return write(*vocab);
}

}  // namespace autoglm::test
