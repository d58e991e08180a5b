// The pre-tokenizer regular expressions llama.cpp applies to byte-level BPE vocabularies, chosen by the GGUF
// key tokenizer.ggml.pre (llama-vocab.cpp, llm_tokenizer_bpe). Several expressions are applied in turn, each
// splitting the pieces of the previous one and keeping the text between matches.
#pragma once

#include <optional>
#include <string_view>
#include <vector>

namespace autoglm::native {

struct GgufPreTokenizer {
  std::string_view family;                 // llama.cpp's LLAMA_VOCAB_PRE_TYPE_* name, lower case
  std::vector<std::string_view> patterns;  // applied in order
  bool ignore_merges = false;              // a piece that is a token is emitted whole (Llama 3, Tekken)
  bool add_bos = false;                    // the family's default for tokenizer.ggml.add_bos_token
};

// nullopt for a name llama.cpp does not know or whose expressions need custom code not provided here.
std::optional<GgufPreTokenizer> find_gguf_pre_tokenizer(std::string_view name);

}  // namespace autoglm::native
