// Finding special / added token strings in text before the model sees it.
//
// Two reference behaviours exist and differ only when special strings overlap:
//  - leftmost-longest (tiktoken's special regex, HF added tokens, used by the tiktoken and SentencePiece
//    tokenizers here): scan left to right, at each position take the longest token starting there;
//  - llama.cpp's tokenizer_st_partition (GGUF vocabularies): tokens longest first, each one splitting every
//    remaining text fragment at all of its occurrences, with optional whitespace stripping around the token
//    (LSTRIP / RSTRIP attributes).
// Candidate positions come from a byte trie, so the cost is one pass over the text plus the matches, not one
// pass per special token.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace autoglm::native {

struct TextSegment {
  uint32_t begin = 0;
  uint32_t end = 0;
  int32_t id = -1;  // -1: text to tokenize; otherwise the special token's id
};

class SpecialTokenMatcher {
 public:
  struct Token {
    std::string text;
    int32_t id = -1;
    bool lstrip = false;  // llama.cpp mode: drop ASCII whitespace before the token
    bool rstrip = false;  // llama.cpp mode: drop ASCII whitespace after the token
  };

  // Empty strings are ignored; for a repeated string the first id wins.
  void add(Token token);
  bool empty() const { return tokens_.empty(); }
  size_t size() const { return tokens_.size(); }

  // Leftmost-longest segmentation of text into raw ranges and tokens.
  void split_leftmost_longest(std::string_view text, std::vector<TextSegment>& out) const;
  // llama.cpp's partition. `enabled(id)` filters the tokens taking part (e.g. only user-defined tokens when
  // parse_special is false).
  template <typename Enabled>
  void split_longest_first(std::string_view text, std::vector<TextSegment>& out, Enabled&& enabled) const {
    std::vector<int32_t> present;
    occurring_tokens(text, present);
    std::vector<int32_t> used;
    for (int32_t index : present) {
      if (enabled(tokens_[index].id)) used.push_back(index);
    }
    partition(text, used, out);
  }

 private:
  struct Node {
    std::vector<std::pair<uint8_t, int32_t>> children;  // sorted by byte
    int32_t token = -1;                                 // index into tokens_ ending here
  };
  int32_t child(int32_t node, uint8_t byte) const;
  // Indices of the tokens with at least one occurrence in text.
  void occurring_tokens(std::string_view text, std::vector<int32_t>& out) const;
  void partition(std::string_view text, std::vector<int32_t>& token_indices,
                 std::vector<TextSegment>& out) const;

  std::vector<Token> tokens_;
  std::vector<Node> nodes_{Node{}};
  bool first_byte_[256] = {};
};

}  // namespace autoglm::native
