#include "small_vocabs.h"

#include <cstring>

#include "native_test_data.h"
#include "support/gguf_writer.h"

namespace autoglm::test {
namespace {

void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

void put_key(std::string& out, uint32_t field, uint32_t wire) {
  put_varint(out, (field << 3) | wire);
}

void put_bytes(std::string& out, uint32_t field, const std::string& bytes) {
  put_key(out, field, 2);
  put_varint(out, bytes.size());
  out += bytes;
}

void put_uint(std::string& out, uint32_t field, uint64_t v) {
  put_key(out, field, 0);
  put_varint(out, v);
}

std::string byte_level_char(int b) {
  const auto printable = [](int x) {
    return (x >= 0x21 && x <= 0x7E) || (x >= 0xA1 && x <= 0xAC) || x >= 0xAE;
  };
  int cp = b;
  if (!printable(b)) {
    int n = 0;
    for (int x = 0; x < b; ++x)
      n += !printable(x);
    cp = 256 + n;
  }
  std::string s;
  if (cp < 0x80) {
    s.push_back(static_cast<char>(cp));
  } else {
    s.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
  return s;
}

}  // namespace

std::string small_tiktoken_file(size_t n_ranks) {
  const std::string full = read_file_bytes(shared_tokenizer_path("cl100k/cl100k_base.tiktoken"));
  size_t end = 0;
  for (size_t i = 0; i < n_ranks && end < full.size(); ++i)
    end = full.find('\n', end) + 1;
  return full.substr(0, end);
}

TiktokenSpec small_tiktoken_spec(int32_t n_ranks) {
  TiktokenSpec spec;
  spec.name = "small";
  spec.pattern = known_tiktoken_spec(100256)->pattern;
  spec.special_tokens = {{"<|endoftext|>", n_ranks}, {"<|fim_prefix|>", n_ranks + 1}};
  spec.eos = n_ranks;
  return spec;
}

std::string spm_model_bytes(const std::vector<SpmPieceSpec>& pieces, int model_type, bool byte_fallback,
                            const std::string& charsmap) {
  std::string model;
  for (const SpmPieceSpec& p : pieces) {
    std::string piece;
    put_bytes(piece, 1, p.piece);
    put_key(piece, 2, 5);
    uint32_t bits;
    std::memcpy(&bits, &p.score, 4);
    for (int i = 0; i < 4; ++i)
      piece.push_back(static_cast<char>(bits >> (8 * i)));
    put_uint(piece, 3, static_cast<uint64_t>(p.type));
    put_bytes(model, 1, piece);
  }
  std::string trainer;
  put_uint(trainer, 3, static_cast<uint64_t>(model_type));
  put_uint(trainer, 35, byte_fallback ? 1 : 0);
  put_bytes(model, 2, trainer);
  std::string normalizer;
  put_bytes(normalizer, 1, charsmap.empty() ? "identity" : "custom");
  if (!charsmap.empty()) put_bytes(normalizer, 2, charsmap);
  put_bytes(model, 3, normalizer);
  return model;
}

std::vector<uint8_t> tiny_gguf_vocab(const std::string& model) {
  GgufWriter w;
  w.add_string("general.name", "tiny-" + model);
  w.add_string("tokenizer.ggml.model", model);
  std::vector<std::string> tokens;
  std::vector<int32_t> types;
  if (model == "llama") {
    tokens = {"<unk>", "<s>", "</s>"};
    types = {2, 3, 3};
    for (int b = 0; b < 256; ++b) {
      char hex[8];
      std::snprintf(hex, sizeof(hex), "<0x%02X>", b);
      tokens.emplace_back(hex);
      types.push_back(6);
    }
    for (const char* t : {"\xE2\x96\x81", "a", "b", "ab",
                          "\xE2\x96\x81"
                          "a",
                          "\xE2\x96\x81"
                          "ab",
                          "<tool>"}) {
      tokens.emplace_back(t);
      types.push_back(std::string(t) == "<tool>" ? 4 : 1);
    }
    std::vector<float> scores(tokens.size(), 0.0f);
    for (size_t i = 259; i < scores.size(); ++i)
      scores[i] = -static_cast<float>(i);
    w.add_f32_array("tokenizer.ggml.scores", scores);
  } else if (model == "gpt2") {
    for (int b = 0; b < 256; ++b)
      tokens.push_back(byte_level_char(b));
    for (const char* t : {"\xC4\xA0t", "he", "\xC4\xA0the", "in",
                          "\xC4\xA0"
                          "a",
                          "<|endoftext|>"})
      tokens.emplace_back(t);
    types.assign(tokens.size(), 1);
    types.back() = 3;
    w.add_string("tokenizer.ggml.pre", "gpt-2");
    w.add_string_array("tokenizer.ggml.merges", {"\xC4\xA0 t", "h e", "\xC4\xA0t he", "i n", "\xC4\xA0 a"});
  } else {
    tokens = {"[PAD]", "[UNK]", "[CLS]", "[SEP]"};
    types = {3, 3, 3, 3};
    for (const char* t : {"\xE2\x96\x81hello", "\xE2\x96\x81world",
                          "\xE2\x96\x81"
                          "a",
                          "b", "\xE2\x96\x81!", "s"}) {
      tokens.emplace_back(t);
      types.push_back(1);
    }
    w.add_u32("tokenizer.ggml.bos_token_id", 2);
    w.add_u32("tokenizer.ggml.seperator_token_id", 3);
    w.add_u32("tokenizer.ggml.unknown_token_id", 1);
    w.add_u32("tokenizer.ggml.padding_token_id", 0);
  }
  w.add_string_array("tokenizer.ggml.tokens", tokens);
  w.add_i32_array("tokenizer.ggml.token_type", types);
  return w.bytes();
}

}  // namespace autoglm::test
