// Fuzz target: encoding arbitrary bytes and decoding arbitrary ids with real tokenizers of each family.
// Byte-level BPE (GPT-2) is lossless on UTF-8: decode(encode(x)) must give x back after U+FFFD replacement.
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace {

struct Tokenizers {
  std::unique_ptr<autoglm::Tokenizer> gpt2, llama3, llama2, stories;
};

std::unique_ptr<autoglm::Tokenizer> must_load(const std::string& path) {
  auto t = autoglm::load_tokenizer(path);
  if (!t) {
    std::fprintf(stderr, "%s\n", t.status().to_string().c_str());
    std::abort();
  }
  return std::move(*t);
}

const Tokenizers& tokenizers() {
  static const Tokenizers t = [] {
    const std::string data = AUTOGLM_SHARED_DATA;
    return Tokenizers{
        must_load(data + "/tokenizers/gpt2"), must_load(data + "/tokenizers/llama3/tokenizer.model"),
        must_load(data + "/tokenizers/llama2"), must_load(data + "/models/stories260K/stories260K.gguf")};
  }();
  return t;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Tokenizers& t = tokenizers();
  const std::string text(reinterpret_cast<const char*>(data), size);
  const auto ids = t.gpt2->encode(text, autoglm::EncodeOptions{false, false});
  if (t.gpt2->decode(ids) != autoglm::sanitize_utf8(text)) std::abort();
  for (const auto* tok : {t.llama3.get(), t.llama2.get(), t.stories.get()}) {
    (void)tok->decode(tok->encode(text));
    // The same bytes read as ids, in and out of the vocabulary.
    std::vector<int32_t> raw(size / 4);
    for (size_t i = 0; i < raw.size(); ++i) {
      raw[i] = static_cast<int32_t>(data[4 * i] | data[4 * i + 1] << 8 | data[4 * i + 2] << 16 |
                                    data[4 * i + 3] << 24);
    }
    (void)tok->decode(raw, autoglm::DecodeOptions{true});
  }
  return 0;
}
