// WordPiece as llama.cpp runs it on GGUF "bert" vocabularies (llm_tokenizer_wpm_session): words are split on
// whitespace, punctuation, ASCII symbols and CJK ideographs; with strip_accents each code point is first
// replaced by the first code point of its canonical decomposition (llama.cpp's one-to-one "NFD") and marks
// (\p{M}) are dropped; with lowercase, code points take their simple lowercase mapping; control and format
// characters are dropped. Each word, prefixed with ▁ (GGUF BERT vocabularies store "##x" as "x" and "x" as
// "▁x"), is cut greedily into the longest tokens, and a word that cannot be cut entirely becomes one unknown
// token. Character properties come from utf8proc.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/native/piece_map.h"

namespace autoglm::native {

struct WordPieceNormalizer {
  bool lowercase = true;
  bool strip_accents = true;
};

// llama.cpp's preprocess(): the words of valid UTF-8 text.
std::vector<std::string> wordpiece_words(std::string_view text, const WordPieceNormalizer& options);

// Appends the ids of one word (without its ▁ prefix); unk_id when it cannot be cut.
void wordpiece_encode_word(std::string_view word, const PieceMap& ids, size_t max_token_bytes, int32_t unk_id,
                           std::vector<int32_t>& out);

}  // namespace autoglm::native
