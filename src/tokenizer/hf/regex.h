// Regular expressions of tokenizer pipelines (split patterns, Replace normalizers) on PCRE2, compiled with
// UTF and UCP (\s, \w, \d and POSIX classes follow Unicode properties, as Oniguruma's do in HF `tokenizers`)
// and JIT-compiled where the platform supports it.
//
// Matching is bounded (PCRE2 match and depth limits), so a hostile pattern from a malformed file cannot hang
// the encoder: a match that hits a limit ends the search, the rest of the text counting as unmatched.
// A Regex is immutable and safe to share between threads; per-thread match data and JIT stacks are kept in
// thread-local storage.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace autoglm::hf {

struct MatchSpan {
  size_t start = 0;
  size_t end = 0;
};

class Regex {
 public:
  Regex() = default;

  // Input must be valid UTF-8 at match time (the pipeline sanitizes text first).
  static Expected<Regex> compile(std::string_view pattern);

  bool valid() const { return impl_ != nullptr; }
  const std::string& pattern() const;

  // Appends the non-overlapping matches, left to right; an empty match is followed by a search one character
  // further on. Stops at the first matching error (limits).
  void find_all(std::string_view text, std::vector<MatchSpan>& out) const;

 private:
  struct Impl;
  std::shared_ptr<const Impl> impl_;
};

}  // namespace autoglm::hf
