// Fuzz target: the tiktoken rank-file parser and, on success, encode/decode of a fixed text and of the input
// bytes as text. The input is parsed as a whole file (flavour detected from the content, then with an
// explicit cl100k-style spec), and appended to a base file of the 256 single bytes, so that most inputs get
// past the format checks and reach the BPE merge loop with arbitrary extra ranks. Byte-level BPE must stay
// lossless: a violation aborts.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "tokenizer/tiktoken_tokenizer.h"
#include "tokenizer/utf8.h"

namespace {

const std::string& base_file() {
  static const std::string file = [] {
    static const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    for (int b = 0; b < 256; ++b) {
      out += alphabet[b >> 2];
      out += alphabet[(b & 3) << 4];
      out += "== " + std::to_string(b) + "\n";
    }
    return out;
  }();
  return file;
}

const autoglm::TiktokenSpec& spec() {
  static const autoglm::TiktokenSpec s = [] {
    autoglm::TiktokenSpec spec = *autoglm::known_tiktoken_spec(100256);
    spec.name = "fuzz";
    // Far above any rank a fuzz input can define.
    spec.special_tokens = {
        {"<|endoftext|>", 1 << 24}, {"<|fim_prefix|>", (1 << 24) + 1}, {"<|end", (1 << 24) + 2}};
    spec.eos = 1 << 24;
    spec.bos = (1 << 24) + 1;
    spec.add_bos = true;
    return spec;
  }();
  return s;
}

void exercise(const autoglm::Tokenizer& tok, std::string_view input) {
  static const std::string kText = "Hello wörld <|endoftext|>  \n\n 123456 🦙 \xF0\x9F x<|end";
  for (std::string_view text : {std::string_view(kText), input}) {
    const auto ids = tok.encode(text, {.add_special_tokens = true, .parse_special = true});
    (void)tok.decode(ids, {.skip_special_tokens = true});
    const auto plain = tok.encode(text, {.add_special_tokens = false, .parse_special = false});
    if (tok.decode(plain) != autoglm::utf8::sanitize(text)) std::abort();
  }
  for (int32_t id : {-1, 0, 255, 256, tok.vocab_size() - 1, tok.vocab_size()}) {
    (void)tok.piece_to_id(tok.id_to_piece(id));
    (void)tok.is_special(id);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  if (auto tok = autoglm::parse_tiktoken(input, "fuzz.tiktoken")) exercise(**tok, input);
  if (auto tok = autoglm::parse_tiktoken(input, "fuzz.tiktoken", spec())) exercise(**tok, input);
  const std::string extended = base_file() + std::string(input);
  if (auto tok = autoglm::parse_tiktoken(extended, "fuzz+base.tiktoken", spec())) exercise(**tok, input);
  return 0;
}
