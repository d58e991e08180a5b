// Fuzz target: the SentencePiece ModelProto parser and, on success, encode/decode of a fixed text and of the
// input bytes as text. The input is parsed as a whole .model file and appended to a small valid model:
// protobuf merges concatenated messages (repeated pieces append, scalar fields take the last value), so most
// inputs add pieces, change the model type, byte fallback or normalizer spec of a model that otherwise loads.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "tokenizer/sentencepiece_tokenizer.h"

namespace {

void put_varint(std::string& out, uint64_t v) {
  for (; v >= 0x80; v >>= 7)
    out.push_back(static_cast<char>((v & 0x7F) | 0x80));
  out.push_back(static_cast<char>(v));
}

void put_bytes(std::string& out, uint32_t field, std::string_view bytes) {
  put_varint(out, (field << 3) | 2);
  put_varint(out, bytes.size());
  out.append(bytes);
}

// <unk>, <s>, </s>, ▁, a few letters and pieces, the 256 byte pieces; BPE with byte fallback.
const std::string& base_model() {
  static const std::string model = [] {
    std::string out;
    auto piece = [&](const std::string& text, float score, int type) {
      std::string p;
      put_bytes(p, 1, text);
      p.push_back(0x15);  // field 2, fixed32
      uint32_t bits;
      std::memcpy(&bits, &score, 4);
      for (int i = 0; i < 4; ++i)
        p.push_back(static_cast<char>(bits >> (8 * i)));
      p.push_back(0x18);  // field 3, varint
      put_varint(p, static_cast<uint64_t>(type));
      put_bytes(out, 1, p);
    };
    piece("<unk>", 0, 2);
    piece("<s>", 0, 3);
    piece("</s>", 0, 3);
    float score = -1;
    for (const char* text : {"\xE2\x96\x81", "a", "b", "c", "ab",
                             "\xE2\x96\x81"
                             "a",
                             "\xE2\x96\x81"
                             "ab",
                             "abc"}) {
      piece(text, score--, 1);
    }
    piece("<user>", 0, 4);
    for (int b = 0; b < 256; ++b) {
      char hex[8];
      std::snprintf(hex, sizeof(hex), "<0x%02X>", b);
      piece(hex, 0, 6);
    }
    std::string trainer;
    trainer += '\x18';  // model_type = BPE
    put_varint(trainer, 2);
    put_varint(trainer, (35 << 3) | 0);  // byte_fallback = true
    put_varint(trainer, 1);
    put_bytes(out, 2, trainer);
    return out;
  }();
  return model;
}

void exercise(const autoglm::Tokenizer& tok, std::string_view input) {
  static const std::string kText = "Hello  wörld <s> <user>abc\n\t 日本 🦙 \xE2\x96\x81\xF0\x9F end ";
  for (std::string_view text : {std::string_view(kText), input}) {
    for (const bool add_special : {true, false}) {
      const auto ids = tok.encode(text, {.add_special_tokens = add_special});
      (void)tok.decode(ids);
      (void)tok.decode(ids, {.skip_special_tokens = true});
    }
  }
  for (int32_t id : {-1, 0, 1, 3, tok.vocab_size() - 1, tok.vocab_size()}) {
    (void)tok.piece_to_id(tok.id_to_piece(id));
    (void)tok.is_special(id);
  }
  (void)tok.describe();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  if (auto tok = autoglm::parse_sentencepiece_model(input, "fuzz.model")) exercise(**tok, input);
  const std::string extended = base_model() + std::string(input);
  if (auto tok = autoglm::parse_sentencepiece_model(extended, "fuzz+base.model")) exercise(**tok, input);
  return 0;
}
