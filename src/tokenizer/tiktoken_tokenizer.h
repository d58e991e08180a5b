// tiktoken rank files: one "<base64 bytes> <rank>" line per token (OpenAI's *.tiktoken, Meta's Llama 3
// tokenizer.model). Byte-level BPE by ranks: the adjacent pair whose concatenation has the lowest rank merges
// first, exactly as tiktoken's CoreBPE does; a pre-tokenized piece that is itself a token is emitted
// directly.
//
// The file does not name its split pattern or special tokens; the flavour is recognised from its content:
//  - Llama 3 (128,000 ranks): Meta's tokenizer.py pattern and its 256 special tokens from id 128000
//    (<|begin_of_text|>, <|end_of_text|>, <|reserved_special_token_0..3|>, <|start_header_id|>,
//    <|end_header_id|>, <|reserved_special_token_4|>, <|eot_id|>, <|reserved_special_token_5..250|>);
//    add_special_tokens prepends <|begin_of_text|> as HF's Llama 3 tokenizer does.
//  - cl100k_base (100,256 ranks): tiktoken's pattern and specials (<|endoftext|> 100257, <|fim_prefix|>
//  100258,
//    <|fim_middle|> 100259, <|fim_suffix|> 100260, <|endofprompt|> 100276); add_special_tokens adds nothing.
//
// Pieces (id_to_piece / piece_to_id) are in the GPT-2 byte-level alphabet ("Ġthe"), as in the equivalent HF
// tokenizer.json and GGUF vocabularies.
//
// Other rank files need their flavour spelled out (TiktokenSpec), as tiktoken's Encoding takes it.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"
#include "tokenizer/tokenizer.h"

namespace autoglm {

// What a rank file does not say: tiktoken's Encoding(name, pat_str, special_tokens) plus the BOS convention.
struct TiktokenSpec {
  std::string name;
  std::string
      pattern;  // the split regex as tiktoken takes it (`\s` = Unicode White_Space, `$` = end of text)
  std::vector<std::pair<std::string, int32_t>> special_tokens;  // text, id; ids must not be ranks of the file
  std::optional<int32_t> bos;
  std::optional<int32_t> eos;
  bool add_bos = false;  // add_special_tokens prepends bos
};

// The spec of a known file by its number of ranks (128000: Llama 3, 100256: cl100k_base), else nullopt.
std::optional<TiktokenSpec> known_tiktoken_spec(size_t n_ranks);

Expected<std::unique_ptr<Tokenizer>> load_tiktoken(const std::string& path);
// The same from the file's bytes; `origin` names the source in errors (tests, fuzzing).
Expected<std::unique_ptr<Tokenizer>> parse_tiktoken(std::string_view bytes, const std::string& origin);
// Any rank file with an explicit spec. Errors name `origin`: malformed lines, missing ranks or single bytes,
// special ids that collide with ranks or with each other, a pattern that does not compile.
Expected<std::unique_ptr<Tokenizer>> parse_tiktoken(std::string_view bytes, const std::string& origin,
                                                    const TiktokenSpec& spec);

}  // namespace autoglm
