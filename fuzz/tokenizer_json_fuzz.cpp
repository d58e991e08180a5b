// Fuzz target: the HF tokenizer.json parser on arbitrary text, then encode/decode with whatever it accepted.
#include <unistd.h>
#include <cstdint>
#include <cstdio>
#include <string>

#include "tokenizer/hf_tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // The loader takes a path: write the input to a per-process scratch file.
  static const std::string path = "/tmp/autoglm_fuzz_tokenizer_" + std::to_string(getpid()) + ".json";
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return 0;
  std::fwrite(data, 1, size, f);
  std::fclose(f);
  auto tokenizer = autoglm::load_hf_tokenizer_json(path);
  if (!tokenizer) return 0;
  const auto ids = (*tokenizer)->encode("Hello world <s> 12 \xe2\x82\xac\xf0\x9f\x98\x80 x\xff");
  (void)(*tokenizer)->decode(ids);
  return 0;
}
