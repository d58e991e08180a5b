// Pre-tokenizer regular expressions on PCRE2 (UTF, UCP, JIT).
//
// Patterns are written as their reference publishes them (tiktoken, Meta's tokenizer.py, llama.cpp's
// llama-vocab.cpp). `\s` and `\S` are rewritten to the Unicode White_Space property (U+0009..000D, 0020,
// 0085, 00A0, 1680, 2000..200A, 2028, 2029, 202F, 205F, 3000), which is what the reference engines (Rust
// regex, Oniguruma, llama.cpp's tables) mean by `\s`; PCRE2's UCP `\s` would leave out U+0085. `$` means the
// end of the subject (PCRE2_DOLLAR_ENDONLY), as in Rust regex.
//
// Subjects must be valid UTF-8 (callers sanitize first): matching skips PCRE2's UTF check, which would
// otherwise rescan the subject at every match. Compiled patterns are immutable and shared between threads;
// match data and the JIT stack are per thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace autoglm::native {

struct TextRange {
  uint32_t begin = 0;
  uint32_t end = 0;
};

class SplitRegex {
 public:
  static Expected<SplitRegex> compile(std::string_view pattern);

  // Appends every match in text[range) in order (tiktoken's find_iter: text between matches is dropped).
  void find_all(std::string_view text, TextRange range, std::vector<TextRange>& out) const;
  // Appends the matches and the text between them, in order (llama.cpp's unicode_regex_split, HF Split
  // "Isolated"): the pieces tile the range.
  void split(std::string_view text, TextRange range, std::vector<TextRange>& out) const;

  const std::string& pattern() const { return pattern_; }

 private:
  struct Code;
  std::shared_ptr<const Code> code_;
  std::string pattern_;
};

// `\s` / `\S` rewritten as described above (exposed for tests).
std::string expand_whitespace_classes(std::string_view pattern);

// Applies each regex in turn to every piece produced by the previous one, keeping the text between matches
// (llama.cpp's pre-tokenizer with several expressions).
void split_sequence(const std::vector<SplitRegex>& regexes, std::string_view text, TextRange range,
                    std::vector<TextRange>& out);

}  // namespace autoglm::native
